//! Received ZeroMQ messages as the storage of received Buffers (no copy of big buffers).

use crate::core::bridge;
use crate::core::ForeignBytes;

/// A ZeroMQ message that a receiver bridge took in, owned by the Buffer built from it. Boxed,
/// so that its bytes stay put even for a small message, whose bytes live inside `zmq_msg_t`.
#[derive(Debug)]
struct ReceivedFrame(Box<zmq::Message>);

// SAFETY: a `zmq_msg_t` is plain data, owned by this value alone: libzmq lets a message move
// between threads as long as one thread at a time uses it. Received messages are never copied
// (`zmq_msg_copy`), so nothing else shares its reference count, and it is closed once, by
// whichever thread drops it.
unsafe impl Send for ReceivedFrame {}
// SAFETY: a shared reference only reads the bytes (`zmq_msg_data`/`zmq_msg_size` read the
// message's fields); every change to the message needs `&mut` or ownership.
unsafe impl Sync for ReceivedFrame {}

impl ForeignBytes for ReceivedFrame {
    fn bytes(&self) -> &[u8] {
        &self.0
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

fn keep(message: zmq::Message) -> Box<dyn ForeignBytes> {
    Box::new(ReceivedFrame(Box::new(message)))
}

/// Lets receiver bridges hand big buffer frames over to the Buffers they build.
pub fn install() {
    bridge::keep_messages_with(keep);
}
