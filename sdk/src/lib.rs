//! # tollgate-sdk
//!
//! The host runtime of Tollgate: what an application embeds to be licensed. It probes the
//! host's fingerprint, keeps a durable, crash-safe license state, runs the offline usage
//! request → usage license round trip, answers feature checks cheaply, counts metered usage and
//! deactivates. The formats and the verification itself live in [`tollgate_core`]; the C, Java
//! and Python bindings and the `tollgate host …` commands wrap [`LicenseManager`] thinly.
//!
//! | module | what it holds |
//! |---|---|
//! | [`manager`] | [`LicenseManager`]: the life cycle (open, request, install, deactivate, refresh, checks) |
//! | [`config`] | [`HostConfig`] (the compiled-in vendor root, [`HostRole`], options) and its JSON file (options only) |
//! | [`status`] | [`Status`], [`LicenseInfo`], [`FeatureStatus`], [`MeterReading`]: the status view |
//! | `meters` | metered usage ([`LicenseManager::record_usage`], [`LicenseManager::meter`]) |
//! | [`usage`] | the metered-usage journal: accrual, signed hash-chained usage reports (`TGUR`), the outbox, the journal text, acknowledgements |
//! | [`lease_holder`] | [`LeaseHolder`]: a floating client with the one lease it holds (the bindings' handle) |
//! | [`gate`] | [`FeatureGate`]: lock-free feature checks |
//! | [`fingerprint`] | [`FingerprintSource`] and the Linux/Windows/macOS probes, [`Composite`] |
//! | [`floating`] | [`FloatingClient`] (check out, heartbeats, release, borrow) and [`LeaseSigner`] (the floating server's lease tokens) |
//! | [`storage`] | [`Storage`], [`DirStorage`] (atomic, locked, mode 0600), [`MemoryStorage`] |
//! | [`state`] | the persisted JSON document |
//! | [`clock`] | [`Clock`], [`SystemClock`], [`CachedClock`] (and its `fork()` hook [`note_fork`]), [`ManualClock`] |
//! | [`error`] | [`SdkError`] and the table of stable error codes |
//! | [`time`] | ISO-8601 formatting and UTC meter periods |
//!
//! ## Trust and policy (issue 11)
//!
//! - [`HostConfig::new`]`(product, version, salt, vendor_root)` takes the vendor's ROOT public
//!   key as a value compiled into the integration; [`HostConfig::from_json`]`(text, root)`
//!   reads OPTIONS only (product, version, salt, `warn_days`, `min_components`,
//!   `key_certificates`, `key_list`) and refuses a file naming keys, a root or a tolerance
//!   ([`SdkError::UntrustedConfig`], 235). The `tollgate` binary and the floating server use
//!   [`BUILD_VENDOR_ROOT`] (`TOLLGATE_VENDOR_ROOT` at build time); none:
//!   [`SdkError::NoVendorRoot`] (236).
//! - [`HostRole`]: an ordinary host refuses a `floating` usage license, a floating server's
//!   manager anything else ([`SdkError::WrongModel`], 239).
//! - A usage request needs [`HostConfig::min_components`] distinct component kinds (default
//!   [`config::MIN_COMPONENT_KINDS`] = 2; [`SdkError::TooFewComponents`], 237). Supplying a
//!   component of a kind the probes read needs [`FingerprintConfig::allow_override`]
//!   ([`SdkError::ComponentOverride`], 238).
//! - Time: the rollback tolerance is the installed grant's (3600 s before any license,
//!   [`LicenseManager::rollback_tolerance`]); the host never accepts a time earlier than
//!   [`LicenseManager::time_floor`] (high-water mark, latest signed time seen, the installed
//!   license's `issued_at`) less it. A clock that ran ahead is repaired by a new round trip:
//!   requests work during a rollback, and the new usage license's signed time resets the
//!   high-water mark ([`LicenseManager::install`]).
//!
//! A whole offline round trip, with the vendor's side played by `tollgate_core` directly:
//!
//! ```
//! use std::sync::Arc;
//! use tollgate_core::*;
//! use tollgate_sdk::{HostConfig, LicenseManager, LicenseState, ManualClock, MemoryStorage, StaticSource};
//!
//! // The vendor: a root key kept offline certifies the signing key.
//! let root = VendorSigningKey::from_seed(&[10; 32]);
//! let vendor = VendorSigningKey::from_seed(&[1; 32]);
//! let certificate = KeyCertificate::issue(CertificateClaims {
//!     product: "chariot".into(), public_key: vendor.public_key(),
//!     not_before: 0, not_after: None, issued_at: 1_690_000_000,
//! }, &root)?;
//! let key = LicenseKey::from_entropy(&[2; 15]).expose();
//!
//! // The host application: its configuration, state storage, clock and fingerprint source.
//! // The vendor's ROOT public key is compiled into the application (never read from a file).
//! const VENDOR_ROOT: [u8; 32] = [
//!     0x43, 0xa7, 0x2e, 0x71, 0x44, 0x01, 0x76, 0x2d, 0xf6, 0x6b, 0x68, 0xc2, 0x6d, 0xfb, 0xdf,
//!     0x26, 0x82, 0xaa, 0xec, 0x9f, 0x24, 0x74, 0xec, 0xa4, 0x61, 0x3e, 0x42, 0x4a, 0x0f, 0xba,
//!     0xfd, 0x3c,
//! ];
//! assert_eq!(VENDOR_ROOT, root.public_key());
//! let config = HostConfig::new("chariot", "4.2.0", b"chariot-salt".to_vec(), VENDOR_ROOT);
//! let probes = StaticSource::from_strs(&[
//!     (ComponentKind::MachineId, "4c4c4544-0042"),
//!     (ComponentKind::Hostname, "broker-1"),
//! ]);
//! let clock = Arc::new(ManualClock::new(1_700_000_000));
//! let mut host = LicenseManager::with_parts(
//!     config, Box::new(MemoryStorage::new()), clock.clone(), Box::new(probes))?;
//!
//! // 1. The customer enters the license key; the host makes a usage request.
//! let request = host.request_usage(&key)?;
//! assert_eq!(host.status().state, LicenseState::Pending);
//!
//! // 2. The vendor answers it with a usage license carrying its signing key's certificate.
//! let req = UsageRequest::from_armor(&request)?;
//! let grant = Grant {
//!     license_id: 42, revision: 1, product: "chariot".into(), customer: "ACME".into(),
//!     features: vec![Feature { name: "mqtt-server".into(), kind: FeatureKind::Perpetual }],
//!     models: Models::of(&[DeploymentModel::Offline]), max_activations: 2, floating_seats: 0,
//!     not_before: None, not_after: None, fingerprint_threshold: 1, max_borrow_secs: 0,
//!     rollback_tolerance_secs: 3600, offline_refresh_secs: 0,
//! };
//! let usage_license = UsageLicense::issue_with_certificate(UsageTerms {
//!     grant, activation_id: 7, model: DeploymentModel::Offline,
//!     device_key: *req.device_key(), request_counter: req.claims().counter,
//!     fingerprint: req.claims().fingerprint.clone(), issued_at: 1_700_000_100,
//!     refresh_deadline: None,
//! }, &vendor, &certificate)?.to_armor();
//!
//! // 3. The host installs it; features are now available.
//! clock.advance(3600);
//! assert_eq!(host.install(&usage_license)?.state, LicenseState::Active);
//! assert!(host.has_feature("mqtt-server"));
//!
//! // 4. Before the server is retired: deactivate, and send the code to the vendor.
//! let code = host.deactivate()?;
//! assert!(code.starts_with("TGDC:"));
//! assert!(!host.has_feature("mqtt-server"));
//! # Ok::<(), tollgate_sdk::SdkError>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cancel;
pub mod clock;
pub mod config;
pub mod error;
pub mod events;
pub mod fingerprint;
pub mod floating;
pub mod gate;
pub mod lease_holder;
pub mod manager;
pub mod marketplace;
mod meters;
pub mod online;
pub mod state;
pub mod status;
pub mod storage;
pub mod time;
pub mod usage;

/// The vendor root public key this build of the sdk was made with: the environment variable
/// `TOLLGATE_VENDOR_ROOT` (64 hex digits) when the sdk was compiled, `None` when unset. The
/// `tollgate` binary's host verbs and the floating server use it; a build without it refuses
/// them ([`SdkError::NoVendorRoot`]). The repository's `.cargo/config.toml` sets it (not
/// forced) to the published DEVELOPMENT root of `tollgate_core::reference`, whose private key
/// is public: a vendor's release build sets its own root.
///
/// Applications embedding the sdk pass their root to [`HostConfig::new`] directly (e.g. a
/// `const VENDOR_ROOT: [u8; 32]` from `tollgate vendor export-root --format rust`).
pub const BUILD_VENDOR_ROOT: Option<[u8; 32]> =
    include!(concat!(env!("OUT_DIR"), "/vendor_root.rs"));

/// [`BUILD_VENDOR_ROOT`], or [`SdkError::NoVendorRoot`].
pub fn build_vendor_root() -> Result<[u8; 32]> {
    BUILD_VENDOR_ROOT.ok_or(SdkError::NoVendorRoot)
}

pub use clock::{note_fork, CachedClock, Clock, ManualClock, SystemClock};
pub use config::{HostConfig, HostRole};
pub use error::{
    all_errors, error_info, message, service_refusal_info, service_refusals, ErrorInfo, Result,
    SdkError, SDK_ERRORS, SERVICE_REFUSALS,
};
pub use fingerprint::{
    Composite, FingerprintConfig, FingerprintReport, FingerprintSource, LinuxProbes, NoProbes,
    StaticSource,
};
pub use floating::{
    BorrowedLease, FloatingClient, FloatingConfig, FloatingLease, LeaseEvent, LeaseSigner,
    MAX_SERVERS as MAX_FLOATING_SERVERS,
};
pub use gate::{FeatureGate, GateLayout};
pub use lease_holder::LeaseHolder;
pub use manager::LicenseManager;
pub use online::{BearerToken, CancelToken};
pub use status::{
    verify_usage_license, FeatureStatus, FingerprintMatch, LicenseInfo, LicenseState, LicenseTimes,
    MeterReading, Status, StatusError,
};
pub use storage::{DirStorage, FailingStorage, MemoryStorage, Storage};
pub use tollgate_core;
pub use usage::{AccruedUnits, MAX_USAGE_OUTBOX};
