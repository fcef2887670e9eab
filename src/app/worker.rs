//! Background threads that cannot take the app down with them.
//!
//! [`Worker::spawn`] starts a named thread that runs a closure under `catch_unwind`;
//! the closure's value, or the message of the panic that ended it, comes back over
//! a channel, and [`Worker::poll`] answers [`Poll::Pending`], [`Poll::Done`] or
//! [`Poll::Crashed`] without blocking. A thread that ends without sending anything
//! (its channel disconnects) reads as `Crashed` too, so a dead worker is never
//! mistaken for a slow one. Every app job (dataset loading, file dialogs, exports)
//! and the `mvc-tsne` thread run through it.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, TryRecvError, bounded};

/// What a [`Worker`] has to say.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll<T> {
    /// Still running.
    Pending,
    /// Finished with this value.
    Done(T),
    /// Panicked (the panic's message) or ended without a result.
    Crashed(String),
}

/// The kinds of background job, for messages and the crash test hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Loader,
    FileDialog,
    Export,
    Tsne,
    Trainer,
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Loader => "dataset loader",
            Self::FileDialog => "file dialog",
            Self::Export => "export",
            Self::Tsne => "t-SNE worker",
            Self::Trainer => "trainer",
        })
    }
}

/// The message a job armed with the crash test hook panics with.
pub const INJECTED_CRASH: &str = "injected crash (test hook)";

/// Panics with [`INJECTED_CRASH`] (the crash test hook).
pub fn injected_crash() -> ! {
    std::panic::panic_any(INJECTED_CRASH)
}

/// A named thread running one closure; see the module docs.
pub struct Worker<T> {
    rx: Receiver<Result<T, String>>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts `work` on a thread called `name`; `wake` runs on that thread once the
    /// result (or the crash) has been sent, e.g. to request a repaint.
    pub fn spawn(
        name: &str,
        work: impl FnOnce() -> T + Send + 'static,
        wake: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = bounded(1);
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(work)).map_err(|payload| panic_message(payload.as_ref()));
            // A receiver that is gone no longer wants the result.
            tx.send(outcome).ok();
            wake();
        })?;
        Ok(Self { rx, thread: Some(thread) })
    }
}

impl<T> Worker<T> {
    /// The result, if there is one (never blocks). Once it has answered `Done` or
    /// `Crashed` the worker is spent: drop it.
    pub fn poll(&mut self) -> Poll<T> {
        match self.rx.try_recv() {
            Ok(outcome) => {
                // The thread has sent its last word: joining waits for `wake` at most.
                if let Some(t) = self.thread.take() {
                    t.join().ok();
                }
                match outcome {
                    Ok(v) => Poll::Done(v),
                    Err(why) => Poll::Crashed(why),
                }
            }
            Err(TryRecvError::Empty) => Poll::Pending,
            Err(TryRecvError::Disconnected) => Poll::Crashed(self.exit_reason()),
        }
    }

    /// Waits for the result (blocks: tests, and joining a thread asked to stop).
    pub fn wait(mut self) -> Poll<T> {
        match self.rx.recv() {
            Ok(Ok(v)) => Poll::Done(v),
            Ok(Err(why)) => Poll::Crashed(why),
            Err(_) => Poll::Crashed(self.exit_reason()),
        }
    }

    /// Why a thread whose channel disconnected without a result ended.
    fn exit_reason(&mut self) -> String {
        // The sender is dropped only as the thread ends, so this join is short.
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(payload)) => panic_message(payload.as_ref()),
            _ => "it stopped without a result".into(),
        }
    }
}

pub use crate::panic::message as panic_message;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    fn poll_until<T>(w: &mut Worker<T>) -> Poll<T> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match w.poll() {
                Poll::Pending => {
                    assert!(Instant::now() < deadline, "the worker never answered");
                    std::thread::sleep(Duration::from_millis(2));
                }
                other => return other,
            }
        }
    }

    #[test]
    fn a_result_comes_back_and_wakes() {
        let woken = Arc::new(AtomicBool::new(false));
        let w2 = Arc::clone(&woken);
        let mut w = Worker::spawn("mvc-test-ok", || 6 * 7, move || w2.store(true, Ordering::SeqCst)).unwrap();
        assert_eq!(poll_until(&mut w), Poll::Done(42));
        assert!(woken.load(Ordering::SeqCst));
    }

    #[test]
    fn the_thread_is_named() {
        let w = Worker::spawn("mvc-test-name", || std::thread::current().name().map(str::to_owned), || {}).unwrap();
        assert_eq!(w.wait(), Poll::Done(Some("mvc-test-name".to_owned())));
    }

    #[test]
    fn a_panic_is_a_crash_with_its_message() {
        let woken = Arc::new(AtomicBool::new(false));
        let w2 = Arc::clone(&woken);
        let mut w: Worker<u32> =
            Worker::spawn("mvc-test-panic", || panic!("bad row {}", 7), move || w2.store(true, Ordering::SeqCst))
                .unwrap();
        assert_eq!(poll_until(&mut w), Poll::Crashed("bad row 7".into()));
        // The crash still wakes the UI.
        assert!(woken.load(Ordering::SeqCst));
        let w: Worker<u32> = Worker::spawn("mvc-test-panic", || -> u32 { injected_crash() }, || {}).unwrap();
        assert_eq!(w.wait(), Poll::Crashed(INJECTED_CRASH.into()));
    }

    #[test]
    fn a_thread_gone_without_a_result_is_a_crash() {
        // A thread that drops the sender by dying (as a worker without `catch_unwind` would).
        let (tx, rx) = bounded::<Result<u32, String>>(1);
        let thread = std::thread::Builder::new()
            .name("mvc-test-gone".into())
            .spawn(move || {
                let _tx = tx;
                panic!("died holding the sender");
            })
            .unwrap();
        let mut w = Worker { rx, thread: Some(thread) };
        assert_eq!(poll_until(&mut w), Poll::Crashed("died holding the sender".into()));

        let (tx, rx) = bounded::<Result<u32, String>>(1);
        let thread = std::thread::Builder::new().name("mvc-test-gone".into()).spawn(move || drop(tx)).unwrap();
        let w = Worker { rx, thread: Some(thread) };
        assert_eq!(w.wait(), Poll::Crashed("it stopped without a result".into()));
    }

    #[test]
    fn payloads_without_text_have_a_message() {
        assert_eq!(panic_message(&42_u8), "a panic without a message");
        assert_eq!(panic_message(&String::from(" padded\n")), "padded");
    }
}
