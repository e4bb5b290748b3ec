//! Argument parsing for vectorcall methods, and the `timeout` and `capacity` arguments.

use std::ffi::CStr;
use std::time::{Duration, Instant};

use pyo3_ffi::*;

use super::errors::{type_error, type_name, value_error};
use super::ffi::PyResult;

/// One parameter: its name, and its interned name object (or null) for a fast compare.
pub struct Param {
    pub name: &'static CStr,
    pub interned: *mut PyObject,
}

impl Param {
    pub fn new(name: &'static CStr, interned: *mut PyObject) -> Param {
        Param { name, interned }
    }
}

/// Parses vectorcall arguments into one slot per parameter (null where not given).
/// The first `posonly` parameters are positional-only; the first `required` must be given.
///
/// # Safety
/// `args` holds `nargs` positional then `len(kwnames)` keyword values, all live; `kwnames` is
/// null or a tuple of str.
pub unsafe fn parse<const N: usize>(
    fname: &str,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
    params: [Param; N],
    posonly: usize,
    required: usize,
) -> PyResult<[*mut PyObject; N]> {
    let nargs = nargs as usize;
    let mut out = [std::ptr::null_mut(); N];
    if nargs > N {
        let s = if N == 1 { "" } else { "s" };
        return Err(type_error(&format!(
            "{fname}() takes at most {N} positional argument{s} ({nargs} given)"
        )));
    }
    // SAFETY: the caller guarantees `nargs` live positional values at `args`.
    let positional = unsafe { std::slice::from_raw_parts(args, nargs) };
    out[..nargs].copy_from_slice(positional);
    if !kwnames.is_null() {
        // SAFETY: `kwnames` is a tuple whose values follow the positional ones in `args`.
        let nkw = unsafe { PyTuple_Size(kwnames) } as usize;
        for k in 0..nkw {
            // SAFETY: in bounds; the tuple owns its items (borrowed here).
            let (key, value) = unsafe {
                (
                    PyTuple_GetItem(kwnames, k as Py_ssize_t),
                    *args.add(nargs + k),
                )
            };
            let slot = params.iter().enumerate().skip(posonly).find(|(_, p)| {
                // SAFETY: `key` is a live str; compare by identity, then by value.
                key == p.interned
                    || unsafe { PyUnicode_CompareWithASCIIString(key, p.name.as_ptr()) } == 0
            });
            let Some((i, param)) = slot else {
                // SAFETY: `key` is a live str.
                let shown = unsafe { super::errors::utf8(key) }
                    .unwrap_or("?")
                    .to_owned();
                // SAFETY: attached; a failed UTF-8 view only leaves an error we replace.
                unsafe { PyErr_Clear() };
                return Err(type_error(&format!(
                    "{fname}() got an unexpected keyword argument '{shown}'"
                )));
            };
            if !out[i].is_null() {
                let name = param.name.to_string_lossy();
                return Err(type_error(&format!(
                    "{fname}() got multiple values for argument '{name}'"
                )));
            }
            out[i] = value;
        }
    }
    if let Some(missing) = out[..required].iter().position(|p| p.is_null()) {
        let name = params[missing].name.to_string_lossy();
        return Err(type_error(&format!(
            "{fname}() missing required argument '{name}' (pos {})",
            missing + 1
        )));
    }
    Ok(out)
}

/// Refuses any argument (for methods that take none).
///
/// # Safety
/// As for [`parse`].
pub unsafe fn no_args(fname: &str, nargs: Py_ssize_t, kwnames: *mut PyObject) -> PyResult<()> {
    let nkw = if kwnames.is_null() {
        0
    } else {
        // SAFETY: a non-null `kwnames` is a live tuple.
        unsafe { PyTuple_Size(kwnames) }
    };
    if nargs != 0 || nkw != 0 {
        return Err(type_error(&format!(
            "{fname}() takes no arguments ({} given)",
            nargs + nkw
        )));
    }
    Ok(())
}

/// Turns a `timeout` argument (null or None: wait forever) into a deadline on the monotonic
/// clock. Negative or NaN: `ValueError`; not a real number: `TypeError`; an int too large
/// for a float: `OverflowError`.
///
/// # Safety
/// `timeout` is null or a live object.
pub unsafe fn deadline(timeout: *mut PyObject) -> PyResult<Option<Instant>> {
    // SAFETY: Py_None is the static None.
    if timeout.is_null() || timeout == unsafe { Py_None() } {
        return Ok(None);
    }
    // SAFETY: `timeout` is live; AsDouble accepts float, int and objects with __float__/__index__.
    let seconds = unsafe { PyFloat_AsDouble(timeout) };
    // SAFETY: attached.
    if seconds == -1.0 && unsafe { !PyErr_Occurred().is_null() } {
        // Only "not a number" gets our message: an int too large for a float raises
        // OverflowError (as threading does), and whatever `__float__` raised otherwise
        // (KeyboardInterrupt, MemoryError, ...) passes through unchanged.
        // SAFETY: attached and an exception is set.
        if unsafe { PyErr_ExceptionMatches(PyExc_TypeError) } == 0 {
            return Err(super::ffi::PyErrSet);
        }
        // SAFETY: attached; `timeout` is live.
        let name = unsafe {
            PyErr_Clear();
            type_name(timeout)
        };
        return Err(type_error(&format!(
            "timeout must be a number or None, not {name}"
        )));
    }
    if seconds.is_nan() {
        return Err(value_error("timeout must not be NaN"));
    }
    if seconds < 0.0 {
        return Err(value_error("timeout must be non-negative"));
    }
    // A timeout too large to represent is as good as none.
    Ok(Duration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|d| Instant::now().checked_add(d)))
}

/// Largest bounded capacity: a bounded channel reserves its slots up front.
pub const MAX_CAPACITY: usize = 1 << 20;

/// Turns a `capacity` argument (null or None: unbounded) into a capacity.
///
/// # Safety
/// `capacity` is null or a live object.
pub unsafe fn capacity(capacity: *mut PyObject) -> PyResult<Option<usize>> {
    // SAFETY: Py_None is the static None.
    if capacity.is_null() || capacity == unsafe { Py_None() } {
        return Ok(None);
    }
    // SAFETY: `capacity` is live.
    if unsafe { PyLong_Check(capacity) } == 0 {
        // SAFETY: `capacity` is live.
        let name = unsafe { type_name(capacity) };
        return Err(type_error(&format!(
            "capacity must be an int or None, not {name}"
        )));
    }
    let mut overflow = 0;
    // SAFETY: `capacity` is a live int.
    let value = unsafe { PyLong_AsLongLongAndOverflow(capacity, &mut overflow) };
    // SAFETY: attached.
    if value == -1 && overflow == 0 && unsafe { !PyErr_Occurred().is_null() } {
        return Err(super::ffi::PyErrSet);
    }
    // On overflow `value` is -1: the sign is `overflow`'s.
    if overflow < 0 || (overflow == 0 && value < 0) {
        return Err(value_error("capacity must be non-negative"));
    }
    if overflow > 0 || value as u64 > MAX_CAPACITY as u64 {
        return Err(value_error(&format!(
            "capacity must be at most {MAX_CAPACITY} (a bounded channel reserves its slots); \
             use None for an unbounded channel"
        )));
    }
    Ok(Some(value as usize))
}
