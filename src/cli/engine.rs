//! The labelling engine `prelabel run` and `prelabel serve` share: from the run options
//! ([`RunArgs`]), the model, the devices of each stage and every setting, built once; then
//! any number of [`BatchJob`]s over it. Both commands go through here, so a video labelled by
//! `serve` gets exactly the files `run` would write with the same options.

use std::path::PathBuf;
use std::time::Duration;

use super::args::RunArgs;
use super::{model_path, options_report};
use prelabel::batch::manifest::{ModelPrint, SettingsPrint};
use prelabel::batch::report::{ModelReport, OptionsReport, RunReport, Settings, StageDevices};
use prelabel::batch::shard::Shard;
use prelabel::batch::BatchJob;
use prelabel::decode::HwDecode;
use prelabel::devices::{DeviceRequest, ShaderStages};
use prelabel::error::{Error, Result};
use prelabel::export::{ExportOptions, Format};
use prelabel::infer::{load_runtime, Detector};
use prelabel::model::ModelSpec;
use prelabel::pipeline::Pipeline;
use prelabel::postprocess::Filter;
use prelabel::refine::RefineConfig;
use prelabel::route::RouteOptions;
use prelabel::tile::{MergeParams, TileConfig, Tiling};
use prelabel::track::TrackerConfig;

/// Everything a batch job borrows, owned: the loaded model, the shader stages and the
/// settings, with the report template every job starts from.
pub(crate) struct Engine {
    pub(crate) args: RunArgs,
    pub(crate) spec: ModelSpec,
    detector: Detector,
    shaders: ShaderStages,
    formats: Vec<Format>,
    stride: usize,
    tracker: TrackerConfig,
    refine: RefineConfig,
    pub(crate) route: RouteOptions,
    pub(crate) export: ExportOptions,
    tiles: Tiling,
    decode: HwDecode,
    batch_size: usize,
    pub(crate) jobs: usize,
    /// report.json as it starts (settings, devices, model); each job fills in its videos.
    pub(crate) report: RunReport,
    pub(crate) model: ModelPrint,
}

/// The checks on the settings that need no model: run first, so a usage error comes before
/// anything slow.
pub(crate) fn check_settings(args: &RunArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&args.score_threshold) {
        return Err(Error::Usage(format!("--score-threshold {} is outside 0..1", args.score_threshold)));
    }
    if args.batch_size > 256 {
        return Err(Error::Usage("--batch-size must be at most 256".into()));
    }
    args.tracking.config(args.score_threshold)?;
    args.refine.config()?;
    if let Some(path) = &args.refine.calibration {
        super::calibration::load(path)?;
    }
    Ok(())
}

impl Engine {
    /// Loads the model and builds every stage the options ask for (the slow part of a start).
    /// Sets up rayon's global pool (`--threads`): call once per process.
    pub(crate) fn build(mut args: RunArgs) -> Result<Engine> {
        check_settings(&args)?;
        let tracker = args.tracking.config(args.score_threshold)?;
        let mut refine = args.refine.config()?;
        let calibration = args.refine.calibration.as_deref().map(super::calibration::load).transpose()?;
        if let Some((profile, _)) = &calibration {
            let given = std::mem::take(&mut args.export.thresholds);
            args.export.thresholds = super::calibration::level_specs(profile).into_iter().chain(given).collect();
        }
        let stride = args.tracking.stride as usize;
        let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
        if args.threads > usable {
            tracing::warn!("--threads {}: this process may use {usable} cores; using {usable} threads", args.threads);
            args.threads = usable;
        }
        if args.threads > 0 {
            rayon::ThreadPoolBuilder::new()
                .num_threads(args.threads)
                .build_global()
                .map_err(|e| Error::Usage(format!("--threads: {e}")))?;
        }

        let model_path = model_path(args.model.as_deref());
        let spec = ModelSpec::load(&model_path)?;
        let classes = match args.classes.as_slice() {
            [] if args.export.labels.is_none() => spec.default_class_indices(),
            [] => Vec::new(), // --labels decides
            [all] if all == "all" => Vec::new(),
            named => spec.class_indices(named)?,
        };
        // What report.json records: the classes actually kept, by name ("all", or none when
        // --labels decides).
        let class_names: Vec<String> = match (classes.is_empty(), args.export.labels.is_some()) {
            (true, false) => vec!["all".into()],
            (true, true) => Vec::new(),
            (false, _) => classes.iter().map(|&i| spec.class_name(i).to_string()).collect(),
        };
        let route = args.export.route_options(&spec)?;
        if let (Some((profile, _)), Some(path)) = (&calibration, &args.refine.calibration) {
            refine.guideline = super::calibration::rules_by_class(profile, path, &spec, &route.labels)?;
        }
        let export = args.export.export_options(&classes, &args.out);
        let runtime = load_runtime(args.ort_lib.as_deref())?;
        let request = DeviceRequest {
            all: args.device,
            preprocess: args.preprocess_device,
            infer: args.infer_device,
            postprocess: args.postprocess_device,
            decode: args.decode_device,
        };
        prelabel::devices::check_decode(&request)?;
        let detector = Detector::new(&spec, request.infer(), args.threads, args.ort_lib.as_deref())?;
        tracing::info!("model {} on {} (ONNX Runtime {} from {})", spec.name, detector.device, runtime.version, runtime.library.display());
        // The tracker needs the low-score detections too (see TrackingArgs).
        let filter = Filter { score_threshold: args.score_threshold.min(tracker.low), classes, max_detections: args.max_detections };
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
        let batch_size = match args.batch_size {
            0 => detector.auto_batch_size(),
            n => n,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = match args.jobs {
            0 => prelabel::pipeline::auto_jobs(detector.execution_provider == prelabel::infer::CUDA_PROVIDER, cores),
            n => n,
        };
        tracing::debug!("{jobs} videos in flight ({cores} cores)");
        let mut formats = args.formats.clone();
        formats.dedup();
        let tiles = Tiling {
            config: TileConfig::new(args.tiles, args.tile_overlap)
                .and_then(|c| c.with_probe_every(args.tile_probe_every))
                .map_err(Error::Usage)?,
            merge: MergeParams::for_model(&spec, args.max_detections),
        };

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
            settings: Settings {
                device_requested: args.device,
                score_threshold: args.score_threshold,
                classes: class_names,
                max_detections: args.max_detections,
                batch_size,
                jobs,
                threads: args.threads,
                formats: formats.clone(),
                stride,
                tiles: match args.tile_probe_every {
                    prelabel::tile::PROBE_EVERY => format!("{:?}, overlap {}", args.tiles, args.tile_overlap),
                    n => format!("{:?}, overlap {}, probe every {n}", args.tiles, args.tile_overlap),
                },
                tracker,
                refine: refine.clone(),
                labels: args.export.labels.clone(),
                accept_score: args.export.accept_score,
                drop_score: args.export.drop_score,
                thresholds: args.export.thresholds.clone(),
                yolo_track_ids: args.export.yolo_track_ids,
                web_video: args.export.web_video,
                video_url: args.export.video_url.clone(),
                preview: args.job.preview,
            },
            shard: None,
            assigned: Vec::new(),
            options: OptionsReport {
                calibration_sha256: calibration.as_ref().map(|(_, sha)| sha.clone()),
                ..options_report(&args.job.effective)
            },
            videos: Vec::new(),
            totals: Default::default(),
            model_batches: None,
        };
        let model = ModelPrint::new(&spec.name, &spec.onnx_path(), &spec.path)?;
        Ok(Engine {
            decode: request.decode(),
            args,
            spec,
            detector,
            shaders,
            formats,
            stride,
            tracker,
            refine,
            route,
            export,
            tiles,
            batch_size,
            jobs,
            report,
            model,
        })
    }

    /// The settings that change labels, hashed as the video manifests record them.
    pub(crate) fn settings_print(&self) -> SettingsPrint {
        SettingsPrint::new(&self.report.settings)
    }

    /// A job over this engine writing into `out_dir` (this worker's `shard` of the inputs).
    pub(crate) fn job(&mut self, out_dir: PathBuf, overwrite: bool, shard: Option<Shard>, claim_timeout: Duration) -> BatchJob<'_> {
        BatchJob {
            pipeline: Pipeline::new(&self.spec, &mut self.detector, &mut self.shaders.preparer, &mut self.shaders.postprocess)
                .batch_size(self.batch_size)
                .formats(&self.formats)
                .stride(self.stride)
                .tracker(self.tracker)
                .refine(self.refine.clone())
                .route(self.route.clone())
                .export(self.export.clone())
                .tiles(self.tiles)
                .decode(self.decode)
                .preview(self.args.job.preview),
            out_dir,
            overwrite,
            model: self.model.clone(),
            shard,
            claim_timeout,
            report: self.report.clone(),
            jobs: self.jobs,
        }
    }
}
