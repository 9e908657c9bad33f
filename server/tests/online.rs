//! End to end against the real service on loopback: every flow and every failure, through the
//! SDK's online client, once per ledger backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::*;
use serde_json::json;
use tollgate_core::armor::{self, ArtifactType};
use tollgate_core::Error as CoreError;
use tollgate_sdk::online::OnlineClient;
use tollgate_sdk::{LicenseState, SdkError};
use tollgate_server::Secret;

#[test]
fn activate_reactivate_after_upgrade_and_deactivate() {
    for b in backends() {
        let vendor = Vendor::new(&b);
        let server = vendor.start();
        let url = server.url();
        let (license_id, key) = issue(&url, chariot_spec(1));
        let online = client(&url);

        // Activate: the broker is licensed.
        let mut broker = host(1, vendor.root());
        let status = online.activate(&mut broker, &key).unwrap();
        assert_eq!(status.state, LicenseState::Active, "{}", b.name());
        assert!(broker.has_feature("mqtt-server"));
        assert!(!broker.has_feature("snowflake"));
        let info = status.license.unwrap();
        assert_eq!(info.deployment_model, "online");
        assert!(info.refresh_deadline.is_some());
        assert_eq!(active_seats(&vendor, license_id), 1);

        // The vendor sells IoT Bridge for Snowflake; Reactivate pulls it without a restart.
        let (st, body) = admin(
            &url,
            "POST",
            &format!("/v1/admin/licenses/{license_id}/upgrade"),
            Some(json!({"add_features": [
                {"name": "snowflake", "kind": "metered", "quota": 1000, "period": "month"}
            ]})),
        );
        assert_eq!((st, body["revision"].as_u64()), (200, Some(2)), "{body}");
        let status = online.reactivate(&mut broker).unwrap();
        assert_eq!(status.license.as_ref().unwrap().revision, 2);
        assert_eq!(
            status.license.as_ref().unwrap().activation_id,
            info.activation_id,
            "the same activation"
        );
        assert!(broker.has_feature("snowflake"));
        assert_eq!(
            active_seats(&vendor, license_id),
            1,
            "a refresh takes no seat"
        );

        // A second broker finds the only seat taken.
        let mut second = host(2, vendor.root());
        match online.activate(&mut second, &key) {
            Err(SdkError::ServiceRefused {
                code: 303, name, ..
            }) => {
                assert_eq!(name, "SeatsExhausted")
            }
            other => panic!("{other:?}"),
        }

        // Deactivate frees it, and the second broker activates.
        let d = online.deactivate(&mut broker).unwrap();
        assert!(!d.already_freed && d.code.starts_with("TGDC:"));
        assert!(!broker.has_feature("mqtt-server"));
        assert_eq!(active_seats(&vendor, license_id), 0);
        // Delivering the same code again is harmless.
        assert!(online.send_deactivation(&d.code).unwrap().already_freed);
        assert_eq!(
            online.activate(&mut second, &key).unwrap().state,
            LicenseState::Active
        );
        assert_eq!(active_seats(&vendor, license_id), 1);

        // The audit log tells the story, attributed to the service and the admin API.
        let (st, log) = admin(
            &url,
            "GET",
            &format!("/v1/admin/audit?license_id={license_id}"),
            None,
        );
        assert_eq!(st, 200);
        let actions: Vec<&str> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        for a in [
            "license.issued",
            "activation.created",
            "license.upgraded",
            "activation.refreshed",
            "activation.deactivated",
        ] {
            assert!(actions.contains(&a), "{a} in {actions:?}");
        }
        assert!(server.state().metrics.count("activate", "ok") >= 2);
        server.stop();
    }
}

#[test]
fn offline_fulfilment_and_deactivation_over_http() {
    for b in backends() {
        let vendor = Vendor::new(&b);
        let server = vendor.start();
        let url = server.url();
        let (license_id, key) = issue(&url, chariot_spec(1));
        let online = client(&url);
        let mut broker = host(3, vendor.root());
        // The operator pastes the usage request into the vendor's portal.
        let request = broker.request_usage(&key).unwrap();
        let answer = online
            .post_usage_request("/v1/offline/fulfil", &request)
            .unwrap();
        assert_eq!(answer.refresh_deadline, None);
        let status = broker.install(&answer.usage_license).unwrap();
        assert_eq!(status.license.unwrap().deployment_model, "offline");
        // Pasting the same request again returns the same usage license and no new seat.
        let again = online
            .post_usage_request("/v1/offline/fulfil", &request)
            .unwrap();
        assert_eq!(again.usage_license, answer.usage_license);
        assert_eq!(active_seats(&vendor, license_id), 1);
        // An offline deactivation code pasted later frees the seat.
        let code = broker.deactivate().unwrap();
        let (st, body) = call(
            &url,
            "POST",
            "/v1/deactivate",
            Some(json!({"code": code})),
            None,
        );
        assert_eq!((st, body["license_id"].as_u64()), (200, Some(license_id)));
        let (st, body) = call(
            &url,
            "POST",
            "/v1/deactivate",
            Some(json!({"code": code})),
            None,
        );
        assert_eq!((st, code_of(&body)), (409, 306), "a replay is refused");
        assert_eq!(active_seats(&vendor, license_id), 0);
    }
}

fn code_of(v: &serde_json::Value) -> u64 {
    code(v)
}

#[test]
fn admin_api_needs_the_token() {
    for b in backends() {
        let vendor = Vendor::new(&b);
        let server = vendor.start();
        let url = server.url();
        for (token, what) in [
            (None, "no token"),
            (Some("wrong-token-0123456789"), "wrong"),
        ] {
            for (method, path) in [
                ("GET", "/v1/admin/licenses"),
                ("POST", "/v1/admin/licenses"),
                ("GET", "/v1/admin/audit"),
                ("GET", "/v1/admin/licenses/1"),
            ] {
                let (st, body) = call(&url, method, path, Some(chariot_spec(1)), token);
                assert_eq!((st, code(&body)), (401, 401), "{what} {method} {path}");
            }
        }
        assert!(vendor.authority().list_licenses().unwrap().is_empty());

        let (id, key) = issue(&url, chariot_spec(2));
        assert_eq!(key.len(), 29, "a license key, shown once");
        let (st, list) = admin(&url, "GET", "/v1/admin/licenses", None);
        assert_eq!((st, list[0]["id"].as_u64()), (200, Some(id)));
        assert_eq!(list[0]["features"][1]["kind"], "subscription");
        assert!(
            !list.to_string().contains(&key),
            "the key is never stored or listed"
        );

        // Restore frees a seat lost with its host; the record shows it.
        let mut broker = host(4, vendor.root());
        let st = client(&url).activate(&mut broker, &key).unwrap();
        let aid = st.license.unwrap().activation_id;
        let path = format!("/v1/admin/licenses/{id}/activations/{aid}/restore");
        let (st, body) = admin(
            &url,
            "POST",
            &path,
            Some(json!({"reason": "VM destroyed", "operator": "support-desk"})),
        );
        assert_eq!(st, 200, "{body}");
        let (st, body) = admin(
            &url,
            "POST",
            &path,
            Some(json!({"reason": "again", "operator": "x"})),
        );
        assert_eq!((st, code(&body)), (409, 306));
        let (st, rec) = admin(&url, "GET", &format!("/v1/admin/licenses/{id}"), None);
        assert_eq!(st, 200);
        assert_eq!(rec["activations"][0]["status"], "restored");
        assert_eq!(rec["active_activations"], 0);
        let (st, body) = admin(&url, "GET", "/v1/admin/licenses/999", None);
        assert_eq!((st, code(&body)), (404, 304));
        let (st, body) = admin(&url, "GET", "/v1/admin/licenses/abc", None);
        assert_eq!((st, code(&body)), (400, 400));
        let (st, body) = admin(&url, "GET", "/v1/admin/audit?limit=many", None);
        assert_eq!((st, code(&body)), (400, 400));
        let (st, body) = admin(
            &url,
            "POST",
            "/v1/admin/licenses",
            Some(json!({"product": "chariot", "customer": "x", "max_activations": 0})),
        );
        assert_eq!((st, code(&body)), (422, 316));
        let (st, body) = admin(&url, "POST", "/v1/admin/licenses", Some(json!({"nope": 1})));
        assert_eq!((st, code(&body)), (400, 400));
        // An admin API without a configured token refuses everything.
        server.stop();
        let server = vendor.start_with(|c| c.admin_token = None);
        let (st, body) = admin(&server.url(), "GET", "/v1/admin/licenses", None);
        assert_eq!((st, code(&body)), (401, 401));
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disabled"));
    }
}

#[test]
fn unknown_key_and_the_rate_limit() {
    for b in backends() {
        let vendor = Vendor::new(&b);
        let server = vendor.start_with(|c| {
            c.rate_limit.burst = 3;
            c.rate_limit.per_minute = 1;
        });
        let url = server.url();
        let (_, _key) = issue(&url, chariot_spec(1));
        let online = client(&url);
        // A well-formed key the vendor never issued.
        let stranger = tollgate_core::LicenseKey::from_entropy(&[7; 15]).expose();
        for _ in 0..3 {
            let mut broker = host(5, vendor.root());
            match online.activate(&mut broker, &stranger) {
                Err(SdkError::ServiceRefused { code: 300, .. }) => {}
                other => panic!("{other:?}"),
            }
        }
        // The address has used its failed attempts: 429 with Retry-After, even for a
        // request that would succeed; the SDK retries, then reports it.
        let mut broker = host(6, vendor.root());
        match online.activate(&mut broker, &stranger) {
            Err(SdkError::RateLimited { retry_after_secs }) => {
                assert!((1..=60).contains(&retry_after_secs))
            }
            other => panic!("{other:?}"),
        }
        let (st, body) = call(
            &url,
            "POST",
            "/v1/activate",
            Some(json!({"request": "x"})),
            None,
        );
        assert_eq!((st, code(&body)), (429, 429));
        assert!(server
            .state()
            .metrics
            .render()
            .contains("tollgate_rate_limited_total"));
        // Health and metrics stay reachable.
        let (st, health) = call(&url, "GET", "/healthz", None, None);
        assert_eq!((st, health["backend"].as_str()), (200, Some(b.name())));
    }
}

#[test]
fn a_freed_activation_cannot_be_refreshed() {
    for b in backends() {
        let vendor = Vendor::new(&b);
        let server = vendor.start();
        let url = server.url();
        let (id, key) = issue(&url, chariot_spec(1));
        let online = client(&url);
        let mut broker = host(7, vendor.root());
        let aid = online
            .activate(&mut broker, &key)
            .unwrap()
            .license
            .unwrap()
            .activation_id;
        vendor
            .authority()
            .restore(id, aid, "customer moved the seat", "support", 1_800_000_000)
            .unwrap();
        match online.reactivate(&mut broker) {
            Err(SdkError::ServiceRefused {
                code: 323, name, ..
            }) => {
                assert_eq!(name, "NoActiveActivation")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(active_seats(&vendor, id), 0, "a refresh never takes a seat");
        // The installed license keeps working until its refresh deadline.
        assert!(broker.has_feature("mqtt-server"));
    }
}

#[test]
fn server_down_is_a_typed_error_after_retries() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut broker = host(8, [9; 32]);
    let mut cfg = quick(&url);
    cfg.attempts = 3;
    cfg.backoff = Duration::from_millis(100);
    let started = std::time::Instant::now();
    let err = OnlineClient::new(cfg)
        .unwrap()
        .activate(
            &mut broker,
            &tollgate_core::LicenseKey::from_entropy(&[1; 15]).expose(),
        )
        .unwrap_err();
    assert!(
        matches!(err, SdkError::ServiceUnreachable { .. }),
        "{err:?}"
    );
    assert_eq!((err.code(), err.name()), (230, "ServiceUnreachable"));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "retried with backoff (100 + 200 ms)"
    );
    // A failed activation changes nothing on the host (issue 13): no request is left pending.
    assert_eq!(broker.status().state, LicenseState::Unlicensed);
    assert_eq!(broker.pending_request(), None);
    assert!(OnlineClient::new(tollgate_sdk::online::OnlineConfig::new("ftp://x")).is_err());
}

#[test]
fn server_restarted_in_the_middle_of_an_activation() {
    for b in backends() {
        let vendor = Vendor::new(&b);
        let server = vendor.start();
        let url = server.url();
        let addr = server.addr();
        let (id, key) = issue(&url, chariot_spec(1));
        // The service goes down just as the broker starts activating …
        server.stop();
        let mut cfg = quick(&url);
        cfg.attempts = 20;
        cfg.backoff = Duration::from_millis(100);
        cfg.max_backoff = Duration::from_millis(300);
        let online = OnlineClient::new(cfg).unwrap();
        let keys = vendor.root();
        let worker = std::thread::spawn(move || {
            let mut broker = host(9, keys);
            let st = online.activate(&mut broker, &key).map(|s| s.state);
            (st, broker)
        });
        // … and comes back (a new process would open the same ledger the same way).
        std::thread::sleep(Duration::from_millis(600));
        let server = vendor.restart_on(addr);
        let (state, mut broker) = worker.join().unwrap();
        assert_eq!(state.unwrap(), LicenseState::Active, "{}", b.name());
        assert_eq!(active_seats(&vendor, id), 1);
        // After another restart, the next step of the flow works as well.
        server.stop();
        let server = vendor.restart_on(addr);
        let online = client(&server.url());
        assert_eq!(
            online.reactivate(&mut broker).unwrap().state,
            LicenseState::Active
        );
        online.deactivate(&mut broker).unwrap();
        assert_eq!(active_seats(&vendor, id), 0);
    }
}

/// A proxy in front of the service that alters each usage license on its way back with
/// `alter`, as a compromised network path would.
fn tampering_proxy(upstream: String, alter: fn(&str) -> String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(8) {
            let mut conn = conn.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let body = loop {
                let n = conn.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break (head.to_owned(), body.to_owned());
                    }
                }
                if n == 0 {
                    break (String::new(), String::new());
                }
            };
            let path = body.0.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let mut resp = http()
                .post(format!("{upstream}{path}"))
                .header("content-type", "application/json")
                .send(body.1)
                .unwrap();
            let status = resp.status().as_u16();
            let text = resp.body_mut().read_to_string().unwrap();
            let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if let Some(ul) = v["usage_license"].as_str() {
                v["usage_license"] = alter(ul).into();
            }
            let out = v.to_string();
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{out}",
                out.len()
            );
        }
    });
    format!("http://{addr}")
}

/// Flips one character of the armored text: the checksum catches it.
fn flip_char(ul: &str) -> String {
    let mut b = ul.as_bytes().to_vec();
    let i = b.len() / 2;
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

/// Flips one bit of the signed terms (byte 20: the grant's license id, past the header; the
/// second half of the bytes is the embedded key certificate) and re-armors them with a valid
/// checksum: only the signature catches it.
fn flip_signed_byte(ul: &str) -> String {
    let mut bytes = armor::decode(ArtifactType::UsageLicense, ul, 1 << 16).unwrap();
    let i = 20;
    bytes[i] ^= 0x01;
    armor::encode(ArtifactType::UsageLicense, &bytes)
}

#[test]
fn a_tampered_answer_is_refused_with_the_core_error() {
    let vendor = Vendor::new(&Backend::Sqlite);
    let server = vendor.start();
    let (_, key) = issue(&server.url(), chariot_spec(2));
    for (alter, expected) in [
        (flip_char as fn(&str) -> String, CoreError::ArmorChecksum),
        (flip_signed_byte, CoreError::BadSignature),
    ] {
        let proxy = tampering_proxy(server.url(), alter);
        let mut broker = host(10, vendor.root());
        let err = client(&proxy).activate(&mut broker, &key).unwrap_err();
        assert_eq!(err.core(), Some(expected), "{err:?}");
        assert!(!broker.has_feature("mqtt-server"));
        assert_eq!(
            broker.status().state,
            LicenseState::Unlicensed,
            "nothing installed, nothing left pending"
        );
        // A retry through the genuine service installs (the device key was kept, so the retry
        // is the same device to the service: no second seat).
        client(&server.url()).activate(&mut broker, &key).unwrap();
        assert!(broker.has_feature("mqtt-server"));
        client(&server.url()).deactivate(&mut broker).unwrap();
    }
}

#[test]
fn malformed_bodies_and_unknown_routes_get_json_errors() {
    let vendor = Vendor::new(&Backend::Sqlite);
    let server = vendor.start();
    let url = server.url();
    let (st, body) = call(&url, "POST", "/v1/activate", Some(json!({"req": 1})), None);
    assert_eq!((st, code(&body)), (400, 400));
    let (st, body) = call(
        &url,
        "POST",
        "/v1/activate",
        Some(json!({"request": "TGRQ:AAAA"})),
        None,
    );
    assert_eq!(st, 422, "{body}");
    assert!((100..=120).contains(&code(&body)));
    let (st, body) = call(&url, "GET", "/v1/nothing", None, None);
    assert_eq!((st, code(&body)), (404, 404));
    let big = "x".repeat(100 * 1024);
    let (st, body) = call(
        &url,
        "POST",
        "/v1/activate",
        Some(json!({ "request": big })),
        None,
    );
    assert_eq!((st, code(&body)), (413, 413));
    let (st, keys) = call(&url, "GET", "/v1/keys", None, None);
    assert_eq!((st, keys[0]["status"].as_str()), (200, Some("active")));
}

/// With `metrics_token` set, `/metrics` needs it as a bearer token: without it 401, with a
/// wrong one 401, with it 200 and the Prometheus text. `/healthz` stays open.
#[test]
fn metrics_behind_a_token() {
    const METRICS_TOKEN: &str = "metrics-token-0123456789";
    let vendor = Vendor::new(&Backend::Sqlite);
    let server = vendor.start_with(|c| c.metrics_token = Some(Secret::new(METRICS_TOKEN)));
    let url = server.url();
    let (st, body) = call(&url, "GET", "/metrics", None, None);
    assert_eq!((st, code(&body)), (401, 401));
    assert_eq!(
        body["error"]["message"],
        "a metrics bearer token is required"
    );
    let (st, body) = call(
        &url,
        "GET",
        "/metrics",
        None,
        Some("wrong-token-0123456789"),
    );
    assert_eq!((st, code(&body)), (401, 401));
    let mut resp = http()
        .get(format!("{url}/metrics"))
        .header("authorization", format!("Bearer {METRICS_TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.body_mut().read_to_string().unwrap();
    assert!(text.contains("# TYPE"), "{text}");
    assert_eq!(call(&url, "GET", "/healthz", None, None).0, 200);
    // Without the setting, /metrics is open as before.
    let open = Vendor::new(&Backend::Sqlite).start();
    assert_eq!(call(&open.url(), "GET", "/metrics", None, None).0, 200);
}

/// Issue 12 §3: one address holding more idle and slow-header connections than the caps
/// cannot stop `/healthz` or a real activation from another address; connections over the
/// per-address cap are closed at once, idle and slow-header ones after their timeouts.
#[cfg(target_os = "linux")]
#[test]
fn hostile_connections_do_not_starve_the_server() {
    use tollgate_service_kit::testing::{closed_by_server, connect_from};
    let vendor = Vendor::new(&Backend::Sqlite);
    let server = vendor.start_with(|c| {
        c.connections = tollgate_server::config::Connections {
            max_connections: 16,
            max_per_address: 8,
            header_read_timeout_secs: 2,
            idle_timeout_secs: 2,
        }
    });
    let url = server.url();
    let addr = server.addr();
    let (_, key) = issue(&url, chariot_spec(1));
    // The attacker, from 127.0.0.2: 4 idle connections (not a byte sent), 4 slow-header ones,
    // then 12 more idle ones: 20 in all, over both caps.
    let mut idle: Vec<_> = (0..4).map(|_| connect_from([127, 0, 0, 2], addr)).collect();
    let mut slow: Vec<_> = (0..4).map(|_| connect_from([127, 0, 0, 2], addr)).collect();
    for s in &mut slow {
        s.write_all(b"POST /v1/activate HTTP/1.1\r\nhost: x\r\n")
            .unwrap();
    }
    let mut extra: Vec<_> = (0..12)
        .map(|_| connect_from([127, 0, 0, 2], addr))
        .collect();
    // Over the per-address cap: closed at once.
    for s in &mut extra {
        assert!(closed_by_server(s), "a connection over the cap stayed open");
    }
    // Another address is served meanwhile: the health check and a real activation.
    let (st, health) = call(&url, "GET", "/healthz", None, None);
    assert_eq!(st, 200, "{health}");
    let mut broker = host(1, vendor.root());
    let status = client(&url).activate(&mut broker, &key).unwrap();
    assert_eq!(status.state, LicenseState::Active);
    assert!(broker.has_feature("mqtt-server"));
    // The idle and slow-header connections are dropped by the idle or header-read timeout.
    for s in idle.iter_mut().chain(slow.iter_mut()) {
        assert!(
            closed_by_server(s),
            "an idle or slow-header connection stayed open"
        );
    }
}
