//! The HTTP listener: hyper 1 with hyper-util's auto builder (HTTP/1.1 and h2c), head size
//! cap, connection cap; the header-read timeout and graceful shutdown reach each connection
//! through its [`watchdog`]. Connections are accepted here and served on the [`workers`].
//! No routing decisions here; see [`routes`].

pub mod decide_json;
pub mod routes;
pub mod tls;
pub mod watchdog;
pub mod workers;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::config::ServerConfig;
use crate::state::State;

/// Serves until `shutdown` turns true, then stops accepting, marks the state as draining and
/// gives in-flight requests up to the configured grace period. With `tls`, every connection
/// is a TLS handshake first (bounded by the header-read timeout).
///
/// Runs on the runtime that owns every timer (connection watchdogs, the back-off, the grace
/// period, and through [`OnTimers`] hyper's HTTP/2 timers); each accepted connection moves to
/// one of `workers`, whose runtimes have no time driver.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    cfg: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
    workers: Arc<workers::Workers>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's own header-read timeout (on by default once it has a timer) would arm a timer
    // per request; the [`watchdog`] keeps one per connection instead. Responses are written
    // from one buffer (head and body copied together) rather than as a vectored write of
    // queued pieces: nearly every answer is a few hundred bytes, for which the queue's
    // bookkeeping costs more than the copy (about 430 of 11 400 instructions per `/decide`),
    // and hyper recommends it for TLS, whose writes are not vectored.
    builder
        .http1()
        .header_read_timeout(None)
        .writev(false)
        .max_buf_size(cfg.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(OnTimers(tokio::runtime::Handle::current()))
        .max_concurrent_streams(256)
        .max_header_list_size(cfg.max_header_bytes as u32);
    let routes = Arc::new(routes::Routes::new(state.clone(), &cfg));
    let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let per_client = PerClient::new(cfg.max_connections_per_client.max(1));
    let head_timeout = Duration::from_secs(cfg.header_read_timeout_secs);
    loop {
        // Wait for a free connection slot before accepting, so excess clients queue in the
        // kernel instead of being accepted and starved.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stopped(&mut shutdown) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: log, back off briefly, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        let Some(client_slot) = per_client.take(peer.ip()) else {
            tracing::debug!(%peer, "the client holds too many connections; closed");
            continue;
        };
        // Leave this runtime's reactor; the worker registers the socket with its own.
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, %peer, "cannot hand the connection over; closed");
                continue;
            }
        };
        let routes = routes.clone();
        let activity = watchdog::Activity::new();
        let stamp = activity.clone();
        let svc = service_fn(move |mut req| {
            let started = std::time::Instant::now();
            stamp.head_completed(started);
            std::future::ready(Ok::<_, std::convert::Infallible>(
                routes.handle(&mut req, peer, started),
            ))
        });
        let stop = watchdog::Stop::new();
        let stop_rx = stop.clone();
        let builder = builder.clone();
        // Plain and TLS connections are separate tasks, so that the plain one's future (polled
        // on every wake-up of every connection) carries no handshake states.
        let conn = match tls.clone() {
            None => workers.spawn(async move {
                let _permit = (permit, client_slot);
                let Some(stream) = register(stream, peer) else {
                    return;
                };
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                log_end(watchdog::serve_until_stopped(conn, stop_rx).await, peer);
            }),
            Some(acceptor) => workers.spawn(async move {
                let _permit = (permit, client_slot);
                let Some(stream) = register(stream, peer) else {
                    return;
                };
                // The handshake counts against the first head's deadline.
                match acceptor.accept(stream).await {
                    Ok(tls_stream) => {
                        let conn = builder.serve_connection(TokioIo::new(tls_stream), svc);
                        log_end(watchdog::serve_until_stopped(conn, stop_rx).await, peer);
                    }
                    Err(e) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                }
            }),
        };
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let ended = watchdog::watch(conn, activity, head_timeout, shutdown, stop).await;
            if ended == watchdog::Ended::TimedOut {
                tracing::debug!(%peer, "no request head within the timeout; closed");
            }
        });
    }
    state.start_draining();
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    // Every connection holds a slot until it ends: all slots free means all closed.
    let all = u32::try_from(cfg.max_connections.max(1)).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => tracing::info!("all connections closed"),
        () = tokio::time::sleep(Duration::from_secs(cfg.shutdown_grace_secs)) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
}

/// Connections per client address, so that one client cannot hold every slot.
#[derive(Clone)]
struct PerClient {
    limit: usize,
    held: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

/// One connection's place in its client's count, given back when the connection ends.
struct ClientSlot {
    ip: std::net::IpAddr,
    clients: PerClient,
}

impl PerClient {
    fn new(limit: usize) -> PerClient {
        PerClient {
            limit,
            held: Arc::default(),
        }
    }

    /// A slot for a new connection from `ip`, or `None` when it holds the limit already.
    fn take(&self, ip: std::net::IpAddr) -> Option<ClientSlot> {
        let ip = ip.to_canonical();
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(ip).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            ip,
            clients: self.clone(),
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut held = self.clients.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// The accepted socket registered with the calling worker's reactor.
fn register(stream: std::net::TcpStream, peer: SocketAddr) -> Option<tokio::net::TcpStream> {
    match tokio::net::TcpStream::from_std(stream) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::debug!(error = %e, %peer, "cannot register the connection; closed");
            None
        }
    }
}

fn log_end<E: std::fmt::Display>(result: Result<(), E>, peer: SocketAddr) {
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// Resolves once the shutdown flag is set (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// hyper's timer, with every sleep registered on the runtime that accepts connections:
/// hyper's own `TokioTimer` registers on the runtime it is called from, which for the
/// [`workers`] has no time driver (and would panic). A sleep created under another
/// runtime's handle can be awaited anywhere; that runtime's driver fires it.
#[derive(Clone)]
struct OnTimers(tokio::runtime::Handle);

impl hyper::rt::Timer for OnTimers {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let _on = self.0.enter();
        TokioTimer::new().sleep(duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let _on = self.0.enter();
        TokioTimer::new().sleep_until(deadline)
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        let _on = self.0.enter();
        TokioTimer::new().reset(sleep, new_deadline);
    }
}
