//! `tollgate_floating`: a client of a floating license server (`tollgate-floating`), over
//! [`tollgate_sdk::floating::FloatingClient`]: check out a feature set as a lease renewed in the
//! background, check features offline against it, release it.

use std::ffi::c_char;
use std::time::Duration;

use tollgate_sdk::{BearerToken, FloatingClient, FloatingConfig, LeaseHolder};

use crate::boundary::{arg_bytes, arg_out, arg_ref, arg_str, result_boundary, value_boundary};
use crate::config::tollgate_config;
use crate::error::{tollgate_result, Failure};
use crate::manager::feature_name;

/// A client of a floating license server. Opened with `tollgate_floating_new`, freed with
/// `tollgate_floating_free` (which releases the lease it holds).
///
/// A checked-out lease is renewed on a background thread at a third of its term; failed
/// heartbeats are retried with backoff, and the features stay usable through a server outage
/// until the lease ends. When the lease ends without a renewal, checking out is retried in the
/// background.
///
/// Thread safety: any number of threads may use one client concurrently. `_has_feature` and
/// `_lease_id` never wait for the server; `_checkout` and `_release` talk to it without
/// holding a lock and then swap the lease in one step. `_free` must not race anything on the
/// same handle.
pub struct tollgate_floating {
    inner: LeaseHolder,
}

/// A client of the floating license server at `server` (its base URL, `https://…`, or
/// `http://…` on loopback or behind a TLS-terminating proxy on the same host) for the product
/// of `config` (its vendor keys verify the leases; its fingerprint, probed now, makes the
/// client id), checking out the features in `features`: their names separated by commas
/// (e.g. `"mqtt-server,support"`). When `root_certs_pem` is not NULL, the server's certificate
/// is checked only against the certificates in that PEM text. Nothing is sent yet.
///
/// For a pool served by an active/standby pair, `server` lists both URLs separated by a comma
/// (`"https://floating-a:8444,https://floating-b:8444"`, at most 8): each call goes to the one
/// that answered last and moves to the next when it cannot be reached, fails, or answers 347
/// `TOLLGATE_ERR_SERVICE_STANDBY`.
///
/// The instance name is empty: every client of one host has the same client id and so shares
/// one lease. Use `tollgate_floating_new_instance` to run several instances on one host.
///
/// Fails with `TOLLGATE_ERR_INVALID_ARGUMENT` (no feature; `server` not a well-formed
/// `http://` or `https://` URL with a host, e.g. `http://[::1`; `root_certs_pem` holding no
/// well-formed certificate), `TOLLGATE_ERR_FINGERPRINT`, `TOLLGATE_INVALID_UTF8`, or
/// `TOLLGATE_NULL_ARGUMENT`.
///
/// # Safety
///
/// `config` is NULL or a live configuration; `server` is NULL or valid for `server_len` bytes;
/// `features` is NULL or valid for `features_len` bytes; `root_certs_pem` is NULL or valid for
/// `root_certs_pem_len` bytes; `out` is NULL or writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tollgate_floating_new(
    config: *const tollgate_config,
    server: *const c_char,
    server_len: usize,
    features: *const c_char,
    features_len: usize,
    root_certs_pem: *const u8,
    root_certs_pem_len: usize,
    out: *mut *mut tollgate_floating,
) -> tollgate_result {
    // SAFETY: the caller's guarantees, passed on; a NULL instance is the empty name.
    unsafe {
        tollgate_floating_new_instance(
            config,
            server,
            server_len,
            features,
            features_len,
            std::ptr::null(),
            0,
            root_certs_pem,
            root_certs_pem_len,
            out,
        )
    }
}

/// As `tollgate_floating_new`, for the instance `instance` (UTF-8, `instance_len` bytes; at
/// most 128; NULL: the empty name): a name that tells several clients on one host apart. It is part of the client
/// id (SPEC §10a.3), so two instances with different names hold two leases (two seats), and
/// it is shown as the client's name in the server's admin view.
///
/// Fails as `tollgate_floating_new`, and with `TOLLGATE_ERR_INVALID_ARGUMENT` for an instance
/// name over 128 bytes.
///
/// # Safety
///
/// As `tollgate_floating_new`; `instance` is NULL or valid for `instance_len` bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tollgate_floating_new_instance(
    config: *const tollgate_config,
    server: *const c_char,
    server_len: usize,
    features: *const c_char,
    features_len: usize,
    instance: *const c_char,
    instance_len: usize,
    root_certs_pem: *const u8,
    root_certs_pem_len: usize,
    out: *mut *mut tollgate_floating,
) -> tollgate_result {
    // SAFETY: the caller's guarantees, passed on; a NULL token is none.
    unsafe {
        tollgate_floating_new_with_token(
            config,
            server,
            server_len,
            features,
            features_len,
            instance,
            instance_len,
            std::ptr::null(),
            0,
            root_certs_pem,
            root_certs_pem_len,
            out,
        )
    }
}

/// As `tollgate_floating_new_instance`, sending `checkout_token` (`checkout_token_len` bytes of
/// visible ASCII, at most 1024; NULL: none) as `Authorization: Bearer <token>` with every
/// checkout, heartbeat and release: the shared token of a server configured with
/// `checkout_token`, which refuses clients without it with
/// `TOLLGATE_ERR_SERVICE_REFUSED` (its code, 401 `Unauthorized`, in `tollgate_last_error`).
///
/// Fails as `tollgate_floating_new_instance`, and with `TOLLGATE_ERR_INVALID_ARGUMENT` for an
/// empty token, one over 1024 bytes, or one with spaces or non-ASCII characters.
///
/// # Safety
///
/// As `tollgate_floating_new_instance`; `checkout_token` is NULL or valid for
/// `checkout_token_len` bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tollgate_floating_new_with_token(
    config: *const tollgate_config,
    server: *const c_char,
    server_len: usize,
    features: *const c_char,
    features_len: usize,
    instance: *const c_char,
    instance_len: usize,
    checkout_token: *const c_char,
    checkout_token_len: usize,
    root_certs_pem: *const u8,
    root_certs_pem_len: usize,
    out: *mut *mut tollgate_floating,
) -> tollgate_result {
    // SAFETY: the caller's guarantees, passed on; NULL options are the defaults.
    unsafe {
        tollgate_floating_new_with_options(
            config,
            server,
            server_len,
            features,
            features_len,
            instance,
            instance_len,
            checkout_token,
            checkout_token_len,
            root_certs_pem,
            root_certs_pem_len,
            std::ptr::null(),
            out,
        )
    }
}

/// How a `tollgate_floating` client times out and retries (`tollgate_floating_new_with_options`).
/// Get the defaults from `tollgate_floating_options_default`, then change what you need.
///
/// A checkout, heartbeat or release is one try of at most `timeout_ms`; a failed heartbeat
/// (and the checkout after a lost lease) is retried on the background thread after
/// `retry_initial_ms`, doubled each time up to `retry_max_ms`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct tollgate_floating_options {
    /// Longest wait for a connection, in milliseconds (default 2000; at least 1).
    pub connect_timeout_ms: u64,
    /// Longest wait for one request, from connecting to the end of the answer, in
    /// milliseconds (default 5000; at least 1).
    pub timeout_ms: u64,
    /// First wait after a failed heartbeat or background checkout, in milliseconds; doubled
    /// for each next one (default 1000).
    pub retry_initial_ms: u64,
    /// Longest wait between two background tries, in milliseconds (default 30000).
    pub retry_max_ms: u64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<&FloatingConfig> for tollgate_floating_options {
    fn from(c: &FloatingConfig) -> Self {
        tollgate_floating_options {
            connect_timeout_ms: millis(c.connect_timeout),
            timeout_ms: millis(c.timeout),
            retry_initial_ms: millis(c.retry_initial),
            retry_max_ms: millis(c.retry_max),
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
pub unsafe extern "C" fn tollgate_floating_options_default(
    out: *mut tollgate_floating_options,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        let defaults =
            tollgate_floating_options::from(&FloatingConfig::new("", std::iter::empty::<String>()));
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(defaults) };
        Ok(())
    })
}

/// As `tollgate_floating_new_with_token`, with timeouts and retries from `options` (NULL: the
/// defaults).
///
/// Fails as `tollgate_floating_new_with_token`, and with `TOLLGATE_ERR_INVALID_ARGUMENT` when
/// `connect_timeout_ms` or `timeout_ms` is 0.
///
/// # Safety
///
/// As `tollgate_floating_new_with_token`; `options` is NULL or readable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tollgate_floating_new_with_options(
    config: *const tollgate_config,
    server: *const c_char,
    server_len: usize,
    features: *const c_char,
    features_len: usize,
    instance: *const c_char,
    instance_len: usize,
    checkout_token: *const c_char,
    checkout_token_len: usize,
    root_certs_pem: *const u8,
    root_certs_pem_len: usize,
    options: *const tollgate_floating_options,
    out: *mut *mut tollgate_floating,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantees on `config`, (`server`, `server_len`),
        // (`features`, `features_len`), (`instance`, `instance_len`) and
        // (`checkout_token`, `checkout_token_len`).
        let (config, server, features, instance, token) = unsafe {
            (
                arg_ref(config)?,
                arg_str(server, server_len)?,
                arg_str(features, features_len)?,
                if instance.is_null() {
                    ""
                } else {
                    arg_str(instance, instance_len)?
                },
                if checkout_token.is_null() {
                    None
                } else {
                    Some(arg_str(checkout_token, checkout_token_len)?)
                },
            )
        };
        let names = features.split(',').map(str::trim).filter(|s| !s.is_empty());
        let mut floating = FloatingConfig::new(server, names);
        floating.set_instance(instance)?;
        floating.checkout_token = token.map(BearerToken::new).transpose()?;
        if !root_certs_pem.is_null() {
            // SAFETY: the caller's guarantee on (`root_certs_pem`, `root_certs_pem_len`).
            floating.root_certs_pem =
                Some(unsafe { arg_bytes(root_certs_pem, root_certs_pem_len) }?.to_vec());
        }
        // SAFETY: the caller's guarantee on `options`.
        if let Some(o) = unsafe { options.as_ref() } {
            if o.connect_timeout_ms == 0 || o.timeout_ms == 0 {
                return Err(Failure::invalid("timeouts must be at least 1 ms"));
            }
            floating.connect_timeout = Duration::from_millis(o.connect_timeout_ms);
            floating.timeout = Duration::from_millis(o.timeout_ms);
            floating.retry_initial = Duration::from_millis(o.retry_initial_ms);
            floating.retry_max = Duration::from_millis(o.retry_max_ms);
        }
        let f = Box::new(tollgate_floating {
            inner: LeaseHolder::new(FloatingClient::new(&config.inner, floating)?),
        });
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(Box::into_raw(f)) };
        Ok(())
    })
}

/// Writes the options client `f` uses to `*out`.
///
/// Fails with `TOLLGATE_NULL_ARGUMENT`.
///
/// # Safety
///
/// `f` is NULL or a live client; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_floating_options_get(
    f: *const tollgate_floating,
    out: *mut tollgate_floating_options,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantee on `f`.
        let f = unsafe { arg_ref(f) }?;
        let options = tollgate_floating_options::from(f.inner.client().config());
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(options) };
        Ok(())
    })
}

/// Frees a client, releasing the lease it holds (best effort: when the server cannot be
/// reached, it reclaims the seats when the lease ends). NULL is ignored.
///
/// # Safety
///
/// `f` is NULL or a client from this library that no other thread uses and that is not used
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn tollgate_floating_free(f: *mut tollgate_floating) {
    value_boundary((), || {
        if !f.is_null() {
            // SAFETY: `f` came from `Box::into_raw` in this library and is not used again.
            drop(unsafe { Box::from_raw(f) });
        }
    })
}

/// Checks out the feature set from the server, verifies the lease offline (vendor keys, this
/// client's id) and starts renewing it in the background. A lease already held is kept and
/// `TOLLGATE_OK` returned.
///
/// Fails with the server's refusal as its own code: `TOLLGATE_ERR_SERVICE_NO_SEAT` (340, no
/// seat left), `TOLLGATE_ERR_SERVICE_FEATURE_NOT_LICENSED` (341), `…_LEASE_HELD` (346, a clone
/// holds this client's lease), `…_NOT_LICENSED` (344, the server holds no valid floating
/// license), `…_CLOCK_ROLLBACK` (345, its clock went back); `TOLLGATE_ERR_SERVICE_REFUSED` for
/// any other refusal (its code in `tollgate_last_error`), `TOLLGATE_ERR_SERVICE_UNREACHABLE`,
/// `TOLLGATE_ERR_SERVICE_UNAVAILABLE`,
/// `TOLLGATE_ERR_RATE_LIMITED`, `TOLLGATE_ERR_BAD_RESPONSE`, or the verdict on a lease that
/// does not verify (`TOLLGATE_ERR_BAD_SIGNATURE`, …).
///
/// # Safety
///
/// `f` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn tollgate_floating_checkout(
    f: *const tollgate_floating,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantee on `f`.
        let f = unsafe { arg_ref(f) }?;
        f.inner.checkout()?;
        Ok(())
    })
}

/// Whether feature `name` is usable now: a lease is held, covers it and has not ended (at the
/// server's time as last measured), and the server's floating license is valid. Stays true
/// through server outages until the lease ends. Never talks to the server. False for NULL
/// arguments and invalid UTF-8.
///
/// # Safety
///
/// `f` is NULL or a live client; `name` is NULL or valid for `name_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tollgate_floating_has_feature(
    f: *const tollgate_floating,
    name: *const c_char,
    name_len: usize,
) -> bool {
    value_boundary(false, || {
        // SAFETY: the caller's guarantees on `f` and (`name`, `name_len`).
        match unsafe { (f.as_ref(), feature_name(name, name_len)) } {
            (Some(f), Some(name)) => f.inner.has_feature(name),
            _ => false,
        }
    })
}

/// The id of the lease held now; 0 when none is (never checked out, released, or lost and not
/// yet checked out again) or `f` is NULL.
///
/// # Safety
///
/// `f` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn tollgate_floating_lease_id(f: *const tollgate_floating) -> u64 {
    value_boundary(0, || {
        // SAFETY: the caller's guarantee on `f`.
        match unsafe { f.as_ref() } {
            Some(f) => f.inner.lease_id(),
            None => 0,
        }
    })
}

/// Stops the heartbeats and releases the lease at the server, so its seats go to the next
/// client. `TOLLGATE_OK` when no lease is held. The lease is dropped whatever happens; when the
/// release cannot be delivered (`TOLLGATE_ERR_SERVICE_UNREACHABLE`, …) the server reclaims
/// the seats when the lease ends.
///
/// # Safety
///
/// `f` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn tollgate_floating_release(f: *const tollgate_floating) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantee on `f`.
        let f = unsafe { arg_ref(f) }?;
        f.inner.release()?;
        Ok(())
    })
}
