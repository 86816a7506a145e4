//! Cuts a track that walks out at an edge of the picture and straight back in. A person
//! leaving the frame is detected less and less surely as less of them shows, and the online
//! tracker keeps the track alive on those weak boxes; when someone else enters at that same
//! edge, the track slides onto them and walks back into the picture. People do not turn on the
//! spot at the edge of a camera's view, so a track that reverses there has changed person: the
//! part after the turn becomes a track of its own.
//!
//! Runs after `stitch`, so the two parts are not joined again by their closeness at the cut.

use super::sparse::{side, Side};
use super::Sparse;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExitConfig {
    /// Seconds of detections fitted on each side of a turn (at least three frames); a side
    /// needs three detections in it.
    pub window_s: f32,
    /// How near an edge of the picture a box must come before the turn, as a fraction of the
    /// picture's width (left, right) or height (top, bottom).
    pub edge: f32,
    /// Speed towards the edge before the turn and away from it after, each at least this, in
    /// box heights per second...
    pub min_speed: f32,
    /// ...and the two together at least this: a person standing at the edge jitters, a
    /// person walking does not turn back at once.
    pub min_turn: f32,
}

impl Default for ExitConfig {
    fn default() -> Self {
        ExitConfig { window_s: 0.6, edge: 0.01, min_speed: 0.15, min_turn: 0.5 }
    }
}

type Det = (u64, crate::types::BBox, f32);

/// The four edges: which coordinate walks towards it (0 = x, 1 = y) and in which direction.
const EDGES: [(usize, f32); 4] = [(0, -1.0), (0, 1.0), (1, -1.0), (1, 1.0)];

/// How sharply the track turns back from an edge between the detections before `at` and
/// those from `at` on (box heights per second, towards plus away), if it does.
fn turn(dets: &[Det], at: f64, window: f64, fps: f32, frame: (u32, u32), cfg: &ExitConfig) -> Option<f32> {
    let (before, after): (Side, Side) = (side(dets, at, false, window)?, side(dets, at, true, window)?);
    let h = ((before.at[3] + after.at[3]) / 2.0).max(1.0);
    // The boxes in the window before the turn.
    let split = dets.partition_point(|d| (d.0 as f64) < at);
    let recent = || dets[..split].iter().rev().take_while(|d| at - d.0 as f64 <= window);
    let mut best: Option<f32> = None;
    for (axis, dir) in EDGES {
        let size = if axis == 0 { frame.0 } else { frame.1 } as f32;
        let reach = cfg.edge * size + 1.0;
        // Did one of them touch this edge?
        let touched = recent().any(|d| {
            let (lo, hi) = if axis == 0 { (d.1.x1, d.1.x2) } else { (d.1.y1, d.1.y2) };
            if dir < 0.0 {
                lo <= reach
            } else {
                hi >= size - reach
            }
        });
        let towards = before.slope[axis] * dir * fps / h;
        let away = -after.slope[axis] * dir * fps / h;
        if touched && towards >= cfg.min_speed && away >= cfg.min_speed && towards + away >= cfg.min_turn {
            best = Some(best.map_or(towards + away, |b: f32| b.max(towards + away)));
        }
    }
    best
}

/// Cuts tracks that turn back at an edge of the `frame` (width, height); returns the number
/// of cuts. A track may be cut more than once (several people in turn at one edge).
pub(crate) fn cut_turns_at_edges(tracks: &mut Vec<Sparse>, cfg: &ExitConfig, fps: f32, frame: (u32, u32)) -> usize {
    if frame.0 == 0 || frame.1 == 0 {
        return 0;
    }
    let window = ((cfg.window_s * fps) as f64).max(3.0);
    let mut cuts = 0;
    let mut out = Vec::with_capacity(tracks.len());
    for t in tracks.drain(..) {
        // Pieces still to look at, last first; those done go out in frame order.
        let mut todo = vec![t];
        while let Some(mut t) = todo.pop() {
            // The sharpest turn in the piece, between two of its detections.
            let best = (1..t.dets.len())
                .filter_map(|i| turn(&t.dets, t.dets[i].0 as f64 - 0.5, window, fps, frame, cfg).map(|s| (i, s)))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            match best {
                Some((i, _)) => {
                    cuts += 1;
                    let tail = Sparse { dets: t.dets.split_off(i), ..t.clone() };
                    todo.push(tail);
                    todo.push(t);
                }
                None => out.push(t),
            }
        }
    }
    *tracks = out;
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::BBox;

    const FRAME: (u32, u32) = (640, 480);

    /// A box 160 px tall (clipped to the picture) whose centre walks at `vx` px/frame from `x0`.
    fn walk(from: u64, to: u64, x0: f32, vx: f32) -> Vec<Det> {
        (from..to)
            .map(|f| {
                let x = x0 + vx * (f - from) as f32;
                (f, BBox { x1: (x - 30.0).max(0.0), y1: 100.0, x2: (x + 30.0).min(640.0), y2: 260.0 }, 0.8)
            })
            .collect()
    }

    fn track(dets: Vec<Det>) -> Sparse {
        Sparse { class: 0, dets, order: 1, stationary: false, looks: None }
    }

    #[test]
    fn a_track_that_walks_out_at_the_right_edge_and_back_in_is_cut_at_the_turn() {
        // P walks right out of the picture (its box clipped by the edge from frame 33 on); the
        // track then follows Q, who entered there, walking left.
        let mut dets = walk(0, 40, 480.0, 4.0);
        dets.extend(walk(40, 80, 625.0, -5.0));
        let mut tracks = vec![track(dets.clone())];
        assert_eq!(cut_turns_at_edges(&mut tracks, &ExitConfig::default(), 25.0, FRAME), 1);
        assert_eq!(tracks.len(), 2);
        // At the turn, give or take the one frame the clipped boxes blur.
        let cut = tracks[0].dets.len();
        assert!((39..=41).contains(&cut), "cut before frame {cut}");
        assert_eq!(tracks[0].dets, dets[..cut].to_vec(), "P's part");
        assert_eq!(tracks[1].dets, dets[cut..].to_vec(), "Q's part");
    }

    #[test]
    fn turns_away_from_edges_and_walks_past_edges_are_left_alone() {
        // The same turn in the middle of the picture is not an exit (uncross judges those).
        let mut mid = walk(0, 40, 100.0, 4.0);
        mid.extend(walk(40, 80, 260.0, -5.0));
        // Walking along and out at the right edge without turning.
        let out = walk(0, 60, 400.0, 4.0);
        // Standing at the left edge with jittery boxes.
        let mut rng = fastrand::Rng::with_seed(5);
        let stand: Vec<Det> = walk(0, 100, 20.0, 0.0)
            .into_iter()
            .map(|mut d| {
                let j = (rng.f32() - 0.5) * 6.0;
                d.1.x2 += j;
                d
            })
            .collect();
        for dets in [mid, out, stand] {
            let mut tracks = vec![track(dets.clone())];
            assert_eq!(cut_turns_at_edges(&mut tracks, &ExitConfig::default(), 25.0, FRAME), 0);
            assert_eq!(tracks[0].dets, dets);
        }
    }

    #[test]
    fn an_unknown_picture_size_cuts_nothing() {
        let mut dets = walk(0, 40, 480.0, 4.0);
        dets.extend(walk(40, 80, 625.0, -5.0));
        let mut tracks = vec![track(dets)];
        assert_eq!(cut_turns_at_edges(&mut tracks, &ExitConfig::default(), 25.0, (0, 0)), 0);
    }
}
