//! YUV 4:2:0 to RGB8 on the CPU: takes a [`Frame`] holding decoder planes, gives a packed
//! RGB8 frame. The reference for the YUV path of `shaders/preprocess.wgsl`, which does the
//! same integer arithmetic per sampled pixel, so both agree exactly.
//!
//! Matrix: BT.601, limited ("TV") range, the colourspace of SD H.264/MPEG-4 video and what
//! swscale assumes by default for it:
//!
//! ```text
//! R = 1.164 (Y - 16)                   + 1.596 (V - 128)
//! G = 1.164 (Y - 16) - 0.392 (U - 128) - 0.813 (V - 128)
//! B = 1.164 (Y - 16) + 2.017 (U - 128)
//! ```
//!
//! in 8.8 fixed point (298, 409, 100, 208, 516, rounded, clamped to 0..255). Each chroma
//! sample serves its 2x2 block of luma samples (no chroma interpolation), as swscale's
//! unscaled YUV-to-RGB converters do. HD video is nominally BT.709; using 601 for it shifts
//! colours by a few levels, which the detector does not notice.

use std::borrow::Cow;

use crate::types::Frame;

/// One pixel.
#[inline]
pub(crate) fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (y as i32 - 16) + 128;
    let (d, e) = (u as i32 - 128, v as i32 - 128);
    let clamp = |x: i32| (x >> 8).clamp(0, 255) as u8;
    [clamp(c + 409 * e), clamp(c - 100 * d - 208 * e), clamp(c + 516 * d)]
}

/// The frame as packed RGB8: itself when it already is, else converted.
pub fn as_rgb(frame: &Frame) -> Cow<'_, Frame> {
    let Some(p) = &frame.yuv else { return Cow::Borrowed(frame) };
    let (w, h) = (frame.width as usize, frame.height as usize);
    let cw = w.div_ceil(2);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let (luma, crow) = (&p.y[y * w..][..w], (y / 2) * cw);
        for (x, &l) in luma.iter().enumerate() {
            rgb.extend_from_slice(&yuv_to_rgb(l, p.u[crow + x / 2], p.v[crow + x / 2]));
        }
    }
    Cow::Owned(Frame::from_rgb(frame.index, frame.width, frame.height, rgb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Yuv420;

    #[test]
    fn reference_colours() {
        // Limited-range black, white and grey; saturated primaries land near 255/0.
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
        assert_eq!(yuv_to_rgb(126, 128, 128), [128, 128, 128]);
        // BT.601 red: Y 81, U 90, V 240.
        let [r, g, b] = yuv_to_rgb(81, 90, 240);
        assert!(r >= 254 && g <= 1 && b <= 1, "{r} {g} {b}");
    }

    #[test]
    fn chroma_serves_its_two_by_two_block_at_odd_sizes() {
        // 3x3 luma, 2x2 chroma: pixel (2, 2) uses chroma (1, 1).
        let f = Frame {
            index: 4,
            width: 3,
            height: 3,
            rgb: vec![],
            yuv: Some(Yuv420 { y: vec![126; 9], u: vec![128, 128, 128, 200], v: vec![128; 4] }),
        };
        assert!(f.is_consistent());
        let rgb = as_rgb(&f);
        assert_eq!(rgb.index, 4);
        assert_eq!(&rgb.rgb[..3], &[128, 128, 128]);
        assert_eq!(&rgb.rgb[(2 * 3 + 2) * 3..], &yuv_to_rgb(126, 200, 128));
        assert_eq!(&rgb.rgb[(2 * 3 + 1) * 3..][..3], &[128, 128, 128]);
    }
}
