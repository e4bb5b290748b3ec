//! A sender bridge's view of its connections (a ZeroMQ socket monitor), so that it closes its
//! socket only once its receivers have closed theirs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::{linger, TICK_MS};

/// The connections of a sender bridge's socket, followed through a ZeroMQ socket monitor.
///
/// A sender bridge must not close its connection to a receiver before that receiver has read
/// everything: libzmq 4.3 drops what an `ipc://` connection still holds in the kernel when the
/// sending side closes it while the receiving side's queue is at its high-water mark (the
/// hang-up is seen while its input is stopped; libzmq issue 4660). A bridge receiver closes its
/// socket only once every stream it reads has ended, so the sender bridge, after its
/// end-of-stream, keeps its socket open until its receivers have closed their connections.
pub(super) struct Peers {
    monitor: zmq::Socket,
    /// Connections open now (accepted or made, not yet broken).
    open: i64,
    /// Whether any connection was ever open.
    ever: bool,
}

impl Peers {
    pub(super) fn watch(ctx: &zmq::Context, sock: &zmq::Socket) -> Result<Peers, zmq::Error> {
        // The inproc name is per context, and each bridge has its own context.
        const AT: &str = "inproc://interpchan-bridge-peers";
        let events = zmq::SocketEvent::CONNECTED as i32
            | zmq::SocketEvent::ACCEPTED as i32
            | zmq::SocketEvent::DISCONNECTED as i32;
        sock.monitor(AT, events)?;
        let monitor = ctx.socket(zmq::PAIR)?;
        monitor.set_linger(0)?;
        // libzmq's threads block on a full monitor queue: no limit (events are small, and the
        // bridge takes them in as it goes).
        monitor.set_rcvhwm(0)?;
        monitor.connect(AT)?;
        Ok(Peers {
            monitor,
            open: 0,
            ever: false,
        })
    }

    /// Takes in the events reported so far, waiting at most `wait_ms` for the first (0: no
    /// wait, and no system call).
    pub(super) fn update(&mut self, wait_ms: i64) {
        if wait_ms > 0 && !matches!(self.monitor.poll(zmq::POLLIN, wait_ms), Ok(n) if n > 0) {
            return;
        }
        // An event is two frames: 2 bytes event (little-endian), 4 bytes value; the endpoint.
        while let Ok(frames) = self.monitor.recv_multipart(zmq::DONTWAIT) {
            let Some(event) = frames.first().and_then(|f| f.get(..2)) else {
                continue;
            };
            match zmq::SocketEvent::from_raw(u16::from_le_bytes([event[0], event[1]])) {
                zmq::SocketEvent::CONNECTED | zmq::SocketEvent::ACCEPTED => {
                    self.open += 1;
                    self.ever = true;
                }
                zmq::SocketEvent::DISCONNECTED => self.open -= 1,
                _ => {}
            }
        }
    }

    /// Waits until a receiver has connected and every receiver has closed its connection: true
    /// then; false if the deadline (set once finishing) passes first.
    pub(super) fn wait_closed(
        &mut self,
        stop: &AtomicBool,
        deadline: &mut Option<Instant>,
    ) -> bool {
        loop {
            self.update(0);
            if self.ever && self.open <= 0 {
                return true;
            }
            if stop.load(Ordering::Acquire) {
                let d = *deadline.get_or_insert_with(|| Instant::now() + linger());
                if Instant::now() >= d {
                    return false;
                }
            }
            self.update(TICK_MS);
        }
    }
}
