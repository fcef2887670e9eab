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

#[cfg(test)]
mod tests {
    use super::*;

    /// K orthonormal centres and each sample exactly on one of them.
    fn on_centres(k: usize, kappa: f32) -> Vec<f32> {
        let device = Device::flex();
        let eye: Vec<f32> = (0..k * k).map(|i| if i / k == i % k { 1.0 } else { 0.0 }).collect();
        let head = DecHead::new(k, k, kappa, &device).with_centers(eye.clone(), k, k, &device);
        let h = Tensor::<2>::from_data(TensorData::new(eye, [k, k]), &device);
        head.forward(h).into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn unit_kernel_is_capped_on_the_sphere_and_kappa_lifts_the_cap() {
        let k = 10;
        for (kappa, want) in [(1.0f32, 0.25f32), (10.0, 1.0 / (1.0 + 9.0 / 21.0))] {
            let q = on_centres(k, kappa);
            for i in 0..k {
                let row = &q[i * k..(i + 1) * k];
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                assert!((row[i] - want).abs() < 1e-5, "κ = {kappa}: max q {} ≠ {want}", row[i]);
            }
        }
    }

    #[test]
    fn old_model_configs_load_with_the_unit_kernel() {
        let json = r#"{"view_dims":[3,4],"n_clusters":2,"encoder_hidden":[8],"feature_dim":4,
            "high_feature_dim":4,"vcf_ff_dim":8,"afw_heads":1,"afw_ffn_hidden":32}"#;
        let cfg: crate::model::ModelConfig = serde_json::from_str(json).unwrap();
        assert_eq!(cfg.kernel_scale, 1.0);
        assert!(cfg.validate().is_ok());
        let bad = crate::model::ModelConfig { kernel_scale: 0.0, ..cfg };
        assert!(bad.validate().unwrap_err().contains("kernel_scale"));
    }
}
