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
//! | [`config`] | [`HostConfig`] and its JSON file |
//! | [`status`] | [`Status`], [`LicenseInfo`], [`FeatureStatus`], [`MeterReading`]: the status view |
//! | `meters` | metered usage ([`LicenseManager::record_usage`], [`LicenseManager::meter`]) |
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
//! A whole offline round trip, with the vendor's side played by `tollgate_core` directly:
//!
//! ```
//! use std::sync::Arc;
//! use tollgate_core::*;
//! use tollgate_sdk::{HostConfig, LicenseManager, LicenseState, ManualClock, MemoryStorage, StaticSource};
//!
//! let vendor = VendorSigningKey::from_seed(&[1; 32]);
//! let key = LicenseKey::from_entropy(&[2; 15]).expose();
//!
//! // The host application: its configuration, state storage, clock and fingerprint source.
//! let config = HostConfig::new("chariot", "4.2.0", b"chariot-salt".to_vec(), vec![vendor.public_key()]);
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
//! // 2. The vendor answers it with a usage license.
//! let req = UsageRequest::from_armor(&request)?;
//! let grant = Grant {
//!     license_id: 42, revision: 1, product: "chariot".into(), customer: "ACME".into(),
//!     features: vec![Feature { name: "mqtt-server".into(), kind: FeatureKind::Perpetual }],
//!     models: Models::of(&[DeploymentModel::Offline]), max_activations: 2, floating_seats: 0,
//!     not_before: None, not_after: None, fingerprint_threshold: 1, max_borrow_secs: 0,
//!     rollback_tolerance_secs: 3600, offline_refresh_secs: 0,
//! };
//! let usage_license = UsageLicense::issue(UsageTerms {
//!     grant, activation_id: 7, model: DeploymentModel::Offline,
//!     device_key: *req.device_key(), request_counter: req.claims().counter,
//!     fingerprint: req.claims().fingerprint.clone(), issued_at: 1_700_000_100,
//!     refresh_deadline: None,
//! }, &vendor)?.to_armor();
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

pub mod clock;
pub mod config;
pub mod error;
pub mod fingerprint;
pub mod floating;
pub mod gate;
pub mod lease_holder;
pub mod manager;
mod meters;
pub mod online;
pub mod state;
pub mod status;
pub mod storage;
pub mod time;

pub use clock::{note_fork, CachedClock, Clock, ManualClock, SystemClock};
pub use config::HostConfig;
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
};
pub use gate::FeatureGate;
pub use lease_holder::LeaseHolder;
pub use manager::LicenseManager;
pub use online::BearerToken;
pub use status::{
    verify_usage_license, FeatureStatus, FingerprintMatch, LicenseInfo, LicenseState, MeterReading,
    Status, StatusError,
};
pub use storage::{DirStorage, FailingStorage, MemoryStorage, Storage};
pub use tollgate_core;
