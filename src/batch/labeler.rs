//! [`Labeler`]: a job's set-up, built once from [`JobSettings`] (the model loaded, the devices
//! of each stage chosen, every setting resolved, report.json's template filled), then any
//! number of [`BatchJob`]s over it. `prelabel run`, `prelabel serve` and an embedding program
//! all set up here, so a video gets the same files whichever of them labels it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::calibration;
use super::manifest::{ModelPrint, SettingsPrint};
use super::report::{ModelReport, OptionsReport, RunReport, Settings, StageDevices};
use super::settings::JobSettings;
use super::shard::Shard;
use super::BatchJob;
use crate::decode::HwDecode;
use crate::devices::{check_decode, ShaderStages};
use crate::error::{Error, Result};
use crate::export::{ExportOptions, VideoUrl};
use crate::infer::{load_runtime, Detector, CUDA_PROVIDER};
use crate::labels::LabelSet;
use crate::model::ModelSpec;
use crate::pipeline::{auto_jobs, Pipeline};
use crate::postprocess::Filter;
use crate::route::{Levels, RouteOptions, Thresholds};
use crate::tile::{MergeParams, TileConfig, Tiling};

/// The loaded model, the shader stages and the resolved settings, with the report every job
/// starts from. Jobs borrow it one at a time (they share the model).
///
/// ```no_run
/// use std::path::PathBuf;
/// use std::sync::atomic::AtomicBool;
///
/// use prelabel::batch::report::VideoReport;
/// use prelabel::batch::{expand_inputs, JobSettings, Labeler, Progress};
/// use prelabel::export::Format;
/// use prelabel::types::VideoInfo;
///
/// /// Says when each video is done (the command line draws progress bars here).
/// struct Log;
///
/// impl Progress for Log {
///     fn video_started(&self, _n: usize, _total: usize, _info: &VideoInfo) {}
///     fn frames_done(&self, _n: usize, _frames: u64) {}
///     fn video_finished(&self, n: usize, _report: &VideoReport) {
///         eprintln!("video {n} done");
///     }
/// }
///
/// fn main() -> prelabel::error::Result<()> {
///     let mut settings = JobSettings::new(PathBuf::from("models/nanodet_g_coco.toml"));
///     settings.classes = vec!["person".into()];
///     settings.formats = vec![Format::Mot, Format::Coco];
///     settings.stride = 5;
///     let mut labeler = Labeler::build(settings)?;
///
///     let out = PathBuf::from("labels");
///     let inputs = expand_inputs(&[PathBuf::from("clips")], &out)?;
///     let report = labeler.job(out, false, None).run(&inputs, &AtomicBool::new(false), &Log)?;
///     println!("{} videos labelled, {} failed", report.totals.ok, report.totals.failed);
///     Ok(())
/// }
/// ```
pub struct Labeler {
    spec: ModelSpec,
    detector: Detector,
    shaders: ShaderStages,
    settings: JobSettings,
    route: RouteOptions,
    /// Export options less the video URL, whose root is each job's output folder.
    export: ExportOptions,
    tiles: Tiling,
    batch_size: usize,
    jobs: usize,
    /// report.json as it starts (settings, devices, model); each job fills in its videos.
    report: RunReport,
    model: ModelPrint,
}

impl Labeler {
    /// Loads the model and builds every stage the settings ask for (the slow part of a start).
    /// Sets up rayon's global pool when `settings.threads` is given: once per process.
    pub fn build(mut settings: JobSettings) -> Result<Labeler> {
        settings.check()?;
        // The tracker starts tracks at the score threshold: one setting, one value.
        settings.tracker.new_track = settings.score_threshold;
        let calibration = settings.calibration.as_deref().map(calibration::load).transpose()?;
        if let Some((profile, _)) = &calibration {
            // The profile's levels go first, so a class the settings name keeps their levels.
            let given = std::mem::take(&mut settings.thresholds);
            settings.thresholds = calibration::level_specs(profile).into_iter().chain(given).collect();
        }
        set_threads(&mut settings.threads)?;

        let spec = ModelSpec::load(&settings.model)?;
        let classes = match settings.classes.as_slice() {
            [] if settings.labels.is_none() => spec.default_class_indices(),
            [] => Vec::new(), // `labels` decides
            [all] if all == "all" => Vec::new(),
            named => spec.class_indices(named)?,
        };
        let route = route_options(&settings, &spec)?;
        if let (Some((profile, _)), Some(path)) = (&calibration, &settings.calibration) {
            settings.refine.guideline = calibration::rules_by_class(profile, path, &spec, &route.labels)?;
        }
        let export = ExportOptions {
            yolo_track_ids: settings.yolo_track_ids,
            kept_classes: (!classes.is_empty()).then(|| classes.clone()),
            web_video: settings.web_video,
            video_url: None,
        };
        let runtime = load_runtime(settings.ort_lib.as_deref())?;
        let request = settings.devices;
        check_decode(&request)?;
        let detector = Detector::new(&spec, request.infer(), settings.threads, settings.ort_lib.as_deref())?;
        tracing::info!("model {} on {} (ONNX Runtime {} from {})", spec.name, detector.device, runtime.version, runtime.library.display());
        // The tracker needs the low-score detections too, to continue tracks through occlusions.
        let low = settings.score_threshold.min(settings.tracker.low);
        let filter = Filter { score_threshold: low, classes: classes.clone(), max_detections: settings.max_detections };
        let shaders = ShaderStages::new(&request, &spec, filter)?;
        let (pre_dev, post_dev) = shaders.describe();
        tracing::info!("preprocess on {pre_dev}, postprocess on {post_dev}");
        let stage_devices = StageDevices {
            decode: match request.decode() {
                HwDecode::Cuda => "nvdec where the node and codec allow, else cpu (ffmpeg; per video in videos[].decoder)".to_string(),
                HwDecode::Off(_) => "cpu (ffmpeg)".to_string(),
            } + if shaders.preparer.on_gpu() { ", YUV planes straight to the shader" } else { "" },
            preprocess: pre_dev,
            infer: detector.device.clone(),
            postprocess: post_dev,
            track: "cpu".into(),
            export: "cpu".into(),
        };
        let batch_size = match settings.batch_size {
            0 => detector.auto_batch_size(),
            n => n,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = match settings.jobs {
            0 => auto_jobs(detector.execution_provider == CUDA_PROVIDER, cores),
            n => n,
        };
        tracing::debug!("{jobs} videos in flight ({cores} cores)");
        settings.formats.dedup();
        let tiles = Tiling {
            config: TileConfig::new(settings.tiles, settings.tile_overlap)
                .and_then(|c| c.with_probe_every(settings.tile_probe_every))
                .map_err(Error::Usage)?,
            merge: MergeParams::for_model(&spec, settings.max_detections),
        };
        let options = OptionsReport { calibration_sha256: calibration.map(|(_, sha)| sha), ..settings.options.clone() };
        let report = RunReport {
            prelabel_version: env!("CARGO_PKG_VERSION"),
            state: "running",
            command_line: std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect(),
            model: ModelReport { name: spec.name.clone(), description: spec.path.clone(), onnx: spec.onnx_path() },
            runtime,
            device: detector.device.clone(),
            execution_provider: detector.execution_provider,
            fallback_reason: detector.fallback_reason.clone(),
            stage_devices,
            gpu_adapter: shaders.adapter.clone(),
            settings: report_settings(&settings, &spec, &classes, batch_size, jobs),
            shard: None,
            assigned: Vec::new(),
            options,
            videos: Vec::new(),
            totals: Default::default(),
            model_batches: None,
        };
        let model = ModelPrint::new(&spec.name, &spec.onnx_path(), &spec.path)?;
        Ok(Labeler { spec, detector, shaders, settings, route, export, tiles, batch_size, jobs, report, model })
    }

    /// A job over this set-up writing into `out_dir` (this worker's `shard` of the inputs;
    /// None: all of them). `overwrite`: label every video again, even one labelled before
    /// with the same model and settings.
    pub fn job(&mut self, out_dir: PathBuf, overwrite: bool, shard: Option<Shard>) -> BatchJob<'_> {
        let s = &self.settings;
        let video_url = s.video_url.clone().map(|prefix| VideoUrl { prefix, root: out_dir.clone() });
        BatchJob {
            pipeline: Pipeline::new(&self.spec, &mut self.detector, &mut self.shaders.preparer, &mut self.shaders.postprocess)
                .batch_size(self.batch_size)
                .formats(&s.formats)
                .stride(s.stride)
                .tracker(s.tracker)
                .refine(s.refine.clone())
                .route(self.route.clone())
                .export(ExportOptions { video_url, ..self.export.clone() })
                .tiles(self.tiles)
                .decode(s.devices.decode())
                .preview(s.preview),
            out_dir,
            overwrite,
            model: self.model.clone(),
            shard,
            claim_timeout: s.claim_timeout,
            report: self.report.clone(),
            jobs: self.jobs,
        }
    }

    /// The model's fingerprint, as the video manifests record it.
    pub fn model(&self) -> &ModelPrint {
        &self.model
    }

    /// The settings that change labels, hashed as the video manifests record them.
    pub fn settings_print(&self) -> SettingsPrint {
        SettingsPrint::new(&self.report.settings)
    }

    /// The label names the jobs write: the label set's, limited to the classes kept.
    pub fn known_labels(&self) -> BTreeSet<String> {
        let labels = &self.route.labels;
        let kept = |name: &str| match &self.export.kept_classes {
            None => true,
            Some(kept) => labels.classes_of(name).iter().any(|c| kept.contains(c)),
        };
        labels.labels().iter().filter(|l| kept(&l.name)).map(|l| l.name.clone()).collect()
    }
}

/// `threads` CPU threads for rayon's global pool (0: rayon's default), never more than the
/// cores this process may use.
fn set_threads(threads: &mut usize) -> Result<()> {
    let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
    if *threads > usable {
        tracing::warn!("--threads {}: this process may use {usable} cores; using {usable} threads", threads);
        *threads = usable;
    }
    if *threads > 0 {
        rayon::ThreadPoolBuilder::new().num_threads(*threads).build_global().map_err(|e| Error::Usage(format!("--threads: {e}")))?;
    }
    Ok(())
}

/// Which classes go under which labels, and each one's review levels (stage `route`).
fn route_options(s: &JobSettings, spec: &ModelSpec) -> Result<RouteOptions> {
    let labels = match &s.labels {
        Some(map) => LabelSet::parse(spec, map)?,
        None => LabelSet::all(spec),
    };
    let default = Levels::new(s.accept_score, s.drop_score).map_err(|e| Error::Usage(format!("--accept-score/--drop-score: {e}")))?;
    let thresholds = Thresholds::parse(spec, &labels, default, &s.thresholds)?;
    Ok(RouteOptions { labels, thresholds })
}

/// report.json's `settings`: the settings as resolved (`classes` by name: "all", or none when
/// `labels` decides).
fn report_settings(s: &JobSettings, spec: &ModelSpec, classes: &[u32], batch_size: usize, jobs: usize) -> Settings {
    let class_names = match (classes.is_empty(), s.labels.is_some()) {
        (true, false) => vec!["all".into()],
        (true, true) => Vec::new(),
        (false, _) => classes.iter().map(|&i| spec.class_name(i).to_string()).collect(),
    };
    Settings {
        device_requested: s.devices.all,
        score_threshold: s.score_threshold,
        classes: class_names,
        max_detections: s.max_detections,
        batch_size,
        jobs,
        threads: s.threads,
        formats: s.formats.clone(),
        stride: s.stride,
        tiles: match s.tile_probe_every {
            crate::tile::PROBE_EVERY => format!("{:?}, overlap {}", s.tiles, s.tile_overlap),
            n => format!("{:?}, overlap {}, probe every {n}", s.tiles, s.tile_overlap),
        },
        tracker: s.tracker,
        refine: s.refine.clone(),
        labels: s.labels.clone(),
        accept_score: s.accept_score,
        drop_score: s.drop_score,
        thresholds: s.thresholds.clone(),
        yolo_track_ids: s.yolo_track_ids,
        web_video: s.web_video,
        video_url: s.video_url.clone(),
        preview: s.preview,
    }
}
