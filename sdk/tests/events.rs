//! License events: a [`StatusWatch`] reports installs, expiry warnings, a lost license, a
//! clock set back and a deactivation, each once, in order. Synchronised with a channel
//! (bounded waits); no timed assertions.
#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tollgate_core::{
    CertificateClaims, ComponentKind, DeploymentModel, Feature, FeatureKind, Grant, KeyCertificate,
    LicenseKey, Models, UsageLicense, UsageRequest, UsageTerms, VendorSigningKey,
};
use tollgate_sdk::events::{LicenseEvent, LicenseEventKind, StatusWatch};
use tollgate_sdk::{
    HostConfig, LicenseManager, LicenseState, ManualClock, MemoryStorage, StaticSource,
};

const T0: u64 = 1_700_000_000;
const DAY: u64 = 86_400;
const BOUND: Duration = Duration::from_secs(60);

fn root() -> VendorSigningKey {
    VendorSigningKey::from_seed(&[10; 32])
}

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
        features: vec![
            Feature {
                name: "mqtt-server".into(),
                kind: FeatureKind::Perpetual,
            },
            Feature {
                name: "support".into(),
                kind: FeatureKind::Subscription {
                    expires_at: T0 + 100 * DAY,
                },
            },
        ],
        models: Models::of(&[DeploymentModel::Offline]),
        max_activations: 2,
        floating_seats: 0,
        not_before: None,
        not_after: Some(T0 + 200 * DAY),
        fingerprint_threshold: 1,
        max_borrow_secs: 0,
        rollback_tolerance_secs: 3600,
        offline_refresh_secs: 0,
    };
    let terms = UsageTerms {
        grant,
        activation_id: 7,
        model: DeploymentModel::Offline,
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

#[test]
fn a_watch_reports_each_change_once_in_order() {
    let clock = Arc::new(ManualClock::new(T0));
    let config = HostConfig::new("chariot", "4.2.0", b"salt".to_vec(), root().public_key());
    let source = StaticSource::from_strs(&[
        (ComponentKind::MachineId, "machine-a"),
        (ComponentKind::Mac, "nic-a1"),
    ]);
    let m = Arc::new(RwLock::new(
        LicenseManager::with_parts(
            config,
            Box::new(MemoryStorage::new()),
            clock.clone(),
            Box::new(source),
        )
        .unwrap(),
    ));
    let (tx, events) = mpsc::channel::<LicenseEvent>();
    let signal = m.read().unwrap().change_signal();
    let reader = Arc::clone(&m);
    let watch = StatusWatch::start(
        move || Some(reader.read().unwrap().status()),
        &signal,
        Duration::from_secs(3600),
        move |e| tx.send(e.clone()).unwrap(),
    )
    .unwrap();
    let next = || events.recv_timeout(BOUND).unwrap();

    let key = LicenseKey::from_entropy(&[2; 15]).expose();
    let request = m.write().unwrap().request_usage(&key).unwrap();
    let e = next();
    assert_eq!(
        (e.kind, e.previous, e.state),
        (
            LicenseEventKind::StateChanged,
            LicenseState::Unlicensed,
            LicenseState::Pending
        )
    );

    m.write().unwrap().install(&answer(&request)).unwrap();
    let e = next();
    assert_eq!(
        (e.kind, e.state, e.revision, e.activation_id),
        (LicenseEventKind::Installed, LicenseState::Active, 1, 7)
    );

    // Time alone: the watch looks again when poked (or after its interval).
    clock.set(T0 + 80 * DAY);
    watch.poke();
    let e = next();
    assert_eq!(e.kind, LicenseEventKind::ExpiringSoon);
    assert!(
        e.message.starts_with("support expires in 20 days"),
        "{}",
        e.message
    );

    clock.set(T0 + 201 * DAY);
    watch.poke();
    let e = next();
    assert_eq!(
        (e.kind, e.previous, e.state, e.error_code),
        (
            LicenseEventKind::Lost,
            LicenseState::Active,
            LicenseState::Expired,
            115
        )
    );

    // The host saw day 201 (kept as its clock high-water mark); then the clock goes back.
    m.write().unwrap().refresh().unwrap();
    clock.set(T0 + 100 * DAY);
    watch.poke();
    let e = next();
    assert_eq!(
        (e.kind, e.state, e.error_code),
        (
            LicenseEventKind::ClockRollback,
            LicenseState::ClockRollback,
            205
        )
    );

    clock.set(T0 + 201 * DAY);
    watch.poke();
    assert_eq!(next().kind, LicenseEventKind::StateChanged);
    m.write().unwrap().deactivate().unwrap();
    let e = next();
    assert_eq!(
        (e.kind, e.previous, e.state),
        (
            LicenseEventKind::Deactivated,
            LicenseState::Expired,
            LicenseState::Unlicensed
        )
    );

    // Nothing else was reported: stopping ends the thread and drops the sender.
    watch.stop();
    assert!(events.recv_timeout(BOUND).is_err());
}
