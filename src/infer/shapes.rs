//! The model's declared output tensors against its description: each decoder kind of
//! [`OutputSpec`] names tensors of given ranks and sizes (see the variants' docs); a model
//! whose outputs differ is refused when it loads, before any video is read, rather than
//! failing or mis-decoding in postprocess.

use std::collections::HashMap;

use crate::model::{ModelSpec, OutputSpec};

/// Output tensor shapes as the model declares them (-1 = dynamic).
struct OutputShapes<'a>(&'a HashMap<String, Vec<i64>>);

impl OutputShapes<'_> {
    fn get(&self, name: &str) -> Result<&Vec<i64>, String> {
        self.0.get(name).ok_or_else(|| {
            let mut have: Vec<&String> = self.0.keys().collect();
            have.sort();
            format!("no output named '{name}' (it has {have:?})")
        })
    }
    /// A declared dimension matches `want` when equal or dynamic.
    fn dim_is(&self, dim: i64, want: i64) -> bool {
        dim < 0 || want < 0 || dim == want
    }
}

/// Checks the model's declared outputs against what its description's decoder needs.
pub(super) fn check_output_shapes(spec: &ModelSpec, outputs: &HashMap<String, Vec<i64>>) -> Result<(), String> {
    let o = OutputShapes(outputs);
    let classes = spec.classes.len();
    match &spec.output {
        OutputSpec::Ssd { boxes, logits, anchors, .. } => ssd(&o, boxes, logits, anchors, classes),
        OutputSpec::Nanodet { scores, boxes, reg_max, .. } => nanodet(&o, scores, boxes, classes, *reg_max as i64),
        OutputSpec::Yolov5 { output, .. } => yolov5(&o, output, classes),
        OutputSpec::Yolov8 { output, .. } => yolov8(&o, output, classes),
        OutputSpec::End2end { output, .. } => end2end_packed(&o, output),
        OutputSpec::End2endSplit { boxes, scores, classes, .. } => end2end_split(&o, boxes, scores, classes),
    }
}

fn ssd(o: &OutputShapes, boxes: &str, logits: &str, anchors: &str, classes: usize) -> Result<(), String> {
    let b = o.get(boxes)?;
    let l = o.get(logits)?;
    let a = o.get(anchors)?;
    if b.len() != 4 || !o.dim_is(b[3], 4) {
        return Err(format!("'{boxes}' has shape {b:?}, expected box encodings [N, A, 1, 4]"));
    }
    if l.len() != 3 || !o.dim_is(l[2], classes as i64) {
        return Err(format!("'{logits}' has shape {l:?}, expected class logits [N, A, {classes}] ({classes} classes listed)"));
    }
    if a.len() != 2 || !o.dim_is(a[1], 4) {
        return Err(format!("'{anchors}' has shape {a:?}, expected anchors [A, 4]"));
    }
    if !o.dim_is(b[1], a[0]) || !o.dim_is(l[1], a[0]) {
        return Err(format!("anchor counts differ: boxes {b:?}, logits {l:?}, anchors {a:?}"));
    }
    Ok(())
}

fn nanodet(o: &OutputShapes, scores: &str, boxes: &str, classes: usize, reg_max: i64) -> Result<(), String> {
    let s = o.get(scores)?;
    let b = o.get(boxes)?;
    if s.len() != 3 || !o.dim_is(s[2], classes as i64) {
        return Err(format!("'{scores}' has shape {s:?}, expected class scores [N, A, {classes}] ({classes} classes listed)"));
    }
    let sides = 4 * (reg_max + 1);
    if b.len() != 3 || !o.dim_is(b[2], sides) {
        return Err(format!("'{boxes}' has shape {b:?}, expected side distributions [N, A, {sides}] (reg_max {reg_max})"));
    }
    Ok(())
}

fn yolov5(o: &OutputShapes, name: &str, classes: usize) -> Result<(), String> {
    let s = o.get(name)?;
    if s.len() != 3 || !o.dim_is(s[2], 5 + classes as i64) {
        return Err(format!("'{name}' has shape {s:?}, expected YOLOv5 [N, A, {}] (5 + {classes} classes)", 5 + classes));
    }
    Ok(())
}

fn yolov8(o: &OutputShapes, name: &str, classes: usize) -> Result<(), String> {
    let s = o.get(name)?;
    if s.len() != 3 || !o.dim_is(s[1], 4 + classes as i64) {
        return Err(format!("'{name}' has shape {s:?}, expected YOLOv8 [N, {}, A] (4 + {classes} classes)", 4 + classes));
    }
    Ok(())
}

fn end2end_packed(o: &OutputShapes, name: &str) -> Result<(), String> {
    let s = o.get(name)?;
    if s.len() != 3 || !o.dim_is(s[2], 6) {
        return Err(format!("'{name}' has shape {s:?}, expected end-to-end detections [N, K, 6]"));
    }
    Ok(())
}

fn end2end_split(o: &OutputShapes, boxes: &str, scores: &str, classes: &str) -> Result<(), String> {
    let b = o.get(boxes)?;
    let s = o.get(scores)?;
    let c = o.get(classes)?;
    if b.len() != 3 || !o.dim_is(b[2], 4) {
        return Err(format!("'{boxes}' has shape {b:?}, expected boxes [N, K, 4]"));
    }
    if s.len() != 2 || c.len() != 2 {
        return Err(format!("'{scores}' {s:?} and '{classes}' {c:?} must both be [N, K]"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn ssd_outputs_against_the_bundled_description() {
        let spec = ModelSpec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ssd_mobilenet_v2_coco.toml")).unwrap();
        let shapes = |logits: Vec<i64>| {
            HashMap::from([
                ("concat:0".to_string(), vec![-1, 1917, 1, 4]),
                ("concat_1:0".to_string(), logits),
                ("Concatenate/concat:0".to_string(), vec![1917, 4]),
            ])
        };
        assert_eq!(check_output_shapes(&spec, &shapes(vec![-1, 1917, 91])), Ok(()));
        let e = check_output_shapes(&spec, &shapes(vec![-1, 1917, 80])).unwrap_err();
        assert!(e.contains("91 classes"), "{e}");
        let e = check_output_shapes(&spec, &shapes(vec![-1, 1000, 91])).unwrap_err();
        assert!(e.contains("anchor counts differ"), "{e}");
        let e = check_output_shapes(&spec, &HashMap::new()).unwrap_err();
        assert!(e.contains("no output named 'concat:0'"), "{e}");
    }
}
