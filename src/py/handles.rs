//! What `Sender` and `Receiver` share: the handle object, clone/close/pickle, and attributes.

use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::Arc;

use pyo3_ffi::*;

use crate::core::handle::End;
use crate::core::{EndRef, Handle, Item, LookupError, RecvEnd, SendEnd};

use super::args::no_args;
use super::errors::{raise, raise_from, value_error};
use super::failure::{raise_failure, Failed};
use super::ffi::{Owned, PyResult};
use super::methods::{boolean, getset, method, none, ret, slot, with_type_state};
use super::state::State;
use super::tracked;

/// A `Sender` or `Receiver` object: one interpreter's handle on a channel end.
#[repr(C)]
pub struct HandleObject<E> {
    ob_base: PyObject,
    handle: Arc<Handle<E>>,
}

/// What differs between the two kinds of handle.
pub trait Kind: End + Send + Sync + Sized + 'static {
    const NAME: &'static str;
    /// First byte of a pickled reference.
    const CODE: u8;
    fn type_of(state: &State) -> *mut PyObject;
    fn reference(end: &Self) -> EndRef;
    fn lookup(reference: &EndRef) -> Result<Arc<Self>, LookupError>;
    fn is_closed(handle: &Handle<Self>) -> bool;
    /// The item that carries this end.
    fn item(end: Arc<Self>) -> Item;
}

impl Kind for SendEnd {
    const NAME: &'static str = "Sender";
    const CODE: u8 = b'S';
    fn type_of(state: &State) -> *mut PyObject {
        state.sender_type
    }
    fn reference(end: &Self) -> EndRef {
        EndRef::of_sender(end)
    }
    fn lookup(reference: &EndRef) -> Result<Arc<Self>, LookupError> {
        reference.sender()
    }
    fn is_closed(handle: &Handle<Self>) -> bool {
        handle.is_closed()
    }
    fn item(end: Arc<Self>) -> Item {
        Item::Sender(end)
    }
}

impl Kind for RecvEnd {
    const NAME: &'static str = "Receiver";
    const CODE: u8 = b'R';
    fn type_of(state: &State) -> *mut PyObject {
        state.receiver_type
    }
    fn reference(end: &Self) -> EndRef {
        EndRef::of_receiver(end)
    }
    fn lookup(reference: &EndRef) -> Result<Arc<Self>, LookupError> {
        reference.receiver()
    }
    fn is_closed(handle: &Handle<Self>) -> bool {
        handle.is_closed()
    }
    fn item(end: Arc<Self>) -> Item {
        Item::Receiver(end)
    }
}

/// The handle inside a handle object.
///
/// # Safety
/// `obj` is a live handle object of kind `E`; the reference is used while it lives.
pub unsafe fn handle<'a, E>(obj: *mut PyObject) -> &'a Handle<E> {
    // SAFETY: as the caller guarantees, `obj` is a `HandleObject<E>` initialised by `new_handle`.
    unsafe { &(*obj.cast::<HandleObject<E>>()).handle }
}

/// A new handle object of this interpreter on `end`.
///
/// # Safety
/// `state` is this interpreter's module state.
pub unsafe fn new_handle<E: Kind>(state: &State, end: Arc<E>) -> PyResult<Owned> {
    let tp = E::type_of(state).cast::<PyTypeObject>();
    // SAFETY: `tp` is a live heap type of ours; its tp_alloc slot is always set, and the
    // fresh object's field is written once here and dropped in `dealloc`.
    unsafe {
        let alloc: allocfunc = std::mem::transmute(PyType_GetSlot(tp, Py_tp_alloc));
        let obj = Owned::new(alloc(tp, 0))?;
        let shared = Arc::new(Handle::new(end));
        tracked::track(&shared);
        ptr::addr_of_mut!((*obj.as_ptr().cast::<HandleObject<E>>()).handle).write(shared);
        Ok(obj)
    }
}

/// The end a handle being sent as an item stands for (`TypeError` if the handle is closed).
///
/// # Safety
/// `obj` is a live handle object of kind `E`.
pub unsafe fn sendable<E: Kind>(state: &State, obj: *mut PyObject) -> PyResult<Arc<E>> {
    // SAFETY: as the caller guarantees.
    match unsafe { handle::<E>(obj) }.end() {
        Some(end) => Ok(end),
        // SAFETY: the state's exception classes are live.
        None => Err(unsafe {
            raise(state.channel_closed, &format!("this {} is closed", E::NAME));
            raise_from(
                PyExc_TypeError,
                &format!("cannot send a closed {}", E::NAME),
            )
        }),
    }
}

pub unsafe extern "C" fn dealloc<E>(obj: *mut PyObject) {
    // SAFETY: called once by the interpreter when the last reference goes. Dropping the handle
    // releases its share of the channel end (pure Rust); then the object is freed with the
    // type's tp_free, and the reference instances of heap types hold on their type released.
    unsafe {
        let tp = Py_TYPE(obj);
        ptr::drop_in_place(ptr::addr_of_mut!((*obj.cast::<HandleObject<E>>()).handle));
        let free: freefunc = std::mem::transmute(PyType_GetSlot(tp, Py_tp_free));
        free(obj.cast());
        Py_DECREF(tp.cast());
    }
}

pub unsafe extern "C" fn clone<E: Kind>(
    slf: *mut PyObject,
    cls: *mut PyTypeObject,
    _args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our handle object with its defining class.
    unsafe {
        with_type_state(cls, |state| {
            no_args("clone", nargs, kwnames)?;
            match handle::<E>(slf).end() {
                Some(end) => new_handle(state, end),
                None => Err(raise(
                    state.channel_closed,
                    &format!("cannot clone a closed {}", E::NAME),
                )),
            }
        })
    }
}

pub unsafe extern "C" fn close<E: Kind>(
    slf: *mut PyObject,
    _cls: *mut PyTypeObject,
    _args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our handle object.
    ret(unsafe {
        no_args("close", nargs, kwnames).and_then(|()| {
            handle::<E>(slf).close();
            none()
        })
    })
}

pub unsafe extern "C" fn enter(
    slf: *mut PyObject,
    _cls: *mut PyTypeObject,
    _args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our handle object, which is live.
    ret(unsafe { no_args("__enter__", nargs, kwnames).map(|()| Owned::borrowed(slf)) })
}

pub unsafe extern "C" fn exit<E: Kind>(
    slf: *mut PyObject,
    _cls: *mut PyTypeObject,
    _args: *const *mut PyObject,
    _nargs: Py_ssize_t,
    _kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our handle object.
    unsafe { handle::<E>(slf) }.close();
    ret(boolean(false))
}

/// `__reduce__`: a reference that `_restore` resolves in any interpreter of this process while
/// the end has a live handle (or an item in flight holds it: while a send pickles an item,
/// the end is recorded for the item to carry, see `carry`).
pub unsafe extern "C" fn reduce<E: Kind>(
    slf: *mut PyObject,
    cls: *mut PyTypeObject,
    _args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our handle object with its defining class.
    unsafe {
        with_type_state(cls, |state| {
            no_args("__reduce__", nargs, kwnames)?;
            let Some(end) = handle::<E>(slf).end() else {
                return Err(raise(
                    state.channel_closed,
                    &format!("cannot pickle a closed {}", E::NAME),
                ));
            };
            let bytes = encode(E::CODE, &E::reference(&end));
            super::carry::handle(E::item(end));
            let bytes = Owned::new(PyBytes_FromStringAndSize(
                bytes.as_ptr().cast(),
                bytes.len() as _,
            ))?;
            let args = Owned::new(PyTuple_Pack(1, bytes.as_ptr()))?;
            Owned::new(PyTuple_Pack(2, state.restore, args.as_ptr()))
        })
    }
}

const REFERENCE_LEN: usize = 1 + 8 + 8 + 16;

fn encode(code: u8, r: &EndRef) -> [u8; REFERENCE_LEN] {
    let mut out = [0u8; REFERENCE_LEN];
    out[0] = code;
    out[1..9].copy_from_slice(&r.process.to_le_bytes());
    out[9..17].copy_from_slice(&r.id.to_le_bytes());
    out[17..].copy_from_slice(&r.token.to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<(u8, EndRef)> {
    if bytes.len() != REFERENCE_LEN {
        return None;
    }
    Some((
        bytes[0],
        EndRef {
            process: u64::from_le_bytes(bytes[1..9].try_into().ok()?),
            id: u64::from_le_bytes(bytes[9..17].try_into().ok()?),
            token: u128::from_le_bytes(bytes[17..].try_into().ok()?),
        },
    ))
}

/// `_restore(reference)`: the handle a pickled reference names, in this interpreter.
///
/// # Safety
/// `state` is this interpreter's module state; `reference` is a live object.
pub unsafe fn restore(state: &State, reference: *mut PyObject) -> PyResult<Owned> {
    // SAFETY: `reference` is live; a bytes object's contents live as long as it does.
    let bytes = unsafe {
        if PyBytes_Check(reference) == 0 {
            return Err(value_error("not a channel handle reference"));
        }
        std::slice::from_raw_parts(
            PyBytes_AsString(reference).cast::<u8>(),
            PyBytes_Size(reference) as usize,
        )
    };
    // SAFETY: what our caller guarantees, passed on.
    unsafe {
        match decode(bytes) {
            Some((SendEnd::CODE, r)) => restore_end::<SendEnd>(state, &r),
            Some((RecvEnd::CODE, r)) => restore_end::<RecvEnd>(state, &r),
            _ => Err(value_error("not a channel handle reference")),
        }
    }
}

/// A new handle on the end of kind `E` that `reference` names.
///
/// # Safety
/// `state` is this interpreter's module state.
unsafe fn restore_end<E: Kind>(state: &State, reference: &EndRef) -> PyResult<Owned> {
    // SAFETY: what our caller guarantees, passed on.
    unsafe {
        match E::lookup(reference) {
            Ok(end) => new_handle(state, end),
            Err(why) => Err(raise_failure(state, Failed::Restore(why))),
        }
    }
}

pub unsafe extern "C" fn get_closed<E: Kind>(
    slf: *mut PyObject,
    _closure: *mut c_void,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our handle object.
    ret(boolean(E::is_closed(unsafe { handle::<E>(slf) })))
}

pub unsafe extern "C" fn get_capacity<E: Kind>(
    slf: *mut PyObject,
    _closure: *mut c_void,
) -> *mut PyObject {
    // SAFETY: called by the interpreter on our handle object.
    match unsafe { handle::<E>(slf) }.info().capacity {
        None => ret(none()),
        // SAFETY: attached; returns a new reference or null.
        Some(cap) => unsafe { PyLong_FromSize_t(cap) },
    }
}

pub unsafe extern "C" fn length<E: Kind>(slf: *mut PyObject) -> Py_ssize_t {
    // SAFETY: called by the interpreter on our handle object.
    unsafe { handle::<E>(slf) }.waiting() as Py_ssize_t
}

pub unsafe extern "C" fn repr<E: Kind>(slf: *mut PyObject) -> *mut PyObject {
    // SAFETY: called by the interpreter on our handle object.
    let handle = unsafe { handle::<E>(slf) };
    let info = handle.info();
    let capacity = info.capacity.map_or("None".to_owned(), |c| c.to_string());
    let status = if E::is_closed(handle) {
        "closed"
    } else {
        "open"
    };
    let text = format!(
        "<interpchan.{} channel={} capacity={capacity} {status}>",
        E::NAME,
        info.id
    );
    // SAFETY: attached; `text` is valid UTF-8.
    unsafe { PyUnicode_FromStringAndSize(text.as_ptr().cast(), text.len() as _) }
}

/// Type flags shared by both handle types: final, immutable, not constructible from Python.
pub const FLAGS: c_int =
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION) as c_int;

/// The methods both handle types have: clone, close, the context manager and pickling.
pub const fn shared_methods<E: Kind>() -> [PyMethodDef; 5] {
    [
        method(
            c"clone",
            clone::<E>,
            c"clone($self, /)\n--\n\nA new handle on the same channel end.",
        ),
        method(
            c"close",
            close::<E>,
            c"close($self, /)\n--\n\nClose this handle (idempotent). Calls blocked on it raise \
ChannelClosed.",
        ),
        method(
            c"__enter__",
            enter,
            c"__enter__($self, /)\n--\n\nReturn self.",
        ),
        method(
            c"__exit__",
            exit::<E>,
            c"__exit__($self, exc_type, exc_value, traceback, /)\n--\n\nClose this handle.",
        ),
        method(
            c"__reduce__",
            reduce::<E>,
            c"__reduce__($self, /)\n--\n\nA reference valid in any interpreter of this process.",
        ),
    ]
}

/// The `closed` (with its kind's documentation) and `capacity` attributes.
pub const fn shared_getset<E: Kind>(closed_doc: &'static std::ffi::CStr) -> [PyGetSetDef; 2] {
    [
        getset(c"closed", get_closed::<E>, closed_doc),
        getset(
            c"capacity",
            get_capacity::<E>,
            c"The channel's capacity (None: unbounded, 0: rendezvous).",
        ),
    ]
}

/// `bool(handle)` is always true, as for `queue.Queue` or trio's channels: `len()` counts
/// waiting items, but an empty channel's handle is still a handle (`if tx:` must not misfire).
unsafe extern "C" fn always_true(_slf: *mut PyObject) -> c_int {
    1
}

/// The slots both handle types have: dealloc, repr, len() and bool().
pub const fn shared_slots<E: Kind>() -> [PyType_Slot; 4] {
    [
        slot(Py_tp_dealloc, dealloc::<E> as *mut c_void),
        slot(Py_tp_repr, repr::<E> as *mut c_void),
        slot(Py_mp_length, length::<E> as *mut c_void),
        slot(Py_nb_bool, always_true as *mut c_void),
    ]
}
