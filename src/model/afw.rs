//! Adaptive feature weighting (AFW), after DealMVC (ACM MM 2023), made learnable.
//!
//! The seed's version attends over the batch axis (so it only runs at batch
//! size 256), multiplies the weights batch after batch without renormalising,
//! feeds them into the fused feature through `.item()` (no gradient) and never
//! steps the optimisers of its two networks. Here:
//!
//! 1. each view is summarised over the batch: `s_v = mean_b h_v[b]` (`[V, H]`);
//! 2. multi-head self-attention runs across the V view tokens, and a linear
//!    read-out gives one score `a_v` per view;
//! 3. a small FFN (`Linear(V,32)-GELU-Linear(32,V)`, as in the seed) maps the
//!    view-sampling distribution `p` (uniform) to a modulation `m_v`;
//! 4. `w = softmax_v(a_v · m_v)`.
//!
//! `w` sums to 1, does not depend on the batch size, and is part of the
//! autodiff graph, so every parameter here is trained by the objective.
//!
//! With `residual` (every network built since issue 13) step 2 adds the attention's context to
//! the summaries (`s_v + attn(s)_v`, so each view's score sees its own summary, not only the
//! same mixture of all views), the sampling distribution `p` is the measured one — the trainer
//! keeps it at the closed-form weights `w*` of each view's agreement with the others
//! (`loss::view_target_weights`) — and step 4 adds the parts to `p`'s logits,
//! `w = softmax_v(log p_v + a_v + m_v)`: `w` starts at `w*` and the attention and FFN learn a
//! correction (the product `a · m` let a near-zero modulation silence the score, and a learned
//! constant cannot follow a view whose quality changes). The objective's `KL(w* ‖ w)` trains
//! that correction.

use burn::module::{Module, Param};
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Tensor, TensorData};

/// The view-weighting network.
#[derive(Module, Debug)]
pub struct AdaptiveWeighting {
    pub attention: MultiHeadAttention,
    pub score: Linear,
    pub p_hidden: Linear,
    pub p_out: Linear,
    pub n_views: usize,
    /// Residual attention and additive logits (see the module documentation).
    pub residual: bool,
    /// The view-sampling distribution `p` the FFN reads, `[V]` (networks with `residual`): the
    /// trainer sets it to the closed-form weights `w*`, so `p` is the measured view quality
    /// instead of the seed's constant uniform. A constant here, not trained.
    pub prior: Option<Param<Tensor<1>>>,
}

impl AdaptiveWeighting {
    pub fn new(
        n_views: usize,
        high_feature_dim: usize,
        heads: usize,
        ffn_hidden: usize,
        residual: bool,
        device: &Device,
    ) -> Self {
        AdaptiveWeighting {
            attention: MultiHeadAttentionConfig::new(high_feature_dim, heads).with_dropout(0.0).init(device),
            score: LinearConfig::new(high_feature_dim, 1).init(device),
            p_hidden: LinearConfig::new(n_views, ffn_hidden).init(device),
            p_out: LinearConfig::new(ffn_hidden, n_views).init(device),
            n_views,
            residual,
            prior: residual
                .then(|| Param::from_tensor(Tensor::<1>::ones([n_views], device).div_scalar(n_views as f32))),
        }
    }

    /// View weights from per-view summaries.
    ///
    /// # Shapes
    /// - summaries: `[V, H]` (the mean of each `h_v` over the batch)
    /// - output: `[V]`, non-negative, summing to 1
    pub fn forward(&self, summaries: Tensor<2>) -> Tensor<1> {
        let [v, h] = summaries.dims();
        let device = summaries.device();
        let tokens = summaries.clone().reshape([1, v, h]); // [1, V, H]
        let ctx = self.attention.forward(MhaInput::self_attn(tokens)).context.reshape([v, h]); // [V, H]
        let ctx = if self.residual { ctx + summaries } else { ctx };
        let a = self.score.forward(ctx).reshape([v]); // [V]
        let p = match &self.prior {
            Some(p) if p.val().dims()[0] == v => p.val().detach(),
            _ => Tensor::<1>::ones([v], &device).div_scalar(v as f32), // the seed's uniform sampling distribution
        };
        let m = self.p_out.forward(gelu(self.p_hidden.forward(p.clone().reshape([1, v])))).reshape([v]); // [V]
        if self.residual { softmax(p.clamp_min(1e-6).log() + a + m, 0) } else { softmax(a * m, 0) }
    }

    /// Sets the view-sampling distribution `p` (the weights `w*`; see [`Self::prior`]); a network
    /// without one (from before issue 13) is returned unchanged.
    pub fn with_prior(mut self, weights: &[f32], device: &Device) -> Self {
        if self.prior.is_some() && weights.len() == self.n_views {
            let t = Tensor::<1>::from_data(TensorData::new(weights.to_vec(), [weights.len()]), device);
            self.prior = Some(Param::from_tensor(t));
        }
        self
    }

    /// Convenience: summaries from the views' features, then the weights.
    ///
    /// # Shapes
    /// - hs: V tensors `[batch, H]` → `[V]`
    pub fn weights_from_features(&self, hs: &[Tensor<2>]) -> Tensor<1> {
        let summaries: Vec<Tensor<2>> = hs.iter().map(|h| h.clone().mean_dim(0)).collect(); // each [1, H]
        self.forward(Tensor::cat(summaries, 0))
    }
}
