//! `ManualClock` handles, and the clock a manager is opened with.
#![allow(unsafe_code)] // `#[no_mangle]` exports: the JVM resolves `native` methods by name.

use std::sync::Arc;

use jni::objects::JClass;
use jni::sys::{jint, jlong};
use jni::EnvUnowned;
use tollgate_sdk::{CachedClock, Clock, ManualClock, SystemClock};

use crate::convert::{jlong_of, unsigned};
use crate::error::{invalid, Result, ThrowJava};
use crate::handles::{borrow_handle, free_handle, into_handle};

/// `Native.CLOCK_SYSTEM`, `CLOCK_CACHED` and `CLOCK_MANUAL`.
const CLOCK_SYSTEM: jint = 0;
const CLOCK_CACHED: jint = 1;
const CLOCK_MANUAL: jint = 2;

/// The clock a manager is opened with.
pub(crate) struct OpenedClock {
    /// What the manager reads.
    pub(crate) clock: Arc<dyn Clock>,
    /// The same clock when it is a `CachedClock`: `close` stops its thread.
    pub(crate) cached: Option<Arc<CachedClock>>,
    /// The address of the atomic word that holds the clock's reading, when there is one (a
    /// running cached clock, a manual clock): what a `FeatureHandle` reads. Valid as long as
    /// `clock`.
    pub(crate) word: Option<usize>,
}

/// The clock `Native.CLOCK_*` `kind` names; `manual` is the `ManualClock` handle for
/// `CLOCK_MANUAL`.
pub(crate) fn clock_of(kind: jint, manual: jlong) -> Result<OpenedClock> {
    Ok(match kind {
        CLOCK_SYSTEM => OpenedClock {
            clock: Arc::new(SystemClock),
            cached: None,
            word: None,
        },
        CLOCK_CACHED => {
            let cached = Arc::new(CachedClock::new());
            OpenedClock {
                word: cached.as_atomic().map(|w| std::ptr::from_ref(w) as usize),
                clock: cached.clone(),
                cached: Some(cached),
            }
        }
        CLOCK_MANUAL => {
            let manual = borrow_handle::<Arc<ManualClock>>(manual)?.clone();
            OpenedClock {
                word: Some(std::ptr::from_ref(manual.as_atomic()) as usize),
                clock: manual,
                cached: None,
            }
        }
        other => return Err(invalid(format!("unknown clock kind {other}"))),
    })
}

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
