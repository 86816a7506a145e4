//! A small H.264 MP4 writer over the ffmpeg libraries prelabel already links (through
//! video-rs' `ffmpeg` re-export): [`Mp4Writer::new`] (path, size, frame rate), [`Mp4Writer::push`]
//! one packed RGB8 frame at a time, [`Mp4Writer::finish`]. Used by `--preview`; written so that
//! any other stage that needs a browser-playable copy of frames can use it as it is.
//!
//! What the file is, and why:
//! - H.264 (libx264 when ffmpeg has it, else ffmpeg's default H.264 encoder), YUV 4:2:0, in
//!   MP4 with the index at the front (`movflags=+faststart`): what every browser and annotation
//!   tool plays, and it can start playing before the whole file has arrived.
//! - One output frame per pushed frame, no frame dropped or duplicated: frame `n` has
//!   presentation time `n / rate` exactly, with the stream's time base the frame period
//!   (`1 / rate`), so `ffprobe -count_frames` counts what was pushed and reports the rate given.
//! - 4:2:0 needs even sizes: an odd width or height is padded by repeating the last column
//!   or row (the MP4 is then one pixel wider or taller), never scaled.
//! - Written to a hidden temp file beside the destination and renamed into place by
//!   [`Mp4Writer::finish`] only; dropped unfinished (an error, Ctrl-C), the temp file is deleted
//!   and nothing appears under the final name. ffmpeg is handed the temp file as
//!   `/proc/self/fd/N`, so destinations whose names are not UTF-8 work too.
//!
//! Runs on the CPU; libx264 uses its own threads.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;
use video_rs::ffmpeg;
use video_rs::ffmpeg::{codec, encoder, format, frame, software::scaling, Dictionary, Packet, Rational};

use crate::error::{Error, Result};

/// A frame rate as a fraction, frames per second = `num / den`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub num: i32,
    pub den: i32,
}

impl Rate {
    /// The fraction a decoder's floating-point rate stands for: the NTSC rates (24000/1001,
    /// 30000/1001, 60000/1001...) and whole rates exactly, anything else to 1/1000 fps.
    /// None for a rate that is not a positive number (up to 1000 fps).
    pub(crate) fn from_fps(fps: f64) -> Option<Rate> {
        if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
            return None;
        }
        let whole = fps.round();
        if (fps - whole).abs() < 1e-3 {
            return Some(Rate { num: whole as i32, den: 1 });
        }
        let ntsc = (fps * 1.001).round();
        if (ntsc * 1000.0 / 1001.0 - fps).abs() < 1e-3 {
            return Some(Rate { num: ntsc as i32 * 1000, den: 1001 });
        }
        let milli = (fps * 1000.0).round() as i32;
        let g = gcd(milli, 1000);
        Some(Rate { num: milli / g, den: 1000 / g })
    }

    pub fn fps(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

fn gcd(a: i32, b: i32) -> i32 {
    if b == 0 {
        a.abs().max(1)
    } else {
        gcd(b, a % b)
    }
}

/// Writes packed RGB8 frames as an H.264 MP4 (see the module doc).
pub struct Mp4Writer {
    dest: PathBuf,
    /// The temp file ffmpeg writes; deleted on drop unless persisted by `finish`.
    tmp: Option<NamedTempFile>,
    out: format::context::Output,
    encoder: encoder::Video,
    scaler: scaling::Context,
    /// Reused frames: the packed RGB input (padded to the encoded size) and its YUV 4:2:0.
    rgb: frame::Video,
    yuv: frame::Video,
    width: u32,
    height: u32,
    encoder_tb: Rational,
    stream_tb: Rational,
    frames: u64,
}

impl Mp4Writer {
    /// Starts `dest` (its folder must exist) for `width` x `height` frames at `fps` frames a
    /// second (`Rate::from_fps`).
    pub fn new(dest: &Path, width: u32, height: u32, fps: f64) -> Result<Mp4Writer> {
        let rate = Rate::from_fps(fps)
            .ok_or_else(|| Error::Output(format!("{}: cannot write a video at {fps} frames per second", dest.display())))?;
        Self::with_rate(dest, width, height, rate)
    }

    /// [`Mp4Writer::new`] with the rate as an exact fraction.
    pub(crate) fn with_rate(dest: &Path, width: u32, height: u32, rate: Rate) -> Result<Mp4Writer> {
        crate::decode::init();
        let fail = |what: &str, e: &dyn std::fmt::Display| Error::Output(format!("cannot write {}: {what}: {e}", dest.display()));
        if width == 0 || height == 0 || width > 16384 || height > 16384 {
            return Err(fail("frame size", &format!("{width}x{height} is not a size H.264 can hold")));
        }
        if rate.num <= 0 || rate.den <= 0 {
            return Err(fail("frame rate", &format!("{}/{}", rate.num, rate.den)));
        }
        let dir = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        // Readable as File::create makes files (the umask decides): a web server or another
        // user may serve the video; tempfile's default is owner-only.
        let tmp = tempfile::Builder::new()
            .prefix(".prelabel-")
            .suffix(".mp4.partial")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(|e| fail("temp file", &e))?;
        let ff_path = PathBuf::from(format!("/proc/self/fd/{}", tmp.as_file().as_raw_fd()));
        let mut out = format::output_as(&ff_path, "mp4").map_err(|e| fail("mp4 muxer", &e))?;

        let codec = encoder::find_by_name("libx264")
            .or_else(|| encoder::find(codec::Id::H264))
            .ok_or_else(|| fail("H.264", &"this ffmpeg has no H.264 encoder (Debian's libavcodec has libx264)"))?;
        let (enc_w, enc_h) = (width.next_multiple_of(2), height.next_multiple_of(2));
        // Time base = one frame period: frame n has pts n, exactly n / rate seconds.
        let encoder_tb = Rational(rate.den, rate.num);
        let global_header = out.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let mut enc = codec::context::Context::new_with_codec(codec).encoder().video().map_err(|e| fail("H.264 encoder", &e))?;
        enc.set_width(enc_w);
        enc.set_height(enc_h);
        enc.set_format(format::Pixel::YUV420P);
        enc.set_time_base(encoder_tb);
        enc.set_frame_rate(Some(Rational(rate.num, rate.den)));
        // A keyframe every ~2 s: seeking in a player or an annotation tool stays quick.
        enc.set_gop((rate.fps() * 2.0).round().clamp(1.0, 600.0) as u32);
        if global_header {
            enc.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut opts = Dictionary::new();
        // veryfast: the preview must not cost more than labelling; crf 23 is x264's default quality.
        opts.set("preset", "veryfast");
        opts.set("crf", "23");
        let encoder = enc.open_with(opts).map_err(|e| fail("H.264 encoder", &e))?;
        {
            let mut stream = out.add_stream(codec).map_err(|e| fail("mp4 stream", &e))?;
            stream.set_parameters(&encoder);
            stream.set_time_base(encoder_tb);
            stream.set_avg_frame_rate(Rational(rate.num, rate.den));
            stream.set_rate(Rational(rate.num, rate.den));
        }
        let mut header = Dictionary::new();
        header.set("movflags", "+faststart");
        out.write_header_with(header).map_err(|e| fail("mp4 header", &e))?;
        // The muxer may choose its own time base (MP4: a multiple of the rate).
        let stream_tb = out.stream(0).map(|s| s.time_base()).unwrap_or(encoder_tb);
        let scaler =
            scaling::Context::get(format::Pixel::RGB24, enc_w, enc_h, format::Pixel::YUV420P, enc_w, enc_h, scaling::Flags::BILINEAR)
                .map_err(|e| fail("colour conversion", &e))?;
        Ok(Mp4Writer {
            dest: dest.to_path_buf(),
            tmp: Some(tmp),
            out,
            encoder,
            scaler,
            rgb: frame::Video::new(format::Pixel::RGB24, enc_w, enc_h),
            yuv: frame::Video::empty(),
            width,
            height,
            encoder_tb,
            stream_tb,
            frames: 0,
        })
    }

    /// Frames pushed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Encodes the next frame: packed RGB8, `width * height * 3` bytes, rows top to bottom.
    pub fn push(&mut self, rgb: &[u8]) -> Result<()> {
        let (w, h) = (self.width as usize, self.height as usize);
        if rgb.len() != w * h * 3 {
            return Err(self.err(&format!("frame {} has {} bytes, a {w}x{h} RGB frame has {}", self.frames, rgb.len(), w * h * 3)));
        }
        let (enc_w, enc_h) = (self.rgb.width() as usize, self.rgb.height() as usize);
        let stride = self.rgb.stride(0);
        let plane = self.rgb.data_mut(0);
        for y in 0..enc_h {
            // Rows past the source's last one repeat it (odd heights), as does the column.
            let src = &rgb[y.min(h - 1) * w * 3..][..w * 3];
            let dst = &mut plane[y * stride..][..enc_w * 3];
            dst[..w * 3].copy_from_slice(src);
            if enc_w > w {
                dst[w * 3..].copy_from_slice(&src[(w - 1) * 3..]);
            }
        }
        self.scaler.run(&self.rgb, &mut self.yuv).map_err(|e| self.err(&e))?;
        self.yuv.set_pts(Some(self.frames as i64));
        self.encoder.send_frame(&self.yuv).map_err(|e| self.err(&e))?;
        self.frames += 1;
        self.drain()
    }

    /// Flushes the encoder, writes the MP4 index and renames the file into place; returns its
    /// path.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.encoder.send_eof().map_err(|e| self.err(&e))?;
        self.drain()?;
        self.out.write_trailer().map_err(|e| self.err(&e))?;
        let tmp = self.tmp.take().expect("finish runs once");
        tmp.as_file().sync_all().map_err(|e| self.err(&e))?;
        tmp.persist(&self.dest).map_err(|e| self.err(&e.error))?;
        Ok(self.dest.clone())
    }

    /// Writes every packet the encoder has ready.
    fn drain(&mut self) -> Result<()> {
        let mut packet = Packet::empty();
        loop {
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => {
                    packet.set_stream(0);
                    packet.set_position(-1);
                    packet.rescale_ts(self.encoder_tb, self.stream_tb);
                    packet.write_interleaved(&mut self.out).map_err(|e| self.err(&e))?;
                }
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => return Ok(()),
                Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(e) => return Err(self.err(&e)),
            }
        }
    }

    fn err(&self, e: &dyn std::fmt::Display) -> Error {
        Error::Output(format!("cannot write {}: {e}", self.dest.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_as_the_fractions_they_stand_for() {
        assert_eq!(Rate::from_fps(25.0), Some(Rate { num: 25, den: 1 }));
        assert_eq!(Rate::from_fps(29.97003), Some(Rate { num: 30000, den: 1001 }));
        assert_eq!(Rate::from_fps(23.976), Some(Rate { num: 24000, den: 1001 }));
        assert_eq!(Rate::from_fps(59.94006), Some(Rate { num: 60000, den: 1001 }));
        assert_eq!(Rate::from_fps(12.5), Some(Rate { num: 25, den: 2 }));
        assert_eq!(Rate::from_fps(0.0), None);
        assert_eq!(Rate::from_fps(f64::NAN), None);
    }

    #[test]
    fn nothing_under_the_final_name_until_finish() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.mp4");
        let mut w = Mp4Writer::new(&dest, 33, 17, 10.0).unwrap();
        for i in 0..5u8 {
            w.push(&vec![i * 40; 33 * 17 * 3]).unwrap();
        }
        assert!(w.push(&[0; 10]).is_err(), "a frame of the wrong size is refused");
        assert!(!dest.exists());
        assert_eq!(w.frames(), 5);
        let done = w.finish().unwrap();
        assert_eq!(done, dest);
        assert!(std::fs::metadata(&dest).unwrap().len() > 100);
        // Only the finished file is left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Dropped unfinished: no file, no leftovers.
        let other = dir.path().join("b.mp4");
        let mut w = Mp4Writer::new(&other, 32, 16, 25.0).unwrap();
        w.push(&vec![0; 32 * 16 * 3]).unwrap();
        drop(w);
        assert!(!other.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
