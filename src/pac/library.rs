//! The PAC library functions Chromium implements natively (in C++ beside V8), implemented
//! natively here too, with Chromium's behaviour: `isPlainHostName`, `sortIpAddressList` and
//! `isInNetEx`. Chromium's own helper tests (`pac_library_unittest.js`) are the
//! specification; the tests below check the same behaviours.
//!
//! Address literals are read by the URL Standard's parsers (rust-url), as Chromium's
//! `IPAddress::AssignFromIPLiteral` reads them: IPv6 without brackets, IPv4 in the numeric
//! forms the Standard allows.

use std::cmp::Ordering;
use std::net::IpAddr;

use boa_engine::native_function::NativeFunctionPointer;
use boa_engine::{js_string, Context, JsNativeError, JsResult, JsString, JsValue, NativeFunction};

/// Registers the native functions in a context, before the JavaScript helpers load.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    let functions: [(&str, usize, NativeFunctionPointer); 3] = [
        ("isPlainHostName", 1, is_plain_host_name),
        ("sortIpAddressList", 1, sort_ip_address_list),
        ("isInNetEx", 2, is_in_net_ex),
    ];
    for (name, length, f) in functions {
        ctx.register_global_builtin_callable(
            JsString::from(name),
            length,
            NativeFunction::from_fn_ptr(f),
        )?;
    }
    Ok(())
}

/// The first `n` arguments as strings, or `None` when one is missing or not a string.
fn strings(args: &[JsValue], n: usize) -> Option<Vec<String>> {
    (0..n)
        .map(|i| {
            args.get(i)
                .and_then(JsValue::as_string)
                .map(|s| s.to_std_string_escaped())
        })
        .collect()
}

/// An address literal as Chromium reads one: IPv6 without brackets, or IPv4 in any form
/// the URL Standard allows. The family is kept (an IPv4-mapped IPv6 address stays IPv6).
pub fn ip_literal(s: &str) -> Option<IpAddr> {
    let allowed = |b: u8| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'x' | b'X');
    if s.is_empty() || !s.bytes().all(allowed) {
        return None;
    }
    if s.contains(':') {
        return match url::Host::parse(&format!("[{s}]")).ok()? {
            url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
            _ => None,
        };
    }
    match url::Host::parse(s).ok()? {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        _ => None,
    }
}

/// `isPlainHostName(host)`: no dot and not an IPv6 literal. Anything but a string as the
/// first argument is a `TypeError`, as in Chromium.
fn is_plain_host_name(_: &JsValue, args: &[JsValue], _: &mut Context) -> JsResult<JsValue> {
    let Some(host) = strings(args, 1) else {
        return Err(JsNativeError::typ()
            .with_message("Requires 1 string parameter")
            .into());
    };
    let host = &host[0];
    Ok(JsValue::from(
        !host.contains('.') && ip_literal(host).is_none(),
    ))
}

/// `sortIpAddressList(list)`: the `;`-separated addresses sorted, IPv6 before IPv4 and each
/// family in ascending order, stable, each address as written; spaces and tabs are dropped
/// and empty entries skipped. `false` for an empty list or any entry that is not an address;
/// `null` without a string argument.
fn sort_ip_address_list(_: &JsValue, args: &[JsValue], _: &mut Context) -> JsResult<JsValue> {
    let Some(list) = strings(args, 1) else {
        return Ok(JsValue::null());
    };
    if !list[0].is_ascii() {
        return Ok(JsValue::null());
    }
    Ok(match sort_list(&list[0]) {
        Some(sorted) => JsValue::from(js_string!(sorted.as_str())),
        None => JsValue::from(false),
    })
}

fn sort_list(list: &str) -> Option<String> {
    let cleaned: String = list.chars().filter(|c| !matches!(c, ' ' | '\t')).collect();
    let mut entries: Vec<(&str, IpAddr)> = Vec::new();
    for token in cleaned.split(';').filter(|t| !t.is_empty()) {
        entries.push((token, ip_literal(token)?));
    }
    if entries.is_empty() {
        return None;
    }
    entries.sort_by(|(_, a), (_, b)| match (a, b) {
        (IpAddr::V6(_), IpAddr::V4(_)) => Ordering::Less,
        (IpAddr::V4(_), IpAddr::V6(_)) => Ordering::Greater,
        _ => a.cmp(b),
    });
    let texts: Vec<&str> = entries.iter().map(|(t, _)| *t).collect();
    Some(texts.join(";"))
}

/// `isInNetEx(address, prefix)`: whether an address literal lies in a CIDR prefix, an IPv4
/// address meeting an IPv6 prefix as its IPv4-mapped form (and the other way round). No DNS:
/// a name is not an address. `false` for a bad address or prefix; `null` without two string
/// arguments.
fn is_in_net_ex(_: &JsValue, args: &[JsValue], _: &mut Context) -> JsResult<JsValue> {
    let Some(a) = strings(args, 2) else {
        return Ok(JsValue::null());
    };
    Ok(JsValue::from(in_net_ex(&a[0], &a[1]).unwrap_or(false)))
}

fn in_net_ex(address: &str, prefix: &str) -> Option<bool> {
    let address = ip_literal(address)?;
    let (net, len) = prefix.split_once('/')?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
        return None;
    }
    let len: u32 = len.parse().ok()?;
    let net = ip_literal(net)?;
    let as_v6 = |ip: IpAddr| match ip {
        IpAddr::V4(a) => (u128::from(a.to_ipv6_mapped()), 96),
        IpAddr::V6(a) => (u128::from(a), 0),
    };
    let bits = match net {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    if len > bits {
        return None;
    }
    let (a, _) = as_v6(address);
    let (n, shift) = as_v6(net);
    let len = len + shift;
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    Some(a & mask == n & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_follows_chromium() {
        let cases: &[(&str, Option<&str>)] = &[
            ("::2;::3;::1", Some("::1;::2;::3")),
            (
                "157.59.139.22;2001:4898:28:3:201:2ff:feea:fc14;fe80::5efe:157:9d3b:8b16",
                Some("2001:4898:28:3:201:2ff:feea:fc14;fe80::5efe:157:9d3b:8b16;157.59.139.22"),
            ),
            ("127.0.0.1", Some("127.0.0.1")),
            ("192.168.1.1;0:0::1", Some("0:0::1;192.168.1.1")),
            ("0::1;::1;0:0::1", Some("0::1;::1;0:0::1")),
            (";127.0.0.1;", Some("127.0.0.1")),
            ("192.168.0.1; 192.168.0.2", Some("192.168.0.1;192.168.0.2")),
            (
                "127.0.0.1;\t127.0.0.2;\t 127.0.0.0",
                Some("127.0.0.0;127.0.0.1;127.0.0.2"),
            ),
            ("", None),
            (" ", None),
            (";", None),
            (" ;  ; ", None),
            ("256.0.0.1", None),
            ("192.168.1.1;0:0:0:1;127.0.0.1", None),
            ("[::1]", None),
            ("example.com", None),
        ];
        for (input, want) in cases {
            assert_eq!(sort_list(input).as_deref(), *want, "{input:?}");
        }
    }

    #[test]
    fn prefixes_follow_chromium() {
        let cases: &[(&str, &str, bool)] = &[
            ("198.95.249.79", "198.95.249.79/32", true),
            ("198.95.115.10", "198.95.0.0/16", true),
            ("198.95.1.1", "198.95.3.3/16", true),
            ("0:0:0:0:0:0:7f00:1", "0:0:0:0:0:0:7f00:1/32", true),
            (
                "3ffe:8311:ffff:abcd:1234:dead:beef:101",
                "3ffe:8311:ffff::/48",
                true,
            ),
            ("127.0.0.1", "0:0:0:0:0:0:7f00:1/16", true),
            ("192.168.24.3", "fe80:0:0:0:0:0:c0a8:1803/32", false),
            ("::ffff:192.168.100.5", "192.168.1.1/16", true),
            ("::ffff:10.168.100.5", "192.168.1.1/16", false),
            ("::fffe:192.168.100.5", "192.168.1.1/16", false),
            ("::ffff:192.168.100.5", "::ffff:192.168.1.1/112", true),
            ("::ffff:10.168.100.5", "::ffff:192.168.1.1/112", false),
            ("192.168.1.1", "::ffff:192.168.1.1/112", true),
            ("192.168.1.1", "::fffe:192.168.1.1/112", false),
            ("10.168.1.1", "::ffff:192.168.1.1/112", false),
            ("198.95.249.78", "198.95.249.79/32", false),
            ("198.96.115.10", "198.95.0.0/16", false),
            (
                "3fff:8311:ffff:abcd:1234:dead:beef:101",
                "3ffe:8311:ffff::/48",
                false,
            ),
            ("256.0.0.1", "198.95.249.79", false),
            ("127.0.0.1 ", "127.0.0.1/32", false),
            ("198.95.115.10", "198.95.0.0/34", false),
            ("127.0.0.1", "127.0.0.1", false),
            ("10.0.0.1", "0.0.0.0/0", true),
            ("intranet.corp", "10.0.0.0/8", false),
        ];
        for (address, prefix, want) in cases {
            assert_eq!(
                in_net_ex(address, prefix).unwrap_or(false),
                *want,
                "{address} in {prefix}"
            );
        }
    }

    #[test]
    fn literals() {
        for (s, want) in [
            ("::1", true),
            ("::192.186.1.1", true),
            ("127.0.0.1", true),
            ("0x7f.1", true),
            ("foopy::1", false),
            ("foo:112", false),
            (":", false),
            ("[:]", false),
            ("[::1]", false),
            ("google", false),
        ] {
            assert_eq!(ip_literal(s).is_some(), want, "{s:?}");
        }
    }
}
