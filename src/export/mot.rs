//! MOTChallenge text: `frame,id,x,y,w,h,conf,-1,-1,-1`, frames counted from 1, one line per
//! box; numbers rounded as in the other formats. Until tracking exists every id is -1, as in MOTChallenge detection files.

use std::io::Write;
use std::path::PathBuf;

use super::{round2, round4, AtomicFile, LabelWriter};
use crate::error::Result;
use crate::types::FrameDetections;

pub struct MotWriter {
    file: AtomicFile,
}

impl MotWriter {
    pub fn new(path: PathBuf) -> Result<MotWriter> {
        Ok(MotWriter { file: AtomicFile::create(path)? })
    }
}

impl LabelWriter for MotWriter {
    fn write_frame(&mut self, frame: &FrameDetections) -> Result<()> {
        for d in &frame.detections {
            let b = d.bbox;
            writeln!(
                self.file,
                "{},-1,{:.2},{:.2},{:.2},{:.2},{:.4},-1,-1,-1",
                frame.frame.index + 1,
                round2(b.x1),
                round2(b.y1),
                round2(b.width()),
                round2(b.height()),
                round4(d.score)
            )
            .map_err(|e| self.file.err(e))?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<PathBuf> {
        self.file.commit()
    }
}
