//! The bridge to the data-plane thread: one OS thread with a current-thread tokio runtime, where
//! the device, its sockets and netlink live (and so the network namespace of the thread that
//! started it); the backend's methods hand work to it from any runtime and await the result.

use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::wg::DataPlaneError;

/// Upper bound for the teardown that dropping the backend runs (and waits for).
pub(super) const DROP_TEARDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The running thread. Dropping it signals the thread to stop and waits, bounded, for it.
pub(super) struct Bridge {
    runtime: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bridge {
    /// Starts the thread running `body`, which gets the stop signal (a dropped sender means the
    /// same as a stop) and should return once it has cleaned up.
    pub fn start<F, Fut>(body: F) -> Result<Bridge, DataPlaneError>
    where
        F: FnOnce(oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DataPlaneError::io("starting the data-plane runtime", e))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("weft-wg".to_owned())
            .spawn(move || {
                runtime.block_on(body(stopped));
                // The runtime is dropped here, on its own thread, outside any async context.
            })
            .map_err(|e| DataPlaneError::io("starting the data-plane thread", e))?;
        Ok(Bridge {
            runtime: handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Runs `work` on the data-plane thread and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, DataPlaneError>> + Send + 'static,
    ) -> Result<T, DataPlaneError> {
        match self.runtime.spawn(work).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(DataPlaneError::failed(
                what,
                "the data-plane thread panicked",
            )),
            Err(_) => Err(DataPlaneError::failed(
                what,
                "the data-plane thread has stopped",
            )),
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Wait (bounded) for the teardown so the interface and socket are gone when drop returns;
        // the thread needs nothing from the caller's runtime, so blocking here cannot deadlock.
        if let Some(thread) = self.thread.take() {
            let deadline =
                std::time::Instant::now() + DROP_TEARDOWN_TIMEOUT + Duration::from_secs(1);
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}
