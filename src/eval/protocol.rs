//! Which boxes a benchmark scores: takes ground truth as read (with MOT16/20's class column)
//! and drafts, gives the ground truth to score and the drafts left after the benchmark's own
//! preprocessing. CPU.
//!
//! - **MOT15**, and ground truth in CVAT or COCO files: rows with conf 0 are not scored
//!   (ETH-Sunnyday's and KITTI-17's distant people); every draft box counts.
//! - **MOT16/17 and MOT20**, as TrackEval's `MotChallenge2DBox` preprocesses them: in each
//!   frame the draft boxes are matched one to one to the ground-truth boxes of every class
//!   (IoU >= 0.5, largest summed IoU); drafts matched to a person on a vehicle, a static
//!   person, a distractor or a reflection (MOT20 adds non-MOT vehicles) are removed, neither
//!   rewarded nor punished. Then only pedestrians (class 1) with consider 1 are scored.
//!   Without this step a correct box on one of MOT20-01's 2,574 static people is a false
//!   positive.
//!
//! - **`--min-visibility V`** (MOT16/17/20 only, whose ground truth says how visible each
//!   person is): pedestrians less visible than V are treated as distractors are, so drafts on
//!   people a guideline leaves unlabelled (mostly hidden) neither count nor cost.
//!
//! The benchmark is read from the ground truth: nine fields with a class in the eighth is
//! MOT16/17/20, and MOT20 when the sequence's `seqinfo.ini` or a folder of its path says so.

use std::path::Path;

use super::clear::iou64;
use super::pairs::best_pairs;
use super::read::{read_mot_lines, MotLine};
use super::{read_labels, MotRow};
use crate::error::{Error, Result};

/// A benchmark's rules for what is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Rows with conf 0 are not scored; nothing else (MOT15, CVAT, COCO).
    Mot15,
    /// Pedestrians only, after removing drafts on distractors (MOT16 and MOT17).
    Mot16,
    /// As MOT16, and drafts on non-MOT vehicles are removed too.
    Mot20,
}

impl Protocol {
    /// The names `--protocol` takes.
    pub const NAMES: [&'static str; 4] = ["mot15", "mot16", "mot17", "mot20"];

    /// The benchmark's name, as `--protocol` takes it and `--json` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Mot15 => "mot15",
            Protocol::Mot16 => "mot16",
            Protocol::Mot20 => "mot20",
        }
    }

    pub fn parse(name: &str) -> Option<Protocol> {
        match name.to_ascii_lowercase().as_str() {
            "mot15" => Some(Protocol::Mot15),
            "mot16" | "mot17" => Some(Protocol::Mot16),
            "mot20" => Some(Protocol::Mot20),
            _ => None,
        }
    }

    /// Ground-truth classes whose matched drafts are removed (MOTChallenge's numbering).
    fn distractors(self) -> &'static [u32] {
        match self {
            Protocol::Mot15 => &[],
            Protocol::Mot16 => &[PERSON_ON_VEHICLE, STATIC_PERSON, DISTRACTOR, REFLECTION],
            Protocol::Mot20 => &[PERSON_ON_VEHICLE, NON_MOT_VEHICLE, STATIC_PERSON, DISTRACTOR, REFLECTION],
        }
    }
}

const PEDESTRIAN: u32 = 1;
const PERSON_ON_VEHICLE: u32 = 2;
const NON_MOT_VEHICLE: u32 = 6;
const STATIC_PERSON: u32 = 7;
const DISTRACTOR: u32 = 8;
const REFLECTION: u32 = 12;
/// MOTChallenge classes run from 1 (pedestrian) to 12 (reflection).
const MAX_CLASS: u32 = 12;

/// Ground truth as read, with the rules it is scored by.
#[derive(Debug, Clone)]
pub struct GroundTruth {
    /// Every row of the file, scored or not (the distractor step needs them all).
    pub rows: Vec<MotRow>,
    /// Each row's MOTChallenge class (MOT16/20), or None.
    classes: Vec<Option<u32>>,
    /// Each row's visibility, 0-1 (MOT16/20), or None.
    visibility: Vec<Option<f32>>,
    /// Pedestrians less visible than this are not scored ([`GroundTruth::min_visibility`]).
    min_visibility: Option<f32>,
    pub protocol: Protocol,
}

/// What is scored of one video.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Ground-truth rows to score.
    pub gt: Vec<MotRow>,
    /// Draft rows to score.
    pub pred: Vec<MotRow>,
    /// Draft boxes removed because they matched a distractor.
    pub removed: u64,
}

/// Reads ground truth from `path` (any format [`read_labels`] reads). `protocol` None: the
/// file decides (see the module comment); a forced MOT16/20 needs the class column.
pub(crate) fn read_ground_truth(path: &Path, label: Option<&str>, protocol: Option<Protocol>) -> Result<GroundTruth> {
    if !super::report::is_mot(path) {
        let rows = read_labels(path, label)?;
        if let Some(p @ (Protocol::Mot16 | Protocol::Mot20)) = protocol {
            return Err(Error::Usage(format!("{}: {} scoring needs MOTChallenge gt.txt with a class column", path.display(), p.name())));
        }
        return Ok(GroundTruth::mot15(rows));
    }
    let lines = read_mot_lines(path)?;
    let has_classes = !lines.is_empty() && lines.iter().all(is_mot16_line);
    let protocol = match protocol {
        Some(p @ (Protocol::Mot16 | Protocol::Mot20)) if !has_classes => {
            return Err(Error::Usage(format!(
                "{}: {} scoring needs MOT16/20 ground truth (frame,id,x,y,w,h,consider,class,visibility)",
                path.display(),
                p.name()
            )))
        }
        Some(p) => p,
        None if !has_classes => Protocol::Mot15,
        None if names_mot20(path) => Protocol::Mot20,
        None => Protocol::Mot16,
    };
    let classes = lines.iter().map(|l| if has_classes { l.eighth.map(|c| c as u32) } else { None }).collect();
    let visibility = lines.iter().map(|l| if has_classes { l.ninth.map(|v| v as f32) } else { None }).collect();
    Ok(GroundTruth { rows: lines.iter().map(|l| l.row).collect(), classes, visibility, min_visibility: None, protocol })
}

/// A MOT16/17/20 ground-truth line: nine fields, the eighth a class from 1 to 12.
fn is_mot16_line(l: &MotLine) -> bool {
    l.fields == 9 && l.eighth.is_some_and(|c| c.fract() == 0.0 && (1.0..=MAX_CLASS as f64).contains(&c))
}

/// Whether the sequence of ground truth at `path` is from MOT20: its `SEQ/seqinfo.ini` name,
/// or a folder on its path, starts with "MOT20".
fn names_mot20(path: &Path) -> bool {
    let mot20 = |s: &str| s.to_ascii_uppercase().starts_with("MOT20");
    let seqinfo = path.parent().and_then(Path::parent).map(|seq| seq.join("seqinfo.ini"));
    if let Some(text) = seqinfo.and_then(|p| std::fs::read_to_string(p).ok()) {
        if let Some(name) = text.lines().find_map(|l| l.trim().strip_prefix("name=")) {
            return mot20(name.trim());
        }
    }
    path.components().any(|c| mot20(&c.as_os_str().to_string_lossy()))
}

impl GroundTruth {
    /// Ground truth scored as MOT15 (rows with conf 0 not scored), from rows in hand.
    pub fn mot15(rows: Vec<MotRow>) -> GroundTruth {
        GroundTruth {
            classes: vec![None; rows.len()],
            visibility: vec![None; rows.len()],
            min_visibility: None,
            rows,
            protocol: Protocol::Mot15,
        }
    }

    /// Scores only pedestrians at least `min` visible; the others are treated as the
    /// benchmark treats distractors (drafts on them removed, unscored). `path` names the
    /// ground truth in the error: only MOT16/17/20 ground truth says how visible people are.
    pub fn min_visibility(mut self, min: f32, path: &Path) -> Result<GroundTruth> {
        if self.protocol == Protocol::Mot15 {
            return Err(Error::Usage(format!(
                "{}: --min-visibility needs MOT16/17/20 ground truth, whose ninth field is each person's visibility \
                 (this file is scored as {})",
                path.display(),
                self.protocol.name()
            )));
        }
        self.min_visibility = Some(min);
        Ok(self)
    }

    /// Whether row `i` is a pedestrian under `--min-visibility`.
    fn hidden(&self, i: usize) -> bool {
        self.min_visibility.is_some_and(|min| self.classes[i] == Some(PEDESTRIAN) && self.visibility[i].is_some_and(|v| v < min))
    }

    /// The rows of the frames `keep` keeps, scored by the same rules.
    pub fn frames(&self, keep: impl Fn(u64) -> bool) -> GroundTruth {
        let i: Vec<usize> = (0..self.rows.len()).filter(|&i| keep(self.rows[i].frame)).collect();
        GroundTruth {
            rows: i.iter().map(|&i| self.rows[i]).collect(),
            classes: i.iter().map(|&i| self.classes[i]).collect(),
            visibility: i.iter().map(|&i| self.visibility[i]).collect(),
            min_visibility: self.min_visibility,
            protocol: self.protocol,
        }
    }

    /// The ground truth to score and the drafts left to score against it.
    pub fn prepare(&self, pred: &[MotRow]) -> Prepared {
        let scored = |i: usize| {
            let r = &self.rows[i];
            r.conf != 0.0 && (self.protocol == Protocol::Mot15 || self.classes[i] == Some(PEDESTRIAN)) && !self.hidden(i)
        };
        let gt = (0..self.rows.len()).filter(|&i| scored(i)).map(|i| self.rows[i]).collect();
        let remove = self.on_distractors(pred);
        let kept: Vec<MotRow> = pred.iter().enumerate().filter(|(j, _)| !remove[*j]).map(|(_, r)| *r).collect();
        Prepared { gt, removed: (pred.len() - kept.len()) as u64, pred: kept }
    }

    /// For each draft row, whether the benchmark removes it: matched, in its frame, to a
    /// ground-truth box of a distractor class (or to a pedestrian under `--min-visibility`).
    fn on_distractors(&self, pred: &[MotRow]) -> Vec<bool> {
        let mut remove = vec![false; pred.len()];
        let distractors = self.protocol.distractors();
        if distractors.is_empty() {
            return remove;
        }
        let mut by_frame: std::collections::HashMap<u64, (Vec<usize>, Vec<usize>)> = Default::default();
        for (i, g) in self.rows.iter().enumerate() {
            by_frame.entry(g.frame).or_default().0.push(i);
        }
        for (j, p) in pred.iter().enumerate() {
            if let Some(frame) = by_frame.get_mut(&p.frame) {
                frame.1.push(j);
            }
        }
        // TrackEval keeps pairs with IoU >= 0.5 - eps, then drops the assigned pairs at 0.
        let eps = f64::EPSILON;
        for (rows, cols) in by_frame.values().filter(|(r, c)| !r.is_empty() && !c.is_empty()) {
            let iou = |a: usize, b: usize| {
                let v = iou64(&self.rows[rows[a]].bbox, &pred[cols[b]].bbox);
                if v < 0.5 - eps {
                    0.0
                } else {
                    v
                }
            };
            for (a, b) in best_pairs(rows.len(), cols.len(), iou) {
                let class = self.classes[rows[a]].unwrap_or(PEDESTRIAN);
                if iou(a, b) > eps && (distractors.contains(&class) || self.hidden(rows[a])) {
                    remove[cols[b]] = true;
                }
            }
        }
        remove
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::BBox;

    fn row(frame: u64, id: i64, x: f32, conf: f32) -> MotRow {
        MotRow { frame, id, bbox: BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 20.0 }, conf }
    }

    fn mot16(rows: Vec<(MotRow, u32)>, protocol: Protocol) -> GroundTruth {
        let n = rows.len();
        GroundTruth {
            classes: rows.iter().map(|r| Some(r.1)).collect(),
            visibility: vec![Some(1.0); n],
            min_visibility: None,
            rows: rows.into_iter().map(|r| r.0).collect(),
            protocol,
        }
    }

    #[test]
    fn drafts_on_distractors_are_removed_and_only_pedestrians_scored() {
        let gt = mot16(
            vec![(row(1, 1, 0.0, 1.0), PEDESTRIAN), (row(1, 2, 100.0, 0.0), STATIC_PERSON), (row(1, 3, 200.0, 0.0), NON_MOT_VEHICLE)],
            Protocol::Mot16,
        );
        // On the pedestrian, on the static person, on the vehicle, on nothing.
        let pred = [row(1, 7, 1.0, 0.9), row(1, 8, 101.0, 0.9), row(1, 9, 201.0, 0.9), row(1, 10, 400.0, 0.9)];
        let p = gt.prepare(&pred);
        assert_eq!(p.gt.len(), 1);
        assert_eq!(p.removed, 1);
        assert_eq!(p.pred.iter().map(|r| r.id).collect::<Vec<_>>(), vec![7, 9, 10]);
        // MOT20 also removes drafts on non-MOT vehicles.
        let gt20 = GroundTruth { protocol: Protocol::Mot20, ..gt.clone() };
        assert_eq!(gt20.prepare(&pred).removed, 2);
        // MOT15 rules: nothing removed, conf-0 rows not scored, classes ignored.
        let gt15 = GroundTruth { protocol: Protocol::Mot15, ..gt };
        let p15 = gt15.prepare(&pred);
        assert_eq!((p15.gt.len(), p15.pred.len()), (1, 4));
    }

    #[test]
    fn a_draft_matched_to_a_pedestrian_stays_even_when_it_touches_a_distractor() {
        // The draft overlaps both; the one-to-one match gives it to the pedestrian (higher IoU)
        // and the distractor's own draft is removed.
        let gt = mot16(vec![(row(1, 1, 0.0, 1.0), PEDESTRIAN), (row(1, 2, 3.0, 0.0), DISTRACTOR)], Protocol::Mot16);
        let p = gt.prepare(&[row(1, 7, 0.5, 0.9), row(1, 8, 3.0, 0.9)]);
        assert_eq!(p.pred.iter().map(|r| r.id).collect::<Vec<_>>(), vec![7]);
        // Below IoU 0.5 nothing is removed.
        let p = gt.prepare(&[row(1, 8, 9.0, 0.9)]);
        assert_eq!(p.removed, 0);
    }

    #[test]
    fn people_under_the_least_visibility_are_scored_as_distractors() {
        let mut gt = mot16(vec![(row(1, 1, 0.0, 1.0), PEDESTRIAN), (row(1, 2, 100.0, 1.0), PEDESTRIAN)], Protocol::Mot20);
        gt.visibility = vec![Some(0.9), Some(0.3)];
        // A draft on each person and one on nothing.
        let pred = [row(1, 7, 1.0, 0.9), row(1, 8, 101.0, 0.9), row(1, 9, 300.0, 0.9)];
        let all = gt.prepare(&pred);
        assert_eq!((all.gt.len(), all.pred.len(), all.removed), (2, 3, 0));
        let path = Path::new("MOT20-01/gt/gt.txt");
        let visible = gt.clone().min_visibility(0.5, path).unwrap().prepare(&pred);
        assert_eq!(visible.gt.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            visible.pred.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![7, 9],
            "the draft on the hidden person is removed, not a false positive"
        );
        assert_eq!(visible.removed, 1);
        // At or above the level, a person counts.
        assert_eq!(gt.clone().min_visibility(0.3, path).unwrap().prepare(&pred).gt.len(), 2);
        // MOT15 ground truth says nothing of visibility.
        let e = GroundTruth::mot15(vec![row(1, 1, 0.0, 1.0)]).min_visibility(0.5, path).unwrap_err().to_string();
        assert!(e.contains("--min-visibility needs MOT16/17/20") && e.contains("MOT20-01/gt/gt.txt"), "{e}");
    }

    #[test]
    fn the_file_decides_the_benchmark() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            p
        };
        let m15 = write("a/gt/gt.txt", "1,1,0,0,10,20,1,-1,-1,-1\n");
        let m16 = write("b/gt/gt.txt", "1,1,0,0,10,20,1,1,0.9\n1,2,50,0,10,20,0,7,1\n");
        let m20 = write("MOT20-05/gt/gt.txt", "1,1,0,0,10,20,1,1,0.9\n");
        write("c/seqinfo.ini", "[Sequence]\nname=MOT20-01\n");
        let m20b = write("c/gt/gt.txt", "1,1,0,0,10,20,1,1,0.9\n");
        let p = |path: &Path, forced| read_ground_truth(path, None, forced).map(|g| g.protocol);
        assert_eq!(p(&m15, None).unwrap(), Protocol::Mot15);
        assert_eq!(p(&m16, None).unwrap(), Protocol::Mot16);
        assert_eq!(p(&m20, None).unwrap(), Protocol::Mot20);
        assert_eq!(p(&m20b, None).unwrap(), Protocol::Mot20);
        let visibility = read_ground_truth(&m16, None, None).unwrap().visibility;
        assert_eq!(visibility, vec![Some(0.9), Some(1.0)], "MOT16's ninth field");
        assert_eq!(read_ground_truth(&m15, None, None).unwrap().visibility, vec![None], "MOT15's ninth is world y");
        assert_eq!(p(&m16, Some(Protocol::Mot15)).unwrap(), Protocol::Mot15);
        let e = p(&m15, Some(Protocol::Mot16)).unwrap_err().to_string();
        assert!(e.contains("class"), "{e}");
    }
}
