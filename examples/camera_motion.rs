//! Development tool: measures the camera's motion between consecutive frames of a video, as
//! the tracker does, and writes one line a frame (`a -b tx b a ty`, the frame before to this
//! one), to compare with another estimator or feed `examples/retrack` (`camera=DIR`).
//!
//!     cargo run --release --example camera_motion -- VIDEO OUT.txt [DETECTIONS.mot.txt]
//!
//! DETECTIONS (MOT rows, frames from 1) are masked out of each frame, as the tracker masks
//! the frame's detections. Prints the time per frame.

use std::io::Write;
use std::time::Instant;

use prelabel::decode::VideoReader;
use prelabel::eval::read_mot;
use prelabel::track::camera::CameraFollower;
use prelabel::types::Detection;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    prelabel::decode::init();
    let mut reader = VideoReader::open(args[0].as_ref()).expect("open the video");
    let mut by_frame: std::collections::BTreeMap<u64, Vec<Detection>> = Default::default();
    if let Some(dets) = args.get(2) {
        for r in read_mot(dets.as_ref()).expect("read the detections") {
            by_frame.entry(r.frame - 1).or_default().push(Detection { bbox: r.bbox, class: 0, score: r.conf });
        }
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[1]).expect("create OUT"));
    let mut follower = CameraFollower::new();
    let (mut spent, mut frames) = (0.0, 0u32);
    while let Some(frame) = reader.next_frame().expect("decode") {
        let dets = by_frame.get(&frame.index).map(Vec::as_slice).unwrap_or(&[]);
        let t = Instant::now();
        let m = follower.follow(&frame, dets);
        spent += t.elapsed().as_secs_f64();
        frames += 1;
        writeln!(out, "{} {} {} {} {} {}", m.a, -m.b, m.tx, m.b, m.a, m.ty).unwrap();
    }
    eprintln!("{}: {frames} frames, {:.1} ms a frame", args[0], 1000.0 * spent / frames.max(1) as f64);
}
