//! `LicenseWatch`: license events of a manager reported to a Java `LicenseListener`.
//!
//! The runtime's [`StatusWatch`] runs the thread; this bridge only attaches it to the JVM for
//! the length of each call (never from a thread the JVM does not know), turns each [`LicenseEvent`] into a `dev.tollgate.LicenseEvent` and
//! calls the listener. An exception the listener throws is caught by the attachment and
//! dropped; a panic is caught here. The watches live in their manager's [`ManagerCell`], which
//! stops them (`close`, or when it is freed) before the manager goes away.
#![allow(unsafe_code)] // `#[no_mangle]` exports, and the watch thread's pointer to its cell

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::time::Duration;

use jni::objects::{JClass, JObject, JValue};
use jni::refs::Global;
use jni::sys::jlong;
use jni::{jni_sig, jni_str, Env, EnvUnowned, JavaVM};
use tollgate_sdk::events::{LicenseEvent, StatusWatch};

use crate::error::{invalid, BridgeError, Result, ThrowJava};
use crate::handles::borrow_handle;
use crate::manager::ManagerCell;

/// Calls `listener.onEvent(event)`.
fn deliver(
    env: &mut Env<'_>,
    class: &Global<JClass<'static>>,
    listener: &Global<JObject<'static>>,
    e: &LicenseEvent,
) -> jni::errors::Result<()> {
    let kind = env.new_string(e.kind.name())?;
    let state = env.new_string(e.state.name())?;
    let previous = env.new_string(e.previous.name())?;
    let message = env.new_string(&e.message)?;
    let event = env
        .call_static_method(
            class,
            jni_str!("fromNative"),
            jni_sig!(
                "(Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;IIJLjava/lang/String;)\
                 Ldev/tollgate/LicenseEvent;"
            ),
            &[
                JValue::Object(&kind),
                JValue::Object(&state),
                JValue::Object(&previous),
                JValue::Int(i32::try_from(e.error_code).unwrap_or(i32::MAX)),
                JValue::Int(i32::try_from(e.revision).unwrap_or(i32::MAX)),
                JValue::Long(i64::try_from(e.activation_id).unwrap_or(i64::MAX)),
                JValue::Object(&message),
            ],
        )?
        .l()?;
    env.call_method(
        listener.as_obj(),
        jni_str!("onEvent"),
        jni_sig!("(Ldev/tollgate/LicenseEvent;)V"),
        &[JValue::Object(&event)],
    )?;
    Ok(())
}

/// `long nativeStart(long manager, long intervalMs, LicenseListener listener)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_LicenseWatch_nativeStart<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    manager: jlong,
    interval_ms: jlong,
    listener: JObject<'l>,
) -> jlong {
    env.with_env(|env| -> Result<jlong> {
        let cell: &ManagerCell = borrow_handle(manager)?;
        if interval_ms < 1 {
            return Err(invalid("the watch interval must be at least 1 ms"));
        }
        let interval = Duration::from_millis(u64::try_from(interval_ms).unwrap_or(1));
        let vm: JavaVM = env.get_java_vm()?;
        // Resolved here, on a Java thread, with the application's class loader.
        let class = env.find_class(jni_str!("dev/tollgate/LicenseEvent"))?;
        let class = env.new_global_ref(class)?;
        let listener = env.new_global_ref(listener)?;
        let signal = {
            let guard = cell.manager.read().unwrap_or_else(PoisonError::into_inner);
            guard.as_ref().ok_or(BridgeError::Closed)?.change_signal()
        };
        let address = cell as *const ManagerCell as usize;
        let status = move || {
            // SAFETY: the cell outlives the watch thread: `ManagerCell` stops and joins its
            // watches in `close` and in `Drop`, before its manager is dropped and it is freed.
            let cell = unsafe { &*(address as *const ManagerCell) };
            let guard = cell.manager.read().unwrap_or_else(PoisonError::into_inner);
            guard.as_ref().map(|m| m.status())
        };
        let on_event = move |e: &LicenseEvent| {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // Attached only for the call, so that a watch never keeps the JVM from exiting.
                // An exception thrown by the listener comes back as an error: dropped.
                let _ = vm.attach_current_thread_for_scope(|env| -> jni::errors::Result<()> {
                    deliver(env, &class, &listener, e)
                });
            }));
        };
        let mut watches = cell.watches.lock().unwrap_or_else(PoisonError::into_inner);
        if cell.closed.load(Ordering::Acquire) {
            return Err(BridgeError::Closed);
        }
        let watch = StatusWatch::start(status, &signal, interval, on_event)?;
        let id = cell.next_watch.fetch_add(1, Ordering::Relaxed);
        watches.push((id, watch));
        Ok(id)
    })
    .resolve::<ThrowJava>()
}

/// `void nativeStop(long manager, long id)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_LicenseWatch_nativeStop<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    manager: jlong,
    id: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        let cell: &ManagerCell = borrow_handle(manager)?;
        let watch = {
            let mut watches = cell.watches.lock().unwrap_or_else(PoisonError::into_inner);
            watches
                .iter()
                .position(|(w, _)| *w == id)
                .map(|i| watches.swap_remove(i).1)
        };
        if let Some(w) = watch {
            w.stop();
        }
        Ok(())
    })
    .resolve::<ThrowJava>()
}
