//! Where the runtime gets the time from.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
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

/// What the refresher thread and the clock share.
#[derive(Debug)]
struct Cache {
    now: AtomicU64,
    stop: AtomicBool,
}

/// A clock that costs one atomic load to read: a background thread copies another clock's
/// reading (by default the [`SystemClock`]) into it at a fixed interval, so a reading is at most
/// one interval old.
///
/// For hot paths such as a feature check on every client connection or message, where reading
/// the system clock (about 20 ns) would dominate. Dropping the clock stops and joins its thread.
/// If the thread cannot be started, every reading falls through to the source clock.
pub struct CachedClock {
    cache: Arc<Cache>,
    source: Arc<dyn Clock>,
    refresher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for CachedClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedClock")
            .field("now", &self.now())
            .field("refreshed", &self.refresher.is_some())
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
        let cache = Arc::new(Cache {
            now: AtomicU64::new(source.now()),
            stop: AtomicBool::new(false),
        });
        let refresher = {
            let cache = Arc::clone(&cache);
            let source = Arc::clone(&source);
            thread::Builder::new()
                .name("tollgate-clock".into())
                .spawn(move || {
                    while !cache.stop.load(Ordering::Acquire) {
                        thread::park_timeout(interval);
                        cache.now.store(source.now(), Ordering::Relaxed);
                    }
                })
                .ok()
        };
        CachedClock {
            cache,
            source,
            refresher,
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
        if self.refresher.is_some() {
            self.cache.now.load(Ordering::Relaxed)
        } else {
            self.source.now()
        }
    }
}

impl Drop for CachedClock {
    fn drop(&mut self) {
        self.cache.stop.store(true, Ordering::Release);
        if let Some(t) = self.refresher.take() {
            t.thread().unpark();
            let _ = t.join();
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
    fn system_clock_is_after_2023() {
        assert!(SystemClock.now() > 1_700_000_000);
    }
}
