//! The native methods of `dev.tollgate.Native`, one per `LicenseManager` or `FloatingClient` operation.
//!
//! Every function here has the same shape: `EnvUnowned::with_env` (which catches panics) around
//! a body that converts the arguments, makes one call into `tollgate_sdk` and converts the
//! result; `resolve::<ThrowJava>()` turns an error or a panic into a pending Java exception.
//!
//! The unsafe code of the crate is here and only here: the `#[no_mangle]` exports the JVM
//! resolves `native` methods by, the two conversions between a handle (`long`) and the boxed
//! value it points to, and the allocation-free fast path of `hasFeature`.
#![allow(unsafe_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use jni::objects::{JByteArray, JClass, JIntArray, JObject, JObjectArray, JString};
use jni::refs::Reference;
use jni::sys::{jboolean, jint, jlong};
use jni::{Env, EnvUnowned};
use tollgate_sdk::gate::FeatureGate;
use tollgate_sdk::online::{OnlineClient, OnlineConfig};
use tollgate_sdk::{
    all_errors, error_info, verify_usage_license, CachedClock, Clock, FloatingClient,
    FloatingConfig, FloatingLease, HostConfig, LicenseManager, ManualClock, SystemClock,
};

use crate::convert::{self, jlong_of, string, unsigned, ConfigArgs};
use crate::error::{invalid, BridgeError, Result, ThrowJava};

/// What a manager handle points to. The box lives until the Java object's `Cleaner` frees it,
/// so a handle is never dangling while its Java object is reachable.
struct ManagerCell {
    /// The manager; `None` once closed.
    manager: RwLock<Option<LicenseManager>>,
    /// The manager's lock-free feature checks (`hasFeature` never waits for an operation).
    gate: Arc<FeatureGate>,
    /// Set by `close`, before the manager is dropped.
    closed: AtomicBool,
}

/// `Native.CLOCK_SYSTEM`, `CLOCK_CACHED` and `CLOCK_MANUAL`.
const CLOCK_SYSTEM: jint = 0;
const CLOCK_CACHED: jint = 1;
const CLOCK_MANUAL: jint = 2;

fn into_handle<T>(value: T) -> jlong {
    Box::into_raw(Box::new(value)) as jlong
}

/// The value behind a handle made by [`into_handle`], or `Closed` for the null handle.
fn borrow_handle<'a, T>(handle: jlong) -> Result<&'a T> {
    let ptr = handle as *const T;
    // SAFETY: a non-zero handle is a pointer made by `into_handle::<T>` (the Java classes pass
    // only their own handle of the right type) and is freed only by `free_handle`, which the Java
    // side calls from its `Cleaner` once the owning object is unreachable, i.e. after every call
    // that passed the handle has returned (each call keeps its object reachable with
    // `Reference.reachabilityFence`).
    unsafe { ptr.as_ref() }.ok_or(BridgeError::Closed)
}

fn free_handle<T>(handle: jlong) {
    if handle != 0 {
        // SAFETY: see `borrow_handle`; the `Cleaner` runs its action exactly once.
        drop(unsafe { Box::from_raw(handle as *mut T) });
    }
}

/// Runs `f` on the open manager under the read lock (queries run concurrently).
fn read<T>(handle: jlong, f: impl FnOnce(&LicenseManager) -> Result<T>) -> Result<T> {
    let cell: &ManagerCell = borrow_handle(handle)?;
    // A panic inside the runtime leaves its state as it was before the operation (every change
    // is committed at once), so a poisoned lock is still safe to use.
    let guard = cell.manager.read().unwrap_or_else(PoisonError::into_inner);
    f(guard.as_ref().ok_or(BridgeError::Closed)?)
}

/// Runs `f` on the open manager under the write lock (changes are serialized).
fn write<T>(handle: jlong, f: impl FnOnce(&mut LicenseManager) -> Result<T>) -> Result<T> {
    let cell: &ManagerCell = borrow_handle(handle)?;
    let mut guard = cell.manager.write().unwrap_or_else(PoisonError::into_inner);
    f(guard.as_mut().ok_or(BridgeError::Closed)?)
}

fn new_string<'local>(env: &mut Env<'local>, s: &str) -> Result<JString<'local>> {
    Ok(env.new_string(s)?)
}

fn opt_string<'local>(env: &mut Env<'local>, s: Option<String>) -> Result<JString<'local>> {
    match s {
        Some(s) => new_string(env, &s),
        None => Ok(JString::null()),
    }
}

// -- LicenseManager ---------------------------------------------------------------------------

/// `long managerOpen(String stateDir, <HostConfig fields>, int clockKind, long manualClock)`
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_dev_tollgate_Native_managerOpen<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    state_dir: JString<'l>,
    product: JString<'l>,
    product_version: JString<'l>,
    salt: JByteArray<'l>,
    vendor_keys: JObjectArray<'l, JByteArray<'l>>,
    component_kinds: JIntArray<'l>,
    component_values: JObjectArray<'l, JByteArray<'l>>,
    probes: jboolean,
    rollback_tolerance_secs: jlong,
    warn_days: jint,
    clock_kind: jint,
    manual_clock: jlong,
) -> jlong {
    env.with_env(|env| -> Result<jlong> {
        let config = ConfigArgs {
            product: &product,
            product_version: &product_version,
            salt: &salt,
            vendor_keys: &vendor_keys,
            component_kinds: &component_kinds,
            component_values: &component_values,
            probes,
            rollback_tolerance_secs,
            warn_days,
        }
        .to_config(env)?;
        let clock: Arc<dyn Clock> = match clock_kind {
            CLOCK_SYSTEM => Arc::new(SystemClock),
            CLOCK_CACHED => Arc::new(CachedClock::new()),
            CLOCK_MANUAL => borrow_handle::<Arc<ManualClock>>(manual_clock)?.clone(),
            other => return Err(invalid(format!("unknown clock kind {other}"))),
        };
        let dir = string(env, &state_dir)?;
        let manager = LicenseManager::open_with_clock(config, dir, clock)?;
        Ok(into_handle(ManagerCell {
            gate: manager.feature_gate(),
            manager: RwLock::new(Some(manager)),
            closed: AtomicBool::new(false),
        }))
    })
    .resolve::<ThrowJava>()
}

/// `void managerClose(long handle)`: drops the manager (and its state directory lock) after
/// in-flight calls finish; later calls throw `IllegalStateException`. Idempotent.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerClose<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        let cell: &ManagerCell = borrow_handle(handle)?;
        cell.closed.store(true, Ordering::Release);
        let manager = cell
            .manager
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(manager);
        Ok(())
    })
    .resolve::<ThrowJava>()
}

/// `void managerFree(long handle)`: the `Cleaner` action.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerFree<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        free_handle::<ManagerCell>(handle);
        Ok(())
    })
    .resolve::<ThrowJava>()
}

/// `String managerRequestUsage(long handle, String licenseKey)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerRequestUsage<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    key: JString<'l>,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> {
        let key = string(env, &key)?;
        let request = write(handle, |m| Ok(m.request_usage(&key)?))?;
        new_string(env, &request)
    })
    .resolve::<ThrowJava>()
}

/// `String managerRequestRenewal(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerRequestRenewal<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> {
        let request = write(handle, |m| Ok(m.request_renewal()?))?;
        new_string(env, &request)
    })
    .resolve::<ThrowJava>()
}

/// `Status managerInstall(long handle, String usageLicense)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerInstall<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    usage_license: JString<'l>,
) -> JObject<'l> {
    env.with_env(|env| -> Result<JObject<'l>> {
        let text = string(env, &usage_license)?;
        let status = write(handle, |m| Ok(m.install(&text)?))?;
        convert::status(env, &status)
    })
    .resolve::<ThrowJava>()
}

/// `Status managerStatus(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerStatus<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JObject<'l> {
    env.with_env(|env| -> Result<JObject<'l>> {
        let status = read(handle, |m| Ok(m.status()))?;
        convert::status(env, &status)
    })
    .resolve::<ThrowJava>()
}

/// `String managerStatusJson(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerStatusJson<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> {
        let json = read(handle, |m| Ok(m.status_json()))?;
        new_string(env, &json)
    })
    .resolve::<ThrowJava>()
}

/// `Status managerRefresh(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerRefresh<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JObject<'l> {
    env.with_env(|env| -> Result<JObject<'l>> {
        let status = write(handle, |m| Ok(m.refresh()?))?;
        convert::status(env, &status)
    })
    .resolve::<ThrowJava>()
}

/// Longest feature name (in UTF-8 bytes) the fast path of `hasFeature` copies onto the stack;
/// longer names take the general path.
const NAME_BUFFER: usize = 128;

/// `boolean managerHasFeature(long handle, byte[] utf8Name)`: the hot path. Java passes the
/// name's UTF-8 bytes (`String.getBytes(UTF_8)`, a JIT intrinsic); they are copied into a stack
/// buffer with two raw JNI calls and checked with the manager's lock-free [`FeatureGate`]: no
/// allocation, no lock, no string conversion in the JVM. Anything unusual (a closed manager, a
/// long name, bytes that are not UTF-8, a panic) goes through the general path, which
/// converts errors and panics into exceptions like every other entry point.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerHasFeature<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    name: JByteArray<'l>,
) -> jboolean {
    let raw_env = env.as_raw();
    let raw_name = name.as_raw();
    // SAFETY: `raw_env` is the JNIEnv of this native call and `raw_name` a local reference
    // argument of it (see `has_feature_fast`).
    let fast = catch_unwind(AssertUnwindSafe(|| unsafe {
        has_feature_fast(raw_env, handle, raw_name)
    }));
    if let Ok(Some(answer)) = fast {
        return answer;
    }
    env.with_env(|env| -> Result<bool> {
        let cell: &ManagerCell = borrow_handle(handle)?;
        if cell.closed.load(Ordering::Acquire) {
            return Err(BridgeError::Closed);
        }
        let name = convert::bytes(env, &name)?;
        // Not UTF-8 (Java always encodes valid UTF-8): no feature has such a name.
        Ok(std::str::from_utf8(&name).is_ok_and(|name| cell.gate.has_feature(name)))
    })
    .resolve::<ThrowJava>()
}

/// The fast path of `hasFeature`, or `None` to take the general path.
///
/// # Safety
///
/// `env` must be the JNIEnv pointer of the current native call and `name` `null` or a valid
/// reference to a `byte[]` of that call; `handle` as for [`borrow_handle`].
unsafe fn has_feature_fast(
    env: *mut jni::sys::JNIEnv,
    handle: jlong,
    name: jni::sys::jobject,
) -> Option<bool> {
    if env.is_null() || name.is_null() {
        return None;
    }
    let cell: &ManagerCell = borrow_handle(handle).ok()?;
    if cell.closed.load(Ordering::Acquire) {
        return None;
    }
    let mut buffer = [0u8; NAME_BUFFER];
    // SAFETY: a JNIEnv points to the JVM's function table, valid for the whole call. Neither
    // function throws for a non-null array and a region within its length, and
    // `GetByteArrayRegion` writes exactly `len` bytes, checked to fit the buffer first.
    let len = unsafe {
        let functions = *env;
        let len = ((*functions).v1_1.GetArrayLength)(env, name);
        let fits = usize::try_from(len).ok().filter(|n| *n <= NAME_BUFFER)?;
        ((*functions).v1_1.GetByteArrayRegion)(env, name, 0, len, buffer.as_mut_ptr().cast());
        fits
    };
    let name = std::str::from_utf8(buffer.get(..len)?).ok()?;
    Some(cell.gate.has_feature(name))
}

/// `void managerCheck(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerCheck<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> { read(handle, |m| Ok(m.check()?)) })
        .resolve::<ThrowJava>()
}

/// `MeterReading managerRecordUsage(long handle, String feature, long units)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerRecordUsage<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    feature: JString<'l>,
    units: jlong,
) -> JObject<'l> {
    env.with_env(|env| -> Result<JObject<'l>> {
        let feature = string(env, &feature)?;
        let units = unsigned(units, "units")?;
        let reading = write(handle, |m| Ok(m.record_usage(&feature, units)?))?;
        convert::meter_reading(env, &reading)
    })
    .resolve::<ThrowJava>()
}

/// `MeterReading managerMeter(long handle, String feature)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerMeter<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    feature: JString<'l>,
) -> JObject<'l> {
    env.with_env(|env| -> Result<JObject<'l>> {
        let feature = string(env, &feature)?;
        let reading = read(handle, |m| Ok(m.meter(&feature)?))?;
        convert::meter_reading(env, &reading)
    })
    .resolve::<ThrowJava>()
}

/// `String managerDeactivate(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerDeactivate<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> {
        let code = write(handle, |m| Ok(m.deactivate()?))?;
        new_string(env, &code)
    })
    .resolve::<ThrowJava>()
}

// -- online activation -----------------------------------------------------------------------

/// The client of the service at `server`; `root_certs_pem` `null` for the Mozilla roots.
fn online_client(
    env: &Env<'_>,
    server: &JString<'_>,
    root_certs_pem: &JByteArray<'_>,
) -> Result<OnlineClient> {
    let mut config = OnlineConfig::new(string(env, server)?);
    if !root_certs_pem.is_null() {
        config.root_certs_pem = Some(convert::bytes(env, root_certs_pem)?);
    }
    Ok(OnlineClient::new(config)?)
}

/// `Status managerActivateOnline(long handle, String server, byte[] rootCertsPem, String key)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerActivateOnline<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    server: JString<'l>,
    root_certs_pem: JByteArray<'l>,
    key: JString<'l>,
) -> JObject<'l> {
    env.with_env(|env| -> Result<JObject<'l>> {
        let client = online_client(env, &server, &root_certs_pem)?;
        let key = string(env, &key)?;
        let status = write(handle, |m| Ok(client.activate(m, &key)?))?;
        convert::status(env, &status)
    })
    .resolve::<ThrowJava>()
}

/// `Status managerReactivateOnline(long handle, String server, byte[] rootCertsPem)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerReactivateOnline<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    server: JString<'l>,
    root_certs_pem: JByteArray<'l>,
) -> JObject<'l> {
    env.with_env(|env| -> Result<JObject<'l>> {
        let client = online_client(env, &server, &root_certs_pem)?;
        let status = write(handle, |m| Ok(client.reactivate(m)?))?;
        convert::status(env, &status)
    })
    .resolve::<ThrowJava>()
}

/// `String managerDeactivateOnline(long handle, String server, byte[] rootCertsPem)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerDeactivateOnline<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    server: JString<'l>,
    root_certs_pem: JByteArray<'l>,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> {
        let client = online_client(env, &server, &root_certs_pem)?;
        let done = write(handle, |m| Ok(client.deactivate(m)?))?;
        new_string(env, &done.code)
    })
    .resolve::<ThrowJava>()
}

/// `void onlineSendDeactivation(String server, byte[] rootCertsPem, String code)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_onlineSendDeactivation<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    server: JString<'l>,
    root_certs_pem: JByteArray<'l>,
    code: JString<'l>,
) {
    env.with_env(|env| -> Result<()> {
        let client = online_client(env, &server, &root_certs_pem)?;
        let code = string(env, &code)?;
        client.send_deactivation(&code)?;
        Ok(())
    })
    .resolve::<ThrowJava>()
}

/// `String managerLastDeactivationCode(long handle)` (`null` if none)
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerLastDeactivationCode<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> {
        let code = read(handle, |m| {
            Ok(m.last_deactivation_code().map(str::to_owned))
        })?;
        opt_string(env, code)
    })
    .resolve::<ThrowJava>()
}

/// `String managerPendingRequest(long handle)` (`null` if none)
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerPendingRequest<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> {
        let request = read(handle, |m| Ok(m.pending_request().map(str::to_owned)))?;
        opt_string(env, request)
    })
    .resolve::<ThrowJava>()
}

// -- stateless --------------------------------------------------------------------------------

/// `LicenseInfo verify(<HostConfig fields>, String usageLicense, long now)`
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_dev_tollgate_Native_verify<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    product: JString<'l>,
    product_version: JString<'l>,
    salt: JByteArray<'l>,
    vendor_keys: JObjectArray<'l, JByteArray<'l>>,
    component_kinds: JIntArray<'l>,
    component_values: JObjectArray<'l, JByteArray<'l>>,
    probes: jboolean,
    rollback_tolerance_secs: jlong,
    warn_days: jint,
    usage_license: JString<'l>,
    now: jlong,
) -> JObject<'l> {
    env.with_env(|env| -> Result<JObject<'l>> {
        let config = ConfigArgs {
            product: &product,
            product_version: &product_version,
            salt: &salt,
            vendor_keys: &vendor_keys,
            component_kinds: &component_kinds,
            component_values: &component_values,
            probes,
            rollback_tolerance_secs,
            warn_days,
        }
        .to_config(env)?;
        let text = string(env, &usage_license)?;
        let now = unsigned(now, "the time")?;
        let info = verify_usage_license(&config, &text, now)?;
        convert::license_info(env, &info)
    })
    .resolve::<ThrowJava>()
}

/// `HostConfig hostConfigFromJson(String json)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_hostConfigFromJson<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    json: JString<'l>,
) -> JObject<'l> {
    env.with_env(|env| -> Result<JObject<'l>> {
        let json = string(env, &json)?;
        let config = HostConfig::from_json(&json)?;
        convert::host_config(env, &config)
    })
    .resolve::<ThrowJava>()
}

/// `String version()`: the version of this native library.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_version<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> { new_string(env, env!("CARGO_PKG_VERSION")) })
        .resolve::<ThrowJava>()
}

/// `int[] errorCodes()`: every stable result code, in order.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_errorCodes<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JIntArray<'l> {
    env.with_env(|env| -> Result<JIntArray<'l>> {
        let codes: Vec<jint> = all_errors()
            .iter()
            .map(|e| jint::try_from(e.code).unwrap_or(jint::MAX))
            .collect();
        let array = env.new_int_array(codes.len())?;
        array.set_region(env, 0, &codes)?;
        Ok(array)
    })
    .resolve::<ThrowJava>()
}

/// `String errorName(int code)` (`null` for an unknown code)
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_errorName<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    code: jint,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> {
        let row = u32::try_from(code).ok().and_then(error_info);
        opt_string(env, row.map(|r| r.name.to_owned()))
    })
    .resolve::<ThrowJava>()
}

/// `String errorMessage(int code)`: the stable message, or `unknown error code`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_errorMessage<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    code: jint,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> {
        let code = u32::try_from(code).unwrap_or(u32::MAX);
        new_string(env, tollgate_sdk::message(code))
    })
    .resolve::<ThrowJava>()
}

/// `void panicForTesting()`: panics, to prove that a panic arrives as an `AssertionError`.
#[unsafe(no_mangle)]
#[allow(clippy::panic)]
pub extern "system" fn Java_dev_tollgate_Native_panicForTesting<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
) {
    env.with_env(|_env| -> Result<()> { panic!("deliberate panic for testing") })
        .resolve::<ThrowJava>()
}

// -- ManualClock ------------------------------------------------------------------------------

/// `long manualClockNew(long now)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_manualClockNew<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    now: jlong,
) -> jlong {
    env.with_env(|_env| -> Result<jlong> {
        let now = unsigned(now, "the time")?;
        Ok(into_handle(Arc::new(ManualClock::new(now))))
    })
    .resolve::<ThrowJava>()
}

/// `void manualClockSet(long handle, long now)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_manualClockSet<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    now: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        let now = unsigned(now, "the time")?;
        borrow_handle::<Arc<ManualClock>>(handle)?.set(now);
        Ok(())
    })
    .resolve::<ThrowJava>()
}

/// `long manualClockNow(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_manualClockNow<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jlong {
    env.with_env(|_env| -> Result<jlong> {
        Ok(jlong_of(borrow_handle::<Arc<ManualClock>>(handle)?.now()))
    })
    .resolve::<ThrowJava>()
}

/// `void manualClockFree(long handle)`: the `Cleaner` action. A manager opened with the clock
/// keeps its own reference to it.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_manualClockFree<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        free_handle::<Arc<ManualClock>>(handle);
        Ok(())
    })
    .resolve::<ThrowJava>()
}

// -- floating license client ------------------------------------------------------------------

/// What a floating client handle points to; freed by the Java object's `Cleaner`.
struct FloatingCell {
    client: FloatingClient,
    /// The lease held; `None` before a checkout, after a release, and once closed.
    lease: RwLock<Option<FloatingLease>>,
    /// Set by `close`.
    closed: AtomicBool,
}

fn floating_cell<'a>(handle: jlong) -> Result<&'a FloatingCell> {
    let cell: &FloatingCell = borrow_handle(handle)?;
    if cell.closed.load(Ordering::Acquire) {
        return Err(BridgeError::Closed);
    }
    Ok(cell)
}

/// `long floatingNew(String server, byte[] rootCertsPem, String[] features, String instance,
/// <HostConfig fields>)`
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_dev_tollgate_Native_floatingNew<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    server: JString<'l>,
    root_certs_pem: JByteArray<'l>,
    features: JObjectArray<'l, JString<'l>>,
    instance: JString<'l>,
    product: JString<'l>,
    product_version: JString<'l>,
    salt: JByteArray<'l>,
    vendor_keys: JObjectArray<'l, JByteArray<'l>>,
    component_kinds: JIntArray<'l>,
    component_values: JObjectArray<'l, JByteArray<'l>>,
    probes: jboolean,
    rollback_tolerance_secs: jlong,
    warn_days: jint,
) -> jlong {
    env.with_env(|env| -> Result<jlong> {
        let host = ConfigArgs {
            product: &product,
            product_version: &product_version,
            salt: &salt,
            vendor_keys: &vendor_keys,
            component_kinds: &component_kinds,
            component_values: &component_values,
            probes,
            rollback_tolerance_secs,
            warn_days,
        }
        .to_config(env)?;
        let mut names = Vec::new();
        for i in 0..features.len(env)? {
            let name = features.get_element(env, i)?;
            names.push(string(env, &name)?);
        }
        let mut config = FloatingConfig::new(string(env, &server)?, names);
        config.set_instance(&string(env, &instance)?)?;
        if !root_certs_pem.is_null() {
            config.root_certs_pem = Some(convert::bytes(env, &root_certs_pem)?);
        }
        Ok(into_handle(FloatingCell {
            client: FloatingClient::new(&host, config)?,
            lease: RwLock::new(None),
            closed: AtomicBool::new(false),
        }))
    })
    .resolve::<ThrowJava>()
}

/// `void floatingCheckout(long handle)`: keeps a lease already held.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_floatingCheckout<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        let cell = floating_cell(handle)?;
        if cell
            .lease
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return Ok(());
        }
        let lease = cell.client.checkout(|_| {})?;
        let mut slot = cell.lease.write().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have checked out meanwhile (or closed): keep at most one lease;
        // the other is released when dropped, after the lock.
        let extra = if slot.is_some() || cell.closed.load(Ordering::Acquire) {
            Some(lease)
        } else {
            *slot = Some(lease);
            None
        };
        drop(slot);
        drop(extra);
        Ok(())
    })
    .resolve::<ThrowJava>()
}

/// `boolean floatingHasFeature(long handle, String name)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_floatingHasFeature<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    name: JString<'l>,
) -> jboolean {
    env.with_env(|env| -> Result<bool> {
        let cell = floating_cell(handle)?;
        let name = string(env, &name)?;
        let lease = cell.lease.read().unwrap_or_else(PoisonError::into_inner);
        Ok(lease.as_ref().is_some_and(|l| l.has_feature(&name)))
    })
    .resolve::<ThrowJava>()
}

/// `long floatingLeaseId(long handle)`: 0 when no lease is held.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_floatingLeaseId<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jlong {
    env.with_env(|_env| -> Result<jlong> {
        let cell = floating_cell(handle)?;
        let lease = cell.lease.read().unwrap_or_else(PoisonError::into_inner);
        Ok(jlong_of(lease.as_ref().map_or(0, FloatingLease::lease_id)))
    })
    .resolve::<ThrowJava>()
}

/// Takes the lease out and releases it at the server.
fn release_lease(cell: &FloatingCell) -> Result<()> {
    let lease = cell
        .lease
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(lease) = lease {
        lease.release()?;
    }
    Ok(())
}

/// `void floatingRelease(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_floatingRelease<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> { release_lease(floating_cell(handle)?) })
        .resolve::<ThrowJava>()
}

/// `void floatingClose(long handle)`: releases the lease (best effort); later calls throw
/// `IllegalStateException`. Idempotent.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_floatingClose<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        let cell: &FloatingCell = borrow_handle(handle)?;
        cell.closed.store(true, Ordering::Release);
        // The server reclaims the seats when the lease ends if the release does not arrive.
        let _ = release_lease(cell);
        Ok(())
    })
    .resolve::<ThrowJava>()
}

/// `void floatingFree(long handle)`: the `Cleaner` action (dropping the lease releases it).
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_floatingFree<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        free_handle::<FloatingCell>(handle);
        Ok(())
    })
    .resolve::<ThrowJava>()
}
