//! The threads that serve connections: one single-threaded tokio runtime per core, each
//! owning the connections handed to it from accept to close.
//!
//! A connection's requests arrive one after another and share nothing with other
//! connections' but the served snapshot, so work stealing buys nothing here, and tokio's
//! multi-threaded scheduler charges for it on every wake-up: it times each batch of polls
//! (two clock reads and a `powf` to tune its global-queue interval) and keeps its queues
//! safe for thieves. A current-thread runtime per core does none of that (measured in
//! docs/performance.md). The cost is balance: a connection stays on the worker it was given,
//! so each new one goes to the worker serving the fewest at that moment — a few long-lived
//! proxy connections spread over all cores, many short ones even out.
//!
//! The workers have no time driver: every timer lives on the runtime that accepts
//! connections (see [`super::OnTimers`]).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The worker threads; dropping this stops them, dropping every connection they still hold.
pub struct Workers {
    workers: Vec<Worker>,
}

struct Worker {
    handle: Handle,
    /// Connections this worker holds (spawned and not yet ended).
    live: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts `n` worker threads (at least one), named `pacwarden-worker-N`.
    pub fn start(n: usize) -> std::io::Result<Workers> {
        let mut workers = Vec::with_capacity(n.max(1));
        for i in 0..n.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("pacwarden-worker-{i}"))
                .spawn(move || {
                    // Spawned connections run while this thread is inside `block_on`.
                    runtime.block_on(async move {
                        let _ = stopped.await;
                    });
                })?;
            workers.push(Worker {
                handle,
                live: Arc::new(AtomicUsize::new(0)),
                stop: Some(stop),
                thread: Some(thread),
            });
        }
        Ok(Workers { workers })
    }

    /// The number of workers: `TOKIO_WORKER_THREADS` when set (the variable tokio itself
    /// reads, kept so that existing deployments keep their setting), else one per core.
    pub fn count_from_env() -> Result<usize, String> {
        match std::env::var("TOKIO_WORKER_THREADS") {
            Ok(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!(
                    "TOKIO_WORKER_THREADS must be a positive number, not {v:?}"
                )),
            },
            Err(_) => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }

    /// How many worker threads serve connections.
    pub fn count(&self) -> usize {
        self.workers.len()
    }

    /// Runs `conn` on the worker holding the fewest connections (the first of equals). The
    /// choice and the count are not one atomic step; the accept loops all run on the main
    /// thread's runtime, one at a time, so no two choices interleave.
    pub fn spawn<F>(&self, conn: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // `start` makes at least one worker.
        let mut worker = &self.workers[0];
        for w in &self.workers[1..] {
            if w.live.load(Ordering::Relaxed) < worker.live.load(Ordering::Relaxed) {
                worker = w;
            }
        }
        worker.live.fetch_add(1, Ordering::Relaxed);
        let live = Live(worker.live.clone());
        worker.handle.spawn(async move {
            let _live = live;
            conn.await
        })
    }

    /// Connections each worker holds, in worker order.
    #[cfg(test)]
    fn live(&self) -> Vec<usize> {
        self.workers
            .iter()
            .map(|w| w.live.load(Ordering::Relaxed))
            .collect()
    }
}

/// Counts a connection out of its worker however its task ends (finished, aborted, dropped).
struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for w in &mut self.workers {
            if let Some(stop) = w.stop.take() {
                let _ = stop.send(());
            }
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Each connection goes to the least-loaded worker, runs on that worker's thread, and
    /// is counted out when it ends, whether it finishes or is aborted.
    #[tokio::test]
    async fn connections_go_to_the_least_loaded_worker() {
        let workers = Workers::start(3).expect("threads");
        let mut held = Vec::new();
        let mut threads = Vec::new();
        for _ in 0..6 {
            let (release, wait) = oneshot::channel::<()>();
            let (named, name) = oneshot::channel::<String>();
            let task = workers.spawn(async move {
                let me = std::thread::current().name().unwrap_or("").to_owned();
                let _ = named.send(me);
                let _ = wait.await;
            });
            threads.push(name.await.expect("task ran"));
            held.push((release, task));
        }
        assert_eq!(workers.live(), vec![2, 2, 2]);
        threads.sort();
        assert_eq!(
            threads,
            [0, 0, 1, 1, 2, 2].map(|i| format!("pacwarden-worker-{i}"))
        );

        // End one on worker 0 normally and abort one on worker 1.
        let (release, task) = held.remove(0);
        release.send(()).expect("task waits");
        task.await.expect("finished");
        let (_release, task) = held.remove(0);
        task.abort();
        let _ = task.await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while workers.live() != vec![1, 1, 2] && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(workers.live(), vec![1, 1, 2]);

        // The next connection goes to the first of the least loaded.
        let next = workers.spawn(std::future::pending::<()>());
        assert_eq!(workers.live(), vec![2, 1, 2]);
        next.abort();
    }

    /// Dropping the workers stops their threads and drops the connections they hold.
    #[test]
    fn dropping_the_workers_ends_their_connections() {
        let workers = Workers::start(2).expect("threads");
        let (dropped_tx, dropped_rx) = std::sync::mpsc::channel::<()>();
        struct Signal(std::sync::mpsc::Sender<()>);
        impl Drop for Signal {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let signal = Signal(dropped_tx);
        let _task = workers.spawn(async move {
            let _signal = signal;
            std::future::pending::<()>().await
        });
        drop(workers);
        dropped_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the connection was dropped");
    }
}
