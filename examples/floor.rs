//! The floor for `benches/load.sh`: the smallest hyper server this machine can run, answering
//! every request with a fixed decision JSON. pacwarden's /decide is measured against it.
//!
//! usage: cargo run --release --example floor -- 127.0.0.1:18090

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

const BODY: &str = r#"{"host":"login.microsoftonline.com","decision":"allow","route":"direct","category":"Allow","service_area":"Common","endpoint_sets":[56],"rule":"login.microsoftonline.com","source":"ms365:worldwide","catalogue":{"generation":1,"version":"0000000000000000"},"profile":"type2"}"#;

/// `#[tokio::main]`, spelled out so that `FLOOR_CT=1` can pick the runtime flavour.
fn main() -> std::io::Result<()> {
    let mut rt = if std::env::var_os("FLOOR_CT").is_some() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    rt.enable_all().build()?.block_on(serve())
}

async fn serve() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Optional extras, to measure what each of pacwarden's listener features costs:
    // FLOOR_TIMER=1 (header-read timeout), FLOOR_UPGRADES=1, FLOOR_GRACEFUL=1, FLOOR_ARMED=1
    // (one timer armed for a day: the worker then parks with a timeout); FLOOR_CT=1 (set in
    // the environment, read in `main`) runs a current-thread runtime instead of tokio's
    // default multi-threaded one; FLOOR_FLAT=1 writes each response from one buffer
    // (`writev(false)`, as pacwarden does) instead of hyper's default vectored writes.
    let on = |k: &str| std::env::var_os(k).is_some();
    let (timer, upgrades, graceful) = (
        on("FLOOR_TIMER"),
        on("FLOOR_UPGRADES"),
        on("FLOOR_GRACEFUL"),
    );
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if on("FLOOR_FLAT") {
        builder.http1().writev(false);
    }
    if timer {
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(std::time::Duration::from_secs(10));
    }
    if on("FLOOR_ARMED") {
        tokio::spawn(tokio::time::sleep(std::time::Duration::from_secs(86_400)));
    }
    let shutdown = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => continue,
        };
        let builder = builder.clone();
        let watcher = graceful.then(|| shutdown.watcher());
        tokio::spawn(async move {
            let svc = service_fn(|_req: Request<hyper::body::Incoming>| async {
                let mut r = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
                r.headers_mut()
                    .insert("content-type", "application/json".parse().expect("static"));
                Ok::<_, Infallible>(r)
            });
            let io = TokioIo::new(stream);
            let _ = match (upgrades, watcher) {
                (true, Some(w)) => {
                    w.watch(builder.serve_connection_with_upgrades(io, svc).into_owned())
                        .await
                }
                (true, None) => builder.serve_connection_with_upgrades(io, svc).await,
                (false, Some(w)) => {
                    w.watch(builder.serve_connection(io, svc).into_owned())
                        .await
                }
                (false, None) => builder.serve_connection(io, svc).await,
            };
        });
    }
}
