//! Label Studio tasks JSON (`labelstudio.json`) and the labeling config it is made for
//! (`labelstudio_config.xml`: paste it into the project's Labeling Interface, or build the
//! same from the "Video Object Tracking" template with these labels).
//!
//! One task per video: `data.video` names the video as [`ExportContext::video_ref`] says:
//! with `--web-video --video-url PREFIX` the URL Label Studio plays the browser-playable copy
//! from, so the tasks import with no edit (docs/src/import.md); else a file name to point
//! at where the video is served. Its `predictions` (what Label Studio imports as pre-annotations, shown to the
//! annotator and never counted as ground truth) hold one `videorectangle` region per track:
//! `value.sequence` lists the boxes [`super::frames::held_boxes`] picks, with `frame` from 1,
//! `time` in seconds, x/y/width/height in percent of the frame, `enabled: false` on the last
//! one (the track ends there), plus `framesCount`, `duration` and `labels`. Region `id` is
//! `track-<id>`, `score` the track's mean score, and a `needs_review` track carries a
//! region note (`meta.text`) saying so, which Label Studio shows beside the region.

use serde_json::json;

use super::frames::{held_boxes, number};
use super::{ExportContext, Format, LabelFormat, Output};
use crate::error::{Error, Result};
use crate::types::{Track, VideoInfo, VideoLabels};
use crate::units::{round4, time_s};

pub struct LabelStudio;

/// Name of the labeling config written beside the tasks.
pub(crate) const CONFIG_FILE: &str = "labelstudio_config.xml";

impl LabelFormat for LabelStudio {
    fn write(&self, ctx: &ExportContext, labels: &VideoLabels, out: &mut Output) -> Result<()> {
        let video = &labels.video;
        let score = if labels.tracks.is_empty() {
            0.0
        } else {
            labels.tracks.iter().map(|t| t.mean_score as f64).sum::<f64>() / labels.tracks.len() as f64
        };
        // The task with a mark for its result list, cut where the list goes: the regions are made and
        // written one track at a time between the two halves, never held all at once.
        let tasks = json!([{
            "data": {"video": ctx.video_ref()?},
            "predictions": [{
                "model_version": format!("prelabel {} {}", env!("CARGO_PKG_VERSION"), ctx.model.name),
                "score": round4(score as f32),
                "result": [RESULTS_MARK],
            }],
        }])
        .to_string();
        let mark = format!("[{}]", serde_json::Value::from(RESULTS_MARK));
        let at = tasks.find(&mark).ok_or_else(|| Error::Output("labelstudio.json: task template without its mark".into()))?;
        let (head, tail) = (&tasks[..at + 1], &tasks[at + mark.len() - 1..]);
        out.file(Format::LabelStudio.file_name(), |w| {
            w.write_all(head.as_bytes())?;
            let mut first = true;
            for t in &labels.tracks {
                let Some((_, label)) = ctx.label_set.of_class(t.class) else { continue };
                if !first {
                    w.write_all(b",")?;
                }
                first = false;
                serde_json::to_writer(&mut *w, &region(t, &label.name, labels.frames, video))?;
            }
            w.write_all(tail.as_bytes())?;
            w.write_all(b"\n")
        })?;
        out.file(CONFIG_FILE, |w| w.write_all(config(ctx, video.fps).as_bytes()))
    }
}

/// The labeling config the tasks validate against: `Labels` and `VideoRectangle` on one
/// `Video` whose framerate is the video's (Label Studio maps time to frames with it). It
/// lists the labels of the classes the run keeps ([`super::ExportOptions::kept_classes`]),
/// not every class the model knows: the 80 COCO names would bury the few in use.
pub fn config(ctx: &ExportContext, fps: f32) -> String {
    let kept = |name: &str| match &ctx.options.kept_classes {
        None => true,
        Some(classes) => ctx.label_set.classes_of(name).iter().any(|c| classes.contains(c)),
    };
    let mut labels: Vec<_> = ctx.label_set.labels().iter().filter(|l| kept(&l.name)).collect();
    if labels.is_empty() {
        // --classes and --labels share no class: no track can be written, but a config
        // without labels does not load.
        labels = ctx.label_set.labels().iter().collect();
    }
    let mut s = String::from("<View>\n  <Labels name=\"videoLabels\" toName=\"video\" allowEmpty=\"true\">\n");
    for l in labels {
        s += &format!("    <Label value=\"{}\"/>\n", quick_xml::escape::escape(l.name.as_str()));
    }
    s += &format!(
        "  </Labels>\n  <Video name=\"video\" value=\"$video\" framerate=\"{}\"/>\n  \
         <VideoRectangle name=\"box\" toName=\"video\"/>\n</View>\n",
        (fps as f64 * 1000.0).round() / 1000.0
    );
    s
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Stands in for the regions in the serialised task (no label name or video name can hold it
/// as a whole JSON string inside a one-element list).
const RESULTS_MARK: &str = "\u{0}prelabel-results\u{0}";

/// The `videorectangle` region of track `t`.
fn region(t: &Track, label: &str, frames: u64, video: &VideoInfo) -> serde_json::Value {
    let (w, h) = (video.width.max(1) as f64, video.height.max(1) as f64);
    let pct = |v: f32, of: f64| ((v as f64 / of * 100.0).clamp(0.0, 100.0) * 10000.0).round() / 10000.0;
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
            "framesCount": frames,
            "duration": round6(time_s(frames, video.fps)),
            "sequence": sequence,
            "labels": [label],
        },
    });
    if t.needs_review() {
        region["meta"] = json!({"text": [format!(
            "needs review: track {} mean score {:.2}, min {:.2}",
            t.id, t.mean_score, t.min_score
        )]});
    }
    region
}
