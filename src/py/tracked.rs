//! Every live handle, with the interpreter that holds it, so that `_close_all()` can close them
//! all when that interpreter exits (waking calls blocked on their channels in other interpreters).

use std::sync::{Arc, Mutex, Weak};

use pyo3_ffi::*;

use crate::core::handle::End;
use crate::core::Handle;

/// A handle that can be closed from the registry.
trait Closable: Send + Sync {
    fn close_now(&self) -> bool;
}

impl<E: End + Send + Sync> Closable for Handle<E> {
    fn close_now(&self) -> bool {
        self.close()
    }
}

struct Tracked {
    /// (interpreter id, handle); dead entries are pruned as the list grows.
    entries: Vec<(i64, Weak<dyn Closable>)>,
    /// Prune when the list reaches this length.
    prune_at: usize,
}

static TRACKED: Mutex<Tracked> = Mutex::new(Tracked {
    entries: Vec::new(),
    prune_at: 64,
});

fn tracked() -> std::sync::MutexGuard<'static, Tracked> {
    // Each update is a push or a retain, consistent even if a panic poisoned the lock.
    TRACKED.lock().unwrap_or_else(|p| p.into_inner())
}

/// The id of the interpreter the calling thread is attached to.
fn current_interpreter() -> i64 {
    // SAFETY: every caller runs attached to an interpreter (see the module docs of `py`).
    unsafe { PyInterpreterState_GetID(PyInterpreterState_Get()) }
}

/// Records `handle` as held by the calling thread's interpreter.
pub fn track<E: End + Send + Sync + 'static>(handle: &Arc<Handle<E>>) {
    let weak: Weak<dyn Closable> = Arc::downgrade(handle) as Weak<dyn Closable>;
    let interp = current_interpreter();
    let mut t = tracked();
    if t.entries.len() >= t.prune_at {
        t.entries.retain(|(_, w)| w.strong_count() > 0);
        t.prune_at = (t.entries.len() * 2).max(64);
    }
    t.entries.push((interp, weak));
}

/// Closes every open handle of the calling thread's interpreter; returns how many were open.
pub fn close_all() -> usize {
    let interp = current_interpreter();
    let handles: Vec<Arc<dyn Closable>> = {
        let mut t = tracked();
        t.entries.retain(|(_, w)| w.strong_count() > 0);
        t.entries
            .iter()
            .filter(|(i, _)| *i == interp)
            .filter_map(|(_, w)| w.upgrade())
            .collect()
    };
    // Closed outside the registry lock: closing wakes other threads, which may make handles.
    handles.iter().filter(|h| h.close_now()).count()
}

thread_local! {
    /// The registry's lock, held by the forking thread across `fork()` ([`before_fork`]).
    static HELD: std::cell::RefCell<Option<std::sync::MutexGuard<'static, Tracked>>> =
        const { std::cell::RefCell::new(None) };
}

/// Before `fork()`: takes the registry's lock (a leaf lock: nothing else is taken under it), so
/// that the child never inherits it held by a thread that does not exist there.
pub fn before_fork() {
    let guard = tracked();
    HELD.with(|held| *held.borrow_mut() = Some(guard));
}

/// After `fork()` in the parent: releases the lock.
pub fn after_fork_in_parent() {
    let guard = HELD.with(|held| held.borrow_mut().take());
    drop(guard);
}

/// After `fork()` in the child: the inherited handles are closed there and never used, so the
/// registry starts empty; then releases the lock.
pub fn after_fork_in_child() {
    let guard = HELD.with(|held| held.borrow_mut().take());
    if let Some(mut t) = guard {
        // Forgotten, not dropped: a Weak's allocation belongs to the parent's handles.
        std::mem::forget(std::mem::take(&mut t.entries));
        t.prune_at = 64;
    }
}
