//! Evaluates PAC files in an embedded JavaScript engine (boa, pure Rust), for
//! `pacwarden pac test` and `pacwarden check --pac`.
//!
//! The engine runs on a thread of its own and every call waits for it with a deadline: a PAC
//! that loops, recurses or backtracks forever costs the caller one timeout, never a hang.
//! The helper functions browsers provide come from `helpers.js` and, for those Chromium
//! implements natively, from [`super::library`]; DNS is answered from a table given by the
//! caller and nothing ever reaches the network.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::mpsc;
use std::time::Duration;

use boa_engine::{Context, JsString, JsValue, Source};

const HELPERS: &str = include_str!("helpers.js");

/// What the engine's DNS and `myIpAddress` answer, and how long a call may take.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Names `dnsResolve` and friends know (lowercase, no trailing dot); all others fail.
    pub resolve: BTreeMap<String, Vec<IpAddr>>,
    /// What `myIpAddress` / `myIpAddressEx` return; empty means 127.0.0.1.
    pub my_ip: Vec<IpAddr>,
    /// Longest a load or a `FindProxyForURL` call may take.
    pub timeout: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            resolve: BTreeMap::new(),
            my_ip: Vec::new(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Why a PAC could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("the PAC does not load: {0}")]
    Load(String),
    #[error("the PAC defines no FindProxyForURL (or FindProxyForURLEx) function")]
    NoEntryPoint,
    #[error("FindProxyForURL failed: {0}")]
    Threw(String),
    #[error("FindProxyForURL returned {0}, not a string")]
    NotAString(String),
    #[error("evaluation took longer than {0:?} and was abandoned")]
    Timeout(Duration),
    #[error("the evaluator is no longer usable after an earlier timeout")]
    Abandoned,
}

/// One answer: what `FindProxyForURL` returned and what it passed to `alert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub result: String,
    pub alerts: Vec<String>,
}

struct Job {
    url: String,
    host: String,
}

/// A loaded PAC, ready to answer calls.
pub struct Evaluator {
    jobs: mpsc::Sender<Job>,
    answers: mpsc::Receiver<Result<Answer, EvalError>>,
    timeout: Duration,
    abandoned: bool,
}

fn prelude(opts: &EngineOptions) -> String {
    let hosts: BTreeMap<&str, Vec<String>> = opts
        .resolve
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(IpAddr::to_string).collect()))
        .collect();
    let my_ip: Vec<String> = opts.my_ip.iter().map(IpAddr::to_string).collect();
    format!(
        "var __pwHosts = {};\nvar __pwMyIp = {};\n{HELPERS}",
        serde_json::to_string(&hosts).unwrap_or_else(|_| "{}".into()),
        serde_json::to_string(&my_ip).unwrap_or_else(|_| "[]".into()),
    )
}

fn error_text(e: &boa_engine::JsError, ctx: &mut Context) -> String {
    match e.try_native(ctx) {
        Ok(native) => native.to_string(),
        Err(_) => e.to_string(),
    }
}

/// Builds the context and loads the PAC; then answers jobs until the evaluator is dropped.
fn run(
    pac: String,
    opts: EngineOptions,
    ready: mpsc::Sender<Result<(), EvalError>>,
    jobs: mpsc::Receiver<Job>,
    answers: mpsc::Sender<Result<Answer, EvalError>>,
) {
    let mut ctx = Context::default();
    // Endless loops and runaway recursion end in an error long before the deadline in most
    // cases; the deadline covers the rest.
    ctx.runtime_limits_mut()
        .set_loop_iteration_limit(50_000_000);
    ctx.runtime_limits_mut().set_recursion_limit(2_000);
    if let Err(e) = super::library::register(&mut ctx) {
        let _ = ready.send(Err(EvalError::Load(format!(
            "helper functions: {}",
            error_text(&e, &mut ctx)
        ))));
        return;
    }
    if let Err(e) = ctx.eval(Source::from_bytes(&prelude(&opts))) {
        let _ = ready.send(Err(EvalError::Load(format!(
            "helper functions: {}",
            error_text(&e, &mut ctx)
        ))));
        return;
    }
    if let Err(e) = ctx.eval(Source::from_bytes(&pac)) {
        let _ = ready.send(Err(EvalError::Load(error_text(&e, &mut ctx))));
        return;
    }
    // Microsoft's IPv6-aware entry point wins when both are defined, as in browsers that
    // support it.
    let entry = match ctx.eval(Source::from_bytes(
        "typeof FindProxyForURLEx === 'function' ? 'FindProxyForURLEx' : typeof FindProxyForURL === 'function' ? 'FindProxyForURL' : ''",
    )) {
        Ok(v) => v
            .as_string()
            .map(|s| s.to_std_string_escaped())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    if entry.is_empty() {
        let _ = ready.send(Err(EvalError::NoEntryPoint));
        return;
    }
    if ready.send(Ok(())).is_err() {
        return;
    }
    let global = ctx.global_object();
    let function = global
        .get(JsString::from(entry.as_str()), &mut ctx)
        .ok()
        .and_then(|v| v.as_callable());
    let alerts_array = global.get(JsString::from("__pwAlerts"), &mut ctx).ok();
    while let Ok(job) = jobs.recv() {
        let answer = match &function {
            None => Err(EvalError::NoEntryPoint),
            Some(f) => {
                let args = [
                    JsValue::from(JsString::from(job.url.as_str())),
                    JsValue::from(JsString::from(job.host.as_str())),
                ];
                match f.call(&JsValue::undefined(), &args, &mut ctx) {
                    Err(e) => Err(EvalError::Threw(error_text(&e, &mut ctx))),
                    Ok(v) => match v.as_string() {
                        Some(s) => Ok(s.to_std_string_escaped()),
                        None => Err(EvalError::NotAString(v.display().to_string())),
                    },
                }
            }
        };
        // Only when alert() was called (the usual PAC never does) is the list read out.
        let pending = alerts_array
            .as_ref()
            .and_then(|a| a.as_object())
            .and_then(|a| a.get(JsString::from("length"), &mut ctx).ok())
            .and_then(|l| l.as_number())
            .is_some_and(|n| n > 0.0);
        let alerts = if pending {
            ctx.eval(Source::from_bytes("JSON.stringify(__pwAlerts.splice(0))"))
                .ok()
                .and_then(|v| v.as_string().map(|s| s.to_std_string_escaped()))
                .and_then(|s| serde_json::from_str::<Vec<String>>(&s).ok())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let out = answer.map(|result| Answer { result, alerts });
        if answers.send(out).is_err() {
            return;
        }
    }
}

impl Evaluator {
    /// Loads a PAC (its top-level code runs once, as in a browser).
    pub fn load(pac: &str, opts: &EngineOptions) -> Result<Evaluator, EvalError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (job_tx, job_rx) = mpsc::channel();
        let (answer_tx, answer_rx) = mpsc::channel();
        let (pac, thread_opts) = (pac.to_owned(), opts.clone());
        // boa's parser and interpreter recurse; give them room.
        std::thread::Builder::new()
            .name("pac-engine".into())
            .stack_size(64 << 20)
            .spawn(move || run(pac, thread_opts, ready_tx, job_rx, answer_tx))
            .map_err(|e| EvalError::Load(format!("cannot start the engine: {e}")))?;
        match ready_rx.recv_timeout(opts.timeout) {
            Ok(Ok(())) => Ok(Evaluator {
                jobs: job_tx,
                answers: answer_rx,
                timeout: opts.timeout,
                abandoned: false,
            }),
            Ok(Err(e)) => Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(EvalError::Timeout(opts.timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(EvalError::Load("the engine stopped while loading".into()))
            }
        }
    }

    /// Calls `FindProxyForURL(url, host)`. After a timeout the engine thread is left to
    /// finish on its own and this evaluator refuses further calls.
    pub fn find_proxy(&mut self, url: &str, host: &str) -> Result<Answer, EvalError> {
        if self.abandoned {
            return Err(EvalError::Abandoned);
        }
        let job = Job {
            url: url.to_owned(),
            host: host.to_owned(),
        };
        if self.jobs.send(job).is_err() {
            self.abandoned = true;
            return Err(EvalError::Abandoned);
        }
        match self.answers.recv_timeout(self.timeout) {
            Ok(a) => a,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.abandoned = true;
                Err(EvalError::Timeout(self.timeout))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.abandoned = true;
                Err(EvalError::Abandoned)
            }
        }
    }
}

/// Splits a command-line argument (a URL, or a bare host) into the `(url, host)` a client
/// calls `FindProxyForURL` with.
///
/// As a browser does by default: the URL is read by the URL Standard (`url::Url`), so the
/// host is canonical — lowercase, punycode, addresses in their canonical form, IPv6 without
/// brackets, a trailing dot kept — and the URL is sanitised as Chromium does: no
/// credentials, no fragment, and for https and wss no path or query. A spelling the Standard
/// refuses is an error. With `as_typed`, the host is handed over exactly as written, as
/// libproxy, pypac and pacparser do.
pub fn url_and_host(arg: &str, as_typed: bool) -> Result<(String, String), String> {
    let bare = !arg.contains("://");
    if as_typed {
        if bare {
            let shown = if arg.contains(':') && !arg.starts_with('[') {
                format!("[{arg}]")
            } else {
                arg.to_owned()
            };
            return Ok((format!("http://{shown}/"), arg.to_owned()));
        }
        let rest = arg.split_once("://").map_or("", |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let host = match authority.strip_prefix('[') {
            Some(inner) => inner.split_once(']').map_or(inner, |(h, _)| h),
            None => authority
                .rsplit_once(':')
                .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                .map_or(authority, |(h, _)| h),
        };
        return Ok((arg.to_owned(), host.to_owned()));
    }
    let text = if !bare {
        arg.to_owned()
    } else if arg.contains(':') && !arg.starts_with('[') {
        format!("http://[{arg}]/")
    } else {
        format!("http://{arg}/")
    };
    let mut url = url::Url::parse(&text).map_err(|e| format!("not a valid URL or host: {e}"))?;
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => return Err("the URL names no host".into()),
    };
    // Setting these cannot fail on a URL with a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_fragment(None);
    if matches!(url.scheme(), "https" | "wss") {
        url.set_path("/");
        url.set_query(None);
    }
    Ok((url.into(), host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(pac: &str, host: &str) -> Result<Answer, EvalError> {
        let mut e = Evaluator::load(pac, &EngineOptions::default())?;
        e.find_proxy(&format!("http://{host}/"), host)
    }

    fn with(body: &str, host: &str, opts: &EngineOptions) -> String {
        let pac = format!("function FindProxyForURL(url, host) {{ {body} }}");
        let mut e = Evaluator::load(&pac, opts).unwrap();
        e.find_proxy(&format!("http://{host}/"), host)
            .unwrap()
            .result
    }

    /// Each helper, table-driven: the expression returns "yes" or "no".
    #[test]
    fn helper_functions() {
        let mut opts = EngineOptions::default();
        opts.resolve.insert(
            "intranet.corp".into(),
            vec!["10.1.2.3".parse().unwrap(), "fd00::5".parse().unwrap()],
        );
        opts.my_ip = vec!["192.0.2.7".parse().unwrap()];
        let cases: &[(&str, &str, bool)] = &[
            ("isPlainHostName(host)", "intranet", true),
            ("isPlainHostName(host)", "a.b", false),
            ("dnsDomainIs(host, '.corp')", "www.corp", true),
            ("dnsDomainIs(host, '.corp')", "corp", false),
            ("localHostOrDomainIs(host, 'www.corp')", "www", true),
            ("localHostOrDomainIs(host, 'www.corp')", "www.corp", true),
            ("localHostOrDomainIs(host, 'www.corp')", "www.other", false),
            ("dnsDomainLevels(host) === 2", "a.b.c", true),
            (
                "shExpMatch(host, '*.sharepoint.com')",
                "x.sharepoint.com",
                true,
            ),
            (
                "shExpMatch(host, '*.sharepoint.com')",
                "sharepoint.com",
                false,
            ),
            ("shExpMatch(host, '*.t.com')", "test.com", false),
            ("shExpMatch(host, 'a?c')", "abc", true),
            ("isResolvable(host)", "intranet.corp", true),
            ("isResolvable(host)", "example.com", false),
            ("dnsResolve(host) === '10.1.2.3'", "intranet.corp", true),
            ("dnsResolve(host) === null", "example.com", true),
            (
                "dnsResolveEx(host) === '10.1.2.3;fd00::5'",
                "intranet.corp",
                true,
            ),
            ("isResolvableEx(host)", "intranet.corp", true),
            (
                "isInNet(host, '10.0.0.0', '255.0.0.0')",
                "intranet.corp",
                true,
            ),
            ("isInNet(host, '10.0.0.0', '255.0.0.0')", "11.0.0.1", false),
            (
                "isInNet(host, '192.0.2.0', '255.255.255.0')",
                "192.0.2.200",
                true,
            ),
            ("isInNet(host, '128.0.0.0', '128.0.0.0')", "200.1.1.1", true),
            (
                "isInNet(host, '10.0.0.0', '255.0.0.0')",
                "example.com",
                false,
            ),
            // As in Chromium, isInNetEx takes an address: a name is not resolved.
            ("isInNetEx(host, 'fd00::/8')", "intranet.corp", false),
            (
                "isInNetEx(dnsResolveEx(host).split(';')[1], 'fd00::/8')",
                "intranet.corp",
                true,
            ),
            ("isInNetEx(host, '2001:db8::/32')", "2001:db8:1::1", true),
            (
                "isInNetEx(host, '2001:db8::/33')",
                "2001:db8:8000::1",
                false,
            ),
            ("isInNetEx(host, '10.0.0.0/8')", "10.9.9.9", true),
            ("myIpAddress() === '192.0.2.7'", "x", true),
            ("myIpAddressEx() === '192.0.2.7'", "x", true),
            (
                "sortIpAddressList('10.2.0.1;fd00::1;10.10.0.1') === 'fd00::1;10.2.0.1;10.10.0.1'",
                "x",
                true,
            ),
            ("getClientVersion() === '1.0'", "x", true),
            ("weekdayRange('SUN', 'SAT')", "x", true),
            ("dateRange(1, 31)", "x", true),
            ("timeRange(0, 23)", "x", true),
            ("timeRange(0, 0, 0, 23, 59, 59, 'GMT')", "x", true),
        ];
        for (expr, host, want) in cases {
            let got = with(&format!("return ({expr}) ? 'yes' : 'no';"), host, &opts);
            assert_eq!(got == "yes", *want, "{expr} with host {host}");
        }
    }

    #[test]
    fn date_helpers_follow_the_clock() {
        // 2026-11-25 (a Wednesday) 14:30:15 UTC.
        let clock =
            "__pwNow = function () { return new Date(Date.UTC(2026, 10, 25, 14, 30, 15)); };";
        let cases: &[(&str, bool)] = &[
            ("weekdayRange('WED', 'GMT')", true),
            ("weekdayRange('MON', 'FRI', 'GMT')", true),
            ("weekdayRange('SAT', 'TUE', 'GMT')", false),
            ("weekdayRange('FRI', 'THU', 'GMT')", true),
            ("dateRange('NOV', 'GMT')", true),
            ("dateRange('DEC', 'GMT')", false),
            ("dateRange(2026, 'GMT')", true),
            ("dateRange(1, 24, 'GMT')", false),
            ("dateRange('OCT', 'DEC', 'GMT')", true),
            ("dateRange('DEC', 'FEB', 'GMT')", false),
            ("dateRange(1, 'NOV', 2026, 30, 'NOV', 2026, 'GMT')", true),
            ("dateRange(1, 'DEC', 2026, 31, 'DEC', 2026, 'GMT')", false),
            ("timeRange(14, 'GMT')", true),
            ("timeRange(9, 17, 'GMT')", true),
            ("timeRange(22, 6, 'GMT')", false),
            ("timeRange(14, 0, 14, 29, 'GMT')", false),
            ("timeRange(14, 30, 0, 14, 30, 20, 'GMT')", true),
        ];
        for (expr, want) in cases {
            let got = with(
                &format!("{clock} return ({expr}) ? 'yes' : 'no';"),
                "x",
                &EngineOptions::default(),
            );
            assert_eq!(got == "yes", *want, "{expr}");
        }
    }

    /// The behaviours Chromium's own PAC library tests check (its
    /// `pac_library_unittest.js`), as expressions and the value each gives there.
    #[test]
    fn library_behaves_like_chromium() {
        let cases: &[(&str, &str)] = &[
            ("isPlainHostName('google')", "true"),
            ("isPlainHostName('google.com')", "false"),
            ("isPlainHostName('192.168.1.1')", "false"),
            ("isPlainHostName('.')", "false"),
            ("isPlainHostName('.:')", "false"),
            ("isPlainHostName('::1')", "false"),
            ("isPlainHostName('::192.186.1.1')", "false"),
            ("isPlainHostName('foopy::1')", "true"),
            ("isPlainHostName('foo:112')", "true"),
            ("isPlainHostName(':')", "true"),
            ("isPlainHostName('[:]')", "true"),
            ("isPlainHostName('[::1]')", "true"),
            ("isPlainHostName('foo', 'foo', 'foo')", "true"),
            ("sortIpAddressList('::2;::3;::1')", "::1;::2;::3"),
            ("sortIpAddressList(';127.0.0.1;')", "127.0.0.1"),
            (
                "sortIpAddressList('192.168.0.1; 192.168.0.2')",
                "192.168.0.1;192.168.0.2",
            ),
            (
                "sortIpAddressList('127.0.0.1;\\t127.0.0.2;\\t 127.0.0.0')",
                "127.0.0.0;127.0.0.1;127.0.0.2",
            ),
            (
                "sortIpAddressList('192.168.1.1;0:0::1')",
                "0:0::1;192.168.1.1",
            ),
            ("sortIpAddressList(' ;  ; ')", "false"),
            ("sortIpAddressList('256.0.0.1')", "false"),
            ("sortIpAddressList()", "null"),
            ("sortIpAddressList(null)", "null"),
            ("sortIpAddressList(null, null)", "null"),
            ("isInNetEx('198.95.1.1', '198.95.3.3/16')", "true"),
            ("isInNetEx('127.0.0.1', '0:0:0:0:0:0:7f00:1/16')", "true"),
            (
                "isInNetEx('::ffff:192.168.100.5', '192.168.1.1/16')",
                "true",
            ),
            ("isInNetEx('198.95.115.10', '198.95.0.0/34')", "false"),
            ("isInNetEx('127.0.0.1', '127.0.0.1')", "false"),
            ("isInNetEx('127.0.0.1 ', '127.0.0.1/32')", "false"),
            ("isInNetEx()", "null"),
            ("isInNetEx(null)", "null"),
            ("isInNetEx(null, null)", "null"),
            ("isInNetEx(null, null, null)", "null"),
            ("isInNetEx('198.95.249.79')", "null"),
            ("dnsDomainIs('www.adobe.com', '.ad')", "false"),
            ("dnsDomainLevels('192.168.1.1')", "3"),
            (
                "isInNet('192.89.132.a', '192.89.0.0', '255.255.0.0')",
                "false",
            ),
            ("shExpMatch('foo5.jpg', '*o?.jpg')", "true"),
        ];
        let mut e = Evaluator::load(
            "function FindProxyForURL(u, h) { return String(eval(h)); }",
            &EngineOptions::default(),
        )
        .unwrap();
        for (expr, want) in cases {
            let got = e.find_proxy("http://x/", expr).map(|a| a.result);
            assert_eq!(got.as_deref(), Ok(*want), "{expr}");
        }
        // Anything but a string is a TypeError with Chromium's message.
        for arg in ["", "null", "1", "function () {}"] {
            let expr = format!(
                "(function () {{ try {{ isPlainHostName({arg}); return 'returned'; }} \
                 catch (e) {{ return e.toString(); }} }})()"
            );
            let got = e.find_proxy("http://x/", &expr).map(|a| a.result);
            assert_eq!(
                got.as_deref(),
                Ok("TypeError: Requires 1 string parameter"),
                "{arg}"
            );
        }
    }

    /// The time helpers when a PAC replaces `Date` with one built from legacy date strings,
    /// as Chromium's tests do: (the clock as a string, expression, value in Chromium).
    #[test]
    fn time_helpers_under_a_replaced_date() {
        let cases: &[(&str, &str, bool)] = &[
            ("Tue Mar 03 2009", "weekdayRange('MON', 'FRI')", true),
            ("Tue Mar 03 2009", "weekdayRange('TUE')", true),
            ("Tue Mar 03 2009", "weekdayRange('SAT', 'WED')", true),
            ("Tue Mar 03 2009", "weekdayRange('WED', 'FRI')", false),
            ("Tue Mar 03 2009", "weekdayRange('FRI', 'MON')", false),
            ("Tue Mar 03 2009 GMT", "weekdayRange('TUE', 'GMT')", true),
            (
                "Tue Mar 03 2009 GMT",
                "weekdayRange('SUN', 'MON', 'GMT')",
                false,
            ),
            ("Mar 03 2009", "dateRange(3)", true),
            ("Mar 03 2009", "dateRange(1)", false),
            ("Mar 03 2009 GMT", "dateRange(3, 'GMT')", true),
            ("Mar 03 2009", "dateRange(1, 4)", true),
            ("Mar 03 2009", "dateRange(4, 20)", false),
            ("Mar 03 2009", "dateRange(2, 'MAR')", true),
            ("Mar 03 2009", "dateRange(3, 'JAN')", true),
            ("Mar 03 2009", "dateRange(3, 'MAR', 2009)", true),
            ("Mar 03 2009", "dateRange(4, 'MAR', 2009)", true),
            ("Mar 03 2009", "dateRange(3, 'FEB', 2009)", true),
            ("Mar 03 2014", "dateRange(3, 'MAR', 2009)", true),
            ("Mar 03 2009", "dateRange('MAR', 'JAN')", true),
            ("Mar 03 2009", "dateRange('SEP', 'APR')", true),
            ("Mar 03 2009", "dateRange('FEB', 'JAN')", true),
            ("Mar 03 2009", "dateRange('SEP', 'FEB')", false),
            ("Mar 03 2009", "dateRange('MAY', 'SEP')", false),
            ("Mar 03 2009", "dateRange(1, 'JAN', 3, 'MAR')", true),
            ("Mar 03 2009", "dateRange(3, 'MAR', 1, 'JAN')", true),
            ("Mar 03 2009", "dateRange(4, 'SEP', 3, 'FEB')", false),
            ("Mar 03 2009", "dateRange(4, 'MAR', 4, 'SEP')", false),
            ("Mar 03 2009", "dateRange('FEB', 2009, 'MAR', 2009)", true),
            ("Apr 03 2009", "dateRange('FEB', 2009, 'MAR', 2010)", true),
            ("Apr 03 2009", "dateRange('FEB', 2009, 'MAR', 2009)", false),
            (
                "Mar 03 2009",
                "dateRange(3, 'JAN', 2009, 4, 'FEB', 2010)",
                true,
            ),
            (
                "Mar 03 2009",
                "dateRange(4, 'MAR', 2009, 4, 'SEP', 2009)",
                false,
            ),
            ("Mar 03, 2009 03:34:01", "timeRange(3)", true),
            ("Mar 03, 2009 03:34:01", "timeRange(2)", false),
            ("Mar 03, 2009 03:34:01", "timeRange(2, 4)", true),
            ("Mar 03, 2009 03:34:01", "timeRange(11, 12)", false),
            ("Mar 03, 2009 03:34:01", "timeRange(1, 0, 3, 34)", true),
            ("Mar 03, 2009 03:34:01", "timeRange(3, 34, 1, 0)", true),
            ("Mar 03, 2009 03:34:01", "timeRange(3, 34, 5, 0)", true),
            ("Mar 03, 2009 03:34:01", "timeRange(1, 0, 3, 0)", false),
            (
                "Mar 03, 2009 03:34:14",
                "timeRange(1, 0, 0, 3, 34, 14)",
                true,
            ),
            (
                "Mar 03, 2009 03:34:14",
                "timeRange(1, 0, 0, 3, 34, 0)",
                false,
            ),
            (
                "Mar 03, 2009 03:34:14",
                "timeRange(3, 34, 0, 5, 0, 0)",
                true,
            ),
            (
                "Mar 03, 2009 03:34:14",
                "timeRange(11, 0, 0, 16, 0, 0)",
                false,
            ),
        ];
        // A stand-in for Date that always says the time of `clock`, forwarding every method.
        let pac = "var clock = ''; var RealDate = Date;\
            function Stopped() { this.inner = new RealDate(clock); }\
            ['getTime', 'valueOf', 'getFullYear', 'getMonth', 'getDate', 'getDay', 'getHours', \
             'getMinutes', 'getSeconds', 'getUTCFullYear', 'getUTCMonth', 'getUTCDate', \
             'getUTCDay', 'getUTCHours', 'getUTCMinutes', 'getUTCSeconds', 'setFullYear', \
             'setMonth', 'setDate', 'setHours', 'setMinutes', 'setSeconds'].forEach(function (m) {\
              Stopped.prototype[m] = function () { return this.inner[m].apply(this.inner, arguments); };\
            });\
            Date = Stopped;\
            function FindProxyForURL(u, h) { var p = h.split('|'); clock = p[0];\
              if (isNaN(new RealDate(clock).getTime())) return 'unparsed'; return String(eval(p[1])); }";
        let mut e = Evaluator::load(pac, &EngineOptions::default()).unwrap();
        for (clock, expr, want) in cases {
            let got = e
                .find_proxy("http://x/", &format!("{clock}|{expr}"))
                .map(|a| a.result);
            assert_eq!(got, Ok(want.to_string()), "{expr} at {clock}");
        }
    }

    #[test]
    fn legacy_date_strings_parse() {
        let mut e = Evaluator::load(
            "function FindProxyForURL(u, h) { return String(eval(h)); }",
            &EngineOptions::default(),
        )
        .unwrap();
        for (expr, want) in [
            ("new Date('Tue Mar 03 2009 GMT').getTime()", "1236038400000"),
            ("Date.parse('Mar 03, 2009 03:34:01 GMT')", "1236051241000"),
            (
                "Date.parse('Tue, 03 Mar 2009 00:00:00 GMT')",
                "1236038400000",
            ),
            ("Date.parse('2009-03-03T00:00:00Z')", "1236038400000"),
            ("Date.parse('3 March 2009 10:00 PM +0100')", "1236114000000"),
            (
                "Date.parse('Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)')",
                "0",
            ),
            ("new Date('Tue Mar 03 2009').getDay()", "2"),
            ("new Date('Mar 03, 2009 03:34:01').getHours()", "3"),
            ("new Date(2009, 2, 3).getDate()", "3"),
            ("new Date(0).getTime()", "0"),
            ("new Date() instanceof Date", "true"),
            ("typeof Date()", "string"),
            ("isNaN(new Date('not a date'))", "true"),
            ("Date.parse('Mar 2009 GMT')", "1235865600000"),
            ("isNaN(Date.parse('Mar'))", "true"),
        ] {
            let got = e.find_proxy("http://x/", expr).map(|a| a.result);
            assert_eq!(got.as_deref(), Ok(want), "{expr}");
        }
    }

    #[test]
    fn alerts_are_collected() {
        let a = eval(
            "function FindProxyForURL(u, h) { alert('seen ' + h); return 'DIRECT'; }",
            "a.b",
        )
        .unwrap();
        assert_eq!(a.result, "DIRECT");
        assert_eq!(a.alerts, vec!["seen a.b".to_string()]);
    }

    #[test]
    fn ex_entry_point_wins() {
        let pac = "function FindProxyForURL(u, h) { return 'PROXY a:1'; }\nfunction FindProxyForURLEx(u, h) { return 'PROXY b:2'; }";
        assert_eq!(eval(pac, "x").unwrap().result, "PROXY b:2");
    }

    #[test]
    fn broken_pacs_are_reported_not_fatal() {
        assert!(matches!(eval("function (", "x"), Err(EvalError::Load(_))));
        assert_eq!(eval("var x = 1;", "x"), Err(EvalError::NoEntryPoint));
        assert!(matches!(
            eval(
                "function FindProxyForURL(u, h) { return undefinedThing(); }",
                "x"
            ),
            Err(EvalError::Threw(_))
        ));
        assert!(matches!(
            eval("function FindProxyForURL(u, h) { return 42; }", "x"),
            Err(EvalError::NotAString(_))
        ));
    }

    #[test]
    fn endless_pacs_are_cut_off() {
        let opts = EngineOptions {
            timeout: Duration::from_millis(500),
            ..EngineOptions::default()
        };
        let mut e = Evaluator::load(
            "function FindProxyForURL(u, h) { var i = 0; for (;;) { i++; } }",
            &opts,
        )
        .unwrap();
        let r = e.find_proxy("http://x/", "x");
        assert!(
            matches!(r, Err(EvalError::Timeout(_)) | Err(EvalError::Threw(_))),
            "{r:?}"
        );
        // Top-level code that never ends fails the load within the deadline.
        let r = Evaluator::load("while (true) {}", &opts);
        assert!(
            matches!(r, Err(EvalError::Timeout(_)) | Err(EvalError::Load(_))),
            "{:?}",
            r.err()
        );
        // Unbounded recursion is an error, not a crash.
        let r = eval(
            "function f(n) { return f(n + 1); } function FindProxyForURL(u, h) { return f(0); }",
            "x",
        );
        assert!(matches!(r, Err(EvalError::Threw(_))), "{r:?}");
    }

    #[test]
    fn urls_and_hosts_as_browsers_pass_them() {
        let cases = [
            ("Example.COM", ("http://example.com/", "example.com")),
            (
                "bücher.example",
                ("http://xn--bcher-kva.example/", "xn--bcher-kva.example"),
            ),
            ("2001:DB8::1", ("http://[2001:db8::1]/", "2001:db8::1")),
            ("https://a.b:8443/path?q=1", ("https://a.b:8443/", "a.b")),
            ("https://a.b:443/path", ("https://a.b/", "a.b")),
            ("http://u:p@a.b/x#frag", ("http://a.b/x", "a.b")),
            ("http://[::1]:8080/", ("http://[::1]:8080/", "::1")),
            ("name.", ("http://name./", "name.")),
            ("052.96.1.1", ("http://42.96.1.1/", "42.96.1.1")),
            ("http://0x34.0x60.1.1/", ("http://52.96.1.1/", "52.96.1.1")),
            (
                "login\u{ff0e}microsoftonline\u{ff0e}com",
                (
                    "http://login.microsoftonline.com/",
                    "login.microsoftonline.com",
                ),
            ),
        ];
        for (arg, (url, host)) in cases {
            assert_eq!(
                url_and_host(arg, false),
                Ok((url.to_string(), host.to_string())),
                "{arg}"
            );
        }
        for bad in ["xn--a.com", "1.2.3.09", "http://a b/", "fe80::1%eth0"] {
            assert!(url_and_host(bad, false).is_err(), "{bad:?}");
        }
    }

    /// As typed, the host reaches the PAC untouched, as libproxy and pypac hand it over.
    #[test]
    fn hosts_as_typed() {
        let cases = [
            ("052.96.1.1", ("http://052.96.1.1/", "052.96.1.1")),
            (
                "Login.Example.",
                ("http://Login.Example./", "Login.Example."),
            ),
            ("2001:DB8::1", ("http://[2001:DB8::1]/", "2001:DB8::1")),
            ("http://u@A.b:81/x", ("http://u@A.b:81/x", "A.b")),
            ("http://[::1]:8080/", ("http://[::1]:8080/", "::1")),
            ("xn--a.com", ("http://xn--a.com/", "xn--a.com")),
        ];
        for (arg, (url, host)) in cases {
            assert_eq!(
                url_and_host(arg, true),
                Ok((url.to_string(), host.to_string())),
                "{arg}"
            );
        }
    }
}
