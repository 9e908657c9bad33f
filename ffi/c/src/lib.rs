//! # tollgate-ffi
//!
//! The C API of Tollgate: `libtollgate.a`, `libtollgate.so` and the header
//! `bindings/c/include/tollgate.h` (generated from this crate by cbindgen). It is a thin bridge
//! over [`tollgate_sdk`]: every function checks its raw arguments, converts them, calls the
//! host runtime and converts the answer back. No licensing logic lives here.
//!
//! The conventions (result codes, out-parameters last, buffer + length pairs, handles with
//! `_new`/`_free`, thread safety per type) are written down in `bindings/c/README.md`; every
//! exported function catches panics ([`boundary`]), so a bug in Rust never unwinds into C.
//!
//! | module | what it holds |
//! |---|---|
//! | [`error`] | `tollgate_result` and the stable codes, messages, the thread's last error |
//! | [`config`] | `tollgate_config`: product, salt, vendor keys, fingerprint components |
//! | [`clock`] | `tollgate_clock`: a manual clock for tests and simulations |
//! | [`manager`] | `tollgate_manager`: request, install, status, checks, meters, deactivate |
//! | [`online`] | `tollgate_online`: online activate, reactivate, deactivate over the service |
//! | [`floating`] | `tollgate_floating`: check out, check and release a floating lease |
//! | [`boundary`] | the panic boundary and the argument checks |
#![deny(missing_docs)]
// The C names of the handle and struct types (`tollgate_manager`, …) are the Rust names.
#![allow(non_camel_case_types)]

// In this order in the header: result codes first.
pub mod error;

pub mod boundary;
pub mod clock;
pub mod config;
pub mod events;
pub mod floating;
pub mod manager;
pub mod marketplace;
pub mod online;

use std::ffi::c_char;

pub use boundary::TOLLGATE_MAX_ARTIFACT_LEN;
pub use clock::*;
pub use config::*;
pub use error::*;
pub use events::*;
pub use floating::*;
pub use manager::*;
pub use marketplace::*;
pub use online::*;

use crate::boundary::{result_boundary, value_boundary, TextOut};

/// What the static-string functions return if they panic.
const EMPTY: &[u8; 1] = b"\0";

/// The version of this library, e.g. `"0.1.0"`: a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn tollgate_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    value_boundary(EMPTY.as_ptr().cast(), || VERSION.as_ptr().cast())
}

/// The stable, human-readable message of a result code, e.g. `"the license key contains a
/// typo"` for `TOLLGATE_ERR_KEY_CHECKSUM`; `"unknown result code"` for a code that is not
/// defined. A static NUL-terminated string: never free it.
#[no_mangle]
pub extern "C" fn tollgate_result_message(result: tollgate_result) -> *const c_char {
    value_boundary(EMPTY.as_ptr().cast(), || error::static_text(result, false))
}

/// The stable name of a result code, e.g. `"KeyChecksum"`; `"Unknown"` for a code that is not
/// defined. A static NUL-terminated string: never free it.
#[no_mangle]
pub extern "C" fn tollgate_result_name(result: tollgate_result) -> *const c_char {
    value_boundary(EMPTY.as_ptr().cast(), || error::static_text(result, true))
}

/// Copies the detailed message of the last call that failed on the calling thread (e.g.
/// "this usage license answers an older usage request (number 1) that was superseded by a
/// newer one (number 2): …") into `buf`.
///
/// Returns `TOLLGATE_NOT_FOUND` when no call has failed on this thread yet. This function and
/// the other message functions never change the last error.
///
/// # Safety
///
/// `buf` points to `buf_len` writable bytes (or is NULL with `buf_len` 0); `out_len` is
/// writable.
#[no_mangle]
pub unsafe extern "C" fn tollgate_last_error(
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> tollgate_result {
    let saved = error::last_error();
    let code = result_boundary(|| {
        let out = TextOut::new(buf, buf_len, out_len)?;
        let text = saved
            .as_deref()
            .ok_or_else(|| Failure::code(TOLLGATE_NOT_FOUND))?;
        // SAFETY: the caller's guarantees on `buf`, `buf_len` and `out_len`.
        unsafe { out.write(text) }
    });
    error::put_last_error(saved);
    code
}
