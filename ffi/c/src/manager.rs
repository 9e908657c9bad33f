//! `tollgate_manager`: licensing for one product on one host, over
//! [`tollgate_sdk::LicenseManager`]; and `tollgate_verify_usage_license`, which needs no state.

use std::ffi::c_char;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tollgate_sdk::online::CallScope;
use tollgate_sdk::tollgate_core::MeterPeriod;
use tollgate_sdk::{
    CachedClock, Clock, FeatureGate, LicenseManager, LicenseState, MeterReading, Status,
};

use crate::boundary::{
    arg_bytes, arg_out, arg_ref, arg_str, result_boundary, value_boundary, TextOut,
};
use crate::clock::tollgate_clock;
use crate::config::{config_ref, tollgate_config};
use crate::error::{tollgate_result, Failure, TOLLGATE_NOT_FOUND, TOLLGATE_POISONED};
use crate::events::ManagerWatch;

/// State: nothing installed, nothing requested.
pub const TOLLGATE_STATE_UNLICENSED: u32 = 0;
/// State: a usage request was made; its usage license has not been installed yet.
pub const TOLLGATE_STATE_PENDING: u32 = 1;
/// State: a usage license is installed and valid now.
pub const TOLLGATE_STATE_ACTIVE: u32 = 2;
/// State: the installed license's validity has not started yet.
pub const TOLLGATE_STATE_NOT_YET_VALID: u32 = 3;
/// State: the installed license has expired.
pub const TOLLGATE_STATE_EXPIRED: u32 = 4;
/// State: the installed online or floating activation was not refreshed in time.
pub const TOLLGATE_STATE_REFRESH_OVERDUE: u32 = 5;
/// State: the installed license is bound to a machine this host no longer resembles enough.
pub const TOLLGATE_STATE_FINGERPRINT_MISMATCH: u32 = 6;
/// State: the clock was set back; nothing is licensed until it is corrected.
pub const TOLLGATE_STATE_CLOCK_ROLLBACK: u32 = 7;
/// State: the installed license cannot be used (see `error_code`).
pub const TOLLGATE_STATE_INVALID: u32 = 8;

/// Deployment model: none (no license).
pub const TOLLGATE_MODEL_NONE: u32 = 0;
/// Deployment model: online activation.
pub const TOLLGATE_MODEL_ONLINE: u32 = 1;
/// Deployment model: offline (air-gapped) activation.
pub const TOLLGATE_MODEL_OFFLINE: u32 = 2;
/// Deployment model: floating lease.
pub const TOLLGATE_MODEL_FLOATING: u32 = 4;
/// Deployment model: a cloud marketplace instance, activated online from its signed instance
/// identity (`tollgate_marketplace_start`).
pub const TOLLGATE_MODEL_MARKETPLACE: u32 = 8;

/// Meter period: a UTC calendar day.
pub const TOLLGATE_PERIOD_DAY: u32 = 1;
/// Meter period: a UTC calendar month.
pub const TOLLGATE_PERIOD_MONTH: u32 = 2;
/// Meter period: a UTC calendar year.
pub const TOLLGATE_PERIOD_YEAR: u32 = 3;

/// The license status as numbers; `tollgate_manager_status_json` has everything (names,
/// dates, features, warnings, messages). Times are Unix seconds (UTC).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct tollgate_status {
    /// The overall state, a `TOLLGATE_STATE_…` value.
    pub state: u32,
    /// Why the state is not active: a result code, or 0 (active, unlicensed or pending).
    pub error_code: tollgate_result,
    /// Whether a usage request is waiting for its usage license.
    pub pending_request: bool,
    /// Whether a usage license is installed and its signature verifies; the fields below are
    /// 0 when not.
    pub has_license: bool,
    /// The license id (quote it to the vendor).
    pub license_id: u64,
    /// The license revision.
    pub revision: u32,
    /// The deployment model, a `TOLLGATE_MODEL_…` value.
    pub deployment_model: u32,
    /// The activation (seat) id.
    pub activation_id: u64,
    /// First second of validity (0 when unbounded).
    pub valid_from: u64,
    /// First second past validity (`UINT64_MAX` when unbounded).
    pub valid_until: u64,
    /// Refresh deadline of an online or floating activation (`UINT64_MAX` when none).
    pub refresh_deadline: u64,
    /// Number of features in the license.
    pub feature_count: u32,
    /// Number of those usable now.
    pub active_feature_count: u32,
    /// Number of warnings (see the JSON status for their text).
    pub warning_count: u32,
    /// Licensed fingerprint components present on this host.
    pub fingerprint_matched: u32,
    /// Fingerprint components the license lists.
    pub fingerprint_licensed: u32,
    /// Fingerprint components that must match.
    pub fingerprint_required: u32,
}

/// A metered feature's usage in its current period.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct tollgate_meter_reading {
    /// The period, a `TOLLGATE_PERIOD_…` value (UTC calendar periods).
    pub period: u32,
    /// First second of the current period.
    pub period_start: u64,
    /// First second of the next period.
    pub period_end: u64,
    /// Units used in the current period.
    pub used: u64,
    /// Units allowed per period.
    pub quota: u64,
    /// Units left in the current period.
    pub remaining: u64,
}

/// Licensing for one product on one host: makes usage requests, installs usage licenses,
/// answers feature checks, counts metered usage, deactivates. Its state lives in a state
/// directory, locked while the manager is open.
///
/// Opened with `tollgate_manager_open` (or `_open_with_clock`), freed with
/// `tollgate_manager_free`.
///
/// Thread safety: every function may be called from any thread, concurrently.
/// `tollgate_manager_has_feature` and `_has_feature_at` never wait: they take no lock and
/// write no shared memory except to raise the clock high-water mark (about once a second),
/// so any number of threads can check features while another installs
/// a license. The other functions taking a `const tollgate_manager *` (status, meters,
/// check) run in parallel with each other; those taking a `tollgate_manager *` (request,
/// install, record usage, refresh, deactivate) run one at a time and wait for them.
/// `tollgate_manager_free` must not run concurrently with anything else on the same manager.
///
/// `fork()`: a manager opened before `fork()` works in the child (this is how a broker such
/// as Mosquitto daemonises). The library registers a `pthread_atfork` child handler; in the
/// child the cached clock reads the system clock directly and starts a new refresher thread,
/// so time, expiries and clock-rollback detection go on, and `tollgate_manager_free` in the
/// child is clean. The rules: fork while no other thread is inside a Tollgate call (as for any
/// library with locks); afterwards use the manager in one process only (the usual daemon: the
/// parent exits or frees its handle without using it), since parent and child share the state
/// directory's lock and would both write the state; a floating client's renewal thread does
/// not survive `fork()` (check out after forking).
pub struct tollgate_manager {
    pub(crate) inner: RwLock<LicenseManager>,
    /// The manager's feature checks, read without the lock.
    gate: Arc<FeatureGate>,
    /// The online calls in flight, cancelled by `tollgate_manager_free`.
    pub(crate) calls: CallScope,
    /// The license event watch (`tollgate_manager_watch`), stopped by `tollgate_manager_free`.
    pub(crate) watch: Mutex<Option<ManagerWatch>>,
}

/// # Safety
///
/// `m` is NULL or a live manager.
unsafe fn read<'a>(
    m: *const tollgate_manager,
) -> Result<RwLockReadGuard<'a, LicenseManager>, Failure> {
    // SAFETY: forwarded from the caller.
    let m = unsafe { arg_ref(m) }?;
    m.inner.read().map_err(|_| Failure::code(TOLLGATE_POISONED))
}

/// # Safety
///
/// `m` is NULL or a live manager.
unsafe fn write<'a>(
    m: *mut tollgate_manager,
) -> Result<RwLockWriteGuard<'a, LicenseManager>, Failure> {
    // SAFETY: forwarded from the caller.
    let m = unsafe { arg_ref(m.cast_const()) }?;
    m.inner
        .write()
        .map_err(|_| Failure::code(TOLLGATE_POISONED))
}

pub(crate) fn state_code(s: LicenseState) -> u32 {
    match s {
        LicenseState::Unlicensed => TOLLGATE_STATE_UNLICENSED,
        LicenseState::Pending => TOLLGATE_STATE_PENDING,
        LicenseState::Active => TOLLGATE_STATE_ACTIVE,
        LicenseState::NotYetValid => TOLLGATE_STATE_NOT_YET_VALID,
        LicenseState::Expired => TOLLGATE_STATE_EXPIRED,
        LicenseState::RefreshOverdue => TOLLGATE_STATE_REFRESH_OVERDUE,
        LicenseState::FingerprintMismatch => TOLLGATE_STATE_FINGERPRINT_MISMATCH,
        LicenseState::ClockRollback => TOLLGATE_STATE_CLOCK_ROLLBACK,
        LicenseState::Invalid => TOLLGATE_STATE_INVALID,
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `status` of manager `m` as the C struct.
pub(crate) fn c_status(m: &LicenseManager, status: &Status) -> tollgate_status {
    let mut out = tollgate_status {
        state: state_code(status.state),
        error_code: status.error.as_ref().map_or(0, |e| e.code),
        pending_request: status.pending_request,
        warning_count: count(status.warnings.len()),
        ..tollgate_status::default()
    };
    if let (Some(info), Some(license)) = (&status.license, m.installed_license()) {
        let terms = license.terms();
        let (from, until) = terms.validity();
        out.has_license = true;
        out.license_id = terms.grant.license_id;
        out.revision = terms.grant.revision;
        out.deployment_model = if info.deployment_model == tollgate_sdk::status::MARKETPLACE_MODEL {
            TOLLGATE_MODEL_MARKETPLACE
        } else {
            u32::from(terms.model.bit())
        };
        out.activation_id = terms.activation_id;
        out.valid_from = from;
        out.valid_until = until;
        out.refresh_deadline = terms.refresh_deadline.unwrap_or(u64::MAX);
        out.feature_count = count(info.features.len());
        out.active_feature_count = count(info.features.iter().filter(|f| f.active).count());
        out.fingerprint_matched = count(info.fingerprint.matched);
        out.fingerprint_licensed = count(info.fingerprint.licensed);
        out.fingerprint_required = count(info.fingerprint.required);
    }
    out
}

fn c_reading(r: &MeterReading) -> tollgate_meter_reading {
    tollgate_meter_reading {
        period: match MeterPeriod::from_name(r.period) {
            Some(MeterPeriod::Day) => TOLLGATE_PERIOD_DAY,
            Some(MeterPeriod::Month) => TOLLGATE_PERIOD_MONTH,
            Some(MeterPeriod::Year) => TOLLGATE_PERIOD_YEAR,
            None => 0,
        },
        period_start: r.period_start,
        period_end: r.period_end,
        used: r.used,
        quota: r.quota,
        remaining: r.remaining,
    }
}

/// A feature name argument for the hot path: `None` when NULL or not UTF-8. ASCII (every
/// feature name is) skips the full UTF-8 validation.
///
/// # Safety
///
/// `name` is NULL or valid for `len` bytes for `'a`.
#[inline]
pub(crate) unsafe fn feature_name<'a>(name: *const c_char, len: usize) -> Option<&'a str> {
    // SAFETY: forwarded from the caller.
    let bytes = unsafe { arg_bytes(name.cast(), len) }.ok()?;
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// # Safety
///
/// As for `tollgate_manager_open_with_clock`.
unsafe fn open(
    config: *const tollgate_config,
    state_dir: *const c_char,
    state_dir_len: usize,
    clock: Arc<dyn Clock>,
    out: *mut *mut tollgate_manager,
) -> Result<(), Failure> {
    let out = arg_out(out)?;
    // SAFETY: the caller's guarantees on `config` and (`state_dir`, `state_dir_len`).
    let (config, dir) = unsafe {
        (
            config_ref(config)?,
            arg_bytes(state_dir.cast(), state_dir_len)?,
        )
    };
    #[cfg(unix)]
    let dir = Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(dir));
    #[cfg(not(unix))]
    let dir = Path::new(
        std::str::from_utf8(dir).map_err(|_| Failure::code(crate::error::TOLLGATE_INVALID_UTF8))?,
    );
    let inner = LicenseManager::open_with_clock(config.clone(), dir, clock)?;
    let m = Box::new(tollgate_manager {
        gate: inner.feature_gate(),
        inner: RwLock::new(inner),
        calls: CallScope::new(),
        watch: Mutex::new(None),
    });
    // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
    unsafe { out.write(Box::into_raw(m)) };
    Ok(())
}

/// Opens the license state in the directory `state_dir` (created with mode 0700 if needed;
/// locked until the manager is freed) for the product `config` describes, with the system
/// clock. `config` is copied.
///
/// The clock is read through a cache that a background thread refreshes every 100 ms, so
/// that feature checks cost nanoseconds; freeing the manager stops the thread. The manager
/// may be used in a `fork()` child (see `tollgate_manager`).
///
/// An empty `state_dir` (`state_dir_len` 0) fails with `TOLLGATE_ERR_INVALID_ARGUMENT` before
/// anything is created.
///
/// Fails with `TOLLGATE_ERR_STATE_LOCKED` (another manager or process has the directory),
/// `TOLLGATE_ERR_STORAGE`, `TOLLGATE_ERR_CORRUPT_STATE`, `TOLLGATE_ERR_UNSUPPORTED_STATE_VERSION`,
/// a configuration error (`TOLLGATE_ERR_INVALID_ARGUMENT`, `TOLLGATE_ERR_BAD_PUBLIC_KEY`),
/// `TOLLGATE_NULL_ARGUMENT`. A license that no longer verifies does not make it fail: the
/// status says why.
///
/// # Safety
///
/// `config` is NULL or a live configuration; `state_dir` is NULL or valid for
/// `state_dir_len` bytes (a path; UTF-8 is not required on Unix); `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_open(
    config: *const tollgate_config,
    state_dir: *const c_char,
    state_dir_len: usize,
    out: *mut *mut tollgate_manager,
) -> tollgate_result {
    result_boundary(|| {
        // Checked before the clock's thread is started.
        arg_out(out)?;
        // SAFETY: forwarded from the caller.
        unsafe { config_ref(config)? };
        crate::clock::watch_forks();
        let clock: Arc<dyn Clock> = Arc::new(CachedClock::new());
        // SAFETY: forwarded from the caller.
        unsafe { open(config, state_dir, state_dir_len, clock, out) }
    })
}

/// `tollgate_manager_open` with a manual clock (`tollgate_clock_new_manual`): for tests and
/// simulations. The manager keeps its own reference to the clock.
///
/// # Safety
///
/// As `tollgate_manager_open`; `clock` is NULL or a live clock.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_open_with_clock(
    config: *const tollgate_config,
    state_dir: *const c_char,
    state_dir_len: usize,
    clock: *const tollgate_clock,
    out: *mut *mut tollgate_manager,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantee on `clock`.
        let clock: Arc<dyn Clock> = unsafe { arg_ref(clock) }?.inner.clone();
        // SAFETY: forwarded from the caller.
        unsafe { open(config, state_dir, state_dir_len, clock, out) }
    })
}

/// Frees a manager and unlocks its state directory. NULL is ignored.
///
/// Online calls (`tollgate_online_activate`, `_reactivate`, `_deactivate`) that other threads
/// have in flight on `m`, waiting for a service, are cancelled: `tollgate_manager_free`
/// returns as soon as each has returned `TOLLGATE_ERR_CANCELLED` (240) having changed nothing
/// (milliseconds, not the network timeout), and only then frees the manager.
///
/// # Safety
///
/// `m` is NULL or a manager from this library that is not used afterwards, and that no other
/// thread uses except from inside online calls already in flight (a call that starts while
/// `tollgate_manager_free` runs is a use after free).
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_free(m: *mut tollgate_manager) {
    value_boundary((), || {
        if !m.is_null() {
            // SAFETY: `m` is a live manager until the box is dropped below.
            let live = unsafe { &*m };
            let watch = live
                .watch
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            crate::events::stop(watch);
            live.calls.close("the manager was freed");
            // SAFETY: `m` came from `Box::into_raw` in this library and is not used again.
            drop(unsafe { Box::from_raw(m) });
        }
    })
}

/// Makes a usage request for the license key `key` (as the customer typed it: case, dashes
/// and spaces do not matter) and writes its armored text (`TGRQ:…`, to send to the vendor)
/// into `buf`. Each request supersedes the earlier ones.
///
/// `buf_len` must be at least `TOLLGATE_MAX_ARTIFACT_LEN`; otherwise nothing is done and the
/// call fails with `TOLLGATE_BUFFER_TOO_SMALL`, `*out_len` = `TOLLGATE_MAX_ARTIFACT_LEN`. On
/// success `*out_len` is the text's length (without the NUL).
///
/// Fails with `TOLLGATE_ERR_KEY_FORMAT`, `TOLLGATE_ERR_KEY_CHECKSUM` (a typo),
/// `TOLLGATE_ERR_ALREADY_ACTIVATED`, `TOLLGATE_ERR_CLOCK_ROLLBACK`, `TOLLGATE_ERR_FINGERPRINT`,
/// `TOLLGATE_ERR_LIMIT_EXCEEDED`, `TOLLGATE_ERR_ENTROPY`, `TOLLGATE_ERR_STORAGE`, or an
/// argument code.
///
/// # Safety
///
/// `m` is NULL or a live manager; `key` is NULL or valid for `key_len` bytes; `buf` is valid
/// for `buf_len` writable bytes (NULL only with `buf_len` 0); `out_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_request_usage(
    m: *mut tollgate_manager,
    key: *const c_char,
    key_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantee on (`key`, `key_len`).
        let key = unsafe { arg_str(key, key_len) }?;
        let out = TextOut::for_artifact(buf, buf_len, out_len)?;
        // SAFETY: the caller's guarantee on `m`.
        let request = unsafe { write(m) }?.request_usage(key)?;
        // SAFETY: the caller's guarantees on the output buffer.
        unsafe { out.write(&request) }
    })
}

/// Makes a new usage request for the activation this host already has, without the license
/// key (the offline upgrade round trip), like `tollgate_manager_request_usage`.
///
/// Fails with `TOLLGATE_ERR_NOT_ACTIVATED` when this host never made a request (or deactivated
/// since), and otherwise like `tollgate_manager_request_usage`.
///
/// # Safety
///
/// As `tollgate_manager_request_usage`.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_request_renewal(
    m: *mut tollgate_manager,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> tollgate_result {
    result_boundary(|| {
        let out = TextOut::for_artifact(buf, buf_len, out_len)?;
        // SAFETY: the caller's guarantee on `m`.
        let request = unsafe { write(m) }?.request_renewal()?;
        // SAFETY: the caller's guarantees on the output buffer.
        unsafe { out.write(&request) }
    })
}

/// Writes the armored text of the pending usage request into `buf`, to show it again.
///
/// Fails with `TOLLGATE_NOT_FOUND` when no request is pending, `TOLLGATE_BUFFER_TOO_SMALL`
/// (`*out_len` = size needed, including the NUL), or an argument code.
///
/// # Safety
///
/// `m` is NULL or a live manager; `buf` is valid for `buf_len` writable bytes (NULL only with
/// `buf_len` 0); `out_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_pending_request(
    m: *const tollgate_manager,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> tollgate_result {
    result_boundary(|| {
        let out = TextOut::new(buf, buf_len, out_len)?;
        // SAFETY: the caller's guarantee on `m`.
        let m = unsafe { read(m) }?;
        let text = m
            .pending_request()
            .ok_or_else(|| Failure::code(TOLLGATE_NOT_FOUND))?;
        // SAFETY: the caller's guarantees on the output buffer.
        unsafe { out.write(text) }
    })
}

/// Installs a usage license (`TGUL:…`) from the vendor and writes the new status to `*out`.
/// Installing the license that is already installed changes nothing and succeeds.
///
/// Fails, changing nothing, with `TOLLGATE_ERR_CLOCK_ROLLBACK`, `TOLLGATE_ERR_FINGERPRINT`, the
/// verdict on the artifact (100–116: damaged, forged, unknown vendor key, wrong product,
/// another machine, not yet valid, expired…), `TOLLGATE_ERR_DEACTIVATED`,
/// `TOLLGATE_ERR_NO_PENDING_REQUEST`, `TOLLGATE_ERR_WRONG_DEVICE`,
/// `TOLLGATE_ERR_SUPERSEDED_REQUEST`, `TOLLGATE_ERR_UNKNOWN_REQUEST`, `TOLLGATE_ERR_STORAGE`, or
/// an argument code.
///
/// # Safety
///
/// `m` is NULL or a live manager; `text` is NULL or valid for `text_len` bytes; `out` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_install(
    m: *mut tollgate_manager,
    text: *const c_char,
    text_len: usize,
    out: *mut tollgate_status,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantee on (`text`, `text_len`).
        let text = unsafe { arg_str(text, text_len) }?;
        // SAFETY: the caller's guarantee on `m`.
        let mut m = unsafe { write(m) }?;
        let status = m.install(text)?;
        let c = c_status(&m, &status);
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(c) };
        Ok(())
    })
}

/// Writes the status now to `*out`.
///
/// # Safety
///
/// `m` is NULL or a live manager; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_status(
    m: *const tollgate_manager,
    out: *mut tollgate_status,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantee on `m`.
        let m = unsafe { read(m) }?;
        let c = c_status(&m, &m.status());
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(c) };
        Ok(())
    })
}

/// Writes the status now as compact JSON into `buf`: what a status page shows (state,
/// product, the license with its features, meters and dates, warnings, the error). The shape
/// is documented in `bindings/c/README.md`.
///
/// Fails with `TOLLGATE_BUFFER_TOO_SMALL` (`*out_len` = size needed, including the NUL; the
/// status may grow by a few bytes before the next call) or an argument code.
///
/// # Safety
///
/// `m` is NULL or a live manager; `buf` is valid for `buf_len` writable bytes (NULL only with
/// `buf_len` 0); `out_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_status_json(
    m: *const tollgate_manager,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> tollgate_result {
    result_boundary(|| {
        let out = TextOut::new(buf, buf_len, out_len)?;
        // SAFETY: the caller's guarantee on `m`.
        let text = json(&unsafe { read(m) }?.status());
        // SAFETY: the caller's guarantees on the output buffer.
        unsafe { out.write(&text) }
    })
}

/// Whether feature `name` is usable now: a license is installed and verified for this host,
/// the clock was not set back, the license is within its validity, and the feature exists and
/// has not expired. No I/O, no allocation: cheap enough for every connection or message.
///
/// A clock reading later than the high-water mark raises the mark (lock-free), so a clock set
/// back beyond the tolerance while the program runs makes the next check false and
/// `tollgate_manager_status` report `TOLLGATE_STATE_CLOCK_ROLLBACK`, without a refresh.
///
/// A metered feature whose quota for the period is used up is still usable here (true): the
/// check says whether the feature is licensed, and the quota is enforced only by
/// `tollgate_manager_record_usage` (`TOLLGATE_ERR_QUOTA_EXCEEDED`); read what is left with
/// `tollgate_manager_meter`. Rust and Java answer the same.
///
/// False also when an argument is NULL or not UTF-8.
///
/// # Safety
///
/// `m` is NULL or a live manager; `name` is NULL or valid for `name_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_has_feature(
    m: *const tollgate_manager,
    name: *const c_char,
    name_len: usize,
) -> bool {
    value_boundary(false, || {
        // SAFETY: the caller's guarantees on `m` and (`name`, `name_len`).
        match unsafe { (m.as_ref(), feature_name(name, name_len)) } {
            (Some(m), Some(name)) => m.gate.has_feature(name),
            _ => false,
        }
    })
}

/// `tollgate_manager_has_feature` at the time `now` (Unix seconds) instead of the clock's:
/// for hosts that already know the time.
///
/// # Safety
///
/// As `tollgate_manager_has_feature`.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_has_feature_at(
    m: *const tollgate_manager,
    name: *const c_char,
    name_len: usize,
    now: u64,
) -> bool {
    value_boundary(false, || {
        // SAFETY: the caller's guarantees on `m` and (`name`, `name_len`).
        match unsafe { (m.as_ref(), feature_name(name, name_len)) } {
            (Some(m), Some(name)) => m.gate.has_feature_at(name, now),
            _ => false,
        }
    })
}

/// `TOLLGATE_OK` when a license is installed and active now; otherwise why not
/// (`TOLLGATE_ERR_NOT_ACTIVATED`, `TOLLGATE_ERR_CLOCK_ROLLBACK`, `TOLLGATE_ERR_EXPIRED`,
/// `TOLLGATE_ERR_FINGERPRINT_MISMATCH`, …).
///
/// # Safety
///
/// `m` is NULL or a live manager.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_check(m: *const tollgate_manager) -> tollgate_result {
    result_boundary(|| {
        // SAFETY: the caller's guarantee on `m`.
        unsafe { read(m) }?.check()?;
        Ok(())
    })
}

/// Records `units` of use of the metered feature `name` in the current UTC period (durably)
/// and writes the new reading to `*out`.
///
/// Fails, recording nothing, with `TOLLGATE_ERR_QUOTA_EXCEEDED`, `TOLLGATE_ERR_UNKNOWN_FEATURE`,
/// `TOLLGATE_ERR_NOT_METERED`, the reason the license is not active
/// (`TOLLGATE_ERR_NOT_ACTIVATED`, `TOLLGATE_ERR_EXPIRED`, …), `TOLLGATE_ERR_STORAGE`, or an
/// argument code.
///
/// # Safety
///
/// `m` is NULL or a live manager; `name` is NULL or valid for `name_len` bytes; `out` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_record_usage(
    m: *mut tollgate_manager,
    name: *const c_char,
    name_len: usize,
    units: u64,
    out: *mut tollgate_meter_reading,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantee on (`name`, `name_len`).
        let name = unsafe { arg_str(name, name_len) }?;
        // SAFETY: the caller's guarantee on `m`.
        let r = unsafe { write(m) }?.record_usage(name, units)?;
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(c_reading(&r)) };
        Ok(())
    })
}

/// Cuts the metered usage accrued since the last report into signed usage reports (durably)
/// and returns the usage journal in `*out`: every report the vendor has not acknowledged yet,
/// as text (`core/SPEC.md` §10c.3: a `#` comment line, then one `TGUR:…` report a line), for
/// an offline host to hand to the vendor with its next usage request or deactivation code.
/// Only the comment line when there is nothing to report.
///
/// `*out` is a NUL-terminated string owned by the caller: free it with `tollgate_string_free`.
/// It has no fixed size limit (up to 4096 reports of at most 1380 characters), which is why
/// this call allocates instead of filling a caller's buffer.
///
/// Fails with `TOLLGATE_ERR_STORAGE` (nothing cut, `*out` untouched) or an argument code.
///
/// # Safety
///
/// `m` is NULL or a live manager; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_usage_journal(
    m: *mut tollgate_manager,
    out: *mut *mut c_char,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantee on `m`.
        let text = unsafe { write(m) }?.usage_journal()?;
        let text = std::ffi::CString::new(text)
            .map_err(|_| Failure::invalid("the journal holds a NUL byte"))?;
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(text.into_raw()) };
        Ok(())
    })
}

/// Frees a string that a Tollgate call returned as owned by the caller
/// (`tollgate_manager_usage_journal`). NULL is ignored.
///
/// # Safety
///
/// `s` is NULL or a string returned by Tollgate and not freed yet.
#[no_mangle]
pub unsafe extern "C" fn tollgate_string_free(s: *mut c_char) {
    value_boundary((), || {
        if !s.is_null() {
            // SAFETY: the caller guarantees `s` came from `CString::into_raw` here, once.
            drop(unsafe { std::ffi::CString::from_raw(s) });
        }
    })
}

/// Writes the current reading of the metered feature `name` to `*out`, recording nothing. The
/// quota is what the license allows per period.
///
/// Fails like `tollgate_manager_record_usage` (except for the quota and storage).
///
/// # Safety
///
/// As `tollgate_manager_record_usage`.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_meter(
    m: *const tollgate_manager,
    name: *const c_char,
    name_len: usize,
    out: *mut tollgate_meter_reading,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantee on (`name`, `name_len`).
        let name = unsafe { arg_str(name, name_len) }?;
        // SAFETY: the caller's guarantee on `m`.
        let r = unsafe { read(m) }?.meter(name)?;
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(c_reading(&r)) };
        Ok(())
    })
}

/// Probes the fingerprint again, re-verifies the installed license (after a hardware change,
/// or periodically), advances the clock high-water mark, and writes the status to `*out`.
///
/// Fails with `TOLLGATE_ERR_STORAGE` when the high-water mark cannot be stored, or an argument
/// code.
///
/// # Safety
///
/// `m` is NULL or a live manager; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_refresh(
    m: *mut tollgate_manager,
    out: *mut tollgate_status,
) -> tollgate_result {
    result_boundary(|| {
        let out = arg_out(out)?;
        // SAFETY: the caller's guarantee on `m`.
        let mut m = unsafe { write(m) }?;
        let status = m.refresh()?;
        let c = c_status(&m, &status);
        // SAFETY: `out` is non-NULL; the caller guarantees it is writable.
        unsafe { out.write(c) };
        Ok(())
    })
}

/// Deactivates: removes the installed license for good and writes the deactivation code
/// (`TGDC:…`) into `buf`, for the vendor, who frees the seat with it. Works also when the
/// license has expired, the clock was set back or the hardware changed.
///
/// `buf_len` must be at least `TOLLGATE_MAX_ARTIFACT_LEN`, as for
/// `tollgate_manager_request_usage`; the code can be shown again with
/// `tollgate_manager_last_deactivation_code`.
///
/// Fails with `TOLLGATE_ERR_NOT_ACTIVATED` when nothing is installed, the reason when the
/// installed license's signature no longer verifies, `TOLLGATE_ERR_STORAGE`, or an argument
/// code.
///
/// # Safety
///
/// As `tollgate_manager_request_renewal`.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_deactivate(
    m: *mut tollgate_manager,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> tollgate_result {
    result_boundary(|| {
        let out = TextOut::for_artifact(buf, buf_len, out_len)?;
        // SAFETY: the caller's guarantee on `m`.
        let code = unsafe { write(m) }?.deactivate()?;
        // SAFETY: the caller's guarantees on the output buffer.
        unsafe { out.write(&code) }
    })
}

/// Writes the code of the last deactivation on this host into `buf`, to show it again.
///
/// Fails with `TOLLGATE_NOT_FOUND` when this host never deactivated,
/// `TOLLGATE_BUFFER_TOO_SMALL`, or an argument code.
///
/// # Safety
///
/// As `tollgate_manager_pending_request`.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_last_deactivation_code(
    m: *const tollgate_manager,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> tollgate_result {
    result_boundary(|| {
        let out = TextOut::new(buf, buf_len, out_len)?;
        // SAFETY: the caller's guarantee on `m`.
        let m = unsafe { read(m) }?;
        let text = m
            .last_deactivation_code()
            .ok_or_else(|| Failure::code(TOLLGATE_NOT_FOUND))?;
        // SAFETY: the caller's guarantees on the output buffer.
        unsafe { out.write(text) }
    })
}

/// Writes the host's fingerprint as compact JSON into `buf`: the component kinds and salted
/// digests (never the raw identifiers) and how they match the installed license, for support.
///
/// Fails with `TOLLGATE_ERR_FINGERPRINT` when it could not be collected,
/// `TOLLGATE_BUFFER_TOO_SMALL`, or an argument code.
///
/// # Safety
///
/// As `tollgate_manager_pending_request`.
#[no_mangle]
pub unsafe extern "C" fn tollgate_manager_fingerprint_json(
    m: *const tollgate_manager,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> tollgate_result {
    result_boundary(|| {
        let out = TextOut::new(buf, buf_len, out_len)?;
        // SAFETY: the caller's guarantee on `m`.
        let text = json(&unsafe { read(m) }?.fingerprint_report()?);
        // SAFETY: the caller's guarantees on the output buffer.
        unsafe { out.write(&text) }
    })
}

/// Verifies a usage license for this host without any state (before installing it, or in a
/// support tool): signed by one of the configuration's vendor keys, for its product, matching
/// this host's fingerprint (probed as the configuration says) and valid at `now` (Unix
/// seconds). On success writes what a status page shows about it as compact JSON into `buf`
/// (the `license` object of the status JSON, without meter counts).
///
/// Fails with the verdict (100–116), a configuration error (`TOLLGATE_ERR_INVALID_ARGUMENT`,
/// `TOLLGATE_ERR_BAD_PUBLIC_KEY`), `TOLLGATE_ERR_FINGERPRINT`, `TOLLGATE_BUFFER_TOO_SMALL`, or
/// an argument code.
///
/// # Safety
///
/// `config` is NULL or a live configuration; `text` is NULL or valid for `text_len` bytes;
/// `buf` is valid for `buf_len` writable bytes (NULL only with `buf_len` 0); `out_len` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_verify_usage_license(
    config: *const tollgate_config,
    text: *const c_char,
    text_len: usize,
    now: u64,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> tollgate_result {
    result_boundary(|| {
        let out = TextOut::new(buf, buf_len, out_len)?;
        // SAFETY: the caller's guarantees on `config` and (`text`, `text_len`).
        let (config, text) = unsafe { (config_ref(config)?, arg_str(text, text_len)?) };
        let info = tollgate_sdk::verify_usage_license(config, text, now)?;
        // SAFETY: the caller's guarantees on the output buffer.
        unsafe { out.write(&json(&info)) }
    })
}
