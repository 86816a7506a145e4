//! Reading labels to score: takes a file of ground truth or drafts, gives [`MotRow`]s (one box
//! per row, frames counted from 1 as in MOTChallenge, whatever the file's own convention).
//! The reader is picked by extension: `.txt` MOTChallenge, `.xml` CVAT for video 1.1
//! ([`super::read_cvat`]), `.json` COCO with video and track fields ([`super::read_coco`]).
//! Every error is an [`Error::Usage`] naming the file and the line or element at fault.

use std::path::Path;

use crate::error::{Error, Result};
use crate::types::BBox;

/// One box of one track in one frame. `frame` counts from 1 (MOTChallenge); `conf` is the
/// detector score for drafts, and 0 on ground-truth rows that must not be scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotRow {
    pub frame: u64,
    pub id: i64,
    pub bbox: BBox,
    pub conf: f32,
}

/// Reads labels from `path` by its extension (.txt, .xml, .json). `label` keeps only the
/// tracks of that label in CVAT and COCO files (MOT text has no labels: then it must be None).
pub fn read_labels(path: &Path, label: Option<&str>) -> Result<Vec<MotRow>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "txt" => {
            if let Some(l) = label {
                return Err(Error::Usage(format!("{}: MOTChallenge text has no labels to keep {l:?} from", path.display())));
            }
            read_mot(path)
        }
        "xml" => super::read_cvat::read_cvat(&read_text(path)?, path, label),
        "json" => super::read_coco::read_coco(&read_text(path)?, path, label),
        _ => Err(Error::Usage(format!(
            "{}: unknown label format; expected .txt (MOTChallenge), .xml (CVAT for video 1.1) or .json (COCO)",
            path.display()
        ))),
    }
}

/// The per-track scores a draft file carries, by track id: COCO's `tracks[].score` (prelabel's
/// `coco.json` writes the track's mean detected-box score there). Empty for MOT text and CVAT
/// XML, which only have box scores, and for COCO files without a `tracks` list.
pub fn read_track_scores(path: &Path) -> Result<std::collections::HashMap<i64, f64>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext != "json" {
        return Ok(Default::default());
    }
    super::read_coco::track_scores(&read_text(path)?, path)
}

pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))
}

/// Reads a MOTChallenge text file (`frame,id,x,y,w,h,conf,...`); fails on the first malformed
/// line, naming it.
pub fn read_mot(path: &Path) -> Result<Vec<MotRow>> {
    parse_mot(&read_text(path)?, path)
}

fn parse_mot(text: &str, path: &Path) -> Result<Vec<MotRow>> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| Error::Usage(format!("{}:{}: {why}: {line}", path.display(), n + 1));
        let f: Vec<f64> = line
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad("not a MOTChallenge row"))?;
        if f.len() < 7 {
            return Err(bad("not a MOTChallenge row (fewer than 7 fields)"));
        }
        if f[..6].iter().any(|v| !v.is_finite()) || f[0] < 1.0 || f[0].fract() != 0.0 || f[1].fract() != 0.0 {
            return Err(bad("frame must be a whole number from 1, id whole, box finite"));
        }
        let (x, y, w, h) = (f[2] as f32, f[3] as f32, f[4] as f32, f[5] as f32);
        rows.push(MotRow { frame: f[0] as u64, id: f[1] as i64, bbox: BBox { x1: x, y1: y, x2: x + w, y2: y + h }, conf: f[6] as f32 });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mot_rows_and_errors() {
        let p = Path::new("gt.txt");
        let rows = parse_mot("1,3,10,20,30,40,1,-1,-1,-1\n\n2,3,11,20,30,40,0.5\n", p).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].bbox, BBox { x1: 10.0, y1: 20.0, x2: 40.0, y2: 60.0 });
        assert_eq!((rows[1].frame, rows[1].id, rows[1].conf), (2, 3, 0.5));
        let e = parse_mot("1,3,10,20,30,40,1\n1,x,1,1,1,1,1\n", p).unwrap_err().to_string();
        assert!(e.starts_with("gt.txt:2:"), "{e}");
        assert!(parse_mot("0,3,10,20,30,40,1\n", p).is_err(), "frame 0 is not MOT");
        assert!(parse_mot("1,3,10,20\n", p).is_err());
    }

    #[test]
    fn format_by_extension() {
        let e = read_labels(Path::new("labels.csv"), None).unwrap_err().to_string();
        assert!(e.contains("labels.csv") && e.contains(".xml"), "{e}");
        assert!(read_labels(Path::new("x.txt"), Some("person")).is_err());
    }
}
