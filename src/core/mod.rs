//! The pure-Rust core of interpchan: channels, items, buffers and the process-wide registry. No Python here.
//!
//! Everything in this module is safe Rust (`unsafe` is forbidden here; it lives in the binding,
//! `src/py/`), so `cargo test` exercises it without an interpreter.
//!
//! ```
//! use interpchan::core::{channel, Handle, Item};
//!
//! let (tx, rx) = channel(Some(1));
//! let (tx, rx) = (Handle::new(tx), Handle::new(rx));
//! tx.try_send(Item::Int(7)).unwrap();
//! assert!(matches!(rx.try_recv(), Ok(Item::Int(7))));
//! ```

#![forbid(unsafe_code)]

#[cfg(feature = "bridge")]
pub mod bridge;
pub mod buffer;
pub mod channel;
pub mod collect;
pub mod drop_later;
pub mod fork;
pub mod handle;
pub mod item;
pub mod notify;
pub mod parcel;
pub mod registry;
pub mod select;
pub mod shared;
pub mod spin;
pub mod wire;

pub use buffer::{live_buffers, BufferData, Bytes, ForeignBytes, Layout, LiveBuffer};
pub use channel::{channel, try_channel, ChannelInfo, OutOfMemory, RecvEnd, SendEnd};
pub use handle::{Failure, Handle, RecvFailure, SendFailure};
pub use item::{CarryingPickle, Item};
pub use registry::{EndRef, LookupError};
pub use select::{select, try_select, SelectFailure};
pub use shared::Shared;
