//! Cloud marketplace instances come licensed (issue 17), against real components: Amazon's
//! `amazon-ec2-metadata-mock` (built by `scripts/setup.sh` into `target/tools/bin`) serving an
//! instance identity document signed by a TEST certificate that the service is configured to
//! trust as AWS's, and a small Azure stand-in serving attested data (PKCS#7, made with
//! `openssl smime`) in Azure's documented format. The test certificates are the fixtures in
//! `tests/fixtures/marketplace/` (`regen.sh` regenerates them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/imds.rs"]
mod imds;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::*;
use imds::{document, fixture, free_port, Imds};
use serde_json::{json, Value};
use tollgate_core::ComponentKind;
use tollgate_sdk::marketplace::{Cloud, MarketplaceClient, MarketplaceConfig};
use tollgate_sdk::online::{BackgroundRefresh, RefreshEvent, RefreshPolicy};
use tollgate_sdk::{
    Clock, DirStorage, HostConfig, LicenseManager, LicenseState, ManualClock, SdkError,
    StaticSource, SystemClock,
};
use tollgate_server::marketplace::{MarketplaceConfig as ServiceMarket, ProductMapping};
use tollgate_server::Running;

const AWS_CODE: &str = "4i20ezfza3p7xx2kt2g8weu2u";
const AZURE_CODE: &str = "acme/chariot/standard";

/// A vendor on `backend` with a marketplace listing license of `seats` seats (issued through a
/// first, stopped service).
fn vendor_with_listing(backend: &Backend, seats: u32) -> (Vendor, u64) {
    let vendor = Vendor::new(backend);
    let boot = vendor.start();
    let license = listing(&boot.url(), seats);
    boot.stop();
    (vendor, license)
}

/// [`vendor_with_listing`] and the marketplace service started over it, trusting the test AWS
/// certificate.
fn marketplace_service(backend: &Backend, seats: u32) -> (Vendor, u64, Running) {
    let (vendor, license) = vendor_with_listing(backend, seats);
    let service = start_service(&vendor, license, "aws-cert.pem");
    (vendor, license, service)
}

/// The service for `vendor` trusting the fixture certificates, with the product codes
/// mapped to `license`.
fn start_service(vendor: &Vendor, license: u64, aws_cert: &str) -> Running {
    start_service_with(vendor, license, aws_cert, |_| {})
}

/// [`start_service`] with a further change to the configuration.
fn start_service_with(
    vendor: &Vendor,
    license: u64,
    aws_cert: &str,
    tweak: impl FnOnce(&mut tollgate_server::Config),
) -> Running {
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
        tweak(c);
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
    broker_clocked(dir, n, root, Arc::new(SystemClock))
}

/// [`broker`] reading the time from `clock`.
fn broker_clocked(dir: &Path, n: u32, root: [u8; 32], clock: Arc<dyn Clock>) -> LicenseManager {
    let config = HostConfig::new("chariot", "4.2.0", b"chariot-salt".to_vec(), root);
    let probes = StaticSource::from_strs(&[
        (ComponentKind::MachineId, &format!("machine-{n}")),
        (ComponentKind::Hostname, &format!("broker-{n}")),
        (ComponentKind::CloudInstance, &format!("cloud-{n}")),
    ]);
    LicenseManager::with_parts(
        config,
        Box::new(DirStorage::open(dir).unwrap()),
        clock,
        Box::new(probes),
    )
    .unwrap()
}

fn market(cloud: Cloud, metadata: &str, service: &str) -> MarketplaceClient {
    let mut m = MarketplaceConfig::new(cloud);
    m.metadata_url = metadata.into();
    MarketplaceClient::new(m, quick(service)).unwrap()
}

/// The refresher's next event (within a bound), which must be a refresh.
fn next_refreshed(rx: &std::sync::mpsc::Receiver<RefreshEvent>) -> RefreshEvent {
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(e @ RefreshEvent::Refreshed { .. }) => e,
        Ok(other) => panic!("not a refresh: {other:?}"),
        Err(_) => panic!("no refresh event"),
    }
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
    let (vendor, license, service) = marketplace_service(backend, 2);
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
    let (vendor, license, service) = marketplace_service(&Backend::Sqlite, 2);
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

fn count(actions: &[String], action: &str) -> usize {
    actions.iter().filter(|a| *a == action).count()
}

/// Issue 17: a gone instance's seat is freed by the service's own sweep (no marketplace call
/// needed), and the marketplace background refresh keeps an instance licensed: as its
/// refresh deadline approaches (the host's controllable clock) it refreshes by itself, and
/// when its seat was freed it activates the instance again.
#[test]
fn aws_background_refresh_and_the_services_sweep() {
    let (vendor, license) = vendor_with_listing(&Backend::Sqlite, 2);
    let imds = Imds::signed(&document("i-0aaaaaaaaaaaaaaa1", &[AWS_CODE]), "aws-key.pem");
    let state = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(tollgate_server::store::unix_now()));
    let mut host = broker_clocked(state.path(), 1, vendor.root(), clock.clone());

    // A service with 2-second refresh deadlines and a sweep every second.
    let short = start_service_with(&vendor, license, "aws-cert.pem", |c| {
        c.online_refresh_secs = 2;
        c.marketplace.as_mut().unwrap().sweep_interval_secs = 1;
    });
    let first = market(Cloud::Aws, &imds.url, &short.url())
        .start(&mut host)
        .unwrap();
    let first = first.license.unwrap();
    let first_deadline = host
        .installed_license()
        .unwrap()
        .terms()
        .refresh_deadline
        .unwrap();
    assert_eq!(active_seats(&vendor, license), 1);
    // The instance goes quiet: the service frees its seat by itself.
    assert!(
        wait_until(Duration::from_secs(30), || active_seats(&vendor, license)
            == 0),
        "the sweep did not free the gone instance's seat"
    );
    let actions = audit_actions(&short.url(), license);
    assert_eq!(
        count(&actions, "marketplace.instance_gone"),
        1,
        "{actions:?}"
    );
    assert_eq!(count(&actions, "marketplace.activated"), 1, "{actions:?}");
    short.stop();

    // The instance is back (7-day deadlines again). Its clock nears the old deadline: the
    // refresher refreshes, learns the seat is gone (323) and activates the instance afresh.
    let service = start_service(&vendor, license, "aws-cert.pem");
    let url = service.url();
    let host = Arc::new(std::sync::RwLock::new(host));
    let policy = RefreshPolicy {
        fraction: 0.5,
        min_interval: Duration::from_millis(100),
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_millis(200),
        idle_check: Duration::from_secs(1),
    };
    clock.set(first_deadline - 1);
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    let refresher = BackgroundRefresh::start_marketplace(
        Arc::clone(&host),
        market(Cloud::Aws, &imds.url, &url),
        policy,
        clock.clone(),
        move |e| {
            let _ = tx.send(e.clone());
        },
    )
    .unwrap();
    let RefreshEvent::Refreshed {
        refresh_deadline: Some(second_deadline),
        revision: 1,
    } = next_refreshed(&rx)
    else {
        panic!("no deadline or another revision")
    };
    refresher.stop();
    let second = host.read().unwrap().status().license.unwrap();
    assert_ne!(second.activation_id, first.activation_id);
    assert_eq!(second.deployment_model, "marketplace");
    assert_eq!(host.read().unwrap().status().state, LicenseState::Active);
    assert_eq!(active_seats(&vendor, license), 1);
    let actions = audit_actions(&url, license);
    assert_eq!(count(&actions, "marketplace.activated"), 2, "{actions:?}");
    assert_eq!(
        count(&actions, "marketplace.instance_gone"),
        1,
        "{actions:?}"
    );

    // Its clock nears the new deadline: refreshed on the same seat.
    clock.set(second_deadline - 2);
    let refresher = BackgroundRefresh::start_marketplace(
        Arc::clone(&host),
        market(Cloud::Aws, &imds.url, &url),
        policy,
        clock.clone(),
        move |e| {
            let _ = tx2.send(e.clone());
        },
    )
    .unwrap();
    let RefreshEvent::Refreshed {
        refresh_deadline: Some(third_deadline),
        ..
    } = next_refreshed(&rx)
    else {
        panic!("no deadline")
    };
    refresher.stop();
    assert!(third_deadline >= second_deadline);
    let third = host.read().unwrap().status().license.unwrap();
    assert_eq!(third.activation_id, second.activation_id);
    assert_eq!(host.read().unwrap().status().state, LicenseState::Active);
    assert_eq!(active_seats(&vendor, license), 1);
    let actions = audit_actions(&url, license);
    assert_eq!(count(&actions, "marketplace.activated"), 2, "{actions:?}");
    service.stop();
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
    let (vendor, license, service) = marketplace_service(backend, 3);
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
    let (vendor, license, service) = marketplace_service(&Backend::Sqlite, 2);
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

/// POSTs a marketplace activation with `identity` for `request`: (status, body).
fn post_activate(url: &str, request: &str, identity: Value) -> (u16, Value) {
    let body = json!({"request": request, "identity": identity}).to_string();
    let mut r = http()
        .post(&format!("{url}/v1/marketplace/activate"))
        .header("content-type", "application/json")
        .send(&body)
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap(),
    )
}

#[test]
fn aws_pkcs7_document_is_an_alternative_to_the_signature() {
    let (vendor, license, service) = marketplace_service(&Backend::Sqlite, 2);
    let url = service.url();
    let state = tempfile::tempdir().unwrap();
    let mut host = broker(state.path(), 1, vendor.root());
    let doc = document("i-0ddddddddddddddd4", &[AWS_CODE]).to_string();

    // Signed as PKCS#7 by a key that is not the configured certificate's: forged.
    let request = host.request_marketplace().unwrap();
    let forged = pkcs7(doc.as_bytes(), "forger-key.pem", "forger-cert.pem", true);
    let (status, body) = post_activate(&url, &request, json!({"cloud": "aws", "document": forged}));
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!(381)),
        "{body}"
    );
    // Not base64 at all: a malformed identity.
    let (status, body) = post_activate(
        &url,
        &request,
        json!({"cloud": "aws", "document": "not base64!"}),
    );
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!(387)),
        "{body}"
    );
    assert_eq!(active_seats(&vendor, license), 0);

    // The genuine PKCS#7 (with or without signed attributes) is accepted like the signature.
    for attributes in [true, false] {
        let request = host.request_marketplace().unwrap();
        let genuine = pkcs7(doc.as_bytes(), "aws-key.pem", "aws-cert.pem", attributes);
        let (status, body) =
            post_activate(&url, &request, json!({"cloud": "aws", "document": genuine}));
        assert_eq!(status, 200, "{body}");
        let s = host
            .install(body["usage_license"].as_str().unwrap())
            .unwrap();
        assert_eq!(s.license.unwrap().deployment_model, "marketplace");
        assert!(host.has_feature("mqtt-server"));
    }
    assert_eq!(active_seats(&vendor, license), 1);
    let actions = audit_actions(&url, license);
    assert_eq!(count(&actions, "marketplace.activated"), 1, "{actions:?}");
}

/// An AWS IMDSv2 stand-in serving only `/latest/dynamic/instance-identity/rsa2048` (which
/// the metadata mock does not serve): `pkcs7` wrapped at 64 columns, as AWS serves it.
fn aws_rsa2048_standin(pkcs7: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let wrapped = pkcs7
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let _ = serve_rsa2048(stream, &wrapped);
        }
    });
    url
}

fn serve_rsa2048(mut stream: TcpStream, body: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut token = false;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if h.to_ascii_lowercase().trim() == "x-aws-ec2-metadata-token: t0ken" {
            token = true;
        }
    }
    let (status, body) = if line.starts_with("PUT /latest/api/token ") {
        ("200 OK", "t0ken")
    } else if line.starts_with("GET /latest/dynamic/instance-identity/rsa2048 ") && token {
        ("200 OK", body)
    } else {
        ("401 Unauthorized", "")
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[test]
fn aws_pkcs7_identity_read_by_the_sdk() {
    let (vendor, license, service) = marketplace_service(&Backend::Sqlite, 2);
    let url = service.url();
    let state = tempfile::tempdir().unwrap();
    let mut host = broker(state.path(), 1, vendor.root());
    let doc = document("i-0eeeeeeeeeeeeeee5", &[AWS_CODE]).to_string();
    let pkcs7_client = |md: &str| {
        let mut m = MarketplaceConfig::new(Cloud::Aws);
        m.metadata_url = md.into();
        m.aws_pkcs7 = true;
        MarketplaceClient::new(m, quick(&url)).unwrap()
    };

    let forged = aws_rsa2048_standin(pkcs7(
        doc.as_bytes(),
        "forger-key.pem",
        "forger-cert.pem",
        true,
    ));
    let e = pkcs7_client(&forged).start(&mut host).unwrap_err();
    assert_eq!(refused(&e), 381, "{e}");
    assert!(host.installed_license().is_none());

    let genuine = aws_rsa2048_standin(pkcs7(doc.as_bytes(), "aws-key.pem", "aws-cert.pem", true));
    let client = pkcs7_client(&genuine);
    let s = client.start(&mut host).unwrap();
    let lic = s.license.unwrap();
    assert_eq!(lic.deployment_model, "marketplace");
    assert!(host.has_feature("mqtt-server"));
    let again = client.start(&mut host).unwrap();
    assert_eq!(again.license.unwrap().activation_id, lic.activation_id);
    assert_eq!(active_seats(&vendor, license), 1);
}
