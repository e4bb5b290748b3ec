//! Builders for the static method and attribute tables of the module and its types.

use std::ffi::{c_int, c_void, CStr};
use std::ptr;

use pyo3_ffi::*;

use super::ffi::{Owned, PyErrSet, PyResult};
use super::state::State;

/// CPython's `PyCMethod`: the C signature of a `METH_METHOD | METH_FASTCALL | METH_KEYWORDS`
/// method, which also receives its defining class. Part of the limited API since 3.10, but
/// pyo3-ffi only declares it (and `METH_METHOD`) for version-specific builds, so it is spelt out
/// here for the abi3 build too.
pub type PyCMethod = unsafe extern "C" fn(
    slf: *mut PyObject,
    defining_class: *mut PyTypeObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject;

/// `METH_METHOD` (0x0200 in `methodobject.h`, limited API since 3.10): `ml_meth` is a
/// [`PyCMethod`].
const METH_METHOD: c_int = 0x0200;

/// A method that finds its module state through its defining class
/// (`METH_METHOD | METH_FASTCALL | METH_KEYWORDS`).
pub const fn method(name: &'static CStr, f: PyCMethod, doc: &'static CStr) -> PyMethodDef {
    // SAFETY: only the pointer's type changes (both are `extern "C"` function pointers, of the
    // same size); CPython never calls `ml_meth` through the `PyCFunction` type it is declared
    // with in C. It reads `ml_flags` first, and for METH_METHOD | METH_FASTCALL | METH_KEYWORDS
    // casts it back to `PyCMethod` and calls it with exactly that signature, as C extensions'
    // `(PyCFunction)(void (*)(void))f` casts rely on.
    let f = unsafe { std::mem::transmute::<PyCMethod, PyCFunction>(f) };
    PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: PyMethodDefPointer { PyCFunction: f },
        ml_flags: METH_METHOD | METH_FASTCALL | METH_KEYWORDS,
        ml_doc: doc.as_ptr(),
    }
}

/// A method without arguments or state.
pub const fn method_noargs(name: &'static CStr, f: PyCFunction, doc: &'static CStr) -> PyMethodDef {
    PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: PyMethodDefPointer { PyCFunction: f },
        ml_flags: METH_NOARGS,
        ml_doc: doc.as_ptr(),
    }
}

/// A module-level function (its `self` is the module).
pub const fn function(
    name: &'static CStr,
    f: PyCFunctionFastWithKeywords,
    doc: &'static CStr,
) -> PyMethodDef {
    PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: PyMethodDefPointer {
            PyCFunctionFastWithKeywords: f,
        },
        ml_flags: METH_FASTCALL | METH_KEYWORDS,
        ml_doc: doc.as_ptr(),
    }
}

pub const END_METHOD: PyMethodDef = PyMethodDef::zeroed();

/// A read-only attribute.
pub const fn getset(name: &'static CStr, get: getter, doc: &'static CStr) -> PyGetSetDef {
    PyGetSetDef {
        name: name.as_ptr(),
        get: Some(get),
        set: None,
        doc: doc.as_ptr(),
        closure: ptr::null_mut(),
    }
}

pub const END_GETSET: PyGetSetDef = PyGetSetDef {
    name: ptr::null(),
    get: None,
    set: None,
    doc: ptr::null(),
    closure: ptr::null_mut(),
};

/// One entry of a type's slot table.
pub const fn slot(slot: c_int, pfunc: *mut c_void) -> PyType_Slot {
    PyType_Slot { slot, pfunc }
}

pub const END_SLOT: PyType_Slot = slot(0, ptr::null_mut());

/// Hands a result to Python: the new reference, or null with the exception set.
pub fn ret(result: PyResult<Owned>) -> *mut PyObject {
    match result {
        Ok(obj) => obj.into_ptr(),
        Err(PyErrSet) => ptr::null_mut(),
    }
}

/// Runs a method body with the module state of `tp` (a method's defining class, or the type of
/// `self` in a slot) and hands the result to Python.
///
/// # Safety
/// As for [`State::of_type`].
pub unsafe fn with_type_state(
    tp: *mut PyTypeObject,
    body: impl FnOnce(&State) -> PyResult<Owned>,
) -> *mut PyObject {
    // SAFETY: what our caller guarantees, passed on.
    ret(unsafe { State::of_type(tp) }.and_then(body))
}

/// Runs a module function's body with the module's state and hands the result to Python.
///
/// # Safety
/// As for [`State::of_module`].
pub unsafe fn with_module_state(
    module: *mut PyObject,
    body: impl FnOnce(&State) -> PyResult<Owned>,
) -> *mut PyObject {
    // SAFETY: what our caller guarantees, passed on.
    ret(unsafe { State::of_module(module) }.and_then(body))
}

/// A new reference to `None`.
pub fn none() -> PyResult<Owned> {
    // SAFETY: None is immortal and always live.
    Ok(unsafe { Owned::borrowed(Py_None()) })
}

/// A new reference to `True` or `False`.
pub fn boolean(value: bool) -> PyResult<Owned> {
    // SAFETY: attached (binding invariant); returns a new reference.
    unsafe { Owned::new(PyBool_FromLong(value as _)) }
}
