//! Stage 6, export: takes [`FrameDetections`] one frame at a time, gives label files that
//! annotation tools import. Runs on the CPU. Each format is one file behind [`LabelWriter`];
//! writers stream, so memory stays flat however long the video.
//!
//! Every file is written to a hidden temp file in the output folder and renamed into place
//! only when complete, so a crash, kill or full disk never leaves a partial file under the
//! final name.

mod atomic;
mod coco;
mod cvat;
mod mot;
pub mod report;

use std::path::{Path, PathBuf};

pub use atomic::AtomicFile;

use crate::error::Result;
use crate::model::ModelSpec;
use crate::types::{FrameDetections, VideoInfo};

/// One output format being written for one video.
pub trait LabelWriter: Send {
    /// Adds one frame's detections; called for every frame, in order, even empty ones.
    fn write_frame(&mut self, frame: &FrameDetections) -> Result<()>;
    /// Completes the file and moves it to its final name, which it returns.
    fn finish(self: Box<Self>) -> Result<PathBuf>;
}

/// What every writer knows about the video and model it labels.
pub struct ExportContext<'a> {
    pub video: &'a VideoInfo,
    pub model: &'a ModelSpec,
    /// Folder the files go into (created by the caller).
    pub dir: &'a Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// COCO detection JSON (`coco.json`), one image per frame, scores kept.
    Coco,
    /// CVAT for video 1.1 XML (`cvat.xml`).
    Cvat,
    /// MOTChallenge text (`mot.txt`): frame,id,x,y,w,h,conf,-1,-1,-1 with frames from 1.
    Mot,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Coco, Format::Cvat, Format::Mot];

    pub fn file_name(self) -> &'static str {
        match self {
            Format::Coco => "coco.json",
            Format::Cvat => "cvat.xml",
            Format::Mot => "mot.txt",
        }
    }

    pub fn create(self, ctx: &ExportContext) -> Result<Box<dyn LabelWriter>> {
        let path = ctx.dir.join(self.file_name());
        Ok(match self {
            Format::Coco => Box::new(coco::CocoWriter::new(ctx, path)?),
            Format::Cvat => Box::new(cvat::CvatWriter::new(ctx, path)?),
            Format::Mot => Box::new(mot::MotWriter::new(path)?),
        })
    }
}

/// Pixel coordinates as every format writes them: 2 decimals, ties away from zero.
pub(crate) fn round2(v: f32) -> f64 {
    (v as f64 * 100.0).round() / 100.0
}

/// Scores as every format writes them: 4 decimals, ties away from zero.
pub(crate) fn round4(v: f32) -> f64 {
    (v as f64 * 10000.0).round() / 10000.0
}

/// Reportable classes of a model, in index order: what a label file declares as its labels.
pub(crate) fn label_classes(model: &ModelSpec) -> impl Iterator<Item = (u32, &str)> {
    (0..model.classes.len() as u32).filter(|c| model.is_reportable(*c)).map(|c| (c, model.class_name(c)))
}
