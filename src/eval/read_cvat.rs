//! CVAT for video 1.1 XML into [`MotRow`]s: takes the file's text, gives one row per track per
//! frame the track is visible in, frames converted from CVAT's 0-based to MOT's 1-based.
//!
//! A `<track id label>` lists `<box frame xtl ytl xbr ybr outside ...>` elements, often only at
//! keyframes (prelabel's own `cvat.xml` does, [`crate::export::cvat`]); the frames between two
//! listed boxes are filled by linear interpolation, as CVAT does. A box with `outside="1"` ends
//! the track until its next box; a last box that is not outside holds until `<stop_frame>` of
//! the task (CVAT's rule), or stands for its own frame only when the file has no `<meta>`.
//! The box score is the `<attribute name="score">` child when there is one, else 1, and an
//! interpolated box takes the score of the listed box before it.

use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::read::{corner_box, MAX_FRAME, MAX_ROWS};
use super::MotRow;
use crate::error::{Error, Result};
use crate::track::interpolate::lerp;
use crate::types::BBox;

/// One listed `<box>`.
struct Listed {
    frame: u64,
    bbox: BBox,
    outside: bool,
    score: f32,
    line: usize,
}

struct Track {
    id: i64,
    keep: bool,
    boxes: Vec<Listed>,
}

/// What the parser is inside of.
#[derive(Default)]
struct State {
    tracks: Vec<Track>,
    current: Option<Track>,
    in_box: bool,
    score_attr: bool,
    in_stop_frame: bool,
    stop_frame: Option<u64>,
}

type ErrFn<'a> = dyn Fn(usize, String) -> Error + 'a;

impl State {
    /// An opening (`has_body`) or empty element at `line`.
    fn open(&mut self, e: &BytesStart, has_body: bool, line: usize, label: Option<&str>, err: &ErrFn) -> Result<()> {
        match e.name().as_ref() {
            b"track" => {
                if self.current.is_some() {
                    return Err(err(line, "<track> inside <track>".into()));
                }
                let id = attr(e, "id", line, err)?;
                let id = id.parse::<i64>().map_err(|_| err(line, format!("<track id={id:?}>: id is not a whole number")))?;
                let keep = label.is_none_or(|l| l == attr(e, "label", line, err).unwrap_or_default());
                let t = Track { id, keep, boxes: Vec::new() };
                if has_body {
                    self.current = Some(t)
                } else {
                    self.tracks.push(t)
                }
            }
            b"box" => {
                let Some(t) = self.current.as_mut() else { return Ok(()) }; // CVAT for images: no tracks
                let num = |name: &str| -> Result<f64> {
                    let v = attr(e, name, line, err)?;
                    v.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| err(line, format!("<box {name}={v:?}>: not a number")))
                };
                let frame = num("frame")?;
                if frame < 0.0 || frame.fract() != 0.0 {
                    return Err(err(line, format!("<box frame=\"{frame}\">: frames are whole numbers from 0")));
                }
                if frame >= MAX_FRAME as f64 {
                    return Err(err(line, format!("<box frame=\"{frame}\">: beyond frame {MAX_FRAME}")));
                }
                let outside = matches!(attr(e, "outside", line, err).as_deref(), Ok("1") | Ok("true"));
                let bbox =
                    corner_box(num("xtl")?, num("ytl")?, num("xbr")?, num("ybr")?).map_err(|why| err(line, format!("<box>: {why}")))?;
                t.boxes.push(Listed { frame: frame as u64, bbox, outside, score: 1.0, line });
                self.in_box = has_body;
            }
            b"attribute" if self.in_box && has_body => {
                self.score_attr = attr(e, "name", line, err).is_ok_and(|n| n == "score");
            }
            b"stop_frame" => self.in_stop_frame = has_body,
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self, name: &[u8]) {
        match name {
            b"track" => self.tracks.extend(self.current.take()),
            b"box" => self.in_box = false,
            b"attribute" => self.score_attr = false,
            b"stop_frame" => self.in_stop_frame = false,
            _ => {}
        }
    }

    fn text(&mut self, v: &str, line: usize, err: &ErrFn) -> Result<()> {
        let v = v.trim();
        if self.in_stop_frame {
            let stop: u64 = v.parse().map_err(|_| err(line, format!("<stop_frame>{v}</stop_frame>: not a frame number")))?;
            if stop >= MAX_FRAME {
                return Err(err(line, format!("<stop_frame>{v}</stop_frame>: beyond frame {MAX_FRAME}")));
            }
            self.stop_frame = Some(stop);
        } else if self.score_attr {
            if let Some(b) = self.current.as_mut().and_then(|t| t.boxes.last_mut()) {
                b.score = v
                    .parse::<f32>()
                    .ok()
                    .filter(|s| s.is_finite())
                    .ok_or_else(|| err(line, format!("<attribute name=\"score\">{v}</attribute>: not a number")))?;
            }
        }
        Ok(())
    }
}

/// Parses CVAT for video XML `text` (read from `path`, named in errors); `label` keeps only the
/// tracks with that label.
pub(crate) fn read_cvat(text: &str, path: &Path, label: Option<&str>) -> Result<Vec<MotRow>> {
    let line_at = |pos: u64| text.as_bytes()[..(pos as usize).min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1;
    let err = |line: usize, msg: String| Error::Usage(format!("{}:{line}: {msg}", path.display()));
    let mut reader = Reader::from_str(text);
    let mut s = State::default();
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| err(line_at(reader.error_position()), format!("not well-formed XML: {e}")))?;
        // The event starts after any whitespace skipped from `pos`.
        let line = line_at(pos + (text[pos as usize..].len() - text[pos as usize..].trim_start().len()) as u64);
        match event {
            Event::Start(e) => s.open(&e, true, line, label, &err)?,
            Event::Empty(e) => s.open(&e, false, line, label, &err)?,
            Event::End(e) => s.close(e.name().as_ref()),
            Event::Text(t) if s.in_stop_frame || s.score_attr => {
                let v = t.decode().map_err(|e| err(line, format!("bad text: {e}")))?;
                s.text(&v, line, &err)?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if s.current.is_some() {
        return Err(err(line_at(text.len() as u64), "unclosed <track>".into()));
    }
    let mut rows = Vec::new();
    for t in s.tracks.iter().filter(|t| t.keep) {
        expand(t, s.stop_frame, &mut rows).map_err(|(line, msg)| err(line, msg))?;
    }
    // Tracks not kept are checked as well: a file is valid or not whatever --label keeps.
    for t in s.tracks.iter().filter(|t| !t.keep) {
        sorted(t).map_err(|(line, msg)| err(line, msg))?;
    }
    Ok(rows)
}

fn attr(e: &BytesStart, name: &str, line: usize, err: &ErrFn) -> Result<String> {
    let tag = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    for a in e.attributes() {
        let a = a.map_err(|x| err(line, format!("<{tag}>: bad attribute: {x}")))?;
        if a.key.as_ref() == name.as_bytes() {
            return a.unescape_value().map(|v| v.into_owned()).map_err(|x| err(line, format!("<{tag} {name}>: {x}")));
        }
    }
    Err(err(line, format!("<{tag}> has no {name} attribute")))
}

/// The listed boxes of a track in frame order; an error where two share a frame.
fn sorted(t: &Track) -> std::result::Result<Vec<&Listed>, (usize, String)> {
    let mut boxes: Vec<&Listed> = t.boxes.iter().collect();
    boxes.sort_by_key(|b| b.frame);
    if let Some(w) = boxes.windows(2).find(|w| w[0].frame == w[1].frame) {
        return Err((w[1].line, format!("track {} has two boxes in frame {}", t.id, w[1].frame)));
    }
    Ok(boxes)
}

/// The rows of one track: listed boxes, the frames between them interpolated.
fn expand(t: &Track, stop_frame: Option<u64>, rows: &mut Vec<MotRow>) -> std::result::Result<(), (usize, String)> {
    let boxes = sorted(t)?;
    // The rows this track adds, before making them: interpolation makes one per frame.
    let adds: u64 = boxes
        .iter()
        .enumerate()
        .filter(|(_, b)| !b.outside)
        .map(|(i, b)| match boxes.get(i + 1) {
            Some(next) => next.frame - b.frame,
            None => stop_frame.unwrap_or(b.frame).max(b.frame) - b.frame + 1,
        })
        .sum();
    if rows.len() as u64 + adds > MAX_ROWS as u64 {
        let line = boxes.first().map_or(0, |b| b.line);
        return Err((line, format!("track {} makes the file more than {MAX_ROWS} boxes", t.id)));
    }
    for (i, b) in boxes.iter().enumerate().filter(|(_, b)| !b.outside) {
        let row = |frame: u64, bbox| MotRow { frame: frame + 1, id: t.id, bbox, conf: b.score };
        match boxes.get(i + 1) {
            Some(next) => {
                let span = (next.frame - b.frame) as f32;
                rows.extend((b.frame..next.frame).map(|f| row(f, lerp(&b.bbox, &next.bbox, (f - b.frame) as f32 / span))));
            }
            None => rows.extend((b.frame..=stop_frame.unwrap_or(b.frame).max(b.frame)).map(|f| row(f, b.bbox))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><size>10</size><stop_frame>9</stop_frame></task></meta>
  <track id="3" label="person" source="auto">
    <box frame="0" keyframe="1" outside="0" occluded="0" xtl="0" ytl="0" xbr="10" ybr="10" z_order="0">
      <attribute name="score">0.8000</attribute>
      <attribute name="needs_review">false</attribute>
    </box>
    <box frame="4" keyframe="1" outside="0" occluded="0" xtl="40" ytl="0" xbr="50" ybr="10" z_order="0">
      <attribute name="score">0.6</attribute>
    </box>
    <box frame="5" keyframe="1" outside="1" occluded="0" xtl="40" ytl="0" xbr="50" ybr="10"/>
    <box frame="8" keyframe="1" outside="0" occluded="0" xtl="1" ytl="1" xbr="2" ybr="2"/>
  </track>
  <track id="4" label="car"><box frame="2" outside="0" xtl="0" ytl="0" xbr="1" ybr="1"/></track>
</annotations>
"#;

    #[test]
    fn interpolates_ends_at_outside_and_holds_to_stop_frame() {
        let rows = read_cvat(XML, Path::new("a.xml"), Some("person")).unwrap();
        let frames: Vec<u64> = rows.iter().map(|r| r.frame).collect();
        // CVAT 0..4 -> MOT 1..5, outside at 5 until the box at 8, held to stop_frame 9.
        assert_eq!(frames, [1, 2, 3, 4, 5, 9, 10]);
        assert_eq!(rows[2].bbox, BBox { x1: 20.0, y1: 0.0, x2: 30.0, y2: 10.0 });
        assert_eq!((rows[1].conf, rows[4].conf, rows[5].conf), (0.8, 0.6, 1.0));
        assert!(rows.iter().all(|r| r.id == 3));
        let all = read_cvat(XML, Path::new("a.xml"), None).unwrap();
        assert_eq!(all.len(), 7 + 8, "car track from CVAT frame 2 to 9");
    }

    #[test]
    fn errors_name_file_and_line() {
        let bad = XML.replace(r#"xtl="40" ytl="0" xbr="50" ybr="10" z_order"#, r#"xtl="4x" ytl="0" xbr="50" ybr="10" z_order"#);
        let e = read_cvat(&bad, Path::new("a.xml"), None).unwrap_err().to_string();
        assert!(e.starts_with("a.xml:10:") && e.contains("xtl"), "{e}");
        let e = read_cvat(&XML.replace(r#"frame="8""#, r#"frame="4""#), Path::new("a.xml"), None).unwrap_err().to_string();
        assert!(e.contains("two boxes in frame 4"), "{e}");
        assert!(read_cvat("<annotations><track id=\"1\" label=\"p\">", Path::new("a.xml"), None).is_err());
        assert!(read_cvat("<annotations><track label=\"p\"></track></annotations>", Path::new("a.xml"), None).is_err());
    }
}
