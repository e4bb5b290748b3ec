//! `interpchan.Sender`: the sending handle (send, send_nowait, and the shared handle methods).

use std::ffi::c_void;
use std::ptr;

use pyo3_ffi::*;

use crate::core::{Failure, SendEnd, SendFailure};

use super::args::{self, parse, Param};
use super::async_methods;
use super::blocking::{wait_for, Stop, Wait};
use super::errors::{memory_error, type_error};
use super::failure::{raise_failure, Failed};
use super::ffi::PyResult;
use super::handles::{self, handle};
use super::methods::{
    boolean, method, none, slot, with_type_state, END_GETSET, END_METHOD, END_SLOT,
};
use super::reserve::memory_low;
use super::state::State;
use super::to_item::{convert, Pickling};

unsafe extern "C" fn send(
    slf: *mut PyObject,
    cls: *mut PyTypeObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our Sender with its defining class and arguments.
    unsafe {
        with_type_state(cls, |state| {
            let params = [
                Param::new(c"obj", ptr::null_mut()),
                Param::new(c"timeout", state.kw_timeout),
            ];
            let [obj, timeout] = parse("send", args, nargs, kwnames, params, 1, 1)?;
            let deadline = args::deadline(timeout)?;
            send_item(state, slf, obj, Wait::Until(deadline), Pickling::Allowed)?;
            none()
        })
    }
}

unsafe extern "C" fn send_nowait(
    slf: *mut PyObject,
    cls: *mut PyTypeObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our Sender with its defining class and arguments.
    unsafe {
        with_type_state(cls, |state| {
            let obj = only_obj("send_nowait", args, nargs, kwnames)?;
            send_item(state, slf, obj, Wait::Never, Pickling::Allowed)?;
            none()
        })
    }
}

/// `Sender._send_native_nowait(obj)`: `send_nowait(obj)` if no part of `obj` would be pickled
/// (True), else False with nothing sent. The Pool's workers send results so: a result that
/// would be pickled is pickled by the worker itself, so that the pool can tell a result it
/// cannot rebuild from a failure to receive.
unsafe extern "C" fn send_native_nowait(
    slf: *mut PyObject,
    cls: *mut PyTypeObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our Sender with its defining class and arguments.
    unsafe {
        with_type_state(cls, |state| {
            let obj = only_obj("_send_native_nowait", args, nargs, kwnames)?;
            boolean(send_item(state, slf, obj, Wait::Never, Pickling::Refused)?)
        })
    }
}

/// The argument of a method whose one parameter is the positional-only `obj`.
///
/// # Safety
/// As [`parse`].
unsafe fn only_obj(
    fname: &str,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> PyResult<*mut PyObject> {
    let params = [Param::new(c"obj", ptr::null_mut())];
    // SAFETY: as the caller guarantees.
    let [obj] = unsafe { parse(fname, args, nargs, kwnames, params, 1, 1)? };
    Ok(obj)
}

/// Sends `obj`, waiting as `wait` allows (with the GIL released). On any failure nothing is
/// enqueued and moved Buffers are given back. With [`Pickling::Refused`], an `obj` some part of
/// which would be pickled is not sent either: `Ok(false)`.
///
/// # Safety
/// `slf` is a live Sender, `obj` a live object, `state` this interpreter's module state.
unsafe fn send_item(
    state: &State,
    slf: *mut PyObject,
    obj: *mut PyObject,
    wait: Wait,
    pickling: Pickling,
) -> PyResult<bool> {
    if memory_low() {
        // The last allocation needed the low-memory reserve, and it cannot be taken back yet:
        // refuse before converting or queueing anything (super::reserve).
        return Err(memory_error());
    }
    // SAFETY: as the caller guarantees.
    let Some((item, moved)) = (unsafe { convert(state, obj, pickling)? }) else {
        return Ok(false);
    };
    // SAFETY: as the caller guarantees.
    let handle = unsafe { handle::<SendEnd>(slf) };
    if let Some(why) = super::bridge::refusal(handle.info().id, &item) {
        moved.give_back(item);
        return Err(type_error(&format!("{why}: this Sender feeds a bridge")));
    }
    let (stop, item) = match (handle.try_send(item), wait) {
        (Ok(()), _) => return Ok(true),
        (
            Err(SendFailure {
                kind: Failure::WouldBlock,
                item,
            }),
            Wait::Until(deadline),
        ) => match wait_for(deadline, item, |item, until| {
            handle
                .send_until(item, until)
                .map_err(|failure| (failure.kind, failure.item))
        }) {
            Ok(()) => return Ok(true),
            Err(stopped) => stopped,
        },
        (Err(failure), _) => (Stop::Failed(failure.kind), failure.item),
    };
    moved.give_back(item);
    // SAFETY: as the caller guarantees.
    Err(unsafe { raise_failure(state, Failed::Send(stop)) })
}

static mut METHODS: [PyMethodDef; 10] =
    {
        let [clone, close, enter, exit, reduce] = handles::shared_methods::<SendEnd>();
        [
        method(
            c"send",
            send,
            c"send($self, obj, /, timeout=None)\n--\n\nSend obj, blocking while the channel is \
full.\n\nRaises TimeoutError after `timeout` seconds, ChannelClosed if this handle is closed or \
no Receiver remains. On any failure nothing is sent and obj (a Buffer too) is left as it was.",
        ),
        method(
            c"send_nowait",
            send_nowait,
            c"send_nowait($self, obj, /)\n--\n\nSend obj without blocking; raises Full if the \
channel is full.",
        ),
        clone,
        close,
        enter,
        exit,
        reduce,
        method(c"send_async", async_methods::send_async, async_methods::SEND_ASYNC_DOC),
        method(
            c"_send_native_nowait",
            send_native_nowait,
            c"_send_native_nowait($self, obj, /)\n--\n\nsend_nowait(obj) and True if no part of \
obj would be pickled; else False, and nothing is sent (used by Pool workers).",
        ),
        END_METHOD,
    ]
    };

static mut GETSET: [PyGetSetDef; 3] = {
    let [closed, capacity] = handles::shared_getset::<SendEnd>(
        c"True if this handle is closed or no Receiver of the channel remains.",
    );
    [closed, capacity, END_GETSET]
};

static mut SLOTS: [PyType_Slot; 8] = {
    let [dealloc, repr, length, boolean] = handles::shared_slots::<SendEnd>();
    [
        dealloc,
        repr,
        length,
        boolean,
        slot(Py_tp_methods, (&raw mut METHODS).cast()),
        slot(Py_tp_getset, (&raw mut GETSET).cast()),
        slot(
            Py_tp_doc,
            c"The sending end of a channel, as held by this interpreter.\n\nMade by \
interpchan.channel(), clone(), receiving a Sender or unpickling one. len() is the number of \
items waiting in the channel."
                .as_ptr() as *mut c_void,
        ),
        END_SLOT,
    ]
};

pub static mut SPEC: PyType_Spec = PyType_Spec {
    name: c"interpchan.Sender".as_ptr(),
    basicsize: std::mem::size_of::<handles::HandleObject<SendEnd>>() as _,
    itemsize: 0,
    flags: handles::FLAGS as _,
    slots: (&raw mut SLOTS).cast(),
};
