//! The error envelope every Tollgate HTTP API answers with:
//! `{"error": {"code": N, "name": "…", "message": "…"}}`, beside an HTTP status.
//!
//! `code` is the stable result code shared by the CLI and every binding: core errors 1xx,
//! vendor (authority) errors 300–323 and 331, floating server refusals 340–346, the License page's
//! 250–254 ([`crate::page`]), the shop's 350–354 ([`crate::shop`]), metered usage's 355–359
//! ([`crate::usage`]), the marketplace's 380–387
//! ([`crate::marketplace`]), and the services' own:
//!
//! | code | name | status | meaning |
//! |---|---|---|---|
//! | 400 | `BadRequest` | 400 | the body is not the JSON this endpoint takes |
//! | 401 | `Unauthorized` | 401 | missing or wrong admin bearer token (or no token configured) |
//! | 404 | `NoSuchEndpoint` | 404 | no such route |
//! | 413 | `TooLarge` | 413 | the body is larger than the endpoint accepts |
//! | 429 | `RateLimited` | 429 | too many failed attempts from this address; see `Retry-After` |
//! | 500 | `Internal` | 500 | a worker failed unexpectedly |
//! | 503 | `Unavailable` | 503 | shutting down or overloaded; retry |

use serde::{Deserialize, Serialize};

/// 400: the body is not what the endpoint takes.
pub const BAD_REQUEST: u32 = 400;
/// 401: missing or wrong admin token.
pub const UNAUTHORIZED: u32 = 401;
/// 404: no such route.
pub const NO_SUCH_ENDPOINT: u32 = 404;
/// 413: the body is too large.
pub const TOO_LARGE: u32 = 413;
/// 429: too many failed attempts.
pub const RATE_LIMITED: u32 = 429;
/// 500: a worker failed unexpectedly.
pub const INTERNAL: u32 = 500;
/// 503: shutting down or overloaded.
pub const UNAVAILABLE: u32 = 503;

/// The whole error body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorDetail,
}

/// The error inside an [`ErrorEnvelope`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable result code.
    pub code: u32,
    /// Stable name of the code (`SeatsExhausted`, `RateLimited`, …).
    pub name: String,
    /// Human-readable message; never holds a secret.
    pub message: String,
}
