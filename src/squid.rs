//! `pacwarden squid-helper`: a Squid `external_acl_type` helper.
//!
//! Squid writes one request per line — `[channel-id] DST [PORT]` for the formats `%DST` and
//! `%DST %PORT`, the channel ID present when the helper runs with `concurrency=N` — and reads
//! one answer per line: `[channel-id] OK|ERR|BH message="…"`. Decisions come from a running
//! server over keep-alive HTTP (`--url`) or from a configuration loaded in-process
//! (`--config`, reloaded on SIGHUP). A line that cannot be read gets `BH` for its channel; the
//! helper goes on with the next and exits cleanly when Squid closes its standard input.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::host::{self, Host};
use crate::matcher::PortQuery;
use crate::profile::Profile;
use crate::snapshot::{Snapshot, Verdict};

/// Longest request line accepted; Squid's own lines are a few hundred bytes at most.
pub const MAX_LINE: usize = 8192;

/// One parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub channel: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// What the helper answers for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ok(String),
    Err(String),
    /// "Broken helper": Squid treats the check as failed for this request.
    Bh(String),
}

/// What to answer when no decision can be had (server unreachable or failing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnError {
    /// `BH`: Squid's "broken helper" result; the request fails.
    Bh,
    /// Fail open: allow.
    Ok,
    /// Fail closed: deny.
    Err,
}

/// Squid's percent-encoding of format tokens; `None` for a bad escape or bytes that are not
/// UTF-8.
fn unescape(token: &str) -> Option<String> {
    if !token.contains('%') {
        return Some(token.to_owned());
    }
    let b = token.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = token.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The channel ID at the start of a line, if the line has one: a bare number, which no
/// destination host can be.
pub fn channel_of(line: &str) -> Option<&str> {
    line.split_ascii_whitespace()
        .next()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses `[channel] DST [PORT] [ACL arguments…]`.
pub fn parse(line: &str) -> Result<Request, (Option<String>, String)> {
    let mut tokens: Vec<&str> = line.split_ascii_whitespace().collect();
    let channel = channel_of(line).map(str::to_owned);
    if channel.is_some() {
        tokens.remove(0);
    }
    let fail = |why: &str| Err((channel.clone(), why.to_owned()));
    // After DST (and PORT, a number) Squid appends the ACL's arguments (%DATA), or "-" when
    // there are none; they are not used.
    let Some((dst, rest)) = tokens.split_first() else {
        return fail("empty request");
    };
    let Some(host) = unescape(dst) else {
        return fail("destination is not valid percent-encoded UTF-8");
    };
    let port = match rest.first() {
        Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => match t.parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => return fail("port is not a number in 1-65535"),
        },
        _ => None,
    };
    Ok(Request {
        channel,
        host,
        port,
    })
}

/// A kv-pair value Squid reads back: quoted, with `"` and `\` escaped and no line breaks.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The answer line, channel first when the request had one.
pub fn format(channel: Option<&str>, answer: &Answer) -> String {
    let (word, message) = match answer {
        Answer::Ok(m) => ("OK", m),
        Answer::Err(m) => ("ERR", m),
        Answer::Bh(m) => ("BH", m),
    };
    match channel {
        Some(c) => format!("{c} {word} message={}", quoted(message)),
        None => format!("{word} message={}", quoted(message)),
    }
}

/// Decides in-process from a loaded snapshot.
pub struct LocalDecider {
    pub snapshot: Snapshot,
    pub profile: Profile,
}

impl LocalDecider {
    pub fn answer(&self, req: &Request) -> Answer {
        let h: Host = match host::normalize(&req.host) {
            Ok(h) => h,
            Err(e) => return Answer::Err(format!("bad host: {e}")),
        };
        let port = req.port.map(|port| PortQuery {
            proto: crate::catalogue::Proto::Tcp,
            port,
        });
        let d = self.snapshot.decide(&h, port, &self.profile);
        match d.decision {
            Verdict::Allow => Answer::Ok(d.why()),
            Verdict::Deny => Answer::Err(d.why()),
        }
    }
}

/// Asks a running server's `/decide` over one keep-alive HTTP/1.1 connection, reconnecting
/// when it drops.
pub struct RemoteDecider {
    /// `host:port` of the server.
    authority: String,
    profile: Option<String>,
    conn: Option<std::io::BufReader<TcpStream>>,
}

impl RemoteDecider {
    /// `url` is `http://host:port` (a trailing `/` is fine; https is not supported here).
    pub fn new(url: &str, profile: Option<String>) -> Result<RemoteDecider, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("--url {url:?}: only http:// URLs are supported"))?;
        let authority = rest.trim_end_matches('/').to_owned();
        if authority.is_empty() || authority.contains('/') {
            return Err(format!("--url {url:?}: expected http://HOST:PORT"));
        }
        Ok(RemoteDecider {
            authority,
            profile,
            conn: None,
        })
    }

    fn connect(&self) -> std::io::Result<std::io::BufReader<TcpStream>> {
        let addrs: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs(&self.authority)?.collect();
        let mut last = std::io::Error::other("no address");
        for a in addrs {
            match TcpStream::connect_timeout(&a, Duration::from_secs(2)) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(Duration::from_secs(5)))?;
                    s.set_write_timeout(Some(Duration::from_secs(5)))?;
                    return Ok(std::io::BufReader::new(s));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// One request on the current connection: (status, body).
    fn exchange(
        conn: &mut std::io::BufReader<TcpStream>,
        authority: &str,
        path: &str,
    ) -> std::io::Result<(u16, String)> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        conn.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if conn.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length.min(1 << 20)];
        conn.read_exact(&mut body)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// The server's answer, or why there is none.
    pub fn answer(&mut self, req: &Request) -> Result<Answer, String> {
        let mut path = String::from("/decide?");
        path.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .append_pair("host", &req.host)
                .extend_pairs(req.port.map(|p| ("port", p.to_string())))
                .extend_pairs(self.profile.as_ref().map(|p| ("profile", p.as_str())))
                .finish(),
        );
        // A kept-alive connection the server has closed fails once; retry on a fresh one.
        for attempt in 0..2 {
            let mut conn = match self.conn.take() {
                Some(c) => c,
                None => self
                    .connect()
                    .map_err(|e| format!("{}: {e}", self.authority))?,
            };
            match Self::exchange(&mut conn, &self.authority, &path) {
                Ok((status, body)) => {
                    self.conn = Some(conn);
                    // The same wording as the in-process decider: the decision's own.
                    let why = match serde_json::from_str::<crate::snapshot::Decision>(&body) {
                        Ok(d) => d.why(),
                        Err(_) => serde_json::from_str::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["error"].as_str().map(str::to_owned))
                            .unwrap_or_else(|| "no decision in the answer".to_owned()),
                    };
                    return match status {
                        200 => Ok(Answer::Ok(why)),
                        403 => Ok(Answer::Err(why)),
                        400 => Ok(Answer::Err(format!("bad request: {why}"))),
                        s => Err(format!("{}: HTTP {s}", self.authority)),
                    };
                }
                Err(e) if attempt == 1 => return Err(format!("{}: {e}", self.authority)),
                Err(_) => {}
            }
        }
        Err(format!("{}: no answer", self.authority))
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes. `Ok(None)` at end of input; an overlong
/// line is consumed to its end and returned as `Err(start of the line)`.
pub fn read_line(input: &mut impl BufRead) -> std::io::Result<Option<Result<String, String>>> {
    let mut buf = Vec::new();
    let mut too_long = false;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            if buf.is_empty() && !too_long {
                return Ok(None);
            }
            break;
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if buf.len() < MAX_LINE {
            let room = MAX_LINE - buf.len();
            buf.extend_from_slice(&chunk[..take.min(room)]);
        }
        if buf.len() >= MAX_LINE && !done {
            too_long = true;
        }
        input.consume(take);
        if done {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf)
        .trim_end_matches(['\r', '\n'])
        .to_owned();
    Ok(Some(if too_long || text.len() >= MAX_LINE {
        Err(text.chars().take(64).collect())
    } else {
        Ok(text)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let r = |c: Option<&str>, h: &str, p: Option<u16>| {
            Ok(Request {
                channel: c.map(str::to_owned),
                host: h.to_owned(),
                port: p,
            })
        };
        let cases = [
            (
                "outlook.office365.com",
                r(None, "outlook.office365.com", None),
            ),
            (
                "outlook.office365.com 443",
                r(None, "outlook.office365.com", Some(443)),
            ),
            (
                "0 outlook.office365.com",
                r(Some("0"), "outlook.office365.com", None),
            ),
            ("17 52.96.1.1 443", r(Some("17"), "52.96.1.1", Some(443))),
            (
                "3 2603:1006::1 443",
                r(Some("3"), "2603:1006::1", Some(443)),
            ),
            (
                "5 b%C3%BCcher.example 80",
                r(Some("5"), "bücher.example", Some(80)),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), want, "{line}");
        }
        for (line, channel) in [
            ("", None),
            ("4", Some("4")),
            ("4 host 0", Some("4")),
            ("4 host 99999", Some("4")),
            ("6 %FF%FE 443", Some("6")),
            ("8 bad%ZZ 443", Some("8")),
        ] {
            let e = parse(line).unwrap_err();
            assert_eq!(e.0.as_deref(), channel, "{line}");
            assert!(!e.1.is_empty());
        }
    }

    #[test]
    fn answer_lines() {
        assert_eq!(
            format(
                Some("7"),
                &Answer::Ok("*.sharepoint.com (ms365:worldwide)".into())
            ),
            "7 OK message=\"*.sharepoint.com (ms365:worldwide)\""
        );
        assert_eq!(
            format(None, &Answer::Err("say \"hi\"\\\n".into())),
            "ERR message=\"say \\\"hi\\\"\\\\ \""
        );
        assert_eq!(
            format(Some("1"), &Answer::Bh("x".into())),
            "1 BH message=\"x\""
        );
    }

    #[test]
    fn overlong_lines_are_cut_and_the_next_is_read() {
        let long = "9 ".to_owned() + &"a".repeat(3 * MAX_LINE);
        let input = format!("{long}\n1 next.example 443\n");
        let mut r = std::io::BufReader::with_capacity(1000, input.as_bytes());
        let first = read_line(&mut r).unwrap().unwrap();
        assert!(first.is_err());
        assert_eq!(channel_of(&first.unwrap_err()), Some("9"));
        assert_eq!(
            read_line(&mut r).unwrap().unwrap(),
            Ok("1 next.example 443".into())
        );
        assert_eq!(read_line(&mut r).unwrap(), None);
    }
}
