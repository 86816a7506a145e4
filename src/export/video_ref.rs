//! How the label files name the video they label, so that a tool can open it with no edit:
//! the source file's name by default; with `--web-video` the browser-playable copy written
//! beside the labels ([`WEB_VIDEO`], see [`ExportOptions::web_video`](super::ExportOptions::web_video)); with `--video-url PREFIX`
//! the URL of that copy, PREFIX plus its path relative to `--out`, each byte outside
//! `A-Z a-z 0-9 - . _ ~` percent-escaped (so the path survives as a URL path or as a query
//! value such as Label Studio's `/data/local-files/?d=`). CPU only, no I/O.

use std::path::{Component, Path, PathBuf};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::ExportContext;
use crate::error::{Error, Result};
use crate::files::WEB_VIDEO;

/// Bytes a path segment keeps as they are: RFC 3986's unreserved characters.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `--video-url`: the prefix, and the folder (`--out`) the video paths are taken relative to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoUrl {
    pub prefix: String,
    pub root: PathBuf,
}

impl VideoUrl {
    /// The URL of `file` (a path under [`VideoUrl::root`]): the prefix, then the path's
    /// components, escaped, joined by `/`.
    pub fn of(&self, file: &Path) -> Result<String> {
        let rel = file
            .strip_prefix(&self.root)
            .map_err(|_| Error::Output(format!("{} is not inside the output folder {}", file.display(), self.root.display())))?;
        let mut url = self.prefix.clone();
        for (i, c) in rel.components().enumerate() {
            let Component::Normal(name) = c else {
                return Err(Error::Output(format!("{}: no URL for a path with '{}'", rel.display(), c.as_os_str().to_string_lossy())));
            };
            if i > 0 {
                url.push('/');
            }
            // Output folder names are valid UTF-8 (batch::identity escapes the rest).
            url.extend(utf8_percent_encode(&name.to_string_lossy(), ESCAPED));
        }
        Ok(url)
    }
}

impl ExportContext<'_> {
    /// What the files write where they name the video (Label Studio's `data.video`, CVAT's
    /// `<source>`, COCO's `videos[].file_name`): the URL of the web copy, the web copy's file
    /// name, or the source's name.
    pub(crate) fn video_ref(&self) -> Result<String> {
        match (&self.options.video_url, self.options.web_video) {
            (Some(url), _) => url.of(&self.final_dir.join(WEB_VIDEO)),
            (None, true) => Ok(WEB_VIDEO.to_string()),
            (None, false) => Ok(self.video.name.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_escape_each_component_and_keep_the_slashes() {
        let u = VideoUrl { prefix: "/data/local-files/?d=labels/".into(), root: "/srv/labels".into() };
        let got = u.of(Path::new("/srv/labels/camA/%2Ehidden clip#1&x.mp4/video.mp4")).unwrap();
        assert_eq!(got, "/data/local-files/?d=labels/camA/%252Ehidden%20clip%231%26x.mp4/video.mp4");
        let u = VideoUrl { prefix: "http://host:8081/".into(), root: "out".into() };
        assert_eq!(u.of(Path::new("out/caméra.mp4/video.mp4")).unwrap(), "http://host:8081/cam%C3%A9ra.mp4/video.mp4");
        assert!(u.of(Path::new("elsewhere/video.mp4")).is_err());
    }
}
