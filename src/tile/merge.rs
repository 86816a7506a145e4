//! Merges the detections of a frame's regions (the whole frame and its tiles, each already
//! decoded, NMS'd and clamped to its region by the postprocessor) into one
//! [`FrameDetections`]. Pure function on the CPU.
//!
//! A tile box that touches an interior tile border is "cut": the object goes on beyond what
//! the tile saw. Left in, the cut halves of close-up people would be extra, wrongly sized
//! boxes (this is what makes naive tiling lose accuracy on close-up scenes). So a cut box is
//! dropped when another region (the whole frame, or a neighbouring tile through the overlap)
//! has an uncut box of the same class covering most of it. A cut box that nobody sees whole
//! is kept: half a box is still a better draft than none. Class-aware NMS then removes the
//! duplicates of objects seen whole by several regions.

use crate::model::{ModelSpec, OutputSpec};
use crate::postprocess::nms::nms;
use crate::types::{BBox, Detection, FrameDetections, FrameInfo, Region};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MergeParams {
    /// IoU above which NMS takes two boxes of a class for the same object.
    pub nms_iou: f32,
    /// Most detections kept per frame, best first.
    pub max_detections: usize,
    /// A box side within this fraction of the tile's extent (at least 2 px) of an interior
    /// tile border counts as cut by it: the detector ends boxes of cut objects a few input
    /// pixels short of the image edge, not exactly on it.
    pub border: f32,
    /// A cut box is dropped when an uncut same-class box from another region covers at least
    /// this fraction of its area (intersection over the cut box's area: the cut box is a part
    /// of the whole one, so IoU would understate the match).
    pub cover: f32,
}

impl MergeParams {
    /// Merge settings for `spec`: its own NMS IoU (0.5 for models that run NMS inside, whose
    /// threshold is not known).
    pub(crate) fn for_model(spec: &ModelSpec, max_detections: usize) -> MergeParams {
        let nms_iou = match &spec.output {
            OutputSpec::Ssd { nms_iou, .. }
            | OutputSpec::Nanodet { nms_iou, .. }
            | OutputSpec::Yolov5 { nms_iou, .. }
            | OutputSpec::Yolov8 { nms_iou, .. } => *nms_iou,
            OutputSpec::End2end { .. } | OutputSpec::End2endSplit { .. } => 0.5,
        };
        MergeParams { nms_iou, max_detections, border: 0.02, cover: 0.5 }
    }
}

/// Whether a side of `b` lies on a border of `r` that is inside the frame (a frame edge cuts
/// nothing: the object ends there for every region).
fn is_cut(b: &BBox, r: &Region, frame: &FrameInfo, border: f32) -> bool {
    let (tx, ty) = ((border * r.width as f32).max(2.0), (border * r.height as f32).max(2.0));
    let (x0, y0) = (r.x as f32, r.y as f32);
    let (x1, y1) = ((r.x + r.width) as f32, (r.y + r.height) as f32);
    (r.x > 0 && b.x1 <= x0 + tx)
        || (r.y > 0 && b.y1 <= y0 + ty)
        || (r.x + r.width < frame.width && b.x2 >= x1 - tx)
        || (r.y + r.height < frame.height && b.y2 >= y1 - ty)
}

/// Fraction of `part`'s area that `whole` covers.
fn coverage(part: &BBox, whole: &BBox) -> f32 {
    let w = (part.x2.min(whole.x2) - part.x1.max(whole.x1)).max(0.0);
    let h = (part.y2.min(whole.y2) - part.y1.max(whole.y1)).max(0.0);
    let area = part.area();
    if area <= 0.0 {
        0.0
    } else {
        w * h / area
    }
}

/// One frame's detections from all the `regions` the model saw of it (`parts[i]` found in
/// `regions[i]`). A single region is returned as it is, so untiled runs are unchanged.
pub fn merge(frame: FrameInfo, parts: &[(Region, Vec<Detection>)], p: &MergeParams) -> FrameDetections {
    if let [(_, only)] = parts {
        return FrameDetections { frame, detections: only.clone() };
    }
    let flagged: Vec<(usize, bool, &Detection)> = parts
        .iter()
        .enumerate()
        .flat_map(|(i, (r, dets))| dets.iter().map(move |d| (i, is_cut(&d.bbox, r, &frame, p.border), d)))
        .collect();
    let kept: Vec<Detection> = flagged
        .iter()
        .filter(|(i, cut, d)| {
            !*cut
                || !flagged
                    .iter()
                    .any(|(j, other_cut, o)| j != i && !other_cut && o.class == d.class && coverage(&d.bbox, &o.bbox) >= p.cover)
        })
        .map(|(_, _, d)| **d)
        .collect();
    FrameDetections { frame, detections: nms(kept, p.nms_iou, p.max_detections) }
}

/// The postprocessor's per-item detections of a batch (`items[i]` from `regions[i]`), merged
/// into one entry per frame, in order. A frame's regions are consecutive items.
pub(crate) fn merge_batch(items: Vec<FrameDetections>, regions: &[Region], p: &MergeParams) -> Vec<FrameDetections> {
    let mut out: Vec<FrameDetections> = Vec::new();
    let mut parts: Vec<(Region, Vec<Detection>)> = Vec::new();
    let mut current: Option<FrameInfo> = None;
    for (item, region) in items.into_iter().zip(regions) {
        if current.is_some_and(|f| f.index != item.frame.index) {
            out.push(merge(current.take().expect("checked"), &parts, p));
            parts.clear();
        }
        current = Some(item.frame);
        parts.push((*region, item.detections));
    }
    if let Some(f) = current {
        out.push(merge(f, &parts, p));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: FrameInfo = FrameInfo { index: 3, width: 200, height: 100 };
    const FULL: Region = Region { x: 0, y: 0, width: 200, height: 100 };
    // Two tiles side by side, overlapping on x 80..120.
    const LEFT: Region = Region { x: 0, y: 0, width: 120, height: 100 };
    const RIGHT: Region = Region { x: 80, y: 0, width: 120, height: 100 };

    fn det(x1: f32, y1: f32, x2: f32, y2: f32, class: u32, score: f32) -> Detection {
        Detection { bbox: BBox { x1, y1, x2, y2 }, class, score }
    }

    fn params() -> MergeParams {
        MergeParams { nms_iou: 0.5, max_detections: 100, border: 0.02, cover: 0.5 }
    }

    #[test]
    fn a_person_cut_by_a_border_and_seen_whole_by_the_full_frame_keeps_only_the_whole_box() {
        // A person at x 100..160: the left tile sees x 100..120, cut at its right border, and
        // scores it higher than the full frame does (so NMS alone would not save us: the
        // boxes' IoU is 1/3).
        let whole = det(100.0, 10.0, 160.0, 90.0, 1, 0.6);
        let cut = det(100.0, 10.0, 120.0, 90.0, 1, 0.9);
        let out = merge(FRAME, &[(FULL, vec![whole]), (LEFT, vec![cut]), (RIGHT, vec![])], &params());
        assert_eq!(out.detections, vec![whole]);
        assert_eq!(out.frame, FRAME);
    }

    #[test]
    fn a_cut_box_seen_whole_by_the_neighbouring_tile_is_dropped() {
        // x 105..118 lies whole inside the right tile's overlap; the left tile cut it at 120
        // (the frame missed it: too small).
        let cut = det(105.0, 40.0, 120.0, 70.0, 1, 0.8);
        let whole = det(105.0, 40.0, 118.0, 70.0, 1, 0.7);
        let out = merge(FRAME, &[(FULL, vec![]), (LEFT, vec![cut]), (RIGHT, vec![whole])], &params());
        assert_eq!(out.detections, vec![whole]);
    }

    #[test]
    fn a_small_person_seen_only_in_a_tile_is_kept() {
        let small = det(20.0, 30.0, 28.0, 50.0, 1, 0.4);
        let out = merge(FRAME, &[(FULL, vec![]), (LEFT, vec![small]), (RIGHT, vec![])], &params());
        assert_eq!(out.detections, vec![small]);
    }

    #[test]
    fn two_tiles_seeing_the_same_person_in_the_overlap_give_one_box() {
        let a = det(90.0, 20.0, 110.0, 60.0, 1, 0.7);
        let b = det(91.0, 21.0, 110.0, 61.0, 1, 0.8);
        let out = merge(FRAME, &[(FULL, vec![]), (LEFT, vec![a]), (RIGHT, vec![b])], &params());
        assert_eq!(out.detections, vec![b]);
    }

    #[test]
    fn cut_boxes_survive_when_nobody_sees_the_object_whole_or_the_class_differs() {
        let cut = det(100.0, 10.0, 120.0, 90.0, 1, 0.9);
        // Only another class sees it whole: the cut person stays.
        let car = det(100.0, 10.0, 160.0, 90.0, 3, 0.6);
        let out = merge(FRAME, &[(FULL, vec![car]), (LEFT, vec![cut]), (RIGHT, vec![])], &params());
        assert_eq!(out.detections, vec![cut, car]);
        // A box ending on the frame's edge is not cut, however it overlaps others.
        let at_edge = det(180.0, 10.0, 200.0, 90.0, 1, 0.9);
        let bigger = det(150.0, 10.0, 200.0, 90.0, 1, 0.5);
        let out = merge(FRAME, &[(FULL, vec![bigger]), (LEFT, vec![]), (RIGHT, vec![at_edge])], &params());
        assert_eq!(out.detections, vec![at_edge, bigger]);
    }

    #[test]
    fn a_single_region_passes_through_untouched_and_the_cap_applies() {
        // Unsorted and overlapping: one region is returned exactly as the postprocessor gave it.
        let dets = vec![det(0.0, 0.0, 10.0, 10.0, 1, 0.2), det(1.0, 0.0, 10.0, 10.0, 1, 0.9)];
        assert_eq!(merge(FRAME, &[(FULL, dets.clone())], &params()).detections, dets);
        let many: Vec<Detection> = (0..10).map(|i| det(i as f32 * 10.0, 0.0, i as f32 * 10.0 + 5.0, 5.0, 1, 0.5)).collect();
        let p = MergeParams { max_detections: 4, ..params() };
        assert_eq!(merge(FRAME, &[(FULL, many), (LEFT, vec![]), (RIGHT, vec![])], &p).detections.len(), 4);
    }

    #[test]
    fn batches_merge_into_one_entry_per_frame_in_order() {
        let f = |index| FrameInfo { index, ..FRAME };
        let item = |index, d: Vec<Detection>| FrameDetections { frame: f(index), detections: d };
        let a = det(10.0, 10.0, 20.0, 20.0, 1, 0.5);
        let b = det(150.0, 10.0, 170.0, 20.0, 1, 0.6);
        let items = vec![item(0, vec![a]), item(0, vec![]), item(0, vec![b]), item(1, vec![]), item(1, vec![a]), item(1, vec![])];
        let regions = [FULL, LEFT, RIGHT, FULL, LEFT, RIGHT];
        let out = merge_batch(items, &regions, &params());
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].frame.index, out[0].detections.clone()), (0, vec![b, a]));
        assert_eq!((out[1].frame.index, out[1].detections.clone()), (1, vec![a]));
        // Untiled batches pass through item for item.
        let plain = vec![item(4, vec![a, b]), item(5, vec![])];
        assert_eq!(merge_batch(plain.clone(), &[FULL, FULL], &params()), plain);
    }
}
