//! Online activation: activate, reactivate and deactivate a manager at the vendor's
//! activation service, and send a deactivation code; the `OnlineClient` handle (options,
//! cancellation).
//!
//! No call holds the manager's lock while it waits for the service (the sdk's `_shared`
//! flows); `LicenseManager.close()` cancels the calls in flight on its manager
//! (`ManagerCell::calls`), `OnlineClient.cancel()` those of its client.
#![allow(unsafe_code)] // `#[no_mangle]` exports: the JVM resolves `native` methods by name.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use jni::objects::{JByteArray, JClass, JObject, JString};
use jni::sys::{jint, jlong};
use jni::{Env, EnvUnowned};
use tollgate_sdk::online::{CancelToken, OnlineClient, OnlineConfig};

use crate::convert::{self, string};
use crate::error::{invalid, Result, ThrowJava};
use crate::handles::{borrow_handle, free_handle, into_handle, new_string};
use crate::manager::ManagerCell;

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
        let cell: &ManagerCell = borrow_handle(handle)?;
        let call = cell.calls.enter()?;
        let status = client.activate_shared(cell, &key, Some(call.token()))?;
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
        let cell: &ManagerCell = borrow_handle(handle)?;
        let call = cell.calls.enter()?;
        let status = client.reactivate_shared_with(cell, Some(call.token()))?;
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
        let cell: &ManagerCell = borrow_handle(handle)?;
        let call = cell.calls.enter()?;
        let done = client.deactivate_shared(cell, Some(call.token()))?;
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

/// `Status managerStartMarketplace(long handle, String cloud, String server, byte[] rootCertsPem,
/// String metadataUrl)`: the marketplace start (`tollgate_sdk::marketplace`); `metadataUrl`
/// `null` for the cloud's link-local endpoint. Holds no lock while the identity is read or the
/// service answers; `LicenseManager.close()` ends it with 240 `CANCELLED`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_managerStartMarketplace<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    cloud: JString<'l>,
    server: JString<'l>,
    root_certs_pem: JByteArray<'l>,
    metadata_url: JString<'l>,
) -> JObject<'l> {
    use tollgate_sdk::marketplace::{Cloud, MarketplaceClient, MarketplaceConfig};
    env.with_env(|env| -> Result<JObject<'l>> {
        let cloud = string(env, &cloud)?;
        let cloud =
            Cloud::from_name(&cloud).ok_or_else(|| tollgate_sdk::SdkError::InvalidArgument {
                reason: format!("unknown cloud `{cloud}`"),
            })?;
        let mut service = OnlineConfig::new(string(env, &server)?);
        if !root_certs_pem.is_null() {
            service.root_certs_pem = Some(convert::bytes(env, &root_certs_pem)?);
        }
        let mut config = MarketplaceConfig::new(cloud);
        if !metadata_url.is_null() {
            config.metadata_url = string(env, &metadata_url)?;
        }
        let client = MarketplaceClient::new(config, service)?;
        // No lock while the identity is read or the service answers; `close()` cancels it.
        let cell: &ManagerCell = borrow_handle(handle)?;
        let call = cell.calls.enter()?;
        let status = client.start_shared(cell, Some(call.token()))?;
        convert::status(env, &status)
    })
    .resolve::<ThrowJava>()
}

// -- OnlineClient -------------------------------------------------------------------------------

/// What an `OnlineClient` handle points to.
struct JavaOnline {
    client: OnlineClient,
    /// Cancelled and replaced by `cancel()`; every call links its token to it.
    cancel: Mutex<CancelToken>,
}

impl JavaOnline {
    /// A token for one call on `cell`: cancelled by `cancel()` and by closing the manager.
    fn token(&self) -> CancelToken {
        let token = CancelToken::new();
        token.link_to(&self.cancel.lock().unwrap_or_else(PoisonError::into_inner));
        token
    }
}

pub(crate) fn duration_ms(name: &str, ms: jlong, min: i64) -> Result<Duration> {
    if ms < min {
        return Err(invalid(format!("{name} must be at least {min} ms")));
    }
    Ok(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// `long nativeNew(String server, byte[] rootCertsPem, long connectTimeoutMs, long timeoutMs,
/// int attempts, long backoffMs, long maxBackoffMs)`
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the Java method's parameters, one by one
pub extern "system" fn Java_dev_tollgate_OnlineClient_nativeNew<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    server: JString<'l>,
    root_certs_pem: JByteArray<'l>,
    connect_timeout_ms: jlong,
    timeout_ms: jlong,
    attempts: jint,
    backoff_ms: jlong,
    max_backoff_ms: jlong,
) -> jlong {
    env.with_env(|env| -> Result<jlong> {
        let mut config = OnlineConfig::new(string(env, &server)?);
        if !root_certs_pem.is_null() {
            config.root_certs_pem = Some(convert::bytes(env, &root_certs_pem)?);
        }
        config.connect_timeout = duration_ms("connectTimeout", connect_timeout_ms, 1)?;
        config.timeout = duration_ms("timeout", timeout_ms, 1)?;
        config.attempts =
            u32::try_from(attempts).map_err(|_| invalid("attempts must be at least 1"))?;
        config.backoff = duration_ms("backoff", backoff_ms, 0)?;
        config.max_backoff = duration_ms("maxBackoff", max_backoff_ms, 0)?;
        Ok(into_handle(JavaOnline {
            client: OnlineClient::new(config)?,
            cancel: Mutex::new(CancelToken::new()),
        }))
    })
    .resolve::<ThrowJava>()
}

/// `void nativeFree(long handle)`: the `Cleaner` action.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_OnlineClient_nativeFree<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        free_handle::<JavaOnline>(handle);
        Ok(())
    })
    .resolve::<ThrowJava>()
}

/// `void nativeCancel(long handle)`: cancels the calls in flight now.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_OnlineClient_nativeCancel<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        let online: &JavaOnline = borrow_handle(handle)?;
        let old =
            std::mem::take(&mut *online.cancel.lock().unwrap_or_else(PoisonError::into_inner));
        old.cancel("cancelled by OnlineClient.cancel()");
        Ok(())
    })
    .resolve::<ThrowJava>()
}

/// `Status nativeActivate(long handle, long manager, String key)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_OnlineClient_nativeActivate<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    manager: jlong,
    key: JString<'l>,
) -> JObject<'l> {
    env.with_env(|env| -> Result<JObject<'l>> {
        let online: &JavaOnline = borrow_handle(handle)?;
        let key = string(env, &key)?;
        let cell: &ManagerCell = borrow_handle(manager)?;
        let call = cell.calls.enter()?;
        let token = online.token();
        token.link_to(call.token());
        let status = online.client.activate_shared(cell, &key, Some(&token))?;
        convert::status(env, &status)
    })
    .resolve::<ThrowJava>()
}

/// `Status nativeReactivate(long handle, long manager)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_OnlineClient_nativeReactivate<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    manager: jlong,
) -> JObject<'l> {
    env.with_env(|env| -> Result<JObject<'l>> {
        let online: &JavaOnline = borrow_handle(handle)?;
        let cell: &ManagerCell = borrow_handle(manager)?;
        let call = cell.calls.enter()?;
        let token = online.token();
        token.link_to(call.token());
        let status = online.client.reactivate_shared_with(cell, Some(&token))?;
        convert::status(env, &status)
    })
    .resolve::<ThrowJava>()
}

/// `String nativeDeactivate(long handle, long manager)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_OnlineClient_nativeDeactivate<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    manager: jlong,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> {
        let online: &JavaOnline = borrow_handle(handle)?;
        let cell: &ManagerCell = borrow_handle(manager)?;
        let call = cell.calls.enter()?;
        let token = online.token();
        token.link_to(call.token());
        let done = online.client.deactivate_shared(cell, Some(&token))?;
        new_string(env, &done.code)
    })
    .resolve::<ThrowJava>()
}

/// `void nativeSendDeactivation(long handle, String code)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_OnlineClient_nativeSendDeactivation<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    code: JString<'l>,
) {
    env.with_env(|env| -> Result<()> {
        let online: &JavaOnline = borrow_handle(handle)?;
        let code = string(env, &code)?;
        online
            .client
            .send_deactivation_with(&code, Some(&online.token()))?;
        Ok(())
    })
    .resolve::<ThrowJava>()
}
