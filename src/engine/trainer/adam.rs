//! Adam in one pass over each parameter on the `flex` CPU backend.
//!
//! burn's `Adam` updates a parameter with thirteen whole-tensor operations (two moments, their
//! bias corrections, the square root, the division, the step), each reading one or two tensors
//! and writing a fresh one, on one thread. With the seed's 15.7 M parameters that is about 2 GB of
//! memory traffic and a dozen large allocations per step: a sixth of the CPU samples of a `bench`
//! run on a 2-core VM (`perf`, docs/BENCHMARKS.md, session 35). [`FusedAdam`] does the same arithmetic, element by element in
//! the same order, in one pass that reads the parameter, its gradient and both moments and writes
//! them back in place (split over the rayon threads), as PyTorch's `Adam(fused=True)` does, with
//! the widest vector instructions the CPU has ([`AdamIsa`]; `benches/adam.rs` times each).
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
        c.update_all(AdamIsa::widest(), ps, gs, m1s, m2s);
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
pub struct Coefficients {
    lr: f32,
    /// `√(1 − β₂ᵗ) / (1 − β₁ᵗ)`.
    combined: f32,
    /// `ε √(1 − β₂ᵗ)`.
    epsilon: f32,
    decay: f32,
}

/// The instruction set the update loop is compiled for (through `pulp`'s safe runtime dispatch).
/// Training takes [`AdamIsa::widest`]; the others are there for `benches/adam.rs`, which times
/// them side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdamIsa {
    /// The crate's baseline target (x86-64: SSE2, four lanes).
    Baseline,
    /// AVX2 + FMA (`pulp`'s x86-64-v3; eight lanes).
    Avx2,
    /// AVX-512 (`pulp`'s x86-64-v4; sixteen lanes).
    Avx512,
}

impl AdamIsa {
    /// The widest this CPU runs.
    pub fn widest() -> Self {
        [Self::Avx512, Self::Avx2].into_iter().find(|i| i.available()).unwrap_or(Self::Baseline)
    }

    /// Whether this CPU runs it.
    pub fn available(self) -> bool {
        match self {
            Self::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => pulp::x86::V3::try_new().is_some(),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => pulp::x86::V4::try_new().is_some(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// One update, as `pulp` runs it: the loop below, inlined into a function compiled with the
/// instruction set's target features, so the compiler vectorises it that wide.
struct Update<'a> {
    c: &'a Coefficients,
    p: &'a mut [f32],
    g: &'a [f32],
    m1: &'a mut [f32],
    m2: &'a mut [f32],
}

impl pulp::WithSimd for Update<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Update { c, p, g, m1, m2 } = self;
        let (f1, f2) = (1.0 - BETA_1, 1.0 - BETA_2);
        for (((p, &g), m1), m2) in p.iter_mut().zip(g).zip(m1.iter_mut()).zip(m2.iter_mut()) {
            let g = if c.decay != 0.0 { *p * c.decay + g } else { g };
            *m1 = *m1 * BETA_1 + g * f1;
            *m2 = *m2 * BETA_2 + (g * g) * f2;
            let step = (*m1 * c.combined) / (m2.sqrt() + c.epsilon);
            *p -= step * c.lr;
        }
    }
}

impl Coefficients {
    /// The scalars of step `time` (1 for the first) at learning rate `lr`, with PyTorch's L2 weight
    /// decay `decay` (0 for none).
    pub fn new(time: usize, lr: LearningRate, epsilon: f32, decay: f32) -> Self {
        let t = time as i32;
        let bias_correction2_sqrt = (1.0 - BETA_2.powi(t)).sqrt();
        Self {
            lr: lr as f32,
            combined: bias_correction2_sqrt / (1.0 - BETA_1.powi(t)),
            epsilon: epsilon * bias_correction2_sqrt,
            decay,
        }
    }

    /// One step over a whole parameter: the element-wise update below on chunks of it, split over
    /// the rayon threads (what training runs, and what `benches/adam.rs` times).
    pub fn update_all(&self, isa: AdamIsa, p: &mut [f32], g: &[f32], m1: &mut [f32], m2: &mut [f32]) {
        assert!(
            p.len() == g.len() && p.len() == m1.len() && p.len() == m2.len(),
            "Adam: a parameter, its gradient and its moments differ in length"
        );
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(m1.par_chunks_mut(CHUNK))
            .zip(m2.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m1), m2)| self.update(isa, p, g, m1, m2));
    }

    /// `g ← g + λp; m₁ ← β₁m₁ + (1 − β₁)g; m₂ ← β₂m₂ + (1 − β₂)g²; p ← p − lr · c m₁ / (√m₂ + ε')`,
    /// element by element, compiled for `isa` (one the CPU lacks runs the baseline). The loop is
    /// bound by its division and square root (`perf`: half its samples wait on `divps`), which the
    /// wider sets do more lanes at a time; both are exactly rounded and Rust never fuses a multiply
    /// and an add, so every width gives the same bits.
    /// The caller ([`Self::update_all`], the tests) gives slices of one length.
    fn update(&self, isa: AdamIsa, p: &mut [f32], g: &[f32], m1: &mut [f32], m2: &mut [f32]) {
        let op = Update { c: self, p, g, m1, m2 };
        #[cfg(target_arch = "x86_64")]
        match isa {
            AdamIsa::Avx512 => {
                if let Some(simd) = pulp::x86::V4::try_new() {
                    return pulp::Simd::vectorize(simd, op);
                }
            }
            AdamIsa::Avx2 => {
                if let Some(simd) = pulp::x86::V3::try_new() {
                    return pulp::Simd::vectorize(simd, op);
                }
            }
            AdamIsa::Baseline => {}
        }
        let _ = isa;
        pulp::Simd::vectorize(pulp::Scalar, op)
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

    /// Every instruction set this CPU has gives the baseline's bits, with and without decay, on
    /// lengths that leave a remainder after every vector width.
    #[test]
    fn every_instruction_set_takes_the_same_step() {
        use rand::{Rng as _, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 1_000 + 13;
        let mut draw = |scale: f32| (0..n).map(|_| (rng.random::<f32>() - 0.5) * scale).collect::<Vec<f32>>();
        let (p0, g, m10, m20) =
            (draw(2.0), draw(0.2), draw(0.02), draw(0.001).into_iter().map(f32::abs).collect::<Vec<_>>());
        for decay in [0.0, 1e-2] {
            for time in [1, 7] {
                let c = Coefficients::new(time, 3e-4, 1e-8, decay);
                let run = |isa| {
                    let (mut p, mut m1, mut m2) = (p0.clone(), m10.clone(), m20.clone());
                    c.update(isa, &mut p, &g, &mut m1, &mut m2);
                    (p, m1, m2)
                };
                let base = run(AdamIsa::Baseline);
                assert_ne!(base.0, p0, "the step moved nothing");
                for isa in [AdamIsa::Avx2, AdamIsa::Avx512].into_iter().filter(|i| i.available()) {
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    let got = run(isa);
                    assert_eq!(bits(&got.0), bits(&base.0), "{isa:?}, decay {decay}, step {time}: parameters");
                    assert_eq!(bits(&got.1), bits(&base.1), "{isa:?}: first moment");
                    assert_eq!(bits(&got.2), bits(&base.2), "{isa:?}: second moment");
                }
            }
        }
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
