//! The CPU backend's matrix products against sums written out from the definition, for the
//! operand layouts training produces: plain row-major products (forward passes), a transposed
//! right operand (`dY · Wᵀ`, `Q · Kᵀ`) and a transposed left one (`Xᵀ · dY`).
//!
//! `vendor/gemm-common` patches how `gemm` packs its left operand (through an L1-resident tile
//! when the rows are contiguous along the inner dimension; the prepacked operand split over the
//! threads). The shapes below cover full and partial panels (16 rows with AVX2's kernel, more with
//! AVX-512's), inner dimensions that are and are not a multiple of the tile's width, row strides of
//! 4 KiB, and products large enough to be split over threads. The patched paths are taken by
//! default only for panels of 32 rows or more (AVX-512); the test runs the products once with the
//! default rule and once more in a child process with both paths forced on (`MVC_GEMM_TILE=1`,
//! `MVC_GEMM_SPLIT=1`, read once per process), so AVX2 machines check them too.

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` values in [−0.5, 0.5), reproducible from `seed` (the project's generator, not burn's
/// process-wide random state).
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<f32>() - 0.5).collect()
}

/// `a` is `[m × k]`, `b` is `[k × n]`, both row-major.
fn direct(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum();
        }
    }
    out
}

fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = x[r * cols + c];
        }
    }
    t
}

fn assert_close(got: Tensor<2>, want: &[f64], k: usize, what: &str) {
    let got: Vec<f32> = got.into_data().try_to_vec::<f32>().expect("f32 output");
    assert_eq!(got.len(), want.len(), "{what}: size");
    let tol = 1e-5 * (k as f64).sqrt() * 4.0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((*g as f64 - w).abs() <= tol, "{what}: element {i} is {g}, the direct sum {w}");
    }
}

const NAME: &str = "products_equal_the_direct_sums_for_every_operand_layout";

#[test]
fn products_equal_the_direct_sums_for_every_operand_layout() {
    check_products();
    if std::env::var_os("MVC_GEMM_TILE").is_some() {
        return; // the child run below, or a run the caller configured
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(&exe)
        .args(["--exact", NAME, "--test-threads", "1"])
        .env("MVC_GEMM_TILE", "1")
        .env("MVC_GEMM_SPLIT", "1")
        .output()
        .expect("run the test binary again with the patched packing forced on");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "with MVC_GEMM_TILE=1 MVC_GEMM_SPLIT=1 the products differ from the direct sums:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_products() {
    let device = Device::flex();
    // (m, k, n): full panels; partial panels; k not a multiple of 16; 1024-wide rows (4 KiB apart);
    // large enough for the threads; a thin product.
    let shapes = [(64, 48, 40), (70, 37, 65), (256, 1024, 96), (130, 300, 1024), (300, 129, 257), (3, 1024, 200)];
    for (s, &(m, k, n)) in shapes.iter().enumerate() {
        let a = values(2 * s as u64 + 1, m * k);
        let b = values(2 * s as u64 + 2, k * n);
        let want = direct(&a, &b, m, k, n);
        let ta = Tensor::<2>::from_data(TensorData::new(a.clone(), [m, k]), &device);
        let tb = Tensor::<2>::from_data(TensorData::new(b.clone(), [k, n]), &device);
        assert_close(ta.clone().matmul(tb.clone()), &want, k, &format!("A·B {m}×{k}×{n}"));
        // B stored as [n × k] and transposed: a strided view, as `dY · Wᵀ` in a backward pass.
        let bt = Tensor::<2>::from_data(TensorData::new(transpose(&b, k, n), [n, k]), &device);
        assert_close(ta.matmul(bt.transpose()), &want, k, &format!("A·(Bᵀ)ᵀ {m}×{k}×{n}"));
        // A stored as [k × m] and transposed, as `Xᵀ · dY`.
        let at = Tensor::<2>::from_data(TensorData::new(transpose(&a, m, k), [k, m]), &device);
        assert_close(at.transpose().matmul(tb), &want, k, &format!("(Aᵀ)ᵀ·B {m}×{k}×{n}"));
    }
}

/// Matrix products write their outputs into storage that is not zeroed first
/// (`vendor/burn-flex`: `FlexTensor::for_overwrite`), so every element must come from the
/// product. Each product here runs right after a block of the output's size was filled with NaN
/// and freed, which the allocator hands back for the output: an element gemm skipped would read
/// NaN. Covers gemm's special paths too: an empty inner dimension (the output is zeros), matrix ×
/// vector, vector × matrix, a product small enough for the horizontal kernel, and batched products.
#[test]
fn product_outputs_are_written_in_full_over_reused_memory() {
    let device = Device::flex();
    let poison = |len: usize| drop(std::hint::black_box(vec![f32::NAN; len]));
    // (m, k, n)
    let shapes = [(64, 48, 40), (16, 0, 24), (70, 37, 1), (1, 37, 70), (12, 9, 16), (130, 300, 257)];
    for (s, &(m, k, n)) in shapes.iter().enumerate() {
        let a = values(100 + 2 * s as u64, m * k);
        let b = values(101 + 2 * s as u64, k * n);
        let want = direct(&a, &b, m, k, n);
        let ta = Tensor::<2>::from_data(TensorData::new(a.clone(), [m, k]), &device);
        let tb = Tensor::<2>::from_data(TensorData::new(b.clone(), [k, n]), &device);
        poison(m * n);
        assert_close(ta.matmul(tb), &want, k.max(1), &format!("A·B {m}×{k}×{n} over reused memory"));
    }
    // Batched: three products in one call, each written into its own part of one output.
    let (batch, m, k, n) = (3, 20, 33, 18);
    let a = values(200, batch * m * k);
    let b = values(201, batch * k * n);
    let ta = Tensor::<3>::from_data(TensorData::new(a.clone(), [batch, m, k]), &device);
    let tb = Tensor::<3>::from_data(TensorData::new(b.clone(), [batch, k, n]), &device);
    poison(batch * m * n);
    let got: Vec<f32> = ta.matmul(tb).into_data().try_to_vec::<f32>().expect("f32 output");
    for i in 0..batch {
        let want = direct(&a[i * m * k..(i + 1) * m * k], &b[i * k * n..(i + 1) * k * n], m, k, n);
        for (j, (g, w)) in got[i * m * n..(i + 1) * m * n].iter().zip(&want).enumerate() {
            assert!((*g as f64 - w).abs() <= 1e-4, "batched product {i}: element {j} is {g}, the direct sum {w}");
        }
    }
}
