//! Loader for Microsoft's endpoint web service JSON, exactly as
//! `https://endpoints.office.com/endpoints/{instance}` returns it.
//!
//! The service's output is looser than its documentation: port lists with and without spaces
//! (`"143, 587, 993, 995"`, `"443,80"`), `notes: ""` where the docs say "omitted", sets with no
//! `urls` or no `ips`, UDP-only sets. All of that is accepted. Fields we do not use
//! (`serviceAreaDisplayName`, future additions) are ignored so a new field upstream never
//! breaks a running server; fields we use are checked and every bad one is reported.

use std::collections::HashSet;

use serde_json::Value;

use super::pattern::HostPattern;
use super::problem::{kind, Fields, LoadError, Problems};
use super::{parse_prefix, Category, EndpointSet, HostEntry, PortSet, SetId};

/// Parses a web-service response. `source` is the index the sets will carry in the merged
/// catalogue; `file` names the file in problems.
pub fn parse(text: &str, file: &str, source: usize) -> Result<Vec<EndpointSet>, LoadError> {
    let value: Value = serde_json::from_str(text).map_err(|e| LoadError::Syntax {
        file: file.to_owned(),
        format: "JSON",
        message: e.to_string(),
    })?;
    let Value::Array(items) = value else {
        return Err(LoadError::Syntax {
            file: file.to_owned(),
            format: "endpoint-set JSON",
            message: format!("expected an array of endpoint sets, found {}", kind(&value)),
        });
    };
    let mut problems = Problems::new(file);
    let mut sets = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        let Value::Object(map) = item else {
            problems.push(
                &format!("[{index}]"),
                "-",
                format!("expected an endpoint-set object, found {}", kind(item)),
            );
            continue;
        };
        let entry = match map.get("id").and_then(Value::as_u64) {
            Some(id) => format!("set {id}"),
            None => format!("[{index}]"),
        };
        let f = Fields::new(map, entry);
        if let Some(id) = map.get("id").filter(|v| !v.is_null()) {
            if !seen.insert(id.to_string()) {
                problems.push(&f.entry, "id", "duplicate id");
            }
        }
        if let Some(set) = parse_set(&f, &mut problems, source) {
            sets.push(set);
        }
    }
    problems.finish(sets)
}

fn parse_set(f: &Fields<'_>, p: &mut Problems, source: usize) -> Option<EndpointSet> {
    let before = p.list.len();
    let id = f.u64(p, "id");
    if f.get("id").is_none() {
        p.push(&f.entry, "id", "missing");
    }
    let mut set = EndpointSet::new(SetId::Int(id.unwrap_or(0)), source);
    match f.string(p, "serviceArea") {
        Some(s) if !s.is_empty() => set.service_area = s.to_owned(),
        Some(_) => p.push(&f.entry, "serviceArea", "empty"),
        None if f.get("serviceArea").is_none() => p.push(&f.entry, "serviceArea", "missing"),
        None => {}
    }
    match f.choice(p, "category", Category::parse, "Optimize, Allow or Default") {
        Some(c) => set.category = c,
        None if f.get("category").is_none() => p.push(&f.entry, "category", "missing"),
        None => {}
    }
    set.required = f.bool(p, "required").unwrap_or(false);
    set.express_route = f.bool(p, "expressRoute").unwrap_or(false);
    set.notes = f.string(p, "notes").unwrap_or_default().to_owned();
    for (key, target) in [
        ("tcpPorts", &mut set.ports.tcp),
        ("udpPorts", &mut set.ports.udp),
    ] {
        if let Some(text) = f.string(p, key) {
            match PortSet::parse(text) {
                Ok(ports) => *target = ports,
                Err(reason) => p.push(&f.entry, key, reason),
            }
        }
    }
    for (field, url) in f.strings(p, "urls") {
        match HostPattern::parse(url) {
            Ok(pattern) => set.hosts.push(HostEntry {
                pattern,
                ports: None,
            }),
            Err(e) => p.push(&f.entry, &field, format!("{url:?}: {e}")),
        }
    }
    for (field, ip) in f.strings(p, "ips") {
        match parse_prefix(ip) {
            Ok(net) => set.prefixes.push(net),
            Err(reason) => p.push(&f.entry, &field, reason),
        }
    }
    dedup(&mut set);
    (p.list.len() == before).then_some(set)
}

/// Removes repeats inside one set (the service has listed the same URL twice in a set) while
/// keeping first-seen order, so exports and digests are stable.
fn dedup(set: &mut EndpointSet) {
    let mut seen = HashSet::new();
    set.hosts.retain(|h| seen.insert(h.pattern.clone()));
    let mut seen = HashSet::new();
    set.prefixes.retain(|n| seen.insert(*n));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Proto;

    const QUIRKS: &str = r#"[
      {"id": 1, "serviceArea": "Exchange", "serviceAreaDisplayName": "Exchange Online",
       "urls": ["outlook.office.com", "Outlook.Office365.com"],
       "ips": ["13.107.6.152/31", "40.96.0.0/13", "2603:1006::/40"],
       "tcpPorts": "80,443", "udpPorts": "443", "expressRoute": true, "category": "Optimize",
       "required": true},
      {"id": 2, "serviceArea": "Exchange", "urls": ["smtp.office365.com"],
       "tcpPorts": "143, 587, 993, 995", "expressRoute": false, "category": "Allow",
       "required": false, "notes": ""},
      {"id": 11, "serviceArea": "Skype", "ips": ["52.112.0.0/14"],
       "udpPorts": "3478, 3479, 3480, 3481", "expressRoute": true, "category": "Optimize",
       "required": true},
      {"id": 165, "serviceArea": "Common", "urls": ["time.windows.com"], "udpPorts": "123",
       "expressRoute": false, "category": "Default", "required": false},
      {"id": 12, "serviceArea": "Skype", "urls": ["*.lync.com"], "tcpPorts": "443,80",
       "udpPorts": "50000-59999", "expressRoute": true, "category": "Allow", "required": true,
       "futureField": {"x": 1}}
    ]"#;

    #[test]
    fn tolerates_real_quirks() {
        let sets = parse(QUIRKS, "quirks.json", 0).unwrap();
        assert_eq!(sets.len(), 5);
        let s1 = &sets[0];
        assert_eq!(
            s1.hosts[1].pattern,
            HostPattern::Exact("outlook.office365.com".into())
        );
        assert_eq!(s1.prefixes[1].to_string(), "40.96.0.0/13");
        assert_eq!(s1.prefixes[2].to_string(), "2603:1006::/40");
        assert_eq!(sets[1].ports.tcp.to_string(), "143,587,993,995");
        assert!(sets[2].hosts.is_empty());
        assert!(sets[2].ports.allows(Proto::Udp, 3479));
        assert!(!sets[3].ports.allows(Proto::Tcp, 123));
        assert_eq!(sets[4].ports.tcp.to_string(), "80,443");
    }

    /// A prefix with host bits set is refused, not widened: the rule it would make allows
    /// more than was written.
    #[test]
    fn host_bits_are_a_problem() {
        let json = r#"[{"id": 1, "serviceArea": "Exchange", "ips": ["40.96.0.1/13", "2603:1006::1/40"],
          "category": "Optimize", "required": true}]"#;
        let Err(LoadError::Invalid(problems)) = parse(json, "hb.json", 0) else {
            panic!("expected problems");
        };
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].starts_with("hb.json: set 1: ips[0]: 40.96.0.1/13 has host bits set; the network is 40.96.0.0/13"), "{text:?}");
    }

    #[test]
    fn lists_every_problem() {
        let bad = r#"[
          {"id": 1, "serviceArea": "Exchange", "urls": ["*.com", 5, "ok.example.com"],
           "ips": ["300.1.1.1/8"], "tcpPorts": "80,,443", "category": "Fast", "required": "yes"},
          {"serviceArea": "", "category": "Allow"},
          "not an object",
          {"id": 1, "serviceArea": "Common", "category": "Default"}
        ]"#;
        let Err(LoadError::Invalid(problems)) = parse(bad, "bad.json", 0) else {
            panic!("expected problems");
        };
        let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        let expect = [
            "bad.json: set 1: urls[0]:",
            "bad.json: set 1: urls[1]: expected a string",
            "bad.json: set 1: ips[0]:",
            "bad.json: set 1: tcpPorts:",
            "bad.json: set 1: category:",
            "bad.json: set 1: required:",
            "bad.json: [1]: id: missing",
            "bad.json: [1]: serviceArea: empty",
            "bad.json: [2]: -: expected an endpoint-set object",
            "bad.json: set 1: id: duplicate id",
        ];
        for e in expect {
            assert!(
                lines.iter().any(|l| l.starts_with(e)),
                "missing {e:?} in {lines:#?}"
            );
        }
        assert_eq!(lines.len(), expect.len(), "{lines:#?}");
    }

    #[test]
    fn syntax_errors_are_reported_not_panicked() {
        for text in ["", "{", "{\"id\": 1}", "[1, 2", "\u{0}"] {
            assert!(parse(text, "x.json", 0).is_err(), "{text:?}");
        }
    }
}
