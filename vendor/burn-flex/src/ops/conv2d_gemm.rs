//! The 2-D convolution as im2col + gemm in NCHW, split over the batch: forward and backward.
//!
//! Added for mvc-workbench (see `PATCHES.md`). The published forward's general path converts the
//! input to NHWC and builds each im2col tile channel by channel (a scalar, bounds-checked copy that
//! dominated small-channel layers), then scatters the product back to NCHW; here
//! `y_b[g] = W[g] · col_b[g]` lands in NCHW directly, im2col copying whole output rows. The
//! 1 × 1, depthwise and small-channel fast paths of the published forward are kept
//! ([`handles_forward`]). burn-backend's generic defaults, which the
//! published crate uses, compute the weight gradient as a convolution of the input with the output
//! gradient — a kernel the size of the image over `batch` channels: one large im2col on one thread
//! plus two transposing copies — and the input gradient as a transposed convolution (direct loops).
//! Here both backward passes run per sample, in the layout the tensors already have (NCHW):
//!
//! - weight: `dW[g] += dY_b[g] · col_bᵀ[g]` for each sample `b`, where `col_b` is `x_b`'s im2col
//!   (`[C_in·k_h·k_w, H_out·W_out]`, rows ordered channel, kernel row, kernel column = the weight's
//!   own layout). Samples are split into at most [`MAX_PARTS`] fixed parts, each summed on its own
//!   thread and the parts added in order, so a result does not depend on the number of threads.
//! - input: `dcol_b[g] = W[g]ᵀ · dY_b[g]`, scattered back onto `dx_b` (col2im); samples in parallel,
//!   each writing only its own slice.
//!
//! Output rows are processed in tiles of about [`TILE`] positions so the column buffers stay small
//! for large images. Any stride, padding (symmetric or not: the output size comes from the
//! gradient), dilation and group count; f32 and f64 natively, f16 and bf16 through f32.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::ops::ConvOptions;
use burn_backend::ops::conv::calculate_conv_output_size_asymmetric;
use burn_backend::{DType, Element};
use burn_std::{Bytes, Shape, bf16, f16};

use crate::{FlexTensor, Layout};

use super::module::{cast_from_f32, cast_to_f32};

/// Output positions per im2col tile (whole output rows; at least one row).
const TILE: usize = 1024;
/// The most parts a weight gradient's batch is split into (one partial sum each).
const MAX_PARTS: usize = 16;
/// The fewest samples in a part.
const MIN_PART: usize = 8;

trait Scalar: Element + bytemuck::Pod + Copy + Send + Sync + core::ops::AddAssign + 'static {
    const ZERO: Self;
    const ONE: Self;
}

impl Scalar for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl Scalar for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// The sizes of one convolution, read off its input, weight and output gradient.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    k_h: usize,
    k_w: usize,
    h_out: usize,
    w_out: usize,
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
}

impl Geometry {
    fn new(x: &Shape, weight: &Shape, grad: &Shape, options: &ConvOptions<2>) -> Self {
        assert!(
            x.num_dims() == 4 && weight.num_dims() == 4 && grad.num_dims() == 4,
            "conv2d: expected 4-D input, weight and output"
        );
        let geo = Self {
            batch: x[0],
            c_in: x[1],
            h: x[2],
            w: x[3],
            c_out: weight[0],
            k_h: weight[2],
            k_w: weight[3],
            h_out: grad[2],
            w_out: grad[3],
            stride: options.stride,
            pad: options.padding_begin(),
            dilation: options.dilation,
            groups: options.groups,
        };
        assert!(
            geo.groups > 0
                && geo.c_in % geo.groups == 0
                && geo.c_out % geo.groups == 0
                && weight[1] * geo.groups == geo.c_in
                && grad[0] == geo.batch
                && grad[1] == geo.c_out,
            "conv2d: inconsistent shapes (input {x:?}, weight {weight:?}, output {grad:?}, groups {})",
            geo.groups
        );
        geo
    }

    /// Input channels per group.
    fn c_in_g(&self) -> usize {
        self.c_in / self.groups
    }

    /// Output channels per group.
    fn c_out_g(&self) -> usize {
        self.c_out / self.groups
    }

    /// im2col rows per group (`C_in/groups · k_h · k_w`).
    fn k_g(&self) -> usize {
        self.c_in_g() * self.k_h * self.k_w
    }

    /// Output positions per sample.
    fn plane(&self) -> usize {
        self.h_out * self.w_out
    }

    /// Output rows per tile.
    fn rows_per_tile(&self) -> usize {
        (TILE / self.w_out.max(1)).max(1)
    }
}

/// The outputs `o` in `0..len_out` whose input `o·stride + offset` lies in `0..len_in`.
fn out_range(offset: isize, stride: usize, len_in: usize, len_out: usize) -> (usize, usize) {
    let lo = if offset >= 0 {
        0
    } else {
        (offset.unsigned_abs()).div_ceil(stride)
    };
    let last = len_in as isize - 1 - offset;
    let hi = if last < 0 {
        0
    } else {
        (last as usize / stride + 1).min(len_out)
    };
    (lo.min(hi), hi)
}

/// Calls `visit(c, row, oh, ih, w0, w1, iw0)` for every in-bounds run of one im2col row: channel `c`
/// of `x`, im2col row `row`, output row `oh` (in `oh_range`) reading input row `ih`, output columns
/// `w0..w1` reading input columns `iw0 + (ow − w0)·stride`. Columns and rows outside the runs are
/// padding.
fn for_each_run(
    geo: &Geometry,
    oh_range: (usize, usize),
    mut visit: impl FnMut(usize, usize, usize, usize, usize, usize, usize),
) {
    let [s_h, s_w] = geo.stride;
    let [d_h, d_w] = geo.dilation;
    let [p_h, p_w] = geo.pad;
    for c in 0..geo.c_in {
        for i in 0..geo.k_h {
            let off_h = (i * d_h) as isize - p_h as isize;
            let (h0, h1) = out_range(off_h, s_h, geo.h, geo.h_out);
            let (h0, h1) = (h0.max(oh_range.0), h1.min(oh_range.1));
            for j in 0..geo.k_w {
                let off_w = (j * d_w) as isize - p_w as isize;
                let (w0, w1) = out_range(off_w, s_w, geo.w, geo.w_out);
                let row = (c * geo.k_h + i) * geo.k_w + j;
                if w0 >= w1 {
                    continue;
                }
                let iw0 = ((w0 * s_w) as isize + off_w) as usize;
                for oh in h0..h1 {
                    let ih = ((oh * s_h) as isize + off_h) as usize;
                    visit(c, row, oh, ih, w0, w1, iw0);
                }
            }
        }
    }
}

/// Calls `visit(c, row, h0, h1, w0, w1, src)` once per im2col row when the stride is 1 and the output
/// is as wide as the input: output rows `h0..h1` (within `oh_range`; possibly empty) and columns
/// `w0..w1` read channel `c`'s plane from element `src` on, one input element per output element —
/// a single block of `(h1 − h0 − 1)·W + (w1 − w0)` elements whose gaps between rows are padding.
fn for_each_block(
    geo: &Geometry,
    oh_range: (usize, usize),
    mut visit: impl FnMut(usize, usize, usize, usize, usize, usize, usize),
) {
    let [d_h, d_w] = geo.dilation;
    let [p_h, p_w] = geo.pad;
    for c in 0..geo.c_in {
        for i in 0..geo.k_h {
            let off_h = (i * d_h) as isize - p_h as isize;
            let (h0, h1) = out_range(off_h, 1, geo.h, geo.h_out);
            let h0 = h0.clamp(oh_range.0, oh_range.1);
            let h1 = h1.clamp(h0, oh_range.1);
            for j in 0..geo.k_w {
                let off_w = (j * d_w) as isize - p_w as isize;
                let (w0, w1) = out_range(off_w, 1, geo.w, geo.w_out);
                let row = (c * geo.k_h + i) * geo.k_w + j;
                let src = if h0 < h1 && w0 < w1 {
                    ((h0 as isize + off_h) as usize) * geo.w + (w0 as isize + off_w) as usize
                } else {
                    0
                };
                visit(c, row, h0, h1, w0, w1, src);
            }
        }
    }
}

/// Whether [`for_each_block`] applies.
fn blocks(geo: &Geometry) -> bool {
    geo.stride == [1, 1] && geo.w == geo.w_out
}

/// Fills `col` (`[C_in·k_h·k_w, rows·W_out]`) with the patches of sample `x_b` for output rows
/// `oh_range`; padding is zero.
fn im2col<T: Scalar>(geo: &Geometry, x_b: &[T], oh_range: (usize, usize), col: &mut [T]) {
    let tile = (oh_range.1 - oh_range.0) * geo.w_out;
    let hw = geo.h * geo.w;
    let w_out = geo.w_out;
    if blocks(geo) {
        // One copy per im2col row, then the padding columns zeroed.
        for_each_block(geo, oh_range, |c, row, h0, h1, w0, w1, src| {
            let dst = &mut col[row * tile..][..tile];
            let (a, b) = ((h0 - oh_range.0) * w_out, (h1 - oh_range.0) * w_out);
            dst[..a].fill(T::ZERO);
            dst[b..].fill(T::ZERO);
            if a < b && w0 < w1 {
                let (d0, d1) = (a + w0, b - w_out + w1);
                dst[d0..d1].copy_from_slice(&x_b[c * hw + src..][..d1 - d0]);
                for r in dst[a..b].chunks_exact_mut(w_out) {
                    r[..w0].fill(T::ZERO);
                    r[w1..].fill(T::ZERO);
                }
            } else {
                dst[a..b].fill(T::ZERO);
            }
        });
        return;
    }
    col[..geo.c_in * geo.k_h * geo.k_w * tile].fill(T::ZERO);
    let s_w = geo.stride[1];
    for_each_run(geo, oh_range, |c, row, oh, ih, w0, w1, iw0| {
        let src = &x_b[c * hw + ih * geo.w..][..geo.w];
        let dst = &mut col[row * tile + (oh - oh_range.0) * w_out..][..w_out];
        if s_w == 1 {
            dst[w0..w1].copy_from_slice(&src[iw0..iw0 + (w1 - w0)]);
        } else {
            for (d, s) in dst[w0..w1].iter_mut().zip(src[iw0..].iter().step_by(s_w)) {
                *d = *s;
            }
        }
    });
}

/// Adds `dcol` (`[C_in·k_h·k_w, rows·W_out]`, output rows `oh_range`) back onto sample `dx_b`.
/// `dcol` is scratch: its padding positions may be zeroed on the way.
fn col2im_add<T: Scalar>(
    geo: &Geometry,
    dcol: &mut [T],
    oh_range: (usize, usize),
    dx_b: &mut [T],
) {
    let tile = (oh_range.1 - oh_range.0) * geo.w_out;
    let hw = geo.h * geo.w;
    let w_out = geo.w_out;
    if blocks(geo) {
        // Zero the padding columns, then one add per im2col row.
        for_each_block(geo, oh_range, |c, row, h0, h1, w0, w1, src| {
            let (a, b) = ((h0 - oh_range.0) * w_out, (h1 - oh_range.0) * w_out);
            if a >= b || w0 >= w1 {
                return;
            }
            let rows = &mut dcol[row * tile..][..tile];
            for r in rows[a..b].chunks_exact_mut(w_out) {
                r[..w0].fill(T::ZERO);
                r[w1..].fill(T::ZERO);
            }
            let (d0, d1) = (a + w0, b - w_out + w1);
            for (d, s) in dx_b[c * hw + src..][..d1 - d0]
                .iter_mut()
                .zip(&rows[d0..d1])
            {
                *d += *s;
            }
        });
        return;
    }
    let s_w = geo.stride[1];
    for_each_run(geo, oh_range, |c, row, oh, ih, w0, w1, iw0| {
        let src = &dcol[row * tile + (oh - oh_range.0) * w_out..][..w_out];
        let dst = &mut dx_b[c * hw + ih * geo.w..][..geo.w];
        if s_w == 1 {
            for (d, s) in dst[iw0..iw0 + (w1 - w0)].iter_mut().zip(&src[w0..w1]) {
                *d += *s;
            }
        } else {
            for (d, s) in dst[iw0..].iter_mut().step_by(s_w).zip(&src[w0..w1]) {
                *d += *s;
            }
        }
    });
}

/// The output-row tiles of one sample.
fn tiles(geo: &Geometry) -> impl Iterator<Item = (usize, usize)> + '_ {
    let step = geo.rows_per_tile();
    (0..geo.h_out)
        .step_by(step)
        .map(move |oh| (oh, (oh + step).min(geo.h_out)))
}

/// Calls `sample(scratch, (b, out_b))` for each sample's `sample_len` elements of `out`, the samples
/// in parallel, each thread with its own zeroed scratch of `scratch_len` elements.
fn per_sample<T: Scalar>(
    out: &mut [T],
    sample_len: usize,
    scratch_len: usize,
    sample: impl Fn(&mut Vec<T>, (usize, &mut [T])) + Send + Sync,
) {
    if sample_len == 0 {
        return;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(sample_len)
            .enumerate()
            .for_each_init(|| vec![T::ZERO; scratch_len], sample);
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut scratch = vec![T::ZERO; scratch_len];
        out.chunks_mut(sample_len)
            .enumerate()
            .for_each(|item| sample(&mut scratch, item));
    }
}

/// A contiguous tensor's elements (from its start offset).
fn elements<T: Scalar>(t: &FlexTensor) -> &[T] {
    let (start, end) = t
        .layout()
        .contiguous_offsets()
        .expect("conv2d backward: tensor made contiguous");
    &t.storage::<T>()[start..end]
}

/// The output shape of `conv2d(x, weight)` (padding may be asymmetric).
fn output_shape(x: &Shape, weight: &Shape, options: &ConvOptions<2>) -> Shape {
    let size = |d: usize| {
        calculate_conv_output_size_asymmetric(
            weight[2 + d],
            options.stride[d],
            options.padding[d],
            options.dilation[d],
            x[2 + d],
        )
    };
    Shape::from(vec![x[0], weight[0], size(0), size(1)])
}

/// Whether [`conv2d`] takes this convolution: f32 or f64, and none of the published forward's fast
/// paths applies (1 × 1 kernels, depthwise, at most 4 input and 16 output channels with one group
/// and stride 1). The published small-channel path also takes strided convolutions, but it
/// vectorises along output rows read at the stride: seed 001's AutoEDcoder layers (1→3 and 3→9
/// channels, stride 2) through this path took 8–15 % off its epoch (session 40).
pub fn handles_forward(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> bool {
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    if !matches!(x.dtype(), DType::F32 | DType::F64) || weight.dtype() != x.dtype() {
        return false;
    }
    if xs.num_dims() != 4 || ws.num_dims() != 4 {
        return false;
    }
    let one_by_one = ws[2] == 1 && ws[3] == 1 && options.stride == [1, 1] && options.padding == [(0, 0); 2];
    let depthwise = ws[1] == 1 && options.groups == xs[1] && ws[0] == xs[1];
    let small_channel = options.groups == 1 && xs[1] <= 4 && ws[0] <= 16 && options.stride == [1, 1];
    // An output larger than the padded input would make `calculate_conv_output_size` underflow;
    // leave such calls to the published path and its checks.
    let fits = (0..2).all(|d| {
        xs[2 + d] + options.padding[d].0 + options.padding[d].1 > options.dilation[d] * (ws[2 + d] - 1)
    });
    ws[2] > 0 && ws[3] > 0 && fits && !(one_by_one || depthwise || small_channel)
}

fn forward_typed<T: Scalar>(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
    dtype: DType,
) -> FlexTensor {
    let x = x.to_contiguous();
    let weight = weight.to_contiguous();
    let out_shape = output_shape(x.layout().shape(), weight.layout().shape(), options);
    let geo = Geometry::new(x.layout().shape(), weight.layout().shape(), &out_shape, options);
    let x_data: &[T] = elements(&x);
    let w_data: &[T] = elements(&weight);
    let bias = bias.map(|b| b.to_contiguous());
    let b_data: Option<&[T]> = bias.as_ref().map(elements);
    let (c_out_g, k_g, plane) = (geo.c_out_g(), geo.k_g(), geo.plane());
    let sample_in = geo.c_in * geo.h * geo.w;
    let sample_out = geo.c_out * plane;
    let col_len = geo.c_in * geo.k_h * geo.k_w * geo.rows_per_tile().min(geo.h_out) * geo.w_out;

    let mut y = vec![T::ZERO; geo.batch * sample_out];
    let sample = |col: &mut Vec<T>, (b, y_b): (usize, &mut [T])| {
        let x_b = &x_data[b * sample_in..][..sample_in];
        for range in tiles(&geo) {
            let tile = (range.1 - range.0) * geo.w_out;
            im2col(&geo, x_b, range, col);
            for grp in 0..geo.groups {
                // y_b[grp, tile] (c_out_g × tile) = W[grp] (c_out_g × k_g) · col[grp] (k_g × tile)
                let dst = &mut y_b[grp * c_out_g * plane + range.0 * geo.w_out..];
                let lhs = &w_data[grp * c_out_g * k_g..];
                let rhs = &col[grp * k_g * tile..];
                // SAFETY: `y_b` holds c_out rows of `plane` (the tile's columns start at
                // range.0·w_out and end by `plane`), the weight c_out rows of k_g, `col`
                // c_in·k_h·k_w rows of `tile`.
                unsafe {
                    gemm::gemm(
                        c_out_g,
                        tile,
                        k_g,
                        dst.as_mut_ptr(),
                        1,
                        plane as isize,
                        false,
                        lhs.as_ptr(),
                        1,
                        k_g as isize,
                        rhs.as_ptr(),
                        1,
                        tile as isize,
                        T::ZERO,
                        T::ONE,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        }
        if let Some(bias) = b_data {
            for (row, &v) in y_b.chunks_mut(plane.max(1)).zip(bias) {
                for e in row {
                    *e += v;
                }
            }
        }
    };
    per_sample(&mut y, sample_out, col_len, sample);
    FlexTensor::new(Bytes::from_elems(y), Layout::contiguous(out_shape), dtype)
}

/// `conv2d(x, weight, bias)` for the calls [`handles_forward`] accepts.
pub fn conv2d(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    match x.dtype() {
        DType::F32 => forward_typed::<f32>(x, weight, bias, options, DType::F32),
        DType::F64 => forward_typed::<f64>(x, weight, bias, options, DType::F64),
        dtype => panic!("conv2d: unsupported dtype {dtype:?} (see handles_forward)"),
    }
}

fn weight_grad_typed<T: Scalar>(
    x: FlexTensor,
    weight_shape: Shape,
    grad: FlexTensor,
    options: &ConvOptions<2>,
    dtype: DType,
) -> FlexTensor {
    let x = x.to_contiguous();
    let grad = grad.to_contiguous();
    let geo = Geometry::new(x.layout().shape(), &weight_shape, grad.layout().shape(), options);
    let x_data: &[T] = elements(&x);
    let g_data: &[T] = elements(&grad);
    let (c_out_g, k_g, plane) = (geo.c_out_g(), geo.k_g(), geo.plane());
    let w_len = geo.c_out * k_g;
    let sample_in = geo.c_in * geo.h * geo.w;
    let sample_out = geo.c_out * plane;
    let col_len = geo.c_in * geo.k_h * geo.k_w * geo.rows_per_tile().min(geo.h_out) * geo.w_out;

    let part = geo.batch.div_ceil(MAX_PARTS).max(MIN_PART);
    let parts: Vec<(usize, usize)> = (0..geo.batch)
        .step_by(part.max(1))
        .map(|s| (s, (s + part).min(geo.batch)))
        .collect();
    let partial = |&(start, end): &(usize, usize)| -> Vec<T> {
        let mut acc = vec![T::ZERO; w_len];
        let mut col = vec![T::ZERO; col_len];
        for b in start..end {
            let x_b = &x_data[b * sample_in..][..sample_in];
            let g_b = &g_data[b * sample_out..][..sample_out];
            for range in tiles(&geo) {
                let tile = (range.1 - range.0) * geo.w_out;
                im2col(&geo, x_b, range, &mut col);
                for grp in 0..geo.groups {
                    // acc[grp] (c_out_g × k_g) += dY_b[grp, tile] (c_out_g × tile) · col[grp]ᵀ (tile × k_g)
                    let lhs = &g_b[grp * c_out_g * plane + range.0 * geo.w_out..];
                    let rhs = &col[grp * k_g * tile..];
                    // SAFETY: every index gemm reads or writes lies inside these slices: `acc`
                    // holds c_out rows of k_g, `g_b` c_out rows of `plane` (the tile's columns
                    // start at range.0·w_out and end by `plane`), `col` c_in·k_h·k_w rows of `tile`.
                    unsafe {
                        gemm::gemm(
                            c_out_g,
                            k_g,
                            tile,
                            acc.as_mut_ptr().add(grp * c_out_g * k_g),
                            1,
                            k_g as isize,
                            true,
                            lhs.as_ptr(),
                            1,
                            plane as isize,
                            rhs.as_ptr(),
                            tile as isize,
                            1,
                            T::ONE,
                            T::ONE,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                }
            }
        }
        acc
    };

    #[cfg(feature = "rayon")]
    let partials: Vec<Vec<T>> = {
        use rayon::prelude::*;
        parts.par_iter().map(partial).collect()
    };
    #[cfg(not(feature = "rayon"))]
    let partials: Vec<Vec<T>> = parts.iter().map(partial).collect();

    let mut partials = partials.into_iter();
    let mut total = partials.next().unwrap_or_else(|| vec![T::ZERO; w_len]);
    for p in partials {
        for (t, v) in total.iter_mut().zip(&p) {
            *t += *v;
        }
    }
    FlexTensor::new(
        Bytes::from_elems(total),
        Layout::contiguous(weight_shape),
        dtype,
    )
}

fn input_grad_typed<T: Scalar>(
    x_shape: Shape,
    weight: FlexTensor,
    grad: FlexTensor,
    options: &ConvOptions<2>,
    dtype: DType,
) -> FlexTensor {
    let weight = weight.to_contiguous();
    let grad = grad.to_contiguous();
    let geo = Geometry::new(&x_shape, weight.layout().shape(), grad.layout().shape(), options);
    let w_data: &[T] = elements(&weight);
    let g_data: &[T] = elements(&grad);
    let (c_out_g, k_g, plane) = (geo.c_out_g(), geo.k_g(), geo.plane());
    let sample_in = geo.c_in * geo.h * geo.w;
    let sample_out = geo.c_out * plane;
    let col_len = geo.c_in * geo.k_h * geo.k_w * geo.rows_per_tile().min(geo.h_out) * geo.w_out;

    let mut dx = vec![T::ZERO; geo.batch * sample_in];
    let sample = |dcol: &mut Vec<T>, (b, dx_b): (usize, &mut [T])| {
        let g_b = &g_data[b * sample_out..][..sample_out];
        for range in tiles(&geo) {
            let tile = (range.1 - range.0) * geo.w_out;
            for grp in 0..geo.groups {
                // dcol[grp] (k_g × tile) = W[grp]ᵀ (k_g × c_out_g) · dY_b[grp, tile] (c_out_g × tile)
                let lhs = &w_data[grp * c_out_g * k_g..];
                let rhs = &g_b[grp * c_out_g * plane + range.0 * geo.w_out..];
                // SAFETY: `dcol` holds c_in·k_h·k_w rows of `tile` (at least col_len ≥ that), the
                // weight c_out rows of k_g, `g_b` c_out rows of `plane`; the tile's columns start at
                // range.0·w_out and end by `plane`.
                unsafe {
                    gemm::gemm(
                        k_g,
                        tile,
                        c_out_g,
                        dcol.as_mut_ptr().add(grp * k_g * tile),
                        1,
                        tile as isize,
                        false,
                        lhs.as_ptr(),
                        k_g as isize,
                        1,
                        rhs.as_ptr(),
                        1,
                        plane as isize,
                        T::ZERO,
                        T::ONE,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
            col2im_add(&geo, dcol, range, dx_b);
        }
    };
    per_sample(&mut dx, sample_in, col_len, sample);
    FlexTensor::new(Bytes::from_elems(dx), Layout::contiguous(x_shape), dtype)
}

fn bias_grad_typed<T: Scalar>(grad: FlexTensor, bias_shape: Shape, dtype: DType) -> FlexTensor {
    let grad = grad.to_contiguous();
    let shape = grad.layout().shape().clone();
    assert!(shape.num_dims() == 4, "conv2d bias backward: expected a 4-D gradient");
    let (batch, c_out, plane) = (shape[0], shape[1], shape[2] * shape[3]);
    let g: &[T] = elements(&grad);
    let mut sums = vec![T::ZERO; c_out];
    for b in 0..batch {
        for (co, s) in sums.iter_mut().enumerate() {
            let mut acc = T::ZERO;
            for v in &g[(b * c_out + co) * plane..][..plane] {
                acc += *v;
            }
            *s += acc;
        }
    }
    FlexTensor::new(Bytes::from_elems(sums), Layout::contiguous(bias_shape), dtype)
}

/// Runs `f` on f32 copies of half-precision tensors and casts its result back.
fn via_f32(
    dtype: DType,
    tensors: [FlexTensor; 2],
    f: impl FnOnce(FlexTensor, FlexTensor) -> FlexTensor,
) -> FlexTensor {
    let [a, b] = tensors;
    match dtype {
        DType::F16 => cast_from_f32(
            f(cast_to_f32::<f16>(a, f32::from), cast_to_f32::<f16>(b, f32::from)),
            f16::from_f32,
        ),
        DType::BF16 => cast_from_f32(
            f(cast_to_f32::<bf16>(a, f32::from), cast_to_f32::<bf16>(b, f32::from)),
            bf16::from_f32,
        ),
        dtype => panic!("conv2d backward: unsupported dtype {dtype:?}"),
    }
}

/// The gradient of `conv2d(x, weight)` with respect to `weight`.
pub fn conv2d_weight_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let shape = weight.layout().shape().clone();
    match x.dtype() {
        DType::F32 => weight_grad_typed::<f32>(x, shape, output_grad, options, DType::F32),
        DType::F64 => weight_grad_typed::<f64>(x, shape, output_grad, options, DType::F64),
        dtype => via_f32(dtype, [x, output_grad], |x, g| {
            weight_grad_typed::<f32>(x, shape, g, options, DType::F32)
        }),
    }
}

/// The gradient of `conv2d(x, weight)` with respect to `x`.
pub fn conv2d_x_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let shape = x.layout().shape().clone();
    match weight.dtype() {
        DType::F32 => input_grad_typed::<f32>(shape, weight, output_grad, options, DType::F32),
        DType::F64 => input_grad_typed::<f64>(shape, weight, output_grad, options, DType::F64),
        dtype => via_f32(dtype, [weight, output_grad], |w, g| {
            input_grad_typed::<f32>(shape, w, g, options, DType::F32)
        }),
    }
}

/// The gradient of `conv2d(x, weight, bias)` with respect to `bias`.
pub fn conv2d_bias_backward(bias: FlexTensor, output_grad: FlexTensor) -> FlexTensor {
    let shape = bias.layout().shape().clone();
    match output_grad.dtype() {
        DType::F32 => bias_grad_typed::<f32>(output_grad, shape, DType::F32),
        DType::F64 => bias_grad_typed::<f64>(output_grad, shape, DType::F64),
        dtype => {
            let g = match dtype {
                DType::F16 => cast_to_f32::<f16>(output_grad, f32::from),
                DType::BF16 => cast_to_f32::<bf16>(output_grad, f32::from),
                dtype => panic!("conv2d bias backward: unsupported dtype {dtype:?}"),
            };
            let sums = bias_grad_typed::<f32>(g, shape, DType::F32);
            match dtype {
                DType::F16 => cast_from_f32(sums, f16::from_f32),
                _ => cast_from_f32(sums, bf16::from_f32),
            }
        }
    }
}
