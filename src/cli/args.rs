//! The arguments of each subcommand, as clap parses them, and their checks.

use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::Args;
use prelabel::error::{Error, Result};
use prelabel::export::Format;
use prelabel::infer::DeviceChoice;
use prelabel::route::{DEFAULT_ACCEPT, DEFAULT_DROP};
use prelabel::tile::TileMode;
use prelabel::track::TrackerConfig;

#[derive(Args)]
#[command(after_help = RUN_EXAMPLES)]
pub(crate) struct RunArgs {
    /// Video files, or folders searched recursively for videos.
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
    /// Output folder: one sub-folder per video, plus report.json. A video's folder mirrors its
    /// path: a file given by name -> OUT/<file name>/ (OUT/clip.mp4/); a file found in a folder
    /// argument -> OUT/<folder name>/<path inside it>/ (camA/x/clip.mp4 -> OUT/camA/x/clip.mp4/).
    /// Odd names are percent-escaped (a leading '.', '%', bytes that are not UTF-8, job file
    /// names), long ones cut with a hash, clashes get ~<hash of the path>: never outside OUT.
    #[arg(short, long)]
    pub(crate) out: PathBuf,
    /// Model description (.toml) next to its .onnx file, or a bundled model by name:
    /// nanodet_g_coco (the default), nanodet_g_coco_int8 (CPU-only machines),
    /// ssd_mobilenet_v2_coco, ssd_mobilenet_v2_coco_int8.
    #[arg(short, long, env = "PRELABEL_MODEL")]
    pub(crate) model: Option<PathBuf>,
    /// Where the stages run. auto: the model on CUDA when ONNX Runtime and the machine have
    /// it, preprocessing in a wgpu shader on a real GPU, the rest on the CPU. gpu: every stage
    /// that has a shader runs it, on a software adapter (lavapipe) if that is all there is,
    /// and the model on CUDA, or on the CPU with a logged reason. cpu: everything on the CPU.
    #[arg(short, long, value_enum, default_value = "auto")]
    pub(crate) device: DeviceChoice,
    /// Overrides --device for preprocessing (resize, normalise: shaders/preprocess.wgsl).
    #[arg(long, value_enum, value_name = "DEVICE")]
    pub(crate) preprocess_device: Option<DeviceChoice>,
    /// Overrides --device for the model; gpu here means CUDA or fail.
    #[arg(long, value_enum, value_name = "DEVICE")]
    pub(crate) infer_device: Option<DeviceChoice>,
    /// Overrides --device for box decoding and NMS (shaders/ssd_decode.wgsl, nms.wgsl).
    #[arg(long, value_enum, value_name = "DEVICE")]
    pub(crate) postprocess_device: Option<DeviceChoice>,
    /// Overrides --device for decoding. auto: the GPU's hardware decoder (NVDEC, through
    /// ffmpeg's CUDA decoder) when the node has one, else the CPU; per video, a codec NVDEC
    /// cannot decode falls back to the CPU, and report.json says why (decoder_reason).
    /// gpu: as auto, but fail at start when there is no CUDA device. cpu: the CPU only.
    #[arg(long, value_enum, value_name = "DEVICE")]
    pub(crate) decode_device: Option<DeviceChoice>,
    /// Videos decoded at once; their frames share the model's batches, so batches fill even
    /// when each clip is short (labels are the same for any value). auto (or 0): with the model
    /// on the CPU, half the cores (at least 2, at most 8): the model takes most of the time
    /// and a second video keeps it busy while one opens or finishes; with the model on CUDA,
    /// one per core up to 16, as decoding is then what limits. Frames in flight are capped
    /// for the whole job (2 x batch + 2 x jobs), not per video.
    #[arg(short, long, value_name = "N|auto", default_value = "auto", value_parser = jobs)]
    pub(crate) jobs: usize,
    /// Detections scoring below this (0-1) never start a track; lower ones, down to
    /// --track-low, can still continue one through an occlusion.
    #[arg(short = 's', long, default_value_t = TrackerConfig::default().new_track, value_parser = fraction)]
    pub(crate) score_threshold: f32,
    /// Keep only these classes (names or indices, comma separated), e.g. person,car, or `all`.
    /// Default: person, bicycle, car, motorcycle, bus and truck (those the model has; all of
    /// its classes if it has none of them), or the classes --labels names.
    #[arg(short, long, value_delimiter = ',')]
    pub(crate) classes: Vec<String>,
    /// Most detections kept per frame (1 to 10000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000).map(|n| n as usize))]
    pub(crate) max_detections: usize,
    /// Output formats, comma separated.
    #[arg(short, long, value_enum, value_delimiter = ',', default_values_t = Format::ALL)]
    pub(crate) formats: Vec<Format>,
    /// Frames per inference call, at most 256 (0 = auto: 1 on CPU, where batching does not pay, 16 on GPU).
    #[arg(short, long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=256).map(|n| n as usize))]
    pub(crate) batch_size: usize,
    /// CPU threads for preprocessing and inference (0 = all cores; at most 1024, and never more
    /// than the cores this process may use).
    #[arg(short, long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1024).map(|n| n as usize))]
    pub(crate) threads: usize,
    /// ONNX Runtime library (libonnxruntime.so). Default: ORT_DYLIB_PATH, then the copy scripts/setup.sh installs.
    #[arg(long)]
    pub(crate) ort_lib: Option<PathBuf>,
    /// Relabel every video. By default a video is skipped when its manifest.json says the same
    /// source (size, modification time, content) was labelled with the same model and
    /// settings; otherwise it is relabelled and the log says what changed.
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Tiles for small, far-away objects: off; auto (the first 16 frames of each video are
    /// seen whole and in tiles, 2x2 or more for frames shrunk over 2.5x into the model input,
    /// again later if nearly nobody was there, see --tile-probe-every; the rest is tiled only
    /// when the tiles found at least 1.4x the boxes scored >= 0.5, or the people the whole
    /// frame found are under 40 px tall at the model's input, who then get finer tiles of about
    /// the frame's own pixels, 3x3 on 1080p: far or crowded scenes, not close-ups, whose labels
    /// then equal --tiles off); or RxC rows
    /// x columns (2x2) everywhere. The whole frame is always looked at too. Each tile costs one
    /// more model call per frame. report.json and the log say what auto chose for each video.
    #[arg(long, default_value = "auto")]
    pub(crate) tiles: TileMode,
    /// Fraction of a tile shared with its neighbour (0-0.9): objects smaller than the overlap
    /// lie whole in some tile.
    #[arg(long, default_value_t = 0.2, value_parser = |s: &str| in_range(s, 0.0, 0.9, "a fraction from 0 to 0.9"))]
    pub(crate) tile_overlap: f32,
    /// With --tiles auto: a probe that sees almost nobody (fewer than 0.5 boxes scored >= 0.5 a
    /// frame) cannot answer. If it saw anyone it goes on, 16 frames at a time, up to 64; then
    /// the frames go on whole and the video is probed again this many detector frames after
    /// the last probe began, until one answers (0: decide on the first probe). For footage
    /// that opens empty: CCTV switched on before anyone arrives.
    #[arg(long, default_value_t = prelabel::tile::PROBE_EVERY, value_name = "FRAMES")]
    pub(crate) tile_probe_every: u64,
    #[command(flatten)]
    pub(crate) tracking: TrackingArgs,
    #[command(flatten)]
    pub(crate) refine: super::refine_args::RefineArgs,
    #[command(flatten)]
    pub(crate) export: ExportArgs,
    #[command(flatten)]
    pub(crate) shards: ShardArgs,
    #[command(flatten)]
    pub(crate) job: JobArgs,
}

// ---- preview, job files and examples (--preview, --config, --print-config)

/// Worked examples at the end of `prelabel run --help`.
const RUN_EXAMPLES: &str = "Examples:
  # A folder of clips for CVAT, with a preview video and contact sheet per clip to look at first:
  prelabel run clips/ --out labels/ --formats cvat --preview
  # (labels/clips/<clip>/cvat.xml: in CVAT, create a task from the clip, Upload annotations, CVAT for video 1.1)

  # People only, the detector on every 7th frame (tracking and interpolation fill the rest):
  prelabel run cam1.mp4 --out labels/ --classes person --stride 7

  # A GPU node: the model on CUDA (fail rather than fall back to the CPU), 16 frames per call:
  prelabel run clips/ --out labels/ --device gpu --infer-device gpu --batch-size 16

  # One shard of a cluster job: task 3 of 8 labels its share of the videos into the same --out:
  prelabel run clips/ --out labels/ --shard-index 3 --shard-count 8

  # The team's settings from a file, one of them overridden; --print-config shows what is in effect:
  prelabel run clips/ --out labels/ --config client-a.toml --score-threshold 0.4 --print-config
  prelabel run clips/ --out labels/ --config client-a.toml --score-threshold 0.4

  # After annotators corrected a clip: how good were the drafts, and how much time did they save?
  prelabel eval --gt corrected/clip.xml --pred labels/clip.mp4/cvat.xml --label person";

/// What reviewers look at, and job files.
#[derive(Args, Default)]
#[command(next_help_heading = "Preview and job files")]
pub(crate) struct JobArgs {
    /// Also write preview.mp4 (the video with every box drawn: green accepted, orange to
    /// review; solid detected, dashed predicted, thin interpolated; track id and label on each
    /// box, the frame number in a corner) and review.png (one thumbnail per track to review,
    /// most uncertain first) into each video's folder. Decodes each video a second time.
    #[arg(long)]
    pub(crate) preview: bool,
    /// Read options from a TOML file whose keys are the long option names (score-threshold =
    /// 0.5, classes = "person", formats = ["cvat", "mot"], preview = true; inputs = [...]
    /// for the videos). Flags on the command line override it. report.json records the file's
    /// sha256 and every option in effect.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Print the options in effect (flags, config file, defaults) as a TOML file for --config,
    /// and exit without labelling.
    #[arg(long)]
    pub(crate) print_config: bool,
    /// The options in effect and where they came from (filled in by `config::parse_args`).
    #[arg(skip)]
    pub(crate) effective: super::config::Effective,
}

/// Most videos in flight (`--jobs`).
pub(crate) const MAX_JOBS: usize = 256;

/// `--jobs`: a count up to [`MAX_JOBS`], or `auto` (0).
fn jobs(s: &str) -> std::result::Result<usize, String> {
    match s {
        "auto" => Ok(0),
        n => match n.parse::<usize>() {
            Ok(v) if v <= MAX_JOBS => Ok(v),
            Ok(_) => Err(format!("'{n}': at most {MAX_JOBS} videos at once")),
            Err(_) => Err(format!("'{n}' is not a number of videos or 'auto'")),
        },
    }
}

/// A number from `lo` to `hi` (`what` says so in the error); never NaN or infinite.
pub(crate) fn in_range(s: &str, lo: f32, hi: f32, what: &str) -> std::result::Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && (lo..=hi).contains(&v) => Ok(v),
        Ok(_) => Err(format!("'{s}' is outside {lo}..{hi}: give {what}")),
        Err(_) => Err(format!("'{s}' is not a number: give {what}")),
    }
}

/// Scores, shares and similarities: 0 to 1.
pub(crate) fn fraction(s: &str) -> std::result::Result<f32, String> {
    in_range(s, 0.0, 1.0, "a number from 0 to 1")
}

/// IoU thresholds: above 0, at most 1 (0 would match boxes that do not touch).
pub(crate) fn positive_fraction(s: &str) -> std::result::Result<f32, String> {
    match fraction(s) {
        Ok(v) if v > 0.0 => Ok(v),
        Ok(_) => Err(format!("'{s}': give a number above 0, at most 1")),
        Err(e) => Err(e.replace("a number from 0 to 1", "a number above 0, at most 1")),
    }
}

/// Durations in seconds: 0 to a day.
pub(crate) fn seconds(s: &str) -> std::result::Result<f32, String> {
    in_range(s, 0.0, 86_400.0, "seconds, 0 or more (at most 86400)")
}

/// Tracking, stride and keyframes.
#[derive(Args)]
pub(crate) struct TrackingArgs {
    /// Run the detector on every Nth frame only (and on the last frame); tracking and
    /// interpolation fill the frames between. Every frame is still decoded and labelled.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub(crate) stride: u32,
    /// Detections scoring at least this are matched to tracks first (ByteTrack's high threshold).
    #[arg(long, default_value_t = TrackerConfig::default().high, value_parser = fraction)]
    pub(crate) track_high: f32,
    /// Detections between this and --track-high only keep existing tracks alive through
    /// occlusion; lower ones are dropped.
    #[arg(long, default_value_t = TrackerConfig::default().low, value_parser = fraction)]
    pub(crate) track_low: f32,
    /// Seconds a track may go unseen before it ends (the same at any frame rate).
    #[arg(long, value_name = "SECONDS", default_value_t = TrackerConfig::default().buffer_s, value_parser = seconds)]
    pub(crate) track_buffer: f32,
    /// Tracks spanning less than this many seconds (first to last frame) are dropped as noise.
    #[arg(long, value_name = "SECONDS", default_value_t = TrackerConfig::default().min_length_s, value_parser = seconds)]
    pub(crate) min_track_length: f32,
    /// Keyframes are chosen so that interpolating between them reproduces every box of a track
    /// with at least this IoU (above 0, at most 1; higher: more keyframes).
    #[arg(long, default_value_t = TrackerConfig::default().keyframe_iou, value_parser = positive_fraction)]
    pub(crate) keyframe_iou: f32,
    /// Do not link detections into tracks: write the detector's output as it is, each box its
    /// own one-frame track (for scoring the detector alone with `prelabel eval`).
    #[arg(long)]
    pub(crate) no_track: bool,
    /// Match tracks to detections by position only, not also by the colours of each box
    /// (which keep ids apart where people cross).
    #[arg(long)]
    pub(crate) no_appearance: bool,
    /// For footage from moving cameras (walking, driving, panning): measure how the picture
    /// moves between frames and move the tracks with it, which keeps people tracked through
    /// the shake. Off by default: on still cameras it only adds the measurement's noise.
    #[arg(long)]
    pub(crate) camera_motion: bool,
    /// Colour similarity (0-1) below which a detection never continues a track.
    #[arg(long, default_value_t = TrackerConfig::default().min_similarity, value_parser = fraction)]
    pub(crate) min_similarity: f32,
}

impl TrackingArgs {
    pub(crate) fn config(&self, score_threshold: f32) -> Result<TrackerConfig> {
        let bad = |m: String| Err(Error::Usage(m));
        if !(0.0..=1.0).contains(&self.track_low) || !(0.0..=1.0).contains(&self.track_high) || self.track_low > self.track_high {
            return bad(format!("need 0 <= --track-low ({}) <= --track-high ({}) <= 1", self.track_low, self.track_high));
        }
        let seconds_ok = |v: f32| v >= 0.0 && v.is_finite();
        if !seconds_ok(self.track_buffer) || !seconds_ok(self.min_track_length) {
            return bad("--track-buffer and --min-track-length are seconds, 0 or more".into());
        }
        if !(self.keyframe_iou > 0.0 && self.keyframe_iou <= 1.0) {
            return bad(format!("--keyframe-iou {} is outside (0, 1]", self.keyframe_iou));
        }
        Ok(TrackerConfig {
            high: self.track_high,
            low: self.track_low,
            new_track: score_threshold,
            buffer_s: self.track_buffer,
            min_length_s: self.min_track_length,
            keyframe_iou: self.keyframe_iou,
            off: self.no_track,
            appearance: !self.no_appearance,
            camera_motion: self.camera_motion,
            min_similarity: self.min_similarity,
            ..TrackerConfig::default()
        })
    }
}

/// Labels and review routing (the route stage), and the YOLO track-id column (export).
#[derive(Args)]
#[command(next_help_heading = "Labels and review")]
pub(crate) struct ExportArgs {
    /// Keep only these classes, renamed to your label names: person=pedestrian,car=vehicle
    /// (a class without =name keeps its name), or @file.txt with one mapping per line.
    #[arg(long, value_name = "MAP")]
    pub(crate) labels: Option<String>,
    /// Tracks whose mean detector score is at least this are accepted as drawn; below it they
    /// are kept, flagged needs_review and listed in review.json (0-1).
    #[arg(long, value_name = "SCORE", default_value_t = DEFAULT_ACCEPT, value_parser = fraction)]
    pub(crate) accept_score: f32,
    /// Tracks whose mean detector score is below this are dropped (0-1).
    #[arg(long, value_name = "SCORE", default_value_t = DEFAULT_DROP, value_parser = fraction)]
    pub(crate) drop_score: f32,
    /// Per-class levels overriding the two above, ACCEPT[:DROP]: person=0.7:0.4,car=0.5
    /// (class or label names).
    #[arg(long, value_name = "CLASS=A[:D]", value_delimiter = ',')]
    pub(crate) thresholds: Vec<String>,
    /// Add the track id as a sixth column to YOLO files (some importers, CVAT and datumaro
    /// among them, reject it).
    #[arg(long)]
    pub(crate) yolo_track_ids: bool,
    /// Also write OUT/<video>/video.mp4, a copy browsers play (H.264 in MP4), frame for frame
    /// with the source; a video that already is one is linked. The label files name it.
    #[arg(long)]
    pub(crate) web_video: bool,
    /// Name each video in the label files (Label Studio's data.video, CVAT's source, COCO's
    /// videos[].url) by URL: PREFIX plus the copy's path in OUT, escaped. For Label Studio's
    /// Local Files: /data/local-files/?d=<OUT relative to its document root>/ (docs/src/import.md).
    #[arg(long, value_name = "PREFIX", requires = "web_video")]
    pub(crate) video_url: Option<String>,
}

/// `prelabel eval`: which files to score and how.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    prelabel eval --gt TUD-Campus/gt/gt.txt --pred labels/TUD-Campus.mp4/mot.txt\n  \
    prelabel eval --gt a/gt/gt.txt --pred out/a/cvat.xml --gt b/gt/gt.txt --pred out/b/coco.json --label person\n  \
    prelabel eval --gt-dir MOT15/train --pred-dir labels/ --json\n\n\
    File formats by extension: .txt MOTChallenge (frames from 1; ground-truth rows with conf 0 are\n\
    not scored), .xml CVAT for video 1.1 (boxes between keyframes interpolated), .json COCO with\n\
    track_id and frame_index (prelabel's coco.json).\n\n\
    Scores: MOTA, MOTP (mean 1-IoU), IDF1/IDP/IDR, id switches, fragmentations, precision,\n\
    recall, mostly tracked/lost as py-motmetrics 1.4.0 computes them; detector AP; and an\n\
    estimate of annotator time with the drafts against labelling from scratch (keyframes every\n\
    --keyframe-step frames; see docs/src/eval.md for the model and where the costs come from).\n\
    Several videos: per video, then overall (counts summed, then ratios).")]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    pub(crate) files: PairArgs,
    /// Score only tracks of this label in CVAT and COCO files (default: all labels).
    #[arg(long)]
    pub(crate) label: Option<String>,
    /// Benchmark rules: mot15 (rows with conf 0 not scored), mot16/mot17 or mot20 (pedestrians
    /// only, after removing drafts that match static people, distractors, reflections, as the
    /// MOTChallenge evaluation does). Default: each ground-truth file decides (nine fields with
    /// a class column is MOT16/20; MOT20 by its seqinfo.ini or folder name).
    #[arg(long, value_name = "NAME", value_parser = parse_protocol)]
    pub(crate) protocol: Option<prelabel::eval::Protocol>,
    /// Score only people at least this visible (0-1), as many labelling guidelines skip people
    /// mostly hidden: MOT16/17/20 ground truth gives each person's visibility, and drafts on
    /// people less visible are removed unscored, as drafts on distractors are. Shows how much
    /// of a crowd's loss is people behind others.
    #[arg(long, value_name = "V", value_parser = fraction)]
    pub(crate) min_visibility: Option<f32>,
    /// Whose CLEAR matching MOTA follows: trackeval (the MOTChallenge evaluation) or motmetrics
    /// (py-motmetrics 1.4.0, which keeps an object's last match after a gap). They differ in a
    /// few id switches.
    #[arg(long, value_name = "NAME", default_value = "trackeval", value_parser = parse_matching)]
    pub(crate) matching: prelabel::eval::Matching,
    /// IoU a draft box needs to match a ground-truth box (above 0, at most 1).
    #[arg(long, default_value_t = 0.5, value_parser = positive_fraction)]
    pub(crate) iou: f32,
    /// Annotator time: IoU a matched draft box needs to be left as it is (default: --iou).
    #[arg(long, value_name = "IOU", value_parser = positive_fraction)]
    pub(crate) ok_iou: Option<f32>,
    /// Annotator time: frames between keyframes an annotator places.
    #[arg(long, value_name = "K", default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) keyframe_step: u64,
    /// Annotator time: seconds per action, ACTION=SECONDS,... (actions not named keep their
    /// defaults).
    #[arg(long, value_name = "LIST", default_value = "draw=34.5,adjust=7,verify=1.6,delete=3,split=5,merge=5")]
    pub(crate) costs: String,
    /// Print one JSON document (settings, per-video and overall results).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `prelabel calibrate`: which corrected videos to learn review levels from, and the targets.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    prelabel calibrate --gt a/gt/gt.txt --pred labels/a/mot.txt --gt b/gt/gt.txt --pred labels/b/mot.txt\n  \
    prelabel calibrate --gt-dir corrected/ --pred-dir labels/ --pred-name coco.json --label person,car\n  \
    prelabel calibrate --gt c/gt/gt.txt --pred labels/c/mot.txt --thresholds person=0.71:0.35\n  \
    prelabel calibrate --gt-dir corrected/ --pred-dir labels/ --pred-name coco.json --profile guide.toml\n  \
    prelabel calibrate --gt-dir checked/ --pred-dir labels/ --pred-name coco.json --check guide.toml\n\n\
    Run the drafts with every track kept (the default --drop-score 0), correct them, then calibrate.\n\
    A draft track is correct when at least half of its boxes are matched (CLEAR, at --iou) to one\n\
    ground-truth track. Its score is the file's per-track score (coco.json) or else the mean of\n\
    its box scores. accept: the lowest level whose accepted band is at least --target-precision\n\
    correct (1.0, everything to review, when none is); drop: the highest level with at most\n\
    --max-lost of the correct tracks below it. Prints --thresholds CLASS=ACCEPT:DROP for\n\
    prelabel run, and per class the tracks, correct ones, and the accepted, review and dropped\n\
    shares. With --thresholds, reports what those levels do instead of choosing.\n\n\
    --profile learns the labelling guideline too (docs: \"Calibration profiles\") and writes it\n\
    for prelabel run --calibration; each part is kept only when it lowers the errors on these\n\
    videos, and nothing is learned from fewer than 50 corrected boxes.")]
pub(crate) struct CalibrateArgs {
    #[command(flatten)]
    pub(crate) files: PairArgs,
    /// Classes to calibrate (label names in CVAT/COCO files), comma separated. MOTChallenge
    /// text has no labels: with a .txt file on either side only one class can be given, and
    /// every box counts as it.
    #[arg(long, value_delimiter = ',', default_value = "person")]
    pub(crate) label: Vec<String>,
    /// IoU a draft box needs to match a ground-truth box (above 0, at most 1).
    #[arg(long, default_value_t = 0.5, value_parser = positive_fraction)]
    pub(crate) iou: f32,
    /// Share of the accepted tracks that must be correct (0-1).
    #[arg(long, value_name = "SHARE", default_value_t = 0.95, value_parser = |s: &str| in_range(s, 0.0, 1.0, "a share from 0 to 1").map(f64::from))]
    pub(crate) target_precision: f64,
    /// Share of the correct tracks that the drop level may drop (0-1).
    #[arg(long, value_name = "SHARE", default_value_t = 0.05, value_parser = |s: &str| in_range(s, 0.0, 1.0, "a share from 0 to 1").map(f64::from))]
    pub(crate) max_lost: f64,
    /// Do not choose: report what these levels do, CLASS=ACCEPT[:DROP] as prelabel run takes
    /// them (classes not named get run's defaults, --accept-score 0.6 and --drop-score 0).
    #[arg(long, value_name = "CLASS=A[:D]", value_delimiter = ',')]
    pub(crate) thresholds: Vec<String>,
    /// Also learn the labelling guideline (smallest box, box geometry, how long a hidden
    /// person stays labelled, review levels) and write it to FILE, a calibration profile
    /// (TOML) for prelabel run --calibration FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "check")]
    pub(crate) profile: Option<PathBuf>,
    /// Do not learn a profile: report what the profile in FILE does to these videos, part by
    /// part (to check a profile on videos it was not learned from).
    #[arg(long, value_name = "FILE")]
    pub(crate) check: Option<PathBuf>,
    /// Print one JSON document (settings, per class: levels, counts, per video).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct BundleArgs {
    /// Folder to create (it must not exist). Built beside it and renamed into place when complete.
    pub(crate) dir: PathBuf,
    /// Model description (.toml) to carry with its .onnx, or a bundled model by name. Default: the bundled NanoDet-g COCO.
    #[arg(short, long, env = "PRELABEL_MODEL")]
    pub(crate) model: Option<PathBuf>,
    /// ONNX Runtime library to carry (its provider libraries come from the same folder). Default: the one `run` would load.
    #[arg(long)]
    pub(crate) ort_lib: Option<PathBuf>,
    /// Also write DIR.parts/: the bundle as a tar in pieces of at most 60 MB, with SHA256SUMS and assemble.sh.
    #[arg(long)]
    pub(crate) pieces: bool,
}

/// Which ground truth goes with which drafts: repeated `--gt`/`--pred` pairs, or a folder of
/// MOTChallenge sequences and a folder of drafts (`prelabel eval` and `prelabel calibrate`).
#[derive(Args)]
pub(crate) struct PairArgs {
    /// Ground truth (gt/gt.txt, or .xml/.json). Repeat with --pred for several videos, in order.
    #[arg(long, value_name = "FILE")]
    pub(crate) gt: Vec<PathBuf>,
    /// Drafts to score (a run's mot.txt, cvat.xml or coco.json), one per --gt.
    #[arg(long, value_name = "FILE")]
    pub(crate) pred: Vec<PathBuf>,
    /// Folder of MOTChallenge sequences: every SEQ/gt/gt.txt below it is scored against
    /// PRED_DIR/SEQ/<--pred-name> (prelabel run --out PRED_DIR names the folders so).
    #[arg(long, value_name = "DIR", requires = "pred_dir", conflicts_with_all = ["gt", "pred"])]
    pub(crate) gt_dir: Option<PathBuf>,
    /// Folder of drafts, one sub-folder per sequence (with --gt-dir).
    #[arg(long, value_name = "DIR", requires = "gt_dir")]
    pub(crate) pred_dir: Option<PathBuf>,
    /// File scored in each PRED_DIR/SEQ/ folder: mot.txt, cvat.xml or coco.json.
    #[arg(long, value_name = "NAME", default_value = "mot.txt")]
    pub(crate) pred_name: String,
    /// The detector's boxes before tracking, one per --gt (`prelabel run --no-track` labels of
    /// the same video): eval then splits missed people into never detected and dropped by
    /// tracking or refinement.
    #[arg(long, value_name = "FILE", conflicts_with = "gt_dir")]
    pub(crate) det: Vec<PathBuf>,
    /// Folder of `--no-track` runs laid out as PRED_DIR (with --gt-dir): as --det.
    #[arg(long, value_name = "DIR", requires = "gt_dir")]
    pub(crate) det_dir: Option<PathBuf>,
}

/// Shards and overlapping workers (several machines on one job; see docs/src/shards.md, "Shards and
/// resuming"). None of it is needed on one machine.
#[derive(Args)]
#[command(next_help_heading = "Shards and overlapping workers")]
pub(crate) struct ShardArgs {
    /// This worker's shard, 0 to --shard-count - 1. Default: $SLURM_ARRAY_TASK_ID, else
    /// $JOB_COMPLETION_INDEX (Kubernetes Indexed Job), when --shard-count is given.
    #[arg(long, value_name = "I")]
    pub(crate) shard_index: Option<u32>,
    /// Split the inputs into N shards and label only this worker's: a video belongs to shard
    /// sha256(its output folder) mod N, so adding files never moves others. Always from this
    /// flag, never from the environment (a resubmitted Slurm task sees a count of 1). Each
    /// shard writes report.shard-I-of-N.json; `prelabel report OUT` merges them.
    #[arg(long, value_name = "N")]
    pub(crate) shard_count: Option<u32>,
    /// A video being labelled is claimed in OUT/.claims/ with a heartbeat; a claim whose
    /// heartbeat is older than this (or whose process on this host has ended) is taken over.
    /// Workers skip videos another live worker holds. 90s, 10m, 1h, or seconds.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub(crate) claim_timeout: std::time::Duration,
}

fn parse_matching(s: &str) -> std::result::Result<prelabel::eval::Matching, String> {
    match s {
        "trackeval" => Ok(prelabel::eval::Matching::TrackEval),
        "motmetrics" => Ok(prelabel::eval::Matching::Motmetrics),
        _ => Err(format!("{s:?}: give trackeval or motmetrics")),
    }
}

fn parse_protocol(s: &str) -> std::result::Result<prelabel::eval::Protocol, String> {
    prelabel::eval::Protocol::parse(s).ok_or_else(|| format!("{s:?}: give one of {}", prelabel::eval::Protocol::NAMES.join(", ")))
}

/// `90`, `90s`, `10m`, `1h`, `1.5h`.
fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{s:?}: give a number with s, m or h (90s, 10m, 1h)")),
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(std::time::Duration::from_secs_f64(v * scale)),
        _ => Err(format!("{s:?}: give a positive number with s, m or h (90s, 10m, 1h)")),
    }
}

/// `prelabel report`: which job to summarise.
#[derive(Args)]
#[command(after_help = "Exit status (for a scheduler):\n  \
    0  complete: every video of the job is labelled\n  \
    2  finished, but some videos failed or are partial (the table names them; running their\n     \
       shards again retries the failed ones)\n  \
    3  incomplete: videos still missing (not reached, interrupted, claimed by a worker that\n     \
       has not finished) or shards that never wrote a report: run the shards it lists again\n  \
    1  no report found, or DIR cannot be read\n\n\
    A video counts as done when its folder holds its manifest.json, whichever worker made it.\n\
    The job's videos are the union of the `assigned` lists of the shard reports of the most\n\
    recent shard count.")]
pub(crate) struct ReportArgs {
    /// The --out folder of the job.
    pub(crate) dir: PathBuf,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
}
