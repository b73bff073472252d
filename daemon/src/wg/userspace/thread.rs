//! The bridge to the data-plane thread: one OS thread driving the data plane's own tokio runtime
//! (current-thread, or multi-thread with [`worker_threads`] workers), where the device, its
//! sockets and netlink live (and so the network namespace of the thread that started it); the
//! backend's methods hand work to it from any runtime and await the result.

use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::wg::DataPlaneError;

/// Upper bound for the teardown that dropping the backend runs (and waits for).
pub(super) const DROP_TEARDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The environment variable that sets the data plane's worker threads (1 to [`MAX_THREADS`]).
pub const THREADS_ENV: &str = "WEFT_DATAPLANE_THREADS";

/// Most worker threads `WEFT_DATAPLANE_THREADS` may ask for.
pub const MAX_THREADS: usize = 8;

/// Worker threads by default on a machine with more than [`SMALL_MACHINE_CORES`] cores: the
/// device's outgoing loop (TUN read, encrypt, UDP send) and incoming loop (UDP receive, decrypt,
/// TUN write) can then run on two cores at once. Not measured here (the benchmark machine has two
/// cores).
pub const DEFAULT_THREADS: usize = 2;

/// Up to this many cores the data plane runs on one thread by default (a current-thread
/// runtime). Measured on 2 cores with the batched device loops (BENCHMARKS.md, issue 15 second
/// pass): one thread carried 1,811–2,188 Mbit/s on one TCP stream, 2,141–2,270 on four and
/// 2,033–2,101 from three peers into one, against 1,734–1,818, 1,600–1,868 and 1,653–1,751 with
/// two workers, at less CPU per Gbit/s (66–86 % of a core against 82–89 %) and less memory (hub
/// RSS 38 MiB against 52–54). Two workers hand every batch from thread to thread, and on a
/// machine this small the second worker competes with the node's own work for the other core.
pub const SMALL_MACHINE_CORES: usize = 2;

/// The default for a machine with `cores` cores (see [`SMALL_MACHINE_CORES`]).
fn default_threads(cores: usize) -> usize {
    if cores <= SMALL_MACHINE_CORES {
        1
    } else {
        DEFAULT_THREADS
    }
}

/// Worker threads of the data-plane runtime: [`THREADS_ENV`] when it holds 1 to [`MAX_THREADS`],
/// else the default for this machine's cores ([`default_threads`]). Packets of a flow keep their
/// order either way: each direction is one loop (one task) in the device.
pub fn worker_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=MAX_THREADS).contains(n))
        .unwrap_or_else(|| default_threads(cores))
}

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
        // Built here, so its worker threads (started now, from this thread) share this thread's
        // network namespace.
        let threads = worker_threads();
        let runtime = if threads == 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("weft-wg")
                .enable_all()
                .build()
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_machines_run_the_data_plane_on_one_thread() {
        for (cores, threads) in [(1, 1), (2, 1), (3, 2), (4, 2), (64, 2)] {
            assert_eq!(default_threads(cores), threads, "{cores} cores");
        }
    }
}
