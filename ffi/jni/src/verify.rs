//! `verify`: checks a usage license for this host without any state.
#![allow(unsafe_code)] // `#[no_mangle]` exports: the JVM resolves `native` methods by name.

use jni::objects::{JClass, JObject, JString};
use jni::sys::jlong;
use jni::EnvUnowned;
use tollgate_sdk::verify_usage_license;

use crate::config::host_config;
use crate::convert::{self, string, unsigned};
use crate::error::{Result, ThrowJava};

/// `LicenseInfo verify(long hostConfig, String usageLicense, long now)`
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_verify<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    config: jlong,
    usage_license: JString<'l>,
    now: jlong,
) -> JObject<'l> {
    env.with_env(|env| -> Result<JObject<'l>> {
        let config = host_config(config)?;
        let text = string(env, &usage_license)?;
        let now = unsigned(now, "the time")?;
        let info = verify_usage_license(config, &text, now)?;
        convert::license_info(env, &info)
    })
    .resolve::<ThrowJava>()
}
