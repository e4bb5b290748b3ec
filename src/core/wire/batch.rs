//! Batches (wire format version 2, kind 3): several buffer-free items of a stream in one message.
//!
//! A batch message is the 30-byte header (version byte 2, kind 3, the sequence number of its
//! first item) and one body frame: a little-endian u64 count, then per item a u64 length and
//! that many bytes of the item's body, encoded as in an item message. An item that carries
//! buffers (which travel as frames of their own) is never batched.

use super::{bad, decode_body, header, Bytes, Encoder, Item, WireError, KIND_BATCH, KIND_ITEM};

/// Items being gathered into one batch message, encoded as they are added.
///
/// ```
/// use interpchan::core::wire::{decode, Batch, Message};
/// use interpchan::core::Item;
/// let mut batch = Batch::new();
/// assert!(batch.push(Item::Int(1)).unwrap().is_none());
/// assert!(batch.push(Item::Str("two".into())).unwrap().is_none());
/// let frames = batch.take_frames([3u8; 16], 10);
/// let frames: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
/// let Message::Batch { first, items, .. } = decode(&frames).unwrap() else { panic!() };
/// assert_eq!((first, items.len()), (10, 2));
/// ```
#[derive(Debug, Default)]
pub struct Batch {
    /// The body frame being built: the count (filled in by `take_frames`), then the items.
    body: Vec<u8>,
    count: u64,
}

/// An item's encoding that cannot join a batch: its body and buffer frames.
pub type Alone = (Vec<u8>, Vec<Bytes>);

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch {
            body: vec![0; 8],
            count: 0,
        }
    }

    /// Items in the batch.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True if the batch holds no item.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the batch's body so far.
    pub fn bytes(&self) -> usize {
        self.body.len()
    }

    /// Encodes `item` into the batch: `None` once added; `Some((body, buffers))` for an item
    /// that carries buffers, which is not added and must go as an item message of its own.
    /// On an error the batch is as it was.
    pub fn push(&mut self, item: Item) -> Result<Option<Alone>, WireError> {
        if self.body.is_empty() {
            self.body.resize(8, 0);
        }
        let mark = self.body.len();
        self.body.extend_from_slice(&[0; 8]);
        let mut enc = Encoder {
            body: std::mem::take(&mut self.body),
            frames: Vec::new(),
        };
        let done = enc.item(item);
        self.body = enc.body;
        if let Err(e) = done {
            self.body.truncate(mark);
            return Err(e);
        }
        if !enc.frames.is_empty() {
            let body = self.body[mark + 8..].to_vec();
            self.body.truncate(mark);
            return Ok(Some((body, enc.frames)));
        }
        let len = (self.body.len() - mark - 8) as u64;
        self.body[mark..mark + 8].copy_from_slice(&len.to_le_bytes());
        self.count += 1;
        Ok(None)
    }

    /// The frames of the message carrying the batch's items, the first of which is item
    /// `first` of `stream` (a plain item message if there is one item); empties the batch.
    pub fn take_frames(&mut self, stream: [u8; 16], first: u64) -> Vec<Bytes> {
        let mut body = std::mem::take(&mut self.body);
        let count = std::mem::take(&mut self.count);
        if count == 1 {
            return vec![
                header(KIND_ITEM, stream, first).into(),
                body[16..].to_vec().into(),
            ];
        }
        body[..8].copy_from_slice(&count.to_le_bytes());
        vec![header(KIND_BATCH, stream, first).into(), body.into()]
    }
}

/// The frames of an item message from an item's body and buffer frames.
pub fn item_frames(stream: [u8; 16], seq: u64, (body, buffers): Alone) -> Vec<Bytes> {
    let mut frames = Vec::with_capacity(2 + buffers.len());
    frames.push(header(KIND_ITEM, stream, seq).into());
    frames.push(body.into());
    frames.extend(buffers);
    frames
}

/// Decodes a batch's body frame: every item checked as in an item message, none may name a
/// buffer frame, and the lengths must account for every byte.
pub(super) fn decode(body: &[u8]) -> Result<Vec<Item>, WireError> {
    let Some((count, mut rest)) = body.split_first_chunk::<8>() else {
        return bad("batch body shorter than its count");
    };
    let count = u64::from_le_bytes(*count);
    // Each item takes at least its length and one tag byte: no allocation beyond the frame.
    if count < 2 || count > (rest.len() / 9) as u64 {
        return bad(format!("batch count {count} does not fit its body"));
    }
    let mut items = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let Some((len, after)) = rest.split_first_chunk::<8>() else {
            return bad("batch truncated before an item's length");
        };
        let len = u64::from_le_bytes(*len);
        let Some(len) = usize::try_from(len).ok().filter(|&n| n <= after.len()) else {
            return bad("batch item longer than what is left");
        };
        let (item, after) = after.split_at(len);
        items.push(decode_body(item, Vec::new())?);
        rest = after;
    }
    if !rest.is_empty() {
        return bad("trailing bytes after the batch's items");
    }
    Ok(items)
}
