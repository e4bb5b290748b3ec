//! The few RAII helpers that every binding function uses: owned references, GIL release, buffer views.
//!
//! Invariant of the whole binding: every function runs on a thread attached to a Python
//! interpreter (it holds that interpreter's GIL), except the closure given to [`allow_threads`],
//! which is `Send` and so cannot capture any Python reference.

use std::ffi::c_int;
use std::marker::PhantomData;
use std::ptr::NonNull;

use pyo3_ffi::*;

/// A Python exception is set on this thread; the caller must return the error indicator.
#[derive(Debug)]
pub struct PyErrSet;

pub type PyResult<T> = Result<T, PyErrSet>;

/// A strong reference, released on drop. Not `Send`: it never leaves its interpreter's thread.
pub struct Owned {
    ptr: NonNull<PyObject>,
    _not_send: PhantomData<*mut PyObject>,
}

impl Owned {
    /// Takes over a new reference; null means the call that produced it raised.
    ///
    /// # Safety
    /// `ptr` is null or a strong reference the caller owns.
    pub unsafe fn new(ptr: *mut PyObject) -> PyResult<Owned> {
        NonNull::new(ptr)
            .map(|ptr| Owned {
                ptr,
                _not_send: PhantomData,
            })
            .ok_or(PyErrSet)
    }

    /// Takes a new reference to a borrowed object.
    ///
    /// # Safety
    /// `ptr` is a live object.
    pub unsafe fn borrowed(ptr: *mut PyObject) -> Owned {
        // SAFETY: the caller guarantees `ptr` is live, and we are attached (module invariant).
        unsafe { Py_INCREF(ptr) };
        Owned {
            // SAFETY: a live object is never null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _not_send: PhantomData,
        }
    }

    pub fn as_ptr(&self) -> *mut PyObject {
        self.ptr.as_ptr()
    }

    /// Hands the reference to the caller (e.g. to return it to Python).
    pub fn into_ptr(self) -> *mut PyObject {
        let ptr = self.ptr.as_ptr();
        std::mem::forget(self);
        ptr
    }
}

impl Clone for Owned {
    fn clone(&self) -> Owned {
        // SAFETY: `self` keeps the object alive.
        unsafe { Owned::borrowed(self.as_ptr()) }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: we own one strong reference, and `Owned` is not `Send`, so this runs on the
        // attached thread that created it.
        unsafe { Py_DECREF(self.ptr.as_ptr()) }
    }
}

/// Runs `f` with this interpreter's GIL released, re-attaching before returning (even if `f`
/// panics). `f` must be `Send`, which keeps every Python reference (`Owned`, raw pointers) out.
pub fn allow_threads<T, F: FnOnce() -> T + Send>(f: F) -> T {
    struct Reattach(*mut PyThreadState);
    impl Drop for Reattach {
        fn drop(&mut self) {
            // SAFETY: `self.0` is the thread state `PyEval_SaveThread` returned on this thread.
            unsafe { PyEval_RestoreThread(self.0) }
        }
    }
    // SAFETY: we are attached (module invariant); the guard restores the same thread state.
    let _reattach = Reattach(unsafe { PyEval_SaveThread() });
    f()
}

/// Runs `f` holding `obj`'s per-object lock on a free-threaded build (a critical section, as
/// CPython's own list and dict code does), so that no other thread mutates `obj` meanwhile. On
/// builds with a GIL this just runs `f`: the GIL already keeps other threads out, as long as
/// `f` runs no Python code (which could release it). `f` must run no Python code in any case:
/// a critical section is suspended whenever its thread detaches.
///
/// # Safety
/// `obj` is a live object.
#[cfg_attr(not(Py_GIL_DISABLED), allow(unused_variables))]
pub unsafe fn critical_section<T>(obj: *mut PyObject, f: impl FnOnce() -> T) -> T {
    #[cfg(Py_GIL_DISABLED)]
    {
        struct End(*mut PyCriticalSection);
        impl Drop for End {
            fn drop(&mut self) {
                // SAFETY: `self.0` is the critical section begun below, on this thread, and it
                // has not moved (it lives in that stack frame until after this guard).
                unsafe { PyCriticalSection_End(self.0) }
            }
        }
        let mut section = std::mem::MaybeUninit::<PyCriticalSection>::uninit();
        // SAFETY: attached (binding invariant); `obj` is live; `section` is writable memory that
        // stays in place until `PyCriticalSection_End` (the guard drops before it).
        unsafe { PyCriticalSection_Begin(section.as_mut_ptr(), obj) };
        let _end = End(section.as_mut_ptr());
        f()
    }
    #[cfg(not(Py_GIL_DISABLED))]
    f()
}

/// A buffer exported by some object, released on drop.
pub struct BufferView {
    view: Box<Py_buffer>,
    _not_send: PhantomData<*mut PyObject>,
}

impl BufferView {
    /// Asks `obj` for a buffer with `flags` (`PyBUF_*`).
    ///
    /// # Safety
    /// `obj` is a live object.
    pub unsafe fn get(obj: *mut PyObject, flags: c_int) -> PyResult<BufferView> {
        let mut view = Box::new(Py_buffer::new());
        // SAFETY: `obj` is live and `view` is a writable Py_buffer that outlives the export
        // (released in Drop, never moved out of its box).
        if unsafe { PyObject_GetBuffer(obj, &mut *view, flags) } != 0 {
            return Err(PyErrSet);
        }
        Ok(BufferView {
            view,
            _not_send: PhantomData,
        })
    }

    pub fn raw(&self) -> &Py_buffer {
        &self.view
    }

    pub fn len(&self) -> usize {
        self.view.len as usize
    }

    /// The shape: `[]` for a 0-dimensional export, `[len / itemsize]` when the exporter gave no
    /// shape.
    pub fn shape(&self) -> Vec<usize> {
        let v = &*self.view;
        if v.ndim == 0 {
            return Vec::new();
        }
        if v.shape.is_null() {
            let items = if v.itemsize > 0 {
                v.len / v.itemsize
            } else {
                v.len
            };
            return vec![items as usize];
        }
        // SAFETY: a non-null shape points at `ndim` lengths, valid while the export lasts.
        let shape = unsafe { std::slice::from_raw_parts(v.shape, v.ndim as usize) };
        shape.iter().map(|&d| d as usize).collect()
    }

    pub fn is_c_contiguous(&self) -> bool {
        // SAFETY: the view is a live export.
        unsafe { PyBuffer_IsContiguous(&*self.view, b'C' as _) != 0 }
    }

    /// Copies the exported bytes into `dst` in C order. `dst.len()` must equal `self.len()`.
    pub fn copy_to(&self, dst: &mut [u8]) -> PyResult<()> {
        assert_eq!(dst.len(), self.len());
        if dst.is_empty() {
            return Ok(());
        }
        if self.is_c_contiguous() {
            // SAFETY: a C-contiguous export has `len` readable bytes at `buf`; `dst` is a
            // distinct Rust allocation of the same length.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.view.buf as *const u8,
                    dst.as_mut_ptr(),
                    dst.len(),
                )
            };
            return Ok(());
        }
        // SAFETY: the view is a live export and `dst` has room for exactly `len` bytes.
        let rc = unsafe {
            PyBuffer_ToContiguous(
                dst.as_mut_ptr().cast(),
                &*self.view,
                self.view.len,
                b'C' as _,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(PyErrSet)
        }
    }
}

impl Drop for BufferView {
    fn drop(&mut self) {
        // SAFETY: the view holds a successful export that has not been released yet.
        unsafe { PyBuffer_Release(&mut *self.view) }
    }
}
