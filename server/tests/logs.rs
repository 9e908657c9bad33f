//! The service's logs are JSON lines, one per request, and never hold a secret: no license
//! key, no admin token (right or wrong), no artifact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn logs_are_json_lines_without_secrets() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .init();

    let vendor = Vendor::new(&Backend::Sqlite);
    let server = vendor.start();
    let url = server.url();
    let (id, key) = issue(&url, chariot_spec(1));
    let mut broker = host(1, vendor.root());
    let online = client(&url);
    online.activate(&mut broker, &key).unwrap();
    online.reactivate(&mut broker).unwrap();
    let code = online.deactivate(&mut broker).unwrap().code;
    let wrong = "wrong-token-that-must-not-be-logged";
    let (st, _) = call(&url, "GET", "/v1/admin/licenses", None, Some(wrong));
    assert_eq!(st, 401);
    let (st, _) = admin(
        &url,
        "POST",
        &format!("/v1/admin/licenses/{id}/upgrade"),
        Some(json!({"max_activations": 2})),
    );
    assert_eq!(st, 200);
    server.stop();

    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let mut requests = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["message"] == "request" {
            requests += 1;
            assert!(
                v["endpoint"].is_string() && v["status"].is_u64() && v["latency_us"].is_u64(),
                "{line}"
            );
        }
    }
    assert!(requests >= 6, "one line per request:\n{text}");
    assert!(text.contains("\"outcome\":\"Unauthorized\""));
    assert!(text.contains("activation created"));
    for secret in [
        ADMIN_TOKEN,
        wrong,
        key.as_str(),
        &key.replace('-', ""),
        code.as_str(),
    ] {
        assert!(!text.contains(secret), "a secret reached the log");
    }
    for prefix in ["TGRQ:", "TGUL:", "TGDC:", "TGLC:"] {
        assert!(
            !text.contains(prefix),
            "an artifact ({prefix}) reached the log"
        );
    }
}
