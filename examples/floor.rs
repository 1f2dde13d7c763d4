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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => continue,
        };
        tokio::spawn(async move {
            let svc = service_fn(|_req: Request<hyper::body::Incoming>| async {
                let mut r = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
                r.headers_mut()
                    .insert("content-type", "application/json".parse().expect("static"));
                Ok::<_, Infallible>(r)
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
