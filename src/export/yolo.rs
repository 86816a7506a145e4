//! YOLO, Darknet layout (`yolo/`), as CVAT "YOLO 1.1" exports it and datumaro's `yolo`
//! importer reads it:
//!
//! ```text
//! yolo/obj.data                     classes, train = data/train.txt, names = data/obj.names
//! yolo/obj.names                    one label per line; line n = class n
//! yolo/train.txt                    data/obj_train_data/frame_000000.jpg, one line per frame
//! yolo/images.meta                  frame_000000 <height> <width>: frame sizes, so importers
//!                                   need no images to turn normalised boxes into pixels
//! yolo/obj_train_data/frame_000000.txt   `class cx cy w h` normalised, one line per box
//! ```
//!
//! One txt per frame (empty when nothing is there), named from frame 0 ([`super::frames`]);
//! to train on them, extract the frames beside them:
//! `ffmpeg -i clip.mp4 -start_number 0 yolo/obj_train_data/frame_%06d.jpg`.
//! Scores and review flags have no place in YOLO. `--yolo-track-ids` appends the track id as
//! a sixth column (the MOT-style YOLO variant some trackers read; datumaro and CVAT reject it).

use super::frames::image_stem;
use super::sweep::FrameSweep;
use super::{ExportContext, Format, LabelFormat, Output};
use crate::error::Result;
use crate::types::VideoLabels;

pub struct Yolo;

impl LabelFormat for Yolo {
    fn write(&self, ctx: &ExportContext, labels: &VideoLabels, out: &mut Output) -> Result<()> {
        let dir = Format::Yolo.file_name();
        let set = &ctx.label_set;
        let video = &labels.video;
        let (w, h) = (video.width.max(1) as f64, video.height.max(1) as f64);

        out.file(&format!("{dir}/obj.names"), |f| set.labels().iter().try_for_each(|l| writeln!(f, "{}", l.name)))?;
        out.file(&format!("{dir}/obj.data"), |f| {
            write!(f, "classes = {}\ntrain = data/train.txt\nnames = data/obj.names\nbackup = backup/\n", set.labels().len())
        })?;
        out.file(&format!("{dir}/train.txt"), |f| {
            (0..labels.frames).try_for_each(|i| writeln!(f, "data/obj_train_data/{}.jpg", image_stem(i)))
        })?;
        out.file(&format!("{dir}/images.meta"), |f| {
            (0..labels.frames).try_for_each(|i| writeln!(f, "{} {} {}", image_stem(i), video.height, video.width))
        })?;
        // One file per frame, its lines in track order, written straight from the tracks
        // (only those alive at the frame are held: see `sweep`). Frames without boxes get an
        // empty file; boxes past the last frame have no file to go to.
        let kept: Vec<_> = labels.tracks.iter().filter(|t| set.of_class(t.class).is_some()).map(|t| (t, 0)).collect();
        let mut sweep = FrameSweep::new(kept);
        let (mut boxes, mut next) = (Vec::new(), None);
        for i in 0..labels.frames {
            while next.is_none_or(|f| f < i) {
                match sweep.next_frame(&mut boxes) {
                    Some(f) => next = Some(f),
                    None => {
                        boxes.clear();
                        next = Some(u64::MAX);
                    }
                }
            }
            let here: &[_] = if next == Some(i) { &boxes } else { &[] };
            out.file(&format!("{dir}/obj_train_data/{}.txt", image_stem(i)), |f| {
                for (t, b) in here {
                    let Some((class, _)) = set.of_class(t.class) else { continue };
                    let r = b.bbox.clamp(video.width as f32, video.height as f32);
                    let (cx, cy) = ((r.x1 + r.x2) as f64 / 2.0 / w, (r.y1 + r.y2) as f64 / 2.0 / h);
                    write!(f, "{class} {cx:.6} {cy:.6} {:.6} {:.6}", r.width() as f64 / w, r.height() as f64 / h)?;
                    if ctx.options.yolo_track_ids {
                        write!(f, " {}", t.id)?;
                    }
                    writeln!(f)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}
