//! Spinning before parking: a blocked call first polls for a short while, because waking a
//! parked thread costs tens of microseconds while the other side usually answers in one or two.

use std::hint;
use std::thread;
use std::time::{Duration, Instant};

/// How long a blocking call polls before it parks its thread.
///
/// Long enough to cover a round trip through another interpreter running on another core
/// (about 1 µs), short enough that an idle receiver costs next to nothing before it sleeps.
pub const SPIN_FOR: Duration = Duration::from_micros(50);

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
pub fn spin<T>(deadline: Option<Instant>, mut poll: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    let until = deadline.map_or(start + SPIN_FOR, |d| d.min(start + SPIN_FOR));
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
    fn stops_polling_once_done() {
        let mut polls = 0;
        let got = spin(None, || {
            polls += 1;
            (polls == 5).then_some("done")
        });
        assert_eq!((got, polls), (Some("done"), 5));
    }
}
