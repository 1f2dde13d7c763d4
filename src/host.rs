//! Host normalisation: the one function every caller (CLI, HTTP, catalogue loaders, PAC probes)
//! uses to turn what a user, browser or proxy typed into the form the matcher compares.
//!
//! Browsers hand PAC scripts hosts that may be upper case, carry a trailing dot, be IDN in
//! Unicode, or be bracketed IPv6 literals. If the API and the PAC normalised differently, a host
//! could be allowed by one and refused by the other, so the rules live here once:
//!
//! * lowercase; one trailing dot is stripped (`Example.COM.` → `example.com`);
//! * Unicode labels are converted to punycode with UTS-46 (`bücher.de` → `xn--bcher-kva.de`);
//! * IPv4 and IPv6 literals (IPv6 with or without brackets) become addresses; IPv4-mapped IPv6
//!   (`::ffff:1.2.3.4`) is canonicalised to IPv4 so it meets the IPv4 prefix table;
//! * empty labels, labels over 63 octets, names over 253 octets and characters outside
//!   letters, digits, `-` and `_` are refused with a one-line reason.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// Longest DNS name in presentation form without the trailing dot (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 253;
/// Longest DNS label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Inputs longer than this are refused before any work is done on them: even a fully
/// Unicode name cannot exceed it and still fit in 253 octets of punycode.
const MAX_INPUT_LEN: usize = 1024;

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
    #[error("internationalised name could not be converted to punycode")]
    Idna,
    #[error("bracketed host {0:?} is not an IPv6 address")]
    BadBracketed(String),
}

/// Normalises a host name or IP literal (see the module docs for the rules).
pub fn normalize(input: &str) -> Result<Host<'_>, HostError> {
    if input.is_empty() {
        return Err(HostError::Empty);
    }
    if input.len() > MAX_INPUT_LEN {
        return Err(HostError::TooLongInput(input.len()));
    }
    if let Some(inner) = input.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| HostError::BadBracketed(input.to_owned()))?;
        return inner
            .parse::<Ipv6Addr>()
            .map(|ip| Host::Ip(IpAddr::V6(ip).to_canonical()))
            .map_err(|_| HostError::BadBracketed(input.to_owned()));
    }
    let trimmed = input.strip_suffix('.').unwrap_or(input);
    // An IPv4 literal starts with a digit. An IPv6 one has a colon, which no name may have:
    // names are tried first, and only one refused for a colon gets an address parse.
    let parse_ip = || {
        trimmed
            .parse::<IpAddr>()
            .map(|ip| Host::Ip(ip.to_canonical()))
    };
    if trimmed.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        if let Ok(ip) = parse_ip() {
            return Ok(ip);
        }
    }
    match normalize_name(trimmed, false) {
        Ok(name) => Ok(Host::Name(name)),
        Err(e @ HostError::BadChar { .. }) => parse_ip().map_err(|_| e),
        Err(e) => Err(e),
    }
}

/// Normalises a name, or (with `allow_star`) a catalogue pattern in which `*` may stand for any
/// run of characters. The trailing dot must already be stripped.
///
/// Shared by [`normalize`] and the catalogue's pattern parser so a pattern and the hosts it is
/// meant to match can never be normalised differently.
pub(crate) fn normalize_name(name: &str, allow_star: bool) -> Result<Cow<'_, str>, HostError> {
    if name.is_empty() {
        return Err(HostError::Empty);
    }
    if name.is_ascii() {
        return lower_ascii_name(name, allow_star);
    }
    let ascii = to_punycode(name, allow_star)?;
    validate_ascii_name(&ascii, allow_star)?;
    Ok(Cow::Owned(ascii))
}

/// Lowercases and validates an ASCII name — the form nearly every host arrives in, once per
/// `/decide` — with one table lookup per byte, copying it only if it has upper-case letters.
/// Gives the same result and the same error as lowercasing and then calling
/// [`validate_ascii_name`] (a table-driven test holds the two together).
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

/// Converts a Unicode name label by label, so that `*` in a pattern (which UTS-46 would reject)
/// survives in the labels that hold it.
fn to_punycode(name: &str, allow_star: bool) -> Result<String, HostError> {
    let mut out = String::with_capacity(name.len() * 2);
    for (i, label) in name.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        if label.is_ascii() {
            out.push_str(&label.to_ascii_lowercase());
        } else if allow_star && label.contains('*') {
            // `*` inside a Unicode label cannot be encoded meaningfully.
            let pos = name.find(|c: char| !c.is_ascii()).unwrap_or(0);
            let ch = name[pos..].chars().next().unwrap_or('?');
            return Err(HostError::BadChar { ch, pos });
        } else if label.is_empty() {
            return Err(HostError::EmptyLabel { index: i });
        } else {
            let converted = idna::domain_to_ascii(label).map_err(|_| HostError::Idna)?;
            out.push_str(&converted);
        }
    }
    Ok(out)
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

    #[test]
    fn accepted_forms() {
        let long_label = "a".repeat(63);
        let cases: &[(&str, Host<'static>)] = &[
            ("Outlook.Office365.COM", name("outlook.office365.com")),
            ("outlook.office365.com.", name("outlook.office365.com")),
            ("_ldap._tcp.example.com", name("_ldap._tcp.example.com")),
            ("localhost", name("localhost")),
            ("bücher.de", name("xn--bcher-kva.de")),
            ("BÜCHER.de.", name("xn--bcher-kva.de")),
            ("xn--bcher-kva.de", name("xn--bcher-kva.de")),
            ("52.96.1.2", ip("52.96.1.2")),
            ("52.96.1.2.", ip("52.96.1.2")),
            ("2603:1006::1", ip("2603:1006::1")),
            ("[2603:1006::1]", ip("2603:1006::1")),
            ("[::ffff:52.96.1.2]", ip("52.96.1.2")),
            ("::ffff:52.96.1.2", ip("52.96.1.2")),
            ("2603:1006:0:0::1", ip("2603:1006::1")),
            (&long_label, name(&long_label)),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input).as_ref(), Ok(want), "input {input:?}");
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
            (&long_label, |e| {
                matches!(e, HostError::LabelTooLong { index: 0, len: 64 })
            }),
            (&long_name, |e| matches!(e, HostError::NameTooLong(259))),
            ("a\0b.com", |e| {
                matches!(e, HostError::BadChar { ch: '\0', pos: 1 })
            }),
            ("a b.com", |e| {
                matches!(e, HostError::BadChar { ch: ' ', .. })
            }),
            ("*.example.com", |e| {
                matches!(e, HostError::BadChar { ch: '*', pos: 0 })
            }),
            ("host:443", |e| {
                matches!(e, HostError::BadChar { ch: ':', .. })
            }),
            ("http://a.com", |e| {
                matches!(e, HostError::BadChar { ch: ':', .. })
            }),
            ("[1.2.3.4]", |e| matches!(e, HostError::BadBracketed(_))),
            ("[::1", |e| matches!(e, HostError::BadBracketed(_))),
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
        for input in ["", "a..b", "a\0b", "[zz]", &"a".repeat(70)] {
            let msg = normalize(input).unwrap_err().to_string();
            assert!(!msg.contains('\n'), "{msg:?}");
        }
    }

    #[test]
    fn patterns_keep_stars() {
        assert_eq!(
            normalize_name("AutoDiscover.*.OnMicrosoft.com", true).as_deref(),
            Ok("autodiscover.*.onmicrosoft.com")
        );
        assert_eq!(
            normalize_name("*.bücher.de", true).as_deref(),
            Ok("*.xn--bcher-kva.de")
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any input is either refused with a reason or normalised to a fixed point.
        #[test]
        fn normalize_never_panics_and_is_idempotent(s in "\\PC{0,80}|[a-zA-Z0-9._:\\[\\]-]{0,80}") {
            if let Ok(h) = normalize(&s) {
                let text = h.to_string();
                prop_assert_eq!(normalize(&text), Ok(h));
            }
        }
    }
}
