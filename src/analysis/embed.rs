//! Layouts of feature matrices, synchronous and egui-free (the `tsne` command; the app's
//! `mvc-tsne` worker streams its own): PCA by block power iteration, and t-SNE in 2 or 3
//! dimensions through `bhtsne` (Barnes–Hut, or FFT interpolation in 2-D), cold-started from the
//! PCA scaled to a standard deviation of 1e-4 (openTSNE's initialisation), on exact nearest
//! neighbours ([`affinity_neighbours`]), with openTSNE's optimisation schedule ([`schedule`]).

use bhtsne::Neighbor;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

use super::nearest_neighbours;

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
    /// All iterations, early exaggeration included.
    pub iterations: usize,
    /// Barnes–Hut accuracy; `None` uses the FFT interpolation (2-D only).
    pub theta: Option<f32>,
    pub seed: u64,
    /// One gradient step for both phases; `None`: openTSNE's "auto", `n / exaggeration` of each
    /// phase (see [`schedule`]).
    pub learning_rate: Option<f32>,
}

impl Default for TsneSettings {
    fn default() -> Self {
        Self { perplexity: 30.0, iterations: 750, theta: Some(0.5), seed: 7, learning_rate: None }
    }
}

/// Iterations of early exaggeration in a cold start (openTSNE's and van der Maaten's 250).
pub const EXAGGERATION_ITERATIONS: usize = 250;
/// The early exaggeration factor.
pub const EXAGGERATION: f32 = 12.0;
/// Momentum of both phases (openTSNE's `initial_momentum` and `final_momentum`).
pub const MOMENTUM: f32 = 0.8;

/// One stretch of the optimisation, run as one `bhtsne` fit on cached affinities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    pub iterations: usize,
    /// The factor on `P` (1 = none).
    pub exaggeration: f32,
    pub learning_rate: f32,
    pub momentum: f32,
}

/// openTSNE's optimisation schedule for `n` points: a cold start spends the first
/// [`EXAGGERATION_ITERATIONS`] (at most half of `iterations`) with `P` exaggerated 12×, then the
/// rest without; a warm start (a layout already unfolded) has the second phase only. Momentum is
/// 0.8 in both. The step is `n / exaggeration` of each phase (Belkina et al. 2019, openTSNE's
/// "auto": n/12, then n), floored at 50; `learning_rate` fixes one step for both. bhtsne's
/// gradient, like openTSNE's, has no factor 4, so its own default `max(n / 48, 50)` (scikit-learn's,
/// whose gradient has that factor) is 4× (and after exaggeration 48×) too small: on MNIST-USPS's raw
/// features it left the layout unconverged after 750 iterations (trustworthiness .955; this
/// schedule .972, in `f64` .975, openTSNE .975; docs/BENCHMARKS.md).
pub fn schedule(n: usize, iterations: usize, learning_rate: Option<f32>, warm: bool) -> Vec<Phase> {
    let step = |exaggeration: f32| learning_rate.unwrap_or((n as f32 / exaggeration).max(50.0));
    let early = if warm { 0 } else { EXAGGERATION_ITERATIONS.min(iterations / 2) };
    let mut phases = Vec::with_capacity(2);
    if early > 0 {
        phases.push(Phase {
            iterations: early,
            exaggeration: EXAGGERATION,
            learning_rate: step(EXAGGERATION),
            momentum: MOMENTUM,
        });
    }
    if iterations > early {
        phases.push(Phase {
            iterations: iterations - early,
            exaggeration: 1.0,
            learning_rate: step(1.0),
            momentum: MOMENTUM,
        });
    }
    phases
}

/// Runs the phases one after another on one `tSNE` value, each from the previous layout:
/// `fit` runs bhtsne's Barnes–Hut or FFT loop; only the first fit builds the affinities, the
/// others reuse them. Returns the last layout. As in openTSNE, the phases are one optimisation:
/// the momentum and the adaptive gains carry over from one phase to the next, and the gains have
/// no cap (`vendor/bhtsne`'s two settings; the crate's defaults, fresh state and a cap at 2, cost
/// ~.0004 trustworthiness on MNIST-USPS, docs/BENCHMARKS.md).
pub fn run_phases<const D: usize>(
    tsne: &mut bhtsne::tSNE<'_, Real, &[f32], D>,
    phases: &[Phase],
    init: Vec<f32>,
    mut fit: impl FnMut(&mut bhtsne::tSNE<'_, Real, &[f32], D>),
) -> Vec<f32> {
    let mut layout: Vec<Real> = init.into_iter().map(Real::from).collect();
    tsne.max_gain(Real::INFINITY).keep_optimizer_state(true);
    for phase in phases {
        let exaggerated = phase.exaggeration > 1.0;
        tsne.epochs(phase.iterations)
            .learning_rate(Real::from(phase.learning_rate))
            .momentum(Real::from(phase.momentum))
            .final_momentum(Real::from(phase.momentum))
            .early_exaggeration(Real::from(phase.exaggeration.max(1.0)))
            // Past the phase's end: bhtsne undoes the exaggeration when its epoch counter reaches
            // this, and the next phase renormalises `P` anyway.
            .stop_lying_epoch(if exaggerated { phase.iterations } else { 0 })
            .initial_embedding(std::mem::take(&mut layout));
        fit(tsne);
        layout = tsne.embedding();
    }
    layout.into_iter().map(|x| x as f32).collect()
}

/// The Barnes–Hut `theta` to hand bhtsne for a `theta` in scikit-learn's and openTSNE's sense.
/// Both summarise a cell when its full width over the distance to its centre of mass is below
/// `theta`; bhtsne (as van der Maaten's reference code) compares the cell's *half*-width, so the same
/// number summarises cells twice as wide. At bhtsne's 0.5 our layouts sat .0001 (MNIST-USPS `Z`) under
/// openTSNE's at its 0.5 in trustworthiness; at this conversion they are level (docs/BENCHMARKS.md).
pub fn bhtsne_theta(theta: f32) -> Real {
    Real::from(theta) / 2.0
}

/// The precision of bhtsne's optimisation (affinities, layout, gradient sums).
pub type Real = f64;

/// The neighbours t-SNE's affinities are built from: `3 × perplexity` of them per point, as
/// bhtsne's own search picks, found exactly by [`nearest_neighbours`] (blocked matrix products)
/// instead of bhtsne's vantage-point tree.
pub fn affinity_neighbours(
    data: &[f32],
    dim: usize,
    perplexity: f32,
) -> Result<Vec<Vec<bhtsne::Neighbor<Real>>>, String> {
    let found = nearest_neighbours(data, dim, (3.0 * perplexity) as usize)?;
    Ok(found
        .into_iter()
        .map(|row| row.into_iter().map(|nb| Neighbor { index: nb.index, distance: Real::from(nb.distance) }).collect())
        .collect())
}

/// PCA initialisation scaled to a standard deviation of 1e-4, with a tiny seeded jitter.
fn initial(data: &[f32], dim: usize, dims: usize, seed: u64) -> Vec<f32> {
    cold_start(&pca(data, dim, dims, seed), dims, seed)
}

/// A cold start from PCA scores (`n × dims`): scaled so the first component has a standard
/// deviation of 1e-4 (openTSNE's choice), with a tiny seeded jitter so coincident points separate.
/// The app's worker uses it on the PCA picture it has already sent.
pub fn cold_start(pca: &[f32], dims: usize, seed: u64) -> Vec<f32> {
    let first: Vec<f32> = pca.iter().step_by(dims.max(1)).copied().collect();
    let m = first.iter().sum::<f32>() / first.len().max(1) as f32;
    let std = (first.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / first.len().max(1) as f32).sqrt().max(1e-12);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7473_6e65);
    pca.iter().map(|x| x * (1e-4 / std) + (rng.random::<f32>() - 0.5) * 1e-6).collect()
}

/// Barnes–Hut or FFT interpolation in 2-D.
fn fit2(samples: &[&[f32]], neighbours: &[Vec<Neighbor<Real>>], init: Vec<f32>, s: &TsneSettings) -> Vec<f32> {
    let mut tsne: bhtsne::tSNE<'_, Real, &[f32], 2> = bhtsne::tSNE::new(samples);
    tsne.perplexity(Real::from(s.perplexity));
    let phases = schedule(samples.len(), s.iterations, s.learning_rate, false);
    run_phases(&mut tsne, &phases, init, |t| {
        match s.theta {
            Some(theta) => t.barnes_hut_with_neighbors(bhtsne_theta(theta), neighbours),
            None => t.fit_sne_with_neighbors(neighbours),
        };
    })
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
    if s.iterations == 0 {
        return Err("t-SNE needs at least one iteration".into());
    }
    if s.theta.is_some_and(|t| t.is_nan() || t <= 0.0) {
        return Err("the Barnes-Hut theta must be above 0".into());
    }
    let samples: Vec<&[f32]> = data.chunks_exact(dim).collect();
    let init = initial(data, dim, dims, s.seed);
    let neighbours = affinity_neighbours(data, dim, s.perplexity)?;
    match dims {
        2 => Ok(fit2(&samples, &neighbours, init, s)),
        3 if s.theta.is_some() => Ok(fit3(&samples, &neighbours, init, s)),
        3 => Err("the FFT method embeds in 2-D only; use Barnes-Hut for 3-D".into()),
        d => Err(format!("t-SNE embeds in 2 or 3 dimensions, not {d}")),
    }
}

/// Barnes–Hut in 3-D (no FFT bound needed).
fn fit3(samples: &[&[f32]], neighbours: &[Vec<Neighbor<Real>>], init: Vec<f32>, s: &TsneSettings) -> Vec<f32> {
    let mut tsne: bhtsne::tSNE<'_, Real, &[f32], 3> = bhtsne::tSNE::new(samples);
    tsne.perplexity(Real::from(s.perplexity));
    let phases = schedule(samples.len(), s.iterations, s.learning_rate, false);
    let theta = bhtsne_theta(s.theta.unwrap_or(0.5));
    run_phases(&mut tsne, &phases, init, |t| {
        t.barnes_hut_with_neighbors(theta, neighbours);
    })
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
    fn the_schedule_is_opentsnes() {
        let cold = schedule(5000, 750, None, false);
        assert_eq!(cold.len(), 2);
        assert_eq!((cold[0].iterations, cold[0].exaggeration), (250, 12.0));
        assert!((cold[0].learning_rate - 5000.0 / 12.0).abs() < 1e-3, "n / 12 while exaggerated");
        assert_eq!((cold[1].iterations, cold[1].exaggeration, cold[1].learning_rate), (500, 1.0, 5000.0));
        assert!(cold.iter().all(|p| p.momentum == 0.8));
        let warm = schedule(5000, 300, None, true);
        assert_eq!(warm, vec![Phase { iterations: 300, exaggeration: 1.0, learning_rate: 5000.0, momentum: 0.8 }]);
        let short = schedule(100, 60, Some(10.0), false);
        assert_eq!(short.iter().map(|p| (p.iterations, p.learning_rate)).collect::<Vec<_>>(), [(30, 10.0), (30, 10.0)]);
        assert_eq!(schedule(100, 750, None, false)[0].learning_rate, 50.0, "floored at 50");
    }

    /// Two phases with the same settings are one optimisation split in two: the second continues
    /// with the first's momentum and gains (the crate's default, a fresh start, lands elsewhere).
    #[test]
    fn phases_continue_one_optimisation() {
        let x = blobs(120, 6);
        let samples: Vec<&[f32]> = x.chunks(6).collect();
        let neighbours = affinity_neighbours(&x, 6, 10.0).unwrap();
        let init = cold_start(&pca(&x, 6, 2, 1), 2, 1);
        let phase = |iterations| Phase { iterations, exaggeration: 1.0, learning_rate: 50.0, momentum: 0.8 };
        let fit = |phases: &[Phase], keep: bool| {
            let mut t: bhtsne::tSNE<'_, Real, &[f32], 2> = bhtsne::tSNE::new(&samples);
            t.perplexity(10.0);
            run_phases(&mut t, phases, init.clone(), |t| {
                // bhtsne's default: each fit ends by dropping its velocity and gains.
                t.keep_optimizer_state(keep);
                t.barnes_hut_with_neighbors(0.5, &neighbours);
            })
        };
        let whole = fit(&[phase(80)], true);
        let split = fit(&[phase(30), phase(50)], true);
        let scale = whole.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
        let gap = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(scale > 1.0, "the layout unfolded ({scale})");
        assert!(gap(&whole, &split) <= 1e-4 * scale, "split differs by {}", gap(&whole, &split));
        let restarted = fit(&[phase(30), phase(50)], false);
        assert!(gap(&whole, &restarted) > 1e-2 * scale, "a fresh second fit differs by {}", gap(&whole, &restarted));
    }

    /// `theta` is scikit-learn's and openTSNE's: the layout at 0.5 is bhtsne's at 0.25, and bhtsne's
    /// 0.5 is a coarser (different) layout.
    #[test]
    fn theta_counts_the_cells_full_width() {
        let x = blobs(120, 6);
        let s = TsneSettings { perplexity: 10.0, iterations: 80, learning_rate: Some(50.0), ..TsneSettings::default() };
        let ours = tsne(&x, 6, 2, &s).unwrap();
        let samples: Vec<&[f32]> = x.chunks(6).collect();
        let neighbours = affinity_neighbours(&x, 6, 10.0).unwrap();
        let direct = |theta: Real| {
            let mut t: bhtsne::tSNE<'_, Real, &[f32], 2> = bhtsne::tSNE::new(&samples);
            t.perplexity(10.0);
            let phases = schedule(120, 80, Some(50.0), false);
            run_phases(&mut t, &phases, initial(&x, 6, 2, s.seed), |t| {
                t.barnes_hut_with_neighbors(theta, &neighbours);
            })
        };
        assert_eq!(ours, direct(0.25));
        assert_ne!(ours, direct(0.5));
    }

    /// A seeded layout (Barnes–Hut and FFT) is the same every run, also where rayon splits the work
    /// (bhtsne's parallel sums of `P`, of the mean and of FFT's `Z` were split-dependent;
    /// `vendor/bhtsne` sums in fixed blocks).
    #[test]
    fn a_seeded_layout_repeats_exactly() {
        let x = blobs(6000, 8);
        for theta in [Some(0.5), None] {
            let s = TsneSettings { perplexity: 10.0, iterations: 300, seed: 3, theta, ..TsneSettings::default() };
            let first = tsne(&x, 8, 2, &s).unwrap();
            assert_eq!(tsne(&x, 8, 2, &s).unwrap(), first, "theta {theta:?}");
        }
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
