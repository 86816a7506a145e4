//! CVAT for video 1.1 XML. Every box is its own one-frame track (a keyframe box followed by an
//! `outside` box on the next frame, CVAT's way of ending a track) until tracking links boxes
//! across frames. The detector's confidence is kept as a `score` attribute so reviewers can
//! sort by it.
//!
//! The `<meta>` header needs the frame count, known only at the end, so tracks are spooled to
//! a temp file and the final file is header + spool + footer.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::PathBuf;

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use super::{label_classes, round2, round4, AtomicFile, ExportContext, LabelWriter};
use crate::error::{Error, Result};
use crate::types::FrameDetections;

pub struct CvatWriter {
    out: AtomicFile,
    spool: Writer<BufWriter<File>>,
    labels: Vec<String>,
    class_names: Vec<String>,
    task_name: String,
    width: u32,
    height: u32,
    frames: u64,
    next_track: u64,
    /// The latest frame, not yet spooled.
    held: Option<FrameDetections>,
}

impl CvatWriter {
    pub fn new(ctx: &ExportContext, path: PathBuf) -> Result<CvatWriter> {
        let out = AtomicFile::create(path)?;
        let spool = tempfile::tempfile_in(ctx.dir).map_err(|e| out.err(e))?;
        Ok(CvatWriter {
            out,
            spool: Writer::new_with_indent(BufWriter::new(spool), b' ', 2),
            labels: label_classes(ctx.model).map(|(_, n)| n.to_string()).collect(),
            class_names: ctx.model.classes.clone(),
            task_name: ctx.video.name.clone(),
            width: ctx.video.width,
            height: ctx.video.height,
            frames: 0,
            next_track: 0,
            held: None,
        })
    }

    fn write_header(&mut self) -> std::io::Result<()> {
        let mut w = Writer::new_with_indent(&mut self.out, b' ', 2);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
        w.write_event(Event::Start(quick_xml::events::BytesStart::new("annotations")))?;
        text_element(&mut w, "version", "1.1")?;
        w.create_element("meta").write_inner_content(|w| {
            w.create_element("task").write_inner_content(|w| {
                text_element(w, "name", &self.task_name)?;
                text_element(w, "size", &self.frames.to_string())?;
                text_element(w, "mode", "interpolation")?;
                text_element(w, "start_frame", "0")?;
                text_element(w, "stop_frame", &self.frames.saturating_sub(1).to_string())?;
                w.create_element("labels").write_inner_content(|w| {
                    for name in &self.labels {
                        w.create_element("label").write_inner_content(|w| {
                            text_element(w, "name", name)?;
                            text_element(w, "type", "rectangle")?;
                            w.create_element("attributes").write_inner_content(|w| {
                                w.create_element("attribute").write_inner_content(|w| {
                                    text_element(w, "name", "score")?;
                                    text_element(w, "mutable", "True")?;
                                    text_element(w, "input_type", "number")?;
                                    text_element(w, "default_value", "0")?;
                                    text_element(w, "values", "0;1;0.0001")
                                })?;
                                Ok(())
                            })?;
                            Ok(())
                        })?;
                    }
                    Ok(())
                })?;
                w.create_element("original_size").write_inner_content(|w| {
                    text_element(w, "width", &self.width.to_string())?;
                    text_element(w, "height", &self.height.to_string())
                })?;
                Ok(())
            })?;
            Ok(())
        })?;
        // The spooled tracks follow on their own lines.
        w.get_mut().write_all(b"\n")
    }
}

fn text_element<W: Write>(w: &mut Writer<W>, name: &str, text: &str) -> std::io::Result<()> {
    w.create_element(name).write_text_content(BytesText::new(text))?;
    Ok(())
}

impl CvatWriter {
    /// Spools one frame's boxes as one-frame tracks. `ends_inside` says whether the frame after
    /// it exists: only then may a track end with an `outside` box there (a box past the last
    /// frame makes CVAT refuse the file).
    fn spool_frame(&mut self, frame: &FrameDetections, ends_inside: bool) -> Result<()> {
        let f = frame.frame.index;
        for d in &frame.detections {
            let id = self.next_track.to_string();
            self.next_track += 1;
            let b = d.bbox;
            let coords = [b.x1, b.y1, b.x2, b.y2].map(|v| round2(v).to_string());
            let label = self.class_names.get(d.class as usize).map_or("unknown", String::as_str);
            let score = format!("{:.4}", round4(d.score));
            let one_box = |w: &mut Writer<_>, frame: u64, outside: &str| {
                w.create_element("box")
                    .with_attributes([
                        ("frame", frame.to_string().as_str()),
                        ("keyframe", "1"),
                        ("outside", outside),
                        ("occluded", "0"),
                        ("xtl", &coords[0]),
                        ("ytl", &coords[1]),
                        ("xbr", &coords[2]),
                        ("ybr", &coords[3]),
                        ("z_order", "0"),
                    ])
                    .write_inner_content(|w| {
                        w.create_element("attribute")
                            .with_attribute(("name", "score"))
                            .write_text_content(BytesText::new(&score))?;
                        Ok(())
                    })
                    .map(|_| ())
            };
            self.spool
                .create_element("track")
                .with_attributes([("id", id.as_str()), ("label", label), ("source", "auto")])
                .write_inner_content(|w| {
                    one_box(w, f, "0")?;
                    if ends_inside {
                        one_box(w, f + 1, "1")?;
                    }
                    Ok(())
                })
                .map_err(|e| self.out.err(e))?;
        }
        Ok(())
    }
}

impl LabelWriter for CvatWriter {
    fn write_frame(&mut self, frame: &FrameDetections) -> Result<()> {
        self.frames = self.frames.max(frame.frame.index + 1);
        // Held back one frame, until we know whether a frame follows it.
        if let Some(prev) = self.held.replace(frame.clone()) {
            self.spool_frame(&prev, true)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<PathBuf> {
        if let Some(last) = self.held.take() {
            self.spool_frame(&last, false)?;
        }
        self.write_header().map_err(|e| self.out.err(e))?;
        let mut spool = self.spool.into_inner().into_inner().map_err(|e| Error::Output(format!("cvat spool: {}", e.error())))?;
        spool.rewind().map_err(|e| self.out.err(e))?;
        std::io::copy(&mut spool, &mut self.out).map_err(|e| self.out.err(e))?;
        self.out.write_all(b"\n</annotations>\n").map_err(|e| self.out.err(e))?;
        self.out.commit()
    }
}

