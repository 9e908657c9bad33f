//! `HostConfig`: the Java configuration's native handle, built once from its fields and
//! passed by every call that needs a configuration (open, verify, floating client); and the
//! host configuration file.
#![allow(unsafe_code)] // `#[no_mangle]` exports: the JVM resolves `native` methods by name.

use jni::objects::{JByteArray, JClass, JIntArray, JObject, JObjectArray, JString};
use jni::sys::{jboolean, jint, jlong};
use jni::EnvUnowned;
use tollgate_sdk::HostConfig;

use crate::convert::{self, string, ConfigArgs};
use crate::error::{Result, ThrowJava};
use crate::handles::{borrow_handle, free_handle, into_handle};

/// The configuration behind a handle made by `hostConfigNew`.
pub(crate) fn host_config<'a>(handle: jlong) -> Result<&'a HostConfig> {
    borrow_handle(handle)
}

/// `long hostConfigNew(String product, String productVersion, byte[] salt, byte[][] vendorKeys,
/// int[] componentKinds, byte[][] componentValues, boolean probes, long rollbackToleranceSecs,
/// int warnDays)`: checks and converts a Java `HostConfig`'s fields once; the handle is freed by
/// its `Cleaner`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_dev_tollgate_Native_hostConfigNew<'l>(
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
        Ok(into_handle(config))
    })
    .resolve::<ThrowJava>()
}

/// `void hostConfigFree(long handle)`: the `Cleaner` action.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_hostConfigFree<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<()> {
        free_handle::<HostConfig>(handle);
        Ok(())
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
