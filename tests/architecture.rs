//! Data flows one way through the stages: reads every source file under `src/` and fails when
//! a stage refers to a later stage (`crate::later::...`, in a `use` line or inline), when a
//! stage reaches into the wiring that drives the stages, or when a shared module (types,
//! helpers) depends on a stage. A module this test does not know fails it too, so a new
//! module gets a place in the lists below. (Not to be confused with `scripts/check_imports.py`,
//! which checks that annotation tools can import the label files prelabel writes.)
//!
//! Only paths through `crate::` are seen: `super::` stays inside a module, and nothing in
//! `src/` spells the crate another way.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The pipeline stages, in data order: a stage may use the ones before it, never the ones
/// after. `render` consumes what export wrote out (the final tracks) and the video again, so
/// it comes last. `tile` runs twice: cutting frames into regions (before preprocess) and, in
/// `tile::merge`, merging the regions' detections (after postprocess, whose NMS it reuses).
const STAGES: &[&str] =
    &["decode", "tile", "preprocess", "infer", "postprocess", "tile::merge", "track", "refine", "route", "export", "render"];

/// Stages that may be absent (planned, not written yet). None at present; a planned stage
/// goes here until its module exists.
const PLANNED: &[&str] = &[];

/// Vocabulary and helpers every stage may use; they use no stage and no wiring.
const SHARED: &[&str] = &["types", "units", "error", "model", "labels", "gpu", "fingerprint", "files", "yuv"];

/// Wiring and tools around the stages: they may use anything, no stage uses them.
/// (`devices` builds the preprocess and postprocess objects for the chosen devices.)
const WIRING: &[&str] = &["pipeline", "batch", "devices", "cli", "eval", "bundle", "serve"];

/// The module a file belongs to, as named in the lists above.
fn module_of(rel: &Path) -> String {
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    match parts.as_slice() {
        [top, sub, ..] if top == "tile" && sub == "merge" => "tile::merge".into(),
        [top, ..] => top.clone(),
        [] => String::new(),
    }
}

/// `text` without `//` and `/* */` comments (doc links are not imports).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        match (rest.find("//"), rest.find("/*")) {
            (Some(l), b) if b.is_none_or(|b| l < b) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |n| &rest[l + n..]);
            }
            (_, Some(b)) => {
                out.push_str(&rest[..b]);
                rest = rest[b..].find("*/").map_or("", |e| &rest[b + e + 2..]);
            }
            _ => {
                out.push_str(rest);
                rest = "";
            }
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The leading identifier of `s` (after spaces) and what follows it.
fn ident(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// The crate modules a file refers to: the first segment of every `crate::` path, or
/// `tile::merge` for paths into that part of `tile`; groups (`crate::{a, b::c}`) included.
fn crate_modules(text: &str) -> BTreeSet<String> {
    let text = strip_comments(text);
    let mut out = BTreeSet::new();
    let mut at = 0;
    while let Some(i) = text[at..].find("crate::") {
        let start = at + i;
        at = start + "crate::".len();
        if text[..start].chars().next_back().is_some_and(|c| is_ident(c) || c == '$') {
            continue; // `$crate::` in a macro, or another crate's name ending in "crate"
        }
        let rest = &text[at..];
        if let Some(group) = rest.trim_start().strip_prefix('{') {
            // Items at the top level of the group, up to its closing brace.
            let (mut depth, mut item_start) = (0usize, true);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        item_start = false;
                        add_path(&group[j..], &mut out);
                    }
                    _ => {}
                }
            }
        } else {
            add_path(rest, &mut out);
        }
    }
    out
}

/// Adds the module of one path `a::b::...` (without the `crate::`).
fn add_path(path: &str, out: &mut BTreeSet<String>) {
    let (first, after) = ident(path);
    if first.is_empty() || first == "self" {
        return;
    }
    if first == "tile" {
        if let Some(sub) = after.strip_prefix("::") {
            let (second, _) = ident(sub);
            if second == "merge" {
                out.insert("tile::merge".into());
                return;
            }
        }
    }
    out.insert(first.to_string());
}

fn position(module: &str) -> Option<usize> {
    STAGES.iter().position(|s| *s == module)
}

/// Every rule broken by the files (`rel` path under `src/`, text), one line each.
fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut out = Vec::new();
    let known = |m: &str| position(m).is_some() || SHARED.contains(&m) || WIRING.contains(&m);
    for (rel, text) in files {
        let me = module_of(rel);
        if !known(&me) {
            out.push(format!(
                "src/{}: module '{me}' is neither a stage, shared nor wiring: add it to tests/architecture.rs",
                rel.display()
            ));
            continue;
        }
        if WIRING.contains(&me.as_str()) {
            continue;
        }
        for used in crate_modules(text) {
            let used_top = used.split("::").next().unwrap_or_default();
            if used == me || used_top == me {
                continue;
            }
            let why = if !known(&used) {
                Some(format!("uses crate::{used}, which tests/architecture.rs does not know"))
            } else if SHARED.contains(&me.as_str()) {
                (!SHARED.contains(&used.as_str())).then(|| format!("is shared but uses crate::{used}"))
            } else if WIRING.contains(&used.as_str()) {
                Some(format!("is stage '{me}' but uses the wiring module crate::{used}"))
            } else {
                match (position(&me), position(&used)) {
                    (Some(a), Some(b)) if b > a => Some(format!("is stage '{me}' but uses the later stage crate::{used}")),
                    _ => None,
                }
            };
            if let Some(why) = why {
                out.push(format!("src/{} {why}", rel.display()));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            // The crate roots declare modules; they belong to no stage.
            if rel != Path::new("lib.rs") && rel != Path::new("main.rs") {
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_stage_uses_a_later_stage() {
    let mut files = Vec::new();
    rust_files(&src(), &src(), &mut files);
    assert!(files.len() > 20, "read only {} files from {}", files.len(), src().display());
    let bad = violations(&files);
    assert!(bad.is_empty(), "data must flow one way ({}):\n{}", STAGES.join(" -> "), bad.join("\n"));
}

#[test]
fn every_stage_listed_exists_and_every_module_is_listed() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .map(|l| l.trim_end_matches(';').trim().to_string())
        .collect();
    for stage in STAGES.iter().filter(|s| !PLANNED.contains(s)) {
        let top = stage.split("::").next().unwrap();
        assert!(declared.contains(top), "stage '{stage}' is not a module of src/lib.rs (renamed? update tests/architecture.rs)");
    }
    assert!(src().join("tile/merge.rs").exists(), "tile::merge moved: update tests/architecture.rs");
    for m in &declared {
        assert!(
            position(m).is_some() || SHARED.contains(&m.as_str()) || WIRING.contains(&m.as_str()),
            "src/lib.rs declares '{m}', which tests/architecture.rs does not place"
        );
    }
}

/// The stage numbers have one home, the table in `src/lib.rs` (`//! | 1 | [`decode`] | ...`):
/// each stage module opens with "Stage N, name" as that table numbers it, and the numbered
/// stages run in the order of [`STAGES`].
#[test]
fn stage_numbers_come_from_the_table_in_lib_rs() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let table: Vec<(usize, String)> = lib
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.strip_prefix("//! |")?.split('|').map(str::trim).collect();
            let n = cells.first()?.parse().ok()?;
            Some((n, cells.get(1)?.trim_matches(|c| c == '[' || c == ']' || c == '`').to_string()))
        })
        .collect();
    assert!(table.len() >= 8, "no stage table in src/lib.rs: {table:?}");
    assert!(table.iter().enumerate().all(|(i, (n, _))| *n == i + 1), "stages numbered 1..n in order: {table:?}");
    let order: Vec<usize> = table.iter().map(|(_, m)| position(m).unwrap_or_else(|| panic!("{m} is not in STAGES"))).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "the table's order differs from STAGES: {table:?}");
    for (n, module) in &table {
        let file = [src().join(format!("{module}.rs")), src().join(module).join("mod.rs")].into_iter().find(|f| f.exists()).unwrap();
        let first = std::fs::read_to_string(&file).unwrap().lines().next().unwrap_or_default().to_string();
        assert!(
            first.starts_with(&format!("//! Stage {n}, ")),
            "{}: opens with {first:?}, not \"Stage {n}, ...\" as in src/lib.rs",
            file.display()
        );
    }
}

#[test]
fn reads_imports_as_written() {
    let text = "//! See [`crate::export::write_labels`].\n\
                use crate::types::{Track, VideoLabels};\n\
                use crate::{error::Result, labels::LabelSet, tile::merge::nms};\n\
                use crate::tile::{TilePlan, Tiling};\n\
                /* crate::batch */ fn f() { crate::units::round4(0.5); $crate::gpu::x(); }\n\
                use crate::{\n    model::{InputSpec, ModelSpec},\n    postprocess,\n};";
    let got: Vec<String> = crate_modules(text).into_iter().collect();
    assert_eq!(got, ["error", "labels", "model", "postprocess", "tile", "tile::merge", "types", "units"]);
    assert_eq!(module_of(Path::new("tile/merge.rs")), "tile::merge");
    assert_eq!(module_of(Path::new("tile/mod.rs")), "tile");
    assert_eq!(module_of(Path::new("units.rs")), "units");
}

#[test]
fn catches_a_backward_import() {
    let file = |rel: &str, text: &str| (PathBuf::from(rel), text.to_string());
    let files = [
        file("route/mod.rs", "use crate::export::round4;\nuse crate::track::Tracker;"),
        file("refine/mod.rs", "use crate::route::route;"),
        file("infer/mod.rs", "fn f() { crate::postprocess::check(); }"),
        file("types.rs", "use crate::track::X;"),
        file("track/mod.rs", "use crate::pipeline::StageTimes;"),
        file("tile/merge.rs", "use crate::postprocess::nms::nms;"),
        file("tile/mod.rs", "use crate::postprocess::nms::nms;"),
        file("export/report.rs", "use crate::pipeline::StageTimes;"),
        file("shiny.rs", "use crate::types::Frame;"),
    ];
    let bad = violations(&files);
    let want = [
        "src/route/mod.rs is stage 'route' but uses the later stage crate::export",
        "src/refine/mod.rs is stage 'refine' but uses the later stage crate::route",
        "src/infer/mod.rs is stage 'infer' but uses the later stage crate::postprocess",
        "src/types.rs is shared but uses crate::track",
        "src/track/mod.rs is stage 'track' but uses the wiring module crate::pipeline",
        "src/tile/mod.rs is stage 'tile' but uses the later stage crate::postprocess",
        "src/export/report.rs is stage 'export' but uses the wiring module crate::pipeline",
        "src/shiny.rs: module 'shiny' is neither a stage, shared nor wiring: add it to tests/architecture.rs",
    ];
    assert_eq!(bad, want);
}
