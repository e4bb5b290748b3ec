//! Memory for large copies: zeroed allocations that never abort, and huge pages where copies land.
//!
//! A copy into fresh memory is dominated by page faults (one per 4 KiB page, each zeroing its
//! page). Asking the kernel for transparent huge pages on the destination first makes the same
//! copy run about four times faster on Linux (one fault per 2 MiB). The advice is only advice:
//! where the kernel declines it, or off Linux, nothing changes but the speed. Large copies also
//! release the GIL while they run.

use super::ffi::allow_threads;

/// Copies at least this large are worth advising huge pages for (two huge pages).
const HUGE_PAGE_ADVICE_FROM: usize = 4 << 20;

/// Copies at least this large run with the GIL released, so that the interpreter's other
/// threads go on meanwhile (a 1 MiB copy takes about 100 µs).
const DETACHED_COPY_FROM: usize = 1 << 20;

/// Copies `len` bytes from `src` to `dst`, with the GIL released when the copy is large.
///
/// # Safety
/// Attached. `src` is readable and `dst` writable for `len` bytes, the two do not overlap, and
/// both stay so, with nobody else writing to either, while other threads run Python code:
/// `src` is Rust-owned or the contents of an immutable object we hold a reference to, and
/// `dst` is memory no other thread can reach yet.
pub unsafe fn copy_bytes(src: *const u8, dst: *mut u8, len: usize) {
    if len < DETACHED_COPY_FROM {
        // SAFETY: as the caller guarantees.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
        return;
    }
    // Addresses cross into the detached closure as plain numbers (raw pointers are not Send).
    let (src, dst) = (src as usize, dst as usize);
    allow_threads(move || {
        // SAFETY: as the caller guarantees, which holds while the GIL is released.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, len) }
    });
}

/// Allocates `len` zeroed bytes, or `None` if the allocator cannot provide them (never aborts).
/// Large allocations come straight from the kernel as untouched zero pages, so this is O(1)
/// whatever the size; those of [`HUGE_PAGE_ADVICE_FROM`] bytes or more are advised huge pages.
pub fn try_zeroed(len: usize) -> Option<Box<[u8]>> {
    if len == 0 {
        return Some(Box::default());
    }
    let layout = std::alloc::Layout::array::<u8>(len).ok()?;
    // SAFETY: `layout` has a non-zero size (len > 0), as `alloc_zeroed` requires.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return None;
    }
    let slice = std::ptr::slice_from_raw_parts_mut(ptr, len);
    // SAFETY: `ptr` is a live allocation of exactly `Layout::array::<u8>(len)` made by the global
    // allocator, fully initialised (zeroed) and owned by nobody else: that is precisely what
    // `Box<[u8]>` of length `len` owns and later frees with the same layout.
    let bytes = unsafe { Box::from_raw(slice) };
    // SAFETY: the allocation is ours and nothing has been written to it yet.
    unsafe { advise_huge_pages(ptr, len) };
    Some(bytes)
}

/// Advises transparent huge pages for the whole pages inside `len` bytes at `ptr`, if that is
/// large enough to gain. Call it before the memory is first written.
///
/// # Safety
/// `ptr` points at `len` bytes of one live allocation of this process, which the caller may
/// write (the advice changes how those pages are backed, never what they hold).
pub unsafe fn advise_huge_pages(ptr: *mut u8, len: usize) {
    if len < HUGE_PAGE_ADVICE_FROM {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = ptr as usize;
        let first = start.next_multiple_of(PAGE);
        let end = (start + len) / PAGE * PAGE;
        if end > first {
            // SAFETY: [first, end) is page-aligned, as madvise requires, and lies inside the
            // caller's allocation. MADV_HUGEPAGE keeps the pages' contents and only changes how
            // the kernel backs them, so no Rust reference can observe it; a failure (say, a
            // kernel without transparent huge pages) leaves everything as it was.
            unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_length_alloc() {
        assert_eq!(try_zeroed(0).unwrap().len(), 0);
    }

    #[test]
    fn large_alloc_is_zeroed_and_writable() {
        let mut b = try_zeroed(8 << 20).unwrap();
        assert!(b.iter().all(|&x| x == 0));
        b[0] = 1;
        *b.last_mut().unwrap() = 2;
        assert_eq!((b[0], b[b.len() - 1]), (1, 2));
    }

    #[test]
    fn impossible_alloc_is_none() {
        assert!(try_zeroed(usize::MAX).is_none());
        assert!(try_zeroed(1 << 62).is_none());
    }
}
