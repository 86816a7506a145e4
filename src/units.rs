//! The two conversions routing and export both write with, kept out of either stage so
//! neither imports the other: a frame's time in seconds, and scores rounded to the 4 decimals
//! every output file carries. Not a stage; pure functions.

/// Seconds from the start of the video to the frame at decode index `index`, at `fps`
/// ([`crate::types::VideoInfo::fps`]: positive and finite).
pub(crate) fn time_s(index: u64, fps: f32) -> f64 {
    index as f64 / fps as f64
}

/// Scores as every file writes them (the formats and `review.json`): 4 decimals, ties away
/// from zero.
pub fn round4(v: f32) -> f64 {
    (v as f64 * 10000.0).round() / 10000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_times_and_score_rounding() {
        assert!((time_s(30, 30.0) - 1.0).abs() < 1e-12);
        assert_eq!(round4(0.123449), 0.1234);
        assert_eq!(round4(0.5), 0.5);
    }
}
