//! `LicenseManager`: the manager handle and its native methods (open, request, install,
//! status, the lock-free `hasFeature`, meters, deactivate).
#![allow(unsafe_code)] // `#[no_mangle]` exports: the JVM resolves `native` methods by name.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use jni::objects::{JByteArray, JByteBuffer, JClass, JLongArray, JObject, JString};
use jni::refs::Reference;
use jni::sys::{jboolean, jint, jlong};
use jni::EnvUnowned;
use tollgate_sdk::events::StatusWatch;
use tollgate_sdk::gate::FeatureGate;
use tollgate_sdk::online::{CallScope, SharedManager};
use tollgate_sdk::{CachedClock, LicenseManager, SdkError};

use crate::clock::clock_of;
use crate::config::host_config;
use crate::convert::{self, string, unsigned};
use crate::error::{BridgeError, Result, ThrowJava};
use crate::handles::{borrow_handle, free_handle, into_handle, new_string, opt_string};

/// What a manager handle points to. The box lives until the Java object's `Cleaner` frees it,
/// so a handle is never dangling while its Java object is reachable.
pub(crate) struct ManagerCell {
    /// The manager; `None` once closed.
    pub(crate) manager: RwLock<Option<LicenseManager>>,
    /// The manager's lock-free feature checks (`hasFeature` never waits for an operation).
    gate: Arc<FeatureGate>,
    /// Set by `close`, before the manager is dropped.
    pub(crate) closed: AtomicBool,
    /// The online calls in flight, cancelled by `close`.
    pub(crate) calls: CallScope,
    /// The `LicenseWatch`es running, by id; stopped by `close` and before the cell is freed.
    pub(crate) watches: Mutex<Vec<(jlong, StatusWatch)>>,
    /// The next watch id.
    pub(crate) next_watch: AtomicI64,
    /// The manager's cached clock, if it was opened with one: `close` stops its thread (the
    /// gate, and so the clock, lives until the `Cleaner` frees this cell).
    cached_clock: Option<Arc<CachedClock>>,
    /// The address of the clock's reading word, if it has one (see `OpenedClock::word`).
    clock_word: Option<usize>,
}

impl ManagerCell {
    /// Stops every watch (waiting for each, unless called from its own listener).
    fn stop_watches(&self) {
        let watches =
            std::mem::take(&mut *self.watches.lock().unwrap_or_else(PoisonError::into_inner));
        for (_, w) in watches {
            w.stop();
        }
    }
}

impl Drop for ManagerCell {
    fn drop(&mut self) {
        // The watch threads read the cell: they end before any field goes away.
        self.stop_watches();
    }
}

/// The online calls lock the manager only to make a request and to apply the answer; a closed
/// manager ends them with `Cancelled` (240).
impl SharedManager for ManagerCell {
    fn with_manager<T>(
        &self,
        f: impl FnOnce(&mut LicenseManager) -> tollgate_sdk::Result<T>,
    ) -> tollgate_sdk::Result<T> {
        let mut guard = self.manager.write().unwrap_or_else(PoisonError::into_inner);
        match guard.as_mut() {
            Some(m) => f(m),
            None => Err(SdkError::Cancelled {
                reason: "the LicenseManager was closed".into(),
            }),
        }
    }
}

/// Runs `f` on the open manager under the read lock (queries run concurrently).
pub(crate) fn read<T>(handle: jlong, f: impl FnOnce(&LicenseManager) -> Result<T>) -> Result<T> {
    let cell: &ManagerCell = borrow_handle(handle)?;
    // A panic inside the runtime leaves its state as it was before the operation (every change
    // is committed at once), so a poisoned lock is still safe to use.
    let guard = cell.manager.read().unwrap_or_else(PoisonError::into_inner);
    f(guard.as_ref().ok_or(BridgeError::Closed)?)
}

/// Runs `f` on the open manager under the write lock (changes are serialized).
pub(crate) fn write<T>(
    handle: jlong,
    f: impl FnOnce(&mut LicenseManager) -> Result<T>,
) -> Result<T> {
    let cell: &ManagerCell = borrow_handle(handle)?;
    let mut guard = cell.manager.write().unwrap_or_else(PoisonError::into_inner);
    f(guard.as_mut().ok_or(BridgeError::Closed)?)
}

/// `long managerOpen(String stateDir, long hostConfig, int clockKind, long manualClock)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerOpen<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    state_dir: JString<'l>,
    config: jlong,
    clock_kind: jint,
    manual_clock: jlong,
) -> jlong {
    env.with_env(|env| -> Result<jlong> {
        let config = host_config(config)?.clone();
        let clock = clock_of(clock_kind, manual_clock)?;
        let dir = string(env, &state_dir)?;
        let manager = LicenseManager::open_with_clock(config, dir, clock.clock)?;
        Ok(into_handle(ManagerCell {
            gate: manager.feature_gate(),
            manager: RwLock::new(Some(manager)),
            closed: AtomicBool::new(false),
            calls: CallScope::new(),
            watches: Mutex::new(Vec::new()),
            next_watch: AtomicI64::new(1),
            cached_clock: clock.cached,
            clock_word: clock.word,
        }))
    })
    .resolve::<ThrowJava>()
}

/// `void managerClose(long handle)`: cancels the online calls in flight (each ends with
/// `LicenseServiceException` 240 having changed nothing; close waits only for that, never for
/// the network), then drops the manager (and its state directory lock) after the other calls
/// in progress finish; later calls throw `IllegalStateException`. Idempotent.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerClose<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        let cell: &ManagerCell = borrow_handle(handle)?;
        cell.closed.store(true, Ordering::Release);
        cell.calls.close("the LicenseManager was closed");
        cell.stop_watches();
        let manager = cell
            .manager
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(manager);
        if let Some(clock) = &cell.cached_clock {
            clock.stop();
        }
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

/// `String managerUsageJournal(long handle)`: cuts what accrued, then the journal text.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerUsageJournal<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> {
        let journal = write(handle, |m| Ok(m.usage_journal()?))?;
        new_string(env, &journal)
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

/// `ByteBuffer managerGate(long handle)`: a direct buffer over the manager's feature gate
/// (layout: `gateLayout()`), for `FeatureHandle`. The memory lives as long as the cell, i.e.
/// until the `Cleaner` of the Java `LicenseManager` runs, which every handle keeps reachable.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerGate<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JByteBuffer<'l> {
    env.with_env(|env| -> Result<JByteBuffer<'l>> {
        let cell: &ManagerCell = borrow_handle(handle)?;
        if cell.closed.load(Ordering::Acquire) {
            return Err(BridgeError::Closed);
        }
        let ptr = cell.gate.as_ptr().cast_mut();
        // SAFETY: the gate is `FeatureGate::layout().size` bytes of atomics, alive as long as
        // the cell (see above). Java only loads them and raises `high_water` by
        // compare-and-set, as atomics allow through a shared reference.
        Ok(unsafe { env.new_direct_byte_buffer(ptr, FeatureGate::layout().size)? })
    })
    .resolve::<ThrowJava>()
}

/// `ByteBuffer managerClockWord(long handle)`: a direct buffer over the 8-byte word that
/// holds the manager's clock reading, or `null` for the system clock (Java reads its own).
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerClockWord<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JByteBuffer<'l> {
    env.with_env(|env| -> Result<JByteBuffer<'l>> {
        let cell: &ManagerCell = borrow_handle(handle)?;
        match cell.clock_word {
            // SAFETY: the word is an `AtomicU64` inside the clock that the gate holds (see
            // `OpenedClock::word`); Java only loads it.
            Some(word) => Ok(unsafe { env.new_direct_byte_buffer(word as *mut u8, 8)? }),
            None => Ok(JByteBuffer::null()),
        }
    })
    .resolve::<ThrowJava>()
}

/// `long[] gateLayout()`: `FeatureGate::layout()` as `{size, seq, highWater,
/// rollbackTolerance, validFrom, validUntil, count, features, slotSize, slotLen, slotName,
/// slotActiveUntil, nameWords, maxFeatures}`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_gateLayout<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JLongArray<'l> {
    env.with_env(|env| -> Result<JLongArray<'l>> {
        let l = FeatureGate::layout();
        let values: Vec<jlong> = [
            l.size,
            l.seq,
            l.high_water,
            l.rollback_tolerance,
            l.valid_from,
            l.valid_until,
            l.count,
            l.features,
            l.slot_size,
            l.slot_len,
            l.slot_name,
            l.slot_active_until,
            l.name_words,
            l.max_features,
        ]
        .iter()
        .map(|v| jlong::try_from(*v).unwrap_or(jlong::MAX))
        .collect();
        let array = env.new_long_array(values.len())?;
        array.set_region(env, 0, &values)?;
        Ok(array)
    })
    .resolve::<ThrowJava>()
}
