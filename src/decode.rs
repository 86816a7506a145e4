//! Stage 1, decode: takes a video file, gives [`Frame`]s one at a time at their original
//! size: packed RGB8 (converted by swscale), or with [`PixelOutput::Yuv420`] the decoder's
//! own YUV 4:2:0 planes, leaving colour conversion to the GPU preprocess shader.
//! Runs on the CPU through ffmpeg (video-rs, and ffmpeg-next directly for YUV, since
//! video-rs always converts to RGB24); never holds more than the current frame.
//!
//! A corrupt packet in the middle of a stream is skipped and counted, because one bad packet
//! should not cost a user the labels of an hour of video. A stream that ends well before the
//! frame count its container announced is reported as truncated by the pipeline.

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

enum Source {
    Rgb(Decoder),
    Yuv(YuvDecoder),
}

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
            fps: decoder.frame_rate(),
            frames_hint: decoder.frames().unwrap_or(0),
        };
        // The RGB decoder above also vetted the file and read its header; for YUV a second,
        // scaler-free decoder does the work (opening twice costs a header read, not frames).
        let decoder = match output {
            PixelOutput::Rgb8 => Source::Rgb(decoder),
            PixelOutput::Yuv420 => Source::Yuv(YuvDecoder::open(&ff_path).map_err(|e| Error::video(path, e))?),
        };
        drop(held);
        Ok(VideoReader { decoder, info, next_index: 0, skipped_errors: 0 })
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
                Source::Yuv(d) => d.decode_raw(),
            };
            match decoded {
                Ok(raw) => {
                    let frame = match self.decoder {
                        Source::Rgb(_) => self.copy_frame(&raw)?,
                        Source::Yuv(_) => self.copy_planes(&raw)?,
                    };
                    self.next_index += 1;
                    return Ok(Some(frame));
                }
                Err(VideoError::DecodeExhausted | VideoError::ReadExhausted) => return Ok(None),
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
            return Err(Error::video(&self.info.path, format!("decoder gave pixel format {:?} mid-stream, expected yuv420p", raw.format())));
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

impl YuvDecoder {
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
