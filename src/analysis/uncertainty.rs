//! Per-sample pseudo-label uncertainty from a sample's soft assignment `q` (the primary
//! reading's row): the **normalised entropy** `H(q) / ln K` = `−Σ_k q_k ln q_k / ln K`, 0 when
//! the sample sits entirely in one cluster and 1 when `q` is uniform. (Unlike `1 − max q` it
//! sees how the rest of the mass spreads: a sample torn between two clusters scores higher than
//! one whose doubt is spread thinly over many.)

/// `H(q) / ln K` of one row, in `[0, 1]` (0 for `K ≤ 1`). The row is renormalised first, and
/// non-finite or negative entries count as 0.
pub fn normalized_entropy(q: &[f32]) -> f32 {
    let k = q.len();
    if k <= 1 {
        return 0.0;
    }
    let clean = |x: f32| if x.is_finite() && x > 0.0 { f64::from(x) } else { 0.0 };
    let total: f64 = q.iter().map(|&x| clean(x)).sum();
    if total <= 0.0 {
        return 1.0;
    }
    let h: f64 = q.iter().map(|&x| clean(x) / total).filter(|&p| p > 0.0).map(|p| -p * p.ln()).sum();
    ((h / (k as f64).ln()) as f32).clamp(0.0, 1.0)
}

/// The uncertainty of every row of a row-major `n × k` assignment.
pub fn uncertainties(q: &[f32], k: usize) -> Vec<f32> {
    q.chunks_exact(k.max(1)).map(normalized_entropy).collect()
}

/// The positions of the `n` most uncertain samples, most uncertain first (ties: lower position
/// first).
pub fn most_uncertain(u: &[f32], n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..u.len()).collect();
    idx.sort_by(|&a, &b| u[b].total_cmp(&u[a]).then(a.cmp(&b)));
    idx.truncate(n);
    idx
}

/// Counts of `u` in `bins` equal bins over `[0, 1]` (1.0 falls in the last bin).
pub fn histogram(u: &[f32], bins: usize) -> Vec<usize> {
    let bins = bins.max(1);
    let mut out = vec![0; bins];
    for &x in u {
        let b = ((x.clamp(0.0, 1.0) * bins as f32) as usize).min(bins - 1);
        out[b] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_is_normalised() {
        assert_eq!(normalized_entropy(&[1.0, 0.0, 0.0]), 0.0);
        assert!((normalized_entropy(&[0.25; 4]) - 1.0).abs() < 1e-6);
        // Two of four clusters evenly: ln 2 / ln 4 = 0.5.
        assert!((normalized_entropy(&[0.5, 0.5, 0.0, 0.0]) - 0.5).abs() < 1e-6);
        assert_eq!(normalized_entropy(&[1.0]), 0.0);
        assert_eq!(normalized_entropy(&[f32::NAN, 0.0]), 1.0);
        let u = uncertainties(&[1.0, 0.0, 0.5, 0.5], 2);
        assert_eq!(u, vec![0.0, 1.0]);
    }

    #[test]
    fn most_uncertain_and_histogram() {
        let u = [0.1, 0.95, 0.5, 0.95, 1.0];
        assert_eq!(most_uncertain(&u, 3), vec![4, 1, 3]);
        assert_eq!(most_uncertain(&u, 10).len(), 5);
        assert_eq!(histogram(&u, 2), vec![1, 4]);
        assert_eq!(histogram(&u, 10)[9], 3);
    }
}
