//! The floating server's routes, handlers and middleware (metrics, logs, admin token).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tollgate_protocol::floating::{CheckoutRequest, CheckoutResponse, LeaseRef, RenewResponse};
use tollgate_service_kit::http::{self as kit, Body, Observer, RouteName};
use tollgate_service_kit::{ApiError, Limiter, Metrics, Outcome};

use super::persist::AuditEntry;
use super::Floating;

type App = State<Arc<Floating>>;

/// Every route: method, path, name in metrics and logs.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "health"),
    ("GET", "/metrics", "metrics"),
    ("GET", "/openapi.json", "openapi"),
    ("POST", "/v1/floating/checkout", "checkout"),
    ("POST", "/v1/floating/heartbeat", "heartbeat"),
    ("POST", "/v1/floating/release", "release"),
    ("GET", "/v1/floating/license", "license"),
    ("GET", "/v1/floating/admin/status", "admin_status"),
    ("GET", "/v1/floating/admin/leases", "admin_leases"),
    (
        "POST",
        "/v1/floating/admin/leases/{id}/release",
        "admin_release",
    ),
    ("GET", "/v1/floating/admin/audit", "admin_audit"),
    (
        "POST",
        "/v1/floating/admin/license/request",
        "admin_request",
    ),
    (
        "POST",
        "/v1/floating/admin/license/install",
        "admin_install",
    ),
];

/// The router.
pub fn router(state: Arc<Floating>) -> Router {
    let admin = Router::new()
        .route("/v1/floating/admin/status", get(admin_status))
        .route("/v1/floating/admin/leases", get(admin_leases))
        .route(
            "/v1/floating/admin/leases/{id}/release",
            post(admin_release),
        )
        .route("/v1/floating/admin/audit", get(admin_audit))
        .route("/v1/floating/admin/license/request", post(admin_request))
        .route("/v1/floating/admin/license/install", post(admin_install));
    let admin = kit::admin_routes(admin, Arc::clone(&state.admin));
    let metrics_route = Router::new().route("/metrics", get(metrics));
    let metrics_route = kit::optional_bearer_routes(metrics_route, Arc::clone(&state.metrics_auth));
    let leases = Router::new()
        .route("/v1/floating/checkout", post(checkout))
        .route("/v1/floating/heartbeat", post(heartbeat))
        .route("/v1/floating/release", post(release));
    let leases = kit::optional_bearer_routes(leases, Arc::clone(&state.checkout_auth));
    let routes = Router::new()
        .route("/healthz", get(health))
        .route("/openapi.json", get(openapi))
        .route("/v1/floating/license", get(license))
        .merge(leases)
        .merge(metrics_route)
        .merge(admin);
    kit::finish(routes, Arc::clone(&state.observer), 16 * 1024).with_state(state)
}

/// The observing middleware's settings: admin routes and `/metrics` are rate-limited on wrong
/// tokens, and so are the lease routes when a checkout token is set (`checkout_token`); and
/// successful heartbeats (thousands a second) are not logged.
pub(crate) fn observer(metrics: Arc<Metrics>, limiter: Limiter, checkout_token: bool) -> Observer {
    Observer {
        routes: ROUTES
            .iter()
            .map(|&(method, path, name)| RouteName {
                method,
                path,
                name,
                limited: name.starts_with("admin_")
                    || name == "metrics"
                    || (checkout_token && matches!(name, "checkout" | "heartbeat" | "release")),
            })
            .collect(),
        metrics,
        limiter,
        failed_attempt: |o: &Outcome| o.name == "Unauthorized",
        quiet: &["heartbeat"],
    }
}

// --- the protocol -------------------------------------------------------------------------

async fn checkout(
    State(app): App,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Body(req): Body<CheckoutRequest>,
) -> Result<Json<CheckoutResponse>, ApiError> {
    app.checkout(req, addr.ip().to_string()).await.map(Json)
}

async fn heartbeat(
    State(app): App,
    Body(req): Body<LeaseRef>,
) -> Result<Json<RenewResponse>, ApiError> {
    app.heartbeat(&req).map(Json)
}

#[derive(Serialize)]
struct Released {
    released: bool,
}

async fn release(State(app): App, Body(req): Body<LeaseRef>) -> Result<Json<Released>, ApiError> {
    app.release(req.lease_id, Some(&req.secret)).await?;
    Ok(Json(Released { released: true }))
}

#[derive(Serialize)]
struct FeatureSeats {
    name: String,
    seats: u32,
    used: u32,
    active: bool,
}

#[derive(Serialize)]
struct LicenseOut {
    floating_license: String,
    license_id: u64,
    activation_id: u64,
    key_id: String,
    lease_ttl_secs: u64,
    heartbeat_secs: u64,
    max_borrow_secs: u32,
    valid_until: Option<u64>,
    features: Vec<FeatureSeats>,
}

fn license_out(app: &Floating) -> Result<LicenseOut, ApiError> {
    let s = app.current_signer().ok_or_else(|| {
        super::not_licensed("no floating license is installed on this server".into())
    })?;
    let t = s.terms();
    let now = app.now();
    let until = t.validity().1;
    Ok(LicenseOut {
        floating_license: s.floating_license().to_owned(),
        license_id: t.grant.license_id,
        activation_id: t.activation_id,
        key_id: s.key_id().to_hex(),
        lease_ttl_secs: app.config().ttl(),
        heartbeat_secs: app.heartbeat_secs(),
        max_borrow_secs: t.grant.max_borrow_secs,
        valid_until: (until != u64::MAX).then_some(until),
        features: t
            .grant
            .features
            .iter()
            .map(|f| FeatureSeats {
                name: f.name.clone(),
                seats: t.grant.floating_seats,
                used: app.used(&f.name),
                active: f.active_at(now) && t.check_time(now).is_ok(),
            })
            .collect(),
    })
}

async fn license(State(app): App) -> Result<Json<LicenseOut>, ApiError> {
    license_out(&app).map(Json)
}

#[derive(Serialize)]
struct HealthOut {
    status: &'static str,
    /// `single` (SQLite), `active` or `standby` (a PostgreSQL pair).
    role: &'static str,
    license: String,
    clock: &'static str,
    leases: usize,
}

async fn health(State(app): App) -> Response {
    let licensed = app
        .current_signer()
        .is_some_and(|s| s.terms().check_time(app.now()).is_ok());
    let clock_ok = !app.clock_rolled_back();
    let ok = licensed && clock_ok;
    let body = HealthOut {
        status: if ok { "ok" } else { "degraded" },
        role: app.role(),
        license: app.license_status().state.to_string(),
        clock: if clock_ok { "ok" } else { "rolled_back" },
        leases: app.leases().len(),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The OpenAPI document (`tollgate_protocol::floating::OPENAPI`).
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        tollgate_protocol::floating::OPENAPI,
    )
}

async fn metrics(State(app): App) -> impl IntoResponse {
    let mut out = app.metrics.render();
    let leases = app.leases();
    let _ = writeln!(
        out,
        "# HELP tollgate_floating_leases Leases in force.\n# TYPE tollgate_floating_leases gauge\ntollgate_floating_leases {}",
        leases.len()
    );
    let _ = writeln!(
        out,
        "# HELP tollgate_floating_borrowed_leases Borrowed leases in force.\n# TYPE tollgate_floating_borrowed_leases gauge\ntollgate_floating_borrowed_leases {}",
        leases.iter().filter(|l| l.borrowed).count()
    );
    let _ = writeln!(
        out,
        "# HELP tollgate_floating_heartbeats_total Heartbeats answered.\n# TYPE tollgate_floating_heartbeats_total counter\ntollgate_floating_heartbeats_total {}",
        app.heartbeats()
    );
    let _ = writeln!(
        out,
        "# HELP tollgate_floating_takeovers_refused_total Checkouts refused because the client id held a live lease (clones, rapid restarts).\n# TYPE tollgate_floating_takeovers_refused_total counter\ntollgate_floating_takeovers_refused_total {}",
        app.takeovers_refused()
    );
    let _ = writeln!(
        out,
        "# HELP tollgate_floating_clock_rollback 1 while the clock is behind its high-water mark.\n# TYPE tollgate_floating_clock_rollback gauge\ntollgate_floating_clock_rollback {}",
        u8::from(app.clock_rolled_back())
    );
    if let Ok(l) = license_out(&app) {
        out.push_str("# HELP tollgate_floating_seats_used Seats in use, by feature.\n# TYPE tollgate_floating_seats_used gauge\n");
        for f in &l.features {
            let _ = writeln!(
                out,
                "tollgate_floating_seats_used{{feature=\"{}\"}} {}",
                f.name, f.used
            );
        }
        out.push_str("# HELP tollgate_floating_seats Seats the license grants, by feature.\n# TYPE tollgate_floating_seats gauge\n");
        for f in &l.features {
            let _ = writeln!(
                out,
                "tollgate_floating_seats{{feature=\"{}\"}} {}",
                f.name, f.seats
            );
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

// --- admin --------------------------------------------------------------------------------

/// A lease in the admin view.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LeaseOut {
    /// Lease id.
    pub id: u64,
    /// Client id (hex).
    pub client_id: String,
    /// The name the client gave.
    pub client_name: String,
    /// Its address at checkout.
    pub address: String,
    /// The feature set.
    pub features: Vec<String>,
    /// Borrowed?
    pub borrowed: bool,
    /// Checked out at.
    pub created_at: u64,
    /// Last renewed at.
    pub issued_at: u64,
    /// Ends at unless renewed.
    pub expires_at: u64,
    /// Heartbeats since checkout (or since the server started).
    pub renewals: u64,
}

async fn admin_leases(State(app): App) -> Json<Vec<LeaseOut>> {
    Json(
        app.leases()
            .into_iter()
            .map(|l| LeaseOut {
                id: l.id,
                client_id: l.client_id.to_hex(),
                client_name: l.client_name,
                address: l.address,
                features: l.features,
                borrowed: l.borrowed,
                created_at: l.created_at,
                issued_at: l.issued_at,
                expires_at: l.expires_at,
                renewals: l.renewals,
            })
            .collect(),
    )
}

async fn admin_release(State(app): App, Path(id): Path<u64>) -> Result<Json<Released>, ApiError> {
    app.release(id, None).await?;
    Ok(Json(Released { released: true }))
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    after_id: u64,
    #[serde(default)]
    limit: Option<u64>,
}

async fn admin_audit(
    State(app): App,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    tokio::task::spawn_blocking(move || app.audit(q.after_id, limit))
        .await
        .map_err(|_| ApiError::internal("the audit read failed"))?
        .map(Json)
}

#[derive(Serialize)]
struct StatusOut {
    role: &'static str,
    epoch: u64,
    active_url: Option<String>,
    takeovers: u64,
    license: tollgate_sdk::Status,
    seats: Option<LicenseOut>,
    leases: usize,
    lease_ttl_secs: u64,
    cull_interval_secs: u64,
    clock: &'static str,
    now: u64,
    clock_high_water: u64,
}

async fn admin_status(State(app): App) -> Json<StatusOut> {
    let leader = app.leader();
    Json(StatusOut {
        role: app.role(),
        epoch: leader.map_or(0, |l| l.epoch()),
        active_url: leader.and_then(|l| l.active_url()),
        takeovers: leader.map_or(0, |l| l.takeovers()),
        license: app.license_status(),
        seats: license_out(&app).ok(),
        leases: app.leases().len(),
        lease_ttl_secs: app.config().ttl(),
        cull_interval_secs: app.config().cull_interval_secs,
        clock: if app.clock_rolled_back() {
            "rolled_back"
        } else {
            "ok"
        },
        now: app.now(),
        clock_high_water: app.high_water(),
    })
}

#[derive(Serialize)]
struct RequestOut {
    request: String,
}

async fn admin_request(State(app): App) -> Result<Json<RequestOut>, ApiError> {
    app.renewal_request()
        .map(|request| Json(RequestOut { request }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallIn {
    usage_license: String,
}

async fn admin_install(
    State(app): App,
    Body(b): Body<InstallIn>,
) -> Result<Json<tollgate_sdk::Status>, ApiError> {
    app.install(&b.usage_license).map(Json)
}
