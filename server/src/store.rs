//! The ledger behind the service: a pool of [`Authority`] connections run on blocking threads,
//! and a group-commit writer for activations.
//!
//! The authority's API is synchronous, so every call runs on tokio's blocking pool with one
//! pooled `Authority` (one SQLite or PostgreSQL connection each), from an `r2d2` pool. Activations and refreshes,
//! the hot path, go to one writer thread instead: it takes every request queued while the
//! previous batch was committing and answers them with [`Authority::fulfil_many`] — one
//! transaction, a savepoint per request, one disk flush for the lot. A response is sent only
//! once its batch is committed, so whatever a client was told succeeded is durable.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{oneshot, Semaphore};
use tollgate_authority::{
    Authority, AuthorityConfig, AuthorityError, FulfilItem, FulfilMode, Fulfilled,
};
use tollgate_core::DeploymentModel;

use crate::config::Config;
use tollgate_service_kit::{ApiError, Metrics};

use crate::refusal::ledger_error;

/// Activations waiting for the writer before new ones are refused with 503.
const QUEUE_LIMIT: usize = 16_384;

/// The actor recorded in the audit log for licensing calls.
pub const SERVICE_ACTOR: &str = "online-service";
/// The actor recorded in the audit log for admin calls.
pub const ADMIN_ACTOR: &str = "admin-api";

/// The current time in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct Job {
    item: FulfilItem,
    reply: oneshot::Sender<Result<Fulfilled, ApiError>>,
}

/// Opens the pool's `Authority` connections (r2d2's connection manager).
#[derive(Debug)]
struct Connector {
    cfg: Config,
}

impl r2d2::ManageConnection for Connector {
    type Connection = Authority;
    type Error = AuthorityError;

    fn connect(&self) -> Result<Authority, AuthorityError> {
        open_one(&self.cfg)
    }

    fn is_valid(&self, _a: &mut Authority) -> Result<(), AuthorityError> {
        // Every call checks its connection at `begin` (PostgreSQL reconnects there).
        Ok(())
    }

    fn has_broken(&self, _a: &mut Authority) -> bool {
        false
    }
}

struct Pool {
    idle: r2d2::Pool<Connector>,
    permits: Semaphore,
}

/// The ledger connections.
pub struct Store {
    pool: Arc<Pool>,
    writer: Mutex<Option<SyncSender<Job>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    backend: &'static str,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

fn open_one(cfg: &Config) -> Result<Authority, AuthorityError> {
    let acfg = AuthorityConfig {
        online_refresh_secs: cfg.online_refresh_secs,
        ..AuthorityConfig::default()
    };
    let mut a = match &cfg.database_url {
        Some(url) => Authority::open_postgres(&cfg.data_dir, url.expose(), acfg)?,
        None => Authority::open_with(&cfg.data_dir, acfg)?,
    };
    a.set_actor(SERVICE_ACTOR)?;
    Ok(a)
}

impl Store {
    /// Opens `cfg.pool_size` connections plus the writer's, migrating the schema if needed,
    /// and starts the writer thread.
    pub fn open(cfg: &Config, metrics: Arc<Metrics>) -> Result<Self, AuthorityError> {
        let writer_authority = open_one(cfg)?;
        let backend = writer_authority.backend();
        // The writer's connection above reported a typed error if the ledger cannot be
        // opened; the pool opens its own eagerly (`min_idle` = `max_size`).
        let size = u32::try_from(cfg.pool_size)
            .map_err(|_| AuthorityError::InvalidArgument("pool_size out of range".into()))?;
        let idle = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(size))
            .test_on_check_out(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .build(Connector { cfg: cfg.clone() })
            .map_err(|e| AuthorityError::Db(tollgate_authority::LedgerError::new(e)))?;
        let (tx, rx) = mpsc::sync_channel(QUEUE_LIMIT);
        let max = cfg.batch_max;
        let thread = std::thread::Builder::new()
            .name("tollgate-writer".into())
            .spawn(move || writer_loop(writer_authority, &rx, max, &metrics))
            .map_err(|e| AuthorityError::Io {
                path: "writer thread".into(),
                source: e,
            })?;
        Ok(Store {
            pool: Arc::new(Pool {
                permits: Semaphore::new(cfg.pool_size),
                idle,
            }),
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(thread)),
            backend,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Runs `f` with a pooled connection on a blocking thread, recording `actor` in the audit
    /// log.
    pub async fn run<T: Send + 'static>(
        &self,
        actor: &'static str,
        f: impl FnOnce(&mut Authority) -> Result<T, AuthorityError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .pool
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::unavailable("the service is shutting down"))?;
        let pool = Arc::clone(&self.pool);
        let joined = tokio::task::spawn_blocking(move || {
            // The permit guarantees an idle connection: `try_get` never waits.
            let Some(mut a) = pool.idle.try_get() else {
                return Err(ApiError::internal("no ledger connection available"));
            };
            let out = std::panic::catch_unwind(AssertUnwindSafe(|| {
                a.set_actor(actor)?;
                f(&mut a)
            }));
            drop(a);
            match out {
                Ok(r) => r.map_err(|e| {
                    log_internal(&e);
                    ledger_error(e)
                }),
                Err(_) => Err(ApiError::internal("a ledger call failed unexpectedly")),
            }
        })
        .await;
        joined.unwrap_or_else(|_| Err(ApiError::internal("a ledger call failed unexpectedly")))
    }

    /// Answers a usage request through the group-commit writer. The request is decoded and
    /// its signature checked here, on the caller's thread, so the writer spends its time on
    /// the ledger only.
    pub async fn fulfil(
        &self,
        request: &str,
        model: DeploymentModel,
        mode: FulfilMode,
    ) -> Result<Fulfilled, ApiError> {
        let item = FulfilItem::parse(request, model, mode).map_err(ledger_error)?;
        let (reply, answer) = oneshot::channel();
        let job = Job { item, reply };
        let sender = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(sender) = sender else {
            return Err(ApiError::unavailable("the service is shutting down"));
        };
        match sender.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(ApiError::unavailable("too many activations queued; retry"))
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::unavailable("the service is shutting down"))
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::internal("the activation writer stopped")))
    }

    /// Stops the writer once every queued activation is answered, and waits for it.
    pub fn close(&self) {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.pool.permits.close();
        let thread = self
            .writer_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

/// Logs an error whose details stay out of the response (database and I/O failures).
fn log_internal(e: &AuthorityError) {
    if matches!(
        e,
        AuthorityError::Db(_)
            | AuthorityError::Io { .. }
            | AuthorityError::Corrupt(_)
            | AuthorityError::KeyFile { .. }
            | AuthorityError::NoSigningKey
            | AuthorityError::Random
            | AuthorityError::SchemaTooNew { .. }
    ) {
        tracing::error!(code = e.code(), error = %e, "ledger failure");
    }
}

fn writer_loop(mut authority: Authority, rx: &Receiver<Job>, max: usize, metrics: &Metrics) {
    while let Ok(first) = rx.recv() {
        let mut items = Vec::with_capacity(max.min(64));
        let mut replies = Vec::with_capacity(max.min(64));
        let mut next = Some(first);
        while let Some(job) = next.take() {
            items.push(job.item);
            replies.push(job.reply);
            if items.len() < max {
                next = rx.try_recv().ok();
            }
        }
        let n = items.len();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            authority.fulfil_many(&items, unix_now())
        }));
        match outcome {
            Ok(Ok(results)) => {
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(r.map_err(|e| {
                        log_internal(&e);
                        ledger_error(e)
                    }));
                }
            }
            Ok(Err(e)) => {
                log_internal(&e);
                let e = ledger_error(e);
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
            Err(_) => {
                let e = ApiError::internal("the activation writer failed unexpectedly");
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
        metrics.batch(n);
    }
}
