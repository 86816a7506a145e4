//! Where each video's labels go: a folder under `--out` named after what the video is (its path
//! relative to the folder it was found in), not its position in the input list.
//!
//! The rule (also in docs/src/batch.md and `prelabel run --help`):
//! - a file given by name: its own file name, `cam1/clip.mp4` -> `OUT/clip.mp4/`;
//! - a file found in a folder argument: the folder's own name, then the path inside it,
//!   `prelabel run camA` -> `OUT/camA/sub/clip.mp4/` (the folder's name comes first so that
//!   `camA/clip.mp4` and `camB/clip.mp4` never meet; `.` and `..` use the real folder's name);
//! - each component is percent-escaped where it could not be, or should not be, a folder name
//!   here: `%`, `/`, `\`, control characters, bytes that are not UTF-8 (losslessly: `%FF`), a
//!   leading `.` (so nothing is hidden, and `.`, `..`, `...mp4` stay inside), and names prelabel
//!   itself writes (`report.json`, `manifest.json`, the label files): `%72eport.json`;
//! - a component longer than `MAX_COMPONENT` bytes is cut and gets `~` and a short hash of
//!   the whole name (the extension is kept);
//! - inputs that still land on the same folder (`a/clip.mp4` and `b/clip.mp4` given by name)
//!   each get `~` and a short hash of the path as given before the extension, whatever their
//!   order; the same path given twice is labelled once.
//!
//! The folder is built from names as given, never from where a symlink points, and only from
//! escaped `Normal` components, so it is always inside `--out`.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// Longest folder name written, in bytes (file systems allow 255).
pub(crate) const MAX_COMPONENT: usize = 200;

/// Names prelabel writes itself, in `--out` or in a video's folder: an input component equal
/// to one of them (ignoring case) is escaped.
const RESERVED: &[&str] = &[
    "report.json",
    "manifest.json",
    "coco.json",
    "cvat.xml",
    "labelstudio.json",
    "labelstudio_config.xml",
    "mot.txt",
    "yolo",
    "review.json",
    "video.mp4",
];

/// Whether prelabel writes a file or folder of this name itself (ignoring case): the names in
/// `RESERVED` and shard reports (`report.shard-0-of-3.json`).
pub(crate) fn is_prelabel_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    RESERVED.contains(&lower.as_str()) || (lower.starts_with("report.shard-") && lower.ends_with(".json"))
}

/// One video to label and the folder, relative to `--out`, its labels go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    pub rel_out: PathBuf,
}

/// Short lowercase hex SHA-256 of `bytes` (`n` hex digits).
pub(crate) fn short_hash(bytes: &[u8], n: usize) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect::<String>()[..n].to_string()
}

/// One path component made safe as a folder name (see the module docs); never empty, never
/// `.` or `..`, never hidden, at most [`MAX_COMPONENT`] bytes.
pub(crate) fn sanitize_component(name: &OsStr) -> String {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let escape = c == '%' || c == '/' || c == '\\' || c.is_control() || (out.is_empty() && c == '.');
            if escape {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    if is_prelabel_name(&out) {
        let first = out.as_bytes()[0];
        out = format!("%{first:02X}{}", &out[1..]);
    }
    if out.len() > MAX_COMPONENT {
        out = shorten(&out, bytes);
    }
    out
}

/// `name` cut to fit [`MAX_COMPONENT`] with `~hash` of `whole` added before its extension.
fn shorten(name: &str, whole: &[u8]) -> String {
    let (stem, ext) = split_ext(name);
    let ext = if ext.len() <= 16 { ext } else { "" };
    let stem = if ext.is_empty() { name } else { stem };
    let tag = format!("~{}", short_hash(whole, 12));
    let mut keep = MAX_COMPONENT - tag.len() - ext.len();
    while !stem.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{tag}{ext}", &stem[..keep])
}

/// `("clip", ".mp4")`; no extension for names without a dot after their first character.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

/// The name a folder argument contributes: its last component as given, or for `.`, `..`
/// and the like the real folder's name.
fn folder_name(dir: &Path) -> String {
    match dir.components().next_back() {
        Some(Component::Normal(n)) => sanitize_component(n),
        _ => {
            let real = dir.canonicalize().ok();
            match real.as_deref().and_then(Path::file_name) {
                Some(n) => sanitize_component(n),
                None => sanitize_component(OsStr::new("/")),
            }
        }
    }
}

/// The name a file given by name contributes: its last component as given.
fn file_name(file: &Path) -> String {
    match file.components().next_back() {
        Some(Component::Normal(n)) => sanitize_component(n),
        Some(c) => sanitize_component(c.as_os_str()),
        None => sanitize_component(OsStr::new("")),
    }
}

/// `path` with `.` components dropped, for telling the same path given twice.
fn lexical(path: &Path) -> PathBuf {
    path.components().filter(|c| !matches!(c, Component::CurDir)).collect()
}

/// Output folders for expanded inputs. `found` holds, per input, the file and the folder
/// argument it was found in (None for a file given by name).
pub(crate) fn assign(found: Vec<(PathBuf, Option<PathBuf>)>) -> Vec<Input> {
    let mut seen = std::collections::HashSet::new();
    let mut inputs: Vec<Input> = Vec::new();
    for (path, root) in found {
        if !seen.insert(lexical(&path)) {
            tracing::warn!("{}: given twice, labelled once", path.display());
            continue;
        }
        let rel_out = match &root {
            None => PathBuf::from(file_name(&path)),
            Some(root) => {
                let mut rel = PathBuf::from(folder_name(root));
                let inside = path.strip_prefix(root).unwrap_or(&path);
                for c in inside.components() {
                    if let Component::Normal(n) = c {
                        rel.push(sanitize_component(n));
                    }
                }
                rel
            }
        };
        inputs.push(Input { path, rel_out });
    }
    // Collisions: every input of a shared folder gets the hash of its path as given, so the
    // result does not depend on order. A few rounds settle even a name that already looks
    // like a hashed one.
    for round in 0..4 {
        let mut by_dir: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
        for (i, input) in inputs.iter().enumerate() {
            by_dir.entry(input.rel_out.clone()).or_default().push(i);
        }
        let clashes: Vec<Vec<usize>> = by_dir.into_values().filter(|v| v.len() > 1).collect();
        if clashes.is_empty() {
            break;
        }
        for i in clashes.into_iter().flatten() {
            let input = &mut inputs[i];
            let mut key = lexical(&input.path).as_os_str().as_bytes().to_vec();
            key.extend(std::iter::repeat_n(b'#', round));
            let leaf = input.rel_out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let (stem, ext) = split_ext(&leaf);
            let tag = format!("~{}", short_hash(&key, 8));
            let mut keep = stem.len().min(MAX_COMPONENT - tag.len() - ext.len().min(16));
            while !stem.is_char_boundary(keep) {
                keep -= 1;
            }
            let ext = if ext.len() <= 16 { ext } else { "" };
            input.rel_out.set_file_name(format!("{}{tag}{ext}", &stem[..keep]));
        }
    }
    inputs
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn s(name: &[u8]) -> String {
        sanitize_component(OsStr::from_bytes(name))
    }

    #[test]
    fn components_are_escaped_losslessly_and_never_hidden() {
        assert_eq!(s(b"clip.mp4"), "clip.mp4");
        assert_eq!(s(b"...mp4"), "%2E..mp4");
        assert_eq!(s(b".."), "%2E.");
        assert_eq!(s(b".hidden.mp4"), "%2Ehidden.mp4");
        assert_eq!(s(b"100%.mp4"), "100%25.mp4");
        assert_eq!(s(b"a\xffb.mp4"), "a%FFb.mp4");
        assert_eq!(s(b"tab\t.mp4"), "tab%09.mp4");
        assert_eq!(s(b"report.json"), "%72eport.json");
        assert_eq!(s(b"Report.JSON"), "%52eport.JSON");
        assert_eq!(s(b"report.json.mp4"), "report.json.mp4");
        assert_eq!(s(b"report.shard-0-of-3.json"), "%72eport.shard-0-of-3.json");
        assert_eq!(s("caméra.mp4".as_bytes()), "caméra.mp4");
        assert_eq!(s(b"/"), "%2F");
    }

    #[test]
    fn long_names_are_cut_with_a_hash_and_keep_their_extension() {
        let long = format!("{}.mp4", "é".repeat(150));
        let got = s(long.as_bytes());
        assert!(got.len() <= MAX_COMPONENT, "{}", got.len());
        assert!(got.ends_with(".mp4") && got.contains('~'), "{got}");
        let other = format!("{}x.mp4", "é".repeat(150));
        assert_ne!(got, s(other.as_bytes()));
    }

    #[test]
    fn folders_mirror_the_tree_and_clashes_get_order_free_hashes() {
        let found = vec![
            ("camA/clip.mp4".into(), Some("camA".into())),
            ("x/camB/sub/clip.mp4".into(), Some("x/camB/".into())),
            ("a/clip.mp4".into(), None),
            ("b/clip.mp4".into(), None),
            ("../up/...mp4".into(), None),
            ("./a/clip.mp4".into(), None),
        ];
        let got = assign(found.clone());
        let rels: Vec<String> = got.iter().map(|i| i.rel_out.to_str().unwrap().to_string()).collect();
        assert_eq!(rels.len(), 5, "the same path twice is labelled once: {rels:?}");
        assert_eq!(rels[0], "camA/clip.mp4");
        assert_eq!(rels[1], "camB/sub/clip.mp4");
        assert!(rels[2].starts_with("clip~") && rels[2].ends_with(".mp4"), "{rels:?}");
        assert!(rels[3].starts_with("clip~") && rels[3] != rels[2], "{rels:?}");
        assert_eq!(rels[4], "%2E..mp4");
        let mut reversed = found;
        reversed.reverse();
        let back = assign(reversed);
        let find = |p: &str| back.iter().find(|i| i.path == Path::new(p)).unwrap().rel_out.clone();
        assert_eq!(find("b/clip.mp4"), got[3].rel_out, "order does not matter");
        for i in &got {
            assert!(i.rel_out.components().all(|c| matches!(c, Component::Normal(_))), "{:?}", i.rel_out);
        }
    }
}
