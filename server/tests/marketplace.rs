//! Cloud marketplace instances come licensed (issue 17), against real components: Amazon's
//! `amazon-ec2-metadata-mock` (built by `scripts/setup.sh` into `target/tools/bin`) serving an
//! instance identity document signed by a TEST certificate that the service is configured to
//! trust as AWS's, and a small Azure stand-in serving attested data (PKCS#7, made with
//! `openssl smime`) in Azure's documented format. The test certificates are the fixtures in
//! `tests/fixtures/marketplace/` (`regen.sh` regenerates them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::*;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{json, Value};
use tollgate_core::ComponentKind;
use tollgate_sdk::marketplace::{Cloud, MarketplaceClient, MarketplaceConfig};
use tollgate_sdk::{DirStorage, HostConfig, LicenseManager, SdkError, StaticSource, SystemClock};
use tollgate_server::marketplace::{MarketplaceConfig as ServiceMarket, ProductMapping};
use tollgate_server::Running;

const AWS_CODE: &str = "4i20ezfza3p7xx2kt2g8weu2u";
const AZURE_CODE: &str = "acme/chariot/standard";

fn fixture(name: &str) -> PathBuf {
    crate_file("../tests/fixtures/marketplace").join(name)
}

/// base64 RSA-SHA256 (PKCS#1 v1.5) signature of `data` with the fixture key `key`, as AWS
/// serves `/latest/dynamic/instance-identity/signature`.
fn aws_sign(key: &str, data: &[u8]) -> String {
    let pem = std::fs::read_to_string(fixture(key)).unwrap();
    let sk = SigningKey::<Sha256>::new(rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap());
    base64::engine::general_purpose::STANDARD.encode(sk.sign(data).to_bytes())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mock_binary() -> PathBuf {
    let p = std::env::var_os("TOLLGATE_EC2_METADATA_MOCK").map_or_else(
        || crate_file("../target/tools/bin/ec2-metadata-mock"),
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
struct Imds {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Imds {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn document(instance: &str, codes: &[&str]) -> Value {
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
    fn start(doc: &Value, signature: &str) -> Imds {
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

    fn token(&self) -> Option<String> {
        let mut r = http()
            .put(&format!("{}/latest/api/token", self.url))
            .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
            .send_empty()
            .ok()?;
        (r.status() == 200).then(|| r.body_mut().read_to_string().unwrap())
    }

    fn get(&self, path: &str) -> (u16, String) {
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
    fn signed(doc: &Value, key: &str) -> Imds {
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

/// The service for `vendor` trusting the fixture certificates, with the product codes
/// mapped to `license`.
fn start_service(vendor: &Vendor, license: u64, aws_cert: &str) -> Running {
    vendor.start_with(|c| {
        c.marketplace = Some(ServiceMarket {
            aws_certificates: vec![fixture(aws_cert)],
            azure_certificates: vec![fixture("azure-cert.pem")],
            products: vec![
                ProductMapping {
                    cloud: "aws".into(),
                    code: AWS_CODE.into(),
                    license_id: license,
                },
                ProductMapping {
                    cloud: "azure".into(),
                    code: AZURE_CODE.into(),
                    license_id: license,
                },
            ],
            ..ServiceMarket::default()
        });
    })
}

/// The vendor's marketplace listing: a license (online model) with `seats` instances.
fn listing(url: &str, seats: u32) -> u64 {
    let mut spec = chariot_spec(seats);
    spec["customer"] = json!("AWS Marketplace listing");
    spec["models"] = json!(["online"]);
    issue(url, spec).0
}

/// A broker whose state lives in `dir` (so that it can be copied).
fn broker(dir: &Path, n: u32, root: [u8; 32]) -> LicenseManager {
    let config = HostConfig::new("chariot", "4.2.0", b"chariot-salt".to_vec(), root);
    let probes = StaticSource::from_strs(&[
        (ComponentKind::MachineId, &format!("machine-{n}")),
        (ComponentKind::Hostname, &format!("broker-{n}")),
        (ComponentKind::CloudInstance, &format!("cloud-{n}")),
    ]);
    LicenseManager::with_parts(
        config,
        Box::new(DirStorage::open(dir).unwrap()),
        Arc::new(SystemClock),
        Box::new(probes),
    )
    .unwrap()
}

fn market(cloud: Cloud, metadata: &str, service: &str) -> MarketplaceClient {
    let mut m = MarketplaceConfig::new(cloud);
    m.metadata_url = metadata.into();
    MarketplaceClient::new(m, quick(service)).unwrap()
}

fn refused(e: &SdkError) -> u32 {
    match e {
        SdkError::ServiceRefused { code, .. } => *code,
        other => panic!("not a service refusal: {other:?}"),
    }
}

fn audit_actions(url: &str, license: u64) -> Vec<String> {
    let (status, body) = admin(
        url,
        "GET",
        &format!("/v1/admin/audit?license_id={license}"),
        None,
    );
    assert_eq!(status, 200);
    body.as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn aws_instance_comes_licensed_and_refreshes_on_its_seat() {
    for backend in backends() {
        eprintln!("backend {}", backend.name());
        instance_comes_licensed(&backend);
    }
}

fn instance_comes_licensed(backend: &Backend) {
    let vendor = Vendor::new(backend);
    let boot = vendor.start();
    let license = listing(&boot.url(), 2);
    boot.stop();
    let service = start_service(&vendor, license, "aws-cert.pem");
    let url = service.url();
    let imds = Imds::signed(&document("i-0aaaaaaaaaaaaaaa1", &[AWS_CODE]), "aws-key.pem");
    let state = tempfile::tempdir().unwrap();
    let mut host = broker(state.path(), 1, vendor.root());
    let client = market(Cloud::Aws, &imds.url, &url);

    let status = client.start(&mut host).unwrap();
    let lic = status.license.as_ref().unwrap();
    assert_eq!(lic.license_id, license);
    assert_eq!(lic.deployment_model, "marketplace");
    assert!(host.has_feature("mqtt-server"));
    let first = lic.activation_id;
    assert_eq!(active_seats(&vendor, license), 1);

    // The next start refreshes the same seat.
    let again = client.start(&mut host).unwrap();
    assert_eq!(again.license.as_ref().unwrap().activation_id, first);
    assert_eq!(active_seats(&vendor, license), 1);
    let actions = audit_actions(&url, license);
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "marketplace.activated")
            .count(),
        1,
        "{actions:?}"
    );

    // The instance is gone: once its refresh deadline has passed its seat is freed.
    let far = 4_000_000_000;
    assert_eq!(
        vendor.authority().sweep_marketplace(far).unwrap(),
        vec![first]
    );
    assert_eq!(active_seats(&vendor, license), 0);
    assert!(audit_actions(&url, license).contains(&"marketplace.instance_gone".to_owned()));
    assert_eq!(
        vendor.authority().sweep_marketplace(far).unwrap(),
        Vec::<u64>::new()
    );
}

#[test]
fn aws_forged_foreign_and_unreachable_license_nothing() {
    let vendor = Vendor::new(&Backend::Sqlite);
    let boot = vendor.start();
    let license = listing(&boot.url(), 2);
    boot.stop();
    let service = start_service(&vendor, license, "aws-cert.pem");
    let url = service.url();
    let state = tempfile::tempdir().unwrap();
    let mut host = broker(state.path(), 1, vendor.root());

    // Signed by a key that is not the configured cloud certificate's.
    let forged = Imds::signed(
        &document("i-0aaaaaaaaaaaaaaa1", &[AWS_CODE]),
        "forger-key.pem",
    );
    let e = market(Cloud::Aws, &forged.url, &url)
        .start(&mut host)
        .unwrap_err();
    assert_eq!(refused(&e), 381, "{e}");
    assert_eq!(
        (e.code(), e.result_code(), e.result_name()),
        (231, 381, "IdentityForged")
    );
    drop(forged);

    // Genuinely signed, but another vendor's product.
    let other = Imds::signed(
        &document("i-0aaaaaaaaaaaaaaa1", &["someoneelsesproduct00000"]),
        "aws-key.pem",
    );
    let e = market(Cloud::Aws, &other.url, &url)
        .start(&mut host)
        .unwrap_err();
    assert_eq!(refused(&e), 382, "{e}");
    drop(other);

    // No product code at all (a plain EC2 instance).
    let plain = Imds::signed(&document("i-0aaaaaaaaaaaaaaa1", &[]), "aws-key.pem");
    let e = market(Cloud::Aws, &plain.url, &url)
        .start(&mut host)
        .unwrap_err();
    assert_eq!(refused(&e), 382, "{e}");
    drop(plain);

    // No metadata service.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let e = market(Cloud::Aws, &closed, &url)
        .start(&mut host)
        .unwrap_err();
    assert_eq!(e.code(), 260, "{e}");
    assert_eq!(e.name(), "MetadataUnreachable");

    assert!(host.installed_license().is_none());
    assert!(!host.has_feature("mqtt-server"));
    assert_eq!(active_seats(&vendor, license), 0);
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn aws_state_copied_to_another_instance_does_not_stay_licensed() {
    for backend in backends() {
        eprintln!("backend {}", backend.name());
        copied_state(&backend);
    }
}

fn copied_state(backend: &Backend) {
    let vendor = Vendor::new(backend);
    let boot = vendor.start();
    let license = listing(&boot.url(), 3);
    boot.stop();
    let service = start_service(&vendor, license, "aws-cert.pem");
    let url = service.url();

    let a_state = tempfile::tempdir().unwrap();
    let a_seat = {
        let imds = Imds::signed(&document("i-0aaaaaaaaaaaaaaa1", &[AWS_CODE]), "aws-key.pem");
        let mut a = broker(a_state.path(), 1, vendor.root());
        let s = market(Cloud::Aws, &imds.url, &url).start(&mut a).unwrap();
        s.license.unwrap().activation_id
    };

    // Instance B boots from a copy of A's state directory.
    let b_state = tempfile::tempdir().unwrap();
    copy_dir(a_state.path(), b_state.path());
    let imds_b = Imds::signed(&document("i-0bbbbbbbbbbbbbbb2", &[AWS_CODE]), "aws-key.pem");
    let mut b = broker(b_state.path(), 1, vendor.root());
    assert!(
        b.installed_license().is_some(),
        "the copied state holds A's license"
    );
    // The copied device key asking for A's seat from instance B is refused…
    let direct = market(Cloud::Aws, &imds_b.url, &url)
        .refresh(&mut b)
        .unwrap_err();
    assert_eq!(refused(&direct), 385, "{direct}");
    // …and the start drops A's license and activates B on its own seat (here through the
    // lock-free entry point the bindings use).
    let b = std::sync::RwLock::new(b);
    let s = market(Cloud::Aws, &imds_b.url, &url)
        .start_shared(&b, None)
        .unwrap();
    let b_seat = s.license.unwrap().activation_id;
    assert_ne!(b_seat, a_seat);
    assert_eq!(active_seats(&vendor, license), 2);
    assert!(audit_actions(&url, license).contains(&"marketplace.instance_mismatch".to_owned()));
    drop(imds_b);

    // A copy landing on an instance that is not this vendor's product keeps nothing.
    let c_state = tempfile::tempdir().unwrap();
    copy_dir(a_state.path(), c_state.path());
    let imds_c = Imds::signed(&document("i-0ccccccccccccccc3", &[]), "aws-key.pem");
    let c = std::sync::RwLock::new(broker(c_state.path(), 1, vendor.root()));
    let e = market(Cloud::Aws, &imds_c.url, &url)
        .start_shared(&c, None)
        .unwrap_err();
    assert_eq!(refused(&e), 382, "{e}");
    let c = c.into_inner().unwrap();
    assert!(c.installed_license().is_none());
    assert!(!c.has_feature("mqtt-server"));
    assert_eq!(active_seats(&vendor, license), 2);
}

// --- Azure -----------------------------------------------------------------------------------

/// How the Azure stand-in misbehaves.
#[derive(Clone, Copy, PartialEq)]
enum AzureMode {
    Genuine,
    /// Answers with a fixed nonce instead of the one asked for (a replayed document).
    FixedNonce,
    /// A document created an hour ago.
    Old,
    /// Signed with the forger's key.
    Forged,
    /// Genuine, signed without signed attributes (the signature is over the content itself).
    NoAttributes,
}

fn azure_time(t: u64) -> String {
    // MM/dd/yy HH:mm:ss -0000, as Azure writes it.
    let days = t / 86_400;
    let secs = t % 86_400;
    let (y, m, d) = civil(i64::try_from(days).unwrap());
    format!(
        "{m:02}/{d:02}/{:02} {:02}:{:02}:{:02} -0000",
        y % 100,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Civil date of a day count since 1970-01-01.
fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn pkcs7(content: &[u8], key: &str, cert: &str, attributes: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("doc.json");
    std::fs::write(&input, content).unwrap();
    let out = Command::new("openssl")
        .args([
            "smime",
            "-sign",
            "-binary",
            "-nodetach",
            "-md",
            "sha256",
            "-outform",
            "DER",
        ])
        .arg("-signer")
        .arg(fixture(cert))
        .arg("-inkey")
        .arg(fixture(key))
        .arg("-in")
        .arg(&input)
        .args(if attributes {
            &[][..]
        } else {
            &["-noattr"][..]
        })
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    base64::engine::general_purpose::STANDARD.encode(out.stdout)
}

/// Serves `/metadata/attested/document` on loopback (requires `Metadata: true`), for
/// `vm_id`, until the test process ends.
fn azure_standin(vm_id: &'static str, mode: AzureMode) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let _ = serve_azure(stream, vm_id, mode);
        }
    });
    url
}

fn serve_azure(mut stream: TcpStream, vm_id: &str, mode: AzureMode) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split(' ').nth(1).unwrap_or("").to_owned();
    let mut metadata = false;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if h.to_ascii_lowercase().trim() == "metadata: true" {
            metadata = true;
        }
    }
    let nonce = target
        .split_once("nonce=")
        .map(|(_, n)| n.split('&').next().unwrap_or("").to_owned());
    let (status, body) = match (
        target.starts_with("/metadata/attested/document?"),
        metadata,
        nonce,
    ) {
        (true, true, Some(nonce)) => {
            let now = tollgate_server::store::unix_now();
            let created = if mode == AzureMode::Old {
                now - 3600
            } else {
                now
            };
            let nonce = if mode == AzureMode::FixedNonce {
                "0000000000".to_owned()
            } else {
                nonce
            };
            let doc = json!({
                "licenseType": "",
                "nonce": nonce,
                "plan": {"name": "standard", "product": "chariot", "publisher": "acme"},
                "sku": "standard",
                "subscriptionId": "8d10da13-8125-4ba9-a717-bf7490507b3d",
                "timeStamp": {"createdOn": azure_time(created), "expiresOn": azure_time(created + 6 * 3600)},
                "vmId": vm_id
            });
            let (key, cert) = if mode == AzureMode::Forged {
                ("forger-key.pem", "forger-cert.pem")
            } else {
                ("azure-key.pem", "azure-cert.pem")
            };
            let sig = pkcs7(
                doc.to_string().as_bytes(),
                key,
                cert,
                mode != AzureMode::NoAttributes,
            );
            (
                "200 OK",
                json!({"encoding": "pkcs7", "signature": sig}).to_string(),
            )
        }
        _ => ("400 Bad Request", "{\"error\":\"bad request\"}".to_owned()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[test]
fn azure_attested_instance_comes_licensed_and_bad_documents_are_refused() {
    let vendor = Vendor::new(&Backend::Sqlite);
    let boot = vendor.start();
    let license = listing(&boot.url(), 2);
    boot.stop();
    let service = start_service(&vendor, license, "aws-cert.pem");
    let url = service.url();
    let state = tempfile::tempdir().unwrap();
    let mut host = broker(state.path(), 1, vendor.root());

    for (mode, code) in [
        (AzureMode::Forged, 381),
        (AzureMode::FixedNonce, 384),
        (AzureMode::Old, 383),
    ] {
        let md = azure_standin("0b6d5b0e-0000-4000-8000-00000000000a", mode);
        let e = market(Cloud::Azure, &md, &url)
            .start(&mut host)
            .unwrap_err();
        assert_eq!(refused(&e), code, "{e}");
        assert!(host.installed_license().is_none());
    }
    assert_eq!(active_seats(&vendor, license), 0);

    let bare = azure_standin(
        "0b6d5b0e-0000-4000-8000-00000000000a",
        AzureMode::NoAttributes,
    );
    let s = market(Cloud::Azure, &bare, &url).start(&mut host).unwrap();
    let seat = s.license.unwrap().activation_id;
    assert!(host.has_feature("mqtt-server"));

    let md = azure_standin("0b6d5b0e-0000-4000-8000-00000000000a", AzureMode::Genuine);
    let client = market(Cloud::Azure, &md, &url);
    let again = client.start(&mut host).unwrap();
    assert_eq!(again.license.unwrap().activation_id, seat);
    assert_eq!(active_seats(&vendor, license), 1);
}
