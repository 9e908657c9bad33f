//! The services' error responses: [`ApiError`], rendered as the protocol's
//! [`ErrorEnvelope`].
//!
//! Every error is a JSON body `{"error": {"code": N, "name": "…", "message": "…"}}` with an
//! HTTP status. `code` is the stable result code shared by the CLI and every binding: core
//! errors 1xx, vendor (authority) errors 300–323 and 331, floating refusals 340–346, and the services'
//! own:
//!
//! | code | name | status | meaning |
//! |---|---|---|---|
//! | 400 | `BadRequest` | 400 | the body is not the JSON this endpoint takes |
//! | 401 | `Unauthorized` | 401 | missing or wrong admin bearer token (or no token configured) |
//! | 404 | `NoSuchEndpoint` | 404 | no such route |
//! | 413 | `TooLarge` | 413 | the body is larger than 64 KiB |
//! | 429 | `RateLimited` | 429 | too many failed attempts from this address; see `Retry-After` |
//! | 500 | `Internal` | 500 | a worker failed unexpectedly |
//! | 503 | `Unavailable` | 503 | shutting down or overloaded; retry |
//!
//! Messages never contain secrets: artifacts, keys and tokens are not echoed back.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tollgate_protocol::error::{ErrorDetail, ErrorEnvelope};

/// What the metrics and the log record as a response's outcome (`ok` when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The error's name.
    pub name: &'static str,
    /// Whether it counts as a failed attempt for the rate limiter.
    pub failed_attempt: bool,
}

/// An error response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable result code.
    pub code: u32,
    /// Stable name of the code.
    pub name: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Seconds to wait before retrying (429, 503).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with this status, stable code and name (a service's own refusals, such as the
    /// floating server's 340–346, or a domain error converted by the service).
    pub fn new(
        status: StatusCode,
        code: u32,
        name: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code,
            name,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400: the body is not what the endpoint takes.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 400, "BadRequest", message)
    }

    /// 401: the admin token is missing or wrong.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 401, "Unauthorized", message)
    }

    /// 404: no such route.
    pub fn no_such_endpoint() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            404,
            "NoSuchEndpoint",
            "no such endpoint: see /openapi.json",
        )
    }

    /// 413: body too large.
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            413,
            "TooLarge",
            "the request body is too large",
        )
    }

    /// 429: rate limited.
    pub fn rate_limited(wait: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            429,
            "RateLimited",
            "too many failed attempts from this address; retry later",
        );
        e.retry_after = Some(wait);
        e
    }

    /// 500: a worker failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, 500, "Internal", message)
    }

    /// 503: shutting down or overloaded.
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, 503, "Unavailable", message);
        e.retry_after = Some(Duration::from_secs(1));
        e
    }

    /// Whether a client guessing keys, codes or tokens would cause this error: it costs the
    /// client's address a token of its rate limit (forged, replayed or malformed marketplace
    /// identities, 381, 384 and 387, and usage reports of a device key that is no activation
    /// of their license, 355, included).
    pub fn is_failed_attempt(&self) -> bool {
        matches!(
            self.code,
            100..=199 | 300 | 305 | 307 | 350 | 355 | 381 | 384 | 387 | 401
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorEnvelope {
            error: ErrorDetail {
                code: self.code,
                name: self.name.to_owned(),
                message: self.message.clone(),
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp.extensions_mut().insert(Outcome {
            name: self.name,
            failed_attempt: self.is_failed_attempt(),
        });
        resp
    }
}
