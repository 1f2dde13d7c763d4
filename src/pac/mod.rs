//! PAC generation: a snapshot and a profile in, PAC text out, rendered from minijinja
//! templates with every value JSON-escaped and undefined variables as errors. Renders
//! strings only; serving them is the HTTP module's job.

pub mod agreement;
mod context;
pub mod engine;
mod library;

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

pub use context::PacContext;

use crate::profile::Profile;
use crate::snapshot::Snapshot;

/// The built-in default template.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../pac-templates/default.pac.j2");
pub const DEFAULT_NAME: &str = "default.pac.j2";
/// The built-in template in the shape of Microsoft's Get-PacFile output.
pub const MICROSOFT_TEMPLATE: &str =
    include_str!("../../pac-templates/microsoft-compatible.pac.j2");
pub const MICROSOFT_NAME: &str = "microsoft-compatible.pac.j2";
/// A partial both built-in templates include (and operator templates may).
pub const ADDRESS_RANGES: &str = include_str!("../../pac-templates/address-ranges.js.j2");
pub const ADDRESS_RANGES_NAME: &str = "address-ranges.js.j2";

/// Chromium ignores PAC files over 1 MiB.
pub const HARD_LIMIT: usize = 1 << 20;

/// The templates available to profiles.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The built-in templates plus every `*.pac.j2` file in `dir`, if given (a file named
    /// like a built-in one there replaces it). Every template that does not parse
    /// is reported.
    pub fn load(dir: Option<&Path>) -> Result<Templates, Vec<String>> {
        let mut env = Environment::new();
        // PAC is JavaScript: every {{ value }} must become a safe JS literal, whatever the
        // template file is called.
        env.set_auto_escape_callback(|_| AutoEscape::Json);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut problems = Vec::new();
        for (name, text) in [
            (DEFAULT_NAME, DEFAULT_TEMPLATE),
            (MICROSOFT_NAME, MICROSOFT_TEMPLATE),
            (ADDRESS_RANGES_NAME, ADDRESS_RANGES),
        ] {
            if let Err(e) = env.add_template(name, text) {
                problems.push(format!("built-in {name}: {e}"));
            }
        }
        if let Some(dir) = dir {
            match std::fs::read_dir(dir) {
                Ok(entries) => {
                    let mut files: Vec<_> =
                        entries.filter_map(Result::ok).map(|e| e.path()).collect();
                    files.sort();
                    for path in files {
                        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                            continue;
                        };
                        if !name.ends_with(".pac.j2") {
                            continue;
                        }
                        let name = name.to_owned();
                        match std::fs::read_to_string(&path) {
                            Ok(src) => {
                                if let Err(e) = env.add_template_owned(name, src) {
                                    problems.push(format!("{}: {e}", path.display()));
                                }
                            }
                            Err(e) => {
                                problems.push(format!("{}: cannot read: {e}", path.display()))
                            }
                        }
                    }
                }
                Err(e) => problems.push(format!("{}: cannot read directory: {e}", dir.display())),
            }
        }
        if problems.is_empty() {
            Ok(Templates { env })
        } else {
            Err(problems)
        }
    }

    /// Renders the profile's template for a snapshot, refusing a PAC browsers would ignore.
    pub fn render(&self, snap: &Snapshot, profile: &Profile) -> Result<String, String> {
        let text = self.render_any_size(snap, profile)?;
        if text.len() > HARD_LIMIT {
            return Err(format!(
                "profile {}: the PAC is {} bytes; Chromium ignores PAC files over {HARD_LIMIT}",
                profile.name,
                text.len()
            ));
        }
        Ok(text)
    }

    /// Renders without the size limit (`pac render`, for measuring large catalogues).
    pub fn render_any_size(&self, snap: &Snapshot, profile: &Profile) -> Result<String, String> {
        let ctx = PacContext::new(snap, profile);
        let tmpl = self.env.get_template(&profile.template).map_err(|e| {
            format!(
                "profile {}: template {}: {e}",
                profile.name, profile.template
            )
        })?;
        let text = tmpl.render(minijinja::value::Serde(&ctx)).map_err(|e| {
            format!(
                "profile {}: rendering {}: {e:#}",
                profile.name, profile.template
            )
        })?;
        if !text.is_ascii() {
            return Err(format!(
                "profile {}: the PAC is not ASCII; browsers may misread it",
                profile.name
            ));
        }
        Ok(text)
    }
}

/// A PAC ready to serve: body, gzip body and entity tag, computed once per snapshot.
pub struct RenderedPac {
    pub profile: String,
    pub body: Bytes,
    pub gzip: Bytes,
    /// Quoted strong entity tag, unique to this content.
    pub etag: String,
}

impl RenderedPac {
    pub fn new(profile: &str, text: String) -> RenderedPac {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(text.as_bytes());
        let etag = format!("\"{}\"", crate::catalogue::hex_prefix(&digest, 20));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gzip = match gz.write_all(text.as_bytes()).and_then(|()| gz.finish()) {
            Ok(v) => Bytes::from(v),
            Err(_) => Bytes::new(),
        };
        RenderedPac {
            profile: profile.to_owned(),
            body: Bytes::from(text),
            gzip,
            etag,
        }
    }
}
