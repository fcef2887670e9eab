//! Adam in one pass over each parameter on the `flex` CPU backend.
//!
//! burn's `Adam` updates a parameter with thirteen whole-tensor operations (two moments, their
//! bias corrections, the square root, the division, the step), each reading one or two tensors
//! and writing a fresh one, on one thread. With the seed's 15.7 M parameters that is about 2 GB of
//! memory traffic and a dozen large allocations per step: a sixth of the CPU samples of a `bench`
//! run on a 2-core VM (`perf`, docs/BENCHMARKS.md, session 35). [`FusedAdam`] does the same arithmetic, element by element in
//! the same order, in one pass that reads the parameter, its gradient and both moments and writes
//! them back in place (split over the rayon threads), as PyTorch's `Adam(fused=True)` does.
//!
//! Other devices (wgpu) keep burn's `Adam`: reading a GPU tensor to the host would cost more than
//! it saves. The state is burn's [`AdamState`], so nothing else changes.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

/// PyTorch's defaults, which the seed uses.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
/// Elements per rayon task: large enough that splitting costs nothing next to the memory traffic.
const CHUNK: usize = 1 << 16;

/// Adam (β = 0.9, 0.999; PyTorch's L2 weight decay added to the gradient), fused on `flex`.
#[derive(Clone)]
pub struct FusedAdam {
    epsilon: f32,
    weight_decay: Option<f32>,
    /// burn's Adam with the same settings, for tensors that are not on `flex`.
    fallback: burn::optim::Adam,
}

impl FusedAdam {
    pub fn new(epsilon: f32, weight_decay: Option<f32>) -> Self {
        let fallback = AdamConfig::new()
            .with_beta_1(BETA_1)
            .with_beta_2(BETA_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay.map(WeightDecayConfig::new))
            .build();
        Self { epsilon, weight_decay, fallback }
    }
}

/// Whether `device` is the `flex` CPU backend (autodiff or not).
pub fn is_flex(device: &Device) -> bool {
    device.clone().without_autodiff() == Device::flex()
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let device = tensor.device();
        if !is_flex(&device) {
            return self.fallback.step(lr, tensor, grad, state);
        }
        let shape = tensor.shape();
        let n = shape.num_elements();
        let (time, m1, m2) = match state {
            Some(s) => (s.momentum.time + 1, s.momentum.moment_1.into_data(), s.momentum.moment_2.into_data()),
            None => (1, TensorData::new(vec![0f32; n], shape.clone()), TensorData::new(vec![0f32; n], shape.clone())),
        };
        let (mut p, g, mut m1, mut m2) = (tensor.into_data(), grad.into_data(), m1, m2);
        let (Ok(ps), Ok(gs), Ok(m1s), Ok(m2s)) =
            (p.as_mut_slice::<f32>(), g.as_slice::<f32>(), m1.as_mut_slice::<f32>(), m2.as_mut_slice::<f32>())
        else {
            // Not f32 (the engine trains in f32 only): burn's Adam handles it.
            let t = |d: TensorData| Tensor::<D>::from_data(d, &device);
            let state = (time > 1).then(|| AdamState::new(AdaptiveMomentumState::new(time - 1, t(m1), t(m2))));
            return self.fallback.step(lr, t(p), t(g), state);
        };
        let c = Coefficients::new(time, lr, self.epsilon, self.weight_decay.unwrap_or(0.0));
        ps.par_chunks_mut(CHUNK)
            .zip(gs.par_chunks(CHUNK))
            .zip(m1s.par_chunks_mut(CHUNK))
            .zip(m2s.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m1), m2)| c.update(p, g, m1, m2));
        let t = |d: TensorData| Tensor::<D>::from_data(d, &device);
        let state = AdamState::new(AdaptiveMomentumState::new(time, t(m1), t(m2)));
        (t(p), Some(state))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

/// One step's scalars, as burn's `AdaptiveMomentum` computes them.
struct Coefficients {
    lr: f32,
    /// `√(1 − β₂ᵗ) / (1 − β₁ᵗ)`.
    combined: f32,
    /// `ε √(1 − β₂ᵗ)`.
    epsilon: f32,
    decay: f32,
}

impl Coefficients {
    fn new(time: usize, lr: LearningRate, epsilon: f32, decay: f32) -> Self {
        let t = time as i32;
        let bias_correction2_sqrt = (1.0 - BETA_2.powi(t)).sqrt();
        Self {
            lr: lr as f32,
            combined: bias_correction2_sqrt / (1.0 - BETA_1.powi(t)),
            epsilon: epsilon * bias_correction2_sqrt,
            decay,
        }
    }

    /// `g ← g + λp; m₁ ← β₁m₁ + (1 − β₁)g; m₂ ← β₂m₂ + (1 − β₂)g²; p ← p − lr · c m₁ / (√m₂ + ε')`.
    #[inline]
    fn update(&self, p: &mut [f32], g: &[f32], m1: &mut [f32], m2: &mut [f32]) {
        let (f1, f2) = (1.0 - BETA_1, 1.0 - BETA_2);
        for (((p, &g), m1), m2) in p.iter_mut().zip(g).zip(m1.iter_mut()).zip(m2.iter_mut()) {
            let g = if self.decay != 0.0 { *p * self.decay + g } else { g };
            *m1 = *m1 * BETA_1 + g * f1;
            *m2 = *m2 * BETA_2 + (g * g) * f2;
            let step = (*m1 * self.combined) / (m2.sqrt() + self.epsilon);
            *p -= step * self.lr;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;

    fn loss_grads(model: &Linear, x: &Tensor<2>) -> GradientsParams {
        let y = model.forward(x.clone());
        let loss = (y.clone() * y).sum();
        GradientsParams::from_grads(loss.backward(), model)
    }

    /// Five steps of the fused Adam and of burn's, with and without weight decay, from the same
    /// weights on the same data: the weights agree to rounding (the arithmetic is the same, element
    /// by element, in the same order).
    #[test]
    fn fused_adam_takes_the_steps_burns_adam_takes() {
        let device = Device::flex().autodiff();
        assert!(is_flex(&device), "flex with autodiff is flex");
        for decay in [None, Some(1e-2f32)] {
            // 75,000 weights: more than one rayon task's chunk, so a seam is covered.
            let base = LinearConfig::new(250, 300).init(&device);
            let start = base.weight.val().into_data().try_to_vec::<f32>().unwrap();
            let x = Tensor::<2>::random([16, 250], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
            let mut ours = base.clone();
            let mut theirs = base;
            let mut fused: burn::optim::ModuleOptimizer = FusedAdam::new(1e-8, decay).into();
            let mut plain =
                AdamConfig::new().with_epsilon(1e-8).with_weight_decay(decay.map(WeightDecayConfig::new)).init();
            for _ in 0..5 {
                let g = loss_grads(&ours, &x);
                ours = fused.step(1e-2, ours, g);
                let g = loss_grads(&theirs, &x);
                theirs = plain.step(1e-2, theirs, g);
            }
            let a = ours.weight.val().into_data().try_to_vec::<f32>().unwrap();
            let b = theirs.weight.val().into_data().try_to_vec::<f32>().unwrap();
            let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-6, "decay {decay:?}: the fused and burn's weights differ by up to {worst}");
            let moved = a.iter().zip(&start).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(moved > 1e-2, "decay {decay:?}: five steps at lr 0.01 moved the weights by only {moved}");
        }
    }
}
