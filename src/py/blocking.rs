//! Blocking waits: the GIL is released while waiting, and the main interpreter wakes up
//! regularly to run signal handlers (so Ctrl-C interrupts a blocked call).

use std::time::{Duration, Instant};

use pyo3_ffi::*;

use super::ffi::{PyErrSet, PyResult};

/// How often a wait in the main interpreter returns to run signal handlers (API: within 50 ms).
const SIGNAL_SLICE: Duration = Duration::from_millis(20);

/// Splits a wait with an overall deadline into slices, checking for signals between them.
/// Each slice waits on the event itself, so the slicing adds no latency to a wake-up.
pub struct Waiter {
    deadline: Option<Instant>,
    check_signals: bool,
}

impl Waiter {
    pub fn new(deadline: Option<Instant>) -> Waiter {
        // Signals are only ever handled by the main interpreter (in its main thread;
        // PyErr_CheckSignals is a cheap no-op in the others).
        // SAFETY: attached (binding invariant), so there is a current interpreter.
        let main = unsafe { PyInterpreterState_GetID(PyInterpreterState_Get()) } == 0;
        Waiter {
            deadline,
            check_signals: main,
        }
    }

    /// The deadline of the next slice.
    pub fn slice(&self) -> Option<Instant> {
        if !self.check_signals {
            return self.deadline;
        }
        let slice_end = Instant::now() + SIGNAL_SLICE;
        Some(self.deadline.map_or(slice_end, |d| d.min(slice_end)))
    }

    /// After a slice timed out: `Ok(true)` to wait again, `Ok(false)` once the real deadline
    /// has passed, `Err` if a signal handler raised (e.g. `KeyboardInterrupt`).
    pub fn again(&self) -> PyResult<bool> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
        // SAFETY: attached (called between slices, with the GIL held).
        if self.check_signals && unsafe { PyErr_CheckSignals() } != 0 {
            return Err(PyErrSet);
        }
        Ok(true)
    }
}
