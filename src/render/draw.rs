//! Drawing on RGB frames with `imageproc` and DejaVu Sans (shipped inside the `dejavu`
//! crate, read by `ab_glyph`): boxes in their review band's colour and their source's stroke,
//! tags with the track id and label, the frame number. The preview video and the contact
//! sheet draw with the same `Painter`, so a track looks the same in both.

use ab_glyph::{FontRef, PxScale};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_hollow_rect_mut, draw_text_mut, text_size};
use imageproc::rect::Rect;

use crate::types::{BBox, BoxSource, ReviewBand};

/// Accepted tracks: green, the usual "fine" colour.
pub const ACCEPT: Rgb<u8> = Rgb([40, 200, 80]);
/// Tracks to review: orange, what the eye finds first.
pub(crate) const REVIEW: Rgb<u8> = Rgb([255, 140, 0]);
pub(crate) const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
pub(crate) const WHITE: Rgb<u8> = Rgb([255, 255, 255]);

pub(crate) fn band_colour(band: ReviewBand) -> Rgb<u8> {
    match band {
        ReviewBand::Accept => ACCEPT,
        ReviewBand::Review => REVIEW,
    }
}

/// How a box's outline is drawn, by where the box came from: what the detector saw is bold;
/// what the tracker guessed is lighter, so a reviewer sees at a glance which boxes are
/// evidence and which are filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stroke {
    /// Detected: a solid line this many pixels wide.
    Solid(u32),
    /// Predicted through a miss or occlusion: dashes.
    Dashed,
    /// Interpolated between detector frames (`--stride`): a 1-pixel line.
    Thin,
}

impl Stroke {
    /// The stroke of `source` for a frame `frame_height` pixels tall (bolder on large frames).
    pub fn of(source: BoxSource, frame_height: u32) -> Stroke {
        match source {
            BoxSource::Detected => Stroke::Solid((frame_height / 240).clamp(2, 6)),
            BoxSource::Predicted => Stroke::Dashed,
            BoxSource::Interpolated => Stroke::Thin,
        }
    }
}

/// The font at one size.
pub(crate) struct Painter {
    font: FontRef<'static>,
    scale: PxScale,
    /// Room around text in a tag, pixels.
    pad: i32,
}

impl Painter {
    /// Text `text_px` pixels tall.
    pub fn new(text_px: f32) -> Painter {
        // The bytes are a font shipped with the crate: parsing cannot fail at run time
        // unless the crate itself is broken, which the tests would show.
        let font = FontRef::try_from_slice(dejavu::sans::regular()).expect("DejaVu Sans from the dejavu crate parses");
        Painter { font, scale: PxScale::from(text_px), pad: (text_px / 6.0).ceil() as i32 }
    }

    /// A painter sized for frames `height` pixels tall: text about 1/40 of the height, at
    /// least 12 px so it stays readable on small videos.
    pub(crate) fn for_frame(height: u32) -> Painter {
        Painter::new((height as f32 / 40.0).max(12.0))
    }

    /// Width and height of `text` with its tag padding.
    pub(crate) fn tag_size(&self, text: &str) -> (u32, u32) {
        let (w, _) = text_size(self.scale, &self.font, text);
        let h = self.scale.y.ceil() as u32;
        (w + 2 * self.pad as u32, h + 2 * self.pad as u32)
    }

    /// `text` in `fg` on a filled `bg` rectangle whose top-left corner is (`x`, `y`), moved
    /// inside the image where it would stick out.
    pub(crate) fn tag(&self, img: &mut RgbImage, x: i32, y: i32, text: &str, fg: Rgb<u8>, bg: Rgb<u8>) {
        let (w, h) = self.tag_size(text);
        let x = x.min(img.width() as i32 - w as i32).max(0);
        let y = y.min(img.height() as i32 - h as i32).max(0);
        draw_filled_rect_mut(img, Rect::at(x, y).of_size(w, h), bg);
        // ab_glyph places the text's em box at y; the font's ascent fills most of it.
        draw_text_mut(img, fg, x + self.pad, y + self.pad, self.scale, &self.font, text);
    }

    /// A box outline in `colour` with `stroke`, clipped to the image, and above it (or inside
    /// its top when there is no room above) the tag `text`.
    pub(crate) fn labelled_box(&self, img: &mut RgbImage, bbox: &BBox, stroke: Stroke, colour: Rgb<u8>, text: &str) {
        let Some(r) = outline(img, bbox, stroke, colour) else { return };
        let (_, th) = self.tag_size(text);
        let y = if r.top() >= th as i32 { r.top() - th as i32 } else { r.top() };
        let fg = if colour == REVIEW || colour == ACCEPT { BLACK } else { WHITE };
        self.tag(img, r.left(), y, text, fg, colour);
    }

    /// "frame N / TOTAL" in the top-left corner, white on black (decode index from 0, as
    /// CVAT and review.json number frames).
    pub(crate) fn frame_number(&self, img: &mut RgbImage, index: u64, total: u64) {
        self.tag(img, 0, 0, &format!("frame {index} / {total}"), WHITE, BLACK);
    }
}

/// Draws the outline of `bbox` (clipped to the image); returns the rectangle drawn, None when
/// the box lies outside the image or is empty.
pub(crate) fn outline(img: &mut RgbImage, bbox: &BBox, stroke: Stroke, colour: Rgb<u8>) -> Option<Rect> {
    let b = bbox.clamp(img.width() as f32, img.height() as f32);
    let (x1, y1) = (b.x1.round() as i32, b.y1.round() as i32);
    let (x2, y2) = ((b.x2.round() as i32).min(img.width() as i32 - 1), (b.y2.round() as i32).min(img.height() as i32 - 1));
    if x2 <= x1 || y2 <= y1 {
        return None;
    }
    let rect = Rect::at(x1, y1).of_size((x2 - x1 + 1) as u32, (y2 - y1 + 1) as u32);
    match stroke {
        Stroke::Thin => draw_hollow_rect_mut(img, rect, colour),
        Stroke::Solid(width) => {
            // Nested outlines, growing inwards so the outer edge sits on the box.
            for i in 0..width as i32 {
                let (w, h) = (rect.width() as i32 - 2 * i, rect.height() as i32 - 2 * i);
                if w <= 0 || h <= 0 {
                    break;
                }
                draw_hollow_rect_mut(img, Rect::at(x1 + i, y1 + i).of_size(w as u32, h as u32), colour);
            }
        }
        Stroke::Dashed => {
            // 2-pixel dashes, 8 on and 6 off, along each side.
            let (dash, gap, t) = (8, 6, 2);
            let mut along = |horizontal: bool, fixed: i32, from: i32, to: i32| {
                let mut p = from;
                while p <= to {
                    let len = dash.min(to - p + 1) as u32;
                    let r = if horizontal { Rect::at(p, fixed).of_size(len, t) } else { Rect::at(fixed, p).of_size(t, len) };
                    draw_filled_rect_mut(img, r, colour);
                    p += dash + gap;
                }
            };
            along(true, y1, x1, x2);
            along(true, (y2 - t as i32 + 1).max(y1), x1, x2);
            along(false, x1, y1, y2);
            along(false, (x2 - t as i32 + 1).max(x1), y1, y2);
        }
    }
    Some(rect)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey() -> RgbImage {
        RgbImage::from_pixel(100, 80, Rgb([50, 50, 50]))
    }

    #[test]
    fn a_detected_box_is_a_solid_outline_of_its_band_colour_at_its_pixels() {
        let mut img = grey();
        let b = BBox { x1: 20.0, y1: 10.0, x2: 60.0, y2: 50.0 };
        let r = outline(&mut img, &b, Stroke::Solid(3), REVIEW).unwrap();
        assert_eq!((r.left(), r.top(), r.right(), r.bottom()), (20, 10, 60, 50));
        for (x, y) in [(20, 10), (60, 50), (40, 10), (40, 12), (20, 30), (22, 30), (60, 30), (58, 30), (40, 50)] {
            assert_eq!(*img.get_pixel(x, y), REVIEW, "({x}, {y}) is on the outline");
        }
        for (x, y) in [(40, 13), (23, 30), (57, 30), (40, 30), (19, 30), (61, 30), (40, 9), (40, 51)] {
            assert_eq!(*img.get_pixel(x, y), Rgb([50, 50, 50]), "({x}, {y}) is off the outline");
        }
    }

    #[test]
    fn thin_and_dashed_strokes_differ_from_solid() {
        let b = BBox { x1: 10.0, y1: 10.0, x2: 90.0, y2: 70.0 };
        let count = |stroke| {
            let mut img = grey();
            outline(&mut img, &b, stroke, ACCEPT);
            img.pixels().filter(|p| **p == ACCEPT).count()
        };
        let (solid, thin, dashed) = (count(Stroke::Solid(3)), count(Stroke::Thin), count(Stroke::Dashed));
        // A 1-pixel outline of an 81 x 61 box: 2 * (81 + 61) - 4 pixels.
        assert_eq!(thin, 2 * (81 + 61) - 4);
        assert!(solid > 2 * thin, "solid {solid}, thin {thin}");
        assert!(dashed < 2 * thin && dashed > thin / 2, "dashed {dashed}, thin {thin}");
        // Dashes leave gaps along the top edge.
        let mut img = grey();
        outline(&mut img, &b, Stroke::Dashed, ACCEPT);
        let top: Vec<bool> = (10..=90).map(|x| *img.get_pixel(x, 10) == ACCEPT).collect();
        assert!(top[..8].iter().all(|&on| on) && top[8..14].iter().all(|&on| !on), "{top:?}");
    }

    #[test]
    fn boxes_outside_the_frame_are_clipped_or_skipped() {
        let mut img = grey();
        assert!(outline(&mut img, &BBox { x1: 200.0, y1: 0.0, x2: 300.0, y2: 50.0 }, Stroke::Thin, ACCEPT).is_none());
        let r = outline(&mut img, &BBox { x1: -20.0, y1: -5.0, x2: 500.0, y2: 30.0 }, Stroke::Solid(2), ACCEPT).unwrap();
        assert_eq!((r.left(), r.top(), r.right(), r.bottom()), (0, 0, 99, 30));
        assert_eq!(*img.get_pixel(99, 15), ACCEPT);
    }

    #[test]
    fn tags_write_text_inside_the_image() {
        let p = Painter::new(14.0);
        let mut img = grey();
        p.labelled_box(&mut img, &BBox { x1: 70.0, y1: 5.0, x2: 99.0, y2: 60.0 }, Stroke::Solid(2), ACCEPT, "#12 person");
        let (w, h) = p.tag_size("#12 person");
        assert!(w > 40 && h >= 14, "{w}x{h}");
        // No room above the box: the tag sits inside its top, pushed left to fit the image,
        // a band-coloured background with dark text on it.
        let x0 = 100 - w;
        let tag: Vec<Rgb<u8>> = (x0..100).flat_map(|x| (5..5 + h).map(move |y| (x, y))).map(|(x, y)| *img.get_pixel(x, y)).collect();
        assert!(tag.iter().filter(|c| **c == ACCEPT).count() > tag.len() / 2);
        assert!(tag.iter().filter(|c| c.0[1] < 120).count() > 10, "text pixels drawn");
        let mut img = grey();
        p.frame_number(&mut img, 7, 795);
        assert_eq!(*img.get_pixel(0, 0), BLACK);
        assert!(img.pixels().filter(|c| c.0[0] > 200).count() > 20, "white text drawn");
    }
}
