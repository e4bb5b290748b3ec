//! The one mapping from a channel operation that failed in the core to the exception it raises.

use pyo3_ffi::*;

use crate::core::{Failure, LookupError, SelectFailure};

use super::blocking::Stop;
use super::errors::raise;
use super::ffi::PyErrSet;
use super::state::State;

/// A channel operation that stopped without completing, and why.
#[derive(Debug)]
pub enum Failed {
    Send(Stop<Failure>),
    Recv(Stop<Failure>),
    Select(Stop<SelectFailure>),
    /// Unpickling a handle: the reference does not resolve to a live end.
    Restore(LookupError),
}

/// Raises the exception `failed` stands for: `ChannelClosed`, `Full`, `Empty` or `TimeoutError`
/// (or nothing more, if a signal handler already raised while waiting).
///
/// # Safety
/// `state` is this interpreter's module state.
pub unsafe fn raise_failure(state: &State, failed: Failed) -> PyErrSet {
    let closed = state.channel_closed;
    // SAFETY: attached (binding invariant); reading the builtin exception class.
    let timeout = unsafe { PyExc_TimeoutError };
    let (exc, msg) = match failed {
        Failed::Send(Stop::Raised) | Failed::Recv(Stop::Raised) | Failed::Select(Stop::Raised) => {
            return PyErrSet
        }
        Failed::Send(Stop::Failed(why)) => match why {
            Failure::Closed => (closed, "send on a closed Sender"),
            Failure::Disconnected => (
                closed,
                "no Receiver of this channel remains; the item was not sent",
            ),
            Failure::WouldBlock => (state.full, "the channel is full"),
            Failure::Timeout => (timeout, "send timed out: the channel stayed full"),
        },
        Failed::Recv(Stop::Failed(why)) => match why {
            Failure::Closed => (closed, "recv on a closed Receiver"),
            Failure::Disconnected => (
                closed,
                "the channel is closed: every Sender is gone and no item is left",
            ),
            Failure::WouldBlock => (state.empty, "the channel is empty"),
            Failure::Timeout => (timeout, "recv timed out: no item arrived"),
        },
        Failed::Select(Stop::Failed(why)) => match why {
            SelectFailure::AllClosed => (
                closed,
                "every receiver given to select() is closed, or drained with no Sender left",
            ),
            // select() has no non-blocking form: finding nothing ready only ends it once its
            // deadline has passed.
            SelectFailure::Timeout | SelectFailure::WouldBlock => {
                (timeout, "select timed out: no item arrived")
            }
        },
        Failed::Restore(LookupError::OtherProcess) => (
            closed,
            "this pickled channel handle was made in another process: handles are only valid \
             within the process that created the channel",
        ),
        Failed::Restore(LookupError::Gone) => (
            closed,
            "the channel end this pickled handle refers to is gone: every handle to it was \
             closed or dropped before it was unpickled",
        ),
    };
    // SAFETY: the state's exception classes and the builtin one are live.
    unsafe { raise(exc, msg) }
}
