//! prelabel: raw video in, draft labels out.
//!
//! One module per pipeline stage, all speaking the types in [`types`]. Data flows one way,
//! down this table: no stage imports a later one (`tests/architecture.rs` checks it).
//!
//! | stage | module | takes | gives | runs on |
//! |---|---|---|---|---|
//! | 1 | [`decode`] | video file | [`types::Frame`] | CPU (ffmpeg) |
//! | 2 | [`preprocess`] | frames (whole, or [`tile`] regions) | [`types::Batch`] | CPU (rayon) or wgpu (`shaders/preprocess.wgsl`) |
//! | 3 | [`infer`] | batch | raw output tensors ([`types::RawOutputs`]) | GPU (CUDA) or CPU (ONNX Runtime) |
//! | 4 | [`postprocess`] | raw outputs | [`types::FrameDetections`] | CPU or wgpu (`shaders/ssd_decode.wgsl`, `shaders/nms.wgsl`) |
//! | 5 | [`track`] | detections of the detector frames (and the frames' pixels, for each box's colours) | [`types::Track`]s, dense, with keyframes ([`track::Tracked`]) | CPU |
//! | 6 | [`refine`] | the tracker's [`types::Track`]s of the whole video, the detector frames, [`refine::RefineConfig`] (steps) | refined [`types::Track`]s: long gaps cut, stitched, turns back at picture edges cut, deduplicated, weak ones dropped, crossings untangled, smoothed, never-moving ones marked `stationary`; with `--calibration`, drawn as a client's guideline draws them ([`refine::guideline`]) | CPU |
//! | 7 | [`route`] | tracks ([`types::VideoLabels`]), [`route::RouteOptions`] (labels, thresholds) | [`route::Routed`]: kept tracks with review bands, the review queue | CPU |
//! | 8 | [`export`] | [`route::Routed`] | COCO / CVAT / Label Studio / MOT / YOLO files, `review.json` | CPU |
//! | 9 | [`render`] | [`route::Routed`] and the video, decoded a second time (`--preview`) | `preview.mp4` (every box drawn; [`render::Mp4Writer`] writes H.264 MP4), `review.png` (contact sheet of the review queue) | CPU (imageproc, ffmpeg) |
//!
//! [`pipeline`] wires the stages for one video, [`batch`] runs many videos as one job
//! and accounts for it in `report.json` ([`batch::report`]),
//! [`model`] reads model description files and [`eval`] scores labels against ground truth.
//! [`labels`] maps model classes to project labels (routing keeps and renames by it, export
//! writes its names and ids); [`units`] holds the frame time and score rounding routing and
//! export share; [`files`] writes output files whole (write, then rename) and names the ones
//! several stages know; [`yuv`] converts decoder planes to RGB (for preprocess and track).
//! [`devices`] picks the device of each stage; [`gpu`] holds the one wgpu device they share.
//! [`bundle`] packs the program, its libraries and a model into a relocatable folder;
//! [`fingerprint`] spells the SHA-256 fingerprints it and the video manifests write.
//! [`serve`] answers Label Studio as an ML backend (`prelabel serve`), labelling through the
//! same batch job as `prelabel run`.
//! [`tile`] cuts large frames into overlapping tiles for small objects (between decode and
//! preprocess) and merges the tiles' detections back per frame (after postprocess).

pub mod batch;
pub mod bundle;
pub mod decode;
pub mod devices;
pub mod error;
pub mod eval;
pub mod export;
pub mod files;
pub mod fingerprint;
pub mod gpu;
pub mod infer;
pub mod labels;
pub mod model;
pub mod pipeline;
pub mod postprocess;
pub mod preprocess;
pub mod refine;
pub mod render;
pub mod route;
pub mod serve;
pub mod tile;
pub mod track;
pub mod types;
pub mod units;
pub mod yuv;
