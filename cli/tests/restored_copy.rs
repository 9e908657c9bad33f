//! Issue 11 §3, through the authority and the host runtime with a manual clock: copy a host's
//! state directory, deactivate (the vendor frees the seat), restore the copy. The copy keeps
//! its license only until the offline refresh deadline signed in the grant; an honest host
//! renews before it with a new round trip. Fails on the code before issue 11 (offline usage
//! licenses had no deadline: the copy stayed licensed for good).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use tollgate_authority::{Authority, IssueSpec};
use tollgate_core::{ComponentKind, DeploymentModel, Feature, FeatureKind};
use tollgate_sdk::{DirStorage, HostConfig, LicenseManager, ManualClock, StaticSource};

const T0: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() && e.file_name() != ".lock" {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn open(
    vendor: &mut Authority,
    dir: &Path,
    machine: &str,
    clock: &Arc<ManualClock>,
) -> LicenseManager {
    // The vendor root, as the product build compiles it in.
    let root = vendor.root_public_key().unwrap();
    let config = HostConfig::new("chariot", "4.2.0", b"chariot-salt".to_vec(), root);
    let source = StaticSource::from_strs(&[
        (ComponentKind::MachineId, &format!("m-{machine}")),
        (ComponentKind::Hostname, &format!("h-{machine}")),
        (ComponentKind::Mac, &format!("02:00:00:00:00:{machine}")),
    ]);
    LicenseManager::with_parts(
        config,
        Box::new(DirStorage::open(dir).unwrap()),
        clock.clone(),
        Box::new(source),
    )
    .unwrap()
}

#[test]
fn a_restored_copy_stops_at_the_refresh_deadline_and_an_honest_host_renews() {
    let tmp = tempfile::tempdir().unwrap();
    let mut vendor = Authority::open(tmp.path().join("vendor")).unwrap();
    vendor.import_root_key(&[0x0a; 32], T0).unwrap();
    vendor.create_signing_key(T0).unwrap();
    let mut spec = IssueSpec::new("chariot", "ACME");
    spec.features = vec![Feature {
        name: "mqtt-server".into(),
        kind: FeatureKind::Perpetual,
    }];
    spec.max_activations = 2;
    spec.offline_refresh_secs = (30 * DAY) as u32;
    let issued = vendor.issue(spec, T0).unwrap();
    let key = issued.key.expose();
    let clock = Arc::new(ManualClock::new(T0));

    // Host A activates offline, the operator copies its state directory.
    let (a_dir, copy_dir_path) = (tmp.path().join("a"), tmp.path().join("a-copy"));
    let mut a = open(&mut vendor, &a_dir, "01", &clock);
    let req = a.request_usage(&key).unwrap();
    let ul = vendor.fulfil(&req, DeploymentModel::Offline, T0).unwrap();
    assert_eq!(ul.refresh_deadline, Some(T0 + 30 * DAY));
    a.install(&ul.usage_license).unwrap();
    assert!(a.has_feature("mqtt-server"));
    drop(a);
    copy_dir(&a_dir, &copy_dir_path);

    // … deactivates; the vendor verifies the code and frees the seat …
    clock.set(T0 + 60);
    let mut a = open(&mut vendor, &a_dir, "01", &clock);
    let code = a.deactivate().unwrap();
    vendor.deactivate(&code, T0 + 120).unwrap();
    assert!(!a.has_feature("mqtt-server"));
    drop(a);

    // … and restores the copy: licensed until the deadline (bounded), not after.
    clock.set(T0 + 29 * DAY);
    let copy = open(&mut vendor, &copy_dir_path, "01", &clock);
    assert!(copy.has_feature("mqtt-server"));
    clock.set(T0 + 30 * DAY);
    assert!(!copy.has_feature("mqtt-server"));
    assert!(copy.check().is_err());
    drop(copy);
    // The copy cannot renew: its activation was freed, so the vendor refuses its next request
    // (its device key must come back with a new activation, which needs a free seat and
    // counts as a transfer, all in the audit log).
    assert_eq!(vendor.get_license(1).unwrap().active_activations, 0);

    // An honest host B renews before its deadline and stays licensed past the first one.
    clock.set(T0 + 1000);
    let mut b = open(&mut vendor, &tmp.path().join("b"), "02", &clock);
    let req = b.request_usage(&key).unwrap();
    b.install(
        &vendor
            .fulfil(&req, DeploymentModel::Offline, T0 + 1000)
            .unwrap()
            .usage_license,
    )
    .unwrap();
    clock.set(T0 + 25 * DAY);
    let req = b.request_renewal().unwrap();
    let renewed = vendor
        .fulfil(&req, DeploymentModel::Offline, T0 + 25 * DAY)
        .unwrap();
    assert!(!renewed.new_activation);
    assert_eq!(renewed.refresh_deadline, Some(T0 + 55 * DAY));
    b.install(&renewed.usage_license).unwrap();
    clock.set(T0 + 31 * DAY);
    assert!(b.has_feature("mqtt-server"));
    clock.set(T0 + 55 * DAY);
    assert!(!b.has_feature("mqtt-server"));
}
