//! The Python binding (pyo3-ffi): module definition, per-interpreter state, types and conversions.
//!
//! Everything here runs on a thread attached to an interpreter (holding its GIL) unless inside
//! `ffi::allow_threads`; `unsafe` blocks rely on that and say what else makes them sound.

mod alloc;
mod args;
mod async_methods;
mod async_waker;
mod blocking;
mod bridge;
mod buffer;
mod carry;
mod errors;
mod failure;
mod ffi;
mod fork;
mod from_item;
mod functions;
mod give_back;
mod handles;
mod layout;
mod methods;
mod module;
mod receiver;
mod reserve;
mod sender;
mod shared_buffer;
mod stack;
mod state;
mod to_item;
mod tracked;
mod view;
#[cfg(feature = "bridge")]
mod zmq_frame;

pub use module::MODULE_DEF;

/// Rust's allocations go through the system allocator with a reserve for low memory.
#[global_allocator]
static ALLOCATOR: reserve::WithReserve = reserve::WithReserve;
