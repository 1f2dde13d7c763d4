//! The one path from configuration to a compiled snapshot: config → sources → catalogue →
//! snapshot. Every command uses it, and the reloader will too, so what `check` accepts is
//! exactly what a server would serve.

use crate::catalogue::{load_sources, Catalogue};
use crate::config::{Loaded, DEFAULT_MAX_SHRINK};
use crate::pac::{RenderedPac, Templates};
use crate::snapshot::Snapshot;
use crate::state::Served;

/// Loads every source named by the configuration and compiles them. On failure, every
/// problem is returned as one line (`file: entry: field: reason`). A source without a single
/// entry is a problem unless it says `allow_empty`: an emptied file must not quietly drop
/// an organisation's rules.
pub fn snapshot(config: &Loaded, generation: u64) -> Result<Snapshot, Vec<String>> {
    let specs = config
        .sources()
        .map_err(|e| e.to_string().lines().map(str::to_owned).collect::<Vec<_>>())?;
    let catalogue = load_sources(&specs, &config.placeholders())
        .map_err(|ps| ps.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let limits = config.source_limits();
    let empty: Vec<String> = catalogue
        .sources
        .iter()
        .enumerate()
        .filter(|(i, _)| !limits.get(*i).is_some_and(|l| l.allow_empty))
        .filter(|(i, _)| entries(&catalogue, *i) == 0)
        .map(|(_, s)| {
            format!(
                "{}: -: -: the source has no entries (an emptied or cut-short file?); set \
                 allow_empty = true on it if that is meant",
                s.origin
            )
        })
        .collect();
    if !empty.is_empty() {
        return Err(empty);
    }
    Ok(Snapshot::compile(catalogue, generation))
}

/// Hosts and prefixes of source `i`.
fn entries(cat: &Catalogue, i: usize) -> usize {
    let c = cat.counts(i);
    c.hosts + c.prefixes_v4 + c.prefixes_v6
}

/// Sources that would lose more of their entries than their `max_shrink` allows, were
/// `next` to replace `previous`: each a problem with both counts. A source is compared with
/// the one of the same name read from the same place; one that now comes from elsewhere (the
/// embedded snapshot replaced by a synced one, a path changed) starts afresh.
fn shrunk(config: &Loaded, previous: &Catalogue, next: &Catalogue) -> Vec<String> {
    let limits = config.source_limits();
    let mut problems = Vec::new();
    for (i, source) in next.sources.iter().enumerate() {
        let same =
            |s: &crate::catalogue::SourceInfo| s.name == source.name && s.origin == source.origin;
        let Some(before) = previous.sources.iter().position(same) else {
            continue;
        };
        let (old, new) = (entries(previous, before), entries(next, i));
        let max = limits.get(i).map_or(DEFAULT_MAX_SHRINK, |l| l.max_shrink);
        if old > 0 && new < old && (old - new) as f64 / old as f64 > max {
            problems.push(format!(
                "{}: -: -: the source would drop from {old} to {new} entries in one reload, \
                 more than max_shrink = {max} allows (a half-written file or a broken feed \
                 looks like this); raise max_shrink on the source if the change is meant",
                source.origin
            ));
        }
    }
    problems
}

/// Everything a server serves for one generation: the snapshot, the profiles and a rendered
/// PAC per profile. Returns warnings (PACs over the size budget) beside the result. On a
/// reload, `previous` is the catalogue being served: a source shrinking more than its
/// `max_shrink` allows is a problem.
pub fn served(
    config: &Loaded,
    generation: u64,
    previous: Option<&Catalogue>,
) -> Result<(Served, Vec<String>), Vec<String>> {
    let mut problems = Vec::new();
    let snap = snapshot(config, generation).and_then(|snap| match previous {
        None => Ok(snap),
        Some(previous) => match shrunk(config, previous, snap.catalogue()) {
            p if p.is_empty() => Ok(snap),
            p => Err(p),
        },
    });
    let profiles = config.profiles_and_clients();
    let templates = Templates::load(config.templates_dir().as_deref());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let tls = config.tls_paths().and_then(|paths| match paths {
        None => Ok(None),
        Some((cert, key)) => crate::http::tls::load_key(&cert, &key, now)
            .map(|loaded| Some((cert, loaded)))
            .map_err(|e| vec![e]),
    });
    let (snap, (profiles, default, clients), templates, tls) =
        match (snap, profiles, templates, tls) {
            (Ok(s), Ok(p), Ok(t), Ok(k)) => (s, p, t, k),
            (s, p, t, k) => {
                problems.extend(s.err().unwrap_or_default());
                problems.extend(p.err().unwrap_or_default());
                problems.extend(t.err().unwrap_or_default());
                problems.extend(k.err().unwrap_or_default());
                return Err(problems);
            }
        };
    let mut pacs = Vec::with_capacity(profiles.len());
    let mut warnings = Vec::new();
    if let Some((cert, loaded)) = &tls {
        let left = loaded.not_after - now;
        if left < crate::http::tls::EXPIRY_WARNING_SECS {
            warnings.push(format!(
                "{}: the certificate expires on {}, in {} day(s)",
                cert.display(),
                crate::http::tls::date(loaded.not_after),
                left / 86_400
            ));
        }
    }
    let budget = config.config.pac.size_budget_bytes;
    for profile in &profiles {
        match templates.render(&snap, profile) {
            Ok(text) => {
                if text.len() > budget {
                    warnings.push(format!(
                        "profile {}: PAC is {} bytes, over the {budget}-byte budget",
                        profile.name,
                        text.len()
                    ));
                }
                pacs.push(RenderedPac::new(&profile.name, text));
            }
            Err(e) => problems.push(e),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let decide_json = crate::http::decide_json::DecideJson::new(&snap, profiles.len());
    let rendered = crate::state::Rendered::new(crate::export::FORMATS.len(), profiles.len());
    Ok((
        Served {
            decide_json,
            rendered,
            snapshot: snap,
            profiles,
            default_profile: default,
            clients,
            pacs,
            tls_expiry: tls.as_ref().map(|(_, l)| l.not_after),
            config_dir: config.base_dir.clone(),
            tls: tls.map(|(_, l)| l.key),
        },
        warnings,
    ))
}
