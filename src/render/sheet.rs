//! `review.png`, the contact sheet: one thumbnail per track of the review queue, most
//! uncertain first (the queue's order), so an annotator sees in one picture which tracks to
//! fix and a lead sees whether the batch is worth sending. Each thumbnail is the track's
//! least certain frame (its lowest-scoring detected box) cropped around the box with a
//! margin, the box drawn in, and under it the id, label, score and frame. At most
//! [`MAX_THUMBNAILS`]; a line at the top says how many were left out (`review.json` lists all).
//!
//! The crops are taken from the clean frames during the preview's decode pass
//! (`SheetBuilder::offer`), so the sheet costs no extra pass over the video and holds only
//! the small thumbnails, never whole frames.

use std::collections::BTreeMap;

use image::imageops::{resize, FilterType};
use image::{Rgb, RgbImage};

use super::draw::{outline, Painter, Stroke, REVIEW, WHITE};
use crate::route::QueueEntry;
use crate::types::{BBox, BoxSource, Track};

/// Most thumbnails on one sheet: 8 rows of 8, about 1450 x 1700 pixels.
pub const MAX_THUMBNAILS: usize = 64;
/// Thumbnail picture area, square, pixels.
pub const THUMB: u32 = 160;
const COLUMNS: usize = 8;
const GAP: u32 = 8;
const TEXT_PX: f32 = 13.0;
const BACKGROUND: Rgb<u8> = Rgb([32, 32, 32]);

/// Where everything goes on a sheet for a queue of `total` tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Tracks in the review queue.
    pub total: usize,
    /// Thumbnails drawn: `min(total, MAX_THUMBNAILS)`.
    pub shown: usize,
    pub columns: u32,
    pub rows: u32,
    pub cell_width: u32,
    pub cell_height: u32,
    /// Height of the title lines above the grid.
    pub header: u32,
    pub width: u32,
    pub height: u32,
}

impl Layout {
    pub fn new(total: usize) -> Layout {
        let shown = total.min(MAX_THUMBNAILS);
        let columns = shown.clamp(1, COLUMNS) as u32;
        let rows = shown.div_ceil(COLUMNS) as u32;
        let line = Painter::new(TEXT_PX).tag_size("Ag").1;
        // Title, plus a line saying what was left out when the queue is longer than the cap.
        let header = GAP + line * if shown < total { 2 } else { 1 } + GAP;
        let (cell_width, cell_height) = (THUMB, THUMB + 3 * line);
        let width = GAP + columns * (cell_width + GAP);
        // An empty queue still gets a sheet, with room for its one line and a little more.
        let width = width.max(THUMB * 3);
        let height = header + rows * (cell_height + GAP) + GAP;
        Layout { total, shown, columns, rows, cell_width, cell_height, header, width, height }
    }

    /// Top-left corner of thumbnail `i` (0 = most uncertain): row by row, left to right.
    pub fn cell(&self, i: usize) -> (u32, u32) {
        let (col, row) = (i as u32 % self.columns, i as u32 / self.columns);
        (GAP + col * (self.cell_width + GAP), self.header + row * (self.cell_height + GAP))
    }
}

/// The frame and box a thumbnail shows for one queue entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pick {
    pub frame: u64,
    pub bbox: BBox,
    /// The detector's score of that box.
    pub score: f32,
}

/// A track's least certain frame: its lowest-scoring detected box (the first of equals); a
/// track with no detected box (not written by prelabel) shows its first box.
pub(crate) fn least_certain(track: &Track) -> Option<Pick> {
    let detected = track.boxes.iter().filter(|b| b.source == BoxSource::Detected);
    let best = detected.fold(None, |low: Option<&crate::types::TrackBox>, b| match low {
        Some(l) if l.score <= b.score => Some(l),
        _ => Some(b),
    });
    best.or(track.boxes.first()).map(|b| Pick { frame: b.frame, bbox: b.bbox, score: b.score })
}

/// Collects the thumbnails while the frames go by, then draws the sheet.
pub(crate) struct SheetBuilder {
    video: String,
    layout: Layout,
    /// Per shown queue entry: the entry, its pick, and the thumbnail once its frame was seen.
    slots: Vec<(QueueEntry, Option<Pick>, Option<RgbImage>)>,
    /// Frame index -> slots waiting for it.
    wanted: BTreeMap<u64, Vec<usize>>,
}

impl SheetBuilder {
    /// For the review queue `queue` (most uncertain first) of `video`; `tracks` are the routed
    /// tracks the queue names.
    pub fn new(video: &str, queue: &[QueueEntry], tracks: &[Track]) -> SheetBuilder {
        let layout = Layout::new(queue.len());
        let mut wanted: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        let slots = queue
            .iter()
            .take(layout.shown)
            .enumerate()
            .map(|(i, e)| {
                let pick = tracks.iter().find(|t| t.id == e.track_id).and_then(least_certain);
                if let Some(p) = &pick {
                    wanted.entry(p.frame).or_default().push(i);
                }
                (e.clone(), pick, None)
            })
            .collect();
        SheetBuilder { video: video.to_string(), layout, slots, wanted }
    }

    /// Takes the thumbnails that frame `index` (clean, before any drawing) holds.
    pub(crate) fn offer(&mut self, index: u64, frame: &RgbImage) {
        let Some(slots) = self.wanted.remove(&index) else { return };
        for i in slots {
            if let (_, Some(pick), thumb) = &mut self.slots[i] {
                *thumb = Some(thumbnail(frame, &pick.bbox));
            }
        }
    }

    /// The sheet: title, then the thumbnails with their captions.
    pub fn finish(self) -> RgbImage {
        let l = self.layout;
        let mut sheet = RgbImage::from_pixel(l.width, l.height, BACKGROUND);
        let p = Painter::new(TEXT_PX);
        let line = p.tag_size("Ag").1 as i32;
        let title = match l.total {
            0 => format!("{}: no tracks to review", self.video),
            1 => format!("{}: 1 track to review", self.video),
            n => format!("{}: {n} tracks to review, most uncertain first", self.video),
        };
        p.tag(&mut sheet, GAP as i32, GAP as i32, &title, WHITE, BACKGROUND);
        if l.shown < l.total {
            let note = format!("showing the first {} of {}; review.json lists them all", l.shown, l.total);
            p.tag(&mut sheet, GAP as i32, GAP as i32 + line, &note, WHITE, BACKGROUND);
        }
        for (i, (entry, pick, thumb)) in self.slots.into_iter().enumerate() {
            let (x, y) = l.cell(i);
            match &thumb {
                Some(t) => {
                    image::imageops::overlay(&mut sheet, t, (x + (THUMB - t.width()) / 2) as i64, (y + (THUMB - t.height()) / 2) as i64)
                }
                None => p.tag(&mut sheet, x as i32, y as i32, "(frame not decoded)", WHITE, BACKGROUND),
            }
            let static_track = entry.look_at.iter().any(|r| r.reason == "static");
            let (frame, score) = pick.map_or((String::from("-"), String::from("-")), |p| (p.frame.to_string(), format!("{:.2}", p.score)));
            let lines = [
                format!("#{} {}", entry.track_id, entry.label),
                format!("score {:.2} (here {score})", entry.mean_score),
                format!("frame {frame}{}", if static_track { ", static" } else { "" }),
            ];
            for (k, text) in lines.iter().enumerate() {
                p.tag(&mut sheet, x as i32, (y + THUMB) as i32 + k as i32 * line, text, WHITE, BACKGROUND);
            }
        }
        sheet
    }
}

/// The box with a margin of half its size on each side (at least 12 pixels), cropped from the
/// frame, scaled to fit [`THUMB`] x [`THUMB`], with the box drawn in.
fn thumbnail(frame: &RgbImage, bbox: &BBox) -> RgbImage {
    let (fw, fh) = (frame.width() as f32, frame.height() as f32);
    let b = bbox.clamp(fw, fh);
    let margin = (b.width().max(b.height()) * 0.5).max(12.0);
    let x0 = (b.x1 - margin).max(0.0).floor();
    let y0 = (b.y1 - margin).max(0.0).floor();
    let x1 = (b.x2 + margin).min(fw).ceil();
    let y1 = (b.y2 + margin).min(fh).ceil();
    let (cw, ch) = (((x1 - x0) as u32).max(1), ((y1 - y0) as u32).max(1));
    let crop =
        image::imageops::crop_imm(frame, x0 as u32, y0 as u32, cw.min(frame.width() - x0 as u32), ch.min(frame.height() - y0 as u32))
            .to_image();
    let k = (THUMB as f32 / crop.width() as f32).min(THUMB as f32 / crop.height() as f32);
    let (tw, th) =
        (((crop.width() as f32 * k).round() as u32).clamp(1, THUMB), ((crop.height() as f32 * k).round() as u32).clamp(1, THUMB));
    let mut t = resize(&crop, tw, th, FilterType::Triangle);
    let inside = BBox { x1: (b.x1 - x0) * k, y1: (b.y1 - y0) * k, x2: (b.x2 - x0) * k, y2: (b.y2 - y0) * k };
    outline(&mut t, &inside, Stroke::Solid(2), REVIEW);
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ReviewBand, TrackBox};

    #[test]
    fn layout_caps_the_thumbnails_and_keeps_them_apart() {
        let empty = Layout::new(0);
        assert_eq!((empty.shown, empty.rows), (0, 0));
        assert!(empty.width > 0 && empty.height > empty.header);
        let five = Layout::new(5);
        assert_eq!((five.shown, five.columns, five.rows), (5, 5, 1));
        let many = Layout::new(100);
        assert_eq!((many.shown, many.columns, many.rows), (MAX_THUMBNAILS, 8, 8));
        assert!(many.header > five.header, "the note about the left-out tracks takes a line");
        for l in [five, Layout::new(9), many] {
            let cells: Vec<(u32, u32)> = (0..l.shown).map(|i| l.cell(i)).collect();
            for (i, &(x, y)) in cells.iter().enumerate() {
                assert!(x + l.cell_width <= l.width && y + l.cell_height <= l.height, "cell {i} inside the sheet");
                for &(x2, y2) in &cells[i + 1..] {
                    assert!(x + l.cell_width <= x2 || y + l.cell_height <= y2, "cells do not overlap");
                }
            }
        }
    }

    fn track(id: u64, scores: &[(f32, BoxSource)]) -> Track {
        let boxes = scores
            .iter()
            .enumerate()
            .map(|(i, &(score, source))| TrackBox {
                frame: 10 + i as u64,
                bbox: BBox { x1: 10.0 + i as f32, y1: 10.0, x2: 30.0, y2: 50.0 },
                score,
                source,
                keyframe: false,
                occluded: false,
            })
            .collect();
        Track { id, class: 1, boxes, mean_score: 0.5, min_score: 0.3, band: ReviewBand::Review, stationary: false, looks: None }
    }

    #[test]
    fn the_least_certain_frame_is_the_lowest_detected_score() {
        use BoxSource::*;
        let t = track(1, &[(0.7, Detected), (0.2, Predicted), (0.4, Detected), (0.4, Detected), (0.9, Detected)]);
        let p = least_certain(&t).unwrap();
        assert_eq!((p.frame, p.score), (12, 0.4));
    }

    #[test]
    fn thumbnails_crop_around_the_box_and_fit_the_cell() {
        let mut frame = RgbImage::from_pixel(400, 300, Rgb([0, 0, 255]));
        for y in 100..200 {
            for x in 150..200 {
                frame.put_pixel(x, y, Rgb([255, 255, 0]));
            }
        }
        let t = thumbnail(&frame, &BBox { x1: 150.0, y1: 100.0, x2: 200.0, y2: 200.0 });
        // 50 x 100 box + 50 px margins: a 150 x 200 crop, scaled to 120 x 160.
        assert_eq!((t.width(), t.height()), (120, 160));
        // The object fills the middle; margins show the surroundings; the box is drawn.
        assert_eq!(*t.get_pixel(60, 80), Rgb([255, 255, 0]));
        assert_eq!(*t.get_pixel(5, 5), Rgb([0, 0, 255]));
        assert_eq!(*t.get_pixel(40, 40), REVIEW);
    }
}
