//! Wake-ups for event loops: a [`Notifier`] per loop (a socket the loop watches) and the
//! [`WaitList`] each channel keeps of the notifiers interested in it.
//!
//! An asyncio loop cannot block in a channel call, so a task that finds nothing to take asks the
//! loop's notifier to watch the channel and awaits. Whoever then changes the channel (a send, a
//! receive that frees room, a close, the last handle of one side going away) calls
//! [`WaitList::wake`], which records the channel's key in every watching notifier and makes its
//! socket readable (one byte per batch: later wakes are coalesced until the loop takes them).
//! The loop then retries the tasks waiting on the keys it took.
//!
//! The cost for channels nobody awaits is one fence and one atomic load per operation.
//!
//! ```
//! use std::sync::Arc;
//! use interpchan::core::notify::{Notifier, WaitList};
//!
//! let notifier = Arc::new(Notifier::new().unwrap());
//! let list = WaitList::default();
//! list.add(&notifier);
//! list.wake(7);
//! list.wake(7);
//! assert_eq!(notifier.take(), vec![7]); // coalesced
//! assert!(notifier.take().is_empty());
//! ```

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{fence, AtomicUsize, Ordering};

/// Notifiers made and not yet closed, in this process (for leak checks).
static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Notifiers made and not yet closed, in this process (for leak checks: each holds two
/// descriptors).
pub fn open_notifiers() -> usize {
    OPEN.load(Ordering::SeqCst)
}
use std::sync::{Arc, Mutex, MutexGuard};

/// What a notifier holds behind its lock.
#[derive(Debug)]
struct Ready {
    /// Keys woken since the last [`Notifier::take`], each once.
    keys: Vec<u64>,
    /// A byte is in the socket (or was written) since the last take.
    signalled: bool,
    /// `None` once closed.
    socket: Option<(UnixStream, UnixStream)>,
}

/// One event loop's wake-up channel: a socket pair whose read end the loop watches.
#[derive(Debug)]
pub struct Notifier {
    ready: Mutex<Ready>,
    fd: RawFd,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update below leaves the data consistent, even if a panic poisoned the lock.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Notifier {
    /// A new notifier with its own non-blocking socket pair.
    pub fn new() -> std::io::Result<Self> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        OPEN.fetch_add(1, Ordering::SeqCst);
        Ok(Notifier {
            fd: read.as_raw_fd(),
            ready: Mutex::new(Ready {
                keys: Vec::new(),
                signalled: false,
                socket: Some((read, write)),
            }),
        })
    }

    /// The descriptor that becomes readable when keys are ready (owned by the notifier: valid
    /// until [`close`](Self::close)).
    pub fn fileno(&self) -> RawFd {
        self.fd
    }

    /// Records `key` as ready and makes the socket readable; false if closed.
    pub fn notify(&self, key: u64) -> bool {
        let mut ready = lock(&self.ready);
        let Ready {
            keys,
            signalled,
            socket,
        } = &mut *ready;
        let Some((_, write)) = socket.as_ref() else {
            return false;
        };
        if !keys.contains(&key) {
            keys.push(key);
        }
        if !*signalled {
            *signalled = true;
            // A full socket (WouldBlock) is readable already; nothing else can fail here.
            let _ = (&*write).write(&[1]);
        }
        true
    }

    /// Takes the keys woken since the last call and empties the socket. Wakes after this call
    /// make the socket readable again, so none is lost.
    pub fn take(&self) -> Vec<u64> {
        let mut ready = lock(&self.ready);
        if let Some((read, _)) = ready.socket.as_ref() {
            let mut sink = [0u8; 64];
            loop {
                match (&*read).read(&mut sink) {
                    Ok(n) if n == sink.len() => continue,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    _ => break,
                }
            }
        }
        ready.signalled = false;
        std::mem::take(&mut ready.keys)
    }

    /// Closes the socket pair. Wait lists drop a closed notifier at their next wake.
    pub fn close(&self) {
        let mut ready = lock(&self.ready);
        if ready.socket.take().is_some() {
            OPEN.fetch_sub(1, Ordering::SeqCst);
        }
        ready.keys = Vec::new();
    }

    pub fn is_closed(&self) -> bool {
        lock(&self.ready).socket.is_none()
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.close();
    }
}

/// The notifiers interested in one side of a channel (a notifier may appear several times: one
/// entry per [`add`](Self::add)).
#[derive(Debug, Default)]
pub struct WaitList {
    count: AtomicUsize,
    list: Mutex<Vec<Arc<Notifier>>>,
}

impl WaitList {
    /// Adds an entry for `notifier`. The caller re-checks the channel after this returns, so a
    /// change made before the entry was visible is not missed (both sides fence).
    pub fn add(&self, notifier: &Arc<Notifier>) {
        let mut list = lock(&self.list);
        list.push(notifier.clone());
        self.count.store(list.len(), Ordering::SeqCst);
        drop(list);
        fence(Ordering::SeqCst);
    }

    /// Removes one entry for `notifier`; false if it had none.
    pub fn remove(&self, notifier: &Arc<Notifier>) -> bool {
        let mut list = lock(&self.list);
        let found = list.iter().position(|n| Arc::ptr_eq(n, notifier));
        if let Some(i) = found {
            list.swap_remove(i);
            self.count.store(list.len(), Ordering::SeqCst);
        }
        found.is_some()
    }

    /// Wakes every notifier in the list with `key` (call after changing the channel).
    #[inline]
    pub fn wake(&self, key: u64) {
        fence(Ordering::SeqCst);
        if self.count.load(Ordering::Relaxed) != 0 {
            self.wake_slow(key);
        }
    }

    #[cold]
    fn wake_slow(&self, key: u64) {
        let mut list = lock(&self.list);
        list.retain(|n| n.notify(key));
        self.count.store(list.len(), Ordering::SeqCst);
    }

    /// Entries now (closed notifiers included until the next wake).
    pub fn len(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// Whether the read end holds a byte (checked through a clone, so the notifier's own
    /// `signalled` flag is not involved; the byte read is written back).
    fn readable(n: &Notifier) -> bool {
        let ready = lock(&n.ready);
        let (read, write) = ready.socket.as_ref().unwrap();
        let mut b = [0u8; 1];
        match (&*read).read(&mut b) {
            Ok(1) => {
                (&*write).write_all(&b).unwrap();
                true
            }
            _ => false,
        }
    }

    #[test]
    fn wake_makes_readable_take_clears() {
        let n = Arc::new(Notifier::new().unwrap());
        let list = WaitList::default();
        list.wake(1);
        assert!(!readable(&n));
        list.add(&n);
        list.wake(1);
        list.wake(2);
        assert!(readable(&n));
        assert_eq!(n.take(), vec![1, 2]);
        assert!(!readable(&n));
        list.wake(3);
        assert!(readable(&n), "a wake after take signals again");
        assert_eq!(n.take(), vec![3]);
    }

    #[test]
    fn closed_notifiers_are_dropped_at_the_next_wake() {
        let n = Arc::new(Notifier::new().unwrap());
        let list = WaitList::default();
        list.add(&n);
        list.add(&n);
        assert_eq!(list.len(), 2);
        n.close();
        assert!(n.is_closed());
        list.wake(1);
        assert!(list.is_empty());
        assert!(n.take().is_empty());
    }

    #[test]
    fn remove_takes_one_entry() {
        let n = Arc::new(Notifier::new().unwrap());
        let list = WaitList::default();
        list.add(&n);
        list.add(&n);
        assert!(list.remove(&n));
        assert_eq!(list.len(), 1);
        assert!(list.remove(&n));
        assert!(!list.remove(&n));
    }

    #[test]
    fn channel_operations_wake_the_watching_side() {
        use crate::core::{channel, Handle, Item};
        let (tx, rx) = channel(Some(2));
        let (tx, rx) = (Handle::new(tx), Handle::new(rx));
        let n = Arc::new(Notifier::new().unwrap());
        let info = rx.info().clone();
        info.receive_waiters.add(&n);
        info.send_waiters.add(&n);
        tx.try_send(Item::Int(1)).unwrap();
        assert_eq!(n.take(), vec![info.receive_key()]);
        tx.try_send(Item::Int(2)).unwrap();
        n.take();
        assert!(rx.try_recv().is_ok());
        assert_eq!(n.take(), vec![info.send_key()], "room was made");
        drop(tx); // the last sender: receivers learn it (one item is still queued)
        assert_eq!(n.take(), vec![info.receive_key()]);
        assert!(rx.try_recv().is_ok());
        // The last item of a channel whose senders are gone: the receivers learn it is closed.
        let mut keys = n.take();
        keys.sort_unstable();
        assert_eq!(keys, vec![info.receive_key(), info.send_key()]);
        assert!(rx.close());
        let mut keys = n.take();
        keys.sort_unstable();
        assert_eq!(
            keys,
            vec![info.receive_key(), info.send_key()],
            "close wakes both"
        );
        assert!(!rx.close());
        assert!(n.take().is_empty(), "closing a closed handle wakes nothing");
    }

    #[test]
    fn wakes_from_many_threads_are_all_seen() {
        let n = Arc::new(Notifier::new().unwrap());
        let list = Arc::new(WaitList::default());
        list.add(&n);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let list = list.clone();
                thread::spawn(move || {
                    for i in 0..100 {
                        list.wake(t * 100 + i);
                    }
                })
            })
            .collect();
        let mut seen = Vec::new();
        for t in threads {
            t.join().unwrap();
        }
        seen.extend(n.take());
        seen.sort_unstable();
        assert_eq!(seen, (0..400).collect::<Vec<_>>());
    }
}
