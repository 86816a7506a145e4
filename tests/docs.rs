//! The README and the book in `docs/`: the README stays a README (at most 150 lines), the book
//! builds (`scripts/docs.sh`: the generated `--help` pages, then mdBook; a broken `{{#include}}`
//! or a page missing from `SUMMARY.md` fails it), every page is in the summary, and every
//! relative link and `#anchor` in `README.md` and `docs/src/*.md` leads somewhere: to a file of
//! the repository, and for an anchor to a heading of that page (book pages: an `id` of the page
//! mdBook built; other markdown: a heading's GitHub-style slug).
//!
//! Needs the mdbook that `scripts/setup.sh --tests` builds into `.deps/mdbook/`; without it the
//! test reports itself skipped. A few seconds.

mod common;

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

const README_MAX_LINES: usize = 150;

#[test]
fn readme_stays_short_and_keeps_the_two_commands() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= README_MAX_LINES, "README.md has {lines} lines, at most {README_MAX_LINES}: move the detail into docs/src/");
    // .ci/run runs "the README's test command"; scripts/run-sample.sh is the main job.
    for cmd in ["scripts/run-sample.sh", "scripts/test.sh"] {
        assert!(readme.lines().any(|l| l.starts_with(cmd)), "README.md no longer shows `{cmd}` as a command");
    }
}

#[test]
fn book_builds_and_its_links_resolve() {
    let repo = common::repo();
    let mdbook = repo.join(".deps/mdbook/bin/mdbook");
    if !mdbook.is_file() {
        eprintln!("\n*** SKIPPED: {} missing (scripts/setup.sh --tests builds it) ***\n", mdbook.display());
        common::skipped("mdbook not installed in .deps/mdbook (run scripts/setup.sh --tests)");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let book = out.path().join("book");
    let built = Command::new("bash")
        .arg(repo.join("scripts/docs.sh"))
        .arg(&book)
        .env("PRELABEL", env!("CARGO_BIN_EXE_prelabel"))
        .env("MDBOOK", &mdbook)
        .output()
        .expect("bash runs scripts/docs.sh");
    assert!(built.status.success(), "scripts/docs.sh failed:\n{}", common::stderr(&built));
    // mdBook logs some faults and goes on (a broken {{#include}} is an ERROR line); docs.sh
    // fails on them, and so does this, should docs.sh ever stop doing so.
    let log = common::stderr(&built);
    assert!(!log.contains(" WARN ") && !log.contains("ERROR"), "mdbook warned:\n{log}");

    let src = repo.join("docs/src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).unwrap();
    let listed: BTreeSet<String> = links(&strip_code(&summary)).into_iter().collect();
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if name != "SUMMARY.md" {
                assert!(listed.contains(&name), "docs/src/{name} is not listed in docs/src/SUMMARY.md");
            }
            pages.push(path);
        }
    }
    pages.sort();
    assert!(pages.len() > 10, "only {} pages in docs/src", pages.len());
    assert!(book.join("help.html").is_file() && book.join("index.html").is_file());
    let help = std::fs::read_to_string(book.join("help.html")).unwrap();
    assert!(help.contains("--score-threshold"), "help.html lacks the generated `prelabel run --help` text");

    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages.iter().chain(std::iter::once(&repo.join("README.md"))) {
        let text = expand_includes(page);
        for link in links(&strip_code(&text)) {
            checked += 1;
            if let Err(why) = check(repo, &src, &book, page, &link) {
                broken.push(format!("{}: ({link}): {why}", page.strip_prefix(repo).unwrap().display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n  {}", broken.join("\n  "));
    assert!(checked > 50, "only {checked} links found: is the link scanner still working?");
}

/// Checks one link target as written in `page`; Ok for links that leave the repository.
fn check(repo: &Path, src: &Path, book: &Path, page: &Path, link: &str) -> Result<(), String> {
    if link.contains("://") || link.starts_with("mailto:") {
        return Ok(());
    }
    let (path, anchor) = match link.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (link, None),
    };
    let target = if path.is_empty() { page.to_path_buf() } else { normalise(&page.parent().unwrap().join(path)) };
    if !target.starts_with(repo) {
        return Err("leads outside the repository".into());
    }
    if !target.exists() {
        return Err(format!("{} does not exist", target.display()));
    }
    let Some(anchor) = anchor else { return Ok(()) };
    let ids = if let Ok(rel) = target.strip_prefix(src) {
        // A book page: the ids of the page mdBook built (includes expanded, its own slugs).
        let html = book.join(rel).with_extension("html");
        let built = std::fs::read_to_string(&html).map_err(|e| format!("{}: {e}", html.display()))?;
        html_ids(&built)
    } else if target.extension().is_some_and(|e| e == "md") {
        heading_slugs(&std::fs::read_to_string(&target).unwrap())
    } else {
        return Err("an anchor into a file that is not markdown".into());
    };
    if ids.contains(anchor) {
        Ok(())
    } else {
        Err(format!("no heading #{anchor} in {}", target.strip_prefix(repo).unwrap().display()))
    }
}

/// `a/b/../c` -> `a/c`, without touching the file system (the target may be a link).
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The page's text with each `{{#include FILE}}` of a markdown file replaced by that file, as
/// mdBook renders it (links inside count from the including page). Other includes (code shown
/// as it is) are left out: they hold no links.
fn expand_includes(page: &Path) -> String {
    let text = std::fs::read_to_string(page).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let included = line.trim().strip_prefix("{{#include ").and_then(|r| r.strip_suffix("}}")).map(str::trim);
        match included {
            Some(file) if file.ends_with(".md") => {
                let path = page.parent().unwrap().join(file);
                // generated/ is written at build time, into the copy scripts/docs.sh builds.
                if path.exists() {
                    out.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
            Some(_) => {}
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Markdown with fenced code blocks and inline code spans blanked out: links are not read there.
fn strip_code(md: &str) -> String {
    strip_fences(md, true)
}

/// Markdown with fenced code blocks blanked out, and with `spans` the inline code spans too.
fn strip_fences(md: &str, spans: bool) -> String {
    let mut out = String::new();
    let mut fence: Option<String> = None;
    for line in md.lines() {
        let t = line.trim_start();
        let marker: String = t.chars().take_while(|&c| c == '`' || c == '~').collect();
        if marker.len() >= 3 {
            match &fence {
                None => fence = Some(marker),
                Some(open) if marker.starts_with(open.as_str()) && t.trim_end() == marker => fence = None,
                Some(_) => {}
            }
            out.push('\n');
            continue;
        }
        if fence.is_none() {
            out.push_str(&if spans { strip_spans(line) } else { line.to_string() });
        }
        out.push('\n');
    }
    out
}

/// One line without its `code spans` (a run of n backticks up to the next run of n).
fn strip_spans(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'`' {
            let n = b[i..].iter().take_while(|&&c| c == b'`').count();
            let rest = &line[i + n..];
            let close = "`".repeat(n);
            // The closing run must be exactly n long.
            let mut from = 0;
            let mut end = None;
            while let Some(k) = rest[from..].find(&close) {
                let at = from + k;
                let len = rest[at..].bytes().take_while(|&c| c == b'`').count();
                if len == n {
                    end = Some(at);
                    break;
                }
                from = at + len;
            }
            match end {
                Some(at) => i += n + at + n,
                None => {
                    out.push_str(&line[i..i + n]);
                    i += n;
                }
            }
        } else {
            let c = line[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Link targets: inline `[text](target "title")` and `![alt](target)`, reference definitions
/// `[name]: target`, and HTML `href="..."` / `src="..."`.
fn links(md: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in md.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            if let Some((_, rest)) = t.split_once("]: ") {
                if let Some(target) = rest.split_whitespace().next() {
                    found.push(target.trim_matches(|c| c == '<' || c == '>').to_string());
                }
            }
        }
    }
    let mut rest = md;
    while let Some(k) = rest.find("](") {
        rest = &rest[k + 2..];
        let mut depth = 0;
        let end = rest
            .char_indices()
            .find(|&(_, c)| match c {
                '(' => {
                    depth += 1;
                    false
                }
                ')' if depth == 0 => true,
                ')' => {
                    depth -= 1;
                    false
                }
                '\n' => true,
                _ => false,
            })
            .map_or(rest.len(), |(i, _)| i);
        let inside = rest[..end].trim();
        let target = inside.split_whitespace().next().unwrap_or("").trim_matches(|c| c == '<' || c == '>');
        if !target.is_empty() {
            found.push(target.to_string());
        }
    }
    for attr in ["href=\"", "src=\""] {
        let mut rest = md;
        while let Some(k) = rest.find(attr) {
            rest = &rest[k + attr.len()..];
            if let Some(end) = rest.find('"') {
                found.push(rest[..end].to_string());
            }
        }
    }
    found
}

/// Every `id="..."` of an HTML page.
fn html_ids(html: &str) -> BTreeSet<String> {
    html.split(" id=\"").skip(1).filter_map(|s| s.split_once('"')).map(|(id, _)| id.to_string()).collect()
}

/// The anchors GitHub gives a markdown file's headings: lower case, spaces to `-`, punctuation
/// other than `-` and `_` dropped; a repeated slug gets `-1`, `-2`, ...
fn heading_slugs(md: &str) -> BTreeSet<String> {
    let mut slugs = BTreeSet::new();
    for line in strip_fences(md, false).lines() {
        let t = line.trim_start();
        let hashes = t.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !t[hashes..].starts_with(' ') {
            continue;
        }
        let slug: String = t[hashes..]
            .trim()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_lowercase().next().unwrap()),
                _ => None,
            })
            .collect();
        let mut unique = slug.clone();
        let mut n = 0;
        while !slugs.insert(unique.clone()) {
            n += 1;
            unique = format!("{slug}-{n}");
        }
    }
    slugs
}

#[test]
fn the_link_scanner_reads_what_markdown_means() {
    let md = "See [a](a.md#x) and `[not](code.md)` and ![img](i.png \"t\").\n```\n[no](fenced.md)\n```\n[ref]: r.md\n<a href=\"h.md\">h</a> [p](f(1).md)\n";
    let found = links(&strip_code(md));
    assert_eq!(found, ["r.md", "a.md#x", "i.png", "f(1).md", "h.md"]);
    assert_eq!(strip_spans("x ``a ` b`` y `c` z"), "x  y  z");
    let slugs = heading_slugs("# Shards and resuming\n## Job files: `--config`\n## Job files: `--config`\n");
    assert!(slugs.contains("shards-and-resuming") && slugs.contains("job-files---config") && slugs.contains("job-files---config-1"));
    assert_eq!(normalise(Path::new("/r/docs/src/../../models/x.toml")), Path::new("/r/models/x.toml"));
}
