//! Where an online update looks for new classes: the space in which "farther than the threshold
//! from every cluster" is measured.
//!
//! A network whose view centring applies to both heads (`centring_scope = all`, and every network
//! from before the option) is measured where its heads read, the consensus `normalize(Σ_v w_v h_v)`
//! against the DEC centres, in units of one typical within-cluster distance (the median over the
//! old data). A network that centres only the contrast (`centring_scope = contrast`) is measured in
//! the contrast's own space, `normalize(Σ_v w_v normalize(W z_v + b − c_v))`: its heads read the
//! uncentred `normalize(W z_v + b)`, whose rows are nearly parallel, and there an unseen class lies
//! within the old clusters' reach (session 23: 32 of gauss3-noise's 150 new samples past the
//! threshold). In the centred space the old clusters' spreads differ (severalfold on that model:
//! .031, .088 and .039 at the median) and their members' distances have long tails, so each
//! cluster has its own radius, the distance that [`RADIUS_QUANTILE`] of its old members lie within;
//! a sample is new when it lies farther than `threshold ×` that radius from every cluster's mean.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::centres;
use crate::data::MultiViewDataset;
use crate::engine::predict::{gather, to_host};
use crate::model::{Cvc, l2_normalize};

/// The space an update measured novelty in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoveltySpace {
    /// The heads' consensus feature against the DEC centres, one radius for all clusters.
    #[default]
    Heads,
    /// The contrast's centred consensus feature against the old clusters' means there, a radius
    /// per cluster.
    Centred,
}

impl NoveltySpace {
    /// The space of `network`: centred where only its contrast is centred.
    pub fn of(network: &Cvc) -> Self {
        if network.centring.is_some() && !network.centre_heads && network.afw.residual {
            Self::Centred
        } else {
            Self::Heads
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Heads => "heads",
            Self::Centred => "centred",
        }
    }
}

/// Every sample's `normalize(Σ_v w_v normalize(W z_v + b − c_v))`, row-major `n × h_dim`, with
/// the view weights `weights` (the training-time AFW weights an evaluation reports).
pub fn centred_points(
    network: &Cvc,
    ds: &MultiViewDataset,
    weights: &[f32],
    device: &Device,
    batch: usize,
) -> Result<Vec<f32>, String> {
    let n = ds.n_samples();
    let rows: Vec<usize> = (0..n).collect();
    let mut out = Vec::new();
    for chunk in rows.chunks(batch.max(1)) {
        let xs = gather(ds, chunk, device);
        let mut sum: Option<Tensor<2>> = None;
        for (v, z) in network.latents(&xs).into_iter().enumerate() {
            let hv = network.project_centred(v, z).mul_scalar(weights.get(v).copied().unwrap_or(0.0));
            sum = Some(match sum {
                Some(s) => s + hv,
                None => hv,
            });
        }
        if let Some(s) = sum {
            out.extend(to_host(l2_normalize(s))?);
        }
    }
    Ok(out)
}

/// The share of a cluster's members within its radius.
///
/// Not the median: in the centred space the distances of a cluster's members to its mean are
/// spread wide (on the online-update test's gauss3-noise parent the old data's distance to the
/// nearest mean, in units of that cluster's median, is 1.6 at the 75th percentile, 2.9 at the
/// 95th and 5.4 at the most), so 1.5 × the median flagged 122 of the 450 old-class samples as
/// new; the unseen class lies at 12–21 × the median. 1.5 × the 95th percentile flags about 1 % of
/// the old data, fewer than a robust group needs.
pub const RADIUS_QUANTILE: f64 = 0.95;

/// The old clusters in a novelty space: each one's mean and radius (the distance of its members to
/// that mean that [`RADIUS_QUANTILE`] of them lie within). A cluster without members has neither
/// and never claims a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Clusters {
    pub dim: usize,
    /// Per cluster, its mean (`dim` values) and radius; `None` when it has no members.
    pub clusters: Vec<Option<(Vec<f64>, f64)>>,
}

impl Clusters {
    /// Measures the `k` clusters of `labels` (one per row of `points`).
    pub fn measure(points: &[f32], dim: usize, labels: &[usize], k: usize) -> Self {
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
        for (i, &l) in labels.iter().enumerate() {
            if l < k {
                members[l].push(i);
            }
        }
        let clusters = members
            .iter()
            .map(|m| {
                if m.is_empty() {
                    return None;
                }
                let mean = centres::mean_of(points, dim, m);
                let mut d: Vec<f64> = m.iter().map(|&i| distance(&points[i * dim..(i + 1) * dim], &mean)).collect();
                d.sort_by(f64::total_cmp);
                let at = ((d.len() - 1) as f64 * RADIUS_QUANTILE).round() as usize;
                Some((mean, d[at]))
            })
            .collect();
        Clusters { dim, clusters }
    }

    /// The radii, cluster by cluster (0 for an empty one).
    pub fn radii(&self) -> Vec<f64> {
        self.clusters.iter().map(|c| c.as_ref().map_or(0.0, |(_, r)| *r)).collect()
    }

    /// The means of the clusters that have members, row-major.
    pub fn means(&self) -> Vec<f64> {
        self.clusters.iter().flatten().flat_map(|(mean, _)| mean.iter().copied()).collect()
    }

    /// The largest radius.
    pub fn widest(&self) -> f64 {
        self.radii().into_iter().fold(0.0, f64::max)
    }

    /// The rows of `points` farther than `threshold ×` each cluster's radius from its mean, for
    /// every cluster.
    pub fn far(&self, points: &[f32], threshold: f64) -> Vec<usize> {
        points
            .chunks_exact(self.dim.max(1))
            .enumerate()
            .filter(|(_, x)| self.clusters.iter().flatten().all(|(mean, r)| distance(x, mean) > threshold * r))
            .map(|(i, _)| i)
            .collect()
    }
}

fn distance(x: &[f32], c: &[f64]) -> f64 {
    centres::dist2(x, c).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cluster_is_measured_by_its_own_radius() {
        // Cluster 0: four points at distance 1 from (0, 0); cluster 1: four at distance 0.1 from
        // (10, 0). A point 1.2 from cluster 0's mean is inside its reach at threshold 1.5; one 0.2
        // from cluster 1's mean is outside that cluster's (0.15) and far from cluster 0: new.
        let mut points = vec![1.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, -1.0];
        points.extend([10.1, 0.0, 9.9, 0.0, 10.0, 0.1, 10.0, -0.1]);
        let labels = [0, 0, 0, 0, 1, 1, 1, 1];
        let c = Clusters::measure(&points, 2, &labels, 3);
        let r = c.radii();
        assert!((r[0] - 1.0).abs() < 1e-6 && (r[1] - 0.1).abs() < 1e-6 && r[2] == 0.0, "{r:?}");
        assert!((c.widest() - 1.0).abs() < 1e-6);
        let probe = [1.2f32, 0.0, 10.2, 0.0, 10.05, 0.0, 5.0, 0.0];
        assert_eq!(c.far(&probe, 1.5), vec![1, 3]);
        // One radius for all (cluster 0's) would have called the second probe old.
        assert!(distance(&probe[2..4], &c.clusters[1].as_ref().unwrap().0) < 1.5 * r[0]);
    }
}
