//! Online calls against a loopback service that accepts and never answers: the manager stays
//! usable meanwhile, calls can be cancelled, a closing scope ends them, and every failed call
//! leaves the status exactly as it was. Synchronised with channels; no timed assertions.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tollgate_core::{
    CertificateClaims, ComponentKind, DeploymentModel, Feature, FeatureKind, Grant, KeyCertificate,
    LicenseKey, Models, UsageLicense, UsageRequest, UsageTerms, VendorSigningKey,
};
use tollgate_sdk::online::{CallScope, CancelToken, OnlineClient, OnlineConfig};
use tollgate_sdk::{
    HostConfig, LicenseManager, LicenseState, ManualClock, MemoryStorage, SdkError, StaticSource,
    Status,
};

const T0: u64 = 1_700_000_000;
/// The longest any test waits for the other side (a failing test ends instead of hanging).
const BOUND: Duration = Duration::from_secs(60);

fn root() -> VendorSigningKey {
    VendorSigningKey::from_seed(&[10; 32])
}

fn key() -> String {
    LicenseKey::from_entropy(&[2; 15]).expose()
}

fn manager(clock: &Arc<ManualClock>) -> LicenseManager {
    let config = HostConfig::new("chariot", "4.2.0", b"salt".to_vec(), root().public_key());
    let source = StaticSource::from_strs(&[
        (ComponentKind::MachineId, "machine-a"),
        (ComponentKind::Mac, "nic-a1"),
        (ComponentKind::RootDisk, "disk-a"),
    ]);
    LicenseManager::with_parts(
        config,
        Box::new(MemoryStorage::new()),
        clock.clone(),
        Box::new(source),
    )
    .unwrap()
}

/// The vendor's usage license answering `request`.
fn answer(request: &str) -> String {
    let signer = VendorSigningKey::from_seed(&[1; 32]);
    let req = UsageRequest::from_armor(request).unwrap();
    let cert = KeyCertificate::issue(
        CertificateClaims {
            product: "chariot".into(),
            public_key: signer.public_key(),
            not_before: 0,
            not_after: None,
            issued_at: 0,
        },
        &root(),
    )
    .unwrap();
    let grant = Grant {
        license_id: 42,
        revision: 1,
        product: "chariot".into(),
        customer: "ACME".into(),
        features: vec![Feature {
            name: "mqtt-server".into(),
            kind: FeatureKind::Perpetual,
        }],
        models: Models::of(&[DeploymentModel::Online]),
        max_activations: 2,
        floating_seats: 0,
        not_before: None,
        not_after: None,
        fingerprint_threshold: 1,
        max_borrow_secs: 0,
        rollback_tolerance_secs: 3600,
        offline_refresh_secs: 0,
    };
    let terms = UsageTerms {
        grant,
        activation_id: 7,
        model: DeploymentModel::Online,
        device_key: *req.device_key(),
        request_counter: req.claims().counter,
        fingerprint: req.claims().fingerprint.clone(),
        issued_at: req.claims().created_at,
        refresh_deadline: None,
    };
    UsageLicense::issue_with_certificate(terms, &signer, &cert)
        .unwrap()
        .to_armor()
}

/// What the stub does with one connection.
enum Reply {
    /// Reports the request, then holds the connection open without answering until told (or
    /// [`BOUND`] passes), then answers it with the usage license when told `true`.
    Hang(Receiver<bool>),
    /// Answers with the usage license for the request.
    License,
    /// Refuses with 303 `SeatsExhausted`.
    Refuse,
}

/// Reads one HTTP request; returns its body.
fn read_request(conn: &mut TcpStream) -> String {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).unwrap();
        req.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&req).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .to_ascii_lowercase()
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(str::to_owned))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if body.len() >= len || n == 0 {
                return body.to_owned();
            }
        }
        if n == 0 {
            return String::new();
        }
    }
}

fn respond(conn: &mut TcpStream, status: u16, body: &str) {
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
}

fn license_body(request_body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(request_body).unwrap();
    serde_json::json!({
        "usage_license": answer(v["request"].as_str().unwrap()),
        "license_id": 42, "activation_id": 7, "revision": 1,
        "new_activation": true, "repeated": false, "refresh_deadline": null,
    })
    .to_string()
}

/// A loopback service serving `replies` one connection each; sends on `arrived` when a
/// request has been read.
fn stub(replies: Vec<Reply>, arrived: Sender<()>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for reply in replies {
            let (mut conn, _) = listener.accept().unwrap();
            let body = read_request(&mut conn);
            let _ = arrived.send(());
            match reply {
                Reply::Hang(release) => {
                    if release.recv_timeout(BOUND) == Ok(true) {
                        respond(&mut conn, 200, &license_body(&body));
                    }
                }
                Reply::License => respond(&mut conn, 200, &license_body(&body)),
                Reply::Refuse => respond(
                    &mut conn,
                    409,
                    r#"{"error":{"code":303,"name":"SeatsExhausted","message":"all 2 in use"}}"#,
                ),
            }
        }
    });
    url
}

/// One try, a timeout far beyond the tests' bound: only cancellation ends a hung call.
fn client(url: &str) -> OnlineClient {
    let mut cfg = OnlineConfig::new(url);
    cfg.attempts = 1;
    cfg.timeout = Duration::from_secs(600);
    OnlineClient::new(cfg).unwrap()
}

fn status(m: &RwLock<LicenseManager>) -> Status {
    m.read().unwrap().status()
}

#[test]
fn the_manager_answers_while_a_call_waits_and_cancelling_changes_nothing() {
    let clock = Arc::new(ManualClock::new(T0));
    let m = Arc::new(RwLock::new(manager(&clock)));
    let before = status(&m);
    assert_eq!(before.state, LicenseState::Unlicensed);
    let (arrived_tx, arrived) = mpsc::channel();
    let (release, hold) = mpsc::channel();
    let url = stub(vec![Reply::Hang(hold)], arrived_tx);
    let token = CancelToken::new();
    let (done_tx, done) = mpsc::channel();
    let call = {
        let (m, token) = (Arc::clone(&m), token.clone());
        std::thread::spawn(move || {
            let r = client(&url).activate_shared(&*m, &key(), Some(&token));
            done_tx.send(r).unwrap();
        })
    };
    arrived.recv_timeout(BOUND).unwrap();
    // The request is at the service, which does not answer: the manager is not locked.
    assert!(m.try_write().is_ok(), "no lock is held while waiting");
    assert_eq!(status(&m).state, LicenseState::Pending);
    assert!(!m.read().unwrap().has_feature("mqtt-server"));
    assert_eq!(done.try_recv().unwrap_err(), TryRecvError::Empty);

    token.cancel("stopped by the test");
    let r = done.recv_timeout(BOUND).unwrap();
    assert_eq!(
        r.unwrap_err(),
        SdkError::Cancelled {
            reason: "stopped by the test".into()
        }
    );
    assert_eq!(status(&m), before, "a cancelled call changes nothing");
    assert_eq!(m.read().unwrap().pending_request(), None);
    release.send(false).unwrap();
    call.join().unwrap();
}

#[test]
fn closing_the_scope_ends_the_call_and_waits_for_its_undo() {
    let clock = Arc::new(ManualClock::new(T0));
    let m = Arc::new(RwLock::new(manager(&clock)));
    let before = status(&m);
    let scope = Arc::new(CallScope::new());
    let (arrived_tx, arrived) = mpsc::channel();
    let (release, hold) = mpsc::channel();
    let url = stub(vec![Reply::Hang(hold)], arrived_tx);
    let call = {
        let (m, scope) = (Arc::clone(&m), Arc::clone(&scope));
        std::thread::spawn(move || {
            let call = scope.enter().unwrap();
            client(&url).activate_shared(&*m, &key(), Some(call.token()))
        })
    };
    arrived.recv_timeout(BOUND).unwrap();
    scope.close("the manager was closed");
    // `close` returned: the call has ended and undone its request.
    assert_eq!(status(&m), before);
    assert_eq!(call.join().unwrap().unwrap_err().code(), 240);
    assert_eq!(scope.enter().unwrap_err().code(), 240);
    release.send(false).unwrap();
}

#[test]
fn an_answer_to_a_superseded_request_is_not_applied() {
    let clock = Arc::new(ManualClock::new(T0));
    let m = Arc::new(RwLock::new(manager(&clock)));
    let (arrived_tx, arrived) = mpsc::channel();
    let (release, hold) = mpsc::channel();
    let url = stub(vec![Reply::Hang(hold)], arrived_tx);
    let call = {
        let m = Arc::clone(&m);
        std::thread::spawn(move || client(&url).activate_shared(&*m, &key(), None))
    };
    arrived.recv_timeout(BOUND).unwrap();
    let newer = m.write().unwrap().request_usage(&key()).unwrap();
    release.send(true).unwrap();
    assert_eq!(call.join().unwrap().unwrap_err(), SdkError::StateChanged);
    let m = m.read().unwrap();
    assert_eq!(
        m.pending_request(),
        Some(newer.as_str()),
        "the newer request stays"
    );
    assert_eq!(m.status().state, LicenseState::Pending);
}

#[test]
fn a_failed_activation_leaves_the_host_as_it_was_and_a_retry_works() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(&clock);
    let before = m.status();
    let (arrived_tx, _arrived) = mpsc::channel();
    let url = stub(
        vec![Reply::Refuse, Reply::License, Reply::Refuse],
        arrived_tx,
    );
    let c = client(&url);
    let e = c.activate(&mut m, &key()).unwrap_err();
    assert_eq!((e.code(), e.result_code()), (231, 303));
    assert_eq!(m.status(), before, "not left pending");
    assert_eq!(m.pending_request(), None);

    let active = c.activate(&mut m, &key()).unwrap();
    assert_eq!(active.state, LicenseState::Active);
    let license = m.installed_license().unwrap().to_armor();
    // A refused reactivation keeps the installed license and leaves nothing pending.
    let e = c.reactivate(&mut m).unwrap_err();
    assert_eq!(e.result_code(), 303);
    assert_eq!(m.status(), active);
    assert_eq!(m.installed_license().unwrap().to_armor(), license);
    assert!(m.has_feature("mqtt-server"));
}

#[test]
fn an_unreachable_service_leaves_the_shared_host_as_it_was() {
    let clock = Arc::new(ManualClock::new(T0));
    let m = RwLock::new(manager(&clock));
    let before = status(&m);
    // A port that was just free: the connection is refused.
    let url = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let e = client(&url)
        .activate_shared(&m, &key(), Some(&CancelToken::new()))
        .unwrap_err();
    assert_eq!(e.code(), 230, "{e:?}");
    assert_eq!(status(&m), before);
}

#[test]
fn closing_a_lease_holder_ends_its_checkout_in_flight() {
    use tollgate_sdk::fingerprint::compute;
    use tollgate_sdk::{FloatingClient, FloatingConfig, LeaseHolder};

    let config = HostConfig::new("chariot", "4.2.0", b"salt".to_vec(), root().public_key());
    let source = StaticSource::from_strs(&[(ComponentKind::MachineId, "machine-a")]);
    let fp = compute(&source, b"salt").unwrap();
    let (arrived_tx, arrived) = mpsc::channel();
    let (release, hold) = mpsc::channel();
    let url = stub(vec![Reply::Hang(hold)], arrived_tx);
    let mut fc = FloatingConfig::new(url, ["mqtt-server"]);
    // A timeout far beyond the tests' bound: only cancellation ends the hung checkout.
    fc.timeout = Duration::from_secs(600);
    let clock = Arc::new(ManualClock::new(T0));
    let client = FloatingClient::with_parts(&config, fc, &fp, clock).unwrap();
    let holder = Arc::new(LeaseHolder::new(client));
    let call = {
        let holder = Arc::clone(&holder);
        std::thread::spawn(move || holder.checkout())
    };
    arrived.recv_timeout(BOUND).unwrap();
    holder.close();
    // `close` returned: the checkout has ended, cancelled, holding no lease.
    assert_eq!(
        call.join().unwrap().unwrap_err(),
        SdkError::Cancelled {
            reason: "the floating client was closed".into()
        }
    );
    assert_eq!(holder.lease_id(), 0);
    assert!(!holder.has_feature("mqtt-server"));
    assert_eq!(holder.checkout().unwrap_err().code(), 240);
    release.send(false).unwrap();
}

#[test]
fn a_marketplace_start_waits_unlocked_and_cancelling_changes_nothing() {
    use tollgate_sdk::marketplace::{Cloud, MarketplaceClient, MarketplaceConfig};

    let clock = Arc::new(ManualClock::new(T0));
    let m = Arc::new(RwLock::new(manager(&clock)));
    let before = status(&m);
    // The "metadata endpoint" reads the IMDSv2 token request and never answers.
    let (arrived_tx, arrived) = mpsc::channel();
    let (release, hold) = mpsc::channel();
    let metadata = stub(vec![Reply::Hang(hold)], arrived_tx);
    let mut config = MarketplaceConfig::new(Cloud::Aws);
    config.metadata_url = metadata;
    config.metadata_timeout = Duration::from_secs(600);
    let client = MarketplaceClient::new(config, OnlineConfig::new("http://127.0.0.1:9")).unwrap();
    let token = CancelToken::new();
    let call = {
        let (m, token) = (Arc::clone(&m), token.clone());
        std::thread::spawn(move || client.start_shared(&*m, Some(&token)))
    };
    arrived.recv_timeout(BOUND).unwrap();
    // The identity is being read: the manager is not locked, the request is pending.
    assert!(m.try_write().is_ok(), "no lock is held while waiting");
    assert_eq!(status(&m).state, LicenseState::Pending);
    token.cancel("stopped by the test");
    assert_eq!(
        call.join().unwrap().unwrap_err(),
        SdkError::Cancelled {
            reason: "stopped by the test".into()
        }
    );
    assert_eq!(status(&m), before, "a cancelled start changes nothing");
    assert_eq!(m.read().unwrap().pending_request(), None);
    release.send(false).unwrap();
}
