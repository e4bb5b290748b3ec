//! Receiving side: builds fresh Python objects from an `Item` in the receiver's interpreter.

use std::ffi::CString;
use std::ptr;

use pyo3_ffi::*;

use crate::core::drop_later::drop_item;
use crate::core::{BufferData, Item};

use super::alloc::{advise_huge_pages, copy_bytes};
use super::buffer;
use super::errors::{raise, raise_from};
use super::ffi::{Owned, PyErrSet, PyResult};
use super::handles;
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
    if let Err(err) = unsafe { stack::check(depth) } {
        // What is left can be nested up to the depth limit and this frame is near the end of
        // the stack: dropped by the drop glue it would recurse once per level (a few hundred
        // bytes each in an unoptimised build), so it is taken apart by a loop instead.
        drop_item(item);
        return Err(err);
    }
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
                each(items, drop_item, |i, item| {
                    // SetItem steals the new reference (and takes a fresh tuple's empty slot).
                    let obj = object(state, moved, item, depth)?;
                    PyTuple_SetItem(tuple.as_ptr(), i as _, obj.into_ptr());
                    Ok(())
                })?;
                Ok(tuple)
            }
            Item::List(items) => {
                let list = Owned::new(PyList_New(items.len() as _))?;
                each(items, drop_item, |i, item| {
                    // SetItem steals the new reference (and takes a fresh list's empty slot).
                    let obj = object(state, moved, item, depth)?;
                    PyList_SetItem(list.as_ptr(), i as _, obj.into_ptr());
                    Ok(())
                })?;
                Ok(list)
            }
            Item::Dict(pairs) => {
                let dict = Owned::new(PyDict_New())?;
                let drop_pair = |(key, value)| {
                    drop_item(key);
                    drop_item(value);
                };
                each(pairs, drop_pair, |_, (key, value)| {
                    let key = match object(state, moved, key, depth) {
                        Ok(key) => key,
                        Err(err) => {
                            drop_item(value);
                            return Err(err);
                        }
                    };
                    let value = object(state, moved, value, depth)?;
                    if PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) != 0 {
                        return Err(PyErrSet);
                    }
                    Ok(())
                })?;
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
    each(items, drop_item, |_, item| {
        // SAFETY: PySet_Add may fill a frozenset that has not been shared yet; `obj` is live.
        unsafe {
            let obj = object(state, moved, item, depth)?;
            if PySet_Add(set.as_ptr(), obj.as_ptr()) != 0 {
                return Err(PyErrSet);
            }
        }
        Ok(())
    })?;
    Ok(set)
}

/// Runs `convert` on each of `items` (with its index) in order. On the first failure, the items
/// not reached yet go to `discard` ([`drop_item`]: they can be nested as deep as the depth limit
/// allows, and this frame may sit near the end of a small stack).
fn each<T>(
    items: Box<[T]>,
    discard: impl Fn(T),
    mut convert: impl FnMut(usize, T) -> PyResult<()>,
) -> PyResult<()> {
    let mut rest = items.into_vec().into_iter().enumerate();
    for (i, item) in rest.by_ref() {
        if let Err(err) = convert(i, item) {
            rest.for_each(|(_, item)| discard(item));
            return Err(err);
        }
    }
    Ok(())
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
