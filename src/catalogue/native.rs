//! pacwarden's own catalogue format (TOML): everything the web service leaves out, an
//! organisation's own entries and overrides, and the built-in Worldwide snapshot.
//!
//! ```toml
//! [meta]
//! name = "corp"                 # cited as `source` in decisions (default: native:FILE-STEM)
//! version = "2026-11-25"        # default: digest of the file
//!
//! [[sets]]
//! id = "saas"                   # integer or string, unique in the file
//! service_area = "Corp"
//! category = "Allow"            # Optimize | Allow | Default; without one the set only
//!                               # decides hosts no categorised set matches (as Default)
//! direction = "outbound"        # outbound | inbound | trusted-site
//! action = "allow"              # allow | deny | direct | proxy
//! hosts = ["*.corp-saas.example", "*.digicert.com:80", { host = "x.example", tcp_ports = "80" }]
//! prefixes = ["198.51.100.0/24"]
//! tcp_ports = "80,443"          # string ("80,443,50000-59999") or array ([80, 443, "5000-5010"])
//! udp_ports = ""
//! broad = false                 # true: wildcards over public suffixes, short prefixes are meant
//! row = 20                      # row of Microsoft's additional-endpoints table, if any
//! ```
//!
//! Hosts may be written in the forms Microsoft's documents use (`https://host`, `host:port`,
//! `host/path/*`, `<tenant>`, `<email_domain>`); they are normalised on load.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::pattern::{expand_host_spec, HostPattern, Placeholders};
use super::problem::{kind, Fields, LoadError, Problems};
use super::{
    parse_prefix, Action, Category, Direction, EndpointSet, HostEntry, PortSet, Ports, SetId,
};

/// The `[meta]` table of a native catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub name: Option<String>,
    pub version: Option<String>,
    /// Web-service instance a converted snapshot came from (`Worldwide`, `China`, …).
    pub instance: Option<String>,
    pub description: Option<String>,
}

const META_FIELDS: &[&str] = &["name", "version", "instance", "description"];
const SET_FIELDS: &[&str] = &[
    "id",
    "service_area",
    "category",
    "required",
    "express_route",
    "direction",
    "action",
    "hosts",
    "prefixes",
    "tcp_ports",
    "udp_ports",
    "notes",
    "row",
    "broad",
];
const HOST_FIELDS: &[&str] = &["host", "tcp_ports", "udp_ports"];

/// Parses a native catalogue.
pub fn parse(
    text: &str,
    file: &str,
    source: usize,
    placeholders: &Placeholders,
) -> Result<(Meta, Vec<EndpointSet>), LoadError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| LoadError::Syntax {
        file: file.to_owned(),
        format: "TOML",
        message: e.message().to_owned() + &line_of(text, e.span()),
    })?;
    let root = serde_json::to_value(&table).map_err(|e| LoadError::Syntax {
        file: file.to_owned(),
        format: "TOML",
        message: e.to_string(),
    })?;
    let empty = Map::new();
    let root = root.as_object().unwrap_or(&empty);
    let mut p = Problems::new(file);
    let top = Fields::new(root, "-".to_owned());
    top.deny_unknown(&mut p, &["meta", "sets"]);

    let mut meta = Meta::default();
    match top.get("meta") {
        None => {}
        Some(Value::Object(m)) => {
            let f = Fields::new(m, "meta".to_owned());
            f.deny_unknown(&mut p, META_FIELDS);
            meta.name = f.string(&mut p, "name").map(str::to_owned);
            meta.version = f.string(&mut p, "version").map(str::to_owned);
            meta.instance = f.string(&mut p, "instance").map(str::to_owned);
            meta.description = f.string(&mut p, "description").map(str::to_owned);
        }
        Some(other) => p.push(
            "meta",
            "-",
            format!("expected a table, found {}", kind(other)),
        ),
    }

    let mut sets = Vec::new();
    let mut seen = HashSet::new();
    match top.get("sets") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Value::Object(m) = item else {
                    p.push(&format!("sets[{i}]"), "-", "expected a table");
                    continue;
                };
                let entry = match m.get("id") {
                    Some(Value::Number(n)) => format!("set {n}"),
                    Some(Value::String(s)) => format!("set {s:?}"),
                    _ => format!("sets[{i}]"),
                };
                let f = Fields::new(m, entry);
                if let Some(id) = m.get("id").filter(|v| !v.is_null()) {
                    if !seen.insert(id.to_string()) {
                        p.push(&f.entry, "id", "duplicate id");
                    }
                }
                if let Some(set) = parse_set(&f, &mut p, source, placeholders) {
                    sets.push(set);
                }
            }
        }
        Some(other) => p.push(
            "sets",
            "-",
            format!("expected an array of tables, found {}", kind(other)),
        ),
    }
    p.finish((meta, sets))
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => match text.get(..r.start) {
            Some(before) => format!(" (line {})", before.matches('\n').count() + 1),
            None => String::new(),
        },
        None => String::new(),
    }
}

fn parse_set(
    f: &Fields<'_>,
    p: &mut Problems,
    source: usize,
    ph: &Placeholders,
) -> Option<EndpointSet> {
    let before = p.list.len();
    f.deny_unknown(p, SET_FIELDS);
    let id = match f.get("id") {
        Some(Value::Number(n)) if n.as_u64().is_some() => SetId::Int(n.as_u64().unwrap_or(0)),
        Some(Value::String(s)) if !s.is_empty() => SetId::Name(s.clone()),
        Some(other) => {
            p.push(
                &f.entry,
                "id",
                format!(
                    "expected a non-negative integer or a non-empty string, found {}",
                    kind(other)
                ),
            );
            SetId::Int(0)
        }
        None => {
            p.push(&f.entry, "id", "missing");
            SetId::Int(0)
        }
    };
    let mut set = EndpointSet::new(id, source);
    set.service_area = f.string(p, "service_area").unwrap_or("Custom").to_owned();
    set.uncategorised = f.get("category").is_none();
    let or_of = "Optimize, Allow or Default";
    if let Some(c) = f.choice(p, "category", Category::parse, or_of) {
        set.category = c;
    }
    let dirs = "outbound, inbound or trusted-site";
    if let Some(d) = f.choice(p, "direction", Direction::parse, dirs) {
        set.direction = d;
    }
    let actions = "allow, deny, direct or proxy";
    if let Some(a) = f.choice(p, "action", Action::parse, actions) {
        set.action = a;
    }
    set.required = f.bool(p, "required").unwrap_or(false);
    set.express_route = f.bool(p, "express_route").unwrap_or(false);
    set.broad = f.bool(p, "broad").unwrap_or(false);
    set.notes = f.string(p, "notes").unwrap_or_default().to_owned();
    set.row = f.u64(p, "row").and_then(|r| u32::try_from(r).ok());
    set.ports.tcp = port_field(f, p, "tcp_ports", f.get("tcp_ports"));
    set.ports.udp = port_field(f, p, "udp_ports", f.get("udp_ports"));

    match f.get("hosts") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let field = format!("hosts[{i}]");
                parse_host(f, p, &field, item, ph, &mut set.hosts);
            }
        }
        Some(other) => p.push(
            &f.entry,
            "hosts",
            format!("expected an array, found {}", kind(other)),
        ),
    }
    for (field, text) in f.strings(p, "prefixes") {
        match parse_prefix(text) {
            Ok(net) => set.prefixes.push(net),
            Err(reason) => p.push(&f.entry, &field, reason),
        }
    }
    let mut seen = HashSet::new();
    set.hosts
        .retain(|h| seen.insert((h.pattern.clone(), h.ports.clone())));
    let mut seen = HashSet::new();
    set.prefixes.retain(|n| seen.insert(*n));
    (p.list.len() == before).then_some(set)
}

fn parse_host(
    f: &Fields<'_>,
    p: &mut Problems,
    field: &str,
    item: &Value,
    ph: &Placeholders,
    out: &mut Vec<HostEntry>,
) {
    let (raw, mut ports) = match item {
        Value::String(s) => (s.as_str(), None),
        Value::Object(m) => {
            let hf = Fields::new(m, f.entry.clone());
            for key in m.keys().filter(|k| !HOST_FIELDS.contains(&k.as_str())) {
                p.push(
                    &f.entry,
                    &format!("{field}.{key}"),
                    "unknown field; expected host, tcp_ports or udp_ports",
                );
            }
            let Some(Value::String(h)) = hf.get("host") else {
                p.push(
                    &f.entry,
                    &format!("{field}.host"),
                    "missing or not a string",
                );
                return;
            };
            let tcp = port_field(f, p, &format!("{field}.tcp_ports"), hf.get("tcp_ports"));
            let udp = port_field(f, p, &format!("{field}.udp_ports"), hf.get("udp_ports"));
            let ports = Ports { tcp, udp };
            (h.as_str(), (!ports.is_unrestricted()).then_some(ports))
        }
        other => {
            p.push(
                &f.entry,
                field,
                format!("expected a string or a table, found {}", kind(other)),
            );
            return;
        }
    };
    let specs = match expand_host_spec(raw, ph) {
        Ok(s) => s,
        Err(reason) => {
            p.push(&f.entry, field, format!("{raw:?}: {reason}"));
            return;
        }
    };
    for spec in specs {
        if let Some(port) = spec.port {
            let narrowed = ports.get_or_insert_with(Ports::default);
            narrowed.tcp = PortSet::from_ranges(
                narrowed
                    .tcp
                    .ranges()
                    .iter()
                    .copied()
                    .chain([(port, port)])
                    .collect(),
            );
        }
        match HostPattern::parse(&spec.pattern) {
            Ok(pattern) => out.push(HostEntry {
                pattern,
                ports: ports.clone(),
            }),
            Err(e) => p.push(&f.entry, field, format!("{raw:?}: {e}")),
        }
    }
}

/// Ports as a string (`"80,443"`) or an array of numbers and range strings.
fn port_field(f: &Fields<'_>, p: &mut Problems, field: &str, v: Option<&Value>) -> PortSet {
    let text = match v {
        None => return PortSet::default(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(items)) => {
            let mut parts = Vec::new();
            for (i, it) in items.iter().enumerate() {
                match it {
                    Value::Number(n) => parts.push(n.to_string()),
                    Value::String(s) => parts.push(s.clone()),
                    other => p.push(
                        &f.entry,
                        &format!("{field}[{i}]"),
                        format!("expected a port or range, found {}", kind(other)),
                    ),
                }
            }
            parts.join(",")
        }
        Some(other) => {
            p.push(
                &f.entry,
                field,
                format!("expected a port list, found {}", kind(other)),
            );
            return PortSet::default();
        }
    };
    PortSet::parse(&text).unwrap_or_else(|reason| {
        p.push(&f.entry, field, reason);
        PortSet::default()
    })
}

/// Writes sets in the native format; what `pacwarden import` produces. Reading the output
/// back with [`parse`] yields the same sets.
pub fn write(meta: &Meta, sets: &[EndpointSet], header: &str) -> String {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    out.push_str("\n[meta]\n");
    for (k, v) in [
        ("name", &meta.name),
        ("version", &meta.version),
        ("instance", &meta.instance),
        ("description", &meta.description),
    ] {
        if let Some(v) = v {
            let _ = writeln!(out, "{k} = {}", quote(v));
        }
    }
    for set in sets {
        out.push_str("\n[[sets]]\n");
        match &set.id {
            SetId::Int(i) => {
                let _ = writeln!(out, "id = {i}");
            }
            SetId::Name(s) => {
                let _ = writeln!(out, "id = {}", quote(s));
            }
        }
        if let Some(row) = set.row {
            let _ = writeln!(out, "row = {row}");
        }
        let _ = writeln!(out, "service_area = {}", quote(&set.service_area));
        if !set.uncategorised {
            let _ = writeln!(out, "category = {}", quote(set.category.as_str()));
        }
        if set.required {
            out.push_str("required = true\n");
        }
        if set.express_route {
            out.push_str("express_route = true\n");
        }
        if set.broad {
            out.push_str("broad = true\n");
        }
        if set.direction != Direction::Outbound {
            let _ = writeln!(out, "direction = {}", quote(set.direction.as_str()));
        }
        if set.action != Action::Allow {
            let _ = writeln!(out, "action = {}", quote(set.action.as_str()));
        }
        if !set.ports.tcp.is_empty() {
            let _ = writeln!(out, "tcp_ports = {}", quote(&set.ports.tcp.to_string()));
        }
        if !set.ports.udp.is_empty() {
            let _ = writeln!(out, "udp_ports = {}", quote(&set.ports.udp.to_string()));
        }
        if !set.hosts.is_empty() {
            out.push_str("hosts = [\n");
            for h in &set.hosts {
                let pat = quote(&h.pattern.to_string());
                match &h.ports {
                    None => {
                        let _ = writeln!(out, "  {pat},");
                    }
                    Some(ports) => {
                        let _ = write!(out, "  {{ host = {pat}");
                        if !ports.tcp.is_empty() {
                            let _ = write!(out, ", tcp_ports = {}", quote(&ports.tcp.to_string()));
                        }
                        if !ports.udp.is_empty() {
                            let _ = write!(out, ", udp_ports = {}", quote(&ports.udp.to_string()));
                        }
                        out.push_str(" },\n");
                    }
                }
            }
            out.push_str("]\n");
        }
        if !set.prefixes.is_empty() {
            out.push_str("prefixes = [\n");
            for n in &set.prefixes {
                let _ = writeln!(out, "  \"{n}\",");
            }
            out.push_str("]\n");
        }
        if !set.notes.is_empty() {
            let _ = writeln!(out, "notes = {}", quote(&set.notes));
        }
    }
    out
}

/// A TOML basic string; JSON string escapes are a subset of TOML's.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Proto;

    const SAMPLE: &str = r#"
[meta]
name = "corp"
version = "7"

[[sets]]
id = 20
row = 20
service_area = "Common"
category = "Default"
hosts = ["*.digicert.com:80", "https://secure.example.com/path/*", { host = "x.example.com", udp_ports = "123" }]
tcp_ports = [443, "50000-50010"]

[[sets]]
id = "block"
action = "deny"
direction = "outbound"
hosts = ["*.tracker.example.net"]
prefixes = ["198.51.100.0/24", "2001:db8::1"]

[[sets]]
id = "tenant"
hosts = ["<tenant>-my.sharepoint.com"]
"#;

    #[test]
    fn reads_every_form() {
        let ph = Placeholders {
            tenants: vec!["contoso".into()],
            email_domains: vec![],
        };
        let (meta, sets) = parse(SAMPLE, "s.toml", 3, &ph).unwrap();
        assert_eq!(meta.name.as_deref(), Some("corp"));
        assert_eq!(sets.len(), 3);
        let s = &sets[0];
        assert_eq!(s.source, 3);
        assert_eq!(s.row, Some(20));
        assert_eq!(s.ports.tcp.to_string(), "443,50000-50010");
        assert_eq!(s.hosts[0].pattern.to_string(), "*.digicert.com");
        let narrowed = s.hosts[0].ports.as_ref().unwrap();
        assert!(narrowed.allows(Proto::Tcp, 80) && !narrowed.allows(Proto::Tcp, 443));
        assert_eq!(s.hosts[1].pattern.to_string(), "secure.example.com");
        assert!(s.hosts[1].ports.is_none());
        assert!(s.hosts[2].ports.as_ref().unwrap().allows(Proto::Udp, 123));
        assert_eq!(sets[1].action, Action::Deny);
        assert_eq!(sets[1].prefixes[0].to_string(), "198.51.100.0/24");
        assert_eq!(sets[1].category, Category::Default);
        assert_eq!(
            sets[2].hosts[0].pattern.to_string(),
            "contoso-my.sharepoint.com"
        );
    }

    #[test]
    fn lists_every_problem() {
        let bad = r#"
colour = "red"
[meta]
nam = "typo"
[[sets]]
id = 1
hosts = ["*.com", 7, { host = "a.example.com", tcp = "80" }]
prefixes = ["10.0.0.0/40"]
tcp_ports = "80-"
category = "Best"
direction = "sideways"
action = "maybe"
colour = "blue"
[[sets]]
hosts = ["ok.example.com"]
[[sets]]
id = 1
"#;
        let Err(LoadError::Invalid(problems)) = parse(bad, "bad.toml", 0, &Placeholders::default())
        else {
            panic!("expected problems")
        };
        let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        for e in [
            "bad.toml: -: colour: unknown field",
            "bad.toml: meta: nam: unknown field",
            "bad.toml: set 1: hosts[0]:",
            "bad.toml: set 1: hosts[1]: expected a string or a table",
            "bad.toml: set 1: hosts[2].tcp: unknown field",
            "bad.toml: set 1: prefixes[0]:",
            "bad.toml: set 1: tcp_ports:",
            "bad.toml: set 1: category:",
            "bad.toml: set 1: direction:",
            "bad.toml: set 1: action:",
            "bad.toml: set 1: colour: unknown field",
            "bad.toml: sets[1]: id: missing",
            "bad.toml: set 1: id: duplicate id",
        ] {
            assert!(
                lines.iter().any(|l| l.starts_with(e)),
                "missing {e:?} in {lines:#?}"
            );
        }
    }

    #[test]
    fn syntax_error_names_the_line() {
        let err = parse(
            "[[sets]]\nid = 1\nhosts = [\n",
            "t.toml",
            0,
            &Placeholders::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("t.toml: not valid TOML"), "{msg}");
        assert!(msg.contains("line"), "{msg}");
    }

    #[test]
    fn write_then_parse_round_trips() {
        let (meta, sets) = parse(SAMPLE, "s.toml", 0, &Placeholders::default()).unwrap();
        let text = write(&meta, &sets, "generated\nby a test");
        let (meta2, sets2) = parse(&text, "s2.toml", 0, &Placeholders::default()).unwrap();
        assert_eq!(meta, meta2);
        assert_eq!(sets, sets2);
    }
}
