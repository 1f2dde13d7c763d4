//! Port lists as the web service writes them (`"80,443"`, `"143, 587, 993, 995"`,
//! `"50000-59999"`) and as the native catalogue accepts them.

use std::fmt;

/// A set of ports kept as sorted, merged, inclusive ranges.
///
/// Ranges rather than a bitmap because real catalogues list a handful of ports and a few wide
/// ranges (`50000-59999`); a membership test is a short scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    /// Parses a comma-separated list of ports and `a-b` ranges. Whitespace around items is
    /// ignored and an empty string is the empty set. Port 0 and reversed ranges are refused.
    pub fn parse(text: &str) -> Result<PortSet, String> {
        let mut ranges = Vec::new();
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err(format!("empty item in port list {text:?}"));
            }
            let (lo, hi) = match item.split_once('-') {
                Some((a, b)) => (parse_port(a.trim())?, parse_port(b.trim())?),
                None => {
                    let p = parse_port(item)?;
                    (p, p)
                }
            };
            if lo > hi {
                return Err(format!("range {item:?} runs backwards"));
            }
            ranges.push((lo, hi));
        }
        Ok(PortSet::from_ranges(ranges))
    }

    /// Builds a set from ranges in any order, merging overlapping and adjacent ones.
    pub fn from_ranges(mut ranges: Vec<(u16, u16)>) -> PortSet {
        ranges.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        PortSet { ranges: merged }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= port && port <= hi)
    }

    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    /// Every port of either set.
    pub fn union(&self, other: &PortSet) -> PortSet {
        PortSet::from_ranges(self.ranges.iter().chain(&other.ranges).copied().collect())
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(0) => Err("port 0 is not a destination port".to_owned()),
        Ok(p) => Ok(p),
        Err(_) => Err(format!("{s:?} is not a port number (1-65535)")),
    }
}

impl fmt::Display for PortSet {
    /// Canonical form, the same syntax [`PortSet::parse`] reads: `80,443,50000-59999`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// Transport protocol of a port query. TCP unless stated, as the web service's URLs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    #[default]
    Tcp,
    Udp,
}

impl std::str::FromStr for Proto {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            _ => Err(format!("protocol {s:?} is neither tcp nor udp")),
        }
    }
}

/// The TCP and UDP ports an endpoint set (or one host in it) is reachable on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Ports {
    pub tcp: PortSet,
    pub udp: PortSet,
}

impl Ports {
    /// A set that lists no ports at all matches every port (the web service omits ports it
    /// does not restrict). A set listing only UDP ports does not match TCP queries.
    pub fn allows(&self, proto: Proto, port: u16) -> bool {
        if self.tcp.is_empty() && self.udp.is_empty() {
            return true;
        }
        match proto {
            Proto::Tcp => self.tcp.contains(port),
            Proto::Udp => self.udp.contains(port),
        }
    }

    pub fn is_unrestricted(&self) -> bool {
        self.tcp.is_empty() && self.udp.is_empty()
    }

    /// Every port either lists; unrestricted when either is.
    pub fn union(&self, other: &Ports) -> Ports {
        if self.is_unrestricted() || other.is_unrestricted() {
            return Ports::default();
        }
        Ports {
            tcp: self.tcp.union(&other.tcp),
            udp: self.udp.union(&other.udp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_web_service_forms() {
        let cases: &[(&str, &str)] = &[
            ("80,443", "80,443"),
            ("443,80", "80,443"),
            ("143, 587, 993, 995", "143,587,993,995"),
            ("3478, 3479, 3480, 3481", "3478-3481"),
            ("50000-59999", "50000-59999"),
            ("5061, 50000-59999", "5061,50000-59999"),
            ("1-10,5-20", "1-20"),
            ("", ""),
            ("  ", ""),
            ("65535", "65535"),
        ];
        for (input, want) in cases {
            let got = PortSet::parse(input).unwrap();
            assert_eq!(got.to_string(), *want, "input {input:?}");
            assert_eq!(PortSet::parse(&got.to_string()).unwrap(), got);
        }
    }

    #[test]
    fn refuses_bad_ports() {
        for bad in ["0", "65536", "80,,443", "80-", "a", "20-10", "-5", "443,"] {
            assert!(PortSet::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn membership() {
        let p = Ports {
            tcp: PortSet::parse("80,443").unwrap(),
            udp: PortSet::parse("3478-3481").unwrap(),
        };
        assert!(p.allows(Proto::Tcp, 443));
        assert!(!p.allows(Proto::Tcp, 3478));
        assert!(p.allows(Proto::Udp, 3480));
        assert!(!p.allows(Proto::Udp, 443));
        let udp_only = Ports {
            tcp: PortSet::default(),
            udp: PortSet::parse("123").unwrap(),
        };
        assert!(!udp_only.allows(Proto::Tcp, 123));
        assert!(udp_only.allows(Proto::Udp, 123));
        assert!(Ports::default().allows(Proto::Tcp, 8443));
    }
}
