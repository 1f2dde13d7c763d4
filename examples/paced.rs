//! A fixed-rate (open-loop) HTTP/1.1 load generator for `benches/load.sh`: measures latency at
//! a given request rate, which wrk (closed-loop, always at saturation) cannot.
//!
//! Each of `CONNS` keep-alive connections sends its share of `RATE` requests per second on a
//! fixed schedule. When a request goes out late because the answer before it on the same
//! connection was late, its latency counts from the moment it was *due*, so a stalled server
//! is charged for the requests queued behind the stall (no coordinated omission); otherwise
//! from the send (the client's own timer is only millisecond-accurate). Paths are taken in turn from `PATHS_FILE` (one per line).
//!
//! usage: cargo run --release --example paced -- ADDR RATE SECONDS CONNS PATHS_FILE

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Args {
    addr: String,
    rate: f64,
    seconds: f64,
    conns: usize,
    paths: Vec<String>,
}

fn args() -> Result<Args, String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 5 {
        return Err("usage: paced ADDR RATE SECONDS CONNS PATHS_FILE".into());
    }
    let num = |s: &str, what: &str| -> Result<f64, String> {
        s.parse::<f64>()
            .ok()
            .filter(|v| *v > 0.0)
            .ok_or(format!("{what}: not a positive number: {s}"))
    };
    let text = std::fs::read_to_string(&a[4]).map_err(|e| format!("{}: {e}", a[4]))?;
    let paths: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if paths.is_empty() {
        return Err(format!("{}: no paths", a[4]));
    }
    Ok(Args {
        addr: a[0].clone(),
        rate: num(&a[1], "RATE")?,
        seconds: num(&a[2], "SECONDS")?,
        conns: num(&a[3], "CONNS")? as usize,
        paths,
    })
}

/// Sends one connection's schedule; returns the latencies in microseconds.
async fn connection(
    addr: String,
    paths: Vec<String>,
    start: Instant,
    offset: Duration,
    period: Duration,
    count: usize,
) -> std::io::Result<Vec<u32>> {
    let stream = TcpStream::connect(&addr).await?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut latencies = Vec::with_capacity(count);
    let mut line = String::new();
    let mut body = Vec::new();
    let mut previous_done = start;
    for i in 0..count {
        let due = start + offset + period * i as u32;
        // tokio's timer is millisecond-grained (and a deadline already past still waits for
        // its next tick), which would send late and in bursts: sleep to within 2 ms, then
        // yield until due. This client spends one core, as wrk does.
        if let Some(early) = due.checked_sub(Duration::from_millis(2)) {
            if early > Instant::now() {
                tokio::time::sleep_until(early.into()).await;
            }
        }
        while Instant::now() < due {
            tokio::task::yield_now().await;
        }
        // When the previous answer arrived after this request was due, the server held it up:
        // time from when it was due. Otherwise from the send.
        let begin = if previous_done > due {
            due
        } else {
            Instant::now()
        };
        let path = &paths[i % paths.len()];
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        w.write_all(req.as_bytes()).await?;
        let mut length = 0usize;
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        body.resize(length, 0);
        r.read_exact(&mut body).await?;
        previous_done = Instant::now();
        latencies.push(begin.elapsed().as_micros().min(u32::MAX as u128) as u32);
    }
    Ok(latencies)
}

fn main() -> std::process::ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let total = (a.rate * a.seconds) as usize;
        let per_conn = total / a.conns;
        let period = Duration::from_secs_f64(a.conns as f64 / a.rate);
        let start = Instant::now() + Duration::from_millis(100);
        let mut tasks = Vec::new();
        for c in 0..a.conns {
            // Stagger the connections evenly over one period so requests arrive at a steady rate.
            let offset = period.mul_f64(c as f64 / a.conns as f64);
            let paths: Vec<String> = a.paths.iter().skip(c).chain(a.paths.iter().take(c)).cloned().collect();
            tasks.push(tokio::spawn(connection(a.addr.clone(), paths, start, offset, period, per_conn)));
        }
        let mut all = Vec::with_capacity(total);
        let mut failed = 0;
        for t in tasks {
            match t.await {
                Ok(Ok(l)) => all.extend(l),
                Ok(Err(e)) => {
                    eprintln!("connection failed: {e}");
                    failed += 1;
                }
                Err(e) => {
                    eprintln!("task failed: {e}");
                    failed += 1;
                }
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        all.sort_unstable();
        let q = |p: f64| -> f64 {
            if all.is_empty() {
                return f64::NAN;
            }
            let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
            all[i] as f64
        };
        println!(
            "target {:.0} req/s, done {} in {:.1} s ({:.0} req/s), failed connections {}: p50 {:.0} us  p90 {:.0} us  p99 {:.0} us  p99.9 {:.0} us  max {:.0} us",
            a.rate,
            all.len(),
            elapsed,
            all.len() as f64 / elapsed,
            failed,
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            q(1.0)
        );
        if failed > 0 {
            std::process::ExitCode::from(1)
        } else {
            std::process::ExitCode::SUCCESS
        }
    })
}
