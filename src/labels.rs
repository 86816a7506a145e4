//! Class mapping (`--labels`): takes the model's class names and a mapping such as
//! `person=pedestrian,car=vehicle` (or `@file.txt`, one mapping per line), gives a
//! [`LabelSet`]: the labels every output file declares, and which model class becomes which
//! label. Classes not listed are dropped from every output. Runs on the CPU, once per job.
//!
//! Without a mapping every reportable class of the model is kept under its own name. Label ids
//! (COCO `category_id`) then follow the model: its class index when class 0 is `background`
//! (COCO-91 ids for the bundled model, person = 1), else index + 1, so files written with and
//! without this module stay comparable. With a mapping, ids are 1, 2, ... in the order labels
//! first appear in it; several classes may share one label (`car=vehicle,truck=vehicle`).

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::model::ModelSpec;

/// One label as written into the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// COCO category id (>= 1).
    pub id: u32,
    pub name: String,
}

/// The labels of a job and the class -> label table, resolved against one model.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelSet {
    labels: Vec<Label>,
    by_class: HashMap<u32, usize>,
}

impl LabelSet {
    /// Every reportable class of `model`, under its own name.
    pub fn all(model: &ModelSpec) -> LabelSet {
        let offset = if model.classes.first().is_some_and(|c| c == "background") { 0 } else { 1 };
        let mut set = LabelSet { labels: Vec::new(), by_class: HashMap::new() };
        for c in (0..model.classes.len() as u32).filter(|c| model.is_reportable(*c)) {
            set.by_class.insert(c, set.labels.len());
            set.labels.push(Label { id: c + offset, name: model.class_name(c).to_string() });
        }
        set
    }

    /// Parses `spec` (`person=pedestrian,car`, or `@path` to a file with one mapping per line,
    /// `#` comments allowed) and resolves it against `model`. A class without `=name` keeps
    /// its own name. Unknown classes are a usage error naming the closest class names.
    pub fn parse(model: &ModelSpec, spec: &str) -> Result<LabelSet> {
        let text;
        let entries: Vec<&str> = match spec.strip_prefix('@') {
            Some(path) => {
                text = std::fs::read_to_string(Path::new(path)).map_err(|e| Error::Usage(format!("--labels: cannot read {path}: {e}")))?;
                text.lines().map(|l| l.split('#').next().unwrap_or("")).collect()
            }
            None => spec.split(',').collect(),
        };
        let mut set = LabelSet { labels: Vec::new(), by_class: HashMap::new() };
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let (class, label) = match entry.split_once('=') {
                Some((c, l)) => (c.trim(), l.trim()),
                None => (entry, entry),
            };
            if label.is_empty() {
                return Err(Error::Usage(format!("--labels: '{entry}' gives class '{class}' an empty label name")));
            }
            let index = class_index(model, class).map_err(|e| Error::Usage(format!("--labels: {e}")))?;
            if set.by_class.contains_key(&index) {
                return Err(Error::Usage(format!("--labels: class '{class}' is mapped twice")));
            }
            let slot = match set.labels.iter().position(|l| l.name == label) {
                Some(i) => i,
                None => {
                    set.labels.push(Label { id: set.labels.len() as u32 + 1, name: label.to_string() });
                    set.labels.len() - 1
                }
            };
            set.by_class.insert(index, slot);
        }
        if set.labels.is_empty() {
            return Err(Error::Usage("--labels lists no classes".into()));
        }
        Ok(set)
    }

    /// The labels, in declaration order (index = YOLO class number).
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// The label model class `class` is written as, with its position in [`Self::labels`];
    /// None for a class this job drops.
    pub fn of_class(&self, class: u32) -> Option<(usize, &Label)> {
        self.by_class.get(&class).map(|&i| (i, &self.labels[i]))
    }

    /// Model classes written as label `name`.
    pub(crate) fn classes_of(&self, name: &str) -> Vec<u32> {
        let mut out: Vec<u32> = self.by_class.iter().filter(|(_, &i)| self.labels[i].name == name).map(|(&c, _)| c).collect();
        out.sort_unstable();
        out
    }
}

/// A model class by exact name; otherwise a usage error listing the nearest names.
pub(crate) fn class_index(model: &ModelSpec, name: &str) -> Result<u32> {
    if let Some(i) = model.classes.iter().position(|c| c == name).filter(|&i| model.is_reportable(i as u32)) {
        return Ok(i as u32);
    }
    let names = (0..model.classes.len() as u32).filter(|c| model.is_reportable(*c)).map(|c| model.class_name(c));
    Err(Error::Usage(format!("unknown class '{name}' for model {}{}", model.name, near_matches(name, names))))
}

/// ` (did you mean a, b?)` with up to three names close to `name`, or nothing.
pub(crate) fn near_matches<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let lower = name.to_lowercase();
    let mut scored: Vec<(f64, &str)> =
        candidates.map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c)).filter(|(s, _)| *s >= 0.7).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    if scored.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = scored.iter().take(3).map(|(_, c)| *c).collect();
    format!(" (did you mean {}?)", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelSpec {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ssd_mobilenet_v2_coco.toml");
        ModelSpec::load(&path).unwrap()
    }

    #[test]
    fn without_mapping_every_class_keeps_its_model_id() {
        let set = LabelSet::all(&model());
        assert_eq!(set.of_class(1).unwrap().1, &Label { id: 1, name: "person".into() });
        assert_eq!(set.of_class(3).unwrap().1.name, "car");
        assert!(set.of_class(0).is_none(), "background is never a label");
        assert_eq!(set.labels().len(), 80);
    }

    #[test]
    fn mapping_keeps_renames_and_merges() {
        let set = LabelSet::parse(&model(), "person=pedestrian, car=vehicle,truck=vehicle,dog").unwrap();
        let names: Vec<(u32, &str)> = set.labels().iter().map(|l| (l.id, l.name.as_str())).collect();
        assert_eq!(names, [(1, "pedestrian"), (2, "vehicle"), (3, "dog")]);
        assert_eq!(set.of_class(8).unwrap().0, 1, "truck is a vehicle");
        assert!(set.of_class(2).is_none(), "bicycle is dropped");
        assert_eq!(set.classes_of("vehicle"), [3, 8]);
    }

    #[test]
    fn mapping_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.txt");
        std::fs::write(&p, "# project labels\nperson = pedestrian\n\ncar=vehicle  # cars only\n").unwrap();
        let set = LabelSet::parse(&model(), &format!("@{}", p.display())).unwrap();
        assert_eq!(set.labels().iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["pedestrian", "vehicle"]);
        let err = LabelSet::parse(&model(), "@/no/such/file").unwrap_err().to_string();
        assert!(err.contains("cannot read /no/such/file"), "{err}");
    }

    #[test]
    fn unknown_class_names_near_matches() {
        let err = LabelSet::parse(&model(), "persn=pedestrian").unwrap_err();
        assert!(matches!(err, Error::Usage(_)));
        let msg = err.to_string();
        assert!(msg.contains("unknown class 'persn'") && msg.contains("did you mean person"), "{msg}");
        let msg = LabelSet::parse(&model(), "Car").unwrap_err().to_string();
        assert!(msg.contains("did you mean car"), "{msg}");
        let msg = LabelSet::parse(&model(), "xqzw").unwrap_err().to_string();
        assert!(!msg.contains("did you mean"), "{msg}");
        assert!(LabelSet::parse(&model(), "person,person=x").is_err());
        assert!(LabelSet::parse(&model(), "person=").is_err());
        assert!(LabelSet::parse(&model(), " , ").is_err());
    }
}
