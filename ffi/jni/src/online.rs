//! Online activation: activate, reactivate and deactivate a manager at the vendor's
//! activation service, and send a deactivation code.
#![allow(unsafe_code)] // `#[no_mangle]` exports: the JVM resolves `native` methods by name.

use jni::objects::{JByteArray, JClass, JObject, JString};
use jni::sys::jlong;
use jni::{Env, EnvUnowned};
use tollgate_sdk::online::{OnlineClient, OnlineConfig};

use crate::convert::{self, string};
use crate::error::{Result, ThrowJava};
use crate::handles::new_string;
use crate::manager::write;

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

/// `Status managerStartMarketplace(long handle, String cloud, String server, byte[] rootCertsPem,
/// String metadataUrl)`: the marketplace start (`tollgate_sdk::marketplace`); `metadataUrl`
/// `null` for the cloud's link-local endpoint.
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
        let status = write(handle, |m| Ok(client.start(m)?))?;
        convert::status(env, &status)
    })
    .resolve::<ThrowJava>()
}
