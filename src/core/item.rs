//! `Item`: what travels through a channel. Plain Rust data, never a Python object.

use std::sync::Arc;

use super::buffer::BufferData;
use super::channel::{RecvEnd, SendEnd};

/// One value in flight. The binding turns a Python object into an `Item` when it is sent and
/// builds fresh objects from it in the receiving interpreter.
///
/// ```
/// use interpchan::core::Item;
/// let item = Item::Tuple(vec![Item::Int(1), Item::Str("two".into())].into());
/// assert!(matches!(item, Item::Tuple(ref t) if t.len() == 2));
/// ```
#[derive(Debug)]
pub enum Item {
    None,
    Bool(bool),
    /// An `int` that fits in 64 bits.
    Int(i64),
    /// Any other `int`, as the hexadecimal text `int(x, 16)` reads back (power-of-two bases
    /// convert in linear time and are not limited by `sys.set_int_max_str_digits`).
    BigInt(Box<str>),
    Float(f64),
    Complex(f64, f64),
    Str(Box<str>),
    /// A `str` holding lone surrogates: its UTF-8 bytes with surrogates passed through.
    StrSurrogates(Box<[u8]>),
    Bytes(Box<[u8]>),
    Tuple(Box<[Item]>),
    List(Box<[Item]>),
    Dict(Box<[(Item, Item)]>),
    Set(Box<[Item]>),
    FrozenSet(Box<[Item]>),
    Sender(Arc<SendEnd>),
    Receiver(Arc<RecvEnd>),
    Buffer(Box<BufferData>),
    /// Anything else, as a protocol-5 pickle.
    Pickled(Box<[u8]>),
    /// A pickle that met channel handles or Buffers inside the object (a Sender inside a
    /// dataclass, say), with what it met, so that they travel as in a tuple.
    PickledCarrying(Box<CarryingPickle>),
}

/// A pickle and what it carries beside it.
#[derive(Debug)]
pub struct CarryingPickle {
    pub data: Box<[u8]>,
    /// `Item::Sender` / `Item::Receiver` for the handles the pickle names (by reference): held
    /// here, their ends live until the pickle is loaded.
    pub handles: Box<[Item]>,
    /// `Item::Buffer`s for the Buffers the pickle names (by index), moved like any Buffer.
    pub buffers: Box<[Item]>,
}

impl Item {
    /// Visits, depth first, every buffer whose bytes were moved out of a `Buffer` object.
    /// The binding fills these in after conversion, and takes them back if a send fails.
    ///
    /// ```
    /// use interpchan::core::{BufferData, Item};
    /// let moved = Item::Buffer(Box::new(BufferData::moved(vec![1u8, 2].into())));
    /// let copied = Item::Buffer(Box::new(BufferData::bytes(vec![3u8].into())));
    /// let mut item = Item::List(vec![copied, moved].into());
    /// let mut seen = Vec::new();
    /// item.visit_moved_buffers(&mut |data| seen.push(data.bytes.to_vec()));
    /// assert_eq!(seen, vec![vec![1u8, 2]]);
    /// ```
    pub fn visit_moved_buffers(&mut self, f: &mut dyn FnMut(&mut BufferData)) {
        match self {
            Item::Buffer(data) if data.moved => f(data),
            Item::Tuple(items) | Item::List(items) | Item::Set(items) | Item::FrozenSet(items) => {
                for item in items.iter_mut() {
                    item.visit_moved_buffers(f);
                }
            }
            Item::Dict(pairs) => {
                for (key, value) in pairs.iter_mut() {
                    key.visit_moved_buffers(f);
                    value.visit_moved_buffers(f);
                }
            }
            Item::PickledCarrying(pickle) => {
                for item in pickle.buffers.iter_mut() {
                    item.visit_moved_buffers(f);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_stays_small() {
        assert!(std::mem::size_of::<Item>() <= 24);
    }

    #[test]
    fn moved_buffers_come_back_in_depth_first_order() {
        let buf = |b: u8| Item::Buffer(Box::new(BufferData::moved(vec![b].into())));
        let item = Item::Dict(
            vec![
                (
                    Item::Int(0),
                    Item::Tuple(vec![buf(1), Item::None, buf(2)].into()),
                ),
                (Item::Str("k".into()), buf(3)),
            ]
            .into(),
        );
        let mut item = item;
        let mut back = Vec::new();
        item.visit_moved_buffers(&mut |data| back.push(data.take().bytes[0]));
        assert_eq!(back, vec![1, 2, 3]);
    }
}
