//! `interpchan.Buffer`: Rust-owned memory with the buffer protocol, moved (not copied) by `send`.

use std::ffi::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::sync::{Mutex, MutexGuard};

use pyo3_ffi::*;

use super::alloc::try_zeroed;
use crate::core::{BufferData, Bytes, ForeignBytes, LiveBuffer};

use super::errors::{buffer_error, memory_error, type_error, value_error};
use super::ffi::{Owned, PyErrSet, PyResult};
use super::layout;
use super::methods::{getset, method, method_noargs, slot, END_GETSET, END_METHOD, END_SLOT};
use super::view::{Unfit, ViewLayout};

/// Bytes owned through a raw pointer rather than a `Box`, so that the pointers handed to
/// Python views stay valid (no `&mut` to the bytes is ever made while views exist). The memory
/// is a `Box`'s allocation, or foreign memory (received by the bridge) that `owner` keeps alive.
struct RawBytes {
    ptr: NonNull<u8>,
    len: usize,
    /// `None`: `ptr` is a `Box`'s allocation, freed by this.
    owner: Option<Box<dyn ForeignBytes>>,
}

impl RawBytes {
    fn new(bytes: Bytes) -> RawBytes {
        match bytes {
            Bytes::Owned(bytes) => {
                let len = bytes.len();
                // `Box::into_raw` never returns null.
                let ptr =
                    NonNull::new(Box::into_raw(bytes).cast::<u8>()).expect("Box pointer is null");
                RawBytes {
                    ptr,
                    len,
                    owner: None,
                }
            }
            Bytes::Foreign(mut owner) => {
                // The only `&mut` to the bytes ever made: the owner keeps them at this address
                // (`ForeignBytes`' promise) until it is dropped or handed back by `into_bytes`.
                let bytes = owner.bytes_mut();
                let len = bytes.len();
                let ptr = NonNull::new(bytes.as_mut_ptr()).unwrap_or(NonNull::dangling());
                RawBytes {
                    ptr,
                    len,
                    owner: Some(owner),
                }
            }
        }
    }

    fn into_bytes(mut self) -> Bytes {
        if let Some(owner) = self.owner.take() {
            // Nothing of ours to free: the memory goes on with its owner.
            std::mem::forget(self);
            return Bytes::Foreign(owner);
        }
        let slice = ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
        std::mem::forget(self);
        // SAFETY: `slice` is exactly the allocation `Box::into_raw` gave up in `new`, and
        // `forget` above makes sure it is turned back into a Box only once.
        Bytes::Owned(unsafe { Box::from_raw(slice) })
    }
}

impl Drop for RawBytes {
    fn drop(&mut self) {
        if self.owner.is_some() {
            return; // the owner frees its memory as it is dropped, after this
        }
        let slice = ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
        // SAFETY: as in `into_bytes`: we own this allocation and free it once.
        drop(unsafe { Box::from_raw(slice) });
    }
}

// SAFETY: `RawBytes` is a uniquely owned heap allocation, like the `Box<[u8]>` it came from, or
// a `ForeignBytes` owner (which is `Send`) with a pointer into the memory it owns.
unsafe impl Send for RawBytes {}

/// The memory a live (not moved) Buffer owns, with what views need to describe it.
struct Memory {
    bytes: RawBytes,
    layout: ViewLayout,
    /// Counted in `_live_buffers()` while this Buffer owns the memory.
    _live: LiveBuffer,
}

impl Memory {
    fn new(data: BufferData) -> Memory {
        Memory {
            bytes: RawBytes::new(data.bytes),
            layout: ViewLayout::new(data.layout),
            _live: LiveBuffer::new(),
        }
    }

    fn into_data(self) -> BufferData {
        BufferData {
            bytes: self.bytes.into_bytes(),
            layout: self.layout.into_layout(),
        }
    }
}

struct Inner {
    /// `None` once moved.
    memory: Option<Memory>,
    /// Live views (buffer exports); the memory cannot move while there are any.
    exports: usize,
}

#[repr(C)]
pub struct BufferObject {
    ob_base: PyObject,
    inner: Mutex<Inner>,
}

/// Locks a Buffer's state. No Python code, and no Python API call that might run some (raising
/// included), ever runs under this lock, so a thread that waits for it while attached to its
/// interpreter (holding the GIL, or on a free-threaded build blocking a stop-the-world pause)
/// only waits for a few Rust instructions of another thread.
///
/// # Safety
/// `obj` is a live Buffer object; the reference is used while it lives.
unsafe fn inner<'a>(obj: *mut PyObject) -> MutexGuard<'a, Inner> {
    // SAFETY: Buffer objects are `BufferObject`s initialised by `new_object`.
    let inner = unsafe { &(*obj.cast::<BufferObject>()).inner };
    // Every update is a single assignment, consistent even after a panic.
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

const MOVED: &str = "this Buffer was moved: it no longer owns any memory";

/// Why a Buffer cannot be moved (or viewed) now; raised once its lock is released.
enum Refusal {
    Moved,
    Viewed(usize),
    NotFortran,
}

impl Refusal {
    fn raise(self) -> PyErrSet {
        match self {
            Refusal::Moved => value_error(MOVED),
            Refusal::Viewed(n) => buffer_error(&format!(
                "cannot send or share a Buffer while {n} view{} of it (memoryview, numpy array, \
                 ...) {} alive; release {} first",
                if n == 1 { "" } else { "s" },
                if n == 1 { "is" } else { "are" },
                if n == 1 { "it" } else { "them" },
            )),
            Refusal::NotFortran => {
                buffer_error("Buffer memory is C-contiguous, not Fortran-contiguous")
            }
        }
    }
}

impl Inner {
    fn movable(&self) -> Result<(), Refusal> {
        match (&self.memory, self.exports) {
            (None, _) => Err(Refusal::Moved),
            (Some(_), 0) => Ok(()),
            (Some(_), n) => Err(Refusal::Viewed(n)),
        }
    }
}

/// Makes a Buffer object of type `tp` owning `data`.
///
/// # Safety
/// `tp` is this interpreter's Buffer type.
pub unsafe fn new_object(tp: *mut PyObject, data: BufferData) -> PyResult<Owned> {
    let tp = tp.cast::<PyTypeObject>();
    // SAFETY: `tp` is a live heap type; its tp_alloc slot is always set.
    let obj = unsafe {
        let alloc: allocfunc = std::mem::transmute(PyType_GetSlot(tp, Py_tp_alloc));
        Owned::new(alloc(tp, 0))?
    };
    let inner = Inner {
        memory: Some(Memory::new(data)),
        exports: 0,
    };
    // SAFETY: fresh, zeroed object memory of `BufferObject` size; the field is written once
    // here and dropped in `dealloc`.
    unsafe {
        ptr::addr_of_mut!((*obj.as_ptr().cast::<BufferObject>()).inner).write(Mutex::new(inner))
    };
    Ok(obj)
}

/// Checks that a Buffer could be moved now (not moved, no live view). Only a hint when other
/// threads use the Buffer too: [`take`] checks again, atomically with the move.
///
/// # Safety
/// `obj` is a live Buffer object.
pub unsafe fn check_movable(obj: *mut PyObject) -> PyResult<()> {
    // SAFETY: as the caller guarantees; the lock is released before raising.
    let movable = unsafe { inner(obj) }.movable();
    movable.map_err(Refusal::raise)
}

/// Takes the memory out of a Buffer (it becomes moved). The check and the move happen under
/// one lock, so of two threads sending the same Buffer exactly one gets its memory (the other
/// gets ValueError), and a view made at the same time either exists first (the send raises
/// BufferError) or fails (ValueError).
///
/// # Safety
/// `obj` is a live Buffer object.
pub unsafe fn take(obj: *mut PyObject) -> PyResult<BufferData> {
    let taken = {
        // SAFETY: as the caller guarantees.
        let mut inner = unsafe { inner(obj) };
        inner.movable().map(|()| inner.memory.take())
    };
    match taken {
        Ok(memory) => Ok(memory.expect("movable() saw memory").into_data()),
        Err(refusal) => Err(refusal.raise()),
    }
}

/// Gives memory back to a Buffer after a failed send.
///
/// # Safety
/// `obj` is a live Buffer object that was emptied by `take`.
pub unsafe fn put_back(obj: *mut PyObject, data: BufferData) {
    // SAFETY: as the caller guarantees.
    unsafe { inner(obj) }.memory = Some(Memory::new(data));
}

unsafe extern "C" fn tp_new(
    tp: *mut PyTypeObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> *mut PyObject {
    let mut nbytes: *mut PyObject = ptr::null_mut();
    let mut format: *mut PyObject = ptr::null_mut();
    let mut shape: *mut PyObject = ptr::null_mut();
    let mut kwlist = [
        c"nbytes".as_ptr(),
        c"format".as_ptr(),
        c"shape".as_ptr(),
        ptr::null(),
    ];
    // SAFETY: attached; the format "O|$OO:Buffer" stores one borrowed object in `nbytes` and
    // up to two keyword-only ones in `format` and `shape` (left null when not given).
    let ok = unsafe {
        PyArg_ParseTupleAndKeywords(
            args,
            kwds,
            c"O|$OO:Buffer".as_ptr(),
            kwlist.as_mut_ptr().cast(),
            &mut nbytes,
            &mut format,
            &mut shape,
        )
    };
    if ok == 0 {
        return ptr::null_mut();
    }
    // SAFETY: the arguments are live borrowed objects (or null); `tp` is our Buffer type (final).
    match unsafe { create(tp.cast(), nbytes, format, shape) } {
        Ok(obj) => obj.into_ptr(),
        Err(PyErrSet) => ptr::null_mut(),
    }
}

/// A new zero-filled Buffer of `nbytes` bytes laid out as `format` and `shape` say (see
/// [`layout::from_args`]); the layout is checked before any memory is allocated.
///
/// # Safety
/// `tp` is the Buffer type; the other arguments are live objects (`format`, `shape` may be null).
unsafe fn create(
    tp: *mut PyObject,
    nbytes: *mut PyObject,
    format: *mut PyObject,
    shape: *mut PyObject,
) -> PyResult<Owned> {
    // SAFETY: `nbytes` is live; PyNumber_Index raises TypeError for non-integers.
    let index = unsafe { Owned::new(PyNumber_Index(nbytes))? };
    // SAFETY: `index` is a live int; overflow raises OverflowError.
    let n = unsafe { PyLong_AsSsize_t(index.as_ptr()) };
    // SAFETY: attached.
    if n == -1 && unsafe { !PyErr_Occurred().is_null() } {
        return Err(PyErrSet);
    }
    if n < 0 {
        return Err(value_error("Buffer size must be non-negative"));
    }
    // SAFETY: attached; the arguments are live or null.
    let layout = unsafe { layout::from_args(n as usize, format, shape)? };
    let bytes = try_zeroed(n as usize).ok_or_else(memory_error)?;
    // SAFETY: `tp` is the Buffer type.
    unsafe {
        new_object(
            tp,
            BufferData {
                bytes: bytes.into(),
                layout,
            },
        )
    }
}

unsafe extern "C" fn dealloc(obj: *mut PyObject) {
    // SAFETY: called once by the interpreter when the last reference goes; views hold
    // references, so none is alive. We drop our Rust field, free the object with the type's
    // tp_free and release the reference instances of heap types hold on their type.
    unsafe {
        let tp = Py_TYPE(obj);
        ptr::drop_in_place(ptr::addr_of_mut!((*obj.cast::<BufferObject>()).inner));
        let free: freefunc = std::mem::transmute(PyType_GetSlot(tp, Py_tp_free));
        free(obj.cast());
        Py_DECREF(tp.cast());
    }
}

unsafe extern "C" fn getbuffer(obj: *mut PyObject, view: *mut Py_buffer, flags: c_int) -> c_int {
    let filled = {
        // SAFETY: the interpreter calls this with our object and a writable view.
        let mut inner = unsafe { inner(obj) };
        // SAFETY: as above.
        let filled = fill_view(inner.memory.as_ref(), unsafe { &mut *view }, flags);
        if filled.is_ok() {
            inner.exports += 1;
        }
        filled
    };
    match filled {
        Ok(()) => {
            // SAFETY: `obj` is live; the view owns this reference until PyBuffer_Release.
            unsafe { (*view).obj = Py_NewRef(obj) };
            0
        }
        Err(refusal) => {
            refusal.raise();
            -1
        }
    }
}

/// Describes `memory` in `v` as `flags` ask (all but `v.obj`), or says why it cannot. Called
/// under the Buffer's lock; the caller counts the export if this succeeds.
fn fill_view(memory: Option<&Memory>, v: &mut Py_buffer, flags: c_int) -> Result<(), Refusal> {
    let Some(memory) = memory else {
        return Err(Refusal::Moved);
    };
    // The bytes and the layout's pointers cannot move or be freed while the export is counted,
    // and the view holds a strong reference to the Buffer (released by PyBuffer_Release, which
    // calls `releasebuffer`).
    let filled = memory
        .layout
        .fill(v, memory.bytes.ptr.as_ptr(), memory.bytes.len, false, flags);
    filled.map_err(|Unfit::NotFortran| Refusal::NotFortran)
}

unsafe extern "C" fn releasebuffer(obj: *mut PyObject, _view: *mut Py_buffer) {
    // SAFETY: called for a view `getbuffer` filled, with our object.
    let mut inner = unsafe { inner(obj) };
    inner.exports = inner.exports.saturating_sub(1);
}

unsafe extern "C" fn length(obj: *mut PyObject) -> Py_ssize_t {
    // SAFETY: called with our object.
    let inner = unsafe { inner(obj) };
    inner
        .memory
        .as_ref()
        .map_or(0, |m| m.bytes.len as Py_ssize_t)
}

unsafe extern "C" fn get_moved(obj: *mut PyObject, _closure: *mut c_void) -> *mut PyObject {
    // SAFETY: called with our object.
    let moved = unsafe { inner(obj) }.memory.is_none();
    // SAFETY: attached.
    unsafe { PyBool_FromLong(moved as _) }
}

unsafe extern "C" fn repr(obj: *mut PyObject) -> *mut PyObject {
    // SAFETY: called with our object.
    let text = match unsafe { inner(obj) }.memory.as_ref() {
        None => "<interpchan.Buffer moved>".to_owned(),
        Some(m) => format!(
            "<interpchan.Buffer {} bytes {}>",
            m.bytes.len,
            layout::describe(m.layout.layout())
        ),
    };
    // SAFETY: attached; `text` is valid UTF-8.
    unsafe { PyUnicode_FromStringAndSize(text.as_ptr().cast(), text.len() as Py_ssize_t) }
}

/// `__reduce__`: refused, except while a send pickles an item holding this Buffer (inside a
/// dataclass, say): it is then carried beside the pickle and moved as in a tuple, and pickles
/// as `_carried(i)`, which gives the receiver its memoryview.
unsafe extern "C" fn reduce(obj: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    // SAFETY: called by the interpreter on our live Buffer.
    let Some(index) = (unsafe { super::carry::buffer(obj) }) else {
        type_error("a Buffer cannot be pickled or copied: send it through a channel to move it");
        return ptr::null_mut();
    };
    // SAFETY: attached; the Buffer type (not subclassable) belongs to our module, which is
    // live while its objects are; each call returns a new reference or null.
    let reduced = unsafe {
        (|| -> PyResult<Owned> {
            let module = PyType_GetModule(Py_TYPE(obj));
            if module.is_null() {
                return Err(PyErrSet);
            }
            let carried = Owned::new(PyObject_GetAttrString(module, c"_carried".as_ptr()))?;
            let index = Owned::new(PyLong_FromSize_t(index))?;
            let args = Owned::new(PyTuple_Pack(1, index.as_ptr()))?;
            Owned::new(PyTuple_Pack(2, carried.as_ptr(), args.as_ptr()))
        })()
    };
    reduced.map_or(ptr::null_mut(), Owned::into_ptr)
}

static mut METHODS: [PyMethodDef; 3] = [
    method(
        c"share",
        super::shared_buffer::share,
        c"share($self, /)\n--\n\nMoves this Buffer's memory (as send does) into a new, \
immutable SharedBuffer, which any number of interpreters can receive with no copy. BufferError \
while a view of the Buffer is alive; ValueError if it was moved.",
    ),
    method_noargs(
        c"__reduce__",
        reduce,
        c"Refuses: a Buffer moves through channels, it is never pickled (inside an item being \
sent, it is carried beside the pickle and moved).",
    ),
    END_METHOD,
];

static mut GETSET: [PyGetSetDef; 2] = [
    getset(
        c"moved",
        get_moved,
        c"True once the Buffer was sent: it no longer owns any memory.",
    ),
    END_GETSET,
];

static mut SLOTS: [PyType_Slot; 10] = [
    slot(Py_tp_new, tp_new as *mut c_void),
    slot(Py_tp_dealloc, dealloc as *mut c_void),
    slot(Py_tp_repr, repr as *mut c_void),
    slot(Py_bf_getbuffer, getbuffer as *mut c_void),
    slot(Py_bf_releasebuffer, releasebuffer as *mut c_void),
    slot(Py_mp_length, length as *mut c_void),
    slot(Py_tp_methods, (&raw mut METHODS).cast()),
    slot(Py_tp_getset, (&raw mut GETSET).cast()),
    slot(
        Py_tp_doc,
        c"Buffer(nbytes, *, format='B', shape=None)\n--\n\nZero-filled, writable memory owned by \
Rust, with the buffer protocol. format is a struct format (its item size must not be zero) and \
shape a tuple of dimensions (C order) holding exactly nbytes bytes; by default one dimension of \
nbytes // itemsize items.\n\nSending a Buffer moves it: the receiver gets a memoryview over the \
same memory, with the same format and shape, with no copy, and this Buffer becomes empty \
(moved=True, len 0). Sending while a view of it is alive raises BufferError. share() turns it \
into a SharedBuffer that many interpreters can read."
            .as_ptr() as *mut c_void,
    ),
    END_SLOT,
];

pub static mut SPEC: PyType_Spec = PyType_Spec {
    name: c"interpchan.Buffer".as_ptr(),
    basicsize: std::mem::size_of::<BufferObject>() as c_int,
    itemsize: 0,
    flags: (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE) as _,
    slots: (&raw mut SLOTS).cast(),
};
