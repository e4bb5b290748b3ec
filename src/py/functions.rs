//! The module's functions: `channel`, `select`, `_restore` (which unpickles handles), `_close_all`.

use std::ptr;
use std::time::Instant;

use pyo3_ffi::*;

use crate::core::{self, Handle, RecvEnd, SelectFailure};

use super::args::{self, parse, Param};
use super::blocking::{wait_for, Stop};
use super::errors::{memory_error, type_error, type_name, value_error};
use super::failure::{raise_failure, Failed};
use super::ffi::{Owned, PyErrSet, PyResult};
use super::from_item::received;
use super::handles::{handle, new_handle, restore};
use super::methods::{function, with_module_state, END_METHOD};
use super::reserve::memory_low;
use super::state::State;

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
            let capacity = args::capacity(capacity)?;
            if memory_low() {
                return Err(memory_error());
            }
            let (tx, rx) = core::try_channel(capacity).map_err(|_| memory_error())?;
            let tx = new_handle(state, tx)?;
            let rx = new_handle(state, rx)?;
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
            let (index, item) = select_item(&handles, deadline)
                .map_err(|stop| raise_failure(state, Failed::Select(stop)))?;
            let item = received(state, item, || handles[index].channel_end())?;
            Owned::new(PyTuple_Pack(2, objects[index].as_ptr(), item.as_ptr()))
        })
    }
}

/// The receivers given to `select`, each checked and held by us while we wait. Types are
/// checked before anything is taken from the argument, and each element as soon as it is
/// taken: iterating a Receiver would take (and lose) its items, so a Receiver given instead
/// of a list of them, or an iterable whose iterator is a Receiver, is refused untouched.
///
/// # Safety
/// `receivers` is a live object; `state` this interpreter's module state.
unsafe fn receiver_list(state: &State, receivers: *mut PyObject) -> PyResult<Vec<Owned>> {
    // SAFETY: `receivers` is live.
    unsafe { refuse_handle(state, receivers, "a Receiver or Sender")? };
    // SAFETY: as above; returns a new reference or null.
    let iter = unsafe { Owned::new(PyObject_GetIter(receivers))? };
    // SAFETY: `iter` is live.
    unsafe {
        refuse_handle(
            state,
            iter.as_ptr(),
            "an iterable whose iterator is a handle",
        )?
    };
    let mut objects = Vec::new();
    loop {
        // SAFETY: `iter` is a live iterator; each call returns a new reference or null.
        let next = unsafe { PyIter_Next(iter.as_ptr()) };
        if next.is_null() {
            // SAFETY: attached; null with no exception is the end of iteration.
            if unsafe { !PyErr_Occurred().is_null() } {
                return Err(PyErrSet);
            }
            break;
        }
        // SAFETY: `next` is a new reference we now own.
        let obj = unsafe { Owned::new(next)? };
        // SAFETY: `obj` is live.
        if unsafe { Py_TYPE(obj.as_ptr()) }.cast() != state.receiver_type {
            // SAFETY: `obj` is live.
            let name = unsafe { type_name(obj.as_ptr()) };
            return Err(type_error(&format!("select() takes Receivers, not {name}")));
        }
        objects.push(obj);
    }
    if objects.is_empty() {
        return Err(value_error("select() needs at least one Receiver"));
    }
    Ok(objects)
}

/// `TypeError` if `obj` is a Sender or Receiver (`what` says what was given), before anything
/// iterates it.
///
/// # Safety
/// `obj` is a live object; `state` this interpreter's module state.
unsafe fn refuse_handle(state: &State, obj: *mut PyObject, what: &str) -> PyResult<()> {
    // SAFETY: `obj` is live.
    let tp = unsafe { Py_TYPE(obj) }.cast::<PyObject>();
    if tp == state.receiver_type || tp == state.sender_type {
        return Err(type_error(&format!(
            "select() takes an iterable of Receivers, not {what}: use select([rx])"
        )));
    }
    Ok(())
}

/// Waits for the first item among `handles` (GIL released while blocking).
fn select_item(
    handles: &[&Handle<RecvEnd>],
    deadline: Option<Instant>,
) -> Result<(usize, core::Item), Stop<SelectFailure>> {
    match core::try_select(handles) {
        Err(SelectFailure::WouldBlock) => wait_for(deadline, (), |(), until| {
            core::select(handles, until).map_err(|why| (why, ()))
        })
        .map_err(|(stop, ())| stop),
        other => other.map_err(Stop::Failed),
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

unsafe extern "C" fn carried(
    module: *mut PyObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter with our module and its arguments.
    unsafe {
        with_module_state(module, |state| {
            let [index] = parse(
                "_carried",
                args,
                nargs,
                kwnames,
                [Param::new(c"index", ptr::null_mut())],
                1,
                1,
            )?;
            let index = PyLong_AsSsize_t(index);
            if index == -1 && !PyErr_Occurred().is_null() {
                return Err(PyErrSet);
            }
            let index = usize::try_from(index)
                .map_err(|_| value_error("_carried() takes a non-negative index"))?;
            super::carry::carried_view(state, index)
        })
    }
}

/// Module functions of no arguments that return a count (for tests and leak checks): each
/// `name => expression` becomes `name()` returning that `usize` as an int.
macro_rules! count_functions {
    ($($(#[$doc:meta])* $name:ident => $count:expr;)+) => {$(
        $(#[$doc])*
        unsafe extern "C" fn $name(
            _module: *mut PyObject,
            _args: *const *mut PyObject,
            _nargs: Py_ssize_t,
            _kwnames: *mut PyObject,
        ) -> *mut PyObject {
            let count: usize = $count;
            // SAFETY: attached (module functions are called with the GIL held); returns a new
            // reference or null.
            unsafe { PyLong_FromSize_t(count) }
        }
    )+};
}

count_functions! {
    open_wakers => core::notify::open_notifiers();
    live_channels => core::registry::live_channels();
    live_buffers => core::live_buffers();
    /// Pure Rust; nothing it frees is a Python object. Other interpreters go on meanwhile.
    collect => super::ffi::allow_threads(core::collect::collect);
    close_all => super::tracked::close_all();
    signal_slices => usize::try_from(
        super::blocking::SIGNAL_SLICES.load(std::sync::atomic::Ordering::Relaxed),
    )
    .unwrap_or(usize::MAX);
    blocked_calls => super::blocking::BLOCKED_CALLS.load(std::sync::atomic::Ordering::Relaxed);
}

pub static mut FUNCTIONS: [PyMethodDef; 12] = [
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
        c"_carried",
        carried,
        c"_carried(index, /)\n--\n\nThe memoryview of a Buffer carried by the item being \
unpickled (used by pickle).",
    ),
    function(
        c"_live_channels",
        live_channels,
        c"_live_channels()\n--\n\nNumber of channels alive in this process (for leak checks).",
    ),
    function(
        c"_live_buffers",
        live_buffers,
        c"_live_buffers()\n--\n\nNumber of Buffers that own memory in this process, all \
interpreters, and of SharedBuffer memories that any holder keeps (for leak checks).",
    ),
    function(
        c"_collect",
        collect,
        c"_collect()\n--\n\nFree channels that only unreachable channels' queues hold now; return \
how many were found (it also runs by itself; for tests).",
    ),
    function(
        c"_close_all",
        close_all,
        c"_close_all()\n--\n\nClose every handle this interpreter holds (run when it exits); \
return how many were open.",
    ),
    function(
        c"_signal_slices",
        signal_slices,
        c"_signal_slices()\n--\n\nHow many times a blocked call woke up only to run signal handlers \
(for tests: only the main thread of the main interpreter does).",
    ),
    function(
        c"_blocked_calls",
        blocked_calls,
        c"_blocked_calls()\n--\n\nNumber of calls blocked in this process right now (for tests).",
    ),
    function(
        c"_open_wakers",
        open_wakers,
        c"_open_wakers()\n--\n\nEvent-loop wakers open in this process (for leak checks).",
    ),
    END_METHOD,
];
