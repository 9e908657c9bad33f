//! A `no_std` staticlib that links tollgate-core's verification path.
#![no_std]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use tollgate_core::{Fingerprint, Keyring, Verifier};

/// A fixed-arena bump allocator: enough to prove linking without std.
struct Bump {
    arena: UnsafeCell<[u8; 1 << 16]>,
    next: AtomicUsize,
}

// SAFETY: the arena is only handed out in disjoint pieces claimed by an atomic counter.
unsafe impl Sync for Bump {}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let size = layout.size();
        let align = layout.align();
        let mut start = 0;
        if self
            .next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                start = (n + align - 1) & !(align - 1);
                let end = start.checked_add(size)?;
                (end <= 1 << 16).then_some(end)
            })
            .is_err()
        {
            return core::ptr::null_mut();
        }
        // SAFETY: start + size is within the arena.
        unsafe { (self.arena.get() as *mut u8).add(start) }
    }
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOC: Bump = Bump {
    arena: UnsafeCell::new([0; 1 << 16]),
    next: AtomicUsize::new(0),
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// Verifies an armored usage license; returns the stable error code or 0.
#[no_mangle]
pub extern "C" fn check_usage_license(
    text: *const u8,
    len: usize,
    key: *const [u8; 32],
    now: u64,
) -> u32 {
    // SAFETY: the caller passes valid pointers; this crate is never run, only linked.
    let (text, key) = unsafe { (core::slice::from_raw_parts(text, len), &*key) };
    let Ok(text) = core::str::from_utf8(text) else {
        return 1;
    };
    let Ok(ring) = Keyring::from_keys([key]) else {
        return 2;
    };
    let fp = Fingerprint::default();
    match Verifier::new("chariot", ring).verify(text, &fp, now) {
        Ok(_) => 0,
        Err(e) => e.code(),
    }
}
