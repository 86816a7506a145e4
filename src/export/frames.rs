//! Frame numbering, in one place: every writer turns a frame index (decode order, from 0, as
//! in [`crate::types::TrackBox::frame`]) into the number its format expects through this
//! module, and picks which boxes of a track to write as keyframes here. CPU only.
//!
//! | format | first frame of the video | where the number appears |
//! |---|---|---|
//! | CVAT for video 1.1 | 0 | `<box frame=...>`, `start_frame`/`stop_frame` |
//! | COCO (TAO style) | 0 | `images[].frame_index`; image `id` = frame + 1 (COCO ids start at 1) |
//! | YOLO | 0 | file names `frame_000000.txt` (as ffmpeg `-start_number 0` names extracted frames) |
//! | `review.json` | 0 | every `*_frame` field: what CVAT shows |
//! | MOTChallenge | 1 | first column |
//! | Label Studio | 1 | `sequence[].frame`; `time` = (frame - 1) / fps |

use super::Format;
use crate::types::TrackBox;

/// The number `format` gives the video's first frame.
pub const fn first_frame(format: Format) -> u64 {
    match format {
        Format::Cvat | Format::Coco | Format::Yolo => 0,
        Format::Mot | Format::LabelStudio => 1,
    }
}

/// The number `format` writes for the frame at decode index `index`.
pub const fn number(format: Format, index: u64) -> u64 {
    index + first_frame(format)
}

/// Image name stem of a frame (`frame_000042`), shared by COCO and YOLO so that frames
/// extracted once (`ffmpeg -i clip.mp4 -start_number 0 frame_%06d.jpg`) serve both.
pub(crate) fn image_stem(index: u64) -> String {
    format!("frame_{index:06}")
}

/// Positions (into `boxes`) of the boxes formats with interpolation (CVAT, Label Studio)
/// write: the tracker's keyframes, plus the first and last box (a track must start and end
/// where it does) and every box whose `occluded` flag differs from the box before it (both
/// tools carry that flag forward from the previous written box).
pub fn held_boxes(boxes: &[TrackBox]) -> Vec<usize> {
    let last = boxes.len().saturating_sub(1);
    (0..boxes.len()).filter(|&i| i == 0 || i == last || boxes[i].keyframe || boxes[i].occluded != boxes[i - 1].occluded).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{BBox, BoxSource};

    #[test]
    fn numbering_conventions() {
        assert_eq!(number(Format::Cvat, 0), 0);
        assert_eq!(number(Format::Coco, 0), 0);
        assert_eq!(number(Format::Yolo, 0), 0);
        assert_eq!(number(Format::Mot, 0), 1);
        assert_eq!(number(Format::LabelStudio, 0), 1);
        assert_eq!(number(Format::Mot, 41), 42);
        assert_eq!(image_stem(7), "frame_000007");
    }

    #[test]
    fn held_boxes_are_keyframes_ends_and_occlusion_changes() {
        let b = |frame, keyframe, occluded| TrackBox {
            frame,
            bbox: BBox::default(),
            score: 0.5,
            source: BoxSource::Detected,
            keyframe,
            occluded,
        };
        let boxes = [
            b(5, false, false),
            b(6, false, false),
            b(7, true, false),
            b(8, false, true),
            b(9, false, true),
            b(10, false, false),
            b(11, false, false),
        ];
        assert_eq!(held_boxes(&boxes), [0, 2, 3, 5, 6]);
        assert_eq!(held_boxes(&boxes[..1]), [0]);
        assert!(held_boxes(&[]).is_empty());
    }
}
