//! The error type of the host runtime and the table of stable error codes.
//!
//! Every error has a numeric code ([`SdkError::code`]) that never changes meaning: the core's
//! errors keep the core's codes (100–120), the runtime's own start at 200. A retired code stays
//! reserved. The C, Java and Python bindings export [`all_errors`] as their constant tables.

use std::io;

use tollgate_core::Error as CoreError;

use crate::time::format_utc;

/// Everything that can go wrong in the host runtime.
///
/// Messages never contain secrets (license keys, device key seeds) or raw hardware identifiers.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdkError {
    /// An artifact or license key was rejected by the core (codes 100–120).
    #[error("{0}")]
    Core(#[from] CoreError),

    /// The operation needs an installed usage license and there is none (code 200).
    #[error("no usage license is installed on this host")]
    NotActivated,

    /// A usage license was given but this host has no pending usage request for it to answer
    /// (code 201).
    #[error(
        "there is no pending usage request on this host for this usage license to answer: \
         generate a usage request, send it to the vendor and install the usage license that \
         answers it"
    )]
    NoPendingRequest,

    /// The usage license answers an older usage request than the pending one (code 202).
    #[error(
        "this usage license answers an older usage request (number {answered}) that was \
         superseded by a newer one (number {newest}): each new usage request invalidates the \
         previous ones; send the newest usage request to the vendor and install the usage \
         license that answers it"
    )]
    SupersededRequest {
        /// The request counter the usage license answers.
        answered: u32,
        /// The counter of the newest request made (the pending one, if any).
        newest: u32,
    },

    /// The usage license answers a request made with another device key: on another machine or
    /// from another state directory (code 203).
    #[error(
        "this usage license answers a usage request made by another installation (another \
         machine or another state directory)"
    )]
    WrongDevice,

    /// The usage license belongs to an activation that was deactivated on this host; it can
    /// never be installed again (code 204).
    #[error(
        "this usage license belongs to an activation that was deactivated on this host and \
         cannot be installed again: generate a new usage request"
    )]
    Deactivated,

    /// The clock reads earlier than a time this host has already seen, by more than the
    /// configured tolerance (code 205).
    #[error(
        "the system clock was set back: it reads {}, but this host has already seen {}",
        format_utc(*.now),
        format_utc(*.high_water)
    )]
    ClockRollback {
        /// The clock's reading (Unix seconds).
        now: u64,
        /// The latest time recorded in the state (Unix seconds).
        high_water: u64,
    },

    /// Reading or writing the state failed (code 206).
    #[error("license state storage failed: {message}")]
    Storage {
        /// The kind of I/O error.
        kind: io::ErrorKind,
        /// The operating system's description (never contains secrets).
        message: String,
    },

    /// The state document is damaged; it is left untouched for an operator to inspect
    /// (code 207).
    #[error("the license state is corrupt ({reason}); it was left untouched")]
    CorruptState {
        /// What is wrong with it.
        reason: String,
    },

    /// Recording this usage would exceed the metered feature's quota for the period (code 208).
    #[error(
        "quota exceeded for feature '{feature}': {used} of {quota} units used this period, \
         {requested} more requested"
    )]
    QuotaExceeded {
        /// The metered feature.
        feature: String,
        /// Units already used in the current period.
        used: u64,
        /// Units allowed per period.
        quota: u64,
        /// Units requested.
        requested: u64,
    },

    /// The installed license has no feature of this name (code 209).
    #[error("the license has no feature named '{feature}'")]
    UnknownFeature {
        /// The feature asked for.
        feature: String,
    },

    /// The host's fingerprint could not be collected (code 210).
    #[error("the host fingerprint could not be collected: {reason}")]
    Fingerprint {
        /// Why (never contains raw identifiers).
        reason: String,
    },

    /// An argument or configuration value is invalid (code 211).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// Which argument and why.
        reason: String,
    },

    /// A usage license for another license key is installed; deactivate it first (code 212).
    #[error(
        "a usage license for another license key is installed on this host: deactivate it \
         before requesting a usage license for a different key"
    )]
    AlreadyActivated,

    /// Another process holds the state directory's lock (code 213).
    #[error("the license state is in use by another process")]
    StateLocked,

    /// The feature exists but is not metered, so usage cannot be recorded (code 214).
    #[error("feature '{feature}' is not metered")]
    NotMetered {
        /// The feature asked for.
        feature: String,
    },

    /// The usage license answers a request newer than any this state made: the state directory
    /// was probably restored from an older backup (code 215).
    #[error(
        "this usage license answers usage request number {answered}, but the newest request \
         made from this state is number {newest}: was the state restored from a backup?"
    )]
    UnknownRequest {
        /// The request counter the usage license answers.
        answered: u32,
        /// The newest request counter of this state.
        newest: u32,
    },

    /// The operating system's random number generator failed (code 216).
    #[error("the operating system's random number generator failed")]
    Entropy,

    /// The state document was written by a newer version of this software (code 217).
    #[error(
        "the license state has format version {found}, which this software does not \
         understand (written by a newer version?); it was left untouched"
    )]
    UnsupportedStateVersion {
        /// The version found.
        found: u32,
    },

    /// The usage outbox holds the most unacknowledged usage reports it may
    /// ([`crate::MAX_USAGE_OUTBOX`]): no new report is cut until the vendor acknowledges some
    /// (code 255). The units keep accruing; nothing is lost.
    #[error(
        "the usage outbox holds {reports} unacknowledged usage reports, the most it may: send \
         the usage journal to the vendor and acknowledge what was merged; units keep accruing \
         until then"
    )]
    UsageOutboxFull {
        /// The reports in the outbox.
        reports: usize,
    },

    /// An acknowledgement of usage reports this host never made: `merged_through` is past the
    /// last report of that device key (code 256). Nothing was dropped.
    #[error(
        "the usage acknowledgement covers report {merged_through}, but this host's last usage \
         report for that device key is {last}: nothing was dropped"
    )]
    UsageAckAhead {
        /// The sequence number acknowledged.
        merged_through: u64,
        /// The last sequence number this host cut for that device key (0: none).
        last: u64,
    },

    /// The cloud's instance metadata service could not be reached, or did not answer with
    /// the signed identity (code 260): not a cloud instance, or the endpoint is misconfigured.
    #[error("the cloud metadata service could not be reached: {reason}")]
    MetadataUnreachable {
        /// What failed.
        reason: String,
    },

    /// The cloud's metadata service answered with something that is not the signed identity
    /// expected (code 261).
    #[error("the cloud metadata service answered unexpectedly: {reason}")]
    BadMetadata {
        /// What was wrong.
        reason: String,
    },

    /// The online activation service could not be reached (connection refused or reset,
    /// DNS, TLS, timeout), after the retries (code 230).
    #[error("the licensing service could not be reached: {reason}")]
    ServiceUnreachable {
        /// The transport's description.
        reason: String,
    },

    /// The online activation service refused the operation (code 231); `code` is the
    /// service's stable code, e.g. 300 `UnknownKey`, 303 `SeatsExhausted`.
    #[error("the licensing service refused: {message} (code {code}, {name})")]
    ServiceRefused {
        /// The service's stable code (300–323 and 331 for licensing decisions).
        code: u32,
        /// The code's name.
        name: String,
        /// The service's message.
        message: String,
    },

    /// The online activation service failed or was overloaded (HTTP 5xx), after the retries
    /// (code 232).
    #[error("the licensing service is unavailable (HTTP {status}): {message}")]
    ServiceUnavailable {
        /// The HTTP status.
        status: u16,
        /// The service's stable code from its error body (e.g. 344 `NotLicensed`, 345
        /// `ClockRollback` from a floating server, 503 `Unavailable`); 0 without one.
        code: u32,
        /// The service's message.
        message: String,
    },

    /// The online activation service refused to answer more failed attempts from this
    /// address for now (HTTP 429), after the retries (code 233).
    #[error(
        "the licensing service asks to retry in {retry_after_secs} s (too many failed attempts)"
    )]
    RateLimited {
        /// When to try again, in seconds (0 when the service did not say).
        retry_after_secs: u64,
    },

    /// The online activation service's answer is not what it sends (code 234).
    #[error("unexpected answer from the licensing service: {reason}")]
    BadResponse {
        /// What is wrong with it.
        reason: String,
    },

    /// The host configuration file names keys, a root or security policy (code 235). The
    /// vendor's root key is compiled into the product and the policy is in the signed grant:
    /// such a field would never be used, so the file is refused rather than ignored.
    #[error(
        "the host configuration names `{field}`: vendor keys, roots and security policy are not read from a configuration file (the vendor root is compiled into the product, the policy is in the signed license); remove the field"
    )]
    UntrustedConfig {
        /// The refused field.
        field: String,
    },

    /// This build has no vendor root key compiled in (code 236): build it with
    /// `TOLLGATE_VENDOR_ROOT` set to the vendor's root public key (64 hex digits).
    #[error(
        "this build has no vendor root key: build it with TOLLGATE_VENDOR_ROOT set to the vendor's root public key (64 hex digits)"
    )]
    NoVendorRoot,

    /// The host's fingerprint has fewer distinct component kinds than a usage request needs
    /// (code 237).
    #[error(
        "the host fingerprint has {found} distinct component kinds, a usage request needs at least {required}: enable the probes or supply more components"
    )]
    TooFewComponents {
        /// Distinct kinds found.
        found: usize,
        /// Kinds required.
        required: usize,
    },

    /// The fingerprint configuration supplies a component of a kind the probes read, without
    /// the explicit opt-in (code 238).
    #[error(
        "the fingerprint configuration supplies a '{kind}' component, which the probes read: overriding a probed identity is for tests and documented escape hatches only and needs an explicit opt-in (allow_override, tollgate host --allow-override)"
    )]
    ComponentOverride {
        /// The kind's name.
        kind: String,
    },

    /// The usage license's deployment model does not fit this manager's role (code 239): an
    /// ordinary host refuses a floating server's usage license, a floating server anything
    /// else.
    #[error(
        "this usage license is for {model} deployment, which this {role} does not accept (a floating server's usage license serves leases; it does not license a host)"
    )]
    WrongModel {
        /// The license's deployment model.
        model: String,
        /// This manager's role (`host` or `floating server`).
        role: String,
    },

    /// An online call was cancelled (code 240): by its [`crate::online::CancelToken`], or
    /// because the manager was closed while the call waited for the service. Nothing changed
    /// on this host.
    #[error("the online call was cancelled: {reason}")]
    Cancelled {
        /// Who cancelled it.
        reason: String,
    },

    /// The host's license state changed while an online call waited for the service (code
    /// 241): another request, install or deactivation ran meanwhile, so the service's answer
    /// was not applied. Nothing changed because of this call; try again.
    #[error(
        "the license state changed while the online call waited for the service; its answer was not applied"
    )]
    StateChanged,
}

impl From<io::Error> for SdkError {
    fn from(e: io::Error) -> Self {
        SdkError::Storage {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// Shorthand for results of the host runtime.
pub type Result<T> = std::result::Result<T, SdkError>;

/// One row of the error-code table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ErrorInfo {
    /// The stable numeric code.
    pub code: u32,
    /// The stable name (the variant's name), e.g. `KeyChecksum`, `SupersededRequest`.
    pub name: &'static str,
    /// A short, stable, human-readable message.
    pub message: &'static str,
}

const fn info(code: u32, name: &'static str, message: &'static str) -> ErrorInfo {
    ErrorInfo {
        code,
        name,
        message,
    }
}

/// The runtime's own codes (200 and up), in code order.
pub const SDK_ERRORS: [ErrorInfo; 34] = [
    info(
        200,
        "NotActivated",
        "no usage license is installed on this host",
    ),
    info(
        201,
        "NoPendingRequest",
        "there is no pending usage request for this usage license to answer",
    ),
    info(
        202,
        "SupersededRequest",
        "this usage license answers an older usage request that was superseded by a newer one",
    ),
    info(
        203,
        "WrongDevice",
        "this usage license answers a usage request made by another installation",
    ),
    info(
        204,
        "Deactivated",
        "this usage license belongs to an activation that was deactivated on this host",
    ),
    info(205, "ClockRollback", "the system clock was set back"),
    info(206, "Storage", "license state storage failed"),
    info(207, "CorruptState", "the license state is corrupt"),
    info(
        208,
        "QuotaExceeded",
        "the metered feature's quota for this period is exceeded",
    ),
    info(
        209,
        "UnknownFeature",
        "the license has no feature of this name",
    ),
    info(
        210,
        "Fingerprint",
        "the host fingerprint could not be collected",
    ),
    info(211, "InvalidArgument", "invalid argument"),
    info(
        212,
        "AlreadyActivated",
        "a usage license for another license key is installed on this host",
    ),
    info(
        213,
        "StateLocked",
        "the license state is in use by another process",
    ),
    info(214, "NotMetered", "the feature is not metered"),
    info(
        215,
        "UnknownRequest",
        "this usage license answers a usage request newer than any made from this state",
    ),
    info(
        216,
        "Entropy",
        "the operating system's random number generator failed",
    ),
    info(
        217,
        "UnsupportedStateVersion",
        "the license state was written by a newer version of this software",
    ),
    info(
        230,
        "ServiceUnreachable",
        "the licensing service could not be reached",
    ),
    info(231, "ServiceRefused", "the licensing service refused"),
    info(
        232,
        "ServiceUnavailable",
        "the licensing service is unavailable",
    ),
    info(
        233,
        "RateLimited",
        "too many failed attempts: the licensing service asks to retry later",
    ),
    info(
        234,
        "BadResponse",
        "unexpected answer from the licensing service",
    ),
    info(
        235,
        "UntrustedConfig",
        "the host configuration names keys, a root or security policy",
    ),
    info(236, "NoVendorRoot", "this build has no vendor root key"),
    info(
        237,
        "TooFewComponents",
        "the host fingerprint has too few distinct components for a usage request",
    ),
    info(
        238,
        "ComponentOverride",
        "a probed fingerprint component is overridden without the explicit opt-in",
    ),
    info(
        239,
        "WrongModel",
        "the usage license's deployment model does not fit this host",
    ),
    info(240, "Cancelled", "the online call was cancelled"),
    info(
        241,
        "StateChanged",
        "the license state changed while the online call waited for the service",
    ),
    info(
        255,
        "UsageOutboxFull",
        "the usage outbox is full: send the usage journal to the vendor",
    ),
    info(
        256,
        "UsageAckAhead",
        "the usage acknowledgement covers reports this host never made",
    ),
    info(
        260,
        "MetadataUnreachable",
        "the cloud metadata service could not be reached",
    ),
    info(
        261,
        "BadMetadata",
        "the cloud metadata service answered unexpectedly",
    ),
];

/// Every code the runtime can report, core codes first, in code order.
pub fn all_errors() -> Vec<ErrorInfo> {
    CoreError::ALL
        .iter()
        .map(|e| info(e.code(), e.name(), e.message()))
        .chain(SDK_ERRORS)
        .collect()
}

/// The row of `code`, if it is a known code.
pub fn error_info(code: u32) -> Option<ErrorInfo> {
    if let Some(row) = SDK_ERRORS.iter().find(|r| r.code == code) {
        return Some(*row);
    }
    CoreError::ALL
        .iter()
        .find(|e| e.code() == code)
        .map(|e| info(e.code(), e.name(), e.message()))
}

/// The services' refusals that reach a client over HTTP and that the bindings report as their
/// own result code (see [`SdkError::result_code`]): the activation service's licensing
/// decisions (vendor codes 300–310, 314–316, 323, 331; the same names and messages as the
/// authority's), the floating server's refusals (340–347), the metered-usage refusals (355–357) and the
/// marketplace refusals (380–387), in code order.
pub const SERVICE_REFUSALS: [ErrorInfo; 39] = [
    info(300, "UnknownKey", "unknown license key"),
    info(
        301,
        "WrongProduct",
        "the request is for a different product",
    ),
    info(
        302,
        "ModelNotAllowed",
        "the license does not allow this deployment model",
    ),
    info(
        303,
        "SeatsExhausted",
        "all activations of this license are in use",
    ),
    info(304, "LicenseNotFound", "license not found"),
    info(305, "ActivationNotFound", "activation not found"),
    info(
        306,
        "AlreadyDeactivated",
        "the activation was already deactivated or restored",
    ),
    info(
        307,
        "BadDeactivationCode",
        "the deactivation code is not valid for this activation",
    ),
    info(
        308,
        "StaleRequest",
        "the usage request is older than one already answered for this device",
    ),
    info(309, "LicenseExpired", "the license expired"),
    info(310, "LicenseNotYetValid", "the license is not valid yet"),
    info(314, "FeatureExists", "the license already has this feature"),
    info(
        315,
        "NoSuchSubscription",
        "the license has no such subscription",
    ),
    info(316, "InvalidArgument", "invalid argument"),
    info(
        323,
        "NoActiveActivation",
        "this device holds no active activation of the license",
    ),
    info(324, "LicenseSuspended", "the vendor suspended the license"),
    info(325, "LicenseRevoked", "the vendor revoked the license"),
    info(
        326,
        "TransferLimit",
        "the license reached its transfer limit",
    ),
    info(
        327,
        "WeakFingerprint",
        "the request's fingerprint has too few components",
    ),
    info(
        331,
        "FloatingActivationExists",
        "another device already runs this license as a floating server",
    ),
    info(340, "NoSeat", "every seat of the feature is taken"),
    info(
        341,
        "FeatureNotLicensed",
        "the floating license has no such active feature",
    ),
    info(
        342,
        "LeaseNotFound",
        "no such lease: released, reclaimed, or the secret is wrong",
    ),
    info(
        343,
        "BorrowNotAllowed",
        "borrowing is not allowed, or not for that long",
    ),
    info(
        344,
        "NotLicensed",
        "the floating server holds no valid floating license",
    ),
    info(
        345,
        "ClockRollback",
        "the floating server's clock went back",
    ),
    info(
        346,
        "LeaseHeld",
        "another holder of this client id holds a live lease",
    ),
    info(
        347,
        "Standby",
        "this floating server is the standby of its pool: ask the other one",
    ),
    info(
        355,
        "UsageDeviceUnknown",
        "the reporting device key is not an activation of the license",
    ),
    info(
        356,
        "UsageTooManyReports",
        "too many usage reports in one submission",
    ),
    info(357, "UsageSubmissionInvalid", "malformed usage submission"),
    info(
        380,
        "MarketplaceDisabled",
        "this service does not activate marketplace instances",
    ),
    info(
        381,
        "IdentityForged",
        "the instance identity is not signed by a configured cloud certificate",
    ),
    info(
        382,
        "UnknownProductCode",
        "the instance carries no product code of this vendor",
    ),
    info(
        383,
        "IdentityStale",
        "the instance identity document is not fresh",
    ),
    info(
        384,
        "NonceMismatch",
        "the attested document was not made for this request",
    ),
    info(
        385,
        "InstanceMismatch",
        "this device's marketplace seat belongs to another cloud instance",
    ),
    info(
        386,
        "NotMarketplaceRequest",
        "a marketplace usage request must not carry a license key",
    ),
    info(
        387,
        "BadIdentity",
        "the instance identity is not a well-formed document of its cloud",
    ),
];

/// Every service refusal a binding reports as its own result code, in code order.
pub fn service_refusals() -> impl Iterator<Item = &'static ErrorInfo> {
    SERVICE_REFUSALS.iter()
}

/// The row of service refusal `code`, if it is one (see [`service_refusals`]).
pub fn service_refusal_info(code: u32) -> Option<ErrorInfo> {
    service_refusals().find(|r| r.code == code).copied()
}

/// The stable message of `code`, or `"unknown error code"`.
pub fn message(code: u32) -> &'static str {
    error_info(code).map_or("unknown error code", |r| r.message)
}

impl SdkError {
    /// The stable numeric code of this error, shared with the bindings.
    pub fn code(&self) -> u32 {
        match self {
            SdkError::Core(e) => e.code(),
            SdkError::NotActivated => 200,
            SdkError::NoPendingRequest => 201,
            SdkError::SupersededRequest { .. } => 202,
            SdkError::WrongDevice => 203,
            SdkError::Deactivated => 204,
            SdkError::ClockRollback { .. } => 205,
            SdkError::Storage { .. } => 206,
            SdkError::CorruptState { .. } => 207,
            SdkError::QuotaExceeded { .. } => 208,
            SdkError::UnknownFeature { .. } => 209,
            SdkError::Fingerprint { .. } => 210,
            SdkError::InvalidArgument { .. } => 211,
            SdkError::AlreadyActivated => 212,
            SdkError::StateLocked => 213,
            SdkError::NotMetered { .. } => 214,
            SdkError::UnknownRequest { .. } => 215,
            SdkError::Entropy => 216,
            SdkError::UnsupportedStateVersion { .. } => 217,
            SdkError::ServiceUnreachable { .. } => 230,
            SdkError::ServiceRefused { .. } => 231,
            SdkError::ServiceUnavailable { .. } => 232,
            SdkError::RateLimited { .. } => 233,
            SdkError::BadResponse { .. } => 234,
            SdkError::UntrustedConfig { .. } => 235,
            SdkError::NoVendorRoot => 236,
            SdkError::TooFewComponents { .. } => 237,
            SdkError::ComponentOverride { .. } => 238,
            SdkError::WrongModel { .. } => 239,
            SdkError::Cancelled { .. } => 240,
            SdkError::StateChanged => 241,
            SdkError::UsageOutboxFull { .. } => 255,
            SdkError::UsageAckAhead { .. } => 256,
            SdkError::MetadataUnreachable { .. } => 260,
            SdkError::BadMetadata { .. } => 261,
        }
    }

    /// The result code the bindings and the CLI report: the service's own code for a refusal
    /// or an unavailable service whose error body carries one of [`service_refusals`] (e.g. 340
    /// `NoSeat`, 303 `SeatsExhausted`), else [`SdkError::code`] (231 for a refusal with any
    /// other code).
    pub fn result_code(&self) -> u32 {
        match self {
            SdkError::ServiceRefused { code, .. } | SdkError::ServiceUnavailable { code, .. }
                if service_refusal_info(*code).is_some() =>
            {
                *code
            }
            _ => self.code(),
        }
    }

    /// The service's own stable code when a service refused ([`SdkError::ServiceRefused`],
    /// e.g. 303 `SeatsExhausted`, 340 `NoSeat`, or a code this version does not know) or
    /// failed with a coded error body ([`SdkError::ServiceUnavailable`], e.g. 344
    /// `NotLicensed`); `None` for every other error.
    pub fn refusal_code(&self) -> Option<u32> {
        match self {
            SdkError::ServiceRefused { code, .. } => Some(*code),
            SdkError::ServiceUnavailable { code, .. } if *code != 0 => Some(*code),
            _ => None,
        }
    }

    /// The stable name of [`SdkError::result_code`], e.g. `"NoSeat"`.
    pub fn result_name(&self) -> &'static str {
        let code = self.result_code();
        service_refusal_info(code)
            .or_else(|| error_info(code))
            .map_or("Unknown", |r| r.name)
    }

    /// The stable name of this error's code, e.g. `"SupersededRequest"`.
    pub fn name(&self) -> &'static str {
        error_info(self.code()).map_or("Unknown", |r| r.name)
    }

    /// The core error inside, if this is one.
    pub fn core(&self) -> Option<CoreError> {
        match self {
            SdkError::Core(e) => Some(*e),
            _ => None,
        }
    }

    pub(crate) fn corrupt(reason: impl Into<String>) -> Self {
        SdkError::CorruptState {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        SdkError::InvalidArgument {
            reason: reason.into(),
        }
    }

    pub(crate) fn fingerprint(reason: impl Into<String>) -> Self {
        SdkError::Fingerprint {
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_unique_and_ordered() {
        let all = all_errors();
        let codes: Vec<u32> = all.iter().map(|r| r.code).collect();
        let expected: Vec<u32> = (100..=128)
            .chain(130..=134)
            .chain(200..=217)
            .chain(230..=241)
            .chain(255..=256)
            .chain(260..=261)
            .collect();
        assert_eq!(codes, expected);
        let mut names: Vec<&str> = all.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }

    #[test]
    fn every_variant_code_is_in_the_table_under_its_name() {
        let samples = [
            SdkError::Core(CoreError::KeyChecksum),
            SdkError::NotActivated,
            SdkError::NoPendingRequest,
            SdkError::SupersededRequest {
                answered: 1,
                newest: 2,
            },
            SdkError::WrongDevice,
            SdkError::Deactivated,
            SdkError::ClockRollback {
                now: 0,
                high_water: 1,
            },
            SdkError::from(io::Error::other("x")),
            SdkError::corrupt("x"),
            SdkError::QuotaExceeded {
                feature: "f".into(),
                used: 1,
                quota: 1,
                requested: 1,
            },
            SdkError::UnknownFeature {
                feature: "f".into(),
            },
            SdkError::fingerprint("x"),
            SdkError::invalid("x"),
            SdkError::AlreadyActivated,
            SdkError::StateLocked,
            SdkError::NotMetered {
                feature: "f".into(),
            },
            SdkError::UnknownRequest {
                answered: 3,
                newest: 2,
            },
            SdkError::Entropy,
            SdkError::UnsupportedStateVersion { found: 9 },
            SdkError::ServiceUnreachable { reason: "x".into() },
            SdkError::ServiceRefused {
                code: 303,
                name: "SeatsExhausted".into(),
                message: "x".into(),
            },
            SdkError::ServiceUnavailable {
                status: 503,
                code: 503,
                message: "x".into(),
            },
            SdkError::RateLimited {
                retry_after_secs: 1,
            },
            SdkError::BadResponse { reason: "x".into() },
            SdkError::UntrustedConfig {
                field: "vendor_keys".into(),
            },
            SdkError::NoVendorRoot,
            SdkError::TooFewComponents {
                found: 1,
                required: 2,
            },
            SdkError::ComponentOverride {
                kind: "machine-id".into(),
            },
            SdkError::WrongModel {
                model: "floating".into(),
                role: "host".into(),
            },
            SdkError::Cancelled { reason: "x".into() },
            SdkError::StateChanged,
            SdkError::UsageOutboxFull { reports: 4096 },
            SdkError::UsageAckAhead {
                merged_through: 3,
                last: 2,
            },
            SdkError::MetadataUnreachable { reason: "x".into() },
            SdkError::BadMetadata { reason: "x".into() },
        ];
        for e in &samples {
            let row = error_info(e.code()).unwrap();
            assert!(
                format!("{e:?}").starts_with(row.name) || row.code < 200,
                "{e:?}"
            );
            assert_eq!(e.name(), row.name);
        }
        assert_eq!(samples[0].name(), "KeyChecksum");
        assert_eq!(samples[0].code(), 118);
    }

    #[test]
    fn service_refusals_keep_their_code() {
        let codes: Vec<u32> = service_refusals().map(|r| r.code).collect();
        let expected: Vec<u32> = (300..=310)
            .chain(314..=316)
            .chain(323..=327)
            .chain([331])
            .chain(340..=347)
            .chain(355..=357)
            .chain(380..=387)
            .collect();
        assert_eq!(codes, expected);
        let no_seat = SdkError::ServiceRefused {
            code: 340,
            name: "NoSeat".into(),
            message: "every seat of feature `mqtt` is taken".into(),
        };
        assert_eq!(
            (no_seat.code(), no_seat.result_code(), no_seat.result_name()),
            (231, 340, "NoSeat")
        );
        let unlicensed = SdkError::ServiceUnavailable {
            status: 503,
            code: 344,
            message: "x".into(),
        };
        assert_eq!((unlicensed.code(), unlicensed.result_code()), (232, 344));
        let other = SdkError::ServiceRefused {
            code: 400,
            name: "BadRequest".into(),
            message: "x".into(),
        };
        assert_eq!(
            (other.result_code(), other.result_name()),
            (231, "ServiceRefused")
        );
        let busy = SdkError::ServiceUnavailable {
            status: 503,
            code: 0,
            message: "x".into(),
        };
        assert_eq!(busy.result_code(), 232);
        assert_eq!(SdkError::Entropy.result_code(), 216);
    }

    #[test]
    fn messages() {
        assert_eq!(message(118), "the license key contains a typo");
        assert_eq!(
            message(213),
            "the license state is in use by another process"
        );
        assert_eq!(message(999), "unknown error code");
        let e = SdkError::SupersededRequest {
            answered: 1,
            newest: 2,
        };
        let text = e.to_string();
        assert!(text.contains("older usage request (number 1)"), "{text}");
        assert!(
            text.contains("superseded by a newer one (number 2)"),
            "{text}"
        );
        let e = SdkError::ClockRollback {
            now: 0,
            high_water: 86_400,
        };
        assert_eq!(
            e.to_string(),
            "the system clock was set back: it reads 1970-01-01T00:00:00Z, but this host has \
             already seen 1970-01-02T00:00:00Z"
        );
    }
}
