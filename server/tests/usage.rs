//! Metered usage over HTTP, against Stripe's own mock server: `POST /v1/usage` judges each
//! signed report against the device's chain (merged once; replays, gaps, forks, rewritten
//! histories, foreign device keys and tampered reports never merged), and the forwarder sends
//! each merged entry to Stripe's billing meter events exactly once, retrying a failure with
//! the same idempotency identifier. Every case runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/shop.rs"]
mod shop_support;

use common::*;
use serde_json::{json, Value};
use shop_support::*;
use tollgate_authority::{DeliverySeal, Order, OrderItem, OrderLine, PaymentEvent, UsageFilter};
use tollgate_core::*;

const BRIDGE: &str = "snowflake";
const MONTH0: u64 = 1_698_796_800; // 2023-11-01T00:00:00Z

/// A host built with the core: its device key, fingerprint and usage chain.
struct Reporter {
    license_id: u64,
    n: u8,
    device: DeviceKey,
    seq: u64,
    prev: [u8; 32],
}

impl Reporter {
    fn new(license_id: u64, n: u8) -> Self {
        Reporter {
            license_id,
            n,
            device: DeviceKey::from_seed(&[n; 32]),
            seq: 0,
            prev: [0; 32],
        }
    }

    /// Activates the device online with `key` (a seat of the license).
    fn activate(&self, url: &str, key: &str, n: u8) {
        let fp = Fingerprint::from_components(vec![
            Component::derive(ComponentKind::MachineId, &[n; 16], b"chariot-salt"),
            Component::derive(ComponentKind::Hostname, &[n, n], b"chariot-salt"),
            Component::derive(ComponentKind::Mac, &[n, 1, 2, 3, 4, 5], b"chariot-salt"),
        ])
        .unwrap();
        let key = LicenseKey::parse(key).unwrap();
        let req =
            UsageRequest::create(&key, &self.device, "chariot", "4.2.0", 1, now(), &fp).unwrap();
        let (st, b) = call(
            url,
            "POST",
            "/v1/activate",
            Some(json!({"request": req.to_armor()})),
            None,
        );
        assert_eq!(st, 200, "{b}");
    }

    fn next(&mut self, units: u64) -> UsageReport {
        self.seq += 1;
        let r = UsageReport::create(
            UsageClaims {
                license_id: self.license_id,
                device_key: self.device.public_key(),
                seq: self.seq,
                prev_hash: self.prev,
                created_at: now(),
                entries: vec![UsageEntry {
                    feature: BRIDGE.into(),
                    period: MeterPeriod::Month,
                    period_start: MONTH0,
                    units,
                }],
            },
            &self.device,
        )
        .unwrap();
        self.prev = r.hash();
        r
    }

    fn clone_state(&self) -> Reporter {
        Reporter {
            license_id: self.license_id,
            n: self.n,
            device: DeviceKey::from_seed(&[self.n; 32]),
            seq: self.seq,
            prev: self.prev,
        }
    }

    fn dev8(&self) -> String {
        hex_string(&self.device.public_key())[..8].to_owned()
    }
}

fn submit(url: &str, reports: &[&UsageReport]) -> (u16, Value) {
    let reports: Vec<String> = reports.iter().map(|r| r.to_armor()).collect();
    call(
        url,
        "POST",
        "/v1/usage",
        Some(json!({ "reports": reports })),
        None,
    )
}

fn verdicts(receipt: &Value) -> Vec<(u64, String)> {
    receipt["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["seq"].as_u64().unwrap(),
                r["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The license's bridge units per period start, from the ledger.
fn totals(vendor: &Vendor, license_id: u64) -> Vec<(u64, u64)> {
    vendor
        .authority()
        .usage_totals(&UsageFilter {
            license_id: Some(license_id),
            ..UsageFilter::default()
        })
        .unwrap()
        .into_iter()
        .map(|t| (t.period_start, t.units))
        .collect()
}

/// A license with the bridge bought through the shop (so it has a billing customer,
/// `cus_test_1`): the upgrade's paid event applied to the ledger directly.
fn metered_license(vendor: &Vendor, url: &str) -> (u64, String) {
    let (lid, key) = issue(url, chariot_spec(3));
    let mut a = vendor.authority();
    let p = a
        .create_purchase(
            &Order {
                product: "chariot".into(),
                upgrade_of: Some(lid),
                email: EMAIL.into(),
                models: Models::of(&[DeploymentModel::Online]),
                lines: vec![OrderLine {
                    sku: BRIDGE.into(),
                    feature: BRIDGE.into(),
                    item: OrderItem::Metered {
                        quota: 1_000_000,
                        period: MeterPeriod::Month,
                    },
                    quantity: 1,
                }],
            },
            now(),
        )
        .unwrap();
    a.attach_checkout(p.id, &format!("cs_test_{lid}"), now())
        .unwrap();
    a.payment_event(
        &PaymentEvent {
            event_id: format!("evt_{lid}"),
            event_type: "checkout.session.completed".into(),
            session_id: format!("cs_test_{lid}"),
            purchase_id: Some(p.id),
            paid: true,
            customer: Some("cus_test_1".into()),
        },
        &DeliverySeal::new(b"delivery-secret-for-tests-0123456789"),
        now(),
    )
    .unwrap();
    (lid, key)
}

#[test]
fn reports_merge_once_and_reach_stripe_once() {
    let stripe = StripeMock::start();
    for b in backends() {
        reports_merge_once_on(&b, &stripe);
    }
}

fn reports_merge_once_on(backend: &Backend, stripe: &StripeMock) {
    let smtp = SmtpSink::start();
    let vendor = Vendor::new(backend);
    let server = vendor.start_with(|c| c.shop = Some(shop_config(&stripe.base, smtp.addr)));
    let url = server.url();
    let (lid, key) = metered_license(&vendor, &url);
    let mut host = Reporter::new(lid, 1);
    host.activate(&url, &key, 1);

    // Three reports, sent out of order: judged in seq order, all merged.
    let (r1, r2, r3) = (host.next(10), host.next(20), host.next(12));
    let (st, receipt) = submit(&url, &[&r2, &r1, &r3]);
    assert_eq!(st, 200, "{receipt}");
    assert_eq!(
        verdicts(&receipt),
        [
            (2, "merged".into()),
            (1, "merged".into()),
            (3, "merged".into())
        ]
    );
    assert_eq!(receipt["merged_through"], 3);
    assert_eq!(receipt["license_id"], lid);
    assert_eq!(receipt["device_key"], hex_string(&host.device.public_key()));
    assert_eq!(totals(&vendor, lid), [(MONTH0, 42)]);

    // A replayed submission: duplicates, nothing changes.
    let (st, receipt) = submit(&url, &[&r1, &r2, &r3]);
    assert_eq!(st, 200, "{receipt}");
    assert_eq!(
        verdicts(&receipt),
        [
            (1, "duplicate".into()),
            (2, "duplicate".into()),
            (3, "duplicate".into())
        ]
    );
    assert_eq!(totals(&vendor, lid), [(MONTH0, 42)]);

    // Exactly one meter event per merged report reaches Stripe, once.
    let sent = forward(&server, now());
    let want: Vec<String> = (1..=3)
        .map(|s| format!("tollgate-usage-{lid}-{}-{s}-{BRIDGE}", host.dev8()))
        .collect();
    assert_eq!(sent.sent, want, "{:?}", sent.failed);
    assert!(sent.failed.is_empty());
    assert_eq!(forward(&server, now() + 86_400).sent.len(), 0);
    let (st, _) = submit(&url, &[&r3]);
    assert_eq!(st, 200);
    assert_eq!(
        forward(&server, now() + 86_400).sent.len(),
        0,
        "a replay bills nothing"
    );

    // A clone of the host's state: its seq 4 is merged first, the original's seq 4 is then
    // a rewrite and its seq 5 a fork; a report past the head is a gap. None is merged.
    let mut clone = host.clone_state();
    let c4 = clone.next(1000);
    let (h4, h5) = (host.next(1), host.next(2));
    assert_eq!(verdicts(&submit(&url, &[&c4]).1), [(4, "merged".into())]);
    let (st, receipt) = submit(&url, &[&h4, &h5]);
    assert_eq!(st, 200, "{receipt}");
    assert_eq!(
        verdicts(&receipt),
        [(4, "rewritten".into()), (5, "fork".into())]
    );
    assert_eq!(receipt["merged_through"], 4);
    let c6 = {
        clone.next(1);
        clone.next(1)
    };
    assert_eq!(verdicts(&submit(&url, &[&c6]).1), [(6, "gap".into())]);
    assert_eq!(totals(&vendor, lid), [(MONTH0, 1042)]);
    let (st, usage) = admin(&url, "GET", &format!("/v1/admin/usage?license={lid}"), None);
    assert_eq!(st, 200, "{usage}");
    let flags: Vec<(u64, &str)> = usage["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["seq"].as_u64().unwrap(), f["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(flags, [(4, "rewritten"), (5, "fork"), (6, "gap")]);
    assert_eq!(usage["totals"][0]["units"], 1042);
    assert_eq!(usage["unsent_meter_events"], 1);
    let (st, usage) = admin(&url, "GET", "/v1/admin/usage?period=2023-12", None);
    assert_eq!(st, 200);
    assert_eq!(usage["totals"], json!([]));
    let (st, b) = admin(&url, "GET", "/v1/admin/usage?period=2023-13", None);
    assert_eq!((st, code(&b)), (400, 400));
    assert_eq!(forward(&server, now()).sent.len(), 1);

    // Refused submissions store nothing.
    let stored = vendor.authority().usage_reports(None).unwrap().len();
    // A device key that never activated the license (signed by its own key: valid report).
    let mut stranger = Reporter::new(lid, 9);
    let (st, b) = submit(&url, &[&stranger.next(5)]);
    assert_eq!(
        (st, code(&b), b["error"]["name"].as_str()),
        (403, 355, Some("UsageDeviceUnknown")),
        "{b}"
    );
    // The activated device reporting under another license.
    let (other, _) = issue(&url, chariot_spec(1));
    let mut elsewhere = Reporter::new(other, 1);
    let (st, b) = submit(&url, &[&elsewhere.next(5)]);
    assert_eq!((st, code(&b)), (403, 355), "{b}");
    // An unknown license.
    let mut nowhere = Reporter::new(9999, 1);
    let (st, b) = submit(&url, &[&nowhere.next(5)]);
    assert_eq!((st, code(&b)), (404, 304), "{b}");
    // Two device keys in one submission; none at all.
    let mut second = Reporter::new(lid, 2);
    let (st, b) = submit(&url, &[&host.next(1), &second.next(1)]);
    assert_eq!((st, code(&b)), (422, 357), "{b}");
    let (st, b) = submit(&url, &[]);
    assert_eq!((st, code(&b)), (422, 357), "{b}");
    // A report whose bytes were changed and re-armored: the signature fails (111).
    let mut bytes = h5.as_bytes().to_vec();
    let at = bytes.len() - 50;
    bytes[at] ^= 1;
    let forged = tollgate_core::armor::encode(ArtifactType::UsageReport, &bytes);
    let (st, b) = call(
        &url,
        "POST",
        "/v1/usage",
        Some(json!({"reports": [forged]})),
        None,
    );
    assert_eq!((st, code(&b)), (422, 111), "{b}");
    // A character flipped in the armor: the checksum fails.
    let mut text = h5.to_armor().into_bytes();
    let i = text.len() / 2;
    text[i] = if text[i] == b'A' { b'B' } else { b'A' };
    let (st, b) = call(
        &url,
        "POST",
        "/v1/usage",
        Some(json!({"reports": [String::from_utf8(text).unwrap()]})),
        None,
    );
    assert_eq!(
        (st, code(&b)),
        (422, u64::from(Error::ArmorChecksum.code())),
        "{b}"
    );
    let (st, b) = call(&url, "POST", "/v1/usage", Some(json!({"report": []})), None);
    assert_eq!((st, code(&b)), (400, 400), "{b}");
    assert_eq!(
        vendor.authority().usage_reports(None).unwrap().len(),
        stored
    );
    assert_eq!(totals(&vendor, lid), [(MONTH0, 1042)]);
    assert_eq!(forward(&server, now()).sent.len(), 0);
}

#[test]
fn a_failed_meter_event_is_retried_with_the_same_identifier() {
    let stripe = StripeMock::start();
    for b in backends() {
        retried_on(&b, &stripe);
    }
}

fn retried_on(backend: &Backend, stripe: &StripeMock) {
    let smtp = SmtpSink::start();
    let vendor = Vendor::new(backend);
    // Stripe unreachable: a closed loopback port.
    let server = start_with_stripe_down(&vendor, &smtp);
    let url = server.url();
    let (lid, key) = metered_license(&vendor, &url);
    let mut host = Reporter::new(lid, 1);
    host.activate(&url, &key, 1);
    let r1 = host.next(7);
    assert_eq!(verdicts(&submit(&url, &[&r1]).1), [(1, "merged".into())]);
    let id = format!("tollgate-usage-{lid}-{}-1-{BRIDGE}", host.dev8());
    let t = now();
    let f = forward(&server, t);
    assert!(f.sent.is_empty());
    assert_eq!(f.failed.len(), 1);
    assert_eq!(f.failed[0].0, id);
    assert!(f.failed[0].1.contains("unreachable"), "{:?}", f.failed);
    // Not due again before its back-off.
    assert!(forward(&server, t + 29).failed.is_empty());
    let events = vendor
        .authority()
        .meter_events(&UsageFilter::default())
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].attempts, events[0].sent_at), (1, None));
    assert_eq!(events[0].next_attempt_at, t + 30);
    server.stop();

    // Stripe is back (the service restarted with the right URL): the same identifier is sent.
    let server = vendor.start_with(|c| c.shop = Some(shop_config(&stripe.base, smtp.addr)));
    let f = forward(&server, t + 30);
    assert_eq!(f.sent, std::slice::from_ref(&id));
    assert!(f.failed.is_empty());
    assert!(forward(&server, t + 100_000).sent.is_empty());
    let events = vendor
        .authority()
        .meter_events(&UsageFilter::default())
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].identifier, id);
    assert_eq!(events[0].attempts, 2);
    assert!(events[0].sent_at.is_some());
    assert_eq!(events[0].last_error, None);
}

#[test]
fn probing_device_keys_is_rate_limited() {
    let vendor = Vendor::new(&Backend::Sqlite);
    let server = vendor.start_with(|c| {
        c.rate_limit.burst = 2;
        c.rate_limit.per_minute = 1;
    });
    let url = server.url();
    let (lid, _) = issue(&url, chariot_spec(1));
    for n in 20..22 {
        let (st, b) = submit(&url, &[&Reporter::new(lid, n).next(1)]);
        assert_eq!((st, code(&b)), (403, 355), "{b}");
    }
    let (st, b) = submit(&url, &[&Reporter::new(lid, 22).next(1)]);
    assert_eq!((st, code(&b)), (429, 429), "{b}");
}

#[test]
fn a_long_offline_journal_is_imported_in_one_body() {
    let vendor = Vendor::new(&Backend::Sqlite);
    let server = vendor.start();
    let url = server.url();
    let (lid, key) = issue(&url, bridge_spec(1));
    let mut host = Reporter::new(lid, 1);
    host.activate(&url, &key, 1);
    // 400 reports: over the 64 KiB every other route takes.
    let reports: Vec<UsageReport> = (0..400).map(|_| host.next(1)).collect();
    let journal = usage_journal_text(&reports);
    assert!(journal.len() > 64 * 1024, "{}", journal.len());
    let (st, b) = admin(
        &url,
        "POST",
        "/v1/admin/usage/import",
        Some(json!({ "journal": journal })),
    );
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        (b["flagged"].as_u64(), b["results"].as_array().map(Vec::len)),
        (Some(0), Some(400))
    );
    assert_eq!(b["chains"][0]["merged_through"], 400);
    assert_eq!(totals(&vendor, lid), [(MONTH0, 400)]);
    // The same body on the host route is too large.
    let all: Vec<&UsageReport> = reports.iter().collect();
    let (st, b) = submit(&url, &all);
    assert_eq!((st, code(&b)), (413, 413), "{b}");
}

/// The chariot license with the bridge metered per month, issued by hand (no customer).
fn bridge_spec(seats: u32) -> Value {
    let mut spec = chariot_spec(seats);
    spec["features"].as_array_mut().unwrap().push(json!({
        "name": BRIDGE, "kind": "metered", "quota": 1_000_000, "period": "month"
    }));
    spec
}

/// `/metrics` as text.
fn metrics(url: &str) -> String {
    let mut resp = http().get(format!("{url}/metrics")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.body_mut().read_to_string().unwrap()
}

#[test]
fn unmetered_unbillable_and_expired_usage_never_reaches_stripe() {
    for b in backends() {
        never_billed_on(&b);
    }
}

/// The service with the shop's Stripe on a closed loopback port: every call to it fails, so an
/// event the forwarder tried to send would show as failed, never as sent.
fn start_with_stripe_down(vendor: &Vendor, smtp: &SmtpSink) -> tollgate_server::Running {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    vendor.start_with(|c| c.shop = Some(shop_config(&closed, smtp.addr)))
}

fn never_billed_on(backend: &Backend) {
    let smtp = SmtpSink::start();
    let vendor = Vendor::new(backend);
    // Stripe unreachable: an event the forwarder tried to send would fail, not end.
    let server = start_with_stripe_down(&vendor, &smtp);
    let url = server.url();

    // A license with the bridge issued by hand (not bought through the shop): no customer.
    let (lid, key) = issue(&url, bridge_spec(3));
    let mut host = Reporter::new(lid, 1);
    host.activate(&url, &key, 1);
    // One report: the bridge (billed) and the perpetual MQTT Server (never billed).
    host.seq += 1;
    let r1 = UsageReport::create(
        UsageClaims {
            license_id: lid,
            device_key: host.device.public_key(),
            seq: host.seq,
            prev_hash: host.prev,
            created_at: now(),
            entries: vec![
                UsageEntry {
                    feature: "mqtt-server".into(),
                    period: MeterPeriod::Month,
                    period_start: MONTH0,
                    units: 500,
                },
                UsageEntry {
                    feature: BRIDGE.into(),
                    period: MeterPeriod::Month,
                    period_start: MONTH0,
                    units: 7,
                },
            ],
        },
        &host.device,
    )
    .unwrap();
    host.prev = r1.hash();
    let (st, receipt) = submit(&url, &[&r1]);
    assert_eq!(st, 200, "{receipt}");
    assert_eq!(verdicts(&receipt), [(1, "merged".into())]);
    assert_eq!(receipt["merged_through"], 1);
    assert_eq!(totals(&vendor, lid), [(MONTH0, 7)]);
    let id = format!("tollgate-usage-{lid}-{}-1-{BRIDGE}", host.dev8());
    let t = now();
    let f = forward(&server, t);
    assert_eq!(f.unbillable, std::slice::from_ref(&id));
    assert!(f.sent.is_empty() && f.failed.is_empty() && f.expired.is_empty());
    // Final: never due again.
    assert_eq!(forward(&server, t + 100_000), Default::default());
    let (st, usage) = admin(&url, "GET", &format!("/v1/admin/usage?license={lid}"), None);
    assert_eq!(st, 200, "{usage}");
    assert_eq!(
        usage["meter_events"],
        json!({"pending": 0, "sent": 0, "unbillable": 1, "expired": 0})
    );
    assert_eq!(usage["unsent_meter_events"], 0);
    assert_eq!(usage["flags"].as_array().unwrap().len(), 1);
    let flag = &usage["flags"][0];
    assert_eq!(
        (&flag["seq"], &flag["verdict"], &flag["resolved_at"]),
        (&json!(1), &json!("not_metered"), &Value::Null)
    );
    assert_eq!(
        flag["detail"],
        json!({"entries": [{"feature": "mqtt-server", "period": "month",
                            "period_start": MONTH0, "units": 500}]})
    );
    // The vendor dismisses the flag over the admin API; once only.
    let body = json!({"license_id": lid, "device_key": hex_string(&host.device.public_key()),
                      "seq": 1, "resolution": "dismiss"});
    let (st, done) = admin(&url, "POST", "/v1/admin/usage/resolve", Some(body.clone()));
    assert_eq!(st, 200, "{done}");
    assert_eq!(
        (&done[0]["verdict"], &done[0]["resolution"]),
        (&json!("not_metered"), &json!("dismissed"))
    );
    let (st, b) = admin(&url, "POST", "/v1/admin/usage/resolve", Some(body));
    assert_eq!((st, code(&b)), (404, 358), "{b}");
    let mut bad = json!({"license_id": lid, "device_key": "zz", "seq": 1,
                         "resolution": "dismiss"});
    let (st, b) = admin(&url, "POST", "/v1/admin/usage/resolve", Some(bad.clone()));
    assert_eq!((st, code(&b)), (400, 400), "{b}");
    bad["device_key"] = json!(hex_string(&host.device.public_key()));
    bad["resolution"] = json!("ignore");
    let (st, b) = admin(&url, "POST", "/v1/admin/usage/resolve", Some(bad));
    assert_eq!((st, code(&b)), (400, 400), "{b}");

    // A license bought through the shop (with a customer): an event older than Stripe takes
    // ends as expired when the forwarder first gets to it, unsent.
    let (paid, key) = metered_license(&vendor, &url);
    let mut buyer = Reporter::new(paid, 2);
    buyer.activate(&url, &key, 2);
    let r = buyer.next(3);
    assert_eq!(verdicts(&submit(&url, &[&r]).1), [(1, "merged".into())]);
    let late = now() + tollgate_authority::METER_EVENT_WINDOW_SECS;
    let f = forward(&server, late);
    let paid_id = format!("tollgate-usage-{paid}-{}-1-{BRIDGE}", buyer.dev8());
    assert_eq!(f.expired, std::slice::from_ref(&paid_id));
    assert!(f.sent.is_empty() && f.failed.is_empty() && f.unbillable.is_empty());
    assert_eq!(forward(&server, late + 100_000), Default::default());
    let events = vendor
        .authority()
        .meter_events(&UsageFilter {
            license_id: Some(paid),
            ..UsageFilter::default()
        })
        .unwrap();
    assert_eq!(
        (events[0].status, events[0].attempts, events[0].sent_at),
        (tollgate_authority::MeterEventStatus::Expired, 0, None)
    );

    // Counted in /metrics.
    let text = metrics(&url);
    for line in [
        "tollgate_usage_reports_total{verdict=\"merged\"} 2\n",
        "tollgate_meter_events_total{outcome=\"expired\"} 1\n",
        "tollgate_meter_events_total{outcome=\"unbillable\"} 1\n",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    assert!(!text.contains("outcome=\"sent\""), "{text}");
}

#[test]
fn a_dismissed_report_answers_dismissed_and_is_never_billed() {
    for b in backends() {
        dismissed_on(&b);
    }
}

fn dismissed_on(backend: &Backend) {
    let vendor = Vendor::new(backend);
    let server = vendor.start();
    let url = server.url();
    let (lid, key) = metered_license(&vendor, &url);
    let mut host = Reporter::new(lid, 1);
    host.activate(&url, &key, 1);
    let (r1, r2) = (host.next(10), host.next(20));
    assert_eq!(
        verdicts(&submit(&url, &[&r1, &r2]).1),
        [(1, "merged".into()), (2, "merged".into())]
    );
    // A backup of the host's state, restored after the host went on to seq 3.
    let mut restored = host.clone_state();
    let r3 = host.next(5);
    assert_eq!(verdicts(&submit(&url, &[&r3]).1), [(3, "merged".into())]);
    let (b3, b4) = (restored.next(700), restored.next(800));
    let want_flagged: Vec<(u64, String)> = vec![(3, "rewritten".into()), (4, "fork".into())];
    // Flagged and unbilled, as often as the restored host sends them, until the vendor acts.
    for _ in 0..2 {
        let (st, receipt) = submit(&url, &[&b3, &b4]);
        assert_eq!(st, 200, "{receipt}");
        assert_eq!(verdicts(&receipt), want_flagged);
        assert_eq!(receipt["merged_through"], 3);
        assert_eq!(totals(&vendor, lid), [(MONTH0, 35)]);
    }
    // Accepting a rewritten history is refused; it stays flagged.
    let dev = hex_string(&host.device.public_key());
    let resolve = |seq: u64, how: &str| {
        admin(
            &url,
            "POST",
            "/v1/admin/usage/resolve",
            Some(json!({"license_id": lid, "device_key": dev, "seq": seq, "resolution": how})),
        )
    };
    let (st, b) = resolve(3, "accept");
    assert_eq!((st, code(&b)), (409, 359), "{b}");
    assert_eq!(verdicts(&submit(&url, &[&b3, &b4]).1), want_flagged);

    // The vendor dismisses seq 3 only: it answers dismissed, seq 4 stays flagged.
    let (st, b) = resolve(3, "dismiss");
    assert_eq!(st, 200, "{b}");
    assert_eq!(b[0]["resolution"], "dismissed", "{b}");
    let (st, receipt) = submit(&url, &[&b3, &b4]);
    assert_eq!(st, 200, "{receipt}");
    assert_eq!(
        verdicts(&receipt),
        [(3, "dismissed".into()), (4, "fork".into())]
    );
    let (st, b) = resolve(4, "dismiss");
    assert_eq!(st, 200, "{b}");
    for _ in 0..2 {
        let (_, receipt) = submit(&url, &[&b3, &b4]);
        assert_eq!(
            verdicts(&receipt),
            [(3, "dismissed".into()), (4, "dismissed".into())]
        );
        assert_eq!(receipt["merged_through"], 3);
    }
    // Never billed, never flagged again; nothing left open to resolve.
    assert_eq!(totals(&vendor, lid), [(MONTH0, 35)]);
    let (st, usage) = admin(&url, "GET", &format!("/v1/admin/usage?license={lid}"), None);
    assert_eq!(st, 200, "{usage}");
    let flags: Vec<(u64, &str, Option<&str>)> = usage["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["seq"].as_u64().unwrap(),
                f["verdict"].as_str().unwrap(),
                f["resolution"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [
            (3, "rewritten", Some("dismissed")),
            (4, "fork", Some("dismissed"))
        ]
    );
    let (st, b) = resolve(4, "dismiss");
    assert_eq!((st, code(&b)), (404, 358), "{b}");
    // The host's own chain goes on, unaffected.
    let r4 = host.next(1);
    assert_eq!(verdicts(&submit(&url, &[&r4]).1), [(4, "merged".into())]);
    assert_eq!(totals(&vendor, lid), [(MONTH0, 36)]);
    // A report with the dismissed seq but another hash is judged on its own.
    let mut other = Reporter::new(lid, 1);
    other.seq = 2;
    other.prev = r2.hash();
    let o3 = other.next(9);
    assert_eq!(verdicts(&submit(&url, &[&o3]).1), [(3, "rewritten".into())]);
    assert_eq!(totals(&vendor, lid), [(MONTH0, 36)]);
}

#[test]
fn a_dismissed_gap_is_never_merged_and_an_accepted_report_answers_duplicate() {
    for b in backends() {
        resolutions_on(&b);
    }
}

/// The vendor's resolutions reach the host in its next receipt: a dismissed report answers
/// `dismissed` (never merged, not even once it would extend the chain, never flagged again),
/// an accepted one `duplicate`; a flagged report sent again before the vendor acts stays
/// flagged once and unbilled.
fn resolutions_on(backend: &Backend) {
    let smtp = SmtpSink::start();
    let vendor = Vendor::new(backend);
    let server = start_with_stripe_down(&vendor, &smtp);
    let url = server.url();
    let (lid, key) = issue(&url, bridge_spec(3));
    let mut host = Reporter::new(lid, 1);
    host.activate(&url, &key, 1);
    let dev = hex_string(&host.device.public_key());
    let resolve = |seq: u64, how: &str| {
        let body = json!({"license_id": lid, "device_key": dev, "seq": seq, "resolution": how});
        let (st, b) = admin(&url, "POST", "/v1/admin/usage/resolve", Some(body));
        assert_eq!(st, 200, "{b}");
    };
    let open_flags = || {
        flags(&url, lid)
            .into_iter()
            .filter(|f| f.2.is_none())
            .map(|f| (f.0, f.1))
            .collect::<Vec<_>>()
    };

    // A clone's seq 2 is merged; the host's own seq 2 and 3 are a rewrite and a fork.
    let r1 = host.next(10);
    let mut clone = host.clone_state();
    let (h2, h3) = (host.next(20), host.next(30));
    let c2 = clone.next(1);
    assert_eq!(
        verdicts(&submit(&url, &[&r1, &c2]).1),
        [(1, "merged".into()), (2, "merged".into())]
    );
    assert_eq!(totals(&vendor, lid), [(MONTH0, 11)]);
    for _ in 0..2 {
        let (st, receipt) = submit(&url, &[&h2, &h3]);
        assert_eq!(st, 200, "{receipt}");
        assert_eq!(
            verdicts(&receipt),
            [(2, "rewritten".into()), (3, "fork".into())]
        );
        assert_eq!(
            open_flags(),
            [(2, "rewritten".into()), (3, "fork".into())],
            "flagged once"
        );
    }
    assert_eq!(totals(&vendor, lid), [(MONTH0, 11)]);

    // Dismissed: the host's next submission learns it; nothing is flagged again or billed.
    resolve(2, "dismiss");
    resolve(3, "dismiss");
    for _ in 0..2 {
        let (st, receipt) = submit(&url, &[&h2, &h3]);
        assert_eq!(st, 200, "{receipt}");
        assert_eq!(
            verdicts(&receipt),
            [(2, "dismissed".into()), (3, "dismissed".into())]
        );
        assert_eq!(receipt["merged_through"], 2);
    }
    assert_eq!(open_flags(), []);
    assert_eq!(flags(&url, lid).len(), 2);
    assert_eq!(totals(&vendor, lid), [(MONTH0, 11)]);

    // A gap dismissed stays dismissed once its predecessor arrives (it would extend then).
    let c3 = clone.next(3);
    let c4 = clone.next(4);
    assert_eq!(verdicts(&submit(&url, &[&c4]).1), [(4, "gap".into())]);
    resolve(4, "dismiss");
    let (st, receipt) = submit(&url, &[&c3, &c4]);
    assert_eq!(st, 200, "{receipt}");
    assert_eq!(
        verdicts(&receipt),
        [(3, "merged".into()), (4, "dismissed".into())]
    );
    assert_eq!(receipt["merged_through"], 3);
    assert_eq!(receipt["head_hash"], hex_string(&c3.hash()));
    assert_eq!(totals(&vendor, lid), [(MONTH0, 14)]);
    assert_eq!(open_flags(), []);

    // An accepted gap: merged by the vendor; the host's resend is a duplicate.
    let mut other = Reporter::new(lid, 2);
    other.activate(&url, &key, 2);
    let _lost = other.next(100);
    let o2 = other.next(5);
    assert_eq!(verdicts(&submit(&url, &[&o2]).1), [(2, "gap".into())]);
    let dev2 = hex_string(&other.device.public_key());
    let body = json!({"license_id": lid, "device_key": dev2, "seq": 2, "resolution": "accept"});
    let (st, b) = admin(&url, "POST", "/v1/admin/usage/resolve", Some(body));
    assert_eq!(st, 200, "{b}");
    let (st, receipt) = submit(&url, &[&o2]);
    assert_eq!(st, 200, "{receipt}");
    assert_eq!(verdicts(&receipt), [(2, "duplicate".into())]);
    assert_eq!(receipt["merged_through"], 2);
    assert_eq!(totals(&vendor, lid), [(MONTH0, 19)]);

    let text = metrics(&url);
    assert!(
        text.contains("tollgate_usage_reports_total{verdict=\"dismissed\"} 5\n"),
        "{text}"
    );
}

/// The license's flags as (seq, verdict, resolution), oldest first.
fn flags(url: &str, lid: u64) -> Vec<(u64, String, Option<String>)> {
    let (st, usage) = admin(url, "GET", &format!("/v1/admin/usage?license={lid}"), None);
    assert_eq!(st, 200, "{usage}");
    usage["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["seq"].as_u64().unwrap(),
                f["verdict"].as_str().unwrap().to_owned(),
                f["resolution"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// A broker built with the sdk on `store` (a shared in-memory state: the test copies its
/// state document to make and restore a backup).
fn sdk_host(store: &tollgate_sdk::MemoryStorage, root: [u8; 32]) -> tollgate_sdk::LicenseManager {
    let config = tollgate_sdk::HostConfig::new("chariot", "4.2.0", b"chariot-salt".to_vec(), root);
    let probes = tollgate_sdk::StaticSource::from_strs(&[
        (ComponentKind::MachineId, "machine-dismiss"),
        (ComponentKind::Hostname, "broker-dismiss"),
        (ComponentKind::Mac, "02:00:00:00:00:3d"),
    ]);
    tollgate_sdk::LicenseManager::with_parts(
        config,
        Box::new(store.clone()),
        std::sync::Arc::new(tollgate_sdk::SystemClock),
        Box::new(probes),
    )
    .unwrap()
}

#[test]
fn a_restored_backup_stays_flagged_until_the_vendor_dismisses_it() {
    for b in backends() {
        restored_backup_on(&b);
    }
}

/// An sdk host restored from a backup of its state (taken after its report 1; the vendor has
/// since merged its reports 2 and 3) reports another seq 2, a rewritten history: flagged once,
/// never billed, kept and sent again until the vendor dismisses it; then the receipt answers
/// `dismissed`, the host drops the report and continues its chain from the vendor's head, so
/// its next report (seq 4) is merged. The billed totals never go down.
fn restored_backup_on(backend: &Backend) {
    use tollgate_sdk::{online::UsageVerdictName, state::STATE_DOCUMENT, Storage};
    let smtp = SmtpSink::start();
    let vendor = Vendor::new(backend);
    let server = start_with_stripe_down(&vendor, &smtp);
    let url = server.url();
    let (lid, key) = issue(&url, bridge_spec(3));
    let online = client(&url);
    let store = tollgate_sdk::MemoryStorage::new();
    let mut broker = sdk_host(&store, vendor.root());
    online.activate(&mut broker, &key).unwrap();
    let billed = || totals(&vendor, lid).iter().map(|p| p.1).sum::<u64>();

    let mut backup = Vec::new();
    for (n, units) in [10, 20, 30].into_iter().enumerate() {
        broker.record_usage(BRIDGE, units).unwrap();
        let sync = online.report_usage(&mut broker).unwrap();
        assert_eq!((sync.sent, sync.acknowledged, sync.dismissed), (1, 1, 0));
        if n == 0 {
            backup = store.load(STATE_DOCUMENT).unwrap().unwrap();
        }
    }
    assert_eq!(billed(), 60);

    // The backup is restored: the host's next report is another seq 2.
    drop(broker);
    store.store(STATE_DOCUMENT, &backup).unwrap();
    let mut broker = sdk_host(&store, vendor.root());
    broker.record_usage(BRIDGE, 5).unwrap();
    for _ in 0..2 {
        let sync = online.report_usage(&mut broker).unwrap();
        assert_eq!((sync.sent, sync.acknowledged, sync.dismissed), (1, 0, 0));
        assert_eq!(
            sync.flagged
                .iter()
                .map(|f| (f.seq, f.verdict))
                .collect::<Vec<_>>(),
            [(2, UsageVerdictName::Rewritten)]
        );
        assert_eq!(broker.usage_outbox().len(), 1, "kept until the vendor acts");
        assert_eq!(billed(), 60, "never billed, never lower");
        assert_eq!(
            flags(&url, lid),
            [(2, "rewritten".into(), None)],
            "flagged once"
        );
    }
    let seq2 = broker.usage_outbox()[0].clone();
    assert_eq!(seq2.claims().seq, 2);

    // The vendor dismisses it: the host learns it from the receipt, drops the report and
    // continues its chain from the vendor's head.
    let device_key = hex_string(&seq2.claims().device_key);
    let (st, done) = admin(
        &url,
        "POST",
        "/v1/admin/usage/resolve",
        Some(
            json!({"license_id": lid, "device_key": device_key, "seq": 2,
                    "resolution": "dismiss"}),
        ),
    );
    assert_eq!(st, 200, "{done}");
    let sync = online.report_usage(&mut broker).unwrap();
    assert_eq!((sync.sent, sync.acknowledged, sync.dismissed), (1, 0, 1));
    assert!(sync.flagged.is_empty(), "{:?}", sync.flagged);
    assert!(broker.usage_outbox().is_empty(), "dropped");
    assert_eq!(billed(), 60);
    assert_eq!(
        flags(&url, lid),
        [(2, "rewritten".into(), Some("dismissed".into()))],
        "not flagged again"
    );
    // The dismissed report sent again (a journal, another copy): dismissed, nothing stored.
    let (st, receipt) = submit(&url, &[&seq2]);
    assert_eq!(st, 200, "{receipt}");
    assert_eq!(verdicts(&receipt), [(2, "dismissed".into())]);
    assert_eq!(receipt["merged_through"], 3);
    assert_eq!(flags(&url, lid).len(), 1);
    assert_eq!(billed(), 60);

    // The host goes on from the vendor's head: its next report is seq 4, merged.
    broker.record_usage(BRIDGE, 7).unwrap();
    let sync = online.report_usage(&mut broker).unwrap();
    assert_eq!((sync.sent, sync.acknowledged, sync.dismissed), (1, 1, 0));
    assert!(sync.flagged.is_empty(), "{:?}", sync.flagged);
    assert!(broker.usage_outbox().is_empty());
    assert_eq!(billed(), 67);
    assert_eq!(flags(&url, lid).len(), 1);
    let mut merged: Vec<u64> = vendor
        .authority()
        .usage_reports(Some(lid))
        .unwrap()
        .into_iter()
        .filter(|r| r.verdict == "merged")
        .map(|r| r.seq)
        .collect();
    merged.sort_unstable();
    assert_eq!(merged, [1, 2, 3, 4]);
    let text = metrics(&url);
    assert!(
        text.contains("tollgate_usage_reports_total{verdict=\"dismissed\"} 2\n"),
        "{text}"
    );
}
