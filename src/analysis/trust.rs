//! Trustworthiness of a low-dimensional layout (Venna & Kaski), exactly as scikit-learn's
//! `sklearn.manifold.trustworthiness` (Euclidean): with `r(i, j)` the rank of `j` among `i`'s
//! neighbours in the input space (1 = nearest) and `N_k(i)` the `k` nearest neighbours of `i`
//! in the layout,
//! `T(k) = 1 − 2 / (n k (2n − 3k − 1)) · Σ_i Σ_{j ∈ N_k(i)} max(0, r(i, j) − k)`.
//! Checked against scikit-learn's values on `tests/data/trustworthiness/cases.json`.

use rayon::prelude::*;

/// Squared Euclidean distances from row `i` to every row (f64 accumulation).
fn distances_from(data: &[f32], dim: usize, i: usize, out: &mut [f64]) {
    let a = &data[i * dim..(i + 1) * dim];
    for (o, b) in out.iter_mut().zip(data.chunks_exact(dim)) {
        *o = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum();
    }
}

/// `T(k)` of the layout `y` (`n × y_dim`) of the points `x` (`n × x_dim`), both row-major.
/// Needs `k < n / 2` (scikit-learn's condition); O(n² (x_dim + y_dim)) time, O(n) memory per
/// thread, parallel over points.
pub fn trustworthiness(x: &[f32], x_dim: usize, y: &[f32], y_dim: usize, k: usize) -> Result<f64, String> {
    if x_dim == 0 || y_dim == 0 || !x.len().is_multiple_of(x_dim) || !y.len().is_multiple_of(y_dim) {
        return Err("the feature matrices do not split into rows".into());
    }
    let n = x.len() / x_dim;
    if y.len() / y_dim != n {
        return Err(format!("{n} points but {} layout rows", y.len() / y_dim));
    }
    if k == 0 || 2 * k >= n {
        return Err(format!("k = {k} must be at least 1 and below half the {n} points"));
    }
    let penalty: f64 = (0..n)
        .into_par_iter()
        .map_init(
            || (vec![0f64; n], vec![0f64; n], Vec::with_capacity(n)),
            |(dx, dy, order), i| {
                distances_from(y, y_dim, i, dy);
                // The k nearest in the layout, the point itself excluded (ties by index).
                order.clear();
                order.extend((0..n).filter(|&j| j != i));
                order.select_nth_unstable_by(k - 1, |&a: &usize, &b| dy[a].total_cmp(&dy[b]).then(a.cmp(&b)));
                distances_from(x, x_dim, i, dx);
                dx[i] = f64::INFINITY;
                order[..k]
                    .iter()
                    .map(|&j| {
                        // Rank of j in the input space: 1 + the points strictly closer to i
                        // (ties by index, a stable sort's order).
                        let d = dx[j];
                        let rank = 1 + dx.iter().enumerate().filter(|&(m, &e)| e < d || (e == d && m < j)).count();
                        rank.saturating_sub(k) as f64
                    })
                    .sum::<f64>()
            },
        )
        .sum();
    let (n, k) = (n as f64, k as f64);
    Ok(1.0 - penalty * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_scikit_learn_on_the_fixture() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/trustworthiness/cases.json"))
                .unwrap();
        let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
        let cases = fixture["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 3);
        for c in cases {
            let floats = |v: &serde_json::Value| {
                v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect::<Vec<_>>()
            };
            let (x, y) = (floats(&c["x"]), floats(&c["y"]));
            let (dim, out) = (c["dim"].as_u64().unwrap() as usize, c["out_dims"].as_u64().unwrap() as usize);
            for k in [5, 12] {
                let want = c["trustworthiness"][k.to_string()].as_f64().unwrap();
                let got = trustworthiness(&x, dim, &y, out, k).unwrap();
                assert!((got - want).abs() < 1e-12, "k = {k}: {got} vs scikit-learn's {want}");
            }
        }
    }

    #[test]
    fn a_perfect_layout_scores_one_and_bad_input_is_refused() {
        let x: Vec<f32> = (0..40).flat_map(|i| [i as f32, (i * i) as f32 * 0.01]).collect();
        assert!((trustworthiness(&x, 2, &x, 2, 5).unwrap() - 1.0).abs() < 1e-12);
        assert!(trustworthiness(&x, 2, &x, 2, 20).is_err());
        assert!(trustworthiness(&x, 2, &x[..10], 2, 3).is_err());
    }
}
