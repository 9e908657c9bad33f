//! The one error type of the vendor side.

use std::path::PathBuf;

/// Everything that can go wrong in an [`crate::Authority`] call.
///
/// Each variant has a stable numeric [`AuthorityError::code`] from 300 up (core errors keep
/// their own codes, 100–128). A code never changes meaning; a retired variant's code is never
/// reused. The CLI, the online service and the bindings report these numbers.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    /// No license has this key, or the request's key proof is wrong. Deliberately one error:
    /// a caller must not learn whether a key exists without holding it.
    #[error("unknown license key")]
    UnknownKey,
    /// The request was made by another product than the license's.
    #[error("the license is for product `{licensed}`, the request for `{requested}`")]
    WrongProduct {
        /// The license's product.
        licensed: String,
        /// The product named in the request.
        requested: String,
    },
    /// The license does not allow this deployment model.
    #[error("the license does not allow the {} deployment model", .model.name())]
    ModelNotAllowed {
        /// The model asked for.
        model: tollgate_core::DeploymentModel,
    },
    /// Every activation the license allows is in use.
    #[error("all {max} activations of this license are in use")]
    SeatsExhausted {
        /// The license's maximum number of simultaneous activations.
        max: u32,
    },
    /// No license with this id.
    #[error("license {0} not found")]
    LicenseNotFound(u64),
    /// No activation with this id (for this license).
    #[error("activation {0} not found")]
    ActivationNotFound(u64),
    /// The activation was already deactivated or restored: a replayed deactivation code, or a
    /// second restore.
    #[error("activation {0} was already deactivated or restored")]
    AlreadyDeactivated(u64),
    /// The deactivation code does not verify with the activation's device key, or names an
    /// activation of another license: forged or damaged.
    #[error("the deactivation code is not valid for this activation")]
    BadDeactivationCode,
    /// The request's counter is lower than one already fulfilled for its device key (or not
    /// higher than the counter at which that device key was deactivated): an old request.
    #[error("the usage request is older than one already answered for this device (counter {counter} < {latest})")]
    StaleRequest {
        /// The request's counter.
        counter: u32,
        /// The lowest counter that would have been accepted.
        latest: u32,
    },
    /// The license's validity window ended.
    #[error("the license expired")]
    LicenseExpired,
    /// The license's validity window has not started.
    #[error("the license is not valid yet")]
    LicenseNotYetValid,
    /// A core format error: decoding an artifact, a signature, or a format limit. Keeps the
    /// core's own code.
    #[error(transparent)]
    Core(#[from] tollgate_core::Error),
    /// No active signing key: create one first.
    #[error("no active signing key: create one first")]
    NoSigningKey,
    /// An active signing key already exists: rotate it instead of creating another.
    #[error("an active signing key already exists (rotate it instead)")]
    SigningKeyExists,
    /// A signing key file is missing, unreadable, or does not hold the key the ledger records.
    #[error("signing key file {path}: {problem}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The upgrade adds a feature the license already has (only subscriptions can be extended).
    #[error("the license already has feature `{0}`")]
    FeatureExists(String),
    /// The upgrade extends a subscription the license does not have.
    #[error("the license has no subscription feature `{0}`")]
    NoSuchSubscription(String),
    /// A caller-supplied value is out of range or inconsistent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The ledger was written by a newer version of this software.
    #[error("the ledger has schema version {found}; this software knows up to {supported}")]
    SchemaTooNew {
        /// The ledger's schema version.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// Another process held the ledger's write lock for longer than the busy timeout.
    #[error("the ledger is busy (locked by another process); try again")]
    Busy,
    /// The ledger database failed.
    #[error("ledger database error: {0}")]
    Db(#[source] LedgerError),
    /// A ledger row holds a value this software cannot read back.
    #[error("ledger row is corrupt: {0}")]
    Corrupt(&'static str),
    /// A file system operation on the vendor state directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A refresh (reactivation) came from a device that holds no active activation of the
    /// license: it was deactivated or restored, or never activated. A refresh never takes a
    /// new seat; activate instead.
    #[error("this device holds no active activation of the license")]
    NoActiveActivation,
    /// The vendor suspended the license: activations, refreshes and offline fulfilments are
    /// refused until it is resumed ([`crate::Authority::resume`]).
    #[error("license {0} is suspended")]
    LicenseSuspended(u64),
    /// The vendor revoked the license, for good: activations, refreshes and offline
    /// fulfilments are refused, and it cannot be resumed.
    #[error("license {0} is revoked")]
    LicenseRevoked(u64),
    /// The license moved between devices (deactivations and restores) as often as its
    /// transfer policy allows within the period: no more seats are freed until the oldest
    /// transfer leaves the period.
    #[error("license {license_id} reached its transfer limit ({max} per {period_days} days)")]
    TransferLimit {
        /// The license.
        license_id: u64,
        /// Transfers allowed per period.
        max: u32,
        /// The period, in days (rounded down).
        period_days: u64,
    },
    /// The usage request's fingerprint is too weak to bind a license to a machine: fewer
    /// components than the grant's match threshold, or fewer distinct component kinds than the
    /// vendor's minimum ([`crate::AuthorityConfig::min_fingerprint_kinds`]).
    #[error("the request's fingerprint has {components} component(s) of {kinds} kind(s); at least {need_components} component(s) of {need_kinds} distinct kind(s) are required")]
    WeakFingerprint {
        /// Components in the request.
        components: usize,
        /// Distinct component kinds in the request.
        kinds: usize,
        /// Components required (the grant's fingerprint threshold).
        need_components: usize,
        /// Distinct kinds required.
        need_kinds: usize,
    },
    /// The vendor state directory has no root key: `vendor init` creates or imports one.
    #[error("no vendor root key: create or import one first (vendor init)")]
    NoRootKey,
    /// A root key already exists; a directory has exactly one, for good.
    #[error("a vendor root key already exists")]
    RootKeyExists,
    /// The active signing key cannot be retired by the key list: rotate to a new key first.
    #[error("key {0} is the active signing key: rotate to a new key before retiring it")]
    RetireActiveKey(String),
    /// A floating activation was asked for while another device holds an active floating
    /// activation of the license: each floating license server lends all of the license's
    /// `floating_seats`, so a second one would multiply them. Deactivate the other first.
    #[error("activation {activation_id} already runs this license as a floating server")]
    FloatingActivationExists {
        /// The active floating activation.
        activation_id: u64,
    },
    /// The device already holds a marketplace seat for another cloud instance: its state was
    /// copied or moved to another instance. Code 385.
    #[error("this device is bound to instance {bound}, not to instance {presented}")]
    InstanceMismatch {
        /// The instance id the device's seat is bound to.
        bound: String,
        /// The instance id of the document presented.
        presented: String,
    },
    /// A marketplace activation's usage request carries a license key (its lookup id or key
    /// proof is not all zeros). Code 386.
    #[error("a marketplace usage request must not carry a license key")]
    NotMarketplaceRequest,
    /// No purchase with this id, or the purchase token does not match: deliberately one
    /// error, so a caller without the token learns nothing about the purchase.
    #[error("purchase {0} not found")]
    PurchaseNotFound(u64),
    /// A time the vendor would sign is later than [`tollgate_core::MAX_VENDOR_TIME`]
    /// (9999-12-31T23:59:59Z): a validity end, a subscription's expiry or a refresh deadline
    /// that not every binding could represent (SPEC.md §1).
    #[error("{what} {value} is later than {max} (9999-12-31T23:59:59Z), the latest time a license may carry", max = tollgate_core::MAX_VENDOR_TIME)]
    TimeOutOfRange {
        /// Which time, e.g. `not_after` or `expiry of feature support`.
        what: String,
        /// The time asked for (Unix seconds).
        value: u64,
    },
    /// A usage report's device key is no activation (online, offline or marketplace, now or
    /// earlier) of the license it names. Code 355.
    #[error("the reporting device key is not an activation of license {license_id}")]
    UsageDeviceUnknown {
        /// The license the report names.
        license_id: u64,
    },
    /// A usage submission or journal holds more reports than one import takes. Code 356.
    #[error("too many usage reports in one submission (at most {max})")]
    UsageTooManyReports {
        /// The most one import takes.
        max: usize,
    },
    /// A usage submission is not what the endpoint takes: no report, or reports of several
    /// licenses or device keys in one online submission. Code 357.
    #[error("malformed usage submission: {0}")]
    UsageSubmissionInvalid(String),
    /// `vendor usage resolve`: the license's device key has no open usage flag at that
    /// sequence number. Code 358.
    #[error("no open usage flag for license {license_id} at seq {seq} of that device key")]
    UsageFlagNotFound {
        /// The license.
        license_id: u64,
        /// The sequence number asked for.
        seq: u64,
    },
    /// `vendor usage resolve --accept`: the flagged report cannot be merged: judged again
    /// against the device's merged chain it is a fork or a rewritten history (or the seq has
    /// only a `not_metered` flag, or several flagged reports). Code 359.
    #[error("usage report seq {seq} cannot be accepted: {why}")]
    UsageAcceptRefused {
        /// The report's sequence number.
        seq: u64,
        /// Why.
        why: String,
    },
}

impl AuthorityError {
    /// The stable numeric code of this error. Core errors keep their core code (100–128);
    /// authority errors are 300 and up.
    pub fn code(&self) -> u32 {
        match self {
            AuthorityError::UnknownKey => 300,
            AuthorityError::WrongProduct { .. } => 301,
            AuthorityError::ModelNotAllowed { .. } => 302,
            AuthorityError::SeatsExhausted { .. } => 303,
            AuthorityError::LicenseNotFound(_) => 304,
            AuthorityError::ActivationNotFound(_) => 305,
            AuthorityError::AlreadyDeactivated(_) => 306,
            AuthorityError::BadDeactivationCode => 307,
            AuthorityError::StaleRequest { .. } => 308,
            AuthorityError::LicenseExpired => 309,
            AuthorityError::LicenseNotYetValid => 310,
            AuthorityError::NoSigningKey => 311,
            AuthorityError::SigningKeyExists => 312,
            AuthorityError::KeyFile { .. } => 313,
            AuthorityError::FeatureExists(_) => 314,
            AuthorityError::NoSuchSubscription(_) => 315,
            AuthorityError::InvalidArgument(_) => 316,
            AuthorityError::SchemaTooNew { .. } => 317,
            AuthorityError::Busy => 318,
            AuthorityError::Db(_) => 319,
            AuthorityError::Corrupt(_) => 320,
            AuthorityError::Io { .. } => 321,
            AuthorityError::Random => 322,
            AuthorityError::NoActiveActivation => 323,
            AuthorityError::LicenseSuspended(_) => 324,
            AuthorityError::LicenseRevoked(_) => 325,
            AuthorityError::TransferLimit { .. } => 326,
            AuthorityError::WeakFingerprint { .. } => 327,
            AuthorityError::NoRootKey => 328,
            AuthorityError::RootKeyExists => 329,
            AuthorityError::RetireActiveKey(_) => 330,
            AuthorityError::FloatingActivationExists { .. } => 331,
            AuthorityError::InstanceMismatch { .. } => 385,
            AuthorityError::NotMarketplaceRequest => 386,
            AuthorityError::PurchaseNotFound(_) => 350,
            AuthorityError::TimeOutOfRange { .. } => 332,
            AuthorityError::UsageDeviceUnknown { .. } => 355,
            AuthorityError::UsageTooManyReports { .. } => 356,
            AuthorityError::UsageSubmissionInvalid(_) => 357,
            AuthorityError::UsageFlagNotFound { .. } => 358,
            AuthorityError::UsageAcceptRefused { .. } => 359,
            AuthorityError::Core(e) => e.code(),
        }
    }

    /// A short, stable, human-readable message for this error's kind (without the details
    /// that [`std::fmt::Display`] adds).
    pub fn message(&self) -> &'static str {
        match self {
            AuthorityError::UnknownKey => "unknown license key",
            AuthorityError::WrongProduct { .. } => "the request is for a different product",
            AuthorityError::ModelNotAllowed { .. } => {
                "the license does not allow this deployment model"
            }
            AuthorityError::SeatsExhausted { .. } => "all activations of this license are in use",
            AuthorityError::LicenseNotFound(_) => "license not found",
            AuthorityError::ActivationNotFound(_) => "activation not found",
            AuthorityError::AlreadyDeactivated(_) => {
                "the activation was already deactivated or restored"
            }
            AuthorityError::BadDeactivationCode => {
                "the deactivation code is not valid for this activation"
            }
            AuthorityError::StaleRequest { .. } => {
                "the usage request is older than one already answered for this device"
            }
            AuthorityError::LicenseExpired => "the license expired",
            AuthorityError::LicenseNotYetValid => "the license is not valid yet",
            AuthorityError::NoSigningKey => "no active signing key",
            AuthorityError::SigningKeyExists => "an active signing key already exists",
            AuthorityError::KeyFile { .. } => "a signing key file is missing or damaged",
            AuthorityError::FeatureExists(_) => "the license already has this feature",
            AuthorityError::NoSuchSubscription(_) => "the license has no such subscription",
            AuthorityError::InvalidArgument(_) => "invalid argument",
            AuthorityError::SchemaTooNew { .. } => {
                "the ledger was written by a newer version of this software"
            }
            AuthorityError::Busy => "the ledger is busy; try again",
            AuthorityError::Db(_) => "ledger database error",
            AuthorityError::Corrupt(_) => "a ledger row is corrupt",
            AuthorityError::Io { .. } => "file system error",
            AuthorityError::Random => "the system random number generator failed",
            AuthorityError::NoActiveActivation => {
                "this device holds no active activation of the license"
            }
            AuthorityError::LicenseSuspended(_) => "the license is suspended",
            AuthorityError::LicenseRevoked(_) => "the license is revoked",
            AuthorityError::TransferLimit { .. } => "the license reached its transfer limit",
            AuthorityError::WeakFingerprint { .. } => {
                "the request's fingerprint has too few components"
            }
            AuthorityError::NoRootKey => "no vendor root key",
            AuthorityError::RootKeyExists => "a vendor root key already exists",
            AuthorityError::RetireActiveKey(_) => "the active signing key cannot be retired",
            AuthorityError::FloatingActivationExists { .. } => {
                "another device already runs this license as a floating server"
            }
            AuthorityError::InstanceMismatch { .. } => {
                "this device's marketplace seat belongs to another cloud instance"
            }
            AuthorityError::NotMarketplaceRequest => {
                "a marketplace usage request must not carry a license key"
            }
            AuthorityError::PurchaseNotFound(_) => "purchase not found",
            AuthorityError::TimeOutOfRange { .. } => {
                "a time is later than 9999-12-31T23:59:59Z, the latest a license may carry"
            }
            AuthorityError::UsageDeviceUnknown { .. } => {
                "the reporting device key is not an activation of the license"
            }
            AuthorityError::UsageTooManyReports { .. } => {
                "too many usage reports in one submission"
            }
            AuthorityError::UsageSubmissionInvalid(_) => "malformed usage submission",
            AuthorityError::UsageFlagNotFound { .. } => "no open usage flag at that seq",
            AuthorityError::UsageAcceptRefused { .. } => {
                "the flagged usage report is a fork or a rewritten history"
            }
            AuthorityError::Core(e) => e.message(),
        }
    }

    /// The stable name of this error's kind (the variant's name, e.g. `SeatsExhausted`; the
    /// core's name for a core error), as the online service reports it beside the code.
    pub fn name(&self) -> &'static str {
        match self {
            AuthorityError::UnknownKey => "UnknownKey",
            AuthorityError::WrongProduct { .. } => "WrongProduct",
            AuthorityError::ModelNotAllowed { .. } => "ModelNotAllowed",
            AuthorityError::SeatsExhausted { .. } => "SeatsExhausted",
            AuthorityError::LicenseNotFound(_) => "LicenseNotFound",
            AuthorityError::ActivationNotFound(_) => "ActivationNotFound",
            AuthorityError::AlreadyDeactivated(_) => "AlreadyDeactivated",
            AuthorityError::BadDeactivationCode => "BadDeactivationCode",
            AuthorityError::StaleRequest { .. } => "StaleRequest",
            AuthorityError::LicenseExpired => "LicenseExpired",
            AuthorityError::LicenseNotYetValid => "LicenseNotYetValid",
            AuthorityError::NoSigningKey => "NoSigningKey",
            AuthorityError::SigningKeyExists => "SigningKeyExists",
            AuthorityError::KeyFile { .. } => "KeyFile",
            AuthorityError::FeatureExists(_) => "FeatureExists",
            AuthorityError::NoSuchSubscription(_) => "NoSuchSubscription",
            AuthorityError::InvalidArgument(_) => "InvalidArgument",
            AuthorityError::SchemaTooNew { .. } => "SchemaTooNew",
            AuthorityError::Busy => "Busy",
            AuthorityError::Db(_) => "Db",
            AuthorityError::Corrupt(_) => "Corrupt",
            AuthorityError::Io { .. } => "Io",
            AuthorityError::Random => "Random",
            AuthorityError::NoActiveActivation => "NoActiveActivation",
            AuthorityError::LicenseSuspended(_) => "LicenseSuspended",
            AuthorityError::LicenseRevoked(_) => "LicenseRevoked",
            AuthorityError::TransferLimit { .. } => "TransferLimit",
            AuthorityError::WeakFingerprint { .. } => "WeakFingerprint",
            AuthorityError::NoRootKey => "NoRootKey",
            AuthorityError::RootKeyExists => "RootKeyExists",
            AuthorityError::RetireActiveKey(_) => "RetireActiveKey",
            AuthorityError::FloatingActivationExists { .. } => "FloatingActivationExists",
            AuthorityError::InstanceMismatch { .. } => "InstanceMismatch",
            AuthorityError::NotMarketplaceRequest => "NotMarketplaceRequest",
            AuthorityError::PurchaseNotFound(_) => "PurchaseNotFound",
            AuthorityError::TimeOutOfRange { .. } => "TimeOutOfRange",
            AuthorityError::UsageDeviceUnknown { .. } => "UsageDeviceUnknown",
            AuthorityError::UsageTooManyReports { .. } => "UsageTooManyReports",
            AuthorityError::UsageSubmissionInvalid(_) => "UsageSubmissionInvalid",
            AuthorityError::UsageFlagNotFound { .. } => "UsageFlagNotFound",
            AuthorityError::UsageAcceptRefused { .. } => "UsageAcceptRefused",
            AuthorityError::Core(e) => e.name(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AuthorityError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        AuthorityError::InvalidArgument(msg.into())
    }
}

/// An opaque database error from the ledger backend (SQLite or PostgreSQL): the storage
/// layer's [`tollgate_storage::DbError`].
pub use tollgate_storage::DbError as LedgerError;

impl From<tollgate_storage::StorageError> for AuthorityError {
    fn from(e: tollgate_storage::StorageError) -> Self {
        use tollgate_storage::StorageError as S;
        match e {
            S::SchemaTooNew { found, supported } => {
                AuthorityError::SchemaTooNew { found, supported }
            }
            S::Busy => AuthorityError::Busy,
            S::Db(e) => AuthorityError::Db(e),
            S::Corrupt(what) => AuthorityError::Corrupt(what),
            // StorageError is non_exhaustive: a future variant is a database failure.
            other => AuthorityError::Db(LedgerError::new(other)),
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = AuthorityError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        let all = [
            AuthorityError::UnknownKey,
            AuthorityError::WrongProduct {
                licensed: String::new(),
                requested: String::new(),
            },
            AuthorityError::ModelNotAllowed {
                model: tollgate_core::DeploymentModel::Offline,
            },
            AuthorityError::SeatsExhausted { max: 1 },
            AuthorityError::LicenseNotFound(1),
            AuthorityError::ActivationNotFound(1),
            AuthorityError::AlreadyDeactivated(1),
            AuthorityError::BadDeactivationCode,
            AuthorityError::StaleRequest {
                counter: 1,
                latest: 2,
            },
            AuthorityError::LicenseExpired,
            AuthorityError::LicenseNotYetValid,
            AuthorityError::NoSigningKey,
            AuthorityError::SigningKeyExists,
            AuthorityError::KeyFile {
                path: PathBuf::new(),
                problem: "",
            },
            AuthorityError::FeatureExists(String::new()),
            AuthorityError::NoSuchSubscription(String::new()),
            AuthorityError::InvalidArgument(String::new()),
            AuthorityError::SchemaTooNew {
                found: 2,
                supported: 1,
            },
            AuthorityError::Busy,
            AuthorityError::Db(LedgerError::new(std::io::Error::other("x"))),
            AuthorityError::Corrupt(""),
            AuthorityError::io("", std::io::Error::other("x")),
            AuthorityError::Random,
            AuthorityError::NoActiveActivation,
            AuthorityError::LicenseSuspended(1),
            AuthorityError::LicenseRevoked(1),
            AuthorityError::TransferLimit {
                license_id: 1,
                max: 4,
                period_days: 365,
            },
            AuthorityError::WeakFingerprint {
                components: 1,
                kinds: 1,
                need_components: 3,
                need_kinds: 2,
            },
            AuthorityError::NoRootKey,
            AuthorityError::RootKeyExists,
            AuthorityError::RetireActiveKey(String::new()),
        ];
        let codes: Vec<u32> = all.iter().map(AuthorityError::code).collect();
        let expected: Vec<u32> = (300..331).collect();
        assert_eq!(codes, expected);
        // 324–330 are taken on the main line (LicenseSuspended …); this one is 331.
        let exists = AuthorityError::FloatingActivationExists { activation_id: 1 };
        assert_eq!(
            (exists.code(), exists.name()),
            (331, "FloatingActivationExists")
        );
        let moved = AuthorityError::InstanceMismatch {
            bound: "i-1".into(),
            presented: "i-2".into(),
        };
        assert_eq!((moved.code(), moved.name()), (385, "InstanceMismatch"));
        let keyed = AuthorityError::NotMarketplaceRequest;
        assert_eq!((keyed.code(), keyed.name()), (386, "NotMarketplaceRequest"));
        // The shop's (issue 15) range starts at 350.
        let purchase = AuthorityError::PurchaseNotFound(1);
        assert_eq!(
            (purchase.code(), purchase.name(), purchase.message()),
            (350, "PurchaseNotFound", "purchase not found")
        );
        // Metered usage (issue 15): 355-359.
        let usage = [
            AuthorityError::UsageDeviceUnknown { license_id: 1 },
            AuthorityError::UsageTooManyReports { max: 1024 },
            AuthorityError::UsageSubmissionInvalid(String::new()),
            AuthorityError::UsageFlagNotFound {
                license_id: 1,
                seq: 2,
            },
            AuthorityError::UsageAcceptRefused {
                seq: 2,
                why: String::new(),
            },
        ];
        let got: Vec<(u32, &str, &str)> = usage
            .iter()
            .map(|e| (e.code(), e.name(), e.message()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    355,
                    "UsageDeviceUnknown",
                    "the reporting device key is not an activation of the license"
                ),
                (
                    356,
                    "UsageTooManyReports",
                    "too many usage reports in one submission"
                ),
                (357, "UsageSubmissionInvalid", "malformed usage submission"),
                (358, "UsageFlagNotFound", "no open usage flag at that seq"),
                (
                    359,
                    "UsageAcceptRefused",
                    "the flagged usage report is a fork or a rewritten history"
                ),
            ]
        );
        // 332: times the vendor cannot sign (issue 13).
        let late = AuthorityError::TimeOutOfRange {
            what: "not_after".into(),
            value: tollgate_core::MAX_VENDOR_TIME + 1,
        };
        assert_eq!((late.code(), late.name()), (332, "TimeOutOfRange"));
        assert_eq!(
            late.message(),
            "a time is later than 9999-12-31T23:59:59Z, the latest a license may carry"
        );
        let mut names: Vec<&str> = all.iter().map(AuthorityError::name).collect();
        for e in &all {
            assert!(!e.message().is_empty());
            assert!(format!("{e:?}").starts_with(e.name()), "{e:?}");
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert_eq!(
            AuthorityError::Core(tollgate_core::Error::BadSignature).code(),
            111
        );
    }
}
