//! Blocking waits: the GIL is released while waiting, and the main thread of the main
//! interpreter wakes up regularly to run signal handlers (so Ctrl-C interrupts a blocked call).

use std::cell::Cell;
use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3_ffi::*;

use crate::core::{Failure, SelectFailure};

use super::ffi::{allow_threads, Owned, PyErrSet, PyResult};

/// How often a wait in the main thread of the main interpreter returns to run signal handlers
/// (within 50 ms, so Ctrl-C works).
const SIGNAL_SLICE: Duration = Duration::from_millis(20);

/// Slices that ended with no event (wake-ups only for signal handlers), since the process
/// started; read by `_signal_slices()` so tests can see who slices.
pub static SIGNAL_SLICES: AtomicU64 = AtomicU64::new(0);

/// Calls inside [`wait_for`] right now (read by `_blocked_calls()`, for tests).
pub static BLOCKED_CALLS: AtomicUsize = AtomicUsize::new(0);

/// How long a call may wait for its event.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// Not at all (the `*_nowait` calls).
    Never,
    /// Until the deadline (`None`: for ever).
    Until(Option<Instant>),
}

/// Why a call stopped without completing.
#[derive(Debug)]
pub enum Stop<F> {
    /// The channel operation failed: closed, disconnected, full or empty, timed out.
    Failed(F),
    /// A signal handler raised (e.g. `KeyboardInterrupt`); the exception is set.
    Raised,
}

/// A core failure that may mean only that one attempt's wait ran out (`wait_for` then
/// retries until the real deadline).
pub trait Failing: Send {
    fn timed_out(&self) -> bool;
}

impl Failing for Failure {
    fn timed_out(&self) -> bool {
        *self == Failure::Timeout
    }
}

impl Failing for SelectFailure {
    fn timed_out(&self) -> bool {
        *self == SelectFailure::Timeout
    }
}

/// Retries `attempt` with the GIL released until it completes, fails, the deadline passes or
/// a signal handler raises. `attempt(state, until)` waits on the event itself until `until`;
/// it hands `state` (say, the item being sent) back with its failure, so it can be retried or
/// returned to its owner. In the main thread of the main interpreter, the only one where
/// CPython runs signal handlers, each attempt lasts at most `SIGNAL_SLICE` and handlers run
/// between attempts; everywhere else one attempt waits for the whole time, so idle waiters
/// cost nothing.
pub fn wait_for<S: Send, T: Send, F: Failing>(
    deadline: Option<Instant>,
    mut state: S,
    attempt: impl Fn(S, Option<Instant>) -> Result<T, (F, S)> + Sync,
) -> Result<T, (Stop<F>, S)> {
    let check_signals = runs_signal_handlers();
    BLOCKED_CALLS.fetch_add(1, Ordering::Relaxed);
    let _blocked = Blocked;
    loop {
        let slice_end = check_signals.then(|| Instant::now() + SIGNAL_SLICE);
        let until = match (deadline, slice_end) {
            (Some(d), Some(s)) => Some(d.min(s)),
            (d, s) => d.or(s),
        };
        match allow_threads(|| attempt(state, until)) {
            Ok(done) => return Ok(done),
            Err((why, back)) if why.timed_out() => {
                state = back;
                if slice_end.is_some_and(|s| until == Some(s)) {
                    SIGNAL_SLICES.fetch_add(1, Ordering::Relaxed);
                }
                match again(deadline, check_signals) {
                    Ok(true) => continue,
                    Ok(false) => return Err((Stop::Failed(why), state)),
                    Err(PyErrSet) => return Err((Stop::Raised, state)),
                }
            }
            Err((kind, back)) => return Err((Stop::Failed(kind), back)),
        }
    }
}

/// Counts a call out of [`BLOCKED_CALLS`] however it leaves.
struct Blocked;

impl Drop for Blocked {
    fn drop(&mut self) {
        BLOCKED_CALLS.fetch_sub(1, Ordering::Relaxed);
    }
}

thread_local! {
    /// Whether this OS thread is Python's main thread (found once per thread).
    static MAIN_THREAD: Cell<Option<bool>> = const { Cell::new(None) };
}

/// True in the main thread of the main interpreter, where CPython runs signal handlers (a
/// thread may run several interpreters in turn, so the interpreter is checked on every call).
pub fn runs_signal_handlers() -> bool {
    // SAFETY: attached (binding invariant), so there is a current interpreter.
    if unsafe { PyInterpreterState_GetID(PyInterpreterState_Get()) } != 0 {
        return false;
    }
    MAIN_THREAD.with(|cached| {
        cached.get().unwrap_or_else(|| {
            let main = is_main_thread();
            cached.set(Some(main));
            main
        })
    })
}

/// Asks Python whether this thread is its main thread: `_thread._get_main_thread_ident()`
/// (3.13+) or the ident `threading` recorded for its main thread (3.12), against
/// `_thread.get_ident()`. Only C functions and plain attribute reads run (no Python code, so
/// no signal handler), and nothing is imported. If it cannot be told, it is taken to be the
/// main thread, so that signal handlers still run. Any error set meanwhile is put back.
fn is_main_thread() -> bool {
    // SAFETY: attached, in the main interpreter; each call returns a new reference or null,
    // and the pending error, if any, is taken first and put back last.
    unsafe {
        let pending = PyErr_GetRaisedException();
        let attr = |obj: &Owned, name: &CStr| {
            Owned::new(PyObject_GetAttrString(obj.as_ptr(), name.as_ptr())).ok()
        };
        let call = |obj: &Owned, name: &CStr| {
            attr(obj, name).and_then(|f| Owned::new(PyObject_CallNoArgs(f.as_ptr())).ok())
        };
        let answer = (|| -> Option<bool> {
            let thread = imported(c"_thread")?;
            let main = match call(&thread, c"_get_main_thread_ident") {
                Some(ident) => ident,
                None => {
                    PyErr_Clear();
                    attr(&attr(&imported(c"threading")?, c"_main_thread")?, c"_ident")?
                }
            };
            let me = call(&thread, c"get_ident")?;
            match PyObject_RichCompareBool(main.as_ptr(), me.as_ptr(), Py_EQ) {
                -1 => None,
                equal => Some(equal == 1),
            }
        })();
        PyErr_Clear();
        PyErr_SetRaisedException(pending);
        answer.unwrap_or(true)
    }
}

/// The module `name` if it is imported already (nothing is imported).
///
/// # Safety
/// Attached.
unsafe fn imported(name: &CStr) -> Option<Owned> {
    // SAFETY: attached; each call returns a new reference or null (GetModule without setting
    // an error when the module is not there).
    unsafe {
        let name = Owned::new(PyUnicode_FromString(name.as_ptr())).ok()?;
        Owned::new(PyImport_GetModule(name.as_ptr())).ok()
    }
}

/// After an attempt timed out: `Ok(true)` to wait again, `Ok(false)` once the real deadline
/// has passed, `Err` if a signal handler raised.
fn again(deadline: Option<Instant>, check_signals: bool) -> PyResult<bool> {
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return Ok(false);
    }
    // SAFETY: attached (called between attempts, with the GIL held).
    if check_signals && unsafe { PyErr_CheckSignals() } != 0 {
        return Err(PyErrSet);
    }
    Ok(true)
}
