//! [`TollgateError`]: what every failing call raises in the foreign language.

use tollgate_sdk::SdkError;

/// A failed call. Every variant carries the stable numeric `code` (never changes meaning; see
/// [`crate::all_errors`]), the code's stable `name` (e.g. `KeyChecksum`) and the full,
/// human-readable `reason` (never contains secrets).
///
/// In Python it is the exception class `TollgateError` (subclasses `TollgateError.Rejected`,
/// `TollgateError.Runtime` and `TollgateError.Service`); in Kotlin the sealed class
/// `TollgateException`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Error)]
pub enum TollgateError {
    /// The core rejected an artifact or a license key: malformed, damaged, tampered, signed
    /// by an unknown key, for another product or machine, outside its validity (codes
    /// 100–128).
    Rejected {
        /// The stable code, 100–128.
        code: u32,
        /// The code's stable name, e.g. `KeyChecksum`.
        name: String,
        /// The full message.
        reason: String,
    },
    /// The host runtime refused or failed: superseded request, deactivated activation, clock
    /// rollback, quota, storage, configuration… (codes 200 and up).
    Runtime {
        /// The stable code, 200 and up.
        code: u32,
        /// The code's stable name, e.g. `SupersededRequest`.
        name: String,
        /// The full message.
        reason: String,
    },
    /// The online activation service or a floating license server could not be used or
    /// refused: 230 `ServiceUnreachable`, 232 `ServiceUnavailable`, 233 `RateLimited`, 234
    /// `BadResponse` (230, 232 and 233 after the retries), or the service's own refusal code
    /// (300–331 from the activation service, e.g. 303 `SeatsExhausted`; 340–347 from a
    /// floating server, e.g. 340 `NoSeat`), or 231 `ServiceRefused` for a refusal whose code
    /// this version does not know (the service's code is then in `reason`).
    Service {
        /// The stable code: 230–234, or the service's refusal code (300 and up).
        code: u32,
        /// The code's stable name, e.g. `NoSeat`.
        name: String,
        /// The full message.
        reason: String,
    },
}

#[uniffi::export]
impl TollgateError {
    /// The stable numeric code, whichever the variant.
    pub fn code(&self) -> u32 {
        match self {
            TollgateError::Rejected { code, .. }
            | TollgateError::Runtime { code, .. }
            | TollgateError::Service { code, .. } => *code,
        }
    }

    /// The code's stable name, whichever the variant.
    pub fn name(&self) -> String {
        match self {
            TollgateError::Rejected { name, .. }
            | TollgateError::Runtime { name, .. }
            | TollgateError::Service { name, .. } => name.clone(),
        }
    }

    /// The full message, whichever the variant.
    pub fn reason(&self) -> String {
        match self {
            TollgateError::Rejected { reason, .. }
            | TollgateError::Runtime { reason, .. }
            | TollgateError::Service { reason, .. } => reason.clone(),
        }
    }
}

impl std::fmt::Display for TollgateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TollgateError::Rejected { code, name, reason }
            | TollgateError::Runtime { code, name, reason }
            | TollgateError::Service { code, name, reason } => {
                write!(f, "{reason} (code {code}, {name})")
            }
        }
    }
}

impl std::error::Error for TollgateError {}

impl From<SdkError> for TollgateError {
    fn from(e: SdkError) -> Self {
        let (code, name, reason) = (e.result_code(), e.result_name().to_string(), e.to_string());
        match e {
            SdkError::Core(_) => TollgateError::Rejected { code, name, reason },
            SdkError::ServiceUnreachable { .. }
            | SdkError::MetadataUnreachable { .. }
            | SdkError::BadMetadata { .. }
            | SdkError::ServiceRefused { .. }
            | SdkError::ServiceUnavailable { .. }
            | SdkError::RateLimited { .. }
            | SdkError::BadResponse { .. } => TollgateError::Service { code, name, reason },
            _ => TollgateError::Runtime { code, name, reason },
        }
    }
}

/// An invalid argument or configuration value (`Runtime` 211 `InvalidArgument`).
pub(crate) fn invalid(reason: impl Into<String>) -> TollgateError {
    SdkError::InvalidArgument {
        reason: reason.into(),
    }
    .into()
}

/// One row of the error-code table.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ErrorInfo {
    /// The stable numeric code.
    pub code: u32,
    /// The stable name, e.g. `KeyChecksum`, `SupersededRequest`.
    pub name: String,
    /// A short, stable, human-readable message.
    pub message: String,
}

impl From<tollgate_sdk::ErrorInfo> for ErrorInfo {
    fn from(r: tollgate_sdk::ErrorInfo) -> Self {
        ErrorInfo {
            code: r.code,
            name: r.name.into(),
            message: r.message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_sdk::tollgate_core::Error as CoreError;

    #[test]
    fn core_errors_are_rejections_and_keep_their_code() {
        let e = TollgateError::from(SdkError::Core(CoreError::KeyChecksum));
        assert!(
            matches!(e, TollgateError::Rejected { code: 118, .. }),
            "{e:?}"
        );
        assert_eq!(e.name(), "KeyChecksum");
        assert!(e.to_string().ends_with("(code 118, KeyChecksum)"), "{e}");
    }

    #[test]
    fn runtime_errors_keep_their_code_and_message() {
        let e = TollgateError::from(SdkError::SupersededRequest {
            answered: 1,
            newest: 2,
        });
        assert!(
            matches!(e, TollgateError::Runtime { code: 202, .. }),
            "{e:?}"
        );
        assert_eq!(e.name(), "SupersededRequest");
        assert!(e.reason().contains("number 2"), "{e}");
        assert_eq!(invalid("x").code(), 211);
    }

    #[test]
    fn service_errors_carry_the_service_code() {
        let refused = |code: u32, name: &str| SdkError::ServiceRefused {
            code,
            name: name.into(),
            message: "m".into(),
        };
        let no_seat = TollgateError::from(refused(340, "NoSeat"));
        assert_eq!(
            no_seat,
            TollgateError::Service {
                code: 340,
                name: "NoSeat".into(),
                reason: "the licensing service refused: m (code 340, NoSeat)".into(),
            }
        );
        let seats = TollgateError::from(refused(303, "SeatsExhausted"));
        assert!(
            matches!(seats, TollgateError::Service { code: 303, .. }),
            "{seats:?}"
        );
        assert_eq!(seats.name(), "SeatsExhausted");
        // A code this version does not know stays 231, with the service's code in the text.
        let other = TollgateError::from(refused(401, "Unauthorized"));
        assert!(
            matches!(other, TollgateError::Service { code: 231, .. }),
            "{other:?}"
        );
        assert!(other.reason().contains("code 401, Unauthorized"), "{other}");
        let down = TollgateError::from(SdkError::ServiceUnreachable { reason: "x".into() });
        assert!(
            matches!(down, TollgateError::Service { code: 230, .. }),
            "{down:?}"
        );
        let limited = TollgateError::from(SdkError::RateLimited {
            retry_after_secs: 3,
        });
        assert_eq!(
            (limited.code(), limited.name()),
            (233, "RateLimited".into())
        );
        let bad = TollgateError::from(SdkError::BadResponse { reason: "x".into() });
        assert!(
            matches!(bad, TollgateError::Service { code: 234, .. }),
            "{bad:?}"
        );
    }
}
