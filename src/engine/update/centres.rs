//! The arithmetic of an online update, on the host in `f64`: the DEC head's soft assignment as a
//! function of the centres alone (the encoders are frozen, so the features are constants), the
//! gradient of `KL(P‖q)` with respect to the centres, the diagonal Fisher, the DEC target, the
//! proximal EWC step, and the distances the expansion rules ([`super::expansion`]) share.
//!
//! The assignment is the network's primary reading: `q = mean_s t(x_s, C)` over S feature sets,
//! where `t` is the Student-t kernel `(1 + κ‖x − c_j‖²)⁻¹` normalised over j. Networks since
//! issue 13 have one set (the AFW-weighted consensus `normalize(Σ_v w_v h_v)`); older ones one set
//! per view (`h_v`, the mean of the views' `q`).

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
}
