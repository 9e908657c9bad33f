//! The routes, their handlers, and the middleware around them (metrics, logs, the rate
//! limit, the admin token). Every route is listed in [`ROUTES`] and in `openapi.json`; a test
//! checks that the router, the table and the document agree.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, MatchedPath, Path, Query, Request, State,
};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tollgate_authority::{FulfilMode, IssueSpec, LicenseStatus, DEFAULT_FINGERPRINT_THRESHOLD};
use tollgate_core::{DeactivationCode, DeploymentModel};

use crate::dto::*;
use crate::error::{ApiError, Outcome};
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;
use crate::store::{unix_now, Store, ADMIN_ACTOR, SERVICE_ACTOR};

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// The OpenAPI document, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// One route of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path template, axum syntax (`{id}`), as in `openapi.json`.
    pub path: &'static str,
    /// The endpoint's name in metrics and logs.
    pub name: &'static str,
    /// Whether failed attempts on it are rate limited.
    pub limited: bool,
}

const fn route(
    method: &'static str,
    path: &'static str,
    name: &'static str,
    limited: bool,
) -> Route {
    Route {
        method,
        path,
        name,
        limited,
    }
}

/// Every route.
pub const ROUTES: &[Route] = &[
    route("GET", "/healthz", "health", false),
    route("GET", "/metrics", "metrics", false),
    route("GET", "/openapi.json", "openapi", false),
    route("GET", "/v1/keys", "keys", false),
    route("GET", "/v1/keys/{product}", "trust", false),
    route("POST", "/v1/activate", "activate", true),
    route("POST", "/v1/refresh", "refresh", true),
    route("POST", "/v1/deactivate", "deactivate", true),
    route("POST", "/v1/offline/fulfil", "offline_fulfil", true),
    route("GET", "/v1/admin/licenses", "admin_list", true),
    route("POST", "/v1/admin/licenses", "admin_issue", true),
    route("GET", "/v1/admin/licenses/{id}", "admin_get", true),
    route(
        "POST",
        "/v1/admin/licenses/{id}/upgrade",
        "admin_upgrade",
        true,
    ),
    route(
        "POST",
        "/v1/admin/licenses/{id}/activations/{activation_id}/restore",
        "admin_restore",
        true,
    ),
    route(
        "POST",
        "/v1/admin/licenses/{id}/suspend",
        "admin_suspend",
        true,
    ),
    route(
        "POST",
        "/v1/admin/licenses/{id}/resume",
        "admin_resume",
        true,
    ),
    route(
        "POST",
        "/v1/admin/licenses/{id}/revoke",
        "admin_revoke",
        true,
    ),
    route("GET", "/v1/admin/audit", "admin_audit", true),
];

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The ledger.
    pub store: Store,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The failed-attempt limiter.
    pub limiter: Limiter,
    /// SHA-256 of the admin token; `None` disables the admin API.
    pub admin_token_digest: Option<[u8; 32]>,
}

type App = State<Arc<AppState>>;

/// The router with every route, its middleware and the JSON 404 fallback.
pub fn router(state: Arc<AppState>) -> Router {
    let admin = Router::new()
        .route("/v1/admin/licenses", get(admin_list).post(admin_issue))
        .route("/v1/admin/licenses/{id}", get(admin_get))
        .route("/v1/admin/licenses/{id}/upgrade", post(admin_upgrade))
        .route(
            "/v1/admin/licenses/{id}/activations/{activation_id}/restore",
            post(admin_restore),
        )
        .route("/v1/admin/licenses/{id}/suspend", post(admin_suspend))
        .route("/v1/admin/licenses/{id}/resume", post(admin_resume))
        .route("/v1/admin/licenses/{id}/revoke", post(admin_revoke))
        .route("/v1/admin/audit", get(admin_audit))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_admin,
        ));
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/keys", get(keys))
        .route("/v1/keys/{product}", get(trust))
        .route("/v1/activate", post(activate))
        .route("/v1/refresh", post(refresh))
        .route("/v1/deactivate", post(deactivate))
        .route("/v1/offline/fulfil", post(offline_fulfil))
        .merge(admin)
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .fallback(|| async { ApiError::no_such_endpoint() })
        .method_not_allowed_fallback(|| async { ApiError::no_such_endpoint() })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

// --- middleware -------------------------------------------------------------------------------

fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

fn route_of(method: &Method, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.path == path && r.method == method.as_str())
}

/// Metrics, the request log line, and the failed-attempt rate limit.
async fn observe(State(app): App, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let ip = client_ip(&req);
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let method = req.method().clone();
    let route = route_of(&method, &matched);
    let name = route.map_or("unknown", |r| r.name);
    let limited = route.is_some_and(|r| r.limited);
    let resp = match limited.then(|| app.limiter.check(ip)) {
        Some(Err(wait)) => {
            app.metrics.rate_limited();
            ApiError::rate_limited(wait).into_response()
        }
        _ => next.run(req).await,
    };
    let outcome = resp.extensions().get::<Outcome>().copied();
    if limited && outcome.is_some_and(|o| o.failed_attempt) {
        app.limiter.failed(ip);
    }
    let elapsed = start.elapsed();
    let outcome_name = outcome.map_or("ok", |o| o.name);
    app.metrics.request(name, outcome_name, elapsed);
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
    resp
}

/// The admin bearer token, compared in constant time (as SHA-256 digests, so the length of
/// the configured token does not leak either).
async fn require_admin(State(app): App, headers: HeaderMap, req: Request, next: Next) -> Response {
    let Some(expected) = app.admin_token_digest else {
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

/// A JSON body whose rejections are [`ApiError`]s.
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

// --- licensing ----------------------------------------------------------------------------

async fn health(State(app): App) -> Result<Json<HealthOut>, ApiError> {
    let schema_version = app.store.run(SERVICE_ACTOR, |a| a.schema_version()).await?;
    Ok(Json(HealthOut {
        status: "ok".into(),
        backend: app.store.backend().into(),
        schema_version,
    }))
}

async fn metrics(State(app): App) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn keys(State(app): App) -> Result<Json<Vec<KeyOut>>, ApiError> {
    let keys = app.store.run(SERVICE_ACTOR, |a| a.public_keys()).await?;
    Ok(Json(keys.into_iter().map(KeyOut::from).collect()))
}

async fn trust(
    State(app): App,
    product: Result<Path<String>, PathRejection>,
) -> Result<Json<TrustOut>, ApiError> {
    let product = ids(product)?;
    let p = product.clone();
    let (key_certificates, key_list) = app
        .store
        .run(SERVICE_ACTOR, move |a| a.trust_bundle(&p))
        .await?;
    Ok(Json(TrustOut {
        product,
        key_certificates,
        key_list,
    }))
}

/// Counts and logs a rapid transfer (a new seat soon after a freed one).
fn note_rapid(app: &AppState, f: &tollgate_authority::Fulfilled) {
    if let Some(after) = f.rapid_transfer_after {
        app.metrics.rapid_transfer();
        tracing::warn!(
            license_id = f.license_id,
            activation_id = f.activation_id,
            after_activation = after,
            "rapid transfer: a new seat soon after another was freed"
        );
    }
}

async fn activate(
    State(app): App,
    Body(b): Body<UsageRequestIn>,
) -> Result<Json<UsageLicenseOut>, ApiError> {
    let f = app
        .store
        .fulfil(&b.request, DeploymentModel::Online, FulfilMode::Activate)
        .await?;
    note_rapid(&app, &f);
    if f.new_activation {
        tracing::info!(
            license_id = f.license_id,
            activation_id = f.activation_id,
            "activation created"
        );
    }
    Ok(Json(f.into()))
}

async fn refresh(
    State(app): App,
    Body(b): Body<UsageRequestIn>,
) -> Result<Json<UsageLicenseOut>, ApiError> {
    let f = app
        .store
        .fulfil(&b.request, DeploymentModel::Online, FulfilMode::Refresh)
        .await?;
    Ok(Json(f.into()))
}

async fn offline_fulfil(
    State(app): App,
    Body(b): Body<UsageRequestIn>,
) -> Result<Json<UsageLicenseOut>, ApiError> {
    let f = app
        .store
        .fulfil(&b.request, DeploymentModel::Offline, FulfilMode::Activate)
        .await?;
    note_rapid(&app, &f);
    Ok(Json(f.into()))
}

async fn deactivate(
    State(app): App,
    Body(b): Body<DeactivationIn>,
) -> Result<Json<FreedOut>, ApiError> {
    // Decoded (and its format checked) before a ledger connection is taken.
    DeactivationCode::from_armor(&b.code).map_err(tollgate_authority::AuthorityError::from)?;
    let freed = app
        .store
        .run(SERVICE_ACTOR, move |a| a.deactivate(&b.code, unix_now()))
        .await?;
    tracing::info!(
        license_id = freed.license_id,
        activation_id = freed.activation_id,
        "activation deactivated"
    );
    Ok(Json(freed.into()))
}

// --- admin --------------------------------------------------------------------------------

async fn admin_list(State(app): App) -> Result<Json<Vec<LicenseOut>>, ApiError> {
    let list = app.store.run(ADMIN_ACTOR, |a| a.list_licenses()).await?;
    Ok(Json(list.into_iter().map(LicenseOut::from).collect()))
}

async fn admin_issue(
    State(app): App,
    Body(b): Body<IssueIn>,
) -> Result<(StatusCode, Json<IssuedOut>), ApiError> {
    let mut spec = IssueSpec::new(b.product, b.customer);
    spec.features = b
        .features
        .iter()
        .map(FeatureDto::to_feature)
        .collect::<Result<_, _>>()?;
    if let Some(m) = &b.models {
        spec.models = parse_models(m)?;
    }
    spec.max_activations = b.max_activations.unwrap_or(1);
    spec.floating_seats = b.floating_seats.unwrap_or(0);
    spec.not_before = b.not_before;
    spec.not_after = b.not_after;
    spec.fingerprint_threshold = b
        .fingerprint_threshold
        .unwrap_or(DEFAULT_FINGERPRINT_THRESHOLD);
    if let Some(s) = b.offline_refresh_secs {
        spec.offline_refresh_secs = s;
    }
    if let Some(s) = b.rollback_tolerance_secs {
        spec.rollback_tolerance_secs = s;
    }
    if let Some(n) = b.max_transfers {
        spec.transfers.max_transfers = Some(n);
    }
    if let Some(s) = b.transfer_period_secs {
        spec.transfers.period_secs = s;
    }
    let issued = app
        .store
        .run(ADMIN_ACTOR, move |a| a.issue(spec, unix_now()))
        .await?;
    let license_id = issued.license.grant().license_id;
    tracing::info!(license_id, "license issued");
    Ok((
        StatusCode::CREATED,
        Json(IssuedOut {
            license_id,
            key: issued.key.expose(),
            license: issued.license.to_armor(),
        }),
    ))
}

/// A path's ids, or a JSON 400.
fn ids<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

async fn admin_get(
    State(app): App,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Json<LicenseOut>, ApiError> {
    let id = ids(id)?;
    let (rec, acts) = app
        .store
        .run(ADMIN_ACTOR, move |a| {
            Ok((a.get_license(id)?, a.list_activations(id)?))
        })
        .await?;
    let mut out = LicenseOut::from(rec);
    out.activations = Some(acts.into_iter().map(ActivationOut::from).collect());
    Ok(Json(out))
}

async fn admin_upgrade(
    State(app): App,
    id: Result<Path<u64>, PathRejection>,
    Body(b): Body<UpgradeIn>,
) -> Result<Json<UpgradedOut>, ApiError> {
    let id = ids(id)?;
    let spec = b.to_spec()?;
    let license = app
        .store
        .run(ADMIN_ACTOR, move |a| a.upgrade(id, spec, unix_now()))
        .await?;
    let revision = license.grant().revision;
    tracing::info!(license_id = id, revision, "license upgraded");
    Ok(Json(UpgradedOut {
        license_id: id,
        revision,
        license: license.to_armor(),
    }))
}

async fn admin_restore(
    State(app): App,
    path: Result<Path<(u64, u64)>, PathRejection>,
    Body(b): Body<RestoreIn>,
) -> Result<Json<FreedOut>, ApiError> {
    let (id, activation_id) = ids(path)?;
    let freed = app
        .store
        .run(ADMIN_ACTOR, move |a| {
            a.restore(id, activation_id, &b.reason, &b.operator, unix_now())
        })
        .await?;
    tracing::info!(license_id = id, activation_id, "activation restored");
    Ok(Json(freed.into()))
}

async fn set_status(
    app: &AppState,
    id: Result<Path<u64>, PathRejection>,
    b: StatusIn,
    to: LicenseStatus,
) -> Result<Json<StatusOut>, ApiError> {
    let id = ids(id)?;
    app.store
        .run(ADMIN_ACTOR, move |a| match to {
            LicenseStatus::Active => a.resume(id, &b.reason, unix_now()),
            LicenseStatus::Suspended => a.suspend(id, &b.reason, unix_now()),
            LicenseStatus::Revoked => a.revoke(id, &b.reason, unix_now()),
        })
        .await?;
    tracing::info!(
        license_id = id,
        status = to.name(),
        "license status changed"
    );
    Ok(Json(StatusOut {
        license_id: id,
        status: to.name().into(),
    }))
}

async fn admin_suspend(
    State(app): App,
    id: Result<Path<u64>, PathRejection>,
    Body(b): Body<StatusIn>,
) -> Result<Json<StatusOut>, ApiError> {
    set_status(&app, id, b, LicenseStatus::Suspended).await
}

async fn admin_resume(
    State(app): App,
    id: Result<Path<u64>, PathRejection>,
    Body(b): Body<StatusIn>,
) -> Result<Json<StatusOut>, ApiError> {
    set_status(&app, id, b, LicenseStatus::Active).await
}

async fn admin_revoke(
    State(app): App,
    id: Result<Path<u64>, PathRejection>,
    Body(b): Body<StatusIn>,
) -> Result<Json<StatusOut>, ApiError> {
    set_status(&app, id, b, LicenseStatus::Revoked).await
}

/// Query of `GET /v1/admin/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    license_id: Option<u64>,
    limit: Option<u32>,
}

async fn admin_audit(
    State(app): App,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditOut>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100).min(10_000);
    let entries = app
        .store
        .run(ADMIN_ACTOR, move |a| a.audit_log(q.license_id, limit))
        .await?;
    Ok(Json(entries.into_iter().map(AuditOut::from).collect()))
}
