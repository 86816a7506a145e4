//! COCO JSON with video and track fields, TAO style (`coco.json`). Plain COCO readers
//! (pycocotools, datumaro `coco_instances`, CVAT "COCO 1.0") see one image per frame and a box
//! per track per frame; video-aware readers also find `videos`, `tracks`, and on every image
//! `video_id` / `frame_index` (from 0, [`super::frames`]) and on every annotation `video_id` /
//! `track_id`. Image ids are frame index + 1, file names `frame_000000.jpg`. With
//! `--web-video` the video entry names the playable copy beside the file (`file_name`), with
//! `--video-url` also its URL (`url`).
//!
//! Each annotation keeps its `score`, `needs_review` (its track's band) and `source`
//! (detected / predicted / interpolated). The same facts are repeated in `attributes`, the
//! field CVAT and datumaro read (CVAT rebuilds tracks from `attributes.track_id`).
//! Category ids come from the [`crate::labels::LabelSet`].

use serde_json::json;

use super::frames::{image_stem, number};
use super::sweep::FrameSweep;
use super::{round2, ExportContext, Format, LabelFormat, Output};
use crate::error::Result;
use crate::types::{Track, TrackBox, VideoLabels};
use crate::units::round4;

pub struct Coco;

impl LabelFormat for Coco {
    fn write(&self, ctx: &ExportContext, labels: &VideoLabels, out: &mut Output) -> Result<()> {
        let set = &ctx.label_set;
        let video = &labels.video;
        let categories: Vec<_> = set.labels().iter().map(|l| json!({"id": l.id, "name": l.name, "supercategory": ""})).collect();
        let info = json!({
            "description": format!("prelabel draft labels for {}", video.name),
            "version": env!("CARGO_PKG_VERSION"),
            "model": ctx.model.name,
            "video": video.name,
            "fps": (video.fps as f64 * 1000.0).round() / 1000.0,
        });
        let mut videos = json!([{
            "id": 1,
            "name": video.name,
            "width": video.width,
            "height": video.height,
            "fps": (video.fps as f64 * 1000.0).round() / 1000.0,
            "frames": labels.frames,
        }]);
        // The playable copy beside the labels, and where it is served, when there is one.
        if ctx.options.web_video {
            videos[0]["file_name"] = json!(crate::files::WEB_VIDEO);
        }
        if ctx.options.video_url.is_some() {
            videos[0]["url"] = json!(ctx.video_ref()?);
        }
        // One small record per track; the boxes are written straight from the tracks, frame by
        // frame (no table of every box: see `sweep`).
        let mut tracks = Vec::with_capacity(labels.tracks.len());
        let mut kept = Vec::with_capacity(labels.tracks.len());
        for t in &labels.tracks {
            let Some((_, label)) = set.of_class(t.class) else { continue };
            tracks.push(
                json!({
                    "id": t.id,
                    "category_id": label.id,
                    "video_id": 1,
                    "first_frame_index": t.first_frame(),
                    "last_frame_index": t.last_frame(),
                    "score": round4(t.mean_score),
                    "min_score": round4(t.min_score),
                    "needs_review": t.needs_review(),
                })
                .to_string(),
            );
            kept.push((t, t.id));
        }
        let mut sweep = FrameSweep::new(kept);
        let mut boxes = Vec::new();

        out.file(Format::Coco.file_name(), |w| {
            write!(
                w,
                "{{\"info\":{info},\"licenses\":[],\"categories\":{},\"videos\":{videos},\"tracks\":[",
                serde_json::Value::from(categories)
            )?;
            for (i, t) in tracks.iter().enumerate() {
                write!(w, "{}\n{t}", if i == 0 { "" } else { "," })?;
            }
            write!(w, "\n],\"images\":[")?;
            for i in 0..labels.frames {
                let image = json!({
                    "id": i + 1,
                    "video_id": 1,
                    "frame_index": number(Format::Coco, i),
                    "file_name": format!("{}.jpg", image_stem(i)),
                    "width": video.width,
                    "height": video.height,
                });
                write!(w, "{}\n{image}", if i == 0 { "" } else { "," })?;
            }
            write!(w, "\n],\"annotations\":[")?;
            let mut n = 0usize;
            while sweep.next_frame(&mut boxes).is_some() {
                for (t, b) in &boxes {
                    n += 1;
                    let category_id = set.of_class(t.class).map_or(0, |(_, l)| l.id);
                    write!(w, "{}\n{}", if n == 1 { "" } else { "," }, annotation(n, t, b, category_id))?;
                }
            }
            writeln!(w, "\n]}}")
        })
    }
}

/// Annotation `id` (from 1): box `b` of track `t`.
fn annotation(id: usize, t: &Track, b: &TrackBox, category_id: u32) -> serde_json::Value {
    let (track_id, needs_review, r) = (t.id, t.needs_review(), b.bbox);
    json!({
        "id": id,
        "image_id": b.frame + 1,
        "video_id": 1,
        "track_id": track_id,
        "category_id": category_id,
        "bbox": [round2(r.x1), round2(r.y1), round2(r.width()), round2(r.height())],
        "area": round2(r.area()),
        "iscrowd": 0,
        "segmentation": [],
        "score": round4(b.score),
        "needs_review": needs_review,
        "source": b.source,
        "attributes": {
            "track_id": track_id,
            "keyframe": b.keyframe,
            "occluded": b.occluded,
            "needs_review": needs_review,
        },
    })
}
