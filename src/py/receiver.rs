//! `interpchan.Receiver`: the receiving handle (recv, recv_nowait, iteration, shared methods).

use std::ffi::c_void;

use pyo3_ffi::*;

use crate::core::{Failure, Handle, Item, RecvEnd};

use super::args::{self, parse, Param};
use super::async_methods;
use super::blocking::{wait_for, Stop, Wait};
use super::failure::{raise_failure, Failed};
use super::ffi::{Owned, PyErrSet, PyResult};
use super::from_item::received;
use super::handles::{self, handle};
use super::methods::{method, slot, with_type_state, END_GETSET, END_METHOD, END_SLOT};
use super::state::State;

/// Takes an item off the channel, waiting as `wait` allows (with the GIL released).
fn take(handle: &Handle<RecvEnd>, wait: Wait) -> Result<Item, Stop<Failure>> {
    match (handle.try_recv(), wait) {
        (Ok(item), _) => Ok(item),
        (Err(Failure::WouldBlock), Wait::Until(deadline)) => wait_for(deadline, (), |(), until| {
            handle.recv_until(until).map_err(|kind| (kind, ()))
        })
        .map_err(|(stop, ())| stop),
        (Err(kind), _) => Err(Stop::Failed(kind)),
    }
}

/// # Safety
/// `slf` is a live Receiver; `state` is this interpreter's module state.
unsafe fn recv_item(state: &State, slf: *mut PyObject, wait: Wait) -> PyResult<Owned> {
    // SAFETY: as the caller guarantees.
    let handle = unsafe { handle::<RecvEnd>(slf) };
    match take(handle, wait) {
        // SAFETY: as the caller guarantees.
        Ok(item) => unsafe { received(state, item, || handle.channel_end()) },
        Err(Stop::Failed(Failure::Disconnected)) => {
            match super::bridge::stopped_by_error(handle.info().id) {
                // SAFETY: as the caller guarantees.
                Some(why) => Err(unsafe { super::bridge::raise_channel_error(state, &why) }),
                // SAFETY: as the caller guarantees.
                None => Err(unsafe {
                    raise_failure(state, Failed::Recv(Stop::Failed(Failure::Disconnected)))
                }),
            }
        }
        // SAFETY: as the caller guarantees.
        Err(stop) => Err(unsafe { raise_failure(state, Failed::Recv(stop)) }),
    }
}

unsafe extern "C" fn recv(
    slf: *mut PyObject,
    cls: *mut PyTypeObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our Receiver with its defining class and arguments.
    unsafe {
        with_type_state(cls, |state| {
            let [timeout] = parse(
                "recv",
                args,
                nargs,
                kwnames,
                [Param::new(c"timeout", state.kw_timeout)],
                0,
                0,
            )?;
            let deadline = args::deadline(timeout)?;
            recv_item(state, slf, Wait::Until(deadline))
        })
    }
}

unsafe extern "C" fn recv_nowait(
    slf: *mut PyObject,
    cls: *mut PyTypeObject,
    _args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our Receiver with its defining class.
    unsafe {
        with_type_state(cls, |state| {
            args::no_args("recv_nowait", nargs, kwnames)?;
            recv_item(state, slf, Wait::Never)
        })
    }
}

/// `__next__`: the next item, blocking; stops (null, no exception) where recv would raise
/// ChannelClosed.
unsafe extern "C" fn iternext(slf: *mut PyObject) -> *mut PyObject {
    // SAFETY: called by the interpreter on our Receiver; its type is ours (final) so the
    // state lookup by type is valid.
    unsafe {
        with_type_state(Py_TYPE(slf), |state| {
            let handle = handle::<RecvEnd>(slf);
            match take(handle, Wait::Until(None)) {
                Ok(item) => received(state, item, || handle.channel_end()),
                Err(Stop::Failed(Failure::Closed | Failure::Disconnected)) => Err(PyErrSet),
                Err(stop) => Err(raise_failure(state, Failed::Recv(stop))),
            }
        })
    }
}

static mut METHODS: [PyMethodDef; 9] =
    {
        let [clone, close, enter, exit, reduce] = handles::shared_methods::<RecvEnd>();
        [
        method(
            c"recv",
            recv,
            c"recv($self, /, timeout=None)\n--\n\nReceive an item, blocking while the channel is \
empty.\n\nRaises TimeoutError after `timeout` seconds; ChannelClosed once the channel is empty \
and every Sender is gone, or if this handle is closed.",
        ),
        method(
            c"recv_nowait",
            recv_nowait,
            c"recv_nowait($self, /)\n--\n\nReceive without blocking; raises Empty if nothing is \
waiting.",
        ),
        clone,
        close,
        enter,
        exit,
        reduce,
        method(c"recv_async", async_methods::recv_async, async_methods::RECV_ASYNC_DOC),
        END_METHOD,
    ]
    };

static mut GETSET: [PyGetSetDef; 3] = {
    let [closed, capacity] = handles::shared_getset::<RecvEnd>(
        c"True if this handle is closed, or every Sender is gone (items sent before may still be \
waiting: recv() delivers them, then raises ChannelClosed).",
    );
    [closed, capacity, END_GETSET]
};

static mut SLOTS: [PyType_Slot; 12] = {
    let [dealloc, repr, length, boolean] = handles::shared_slots::<RecvEnd>();
    [
        dealloc,
        repr,
        length,
        boolean,
        slot(Py_tp_iter, PyObject_SelfIter as *mut c_void),
        slot(Py_tp_iternext, iternext as *mut c_void),
        slot(Py_am_aiter, async_methods::aiter as *mut c_void),
        slot(Py_am_anext, async_methods::anext as *mut c_void),
        slot(Py_tp_methods, (&raw mut METHODS).cast()),
        slot(Py_tp_getset, (&raw mut GETSET).cast()),
        slot(
            Py_tp_doc,
            c"The receiving end of a channel, as held by this interpreter.\n\nMade by \
interpchan.channel(), clone(), receiving a Receiver or unpickling one. Iterating yields items \
until the channel is closed and drained. len() is the number of items waiting."
                .as_ptr() as *mut c_void,
        ),
        END_SLOT,
    ]
};

pub static mut SPEC: PyType_Spec = PyType_Spec {
    name: c"interpchan.Receiver".as_ptr(),
    basicsize: std::mem::size_of::<handles::HandleObject<RecvEnd>>() as _,
    itemsize: 0,
    flags: handles::FLAGS as _,
    slots: (&raw mut SLOTS).cast(),
};
