//! The shop end to end, against real components on loopback: Stripe's own mock server
//! (`stripe-mock`, built by `scripts/setup.sh`), a small SMTP sink that records what the
//! customer receives, and webhook events signed exactly as Stripe signs them.
//!
//! Buy MQTT Server + a year of Support → the key arrives by e-mail and on the purchase's
//! status → activate online → buy IoT Bridge for Snowflake as an upgrade (what the license
//! has is not offered again) → Reactivate → the bridge is licensed. Unsigned, stale and
//! mis-signed webhooks are refused and change nothing; a replayed event changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/shop.rs"]
mod shop_support;

use common::*;
use serde_json::{json, Value};
use shop_support::*;
use std::net::TcpListener;

use tollgate_server::shop::{webhook, StripeConfig};
use tollgate_server::Secret;

fn status(base: &str, id: u64, token: Option<&str>) -> (u16, Value) {
    call(
        base,
        "GET",
        &format!("/v1/shop/purchases/{id}"),
        None,
        token,
    )
}

fn skus(offers: &Value) -> Vec<String> {
    offers["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["sku"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn buy_mail_activate_upgrade_reactivate() {
    let stripe = StripeMock::start();
    for b in backends() {
        buy_mail_activate_upgrade_reactivate_on(&b, &stripe);
    }
}

fn buy_mail_activate_upgrade_reactivate_on(backend: &Backend, stripe: &StripeMock) {
    let smtp = SmtpSink::start();
    let vendor = Vendor::new(backend);
    let server = vendor.start_with(|c| c.shop = Some(shop_config(&stripe.base, smtp.addr)));
    let url = server.url();

    // What a new customer can buy: the whole catalogue.
    let (st, offers) = call(&url, "POST", "/v1/shop/offers", Some(json!({})), None);
    assert_eq!(st, 200, "{offers}");
    assert_eq!(skus(&offers), ["mqtt-server", "support", "snowflake"]);
    assert_eq!(offers["license_id"], Value::Null);
    assert_eq!(offers["offers"][1]["max_quantity"], 5);

    // Not for sale, bad quantity, bad e-mail.
    for (body, want) in [
        (json!({"items": [{"sku": "gold"}], "email": EMAIL}), 351),
        (
            json!({"items": [{"sku": "support", "quantity": 6}], "email": EMAIL}),
            351,
        ),
        (
            json!({"items": [{"sku": "mqtt-server", "quantity": 2}], "email": EMAIL}),
            351,
        ),
        (
            json!({"items": [{"sku": "mqtt-server"}], "email": "nobody"}),
            316,
        ),
        (json!({"items": [], "email": EMAIL}), 316),
    ] {
        let (st, b) = call(&url, "POST", "/v1/shop/purchases", Some(body.clone()), None);
        assert_eq!(code(&b), want, "{body} -> {st} {b}");
    }

    // Buy MQTT Server + a year of Support: a Checkout Session at stripe-mock.
    let (st, p) = call(
        &url,
        "POST",
        "/v1/shop/purchases",
        Some(
            json!({"items": [{"sku": "mqtt-server"}, {"sku": "support", "quantity": 1}],
                    "email": EMAIL}),
        ),
        None,
    );
    assert_eq!(st, 201, "{p}");
    let pid = p["purchase_id"].as_u64().unwrap();
    let token = p["token"].as_str().unwrap().to_owned();
    let session = p["session_id"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    assert!(session.starts_with("cs_"), "{p}");
    assert!(
        p["checkout_url"].as_str().unwrap().starts_with("https://"),
        "{p}"
    );
    let (st, s) = status(&url, pid, Some(&token));
    assert_eq!((st, s["status"].as_str()), (200, Some("open")), "{s}");
    assert_eq!(s["license_key"], Value::Null);
    // The session id alone (or a wrong token) shows nothing.
    assert_eq!(code(&status(&url, pid, None).1), 350);
    assert_eq!(code(&status(&url, pid, Some(&session)).1), 350);
    assert_eq!(code(&status(&url, pid + 1, Some(&token)).1), 350);

    // Webhooks that are unsigned, mis-signed or stale: 400, nothing changes.
    let paid = event(
        "evt_paid_1",
        "checkout.session.completed",
        &session,
        pid,
        true,
    );
    let stale = webhook::sign(WEBHOOK_SECRET, now() - 301, paid.as_bytes());
    let wrong = webhook::sign("whsec_wrong", now(), paid.as_bytes());
    let tampered = paid.replace("cus_test_1", "cus_test_2");
    for (payload, sig) in [
        (paid.clone(), None),
        (paid.clone(), Some(stale)),
        (paid.clone(), Some(wrong)),
        (tampered, signed(&paid)),
        (paid.clone(), Some("t=1,v1=zz".into())),
    ] {
        let (st, b) = deliver(&url, &payload, sig);
        assert_eq!((st, code(&b)), (400, 352), "{b}");
    }
    assert_eq!(vendor.authority().list_licenses().unwrap().len(), 0);
    assert_eq!(vendor.authority().payment_event_count().unwrap(), 0);
    assert_eq!(status(&url, pid, Some(&token)).1["status"], "open");
    assert!(smtp.mails().is_empty());

    // The paid checkout: the license is issued at once and the key e-mailed.
    let (st, b) = deliver(&url, &paid, signed(&paid));
    assert_eq!((st, b["outcome"].as_str()), (200, Some("delivered")), "{b}");
    let (_, s) = status(&url, pid, Some(&token));
    assert_eq!(s["status"], "completed");
    assert_eq!(s["license_id"], 1);
    assert_eq!(s["revision"], 1);
    let key = s["license_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 29);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].from, "<licensing@vendor.test>");
    assert_eq!(mails[0].to, [format!("<{EMAIL}>")]);
    assert!(
        mails[0].data.contains("Subject: Your chariot license key"),
        "{}",
        mails[0].data
    );
    assert!(
        mails[0].data.contains(&format!("License key: {key}")),
        "{}",
        mails[0].data
    );

    // Stripe delivers again (at least once) and late, out of order: nothing changes.
    let (st, b) = deliver(&url, &paid, signed(&paid));
    assert_eq!((st, b["outcome"].as_str()), (200, Some("duplicate")), "{b}");
    let expired = event(
        "evt_expired_1",
        "checkout.session.expired",
        &session,
        pid,
        false,
    );
    let (st, b) = deliver(&url, &expired, signed(&expired));
    assert_eq!((st, b["outcome"].as_str()), (200, Some("ignored")), "{b}");
    assert_eq!(vendor.authority().list_licenses().unwrap().len(), 1);
    assert_eq!(smtp.mails().len(), 1);
    assert_eq!(status(&url, pid, Some(&token)).1["status"], "completed");

    assert_eq!(
        vendor.authority().billing_customer(1).unwrap().as_deref(),
        Some("cus_test_1"),
        "metered usage is billed to the paying customer"
    );

    // Activate online with the key from the e-mail.
    let online = client(&url);
    let mut broker = host(1, vendor.root());
    online.activate(&mut broker, &key).unwrap();
    assert!(broker.has_feature("mqtt-server"));
    assert!(broker.has_feature("support"));
    assert!(!broker.has_feature("snowflake"));

    // The upgrade: what the license has is not offered, Support years always are.
    let (st, offers) = call(
        &url,
        "POST",
        "/v1/shop/offers",
        Some(json!({"license_key": key})),
        None,
    );
    assert_eq!(st, 200, "{offers}");
    assert_eq!(skus(&offers), ["support", "snowflake"]);
    assert_eq!(offers["license_id"], 1);
    let (st, b) = call(
        &url,
        "POST",
        "/v1/shop/purchases",
        Some(json!({"items": [{"sku": "mqtt-server"}], "email": EMAIL, "license_key": key})),
        None,
    );
    assert_eq!((st, code(&b)), (409, 314), "{b}");
    // A well-formed key the vendor never issued.
    let stranger =
        tollgate_core::LicenseKey::from_entropy(&[7; tollgate_core::key::ENTROPY_BYTES]).expose();
    let (st, b) = call(
        &url,
        "POST",
        "/v1/shop/offers",
        Some(json!({"license_key": stranger})),
        None,
    );
    assert_eq!((st, code(&b)), (403, 300), "{b}");

    let (st, up) = call(
        &url,
        "POST",
        "/v1/shop/purchases",
        Some(json!({"items": [{"sku": "snowflake"}], "email": EMAIL, "license_key": key})),
        None,
    );
    assert_eq!(st, 201, "{up}");
    let up_id = up["purchase_id"].as_u64().unwrap();
    let up_session = up["session_id"].as_str().unwrap().to_owned();
    let paid = event(
        "evt_paid_2",
        "checkout.session.completed",
        &up_session,
        up_id,
        true,
    );
    let (st, b) = deliver(&url, &paid, signed(&paid));
    assert_eq!((st, b["outcome"].as_str()), (200, Some("delivered")), "{b}");
    let (_, s) = status(&url, up_id, up["token"].as_str());
    assert_eq!(
        (
            &s["status"],
            &s["upgrade"],
            &s["license_id"],
            &s["revision"],
            &s["license_key"]
        ),
        (
            &json!("completed"),
            &json!(true),
            &json!(1),
            &json!(2),
            &Value::Null
        )
    );
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2);
    assert!(mails[1]
        .data
        .contains("Subject: Your chariot license was upgraded"));
    assert!(mails[1].data.contains("revision 2"), "{}", mails[1].data);
    assert!(
        !mails[1].data.contains(&key),
        "an upgrade mail does not repeat the key"
    );

    // Reactivate: the bridge is licensed, without a new seat.
    let st = online.reactivate(&mut broker).unwrap();
    assert_eq!(st.license.unwrap().revision, 2);
    assert!(broker.has_feature("snowflake"));
    assert_eq!(active_seats(&vendor, 1), 1);

    // Use the bridge: the host reports its usage (signed by its device key, seq 1) and the
    // units reach exactly one Stripe meter event, billed to the paying customer.
    use_the_bridge(&vendor, &server, &mut broker);
    // An offline host's usage journal is imported; a tampered one is refused.
    import_offline_journal(&vendor, &url);

    let (st, list) = admin(&url, "GET", "/v1/admin/purchases?status=completed", None);
    assert_eq!(st, 200, "{list}");
    let ids: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["purchase_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [up_id, pid]);
    assert_eq!(list[1]["customer"], "cus_test_1");
    assert!(
        !list.to_string().contains(&key),
        "the admin list never shows a key"
    );
    let (st, b) = admin(&url, "GET", "/v1/admin/purchases?status=lost", None);
    assert_eq!((st, code(&b)), (400, 400), "{b}");
    let (st, _) = call(&url, "GET", "/v1/admin/purchases", None, None);
    assert_eq!(st, 401);

    let actions: Vec<String> = vendor
        .authority()
        .audit_log(Some(1), 20)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.starts_with("purchase.") || a.starts_with("license."))
        .collect();
    assert_eq!(
        actions,
        [
            "purchase.completed",
            "license.upgraded",
            "purchase.created",
            "purchase.completed",
            "license.issued"
        ]
    );
}

/// The online broker uses the bridge; its usage report (sent by the sdk's
/// `OnlineClient::report_usage`) reaches exactly one Stripe meter event.
fn use_the_bridge(
    vendor: &Vendor,
    server: &tollgate_server::Running,
    broker: &mut tollgate_sdk::LicenseManager,
) {
    let online = client(&server.url());
    broker.record_usage("snowflake", 1500).unwrap();
    let sync = online.report_usage(broker).unwrap();
    assert_eq!((sync.sent, sync.acknowledged), (1, 1));
    assert!(sync.flagged.is_empty(), "{:?}", sync.flagged);
    assert!(broker.usage_outbox().is_empty(), "acknowledged");
    let events = vendor
        .authority()
        .meter_events(&tollgate_authority::UsageFilter::default())
        .unwrap();
    assert_eq!(events.len(), 1);
    let dev8 = tollgate_core::hex_string(&events[0].device_key)[..8].to_owned();
    let f = forward(server, now());
    assert_eq!(f.sent, [format!("tollgate-usage-1-{dev8}-1-snowflake")]);
    assert!(f.failed.is_empty(), "{:?}", f.failed);
    // Nothing more to bill, however often the forwarder runs or the host reports.
    let sync = online.report_usage(broker).unwrap();
    assert_eq!((sync.sent, sync.acknowledged), (0, 0));
    assert!(forward(server, now() + 86_400).sent.is_empty());
    let events = vendor
        .authority()
        .meter_events(&tollgate_authority::UsageFilter::default())
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].units, events[0].attempts), (1500, 1));
    assert!(events[0].sent_at.is_some());
    let totals = vendor
        .authority()
        .usage_totals(&tollgate_authority::UsageFilter::default())
        .unwrap();
    assert_eq!(
        totals
            .iter()
            .map(|t| (t.license_id, t.feature.as_str(), t.units))
            .collect::<Vec<_>>(),
        [(1, "snowflake", 1500)]
    );
}

/// An offline broker of another license with the bridge hands its usage journal to the
/// vendor, who imports it in the console's path; a tampered journal is refused with the
/// core's code and changes nothing.
fn import_offline_journal(vendor: &Vendor, url: &str) {
    let mut spec = chariot_spec(1);
    spec["features"].as_array_mut().unwrap().push(
        json!({"name": "snowflake", "kind": "metered", "quota": 1_000_000, "period": "month"}),
    );
    let (lid, key) = issue(url, spec);
    let mut edge = host(7, vendor.root());
    let request = edge.request_usage(&key).unwrap();
    let (st, answer) = call(
        url,
        "POST",
        "/v1/offline/fulfil",
        Some(json!({ "request": request })),
        None,
    );
    assert_eq!(st, 200, "{answer}");
    edge.install(answer["usage_license"].as_str().unwrap())
        .unwrap();
    edge.record_usage("snowflake", 40).unwrap();
    let first = edge.usage_journal().unwrap();
    edge.record_usage("snowflake", 2).unwrap();
    let journal = edge.usage_journal().unwrap();
    assert_eq!(
        journal.lines().filter(|l| l.starts_with("TGUR:")).count(),
        2,
        "{journal}"
    );
    assert!(journal.starts_with(&first));

    // Tampered: one character of the second report changed. Refused with the core's code,
    // naming the line; nothing stored.
    let line = journal
        .lines()
        .filter(|l| l.starts_with("TGUR:"))
        .nth(1)
        .unwrap();
    let mut bad = line.as_bytes().to_vec();
    let i = bad.len() / 2;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let tampered = journal.replace(line, std::str::from_utf8(&bad).unwrap());
    let (st, b) = admin(
        url,
        "POST",
        "/v1/admin/usage/import",
        Some(json!({ "journal": tampered })),
    );
    assert_eq!((st, code(&b)), (422, 102), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("usage journal line 3: "),
        "{b}"
    );
    assert!(vendor
        .authority()
        .usage_reports(Some(lid))
        .unwrap()
        .is_empty());

    // The genuine journal: both reports merged, 42 units for the license's month.
    let (st, b) = admin(
        url,
        "POST",
        "/v1/admin/usage/import",
        Some(json!({ "journal": journal })),
    );
    assert_eq!(st, 200, "{b}");
    let verdicts: Vec<&str> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["merged", "merged"]);
    assert_eq!(
        (
            b["flagged"].as_u64(),
            b["chains"][0]["merged_through"].as_u64()
        ),
        (Some(0), Some(2))
    );
    let (st, usage) = admin(url, "GET", &format!("/v1/admin/usage?license={lid}"), None);
    assert_eq!(st, 200, "{usage}");
    assert_eq!(usage["totals"].as_array().unwrap().len(), 1);
    assert_eq!(usage["totals"][0]["units"], 42);
    assert_eq!(usage["flags"], json!([]));
    // Imported twice (the operator sent it again): duplicates, nothing changes.
    let (_, b) = admin(
        url,
        "POST",
        "/v1/admin/usage/import",
        Some(json!({ "journal": journal })),
    );
    assert_eq!(b["results"][1]["verdict"], "duplicate");
    let (_, usage) = admin(url, "GET", &format!("/v1/admin/usage?license={lid}"), None);
    assert_eq!(usage["totals"][0]["units"], 42);
}

#[test]
fn without_a_shop_the_routes_say_so() {
    let vendor = Vendor::new(&Backend::Sqlite);
    let server = vendor.start();
    let url = server.url();
    let (st, b) = call(&url, "POST", "/v1/shop/offers", Some(json!({})), None);
    assert_eq!((st, code(&b)), (404, 354), "{b}");
    let (st, b) = deliver(&url, "{}", None);
    assert_eq!((st, code(&b)), (404, 354), "{b}");
}

#[test]
fn a_stripe_failure_is_a_502_and_the_purchase_stays_open() {
    let smtp = SmtpSink::start();
    // Nothing listens there.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let vendor = Vendor::new(&Backend::Sqlite);
    let server = vendor.start_with(|c| c.shop = Some(shop_config(&dead_url, smtp.addr)));
    let (st, b) = call(
        &server.url(),
        "POST",
        "/v1/shop/purchases",
        Some(json!({"items": [{"sku": "mqtt-server"}], "email": EMAIL})),
        None,
    );
    assert_eq!((st, code(&b)), (502, 353), "{b}");
    assert_eq!(vendor.authority().list_licenses().unwrap().len(), 0);
}

#[test]
fn meter_events_reach_stripe_with_their_idempotency_key() {
    let stripe = StripeMock::start();
    let client = tollgate_server::shop::stripe::Stripe::new(&StripeConfig {
        api_base: stripe.base.clone(),
        secret_key: Secret::new("sk_test_tollgate"),
        webhook_secrets: vec![Secret::new(WEBHOOK_SECRET)],
        tolerance_secs: 300,
    });
    // The same identifier twice (a retry) is the same idempotent call.
    for _ in 0..2 {
        client
            .meter_event(
                "snowflake_messages",
                "cus_test_1",
                1234,
                "lic1-2026-12",
                now(),
            )
            .unwrap();
    }
    // Without an API key Stripe (and stripe-mock) refuse: a typed error, not a panic.
    let anonymous = tollgate_server::shop::stripe::Stripe::new(&StripeConfig {
        api_base: stripe.base.clone(),
        secret_key: Secret::new(""),
        webhook_secrets: vec![Secret::new(WEBHOOK_SECRET)],
        tolerance_secs: 300,
    });
    let err = anonymous
        .meter_event(
            "snowflake_messages",
            "cus_test_1",
            1,
            "lic1-2026-12-b",
            now(),
        )
        .unwrap_err();
    assert!(err.0.starts_with("HTTP 401"), "{err}");
}

#[test]
fn a_mail_failure_leaves_the_key_on_the_purchase_status() {
    let stripe = StripeMock::start();
    // No SMTP server listens there.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let vendor = Vendor::new(&Backend::Sqlite);
    let server = vendor.start_with(|c| c.shop = Some(shop_config(&stripe.base, dead_addr)));
    let url = server.url();
    let (st, p) = call(
        &url,
        "POST",
        "/v1/shop/purchases",
        Some(json!({"items": [{"sku": "mqtt-server"}], "email": EMAIL})),
        None,
    );
    assert_eq!(st, 201, "{p}");
    let pid = p["purchase_id"].as_u64().unwrap();
    let session = p["session_id"].as_str().unwrap();
    let paid = event("evt_1", "checkout.session.completed", session, pid, true);
    let (st, b) = deliver(&url, &paid, signed(&paid));
    assert_eq!((st, b["outcome"].as_str()), (200, Some("delivered")), "{b}");
    let (_, s) = status(&url, pid, p["token"].as_str());
    assert_eq!(s["status"], "completed");
    assert_eq!(s["license_key"].as_str().map(str::len), Some(29));
}
