//! Stage 8, export: takes one video's [`Routed`] labels (the tracks routing kept, a box per
//! frame, each with its band, and the review queue), gives the label files annotation tools
//! import, plus `review.json`. Runs on the CPU, once per video, after routing; it decides
//! nothing about which tracks to write, only how.
//!
//! [`write_labels`] writes each format behind the one `LabelFormat` trait into a hidden
//! staging folder ([`output::Output`]) and renames each finished file or folder into place
//! only once all are complete: a crash, kill or full disk never leaves a partial file under a
//! final name. Frame numbering lives in [`frames`].

mod coco;
mod cvat;
pub mod frames;
mod labelstudio;
mod mot;
mod output;
#[cfg(test)]
mod streaming_tests;
mod sweep;
pub(crate) mod video_ref;
mod yolo;

use std::path::{Path, PathBuf};

pub use output::Output;
pub use video_ref::VideoUrl;

use crate::error::Result;
use crate::labels::LabelSet;
use crate::model::ModelSpec;
use crate::route::Routed;
use crate::types::{VideoInfo, VideoLabels};

/// Job-wide choices that shape the files, the same for every video.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Add a sixth column, the track id, to YOLO lines (`--yolo-track-ids`). Off by default:
    /// datumaro and CVAT reject lines with more than five fields.
    pub yolo_track_ids: bool,
    /// The model classes the run keeps (`--classes` resolved); None: every class the label
    /// set has. The Label Studio labeling config lists only their labels.
    pub kept_classes: Option<Vec<u32>>,
    /// `--web-video`: a browser-playable copy of each video, `WEB_VIDEO`, goes
    /// beside its labels (written by `render::web`, after export), and the files name it.
    pub web_video: bool,
    /// `--video-url`: the files name the copy by URL, the prefix plus its path in `--out`.
    pub video_url: Option<VideoUrl>,
}

/// What every format knows about the video and job it labels.
pub struct ExportContext<'a> {
    pub video: &'a VideoInfo,
    pub model: &'a ModelSpec,
    /// Folder the files go into (created by the caller).
    pub dir: &'a Path,
    /// Folder they end up in: `dir`, or the video's folder a staging `dir` is renamed to
    /// (`batch::staging`). Paths the files name (`--video-url`) are taken from it.
    pub final_dir: &'a Path,
    /// The label set the tracks were routed with (`RouteOptions::labels`): label names and
    /// ids as the files list them.
    pub label_set: &'a LabelSet,
    pub options: &'a ExportOptions,
}

/// One output format: writes a video's routed labels through `out`.
pub(crate) trait LabelFormat {
    /// Writes the format's file(s); `labels` are already routed (every track's class is in
    /// `ctx.label_set`, its band set).
    fn write(&self, ctx: &ExportContext, labels: &VideoLabels, out: &mut Output) -> Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// COCO JSON, TAO style (`coco.json`): videos, images per frame, annotations with track_id.
    Coco,
    /// CVAT for video 1.1 XML (`cvat.xml`): tracks with keyframes.
    Cvat,
    /// Label Studio tasks JSON (`labelstudio.json`): videorectangle predictions.
    #[value(name = "labelstudio")]
    LabelStudio,
    /// MOTChallenge text (`mot.txt`): frame,id,x,y,w,h,conf,-1,-1,-1 with frames from 1.
    Mot,
    /// YOLO (Darknet) folder (`yolo/`): one txt per frame, obj.names, obj.data, train.txt.
    Yolo,
}

impl Format {
    pub const ALL: [Format; 5] = [Format::Coco, Format::Cvat, Format::LabelStudio, Format::Mot, Format::Yolo];

    /// File (or, for YOLO, folder) name in the video's output folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Coco => "coco.json",
            Format::Cvat => "cvat.xml",
            Format::LabelStudio => "labelstudio.json",
            Format::Mot => "mot.txt",
            Format::Yolo => "yolo",
        }
    }

    /// Whether a finished output of this format is in `dir` (outputs only appear whole).
    pub(crate) fn output_exists(self, dir: &Path) -> bool {
        dir.join(self.file_name()).exists()
    }

    fn writer(self) -> &'static dyn LabelFormat {
        match self {
            Format::Coco => &coco::Coco,
            Format::Cvat => &cvat::Cvat,
            Format::LabelStudio => &labelstudio::LabelStudio,
            Format::Mot => &mot::Mot,
            Format::Yolo => &yolo::Yolo,
        }
    }
}

/// Name of the review queue written beside the formats.
pub(crate) const REVIEW_FILE: &str = "review.json";

/// Writes every format in `formats` and the review queue (`review.json`) of `routed` into
/// `ctx.dir`, and returns the paths written, in `formats` order, then `review.json`. Nothing
/// appears under a final name unless everything was written.
pub fn write_labels(formats: &[Format], ctx: &ExportContext, routed: &Routed) -> Result<Vec<PathBuf>> {
    let mut out = Output::new(ctx.dir)?;
    for &format in formats {
        format.writer().write(ctx, &routed.labels, &mut out)?;
    }
    out.file(REVIEW_FILE, |w| {
        serde_json::to_writer_pretty(&mut *w, &routed.review)?;
        w.write_all(b"\n")
    })?;
    out.commit()
}

/// Pixel coordinates as every format writes them: 2 decimals, ties away from zero.
pub(crate) fn round2(v: f32) -> f64 {
    (v as f64 * 100.0).round() / 100.0
}
