//! Blocking waits: the GIL is released while waiting, and the main thread of the main
//! interpreter wakes up regularly to run signal handlers (so Ctrl-C interrupts a blocked call).

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3_ffi::*;

use crate::core::Failure;

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
pub enum Stop {
    /// The channel operation failed: closed, disconnected, full or empty, timed out.
    Failed(Failure),
    /// A signal handler raised (e.g. `KeyboardInterrupt`); the exception is set.
    Raised,
}

/// Retries `attempt` with the GIL released until it completes, fails, the deadline passes or
/// a signal handler raises. `attempt(state, until)` waits on the event itself until `until`;
/// it hands `state` (say, the item being sent) back with its failure, so it can be retried or
/// returned to its owner. In the main thread of the main interpreter, the only one where
/// CPython runs signal handlers, each attempt lasts at most `SIGNAL_SLICE` and handlers run
/// between attempts; everywhere else one attempt waits for the whole time, so idle waiters
/// cost nothing.
pub fn wait_for<S: Send, T: Send>(
    deadline: Option<Instant>,
    mut state: S,
    attempt: impl Fn(S, Option<Instant>) -> Result<T, (Failure, S)> + Sync,
) -> Result<T, (Stop, S)> {
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
            Err((Failure::Timeout, back)) => {
                state = back;
                if slice_end.is_some_and(|s| until == Some(s)) {
                    SIGNAL_SLICES.fetch_add(1, Ordering::Relaxed);
                }
                match again(deadline, check_signals) {
                    Ok(true) => continue,
                    Ok(false) => return Err((Stop::Failed(Failure::Timeout), state)),
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
/// (3.13+) or `threading.main_thread().ident` (3.12), against `_thread.get_ident()`. If that
/// cannot be told, assumes it is, so that signal handlers still run.
fn is_main_thread() -> bool {
    // SAFETY: attached, in the main interpreter; each call returns a new reference or null.
    let answer = unsafe {
        (|| -> PyResult<bool> {
            let thread = Owned::new(PyImport_ImportModule(c"_thread".as_ptr()))?;
            let main =
                if PyObject_HasAttrString(thread.as_ptr(), c"_get_main_thread_ident".as_ptr()) != 0
                {
                    Owned::new(PyObject_CallMethod(
                        thread.as_ptr(),
                        c"_get_main_thread_ident".as_ptr(),
                        ptr::null(),
                    ))?
                } else {
                    let threading = Owned::new(PyImport_ImportModule(c"threading".as_ptr()))?;
                    let main = Owned::new(PyObject_CallMethod(
                        threading.as_ptr(),
                        c"main_thread".as_ptr(),
                        ptr::null(),
                    ))?;
                    Owned::new(PyObject_GetAttrString(main.as_ptr(), c"ident".as_ptr()))?
                };
            let me = Owned::new(PyObject_CallMethod(
                thread.as_ptr(),
                c"get_ident".as_ptr(),
                ptr::null(),
            ))?;
            match PyObject_RichCompareBool(main.as_ptr(), me.as_ptr(), Py_EQ) {
                -1 => Err(PyErrSet),
                equal => Ok(equal == 1),
            }
        })()
    };
    answer.unwrap_or_else(|PyErrSet| {
        // SAFETY: attached; the lookup's error is dropped (we fall back to slicing).
        unsafe { PyErr_Clear() };
        true
    })
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
