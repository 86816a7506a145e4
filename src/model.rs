//! Model description files (`models/*.toml`): everything the pipeline must know about an ONNX
//! detector that the ONNX file itself does not say: input size, layout and normalisation, which
//! output decoder to use, class names, licence and provenance.
//!
//! The `.onnx` file sits next to its description (`file = ...`, relative to the `.toml`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    /// ONNX file, relative to the description file.
    pub file: PathBuf,
    #[serde(default)]
    pub licence: String,
    #[serde(default)]
    pub provenance: String,
    pub input: InputSpec,
    pub output: OutputSpec,
    /// Class names indexed by the model's class index. Entries named `background` or `N/A`
    /// are never reported.
    pub classes: Vec<String>,
    /// Where this description was read from (filled in by [`ModelSpec::load`]).
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nhwc,
    Nchw,
}

/// How a frame is fitted into the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    /// Scale each axis independently (SSD was trained this way).
    #[default]
    Stretch,
    /// Keep the aspect ratio, centre the frame, pad with `pad` (YOLO convention).
    Letterbox,
    /// Keep the aspect ratio, frame at the top-left corner, pad right and bottom with `pad`
    /// (NanoDet's convention).
    #[serde(rename = "letterbox_top_left")]
    LetterboxTopLeft,
}

/// Order of the three colour planes the model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    #[default]
    Rgb,
    /// OpenCV-trained models (NanoDet): blue first.
    Bgr,
}

/// For models whose input height and width are free (symbolic in the ONNX file): how each
/// video's input size follows its frame size, so that a wide frame is not squashed into a
/// square or padded by half. See `InputSpec::for_frame`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitSpec {
    /// Input width and height are multiples of this (the model's largest stride).
    pub multiple: u32,
    /// About this many input pixels (width x height) per model call...
    pub pixels: u32,
    /// ...unless that shrinks the frame more than this along its sides: then as many as keep
    /// it to this shrink, up to `max_pixels`. A 1080p frame into 416x320's pixels is shrunk 4x
    /// and its far people get too small; one larger input costs less than the tiles that
    /// would otherwise find them (each a whole model call). Default: never larger.
    #[serde(default = "no_growth")]
    pub max_shrink: f32,
    #[serde(default)]
    pub max_pixels: u32,
}

fn no_growth() -> f32 {
    f32::INFINITY
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    #[serde(default)]
    pub resize: ResizeMode,
    /// Letterbox padding as a 0..255 pixel value, before normalisation.
    #[serde(default = "default_pad")]
    pub pad: f32,
    /// Channel order of the input tensor.
    #[serde(default)]
    pub channels: Channels,
    /// Input size chosen per video from its frame size (`width` x `height` is then the size
    /// for the first call, before any frame is seen, e.g. a GPU warm-up).
    #[serde(default)]
    pub fit: Option<FitSpec>,
    /// Per-channel (R, G, B, whatever `channels` says) normalisation:
    /// value = (pixel / 255 - mean) / std.
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Element type of the input tensor: `f32` (default) or `f16`. An `f16` model gets its
    /// batch in [`crate::types::Batch::data_f16`] instead of `data`.
    #[serde(default)]
    pub dtype: DType,
}

fn default_pad() -> f32 {
    114.0
}

impl InputSpec {
    /// The input this model takes for `frame_w` x `frame_h` frames: itself when its size is
    /// fixed; with `fit`, about `pixels` input pixels (more for large frames, see
    /// [`FitSpec::max_shrink`]) in the frame's shape: the longer side
    /// rounded to the nearest multiple, the shorter side the multiple that covers the frame at
    /// that scale (so the letterbox pads less than one multiple), neither more than the frame
    /// itself rounded up. 640x480 -> 416x320, 1920x1080 -> 480x288 at 416x320's pixels
    /// (768x448 with a `max_shrink` of 2.5).
    /// Every region of a frame (its tiles too) is letterboxed into this one size, so one
    /// frame size is one batch shape.
    pub(crate) fn for_frame(&self, frame_w: u32, frame_h: u32) -> InputSpec {
        let Some(fit) = self.fit else { return self.clone() };
        let m = fit.multiple.max(1) as f64;
        let (fw, fh) = (frame_w.max(1) as f64, frame_h.max(1) as f64);
        let (long, short) = (fw.max(fh), fw.min(fh));
        let ratio = long / short;
        let cap = |side: f64| (side / m).ceil().max(1.0) * m;
        let keep_shrink = fw * fh / (fit.max_shrink as f64).powi(2);
        let pixels = keep_shrink.min(fit.max_pixels as f64).max(fit.pixels as f64);
        let l = ((pixels * ratio).sqrt() / m).round().max(1.0) * m;
        let l = l.min(cap(long));
        let s = cap(l / ratio).min(cap(short));
        let (w, h) = if fw >= fh { (l, s) } else { (s, l) };
        InputSpec { width: w as u32, height: h as u32, ..self.clone() }
    }
}

/// Element type of a model input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    #[default]
    F32,
    F16,
}

/// How the model's raw outputs turn into boxes. Coordinates of YOLO and end-to-end models are
/// in model-input pixels; SSD boxes are normalised.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OutputSpec {
    /// TF Object Detection API SSD raw head: box encodings \[N,A,1,4\] (ty,tx,th,tw), class logits
    /// \[N,A,C\] with class 0 = background, anchors \[A,4\] (ymin,xmin,ymax,xmax) normalised.
    Ssd { boxes: String, logits: String, anchors: String, scales: [f32; 4], nms_iou: f32 },
    /// NanoDet (GFL head): class scores [N, A, C], already sigmoided, and box side
    /// distributions [N, A, 4 * (reg_max + 1)] (left, top, right, bottom, each a softmax over
    /// `reg_max + 1` bins in units of the stride); cells of each stride in `strides` order,
    /// row-major over the input's `ceil(H / s) x ceil(W / s)` grid.
    Nanodet { scores: String, boxes: String, strides: Vec<u32>, reg_max: u32, nms_iou: f32 },
    /// YOLOv5/v7 style [N, A, 5+C]: cx, cy, w, h, objectness, class scores.
    Yolov5 { output: String, nms_iou: f32 },
    /// YOLOv8/YOLO11 style [N, 4+C, A]: cx, cy, w, h, class scores.
    Yolov8 { output: String, nms_iou: f32 },
    /// NMS inside the model, one tensor [N, K, 6]: x1, y1, x2, y2, score, class.
    End2end {
        output: String,
        #[serde(default)]
        normalized: bool,
    },
    /// NMS inside the model, separate tensors: boxes \[N,K,4\], scores \[N,K\], classes \[N,K\]
    /// (float or int), optional count \[N\].
    End2endSplit {
        boxes: String,
        scores: String,
        classes: String,
        #[serde(default)]
        count: Option<String>,
        /// Box order inside `boxes`.
        box_order: BoxOrder,
        #[serde(default)]
        normalized: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxOrder {
    Xyxy,
    Yxyx,
}

/// What a run labels unless `--classes` says otherwise: people and road vehicles. A COCO
/// detector also reports 74 other classes (ties, kites, sports balls, dining tables ...);
/// on client footage they are mostly scenery it mistakes for objects (a truck on a billboard,
/// a round sign as a ball), and every such track is one an annotator must find and delete.
pub(crate) const DEFAULT_CLASSES: [&str; 6] = ["person", "bicycle", "car", "motorcycle", "bus", "truck"];

impl ModelSpec {
    /// Reads and checks a description file.
    pub fn load(path: &Path) -> Result<ModelSpec> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Model(format!("cannot read model description {}: {e}", path.display())))?;
        let mut spec: ModelSpec = toml::from_str(&text).map_err(|e| Error::Model(format!("{}: {}", path.display(), e.message())))?;
        spec.path = path.to_path_buf();
        spec.check()?;
        Ok(spec)
    }

    /// The ONNX file this description points at.
    pub fn onnx_path(&self) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join(&self.file)
    }

    /// Whether class `index` is a real object class (not background, a gap, or out of range).
    pub(crate) fn is_reportable(&self, index: u32) -> bool {
        match self.classes.get(index as usize) {
            Some(name) => !name.is_empty() && name != "background" && name != "N/A",
            None => false,
        }
    }

    pub(crate) fn class_name(&self, index: u32) -> &str {
        self.classes.get(index as usize).map(String::as_str).unwrap_or("unknown")
    }

    /// The classes a run keeps when not told otherwise: those of `DEFAULT_CLASSES` the model
    /// has, or every class (empty) when it has none of them.
    pub fn default_class_indices(&self) -> Vec<u32> {
        DEFAULT_CLASSES.iter().filter_map(|name| self.classes.iter().position(|c| c == name).map(|i| i as u32)).collect()
    }

    /// Resolves class names or indices given on the command line to class indices.
    pub(crate) fn class_indices(&self, wanted: &[String]) -> Result<Vec<u32>> {
        wanted
            .iter()
            .map(|w| {
                if let Some(i) = self.classes.iter().position(|c| c == w) {
                    return Ok(i as u32);
                }
                match w.parse::<u32>() {
                    Ok(i) if self.is_reportable(i) => Ok(i),
                    _ => Err(Error::Usage(format!("unknown class '{w}' for model {} (try e.g. person, car, bicycle)", self.name))),
                }
            })
            .collect()
    }

    fn check(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Model(format!("{}: {msg}", self.path.display())));
        if self.input.width == 0 || self.input.height == 0 {
            return bad("input width and height must be positive".into());
        }
        if self.input.std.contains(&0.0) {
            return bad("input std must not be 0".into());
        }
        if let Some(fit) = self.input.fit {
            if fit.multiple == 0 || fit.pixels < fit.multiple * fit.multiple || fit.max_shrink.is_nan() || fit.max_shrink < 1.0 {
                return bad("input fit needs a multiple above 0, pixels of at least one multiple squared, max_shrink of 1 or more".into());
            }
        }
        if let OutputSpec::Nanodet { strides, reg_max, .. } = &self.output {
            if strides.is_empty() || strides.contains(&0) || *reg_max == 0 {
                return bad("a nanodet output needs strides above 0 and reg_max above 0".into());
            }
        }
        if self.classes.is_empty() {
            return bad("classes must list at least one name".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_default_model_description_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ssd_mobilenet_v2_coco.toml");
        let spec = ModelSpec::load(&path).unwrap();
        assert_eq!(spec.classes.len(), 91);
        assert_eq!(spec.class_name(1), "person");
        assert!(!spec.is_reportable(0));
        assert_eq!(spec.class_indices(&["person".into(), "3".into()]).unwrap(), vec![1, 3]);
        assert!(spec.class_indices(&["unicorn".into()]).is_err());
        assert!(matches!(spec.output, OutputSpec::Ssd { .. }));
        // People and road vehicles by default, at their COCO (91-class) indices.
        assert_eq!(spec.default_class_indices(), vec![1, 2, 3, 4, 6, 8]);
        let names: Vec<&str> = spec.default_class_indices().iter().map(|&i| spec.class_name(i)).collect();
        assert_eq!(names, DEFAULT_CLASSES);
    }

    #[test]
    fn nanodet_description_parses_and_fits_each_frame_shape() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nanodet_g_coco.toml");
        let spec = ModelSpec::load(&path).unwrap();
        assert_eq!(spec.classes.len(), 80);
        assert_eq!(spec.class_name(0), "person");
        assert_eq!(spec.default_class_indices(), vec![0, 1, 2, 3, 5, 7]);
        assert!(matches!(spec.output, OutputSpec::Nanodet { reg_max: 10, .. }));
        assert_eq!((spec.input.channels, spec.input.resize, spec.input.pad), (Channels::Bgr, ResizeMode::LetterboxTopLeft, 0.0));
        let size = |w, h| {
            let i = spec.input.for_frame(w, h);
            (i.width, i.height)
        };
        // The shared sequences' shapes: 4:3, 16:9, KITTI's 3.3:1, and portrait.
        assert_eq!(size(640, 480), (320, 256));
        assert_eq!(size(768, 576), (320, 256));
        // 1080p would be shrunk 6x at 320x256's pixels: the input grows to keep it at 2.5x.
        assert_eq!(size(1920, 1080), (768, 448));
        assert_eq!(size(1224, 370), (512, 160));
        // 4K stops growing at max_pixels (and is tiled instead).
        assert_eq!(size(3840, 2160), (864, 512));
        assert_eq!(size(480, 640), (256, 320));
        // Never larger than the frame (rounded up to the stride), even for tiny videos.
        assert_eq!(size(100, 60), (128, 64));
        assert_eq!(size(1, 1), (32, 32));
        // A fixed-size model keeps its size.
        let ssd = ModelSpec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ssd_mobilenet_v2_coco.toml")).unwrap();
        assert_eq!(ssd.input.for_frame(1920, 1080).width, 300);
    }

    #[test]
    fn default_classes_are_those_the_model_has_or_all() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ssd_mobilenet_v2_coco.toml");
        let mut spec = ModelSpec::load(&path).unwrap();
        spec.classes = vec!["background".into(), "car".into(), "dog".into(), "person".into()];
        assert_eq!(spec.default_class_indices(), vec![3, 1], "in DEFAULT_CLASSES order");
        // A model with none of them (a face or defect detector) keeps all its classes: empty.
        spec.classes = vec!["face".into(), "mask".into()];
        assert!(spec.default_class_indices().is_empty());
    }

    #[test]
    fn unknown_decoder_kind_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.toml");
        std::fs::write(
            &p,
            r#"name = "x"
file = "x.onnx"
classes = ["a"]
[input]
name = "in"
width = 32
height = 32
layout = "nchw"
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
[output]
kind = "detr"
"#,
        )
        .unwrap();
        let err = ModelSpec::load(&p).unwrap_err().to_string();
        assert!(err.contains("unknown variant `detr`"), "{err}");
    }
}
