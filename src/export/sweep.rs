//! Boxes frame by frame without a table of every box: the formats that list boxes by frame
//! (MOT, COCO annotations, YOLO files) walk the tracks with a [`FrameSweep`], which holds only
//! the tracks covering the current frame. Collecting every box of the video and sorting it
//! would cost 24-70 bytes a box on top of the tracks, growing with the video; the sweep costs
//! 24 bytes per track alive at that frame. CPU.
//!
//! The order is exactly what a stable sort of every box by (frame, rank) gives, where boxes
//! are listed track after track in the order given, each track's boxes in its order (the writers
//! used to do that sort, `tests` checks the two agree): boxes of one frame by their track's
//! rank, equal ranks in track order. It relies on each track's boxes being in frame order (as
//! [`Track::boxes`] promises).

use crate::types::{Track, TrackBox};

/// Walks the boxes of `tracks` in frame order; see the module doc.
pub(crate) struct FrameSweep<'a> {
    tracks: Vec<(&'a Track, u64)>,
    /// Positions into `tracks` with boxes, by first frame (ties: by position).
    starts: Vec<usize>,
    next_start: usize,
    /// (rank, position, next box) of the tracks begun and not finished, by (rank, position).
    active: Vec<(u64, usize, usize)>,
}

impl<'a> FrameSweep<'a> {
    /// `tracks` with the rank that orders each one's boxes within a frame.
    pub fn new(tracks: Vec<(&'a Track, u64)>) -> FrameSweep<'a> {
        let mut starts: Vec<usize> = (0..tracks.len()).filter(|&i| !tracks[i].0.boxes.is_empty()).collect();
        starts.sort_by_key(|&i| tracks[i].0.boxes[0].frame);
        FrameSweep { tracks, starts, next_start: 0, active: Vec::new() }
    }

    /// The next frame that has boxes, and its boxes in order, each with its track; `None` at
    /// the end. `out` is cleared first.
    pub fn next_frame(&mut self, out: &mut Vec<(&'a Track, &'a TrackBox)>) -> Option<u64> {
        out.clear();
        let tracks = &self.tracks;
        let starting = self.starts.get(self.next_start).map(|&i| tracks[i].0.boxes[0].frame);
        let pending = self.active.iter().map(|&(_, i, b)| tracks[i].0.boxes[b].frame).min();
        let frame = starting.into_iter().chain(pending).min()?;
        while let Some(&i) = self.starts.get(self.next_start) {
            if tracks[i].0.boxes[0].frame != frame {
                break;
            }
            let key = (tracks[i].1, i);
            let at = self.active.partition_point(|&(r, p, _)| (r, p) < key);
            self.active.insert(at, (key.0, i, 0));
            self.next_start += 1;
        }
        for (_, i, next) in self.active.iter_mut() {
            let track = tracks[*i].0;
            while let Some(b) = track.boxes.get(*next).filter(|b| b.frame == frame) {
                out.push((track, b));
                *next += 1;
            }
        }
        self.active.retain(|&(_, i, next)| next < tracks[i].0.boxes.len());
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(id: u64, frames: &[u64]) -> Track {
        Track::detected_at(id, frames.iter().copied())
    }

    /// Every box as (frame, id) in the order a stable sort by (frame, rank) of all boxes gives.
    fn sorted(tracks: &[(Track, u64)]) -> Vec<(u64, u64)> {
        let mut all: Vec<(u64, u64, u64)> = tracks.iter().flat_map(|(t, r)| t.boxes.iter().map(move |b| (b.frame, *r, t.id))).collect();
        all.sort_by_key(|&(f, r, _)| (f, r));
        all.into_iter().map(|(f, _, id)| (f, id)).collect()
    }

    fn swept(tracks: &[(Track, u64)]) -> Vec<(u64, u64)> {
        let mut sweep = FrameSweep::new(tracks.iter().map(|(t, r)| (t, *r)).collect());
        let (mut got, mut buf) = (Vec::new(), Vec::new());
        let mut last = None;
        while let Some(frame) = sweep.next_frame(&mut buf) {
            assert!(last < Some(frame), "frames in increasing order");
            last = Some(frame);
            assert!(!buf.is_empty());
            got.extend(buf.iter().map(|(t, b)| (b.frame, t.id)));
        }
        got
    }

    #[test]
    fn same_order_as_sorting_every_box() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..300 {
            let tracks: Vec<(Track, u64)> = (0..rng.usize(0..12))
                .map(|n| {
                    let start = rng.u64(0..30);
                    // Gaps and repeated frames too, always in frame order.
                    let mut f = start;
                    let frames: Vec<u64> = (0..rng.usize(0..15))
                        .map(|_| {
                            f += rng.u64(0..3);
                            f
                        })
                        .collect();
                    // Ids tell the tracks apart; ranks often tie.
                    (track(n as u64 + 1, &frames), rng.u64(0..4))
                })
                .collect();
            assert_eq!(swept(&tracks), sorted(&tracks));
        }
    }
}
