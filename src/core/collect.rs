//! The cycle collector: frees channels that only items queued in unreachable channels hold.
//!
//! `tx.send(rx)` puts a channel's own Receiver in its queue; once every handle is gone, nothing
//! can ever receive from it, yet the item keeps the channel alive (reference counting alone never
//! frees a cycle). The same holds for two channels holding each other's Receivers, and for any
//! set of channels reachable only through each other's queues.
//!
//! crossbeam's queues cannot be looked into, so each channel keeps an index of the Receivers
//! inside its queued items (a multiset of channel ids), updated together with the queue: a
//! parcel holding Receivers is counted before it becomes visible in the queue, and uncounted by
//! its receiver while that receiver still holds the channel's Receiver, or when the parcel is
//! dropped, whichever path it took ([`Parcel`](super::parcel::Parcel)): the index counts exactly
//! the references that existing parcels hold. Items that hold no Receiver (nearly all) never
//! touch the index.
//!
//! A collection, under the index lock and the registry lock (so no parcel is counted or
//! uncounted, and no reference resolves, meanwhile):
//! - roots: Receivers with more strong references than index entries (held by a handle, an item
//!   being sent or received, a call in progress); a live Receiver in no index is a root too;
//! - marks every Receiver reachable from a root through the indices of the channels it receives
//!   from;
//! - the rest that are still alive are garbage: only items queued in garbage hold them. They are
//!   flagged (a pickled reference no longer resolves to them), their queues are drained outside
//!   the locks and the items dropped (without recursion, [`super::drop_later`]), which frees them.
//!
//! Counting a parcel before it is queued is safe: until it is, its sender holds it, and it can
//! only land in that channel or come back to the sender, who gets no handle back; so if that
//! channel is garbage, so is everything the parcel holds. A receiver uncounts only while it
//! still holds the channel's Receiver, which keeps that channel a root meanwhile.
//!
//! Collections run by themselves, amortised: once more parcels holding Receivers have been
//! queued since the last one than `max(1000, 2 × the index entries that survived it)`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, TryLockError};

use super::channel::{ChannelInfo, RecvEnd};
use super::item::Item;
use super::parcel::EndIn;
use super::registry;

/// Parcels holding Receivers queued between collections, at the least.
const MIN_PERIOD: usize = 1000;

/// What the collector knows about queued items.
#[derive(Default)]
pub(crate) struct Index {
    /// Per channel (by id): how many times each channel's Receiver (by id) sits in its queue.
    held: HashMap<u64, HashMap<u64, usize>>,
    /// Parcels holding Receivers queued since the last collection.
    since: usize,
    /// Index entries left after the last collection.
    survivors: usize,
}

static INDEX: LazyLock<Mutex<Index>> = LazyLock::new(Mutex::default);

/// One collection at a time.
static RUNNING: Mutex<()> = Mutex::new(());

pub(crate) fn running() -> MutexGuard<'static, ()> {
    RUNNING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn index() -> MutexGuard<'static, Index> {
    // Every update is a few map operations that leave the map consistent at each step.
    INDEX
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn receivers_in(item: &Item) -> Vec<u64> {
    let mut ids = Vec::new();
    item.visit_ends(&mut |end| {
        if let EndIn::Receiver(id) = end {
            ids.push(id);
        }
    });
    ids
}

/// Counts the Receivers in `item`, about to be queued in `channel`. True when a collection is
/// due (run it once the item is queued and no lock is held).
pub(crate) fn queued(channel: &ChannelInfo, item: &Item) -> bool {
    let ids = receivers_in(item);
    channel.mark_indexed();
    let mut index = index();
    let held = index.held.entry(channel.id).or_default();
    for id in ids {
        *held.entry(id).or_default() += 1;
    }
    index.since += 1;
    index.since > MIN_PERIOD.max(2 * index.survivors)
}

/// Uncounts the Receivers in `item`, taken out of `channel` (or never queued after all).
pub(crate) fn unqueued(channel: u64, item: &Item) {
    let ids = receivers_in(item);
    let mut index = index();
    let Some(held) = index.held.get_mut(&channel) else {
        return; // the channel's Receiver is gone and its entry with it
    };
    for id in ids {
        if let Some(count) = held.get_mut(&id) {
            *count -= 1;
            if *count == 0 {
                held.remove(&id);
            }
        }
    }
    if held.is_empty() {
        index.held.remove(&channel);
    }
}

/// Forgets a channel whose Receiver is gone: what its queue holds is being dropped.
pub(crate) fn forget(channel: u64) {
    index().held.remove(&channel);
}

/// Resets the collector in a forked child: the inherited index describes the parent's channels,
/// which the child never touches (its memory is left as it is, never freed).
pub(crate) fn reset_in_child(index: &mut Index) {
    std::mem::forget(std::mem::take(index));
}

/// Runs a collection now (after the one running, if any); returns how many channels it found
/// unreachable and freed.
///
/// ```
/// use interpchan::core::{channel, collect::collect, registry::live_channels, Handle, Item};
/// let (tx, rx) = channel(None);
/// let id = tx.info.id;
/// Handle::new(tx).try_send(Item::Receiver(rx)).unwrap(); // the channel holds its own Receiver
/// assert_eq!(collect(), 1); // ...and nothing else does: freed
/// ```
pub fn collect() -> usize {
    let _one = running();
    run()
}

/// Runs a collection unless one is running (the automatic trigger: that one does the work).
pub(crate) fn collect_unless_running() {
    let _one = match RUNNING.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return,
    };
    run();
}

fn run() -> usize {
    let garbage = find_garbage();
    for end in &garbage {
        drain(end);
    }
    let found = garbage.len();
    drop(garbage); // with their queues empty, the last references go: each channel is freed
    found
}

/// Marks from the roots and returns the unreachable Receivers that are still alive, flagged.
fn find_garbage() -> Vec<Arc<RecvEnd>> {
    let mut index = index();
    let entries = registry::entries();
    let strong = |id: &u64| entries.get(id).map_or(0, |entry| entry.recv.strong_count());
    // Channels whose Receiver is gone: their queues are being dropped, their counts mean nothing.
    index.held.retain(|id, _| strong(id) > 0);
    let mut inside: HashMap<u64, usize> = HashMap::new();
    for held in index.held.values() {
        for (id, count) in held {
            *inside.entry(*id).or_default() += count;
        }
    }
    let mut marked: HashSet<u64> = HashSet::new();
    let mut work: Vec<u64> = Vec::new();
    for id in index.held.keys().chain(inside.keys()) {
        if strong(id) > inside.get(id).copied().unwrap_or(0) && marked.insert(*id) {
            work.push(*id);
        }
    }
    while let Some(id) = work.pop() {
        if let Some(held) = index.held.get(&id) {
            for inner in held.keys() {
                if marked.insert(*inner) {
                    work.push(*inner);
                }
            }
        }
    }
    let garbage: Vec<Arc<RecvEnd>> = inside
        .keys()
        .filter(|id| !marked.contains(id))
        .filter_map(|id| entries.get(id)?.recv.upgrade())
        .collect();
    for end in &garbage {
        end.info.mark_collected();
    }
    let doomed: HashSet<u64> = garbage.iter().map(|end| end.info.id).collect();
    index.survivors = index
        .held
        .iter()
        .filter(|(id, _)| !doomed.contains(id))
        .map(|(_, held)| held.values().sum::<usize>())
        .sum();
    index.since = 0;
    garbage
}

/// Drops what a garbage channel's queue holds now (bounded by that count, so a sender that keeps
/// sending cannot keep the collector busy; later items go with the channel or the next run).
/// (A rendezvous channel has nothing queued, `len` is 0: a receive there would complete a
/// blocked send, which must fail instead, as it does once the channel's Receiver is freed.)
fn drain(end: &Arc<RecvEnd>) {
    for _ in 0..end.len() {
        match end.rx.try_recv() {
            Ok(parcel) => drop(parcel), // uncounted as it goes
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{channel, Handle};

    fn alive(id: u64) -> bool {
        registry::entries()
            .get(&id)
            .is_some_and(|entry| entry.recv.strong_count() > 0)
    }

    #[test]
    fn a_channel_holding_its_own_receiver_is_freed() {
        let (tx, rx) = channel(None);
        let id = tx.info.id;
        Handle::new(tx).try_send(Item::Receiver(rx)).unwrap();
        assert!(alive(id));
        collect();
        assert!(!alive(id));
    }

    #[test]
    fn two_channels_holding_each_others_receivers_are_freed() {
        let (tx_a, rx_a) = channel(Some(4));
        let (tx_b, rx_b) = channel(None);
        let (id_a, id_b) = (tx_a.info.id, tx_b.info.id);
        Handle::new(tx_a).try_send(Item::Receiver(rx_b)).unwrap();
        Handle::new(tx_b)
            .try_send(Item::List(vec![Item::Receiver(rx_a)].into()))
            .unwrap();
        collect();
        assert!(!alive(id_a) && !alive(id_b));
    }

    #[test]
    fn a_send_blocked_on_a_garbage_rendezvous_channel_fails() {
        let (tx, rx) = channel(Some(0));
        let id = tx.info.id;
        let tx = Arc::new(Handle::new(tx));
        let (holder_tx, holder_rx) = channel(None);
        Handle::new(holder_tx).try_send(Item::Receiver(rx)).unwrap();
        let (cycle_tx, cycle_rx) = (tx.clone(), holder_rx);
        // The rendezvous channel's Receiver sits in `holder`, whose Receiver is sent, blocking,
        // into the rendezvous channel: nothing outside holds either Receiver.
        let blocked =
            std::thread::spawn(move || cycle_tx.send_until(Item::Receiver(cycle_rx), None));
        // Until the thread has announced its parcel, `holder`'s Receiver is a root (its stack
        // holds it uncounted) and nothing is collected.
        while alive(id) {
            collect();
            std::thread::yield_now();
        }
        let failure = blocked.join().unwrap().unwrap_err();
        assert_eq!(failure.kind, crate::core::Failure::Disconnected);
    }

    #[test]
    fn a_parcel_is_counted_exactly_while_it_exists() {
        let (tx, rx) = channel(None);
        let (_x_tx, x_rx) = channel(None);
        let x = x_rx.info.id;
        let counted = || index().held.get(&rx.info.id)?.get(&x).copied();
        Handle::new(tx).try_send(Item::Receiver(x_rx)).unwrap();
        assert_eq!(counted(), Some(1));
        // Taken off the queue without unpacking (as a slot holding it for later might): still
        // counted while it exists, uncounted when it goes.
        let parcel = rx.rx.try_recv().unwrap();
        assert_eq!(counted(), Some(1));
        drop(parcel);
        assert_eq!(counted(), None);
    }

    #[test]
    fn a_reachable_chain_is_kept_in_order() {
        let (tx, rx) = channel(None);
        let (tx, rx) = (Handle::new(tx), Handle::new(rx));
        let (inner_tx, inner_rx) = channel(None);
        let inner_tx = Handle::new(inner_tx);
        for i in 0..3 {
            inner_tx.try_send(Item::Int(i)).unwrap();
        }
        tx.try_send(Item::Receiver(inner_rx)).unwrap();
        collect();
        let Ok(Item::Receiver(inner)) = rx.try_recv() else {
            panic!("the Receiver was collected")
        };
        let inner = Handle::new(inner);
        for i in 0..3 {
            assert!(matches!(inner.try_recv(), Ok(Item::Int(v)) if v == i));
        }
    }
}
