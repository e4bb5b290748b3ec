//! Handles: one holder's view of a channel end, closable on its own; closing wakes its blocked calls.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crossbeam_channel as cb;

use super::channel::{ChannelInfo, RecvEnd, SendEnd};
use super::collect;
use super::fork;
use super::item::Item;
use super::parcel::Parcel;
use super::spin::spin;

/// Why an operation on a handle did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// This handle was closed.
    Closed,
    /// The other side of the channel is gone (and, for receiving, nothing is left to take).
    Disconnected,
    /// A non-blocking call found the channel full (send) or empty (recv).
    WouldBlock,
    /// The deadline passed first.
    Timeout,
}

/// A failed send: why, and the item, handed back untouched.
#[derive(Debug)]
pub struct SendFailure {
    pub kind: Failure,
    pub item: Item,
}

/// A failed receive.
pub type RecvFailure = Failure;

/// Never sent: a handle's close signal is its sender being dropped.
enum Never {}

struct Open<E> {
    end: Arc<E>,
    _close: cb::Sender<Never>,
}

/// The ends a handle can hold.
pub trait End {
    fn info(&self) -> &Arc<ChannelInfo>;
    /// Items waiting in the channel now.
    fn waiting(&self) -> usize;
}

impl End for SendEnd {
    fn info(&self) -> &Arc<ChannelInfo> {
        &self.info
    }
    fn waiting(&self) -> usize {
        self.len()
    }
}

impl End for RecvEnd {
    fn info(&self) -> &Arc<ChannelInfo> {
        &self.info
    }
    fn waiting(&self) -> usize {
        self.len()
    }
}

/// One handle on a channel end. Closing it releases its share of the end at once (so the other
/// side sees the channel close once every handle is gone) and wakes every call blocked on it.
///
/// ```
/// use interpchan::core::{channel, Failure, Handle};
/// let (tx, rx) = channel(None);
/// let (tx, rx) = (Handle::new(tx), Handle::new(rx));
/// assert!(tx.close());
/// assert_eq!(rx.try_recv().unwrap_err(), Failure::Disconnected);
/// ```
pub struct Handle<E> {
    info: Arc<ChannelInfo>,
    open: Mutex<Option<Open<E>>>,
    closed_signal: cb::Receiver<Never>,
    /// The fork generation it was made in ([`fork`]): in a forked child, inherited handles are
    /// closed and never touch their channel again.
    generation: u64,
}

impl<E: End> Handle<E> {
    pub fn new(end: Arc<E>) -> Self {
        Self::of_generation(end, fork::generation())
    }

    pub(crate) fn of_generation(end: Arc<E>, generation: u64) -> Self {
        let (close, closed_signal) = cb::bounded(0);
        Handle {
            info: end.info().clone(),
            open: Mutex::new(Some(Open { end, _close: close })),
            closed_signal,
            generation,
        }
    }

    /// Makes a handle of another generation this one's again, so that it drops normally (tests
    /// simulate a fork without leaking).
    #[cfg(test)]
    pub(crate) fn adopt(&mut self) {
        self.generation = fork::generation();
    }

    /// This handle's state, or `None` if it was inherited through `fork()` (then it counts as
    /// closed, and its lock, which a thread of the parent may have held, is never taken).
    fn lock(&self) -> Option<MutexGuard<'_, Option<Open<E>>>> {
        if self.generation != fork::generation() {
            return None;
        }
        // Every update of this state is a single assignment, so it is consistent even if a
        // panic poisoned the lock.
        Some(self.open.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn info(&self) -> &Arc<ChannelInfo> {
        &self.info
    }

    /// The end this handle holds, unless it is closed.
    pub fn end(&self) -> Option<Arc<E>> {
        self.lock()?.as_ref().map(|open| open.end.clone())
    }

    pub fn is_open(&self) -> bool {
        self.lock().is_some_and(|open| open.is_some())
    }

    /// Closes this handle; true if it was open. Blocked calls on it return `Failure::Closed`.
    pub fn close(&self) -> bool {
        let open = self.lock().and_then(|mut open| open.take());
        if open.is_some() {
            // Awaiting calls on this handle learn of the close through the channel's wait
            // lists (not for a handle inherited through fork(), which touches nothing shared).
            self.info.wake_receivers();
            self.info.wake_senders();
        }
        open.is_some()
    }

    /// Items waiting in the channel now (0 once this handle is closed): what `len()` of a
    /// Python handle says. Named `waiting`, not `len`, as a handle is no collection.
    pub fn waiting(&self) -> usize {
        self.lock()
            .and_then(|open| open.as_ref().map(|open| open.end.waiting()))
            .unwrap_or(0)
    }

    /// Whether a blocking call polls for a while before parking ([`spin`]): not on rendezvous
    /// channels, where a hand-over needs one side parked and waiting.
    pub(crate) fn spins(&self) -> bool {
        self.info.capacity != Some(0)
    }
}

impl Handle<SendEnd> {
    /// Closed: this handle is closed or no receiving end remains.
    pub fn is_closed(&self) -> bool {
        !self.is_open() || self.info.receivers_gone()
    }

    /// Sends without blocking.
    pub fn try_send(&self, item: Item) -> Result<(), SendFailure> {
        let guard = self.lock();
        let Some(open) = guard.as_ref().and_then(|open| open.as_ref()) else {
            return Err(SendFailure {
                kind: Failure::Closed,
                item,
            });
        };
        let mut parcel = Parcel::new(item);
        let due = parcel.count_in(&open.end.info);
        let (kind, parcel) = match open.end.try_push(parcel) {
            Ok(()) => {
                drop(guard);
                self.info.wake_receivers();
                if due {
                    collect::collect_unless_running();
                }
                return Ok(());
            }
            // The last receiving end is being dropped (its wake-up is sent before crossbeam sees
            // the disconnection): full for good.
            Err(cb::TrySendError::Full(parcel)) if self.info.receivers_gone() => {
                (Failure::Disconnected, parcel)
            }
            Err(cb::TrySendError::Full(parcel)) => (Failure::WouldBlock, parcel),
            Err(cb::TrySendError::Disconnected(parcel)) => (Failure::Disconnected, parcel),
        };
        Err(SendFailure {
            kind,
            item: parcel.unpack(),
        })
    }

    /// Sends, blocking until there is room, the deadline passes (`None`: never) or the handle
    /// is closed. It polls for up to [`SPIN_FOR`](super::spin::SPIN_FOR) before parking.
    pub fn send_until(&self, item: Item, deadline: Option<Instant>) -> Result<(), SendFailure> {
        let Some(end) = self.end() else {
            return Err(SendFailure {
                kind: Failure::Closed,
                item,
            });
        };
        let mut parcel = Parcel::new(item);
        let due = parcel.count_in(&end.info);
        match self.offer_until(&end, parcel, deadline) {
            Ok(()) => {
                drop(end);
                if due {
                    collect::collect_unless_running();
                }
                Ok(())
            }
            Err((kind, parcel)) => Err(SendFailure {
                kind,
                item: parcel.unpack(),
            }),
        }
    }

    /// The queueing part of [`send_until`](Self::send_until): gives the parcel back on failure.
    fn offer_until(
        &self,
        end: &Arc<SendEnd>,
        parcel: Parcel,
        deadline: Option<Instant>,
    ) -> Result<(), (Failure, Parcel)> {
        let mut waiting = Some(parcel);
        let polled = self.spins().then(|| {
            spin(deadline, || {
                let parcel = waiting.take()?;
                match end.try_push(parcel) {
                    Ok(()) => {
                        self.info.wake_receivers();
                        Some(Ok(()))
                    }
                    Err(cb::TrySendError::Full(parcel)) => {
                        waiting = Some(parcel);
                        None
                    }
                    Err(cb::TrySendError::Disconnected(parcel)) => {
                        Some(Err((Failure::Disconnected, parcel)))
                    }
                }
            })
        });
        let parcel = match (polled.flatten(), waiting) {
            (Some(done), _) => return done,
            (None, Some(parcel)) => parcel,
            (None, None) => unreachable!("spin gives the item back whenever it keeps polling"),
        };
        if end.info.empties_on_close() {
            return self.park_then_push(end, parcel, deadline);
        }
        let mut sel = cb::Select::new();
        let send_op = sel.send(&end.tx);
        sel.recv(&self.closed_signal);
        let oper = match deadline {
            None => sel.select(),
            Some(deadline) => match sel.select_deadline(deadline) {
                Ok(oper) => oper,
                Err(_) => return Err((Failure::Timeout, parcel)),
            },
        };
        if oper.index() == send_op {
            oper.send(&end.tx, parcel)
                .map(|()| self.info.wake_receivers())
                .map_err(|err| (Failure::Disconnected, err.into_inner()))
        } else {
            let _ = oper.recv(&self.closed_signal);
            Err((Failure::Closed, parcel))
        }
    }

    /// The parked part of [`offer_until`](Self::offer_until) on a bounded channel with slots:
    /// waits until the channel has room (or this handle is closed, or the deadline passes),
    /// then tries [`SendEnd::try_push`], and waits again if another sender took the room
    /// first. It only waits for readiness, never commits to a send while parked: the room
    /// that the drop of the last receiving end frees must not take an item
    /// (see [`SendEnd::try_push`]).
    fn park_then_push(
        &self,
        end: &Arc<SendEnd>,
        mut parcel: Parcel,
        deadline: Option<Instant>,
    ) -> Result<(), (Failure, Parcel)> {
        loop {
            let mut sel = cb::Select::new();
            let send_op = sel.send(&end.tx);
            sel.recv(&self.closed_signal);
            let ready = match deadline {
                None => sel.ready(),
                Some(deadline) => match sel.ready_deadline(deadline) {
                    Ok(index) => index,
                    Err(_) => return Err((Failure::Timeout, parcel)),
                },
            };
            if ready != send_op {
                return Err((Failure::Closed, parcel));
            }
            match end.try_push(parcel) {
                Ok(()) => {
                    self.info.wake_receivers();
                    return Ok(());
                }
                Err(cb::TrySendError::Full(back)) => parcel = back,
                Err(cb::TrySendError::Disconnected(back)) => {
                    return Err((Failure::Disconnected, back))
                }
            }
        }
    }
}

impl Handle<RecvEnd> {
    /// Closed: this handle is closed, or no sending end remains (as a closed Go channel, it
    /// may still hold items, which receives deliver before they raise).
    pub fn is_closed(&self) -> bool {
        !self.is_open() || self.info.senders_gone()
    }

    /// The receiving end, even once this handle is closed, while any holder keeps it alive
    /// (to give an item back to, say).
    pub fn channel_end(&self) -> Option<Arc<RecvEnd>> {
        self.end().or_else(|| {
            super::registry::EndRef::new(self.info.id, self.info.recv_token)
                .receiver()
                .ok()
        })
    }

    /// Receives without blocking.
    pub fn try_recv(&self) -> Result<Item, RecvFailure> {
        let guard = self.lock();
        let open = guard
            .as_ref()
            .and_then(|open| open.as_ref())
            .ok_or(Failure::Closed)?;
        try_take(&open.end)
    }

    /// Receives, blocking until an item arrives, the channel closes, the deadline passes
    /// (`None`: never) or this handle is closed. It polls for up to
    /// [`SPIN_FOR`](super::spin::SPIN_FOR) before parking.
    pub fn recv_until(&self, deadline: Option<Instant>) -> Result<Item, RecvFailure> {
        let end = self.end().ok_or(Failure::Closed)?;
        let polled = self.spins().then(|| {
            spin(deadline, || match try_take(&end) {
                Err(Failure::WouldBlock) => None,
                done => Some(done),
            })
        });
        if let Some(done) = polled.flatten() {
            return done;
        }
        loop {
            if let Some(item) = end.take_returned() {
                return Ok(item);
            }
            let mut sel = cb::Select::new();
            let recv_op = self.register(&end, &mut sel);
            let oper = match deadline {
                None => sel.select(),
                Some(deadline) => sel
                    .select_deadline(deadline)
                    .map_err(|_| Failure::Timeout)?,
            };
            match oper.index() - recv_op {
                0 => {
                    return match oper.recv(&end.rx) {
                        Ok(parcel) => {
                            end.taken();
                            Ok(parcel.unpack())
                        }
                        Err(_) => end.take_returned().ok_or(Failure::Disconnected),
                    }
                }
                1 => {
                    let _ = oper.recv(&self.closed_signal);
                    return Err(Failure::Closed);
                }
                _ => {
                    // An item was given back: take it at the top of the loop (another
                    // receive may have been first; then wait again).
                    let _ = oper.recv(&end.returned_signal.1);
                }
            }
        }
    }

    /// Adds this handle's three wake-up sources to `sel`: a receive on `end` (this handle's
    /// end), then its close signal and the end's given-back signal, whose indexes are one and
    /// two more than the returned one.
    pub(crate) fn register<'a>(&'a self, end: &'a Arc<RecvEnd>, sel: &mut cb::Select<'a>) -> usize {
        let index = sel.recv(&end.rx);
        sel.recv(&self.closed_signal);
        sel.recv(&end.returned_signal.1);
        index
    }

    pub(crate) fn finish_close_signal(&self, oper: cb::SelectedOperation<'_>) {
        let _ = oper.recv(&self.closed_signal);
    }
}

impl<E> Drop for Handle<E> {
    fn drop(&mut self) {
        if self.generation != fork::generation() {
            // Inherited through fork(): dropping the end could run the channel's code on state a
            // thread of the parent left half-changed (a lock held forever, say). Leak it.
            let open = self
                .open
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            std::mem::forget(open);
            std::mem::forget(std::mem::replace(&mut self.closed_signal, cb::never()));
        }
    }
}

/// Takes the next item of `end` without blocking: a given-back one first, then the channel's.
pub(crate) fn try_take(end: &RecvEnd) -> Result<Item, RecvFailure> {
    match try_take_once(end) {
        // The last sending end is being dropped (its wake-up is sent before crossbeam sees the
        // disconnection): no item can come any more, so take what is left or report the
        // disconnection now, as an awaiting receiver woken by that wake-up expects.
        Err(Failure::WouldBlock) if end.info.senders_gone() => {
            try_take_once(end).map_err(|_| Failure::Disconnected)
        }
        done => done,
    }
}

fn try_take_once(end: &RecvEnd) -> Result<Item, RecvFailure> {
    if let Some(item) = end.take_returned() {
        return Ok(item);
    }
    match end.rx.try_recv() {
        Ok(parcel) => {
            end.taken();
            Ok(parcel.unpack())
        }
        Err(cb::TryRecvError::Empty) => Err(Failure::WouldBlock),
        // Given back between our two looks: still an item to take.
        Err(cb::TryRecvError::Disconnected) => end.take_returned().ok_or(Failure::Disconnected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::channel;
    use std::thread;
    use std::time::Duration;

    fn pair(cap: Option<usize>) -> (Handle<SendEnd>, Handle<RecvEnd>) {
        let (tx, rx) = channel(cap);
        (Handle::new(tx), Handle::new(rx))
    }

    #[test]
    fn full_then_timeout_gives_item_back() {
        let (tx, _rx) = pair(Some(1));
        tx.try_send(Item::Int(1)).unwrap();
        let err = tx.try_send(Item::Int(2)).unwrap_err();
        assert_eq!(err.kind, Failure::WouldBlock);
        let deadline = Instant::now() + Duration::from_millis(5);
        let err = tx.send_until(err.item, Some(deadline)).unwrap_err();
        assert_eq!(err.kind, Failure::Timeout);
        assert!(matches!(err.item, Item::Int(2)));
    }

    #[test]
    fn items_sent_before_close_are_delivered_then_disconnected() {
        let (tx, rx) = pair(None);
        tx.try_send(Item::Int(1)).unwrap();
        tx.close();
        assert!(rx.is_closed()); // no sender left, one item still to take
        assert!(matches!(rx.try_recv(), Ok(Item::Int(1))));
        assert!(rx.is_closed());
        assert_eq!(rx.recv_until(None).unwrap_err(), Failure::Disconnected);
    }

    #[test]
    fn close_wakes_a_blocked_receiver() {
        let (_tx, rx) = pair(None);
        let rx = Arc::new(rx);
        let waiter = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv_until(None))
        };
        // Whether the waiter is already blocked or not, closing makes its recv fail promptly.
        rx.close();
        assert_eq!(waiter.join().unwrap().unwrap_err(), Failure::Closed);
    }

    #[test]
    fn close_wakes_a_blocked_sender_and_returns_the_item() {
        let (tx, _rx) = pair(Some(0));
        let tx = Arc::new(tx);
        let waiter = {
            let tx = tx.clone();
            thread::spawn(move || tx.send_until(Item::Int(9), None))
        };
        tx.close();
        let err = waiter.join().unwrap().unwrap_err();
        assert_eq!(err.kind, Failure::Closed);
        assert!(matches!(err.item, Item::Int(9)));
    }

    #[test]
    fn sender_sees_receivers_gone() {
        let (tx, rx) = pair(None);
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        let err = tx.try_send(Item::None).unwrap_err();
        assert_eq!(err.kind, Failure::Disconnected);
    }

    #[test]
    fn rendezvous_hands_over_directly() {
        let (tx, rx) = pair(Some(0));
        let receiver =
            thread::spawn(move || rx.recv_until(None).map(|i| matches!(i, Item::Int(5))));
        tx.send_until(Item::Int(5), None).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(true));
    }

    #[test]
    fn many_producers_many_consumers_exactly_once() {
        let (tx, rx) = channel(Some(16));
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let tx = Handle::new(tx.clone());
                thread::spawn(move || {
                    for i in 0..1000 {
                        tx.send_until(Item::Int(p * 1000 + i), None).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let rx = Handle::new(rx.clone());
                thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Ok(Item::Int(v)) = rx.recv_until(None) {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        drop(rx);
        for p in producers {
            p.join().unwrap();
        }
        let mut all: Vec<i64> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..4000).collect::<Vec<_>>());
    }
}
