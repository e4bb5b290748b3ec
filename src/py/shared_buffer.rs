//! `interpchan.SharedBuffer`: immutable memory shared by every interpreter that receives it,
//! made by `Buffer.share()`, sent any number of times with no copy.

use std::ffi::{c_int, c_void};
use std::ptr;

use pyo3_ffi::*;

use crate::core::Shared;

use super::args::no_args;
use super::buffer;
use super::errors::{buffer_error, type_error};
use super::ffi::{Owned, PyErrSet, PyResult};
use super::layout;
use super::methods::{
    getset, method_noargs, ret, slot, with_type_state, END_GETSET, END_METHOD, END_SLOT,
};
use super::state::State;
use super::view::{Unfit, ViewLayout};

/// What one SharedBuffer object holds: one more holder of the shared memory, and the layout
/// as views want it. Written once when the object is made, never changed, dropped with it: so
/// no lock is needed, and nothing the object hands out can dangle while the object lives.
struct Holder {
    shared: Shared,
    layout: ViewLayout,
}

#[repr(C)]
pub struct SharedBufferObject {
    ob_base: PyObject,
    holder: Holder,
}

/// # Safety
/// `obj` is a live SharedBuffer object; the reference is used while it lives.
unsafe fn holder<'a>(obj: *mut PyObject) -> &'a Holder {
    // SAFETY: SharedBuffer objects are `SharedBufferObject`s filled by `Unfilled::fill`, and
    // the holder is never written again until `dealloc`.
    unsafe { &(*obj.cast::<SharedBufferObject>()).holder }
}

/// Object memory for a SharedBuffer, not yet holding anything: [`Unfilled::fill`] makes it an
/// object. Nothing else may be done with it (its `dealloc` would drop a holder never written).
struct Unfilled(*mut PyObject);

impl Unfilled {
    /// Allocates a SharedBuffer object of type `tp`.
    ///
    /// # Safety
    /// `tp` is this interpreter's SharedBuffer type.
    unsafe fn new(tp: *mut PyObject) -> PyResult<Unfilled> {
        let tp = tp.cast::<PyTypeObject>();
        // SAFETY: `tp` is a live heap type; its tp_alloc slot is always set.
        let obj = unsafe {
            let alloc: allocfunc = std::mem::transmute(PyType_GetSlot(tp, Py_tp_alloc));
            alloc(tp, 0)
        };
        if obj.is_null() {
            return Err(PyErrSet);
        }
        Ok(Unfilled(obj))
    }

    /// The object, holding `shared`. Cannot fail.
    fn fill(self, shared: Shared) -> Owned {
        let holder = Holder {
            layout: ViewLayout::new(shared.layout().clone()),
            shared,
        };
        // SAFETY: fresh, zeroed object memory of `SharedBufferObject` size that nothing else
        // has seen; the field is written once here and dropped in `dealloc`. The reference
        // tp_alloc returned becomes the Owned one.
        unsafe {
            ptr::addr_of_mut!((*self.0.cast::<SharedBufferObject>()).holder).write(holder);
            Owned::new(self.0).expect("allocated object is not null")
        }
    }
}

/// The shared memory of a SharedBuffer being sent: one more holder, no copy.
///
/// # Safety
/// `obj` is a live SharedBuffer object.
pub unsafe fn sendable(obj: *mut PyObject) -> Shared {
    // SAFETY: as the caller guarantees.
    unsafe { holder(obj) }.shared.clone()
}

/// Received shared memory as a read-only `memoryview` whose `.obj` is a new SharedBuffer of this
/// interpreter holding it.
///
/// # Safety
/// `state` is this interpreter's module state.
pub unsafe fn received_view(state: &State, shared: Shared) -> PyResult<Owned> {
    // SAFETY: the state's type is this interpreter's SharedBuffer type.
    let obj = unsafe { Unfilled::new(state.shared_buffer_type)? }.fill(shared);
    // SAFETY: `obj` is live; the view takes its own reference to it.
    unsafe { Owned::new(PyMemoryView_FromObject(obj.as_ptr())) }
}

/// `Buffer.share()`: moves the Buffer's memory (as `send` does) into a new SharedBuffer.
///
/// # Safety
/// Called by the interpreter: `obj` is a live Buffer, `defining_class` the Buffer type.
pub unsafe extern "C" fn share(
    obj: *mut PyObject,
    defining_class: *mut PyTypeObject,
    _args: *const *mut PyObject,
    nargs: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: the Buffer type is one of this module's types.
    unsafe {
        with_type_state(defining_class, |state| {
            no_args("share", nargs, kwnames)?;
            let data = buffer::take(obj)?;
            match Unfilled::new(state.shared_buffer_type) {
                Ok(unfilled) => Ok(unfilled.fill(Shared::new(data))),
                Err(err) => {
                    // No memory for the object: the Buffer gets its memory back, unchanged.
                    buffer::put_back(obj, data);
                    Err(err)
                }
            }
        })
    }
}

const READ_ONLY: &str = "a SharedBuffer is read-only: every interpreter that received it may \
be reading it; write to a Buffer before sharing it";

unsafe extern "C" fn getbuffer(obj: *mut PyObject, view: *mut Py_buffer, flags: c_int) -> c_int {
    if flags & PyBUF_WRITABLE == PyBUF_WRITABLE {
        buffer_error(READ_ONLY);
        return -1;
    }
    // SAFETY: the interpreter calls this with our object and a writable view.
    let (holder, v) = unsafe { (holder(obj), &mut *view) };
    let bytes = holder.shared.bytes();
    // Only ever read through (`readonly` is set and writable requests are refused above); the
    // bytes live as long as this object, which the view holds a reference to.
    let filled = holder
        .layout
        .fill(v, bytes.as_ptr().cast_mut(), bytes.len(), true, flags);
    match filled {
        Ok(()) => {
            // SAFETY: `obj` is live; the view owns this reference until PyBuffer_Release.
            v.obj = unsafe { Py_NewRef(obj) };
            0
        }
        Err(Unfit::NotFortran) => {
            buffer_error("SharedBuffer memory is C-contiguous, not Fortran-contiguous");
            -1
        }
    }
}

unsafe extern "C" fn dealloc(obj: *mut PyObject) {
    // SAFETY: called once by the interpreter when the last reference goes; views hold
    // references, so none is alive. We drop our Rust field (one holder less: the memory is
    // freed if it was the last), free the object with the type's tp_free and release the
    // reference instances of heap types hold on their type.
    unsafe {
        let tp = Py_TYPE(obj);
        ptr::drop_in_place(ptr::addr_of_mut!(
            (*obj.cast::<SharedBufferObject>()).holder
        ));
        let free: freefunc = std::mem::transmute(PyType_GetSlot(tp, Py_tp_free));
        free(obj.cast());
        Py_DECREF(tp.cast());
    }
}

unsafe extern "C" fn length(obj: *mut PyObject) -> Py_ssize_t {
    // SAFETY: called with our object.
    unsafe { holder(obj) }.shared.bytes().len() as Py_ssize_t
}

unsafe extern "C" fn get_format(obj: *mut PyObject, _closure: *mut c_void) -> *mut PyObject {
    // SAFETY: called with our object; attached.
    ret(unsafe { layout::format_str(holder(obj).layout.layout()) })
}

unsafe extern "C" fn get_shape(obj: *mut PyObject, _closure: *mut c_void) -> *mut PyObject {
    // SAFETY: called with our object; attached.
    ret(unsafe { layout::shape_tuple(holder(obj).layout.layout()) })
}

unsafe extern "C" fn repr(obj: *mut PyObject) -> *mut PyObject {
    // SAFETY: called with our object.
    let holder = unsafe { holder(obj) };
    let layout = holder.layout.layout();
    let text = format!(
        "<interpchan.SharedBuffer {} bytes {} read-only>",
        holder.shared.bytes().len(),
        layout::describe(layout),
    );
    // SAFETY: attached; `text` is valid UTF-8.
    unsafe { PyUnicode_FromStringAndSize(text.as_ptr().cast(), text.len() as Py_ssize_t) }
}

unsafe extern "C" fn reduce(_obj: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    type_error("a SharedBuffer cannot be pickled or copied: send it through a channel to share it");
    ptr::null_mut()
}

static mut METHODS: [PyMethodDef; 2] = [
    method_noargs(
        c"__reduce__",
        reduce,
        c"Refuses: a SharedBuffer is shared through channels, it is never pickled.",
    ),
    END_METHOD,
];

static mut GETSET: [PyGetSetDef; 3] = [
    getset(
        c"format",
        get_format,
        c"The struct format of the items, as memoryview.format.",
    ),
    getset(
        c"shape",
        get_shape,
        c"The shape (C order), as memoryview.shape.",
    ),
    END_GETSET,
];

static mut SLOTS: [PyType_Slot; 8] = [
    slot(Py_tp_dealloc, dealloc as *mut c_void),
    slot(Py_tp_repr, repr as *mut c_void),
    slot(Py_bf_getbuffer, getbuffer as *mut c_void),
    slot(Py_mp_length, length as *mut c_void),
    slot(Py_tp_methods, (&raw mut METHODS).cast()),
    slot(Py_tp_getset, (&raw mut GETSET).cast()),
    slot(
        Py_tp_doc,
        c"Immutable memory shared by every interpreter that receives it (made by \
Buffer.share()).\n\nSending a SharedBuffer never copies it and never consumes it: send it any \
number of times, to any number of interpreters. Each receiver gets a read-only memoryview with \
its format and shape, whose .obj is a SharedBuffer that can be forwarded the same way. The \
memory is freed when the last view or SharedBuffer in any interpreter is gone."
            .as_ptr() as *mut c_void,
    ),
    END_SLOT,
];

pub static mut SPEC: PyType_Spec = PyType_Spec {
    name: c"interpchan.SharedBuffer".as_ptr(),
    basicsize: std::mem::size_of::<SharedBufferObject>() as c_int,
    itemsize: 0,
    flags: (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION) as _,
    slots: (&raw mut SLOTS).cast(),
};
