//! `select`: wait on several receivers at once and take the first item that arrives, fairly.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel as cb;

use super::channel::RecvEnd;
use super::handle::Handle;
use super::item::Item;
use super::spin::spin;

/// Why `select` returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectFailure {
    /// Every receiver is closed, or disconnected and drained.
    AllClosed,
    /// The deadline passed first.
    Timeout,
    /// `try_select` found nothing ready.
    WouldBlock,
}

/// Waits until any of `handles` has an item (or the deadline passes; `None`: never) and returns
/// its index with the item. When several are ready, one is picked at random, so none starves.
/// Receivers that are closed, or disconnected and drained, are skipped.
///
/// ```
/// use interpchan::core::{channel, select, Handle, Item};
/// let (tx, rx) = channel(None);
/// let (_tx2, rx2) = channel(None);
/// let (rx, rx2) = (Handle::new(rx), Handle::new(rx2));
/// Handle::new(tx).try_send(Item::Int(3)).unwrap();
/// let (index, item) = select(&[&rx2, &rx], None).unwrap();
/// assert!(index == 1 && matches!(item, Item::Int(3)));
/// ```
pub fn select(
    handles: &[&Handle<RecvEnd>],
    deadline: Option<Instant>,
) -> Result<(usize, Item), SelectFailure> {
    let spins = handles.iter().all(|handle| handle.spins());
    let polled = spins.then(|| {
        spin(deadline, || match try_select(handles) {
            Err(SelectFailure::WouldBlock) => None,
            done => Some(done),
        })
    });
    if let Some(done) = polled.flatten() {
        return done;
    }
    run(handles, |sel| match deadline {
        None => Ok(sel.select()),
        Some(deadline) => sel
            .select_deadline(deadline)
            .map_err(|_| SelectFailure::Timeout),
    })
}

/// Like [`select`], without blocking: `WouldBlock` if no receiver has an item now.
pub fn try_select(handles: &[&Handle<RecvEnd>]) -> Result<(usize, Item), SelectFailure> {
    run(handles, |sel| {
        sel.try_select().map_err(|_| SelectFailure::WouldBlock)
    })
}

fn run(
    handles: &[&Handle<RecvEnd>],
    wait: impl for<'s> Fn(&mut cb::Select<'s>) -> Result<cb::SelectedOperation<'s>, SelectFailure>,
) -> Result<(usize, Item), SelectFailure> {
    let mut live: Vec<(usize, Arc<RecvEnd>)> = handles
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.end().map(|end| (i, end)))
        .collect();
    loop {
        if live.is_empty() {
            return Err(SelectFailure::AllClosed);
        }
        // Items given back to an end come before everything else.
        if let Some((index, item)) = live
            .iter()
            .find_map(|(i, end)| end.take_returned().map(|item| (*i, item)))
        {
            return Ok((index, item));
        }
        let mut sel = cb::Select::new();
        let recv_ops: Vec<usize> = live
            .iter()
            .map(|(i, end)| handles[*i].register(end, &mut sel))
            .collect();
        let oper = wait(&mut sel)?;
        let chosen = oper.index();
        // Each handle registered three operations: its channel, its close signal, then its
        // end's given-back signal.
        let slot = recv_ops
            .iter()
            .position(|&op| (op..op + 3).contains(&chosen))
            .expect("select returned an operation it was not given");
        let (index, end) = &live[slot];
        match chosen - recv_ops[slot] {
            0 => match oper.recv(&end.rx) {
                Ok(parcel) => {
                    end.taken();
                    return Ok((*index, parcel.unpack()));
                }
                // Disconnected: skip it from now on, unless an item was given back meanwhile.
                Err(_) => {
                    if let Some(item) = end.take_returned() {
                        return Ok((*index, item));
                    }
                }
            },
            1 => handles[*index].finish_close_signal(oper),
            _ => {
                // An item was given back: taken at the top of the loop, unless another
                // receive took it first.
                let _ = oper.recv(&end.returned_signal.1);
                continue;
            }
        }
        drop(sel);
        live.remove(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::channel;
    use std::time::Duration;

    #[test]
    fn skips_drained_receivers_and_reports_all_closed() {
        let (tx, rx) = channel(None);
        let rx = Handle::new(rx);
        Handle::new(tx).try_send(Item::Int(1)).unwrap(); // sender handle dropped: disconnected
        assert!(matches!(select(&[&rx], None), Ok((0, Item::Int(1)))));
        assert_eq!(select(&[&rx], None).unwrap_err(), SelectFailure::AllClosed);
    }

    #[test]
    fn times_out_when_nothing_arrives() {
        let (_tx, rx) = channel(None);
        let rx = Handle::new(rx);
        let deadline = Instant::now() + Duration::from_millis(5);
        assert_eq!(
            select(&[&rx], Some(deadline)).unwrap_err(),
            SelectFailure::Timeout
        );
    }

    #[test]
    fn ready_receivers_share_the_picks() {
        let (tx_a, rx_a) = channel(None);
        let (tx_b, rx_b) = channel(None);
        let (tx_a, tx_b) = (Handle::new(tx_a), Handle::new(tx_b));
        let (rx_a, rx_b) = (Handle::new(rx_a), Handle::new(rx_b));
        for _ in 0..1000 {
            tx_a.try_send(Item::None).unwrap();
            tx_b.try_send(Item::None).unwrap();
        }
        let mut picks = [0; 2];
        for _ in 0..1000 {
            picks[select(&[&rx_a, &rx_b], None).unwrap().0] += 1;
        }
        assert!(picks[0] > 300 && picks[1] > 300, "{picks:?}");
    }

    #[test]
    fn try_select_does_not_block() {
        let (tx, rx) = channel(None);
        let (tx, rx) = (Handle::new(tx), Handle::new(rx));
        assert_eq!(try_select(&[&rx]).unwrap_err(), SelectFailure::WouldBlock);
        tx.try_send(Item::Int(4)).unwrap();
        assert!(matches!(try_select(&[&rx]), Ok((0, Item::Int(4)))));
    }

    #[test]
    fn closed_handles_are_skipped() {
        let (_tx, rx) = channel(None);
        let rx = Handle::new(rx);
        rx.close();
        assert_eq!(select(&[&rx], None).unwrap_err(), SelectFailure::AllClosed);
    }
}
