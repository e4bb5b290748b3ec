//! Dropping without recursion: items that hold channel ends are dropped by a loop, not by nesting.
//!
//! Dropping the last handle on a channel drops the items still queued in it; an item can hold
//! the Receiver of a second channel, whose queue holds the Receiver of a third, and so on. Left
//! to Rust's drop glue this recurses once per link, so a long enough chain overflows any thread's
//! stack. Here every item that holds a channel end is dropped through [`drop_item`]: the
//! outermost call on a thread drops it and then loops over a thread-local list, and a call made
//! while that one runs (by the drop it is doing) only appends its item to the list. The stack
//! never holds more than one link, whatever the chain's length; containers inside such items are
//! taken apart the same way, so their depth costs no stack either.

use std::cell::RefCell;

use super::item::Item;

thread_local! {
    /// `Some` while a [`drop_item`] runs on this thread: the items it still has to drop.
    static PENDING: RefCell<Option<Vec<Item>>> = const { RefCell::new(None) };
}

/// Drops `item` and everything it holds without recursing through the channels it holds.
///
/// ```
/// use interpchan::core::{channel, drop_later::drop_item, Handle, Item};
/// // A chain of 10 000 channels, each holding the next one's Receiver.
/// let (first_tx, first_rx) = channel(None);
/// let mut tx = Handle::new(first_tx);
/// for _ in 0..10_000 {
///     let (next_tx, next_rx) = channel(None);
///     tx.try_send(Item::Receiver(next_rx)).unwrap();
///     tx = Handle::new(next_tx);
/// }
/// drop_item(Item::Receiver(first_rx)); // a loop, not 10 000 nested drops
/// ```
pub fn drop_item(item: Item) {
    let mut item = Some(item);
    let outermost = PENDING
        .try_with(|pending| {
            let mut pending = pending.borrow_mut();
            match pending.as_mut() {
                Some(list) => {
                    list.extend(item.take());
                    false
                }
                None => {
                    *pending = Some(Vec::new());
                    true
                }
            }
        })
        // This thread's locals are being destroyed: drop it in place (it may recurse).
        .unwrap_or(false);
    let Some(first) = item else { return };
    if !outermost {
        drop(first);
        return;
    }
    let _done = Reset;
    take_apart(first);
    while let Some(next) = PENDING.with(|pending| pending.borrow_mut().as_mut()?.pop()) {
        take_apart(next);
    }
}

/// Drops `item`, moving the items of a container onto the pending list instead of dropping them
/// in a nested call. Only called by the outermost [`drop_item`], so the list exists.
fn take_apart(item: Item) {
    let push = |items: Box<[Item]>| {
        let mut items = items.into_vec();
        // Items that hold no items (numbers, strings, ends...) are dropped here, in place: only
        // containers go on the pending list. A list of 10 000 ints is then one pass, not 10 000
        // pushes and pops of the thread's list.
        items.retain(holds_items);
        if items.is_empty() {
            return;
        }
        PENDING.with(|pending| {
            if let Some(list) = pending.borrow_mut().as_mut() {
                list.extend(items);
            }
        })
    };
    match item {
        Item::Tuple(items) | Item::List(items) | Item::Set(items) | Item::FrozenSet(items) => {
            push(items)
        }
        Item::Dict(pairs) => push(
            pairs
                .into_vec()
                .into_iter()
                .flat_map(|(key, value)| [key, value])
                .collect(),
        ),
        Item::WithBuffers(parts) => {
            let (item, buffers) = *parts;
            drop(buffers);
            push(vec![item].into());
        }
        Item::PickledCarrying(pickle) => push(pickle.handles),
        // Dropping an end may drop a whole channel's queue: its items come back here.
        other => drop(other),
    }
}

/// Whether dropping `item` drops other items (so a nested drop could recurse): containers.
/// Dropping an end may drop a channel's queue, whose items come back through [`drop_item`].
fn holds_items(item: &Item) -> bool {
    matches!(
        item,
        Item::Tuple(_)
            | Item::List(_)
            | Item::Set(_)
            | Item::FrozenSet(_)
            | Item::Dict(_)
            | Item::WithBuffers(_)
            | Item::PickledCarrying(_)
    )
}

/// Ends the outermost call's turn, even if a drop panicked.
struct Reset;

impl Drop for Reset {
    fn drop(&mut self) {
        let _ = PENDING.try_with(|pending| pending.borrow_mut().take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{channel, registry, Handle};
    use std::thread;

    /// A chain of `links` channels, each holding the next one's Receiver; returns the head.
    fn chain(links: usize, capacity: Option<usize>) -> Item {
        let (first_tx, first_rx) = channel(capacity);
        let mut tx = Handle::new(first_tx);
        for _ in 0..links {
            let (next_tx, next_rx) = channel(capacity);
            tx.try_send(Item::Tuple(vec![Item::Receiver(next_rx)].into()))
                .unwrap();
            tx = Handle::new(next_tx);
        }
        Item::Receiver(first_rx)
    }

    #[test]
    fn a_long_chain_drops_in_a_thread_with_a_small_stack() {
        let before = registry::live_channels();
        for capacity in [None, Some(1)] {
            let head = chain(100_000, capacity);
            thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || drop(head))
                .unwrap()
                .join()
                .unwrap();
        }
        // Other tests run in parallel: only check that this test's 200 002 channels are gone.
        assert!(registry::live_channels() < before + 1000);
    }

    #[test]
    fn deep_containers_drop_without_recursion() {
        let mut item = Item::Receiver(channel(None).1);
        for _ in 0..100_000 {
            item = Item::List(vec![Item::None, item].into());
        }
        thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(move || drop_item(item))
            .unwrap()
            .join()
            .unwrap();
    }
}
