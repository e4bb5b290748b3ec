//! The binding of channels over ZeroMQ: `_bridge_sender`, `_bridge_receiver`, `_bridge_finish`
//! (used by `interpchan.bridge`), and the two checks ordinary handles make for bridged channels.

use pyo3_ffi::*;

use super::errors::raise;
use super::ffi::PyErrSet;
use super::state::State;

/// Why the receiver bridge feeding `channel` stopped early, if it did: a receive that finds the
/// channel closed raises `ChannelError` with this instead of `ChannelClosed`.
pub fn stopped_by_error(channel: u64) -> Option<String> {
    #[cfg(feature = "bridge")]
    return crate::core::bridge::error(channel);
    #[cfg(not(feature = "bridge"))]
    return {
        let _ = channel;
        None
    };
}

/// Why `item` cannot be sent on `channel`, if `channel` feeds a bridge (its items leave the
/// process) and `item` holds something only meaningful here (channel ends, SharedBuffers).
pub fn refusal(channel: u64, item: &crate::core::Item) -> Option<&'static str> {
    #[cfg(feature = "bridge")]
    return if crate::core::bridge::leaves_process(channel) {
        crate::core::wire::local_only(item)
    } else {
        None
    };
    #[cfg(not(feature = "bridge"))]
    return {
        let _ = (channel, item);
        None
    };
}

/// Raises `ChannelError(why)`.
///
/// # Safety
/// `state` is this interpreter's module state.
pub unsafe fn raise_channel_error(state: &State, why: &str) -> PyErrSet {
    // SAFETY: the state's exception class is live.
    unsafe { raise(state.channel_error, why) }
}

/// Adds the bridge functions to `module` (when built with the `bridge` feature).
///
/// # Safety
/// `module` is the module object being initialised.
pub unsafe fn add_functions(module: *mut PyObject) -> Result<(), PyErrSet> {
    #[cfg(feature = "bridge")]
    super::zmq_frame::install();
    #[cfg(feature = "bridge")]
    // SAFETY: the table is static, ends with the sentinel, and is never changed after this.
    if unsafe { PyModule_AddFunctions(module, (&raw mut zmq_functions::FUNCTIONS).cast()) } < 0 {
        return Err(PyErrSet);
    }
    #[cfg(not(feature = "bridge"))]
    let _ = module;
    Ok(())
}

#[cfg(feature = "bridge")]
mod zmq_functions {
    use std::ptr;
    use std::sync::Arc;
    use std::time::Duration;

    use pyo3_ffi::*;

    use crate::core::bridge::{self, BridgeError};

    use super::super::args::{self, parse, Param};
    use super::super::errors::{memory_error, raise, type_error, utf8, value_error};
    use super::super::ffi::{allow_threads, Owned, PyErrSet, PyResult};
    use super::super::handles::{new_handle, Kind};
    use super::super::methods::{function, with_module_state, END_METHOD};
    use super::super::state::State;

    type Made<E> = Result<(Arc<E>, u64), BridgeError>;

    /// Parses `(endpoint, bind, capacity)`, makes the bridge with `make`, and returns
    /// `(handle, bridge id)`.
    ///
    /// # Safety
    /// Called by the interpreter with its arguments; `state` is this interpreter's state.
    unsafe fn make<E: Kind>(
        state: &State,
        fname: &str,
        args: *const *mut PyObject,
        nargs: Py_ssize_t,
        kwnames: *mut PyObject,
        make: fn(&str, bool, Option<usize>) -> Made<E>,
    ) -> PyResult<Owned> {
        let params = [
            Param::new(c"endpoint", ptr::null_mut()),
            Param::new(c"bind", ptr::null_mut()),
            Param::new(c"capacity", ptr::null_mut()),
        ];
        // SAFETY: as the caller guarantees.
        let [endpoint, bind, capacity] =
            unsafe { parse(fname, args, nargs, kwnames, params, 3, 3)? };
        // SAFETY: `endpoint` is live.
        if unsafe { PyUnicode_Check(endpoint) } == 0 {
            return Err(type_error("endpoint must be a str"));
        }
        // SAFETY: `endpoint` is a live str.
        let endpoint = unsafe { utf8(endpoint) }.ok_or(PyErrSet)?.to_owned();
        // SAFETY: `bind` is live.
        let bind = match unsafe { PyObject_IsTrue(bind) } {
            -1 => return Err(PyErrSet),
            b => b == 1,
        };
        // SAFETY: `capacity` is live.
        let capacity = unsafe { args::capacity(capacity)? };
        let (end, id) = make(&endpoint, bind, capacity).map_err(|e| match e {
            BridgeError::Endpoint(why) => value_error(&why),
            // SAFETY: attached; the builtin exception class is live.
            BridgeError::Zmq(why) => unsafe { raise(PyExc_OSError, &why) },
            BridgeError::OutOfMemory => memory_error(),
        })?;
        // SAFETY: attached, `state` as the caller guarantees.
        let handle = unsafe { new_handle(state, end)? };
        // SAFETY: attached; returns a new reference or null.
        let id = unsafe { Owned::new(PyLong_FromUnsignedLongLong(id))? };
        // SAFETY: both are live; Pack takes its own references.
        unsafe { Owned::new(PyTuple_Pack(2, handle.as_ptr(), id.as_ptr())) }
    }

    unsafe extern "C" fn bridge_sender(
        module: *mut PyObject,
        args: *const *mut PyObject,
        nargs: Py_ssize_t,
        kwnames: *mut PyObject,
    ) -> *mut PyObject {
        // SAFETY: called by the interpreter with our module and its arguments.
        unsafe {
            with_module_state(module, |state| {
                make(
                    state,
                    "_bridge_sender",
                    args,
                    nargs,
                    kwnames,
                    bridge::sender,
                )
            })
        }
    }

    unsafe extern "C" fn bridge_receiver(
        module: *mut PyObject,
        args: *const *mut PyObject,
        nargs: Py_ssize_t,
        kwnames: *mut PyObject,
    ) -> *mut PyObject {
        // SAFETY: called by the interpreter with our module and its arguments.
        unsafe {
            with_module_state(module, |state| {
                make(
                    state,
                    "_bridge_receiver",
                    args,
                    nargs,
                    kwnames,
                    bridge::receiver,
                )
            })
        }
    }

    unsafe extern "C" fn bridge_finish(
        module: *mut PyObject,
        args: *const *mut PyObject,
        nargs: Py_ssize_t,
        kwnames: *mut PyObject,
    ) -> *mut PyObject {
        // SAFETY: called by the interpreter with our module and its arguments.
        unsafe {
            with_module_state(module, |_state| {
                let params = [
                    Param::new(c"ids", ptr::null_mut()),
                    Param::new(c"linger", ptr::null_mut()),
                ];
                let [ids, linger] = parse("_bridge_finish", args, nargs, kwnames, params, 2, 2)?;
                let list = Owned::new(PySequence_List(ids))?;
                let mut found = Vec::new();
                for i in 0..PyList_Size(list.as_ptr()) {
                    let id = PyLong_AsUnsignedLongLong(PyList_GetItem(list.as_ptr(), i));
                    if !PyErr_Occurred().is_null() {
                        return Err(PyErrSet);
                    }
                    found.push(id);
                }
                let linger = PyFloat_AsDouble(linger);
                if !PyErr_Occurred().is_null() {
                    return Err(PyErrSet);
                }
                let linger = Duration::try_from_secs_f64(linger.max(0.0))
                    .map_err(|_| value_error("linger must be a finite number of seconds"))?;
                // Pure Rust; other threads of this interpreter go on meanwhile.
                let left = allow_threads(|| bridge::finish(&found, linger));
                Owned::new(PyLong_FromSize_t(left))
            })
        }
    }

    pub static mut FUNCTIONS: [PyMethodDef; 4] = [
        function(
            c"_bridge_sender",
            bridge_sender,
            c"_bridge_sender(endpoint, bind, capacity, /)\n--\n\n(Sender, bridge id) of a new \
channel whose items a Rust thread pushes to the ZeroMQ endpoint (interpchan.bridge.sender).",
        ),
        function(
            c"_bridge_receiver",
            bridge_receiver,
            c"_bridge_receiver(endpoint, bind, capacity, /)\n--\n\n(Receiver, bridge id) of a new \
channel that a Rust thread fills from the ZeroMQ endpoint (interpchan.bridge.receiver).",
        ),
        function(
            c"_bridge_finish",
            bridge_finish,
            c"_bridge_finish(ids, linger, /)\n--\n\nTell the sender bridges `ids` to deliver what \
they hold and end their streams; wait at most `linger` seconds. Returns how many had not \
finished.",
        ),
        END_METHOD,
    ];
}
