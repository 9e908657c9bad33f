//! The ledger's refusals as HTTP errors: each [`AuthorityError`] keeps its stable code and
//! name, with the status that fits it.

use std::time::Duration;

use axum::http::StatusCode;
use tollgate_authority::AuthorityError;
use tollgate_service_kit::ApiError;

/// The HTTP error for a ledger error. Internal details (paths, database messages) stay in the
/// log, not in the response.
pub fn ledger_error(e: AuthorityError) -> ApiError {
    use AuthorityError as A;
    let status = match &e {
        A::UnknownKey
        | A::WrongProduct { .. }
        | A::ModelNotAllowed { .. }
        | A::BadDeactivationCode
        | A::LicenseExpired
        | A::LicenseNotYetValid => StatusCode::FORBIDDEN,
        A::SeatsExhausted { .. }
        | A::AlreadyDeactivated(_)
        | A::StaleRequest { .. }
        | A::FeatureExists(_)
        | A::NoActiveActivation
        | A::FloatingActivationExists { .. } => StatusCode::CONFLICT,
        A::LicenseNotFound(_) | A::ActivationNotFound(_) => StatusCode::NOT_FOUND,
        A::Core(_) | A::InvalidArgument(_) | A::NoSuchSubscription(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        A::Busy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        e.message().to_owned()
    } else {
        e.to_string()
    };
    let mut out = ApiError::new(status, e.code(), e.name(), message);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        out.retry_after = Some(Duration::from_secs(1));
    }
    out
}
