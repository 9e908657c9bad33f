//! What the library says about itself: its version, the table of stable error codes, and a
//! deliberate panic for the boundary's test.
#![allow(unsafe_code)] // `#[no_mangle]` exports: the JVM resolves `native` methods by name.

use jni::objects::{JClass, JIntArray, JString};
use jni::sys::jint;
use jni::EnvUnowned;
use tollgate_sdk::{all_errors, error_info, service_refusal_info, service_refusals, ErrorInfo};

/// The row of `code`: a runtime or core code, or a service refusal (300–387).
fn row(code: u32) -> Option<ErrorInfo> {
    error_info(code).or_else(|| service_refusal_info(code))
}

use crate::error::{Result, ThrowJava};
use crate::handles::{new_string, opt_string};

/// `String version()`: the version of this native library.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_version<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JString<'l> {
    env.with_env(|env| -> Result<JString<'l>> { new_string(env, env!("CARGO_PKG_VERSION")) })
        .resolve::<ThrowJava>()
}

/// `int[] errorCodes()`: every stable result code, in order (the services' refusals last).
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_tollgate_Native_errorCodes<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JIntArray<'l> {
    env.with_env(|env| -> Result<JIntArray<'l>> {
        let codes: Vec<jint> = all_errors()
            .iter()
            .map(|e| e.code)
            .chain(service_refusals().map(|e| e.code))
            .map(|code| jint::try_from(code).unwrap_or(jint::MAX))
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
        let row = u32::try_from(code).ok().and_then(row);
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
        new_string(env, row(code).map_or("unknown error code", |r| r.message))
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
