//! The License page's JSON API (issue 14): what the `<tollgate-license-page>` web component
//! sends to the host that embeds it (`tollgate-page`, `tollgate host ui`). Paths are relative to
//! where the host mounts the page (e.g. `/license`).
//!
//! Every state-changing call is a `POST` carrying the session's CSRF token in
//! [`CSRF_HEADER`]; the token comes from `GET` [`SESSION`], which also sets the
//! [`SESSION_COOKIE`] (`HttpOnly; SameSite=Strict`). No answer ever contains a license key.
//!
//! The page's own refusal codes (the host runtime's range, 250–254):
//!
//! | code | name | status | meaning |
//! |---|---|---|---|
//! | 250 | `PageUnauthorized` | 401 | the host's authentication (token or callback) refused the call |
//! | 251 | `CsrfRefused` | 403 | missing or wrong session cookie or CSRF token on a `POST` |
//! | 252 | `ForeignOrigin` | 403 | `Origin`, `Sec-Fetch-Site` or `Host` is not the page's own (cross-site call, DNS rebinding) |
//! | 253 | `NotConfigured` | 409 | the host did not configure this (no online service, no floating server, an unknown feature set) |
//! | 254 | `RemoteBind` | — | a non-loopback listen address without the explicit opt-in and an authentication (start-up error) |
//!
//! A license operation the runtime refuses answers 422 with the runtime's code (e.g. 101 for a
//! mistyped key, 202 for a superseded request); a refusal of the licensing service keeps the
//! service's code (e.g. 303 seats exhausted, 340 no floating seat); a service that cannot be
//! reached answers 502 with 230. Malformed JSON is 400 (`BadRequest`), a body over
//! [`MAX_BODY`] 413, an unknown route 404.

use serde::{Deserialize, Serialize};

/// The OpenAPI 3 document of the License page's API, served at [`OPENAPI_PATH`].
/// `tollgate-page`'s tests check it against its route table, route by route.
pub const OPENAPI: &str = include_str!("../openapi/page.json");

/// `GET`: the OpenAPI document.
pub const OPENAPI_PATH: &str = "/api/openapi.json";
/// `GET`: a session: sets the session cookie, answers [`SessionOut`].
pub const SESSION: &str = "/api/session";
/// `GET`: the status page's content, [`PageStatus`]-shaped JSON.
pub const STATUS: &str = "/api/status";
/// `POST` [`KeyIn`]: online activation with a license key.
pub const ONLINE_ACTIVATE: &str = "/api/online/activate";
/// `POST`: online reactivation (pull the license's current terms).
pub const ONLINE_REACTIVATE: &str = "/api/online/reactivate";
/// `POST`: online deactivation (the service frees the seat).
pub const ONLINE_DEACTIVATE: &str = "/api/online/deactivate";
/// `POST` [`KeyIn`]: a new usage request (each invalidates the previous one).
pub const OFFLINE_REQUEST: &str = "/api/offline/request";
/// `POST`: a new usage request for the installed activation, without the key (upgrade).
pub const OFFLINE_RENEW: &str = "/api/offline/renew";
/// `POST` [`UsageLicenseIn`]: install the vendor's usage license.
pub const OFFLINE_INSTALL: &str = "/api/offline/install";
/// `POST`: offline deactivation: answers the deactivation code for the vendor.
pub const OFFLINE_DEACTIVATE: &str = "/api/offline/deactivate";
/// `POST` [`FloatingIn`]: check a feature set out from a floating license server.
pub const FLOATING_CHECKOUT: &str = "/api/floating/checkout";
/// `POST`: give the floating lease back.
pub const FLOATING_RELEASE: &str = "/api/floating/release";

/// The header carrying the session's CSRF token on every `POST`.
pub const CSRF_HEADER: &str = "x-tollgate-csrf";
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tollgate_page";
/// The largest request body accepted, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// 250: the host's authentication refused the call.
pub const PAGE_UNAUTHORIZED: u32 = 250;
/// 251: missing or wrong session cookie or CSRF token.
pub const CSRF_REFUSED: u32 = 251;
/// 252: a cross-site or foreign-host call.
pub const FOREIGN_ORIGIN: u32 = 252;
/// 253: the host did not configure this.
pub const NOT_CONFIGURED: u32 = 253;
/// 254: a non-loopback listen address without the opt-in.
pub const REMOTE_BIND: u32 = 254;

/// The page's own codes: (code, name, message).
pub const PAGE_ERRORS: [(u32, &str, &str); 5] = [
    (
        PAGE_UNAUTHORIZED,
        "PageUnauthorized",
        "the host's authentication refused this call",
    ),
    (
        CSRF_REFUSED,
        "CsrfRefused",
        "missing or wrong session cookie or CSRF token",
    ),
    (
        FOREIGN_ORIGIN,
        "ForeignOrigin",
        "the call does not come from the License page's own origin",
    ),
    (
        NOT_CONFIGURED,
        "NotConfigured",
        "the host did not configure this",
    ),
    (
        REMOTE_BIND,
        "RemoteBind",
        "the License page listens on loopback only unless remote access is explicitly allowed with an authentication",
    ),
];

/// The answer of [`SESSION`]: what the page needs before its first call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOut {
    /// Send it back in [`CSRF_HEADER`] on every `POST`.
    pub csrf_token: String,
    /// The product.
    pub product: String,
    /// Who to send usage requests and deactivation codes to, e.g. `Cirrus Link`.
    pub vendor: String,
    /// Whether the host configured an online activation service.
    pub online: bool,
    /// The floating server's URL to offer, if the host configured one.
    pub floating_server: Option<String>,
    /// The feature sets offered for a floating checkout.
    pub feature_sets: Vec<FeatureSet>,
    /// Where the Upgrade License button leads (the vendor's shop), if anywhere.
    pub upgrade_url: Option<String>,
}

/// A named feature set for a floating checkout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSet {
    /// Shown in the wizard, e.g. `MQTT Server + Snowflake`.
    pub name: String,
    /// The features checked out.
    pub features: Vec<String>,
}

/// A license key, typed, pasted or dropped. Never echoed back.
#[derive(Clone, Deserialize)]
pub struct KeyIn {
    /// The license key.
    pub key: String,
}

impl std::fmt::Debug for KeyIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyIn { key: <redacted> }")
    }
}

/// The vendor's usage license.
#[derive(Clone, Debug, Deserialize)]
pub struct UsageLicenseIn {
    /// `TGUL:…`.
    pub usage_license: String,
}

/// A floating checkout.
#[derive(Clone, Debug, Deserialize)]
pub struct FloatingIn {
    /// The floating license server's URL.
    pub server: String,
    /// The name of one of [`SessionOut::feature_sets`].
    pub feature_set: String,
}

/// The answer of [`OFFLINE_REQUEST`] and [`OFFLINE_RENEW`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRequestOut {
    /// `TGRQ:…`, for the vendor.
    pub usage_request: String,
}

/// The answer of [`OFFLINE_DEACTIVATE`] and [`ONLINE_DEACTIVATE`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeactivationOut {
    /// `TGDC:…`, for the vendor (offline) or already delivered (online).
    pub deactivation_code: String,
    /// Online: whether the service freed the seat now (or had already).
    pub delivered: bool,
}
