//! The host reader: the one function every caller (CLI, HTTP, Squid helper, catalogue
//! loaders, PAC probes) uses to turn what a user, browser or proxy typed into the form the
//! matcher compares.
//!
//! Clients read hosts by the WHATWG URL Standard's host parser (browsers, Node, and — for
//! numbers — the rules of `inet_aton`, which curl and every `getaddrinfo` caller share). If
//! pacwarden read a host differently from the client that connects to it, a host could be
//! allowed under one reading and reached under another, so the reader follows the Standard
//! (for special schemes), with `url::Host::parse` — rust-url, tested against the
//! web-platform-tests URL suite — doing the work:
//!
//! * percent-decoding, then domain-to-ASCII with UTS-46 as the Standard configures it
//!   (non-transitional, CheckBidi, CheckJoiners, ignored code points such as U+00AD dropped,
//!   full-width and ideographic dots as separators, invalid punycode refused) and the
//!   forbidden domain code points refused;
//! * a host whose last label is a number (decimal, `0x` hex, leading-`0` octal) is an IPv4
//!   address or a failure: `0x34.0x60.1.1`, `52.96.257` and `878706945` are all 52.96.1.1,
//!   `052.96.1.1` is 42.96.1.1, `1.2.3.09` and `a.b.c.0x1` are refused;
//! * IPv6 literals, with or without brackets (a `/decide` parameter or a command-line
//!   argument carries no URL around it).
//!
//! pacwarden's own rules on top: one trailing dot is dropped; IPv4-mapped IPv6
//! (`::ffff:1.2.3.4`) is turned into IPv4 so it meets the IPv4 prefixes; empty labels,
//! labels over 63 octets, names over 253 octets and characters other than letters, digits,
//! `-` and `_` are refused (the Standard allows `!`, `*`, `~` and such in a domain; DNS
//! names do not carry them). Every refusal has a one-line reason.
//!
//! [`read`] also says whether the spelling is *portable*: read the same way by a client
//! that passes it untouched to the PAC and by one that canonicalises it first. The
//! generated PAC decides portable spellings exactly and sends every other one to the proxy
//! (`pac-templates/address-ranges.js.j2` holds its reader), so `/decide` reports `proxy` as
//! the route of a spelling that is not portable.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Longest DNS name in presentation form without the trailing dot (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 253;
/// Longest DNS label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Inputs longer than this are refused before any work is done on them: even a fully
/// Unicode name cannot exceed it and still fit in 253 octets of punycode. The generated
/// PAC refuses the same lengths.
pub const MAX_INPUT_LEN: usize = 1024;

/// A normalised destination: a DNS name in canonical ASCII form, or an IP address.
///
/// The name borrows the input when the input already was canonical (the usual case for a
/// `/decide` query), so normalising it allocates nothing; [`Host::into_owned`] detaches it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// Lowercase ASCII name without trailing dot, labels validated.
    Name(Cow<'a, str>),
    /// Canonical address (IPv4-mapped IPv6 already turned into IPv4).
    Ip(IpAddr),
}

impl Host<'_> {
    /// The same host, no longer borrowing the text it was normalised from.
    pub fn into_owned(self) -> Host<'static> {
        match self {
            Host::Name(n) => Host::Name(Cow::Owned(n.into_owned())),
            Host::Ip(ip) => Host::Ip(ip),
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A host as read, with what its spelling means for clients that do not canonicalise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading<'a> {
    pub host: Host<'a>,
    /// Every client reads this spelling as [`Reading::host`], whether it canonicalises it
    /// first (browsers) or hands it to the PAC as typed (libproxy, pypac, pacparser): ASCII
    /// letters, digits, `-`, `_`, `.`, and for IPv6 `:` and brackets, with no punycode label.
    /// The generated PAC sends any other spelling to the proxy.
    pub portable: bool,
}

/// Why a host was refused. Each variant renders as one line suitable for a 4xx body or a CLI
/// error, and carries enough context to find the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("host is empty")]
    Empty,
    #[error("host is {0} bytes long; at most {MAX_INPUT_LEN} are accepted")]
    TooLongInput(usize),
    #[error("name is {0} characters long; DNS allows at most {MAX_NAME_LEN}")]
    NameTooLong(usize),
    #[error("label {index} is empty (two dots in a row, or a leading dot)")]
    EmptyLabel { index: usize },
    #[error("label {index} is {len} characters long; DNS allows at most {MAX_LABEL_LEN}")]
    LabelTooLong { index: usize, len: usize },
    #[error("character {ch:?} at position {pos} is not allowed (letters, digits, '-', '_' only)")]
    BadChar { ch: char, pos: usize },
    #[error(
        "character {0:?} is not allowed in a host (URL Standard: forbidden domain code point)"
    )]
    Forbidden(char),
    #[error(
        "international name is not valid under UTS-46 (invalid punycode, a disallowed \
         character, or a bidi or joiner rule broken)"
    )]
    Idna,
    #[error(
        "the last label is a number, so the host must be an IPv4 address, and {0:?} is not one"
    )]
    BadIpv4(String),
    #[error("{0:?} is not an IPv6 address")]
    BadIpv6(String),
    #[error("'%' is not allowed in a catalogue pattern")]
    PercentInPattern,
}

/// Normalises a host name or IP literal (see the module docs for the rules).
pub fn normalize(input: &str) -> Result<Host<'_>, HostError> {
    read(input).map(|r| r.host)
}

/// Reads a host as clients do (see the module docs) and says whether its spelling is
/// portable.
pub fn read(input: &str) -> Result<Reading<'_>, HostError> {
    if input.is_empty() {
        return Err(HostError::Empty);
    }
    if input.len() > MAX_INPUT_LEN {
        return Err(HostError::TooLongInput(input.len()));
    }
    // Fast paths for the spellings nearly every request uses; each gives exactly what the
    // general path gives (the property test against `url::Host::parse` holds them to it).
    let trimmed = input.strip_suffix('.').unwrap_or(input);
    if trimmed.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        // The standard library reads only four decimal parts without leading zeros: the
        // canonical spelling, which the Standard reads the same way.
        if let Ok(v4) = trimmed.parse::<Ipv4Addr>() {
            return Ok(Reading {
                host: Host::Ip(IpAddr::V4(v4)),
                portable: true,
            });
        }
    }
    if let Some(name) = plain_ascii_name(trimmed) {
        return Ok(Reading {
            host: Host::Name(name),
            portable: true,
        });
    }
    let host = read_general(input)?;
    Ok(Reading {
        host,
        portable: portable_spelling(input),
    })
}

/// A name of ASCII letters, digits, `-` and `_` whose labels are valid, that holds no
/// punycode label and does not end in a number: the Standard reads it as itself,
/// lowercased. One pass over the bytes, copying only a name with upper-case letters; `None`
/// sends everything else (errors included) down the general path.
fn plain_ascii_name(name: &str) -> Option<Cow<'_, str>> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > MAX_NAME_LEN {
        return None;
    }
    // A label is fine when it has 1-63 bytes and does not start with `xn--` (any case).
    let label_ok = |start: usize, end: usize| {
        let label = &b[start..end];
        (1..=MAX_LABEL_LEN).contains(&label.len())
            && !(label.len() >= 4
                && label[0] | 0x20 == b'x'
                && label[1] | 0x20 == b'n'
                && label[2] == b'-'
                && label[3] == b'-')
    };
    let (mut start, mut upper) = (0, false);
    for (pos, &c) in b.iter().enumerate() {
        match NAME_CLASS[usize::from(c)] {
            NAME_CHAR => {}
            UPPER => upper = true,
            DOT if label_ok(start, pos) => start = pos + 1,
            _ => return None,
        }
    }
    if !label_ok(start, b.len()) || ends_in_a_number(&name[start..]) {
        return None;
    }
    Some(if upper {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    })
}

/// The Standard's "ends in a number" for a last label: all digits, or `0x` followed by hex
/// digits. A host ending in one is an IPv4 address or nothing.
fn ends_in_a_number(last: &str) -> bool {
    let b = last.as_bytes();
    if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
        return true;
    }
    b.len() >= 2 && b[0] == b'0' && b[1] | 0x20 == b'x' && b[2..].iter().all(u8::is_ascii_hexdigit)
}

/// Whether the generated PAC reads `input` as the Standard does: see
/// [`Reading::portable`]. The PAC's reader (`pwRead` in `address-ranges.js.j2`) makes the
/// same test.
fn portable_spelling(input: &str) -> bool {
    input
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']'))
        && !input
            .split('.')
            .any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case("xn--"))
}

/// The Standard's host parser with pacwarden's rules on top; IPv6 with or without brackets.
fn read_general(input: &str) -> Result<Host<'static>, HostError> {
    let parsed = if let Some(inner) = input.strip_prefix('[') {
        let bad = || HostError::BadIpv6(shown(input));
        inner.strip_suffix(']').ok_or_else(bad)?;
        url::Host::parse(input).map_err(|_| bad())?
    } else if input.contains(':') {
        // Only an IPv6 literal may hold a colon; anything else (`host:443`) is refused for it.
        url::Host::parse(&format!("[{input}]")).map_err(|_| {
            if input
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                HostError::BadIpv6(shown(input))
            } else {
                HostError::Forbidden(':')
            }
        })?
    } else {
        url::Host::parse(input).map_err(|e| standard_error(input, e))?
    };
    match parsed {
        url::Host::Ipv4(a) => Ok(Host::Ip(IpAddr::V4(a))),
        url::Host::Ipv6(a) => Ok(Host::Ip(IpAddr::V6(a).to_canonical())),
        url::Host::Domain(d) => {
            let name = d.strip_suffix('.').unwrap_or(&d);
            if name.is_empty() {
                return Err(HostError::Empty);
            }
            validate_ascii_name(name, false)?;
            Ok(Host::Name(Cow::Owned(name.to_owned())))
        }
    }
}

/// The reason behind a refusal of the Standard's parser, as precise as the input allows.
fn standard_error(input: &str, e: url::ParseError) -> HostError {
    match e {
        url::ParseError::EmptyHost => HostError::Empty,
        url::ParseError::InvalidIpv4Address => HostError::BadIpv4(shown(input)),
        url::ParseError::InvalidIpv6Address => HostError::BadIpv6(shown(input)),
        _ => {
            let decoded = percent_encoding::percent_decode_str(input).decode_utf8_lossy();
            match decoded.chars().find(|&c| is_forbidden_domain_code_point(c)) {
                Some(c) => HostError::Forbidden(c),
                None => HostError::Idna,
            }
        }
    }
}

/// The Standard's forbidden domain code points: C0 controls, space, `#`, `%`, `/`, `:`, `<`,
/// `>`, `?`, `@`, `[`, `\`, `]`, `^`, `|`, DEL.
fn is_forbidden_domain_code_point(c: char) -> bool {
    c <= ' '
        || c == '\u{7f}'
        || matches!(
            c,
            '#' | '%' | '/' | ':' | '<' | '>' | '?' | '@' | '[' | '\\' | ']' | '^' | '|'
        )
}

/// At most 60 characters of an input, for an error message.
fn shown(input: &str) -> String {
    input.chars().take(60).collect()
}

/// Normalises a catalogue pattern in which `*` stands for any run of characters (the
/// trailing dot already stripped) by the rules [`read`] applies to names, so that a pattern
/// and the hosts it is meant to match cannot be read differently. Patterns are not URLs: `%`
/// is refused rather than decoded.
pub(crate) fn normalize_pattern(pattern: &str) -> Result<Cow<'_, str>, HostError> {
    if pattern.is_empty() {
        return Err(HostError::Empty);
    }
    if pattern.contains('%') {
        return Err(HostError::PercentInPattern);
    }
    if pattern.is_ascii() {
        let lowered = lower_ascii_name(pattern, true)?;
        if !has_punycode_label(&lowered) {
            return Ok(lowered);
        }
    }
    let ascii = match url::Host::parse(pattern).map_err(|e| standard_error(pattern, e))? {
        url::Host::Domain(d) => d,
        _ => return Err(HostError::BadIpv4(shown(pattern))),
    };
    let name = ascii.strip_suffix('.').unwrap_or(&ascii);
    validate_ascii_name(name, true)?;
    Ok(Cow::Owned(name.to_owned()))
}

/// Whether a lowercase name has a label starting with `xn--`, which only the Standard's
/// punycode check can accept or refuse.
fn has_punycode_label(name: &str) -> bool {
    name.starts_with("xn--") || name.contains(".xn--")
}

/// Lowercases and validates an ASCII catalogue pattern (`*` allowed with `allow_star`) with
/// one table lookup per byte, copying it only if it has upper-case letters. Gives the same
/// result and the same error as lowercasing and then calling [`validate_ascii_name`] (a
/// table-driven test holds the two together).
fn lower_ascii_name(name: &str, allow_star: bool) -> Result<Cow<'_, str>, HostError> {
    if name.len() > MAX_NAME_LEN {
        return Err(HostError::NameTooLong(name.len()));
    }
    let (mut index, mut start) = (0, 0);
    // The label's first bad character, reported once the label's length has been checked:
    // the order `validate_ascii_name` checks in. (Bad characters are never letters, so the
    // input's byte is the lowercased name's.)
    let mut bad: Option<usize> = None;
    let mut upper = false;
    for (pos, &b) in name.as_bytes().iter().enumerate() {
        match NAME_CLASS[usize::from(b)] {
            NAME_CHAR => {}
            UPPER => upper = true,
            DOT => {
                check_label(index, pos - start)?;
                if let Some(at) = bad {
                    return Err(bad_char(name, at));
                }
                index += 1;
                start = pos + 1;
            }
            STAR if allow_star => {}
            _ => {
                bad.get_or_insert(pos);
            }
        }
    }
    check_label(index, name.len() - start)?;
    match bad {
        Some(at) => Err(bad_char(name, at)),
        None if upper => Ok(Cow::Owned(name.to_ascii_lowercase())),
        None => Ok(Cow::Borrowed(name)),
    }
}

const BAD: u8 = 0;
const NAME_CHAR: u8 = 1;
const DOT: u8 = 2;
const STAR: u8 = 3;
const UPPER: u8 = 4;

/// What each byte of a name is: lower-case letters, digits, `-` and `_`; upper-case letters
/// (valid once lowercased); the dot; the star of a pattern; anything else.
static NAME_CLASS: [u8; 256] = {
    let mut t = [BAD; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = match c {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => NAME_CHAR,
            b'A'..=b'Z' => UPPER,
            b'.' => DOT,
            b'*' => STAR,
            _ => BAD,
        };
        b += 1;
    }
    t
};

fn bad_char(name: &str, pos: usize) -> HostError {
    HostError::BadChar {
        ch: char::from(name.as_bytes()[pos]),
        pos,
    }
}

fn check_label(index: usize, len: usize) -> Result<(), HostError> {
    match len {
        0 => Err(HostError::EmptyLabel { index }),
        len if len > MAX_LABEL_LEN => Err(HostError::LabelTooLong { index, len }),
        _ => Ok(()),
    }
}

fn validate_ascii_name(name: &str, allow_star: bool) -> Result<(), HostError> {
    if name.len() > MAX_NAME_LEN {
        return Err(HostError::NameTooLong(name.len()));
    }
    let mut pos = 0;
    for (index, label) in name.split('.').enumerate() {
        if label.is_empty() {
            return Err(HostError::EmptyLabel { index });
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(HostError::LabelTooLong {
                index,
                len: label.len(),
            });
        }
        for (off, b) in label.bytes().enumerate() {
            let ok = b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b == b'-'
                || b == b'_'
                || (allow_star && b == b'*');
            if !ok {
                return Err(HostError::BadChar {
                    ch: b as char,
                    pos: pos + off,
                });
            }
        }
        pos += label.len() + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Host<'static> {
        Host::Name(Cow::Owned(s.to_owned()))
    }
    fn ip(s: &str) -> Host<'static> {
        Host::Ip(s.parse().unwrap())
    }

    /// Each class of spelling the reader meets, with what a client connects to and whether
    /// the PAC reads the spelling as typed.
    #[test]
    fn accepted_forms() {
        let long_label = "a".repeat(63);
        let cases: &[(&str, Host<'static>, bool)] = &[
            // Plain names: lowercased, one trailing dot dropped.
            ("Outlook.Office365.COM", name("outlook.office365.com"), true),
            (
                "outlook.office365.com.",
                name("outlook.office365.com"),
                true,
            ),
            (
                "_ldap._tcp.example.com",
                name("_ldap._tcp.example.com"),
                true,
            ),
            ("localhost", name("localhost"), true),
            ("a--b.example", name("a--b.example"), true),
            (&long_label, name(&long_label), true),
            // International names: UTS-46, punycode.
            ("bücher.de", name("xn--bcher-kva.de"), false),
            ("BÜCHER.de.", name("xn--bcher-kva.de"), false),
            ("xn--bcher-kva.de", name("xn--bcher-kva.de"), false),
            ("XN--BCHER-KVA.de", name("xn--bcher-kva.de"), false),
            // Full-width, ideographic and halfwidth dots separate labels; full-width letters
            // map to ASCII; ignored code points vanish.
            (
                "login．microsoftonline．com",
                name("login.microsoftonline.com"),
                false,
            ),
            (
                "ｌｏｇｉｎ.microsoftonline.com",
                name("login.microsoftonline.com"),
                false,
            ),
            (
                "outlook.office365.com。",
                name("outlook.office365.com"),
                false,
            ),
            (
                "outlook｡office365.com",
                name("outlook.office365.com"),
                false,
            ),
            (
                "out\u{ad}look.office365.com",
                name("outlook.office365.com"),
                false,
            ),
            (
                "outlook.office365\u{200b}.com",
                name("outlook.office365.com"),
                false,
            ),
            // Percent-encoded spellings are decoded first.
            (
                "login%2emicrosoftonline.com",
                name("login.microsoftonline.com"),
                false,
            ),
            (
                "%4Cogin.microsoftonline.com",
                name("login.microsoftonline.com"),
                false,
            ),
            // IPv4: canonical, and every numeric form of the Standard.
            ("52.96.1.2", ip("52.96.1.2"), true),
            ("52.96.1.2.", ip("52.96.1.2"), true),
            ("0x34.0x60.1.1", ip("52.96.1.1"), true),
            ("0X34.0X60.0X1.0X1", ip("52.96.1.1"), true),
            ("52.96.257", ip("52.96.1.1"), true),
            ("52.6291713", ip("52.96.1.1"), true),
            ("878706945", ip("52.96.1.1"), true),
            ("0x34600101", ip("52.96.1.1"), true),
            ("064.0140.01.01", ip("52.96.1.1"), true),
            ("052.96.1.1", ip("42.96.1.1"), true),
            ("52.96.01.1", ip("52.96.1.1"), true),
            ("877658369", ip("52.80.1.1"), true),
            ("0x", ip("0.0.0.0"), true),
            ("0", ip("0.0.0.0"), true),
            ("4294967295", ip("255.255.255.255"), true),
            ("1.2.3.4.", ip("1.2.3.4"), true),
            ("０x34.0x60.1.1", ip("52.96.1.1"), false),
            ("52。96。1。1", ip("52.96.1.1"), false),
            // IPv6, brackets optional; IPv4-mapped meets the IPv4 prefixes.
            ("2603:1006::1", ip("2603:1006::1"), true),
            ("[2603:1006::1]", ip("2603:1006::1"), true),
            ("2603:1006:0:0::1", ip("2603:1006::1"), true),
            ("[2603:1006:0:0:0:0:0:1]", ip("2603:1006::1"), true),
            ("[::ffff:52.96.1.2]", ip("52.96.1.2"), true),
            ("::ffff:52.96.1.2", ip("52.96.1.2"), true),
            ("::FFFF:3460:101", ip("52.96.1.1"), true),
        ];
        for (input, want, portable) in cases {
            let got = read(input);
            assert_eq!(got.as_ref().map(|r| &r.host), Ok(want), "input {input:?}");
            assert_eq!(got.unwrap().portable, *portable, "input {input:?}");
        }
    }

    type Check = fn(&HostError) -> bool;

    #[test]
    fn refused_forms() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = ["abcdefghi"; 26].join(".");
        let cases: &[(&str, Check)] = &[
            ("", |e| matches!(e, HostError::Empty)),
            (".", |e| matches!(e, HostError::Empty)),
            ("a..b", |e| matches!(e, HostError::EmptyLabel { index: 1 })),
            (".a.b", |e| matches!(e, HostError::EmptyLabel { index: 0 })),
            ("a.b..", |e| matches!(e, HostError::EmptyLabel { index: 2 })),
            ("a．．b", |e| {
                matches!(e, HostError::EmptyLabel { index: 1 })
            }),
            (&long_label, |e| {
                matches!(e, HostError::LabelTooLong { index: 0, len: 64 })
            }),
            (&long_name, |e| matches!(e, HostError::NameTooLong(259))),
            // Forbidden domain code points, typed or percent-encoded.
            ("a\0b.com", |e| matches!(e, HostError::Forbidden('\0'))),
            ("a b.com", |e| matches!(e, HostError::Forbidden(' '))),
            ("a%20b.com", |e| matches!(e, HostError::Forbidden(' '))),
            ("a%2fb.com", |e| matches!(e, HostError::Forbidden('/'))),
            ("a%b.com", |e| matches!(e, HostError::Forbidden('%'))),
            ("a/b.com", |e| matches!(e, HostError::Forbidden('/'))),
            ("a@b.com", |e| matches!(e, HostError::Forbidden('@'))),
            ("host:443", |e| matches!(e, HostError::Forbidden(':'))),
            ("http://a.com", |e| matches!(e, HostError::Forbidden(':'))),
            // Allowed by the Standard, not by DNS names.
            ("*.example.com", |e| {
                matches!(e, HostError::BadChar { ch: '*', pos: 0 })
            }),
            ("a!b.com", |e| {
                matches!(e, HostError::BadChar { ch: '!', .. })
            }),
            // A number at the end makes the whole an IPv4 address or nothing.
            ("1.2.3.09", |e| matches!(e, HostError::BadIpv4(_))),
            ("4294967296", |e| matches!(e, HostError::BadIpv4(_))),
            ("1.2.3.4.5", |e| matches!(e, HostError::BadIpv4(_))),
            ("a.b.c.0x1", |e| matches!(e, HostError::BadIpv4(_))),
            ("outlook.office365.123", |e| {
                matches!(e, HostError::BadIpv4(_))
            }),
            ("52.96.256.1", |e| matches!(e, HostError::BadIpv4(_))),
            ("52.96.65536", |e| matches!(e, HostError::BadIpv4(_))),
            // Invalid punycode, joiners out of context, bidi rule broken.
            ("xn--a", |e| matches!(e, HostError::Idna)),
            ("xn--login.microsoftonline.com", |e| {
                matches!(e, HostError::Idna)
            }),
            ("xn--zn7c.com", |e| matches!(e, HostError::Idna)),
            ("\u{200d}.example", |e| matches!(e, HostError::Idna)),
            ("a\u{5d0}.com", |e| matches!(e, HostError::Idna)),
            // IPv6: invalid literals, zone ids, IPv4 in brackets.
            ("[1.2.3.4]", |e| matches!(e, HostError::BadIpv6(_))),
            ("[::1", |e| matches!(e, HostError::BadIpv6(_))),
            ("fe80::1%eth0", |e| matches!(e, HostError::Forbidden(':'))),
            ("[fe80::1%25eth0]", |e| matches!(e, HostError::BadIpv6(_))),
            ("1::2::3", |e| matches!(e, HostError::BadIpv6(_))),
            ("::ffff:052.96.1.1", |e| matches!(e, HostError::BadIpv6(_))),
            ("2603::1.", |e| matches!(e, HostError::BadIpv6(_))),
        ];
        for (input, check) in cases {
            let got = normalize(input);
            match &got {
                Err(e) => assert!(check(e), "input {input:?} gave {e:?}"),
                Ok(h) => panic!("input {input:?} accepted as {h:?}"),
            }
        }
        let huge = "a".repeat(100_000);
        assert_eq!(normalize(&huge), Err(HostError::TooLongInput(100_000)));
    }

    /// The one-pass ASCII path agrees with lowercasing and then validating, errors included.
    #[test]
    fn one_pass_agrees_with_validation() {
        let long_label = "b".repeat(64);
        let long_name = ["abcdefghi"; 26].join(".");
        let mut inputs: Vec<String> = [
            "Outlook.Office365.COM",
            "a b..c",
            "a..b c",
            "a.b c.",
            "x.*.Example.com",
            "*",
            "a\0b.com",
            "A_B-C.d9",
            "-.x",
            "ab.cd:443",
            "a.b/c",
        ]
        .map(String::from)
        .to_vec();
        inputs.push(format!("{long_label}.x y"));
        inputs.push(format!("x y.{long_label}"));
        inputs.push(long_name);
        for input in &inputs {
            for star in [false, true] {
                let lowered = input.to_ascii_lowercase();
                let want = validate_ascii_name(&lowered, star).map(|()| lowered.clone());
                let got = lower_ascii_name(input, star).map(Cow::into_owned);
                assert_eq!(got, want, "{input:?} star={star}");
            }
        }
    }

    /// A name that is already canonical is borrowed, not copied; any other is copied once.
    #[test]
    fn canonical_names_are_borrowed() {
        let borrowed = |s: &str| matches!(normalize(s), Ok(Host::Name(Cow::Borrowed(_))));
        assert!(borrowed("outlook.office365.com"));
        assert!(borrowed("outlook.office365.com."));
        assert!(!borrowed("Outlook.office365.com"));
        assert!(!borrowed("bücher.de"));
    }

    #[test]
    fn errors_are_one_line() {
        for input in [
            "",
            "a..b",
            "a\0b",
            "[zz]",
            &"a".repeat(70),
            "a\nb",
            "xn--a",
            "1.2.3.09",
        ] {
            let msg = normalize(input).unwrap_err().to_string();
            assert!(!msg.contains('\n'), "{msg:?}");
        }
    }

    #[test]
    fn patterns_keep_stars() {
        for (pattern, want) in [
            (
                "AutoDiscover.*.OnMicrosoft.com",
                "autodiscover.*.onmicrosoft.com",
            ),
            ("*.bücher.de", "*.xn--bcher-kva.de"),
            ("*.BÜCHER．de", "*.xn--bcher-kva.de"),
            ("*.xn--bcher-kva.de", "*.xn--bcher-kva.de"),
        ] {
            assert_eq!(normalize_pattern(pattern).as_deref(), Ok(want), "{pattern}");
        }
        for bad in ["*.xn--a.com", "*.a%2eb.com", "*.a b.com", "*.a..b"] {
            assert!(normalize_pattern(bad).is_err(), "{bad:?}");
        }
    }
}

/// The reader against the reference implementation of the URL Standard on generated
/// spellings: numeric forms in every base and part count, Unicode letters and dots, mixed
/// separators, ignorable code points, punycode valid and not.
#[cfg(test)]
pub(crate) mod props {
    use super::*;
    use proptest::prelude::*;

    /// What the Standard (rust-url) makes of `input`, with pacwarden's rules on top, written
    /// without any of the reader's shortcuts.
    pub(crate) fn oracle(input: &str) -> Option<Host<'static>> {
        if input.is_empty() || input.len() > MAX_INPUT_LEN {
            return None;
        }
        let bracketed = if input.contains(':') && !input.starts_with('[') {
            format!("[{input}]")
        } else {
            input.to_owned()
        };
        match url::Host::parse(&bracketed).ok()? {
            url::Host::Ipv4(a) => Some(Host::Ip(IpAddr::V4(a))),
            url::Host::Ipv6(a) => Some(Host::Ip(IpAddr::V6(a).to_canonical())),
            url::Host::Domain(d) => {
                let d = d.strip_suffix('.').unwrap_or(&d);
                let labels_ok = d.split('.').all(|l| {
                    (1..=MAX_LABEL_LEN).contains(&l.len())
                        && l.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                        })
                });
                (labels_ok && d.len() <= MAX_NAME_LEN).then(|| Host::Name(Cow::Owned(d.to_owned())))
            }
        }
    }

    /// A number as one IPv4 part, in one of the three bases.
    pub(crate) fn number() -> impl Strategy<Value = String> {
        (
            prop_oneof![
                0u64..=300,
                0u64..=70_000,
                0u64..=20_000_000,
                0u64..=5_000_000_000
            ],
            0..4u8,
            any::<bool>(),
        )
            .prop_map(|(n, base, zeros)| match base {
                0 => n.to_string(),
                1 => format!("0{n:o}"),
                2 => format!("0x{n:x}"),
                _ if zeros => format!("00{n}"),
                _ => format!("0X{n:X}"),
            })
    }

    pub(crate) fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => number(),
            3 => "[a-z]{1,8}",
            1 => "[A-Za-z0-9_-]{1,6}",
            1 => Just("xn--bcher-kva".to_owned()),
            1 => Just("xn--a".to_owned()),
            1 => Just("xn--zn7c".to_owned()),
            1 => Just("xn--".to_owned()),
            1 => Just("bücher".to_owned()),
            1 => Just("ｌｏｇｉｎ".to_owned()),
            1 => Just("０x34".to_owned()),
            1 => Just("a\u{ad}b".to_owned()),
            1 => Just("a\u{200b}".to_owned()),
            1 => Just("\u{200d}".to_owned()),
            1 => Just("a\u{200c}b".to_owned()),
            1 => Just("\u{5d0}\u{5d1}".to_owned()),
            1 => Just("ß".to_owned()),
            1 => Just("Ⅻ".to_owned()),
            1 => Just("K".to_owned()),
            1 => Just("%2e".to_owned()),
            1 => Just("%41".to_owned()),
            1 => Just("%".to_owned()),
            1 => Just("*".to_owned()),
            1 => Just("!".to_owned()),
            1 => Just(" ".to_owned()),
            1 => Just("".to_owned()),
            1 => "\\PC{1,3}",
        ]
    }

    pub(crate) fn separator() -> impl Strategy<Value = &'static str> {
        prop_oneof![8 => Just("."), 1 => Just("．"), 1 => Just("。"), 1 => Just("｡"), 1 => Just("..")]
    }

    /// Dotted spellings of 1–5 fragments, optionally with a trailing separator.
    pub(crate) fn dotted() -> impl Strategy<Value = String> {
        (
            prop::collection::vec((fragment(), separator()), 1..6),
            prop_oneof![3 => Just(""), 1 => Just("."), 1 => Just("。")],
        )
            .prop_map(|(parts, tail)| {
                let mut s = String::new();
                for (i, (f, sep)) in parts.iter().enumerate() {
                    if i > 0 {
                        s.push_str(sep);
                    }
                    s.push_str(f);
                }
                s + tail
            })
    }

    /// IPv6 spellings: full, compressed, with an embedded IPv4 part, bracketed or not, with
    /// zone ids and stray characters.
    pub(crate) fn ipv6() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop_oneof![Just(0u16), any::<u16>()], 1..9),
            0..9usize,
            prop_oneof![4 => Just(String::new()), 1 => number().prop_map(|n| format!(":{n}.1.2.3")), 1 => Just(":52.96.1.1".to_owned()), 1 => Just("%eth0".to_owned()), 1 => Just(".".to_owned())],
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(groups, gap, tail, brackets, upper)| {
                let hex: Vec<String> = groups.iter().map(|g| format!("{g:x}")).collect();
                let mut s = if gap < hex.len() {
                    format!("{}::{}", hex[..gap].join(":"), hex[gap..].join(":"))
                } else {
                    hex.join(":")
                };
                s.push_str(&tail);
                if upper {
                    s = s.to_uppercase();
                }
                if brackets {
                    format!("[{s}]")
                } else {
                    s
                }
            })
    }

    pub(crate) fn spelling() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => dotted(),
            2 => ipv6(),
            1 => any::<[u8; 4]>().prop_map(|a| Ipv4Addr::from(a).to_string()),
            1 => "\\PC{0,12}",
            1 => "[0-9a-fxX.:\\[\\]%]{0,16}",
        ]
    }

    proptest! {
        /// The reader gives what the Standard gives, fast paths included.
        #[test]
        fn reader_agrees_with_the_standard(s in spelling()) {
            let got = normalize(&s).ok().map(Host::into_owned);
            prop_assert_eq!(got, oracle(&s), "input {:?}", s);
        }

        /// Any input is either refused with a reason or normalised to a fixed point, and a
        /// canonical host is a portable spelling unless it holds punycode.
        #[test]
        fn normalize_never_panics_and_is_idempotent(s in spelling()) {
            if let Ok(h) = normalize(&s) {
                let text = h.to_string();
                let again = read(&text);
                prop_assert_eq!(again.as_ref().map(|r| &r.host), Ok(&h));
                prop_assert_eq!(again.unwrap().portable, !has_punycode_label(&text), "{:?}", text);
            }
        }
    }

    /// The generator reaches every class the property is about, so the property cannot pass
    /// by never meeting one.
    #[test]
    fn generated_spellings_cover_every_class() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = spelling();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            let s = strategy.new_tree(&mut runner).unwrap().current();
            let class = match (read(&s), s.is_ascii()) {
                (
                    Ok(Reading {
                        host: Host::Ip(IpAddr::V4(a)),
                        ..
                    }),
                    _,
                ) if a.to_string() != s => "ipv4 numeric form",
                (
                    Ok(Reading {
                        host: Host::Ip(IpAddr::V4(_)),
                        ..
                    }),
                    _,
                ) => "ipv4 canonical",
                (
                    Ok(Reading {
                        host: Host::Ip(IpAddr::V6(_)),
                        ..
                    }),
                    _,
                ) => "ipv6",
                (
                    Ok(Reading {
                        host: Host::Name(n),
                        ..
                    }),
                    false,
                ) if !n.contains("xn--") => "unicode to ascii",
                (
                    Ok(Reading {
                        host: Host::Name(_),
                        ..
                    }),
                    false,
                ) => "unicode to punycode",
                (
                    Ok(Reading {
                        host: Host::Name(_),
                        ..
                    }),
                    true,
                ) => "ascii name",
                (Err(HostError::BadIpv4(_)), _) => "bad ipv4",
                (Err(HostError::BadIpv6(_)), _) => "bad ipv6",
                (Err(HostError::Idna), _) => "idna refused",
                (Err(HostError::Forbidden(_)), _) => "forbidden",
                (Err(_), _) => "other refusal",
            };
            seen.insert(class);
        }
        assert_eq!(seen.len(), 11, "{seen:?}");
    }
}
