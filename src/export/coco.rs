//! COCO detection JSON. Keys are written in the order categories, annotations, images so the
//! annotations can stream: the image list (one per frame) is only complete at the end.
//! Image ids are frame index + 1; each image carries `video` and `frame_index`. Category ids
//! are the model's class indices when its class 0 is `background` (COCO-91 ids for the default
//! model, person = 1), else index + 1. Every annotation keeps its `score`.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use super::{label_classes, round2, round4, AtomicFile, ExportContext, LabelWriter};
use crate::error::Result;
use crate::types::FrameDetections;

pub struct CocoWriter {
    file: AtomicFile,
    video: String,
    width: u32,
    height: u32,
    frames: u64,
    next_id: u64,
    id_offset: u32,
}

impl CocoWriter {
    pub fn new(ctx: &ExportContext, path: PathBuf) -> Result<CocoWriter> {
        let mut file = AtomicFile::create(path)?;
        let id_offset = if ctx.model.classes.first().is_some_and(|c| c == "background") { 0 } else { 1 };
        let categories: Vec<_> =
            label_classes(ctx.model).map(|(c, name)| json!({"id": c + id_offset, "name": name, "supercategory": ""})).collect();
        let info = json!({
            "description": format!("prelabel draft labels for {}", ctx.video.name),
            "version": env!("CARGO_PKG_VERSION"),
            "model": ctx.model.name,
            "video": ctx.video.name,
            "fps": (ctx.video.fps as f64 * 1000.0).round() / 1000.0,
        });
        let head = format!(
            "{{\"info\":{},\"licenses\":[],\"categories\":{},\"annotations\":[",
            serde_json::to_string(&info).expect("plain json"),
            serde_json::to_string(&categories).expect("plain json")
        );
        file.write_all(head.as_bytes()).map_err(|e| file.err(e))?;
        Ok(CocoWriter {
            file,
            video: ctx.video.name.clone(),
            width: ctx.video.width,
            height: ctx.video.height,
            frames: 0,
            next_id: 1,
            id_offset,
        })
    }
}

impl LabelWriter for CocoWriter {
    fn write_frame(&mut self, frame: &FrameDetections) -> Result<()> {
        self.frames = self.frames.max(frame.frame.index + 1);
        for d in &frame.detections {
            let b = d.bbox;
            let ann = json!({
                "id": self.next_id,
                "image_id": frame.frame.index + 1,
                "category_id": d.class + self.id_offset,
                "bbox": [round2(b.x1), round2(b.y1), round2(b.width()), round2(b.height())],
                "area": round2(b.area()),
                "iscrowd": 0,
                "score": round4(d.score),
            });
            let sep = if self.next_id == 1 { "" } else { "," };
            write!(self.file, "{sep}\n{ann}").map_err(|e| self.file.err(e))?;
            self.next_id += 1;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<PathBuf> {
        write!(self.file, "\n],\"images\":[").map_err(|e| self.file.err(e))?;
        for i in 0..self.frames {
            let image = json!({
                "id": i + 1,
                "file_name": format!("frame_{i:06}.jpg"),
                "width": self.width,
                "height": self.height,
                "video": self.video,
                "frame_index": i,
            });
            let sep = if i == 0 { "" } else { "," };
            write!(self.file, "{sep}\n{image}").map_err(|e| self.file.err(e))?;
        }
        write!(self.file, "\n]}}\n").map_err(|e| self.file.err(e))?;
        self.file.commit()
    }
}
