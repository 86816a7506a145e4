//! Development tool: the colour descriptors the tracker gives each detection
//! (`track::appearance::describe`), saved so that `examples/retrack` can replay tracking and
//! refinement with appearance, as the pipeline runs them, without the detector.
//!
//!     cargo run --release --example looks -- VIDEO DETECTIONS.mot.txt OUT.bin
//!
//! DETECTIONS are MOT rows (frames from 1) of VIDEO, e.g. from `prelabel run --no-track`.
//! OUT.bin holds, for each row in file order, its descriptor as little-endian f32s
//! (1,024 of them: two 512-bin histograms).

use std::collections::BTreeMap;
use std::io::Write;

use prelabel::decode::VideoReader;
use prelabel::eval::read_mot;
use prelabel::track::appearance::describe;
use prelabel::types::BBox;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [video, dets, out] = &args[..] else { panic!("usage: looks VIDEO DETECTIONS.mot.txt OUT.bin") };
    prelabel::decode::init();
    let rows = read_mot(dets.as_ref()).expect("read the detections");
    // Row numbers by frame, so the descriptors go out in the file's order.
    let mut by_frame: BTreeMap<u64, Vec<(usize, BBox)>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        by_frame.entry(r.frame - 1).or_default().push((i, r.bbox));
    }
    let mut looks = vec![Vec::new(); rows.len()];
    let mut reader = VideoReader::open(video.as_ref()).expect("open the video");
    while let Some(frame) = reader.next_frame().expect("decode") {
        let Some(boxes) = by_frame.get(&frame.index) else { continue };
        let described = describe(&frame, &boxes.iter().map(|(_, b)| *b).collect::<Vec<_>>());
        for ((i, _), look) in boxes.iter().zip(described) {
            looks[*i] = look.0.to_vec();
        }
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).expect("create OUT"));
    for (i, look) in looks.iter().enumerate() {
        assert!(!look.is_empty(), "row {} (frame {}) is past the video's end", i + 1, rows[i].frame);
        for v in look {
            w.write_all(&v.to_le_bytes()).unwrap();
        }
    }
    w.flush().unwrap();
}
