//! The vocabulary every pipeline stage speaks: frames in, batches through the model,
//! detections out. Coordinates are always pixels of the *original* frame, (x1, y1) top-left
//! inclusive and (x2, y2) bottom-right, as f32.

/// One decoded video frame: tightly packed RGB8 (`width * height * 3` bytes, no row
/// padding), or, when the decoder was asked for it, the video's own YUV 4:2:0 planes
/// (then `rgb` is empty). [`Frame::format`] says which.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Position in decode order, counted from 0.
    pub index: u64,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
    /// YUV 4:2:0 planes instead of `rgb` (see `decode::PixelOutput::Yuv420`).
    pub yuv: Option<Yuv420>,
}

/// How a [`Frame`] holds its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb8,
    Yuv420,
}

/// Planar YUV 4:2:0, 8 bit, BT.601 limited range (what H.264/MPEG-4 SD video carries):
/// `y` is `width * height` bytes, `u` and `v` are `ceil(width/2) * ceil(height/2)` bytes
/// each, all rows tightly packed. `crate::yuv` has the reference conversion to RGB.
#[derive(Debug, Clone)]
pub struct Yuv420 {
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl Frame {
    /// A packed RGB8 frame.
    pub fn from_rgb(index: u64, width: u32, height: u32, rgb: Vec<u8>) -> Frame {
        Frame { index, width, height, rgb, yuv: None }
    }

    pub fn format(&self) -> PixelFormat {
        if self.yuv.is_some() {
            PixelFormat::Yuv420
        } else {
            PixelFormat::Rgb8
        }
    }

    /// Whether the pixel buffers have the sizes `width` and `height` call for.
    pub fn is_consistent(&self) -> bool {
        let (w, h) = (self.width as usize, self.height as usize);
        match &self.yuv {
            None => self.rgb.len() == w * h * 3,
            Some(p) => {
                let chroma = w.div_ceil(2) * h.div_ceil(2);
                self.rgb.is_empty() && p.y.len() == w * h && p.u.len() == chroma && p.v.len() == chroma
            }
        }
    }
}

/// What later stages need to know about a frame once its pixels are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    pub index: u64,
    pub width: u32,
    pub height: u32,
}

impl Frame {
    pub fn info(&self) -> FrameInfo {
        FrameInfo { index: self.index, width: self.width, height: self.height }
    }
}

/// A rectangle of a frame in whole pixels: what one model input sees (the whole frame or a
/// tile of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Region {
    pub fn full(frame: &FrameInfo) -> Region {
        Region { x: 0, y: 0, width: frame.width, height: frame.height }
    }
}

/// Frame regions resized and normalised into one model input tensor (`shape` in the model's
/// layout). Item `i` of the tensor is `regions[i]` of `frames[i]`; a frame appears once per
/// region taken from it (several times when tiling).
///
/// The elements are in `data` for f32 models and in `data_f16` for f16 models (input
/// `dtype = "f16"`); the other vector is empty. Two plain vectors rather than an enum keep
/// every f32 consumer (`batch.data`) unchanged.
#[derive(Debug, Clone)]
pub struct Batch {
    pub frames: Vec<FrameInfo>,
    pub regions: Vec<Region>,
    pub shape: [usize; 4],
    pub data: Vec<f32>,
    pub data_f16: Vec<half::f16>,
}

/// One output tensor of the model, copied out of ONNX Runtime as f32 (integer class tensors
/// are converted): what infer gives and postprocess takes.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The model's outputs for one batch, by output name.
pub type RawOutputs = std::collections::HashMap<String, RawTensor>;

/// How the camera moved between two frames: the similarity (scale, rotation, shift) that takes
/// a point of the earlier frame to where the same piece of background is in the later one,
/// `x' = a x - b y + tx`, `y' = b x + a y + ty`, in pixels. The identity for a still camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraMotion {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl CameraMotion {
    pub const STILL: CameraMotion = CameraMotion { a: 1.0, b: 0.0, tx: 0.0, ty: 0.0 };

    /// Where the point (x, y) of the earlier frame is in the later one.
    pub fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        (self.a * x - self.b * y + self.tx, self.b * x + self.a * y + self.ty)
    }

    /// A vector (a velocity) of the earlier frame turned and scaled as the picture was.
    pub fn turn(&self, x: f32, y: f32) -> (f32, f32) {
        (self.a * x - self.b * y, self.b * x + self.a * y)
    }

    /// How much bigger things look in the later frame.
    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// The motion back (`m.then(&m.inverse())` is still).
    pub fn inverse(&self) -> CameraMotion {
        let d = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / d, -self.b / d);
        CameraMotion { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) }
    }

    /// First `self`, then `next`.
    pub fn then(&self, next: &CameraMotion) -> CameraMotion {
        let (tx, ty) = next.apply(self.tx, self.ty);
        CameraMotion { a: next.a * self.a - next.b * self.b, b: next.a * self.b + next.b * self.a, tx, ty }
    }
}

/// Where the camera looked over a video, for the refine stage's motion fits: for each
/// detector frame, the camera's motion from the first detector frame to it (the product of
/// the motions the tracker was given). Empty for a still camera.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CameraPath {
    from_start: std::collections::BTreeMap<u64, CameraMotion>,
    /// The last frame pushed.
    last: Option<u64>,
}

impl CameraPath {
    /// The camera moved by `step` from the last frame pushed to `frame` (frames in order).
    pub fn push(&mut self, frame: u64, step: &CameraMotion) {
        let last = self.last.replace(frame);
        if self.from_start.is_empty() {
            if *step == CameraMotion::STILL {
                return;
            }
            // Still until the frame before, so the frames in between move by straight lines.
            if let Some(l) = last {
                self.from_start.insert(l, CameraMotion::STILL);
            }
        }
        let so_far = self.from_start.last_key_value().map_or(CameraMotion::STILL, |(_, m)| *m);
        self.from_start.insert(frame, so_far.then(step));
    }

    pub fn is_still(&self) -> bool {
        self.from_start.is_empty()
    }

    /// The motion from the start to `frame`, in between two known frames by straight lines.
    fn at(&self, frame: u64) -> CameraMotion {
        let before = self.from_start.range(..=frame).next_back();
        let after = self.from_start.range(frame..).next();
        match (before, after) {
            (Some((&f0, m0)), Some((&f1, m1))) if f1 > f0 => {
                let t = (frame - f0) as f32 / (f1 - f0) as f32;
                let mix = |a: f32, b: f32| a + t * (b - a);
                CameraMotion { a: mix(m0.a, m1.a), b: mix(m0.b, m1.b), tx: mix(m0.tx, m1.tx), ty: mix(m0.ty, m1.ty) }
            }
            (Some((_, m)), _) => *m,
            // Before the camera first moved.
            (None, _) => CameraMotion::STILL,
        }
    }

    /// `b`, seen in `frame`, where the first frame would have shown it (its centre moved, its
    /// size scaled; the camera's small turns do not turn the box).
    pub fn to_start(&self, frame: u64, b: &BBox) -> BBox {
        map_box(&self.at(frame).inverse(), b)
    }

    /// [`CameraPath::to_start`] undone.
    pub fn to_frame(&self, frame: u64, b: &BBox) -> BBox {
        map_box(&self.at(frame), b)
    }
}

fn map_box(m: &CameraMotion, b: &BBox) -> BBox {
    let (cx, cy) = m.apply((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
    let s = m.scale();
    let (hw, hh) = (s * b.width() / 2.0, s * b.height() / 2.0);
    BBox { x1: cx - hw, y1: cy - hh, x2: cx + hw, y2: cy + hh }
}

/// An axis-aligned box in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
    /// Intersection over union; 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
    /// Clamps the box into a `width` x `height` frame.
    pub fn clamp(&self, width: f32, height: f32) -> BBox {
        self.clamp_to(0.0, 0.0, width, height)
    }
    /// Clamps the box into the rectangle from (`x0`, `y0`) to (`x1`, `y1`).
    pub(crate) fn clamp_to(&self, x0: f32, y0: f32, x1: f32, y1: f32) -> BBox {
        BBox { x1: self.x1.clamp(x0, x1), y1: self.y1.clamp(y0, y1), x2: self.x2.clamp(x0, x1), y2: self.y2.clamp(y0, y1) }
    }
}

/// One detected object: where, what (index into the model's class list) and how sure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub bbox: BBox,
    pub class: u32,
    pub score: f32,
}

/// All detections of one frame, after NMS.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameDetections {
    pub frame: FrameInfo,
    pub detections: Vec<Detection>,
}

/// How a box of a track came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxSource {
    /// The detector saw the object in this frame and the tracker matched it.
    Detected,
    /// No detection matched (occlusion, missed detection): the motion model's estimate.
    Predicted,
    /// A frame the detector did not run on (`--stride`), filled by interpolation.
    Interpolated,
}

/// One box of a track in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackBox {
    /// Frame index in decode order, from 0 (formats that count from 1 convert on write).
    pub frame: u64,
    pub bbox: BBox,
    /// Detector score for detected boxes; for predicted and interpolated ones, the score
    /// of the nearest detected box, so per-frame formats still carry a confidence.
    pub score: f32,
    pub source: BoxSource,
    /// A box a human would have to place: interpolation between the track's keyframes
    /// reproduces every other box closely enough (see `track::keyframes`).
    pub keyframe: bool,
    /// The object is believed hidden in this frame (no detection matched it).
    pub occluded: bool,
}

/// Review band of a track or detection: what a human should do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewBand {
    /// Confident enough to accept as drawn.
    Accept,
    /// Kept, but a human should look at it first.
    Review,
}

/// One object followed through consecutive frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Stable id, unique within a video, from 1.
    pub id: u64,
    /// Index into the model's class list.
    pub class: u32,
    /// One box per frame from the first to the last frame of the track, in frame order,
    /// with no gaps.
    pub boxes: Vec<TrackBox>,
    /// Mean and minimum detector score over the track's detected boxes.
    pub mean_score: f32,
    pub min_score: f32,
    pub band: ReviewBand,
    /// The box never moved in the whole track (scenery such as a sign or a parked object,
    /// or someone standing still): routing sends such tracks to review (`refine::stationary`).
    pub stationary: bool,
    /// Its colours at the start and the end, when the tracker saw the pixels.
    pub looks: Option<Box<Looks>>,
}

impl Track {
    /// For tests: class 0, accepted, one default detected box at each of `frames`.
    #[cfg(test)]
    pub(crate) fn detected_at(id: u64, frames: impl IntoIterator<Item = u64>) -> Track {
        let boxes = frames
            .into_iter()
            .map(|frame| TrackBox {
                frame,
                bbox: BBox::default(),
                score: 0.5,
                source: BoxSource::Detected,
                keyframe: false,
                occluded: false,
            })
            .collect();
        Track { id, class: 0, boxes, mean_score: 0.5, min_score: 0.5, band: ReviewBand::Accept, stationary: false, looks: None }
    }

    pub fn first_frame(&self) -> u64 {
        self.boxes.first().map_or(0, |b| b.frame)
    }
    pub fn last_frame(&self) -> u64 {
        self.boxes.last().map_or(0, |b| b.frame)
    }
    pub fn needs_review(&self) -> bool {
        self.band == ReviewBand::Review
    }
    /// (mean, min) detector score over the detected boxes; over all boxes when none was
    /// detected (hand-made labels), (0, 0) for an empty track.
    pub(crate) fn detected_scores(&self) -> (f32, f32) {
        let detected: Vec<f32> = self.boxes.iter().filter(|b| b.source == BoxSource::Detected).map(|b| b.score).collect();
        let scores = if detected.is_empty() { self.boxes.iter().map(|b| b.score).collect() } else { detected };
        if scores.is_empty() {
            return (0.0, 0.0);
        }
        let mean = scores.iter().map(|&s| s as f64).sum::<f64>() / scores.len() as f64;
        (mean as f32, scores.iter().copied().fold(f32::INFINITY, f32::min))
    }
}

/// Bins of each half of an [`Appearance`] (8 x 8 x 8 RGB levels).
pub(crate) const APPEARANCE_BINS: usize = 512;
const BINS: usize = APPEARANCE_BINS;

/// Colour histograms of a box's upper and lower half, each summing to 1 (all zero when the
/// box holds no pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct Appearance(pub [f32; 2 * BINS]);

impl Appearance {
    /// Bhattacharyya coefficient, averaged over the two halves: 0..1, higher is more alike.
    pub fn similarity(&self, other: &Appearance) -> f32 {
        let bc = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x * y).sqrt()).sum::<f32>();
        (bc(&self.0[..BINS], &other.0[..BINS]) + bc(&self.0[BINS..], &other.0[BINS..])) / 2.0
    }

    /// Moves this descriptor towards `new` by `rate` (0: stay, 1: replace): a running average
    /// that follows slow changes (lighting, pose) without forgetting at one odd frame.
    pub(crate) fn blend(&mut self, new: &Appearance, rate: f32) {
        for (a, b) in self.0.iter_mut().zip(new.0.iter()) {
            *a += (b - *a) * rate;
        }
    }
}

/// What a track looked like at its start and at its end (running averages of its
/// [`Appearance`]s), for joining it to others after the fact (`refine::stitch`).
#[derive(Debug, Clone, PartialEq)]
pub struct Looks {
    pub head: Appearance,
    pub tail: Appearance,
}

/// Everything the exporters write for one video: its tracks, and how many frames it had.
#[derive(Debug, Clone)]
pub struct VideoLabels {
    pub video: VideoInfo,
    /// Frames decoded (frame indices run 0..frames).
    pub frames: u64,
    /// Sorted by id.
    pub tracks: Vec<Track>,
}

/// What is known about a video before its frames are read.
#[derive(Debug, Clone)]
pub struct VideoInfo {
    pub path: std::path::PathBuf,
    /// File name used in labels (e.g. `vtest.avi`).
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Frames per second: always positive and finite, so every stage uses it as it is. Decode
    /// makes it so (`VideoInfo::usable_fps`): a container that gives no usable rate counts
    /// as `ASSUMED_FPS`.
    pub fps: f32,
    /// Frame count from the container; 0 when it does not say.
    pub frames_hint: u64,
}

/// The frame rate of a video whose container gives none (or zero, or a non-number): 25, the
/// rate of PAL video and of most of the MOT benchmark sequences. Tracking, refinement and
/// the frame times written in the label files all count with it.
pub(crate) const ASSUMED_FPS: f32 = 25.0;

impl VideoInfo {
    /// `fps` as the container gave it when it is positive and finite, else [`ASSUMED_FPS`].
    pub(crate) fn usable_fps(fps: f32) -> f32 {
        if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            ASSUMED_FPS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_half_overlapping_boxes() {
        let a = BBox { x1: 0.0, y1: 0.0, x2: 10.0, y2: 10.0 };
        let b = BBox { x1: 5.0, y1: 0.0, x2: 15.0, y2: 10.0 };
        // intersection 50, union 150
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox { x1: 20.0, y1: 20.0, x2: 30.0, y2: 30.0 }), 0.0);
        assert_eq!(a.iou(&BBox::default()), 0.0);
    }

    #[test]
    fn a_missing_frame_rate_counts_as_25() {
        assert_eq!(VideoInfo::usable_fps(12.5), 12.5);
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert_eq!(VideoInfo::usable_fps(bad), ASSUMED_FPS);
        }
    }

    #[test]
    fn a_camera_path_maps_boxes_to_the_start_and_back_and_fills_in_between_frames() {
        let mut path = CameraPath::default();
        path.push(0, &CameraMotion::STILL);
        assert!(path.is_still(), "a still start is no path");
        path.push(1, &CameraMotion { a: 1.1, b: 0.0, tx: 5.0, ty: -3.0 });
        let b = BBox { x1: 100.0, y1: 50.0, x2: 140.0, y2: 150.0 };
        assert_eq!(path.to_frame(0, &b), b, "frame 0 is where the path starts");
        path.push(3, &CameraMotion { tx: 10.0, ..CameraMotion::STILL });
        for frame in 0..5 {
            let back = path.to_frame(frame, &path.to_start(frame, &b));
            assert!((back.x1 - b.x1).abs() < 1e-3 && (back.y2 - b.y2).abs() < 1e-3, "{frame}: {back:?}");
        }
        // Frame 1: zoomed 1.1 about the origin and shifted; the box grows by 1.1.
        let at1 = path.to_frame(1, &b);
        assert!((at1.x1 - 115.0).abs() < 1e-3 && (at1.width() - 44.0).abs() < 1e-3, "{at1:?}");
        // Frame 2, between 1 and 3: half way.
        let at3 = path.to_frame(3, &b);
        let at2 = path.to_frame(2, &b);
        assert!((at2.x1 - (at1.x1 + at3.x1) / 2.0).abs() < 1e-3, "{at2:?}");
        // After the last known frame the camera stays where it was.
        assert_eq!(path.to_frame(9, &b), at3);
        let m = CameraMotion { a: 0.9, b: 0.2, tx: 3.0, ty: -7.0 };
        let still = m.then(&m.inverse());
        assert!((still.a - 1.0).abs() < 1e-5 && still.b.abs() < 1e-5 && still.tx.abs() < 1e-4 && still.ty.abs() < 1e-4);
    }
}
