//! fork(): a child process inherits the parent's channels, which it must never use or free.
//!
//! After `fork()` only the forking thread exists in the child, but everything else the parent's
//! threads were doing is frozen in its memory: a crossbeam channel's internal lock may be held
//! forever, and items sent to an inherited channel would land in the child's private copy,
//! never reaching the parent. So the child treats every inherited handle as closed: handles
//! remember the fork generation they were made in, and one from an older generation refuses
//! every operation (`Failure::Closed`) without touching the channel, and is leaked, never
//! dropped, when it goes. The child also gets a new process nonce (references pickled by the
//! parent are refused) and an empty registry and collector index. Channels made in the child
//! work as usual.
//!
//! The binding calls [`before_fork`], [`after_fork_in_parent`] and [`after_fork_in_child`] from
//! `pthread_atfork` handlers: the collector's, the index's and the registry's locks are held
//! across `fork()`, so the child never inherits them locked by a thread that no longer exists.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::MutexGuard;

use super::collect::{self, Index};
use super::registry::{self, Entries};

static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The locks `before_fork` took, until the fork is over (the same thread runs all three).
    #[allow(clippy::type_complexity)]
    static HELD: RefCell<Option<(
        MutexGuard<'static, ()>,
        MutexGuard<'static, Index>,
        MutexGuard<'static, Entries>,
    )>> = const { RefCell::new(None) };
}

/// How many forks this process's line has gone through: 0 in the original process.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Takes the locks a child must not inherit held (in the collector's lock order).
pub fn before_fork() {
    let running = collect::running();
    let index = collect::index();
    let entries = registry::entries();
    HELD.with(|held| *held.borrow_mut() = Some((running, index, entries)));
}

/// Releases what [`before_fork`] took.
pub fn after_fork_in_parent() {
    let taken = HELD.with(|held| held.borrow_mut().take());
    drop(taken);
}

/// In the child: a new generation (every inherited handle is now closed), a new process nonce,
/// an empty registry and index; then releases the locks.
pub fn after_fork_in_child() {
    let taken = HELD.with(|held| held.borrow_mut().take());
    if let Some((_running, mut index, mut entries)) = taken {
        collect::reset_in_child(&mut index);
        registry::reset_in_child(&mut entries);
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{channel, Failure, Handle, Item};

    /// What a child sees, without forking (other tests run in this process's threads, so the
    /// generation itself stays): handles of another generation are closed and leaked.
    #[test]
    fn handles_from_an_older_generation_are_closed() {
        let (tx, rx) = channel(Some(1));
        Handle::new(tx.clone()).try_send(Item::Int(1)).unwrap();
        let (mut tx, mut rx) = (
            Handle::of_generation(tx, generation() + 1),
            Handle::of_generation(rx, generation() + 1),
        );
        assert_eq!(tx.try_send(Item::Int(2)).unwrap_err().kind, Failure::Closed);
        assert_eq!(rx.try_recv().unwrap_err(), Failure::Closed);
        assert_eq!(rx.recv_until(None).unwrap_err(), Failure::Closed);
        assert!(tx.is_closed() && rx.is_closed() && rx.waiting() == 0);
        assert!(!rx.close());
        // A child leaks them when they go; here (no real fork) they are adopted back and freed.
        tx.adopt();
        rx.adopt();
        drop((tx, rx));
        let (tx, rx) = channel(None);
        let (tx, rx) = (Handle::new(tx), Handle::new(rx));
        tx.try_send(Item::Int(3)).unwrap();
        assert!(matches!(rx.try_recv(), Ok(Item::Int(3))));
    }
}
