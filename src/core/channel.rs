//! Channel ends: the process-wide halves of one crossbeam channel, shared by every handle to them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel as cb;

use super::collect;
use super::item::Item;
use super::notify::WaitList;
use super::parcel::Parcel;
use super::registry;

/// What both ends of a channel know about it.
#[derive(Debug)]
pub struct ChannelInfo {
    /// Process-unique id, as shown in `repr()` and used by references.
    pub id: u64,
    /// Unguessable secret that a reference must carry to reach the sending end.
    pub send_token: u128,
    /// Unguessable secret that a reference must carry to reach the receiving end (a different
    /// one: a reference to one end gives no way to the other).
    pub recv_token: u128,
    /// `None` for unbounded; `Some(0)` for a rendezvous channel.
    pub capacity: Option<usize>,
    senders_gone: AtomicBool,
    receivers_gone: AtomicBool,
    /// Attempts to queue an item in progress on a bounded channel ([`SendEnd::try_push`]).
    pushing: AtomicUsize,
    /// Some queued item held a Receiver: the cycle collector's index may have an entry for it.
    indexed: AtomicBool,
    /// The cycle collector found this channel unreachable: references no longer resolve to it.
    collected: AtomicBool,
    /// Event loops waiting for an item (or for the channel to close).
    pub receive_waiters: WaitList,
    /// Event loops waiting for room (or for the channel to close).
    pub send_waiters: WaitList,
}

impl ChannelInfo {
    /// True once no sending end remains anywhere (no handle, no handle in flight).
    pub fn senders_gone(&self) -> bool {
        self.senders_gone.load(Ordering::Acquire)
    }

    /// True once no receiving end remains anywhere.
    pub fn receivers_gone(&self) -> bool {
        self.receivers_gone.load(Ordering::Acquire)
    }

    /// A bounded channel with slots (not unbounded, not rendezvous): the drop of its last
    /// receiving end empties the queue itself, so sends go through [`SendEnd::try_push`].
    pub(crate) fn empties_on_close(&self) -> bool {
        self.capacity.is_some_and(|cap| cap > 0)
    }

    /// True once the cycle collector found this channel unreachable.
    pub fn collected(&self) -> bool {
        self.collected.load(Ordering::Acquire)
    }

    pub(crate) fn mark_collected(&self) {
        self.collected.store(true, Ordering::Release);
    }

    pub(crate) fn mark_indexed(&self) {
        if !self.indexed.load(Ordering::Relaxed) {
            self.indexed.store(true, Ordering::Relaxed);
        }
    }

    /// The key under which event loops learn that receiving may now succeed (or fail for good).
    pub fn receive_key(&self) -> u64 {
        self.id << 1
    }

    /// The key under which event loops learn that sending may now succeed (or fail for good).
    pub fn send_key(&self) -> u64 {
        (self.id << 1) | 1
    }

    /// Tells awaiting receivers that an item arrived or the channel closed.
    #[inline]
    pub fn wake_receivers(&self) {
        self.receive_waiters.wake(self.receive_key());
    }

    /// Tells awaiting senders that room was made or the channel closed.
    #[inline]
    pub fn wake_senders(&self) {
        self.send_waiters.wake(self.send_key());
    }
}

/// The sending end: alive while any Sender handle, or any Sender item in flight, holds it.
#[derive(Debug)]
pub struct SendEnd {
    pub(crate) tx: cb::Sender<Parcel>,
    pub info: Arc<ChannelInfo>,
}

/// The receiving end: alive while any Receiver handle, or any Receiver item in flight, holds it.
#[derive(Debug)]
pub struct RecvEnd {
    pub(crate) rx: cb::Receiver<Parcel>,
    pub info: Arc<ChannelInfo>,
    /// Items given back by a receive that could not finish (see [`RecvEnd::give_back`]),
    /// front first: every receive takes from here before the channel itself.
    returned: Mutex<VecDeque<Parcel>>,
    /// `returned.len()`, readable without the lock (the receive fast path reads only this).
    returned_len: AtomicUsize,
    /// A token here wakes one receiver blocked on this end when an item is given back.
    pub(crate) returned_signal: (cb::Sender<()>, cb::Receiver<()>),
}

impl SendEnd {
    /// Items waiting in the channel now.
    pub(crate) fn len(&self) -> usize {
        self.tx.len()
    }

    /// One attempt to queue `parcel`, never blocking. On a bounded channel it is refused as
    /// disconnected once the last receiving end has begun to go (its drop empties the queue,
    /// which frees slots: an item queued there could never be received, yet its send would
    /// have succeeded).
    ///
    /// The handshake with [`RecvEnd`]'s drop: an attempt counts itself in `pushing` and then
    /// reads `receivers_gone`; the drop sets `receivers_gone` and then waits until `pushing`
    /// is 0 before it empties the queue. All four accesses are `SeqCst`, so at least one side
    /// sees the other's write: an attempt either sees the end going (and queues nothing) or
    /// ends before the queue is emptied (and its item is dropped with the others, as if it had
    /// been queued just before the close).
    pub(crate) fn try_push(&self, parcel: Parcel) -> Result<(), cb::TrySendError<Parcel>> {
        let info = &self.info;
        if !info.empties_on_close() {
            return self.tx.try_send(parcel);
        }
        info.pushing.fetch_add(1, Ordering::SeqCst);
        let pushed = if info.receivers_gone.load(Ordering::SeqCst) {
            Err(cb::TrySendError::Disconnected(parcel))
        } else {
            self.tx.try_send(parcel)
        };
        info.pushing.fetch_sub(1, Ordering::SeqCst);
        pushed
    }
}

impl RecvEnd {
    fn new(rx: cb::Receiver<Parcel>, info: Arc<ChannelInfo>) -> RecvEnd {
        RecvEnd {
            rx,
            info,
            returned: Mutex::new(VecDeque::new()),
            returned_len: AtomicUsize::new(0),
            returned_signal: cb::bounded(1),
        }
    }

    /// Items waiting in the channel now (given back ones included).
    pub(crate) fn len(&self) -> usize {
        self.rx.len() + self.returned_len.load(Ordering::Acquire)
    }

    fn returned(&self) -> std::sync::MutexGuard<'_, VecDeque<Parcel>> {
        // Every update is one push or pop, so a poisoned lock still guards a consistent queue.
        self.returned.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts an item that was taken off this channel back at its front, for the next receive
    /// (on any handle of this end) to take before anything else; wakes one blocked receiver.
    /// For a receive that could not finish (the binding: a signal handler raised while the
    /// item was rebuilt), so that the item is not lost and the sender's order still holds.
    ///
    /// ```
    /// use interpchan::core::{channel, Handle, Item};
    /// let (tx, rx) = channel(None);
    /// let (tx, rx) = (Handle::new(tx), Handle::new(rx));
    /// tx.try_send(Item::Int(1)).unwrap();
    /// tx.try_send(Item::Int(2)).unwrap();
    /// let first = rx.try_recv().unwrap();
    /// rx.end().unwrap().give_back(first);
    /// assert!(matches!(rx.try_recv(), Ok(Item::Int(1))));
    /// assert!(matches!(rx.try_recv(), Ok(Item::Int(2))));
    /// ```
    pub fn give_back(&self, item: Item) {
        // A parcel, as in the queue: counted in the cycle collector's index while it waits
        // here, and dropped without recursion if it never leaves.
        let mut parcel = Parcel::new(item);
        let due = parcel.count_in(&self.info);
        let mut returned = self.returned();
        returned.push_front(parcel);
        self.returned_len.store(returned.len(), Ordering::Release);
        drop(returned);
        let _ = self.returned_signal.0.try_send(());
        self.info.wake_receivers();
        if due {
            collect::collect_unless_running();
        }
    }

    /// The first given-back item, if any. If more remain, passes the wake-up on to another
    /// blocked receiver.
    pub(crate) fn take_returned(&self) -> Option<Item> {
        if self.returned_len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut returned = self.returned();
        let parcel = returned.pop_front();
        self.returned_len.store(returned.len(), Ordering::Release);
        if !returned.is_empty() {
            let _ = self.returned_signal.0.try_send(());
        }
        drop(returned);
        let item = parcel.map(Parcel::unpack);
        if item.is_some() {
            self.taken();
        }
        item
    }

    /// After an item was taken: awaiting senders may now have room; and if that was the last
    /// item of a channel whose senders are gone, awaiting receivers learn it is closed (the
    /// wake-up of the disconnection may have found items left and woken too few of them).
    #[inline]
    pub(crate) fn taken(&self) {
        self.info.wake_senders();
        if self.info.senders_gone() && self.len() == 0 {
            self.info.wake_receivers();
        }
    }
}

impl Drop for SendEnd {
    fn drop(&mut self) {
        self.info.senders_gone.store(true, Ordering::Release);
        self.info.wake_receivers();
        registry::end_dropped(self.info.id);
    }
}

impl Drop for RecvEnd {
    fn drop(&mut self) {
        // SeqCst: the handshake with sends in progress (SendEnd::try_push).
        self.info.receivers_gone.store(true, Ordering::SeqCst);
        self.info.wake_senders();
        // The items still queued can never be received: drop them now, with what they hold
        // (Buffers, handles on other channels). crossbeam does so itself for unbounded
        // channels, but for bounded ones only once every sender is gone too. Not for
        // rendezvous channels, which queue nothing (a receive would complete a blocked send).
        // First wait for the attempts to queue that began before `receivers_gone` was set
        // (each is one non-blocking try): every later one is refused, so no send can succeed
        // by taking a slot that emptying frees. Bounded by the count queued then.
        // Items holding other channels' ends are dropped without recursion (`Parcel`'s drop).
        if self.info.empties_on_close() {
            while self.info.pushing.load(Ordering::SeqCst) != 0 {
                std::thread::yield_now();
            }
            for _ in 0..self.rx.len() {
                if self.rx.try_recv().is_err() {
                    break;
                }
            }
        }
        if self.info.indexed.load(Ordering::Relaxed) {
            collect::forget(self.info.id);
        }
        registry::end_dropped(self.info.id);
    }
}

/// Makes a channel (unbounded for `None`) and registers it so that references can reach it.
///
/// ```
/// use interpchan::core::channel;
/// let (tx, rx) = channel(None);
/// assert_eq!(tx.info.id, rx.info.id);
/// drop(tx);
/// assert!(rx.info.senders_gone());
/// ```
pub fn channel(capacity: Option<usize>) -> (Arc<SendEnd>, Arc<RecvEnd>) {
    try_channel(capacity).expect("out of memory for a bounded channel's slots")
}

/// The memory a bounded channel's queue could not get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory;

/// Like [`channel`], but a bounded channel whose slots cannot be allocated is an error rather
/// than an abort. crossbeam allocates all `capacity` slots at once and aborts the process if it
/// cannot; so the same amount is first asked for with a fallible allocation (and given back).
/// Another thread could take that memory between the two, so this is a strong guard, not a
/// guarantee: the residual window is documented.
///
/// ```
/// use interpchan::core::channel::try_channel;
/// assert!(try_channel(Some(usize::MAX / 64)).is_err());
/// assert!(try_channel(Some(8)).is_ok());
/// ```
pub fn try_channel(capacity: Option<usize>) -> Result<(Arc<SendEnd>, Arc<RecvEnd>), OutOfMemory> {
    if let Some(cap) = capacity {
        // A crossbeam slot is a stamp (a usize) next to the message: the layout of this pair.
        let mut probe: Vec<(usize, Parcel)> = Vec::new();
        probe.try_reserve_exact(cap).map_err(|_| OutOfMemory)?;
    }
    let (tx, rx) = match capacity {
        None => cb::unbounded(),
        Some(cap) => cb::bounded(cap),
    };
    let info = Arc::new(ChannelInfo {
        id: registry::next_id(),
        send_token: registry::new_token(),
        recv_token: registry::new_token(),
        capacity,
        senders_gone: AtomicBool::new(false),
        receivers_gone: AtomicBool::new(false),
        pushing: AtomicUsize::new(0),
        indexed: AtomicBool::new(false),
        collected: AtomicBool::new(false),
        receive_waiters: WaitList::default(),
        send_waiters: WaitList::default(),
    });
    let send = Arc::new(SendEnd {
        tx,
        info: info.clone(),
    });
    let recv = Arc::new(RecvEnd::new(rx, info));
    registry::insert(&send, &recv);
    Ok((send, recv))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Item;

    #[test]
    fn given_back_items_come_first_and_count_in_len() {
        let (tx, rx) = channel(Some(2));
        tx.tx.try_send(Item::Int(2).into()).unwrap();
        rx.give_back(Item::Int(1));
        assert_eq!(rx.len(), 2);
        assert!(matches!(rx.take_returned(), Some(Item::Int(1))));
        assert!(rx.take_returned().is_none());
        assert_eq!(rx.len(), 1);
    }

    #[test]
    fn queued_items_go_with_the_last_receiver() {
        for cap in [None, Some(2)] {
            let (tx, rx) = channel(cap);
            let (other_tx, other_rx) = channel(None);
            tx.tx.try_send(Item::Sender(other_tx).into()).unwrap();
            drop(rx);
            assert_eq!(tx.len(), 0, "capacity {cap:?}");
            assert!(other_rx.info.senders_gone(), "capacity {cap:?}");
        }
    }

    /// A send waiting for room on a full channel fails when the last receiving end goes: the
    /// room that dropping the queued items frees never takes its item (that item could not be
    /// received, yet the send would have succeeded). The drop lands at varied points of the
    /// send: before it starts, while it polls and once it is parked.
    #[test]
    fn a_waiting_send_fails_when_the_last_receiver_goes() {
        use crate::core::{Failure, Handle};
        use std::sync::Barrier;
        for round in 0..300u32 {
            let (tx, rx) = channel(Some(1));
            let tx = Handle::new(tx);
            tx.try_send(Item::Int(0)).unwrap();
            let start = Arc::new(Barrier::new(2));
            let sender = {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    tx.send_until(Item::Int(1), None)
                })
            };
            start.wait();
            for _ in 0..(round % 30) * (round % 7) * 50 {
                std::hint::spin_loop();
            }
            drop(rx);
            let failed = sender.join().unwrap().expect_err("the send succeeded");
            assert_eq!(failed.kind, Failure::Disconnected, "round {round}");
            assert!(matches!(failed.item, Item::Int(1)), "round {round}");
        }
    }
}
