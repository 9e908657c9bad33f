//! `tollgate host marketplace --cloud aws --server URL --metadata-url URL` against the online
//! service on loopback, with the same metadata setup as the service's marketplace test:
//! Amazon's `amazon-ec2-metadata-mock` serving an identity document signed with the TEST
//! certificate the service trusts as AWS's (issue 17).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../server/tests/support/imds.rs"]
mod imds;

#[path = "support/run.rs"]
mod run;

use imds::{document, fixture, free_port, Imds};
use run::{fails, ok, tollgate, vendor_with_host_config};
use serde_json::Value;
use tollgate_server::marketplace::{MarketplaceConfig, ProductMapping};

const AWS_CODE: &str = "4i20ezfza3p7xx2kt2g8weu2u";

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
        "hostname=b1",
        "--component",
        "cloud-instance=i-0aaaaaaaaaaaaaaa1",
    ];
    v.extend_from_slice(rest);
    v
}

#[test]
fn host_marketplace_start_over_the_metadata_mock() {
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
            "AWS Marketplace listing",
            "--feature",
            "mqtt-server",
            "--models",
            "online",
            "--activations",
            "2",
        ],
    );
    let license = issued["license_id"].as_u64().unwrap();

    let config = tollgate_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("vendor"),
        marketplace: Some(MarketplaceConfig {
            aws_certificates: vec![fixture("aws-cert.pem")],
            products: vec![ProductMapping {
                cloud: "aws".into(),
                code: AWS_CODE.into(),
                license_id: license,
            }],
            ..MarketplaceConfig::default()
        }),
        ..Default::default()
    };
    let server = tollgate_server::Server::open(config)
        .unwrap()
        .start()
        .unwrap();
    let url = server.url();
    let state = dir.join("state");
    let state = state.to_str().unwrap();
    let closed = format!("http://127.0.0.1:{}", free_port());

    // No metadata service: an I/O failure (exit 6), 260 MetadataUnreachable, nothing licensed.
    let (exit, code) = fails(
        dir,
        &host(
            state,
            &[
                "marketplace",
                "--cloud",
                "aws",
                "--server",
                &url,
                "--metadata-url",
                &closed,
            ],
        ),
    );
    assert_eq!((exit, code), (Some(6), Value::from(260)));

    // A document signed by someone else: the service's refusal 381 (exit 5).
    let forged = Imds::signed(
        &document("i-0aaaaaaaaaaaaaaa1", &[AWS_CODE]),
        "forger-key.pem",
    );
    let (exit, code) = fails(
        dir,
        &host(
            state,
            &[
                "marketplace",
                "--cloud",
                "aws",
                "--server",
                &url,
                "--metadata-url",
                &forged.url,
            ],
        ),
    );
    assert_eq!((exit, code), (Some(5), Value::from(381)));
    drop(forged);
    assert!(!tollgate(dir, &host(state, &["check", "mqtt-server"]))
        .status
        .success());

    // The genuine instance: licensed as a marketplace instance; the next start refreshes the
    // same seat.
    let imds = Imds::signed(&document("i-0aaaaaaaaaaaaaaa1", &[AWS_CODE]), "aws-key.pem");
    let start = [
        "marketplace",
        "--cloud",
        "aws",
        "--server",
        &url,
        "--metadata-url",
        &imds.url,
    ];
    let s = ok(dir, &host(state, &start));
    assert_eq!(s["state"], "active");
    assert_eq!(s["license"]["deployment_model"], "marketplace");
    assert_eq!(s["license"]["license_id"], license);
    let seat = s["license"]["activation_id"].clone();
    assert!(tollgate(dir, &host(state, &["check", "mqtt-server"]))
        .status
        .success());
    let again = ok(dir, &host(state, &start));
    assert_eq!(again["license"]["activation_id"], seat);
    let list = ok(
        dir,
        &["--json", "vendor", "activations", &license.to_string()],
    );
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    // Not a cloud it knows: a usage error (exit 2) before anything is read.
    let out = tollgate(
        dir,
        &host(state, &["marketplace", "--cloud", "gcp", "--server", &url]),
    );
    assert_eq!(out.status.code(), Some(2));
    server.stop();

    // The vendor's sweep: nothing is gone now; once the refresh deadline (7 days) has passed,
    // the instance's seat is freed, once.
    let sweep = ["--json", "vendor", "marketplace-sweep"];
    assert_eq!(ok(dir, &sweep), serde_json::json!({"freed": []}));
    let later = [
        "--json",
        "--now",
        "2100-01-01",
        "vendor",
        "marketplace-sweep",
    ];
    assert_eq!(ok(dir, &later), serde_json::json!({ "freed": [seat] }));
    assert_eq!(ok(dir, &later), serde_json::json!({"freed": []}));
}
