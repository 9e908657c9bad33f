//! Shared test helpers: a vendor directory and simulated hosts built with the core directly.
#![allow(dead_code, clippy::unwrap_used)]

use tempfile::TempDir;
use tollgate_authority::{Authority, IssueSpec};
use tollgate_core::*;

/// A fixed "now" for tests.
pub const T0: u64 = 1_700_000_000;
pub const DAY: u64 = 24 * 3600;
pub const YEAR: u64 = 365 * DAY;

/// A fresh vendor state directory with one signing key. The ledger is SQLite, or a fresh
/// PostgreSQL database when `TOLLGATE_TEST_BACKEND=postgres` (then `TOLLGATE_TEST_PG_URL`
/// names the server: `scripts/test.sh` runs this suite both ways).
pub fn vendor() -> (TempDir, Authority) {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_ledger(dir.path());
    a.create_signing_key(T0).unwrap();
    (dir, a)
}

#[cfg(not(feature = "postgres"))]
fn open_ledger(dir: &std::path::Path) -> Authority {
    assert!(
        std::env::var("TOLLGATE_TEST_BACKEND").as_deref() != Ok("postgres"),
        "TOLLGATE_TEST_BACKEND=postgres needs --features postgres"
    );
    Authority::open(dir).unwrap()
}

#[cfg(feature = "postgres")]
fn open_ledger(dir: &std::path::Path) -> Authority {
    if std::env::var("TOLLGATE_TEST_BACKEND").as_deref() != Ok("postgres") {
        return Authority::open(dir).unwrap();
    }
    let url = std::env::var("TOLLGATE_TEST_PG_URL")
        .expect("TOLLGATE_TEST_BACKEND=postgres needs TOLLGATE_TEST_PG_URL");
    let db = fresh_database(&url);
    std::fs::write(dir.join("test-pg-url"), &db).unwrap();
    Authority::open_postgres(dir, &db, Default::default()).unwrap()
}

/// Opens the ledger of a directory made by [`vendor`] again.
pub fn reopen(dir: &std::path::Path) -> Authority {
    #[cfg(feature = "postgres")]
    if let Ok(db) = std::fs::read_to_string(dir.join("test-pg-url")) {
        return Authority::open_postgres(dir, &db, Default::default()).unwrap();
    }
    Authority::open(dir).unwrap()
}

/// Creates an empty database on the server of `url` and returns its URL.
#[cfg(feature = "postgres")]
pub fn fresh_database(url: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let name = format!("tg_{}", hex_string(&bytes));
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let base = url.rsplit_once('/').unwrap().0;
    format!("{base}/{name}")
}

/// The Chariot reference license: the server (perpetual) and a year of Support.
pub fn chariot(max_activations: u32) -> IssueSpec {
    let mut s = IssueSpec::new("chariot", "ACME Corp");
    s.features = vec![
        Feature {
            name: "mqtt-server".into(),
            kind: FeatureKind::Perpetual,
        },
        Feature {
            name: "support".into(),
            kind: FeatureKind::Subscription {
                expires_at: T0 + YEAR,
            },
        },
    ];
    s.max_activations = max_activations;
    s
}

/// A simulated host: a device key and a fingerprint.
pub struct Host {
    pub device: DeviceKey,
    pub fp: Fingerprint,
}

impl Host {
    pub fn new(n: u8) -> Self {
        let fp = Fingerprint::from_components(vec![
            Component::derive(ComponentKind::MachineId, &[n; 16], b"chariot"),
            Component::derive(
                ComponentKind::Hostname,
                format!("broker-{n}").as_bytes(),
                b"chariot",
            ),
            Component::derive(ComponentKind::Mac, &[n, 1, 2, 3, 4, 5], b"chariot"),
        ])
        .unwrap();
        Host {
            device: DeviceKey::from_seed(&[n; 32]),
            fp,
        }
    }

    /// An armored usage request for `key` with `counter`.
    pub fn request(&self, key: &LicenseKey, counter: u32) -> String {
        self.request_for(key, "chariot", counter)
    }

    pub fn request_for(&self, key: &LicenseKey, product: &str, counter: u32) -> String {
        UsageRequest::create(key, &self.device, product, "4.2.0", counter, T0, &self.fp)
            .unwrap()
            .to_armor()
    }

    /// A deactivation code for an activation.
    pub fn deactivation(&self, license_id: u64, activation_id: u64, counter: u32) -> String {
        DeactivationCode::create(
            DeactivationClaims {
                activation_id,
                license_id,
                counter,
                deactivated_at: T0 + 10,
            },
            &self.device,
        )
        .unwrap()
        .to_armor()
    }
}

/// Verifies a usage license as the host would, with the vendor's full keyring.
pub fn verify(vendor: &mut Authority, host: &Host, usage_license: &str, now: u64) -> Entitlement {
    Verifier::new("chariot", vendor.keyring().unwrap())
        .verify(usage_license, &host.fp, now)
        .unwrap()
}
