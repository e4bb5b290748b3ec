//! fork() handlers: in a child process, inherited channels are closed (see `core::fork`).

/// Registers the fork handlers, once per process (the first import of the module does it).
pub fn install() {
    #[cfg(unix)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: the three handlers are plain functions that live as long as the process
            // (the extension is never unloaded), take no arguments and touch only Rust state.
            // A failure (ENOMEM) leaves fork as it was: nothing to undo, nothing to report.
            unsafe {
                libc::pthread_atfork(Some(prepare), Some(parent), Some(child));
            }
        });
    }
}

#[cfg(unix)]
extern "C" fn prepare() {
    crate::core::fork::before_fork();
    super::tracked::before_fork();
}

#[cfg(unix)]
extern "C" fn parent() {
    super::tracked::after_fork_in_parent();
    crate::core::fork::after_fork_in_parent();
}

#[cfg(unix)]
extern "C" fn child() {
    super::tracked::after_fork_in_child();
    crate::core::fork::after_fork_in_child();
}
