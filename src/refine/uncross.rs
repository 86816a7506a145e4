//! Undoes identity swaps where two tracks met: when two people cross, the online tracker
//! matches by overlap, and with both boxes on top of each other it can hand each track's
//! future to the other person. With the whole video in hand the mix-up shows in the motion:
//! before the meeting track A walks one way at one size and B another; after it, A's boxes
//! continue B's walk and B's continue A's. Where exchanging the two tracks' tails at a
//! meeting frame makes both walks continue better than keeping them, by a clear margin, the
//! tails are exchanged, unless the colours say otherwise: where the tracker read them, each
//! track's start must look more like the other's end than like its own (by
//! `colour_margin`). Motion alone misread crowds and people who turned as they met: without
//! the colours this step lost up to 0.07 IDF1 on the shared sequences' far ETH-Sunnyday and
//! MOT20-01, and with them it loses nowhere by more than 0.007 (2026-12-06, `docs/src/quality.md`).
//!
//! Nothing is added or removed: every detection stays, only which track it belongs to
//! changes (so `smooth`, run later, fits each walk on its own boxes). A meeting is a frame
//! both tracks were detected in with box centres less than
//! `meet_dist` box heights apart.

use super::sparse::{cxcywh, side, Side};
use super::Sparse;
use crate::types::BBox;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct UncrossConfig {
    /// Seconds of detections fitted on each side of a meeting (at least three frames); a
    /// side needs three detections in it.
    pub window_s: f32,
    /// Largest distance of the two box centres, in box heights, for the tracks to meet.
    pub meet_dist: f32,
    /// How much better (in the cost units below) the exchanged continuation must be.
    pub margin: f32,
    /// A velocity difference of this many box heights per second costs 1...
    pub speed_unit: f32,
    /// ...and so does this ratio of box heights.
    pub height_unit: f32,
    /// Also hand a track's future to one that starts where they meet, when that one
    /// continues its walk better (a track that slid onto a person just as that person's own
    /// track began).
    pub open_ends: bool,
    /// Where both tracks have colours: how much more alike (summed similarity, see
    /// [`colours_allow`]) the exchanged pairs of start and end must be than the kept ones.
    pub colour_margin: f32,
}

impl Default for UncrossConfig {
    fn default() -> Self {
        UncrossConfig {
            window_s: 0.6,
            meet_dist: 0.5,
            margin: 2.0,
            speed_unit: 0.3,
            height_unit: 1.08,
            open_ends: true,
            colour_margin: 0.05,
        }
    }
}

type Det = (u64, BBox, f32);

/// How badly `after` continues `before`: velocity change and height change, in units.
fn cost(before: &Side, after: &Side, fps: f32, cfg: &UncrossConfig) -> f32 {
    let h = ((before.at[3] + after.at[3]) / 2.0).max(1.0);
    let speed = ((before.slope[0] - after.slope[0]).powi(2) + (before.slope[1] - after.slope[1]).powi(2)).sqrt() * fps / h;
    let ratio = (before.at[3].max(1.0) / after.at[3].max(1.0)).ln().abs();
    speed / cfg.speed_unit + ratio / cfg.height_unit.ln()
}

/// The frames where tracks `a` and `b` were both detected and close, in order.
fn meetings(a: &[Det], b: &[Det], meet_dist: f32) -> Vec<u64> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let (p, q) = (cxcywh(&a[i].1), cxcywh(&b[j].1));
                let h = ((p[3] + q[3]) / 2.0).max(1.0);
                if ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt() / h <= meet_dist {
                    out.push(a[i].0);
                }
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Whether the track was detected a whole `window` of frames before `at` already.
fn established(dets: &[Det], at: f64, window: f64) -> bool {
    dets.first().is_some_and(|d| d.0 as f64 <= at - window)
}

/// The best frame at which to exchange the tails of `a` and `b`, and how much it gains.
fn best_exchange(a: &[Det], b: &[Det], fps: f32, cfg: &UncrossConfig) -> Option<(u64, f32)> {
    // Three detector frames at least, at low frame rates.
    let window = ((cfg.window_s * fps) as f64).max(3.0);
    let mut best: Option<(u64, f32)> = None;
    for f in meetings(a, b, cfg.meet_dist) {
        // Between the frame before the meeting and the meeting frame, so the meeting's own
        // boxes count as "after".
        let at = f as f64 - 0.5;
        let (ab, aa, bb, ba) =
            (side(a, at, false, window), side(a, at, true, window), side(b, at, false, window), side(b, at, true, window));
        // A track that starts (or ends) at the meeting has no side there: exchanging tails then
        // hands the other track's continuation to the one that had none, or takes it away.
        // The cost of such a pairing is the same either way, so it cancels out.
        let c = |x: &Option<Side>, y: &Option<Side>| match (x, y) {
            (Some(x), Some(y)) => Some(cost(x, y, fps, cfg)),
            _ => None,
        };
        let gain = match (c(&ab, &aa), c(&bb, &ba), c(&ab, &ba), c(&bb, &aa)) {
            (Some(k1), Some(k2), Some(s1), Some(s2)) => k1 + k2 - s1 - s2,
            // B starts here: does B's tail continue A better than A's own tail? (A must have
            // a walk of its own to continue: at least a window's worth before the meeting.)
            (Some(k1), None, Some(s1), None) if bb.is_none() && cfg.open_ends && established(a, at, window) => k1 - s1,
            // A starts here: does A's tail continue B better than B's own?
            (None, Some(k2), None, Some(s2)) if ab.is_none() && cfg.open_ends && established(b, at, window) => k2 - s2,
            _ => continue,
        };
        if gain > cfg.margin && best.is_none_or(|(_, g)| gain > g) {
            best = Some((f, gain));
        }
    }
    best
}

/// Whether the tracks' colours allow exchanging their tails: each one's start must look at
/// least as much like the other's end as like its own, summed over the two (tracks without
/// colours: the motion decides alone).
fn colours_allow(a: &Sparse, b: &Sparse, margin: f32) -> bool {
    match (&a.looks, &b.looks) {
        (Some(x), Some(y)) => {
            x.head.similarity(&y.tail) + y.head.similarity(&x.tail) >= x.head.similarity(&x.tail) + y.head.similarity(&y.tail) + margin
        }
        _ => true,
    }
}

/// Passes over all pairs: a track takes part in one exchange per pass, and a crowd can need
/// a few (a track crossing several others).
const MAX_PASSES: usize = 4;

/// Exchanges tails of tracks that crossed; returns the number of exchanges. Pairs are
/// looked at best exchange first, and passes repeat until nothing changes.
pub fn uncross(tracks: &mut [Sparse], cfg: &UncrossConfig, fps: f32) -> usize {
    let mut total = 0;
    for _ in 0..MAX_PASSES {
        let mut found: Vec<(f32, usize, usize, u64)> = Vec::new();
        // By first frame, so each track only meets those starting before it ends (hours of
        // video hold tens of thousands of tracks).
        let mut by_start: Vec<usize> = (0..tracks.len()).filter(|&i| !tracks[i].dets.is_empty()).collect();
        by_start.sort_by_key(|&i| (tracks[i].first(), i));
        for (k, &i) in by_start.iter().enumerate() {
            for &j in by_start[k + 1..].iter().take_while(|&&j| tracks[j].first() <= tracks[i].last()) {
                let (a, b) = (i.min(j), i.max(j));
                if tracks[a].class != tracks[b].class {
                    continue;
                }
                if let Some((f, gain)) = best_exchange(&tracks[a].dets, &tracks[b].dets, fps, cfg) {
                    if !colours_allow(&tracks[a], &tracks[b], cfg.colour_margin) {
                        continue;
                    }
                    found.push((gain, a, b, f));
                }
            }
        }
        found.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
        let mut busy = vec![false; tracks.len()];
        let mut done = 0;
        for (_, a, b, f) in found {
            if busy[a] || busy[b] {
                continue;
            }
            busy[a] = true;
            busy[b] = true;
            let ia = tracks[a].dets.partition_point(|d| d.0 < f);
            let ib = tracks[b].dets.partition_point(|d| d.0 < f);
            let tail_a = tracks[a].dets.split_off(ia);
            let tail_b = tracks[b].dets.split_off(ib);
            tracks[a].dets.extend(tail_b);
            tracks[b].dets.extend(tail_a);
            // Their colours at the far ends went with the tails.
            let (left, right) = tracks.split_at_mut(b);
            if let (Some(la), Some(lb)) = (left[a].looks.as_mut(), right[0].looks.as_mut()) {
                std::mem::swap(&mut la.tail, &mut lb.tail);
            }
            done += 1;
        }
        total += done;
        if done == 0 {
            break;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Boxes `h` tall walking at `vx` px/frame from `x0`, frames `from..to`.
    fn walk(from: u64, to: u64, x0: f32, vx: f32, h: f32) -> Vec<Det> {
        (from..to)
            .map(|f| {
                let x = x0 + vx * (f - from) as f32;
                (f, BBox { x1: x - h * 0.2, y1: 300.0 - h, x2: x + h * 0.2, y2: 300.0 }, 0.9)
            })
            .collect()
    }

    fn track(order: u64, dets: Vec<Det>) -> Sparse {
        Sparse { class: 0, dets, order, stationary: false, looks: None }
    }

    /// P walks right (180 px tall), Q walks left (150 px tall); they meet at frame 50 at x 300.
    fn p(from: u64, to: u64) -> Vec<Det> {
        walk(from, to, 125.0, 3.5, 180.0)
    }
    fn q(from: u64, to: u64) -> Vec<Det> {
        walk(from, to, 475.0, -3.5, 150.0)
    }

    /// A walk of frames 0..100 from frame 50 on.
    fn from_50(walk: fn(u64, u64) -> Vec<Det>) -> Vec<Det> {
        walk(0, 100).into_iter().filter(|d| d.0 >= 50).collect()
    }

    /// `first`'s boxes before frame 50, then `then`'s.
    fn switched(first: fn(u64, u64) -> Vec<Det>, then: fn(u64, u64) -> Vec<Det>) -> Vec<Det> {
        let mut dets = first(0, 50);
        dets.extend(from_50(then));
        dets
    }

    #[test]
    fn two_people_crossing_whose_tracks_swapped_get_their_own_tails_back() {
        // The tracker swapped P and Q where they met: A is P then Q, B is Q then P.
        let mut tracks = vec![track(1, switched(p, q)), track(2, switched(q, p))];
        assert_eq!(uncross(&mut tracks, &UncrossConfig::default(), 25.0), 1);
        assert_eq!(tracks[0].dets, p(0, 100), "A is P all along");
        assert_eq!(tracks[1].dets, q(0, 100), "B is Q all along");
        // Right as they are now: nothing more to do.
        assert_eq!(uncross(&mut tracks, &UncrossConfig::default(), 25.0), 0);
    }

    #[test]
    fn a_track_that_slid_onto_another_person_as_its_own_got_a_new_track_is_handed_that_track() {
        // A follows P, then at frame 50 slides onto Q (who had no track before); P's walk
        // goes on as a new track B from frame 50.
        let mut tracks = vec![track(1, switched(p, q)), track(2, from_50(p))];
        let off = UncrossConfig { open_ends: false, ..UncrossConfig::default() };
        assert_eq!(uncross(&mut tracks, &off, 25.0), 0, "without open ends, B has no walk before to compare");
        assert_eq!(uncross(&mut tracks, &UncrossConfig::default(), 25.0), 1);
        assert_eq!(tracks[0].dets, p(0, 100), "A is P all along");
        assert_eq!(tracks[1].dets, from_50(q), "B is Q");
    }

    /// Colours all in one bin of each half of the descriptor.
    fn colour(bin: usize) -> crate::types::Appearance {
        let mut v = [0f32; 2 * crate::types::APPEARANCE_BINS];
        v[bin] = 1.0;
        v[crate::types::APPEARANCE_BINS + bin] = 1.0;
        crate::types::Appearance(v)
    }

    fn looks(head: usize, tail: usize) -> Option<Box<crate::types::Looks>> {
        Some(Box::new(crate::types::Looks { head: colour(head), tail: colour(tail) }))
    }

    #[test]
    fn colours_that_stayed_with_each_track_veto_the_exchange_the_motion_asks_for() {
        // The motion says A and B swapped where they met (as above).
        let swapped = || vec![track(1, switched(p, q)), track(2, switched(q, p))];
        // Each track's colours at its end are those of the other's start: the colours agree.
        let mut tracks = swapped();
        (tracks[0].looks, tracks[1].looks) = (looks(0, 1), looks(1, 0));
        assert_eq!(uncross(&mut tracks, &UncrossConfig::default(), 25.0), 1);
        assert_eq!(tracks[0].dets, p(0, 100));
        assert_eq!(tracks[0].looks, looks(0, 0), "the colours at the far end went with the tail");
        // Each track looks at its end as at its start: the same people all along, whatever
        // the motion says (two people who turned as they met).
        let mut tracks = swapped();
        (tracks[0].looks, tracks[1].looks) = (looks(0, 0), looks(1, 1));
        assert_eq!(uncross(&mut tracks, &UncrossConfig::default(), 25.0), 0);
        assert_eq!(tracks, {
            let mut t = swapped();
            (t[0].looks, t[1].looks) = (looks(0, 0), looks(1, 1));
            t
        });
        // Colours alike on every side say nothing either way: the margin keeps the tracks.
        let mut tracks = swapped();
        (tracks[0].looks, tracks[1].looks) = (looks(0, 0), looks(0, 0));
        assert_eq!(uncross(&mut tracks, &UncrossConfig::default(), 25.0), 0);
        assert_eq!(uncross(&mut tracks, &UncrossConfig { colour_margin: 0.0, ..UncrossConfig::default() }, 25.0), 1);
    }

    #[test]
    fn people_walking_side_by_side_or_far_apart_are_left_alone() {
        let mut rng = fastrand::Rng::with_seed(3);
        let jitter = |mut v: Vec<Det>, rng: &mut fastrand::Rng| {
            for d in &mut v {
                let j = (rng.f32() - 0.5) * 8.0;
                d.1.x1 += j;
                d.1.x2 += j;
            }
            v
        };
        // Two people of one size walking together, 0.3 heights apart, with jittery boxes.
        let a = jitter(walk(0, 120, 100.0, 2.0, 160.0), &mut rng);
        let b = jitter(walk(0, 120, 148.0, 2.0, 160.0), &mut rng);
        let mut tracks = vec![track(1, a.clone()), track(2, b.clone())];
        assert_eq!(uncross(&mut tracks, &UncrossConfig::default(), 25.0), 0);
        assert_eq!((tracks[0].dets.clone(), tracks[1].dets.clone()), (a, b));
        // Crossing, but each kept its own walk: nothing to undo.
        let mut tracks = vec![track(1, p(0, 100)), track(2, q(0, 100))];
        assert_eq!(uncross(&mut tracks, &UncrossConfig::default(), 25.0), 0);
    }
}
