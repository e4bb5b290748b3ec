//! Sending side: turns a Python object into an `Item` in the sender's interpreter, moving Buffers.

use std::ptr;

use pyo3_ffi::*;

use crate::core::{BufferData, CarryingPickle, Item, Layout};

use super::buffer;
use super::carry;
use super::errors::{
    memory_error, passes_through, raise, raise_from, type_error, type_name, value_error,
};
use super::ffi::{critical_section, BufferView, Owned, PyErrSet, PyResult};
use super::handles;
use super::shared_buffer;
use super::stack;
use super::state::State;

/// Deepest nesting of containers that is sent (deeper, or self-referential: `TypeError`).
pub const MAX_DEPTH: usize = 1000;

/// The Buffer objects whose memory an item took, in the order of the item's buffers (the
/// `index` of each [`Item::BufferAt`] placeholder), so that a failed send can give each its
/// memory back.
pub struct MovedFrom(Vec<Owned>);

impl MovedFrom {
    /// Gives the memory moved into `item` back to the Buffer objects it came from.
    pub fn give_back(self, item: Item) {
        if let Item::WithBuffers(parts) = item {
            let (_, buffers) = *parts;
            for (obj, data) in self.0.iter().zip(buffers.into_vec()) {
                // SAFETY: `obj` is the live Buffer this memory was taken from.
                unsafe { buffer::put_back(obj.as_ptr(), data) };
            }
        }
    }
}

/// Whether [`convert`] may pickle a part it cannot convert natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pickling {
    /// Pickled (the rule for every send).
    Allowed,
    /// Not: the object is not converted at all (the Pool's workers' results).
    Refused,
}

/// Converts `obj` for sending. Buffers inside it are moved only once everything else
/// converted, so a failure leaves them untouched; the item then carries their memory beside it
/// ([`Item::WithBuffers`]), each placeholder naming its Buffer by index. With
/// [`Pickling::Refused`], `None` if some part would be pickled: nothing converted, no Buffer
/// moved, no pickling code run. With [`Pickling::Allowed`], never `None`.
///
/// # Safety
/// `obj` is a live object; `state` is this interpreter's module state.
pub unsafe fn convert(
    state: &State,
    obj: *mut PyObject,
    pickling: Pickling,
) -> PyResult<Option<(Item, MovedFrom)>> {
    let mut converter = Converter {
        state,
        buffers: Vec::new(),
        depth: 0,
        hashed: false,
        pickling,
        not_native: false,
    };
    // SAFETY: as the caller guarantees.
    let item = unsafe { converter.item(obj)? };
    if converter.not_native {
        return Ok(None); // `item` holds placeholders; the Buffers were not taken yet
    }
    let buffers = converter.buffers;
    if buffers.is_empty() {
        return Ok(Some((item, MovedFrom(buffers))));
    }
    let mut taken = Vec::with_capacity(buffers.len());
    for obj in &buffers {
        // SAFETY: recorded objects are live Buffers (we hold references to them).
        match unsafe { buffer::take(obj.as_ptr()) } {
            Ok(data) => taken.push(data),
            Err(err) => {
                for (obj, data) in buffers.iter().zip(taken) {
                    // SAFETY: `obj` was emptied by `take` just above.
                    unsafe { buffer::put_back(obj.as_ptr(), data) };
                }
                return Err(err);
            }
        }
    }
    let item = Item::WithBuffers(Box::new((item, taken.into_boxed_slice())));
    Ok(Some((item, MovedFrom(buffers))))
}

struct Converter<'s> {
    state: &'s State,
    buffers: Vec<Owned>,
    depth: usize,
    /// True inside a set or frozenset element or a dict key: there an item must arrive
    /// hashable, which a received memoryview (writable) is not.
    hashed: bool,
    /// With [`Pickling::Refused`], a part that would be pickled is not: it sets `not_native`.
    pickling: Pickling,
    /// Some part would have been pickled (with [`Pickling::Refused`]): the item is not sent.
    not_native: bool,
}

impl Converter<'_> {
    /// # Safety
    /// `obj` is a live object.
    unsafe fn item(&mut self, obj: *mut PyObject) -> PyResult<Item> {
        // SAFETY: attached (binding invariant) and `obj` is live throughout; the type objects
        // compared against are static builtins or this interpreter's own types.
        unsafe {
            let tp = Py_TYPE(obj);
            if obj == Py_None() {
                Ok(Item::None)
            } else if tp == &raw mut PyLong_Type {
                int(obj)
            } else if tp == &raw mut PyUnicode_Type {
                string(obj)
            } else if tp == &raw mut PyFloat_Type {
                Ok(Item::Float(PyFloat_AsDouble(obj)))
            } else if tp == &raw mut PyBool_Type {
                Ok(Item::Bool(obj == Py_True()))
            } else if tp == &raw mut PyBytes_Type {
                Ok(Item::Bytes(bytes_of(obj)?))
            } else if tp == &raw mut PyTuple_Type {
                self.nested(|c| c.sequence(obj)).map(Item::Tuple)
            } else if tp == &raw mut PyList_Type {
                self.nested(|c| c.sequence(obj)).map(Item::List)
            } else if tp == &raw mut PyDict_Type {
                self.nested(|c| c.dict(obj)).map(Item::Dict)
            } else if tp == &raw mut PySet_Type {
                self.nested(|c| c.hashing(|c| c.iterable(obj)))
                    .map(Item::Set)
            } else if tp == &raw mut PyFrozenSet_Type {
                self.nested(|c| c.hashing(|c| c.iterable(obj)))
                    .map(Item::FrozenSet)
            } else if tp == &raw mut PyComplex_Type {
                Ok(Item::Complex(
                    PyComplex_RealAsDouble(obj),
                    PyComplex_ImagAsDouble(obj),
                ))
            } else if tp.cast() == self.state.sender_type {
                handles::sendable(self.state, obj).map(Item::Sender)
            } else if tp.cast() == self.state.receiver_type {
                handles::sendable(self.state, obj).map(Item::Receiver)
            } else if tp.cast() == self.state.buffer_type {
                self.refuse_if_hashed(obj)?;
                self.buffer(obj)
            } else if tp.cast() == self.state.shared_buffer_type {
                self.refuse_if_hashed(obj)?;
                Ok(Item::Shared(shared_buffer::sendable(obj)))
            } else if PyObject_CheckBuffer(obj) != 0 && !subclass_of_buffer_type(tp) {
                self.refuse_if_hashed(obj)?;
                match copy_buffer(obj)? {
                    Some(data) => Ok(Item::Buffer(Box::new(data))),
                    None => self.pickled(obj),
                }
            } else {
                self.pickled(obj)
            }
        }
    }

    /// Runs `f` with `hashed` set (for set elements and dict keys).
    fn hashing<T>(&mut self, f: impl FnOnce(&mut Self) -> PyResult<T>) -> PyResult<T> {
        let outer = std::mem::replace(&mut self.hashed, true);
        let result = f(self);
        self.hashed = outer;
        result
    }

    /// `TypeError` for a buffer object (a Buffer or one that would be copied) inside a set
    /// element or dict key: it would arrive as a writable memoryview, which cannot be hashed,
    /// so the item could be sent but never received. Nothing has been moved yet.
    ///
    /// # Safety
    /// `obj` is a live object.
    unsafe fn refuse_if_hashed(&self, obj: *mut PyObject) -> PyResult<()> {
        if !self.hashed {
            return Ok(());
        }
        // SAFETY: as the caller guarantees.
        let name = unsafe { type_name(obj) };
        Err(type_error(&format!(
            "cannot send a {name} inside a set, frozenset or dict key: it would arrive as a \
             writable memoryview, which is unhashable (send bytes(...) instead)"
        )))
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PyResult<T>) -> PyResult<T> {
        let room = if self.depth >= MAX_DEPTH {
            // SAFETY: attached (binding invariant); builtin exception class.
            Err(unsafe {
                raise(
                    PyExc_RecursionError,
                    &format!("containers nested more than {MAX_DEPTH} deep"),
                )
            })
        } else {
            // SAFETY: as above.
            unsafe { stack::check(self.depth) }
        };
        if room.is_err() {
            // SAFETY: builtin exception class; the RecursionError just raised becomes the cause.
            return Err(unsafe {
                raise_from(
                    PyExc_TypeError,
                    "cannot send this item: it is nested too deeply or contains itself",
                )
            });
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// Items of a tuple or list, each held by us while it converts. With a GIL, no other
    /// thread runs inside this loop unless converting an item runs Python code (`__reduce__`,
    /// which may also change the list): each item is read with the size checked just before,
    /// so nothing read can dangle (a list that changes meanwhile is read as it is at each
    /// step, as any iteration does). On a free-threaded build another thread may change a
    /// list at any moment: what is converted is then a copy taken in one step under its lock.
    unsafe fn sequence(&mut self, obj: *mut PyObject) -> PyResult<Box<[Item]>> {
        // SAFETY: `obj` is a live tuple or list (exact types checked by the caller).
        let is_tuple = unsafe { Py_TYPE(obj) } == &raw mut PyTuple_Type;
        #[cfg(Py_GIL_DISABLED)]
        if !is_tuple {
            // SAFETY: as above.
            return self.all(unsafe { list_items(obj) });
        }
        let size = |obj| {
            // SAFETY: as above.
            unsafe {
                if is_tuple {
                    PyTuple_Size(obj)
                } else {
                    PyList_Size(obj)
                }
            }
        };
        let mut items = vec_with_capacity(size(obj))?;
        let mut i = 0;
        while i < size(obj) {
            // SAFETY: `i` is in bounds: checked just above, and since then no other thread ran
            // (the GIL is held; on a free-threaded build `obj` is a tuple, which never
            // changes). The item is borrowed from the container.
            let borrowed = unsafe {
                if is_tuple {
                    PyTuple_GetItem(obj, i)
                } else {
                    PyList_GetItem(obj, i)
                }
            };
            // SAFETY: `borrowed` is live (see above). An exact int or float converts without
            // running any Python code, so nothing can drop it meanwhile: no reference of our
            // own is needed (the common case of a list of numbers, taken in one step each).
            unsafe {
                let tp = Py_TYPE(borrowed);
                if tp == &raw mut PyLong_Type {
                    items.push(int(borrowed)?);
                    i += 1;
                    continue;
                } else if tp == &raw mut PyFloat_Type {
                    items.push(Item::Float(PyFloat_AsDouble(borrowed)));
                    i += 1;
                    continue;
                }
            }
            // SAFETY: as above; we take our own reference, as converting may run Python code.
            let element = unsafe { Owned::borrowed(borrowed) };
            // SAFETY: we hold a reference to `element`.
            items.push(unsafe { self.item(element.as_ptr())? });
            i += 1;
        }
        Ok(items.into_boxed_slice())
    }

    /// Converts each of `elements`, which we hold.
    #[cfg(Py_GIL_DISABLED)]
    fn all(&mut self, elements: Vec<Owned>) -> PyResult<Box<[Item]>> {
        let mut items = vec_with_capacity(elements.len() as Py_ssize_t)?;
        for element in elements {
            // SAFETY: we hold a reference to `element`.
            items.push(unsafe { self.item(element.as_ptr())? });
        }
        Ok(items.into_boxed_slice())
    }

    /// Pairs of a dict. They are all taken (with our own references) at once, holding the
    /// dict's lock on a free-threaded build, then converted: converting runs no code while the
    /// dict is being walked, and another thread cannot change it midway.
    unsafe fn dict(&mut self, obj: *mut PyObject) -> PyResult<Box<[(Item, Item)]>> {
        // Room for every pair, asked for fallibly (a huge dict may not leave that much): the
        // size cannot change before the walk with a GIL, and a change meanwhile on a
        // free-threaded build only makes `push` grow the vector.
        // SAFETY: `obj` is a live dict.
        let mut entries = vec_with_capacity(unsafe { PyDict_Size(obj) })?;
        // SAFETY: `obj` is a live dict. Inside the critical section only PyDict_Next and
        // reference counting run (no Python code), so the borrowed key and value are live when
        // we take our references to them.
        let entries = unsafe {
            critical_section(obj, || {
                let mut pos: Py_ssize_t = 0;
                let (mut key, mut value) = (ptr::null_mut(), ptr::null_mut());
                while PyDict_Next(obj, &mut pos, &mut key, &mut value) != 0 {
                    entries.push((Owned::borrowed(key), Owned::borrowed(value)));
                }
                entries
            })
        };
        let mut pairs = vec_with_capacity(entries.len() as Py_ssize_t)?;
        for (key, value) in entries {
            // SAFETY: we hold references to both.
            let key = self.hashing(|c| unsafe { c.item(key.as_ptr()) })?;
            // SAFETY: as above.
            let value = unsafe { self.item(value.as_ptr())? };
            pairs.push((key, value));
        }
        Ok(pairs.into_boxed_slice())
    }

    /// Items of a set or frozenset, each held by us while it converts. With a GIL, the set's
    /// iterator is used (it raises if converting an item changed the set's size).
    #[cfg(not(Py_GIL_DISABLED))]
    unsafe fn iterable(&mut self, obj: *mut PyObject) -> PyResult<Box<[Item]>> {
        // SAFETY: `obj` is a live set or frozenset.
        let mut items = vec_with_capacity(unsafe { PySet_Size(obj) })?;
        // SAFETY: as above; the iterator holds its own reference to the set.
        let iter = unsafe { Owned::new(PyObject_GetIter(obj))? };
        loop {
            // SAFETY: `iter` is a live iterator; each call returns a new reference or null.
            let next = unsafe { PyIter_Next(iter.as_ptr()) };
            if next.is_null() {
                // SAFETY: attached; null with no exception is the end of iteration.
                return if unsafe { PyErr_Occurred() }.is_null() {
                    Ok(items.into_boxed_slice())
                // SAFETY: attached, with an exception set.
                } else if unsafe { passes_through() } {
                    Err(PyErrSet)
                } else {
                    // SAFETY: builtin exception class.
                    Err(unsafe {
                        raise_from(PyExc_TypeError, "cannot send this set: iterating it failed")
                    })
                };
            }
            // SAFETY: `next` is a new reference we now own.
            let element = unsafe { Owned::new(next)? };
            // SAFETY: we hold a reference to `element`.
            items.push(unsafe { self.item(element.as_ptr())? });
        }
    }

    /// Items of a set or frozenset. On a free-threaded build another thread may change a set
    /// while it is iterated, and a change that keeps its size goes unnoticed by the set
    /// iterator (items are then skipped or seen twice): what is converted is `list(obj)`,
    /// which CPython copies from an exact set in one step under the set's lock.
    #[cfg(Py_GIL_DISABLED)]
    unsafe fn iterable(&mut self, obj: *mut PyObject) -> PyResult<Box<[Item]>> {
        // SAFETY: `obj` is a live exact set or frozenset; the new list is ours alone.
        let elements = unsafe {
            let list = Owned::new(PySequence_List(obj))?;
            list_items(list.as_ptr())
        };
        self.all(elements)
    }

    /// Records a Buffer to move once conversion has succeeded; a placeholder naming its place in
    /// the record stands in for it.
    unsafe fn buffer(&mut self, obj: *mut PyObject) -> PyResult<Item> {
        if self.buffers.iter().any(|b| b.as_ptr() == obj) {
            return Err(value_error(
                "the same Buffer appears twice in one item: it can be moved only once",
            ));
        }
        // SAFETY: `obj` is a live Buffer.
        unsafe { buffer::check_movable(obj)? };
        // SAFETY: as above.
        self.buffers.push(unsafe { Owned::borrowed(obj) });
        Ok(Item::BufferAt(self.buffers.len() - 1))
    }

    unsafe fn pickled(&mut self, obj: *mut PyObject) -> PyResult<Item> {
        if self.pickling == Pickling::Refused {
            self.not_native = true;
            return Ok(Item::None); // a placeholder in an item that is dropped unsent
        }
        let (dumps, _) = self.state.pickle()?;
        // Handles and Buffers pickled on the way are recorded, for the item to carry; each
        // Buffer pickles as its index among the item's moved buffers, which come next.
        let first = self.buffers.len();
        // SAFETY: attached; `dumps` and `obj` are live; the call returns a new reference.
        let (result, handles, buffers) = carry::sending(first, || unsafe {
            let protocol = Owned::new(PyLong_FromLong(5))?;
            let args = [obj, protocol.as_ptr()];
            Owned::new(PyObject_Vectorcall(
                dumps,
                args.as_ptr(),
                2,
                ptr::null_mut(),
            ))
        });
        let Ok(pickled) = result else {
            // SAFETY: attached and an exception is set. MemoryError, and KeyboardInterrupt,
            // SystemExit and other non-`Exception` errors raised by `__reduce__` code, pass
            // through unchanged: they do not mean that the object cannot be sent.
            if unsafe { passes_through() } {
                return Err(PyErrSet);
            }
            // SAFETY: `obj` is live; builtin exception class.
            return Err(unsafe {
                let name = type_name(obj);
                raise_from(
                    PyExc_TypeError,
                    &format!("cannot send a {name} object: it is not natively sendable and pickling it failed"),
                )
            });
        };
        // SAFETY: pickle.dumps returns a live object; bytes_of checks it is bytes.
        if unsafe { PyBytes_Check(pickled.as_ptr()) } == 0 {
            return Err(type_error("pickle.dumps did not return bytes"));
        }
        // SAFETY: `pickled` is a live bytes object.
        let data = unsafe { bytes_of(pickled.as_ptr())? };
        if self.hashed && !buffers.is_empty() {
            // It would arrive holding a writable memoryview, which its hash may need.
            return Err(type_error(
                "cannot send a Buffer inside an object in a set, frozenset or dict key: it \
                 would arrive as a writable memoryview, which is unhashable",
            ));
        }
        for (i, b) in buffers.iter().enumerate() {
            // SAFETY: `carry` records live Buffer objects of this interpreter.
            let at = unsafe { self.buffer(b.as_ptr())? };
            if !matches!(at, Item::BufferAt(index) if index == first + i) {
                // SAFETY: builtin exception class.
                return Err(unsafe {
                    raise(
                        PyExc_SystemError,
                        "interpchan: a pickled Buffer did not get the index it was pickled with",
                    )
                });
            }
        }
        if handles.is_empty() {
            return Ok(Item::Pickled(data));
        }
        Ok(Item::PickledCarrying(Box::new(CarryingPickle {
            data,
            handles: handles.into_boxed_slice(),
        })))
    }
}

/// The items of a list as it is at one moment, with our own references.
///
/// # Safety
/// `obj` is a live list.
#[cfg(Py_GIL_DISABLED)]
unsafe fn list_items(obj: *mut PyObject) -> Vec<Owned> {
    // SAFETY: as the caller guarantees. Inside the critical section no other thread changes the
    // list and only reference counting runs here (no Python code), so the size stays valid and
    // each borrowed item is live when we take our reference to it.
    unsafe {
        critical_section(obj, || {
            (0..PyList_Size(obj))
                .map(|i| Owned::borrowed(PyList_GetItem(obj, i)))
                .collect()
        })
    }
}

/// An empty vector with room for `n` items; `MemoryError` (not an abort) if that much memory
/// cannot be had.
fn vec_with_capacity<T>(n: Py_ssize_t) -> PyResult<Vec<T>> {
    let mut items = Vec::new();
    items
        .try_reserve_exact(n.max(0) as usize)
        .map_err(|_| memory_error())?;
    Ok(items)
}

/// A copy of `text`; `MemoryError` (not an abort) if it cannot be allocated.
fn boxed_str(text: &str) -> PyResult<Box<str>> {
    let mut copy = String::new();
    copy.try_reserve_exact(text.len())
        .map_err(|_| memory_error())?;
    copy.push_str(text);
    Ok(copy.into_boxed_str())
}

/// # Safety
/// `obj` is a live exact int.
unsafe fn int(obj: *mut PyObject) -> PyResult<Item> {
    let mut overflow = 0;
    // SAFETY: `obj` is a live int.
    let value = unsafe { PyLong_AsLongLongAndOverflow(obj, &mut overflow) };
    if overflow == 0 {
        // SAFETY: attached; -1 may be a real value or an error.
        if value == -1 && unsafe { !PyErr_Occurred().is_null() } {
            return Err(PyErrSet);
        }
        return Ok(Item::Int(value));
    }
    // SAFETY: `obj` is a live int; base 16 gives '-0x...' text.
    let hex = unsafe { Owned::new(PyNumber_ToBase(obj, 16))? };
    // SAFETY: `hex` is a live str that outlives the borrowed text.
    let text = unsafe { super::errors::utf8(hex.as_ptr()) }.ok_or(PyErrSet)?;
    Ok(Item::BigInt(text.into()))
}

/// # Safety
/// `obj` is a live exact str.
unsafe fn string(obj: *mut PyObject) -> PyResult<Item> {
    // SAFETY: `obj` is a live str that outlives the borrowed text.
    if let Some(text) = unsafe { super::errors::utf8(obj) } {
        return Ok(Item::Str(boxed_str(text)?));
    }
    // Lone surrogates have no UTF-8 form: carry them through with "surrogatepass".
    // SAFETY: attached; `obj` is a live str.
    unsafe {
        if PyErr_ExceptionMatches(PyExc_UnicodeEncodeError) == 0 {
            return Err(PyErrSet);
        }
        PyErr_Clear();
        let encoded = Owned::new(PyUnicode_AsEncodedString(
            obj,
            c"utf-8".as_ptr(),
            c"surrogatepass".as_ptr(),
        ))?;
        Ok(Item::StrSurrogates(bytes_of(encoded.as_ptr())?))
    }
}

/// A copy of the contents of a bytes object.
///
/// # Safety
/// `obj` is a live bytes object.
unsafe fn bytes_of(obj: *mut PyObject) -> PyResult<Box<[u8]>> {
    // SAFETY: `obj` is live bytes: `size` bytes at `data`, valid while it lives. Our own
    // reference keeps it alive even if another thread drops the container it came from while a
    // large copy runs detached; and CPython never changes a bytes object that more than one
    // reference can reach, so its contents stay as they are.
    unsafe {
        let held = Owned::borrowed(obj);
        let data = PyBytes_AsString(held.as_ptr());
        if data.is_null() {
            return Err(PyErrSet);
        }
        let size = PyBytes_Size(held.as_ptr()) as usize;
        let mut out = super::alloc::try_zeroed(size).ok_or_else(memory_error)?;
        super::alloc::copy_bytes(data.cast::<u8>(), out.as_mut_ptr(), size);
        Ok(out)
    }
}

/// True for a class defined in Python that derives from a type with the buffer protocol (a
/// `bytes`, `bytearray`, `array.array` or numpy array subclass, say): such objects are
/// pickled, so that their type (and whatever the subclass adds) arrives, rather than copied
/// into a plain memoryview. Types made in C (numpy's scalar types, say) are copied.
///
/// # Safety
/// `tp` is a live type.
unsafe fn subclass_of_buffer_type(tp: *mut PyTypeObject) -> bool {
    // SAFETY: `tp` is live; PyType_GetSlot reads static and heap types alike (3.10+), and
    // `Py_bf_getbuffer` is readable through it in the limited API from 3.11.
    unsafe {
        if PyType_GetFlags(tp) & Py_TPFLAGS_HEAPTYPE == 0 {
            return false;
        }
        let base = PyType_GetSlot(tp, Py_tp_base).cast::<PyTypeObject>();
        !base.is_null() && !PyType_GetSlot(base, Py_bf_getbuffer).is_null()
    }
}

/// Copies the memory another object exports, with its format and shape (C order).
/// `Ok(None)` if the object refuses to export, or exports Python object pointers (format
/// `O`): it is then pickled instead.
///
/// # Safety
/// `obj` is a live object with the buffer protocol.
unsafe fn copy_buffer(obj: *mut PyObject) -> PyResult<Option<BufferData>> {
    // SAFETY: as the caller guarantees.
    let view = match unsafe { BufferView::get(obj, PyBUF_FULL_RO) } {
        Ok(view) => view,
        Err(PyErrSet) => {
            // SAFETY: attached and an exception is set. The object has no buffer to give
            // (numpy object arrays, say): pickle it. MemoryError and non-`Exception` errors
            // (a `__buffer__` interrupted by Ctrl-C) pass through instead.
            unsafe {
                if passes_through() {
                    return Err(PyErrSet);
                }
                PyErr_Clear();
            }
            return Ok(None);
        }
    };
    let raw = view.raw();
    let format = if raw.format.is_null() {
        c"B"
    } else {
        // SAFETY: a non-null format is a NUL-terminated string valid while the export lasts.
        unsafe { std::ffi::CStr::from_ptr(raw.format) }
    };
    if format.to_bytes().contains(&b'O') {
        // Python object pointers (numpy object arrays): meaningless, and dangerous, in another
        // interpreter. Such objects are pickled instead.
        return Ok(None);
    }
    let layout = Layout::new(
        format,
        raw.itemsize.max(0) as usize,
        &view.shape(),
        view.len(),
    )
    .unwrap_or_else(|| Layout::bytes(view.len()));
    let mut bytes = super::alloc::try_zeroed(view.len()).ok_or_else(memory_error)?;
    view.copy_to(&mut bytes)?;
    Ok(Some(BufferData {
        bytes: bytes.into(),
        layout,
    }))
}
