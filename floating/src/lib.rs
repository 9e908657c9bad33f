//! The floating license server: hosted by the customer inside a closed network, it lends the
//! seats of a floating license to the brokers that ask, as short leases renewed by heartbeats.
//!
//! | path | what |
//! |---|---|
//! | `POST /v1/floating/checkout` | a client id and a feature set in, a lease token out (or `borrow_secs` for a borrowed lease) |
//! | `POST /v1/floating/heartbeat` | lease id + secret in, a renewed lease token out |
//! | `POST /v1/floating/release` | lease id + secret in: the seats are free |
//! | `GET /v1/floating/license` | the floating usage license, seats in use per feature, the lease TTL |
//! | `/v1/floating/admin/…` | leases (list, force release), status, audit log, renewal request and install of the server's own license (bearer token) |
//! | `GET /healthz`, `GET /metrics` | operations |
//!
//! **Activation.** The server is activated like any host, through the offline round trip: its
//! own [`LicenseManager`] (state in `state_dir`) makes a usage request (`tollgate-floating
//! request`), the vendor fulfils it for the floating model (`tollgate vendor fulfil --model
//! floating`), and the server installs the answer (`tollgate-floating install`, or the admin
//! API while it runs). That floating usage license names the server's device key, which signs
//! every lease token ([`tollgate_sdk::LeaseSigner`]); brokers verify leases offline
//! (`core/SPEC.md` §10a).
//!
//! **Seats.** `floating_seats` per feature; a lease holds one seat of each feature of its set;
//! one lease per client (see [`leases`]).
//!
//! **Leases end.** A lease not renewed within its TTL is reclaimed by a cull that runs every
//! `cull_interval_secs`, so a broker that died without releasing frees its seats within the TTL
//! plus the cull interval.
//!
//! **Restarts.** Leases in force, the next lease id, the clock's high-water mark and the audit
//! log are in `state_dir/floating.sqlite` (see [`persist`] for what is written when, and why a
//! heartbeat needs no disk write of its own).
//!
//! **Two instances, one PostgreSQL.** With `database_url`, the same state lives in PostgreSQL
//! and two instances serve one pool: an active and a standby, chosen through a leader row with
//! an expiry and an epoch (see [`leader`]). Why active/standby and not active/active: a
//! checkout needs the whole pool's seat count, and heartbeats (thousands a second) are
//! answered from memory; one active keeps both exactly as a single instance does, and the
//! database only has to decide who the active is. Why a row and not an advisory lock: a
//! session lock is lost with its connection and names no epoch; the row's epoch fences every
//! write ([`persist::fence`]), so a deposed active that wakes after a pause cannot store, hence
//! cannot lend, a checkout. The standby refuses with 347 `Standby` (naming the active's URL),
//! and clients configured with both URLs move on. The pair is one floating activation: the
//! activated `state_dir` (device key, usage license) is copied to the second host, which runs
//! with the same operator components and no probes, so tokens from either instance are signed
//! by the same pool key. `/healthz` and the admin status show the `role` (`single`, `active`,
//! `standby`).
//!
//! **Clock.** The server keeps a high-water mark of its clock (persisted). If the clock reads
//! earlier than the mark by more than `clock_tolerance_secs`, it issues and renews no leases
//! (code 345), says so in `/healthz`, `/metrics` and the log, and records it in the audit log,
//! until the clock has caught up.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod api;
pub mod config;
pub mod leader;
pub mod leases;
pub mod persist;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use tollgate_core::model::check_feature_name;
use tollgate_core::{feature_set, ClientId, LeaseClaims, LeaseNonce};
use tollgate_protocol::floating::{
    self as protocol, CheckoutRequest, CheckoutResponse, LeaseRef, RenewResponse,
};
use tollgate_sdk::{Clock, LeaseSigner, LicenseManager, SystemClock};
use tollgate_service_kit::http::{AdminAuth, Observer, OptionalBearer};
use tollgate_service_kit::{ApiError, Background, ConfigError, Limiter, Metrics};

pub use config::FloatingConfig;

/// Why the floating server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The lease database could not be opened.
    #[error("database: {0}")]
    Storage(#[from] tollgate_storage::StorageError),
    /// Binding, TLS, the license state or the runtime failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
use leader::{Leader, Round};
use leases::{Checkout, CheckoutSpec, LeaseRecord, Refusal, Table};
use persist::{AuditEntry, Backend, Op, Persist};

/// A floating server refusal with one of the [`protocol`] codes.
fn refusal(status: StatusCode, code: u32, name: &'static str, message: String) -> ApiError {
    ApiError::new(status, code, name, message)
}

fn no_seat(feature: &str) -> ApiError {
    refusal(
        StatusCode::CONFLICT,
        protocol::NO_SEAT,
        "NoSeat",
        format!("every seat of feature `{feature}` is taken"),
    )
}

fn lease_held(lease_id: u64, expires_at: u64) -> ApiError {
    refusal(
        StatusCode::CONFLICT,
        protocol::LEASE_HELD,
        "LeaseHeld",
        format!(
            "this client id holds lease {lease_id}, live until {expires_at}: only the holder of \
             its secret renews or releases it; a restarted client gets a seat when it ends"
        ),
    )
}

fn not_licensed_feature(feature: &str) -> ApiError {
    refusal(
        StatusCode::FORBIDDEN,
        protocol::FEATURE_NOT_LICENSED,
        "FeatureNotLicensed",
        format!("the floating license has no active feature `{feature}`"),
    )
}

fn lease_not_found() -> ApiError {
    refusal(
        StatusCode::NOT_FOUND,
        protocol::LEASE_NOT_FOUND,
        "LeaseNotFound",
        "no such lease: it was released or reclaimed, or the secret is wrong; check out again"
            .into(),
    )
}

fn borrow_not_allowed(message: String) -> ApiError {
    refusal(
        StatusCode::FORBIDDEN,
        protocol::BORROW_NOT_ALLOWED,
        "BorrowNotAllowed",
        message,
    )
}

fn not_licensed(message: String) -> ApiError {
    let mut e = refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        protocol::NOT_LICENSED,
        "NotLicensed",
        message,
    );
    e.retry_after = Some(Duration::from_secs(60));
    e
}

fn clock_rollback(now: u64, high_water: u64) -> ApiError {
    let mut e = refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        protocol::CLOCK_ROLLBACK,
        "ClockRollback",
        format!(
            "the server's clock went back ({now} < {high_water}, seconds since 1970): no \
             leases are issued until it is right again"
        ),
    );
    e.retry_after = Some(Duration::from_secs(5));
    e
}

fn standby(active: Option<String>) -> ApiError {
    let mut e = refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        protocol::STANDBY,
        "Standby",
        match active {
            Some(url) => {
                format!("this instance is the standby of the pool; the active instance is at {url}")
            }
            None => "this instance is the standby of the pool; ask the other instance".into(),
        },
    );
    e.retry_after = Some(Duration::from_secs(1));
    e
}

/// SHA-256 of a lease secret, as stored.
fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The floating server's state, shared by every handler.
pub struct Floating {
    cfg: FloatingConfig,
    clock: Arc<dyn Clock>,
    manager: Mutex<LicenseManager>,
    signer: RwLock<Option<Arc<LeaseSigner>>>,
    table: Mutex<Table>,
    persist: Persist,
    backend: Backend,
    /// With PostgreSQL: who leads the pool.
    leader: Option<Arc<Leader>>,
    high_water: AtomicU64,
    rolled_back: AtomicBool,
    /// Request counters and latencies.
    pub metrics: Arc<Metrics>,
    observer: Arc<Observer>,
    admin: Arc<AdminAuth>,
    /// The metrics token check (open without `metrics_token`).
    metrics_auth: Arc<OptionalBearer>,
    /// The lease routes' token check (open without `checkout_token`).
    checkout_auth: Arc<OptionalBearer>,
    heartbeats: AtomicU64,
    /// Checkouts refused because the client id holds a live lease.
    takeovers_refused: AtomicU64,
}

impl std::fmt::Debug for Floating {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Floating")
            .field("state_dir", &self.cfg.state_dir)
            .finish_non_exhaustive()
    }
}

/// Creates `dir` (and its parents) and makes it private to its owner (mode 0700 on Unix): the
/// floating server's state directory holds its device key and its lease database.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Creates `path` if missing, and makes it readable and writable by its owner only (mode 0600
/// on Unix): the lease database holds the digests of the lease secrets.
pub fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        open.mode(0o600);
        drop(open.open(path)?);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    drop(open.open(path)?);
    Ok(())
}

impl Floating {
    /// Opens the license state (locking `state_dir`), the lease database, and loads the leases
    /// in force.
    pub fn open(cfg: FloatingConfig, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        cfg.validate()?;
        let token = cfg.admin_token()?;
        let host = cfg.host()?;
        private_dir(&cfg.state_dir)?;
        let manager = LicenseManager::open(host, &cfg.state_dir)
            .map_err(|e| std::io::Error::other(format!("license state: {e}")))?;
        let signer = match manager.lease_signer() {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                tracing::warn!(error = %e, "no usable floating license installed");
                None
            }
        };
        let (backend, leader) = match &cfg.database_url {
            Some(url) => (
                Backend::Postgres(url.expose().to_owned()),
                Some(Arc::new(Leader::new(
                    cfg.advertise_url.clone(),
                    Duration::from_secs(cfg.leader_ttl_secs),
                ))),
            ),
            None => (Backend::Sqlite(cfg.database()), None),
        };
        if let Backend::Sqlite(db) = &backend {
            private_file(db)?;
        }
        let (persist, loaded) = Persist::open(&backend, cfg.batch_max, leader.clone())?;
        if let Backend::Sqlite(db) = &backend {
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut side = db.clone().into_os_string();
                side.push(suffix);
                let side = std::path::PathBuf::from(side);
                if side.exists() {
                    private_file(&side)?;
                }
            }
        }
        // Heartbeats reach the disk within one flush interval: a loaded lease may be that much
        // older than the token its client holds. (A PostgreSQL standby loads nothing now: it
        // loads when it takes over.)
        let slack = cfg.flush_interval().as_secs() + 1;
        let leases: Vec<LeaseRecord> = if leader.is_some() {
            Vec::new()
        } else {
            loaded
                .leases
                .into_iter()
                .map(|mut l| {
                    if !l.borrowed {
                        l.expires_at += slack;
                    }
                    l
                })
                .collect()
        };
        let n = leases.len();
        let table = Table::load(leases, loaded.next_id);
        let now = clock.now();
        let metrics = Arc::new(Metrics::default());
        let f = Floating {
            observer: Arc::new(api::observer(
                Arc::clone(&metrics),
                Limiter::new(cfg.rate_limit),
                cfg.checkout_token.is_some(),
            )),
            admin: Arc::new(AdminAuth::new(token.as_ref())),
            metrics_auth: Arc::new(OptionalBearer::new(cfg.metrics_token.as_ref(), "metrics")),
            checkout_auth: Arc::new(OptionalBearer::new(cfg.checkout_token.as_ref(), "checkout")),
            cfg,
            clock,
            manager: Mutex::new(manager),
            signer: RwLock::new(signer),
            table: Mutex::new(table),
            persist,
            backend,
            leader,
            high_water: AtomicU64::new(loaded.high_water),
            rolled_back: AtomicBool::new(false),
            metrics,
            heartbeats: AtomicU64::new(0),
            takeovers_refused: AtomicU64::new(0),
        };
        f.persist.queue(vec![Op::Audit(
            AuditEntry::new(now, "server", "server.started", None)
                .detail(serde_json::json!({ "leases": n })),
        )]);
        tracing::info!(leases = n, "floating license server opened");
        // Reports a clock behind the persisted mark at once.
        let _ = f.now_checked();
        Ok(f)
    }

    /// The configuration.
    pub fn config(&self) -> &FloatingConfig {
        &self.cfg
    }

    /// This instance's role: `single` (SQLite), `active` or `standby` (PostgreSQL pair).
    pub fn role(&self) -> &'static str {
        match &self.leader {
            None => "single",
            Some(l) if l.is_active() => "active",
            Some(_) => "standby",
        }
    }

    /// The leadership, with PostgreSQL.
    pub fn leader(&self) -> Option<&Arc<Leader>> {
        self.leader.as_ref()
    }

    /// Refuses with 347 `Standby` unless this instance may serve.
    fn ensure_active(&self) -> Result<(), ApiError> {
        match &self.leader {
            Some(l) if !l.is_active() => Err(standby(l.active_url())),
            _ => Ok(()),
        }
    }

    /// A failed commit as the client should see it: 347 if this instance was deposed.
    fn store_failed(&self, what: &str, e: &str) -> ApiError {
        if e == persist::DEPOSED {
            if let Some(l) = &self.leader {
                return standby(l.active_url());
            }
        }
        ApiError::unavailable(format!("cannot store {what}: {e}"))
    }

    /// Becomes the active under `epoch`: loads the leases in force, the lease-id counter and
    /// the clock's mark from `store`, treats every loaded lease as renewed now (see
    /// [`leader`]), and starts the term counted from `sent`.
    fn take_over(
        &self,
        store: &mut tollgate_storage::SqlStore,
        epoch: u64,
        sent: std::time::Instant,
    ) -> Result<(), tollgate_storage::StorageError> {
        let Some(leader) = &self.leader else {
            return Ok(());
        };
        let (loaded, _) = store.read(persist::load)?;
        let now = self.clock.now();
        let floor = now + self.cfg.ttl() + self.cfg.clock_tolerance_secs;
        let slack = self.cfg.flush_interval().as_secs() + 1;
        let leases: Vec<LeaseRecord> = loaded
            .leases
            .into_iter()
            .map(|mut l| {
                if !l.borrowed {
                    l.expires_at = (l.expires_at + slack).max(floor);
                }
                l
            })
            .collect();
        let n = leases.len();
        *self.table.lock().unwrap_or_else(|p| p.into_inner()) = Table::load(leases, loaded.next_id);
        self.high_water
            .fetch_max(loaded.high_water, Ordering::Relaxed);
        leader.start_term(epoch, sent);
        tracing::info!(
            epoch,
            leases = n,
            "took over the pool: this instance is the active"
        );
        self.persist.queue(vec![Op::Audit(
            AuditEntry::new(now, "server", "leader.acquired", None)
                .detail(serde_json::json!({ "epoch": epoch, "leases": n })),
        )]);
        Ok(())
    }

    /// The leader task (PostgreSQL): every third of the leader TTL, renews the term or tries
    /// to take over, until `stop`; then gives the leadership up. Blocking: run it on a thread
    /// of its own.
    pub fn lead(&self, stop: &AtomicBool) {
        let Some(leader) = &self.leader else {
            return;
        };
        let Backend::Postgres(_) = &self.backend else {
            return;
        };
        let mut store: Option<tollgate_storage::SqlStore> = None;
        while !stop.load(Ordering::SeqCst) {
            let sent = std::time::Instant::now();
            let s = match store.as_mut() {
                Some(s) => s,
                None => match self.backend.open(Duration::from_secs(2)) {
                    Ok(s) => store.insert(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "leader: cannot reach the database");
                        pause(stop, leader.interval());
                        continue;
                    }
                },
            };
            match leader.round(s, sent) {
                Ok(Round::TookOver(epoch)) => {
                    if let Err(e) = self.take_over(s, epoch, sent) {
                        tracing::error!(error = %e, "leader: cannot load the pool's state");
                        leader.resign(s);
                    }
                }
                Ok(Round::Renewed) => {}
                Ok(Round::Deposed | Round::Standby) => {
                    self.table.lock().unwrap_or_else(|p| p.into_inner()).clear();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "leader: the round failed");
                }
            }
            pause(stop, leader.interval().saturating_sub(sent.elapsed()));
        }
        if let Some(s) = store.as_mut() {
            leader.resign(s);
        }
    }

    /// Now, if the clock has not gone back past the high-water mark.
    fn now_checked(&self) -> Result<u64, ApiError> {
        let now = self.clock.now();
        let hw = self.high_water.load(Ordering::Relaxed);
        if now.saturating_add(self.cfg.clock_tolerance_secs) < hw {
            if !self.rolled_back.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    now,
                    high_water = hw,
                    "the clock went back: no leases are issued until it is right again"
                );
                self.persist.queue(vec![Op::Audit(
                    AuditEntry::new(now, "server", "clock.rollback", None)
                        .detail(serde_json::json!({ "now": now, "high_water": hw })),
                )]);
            }
            return Err(clock_rollback(now, hw));
        }
        if self.rolled_back.swap(false, Ordering::Relaxed) {
            tracing::warn!(now, high_water = hw, "the clock is right again");
            self.persist.queue(vec![Op::Audit(
                AuditEntry::new(now, "server", "clock.recovered", None)
                    .detail(serde_json::json!({ "now": now, "high_water": hw })),
            )]);
        }
        self.high_water.fetch_max(now, Ordering::Relaxed);
        Ok(now)
    }

    /// Whether the clock is currently behind its high-water mark.
    pub fn clock_rolled_back(&self) -> bool {
        self.rolled_back.load(Ordering::Relaxed)
    }

    fn signer(&self, now: u64) -> Result<Arc<LeaseSigner>, ApiError> {
        let s = self
            .signer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                not_licensed("no floating license is installed on this server".into())
            })?;
        s.terms()
            .check_time(now)
            .map_err(|e| not_licensed(format!("the server's floating license: {e}")))?;
        Ok(s)
    }

    fn heartbeat_secs(&self) -> u64 {
        self.cfg.ttl().div_ceil(3).max(1)
    }

    /// Handles a checkout from `address`.
    pub async fn checkout(
        &self,
        req: CheckoutRequest,
        address: String,
    ) -> Result<CheckoutResponse, ApiError> {
        let client_id = ClientId::from_hex(&req.client_id)
            .ok_or_else(|| ApiError::bad_request("client_id must be 32 hex digits"))?;
        let nonce = request_nonce(&req.nonce)?;
        let features = feature_set(req.features);
        if features.is_empty() || features.len() > tollgate_core::model::MAX_FEATURES {
            return Err(ApiError::bad_request("ask for 1-32 features"));
        }
        if let Some(f) = features.iter().find(|f| check_feature_name(f).is_err()) {
            return Err(ApiError::bad_request(format!(
                "`{f}` is not a feature name"
            )));
        }
        if req.client_name.len() > 128 {
            return Err(ApiError::bad_request("client_name is limited to 128 bytes"));
        }
        let now = self.now_checked()?;
        self.ensure_active()?;
        let signer = self.signer(now)?;
        let grant = &signer.terms().grant;
        for f in &features {
            if !grant.feature(f).is_some_and(|g| g.active_at(now)) {
                return Err(not_licensed_feature(f));
            }
        }
        let (borrowed, expires_at) = match req.borrow_secs {
            None => (false, now + self.cfg.ttl()),
            Some(0) => return Err(ApiError::bad_request("borrow_secs must be at least 1")),
            Some(s) if s > u64::from(grant.max_borrow_secs) => {
                return Err(borrow_not_allowed(if grant.max_borrow_secs == 0 {
                    "the floating license allows no borrowing".into()
                } else {
                    format!(
                        "the floating license allows borrowing for at most {} seconds",
                        grant.max_borrow_secs
                    )
                }))
            }
            Some(s) => (true, now + s),
        };
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).map_err(|_| ApiError::internal("no randomness"))?;
        let secret = hex::encode(raw);
        let spec_address = address.clone();
        let spec = CheckoutSpec {
            client_id,
            client_name: req.client_name,
            address,
            features,
            borrowed,
            secret_digest: digest(&secret),
            now,
            expires_at,
        };
        let (outcome, next_id) = {
            let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
            let o = t
                .checkout(spec, grant.floating_seats)
                .map_err(|r| match r {
                    Refusal::NoSeat(f) => no_seat(&f),
                    Refusal::Held {
                        lease_id,
                        expires_at,
                    } => {
                        self.takeovers_refused.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            lease_id,
                            %client_id,
                            address = %spec_address,
                            expires_at,
                            "lease.takeover_refused: a checkout by a client id that holds a \
                             live lease (a clone, or a restart that lost its secret)"
                        );
                        lease_held(lease_id, expires_at)
                    }
                })?;
            (o, t.next_id())
        };
        let l = outcome.lease().clone();
        let lease = signer
            .sign(claims(&l, nonce))
            .map_err(|e| ApiError::internal(format!("cannot sign the lease: {e}")));
        let lease = match lease {
            Ok(v) => v,
            Err(e) => {
                self.table
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .undo(&outcome);
                return Err(e);
            }
        };
        let mut ops = vec![Op::NextId(next_id)];
        let action = match &outcome {
            Checkout::New(_) => "lease.checkout",
            Checkout::Replaced { old, .. } => {
                ops.push(Op::Delete(old.id));
                ops.push(Op::Audit(AuditEntry::new(
                    now,
                    "client",
                    "lease.replaced",
                    Some(old),
                )));
                "lease.checkout"
            }
        };
        ops.push(Op::Upsert(l.clone()));
        ops.push(Op::Audit(AuditEntry::new(now, "client", action, Some(&l))));
        if let Err(e) = self.persist.commit(ops).await {
            self.table
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .undo(&outcome);
            return Err(self.store_failed("the lease", &e));
        }
        tracing::info!(
            lease_id = l.id,
            client_id = %l.client_id,
            client_name = %l.client_name,
            features = %l.features.join(","),
            borrowed = l.borrowed,
            expires_at = l.expires_at,
            "{action}"
        );
        Ok(CheckoutResponse {
            lease_id: l.id,
            secret,
            lease: lease.to_armor(),
            floating_license: signer.floating_license().to_owned(),
            issued_at: l.issued_at,
            expires_at: l.expires_at,
            heartbeat_secs: self.heartbeat_secs(),
            borrowed: l.borrowed,
        })
    }

    /// Handles a heartbeat: in memory only (see [`persist`]).
    pub fn heartbeat(&self, req: &LeaseRef) -> Result<RenewResponse, ApiError> {
        let nonce = request_nonce(&req.nonce)?;
        let now = self.now_checked()?;
        // After `now`: a token renewed here ends within `lease_ttl` of the term's end, which a
        // new active allows for (see [`leader`]).
        self.ensure_active()?;
        let signer = self.signer(now)?;
        let d = digest(&req.secret);
        let l = self
            .table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .renew(req.lease_id, &d, now, self.cfg.ttl())
            .ok_or_else(lease_not_found)?;
        let lease = signer.sign(claims(&l, nonce)).map_err(|e| match e {
            tollgate_sdk::SdkError::Core(tollgate_core::Error::LeaseNotGranted) => {
                not_licensed_feature(&l.features.join(","))
            }
            e => ApiError::internal(format!("cannot sign the lease: {e}")),
        })?;
        self.heartbeats.fetch_add(1, Ordering::Relaxed);
        Ok(RenewResponse {
            lease_id: l.id,
            lease: lease.to_armor(),
            issued_at: l.issued_at,
            expires_at: l.expires_at,
        })
    }

    /// Handles a release by the client (`secret` given) or by an admin (`None`).
    pub async fn release(&self, lease_id: u64, secret: Option<&str>) -> Result<(), ApiError> {
        self.ensure_active()?;
        let now = self.clock.now();
        let d = secret.map(digest);
        let l = self
            .table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .release(lease_id, d.as_ref())
            .ok_or_else(lease_not_found)?;
        let (actor, action) = match secret {
            Some(_) => ("client", "lease.released"),
            None => ("admin", "lease.force_released"),
        };
        self.persist
            .commit(vec![
                Op::Delete(l.id),
                Op::Audit(AuditEntry::new(now, actor, action, Some(&l))),
            ])
            .await
            .map_err(|e| self.store_failed("the release", &e))?;
        tracing::info!(lease_id = l.id, client_id = %l.client_id, "{action}");
        Ok(())
    }

    /// Reclaims the leases that ended; returns how many.
    pub fn cull(&self) -> usize {
        if self.leader.as_ref().is_some_and(|l| !l.is_active()) {
            return 0;
        }
        let now = self.clock.now();
        let ended = self
            .table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cull(now);
        let mut ops = Vec::with_capacity(ended.len() * 2);
        for l in &ended {
            tracing::info!(lease_id = l.id, client_id = %l.client_id, "lease reclaimed: not renewed in time");
            ops.push(Op::Delete(l.id));
            ops.push(Op::Audit(AuditEntry::new(
                now,
                "server",
                "lease.expired",
                Some(l),
            )));
        }
        self.persist.queue(ops);
        ended.len()
    }

    /// Writes the ends of the leases renewed since the last flush, and the clock's mark.
    pub fn flush(&self) {
        if self.leader.as_ref().is_some_and(|l| !l.is_active()) {
            return;
        }
        let dirty = self
            .table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take_dirty();
        let mut ops: Vec<Op> = dirty
            .into_iter()
            .map(|(id, issued, expires)| Op::Renewed(id, issued, expires))
            .collect();
        ops.push(Op::HighWater(self.high_water.load(Ordering::Relaxed)));
        self.persist.queue(ops);
    }

    /// Every lease in force.
    pub fn leases(&self) -> Vec<LeaseRecord> {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).list()
    }

    /// Seats in use of `feature`.
    pub fn used(&self, feature: &str) -> u32 {
        self.table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .used(feature)
    }

    /// The signer of the installed floating license, if it is usable.
    pub fn current_signer(&self) -> Option<Arc<LeaseSigner>> {
        self.signer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes a renewal usage request with the server's own license state (for the vendor to
    /// fulfil for the floating model).
    pub fn renewal_request(&self) -> Result<String, ApiError> {
        let now = self.clock.now();
        let r = self
            .manager
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .request_renewal()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        self.persist.queue(vec![Op::Audit(AuditEntry::new(
            now,
            "admin",
            "license.renewal_requested",
            None,
        ))]);
        Ok(r)
    }

    /// Installs a (renewed or upgraded) floating usage license and starts signing with it.
    pub fn install(&self, usage_license: &str) -> Result<tollgate_sdk::Status, ApiError> {
        let now = self.clock.now();
        let mut m = self.manager.lock().unwrap_or_else(|p| p.into_inner());
        let status = m.install(usage_license).map_err(|e| {
            refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.code(),
                e.name(),
                e.to_string(),
            )
        })?;
        let signer = m.lease_signer().map_err(|e| {
            refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.code(),
                e.name(),
                e.to_string(),
            )
        })?;
        let detail = serde_json::json!({
            "license_id": signer.terms().grant.license_id,
            "activation_id": signer.terms().activation_id,
            "revision": signer.terms().grant.revision,
        });
        *self.signer.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(signer));
        self.persist.queue(vec![Op::Audit(
            AuditEntry::new(now, "admin", "license.installed", None).detail(detail),
        )]);
        Ok(status)
    }

    /// The license status of the server itself.
    pub fn license_status(&self) -> tollgate_sdk::Status {
        self.manager
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .status()
    }

    /// The audit log after `after_id`, at most `limit` entries.
    pub fn audit(&self, after_id: u64, limit: u64) -> Result<Vec<AuditEntry>, ApiError> {
        persist::read_audit(&self.backend, after_id, limit)
            .map_err(|e| ApiError::internal(e.message()))
    }

    /// Checkouts refused since start because the client id held a live lease (clones taking
    /// turns, or rapid restarts).
    pub fn takeovers_refused(&self) -> u64 {
        self.takeovers_refused.load(Ordering::Relaxed)
    }

    /// Heartbeats answered since start.
    pub fn heartbeats(&self) -> u64 {
        self.heartbeats.load(Ordering::Relaxed)
    }

    /// The current time by the server's clock.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The clock's high-water mark.
    pub fn high_water(&self) -> u64 {
        self.high_water.load(Ordering::Relaxed)
    }

    /// Writes what is pending and stops the writer.
    pub fn close(&self) {
        self.flush();
        self.persist.close();
    }
}

/// Sleeps `d`, waking early when `stop` is set.
fn pause(stop: &AtomicBool, d: Duration) {
    let end = std::time::Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// The client's nonce of a checkout or heartbeat: 32 hex digits, else a bad request.
fn request_nonce(hex: &str) -> Result<LeaseNonce, ApiError> {
    tollgate_core::lease::nonce_from_hex(hex)
        .ok_or_else(|| ApiError::bad_request("nonce must be 32 hex digits"))
}

/// The claims of a lease record's token answering the request with `nonce` (license and
/// activation are set by the signer).
fn claims(l: &LeaseRecord, nonce: LeaseNonce) -> LeaseClaims {
    LeaseClaims {
        lease_id: l.id,
        license_id: 0,
        activation_id: 0,
        client_id: l.client_id,
        nonce,
        features: l.features.clone(),
        borrowed: l.borrowed,
        issued_at: l.issued_at,
        expires_at: l.expires_at,
    }
}

/// The floating server, opened and ready to serve.
#[derive(Debug)]
pub struct FloatingServer {
    state: Arc<Floating>,
}

impl FloatingServer {
    /// Opens the server with the system clock (see [`Floating::open`]).
    pub fn open(cfg: FloatingConfig) -> Result<Self, StartError> {
        Self::open_with_clock(cfg, Arc::new(SystemClock))
    }

    /// Opens the server with another clock (tests).
    pub fn open_with_clock(cfg: FloatingConfig, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        Ok(FloatingServer {
            state: Arc::new(Floating::open(cfg, clock)?),
        })
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<Floating> {
        &self.state
    }

    /// Serves on `listener` until `shutdown` completes; runs the cull and the flush; on
    /// shutdown lets requests in flight finish, writes what is pending and closes the state.
    pub async fn serve(
        self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let state = self.state;
        let cfg = state.cfg.clone();
        let app = api::router(Arc::clone(&state));
        let cull = {
            let s = Arc::clone(&state);
            let every = Duration::from_secs(cfg.cull_interval_secs);
            tokio::spawn(async move {
                let mut t = tokio::time::interval(every);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    t.tick().await;
                    s.cull();
                }
            })
        };
        let flush = {
            let s = Arc::clone(&state);
            let every = cfg.flush_interval();
            tokio::spawn(async move {
                let mut t = tokio::time::interval(every);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    t.tick().await;
                    s.flush();
                }
            })
        };
        let stop_leading = Arc::new(AtomicBool::new(false));
        let leading = match state.leader {
            Some(_) => {
                let s = Arc::clone(&state);
                let stop = Arc::clone(&stop_leading);
                Some(
                    std::thread::Builder::new()
                        .name("tollgate-floating-leader".into())
                        .spawn(move || s.lead(&stop))?,
                )
            }
            None => None,
        };
        let served = tollgate_service_kit::serve::serve_limited(
            listener,
            app,
            cfg.tls.as_ref(),
            Duration::from_secs(cfg.shutdown_grace_secs),
            tollgate_service_kit::ConnGuard::new(cfg.connections.limits()),
            shutdown,
        )
        .await;
        cull.abort();
        flush.abort();
        tokio::task::spawn_blocking(move || {
            // Writes what is pending while still the active, then hands the pool over.
            state.close();
            stop_leading.store(true, Ordering::SeqCst);
            if let Some(t) = leading {
                let _ = t.join();
            }
        })
        .await
        .map_err(std::io::Error::other)?;
        tracing::info!("stopped");
        Ok(served?)
    }

    /// Binds `listen` and serves on a background thread with its own runtime (tests, tools).
    pub fn start(self) -> Result<FloatingRunning, StartError> {
        let listener = std::net::TcpListener::bind(self.state.cfg.listen)?;
        self.start_on(listener)
    }

    /// [`FloatingServer::start`] on a listener already bound.
    pub fn start_on(self, listener: std::net::TcpListener) -> Result<FloatingRunning, StartError> {
        let state = Arc::clone(&self.state);
        Ok(Background::start(
            "tollgate-floating",
            listener,
            state,
            move |l, stop| self.serve(l, stop),
        )?)
    }
}

/// A floating server running on a background thread: its address, its state (leases,
/// metrics) and [`Background::stop`]. Dropping it stops it.
pub type FloatingRunning = Background<StartError, Floating>;

/// The default database path under a state directory.
pub fn database_path(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("floating.sqlite")
}

#[cfg(test)]
mod refusal_tests {
    use super::*;

    /// Each refusal's code and name are the clients' row for that code (which the bindings
    /// report as their own result code), with the status the client expects.
    #[test]
    fn refusals_match_the_sdk_table() {
        let all = [
            (no_seat("f"), StatusCode::CONFLICT),
            (not_licensed_feature("f"), StatusCode::FORBIDDEN),
            (lease_not_found(), StatusCode::NOT_FOUND),
            (borrow_not_allowed(String::new()), StatusCode::FORBIDDEN),
            (not_licensed(String::new()), StatusCode::SERVICE_UNAVAILABLE),
            (clock_rollback(1, 2), StatusCode::SERVICE_UNAVAILABLE),
            (lease_held(1, 2), StatusCode::CONFLICT),
            (standby(None), StatusCode::SERVICE_UNAVAILABLE),
        ];
        let codes: Vec<u32> = all.iter().map(|(e, _)| e.code).collect();
        assert_eq!(codes, (340..=347).collect::<Vec<u32>>());
        for (e, status) in all {
            let row = tollgate_sdk::service_refusal_info(e.code).unwrap();
            assert_eq!((e.name, e.status), (row.name, status), "{}", e.code);
        }
    }
}
