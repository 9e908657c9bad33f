//! `tollgate_clock`: a clock the application sets, for tests and simulations, and the
//! `fork()` hook of the cached clock.

use std::sync::{Arc, Once};
use std::time::Duration;

use tollgate_sdk::{CachedClock, Clock, ManualClock, SdkError};

use crate::boundary::{arg_out, arg_ref, result_boundary, value_boundary};
use crate::error::{tollgate_result, Failure};

/// The `pthread_atfork` child handler: only increments an atomic counter.
#[cfg(unix)]
extern "C" fn forked_child() {
    tollgate_sdk::note_fork();
}

/// Registers (once per process) the `pthread_atfork` child handler that tells the cached
/// clocks they are in a forked child, where their refresher threads do not exist.
pub(crate) fn watch_forks() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(unix)]
        // SAFETY: `forked_child` is a valid `extern "C" fn()` for the life of the process
        // (this library is never unloaded while handles exist; the handler only touches a
        // static atomic) and is async-signal-safe.
        unsafe {
            let _ = libc::pthread_atfork(None, None, Some(forked_child));
        }
    });
}

/// A clock: either a manual clock, which reads whatever it was last set to (Unix seconds,
/// UTC), or a cached view of another clock (`tollgate_clock_new_cached`). Give it to
/// `tollgate_manager_open_with_clock` to move a manager through time in tests and
/// simulations; managers opened with `tollgate_manager_open` use the (cached) system clock.
///
/// Made with `tollgate_clock_new_manual` or `tollgate_clock_new_cached`, freed with
/// `tollgate_clock_free`; a manager keeps its own reference, so the handle may be freed while
/// managers still use the clock.
///
/// Thread safety: every function may be called from any thread at any time.
pub struct tollgate_clock {
    pub(crate) inner: Arc<dyn Clock>,
    /// Set for a manual clock: what `tollgate_clock_set` and `_advance` move.
    manual: Option<Arc<ManualClock>>,
}

/// The manual clock behind `clock`, or `TOLLGATE_ERR_INVALID_ARGUMENT`.
fn manual(clock: &tollgate_clock) -> Result<&ManualClock, Failure> {
    clock.manual.as_deref().ok_or_else(|| {
        Failure::from(SdkError::InvalidArgument {
            reason: "a cached clock cannot be set: set its source".into(),
        })
    })
}

/// Makes a manual clock reading `now` (Unix seconds).
///
/// # Safety
///
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_clock_new_manual(
    now: u64,
    out: *mut *mut tollgate_clock,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        let manual = Arc::new(ManualClock::new(now));
        let clock = Box::new(tollgate_clock {
            inner: manual.clone(),
            manual: Some(manual),
        });
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(Box::into_raw(clock)) };
        Ok(())
    })
}

/// Makes a clock that reads `source` through a cache refreshed by a background thread every
/// `interval_ms` milliseconds: the clock `tollgate_manager_open` uses (over the system clock),
/// here over a clock of the application's, for tests of the cache's behaviour (for example
/// across `fork()`). It keeps its own reference to `source`.
///
/// After `fork()`, the cache in the child reads `source` directly until it has started a new
/// refresher, so time moves on in the child exactly as in the parent.
///
/// Fails with `TOLLGATE_ERR_INVALID_ARGUMENT` when `interval_ms` is 0, `TOLLGATE_NULL_ARGUMENT`.
///
/// # Safety
///
/// `source` is NULL or a live clock; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_clock_new_cached(
    source: *const tollgate_clock,
    interval_ms: u64,
    out: *mut *mut tollgate_clock,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantee on `source`.
        let source = unsafe { arg_ref(source) }?.inner.clone();
        if interval_ms == 0 {
            return Err(SdkError::InvalidArgument {
                reason: "interval_ms must be at least 1".into(),
            }
            .into());
        }
        watch_forks();
        let clock = Box::new(tollgate_clock {
            inner: Arc::new(CachedClock::with_source(
                source,
                Duration::from_millis(interval_ms),
            )),
            manual: None,
        });
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(Box::into_raw(clock)) };
        Ok(())
    })
}

/// Sets the clock to `now` (it may go backwards). Fails with `TOLLGATE_ERR_INVALID_ARGUMENT`
/// on a cached clock.
///
/// # Safety
///
/// `clock` is NULL or a live clock.
#[no_mangle]
pub unsafe extern "C" fn tollgate_clock_set(
    clock: *const tollgate_clock,
    now: u64,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantee on `clock`.
        manual(unsafe { arg_ref(clock) }?)?.set(now);
        Ok(())
    })
}

/// Moves the clock forward by `secs` seconds (saturating). Fails with
/// `TOLLGATE_ERR_INVALID_ARGUMENT` on a cached clock.
///
/// # Safety
///
/// `clock` is NULL or a live clock.
#[no_mangle]
pub unsafe extern "C" fn tollgate_clock_advance(
    clock: *const tollgate_clock,
    secs: u64,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantee on `clock`.
        manual(unsafe { arg_ref(clock) }?)?.advance(secs);
        Ok(())
    })
}

/// Frees a clock handle. NULL is ignored. Managers using the clock keep working.
///
/// # Safety
///
/// `clock` is NULL or a clock from this library that is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn tollgate_clock_free(clock: *mut tollgate_clock) {
    value_boundary((), || {
        if !clock.is_null() {
            // SAFETY: `clock` came from `Box::into_raw` in this library and is not used again.
            drop(unsafe { Box::from_raw(clock) });
        }
    })
}
