//! The awaitable methods of the handles (`recv_async`, `send_async`, `__aiter__`, `__anext__`):
//! thin entries that call the implementation in `interpchan._async`, which registers itself on
//! this module as `_recv_async`, `_send_async` and `_anext` when `interpchan` is imported.

use std::ffi::CStr;

use pyo3_ffi::*;

use super::errors::raise;
use super::ffi::{Owned, PyResult};
use super::methods::ret;

/// Calls `module.<name>(slf, *args, **kwargs)`, where `module` made `tp`.
///
/// # Safety
/// `tp` is one of this module's types, `slf` a live object; `args`/`nargs`/`kwnames` are a
/// vectorcall argument list (or null and 0).
unsafe fn forward(
    tp: *mut PyTypeObject,
    name: &CStr,
    slf: *mut PyObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> PyResult<Owned> {
    // SAFETY: as the caller guarantees; `PyType_GetModule` returns a borrowed reference to the live
    // module that owns our type; the argument vector is copied with `slf` in front.
    unsafe {
        let module = PyType_GetModule(tp);
        if module.is_null() {
            return Err(super::ffi::PyErrSet);
        }
        let func = PyObject_GetAttrString(module, name.as_ptr());
        if func.is_null() {
            PyErr_Clear();
            return Err(raise(
                PyExc_RuntimeError,
                "interpchan's asyncio support is not loaded: import interpchan first",
            ));
        }
        let func = Owned::new(func)?;
        let nkw = if kwnames.is_null() {
            0
        } else {
            PyTuple_Size(kwnames)
        };
        let mut all = Vec::with_capacity((1 + nargs + nkw) as usize);
        all.push(slf);
        if nargs + nkw > 0 {
            all.extend_from_slice(std::slice::from_raw_parts(args, (nargs + nkw) as usize));
        }
        Owned::new(PyObject_Vectorcall(
            func.as_ptr(),
            all.as_ptr(),
            (nargs + 1) as usize,
            kwnames,
        ))
    }
}

pub unsafe extern "C" fn recv_async(
    slf: *mut PyObject,
    cls: *mut PyTypeObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our Receiver with its defining class and arguments.
    ret(unsafe { forward(cls, c"_recv_async", slf, args, nargs, kwnames) })
}

pub unsafe extern "C" fn send_async(
    slf: *mut PyObject,
    cls: *mut PyTypeObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our Sender with its defining class and arguments.
    ret(unsafe { forward(cls, c"_send_async", slf, args, nargs, kwnames) })
}

/// `__aiter__`: the Receiver itself.
pub unsafe extern "C" fn aiter(slf: *mut PyObject) -> *mut PyObject {
    // SAFETY: called by the interpreter on a live Receiver.
    unsafe { Owned::borrowed(slf) }.into_ptr()
}

/// `__anext__`: an awaitable of the next item; it raises StopAsyncIteration where `recv_async`
/// would raise ChannelClosed.
pub unsafe extern "C" fn anext(slf: *mut PyObject) -> *mut PyObject {
    // SAFETY: called by the interpreter on our Receiver, whose type is ours (final).
    ret(unsafe {
        forward(
            Py_TYPE(slf),
            c"_anext",
            slf,
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
        )
    })
}

/// The docstrings (kept here, beside what they describe).
pub const RECV_ASYNC_DOC: &CStr = c"recv_async($self, /, timeout=None)\n--\n\nAwait an item \
(in a coroutine running on an asyncio loop). Waiting blocks neither the loop nor a thread.\n\n\
Raises TimeoutError after `timeout` seconds and ChannelClosed as recv() does. Cancelled or timed \
out, it has taken no item: the item stays in the channel.";

pub const SEND_ASYNC_DOC: &CStr = c"send_async($self, obj, /, timeout=None)\n--\n\nAwait room \
and send `obj` (in a coroutine running on an asyncio loop).\n\nReturning means `obj` was \
enqueued; raising (TimeoutError, ChannelClosed, CancelledError...) means it was not.";
