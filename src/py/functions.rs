//! The module itself: its definition and slots, `exec` (types, exceptions), and its functions.

use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::time::Instant;

use pyo3_ffi::*;

use crate::core::{self, Handle, RecvEnd, SelectFailure};

use super::args::{self, parse, Param};
use super::blocking::Waiter;
use super::errors::{raise, timeout_error, type_error, type_name, value_error};
use super::ffi::{allow_threads, Owned, PyErrSet, PyResult};
use super::from_item::received;
use super::handles::{handle, new_receiver, new_sender, restore};
use super::methods::{function, with_module_state, END_METHOD};
use super::state::{self, State};
use super::{buffer, receiver, sender};

unsafe extern "C" fn channel(
    module: *mut PyObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter with our module and its arguments.
    unsafe {
        with_module_state(module, |state| {
            let params = [Param::new(c"capacity", state.kw_capacity)];
            let [capacity] = parse("channel", args, nargs, kwnames, params, 0, 0)?;
            let (tx, rx) = core::channel(args::capacity(capacity)?);
            let tx = new_sender(state, tx)?;
            let rx = new_receiver(state, rx)?;
            Owned::new(PyTuple_Pack(2, tx.as_ptr(), rx.as_ptr()))
        })
    }
}

unsafe extern "C" fn select(
    module: *mut PyObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter with our module and its arguments.
    unsafe {
        with_module_state(module, |state| {
            let params = [
                Param::new(c"receivers", state.kw_receivers),
                Param::new(c"timeout", state.kw_timeout),
            ];
            let [receivers, timeout] = parse("select", args, nargs, kwnames, params, 0, 1)?;
            let deadline = args::deadline(timeout)?;
            let objects = receiver_list(state, receivers)?;
            let handles: Vec<&Handle<RecvEnd>> =
                objects.iter().map(|o| handle(o.as_ptr())).collect();
            let (index, item) = select_item(&handles, deadline).map_err(|why| match why {
                Ok(SelectFailure::Timeout) => timeout_error("select timed out: no item arrived"),
                Ok(_) => raise(
                    state.channel_closed,
                    "every receiver given to select() is closed, or drained with no Sender left",
                ),
                Err(err) => err,
            })?;
            let item = received(state, item)?;
            Owned::new(PyTuple_Pack(2, objects[index].as_ptr(), item.as_ptr()))
        })
    }
}

/// The receivers given to `select`, each checked and held by us while we wait.
///
/// # Safety
/// `receivers` is a live object; `state` this interpreter's module state.
unsafe fn receiver_list(state: &State, receivers: *mut PyObject) -> PyResult<Vec<Owned>> {
    // SAFETY: `receivers` is live; PySequence_List accepts any iterable.
    let list = unsafe { Owned::new(PySequence_List(receivers))? };
    // SAFETY: `list` is a live list we own; nobody else can change it.
    let objects: Vec<Owned> = unsafe {
        (0..PyList_Size(list.as_ptr()))
            .map(|i| Owned::borrowed(PyList_GetItem(list.as_ptr(), i)))
            .collect()
    };
    if objects.is_empty() {
        return Err(value_error("select() needs at least one Receiver"));
    }
    for obj in &objects {
        // SAFETY: `obj` is live.
        if unsafe { Py_TYPE(obj.as_ptr()) }.cast() != state.receiver_type {
            // SAFETY: `obj` is live.
            let name = unsafe { type_name(obj.as_ptr()) };
            return Err(type_error(&format!("select() takes Receivers, not {name}")));
        }
    }
    Ok(objects)
}

/// Waits for the first item among `handles` (GIL released while blocking).
fn select_item(
    handles: &[&Handle<RecvEnd>],
    deadline: Option<Instant>,
) -> Result<(usize, core::Item), PyResult<SelectFailure>> {
    match core::try_select(handles) {
        Err(SelectFailure::WouldBlock) => {}
        other => return other.map_err(Ok),
    }
    let waiter = Waiter::new(deadline);
    loop {
        let until = waiter.slice();
        match allow_threads(|| match until {
            Some(until) => core::select(handles, Some(until)),
            None => core::select(handles, None),
        }) {
            Err(SelectFailure::Timeout) => match waiter.again() {
                Ok(true) => continue,
                Ok(false) => return Err(Ok(SelectFailure::Timeout)),
                Err(err) => return Err(Err(err)),
            },
            other => return other.map_err(Ok),
        }
    }
}

unsafe extern "C" fn restore_handle(
    module: *mut PyObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter with our module and its arguments.
    unsafe {
        with_module_state(module, |state| {
            let [reference] = parse(
                "_restore",
                args,
                nargs,
                kwnames,
                [Param::new(c"reference", ptr::null_mut())],
                1,
                1,
            )?;
            restore(state, reference)
        })
    }
}

unsafe extern "C" fn live_channels(
    _module: *mut PyObject,
    _args: *const *mut PyObject,
    _nargs: Py_ssize_t,
    _kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: attached; returns a new reference or null.
    unsafe { PyLong_FromSize_t(core::registry::live_channels()) }
}

static mut FUNCTIONS: [PyMethodDef; 5] = [
    function(
        c"channel",
        channel,
        c"channel(capacity=None)\n--\n\nMake a channel and return (Sender, Receiver).\n\n\
capacity None: unbounded; n > 0: send blocks while n items wait; 0: rendezvous (send waits for a \
receiver).",
    ),
    function(
        c"select",
        select,
        c"select(receivers, timeout=None)\n--\n\nWait until any of the receivers has an item and \
return (receiver, item).\n\nReceivers that are closed and drained are skipped; ChannelClosed if \
all are. TimeoutError on timeout. Fair: among ready receivers one is picked at random.",
    ),
    function(
        c"_restore",
        restore_handle,
        c"_restore(reference, /)\n--\n\nThe handle a pickled channel reference names (used by pickle).",
    ),
    function(
        c"_live_channels",
        live_channels,
        c"_live_channels()\n--\n\nNumber of channels alive in this process (for leak checks).",
    ),
    END_METHOD,
];

/// Adds a new type made from `spec` to the module; returns a borrowed pointer kept in the state.
///
/// # Safety
/// `module` is our module being initialised; `spec` one of our static specs.
unsafe fn add_type(
    module: *mut PyObject,
    spec: *mut PyType_Spec,
    name: &CStr,
) -> PyResult<*mut PyObject> {
    // SAFETY: per the contract; the type gets `module` as its defining module.
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
    // SAFETY: per the contract.
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
    // SAFETY: per the contract: the state is this module's, and every field we set is a strong
    // reference it owns from now on (released by `state::clear`, also after a partial init).
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
        state.buffer_type = add_type(module, &raw mut buffer::SPEC, c"Buffer")?;
        state.receiver_type = add_type(module, &raw mut receiver::SPEC, c"Receiver")?;
        // Set last: a non-null sender type marks the state as complete.
        state.sender_type = add_type(module, &raw mut sender::SPEC, c"Sender")?;
    }
    Ok(())
}

unsafe extern "C" fn exec(module: *mut PyObject) -> c_int {
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
