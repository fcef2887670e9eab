//! The network's shape: everything needed to rebuild it from a checkpoint.

use serde::{Deserialize, Serialize};

/// Sizes of a CVC-AFWM network. Saved beside the weights; `init` rebuilds the
/// same parameter layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Input size `d_v` of each view.
    pub view_dims: Vec<usize>,
    /// Number of clusters K.
    pub n_clusters: usize,
    /// Hidden sizes of each view's encoder; the decoder mirrors them.
    pub encoder_hidden: Vec<usize>,
    /// F: size of the per-view latent `z_v`.
    pub feature_dim: usize,
    /// H: size of the high-level feature `h_v`.
    pub high_feature_dim: usize,
    /// Feed-forward size of the VCF transformer layer.
    pub vcf_ff_dim: usize,
    /// Heads of the AFW attention across views.
    pub afw_heads: usize,
    /// Hidden size of the AFW view-sampling FFN (32 in the seed).
    pub afw_ffn_hidden: usize,
    /// κ of the DEC head's kernel `(1 + κ‖h − μ‖²)⁻¹`. Checkpoints written
    /// before it existed were trained with κ = 1 and load with it.
    #[serde(default = "one")]
    pub kernel_scale: f32,
    /// A per-view centre `c_v` (`[V, H]`, not trained) is subtracted from the shared projection
    /// before the L2 normalisation, `h_v = normalize(W z_v + b − c_v)`, and set to each view's mean
    /// projection when the contrastive phase starts and at every pseudo-label refresh. Without it the projections' common offset
    /// (the bias `b` against small latents, the latents' own mean) makes every `h_v` point the same
    /// way (mean cosine .85–.93 on gauss3-noise) and the contrastive terms sit at chance (issue 13). Checkpoints written
    /// before it existed have none and load without it.
    #[serde(default)]
    pub view_centring: bool,
    /// With `view_centring`: whether the heads' features are centred too (the DEC head, the AFW,
    /// the fused `Z`, the readings and the pseudo-label k-means), or only the instance contrast's
    /// (`false`: those read `normalize(W z_v + b)`). Centring sends samples near a view's mean
    /// projection to arbitrary points of the sphere, which scatters a class that sits there (BDGP:
    /// heads .655 after one contrastive epoch with it, .961 without). Not a parameter: a run from a
    /// checkpoint chooses its own. Checkpoints written before it existed load with `true`.
    #[serde(default = "yes")]
    pub centre_heads: bool,
    /// The AFW attention adds its context to the view summaries (a residual) and the view score
    /// and the FFN's modulation are added (not multiplied) before the softmax. Checkpoints written
    /// before it existed load with the old form (`false`).
    #[serde(default)]
    pub afw_residual: bool,
}

fn one() -> f32 {
    1.0
}

fn yes() -> bool {
    true
}

impl ModelConfig {
    pub fn n_views(&self) -> usize {
        self.view_dims.len()
    }

    /// Width of the fused feature `Z` (H·V), the VCF layer's `d_model`.
    pub fn fused_dim(&self) -> usize {
        self.high_feature_dim * self.view_dims.len()
    }

    /// Checks the sizes; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.view_dims.is_empty() {
            return Err("the model needs at least one view".into());
        }
        if let Some(v) = self.view_dims.iter().position(|&d| d == 0) {
            return Err(format!("view {} has no features", v + 1));
        }
        if self.n_clusters < 2 {
            return Err(format!("the model needs at least 2 clusters, got {}", self.n_clusters));
        }
        if self.encoder_hidden.contains(&0) || self.feature_dim == 0 || self.high_feature_dim == 0 {
            return Err("every layer of the network must have at least one unit".into());
        }
        if self.vcf_ff_dim == 0 || self.afw_ffn_hidden == 0 {
            return Err("the VCF feed-forward and AFW FFN sizes must be at least 1".into());
        }
        if !(self.kernel_scale.is_finite() && self.kernel_scale > 0.0) {
            return Err(format!("kernel_scale must be a positive number, got {}", self.kernel_scale));
        }
        if self.afw_heads == 0 || !self.high_feature_dim.is_multiple_of(self.afw_heads) {
            return Err(format!(
                "high_feature_dim ({}) must be divisible by afw_heads ({})",
                self.high_feature_dim, self.afw_heads
            ));
        }
        Ok(())
    }

    /// Multiply–accumulate operations of one sample through the autoencoders
    /// (encoder + decoder of every view), the dominant cost of training.
    pub fn autoencoder_macs(&self) -> u64 {
        let mut total = 0u64;
        for &d in &self.view_dims {
            let mut sizes = vec![d];
            sizes.extend(&self.encoder_hidden);
            sizes.push(self.feature_dim);
            let enc: u64 = sizes.windows(2).map(|w| (w[0] * w[1]) as u64).sum();
            total += 2 * enc;
        }
        total
    }

    /// Multiply–accumulates of one sample through the projection, DEC head,
    /// VCF layer (for a batch of `batch` samples) and its classifier.
    pub fn head_macs(&self, batch: usize) -> u64 {
        let (f, h, k, v) =
            (self.feature_dim as u64, self.high_feature_dim as u64, self.n_clusters as u64, self.n_views() as u64);
        let dm = self.fused_dim() as u64;
        let ff = self.vcf_ff_dim as u64;
        v * (f * h + h * k) + 4 * dm * dm + 2 * dm * batch as u64 + 2 * dm * ff + dm * k
    }
}
