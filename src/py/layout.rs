//! Layouts to and from Python: the `format=` and `shape=` arguments of `Buffer`, checked, and
//! the `format` and `shape` attributes of `SharedBuffer`.

use std::ffi::{CStr, CString};

use pyo3_ffi::*;

use crate::core::Layout;

use super::errors::{raise_from, type_error, type_name, utf8, value_error};
use super::ffi::{Owned, PyErrSet, PyResult};

/// Most dimensions a view may have (CPython's `PyBUF_MAX_NDIM`; `memoryview` refuses more).
pub const MAX_NDIM: usize = 64;

/// The layout of an `nbytes`-byte Buffer from its `format` and `shape` arguments (null when
/// not given; `shape` may also be `None`).
///
/// `format` is a `struct` format (`struct.calcsize` gives its item size, which must not be
/// zero); `shape`, a sequence of non-negative ints, defaults to one dimension of
/// `nbytes / itemsize` items. Wrong types raise `TypeError`; a format `struct` rejects, a
/// negative dimension, too many dimensions, or a shape that does not hold exactly `nbytes`
/// bytes raise `ValueError`.
///
/// # Safety
/// Attached; `format` and `shape` are null or live objects.
pub unsafe fn from_args(
    nbytes: usize,
    format: *mut PyObject,
    shape: *mut PyObject,
) -> PyResult<Layout> {
    // SAFETY: as the caller guarantees.
    let (format, itemsize) = unsafe { format_of(format)? };
    // SAFETY: as the caller guarantees.
    let shape = match unsafe { shape_of(shape)? } {
        Some(shape) => shape,
        None if nbytes % itemsize == 0 => vec![nbytes / itemsize],
        None => {
            return Err(value_error(&format!(
                "nbytes ({nbytes}) is not a multiple of the item size of format {:?} \
                 ({itemsize}); pass shape= or a size that is",
                format.to_string_lossy()
            )))
        }
    };
    Layout::new(&format, itemsize, &shape, nbytes).ok_or_else(|| {
        value_error(&format!(
            "shape {} of {:?} items ({itemsize} bytes each) does not hold exactly nbytes \
             ({nbytes}) bytes",
            tuple(&shape),
            format.to_string_lossy()
        ))
    })
}

/// The format as a C string and its item size; `"B"` (1 byte) when not given.
///
/// # Safety
/// Attached; `format` is null or a live object.
unsafe fn format_of(format: *mut PyObject) -> PyResult<(CString, usize)> {
    if format.is_null() {
        return Ok((c"B".to_owned(), 1));
    }
    // SAFETY: `format` is live.
    if unsafe { PyUnicode_Check(format) } == 0 {
        // SAFETY: as above.
        let name = unsafe { type_name(format) };
        return Err(type_error(&format!("format must be a str, not {name}")));
    }
    // SAFETY: `format` is a live str that outlives the borrowed text.
    let text = unsafe { utf8(format) }.ok_or(PyErrSet)?;
    if text == "B" {
        return Ok((c"B".to_owned(), 1));
    }
    let Ok(c_format) = CString::new(text) else {
        return Err(value_error("format must not contain NUL characters"));
    };
    if !text.is_ascii() {
        return Err(value_error(&format!(
            "format {text:?} is not a struct format"
        )));
    }
    // SAFETY: attached; `format` is a live str.
    let itemsize = unsafe { calcsize(format) }?;
    if itemsize == 0 {
        return Err(value_error(&format!(
            "format {text:?} describes zero-byte items; a buffer's items have a size"
        )));
    }
    Ok((c_format, itemsize))
}

/// `struct.calcsize(format)`; `ValueError` chained to struct's error if it rejects the format.
///
/// # Safety
/// Attached; `format` is a live str.
unsafe fn calcsize(format: *mut PyObject) -> PyResult<usize> {
    // SAFETY: attached; each call returns a new reference or null with an exception set.
    let size = unsafe {
        let module = Owned::new(PyImport_ImportModule(c"struct".as_ptr()))?;
        let calcsize = Owned::new(PyObject_GetAttrString(
            module.as_ptr(),
            c"calcsize".as_ptr(),
        ))?;
        let args = Owned::new(PyTuple_Pack(1, format))?;
        Owned::new(PyObject_Call(
            calcsize.as_ptr(),
            args.as_ptr(),
            std::ptr::null_mut(),
        ))
    };
    let size = match size {
        Ok(size) => size,
        Err(PyErrSet) => {
            // SAFETY: attached with an exception set; only ordinary errors (struct.error) mean
            // a bad format: MemoryError and the like pass through.
            if unsafe { PyErr_ExceptionMatches(PyExc_Exception) } == 0
                // SAFETY: as above.
                || unsafe { PyErr_ExceptionMatches(PyExc_MemoryError) } != 0
            {
                return Err(PyErrSet);
            }
            // SAFETY: `format` is a live str; builtin exception class.
            let text = unsafe { utf8(format) }.unwrap_or("?").to_owned();
            // SAFETY: builtin exception class.
            return Err(unsafe {
                raise_from(
                    PyExc_ValueError,
                    &format!("format {text:?} is not a struct format"),
                )
            });
        }
    };
    // SAFETY: `size` is a live int (calcsize returns one).
    let n = unsafe { PyLong_AsSsize_t(size.as_ptr()) };
    // SAFETY: attached.
    if n == -1 && unsafe { !PyErr_Occurred().is_null() } {
        return Err(PyErrSet);
    }
    Ok(n.max(0) as usize)
}

/// The dimensions of `shape`, or `None` when not given (null or `None`).
///
/// # Safety
/// Attached; `shape` is null or a live object.
unsafe fn shape_of(shape: *mut PyObject) -> PyResult<Option<Vec<usize>>> {
    // SAFETY: None is immortal.
    if shape.is_null() || shape == unsafe { Py_None() } {
        return Ok(None);
    }
    // SAFETY: `shape` is live.
    let is_sequence = unsafe { PyTuple_Check(shape) != 0 || PyList_Check(shape) != 0 };
    if !is_sequence {
        // SAFETY: as above.
        let name = unsafe { type_name(shape) };
        return Err(type_error(&format!(
            "shape must be a tuple or list of ints, or None, not {name}"
        )));
    }
    // SAFETY: `shape` is a live tuple or list; the tuple is ours and never changes.
    let dims = unsafe { Owned::new(PySequence_Tuple(shape))? };
    // SAFETY: `dims` is a live tuple.
    let ndim = unsafe { PyTuple_Size(dims.as_ptr()) }.max(0) as usize;
    if ndim > MAX_NDIM {
        return Err(value_error(&format!(
            "shape has {ndim} dimensions; at most {MAX_NDIM} are supported"
        )));
    }
    let mut out = Vec::with_capacity(ndim);
    for i in 0..ndim {
        // SAFETY: `i` is in bounds of our own tuple; the item is borrowed from it.
        let dim = unsafe { PyTuple_GetItem(dims.as_ptr(), i as Py_ssize_t) };
        // SAFETY: `dim` is live; PyNumber_Index raises TypeError for anything but an integer.
        let dim = unsafe { Owned::new(PyNumber_Index(dim))? };
        // SAFETY: `dim` is a live int; overflow raises OverflowError.
        let n = unsafe { PyLong_AsSsize_t(dim.as_ptr()) };
        // SAFETY: attached.
        if n == -1 && unsafe { !PyErr_Occurred().is_null() } {
            return Err(PyErrSet);
        }
        if n < 0 {
            return Err(value_error(&format!(
                "shape dimensions must be non-negative, not {n}"
            )));
        }
        out.push(n as usize);
    }
    Ok(Some(out))
}

/// The layout as a repr shows it: `format='d' shape=(2, 3)`.
pub fn describe(layout: &Layout) -> String {
    format!(
        "format='{}' shape={}",
        layout.format.to_string_lossy(),
        tuple(&layout.shape)
    )
}

/// Dimensions as Python writes a tuple of them: `(2, 3)`, `(8,)`, `()`.
fn tuple(dims: &[usize]) -> String {
    let text: Vec<String> = dims.iter().map(usize::to_string).collect();
    let comma = if dims.len() == 1 { "," } else { "" };
    format!("({}{comma})", text.join(", "))
}

/// The layout's format as a new `str`.
///
/// # Safety
/// Attached.
pub unsafe fn format_str(layout: &Layout) -> PyResult<Owned> {
    let format: &CStr = &layout.format;
    // SAFETY: attached; the format is a NUL-terminated string (ASCII when made here; copied
    // formats are decoded leniently).
    unsafe {
        Owned::new(PyUnicode_DecodeLatin1(
            format.as_ptr(),
            format.to_bytes().len() as Py_ssize_t,
            std::ptr::null(),
        ))
    }
}

/// The layout's shape as a new tuple of ints.
///
/// # Safety
/// Attached.
pub unsafe fn shape_tuple(layout: &Layout) -> PyResult<Owned> {
    // SAFETY: attached; a fresh tuple's slots are filled once each with new references
    // (SetItem steals them).
    unsafe {
        let tuple = Owned::new(PyTuple_New(layout.shape.len() as Py_ssize_t))?;
        for (i, &dim) in layout.shape.iter().enumerate() {
            let dim = Owned::new(PyLong_FromSize_t(dim))?;
            PyTuple_SetItem(tuple.as_ptr(), i as Py_ssize_t, dim.into_ptr());
        }
        Ok(tuple)
    }
}
