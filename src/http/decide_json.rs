//! `/decide` answers without serialising a decision per request. For a query without a port,
//! everything in the decision JSON except the host depends only on the deciding rule, the
//! profile and (outside the catalogue) the profile's local route: that part is rendered once
//! per generation — lazily, on first use — by the same serialiser as every other answer, and
//! the host is spliced in front of it.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use crate::catalogue::Category;
use crate::host::Host;
use crate::profile::{Profile, Route};
use crate::snapshot::{Outcome, Snapshot, Verdict};

/// The decision JSON after `{"host":"…"`, and what metrics and the status code need.
pub struct Tail {
    body: Box<[u8]>,
    pub verdict: Verdict,
    pub category: Option<Category>,
}

struct ProfileTails {
    deny: Box<[OnceLock<Tail>]>,
    allow: Box<[OnceLock<Tail>]>,
    supplement: Box<[OnceLock<Tail>]>,
    /// Outside the catalogue: no local route, local DIRECT, local proxy.
    outside: [OnceLock<Tail>; 3],
}

/// Per-generation cache of decision tails, one table per profile.
pub struct DecideJson {
    profiles: Vec<ProfileTails>,
}

fn slots(n: usize) -> Box<[OnceLock<Tail>]> {
    (0..n).map(|_| OnceLock::new()).collect()
}

impl DecideJson {
    pub fn new(snap: &Snapshot, profiles: usize) -> DecideJson {
        let [deny, allow, supplement] = snap.rule_slots();
        DecideJson {
            profiles: (0..profiles)
                .map(|_| ProfileTails {
                    deny: slots(deny),
                    allow: slots(allow),
                    supplement: slots(supplement),
                    outside: [OnceLock::new(), OnceLock::new(), OnceLock::new()],
                })
                .collect(),
        }
    }

    /// The answer to `/decide?host=H` (no port) under profile number `index`: the body and
    /// the tail it was made from.
    pub fn answer(
        &self,
        snap: &Snapshot,
        index: usize,
        profile: &Profile,
        host: &Host,
    ) -> Option<(Vec<u8>, &Tail)> {
        let tables = self.profiles.get(index)?;
        let outcome = snap.outcome(host, None);
        let local = match outcome {
            Outcome::Outside => profile.local_route(host),
            _ => None,
        };
        let slot = match outcome {
            Outcome::Denied(r) => tables.deny.get(r as usize)?,
            Outcome::Allowed(r) => tables.allow.get(r as usize)?,
            Outcome::Supplement(r) => tables.supplement.get(r as usize)?,
            Outcome::Outside => match local {
                None => &tables.outside[0],
                Some(Route::Direct) => &tables.outside[1],
                Some(Route::Proxy) => &tables.outside[2],
            },
        };
        let tail = slot.get_or_init(|| render(snap, outcome, local, profile));
        let mut ip_text = [0u8; 48];
        let host: &[u8] = match host {
            Host::Name(name) => name.as_bytes(),
            Host::Ip(IpAddr::V4(ip)) => {
                let n = dotted(*ip, &mut ip_text);
                &ip_text[..n]
            }
            Host::Ip(ip) => {
                let mut w = &mut ip_text[..];
                write!(w, "{ip}").ok()?;
                let left = w.len();
                &ip_text[..ip_text.len() - left]
            }
        };
        // `{"host":"` + host + `"` + tail + newline, allocated once at its exact size, so
        // that turning it into `Bytes` allocates nothing more.
        let mut body = Vec::with_capacity(PREFIX.len() + host.len() + 1 + tail.body.len() + 1);
        body.extend_from_slice(PREFIX);
        // No early exit, so the check runs branch-free over the bytes.
        let needs_escaping = host.iter().fold(false, |acc, &b| {
            acc | !(0x20..0x7f).contains(&b) | (b == b'"') | (b == b'\\')
        });
        if !needs_escaping {
            body.extend_from_slice(host);
            body.push(b'"');
        } else {
            // Normalised hosts never get here; the serialiser covers anything else.
            body.pop();
            serde_json::to_writer(&mut body, &String::from_utf8_lossy(host)).ok()?;
        }
        body.extend_from_slice(&tail.body);
        body.push(b'\n');
        Some((body, tail))
    }
}

/// Writes `ip` in dotted decimal at the start of `out` and returns its length: the same text
/// as `Display`, without the formatting machinery, which costs more than the rest of the
/// splice.
fn dotted(ip: Ipv4Addr, out: &mut [u8; 48]) -> usize {
    let mut n = 0;
    for (i, o) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out[n] = b'.';
            n += 1;
        }
        if o >= 100 {
            out[n] = b'0' + o / 100;
            n += 1;
        }
        if o >= 10 {
            out[n] = b'0' + o / 10 % 10;
            n += 1;
        }
        out[n] = b'0' + o % 10;
        n += 1;
    }
    n
}

/// What every decision JSON starts with.
const PREFIX: &[u8] = b"{\"host\":\"";

/// Renders a decision for an empty host and keeps what follows the host.
fn render(snap: &Snapshot, outcome: Outcome, local: Option<Route>, profile: &Profile) -> Tail {
    let d = snap.decision(String::new(), outcome, local, None, profile);
    let json = serde_json::to_vec(&d).unwrap_or_default();
    let body = json
        .strip_prefix(b"{\"host\":\"\"")
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
        .into_boxed_slice();
    Tail {
        body,
        verdict: d.decision,
        category: d.category,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{load_sources, Placeholders, SourceSpec};

    /// Dotted decimal as `Display` writes it, for every value in every position.
    #[test]
    fn dotted_matches_display() {
        let mut buf = [0u8; 48];
        for v in 0..=255u8 {
            for ip in [[v, 0, 0, 0], [1, v, 2, 3], [255, 10, v, 9], [0, 99, 100, v]] {
                let ip = Ipv4Addr::from(ip);
                let n = dotted(ip, &mut buf);
                assert_eq!(std::str::from_utf8(&buf[..n]), Ok(ip.to_string().as_str()));
            }
        }
    }

    /// Every spliced answer equals the serialised decision, byte for byte.
    #[test]
    fn spliced_answers_equal_serialised_decisions() {
        let cat = load_sources(&SourceSpec::defaults(), &Placeholders::default()).unwrap();
        let mut hosts: Vec<String> = Vec::new();
        for set in &cat.sets {
            for h in &set.hosts {
                hosts.push(h.pattern.as_str().replace('*', "x"));
                hosts.push(format!("zz.{}", h.pattern.as_str().replace('*', "q")));
            }
            for n in &set.prefixes {
                hosts.push(n.network().to_string());
            }
        }
        hosts.extend(
            ["intranet", "10.1.2.3", "example.com", "fd00::1", "8.8.8.8"].map(String::from),
        );
        let snap = Snapshot::compile(cat, 3);
        let profiles = [Profile::type1(), Profile::type2()];
        let cache = DecideJson::new(&snap, profiles.len());
        // Names no normaliser would pass, to cover the escaping branch.
        let odd = [
            "a\"b.com", "a\\b", "a\u{1}b", "a\u{7f}b", "\u{1f}", "~ok", "é.de",
        ];
        for (i, profile) in profiles.iter().enumerate() {
            for h in &hosts {
                let host = crate::host::normalize(h).unwrap();
                let (body, tail) = cache.answer(&snap, i, profile, &host).unwrap();
                let d = snap.decide(&host, None, profile);
                let mut want = serde_json::to_vec(&d).unwrap();
                want.push(b'\n');
                assert_eq!(
                    String::from_utf8_lossy(&body),
                    String::from_utf8_lossy(&want)
                );
                assert_eq!((tail.verdict, tail.category), (d.decision, d.category));
            }
            for name in odd {
                let host = Host::Name(name.into());
                let (body, _) = cache.answer(&snap, i, profile, &host).unwrap();
                let mut want = serde_json::to_vec(&snap.decide(&host, None, profile)).unwrap();
                want.push(b'\n');
                assert_eq!(body, want, "{name:?}");
            }
        }
    }
}
