//! License events: `tollgate_manager_watch` calls a C function when a manager's license state
//! changes, over the runtime's [`StatusWatch`].

use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tollgate_sdk::events::{LicenseEvent, StatusWatch};

use crate::boundary::{arg_ref, result_boundary, value_boundary};
use crate::error::{tollgate_result, Failure};
use crate::manager::{state_code, tollgate_manager};

/// Event: a usage license was installed (activation, renewal, upgrade, online refresh).
pub const TOLLGATE_EVENT_INSTALLED: u32 = 1;
/// Event: a new warning that a feature or the license expires soon (`message` says which).
pub const TOLLGATE_EVENT_EXPIRING_SOON: u32 = 2;
/// Event: the license stopped being usable: expired, refresh overdue, fingerprint mismatch,
/// invalid (`error_code` says why).
pub const TOLLGATE_EVENT_LOST: u32 = 3;
/// Event: the clock was set back beyond the tolerance.
pub const TOLLGATE_EVENT_CLOCK_ROLLBACK: u32 = 4;
/// Event: the license was deactivated on this host.
pub const TOLLGATE_EVENT_DEACTIVATED: u32 = 5;
/// Event: any other change of the state (active again, a usage request pending, …).
pub const TOLLGATE_EVENT_STATE_CHANGED: u32 = 6;

/// One change of a manager's license state, passed to a `tollgate_event_fn`. Valid only
/// during the call.
#[repr(C)]
#[derive(Debug)]
pub struct tollgate_event {
    /// What changed, a `TOLLGATE_EVENT_…` value.
    pub kind: u32,
    /// The state now, a `TOLLGATE_STATE_…` value.
    pub state: u32,
    /// The state before, a `TOLLGATE_STATE_…` value.
    pub previous: u32,
    /// Why the state is not active now: a result code, or 0.
    pub error_code: tollgate_result,
    /// The installed license's revision (0 without one).
    pub revision: u32,
    /// The installed license's activation id (0 without one).
    pub activation_id: u64,
    /// The warning of a `TOLLGATE_EVENT_EXPIRING_SOON` event, NUL-terminated; "" otherwise.
    /// Valid only during the call.
    pub message: *const c_char,
    /// The length of `message` in bytes, without the NUL.
    pub message_len: usize,
}

/// A function told of license events (`tollgate_manager_watch`), with the `user_data` given
/// there.
#[allow(non_camel_case_types)]
pub type tollgate_event_fn =
    Option<unsafe extern "C" fn(event: *const tollgate_event, user_data: *mut c_void)>;

/// The manager a watch reads, cleared by `tollgate_manager_free` (under the write lock, so
/// never while the watch reads it).
pub(crate) struct WatchTarget(RwLock<usize>);

impl WatchTarget {
    /// Forgets the manager: the watch thread ends at its next look.
    pub(crate) fn clear(&self) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = 0;
    }
}

/// The running watch of a manager.
pub(crate) struct ManagerWatch {
    pub(crate) target: Arc<WatchTarget>,
    pub(crate) watch: StatusWatch,
}

struct Callback {
    f: unsafe extern "C" fn(*const tollgate_event, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: the caller of `tollgate_manager_watch` promises that `user_data` may be used from
// the watch thread (see its documentation).
unsafe impl Send for Callback {}

impl Callback {
    fn call(&self, e: &LicenseEvent) {
        let message = CString::new(e.message.as_str()).unwrap_or_default();
        let event = tollgate_event {
            kind: e.kind.code(),
            state: state_code(e.state),
            previous: state_code(e.previous),
            error_code: e.error_code,
            revision: e.revision,
            activation_id: e.activation_id,
            message: message.as_ptr(),
            message_len: message.as_bytes().len(),
        };
        // SAFETY: the caller of `tollgate_manager_watch` gave a valid function for this
        // `user_data`; `event` and its message live until it returns.
        unsafe { (self.f)(&event, self.user_data) };
    }
}

/// Watches manager `m`: calls `callback(event, user_data)` each time its license state changes
/// (`TOLLGATE_EVENT_…`: installed, expiring soon, lost, clock rollback, deactivated, other
/// state changes). The watch looks at once when the manager changes (an install, a refresh,
/// a deactivation) and every `interval_ms` for what time alone changes (an expiry, a refresh
/// deadline, a clock set back). The state at the start is the baseline and reports nothing. A
/// manager has one watch: watching again replaces it.
///
/// The thread: `callback` runs on the library's own thread (`tollgate-events`), one event at
/// a time, in order, with no lock of the manager held. Re-entrancy: it may call any function
/// on `m`, including `tollgate_manager_unwatch` and `tollgate_manager_free` (then it must not
/// use `m` afterwards; no further event is delivered). Keep it short: the next event waits.
/// A panic inside the library while preparing an event is caught; the event is dropped.
///
/// Fails with `TOLLGATE_NULL_ARGUMENT` (NULL `m` or `callback`) or
/// `TOLLGATE_ERR_INVALID_ARGUMENT` (`interval_ms` 0).
///
/// # Safety
///
/// `m` is NULL or a live manager; `callback` is NULL or a function that may be called from
/// another thread with `user_data` until `tollgate_manager_unwatch` or `tollgate_manager_free`
/// on `m` returns.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_watch(
    m: *mut tollgate_manager,
    interval_ms: u64,
    callback: tollgate_event_fn,
    user_data: *mut c_void,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantee on `m`.
        let m = unsafe { arg_ref(m.cast_const()) }?;
        let f = callback.ok_or_else(|| Failure::code(crate::error::TOLLGATE_NULL_ARGUMENT))?;
        if interval_ms == 0 {
            return Err(Failure::invalid("interval_ms must be at least 1"));
        }
        let signal = m
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .change_signal();
        let target = Arc::new(WatchTarget(RwLock::new(
            m as *const tollgate_manager as usize,
        )));
        let reader = Arc::clone(&target);
        let status = move || {
            let address = reader.0.read().unwrap_or_else(PoisonError::into_inner);
            if *address == 0 {
                return None;
            }
            // SAFETY: a non-zero address is a live manager: `tollgate_manager_free` clears it
            // (waiting for this read lock) before freeing the manager.
            let m = unsafe { &*(*address as *const tollgate_manager) };
            let status = m
                .inner
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .status();
            Some(status)
        };
        let cb = Callback { f, user_data };
        let on_event = move |e: &LicenseEvent| {
            let _ = catch_unwind(AssertUnwindSafe(|| cb.call(e)));
        };
        let watch = StatusWatch::start(
            status,
            &signal,
            Duration::from_millis(interval_ms),
            on_event,
        )?;
        let old = m
            .watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(ManagerWatch { target, watch });
        stop(old);
        Ok(())
    })
}

/// Stops a watch: forgets its manager, then stops its thread.
pub(crate) fn stop(w: Option<ManagerWatch>) {
    if let Some(w) = w {
        w.target.clear();
        w.watch.stop();
    }
}

/// Stops the watch of manager `m`; waits for a callback in progress unless called from it.
/// Without a watch, does nothing. NULL is ignored.
///
/// # Safety
///
/// `m` is NULL or a live manager.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_unwatch(m: *mut tollgate_manager) {
    value_boundary((), || {
        // SAFETY: the caller's guarantee on `m`.
        if let Some(m) = unsafe { m.as_ref() } {
            let w = m
                .watch
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            stop(w);
        }
    })
}
