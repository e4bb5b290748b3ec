//! Rust-owned byte buffers and their memory layout: what a `Buffer` owns and what moves through a channel.

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE_BUFFERS: AtomicUsize = AtomicUsize::new(0);

/// One Buffer's claim on the process-wide count of Buffers that own memory (for leak checks):
/// counted while it lives.
///
/// ```
/// use interpchan::core::{live_buffers, LiveBuffer};
/// let before = live_buffers();
/// let token = LiveBuffer::new();
/// assert!(live_buffers() >= before + 1);
/// drop(token);
/// ```
#[derive(Debug)]
pub struct LiveBuffer(());

impl LiveBuffer {
    /// Counts one more live Buffer until the returned value is dropped.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        LIVE_BUFFERS.fetch_add(1, Ordering::Relaxed);
        LiveBuffer(())
    }
}

impl Drop for LiveBuffer {
    fn drop(&mut self) {
        LIVE_BUFFERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Number of Buffers in this process (all interpreters) that own memory now.
pub fn live_buffers() -> usize {
    LIVE_BUFFERS.load(Ordering::Relaxed)
}

/// How the bytes of a buffer are read: struct-module format, item size and shape (C order).
///
/// ```
/// use interpchan::core::Layout;
/// let layout = Layout::bytes(16);
/// assert_eq!((layout.itemsize, &*layout.shape), (1, &[16usize][..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub format: CString,
    pub itemsize: usize,
    pub shape: Box<[usize]>,
}

impl Layout {
    /// Plain unsigned bytes (format `"B"`), one dimension.
    pub fn bytes(len: usize) -> Self {
        Layout {
            format: c"B".to_owned(),
            itemsize: 1,
            shape: vec![len].into(),
        }
    }

    /// A layout with the given format, item size and shape; `None` unless the shape's item
    /// count times the item size is exactly `len` bytes (and the item size is not zero).
    ///
    /// ```
    /// use interpchan::core::Layout;
    /// assert!(Layout::new(c"d", 8, &[2, 3], 48).is_some());
    /// assert!(Layout::new(c"d", 8, &[2, 3], 40).is_none());
    /// ```
    pub fn new(format: &CStr, itemsize: usize, shape: &[usize], len: usize) -> Option<Self> {
        let items = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
        (itemsize > 0 && items.checked_mul(itemsize)? == len).then(|| Layout {
            format: format.to_owned(),
            itemsize,
            shape: shape.into(),
        })
    }

    /// Byte strides of a C-contiguous array of this shape.
    pub fn c_strides(&self) -> Vec<usize> {
        let mut strides = vec![0; self.shape.len()];
        let mut step = self.itemsize;
        for (stride, &dim) in strides.iter_mut().zip(self.shape.iter()).rev() {
            *stride = step;
            step = step.saturating_mul(dim);
        }
        strides
    }
}

/// Memory that something other than a Rust allocation owns (a message of the network library
/// that received the bytes), kept alive as a buffer's storage so that the bytes are not copied.
/// Its bytes stay at the same address for as long as it lives, whatever moves it.
pub trait ForeignBytes: Send + Sync + std::fmt::Debug {
    /// The bytes.
    fn bytes(&self) -> &[u8];
    /// The bytes, writable.
    fn bytes_mut(&mut self) -> &mut [u8];
}

/// The storage of a buffer's bytes: a Rust allocation, or memory another owner keeps alive.
///
/// ```
/// use interpchan::core::Bytes;
/// let bytes = Bytes::from(vec![1u8, 2, 3]);
/// assert_eq!(&*bytes, &[1, 2, 3]);
/// assert_eq!(&*bytes.into_box(), &[1, 2, 3]);
/// ```
#[derive(Debug)]
pub enum Bytes {
    /// A Rust allocation.
    Owned(Box<[u8]>),
    /// Memory kept alive by its owner.
    Foreign(Box<dyn ForeignBytes>),
}

impl Bytes {
    /// The bytes as a Rust allocation: foreign memory is copied (and then freed).
    pub fn into_box(self) -> Box<[u8]> {
        match self {
            Bytes::Owned(b) => b,
            Bytes::Foreign(f) => f.bytes().into(),
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(b) => b,
            Bytes::Foreign(f) => f.bytes(),
        }
    }
}

impl std::ops::DerefMut for Bytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Bytes::Owned(b) => b,
            Bytes::Foreign(f) => f.bytes_mut(),
        }
    }
}

impl From<Box<[u8]>> for Bytes {
    fn from(b: Box<[u8]>) -> Bytes {
        Bytes::Owned(b)
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Bytes {
        Bytes::Owned(v.into())
    }
}

/// Bytes in flight, with their layout.
#[derive(Debug)]
pub struct BufferData {
    pub bytes: Bytes,
    pub layout: Layout,
}

impl BufferData {
    /// Bytes of format `"B"`.
    pub fn bytes(bytes: Box<[u8]>) -> Self {
        let layout = Layout::bytes(bytes.len());
        BufferData {
            bytes: Bytes::Owned(bytes),
            layout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_strides_of_a_3d_array() {
        let layout = Layout::new(c"i", 4, &[2, 3, 5], 120).unwrap();
        assert_eq!(layout.c_strides(), vec![60, 20, 4]);
    }

    #[test]
    fn zero_dimensional_layout_holds_one_item() {
        assert!(Layout::new(c"d", 8, &[], 8).is_some());
        assert!(Layout::new(c"d", 8, &[], 16).is_none());
    }

    #[test]
    fn overflowing_shape_is_refused() {
        assert!(Layout::new(c"B", 1, &[usize::MAX, 2], 0).is_none());
    }
}
