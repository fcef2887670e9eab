//! Where an online update adds clusters: the samples far from every old centre, the seed's rule
//! (one centre per far sample) and the robust rule (groups of far samples chosen by their own
//! structure), and the guards that keep a new centre off the old data (`keep_off_old`,
//! `refine_new`) or drop one that wins nothing (`drop_empty_new`). The arithmetic they share
//! (distances, the assignment) is in [`super::centres`].

use super::centres::{Features, assign, dist2, mean_of, nearest};
use crate::cluster::{Distances, KMeansParams, kmeans};

/// The samples farther than `limit` from every centre.
pub fn far_samples(points: &[f32], dim: usize, c: &[f64], k: usize, limit: f64) -> Vec<usize> {
    points.chunks_exact(dim).enumerate().filter(|(_, x)| nearest(x, c, k).1 > limit).map(|(i, _)| i).collect()
}

/// The seed's rule: every far sample becomes a centre of its own (its point).
pub fn seed_rule(points: &[f32], dim: usize, far: &[usize]) -> Vec<Vec<f64>> {
    far.iter().map(|&i| points[i * dim..(i + 1) * dim].iter().map(|&x| x as f64).collect()).collect()
}

/// Below this mean silhouette a split of the far samples into groups shows no substantial
/// structure (Kaufman & Rousseeuw's rule of thumb, *Finding Groups in Data*, 1990), and they are
/// left as one group.
pub const SPLIT_SILHOUETTE: f64 = 0.25;

/// A group's members count within this many times its median distance to its mean (or `limit`,
/// when wider): an outlier that k-means lumped into a group stays out of its count and its centre.
pub const SPREAD_FACTOR: f64 = 2.0;

/// How many group counts past the best one [`robust_groups`]' search tries before it stops.
pub const SPLIT_PATIENCE: usize = 3;

/// The most far samples the silhouette of a split is computed on (a seeded subsample beyond).
pub const SILHOUETTE_SAMPLE: usize = 1500;

/// The robust rule's groups of far samples (indices into `points`); each becomes one new centre,
/// the mean of its members, placed by the caller in whichever feature space the heads read.
/// Fewer than `min_size` far samples add nothing.
///
/// 1. The `m` far samples are split by k-means into the number of groups, from 2 to
///    `min(⌊m / min_size⌋, 16)`, whose partition has the highest mean silhouette; under
///    [`SPLIT_SILHOUETTE`] they stay one group. The count comes from the far samples' own
///    structure, not from a distance scale: an unseen class need not be as compact as the old
///    ones (after 50 contrastive epochs on MNIST-USPS digits 0–7, the old clusters' radii are
///    .02–.04 in the centred space and the unseen digits 8 and 9 spread .37–.82 at the median,
///    yet k-means splits them into the two digits).
/// 2. Groups whose means lie within `limit` of each other are merged (closest pair first).
/// 3. A group keeps the members its centre would claim from the old clusters: those nearer its
///    mean than every old centre in `old` (`k_old × dim`, row-major), and within
///    [`SPREAD_FACTOR`] × its median distance (or `limit`) of that mean. Scattered outliers of the
///    old clusters, lumped together by k-means, lie nearer their old centres than the lump's mean;
///    an outlier lumped with a class lies beyond the class's spread. A group with at least
///    `min_size` such members is a new centre.
pub fn robust_groups(
    points: &[f32],
    dim: usize,
    far: &[usize],
    old: &[f64],
    limit: f64,
    min_size: usize,
    seed: u64,
) -> Vec<Vec<usize>> {
    let m = far.len();
    let min_size = min_size.max(1);
    if m < min_size || dim == 0 {
        return Vec::new();
    }
    let data: Vec<f32> = far.iter().flat_map(|&i| points[i * dim..(i + 1) * dim].iter().copied()).collect();
    let labels = split(&data, m, dim, (m / min_size).clamp(1, 16), seed);
    let k = labels.iter().copied().max().map_or(1, |l| l + 1);
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (row, &g) in labels.iter().enumerate() {
        groups[g].push(row);
    }
    groups.retain(|g| !g.is_empty());
    let mean = |g: &[usize]| mean_of(&data, dim, g);
    loop {
        let means: Vec<Vec<f64>> = groups.iter().map(|g| mean(g)).collect();
        let mut best: Option<(usize, usize, f64)> = None;
        for a in 0..groups.len() {
            for b in a + 1..groups.len() {
                let d = means[a].iter().zip(&means[b]).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
                if d <= limit && best.is_none_or(|(_, _, bd)| d < bd) {
                    best = Some((a, b, d));
                }
            }
        }
        let Some((a, b, _)) = best else { break };
        let gb = groups.remove(b);
        groups[a].extend(gb);
    }
    let k_old = old.len() / dim;
    groups
        .iter()
        .filter_map(|g| {
            let m = mean(g);
            let d: Vec<f64> = g.iter().map(|&r| dist2(&data[r * dim..(r + 1) * dim], &m).sqrt()).collect();
            let mut sorted = d.clone();
            sorted.sort_by(f64::total_cmp);
            let reach = limit.max(SPREAD_FACTOR * sorted[sorted.len() / 2]);
            let claimed: Vec<usize> = g
                .iter()
                .zip(&d)
                .filter(|&(&r, &dr)| {
                    let x = &data[r * dim..(r + 1) * dim];
                    dr <= reach && (k_old == 0 || dr < nearest(x, old, k_old).1)
                })
                .map(|(&r, _)| r)
                .collect();
            (claimed.len() >= min_size).then(|| claimed.iter().map(|&r| far[r]).collect())
        })
        .collect()
}

/// The k-means partition of the `m` rows of `data` into 2..=`k_max` groups with the highest mean
/// silhouette (on a seeded subsample of at most [`SILHOUETTE_SAMPLE`] rows), or one group when
/// none reaches [`SPLIT_SILHOUETTE`]. The search stops [`SPLIT_PATIENCE`] group counts past the
/// best one found (a split's cost grows with the count; on the MNIST-USPS update the silhouette
/// falls from .45 at two groups to .32–.33 at four to seven).
fn split(data: &[f32], m: usize, dim: usize, k_max: usize, seed: u64) -> Vec<usize> {
    if k_max < 2 {
        return vec![0; m];
    }
    let sample: Vec<usize> = if m > SILHOUETTE_SAMPLE {
        let mut rows: Vec<usize> = (0..m).collect();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed ^ 0x5117);
        rand::seq::SliceRandom::shuffle(rows.as_mut_slice(), &mut rng);
        rows.truncate(SILHOUETTE_SAMPLE);
        rows
    } else {
        (0..m).collect()
    };
    let sample_data: Vec<f32> = sample.iter().flat_map(|&r| data[r * dim..(r + 1) * dim].iter().copied()).collect();
    let Some(distances) = Distances::of(&sample_data, dim) else { return vec![0; m] };
    // The best split at any silhouette (so that the search stops early for one blob too); the
    // threshold applies to it at the end.
    let mut best: Option<(f64, usize, Vec<usize>)> = None;
    for k in 2..=k_max {
        if best.as_ref().is_some_and(|(_, bk, _)| k > bk + SPLIT_PATIENCE) {
            break;
        }
        let Ok(r) = kmeans(data, m, dim, &KMeansParams { n_init: 2, ..KMeansParams::new(k, seed) }) else { continue };
        let sample_labels: Vec<usize> = sample.iter().map(|&i| r.labels[i]).collect();
        let Some(s) = distances.silhouette(&sample_labels) else { continue };
        if best.as_ref().is_none_or(|(bs, _, _)| s > *bs) {
            best = Some((s, k, r.labels));
        }
    }
    match best {
        Some((s, _, labels)) if s >= SPLIT_SILHOUETTE => labels,
        _ => vec![0; m],
    }
}

/// Drops the new centres (those from `k_old` on, of `k`) that win none of `f`'s samples under the
/// primary reading: two groups of one class can sit side by side where the heads read, and the one
/// that loses every sample is not a class. Returns the kept centres and their count.
pub fn drop_empty_new(f: &Features, c: Vec<f64>, k_old: usize, k: usize, kappa: f64) -> (Vec<f64>, usize) {
    if k <= k_old {
        return (c, k);
    }
    let mut wins = vec![0usize; k];
    for row in assign(f, &c, k, kappa).chunks_exact(k) {
        let top = (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        wins[top] += 1;
    }
    let dim = f.dim;
    let keep: Vec<usize> = (0..k).filter(|&j| j < k_old || wins[j] > 0).collect();
    let kept = keep.iter().flat_map(|&j| c[j * dim..(j + 1) * dim].iter().copied()).collect();
    (kept, keep.len())
}

/// Places each new centre so that it takes no old sample from its cluster, where it can. The
/// robust rule puts a new centre at the mean of a group of far samples; old samples that lie past
/// the threshold on the same side (a model's own outliers) can be nearer to that mean than to
/// their centre, and the new cluster would take them (drift the moment it is added). A new centre
/// that takes any of `guard` (the old data's points) moves straight away from the mean `m` of the
/// old points it takes, in steps of a tenth of its distance to `m` (up to four times that distance),
/// to the first place where it takes none of them while keeping at least half of the far samples
/// it had; failing that, to where it takes the fewest on the same terms. Without old data nothing
/// moves.
pub fn keep_off_old(points: &[f32], far: &[usize], guard: &[f32], dim: usize, c: &mut [f64], k_old: usize) {
    let k = c.len() / dim.max(1);
    if guard.is_empty() || k <= k_old {
        return;
    }
    let taken = |c: &[f64], j: usize| guard.chunks_exact(dim).filter(|x| nearest(x, c, k).0 == j).collect::<Vec<_>>();
    let members =
        |c: &[f64], j: usize| far.iter().filter(|&&i| nearest(&points[i * dim..(i + 1) * dim], c, k).0 == j).count();
    for j in k_old..k {
        let captured = taken(c, j);
        if captured.is_empty() {
            continue;
        }
        let mut m = vec![0f64; dim];
        for x in &captured {
            for (o, &v) in m.iter_mut().zip(*x) {
                *o += v as f64 / captured.len() as f64;
            }
        }
        let start: Vec<f64> = c[j * dim..(j + 1) * dim].to_vec();
        let away: Vec<f64> = start.iter().zip(&m).map(|(s, m)| s - m).collect();
        let need = members(c, j).div_ceil(2);
        let mut best = (captured.len(), 0usize);
        for step in 1..=40 {
            let t = step as f64 / 10.0;
            for d in 0..dim {
                c[j * dim + d] = start[d] + t * away[d];
            }
            if members(c, j) < need {
                continue;
            }
            let n = taken(c, j).len();
            if n < best.0 {
                best = (n, step);
            }
            if n == 0 {
                break;
            }
        }
        let t = best.1 as f64 / 10.0;
        for d in 0..dim {
            c[j * dim + d] = start[d] + t * away[d];
        }
    }
}

/// Lloyd steps on the new centres alone (the first `k_old` stay where they are): every point
/// goes to its nearest centre, and each new centre moves to the mean of its points. A robust
/// group's mean lies on the far side of its class (only the far samples made it); this brings it
/// to the middle of the samples it is now nearest to. A new centre that wins no point stays.
///
/// `guard` holds the old data's points: a step after which more of them would be nearest to a
/// new centre than before the first step is undone and the refinement stops, so it never takes
/// old samples from their clusters (drift). Without old data there is no refinement.
pub fn refine_new(points: &[f32], guard: &[f32], dim: usize, c: &mut [f64], k_old: usize, steps: usize) {
    let k = c.len() / dim.max(1);
    if guard.is_empty() {
        return;
    }
    let taken = |c: &[f64]| guard.chunks_exact(dim).filter(|x| nearest(x, c, k).0 >= k_old).count();
    let allowed = taken(c);
    for _ in 0..steps {
        let before = c.to_vec();
        let mut sums = vec![0f64; (k - k_old) * dim];
        let mut counts = vec![0usize; k - k_old];
        for x in points.chunks_exact(dim) {
            let (j, _) = nearest(x, c, k);
            if j >= k_old {
                counts[j - k_old] += 1;
                for (s, &v) in sums[(j - k_old) * dim..(j - k_old + 1) * dim].iter_mut().zip(x) {
                    *s += v as f64;
                }
            }
        }
        let mut moved = false;
        for (g, &n) in counts.iter().enumerate() {
            if n > 0 {
                for d in 0..dim {
                    let m = sums[g * dim + d] / n as f64;
                    let cell = &mut c[(k_old + g) * dim + d];
                    moved |= (*cell - m).abs() > 1e-12;
                    *cell = m;
                }
            }
        }
        if taken(c) > allowed {
            c.copy_from_slice(&before);
            break;
        }
        if !moved {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::update::centres::within_distance;

    #[test]
    fn the_seed_rule_adds_one_centre_per_far_sample_and_the_robust_rule_one_per_large_group() {
        let robust_rule = |points: &[f32], dim, far: &[usize], old: &[f64], limit, min_size, seed| -> Vec<Vec<f64>> {
            robust_groups(points, dim, far, old, limit, min_size, seed)
                .iter()
                .map(|g| mean_of(points, dim, g))
                .collect()
        };
        // Two centres on the axes of a plane, two tight far groups (30 and 12 samples) and 5
        // far outliers of the old clusters (each nearer its old centre than any lump of them).
        let c = vec![1.0, 0.0, 0.0, 1.0];
        let mut points: Vec<f32> = Vec::new();
        for i in 0..40 {
            points.extend([1.0 + 0.01 * (i % 5) as f32, 0.0]); // near centre 0
        }
        for i in 0..30 {
            points.extend([-3.0 + 0.01 * (i % 7) as f32, -3.0]);
        }
        for i in 0..12 {
            points.extend([4.0, -4.0 + 0.01 * (i % 3) as f32]);
        }
        // The old clusters' own outliers: past the threshold, around both centres.
        for (x, y) in [(3.5, 0.0), (1.0, -2.5), (-2.5, 1.0), (0.0, 3.5), (3.0, 2.5)] {
            points.extend([x, y]);
        }
        let r = within_distance(&points[..80], 2, &c, 2);
        assert!(r < 0.05, "{r}");
        let far = far_samples(&points, 2, &c, 2, 2.0);
        assert_eq!(far.len(), 30 + 12 + 5);
        assert_eq!(seed_rule(&points, 2, &far).len(), 47);
        let groups = robust_rule(&points, 2, &far, &c, 2.0, 10, 1);
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert!(groups.iter().any(|g| (g[0] + 3.0).abs() < 0.1 && (g[1] + 3.0).abs() < 0.1), "{groups:?}");
        assert!(groups.iter().any(|g| (g[0] - 4.0).abs() < 0.1 && (g[1] + 4.0).abs() < 0.1), "{groups:?}");
        // A larger minimum drops the group of 12; the outliers alone never make a centre.
        assert_eq!(robust_rule(&points, 2, &far, &c, 2.0, 20, 1).len(), 1);
        let outliers: Vec<usize> = (82..87).collect();
        assert!(robust_rule(&points, 2, &outliers, &c, 2.0, 3, 1).is_empty());
        assert!(robust_rule(&points, 2, &outliers, &c, 2.0, 10, 1).is_empty());
    }

    /// The MNIST-USPS case in miniature: old clusters far tighter than the new classes. Two wide
    /// new classes (16-d Gaussians, spread ~4 against a threshold distance of 0.1) are two groups,
    /// one wide class is one: the split follows the far samples' structure, not the old scale.
    #[test]
    fn the_robust_rule_splits_wide_new_classes_by_their_own_structure() {
        use rand::{Rng, SeedableRng};
        let dim = 16;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut gauss = |centre: f32| -> Vec<f32> {
            (0..dim)
                .map(|j| {
                    let (u, v): (f32, f32) = (rng.random::<f32>().max(1e-9), rng.random());
                    let g = (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos();
                    if j == 0 { centre + g } else { g }
                })
                .collect()
        };
        let old: Vec<f64> = (0..2 * dim).map(|i| if i == 1 || i == dim + 2 { 30.0 } else { 0.0 }).collect();
        let mut points: Vec<f32> = Vec::new();
        for i in 0..120 {
            points.extend(gauss(if i % 2 == 0 { -12.0 } else { 12.0 }));
        }
        let far: Vec<usize> = (0..120).collect();
        let groups = robust_groups(&points, dim, &far, &old, 0.1, 20, 3);
        assert_eq!(groups.len(), 2, "{:?}", groups.iter().map(Vec::len).collect::<Vec<_>>());
        for g in &groups {
            assert!(g.len() >= 50 && g.iter().all(|&i| i % 2 == g[0] % 2), "a group mixes the classes");
        }
        let one: Vec<usize> = (0..120).step_by(2).collect();
        let groups = robust_groups(&points, dim, &one, &old, 0.1, 20, 3);
        assert_eq!(groups.len(), 1, "{:?}", groups.iter().map(Vec::len).collect::<Vec<_>>());
        assert!(groups[0].len() >= 50);
    }

    #[test]
    fn a_new_centre_that_wins_no_sample_is_dropped() {
        // Two samples at (1, 0) and (0, 1); the old centre at (1, 0), new ones at (0, 1) and far away.
        let f = Features { sets: vec![vec![1.0, 0.0, 0.0, 1.0]], n: 2, dim: 2 };
        let c = vec![1.0, 0.0, 0.0, 1.0, 50.0, 50.0];
        let (kept, k) = drop_empty_new(&f, c.clone(), 1, 3, 1.0);
        assert_eq!((kept, k), (vec![1.0, 0.0, 0.0, 1.0], 2));
        // An old centre stays even when it wins nothing.
        let (kept, k) = drop_empty_new(&f, vec![9.0, 9.0, 1.0, 0.0, 0.0, 1.0], 1, 3, 1.0);
        assert_eq!((kept.len(), k), (6, 3));
    }

    /// An old outlier past the threshold on the new class's side is nearer to the new group's mean
    /// than to its own centre; the guard moves the new centre off it and keeps the new class.
    #[test]
    fn a_new_centre_is_moved_off_the_old_outliers_it_would_take() {
        let c_old = [0.0, 0.0, 10.0, 0.0];
        let new: Vec<f32> = vec![-0.5, 6.0, 0.5, 6.0, 0.0, 6.5, 0.0, 5.5, 0.0, 7.0];
        let far: Vec<usize> = (0..5).collect();
        let guard: Vec<f32> = vec![0.2, 0.1, -0.3, 0.2, 9.8, 0.3, 10.1, -0.2, 0.0, 4.5];
        let mean = [0.0, 6.2];
        let mut c: Vec<f64> = c_old.iter().copied().chain(mean).collect();
        let owner = |c: &[f64], x: &[f32]| nearest(x, c, 3).0;
        assert_eq!(owner(&c, &guard[8..10]), 2, "the group's mean takes the old outlier");
        keep_off_old(&new, &far, &guard, 2, &mut c, 2);
        assert!(guard.chunks_exact(2).all(|x| owner(&c, x) < 2), "no old sample is taken: {c:?}");
        assert!(new.chunks_exact(2).all(|x| owner(&c, x) == 2), "the new class stays together: {c:?}");
        assert_eq!(&c[..4], &c_old, "old centres do not move");
        // Without old data nothing moves.
        let mut c2: Vec<f64> = c_old.iter().copied().chain(mean).collect();
        keep_off_old(&new, &far, &[], 2, &mut c2, 2);
        assert_eq!(c2[4..], mean);
    }
}
