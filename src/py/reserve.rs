//! Memory that Rust code cannot go without: the allocator keeps a reserve for allocations that
//! would otherwise abort the process.
//!
//! Rust aborts when an allocation fails (crossbeam's unbounded queues allocate a block of slots
//! on some sends; a `Box` of a few bytes anywhere). This module's allocator forwards to the
//! system's; when an allocation fails it frees a reserve of [`RESERVE`] bytes, retries once, and
//! marks memory as low. [`memory_low`] is checked before a send or a new channel: while the
//! reserve cannot be taken back, they raise `MemoryError` before doing anything. So a channel
//! that fills the address space ends with `MemoryError` at the next send, not an abort. Only a
//! failure right after the reserve is spent, before any later check, still aborts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// Size of the reserve: far more than any one of Rust's infallible allocations here needs
/// (crossbeam's blocks are under 2 KiB) and little next to a process's memory.
const RESERVE: usize = 1 << 20;

const RESERVE_LAYOUT: Layout = match Layout::from_size_align(RESERVE, 16) {
    Ok(layout) => layout,
    Err(_) => panic!("the reserve's layout is valid"),
};

static SPARE: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());
/// The reserve was spent (or never taken) and not taken back yet.
static LOW: AtomicBool = AtomicBool::new(true);

/// The system allocator, with the reserve.
pub struct WithReserve;

impl WithReserve {
    /// Frees the reserve, if any is left, and runs `retry`; null if there was none. Only for
    /// allocations the reserve could cover: a larger one that fails (a huge Buffer, a copy; those
    /// are asked for fallibly) leaves the reserve for the small ones that cannot fail softly.
    fn spend_reserve(layout: Layout, retry: impl FnOnce() -> *mut u8) -> *mut u8 {
        if layout.size() > RESERVE {
            return ptr::null_mut();
        }
        // Swapped out before LOW is set, and put back after LOW is cleared (`memory_low`): so
        // LOW is never false while the reserve is spent (it may be true with one in place,
        // which the next check corrects).
        let spare = SPARE.swap(ptr::null_mut(), Ordering::AcqRel);
        LOW.store(true, Ordering::Release);
        if spare.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `spare` came from `System.alloc(RESERVE_LAYOUT)` and nobody else has it (we
        // swapped it out).
        unsafe { System.dealloc(spare, RESERVE_LAYOUT) };
        retry()
    }
}

// SAFETY: every method forwards to the system allocator with the same arguments, under the same
// rules (`GlobalAlloc`'s); the reserve is only ever allocated and freed with `RESERVE_LAYOUT` by the
// system allocator.
unsafe impl GlobalAlloc for WithReserve {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller guarantees.
        let got = unsafe { System.alloc(layout) };
        if got.is_null() {
            // SAFETY: as the caller guarantees.
            return Self::spend_reserve(layout, || unsafe { System.alloc(layout) });
        }
        got
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller guarantees.
        let got = unsafe { System.alloc_zeroed(layout) };
        if got.is_null() {
            // SAFETY: as the caller guarantees.
            return Self::spend_reserve(layout, || unsafe { System.alloc_zeroed(layout) });
        }
        got
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller guarantees.
        let got = unsafe { System.realloc(ptr, layout, new_size) };
        if got.is_null() {
            let new_layout = Layout::from_size_align(new_size, layout.align()).unwrap_or(layout);
            // SAFETY: as the caller guarantees (on failure the old block is untouched and still ours).
            return Self::spend_reserve(new_layout, || unsafe {
                System.realloc(ptr, layout, new_size)
            });
        }
        got
    }
}

/// True while memory is low: the reserve was spent and cannot be taken back now. Each call
/// tries to take it back, so this turns false again once memory has been freed.
pub fn memory_low() -> bool {
    if !LOW.load(Ordering::Acquire) {
        return false;
    }
    // SAFETY: a valid, non-zero-size layout.
    let spare = unsafe { System.alloc(RESERVE_LAYOUT) };
    if spare.is_null() {
        return true;
    }
    LOW.store(false, Ordering::Release);
    if SPARE
        .compare_exchange(ptr::null_mut(), spare, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Another thread took the reserve back first.
        // SAFETY: `spare` is ours, just allocated with this layout.
        unsafe { System.dealloc(spare, RESERVE_LAYOUT) };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_taken_when_memory_allows() {
        assert!(!memory_low());
        assert!(!SPARE.load(Ordering::Acquire).is_null());
    }
}
