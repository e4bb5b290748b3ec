//! `Shared`: read-only bytes with their layout, reference-counted across interpreters (what a
//! `SharedBuffer` holds and what its sends carry).

use std::sync::Arc;

use super::buffer::{BufferData, Layout, LiveBuffer};

/// Immutable bytes with their layout, shared by every holder (like `Arc<[u8]>`): cloning one
/// copies a pointer, never the bytes, and the bytes are freed when the last clone is dropped,
/// whichever holder (interpreter, channel) that is. While any holder lives, the memory counts as
/// one in [`live_buffers`](super::live_buffers).
///
/// ```
/// use interpchan::core::{BufferData, Shared};
/// let shared = Shared::new(BufferData::bytes(vec![1u8, 2, 3].into()));
/// let copy = shared.clone();
/// assert!(copy.same_memory(&shared) && copy.bytes() == [1, 2, 3]);
/// assert_eq!(shared.holders(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Shared(Arc<SharedData>);

#[derive(Debug)]
struct SharedData {
    data: BufferData,
    _live: LiveBuffer,
}

impl Shared {
    /// Shares `data`: its bytes are not copied, and can no longer change.
    pub fn new(data: BufferData) -> Self {
        Shared(Arc::new(SharedData {
            data,
            _live: LiveBuffer::new(),
        }))
    }

    /// The shared bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0.data.bytes
    }

    /// How the bytes are read: format, item size and shape.
    pub fn layout(&self) -> &Layout {
        &self.0.data.layout
    }

    /// Whether `self` and `other` hold the very same memory (one sharing, not equal copies).
    pub fn same_memory(&self, other: &Shared) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// How many holders the memory has now (clones alive anywhere in the process).
    pub fn holders(&self) -> usize {
        Arc::strong_count(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Weak;

    #[test]
    fn clones_share_one_allocation() {
        let shared = Shared::new(BufferData::bytes(vec![7u8; 1 << 20].into()));
        let clones: Vec<Shared> = (0..8).map(|_| shared.clone()).collect();
        for clone in &clones {
            assert_eq!(clone.bytes().as_ptr(), shared.bytes().as_ptr());
        }
        assert_eq!(shared.holders(), 9);
    }

    #[test]
    fn memory_is_freed_with_the_last_holder_whatever_the_order() {
        let shared = Shared::new(BufferData::bytes(vec![1u8; 64].into()));
        let weak: Weak<SharedData> = Arc::downgrade(&shared.0);
        let clones: Vec<Shared> = (0..4).map(|_| shared.clone()).collect();
        drop(shared);
        let threads: Vec<_> = clones
            .into_iter()
            .map(|clone| {
                std::thread::spawn(move || clone.bytes().iter().map(|&b| b as u64).sum::<u64>())
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap(), 64);
        }
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn layout_is_kept() {
        let layout = Layout::new(c"d", 8, &[2, 3], 48).unwrap();
        let shared = Shared::new(BufferData {
            bytes: vec![0u8; 48].into(),
            layout: layout.clone(),
        });
        assert_eq!(shared.layout(), &layout);
    }
}
