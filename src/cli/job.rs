//! From `prelabel run`'s options (flags and `--config` files, already merged into [`RunArgs`])
//! to the library's [`JobSettings`]. `run` and `serve` both come through here, then set up
//! with [`prelabel::batch::Labeler::build`], so a video labelled by `serve` gets exactly the
//! files `run` would write with the same options.

use super::args::RunArgs;
use super::{config, model_path};
use prelabel::batch::report::OptionsReport;
use prelabel::batch::JobSettings;
use prelabel::devices::DeviceRequest;
use prelabel::error::Result;

/// The job's settings from `args`, checked as far as they can be without the model (so a
/// usage error comes before anything slow).
pub(crate) fn settings(args: &RunArgs) -> Result<JobSettings> {
    let tracker = args.tracking.config(args.score_threshold)?;
    let refine = args.refine.config()?;
    let e = &args.export;
    let settings = JobSettings {
        model: model_path(args.model.as_deref()),
        ort_lib: args.ort_lib.clone(),
        devices: DeviceRequest {
            all: args.device,
            preprocess: args.preprocess_device,
            infer: args.infer_device,
            postprocess: args.postprocess_device,
            decode: args.decode_device,
        },
        threads: args.threads,
        batch_size: args.batch_size,
        jobs: args.jobs,
        score_threshold: args.score_threshold,
        classes: args.classes.clone(),
        max_detections: args.max_detections,
        formats: args.formats.clone(),
        stride: args.tracking.stride as usize,
        tracker,
        refine,
        calibration: args.refine.calibration.clone(),
        labels: e.labels.clone(),
        accept_score: e.accept_score,
        drop_score: e.drop_score,
        thresholds: e.thresholds.clone(),
        tiles: args.tiles,
        tile_overlap: args.tile_overlap,
        tile_probe_every: args.tile_probe_every,
        yolo_track_ids: e.yolo_track_ids,
        web_video: e.web_video,
        video_url: e.video_url.clone(),
        preview: args.job.preview,
        claim_timeout: args.shards.claim_timeout,
        options: options_report(&args.job.effective),
    };
    settings.check()?;
    Ok(settings)
}

/// report.json's account of the options in effect.
fn options_report(e: &config::Effective) -> OptionsReport {
    OptionsReport {
        config_file: e.file.as_ref().map(|(p, _)| p.display().to_string()),
        config_sha256: e.file.as_ref().map(|(_, sha)| sha.clone()),
        calibration_sha256: None,
        values: serde_json::to_value(&e.values).unwrap_or_default(),
        from_config: e.from_file.clone(),
        from_command_line: e.from_command_line.clone(),
    }
}
