//! Problems found while loading a catalogue, and the field reader the loaders share so that
//! every bad field is reported (not only the first) with file, entry and field.

use std::fmt;

use serde_json::{Map, Value};

/// One thing wrong with a catalogue: `file: entry: field: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub entry: String,
    pub field: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}: {}",
            self.file, self.entry, self.field, self.reason
        )
    }
}

/// Why a catalogue source could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON / TOML at all; nothing further can be said about entries.
    #[error("{file}: not valid {format}: {message}")]
    Syntax {
        file: String,
        format: &'static str,
        message: String,
    },
    /// The file parsed but entries are wrong: every one is listed.
    #[error("{} problem(s) in the catalogue", .0.len())]
    Invalid(Vec<Problem>),
}

impl LoadError {
    /// Flattens the error into problem lines, so callers can list every problem of every
    /// source in one report.
    pub fn into_problems(self) -> Vec<Problem> {
        match self {
            LoadError::Invalid(p) => p,
            LoadError::Io { path, source } => vec![Problem {
                file: path,
                entry: "-".into(),
                field: "-".into(),
                reason: format!("cannot read: {source}"),
            }],
            LoadError::Syntax {
                file,
                format,
                message,
            } => vec![Problem {
                file,
                entry: "-".into(),
                field: "-".into(),
                reason: format!("not valid {format}: {}", message.replace('\n', " ")),
            }],
        }
    }
}

/// Collects problems for one file.
pub(crate) struct Problems {
    file: String,
    pub(crate) list: Vec<Problem>,
}

impl Problems {
    pub(crate) fn new(file: &str) -> Self {
        Problems {
            file: file.to_owned(),
            list: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, entry: &str, field: &str, reason: impl Into<String>) {
        self.list.push(Problem {
            file: self.file.clone(),
            entry: entry.to_owned(),
            field: field.to_owned(),
            reason: reason.into(),
        });
    }

    pub(crate) fn finish<T>(self, value: T) -> Result<T, LoadError> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(LoadError::Invalid(self.list))
        }
    }
}

/// Typed access to one entry's fields that records a problem for every missing or mistyped
/// field and keeps going, so one pass reports everything.
pub(crate) struct Fields<'a> {
    pub(crate) map: &'a Map<String, Value>,
    pub(crate) entry: String,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(map: &'a Map<String, Value>, entry: String) -> Self {
        Fields { map, entry }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn string(&self, p: &mut Problems, key: &str) -> Option<&'a str> {
        match self.get(key)? {
            Value::String(s) => Some(s),
            other => {
                p.push(
                    &self.entry,
                    key,
                    format!("expected a string, found {}", kind(other)),
                );
                None
            }
        }
    }

    pub(crate) fn bool(&self, p: &mut Problems, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                p.push(
                    &self.entry,
                    key,
                    format!("expected true or false, found {}", kind(other)),
                );
                None
            }
        }
    }

    pub(crate) fn u64(&self, p: &mut Problems, key: &str) -> Option<u64> {
        match self.get(key)? {
            Value::Number(n) if n.as_u64().is_some() => n.as_u64(),
            other => {
                p.push(
                    &self.entry,
                    key,
                    format!("expected a non-negative integer, found {}", kind(other)),
                );
                None
            }
        }
    }

    /// A string that must be one of a fixed set of words, parsed by `parse`; `expected`
    /// names the accepted words in the problem.
    pub(crate) fn choice<T>(
        &self,
        p: &mut Problems,
        key: &str,
        parse: fn(&str) -> Option<T>,
        expected: &str,
    ) -> Option<T> {
        let text = self.string(p, key)?;
        let parsed = parse(text);
        if parsed.is_none() {
            p.push(&self.entry, key, format!("{text:?} is not {expected}"));
        }
        parsed
    }

    /// An array of strings; each wrong item is its own problem (`field[3]`).
    pub(crate) fn strings(&self, p: &mut Problems, key: &str) -> Vec<(String, &'a str)> {
        match self.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Value::String(s) => Some((format!("{key}[{i}]"), s.as_str())),
                    other => {
                        p.push(
                            &self.entry,
                            &format!("{key}[{i}]"),
                            format!("expected a string, found {}", kind(other)),
                        );
                        None
                    }
                })
                .collect(),
            Some(other) => {
                p.push(
                    &self.entry,
                    key,
                    format!("expected an array, found {}", kind(other)),
                );
                Vec::new()
            }
        }
    }

    /// Reports keys not in `known`: a typo in a native catalogue must not silently drop a field.
    pub(crate) fn deny_unknown(&self, p: &mut Problems, known: &[&str]) {
        for key in self.map.keys() {
            if !known.contains(&key.as_str()) {
                p.push(
                    &self.entry,
                    key,
                    format!("unknown field; expected one of: {}", known.join(", ")),
                );
            }
        }
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

#[cfg(test)]
mod props {
    use crate::catalogue::{ms365, native, Placeholders};
    use proptest::prelude::*;

    proptest! {
        /// Loaders answer every input with sets or problems, never a panic.
        #[test]
        fn loaders_never_panic(s in "\\PC{0,200}") {
            let _ = ms365::parse(&s, "f.json", 0);
            let _ = native::parse(&s, "f.toml", 0, &Placeholders::default());
        }

        /// Structurally plausible but wrong entries are reported, not panicked on.
        #[test]
        fn loaders_survive_mangled_entries(
            id in prop::sample::select(vec!["1", "\"x\"", "-1", "1.5", "[]", "null", "99999999999999999999"]),
            url in prop::sample::select(vec!["\"a.example.com\"", "\"*\"", "\"\"", "7", "\"a..b\"", "\"\\u0000\""]),
            ports in prop::sample::select(vec!["\"80\"", "\"0\"", "\"70000\"", "\"1-\"", "[80]", "80", "\"\""]),
        ) {
            let json = format!(r#"[{{"id": {id}, "serviceArea": "Common", "category": "Allow", "urls": [{url}], "tcpPorts": {ports}}}]"#);
            let _ = ms365::parse(&json, "f.json", 0);
            let toml = format!("[[sets]]\nid = {id}\nhosts = [{url}]\ntcp_ports = {ports}\n");
            let _ = native::parse(&toml, "f.toml", 0, &Placeholders::default());
        }
    }
}
