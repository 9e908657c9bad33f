//! What survives a restart of the floating server: the leases in force, the next lease id, the
//! clock's high-water mark and the audit log, in SQLite — or, for an active/standby pair, in
//! PostgreSQL ([`Backend`]) — through the storage layer ([`tollgate_storage::SqlStore`]: the
//! same drivers and migration mechanism as the ledger). With PostgreSQL every write
//! transaction first checks the leader row's epoch ([`fence`]); a failover is a restart from
//! the new active's point of view (see [`crate::leader`] for how it treats loaded leases).
//!
//! # Durability
//!
//! One writer thread owns the database and commits what the handlers send it in batches (a
//! group commit: every job queued while the previous batch was being written goes into the
//! next transaction, one disk flush for all of them). A checkout, a release and a forced
//! release are answered only once their batch is committed (`synchronous = FULL`), so a client
//! that was given a lease finds it after a crash, and a released seat never comes back.
//!
//! Heartbeats are not written one by one. A heartbeat changes only a lease's end, in memory;
//! a flush every `flush_interval_ms` (1 s by default) writes the new ends of every lease
//! renewed since the last one in a single transaction, with the clock's high-water mark. After
//! a crash, a lease may therefore be on disk with an end up to one flush interval older than
//! the token its client holds; on start, the server adds that interval to every lease it loads
//! (and culls those that ended while it was down), so it never hands out a seat whose previous
//! holder still holds a valid token. What a crash can lose is at most one flush interval of
//! heartbeats, which only ever lengthens a lease by that interval; it never shortens one.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;
use tollgate_core::ClientId;
use tollgate_storage::{Migration, SqlStore, SqlTx, SqlValue, StorageError};

use super::leases::LeaseRecord;
use crate::leader::{Leader, POOL};
use crate::StartError;

/// Where the floating state lives.
#[derive(Clone)]
pub enum Backend {
    /// `state_dir/floating.sqlite`: one instance.
    Sqlite(PathBuf),
    /// A PostgreSQL database (its URL): an active/standby pair.
    Postgres(String),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            Backend::Postgres(_) => f.write_str("Postgres(…)"),
        }
    }
}

/// How long PostgreSQL lets a session of the floating server sit idle inside a transaction
/// before ending it (releasing its locks), in milliseconds.
pub const IDLE_IN_TX_MS: u64 = 1000;

/// `url` with `idle_in_transaction_session_timeout` set for its sessions (reconnections
/// included): an instance paused in the middle of a transaction (a stopped VM) would otherwise
/// hold the leader row's lock, and so keep its standby from taking over, until it woke up.
/// A URL that sets `options` itself is left as it is.
pub fn with_idle_in_tx_timeout(url: &str) -> String {
    if url.contains("options=") {
        return url.to_owned();
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-c%20idle_in_transaction_session_timeout%3D{IDLE_IN_TX_MS}")
    } else {
        format!("{url} options='-c idle_in_transaction_session_timeout={IDLE_IN_TX_MS}'")
    }
}

/// The advisory lock the floating server's PostgreSQL migrations run under.
pub const PG_MIGRATION_LOCK: i64 = 0x7467_666c_6f61; // "tgfloa"

impl Backend {
    /// Opens (creating and migrating) the database.
    pub fn open(&self, timeout: Duration) -> Result<SqlStore, StorageError> {
        match self {
            Backend::Sqlite(p) => SqlStore::open_sqlite(p, timeout, MIGRATIONS),
            Backend::Postgres(url) => SqlStore::open_postgres(
                &with_idle_in_tx_timeout(url),
                timeout,
                MIGRATIONS,
                PG_MIGRATION_LOCK,
            ),
        }
    }
}

/// The floating server's schema.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "floating-initial",
        sql: r#"
-- Leases in force. Deleted when released, reclaimed or replaced.
CREATE TABLE leases (
    id            BIGINT PRIMARY KEY,
    client_id     TEXT NOT NULL UNIQUE,    -- 32 hex digits
    client_name   TEXT NOT NULL,
    address       TEXT NOT NULL,
    features      TEXT NOT NULL,           -- names, sorted, separated by spaces
    borrowed      INTEGER NOT NULL,
    secret_digest TEXT NOT NULL,           -- SHA-256 of the lease secret, 64 hex digits
    created_at    BIGINT NOT NULL,
    issued_at     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

-- Counters: the next lease id, the clock's high-water mark.
CREATE TABLE floating_state (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO floating_state (name, value) VALUES ('next_lease_id', 1), ('clock_high_water', 0);

-- What happened, when, by whom. Never holds a secret. Heartbeats are not logged.
CREATE TABLE audit_log (
    id        BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    lease_id  BIGINT,
    client_id TEXT,
    detail    TEXT NOT NULL                -- JSON object
);
"#,
    },
    Migration {
        version: 2,
        name: "floating-leader",
        sql: r#"
-- Who serves the pool (PostgreSQL pairs; a row nobody holds under SQLite). The active renews
-- `expires_at` (milliseconds, the database's clock); a standby takes the row over once it
-- has passed, adding one to `epoch`. Every write checks the epoch it was made under.
CREATE TABLE floating_leader (
    pool       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    url        TEXT NOT NULL
);
INSERT INTO floating_leader (pool, holder, epoch, expires_at, url) VALUES ('pool', '', 0, 0, '');
"#,
    },
];

/// An audit entry to write, or as read back.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Its id (assigned by the writer; 0 before).
    pub id: u64,
    /// When (server clock).
    pub at: u64,
    /// Who: `client`, `admin`, `server`.
    pub actor: String,
    /// What: `lease.checkout`, `lease.replaced`,
    /// `lease.released`, `lease.force_released`, `lease.expired`, `clock.rollback`,
    /// `clock.recovered`, `license.installed`, `license.renewal_requested`, `server.started`.
    pub action: String,
    /// The lease concerned.
    pub lease_id: Option<u64>,
    /// Its client.
    pub client_id: Option<String>,
    /// Details (JSON).
    pub detail: serde_json::Value,
}

impl AuditEntry {
    /// A new entry.
    pub fn new(at: u64, actor: &str, action: &str, lease: Option<&LeaseRecord>) -> Self {
        AuditEntry {
            id: 0,
            at,
            actor: actor.into(),
            action: action.into(),
            lease_id: lease.map(|l| l.id),
            client_id: lease.map(|l| l.client_id.to_hex()),
            detail: lease.map_or(serde_json::json!({}), |l| {
                serde_json::json!({
                    "features": l.features,
                    "borrowed": l.borrowed,
                    "client_name": l.client_name,
                    "address": l.address,
                    "expires_at": l.expires_at,
                })
            }),
        }
    }

    /// With this detail.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// One change to persist.
#[derive(Clone, Debug)]
pub enum Op {
    /// Insert or replace a lease.
    Upsert(LeaseRecord),
    /// Delete a lease.
    Delete(u64),
    /// A renewed lease's new times: `(id, issued_at, expires_at)`.
    Renewed(u64, u64, u64),
    /// The next lease id.
    NextId(u64),
    /// The clock's high-water mark.
    HighWater(u64),
    /// An audit entry.
    Audit(AuditEntry),
}

struct Job {
    ops: Vec<Op>,
    reply: Option<oneshot::Sender<Result<(), String>>>,
    /// The leader epoch the job was decided under (0 without a leader): a job decided in an
    /// earlier term (whose table was since reloaded) is refused rather than written.
    epoch: u64,
}

/// What the database held at start.
#[derive(Debug)]
pub struct Loaded {
    /// The leases in force.
    pub leases: Vec<LeaseRecord>,
    /// The next lease id.
    pub next_id: u64,
    /// The clock's high-water mark.
    pub high_water: u64,
}

/// The writer thread and its queue.
pub struct Persist {
    tx: Mutex<Option<SyncSender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    leader: Option<Arc<Leader>>,
}

impl std::fmt::Debug for Persist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persist").finish_non_exhaustive()
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}

fn int(v: &SqlValue) -> Result<u64, StorageError> {
    v.as_i64()
        .and_then(|i| u64::try_from(i).ok())
        .ok_or(StorageError::Corrupt("expected a non-negative integer"))
}

fn text(v: &SqlValue) -> Result<String, StorageError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or(StorageError::Corrupt("expected text"))
}

fn i(v: u64) -> SqlValue {
    SqlValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn lease_row(r: &[SqlValue]) -> Result<LeaseRecord, StorageError> {
    let col = |n: usize| r.get(n).ok_or(StorageError::Corrupt("missing column"));
    Ok(LeaseRecord {
        id: int(col(0)?)?,
        client_id: ClientId::from_hex(&text(col(1)?)?)
            .ok_or(StorageError::Corrupt("bad client id"))?,
        client_name: text(col(2)?)?,
        address: text(col(3)?)?,
        features: text(col(4)?)?
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        borrowed: int(col(5)?)? != 0,
        secret_digest: hex32(&text(col(6)?)?).ok_or(StorageError::Corrupt("bad digest"))?,
        created_at: int(col(7)?)?,
        issued_at: int(col(8)?)?,
        expires_at: int(col(9)?)?,
        renewals: 0,
    })
}

fn state_value(tx: &mut SqlTx<'_>, name: &str) -> Result<u64, StorageError> {
    let rows = tx.query(
        "SELECT value FROM floating_state WHERE name = ?1",
        &[name.into()],
    )?;
    rows.first()
        .and_then(|r| r.first())
        .map(int)
        .transpose()?
        .ok_or(StorageError::Corrupt("missing state value"))
}

fn apply(tx: &mut SqlTx<'_>, op: &Op, next_audit: &mut u64) -> Result<(), StorageError> {
    match op {
        Op::Upsert(l) => {
            tx.exec(
                "DELETE FROM leases WHERE id = ?1 OR client_id = ?2",
                &[i(l.id), l.client_id.to_hex().into()],
            )?;
            tx.exec(
                "INSERT INTO leases (id, client_id, client_name, address, features, borrowed, \
                 secret_digest, created_at, issued_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                &[
                    i(l.id),
                    l.client_id.to_hex().into(),
                    l.client_name.as_str().into(),
                    l.address.as_str().into(),
                    l.features.join(" ").into(),
                    i(u64::from(l.borrowed)),
                    hex::encode(l.secret_digest).into(),
                    i(l.created_at),
                    i(l.issued_at),
                    i(l.expires_at),
                ],
            )?;
        }
        Op::Delete(id) => {
            tx.exec("DELETE FROM leases WHERE id = ?1", &[i(*id)])?;
        }
        Op::Renewed(id, issued, expires) => {
            tx.exec(
                "UPDATE leases SET issued_at = ?2, expires_at = ?3 WHERE id = ?1",
                &[i(*id), i(*issued), i(*expires)],
            )?;
        }
        Op::NextId(n) => {
            tx.exec(
                "UPDATE floating_state SET value = ?1 WHERE name = 'next_lease_id' AND value < ?1",
                &[i(*n)],
            )?;
        }
        Op::HighWater(t) => {
            tx.exec(
                "UPDATE floating_state SET value = ?1 WHERE name = 'clock_high_water' AND value < ?1",
                &[i(*t)],
            )?;
        }
        Op::Audit(a) => {
            tx.exec(
                "INSERT INTO audit_log (id, at, actor, action, lease_id, client_id, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &[
                    i(*next_audit),
                    i(a.at),
                    a.actor.as_str().into(),
                    a.action.as_str().into(),
                    a.lease_id.map_or(SqlValue::Null, i),
                    a.client_id.clone().map_or(SqlValue::Null, SqlValue::Text),
                    a.detail.to_string().into(),
                ],
            )?;
            *next_audit += 1;
        }
    }
    Ok(())
}

/// Reads the audit log: entries after `after_id`, oldest first, at most `limit`.
pub fn read_audit(
    backend: &Backend,
    after_id: u64,
    limit: u64,
) -> Result<Vec<AuditEntry>, StorageError> {
    let mut store = backend.open(Duration::from_secs(5))?;
    store.read(|tx| {
        let rows = tx.query(
            "SELECT id, at, actor, action, lease_id, client_id, detail FROM audit_log \
             WHERE id > ?1 ORDER BY id LIMIT ?2",
            &[i(after_id), i(limit)],
        )?;
        rows.iter()
            .map(|r| {
                let col = |n: usize| r.get(n).ok_or(StorageError::Corrupt("missing column"));
                Ok(AuditEntry {
                    id: int(col(0)?)?,
                    at: int(col(1)?)?,
                    actor: text(col(2)?)?,
                    action: text(col(3)?)?,
                    lease_id: col(4)?.as_i64().and_then(|v| u64::try_from(v).ok()),
                    client_id: col(5)?.as_str().map(str::to_owned),
                    detail: serde_json::from_str(&text(col(6)?)?)
                        .map_err(|_| StorageError::Corrupt("bad audit detail"))?,
                })
            })
            .collect()
    })
}

/// Reads the leases in force, the counters, and the next audit id.
pub fn load(tx: &mut SqlTx<'_>) -> Result<(Loaded, u64), StorageError> {
    let rows = tx.query(
        "SELECT id, client_id, client_name, address, features, borrowed, \
         secret_digest, created_at, issued_at, expires_at FROM leases ORDER BY id",
        &[],
    )?;
    let leases = rows
        .iter()
        .map(|r| lease_row(r))
        .collect::<Result<Vec<_>, _>>()?;
    let next_id = state_value(tx, "next_lease_id")?;
    let high_water = state_value(tx, "clock_high_water")?;
    Ok((
        Loaded {
            leases,
            next_id,
            high_water,
        },
        next_audit_id(tx)?,
    ))
}

fn next_audit_id(tx: &mut SqlTx<'_>) -> Result<u64, StorageError> {
    let audit = tx.query("SELECT COALESCE(MAX(id), 0) FROM audit_log", &[])?;
    let last = audit
        .first()
        .and_then(|r| r.first())
        .map(int)
        .transpose()?
        .unwrap_or(0);
    Ok(last + 1)
}

/// Checks, under a row lock held until the transaction ends, that the leader row names
/// `holder` at `epoch`: a write of a deposed active fails here.
pub fn fence(tx: &mut SqlTx<'_>, holder: &str, epoch: u64) -> Result<(), StorageError> {
    let rows = tx.query(
        "SELECT holder, epoch FROM floating_leader WHERE pool = ?1 FOR UPDATE",
        &[POOL.into()],
    )?;
    let ok = rows.first().is_some_and(|r| {
        r.first().and_then(SqlValue::as_str) == Some(holder)
            && r.get(1).and_then(SqlValue::as_i64) == i64::try_from(epoch).ok()
    });
    if ok {
        Ok(())
    } else {
        Err(StorageError::Corrupt(DEPOSED))
    }
}

/// The message of a write refused by [`fence`].
pub const DEPOSED: &str = "another instance took over the pool: this one is the standby";

impl Persist {
    /// Opens (creating and migrating) the database, loads it, and starts the writer. With a
    /// `leader` (PostgreSQL), every write transaction first checks, under a row lock, that
    /// the leader row still names this instance at its epoch, and fails otherwise (fencing);
    /// writes made while this instance is the standby fail at once.
    pub fn open(
        backend: &Backend,
        batch_max: usize,
        leader: Option<Arc<Leader>>,
    ) -> Result<(Self, Loaded), StartError> {
        let mut store = backend.open(Duration::from_secs(10))?;
        let (loaded, next_audit) = store.read(load)?;
        let (tx, rx) = mpsc::sync_channel(16_384);
        let thread = std::thread::Builder::new()
            .name("tollgate-floating-writer".into())
            .spawn({
                let leader = leader.clone();
                move || writer(store, &rx, batch_max.max(1), next_audit, leader)
            })
            .map_err(StartError::Io)?;
        Ok((
            Persist {
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                leader,
            },
            loaded,
        ))
    }

    fn send(&self, job: Job) -> Result<(), String> {
        let sender = self
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or("the server is shutting down")?;
        match sender.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err("too many writes queued".into()),
            Err(TrySendError::Disconnected(_)) => Err("the writer stopped".into()),
        }
    }

    fn epoch(&self) -> u64 {
        self.leader.as_ref().map_or(0, |l| l.epoch())
    }

    /// Persists `ops` and waits until they are committed.
    pub async fn commit(&self, ops: Vec<Op>) -> Result<(), String> {
        let (reply, done) = oneshot::channel();
        self.send(Job {
            ops,
            reply: Some(reply),
            epoch: self.epoch(),
        })?;
        done.await
            .unwrap_or_else(|_| Err("the writer stopped".into()))
    }

    /// Queues `ops` without waiting (flushes, culls: a failure is logged by the writer).
    pub fn queue(&self, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        if let Err(e) = self.send(Job {
            ops,
            reply: None,
            epoch: self.epoch(),
        }) {
            tracing::error!(error = %e, "cannot queue a floating state write");
        }
    }

    /// Stops the writer once everything queued is written, and waits for it.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let t = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = t {
            let _ = t.join();
        }
    }
}

impl Drop for Persist {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer(
    mut store: SqlStore,
    rx: &Receiver<Job>,
    max: usize,
    mut next_audit: u64,
    leader: Option<Arc<Leader>>,
) {
    let mut audit_epoch = 0;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let start_audit = next_audit;
        let epoch = leader.as_ref().map(|l| l.epoch());
        // Jobs decided in another term than the current one are not written.
        let (jobs, stale): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|j| epoch.is_none_or(|e| e == j.epoch));
        for job in stale {
            if let Some(reply) = job.reply {
                let _ = reply.send(Err(DEPOSED.to_owned()));
            }
        }
        if jobs.is_empty() {
            continue;
        }
        let result = if epoch == Some(0) {
            // The standby writes nothing (its audit entries are dropped; its clients were
            // refused before anything was queued).
            Err(StorageError::Corrupt(DEPOSED))
        } else {
            store.write(|tx| {
                if let (Some(l), Some(epoch)) = (&leader, epoch) {
                    fence(tx, l.holder(), epoch)?;
                    if audit_epoch != epoch {
                        next_audit = next_audit_id(tx)?;
                    }
                }
                for job in &jobs {
                    for op in &job.ops {
                        apply(tx, op, &mut next_audit)?;
                    }
                }
                Ok(())
            })
        };
        let result = match result {
            Ok(()) => {
                audit_epoch = epoch.unwrap_or(0);
                Ok(())
            }
            Err(StorageError::Corrupt(DEPOSED)) => {
                next_audit = start_audit;
                audit_epoch = 0;
                if let (Some(l), Some(e)) = (&leader, epoch) {
                    if e != 0 {
                        l.deposed(e);
                    }
                }
                Err(DEPOSED.to_owned())
            }
            Err(e) => {
                next_audit = start_audit;
                audit_epoch = 0;
                tracing::error!(code = e.code(), error = %e, "floating state write failed");
                Err(e.message().to_owned())
            }
        };
        for job in jobs {
            if let Some(reply) = job.reply {
                let _ = reply.send(result.clone());
            }
        }
    }
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn the_idle_in_transaction_timeout_goes_into_either_url_form() {
        assert_eq!(
            with_idle_in_tx_timeout("postgres://u@h/db"),
            "postgres://u@h/db?options=-c%20idle_in_transaction_session_timeout%3D1000"
        );
        assert_eq!(
            with_idle_in_tx_timeout("postgres://u@h/db?sslmode=disable"),
            "postgres://u@h/db?sslmode=disable&options=-c%20idle_in_transaction_session_timeout%3D1000"
        );
        assert_eq!(
            with_idle_in_tx_timeout("host=h dbname=db"),
            "host=h dbname=db options='-c idle_in_transaction_session_timeout=1000'"
        );
        assert_eq!(
            with_idle_in_tx_timeout("postgres://h/db?options=-c%20x%3D1"),
            "postgres://h/db?options=-c%20x%3D1"
        );
    }
}
