//! The DEC head (Xie, Girshick & Farhadi 2016): Student-t soft assignments of
//! features to learnable cluster centres, with one degree of freedom.

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor, TensorData};

/// Cluster centres `[K, H]`, shared by every view, and the kernel scale κ.
#[derive(Module, Debug)]
pub struct DecHead {
    pub centers: Param<Tensor<2>>,
    /// κ in `(1 + κ‖h − μ‖²)⁻¹` (a constant from the model config, not a parameter).
    pub kernel_scale: f32,
}

impl DecHead {
    /// Xavier-uniform centres (the seed's init; replaced by k-means++ after pre-training).
    pub fn new(k: usize, dim: usize, kernel_scale: f32, device: &Device) -> Self {
        DecHead {
            centers: Initializer::XavierUniform { gain: 1.0 }.init_with([k, dim], Some(dim), Some(k), device),
            kernel_scale,
        }
    }

    /// Replaces the centres by the given row-major `k × dim` values (a new trainable parameter).
    pub fn with_centers(self, values: Vec<f32>, k: usize, dim: usize, device: &Device) -> Self {
        let t = Tensor::<2>::from_data(TensorData::new(values, [k, dim]), device);
        DecHead { centers: Param::from_tensor(t), kernel_scale: self.kernel_scale }
    }

    /// `q_ij = (1 + κ‖h_i − μ_j‖²)⁻¹ / Σ_j' (1 + κ‖h_i − μ_j'‖²)⁻¹` (alpha = 1).
    ///
    /// κ = 1 is DEC's (and the seed's) kernel. On unit-norm `h` it cannot be
    /// confident: distances are at most 2, so with K orthogonal centres even a
    /// sample sitting on its centre gets `max q = 1 / (1 + (K−1)/3)`, 0.25 for
    /// K = 10. Scaling the squared distance by κ (the Student-t kernel on `√κ·h`)
    /// lifts that cap to `1 / (1 + (K−1)/(1+2κ))`.
    ///
    /// # Shapes
    /// - h: `[batch, H]` → `[batch, K]`
    pub fn forward(&self, h: Tensor<2>) -> Tensor<2> {
        let c = self.centers.val(); // [K, H]
        let h2 = h.clone().powi_scalar(2).sum_dim(1); // [B, 1]
        let c2 = c.clone().powi_scalar(2).sum_dim(1).transpose(); // [1, K]
        let cross = h.matmul(c.transpose()).mul_scalar(2.0); // [B, K]
        let d2 = (h2 + c2 - cross).clamp_min(0.0); // [B, K]
        let num = d2.mul_scalar(self.kernel_scale).add_scalar(1.0).recip();
        let den = num.clone().sum_dim(1); // [B, 1]
        num / den
    }
}
