//! Stage 1, decode: takes a video file, gives [`Frame`]s one at a time (RGB8, original size).
//! Runs on the CPU through ffmpeg (video-rs); never holds more than the current frame.
//!
//! A corrupt packet in the middle of a stream is skipped and counted, because one bad packet
//! should not cost a user the labels of an hour of video. A stream that ends well before the
//! frame count its container announced is reported as truncated by the pipeline.

use std::path::Path;

use video_rs::{Decoder, Error as VideoError};

use crate::error::{Error, Result};
use crate::types::{Frame, VideoInfo};

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

pub struct VideoReader {
    decoder: Decoder,
    info: VideoInfo,
    next_index: u64,
    /// Decode errors skipped so far.
    pub skipped_errors: u32,
}

impl VideoReader {
    /// Opens `path` and reads its stream header; fails with one clear line when the file is
    /// missing, empty, or not a video ffmpeg can decode.
    pub fn open(path: &Path) -> Result<VideoReader> {
        init();
        let meta = std::fs::metadata(path).map_err(|e| Error::video(path, format!("cannot read: {e}")))?;
        if !meta.is_file() {
            return Err(Error::video(path, "not a file"));
        }
        if meta.len() == 0 {
            return Err(Error::video(path, "file is empty"));
        }
        let decoder = Decoder::new(path).map_err(|e| Error::video(path, describe_open_error(&e)))?;
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
        Ok(VideoReader { decoder, info, next_index: 0, skipped_errors: 0 })
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The next frame, or `None` at the end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        let mut consecutive = 0;
        loop {
            match self.decoder.decode_raw() {
                Ok(raw) => {
                    let frame = self.copy_frame(&raw)?;
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
        let frame = Frame { index: self.next_index, width: w as u32, height: h as u32, rgb };
        self.next_index += 1;
        Ok(frame)
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
