//! Matcher benchmarks: host and prefix lookups on the built-in catalogue and on synthetic
//! catalogues of 1k, 100k and 1M patterns / prefixes, and compile time for each.
//!
//! Run: `cargo bench --bench matcher`. Figures are recorded in docs/performance.md.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use pacwarden::catalogue::{load_sources, HostPattern, Placeholders, Ports, SourceSpec};
use pacwarden::host::{self, Host};
use pacwarden::matcher::{Matcher, MatcherBuilder};
use pacwarden::profile::Profile;
use pacwarden::snapshot::Snapshot;

/// Small deterministic generator (xorshift) so every run sees the same catalogue.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SIZES: &[usize] = &[1_000, 100_000, 1_000_000];
const TLDS: &[&str] = &["com", "net", "org", "io", "microsoft", "cn", "us", "de"];

/// Synthetic names: `svcN.orgM.tld` exact names and `*.orgM.tld` wildcards (3:1), the shape
/// of real catalogues (short names under many organisations).
fn synthetic_patterns(n: usize) -> Vec<HostPattern> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| {
            let org = rng.below(n as u64 / 4 + 1);
            let tld = TLDS[rng.below(TLDS.len() as u64) as usize];
            if i % 4 == 0 {
                HostPattern::Suffix(format!("org{org}.{tld}"))
            } else {
                HostPattern::Exact(format!("svc{i}.org{org}.{tld}"))
            }
        })
        .collect()
}

fn probe_hosts(patterns: &[HostPattern]) -> Vec<String> {
    let mut rng = Rng(42);
    let mut hosts = Vec::new();
    for _ in 0..4096 {
        let p = &patterns[rng.below(patterns.len() as u64) as usize];
        hosts.push(match rng.below(3) {
            // Hits: the exact name, or a name under a wildcard.
            0 => match p {
                HostPattern::Suffix(s) => format!("a.b.{s}"),
                other => other.to_string(),
            },
            1 => match p {
                HostPattern::Suffix(s) => format!("www.{s}"),
                other => format!("x.{other}"),
            },
            // Misses sharing the TLD.
            _ => format!("host{}.miss{}.com", rng.below(1000), rng.below(1000)),
        });
    }
    hosts
}

fn build_names(patterns: &[HostPattern]) -> Matcher {
    let ports = Ports::default();
    let mut b = MatcherBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        b.add_pattern(p, i as u32, &ports);
    }
    b.build()
}

fn synthetic_prefixes(n: usize) -> Vec<IpNet> {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    (0..n)
        .map(|i| {
            if i % 4 == 3 {
                let a = Ipv6Addr::from(((0x2603u128) << 112) | (u128::from(rng.next()) << 48));
                IpNet::V6(Ipv6Net::new(a, 32 + rng.below(33) as u8).unwrap().trunc())
            } else {
                let a = Ipv4Addr::from(rng.next() as u32);
                IpNet::V4(Ipv4Net::new(a, 12 + rng.below(21) as u8).unwrap().trunc())
            }
        })
        .collect()
}

fn probe_addrs(nets: &[IpNet]) -> Vec<IpAddr> {
    let mut rng = Rng(7);
    (0..4096)
        .map(|i| {
            if i % 2 == 0 {
                // Inside a catalogue prefix.
                match nets[rng.below(nets.len() as u64) as usize] {
                    IpNet::V4(n) => IpAddr::V4(n.network()),
                    IpNet::V6(n) => IpAddr::V6(n.network()),
                }
            } else {
                IpAddr::V4(Ipv4Addr::from(rng.next() as u32))
            }
        })
        .collect()
}

fn build_prefixes(nets: &[IpNet]) -> Matcher {
    let ports = Ports::default();
    let mut b = MatcherBuilder::new();
    for (i, n) in nets.iter().enumerate() {
        b.add_prefix(*n, i as u32, &ports);
    }
    b.build()
}

fn real_catalogue(c: &mut Criterion) {
    let cat = load_sources(&SourceSpec::defaults(), &Placeholders::default()).unwrap();
    let mut hosts: Vec<Host> = Vec::new();
    for set in &cat.sets {
        for h in &set.hosts {
            let name = h.pattern.to_string().replace('*', "x");
            hosts.push(host::normalize(&name).unwrap().into_owned());
        }
        for n in &set.prefixes {
            hosts.push(Host::Ip(n.network()));
        }
    }
    let names: Vec<Host> = hosts
        .iter()
        .filter(|h| matches!(h, Host::Name(_)))
        .cloned()
        .collect();
    let addrs: Vec<Host> = hosts
        .iter()
        .filter(|h| matches!(h, Host::Ip(_)))
        .cloned()
        .collect();
    let misses: Vec<Host> = (0..256)
        .map(|i| {
            host::normalize(&format!("www{i}.example{i}.com"))
                .unwrap()
                .into_owned()
        })
        .collect();
    let snap = Snapshot::compile(cat.clone(), 1);
    let profile = Profile::default();

    let mut g = c.benchmark_group("real");
    for (label, set) in [("host", &names), ("host-miss", &misses), ("prefix", &addrs)] {
        let mut i = 0;
        g.bench_function(BenchmarkId::new("lookup", label), |b| {
            b.iter(|| {
                i = (i + 1) % set.len();
                black_box(snap.deciding_rule(black_box(&set[i]), None))
            })
        });
    }
    let mut i = 0;
    g.bench_function("decide", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            black_box(snap.decide(black_box(&names[i]), None, &profile))
        })
    });
    g.bench_function("normalize", |b| {
        b.iter(|| black_box(host::normalize(black_box("Outlook.Office365.COM."))))
    });
    g.bench_function("compile", |b| {
        b.iter(|| black_box(Snapshot::compile(cat.clone(), 2)))
    });
    g.finish();
}

fn synthetic(c: &mut Criterion) {
    let mut g = c.benchmark_group("synthetic");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for &n in SIZES {
        let patterns = synthetic_patterns(n);
        let m = build_names(&patterns);
        let hosts = probe_hosts(&patterns);
        // "wide": 4096 distinct probes, mostly out of cache at 1M; "hot": the 64 hosts a
        // proxy asks about most, as in steady traffic.
        for (label, set) in [
            ("host-lookup-wide", &hosts[..]),
            ("host-lookup-hot", &hosts[..64]),
        ] {
            let mut i = 0;
            g.bench_function(BenchmarkId::new(label, n), |b| {
                b.iter(|| {
                    i = (i + 1) & (set.len() - 1);
                    black_box(m.lookup_name(black_box(&set[i]), None))
                })
            });
        }
        drop(m);
        let nets = synthetic_prefixes(n);
        let m = build_prefixes(&nets);
        let addrs = probe_addrs(&nets);
        for (label, set) in [
            ("prefix-lookup-wide", &addrs[..]),
            ("prefix-lookup-hot", &addrs[..64]),
        ] {
            let mut i = 0;
            g.bench_function(BenchmarkId::new(label, n), |b| {
                b.iter(|| {
                    i = (i + 1) & (set.len() - 1);
                    black_box(m.lookup_ip(black_box(set[i]), None))
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("compile");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for &n in SIZES {
        let patterns = synthetic_patterns(n);
        g.bench_function(BenchmarkId::new("patterns", n), |b| {
            b.iter(|| black_box(build_names(&patterns)))
        });
        let nets = synthetic_prefixes(n);
        g.bench_function(BenchmarkId::new("prefixes", n), |b| {
            b.iter(|| black_box(build_prefixes(&nets)))
        });
    }
    g.finish();
}

criterion_group!(benches, real_catalogue, synthetic);
criterion_main!(benches);
