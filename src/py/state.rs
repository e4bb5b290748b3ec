//! Per-interpreter module state: this interpreter's types, exception classes and interned names.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3_ffi::*;

use super::errors::raise;
use super::ffi::{Owned, PyResult};

/// Everything interpchan keeps per interpreter. Lives in the module object (`m_size`, zeroed
/// memory: every field starts null); every field is a strong reference, visited by `traverse`
/// and dropped by `clear`, each by name.
pub struct State {
    pub sender_type: *mut PyObject,
    pub receiver_type: *mut PyObject,
    pub buffer_type: *mut PyObject,
    pub shared_buffer_type: *mut PyObject,
    pub channel_error: *mut PyObject,
    pub channel_closed: *mut PyObject,
    pub empty: *mut PyObject,
    pub full: *mut PyObject,
    /// The module's `_restore` function, which `__reduce__` names.
    pub restore: *mut PyObject,
    /// Interned keyword names.
    pub kw_timeout: *mut PyObject,
    pub kw_capacity: *mut PyObject,
    pub kw_receivers: *mut PyObject,
    /// `pickle.dumps` / `pickle.loads`, imported on first use. Set once through a shared
    /// reference, possibly by several threads at once (see [`State::pickle`]); an `AtomicPtr`
    /// has the layout of a plain pointer.
    pub pickle_dumps: AtomicPtr<PyObject>,
    pub pickle_loads: AtomicPtr<PyObject>,
}

/// `[&mut *mut PyObject; N]`: the fields of `state` that hold references, each named once.
///
/// Nothing can be forgotten: the pattern lists the fields with no `..`, so a field of `State`
/// that is not named there is a compile error (adding a field and forgetting it here does not
/// build); and each field must be a [`Reference`], so a field of another kind cannot be handed
/// to the GC either.
macro_rules! references {
    ($state:expr, $($field:ident),+ $(,)?) => {{
        let State { $($field),+ } = $state;
        [$($field.slot()),+]
    }};
}

/// A state field holding one strong reference (or null), as a place for the GC to visit and for
/// `clear` to empty.
trait Reference {
    fn slot(&mut self) -> &mut *mut PyObject;
}

impl Reference for *mut PyObject {
    fn slot(&mut self) -> &mut *mut PyObject {
        self
    }
}

impl Reference for AtomicPtr<PyObject> {
    fn slot(&mut self) -> &mut *mut PyObject {
        self.get_mut()
    }
}

impl State {
    /// Every reference the state holds, each field named: what `traverse` visits and `clear`
    /// drops.
    fn references(&mut self) -> [&mut *mut PyObject; 14] {
        references!(
            self,
            sender_type,
            receiver_type,
            buffer_type,
            shared_buffer_type,
            channel_error,
            channel_closed,
            empty,
            full,
            restore,
            kw_timeout,
            kw_capacity,
            kw_receivers,
            pickle_dumps,
            pickle_loads,
        )
    }

    /// The state of the module that created `tp` (one of this module's types).
    ///
    /// # Safety
    /// `tp` is a live type made by `PyType_FromModuleAndSpec` from this module, and the
    /// returned reference is used only while that type lives.
    pub unsafe fn of_type<'a>(tp: *mut PyTypeObject) -> PyResult<&'a State> {
        // SAFETY: as the caller guarantees, `tp` has an associated module whose state is a `State`.
        let state = unsafe { PyType_GetModuleState(tp) }.cast::<State>();
        // SAFETY: non-null state memory of this module is a `State` (zeroed, then filled).
        unsafe { Self::checked(state) }
    }

    /// The state of `module`, this module.
    ///
    /// # Safety
    /// `module` is a live interpchan module object; the reference is used while it lives.
    pub unsafe fn of_module<'a>(module: *mut PyObject) -> PyResult<&'a State> {
        // SAFETY: interpchan modules have a `State` as their state.
        unsafe { Self::checked(PyModule_GetState(module).cast::<State>()) }
    }

    unsafe fn checked<'a>(state: *mut State) -> PyResult<&'a State> {
        // SAFETY: the caller passes null or a valid `State`.
        match unsafe { state.as_ref() } {
            Some(state) if !state.sender_type.is_null() => Ok(state),
            // SAFETY: a builtin exception class.
            _ => Err(unsafe {
                raise(
                    PyExc_RuntimeError,
                    "the interpchan module of this interpreter was torn down",
                )
            }),
        }
    }

    /// `pickle.dumps` and `pickle.loads` (borrowed from the state), importing pickle the first
    /// time. Threads that race here (the import may release the GIL, and a free-threaded build
    /// has none) each import, then one stores its functions and the others drop theirs.
    pub fn pickle(&self) -> PyResult<(*mut PyObject, *mut PyObject)> {
        let (dumps, loads) = (
            self.pickle_dumps.load(Ordering::Acquire),
            self.pickle_loads.load(Ordering::Acquire),
        );
        if !dumps.is_null() && !loads.is_null() {
            return Ok((dumps, loads));
        }
        // SAFETY: attached (binding invariant); each call returns a new reference or null.
        unsafe {
            let pickle = Owned::new(PyImport_ImportModule(c"pickle".as_ptr()))?;
            let dumps = Owned::new(PyObject_GetAttrString(pickle.as_ptr(), c"dumps".as_ptr()))?;
            let loads = Owned::new(PyObject_GetAttrString(pickle.as_ptr(), c"loads".as_ptr()))?;
            Ok((
                install(&self.pickle_dumps, dumps),
                install(&self.pickle_loads, loads),
            ))
        }
    }
}

/// Stores `obj` in the empty `slot`, whose reference it becomes, unless another thread filled
/// the slot first: then `obj` is dropped. Returns what the slot holds (borrowed from the state,
/// which releases it in `clear`).
fn install(slot: &AtomicPtr<PyObject>, obj: Owned) -> *mut PyObject {
    match slot.compare_exchange(
        ptr::null_mut(),
        obj.as_ptr(),
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => obj.into_ptr(),
        Err(installed) => installed,
    }
}

/// `m_traverse`: visits every reference the state holds.
pub unsafe extern "C" fn traverse(
    module: *mut PyObject,
    visit: visitproc,
    arg: *mut c_void,
) -> i32 {
    // SAFETY: called by the GC on our module; the state may be null before exec ran. The GC
    // runs with the GIL held, or with every other thread stopped on a free-threaded build, so
    // nobody updates the state meanwhile.
    let Some(state) = (unsafe { PyModule_GetState(module).cast::<State>().as_mut() }) else {
        return 0;
    };
    for obj in state.references() {
        let obj = *obj;
        if !obj.is_null() {
            // SAFETY: `obj` is a live reference held by the state.
            let rc = unsafe { visit(obj, arg) };
            if rc != 0 {
                return rc;
            }
        }
    }
    0
}

/// `m_clear`: drops every reference the state holds.
pub unsafe extern "C" fn clear(module: *mut PyObject) -> i32 {
    // SAFETY: called by the interpreter on our module (by the GC or at teardown, when no other
    // thread uses the state); the state may be null.
    if let Some(state) = unsafe { PyModule_GetState(module).cast::<State>().as_mut() } {
        for field in state.references() {
            // SAFETY: each field is null or a strong reference owned by the state.
            unsafe { Py_CLEAR(field) };
        }
    }
    0
}

/// `m_free`: same as clear.
pub unsafe extern "C" fn free(module: *mut c_void) {
    // SAFETY: `module` is our module object being freed.
    unsafe { clear(module.cast()) };
}
