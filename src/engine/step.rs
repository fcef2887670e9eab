//! The gradients of one batch, with the per-view autoencoders differentiated in parallel.
//!
//! Most of the work of a step is in the V autoencoders (`d_v-500-500-2000-F` and back), and they
//! share no parameters. burn's autodiff runs one graph's backward pass on one thread, and the
//! matrix products of a 256-row batch split poorly across cores (docs/BENCHMARKS.md), so one
//! graph for the whole model leaves the second core mostly idle. Here each view gets its own graph:
//!
//! 1. per view, in parallel: `z_v = enc_v(x_v)`, `x̂_v = dec_v(z_v)`;
//! 2. the shared heads (projection, DEC, AFW, VCF) and the objective run on detached copies
//!    `z̃_v` of the latents, marked as leaves; one backward pass gives the heads' gradients and
//!    `g_v = ∂L/∂z̃_v`;
//! 3. per view, in parallel: the backward pass of `w_R · MSE(x_v, x̂_v) + Σ z_v ⊙ g_v`, whose
//!    gradient with respect to the view's parameters is exactly that of `L` (chain rule through
//!    `z_v`, with `g_v` held constant).
//!
//! The gradients are the same as one backward pass of the whole objective up to floating-point
//! summation order (`tests/engine.rs::split_gradients_match_one_backward_pass`). In the
//! pre-training phase step 2 is empty: each view's reconstruction is its own graph.

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
    // 1. The autoencoders, one graph per view.
    let encoded: Vec<(Tensor<2>, Tensor<2>)> = model
        .views
        .par_iter()
        .zip(xs.par_iter())
        .map(|(ae, x)| {
            let z = ae.encode(x.clone());
            let r = ae.decode(z.clone());
            (z, r)
        })
        .collect();
    let (zs, xr): (Vec<Tensor<2>>, Vec<Tensor<2>>) = encoded.into_iter().unzip();

    match kind {
        StepKind::Pretrain => {
            let obj = pretrain_objective(xs, &detached(&xr), ad);
            let mut grads = GradientsParams::new();
            add_view_gradients(&mut grads, model, xs, &zs, &xr, 1.0, None);
            BatchGradients { grads, objective: obj, weights: None }
        }
        StepKind::Contrastive { params, labels, view_target, fixed_target } => {
            // 2. The shared heads on detached latents.
            let leaves: Vec<Tensor<2>> = zs.iter().map(|z| z.clone().detach().require_grad()).collect();
            let fwd = model.forward_heads(leaves.clone(), detached(&xr));
            let obj = objective_with(xs, &fwd, params, labels, view_target, fixed_target.map(|p| *p));
            let weights = Some(fwd.weights.clone().detach());
            let (mut grads, upstream) = if obj.total.is_tracked() {
                let mut heads = obj.total.backward();
                let upstream: Vec<Option<Tensor<2>>> = leaves.iter().map(|l| l.grad_remove(&mut heads)).collect();
                (GradientsParams::from_grads(heads, model), Some(upstream))
            } else {
                (GradientsParams::new(), None)
            };
            // 3. The autoencoders' backward passes, in parallel.
            add_view_gradients(&mut grads, model, xs, &zs, &xr, params.weights.rec.factor(), upstream.as_deref());
            BatchGradients { grads, objective: obj, weights }
        }
    }
}

fn detached(ts: &[Tensor<2>]) -> Vec<Tensor<2>> {
    ts.iter().map(|t| t.clone().detach()).collect()
}

/// The per-view backward passes of `rec_weight · MSE(x_v, x̂_v) + Σ z_v ⊙ g_v`, in parallel; the
/// autoencoders' parameter gradients go into `into`.
fn add_view_gradients(
    into: &mut GradientsParams,
    model: &Cvc,
    xs: &[Tensor<2>],
    zs: &[Tensor<2>],
    xr: &[Tensor<2>],
    rec_weight: f32,
    upstream: Option<&[Option<Tensor<2>>]>,
) {
    let per_view: Vec<Option<Gradients>> = (0..xs.len())
        .into_par_iter()
        .map(|v| {
            let mut loss: Option<Tensor<1>> = None;
            if rec_weight > 0.0 {
                loss = Some(view_reconstruction(xs[v].clone(), xr[v].clone()).mul_scalar(rec_weight));
            }
            if let Some(g) = upstream.and_then(|u| u[v].clone()) {
                let chain = (zs[v].clone() * g.autodiff()).sum();
                loss = Some(match loss {
                    Some(l) => l + chain,
                    None => chain,
                });
            }
            loss.filter(Tensor::is_tracked).map(|l| l.backward())
        })
        .collect();
    for (v, g) in per_view.into_iter().enumerate() {
        if let Some(mut g) = g {
            collect_into(into, &mut g, &model.views[v]);
        }
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
