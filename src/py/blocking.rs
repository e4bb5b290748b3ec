//! Blocking waits: the GIL is released while waiting, and the main interpreter wakes up
//! regularly to run signal handlers (so Ctrl-C interrupts a blocked call).

use std::time::{Duration, Instant};

use pyo3_ffi::*;

use crate::core::{Failure, SelectFailure};

use super::ffi::{allow_threads, PyErrSet, PyResult};

/// How often a wait in the main interpreter returns to run signal handlers, so that Ctrl-C
/// interrupts a blocked call promptly.
const SIGNAL_SLICE: Duration = Duration::from_millis(20);

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
/// returned to its owner. In the main interpreter each attempt lasts at most `SIGNAL_SLICE`,
/// and signal handlers run between attempts; elsewhere one attempt waits for the whole time.
pub fn wait_for<S: Send, T: Send, F: Failing>(
    deadline: Option<Instant>,
    mut state: S,
    attempt: impl Fn(S, Option<Instant>) -> Result<T, (F, S)> + Sync,
) -> Result<T, (Stop<F>, S)> {
    // Signals are only ever handled by the main interpreter (in its main thread;
    // PyErr_CheckSignals is a cheap no-op in its other threads).
    // SAFETY: attached (binding invariant), so there is a current interpreter.
    let check_signals = unsafe { PyInterpreterState_GetID(PyInterpreterState_Get()) } == 0;
    loop {
        let until = if check_signals {
            let slice_end = Instant::now() + SIGNAL_SLICE;
            Some(deadline.map_or(slice_end, |d| d.min(slice_end)))
        } else {
            deadline
        };
        match allow_threads(|| attempt(state, until)) {
            Ok(done) => return Ok(done),
            Err((why, back)) if why.timed_out() => {
                state = back;
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
