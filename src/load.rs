//! The one path from configuration to a compiled snapshot: config → sources → catalogue →
//! snapshot. Every command uses it, and the reloader will too, so what `check` accepts is
//! exactly what a server would serve.

use crate::catalogue::load_sources;
use crate::config::Loaded;
use crate::snapshot::Snapshot;

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
