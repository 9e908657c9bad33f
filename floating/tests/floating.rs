//! The floating license server end to end, on loopback: seats, a broker killed without
//! release, restarts, borrowing, tampered lease tokens, outages, the admin view and the clock.
//! Leases are short (seconds) so that the suite stays fast; no assertion here is about speed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::*;
use serde_json::Value;
use tempfile::TempDir;
use tollgate_core::{
    armor, ArtifactType, Component, ComponentKind, DeviceKey, Error as CoreError, Feature,
    FeatureKind, Fingerprint, Lease, LeaseClaims,
};
use tollgate_floating::{FloatingConfig, FloatingRunning, FloatingServer};
use tollgate_protocol::floating as protocol;
use tollgate_sdk::{
    BearerToken, Clock, FloatingClient, FloatingConfig as ClientConfig, HostConfig, LeaseEvent,
    ManualClock, SdkError, SystemClock,
};

/// A vendor, a floating license, and a floating server's state directory activated with it.
struct World {
    _vendor: TempDir,
    _dir: TempDir,
    host: HostConfig,
    host_file: PathBuf,
    cfg: FloatingConfig,
}

impl World {
    fn new(seats: u32, max_borrow_secs: u32, ttl: u64, cull: u64) -> Self {
        let (vendor, mut authority, root) = vendor();
        let mut spec = floating_spec(seats);
        spec.features = vec![
            Feature {
                name: "mqtt-server".into(),
                kind: FeatureKind::Perpetual,
            },
            Feature {
                name: "support".into(),
                kind: FeatureKind::Subscription {
                    expires_at: now() + 365 * 86_400,
                },
            },
        ];
        spec.max_borrow_secs = max_borrow_secs;
        let issued = authority.issue(spec, now()).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let (host, host_file) = host_config(dir.path(), root);
        let cfg = FloatingConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            state_dir: dir.path().join("state"),
            host_config: Some(host_file.clone()),
            components: vec![
                "operator=floating-server-1".into(),
                "workload=floating-pod-1".into(),
                "cloud-instance=i-floating-1".into(),
            ],
            probes: false,
            lease_ttl_secs: ttl,
            cull_interval_secs: cull,
            flush_interval_ms: 200,
            admin_token: Some(tollgate_service_kit::Secret::new(ADMIN_TOKEN)),
            ..FloatingConfig::default()
        };
        // The server's activation: the offline round trip, fulfilled for the floating model.
        std::fs::create_dir_all(&cfg.state_dir).unwrap();
        activate(
            &mut authority,
            cfg.host().unwrap(),
            &cfg.state_dir,
            &issued.key.expose(),
        );
        World {
            _vendor: vendor,
            _dir: dir,
            host,
            host_file,
            cfg,
        }
    }

    fn start_on(&self, listener: TcpListener, clock: Arc<dyn Clock>) -> FloatingRunning {
        FloatingServer::open_with_clock(self.cfg.clone(), clock)
            .unwrap()
            .start_on(listener)
            .unwrap()
    }

    fn start(&self) -> FloatingRunning {
        self.start_on(
            TcpListener::bind("127.0.0.1:0").unwrap(),
            Arc::new(SystemClock),
        )
    }

    fn broker(&self, url: &str, name: &str, features: &[&str]) -> FloatingClient {
        self.broker_with(url, name, features, |_| {})
    }

    fn broker_with(
        &self,
        url: &str,
        name: &str,
        features: &[&str],
        tweak: impl FnOnce(&mut ClientConfig),
    ) -> FloatingClient {
        let fp = Fingerprint::from_components(vec![Component::derive(
            ComponentKind::Operator,
            format!("host-of-{name}").as_bytes(),
            SALT,
        )])
        .unwrap();
        let mut cfg = ClientConfig::new(url, features.iter().copied());
        cfg.instance = name.into();
        cfg.client_name = name.into();
        cfg.retry_initial = Duration::from_millis(200);
        cfg.retry_max = Duration::from_millis(500);
        tweak(&mut cfg);
        FloatingClient::with_parts(&self.host, cfg, &fp, Arc::new(SystemClock)).unwrap()
    }
}

fn events() -> (
    impl Fn(&LeaseEvent) + Send + Sync + 'static,
    Receiver<LeaseEvent>,
) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    (
        move |e: &LeaseEvent| {
            let _ = tx.lock().unwrap().send(e.clone());
        },
        rx,
    )
}

/// Waits up to `limit` for an event matching `want`.
fn wait_for(
    rx: &Receiver<LeaseEvent>,
    limit: Duration,
    want: impl Fn(&LeaseEvent) -> bool,
) -> LeaseEvent {
    let end = Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(e) if want(&e) => return e,
            Ok(_) => {}
            Err(_) => panic!("no such event within {limit:?}"),
        }
    }
}

fn refused_code(r: Result<impl std::fmt::Debug, SdkError>) -> u32 {
    match r {
        Err(SdkError::ServiceRefused { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The server's refusals that may pass (its clock, its own license) are 503s, which the client
/// reports as the service being unavailable (and retries).
fn unavailable(r: Result<impl std::fmt::Debug, SdkError>, says: &str) {
    match r {
        Err(SdkError::ServiceUnavailable {
            status: 503,
            code,
            message,
        }) if message.contains(says) && (code == 344 || code == 345) => {}
        other => panic!("expected a 503 saying {says:?}, got {other:?}"),
    }
}

fn admin(url: &str, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let full = format!("{url}{path}");
    let mut req = match method {
        "GET" => agent.get(&full).force_send_body(),
        _ => agent.post(&full),
    };
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send("").unwrap();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn n_plus_one_brokers_the_last_is_refused() {
    let w = World::new(3, 0, 30, 1);
    let server = w.start();
    let url = server.url();
    let leases: Vec<_> = (0..3)
        .map(|i| {
            w.broker(&url, &format!("broker-{i}"), &["mqtt-server", "support"])
                .checkout(|_| {})
                .unwrap()
        })
        .collect();
    for l in &leases {
        assert!(l.has_feature("mqtt-server") && l.has_feature("support"));
        assert!(!l.has_feature("iot-bridge-snowflake"));
    }
    let fourth = w.broker(&url, "broker-3", &["mqtt-server"]);
    // The refusal is typed and carries the server's code, which the bindings and the CLI
    // report as their own result code.
    let no_seat = fourth.checkout(|_| {}).map(|_| ()).unwrap_err();
    assert_eq!(
        (no_seat.code(), no_seat.result_code(), no_seat.result_name()),
        (231, 340, "NoSeat")
    );
    assert!(
        matches!(&no_seat, SdkError::ServiceRefused { code: 340, name, .. } if name == "NoSeat")
    );
    // A feature set with a free feature of its own still needs a seat of every feature.
    assert_eq!(
        refused_code(w.broker(&url, "broker-4", &["support"]).checkout(|_| {})),
        protocol::NO_SEAT
    );
    // A feature the license does not have.
    assert_eq!(
        refused_code(w.broker(&url, "broker-5", &["opc-ua"]).checkout(|_| {})),
        protocol::FEATURE_NOT_LICENSED
    );
    // The same client id checking out again (a clone, or a restart that lost the secret)
    // neither gets a second seat nor takes over the live lease.
    assert_eq!(
        refused_code(
            w.broker(&url, "broker-0", &["mqtt-server", "support"])
                .checkout(|_| {})
        ),
        protocol::LEASE_HELD
    );
    assert!(leases[0].has_feature("mqtt-server"));
    assert_eq!(server.state().used("mqtt-server"), 3);
    // A release frees the seat at once.
    let mut leases = leases;
    leases.pop().unwrap().release().unwrap();
    let fourth = fourth.checkout(|_| {}).unwrap();
    assert!(fourth.has_feature("mqtt-server"));
    assert_eq!(server.state().used("mqtt-server"), 3);
}

#[test]
fn a_killed_broker_frees_its_seat_within_the_ttl_and_the_cull_interval() {
    let (ttl, cull) = (3, 1);
    let w = World::new(1, 0, ttl, cull);
    let server = w.start();
    let url = server.url();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate-floating"))
        .args(["client", "--server", &url, "--host-config"])
        .arg(&w.host_file)
        .args([
            "--feature",
            "mqtt-server",
            "--instance",
            "child",
            "--no-probes",
            "--component",
            "operator=child-host",
        ])
        .env("TOLLGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["event"], "acquired", "{first}");
    let other = w.broker(&url, "waiting", &["mqtt-server"]);
    assert_eq!(refused_code(other.checkout(|_| {})), protocol::NO_SEAT);
    // Wait for one renewal, so the seat is held by heartbeats, then SIGKILL: no release.
    let renewed: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(renewed["event"], "renewed", "{renewed}");
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    let lease = loop {
        match other.checkout(|_| {}) {
            Ok(l) => break l,
            Err(SdkError::ServiceRefused { code, .. }) if code == protocol::NO_SEAT => {
                assert!(
                    killed.elapsed() < Duration::from_secs(ttl + cull + 5),
                    "the seat was not reclaimed"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(lease.has_feature("mqtt-server"));
    eprintln!(
        "seat reclaimed {:?} after the SIGKILL (TTL {ttl} s, cull every {cull} s)",
        killed.elapsed()
    );
    let (_, audit) = admin(
        &url,
        "GET",
        "/v1/floating/admin/audit?limit=100",
        Some(ADMIN_TOKEN),
    );
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"lease.expired"), "{actions:?}");
}

/// Issue 12 §3: the state directory (device key, lease database) is private to the server's
/// user: 0700, and the database 0600 (they were 0755 and 0644).
#[cfg(unix)]
#[test]
fn the_state_directory_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new(1, 0, 30, 1);
    let server = w.start();
    w.broker(&server.url(), "a", &["mqtt-server"])
        .checkout_raw(None)
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&w.cfg.state_dir), 0o700);
    assert_eq!(mode(&w.cfg.database()), 0o600);
    for suffix in ["-wal", "-shm"] {
        let side = w.cfg.state_dir.join(format!("floating.sqlite{suffix}"));
        if side.exists() {
            assert_eq!(mode(&side), 0o600, "{suffix}");
        }
    }
}

#[test]
fn a_restart_keeps_the_leases_in_force() {
    let w = World::new(1, 0, 6, 1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = w.start_on(listener, Arc::new(SystemClock));
    let url = server.url();
    let (on_event, rx) = events();
    let a = w
        .broker(&url, "a", &["mqtt-server"])
        .checkout(on_event)
        .unwrap();
    let id = a.lease_id();
    wait_for(&rx, Duration::from_secs(5), |e| {
        matches!(e, LeaseEvent::Renewed { .. })
    });
    server.stop();
    // The broker keeps its features while the server is down (within its lease).
    assert!(a.has_feature("mqtt-server"));
    let server = w.start_on(TcpListener::bind(addr).unwrap(), Arc::new(SystemClock));
    let b = w.broker(&url, "b", &["mqtt-server"]);
    assert_eq!(refused_code(b.checkout(|_| {})), protocol::NO_SEAT);
    // The lease renews against the restarted server, under the same id.
    while rx.try_recv().is_ok() {}
    a.renew_now();
    let e = wait_for(&rx, Duration::from_secs(8), |e| {
        matches!(e, LeaseEvent::Renewed { .. })
    });
    assert!(matches!(e, LeaseEvent::Renewed { lease_id, .. } if lease_id == id));
    assert_eq!(a.lease_id(), id);
    assert_eq!(server.state().leases().len(), 1);
}

#[test]
fn borrowing_within_the_license_bound() {
    let week = 7 * 86_400;
    let w = World::new(1, week, 30, 1);
    let server = w.start();
    let url = server.url();
    let laptop = w.broker(&url, "laptop", &["mqtt-server"]);
    assert_eq!(
        refused_code(laptop.borrow(u64::from(week) + 1)),
        protocol::BORROW_NOT_ALLOWED
    );
    let b = laptop.borrow(2 * 86_400).unwrap();
    assert!(b.entitlement.lease().borrowed);
    assert_eq!(b.entitlement.lease().term(), 2 * 86_400);
    // Offline, later: the kept texts verify on their own.
    let ent = laptop
        .verify_borrowed(&b.floating_license, &b.lease)
        .unwrap();
    assert!(ent.has_feature("mqtt-server", now() + 86_400));
    // A borrowed lease is not renewed by heartbeats, and holds its seat.
    assert_eq!(
        refused_code(laptop.heartbeat_raw(b.lease_id, &b.secret)),
        protocol::LEASE_NOT_FOUND
    );
    let other = w.broker(&url, "desk", &["mqtt-server"]);
    assert_eq!(refused_code(other.checkout(|_| {})), protocol::NO_SEAT);
    // Returned early, the seat is free again.
    laptop.return_borrowed(&b).unwrap();
    other.checkout(|_| {}).unwrap();

    // A license without borrowing refuses it.
    let w = World::new(1, 0, 30, 1);
    let server = w.start();
    assert_eq!(
        refused_code(w.broker(&server.url(), "x", &["mqtt-server"]).borrow(60)),
        protocol::BORROW_NOT_ALLOWED
    );
}

#[test]
fn tampered_lease_tokens_are_refused() {
    let w = World::new(2, 0, 30, 1);
    let server = w.start();
    let url = server.url();
    let a = w.broker(&url, "a", &["mqtt-server"]);
    let r = a.checkout_raw(None).unwrap();
    let verifier = tollgate_core::Verifier::with_trust_store(w.host.trust_store().unwrap());
    let check = |lease: &str, client: &FloatingClient| {
        verifier.verify_lease(&r.floating_license, lease, &client.client_id(), now())
    };
    assert!(check(&r.lease, &a).is_ok());
    // A character changed: the armor's checksum.
    let mut chars: Vec<char> = r.lease.chars().collect();
    let mid = chars.len() / 2;
    chars[mid] = if chars[mid] == 'A' { 'B' } else { 'A' };
    let typo: String = chars.into_iter().collect();
    assert_eq!(check(&typo, &a).unwrap_err(), CoreError::ArmorChecksum);
    // A bit of the signed bytes flipped, the checksum recomputed: the signature.
    let mut bytes = armor::decode(ArtifactType::Lease, &r.lease, 1024).unwrap();
    bytes[13] ^= 1;
    let forged = armor::encode(ArtifactType::Lease, &bytes);
    assert_eq!(check(&forged, &a).unwrap_err(), CoreError::BadSignature);
    // The same claims signed by another key (a rogue server): refused.
    let claims: LeaseClaims = check(&r.lease, &a).unwrap().lease().clone();
    let rogue = Lease::sign(claims, &DeviceKey::from_seed(&[7; 32])).unwrap();
    assert_eq!(
        check(&rogue.to_armor(), &a).unwrap_err(),
        CoreError::UnknownKeyId
    );
    // Another broker cannot use it.
    let b = w.broker(&url, "b", &["mqtt-server"]);
    assert_eq!(
        check(&r.lease, &b).unwrap_err(),
        CoreError::LeaseWrongClient
    );
    // A wrong secret renews nothing.
    assert_eq!(
        refused_code(a.heartbeat_raw(r.lease_id, "00000000000000000000000000000000")),
        protocol::LEASE_NOT_FOUND
    );

    // A man in the middle that alters the token: the client refuses the checkout.
    let mut tampered = r.clone();
    tampered.lease = forged;
    let fake = fake_server(serde_json::to_string(&tampered).unwrap());
    let c = w.broker(&fake, "a", &["mqtt-server"]);
    match c.checkout(|_| {}) {
        Err(SdkError::Core(CoreError::BadSignature)) => {}
        other => panic!("{other:?}"),
    }
}

/// A server that answers every request with `body`.
fn fake_server(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = std::io::Read::read(&mut s, &mut buf);
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                body.len(),
                body
            );
            let _ = std::io::Write::write_all(&mut s, resp.as_bytes());
        }
    });
    url
}

/// Issue 12 §1, the replay attack: a checkout answer captured from the real server, its lease
/// released (and, for the server, gone), served again by a proxy for every request. The old
/// client took the token's `issued_at` as the time and stayed licensed; the token now answers
/// no request the client makes.
#[test]
fn a_replayed_checkout_answer_is_refused() {
    let w = World::new(1, 0, 30, 1);
    let server = w.start();
    let url = server.url();
    let victim = w.broker(&url, "a", &["mqtt-server"]);
    let captured = victim.checkout_raw(None).unwrap();
    victim
        .release_raw(captured.lease_id, &captured.secret)
        .unwrap();
    // The seat is free again: another broker takes it.
    let other = w.broker(&url, "b", &["mqtt-server"]);
    let _held = other.checkout(|_| {}).unwrap();
    let proxy = fake_server(serde_json::to_string(&captured).unwrap());
    let replayed = w.broker(&proxy, "a", &["mqtt-server"]);
    for _ in 0..3 {
        match replayed.checkout(|_| {}) {
            Err(SdkError::Core(CoreError::LeaseNonceMismatch)) => {}
            other => panic!("a replayed lease must be refused, got {other:?}"),
        }
    }
    match replayed.borrow(60) {
        Err(SdkError::Core(CoreError::LeaseNonceMismatch)) => {}
        other => panic!("a replayed lease must be refused, got {other:?}"),
    }
    assert_eq!(CoreError::LeaseNonceMismatch.code(), 128);
}

/// Issue 12 §2, clones and stolen releases: three brokers with one fingerprint (one client id)
/// used to take turns on one seat, each checkout re-issuing the lease under a new secret, and
/// anyone could check out under a victim's public client id and release its lease. A live
/// lease is now taken over by nobody (346, counted in the metrics); the restarted holder gets
/// a seat again within one TTL.
#[test]
fn clones_cannot_take_turns_on_one_seat_nor_release_it() {
    let ttl = 3;
    let w = World::new(1, 0, ttl, 1);
    let server = w.start();
    let url = server.url();
    let original = w.broker(&url, "a", &["mqtt-server"]);
    // The holder: a raw checkout and heartbeats by hand, so that it can "crash" below.
    let held = original.checkout_raw(None).unwrap();
    let id = held.lease_id;
    for _ in 0..3 {
        let clone = w.broker(&url, "a", &["mqtt-server"]);
        assert_eq!(clone.client_id(), original.client_id());
        assert_eq!(refused_code(clone.checkout(|_| {})), protocol::LEASE_HELD);
        // Nor with another feature set.
        let other_set = w.broker(&url, "a", &["mqtt-server", "support"]);
        assert_eq!(
            refused_code(other_set.checkout_raw(None)),
            protocol::LEASE_HELD
        );
        // Without the secret there is no release either.
        assert_eq!(
            refused_code(clone.release_raw(id, "00000000000000000000000000000000")),
            protocol::LEASE_NOT_FOUND
        );
    }
    // The holder renews with its secret as before.
    original.heartbeat_raw(id, &held.secret).unwrap();
    let leases = server.state().leases();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].id, id);
    assert_eq!(server.state().takeovers_refused(), 6);
    let (_, metrics) = {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent.get(format!("{url}/metrics")).call().unwrap();
        (r.status(), r.body_mut().read_to_string().unwrap())
    };
    assert!(
        metrics.contains("tollgate_floating_takeovers_refused_total 6"),
        "{metrics}"
    );
    // The holder crashes (no release, its secret lost): the restarted broker gets its seat
    // back once the old lease ends, within one TTL.
    let restarted = w.broker(&url, "a", &["mqtt-server"]);
    let crashed = Instant::now();
    let lease = loop {
        match restarted.checkout(|_| {}) {
            Ok(l) => break l,
            Err(SdkError::ServiceRefused { code, .. }) if code == protocol::LEASE_HELD => {
                assert!(
                    crashed.elapsed() < Duration::from_secs(ttl + 5),
                    "never freed"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(lease.has_feature("mqtt-server"));
}

/// Issue 12 §1: a client refuses a token older than the last one it accepted (here the
/// server's clock stepped back by a second, within the server's own tolerance).
#[test]
fn a_token_older_than_the_last_accepted_is_refused() {
    let w = World::new(2, 0, 60, 1);
    let t = now();
    let clock = Arc::new(ManualClock::new(t));
    let server = w.start_on(TcpListener::bind("127.0.0.1:0").unwrap(), clock.clone());
    let a = w.broker(&server.url(), "a", &["mqtt-server"]);
    a.checkout(|_| {}).unwrap().release().unwrap();
    clock.set(t - 1);
    match a.checkout(|_| {}) {
        Err(SdkError::BadResponse { reason }) => {
            assert!(reason.contains("before the last one accepted"), "{reason}");
        }
        other => panic!("expected an older token to be refused, got {other:?}"),
    }
    // The server's clock moves on: accepted again.
    clock.set(t + 1);
    a.checkout(|_| {}).unwrap().release().unwrap();
}

/// Issue 12 §1: the client's clock bounds the server's. A server whose clock is an hour off
/// (set back or ahead) lends nothing this client accepts; within the tolerance it does.
#[test]
fn a_server_clock_far_from_the_clients_is_refused() {
    let w = World::new(2, 0, 60, 1);
    let clock = Arc::new(ManualClock::new(now() + 100));
    let server = w.start_on(TcpListener::bind("127.0.0.1:0").unwrap(), clock.clone());
    let url = server.url();
    let a = w.broker(&url, "a", &["mqtt-server"]);
    // Within the default tolerance (300 s): accepted, and checked at the server's time.
    let lease = a.checkout(|_| {}).unwrap();
    assert!(lease.has_feature("mqtt-server"));
    lease.release().unwrap();
    // An hour off: refused.
    clock.set(now() + 3600);
    match a.checkout(|_| {}) {
        Err(SdkError::BadResponse { reason }) => {
            assert!(reason.contains("server's clock"), "{reason}");
        }
        other => panic!("expected a clock refusal, got {other:?}"),
    }
}

#[test]
fn a_broker_rides_out_a_short_outage_and_reports_a_lost_lease() {
    let ttl = 3;
    let w = World::new(1, 0, ttl, 1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = w.start_on(listener, Arc::new(SystemClock));
    let url = server.url();
    let (on_event, rx) = events();
    let a = w
        .broker(&url, "a", &["mqtt-server"])
        .checkout(on_event)
        .unwrap();
    let expires = a.expires_at().unwrap();
    server.stop();
    wait_for(&rx, Duration::from_secs(5), |e| {
        matches!(e, LeaseEvent::RenewFailed { .. })
    });
    if now() < expires {
        assert!(a.has_feature("mqtt-server"), "usable until the lease ends");
    }
    let lost = wait_for(&rx, Duration::from_secs(ttl + 5), |e| {
        matches!(e, LeaseEvent::Lost { .. })
    });
    assert!(matches!(
        lost,
        LeaseEvent::Lost {
            error: SdkError::Core(CoreError::LeaseExpired)
        }
    ));
    assert!(!a.has_feature("mqtt-server"));
    // Back up: the broker checks out again by itself.
    let _server = w.start_on(TcpListener::bind(addr).unwrap(), Arc::new(SystemClock));
    wait_for(&rx, Duration::from_secs(10), |e| {
        matches!(e, LeaseEvent::Acquired { .. })
    });
    assert!(a.has_feature("mqtt-server"));
}

#[test]
fn the_admin_view_lists_and_force_releases_leases() {
    let w = World::new(2, 0, 30, 1);
    let server = w.start();
    let url = server.url();
    let (on_event, rx) = events();
    let a = w
        .broker(&url, "a", &["mqtt-server"])
        .checkout(on_event)
        .unwrap();
    let _b = w
        .broker(&url, "b", &["mqtt-server", "support"])
        .checkout(|_| {})
        .unwrap();
    assert_eq!(admin(&url, "GET", "/v1/floating/admin/leases", None).0, 401);
    assert_eq!(
        admin(
            &url,
            "GET",
            "/v1/floating/admin/leases",
            Some("wrong-token-0123456789")
        )
        .0,
        401
    );
    let (status, leases) = admin(&url, "GET", "/v1/floating/admin/leases", Some(ADMIN_TOKEN));
    assert_eq!(status, 200);
    let leases = leases.as_array().unwrap();
    assert_eq!(leases.len(), 2);
    assert_eq!(leases[0]["client_name"], "a");
    assert_eq!(
        leases[1]["features"],
        serde_json::json!(["mqtt-server", "support"])
    );
    let (status, st) = admin(&url, "GET", "/v1/floating/admin/status", Some(ADMIN_TOKEN));
    assert_eq!(status, 200);
    assert_eq!(st["leases"], 2);
    let id = a.lease_id();
    let (status, _) = admin(
        &url,
        "POST",
        &format!("/v1/floating/admin/leases/{id}/release"),
        Some(ADMIN_TOKEN),
    );
    assert_eq!(status, 200);
    // The broker finds out at its next heartbeat and checks out again.
    a.renew_now();
    wait_for(
        &rx,
        Duration::from_secs(5),
        |e| matches!(e, LeaseEvent::Acquired { lease_id, .. } if *lease_id != id),
    );
    assert_ne!(a.lease_id(), id);
    let (_, audit) = admin(&url, "GET", "/v1/floating/admin/audit", Some(ADMIN_TOKEN));
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for want in ["server.started", "lease.checkout", "lease.force_released"] {
        assert!(actions.contains(&want), "{want}: {actions:?}");
    }
    let (_, metrics) = (0, {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        agent
            .get(format!("{url}/metrics"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    });
    assert!(metrics.contains("tollgate_floating_leases 2"), "{metrics}");
    assert!(metrics.contains("tollgate_floating_seats_used{feature=\"mqtt-server\"} 2"));
}

#[test]
fn a_clock_that_goes_back_stops_the_leases() {
    let w = World::new(2, 0, 30, 1);
    let t = now();
    let clock = Arc::new(ManualClock::new(t));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = w.start_on(listener, clock.clone());
    let url = server.url();
    let a = w.broker(&url, "a", &["mqtt-server"]);
    let r = a.checkout_raw(None).unwrap();
    clock.set(t - 120);
    unavailable(a.checkout_raw(None), "clock went back");
    unavailable(a.heartbeat_raw(r.lease_id, &r.secret), "clock went back");
    let (status, health) = admin(&url, "GET", "/healthz", None);
    assert_eq!(
        (status, health["clock"].as_str()),
        (503, Some("rolled_back"))
    );
    // The high-water mark survives a restart.
    std::thread::sleep(Duration::from_millis(500));
    server.stop();
    let server = w.start_on(TcpListener::bind(addr).unwrap(), clock.clone());
    unavailable(a.checkout_raw(None), "clock went back");
    // Right again: leases flow.
    clock.set(t + 1);
    a.heartbeat_raw(r.lease_id, &r.secret).unwrap();
    let (status, _) = admin(&url, "GET", "/healthz", None);
    assert_eq!(status, 200);
    let (_, audit) = admin(&url, "GET", "/v1/floating/admin/audit", Some(ADMIN_TOKEN));
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"clock.rollback") && actions.contains(&"clock.recovered"));
    drop(server);
}

/// Issue 12 §3: one address holding more idle and slow-header connections than the caps
/// cannot stop `/healthz` or a real checkout from another address; connections over the
/// per-address cap are closed at once, idle and slow-header ones after their timeouts.
#[cfg(target_os = "linux")]
#[test]
fn hostile_connections_do_not_starve_the_server() {
    use std::io::Write;
    use tollgate_service_kit::testing::{closed_by_server, connect_from};
    let mut w = World::new(1, 0, 30, 1);
    w.cfg.connections = tollgate_service_kit::Connections {
        max_connections: 16,
        max_per_address: 4,
        header_read_timeout_secs: 2,
        idle_timeout_secs: 2,
    };
    let server = w.start();
    let addr = server.addr();
    // The attacker, from 127.0.0.2: 4 slow-header connections, then 8 more idle ones.
    let mut slow: Vec<_> = (0..4).map(|_| connect_from([127, 0, 0, 2], addr)).collect();
    for s in &mut slow {
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
            .unwrap();
    }
    let mut extra: Vec<_> = (0..8).map(|_| connect_from([127, 0, 0, 2], addr)).collect();
    // Over the per-address cap: closed at once.
    for s in &mut extra {
        assert!(closed_by_server(s), "a connection over the cap stayed open");
    }
    // Another address is served meanwhile: the health check and a real checkout.
    let (status, health) = admin(&server.url(), "GET", "/healthz", None);
    assert_eq!(status, 200, "{health}");
    let lease = w
        .broker(&server.url(), "a", &["mqtt-server"])
        .checkout(|_| {})
        .unwrap();
    assert!(lease.has_feature("mqtt-server"));
    // The slow-header connections are dropped by the header-read or idle timeout.
    for s in &mut slow {
        assert!(closed_by_server(s), "a slow-header connection stayed open");
    }
    lease.release().unwrap();
}

/// The `.route("PATH", get(..))` / `post(..)` calls in the router's source.
fn routes_in_router_source() -> BTreeSet<(String, String)> {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/api.rs")).unwrap();
    let body = &src[src.find("pub fn router(").unwrap()..];
    let body = &body[..body.find("\n}\n").unwrap()];
    let mut out = BTreeSet::new();
    let mut rest = body;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let start = rest.find('"').unwrap() + 1;
        let len = rest[start..].find('"').unwrap();
        let path = rest[start..start + len].to_owned();
        let handler = rest[start + len..].trim_start_matches(['"', ',', ' ', '\n']);
        let method = &handler[..handler.find('(').unwrap()];
        out.insert((method.to_uppercase(), path));
    }
    out
}

fn documented_routes() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(protocol::OPENAPI).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn every_floating_route_is_in_the_openapi_document() {
    let table: BTreeSet<(String, String)> = tollgate_floating::api::ROUTES
        .iter()
        .map(|&(m, p, _)| (m.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(table.len(), 13);
    assert_eq!(routes_in_router_source(), table, "the router and ROUTES");
    assert_eq!(documented_routes(), table, "floating.json and ROUTES");

    // Served as is, and every documented route is routed on the live server.
    let w = World::new(1, 0, 30, 1);
    let server = w.start();
    let url = server.url();
    let (status, served) = admin(&url, "GET", "/openapi.json", None);
    assert_eq!(status, 200);
    assert_eq!(
        served,
        serde_json::from_str::<Value>(protocol::OPENAPI).unwrap()
    );
    for (method, path) in documented_routes() {
        let concrete = path.replace("{id}", "1");
        let (status, body) = admin(&url, &method, &concrete, Some(ADMIN_TOKEN));
        assert!(
            !(status == 404 && body["error"]["code"] == 404),
            "{method} {path} is not routed: {status} {body}"
        );
        assert_ne!(status, 405, "{method} {path}");
    }
}

/// With `metrics_token` set, `/metrics` needs it as a bearer token (401 without it or with a
/// wrong one, 200 with it); `/healthz` stays open.
#[test]
fn metrics_behind_a_token() {
    const METRICS_TOKEN: &str = "floating-metrics-token-0123";
    let mut w = World::new(1, 0, 30, 1);
    w.cfg.metrics_token = Some(tollgate_service_kit::Secret::new(METRICS_TOKEN));
    let server = w.start();
    let url = server.url();
    let (status, body) = admin(&url, "GET", "/metrics", None);
    assert_eq!((status, body["error"]["code"].as_u64()), (401, Some(401)));
    let (status, _) = admin(&url, "GET", "/metrics", Some("wrong-token-0123456789"));
    assert_eq!(status, 401);
    let (status, _) = admin(&url, "GET", "/metrics", Some(METRICS_TOKEN));
    assert_eq!(status, 200);
    assert_eq!(admin(&url, "GET", "/healthz", None).0, 200);
}

/// Issue 12 §2: with a `checkout_token`, a client without it (or with another one) is refused
/// 401 on checkout, heartbeat and release, and takes no seat; a client with it is served.
#[test]
fn a_checkout_token_keeps_rogue_clients_out() {
    const CHECKOUT_TOKEN: &str = "plant-7-checkout-token-0123";
    let mut w = World::new(1, 0, 30, 1);
    w.cfg.checkout_token = Some(tollgate_service_kit::Secret::new(CHECKOUT_TOKEN));
    let server = w.start();
    let url = server.url();
    let with_token = |name: &str, token: &str| {
        w.broker_with(&url, name, &["mqtt-server"], |c| {
            c.checkout_token = Some(BearerToken::new(token).unwrap());
        })
    };
    // No token: 401, typed, and no seat taken.
    let rogue = w.broker(&url, "rogue", &["mqtt-server"]);
    let e = rogue.checkout(|_| {}).map(|_| ()).unwrap_err();
    assert!(
        matches!(&e, SdkError::ServiceRefused { code: 401, name, .. } if name == "Unauthorized"),
        "{e:?}"
    );
    // Another token: 401 as well.
    let wrong = with_token("wrong", "another-token-0123456789");
    assert_eq!(refused_code(wrong.checkout(|_| {})), 401);
    // The right token: served, renewed and released.
    let good = with_token("good", CHECKOUT_TOKEN);
    let r = good.checkout_raw(None).unwrap();
    good.heartbeat_raw(r.lease_id, &r.secret).unwrap();
    // A rogue that learnt the lease id and secret still needs the token.
    assert_eq!(
        refused_code(rogue.heartbeat_raw(r.lease_id, &r.secret)),
        401
    );
    assert_eq!(refused_code(rogue.release_raw(r.lease_id, &r.secret)), 401);
    good.release_raw(r.lease_id, &r.secret).unwrap();
    let lease = good.checkout(|_| {}).unwrap();
    assert!(lease.has_feature("mqtt-server"));
    // The token never reaches the client's Debug output.
    assert!(!format!("{:?}", good.config()).contains(CHECKOUT_TOKEN));
    lease.release().unwrap();
}
