//! One small task beside each connection's, for the two things that must reach a connection
//! from outside: its header-read deadline and the server's graceful stop.
//!
//! hyper's own `header_read_timeout` allocates and registers a fresh timer every time it
//! starts waiting for a request head, and drops it again once the head is in — on a
//! keep-alive connection that is every request, and it measured as the largest single cost
//! hyper adds to `/decide` (about 1 700 of the 19 000 instructions a request took, by
//! callgrind; see docs/performance.md). Here each connection has one timer for its whole
//! life: the request handler stamps the time a head was completed, and the timer, when it
//! fires, either finds a newer stamp and re-arms itself from it, or closes the connection.
//! A busy connection therefore re-arms at most once per timeout period.
//!
//! The rule is the same as hyper's: a connection must complete a request head within the
//! timeout of being accepted, and within the timeout of its previous one — so a client
//! that trickles a head byte by byte, or sits idle on a keep-alive connection, is cut off.
//! The same applies to HTTP/2 connections, where it closes connections idle that long.
//!
//! hyper-util's graceful-shutdown watcher, likewise, polls the server's shutdown signal every
//! time the connection's task wakes (about 200 instructions a request). Here the watchdog
//! waits for that signal and passes it on through a one-shot channel, which the connection
//! polls for a fraction of that.
//!
//! The watchdog wakes only when its timer fires, the server stops, or the connection ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// When a connection last completed a request head, shared by its handler and its
/// [`watch`]. Milliseconds after the connection was accepted, so one atomic holds it.
pub struct Activity {
    accepted: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            accepted: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    /// Records that a request head was completed at `at` (the handler's start time).
    pub fn head_completed(&self, at: std::time::Instant) {
        let ms = Instant::from_std(at)
            .saturating_duration_since(self.accepted)
            .as_millis();
        self.last_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.accepted + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// What ended a watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The connection closed on its own (or after a graceful stop).
    Closed,
    /// No request head within the timeout: the connection was dropped.
    TimedOut,
}

/// Watches the task serving one connection until it ends. Aborts it — dropping the
/// connection, which closes it — once `timeout` has passed without a completed request head;
/// tells it through `stop` when `shutdown` turns true (or its sender is gone).
pub async fn watch(
    mut conn: JoinHandle<()>,
    activity: Arc<Activity>,
    timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    stop: oneshot::Sender<()>,
) -> Ended {
    let timer = tokio::time::sleep_until(activity.accepted + timeout);
    tokio::pin!(timer);
    let mut stop = Some(stop);
    loop {
        tokio::select! {
            _ = &mut conn => return Ended::Closed,
            () = &mut timer => {
                let deadline = activity.last() + timeout;
                if deadline <= Instant::now() {
                    conn.abort();
                    return Ended::TimedOut;
                }
                timer.as_mut().reset(deadline);
            }
            _ = shutdown.wait_for(|stopping| *stopping), if stop.is_some() => {
                if let Some(tx) = stop.take() {
                    let _ = tx.send(());
                }
            }
        }
    }
}

/// Drives a connection; once `stop` fires (or its watchdog is gone), asks it to finish the
/// request in flight and close.
pub async fn serve_until_stopped<C: GracefulConnection>(
    conn: C,
    stop: oneshot::Receiver<()>,
) -> Result<(), C::Error> {
    tokio::pin!(conn);
    tokio::select! {
        biased;
        result = conn.as_mut() => result,
        _ = stop => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_shutdown() -> (watch::Sender<bool>, watch::Receiver<bool>) {
        watch::channel(false)
    }

    /// A connection that never completes a head is cut off after the timeout; stamping a
    /// head moves the deadline; a connection that ends on its own ends the watch.
    #[tokio::test(start_paused = true)]
    async fn deadline_follows_the_last_completed_head() {
        let timeout = Duration::from_secs(10);
        let (_keep, shutdown) = no_shutdown();

        let activity = Activity::new();
        let started = Instant::now();
        let conn = tokio::spawn(std::future::pending::<()>());
        let (tx, _rx) = oneshot::channel();
        let ended = watch(conn, activity, timeout, shutdown.clone(), tx).await;
        assert_eq!(ended, Ended::TimedOut);
        assert_eq!(started.elapsed(), timeout);

        let activity = Activity::new();
        let started = Instant::now();
        let stamp = activity.clone();
        let conn = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(6)).await;
                stamp.head_completed(Instant::now().into_std());
            }
            std::future::pending::<()>().await;
        });
        let (tx, _rx) = oneshot::channel();
        let ended = watch(conn, activity, timeout, shutdown.clone(), tx).await;
        assert_eq!(ended, Ended::TimedOut);
        // Last head at 18 s, so cut off at 28 s (millisecond resolution).
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(28) && took < Duration::from_millis(28_010),
            "{took:?}"
        );

        let activity = Activity::new();
        let started = Instant::now();
        let conn = tokio::spawn(tokio::time::sleep(Duration::from_secs(3)));
        let (tx, _rx) = oneshot::channel();
        let ended = watch(conn, activity, timeout, shutdown, tx).await;
        assert_eq!(ended, Ended::Closed);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    /// Shutdown reaches the connection through its stop channel at once, not at the next
    /// timer; a connection that then closes ends the watch.
    #[tokio::test(start_paused = true)]
    async fn shutdown_is_passed_on() {
        let (set, shutdown) = watch::channel(false);
        let (tx, rx) = oneshot::channel();
        let conn = tokio::spawn(async move {
            let _ = rx.await;
        });
        let started = Instant::now();
        let watched = tokio::spawn(watch(
            conn,
            Activity::new(),
            Duration::from_secs(10),
            shutdown,
            tx,
        ));
        tokio::time::sleep(Duration::from_secs(2)).await;
        set.send_replace(true);
        assert_eq!(watched.await.unwrap(), Ended::Closed);
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }
}
