//! The process-wide registry: lets a reference (a pickled handle) find its channel end again.
//!
//! It holds only weak references, so it never keeps a channel open: a reference resolves while
//! the end it names still has a live handle (or a handle in flight), and never after.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

use super::channel::{ChannelInfo, RecvEnd, SendEnd};

/// A reference to one end of a channel, valid in any interpreter of this process.
///
/// ```
/// use interpchan::core::{channel, EndRef};
/// let (tx, _rx) = channel(None);
/// let r = EndRef::of_sender(&tx);
/// assert!(std::sync::Arc::ptr_eq(&r.sender().unwrap(), &tx));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndRef {
    /// Identifies this process: references from another process are told apart.
    pub process: u64,
    pub id: u64,
    /// The secret of the end it names (each end of a channel has its own).
    pub token: u128,
}

/// Why a reference did not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    /// The reference was made in another process.
    OtherProcess,
    /// No live end matches it: every handle is gone, or the token is wrong.
    Gone,
}

pub(crate) struct Entry {
    send_token: u128,
    recv_token: u128,
    send: Weak<SendEnd>,
    pub(crate) recv: Weak<RecvEnd>,
}

pub(crate) type Entries = HashMap<u64, Entry>;

struct Registry {
    /// This process's nonce; a forked child draws a new one.
    process: AtomicU64,
    next_id: AtomicU64,
    entries: Mutex<Entries>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    process: AtomicU64::new(random_u128() as u64),
    next_id: AtomicU64::new(1),
    entries: Mutex::new(HashMap::new()),
});

fn process() -> u64 {
    REGISTRY.process.load(Ordering::Relaxed)
}

/// Resets the registry in a forked child: a new process nonce (references made by the parent
/// are refused as another process's), and none of the parent's channels (their memory is left
/// as it is, never freed: the child never touches them).
pub(crate) fn reset_in_child(entries: &mut Entries) {
    std::mem::forget(std::mem::take(entries));
    REGISTRY
        .process
        .store(random_u128() as u64, Ordering::Relaxed);
}

pub(crate) fn entries() -> MutexGuard<'static, Entries> {
    // A panic while holding this lock cannot leave the map inconsistent (every update is one
    // insert or remove), so a poisoned lock is still safe to use.
    REGISTRY
        .entries
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn random_u128() -> u128 {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    u128::from_ne_bytes(bytes)
}

pub(crate) fn next_id() -> u64 {
    REGISTRY.next_id.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn new_token() -> u128 {
    random_u128()
}

pub(crate) fn insert(send: &Arc<SendEnd>, recv: &Arc<RecvEnd>) {
    let entry = Entry {
        send_token: send.info.send_token,
        recv_token: send.info.recv_token,
        send: Arc::downgrade(send),
        recv: Arc::downgrade(recv),
    };
    entries().insert(send.info.id, entry);
}

/// Called as an end is dropped: forgets the channel once neither end is alive.
pub(crate) fn end_dropped(id: u64) {
    let mut map = entries();
    // Both strong counts are read under the lock that every dropping end also takes after its
    // count reached zero, so the last of the two ends to drop always sees both at zero.
    if let Some(entry) = map.get(&id) {
        if entry.send.strong_count() == 0 && entry.recv.strong_count() == 0 {
            map.remove(&id);
        }
    }
}

/// Number of channels the registry knows of (for leak checks).
pub fn live_channels() -> usize {
    entries().len()
}

/// Either end of a channel, for [`EndRef::entry`].
trait HasInfo {
    fn channel(&self) -> &ChannelInfo;
}

impl HasInfo for SendEnd {
    fn channel(&self) -> &ChannelInfo {
        &self.info
    }
}

impl HasInfo for RecvEnd {
    fn channel(&self) -> &ChannelInfo {
        &self.info
    }
}

impl EndRef {
    pub(crate) fn new(id: u64, token: u128) -> Self {
        EndRef {
            process: process(),
            id,
            token,
        }
    }

    pub fn of_sender(end: &SendEnd) -> Self {
        Self::new(end.info.id, end.info.send_token)
    }

    pub fn of_receiver(end: &RecvEnd) -> Self {
        Self::new(end.info.id, end.info.recv_token)
    }

    /// The end `get` upgrades in the entry this reference names, if the entry exists, the
    /// reference's token is the one `token_of` picks from it, and the channel was not collected.
    ///
    /// The collected check comes after the registry lock is released: the end upgraded here can
    /// be the last reference to it (every other holder dropped theirs meanwhile), and dropping
    /// the last one runs the end's drop, which takes the registry lock (and the collector's
    /// index lock) itself.
    fn entry<E: HasInfo>(
        &self,
        token_of: impl FnOnce(&Entry) -> u128,
        get: impl FnOnce(&Entry) -> Option<Arc<E>>,
    ) -> Result<Arc<E>, LookupError> {
        if self.process != process() {
            return Err(LookupError::OtherProcess);
        }
        let found = match entries().get(&self.id) {
            Some(entry) if token_of(entry) == self.token => get(entry),
            _ => None,
        };
        // `found`, if not returned, is dropped here, with no lock held.
        found
            .filter(|end| !end.channel().collected())
            .ok_or(LookupError::Gone)
    }

    /// The sending end this reference names, if it is still alive.
    pub fn sender(&self) -> Result<Arc<SendEnd>, LookupError> {
        self.entry(|e| e.send_token, |e| e.send.upgrade())
    }

    /// The receiving end this reference names, if it is still alive.
    pub fn receiver(&self) -> Result<Arc<RecvEnd>, LookupError> {
        self.entry(|e| e.recv_token, |e| e.recv.upgrade())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::channel;

    #[test]
    fn reference_resolves_while_alive_only() {
        let (tx, rx) = channel(Some(1));
        let r = EndRef::of_receiver(&rx);
        assert!(Arc::ptr_eq(&r.receiver().unwrap(), &rx));
        drop(rx);
        assert_eq!(r.receiver().unwrap_err(), LookupError::Gone);
        assert!(EndRef::of_sender(&tx).sender().is_ok());
    }

    #[test]
    fn wrong_token_or_process_is_refused() {
        let (tx, _rx) = channel(None);
        let good = EndRef::of_sender(&tx);
        let bad_token = EndRef {
            token: good.token ^ 1,
            ..good
        };
        assert_eq!(bad_token.sender().unwrap_err(), LookupError::Gone);
        let other = EndRef {
            process: good.process ^ 1,
            ..good
        };
        assert_eq!(other.sender().unwrap_err(), LookupError::OtherProcess);
    }

    #[test]
    fn a_reference_to_one_end_does_not_reach_the_other() {
        let (tx, rx) = channel(None);
        let to_sender = EndRef::of_sender(&tx);
        let to_receiver = EndRef::of_receiver(&rx);
        assert_ne!(to_sender.token, to_receiver.token);
        assert_eq!(to_sender.receiver().unwrap_err(), LookupError::Gone);
        assert_eq!(to_receiver.sender().unwrap_err(), LookupError::Gone);
        assert!(Arc::ptr_eq(&to_receiver.receiver().unwrap(), &rx));
    }

    /// A lookup racing the last drop of a collected channel's end can upgrade the last
    /// reference; dropping it must not happen under the registry lock (the end's drop takes
    /// that lock: a deadlock, found as a hang).
    #[test]
    fn a_lookup_that_gets_the_last_reference_of_a_collected_end_does_not_deadlock() {
        use std::sync::mpsc;
        use std::time::Duration;
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..2000 {
                let (tx, rx) = channel(None);
                let (to_tx, to_rx) = (EndRef::of_sender(&tx), EndRef::of_receiver(&rx));
                rx.info.mark_collected();
                let id = tx.info.id;
                let lookups = std::thread::spawn(move || {
                    // Until both ends are gone (then the registry forgets the channel).
                    while entries().contains_key(&id) {
                        let _ = (to_rx.receiver(), to_tx.sender());
                    }
                });
                std::thread::yield_now();
                drop((tx, rx));
                lookups.join().unwrap();
            }
            done_tx.send(()).unwrap();
        });
        done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a lookup deadlocked dropping the end it upgraded");
    }

    #[test]
    fn registry_forgets_channels_whose_ends_are_gone() {
        let (tx, rx) = channel(None);
        let id = tx.info.id;
        drop(tx);
        assert!(entries().contains_key(&id));
        drop(rx);
        assert!(!entries().contains_key(&id));
    }
}
