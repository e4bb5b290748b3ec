//! interpchan: fast, safe channels between Python interpreters. This file holds the entry point.
//!
//! [`core`] is plain Rust (channels, items, buffers, registry); `py` is the pyo3-ffi binding.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod core;
mod py;

use pyo3_ffi::{PyModuleDef_Init, PyObject};

/// The module's entry point: multi-phase initialisation (the module is created per interpreter).
///
/// # Safety
/// Called by the Python import machinery, with the GIL held.
#[allow(non_snake_case)]
#[no_mangle]
pub unsafe extern "C" fn PyInit__interpchan() -> *mut PyObject {
    // SAFETY: MODULE_DEF is a static, fully initialised module definition that lives forever;
    // PyModuleDef_Init only marks it as initialised and returns it.
    unsafe { PyModuleDef_Init(&raw mut py::MODULE_DEF) }
}
