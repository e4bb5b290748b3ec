//! Receiving side: builds fresh Python objects from an `Item` in the receiver's interpreter.

use std::ffi::CString;
use std::ptr;
use std::sync::Arc;

use pyo3_ffi::*;

use crate::core::drop_later::drop_item;
use crate::core::{BufferData, Item, RecvEnd};

use super::alloc::{advise_huge_pages, copy_bytes};
use super::buffer;
use super::carry;
use super::errors::{raise, raise_from};
use super::ffi::{Owned, PyErrSet, PyResult};
use super::give_back::{self, Part, Taken, FREE_EARLY};
use super::handles;
use super::shared_buffer;
use super::stack;
use super::state::State;

/// Builds the object a received item stands for, in this interpreter.
///
/// If that fails because a signal handler raised meanwhile (Ctrl-C, an alarm handler), or with
/// an error that is not an `Exception` (`KeyboardInterrupt`, `SystemExit`), the item goes back
/// to the front of its channel (`end` gives the receiving end it came from) and that error is
/// raised as is: a later receive gets the item. If it fails with an ordinary exception
/// (unpickling failed, say), raises `ChannelError` chained to it: the item was consumed.
///
/// What is left of the item is dropped by a loop ([`drop_item`]), not by the drop glue, which
/// recurses once per level: after the stack check stopped the build near the end of a small
/// stack, the item can still be nested far deeper than the build got (up to the depth limit),
/// and an unoptimised build's drop glue needs some hundreds of bytes a level.
///
/// # Safety
/// `state` is this interpreter's module state.
pub unsafe fn received(
    state: &State,
    mut item: Item,
    end: impl FnOnce() -> Option<Arc<RecvEnd>>,
) -> PyResult<Owned> {
    let mut taken = Taken::default();
    // SAFETY: as the caller guarantees.
    let result = unsafe { object(state, &mut Moved::default(), &mut item, 0, &mut taken) };
    if result.is_ok() {
        drop_item(item);
        return result;
    }
    // SAFETY: attached and an exception is set.
    unsafe {
        if give_back::interrupted() {
            // The partly built objects are gone (dropped as the error came up); only `taken`
            // still holds what was taken out of the item.
            if let Some(end) = end() {
                if let Some(item) = give_back::put_back(item, taken) {
                    end.give_back(item);
                }
                return result;
            }
        } else if PyErr_ExceptionMatches(PyExc_Exception) != 0 {
            raise_from(
                state.channel_error,
                "a received item could not be rebuilt in this interpreter (it was taken off \
                 the channel); see the cause",
            );
        }
    }
    drop_item(item);
    result
}

/// The buffers an [`Item::WithBuffers`] carries, while the item inside it is built: each is
/// taken once, by its `Item::BufferAt` placeholder or by a pickle (`_carried(i)`).
#[derive(Default)]
struct Moved {
    data: Vec<Option<BufferData>>,
    /// The slot number (see [`Taken`]) of the first; the others follow.
    first_slot: usize,
}

/// The object for `item`, which sits `depth` containers deep in the item being received;
/// `moved` holds the buffers its `Item::BufferAt` placeholders name. Buffers' memory, pickles
/// and large payloads are taken out of the item (into the objects built) and recorded in
/// `taken`; everything else is copied.
///
/// # Safety
/// `state` is this interpreter's module state.
unsafe fn object(
    state: &State,
    moved: &mut Moved,
    item: &mut Item,
    depth: usize,
    taken: &mut Taken,
) -> PyResult<Owned> {
    // SAFETY: attached (binding invariant).
    unsafe { stack::check(depth)? };
    let depth = depth + 1;
    // SAFETY: attached (binding invariant); every constructor returns a new reference or null
    // with an exception set, which `Owned::new` turns into an error.
    unsafe {
        match item {
            Item::None => Ok(Owned::borrowed(Py_None())),
            Item::Bool(b) => Owned::new(PyBool_FromLong(*b as _)),
            Item::Int(i) => Owned::new(PyLong_FromLongLong(*i)),
            Item::BigInt(hex) => {
                let text = CString::new(hex.as_bytes()).expect("hex text has no NUL");
                Owned::new(PyLong_FromString(text.as_ptr(), ptr::null_mut(), 16))
            }
            Item::Float(f) => Owned::new(PyFloat_FromDouble(*f)),
            Item::Complex(re, im) => Owned::new(PyComplex_FromDoubles(*re, *im)),
            Item::Str(s) => {
                let slot = taken.slots(1);
                let obj = Owned::new(PyUnicode_FromStringAndSize(s.as_ptr().cast(), s.len() as _))?;
                if s.len() >= FREE_EARLY {
                    *s = Box::default();
                    taken.record(slot, Part::Str(obj.clone()));
                }
                Ok(obj)
            }
            Item::StrSurrogates(b) => {
                let slot = taken.slots(1);
                let obj = Owned::new(PyUnicode_DecodeUTF8(
                    b.as_ptr().cast(),
                    b.len() as _,
                    c"surrogatepass".as_ptr(),
                ))?;
                if b.len() >= FREE_EARLY {
                    *b = Box::default();
                    taken.record(slot, Part::StrSurrogates(obj.clone()));
                }
                Ok(obj)
            }
            Item::Bytes(b) => {
                let slot = taken.slots(1);
                let obj = new_bytes(b)?;
                if b.len() >= FREE_EARLY {
                    *b = Box::default();
                    taken.record(slot, Part::Bytes(obj.clone()));
                }
                Ok(obj)
            }
            Item::Tuple(items) => {
                let tuple = Owned::new(PyTuple_New(items.len() as _))?;
                for (i, item) in items.iter_mut().enumerate() {
                    // SetItem steals the new reference (and takes a fresh tuple's empty slot).
                    PyTuple_SetItem(
                        tuple.as_ptr(),
                        i as _,
                        object(state, moved, item, depth, taken)?.into_ptr(),
                    );
                }
                Ok(tuple)
            }
            Item::List(items) => {
                let list = Owned::new(PyList_New(items.len() as _))?;
                for (i, item) in items.iter_mut().enumerate() {
                    // SetItem steals the new reference (and takes a fresh list's empty slot).
                    PyList_SetItem(
                        list.as_ptr(),
                        i as _,
                        object(state, moved, item, depth, taken)?.into_ptr(),
                    );
                }
                Ok(list)
            }
            Item::Dict(pairs) => {
                let dict = Owned::new(PyDict_New())?;
                for (key, value) in pairs.iter_mut() {
                    let key = object(state, moved, key, depth, taken)?;
                    let value = object(state, moved, value, depth, taken)?;
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
                taken,
            ),
            Item::FrozenSet(items) => fill_set(
                state,
                moved,
                Owned::new(PyFrozenSet_New(ptr::null_mut()))?,
                items,
                depth,
                taken,
            ),
            Item::Sender(end) => handles::new_handle(state, end.clone()),
            Item::Receiver(end) => handles::new_handle(state, end.clone()),
            Item::Shared(shared) => shared_buffer::received_view(state, shared.clone()),
            Item::Buffer(data) => {
                let slot = taken.slots(1);
                let data = std::mem::replace(&mut **data, BufferData::bytes(Box::default()));
                view_of(state, data, slot, taken)
            }
            Item::BufferAt(index) => match moved.data.get_mut(*index).and_then(Option::take) {
                Some(data) => view_of(state, data, moved.first_slot + *index, taken),
                None => Err(raise(
                    PyExc_SystemError,
                    "interpchan: a received item names a buffer it does not carry",
                )),
            },
            Item::WithBuffers(parts) => {
                let (inner, buffers) = &mut **parts;
                let mut inner_moved = Moved {
                    first_slot: taken.slots(buffers.len()),
                    data: buffers
                        .iter_mut()
                        .map(|b| Some(std::mem::replace(b, BufferData::bytes(Box::default()))))
                        .collect(),
                };
                let result = object(state, &mut inner_moved, inner, depth, taken);
                // What was not taken stays in the item.
                for (slot, left) in buffers.iter_mut().zip(inner_moved.data) {
                    if let Some(data) = left {
                        *slot = data;
                    }
                }
                result
            }
            Item::Pickled(data) => unpickle(state, moved, data, taken),
            // The carried handles stay in the item, keeping their ends alive, until the
            // references in the pickle have been resolved (the item is dropped after that).
            Item::PickledCarrying(pickle) => unpickle(state, moved, &mut pickle.data, taken),
        }
    }
}

/// A memoryview over `data`, whose `.obj` is a new Buffer owning it (recorded in `taken` as
/// slot `slot`).
///
/// # Safety
/// `state` is this interpreter's module state.
unsafe fn view_of(
    state: &State,
    data: BufferData,
    slot: usize,
    taken: &mut Taken,
) -> PyResult<Owned> {
    // SAFETY: the state's Buffer type is this interpreter's; each call returns a new reference
    // or null.
    unsafe {
        let buffer = buffer::new_object(state.buffer_type, data)?;
        match Owned::new(PyMemoryView_FromObject(buffer.as_ptr())) {
            Ok(view) => {
                taken.record(slot, Part::Buffer(Some(view.clone()), buffer));
                Ok(view)
            }
            Err(err) => {
                taken.record(slot, Part::Buffer(None, buffer));
                Err(err)
            }
        }
    }
}

/// The object a pickle stands for. The pickle is taken out of `data` (and recorded in
/// `taken`); while it loads, `_carried(i)` gives views of the buffers in `moved` (Buffers the
/// pickle met when it was made).
///
/// # Safety
/// `state` is this interpreter's module state.
unsafe fn unpickle(
    state: &State,
    moved: &mut Moved,
    data: &mut Box<[u8]>,
    taken: &mut Taken,
) -> PyResult<Owned> {
    let slot = taken.slots(1);
    let (_, loads) = state.pickle()?;
    // SAFETY: attached; returns a new reference or null.
    let bytes = unsafe {
        Owned::new(PyBytes_FromStringAndSize(
            data.as_ptr().cast(),
            data.len() as _,
        ))?
    };
    // The copy is all `loads` needs: free ours now (a large pickle is not held twice),
    // keeping the bytes object to put it back if the receive is interrupted.
    *data = Box::default();
    taken.record(slot, Part::Bytes(bytes.clone()));
    let args = [bytes.as_ptr()];
    // SAFETY: attached; `loads` and `bytes` are live; returns a new reference or null.
    let load = || unsafe {
        Owned::new(PyObject_Vectorcall(
            loads,
            args.as_ptr(),
            1,
            ptr::null_mut(),
        ))
    };
    if moved.data.is_empty() {
        return load();
    }
    let (result, views) = carry::loading(&mut moved.data, load);
    for (index, view, buffer) in views {
        taken.record(moved.first_slot + index, Part::Buffer(Some(view), buffer));
    }
    result
}

/// # Safety
/// `set` is a new, empty set or frozenset that nobody else has seen yet.
unsafe fn fill_set(
    state: &State,
    moved: &mut Moved,
    set: Owned,
    items: &mut [Item],
    depth: usize,
    taken: &mut Taken,
) -> PyResult<Owned> {
    for item in items.iter_mut() {
        // SAFETY: PySet_Add may fill a frozenset that has not been shared yet; `obj` is live.
        unsafe {
            let obj = object(state, moved, item, depth, taken)?;
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
