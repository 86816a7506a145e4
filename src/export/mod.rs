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
use crate::types::{Detection, FrameDetections, FrameInfo, VideoInfo, VideoLabels};

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

/// Writes every format of one video from its finished tracks; returns the files written.
///
/// THROWAWAY ADAPTER (tracking branch), to be replaced by the export branch's real
/// `write_labels` with the same signature: it flattens the tracks back into per-frame
/// detections for the old streaming COCO and CVAT writers (so those lose track ids), and writes
/// `mot.txt` itself with track ids: `frame (from 1),id,x,y,w,h,score,-1,-1,-1`.
pub fn write_labels(formats: &[Format], ctx: &ExportContext, labels: &VideoLabels) -> Result<Vec<PathBuf>> {
    use std::io::Write;
    let info = |index| FrameInfo { index, width: ctx.video.width, height: ctx.video.height };
    let mut per_frame: Vec<FrameDetections> = (0..labels.frames).map(|f| FrameDetections { frame: info(f), detections: Vec::new() }).collect();
    let mut mot_rows: Vec<(u64, u64, crate::types::BBox, f32)> = Vec::new();
    for t in &labels.tracks {
        for b in &t.boxes {
            if let Some(fd) = per_frame.get_mut(b.frame as usize) {
                fd.detections.push(Detection { bbox: b.bbox, class: t.class, score: b.score });
            }
            mot_rows.push((b.frame, t.id, b.bbox, b.score));
        }
    }
    mot_rows.sort_by_key(|r| (r.0, r.1));
    let mut files = Vec::new();
    for format in formats {
        if *format == Format::Mot {
            let mut f = AtomicFile::create(ctx.dir.join(format.file_name()))?;
            for (frame, id, b, score) in &mot_rows {
                let (x, y, w, h, s) = (round2(b.x1), round2(b.y1), round2(b.width()), round2(b.height()), round4(*score));
                writeln!(f, "{},{id},{x:.2},{y:.2},{w:.2},{h:.2},{s:.4},-1,-1,-1", frame + 1).map_err(|e| f.err(e))?;
            }
            files.push(f.commit()?);
        } else {
            let mut w = format.create(ctx)?;
            for fd in &per_frame {
                w.write_frame(fd)?;
            }
            files.push(w.finish()?);
        }
    }
    Ok(files)
}
