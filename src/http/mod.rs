//! The HTTP listener: hyper 1 with hyper-util's auto builder (HTTP/1.1 and h2c), header-read
//! timeout, head size cap, connection cap, graceful shutdown. No routing decisions here; see
//! [`routes`].

pub mod routes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::ServerConfig;
use crate::state::State;

/// Serves until `shutdown` resolves, then stops accepting, marks the state as draining and
/// gives in-flight requests up to the configured grace period.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(cfg.header_read_timeout_secs))
        .max_buf_size(cfg.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .max_header_list_size(cfg.max_header_bytes as u32);
    let routes = Arc::new(routes::Routes::new(state.clone(), &cfg));
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        // Wait for a free connection slot before accepting, so excess clients queue in the
        // kernel instead of being accepted and starved.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
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
            () = &mut shutdown => break,
        };
        let routes = routes.clone();
        let svc = service_fn(move |req| {
            let routes = routes.clone();
            async move { Ok::<_, std::convert::Infallible>(routes.handle(req, peer)) }
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    state.start_draining();
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(Duration::from_secs(cfg.shutdown_grace_secs)) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
}
