//! Development tool for choosing tracking and refinement defaults: re-runs tracking and
//! refinement on detections saved by `prelabel run --no-track --score-threshold 0.1`, without
//! running the detector again, and writes a mot.txt per sequence.
//!
//!     cargo run --release --example retrack -- DETS OUT [key=value ...]
//!
//! DETS/<seq>/<seq>/mot.txt are the detections; OUT/<seq>.txt the tracks written. Keys set
//! fields of the tracker and refinement settings by path, e.g. `tracker.buffer_s=1.5`,
//! `refine.stitch.max_gap_s=2`, `refine.steps=stitch,smooth` (empty: none). The frame rate of
//! a sequence is DETS/<seq>/fps where given, else 6.25 when its name contains `sub4`, else 25;
//! the frame count comes from DETS/<seq>/frames (one number), the picture's size from
//! DETS/<seq>/size (`WIDTH HEIGHT`, else 1920x1080). `camera=DIR` gives the camera's motion
//! (`examples/camera_motion`, DIR/<seq>.txt); `looks=1` the detections' colours, as the
//! pipeline gives them to the tracker (`examples/looks`, DETS/<seq>/looks.bin).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use prelabel::eval::read_mot;
use prelabel::refine::{refine, RefineConfig, VideoTiming};
use prelabel::track::{Tracker, TrackerConfig};
use prelabel::types::{Appearance, CameraMotion, Detection, FrameDetections, FrameInfo};
use serde_json::Value;

fn set(v: &mut Value, path: &str, raw: &str) {
    let mut cur = v;
    for key in path.split('.') {
        cur = cur.get_mut(key).unwrap_or_else(|| panic!("no setting {path}"));
    }
    *cur = if cur.is_array() {
        Value::Array(raw.split(',').filter(|s| !s.is_empty()).map(|s| Value::String(s.into())).collect())
    } else if cur.is_boolean() {
        Value::Bool(raw == "true")
    } else if cur.is_u64() {
        Value::from(raw.parse::<u64>().unwrap_or_else(|_| panic!("{path}={raw}: not a whole number")))
    } else {
        Value::from(raw.parse::<f64>().unwrap_or_else(|_| panic!("{path}={raw}: not a number")))
    };
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dets, out) = (Path::new(&args[0]), Path::new(&args[1]));
    let mut cfg = serde_json::json!({ "tracker": TrackerConfig::default(), "refine": RefineConfig::default() });
    let mut camera: Option<std::path::PathBuf> = None;
    let mut with_looks = false;
    for kv in &args[2..] {
        let (k, v) = kv.split_once('=').expect("key=value");
        if k == "camera" {
            camera = Some(v.into());
            continue;
        }
        if k == "looks" {
            with_looks = v == "1";
            continue;
        }
        set(&mut cfg, k, v);
    }
    let tracker: TrackerConfig = serde_json::from_value(cfg["tracker"].clone()).unwrap();
    let refine_cfg: RefineConfig = serde_json::from_value(cfg["refine"].clone()).unwrap();
    std::fs::create_dir_all(out).unwrap();
    for entry in std::fs::read_dir(dets).unwrap() {
        let seq = entry.unwrap().file_name().into_string().unwrap();
        let fps: f32 = match std::fs::read_to_string(dets.join(&seq).join("fps")) {
            Ok(s) => s.trim().parse().expect("DETS/<seq>/fps: a number"),
            Err(_) if seq.contains("sub4") => 6.25,
            Err(_) => 25.0,
        };
        let frames: u64 = std::fs::read_to_string(dets.join(&seq).join("frames")).unwrap().trim().parse().unwrap();
        let rows = read_mot(&dets.join(&seq).join(&seq).join("mot.txt")).unwrap();
        // One descriptor a row, in the file's order, where asked for.
        let mut looks = with_looks.then(|| {
            let bytes = std::fs::read(dets.join(&seq).join("looks.bin")).expect("DETS/<seq>/looks.bin (examples/looks)");
            let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            values.chunks_exact(1024).map(|c| Appearance(c.try_into().unwrap())).collect::<Vec<_>>().into_iter()
        });
        let mut by_frame: BTreeMap<u64, (Vec<Detection>, Vec<Appearance>)> = (0..frames).map(|f| (f, Default::default())).collect();
        for r in rows {
            let (found, seen) = by_frame.get_mut(&(r.frame - 1)).unwrap();
            found.push(Detection { bbox: r.bbox, class: 0, score: r.conf });
            seen.extend(looks.as_mut().and_then(Iterator::next));
        }
        // The picture's size: DETS/<seq>/size ("WIDTH HEIGHT") where given, else 1920x1080.
        let size: Vec<u32> = std::fs::read_to_string(dets.join(&seq).join("size"))
            .map(|s| s.split_whitespace().filter_map(|v| v.parse().ok()).collect())
            .unwrap_or_default();
        let (width, height) = if size.len() == 2 { (size[0], size[1]) } else { (1920, 1080) };
        let mut t = Tracker::new(tracker, fps);
        t.keep_usable(refine_cfg.on(prelabel::refine::Step::Extend));
        // camera=DIR: DIR/<seq>.txt, one line a frame, `a -b tx b a ty` from the frame before.
        let motion: Vec<CameraMotion> = camera
            .as_ref()
            .and_then(|dir| std::fs::read_to_string(dir.join(format!("{seq}.txt"))).ok())
            .map(|s| {
                s.lines()
                    .map(|l| {
                        let v: Vec<f32> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
                        CameraMotion { a: v[0], b: v[3], tx: v[2], ty: v[5] }
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (f, (d, seen)) in by_frame {
            if let Some(m) = motion.get(f as usize) {
                t.camera_moved(f, *m);
            }
            t.update_seen(&FrameDetections { frame: FrameInfo { index: f, width, height }, detections: d }, &seen);
        }
        let tracked = t.finish_all();
        let timing = VideoTiming {
            fps,
            detector_frames: &tracked.detector_frames,
            usable: &tracked.usable,
            keyframe_iou: tracker.keyframe_iou,
            frame: (width, height),
            camera: &tracked.camera,
        };
        let (tracks, _stats) = refine(tracked.tracks, &refine_cfg, &timing);
        let mut w = std::io::BufWriter::new(std::fs::File::create(out.join(format!("{seq}.txt"))).unwrap());
        for tr in &tracks {
            for b in &tr.boxes {
                let bb = b.bbox;
                writeln!(
                    w,
                    "{},{},{:.2},{:.2},{:.2},{:.2},{:.4},{},-1,-1",
                    b.frame + 1,
                    tr.id,
                    bb.x1,
                    bb.y1,
                    bb.width(),
                    bb.height(),
                    b.score,
                    b.source as u8
                )
                .unwrap();
            }
        }
    }
}
