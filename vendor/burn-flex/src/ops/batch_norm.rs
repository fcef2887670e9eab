//! Training-mode batch normalisation and its backward pass as fused per-channel loops.
//!
//! Added for mvc-workbench (see `PATCHES.md`). burn-backend's defaults, which the published crate
//! uses, build both out of tensor operations: the statistics through a transposing copy of the
//! input (`swap_dims(0, 1)` then a reshape) and a second one of its centred square, the backward
//! through two more copies and about a dozen whole-tensor element-wise passes. Here the forward reads
//! the input twice (mean, then variance) and writes the output once; the backward reads the input and
//! the output gradient once for the two per-channel sums and once more to write the input gradient.
//! Sums accumulate in f64 in a fixed order (per sample plane, then planes in order), so a result
//! does not depend on the number of threads.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_std::{Bytes, Shape, bf16, f16};

use crate::{FlexTensor, Layout};

use super::module::{cast_from_f32, cast_to_f32};

trait Real:
    Copy
    + core::ops::Add<Output = Self>
    + core::ops::Mul<Output = Self>
    + bytemuck::Pod
    + burn_backend::Element
    + Send
    + Sync
{
    fn of(v: f64) -> Self;
    fn wide(self) -> f64;
}

impl Real for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }
    fn wide(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    fn of(v: f64) -> Self {
        v
    }
    fn wide(self) -> f64 {
        self
    }
}

/// `[batch, channels, spatial]` of a `[batch, channels, ...]` shape.
fn dims(shape: &Shape) -> (usize, usize, usize) {
    assert!(
        shape.num_dims() >= 2,
        "batch_norm: expected an input of shape [batch, channels, ...], got {shape:?}"
    );
    let spatial = (2..shape.num_dims()).map(|d| shape[d]).product();
    (shape[0], shape[1], spatial)
}

fn elements<T: Real>(t: &FlexTensor) -> &[T] {
    let (start, end) = t
        .layout()
        .contiguous_offsets()
        .expect("batch_norm: tensor made contiguous");
    &t.storage::<T>()[start..end]
}

fn channel_vector<T: Real>(t: &FlexTensor) -> Vec<f64> {
    let t = t.to_contiguous();
    elements::<T>(&t)
        .iter()
        .map(|v| v.wide())
        .collect()
}

/// `channel(c)` for every channel, the channels in parallel.
fn map_channels<R: Send>(channels: usize, channel: impl Fn(usize) -> R + Send + Sync) -> Vec<R> {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..channels).into_par_iter().map(channel).collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        (0..channels).map(channel).collect()
    }
}

/// For each channel `c`, `f(plane, c)` summed over its `batch` planes, in order.
fn per_channel(
    batch: usize,
    channels: usize,
    f: impl Fn(usize, usize) -> f64 + Send + Sync,
) -> Vec<f64> {
    map_channels(channels, |c| (0..batch).map(|b| f(b * channels + c, c)).sum::<f64>())
}

/// Writes `out[plane]` for every `(plane, channel)` of a `[batch, channels, spatial]` tensor.
fn per_plane<T: Real>(
    out: &mut [T],
    channels: usize,
    spatial: usize,
    f: impl Fn(usize, usize, &mut [T]) + Send + Sync,
) {
    if spatial == 0 {
        return;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(spatial)
            .enumerate()
            .for_each(|(p, o)| f(p, p % channels, o));
    }
    #[cfg(not(feature = "rayon"))]
    {
        out.chunks_mut(spatial)
            .enumerate()
            .for_each(|(p, o)| f(p, p % channels, o));
    }
}

fn train_typed<T: Real>(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
    dtype: DType,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let x = x.to_contiguous();
    let shape = x.layout().shape().clone();
    let (batch, channels, spatial) = dims(&shape);
    let xs: &[T] = elements(&x);
    let (gamma, beta) = (channel_vector::<T>(&gamma), channel_vector::<T>(&beta));
    let n = (batch * spatial) as f64;
    let plane = |p: usize| &xs[p * spatial..][..spatial];

    let mean: Vec<f64> = per_channel(batch, channels, |p, _| {
        plane(p).iter().map(|v| v.wide()).sum::<f64>()
    })
    .into_iter()
    .map(|s| s / n)
    .collect();
    let variance: Vec<f64> = per_channel(batch, channels, |p, c| {
        plane(p)
            .iter()
            .map(|v| {
                let d = v.wide() - mean[c];
                d * d
            })
            .sum::<f64>()
    })
    .into_iter()
    .map(|s| s / n)
    .collect();

    // y = x · scale + shift, scale = γ / √(σ² + ε), shift = β − μ · scale
    let scale: Vec<T> = (0..channels)
        .map(|c| T::of(gamma[c] / (variance[c] + epsilon).sqrt()))
        .collect();
    let shift: Vec<T> = (0..channels)
        .map(|c| T::of(beta[c] - mean[c] * gamma[c] / (variance[c] + epsilon).sqrt()))
        .collect();
    let mut y = vec![T::of(0.0); xs.len()];
    per_plane(&mut y, channels, spatial, |p, c, out| {
        let (a, b) = (scale[c], shift[c]);
        for (o, &v) in out.iter_mut().zip(plane(p)) {
            *o = v * a + b;
        }
    });

    let vector = |v: &[f64]| {
        let v: Vec<T> = v.iter().map(|&e| T::of(e)).collect();
        FlexTensor::new(
            Bytes::from_elems(v),
            Layout::contiguous(Shape::from(alloc::vec![channels])),
            dtype,
        )
    };
    (
        FlexTensor::new(Bytes::from_elems(y), Layout::contiguous(shape), dtype),
        vector(&mean),
        vector(&variance),
    )
}

#[allow(clippy::too_many_arguments)]
fn backward_typed<T: Real>(
    x: FlexTensor,
    gamma: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
    output_grad: FlexTensor,
    dtype: DType,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let x = x.to_contiguous();
    let g = output_grad.to_contiguous();
    let shape = x.layout().shape().clone();
    let (batch, channels, spatial) = dims(&shape);
    assert!(
        g.layout().shape() == &shape,
        "batch_norm backward: gradient {:?} does not match input {shape:?}",
        g.layout().shape()
    );
    let xs: &[T] = elements(&x);
    let gs: &[T] = elements(&g);
    let gamma = channel_vector::<T>(&gamma);
    let mean = channel_vector::<T>(&mean);
    let inv_std: Vec<f64> = channel_vector::<T>(&variance)
        .into_iter()
        .map(|v| 1.0 / (v + epsilon).sqrt())
        .collect();
    let n = (batch * spatial) as f64;

    // Per channel: Σ dy (β's gradient) and Σ dy · x̂ (γ's gradient), x̂ = (x − μ) / σ.
    let sums: Vec<(f64, f64)> = {
        let both = |p: usize, c: usize| {
            let (mut sg, mut sgx) = (0.0f64, 0.0f64);
            for (&gv, &xv) in gs[p * spatial..][..spatial]
                .iter()
                .zip(&xs[p * spatial..][..spatial])
            {
                let gv = gv.wide();
                sg += gv;
                sgx += gv * (xv.wide() - mean[c]);
            }
            (sg, sgx * inv_std[c])
        };
        map_channels(channels, |c| {
            (0..batch).fold((0.0, 0.0), |(a, b), bi| {
                let (sg, sgx) = both(bi * channels + c, c);
                (a + sg, b + sgx)
            })
        })
    };

    // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂))
    //    = dy · a + x · b + c0, per channel constants.
    let coeffs: Vec<(T, T, T)> = (0..channels)
        .map(|c| {
            let (sg, sgx) = sums[c];
            let k = gamma[c] * inv_std[c];
            let (mg, mgx) = (sg / n, sgx / n);
            let b = -k * mgx * inv_std[c];
            let c0 = -k * mg - b * mean[c];
            (T::of(k), T::of(b), T::of(c0))
        })
        .collect();
    let mut dx = vec![T::of(0.0); xs.len()];
    per_plane(&mut dx, channels, spatial, |p, c, out| {
        let (a, b, c0) = coeffs[c];
        let (gp, xp) = (&gs[p * spatial..][..spatial], &xs[p * spatial..][..spatial]);
        for ((o, &gv), &xv) in out.iter_mut().zip(gp).zip(xp) {
            *o = gv * a + xv * b + c0;
        }
    });

    let vector = |f: &dyn Fn(&(f64, f64)) -> f64| {
        let v: Vec<T> = sums.iter().map(|s| T::of(f(s))).collect();
        FlexTensor::new(
            Bytes::from_elems(v),
            Layout::contiguous(Shape::from(alloc::vec![channels])),
            dtype,
        )
    };
    (
        FlexTensor::new(Bytes::from_elems(dx), Layout::contiguous(shape), dtype),
        vector(&|s| s.1),
        vector(&|s| s.0),
    )
}

fn to_f32(t: FlexTensor) -> FlexTensor {
    match t.dtype() {
        DType::F16 => cast_to_f32::<f16>(t, f32::from),
        DType::BF16 => cast_to_f32::<bf16>(t, f32::from),
        DType::F32 => t,
        dtype => panic!("batch_norm: unsupported dtype {dtype:?}"),
    }
}

fn from_f32(t: FlexTensor, dtype: DType) -> FlexTensor {
    match dtype {
        DType::F16 => cast_from_f32(t, f16::from_f32),
        DType::BF16 => cast_from_f32(t, bf16::from_f32),
        _ => t,
    }
}

/// Training-mode batch normalisation: `(output, mean, biased variance)`.
pub fn batch_norm_train(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    match x.dtype() {
        DType::F32 => train_typed::<f32>(x, gamma, beta, epsilon, DType::F32),
        DType::F64 => train_typed::<f64>(x, gamma, beta, epsilon, DType::F64),
        dtype => {
            let (y, m, v) =
                train_typed::<f32>(to_f32(x), to_f32(gamma), to_f32(beta), epsilon, DType::F32);
            (from_f32(y, dtype), from_f32(m, dtype), from_f32(v, dtype))
        }
    }
}

/// The gradients of [`batch_norm_train`]: `(x_grad, gamma_grad, beta_grad)`.
pub fn batch_norm_train_backward(
    x: FlexTensor,
    gamma: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
    output_grad: FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    match x.dtype() {
        DType::F32 => {
            backward_typed::<f32>(x, gamma, mean, variance, epsilon, output_grad, DType::F32)
        }
        DType::F64 => {
            backward_typed::<f64>(x, gamma, mean, variance, epsilon, output_grad, DType::F64)
        }
        dtype => {
            let (dx, dg, db) = backward_typed::<f32>(
                to_f32(x),
                to_f32(gamma),
                to_f32(mean),
                to_f32(variance),
                epsilon,
                to_f32(output_grad),
                DType::F32,
            );
            (from_f32(dx, dtype), from_f32(dg, dtype), from_f32(db, dtype))
        }
    }
}
