//! `--web-video`: takes a video file and its output folder, gives
//! `WEB_VIDEO` there, a copy browsers play, so Label
//! Studio's editor (or any web page) shows the video the label files name. Runs on the CPU
//! after export, once per video.
//!
//! A source that already is H.264 with 8-bit 4:2:0 pixels in an `.mp4`/`.m4v` file, at a
//! constant frame rate, is linked (hard link; a copy across file systems) as it is. Any other is decoded again
//! ([`VideoReader`], the labelling pass's decoder, so the same frames in the same order) and
//! encoded by [`Mp4Writer`]: one output frame per decoded frame, frame `n` at `n / fps`, the
//! time every label file gives frame `n` (Label Studio's `sequence[].time`, its frame
//! numbering from the config's `framerate`). For a constant-rate source that is the source's
//! own timestamps (counted from its first frame), which the tests check with ffprobe. Audio
//! is not copied: annotators label pictures. The copy appears under its final name only when
//! complete.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use video_rs::ffmpeg::{codec, format, media, Rational};

use super::Mp4Writer;
use crate::decode::VideoReader;
use crate::error::{Error, Result};
use crate::files::WEB_VIDEO;

/// What was written, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebVideo {
    pub path: PathBuf,
    /// False when the source was linked or copied as it is.
    pub transcoded: bool,
    /// Frames encoded (None when linked).
    pub frames: Option<u64>,
}

/// Whether `path` can serve as it is: H.264 with 8-bit 4:2:0 pixels in an MP4 file (`.mp4` or
/// `.m4v`; QuickTime `.mov` shares ffmpeg's demuxer but not every browser plays it), at a
/// constant frame rate. Label Studio finds frame `n` at `(n - 1) / framerate`: in a
/// variable-rate file (phones write them) that is another frame than the labels' frame `n`,
/// so such a file is encoded again at a constant rate. Probes the container, the codec and
/// every packet's time; decodes nothing.
pub(crate) fn is_browser_playable(path: &Path) -> Result<bool> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("mp4" | "m4v")) {
        return Ok(false);
    }
    crate::decode::init();
    let Some(utf8) = path.to_str() else { return Ok(false) }; // re-encoded instead: decode handles such names
    let input = format::input(&utf8).map_err(|e| Error::video(path, format!("cannot probe for --web-video: {e}")))?;
    if !input.format().name().split(',').any(|n| n == "mp4") {
        return Ok(false);
    }
    let Some(stream) = input.streams().best(media::Type::Video) else { return Ok(false) };
    if stream.parameters().id() != codec::Id::H264 {
        return Ok(false);
    }
    let decoder = codec::Context::from_parameters(stream.parameters()).and_then(|c| c.decoder().video());
    if !decoder.is_ok_and(|d| d.format() == format::Pixel::YUV420P) {
        return Ok(false);
    }
    let (index, rate, time_base) = (stream.index(), stream.avg_frame_rate(), stream.time_base());
    let mut input = input;
    let pts: Vec<i64> = input.packets().filter(|(s, _)| s.index() == index).filter_map(|(_, p)| p.pts()).collect();
    Ok(constant_rate(pts, time_base, rate))
}

/// Whether frames at `pts` (in `time_base`, any order) are evenly spaced at `rate` frames a
/// second, allowing one tick of rounding.
fn constant_rate(mut pts: Vec<i64>, time_base: Rational, rate: Rational) -> bool {
    if pts.len() < 2 || time_base.numerator() <= 0 || rate.numerator() <= 0 || rate.denominator() <= 0 {
        return pts.len() == 1;
    }
    pts.sort_unstable();
    // One frame period in ticks: (1 / rate) / time_base.
    let period = f64::from(rate.denominator()) * f64::from(time_base.denominator())
        / (f64::from(rate.numerator()) * f64::from(time_base.numerator()));
    pts.windows(2).all(|w| ((w[1] - w[0]) as f64 - period).abs() <= 1.0)
}

/// Writes `dir/`[`WEB_VIDEO`] for `video` by decoding and encoding it again, for a source
/// [`link_if_playable`] did not link (without `--preview`, whose decode would serve). `cancel`
/// stops it between frames, leaving nothing under the final name.
pub(crate) fn transcode(video: &Path, dir: &Path, cancel: &AtomicBool) -> Result<WebVideo> {
    let mut reader = VideoReader::open(video)?;
    let info = reader.info().clone();
    let mut copy = WebEncoder::new(dir, info.width, info.height, info.fps)?;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        match reader.next_frame() {
            Ok(Some(frame)) => copy.push(&frame.rgb)?,
            Ok(None) => break,
            // The labelling pass stopped at the same place: the copy holds what was labelled.
            Err(e) => {
                tracing::debug!("{}: web copy stops at frame {}: {e}", info.name, copy.writer.frames());
                break;
            }
        }
    }
    copy.finish(video)
}

/// Links (or copies) `video` to `dir/`[`WEB_VIDEO`] when browsers play it as it is; None
/// when it has to be encoded again ([`WebEncoder`]).
pub(crate) fn link_if_playable(video: &Path, dir: &Path) -> Result<Option<WebVideo>> {
    if !is_browser_playable(video)? {
        return Ok(None);
    }
    let dest = dir.join(WEB_VIDEO);
    let out_err = |e: std::io::Error| Error::write(format!("cannot write {}", dest.display()), &e);
    let tmp = tempfile::Builder::new().prefix(".prelabel-").suffix(".mp4.partial").tempfile_in(dir).map_err(out_err)?.into_temp_path();
    std::fs::remove_file(&tmp).map_err(out_err)?;
    if std::fs::hard_link(video, &tmp).is_err() {
        std::fs::copy(video, &tmp).map_err(out_err)?;
    }
    tmp.persist(&dest).map_err(|e| out_err(e.error))?;
    Ok(Some(WebVideo { path: dest, transcoded: false, frames: None }))
}

/// A web copy encoded from frames decoded elsewhere: by `transcode`, or by the preview's pass
/// ([`super::render`]) so that `--preview --web-video` decode the video once between them.
/// Dropped before [`WebEncoder::finish`], it leaves nothing under the final name.
pub struct WebEncoder {
    writer: Mp4Writer,
}

impl WebEncoder {
    /// Starts `dir/``WEB_VIDEO` for frames of `width` x `height` at `fps`.
    pub fn new(dir: &Path, width: u32, height: u32, fps: f32) -> Result<WebEncoder> {
        Ok(WebEncoder { writer: Mp4Writer::new(&dir.join(WEB_VIDEO), width, height, fps as f64)? })
    }

    /// The next decoded frame, packed RGB8.
    pub fn push(&mut self, rgb: &[u8]) -> Result<()> {
        self.writer.push(rgb)
    }

    /// Finishes the copy of `video` and puts it under its final name.
    pub fn finish(self, video: &Path) -> Result<WebVideo> {
        let frames = self.writer.frames();
        if frames == 0 {
            return Err(Error::video(video, "no frames could be decoded for the web copy"));
        }
        // Mp4Writer makes it readable as the label files are (the umask decides).
        let path = self.writer.finish()?;
        Ok(WebVideo { path, transcoded: true, frames: Some(frames) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_evenly_spaced_frames_are_constant_rate() {
        let tb = Rational(1, 90000);
        let ntsc = Rational(30000, 1001);
        // 29.97 fps at 1/90000: 3003 ticks a frame; B-frames arrive out of order.
        assert!(constant_rate(vec![0, 9009, 3003, 6006, 12012], tb, ntsc));
        assert!(constant_rate(vec![0, 3003, 6007, 9009], tb, ntsc), "one tick of rounding");
        assert!(!constant_rate(vec![0, 3003, 9009, 12012], tb, ntsc), "a dropped frame");
        assert!(!constant_rate(vec![0, 3003, 6006], tb, Rational(25, 1)), "not at the stream's rate");
        assert!(constant_rate(vec![7], tb, ntsc));
    }
}
