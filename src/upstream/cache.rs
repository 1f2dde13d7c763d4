//! The upstream cache directory: the synced web-service JSON, a pointer naming the current
//! version, the last changes, and the client request id. Every file is replaced atomically
//! (temporary file, fsync, rename, fsync of the directory), and the data file is written
//! before the pointer that names it, so a process killed at any moment leaves either the old
//! catalogue or the new one — never a torn file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalogue::SourceSpec;
use crate::config::UpstreamConfig;

/// The pointer file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    /// The web service's version (`YYYYMMDDNN`).
    pub version: String,
    /// Data file name in the cache directory.
    pub file: String,
    /// Unix time the data was fetched.
    pub fetched_unix: u64,
}

fn pointer_path(dir: &Path, instance: &str) -> PathBuf {
    dir.join(format!("{instance}.current.json"))
}

/// Where the summary of the last changes is kept.
pub fn changes_path(dir: &Path, instance: &str) -> PathBuf {
    dir.join(format!("{instance}.changes.json"))
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The current pointer, if one is there and readable.
pub fn pointer(dir: &Path, instance: &str) -> Option<Pointer> {
    let text = std::fs::read_to_string(pointer_path(dir, instance)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The synced catalogue as a source, if the cache holds one that parses.
pub fn current(dir: &Path, up: &UpstreamConfig) -> Option<SourceSpec> {
    let p = pointer(dir, &up.instance)?;
    let path = dir.join(&p.file);
    let text = std::fs::read_to_string(&path).ok()?;
    crate::catalogue::ms365::parse(&text, &path.display().to_string(), 0).ok()?;
    Some(SourceSpec::Ms365 {
        path,
        name: None,
        instance: Some(up.instance.clone()),
        version: Some(p.version),
    })
}

/// Stores a validated download: data file first, then the pointer; older data files go.
pub fn store(
    dir: &Path,
    instance: &str,
    version: &str,
    body: &[u8],
    now: u64,
) -> std::io::Result<()> {
    let safe: String = version
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let file = format!("endpoints-{instance}-{safe}.json");
    write_atomic(&dir.join(&file), body)?;
    let p = Pointer {
        version: version.to_owned(),
        file: file.clone(),
        fetched_unix: now,
    };
    let text = serde_json::to_vec_pretty(&p).map_err(std::io::Error::other)?;
    write_atomic(&pointer_path(dir, instance), &text)?;
    // Only the current data file is needed; a failure to tidy up is harmless.
    if let Ok(entries) = std::fs::read_dir(dir) {
        let prefix = format!("endpoints-{instance}-");
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name != file {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// The client request id: configured, or kept in the cache directory, or made now and kept.
pub fn client_request_id(dir: &Path, configured: Option<&str>) -> std::io::Result<String> {
    if let Some(id) = configured {
        return Ok(id.to_owned());
    }
    let path = dir.join("client-request-id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if is_guid(id) {
            return Ok(id.to_owned());
        }
    }
    let id = new_guid();
    write_atomic(&path, format!("{id}\n").as_bytes())?;
    Ok(id)
}

/// `8-4-4-4-12` hexadecimal digits.
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A random (version 4) GUID: unique per client is all it needs.
fn new_guid() -> String {
    use sha2::Digest;
    let seed = [
        super::random_u64().to_le_bytes(),
        super::random_u64().to_le_bytes(),
    ]
    .concat();
    let d = sha2::Sha256::digest(seed);
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_well_formed_and_differ() {
        let a = new_guid();
        let b = new_guid();
        assert!(is_guid(&a) && is_guid(&b), "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(&a[14..15], "4");
        assert!(!is_guid("b10c5ed1-bad1-445f-b386"));
    }

    #[test]
    fn client_id_is_kept() {
        let dir = std::env::temp_dir().join(format!("pw-cid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = client_request_id(&dir, None).unwrap();
        assert_eq!(client_request_id(&dir, None).unwrap(), first);
        assert_eq!(client_request_id(&dir, Some("x")).unwrap(), "x");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
