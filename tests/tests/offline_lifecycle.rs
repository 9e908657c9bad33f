//! The seeds' offline story end to end, across the vendor authority (`tollgate-authority`, a
//! real SQLite ledger in a temporary directory) and the host runtime (`tollgate-sdk`, a real
//! state directory), with a manual clock and fixed fingerprints standing for two machines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use tollgate_authority::{
    ActivationStatus, Authority, AuthorityError, Extension, IssueSpec, NewExpiry, UpgradeSpec,
};
use tollgate_core::reference::{self, CUSTOMER, PRODUCT, PRODUCT_VERSION};
use tollgate_core::{ComponentKind, DeploymentModel, Error as CoreError, Models};
use tollgate_sdk::fingerprint::StaticSource;
use tollgate_sdk::storage::DirStorage;
use tollgate_sdk::{
    FeatureStatus, HostConfig, LicenseManager, LicenseState, ManualClock, SdkError, Status,
};

const T0: u64 = 1_795_000_000; // 2026-11-18
const DAY: u64 = 86_400;
const YEAR: u64 = 365 * DAY;

struct World {
    _dir: tempfile::TempDir,
    vendor: Authority,
    clock: Arc<ManualClock>,
    root: std::path::PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let mut vendor = Authority::open(root.join("vendor")).unwrap();
        vendor.create_root_key(T0).unwrap();
        vendor.create_signing_key(T0).unwrap();
        World {
            _dir: dir,
            vendor,
            clock: Arc::new(ManualClock::new(T0)),
            root,
        }
    }

    fn now(&self) -> u64 {
        tollgate_sdk::Clock::now(&*self.clock)
    }

    fn config(&mut self, product: &str) -> HostConfig {
        // The vendor's root public key, as the product build compiles it in.
        let root = self.vendor.root_public_key().unwrap();
        HostConfig::new(product, PRODUCT_VERSION, "chariot-salt", root)
    }

    /// Host `name` of the reference product: its own state directory and its own machine,
    /// [`machine`]`(name)`.
    fn host(&mut self, name: &str) -> LicenseManager {
        self.host_for(PRODUCT, name)
    }

    /// Host `name` (as [`World::host`]) of another product.
    fn host_for(&mut self, product: &str, name: &str) -> LicenseManager {
        let storage = DirStorage::open(self.root.join(name)).unwrap();
        LicenseManager::with_parts(
            self.config(product),
            Box::new(storage),
            self.clock.clone(),
            Box::new(StaticSource::from_strs(&machine(name))),
        )
        .unwrap()
    }

    fn issue(&mut self, activations: u32) -> (u64, String) {
        let mut spec = IssueSpec::new(PRODUCT, CUSTOMER);
        spec.features = vec![reference::mqtt_server(), reference::support(T0 + YEAR)];
        spec.models = Models::of(&[DeploymentModel::Offline, DeploymentModel::Online]);
        spec.max_activations = activations;
        let issued = self.vendor.issue(spec, self.now()).unwrap();
        (issued.license.grant().license_id, issued.key.expose())
    }

    fn fulfil(&mut self, request: &str) -> Result<String, AuthorityError> {
        let now = self.now();
        self.vendor
            .fulfil(request, DeploymentModel::Offline, now)
            .map(|f| f.usage_license)
    }

    /// Host `name` with a usage license the vendor fulfilled for its request for `key` (not
    /// installed yet).
    fn fulfilled_host(&mut self, name: &str, key: &str) -> (LicenseManager, String) {
        let mut host = self.host(name);
        let request = host.request_usage(key).unwrap();
        let usage_license = self.fulfil(&request).unwrap();
        (host, usage_license)
    }
}

/// The state of feature `name` in the installed license of `status`.
fn feature(status: Status, name: &str) -> FeatureStatus {
    status
        .license
        .unwrap()
        .features
        .into_iter()
        .find(|f| f.name == name)
        .unwrap()
}

fn machine(n: &str) -> Vec<(ComponentKind, &'static str)> {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    vec![
        (ComponentKind::MachineId, leak(format!("machine-{n}"))),
        (ComponentKind::DmiProductUuid, leak(format!("uuid-{n}"))),
        (ComponentKind::Mac, leak(format!("02:42:ac:11:00:0{n}"))),
        (ComponentKind::RootDisk, leak(format!("disk-{n}"))),
        (ComponentKind::Hostname, leak(format!("broker-{n}"))),
    ]
}

#[test]
fn the_whole_offline_story() {
    let mut w = World::new();
    // 1. issue
    let (license_id, key) = w.issue(1);
    // 2. usage request on host A
    let mut a = w.host("a");
    let r1 = a.request_usage(&key).unwrap();
    assert!(r1.starts_with("TGRQ:"));
    assert!(r1.len() <= 300, "usage request is {} characters", r1.len());
    assert_eq!(a.status().state, LicenseState::Pending);
    // 3. fulfil
    let ul1 = w.fulfil(&r1).unwrap();
    // It carries its signing key's root certificate (TGKC): 485 characters here.
    assert!(
        ul1.len() <= 500,
        "usage license is {} characters",
        ul1.len()
    );
    // 4. install
    let st = a.install(&ul1).unwrap();
    assert_eq!(st.state, LicenseState::Active);
    // 5. status
    let info = st.license.clone().unwrap();
    assert_eq!(
        (info.license_id, info.revision, info.customer.as_str()),
        (license_id, 1, CUSTOMER)
    );
    assert_eq!(info.deployment_model, "offline");
    assert_eq!(
        (info.fingerprint.matched, info.fingerprint.required),
        (5, 3)
    );
    assert!(a.has_feature("mqtt-server") && a.has_feature("support"));
    assert!(!a.has_feature("iot-bridge-snowflake"));
    // The installed license survives a restart.
    drop(a);
    let mut a = w.host("a");
    assert_eq!(a.status().state, LicenseState::Active);
    // 6. upgrade
    w.clock.advance(30 * DAY);
    let up = UpgradeSpec {
        add_features: vec![reference::snowflake()],
        extend: vec![Extension {
            feature: "support".into(),
            to: NewExpiry::By(YEAR),
        }],
        ..UpgradeSpec::default()
    };
    let now = w.now();
    assert_eq!(
        w.vendor
            .upgrade(license_id, up, now)
            .unwrap()
            .grant()
            .revision,
        2
    );
    // 7. a new round trip, without the key
    let r2 = a.request_renewal().unwrap();
    let ul2 = w.fulfil(&r2).unwrap();
    assert_eq!(
        a.install(&ul1).unwrap_err(),
        SdkError::SupersededRequest {
            answered: 1,
            newest: 2
        }
    );
    let st = a.install(&ul2).unwrap();
    assert_eq!(st.license.as_ref().unwrap().revision, 2);
    assert!(a.has_feature("iot-bridge-snowflake"));
    assert_eq!(
        feature(st, "support").expires_at.as_deref(),
        Some(tollgate_sdk::time::format_utc(T0 + 2 * YEAR).as_str())
    );
    assert_eq!(
        a.record_usage("iot-bridge-snowflake", 1200).unwrap().used,
        1200
    );
    // Still one seat: the round trip reused the activation.
    assert_eq!(
        w.vendor.get_license(license_id).unwrap().active_activations,
        1
    );
    // The only seat is taken: host B is refused.
    let mut b = w.host("b");
    let rb = b.request_usage(&key).unwrap();
    assert!(matches!(
        w.fulfil(&rb),
        Err(AuthorityError::SeatsExhausted { max: 1 })
    ));
    // 8. deactivate
    let code = a.deactivate().unwrap();
    assert!(code.starts_with("TGDC:"));
    assert_eq!(a.status().state, LicenseState::Unlicensed);
    assert!(!a.has_feature("mqtt-server"));
    // 9. the vendor frees the seat, exactly once
    let now = w.now();
    let freed = w.vendor.deactivate(&code, now).unwrap();
    assert_eq!(freed.license_id, license_id);
    assert!(matches!(
        w.vendor.deactivate(&code, now),
        Err(AuthorityError::AlreadyDeactivated(_))
    ));
    // 10. host B activates with the freed seat.
    let rb2 = b.request_usage(&key).unwrap();
    let ulb = w.fulfil(&rb2).unwrap();
    assert_eq!(b.install(&ulb).unwrap().state, LicenseState::Active);
    assert!(b.has_feature("iot-bridge-snowflake"));
    let acts = w.vendor.list_activations(license_id).unwrap();
    let statuses: Vec<_> = acts.iter().map(|x| x.status).collect();
    assert_eq!(
        statuses,
        vec![ActivationStatus::Deactivated, ActivationStatus::Active]
    );
    // A reinstall of host A's usage license after deactivation is refused.
    assert_eq!(a.install(&ul2).unwrap_err(), SdkError::Deactivated);
    // Host A's usage license is bound to A's machine, not B's.
    assert_eq!(
        b.install(&ul2).unwrap_err(),
        SdkError::Core(CoreError::FingerprintMismatch)
    );
}

#[test]
fn wrong_key_and_typo() {
    let mut w = World::new();
    let (_, key) = w.issue(1);
    let mut a = w.host("a");
    // A typo is caught on the host, before anything is sent.
    let mut typo = key.clone().into_bytes();
    typo[0] = if typo[0] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        a.request_usage(std::str::from_utf8(&typo).unwrap())
            .unwrap_err(),
        SdkError::Core(CoreError::KeyChecksum)
    );
    assert_eq!(
        a.request_usage("not a key").unwrap_err(),
        SdkError::Core(CoreError::KeyFormat)
    );
    // A well-formed key the vendor never issued.
    let stranger = tollgate_core::LicenseKey::from_entropy(&[9; 15]).expose();
    let r = a.request_usage(&stranger).unwrap();
    assert!(matches!(w.fulfil(&r), Err(AuthorityError::UnknownKey)));
}

#[test]
fn a_request_for_another_product() {
    let mut w = World::new();
    let (_, key) = w.issue(1);
    let mut other = w.host_for("other-broker", "o");
    let r = other.request_usage(&key).unwrap();
    assert!(matches!(
        w.fulfil(&r),
        Err(AuthorityError::WrongProduct { .. })
    ));
}

#[test]
fn tampered_usage_license() {
    let mut w = World::new();
    let (_, key) = w.issue(1);
    let (mut a, ul) = w.fulfilled_host("a", &key);
    // A character changed in transit: the checksum says it was pasted wrong.
    let mut bytes = ul.clone().into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        a.install(std::str::from_utf8(&bytes).unwrap()).unwrap_err(),
        SdkError::Core(CoreError::ArmorChecksum)
    );
    // A deliberate change with a fixed-up checksum: the signature says it was tampered with.
    let raw =
        tollgate_core::armor::decode(tollgate_core::ArtifactType::UsageLicense, &ul, 1024).unwrap();
    let mut forged = raw.clone();
    forged[20] ^= 1;
    let forged = tollgate_core::armor::encode(tollgate_core::ArtifactType::UsageLicense, &forged);
    assert_eq!(
        a.install(&forged).unwrap_err(),
        SdkError::Core(CoreError::BadSignature)
    );
    assert_eq!(a.status().state, LicenseState::Pending);
    assert_eq!(a.install(&ul).unwrap().state, LicenseState::Active);
}

#[test]
fn expired_support_keeps_mqtt_server() {
    let mut w = World::new();
    let (_, key) = w.issue(1);
    let (mut a, ul) = w.fulfilled_host("a", &key);
    a.install(&ul).unwrap();
    w.clock.advance(YEAR - 10 * DAY);
    let st = a.status();
    assert!(
        st.warnings
            .iter()
            .any(|x| x.contains("support") && x.contains("10 days")),
        "{:?}",
        st.warnings
    );
    w.clock.advance(11 * DAY);
    assert!(a.has_feature("mqtt-server"));
    assert!(!a.has_feature("support"));
    let st = a.status();
    assert_eq!(st.state, LicenseState::Active);
    assert!(!feature(st, "support").active);
}

#[test]
fn rolled_back_clock() {
    let mut w = World::new();
    let (_, key) = w.issue(1);
    let (mut a, ul) = w.fulfilled_host("a", &key);
    a.install(&ul).unwrap();
    w.clock.advance(10 * DAY);
    a.status();
    let _ = a.record_usage("mqtt-server", 0); // any write moves the high-water mark
    drop(a);
    let mut a = w.host("a");
    w.clock.set(T0 + 2 * DAY);
    assert_eq!(a.status().state, LicenseState::ClockRollback);
    assert!(!a.has_feature("mqtt-server"));
    // A request is still allowed (it carries no trust), but its answer, signed at the vendor's
    // real time, is refused while this clock reads earlier than that.
    let req = a.request_renewal().unwrap();
    let ul = w
        .vendor
        .fulfil(&req, DeploymentModel::Offline, T0 + 10 * DAY)
        .unwrap()
        .usage_license;
    assert!(matches!(
        a.install(&ul).unwrap_err(),
        SdkError::ClockRollback { .. }
    ));
    assert_eq!(a.status().state, LicenseState::ClockRollback);
}

#[test]
fn two_processes_worth_of_authorities_race_for_the_last_seat() {
    // Two independent ledger connections (as two vendor processes would have) answer two
    // hosts' requests for the last seat at the same time: exactly one wins.
    let mut w = World::new();
    let (license_id, key) = w.issue(1);
    let mut a = w.host("a");
    let mut b = w.host("b");
    let (ra, rb) = (
        a.request_usage(&key).unwrap(),
        b.request_usage(&key).unwrap(),
    );
    let dir = w.root.join("vendor");
    let now = w.now();
    let handles: Vec<_> = [ra, rb]
        .into_iter()
        .map(|r| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut auth = Authority::open(dir).unwrap();
                auth.fulfil(&r, DeploymentModel::Offline, now)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let wins = results.iter().filter(|r| r.is_ok()).count();
    let losses = results
        .iter()
        .filter(|r| matches!(r, Err(AuthorityError::SeatsExhausted { max: 1 })))
        .count();
    assert_eq!((wins, losses), (1, 1));
    assert_eq!(
        w.vendor.get_license(license_id).unwrap().active_activations,
        1
    );
}
