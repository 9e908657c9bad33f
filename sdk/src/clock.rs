//! Where the runtime gets the time from.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

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
    fn system_clock_is_after_2023() {
        assert!(SystemClock.now() > 1_700_000_000);
    }
}
