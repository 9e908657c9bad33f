//! `tollgate host activate / reactivate / deactivate --server URL` against the online service
//! on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/run.rs"]
mod run;

use run::{ok, tollgate, vendor_with_host_config};
use serde_json::Value;

fn host<'a>(state: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--json",
        "host",
        "--state",
        state,
        "--no-probes",
        "--allow-override",
        "--component",
        "machine-id=m-1",
        "--component",
        "mac=aa:01",
        "--component",
        "hostname=b1",
    ];
    v.extend_from_slice(rest);
    v
}

#[test]
fn host_verbs_over_the_online_service() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    vendor_with_host_config(dir);
    let issued = ok(
        dir,
        &[
            "--json",
            "vendor",
            "issue",
            "--product",
            "chariot",
            "--customer",
            "ACME",
            "--feature",
            "mqtt-server",
            "--models",
            "online,offline",
            "--activations",
            "1",
        ],
    );
    let key = issued["key"].as_str().unwrap().to_owned();

    let config = tollgate_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("vendor"),
        ..Default::default()
    };
    let server = tollgate_server::Server::open(config)
        .unwrap()
        .start()
        .unwrap();
    let url = server.url();
    let state = dir.join("state");
    let state = state.to_str().unwrap();

    let s = ok(
        dir,
        &host(state, &["activate", "--server", &url, "--key", &key]),
    );
    assert_eq!(s["state"], "active");
    assert_eq!(s["license"]["deployment_model"], "online");
    assert!(tollgate(dir, &host(state, &["check", "mqtt-server"]))
        .status
        .success());
    let s = ok(dir, &host(state, &["reactivate", "--server", &url]));
    assert_eq!(s["state"], "active");
    let d = ok(dir, &host(state, &["deactivate", "--server", &url]));
    assert_eq!(d["delivered"], true);
    assert!(d["deactivation_code"]
        .as_str()
        .unwrap()
        .starts_with("TGDC:"));
    let list = ok(dir, &["--json", "vendor", "activations", "1"]);
    assert!(list.to_string().contains("deactivated"), "{list}");

    // An unknown key: the vendor's refusal (exit 5) reported as the service's own code.
    let other = tollgate_core::LicenseKey::from_entropy(&[5; 15]).expose();
    let out = tollgate(
        dir,
        &host(state, &["activate", "--server", &url, "--key", &other]),
    );
    assert_eq!(out.status.code(), Some(5));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], 300);
    assert_eq!(err["error"]["kind"], "UnknownKey");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("code 300"));
    // The service down: an I/O failure (exit 6), code 230; a deactivation still removes
    // the license here and shows the code to deliver later.
    let s = ok(
        dir,
        &host(state, &["activate", "--server", &url, "--key", &key]),
    );
    assert_eq!(s["state"], "active");
    server.stop();
    let out = tollgate(dir, &host(state, &["deactivate", "--server", &url]));
    assert_eq!(out.status.code(), Some(6));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert!(
        err["error"]["message"].as_str().unwrap().contains("TGDC:"),
        "{err}"
    );
    assert!(!tollgate(dir, &host(state, &["check", "mqtt-server"]))
        .status
        .success());
    let out = tollgate(
        dir,
        &host(state, &["activate", "--server", &url, "--key", &key]),
    );
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], 230);
}
