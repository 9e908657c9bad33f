//! The support console: its page and script are served, and the key lookup it uses finds a
//! license (admin token required; a mistyped key and an unknown key are typed refusals).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;

#[test]
fn the_console_is_served_and_the_key_lookup_finds_the_license() {
    let vendor = Vendor::new(&Backend::Sqlite);
    vendor.root();
    let server = vendor.start();
    let url = server.url();
    let mut page = http().get(&format!("{url}/console/")).call().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(
        page.headers()["content-security-policy"],
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    );
    assert!(page
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("<tollgate-console"));
    let mut js = http()
        .get(&format!("{url}/console/console.js"))
        .call()
        .unwrap();
    assert!(js
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("customElements.define(\"tollgate-console\""));

    let (id, key) = issue(&url, chariot_spec(2));
    let (status, body) = call(
        &url,
        "POST",
        "/v1/admin/lookup",
        Some(json!({ "key": key })),
        None,
    );
    assert_eq!((status, code(&body)), (401, 401));
    let (status, body) = admin(
        &url,
        "POST",
        "/v1/admin/lookup",
        Some(json!({ "key": format!(" {key}\n") })),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id);
    assert_eq!(body["customer"], "ACME Corp");
    assert_eq!(body["activations"], json!([]));
    assert!(!body.to_string().contains(&key));

    let mut typo = key.clone().into_bytes();
    typo[3] = if typo[3] == b'A' { b'B' } else { b'A' };
    let (status, body) = admin(
        &url,
        "POST",
        "/v1/admin/lookup",
        Some(json!({ "key": String::from_utf8(typo).unwrap() })),
    );
    assert_eq!((status, code(&body)), (422, 118), "{body}");
    let other = tollgate_core::LicenseKey::from_entropy(&[9; 15]).expose();
    let (status, body) = admin(
        &url,
        "POST",
        "/v1/admin/lookup",
        Some(json!({ "key": other })),
    );
    assert_eq!(code(&body), 300, "{status} {body}");
    let (status, _) = admin(&url, "POST", "/v1/admin/lookup", Some(json!({ "key": 5 })));
    assert_eq!(status, 400);
}
