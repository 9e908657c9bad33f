//! The routes, their handlers, and the middleware around them (metrics, logs, the rate
//! limit, the admin token). Every route is listed in [`ROUTES`] and in `openapi.json`; a test
//! checks that the router, the table and the document agree.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tollgate_authority::{FulfilMode, IssueSpec, LicenseStatus, DEFAULT_FINGERPRINT_THRESHOLD};
use tollgate_core::{DeactivationCode, DeploymentModel};
use tollgate_service_kit::http::{
    self as kit, AdminAuth, Body, Observer, OptionalBearer, RouteName,
};
use tollgate_service_kit::{ApiError, Limiter, Metrics, Outcome};

use crate::dto::*;
use crate::refusal::ledger_error;
use crate::shop::api as shop;
use crate::store::{unix_now, Store, ADMIN_ACTOR, SERVICE_ACTOR};
use tollgate_protocol::marketplace::MarketplaceIn;

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// The OpenAPI document, served at `/openapi.json`.
pub const OPENAPI: &str = tollgate_protocol::online::OPENAPI;

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
    route("GET", "/metrics", "metrics", true),
    route("GET", "/openapi.json", "openapi", false),
    route("GET", "/v1/keys", "keys", false),
    route("GET", "/v1/keys/{product}", "trust", false),
    route("POST", "/v1/activate", "activate", true),
    route("POST", "/v1/refresh", "refresh", true),
    route("POST", "/v1/deactivate", "deactivate", true),
    route("POST", "/v1/offline/fulfil", "offline_fulfil", true),
    route(
        "POST",
        "/v1/marketplace/activate",
        "marketplace_activate",
        true,
    ),
    route(
        "POST",
        "/v1/marketplace/refresh",
        "marketplace_refresh",
        true,
    ),
    route("GET", "/v1/admin/licenses", "admin_list", true),
    route("POST", "/v1/admin/licenses", "admin_issue", true),
    route("GET", "/v1/admin/licenses/{id}", "admin_get", true),
    route("POST", "/v1/admin/lookup", "admin_lookup", true),
    route("GET", "/console/", "console", false),
    route("GET", "/console/console.js", "console_js", false),
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
    route("GET", "/v1/admin/purchases", "admin_purchases", true),
    route("POST", "/v1/admin/usage/import", "admin_usage_import", true),
    route("GET", "/v1/admin/usage", "admin_usage", true),
    route(
        "POST",
        "/v1/admin/usage/resolve",
        "admin_usage_resolve",
        true,
    ),
    route("POST", "/v1/usage", "usage", true),
    route("POST", "/v1/shop/offers", "shop_offers", true),
    route("POST", "/v1/shop/purchases", "shop_purchase", true),
    route(
        "GET",
        "/v1/shop/purchases/{id}",
        "shop_purchase_status",
        true,
    ),
    route(
        "POST",
        "/v1/shop/stripe/webhook",
        "shop_stripe_webhook",
        false,
    ),
];

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The ledger.
    pub store: Store,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Metrics, logs and the failed-attempt limiter around every route.
    pub observer: Arc<Observer>,
    /// The shop, if configured.
    pub shop: Option<Arc<crate::shop::Shop>>,
    /// The admin token check.
    pub admin: Arc<AdminAuth>,
    /// The metrics token check (open without `metrics_token`).
    pub metrics_auth: Arc<OptionalBearer>,
    /// The marketplace checks, when configured.
    pub marketplace: Option<crate::marketplace::Marketplace>,
}

type App = State<Arc<AppState>>;

/// The router with every route, its middleware and the JSON 404 fallback.
pub fn router(state: Arc<AppState>) -> Router {
    let admin = Router::new()
        .route("/v1/admin/licenses", get(admin_list).post(admin_issue))
        .route("/v1/admin/licenses/{id}", get(admin_get))
        .route("/v1/admin/lookup", post(admin_lookup))
        .route("/v1/admin/licenses/{id}/upgrade", post(admin_upgrade))
        .route(
            "/v1/admin/licenses/{id}/activations/{activation_id}/restore",
            post(admin_restore),
        )
        .route("/v1/admin/licenses/{id}/suspend", post(admin_suspend))
        .route("/v1/admin/licenses/{id}/resume", post(admin_resume))
        .route("/v1/admin/licenses/{id}/revoke", post(admin_revoke))
        .route("/v1/admin/audit", get(admin_audit))
        .route("/v1/admin/purchases", get(shop::admin_purchases))
        .route(
            "/v1/admin/usage/import",
            post(crate::usage::admin_import)
                .layer(DefaultBodyLimit::max(crate::usage::MAX_JOURNAL_BODY)),
        )
        .route("/v1/admin/usage", get(crate::usage::admin_usage))
        .route("/v1/admin/usage/resolve", post(crate::usage::admin_resolve));
    let admin = kit::admin_routes(admin, Arc::clone(&state.admin));
    let metrics_route = Router::new().route("/metrics", get(metrics));
    let metrics_route = kit::optional_bearer_routes(metrics_route, Arc::clone(&state.metrics_auth));
    let routes = Router::new()
        .route("/healthz", get(health))
        .route("/openapi.json", get(openapi))
        .route("/console/", get(crate::console::page))
        .route("/console/console.js", get(crate::console::script))
        .route("/v1/keys", get(keys))
        .route("/v1/keys/{product}", get(trust))
        .route("/v1/activate", post(activate))
        .route("/v1/refresh", post(refresh))
        .route("/v1/deactivate", post(deactivate))
        .route("/v1/offline/fulfil", post(offline_fulfil))
        .route("/v1/marketplace/activate", post(marketplace_activate))
        .route("/v1/marketplace/refresh", post(marketplace_refresh))
        .route("/v1/usage", post(crate::usage::submit))
        .route("/v1/shop/offers", post(shop::offers))
        .route("/v1/shop/purchases", post(shop::purchase))
        .route("/v1/shop/purchases/{id}", get(shop::purchase_status))
        .route("/v1/shop/stripe/webhook", post(shop::stripe_webhook))
        .merge(metrics_route)
        .merge(admin);
    kit::finish(routes, Arc::clone(&state.observer), MAX_BODY).with_state(state)
}

/// The observing middleware's settings: the [`ROUTES`] marked `limited` are rate-limited on
/// failed attempts ([`ApiError::is_failed_attempt`]); every request is logged.
pub(crate) fn observer(metrics: Arc<Metrics>, limiter: Limiter) -> Observer {
    Observer {
        routes: ROUTES
            .iter()
            .map(|r| RouteName {
                method: r.method,
                path: r.path,
                name: r.name,
                limited: r.limited,
            })
            .collect(),
        metrics,
        limiter,
        failed_attempt: |o: &Outcome| o.failed_attempt,
        quiet: &[],
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

async fn metrics(State(app): App) -> Response {
    kit::metrics_response(&app.metrics)
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
    Ok(Json(usage_license_out(f)))
}

async fn refresh(
    State(app): App,
    Body(b): Body<UsageRequestIn>,
) -> Result<Json<UsageLicenseOut>, ApiError> {
    let f = app
        .store
        .fulfil(&b.request, DeploymentModel::Online, FulfilMode::Refresh)
        .await?;
    Ok(Json(usage_license_out(f)))
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
    Ok(Json(usage_license_out(f)))
}

async fn marketplace_fulfil(
    app: &AppState,
    b: MarketplaceIn,
    mode: FulfilMode,
) -> Result<Json<UsageLicenseOut>, ApiError> {
    let market = app
        .marketplace
        .as_ref()
        .ok_or_else(crate::marketplace::disabled)?;
    let req = tollgate_core::UsageRequest::from_armor(&b.request)
        .map_err(|e| ledger_error(tollgate_authority::AuthorityError::from(e)))?;
    let instance = market.verify(&b.identity, &req.request_id(), unix_now())?;
    let f = app
        .store
        .run(SERVICE_ACTOR, move |a| {
            a.fulfil_marketplace(&b.request, &instance, mode, unix_now())
        })
        .await?;
    if f.new_activation {
        tracing::info!(
            license_id = f.license_id,
            activation_id = f.activation_id,
            "marketplace activation created"
        );
    }
    Ok(Json(usage_license_out(f)))
}

async fn marketplace_activate(
    State(app): App,
    Body(b): Body<MarketplaceIn>,
) -> Result<Json<UsageLicenseOut>, ApiError> {
    marketplace_fulfil(&app, b, FulfilMode::Activate).await
}

async fn marketplace_refresh(
    State(app): App,
    Body(b): Body<MarketplaceIn>,
) -> Result<Json<UsageLicenseOut>, ApiError> {
    marketplace_fulfil(&app, b, FulfilMode::Refresh).await
}

async fn deactivate(
    State(app): App,
    Body(b): Body<DeactivationIn>,
) -> Result<Json<FreedOut>, ApiError> {
    // Decoded (and its format checked) before a ledger connection is taken.
    DeactivationCode::from_armor(&b.code)
        .map_err(|e| ledger_error(tollgate_authority::AuthorityError::from(e)))?;
    let freed = app
        .store
        .run(SERVICE_ACTOR, move |a| a.deactivate(&b.code, unix_now()))
        .await?;
    tracing::info!(
        license_id = freed.license_id,
        activation_id = freed.activation_id,
        "activation deactivated"
    );
    Ok(Json(freed_out(freed)))
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

/// The support desk's key lookup: the license a key was issued with, and its activations. A
/// mistyped key is refused with the core's code (e.g. 118), an unknown one with 300.
async fn admin_lookup(
    State(app): App,
    Body(b): Body<LookupIn>,
) -> Result<Json<LicenseOut>, ApiError> {
    let key = tollgate_core::LicenseKey::parse(b.key.trim()).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.code(),
            e.name(),
            e.message(),
        )
    })?;
    let (rec, acts) = app
        .store
        .run(ADMIN_ACTOR, move |a| {
            let id = a
                .license_id_for_key(&key)?
                .ok_or(tollgate_authority::AuthorityError::UnknownKey)?;
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
    Ok(Json(freed_out(freed)))
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
