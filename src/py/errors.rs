//! Raising Python exceptions from Rust: plain messages and messages chained to the pending error.

use pyo3_ffi::*;

use super::ffi::{Owned, PyErrSet};

/// Raises `exc_type(msg)`.
///
/// # Safety
/// `exc_type` is a live exception class.
pub unsafe fn raise(exc_type: *mut PyObject, msg: &str) -> PyErrSet {
    // SAFETY: attached (binding invariant); `msg` is valid UTF-8 of the given length.
    let text = unsafe { PyUnicode_FromStringAndSize(msg.as_ptr().cast(), msg.len() as Py_ssize_t) };
    // SAFETY: as above; if building the text failed, that MemoryError is already set.
    if let Ok(text) = unsafe { Owned::new(text) } {
        // SAFETY: both arguments are live objects; SetObject takes its own references.
        unsafe { PyErr_SetObject(exc_type, text.as_ptr()) };
    }
    PyErrSet
}

/// Raises `exc_type(msg)` with the currently raised exception as its `__cause__`.
///
/// # Safety
/// `exc_type` is a live exception class.
pub unsafe fn raise_from(exc_type: *mut PyObject, msg: &str) -> PyErrSet {
    // SAFETY: attached; GetRaisedException hands us the pending exception (or null).
    let cause = unsafe { PyErr_GetRaisedException() };
    // SAFETY: the caller guarantees `exc_type`.
    unsafe { raise(exc_type, msg) };
    if !cause.is_null() {
        // SAFETY: `exc` is the new exception we just raised (we own it after GetRaisedException);
        // SetCause steals one reference to `cause`, SetContext steals the second we make;
        // SetRaisedException steals `exc`.
        unsafe {
            let exc = PyErr_GetRaisedException();
            if exc.is_null() {
                Py_DECREF(cause);
            } else {
                PyException_SetContext(exc, Py_NewRef(cause));
                PyException_SetCause(exc, cause);
                PyErr_SetRaisedException(exc);
            }
        }
    }
    PyErrSet
}

/// True if the pending error must pass through unchanged rather than be replaced or chained:
/// `MemoryError`, and anything that is not an `Exception` (`KeyboardInterrupt`, `SystemExit`).
///
/// # Safety
/// Attached, with an exception set.
pub unsafe fn passes_through() -> bool {
    // SAFETY: as the caller guarantees; both classes are static builtins.
    unsafe {
        PyErr_ExceptionMatches(PyExc_Exception) == 0
            || PyErr_ExceptionMatches(PyExc_MemoryError) != 0
    }
}

/// Short helpers for the builtin exceptions.
pub fn type_error(msg: &str) -> PyErrSet {
    // SAFETY: PyExc_TypeError is a static builtin class.
    unsafe { raise(PyExc_TypeError, msg) }
}

pub fn value_error(msg: &str) -> PyErrSet {
    // SAFETY: PyExc_ValueError is a static builtin class.
    unsafe { raise(PyExc_ValueError, msg) }
}

pub fn buffer_error(msg: &str) -> PyErrSet {
    // SAFETY: PyExc_BufferError is a static builtin class.
    unsafe { raise(PyExc_BufferError, msg) }
}

pub fn memory_error() -> PyErrSet {
    // SAFETY: attached (binding invariant).
    unsafe { PyErr_NoMemory() };
    PyErrSet
}

/// The name of `obj`'s type, for messages.
///
/// # Safety
/// `obj` is a live object.
pub unsafe fn type_name(obj: *mut PyObject) -> String {
    // SAFETY: `obj` is live, so its type is; PyType_GetName returns a new str reference.
    let name = unsafe { Owned::new(PyType_GetName(Py_TYPE(obj))) };
    // SAFETY: `name` is a live str.
    let text = name
        .ok()
        .and_then(|name| unsafe { utf8(name.as_ptr()) }.map(str::to_owned));
    text.unwrap_or_else(|| {
        // SAFETY: attached; drop whatever the failed lookup raised, this is only for a message.
        unsafe { PyErr_Clear() };
        "object".to_owned()
    })
}

/// The UTF-8 text of a `str`, borrowed from it; `None` (with an exception set) if it has none.
///
/// # Safety
/// `s` is a live `str` that outlives the returned slice.
pub unsafe fn utf8<'a>(s: *mut PyObject) -> Option<&'a str> {
    let mut len: Py_ssize_t = 0;
    // SAFETY: `s` is a live str; the returned buffer lives as long as `s`.
    let ptr = unsafe { PyUnicode_AsUTF8AndSize(s, &mut len) };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: CPython guarantees `len` bytes of valid UTF-8 at `ptr`.
    Some(unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr.cast(), len as usize))
    })
}
