//! Exact k nearest neighbours (Euclidean) of every row of a feature matrix, by blocked matrix
//! products: for a block of rows, `‖x_i‖² + ‖x_j‖² − 2 x_i·x_j` against all rows in one GEMM
//! (burn's `matmul` on the `flex` device), the `k` smallest picked per row, and their distances
//! then recomputed exactly (the product form loses digits for close pairs).
//!
//! This is what t-SNE's affinities need (`3 × perplexity` neighbours). bhtsne's own search, a
//! vantage-point tree, degrades to a slow scalar scan in high dimensions: on MNIST-USPS's raw
//! features (5,000 × 1,568) it took 15.5 of the layout's 17.3 s.

use bhtsne::Neighbor;
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

/// Elements of one block's product matrix (rows × n), about 16 MB of `f32`.
const BLOCK_ELEMENTS: usize = 1 << 22;

/// The `k` nearest other rows of each row of `data` (`n × dim`, row-major, finite), nearest
/// first, with their Euclidean distances; ties are broken by the smaller index.
///
/// # Errors
/// When the rows do not split evenly, `k` is 0 or not below the row count, or the matrix
/// products fail.
pub fn nearest_neighbours(data: &[f32], dim: usize, k: usize) -> Result<Vec<Vec<Neighbor<f32>>>, String> {
    if dim == 0 || !data.len().is_multiple_of(dim) {
        return Err(format!("{} values do not split into rows of {dim}", data.len()));
    }
    let n = data.len() / dim;
    if k == 0 || k >= n {
        return Err(format!("{k} neighbours need more than {k} points, and there are {n}"));
    }
    let norms: Vec<f32> = data.chunks_exact(dim).map(|r| r.iter().map(|x| x * x).sum()).collect();
    let device = Device::flex();
    let x = Tensor::<2>::from_data(TensorData::new(data.to_vec(), [n, dim]), &device);
    let xt = x.clone().transpose();
    let block = (BLOCK_ELEMENTS / n).clamp(1, 1024);
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(block) {
        let rows = block.min(n - start);
        // The product runs multi-threaded inside burn-flex; the selection per row on rayon.
        let products = x
            .clone()
            .slice([start..start + rows, 0..dim])
            .matmul(xt.clone())
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| format!("the distance products failed: {e:?}"))?;
        let found: Vec<Vec<Neighbor<f32>>> = products
            .par_chunks_exact(n)
            .enumerate()
            .map(|(r, row)| nearest_of(data, dim, &norms, start + r, row, k))
            .collect();
        out.extend(found);
    }
    Ok(out)
}

/// Row `i`'s `k` nearest others, from its row of products with every row.
fn nearest_of(data: &[f32], dim: usize, norms: &[f32], i: usize, products: &[f32], k: usize) -> Vec<Neighbor<f32>> {
    let approx = |j: usize| norms[i] + norms[j] - 2.0 * products[j];
    let mut candidates: Vec<usize> = (0..norms.len()).filter(|&j| j != i).collect();
    // A few spare candidates absorb the product form's rounding at the k-th place.
    let keep = (k + 8).min(candidates.len());
    if keep < candidates.len() {
        candidates.select_nth_unstable_by(keep - 1, |&a, &b| approx(a).total_cmp(&approx(b)).then(a.cmp(&b)));
        candidates.truncate(keep);
    }
    let row = &data[i * dim..(i + 1) * dim];
    let mut exact: Vec<Neighbor<f32>> = candidates
        .into_iter()
        .map(|j| {
            let other = &data[j * dim..(j + 1) * dim];
            let d2: f32 = row.iter().zip(other).map(|(a, b)| (a - b) * (a - b)).sum();
            Neighbor { index: j, distance: d2.sqrt() }
        })
        .collect();
    exact.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.index.cmp(&b.index)));
    exact.truncate(k);
    exact
}

#[cfg(test)]
mod tests {
    use rand::{Rng as _, SeedableRng as _};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn neighbours_equal_a_brute_force_scan() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (n, dim, k) = (700, 37, 12);
        // Offset rows make the product form lose digits, which the exact recheck must undo.
        let data: Vec<f32> = (0..n * dim).map(|i| 50.0 + (i % dim) as f32 + rng.random::<f32>()).collect();
        let got = nearest_neighbours(&data, dim, k).unwrap();
        assert_eq!(got.len(), n);
        for (i, row) in got.iter().enumerate() {
            let mut all: Vec<(f32, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let d2: f32 = (0..dim).map(|c| (data[i * dim + c] - data[j * dim + c]).powi(2)).sum();
                    (d2.sqrt(), j)
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let want: Vec<usize> = all[..k].iter().map(|p| p.1).collect();
            let have: Vec<usize> = row.iter().map(|nb| nb.index).collect();
            assert_eq!(have, want, "row {i}");
            for (nb, (d, _)) in row.iter().zip(&all) {
                assert!((nb.distance - d).abs() <= 1e-5 * d.max(1.0), "row {i}: {} vs {d}", nb.distance);
            }
        }
    }

    #[test]
    fn bad_shapes_and_counts_are_errors() {
        assert!(nearest_neighbours(&[1.0; 10], 3, 1).unwrap_err().contains("rows of 3"));
        assert!(nearest_neighbours(&[1.0; 10], 2, 5).unwrap_err().contains("there are 5"));
        assert!(nearest_neighbours(&[1.0; 10], 2, 0).is_err());
        // Duplicate rows are each other's neighbours at distance 0.
        let nb = nearest_neighbours(&[0.0, 0.0, 0.0, 0.0, 3.0, 4.0], 2, 2).unwrap();
        assert_eq!((nb[0][0].index, nb[0][0].distance, nb[0][1].distance), (1, 0.0, 5.0));
    }
}
