//! What several benches share: settings from the environment, medians, and frames decoded as
//! the pipeline decodes them on the CPU path. Each bench uses some of these.
#![allow(dead_code)]

use std::path::Path;

use prelabel::decode::VideoReader;
use prelabel::types::Frame;

/// `name` from the environment as a whole number, else `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The middle value (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The first `n` frames of `video` (fewer if it is shorter).
pub fn first_frames(video: &Path, n: usize) -> Vec<Frame> {
    let mut r = VideoReader::open(video).unwrap_or_else(|e| panic!("{}: {e} (scripts/setup.sh makes the sample)", video.display()));
    std::iter::from_fn(|| r.next_frame().expect("decodes")).take(n).collect()
}
