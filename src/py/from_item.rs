//! Receiving side: builds fresh Python objects from an `Item` in the receiver's interpreter.

use std::ffi::CString;
use std::ptr;
use std::sync::Arc;

use pyo3_ffi::*;

use crate::core::{BufferData, Item, RecvEnd};

use super::alloc::{advise_huge_pages, copy_bytes};
use super::buffer;
use super::carry;
use super::errors::raise_from;
use super::ffi::{Owned, PyErrSet, PyResult};
use super::handles;
use super::stack;
use super::state::State;

/// What a receive took out of an item while building it, in the order the item holds it, so
/// that a receive that cannot finish can put it back: each Buffer's memory (in the Buffer
/// object behind the view we made) and each pickle (as the bytes object handed to `loads`).
#[derive(Default)]
struct Taken(Vec<TakenPart>);

enum TakenPart {
    /// The view we built (if we got that far) and the Buffer object that now owns the memory.
    Buffer(Option<Owned>, Owned),
    Pickle(Owned),
    /// A Buffer carried beside a pickle that the pickle did not reach.
    Untouched,
}

/// Builds the object a received item stands for, in this interpreter.
///
/// If that fails because a signal handler raised meanwhile (Ctrl-C, an alarm handler), or with
/// an error that is not an `Exception` (`KeyboardInterrupt`, `SystemExit`), the item goes back
/// to the front of its channel (`end` gives the receiving end it came from) and that error is
/// raised as is: a later receive gets the item. If it fails with an ordinary exception
/// (unpickling failed, say), raises `ChannelError` chained to it: the item was consumed.
///
/// # Safety
/// `state` is this interpreter's module state.
pub unsafe fn received(
    state: &State,
    mut item: Item,
    end: impl FnOnce() -> Option<Arc<RecvEnd>>,
) -> PyResult<Owned> {
    let mut taken = Taken::default();
    // SAFETY: per the contract.
    let result = unsafe { object(state, &mut item, 0, &mut taken) };
    if result.is_ok() {
        return result;
    }
    // SAFETY: attached and an exception is set.
    unsafe {
        if interrupted() {
            // The partly built objects are gone (dropped as the error came up); only `taken`
            // still holds what was taken out of the item.
            if let Some(end) = end() {
                if let Some(item) = put_back(item, taken) {
                    end.give_back(item);
                }
            }
        } else if PyErr_ExceptionMatches(PyExc_Exception) != 0 {
            raise_from(
                state.channel_error,
                "a received item could not be rebuilt in this interpreter (it was taken off \
                 the channel); see the cause",
            );
        }
    }
    result
}

/// Whether the pending error interrupted a rebuild rather than came from the item: it is not
/// an `Exception` (`KeyboardInterrupt`, `SystemExit`), or, in the thread that runs signal
/// handlers, it was raised by (or while handling an error of) a Python signal handler now
/// installed, as found in its traceback. The error stays set.
///
/// # Safety
/// Attached, with an exception set.
unsafe fn interrupted() -> bool {
    // SAFETY: per the contract.
    if unsafe { PyErr_ExceptionMatches(PyExc_Exception) } == 0 {
        return true;
    }
    // SAFETY: per the contract: take the error (what follows calls into Python), then set it
    // again whatever the answer.
    unsafe {
        let exc = PyErr_GetRaisedException();
        let answer = super::blocking::runs_signal_handlers()
            && Owned::new(Py_NewRef(exc)).is_ok_and(|exc| raised_by_signal_handler(&exc));
        PyErr_Clear();
        PyErr_SetRaisedException(exc);
        answer
    }
}

/// True if `exc`, or an error it was raised while handling, passed through the code of a
/// Python signal handler installed now (its frame is in the traceback). Only C functions and
/// attribute lookups are called (no Python code runs, so no signal handler can interrupt the
/// check itself); an error on the way counts as no.
///
/// # Safety
/// Attached, in the main thread of the main interpreter, with no exception set.
unsafe fn raised_by_signal_handler(exc: &Owned) -> bool {
    let attr = |obj: &Owned, name: &std::ffi::CStr| -> Option<Owned> {
        // SAFETY: attached; `obj` is live; returns a new reference or null.
        let found = unsafe { Owned::new(PyObject_GetAttrString(obj.as_ptr(), name.as_ptr())) };
        // SAFETY: attached; a failed lookup's error is dropped (it means "no").
        found.map_err(|PyErrSet| unsafe { PyErr_Clear() }).ok()
    };
    // The code objects of the installed Python handlers (functions and bound methods).
    let mut handlers = Vec::new();
    // SAFETY: attached; each call returns a new reference or null.
    unsafe {
        // `_signal`, not `signal`, whose wrappers are Python code.
        let Ok(signal) = Owned::new(PyImport_ImportModule(c"_signal".as_ptr())) else {
            return false;
        };
        let (Some(valid), Some(getsignal)) =
            (attr(&signal, c"valid_signals"), attr(&signal, c"getsignal"))
        else {
            return false;
        };
        let Ok(signums) = Owned::new(PyObject_CallNoArgs(valid.as_ptr())) else {
            return false;
        };
        let Ok(signums) = Owned::new(PyObject_GetIter(signums.as_ptr())) else {
            return false;
        };
        while let Ok(signum) = Owned::new(PyIter_Next(signums.as_ptr())) {
            let args = [signum.as_ptr()];
            let handler = Owned::new(PyObject_Vectorcall(
                getsignal.as_ptr(),
                args.as_ptr(),
                1,
                ptr::null_mut(),
            ));
            match handler {
                Ok(handler) => handlers.extend(attr(&handler, c"__code__")),
                Err(PyErrSet) => PyErr_Clear(),
            }
        }
        PyErr_Clear();
    }
    if handlers.is_empty() {
        return false;
    }
    // Each error of the chain (cause, else context), each frame of its traceback.
    let mut error = Some(exc.clone());
    for _ in 0..100 {
        let Some(current) = error else { break };
        let mut tb = attr(&current, c"__traceback__");
        while let Some(entry) = tb.filter(|t| t.as_ptr() != none_ptr()) {
            let code = attr(&entry, c"tb_frame").and_then(|frame| attr(&frame, c"f_code"));
            if code.is_some_and(|code| handlers.iter().any(|h| h.as_ptr() == code.as_ptr())) {
                return true;
            }
            tb = attr(&entry, c"tb_next");
        }
        error = attr(&current, c"__cause__")
            .filter(|e| e.as_ptr() != none_ptr())
            .or_else(|| attr(&current, c"__context__"))
            .filter(|e| e.as_ptr() != none_ptr());
    }
    false
}

/// `None`, for comparisons.
fn none_ptr() -> *mut PyObject {
    // SAFETY: Py_None is the static None object.
    unsafe { Py_None() }
}

/// The item as it was taken off the channel: what `taken` holds goes back into its slots, in
/// order. `None` if that cannot be done (memory for a pickle's copy, or a Buffer still viewed).
///
/// # Safety
/// Attached; `taken` was filled while building `item`.
unsafe fn put_back(mut item: Item, taken: Taken) -> Option<Item> {
    let mut parts = Vec::with_capacity(taken.0.len());
    for part in taken.0 {
        // SAFETY: attached; each object is live (we hold it). A pending exception is saved
        // around the calls, which may raise.
        let restored = unsafe {
            let pending = PyErr_GetRaisedException();
            let restored = match part {
                TakenPart::Buffer(view, buffer) => {
                    let released = match view {
                        Some(view) => Owned::new(PyObject_CallMethod(
                            view.as_ptr(),
                            c"release".as_ptr(),
                            ptr::null(),
                        ))
                        .map(drop),
                        None => Ok(()),
                    };
                    released
                        .and_then(|()| buffer::take(buffer.as_ptr()))
                        .map(Restored::Buffer)
                }
                TakenPart::Untouched => Ok(Restored::Untouched),
                TakenPart::Pickle(bytes) => {
                    let data = PyBytes_AsString(bytes.as_ptr()).cast::<u8>();
                    let size = PyBytes_Size(bytes.as_ptr()) as usize;
                    super::alloc::try_zeroed(size)
                        .map(|mut copy| {
                            copy_bytes(data, copy.as_mut_ptr(), size);
                            Restored::Pickle(copy)
                        })
                        .ok_or(PyErrSet)
                }
            };
            if restored.is_err() {
                PyErr_Clear();
            }
            PyErr_SetRaisedException(pending);
            restored
        };
        parts.push(restored.ok()?);
    }
    let mut parts = parts.into_iter();
    refill(&mut item, &mut parts);
    Some(item)
}

enum Restored {
    Buffer(BufferData),
    Pickle(Box<[u8]>),
    Untouched,
}

/// Fills the first Buffer and Pickled slots of `item`, depth first (the order `object` builds
/// in), from `parts`, until it runs out.
fn refill(item: &mut Item, parts: &mut std::vec::IntoIter<Restored>) {
    match item {
        Item::Buffer(data) => {
            if let Some(Restored::Buffer(back)) = parts.next() {
                **data = back;
            }
        }
        Item::Pickled(data) => {
            if let Some(Restored::Pickle(back)) = parts.next() {
                *data = back;
            }
        }
        Item::PickledCarrying(pickle) => {
            if let Some(Restored::Pickle(back)) = parts.next() {
                pickle.data = back;
            }
            for item in pickle.buffers.iter_mut() {
                refill(item, parts);
            }
        }
        Item::Tuple(items) | Item::List(items) | Item::Set(items) | Item::FrozenSet(items) => {
            for item in items.iter_mut() {
                refill(item, parts);
            }
        }
        Item::Dict(pairs) => {
            for (key, value) in pairs.iter_mut() {
                refill(key, parts);
                refill(value, parts);
            }
        }
        _ => {}
    }
}

/// The object for `item`, which sits `depth` containers deep in the item being received.
/// Buffers' memory and pickles are taken out of `item` (into the objects built), and recorded
/// in `taken`; everything else is copied.
///
/// # Safety
/// `state` is this interpreter's module state.
unsafe fn object(
    state: &State,
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
                Owned::new(PyUnicode_FromStringAndSize(s.as_ptr().cast(), s.len() as _))
            }
            Item::StrSurrogates(b) => Owned::new(PyUnicode_DecodeUTF8(
                b.as_ptr().cast(),
                b.len() as _,
                c"surrogatepass".as_ptr(),
            )),
            Item::Bytes(b) => new_bytes(b),
            Item::Tuple(items) => {
                let tuple = Owned::new(PyTuple_New(items.len() as _))?;
                for (i, item) in items.iter_mut().enumerate() {
                    // SetItem steals the new reference (and takes a fresh tuple's empty slot).
                    PyTuple_SetItem(
                        tuple.as_ptr(),
                        i as _,
                        object(state, item, depth, taken)?.into_ptr(),
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
                        object(state, item, depth, taken)?.into_ptr(),
                    );
                }
                Ok(list)
            }
            Item::Dict(pairs) => {
                let dict = Owned::new(PyDict_New())?;
                for (key, value) in pairs.iter_mut() {
                    let key = object(state, key, depth, taken)?;
                    let value = object(state, value, depth, taken)?;
                    if PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) != 0 {
                        return Err(PyErrSet);
                    }
                }
                Ok(dict)
            }
            Item::Set(items) => fill_set(
                state,
                Owned::new(PySet_New(ptr::null_mut()))?,
                items,
                depth,
                taken,
            ),
            Item::FrozenSet(items) => fill_set(
                state,
                Owned::new(PyFrozenSet_New(ptr::null_mut()))?,
                items,
                depth,
                taken,
            ),
            Item::Sender(end) => handles::new_sender(state, end.clone()),
            Item::Receiver(end) => handles::new_receiver(state, end.clone()),
            Item::Buffer(data) => {
                let data = std::mem::replace(&mut **data, BufferData::bytes(Box::default()));
                let buffer = buffer::new_object(state.buffer_type, data)?;
                taken.0.push(TakenPart::Buffer(None, buffer.clone()));
                let view = Owned::new(PyMemoryView_FromObject(buffer.as_ptr()))?;
                if let Some(TakenPart::Buffer(slot, _)) = taken.0.last_mut() {
                    *slot = Some(view.clone());
                }
                Ok(view)
            }
            Item::Pickled(data) => unpickle(state, data, taken),
            // The carried handles stay in the item, keeping their ends alive, until the
            // references in the pickle have been resolved (the item is dropped after that);
            // the carried Buffers are viewed through `_carried(i)` as the pickle loads.
            Item::PickledCarrying(pickle) => {
                let buffers = std::mem::take(&mut pickle.buffers);
                let (result, done) =
                    carry::loading(buffers, || unpickle(state, &mut pickle.data, taken));
                pickle.buffers = done.buffers;
                taken
                    .0
                    .extend(done.views.into_iter().map(|made| match made {
                        Some((view, buffer)) => TakenPart::Buffer(Some(view), buffer),
                        None => TakenPart::Untouched,
                    }));
                result
            }
        }
    }
}

/// The object a pickle stands for. The pickle is taken out of `data` (and recorded in
/// `taken`).
///
/// # Safety
/// `state` is this interpreter's module state.
unsafe fn unpickle(state: &State, data: &mut Box<[u8]>, taken: &mut Taken) -> PyResult<Owned> {
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
    taken.0.push(TakenPart::Pickle(bytes.clone()));
    let args = [bytes.as_ptr()];
    // SAFETY: attached; `loads` and `bytes` are live; returns a new reference or null.
    unsafe {
        Owned::new(PyObject_Vectorcall(
            loads,
            args.as_ptr(),
            1,
            ptr::null_mut(),
        ))
    }
}

/// # Safety
/// `set` is a new, empty set or frozenset that nobody else has seen yet.
unsafe fn fill_set(
    state: &State,
    set: Owned,
    items: &mut [Item],
    depth: usize,
    taken: &mut Taken,
) -> PyResult<Owned> {
    for item in items.iter_mut() {
        // SAFETY: PySet_Add may fill a frozenset that has not been shared yet; `obj` is live.
        unsafe {
            let obj = object(state, item, depth, taken)?;
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
