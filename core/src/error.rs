//! The one error type of the core.

use core::fmt;

/// Everything that can go wrong while decoding or verifying a Tollgate artifact.
///
/// The numeric value of each variant ([`Error::code`]) is stable: it is the same number the C
/// and Java bindings report, and a retired variant's number is never reused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The armored text does not start with a known `TG…:` prefix.
    ArmorPrefix,
    /// The armored text holds a character outside base64url, or non-canonical padding bits.
    ArmorEncoding,
    /// The armored text decoded, but its CRC-32 does not match: it was pasted or copied wrongly.
    ArmorChecksum,
    /// The artifact is of another type than the one expected (e.g. a usage request given where
    /// a usage license was expected).
    WrongArtifactType,
    /// The magic bytes are not `TG`.
    BadMagic,
    /// The format version is newer than this library understands.
    UnknownVersion,
    /// The format version is one this library no longer accepts.
    RetiredVersion,
    /// The bytes end before the artifact does.
    Truncated,
    /// The bytes are structurally invalid (bad encoding, trailing bytes, a field out of range).
    Malformed,
    /// The artifact is larger than the format's size limit.
    TooLarge,
    /// No verifying key with the artifact's key id is known.
    UnknownKeyId,
    /// The signature does not verify. Deliberately carries no detail.
    BadSignature,
    /// The artifact was issued for another product.
    WrongProduct,
    /// The host's fingerprint matches fewer components than the license requires.
    FingerprintMismatch,
    /// `now` is before the start of the validity window.
    NotYetValid,
    /// `now` is past the end of the license's validity window.
    Expired,
    /// `now` is past the refresh deadline of an online or floating activation.
    RefreshOverdue,
    /// A license key has the wrong length or a character outside the alphabet.
    KeyFormat,
    /// A license key is well-formed but its check characters do not match: a typo.
    KeyChecksum,
    /// A public key is not a valid (or is a weak) ed25519 point.
    BadPublicKey,
    /// A value given to an encoder breaks a format limit (a name too long, too many features…).
    LimitExceeded,
    /// A lease token was issued to another client (another machine or instance).
    LeaseWrongClient,
    /// A lease token claims what the floating license does not grant: the license is not a
    /// floating activation, or the lease names another license or activation, a feature the
    /// license lacks, or a longer term than it allows.
    LeaseNotGranted,
    /// `now` is at or past the end of a lease: it was not renewed in time.
    LeaseExpired,
    /// The artifact's signing key is not certified by the vendor's root key: no certificate of
    /// it is in the trust store and the artifact carries none that the root signed for this
    /// product and this key (the "customer put their own key in the configuration" attack).
    KeyNotCertified,
    /// The artifact's signing key is retired by the vendor's current root-signed key list.
    KeyRetired,
    /// A root-signed key list older (lower sequence) than the one the host already holds.
    StaleKeyList,
    /// The artifact was issued outside the validity of its signing key's certificate.
    OutsideKeyValidity,
    /// A lease token that does not answer this request: its nonce is not the one the client
    /// sent with the checkout or heartbeat it answers (a replayed or stale token).
    LeaseNonceMismatch,
    /// A usage report that cannot start or continue a chain: sequence number 0, report 1 with
    /// a non-zero previous hash, or a later report with an all-zero previous hash.
    UsageChainStart,
    /// A usage report with more entries than the format allows ([`crate::MAX_USAGE_ENTRIES`]).
    UsageTooManyEntries,
    /// A usage report that names the same feature and period start twice.
    UsageDuplicateEntry,
    /// A usage report entry that is out of (feature, period start) order, counts zero units,
    /// or names no valid feature.
    UsageBadEntry,
    /// A usage report whose claimed device key is not the key signing it.
    UsageDeviceMismatch,
}

impl Error {
    /// The stable numeric code of this error, shared with the C and Java bindings.
    pub const fn code(self) -> u32 {
        match self {
            Error::ArmorPrefix => 100,
            Error::ArmorEncoding => 101,
            Error::ArmorChecksum => 102,
            Error::WrongArtifactType => 103,
            Error::BadMagic => 104,
            Error::UnknownVersion => 105,
            Error::RetiredVersion => 106,
            Error::Truncated => 107,
            Error::Malformed => 108,
            Error::TooLarge => 109,
            Error::UnknownKeyId => 110,
            Error::BadSignature => 111,
            Error::WrongProduct => 112,
            Error::FingerprintMismatch => 113,
            Error::NotYetValid => 114,
            Error::Expired => 115,
            Error::RefreshOverdue => 116,
            Error::KeyFormat => 117,
            Error::KeyChecksum => 118,
            Error::BadPublicKey => 119,
            Error::LimitExceeded => 120,
            Error::LeaseWrongClient => 121,
            Error::LeaseNotGranted => 122,
            Error::LeaseExpired => 123,
            Error::KeyNotCertified => 124,
            Error::KeyRetired => 125,
            Error::StaleKeyList => 126,
            Error::OutsideKeyValidity => 127,
            Error::LeaseNonceMismatch => 128,
            Error::UsageChainStart => 130,
            Error::UsageTooManyEntries => 131,
            Error::UsageDuplicateEntry => 132,
            Error::UsageBadEntry => 133,
            Error::UsageDeviceMismatch => 134,
        }
    }

    /// The variant's name, e.g. `"BadSignature"`: stable, for logs, JSON and the bindings.
    pub const fn name(self) -> &'static str {
        match self {
            Error::ArmorPrefix => "ArmorPrefix",
            Error::ArmorEncoding => "ArmorEncoding",
            Error::ArmorChecksum => "ArmorChecksum",
            Error::WrongArtifactType => "WrongArtifactType",
            Error::BadMagic => "BadMagic",
            Error::UnknownVersion => "UnknownVersion",
            Error::RetiredVersion => "RetiredVersion",
            Error::Truncated => "Truncated",
            Error::Malformed => "Malformed",
            Error::TooLarge => "TooLarge",
            Error::UnknownKeyId => "UnknownKeyId",
            Error::BadSignature => "BadSignature",
            Error::WrongProduct => "WrongProduct",
            Error::FingerprintMismatch => "FingerprintMismatch",
            Error::NotYetValid => "NotYetValid",
            Error::Expired => "Expired",
            Error::RefreshOverdue => "RefreshOverdue",
            Error::KeyFormat => "KeyFormat",
            Error::KeyChecksum => "KeyChecksum",
            Error::BadPublicKey => "BadPublicKey",
            Error::LimitExceeded => "LimitExceeded",
            Error::LeaseWrongClient => "LeaseWrongClient",
            Error::LeaseNotGranted => "LeaseNotGranted",
            Error::LeaseExpired => "LeaseExpired",
            Error::KeyNotCertified => "KeyNotCertified",
            Error::KeyRetired => "KeyRetired",
            Error::StaleKeyList => "StaleKeyList",
            Error::OutsideKeyValidity => "OutsideKeyValidity",
            Error::LeaseNonceMismatch => "LeaseNonceMismatch",
            Error::UsageChainStart => "UsageChainStart",
            Error::UsageTooManyEntries => "UsageTooManyEntries",
            Error::UsageDuplicateEntry => "UsageDuplicateEntry",
            Error::UsageBadEntry => "UsageBadEntry",
            Error::UsageDeviceMismatch => "UsageDeviceMismatch",
        }
    }

    /// A short, stable, human-readable message for this error.
    pub const fn message(self) -> &'static str {
        match self {
            Error::ArmorPrefix => "not a Tollgate artifact: unknown text prefix",
            Error::ArmorEncoding => "the text contains characters that are not part of the artifact",
            Error::ArmorChecksum => "checksum mismatch: the text was copied or pasted incompletely or altered in transit",
            Error::WrongArtifactType => "this is a different kind of artifact than the one expected",
            Error::BadMagic => "not a Tollgate artifact: bad magic bytes",
            Error::UnknownVersion => "the artifact uses a newer format version than this software understands",
            Error::RetiredVersion => "the artifact uses a retired format version",
            Error::Truncated => "the artifact is truncated",
            Error::Malformed => "the artifact is malformed",
            Error::TooLarge => "the artifact exceeds the size limit",
            Error::UnknownKeyId => "the artifact was signed by an unknown vendor key",
            Error::BadSignature => "the signature is invalid: the artifact was tampered with or forged",
            Error::WrongProduct => "the artifact was issued for a different product",
            Error::FingerprintMismatch => "the license is bound to a different machine",
            Error::NotYetValid => "the license is not valid yet",
            Error::Expired => "the license has expired",
            Error::RefreshOverdue => "the activation was not refreshed before its deadline",
            Error::KeyFormat => "a license key is 25 characters from the license-key alphabet",
            Error::KeyChecksum => "the license key contains a typo",
            Error::BadPublicKey => "invalid public key",
            Error::LimitExceeded => "a value exceeds a format limit",
            Error::LeaseWrongClient => "the lease was issued to another client",
            Error::LeaseNotGranted => "the lease is not covered by the floating license",
            Error::LeaseExpired => "the lease has expired: it was not renewed in time",
            Error::KeyNotCertified => "the signing key is not certified by the vendor's root key",
            Error::KeyRetired => "the signing key was retired by the vendor",
            Error::StaleKeyList => "the key list is older than the one already applied",
            Error::OutsideKeyValidity => "the artifact was issued outside its signing key's validity",
            Error::LeaseNonceMismatch => {
                "the lease token does not answer this request: replayed or stale"
            }
            Error::UsageChainStart => {
                "the usage report's sequence number and previous hash do not form a chain"
            }
            Error::UsageTooManyEntries => "the usage report has too many entries",
            Error::UsageDuplicateEntry => {
                "the usage report counts the same feature and period twice"
            }
            Error::UsageBadEntry => {
                "a usage report entry is out of order, counts zero units or names no feature"
            }
            Error::UsageDeviceMismatch => {
                "the usage report's device key is not the key that signs it"
            }
        }
    }

    /// Every variant, in code order; used by the bindings to export their tables.
    pub const ALL: [Error; 34] = [
        Error::ArmorPrefix,
        Error::ArmorEncoding,
        Error::ArmorChecksum,
        Error::WrongArtifactType,
        Error::BadMagic,
        Error::UnknownVersion,
        Error::RetiredVersion,
        Error::Truncated,
        Error::Malformed,
        Error::TooLarge,
        Error::UnknownKeyId,
        Error::BadSignature,
        Error::WrongProduct,
        Error::FingerprintMismatch,
        Error::NotYetValid,
        Error::Expired,
        Error::RefreshOverdue,
        Error::KeyFormat,
        Error::KeyChecksum,
        Error::BadPublicKey,
        Error::LimitExceeded,
        Error::LeaseWrongClient,
        Error::LeaseNotGranted,
        Error::LeaseExpired,
        Error::KeyNotCertified,
        Error::KeyRetired,
        Error::StaleKeyList,
        Error::OutsideKeyValidity,
        Error::LeaseNonceMismatch,
        Error::UsageChainStart,
        Error::UsageTooManyEntries,
        Error::UsageDuplicateEntry,
        Error::UsageBadEntry,
        Error::UsageDeviceMismatch,
    ];
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Shorthand for results in this crate (the error is [`Error`] unless named).
pub type Result<T, E = Error> = core::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_ordered() {
        let codes: alloc::vec::Vec<u32> = Error::ALL.iter().map(|e| e.code()).collect();
        // 129 is not allocated (reserved).
        let expected: alloc::vec::Vec<u32> = (100..129).chain(130..135).collect();
        assert_eq!(codes, expected);
    }
}
