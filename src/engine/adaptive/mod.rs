//! The contrastive phase's adaptive state, apart from the batch loop (`engine::trainer`):
//!
//! - **view centring**: each view's mean projection, which `Cvc::with_centring` subtracts before
//!   the L2 normalisation ([`projection_means`]);
//! - **view weights `w*`**: each view's discrepancy `D_v = KL(P̄ ‖ q_v)` from the unweighted consensus,
//!   smoothed over batches, and the closed-form weights `softmax(−(D_v / max(mean D, 10⁻³)) / γ)`
//!   ([`ViewTarget`], `loss::view_target_weights`);
//! - **pseudo labels**: k-means (10 restarts) on the weighted fused features `Z = [w_v h_v]`,
//!   matched one to one to the heads' current clusters by the Hungarian method (so a refresh
//!   never renames a cluster, and the app's colours stay), the nearest `ρ` of each cluster marked
//!   confident, and the DEC centres moved to the renormalised cluster means ([`refresh()`], in
//!   `refresh.rs`).

mod refresh;
mod reseed;

pub use refresh::*;
pub use reseed::reseed_small_clusters;

use crate::loss::view_target_weights;

/// Weight of the newest batch in the smoothed discrepancies.
const DISCREPANCY_SMOOTHING: f64 = 0.1;

/// The mean projection `W z_v + b` of each view (`V` rows of `H` values) from the projections of
/// every row (`predict::projections`, row-major `rows × dim` per view): the centres
/// `Cvc::with_centring` takes. Summed in `f64`, in row order.
pub fn projection_means(projections: &[Vec<f32>], dim: usize) -> Vec<Vec<f32>> {
    projections
        .iter()
        .map(|p| {
            let n = p.len() / dim.max(1);
            let mut sums = vec![0f64; dim];
            for row in p.chunks_exact(dim.max(1)) {
                for (s, x) in sums.iter_mut().zip(row) {
                    *s += *x as f64;
                }
            }
            sums.into_iter().map(|x| (x / n.max(1) as f64) as f32).collect()
        })
        .collect()
}

/// The smoothed discrepancies `D_v` and the weights `w*` they give.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewTarget {
    discrepancy: Vec<f64>,
    seen: bool,
}

impl ViewTarget {
    pub fn new(views: usize) -> Self {
        ViewTarget { discrepancy: vec![0.0; views], seen: false }
    }

    /// Folds one batch's discrepancies into the smoothed discrepancies (non-finite values are
    /// ignored).
    pub fn observe(&mut self, batch: &[f32]) {
        if batch.len() != self.discrepancy.len() || batch.iter().any(|x| !x.is_finite()) {
            return;
        }
        for (d, &x) in self.discrepancy.iter_mut().zip(batch) {
            *d = if self.seen {
                (1.0 - DISCREPANCY_SMOOTHING) * *d + DISCREPANCY_SMOOTHING * x as f64
            } else {
                x as f64
            };
        }
        self.seen = true;
    }

    pub fn discrepancy(&self) -> &[f64] {
        &self.discrepancy
    }

    /// `w*` at temperature `gamma` (uniform before the first batch).
    pub fn weights(&self, gamma: f32) -> Vec<f32> {
        let v = self.discrepancy.len();
        if !self.seen {
            return vec![1.0 / v.max(1) as f32; v];
        }
        view_target_weights(&self.discrepancy, gamma)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_target_starts_uniform_and_down_weights_the_discrepant_view() {
        let mut t = ViewTarget::new(3);
        assert_eq!(t.weights(0.5), vec![1.0 / 3.0; 3]);
        t.observe(&[0.125, 0.125, 0.5]);
        let w = t.weights(0.5);
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(w[2] < 0.1 && (w[0] - w[1]).abs() < 1e-6, "{w:?}");
        t.observe(&[f32::NAN, 0.0, 0.0]);
        assert_eq!(t.discrepancy(), &[0.125, 0.125, 0.5]);
    }

    #[test]
    fn discrepancies_under_the_floor_give_near_uniform_weights() {
        // Prokaryotic's flat heads: D_v of 1e-7 – 1e-6, which dividing by their mean alone turned
        // into weights of .85 / .07 / .08.
        let mut t = ViewTarget::new(3);
        t.observe(&[1.5e-7, 1.1e-6, 1.1e-6]);
        let w = t.weights(0.5);
        assert!(w.iter().all(|x| (x - 1.0 / 3.0).abs() < 1e-3), "{w:?}");
        // Above the floor only the ratios count: scaling D leaves w* unchanged.
        let big = crate::loss::view_target_weights(&[0.02, 0.02, 0.08], 0.5);
        let bigger = crate::loss::view_target_weights(&[0.2, 0.2, 0.8], 0.5);
        assert!(big.iter().zip(&bigger).all(|(a, b)| (a - b).abs() < 1e-6), "{big:?} vs {bigger:?}");
        assert!(big[2] < 0.1, "{big:?}");
    }
}
