//! The triplet loss of seed 001: `mean_i max(d(a_i, p_i) − d(a_i, n_i) + margin, 0)`, with `d` the
//! Euclidean distance as PyTorch's `F.pairwise_distance` computes it (`‖x − y + ε‖₂`, ε = 1e-6).

use burn::tensor::Tensor;
use burn::tensor::activation::relu;

/// PyTorch's `pairwise_distance` epsilon.
pub const PAIRWISE_EPS: f32 = 1e-6;

/// `‖x_i − y_i + ε‖₂` for each row.
///
/// # Shapes
/// - x, y: `[B, D]` → `[B]`
pub fn pairwise_distance(x: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    let [b, _] = x.dims();
    (x - y).add_scalar(PAIRWISE_EPS).powi_scalar(2).sum_dim(1).sqrt().reshape([b])
}

/// The mean triplet loss of a batch of (anchor, positive, negative) embeddings.
///
/// # Shapes
/// - anchor, positive, negative: `[B, D]` → `[1]`
pub fn triplet_loss(anchor: Tensor<2>, positive: Tensor<2>, negative: Tensor<2>, margin: f32) -> Tensor<1> {
    let dp = pairwise_distance(anchor.clone(), positive);
    let dn = pairwise_distance(anchor, negative);
    relu(dp - dn + margin).mean()
}

/// The squared Euclidean distances between every row of `x` and every row of `y`
/// (`‖x‖² + ‖y‖² − 2 x yᵀ`, clamped at 0).
///
/// # Shapes
/// - x: `[N, D]`, y: `[M, D]` → `[N, M]`
pub fn squared_distances(x: Tensor<2>, y: Tensor<2>) -> Tensor<2> {
    let xx = x.clone().powi_scalar(2).sum_dim(1); // [N, 1]
    let yy = y.clone().powi_scalar(2).sum_dim(1).transpose(); // [1, M]
    let xy = x.matmul(y.transpose());
    (xx + yy - xy.mul_scalar(2.0)).clamp_min(0.0)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn t(rows: &[[f32; 2]], device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(rows.iter().flatten().copied().collect::<Vec<_>>(), [rows.len(), 2]), device)
    }

    #[test]
    fn the_triplet_loss_equals_a_hand_computed_value() {
        let device = Device::flex();
        // Row 1: d(a,p) = 5 (3-4-5), d(a,n) = 1, margin 2 → 5 − 1 + 2 = 6.
        // Row 2: d(a,p) = 1, d(a,n) = 10, margin 2 → max(1 − 10 + 2, 0) = 0.
        let a = t(&[[0.0, 0.0], [1.0, 1.0]], &device);
        let p = t(&[[3.0, 4.0], [1.0, 2.0]], &device);
        let n = t(&[[1.0, 0.0], [7.0, 9.0]], &device);
        let loss: f32 = triplet_loss(a, p, n, 2.0).into_scalar();
        // ε shifts each distance by at most ~1e-6·√2.
        assert!((loss - 3.0).abs() < 1e-4, "{loss}");
    }

    #[test]
    fn squared_distances_match_the_definition() {
        let device = Device::flex();
        let x = t(&[[0.0, 0.0], [1.0, 2.0]], &device);
        let y = t(&[[3.0, 4.0], [1.0, 2.0], [-1.0, 0.0]], &device);
        let d: Vec<f32> = squared_distances(x, y).into_data().try_to_vec().unwrap();
        let want = [25.0, 5.0, 1.0, 8.0, 0.0, 8.0];
        for (g, w) in d.iter().zip(want) {
            assert!((g - w).abs() < 1e-4, "{d:?}");
        }
    }
}
