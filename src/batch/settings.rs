//! [`JobSettings`]: everything a labelling job is set up from, as plain values. The command
//! line fills it from its arguments and job files (`prelabel run`, `prelabel serve`); a program
//! that embeds prelabel fills it itself, starting from [`JobSettings::new`]. The checks that
//! need no model are here ([`JobSettings::check`]), so a usage error comes before anything slow.

use std::path::PathBuf;
use std::time::Duration;

use super::report::OptionsReport;
use crate::devices::DeviceRequest;
use crate::error::{Error, Result};
use crate::export::Format;
use crate::infer::DeviceChoice;
use crate::refine::RefineConfig;
use crate::route::{DEFAULT_ACCEPT, DEFAULT_DROP};
use crate::tile::TileMode;
use crate::track::TrackerConfig;

/// A labelling job's settings. The defaults ([`JobSettings::new`]) are `prelabel run`'s; the
/// error messages name the `prelabel run` option of each field, as its users set them that way.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// The model description file (`.toml` beside its `.onnx`).
    pub model: PathBuf,
    /// The ONNX Runtime library; None: `ORT_DYLIB_PATH`, then the copy `scripts/setup.sh` installs.
    pub ort_lib: Option<PathBuf>,
    /// Where each stage runs.
    pub devices: DeviceRequest,
    /// CPU threads for preprocessing and inference; 0: every core this process may use.
    pub threads: usize,
    /// Frames per model call, at most 256; 0: the detector's own choice.
    pub batch_size: usize,
    /// Videos in flight at once; 0: chosen from the cores and where the model runs.
    pub jobs: usize,
    /// Detections below this never start a track (the tracker's `new_track` is set to it).
    pub score_threshold: f32,
    /// Model classes kept, by name or index; empty: the model's default set (or the classes
    /// `labels` names); `["all"]`: every class.
    pub classes: Vec<String>,
    /// Most detections kept per frame.
    pub max_detections: usize,
    pub formats: Vec<Format>,
    /// The detector sees every `stride`th frame (1: all of them); tracking fills the rest.
    pub stride: usize,
    pub tracker: TrackerConfig,
    pub refine: RefineConfig,
    /// A profile from `prelabel calibrate --profile`: box rules for refine, review levels for
    /// route (see `calibration`).
    pub calibration: Option<PathBuf>,
    /// Class-to-label map, `person=pedestrian,car` or `@file.txt`; None: every class under its
    /// own name.
    pub labels: Option<String>,
    /// Review levels: accepted at or above `accept_score`, dropped below `drop_score`.
    pub accept_score: f32,
    pub drop_score: f32,
    /// Per-class levels, `NAME=ACCEPT[:DROP]`, overriding the two above.
    pub thresholds: Vec<String>,
    pub tiles: TileMode,
    /// Fraction of a tile shared with its neighbour (0 to 0.9).
    pub tile_overlap: f32,
    /// With `--tiles auto`: detector frames between probes while none has answered (0: one).
    pub tile_probe_every: u64,
    /// The track id as a sixth column in YOLO files.
    pub yolo_track_ids: bool,
    /// A browser-playable copy of each video beside its labels.
    pub web_video: bool,
    /// Name that copy by URL: this prefix plus its path in the job's output folder.
    pub video_url: Option<String>,
    /// Also write `preview.mp4` and `review.png` per video.
    pub preview: bool,
    /// A claim on a video whose heartbeat is older than this is another worker's to take over.
    pub claim_timeout: Duration,
    /// report.json's account of where the options came from (the command line's job files);
    /// the calibration profile's sha256 is filled in when it is loaded.
    pub options: OptionsReport,
}

impl JobSettings {
    /// `prelabel run`'s defaults, with the model at `model`.
    pub fn new(model: PathBuf) -> JobSettings {
        JobSettings {
            model,
            ort_lib: None,
            devices: DeviceRequest::all(DeviceChoice::Auto),
            threads: 0,
            batch_size: 0,
            jobs: 0,
            score_threshold: TrackerConfig::default().new_track,
            classes: Vec::new(),
            max_detections: 100,
            formats: Format::ALL.to_vec(),
            stride: 1,
            tracker: TrackerConfig::default(),
            refine: RefineConfig::default(),
            calibration: None,
            labels: None,
            accept_score: DEFAULT_ACCEPT,
            drop_score: DEFAULT_DROP,
            thresholds: Vec::new(),
            tiles: TileMode::Auto,
            tile_overlap: 0.2,
            tile_probe_every: crate::tile::PROBE_EVERY,
            yolo_track_ids: false,
            web_video: false,
            video_url: None,
            preview: false,
            claim_timeout: Duration::from_secs(600),
            options: OptionsReport::default(),
        }
    }

    /// The checks that need no model (the calibration profile is read, to fail early on a bad
    /// one). [`super::Labeler::build`] runs them too.
    pub fn check(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.score_threshold) {
            return Err(Error::Usage(format!("--score-threshold {} is outside 0..1", self.score_threshold)));
        }
        if self.batch_size > 256 {
            return Err(Error::Usage("--batch-size must be at most 256".into()));
        }
        if let Some(path) = &self.calibration {
            super::calibration::load(path)?;
        }
        Ok(())
    }
}
