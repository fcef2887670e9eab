//! Which triplets a batch trains on (seed 001 and its usual refinements), on host data.
//!
//! Every strategy works on a distance matrix between anchors (rows) and candidates (columns)
//! and two predicates, so the same code serves label triplets (positives: another sample of the
//! anchor's class; negatives: a sample of another class) and the unsupervised cross-view
//! triplets (positive: the anchor's own sample in the other view; negatives: every other sample).

use rand::Rng;
use serde::{Deserialize, Serialize};

/// How a batch picks each anchor's positive and negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mining {
    /// A random positive and a random negative (the seed's sampler).
    #[default]
    Random,
    /// The farthest positive and the nearest negative in the batch (Hermans et al., 2017).
    #[serde(alias = "hard")]
    BatchHard,
    /// A random positive and the nearest negative that is still farther than it, within the
    /// margin (FaceNet's semi-hard negatives); the nearest farther negative when none lies within
    /// the margin, the nearest negative when none is farther.
    #[serde(alias = "semihard")]
    SemiHard,
}

impl Mining {
    pub const ALL: [Mining; 3] = [Self::Random, Self::BatchHard, Self::SemiHard];

    pub fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::BatchHard => "batch-hard",
            Self::SemiHard => "semi-hard",
        }
    }
}

impl std::str::FromStr for Mining {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "random" => Ok(Self::Random),
            "batch-hard" | "hard" => Ok(Self::BatchHard),
            "semi-hard" | "semihard" => Ok(Self::SemiHard),
            other => Err(format!("unknown mining {other:?}; use random, batch-hard or semi-hard")),
        }
    }
}

/// Where a triplet's positive comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Positives {
    /// Another sample of the anchor's class (supervised; the seed's).
    #[default]
    #[serde(alias = "label")]
    Labels,
    /// The same sample in another view (unsupervised: no label is used in training).
    #[serde(alias = "views")]
    CrossView,
}

impl Positives {
    pub const ALL: [Positives; 2] = [Self::Labels, Self::CrossView];

    pub fn name(self) -> &'static str {
        match self {
            Self::Labels => "labels",
            Self::CrossView => "cross-view",
        }
    }
}

impl std::str::FromStr for Positives {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "labels" | "label" => Ok(Self::Labels),
            "cross-view" | "views" => Ok(Self::CrossView),
            other => Err(format!("unknown positives {other:?}; use labels or cross-view")),
        }
    }
}

/// One triplet: indices of the anchor (a row) and of its positive and negative (columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triplet {
    pub anchor: usize,
    pub positive: usize,
    pub negative: usize,
}

/// A row-major `rows × cols` matrix of squared Euclidean distances between anchors (rows) and
/// candidates (columns).
#[derive(Debug, Clone, Copy)]
pub struct Distances<'a> {
    pub values: &'a [f32],
    pub rows: usize,
    pub cols: usize,
}

/// The triplets of a batch: for each anchor row `a` of `dist`, a positive `p` with
/// `is_pos(a, p)` and a negative `n` with `is_neg(a, n)`, by `mining` (semi-hard compares
/// `√dist` with `margin`). An anchor without a positive or a negative gives no triplet.
pub fn mine(
    dist: Distances<'_>,
    is_pos: impl Fn(usize, usize) -> bool,
    is_neg: impl Fn(usize, usize) -> bool,
    (mining, margin): (Mining, f32),
    rng: &mut impl Rng,
) -> Vec<Triplet> {
    let Distances { values: dist, rows, cols } = dist;
    assert_eq!(dist.len(), rows * cols, "the distance matrix is rows × cols");
    let mut out = Vec::with_capacity(rows);
    let mut pos = Vec::new();
    let mut neg = Vec::new();
    for a in 0..rows {
        let d = &dist[a * cols..(a + 1) * cols];
        pos.clear();
        neg.clear();
        pos.extend((0..cols).filter(|&j| is_pos(a, j)));
        neg.extend((0..cols).filter(|&j| is_neg(a, j)));
        if pos.is_empty() || neg.is_empty() {
            continue;
        }
        let nearest = |c: &[usize]| c.iter().copied().min_by(|&x, &y| d[x].total_cmp(&d[y]));
        let (positive, negative) = match mining {
            Mining::Random => (pos[rng.random_range(0..pos.len())], neg[rng.random_range(0..neg.len())]),
            Mining::BatchHard => {
                let p = pos.iter().copied().max_by(|&x, &y| d[x].total_cmp(&d[y])).unwrap_or(pos[0]);
                (p, nearest(&neg).unwrap_or(neg[0]))
            }
            Mining::SemiHard => {
                let p = pos[rng.random_range(0..pos.len())];
                // Distances may be squared: compare on the Euclidean scale the margin is in.
                let dp = d[p].max(0.0).sqrt();
                let farther: Vec<usize> = neg.iter().copied().filter(|&j| d[j].max(0.0).sqrt() > dp).collect();
                let within: Vec<usize> =
                    farther.iter().copied().filter(|&j| d[j].max(0.0).sqrt() < dp + margin).collect();
                let n = nearest(&within).or_else(|| nearest(&farther)).or_else(|| nearest(&neg)).unwrap_or(neg[0]);
                (p, n)
            }
        };
        out.push(Triplet { anchor: a, positive, negative });
    }
    out
}

/// Label triplets drawn from the whole training set, as the seed's `Dataset.__getitem__`: for
/// each anchor a uniformly random other sample of its class and one of another class. `by_class`
/// lists the training rows of each class. Anchors whose class has no other sample, or when there
/// is one class only, give no triplet.
pub fn random_label_triplets(
    anchors: &[usize],
    labels: &[usize],
    by_class: &[Vec<usize>],
    rng: &mut impl Rng,
) -> Vec<Triplet> {
    let total: usize = by_class.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(anchors.len());
    for &a in anchors {
        let c = labels[a];
        let same = &by_class[c];
        let others = total - same.len();
        if same.len() < 2 || others == 0 {
            continue;
        }
        let positive = loop {
            let p = same[rng.random_range(0..same.len())];
            if p != a {
                break p;
            }
        };
        // The k-th sample of the other classes, in class order.
        let mut k = rng.random_range(0..others);
        let mut negative = a;
        for (cls, rows) in by_class.iter().enumerate() {
            if cls == c {
                continue;
            }
            if k < rows.len() {
                negative = rows[k];
                break;
            }
            k -= rows.len();
        }
        out.push(Triplet { anchor: a, positive, negative });
    }
    out
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn m(values: &[f32], rows: usize, cols: usize) -> Distances<'_> {
        Distances { values, rows, cols }
    }

    /// Four samples, classes [0, 0, 1, 1]; distances chosen so the hardest picks are unique.
    fn batch() -> (Vec<f32>, Vec<usize>) {
        #[rustfmt::skip]
        let d = vec![
            0.0, 2.0, 1.0, 5.0,
            2.0, 0.0, 4.0, 3.0,
            1.0, 4.0, 0.0, 6.0,
            5.0, 3.0, 6.0, 0.0,
        ];
        (d, vec![0, 0, 1, 1])
    }

    #[test]
    fn batch_hard_picks_the_farthest_positive_and_the_nearest_negative() {
        let (d, y) = batch();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t =
            mine(m(&d, 4, 4), |a, j| a != j && y[a] == y[j], |a, j| y[a] != y[j], (Mining::BatchHard, 1.0), &mut rng);
        let got: Vec<(usize, usize, usize)> = t.iter().map(|t| (t.anchor, t.positive, t.negative)).collect();
        // Anchor 0: positive 1 (the only one), nearest negative 2 (d 1 < 5).
        // Anchor 1: positive 0, nearest negative 3 (d 3 < 4). Anchor 2: positive 3, negative 0 (1 < 4).
        // Anchor 3: positive 2, negative 1 (3 < 5).
        assert_eq!(got, vec![(0, 1, 2), (1, 0, 3), (2, 3, 0), (3, 2, 1)]);
    }

    #[test]
    fn semi_hard_takes_the_nearest_negative_beyond_the_positive() {
        // One anchor, positive at distance 2, negatives at 1 (too hard), 2.5 and 3 (semi-hard), 9.
        let d = vec![0.0, 4.0, 1.0, 6.25, 9.0, 81.0]; // squared distances
        let y = [0, 0, 1, 1, 1, 1];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t =
            mine(m(&d, 1, 6), |a, j| a != j && y[a] == y[j], |a, j| y[a] != y[j], (Mining::SemiHard, 2.0), &mut rng);
        assert_eq!(t, vec![Triplet { anchor: 0, positive: 1, negative: 3 }]);
        // With a margin too small for any negative to lie within it: the nearest farther one.
        let t =
            mine(m(&d, 1, 6), |a, j| a != j && y[a] == y[j], |a, j| y[a] != y[j], (Mining::SemiHard, 0.1), &mut rng);
        assert_eq!(t[0].negative, 3);
    }

    #[test]
    fn cross_view_triplets_use_the_same_sample_as_the_positive() {
        let (d, _) = batch();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let t = mine(m(&d, 4, 4), |a, j| a == j, |a, j| a != j, (Mining::BatchHard, 1.0), &mut rng);
        assert!(t.iter().all(|t| t.positive == t.anchor && t.negative != t.anchor));
        assert_eq!(t[0].negative, 2);
    }

    #[test]
    fn random_label_triplets_respect_the_classes() {
        let labels = vec![0, 1, 0, 1, 2, 2, 0];
        let by_class = vec![vec![0, 2, 6], vec![1, 3], vec![4, 5]];
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..50 {
            let t = random_label_triplets(&[0, 1, 4, 6], &labels, &by_class, &mut rng);
            assert_eq!(t.len(), 4);
            for t in t {
                assert_ne!(t.positive, t.anchor);
                assert_eq!(labels[t.positive], labels[t.anchor]);
                assert_ne!(labels[t.negative], labels[t.anchor]);
            }
        }
    }
}
