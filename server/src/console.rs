//! The vendor's support console (issue 14): a web page over the admin API, served at
//! `/console/`. The page holds no secret: the operator types the admin token into it, and it
//! calls the admin API with it as a bearer token (no cookie, so no cross-site request can use
//! it). The component is `web/console/console.js`, a plain JavaScript module.

use axum::http::header;
use axum::response::IntoResponse;

/// The console page.
pub const CONSOLE_HTML: &str = include_str!("../../web/console/index.html");
/// The `<tollgate-console>` component.
pub const CONSOLE_JS: &str = include_str!("../../web/console/console.js");

const CSP: &str =
    "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `GET /console/`.
pub(crate) async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        CONSOLE_HTML,
    )
}

/// `GET /console/console.js`.
pub(crate) async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        CONSOLE_JS,
    )
}
