//! Spinning before parking: a blocked call first polls for a short while, because waking a
//! parked thread costs tens of microseconds while the other side usually answers in one or two.
//! A channel whose receives have lately waited long spins only briefly ([`WaitHistory`]).

use std::hint;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long a blocking call polls before it parks its thread.
///
/// Long enough to cover a round trip through another interpreter running on another core
/// (about 1 µs), short enough that an idle receiver costs next to nothing before it sleeps.
pub const SPIN_FOR: Duration = Duration::from_micros(50);

/// How long a receive on a channel whose receives have lately waited long polls: enough for an
/// item already on its way, no more.
pub const BRIEF_SPIN: Duration = Duration::from_micros(2);

/// Receives whose recent waits average more than this spin only [`BRIEF_SPIN`]: the other
/// side takes longer than a spin covers (a task that computes, an idle producer), so spinning
/// would only take CPU from the threads doing the work.
const LONG_WAIT_US: u32 = 200;

/// Longest wait a [`WaitHistory`] counts (longer ones count as this long), so that a channel
/// that was idle for a while spins again after a few quick answers.
const COUNTED_WAIT_US: u32 = 1000;

/// A moving average of how long one channel's blocking receives waited, which decides how long
/// the next one spins before parking (every receiver of the channel shares it; updates from
/// several threads at once may lose one sample, which only delays the average).
///
/// ```
/// use std::time::Duration;
/// use interpchan::core::spin::{WaitHistory, BRIEF_SPIN, SPIN_FOR};
/// let waits = WaitHistory::default();
/// assert_eq!(waits.spin_for(), SPIN_FOR);
/// for _ in 0..4 {
///     waits.record(Duration::from_millis(5)); // a producer that takes its time
/// }
/// assert_eq!(waits.spin_for(), BRIEF_SPIN);
/// for _ in 0..8 {
///     waits.record(Duration::from_micros(3)); // quick answers again
/// }
/// assert_eq!(waits.spin_for(), SPIN_FOR);
/// ```
#[derive(Debug, Default)]
pub struct WaitHistory {
    average_us: AtomicU32,
}

impl WaitHistory {
    /// How long the next blocking receive polls before it parks.
    pub fn spin_for(&self) -> Duration {
        if self.average_us.load(Ordering::Relaxed) <= LONG_WAIT_US {
            SPIN_FOR
        } else {
            BRIEF_SPIN
        }
    }

    /// Counts one receive that waited `waited` (an eighth of the average is the new sample).
    pub fn record(&self, waited: Duration) {
        let sample =
            u32::try_from(waited.as_micros()).map_or(COUNTED_WAIT_US, |us| us.min(COUNTED_WAIT_US));
        let old = self.average_us.load(Ordering::Relaxed);
        self.average_us
            .store(old - old / 8 + sample / 8, Ordering::Relaxed);
    }
}

/// Polls `poll` until it returns `Some`, for at most [`SPIN_FOR`] (and never past `deadline`).
/// Between polls it first spins on the CPU, then yields its core to any other runnable thread,
/// so spinning never starves the thread it is waiting for on a busy machine.
///
/// ```
/// use interpchan::core::spin::spin;
/// let mut polls = 0;
/// assert_eq!(spin(None, || { polls += 1; (polls == 3).then_some(polls) }), Some(3));
/// assert_eq!(spin(None, || None::<()>), None);
/// ```
pub fn spin<T>(deadline: Option<Instant>, poll: impl FnMut() -> Option<T>) -> Option<T> {
    spin_within(SPIN_FOR, deadline, poll)
}

/// [`spin`] for at most `limit` instead of [`SPIN_FOR`].
pub fn spin_within<T>(
    limit: Duration,
    deadline: Option<Instant>,
    mut poll: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    let until = deadline.map_or(start + limit, |d| d.min(start + limit));
    let mut round: u32 = 0;
    loop {
        if let Some(done) = poll() {
            return Some(done);
        }
        if Instant::now() >= until {
            return None;
        }
        if round < 6 {
            for _ in 0..(1u32 << round) {
                hint::spin_loop();
            }
            round += 1;
        } else {
            thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_up_at_a_past_deadline_after_one_poll() {
        let mut polls = 0;
        let got = spin(Some(Instant::now()), || {
            polls += 1;
            None::<()>
        });
        assert_eq!((got, polls), (None, 1));
    }

    #[test]
    fn a_channel_that_waited_long_once_in_a_while_still_spins() {
        let waits = WaitHistory::default();
        for _ in 0..20 {
            waits.record(Duration::from_micros(4));
        }
        waits.record(Duration::from_secs(3)); // counted as COUNTED_WAIT_US
        assert_eq!(waits.spin_for(), SPIN_FOR);
        waits.record(Duration::from_secs(3));
        assert_eq!(waits.spin_for(), BRIEF_SPIN);
    }

    #[test]
    fn stops_polling_once_done() {
        let mut polls = 0;
        let got = spin(None, || {
            polls += 1;
            (polls == 5).then_some("done")
        });
        assert_eq!((got, polls), (Some("done"), 5));
    }
}
