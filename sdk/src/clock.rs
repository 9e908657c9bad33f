//! Where the runtime gets the time from.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time in Unix seconds (UTC).
///
/// The runtime never trusts it blindly: it keeps a high-water mark of the latest time seen and
/// reports [`crate::SdkError::ClockRollback`] when the clock goes back beyond a tolerance.
pub trait Clock: Send + Sync {
    /// The current time, in seconds since 1970-01-01T00:00:00Z.
    fn now(&self) -> u64;
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that reads whatever it was last set to: for tests and simulations.
///
/// Share it with [`std::sync::Arc`] to move time while a [`crate::LicenseManager`] uses it.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `now`.
    pub fn new(now: u64) -> Self {
        ManualClock(AtomicU64::new(now))
    }

    /// Sets the time (it may go backwards).
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// The atomic the reading lives in: for a binding that reads this clock from shared
    /// memory without a call (the Java binding's `FeatureHandle`). Read it with an atomic
    /// load; write it only through [`ManualClock::set`].
    pub fn as_atomic(&self) -> &AtomicU64 {
        &self.0
    }

    /// Moves the time forward by `secs`.
    pub fn advance(&self, secs: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(secs))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// How often [`CachedClock::new`] refreshes its reading.
pub const CACHED_CLOCK_INTERVAL: Duration = Duration::from_millis(100);

/// How many times this process is known to be a `fork()` child: [`note_fork`] counts.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Tells the runtime that this process is a new child of `fork()`: call it from a
/// `pthread_atfork` child handler (the C bridge registers one when it opens a manager).
///
/// A forked child has only the thread that called `fork()`: the refresher threads of every
/// [`CachedClock`] are gone. After this call each cached clock reads its source directly until
/// it has started a new refresher in the child, and dropping a clock no longer waits for a
/// thread that does not exist. It only increments an atomic counter, so it is
/// async-signal-safe.
pub fn note_fork() {
    FORK_GENERATION.fetch_add(1, Ordering::Release);
}

/// The number of [`note_fork`] calls so far in this process.
#[inline]
fn fork_generation() -> u64 {
    FORK_GENERATION.load(Ordering::Acquire)
}

/// No refresher runs for this cache (in this process).
const NO_REFRESHER: u64 = u64::MAX;

/// What the refresher thread and the clock share.
#[derive(Debug)]
struct Cache {
    now: AtomicU64,
    stop: AtomicBool,
    /// Set by [`CachedClock::stop`]: no refresher is ever started again.
    stopped: AtomicBool,
    /// The fork generation in which the current refresher was started, or [`NO_REFRESHER`].
    /// The cached reading is used only while it equals [`fork_generation`].
    generation: AtomicU64,
    /// The fork generation in which a refresher was last tried: one try per generation, so a
    /// thread that cannot be started is not retried on every reading.
    attempted: AtomicU64,
}

/// A clock that costs two atomic loads to read: a background thread copies another clock's
/// reading (by default the [`SystemClock`]) into it at a fixed interval, so a reading is at most
/// one interval old.
///
/// For hot paths such as a feature check on every client connection or message, where reading
/// the system clock (about 20 ns) would dominate. Dropping the clock stops and joins its thread.
/// If the thread cannot be started, every reading falls through to the source clock.
///
/// `fork()`: after [`note_fork`] (which the C bridge calls from a `pthread_atfork` child
/// handler), a clock in the child reads its source directly, starts a new refresher on that
/// first reading, and is dropped without joining the parent's thread. A Rust host that forks
/// after creating a cached clock registers such a handler itself, or creates the clock after
/// forking.
pub struct CachedClock {
    cache: Arc<Cache>,
    source: Arc<dyn Clock>,
    interval: Duration,
    /// The refresher of the generation in `cache.generation`. Only locked to start or stop a
    /// refresher, never by a reading on the fast path.
    refresher: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for CachedClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedClock")
            .field("now", &self.now())
            .field("refreshed", &self.is_refreshed())
            .finish()
    }
}

impl CachedClock {
    /// A cached [`SystemClock`], refreshed every [`CACHED_CLOCK_INTERVAL`].
    pub fn new() -> Self {
        Self::with_source(Arc::new(SystemClock), CACHED_CLOCK_INTERVAL)
    }

    /// A cache of `source`, refreshed every `interval`.
    pub fn with_source(source: Arc<dyn Clock>, interval: Duration) -> Self {
        let clock = CachedClock {
            cache: Arc::new(Cache {
                now: AtomicU64::new(source.now()),
                stop: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                generation: AtomicU64::new(NO_REFRESHER),
                attempted: AtomicU64::new(NO_REFRESHER),
            }),
            source,
            interval,
            refresher: Mutex::new(None),
        };
        if let Ok(mut slot) = clock.refresher.lock() {
            clock.start(&mut slot);
        }
        clock
    }

    /// The atomic that holds the cached reading while a refresher keeps it current, for a
    /// binding that reads the clock from shared memory without a call (the Java binding's
    /// `FeatureHandle`); `None` when no refresher runs (then only [`Clock::now`] is right).
    /// Read it with an atomic load; never write it.
    pub fn as_atomic(&self) -> Option<&AtomicU64> {
        self.is_refreshed().then_some(&self.cache.now)
    }

    /// Whether readings come from the cache (a refresher runs in this process).
    pub fn is_refreshed(&self) -> bool {
        self.cache.generation.load(Ordering::Acquire) == fork_generation()
    }

    /// Starts a refresher for the current fork generation, forgetting (not joining) a handle
    /// from an earlier generation: that thread does not exist in this process.
    fn start(&self, slot: &mut Option<JoinHandle<()>>) {
        if self.cache.stopped.load(Ordering::Acquire) {
            return;
        }
        let generation = fork_generation();
        if self.cache.attempted.swap(generation, Ordering::AcqRel) == generation {
            return;
        }
        if let Some(stale) = slot.take() {
            std::mem::forget(stale);
        }
        self.cache.stop.store(false, Ordering::Release);
        self.cache.now.store(self.source.now(), Ordering::Relaxed);
        let cache = Arc::clone(&self.cache);
        let source = Arc::clone(&self.source);
        let interval = self.interval;
        *slot = thread::Builder::new()
            .name("tollgate-clock".into())
            .spawn(move || {
                while !cache.stop.load(Ordering::Acquire) {
                    thread::park_timeout(interval);
                    cache.now.store(source.now(), Ordering::Relaxed);
                }
            })
            .ok();
        if slot.is_some() {
            // Published after the fresh reading above (Release), so a reader that sees the
            // generation sees that reading or a later one.
            self.cache.generation.store(generation, Ordering::Release);
        }
    }

    /// A reading when the cache is not refreshed in this process: the source's, and a new
    /// refresher if none is being started or stopped right now.
    #[cold]
    fn uncached(&self) -> u64 {
        let now = self.source.now();
        // try_lock: a child forked while the parent held the lock would wait forever.
        if let Ok(mut slot) = self.refresher.try_lock() {
            self.start(&mut slot);
        }
        now
    }
}

impl CachedClock {
    /// Stops the refresher thread for good and waits for it to end; later readings read the
    /// source directly. Idempotent. For an owner that keeps the clock reachable after it is
    /// done with it, e.g. a binding's closed manager whose feature gate a racing check may
    /// still read: the thread must not outlive the manager.
    pub fn stop(&self) {
        self.cache.stopped.store(true, Ordering::Release);
        // Under the lock: a refresher being started concurrently is in the slot by then.
        let mut slot = self
            .refresher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.cache.stop.store(true, Ordering::Release);
        let current =
            self.cache.generation.swap(NO_REFRESHER, Ordering::AcqRel) == fork_generation();
        let handle = slot.take();
        drop(slot);
        if let Some(t) = handle {
            if current {
                t.thread().unpark();
                let _ = t.join();
            } else {
                std::mem::forget(t);
            }
        }
    }
}

impl Default for CachedClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for CachedClock {
    #[inline]
    fn now(&self) -> u64 {
        if self.cache.generation.load(Ordering::Acquire) == fork_generation() {
            self.cache.now.load(Ordering::Relaxed)
        } else {
            self.uncached()
        }
    }
}

impl Drop for CachedClock {
    fn drop(&mut self) {
        self.cache.stop.store(true, Ordering::Release);
        let current = self.cache.generation.load(Ordering::Acquire) == fork_generation();
        let slot = match self.refresher.get_mut() {
            Ok(slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(t) = slot {
            if current {
                t.thread().unpark();
                let _ = t.join();
            } else {
                // Started before a fork: that thread is not in this process, and joining it
                // would fail. Nothing is left to release in this process.
                std::mem::forget(t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves() {
        let c = ManualClock::new(10);
        c.advance(5);
        assert_eq!(c.now(), 15);
        c.set(3);
        assert_eq!(c.now(), 3);
        c.set(u64::MAX);
        c.advance(1);
        assert_eq!(c.now(), u64::MAX);
    }

    #[test]
    fn cached_clock_follows_its_source() {
        let source = Arc::new(ManualClock::new(100));
        let c = CachedClock::with_source(source.clone(), Duration::from_millis(1));
        assert_eq!(c.now(), 100);
        source.set(200);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while c.now() != 200 && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(c.now(), 200);
        drop(c); // joins the refresher
        let sys = CachedClock::new();
        assert!(sys.now() > 1_700_000_000);
    }

    #[test]
    fn after_a_fork_the_cache_reads_its_source_and_restarts() {
        let source = Arc::new(ManualClock::new(100));
        let c = CachedClock::with_source(source.clone(), Duration::from_secs(3600));
        assert!(c.is_refreshed());
        // What the pthread_atfork child handler does (this process stays the same, so the old
        // refresher still exists; it is forgotten, not joined, and stops with the clock).
        note_fork();
        assert!(!c.is_refreshed());
        source.set(300);
        assert_eq!(c.now(), 300);
        assert!(c.is_refreshed());
        drop(c);
    }

    #[test]
    fn a_stopped_cache_reads_its_source_and_never_restarts() {
        let source = Arc::new(ManualClock::new(100));
        let c = CachedClock::with_source(source.clone(), Duration::from_secs(3600));
        // (Not asserting `is_refreshed` here: a concurrent test's `note_fork` may flip it.)
        c.stop();
        assert!(!c.is_refreshed());
        assert!(
            c.refresher.lock().unwrap().is_none(),
            "the thread was joined"
        );
        source.set(300);
        assert_eq!(c.now(), 300);
        assert!(!c.is_refreshed());
        assert!(c.refresher.lock().unwrap().is_none(), "no new refresher");
        c.stop();
        drop(c);
    }

    #[test]
    fn system_clock_is_after_2023() {
        assert!(SystemClock.now() > 1_700_000_000);
    }
}
