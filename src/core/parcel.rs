//! `Parcel`: an item as it waits in a channel, with which kinds of channel end it holds.

use std::mem;

use super::channel::ChannelInfo;
use super::collect;
use super::drop_later::drop_item;
use super::item::Item;

/// Which kinds of channel end an item holds (anywhere inside it).
///
/// ```
/// use interpchan::core::{channel, parcel::Ends, Item};
/// let (tx, _rx) = channel(None);
/// let item = Item::List(vec![Item::Int(1), Item::Sender(tx)].into());
/// assert_eq!(Ends::of(&item), Ends { senders: true, receivers: false });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ends {
    pub senders: bool,
    pub receivers: bool,
}

impl Ends {
    /// Walks `item` (containers included) for the ends it holds. Every sent item is walked once,
    /// so this is a tight loop (no callback) that only descends into containers: about a
    /// nanosecond per element, next to tens for converting that element from Python.
    pub fn of(item: &Item) -> Ends {
        let mut ends = Ends::default();
        ends.add(item);
        ends
    }

    fn add(&mut self, item: &Item) {
        match item {
            Item::Sender(_) => self.senders = true,
            Item::Receiver(_) => self.receivers = true,
            Item::Tuple(items) | Item::List(items) | Item::Set(items) | Item::FrozenSet(items) => {
                for item in items.iter() {
                    self.add(item);
                }
            }
            Item::Dict(pairs) => {
                for (key, value) in pairs.iter() {
                    self.add(key);
                    self.add(value);
                }
            }
            // Exhaustive on purpose, as in [`Item::visit_ends`]: a new kind of item must say
            // whether it can hold ends.
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
            Item::WithBuffers(parts) => self.add(&parts.0),
            Item::PickledCarrying(pickle) => {
                for end in pickle.handles.iter() {
                    self.add(end);
                }
            }
        }
    }

    pub fn any(self) -> bool {
        self.senders || self.receivers
    }
}

/// An end found inside an item: Receivers with their channel id (what the cycle collector
/// indexes), Senders without.
pub enum EndIn {
    Sender,
    Receiver(u64),
}

/// An item in a channel's queue. Its ends are found once, when it is queued; an item that holds
/// none (the common case) costs nothing more. One that holds ends, or is a container, and is
/// dropped unreceived goes through [`drop_item`], so that dropping a channel that holds another,
/// or a deeply nested item, never recurses. One that holds
/// Receivers is counted in the cycle collector's index from the moment its sender announces it
/// (`count_in`) for exactly as long as the parcel exists: [`Parcel::unpack`] (the only
/// way to get the item out) and dropping it both uncount it. So the index never counts a
/// reference that no parcel holds any more, whatever path a parcel takes.
///
/// ```
/// use interpchan::core::{parcel::Parcel, Item};
/// let parcel = Parcel::new(Item::Int(3));
/// assert!(!parcel.ends().any());
/// assert!(matches!(parcel.unpack(), Item::Int(3)));
/// ```
#[derive(Debug)]
pub struct Parcel {
    item: Item,
    ends: Ends,
    /// The channel (id) whose index counts this parcel's Receivers; 0: none (ids start at 1).
    counted_in: u64,
}

impl Parcel {
    pub fn new(item: Item) -> Self {
        let ends = Ends::of(&item);
        Parcel {
            item,
            ends,
            counted_in: 0,
        }
    }

    pub fn item(&self) -> &Item {
        &self.item
    }

    pub fn ends(&self) -> Ends {
        self.ends
    }

    /// Counts this parcel's Receivers in `channel`'s index, before it is offered to that
    /// channel's queue. True when a collection is due (run it once the parcel is queued, with no
    /// lock held). Nothing to do for a parcel that holds no Receiver.
    pub(crate) fn count_in(&mut self, channel: &ChannelInfo) -> bool {
        if !self.ends.receivers {
            return false;
        }
        debug_assert_eq!(self.counted_in, 0, "a parcel is announced once");
        self.counted_in = channel.id;
        collect::queued(channel, &self.item)
    }

    fn uncount(&mut self) {
        if self.counted_in != 0 {
            collect::unqueued(self.counted_in, &self.item);
            self.counted_in = 0;
        }
    }

    /// The item, uncounted from the index it was counted in. A receiver calls this while it
    /// still holds the channel's Receiver (which keeps the channel a root meanwhile).
    pub fn unpack(mut self) -> Item {
        self.uncount();
        self.ends = Ends::default();
        mem::replace(&mut self.item, Item::None)
    }
}

impl Drop for Parcel {
    fn drop(&mut self) {
        self.uncount();
        // Containers too, even without ends: an item sent from a thread with a large stack can
        // be nested up to the binding's depth limit, and the thread that drops it (closing the
        // channel's last Receiver, say) may have a small stack, too small for the drop glue's
        // recursion (some hundreds of bytes a level in an unoptimised build).
        let nested = matches!(
            self.item,
            Item::Tuple(_)
                | Item::List(_)
                | Item::Dict(_)
                | Item::Set(_)
                | Item::FrozenSet(_)
                | Item::WithBuffers(_)
        );
        if self.ends.any() || nested {
            drop_item(mem::replace(&mut self.item, Item::None));
        }
    }
}

impl From<Item> for Parcel {
    fn from(item: Item) -> Self {
        Parcel::new(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{channel, BufferData};

    #[test]
    fn the_fast_walk_agrees_with_visit_ends() {
        let (tx, rx) = channel(None);
        let items = [
            Item::Int(1),
            Item::Buffer(Box::new(BufferData::bytes(vec![1u8].into()))),
            Item::Pickled(vec![1u8].into()),
            Item::WithBuffers(Box::new((
                Item::List(vec![Item::BufferAt(0), Item::Receiver(rx.clone())].into()),
                vec![BufferData::bytes(vec![1u8].into())].into(),
            ))),
            Item::Sender(tx.clone()),
            Item::Receiver(rx.clone()),
            Item::Dict(vec![(Item::Int(1), Item::Set(vec![Item::Sender(tx)].into()))].into()),
            Item::FrozenSet(vec![Item::Tuple(vec![Item::Receiver(rx)].into())].into()),
        ];
        for item in &items {
            let mut slow = Ends::default();
            item.visit_ends(&mut |end| match end {
                EndIn::Sender => slow.senders = true,
                EndIn::Receiver(_) => slow.receivers = true,
            });
            assert_eq!(Ends::of(item), slow, "{item:?}");
        }
    }
}
