//! Layouts of feature matrices, synchronous and egui-free (the `tsne` command; the app's
//! `mvc-tsne` worker streams its own): PCA by block power iteration, and t-SNE in 2 or 3
//! dimensions through `bhtsne` (Barnes–Hut, or FFT interpolation in 2-D), cold-started from the
//! PCA scaled to a standard deviation of 1e-4 (openTSNE's initialisation).

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

/// The first `components` principal-component scores of `data` (`n × dim`, row-major), by
/// block power iteration (40 rounds); deterministic for a seed, each component's largest
/// loading positive. Returns `n × components`.
pub fn pca(data: &[f32], dim: usize, components: usize, seed: u64) -> Vec<f32> {
    if dim == 0 || data.is_empty() || components == 0 {
        return Vec::new();
    }
    let n = data.len() / dim;
    let mut mean = vec![0f64; dim];
    for row in data.chunks_exact(dim) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += f64::from(x);
        }
    }
    for m in &mut mean {
        *m /= n.max(1) as f64;
    }
    let centred: Vec<f64> =
        data.chunks_exact(dim).flat_map(|row| row.iter().zip(&mean).map(|(&x, m)| f64::from(x) - m)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut basis: Vec<Vec<f64>> =
        (0..components).map(|_| (0..dim).map(|_| rng.random::<f64>() - 0.5).collect()).collect();
    let mut scores = vec![0f64; n];
    for _ in 0..40 {
        for v in &mut basis {
            // v ← Xᵀ (X v)
            for (s, row) in scores.iter_mut().zip(centred.chunks_exact(dim)) {
                *s = row.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
            }
            let mut next = vec![0f64; dim];
            for (s, row) in scores.iter().zip(centred.chunks_exact(dim)) {
                for (nx, a) in next.iter_mut().zip(row) {
                    *nx += s * a;
                }
            }
            *v = next;
        }
        orthonormalise(&mut basis);
    }
    for v in &mut basis {
        let big = v.iter().copied().fold(0f64, |acc, x| if x.abs() > acc.abs() { x } else { acc });
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
    }
    let mut out = Vec::with_capacity(n * components);
    for row in centred.chunks_exact(dim) {
        for v in &basis {
            out.push(row.iter().zip(v).map(|(a, b)| a * b).sum::<f64>() as f32);
        }
    }
    out
}

/// Gram–Schmidt on the basis vectors, in order (a vector that vanishes is left as it is).
pub(crate) fn orthonormalise(basis: &mut [Vec<f64>]) {
    for i in 0..basis.len() {
        for j in 0..i {
            let dot: f64 = basis[i].iter().zip(&basis[j]).map(|(a, b)| a * b).sum();
            let (head, tail) = basis.split_at_mut(i);
            for (x, y) in tail[0].iter_mut().zip(&head[j]) {
                *x -= dot * y;
            }
        }
        let norm = basis[i].iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-300 {
            basis[i].iter_mut().for_each(|x| *x /= norm);
        }
    }
}

/// Settings of a synchronous t-SNE.
#[derive(Debug, Clone, PartialEq)]
pub struct TsneSettings {
    pub perplexity: f32,
    pub iterations: usize,
    /// Barnes–Hut accuracy; `None` uses the FFT interpolation (2-D only).
    pub theta: Option<f32>,
    pub seed: u64,
    /// The gradient step; `None`: bhtsne's `max(n / 12 / 4, 50)` (scikit-learn's "auto").
    pub learning_rate: Option<f32>,
}

impl Default for TsneSettings {
    fn default() -> Self {
        Self { perplexity: 30.0, iterations: 750, theta: Some(0.5), seed: 7, learning_rate: None }
    }
}

/// PCA initialisation scaled to a standard deviation of 1e-4, with a tiny seeded jitter.
fn initial(data: &[f32], dim: usize, dims: usize, seed: u64) -> Vec<f32> {
    let p = pca(data, dim, dims, seed);
    let first: Vec<f32> = p.iter().step_by(dims).copied().collect();
    let m = first.iter().sum::<f32>() / first.len().max(1) as f32;
    let std = (first.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / first.len().max(1) as f32).sqrt().max(1e-12);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7473_6e65);
    p.iter().map(|x| x * (1e-4 / std) + (rng.random::<f32>() - 0.5) * 1e-6).collect()
}

/// Barnes–Hut or FFT interpolation in 2-D.
fn fit2(samples: &[&[f32]], init: Vec<f32>, s: &TsneSettings) -> Vec<f32> {
    let metric = |a: &&[f32], b: &&[f32]| a.iter().zip(b.iter()).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt();
    let mut tsne: bhtsne::tSNE<'_, f32, &[f32], 2> = bhtsne::tSNE::new(samples);
    tsne.perplexity(s.perplexity).epochs(s.iterations).initial_embedding(init);
    if let Some(lr) = s.learning_rate {
        tsne.learning_rate(lr);
    }
    match s.theta {
        Some(theta) => tsne.barnes_hut(theta, metric),
        None => tsne.fit_sne(metric),
    };
    tsne.embedding()
}

/// t-SNE of `data` (`n × dim`) into `dims` (2 or 3) dimensions; `n × dims` row-major.
pub fn tsne(data: &[f32], dim: usize, dims: usize, s: &TsneSettings) -> Result<Vec<f32>, String> {
    if dim == 0 || !data.len().is_multiple_of(dim) {
        return Err(format!("{} values do not split into rows of {dim}", data.len()));
    }
    if data.iter().any(|x| !x.is_finite()) {
        return Err("the features contain NaN or infinite values".into());
    }
    let n = data.len() / dim;
    if !(s.perplexity >= 1.0 && 3.0 * s.perplexity <= (n.max(1) - 1) as f32) {
        return Err(format!("perplexity {} does not suit {n} points (1 to (points - 1) / 3)", s.perplexity));
    }
    let samples: Vec<&[f32]> = data.chunks_exact(dim).collect();
    let init = initial(data, dim, dims, s.seed);
    match dims {
        2 => Ok(fit2(&samples, init, s)),
        3 if s.theta.is_some() => Ok(fit3(&samples, init, s)),
        3 => Err("the FFT method embeds in 2-D only; use Barnes-Hut for 3-D".into()),
        d => Err(format!("t-SNE embeds in 2 or 3 dimensions, not {d}")),
    }
}

/// Barnes–Hut in 3-D (no FFT bound needed).
fn fit3(samples: &[&[f32]], init: Vec<f32>, s: &TsneSettings) -> Vec<f32> {
    let metric = |a: &&[f32], b: &&[f32]| a.iter().zip(b.iter()).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt();
    let mut tsne: bhtsne::tSNE<'_, f32, &[f32], 3> = bhtsne::tSNE::new(samples);
    tsne.perplexity(s.perplexity).epochs(s.iterations).initial_embedding(init);
    if let Some(lr) = s.learning_rate {
        tsne.learning_rate(lr);
    }
    tsne.barnes_hut(s.theta.unwrap_or(0.5), metric);
    tsne.embedding()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trustworthiness;

    fn blobs(n: usize, dim: usize) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        (0..n)
            .flat_map(|i| (0..dim).map(move |d| ((i % 3) * 5 * usize::from(d == i % 3)) as f32))
            .zip(std::iter::repeat_with(move || rng.random::<f32>()))
            .map(|(c, r)| c + r)
            .collect()
    }

    #[test]
    fn tsne_in_two_and_three_dimensions_keeps_neighbourhoods() {
        let x = blobs(150, 6);
        let s = TsneSettings { perplexity: 10.0, iterations: 300, ..TsneSettings::default() };
        for dims in [2, 3] {
            let y = tsne(&x, 6, dims, &s).unwrap();
            assert_eq!(y.len(), 150 * dims);
            let t = trustworthiness(&x, 6, &y, dims, 12).unwrap();
            assert!(t > 0.85, "{dims}-D trustworthiness {t}");
        }
        assert!(tsne(&x, 6, 4, &s).is_err());
        assert!(tsne(&x[..30], 6, 2, &s).is_err(), "perplexity 10 needs 31 points");
        let p = pca(&x, 6, 3, 1);
        assert_eq!(p.len(), 450);
    }
}
