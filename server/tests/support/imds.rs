//! A running `amazon-ec2-metadata-mock` (built by `scripts/setup.sh` into
//! `target/tools/bin`) serving an instance identity document signed with a TEST key of
//! `tests/fixtures/marketplace/`: shared by the service's and the CLI's marketplace tests
//! (included with `#[path]`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{json, Value};

/// A file of the marketplace fixtures (test certificates and keys).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/marketplace")
        .join(name)
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Waits until `f` holds, up to `limit`.
fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// base64 RSA-SHA256 (PKCS#1 v1.5) signature of `data` with the fixture key `key`, as AWS
/// serves `/latest/dynamic/instance-identity/signature`.
pub fn aws_sign(key: &str, data: &[u8]) -> String {
    let pem = std::fs::read_to_string(fixture(key)).unwrap();
    let sk = SigningKey::<Sha256>::new(rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap());
    base64::engine::general_purpose::STANDARD.encode(sk.sign(data).to_bytes())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn mock_binary() -> PathBuf {
    let p = std::env::var_os("TOLLGATE_EC2_METADATA_MOCK").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin/ec2-metadata-mock"),
        PathBuf::from,
    );
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (it builds amazon-ec2-metadata-mock v1.13.0)",
        p.display()
    );
    p
}

/// A running `ec2-metadata-mock` (IMDSv2 only) on a loopback port; killed on drop.
pub struct Imds {
    child: Child,
    /// The mock's base URL.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Imds {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An instance identity document of `instance` with the marketplace product `codes`.
pub fn document(instance: &str, codes: &[&str]) -> Value {
    json!({
        "accountId": "0123456789",
        "imageId": "ami-0b69ea66ff7391e80",
        "availabilityZone": "us-east-1f",
        "ramdiskId": null,
        "kernelId": null,
        "devpayProductCodes": null,
        "marketplaceProductCodes": codes,
        "version": "2017-09-30",
        "privateIp": "10.0.7.10",
        "billingProducts": null,
        "instanceId": instance,
        "pendingTime": "2019-10-31T07:02:24Z",
        "architecture": "x86_64",
        "instanceType": "m4.xlarge",
        "region": "us-east-1"
    })
}

impl Imds {
    /// The mock serving `doc` with `signature`.
    pub fn start(doc: &Value, signature: &str) -> Imds {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("aemm-config.json");
        let body = json!({
            "dynamic": {"values": {
                "instance-identity-document": doc,
                "instance-identity-signature": signature
            }}
        });
        std::fs::write(&cfg, body.to_string()).unwrap();
        let port = free_port();
        let child = Command::new(mock_binary())
            .args(["-n", "127.0.0.1", "-p", &port.to_string(), "-I", "-c"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let imds = Imds {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let up = wait_until(Duration::from_secs(20), || imds.token().is_some());
        assert!(up, "ec2-metadata-mock did not start on {}", imds.url);
        imds
    }

    /// An IMDSv2 token, once the mock answers.
    pub fn token(&self) -> Option<String> {
        let mut r = http()
            .put(&format!("{}/latest/api/token", self.url))
            .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
            .send_empty()
            .ok()?;
        (r.status() == 200).then(|| r.body_mut().read_to_string().unwrap())
    }

    /// GETs `path` with a token.
    pub fn get(&self, path: &str) -> (u16, String) {
        let token = self.token().unwrap();
        let mut r = http()
            .get(&format!("{}{path}", self.url))
            .header("X-aws-ec2-metadata-token", &token)
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }

    /// The mock serving `doc` signed with fixture key `key`: it is started once to learn the
    /// exact bytes it serves (its own JSON layout), which are then signed, and started again
    /// with that signature.
    pub fn signed(doc: &Value, key: &str) -> Imds {
        let probe = Imds::start(doc, "unsigned");
        let (status, bytes) = probe.get("/latest/dynamic/instance-identity/document");
        assert_eq!(status, 200);
        drop(probe);
        let imds = Imds::start(doc, &aws_sign(key, bytes.as_bytes()));
        let (_, again) = imds.get("/latest/dynamic/instance-identity/document");
        assert_eq!(again, bytes, "the mock serves the same bytes on restart");
        imds
    }
}
