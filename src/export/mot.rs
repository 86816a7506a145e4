//! MOTChallenge text (`mot.txt`), the tracker result format `motmetrics` and the MOT devkits
//! score: `frame,id,x,y,w,h,conf,-1,-1,-1`, one line per box of every track (predicted and
//! interpolated boxes included: trackers submit them), sorted by frame then id, frames from 1
//! ([`super::frames`]). `conf` is the box's score. The label is not in the format: `mot.txt`
//! of a multi-class job mixes classes (use `--labels` to keep one).

use super::frames::number;
use super::sweep::FrameSweep;
use super::{round2, ExportContext, Format, LabelFormat, Output};
use crate::error::Result;
use crate::types::VideoLabels;
use crate::units::round4;

pub struct Mot;

impl LabelFormat for Mot {
    fn write(&self, _ctx: &ExportContext, labels: &VideoLabels, out: &mut Output) -> Result<()> {
        // Frame by frame, by id within a frame, holding only the tracks alive at each frame.
        let mut sweep = FrameSweep::new(labels.tracks.iter().map(|t| (t, t.id)).collect());
        let mut boxes = Vec::new();
        out.file(Format::Mot.file_name(), |w| {
            while let Some(frame) = sweep.next_frame(&mut boxes) {
                for (t, b) in &boxes {
                    let r = b.bbox;
                    writeln!(
                        w,
                        "{},{},{:.2},{:.2},{:.2},{:.2},{:.4},-1,-1,-1",
                        number(Format::Mot, frame),
                        t.id,
                        round2(r.x1),
                        round2(r.y1),
                        round2(r.width()),
                        round2(r.height()),
                        round4(b.score)
                    )?;
                }
            }
            Ok(())
        })
    }
}
