//! The ledger behind the service: a pool of [`Authority`] connections run on blocking threads,
//! and group-commit writers for activations.
//!
//! The authority's API is synchronous, so every call runs on tokio's blocking pool with one
//! pooled `Authority` (one SQLite or PostgreSQL connection each), from an `r2d2` pool; no
//! database call ever runs on the async runtime's workers. Activations and refreshes, the hot
//! path, go to the writer threads instead (one on SQLite, [`POSTGRES_WRITERS`] on PostgreSQL):
//! a writer takes every request queued while the previous batch was committing and answers
//! them with [`Authority::fulfil_many`] — one transaction, a savepoint per request, one disk
//! flush for the lot (on PostgreSQL: the batch's locks and reads in one pipelined round trip,
//! its writes sent with the commit). A response is sent only once its batch is committed, so
//! whatever a client was told succeeded is durable.

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

/// Group-commit writers on PostgreSQL. Measured with `tollgate-load` (one license, 16
/// clients): more writers split the queue into smaller batches that still commit one after
/// the other behind the license's row lock. Three were slower (243/s against 352/s with one);
/// two, with the batch's locks and reads in one pipelined round trip (so the second batch's
/// reads wait in the server and run the moment the first one commits), made batches of 5.3
/// instead of 8 and were no faster (884 / 806 / 789/s against 818 / 912 / 935/s, alternating
/// runs on the same machine). So one it is; the queue is shared, so more writers only need
/// this number changed when many licenses are activated at once. (SQLite always has one
/// writer: its write lock is database-wide.)
const POSTGRES_WRITERS: usize = 1;

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
    writer_threads: Mutex<Vec<JoinHandle<()>>>,
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
        let mut writers = vec![writer_authority];
        if cfg.database_url.is_some() {
            while writers.len() < POSTGRES_WRITERS {
                writers.push(open_one(cfg)?);
            }
        }
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
        let rx = Arc::new(Mutex::new(rx));
        let max = cfg.batch_max;
        let mut threads = Vec::with_capacity(writers.len());
        for (i, authority) in writers.into_iter().enumerate() {
            let (rx, metrics) = (Arc::clone(&rx), Arc::clone(&metrics));
            let thread = std::thread::Builder::new()
                .name(format!("tollgate-writer-{i}"))
                .spawn(move || writer_loop(authority, &rx, max, &metrics))
                .map_err(|e| AuthorityError::Io {
                    path: "writer thread".into(),
                    source: e,
                })?;
            threads.push(thread);
        }
        Ok(Store {
            pool: Arc::new(Pool {
                permits: Semaphore::new(cfg.pool_size),
                idle,
            }),
            writer: Mutex::new(Some(tx)),
            writer_threads: Mutex::new(threads),
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
        let threads = std::mem::take(
            &mut *self
                .writer_threads
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for t in threads {
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

/// Takes the next batch: waits for one job, then everything queued up to `max`. The writers
/// take turns at the queue; `None` once it is closed and empty.
fn next_batch(rx: &Mutex<Receiver<Job>>, max: usize) -> Option<Vec<Job>> {
    let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
    let first = rx.recv().ok()?;
    let mut jobs = Vec::with_capacity(max.min(64));
    jobs.push(first);
    while jobs.len() < max {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    Some(jobs)
}

fn writer_loop(mut authority: Authority, rx: &Mutex<Receiver<Job>>, max: usize, metrics: &Metrics) {
    while let Some(jobs) = next_batch(rx, max) {
        let (items, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|j| (j.item, j.reply)).unzip();
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
