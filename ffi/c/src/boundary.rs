//! The boundary every exported function goes through: panics are caught, failures are turned
//! into result codes and recorded for `tollgate_last_error`, and raw arguments are checked
//! (NULL, UTF-8, lengths) before anything is done.

use std::any::Any;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use crate::error::{
    set_last_error, set_last_refusal, tollgate_result, Failure, TOLLGATE_BUFFER_TOO_SMALL,
    TOLLGATE_INVALID_UTF8, TOLLGATE_NULL_ARGUMENT, TOLLGATE_OK, TOLLGATE_PANIC,
};

/// Size of a buffer that holds any armored artifact the API returns (usage request,
/// deactivation code, usage license), including the terminating NUL.
///
/// Calls that change the state and return an artifact (`tollgate_manager_request_usage`,
/// `tollgate_manager_request_renewal`, `tollgate_manager_deactivate`) need a buffer at least
/// this large, so that they never have to be repeated to get their answer.
pub const TOLLGATE_MAX_ARTIFACT_LEN: usize = 2048;

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic");
    format!("internal error: a panic was caught at the C boundary: {what}")
}

/// Runs `f`, turning its outcome into a result code: `TOLLGATE_OK`, the failure's code (its
/// message kept as the thread's last error), or `TOLLGATE_PANIC`.
pub(crate) fn result_boundary(f: impl FnOnce() -> Result<(), Failure>) -> tollgate_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => TOLLGATE_OK,
        Ok(Err(failure)) => {
            set_last_error(&failure.message);
            set_last_refusal(failure.refusal);
            failure.code
        }
        Err(payload) => {
            set_last_error(&panic_message(&*payload));
            set_last_refusal(0);
            TOLLGATE_PANIC
        }
    }
}

/// Runs `f`, returning `on_panic` if it panics.
pub(crate) fn value_boundary<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            set_last_error(&panic_message(&*payload));
            on_panic
        }
    }
}

/// `p` as a shared reference, or `TOLLGATE_NULL_ARGUMENT`.
///
/// # Safety
///
/// `p` is NULL or points to a valid `T` that outlives `'a` and is not mutated meanwhile except
/// through interior mutability.
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T) -> Result<&'a T, Failure> {
    // SAFETY: the caller guarantees that a non-NULL `p` is valid for `'a`.
    unsafe { p.as_ref() }.ok_or_else(|| Failure::code(TOLLGATE_NULL_ARGUMENT))
}

/// `p` as an exclusive reference, or `TOLLGATE_NULL_ARGUMENT`.
///
/// # Safety
///
/// `p` is NULL or points to a valid `T` that outlives `'a` and that nothing else accesses
/// meanwhile.
pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller guarantees that a non-NULL `p` is valid and unaliased for `'a`.
    unsafe { p.as_mut() }.ok_or_else(|| Failure::code(TOLLGATE_NULL_ARGUMENT))
}

/// Checks that an output pointer is not NULL (it is written only when the call succeeds).
pub(crate) fn arg_out<T>(p: *mut T) -> Result<*mut T, Failure> {
    if p.is_null() {
        Err(Failure::code(TOLLGATE_NULL_ARGUMENT))
    } else {
        Ok(p)
    }
}

/// The `len` bytes at `p`.
///
/// # Safety
///
/// `p` is NULL or points to `len` readable bytes that outlive `'a` and are not written
/// meanwhile.
pub(crate) unsafe fn arg_bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8], Failure> {
    if p.is_null() {
        return Err(Failure::code(TOLLGATE_NULL_ARGUMENT));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(
            "a length is larger than any object can be",
        ));
    }
    // SAFETY: `p` is non-NULL, the caller guarantees `len` readable bytes there for `'a`, and
    // `len` fits in `isize`.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// The `len` bytes at `p` as UTF-8 text.
///
/// # Safety
///
/// As [`arg_bytes`].
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, len: usize) -> Result<&'a str, Failure> {
    // SAFETY: forwarded from the caller.
    let bytes = unsafe { arg_bytes(p.cast(), len) }?;
    std::str::from_utf8(bytes).map_err(|_| Failure::code(TOLLGATE_INVALID_UTF8))
}

/// An output text buffer, checked before the call does anything.
pub(crate) struct TextOut {
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
}

impl TextOut {
    /// Checks the (buffer, size, length) triple: `out_len` must not be NULL, and `buf` may be
    /// NULL only when `buf_len` is 0 (a size query).
    pub(crate) fn new(
        buf: *mut c_char,
        buf_len: usize,
        out_len: *mut usize,
    ) -> Result<Self, Failure> {
        if out_len.is_null() || (buf.is_null() && buf_len != 0) {
            return Err(Failure::code(TOLLGATE_NULL_ARGUMENT));
        }
        Ok(TextOut {
            buf,
            buf_len,
            out_len,
        })
    }

    /// Like [`TextOut::new`], for calls that change the state: the buffer must hold
    /// [`TOLLGATE_MAX_ARTIFACT_LEN`] bytes, checked before anything is done.
    pub(crate) fn for_artifact(
        buf: *mut c_char,
        buf_len: usize,
        out_len: *mut usize,
    ) -> Result<Self, Failure> {
        let out = Self::new(buf, buf_len, out_len)?;
        if buf_len < TOLLGATE_MAX_ARTIFACT_LEN {
            // SAFETY: `out_len` was checked non-NULL; the caller guarantees it is writable.
            unsafe { out.out_len.write(TOLLGATE_MAX_ARTIFACT_LEN) };
            return Err(Failure::code(TOLLGATE_BUFFER_TOO_SMALL));
        }
        Ok(out)
    }

    /// Writes `text` and a NUL, and its length (without the NUL) to `*out_len`. When it does
    /// not fit, writes only the size needed (length + 1) to `*out_len` and fails with
    /// `TOLLGATE_BUFFER_TOO_SMALL`.
    ///
    /// # Safety
    ///
    /// `buf` points to `buf_len` writable bytes (or is NULL with `buf_len` 0) and `out_len` is
    /// writable, as given to [`TextOut::new`].
    pub(crate) unsafe fn write(self, text: &str) -> Result<(), Failure> {
        let need = text.len() + 1;
        if need > self.buf_len {
            // SAFETY: `out_len` is non-NULL (checked in `new`) and writable (caller).
            unsafe { self.out_len.write(need) };
            return Err(Failure::code(TOLLGATE_BUFFER_TOO_SMALL));
        }
        // SAFETY: `buf` is non-NULL (buf_len >= need > 0) with `buf_len >= need` writable bytes,
        // and `text` is a distinct Rust allocation, so the ranges do not overlap.
        unsafe {
            ptr::copy_nonoverlapping(text.as_ptr(), self.buf.cast::<u8>(), text.len());
            self.buf.add(text.len()).write(0);
            self.out_len.write(text.len());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{last_error, TOLLGATE_NULL_ARGUMENT, TOLLGATE_PANIC};

    #[test]
    #[allow(clippy::panic)]
    fn panics_become_a_code_and_a_message() {
        let code = result_boundary(|| panic!("boom"));
        assert_eq!(code, TOLLGATE_PANIC);
        assert!(last_error().unwrap().ends_with("boom"));
        let code = result_boundary(|| std::panic::panic_any(7_u8));
        assert_eq!(code, TOLLGATE_PANIC);
        assert!(last_error().unwrap().ends_with("unknown panic"));
        assert!(!value_boundary(false, || -> bool { panic!("x") }));
        assert_eq!(result_boundary(|| Ok(())), TOLLGATE_OK);
        assert_eq!(
            result_boundary(|| Err(Failure::code(TOLLGATE_NULL_ARGUMENT))),
            TOLLGATE_NULL_ARGUMENT
        );
        assert_eq!(
            last_error().unwrap(),
            "a required pointer argument was NULL"
        );
    }

    #[test]
    fn max_artifact_len_holds_the_largest_artifact() {
        use tollgate_sdk::tollgate_core::{armor, codec, ArtifactType};
        for ty in ArtifactType::ALL {
            let text = armor::encode(ty, &vec![0xa5; codec::max_len(ty)]);
            assert!(
                text.len() < TOLLGATE_MAX_ARTIFACT_LEN,
                "{ty:?}: {}",
                text.len()
            );
        }
    }

    #[test]
    fn text_out() {
        let mut buf = [0x55 as c_char; 4];
        let mut n = 99usize;
        let out = TextOut::new(buf.as_mut_ptr(), 4, &mut n).unwrap();
        // SAFETY: the buffer and length are this test's locals.
        let r = unsafe { out.write("abcd") };
        assert_eq!(r.unwrap_err().code, TOLLGATE_BUFFER_TOO_SMALL);
        assert_eq!((n, buf), (5, [0x55; 4]));
        let out = TextOut::new(buf.as_mut_ptr(), 4, &mut n).unwrap();
        // SAFETY: as above.
        unsafe { out.write("abc") }.unwrap();
        assert_eq!((n, &buf), (3, &[97, 98, 99, 0]));
        assert!(TextOut::new(ptr::null_mut(), 0, &mut n).is_ok());
        assert!(TextOut::new(ptr::null_mut(), 1, &mut n).is_err());
        assert!(TextOut::new(buf.as_mut_ptr(), 4, ptr::null_mut()).is_err());
        let e = TextOut::for_artifact(buf.as_mut_ptr(), 4, &mut n)
            .err()
            .unwrap();
        assert_eq!(
            (e.code, n),
            (TOLLGATE_BUFFER_TOO_SMALL, TOLLGATE_MAX_ARTIFACT_LEN)
        );
    }
}
