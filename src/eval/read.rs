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

/// Highest frame number (MOT's, from 1) a label file may name: ten million frames, over 90
/// hours at 30 fps. Larger ones are a broken or hostile file, and scoring works frame by frame.
pub(crate) const MAX_FRAME: u64 = 10_000_000;

/// Most boxes one file may give (CVAT's interpolation makes one per frame between keyframes).
pub(crate) const MAX_ROWS: usize = 10_000_000;

/// The box at `x, y` of size `w` x `h`, or why these cannot be a box: a value that is not a
/// finite number (also once made single precision), a negative width or height.
pub(crate) fn xywh_box(x: f64, y: f64, w: f64, h: f64) -> std::result::Result<BBox, String> {
    if w < 0.0 || h < 0.0 {
        return Err(format!("negative box size (width {w}, height {h})"));
    }
    corner_box(x, y, x + w, y + h)
}

/// The box between corners `(x1, y1)` and `(x2, y2)`, or why it cannot be one.
pub(crate) fn corner_box(x1: f64, y1: f64, x2: f64, y2: f64) -> std::result::Result<BBox, String> {
    let b = BBox { x1: x1 as f32, y1: y1 as f32, x2: x2 as f32, y2: y2 as f32 };
    if ![b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite()) {
        return Err("box coordinates are not finite numbers".into());
    }
    if b.x2 < b.x1 || b.y2 < b.y1 {
        return Err(format!("negative box size (right {x2} left of {x1}, or bottom {y2} above {y1})"));
    }
    Ok(b)
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
pub(crate) fn read_track_scores(path: &Path) -> Result<std::collections::HashMap<i64, f64>> {
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
    Ok(parse_mot(&read_text(path)?, path)?.into_iter().map(|l| l.row).collect())
}

/// One MOTChallenge line: its box, and what MOT16/17/20 ground truth adds after `conf`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MotLine {
    pub row: MotRow,
    /// Number of comma-separated fields (MOT15: 10, with world coordinates -1; MOT16/20 gt: 9).
    pub fields: usize,
    /// The 8th field: MOT16/20 ground truth's class (1 pedestrian, 7 static person, ...), or
    /// MOT15's world x (-1).
    pub eighth: Option<f64>,
    /// The 9th field: MOT16/20 ground truth's visibility (0-1), or MOT15's world y (-1).
    pub ninth: Option<f64>,
}

/// Reads a MOTChallenge file with each line's field count and 8th field, which
/// [`super::protocol`] needs to tell the benchmarks apart.
pub(crate) fn read_mot_lines(path: &Path) -> Result<Vec<MotLine>> {
    parse_mot(&read_text(path)?, path)
}

fn parse_mot(text: &str, path: &Path) -> Result<Vec<MotLine>> {
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
        if f[..7].iter().any(|v| !v.is_finite()) || f[0] < 1.0 || f[0].fract() != 0.0 || f[1].fract() != 0.0 {
            return Err(bad("frame must be a whole number from 1, id whole, box and conf finite"));
        }
        if f[0] > MAX_FRAME as f64 {
            return Err(bad(&format!("frame beyond {MAX_FRAME}")));
        }
        if f[1].abs() > (1u64 << 53) as f64 {
            return Err(bad("id too large to be exact"));
        }
        let bbox = xywh_box(f[2], f[3], f[4], f[5]).map_err(|why| bad(&why))?;
        if rows.len() >= MAX_ROWS {
            return Err(bad(&format!("more than {MAX_ROWS} boxes")));
        }
        let row = MotRow { frame: f[0] as u64, id: f[1] as i64, bbox, conf: f[6] as f32 };
        let field = |i: usize| f.get(i).copied().filter(|v| v.is_finite());
        rows.push(MotLine { row, fields: f.len(), eighth: field(7), ninth: field(8) });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mot_rows_and_errors() {
        let p = Path::new("gt.txt");
        let lines = parse_mot("1,3,10,20,30,40,1,-1,-1,-1\n\n2,3,11,20,30,40,0.5\n", p).unwrap();
        assert_eq!((lines[0].fields, lines[0].eighth, lines[1].eighth), (10, Some(-1.0), None));
        let rows: Vec<MotRow> = lines.iter().map(|l| l.row).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].bbox, BBox { x1: 10.0, y1: 20.0, x2: 40.0, y2: 60.0 });
        assert_eq!((rows[1].frame, rows[1].id, rows[1].conf), (2, 3, 0.5));
        let e = parse_mot("1,3,10,20,30,40,1\n1,x,1,1,1,1,1\n", p).unwrap_err().to_string();
        assert!(e.starts_with("gt.txt:2:"), "{e}");
        assert!(parse_mot("0,3,10,20,30,40,1\n", p).is_err(), "frame 0 is not MOT");
        assert!(parse_mot("1,3,10,20\n", p).is_err());
        for bad in ["1,3,10,20,-30,40,1", "1,3,10,20,30,-0.5,1", "1,3,10,20,30,40,nan", "1,3,1e300,20,30,40,1", "99999999999,3,1,1,1,1,1"] {
            assert!(parse_mot(bad, p).is_err(), "{bad} cannot be a box");
        }
        assert!(parse_mot("1,3,10,20,0,0,1", p).is_ok(), "an empty box is a box");
    }

    #[test]
    fn format_by_extension() {
        let e = read_labels(Path::new("labels.csv"), None).unwrap_err().to_string();
        assert!(e.contains("labels.csv") && e.contains(".xml"), "{e}");
        assert!(read_labels(Path::new("x.txt"), Some("person")).is_err());
    }
}
