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
//! waits for that signal and passes it on through a [`Stop`]: the connection registers its
//! waker once and then checks one atomic flag per wake-up.
//!
//! The watchdog wakes only when its timer fires, the server stops, or the connection ends.

use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::watch;
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

/// The watchdog's request that a connection finish its request in flight and close: set
/// once, from the watchdog's thread, read by the connection on every wake-up. A one-shot
/// channel polled beside the connection costs a cooperative-budget check, a state load and a
/// waker comparison per wake-up; this is one atomic load, and one lock when the connection
/// first registers (or its task's waker changes).
#[derive(Default)]
pub struct Stop {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Stop {
    pub fn new() -> Arc<Stop> {
        Arc::new(Stop::default())
    }

    /// Sets the flag and wakes the connection's task.
    fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        let waker = self.waker.lock().map(|mut w| w.take()).unwrap_or(None);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Whether the flag is set, making sure `cx`'s task is woken when it is set later.
    /// `registered` is the caller's copy of the waker last handed over.
    fn poll_set(&self, cx: &Context<'_>, registered: &mut Option<Waker>) -> bool {
        if !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            let w = cx.waker().clone();
            if let Ok(mut slot) = self.waker.lock() {
                *slot = Some(w.clone());
            }
            *registered = Some(w);
        }
        // After registering: a `set` that this load misses finds the waker.
        self.set.load(Ordering::SeqCst)
    }
}

/// Sets `stop` when dropped, so that a connection whose watchdog is gone (the main runtime
/// shutting down) stops gracefully instead of running unwatched.
struct SetOnDrop(Arc<Stop>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// Watches the task serving one connection until it ends. Aborts it — dropping the
/// connection, which closes it — once `timeout` has passed without a completed request head;
/// tells it through `stop` when `shutdown` turns true (or its sender is gone).
pub async fn watch(
    mut conn: JoinHandle<()>,
    activity: Arc<Activity>,
    timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    stop: Arc<Stop>,
) -> Ended {
    let timer = tokio::time::sleep_until(activity.accepted + timeout);
    tokio::pin!(timer);
    let _stop_if_dropped = SetOnDrop(stop.clone());
    let mut stopping = false;
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
            _ = shutdown.wait_for(|stopping| *stopping), if !stopping => {
                stopping = true;
                stop.set();
            }
        }
    }
}

/// Drives a connection; once `stop` is set, asks it to finish the request in flight and
/// close.
pub async fn serve_until_stopped<C: GracefulConnection>(
    conn: C,
    stop: Arc<Stop>,
) -> Result<(), C::Error> {
    let mut conn = pin!(conn);
    let mut registered = None;
    let stopped = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = conn.as_mut().poll(cx) {
            return Poll::Ready(Some(result));
        }
        if stop.poll_set(cx, &mut registered) {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    match stopped {
        Some(result) => result,
        None => {
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
        let ended = watch(conn, activity, timeout, shutdown.clone(), Stop::new()).await;
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
        let ended = watch(conn, activity, timeout, shutdown.clone(), Stop::new()).await;
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
        let ended = watch(conn, activity, timeout, shutdown, Stop::new()).await;
        assert_eq!(ended, Ended::Closed);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    /// Resolves once `stop` is set, the way a connection's task sees it.
    async fn stopped(stop: Arc<Stop>) {
        let mut registered = None;
        std::future::poll_fn(|cx| match stop.poll_set(cx, &mut registered) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        })
        .await
    }

    /// Shutdown reaches the connection through its stop flag at once, not at the next
    /// timer; a connection that then closes ends the watch.
    #[tokio::test(start_paused = true)]
    async fn shutdown_is_passed_on() {
        let (set, shutdown) = watch::channel(false);
        let stop = Stop::new();
        let conn = tokio::spawn(stopped(stop.clone()));
        let started = Instant::now();
        let watched = tokio::spawn(watch(
            conn,
            Activity::new(),
            Duration::from_secs(10),
            shutdown,
            stop,
        ));
        tokio::time::sleep(Duration::from_secs(2)).await;
        set.send_replace(true);
        assert_eq!(watched.await.unwrap(), Ended::Closed);
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    /// A connection whose watchdog is dropped (the main runtime shutting down) is told to
    /// stop rather than left running unwatched.
    #[tokio::test(start_paused = true)]
    async fn a_dropped_watchdog_stops_the_connection() {
        let (_keep, shutdown) = no_shutdown();
        let stop = Stop::new();
        let conn = tokio::spawn(stopped(stop.clone()));
        let watching = tokio::spawn(watch(
            tokio::spawn(std::future::pending::<()>()),
            Activity::new(),
            Duration::from_secs(10),
            shutdown,
            stop,
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!conn.is_finished());
        watching.abort();
        tokio::time::timeout(Duration::from_secs(1), conn)
            .await
            .expect("the connection saw the stop")
            .expect("the connection task ran to its end");
    }

    /// The flag is seen whether it is set before the first poll, between polls, or by a
    /// task woken through a waker that changed since it registered.
    #[tokio::test]
    async fn stop_is_never_missed() {
        let stop = Stop::new();
        stop.set();
        stopped(stop).await;

        for _ in 0..200 {
            let stop = Stop::new();
            let waiting = tokio::spawn(stopped(stop.clone()));
            tokio::task::yield_now().await;
            let setter = std::thread::spawn(move || stop.set());
            setter.join().expect("setter thread");
            tokio::time::timeout(Duration::from_secs(5), waiting)
                .await
                .expect("woken after set")
                .expect("task ended");
        }
    }
}
