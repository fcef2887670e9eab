//! Analyses of a model's readings, egui-free (the app's analysis tile, the engine's per-view
//! metrics and the exports use them): the Hungarian-aligned confusion matrix of any reading
//! (`confusion.rs`), per-sample pseudo-label uncertainty (`uncertainty.rs`), and the views'
//! agreement (below); t-SNE layouts (`embed.rs`) on exact nearest neighbours (`neighbours.rs`).

mod confusion;
pub mod embed;
mod neighbours;
mod procrustes;
mod trust;
mod uncertainty;

pub use confusion::{Confusion, Reading, aligned_order};
pub use neighbours::nearest_neighbours;
pub use procrustes::{Similarity, procrustes_2d};
pub use trust::trustworthiness;
pub use uncertainty::{histogram, most_uncertain, normalized_entropy, uncertainties};

/// `out[a][b]`: the fraction of samples whose prediction by `a` equals that by `b` (1 on the
/// diagonal). The views' `argmax q_v` share the DEC head's centres, so their ids are comparable
/// without a matching. Empty input gives an empty matrix; a view with no samples agrees 0.
pub fn agreement_matrix(preds: &[Vec<usize>]) -> Vec<Vec<f64>> {
    preds
        .iter()
        .map(|a| {
            preds
                .iter()
                .map(|b| {
                    let n = a.len().min(b.len());
                    if n == 0 {
                        return 0.0;
                    }
                    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / n as f64
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_is_symmetric_with_a_unit_diagonal() {
        let m = agreement_matrix(&[vec![0, 1, 2, 2], vec![0, 1, 1, 2], vec![2, 2, 2, 2]]);
        assert_eq!(m[0][0], 1.0);
        assert_eq!(m[0][1], 0.75);
        assert_eq!(m[1][0], 0.75);
        assert_eq!(m[0][2], 0.5);
        assert_eq!(m[1][2], 0.25);
        assert!(agreement_matrix(&[]).is_empty());
    }
}
