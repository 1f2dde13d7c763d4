//! The header-read timeout, kept per connection instead of per request.
//!
//! hyper's own `header_read_timeout` allocates and registers a fresh timer every time it
//! starts waiting for a request head, and drops it again once the head is in — on a
//! keep-alive connection that is every request, and it measured as the largest single cost
//! hyper adds to `/decide` (about 1 700 of the 19 000 instructions a request took, by
//! callgrind; see docs/performance.md). Here each connection has one timer for its whole
//! life: the request handler stamps the time a head was completed, and the timer, when it
//! fires, either finds a newer stamp and re-arms itself from it, or closes the connection.
//! A busy connection therefore re-arms at most once per timeout period. The timer lives in a
//! small task beside the connection's rather than in it, so the connection's own task does
//! not poll a timer every time it wakes.
//!
//! The rule is the same as hyper's: a connection must complete a request head within the
//! timeout of being accepted, and within the timeout of its previous one — so a client
//! that trickles a head byte by byte, or sits idle on a keep-alive connection, is cut off.
//! The same applies to HTTP/2 connections, where it closes connections idle that long.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

/// Watches the task serving one connection: ends when the task does, and aborts it —
/// dropping the connection, which closes it — once `timeout` has passed without a completed
/// request head. Runs as a task of its own, so the connection's task pays nothing per request
/// for it: this wakes only when its timer fires or the connection ends. Returns whether it
/// cut the connection off.
pub async fn watch(mut conn: JoinHandle<()>, activity: Arc<Activity>, timeout: Duration) -> bool {
    let timer = tokio::time::sleep_until(activity.accepted + timeout);
    tokio::pin!(timer);
    loop {
        tokio::select! {
            _ = &mut conn => return false,
            () = &mut timer => {
                let deadline = activity.last() + timeout;
                if deadline <= Instant::now() {
                    conn.abort();
                    return true;
                }
                timer.as_mut().reset(deadline);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection that never completes a head is cut off after the timeout; stamping a
    /// head moves the deadline; a connection that ends on its own ends the watch.
    #[tokio::test(start_paused = true)]
    async fn deadline_follows_the_last_completed_head() {
        let timeout = Duration::from_secs(10);

        let activity = Activity::new();
        let started = Instant::now();
        let conn = tokio::spawn(std::future::pending::<()>());
        assert!(watch(conn, activity, timeout).await);
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
        assert!(watch(conn, activity, timeout).await);
        // Last head at 18 s, so cut off at 28 s (millisecond resolution).
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(28) && took < Duration::from_millis(28_010),
            "{took:?}"
        );

        let activity = Activity::new();
        let started = Instant::now();
        let conn = tokio::spawn(tokio::time::sleep(Duration::from_secs(3)));
        assert!(!watch(conn, activity, timeout).await);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }
}
