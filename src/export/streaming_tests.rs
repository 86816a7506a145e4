//! The writers used to collect every box of the video (MOT rows, COCO annotations, YOLO lines,
//! the Label Studio task as one JSON tree) and sort or serialise it whole; now they write
//! straight from the tracks, frame by frame ([`super::sweep`]) or track by track. These tests
//! keep the old whole-video writers as the reference and check that both give the same bytes
//! on random tracks (unsorted ids, classes the label set drops, boxes past the last frame,
//! overlapping tracks, review bands, occlusion and keyframe flags).

use std::path::Path;

use serde_json::json;

use super::frames::{held_boxes, image_stem, number};
use super::labelstudio::{LabelStudio, CONFIG_FILE};
use super::{coco::Coco, mot::Mot, yolo::Yolo};
use super::{round2, ExportContext, ExportOptions, Format, LabelFormat, Output};
use crate::error::Result;
use crate::labels::LabelSet;
use crate::model::ModelSpec;
use crate::types::{BBox, BoxSource, ReviewBand, Track, TrackBox, VideoInfo, VideoLabels};
use crate::units::{round4, time_s};

struct HeldMot;
struct HeldCoco;
struct HeldYolo;
struct HeldLabelStudio;

fn config(ctx: &ExportContext, fps: f32) -> String {
    super::labelstudio::config(ctx, fps)
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

impl LabelFormat for HeldMot {
    fn write(&self, _ctx: &ExportContext, labels: &VideoLabels, out: &mut Output) -> Result<()> {
        let mut rows: Vec<(u64, u64, &crate::types::TrackBox)> =
            labels.tracks.iter().flat_map(|t| t.boxes.iter().map(move |b| (b.frame, t.id, b))).collect();
        rows.sort_by_key(|r| (r.0, r.1));
        out.file(Format::Mot.file_name(), |w| {
            for (frame, id, b) in rows {
                let r = b.bbox;
                writeln!(
                    w,
                    "{},{id},{:.2},{:.2},{:.2},{:.2},{:.4},-1,-1,-1",
                    number(Format::Mot, frame),
                    round2(r.x1),
                    round2(r.y1),
                    round2(r.width()),
                    round2(r.height()),
                    round4(b.score)
                )?;
            }
            Ok(())
        })
    }
}

impl LabelFormat for HeldCoco {
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
        let videos = json!([{
            "id": 1,
            "name": video.name,
            "width": video.width,
            "height": video.height,
            "fps": (video.fps as f64 * 1000.0).round() / 1000.0,
            "frames": labels.frames,
        }]);
        let mut tracks = Vec::with_capacity(labels.tracks.len());
        let mut boxes: Vec<(&TrackBox, u64, u32, bool)> = Vec::new();
        for t in &labels.tracks {
            let Some((_, label)) = set.of_class(t.class) else { continue };
            tracks.push(json!({
                "id": t.id,
                "category_id": label.id,
                "video_id": 1,
                "first_frame_index": t.first_frame(),
                "last_frame_index": t.last_frame(),
                "score": round4(t.mean_score),
                "min_score": round4(t.min_score),
                "needs_review": t.needs_review(),
            }));
            boxes.extend(t.boxes.iter().map(|b| (b, t.id, label.id, t.needs_review())));
        }
        boxes.sort_by_key(|(b, id, ..)| (b.frame, *id));

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
            for (n, (b, track_id, category_id, needs_review)) in boxes.iter().enumerate() {
                let r = b.bbox;
                let ann = json!({
                    "id": n + 1,
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
                });
                write!(w, "{}\n{ann}", if n == 0 { "" } else { "," })?;
            }
            writeln!(w, "\n]}}")
        })
    }
}

impl LabelFormat for HeldYolo {
    fn write(&self, ctx: &ExportContext, labels: &VideoLabels, out: &mut Output) -> Result<()> {
        let dir = Format::Yolo.file_name();
        let set = &ctx.label_set;
        let video = &labels.video;
        let (w, h) = (video.width.max(1) as f64, video.height.max(1) as f64);

        // Lines per frame, in track id order within a frame.
        let mut per_frame: Vec<Vec<String>> = vec![Vec::new(); labels.frames as usize];
        for t in &labels.tracks {
            let Some((class, _)) = set.of_class(t.class) else { continue };
            for b in &t.boxes {
                let Some(lines) = per_frame.get_mut(b.frame as usize) else { continue };
                let r = b.bbox.clamp(video.width as f32, video.height as f32);
                let (cx, cy) = ((r.x1 + r.x2) as f64 / 2.0 / w, (r.y1 + r.y2) as f64 / 2.0 / h);
                let mut line = format!("{class} {cx:.6} {cy:.6} {:.6} {:.6}", r.width() as f64 / w, r.height() as f64 / h);
                if ctx.options.yolo_track_ids {
                    line += &format!(" {}", t.id);
                }
                lines.push(line);
            }
        }

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
        for (i, lines) in per_frame.iter().enumerate() {
            out.file(&format!("{dir}/obj_train_data/{}.txt", image_stem(i as u64)), |f| lines.iter().try_for_each(|l| writeln!(f, "{l}")))?;
        }
        Ok(())
    }
}

impl LabelFormat for HeldLabelStudio {
    fn write(&self, ctx: &ExportContext, labels: &VideoLabels, out: &mut Output) -> Result<()> {
        let video = &labels.video;
        let (w, h) = (video.width.max(1) as f64, video.height.max(1) as f64);
        let pct = |v: f32, of: f64| ((v as f64 / of * 100.0).clamp(0.0, 100.0) * 10000.0).round() / 10000.0;
        let mut results = Vec::with_capacity(labels.tracks.len());
        for t in &labels.tracks {
            let Some((_, label)) = ctx.label_set.of_class(t.class) else { continue };
            let held = held_boxes(&t.boxes);
            let sequence: Vec<_> = held
                .iter()
                .enumerate()
                .map(|(n, &i)| {
                    let b = &t.boxes[i];
                    let r = b.bbox.clamp(video.width as f32, video.height as f32);
                    json!({
                        "frame": number(Format::LabelStudio, b.frame),
                        "enabled": n + 1 < held.len(),
                        "rotation": 0,
                        "x": pct(r.x1, w),
                        "y": pct(r.y1, h),
                        "width": pct(r.width(), w),
                        "height": pct(r.height(), h),
                        "time": round6(time_s(b.frame, video.fps)),
                    })
                })
                .collect();
            let mut region = json!({
                "id": format!("track-{}", t.id),
                "type": "videorectangle",
                "from_name": "box",
                "to_name": "video",
                "origin": "prediction",
                "score": round4(t.mean_score),
                "value": {
                    "framesCount": labels.frames,
                    "duration": round6(time_s(labels.frames, video.fps)),
                    "sequence": sequence,
                    "labels": [label.name],
                },
            });
            if t.needs_review() {
                region["meta"] = json!({"text": [format!(
                    "needs review: track {} mean score {:.2}, min {:.2}",
                    t.id, t.mean_score, t.min_score
                )]});
            }
            results.push(region);
        }
        let score = if labels.tracks.is_empty() {
            0.0
        } else {
            labels.tracks.iter().map(|t| t.mean_score as f64).sum::<f64>() / labels.tracks.len() as f64
        };
        let tasks = json!([{
            "data": {"video": video.name},
            "predictions": [{
                "model_version": format!("prelabel {} {}", env!("CARGO_PKG_VERSION"), ctx.model.name),
                "score": round4(score as f32),
                "result": results,
            }],
        }]);
        out.file(Format::LabelStudio.file_name(), |w| {
            serde_json::to_writer(&mut *w, &tasks)?;
            w.write_all(b"\n")
        })?;
        out.file(CONFIG_FILE, |w| w.write_all(config(ctx, video.fps).as_bytes()))
    }
}

fn random_labels(rng: &mut fastrand::Rng) -> VideoLabels {
    let frames = rng.u64(1..60);
    let n = rng.usize(0..14);
    let mut tracks: Vec<Track> = (0..n)
        .map(|i| {
            let first = rng.u64(0..frames + 5);
            let len = rng.u64(1..25);
            let boxes: Vec<TrackBox> = (first..first + len)
                .map(|frame| {
                    let (x, y) = (rng.f32() * 700.0 - 20.0, rng.f32() * 500.0 - 20.0);
                    TrackBox {
                        frame,
                        bbox: BBox { x1: x, y1: y, x2: x + rng.f32() * 200.0, y2: y + rng.f32() * 300.0 },
                        score: rng.f32(),
                        source: [BoxSource::Detected, BoxSource::Predicted, BoxSource::Interpolated][rng.usize(0..3)],
                        keyframe: rng.bool(),
                        occluded: rng.u8(0..5) == 0,
                    }
                })
                .collect();
            let band = if rng.bool() { ReviewBand::Accept } else { ReviewBand::Review };
            // Classes 0..4 of the COCO model: 0 and 3 are not in the label set below.
            Track {
                id: i as u64 + 1,
                class: rng.u32(0..5),
                boxes,
                mean_score: rng.f32(),
                min_score: rng.f32() / 2.0,
                band,
                stationary: false,
                looks: None,
            }
        })
        .collect();
    if rng.u8(0..4) == 0 {
        // Ids out of order, and two tracks sharing one.
        rng.shuffle(&mut tracks);
        if tracks.len() > 2 {
            tracks[1].id = tracks[0].id;
        }
    }
    let video =
        VideoInfo { path: "clip.mp4".into(), name: "clip \"one\".mp4".into(), width: 640, height: 480, fps: 12.5, frames_hint: frames };
    VideoLabels { video, frames, tracks }
}

/// Every file under `dir`, by relative path, as bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn written(format: &dyn LabelFormat, ctx: &ExportContext, labels: &VideoLabels) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ExportContext { dir: dir.path(), final_dir: dir.path(), ..*ctx };
    let mut out = Output::new(dir.path()).unwrap();
    format.write(&ctx, labels, &mut out).unwrap();
    out.commit().unwrap();
    tree(dir.path())
}

#[test]
fn streaming_writers_give_the_bytes_the_whole_video_writers_gave() {
    let model = ModelSpec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ssd_mobilenet_v2_coco.toml")).unwrap();
    let set = LabelSet::parse(&model, "person=walker,bicycle,car=walker").unwrap();
    let mut rng = fastrand::Rng::with_seed(9);
    for case in 0..60 {
        let labels = random_labels(&mut rng);
        let options = ExportOptions { yolo_track_ids: case % 2 == 0, ..ExportOptions::default() };
        let ctx = ExportContext {
            video: &labels.video,
            model: &model,
            dir: Path::new("."),
            final_dir: Path::new("."),
            label_set: &set,
            options: &options,
        };
        let pairs: [(&dyn LabelFormat, &dyn LabelFormat, &str); 4] = [
            (&Mot, &HeldMot, "mot"),
            (&Coco, &HeldCoco, "coco"),
            (&Yolo, &HeldYolo, "yolo"),
            (&LabelStudio, &HeldLabelStudio, "labelstudio"),
        ];
        for (new, old, name) in pairs {
            let (got, want) = (written(new, &ctx, &labels), written(old, &ctx, &labels));
            assert!(!want.is_empty());
            assert!(got == want, "case {case}: {name} differs from the whole-video writer");
        }
    }
}
