//! The one path from configuration to a compiled snapshot: config → sources → catalogue →
//! snapshot. Every command uses it, and the reloader will too, so what `check` accepts is
//! exactly what a server would serve.

use crate::catalogue::load_sources;
use crate::config::Loaded;
use crate::pac::{RenderedPac, Templates};
use crate::snapshot::Snapshot;
use crate::state::Served;

/// Loads every source named by the configuration and compiles them. On failure, every
/// problem is returned as one line (`file: entry: field: reason`).
pub fn snapshot(config: &Loaded, generation: u64) -> Result<Snapshot, Vec<String>> {
    let specs = config
        .sources()
        .map_err(|e| e.to_string().lines().map(str::to_owned).collect::<Vec<_>>())?;
    let catalogue = load_sources(&specs, &config.placeholders())
        .map_err(|ps| ps.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    Ok(Snapshot::compile(catalogue, generation))
}

/// Everything a server serves for one generation: the snapshot, the profiles and a rendered
/// PAC per profile. Returns warnings (PACs over the size budget) beside the result.
pub fn served(config: &Loaded, generation: u64) -> Result<(Served, Vec<String>), Vec<String>> {
    let mut problems = Vec::new();
    let snap = snapshot(config, generation);
    let profiles = config.profiles_and_clients();
    let templates = Templates::load(config.templates_dir().as_deref());
    let tls = config.tls_paths().and_then(|paths| match paths {
        None => Ok(None),
        Some((cert, key)) => crate::http::tls::load_key(&cert, &key)
            .map(Some)
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
    Ok((
        Served {
            decide_json,
            snapshot: snap,
            profiles,
            default_profile: default,
            clients,
            pacs,
            tls,
        },
        warnings,
    ))
}
