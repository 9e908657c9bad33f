//! # tollgate-page
//!
//! The License page a host embeds (issue 14): the `<tollgate-license-page>` web component
//! (`web/license-page/`, plain JavaScript modules, no build step) and the small JSON API behind
//! it ([`tollgate_protocol::page`], OpenAPI in `protocol/openapi/page.json`).
//!
//! [`LicensePage::handle`] is the API as ONE pure handler over a shared [`LicenseManager`]: a
//! method, a path, headers and a body in; a status, headers and a body out. The axum router
//! (feature `axum`: [`router`], [`serve`]) and `tollgate host ui` call it; another language's
//! host can do the same, so no HTML or API logic is written twice.
//!
//! Security, in the order the handler checks it:
//! 1. `Host` must be a loopback name (`127.0.0.1`, `localhost`, `[::1]`, any port) or one the
//!    host allowed ([`PageConfig::allowed_hosts`]): a DNS-rebinding page gets 252.
//! 2. `Origin` (when sent) must be the page's own, `Sec-Fetch-Site` (when sent) `same-origin`
//!    or `none`: 252.
//! 3. The host's authentication ([`Auth`]: none on loopback, a bearer token, or a callback):
//!    250.
//! 4. Every `POST` needs the session cookie (`HttpOnly; SameSite=Strict`) and its CSRF token
//!    (an HMAC of the session id under a per-process secret) in `X-Tollgate-Csrf`: 251.
//!
//! [`check_listen`] refuses a non-loopback listen address unless the host opts in AND
//! configures an authentication (254). No answer contains a license key: the key is used to
//! make the usage request and dropped.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tollgate_protocol::page::{self as api, FeatureSet, SessionOut};
use tollgate_sdk::floating::{FloatingClient, FloatingConfig, FloatingLease};
use tollgate_sdk::online::{OnlineClient, OnlineConfig};
use tollgate_sdk::{BearerToken, HostConfig, LicenseManager, SdkError};

#[cfg(feature = "axum")]
mod http;
#[cfg(feature = "axum")]
pub use http::{router, serve};

pub use tollgate_protocol::page::{FeatureSet as PageFeatureSet, PAGE_ERRORS};

/// The web component (`web/license-page/license-page.js`), served at `/license-page.js`.
pub const LICENSE_PAGE_JS: &str = include_str!("../../web/license-page/license-page.js");
/// A minimal page hosting the component, served at `/`.
pub const INDEX_HTML: &str = include_str!("../../web/license-page/index.html");

/// Every API route the handler serves, `(method, path)`; the OpenAPI document lists exactly
/// these (a test checks it).
pub const ROUTES: [(&str, &str); 12] = [
    ("GET", api::OPENAPI_PATH),
    ("GET", api::SESSION),
    ("GET", api::STATUS),
    ("POST", api::ONLINE_ACTIVATE),
    ("POST", api::ONLINE_REACTIVATE),
    ("POST", api::ONLINE_DEACTIVATE),
    ("POST", api::OFFLINE_REQUEST),
    ("POST", api::OFFLINE_RENEW),
    ("POST", api::OFFLINE_INSTALL),
    ("POST", api::OFFLINE_DEACTIVATE),
    ("POST", api::FLOATING_CHECKOUT),
    ("POST", api::FLOATING_RELEASE),
];

/// A callback deciding whether a request may use the API (e.g. the broker checks its own
/// login cookie in `request.header("cookie")`).
pub type AuthCallback = Arc<dyn Fn(&Request<'_>) -> bool + Send + Sync>;

/// How the host authenticates the page's API calls.
#[derive(Clone, Default)]
pub enum Auth {
    /// None: anyone who can reach the address may use it. Loopback only ([`check_listen`]).
    #[default]
    None,
    /// `Authorization: Bearer <token>` on every API call (the page reads it once from the
    /// URL fragment `#token=…`).
    Token(BearerToken),
    /// The host's own check.
    Callback(AuthCallback),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "Auth::None",
            Auth::Token(_) => "Auth::Token(<redacted>)",
            Auth::Callback(_) => "Auth::Callback",
        })
    }
}

/// What the host configures about its License page.
#[derive(Clone, Debug, Default)]
pub struct PageConfig {
    /// Who usage requests and deactivation codes go to, shown in the wizard (e.g. `Cirrus
    /// Link`). Default: `the vendor`.
    pub vendor: String,
    /// The online activation service; `None`: the Online method answers 253.
    pub online: Option<OnlineConfig>,
    /// The floating server URL the wizard proposes (the operator may type another).
    pub floating_server: Option<String>,
    /// The floating checkout token, if the floating server wants one.
    pub floating_token: Option<BearerToken>,
    /// The feature sets the wizard offers for a floating checkout; none: 253.
    pub feature_sets: Vec<FeatureSet>,
    /// Where the Upgrade License button leads (the vendor's shop; issue 15 fills it).
    pub upgrade_url: Option<String>,
    /// The authentication of the API.
    pub auth: Auth,
    /// `Host` names (with or without port) accepted besides loopback ones, for a host that
    /// serves the page on another name (with [`Auth`] set).
    pub allowed_hosts: Vec<String>,
}

/// A request as the handler sees it. Header names are matched case-insensitively.
#[derive(Debug)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path relative to where the page is mounted, e.g. `/api/status` (no query).
    pub path: &'a str,
    /// The headers.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

impl Request<'_> {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// The handler's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The headers (content type included).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    fn json(status: u16, value: &impl Serialize) -> Response {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Response {
            status,
            headers: vec![
                ("content-type", "application/json".into()),
                ("cache-control", "no-store".into()),
                ("x-content-type-options", "nosniff".into()),
            ],
            body,
        }
    }

    fn asset(content_type: &str, text: &str) -> Response {
        Response {
            status: 200,
            headers: vec![
                ("content-type", content_type.into()),
                ("x-content-type-options", "nosniff".into()),
                (
                    "content-security-policy",
                    "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'".into(),
                ),
                ("x-frame-options", "DENY".into()),
                ("referrer-policy", "no-referrer".into()),
            ],
            body: text.as_bytes().to_vec(),
        }
    }

    /// The error envelope `{"error":{"code","name","message"}}`.
    pub fn error(status: u16, code: u32, name: &str, message: &str) -> Response {
        Response::json(
            status,
            &json!({"error": {"code": code, "name": name, "message": message}}),
        )
    }

    fn page_error(code: u32) -> Response {
        let (status, name, message) = match PAGE_ERRORS.iter().find(|e| e.0 == code) {
            Some((_, name, message)) => (
                match code {
                    api::PAGE_UNAUTHORIZED => 401,
                    api::NOT_CONFIGURED => 409,
                    _ => 403,
                },
                *name,
                *message,
            ),
            None => (500, "Internal", "internal error"),
        };
        Response::error(status, code, name, message)
    }

    fn sdk_error(e: &SdkError) -> Response {
        let status = match e.code() {
            230 | 234 => 502,
            232 | 233 => 503,
            206 | 207 | 213 | 216 => 500,
            _ => 422,
        };
        Response::error(status, e.result_code(), e.result_name(), &e.to_string())
    }

    fn bad_request(message: &str) -> Response {
        Response::error(400, 400, "BadRequest", message)
    }
}

/// A start-up error of the page ([`check_listen`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    /// The stable code (254).
    pub code: u32,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for PageError {}

/// Refuses (254 `RemoteBind`) to listen on `addr` unless it is a loopback address, or
/// `allow_remote` is set AND `auth` is not [`Auth::None`].
pub fn check_listen(addr: SocketAddr, allow_remote: bool, auth: &Auth) -> Result<(), PageError> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    if !allow_remote {
        return Err(PageError {
            code: api::REMOTE_BIND,
            message: format!(
                "{addr} is not a loopback address: allow remote access explicitly (and set an authentication) to listen on it"
            ),
        });
    }
    if matches!(auth, Auth::None) {
        return Err(PageError {
            code: api::REMOTE_BIND,
            message: format!(
                "{addr} is not a loopback address: remote access needs an authentication (a token)"
            ),
        });
    }
    Ok(())
}

/// A floating lease checked out through the page.
struct Floating {
    lease: FloatingLease,
    server: String,
    set: FeatureSet,
}

/// The License page's API over one host's [`LicenseManager`]. Cheap to share (`Arc`); every
/// method takes `&self`. Calls that talk to a service block: from async code, call
/// [`LicensePage::handle`] on a blocking thread (the axum router does).
pub struct LicensePage {
    manager: Arc<dyn SharedManager>,
    config: PageConfig,
    secret: [u8; 64],
    floating: Mutex<Option<Floating>>,
}

impl std::fmt::Debug for LicensePage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LicensePage")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How the page reaches the host's [`LicenseManager`], which the host keeps using (feature
/// checks) meanwhile: an `RwLock<LicenseManager>`, or a binding's own manager cell (the JNI
/// bridge). Calls run `f` once under the lock, or fail (e.g. a manager already closed).
pub trait SharedManager: Send + Sync {
    /// Runs `f` under a shared (read) lock.
    fn with_read(&self, f: &mut dyn FnMut(&LicenseManager)) -> Result<(), SdkError>;
    /// Runs `f` under the exclusive (write) lock.
    fn with_write(&self, f: &mut dyn FnMut(&mut LicenseManager)) -> Result<(), SdkError>;
}

impl SharedManager for RwLock<LicenseManager> {
    fn with_read(&self, f: &mut dyn FnMut(&LicenseManager)) -> Result<(), SdkError> {
        f(&self.read().unwrap_or_else(PoisonError::into_inner));
        Ok(())
    }

    fn with_write(&self, f: &mut dyn FnMut(&mut LicenseManager)) -> Result<(), SdkError> {
        f(&mut self.write().unwrap_or_else(PoisonError::into_inner));
        Ok(())
    }
}

/// `f` on the manager under the read lock.
fn read<T>(m: &dyn SharedManager, f: impl FnOnce(&LicenseManager) -> T) -> Result<T, SdkError> {
    let mut f = Some(f);
    let mut out = None;
    m.with_read(&mut |mgr| {
        if let Some(f) = f.take() {
            out = Some(f(mgr));
        }
    })?;
    out.ok_or_else(|| SdkError::InvalidArgument {
        reason: "the license manager was not reached".into(),
    })
}

/// `f` on the manager under the write lock; `f`'s error is returned as is.
fn write<T>(
    m: &dyn SharedManager,
    f: impl FnOnce(&mut LicenseManager) -> Result<T, SdkError>,
) -> Result<T, SdkError> {
    let mut f = Some(f);
    let mut out = None;
    m.with_write(&mut |mgr| {
        if let Some(f) = f.take() {
            out = Some(f(mgr));
        }
    })?;
    out.unwrap_or_else(|| {
        Err(SdkError::InvalidArgument {
            reason: "the license manager was not reached".into(),
        })
    })
}

fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    matches!(name, "127.0.0.1" | "localhost" | "::1")
}

impl LicensePage {
    /// The page over `manager` (shared with the host application, which keeps checking
    /// features on it). Fails with [`SdkError::Entropy`] when no CSRF secret can be drawn.
    pub fn new(manager: Arc<RwLock<LicenseManager>>, config: PageConfig) -> Result<Self, SdkError> {
        Self::with_shared(manager, config)
    }

    /// The page over a manager the host shares its own way ([`SharedManager`]).
    pub fn with_shared(
        manager: Arc<dyn SharedManager>,
        mut config: PageConfig,
    ) -> Result<Self, SdkError> {
        let mut secret = [0u8; 64];
        getrandom::fill(&mut secret).map_err(|_| SdkError::Entropy)?;
        if config.vendor.trim().is_empty() {
            config.vendor = "the vendor".into();
        }
        Ok(LicensePage {
            manager,
            config,
            secret,
            floating: Mutex::new(None),
        })
    }

    /// Whether feature `name` is usable now: through the manager's installed license, or
    /// through the floating lease checked out on this page. A host that offers the Floating
    /// method checks features here (the manager does not hold the page's lease).
    pub fn has_feature(&self, name: &str) -> bool {
        let floating = self
            .floating
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|f| f.lease.has_feature(name));
        floating || read(&*self.manager, |m| m.has_feature(name)).unwrap_or(false)
    }

    /// The configuration.
    pub fn config(&self) -> &PageConfig {
        &self.config
    }

    /// Answers one request: the page's assets (`/`, `/index.html`, `/license-page.js`) and the
    /// API ([`ROUTES`]). Never panics on any input.
    pub fn handle(&self, req: &Request<'_>) -> Response {
        match (req.method, req.path) {
            ("GET", "/" | "/index.html") => {
                return Response::asset("text/html; charset=utf-8", INDEX_HTML)
            }
            ("GET", "/license-page.js") => {
                return Response::asset("text/javascript; charset=utf-8", LICENSE_PAGE_JS)
            }
            _ => {}
        }
        if !req.path.starts_with("/api/") {
            return Response::error(404, 404, "NoSuchEndpoint", "no such page");
        }
        if !ROUTES.iter().any(|(_, p)| *p == req.path) {
            return Response::error(404, 404, "NoSuchEndpoint", "no such route");
        }
        if !ROUTES
            .iter()
            .any(|(m, p)| *p == req.path && *m == req.method)
        {
            return Response::error(405, 400, "BadRequest", "method not allowed on this route");
        }
        if let Err(code) = self.check_origin(req) {
            return Response::page_error(code);
        }
        if !self.authorized(req) {
            return Response::page_error(api::PAGE_UNAUTHORIZED);
        }
        if req.method == "POST" && !self.csrf_ok(req) {
            return Response::page_error(api::CSRF_REFUSED);
        }
        if req.body.len() > api::MAX_BODY {
            return Response::error(413, 413, "TooLarge", "the body is too large");
        }
        self.dispatch(req)
    }

    fn check_origin(&self, req: &Request<'_>) -> Result<(), u32> {
        let host = req.header("host").ok_or(api::FOREIGN_ORIGIN)?;
        let allowed = loopback_host(host)
            || self.config.allowed_hosts.iter().any(|h| {
                h == "*"
                    || h.eq_ignore_ascii_case(host)
                    || host
                        .rsplit_once(':')
                        .is_some_and(|(n, _)| h.eq_ignore_ascii_case(n))
            });
        if !allowed {
            return Err(api::FOREIGN_ORIGIN);
        }
        if let Some(origin) = req.header("origin") {
            let same = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|o| o.eq_ignore_ascii_case(host));
            if !same {
                return Err(api::FOREIGN_ORIGIN);
            }
        }
        if let Some(site) = req.header("sec-fetch-site") {
            if site != "same-origin" && site != "none" {
                return Err(api::FOREIGN_ORIGIN);
            }
        }
        Ok(())
    }

    fn authorized(&self, req: &Request<'_>) -> bool {
        match &self.config.auth {
            Auth::None => true,
            Auth::Token(token) => req
                .header("authorization")
                .and_then(|h| h.strip_prefix("Bearer "))
                .is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.expose().as_bytes()))),
            Auth::Callback(f) => f(req),
        }
    }

    fn mac(&self, session: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(&self.secret.into());
        mac.update(b"tollgate-page csrf v1\0");
        mac.update(session.as_bytes());
        mac
    }

    fn csrf_ok(&self, req: &Request<'_>) -> bool {
        let (Some(session), Some(token)) = (
            req.cookie(api::SESSION_COOKIE),
            req.header(api::CSRF_HEADER),
        ) else {
            return false;
        };
        if session.len() != 32 {
            return false;
        }
        match hex::decode(token) {
            Ok(tag) => self.mac(session).verify_slice(&tag).is_ok(),
            Err(_) => false,
        }
    }

    fn session(&self) -> Response {
        let mut id = [0u8; 16];
        if getrandom::fill(&mut id).is_err() {
            return Response::sdk_error(&SdkError::Entropy);
        }
        let session = hex::encode(id);
        let token = hex::encode(self.mac(&session).finalize().into_bytes());
        let product = match read(&*self.manager, |m| m.config().product.clone()) {
            Ok(p) => p,
            Err(e) => return Response::sdk_error(&e),
        };
        let mut r = Response::json(
            200,
            &SessionOut {
                csrf_token: token,
                product,
                vendor: self.config.vendor.clone(),
                online: self.config.online.is_some(),
                floating_server: self.config.floating_server.clone(),
                feature_sets: self.config.feature_sets.clone(),
                upgrade_url: self.config.upgrade_url.clone(),
            },
        );
        r.headers.push((
            "set-cookie",
            format!(
                "{}={session}; HttpOnly; SameSite=Strict; Path=/",
                api::SESSION_COOKIE
            ),
        ));
        r
    }

    fn status(&self) -> Response {
        let seen = read(&*self.manager, |m| {
            (
                m.status(),
                m.last_deactivation_code().map(str::to_owned),
                m.pending_request().map(str::to_owned),
            )
        });
        let (status, last_code, pending) = match seen {
            Ok(seen) => seen,
            Err(e) => return Response::sdk_error(&e),
        };
        let floating = self
            .floating
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|f| {
                json!({
                    "server": f.server,
                    "feature_set": f.set.name,
                    "features": f.set.features.iter().map(|n| json!({
                        "name": n, "active": f.lease.has_feature(n)
                    })).collect::<Vec<_>>(),
                    "lease_id": f.lease.lease_id(),
                    "expires_at": f.lease.expires_at().map(tollgate_sdk::time::format_utc),
                })
            });
        let unlicensed = status.license.is_none();
        Response::json(
            200,
            &json!({
                "status": status,
                "floating": floating,
                "deactivation_code": if unlicensed { last_code } else { None },
                "usage_request": pending,
            }),
        )
    }

    fn online(&self) -> Result<OnlineClient, Response> {
        let config = self
            .config
            .online
            .clone()
            .ok_or_else(|| Response::page_error(api::NOT_CONFIGURED))?;
        OnlineClient::new(config).map_err(|e| Response::sdk_error(&e))
    }

    fn dispatch(&self, req: &Request<'_>) -> Response {
        let result = match req.path {
            api::OPENAPI_PATH => {
                return Response {
                    status: 200,
                    headers: vec![("content-type", "application/json".into())],
                    body: api::OPENAPI.as_bytes().to_vec(),
                }
            }
            api::SESSION => return self.session(),
            api::STATUS => return self.status(),
            api::ONLINE_ACTIVATE => self.online_activate(req),
            api::ONLINE_REACTIVATE => self.online_reactivate(),
            api::ONLINE_DEACTIVATE => self.online_deactivate(),
            api::OFFLINE_REQUEST => self.offline_request(req),
            api::OFFLINE_RENEW => write(&*self.manager, |m| m.request_renewal())
                .map(|r| Response::json(200, &api::UsageRequestOut { usage_request: r }))
                .map_err(|e| Response::sdk_error(&e)),
            api::OFFLINE_INSTALL => self.offline_install(req),
            api::OFFLINE_DEACTIVATE => write(&*self.manager, |m| m.deactivate())
                .map(|code| {
                    Response::json(
                        200,
                        &api::DeactivationOut {
                            deactivation_code: code,
                            delivered: false,
                        },
                    )
                })
                .map_err(|e| Response::sdk_error(&e)),
            api::FLOATING_CHECKOUT => self.floating_checkout(req),
            api::FLOATING_RELEASE => self.floating_release(),
            _ => Err(Response::error(404, 404, "NoSuchEndpoint", "no such route")),
        };
        result.unwrap_or_else(|e| e)
    }

    fn body<T: serde::de::DeserializeOwned>(req: &Request<'_>) -> Result<T, Response> {
        serde_json::from_slice(req.body).map_err(|e| {
            // serde's message may quote the input (a key): report only where it failed.
            Response::bad_request(&format!(
                "the body is not the JSON this endpoint takes (line {}, column {})",
                e.line(),
                e.column()
            ))
        })
    }

    fn status_ok(&self) -> Response {
        self.status()
    }

    fn online_activate(&self, req: &Request<'_>) -> Result<Response, Response> {
        let client = self.online()?;
        let key: api::KeyIn = Self::body(req)?;
        let request = write(&*self.manager, |m| m.request_usage(key.key.trim()))
            .map_err(|e| Response::sdk_error(&e))?;
        drop(key);
        let answer = client
            .post_usage_request(tollgate_protocol::online::ACTIVATE, &request)
            .map_err(|e| Response::sdk_error(&e))?;
        write(&*self.manager, |m| m.install(&answer.usage_license))
            .map_err(|e| Response::sdk_error(&e))?;
        Ok(self.status_ok())
    }

    fn online_reactivate(&self) -> Result<Response, Response> {
        let client = self.online()?;
        let request =
            write(&*self.manager, |m| m.request_renewal()).map_err(|e| Response::sdk_error(&e))?;
        let answer = client
            .post_usage_request(tollgate_protocol::online::REFRESH, &request)
            .map_err(|e| Response::sdk_error(&e))?;
        write(&*self.manager, |m| m.install(&answer.usage_license))
            .map_err(|e| Response::sdk_error(&e))?;
        Ok(self.status_ok())
    }

    fn online_deactivate(&self) -> Result<Response, Response> {
        let client = self.online()?;
        let code =
            write(&*self.manager, |m| m.deactivate()).map_err(|e| Response::sdk_error(&e))?;
        let d = client
            .send_deactivation(&code)
            .map_err(|e| Response::sdk_error(&e))?;
        Ok(Response::json(
            200,
            &api::DeactivationOut {
                deactivation_code: d.code,
                delivered: true,
            },
        ))
    }

    fn offline_request(&self, req: &Request<'_>) -> Result<Response, Response> {
        let key: api::KeyIn = Self::body(req)?;
        let request = write(&*self.manager, |m| m.request_usage(key.key.trim()))
            .map_err(|e| Response::sdk_error(&e))?;
        Ok(Response::json(
            200,
            &api::UsageRequestOut {
                usage_request: request,
            },
        ))
    }

    fn offline_install(&self, req: &Request<'_>) -> Result<Response, Response> {
        let body: api::UsageLicenseIn = Self::body(req)?;
        write(&*self.manager, |m| m.install(body.usage_license.trim()))
            .map_err(|e| Response::sdk_error(&e))?;
        Ok(self.status_ok())
    }

    fn floating_checkout(&self, req: &Request<'_>) -> Result<Response, Response> {
        let body: api::FloatingIn = Self::body(req)?;
        let set = self
            .config
            .feature_sets
            .iter()
            .find(|s| s.name == body.feature_set)
            .cloned()
            .ok_or_else(|| Response::page_error(api::NOT_CONFIGURED))?;
        let server = body.server.trim().to_owned();
        let host: HostConfig =
            read(&*self.manager, |m| m.config().clone()).map_err(|e| Response::sdk_error(&e))?;
        let mut fc = FloatingConfig::new(server.clone(), set.features.clone());
        fc.checkout_token = self.config.floating_token.clone();
        let client = FloatingClient::new(&host, fc).map_err(|e| Response::sdk_error(&e))?;
        let lease = client
            .checkout(|_| {})
            .map_err(|e| Response::sdk_error(&e))?;
        let old = self
            .floating
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(Floating { lease, server, set });
        if let Some(old) = old {
            let _ = old.lease.release();
        }
        Ok(self.status_ok())
    }

    fn floating_release(&self) -> Result<Response, Response> {
        let old = self
            .floating
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(old) = old {
            old.lease.release().map_err(|e| Response::sdk_error(&e))?;
        }
        Ok(self.status_ok())
    }
}
