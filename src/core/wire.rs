//! The bridge's wire format (version 1): how an `Item` travels as one multipart ZeroMQ message.
//!
//! Every message starts with a 30-byte header frame: the magic `b"ICHN"`, the version byte (1),
//! a kind byte, the sender's 16-byte stream id and a little-endian u64: the item's sequence
//! number in its stream (0, 1, 2...), or for the end, the number of items the stream sent. Kind
//! [`KIND_ITEM`] is followed by one body frame (the encoded item) and one frame per buffer, in
//! the order the body names them; kind [`KIND_END`] (end of that sender's stream) has no other
//! frame. docs/bridge.md describes the
//! body encoding byte by byte. Decoding checks everything and never panics on any input.
//!
//! ```
//! use interpchan::core::wire::{decode, encode, Message};
//! use interpchan::core::Item;
//! let frames = encode([7u8; 16], 0, Item::List(vec![Item::Int(1), Item::Str("a".into())].into())).unwrap();
//! let Message::Item { stream, item, .. } = decode(&frames.iter().map(|f| &f[..]).collect::<Vec<_>>()).unwrap() else { panic!() };
//! assert_eq!(stream, [7u8; 16]);
//! assert!(matches!(item, Item::List(ref l) if l.len() == 2));
//! ```

use std::ffi::CString;

use super::buffer::{BufferData, Bytes, Layout};
use super::item::Item;

/// First bytes of every header frame.
pub const MAGIC: &[u8; 4] = b"ICHN";
/// The wire format version of item and end-of-stream messages (kinds 1 and 2).
pub const VERSION: u8 = 1;
/// The version of batch messages (kind 3): version 2 is version 1 plus batches, so that a
/// version 1 reader refuses a batch by its version rather than misreading it.
pub const VERSION_BATCH: u8 = 2;
/// Header kind: an item follows (body frame, then buffer frames).
pub const KIND_ITEM: u8 = 1;
/// Header kind: the sender's stream ends; nothing follows.
pub const KIND_END: u8 = 2;
/// Header kind (version 2): several items without buffers follow, in one body frame.
pub const KIND_BATCH: u8 = 3;
/// Length of the header frame.
pub const HEADER_LEN: usize = 30;
/// Containers nested deeper than this are refused (the same bound as sending in-process).
pub const MAX_DEPTH: usize = 1000;
/// Stack size for threads that encode or decode (both recurse, up to [`MAX_DEPTH`] levels).
pub const STACK_SIZE: usize = 64 << 20;
/// Longest buffer format string accepted.
pub const MAX_FORMAT: usize = 64;
/// Most dimensions a buffer may have (as NumPy and CPython's memoryview allow).
pub const MAX_NDIM: usize = 64;

/// Body tags.
mod tag {
    pub const NONE: u8 = 0x00;
    pub const FALSE: u8 = 0x01;
    pub const TRUE: u8 = 0x02;
    pub const INT: u8 = 0x03;
    pub const BIGINT: u8 = 0x04;
    pub const FLOAT: u8 = 0x05;
    pub const COMPLEX: u8 = 0x06;
    pub const STR: u8 = 0x07;
    pub const STR_SURROGATES: u8 = 0x08;
    pub const BYTES: u8 = 0x09;
    pub const TUPLE: u8 = 0x0A;
    pub const LIST: u8 = 0x0B;
    pub const DICT: u8 = 0x0C;
    pub const SET: u8 = 0x0D;
    pub const FROZENSET: u8 = 0x0E;
    pub const BUFFER: u8 = 0x0F;
    pub const BUFFER_AT: u8 = 0x10;
    pub const WITH_BUFFERS: u8 = 0x11;
    pub const PICKLED: u8 = 0x12;
}

/// One decoded message.
#[derive(Debug)]
pub enum Message {
    /// The `seq`th item (from 0) of the stream `stream`.
    Item {
        stream: [u8; 16],
        seq: u64,
        item: Item,
    },
    /// The stream `stream` ended after sending `count` items: its sender sends nothing more.
    End { stream: [u8; 16], count: u64 },
    /// Items `first`, `first + 1`... of the stream `stream` (a batch: none holds a buffer).
    Batch {
        stream: [u8; 16],
        first: u64,
        items: Vec<Item>,
    },
}

/// Why a message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad<T>(why: impl Into<String>) -> Result<T, WireError> {
    Err(WireError(why.into()))
}

/// The header frame of a message of `kind` from `stream`, with its sequence number or count.
pub fn header(kind: u8, stream: [u8; 16], seq: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.push(if kind == KIND_BATCH {
        VERSION_BATCH
    } else {
        VERSION
    });
    h.push(kind);
    h.extend_from_slice(&stream);
    h.extend_from_slice(&seq.to_le_bytes());
    h
}

/// The frames of an end-of-stream message, after `count` items.
pub fn end_frames(stream: [u8; 16], count: u64) -> Vec<Bytes> {
    vec![header(KIND_END, stream, count).into()]
}

/// Encodes `item` as the frames of one message: header, body, then each buffer's bytes (moved,
/// not copied). Channel ends cannot leave the process: an item holding one is an error.
pub fn encode(stream: [u8; 16], seq: u64, item: Item) -> Result<Vec<Bytes>, WireError> {
    let mut enc = Encoder {
        body: Vec::new(),
        frames: vec![header(KIND_ITEM, stream, seq).into(), Vec::new().into()],
    };
    enc.item(item)?;
    enc.frames[1] = enc.body.into();
    Ok(enc.frames)
}

struct Encoder {
    body: Vec<u8>,
    frames: Vec<Bytes>,
}

impl Encoder {
    fn len(&mut self, n: usize) {
        self.body.extend_from_slice(&(n as u64).to_le_bytes());
    }

    fn blob(&mut self, t: u8, bytes: &[u8]) {
        self.body.push(t);
        self.len(bytes.len());
        self.body.extend_from_slice(bytes);
    }

    fn layout(&mut self, layout: &Layout) {
        let format = layout.format.as_bytes();
        self.len(format.len());
        self.body.extend_from_slice(format);
        self.len(layout.itemsize);
        self.len(layout.shape.len());
        for &d in layout.shape.iter() {
            self.len(d);
        }
    }

    fn seq(&mut self, t: u8, items: Box<[Item]>) -> Result<(), WireError> {
        self.body.push(t);
        self.len(items.len());
        for item in items.into_vec() {
            self.item(item)?;
        }
        Ok(())
    }

    fn item(&mut self, item: Item) -> Result<(), WireError> {
        match item {
            Item::None => self.body.push(tag::NONE),
            Item::Bool(false) => self.body.push(tag::FALSE),
            Item::Bool(true) => self.body.push(tag::TRUE),
            Item::Int(i) => {
                self.body.push(tag::INT);
                self.body.extend_from_slice(&i.to_le_bytes());
            }
            Item::BigInt(text) => self.blob(tag::BIGINT, text.as_bytes()),
            Item::Float(f) => {
                self.body.push(tag::FLOAT);
                self.body.extend_from_slice(&f.to_le_bytes());
            }
            Item::Complex(re, im) => {
                self.body.push(tag::COMPLEX);
                self.body.extend_from_slice(&re.to_le_bytes());
                self.body.extend_from_slice(&im.to_le_bytes());
            }
            Item::Str(s) => self.blob(tag::STR, s.as_bytes()),
            Item::StrSurrogates(b) => self.blob(tag::STR_SURROGATES, &b),
            Item::Bytes(b) => self.blob(tag::BYTES, &b),
            Item::Pickled(b) => self.blob(tag::PICKLED, &b),
            Item::Tuple(items) => self.seq(tag::TUPLE, items)?,
            Item::List(items) => self.seq(tag::LIST, items)?,
            Item::Set(items) => self.seq(tag::SET, items)?,
            Item::FrozenSet(items) => self.seq(tag::FROZENSET, items)?,
            Item::Dict(pairs) => {
                self.body.push(tag::DICT);
                self.len(pairs.len());
                for (k, v) in pairs.into_vec() {
                    self.item(k)?;
                    self.item(v)?;
                }
            }
            Item::Buffer(data) => {
                self.body.push(tag::BUFFER);
                self.layout(&data.layout);
                self.frames.push(data.bytes);
            }
            Item::BufferAt(index) => {
                self.body.push(tag::BUFFER_AT);
                self.len(index);
            }
            Item::WithBuffers(parts) => {
                let (inner, buffers) = *parts;
                self.body.push(tag::WITH_BUFFERS);
                self.len(buffers.len());
                for data in buffers.into_vec() {
                    self.layout(&data.layout);
                    self.frames.push(data.bytes);
                }
                self.item(inner)?;
            }
            Item::Sender(_) | Item::Receiver(_) | Item::PickledCarrying(_) | Item::Shared(_) => {
                return bad(local_only(&item).unwrap_or("a local-only object"));
            }
        }
        Ok(())
    }
}

/// Why `item` (or something inside it) cannot leave the process, if it cannot: channel ends
/// (also inside a pickled object) and `SharedBuffer` memory are only meaningful in this process.
///
/// ```
/// use interpchan::core::{wire::local_only, Item};
/// assert!(local_only(&Item::List(vec![Item::Int(1)].into())).is_none());
/// ```
pub fn local_only(item: &Item) -> Option<&'static str> {
    const ENDS: &str = "channel ends (Sender, Receiver) cannot be sent to another process";
    match item {
        Item::Sender(_) | Item::Receiver(_) | Item::PickledCarrying(_) => Some(ENDS),
        Item::Shared(_) => Some("a SharedBuffer cannot be sent to another process"),
        Item::Tuple(items) | Item::List(items) | Item::Set(items) | Item::FrozenSet(items) => {
            items.iter().find_map(local_only)
        }
        Item::Dict(pairs) => pairs
            .iter()
            .find_map(|(k, v)| local_only(k).or_else(|| local_only(v))),
        Item::WithBuffers(parts) => local_only(&parts.0),
        _ => None,
    }
}

/// Decodes one message from its frames. Any malformed, truncated, inconsistent or hostile input
/// is an error (never a panic, never an unbounded allocation beyond the frames' own size).
pub fn decode(frames: &[&[u8]]) -> Result<Message, WireError> {
    let split = frames.len().min(2);
    let buffers = frames[split..].iter().map(|f| Bytes::from(f.to_vec()));
    decode_parts(&frames[..split], buffers.collect())
}

/// [`decode`], given the header and body frames, and the buffer frames as the storage that the
/// decoded buffers take over (so that a big buffer frame is not copied again).
pub fn decode_parts(head_body: &[&[u8]], buffers: Vec<Bytes>) -> Result<Message, WireError> {
    let Some(head) = head_body.first() else {
        return bad("empty message");
    };
    if head.len() != HEADER_LEN || &head[..4] != MAGIC {
        return bad("not an interpchan message (bad header frame)");
    }
    let version = if head[5] == KIND_BATCH {
        VERSION_BATCH
    } else {
        VERSION
    };
    if head[4] != version {
        return bad(format!(
            "unsupported wire format version {} for message kind {}",
            head[4], head[5]
        ));
    }
    let mut stream = [0u8; 16];
    stream.copy_from_slice(&head[6..22]);
    let seq = u64::from_le_bytes(head[22..30].try_into().expect("8 bytes"));
    let frames = head_body.len() + buffers.len();
    match head[5] {
        KIND_BATCH if frames == 2 => Ok(Message::Batch {
            stream,
            first: seq,
            items: batch::decode(head_body[1])?,
        }),
        KIND_BATCH => bad("batch message without exactly one body frame"),
        KIND_END if frames == 1 => Ok(Message::End { stream, count: seq }),
        KIND_END => bad("end-of-stream message with extra frames"),
        KIND_ITEM => {
            let Some(body) = head_body.get(1) else {
                return bad("item message without a body frame");
            };
            let item = decode_body(body, buffers)?;
            Ok(Message::Item { stream, seq, item })
        }
        kind => bad(format!("unknown message kind {kind}")),
    }
}

/// Decodes one item's body, with the buffer frames that it must use, each exactly once.
fn decode_body(body: &[u8], frames: Vec<Bytes>) -> Result<Item, WireError> {
    let mut dec = Decoder {
        body,
        pos: 0,
        frames: frames.into_iter().map(Some).collect(),
        next_frame: 0,
        moved: Vec::new(),
        depth: 0,
    };
    let item = dec.top()?;
    if dec.pos != body.len() {
        return bad("trailing bytes after the item");
    }
    if dec.next_frame != dec.frames.len() {
        return bad("buffer frames that the item does not use");
    }
    Ok(item)
}

struct Decoder<'a> {
    body: &'a [u8],
    pos: usize,
    /// The buffer frames, each taken (once) by the buffer that names it.
    frames: Vec<Option<Bytes>>,
    next_frame: usize,
    /// Which of the moved buffers carried by the enclosing WithBuffers are named yet (empty
    /// outside one): each may be named once, as the receiver takes it out.
    moved: Vec<bool>,
    depth: usize,
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], WireError> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.body.len() => {
                let out = &self.body[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            _ => bad("truncated body"),
        }
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn f64(&mut self) -> Result<f64, WireError> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// A length or count, no larger than what is left of the body divided by `min_each`.
    fn count(&mut self, min_each: usize) -> Result<usize, WireError> {
        let n = self.u64()?;
        let left = (self.body.len() - self.pos) / min_each.max(1);
        if n > left as u64 {
            return bad("length or count larger than the message");
        }
        Ok(n as usize)
    }

    fn blob(&mut self) -> Result<&[u8], WireError> {
        let n = self.count(1)?;
        self.take(n)
    }

    fn layout(&mut self) -> Result<(CString, usize, Vec<usize>), WireError> {
        let format = self.blob()?;
        if format.is_empty()
            || format.len() > MAX_FORMAT
            || !format.iter().all(|c| c.is_ascii_graphic())
        {
            return bad("invalid buffer format");
        }
        let format = CString::new(format).map_err(|_| WireError("invalid buffer format".into()))?;
        let itemsize = self.u64()?;
        let ndim = self.u64()?;
        if ndim > MAX_NDIM as u64 {
            return bad("buffer with too many dimensions");
        }
        let mut shape = Vec::with_capacity(ndim as usize);
        for _ in 0..ndim {
            shape.push(usize::try_from(self.u64()?).map_err(|_| WireError("dim".into()))?);
        }
        let itemsize = usize::try_from(itemsize).map_err(|_| WireError("itemsize".into()))?;
        Ok((format, itemsize, shape))
    }

    fn buffer(&mut self) -> Result<BufferData, WireError> {
        let (format, itemsize, shape) = self.layout()?;
        let Some(bytes) = self.frames.get_mut(self.next_frame).and_then(Option::take) else {
            return bad("missing buffer frame");
        };
        self.next_frame += 1;
        let Some(layout) = Layout::new(&format, itemsize, &shape, bytes.len()) else {
            return bad("buffer layout does not match its frame's size");
        };
        Ok(BufferData { bytes, layout })
    }

    fn top(&mut self) -> Result<Item, WireError> {
        if self.body.first() == Some(&tag::WITH_BUFFERS) {
            self.pos += 1;
            let n = self.count(1)?;
            let mut buffers = Vec::new();
            for _ in 0..n {
                buffers.push(self.buffer()?);
            }
            self.moved = vec![false; n];
            let inner = self.item()?;
            return Ok(Item::WithBuffers(Box::new((inner, buffers.into()))));
        }
        self.item()
    }

    fn items(&mut self, hashable: bool) -> Result<Box<[Item]>, WireError> {
        let n = self.count(1)?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let item = self.item()?;
            if hashable && !is_hashable(&item) {
                return bad("unhashable set element");
            }
            items.push(item);
        }
        Ok(items.into())
    }

    fn item(&mut self) -> Result<Item, WireError> {
        if self.depth >= MAX_DEPTH {
            return bad(format!("containers nested more than {MAX_DEPTH} deep"));
        }
        self.depth += 1;
        let item = self.item_inner();
        self.depth -= 1;
        item
    }

    fn item_inner(&mut self) -> Result<Item, WireError> {
        Ok(match self.u8()? {
            tag::NONE => Item::None,
            tag::FALSE => Item::Bool(false),
            tag::TRUE => Item::Bool(true),
            tag::INT => Item::Int(self.u64()? as i64),
            tag::BIGINT => {
                let text = self.blob()?;
                if !is_hex_int(text) {
                    return bad("invalid big int text");
                }
                Item::BigInt(String::from_utf8_lossy(text).into())
            }
            tag::FLOAT => Item::Float(self.f64()?),
            tag::COMPLEX => Item::Complex(self.f64()?, self.f64()?),
            tag::STR => match std::str::from_utf8(self.blob()?) {
                Ok(s) => Item::Str(s.into()),
                Err(_) => return bad("invalid UTF-8 in str"),
            },
            tag::STR_SURROGATES => {
                let b = self.blob()?;
                if !is_utf8_with_surrogates(b) {
                    return bad("invalid text in str");
                }
                Item::StrSurrogates(b.into())
            }
            tag::BYTES => Item::Bytes(self.blob()?.into()),
            tag::PICKLED => Item::Pickled(self.blob()?.into()),
            tag::TUPLE => Item::Tuple(self.items(false)?),
            tag::LIST => Item::List(self.items(false)?),
            tag::SET => Item::Set(self.items(true)?),
            tag::FROZENSET => Item::FrozenSet(self.items(true)?),
            tag::DICT => {
                let n = self.count(2)?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.item()?;
                    if !is_hashable(&k) {
                        return bad("unhashable dict key");
                    }
                    let v = self.item()?;
                    pairs.push((k, v));
                }
                Item::Dict(pairs.into())
            }
            tag::BUFFER => Item::Buffer(Box::new(self.buffer()?)),
            tag::BUFFER_AT => {
                let i = usize::try_from(self.u64()?).unwrap_or(usize::MAX);
                match self.moved.get_mut(i) {
                    Some(used @ false) => *used = true,
                    _ => return bad("moved buffer index out of range or named twice"),
                }
                Item::BufferAt(i)
            }
            tag::WITH_BUFFERS => return bad("nested buffer table"),
            t => return bad(format!("unknown item tag {t:#04x}")),
        })
    }
}

/// Whether the receiver can use `item` as a dict key or set element. Pickled objects are let
/// through (the receiver's unpickling decides); mutable containers and buffers are not.
fn is_hashable(item: &Item) -> bool {
    match item {
        Item::Tuple(items) => items.iter().all(is_hashable),
        Item::List(_)
        | Item::Dict(_)
        | Item::Set(_)
        | Item::Buffer(_)
        | Item::BufferAt(_)
        | Item::WithBuffers(_) => false,
        _ => true,
    }
}

/// `[-]0x<hex digits>`, as `int(text, 16)` reads it.
fn is_hex_int(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let digits = digits.strip_prefix(b"0x").unwrap_or(digits);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_hexdigit)
}

/// UTF-8 in which encoded surrogates (`ED A0..BF 80..BF`) are also allowed, as Python's
/// "surrogatepass" error handler reads it.
fn is_utf8_with_surrogates(mut b: &[u8]) -> bool {
    loop {
        match std::str::from_utf8(b) {
            Ok(_) => return true,
            Err(e) => {
                let rest = &b[e.valid_up_to()..];
                match rest {
                    [0xED, 0xA0..=0xBF, 0x80..=0xBF, ..] => b = &rest[3..],
                    _ => return false,
                }
            }
        }
    }
}

mod batch;
pub use batch::{item_frames, Alone, Batch};

#[cfg(test)]
mod tests;
