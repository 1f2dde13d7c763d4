//! The host reader: ns per host for each class of spelling — plain ASCII names, Unicode
//! names and dots, canonical and numeric IPv4, IPv6.
//!
//! `url-host-parse/*` times rust-url's parser alone on the spellings the reader's fast paths
//! take, the cost those paths save.
//!
//! Run: `cargo bench --bench host`. Figures are recorded in docs/performance.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use pacwarden::host;

/// (label, spelling): what each class costs to read.
const SPELLINGS: &[(&str, &str)] = &[
    ("ascii", "outlook.office365.com"),
    ("ascii-upper-dot", "Outlook.Office365.COM."),
    ("unicode", "b\u{fc}cher.sharepoint.com"),
    ("unicode-dots", "login\u{ff0e}microsoftonline\u{ff0e}com"),
    ("punycode", "xn--bcher-kva.sharepoint.com"),
    ("ipv4", "52.96.1.1"),
    ("ipv4-hex", "0x34.0x60.1.1"),
    ("ipv4-number", "878706945"),
    ("ipv6", "2603:1006::1"),
];

fn reader(c: &mut Criterion) {
    let mut g = c.benchmark_group("reader");
    for (label, spelling) in SPELLINGS {
        g.bench_function(BenchmarkId::new("normalize", label), |b| {
            b.iter(|| black_box(host::normalize(black_box(spelling))).is_ok())
        });
    }
    // The Standard's parser alone on the spellings the fast paths take: what reading them
    // would cost without the fast paths (before pacwarden's own checks).
    for (label, spelling) in [SPELLINGS[0], SPELLINGS[1], SPELLINGS[5]] {
        g.bench_function(BenchmarkId::new("url-host-parse", label), |b| {
            b.iter(|| black_box(url::Host::parse(black_box(spelling))).is_ok())
        });
    }
    g.finish();
}

criterion_group!(benches, reader);
criterion_main!(benches);
