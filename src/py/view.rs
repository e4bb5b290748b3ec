//! Describing Rust-owned memory to the buffer protocol: the `Py_buffer` that `Buffer` and
//! `SharedBuffer` views are made of.

use std::ffi::{c_int, c_void};
use std::ptr;

use pyo3_ffi::*;

use crate::core::Layout;

/// A layout as the buffer protocol wants it: `Py_ssize_t` shape and C-order byte strides,
/// kept next to the memory so that the pointers handed to views stay valid while it lives.
pub struct ViewLayout {
    layout: Layout,
    shape: Box<[Py_ssize_t]>,
    strides: Box<[Py_ssize_t]>,
}

/// Why a view cannot be made as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    /// A Fortran-contiguous view of memory that is C-contiguous (and truly multi-dimensional).
    NotFortran,
}

impl ViewLayout {
    pub fn new(layout: Layout) -> ViewLayout {
        let shape = layout.shape.iter().map(|&d| d as Py_ssize_t).collect();
        let strides = layout
            .c_strides()
            .into_iter()
            .map(|s| s as Py_ssize_t)
            .collect();
        ViewLayout {
            layout,
            shape,
            strides,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn into_layout(self) -> Layout {
        self.layout
    }

    /// Describes `len` bytes at `buf`, laid out as `self`, in `v` as `flags` ask (every field
    /// but `v.obj`, which the caller sets once it counts the export). Asked for no shape
    /// (`PyBUF_ND` unset), the memory is presented as one dimension of unsigned bytes.
    ///
    /// The pointers stored (`buf`, and the format, shape and strides in `self`) must stay valid
    /// until the view is released: the caller keeps `self` and the memory alive and in place
    /// while the export lasts.
    pub fn fill(
        &self,
        v: &mut Py_buffer,
        buf: *mut u8,
        len: usize,
        readonly: bool,
        flags: c_int,
    ) -> Result<(), Unfit> {
        if flags & PyBUF_F_CONTIGUOUS == PyBUF_F_CONTIGUOUS
            && self.shape.iter().filter(|&&d| d > 1).count() > 1
        {
            return Err(Unfit::NotFortran);
        }
        let with_format = flags & PyBUF_FORMAT != 0;
        v.buf = buf.cast::<c_void>();
        v.len = len as Py_ssize_t;
        v.readonly = c_int::from(readonly);
        v.suboffsets = ptr::null_mut();
        v.internal = ptr::null_mut();
        if flags & PyBUF_ND != PyBUF_ND {
            v.itemsize = 1;
            v.ndim = 1;
            v.format = if with_format {
                c"B".as_ptr().cast_mut()
            } else {
                ptr::null_mut()
            };
            v.shape = ptr::null_mut();
            v.strides = ptr::null_mut();
        } else {
            v.itemsize = self.layout.itemsize as Py_ssize_t;
            v.ndim = self.shape.len() as c_int;
            v.format = if with_format {
                self.layout.format.as_ptr().cast_mut()
            } else {
                ptr::null_mut()
            };
            v.shape = self.shape.as_ptr().cast_mut();
            v.strides = if flags & PyBUF_STRIDES == PyBUF_STRIDES {
                self.strides.as_ptr().cast_mut()
            } else {
                ptr::null_mut()
            };
        }
        Ok(())
    }
}
