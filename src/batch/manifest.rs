//! `manifest.json` in each video's folder: what was labelled, with what, by which prelabel.
//! Written last (atomically), after the label files are committed, so it marks a finished
//! video; a re-run skips the video only when the manifest matches the source, model and
//! settings of this run, and otherwise says what changed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fingerprint::{hex, sha256_file as sha256_file_io};

use crate::error::{Error, Result};
use crate::files::AtomicFile;

pub(crate) const FILE_NAME: &str = "manifest.json";

/// How [`Source::fingerprint`] is computed, recorded in every manifest.
pub(crate) const FINGERPRINT_METHOD: &str = "sha256 of the size (8 bytes, little-endian), the first MiB and the last MiB";

const MIB: u64 = 1 << 20;

/// Settings that do not change the labels: left out of the settings fingerprint.
const NOT_LABELS: &[&str] = &["device_requested", "batch_size", "jobs", "threads", "formats", "preview"];

/// The video file, as it was when labelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The path as given (lossy for names that are not UTF-8; the output folder is exact).
    pub path: String,
    pub canonical: String,
    pub size: u64,
    /// Modification time, nanoseconds since 1970.
    pub modified_ns: u128,
    pub fingerprint: String,
}

impl Source {
    pub fn read(path: &Path) -> std::io::Result<Source> {
        let meta = std::fs::metadata(path)?;
        let modified_ns = meta.modified()?.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let size = meta.len();
        let mut f = File::open(path)?;
        let mut h = Sha256::new();
        h.update(size.to_le_bytes());
        let mut buf = Vec::with_capacity(MIB as usize);
        (&mut f).take(MIB).read_to_end(&mut buf)?;
        h.update(&buf);
        buf.clear();
        f.seek(SeekFrom::Start(size.saturating_sub(MIB)))?;
        f.take(MIB).read_to_end(&mut buf)?;
        h.update(&buf);
        Ok(Source {
            path: path.to_string_lossy().into_owned(),
            canonical: path.canonicalize().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
            size,
            modified_ns,
            fingerprint: hex(&h.finalize()),
        })
    }
}

/// The model: the ONNX file and its description, hashed once per job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrint {
    pub name: String,
    pub onnx_sha256: String,
    pub description_sha256: String,
}

impl ModelPrint {
    pub fn new(name: &str, onnx: &Path, description: &Path) -> Result<ModelPrint> {
        Ok(ModelPrint { name: name.to_string(), onnx_sha256: sha256_file(onnx)?, description_sha256: sha256_file(description)? })
    }
}

/// The settings that change labels (report.json's `settings` less `NOT_LABELS`) and their hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsPrint {
    pub sha256: String,
    pub values: Value,
}

impl SettingsPrint {
    pub fn new(settings: &impl Serialize) -> SettingsPrint {
        let mut values = serde_json::to_value(settings).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut values {
            for k in NOT_LABELS {
                map.remove(*k);
            }
        }
        // serde_json's maps are sorted, so the text is stable.
        let sha256 = hex(&Sha256::digest(values.to_string().as_bytes()));
        SettingsPrint { sha256, values }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub prelabel_version: String,
    /// `ok` or `partial` (labelled as far as the file decodes).
    pub status: String,
    pub source: Source,
    pub fingerprint_method: String,
    pub model: ModelPrint,
    pub settings: SettingsPrint,
    pub files: Vec<PathBuf>,
}

impl Manifest {
    /// The manifest in `dir`: None when there is none or it cannot be read.
    pub fn load(dir: &Path) -> Option<Manifest> {
        let text = std::fs::read_to_string(dir.join(FILE_NAME)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let mut f = AtomicFile::create(dir.join(FILE_NAME))?;
        serde_json::to_writer_pretty(&mut f, self).map_err(|e| f.err(e.into()))?;
        f.commit()
    }

    /// What differs between the video as labelled before and now; empty when nothing does.
    pub fn changes(&self, source: &Source, model: &ModelPrint, settings: &SettingsPrint) -> Vec<String> {
        let mut out = Vec::new();
        let s = &self.source;
        let mut what = Vec::new();
        if s.size != source.size {
            what.push("size");
        }
        if s.modified_ns != source.modified_ns {
            what.push("modification time");
        }
        if s.fingerprint != source.fingerprint {
            what.push("content");
        }
        if !what.is_empty() {
            out.push(format!("source changed ({})", what.join(", ")));
        }
        if self.model.onnx_sha256 != model.onnx_sha256 {
            out.push(format!("model changed ({} -> {})", self.model.name, model.name));
        } else if self.model.description_sha256 != model.description_sha256 {
            out.push("model description changed".into());
        }
        if self.settings.sha256 != settings.sha256 {
            let mut keys = Vec::new();
            diff("", &self.settings.values, &settings.values, &mut keys);
            out.push(format!("settings changed ({})", keys.join(", ")));
        }
        out
    }
}

/// Dotted names (with `-` for `_`, as on the command line) of the leaves that differ.
fn diff(prefix: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let name = if prefix.is_empty() { k.replace('_', "-") } else { format!("{prefix}.{}", k.replace('_', "-")) };
                diff(&name, a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null), out);
            }
        }
        (a, b) if a != b => out.push(if prefix.is_empty() { "all".into() } else { prefix.to_string() }),
        _ => {}
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    sha256_file_io(path).map_err(|e| Error::Model(format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_what_differs() {
        let dir = tempfile::tempdir().unwrap();
        let video = dir.path().join("v.mp4");
        std::fs::write(&video, vec![7u8; 3 * MIB as usize]).unwrap();
        let source = Source::read(&video).unwrap();
        let model = ModelPrint { name: "m".into(), onnx_sha256: "a".into(), description_sha256: "b".into() };
        let settings = SettingsPrint::new(&serde_json::json!({"score_threshold": 0.3, "threads": 4, "tracker": {"high": 0.5}}));
        let m = Manifest {
            prelabel_version: "x".into(),
            status: "ok".into(),
            source: source.clone(),
            fingerprint_method: FINGERPRINT_METHOD.into(),
            model: model.clone(),
            settings: settings.clone(),
            files: vec![],
        };
        m.write(dir.path()).unwrap();
        let m = Manifest::load(dir.path()).unwrap();
        assert!(m.changes(&source, &model, &settings).is_empty());
        let threads = SettingsPrint::new(&serde_json::json!({"score_threshold": 0.3, "threads": 8, "tracker": {"high": 0.5}}));
        assert!(m.changes(&source, &model, &threads).is_empty(), "threads do not change labels");
        let other = SettingsPrint::new(&serde_json::json!({"score_threshold": 0.4, "threads": 4, "tracker": {"high": 0.6}}));
        assert_eq!(m.changes(&source, &model, &other), ["settings changed (score-threshold, tracker.high)"]);
        // Same size, a byte changed in the middle: only size and ends are hashed, so a change
        // in the middle shows in the modification time.
        let mut bytes = vec![7u8; 3 * MIB as usize];
        bytes[0] = 1;
        std::fs::write(&video, bytes).unwrap();
        let changed = Source { modified_ns: source.modified_ns + 1, ..Source::read(&video).unwrap() };
        assert_eq!(m.changes(&changed, &model, &settings), ["source changed (modification time, content)"]);
    }
}
