//! The confusion matrix of a reading against the labels, its columns (clusters) put in the
//! order of the Hungarian matching, so that a perfect clustering is diagonal whatever ids the
//! model gave its clusters.

use serde::{Deserialize, Serialize};

use crate::metrics::hungarian_min;

/// Which reading of the model a confusion matrix shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, Hash)]
pub enum Reading {
    /// The primary reading: the DEC head on the weighted consensus (the mean `q` for networks
    /// from before issue 13).
    #[default]
    Primary,
    /// argmax of the VCF head's `t`.
    Vcf,
    /// k-means on the fused feature `Z`.
    KmeansZ,
}

impl Reading {
    pub const ALL: [Self; 3] = [Self::Primary, Self::Vcf, Self::KmeansZ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Primary => "primary (heads)",
            Self::Vcf => "VCF head",
            Self::KmeansZ => "k-means on Z",
        }
    }

    /// The readings of a run: CVC-AFWM's three, or a metric-learning baseline's two (its
    /// snapshot's primary is k-means on the test embeddings, its VCF slot the kNN classifier).
    pub fn of_run(baseline: bool) -> &'static [Reading] {
        if baseline { &Self::ALL[..2] } else { &Self::ALL }
    }

    /// The reading's name on the command line (`eval --confusion`): `primary`, `vcf`, `kmeans-z`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Vcf => "vcf",
            Self::KmeansZ => "kmeans-z",
        }
    }

    /// [`label`](Self::label) as a baseline's snapshot means it.
    pub fn label_in(self, baseline: bool) -> &'static str {
        match (baseline, self) {
            (true, Self::Primary | Self::KmeansZ) => "k-means on test embeddings",
            (true, Self::Vcf) => "kNN classifier (test)",
            (false, r) => r.label(),
        }
    }
}

impl std::str::FromStr for Reading {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "primary" | "heads" => Ok(Self::Primary),
            "vcf" => Ok(Self::Vcf),
            "kmeans-z" | "kmeans_z" | "k-means-z" => Ok(Self::KmeansZ),
            other => Err(format!("unknown reading {other:?}; use primary, vcf or kmeans-z")),
        }
    }
}

/// The order of `n_clusters` clusters that puts each one under the label the Hungarian
/// matching (maximum total agreement) gives it: `order[j]` is the cluster shown in column `j`.
/// Matched clusters come first, in their label's order (with as many clusters as labels,
/// column `j` is label `j`'s cluster, so a perfect clustering is diagonal), then unmatched
/// clusters by id. Always a permutation
/// of `0..n_clusters`; ids in `pred` at or past `n_clusters` and in `truth` at or past
/// `n_labels` are ignored.
pub fn aligned_order(pred: &[usize], truth: &[usize], n_clusters: usize, n_labels: usize) -> Vec<usize> {
    alignment(pred, truth, n_clusters, n_labels).into_iter().map(|(c, _)| c).collect()
}

/// [`aligned_order`] with the label each column's cluster was matched to.
fn alignment(pred: &[usize], truth: &[usize], n_clusters: usize, n_labels: usize) -> Vec<(usize, Option<usize>)> {
    let mut counts = vec![vec![0f64; n_labels]; n_clusters];
    for (&p, &t) in pred.iter().zip(truth) {
        if let Some(c) = counts.get_mut(p).and_then(|r| r.get_mut(t)) {
            *c += 1.0;
        }
    }
    let max = counts.iter().flatten().copied().fold(0.0, f64::max);
    let cost: Vec<Vec<f64>> = counts.iter().map(|r| r.iter().map(|&x| max - x).collect()).collect();
    let matching = if n_clusters > 0 && n_labels > 0 { hungarian_min(&cost) } else { vec![None; n_clusters] };
    let mut matched: Vec<(usize, usize)> =
        matching.iter().enumerate().filter_map(|(c, m)| m.map(|label| (label, c))).collect();
    matched.sort_unstable();
    let mut order: Vec<(usize, Option<usize>)> = matched.iter().map(|&(l, c)| (c, Some(l))).collect();
    order.extend((0..n_clusters).filter(|c| matching.get(*c).is_none_or(Option::is_none)).map(|c| (c, None)));
    order
}

/// A confusion matrix: rows are labels, columns clusters in aligned order.
#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    pub n_labels: usize,
    /// The cluster (model id) of each column.
    pub columns: Vec<usize>,
    /// The label each column's cluster is matched to (`None`: left out of the matching, when
    /// there are more clusters than labels).
    pub column_label: Vec<Option<usize>>,
    /// `counts[label][column]`.
    pub counts: Vec<Vec<usize>>,
    /// `members[label][column]`: the positions (indices into the arrays it was built from) of
    /// that cell's samples, ascending.
    pub members: Vec<Vec<Vec<usize>>>,
}

impl Confusion {
    /// Builds the matrix of `pred` (cluster ids `< n_clusters`) against `truth` (label ids
    /// `< n_labels`); samples with an id out of range are left out.
    pub fn new(pred: &[usize], truth: &[usize], n_clusters: usize, n_labels: usize) -> Self {
        let (columns, column_label): (Vec<usize>, Vec<Option<usize>>) =
            alignment(pred, truth, n_clusters, n_labels).into_iter().unzip();
        let mut column_of = vec![usize::MAX; n_clusters];
        for (j, &c) in columns.iter().enumerate() {
            column_of[c] = j;
        }
        let mut members = vec![vec![Vec::new(); n_clusters]; n_labels];
        for (i, (&p, &t)) in pred.iter().zip(truth).enumerate() {
            let Some(&j) = column_of.get(p) else { continue };
            if let Some(cell) = members.get_mut(t).and_then(|r| r.get_mut(j)) {
                cell.push(i);
            }
        }
        let counts = members.iter().map(|r| r.iter().map(Vec::len).collect()).collect();
        Self { n_labels, columns, column_label, counts, members }
    }

    /// The number of samples in each column's cluster.
    pub fn cluster_sizes(&self) -> Vec<usize> {
        (0..self.columns.len()).map(|j| self.counts.iter().map(|r| r[j]).sum()).collect()
    }

    /// Each column's purity: the share of its cluster's samples that carry its majority label
    /// (`None` for an empty cluster).
    pub fn purities(&self) -> Vec<Option<f64>> {
        let sizes = self.cluster_sizes();
        (0..self.columns.len())
            .map(|j| {
                let best = self.counts.iter().map(|r| r[j]).max().unwrap_or(0);
                (sizes[j] > 0).then(|| best as f64 / sizes[j] as f64)
            })
            .collect()
    }

    /// The number of samples of each label.
    pub fn label_sizes(&self) -> Vec<usize> {
        self.counts.iter().map(|r| r.iter().sum()).collect()
    }

    /// `counts[label][column]` divided by the label's size (0 for an empty label).
    pub fn row_normalised(&self, label: usize, column: usize) -> f64 {
        let row = &self.counts[label];
        let total: usize = row.iter().sum();
        if total == 0 { 0.0 } else { row[column] as f64 / total as f64 }
    }

    /// The share of samples in a cell whose column is matched to its row: the reading's ACC
    /// (Hungarian).
    pub fn accuracy(&self) -> f64 {
        let total: usize = self.counts.iter().flatten().sum();
        let matched: usize = self
            .column_label
            .iter()
            .enumerate()
            .filter_map(|(j, l)| l.and_then(|l| self.counts.get(l)).map(|r| r[j]))
            .sum();
        if total == 0 { 0.0 } else { matched as f64 / total as f64 }
    }

    /// The matrix as a plain-text table for a terminal: one row per label (its name), one column
    /// per cluster (`c<id>`, in aligned order; a cell on the matched diagonal in brackets), then
    /// each cluster's size and purity.
    pub fn to_text(&self, label_name: impl Fn(usize) -> String) -> String {
        let names: Vec<String> = (0..self.n_labels).map(&label_name).collect();
        let first = names.iter().map(|n| n.chars().count()).chain(["purity".len()]).max().unwrap_or(6);
        let headers: Vec<String> = self.columns.iter().map(|c| format!("c{c}")).collect();
        let sizes = self.cluster_sizes();
        let purities: Vec<String> =
            self.purities().iter().map(|p| p.map_or_else(|| "-".to_owned(), |p| format!("{p:.3}"))).collect();
        let cell = |l: usize, j: usize| {
            let n = self.counts[l][j];
            if self.column_label[j] == Some(l) { format!("[{n}]") } else { n.to_string() }
        };
        let width = (0..self.columns.len())
            .map(|j| {
                (0..self.n_labels)
                    .map(|l| cell(l, j).len())
                    .chain([headers[j].len(), sizes[j].to_string().len(), purities[j].len()])
                    .max()
                    .unwrap_or(1)
            })
            .collect::<Vec<_>>();
        let mut out = format!("{:<first$}", "label");
        for (h, w) in headers.iter().zip(&width) {
            out.push_str(&format!(" {h:>w$}"));
        }
        out.push('\n');
        for (l, name) in names.iter().enumerate() {
            out.push_str(&format!("{name:<first$}"));
            for (j, w) in width.iter().enumerate() {
                out.push_str(&format!(" {:>w$}", cell(l, j)));
            }
            out.push('\n');
        }
        out.push_str(&format!("{:<first$}", "size"));
        for (s, w) in sizes.iter().zip(&width) {
            out.push_str(&format!(" {s:>w$}"));
        }
        out.push('\n');
        out.push_str(&format!("{:<first$}", "purity"));
        for (p, w) in purities.iter().zip(&width) {
            out.push_str(&format!(" {p:>w$}"));
        }
        out.push('\n');
        out
    }

    /// The matrix as CSV: one row per label, one column per cluster (`cluster <id>`, in aligned
    /// order), then the cluster sizes and purities as two more rows.
    pub fn to_csv(&self, label_name: impl Fn(usize) -> String, normalised: bool) -> String {
        let quote = |s: String| {
            if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
        };
        let mut out = String::from("true_label");
        for &c in &self.columns {
            out.push_str(&format!(",cluster {c}"));
        }
        out.push('\n');
        for (l, row) in self.counts.iter().enumerate() {
            out.push_str(&quote(label_name(l)));
            for (j, &n) in row.iter().enumerate() {
                if normalised {
                    out.push_str(&format!(",{:.6}", self.row_normalised(l, j)));
                } else {
                    out.push_str(&format!(",{n}"));
                }
            }
            out.push('\n');
        }
        out.push_str("cluster_size");
        for s in self.cluster_sizes() {
            out.push_str(&format!(",{s}"));
        }
        out.push_str("\ncluster_purity");
        for p in self.purities() {
            out.push_str(&p.map_or_else(|| ",".to_owned(), |p| format!(",{p:.6}")));
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::accuracy;

    fn is_permutation(order: &[usize], n: usize) -> bool {
        let mut seen = vec![false; n];
        order.len() == n && order.iter().all(|&c| c < n && !std::mem::replace(&mut seen[c], true))
    }

    #[test]
    fn the_alignment_is_a_permutation() {
        // A small seeded generator: predictions of every shape (more, fewer and as many
        // clusters as labels, empty clusters, noise).
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % m as u64) as usize
        };
        for case in 0..200 {
            let n_clusters = 1 + case % 7;
            let n_labels = 1 + (case / 7) % 6;
            let n = next(60);
            let truth: Vec<usize> = (0..n).map(|_| next(n_labels)).collect();
            let pred: Vec<usize> =
                truth.iter().map(|&t| if next(4) == 0 { next(n_clusters) } else { t % n_clusters }).collect();
            let order = aligned_order(&pred, &truth, n_clusters, n_labels);
            assert!(is_permutation(&order, n_clusters), "case {case}: {order:?}");
            let m = Confusion::new(&pred, &truth, n_clusters, n_labels);
            assert_eq!(m.counts.iter().flatten().sum::<usize>(), n);
            // The diagonal is the Hungarian ACC.
            if n > 0 {
                assert!((m.accuracy() - accuracy(&pred, &truth)).abs() < 1e-12, "case {case}");
            }
        }
    }

    #[test]
    fn readings_parse_from_their_names() {
        for r in Reading::ALL {
            assert_eq!(r.as_str().parse::<Reading>(), Ok(r));
        }
        let e = "purity".parse::<Reading>().unwrap_err();
        assert!(e.contains("primary, vcf or kmeans-z"), "{e}");
    }

    #[test]
    fn a_relabelled_perfect_clustering_is_diagonal() {
        let truth = [0, 0, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3];
        let perm = [2, 0, 3, 1];
        let pred: Vec<usize> = truth.iter().map(|&t| perm[t]).collect();
        let m = Confusion::new(&pred, &truth, 4, 4);
        assert_eq!(m.columns, vec![2, 0, 3, 1]);
        assert_eq!(m.column_label, vec![Some(0), Some(1), Some(2), Some(3)]);
        for l in 0..4 {
            for j in 0..4 {
                assert_eq!(m.counts[l][j] > 0, l == j);
            }
        }
        assert_eq!(m.cluster_sizes(), vec![2, 3, 1, 6]);
        assert_eq!(m.purities(), vec![Some(1.0); 4]);
        assert_eq!(m.accuracy(), 1.0);
        // Each cell remembers exactly its samples.
        assert_eq!(m.members[3][3], vec![6, 7, 8, 9, 10, 11]);
        assert_eq!(m.members[1][1], vec![2, 3, 4]);
    }

    #[test]
    fn sizes_purity_and_csv() {
        // Cluster 1 holds labels 0 (3) and 1 (1); cluster 0 holds label 1 (2).
        let truth = [0, 0, 0, 1, 1, 1];
        let pred = [1, 1, 1, 1, 0, 0];
        let m = Confusion::new(&pred, &truth, 2, 2);
        assert_eq!(m.columns, vec![1, 0]);
        assert_eq!(m.counts, vec![vec![3, 0], vec![1, 2]]);
        assert_eq!(m.purities(), vec![Some(0.75), Some(1.0)]);
        assert!((m.row_normalised(1, 1) - 2.0 / 3.0).abs() < 1e-12);
        let csv = m.to_csv(|l| ["a, x", "b"][l].to_owned(), false);
        assert_eq!(
            csv,
            "true_label,cluster 1,cluster 0\n\"a, x\",3,0\nb,1,2\ncluster_size,4,2\ncluster_purity,0.750000,1.000000\n"
        );
        assert_eq!(
            m.to_text(|l| ["digit a", "b"][l].to_owned()),
            "label      c1    c0\n\
             digit a   [3]     0\n\
             b           1   [2]\n\
             size        4     2\n\
             purity  0.750 1.000\n"
        );
        // Fewer clusters than labels: the two clusters take labels 0 and 2, in that order.
        let m = Confusion::new(&[1, 1, 0, 0, 0], &[0, 0, 1, 2, 2], 2, 3);
        assert_eq!((m.columns.clone(), m.column_label.clone()), (vec![1, 0], vec![Some(0), Some(2)]));
        assert!((m.accuracy() - 0.8).abs() < 1e-12);
        // An empty cluster has no purity.
        let m = Confusion::new(&[0, 0], &[0, 1], 3, 2);
        assert_eq!(m.cluster_sizes().iter().sum::<usize>(), 2);
        assert_eq!(m.purities().iter().filter(|p| p.is_none()).count(), 2);
    }
}
