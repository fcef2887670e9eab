//! Clustering quality: ACC (Hungarian matching), NMI, ARI and purity.
//!
//! Every function follows scikit-learn's definitions exactly (NMI with the
//! arithmetic normalisation, ARI through the pair-confusion matrix), so the
//! numbers agree with `../shared/fixtures/metrics_cases.json` to 1e-9.
//! Cluster ids and label ids may be any `usize`; they need not be contiguous.

use serde::{Deserialize, Serialize};

/// ACC, NMI, ARI and purity of one prediction against the truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterScores {
    pub acc: f64,
    pub nmi: f64,
    pub ari: f64,
    pub purity: f64,
}

/// The contingency table of a prediction: `counts[p][t]` is the number of
/// samples predicted `pred_ids[p]` whose label is `true_ids[t]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Contingency {
    pub pred_ids: Vec<usize>,
    pub true_ids: Vec<usize>,
    pub counts: Vec<Vec<u64>>,
    pub n: u64,
}

fn distinct_sorted(xs: &[usize]) -> Vec<usize> {
    let mut v = xs.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

impl Contingency {
    /// Builds the table. `pred` and `truth` must have the same length.
    pub fn new(pred: &[usize], truth: &[usize]) -> Self {
        assert_eq!(pred.len(), truth.len(), "prediction and truth must have the same length");
        let pred_ids = distinct_sorted(pred);
        let true_ids = distinct_sorted(truth);
        let mut counts = vec![vec![0u64; true_ids.len()]; pred_ids.len()];
        for (&p, &t) in pred.iter().zip(truth) {
            // Both ids are present by construction, so the searches succeed.
            let (Ok(i), Ok(j)) = (pred_ids.binary_search(&p), true_ids.binary_search(&t)) else { continue };
            counts[i][j] += 1;
        }
        Contingency { pred_ids, true_ids, counts, n: pred.len() as u64 }
    }

    fn row_sums(&self) -> Vec<u64> {
        self.counts.iter().map(|r| r.iter().sum()).collect()
    }

    fn col_sums(&self) -> Vec<u64> {
        let mut s = vec![0u64; self.true_ids.len()];
        for r in &self.counts {
            for (j, c) in r.iter().enumerate() {
                s[j] += c;
            }
        }
        s
    }
}

/// Solves the rectangular assignment problem: minimises `Σ cost[i][assign[i]]`
/// over injective assignments of the smaller side into the larger one
/// (Kuhn–Munkres with potentials, O(n²·m) for an n×m matrix, n ≤ m).
///
/// Returns for each row the column it is matched to, or `None` when there are
/// more rows than columns and the row is left out.
pub fn hungarian_min(cost: &[Vec<f64>]) -> Vec<Option<usize>> {
    let rows = cost.len();
    let cols = cost.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    if rows > cols {
        // Solve the transpose, then invert the matching.
        let t: Vec<Vec<f64>> = (0..cols).map(|j| (0..rows).map(|i| cost[i][j]).collect()).collect();
        let col_match = hungarian_min(&t);
        let mut out = vec![None; rows];
        for (j, m) in col_match.iter().enumerate() {
            if let Some(i) = m {
                out[*i] = Some(j);
            }
        }
        return out;
    }
    // rows ≤ cols. 1-based arrays as in the classic formulation; p[j] = row matched to column j.
    let (n, m) = (rows, cols);
    let mut u = vec![0f64; n + 1];
    let mut v = vec![0f64; m + 1];
    let mut p = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            out[p[j] - 1] = Some(j - 1);
        }
    }
    out
}

/// Maximum-weight matching of the contingency table: for each predicted
/// cluster (in `c.pred_ids` order) the label column it is matched to.
fn max_matching(c: &Contingency) -> Vec<Option<usize>> {
    let max = c.counts.iter().flatten().copied().max().unwrap_or(0) as f64;
    let cost: Vec<Vec<f64>> = c.counts.iter().map(|r| r.iter().map(|&x| max - x as f64).collect()).collect();
    hungarian_min(&cost)
}

/// Clustering accuracy: the fraction of samples whose predicted cluster,
/// mapped one-to-one onto labels by the best (Hungarian) matching, is right.
pub fn accuracy(pred: &[usize], truth: &[usize]) -> f64 {
    if pred.is_empty() {
        return 0.0;
    }
    let c = Contingency::new(pred, truth);
    let matched: u64 = max_matching(&c).iter().enumerate().filter_map(|(i, m)| m.map(|j| c.counts[i][j])).sum();
    matched as f64 / c.n as f64
}

/// Maps every predicted cluster id to a label id: the Hungarian matching
/// where a cluster is matched, else the cluster's majority label.
///
/// The result is indexed by predicted id (`0..=max(pred)`); ids that never
/// occur map to themselves.
pub fn align_clusters(pred: &[usize], truth: &[usize]) -> Vec<usize> {
    let len = pred.iter().copied().max().map_or(0, |m| m + 1);
    let mut mapping: Vec<usize> = (0..len).collect();
    if pred.is_empty() {
        return mapping;
    }
    let c = Contingency::new(pred, truth);
    for (i, m) in max_matching(&c).into_iter().enumerate() {
        let j = match m {
            Some(j) => j,
            None => {
                // Majority label of this cluster.
                let row = &c.counts[i];
                (0..row.len()).max_by_key(|&j| (row[j], std::cmp::Reverse(j))).unwrap_or(0)
            }
        };
        mapping[c.pred_ids[i]] = c.true_ids[j];
    }
    mapping
}

/// Purity: each predicted cluster votes for its majority label.
pub fn purity(pred: &[usize], truth: &[usize]) -> f64 {
    if pred.is_empty() {
        return 0.0;
    }
    let c = Contingency::new(pred, truth);
    let s: u64 = c.counts.iter().map(|r| r.iter().copied().max().unwrap_or(0)).sum();
    s as f64 / c.n as f64
}

fn entropy(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 1.0;
    }
    let ln_total = (total as f64).ln();
    -counts.iter().filter(|&&c| c > 0).map(|&c| (c as f64 / total as f64) * ((c as f64).ln() - ln_total)).sum::<f64>()
}

fn mutual_information(c: &Contingency) -> f64 {
    let a = c.row_sums();
    let b = c.col_sums();
    let n = c.n as f64;
    let (sa, sb) = (a.iter().sum::<u64>() as f64, b.iter().sum::<u64>() as f64);
    let mut mi = 0.0;
    for (i, row) in c.counts.iter().enumerate() {
        for (j, &nij) in row.iter().enumerate() {
            if nij == 0 {
                continue;
            }
            let nij = nij as f64;
            let p = nij / n;
            let outer = a[i] as f64 * b[j] as f64;
            let log_outer = -outer.ln() + sa.ln() + sb.ln();
            let term = p * (nij.ln() - n.ln()) + p * log_outer;
            if term.abs() >= f64::EPSILON {
                mi += term;
            }
        }
    }
    mi.max(0.0)
}

/// Normalised mutual information, arithmetic normalisation (scikit-learn's default).
pub fn nmi(pred: &[usize], truth: &[usize]) -> f64 {
    let c = Contingency::new(pred, truth);
    let (kp, kt) = (c.pred_ids.len(), c.true_ids.len());
    if (kp == 1 && kt == 1) || (kp == 0 && kt == 0) {
        return 1.0;
    }
    let mi = mutual_information(&c);
    if mi == 0.0 {
        return 0.0;
    }
    let h_true = entropy(&c.col_sums());
    let h_pred = entropy(&c.row_sums());
    let norm = (h_true + h_pred) / 2.0;
    mi / norm.max(f64::EPSILON)
}

/// Adjusted Rand index (scikit-learn's pair-confusion formulation).
pub fn ari(pred: &[usize], truth: &[usize]) -> f64 {
    let c = Contingency::new(pred, truth);
    let n = c.n as i128;
    // sklearn: contingency rows = classes (truth), columns = clusters (pred).
    let n_true = c.col_sums();
    let n_pred = c.row_sums();
    let mut sum_squares: i128 = 0;
    let mut dot_pred: i128 = 0; // Σ c_ij · n_pred[i]  (contingency · cluster sizes)
    let mut dot_true: i128 = 0; // Σ c_ij · n_true[j]
    for (i, row) in c.counts.iter().enumerate() {
        for (j, &x) in row.iter().enumerate() {
            let x = x as i128;
            sum_squares += x * x;
            dot_pred += x * n_pred[i] as i128;
            dot_true += x * n_true[j] as i128;
        }
    }
    let tp = sum_squares - n;
    let fp = dot_pred - sum_squares;
    let fn_ = dot_true - sum_squares;
    let tn = n * n - fp - fn_ - sum_squares;
    if fn_ == 0 && fp == 0 {
        return 1.0;
    }
    let num = 2.0 * ((tp * tn - fn_ * fp) as f64);
    let den = ((tp + fn_) * (fn_ + tn) + (tp + fp) * (fp + tn)) as f64;
    if den == 0.0 { 0.0 } else { num / den }
}

/// All four scores at once.
pub fn scores(pred: &[usize], truth: &[usize]) -> ClusterScores {
    ClusterScores {
        acc: accuracy(pred, truth),
        nmi: nmi(pred, truth),
        ari: ari(pred, truth),
        purity: purity(pred, truth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hungarian_square_and_rectangular() {
        let cost = vec![vec![4.0, 1.0, 3.0], vec![2.0, 0.0, 5.0], vec![3.0, 2.0, 2.0]];
        let m = hungarian_min(&cost);
        let total: f64 = m.iter().enumerate().map(|(i, j)| cost[i][j.unwrap()]).sum();
        assert_eq!(total, 5.0);
        // 2×3 and 3×2.
        let wide = vec![vec![1.0, 9.0, 0.5], vec![0.0, 9.0, 9.0]];
        assert_eq!(hungarian_min(&wide), vec![Some(2), Some(0)]);
        let tall: Vec<Vec<f64>> = (0..3).map(|j| wide.iter().map(|r| r[j]).collect()).collect();
        assert_eq!(hungarian_min(&tall), vec![Some(1), None, Some(0)]);
    }

    #[test]
    fn permuted_labels_score_perfectly() {
        let t = [0, 0, 1, 1, 2, 2];
        let p = [5, 5, 3, 3, 9, 9];
        let s = scores(&p, &t);
        assert_eq!((s.acc, s.nmi, s.ari, s.purity), (1.0, 1.0, 1.0, 1.0));
        let map = align_clusters(&p, &t);
        assert_eq!((map[5], map[3], map[9]), (0, 1, 2));
    }

    #[test]
    fn align_maps_extra_clusters_to_majority() {
        let t = [0, 0, 0, 1, 1, 1];
        let p = [0, 0, 2, 1, 1, 1];
        let map = align_clusters(&p, &t);
        assert_eq!(map[0], 0);
        assert_eq!(map[1], 1);
        assert_eq!(map[2], 0);
    }
}
