//! Stage 1, decode: takes a video file, gives [`Frame`]s one at a time at their original
//! size: packed RGB8 (converted by swscale), or with [`PixelOutput::Yuv420`] the decoder's
//! own YUV 4:2:0 planes, leaving colour conversion to the GPU preprocess shader.
//! Runs on the CPU through ffmpeg (video-rs, and ffmpeg-next directly for YUV, since
//! video-rs always converts to RGB24); never holds more than the current frame.
//!
//! With [`HwDecode::Cuda`] a video is decoded on the GPU by NVDEC (`nvdec.rs`) when the node
//! has one and the codec allows it, its frames copied down as NV12 and handed out in the same
//! two forms; otherwise, per video, on the CPU, and [`VideoReader::decoder`] says why.
//!
//! A corrupt packet in the middle of a stream is skipped and counted, because one bad packet
//! should not cost a user the labels of an hour of video. A stream that ends well before the
//! frame count its container announced is reported as truncated by the pipeline.

mod nvdec;

use std::path::Path;

use video_rs::ffmpeg;
use video_rs::{Decoder, Error as VideoError};

use crate::error::{Error, Result};
use crate::types::{Frame, VideoInfo, Yuv420};

/// Consecutive decode errors after which a stream is given up as unreadable.
const MAX_CONSECUTIVE_ERRORS: u32 = 50;

/// Initialises ffmpeg once per process (safe to call again).
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Only fails when ffmpeg cannot register its codecs at all; opening files reports that.
        let _ = video_rs::init();
    });
}

/// Whether this process can decode on NVDEC: `Err` says why not (no driver, no device, an
/// ffmpeg without CUDA). Makes the process's CUDA device on first use.
pub(crate) fn cuda_available() -> std::result::Result<(), String> {
    init();
    nvdec::device().map(|_| ())
}

/// What pixels [`VideoReader`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelOutput {
    /// Packed RGB8, converted on the CPU by swscale.
    #[default]
    Rgb8,
    /// The decoder's YUV 4:2:0 planes, copied without conversion. Only for videos decoded
    /// to 8-bit `yuv420p` (almost all H.264/HEVC/MPEG-4); others are refused at open.
    Yuv420,
}

/// Whether to try the GPU's hardware decoder first (`--decode-device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HwDecode {
    /// NVDEC when the node has a CUDA device and the codec allows it, else the CPU with the reason.
    Cuda,
    /// The CPU; the reason is recorded as given (e.g. "--decode-device cpu").
    Off(&'static str),
}

/// Which decoder a video got, and why not the GPU's (for `report.json`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecoderUsed {
    /// "cpu" or "cuda" (NVDEC).
    pub kind: &'static str,
    /// Why the CPU decodes it, when that was not what was asked.
    pub reason: Option<String>,
}

enum Source {
    Rgb(Decoder),
    Yuv(YuvDecoder),
    /// NVDEC; frames come down as NV12 (or in software formats when NVDEC turned the stream
    /// down) and are converted for `PixelOutput` on the CPU.
    Cuda(YuvDecoder, PixelOutput, Option<Scaler>),
}

/// swscale to RGB24 from the pixel format it was made for.
struct Scaler(ffmpeg::software::scaling::Context, ffmpeg::format::Pixel);

// SAFETY: the scaler is owned by one reader and used by one thread at a time (a reader moves
// to its decode thread whole), as video-rs does with its own.
unsafe impl Send for Scaler {}

/// Demuxing by video-rs, decoding by ffmpeg-next without a scaler.
struct YuvDecoder {
    reader: video_rs::Reader,
    stream: usize,
    decoder: ffmpeg::decoder::Video,
    draining: bool,
}

pub struct VideoReader {
    decoder: Source,
    info: VideoInfo,
    /// The file as ffmpeg opens it, to start over on the CPU when NVDEC fails on the first frame.
    ff_path: std::path::PathBuf,
    output: PixelOutput,
    used: DecoderUsed,
    next_index: u64,
    /// Decode errors skipped so far.
    pub skipped_errors: u32,
}

impl VideoReader {
    /// Opens `path` and reads its stream header; fails with one clear line when the file is
    /// missing, empty, or not a video ffmpeg can decode.
    pub fn open(path: &Path) -> Result<VideoReader> {
        Self::open_as(path, PixelOutput::Rgb8)
    }

    /// [`VideoReader::open`], handing out frames as `output` says.
    pub fn open_as(path: &Path, output: PixelOutput) -> Result<VideoReader> {
        Self::open_with(path, output, HwDecode::Off("CPU decoding asked for"))
    }

    /// [`VideoReader::open_as`], on NVDEC first when `hw` says so.
    pub(crate) fn open_with(path: &Path, output: PixelOutput, hw: HwDecode) -> Result<VideoReader> {
        init();
        let meta = std::fs::metadata(path).map_err(|e| Error::video(path, format!("cannot read: {e}")))?;
        if !meta.is_file() {
            return Err(Error::video(path, "not a file"));
        }
        if meta.len() == 0 {
            return Err(Error::video(path, "file is empty"));
        }
        // ffmpeg-next takes paths as UTF-8 (and panics on others): such a file is opened here
        // and ffmpeg reads it through /proc/self/fd (it opens its own descriptor there).
        let held = match path.to_str() {
            Some(_) => None,
            None => Some(std::fs::File::open(path).map_err(|e| Error::video(path, format!("cannot read: {e}")))?),
        };
        let ff_path = match &held {
            Some(f) => std::path::PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(f))),
            None => path.to_path_buf(),
        };
        let decoder = Decoder::new(ff_path.as_path()).map_err(|e| Error::video(path, describe_open_error(&e)))?;
        let (width, height) = decoder.size();
        if width == 0 || height == 0 {
            return Err(Error::video(path, "no decodable video stream"));
        }
        let info = VideoInfo {
            path: path.to_path_buf(),
            name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            width,
            height,
            fps: VideoInfo::usable_fps(decoder.frame_rate()),
            frames_hint: decoder.frames().unwrap_or(0),
        };
        // The RGB decoder above also vetted the file and read its header; for YUV or NVDEC a
        // second, scaler-free decoder does the work (opening twice costs a header read).
        let (decoder, used) = match hw {
            HwDecode::Cuda => match YuvDecoder::open_cuda(&ff_path) {
                Ok(d) => (Source::Cuda(d, output, None), DecoderUsed { kind: "cuda", reason: None }),
                Err(why) => {
                    tracing::debug!("{}: decoding on the CPU: {why}", info.name);
                    (
                        Self::cpu_source(decoder, &ff_path, output).map_err(|e| Error::video(path, e))?,
                        DecoderUsed { kind: "cpu", reason: Some(why) },
                    )
                }
            },
            HwDecode::Off(why) => {
                let source = Self::cpu_source(decoder, &ff_path, output).map_err(|e| Error::video(path, e))?;
                (source, DecoderUsed { kind: "cpu", reason: Some(why.to_string()) })
            }
        };
        drop(held);
        Ok(VideoReader { decoder, info, ff_path, output, used, next_index: 0, skipped_errors: 0 })
    }

    fn cpu_source(rgb: Decoder, ff_path: &Path, output: PixelOutput) -> std::result::Result<Source, String> {
        Ok(match output {
            PixelOutput::Rgb8 => Source::Rgb(rgb),
            PixelOutput::Yuv420 => Source::Yuv(YuvDecoder::open(ff_path)?),
        })
    }

    /// Which decoder this video got, and why not NVDEC. Settled by the first frame: a stream
    /// NVDEC turns down is decoded in software from there on.
    pub fn decoder(&self) -> &DecoderUsed {
        &self.used
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The next frame, or `None` at the end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        let mut consecutive = 0;
        loop {
            let decoded = match &mut self.decoder {
                Source::Rgb(d) => d.decode_raw(),
                Source::Yuv(d) | Source::Cuda(d, ..) => d.decode_raw(),
            };
            match decoded {
                Ok(raw) => {
                    let frame = match &mut self.decoder {
                        Source::Rgb(_) => self.copy_frame(&raw)?,
                        Source::Yuv(_) => self.copy_planes(&raw)?,
                        Source::Cuda(..) => self.convert_cuda(raw)?,
                    };
                    self.next_index += 1;
                    return Ok(Some(frame));
                }
                Err(VideoError::DecodeExhausted | VideoError::ReadExhausted) => return Ok(None),
                Err(e) if self.next_index == 0 && matches!(self.decoder, Source::Cuda(..)) => self.restart_on_cpu(&e)?,
                Err(e) => {
                    consecutive += 1;
                    self.skipped_errors += 1;
                    tracing::warn!(video = %self.info.name, frame = self.next_index, "skipping undecodable data: {e}");
                    if consecutive >= MAX_CONSECUTIVE_ERRORS {
                        return Err(Error::video(
                            &self.info.path,
                            format!("gave up after {consecutive} decode errors in a row at frame {}: {e}", self.next_index),
                        ));
                    }
                }
            }
        }
    }

    /// NVDEC failed before its first frame (a codec or profile the chip lacks, with no
    /// software fallback inside ffmpeg): start the video over on the CPU.
    fn restart_on_cpu(&mut self, e: &VideoError) -> Result<()> {
        let why = format!("NVDEC could not decode this stream ({e})");
        tracing::debug!("{}: decoding on the CPU: {why}", self.info.name);
        let rgb = Decoder::new(self.ff_path.as_path()).map_err(|e| Error::video(&self.info.path, describe_open_error(&e)))?;
        self.decoder = Self::cpu_source(rgb, &self.ff_path, self.output).map_err(|e| Error::video(&self.info.path, e))?;
        self.used = DecoderUsed { kind: "cpu", reason: Some(why) };
        Ok(())
    }

    /// A frame from NVDEC: copied down from the GPU (NV12), then to planes or RGB.
    fn convert_cuda(&mut self, raw: video_rs::frame::RawFrame) -> Result<Frame> {
        let fail = |e: String| Error::video(&self.info.path, e);
        let (raw, on_gpu) = nvdec::download(raw).map_err(|e| fail(format!("cannot copy a frame from the GPU: {e}")))?;
        if self.next_index == 0 && !on_gpu {
            self.used = DecoderUsed { kind: "cpu", reason: Some("NVDEC turned this stream down; ffmpeg decoded it in software".into()) };
        }
        let Source::Cuda(_, output, scaler) = &mut self.decoder else { unreachable!("called for NVDEC frames only") };
        let format = raw.format();
        match (*output, format) {
            (PixelOutput::Yuv420, ffmpeg::format::Pixel::NV12) => Ok(nv12_frame(&raw, self.next_index)),
            (PixelOutput::Yuv420, _) => self.copy_planes(&raw),
            (PixelOutput::Rgb8, _) => {
                let (w, h) = (raw.width(), raw.height());
                if scaler.as_ref().is_none_or(|s| s.1 != format) {
                    let flags = ffmpeg::software::scaling::Flags::AREA;
                    let ctx = ffmpeg::software::scaling::Context::get(format, w, h, ffmpeg::format::Pixel::RGB24, w, h, flags)
                        .map_err(|e| fail(format!("no conversion from {format:?} to RGB: {e}")))?;
                    *scaler = Some(Scaler(ctx, format));
                }
                let mut rgb = video_rs::frame::RawFrame::empty();
                scaler.as_mut().expect("made above").0.run(&raw, &mut rgb).map_err(|e| fail(e.to_string()))?;
                self.copy_frame(&rgb)
            }
        }
    }

    /// Copies the decoder's RGB24 frame (rows may be padded) into a tightly packed [`Frame`].
    fn copy_frame(&mut self, raw: &video_rs::frame::RawFrame) -> Result<Frame> {
        let (w, h) = (raw.width() as usize, raw.height() as usize);
        if raw.format() != video_rs::ffmpeg::format::Pixel::RGB24 {
            return Err(Error::video(&self.info.path, format!("decoder gave pixel format {:?}, expected RGB24", raw.format())));
        }
        let stride = raw.stride(0);
        let data = raw.data(0);
        let row = w * 3;
        let mut rgb = Vec::with_capacity(row * h);
        for y in 0..h {
            rgb.extend_from_slice(&data[y * stride..y * stride + row]);
        }
        Ok(Frame::from_rgb(self.next_index, w as u32, h as u32, rgb))
    }

    /// Copies the decoder's YUV420P planes (rows may be padded) into tightly packed ones.
    fn copy_planes(&self, raw: &video_rs::frame::RawFrame) -> Result<Frame> {
        if raw.format() != ffmpeg::format::Pixel::YUV420P {
            return Err(Error::video(
                &self.info.path,
                format!("decoder gave pixel format {:?} mid-stream, expected yuv420p", raw.format()),
            ));
        }
        let (w, h) = (raw.width() as usize, raw.height() as usize);
        let plane = |i: usize, pw: usize, ph: usize| {
            let (stride, data) = (raw.stride(i), raw.data(i));
            let mut out = Vec::with_capacity(pw * ph);
            (0..ph).for_each(|y| out.extend_from_slice(&data[y * stride..][..pw]));
            out
        };
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let yuv = Yuv420 { y: plane(0, w, h), u: plane(1, cw, ch), v: plane(2, cw, ch) };
        Ok(Frame { index: self.next_index, width: w as u32, height: h as u32, rgb: Vec::new(), yuv: Some(yuv) })
    }
}

/// NV12 (a Y plane, then U and V interleaved; rows may be padded) into the tightly packed
/// planar 4:2:0 [`Yuv420`] the shader reads.
fn nv12_frame(raw: &video_rs::frame::RawFrame, index: u64) -> Frame {
    let (w, h) = (raw.width() as usize, raw.height() as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (ys, yd) = (raw.stride(0), raw.data(0));
    let mut y = Vec::with_capacity(w * h);
    (0..h).for_each(|r| y.extend_from_slice(&yd[r * ys..][..w]));
    let (uvs, uvd) = (raw.stride(1), raw.data(1));
    let (mut u, mut v) = (Vec::with_capacity(cw * ch), Vec::with_capacity(cw * ch));
    for r in 0..ch {
        for pair in uvd[r * uvs..][..2 * cw].chunks_exact(2) {
            u.push(pair[0]);
            v.push(pair[1]);
        }
    }
    Frame { index, width: w as u32, height: h as u32, rgb: Vec::new(), yuv: Some(Yuv420 { y, u, v }) }
}

impl YuvDecoder {
    /// The stream's decoder on NVDEC ([`nvdec::open`]); `Err`: why not. Only 8-bit 4:2:0
    /// video, the format NVDEC copies down as NV12.
    fn open_cuda(path: &Path) -> std::result::Result<YuvDecoder, String> {
        let reader = video_rs::Reader::new(path).map_err(|e| describe_open_error(&e))?;
        let stream = reader.best_video_stream_index().map_err(|e| describe_open_error(&e))?;
        let params = reader.input.stream(stream).ok_or("no video stream")?.parameters();
        let ctx = ffmpeg::codec::Context::from_parameters(params.clone()).map_err(|e| e.to_string())?;
        // SAFETY: reads the pixel format the stream's parameters declare.
        let format = ffmpeg::format::Pixel::from(unsafe { (*ctx.as_ptr()).pix_fmt });
        if format != ffmpeg::format::Pixel::YUV420P {
            return Err(format!("the NVDEC path takes 8-bit yuv420p video, this one is {format:?}"));
        }
        let decoder = nvdec::open(params)?;
        Ok(YuvDecoder { reader, stream, decoder, draining: false })
    }

    fn open(path: &Path) -> std::result::Result<YuvDecoder, String> {
        let reader = video_rs::Reader::new(path).map_err(|e| describe_open_error(&e))?;
        let stream = reader.best_video_stream_index().map_err(|e| describe_open_error(&e))?;
        let params = reader.input.stream(stream).ok_or("no video stream")?.parameters();
        let ctx = ffmpeg::codec::Context::from_parameters(params).map_err(|e| e.to_string())?;
        let decoder = ctx.decoder().video().map_err(|e| format!("unsupported codec ({e})"))?;
        if decoder.format() != ffmpeg::format::Pixel::YUV420P {
            return Err(format!("YUV output needs 8-bit yuv420p video, this one decodes to {:?}; use RGB output", decoder.format()));
        }
        Ok(YuvDecoder { reader, stream, decoder, draining: false })
    }

    /// The next decoded frame; ends with `ReadExhausted` like video-rs' `decode_raw`, and
    /// like it can be called again after an error (the bad packet is skipped).
    fn decode_raw(&mut self) -> std::result::Result<video_rs::frame::RawFrame, VideoError> {
        loop {
            let mut frame = video_rs::frame::RawFrame::empty();
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => return Ok(frame),
                Err(ffmpeg::Error::Eof) => return Err(VideoError::ReadExhausted),
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {}
                Err(e) => return Err(VideoError::BackendError(e)),
            }
            if self.draining {
                return Err(VideoError::ReadExhausted);
            }
            match self.reader.read(self.stream) {
                Ok(packet) => self.decoder.send_packet(&packet.into_inner()).map_err(VideoError::BackendError)?,
                Err(VideoError::ReadExhausted) => {
                    self.draining = true;
                    self.decoder.send_eof().map_err(VideoError::BackendError)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// ffmpeg's messages are terse ("Invalid data found when processing input"); say what it means.
fn describe_open_error(e: &VideoError) -> String {
    let msg = e.to_string();
    if msg.contains("Invalid data") {
        format!("not a video file ffmpeg can read, or its header is damaged ({msg})")
    } else if msg.contains("Decoder not found") || msg.contains("codec") {
        format!("unsupported codec ({msg})")
    } else if msg.contains("stream") {
        format!("no video stream ({msg})")
    } else {
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/vtest.avi")
    }

    /// Without a GPU, asking for NVDEC gives the CPU decoder and says why.
    #[test]
    fn nvdec_falls_back_to_the_cpu_with_a_reason() {
        let mut r = VideoReader::open_with(&sample(), PixelOutput::Yuv420, HwDecode::Cuda).unwrap();
        if r.decoder().kind == "cuda" {
            return; // a GPU node: the fallback is not what happens here
        }
        let why = r.decoder().reason.clone().unwrap();
        assert!(why.contains("CUDA") || why.contains("NVDEC"), "{why}");
        assert!(r.next_frame().unwrap().is_some());
        let off = VideoReader::open_with(&sample(), PixelOutput::Rgb8, HwDecode::Off("--decode-device cpu")).unwrap();
        assert_eq!(off.decoder(), &DecoderUsed { kind: "cpu", reason: Some("--decode-device cpu".into()) });
    }

    /// The NVDEC source's conversions, fed the software frames ffmpeg gives when NVDEC turns
    /// a stream down, hand out exactly what the CPU sources do, and the reason is recorded.
    #[test]
    fn nvdec_source_with_software_frames_matches_the_cpu_path() {
        for output in [PixelOutput::Yuv420, PixelOutput::Rgb8] {
            let mut cpu = VideoReader::open_as(&sample(), output).unwrap();
            let mut hw = VideoReader::open_as(&sample(), PixelOutput::Yuv420).unwrap();
            let Source::Yuv(d) = std::mem::replace(&mut hw.decoder, Source::Yuv(YuvDecoder::open(&sample()).unwrap())) else {
                unreachable!()
            };
            hw.decoder = Source::Cuda(d, output, None);
            hw.used = DecoderUsed { kind: "cuda", reason: None };
            for _ in 0..3 {
                let (a, b) = (cpu.next_frame().unwrap().unwrap(), hw.next_frame().unwrap().unwrap());
                assert_eq!((a.index, a.width, a.height), (b.index, b.width, b.height));
                assert_eq!(a.rgb, b.rgb, "{output:?}");
                assert_eq!(a.yuv.map(|y| (y.y, y.u, y.v)), b.yuv.map(|y| (y.y, y.u, y.v)), "{output:?}");
            }
            assert_eq!(hw.decoder().kind, "cpu");
            assert!(hw.decoder().reason.as_deref().unwrap().contains("turned this stream down"));
        }
    }

    /// NV12 as NVDEC copies it down (U and V interleaved) becomes the same planes as yuv420p.
    #[test]
    fn nv12_deinterleaves_into_the_yuv_planes() {
        let mut r = VideoReader::open_as(&sample(), PixelOutput::Yuv420).unwrap();
        let Source::Yuv(d) = &mut r.decoder else { unreachable!() };
        let raw = d.decode_raw().unwrap();
        let (w, h) = (raw.width(), raw.height());
        let mut to_nv12 = ffmpeg::software::scaling::Context::get(
            raw.format(),
            w,
            h,
            ffmpeg::format::Pixel::NV12,
            w,
            h,
            ffmpeg::software::scaling::Flags::POINT,
        )
        .unwrap();
        let mut nv12 = video_rs::frame::RawFrame::empty();
        to_nv12.run(&raw, &mut nv12).unwrap();
        let want = r.copy_planes(&raw).unwrap().yuv.unwrap();
        let got = nv12_frame(&nv12, 0).yuv.unwrap();
        assert_eq!((got.y.len(), got.u.len()), (want.y.len(), want.u.len()));
        assert!(got.y == want.y && got.u == want.u && got.v == want.v);
    }
}
