//! The gradients of one batch, with the per-view networks differentiated in parallel.
//!
//! Most of the work of a step is in the V autoencoders (`d_v-500-500-2000-F` and back), and they
//! share no parameters. burn's autodiff runs one graph's backward pass on one thread, and the
//! matrix products of a 256-row batch split poorly across cores (docs/BENCHMARKS.md), so one
//! graph for the whole model leaves the second core mostly idle. Here the model is cut at the
//! latents `z_v` into graphs that run side by side.
//!
//! Pre-training, per view in parallel: `z_v = enc_v(x_v)`, `x̂_v = dec_v(z_v)`, and the backward
//! pass of `MSE(x_v, x̂_v)`.
//!
//! The contrastive phase:
//!
//! 1. per view, in parallel: `z_v = enc_v(x_v)`;
//! 2. at the same time (`rayon::join`):
//!    - the shared heads (projection, DEC, AFW, VCF) and the objective on detached copies `z̃_v`
//!      of the latents, marked as leaves; one backward pass gives the heads' gradients and
//!      `g_v = ∂L/∂z̃_v`;
//!    - per view, in parallel: the decoder on its own detached copy `ž_v`, and the backward pass
//!      of `w_R · MSE(x_v, dec_v(ž_v))`, which gives the decoder's gradients and
//!      `r_v = w_R ∂MSE/∂ž_v`;
//!
//!    the heads' graph is long and narrow (its element-wise operations and the packing of its
//!    matrix products run on one thread), so the decoders fill the other core;
//! 3. per view, in parallel: the backward pass of `Σ z_v ⊙ (g_v + r_v)`, whose gradient with
//!    respect to the encoder's parameters is exactly that of `L` (chain rule through `z_v`, with
//!    `g_v + r_v` held constant: the sum burn's autodiff forms where `z_v` feeds two branches).
//!
//! The gradients are the same as one backward pass of the whole objective up to floating-point
//! summation order (`tests/engine.rs::split_gradients_match_one_backward_pass`).

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Gradients, Tensor};
use rayon::prelude::*;

use crate::loss::{LabelTargets, LossParams, Objective, objective_with, pretrain_objective, view_reconstruction};
use crate::model::{Cvc, ViewAutoencoder};

/// What one batch gives the optimiser and the epoch report.
pub struct BatchGradients {
    pub grads: GradientsParams,
    /// The objective's detached parts and total (its `total` is not differentiable here).
    pub objective: Objective,
    /// The AFW view weights of the batch (contrastive phase), detached.
    pub weights: Option<Tensor<1>>,
}

/// Which objective a batch is trained on.
pub enum StepKind<'a> {
    /// Reconstruction only.
    Pretrain,
    /// The whole objective.
    Contrastive {
        params: &'a LossParams,
        labels: &'a LabelTargets,
        view_target: Option<&'a [f32]>,
        /// DEC's target `P` of the batch's rows when it is held fixed (`TrainConfig::target_refresh`).
        fixed_target: Option<Box<Tensor<2>>>,
    },
}

/// Forward and backward passes of one batch; see the module documentation.
///
/// `xs` are the views of the batch on the autodiff device `ad`.
pub fn batch_gradients(model: &Cvc, xs: &[Tensor<2>], kind: StepKind<'_>, ad: &Device) -> BatchGradients {
    match kind {
        StepKind::Pretrain => {
            // One graph per view: encoder, decoder and reconstruction loss.
            let xr: Vec<Tensor<2>> =
                model.views.par_iter().zip(xs.par_iter()).map(|(ae, x)| ae.decode(ae.encode(x.clone()))).collect();
            let obj = pretrain_objective(xs, &detached(&xr), ad);
            let mut grads = GradientsParams::new();
            add_view_gradients(&mut grads, model, xs, &xr);
            BatchGradients { grads, objective: obj, weights: None }
        }
        StepKind::Contrastive { params, labels, view_target, fixed_target } => {
            // 1. The encoders, one graph per view.
            let zs: Vec<Tensor<2>> =
                model.views.par_iter().zip(xs.par_iter()).map(|(ae, x)| ae.encode(x.clone())).collect();
            // 2. The heads and the decoders side by side.
            let rec_weight = params.weights.rec.factor();
            let (heads, decoders) = rayon::join(
                || heads_gradients(model, xs, &zs, params, labels, view_target, fixed_target.map(|p| *p)),
                || decoder_gradients(model, xs, &zs, rec_weight),
            );
            let HeadsGradients { mut grads, mut objective, weights, upstream } = heads;
            // The heads' objective was formed without the reconstructions; add `L_R` to its
            // reported parts (`rec` and `total`) as `objective_with` would have.
            if rec_weight > 0.0 {
                let rec = decoders
                    .iter()
                    .map(|d| d.rec.clone())
                    .reduce(|a, b| a + b)
                    .unwrap_or_else(|| Tensor::zeros([1], ad));
                let weighted = rec.clone().mul_scalar(rec_weight);
                let zero = Tensor::<1>::zeros([4], ad);
                objective.parts = objective.parts + Tensor::cat(vec![rec, zero, weighted.clone()], 0);
                objective.total = objective.total.detach() + weighted;
            }
            // 3. The encoders' backward passes, in parallel, from the sum of both branches' gradients.
            let per_view: Vec<(Option<Gradients>, Option<Gradients>)> = decoders
                .into_par_iter()
                .enumerate()
                .map(|(v, dec)| {
                    let from_heads = upstream.as_ref().and_then(|u| u[v].clone());
                    let upstream = match (from_heads, dec.upstream) {
                        (Some(g), Some(r)) => Some(g + r),
                        (g, r) => g.or(r),
                    };
                    let encoder = upstream.map(|g| (zs[v].clone() * g.autodiff()).sum().backward());
                    (dec.grads, encoder)
                })
                .collect();
            for (v, (decoder, encoder)) in per_view.into_iter().enumerate() {
                for mut g in [decoder, encoder].into_iter().flatten() {
                    collect_into(&mut grads, &mut g, &model.views[v]);
                }
            }
            BatchGradients { grads, objective, weights: Some(weights) }
        }
    }
}

/// What the heads' graph gives a contrastive step.
struct HeadsGradients {
    /// The heads' parameter gradients (projection, DEC, AFW, VCF).
    grads: GradientsParams,
    /// The objective without `L_R` (the reconstructions are not part of this graph).
    objective: Objective,
    /// The AFW view weights, detached.
    weights: Tensor<1>,
    /// `∂L/∂z̃_v` of each view; `None` when the objective has no gradient.
    upstream: Option<Vec<Option<Tensor<2>>>>,
}

/// The shared heads and the objective (without `L_R`) on detached copies of the latents `zs`,
/// and their backward pass.
fn heads_gradients(
    model: &Cvc,
    xs: &[Tensor<2>],
    zs: &[Tensor<2>],
    params: &LossParams,
    labels: &LabelTargets,
    view_target: Option<&[f32]>,
    fixed_target: Option<Tensor<2>>,
) -> HeadsGradients {
    let leaves: Vec<Tensor<2>> = zs.iter().map(|z| z.clone().detach().require_grad()).collect();
    // No reconstructions: `objective_with` then reports `L_R` as 0, and the caller adds it.
    let fwd = model.forward_heads(leaves.clone(), Vec::new());
    let objective = objective_with(xs, &fwd, params, labels, view_target, fixed_target);
    let weights = fwd.weights.detach();
    if !objective.total.is_tracked() {
        return HeadsGradients { grads: GradientsParams::new(), objective, weights, upstream: None };
    }
    let mut heads = objective.total.backward();
    let upstream = leaves.iter().map(|l| l.grad_remove(&mut heads)).collect();
    HeadsGradients { grads: GradientsParams::from_grads(heads, model), objective, weights, upstream: Some(upstream) }
}

/// One view's decoder branch of a contrastive step.
struct DecoderGradients {
    /// The decoder's parameter gradients (`None` without reconstruction).
    grads: Option<Gradients>,
    /// `w_R ∂MSE/∂ž_v`, the reconstruction's gradient at the latent.
    upstream: Option<Tensor<2>>,
    /// The view's reconstruction MSE, detached.
    rec: Tensor<1>,
}

/// Per view, in parallel: the decoder on a detached copy of the latent and the backward pass of
/// `rec_weight · MSE`. Without reconstruction (`rec_weight` 0) the decoders are not run.
fn decoder_gradients(model: &Cvc, xs: &[Tensor<2>], zs: &[Tensor<2>], rec_weight: f32) -> Vec<DecoderGradients> {
    model
        .views
        .par_iter()
        .zip(xs.par_iter().zip(zs.par_iter()))
        .map(|(ae, (x, z))| {
            if rec_weight <= 0.0 {
                return DecoderGradients { grads: None, upstream: None, rec: Tensor::zeros([1], &z.device()) };
            }
            let leaf = z.clone().detach().require_grad();
            let rec = view_reconstruction(x.clone(), ae.decode(leaf.clone()));
            let mut grads = rec.clone().mul_scalar(rec_weight).backward();
            let upstream = leaf.grad_remove(&mut grads);
            DecoderGradients { grads: Some(grads), upstream, rec: rec.detach() }
        })
        .collect()
}

fn detached(ts: &[Tensor<2>]) -> Vec<Tensor<2>> {
    ts.iter().map(|t| t.clone().detach()).collect()
}

/// The per-view backward passes of the reconstruction MSE (pre-training), in parallel; the
/// autoencoders' parameter gradients go into `into`.
fn add_view_gradients(into: &mut GradientsParams, model: &Cvc, xs: &[Tensor<2>], xr: &[Tensor<2>]) {
    let per_view: Vec<Gradients> =
        (0..xs.len()).into_par_iter().map(|v| view_reconstruction(xs[v].clone(), xr[v].clone()).backward()).collect();
    for (v, mut g) in per_view.into_iter().enumerate() {
        collect_into(into, &mut g, &model.views[v]);
    }
}

/// Registers the gradients `grads` holds for the parameters of `ae`.
fn collect_into(into: &mut GradientsParams, grads: &mut Gradients, ae: &ViewAutoencoder) {
    struct Collect<'a> {
        grads: &'a mut Gradients,
        into: &'a mut GradientsParams,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if !param.is_require_grad() {
                return;
            }
            if let Some(g) = param.val().grad_remove(self.grads) {
                self.into.register::<D>(param.id, g);
            }
        }
    }
    burn::module::Module::visit(ae, &mut Collect { grads, into });
}
