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
    // Interpreters with their own GIL (or threads of a free-threaded build) may import the
    // module at the same moment; PyModuleDef_Init writes into MODULE_DEF, so only the first
    // call runs it, and the others wait for it to finish.
    static INIT: std::sync::Once = std::sync::Once::new();
    // SAFETY: MODULE_DEF is a static, fully initialised module definition that lives forever;
    // PyModuleDef_Init only marks it as initialised (once, under INIT) and returns it.
    INIT.call_once(|| unsafe {
        PyModuleDef_Init(&raw mut py::MODULE_DEF);
    });
    (&raw mut py::MODULE_DEF).cast()
}
