//! The CVC-AFWM network: per-view autoencoders, a shared projection to the
//! high-level features `h_v`, a shared DEC head, adaptive feature weighting
//! (AFW) and the VCF transformer head. Written against burn 0.22's
//! device-carried API (no backend type parameter).
//!
//! Data flow for a batch of V views:
//! ```text
//! x_v ─enc_v→ z_v ─dec_v→ x̂_v                    (L_R)
//!        z_v ─proj→ L2norm → h_v ─DEC→ q_v         (L_C, L_A, L_Q)
//! {mean_b h_v} ─AFW→ w (Σ w = 1)
//! Z = concat_v(w_v · h_v) ─VCF→ t → P = sharpen(t) (L_A target, L_Q)
//! ```

pub mod afw;
pub mod autoencoder;
pub mod config;
pub mod dec;
pub mod triplet;
pub mod vcf;

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};

pub use afw::AdaptiveWeighting;
pub use autoencoder::ViewAutoencoder;
pub use config::ModelConfig;
pub use dec::DecHead;
pub use vcf::VcfHead;

/// The whole network.
#[derive(Module, Debug)]
pub struct Cvc {
    pub views: Vec<ViewAutoencoder>,
    /// Shared `Linear(F, H)` before the L2 normalisation.
    pub projection: Linear,
    /// Per-view centres `c_v` (`[V, H]`), subtracted from the projection `W z_v + b` before the
    /// L2 normalisation (`ModelConfig::view_centring`; `None` in networks saved before it existed).
    pub centring: Option<Param<Tensor<2>>>,
    /// Whether the heads read centred features too (`ModelConfig::centre_heads`).
    pub centre_heads: bool,
    pub dec: DecHead,
    pub afw: AdaptiveWeighting,
    pub vcf: VcfHead,
}

/// Everything one forward pass of a batch produces.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Reconstruction of each view, `[B, d_v]`.
    pub xr: Vec<Tensor<2>>,
    /// High-level features of each view, `[B, H]`, unit rows.
    pub h: Vec<Tensor<2>>,
    /// Soft assignments of each view, `[B, K]`.
    pub q: Vec<Tensor<2>>,
    /// AFW view weights `[V]`.
    pub weights: Tensor<1>,
    /// Fused feature `Z`, `[B, H·V]`.
    pub fused: Tensor<2>,
    /// VCF output `t`, `[B, K]`.
    pub t: Tensor<2>,
    /// The instance contrast's features of each view, `[B, H]`, unit rows: `h` itself, or the
    /// centred `normalize(W z_v + b − c_v)` where only the contrast is centred.
    pub h_contrast: Vec<Tensor<2>>,
}

impl ModelConfig {
    /// Builds the network on `device` (lazily initialised parameters).
    pub fn init(&self, device: &Device) -> Cvc {
        let views = self
            .view_dims
            .iter()
            .map(|&d| ViewAutoencoder::new(d, &self.encoder_hidden, self.feature_dim, device))
            .collect();
        Cvc {
            views,
            projection: LinearConfig::new(self.feature_dim, self.high_feature_dim).init(device),
            centring: self
                .view_centring
                .then(|| Param::from_tensor(Tensor::<2>::zeros([self.n_views(), self.high_feature_dim], device))),
            centre_heads: self.centre_heads,
            dec: DecHead::new(self.n_clusters, self.high_feature_dim, self.kernel_scale, device),
            afw: AdaptiveWeighting::new(
                self.n_views(),
                self.high_feature_dim,
                self.afw_heads,
                self.afw_ffn_hidden,
                self.afw_residual,
                device,
            ),
            vcf: VcfHead::new(self.fused_dim(), self.vcf_ff_dim, self.n_clusters, device),
        }
    }
}

/// Serialises "seed the device, then draw the initial parameters": burn's
/// random state is per backend and process-wide, so two runs initialising at
/// once would interleave their draws.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl ModelConfig {
    /// Builds the network with parameters drawn from `seed` (reproducible
    /// even while other threads create tensors on the same backend).
    pub fn init_seeded(&self, device: &Device, seed: u64) -> Cvc {
        seeded(device, seed, || self.init(device))
    }
}

/// A network built by `init` with every parameter drawn from `seed`, under [`INIT_LOCK`].
pub(crate) fn seeded<M: Module>(device: &Device, seed: u64, init: impl FnOnce() -> M) -> M {
    let _guard = INIT_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    device.seed(seed);
    let model = init();
    // burn's parameters are lazy: each one draws its initial values on first use. Draw them
    // all here, under the lock and in module order, so the values depend only on the seed
    // (not on which thread, or which of the views' parallel passes, touches them first).
    struct Draw;
    impl burn::module::ModuleVisitor for Draw {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Draw);
    model
}

/// Row-wise L2 normalisation (`torch.nn.functional.normalize`, eps 1e-12).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12); // [B, 1]
    x / norm
}

impl Cvc {
    pub fn n_views(&self) -> usize {
        self.views.len()
    }

    /// Reconstructions only (the pre-training phase).
    pub fn reconstruct(&self, xs: &[Tensor<2>]) -> Vec<Tensor<2>> {
        self.views.iter().zip(xs).map(|(ae, x)| ae.decode(ae.encode(x.clone()))).collect()
    }

    /// `h_v` of view `v` from its latent `z_v`, what the heads read: `normalize(W z_v + b − c_v)`,
    /// or `normalize(W z_v + b)` where only the contrast is centred (`centre_heads` false).
    pub fn project(&self, v: usize, z: Tensor<2>) -> Tensor<2> {
        self.features_from_projection(v, self.projection.forward(z))
    }

    /// The heads' feature `h_v` of view `v` from its projection `W z_v + b` (`[B, H]`): centred
    /// and L2-normalised, or normalised alone, as [`Cvc::project`] does.
    pub fn features_from_projection(&self, v: usize, p: Tensor<2>) -> Tensor<2> {
        if self.centre_heads { self.centred(v, p) } else { l2_normalize(p) }
    }

    /// The instance contrast's feature of view `v`: `normalize(W z_v + b − c_v)` (no `c_v` in a
    /// network without centring).
    pub fn project_centred(&self, v: usize, z: Tensor<2>) -> Tensor<2> {
        self.centred(v, self.projection.forward(z))
    }

    /// `normalize(p − c_v)` of view `v`'s projection `p = W z_v + b` (`normalize(p)` without centring).
    fn centred(&self, v: usize, p: Tensor<2>) -> Tensor<2> {
        let p = match &self.centring {
            Some(c) => {
                let [_, h] = p.dims();
                // A constant, not trained: a trainable offset is a one-parameter path to
                // collapse (grow it and every `h_v` points the same way).
                p - c.val().detach().slice(v..v + 1).reshape([1, h])
            }
            None => p,
        };
        l2_normalize(p)
    }

    /// The latents `z_v` of every view (no decoder, no heads).
    pub fn latents(&self, xs: &[Tensor<2>]) -> Vec<Tensor<2>> {
        self.views.iter().zip(xs).map(|(ae, x)| ae.encode(x.clone())).collect()
    }

    /// `h_v` of every view (no decoder, no heads).
    pub fn features(&self, xs: &[Tensor<2>]) -> Vec<Tensor<2>> {
        self.latents(xs).into_iter().enumerate().map(|(v, z)| self.project(v, z)).collect()
    }

    /// Sets the per-view centres `c_v` to `means` (V rows of H values: each view's mean projection
    /// `W z_v + b`; a constant the optimiser does not move: the trainer re-estimates it); a network without centring (an old checkpoint's)
    /// is returned unchanged.
    pub fn with_centring(mut self, means: &[Vec<f32>], device: &Device) -> Self {
        if self.centring.is_some() && !means.is_empty() {
            let f = means[0].len();
            let values: Vec<f32> = means.iter().flatten().copied().collect();
            let t = Tensor::<2>::from_data(TensorData::new(values, [means.len(), f]), device);
            self.centring = Some(Param::from_tensor(t));
        }
        self
    }

    /// `Z = concat_v(w_v · h_v)`.
    ///
    /// # Shapes
    /// - hs: V × `[B, H]`, weights `[V]` → `[B, H·V]`
    pub fn fuse(hs: &[Tensor<2>], weights: &Tensor<1>) -> Tensor<2> {
        let parts: Vec<Tensor<2>> = hs
            .iter()
            .enumerate()
            .map(|(v, h)| {
                let w = weights.clone().slice(v..v + 1).reshape([1, 1]); // [1, 1]
                h.clone() * w
            })
            .collect();
        Tensor::cat(parts, 1)
    }

    /// The full forward pass of a batch.
    pub fn forward(&self, xs: &[Tensor<2>]) -> Forward {
        let (zs, xr) = self
            .views
            .iter()
            .zip(xs)
            .map(|(ae, x)| {
                let z = ae.encode(x.clone());
                let r = ae.decode(z.clone());
                (z, r)
            })
            .unzip();
        self.forward_heads(zs, xr)
    }

    /// The shared part of the forward pass, from the views' latents `z_v` (`[B, F]`) and
    /// reconstructions onward: projection, DEC, AFW and VCF. The trainer calls it on detached
    /// latents to differentiate the heads apart from the per-view autoencoders
    /// (see `engine::step`).
    pub fn forward_heads(&self, zs: Vec<Tensor<2>>, xr: Vec<Tensor<2>>) -> Forward {
        // One projection per view; the heads' and the contrast's features differ only where the
        // contrast alone is centred.
        let split = !self.centre_heads && self.centring.is_some();
        let (h, h_contrast): (Vec<Tensor<2>>, Vec<Tensor<2>>) = zs
            .into_iter()
            .enumerate()
            .map(|(v, z)| {
                let p = self.projection.forward(z);
                if split {
                    (l2_normalize(p.clone()), self.centred(v, p))
                } else {
                    let h = self.centred(v, p);
                    (h.clone(), h)
                }
            })
            .unzip();
        let q = h.iter().map(|hv| self.dec.forward(hv.clone())).collect();
        let weights = self.afw.weights_from_features(&h);
        // Networks since issue 13 train the AFW toward the closed-form weights `w*` only
        // (`loss::objective`): through `Z` the VCF head's self-training would pull the weights
        // toward whatever makes `t` confident, not toward the views' quality.
        let fused =
            if self.afw.residual { Self::fuse(&h, &weights.clone().detach()) } else { Self::fuse(&h, &weights) };
        let t = self.vcf.forward(fused.clone());
        Forward { xr, h, q, weights, fused, t, h_contrast }
    }
}
