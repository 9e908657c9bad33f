//! Leadership of a pool served by two instances over one PostgreSQL database: which instance
//! is the active (lends, renews, releases, writes) and which the standby (refuses with 347
//! `Standby`, naming the active's URL when known).
//!
//! # The leader row
//!
//! `floating_leader(pool, holder, epoch, expires_at, url)` holds one row. Times are the
//! database's clock in milliseconds, so the two hosts' clocks do not matter to who leads.
//!
//! - The active renews its term every third of `leader_ttl_secs`:
//!   `UPDATE … SET expires_at = now + ttl WHERE holder = me AND epoch = my_epoch`. If that
//!   updates nothing, it was deposed: it stops serving at once.
//! - A standby tries, at the same pace, to take the row:
//!   `UPDATE … SET holder = me, epoch = epoch + 1, expires_at = now + ttl WHERE expires_at < now`.
//!   When it succeeds it loads the leases in force, the lease-id counter and the clock's mark
//!   from the database, and only then serves.
//! - `holder` is random per process: an instance that restarts is a new holder and loads
//!   again.
//!
//! # Why the pair never lends a seat twice
//!
//! - **Terms do not overlap.** The active counts its term from the moment it *sent* the
//!   renewal, less a tenth of the TTL, by its monotonic clock: it stops serving before the
//!   database's `expires_at` has passed, and a standby takes over only after it has passed
//!   (assuming the two clocks run at about the same rate, not that they agree).
//! - **Writes are fenced.** Every write transaction of the active first locks the leader row
//!   and checks that it still names this holder at this epoch ([`crate::persist::fence`]); a
//!   deposed active that wakes up after a pause (a stopped VM, a long GC-like stall) cannot
//!   store a checkout, so it cannot lend one: a checkout is answered only once stored. Its
//!   standby state is then entered at once.
//! - **Heartbeats are not written one by one** (see [`crate::persist`]): an active may have
//!   renewed a lease in memory, up to the end of its term, without the database knowing. So a
//!   new active treats every lease it loads as renewed at the moment it took over: each ends no
//!   earlier than `takeover + lease_ttl + clock_tolerance`. A client that died just before the
//!   failover therefore keeps its seat up to one more TTL; no seat is ever handed out while a
//!   token for it may still be valid.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tollgate_storage::{SqlStore, SqlTx, SqlValue, StorageError};

/// The one pool a database serves (the key of its leader row).
pub const POOL: &str = "pool";

/// The database's clock in milliseconds (PostgreSQL).
const NOW_MS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

/// This instance's view of the leadership.
#[derive(Debug)]
pub struct Leader {
    holder: String,
    url: String,
    ttl: Duration,
    /// The epoch this instance leads under; 0 while it is the standby.
    epoch: AtomicU64,
    /// The end of the term, by the monotonic clock.
    until: Mutex<Option<Instant>>,
    /// The active's URL as last read (for the standby's refusals).
    active_url: Mutex<Option<String>>,
    /// Takeovers by this instance.
    takeovers: AtomicU64,
}

/// What one round of [`Leader::round`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Round {
    /// Still the active (term renewed).
    Renewed,
    /// Just became the active under this epoch: load the state, then [`Leader::start_term`].
    TookOver(u64),
    /// The standby (another instance leads, or the row could not be taken).
    Standby,
    /// Was the active and lost the row.
    Deposed,
}

fn random_holder() -> String {
    let mut b = [0u8; 12];
    if getrandom::fill(&mut b).is_err() {
        // Without entropy, the time and the process id still tell two processes apart.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("{:x}-{:x}", t, std::process::id());
    }
    hex::encode(b)
}

impl Leader {
    /// A standby with a fresh holder id; `url` is what clients are told to use when this
    /// instance leads.
    pub fn new(url: Option<String>, ttl: Duration) -> Self {
        Leader {
            holder: random_holder(),
            url: url.unwrap_or_default(),
            ttl,
            epoch: AtomicU64::new(0),
            until: Mutex::new(None),
            active_url: Mutex::new(None),
            takeovers: AtomicU64::new(0),
        }
    }

    /// This process's holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The epoch this instance leads under, 0 while standby.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Whether this instance may serve now: it holds an epoch and its term has not ended.
    pub fn is_active(&self) -> bool {
        self.epoch() != 0
            && self
                .until
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some_and(|u| Instant::now() < u)
    }

    /// The active's URL, if known (the standby's refusals name it).
    pub fn active_url(&self) -> Option<String> {
        self.active_url
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|u| !u.is_empty())
    }

    /// Takeovers by this instance since it started.
    pub fn takeovers(&self) -> u64 {
        self.takeovers.load(Ordering::Relaxed)
    }

    /// How often [`Leader::round`] runs: a third of the term.
    pub fn interval(&self) -> Duration {
        self.ttl / 3
    }

    fn term_end(&self, sent: Instant) -> Instant {
        sent + self.ttl - self.ttl / 10
    }

    /// Starts serving under `epoch` (after the state was loaded) for the term of the round
    /// sent at `sent`.
    pub fn start_term(&self, epoch: u64, sent: Instant) {
        *self.until.lock().unwrap_or_else(|p| p.into_inner()) = Some(self.term_end(sent));
        *self.active_url.lock().unwrap_or_else(|p| p.into_inner()) = Some(self.url.clone());
        self.epoch.store(epoch, Ordering::SeqCst);
        self.takeovers.fetch_add(1, Ordering::Relaxed);
    }

    /// Stops serving: a write found the row taken (or the term lapsed). No-op if this
    /// instance already leads under another epoch.
    pub fn deposed(&self, epoch: u64) {
        if self
            .epoch
            .compare_exchange(epoch, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            *self.until.lock().unwrap_or_else(|p| p.into_inner()) = None;
            tracing::warn!(epoch, "deposed: another instance took over the pool");
        }
    }

    /// One round on `store`: renews the term, or tries to take the row over. `sent` is when
    /// the round started (the term counts from it).
    pub fn round(&self, store: &mut SqlStore, sent: Instant) -> Result<Round, StorageError> {
        let epoch = self.epoch();
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        if epoch != 0 {
            let n = store.write(|tx| {
                tx.exec(
                    &format!(
                        "UPDATE floating_leader SET expires_at = {NOW_MS} + ?1, url = ?2 \
                         WHERE pool = ?3 AND holder = ?4 AND epoch = ?5"
                    ),
                    &[
                        ttl_ms.into(),
                        self.url.as_str().into(),
                        POOL.into(),
                        self.holder.as_str().into(),
                        SqlValue::Int(i64::try_from(epoch).unwrap_or(i64::MAX)),
                    ],
                )
            })?;
            if n == 1 {
                let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
                // A renewal that arrives after the term lapsed does not revive it: the
                // instance may have refused (or a write failed) in between; it is deposed.
                if until.is_some_and(|u| Instant::now() < u) {
                    *until = Some(self.term_end(sent));
                    return Ok(Round::Renewed);
                }
            }
            self.deposed(epoch);
            return Ok(Round::Deposed);
        }
        let taken = store.write(|tx| {
            let rows = tx.query(
                &format!(
                    "UPDATE floating_leader SET holder = ?1, epoch = epoch + 1, \
                     expires_at = {NOW_MS} + ?2, url = ?3 \
                     WHERE pool = ?4 AND expires_at < {NOW_MS} RETURNING epoch"
                ),
                &[
                    self.holder.as_str().into(),
                    ttl_ms.into(),
                    self.url.as_str().into(),
                    POOL.into(),
                ],
            )?;
            match rows
                .first()
                .and_then(|r| r.first())
                .and_then(SqlValue::as_i64)
            {
                Some(e) => Ok(Some(u64::try_from(e).unwrap_or(0))),
                None => {
                    read_url(tx, &self.active_url)?;
                    Ok(None)
                }
            }
        })?;
        Ok(match taken {
            Some(e) if e != 0 => Round::TookOver(e),
            _ => Round::Standby,
        })
    }

    /// Gives the row up (on shutdown) so that the standby takes over at its next round.
    pub fn resign(&self, store: &mut SqlStore) {
        let epoch = self.epoch();
        if epoch == 0 {
            return;
        }
        if self
            .epoch
            .compare_exchange(epoch, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        *self.until.lock().unwrap_or_else(|p| p.into_inner()) = None;
        tracing::info!(epoch, "gave the pool's leadership up (shutting down)");
        let r = store.write(|tx| {
            tx.exec(
                "UPDATE floating_leader SET expires_at = 0 \
                 WHERE pool = ?1 AND holder = ?2 AND epoch = ?3",
                &[
                    POOL.into(),
                    self.holder.as_str().into(),
                    SqlValue::Int(i64::try_from(epoch).unwrap_or(i64::MAX)),
                ],
            )
        });
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not give the leadership up");
        }
    }
}

fn read_url(tx: &mut SqlTx<'_>, into: &Mutex<Option<String>>) -> Result<(), StorageError> {
    let rows = tx.query(
        "SELECT url FROM floating_leader WHERE pool = ?1",
        &[POOL.into()],
    )?;
    let url = rows
        .first()
        .and_then(|r| r.first())
        .and_then(SqlValue::as_str)
        .map(str::to_owned);
    *into.lock().unwrap_or_else(|p| p.into_inner()) = url;
    Ok(())
}
