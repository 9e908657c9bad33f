//! Handles: a boxed Rust value crossing the boundary as a Java `long`, and the strings every
//! entry point returns.
//!
//! A handle is made by [`into_handle`], borrowed by [`borrow_handle`] for the length of a call,
//! and freed once by [`free_handle`] from the Java object's `Cleaner`.
#![allow(unsafe_code)] // the two conversions between a handle and the box it points to

use jni::objects::JString;
use jni::sys::jlong;
use jni::Env;

use crate::error::{BridgeError, Result};

/// Boxes `value` and returns its address as a handle.
pub(crate) fn into_handle<T>(value: T) -> jlong {
    Box::into_raw(Box::new(value)) as jlong
}

/// The value behind a handle made by [`into_handle`], or `Closed` for the null handle.
pub(crate) fn borrow_handle<'a, T>(handle: jlong) -> Result<&'a T> {
    let ptr = handle as *const T;
    // SAFETY: a non-zero handle is a pointer made by `into_handle::<T>` (the Java classes pass
    // only their own handle of the right type) and is freed only by `free_handle`, which the Java
    // side calls from its `Cleaner` once the owning object is unreachable, i.e. after every call
    // that passed the handle has returned (each call keeps its object reachable with
    // `Reference.reachabilityFence`).
    unsafe { ptr.as_ref() }.ok_or(BridgeError::Closed)
}

/// Frees the box behind a handle made by [`into_handle`]; `0` is ignored.
pub(crate) fn free_handle<T>(handle: jlong) {
    if handle != 0 {
        // SAFETY: see `borrow_handle`; the `Cleaner` runs its action exactly once.
        drop(unsafe { Box::from_raw(handle as *mut T) });
    }
}

/// A new Java string.
pub(crate) fn new_string<'local>(env: &mut Env<'local>, s: &str) -> Result<JString<'local>> {
    Ok(env.new_string(s)?)
}

/// A new Java string, or `null` for `None`.
pub(crate) fn opt_string<'local>(
    env: &mut Env<'local>,
    s: Option<String>,
) -> Result<JString<'local>> {
    match s {
        Some(s) => new_string(env, &s),
        None => Ok(JString::null()),
    }
}
