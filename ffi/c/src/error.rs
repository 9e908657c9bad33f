//! Result codes, their messages, and the calling thread's last error.
//!
//! A code never changes meaning; a retired code stays reserved. 0 is success, 1–99 belong to
//! the C API itself, 100–199 are the core's (artifacts and license keys) and 200–299 the host
//! runtime's, exactly as [`tollgate_sdk::all_errors`] lists them (a unit test keeps the
//! constants and that table equal). 300–387 are the services' refusals that arrive over HTTP
//! (`TOLLGATE_ERR_SERVICE_…`, [`tollgate_sdk::service_refusals`]): a call to the activation
//! service or a floating server returns the service's own code, e.g. 340 when no seat is free;
//! a refusal with any other code is 231 `TOLLGATE_ERR_SERVICE_REFUSED`.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use tollgate_sdk::SdkError;

/// A result code: `TOLLGATE_OK` (0) or the reason a call failed.
#[allow(non_camel_case_types)]
pub type tollgate_result = u32;

/// 0: Success.
pub const TOLLGATE_OK: tollgate_result = 0;
/// 1: A required pointer argument was NULL.
pub const TOLLGATE_NULL_ARGUMENT: tollgate_result = 1;
/// 2: A text argument is not valid UTF-8.
pub const TOLLGATE_INVALID_UTF8: tollgate_result = 2;
/// 3: The output buffer is too small; `*out_len` holds the size needed (including the NUL).
pub const TOLLGATE_BUFFER_TOO_SMALL: tollgate_result = 3;
/// 4: A bug in Tollgate: a Rust panic was caught at the C boundary. Nothing was written.
pub const TOLLGATE_PANIC: tollgate_result = 4;
/// 5: An earlier call panicked while changing this handle; free it and open a new one.
pub const TOLLGATE_POISONED: tollgate_result = 5;
/// 6: There is no such value (no pending usage request, no deactivation code, no last error).
pub const TOLLGATE_NOT_FOUND: tollgate_result = 6;

/// The C API's own codes: code, name, message.
const FFI_CODES: [(tollgate_result, &str, &str); 7] = [
    (TOLLGATE_OK, "Ok", "success"),
    (
        TOLLGATE_NULL_ARGUMENT,
        "NullArgument",
        "a required pointer argument was NULL",
    ),
    (
        TOLLGATE_INVALID_UTF8,
        "InvalidUtf8",
        "a text argument is not valid UTF-8",
    ),
    (
        TOLLGATE_BUFFER_TOO_SMALL,
        "BufferTooSmall",
        "the output buffer is too small",
    ),
    (
        TOLLGATE_PANIC,
        "Panic",
        "internal error: a panic was caught at the C boundary",
    ),
    (
        TOLLGATE_POISONED,
        "Poisoned",
        "an earlier call panicked while changing this handle; free it and open a new one",
    ),
    (TOLLGATE_NOT_FOUND, "NotFound", "there is no such value"),
];

/// 100: Not a Tollgate artifact: unknown text prefix (core `ArmorPrefix`).
pub const TOLLGATE_ERR_ARMOR_PREFIX: tollgate_result = 100;
/// 101: The text contains characters that are not part of the artifact (core `ArmorEncoding`).
pub const TOLLGATE_ERR_ARMOR_ENCODING: tollgate_result = 101;
/// 102: Checksum mismatch: the text was copied or pasted incompletely or altered in transit (core `ArmorChecksum`).
pub const TOLLGATE_ERR_ARMOR_CHECKSUM: tollgate_result = 102;
/// 103: This is a different kind of artifact than the one expected (core `WrongArtifactType`).
pub const TOLLGATE_ERR_WRONG_ARTIFACT_TYPE: tollgate_result = 103;
/// 104: Not a Tollgate artifact: bad magic bytes (core `BadMagic`).
pub const TOLLGATE_ERR_BAD_MAGIC: tollgate_result = 104;
/// 105: The artifact uses a newer format version than this software understands (core `UnknownVersion`).
pub const TOLLGATE_ERR_UNKNOWN_VERSION: tollgate_result = 105;
/// 106: The artifact uses a retired format version (core `RetiredVersion`).
pub const TOLLGATE_ERR_RETIRED_VERSION: tollgate_result = 106;
/// 107: The artifact is truncated (core `Truncated`).
pub const TOLLGATE_ERR_TRUNCATED: tollgate_result = 107;
/// 108: The artifact is malformed (core `Malformed`).
pub const TOLLGATE_ERR_MALFORMED: tollgate_result = 108;
/// 109: The artifact exceeds the size limit (core `TooLarge`).
pub const TOLLGATE_ERR_TOO_LARGE: tollgate_result = 109;
/// 110: The artifact was signed by an unknown vendor key (core `UnknownKeyId`).
pub const TOLLGATE_ERR_UNKNOWN_KEY_ID: tollgate_result = 110;
/// 111: The signature is invalid: the artifact was tampered with or forged (core `BadSignature`).
pub const TOLLGATE_ERR_BAD_SIGNATURE: tollgate_result = 111;
/// 112: The artifact was issued for a different product (core `WrongProduct`).
pub const TOLLGATE_ERR_WRONG_PRODUCT: tollgate_result = 112;
/// 113: The license is bound to a different machine (core `FingerprintMismatch`).
pub const TOLLGATE_ERR_FINGERPRINT_MISMATCH: tollgate_result = 113;
/// 114: The license is not valid yet (core `NotYetValid`).
pub const TOLLGATE_ERR_NOT_YET_VALID: tollgate_result = 114;
/// 115: The license has expired (core `Expired`).
pub const TOLLGATE_ERR_EXPIRED: tollgate_result = 115;
/// 116: The activation was not refreshed before its deadline (core `RefreshOverdue`).
pub const TOLLGATE_ERR_REFRESH_OVERDUE: tollgate_result = 116;
/// 117: A license key is 25 characters from the license-key alphabet (core `KeyFormat`).
pub const TOLLGATE_ERR_KEY_FORMAT: tollgate_result = 117;
/// 118: The license key contains a typo (core `KeyChecksum`).
pub const TOLLGATE_ERR_KEY_CHECKSUM: tollgate_result = 118;
/// 119: Invalid public key (core `BadPublicKey`).
pub const TOLLGATE_ERR_BAD_PUBLIC_KEY: tollgate_result = 119;
/// 120: A value exceeds a format limit (core `LimitExceeded`).
pub const TOLLGATE_ERR_LIMIT_EXCEEDED: tollgate_result = 120;
/// 121: The lease was issued to another client (core `LeaseWrongClient`).
pub const TOLLGATE_ERR_LEASE_WRONG_CLIENT: tollgate_result = 121;
/// 122: The lease is not covered by the floating license (core `LeaseNotGranted`).
pub const TOLLGATE_ERR_LEASE_NOT_GRANTED: tollgate_result = 122;
/// 123: The lease has expired: it was not renewed in time (core `LeaseExpired`).
pub const TOLLGATE_ERR_LEASE_EXPIRED: tollgate_result = 123;
/// 124: The signing key is not certified by the vendor's root key (core `KeyNotCertified`).
pub const TOLLGATE_ERR_KEY_NOT_CERTIFIED: tollgate_result = 124;
/// 125: The signing key was retired by the vendor (core `KeyRetired`).
pub const TOLLGATE_ERR_KEY_RETIRED: tollgate_result = 125;
/// 126: The key list is older than the one already applied (core `StaleKeyList`).
pub const TOLLGATE_ERR_STALE_KEY_LIST: tollgate_result = 126;
/// 127: The artifact was issued outside its signing key's validity (core `OutsideKeyValidity`).
pub const TOLLGATE_ERR_OUTSIDE_KEY_VALIDITY: tollgate_result = 127;
/// 128: The lease does not answer this request: replayed or stale (core `LeaseNonceMismatch`).
pub const TOLLGATE_ERR_LEASE_NONCE_MISMATCH: tollgate_result = 128;
/// 130: The usage report's sequence number and previous hash do not form a chain (core `UsageChainStart`).
pub const TOLLGATE_ERR_USAGE_CHAIN_START: tollgate_result = 130;
/// 131: The usage report has too many entries (core `UsageTooManyEntries`).
pub const TOLLGATE_ERR_USAGE_TOO_MANY_ENTRIES: tollgate_result = 131;
/// 132: The usage report counts the same feature and period twice (core `UsageDuplicateEntry`).
pub const TOLLGATE_ERR_USAGE_DUPLICATE_ENTRY: tollgate_result = 132;
/// 133: A usage report entry is out of order, counts zero units or names no feature (core `UsageBadEntry`).
pub const TOLLGATE_ERR_USAGE_BAD_ENTRY: tollgate_result = 133;
/// 134: The usage report's device key is not the key that signs it (core `UsageDeviceMismatch`).
pub const TOLLGATE_ERR_USAGE_DEVICE_MISMATCH: tollgate_result = 134;
/// 200: No usage license is installed on this host (runtime `NotActivated`).
pub const TOLLGATE_ERR_NOT_ACTIVATED: tollgate_result = 200;
/// 201: There is no pending usage request for this usage license to answer (runtime `NoPendingRequest`).
pub const TOLLGATE_ERR_NO_PENDING_REQUEST: tollgate_result = 201;
/// 202: This usage license answers an older usage request that was superseded by a newer one (runtime `SupersededRequest`).
pub const TOLLGATE_ERR_SUPERSEDED_REQUEST: tollgate_result = 202;
/// 203: This usage license answers a usage request made by another installation (runtime `WrongDevice`).
pub const TOLLGATE_ERR_WRONG_DEVICE: tollgate_result = 203;
/// 204: This usage license belongs to an activation that was deactivated on this host (runtime `Deactivated`).
pub const TOLLGATE_ERR_DEACTIVATED: tollgate_result = 204;
/// 205: The system clock was set back (runtime `ClockRollback`).
pub const TOLLGATE_ERR_CLOCK_ROLLBACK: tollgate_result = 205;
/// 206: License state storage failed (runtime `Storage`).
pub const TOLLGATE_ERR_STORAGE: tollgate_result = 206;
/// 207: The license state is corrupt (runtime `CorruptState`).
pub const TOLLGATE_ERR_CORRUPT_STATE: tollgate_result = 207;
/// 208: The metered feature's quota for this period is exceeded (runtime `QuotaExceeded`).
pub const TOLLGATE_ERR_QUOTA_EXCEEDED: tollgate_result = 208;
/// 209: The license has no feature of this name (runtime `UnknownFeature`).
pub const TOLLGATE_ERR_UNKNOWN_FEATURE: tollgate_result = 209;
/// 210: The host fingerprint could not be collected (runtime `Fingerprint`).
pub const TOLLGATE_ERR_FINGERPRINT: tollgate_result = 210;
/// 211: Invalid argument (runtime `InvalidArgument`).
pub const TOLLGATE_ERR_INVALID_ARGUMENT: tollgate_result = 211;
/// 212: A usage license for another license key is installed on this host (runtime `AlreadyActivated`).
pub const TOLLGATE_ERR_ALREADY_ACTIVATED: tollgate_result = 212;
/// 213: The license state is in use by another process (runtime `StateLocked`).
pub const TOLLGATE_ERR_STATE_LOCKED: tollgate_result = 213;
/// 214: The feature is not metered (runtime `NotMetered`).
pub const TOLLGATE_ERR_NOT_METERED: tollgate_result = 214;
/// 215: This usage license answers a usage request newer than any made from this state (runtime `UnknownRequest`).
pub const TOLLGATE_ERR_UNKNOWN_REQUEST: tollgate_result = 215;
/// 216: The operating system's random number generator failed (runtime `Entropy`).
pub const TOLLGATE_ERR_ENTROPY: tollgate_result = 216;
/// 217: The license state was written by a newer version of this software (runtime `UnsupportedStateVersion`).
pub const TOLLGATE_ERR_UNSUPPORTED_STATE_VERSION: tollgate_result = 217;
/// 230: The licensing service could not be reached (runtime `ServiceUnreachable`).
pub const TOLLGATE_ERR_SERVICE_UNREACHABLE: tollgate_result = 230;
/// 231: The licensing service refused (runtime `ServiceRefused`).
pub const TOLLGATE_ERR_SERVICE_REFUSED: tollgate_result = 231;
/// 232: The licensing service is unavailable (runtime `ServiceUnavailable`).
pub const TOLLGATE_ERR_SERVICE_UNAVAILABLE: tollgate_result = 232;
/// 233: Too many failed attempts: the licensing service asks to retry later (runtime `RateLimited`).
pub const TOLLGATE_ERR_RATE_LIMITED: tollgate_result = 233;
/// 234: Unexpected answer from the licensing service (runtime `BadResponse`).
pub const TOLLGATE_ERR_BAD_RESPONSE: tollgate_result = 234;
/// 235: The host configuration names keys, a root or security policy; the vendor root is compiled in (runtime `UntrustedConfig`).
pub const TOLLGATE_ERR_UNTRUSTED_CONFIG: tollgate_result = 235;
/// 236: This build has no vendor root key (runtime `NoVendorRoot`; the C API always takes the root, so it never returns it).
pub const TOLLGATE_ERR_NO_VENDOR_ROOT: tollgate_result = 236;
/// 237: The host fingerprint has too few distinct components for a usage request (runtime `TooFewComponents`).
pub const TOLLGATE_ERR_TOO_FEW_COMPONENTS: tollgate_result = 237;
/// 238: A probed fingerprint component is overridden without `tollgate_config_allow_component_override` (runtime `ComponentOverride`).
pub const TOLLGATE_ERR_COMPONENT_OVERRIDE: tollgate_result = 238;
/// 239: The usage license's deployment model does not fit this host, e.g. a floating server's usage license (runtime `WrongModel`).
pub const TOLLGATE_ERR_WRONG_MODEL: tollgate_result = 239;
/// 240: The online call was cancelled (`tollgate_online_cancel`, or `tollgate_manager_free` while it waited); nothing changed on this host (runtime `Cancelled`).
pub const TOLLGATE_ERR_CANCELLED: tollgate_result = 240;
/// 241: The license state changed while the online call waited for the service; its answer was not applied and nothing changed because of the call (runtime `StateChanged`).
pub const TOLLGATE_ERR_STATE_CHANGED: tollgate_result = 241;
/// 255: The usage outbox is full: send the usage journal to the vendor (runtime `UsageOutboxFull`).
pub const TOLLGATE_ERR_USAGE_OUTBOX_FULL: tollgate_result = 255;
/// 256: The usage acknowledgement covers reports this host never made (runtime `UsageAckAhead`).
pub const TOLLGATE_ERR_USAGE_ACK_AHEAD: tollgate_result = 256;
/// 260: The cloud metadata service could not be reached (runtime `MetadataUnreachable`).
pub const TOLLGATE_ERR_METADATA_UNREACHABLE: tollgate_result = 260;
/// 261: The cloud metadata service answered unexpectedly (runtime `BadMetadata`).
pub const TOLLGATE_ERR_BAD_METADATA: tollgate_result = 261;

/// 300: The activation service refused: unknown license key (service `UnknownKey`).
pub const TOLLGATE_ERR_SERVICE_UNKNOWN_KEY: tollgate_result = 300;
/// 301: The activation service refused: the request is for a different product (service `WrongProduct`).
pub const TOLLGATE_ERR_SERVICE_WRONG_PRODUCT: tollgate_result = 301;
/// 302: The activation service refused: the license does not allow this deployment model (service `ModelNotAllowed`).
pub const TOLLGATE_ERR_SERVICE_MODEL_NOT_ALLOWED: tollgate_result = 302;
/// 303: The activation service refused: all activations of this license are in use (service `SeatsExhausted`).
pub const TOLLGATE_ERR_SERVICE_SEATS_EXHAUSTED: tollgate_result = 303;
/// 304: The activation service refused: license not found (service `LicenseNotFound`).
pub const TOLLGATE_ERR_SERVICE_LICENSE_NOT_FOUND: tollgate_result = 304;
/// 305: The activation service refused: activation not found (service `ActivationNotFound`).
pub const TOLLGATE_ERR_SERVICE_ACTIVATION_NOT_FOUND: tollgate_result = 305;
/// 306: The activation service refused: the activation was already deactivated or restored (service `AlreadyDeactivated`).
pub const TOLLGATE_ERR_SERVICE_ALREADY_DEACTIVATED: tollgate_result = 306;
/// 307: The activation service refused: the deactivation code is not valid for this activation (service `BadDeactivationCode`).
pub const TOLLGATE_ERR_SERVICE_BAD_DEACTIVATION_CODE: tollgate_result = 307;
/// 308: The activation service refused: the usage request is older than one already answered for this device (service `StaleRequest`).
pub const TOLLGATE_ERR_SERVICE_STALE_REQUEST: tollgate_result = 308;
/// 309: The activation service refused: the license expired (service `LicenseExpired`).
pub const TOLLGATE_ERR_SERVICE_LICENSE_EXPIRED: tollgate_result = 309;
/// 310: The activation service refused: the license is not valid yet (service `LicenseNotYetValid`).
pub const TOLLGATE_ERR_SERVICE_LICENSE_NOT_YET_VALID: tollgate_result = 310;
/// 314: The activation service refused: the license already has this feature (service `FeatureExists`).
pub const TOLLGATE_ERR_SERVICE_FEATURE_EXISTS: tollgate_result = 314;
/// 315: The activation service refused: the license has no such subscription (service `NoSuchSubscription`).
pub const TOLLGATE_ERR_SERVICE_NO_SUCH_SUBSCRIPTION: tollgate_result = 315;
/// 316: The activation service refused: invalid argument (service `InvalidArgument`).
pub const TOLLGATE_ERR_SERVICE_INVALID_ARGUMENT: tollgate_result = 316;
/// 323: The activation service refused: this device holds no active activation of the license (service `NoActiveActivation`).
pub const TOLLGATE_ERR_SERVICE_NO_ACTIVE_ACTIVATION: tollgate_result = 323;
/// 324: The activation service refused: the vendor suspended the license (service `LicenseSuspended`).
pub const TOLLGATE_ERR_SERVICE_LICENSE_SUSPENDED: tollgate_result = 324;
/// 325: The activation service refused: the vendor revoked the license (service `LicenseRevoked`).
pub const TOLLGATE_ERR_SERVICE_LICENSE_REVOKED: tollgate_result = 325;
/// 326: The activation service refused: the license reached its transfer limit (service `TransferLimit`).
pub const TOLLGATE_ERR_SERVICE_TRANSFER_LIMIT: tollgate_result = 326;
/// 327: The activation service refused: the request's fingerprint has too few components (service `WeakFingerprint`).
pub const TOLLGATE_ERR_SERVICE_WEAK_FINGERPRINT: tollgate_result = 327;
/// 331: The activation service refused: another device already runs this license as a floating server (service `FloatingActivationExists`).
pub const TOLLGATE_ERR_SERVICE_FLOATING_ACTIVATION_EXISTS: tollgate_result = 331;
/// 340: The floating server refused: every seat of the feature is taken (service `NoSeat`).
pub const TOLLGATE_ERR_SERVICE_NO_SEAT: tollgate_result = 340;
/// 341: The floating server refused: the floating license has no such active feature (service `FeatureNotLicensed`).
pub const TOLLGATE_ERR_SERVICE_FEATURE_NOT_LICENSED: tollgate_result = 341;
/// 342: The floating server refused: no such lease: released, reclaimed, or the secret is wrong (service `LeaseNotFound`).
pub const TOLLGATE_ERR_SERVICE_LEASE_NOT_FOUND: tollgate_result = 342;
/// 343: The floating server refused: borrowing is not allowed, or not for that long (service `BorrowNotAllowed`).
pub const TOLLGATE_ERR_SERVICE_BORROW_NOT_ALLOWED: tollgate_result = 343;
/// 344: The floating server refused: the floating server holds no valid floating license (service `NotLicensed`).
pub const TOLLGATE_ERR_SERVICE_NOT_LICENSED: tollgate_result = 344;
/// 345: The floating server refused: the floating server's clock went back (service `ClockRollback`).
pub const TOLLGATE_ERR_SERVICE_CLOCK_ROLLBACK: tollgate_result = 345;
/// 346: The floating server refused: another holder of this client id holds a live lease (service `LeaseHeld`).
pub const TOLLGATE_ERR_SERVICE_LEASE_HELD: tollgate_result = 346;
/// 347: The floating server refused: this floating server is the standby of its pool: ask the other one (service `Standby`).
pub const TOLLGATE_ERR_SERVICE_STANDBY: tollgate_result = 347;
/// 355: The activation service refused a usage report: the reporting device key is not an activation of the license (service `UsageDeviceUnknown`).
pub const TOLLGATE_ERR_SERVICE_USAGE_DEVICE_UNKNOWN: tollgate_result = 355;
/// 356: The activation service refused a usage report: too many usage reports in one submission (service `UsageTooManyReports`).
pub const TOLLGATE_ERR_SERVICE_USAGE_TOO_MANY_REPORTS: tollgate_result = 356;
/// 357: The activation service refused a usage report: malformed usage submission (service `UsageSubmissionInvalid`).
pub const TOLLGATE_ERR_SERVICE_USAGE_SUBMISSION_INVALID: tollgate_result = 357;
/// 380: The activation service refused a marketplace activation: this service does not activate marketplace instances (service `MarketplaceDisabled`).
pub const TOLLGATE_ERR_SERVICE_MARKETPLACE_DISABLED: tollgate_result = 380;
/// 381: The activation service refused a marketplace activation: the instance identity is not signed by a configured cloud certificate (service `IdentityForged`).
pub const TOLLGATE_ERR_SERVICE_IDENTITY_FORGED: tollgate_result = 381;
/// 382: The activation service refused a marketplace activation: the instance carries no product code of this vendor (service `UnknownProductCode`).
pub const TOLLGATE_ERR_SERVICE_UNKNOWN_PRODUCT_CODE: tollgate_result = 382;
/// 383: The activation service refused a marketplace activation: the instance identity document is not fresh (service `IdentityStale`).
pub const TOLLGATE_ERR_SERVICE_IDENTITY_STALE: tollgate_result = 383;
/// 384: The activation service refused a marketplace activation: the attested document was not made for this request (service `NonceMismatch`).
pub const TOLLGATE_ERR_SERVICE_NONCE_MISMATCH: tollgate_result = 384;
/// 385: The activation service refused a marketplace activation: this device's marketplace seat belongs to another cloud instance (service `InstanceMismatch`).
pub const TOLLGATE_ERR_SERVICE_INSTANCE_MISMATCH: tollgate_result = 385;
/// 386: The activation service refused a marketplace activation: a marketplace usage request must not carry a license key (service `NotMarketplaceRequest`).
pub const TOLLGATE_ERR_SERVICE_NOT_MARKETPLACE_REQUEST: tollgate_result = 386;
/// 387: The activation service refused a marketplace activation: the instance identity is not a well-formed document of its cloud (service `BadIdentity`).
pub const TOLLGATE_ERR_SERVICE_BAD_IDENTITY: tollgate_result = 387;

/// Why a call failed: its code and the detailed message kept for [`tollgate_last_error`].
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: tollgate_result,
    pub(crate) message: Cow<'static, str>,
    /// The service's own code, for [`tollgate_last_refusal_code`]; 0 when no service refused.
    pub(crate) refusal: u32,
}

impl Failure {
    /// A failure with the code's stable message.
    pub(crate) fn code(code: tollgate_result) -> Self {
        Failure {
            code,
            message: Cow::Borrowed(message(code)),
            refusal: 0,
        }
    }

    /// An invalid argument (code 211), with the reason.
    pub(crate) fn invalid(reason: &str) -> Self {
        SdkError::InvalidArgument {
            reason: reason.into(),
        }
        .into()
    }
}

impl From<SdkError> for Failure {
    fn from(e: SdkError) -> Self {
        Failure {
            code: e.result_code(),
            message: Cow::Owned(e.to_string()),
            refusal: e.refusal_code().unwrap_or(0),
        }
    }
}

/// The stable message of `code` (C API, core or runtime), or `"unknown result code"`.
pub(crate) fn message(code: tollgate_result) -> &'static str {
    match FFI_CODES.iter().find(|(c, _, _)| *c == code) {
        Some((_, _, m)) => m,
        None => tollgate_sdk::error_info(code)
            .or_else(|| tollgate_sdk::service_refusal_info(code))
            .map_or("unknown result code", |r| r.message),
    }
}

/// The stable name of `code`, or `"Unknown"`.
pub(crate) fn name(code: tollgate_result) -> &'static str {
    match FFI_CODES.iter().find(|(c, _, _)| *c == code) {
        Some((_, n, _)) => n,
        None => tollgate_sdk::error_info(code)
            .or_else(|| tollgate_sdk::service_refusal_info(code))
            .map_or("Unknown", |r| r.name),
    }
}

/// Every known code, in code order.
pub(crate) fn all_codes() -> Vec<tollgate_result> {
    FFI_CODES
        .iter()
        .map(|(c, _, _)| *c)
        .chain(tollgate_sdk::all_errors().iter().map(|r| r.code))
        .chain(tollgate_sdk::service_refusals().map(|r| r.code))
        .collect()
}

/// NUL-terminated copies of every name and message, made once and kept for the life of the
/// process, so that C can hold the pointers forever.
struct Texts {
    rows: Vec<(tollgate_result, CString, CString)>,
    unknown_name: CString,
    unknown_message: CString,
}

fn texts() -> &'static Texts {
    static TEXTS: OnceLock<Texts> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let c = |s: &str| CString::new(s).unwrap_or_default();
        Texts {
            rows: all_codes()
                .into_iter()
                .map(|code| (code, c(name(code)), c(message(code))))
                .collect(),
            unknown_name: c("Unknown"),
            unknown_message: c("unknown result code"),
        }
    })
}

/// The static NUL-terminated name (`want_name`) or message of `code`.
pub(crate) fn static_text(code: tollgate_result, want_name: bool) -> *const c_char {
    let t = texts();
    let s = match t.rows.iter().find(|(c, _, _)| *c == code) {
        Some((_, n, m)) => {
            if want_name {
                n
            } else {
                m
            }
        }
        None if want_name => &t.unknown_name,
        None => &t.unknown_message,
    };
    s.as_ptr()
}

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
    static LAST_REFUSAL: Cell<u32> = const { Cell::new(0) };
}

/// Keeps `code` as the service's code of the calling thread's last failure.
pub(crate) fn set_last_refusal(code: u32) {
    let _ = LAST_REFUSAL.try_with(|c| c.set(code));
}

/// The service's own code (e.g. 303 `SeatsExhausted`, 340 `NoSeat`, or any code this version
/// does not know, for which the call returned 231 `TOLLGATE_ERR_SERVICE_REFUSED`) when the
/// last call that failed on the calling thread failed because the activation service or a
/// floating server refused; 0 when that failure was anything else or no call failed yet.
/// Like `tollgate_last_error`, it describes the last failure, not the last call.
#[no_mangle]
pub extern "C" fn tollgate_last_refusal_code() -> u32 {
    LAST_REFUSAL.try_with(Cell::get).unwrap_or(0)
}

/// Keeps `message` as the calling thread's last error.
pub(crate) fn set_last_error(message: &str) {
    put_last_error(Some(message.to_owned()));
}

/// Replaces the calling thread's last error.
pub(crate) fn put_last_error(message: Option<String>) {
    let _ = LAST_ERROR.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            *l = message;
        }
    });
}

/// The calling thread's last error message, if any.
pub(crate) fn last_error() -> Option<String> {
    LAST_ERROR
        .try_with(|l| l.try_borrow().ok().and_then(|l| l.clone()))
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every runtime code has a `TOLLGATE_ERR_…` constant named after it, and nothing else does.
    #[test]
    fn constants_match_the_runtime_table() {
        let header = include_str!("error.rs");
        fn snake(name: &str) -> String {
            let mut snake = String::new();
            for (i, ch) in name.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(ch.to_ascii_uppercase());
            }
            snake
        }
        for row in tollgate_sdk::all_errors() {
            let decl = format!(
                "pub const TOLLGATE_ERR_{}: tollgate_result = {};",
                snake(row.name),
                row.code
            );
            assert!(header.contains(&decl), "missing: {decl}");
        }
        for row in tollgate_sdk::service_refusals() {
            let decl = format!(
                "pub const TOLLGATE_ERR_SERVICE_{}: tollgate_result = {};",
                snake(row.name),
                row.code
            );
            assert!(header.contains(&decl), "missing: {decl}");
        }
        let declared = header
            .lines()
            .filter(|l| l.starts_with("pub const TOLLGATE_ERR_"))
            .count();
        assert_eq!(
            declared,
            tollgate_sdk::all_errors().len() + tollgate_sdk::service_refusals().count()
        );
    }

    /// The result codes the header defines: `(code, constant)` for every `#define` whose doc
    /// comment starts with its own value (`/** 340: … */`), in header order.
    fn header_codes() -> Vec<(tollgate_result, String)> {
        let header = include_str!("../../../bindings/c/include/tollgate.h");
        let lines: Vec<&str> = header.lines().collect();
        let mut codes = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let Some(rest) = line.strip_prefix("#define TOLLGATE_") else {
                continue;
            };
            let Some((name, value)) = rest.split_once(' ') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<tollgate_result>() else {
                continue;
            };
            let doc = lines[..i]
                .iter()
                .rev()
                .take_while(|l| !l.trim().is_empty())
                .find(|l| l.starts_with(" * ") && l.contains(':'));
            if doc.is_some_and(|d| d.starts_with(&format!(" * {value}: "))) {
                codes.push((value, format!("TOLLGATE_{name}")));
            }
        }
        codes
    }

    /// The README's result-code table lists exactly the header's codes, with their
    /// constants, in code order; and so does the Rust list behind `tollgate_result_name`.
    #[test]
    fn readme_table_matches_the_header() {
        let readme = include_str!("../../../bindings/c/README.md");
        let table: Vec<(tollgate_result, String)> = readme
            .lines()
            .filter_map(|l| {
                let mut cells = l.strip_prefix("| ")?.split(" | ");
                let code = cells.next()?.parse().ok()?;
                let constant = cells.next()?.trim_matches('`');
                constant
                    .starts_with("TOLLGATE_")
                    .then(|| (code, constant.to_owned()))
            })
            .collect();
        let header = header_codes();
        let missing: Vec<_> = header.iter().filter(|r| !table.contains(r)).collect();
        let extra: Vec<_> = table.iter().filter(|r| !header.contains(r)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "bindings/c/README.md: missing {missing:?}, not in the header {extra:?}"
        );
        assert_eq!(table, header, "README rows out of code order");
        let codes: Vec<_> = header.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, all_codes());
        for (code, constant) in &header {
            let n = name(*code);
            assert!(
                *code < 100 || constant.ends_with(&format!("_{}", snake(n))),
                "{constant} is not named after {n}"
            );
        }
    }

    fn snake(name: &str) -> String {
        let mut snake = String::new();
        for (i, ch) in name.chars().enumerate() {
            if ch.is_ascii_uppercase() && i > 0 {
                snake.push('_');
            }
            snake.push(ch.to_ascii_uppercase());
        }
        snake
    }

    #[test]
    fn names_and_messages() {
        assert_eq!(name(TOLLGATE_BUFFER_TOO_SMALL), "BufferTooSmall");
        assert_eq!(name(TOLLGATE_ERR_KEY_CHECKSUM), "KeyChecksum");
        assert_eq!(
            message(TOLLGATE_ERR_STATE_LOCKED),
            tollgate_sdk::message(213)
        );
        assert_eq!(message(99), "unknown result code");
        assert_eq!(name(99), "Unknown");
        let codes = all_codes();
        assert_eq!(
            codes.len(),
            7 + tollgate_sdk::all_errors().len() + tollgate_sdk::service_refusals().count()
        );
        assert_eq!(
            (
                name(TOLLGATE_ERR_SERVICE_NO_SEAT),
                TOLLGATE_ERR_SERVICE_NO_SEAT
            ),
            ("NoSeat", 340)
        );
        let refusal = Failure::from(SdkError::ServiceRefused {
            code: 340,
            name: "NoSeat".into(),
            message: "every seat of feature `mqtt` is taken".into(),
        });
        assert_eq!(refusal.code, TOLLGATE_ERR_SERVICE_NO_SEAT);
        let other = Failure::from(SdkError::ServiceRefused {
            code: 400,
            name: "BadRequest".into(),
            message: "x".into(),
        });
        assert_eq!(other.code, TOLLGATE_ERR_SERVICE_REFUSED);
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
    }
}
