//! End-to-end tests of the host runtime, with the vendor played by `tollgate_core` directly.
// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_core::armor::{self, ArtifactType};
use tollgate_core::{
    CertificateClaims, Component, ComponentKind, DeactivationCode, DeploymentModel,
    Error as CoreError, Feature, FeatureKind, Grant, KeyCertificate, LicenseKey, MeterPeriod,
    Models, UsageLicense, UsageRequest, UsageTerms, VendorSigningKey,
};
use tollgate_sdk::storage::Storage;
use tollgate_sdk::{
    DirStorage, FailingStorage, HostConfig, LicenseManager, LicenseState, ManualClock,
    MemoryStorage, SdkError, StaticSource,
};

const SALT: &[u8] = b"chariot-salt";
/// 2023-11-14T22:13:20Z
const T0: u64 = 1_700_000_000;
const DAY: u64 = 86_400;

fn vendor() -> VendorSigningKey {
    VendorSigningKey::from_seed(&[1; 32])
}

/// The vendor's root key: its public half is what the host is built with.
fn root() -> VendorSigningKey {
    VendorSigningKey::from_seed(&[10; 32])
}

/// `root`'s certificate of `key` for the product, open-ended.
fn certificate(key: &VendorSigningKey, root: &VendorSigningKey) -> KeyCertificate {
    KeyCertificate::issue(
        CertificateClaims {
            product: "chariot".into(),
            public_key: key.public_key(),
            not_before: 0,
            not_after: None,
            issued_at: 0,
        },
        root,
    )
    .unwrap()
}

/// Signs `terms` with `signer`, embedding the root's certificate of it (as the authority does).
fn issue(terms: UsageTerms, signer: &VendorSigningKey) -> UsageLicense {
    let mut claims = certificate(signer, &root()).claims().clone();
    claims.product = terms.grant.product.clone();
    let cert = KeyCertificate::issue(claims, &root()).unwrap();
    UsageLicense::issue_with_certificate(terms, signer, &cert).unwrap()
}

fn key() -> String {
    LicenseKey::from_entropy(&[2; 15]).expose()
}

fn other_key() -> String {
    LicenseKey::from_entropy(&[3; 15]).expose()
}

fn config() -> HostConfig {
    HostConfig::new("chariot", "4.2.0", SALT.to_vec(), root().public_key())
}

/// Machine A: machine id, two NICs, a disk, a host name.
fn machine_a() -> Vec<(ComponentKind, &'static str)> {
    vec![
        (ComponentKind::MachineId, "machine-a"),
        (ComponentKind::Mac, "nic-a1"),
        (ComponentKind::RootDisk, "disk-a"),
        (ComponentKind::Hostname, "broker-a"),
    ]
}

fn machine_b() -> Vec<(ComponentKind, &'static str)> {
    vec![
        (ComponentKind::MachineId, "machine-b"),
        (ComponentKind::Mac, "nic-b1"),
        (ComponentKind::RootDisk, "disk-b"),
        (ComponentKind::Hostname, "broker-b"),
    ]
}

fn source(parts: &[(ComponentKind, &str)]) -> Box<StaticSource> {
    Box::new(StaticSource::from_strs(parts))
}

fn manager(
    storage: impl Storage + 'static,
    clock: &Arc<ManualClock>,
    parts: &[(ComponentKind, &str)],
) -> Result<LicenseManager, SdkError> {
    LicenseManager::with_parts(config(), Box::new(storage), clock.clone(), source(parts))
}

fn grant(features: Vec<Feature>, threshold: u8) -> Grant {
    Grant {
        license_id: 42,
        revision: 1,
        product: "chariot".into(),
        customer: "ACME Industrial".into(),
        features,
        models: Models::of(&[DeploymentModel::Offline]),
        max_activations: 2,
        floating_seats: 0,
        not_before: None,
        not_after: None,
        fingerprint_threshold: threshold,
        max_borrow_secs: 0,
        rollback_tolerance_secs: 3600,
        offline_refresh_secs: 0,
    }
}

fn perpetual(name: &str) -> Feature {
    Feature {
        name: name.into(),
        kind: FeatureKind::Perpetual,
    }
}

fn subscription(name: &str, expires_at: u64) -> Feature {
    Feature {
        name: name.into(),
        kind: FeatureKind::Subscription { expires_at },
    }
}

fn metered(name: &str, quota: u64, period: MeterPeriod) -> Feature {
    Feature {
        name: name.into(),
        kind: FeatureKind::Metered { quota, period },
    }
}

/// The vendor's answer to an armored usage request.
fn answer_with(
    request: &str,
    grant: Grant,
    activation_id: u64,
    signer: &VendorSigningKey,
) -> String {
    let req = UsageRequest::from_armor(request).unwrap();
    issue(
        UsageTerms {
            grant,
            activation_id,
            model: DeploymentModel::Offline,
            device_key: *req.device_key(),
            request_counter: req.claims().counter,
            fingerprint: req.claims().fingerprint.clone(),
            issued_at: req.claims().created_at + 60,
            refresh_deadline: None,
        },
        signer,
    )
    .to_armor()
}

fn answer(request: &str, grant: Grant) -> String {
    answer_with(request, grant, 7, &vendor())
}

fn mqtt() -> Grant {
    grant(vec![perpetual("mqtt-server")], 1)
}

/// A host with an installed `mqtt-server` license, at T0 + 1 h.
fn activated(parts: &[(ComponentKind, &str)]) -> (LicenseManager, Arc<ManualClock>, MemoryStorage) {
    let clock = Arc::new(ManualClock::new(T0));
    let mem = MemoryStorage::new();
    let mut m = manager(mem.clone(), &clock, parts).unwrap();
    let req = m.request_usage(&key()).unwrap();
    clock.advance(3600);
    m.install(&answer(&req, mqtt())).unwrap();
    (m, clock, mem)
}

fn stored_state(mem: &MemoryStorage) -> serde_json::Value {
    serde_json::from_slice(&mem.load("state.json").unwrap().unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn full_offline_round_trip() {
    let clock = Arc::new(ManualClock::new(T0));
    let mem = MemoryStorage::new();
    let mut m = manager(mem.clone(), &clock, &machine_a()).unwrap();
    let st = m.status();
    assert_eq!(st.state, LicenseState::Unlicensed);
    assert!(st.license.is_none() && st.error.is_none() && !st.pending_request);
    assert!(!m.has_feature("mqtt-server"));
    assert_eq!(m.check(), Err(SdkError::NotActivated));

    // The request: every claim as expected.
    let request = m.request_usage(&key()).unwrap();
    assert!(request.starts_with("TGRQ:"));
    assert_eq!(m.pending_request(), Some(request.as_str()));
    assert_eq!(m.status().state, LicenseState::Pending);
    let req = UsageRequest::from_armor(&request).unwrap();
    let k = LicenseKey::parse(&key()).unwrap();
    let c = req.claims();
    assert_eq!(c.key_lookup, k.lookup_id());
    assert!(k.auth_secret().check_proof(req.device_key(), &c.key_proof));
    assert_eq!(
        (
            c.product.as_str(),
            c.product_version.as_str(),
            c.counter,
            c.created_at
        ),
        ("chariot", "4.2.0", 1, T0)
    );
    let expected: BTreeSet<Component> = machine_a()
        .iter()
        .map(|(k, v)| Component::derive(*k, v.as_bytes(), SALT))
        .collect();
    assert_eq!(c.fingerprint, expected.into_iter().collect::<Vec<_>>());

    // The vendor answers; the host installs.
    let ul = answer(
        &request,
        grant(vec![perpetual("mqtt-server"), perpetual("bridge")], 1),
    );
    clock.advance(3600);
    let st = m.install(&ul).unwrap();
    assert_eq!(st.state, LicenseState::Active);
    assert!(!st.pending_request);
    assert_eq!(m.pending_request(), None);
    assert_eq!(st.error, None);
    assert_eq!(st.warnings, Vec::<String>::new());
    let info = st.license.unwrap();
    assert_eq!(info.license_id, 42);
    assert_eq!(info.customer, "ACME Industrial");
    assert_eq!(info.product, "chariot");
    assert_eq!(info.revision, 1);
    assert_eq!(info.activation_id, 7);
    assert_eq!(info.deployment_model, "offline");
    assert_eq!(info.issued_at, "2023-11-14T22:14:20Z");
    assert_eq!(info.installed_at.as_deref(), Some("2023-11-14T23:13:20Z"));
    assert_eq!(info.valid_from, None);
    assert_eq!(info.valid_until, None);
    assert_eq!(info.vendor_key_id, vendor().key_id().to_hex());
    assert_eq!(
        (
            info.fingerprint.matched,
            info.fingerprint.licensed,
            info.fingerprint.required
        ),
        (4, 4, 1)
    );
    assert!(m.has_feature("mqtt-server"));
    assert!(m.has_feature("bridge"));
    assert!(!m.has_feature("support"));
    assert_eq!(m.check(), Ok(()));
    assert_eq!(m.entitlement().unwrap().activation_id(), 7);

    // Installing the same license again changes nothing.
    assert_eq!(m.install(&ul).unwrap().state, LicenseState::Active);

    // The license key itself is never stored.
    let bytes = mem.load("state.json").unwrap().unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains(&key()));
    assert!(!text.contains(&key().replace('-', "")));
    let state = stored_state(&mem);
    assert_eq!(state["device"]["key_lookup"], hex::encode(k.lookup_id()));
    assert_eq!(state["device"]["public"], hex::encode(req.device_key()));
    assert_eq!(state["device"]["counter"], 1);
    assert_eq!(state["pending"], serde_json::Value::Null);
    assert_eq!(state["high_water"], T0 + 3600);
}

#[test]
fn restart_survival_and_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let clock = Arc::new(ManualClock::new(T0));
    let ul;
    {
        let mut m = manager(DirStorage::open(&dir).unwrap(), &clock, &machine_a()).unwrap();
        let req = m.request_usage(&key()).unwrap();
        // While it is open, nobody else can use the state directory.
        assert_eq!(DirStorage::open(&dir).unwrap_err(), SdkError::StateLocked);
        ul = answer(&req, mqtt());
    }
    clock.advance(60);
    {
        // The pending request survived the restart.
        let mut m = manager(DirStorage::open(&dir).unwrap(), &clock, &machine_a()).unwrap();
        assert_eq!(m.status().state, LicenseState::Pending);
        m.install(&ul).unwrap();
    }
    clock.advance(DAY);
    let m = manager(DirStorage::open(&dir).unwrap(), &clock, &machine_a()).unwrap();
    assert_eq!(m.status().state, LicenseState::Active);
    assert!(m.has_feature("mqtt-server"));
    assert_eq!(m.status().license.unwrap().activation_id, 7);
    // Re-verified at open: on another machine the same state is not licensed.
    drop(m);
    let m = manager(DirStorage::open(&dir).unwrap(), &clock, &machine_b()).unwrap();
    assert_eq!(m.status().state, LicenseState::FingerprintMismatch);
    assert!(!m.has_feature("mqtt-server"));
    assert_eq!(
        m.check(),
        Err(SdkError::Core(CoreError::FingerprintMismatch))
    );
}

#[test]
fn a_newer_request_supersedes_older_ones() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    let r1 = m.request_usage(&key()).unwrap();
    let r2 = m.request_usage(&key()).unwrap();
    let (q1, q2) = (
        UsageRequest::from_armor(&r1).unwrap(),
        UsageRequest::from_armor(&r2).unwrap(),
    );
    // Same device key, next counter.
    assert_eq!(q1.device_key(), q2.device_key());
    assert_eq!((q1.claims().counter, q2.claims().counter), (1, 2));

    let ul1 = answer(&r1, mqtt());
    let err = m.install(&ul1).unwrap_err();
    assert_eq!(
        err,
        SdkError::SupersededRequest {
            answered: 1,
            newest: 2
        }
    );
    assert_eq!(err.code(), 202);
    assert!(err.to_string().contains("older usage request (number 1)"));
    assert!(err
        .to_string()
        .contains("superseded by a newer one (number 2)"));
    assert_eq!(m.status().state, LicenseState::Pending);

    let ul2 = answer(&r2, mqtt());
    assert_eq!(m.install(&ul2).unwrap().state, LicenseState::Active);
    // Still refused once the newer one is installed.
    assert_eq!(
        m.install(&ul1).unwrap_err(),
        SdkError::SupersededRequest {
            answered: 1,
            newest: 2
        }
    );
    // Another answer to the request already answered: nothing pending.
    let again = answer_with(&r2, mqtt(), 8, &vendor());
    assert_eq!(m.install(&again).unwrap_err(), SdkError::NoPendingRequest);
}

#[test]
fn upgrade_round_trip_keeps_the_activation_running() {
    let (mut m, clock, _) = activated(&machine_a());
    let first_device = m.entitlement().unwrap().terms().device_key;
    clock.advance(DAY);
    let r2 = m.request_usage(&key()).unwrap();
    let q2 = UsageRequest::from_armor(&r2).unwrap();
    assert_eq!(*q2.device_key(), first_device);
    assert_eq!(q2.claims().counter, 2);
    // The installed license stays in force while the upgrade is pending.
    let st = m.status();
    assert_eq!((st.state, st.pending_request), (LicenseState::Active, true));
    assert!(m.has_feature("mqtt-server"));

    let mut g = grant(vec![perpetual("mqtt-server"), perpetual("bridge")], 1);
    g.revision = 2;
    let st = m.install(&answer(&r2, g)).unwrap();
    assert_eq!(st.state, LicenseState::Active);
    assert!(!st.pending_request);
    assert_eq!(st.license.unwrap().revision, 2);
    assert!(m.has_feature("bridge"));
}

#[test]
fn renewal_without_the_key_and_the_installed_license_is_superseded_by_it() {
    let (mut m, clock, _) = activated(&machine_a());
    let installed = m.entitlement().unwrap().terms().clone();
    let first_ul = m.status().license.unwrap().activation_id;
    clock.advance(DAY);
    let r2 = m.request_renewal().unwrap();
    let q2 = UsageRequest::from_armor(&r2).unwrap();
    assert_eq!(*q2.device_key(), installed.device_key);
    assert_eq!(q2.claims().counter, 2);
    // Same key binding as a request made with the key itself.
    let key = tollgate_core::LicenseKey::parse(&key()).unwrap();
    assert_eq!(q2.claims().key_lookup, key.lookup_id());
    assert_eq!(
        q2.claims().key_proof,
        key.auth_secret().proof(&installed.device_key)
    );
    // Re-installing the installed license (an answer to request 1) is now refused.
    let old = answer_with_counter(&installed);
    assert_eq!(
        m.install(&old).unwrap_err(),
        SdkError::SupersededRequest {
            answered: 1,
            newest: 2
        }
    );
    assert_eq!(m.status().license.unwrap().activation_id, first_ul);
    assert!(m.has_feature("mqtt-server"));
}

#[test]
fn renewal_needs_an_activation() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    assert_eq!(m.request_renewal().unwrap_err(), SdkError::NotActivated);
}

/// Re-signs exactly the given terms (the installed license's), as the vendor did.
fn answer_with_counter(terms: &tollgate_core::UsageTerms) -> String {
    issue(terms.clone(), &vendor()).to_armor()
}

#[test]
fn key_errors_are_typed() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    let mut typo = key().into_bytes();
    typo[3] = if typo[3] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    assert_eq!(
        m.request_usage(&typo).unwrap_err(),
        SdkError::Core(CoreError::KeyChecksum)
    );
    assert_eq!(
        m.request_usage("ENF9Y-M3N56").unwrap_err(),
        SdkError::Core(CoreError::KeyFormat)
    );
    assert_eq!(m.request_usage("").unwrap_err().code(), 117);
    // Lower case, spaces and no dashes are fine.
    m.request_usage(&key().to_lowercase().replace('-', " "))
        .unwrap();
}

#[test]
fn another_key_while_activated_is_refused() {
    let (mut m, _, _) = activated(&machine_a());
    assert_eq!(
        m.request_usage(&other_key()).unwrap_err(),
        SdkError::AlreadyActivated
    );
    // Before anything is installed, switching keys is fine and makes a new device key.
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    let r1 = m.request_usage(&key()).unwrap();
    let r2 = m.request_usage(&other_key()).unwrap();
    let (q1, q2) = (
        UsageRequest::from_armor(&r1).unwrap(),
        UsageRequest::from_armor(&r2).unwrap(),
    );
    assert_ne!(q1.device_key(), q2.device_key());
    assert_eq!(q2.claims().counter, 1);
    assert_eq!(
        m.install(&answer(&r1, mqtt())).unwrap_err(),
        SdkError::WrongDevice
    );
}

#[test]
fn license_for_another_machine_is_a_fingerprint_mismatch() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut a = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    let mut b = manager(MemoryStorage::new(), &clock, &machine_b()).unwrap();
    a.request_usage(&key()).unwrap();
    let rb = b.request_usage(&key()).unwrap();
    let ul_b = answer(&rb, grant(vec![perpetual("mqtt-server")], 2));
    assert_eq!(
        a.install(&ul_b).unwrap_err(),
        SdkError::Core(CoreError::FingerprintMismatch)
    );
    assert_eq!(a.status().state, LicenseState::Pending);

    // The state directory copied to another machine: the device key matches, the hardware not.
    let mem = MemoryStorage::new();
    let mut a = manager(mem.clone(), &clock, &machine_a()).unwrap();
    let ra = a.request_usage(&key()).unwrap();
    drop(a);
    let mut moved = manager(mem, &clock, &machine_b()).unwrap();
    assert_eq!(
        moved.install(&answer(&ra, mqtt())).unwrap_err(),
        SdkError::Core(CoreError::FingerprintMismatch)
    );
}

#[test]
fn license_for_another_installation_on_this_machine_is_wrong_device() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut a = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    let mut a2 = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    let fresh = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    a.request_usage(&key()).unwrap();
    let r2 = a2.request_usage(&key()).unwrap();
    let ul = answer(&r2, mqtt());
    assert_eq!(a.install(&ul).unwrap_err(), SdkError::WrongDevice);
    let mut fresh = fresh;
    assert_eq!(fresh.install(&ul).unwrap_err(), SdkError::NoPendingRequest);
}

#[test]
fn tampered_and_foreign_usage_licenses_are_refused_with_exact_errors() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    let req = m.request_usage(&key()).unwrap();
    let ul = answer(&req, mqtt());

    // One byte of the signed terms (the device key) changed, the armor's checksum recomputed:
    // bad signature.
    let mut bytes = armor::decode(ArtifactType::UsageLicense, &ul, 1024).unwrap();
    let device = *UsageRequest::from_armor(&req).unwrap().device_key();
    let i = bytes.windows(32).position(|w| w == device).unwrap();
    bytes[i] ^= 1;
    let forged = armor::encode(ArtifactType::UsageLicense, &bytes);
    assert_eq!(
        m.install(&forged).unwrap_err(),
        SdkError::Core(CoreError::BadSignature)
    );
    // One character changed in transit: checksum.
    let mut chars: Vec<char> = ul.chars().collect();
    chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
    let damaged: String = chars.into_iter().collect();
    assert_eq!(
        m.install(&damaged).unwrap_err(),
        SdkError::Core(CoreError::ArmorChecksum)
    );
    // Signed by a key the host's root did not certify.
    let rogue = VendorSigningKey::from_seed(&[9; 32]);
    let rogue_root = VendorSigningKey::from_seed(&[8; 32]);
    assert_eq!(
        m.install(&self_made(&req, mqtt(), &rogue, &rogue_root))
            .unwrap_err(),
        SdkError::Core(CoreError::KeyNotCertified)
    );
    // Another product: its signing key is certified for that product, not this one.
    let mut g = mqtt();
    g.product = "other".into();
    assert_eq!(
        m.install(&answer(&req, g)).unwrap_err(),
        SdkError::Core(CoreError::KeyNotCertified)
    );
    // The request pasted instead of the license.
    assert_eq!(
        m.install(&req).unwrap_err(),
        SdkError::Core(CoreError::WrongArtifactType)
    );
    assert_eq!(
        m.install("hello").unwrap_err(),
        SdkError::Core(CoreError::ArmorPrefix)
    );
    // Already expired.
    let mut g = mqtt();
    g.not_after = Some(T0 - 1);
    assert_eq!(
        m.install(&answer(&req, g)).unwrap_err(),
        SdkError::Core(CoreError::Expired)
    );
    // Nothing of that changed the state; the genuine one installs.
    assert_eq!(m.status().state, LicenseState::Pending);
    wrapped_install(&mut m, &ul);
}

/// Usage licenses arrive by email, wrapped: installing the wrapped text works.
fn wrapped_install(m: &mut LicenseManager, ul: &str) {
    let wrapped = armor::wrap(ul, 64);
    assert!(wrapped.contains('\n'));
    assert_eq!(m.install(&wrapped).unwrap().state, LicenseState::Active);
}

#[test]
fn expired_support_keeps_the_perpetual_feature() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    let req = m.request_usage(&key()).unwrap();
    let support_end = T0 + 10 * DAY; // 2023-11-24T22:13:20Z
    let g = grant(
        vec![
            perpetual("mqtt-server"),
            subscription("support", support_end),
        ],
        1,
    );
    clock.advance(3600);
    let st = m.install(&answer(&req, g)).unwrap();
    assert_eq!(st.state, LicenseState::Active);
    assert_eq!(
        st.warnings,
        ["support expires in 10 days, on 2023-11-24T22:13:20Z"]
    );
    assert!(m.has_feature("support"));

    clock.set(support_end - 1);
    assert_eq!(
        m.status().warnings,
        ["support expires in 1 day, on 2023-11-24T22:13:20Z"]
    );
    clock.set(support_end);
    assert!(m.has_feature("mqtt-server"));
    assert!(!m.has_feature("support"));
    assert!(m.has_feature_at("support", support_end - 1));
    let st = m.status();
    assert_eq!(st.state, LicenseState::Active);
    assert_eq!(st.warnings, ["support expired on 2023-11-24T22:13:20Z"]);
    let features = st.license.unwrap().features;
    assert_eq!(features.len(), 2);
    assert_eq!(
        (
            features[0].name.as_str(),
            features[0].kind,
            features[0].active
        ),
        ("mqtt-server", "perpetual", true)
    );
    assert_eq!(
        (
            features[1].name.as_str(),
            features[1].kind,
            features[1].active,
            features[1].expires_at.as_deref()
        ),
        (
            "support",
            "subscription",
            false,
            Some("2023-11-24T22:13:20Z")
        )
    );
}

#[test]
fn license_expiry_is_reported() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    let req = m.request_usage(&key()).unwrap();
    let mut g = mqtt();
    g.not_after = Some(T0 + 5 * DAY);
    m.install(&answer(&req, g)).unwrap();
    let st = m.status();
    assert_eq!(
        st.warnings,
        ["the license expires in 5 days, on 2023-11-19T22:13:20Z"]
    );
    assert_eq!(
        st.license.unwrap().valid_until.as_deref(),
        Some("2023-11-19T22:13:20Z")
    );
    clock.set(T0 + 5 * DAY);
    let st = m.status();
    assert_eq!(st.state, LicenseState::Expired);
    assert_eq!(st.error.unwrap().code, 115);
    assert!(!m.has_feature("mqtt-server"));
    assert_eq!(m.check(), Err(SdkError::Core(CoreError::Expired)));
}

#[test]
fn clock_rollback_is_detected_and_survives_restart() {
    let (m, clock, mem) = activated(&machine_a());
    let seen = T0 + 3600;
    // Within the tolerance (one hour by default): fine.
    clock.set(seen - 1800);
    assert_eq!(m.status().state, LicenseState::Active);
    assert!(m.has_feature("mqtt-server"));
    // Beyond it: nothing is licensed and every operation says why.
    clock.set(seen - 7200);
    let rollback = SdkError::ClockRollback {
        now: seen - 7200,
        high_water: seen,
    };
    let st = m.status();
    assert_eq!(st.state, LicenseState::ClockRollback);
    assert_eq!(st.error.as_ref().unwrap().code, 205);
    assert!(st.license.is_some());
    assert!(!m.has_feature("mqtt-server"));
    assert_eq!(m.check(), Err(rollback.clone()));
    // (A usage request is still allowed: it carries no trust, and its answer is how a clock
    // that ran ahead is corrected; see `a_clock_that_ran_ahead_is_repaired_by_a_new_license`.)
    drop(m);
    // The high-water mark is durable.
    let m = manager(mem.clone(), &clock, &machine_a()).unwrap();
    assert_eq!(m.status().state, LicenseState::ClockRollback);
    assert!(!m.has_feature("mqtt-server"));
    assert_eq!(stored_state(&mem)["high_water"], seen);
    // Clock fixed: licensed again.
    clock.set(seen + 10);
    assert!(m.has_feature("mqtt-server"));
    assert_eq!(m.status().state, LicenseState::Active);
}

#[test]
fn deactivation_retires_the_activation_for_good() {
    let (mut m, clock, mem) = activated(&machine_a());
    let device = m.entitlement().unwrap().terms().device_key;
    let ul = stored_state(&mem)["installed"]["usage_license"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance(DAY);
    let code = m.deactivate().unwrap();
    assert_eq!(m.last_deactivation_code(), Some(code.as_str()));

    // The vendor checks it with the activation's device key.
    let verified = DeactivationCode::from_armor(&code)
        .unwrap()
        .verify(&device)
        .unwrap();
    let c = verified.claims();
    assert_eq!(
        (c.activation_id, c.license_id, c.counter, c.deactivated_at),
        (7, 42, 1, T0 + 3600 + DAY)
    );

    let st = m.status();
    assert_eq!(st.state, LicenseState::Unlicensed);
    assert!(st.license.is_none());
    assert!(!m.has_feature("mqtt-server"));
    assert_eq!(m.deactivate().unwrap_err(), SdkError::NotActivated);
    // The old usage license can never come back, not even after a restart.
    assert_eq!(m.install(&ul).unwrap_err(), SdkError::Deactivated);
    drop(m);
    let mut m = manager(mem.clone(), &clock, &machine_a()).unwrap();
    assert_eq!(m.install(&ul).unwrap_err(), SdkError::Deactivated);
    assert_eq!(m.last_deactivation_code(), Some(code.as_str()));
    let state = stored_state(&mem);
    assert_eq!(state["tombstones"]["activations"], serde_json::json!([7]));
    assert_eq!(
        state["tombstones"]["device_keys"],
        serde_json::json!([hex::encode(device)])
    );
    assert_eq!(state["device"], serde_json::Value::Null);

    // A new activation gets a new device key and starts counting again.
    let r = m.request_usage(&key()).unwrap();
    let q = UsageRequest::from_armor(&r).unwrap();
    assert_ne!(*q.device_key(), device);
    assert_eq!(q.claims().counter, 1);
    let st = m.install(&answer_with(&r, mqtt(), 8, &vendor())).unwrap();
    assert_eq!(st.license.unwrap().activation_id, 8);
    // Even a re-issued license for the old activation id is refused.
    let r = m.request_usage(&key()).unwrap();
    assert_eq!(
        m.install(&answer_with(&r, mqtt(), 7, &vendor()))
            .unwrap_err(),
        SdkError::Deactivated
    );
}

#[test]
fn deactivation_works_when_the_license_no_longer_does() {
    let (mut m, clock, _) = activated(&machine_a());
    clock.set(T0 - 10 * DAY);
    assert_eq!(m.status().state, LicenseState::ClockRollback);
    let code = m.deactivate().unwrap();
    let c = DeactivationCode::from_armor(&code).unwrap();
    assert_eq!(c.claims().deactivated_at, T0 - 10 * DAY);
}

#[test]
fn a_failed_write_leaves_the_old_state() {
    // Write 1: the request. Write 2: the install (fails). Write 3: the install again.
    let clock = Arc::new(ManualClock::new(T0));
    let mem = MemoryStorage::new();
    let failing = Arc::new(FailingStorage::new(mem.clone(), 2));
    let mut m = manager(failing.clone(), &clock, &machine_a()).unwrap();
    let req = m.request_usage(&key()).unwrap();
    let before = mem.load("state.json").unwrap().unwrap();
    let ul = answer(&req, mqtt());
    let err = m.install(&ul).unwrap_err();
    assert_eq!(err.code(), 206);
    assert!(matches!(err, SdkError::Storage { .. }));
    assert_eq!(mem.load("state.json").unwrap().unwrap(), before);
    assert_eq!(m.status().state, LicenseState::Pending);
    assert!(!m.has_feature("mqtt-server"));
    assert_eq!(m.install(&ul).unwrap().state, LicenseState::Active);
    assert_eq!(failing.writes(), 3);

    // A failed meter write does not count the usage.
    let clock = Arc::new(ManualClock::new(T0));
    let mem = MemoryStorage::new();
    let failing = FailingStorage::new(mem.clone(), 4);
    let mut m = manager(failing, &clock, &machine_a()).unwrap();
    let req = m.request_usage(&key()).unwrap();
    m.install(&answer(
        &req,
        grant(vec![metered("bridge", 100, MeterPeriod::Day)], 1),
    ))
    .unwrap();
    assert_eq!(m.record_usage("bridge", 10).unwrap().used, 10);
    let before = mem.load("state.json").unwrap().unwrap();
    assert!(matches!(
        m.record_usage("bridge", 5).unwrap_err(),
        SdkError::Storage { .. }
    ));
    assert_eq!(mem.load("state.json").unwrap().unwrap(), before);
    assert_eq!(m.meter("bridge").unwrap().used, 10);
    assert_eq!(m.record_usage("bridge", 5).unwrap().used, 15);

    // A failed deactivation keeps the activation.
    let (mut m, clock, mem) = activated(&machine_a());
    let failing = FailingStorage::new(mem.clone(), 1);
    drop(m);
    m = manager(failing, &clock, &machine_a()).unwrap();
    // Opening at the same time as the last write stores nothing; the first write is the
    // deactivation.
    assert!(matches!(
        m.deactivate().unwrap_err(),
        SdkError::Storage { .. }
    ));
    assert_eq!(m.status().state, LicenseState::Active);
    assert!(m.has_feature("mqtt-server"));
    assert!(m.last_deactivation_code().is_none());
}

#[test]
fn one_replaced_nic_is_tolerated_two_changes_are_not() {
    let parts = [
        (ComponentKind::MachineId, "m"),
        (ComponentKind::Mac, "nic-1"),
        (ComponentKind::RootDisk, "disk-1"),
        (ComponentKind::Hostname, "h"),
    ];
    let clock = Arc::new(ManualClock::new(T0));
    let mem = MemoryStorage::new();
    let mut m = manager(mem.clone(), &clock, &parts).unwrap();
    let req = m.request_usage(&key()).unwrap();
    m.install(&answer(&req, grant(vec![perpetual("mqtt-server")], 3)))
        .unwrap();
    drop(m);

    let mut nic_replaced = parts;
    nic_replaced[1].1 = "nic-2";
    let m = manager(mem.clone(), &clock, &nic_replaced).unwrap();
    let st = m.status();
    assert_eq!(st.state, LicenseState::Active);
    let fp = st.license.unwrap().fingerprint;
    assert_eq!(
        (fp.matched, fp.licensed, fp.required, fp.ok),
        (3, 4, 3, true)
    );
    assert_eq!(
        st.warnings,
        ["1 of 4 fingerprint components changed since activation; the license needs 3 to match"]
    );
    assert!(m.has_feature("mqtt-server"));
    let report = m.fingerprint_report().unwrap();
    assert_eq!(report.missing.len(), 1);
    assert_eq!(report.missing[0].kind, "mac");
    assert_eq!(
        report.missing[0].digest,
        hex::encode(Component::derive(ComponentKind::Mac, b"nic-1", SALT).digest)
    );
    let new_nic = report.components.iter().find(|c| c.kind == "mac").unwrap();
    assert_eq!(new_nic.licensed, Some(false));
    drop(m);

    let mut disk_too = nic_replaced;
    disk_too[2].1 = "disk-2";
    let m = manager(mem, &clock, &disk_too).unwrap();
    let st = m.status();
    assert_eq!(st.state, LicenseState::FingerprintMismatch);
    assert_eq!(st.error.unwrap().code, 113);
    let fp = st.license.unwrap().fingerprint;
    assert_eq!((fp.matched, fp.ok), (2, false));
    assert!(!m.has_feature("mqtt-server"));
}

#[test]
fn meters_count_per_utc_period_and_enforce_quotas() {
    let clock = Arc::new(ManualClock::new(T0)); // 2023-11-14T22:13:20Z
    let mem = MemoryStorage::new();
    let mut m = manager(mem.clone(), &clock, &machine_a()).unwrap();
    let req = m.request_usage(&key()).unwrap();
    let g = grant(
        vec![
            perpetual("mqtt-server"),
            metered("bridge", 100, MeterPeriod::Day),
            metered("export", 5, MeterPeriod::Month),
        ],
        1,
    );
    m.install(&answer(&req, g)).unwrap();
    assert!(m.has_feature("bridge"));

    let r = m.record_usage("bridge", 60).unwrap();
    assert_eq!(
        (r.feature.as_str(), r.period, r.used, r.quota, r.remaining),
        ("bridge", "day", 60, 100, 40)
    );
    assert_eq!(
        (r.period_start, r.period_end),
        (1_699_920_000, 1_700_006_400)
    );
    assert_eq!(
        m.record_usage("bridge", 50).unwrap_err(),
        SdkError::QuotaExceeded {
            feature: "bridge".into(),
            used: 60,
            quota: 100,
            requested: 50
        }
    );
    assert_eq!(m.record_usage("bridge", 40).unwrap().remaining, 0);
    assert_eq!(m.record_usage("bridge", 1).unwrap_err().code(), 208);
    assert_eq!(m.record_usage("bridge", u64::MAX).unwrap_err().code(), 208);
    // A used-up quota does not switch the feature off: has_feature answers whether the
    // feature is licensed; the quota is enforced by record_usage (208) alone.
    assert!(m.has_feature("bridge"));
    assert!(m.feature_gate().has_feature("bridge"));
    assert_eq!(m.record_usage("export", 5).unwrap().used, 5);
    assert_eq!(
        m.record_usage("mqtt-server", 1).unwrap_err(),
        SdkError::NotMetered {
            feature: "mqtt-server".into()
        }
    );
    assert_eq!(
        m.record_usage("nope", 1).unwrap_err(),
        SdkError::UnknownFeature {
            feature: "nope".into()
        }
    );
    let st = m.status();
    let f = &st.license.unwrap().features[1];
    assert_eq!(
        (f.kind, f.quota, f.period, f.used),
        ("metered", Some(100), Some("day"), Some(100))
    );

    // Durable across a restart.
    drop(m);
    let mut m = manager(mem, &clock, &machine_a()).unwrap();
    assert_eq!(m.meter("bridge").unwrap().used, 100);
    // The next UTC day starts from zero; the month goes on.
    clock.set(1_700_006_400);
    assert_eq!(m.meter("bridge").unwrap().used, 0);
    assert_eq!(m.record_usage("bridge", 1).unwrap().used, 1);
    assert_eq!(m.meter("export").unwrap().used, 5);
    // A new month (2023-12-01) resets the monthly meter.
    clock.set(1_701_388_800);
    assert_eq!(m.record_usage("export", 5).unwrap().used, 5);
}

#[test]
fn operations_without_a_license() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    assert_eq!(m.deactivate().unwrap_err(), SdkError::NotActivated);
    assert_eq!(
        m.record_usage("bridge", 1).unwrap_err(),
        SdkError::NotActivated
    );
    assert_eq!(m.meter("bridge").unwrap_err().code(), 200);
}

#[test]
fn status_json_has_exactly_these_keys() {
    let clock = Arc::new(ManualClock::new(T0));
    let m = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&m.status_json()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "state": "unlicensed",
            "product": "chariot",
            "product_version": "4.2.0",
            "checked_at": "2023-11-14T22:13:20Z",
            "pending_request": false,
            "license": null,
            "warnings": [],
            "error": null
        })
    );

    let (m, _, _) = activated(&machine_a());
    let v: serde_json::Value = serde_json::from_str(&m.status_json()).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        [
            "checked_at",
            "error",
            "license",
            "pending_request",
            "product",
            "product_version",
            "state",
            "warnings"
        ]
    );
    assert_eq!(v["state"], "active");
    assert_eq!(
        keys(&v["license"]),
        [
            "activation_id",
            "customer",
            "deployment_model",
            "features",
            "fingerprint",
            "installed_at",
            "issued_at",
            "license_id",
            "product",
            "refresh_deadline",
            "revision",
            "valid_from",
            "valid_until",
            "vendor_key_id"
        ]
    );
    assert_eq!(
        v["license"]["features"],
        serde_json::json!([{
            "name": "mqtt-server", "kind": "perpetual", "expires_at": null, "active": true,
            "quota": null, "period": null, "used": null
        }])
    );
    assert_eq!(
        v["license"]["fingerprint"],
        serde_json::json!({"matched": 4, "licensed": 4, "required": 1, "ok": true})
    );
    assert_eq!(v["license"]["deployment_model"], "offline");
    assert_eq!(v["license"]["issued_at"], "2023-11-14T22:14:20Z");
}

#[test]
fn corrupt_or_newer_state_is_refused_and_left_alone() {
    let clock = Arc::new(ManualClock::new(T0));
    for (bytes, code) in [
        (&b"{ not json"[..], 207),
        (
            &b"{\"format\":\"tollgate-host-state\",\"version\":1}"[..],
            207,
        ),
        (
            &b"{\"format\":\"tollgate-host-state\",\"version\":9}"[..],
            217,
        ),
    ] {
        let mem = MemoryStorage::new();
        mem.store("state.json", bytes).unwrap();
        let err = manager(mem.clone(), &clock, &machine_a()).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert_eq!(mem.load("state.json").unwrap().unwrap(), bytes);
    }
}

#[test]
fn configuration_is_checked() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut c = config();
    c.product.clear();
    let e = LicenseManager::with_parts(
        c,
        Box::new(MemoryStorage::new()),
        clock.clone(),
        source(&machine_a()),
    )
    .unwrap_err();
    assert_eq!(e.code(), 211);
    let mut c = config();
    c.vendor_root = [0; 32];
    let e = LicenseManager::with_parts(
        c,
        Box::new(MemoryStorage::new()),
        clock,
        source(&machine_a()),
    )
    .unwrap_err();
    assert_eq!(e, SdkError::Core(CoreError::BadPublicKey));
}

#[test]
fn a_host_without_identifiers_can_still_show_status() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(MemoryStorage::new(), &clock, &[]).unwrap();
    assert_eq!(m.status().state, LicenseState::Unlicensed);
    assert_eq!(m.request_usage(&key()).unwrap_err().code(), 210);
    assert_eq!(m.fingerprint().unwrap_err().code(), 210);
}

// ---------------------------------------------------------------------------------------------
// A real crash: a child process killed while it writes the state continuously.
// ---------------------------------------------------------------------------------------------

const CRASH_ENV: &str = "TOLLGATE_SDK_CRASH_DIR";

fn crash_config_open(dir: &Path, clock: &Arc<ManualClock>) -> Result<LicenseManager, SdkError> {
    manager(DirStorage::open(dir)?, clock, &machine_a())
}

/// Not a test of its own: the body of the child process of `killed_mid_write_leaves_old_or_new`.
#[test]
fn crash_child_helper() {
    let Ok(dir) = std::env::var(CRASH_ENV) else {
        return;
    };
    let clock = Arc::new(ManualClock::new(T0 + 3600));
    let mut m = crash_config_open(Path::new(&dir), &clock).unwrap();
    loop {
        m.record_usage("bridge", 1).unwrap();
    }
}

#[test]
fn killed_mid_write_leaves_old_or_new() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let clock = Arc::new(ManualClock::new(T0));
    {
        let mut m = crash_config_open(&dir, &clock).unwrap();
        let req = m.request_usage(&key()).unwrap();
        m.install(&answer(
            &req,
            grant(vec![metered("bridge", u64::MAX, MeterPeriod::Year)], 1),
        ))
        .unwrap();
    }
    clock.set(T0 + 3600);
    let exe = std::env::current_exe().unwrap();
    let mut last = 0u64;
    // Kill until at least two kills landed while a temporary file existed, i.e. between the
    // start of a write and its rename (most do: the child does little but write).
    let mut mid_write_kills = 0;
    for round in 0..40u64 {
        if mid_write_kills >= 2 {
            break;
        }
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_helper",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_ENV, &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the child is writing, then let it write a little more and kill it.
        let start = Instant::now();
        loop {
            let used = std::fs::read(dir.join("state.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["meters"][0]["used"].as_u64())
                .unwrap_or(0);
            if used > last || start.elapsed() > Duration::from_secs(30) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(2 + round % 7));
        child.kill().unwrap();
        child.wait().unwrap();
        if dir.join(".tmp-state.json").exists() {
            mid_write_kills += 1;
        }

        // The state is whole (the old or the new document), and the lock died with the child.
        let m = crash_config_open(&dir, &clock).unwrap();
        assert_eq!(m.status().state, LicenseState::Active);
        let used = m.meter("bridge").unwrap().used;
        assert!(used > last, "round {round}: {used} <= {last}");
        last = used;
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    assert!(mid_write_kills >= 1, "no kill landed during a write");
}

#[test]
fn a_license_from_a_root_no_longer_trusted_is_invalid() {
    let (m, clock, mem) = activated(&machine_a());
    drop(m);
    let mut c = config();
    c.vendor_root = VendorSigningKey::from_seed(&[5; 32]).public_key();
    let mut m = LicenseManager::with_parts(c, Box::new(mem), clock, source(&machine_a())).unwrap();
    let st = m.status();
    assert_eq!(st.state, LicenseState::Invalid);
    assert!(st.license.is_none());
    assert_eq!(st.error.unwrap().name, "KeyNotCertified");
    assert!(!m.has_feature("mqtt-server"));
    assert_eq!(
        m.deactivate().unwrap_err(),
        SdkError::Core(CoreError::KeyNotCertified)
    );
}

#[test]
fn host_config_from_json() {
    let cfg = HostConfig::from_json(
        r#"{"product": "chariot", "product_version": "4.2.0", "fingerprint_salt": "chariot-salt",
            "warn_days": 7, "min_components": 3, "comment": "ignored"}"#,
        root().public_key(),
    )
    .unwrap();
    let mut expected = config();
    expected.warn_days = 7;
    expected.min_components = 3;
    assert_eq!(cfg, expected);
    for bad in [
        "",
        "[]",
        r#"{"product": "chariot"}"#,
        r#"{"product": "c", "product_version": "1", "fingerprint_salt": "s", "warn_days": -1}"#,
        r#"{"product": "c", "product_version": "1", "fingerprint_salt": "s", "min_components": 1}"#,
        r#"{"product": "c", "product_version": "1", "fingerprint_salt": "s", "key_list": 7}"#,
    ] {
        let e = HostConfig::from_json(bad, vendor().public_key()).unwrap_err();
        assert_eq!(e.code(), 211, "{bad}: {e}");
    }
}

/// The root is compiled in: a configuration file that names keys, a root or a tolerance is
/// refused, not silently ignored (issue 11 §1, §2).
#[test]
fn host_config_from_json_refuses_keys_roots_and_policy() {
    let key_hex = hex::encode(vendor().public_key());
    for field in [
        "vendor_keys",
        "vendor_root",
        "root",
        "root_key",
        "rollback_tolerance_secs",
    ] {
        let text = format!(
            r#"{{"product": "chariot", "product_version": "4.2.0", "fingerprint_salt": "s",
                "{field}": ["{key_hex}"]}}"#
        );
        let e = HostConfig::from_json(&text, vendor().public_key()).unwrap_err();
        assert_eq!(
            e,
            SdkError::UntrustedConfig {
                field: field.into()
            }
        );
        assert_eq!((e.code(), e.name()), (235, "UntrustedConfig"));
    }
}

#[test]
fn open_with_a_cached_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.fingerprint.probes = false;
    cfg.fingerprint.extra = vec![
        (ComponentKind::Operator, b"op-1".to_vec()),
        (ComponentKind::Workload, b"pod-1".to_vec()),
    ];
    let clock: Arc<dyn tollgate_sdk::Clock> = Arc::new(tollgate_sdk::CachedClock::new());
    let mut m = LicenseManager::open_with_clock(cfg.clone(), dir.path(), clock).unwrap();
    let req = m.request_usage(&key()).unwrap();
    let st = m.install(&answer(&req, mqtt())).unwrap();
    assert_eq!(st.state, LicenseState::Active);
    assert!(m.has_feature("mqtt-server"));
    let installed = m.installed_license().unwrap();
    assert_eq!(installed.terms().activation_id, 7);
    assert_eq!(
        LicenseManager::open(cfg, dir.path()).unwrap_err(),
        SdkError::StateLocked
    );
}

#[test]
fn verify_a_usage_license_without_state() {
    let (mut m, clock, _) = activated(&machine_a());
    let req = m.request_renewal().unwrap();
    let armored = answer(
        &req,
        grant(
            vec![perpetual("mqtt-server"), subscription("support", T0 + DAY)],
            1,
        ),
    );
    let mut cfg = config();
    cfg.fingerprint.probes = false;
    cfg.fingerprint.allow_override = true;
    cfg.fingerprint.extra = machine_a()
        .iter()
        .map(|(k, v)| (*k, v.as_bytes().to_vec()))
        .collect();
    let now = tollgate_sdk::Clock::now(&*clock);
    let info = tollgate_sdk::verify_usage_license(&cfg, &armored, now).unwrap();
    assert_eq!((info.license_id, info.activation_id), (42, 7));
    assert!(info.installed_at.is_none());
    assert_eq!(
        info.features
            .iter()
            .map(|f| (f.name.as_str(), f.active))
            .collect::<Vec<_>>(),
        [("mqtt-server", true), ("support", true)]
    );
    let later = tollgate_sdk::verify_usage_license(&cfg, &armored, T0 + 2 * DAY).unwrap();
    assert!(!later.features[1].active);
    // Another machine, another product, garbage.
    cfg.fingerprint.extra = machine_b()
        .iter()
        .map(|(k, v)| (*k, v.as_bytes().to_vec()))
        .collect();
    assert_eq!(
        tollgate_sdk::verify_usage_license(&cfg, &armored, now),
        Err(SdkError::Core(CoreError::FingerprintMismatch))
    );
    assert_eq!(
        tollgate_sdk::verify_usage_license(&cfg, "TGUL:AAAA", now)
            .unwrap_err()
            .code()
            / 100,
        1
    );
    cfg.product_version.clear();
    assert_eq!(
        tollgate_sdk::verify_usage_license(&cfg, &armored, now)
            .unwrap_err()
            .code(),
        211
    );
}

#[test]
fn the_feature_gate_follows_the_manager_and_agrees_with_the_entitlement() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    let gate = m.feature_gate();
    assert!(!gate.has_feature("mqtt-server"));
    let req = m.request_usage(&key()).unwrap();
    let mut g = grant(
        vec![
            perpetual("mqtt-server"),
            subscription("support", T0 + 10 * DAY),
            metered("iot-bridge-snowflake", 5, MeterPeriod::Day),
            perpetual(&"x".repeat(32)),
        ],
        1,
    );
    g.not_before = Some(T0);
    g.not_after = Some(T0 + 20 * DAY);
    clock.advance(3600);
    m.install(&answer(&req, g)).unwrap();
    let high_water = T0 + 3600;
    let ent = m.entitlement().unwrap().clone();
    let long = "x".repeat(32);
    let too_long = "x".repeat(33);
    let names = [
        "mqtt-server",
        "support",
        "iot-bridge-snowflake",
        long.as_str(),
        too_long.as_str(),
        "",
        "mqtt",
        "mqtt-server-x",
        "MQTT-SERVER",
    ];
    let times = [
        0,
        T0 - 1,
        T0,
        T0 + 1,
        T0 + 10 * DAY - 1,
        T0 + 10 * DAY,
        T0 + 20 * DAY - 1,
        T0 + 20 * DAY,
        u64::MAX,
    ];
    for now in times {
        for name in names {
            let expected = ent.has_feature(name, now) && now.saturating_add(3600) >= high_water;
            assert_eq!(gate.has_feature_at(name, now), expected, "{name} at {now}");
            assert_eq!(m.has_feature_at(name, now), expected, "{name} at {now}");
        }
    }
    assert!(gate.has_feature("mqtt-server") && gate.has_feature(&long));

    // Readers on other threads while the manager deactivates and activates again.
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (gate, stop, checks) = (Arc::clone(&gate), Arc::clone(&stop), Arc::clone(&checks));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = gate.has_feature("mqtt-server");
                    assert!(!gate.has_feature("nope"));
                    checks.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while checks.load(Ordering::Relaxed) < 1000 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    m.deactivate().unwrap();
    assert!(!gate.has_feature("mqtt-server"));
    let req = m.request_usage(&key()).unwrap();
    m.install(&answer_with(&req, mqtt(), 8, &vendor())).unwrap();
    assert!(gate.has_feature("mqtt-server") && !gate.has_feature("support"));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(checks.load(Ordering::Relaxed) >= 1000);
    // A clock rollback closes the gate too.
    clock.set(T0 - DAY);
    assert!(!gate.has_feature("mqtt-server"));
}

/// Issue 11 §2: a long-running host whose clock goes back from day 21 to day 19 must not get
/// its Support (expired on day 20) back, and must say so, without anyone calling `refresh()`.
#[test]
fn a_clock_set_back_while_running_is_caught_by_the_feature_check() {
    let clock = Arc::new(ManualClock::new(T0));
    let mem = MemoryStorage::new();
    let mut m = manager(mem.clone(), &clock, &machine_a()).unwrap();
    let req = m.request_usage(&key()).unwrap();
    let g = grant(
        vec![
            perpetual("mqtt-server"),
            subscription("support", T0 + 20 * DAY),
        ],
        1,
    );
    clock.advance(3600);
    m.install(&answer(&req, g)).unwrap();
    let gate = m.feature_gate();
    assert!(m.has_feature("support") && gate.has_feature("support"));

    clock.set(T0 + 21 * DAY);
    assert!(!m.has_feature("support"));
    assert!(m.has_feature("mqtt-server"));
    assert_eq!(m.status().state, LicenseState::Active);

    // Back to day 19: no refresh(), no state write in between.
    clock.set(T0 + 19 * DAY);
    assert!(!m.has_feature("support"));
    assert!(!gate.has_feature("support"));
    assert!(!m.has_feature("mqtt-server"));
    let st = m.status();
    assert_eq!(st.state, LicenseState::ClockRollback);
    let error = st.error.unwrap();
    assert_eq!(error.code, 205);
    assert!(matches!(
        m.check(),
        Err(SdkError::ClockRollback { now, high_water })
            if now == T0 + 19 * DAY && high_water == T0 + 21 * DAY
    ));
    // Asking about an explicit time does not move the mark: it is not a clock reading.
    clock.set(T0 + 21 * DAY);
    assert!(gate.has_feature("mqtt-server"));
    assert!(gate.has_feature_at("mqtt-server", T0 + 400 * DAY));
    assert!(gate.has_feature("mqtt-server"));
    assert_eq!(m.status().state, LicenseState::Active);

    // The next state write records the mark.
    m.refresh().unwrap();
    assert_eq!(stored_state(&mem)["high_water"], T0 + 21 * DAY);
}

// ---------------------------------------------------------------------------------------------
// Issue 11: root of trust, policy in the grant, time floor, clock that ran ahead, fingerprint
// minimum, deployment model
// ---------------------------------------------------------------------------------------------

/// What a usage license signed by `signer` without the authority's root looks like to a
/// customer who made their own root (`tollgate vendor init` in their own directory).
fn self_made(
    request: &str,
    grant: Grant,
    signer: &VendorSigningKey,
    own_root: &VendorSigningKey,
) -> String {
    let req = UsageRequest::from_armor(request).unwrap();
    let terms = UsageTerms {
        grant,
        activation_id: 99,
        model: DeploymentModel::Offline,
        device_key: *req.device_key(),
        request_counter: req.claims().counter,
        fingerprint: req.claims().fingerprint.clone(),
        issued_at: req.claims().created_at + 60,
        refresh_deadline: None,
    };
    UsageLicense::issue_with_certificate(terms, signer, &certificate(signer, own_root))
        .unwrap()
        .to_armor()
}

/// Issue 11 §1, through the sdk API: a customer mints a license with every feature with a key
/// of their own, certified by a root of their own, and offers that key through the host
/// configuration file (as `vendor_keys`, or as a self-made certificate). Every way is refused
/// and the state is unchanged.
#[test]
fn a_customer_minted_license_is_refused_however_the_key_is_offered() {
    let clock = Arc::new(ManualClock::new(T0));
    let mem = MemoryStorage::new();
    let mut m = manager(mem.clone(), &clock, &machine_a()).unwrap();
    let req = m.request_usage(&key()).unwrap();
    let before = mem.load("state.json").unwrap().unwrap();
    let own_root = VendorSigningKey::from_seed(&[0x66; 32]);
    let own_key = VendorSigningKey::from_seed(&[0x67; 32]);
    let everything = grant(
        vec![
            perpetual("mqtt-server"),
            subscription("support", 4_070_908_800), // 2099
            metered("bridge", u64::MAX, MeterPeriod::Month),
        ],
        1,
    );
    // 1. Installed as is: its certificate is signed by another root.
    let minted = self_made(&req, everything.clone(), &own_key, &own_root);
    assert_eq!(
        m.install(&minted).unwrap_err(),
        SdkError::Core(CoreError::KeyNotCertified)
    );
    // Signed with the customer's root itself, no certificate at all.
    let bare = {
        let r = UsageRequest::from_armor(&req).unwrap();
        UsageLicense::issue(
            UsageTerms {
                grant: everything.clone(),
                activation_id: 99,
                model: DeploymentModel::Offline,
                device_key: *r.device_key(),
                request_counter: r.claims().counter,
                fingerprint: r.claims().fingerprint.clone(),
                issued_at: T0 + 60,
                refresh_deadline: None,
            },
            &own_root,
        )
        .unwrap()
        .to_armor()
    };
    assert_eq!(
        m.install(&bare).unwrap_err(),
        SdkError::Core(CoreError::KeyNotCertified)
    );
    assert_eq!(mem.load("state.json").unwrap().unwrap(), before);
    assert!(!m.has_feature("support"));
    drop(m);

    // 2. The key offered in the configuration file as `vendor_keys`: the file is refused.
    let json = format!(
        r#"{{"product": "chariot", "product_version": "4.2.0", "fingerprint_salt": "chariot-salt",
            "vendor_keys": ["{}"]}}"#,
        hex::encode(own_key.public_key())
    );
    assert_eq!(
        HostConfig::from_json(&json, root().public_key()).unwrap_err(),
        SdkError::UntrustedConfig {
            field: "vendor_keys".into()
        }
    );
    // 3. ... or as a self-made certificate: the compiled-in root did not sign it.
    let json = format!(
        r#"{{"product": "chariot", "product_version": "4.2.0", "fingerprint_salt": "chariot-salt",
            "key_certificates": ["{}"]}}"#,
        certificate(&own_key, &own_root).to_armor()
    );
    let cfg = HostConfig::from_json(&json, root().public_key()).unwrap();
    let e = LicenseManager::with_parts(
        cfg,
        Box::new(mem.clone()),
        clock.clone(),
        source(&machine_a()),
    )
    .unwrap_err();
    assert_eq!(e, SdkError::Core(CoreError::UnknownKeyId));
    assert_eq!(mem.load("state.json").unwrap().unwrap(), before);

    // The genuine certificate in the file is accepted (and changes nothing by itself).
    let json = format!(
        r#"{{"product": "chariot", "product_version": "4.2.0", "fingerprint_salt": "chariot-salt",
            "key_certificates": ["{}"]}}"#,
        certificate(&vendor(), &root()).to_armor()
    );
    let cfg = HostConfig::from_json(&json, root().public_key()).unwrap();
    let mut m = LicenseManager::with_parts(cfg, Box::new(mem.clone()), clock, source(&machine_a()))
        .unwrap();
    assert_eq!(
        m.install(&minted).unwrap_err(),
        SdkError::Core(CoreError::KeyNotCertified)
    );
    assert_eq!(
        m.install(&answer(&req, mqtt())).unwrap().state,
        LicenseState::Active
    );
}

/// Issue 11 §1: a usage license without an embedded certificate counts when the configuration
/// carries the root's certificate of its key; a root-signed key list retires the key, the
/// host keeps the highest list it has seen and refuses an older one.
#[test]
fn certificates_in_the_configuration_and_key_lists_in_the_state() {
    let clock = Arc::new(ManualClock::new(T0));
    let mem = MemoryStorage::new();
    let mut cfg = config();
    cfg.key_certificates = vec![certificate(&vendor(), &root()).to_armor()];
    let mut m = LicenseManager::with_parts(
        cfg.clone(),
        Box::new(mem.clone()),
        clock.clone(),
        source(&machine_a()),
    )
    .unwrap();
    let req = m.request_usage(&key()).unwrap();
    let r = UsageRequest::from_armor(&req).unwrap();
    let bare = UsageLicense::issue(
        UsageTerms {
            grant: mqtt(),
            activation_id: 7,
            model: DeploymentModel::Offline,
            device_key: *r.device_key(),
            request_counter: r.claims().counter,
            fingerprint: r.claims().fingerprint.clone(),
            issued_at: T0 + 60,
            refresh_deadline: None,
        },
        &vendor(),
    )
    .unwrap()
    .to_armor();
    clock.advance(3600);
    assert_eq!(m.install(&bare).unwrap().state, LicenseState::Active);

    let list = |seq: u64, retired: &[tollgate_core::KeyId]| {
        tollgate_core::KeyList::issue("chariot", seq, T0 + 1800, retired, &root())
            .unwrap()
            .to_armor()
    };
    assert_eq!(m.apply_key_list(&list(2, &[])).unwrap(), 2);
    assert_eq!(stored_state(&mem)["key_list"], list(2, &[]));
    assert_eq!(
        m.apply_key_list(&list(1, &[vendor().key_id()]))
            .unwrap_err(),
        SdkError::Core(CoreError::StaleKeyList)
    );
    // A list signed by another root is refused.
    let foreign = tollgate_core::KeyList::issue(
        "chariot",
        9,
        T0,
        &[],
        &VendorSigningKey::from_seed(&[0x66; 32]),
    )
    .unwrap()
    .to_armor();
    assert_eq!(
        m.apply_key_list(&foreign).unwrap_err(),
        SdkError::Core(CoreError::UnknownKeyId)
    );
    assert!(m.has_feature("mqtt-server"));
    // Sequence 3 retires the vendor key: its license is no longer valid.
    assert_eq!(m.apply_key_list(&list(3, &[vendor().key_id()])).unwrap(), 3);
    assert!(!m.has_feature("mqtt-server"));
    assert_eq!(m.status().error.unwrap().name, "KeyRetired");
    drop(m);
    // After a restart, an older list shipped in the configuration does not undo it.
    cfg.key_list = Some(list(2, &[]));
    let m = LicenseManager::with_parts(cfg, Box::new(mem.clone()), clock, source(&machine_a()))
        .unwrap();
    assert!(!m.has_feature("mqtt-server"));
    assert_eq!(
        stored_state(&mem)["key_list"],
        list(3, &[vendor().key_id()])
    );
}

/// Issue 11 §2: the rollback tolerance is the signed grant's, not a host setting.
#[test]
fn the_rollback_tolerance_comes_from_the_grant() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    assert_eq!(m.rollback_tolerance(), 3600);
    let req = m.request_usage(&key()).unwrap();
    let mut g = mqtt();
    g.rollback_tolerance_secs = 60;
    clock.advance(3600);
    m.install(&answer(&req, g)).unwrap();
    assert_eq!(m.rollback_tolerance(), 60);
    let seen = T0 + 3600;
    clock.set(seen - 60);
    assert!(m.has_feature("mqtt-server"));
    clock.set(seen - 61);
    assert!(!m.has_feature("mqtt-server"));
    assert!(matches!(m.check(), Err(SdkError::ClockRollback { .. })));
}

/// Issue 11 §2 time floor: Support expired, the clock set back AND `high_water` zeroed in
/// state.json: still a rollback, Support not usable, because the installed usage license's
/// signed `issued_at` (and the signed time kept in the state) are a floor too.
#[test]
fn zeroing_the_high_water_mark_does_not_bring_back_an_expired_subscription() {
    let clock = Arc::new(ManualClock::new(T0));
    let mem = MemoryStorage::new();
    let mut m = manager(mem.clone(), &clock, &machine_a()).unwrap();
    let req = m.request_usage(&key()).unwrap();
    let g = grant(
        vec![
            perpetual("mqtt-server"),
            subscription("support", T0 + 20 * DAY),
        ],
        1,
    );
    clock.advance(3600);
    m.install(&answer(&req, g.clone())).unwrap();
    // Day 21: Support expired; the renewal round trip (Support not renewed) brings a usage
    // license signed on day 21.
    clock.set(T0 + 21 * DAY);
    let req = m.request_renewal().unwrap();
    m.install(&answer(&req, g)).unwrap();
    assert!(!m.has_feature("support"));
    drop(m);

    // The customer sets the clock back to day 19 and zeroes every time in state.json.
    clock.set(T0 + 19 * DAY);
    let mut doc = stored_state(&mem);
    doc["high_water"] = 0.into();
    doc["signed_time"] = 0.into();
    mem.store("state.json", &serde_json::to_vec(&doc).unwrap())
        .unwrap();
    let m = manager(mem.clone(), &clock, &machine_a()).unwrap();
    assert!(!m.has_feature("support"));
    assert!(!m.has_feature("mqtt-server"));
    assert_eq!(m.status().state, LicenseState::ClockRollback);
    assert!(matches!(
        m.check(),
        Err(SdkError::ClockRollback { now, high_water })
            if now == T0 + 19 * DAY && high_water == T0 + 21 * DAY + 60
    ));
}

/// Issue 11 §2: a clock that ran ahead and was corrected. Before: every new usage request
/// failed with 205 until state.json was edited. Now: a request is allowed while rolled back,
/// and installing the NEW usage license that answers it (signed at the vendor's real time)
/// resets the high-water mark; an old one, or one answering while the clock is still wrong,
/// does not.
#[test]
fn a_clock_that_ran_ahead_is_repaired_by_a_new_usage_license() {
    let (mut m, clock, mem) = activated(&machine_a());
    // The clock jumps ahead by a year and is seen there, then corrected.
    clock.set(T0 + 365 * DAY);
    m.refresh().unwrap();
    assert_eq!(stored_state(&mem)["high_water"], T0 + 365 * DAY);
    clock.set(T0 + 2 * DAY);
    assert_eq!(m.status().state, LicenseState::ClockRollback);
    assert!(!m.has_feature("mqtt-server"));
    // Reinstalling the installed license does not repair it.
    let old = stored_state(&mem)["installed"]["usage_license"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(matches!(
        m.install(&old).unwrap_err(),
        SdkError::ClockRollback { .. }
    ));
    // A renewal request is allowed; the vendor answers at the real time (request time + 60 s).
    let req = m.request_renewal().unwrap();
    let st = m.install(&answer(&req, mqtt())).unwrap();
    assert_eq!(st.state, LicenseState::Active);
    assert!(m.has_feature("mqtt-server"));
    assert_eq!(stored_state(&mem)["high_water"], T0 + 2 * DAY + 60);
    assert_eq!(stored_state(&mem)["signed_time"], T0 + 2 * DAY + 60);
    drop(m);
    let m = manager(mem, &clock, &machine_a()).unwrap();
    assert!(m.has_feature("mqtt-server"));
}

/// A clock set back on purpose cannot use the repair: the new license's signed time is the
/// vendor's, and the host's clock must not read earlier than it.
#[test]
fn the_repair_needs_the_clock_to_agree_with_the_vendor() {
    let (mut m, clock, mem) = activated(&machine_a());
    clock.set(T0 + 30 * DAY);
    m.refresh().unwrap();
    clock.set(T0 + 5 * DAY);
    let req = m.request_renewal().unwrap();
    // The vendor signs at its real time, day 30.
    let r = UsageRequest::from_armor(&req).unwrap();
    let ul = issue(
        UsageTerms {
            grant: mqtt(),
            activation_id: 7,
            model: DeploymentModel::Offline,
            device_key: *r.device_key(),
            request_counter: r.claims().counter,
            fingerprint: r.claims().fingerprint.clone(),
            issued_at: T0 + 30 * DAY,
            refresh_deadline: None,
        },
        &vendor(),
    )
    .to_armor();
    let before = mem.load("state.json").unwrap().unwrap();
    assert_eq!(
        m.install(&ul).unwrap_err(),
        SdkError::ClockRollback {
            now: T0 + 5 * DAY,
            high_water: T0 + 30 * DAY
        }
    );
    assert_eq!(mem.load("state.json").unwrap().unwrap(), before);
    assert!(!m.has_feature("mqtt-server"));
}

/// Issue 11 §2 fingerprint minimum: the sdk refuses to make a request from fewer distinct
/// component kinds than the minimum, and supplying a probed kind needs the explicit opt-in.
#[test]
fn the_fingerprint_minimum_and_the_override_opt_in() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(
        MemoryStorage::new(),
        &clock,
        &[(ComponentKind::Operator, "x")],
    )
    .unwrap();
    let e = m.request_usage(&key()).unwrap_err();
    assert_eq!(
        e,
        SdkError::TooFewComponents {
            found: 1,
            required: 2
        }
    );
    assert_eq!(e.code(), 237);
    // Two values of one kind are still one kind.
    let mut m = manager(
        MemoryStorage::new(),
        &clock,
        &[(ComponentKind::Mac, "a"), (ComponentKind::Mac, "b")],
    )
    .unwrap();
    assert!(matches!(
        m.request_renewal().unwrap_err(),
        SdkError::NotActivated
    ));
    assert_eq!(
        m.request_usage(&key()).unwrap_err(),
        SdkError::TooFewComponents {
            found: 1,
            required: 2
        }
    );
    // A stricter minimum from the configuration.
    let mut cfg = config();
    cfg.min_components = 5;
    let mut m = LicenseManager::with_parts(
        cfg,
        Box::new(MemoryStorage::new()),
        clock.clone(),
        source(&machine_a()),
    )
    .unwrap();
    assert_eq!(
        m.request_usage(&key()).unwrap_err(),
        SdkError::TooFewComponents {
            found: 4,
            required: 5
        }
    );
    // Supplying a probed kind without the opt-in.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.fingerprint.probes = false;
    cfg.fingerprint.extra = vec![
        (ComponentKind::MachineId, b"claimed".to_vec()),
        (ComponentKind::Operator, b"op".to_vec()),
    ];
    let e = LicenseManager::open(cfg.clone(), dir.path()).unwrap_err();
    assert_eq!(
        e,
        SdkError::ComponentOverride {
            kind: "machine-id".into()
        }
    );
    assert_eq!(e.code(), 238);
    cfg.fingerprint.allow_override = true;
    let mut m = LicenseManager::open(cfg, dir.path()).unwrap();
    assert!(m.request_usage(&key()).unwrap().starts_with("TGRQ:"));
}

/// Everything a failed install could have touched: the status, the stored state, the answers.
fn snapshot(m: &LicenseManager, mem: &MemoryStorage) -> (tollgate_sdk::Status, Vec<u8>, bool) {
    (
        m.status(),
        mem.load("state.json").unwrap().unwrap(),
        m.has_feature("mqtt-server"),
    )
}

#[test]
fn every_failed_install_leaves_the_state_exactly_as_it_was() {
    // Active, with an upgrade request pending.
    let (mut m, clock, mem) = activated(&machine_a());
    let first = m.request_renewal().unwrap();
    clock.advance(60);
    let second = m.request_renewal().unwrap();
    clock.advance(60);
    let before = snapshot(&m, &mem);
    assert_eq!(before.0.state, LicenseState::Active);
    assert!(before.0.pending_request && before.2);

    // Another machine's answer, and another installation's on this machine.
    let other_clock = Arc::new(ManualClock::new(T0 + 3600));
    let mut other = manager(MemoryStorage::new(), &other_clock, &machine_b()).unwrap();
    let other_request = other.request_usage(&key()).unwrap();
    let mut twin = manager(MemoryStorage::new(), &other_clock, &machine_a()).unwrap();
    let twin_request = twin.request_usage(&key()).unwrap();
    let mut expired = mqtt();
    expired.not_after = Some(T0 + 3600);
    let failures: Vec<(String, u32)> = vec![
        ("TGUL:garbage".into(), 101),
        (answer(&other_request, mqtt()), 113),
        (answer(&twin_request, mqtt()), 203),
        // The superseded request's answer.
        (answer(&first, mqtt()), 202),
        // Expired at now.
        (answer(&second, expired), 115),
    ];
    for (text, code) in failures {
        let err = m.install(&text).unwrap_err();
        assert_eq!(err.code(), code, "{err:?}");
        assert_eq!(snapshot(&m, &mem), before, "after {err:?}");
    }
    // The right answer still installs.
    assert_eq!(
        m.install(&answer(&second, mqtt())).unwrap().state,
        LicenseState::Active
    );
    assert!(!m.status().pending_request);
}

#[test]
fn a_validly_signed_license_past_year_9999_installs_and_reports() {
    // The vendor refuses such times (332), but a host must not break on one that was signed.
    let clock = Arc::new(ManualClock::new(T0));
    let mut m = manager(MemoryStorage::new(), &clock, &machine_a()).unwrap();
    let req = m.request_usage(&key()).unwrap();
    let far = tollgate_core::MAX_VENDOR_TIME + 1;
    let mut g = grant(
        vec![perpetual("mqtt-server"), subscription("support", u64::MAX)],
        1,
    );
    g.not_after = Some(far);
    let st = m.install(&answer(&req, g)).unwrap();
    assert_eq!(st.state, LicenseState::Active);
    let info = st.license.unwrap();
    assert_eq!(info.valid_until.as_deref(), Some("+10000-01-01T00:00:00Z"));
    assert_eq!(info.times.valid_until, Some(far));
    assert_eq!(info.features[1].expires_at_secs, Some(u64::MAX));
    assert_eq!(
        info.features[1].expires_at.as_deref(),
        Some("+584554051223-11-09T07:00:15Z")
    );
    assert!(m.has_feature("support"));
    clock.set(far);
    assert_eq!(m.status().state, LicenseState::Expired);
    assert!(!m.has_feature("mqtt-server"));
}
