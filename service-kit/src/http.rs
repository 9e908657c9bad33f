//! The request pipeline both services share: a JSON body extractor whose rejections are
//! [`ApiError`]s, the observing middleware (metrics, the request log line, the failed-attempt
//! rate limit), the admin bearer token check, the optional bearer token of `/metrics` and of
//! the floating lease routes, and the JSON 404 fallback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::error::{ApiError, Outcome};
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;

/// A JSON body whose rejections are [`ApiError`]s (400 with the parser's message, which never
/// echoes the body; 413 past the body limit).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(json_rejection(&e)),
        }
    }
}

fn json_rejection(e: &JsonRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large()
    } else {
        // The rejection's text names the problem (missing field, bad type) without echoing
        // the body.
        ApiError::bad_request(e.body_text())
    }
}

/// One route as the metrics and the log name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteName {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The axum path pattern.
    pub path: &'static str,
    /// The name in metrics and logs.
    pub name: &'static str,
    /// Whether failed attempts on it are rate-limited per address.
    pub limited: bool,
}

/// What the observing middleware needs: the route names, the metrics, the limiter, and the
/// service's rules for what counts as a failed attempt and which routes log only failures.
#[derive(Debug)]
pub struct Observer {
    /// Every route.
    pub routes: Vec<RouteName>,
    /// Where requests are counted.
    pub metrics: Arc<Metrics>,
    /// The failed-attempt limiter of the limited routes.
    pub limiter: Limiter,
    /// Whether a response's outcome costs its address a token.
    pub failed_attempt: fn(&Outcome) -> bool,
    /// Routes whose successful requests are not logged (thousands a second).
    pub quiet: &'static [&'static str],
}

fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Metrics, the request log line, and the failed-attempt rate limit.
pub async fn observe(State(obs): State<Arc<Observer>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let ip = client_ip(&req);
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let method = req.method().clone();
    let route = obs
        .routes
        .iter()
        .find(|r| r.path == matched && r.method == method.as_str());
    let name = route.map_or("unknown", |r| r.name);
    let limited = route.is_some_and(|r| r.limited);
    let resp = match limited.then(|| obs.limiter.check(ip)) {
        Some(Err(wait)) => {
            obs.metrics.rate_limited();
            ApiError::rate_limited(wait).into_response()
        }
        _ => next.run(req).await,
    };
    let outcome = resp.extensions().get::<Outcome>().copied();
    if limited && outcome.is_some_and(|o| (obs.failed_attempt)(&o)) {
        obs.limiter.failed(ip);
    }
    let elapsed = start.elapsed();
    let outcome_name = outcome.map_or("ok", |o| o.name);
    obs.metrics.request(name, outcome_name, elapsed);
    if outcome.is_some() || !obs.quiet.contains(&name) {
        // Never the body, never a header: no key, code, request or token reaches the log.
        tracing::info!(
            endpoint = name,
            method = %method,
            route = %matched,
            status = resp.status().as_u16(),
            outcome = outcome_name,
            latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            client = %ip,
            "request"
        );
    }
    resp
}

/// The admin bearer token, kept as its SHA-256 digest; `None` disables the admin API.
#[derive(Clone, Debug)]
pub struct AdminAuth {
    digest: Option<[u8; 32]>,
}

impl AdminAuth {
    /// The check for `token` (none: every admin call is refused).
    pub fn new(token: Option<&Secret>) -> Self {
        AdminAuth {
            digest: token.map(|t| Sha256::digest(t.expose().as_bytes()).into()),
        }
    }
}

/// The admin bearer token, compared in constant time (as SHA-256 digests, so the length of
/// the configured token does not leak either).
pub async fn require_admin(
    State(auth): State<Arc<AdminAuth>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let Some(expected) = auth.digest else {
        return ApiError::unauthorized("the admin API is disabled: no admin token is configured")
            .into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Sha256::digest(t.trim().as_bytes()));
    match presented {
        Some(d) if bool::from(d.as_slice().ct_eq(&expected)) => next.run(req).await,
        Some(_) => ApiError::unauthorized("wrong admin token").into_response(),
        None => ApiError::unauthorized("an admin bearer token is required").into_response(),
    }
}

/// An optional bearer token in front of a group of routes (`/metrics`, a floating server's
/// lease routes): without a configured token the routes are open; with one, a request needs
/// `Authorization: Bearer <token>`, compared in constant time as SHA-256 digests.
#[derive(Clone, Debug)]
pub struct OptionalBearer {
    digest: Option<[u8; 32]>,
    what: &'static str,
}

impl OptionalBearer {
    /// The check for `token` (none: open). `what` names the token in refusals, e.g.
    /// `"metrics"`.
    pub fn new(token: Option<&Secret>, what: &'static str) -> Self {
        OptionalBearer {
            digest: token.map(|t| Sha256::digest(t.expose().as_bytes()).into()),
            what,
        }
    }

    /// Whether a token is configured.
    pub fn is_set(&self) -> bool {
        self.digest.is_some()
    }

    /// Checks the request's headers: `Ok` when no token is configured or the right one is
    /// presented, else a 401 `Unauthorized`.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = self.digest else {
            return Ok(());
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Sha256::digest(t.trim().as_bytes()));
        match presented {
            Some(d) if bool::from(d.as_slice().ct_eq(&expected)) => Ok(()),
            Some(_) => Err(ApiError::unauthorized(format!("wrong {} token", self.what))),
            None => Err(ApiError::unauthorized(format!(
                "a {} bearer token is required",
                self.what
            ))),
        }
    }
}

/// The middleware of [`optional_bearer_routes`].
pub async fn require_optional_bearer(
    State(auth): State<Arc<OptionalBearer>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    match auth.check(&headers) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// `routes` behind an [`OptionalBearer`] check.
pub fn optional_bearer_routes<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    auth: Arc<OptionalBearer>,
) -> Router<S> {
    routes.route_layer(middleware::from_fn_with_state(
        auth,
        require_optional_bearer,
    ))
}

/// `admin` behind the admin token check.
pub fn admin_routes<S: Clone + Send + Sync + 'static>(
    admin: Router<S>,
    auth: Arc<AdminAuth>,
) -> Router<S> {
    admin.route_layer(middleware::from_fn_with_state(auth, require_admin))
}

/// The layers every service puts around its routes: the observing middleware, the JSON 404
/// for unknown routes and methods, and the body limit.
pub fn finish<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    observer: Arc<Observer>,
    max_body: usize,
) -> Router<S> {
    routes
        .route_layer(middleware::from_fn_with_state(observer, observe))
        .fallback(|| async { ApiError::no_such_endpoint() })
        .method_not_allowed_fallback(|| async { ApiError::no_such_endpoint() })
        .layer(DefaultBodyLimit::max(max_body))
}

/// `GET /metrics`: the Prometheus text.
pub fn metrics_response(metrics: &Metrics) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}
