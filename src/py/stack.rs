//! How much C stack the current thread has left, so that converting a deeply nested item raises
//! an exception instead of overflowing the stack of a thread started with a small one.
//!
//! Converting a container recurses once per nesting level (a few hundred bytes of stack each), so
//! an item within the depth limit can still overflow a thread made with a small
//! `threading.stack_size`. Conversions call [`check`] before going one level deeper.

use std::cell::Cell;

use pyo3_ffi::PyExc_RecursionError;

use super::errors::raise;
use super::ffi::PyResult;

/// Stack that must remain free to go one level deeper: it covers the level itself (measured at
/// depth 20 to 120: 0.4 to 0.6 KiB a level optimised, 1.4 to 2.7 KiB unoptimised), what a leaf
/// does there (CPython's constructors, unpickling) and raising the exception. What is left of
/// an item when a receive stops here is taken apart by a loop (`drop_item`), not dropped
/// recursively, so the margin need not cover that (an unoptimised build's drop glue overflowed
/// a 256 KiB thread from here, even with a 96 KiB margin). Sending drops what it converted so
/// far, whose depth has fit in this stack already, with frames smaller than the conversion's.
const MARGIN: usize = 64 * 1024;

/// Nesting depth below which no check is made: shallow items convert in any thread that can run
/// Python at all, and the common case pays nothing.
const CHECK_FROM_DEPTH: usize = 16;

thread_local! {
    /// Lowest usable address of this thread's stack; 0 until known, `usize::MAX` if unknowable.
    static STACK_LOW: Cell<usize> = const { Cell::new(0) };
}

/// `Ok` if this thread has the stack to convert one level below `depth` containers; otherwise
/// raises `RecursionError`.
///
/// # Safety
/// Attached (it may raise).
pub unsafe fn check(depth: usize) -> PyResult<()> {
    if depth < CHECK_FROM_DEPTH || enough() {
        return Ok(());
    }
    let why = format!("containers nested {depth} deep: too deep for this thread's stack");
    // SAFETY: attached (as the caller guarantees); builtin exception class.
    Err(unsafe { raise(PyExc_RecursionError, &why) })
}

/// True unless this thread is known to have less than the margin of stack left.
fn enough() -> bool {
    let here = std::hint::black_box(0u8);
    let sp = std::ptr::addr_of!(here) as usize;
    let low = STACK_LOW.with(|low| {
        if low.get() == 0 {
            low.set(stack_low().unwrap_or(usize::MAX));
        }
        low.get()
    });
    low == usize::MAX || sp.saturating_sub(low) >= MARGIN
}

/// The lowest address of the calling thread's stack, as the C library reports it.
#[cfg(target_os = "linux")]
fn stack_low() -> Option<usize> {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut addr: *mut libc::c_void = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: pthread_getattr_np initialises `attr` for the calling thread when it returns 0; we
    // only read it then, and destroy it once, right after reading the stack bounds out of it.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let found = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        (found == 0 && !addr.is_null() && size > 0).then_some(addr as usize)
    }
}

/// Elsewhere the bounds are not looked up: only the depth limit applies.
#[cfg(not(target_os = "linux"))]
fn stack_low() -> Option<usize> {
    None
}
