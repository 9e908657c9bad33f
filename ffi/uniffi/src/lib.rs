//! # tollgate-uniffi
//!
//! The uniffi bridge of Tollgate's Python (`bindings/python`) and Kotlin (`bindings/kotlin`)
//! bindings: a thin layer over the [`tollgate_sdk`] host runtime, declared with uniffi's
//! proc-macros so that neither `tollgate-core` nor `tollgate-sdk` depends on uniffi. It converts
//! types and errors and calls the runtime; it holds no licensing logic.
//!
//! | module | what it holds |
//! |---|---|
//! | `manager` | [`LicenseManager`] (the exported object) and [`ManualClock`] |
//! | `online` | [`OnlineClient`]: activate, reactivate, deactivate at the online activation service |
//! | `marketplace` | [`MarketplaceClient`]: a cloud marketplace instance licenses itself from its signed identity |
//! | `floating` | [`FloatingClient`]: a lease from a floating license server |
//! | `types` | the records and enums that cross the boundary: [`HostConfig`], [`Status`], … |
//! | `error` | [`TollgateError`], carrying the stable code (core 100–128, runtime 200+, services 230–234 and 300+) |
//!
//! Free functions: [`verify`] (stateless verification of a usage license), [`version`],
//! [`host_config_from_json`], [`all_errors`] and [`error_info`].
//!
//! ## The boundary
//!
//! - **Errors.** Every failing call returns [`TollgateError`]: `Rejected` for the core's
//!   verdicts on an artifact or license key (codes 100–128), `Service` for an online or
//!   floating server that could not be used (230–234; a cloud metadata service: 260–261) or refused (its own code: 303
//!   `SeatsExhausted`, 340 `NoSeat`, …), `Runtime` for the host runtime's other errors (codes
//!   200 and up). Each carries the stable `code`, its `name` and the full message.
//! - **Panics.** uniffi catches a panic at the boundary and raises it in the foreign language as
//!   its internal error (`InternalError` in Python, `InternalException` in Kotlin); none is
//!   expected.
//! - **Threads.** [`LicenseManager`] is `Send + Sync`: queries take a read lock and run
//!   concurrently, changes take the write lock; [`LicenseManager::has_feature`] takes no lock.
//!
//! The bindings are generated from the built library with this crate's `uniffi-bindgen`
//! binary (feature `cli`):
//!
//! ```sh
//! cargo build --release -p tollgate-uniffi
//! cargo run -p tollgate-uniffi --features cli --bin uniffi-bindgen -- generate \
//!     --library target/release/libtollgate_uniffi.so --language python --out-dir out/
//! ```

mod error;
mod floating;
mod manager;
mod marketplace;
mod online;
mod types;

pub use error::{ErrorInfo, TollgateError};
pub use floating::{FloatingClient, FloatingOptions};
pub use manager::{LicenseManager, ManualClock};
pub use marketplace::MarketplaceClient;
pub use online::{Deactivation, OnlineClient, OnlineOptions};
pub use types::{
    ComponentKind, FeatureStatus, FingerprintComponent, FingerprintMatch, HostConfig, LicenseInfo,
    LicenseState, MeterReading, Status, StatusError,
};

uniffi::setup_scaffolding!("tollgate");

/// This library's version, e.g. `0.1.0`.
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Verifies a usage license for this host without any state: what a support tool or an
/// installer does before installing it. The host's fingerprint is built as `config` says; the
/// license must be signed by a key that `config.vendor_root` certified, be for its product,
/// match the host's fingerprint and be valid at `now` (Unix seconds).
///
/// Returns what a status page shows about it (no meter counts, no installation time). Fails
/// with the core's verdict (`Rejected`, codes 100–128) or a configuration error (`Runtime`
/// 211 `InvalidArgument`, 210 `Fingerprint`).
#[uniffi::export]
pub fn verify(
    config: HostConfig,
    usage_license: &str,
    now: u64,
) -> Result<LicenseInfo, TollgateError> {
    let config = config.into_sdk()?;
    Ok(tollgate_sdk::verify_usage_license(&config, usage_license, now)?.into())
}

/// Reads the host configuration file a vendor ships with its product (written by
/// `tollgate vendor host-config`): OPTIONS only, `product`, `product_version`,
/// `fingerprint_salt` and optionally `warn_days`, `min_components`, `key_certificates` and
/// `key_list`. The trust anchor is `vendor_root` (32 bytes), compiled into the application;
/// certificates and key lists in the file count only when that root signed them. The
/// fingerprint fields get their defaults (platform probes on, no extra components).
///
/// A file that names keys, a root or a security policy (`vendor_keys`,
/// `rollback_tolerance_secs`, …) is refused with `Runtime` 235 `UntrustedConfig`, so nobody
/// believes it is used. Fails with `Runtime` 211 `InvalidArgument` when the text is not such a
/// document or the root is not 32 bytes.
#[uniffi::export]
pub fn host_config_from_json(
    json: &str,
    vendor_root: Vec<u8>,
) -> Result<HostConfig, TollgateError> {
    let root = types::root(&vendor_root)?;
    Ok(HostConfig::from_sdk(&tollgate_sdk::HostConfig::from_json(
        json, root,
    )?))
}

/// Every error code the library can report, core codes first, in code order: the constant
/// table shared by every binding.
#[uniffi::export]
pub fn all_errors() -> Vec<ErrorInfo> {
    tollgate_sdk::all_errors()
        .into_iter()
        .map(ErrorInfo::from)
        .collect()
}

/// The table row of `code`, or nothing for an unknown code.
#[uniffi::export]
pub fn error_info(code: u32) -> Option<ErrorInfo> {
    tollgate_sdk::error_info(code).map(ErrorInfo::from)
}
