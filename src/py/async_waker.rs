//! `interpchan._interpchan._Waker`: one event loop's notifier (a socket the loop watches with
//! `add_reader`), through which channels wake the loop's awaiting tasks. Used by `_async.py`.

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use pyo3_ffi::*;

use crate::core::notify::Notifier;
use crate::core::{ChannelInfo, RecvEnd, SendEnd};

use super::args::no_args;
use super::errors::{raise, type_error};
use super::ffi::{Owned, PyErrSet, PyResult};
use super::handles::handle;
use super::methods::{method, none, ret, slot, with_type_state, END_METHOD, END_SLOT};
use super::state::State;

/// A `_Waker` object: this interpreter's handle on a [`Notifier`].
#[repr(C)]
pub struct WakerObject {
    ob_base: PyObject,
    notifier: Arc<Notifier>,
}

/// The notifier inside a `_Waker`.
///
/// # Safety
/// `obj` is a live `_Waker`.
unsafe fn notifier<'a>(obj: *mut PyObject) -> &'a Arc<Notifier> {
    // SAFETY: as the caller guarantees, `obj` is a `WakerObject` initialised by `new`.
    unsafe { &(*obj.cast::<WakerObject>()).notifier }
}

unsafe extern "C" fn new(
    tp: *mut PyTypeObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter with our type (final) and the call's arguments; the new
    // object's field is written once here and dropped in `dealloc`.
    unsafe {
        if PyTuple_Size(args) != 0 || (!kwargs.is_null() && PyDict_Size(kwargs) != 0) {
            return ret(Err(type_error("_Waker() takes no arguments")));
        }
        let notifier = match Notifier::new() {
            Ok(n) => Arc::new(n),
            Err(e) => {
                raise(PyExc_OSError, &format!("cannot make a socket pair: {e}"));
                return ptr::null_mut();
            }
        };
        let alloc: allocfunc = std::mem::transmute(PyType_GetSlot(tp, Py_tp_alloc));
        let obj = alloc(tp, 0);
        if obj.is_null() {
            return obj;
        }
        ptr::addr_of_mut!((*obj.cast::<WakerObject>()).notifier).write(notifier);
        obj
    }
}

unsafe extern "C" fn dealloc(obj: *mut PyObject) {
    // SAFETY: called once by the interpreter when the last reference goes: close the socket
    // pair (channels drop the notifier at their next wake), drop our share, free the object
    // and release the reference instances of heap types hold on their type.
    unsafe {
        let tp = Py_TYPE(obj);
        notifier(obj).close();
        ptr::drop_in_place(ptr::addr_of_mut!((*obj.cast::<WakerObject>()).notifier));
        let free: freefunc = std::mem::transmute(PyType_GetSlot(tp, Py_tp_free));
        free(obj.cast());
        Py_DECREF(tp.cast());
    }
}

/// The channel a handle is on, and whether it is a Sender.
///
/// # Safety
/// `obj` is a live object; `state` this interpreter's module state.
unsafe fn channel_of(state: &State, obj: *mut PyObject) -> PyResult<(Arc<ChannelInfo>, bool)> {
    // SAFETY: `obj` is live; the types are live; the handle casts match the type checks.
    unsafe {
        let tp = Py_TYPE(obj).cast::<PyObject>();
        if tp == state.receiver_type {
            Ok((handle::<RecvEnd>(obj).info().clone(), false))
        } else if tp == state.sender_type {
            Ok((handle::<SendEnd>(obj).info().clone(), true))
        } else {
            Err(type_error(
                "expected an interpchan.Sender or interpchan.Receiver",
            ))
        }
    }
}

/// Parses the single handle argument of `watch`/`unwatch`.
///
/// # Safety
/// The arguments are those of a fastcall method.
unsafe fn one_handle(
    state: &State,
    name: &str,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> PyResult<(Arc<ChannelInfo>, bool)> {
    // SAFETY: as the caller guarantees.
    unsafe {
        if nargs != 1 || (!kwnames.is_null() && PyTuple_Size(kwnames) != 0) {
            return Err(type_error(&format!("{name}() takes one handle")));
        }
        channel_of(state, *args)
    }
}

unsafe extern "C" fn watch(
    slf: *mut PyObject,
    cls: *mut PyTypeObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our _Waker with its defining class and arguments.
    unsafe {
        with_type_state(cls, |state| {
            let (info, sending) = one_handle(state, "watch", args, nargs, kwnames)?;
            let n = notifier(slf);
            let key = if sending {
                info.send_waiters.add(n);
                info.send_key()
            } else {
                info.receive_waiters.add(n);
                info.receive_key()
            };
            Owned::new(PyLong_FromUnsignedLongLong(key))
        })
    }
}

unsafe extern "C" fn key(
    _slf: *mut PyObject,
    cls: *mut PyTypeObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our _Waker with its defining class and arguments.
    unsafe {
        with_type_state(cls, |state| {
            let (info, sending) = one_handle(state, "key", args, nargs, kwnames)?;
            let key = if sending {
                info.send_key()
            } else {
                info.receive_key()
            };
            Owned::new(PyLong_FromUnsignedLongLong(key))
        })
    }
}

unsafe extern "C" fn unwatch(
    slf: *mut PyObject,
    cls: *mut PyTypeObject,
    args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our _Waker with its defining class and arguments.
    unsafe {
        with_type_state(cls, |state| {
            let (info, sending) = one_handle(state, "unwatch", args, nargs, kwnames)?;
            let n = notifier(slf);
            if sending {
                info.send_waiters.remove(n);
            } else {
                info.receive_waiters.remove(n);
            }
            none()
        })
    }
}

unsafe extern "C" fn take(
    slf: *mut PyObject,
    _cls: *mut PyTypeObject,
    _args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our _Waker.
    ret(unsafe {
        no_args("take", nargs, kwnames).and_then(|()| {
            let keys = notifier(slf).take();
            let list = Owned::new(PyList_New(keys.len() as Py_ssize_t))?;
            for (i, key) in keys.into_iter().enumerate() {
                let key = Owned::new(PyLong_FromUnsignedLongLong(key))?;
                // PyList_SetItem steals the reference.
                if PyList_SetItem(list.as_ptr(), i as Py_ssize_t, key.into_ptr()) != 0 {
                    return Err(PyErrSet);
                }
            }
            Ok(list)
        })
    })
}

unsafe extern "C" fn fileno(
    slf: *mut PyObject,
    _cls: *mut PyTypeObject,
    _args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our _Waker.
    ret(unsafe {
        no_args("fileno", nargs, kwnames)
            .and_then(|()| Owned::new(PyLong_FromLong(notifier(slf).fileno() as _)))
    })
}

unsafe extern "C" fn close(
    slf: *mut PyObject,
    _cls: *mut PyTypeObject,
    _args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our _Waker.
    ret(unsafe {
        no_args("close", nargs, kwnames).and_then(|()| {
            notifier(slf).close();
            none()
        })
    })
}

static mut METHODS: [PyMethodDef; 7] = [
    method(
        c"key",
        key,
        c"key($self, handle, /)\n--\n\nThe key under which take() reports `handle`'s channel \
side.",
    ),
    method(
        c"watch",
        watch,
        c"watch($self, handle, /)\n--\n\nWake this waker when `handle` may now receive (a \
Receiver) or send (a Sender), or its channel closes; returns the key take() will report.",
    ),
    method(
        c"unwatch",
        unwatch,
        c"unwatch($self, handle, /)\n--\n\nUndo one watch() of `handle`'s channel side.",
    ),
    method(
        c"take",
        take,
        c"take($self, /)\n--\n\nThe keys woken since the last call; empties the descriptor.",
    ),
    method(
        c"fileno",
        fileno,
        c"fileno($self, /)\n--\n\nThe descriptor that becomes readable on a wake (owned by the \
waker; do not close it).",
    ),
    method(
        c"close",
        close,
        c"close($self, /)\n--\n\nClose the descriptor; no wake reaches this waker afterwards.",
    ),
    END_METHOD,
];

static mut SLOTS: [PyType_Slot; 5] = [
    slot(Py_tp_new, new as *mut c_void),
    slot(Py_tp_dealloc, dealloc as *mut c_void),
    slot(Py_tp_methods, (&raw mut METHODS).cast()),
    slot(
        Py_tp_doc,
        c"An event loop's wake-up descriptor for awaiting channel operations (internal: used by \
interpchan's asyncio support)."
            .as_ptr() as *mut c_void,
    ),
    END_SLOT,
];

pub static mut SPEC: PyType_Spec = PyType_Spec {
    name: c"interpchan._interpchan._Waker".as_ptr(),
    basicsize: std::mem::size_of::<WakerObject>() as _,
    itemsize: 0,
    flags: (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE) as _,
    slots: (&raw mut SLOTS).cast(),
};
