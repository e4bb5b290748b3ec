//! A receive interrupted while it rebuilds an item: what it took out of the item, telling an
//! interruption (a signal handler raised, `KeyboardInterrupt`) from a failure of the item, and
//! putting the item back together to give it back to its channel.

use std::ptr;

use pyo3_ffi::*;

use crate::core::{BufferData, Item};

use super::alloc::{copy_bytes, try_zeroed};
use super::buffer;
use super::errors::utf8;
use super::ffi::{Owned, PyErrSet};

/// Payloads of `Str`, `StrSurrogates` and `Bytes` items at least this large are freed as soon
/// as their object is built (so a container of large payloads is not held twice); smaller ones
/// stay in the item until the receive ends.
pub const FREE_EARLY: usize = 4096;

/// What a receive took out of an item while building it. Every slot that can be taken (a
/// `Str`, `StrSurrogates`, `Bytes`, `Buffer` or pickle, and each Buffer a pickle carries) gets
/// the next number, in the order the item is built (depth first); `parts` holds, by number,
/// the objects that now own what was taken, so that it can be put back.
#[derive(Default)]
pub struct Taken {
    parts: Vec<(usize, Part)>,
    slots: usize,
}

/// The object that now owns what was taken out of one slot.
pub enum Part {
    /// The view we built (if we got that far) and the Buffer object that owns the memory.
    Buffer(Option<Owned>, Owned),
    /// A bytes object: the payload of a `Bytes` item, or a pickle.
    Bytes(Owned),
    /// A str object made from a `Str` item.
    Str(Owned),
    /// A str object made from a `StrSurrogates` item.
    StrSurrogates(Owned),
}

impl Taken {
    /// Numbers the next `n` slots; returns the first.
    pub fn slots(&mut self, n: usize) -> usize {
        let first = self.slots;
        self.slots += n;
        first
    }

    /// Records what was taken out of slot `slot`.
    pub fn record(&mut self, slot: usize, part: Part) {
        self.parts.push((slot, part));
    }
}

/// Whether the pending error interrupted a rebuild rather than came from the item: it is not
/// an `Exception` (`KeyboardInterrupt`, `SystemExit`), or, in the thread that runs signal
/// handlers, it was raised by (or while handling an error of) a Python signal handler now
/// installed, as found in its traceback. The error stays set.
///
/// # Safety
/// Attached, with an exception set.
pub unsafe fn interrupted() -> bool {
    // SAFETY: as the caller guarantees.
    if unsafe { PyErr_ExceptionMatches(PyExc_Exception) } == 0 {
        return true;
    }
    // SAFETY: as the caller guarantees: take the error (what follows calls into Python), then set it
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

/// The item as it was taken off the channel: what `taken` holds goes back into its slots.
/// `None` if that cannot be done (no memory for a copy, or a Buffer still viewed elsewhere).
///
/// # Safety
/// Attached; `taken` was filled while building `item`, whose objects are all dropped but those
/// `taken` holds.
pub unsafe fn put_back(mut item: Item, taken: Taken) -> Option<Item> {
    let mut parts = taken.parts;
    parts.sort_unstable_by_key(|(slot, _)| *slot);
    let mut restored = Vec::with_capacity(parts.len());
    for (slot, part) in parts {
        // SAFETY: attached; each object is live (we hold it). The pending exception is saved
        // around the calls, which may raise.
        let back = unsafe {
            let pending = PyErr_GetRaisedException();
            let back = restore(part);
            PyErr_Clear();
            PyErr_SetRaisedException(pending);
            back
        };
        restored.push((slot, back?));
    }
    let mut restored = restored.into_iter().peekable();
    refill(&mut item, &mut 0, &mut restored);
    Some(item)
}

/// What goes back into a slot.
enum Restored {
    Buffer(BufferData),
    Bytes(Box<[u8]>),
    Str(Box<str>),
}

/// Takes back what `part` owns (`None`, perhaps with an error set, if it cannot).
///
/// # Safety
/// Attached, with no exception set.
unsafe fn restore(part: Part) -> Option<Restored> {
    // SAFETY: attached; the objects are live and of the kinds the variants say; each call
    // returns a new reference or null.
    unsafe {
        match part {
            Part::Buffer(view, buffer) => {
                if let Some(view) = view {
                    let released =
                        PyObject_CallMethod(view.as_ptr(), c"release".as_ptr(), ptr::null());
                    Owned::new(released).ok()?;
                }
                buffer::take(buffer.as_ptr()).ok().map(Restored::Buffer)
            }
            Part::Bytes(bytes) => copy_of(&bytes).map(Restored::Bytes),
            Part::Str(text) => {
                let text = utf8(text.as_ptr())?;
                let mut copy = String::new();
                copy.try_reserve_exact(text.len()).ok()?;
                copy.push_str(text);
                Some(Restored::Str(copy.into_boxed_str()))
            }
            Part::StrSurrogates(text) => {
                let encoded = Owned::new(PyUnicode_AsEncodedString(
                    text.as_ptr(),
                    c"utf-8".as_ptr(),
                    c"surrogatepass".as_ptr(),
                ))
                .ok()?;
                copy_of(&encoded).map(Restored::Bytes)
            }
        }
    }
}

/// A copy of a bytes object's contents.
///
/// # Safety
/// Attached; `bytes` is a bytes object.
unsafe fn copy_of(bytes: &Owned) -> Option<Box<[u8]>> {
    // SAFETY: as the caller guarantees: `size` bytes at `data`, valid while `bytes` lives.
    unsafe {
        let data = PyBytes_AsString(bytes.as_ptr()).cast::<u8>();
        let size = PyBytes_Size(bytes.as_ptr()) as usize;
        let mut copy = try_zeroed(size)?;
        copy_bytes(data, copy.as_mut_ptr(), size);
        Some(copy)
    }
}

type Parts = std::iter::Peekable<std::vec::IntoIter<(usize, Restored)>>;

/// Walks `item`'s slots in the order they were numbered (depth first, containers in order),
/// putting back each one `parts` has. A loop with its own stack, not recursion: this runs on
/// the receiving thread, whose C stack may be far smaller than the sender's.
fn refill(item: &mut Item, slot: &mut usize, parts: &mut Parts) {
    let mut next = |slot: &mut usize| {
        let this = *slot;
        *slot += 1;
        parts.next_if(|(s, _)| *s == this).map(|(_, back)| back)
    };
    let mut todo: Vec<&mut Item> = vec![item];
    while let Some(item) = todo.pop() {
        match item {
            Item::Str(text) => {
                if let Some(Restored::Str(back)) = next(slot) {
                    *text = back;
                }
            }
            Item::StrSurrogates(data) | Item::Bytes(data) | Item::Pickled(data) => {
                if let Some(Restored::Bytes(back)) = next(slot) {
                    *data = back;
                }
            }
            Item::Buffer(data) => {
                if let Some(Restored::Buffer(back)) = next(slot) {
                    **data = back;
                }
            }
            Item::PickledCarrying(pickle) => {
                if let Some(Restored::Bytes(back)) = next(slot) {
                    pickle.data = back;
                }
            }
            Item::WithBuffers(with) => {
                // Its buffers are numbered first, then the slots of the item inside.
                let (inner, buffers) = &mut **with;
                for data in buffers.iter_mut() {
                    if let Some(Restored::Buffer(back)) = next(slot) {
                        *data = back;
                    }
                }
                todo.push(inner);
            }
            // Children pushed last first, so they are taken in order.
            Item::Tuple(items) | Item::List(items) | Item::Set(items) | Item::FrozenSet(items) => {
                todo.extend(items.iter_mut().rev());
            }
            Item::Dict(pairs) => {
                for (key, value) in pairs.iter_mut().rev() {
                    todo.push(value);
                    todo.push(key);
                }
            }
            Item::None
            | Item::Bool(_)
            | Item::Int(_)
            | Item::BigInt(_)
            | Item::Float(_)
            | Item::Complex(..)
            | Item::Sender(_)
            | Item::Receiver(_)
            | Item::BufferAt(_)
            | Item::Shared(_) => {}
        }
    }
}
