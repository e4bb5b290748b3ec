//! The module itself: its definition and slots, and `exec`, which makes this interpreter's
//! types and exception classes.

use std::ffi::{c_int, c_void, CStr};
use std::ptr;

use pyo3_ffi::*;

use super::ffi::{Owned, PyErrSet, PyResult};
use super::functions::FUNCTIONS;
use super::state::{self, State};
use super::{async_waker, buffer, receiver, sender, shared_buffer};

/// Adds a new type made from `spec` to the module; returns a borrowed pointer kept in the state.
///
/// # Safety
/// `module` is our module being initialised; `spec` one of our static specs.
unsafe fn add_type(
    module: *mut PyObject,
    spec: *mut PyType_Spec,
    name: &CStr,
) -> PyResult<*mut PyObject> {
    // SAFETY: as the caller guarantees; the type gets `module` as its defining module.
    unsafe {
        let tp = Owned::new(PyType_FromModuleAndSpec(module, spec, ptr::null_mut()))?;
        if PyModule_AddObjectRef(module, name.as_ptr(), tp.as_ptr()) != 0 {
            return Err(PyErrSet);
        }
        Ok(tp.into_ptr())
    }
}

/// Adds a new exception class `interpchan.<name>` with `bases` to the module.
///
/// # Safety
/// `module` is our module being initialised; `bases` a live class or tuple of classes.
unsafe fn add_exception(
    module: *mut PyObject,
    name: &CStr,
    doc: &CStr,
    bases: *mut PyObject,
) -> PyResult<*mut PyObject> {
    let qualified =
        std::ffi::CString::new(format!("interpchan.{}", name.to_string_lossy())).expect("no NUL");
    // SAFETY: as the caller guarantees.
    unsafe {
        let exc = Owned::new(PyErr_NewExceptionWithDoc(
            qualified.as_ptr(),
            doc.as_ptr(),
            bases,
            ptr::null_mut(),
        ))?;
        if PyModule_AddObjectRef(module, name.as_ptr(), exc.as_ptr()) != 0 {
            return Err(PyErrSet);
        }
        Ok(exc.into_ptr())
    }
}

/// # Safety
/// `module` is our module being initialised (its state zeroed).
unsafe fn init(module: *mut PyObject) -> PyResult<()> {
    // SAFETY: as the caller guarantees: the state is this module's, and every field we set is a
    // strong reference it owns from now on (released by `state::clear`, also after a partial
    // init).
    unsafe {
        let state = &mut *PyModule_GetState(module).cast::<State>();
        state.channel_error = add_exception(
            module,
            c"ChannelError",
            c"Base class of the errors interpchan raises.",
            PyExc_Exception,
        )?;
        state.channel_closed = add_exception(
            module,
            c"ChannelClosed",
            c"The handle is closed, or the other side of the channel is gone.",
            state.channel_error,
        )?;
        let queue = Owned::new(PyImport_ImportModule(c"queue".as_ptr()))?;
        for (field, name, doc, base) in [
            (
                &mut state.empty,
                c"Empty",
                c"recv_nowait() found nothing waiting.",
                c"Empty",
            ),
            (
                &mut state.full,
                c"Full",
                c"send_nowait() found the channel full.",
                c"Full",
            ),
        ] {
            let queue_exc = Owned::new(PyObject_GetAttrString(queue.as_ptr(), base.as_ptr()))?;
            let bases = Owned::new(PyTuple_Pack(2, state.channel_error, queue_exc.as_ptr()))?;
            *field = add_exception(module, name, doc, bases.as_ptr())?;
        }
        state.restore =
            Owned::new(PyObject_GetAttrString(module, c"_restore".as_ptr()))?.into_ptr();
        state.kw_timeout = Owned::new(PyUnicode_InternFromString(c"timeout".as_ptr()))?.into_ptr();
        state.kw_capacity =
            Owned::new(PyUnicode_InternFromString(c"capacity".as_ptr()))?.into_ptr();
        state.kw_receivers =
            Owned::new(PyUnicode_InternFromString(c"receivers".as_ptr()))?.into_ptr();
        super::bridge::add_functions(module)?;
        state.buffer_type = add_type(module, &raw mut buffer::SPEC, c"Buffer")?;
        state.shared_buffer_type = add_type(module, &raw mut shared_buffer::SPEC, c"SharedBuffer")?;
        state.receiver_type = add_type(module, &raw mut receiver::SPEC, c"Receiver")?;
        // Held by the module only (the state needs no pointer to it).
        Py_DECREF(add_type(module, &raw mut async_waker::SPEC, c"_Waker")?);
        // Set last: a non-null sender type marks the state as complete.
        state.sender_type = add_type(module, &raw mut sender::SPEC, c"Sender")?;
    }
    Ok(())
}

unsafe extern "C" fn exec(module: *mut PyObject) -> c_int {
    super::fork::install();
    super::reserve::memory_low(); // takes the low-memory reserve, the first time
                                  // SAFETY: called once per module object by the import machinery.
    match unsafe { init(module) } {
        Ok(()) => 0,
        Err(PyErrSet) => -1,
    }
}

const SLOTS_LEN: usize = 2 + cfg!(Py_3_12) as usize + cfg!(Py_3_13) as usize;

static mut SLOTS: [PyModuleDef_Slot; SLOTS_LEN] = [
    PyModuleDef_Slot {
        slot: Py_mod_exec,
        value: exec as *mut c_void,
    },
    // Safe in sub-interpreters with their own GIL: no Python object is shared between
    // interpreters; all state is per module object.
    #[cfg(Py_3_12)]
    PyModuleDef_Slot {
        slot: Py_mod_multiple_interpreters,
        value: Py_MOD_PER_INTERPRETER_GIL_SUPPORTED,
    },
    // Only in version-specific builds for 3.13+: the abi3 build (for 3.12+) cannot name a slot
    // that 3.12 rejects, and GIL builds ignore it; free-threaded builds cannot load abi3 anyway.
    #[cfg(Py_3_13)]
    PyModuleDef_Slot {
        slot: Py_mod_gil,
        value: Py_MOD_GIL_NOT_USED,
    },
    PyModuleDef_Slot {
        slot: 0,
        value: ptr::null_mut(),
    },
];

pub static mut MODULE_DEF: PyModuleDef = PyModuleDef {
    m_base: PyModuleDef_HEAD_INIT,
    m_name: c"interpchan._interpchan".as_ptr(),
    m_doc: c"Fast, safe channels between Python interpreters (the native part of interpchan)."
        .as_ptr(),
    m_size: std::mem::size_of::<State>() as Py_ssize_t,
    m_methods: (&raw mut FUNCTIONS).cast(),
    m_slots: (&raw mut SLOTS).cast(),
    m_traverse: Some(state::traverse),
    m_clear: Some(state::clear),
    m_free: Some(state::free),
};
