//! Where a task's video is, from the URL Label Studio stores in the task data: takes that
//! string, gives a [`VideoRef`]. Label Studio names a file two ways:
//!
//! - Local Files storage: `/data/local-files/?d=<path relative to its document root>`
//!   (with `http://host:port` in front when Label Studio has a HOSTNAME); the path is mapped
//!   onto `--root`, which must be that document root. Only the path is taken from the URL:
//!   the file is read from disk, never fetched from the host the task names.
//! - Uploads: `/data/upload/<project>/<file>`; fetched from the Label Studio the server was
//!   told about (`--label-studio-url`, or the host its setup call gave), never from the host
//!   in the task.
//!
//! A path that could leave the root (`..`, an absolute path, a NUL, or a link out of it) is
//! refused: lexically here, and again after links are resolved by `resolve_local`.

use std::path::{Component, Path, PathBuf};

use percent_encoding::percent_decode_str;

const LOCAL: &str = "/data/local-files/";
const UPLOAD: &str = "/data/upload/";

/// A task's video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoRef {
    /// A path under `--root`, relative, with no `..`.
    Local(PathBuf),
    /// The path of an uploaded file on the Label Studio server (`/data/upload/...`).
    Upload(String),
}

/// Why a reference is refused: a 4xx for the whole request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// The path and query of `url`, without any `scheme://host` in front.
fn path_of(url: &str) -> &str {
    match url.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => {
            rest.find('/').map_or("/", |i| &rest[i..])
        }
        _ => url,
    }
}

/// Parses the video URL of a task.
pub fn parse(url: &str) -> Result<VideoRef, Refused> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if scheme.as_deref().is_some_and(|s| s != "http" && s != "https") {
        return Err(Refused(format!(
            "{url:?}: prelabel serve reads Label Studio's Local Files (/data/local-files/?d=...) and uploads (/data/upload/...), \
             not {}:// URLs",
            scheme.unwrap_or_default()
        )));
    }
    let path = path_of(url);
    if let Some(query) = path.strip_prefix(LOCAL).or_else(|| path.strip_prefix("/data/local-files").filter(|q| q.starts_with('?'))) {
        let query = query.trim_start_matches('?');
        let d = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("d="))
            .ok_or_else(|| Refused(format!("{url:?}: a Local Files URL without its d= parameter")))?;
        let decoded =
            percent_decode_str(d).decode_utf8().map_err(|_| Refused(format!("{url:?}: the d= path is not UTF-8 once decoded")))?;
        return relative(&decoded).map(VideoRef::Local).map_err(|e| Refused(format!("{url:?}: {e}")));
    }
    if let Some(rest) = path.strip_prefix(UPLOAD) {
        let file = rest.split(['?', '#']).next().unwrap_or_default();
        let decoded = percent_decode_str(file).decode_utf8().map_err(|_| Refused(format!("{url:?}: the upload path is not UTF-8")))?;
        relative(&decoded).map_err(|e| Refused(format!("{url:?}: {e}")))?;
        if file.is_empty() {
            return Err(Refused(format!("{url:?}: an upload URL without a file")));
        }
        return Ok(VideoRef::Upload(format!("{UPLOAD}{file}")));
    }
    Err(Refused(format!(
        "{url:?}: not a Label Studio Local Files (/data/local-files/?d=...) or upload (/data/upload/...) URL, \
         the two kinds prelabel serve reads"
    )))
}

/// `p` as a relative path that stays inside whatever it is joined to.
fn relative(p: &str) -> Result<PathBuf, String> {
    if p.is_empty() {
        return Err("an empty path".into());
    }
    if p.contains('\0') {
        return Err("a path with a NUL byte".into());
    }
    let path = Path::new(p);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("a path with '..' is refused: it could leave the root".into()),
            Component::RootDir | Component::Prefix(_) => return Err("an absolute path is refused: paths are relative to the root".into()),
        }
    }
    if out.as_os_str().is_empty() {
        return Err("a path naming no file".into());
    }
    Ok(out)
}

/// The file `rel` names under `root`, links resolved; Err(Refused) when it resolves outside
/// `root`, Ok(Err(message)) when it is missing or not a file (that task fails, not the request).
pub(crate) fn resolve_local(root: &Path, rel: &Path) -> Result<Result<PathBuf, String>, Refused> {
    let root = match root.canonicalize() {
        Ok(r) => r,
        Err(e) => return Ok(Err(format!("the video root {} cannot be read: {e}", root.display()))),
    };
    let real = match root.join(rel).canonicalize() {
        Ok(p) => p,
        Err(e) => return Ok(Err(format!("{}: {e} (under the video root)", rel.display()))),
    };
    if !real.starts_with(&root) {
        return Err(Refused(format!("{}: a link that leaves the video root is refused", rel.display())));
    }
    if !real.is_file() {
        return Ok(Err(format!("{}: not a file", rel.display())));
    }
    Ok(Ok(real))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_files_and_uploads_are_read_whatever_host_names_them() {
        assert_eq!(parse("/data/local-files/?d=clips/a%20b.mp4"), Ok(VideoRef::Local("clips/a b.mp4".into())));
        assert_eq!(parse("http://ls:8080/data/local-files/?d=x/./y.mp4"), Ok(VideoRef::Local("x/y.mp4".into())));
        assert_eq!(parse("/data/local-files?d=y.mp4&x=1"), Ok(VideoRef::Local("y.mp4".into())));
        assert_eq!(parse("/data/upload/3/ab12cd34-clip.mp4"), Ok(VideoRef::Upload("/data/upload/3/ab12cd34-clip.mp4".into())));
        assert_eq!(parse("https://other/data/upload/3/c.mp4"), Ok(VideoRef::Upload("/data/upload/3/c.mp4".into())));
    }

    #[test]
    fn paths_that_could_leave_the_root_and_other_urls_are_refused() {
        for url in [
            "/data/local-files/?d=../etc/passwd",
            "/data/local-files/?d=a/../../b.mp4",
            "/data/local-files/?d=%2e%2e/b.mp4",
            "/data/local-files/?d=/etc/passwd",
            "/data/local-files/?d=%2Fetc%2Fpasswd",
            "/data/local-files/?d=a%00b",
            "/data/local-files/?d=",
            "/data/local-files/?x=1",
            "/data/upload/../../etc/passwd",
            "/data/upload/",
            "s3://bucket/clip.mp4",
            "file:///etc/passwd",
            "clip.mp4",
            "/etc/passwd",
        ] {
            assert!(parse(url).is_err(), "{url} was taken");
        }
    }

    #[test]
    fn links_out_of_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(dir.path().join("secret.mp4"), b"x").unwrap();
        std::fs::write(root.join("in.mp4"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.mp4"), root.join("out.mp4")).unwrap();
        assert!(resolve_local(&root, Path::new("in.mp4")).unwrap().is_ok());
        assert!(resolve_local(&root, Path::new("out.mp4")).is_err());
        assert!(resolve_local(&root, Path::new("missing.mp4")).unwrap().is_err());
    }
}
