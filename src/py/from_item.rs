//! Receiving side: builds fresh Python objects from an `Item` in the receiver's interpreter.

use std::ffi::CString;
use std::ptr;

use pyo3_ffi::*;

use crate::core::{BufferData, Item};

use super::alloc::{advise_huge_pages, copy_bytes};
use super::buffer;
use super::errors::{raise, raise_from};
use super::ffi::{Owned, PyErrSet, PyResult};
use super::handles;
use super::shared_buffer;
use super::stack;
use super::state::State;

/// Builds the object a received item stands for. If that fails with an ordinary exception
/// (unpickling failed, say), raises `ChannelError` chained to it: the item was consumed.
///
/// # Safety
/// `state` is this interpreter's module state.
pub unsafe fn received(state: &State, item: Item) -> PyResult<Owned> {
    // SAFETY: as the caller guarantees.
    let result = unsafe { object(state, &mut [], item, 0) };
    if result.is_err() {
        // SAFETY: attached and an exception is set; KeyboardInterrupt and friends pass as is.
        unsafe {
            if PyErr_ExceptionMatches(PyExc_Exception) != 0 {
                raise_from(
                    state.channel_error,
                    "a received item could not be rebuilt in this interpreter (it was taken off \
                     the channel); see the cause",
                );
            }
        }
    }
    result
}

/// The object for `item`, which sits `depth` containers deep in the item being received;
/// `moved` holds the buffers its `Item::BufferAt` placeholders name (each is taken once).
///
/// # Safety
/// `state` is this interpreter's module state.
unsafe fn object(
    state: &State,
    moved: &mut [Option<BufferData>],
    item: Item,
    depth: usize,
) -> PyResult<Owned> {
    // SAFETY: attached (binding invariant).
    unsafe { stack::check(depth)? };
    let depth = depth + 1;
    // SAFETY: attached (binding invariant); every constructor returns a new reference or null
    // with an exception set, which `Owned::new` turns into an error.
    unsafe {
        match item {
            Item::None => Ok(Owned::borrowed(Py_None())),
            Item::Bool(b) => Owned::new(PyBool_FromLong(b as _)),
            Item::Int(i) => Owned::new(PyLong_FromLongLong(i)),
            Item::BigInt(hex) => {
                let text = CString::new(hex.as_bytes()).expect("hex text has no NUL");
                Owned::new(PyLong_FromString(text.as_ptr(), ptr::null_mut(), 16))
            }
            Item::Float(f) => Owned::new(PyFloat_FromDouble(f)),
            Item::Complex(re, im) => Owned::new(PyComplex_FromDoubles(re, im)),
            Item::Str(s) => {
                Owned::new(PyUnicode_FromStringAndSize(s.as_ptr().cast(), s.len() as _))
            }
            Item::StrSurrogates(b) => Owned::new(PyUnicode_DecodeUTF8(
                b.as_ptr().cast(),
                b.len() as _,
                c"surrogatepass".as_ptr(),
            )),
            Item::Bytes(b) => new_bytes(&b),
            Item::Tuple(items) => {
                let tuple = Owned::new(PyTuple_New(items.len() as _))?;
                for (i, item) in items.into_vec().into_iter().enumerate() {
                    // SetItem steals the new reference (and takes a fresh tuple's empty slot).
                    PyTuple_SetItem(
                        tuple.as_ptr(),
                        i as _,
                        object(state, moved, item, depth)?.into_ptr(),
                    );
                }
                Ok(tuple)
            }
            Item::List(items) => {
                let list = Owned::new(PyList_New(items.len() as _))?;
                for (i, item) in items.into_vec().into_iter().enumerate() {
                    // SetItem steals the new reference (and takes a fresh list's empty slot).
                    PyList_SetItem(
                        list.as_ptr(),
                        i as _,
                        object(state, moved, item, depth)?.into_ptr(),
                    );
                }
                Ok(list)
            }
            Item::Dict(pairs) => {
                let dict = Owned::new(PyDict_New())?;
                for (key, value) in pairs.into_vec() {
                    let key = object(state, moved, key, depth)?;
                    let value = object(state, moved, value, depth)?;
                    if PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) != 0 {
                        return Err(PyErrSet);
                    }
                }
                Ok(dict)
            }
            Item::Set(items) => fill_set(
                state,
                moved,
                Owned::new(PySet_New(ptr::null_mut()))?,
                items,
                depth,
            ),
            Item::FrozenSet(items) => fill_set(
                state,
                moved,
                Owned::new(PyFrozenSet_New(ptr::null_mut()))?,
                items,
                depth,
            ),
            Item::Sender(end) => handles::new_handle(state, end),
            Item::Receiver(end) => handles::new_handle(state, end),
            Item::Buffer(data) => buffer::received_view(state, *data),
            Item::Shared(shared) => shared_buffer::received_view(state, shared),
            Item::BufferAt(index) => match moved.get_mut(index).and_then(Option::take) {
                Some(data) => buffer::received_view(state, data),
                None => Err(raise(
                    PyExc_SystemError,
                    "interpchan: a received item names a buffer it does not carry",
                )),
            },
            Item::WithBuffers(parts) => {
                let (item, buffers) = *parts;
                let mut buffers: Vec<_> = buffers.into_vec().into_iter().map(Some).collect();
                object(state, &mut buffers, item, depth)
            }
            Item::Pickled(data) => {
                let (_, loads) = state.pickle()?;
                let bytes = Owned::new(PyBytes_FromStringAndSize(
                    data.as_ptr().cast(),
                    data.len() as _,
                ))?;
                drop(data);
                let args = [bytes.as_ptr()];
                Owned::new(PyObject_Vectorcall(
                    loads,
                    args.as_ptr(),
                    1,
                    ptr::null_mut(),
                ))
            }
        }
    }
}

/// # Safety
/// `set` is a new, empty set or frozenset that nobody else has seen yet.
unsafe fn fill_set(
    state: &State,
    moved: &mut [Option<BufferData>],
    set: Owned,
    items: Box<[Item]>,
    depth: usize,
) -> PyResult<Owned> {
    for item in items.into_vec() {
        // SAFETY: PySet_Add may fill a frozenset that has not been shared yet; `obj` is live.
        unsafe {
            let obj = object(state, moved, item, depth)?;
            if PySet_Add(set.as_ptr(), obj.as_ptr()) != 0 {
                return Err(PyErrSet);
            }
        }
    }
    Ok(set)
}

/// A new `bytes` object holding a copy of `data`; large ones land in memory advised huge pages.
///
/// # Safety
/// Attached.
unsafe fn new_bytes(data: &[u8]) -> PyResult<Owned> {
    // SAFETY: attached; a null source asks for an uninitialised bytes object of that size.
    let obj = unsafe { Owned::new(PyBytes_FromStringAndSize(ptr::null(), data.len() as _))? };
    // SAFETY: a bytes object has room for its size (and a NUL) at PyBytes_AsString; it is new,
    // so no other thread can reach it while we fill it, and `data` is a distinct Rust
    // allocation that we borrow.
    unsafe {
        let dst = PyBytes_AsString(obj.as_ptr()).cast::<u8>();
        advise_huge_pages(dst, data.len());
        copy_bytes(data.as_ptr(), dst, data.len());
    }
    Ok(obj)
}
