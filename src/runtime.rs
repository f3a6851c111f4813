//! The init's async runtime, and its one rule for blocking work.
//!
//! The init runs on one thread: a current-thread tokio runtime shared by the
//! reaper of PID 1, the DHCP clients that renew their leases and the
//! pipeline. Nothing may block that thread. The rule:
//!
//! - code that blocks (disk reads and writes, mount(2), waits for devices,
//!   pauses between tries) is plain synchronous code;
//! - async code runs it through [`blocking`], on tokio's blocking pool: each
//!   storage phase is one such call, and so is each mount or unmount of a
//!   volume's filesystem;
//! - synchronous code that needs an async helper (`process::run` for
//!   `mkfs.ext4`: the reaper delivers the exit status) calls it through
//!   [`block_on`];
//! - a system call that may never return (sync(2), umount(2) or swapoff(2)
//!   on a server that went away, mount(2) of one that does not answer) runs
//!   on a thread of its own through [`within`], which gives up waiting
//!   after a limit: the thread is left behind, the init goes on.

use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;

use tokio::runtime::{Handle, Runtime};

/// The init's runtime: one thread, with timers and I/O.
pub fn build() -> io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runs the blocking `work` on the blocking pool and waits for it without
/// holding the runtime's thread. An error when `work` panicked (the panic is
/// contained: the init goes on).
pub async fn blocking<T, F>(work: F) -> Result<T, tokio::task::JoinError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(work).await
}

/// Runs `future` to completion from synchronous code running on the
/// blocking pool (see [`blocking`]). An error outside a runtime, or when
/// called on the runtime's own thread (which would deadlock).
pub fn block_on<F: Future>(future: F) -> io::Result<F::Output> {
    let handle = Handle::try_current()
        .map_err(|e| io::Error::other(format!("no async runtime to run on: {e}")))?;
    // Handle::block_on panics on the runtime's own thread: contain it.
    std::panic::catch_unwind(AssertUnwindSafe(|| handle.block_on(future))).map_err(|_| {
        io::Error::other("internal error: blocking code ran on the async runtime's thread")
    })
}

/// `work` did not end within its limit (see [`within`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no answer within {} s", .0.as_secs())]
pub struct TimedOut(pub std::time::Duration);

/// Runs `work` on a new thread named `name` and waits at most `limit` for
/// it. On time, its result; otherwise [`TimedOut`], and the thread is left
/// to finish (or block) on its own. When no thread can be started, `work`
/// runs in place (unbounded, rather than not at all).
pub fn within<T, F>(name: &str, limit: std::time::Duration, work: F) -> Result<T, TimedOut>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (done, finished) = std::sync::mpsc::channel();
    // Shared so that the caller gets `work` back if the thread cannot start.
    let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(work)));
    let theirs = std::sync::Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let work = theirs.lock().ok().and_then(|mut w| w.take());
            if let Some(work) = work {
                let _ = done.send(work());
            }
        });
    if spawned.is_err() {
        let work = slot.lock().ok().and_then(|mut w| w.take());
        if let Some(work) = work {
            return Ok(work());
        }
    }
    finished.recv_timeout(limit).map_err(|_| TimedOut(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_work_can_run_async_helpers() {
        let rt = build().unwrap();
        let got = rt.block_on(async {
            blocking(|| block_on(async { 40 + 2 }))
                .await
                .unwrap()
                .unwrap()
        });
        assert_eq!(got, 42);
        // A panic in blocking work is an error, not the end of the init.
        let panicked = rt.block_on(blocking(|| -> u8 { panic!("boom") }));
        assert!(panicked.is_err());
    }

    #[test]
    fn work_on_a_thread_is_waited_for_with_a_limit() {
        use std::time::{Duration, Instant};
        assert_eq!(within("t", Duration::from_secs(10), || 7), Ok(7));
        let start = Instant::now();
        let stuck = within("stuck", Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(30));
        });
        assert_eq!(stuck, Err(TimedOut(Duration::from_millis(100))));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(
            TimedOut(Duration::from_secs(5)).to_string(),
            "no answer within 5 s"
        );
    }

    #[test]
    fn block_on_without_a_runtime_is_an_error() {
        assert!(block_on(async {}).is_err());
    }
}
