//! `Item`: what travels through a channel. Plain Rust data, never a Python object.

use std::sync::Arc;

use super::buffer::BufferData;
use super::channel::{RecvEnd, SendEnd};
use super::parcel::EndIn;
use super::shared::Shared;

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
    /// Bytes copied from an object with the buffer protocol.
    Buffer(Box<BufferData>),
    /// A `SharedBuffer`'s memory: one more holder of it, never a copy.
    Shared(Shared),
    /// Stands for the `index`th of the buffers carried beside it by the enclosing
    /// [`Item::WithBuffers`].
    BufferAt(usize),
    /// An item together with buffers it refers to by index ([`Item::BufferAt`]), as pickle
    /// protocol 5 carries out-of-band buffers beside the pickle. The binding sends memory moved
    /// out of `Buffer` objects this way, so that it can give each back to its object, by index,
    /// if the send fails. Only ever the outermost item.
    ///
    /// ```
    /// use interpchan::core::{BufferData, Item};
    /// let moved = vec![BufferData::bytes(vec![1u8, 2].into())];
    /// let item = Item::WithBuffers(Box::new((Item::List(vec![Item::BufferAt(0)].into()), moved.into())));
    /// let Item::WithBuffers(parts) = item else { unreachable!() };
    /// assert_eq!(&*parts.1[0].bytes, &[1u8, 2]);
    /// ```
    WithBuffers(Box<(Item, Box<[BufferData]>)>),
    /// Anything else, as a protocol-5 pickle.
    Pickled(Box<[u8]>),
    /// A pickle that named channel handles inside the object (a Sender inside a dataclass,
    /// say), with their ends, so that they travel as in a tuple. (Buffers moved by a pickle are
    /// carried by the enclosing [`Item::WithBuffers`], which the pickle names by index.)
    PickledCarrying(Box<CarryingPickle>),
}

/// A pickle and the channel ends it names.
#[derive(Debug)]
pub struct CarryingPickle {
    pub data: Box<[u8]>,
    /// `Item::Sender` / `Item::Receiver` for the handles the pickle names (by reference): held
    /// here, their ends live until the pickle is loaded.
    pub handles: Box<[Item]>,
}

impl Item {
    /// Visits every channel end inside this item, depth first. The match is exhaustive on
    /// purpose: a new kind of item must say whether it can hold ends (the cycle collector and the
    /// non-recursive drop rely on finding all of them). A loop over a list of the items still to
    /// visit, not recursion: the collector's index is updated through this wherever a parcel
    /// holding a Receiver is received or dropped, and that thread's stack may be far smaller
    /// than the sender's, which the item's depth was checked against.
    pub fn visit_ends(&self, f: &mut dyn FnMut(EndIn)) {
        let mut todo: Vec<&Item> = vec![self];
        while let Some(item) = todo.pop() {
            match item {
                Item::None
                | Item::Bool(_)
                | Item::Int(_)
                | Item::BigInt(_)
                | Item::Float(_)
                | Item::Complex(..)
                | Item::Str(_)
                | Item::StrSurrogates(_)
                | Item::Bytes(_)
                | Item::Buffer(_)
                | Item::BufferAt(_)
                | Item::Pickled(_)
                | Item::Shared(_) => {}
                Item::PickledCarrying(pickle) => todo.extend(pickle.handles.iter().rev()),
                Item::WithBuffers(parts) => todo.push(&parts.0),
                Item::Sender(_) => f(EndIn::Sender),
                Item::Receiver(end) => f(EndIn::Receiver(end.info.id)),
                // Pushed in reverse, so that they are visited in order.
                Item::Tuple(items)
                | Item::List(items)
                | Item::Set(items)
                | Item::FrozenSet(items) => todo.extend(items.iter().rev()),
                Item::Dict(pairs) => {
                    todo.extend(pairs.iter().rev().flat_map(|(key, value)| [value, key]))
                }
            }
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
    fn ends_are_visited_in_order_without_recursion() {
        let (tx, rx) = crate::core::channel(None);
        let mut item = Item::Dict(vec![(Item::Receiver(rx.clone()), Item::Sender(tx))].into());
        for _ in 0..100_000 {
            item = Item::List(vec![item, Item::Receiver(rx.clone())].into());
        }
        let item = std::sync::Arc::new(item);
        let seen = std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn({
                let item = item.clone();
                move || {
                    let mut seen = Vec::new();
                    item.visit_ends(&mut |end| {
                        seen.push(match end {
                            EndIn::Sender => 0,
                            EndIn::Receiver(_) => 1,
                        })
                    });
                    seen
                }
            })
            .unwrap()
            .join()
            .unwrap();
        // Depth first, in order: the innermost dict's Receiver and Sender, then each level's
        // Receiver from the inside out.
        assert_eq!(seen.len(), 100_002);
        assert_eq!(&seen[..3], &[1, 0, 1]);
        let item = std::sync::Arc::into_inner(item).unwrap();
        crate::core::drop_later::drop_item(item);
    }
}
