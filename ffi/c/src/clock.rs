//! `tollgate_clock`: a clock the application sets, for tests and simulations.

use std::sync::Arc;

use tollgate_sdk::ManualClock;

use crate::boundary::{arg_out, arg_ref, result_boundary, value_boundary};
use crate::error::tollgate_result;

/// A manual clock: it reads whatever it was last set to (Unix seconds, UTC). Give it to
/// `tollgate_manager_open_with_clock` to move a manager through time in tests and
/// simulations; managers opened with `tollgate_manager_open` use the system clock.
///
/// Made with `tollgate_clock_new_manual`, freed with `tollgate_clock_free`; a manager keeps its
/// own reference, so the handle may be freed while managers still use the clock.
///
/// Thread safety: every function may be called from any thread at any time.
pub struct tollgate_clock {
    pub(crate) inner: Arc<ManualClock>,
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
        let clock = Box::new(tollgate_clock {
            inner: Arc::new(ManualClock::new(now)),
        });
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(Box::into_raw(clock)) };
        Ok(())
    })
}

/// Sets the clock to `now` (it may go backwards).
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
        unsafe { arg_ref(clock) }?.inner.set(now);
        Ok(())
    })
}

/// Moves the clock forward by `secs` seconds (saturating).
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
        unsafe { arg_ref(clock) }?.inner.advance(secs);
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
