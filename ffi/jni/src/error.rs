//! Errors of the bridge and how they become Java exceptions.

use std::any::Any;
use std::fmt;

use jni::errors::ErrorPolicy;
use jni::objects::{JObject, JThrowable, JValue};
use jni::{jni_sig, jni_str, Env};
use tollgate_sdk::SdkError;

/// Why a native method failed.
#[derive(Debug)]
pub(crate) enum BridgeError {
    /// The host runtime refused: thrown as the `LicenseException` subclass for its code.
    Sdk(SdkError),
    /// The manager was closed: thrown as `IllegalStateException`.
    Closed,
    /// A JNI call failed. Usually a Java exception is already pending (e.g. an
    /// `OutOfMemoryError`) and is left to propagate; otherwise a `RuntimeException` is thrown.
    Jni(jni::errors::Error),
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeError::Sdk(e) => e.fmt(f),
            BridgeError::Closed => f.write_str("the LicenseManager is closed"),
            BridgeError::Jni(e) => write!(f, "JNI call failed: {e}"),
        }
    }
}

impl std::error::Error for BridgeError {}

impl From<SdkError> for BridgeError {
    fn from(e: SdkError) -> Self {
        BridgeError::Sdk(e)
    }
}

impl From<jni::errors::Error> for BridgeError {
    fn from(e: jni::errors::Error) -> Self {
        BridgeError::Jni(e)
    }
}

/// An [`SdkError::InvalidArgument`] for a Java argument the runtime cannot take.
pub(crate) fn invalid(reason: impl Into<String>) -> BridgeError {
    BridgeError::Sdk(SdkError::InvalidArgument {
        reason: reason.into(),
    })
}

/// Shorthand for the result of a native method's body.
pub(crate) type Result<T> = std::result::Result<T, BridgeError>;

/// The error policy of every entry point: throws the Java exception for a [`BridgeError`] or a
/// panic and returns the type's default (`0`, `false`, `null`), which Java never sees.
pub(crate) struct ThrowJava;

impl<T: Default> ErrorPolicy<T, BridgeError> for ThrowJava {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = ();

    fn on_error<'local: 'native_method, 'native_method>(
        env: &mut Env<'local>,
        _cap: &mut (),
        err: BridgeError,
    ) -> jni::errors::Result<T> {
        if env.exception_check() {
            // A Java exception is already on its way (thrown by a callback or by JNI itself).
            return Ok(T::default());
        }
        match err {
            BridgeError::Sdk(e) => throw_license_exception(env, &e)?,
            BridgeError::Closed => throw_new(
                env,
                jni_str!("java/lang/IllegalStateException"),
                "the LicenseManager is closed",
            )?,
            BridgeError::Jni(e) => throw_new(
                env,
                jni_str!("java/lang/RuntimeException"),
                &format!("tollgate: JNI call failed: {e}"),
            )?,
        }
        Ok(T::default())
    }

    fn on_panic<'local: 'native_method, 'native_method>(
        env: &mut Env<'local>,
        _cap: &mut (),
        payload: Box<dyn Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        let what = payload
            .downcast_ref::<&'static str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        // Dropping the payload could itself panic; it is leaked instead (a bug path anyway).
        std::mem::forget(payload);
        if env.exception_check() {
            env.exception_clear();
        }
        // `AssertionError(Object)`: the same class libsignal uses for a Rust panic.
        let message = env.new_string(format!("tollgate: Rust panic (this is a bug): {what}"))?;
        let error = env.new_object(
            jni_str!("java/lang/AssertionError"),
            jni_sig!("(Ljava/lang/Object;)V"),
            &[JValue::Object(&message)],
        )?;
        throw_object(env, error)?;
        Ok(T::default())
    }
}

/// Throws `class(message)`; `Ok` once it is pending.
fn throw_new(
    env: &mut Env<'_>,
    class: &jni::strings::JNIStr,
    message: &str,
) -> jni::errors::Result<()> {
    let message = jni::strings::JNIString::from(message);
    match env.throw_new(class, &message) {
        Err(jni::errors::Error::JavaException) | Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Throws an exception object; `Ok` once it is pending.
fn throw_object<'local>(env: &mut Env<'local>, obj: JObject<'local>) -> jni::errors::Result<()> {
    let throwable = env.cast_local::<JThrowable>(obj)?;
    match env.throw(&throwable) {
        Err(jni::errors::Error::JavaException) | Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Throws `LicenseException.of(code, name, message, refusalCode)`: the Java side picks the
/// subclass for the code's family, so the mapping is written (and tested) once, in Java.
fn throw_license_exception(env: &mut Env<'_>, e: &SdkError) -> jni::errors::Result<()> {
    // A service's refusal keeps the service's code (e.g. 340 no seat): `result_code`.
    let name = env.new_string(e.result_name())?;
    let message = env.new_string(e.to_string())?;
    let code = i32::try_from(e.result_code()).unwrap_or(i32::MAX);
    let refusal = i32::try_from(e.refusal_code().unwrap_or(0)).unwrap_or(i32::MAX);
    let exception = env
        .call_static_method(
            jni_str!("dev/tollgate/LicenseException"),
            jni_str!("of"),
            jni_sig!("(ILjava/lang/String;Ljava/lang/String;I)Ldev/tollgate/LicenseException;"),
            &[
                JValue::Int(code),
                JValue::Object(&name),
                JValue::Object(&message),
                JValue::Int(refusal),
            ],
        )?
        .l()?;
    throw_object(env, exception)
}
