//! Host patterns as catalogues write them, parsed once into the form the matcher sorts by
//! strategy: exact names, `*.suffix` wildcards (both trie-expressible) and general globs.

use std::fmt;

use crate::host::{self, Host, HostError};

/// A validated, normalised host pattern. `*` matches any run of characters, dots included,
/// exactly like PAC `shExpMatch`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostPattern {
    /// `outlook.office365.com`: matches that name only.
    Exact(String),
    /// `*.sharepoint.com` (stored with the `*.`): matches names with at least one more label,
    /// never the bare suffix.
    Suffix(String),
    /// Anything else with a `*`: `autodiscover.*.onmicrosoft.com`, `*cdn.onenote.net`.
    Glob(String),
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("wildcard {0:?} has fewer than two literal labels and would match too much")]
    TooBroad(String),
    #[error("{0:?} is an IP address; list it under prefixes")]
    IpLiteral(String),
}

impl HostPattern {
    /// Parses and normalises one pattern (lowercase, trailing dot, punycode) and sorts it into
    /// its strategy. Wildcards need at least two labels without `*`, so `*`, `*.com` and `*com`
    /// are refused: they would swallow a whole TLD.
    pub fn parse(text: &str) -> Result<HostPattern, PatternError> {
        if text.contains('%') {
            return Err(HostError::PercentInPattern.into());
        }
        if !text.contains('*') {
            // A literal name is read exactly as a host is, so it is the name clients reach;
            // whatever reads as an address (`52.96.1.1`, `878706945`) belongs under prefixes.
            return match host::read(text)?.host {
                Host::Name(n) => Ok(HostPattern::Exact(n.into_owned())),
                Host::Ip(_) => Err(PatternError::IpLiteral(text.to_owned())),
            };
        }
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        let norm = host::normalize_pattern(trimmed)?.into_owned();
        let literal_labels = norm.split('.').filter(|l| !l.contains('*')).count();
        if literal_labels < 2 {
            return Err(PatternError::TooBroad(norm));
        }
        match norm.strip_prefix("*.") {
            Some(rest) if !rest.contains('*') => Ok(HostPattern::Suffix(norm)),
            _ => Ok(HostPattern::Glob(norm)),
        }
    }

    /// How specific the pattern is: exact names beat everything; wildcards rank by their number
    /// of literal (non-`*`) characters, which is what Microsoft's own PAC generator's ordered
    /// exceptions amount to.
    pub fn specificity(&self) -> u32 {
        match self {
            HostPattern::Exact(_) => u32::MAX,
            // ".suffix" is literal.
            HostPattern::Suffix(s) => s.len() as u32 - 1,
            HostPattern::Glob(g) => g.bytes().filter(|&b| b != b'*').count() as u32,
        }
    }
}

impl HostPattern {
    /// The pattern as written (normalised): `login.microsoftonline.com`, `*.sharepoint.com`.
    pub fn as_str(&self) -> &str {
        match self {
            HostPattern::Exact(s) | HostPattern::Suffix(s) | HostPattern::Glob(s) => s,
        }
    }

    /// For `*.suffix`, the suffix (`sharepoint.com`).
    pub fn suffix(&self) -> Option<&str> {
        match self {
            HostPattern::Suffix(s) => Some(&s[2..]),
            _ => None,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Values substituted for the placeholders Microsoft's documents use in place of
/// customer-specific labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    /// `<tenant>`: the organisation's tenant name(s), e.g. `contoso`.
    pub tenants: Vec<String>,
    /// `<email_domain>`: the organisation's mail domain(s), e.g. `contoso.com`.
    pub email_domains: Vec<String>,
}

/// A host as written in a catalogue after the odd forms are normalised away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    pub pattern: String,
    /// The port of a `host:port` form, which narrows that host to this TCP port.
    pub port: Option<u16>,
}

/// Turns the forms documents use for destinations into plain patterns:
/// `https://host` → host, `host:port` → host and port, `host/path/*` → host, and
/// `<tenant>` / `<email_domain>` → one pattern per configured value, or `*` when none is set.
pub fn expand_host_spec(raw: &str, ph: &Placeholders) -> Result<Vec<HostSpec>, String> {
    let mut s = raw.trim();
    if let Some(idx) = s.find("://") {
        let scheme = &s[..idx];
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return Err(format!("scheme {scheme:?} is not http or https"));
        }
        s = &s[idx + 3..];
    }
    if let Some(idx) = s.find('/') {
        s = &s[..idx];
    }
    let mut port = None;
    if let Some((h, p)) = s.rsplit_once(':') {
        let n: u16 = p
            .parse()
            .ok()
            .filter(|&n| n != 0)
            .ok_or_else(|| format!("{p:?} after ':' is not a port number"))?;
        port = Some(n);
        s = h;
    }
    let mut out = vec![s.to_owned()];
    for (placeholder, values) in [
        ("<tenant>", &ph.tenants),
        ("<email_domain>", &ph.email_domains),
    ] {
        if !s.contains(placeholder) {
            continue;
        }
        out = out
            .into_iter()
            .flat_map(|p| {
                if values.is_empty() {
                    vec![p.replace(placeholder, "*")]
                } else {
                    values.iter().map(|v| p.replace(placeholder, v)).collect()
                }
            })
            .collect();
    }
    if let Some(bad) = out.iter().find(|p| p.contains('<') || p.contains('>')) {
        return Err(format!("unknown placeholder in {bad:?}"));
    }
    Ok(out
        .into_iter()
        .map(|pattern| HostSpec { pattern, port })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies() {
        use HostPattern::*;
        let cases: &[(&str, HostPattern)] = &[
            (
                "outlook.office365.com",
                Exact("outlook.office365.com".into()),
            ),
            (
                "Outlook.Office365.com.",
                Exact("outlook.office365.com".into()),
            ),
            ("*.sharepoint.com", Suffix("*.sharepoint.com".into())),
            ("*.cloud.microsoft", Suffix("*.cloud.microsoft".into())),
            ("*cdn.onenote.net", Glob("*cdn.onenote.net".into())),
            (
                "autodiscover.*.onmicrosoft.com",
                Glob("autodiscover.*.onmicrosoft.com".into()),
            ),
            ("*-my.sharepoint.com", Glob("*-my.sharepoint.com".into())),
            ("*.*.sharepoint.com", Glob("*.*.sharepoint.com".into())),
            ("login.*.com", Glob("login.*.com".into())),
        ];
        for (input, want) in cases {
            assert_eq!(HostPattern::parse(input).as_ref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn too_broad_or_invalid() {
        for bad in [
            "*", "*.com", "*com", "*.*", "a.*", "*.*.com", "", "a..b.com", "a b.com",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} accepted");
        }
        // Whatever a client reads as an address is one, however it is spelled.
        for ip in [
            "1.2.3.4",
            "878706945",
            "0x34.0x60.1.1",
            "052.96.1.1",
            "2603:1006::1",
            "[::1]",
        ] {
            assert!(
                matches!(HostPattern::parse(ip), Err(PatternError::IpLiteral(_))),
                "{ip}"
            );
        }
        for bad in [
            "xn--a.com",
            "*.xn--a.com",
            "1.2.3.09",
            "a.0x1",
            "a%2eb.com",
            "*.a%2eb.com",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// Literal names in a catalogue are read as clients read them.
    #[test]
    fn names_are_read_as_clients_read_them() {
        for (text, want) in [
            (
                "login\u{ff0e}microsoftonline\u{ff0e}com",
                "login.microsoftonline.com",
            ),
            ("outlook.office365.com\u{3002}", "outlook.office365.com"),
            ("b\u{fc}cher.example", "xn--bcher-kva.example"),
            ("*.B\u{dc}CHER.example", "*.xn--bcher-kva.example"),
        ] {
            let got = HostPattern::parse(text).map(|p| p.as_str().to_owned());
            assert_eq!(got.as_deref(), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn specificity_orders_as_documented() {
        let s = |p: &str| HostPattern::parse(p).unwrap().specificity();
        assert!(s("login.microsoftonline.com") > s("*.microsoftonline.com"));
        assert!(s("*.officeapps.live.com") > s("*.live.com"));
        assert!(s("autodiscover.*.onmicrosoft.com") > s("*.onmicrosoft.com"));
        assert_eq!(s("*.sharepoint.com"), ".sharepoint.com".len() as u32);
    }

    #[test]
    fn odd_forms() {
        let none = Placeholders::default();
        let one = |raw: &str| {
            let v = expand_host_spec(raw, &none).unwrap();
            assert_eq!(v.len(), 1);
            (v[0].pattern.clone(), v[0].port)
        };
        assert_eq!(
            one("https://autodiscover.outlook.com"),
            ("autodiscover.outlook.com".into(), None)
        );
        assert_eq!(
            one("*.digicert.com:80"),
            ("*.digicert.com".into(), Some(80))
        );
        assert_eq!(one("aka.ms/hybridwizard"), ("aka.ms".into(), None));
        assert_eq!(
            one("shcwreleaseprod.blob.core.windows.net/shcw/*"),
            ("shcwreleaseprod.blob.core.windows.net".into(), None)
        );
        assert_eq!(
            one("<email_domain>.outlookmobile.com"),
            ("*.outlookmobile.com".into(), None)
        );
        assert!(expand_host_spec("ftp://x.com", &none).is_err());
        assert!(expand_host_spec("x.com:0", &none).is_err());
        assert!(expand_host_spec("<customer>.x.com", &none).is_err());
    }

    #[test]
    fn placeholders_expand_per_value() {
        let ph = Placeholders {
            tenants: vec!["contoso".into(), "fabrikam".into()],
            email_domains: vec!["contoso.com".into()],
        };
        let got: Vec<String> = expand_host_spec("<tenant>-my.sharepoint.com", &ph)
            .unwrap()
            .into_iter()
            .map(|h| h.pattern)
            .collect();
        assert_eq!(
            got,
            ["contoso-my.sharepoint.com", "fabrikam-my.sharepoint.com"]
        );
        let got = expand_host_spec("<email_domain>.outlookmobile.us", &ph).unwrap();
        assert_eq!(got[0].pattern, "contoso.com.outlookmobile.us");
    }
}
