//! Configured sources → one merged [`Catalogue`]. The only catalogue code that reads files.

use std::path::PathBuf;

use super::native::Meta;
use super::problem::{LoadError, Problem};
use super::{content_version, ms365, native, Catalogue, Placeholders, SourceInfo};

/// The Worldwide web-service snapshot (all service areas, MEM included), converted to the
/// native format by `pacwarden import ms365` and compiled into the binary.
pub const BUILTIN_WORLDWIDE: &str = include_str!("../../config/catalogue/worldwide.toml");
/// Microsoft's "additional endpoints" table, transcribed.
pub const BUILTIN_ADDITIONAL: &str =
    include_str!("../../config/catalogue/additional-endpoints.toml");

/// Names accepted by `kind = "builtin"`.
pub const BUILTIN_NAMES: &[&str] = &["worldwide", "additional-endpoints"];

/// One catalogue source, paths already resolved against the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// Web-service JSON as `endpoints.office.com/endpoints/{instance}` returns it.
    Ms365 {
        path: PathBuf,
        /// Name cited in decisions; default `ms365:{instance}` in lowercase.
        name: Option<String>,
        /// Default `Worldwide`.
        instance: Option<String>,
        /// Default: digest of the file.
        version: Option<String>,
    },
    /// A native TOML catalogue.
    Native { path: PathBuf, name: Option<String> },
    /// A catalogue compiled into the binary (see [`BUILTIN_NAMES`]).
    Builtin { name: String },
}

impl SourceSpec {
    /// The sources used when no configuration names any: the built-in Worldwide snapshot plus
    /// the additional endpoints.
    pub fn defaults() -> Vec<SourceSpec> {
        BUILTIN_NAMES
            .iter()
            .map(|n| SourceSpec::Builtin {
                name: (*n).to_owned(),
            })
            .collect()
    }
}

/// Loads every source and merges them in order. All problems of all sources are returned
/// together, so one `check` run shows everything that needs fixing.
pub fn load_sources(specs: &[SourceSpec], ph: &Placeholders) -> Result<Catalogue, Vec<Problem>> {
    let mut cat = Catalogue::default();
    let mut problems = Vec::new();
    for spec in specs {
        let index = cat.sources.len();
        match load_one(spec, index, ph) {
            Ok((info, sets)) => {
                cat.sources.push(info);
                cat.sets.extend(sets);
            }
            Err(e) => {
                // Keep indices aligned with specs even for failed sources.
                cat.sources.push(SourceInfo {
                    name: String::new(),
                    kind: String::new(),
                    origin: String::new(),
                    version: String::new(),
                });
                problems.extend(e.into_problems());
            }
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for (spec, info) in specs.iter().zip(&cat.sources) {
        if info.name.is_empty() {
            continue;
        }
        if names.contains(&info.name.as_str()) {
            problems.push(Problem {
                file: origin_of(spec),
                entry: "-".into(),
                field: "name".into(),
                reason: format!(
                    "source name {:?} is used by an earlier source; give one a distinct `name`",
                    info.name
                ),
            });
        }
        names.push(&info.name);
    }
    if problems.is_empty() {
        Ok(cat)
    } else {
        Err(problems)
    }
}

fn origin_of(spec: &SourceSpec) -> String {
    match spec {
        SourceSpec::Ms365 { path, .. } | SourceSpec::Native { path, .. } => {
            path.display().to_string()
        }
        SourceSpec::Builtin { name } => format!("builtin:{name}"),
    }
}

type Loaded = (SourceInfo, Vec<super::EndpointSet>);

fn read(path: &PathBuf) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Loads one source and refuses rules that allow far too much (see [`super::breadth`]).
fn load_one(spec: &SourceSpec, index: usize, ph: &Placeholders) -> Result<Loaded, LoadError> {
    let (info, sets) = parse_one(spec, index, ph)?;
    let microsoft = matches!(spec, SourceSpec::Ms365 { .. } | SourceSpec::Builtin { .. });
    match super::breadth::problems(&sets, microsoft, &info.origin) {
        p if p.is_empty() => Ok((info, sets)),
        p => Err(LoadError::Invalid(p)),
    }
}

fn parse_one(spec: &SourceSpec, index: usize, ph: &Placeholders) -> Result<Loaded, LoadError> {
    let origin = origin_of(spec);
    match spec {
        SourceSpec::Ms365 {
            path,
            name,
            instance,
            version,
        } => {
            let text = read(path)?;
            let sets = ms365::parse(&text, &origin, index)?;
            let instance = instance.as_deref().unwrap_or("Worldwide");
            let info = SourceInfo {
                name: name
                    .clone()
                    .unwrap_or_else(|| format!("ms365:{}", instance.to_ascii_lowercase())),
                kind: "ms365".into(),
                origin,
                version: version.clone().unwrap_or_else(|| content_version(&text)),
            };
            Ok((info, sets))
        }
        SourceSpec::Native { path, name } => {
            let text = read(path)?;
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "catalogue".into());
            native_info(&text, origin, "native", name.clone(), &stem, index, ph)
        }
        SourceSpec::Builtin { name } => {
            let text = match name.as_str() {
                "worldwide" => BUILTIN_WORLDWIDE,
                "additional-endpoints" => BUILTIN_ADDITIONAL,
                other => {
                    return Err(LoadError::Invalid(vec![Problem {
                        file: "config".into(),
                        entry: format!("builtin:{other}"),
                        field: "name".into(),
                        reason: format!(
                            "no built-in catalogue {other:?}; known: {}",
                            BUILTIN_NAMES.join(", ")
                        ),
                    }]))
                }
            };
            native_info(text, origin, "builtin", None, name, index, ph)
        }
    }
}

fn native_info(
    text: &str,
    origin: String,
    kind: &str,
    name: Option<String>,
    stem: &str,
    index: usize,
    ph: &Placeholders,
) -> Result<Loaded, LoadError> {
    let (meta, sets): (Meta, _) = native::parse(text, &origin, index, ph)?;
    let info = SourceInfo {
        name: name
            .or(meta.name)
            .unwrap_or_else(|| format!("native:{stem}")),
        kind: kind.into(),
        origin,
        version: meta.version.unwrap_or_else(|| content_version(text)),
    };
    Ok((info, sets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogues_load() {
        let cat = load_sources(&SourceSpec::defaults(), &Placeholders::default()).unwrap();
        assert_eq!(cat.sources.len(), 2);
        assert_eq!(cat.sources[0].name, "ms365:worldwide");
        // 79 endpoint sets in the Worldwide snapshot (MEM included).
        assert_eq!(cat.counts(0).sets, 79);
        assert!(cat.counts(1).sets > 20);
    }

    #[test]
    fn unknown_builtin_and_missing_file_are_problems() {
        let specs = vec![
            SourceSpec::Builtin {
                name: "mars".into(),
            },
            SourceSpec::Native {
                path: "/nonexistent/x.toml".into(),
                name: None,
            },
        ];
        let problems = load_sources(&specs, &Placeholders::default()).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[1]
            .to_string()
            .starts_with("/nonexistent/x.toml: -: -: cannot read"));
    }
}
