//! What a pickled item carries beside its pickle: the ends of the handles and the Buffers that
//! pickling met inside it (a Sender or Buffer in a dataclass, say), so they travel as in a tuple.
//!
//! Sending: while a send pickles an item, a handle's `__reduce__` records its end here (the
//! pickle still names it by reference, which the carried end keeps valid), and a Buffer's
//! records the Buffer, which the send then moves with the item's other Buffers
//! (`Item::WithBuffers`), and pickles as `_carried(i)`, `i` being its index there. Receiving:
//! while the pickle loads, `_carried(i)` gives the memoryview over the i-th of those buffers.

use std::cell::RefCell;

use pyo3_ffi::*;

use crate::core::{BufferData, Item};

use super::buffer;
use super::errors::value_error;
use super::ffi::{Owned, PyResult};
use super::state::State;

/// What one send's pickling met, on this thread.
struct Sending {
    /// The interpreter pickling: Buffers of another (one run from a `__reduce__` on this
    /// thread) are not recorded, as this interpreter cannot hold its objects.
    interpreter: i64,
    /// The index among the item's moved buffers that the first Buffer recorded here gets.
    first: usize,
    handles: Vec<Item>,
    buffers: Vec<Owned>,
}

/// The buffers of the item whose pickle loads on this thread, and the views made of them.
struct Loading {
    buffers: Vec<Option<BufferData>>,
    views: Vec<(usize, Owned, Owned)>,
}

thread_local! {
    static SENDING: RefCell<Vec<Sending>> = const { RefCell::new(Vec::new()) };
    static LOADING: RefCell<Vec<Loading>> = const { RefCell::new(Vec::new()) };
}

fn interpreter() -> i64 {
    // SAFETY: attached (binding invariant), so there is a current interpreter.
    unsafe { PyInterpreterState_GetID(PyInterpreterState_Get()) }
}

/// Runs `pickle` (a send pickling an item, whose Buffers met so far number `first`); returns
/// with its result the ends of the handles and the Buffer objects it pickled, in order (sends
/// nested inside keep their own).
pub fn sending<T>(first: usize, pickle: impl FnOnce() -> T) -> (T, Vec<Item>, Vec<Owned>) {
    SENDING.with(|s| {
        s.borrow_mut().push(Sending {
            interpreter: interpreter(),
            first,
            handles: Vec::new(),
            buffers: Vec::new(),
        })
    });
    let result = pickle();
    let done = SENDING
        .with(|s| s.borrow_mut().pop())
        .expect("pushed above");
    (result, done.handles, done.buffers)
}

/// Records the end of a handle being pickled, if a send is pickling on this thread.
pub fn handle(end: Item) {
    SENDING.with(|s| {
        if let Some(sending) = s.borrow_mut().last_mut() {
            sending.handles.push(end);
        }
    });
}

/// Records a Buffer being pickled by a send of this interpreter; its index among the item's
/// moved buffers, or `None` outside such a send.
///
/// # Safety
/// `obj` is a live Buffer object.
pub unsafe fn buffer(obj: *mut PyObject) -> Option<usize> {
    let here = interpreter();
    SENDING.with(|s| {
        let mut s = s.borrow_mut();
        let sending = s.last_mut().filter(|s| s.interpreter == here)?;
        let local = match sending.buffers.iter().position(|b| b.as_ptr() == obj) {
            Some(i) => i,
            None => {
                // SAFETY: as the caller guarantees.
                sending.buffers.push(unsafe { Owned::borrowed(obj) });
                sending.buffers.len() - 1
            }
        };
        Some(sending.first + local)
    })
}

/// Runs `load` (unpickling part of an item that carries `buffers`), during which
/// `_carried(i)` takes the i-th of them; returns its result and, for each buffer taken, its
/// index, the view made of it and its new Buffer object.
pub fn loading<T>(
    buffers: &mut Vec<Option<BufferData>>,
    load: impl FnOnce() -> T,
) -> (T, Vec<(usize, Owned, Owned)>) {
    let loading = Loading {
        buffers: std::mem::take(buffers),
        views: Vec::new(),
    };
    LOADING.with(|l| l.borrow_mut().push(loading));
    let result = load();
    let done = LOADING
        .with(|l| l.borrow_mut().pop())
        .expect("pushed above");
    *buffers = done.buffers;
    (result, done.views)
}

/// `_carried(i)`: the memoryview over the i-th buffer of the item whose pickle is loading.
///
/// # Safety
/// `state` is this interpreter's module state.
pub unsafe fn carried_view(state: &State, index: usize) -> PyResult<Owned> {
    // The data is taken under the borrow, the objects made without it (making them may run a
    // garbage collection, and so Python code).
    let found = LOADING.with(|l| {
        let mut l = l.try_borrow_mut().ok()?;
        let loading = l.last_mut()?;
        if let Some((_, view, _)) = loading.views.iter().find(|(i, _, _)| *i == index) {
            return Some(Err(view.clone()));
        }
        loading.buffers.get_mut(index)?.take().map(Ok)
    });
    let data = match found {
        None => {
            return Err(value_error(
                "_carried() is only for unpickling a received item that carries that buffer",
            ))
        }
        Some(Err(view)) => return Ok(view),
        Some(Ok(data)) => data,
    };
    // SAFETY: the state's Buffer type is this interpreter's.
    let buffer = unsafe { buffer::new_object(state.buffer_type, data)? };
    // SAFETY: `buffer` is live; the view takes its own reference.
    let view = unsafe { Owned::new(PyMemoryView_FromObject(buffer.as_ptr()))? };
    LOADING.with(|l| {
        if let Some(loading) = l.borrow_mut().last_mut() {
            loading.views.push((index, view.clone(), buffer));
        }
    });
    Ok(view)
}
