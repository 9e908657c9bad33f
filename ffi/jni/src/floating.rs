//! `FloatingClient`: the floating license client handle and its native methods.
#![allow(unsafe_code)] // `#[no_mangle]` exports: the JVM resolves `native` methods by name.

use jni::objects::{JByteArray, JClass, JObjectArray, JString};
use jni::sys::{jboolean, jlong};
use jni::EnvUnowned;
use tollgate_sdk::{BearerToken, FloatingClient, FloatingConfig, LeaseHolder};

use crate::config::host_config;
use crate::convert::{self, jlong_of, string};
use crate::error::{BridgeError, Result, ThrowJava};
use crate::handles::{borrow_handle, free_handle, into_handle};
use crate::online::duration_ms;

/// The holder behind an open floating client handle, or `Closed`.
fn floating_cell<'a>(handle: jlong) -> Result<&'a LeaseHolder> {
    let cell: &LeaseHolder = borrow_handle(handle)?;
    if cell.is_closed() {
        return Err(BridgeError::Closed);
    }
    Ok(cell)
}

/// `long floatingNew(String server, byte[] rootCertsPem, String[] features, String instance,
/// String checkoutToken, long hostConfig, long connectTimeoutMs, long timeoutMs,
/// long retryInitialMs, long retryMaxMs)` (`checkoutToken` may be null)
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the Java method's parameters, one by one
pub extern "system" fn Java_dev_tollgate_Native_floatingNew<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    server: JString<'l>,
    root_certs_pem: JByteArray<'l>,
    features: JObjectArray<'l, JString<'l>>,
    instance: JString<'l>,
    checkout_token: JString<'l>,
    host: jlong,
    connect_timeout_ms: jlong,
    timeout_ms: jlong,
    retry_initial_ms: jlong,
    retry_max_ms: jlong,
) -> jlong {
    env.with_env(|env| -> Result<jlong> {
        let host = host_config(host)?;
        let mut names = Vec::new();
        for i in 0..features.len(env)? {
            let name = features.get_element(env, i)?;
            names.push(string(env, &name)?);
        }
        let mut config = FloatingConfig::new(string(env, &server)?, names);
        config.set_instance(&string(env, &instance)?)?;
        if !checkout_token.is_null() {
            config.checkout_token = Some(BearerToken::new(string(env, &checkout_token)?)?);
        }
        if !root_certs_pem.is_null() {
            config.root_certs_pem = Some(convert::bytes(env, &root_certs_pem)?);
        }
        config.connect_timeout = duration_ms("connectTimeout", connect_timeout_ms, 1)?;
        config.timeout = duration_ms("timeout", timeout_ms, 1)?;
        config.retry_initial = duration_ms("retryInitial", retry_initial_ms, 0)?;
        config.retry_max = duration_ms("retryMax", retry_max_ms, 0)?;
        Ok(into_handle(LeaseHolder::new(FloatingClient::new(
            host, config,
        )?)))
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
    env.with_env(|_env| -> Result<()> { Ok(floating_cell(handle)?.checkout()?) })
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
        Ok(cell.has_feature(&name))
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
    env.with_env(|_env| -> Result<jlong> { Ok(jlong_of(floating_cell(handle)?.lease_id())) })
        .resolve::<ThrowJava>()
}

/// `void floatingRelease(long handle)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_floatingRelease<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> { Ok(floating_cell(handle)?.release()?) })
        .resolve::<ThrowJava>()
}

/// `void floatingClose(long handle)`: ends a checkout in flight (it throws 240 `CANCELLED`),
/// releases the lease (best effort); later calls throw `IllegalStateException`. Idempotent.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_floatingClose<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        borrow_handle::<LeaseHolder>(handle)?.close();
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
        free_handle::<LeaseHolder>(handle);
        Ok(())
    })
    .resolve::<ThrowJava>()
}
