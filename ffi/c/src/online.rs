//! `tollgate_online`: the online activation service client, over
//! [`tollgate_sdk::online::OnlineClient`]: activate, reactivate and deactivate a
//! `tollgate_manager` over HTTPS (or plain HTTP on loopback).

use std::ffi::c_char;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tollgate_sdk::online::{CancelToken, OnlineClient, OnlineConfig, ScopedCall};
use tollgate_sdk::Status;

use crate::boundary::{
    arg_bytes, arg_out, arg_ref, arg_str, result_boundary, value_boundary, TextOut,
};
use crate::error::{tollgate_result, Failure, TOLLGATE_POISONED};
use crate::manager::{c_status, tollgate_manager, tollgate_status};

/// A client of the vendor's online activation service (`tollgate-server`). Opened with
/// `tollgate_online_new`, freed with `tollgate_online_free`.
///
/// Transient failures (unreachable, HTTP 5xx, 429) are retried with exponential backoff; the
/// defaults (`tollgate_online_options_default`): 4 tries, 250 ms before the first retry,
/// doubled each time (at most 10 s); connect timeout 5 s, 20 s per try. Set them with
/// `tollgate_online_new_with_options`.
///
/// Thread safety: any number of threads may use one client concurrently. A call locks the
/// manager it is given only to make its usage request and to install the answer, never while
/// it waits for the service: status, feature checks, metered usage and the other calls on the
/// manager go on meanwhile. `tollgate_online_cancel` (from any thread) ends the calls in
/// flight at once; `tollgate_manager_free` ends those on its manager.
pub struct tollgate_online {
    inner: OnlineClient,
    /// Cancelled and replaced by `tollgate_online_cancel`; every call links its token to it.
    cancel: Mutex<CancelToken>,
}

/// How a `tollgate_online` client times out and retries (`tollgate_online_new_with_options`).
/// Get the defaults from `tollgate_online_options_default`, then change what you need.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct tollgate_online_options {
    /// Longest wait for a connection, in milliseconds (default 5000; at least 1).
    pub connect_timeout_ms: u64,
    /// Longest wait for one try, from connecting to the end of the answer, in milliseconds
    /// (default 20000; at least 1).
    pub timeout_ms: u64,
    /// Tries per call, the first included (default 4; at least 1).
    pub attempts: u32,
    /// Wait before the first retry, in milliseconds; doubled for each next one (default 250).
    pub backoff_ms: u64,
    /// Longest wait between two tries (also caps a service's `Retry-After`), in milliseconds
    /// (default 10000).
    pub max_backoff_ms: u64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<&OnlineConfig> for tollgate_online_options {
    fn from(c: &OnlineConfig) -> Self {
        tollgate_online_options {
            connect_timeout_ms: millis(c.connect_timeout),
            timeout_ms: millis(c.timeout),
            attempts: c.attempts,
            backoff_ms: millis(c.backoff),
            max_backoff_ms: millis(c.max_backoff),
        }
    }
}

/// Writes the default options to `*out`.
///
/// Fails with `TOLLGATE_NULL_ARGUMENT`.
///
/// # Safety
///
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_online_options_default(
    out: *mut tollgate_online_options,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        let defaults = tollgate_online_options::from(&OnlineConfig::new(""));
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(defaults) };
        Ok(())
    })
}

/// A client of the service at `server` (its base URL, `https://…`, or `http://…` for a
/// service on loopback or behind a TLS-terminating proxy on the same host). The server's
/// certificate is checked against the Mozilla root certificates, or, when `root_certs_pem` is
/// not NULL, only against the certificates in that PEM text (a private CA or a self-signed
/// service certificate).
///
/// Fails with `TOLLGATE_ERR_INVALID_ARGUMENT` when `server` is not a well-formed `http://` or
/// `https://` URL with a host (e.g. `http://[::1`, a port over 65535, a query), or when
/// `root_certs_pem` holds no well-formed certificate (no `CERTIFICATE` block, an empty or
/// damaged one); with `TOLLGATE_INVALID_UTF8`, or `TOLLGATE_NULL_ARGUMENT`. Nothing is sent.
///
/// # Safety
///
/// `server` is NULL or valid for `server_len` bytes; `root_certs_pem` is NULL or valid for
/// `root_certs_pem_len` bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_online_new(
    server: *const c_char,
    server_len: usize,
    root_certs_pem: *const u8,
    root_certs_pem_len: usize,
    out: *mut *mut tollgate_online,
) -> tollgate_result {
    // SAFETY: forwarded from the caller.
    unsafe {
        tollgate_online_new_with_options(
            server,
            server_len,
            root_certs_pem,
            root_certs_pem_len,
            std::ptr::null(),
            out,
        )
    }
}

/// `tollgate_online_new` with timeouts and retries from `options` (NULL: the defaults).
///
/// Fails like `tollgate_online_new`, and with `TOLLGATE_ERR_INVALID_ARGUMENT` when
/// `attempts`, `connect_timeout_ms` or `timeout_ms` is 0.
///
/// # Safety
///
/// As `tollgate_online_new`; `options` is NULL or readable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_online_new_with_options(
    server: *const c_char,
    server_len: usize,
    root_certs_pem: *const u8,
    root_certs_pem_len: usize,
    options: *const tollgate_online_options,
    out: *mut *mut tollgate_online,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantee on (`server`, `server_len`).
        let server = unsafe { arg_str(server, server_len) }?;
        let mut config = OnlineConfig::new(server);
        if !root_certs_pem.is_null() {
            // SAFETY: the caller's guarantee on (`root_certs_pem`, `root_certs_pem_len`).
            config.root_certs_pem =
                Some(unsafe { arg_bytes(root_certs_pem, root_certs_pem_len) }?.to_vec());
        }
        // SAFETY: the caller's guarantee on `options`.
        if let Some(o) = unsafe { options.as_ref() } {
            if o.connect_timeout_ms == 0 || o.timeout_ms == 0 {
                return Err(Failure::invalid("timeouts must be at least 1 ms"));
            }
            config.connect_timeout = Duration::from_millis(o.connect_timeout_ms);
            config.timeout = Duration::from_millis(o.timeout_ms);
            config.attempts = o.attempts;
            config.backoff = Duration::from_millis(o.backoff_ms);
            config.max_backoff = Duration::from_millis(o.max_backoff_ms);
        }
        let client = Box::new(tollgate_online {
            inner: OnlineClient::new(config)?,
            cancel: Mutex::new(CancelToken::new()),
        });
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(Box::into_raw(client)) };
        Ok(())
    })
}

/// Writes the options client `o` uses to `*out`.
///
/// Fails with `TOLLGATE_NULL_ARGUMENT`.
///
/// # Safety
///
/// `o` is NULL or a live client; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_online_options_get(
    o: *const tollgate_online,
    out: *mut tollgate_online_options,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantee on `o`.
        let o = unsafe { arg_ref(o) }?;
        let options = tollgate_online_options::from(o.inner.config());
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(options) };
        Ok(())
    })
}

/// Cancels every call of client `o` in flight now, from any thread: each returns
/// `TOLLGATE_ERR_CANCELLED` (240) at once, having changed nothing on its manager (an online
/// deactivation has deactivated the host already; its code stays available from
/// `tollgate_manager_last_deactivation_code`). Calls made afterwards run normally. The request
/// already sent is abandoned; the library's thread carrying it ends by itself within the
/// client's per-try timeout. NULL is ignored.
///
/// # Safety
///
/// `o` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn tollgate_online_cancel(o: *const tollgate_online) {
    value_boundary((), || {
        // SAFETY: the caller's guarantee on `o`.
        if let Some(o) = unsafe { o.as_ref() } {
            let mut current = o.cancel.lock().unwrap_or_else(PoisonError::into_inner);
            let old = std::mem::take(&mut *current);
            drop(current);
            old.cancel("cancelled by tollgate_online_cancel");
        }
    })
}

impl tollgate_online {
    /// Starts a call on manager `m`: cancelled by `tollgate_online_cancel` and by freeing `m`.
    fn start<'m>(&self, m: &'m tollgate_manager) -> Result<ScopedCall<'m>, Failure> {
        let call = m.calls.enter()?;
        call.token()
            .link_to(&self.cancel.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(call)
    }
}

/// Frees a client. NULL is ignored.
///
/// # Safety
///
/// `o` is NULL or a client from this library that no other thread uses and that is not used
/// afterwards (to end calls in flight, `tollgate_online_cancel` it and wait for them to
/// return first).
#[no_mangle]
pub unsafe extern "C" fn tollgate_online_free(o: *mut tollgate_online) {
    value_boundary((), || {
        if !o.is_null() {
            // SAFETY: `o` came from `Box::into_raw` in this library and is not used again.
            drop(unsafe { Box::from_raw(o) });
        }
    })
}

/// Activates manager `m` online with the license key `key` (as the customer typed it): makes
/// a usage request, has the service answer it (taking a seat when this host holds none),
/// installs the usage license and writes the new status to `*out`.
///
/// Fails like `tollgate_manager_request_usage` before anything is sent; with
/// `TOLLGATE_ERR_SERVICE_UNREACHABLE`, the service's refusal as its own code
/// (`TOLLGATE_ERR_SERVICE_UNKNOWN_KEY` 300, `…_SEATS_EXHAUSTED` 303, `…_STALE_REQUEST` 308,
/// `…_FLOATING_ACTIVATION_EXISTS` 331, …; `TOLLGATE_ERR_SERVICE_REFUSED` for any other code,
/// which is then in `tollgate_last_error`; `tollgate_last_refusal_code` gives the service's
/// code in every case), `TOLLGATE_ERR_SERVICE_UNAVAILABLE`, `TOLLGATE_ERR_RATE_LIMITED`,
/// `TOLLGATE_ERR_BAD_RESPONSE`; or like `tollgate_manager_install` when the answer does not
/// verify; `TOLLGATE_ERR_CANCELLED` (240) when cancelled (`tollgate_online_cancel`,
/// `tollgate_manager_free`); `TOLLGATE_ERR_STATE_CHANGED` (241) when another call changed the
/// license state meanwhile (the answer is then not installed). On any error the status is as
/// before the call (a failed activation does not leave the host pending). The manager is not
/// locked while the service answers.
///
/// # Safety
///
/// `o` is NULL or a live client; `m` is NULL or a live manager; `key` is NULL or valid for
/// `key_len` bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_online_activate(
    o: *const tollgate_online,
    m: *mut tollgate_manager,
    key: *const c_char,
    key_len: usize,
    out: *mut tollgate_status,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantees on `o` and (`key`, `key_len`).
        let (o, key) = unsafe { (arg_ref(o)?, arg_str(key, key_len)?) };
        // SAFETY: the caller's guarantee on `m`.
        let m = unsafe { arg_ref(m.cast_const()) }?;
        let call = o.start(m)?;
        if m.inner.is_poisoned() {
            return Err(Failure::code(TOLLGATE_POISONED));
        }
        let status = o.inner.activate_shared(&m.inner, key, Some(call.token()))?;
        let c = applied(m, &status)?;
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(c) };
        Ok(())
    })
}

/// Reactivates manager `m` online: the same activation gets the license's current grant (an
/// upgrade, a renewed subscription) and a new refresh deadline, installed at once; writes the
/// new status to `*out`. Needs no license key. The manager is not locked while the service
/// answers.
///
/// Fails with `TOLLGATE_ERR_NOT_ACTIVATED` when this host has no activation,
/// `TOLLGATE_ERR_SERVICE_NO_ACTIVE_ACTIVATION` (323) when the service no longer counts it
/// (deactivated, or freed by the vendor), and otherwise like `tollgate_online_activate`; on
/// any error the installed license stays and nothing is left pending.
///
/// # Safety
///
/// `o` is NULL or a live client; `m` is NULL or a live manager; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_online_reactivate(
    o: *const tollgate_online,
    m: *mut tollgate_manager,
    out: *mut tollgate_status,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantees on `o` and `m`.
        let (o, m) = unsafe { (arg_ref(o)?, arg_ref(m.cast_const())?) };
        let call = o.start(m)?;
        if m.inner.is_poisoned() {
            return Err(Failure::code(TOLLGATE_POISONED));
        }
        let status = o
            .inner
            .reactivate_shared_with(&m.inner, Some(call.token()))?;
        let c = applied(m, &status)?;
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(c) };
        Ok(())
    })
}

/// Deactivates manager `m` online: removes the installed license for good, writes the
/// deactivation code (`TGDC:…`) into `buf`, and the service frees the seat with it.
///
/// `buf_len` must be at least `TOLLGATE_MAX_ARTIFACT_LEN`, as for
/// `tollgate_manager_deactivate`. The host is deactivated first, whatever happens next: when
/// the service cannot be reached (`TOLLGATE_ERR_SERVICE_UNREACHABLE`, …) nothing is written,
/// and the code stays available from `tollgate_manager_last_deactivation_code`: deliver it
/// later with `tollgate_online_send_deactivation` (or to the vendor, as an offline
/// deactivation). A code the service already processed counts as delivered.
///
/// Fails like `tollgate_manager_deactivate`, or with the service's errors (see
/// `tollgate_online_activate`), or `TOLLGATE_ERR_CANCELLED` while delivering the code. The
/// manager is locked only to deactivate, not while the service answers.
///
/// # Safety
///
/// `o` is NULL or a live client; `m` is NULL or a live manager; `buf` is valid for `buf_len`
/// writable bytes (NULL only with `buf_len` 0); `out_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_online_deactivate(
    o: *const tollgate_online,
    m: *mut tollgate_manager,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> tollgate_result {
    result_boundary(|| {
        let out = TextOut::for_artifact(buf, buf_len, out_len)?;
        // SAFETY: the caller's guarantees on `o` and `m`.
        let (o, m) = unsafe { (arg_ref(o)?, arg_ref(m.cast_const())?) };
        let call = o.start(m)?;
        if m.inner.is_poisoned() {
            return Err(Failure::code(TOLLGATE_POISONED));
        }
        let done = o.inner.deactivate_shared(&m.inner, Some(call.token()))?;
        // SAFETY: the caller's guarantees on the output buffer.
        unsafe { out.write(&done.code) }
    })
}

/// Delivers a deactivation code (`TGDC:…`, e.g. from `tollgate_manager_last_deactivation_code`
/// after `tollgate_online_deactivate` could not reach the service) to the service, which frees
/// its seat. A code the service already processed counts as delivered.
///
/// The code is checked first and nothing is sent when it is not a well-formed deactivation
/// code: `TOLLGATE_ERR_ARMOR_PREFIX`, `…_ARMOR_ENCODING`, `…_ARMOR_CHECKSUM`,
/// `…_WRONG_ARTIFACT_TYPE` (another artifact), or another core artifact code. Otherwise fails
/// with the service's errors (see `tollgate_online_activate`), `TOLLGATE_ERR_CANCELLED`
/// (`tollgate_online_cancel`), or an argument code.
///
/// # Safety
///
/// `o` is NULL or a live client; `code` is NULL or valid for `code_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tollgate_online_send_deactivation(
    o: *const tollgate_online,
    code: *const c_char,
    code_len: usize,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantees on `o` and (`code`, `code_len`).
        let (o, code) = unsafe { (arg_ref(o)?, arg_str(code, code_len)?) };
        let token = CancelToken::new();
        token.link_to(&o.cancel.lock().unwrap_or_else(PoisonError::into_inner));
        o.inner.send_deactivation_with(code, Some(&token))?;
        Ok(())
    })
}

/// The C status of `status`, just installed on `m`.
pub(crate) fn applied(m: &tollgate_manager, status: &Status) -> Result<tollgate_status, Failure> {
    let guard = m
        .inner
        .read()
        .map_err(|_| Failure::code(TOLLGATE_POISONED))?;
    Ok(c_status(&guard, status))
}
