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
        | A::LicenseNotYetValid
        | A::LicenseSuspended(_)
        | A::LicenseRevoked(_)
        | A::UsageDeviceUnknown { .. } => StatusCode::FORBIDDEN,
        A::SeatsExhausted { .. }
        | A::AlreadyDeactivated(_)
        | A::StaleRequest { .. }
        | A::FeatureExists(_)
        | A::NoActiveActivation
        | A::TransferLimit { .. }
        | A::FloatingActivationExists { .. }
        | A::InstanceMismatch { .. }
        | A::UsageAcceptRefused { .. } => StatusCode::CONFLICT,
        A::LicenseNotFound(_)
        | A::ActivationNotFound(_)
        | A::PurchaseNotFound(_)
        | A::UsageFlagNotFound { .. } => StatusCode::NOT_FOUND,
        A::Core(_)
        | A::InvalidArgument(_)
        | A::NoSuchSubscription(_)
        | A::WeakFingerprint { .. }
        | A::NotMarketplaceRequest
        | A::UsageTooManyReports { .. }
        | A::UsageSubmissionInvalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
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

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_authority::LedgerError;

    /// Every refusal the service answers with a 4xx is in the clients' table of service
    /// refusals (which the bindings report as their own result code) under the same name and
    /// message, and the 5xx ones are not.
    #[test]
    fn client_refusals_match_the_sdk_table() {
        use AuthorityError as A;
        let all = [
            A::UnknownKey,
            A::WrongProduct {
                licensed: String::new(),
                requested: String::new(),
            },
            A::ModelNotAllowed {
                model: tollgate_core::DeploymentModel::Floating,
            },
            A::SeatsExhausted { max: 1 },
            A::LicenseNotFound(1),
            A::ActivationNotFound(1),
            A::AlreadyDeactivated(1),
            A::BadDeactivationCode,
            A::StaleRequest {
                counter: 1,
                latest: 2,
            },
            A::LicenseExpired,
            A::LicenseNotYetValid,
            A::FeatureExists(String::new()),
            A::NoSuchSubscription(String::new()),
            A::InvalidArgument(String::new()),
            A::NoActiveActivation,
            A::FloatingActivationExists { activation_id: 1 },
            A::NoSigningKey,
            A::Busy,
            A::Db(LedgerError::new(std::io::Error::other("x"))),
        ];
        let mut listed = 0;
        for e in all {
            let (code, name, message) = (e.code(), e.name(), e.message());
            let status = ledger_error(e).status;
            match tollgate_sdk::service_refusal_info(code) {
                Some(row) => {
                    assert!(status.is_client_error(), "{code}");
                    assert_eq!((row.name, row.message), (name, message), "{code}");
                    listed += 1;
                }
                None => assert!(status.is_server_error(), "{code} {status}"),
            }
        }
        assert_eq!(listed, 16);
        // The shop's 350 answers the License page, not a host: it is not a host refusal.
        let e = A::PurchaseNotFound(1);
        assert_eq!(tollgate_sdk::service_refusal_info(e.code()), None);
        let e = ledger_error(e);
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, 350));
        // Metered usage (issue 15): 355-359.
        let got: Vec<(StatusCode, u32, &str)> = [
            A::UsageDeviceUnknown { license_id: 1 },
            A::UsageTooManyReports { max: 4096 },
            A::UsageSubmissionInvalid("no report".into()),
            A::UsageFlagNotFound {
                license_id: 1,
                seq: 2,
            },
            A::UsageAcceptRefused {
                seq: 2,
                why: "fork".into(),
            },
        ]
        .into_iter()
        .map(|e| {
            let e = ledger_error(e);
            (e.status, e.code, e.name)
        })
        .collect();
        assert_eq!(
            got,
            [
                (StatusCode::FORBIDDEN, 355, "UsageDeviceUnknown"),
                (StatusCode::UNPROCESSABLE_ENTITY, 356, "UsageTooManyReports"),
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    357,
                    "UsageSubmissionInvalid"
                ),
                (StatusCode::NOT_FOUND, 358, "UsageFlagNotFound"),
                (StatusCode::CONFLICT, 359, "UsageAcceptRefused"),
            ]
        );
        // A host's report_usage can meet 355-357: the sdk knows them with the same name and
        // message; 358-359 answer the vendor's console and CLI only.
        for e in [
            A::UsageDeviceUnknown { license_id: 1 },
            A::UsageTooManyReports { max: 4096 },
            A::UsageSubmissionInvalid("no report".into()),
        ] {
            let row = tollgate_sdk::service_refusal_info(e.code()).expect("a host refusal");
            assert_eq!((row.name, row.message), (e.name(), e.message()));
        }
        assert_eq!(tollgate_sdk::service_refusal_info(358), None);
        assert_eq!(tollgate_sdk::service_refusal_info(359), None);
    }
}
