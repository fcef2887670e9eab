//! The arithmetic of an online update, on the host in `f64`: the DEC head's soft assignment as a
//! function of the centres alone (the encoders are frozen, so the features are constants), the
//! gradient of `KL(P‖q)` with respect to the centres, the diagonal Fisher, the DEC target, the
//! proximal EWC step, and the two expansion rules.
//!
//! The assignment is the network's primary reading: `q = mean_s t(x_s, C)` over S feature sets,
//! where `t` is the Student-t kernel `(1 + κ‖x − c_j‖²)⁻¹` normalised over j. Networks since
//! issue 13 have one set (the AFW-weighted consensus `normalize(Σ_v w_v h_v)`); older ones one set
//! per view (`h_v`, the mean of the views' `q`).

use crate::cluster::{Distances, KMeansParams, kmeans};

/// Feature sets of n samples: `sets[s]` is row-major `n × dim`.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub sets: Vec<Vec<f32>>,
    pub n: usize,
    pub dim: usize,
}

impl Features {
    fn row(&self, s: usize, i: usize) -> &[f32] {
        &self.sets[s][i * self.dim..(i + 1) * self.dim]
    }

    /// The point an expansion rule measures sample `i` by: the one set's row, or the normalised
    /// mean of the views' rows.
    pub fn point(&self, i: usize) -> Vec<f32> {
        if self.sets.len() == 1 {
            return self.row(0, i).to_vec();
        }
        let mut p = vec![0f32; self.dim];
        for s in 0..self.sets.len() {
            for (o, x) in p.iter_mut().zip(self.row(s, i)) {
                *o += x;
            }
        }
        let norm = p.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        p.iter_mut().for_each(|x| *x /= norm);
        p
    }

    /// Every sample's [`Features::point`], row-major `n × dim`.
    pub fn points(&self) -> Vec<f32> {
        (0..self.n).flat_map(|i| self.point(i)).collect()
    }
}

/// The squared Euclidean distance of a row to a point.
pub fn dist2(a: &[f32], c: &[f64]) -> f64 {
    a.iter().zip(c).map(|(&x, &y)| (x as f64 - y).powi(2)).sum()
}

/// The Student-t kernel of one row against every centre: (numerators, normalised `t`).
fn kernel(x: &[f32], c: &[f64], k: usize, kappa: f64) -> (Vec<f64>, Vec<f64>) {
    let dim = x.len();
    let num: Vec<f64> = (0..k).map(|j| 1.0 / (1.0 + kappa * dist2(x, &c[j * dim..(j + 1) * dim]))).collect();
    let sum: f64 = num.iter().sum();
    let t = num.iter().map(|v| v / sum).collect();
    (num, t)
}

/// The assignment `q` of every sample (row-major `n × k`).
pub fn assign(f: &Features, c: &[f64], k: usize, kappa: f64) -> Vec<f64> {
    let s_count = f.sets.len() as f64;
    let mut q = vec![0f64; f.n * k];
    for i in 0..f.n {
        for s in 0..f.sets.len() {
            let (_, t) = kernel(f.row(s, i), c, k, kappa);
            for (o, v) in q[i * k..(i + 1) * k].iter_mut().zip(t) {
                *o += v / s_count;
            }
        }
    }
    q
}

/// DEC's target `p_ij ∝ q_ij² / Σ_i q_ij`, rows normalised.
pub fn target(q: &[f64], k: usize) -> Vec<f64> {
    let n = q.len() / k.max(1);
    let mut freq = vec![0f64; k];
    for i in 0..n {
        for j in 0..k {
            freq[j] += q[i * k + j];
        }
    }
    let mut p = vec![0f64; q.len()];
    for i in 0..n {
        let row = &mut p[i * k..(i + 1) * k];
        for j in 0..k {
            row[j] = q[i * k + j].powi(2) / freq[j].max(1e-12);
        }
        let s: f64 = row.iter().sum::<f64>().max(1e-300);
        row.iter_mut().for_each(|v| *v /= s);
    }
    p
}

/// `Σ_i KL(p_i ‖ q_i)` over `rows` and its gradient with respect to the centres (row-major
/// `k × dim`), both summed (not averaged) over the rows. `p` holds one row of `k` per entry of
/// `rows`.
///
/// With `q = (1/S) Σ_s t^s`, `∂L/∂c_l = −Σ_i Σ_s [r^s_il − t^s_il Σ_j r^s_ij] · 2κ num^s_il (x^s_i − c_l)`
/// where `r^s_ij = p_ij t^s_ij / (S q_ij)`; for one set this is DEC's
/// `−2κ Σ_i num_il (p_il − q_il)(x_i − c_l)`.
pub fn kl_gradient(f: &Features, rows: &[usize], p: &[f64], c: &[f64], k: usize, kappa: f64) -> (f64, Vec<f64>) {
    let dim = f.dim;
    let s_count = f.sets.len();
    let mut grad = vec![0f64; k * dim];
    let mut loss = 0.0;
    for (ri, &i) in rows.iter().enumerate() {
        let pi = &p[ri * k..(ri + 1) * k];
        let kernels: Vec<(Vec<f64>, Vec<f64>)> = (0..s_count).map(|s| kernel(f.row(s, i), c, k, kappa)).collect();
        let q: Vec<f64> = (0..k).map(|j| kernels.iter().map(|(_, t)| t[j]).sum::<f64>() / s_count as f64).collect();
        for j in 0..k {
            if pi[j] > 0.0 {
                loss += pi[j] * (pi[j] / q[j].max(1e-300)).ln();
            }
        }
        for (s, (num, t)) in kernels.iter().enumerate() {
            let r: Vec<f64> = (0..k).map(|j| pi[j] * t[j] / (s_count as f64 * q[j].max(1e-300))).collect();
            let r_sum: f64 = r.iter().sum();
            let x = f.row(s, i);
            for l in 0..k {
                let coef = (r[l] - t[l] * r_sum) * 2.0 * kappa * num[l];
                let cl = &c[l * dim..(l + 1) * dim];
                for ((g, &xv), &cv) in grad[l * dim..(l + 1) * dim].iter_mut().zip(x).zip(cl) {
                    *g -= coef * (xv as f64 - cv);
                }
            }
        }
    }
    (loss, grad)
}

/// The diagonal (empirical) Fisher of the centres on these features: the mean over samples of
/// the squared gradient of `−log q_{i,ŷ_i}` (ŷ the sample's own cluster), `k × dim`.
pub fn fisher(f: &Features, c: &[f64], k: usize, kappa: f64) -> Vec<f64> {
    let q = assign(f, c, k, kappa);
    let mut out = vec![0f64; k * f.dim];
    for i in 0..f.n {
        let row = &q[i * k..(i + 1) * k];
        let top = (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        let mut onehot = vec![0f64; k];
        onehot[top] = 1.0;
        let (_, g) = kl_gradient(f, &[i], &onehot, c, k, kappa);
        for (o, v) in out.iter_mut().zip(g) {
            *o += v * v;
        }
    }
    out.iter_mut().for_each(|v| *v /= f.n.max(1) as f64);
    out
}

/// The median distance of the samples' points to their nearest centre: the "typical
/// within-cluster distance" the expansion threshold is measured in.
pub fn within_distance(points: &[f32], dim: usize, c: &[f64], k: usize) -> f64 {
    let mut d: Vec<f64> = points.chunks_exact(dim).map(|x| nearest(x, c, k).1).collect();
    if d.is_empty() {
        return 0.0;
    }
    d.sort_by(f64::total_cmp);
    d[d.len() / 2]
}

/// The nearest centre of a point and its (Euclidean) distance.
pub fn nearest(x: &[f32], c: &[f64], k: usize) -> (usize, f64) {
    let dim = x.len();
    (0..k)
        .map(|j| (j, dist2(x, &c[j * dim..(j + 1) * dim]).sqrt()))
        .fold((0, f64::INFINITY), |b, a| if a.1 < b.1 { a } else { b })
}

/// The samples farther than `limit` from every centre.
pub fn far_samples(points: &[f32], dim: usize, c: &[f64], k: usize, limit: f64) -> Vec<usize> {
    points.chunks_exact(dim).enumerate().filter(|(_, x)| nearest(x, c, k).1 > limit).map(|(i, _)| i).collect()
}

/// The seed's rule: every far sample becomes a centre of its own (its point).
pub fn seed_rule(points: &[f32], dim: usize, far: &[usize]) -> Vec<Vec<f64>> {
    far.iter().map(|&i| points[i * dim..(i + 1) * dim].iter().map(|&x| x as f64).collect()).collect()
}

/// The robust rule: the far samples are grouped (see [`robust_groups`]) and each group becomes one
/// centre, the mean of its members. Fewer than `min_size` far samples add nothing.
pub fn robust_rule(
    points: &[f32],
    dim: usize,
    far: &[usize],
    old: &[f64],
    limit: f64,
    min_size: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    robust_groups(points, dim, far, old, limit, min_size, seed).iter().map(|g| mean_of(points, dim, g)).collect()
}

/// The mean of the rows `members` of `points`.
pub fn mean_of(points: &[f32], dim: usize, members: &[usize]) -> Vec<f64> {
    let mut out = vec![0f64; dim];
    for &i in members {
        for (o, &x) in out.iter_mut().zip(&points[i * dim..(i + 1) * dim]) {
            *o += x as f64;
        }
    }
    out.iter_mut().for_each(|o| *o /= members.len().max(1) as f64);
    out
}

/// Below this mean silhouette a split of the far samples into groups shows no substantial
/// structure (Kaufman & Rousseeuw's rule of thumb, *Finding Groups in Data*, 1990), and they are
/// left as one group.
pub const SPLIT_SILHOUETTE: f64 = 0.25;

/// A group's members count within this many times its median distance to its mean (or `limit`,
/// when wider): an outlier that k-means lumped into a group stays out of its count and its centre.
const SPREAD_FACTOR: f64 = 2.0;

/// How many group counts past the best one [`robust_groups`]' search tries before it stops.
const SPLIT_PATIENCE: usize = 3;

/// The most far samples the silhouette of a split is computed on (a seeded subsample beyond).
const SILHOUETTE_SAMPLE: usize = 1500;

/// The groups of [`robust_rule`], as the samples (indices into `points`) whose mean each new
/// centre is, so that a caller can place the centre in another feature space of the same samples.
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
    let mut best: Option<(f64, usize, Vec<usize>)> = None;
    for k in 2..=k_max {
        if best.as_ref().is_some_and(|(_, bk, _)| k > bk + SPLIT_PATIENCE) {
            break;
        }
        let Ok(r) = kmeans(data, m, dim, &KMeansParams { n_init: 2, ..KMeansParams::new(k, seed) }) else { continue };
        let sample_labels: Vec<usize> = sample.iter().map(|&i| r.labels[i]).collect();
        let Some(s) = distances.silhouette(&sample_labels) else { continue };
        if s >= SPLIT_SILHOUETTE && best.as_ref().is_none_or(|(bs, _, _)| s > *bs) {
            best = Some((s, k, r.labels));
        }
    }
    let best = best.map(|(s, _, labels)| (s, labels));
    best.map_or_else(|| vec![0; m], |(_, labels)| labels)
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

/// One proximal step of the EWC penalty `λ Σ F (c − c_old)²` for the old centres, after a
/// gradient step to `c`: `c ← (c + 2ηλF c_old) / (1 + 2ηλF)`, exact for the quadratic and stable
/// for any λ (a plain gradient step on it diverges once `2ηλF > 2`).
pub fn ewc_prox(c: &mut [f64], old: &[f64], fisher: &[f64], lambda: f64, lr: f64) {
    for ((cv, &o), &f) in c.iter_mut().zip(old).zip(fisher) {
        let a = 2.0 * lr * lambda * f;
        *cv = (*cv + a * o) / (1.0 + a);
    }
}

/// `λ Σ F (c − c_old)²` over the old centres (the first `old.len()` values of `c`).
pub fn ewc_penalty(c: &[f64], old: &[f64], fisher: &[f64], lambda: f64) -> f64 {
    lambda * c.iter().zip(old).zip(fisher).map(|((cv, o), f)| f * (cv - o).powi(2)).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(sets: usize, n: usize, dim: usize, seed: u64) -> Features {
        let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let mut next = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((x >> 33) as f64 / (1u64 << 31) as f64 - 0.5) as f32
        };
        Features { sets: (0..sets).map(|_| (0..n * dim).map(|_| next()).collect()).collect(), n, dim }
    }

    #[test]
    fn the_kl_gradient_matches_finite_differences_for_one_and_several_sets() {
        let (k, dim, n) = (3, 4, 5);
        for sets in [1, 3] {
            let f = features(sets, n, dim, sets as u64);
            let c: Vec<f64> = features(1, k, dim, 99).sets[0].iter().map(|&v| v as f64).collect();
            let rows: Vec<usize> = (0..n).collect();
            let p = target(&assign(&f, &c, k, 2.0), k);
            let (_, g) = kl_gradient(&f, &rows, &p, &c, k, 2.0);
            for idx in 0..k * dim {
                let h = 1e-6;
                let (mut up, mut down) = (c.clone(), c.clone());
                up[idx] += h;
                down[idx] -= h;
                let num = (kl_gradient(&f, &rows, &p, &up, k, 2.0).0 - kl_gradient(&f, &rows, &p, &down, k, 2.0).0)
                    / (2.0 * h);
                assert!(
                    (num - g[idx]).abs() < 1e-6 * (1.0 + num.abs()),
                    "sets {sets}, entry {idx}: {num} vs {}",
                    g[idx]
                );
            }
        }
    }

    #[test]
    fn the_seed_rule_adds_one_centre_per_far_sample_and_the_robust_rule_one_per_large_group() {
        // Two centres on the axes of a plane, two tight far groups (30 and 12 samples) and 5
        // scattered far outliers.
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
        for (x, y) in [(9.0, 9.0), (-9.0, 9.0), (0.0, -12.0), (12.0, 0.0), (-12.0, 0.0)] {
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

    #[test]
    fn the_proximal_ewc_step_is_stable_and_pins_the_centres_for_a_huge_lambda() {
        let old = vec![0.5, -0.5];
        let fisher = vec![1.0, 1e-3];
        let mut c = vec![3.0, 3.0];
        ewc_prox(&mut c, &old, &fisher, 1e12, 0.01);
        assert!((c[0] - 0.5).abs() < 1e-9 && (c[1] + 0.5).abs() < 1e-6, "{c:?}");
        let mut free = vec![3.0, 3.0];
        ewc_prox(&mut free, &old, &fisher, 0.0, 0.01);
        assert_eq!(free, vec![3.0, 3.0]);
        assert_eq!(ewc_penalty(&[1.5, -0.5], &old, &fisher, 2.0), 2.0);
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
