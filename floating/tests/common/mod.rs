//! Set-up shared by the floating server's integration tests (`floating.rs`, `failover.rs`):
//! a vendor on the published development root, a floating license of Chariot and the host
//! configuration the server reads.
#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use tollgate_authority::{Authority, IssueSpec};
use tollgate_core::{DeploymentModel, Models};
use tollgate_sdk::{Clock, HostConfig, LicenseManager, SystemClock};

/// The floating server's admin token in these tests.
pub const ADMIN_TOKEN: &str = "floating-admin-token-0123456789";
/// Chariot's fingerprint salt in these tests.
pub const SALT: &[u8] = b"chariot/fingerprint/test";

/// The system clock's time.
pub fn now() -> u64 {
    SystemClock.now()
}

/// A vendor in a new directory on the published development root (the floating server is
/// built with it, `TOLLGATE_VENDOR_ROOT` in .cargo/config.toml), with a signing key; its
/// directory, the authority and the root's public key.
pub fn vendor() -> (TempDir, Authority, [u8; 32]) {
    let dir = tempfile::tempdir().unwrap();
    let mut authority = Authority::open(dir.path()).unwrap();
    let root = authority
        .import_root_key_file(
            Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/fixtures/dev-root.seed"
            )),
            now(),
        )
        .unwrap();
    assert_eq!(Some(root), tollgate_sdk::BUILD_VENDOR_ROOT);
    authority.create_signing_key(now()).unwrap();
    (dir, authority, root)
}

/// A floating license of Chariot for ACME Industrial with `seats` (its features to be set).
pub fn floating_spec(seats: u32) -> IssueSpec {
    let mut spec = IssueSpec::new("chariot", "ACME Industrial");
    spec.models = Models::of(&[DeploymentModel::Floating]);
    spec.floating_seats = seats;
    spec
}

/// Chariot 4.2.0's host configuration on `root`, and the same written to `dir/host.json`.
pub fn host_config(dir: &Path, root: [u8; 32]) -> (HostConfig, PathBuf) {
    let host = HostConfig::new("chariot", "4.2.0", SALT.to_vec(), root);
    let host_file = dir.join("host.json");
    std::fs::write(
        &host_file,
        serde_json::json!({
            "product": "chariot",
            "product_version": "4.2.0",
            "fingerprint_salt": std::str::from_utf8(SALT).unwrap(),
        })
        .to_string(),
    )
    .unwrap();
    (host, host_file)
}

/// Activates the floating server's state directory `state` (host configuration `host`) with
/// the license `key`, fulfilled by `authority`, and creates its lease signer.
pub fn activate(authority: &mut Authority, host: HostConfig, state: &Path, key: &str) {
    let mut m = LicenseManager::open(host, state).unwrap();
    let req = m.request_usage(key).unwrap();
    let answer = authority
        .fulfil(&req, DeploymentModel::Floating, now())
        .unwrap();
    m.install(&answer.usage_license).unwrap();
    m.lease_signer().unwrap();
}
