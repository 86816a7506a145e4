//! CVAT for video 1.1 XML (`cvat.xml`), for "Upload annotations" into a CVAT task made from
//! the same video. `<meta><task>` says `mode` interpolation, the frame count (`size`,
//! `start_frame` 0, `stop_frame`), `original_size`, `source` (the video as
//! [`ExportContext::video_ref`] names it) and the labels, each declaring two
//! attributes: `score` (mutable number: the box's detector score) and `needs_review`
//! (immutable checkbox: the track's band).
//!
//! One `<track>` per track, `id` = the track id (the same id as in every other file). Its
//! boxes are the ones [`super::frames::held_boxes`] picks (keyframes, first, last, occlusion
//! changes), each `keyframe="1"`, with `occluded` from the track; CVAT interpolates between
//! them. A track that ends before the last frame gets one more box, `outside="1"`, on the
//! frame after its end (CVAT's way of ending a track). None is written past the last frame:
//! CVAT refuses the file then (cvat-ai/cvat#2071) and datumaro invents an extra frame. Frames
//! count from 0 ([`super::frames`]).

use std::io::Write;

use quick_xml::events::{BytesDecl, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::frames::{held_boxes, number};
use super::{round2, ExportContext, Format, LabelFormat, Output};
use crate::error::Result;
use crate::types::{Track, TrackBox, VideoLabels};
use crate::units::round4;

pub struct Cvat;

impl LabelFormat for Cvat {
    fn write(&self, ctx: &ExportContext, labels: &VideoLabels, out: &mut Output) -> Result<()> {
        let source = ctx.video_ref()?;
        out.file(Format::Cvat.file_name(), |w| {
            let mut x = Writer::new_with_indent(w, b' ', 2);
            x.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
            x.write_event(Event::Start(BytesStart::new("annotations")))?;
            text(&mut x, "version", "1.1")?;
            meta(&mut x, ctx, labels, &source)?;
            for t in &labels.tracks {
                let Some((_, label)) = ctx.label_set.of_class(t.class) else { continue };
                track(&mut x, t, &label.name, labels.frames)?;
            }
            x.write_event(Event::End(quick_xml::events::BytesEnd::new("annotations")))?;
            x.get_mut().write_all(b"\n")
        })
    }
}

type Xml<'w> = Writer<&'w mut dyn Write>;

fn text(w: &mut Xml, name: &str, value: &str) -> std::io::Result<()> {
    w.create_element(name).write_text_content(BytesText::new(value))?;
    Ok(())
}

fn meta(w: &mut Xml, ctx: &ExportContext, labels: &VideoLabels, source: &str) -> std::io::Result<()> {
    let video = &labels.video;
    w.create_element("meta").write_inner_content(|w| {
        w.create_element("task").write_inner_content(|w| {
            text(w, "name", &video.name)?;
            text(w, "size", &labels.frames.to_string())?;
            text(w, "mode", "interpolation")?;
            text(w, "overlap", "0")?;
            text(w, "start_frame", &number(Format::Cvat, 0).to_string())?;
            text(w, "stop_frame", &number(Format::Cvat, labels.frames.saturating_sub(1)).to_string())?;
            w.create_element("labels").write_inner_content(|w| {
                for label in ctx.label_set.labels() {
                    w.create_element("label").write_inner_content(|w| {
                        text(w, "name", &label.name)?;
                        text(w, "type", "rectangle")?;
                        w.create_element("attributes").write_inner_content(|w| {
                            attribute_spec(w, "score", "True", "number", "0", "0;1;0.0001")?;
                            attribute_spec(w, "needs_review", "False", "checkbox", "false", "false")
                        })?;
                        Ok(())
                    })?;
                }
                Ok(())
            })?;
            w.create_element("original_size").write_inner_content(|w| {
                text(w, "width", &video.width.to_string())?;
                text(w, "height", &video.height.to_string())
            })?;
            text(w, "source", source)
        })?;
        Ok(())
    })?;
    Ok(())
}

fn attribute_spec(w: &mut Xml, name: &str, mutable: &str, input: &str, default: &str, values: &str) -> std::io::Result<()> {
    w.create_element("attribute").write_inner_content(|w| {
        text(w, "name", name)?;
        text(w, "mutable", mutable)?;
        text(w, "input_type", input)?;
        text(w, "default_value", default)?;
        text(w, "values", values)
    })?;
    Ok(())
}

fn track(w: &mut Xml, t: &Track, label: &str, frames: u64) -> std::io::Result<()> {
    let id = t.id.to_string();
    let review = if t.needs_review() { "true" } else { "false" };
    w.create_element("track").with_attributes([("id", id.as_str()), ("label", label), ("source", "auto")]).write_inner_content(|w| {
        for i in held_boxes(&t.boxes) {
            one_box(w, &t.boxes[i], t.boxes[i].frame, false, review)?;
        }
        if let Some(last) = t.boxes.last() {
            if last.frame + 1 < frames {
                one_box(w, last, last.frame + 1, true, review)?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

fn one_box(w: &mut Xml, b: &TrackBox, frame: u64, outside: bool, review: &str) -> std::io::Result<()> {
    let r = b.bbox;
    let coords = [r.x1, r.y1, r.x2, r.y2].map(|v| round2(v).to_string());
    let frame = number(Format::Cvat, frame).to_string();
    let score = format!("{:.4}", round4(b.score));
    w.create_element("box")
        .with_attributes([
            ("frame", frame.as_str()),
            ("keyframe", "1"),
            ("outside", if outside { "1" } else { "0" }),
            ("occluded", if b.occluded { "1" } else { "0" }),
            ("xtl", &coords[0]),
            ("ytl", &coords[1]),
            ("xbr", &coords[2]),
            ("ybr", &coords[3]),
            ("z_order", "0"),
        ])
        .write_inner_content(|w| {
            w.create_element("attribute").with_attribute(("name", "score")).write_text_content(BytesText::new(&score))?;
            w.create_element("attribute").with_attribute(("name", "needs_review")).write_text_content(BytesText::new(review))?;
            Ok(())
        })?;
    Ok(())
}
