//! The t-SNE settings the app lets a user change, their check ([`validate`]: bhtsne panics on a
//! perplexity too large for the sample count, we return a sentence instead), and the point
//! selection and instant PCA that precede a layout. The worker that runs layouts is `tsne.rs`.

use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Which t-SNE gradient approximation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TsneMethod {
    /// Barnes–Hut tree (`theta` sets the accuracy).
    #[default]
    BarnesHut,
    /// FFT-accelerated interpolation (FIt-SNE). Linear in the points, but its grid grows with the
    /// layout's spread: at the app's sizes bhtsne's FFT is several times slower than Barnes–Hut
    /// (docs/BENCHMARKS.md, t-SNE, session 37).
    Fft,
}

impl TsneMethod {
    pub fn label(self) -> &'static str {
        match self {
            Self::BarnesHut => "Barnes-Hut",
            Self::Fft => "FFT (FIt-SNE)",
        }
    }
}

/// User-adjustable t-SNE settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TsneParams {
    pub perplexity: f32,
    pub iterations: usize,
    pub method: TsneMethod,
    /// Barnes–Hut accuracy (0 < theta; 0.5 is the usual choice), in scikit-learn's and openTSNE's
    /// sense (a cell's full width over its distance; `analysis::embed::bhtsne_theta`).
    pub theta: f32,
    /// Cap on the points embedded (a stratified subsample beyond it).
    pub max_points: usize,
    pub seed: u64,
}

impl Default for TsneParams {
    fn default() -> Self {
        Self { perplexity: 30.0, iterations: 750, method: TsneMethod::BarnesHut, theta: 0.5, max_points: 3000, seed: 7 }
    }
}

/// Why a t-SNE cannot run with the given settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TsneError {
    #[error("t-SNE needs at least 5 points, the snapshot has {n_points}")]
    TooFewPoints { n_points: usize },
    #[error(
        "perplexity {perplexity} is too large for {n_points} points: it must be at most {max:.1} ((points − 1) / 3)"
    )]
    PerplexityTooLarge { perplexity: f32, n_points: usize, max: f32 },
    #[error("perplexity must be a number ≥ 1, got {0}")]
    BadPerplexity(f32),
    #[error("t-SNE needs at least 10 iterations, got {0}")]
    TooFewIterations(usize),
    #[error("theta must be a positive number, got {0}")]
    BadTheta(f32),
    #[error("the point cap must be at least 10, got {0}")]
    BadCap(usize),
    #[error("the snapshot's feature matrix is malformed: {0}")]
    BadData(String),
    #[error("t-SNE failed: {0}")]
    Internal(String),
}

/// Checks the settings against the number of points that will be embedded.
pub fn validate(params: &TsneParams, n_points: usize) -> Result<(), TsneError> {
    if !(params.perplexity.is_finite() && params.perplexity >= 1.0) {
        return Err(TsneError::BadPerplexity(params.perplexity));
    }
    if params.iterations < 10 {
        return Err(TsneError::TooFewIterations(params.iterations));
    }
    if !(params.theta.is_finite() && params.theta > 0.0) {
        return Err(TsneError::BadTheta(params.theta));
    }
    if params.max_points < 10 {
        return Err(TsneError::BadCap(params.max_points));
    }
    if n_points < 5 {
        return Err(TsneError::TooFewPoints { n_points });
    }
    let max = (n_points - 1) as f32 / 3.0;
    if params.perplexity > max {
        return Err(TsneError::PerplexityTooLarge { perplexity: params.perplexity, n_points, max });
    }
    Ok(())
}

/// Positions (sorted) of at most `cap` items, keeping each group's share.
/// `groups[i]` is item `i`'s class (true label, or predicted cluster).
pub fn stratified_subsample(groups: &[usize], cap: usize, seed: u64) -> Vec<usize> {
    let n = groups.len();
    if n <= cap {
        return (0..n).collect();
    }
    let k = groups.iter().copied().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &g) in groups.iter().enumerate() {
        if let Some(m) = members.get_mut(g) {
            m.push(i);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut quotas: Vec<usize> =
        members.iter().map(|m| if m.is_empty() { 0 } else { ((m.len() * cap) / n).max(1) }).collect();
    // Hand out what rounding left over to the largest groups, or take back what it overshot.
    let mut total: usize = quotas.iter().sum();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by_key(|&g| std::cmp::Reverse(members[g].len()));
    let mut turn = 0;
    while total != cap && !order.is_empty() {
        let g = order[turn % order.len()];
        if total < cap && quotas[g] < members[g].len() {
            quotas[g] += 1;
            total += 1;
        } else if total > cap && quotas[g] > 1 {
            quotas[g] -= 1;
            total -= 1;
        }
        turn += 1;
        if turn > 4 * (cap + n) {
            break;
        }
    }
    let mut out = Vec::with_capacity(cap);
    for (m, q) in members.iter_mut().zip(quotas) {
        m.shuffle(&mut rng);
        out.extend(m.iter().take(q));
    }
    out.sort_unstable();
    out
}

/// The first two principal-component scores of `data` (`n × dim`, row-major),
/// by block power iteration; deterministic for a given seed. Returns `n × 2`.
pub fn pca_2d(data: &[f32], dim: usize, seed: u64) -> Vec<f32> {
    crate::analysis::embed::pca(data, dim, 2, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perplexity_is_checked_against_points() {
        let p = TsneParams { perplexity: 30.0, ..TsneParams::default() };
        assert!(matches!(validate(&p, 50), Err(TsneError::PerplexityTooLarge { .. })));
        assert!(validate(&p, 91).is_ok());
        let msg = validate(&p, 50).unwrap_err().to_string();
        assert!(msg.contains("too large for 50 points"), "{msg}");
    }

    #[test]
    fn stratified_keeps_shares_and_cap() {
        let groups: Vec<usize> = (0..1000).map(|i| if i < 800 { 0 } else { 1 }).collect();
        let s = stratified_subsample(&groups, 100, 3);
        assert_eq!(s.len(), 100);
        let ones = s.iter().filter(|&&i| groups[i] == 1).count();
        assert_eq!(ones, 20);
        assert_eq!(s, stratified_subsample(&groups, 100, 3));
    }

    #[test]
    fn pca_finds_the_main_axis() {
        let data: Vec<f32> = (0..200).flat_map(|i| [i as f32, 0.5 * (i % 3) as f32, 1.0]).collect();
        let y = pca_2d(&data, 3, 1);
        assert_eq!(y.len(), 400);
        let spread = |k: usize| {
            let v: Vec<f32> = y.iter().skip(k).step_by(2).copied().collect();
            v.iter().copied().fold(f32::MIN, f32::max) - v.iter().copied().fold(f32::MAX, f32::min)
        };
        assert!(spread(0) > 100.0 * spread(1).max(1e-3) || spread(0) > 150.0);
    }
}
