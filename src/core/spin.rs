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

/// How long a blocked call polls without giving up its core between two yields, once a yield
/// has shown that no other thread wanted that core. A `sched_yield` costs about a microsecond
/// on a virtual machine, so a reply that comes within a few microseconds (a task run by a
/// worker interpreter, say) is seen at once instead of one system call late; when threads
/// queue for the core (more runnable threads than cores), yields take longer and the call
/// only yields, so that it never holds up the very thread it waits for.
pub const SPIN_BURST: Duration = Duration::from_micros(3);

/// A yield that returns sooner than this found no other thread waiting for the core.
const YIELD_ALONE: Duration = Duration::from_micros(3);

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
    let mut burst_until: Option<Instant> = None;
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
        } else if burst_until.is_some_and(|burst| Instant::now() < burst) {
            for _ in 0..64 {
                hint::spin_loop();
            }
        } else {
            let before = Instant::now();
            thread::yield_now();
            let after = Instant::now();
            burst_until = (after - before < YIELD_ALONE).then_some(after + SPIN_BURST);
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
