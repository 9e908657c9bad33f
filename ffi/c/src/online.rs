//! `tollgate_online`: the online activation service client, over
//! [`tollgate_sdk::online::OnlineClient`]: activate, reactivate and deactivate a
//! `tollgate_manager` over HTTPS (or plain HTTP on loopback).

use std::ffi::c_char;

use tollgate_sdk::online::{OnlineClient, OnlineConfig};

use crate::boundary::{
    arg_bytes, arg_out, arg_ref, arg_str, result_boundary, value_boundary, TextOut,
};
use crate::error::{tollgate_result, Failure, TOLLGATE_POISONED};
use crate::manager::{c_status, tollgate_manager, tollgate_status};

/// A client of the vendor's online activation service (`tollgate-server`). Opened with
/// `tollgate_online_new`, freed with `tollgate_online_free`.
///
/// Transient failures (unreachable, HTTP 5xx, 429) are retried with exponential backoff: 4
/// tries, 250 ms before the first retry, doubled each time (at most 10 s); connect timeout 5 s,
/// 20 s per request.
///
/// Thread safety: immutable once created; any number of threads may use one client
/// concurrently (each call locks the manager it is given like the other calls taking a
/// `tollgate_manager *`; feature checks never wait for it).
pub struct tollgate_online {
    inner: OnlineClient,
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
        let client = Box::new(tollgate_online {
            inner: OnlineClient::new(config)?,
        });
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(Box::into_raw(client)) };
        Ok(())
    })
}

/// Frees a client. NULL is ignored.
///
/// # Safety
///
/// `o` is NULL or a client from this library that no other thread uses and that is not used
/// afterwards.
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
/// which is then in `tollgate_last_error`), `TOLLGATE_ERR_SERVICE_UNAVAILABLE`,
/// `TOLLGATE_ERR_RATE_LIMITED`, `TOLLGATE_ERR_BAD_RESPONSE`; or like `tollgate_manager_install`
/// when the answer does not verify. The manager is locked while the service answers.
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
        let mut guard = m
            .inner
            .write()
            .map_err(|_| Failure::code(TOLLGATE_POISONED))?;
        let status = o.inner.activate(&mut guard, key)?;
        let c = c_status(&guard, &status);
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
/// (deactivated, or freed by the vendor), and otherwise like `tollgate_online_activate`.
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
        if m.inner.is_poisoned() {
            return Err(Failure::code(TOLLGATE_POISONED));
        }
        let status = o.inner.reactivate_shared(&m.inner)?;
        let guard = m
            .inner
            .read()
            .map_err(|_| Failure::code(TOLLGATE_POISONED))?;
        let c = c_status(&guard, &status);
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
/// `tollgate_online_activate`).
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
        let mut guard = m
            .inner
            .write()
            .map_err(|_| Failure::code(TOLLGATE_POISONED))?;
        let done = o.inner.deactivate(&mut guard)?;
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
/// with the service's errors (see `tollgate_online_activate`) or an argument code.
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
        o.inner.send_deactivation(code)?;
        Ok(())
    })
}
