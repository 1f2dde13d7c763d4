//! `shExpMatch`-style matching for the few patterns the trie cannot hold
//! (`autodiscover.*.onmicrosoft.com`, `*cdn.onenote.net`).

/// Whether `text` matches `pattern`, where `*` is any run of bytes (dots included) and every
/// other byte matches itself. Both sides are already lowercase ASCII.
///
/// Greedy with a single backtrack point: with only `*` as a metacharacter, re-trying from the
/// most recent star is enough, so the cost is O(len(pattern) × len(text)) at worst and linear
/// in practice. No allocation.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<usize> = None;
    let mut mark = 0;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some(p);
                p += 1;
                mark = t;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += 1;
                    t = mark;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The labels a host must end with to have any chance of matching `pattern`: the whole labels
/// after the last `*`. The glob is attached to that trie node, so a lookup only tries globs
/// whose fixed tail the host actually has.
pub fn anchor_labels(pattern: &str) -> &str {
    let tail = match pattern.rfind('*') {
        Some(i) => &pattern[i + 1..],
        None => pattern,
    };
    match tail.find('.') {
        Some(i) => &tail[i + 1..],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*.sharepoint.com", "a.sharepoint.com", true),
            ("*.sharepoint.com", "a.b.sharepoint.com", true),
            ("*.sharepoint.com", "sharepoint.com", false),
            ("*cdn.onenote.net", "xcdn.onenote.net", true),
            ("*cdn.onenote.net", "cdn.onenote.net", true),
            ("*cdn.onenote.net", "a.cdn.onenote.net", true),
            ("*cdn.onenote.net", "cdn.onenote.net.evil", false),
            (
                "autodiscover.*.onmicrosoft.com",
                "autodiscover.contoso.onmicrosoft.com",
                true,
            ),
            (
                "autodiscover.*.onmicrosoft.com",
                "autodiscover.a.b.onmicrosoft.com",
                true,
            ),
            (
                "autodiscover.*.onmicrosoft.com",
                "autodiscover.onmicrosoft.com",
                false,
            ),
            (
                "autodiscover.*.onmicrosoft.com",
                "xautodiscover.c.onmicrosoft.com",
                false,
            ),
            ("*-my.sharepoint.com", "contoso-my.sharepoint.com", true),
            ("*-my.sharepoint.com", "contoso.sharepoint.com", false),
            ("a*b*c.example.com", "abc.example.com", true),
            ("a*b*c.example.com", "axxbyyc.example.com", true),
            ("a*b*c.example.com", "axxcyyb.example.com", false),
            ("*.*.example.com", "a.b.example.com", true),
            ("*.*.example.com", "a.example.com", false),
            ("exact.example.com", "exact.example.com", true),
            ("exact.example.com", "exact.example.co", false),
            ("**.example.com", "x.example.com", true),
        ];
        for &(p, t, want) in cases {
            assert_eq!(matches(p.as_bytes(), t.as_bytes()), want, "{p} vs {t}");
        }
    }

    #[test]
    fn anchors() {
        assert_eq!(
            anchor_labels("autodiscover.*.onmicrosoft.com"),
            "onmicrosoft.com"
        );
        assert_eq!(anchor_labels("*cdn.onenote.net"), "onenote.net");
        assert_eq!(anchor_labels("*-my.sharepoint.com"), "sharepoint.com");
        assert_eq!(anchor_labels("login.*"), "");
        assert_eq!(anchor_labels("*.*.sharepoint.com"), "sharepoint.com");
        assert_eq!(anchor_labels("a*b"), "");
    }
}
