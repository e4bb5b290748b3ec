//! Channels over ZeroMQ: forwarding threads between a local channel and a PUSH or PULL socket.
//!
//! Each bridge owns one ZeroMQ context, one socket and one Rust thread (ZeroMQ sockets are not
//! thread-safe), and runs outside every interpreter. A *sender bridge* takes items from a local
//! channel, encodes them ([`super::wire`]; what waits in the channel goes as batches) and pushes
//! them; when no local Sender remains it sends end-of-stream and keeps its socket open until its
//! receivers have closed their connections (`bridge/peers.rs` says why). A *receiver bridge* pulls
//! messages, decodes them and puts the items into a local channel; it ends the channel once at
//! least one remote stream began and every stream that began has ended. A message that does not
//! decode, or a gap in a stream's sequence, stops a receiver bridge: its socket is closed (every
//! connection dropped), the items already received stay receivable, then [`error`] holds why.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::buffer::{Bytes, ForeignBytes};
use super::channel::{try_channel, RecvEnd, SendEnd};
use super::handle::{Failure, Handle};
use super::wire::{self, item_frames, Batch, Message};

mod peers;
use peers::Peers;

/// High-water mark (messages queued per connection) of every bridge socket.
pub const HWM: i32 = 1000;
/// Largest message part a receiver bridge accepts; ZeroMQ drops a connection that sends a larger
/// one.
pub const MAX_FRAME: i64 = 1 << 32;
/// How long, at most, a sender bridge goes on delivering once told to finish (by [`finish`], at
/// its interpreter's exit), unless [`finish`] says otherwise; also ZeroMQ's linger once its
/// socket is closed.
pub const LINGER: Duration = Duration::from_secs(5);
/// The linger in force, in milliseconds (the last [`finish`] sets it).
static LINGER_MS: AtomicU64 = AtomicU64::new(LINGER.as_millis() as u64);

fn linger() -> Duration {
    Duration::from_millis(LINGER_MS.load(Ordering::Acquire))
}
/// Makes a received ZeroMQ message the storage of a buffer, without copying it (set by the
/// binding, which can vouch that a message may move between threads: [`keep_messages_with`]).
static KEEP: OnceLock<fn(zmq::Message) -> Box<dyn ForeignBytes>> = OnceLock::new();

/// Lets receiver bridges keep each big received buffer frame as the buffer's storage, through
/// `keep`, instead of copying it out. Without it they copy.
pub fn keep_messages_with(keep: fn(zmq::Message) -> Box<dyn ForeignBytes>) {
    let _ = KEEP.set(keep);
}

/// Most items a sender bridge puts in one batch message.
const BATCH_ITEMS: u64 = 256;
/// A sender bridge ends a batch once its body reaches this many bytes.
const BATCH_BYTES: usize = 32 << 10;
/// How often a blocked bridge thread looks whether it should stop.
const TICK_MS: i64 = 50;

/// Why a bridge could not be made.
#[derive(Debug)]
pub enum BridgeError {
    /// The endpoint is not `tcp://...` or `ipc://...`.
    Endpoint(String),
    /// ZeroMQ refused (binding an address in use, an unresolvable host...).
    Zmq(String),
    /// No memory for the channel.
    OutOfMemory,
}

impl std::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BridgeError::Endpoint(e) => write!(f, "{e}"),
            BridgeError::Zmq(e) => write!(f, "{e}"),
            BridgeError::OutOfMemory => f.write_str("out of memory for the bridge's channel"),
        }
    }
}

struct Bridge {
    id: u64,
    channel: u64,
    is_sender: bool,
    stop: Arc<AtomicBool>,
    /// Set by a sender bridge's thread as it ends: whether everything went out.
    delivered: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Registry {
    bridges: HashMap<u64, Bridge>,
    /// Channel id -> why its receiver bridge stopped.
    errors: HashMap<u64, String>,
    next: u64,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);
/// Sender bridges alive: while 0, sending on any channel skips the channel-end check.
static SENDER_BRIDGES: AtomicUsize = AtomicUsize::new(0);

fn with_registry<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut guard = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(|| Registry {
        bridges: HashMap::new(),
        errors: HashMap::new(),
        next: 1,
    }))
}

/// Why the receiver bridge feeding channel `channel` stopped early, if it did.
pub fn error(channel: u64) -> Option<String> {
    with_registry(|r| r.errors.get(&channel).cloned())
}

/// True if `channel` is the local side of a sender bridge: its items leave the process, so they
/// cannot hold channel ends. Cheap while no sender bridge exists.
pub fn leaves_process(channel: u64) -> bool {
    SENDER_BRIDGES.load(Ordering::Acquire) > 0
        && with_registry(|r| {
            r.bridges
                .values()
                .any(|b| b.is_sender && b.channel == channel)
        })
}

fn socket(
    kind: zmq::SocketType,
    endpoint: &str,
) -> Result<(zmq::Context, zmq::Socket), BridgeError> {
    if !(endpoint.starts_with("tcp://") || endpoint.starts_with("ipc://")) {
        return Err(BridgeError::Endpoint(format!(
            "a bridge endpoint is tcp://host:port or ipc://path, not {endpoint:?}"
        )));
    }
    let ctx = zmq::Context::new();
    let sock = ctx
        .socket(kind)
        .map_err(|e| zmq_err("socket for", endpoint, e))?;
    let setup = || -> Result<(), zmq::Error> {
        sock.set_sndhwm(HWM)?;
        sock.set_rcvhwm(HWM)?;
        sock.set_maxmsgsize(MAX_FRAME)?;
        sock.set_linger(LINGER.as_millis() as i32)?;
        sock.set_ipv6(true)?;
        Ok(())
    };
    setup().map_err(|e| zmq_err("setting up", endpoint, e))?;
    Ok((ctx, sock))
}

fn zmq_err(what: &str, endpoint: &str, e: zmq::Error) -> BridgeError {
    BridgeError::Zmq(format!("{what} {endpoint:?}: {e}"))
}

/// Binds or connects `sock` to `endpoint`.
fn attach(sock: &zmq::Socket, endpoint: &str, bind: bool) -> Result<(), BridgeError> {
    if bind {
        sock.bind(endpoint)
            .map_err(|e| zmq_err("cannot bind", endpoint, e))
    } else {
        sock.connect(endpoint)
            .map_err(|e| zmq_err("cannot connect to", endpoint, e))
    }
}

fn register(
    channel: u64,
    is_sender: bool,
    stop: Arc<AtomicBool>,
    delivered: Arc<AtomicBool>,
) -> u64 {
    with_registry(|r| {
        let id = r.next;
        r.next += 1;
        r.bridges.insert(
            id,
            Bridge {
                id,
                channel,
                is_sender,
                stop,
                delivered,
                thread: None,
            },
        );
        id
    })
}

fn spawn(id: u64, name: &str, body: impl FnOnce() + Send + 'static) -> Result<(), BridgeError> {
    let thread = std::thread::Builder::new()
        .name(name.into())
        .stack_size(wire::STACK_SIZE)
        .spawn(body)
        .map_err(|e| BridgeError::Zmq(format!("cannot start the bridge thread: {e}")))?;
    with_registry(|r| {
        if let Some(b) = r.bridges.get_mut(&id) {
            b.thread = Some(thread);
        }
    });
    Ok(())
}

/// Makes a sender bridge: returns the local channel's sending end (items sent there go to
/// `endpoint`) and the bridge's id (for [`finish`]).
pub fn sender(
    endpoint: &str,
    bind: bool,
    capacity: Option<usize>,
) -> Result<(Arc<SendEnd>, u64), BridgeError> {
    let (ctx, sock) = socket(zmq::PUSH, endpoint)?;
    // Watching the connections starts before there is any, so that none is missed.
    let mut peers = Peers::watch(&ctx, &sock).map_err(|e| zmq_err("watching", endpoint, e))?;
    attach(&sock, endpoint, bind)?;
    let (tx, rx) = try_channel(capacity).map_err(|_| BridgeError::OutOfMemory)?;
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicBool::new(false));
    let id = register(tx.info.id, true, stop.clone(), delivered.clone());
    SENDER_BRIDGES.fetch_add(1, Ordering::AcqRel);
    let rx = Handle::new(rx);
    let run = move || {
        let done = forward_out(&sock, &mut peers, &rx, &stop);
        drop(rx);
        // Delivered: every receiver has closed its connection, nothing is left to write. Given
        // up (finishing took longer than the linger): what ZeroMQ still holds is dropped now.
        let _ = sock.set_linger(0);
        drop(peers);
        drop(sock);
        drop(ctx);
        delivered.store(done, Ordering::Release);
        SENDER_BRIDGES.fetch_sub(1, Ordering::AcqRel);
        deregister(id);
    };
    spawn(id, "interpchan-bridge-out", run)?;
    Ok((tx, id))
}

/// The sender bridge's loop: forward every item until no local Sender remains (or `stop`), end
/// the stream, then wait until the receivers have closed their connections. True if it all
/// went out; false if given up (finishing took longer than the linger, or the socket failed).
fn forward_out(
    sock: &zmq::Socket,
    peers: &mut Peers,
    rx: &Handle<RecvEnd>,
    stop: &AtomicBool,
) -> bool {
    let stream: [u8; 16] = rand_stream();
    let mut seq = 0u64;
    let mut deadline = None;
    let mut batch = Batch::new();
    loop {
        let item = if stop.load(Ordering::Acquire) {
            // Finishing: deliver what is queued now, then end.
            deadline.get_or_insert_with(|| Instant::now() + linger());
            match rx.try_recv() {
                Ok(item) => item,
                Err(_) => break,
            }
        } else {
            let until = Instant::now() + Duration::from_millis(TICK_MS as u64);
            match rx.recv_until(Some(until)) {
                Ok(item) => item,
                Err(Failure::Timeout) => {
                    peers.update(0);
                    continue;
                }
                Err(_) => break,
            }
        };
        peers.update(0);
        // What the channel holds already goes out in batches (one message each, one wakeup of
        // each thread on the way); nothing waits for more to come.
        let mut first = seq;
        let mut next = Some(item);
        while let Some(item) = next.take() {
            match batch.push(item) {
                Ok(None) => seq += 1,
                Ok(Some(alone)) => {
                    // Carries buffers: sent alone, after what the batch holds.
                    if !batch.is_empty()
                        && !send_frames(sock, batch.take_frames(stream, first), stop, &mut deadline)
                    {
                        return false;
                    }
                    if !send_frames(sock, item_frames(stream, seq, alone), stop, &mut deadline) {
                        return false;
                    }
                    seq += 1;
                    first = seq;
                }
                // Refused at send before it is queued (leaves_process): cannot happen, but
                // never send a partial stream.
                Err(_) => {}
            }
            if batch.len() >= BATCH_ITEMS || batch.bytes() >= BATCH_BYTES {
                if !send_frames(sock, batch.take_frames(stream, first), stop, &mut deadline) {
                    return false;
                }
                first = seq;
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty()
            && !send_frames(sock, batch.take_frames(stream, first), stop, &mut deadline)
        {
            // The far receiver's stream stays open, since the end-of-stream cannot be sent
            // either.
            return false;
        }
    }
    send_frames(sock, wire::end_frames(stream, seq), stop, &mut deadline)
        && peers.wait_closed(stop, &mut deadline)
}

/// Frames shorter than this are copied into ZeroMQ's message (small ones live inside it);
/// longer ones are handed over without a copy.
const COPY_BELOW: usize = 64 << 10;

/// Sends one message once the peer's queue has room (the high-water mark), looking every tick
/// whether to give up: false if the deadline (set once finishing) passes, or on an error.
fn send_frames(
    sock: &zmq::Socket,
    frames: Vec<Bytes>,
    stop: &AtomicBool,
    deadline: &mut Option<Instant>,
) -> bool {
    let n = frames.len();
    let mut frames = frames.into_iter();
    let Some(head) = frames.next() else {
        return true;
    };
    let more = if n > 1 { zmq::SNDMORE } else { 0 };
    // The header goes first, without waiting; only if the queue is full does the thread wait
    // (polling costs a system call per message).
    loop {
        match sock.send(&head[..], zmq::DONTWAIT | more) {
            Ok(()) => break,
            Err(zmq::Error::EAGAIN) => {}
            Err(_) => return false,
        }
        match sock.poll(zmq::POLLOUT, TICK_MS) {
            Ok(ready) if ready > 0 => {}
            Ok(_) => {
                if stop.load(Ordering::Acquire) {
                    let d = *deadline.get_or_insert_with(|| Instant::now() + linger());
                    if Instant::now() >= d {
                        return false;
                    }
                }
            }
            Err(_) => return false,
        }
    }
    // Once the first part is queued, the rest of the message is accepted at once (ZeroMQ
    // counts messages against the high-water mark); big buffers are handed over, not copied.
    for (i, frame) in frames.enumerate() {
        let flags = if i + 2 < n { zmq::SNDMORE } else { 0 };
        let sent = match frame {
            Bytes::Owned(frame) if frame.len() >= COPY_BELOW => {
                sock.send(zmq::Message::from(frame), flags)
            }
            // Foreign memory (a Buffer received by a bridge, sent on) is copied once.
            frame => sock.send(&frame[..], flags),
        };
        if sent.is_err() {
            return false;
        }
    }
    true
}

/// Makes a receiver bridge: returns the local channel's receiving end (items arriving at
/// `endpoint` come out of it) and the bridge's id.
pub fn receiver(
    endpoint: &str,
    bind: bool,
    capacity: Option<usize>,
) -> Result<(Arc<RecvEnd>, u64), BridgeError> {
    let (ctx, sock) = socket(zmq::PULL, endpoint)?;
    attach(&sock, endpoint, bind)?;
    let (tx, rx) = try_channel(capacity).map_err(|_| BridgeError::OutOfMemory)?;
    let stop = Arc::new(AtomicBool::new(false));
    let channel = rx.info.id;
    let id = register(
        channel,
        false,
        stop.clone(),
        Arc::new(AtomicBool::new(true)),
    );
    let tx = Handle::new(tx);
    let run = move || {
        if let Err(why) = forward_in(&sock, &tx, &stop) {
            // Recorded before the channel's sending end goes, so that a receive that finds the
            // channel closed also finds why.
            with_registry(|r| r.errors.insert(channel, why));
        }
        drop(tx);
        drop(sock);
        drop(ctx);
        deregister(id);
    };
    spawn(id, "interpchan-bridge-in", run)?;
    Ok((rx, id))
}

/// Where a remote stream stands: the next sequence number expected, or ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Open(u64),
    Ended,
}

fn hex(stream: &[u8; 16]) -> String {
    stream.iter().map(|b| format!("{b:02x}")).collect()
}

/// The receiver bridge's loop: Ok when every remote stream ended or no local Receiver remains;
/// Err with the reason when the network sent something it must refuse.
fn forward_in(sock: &zmq::Socket, tx: &Handle<SendEnd>, stop: &AtomicBool) -> Result<(), String> {
    let mut streams: HashMap<[u8; 16], Stream> = HashMap::new();
    let mut parts: Vec<zmq::Message> = Vec::new();
    let gone = || stop.load(Ordering::Acquire) || tx.info().receivers_gone();
    let failed = |e: zmq::Error| format!("the bridge's socket failed: {e}");
    let refused = |why: String| {
        format!("a message from the network was refused ({why}); the bridge closed its connections")
    };
    loop {
        if gone() {
            return Ok(());
        }
        // Read without waiting; only an empty queue costs a poll (a system call).
        if parts.is_empty() {
            parts.push(zmq::Message::new());
        }
        match sock.recv(&mut parts[0], zmq::DONTWAIT) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => {
                sock.poll(zmq::POLLIN, TICK_MS).map_err(failed)?;
                continue;
            }
            Err(e) => return Err(failed(e)),
        }
        // The messages are reused: receiving into one replaces what it held.
        let mut n = 1;
        let mut more = parts[0].get_more();
        while more {
            if parts.len() <= n {
                parts.push(zmq::Message::new());
            }
            sock.recv(&mut parts[n], 0).map_err(failed)?;
            more = parts[n].get_more();
            n += 1;
        }
        // Big buffer frames become the received Buffers' storage (no copy); the rest is copied.
        let keep = KEEP.get();
        let buffers: Vec<Bytes> = parts[2.min(n)..n]
            .iter_mut()
            .map(|m| match keep {
                Some(keep) if m.len() >= COPY_BELOW => {
                    Bytes::Foreign(keep(std::mem::replace(m, zmq::Message::new())))
                }
                _ => Bytes::from(m.to_vec()),
            })
            .collect();
        let head_body: Vec<&[u8]> = parts[..2.min(n)].iter().map(|m| &m[..]).collect();
        let decoded = wire::decode_parts(&head_body, buffers).map_err(|e| refused(e.0))?;
        let (stream, first, items) = match decoded {
            Message::Item { stream, seq, item } => (stream, seq, vec![item]),
            Message::Batch {
                stream,
                first,
                items,
            } => (stream, first, items),
            Message::End { stream, count } => {
                let received = match streams.get(&stream) {
                    None => 0,
                    Some(Stream::Open(n)) => *n,
                    Some(Stream::Ended) => {
                        return Err(refused(format!("stream {} ended twice", hex(&stream))))
                    }
                };
                if count != received {
                    return Err(format!(
                        "items of stream {} were lost: it sent {count}, {received} arrived",
                        hex(&stream)
                    ));
                }
                streams.insert(stream, Stream::Ended);
                if streams.values().all(|s| *s == Stream::Ended) {
                    return Ok(());
                }
                continue;
            }
        };
        let expected = match streams.get(&stream) {
            None => 0,
            Some(Stream::Open(n)) => *n,
            Some(Stream::Ended) => {
                return Err(refused(format!(
                    "an item after the end of stream {}",
                    hex(&stream)
                )))
            }
        };
        if first != expected {
            return Err(format!(
                "items of stream {} were lost: item {expected} expected, item {first} \
                 arrived (ZeroMQ drops what a broken connection had queued, or the \
                 sender's earlier items went to another receiver)",
                hex(&stream)
            ));
        }
        let Some(next) = first.checked_add(items.len() as u64) else {
            return Err(refused(format!(
                "sequence numbers of stream {} overflow",
                hex(&stream)
            )));
        };
        streams.insert(stream, Stream::Open(next));
        for mut item in items {
            loop {
                // Blocks while the local channel is full (back-pressure: the socket is not
                // read, so ZeroMQ's queues fill up to the sender), looking every tick
                // whether the bridge should stop.
                let until = Instant::now() + Duration::from_millis(TICK_MS as u64);
                match tx.send_until(item, Some(until)) {
                    Ok(()) => break,
                    Err(failed) if failed.kind == Failure::Timeout && !gone() => item = failed.item,
                    Err(_) => return Ok(()),
                }
            }
        }
    }
}

fn deregister(id: u64) {
    with_registry(|r| r.bridges.remove(&id));
}

/// Tells the sender bridges `ids` to finish (deliver what their channel holds now, then end
/// their streams, then wait for their receivers to close their connections) and waits until
/// they have, or until `linger` has passed. Returns how many had not delivered everything by
/// then.
pub fn finish(ids: &[u64], linger: Duration) -> usize {
    LINGER_MS.store(
        linger.as_millis().min(u64::MAX as u128) as u64,
        Ordering::Release,
    );
    let threads: Vec<(JoinHandle<()>, Arc<AtomicBool>)> = with_registry(|r| {
        let mut threads = Vec::new();
        for b in r.bridges.values_mut() {
            if !(b.is_sender && ids.contains(&b.id)) {
                continue;
            }
            b.stop.store(true, Ordering::Release);
            if let Some(t) = b.thread.take() {
                threads.push((t, b.delivered.clone()));
            }
        }
        threads
    });
    let deadline = Instant::now() + linger;
    let mut left = threads;
    while !left.is_empty() && Instant::now() < deadline {
        if left.iter().all(|(t, _)| t.is_finished()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Still running, or ended without delivering everything (gave up at the deadline).
    left.retain(|(t, delivered)| !(t.is_finished() && delivered.load(Ordering::Acquire)));
    left.len()
}

fn rand_stream() -> [u8; 16] {
    let mut s = [0u8; 16];
    if getrandom::fill(&mut s).is_err() {
        s[..8].copy_from_slice(&(std::process::id() as u64).to_le_bytes());
    }
    s
}
