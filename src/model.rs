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
    /// Keep the aspect ratio, centre the frame, pad with grey (114) (YOLO convention).
    Letterbox,
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
    /// Per-channel (R, G, B) normalisation: value = (pixel / 255 - mean) / std.
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Element type of the input tensor: `f32` (default) or `f16`. An `f16` model gets its
    /// batch in [`crate::types::Batch::data_f16`] instead of `data`.
    #[serde(default)]
    pub dtype: DType,
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
    /// TF Object Detection API SSD raw head: box encodings [N,A,1,4] (ty,tx,th,tw), class logits
    /// [N,A,C] with class 0 = background, anchors [A,4] (ymin,xmin,ymax,xmax) normalised.
    Ssd { boxes: String, logits: String, anchors: String, scales: [f32; 4], nms_iou: f32 },
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
    /// NMS inside the model, separate tensors: boxes [N,K,4], scores [N,K], classes [N,K]
    /// (float or int), optional count [N].
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
pub const DEFAULT_CLASSES: [&str; 6] = ["person", "bicycle", "car", "motorcycle", "bus", "truck"];

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
    pub fn is_reportable(&self, index: u32) -> bool {
        match self.classes.get(index as usize) {
            Some(name) => !name.is_empty() && name != "background" && name != "N/A",
            None => false,
        }
    }

    pub fn class_name(&self, index: u32) -> &str {
        self.classes.get(index as usize).map(String::as_str).unwrap_or("unknown")
    }

    /// The classes a run keeps when not told otherwise: those of [`DEFAULT_CLASSES`] the model
    /// has, or every class (empty) when it has none of them.
    pub fn default_class_indices(&self) -> Vec<u32> {
        DEFAULT_CLASSES.iter().filter_map(|name| self.classes.iter().position(|c| c == name).map(|i| i as u32)).collect()
    }

    /// Resolves class names or indices given on the command line to class indices.
    pub fn class_indices(&self, wanted: &[String]) -> Result<Vec<u32>> {
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
