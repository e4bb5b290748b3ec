//! Per-interpreter module state: this interpreter's types, exception classes and interned names.

use std::cell::Cell;
use std::ffi::c_void;

use pyo3_ffi::*;

use super::errors::raise;
use super::ffi::{Owned, PyResult};

/// Everything interpchan keeps per interpreter. Lives in the module object (`m_size`); every
/// field is a strong reference, visited by `traverse` and dropped by `clear`.
#[repr(C)]
pub struct State {
    pub sender_type: *mut PyObject,
    pub receiver_type: *mut PyObject,
    pub buffer_type: *mut PyObject,
    pub channel_error: *mut PyObject,
    pub channel_closed: *mut PyObject,
    pub empty: *mut PyObject,
    pub full: *mut PyObject,
    /// The module's `_restore` function, which `__reduce__` names.
    pub restore: *mut PyObject,
    /// Interned keyword names.
    pub kw_timeout: *mut PyObject,
    pub kw_capacity: *mut PyObject,
    pub kw_receivers: *mut PyObject,
    /// `pickle.dumps` / `pickle.loads`, imported on first use.
    /// (Cells: set once through a shared reference; `Cell` has the layout of its content.)
    pub pickle_dumps: Cell<*mut PyObject>,
    pub pickle_loads: Cell<*mut PyObject>,
}

const FIELDS: usize = std::mem::size_of::<State>() / std::mem::size_of::<*mut PyObject>();

impl State {
    fn fields(&mut self) -> &mut [*mut PyObject; FIELDS] {
        // SAFETY: `State` is `repr(C)` and made only of `FIELDS` object pointers (plain or in a
        // `repr(transparent)` Cell), so it has the layout of an array of them.
        unsafe { &mut *(self as *mut State).cast::<[*mut PyObject; FIELDS]>() }
    }

    /// The state of the module that created `tp` (one of this module's types).
    ///
    /// # Safety
    /// `tp` is a live type made by `PyType_FromModuleAndSpec` from this module, and the
    /// returned reference is used only while that type lives.
    pub unsafe fn of_type<'a>(tp: *mut PyTypeObject) -> PyResult<&'a State> {
        // SAFETY: per the contract, `tp` has an associated module whose state is a `State`.
        let state = unsafe { PyType_GetModuleState(tp) }.cast::<State>();
        // SAFETY: non-null state memory of this module is a `State` (zeroed, then filled).
        unsafe { Self::checked(state) }
    }

    /// The state of `module`, this module.
    ///
    /// # Safety
    /// `module` is a live interpchan module object; the reference is used while it lives.
    pub unsafe fn of_module<'a>(module: *mut PyObject) -> PyResult<&'a State> {
        // SAFETY: interpchan modules have a `State` as their state.
        unsafe { Self::checked(PyModule_GetState(module).cast::<State>()) }
    }

    unsafe fn checked<'a>(state: *mut State) -> PyResult<&'a State> {
        // SAFETY: the caller passes null or a valid `State`.
        match unsafe { state.as_ref() } {
            Some(state) if !state.sender_type.is_null() => Ok(state),
            // SAFETY: a builtin exception class.
            _ => Err(unsafe {
                raise(
                    PyExc_RuntimeError,
                    "the interpchan module of this interpreter was torn down",
                )
            }),
        }
    }

    /// `pickle.dumps` and `pickle.loads`, importing pickle the first time.
    pub fn pickle(&self) -> PyResult<(*mut PyObject, *mut PyObject)> {
        if self.pickle_dumps.get().is_null() {
            // SAFETY: attached (binding invariant); the two references become the state's own
            // and are released by `clear`.
            unsafe {
                let pickle = Owned::new(PyImport_ImportModule(c"pickle".as_ptr()))?;
                let dumps = Owned::new(PyObject_GetAttrString(pickle.as_ptr(), c"dumps".as_ptr()))?;
                let loads = Owned::new(PyObject_GetAttrString(pickle.as_ptr(), c"loads".as_ptr()))?;
                self.pickle_loads.set(loads.into_ptr());
                self.pickle_dumps.set(dumps.into_ptr());
            }
        }
        Ok((self.pickle_dumps.get(), self.pickle_loads.get()))
    }
}

/// `m_traverse`: visits every reference the state holds.
pub unsafe extern "C" fn traverse(
    module: *mut PyObject,
    visit: visitproc,
    arg: *mut c_void,
) -> i32 {
    // SAFETY: called by the GC on our module; the state may be null before exec ran.
    let Some(state) = (unsafe { PyModule_GetState(module).cast::<State>().as_mut() }) else {
        return 0;
    };
    for &obj in state.fields().iter() {
        if !obj.is_null() {
            // SAFETY: `obj` is a live reference held by the state.
            let rc = unsafe { visit(obj, arg) };
            if rc != 0 {
                return rc;
            }
        }
    }
    0
}

/// `m_clear`: drops every reference the state holds.
pub unsafe extern "C" fn clear(module: *mut PyObject) -> i32 {
    // SAFETY: called by the interpreter on our module; the state may be null.
    if let Some(state) = unsafe { PyModule_GetState(module).cast::<State>().as_mut() } {
        for field in state.fields().iter_mut() {
            // SAFETY: each field is null or a strong reference owned by the state.
            unsafe { Py_CLEAR(field) };
        }
    }
    0
}

/// `m_free`: same as clear.
pub unsafe extern "C" fn free(module: *mut c_void) {
    // SAFETY: `module` is our module object being freed.
    unsafe { clear(module.cast()) };
}
