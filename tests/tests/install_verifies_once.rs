//! Installing a usage license checks its signatures once: as many ed25519 verifications as
//! one stateless verification of the same license (issue 13: it used to cost about twice as
//! much). The core counts its verifications with the `fixtures` feature
//! (`reference::signature_checks`); this file holds one test, so no other test of the same
//! process verifies anything meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use tollgate_authority::{Authority, IssueSpec};
use tollgate_core::reference::{self, signature_checks, CUSTOMER, PRODUCT, PRODUCT_VERSION};
use tollgate_core::{ComponentKind, DeploymentModel, Models};
use tollgate_sdk::fingerprint::StaticSource;
use tollgate_sdk::storage::MemoryStorage;
use tollgate_sdk::{HostConfig, LicenseManager, LicenseState, ManualClock};

const T0: u64 = 1_795_000_000;
const MACHINE: [(ComponentKind, &str); 4] = [
    (ComponentKind::MachineId, "machine-once"),
    (ComponentKind::Mac, "02:42:ac:11:00:0a"),
    (ComponentKind::RootDisk, "disk-once"),
    (ComponentKind::Hostname, "broker-once"),
];

/// The verifications `f` makes.
fn checks<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = signature_checks();
    let out = f();
    (out, signature_checks() - before)
}

#[test]
fn install_verifies_each_signature_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut vendor = Authority::open(dir.path().join("vendor")).unwrap();
    vendor.create_root_key(T0).unwrap();
    vendor.create_signing_key(T0).unwrap();
    let mut spec = IssueSpec::new(PRODUCT, CUSTOMER);
    spec.features = vec![reference::mqtt_server()];
    spec.models = Models::of(&[DeploymentModel::Offline]);
    let key = vendor.issue(spec, T0).unwrap().key.expose();
    let config = HostConfig::new(
        PRODUCT,
        PRODUCT_VERSION,
        "chariot-salt",
        vendor.root_public_key().unwrap(),
    );
    let mut host = LicenseManager::with_parts(
        config.clone(),
        Box::new(MemoryStorage::new()),
        Arc::new(ManualClock::new(T0)),
        Box::new(StaticSource::from_strs(&MACHINE)),
    )
    .unwrap();
    let request = host.request_usage(&key).unwrap();
    let usage_license = vendor
        .fulfil(&request, DeploymentModel::Offline, T0)
        .unwrap()
        .usage_license;

    // One verification of the usage license, as a host without state makes it: the license's
    // signature, and its embedded certificate's.
    let verifier = tollgate_core::Verifier::with_trust_store(config.trust_store().unwrap());
    let fp = tollgate_sdk::fingerprint::compute(
        &StaticSource::from_strs(&MACHINE),
        &config.fingerprint_salt,
    )
    .unwrap();
    let (ent, one) = checks(|| verifier.verify(&usage_license, &fp, T0));
    assert!(ent.unwrap().has_feature("mqtt-server", T0));
    assert_eq!(one, 2, "a usage license and its embedded certificate");

    let (status, install) = checks(|| host.install(&usage_license));
    assert_eq!(status.unwrap().state, LicenseState::Active);
    assert_eq!(
        install, one,
        "installing costs one verification, not {install}/{one}"
    );
    assert!(host.has_feature("mqtt-server"));

    // Installing the same license again is the same one verification.
    let (again, repeat) = checks(|| host.install(&usage_license));
    assert_eq!(again.unwrap().state, LicenseState::Active);
    assert_eq!(repeat, one);
}
