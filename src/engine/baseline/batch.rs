//! One training batch of a baseline: its triplets (the seed's sampler, or mined in the batch;
//! label or cross-view positives) and their mean triplet loss.

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::BaselineRun;
use crate::engine::config::{Mining, Positives};
use crate::engine::error::TrainError;
use crate::loss::mining::{Distances, Triplet, mine, random_label_triplets};
use crate::loss::triplet::{squared_distances, triplet_loss};
use crate::model::triplet::TripletNet;

impl BaselineRun<'_> {
    /// The mean triplet loss of one batch of training rows (`None`: the batch gave no triplet).
    pub(super) fn batch_loss(
        &self,
        net: &TripletNet,
        rows: &[usize],
        labels: Option<&[usize]>,
        by_class: Option<&[Vec<usize>]>,
        ad: &Device,
        rng: &mut ChaCha8Rng,
    ) -> Result<Option<Tensor<1>>, TrainError> {
        let x = |v: usize, rows: &[usize]| {
            let view = &self.ds.views[v].data;
            Tensor::<2>::from_data(TensorData::new(view.gather_rows(rows), [rows.len(), view.cols()]), ad)
        };
        let margin = self.cfg.margin;
        let n_views = self.ds.n_views();
        let mut losses = Vec::new();
        match (self.cfg.positives, labels, by_class) {
            (Positives::Labels, Some(labels), Some(by_class)) => {
                if self.cfg.mining == Mining::Random {
                    // The seed's sampler: partners drawn from the whole training split.
                    let t = random_label_triplets(rows, labels, by_class, rng);
                    if t.is_empty() {
                        return Ok(None);
                    }
                    let mut all: Vec<usize> = t.iter().map(|t| t.anchor).collect();
                    all.extend(t.iter().map(|t| t.positive));
                    all.extend(t.iter().map(|t| t.negative));
                    let m = t.len();
                    for v in 0..n_views {
                        let e = net.embed(v, x(v, &all));
                        let (a, p, n) = (e.clone().narrow(0, 0, m), e.clone().narrow(0, m, m), e.narrow(0, 2 * m, m));
                        losses.push(triplet_loss(a, p, n, margin));
                    }
                } else {
                    let y: Vec<usize> = rows.iter().map(|&r| labels[r]).collect();
                    for v in 0..n_views {
                        let e = net.embed(v, x(v, rows));
                        let t = self.mined(&e, &e, |a, j| a != j && y[a] == y[j], |a, j| y[a] != y[j], rng)?;
                        if let Some(l) = triplet_loss_of(&e, &e, &t, margin, ad) {
                            losses.push(l);
                        }
                    }
                }
            }
            (Positives::CrossView, _, _) => {
                // Each view against the next (the last against the first), both directions.
                let embedded: Vec<Tensor<2>> = (0..n_views).map(|v| net.embed(v, x(v, rows))).collect();
                let pairs: Vec<(usize, usize)> =
                    if n_views == 2 { vec![(0, 1)] } else { (0..n_views).map(|v| (v, (v + 1) % n_views)).collect() };
                for (v, w) in pairs {
                    for (a, c) in [(v, w), (w, v)] {
                        let (ea, ec) = (&embedded[a], &embedded[c]);
                        let t = self.mined(ea, ec, |i, j| i == j, |i, j| i != j, rng)?;
                        if let Some(l) = triplet_loss_of(ea, ec, &t, margin, ad) {
                            losses.push(l);
                        }
                    }
                }
            }
            (Positives::Labels, _, _) => return Err(TrainError::data("label positives need labels")),
        }
        if losses.is_empty() {
            return Ok(None);
        }
        let n = losses.len() as f32;
        Ok(Some(Tensor::cat(losses, 0).sum().div_scalar(n)))
    }

    /// The batch's triplets between anchors `a` and candidates `c` by the run's mining (random
    /// mining draws uniformly among the batch's positives and negatives).
    pub(super) fn mined(
        &self,
        a: &Tensor<2>,
        c: &Tensor<2>,
        is_pos: impl Fn(usize, usize) -> bool,
        is_neg: impl Fn(usize, usize) -> bool,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<Triplet>, TrainError> {
        let (rows, cols) = (a.dims()[0], c.dims()[0]);
        let d: Vec<f32> = squared_distances(a.clone().detach(), c.clone().detach())
            .into_data()
            .try_to_vec()
            .map_err(|e| TrainError::device(format!("reading the batch's distances back failed: {e:?}")))?;
        Ok(mine(Distances { values: &d, rows, cols }, is_pos, is_neg, (self.cfg.mining, self.cfg.margin), rng))
    }
}

/// The mean triplet loss of `triplets` (anchors rows of `a`, positives and negatives rows of `c`).
fn triplet_loss_of(
    a: &Tensor<2>,
    c: &Tensor<2>,
    triplets: &[Triplet],
    margin: f32,
    device: &Device,
) -> Option<Tensor<1>> {
    if triplets.is_empty() {
        return None;
    }
    let idx = |f: fn(&Triplet) -> usize| {
        let v: Vec<i64> = triplets.iter().map(|t| f(t) as i64).collect();
        Tensor::<1, Int>::from_ints(TensorData::new(v, [triplets.len()]), device)
    };
    let anchors = a.clone().select(0, idx(|t| t.anchor));
    let positives = c.clone().select(0, idx(|t| t.positive));
    let negatives = c.clone().select(0, idx(|t| t.negative));
    Some(triplet_loss(anchors, positives, negatives, margin))
}
