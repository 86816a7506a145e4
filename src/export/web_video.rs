//! `--web-video`: takes a source video and its output folder, gives [`WEB_VIDEO`] there, a
//! copy a browser (and so Label Studio's editor) plays. Runs on the CPU through the ffmpeg
//! libraries the decoder links (libx264), once per video, after the label files.
//!
//! A source that already is H.264 (8-bit 4:2:0) in an MP4 file is linked (or copied) as it
//! is. Any other is decoded and encoded again, frame-exact: every frame the decoder gives
//! becomes one output frame with the same presentation time (the output stream keeps the
//! source's time base, and no B-frames, so each packet's time is its frame's), so frame N of
//! the labels is frame N of the copy. Frames of an odd width or height are scaled to the even
//! size 4:2:0 H.264 needs (one pixel less), which keeps every box's position in percent.
//! Audio is not copied: annotators label pictures. The copy is written under a temporary
//! name beside its final one and renamed into place only when complete.

use std::path::{Path, PathBuf};

use video_rs::ffmpeg::{self, codec, encoder, format, media, software::scaling, Dictionary, Packet, Rational};

pub use super::video_ref::WEB_VIDEO;
use crate::error::{Error, Result};

/// Consecutive undecodable packets after which the source is given up (as decode does).
const MAX_CONSECUTIVE_ERRORS: u32 = 50;

/// x264 quality: constant rate factor 20 looks like the source at a fraction of the size of
/// a near-lossless copy; `veryfast` keeps a CPU encode of 576p at several hundred frames/s.
const X264_OPTIONS: &[(&str, &str)] = &[("preset", "veryfast"), ("crf", "20")];

/// What was written, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebVideo {
    pub path: PathBuf,
    /// False when the source was linked or copied as it is.
    pub transcoded: bool,
    /// Frames in the copy (counted when transcoding, else None).
    pub frames: Option<u64>,
}

/// Whether browsers play `path` as it is: H.264 with 8-bit 4:2:0 pixels in an MP4 file
/// (`.mp4` or `.m4v`; QuickTime `.mov` shares the demuxer but not every browser plays it).
pub fn is_browser_playable(path: &Path) -> Result<bool> {
    let ext_ok = path.extension().and_then(|e| e.to_str()).is_some_and(|e| ["mp4", "m4v"].contains(&e.to_ascii_lowercase().as_str()));
    if !ext_ok {
        return Ok(false);
    }
    crate::decode::init();
    let input = open_input(path)?;
    if !input.format().name().split(',').any(|n| n == "mp4") {
        return Ok(false);
    }
    let Some(stream) = input.streams().best(media::Type::Video) else {
        return Err(Error::video(path, "no video stream"));
    };
    if stream.parameters().id() != codec::Id::H264 {
        return Ok(false);
    }
    let decoder = codec::Context::from_parameters(stream.parameters()).and_then(|c| c.decoder().video());
    Ok(decoder.is_ok_and(|d| d.format() == format::Pixel::YUV420P))
}

/// Writes `dir/`[`WEB_VIDEO`] for `source`: linked or copied when browsers play the source
/// already, else transcoded frame-exact to H.264.
pub fn write(source: &Path, dir: &Path) -> Result<WebVideo> {
    let dest = dir.join(WEB_VIDEO);
    let tmp = tempfile::Builder::new()
        .prefix(".prelabel-")
        .suffix(".mp4.partial")
        .tempfile_in(dir)
        .map_err(|e| Error::Output(format!("cannot create a file in {}: {e}", dir.display())))?
        .into_temp_path();
    let out_err = |e: std::io::Error| Error::Output(format!("cannot write {}: {e}", dest.display()));
    let (transcoded, frames) = if is_browser_playable(source)? {
        // A hard link costs nothing; across file systems, a copy.
        std::fs::remove_file(&tmp).map_err(out_err)?;
        if std::fs::hard_link(source, &tmp).is_err() {
            std::fs::copy(source, &tmp).map_err(out_err)?;
        }
        (false, None)
    } else {
        let frames = transcode(source, &tmp)?;
        // Readable by a web server running as another user, like the label files (a link
        // keeps the source's own permissions).
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o644)).map_err(out_err)?;
        (true, Some(frames))
    };
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(out_err)?;
    tmp.persist(&dest).map_err(|e| out_err(e.error))?;
    Ok(WebVideo { path: dest, transcoded, frames })
}

/// Opens `path` for demuxing; paths that are not UTF-8 go through /proc/self/fd as in decode.
fn open_input(path: &Path) -> Result<format::context::Input> {
    let held = match path.to_str() {
        Some(_) => None,
        None => Some(std::fs::File::open(path).map_err(|e| Error::video(path, format!("cannot read: {e}")))?),
    };
    let ff_path = match &held {
        Some(f) => PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(f))),
        None => path.to_path_buf(),
    };
    format::input(&ff_path).map_err(|e| Error::video(path, format!("cannot open for the web copy: {e}")))
}

/// Decodes the best video stream of `source` and encodes every frame into the MP4 `dest`;
/// returns the frames written.
fn transcode(source: &Path, dest: &Path) -> Result<u64> {
    let bad = |m: String| Error::video(source, format!("web copy: {m}"));
    let mut input = open_input(source)?;
    let stream = input.streams().best(media::Type::Video).ok_or_else(|| bad("no video stream".into()))?;
    let index = stream.index();
    let time_base = stream.time_base();
    let rate = match stream.avg_frame_rate() {
        r if r.numerator() > 0 && r.denominator() > 0 => r,
        _ => stream.rate(),
    };
    let mut decoder = codec::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(|e| bad(format!("unsupported codec ({e})")))?;

    let dest_str = dest.to_str().ok_or_else(|| bad("temporary path is not UTF-8".into()))?;
    let mut output = format::output_as(dest_str, "mp4").map_err(|e| bad(format!("cannot create {dest_str}: {e}")))?;
    let x264 = encoder::find_by_name("libx264")
        .or_else(|| encoder::find(codec::Id::H264))
        .ok_or_else(|| bad("this ffmpeg has no H.264 encoder (Debian's libavcodec has libx264)".into()))?;
    let global_header = output.format().flags().contains(format::Flags::GLOBAL_HEADER);
    let (width, height) = (decoder.width() & !1, decoder.height() & !1);
    if width == 0 || height == 0 {
        return Err(bad(format!("frame size {}x{} is too small", decoder.width(), decoder.height())));
    }
    let mut enc = codec::Context::new_with_codec(x264).encoder().video().map_err(|e| bad(e.to_string()))?;
    enc.set_width(width);
    enc.set_height(height);
    enc.set_format(format::Pixel::YUV420P);
    enc.set_time_base(time_base);
    enc.set_frame_rate(Some(rate));
    enc.set_aspect_ratio(decoder.aspect_ratio());
    // No B-frames: packets leave the encoder in presentation order, so no edit list shifts
    // the times; a keyframe every second or so keeps seeking in the editor quick.
    enc.set_max_b_frames(0);
    let fps = f64::from(rate.numerator()) / f64::from(rate.denominator().max(1));
    enc.set_gop((fps.round() as u32).clamp(1, 300));
    if global_header {
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut opts = Dictionary::new();
    for (k, v) in X264_OPTIONS {
        opts.set(k, v);
    }
    let enc = enc.open_with(opts).map_err(|e| bad(format!("cannot open the H.264 encoder: {e}")))?;
    let mut ost = output.add_stream(x264).map_err(|e| bad(e.to_string()))?;
    ost.set_parameters(&enc);
    ost.set_time_base(time_base);
    ost.set_avg_frame_rate(rate);
    let mut mux_opts = Dictionary::new();
    // The index first, so a browser starts playing before the whole file has arrived.
    mux_opts.set("movflags", "+faststart");
    output.write_header_with(mux_opts).map_err(|e| bad(format!("cannot start the MP4: {e}")))?;
    let out_tb = output.stream(0).map(|s| s.time_base()).unwrap_or(time_base);

    let mut state = Encoding { enc, scaler: None, width, height, time_base, out_tb, last_pts: None, frames: 0 };
    let mut consecutive = 0;
    let mut frame = ffmpeg::frame::Video::empty();
    for (s, packet) in input.packets() {
        if s.index() != index {
            continue;
        }
        match decoder.send_packet(&packet) {
            Ok(()) => consecutive = 0,
            Err(e) => {
                consecutive += 1;
                tracing::warn!(video = %source.display(), "web copy: skipping undecodable data: {e}");
                if consecutive >= MAX_CONSECUTIVE_ERRORS {
                    return Err(bad(format!("gave up after {consecutive} decode errors in a row: {e}")));
                }
                continue;
            }
        }
        while decoder.receive_frame(&mut frame).is_ok() {
            state.push(&mut frame, &mut output).map_err(|e| bad(e))?;
        }
    }
    let _ = decoder.send_eof();
    while decoder.receive_frame(&mut frame).is_ok() {
        state.push(&mut frame, &mut output).map_err(|e| bad(e))?;
    }
    state.enc.send_eof().map_err(|e| bad(e.to_string()))?;
    state.drain(&mut output).map_err(|e| bad(e))?;
    output.write_trailer().map_err(|e| bad(format!("cannot finish the MP4: {e}")))?;
    if state.frames == 0 {
        return Err(bad("no frames could be decoded".into()));
    }
    Ok(state.frames)
}

/// The encoder side of [`transcode`].
struct Encoding {
    enc: encoder::Video,
    scaler: Option<scaling::Context>,
    width: u32,
    height: u32,
    time_base: Rational,
    out_tb: Rational,
    last_pts: Option<i64>,
    frames: u64,
}

impl Encoding {
    /// Encodes one decoded frame at its own presentation time.
    fn push(&mut self, frame: &mut ffmpeg::frame::Video, output: &mut format::context::Output) -> std::result::Result<(), String> {
        // The decoder's best guess of the frame's time; a frame without one (or one that
        // would go backwards, in a damaged file) follows the previous frame.
        let pts = match (frame.timestamp(), self.last_pts) {
            (Some(t), Some(last)) if t <= last => last + 1,
            (Some(t), _) => t,
            (None, Some(last)) => last + 1,
            (None, None) => 0,
        };
        self.last_pts = Some(pts);
        let same = frame.format() == format::Pixel::YUV420P && frame.width() == self.width && frame.height() == self.height;
        let mut converted;
        let send = if same {
            frame
        } else {
            if self.scaler.is_none() {
                self.scaler = Some(
                    scaling::Context::get(frame.format(), frame.width(), frame.height(), format::Pixel::YUV420P, self.width, self.height, scaling::Flags::BILINEAR)
                        .map_err(|e| format!("cannot convert {:?} frames: {e}", frame.format()))?,
                );
            }
            converted = ffmpeg::frame::Video::empty();
            self.scaler.as_mut().unwrap().run(frame, &mut converted).map_err(|e| e.to_string())?;
            &mut converted
        };
        send.set_pts(Some(pts));
        send.set_kind(ffmpeg::picture::Type::None);
        self.enc.send_frame(send).map_err(|e| format!("encoder: {e}"))?;
        self.frames += 1;
        self.drain(output)
    }

    /// Writes every packet the encoder has ready.
    fn drain(&mut self, output: &mut format::context::Output) -> std::result::Result<(), String> {
        let mut packet = Packet::empty();
        while self.enc.receive_packet(&mut packet).is_ok() {
            packet.set_stream(0);
            packet.rescale_ts(self.time_base, self.out_tb);
            packet.write_interleaved(output).map_err(|e| format!("cannot write the MP4: {e}"))?;
        }
        Ok(())
    }
}
