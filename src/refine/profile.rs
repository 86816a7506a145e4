//! A calibration profile: how one client's labelling guideline draws boxes, per class, as
//! `prelabel calibrate` learns it from corrected videos and `prelabel run --calibration FILE`
//! applies it ([`super::guideline`]). Takes a small TOML file a lead can read and edit, gives
//! [`Profile`]; writes one back ([`Profile::to_toml`]). Every part is optional: a part the
//! corrected sample did not support is left out, and a part left out changes nothing.
//!
//! ```toml
//! version = 1
//! [class.person]
//! corrected_boxes = 1840        # what it was learned from (for the reader only)
//! min_height = 58.0             # boxes lower than this (pixels) are not labelled
//! max_hidden_s = 0.4            # a track is kept at most this long where nothing is seen
//! accept = 0.71                 # review levels, as run --thresholds person=0.71:0.35
//! drop = 0.35
//! [[class.person.min_height_by_row]]   # fixed camera: by where the box stands
//! bottom_below = 220.0          # boxes whose bottom edge is above y = 220 px ...
//! min_height = 40.0             # ... need at least this height
//! [[class.person.geometry]]     # box sides moved by a share of the box's size
//! max_height = 120.0            # boxes up to this height (the last part has none)
//! left = -0.02                  # shares of the width (negative: to the left)
//! right = 0.03
//! top = -0.05                   # shares of the height (negative: up)
//! bottom = 0.04
//! ```
//!
//! The height rules look at the box as the detector drew it, before the geometry moves it
//! (they are learned on drafts). A bad file is one error line naming the file and the key.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::types::BBox;

/// The profile format written and read.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub version: u32,
    /// By class or label name, as `--thresholds` names them.
    #[serde(default)]
    pub class: BTreeMap<String, ClassProfile>,
}

/// What the guideline does with one class. Nothing set: nothing changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassProfile {
    /// Ground-truth boxes of the class the profile was learned from (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_boxes: Option<u64>,
    /// Boxes lower than this many pixels are not labelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_height: Option<f32>,
    /// How long (seconds) a track is kept through frames where the detector did not see it;
    /// a longer gap splits it in two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hidden_s: Option<f32>,
    /// Review levels (`prelabel run --thresholds CLASS=ACCEPT:DROP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<f32>,
    /// Fixed camera: the smallest box by where its bottom edge stands, top rows first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub min_height_by_row: Vec<RowMin>,
    /// Side corrections by box height, smallest boxes first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub geometry: Vec<Geometry>,
}

/// Boxes whose bottom edge is above `bottom_below` (pixels) need `min_height`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowMin {
    pub bottom_below: f32,
    pub min_height: f32,
}

/// For boxes up to `max_height` pixels high (the last entry: any height), each side moves
/// by a share of the box's width (left, right) or height (top, bottom); + is right or down.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geometry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_height: Option<f32>,
    pub left: f32,
    pub right: f32,
    pub top: f32,
    pub bottom: f32,
}

impl ClassProfile {
    /// Whether the guideline labels a box drawn so (by its height, and its row).
    pub fn keeps(&self, b: &BBox) -> bool {
        let h = b.height();
        if self.min_height.is_some_and(|m| h < m) {
            return false;
        }
        match self.min_height_by_row.iter().find(|r| b.y2 < r.bottom_below) {
            Some(r) => h >= r.min_height,
            None => true,
        }
    }

    /// The box as the guideline draws it (unchanged without geometry).
    pub fn correct(&self, b: &BBox) -> BBox {
        let h = b.height();
        let Some(g) = self.geometry.iter().find(|g| g.max_height.is_none_or(|m| h <= m)).or(self.geometry.last()) else {
            return *b;
        };
        let w = b.width();
        let out = BBox { x1: b.x1 + g.left * w, x2: b.x2 + g.right * w, y1: b.y1 + g.top * h, y2: b.y2 + g.bottom * h };
        if out.x2 > out.x1 && out.y2 > out.y1 {
            out
        } else {
            *b
        }
    }

    /// Frames a track may go unseen at `fps` before it is split (None: any).
    pub(crate) fn max_hidden_frames(&self, fps: f32) -> Option<u64> {
        self.max_hidden_s.map(|s| (s * fps).round().max(0.0) as u64)
    }

    /// Whether any part changes boxes or tracks (the levels are routing's).
    pub(crate) fn changes_boxes(&self) -> bool {
        self.min_height.is_some() || !self.min_height_by_row.is_empty() || self.max_hidden_s.is_some() || !self.geometry.is_empty()
    }
}

impl Profile {
    /// Reads and checks a profile file.
    pub fn load(path: &Path) -> Result<Profile> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("--calibration {}: cannot read: {e}", path.display())))?;
        Profile::parse(&text).map_err(|e| Error::Usage(format!("--calibration {}: {e}", path.display())))
    }

    /// Parses and checks profile text; the error is one line naming the key at fault.
    pub fn parse(text: &str) -> std::result::Result<Profile, String> {
        let p: Profile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().replace('\n', " ");
            match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            }
        })?;
        p.check()?;
        Ok(p)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.version != VERSION {
            return Err(format!("version: {} is not supported (this prelabel reads version {VERSION})", self.version));
        }
        for (name, c) in &self.class {
            let key = |k: &str| format!("class.{name}.{k}");
            let nonneg = |k: &str, v: Option<f32>| match v {
                Some(v) if !(v.is_finite() && v >= 0.0) => Err(format!("{}: {v} must be a number >= 0", key(k))),
                _ => Ok(()),
            };
            nonneg("min_height", c.min_height)?;
            nonneg("max_hidden_s", c.max_hidden_s)?;
            for (k, v) in [("accept", c.accept), ("drop", c.drop)] {
                if v.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                    return Err(format!("{}: {} must be from 0 to 1", key(k), v.unwrap_or(0.0)));
                }
            }
            if let (Some(a), Some(d)) = (c.accept, c.drop) {
                if d > a {
                    return Err(format!("{}: {d} is above accept {a}", key("drop")));
                }
            }
            for r in &c.min_height_by_row {
                nonneg("min_height_by_row.min_height", Some(r.min_height))?;
                if !r.bottom_below.is_finite() {
                    return Err(format!("{}: not a number", key("min_height_by_row.bottom_below")));
                }
            }
            for (i, g) in c.geometry.iter().enumerate() {
                for (k, v) in [("left", g.left), ("right", g.right), ("top", g.top), ("bottom", g.bottom)] {
                    if !(v.is_finite() && v.abs() <= 1.0) {
                        return Err(format!("{}: {v} must be a share from -1 to 1", key(&format!("geometry[{i}].{k}"))));
                    }
                }
                nonneg(&format!("geometry[{i}].max_height"), g.max_height)?;
            }
        }
        Ok(())
    }

    /// The profile as TOML, with a header saying what it is.
    pub fn to_toml(&self, header: &str) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        let mut out = String::new();
        for l in header.lines() {
            out += &format!("# {l}\n");
        }
        out + &body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        BBox { x1, y1, x2, y2 }
    }

    #[test]
    fn round_trip_and_rules() {
        let mut p = Profile { version: VERSION, ..Default::default() };
        p.class.insert(
            "person".into(),
            ClassProfile {
                min_height: Some(60.0),
                min_height_by_row: vec![RowMin { bottom_below: 100.0, min_height: 20.0 }],
                geometry: vec![
                    Geometry { max_height: Some(100.0), left: 0.0, right: 0.0, top: -0.1, bottom: 0.0 },
                    Geometry { max_height: None, left: -0.1, right: 0.1, top: 0.0, bottom: 0.0 },
                ],
                accept: Some(0.7),
                drop: Some(0.3),
                ..Default::default()
            },
        );
        let text = p.to_toml("test");
        assert_eq!(Profile::parse(&text).unwrap(), p);
        let c = &p.class["person"];
        assert!(!c.keeps(&b(0.0, 300.0, 10.0, 350.0)), "50 px is under 60");
        assert!(c.keeps(&b(0.0, 300.0, 10.0, 370.0)));
        assert_eq!(c.correct(&b(0.0, 100.0, 10.0, 150.0)), b(0.0, 95.0, 10.0, 150.0));
        assert_eq!(c.correct(&b(0.0, 0.0, 10.0, 200.0)), b(-1.0, 0.0, 11.0, 200.0));
    }

    #[test]
    fn errors_name_the_key() {
        let e = Profile::parse("version = 1\n[class.person]\nmin_hieght = 3\n").unwrap_err();
        assert!(e.contains("min_hieght") && e.contains("line 3"), "{e}");
        let e = Profile::parse("version = 1\n[class.person]\naccept = 0.2\ndrop = 0.5\n").unwrap_err();
        assert!(e.contains("class.person.drop"), "{e}");
        let e = Profile::parse("version = 2\n").unwrap_err();
        assert!(e.starts_with("version"), "{e}");
        let e = Profile::parse("version = 1\n[[class.person.geometry]]\nleft = 3.0\nright = 0\ntop = 0\nbottom = 0\n").unwrap_err();
        assert!(e.contains("class.person.geometry[0].left"), "{e}");
        assert!(Profile::parse("version = 1\n").unwrap().class.is_empty());
    }
}
