//! Stage 9, render (`--preview`): takes a video's final labels ([`Routed`]: the tracks export
//! wrote, each with its review band, and the review queue) and the video file, gives what
//! people look at before they read: `preview.mp4`, the video with every box drawn, and
//! `review.png`, a contact sheet of the tracks to review ([`sheet`]). Runs on the CPU after
//! export, once per video; it changes no label.
//!
//! The frames are decoded a second time, after export, rather than kept from the labelling
//! pass: the tracks are only final once refine and route have seen the whole video, and
//! holding every frame until then would cost memory in proportion to the video's length
//! (an hour of 1080p is hundreds of GB). A second decode costs about what the first did and
//! keeps memory flat: one frame at a time, plus the sheet's small thumbnails.
//!
//! In `preview.mp4` ([`encode::Mp4Writer`]: H.264 MP4, one frame per decoded frame, the
//! video's size and frame rate):
//! - each box in its track's band colour: green accepted, orange to review;
//! - its stroke by where it came from: solid for detected, dashed for predicted through a
//!   miss, a thin line for interpolated between detector frames (`--stride`);
//! - a tag `#id label` on each box, as the label files name the track;
//! - `frame N / TOTAL` in the top-left corner, N counted from 0 as in CVAT and `review.json`.
//!
//! [`web`] (`--web-video`) writes the plain copy of the video that browsers play, beside the
//! labels that name it, with the same writer; with `--preview` too, from the preview's decode.

pub mod draw;
pub mod encode;
pub mod sheet;
pub mod web;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use image::RgbImage;

pub use encode::{Mp4Writer, Rate};

use crate::decode::VideoReader;
use crate::error::{Error, Result};
use crate::files::AtomicFile;
use crate::labels::LabelSet;
use crate::route::Routed;
use crate::types::Track;
use draw::{band_colour, Painter, Stroke};
use sheet::SheetBuilder;

/// The annotated video, in the video's output folder.
pub(crate) const PREVIEW_FILE: &str = "preview.mp4";
/// The contact sheet of the review queue, beside it.
pub(crate) const SHEET_FILE: &str = "review.png";

/// Whether both files of a finished render are in `dir` (they only appear whole).
pub(crate) fn outputs_exist(dir: &Path) -> bool {
    dir.join(PREVIEW_FILE).is_file() && dir.join(SHEET_FILE).is_file()
}

/// Writes `preview.mp4` and `review.png` of `video` into `dir` from its routed labels;
/// `labels` names the classes as export wrote them. Returns the two paths. `cancel` stops
/// it between frames, leaving neither file behind. `web`, when given, gets every decoded
/// frame as it is (the `--web-video` copy, from the same decode).
pub fn render(
    video: &Path,
    routed: &Routed,
    labels: &LabelSet,
    dir: &Path,
    cancel: &AtomicBool,
    mut web: Option<&mut web::WebEncoder>,
) -> Result<Vec<PathBuf>> {
    let mut reader = VideoReader::open(video)?;
    let info = reader.info().clone();
    let total = routed.labels.frames;
    let mut writer = Mp4Writer::new(&dir.join(PREVIEW_FILE), info.width, info.height, info.fps as f64)?;
    let mut sheet = SheetBuilder::new(&info.name, &routed.review.queue, &routed.labels.tracks);
    let painter = Painter::for_frame(info.height);
    let mut live = Live::new(&routed.labels.tracks, labels);
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            // The labelling pass stopped at the same place: the preview covers what it labelled.
            Err(e) => {
                tracing::debug!("{}: preview stops at frame {}: {e}", info.name, writer.frames());
                break;
            }
        };
        let index = frame.index;
        if let Some(web) = web.as_mut() {
            web.push(&frame.rgb)?;
        }
        let Some(mut img) = RgbImage::from_raw(frame.width, frame.height, frame.rgb) else {
            return Err(Error::video(video, format!("frame {index} has the wrong number of bytes for {}x{}", frame.width, frame.height)));
        };
        sheet.offer(index, &img);
        live.advance(index);
        for &i in &live.active {
            let (track, tag) = &live.tracks[i];
            let b = &track.boxes[(index - track.first_frame()) as usize];
            painter.labelled_box(&mut img, &b.bbox, Stroke::of(b.source, info.height), band_colour(track.band), tag);
        }
        painter.frame_number(&mut img, index, total);
        writer.push(img.as_raw())?;
    }
    if writer.frames() == 0 {
        return Err(Error::video(video, "no frames could be decoded for the preview"));
    }
    let mp4 = writer.finish()?;
    let png = write_png(&sheet.finish(), &dir.join(SHEET_FILE))?;
    Ok(vec![mp4, png])
}

fn write_png(img: &RgbImage, dest: &Path) -> Result<PathBuf> {
    let mut f = AtomicFile::create(dest.to_path_buf())?;
    let encoder = image::codecs::png::PngEncoder::new(&mut f);
    image::ImageEncoder::write_image(encoder, img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::Output(format!("cannot write {}: {e}", dest.display())))?;
    f.commit()
}

/// The tracks on screen at each frame, found without scanning every track every frame (a
/// long video can have thousands): tracks start in order of their first frame and are
/// dropped once past their last.
struct Live<'a> {
    /// (track, its tag `#id label`), by first frame.
    tracks: Vec<(&'a Track, String)>,
    next: usize,
    /// Indices into `tracks` of those with a box at the current frame.
    active: Vec<usize>,
}

impl<'a> Live<'a> {
    fn new(tracks: &'a [Track], labels: &LabelSet) -> Live<'a> {
        let mut tagged: Vec<(&Track, String)> = tracks
            .iter()
            .filter(|t| !t.boxes.is_empty())
            .map(|t| {
                let name = labels.of_class(t.class).map_or_else(|| format!("class {}", t.class), |(_, l)| l.name.clone());
                (t, format!("#{} {name}", t.id))
            })
            .collect();
        tagged.sort_by_key(|(t, _)| (t.first_frame(), t.id));
        Live { tracks: tagged, next: 0, active: Vec::new() }
    }

    /// Moves to frame `index`; frames must come in increasing order.
    fn advance(&mut self, index: u64) {
        self.active.retain(|&i| self.tracks[i].0.last_frame() >= index);
        while self.next < self.tracks.len() && self.tracks[self.next].0.first_frame() <= index {
            if self.tracks[self.next].0.last_frame() >= index {
                self.active.push(self.next);
            }
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(id: u64, first: u64, len: u64) -> Track {
        Track::detected_at(id, first..first + len)
    }

    #[test]
    fn live_tracks_are_those_with_a_box_at_the_frame() {
        let tracks = [track(1, 0, 3), track(2, 2, 2), track(3, 5, 1), track(4, 1, 10)];
        let spec = crate::model::ModelSpec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ssd_mobilenet_v2_coco.toml")).unwrap();
        let person = crate::labels::class_index(&spec, "person").unwrap();
        let tracks = tracks.map(|t| Track { class: person, ..t });
        let mut live = Live::new(&tracks, &LabelSet::all(&spec));
        for index in 0..12u64 {
            live.advance(index);
            let mut got: Vec<u64> = live.active.iter().map(|&i| live.tracks[i].0.id).collect();
            got.sort();
            let want: Vec<u64> = tracks.iter().filter(|t| t.first_frame() <= index && index <= t.last_frame()).map(|t| t.id).collect();
            assert_eq!(got, want, "frame {index}");
        }
        assert_eq!(live.tracks[0].1, "#1 person");
    }
}
