//! Degenerate clusters of a pseudo-label partition, re-seeded (`min_cluster_share`): a cluster
//! holding fewer than a share of an even cluster's size `N / K` gives its samples to their nearest
//! other cluster, and takes the smaller half of a two-means split of the largest cluster instead.
//! DeepCluster (Caron et al. 2018) does this for empty clusters; here it also catches the near-empty
//! ones a few outlying samples make: on handwritten, k-means on `Z` and then the heads gave 11–21
//! samples their own cluster and merged two digits (docs/RESULTS.md, session 51).

use crate::cluster::{KMeansParams, kmeans};

use super::refresh::{cluster_means, cluster_sizes, nearest, squared_distances};

/// Restarts of the two-means split.
const SPLIT_RESTARTS: usize = 3;

/// Re-seeds, in place, every cluster of `labels` (ids `< k`) smaller than `min_share · n / k`,
/// smallest first, from the largest cluster of the moment; `z` is row-major `n × dim` (the cluster
/// space). Stops when the largest cluster is too small to give a part that is not itself small.
/// Returns how many clusters it re-seeded.
pub fn reseed_small_clusters(
    labels: &mut [usize],
    z: &[f32],
    dim: usize,
    k: usize,
    min_share: f32,
    seed: u64,
) -> usize {
    let n = labels.len();
    if min_share <= 0.0 || k < 2 || n == 0 || dim == 0 || z.len() != n * dim {
        return 0;
    }
    let min_size = (min_share as f64 * n as f64 / k as f64).ceil() as usize;
    let mut reseeded = 0;
    // Each pass re-seeds the smallest cluster under the bound; a cluster re-seeded once is left
    // alone (at most k passes).
    let mut done = vec![false; k];
    for pass in 0..k {
        let sizes = cluster_sizes(labels, k);
        let Some(small) = (0..k).filter(|&j| !done[j] && sizes[j] < min_size).min_by_key(|&j| sizes[j]) else {
            break;
        };
        let largest = (0..k).filter(|&j| j != small).max_by_key(|&j| sizes[j]).unwrap_or(small);
        if sizes[largest] < 2 * min_size.max(1) {
            break;
        }
        // The largest cluster's own members, before the hand-over below: the split must not be
        // offered the samples that made the small cluster (it would give them their own part again).
        let members: Vec<usize> = (0..n).filter(|&i| labels[i] == largest).collect();
        // The small cluster's samples go to their nearest other cluster's mean (the small one's own
        // mean left out: a missing centre is infinitely far).
        let mut means = cluster_means(z, dim, labels, k);
        means[small] = None;
        let sq = squared_distances(z, dim, &means);
        for (label, d) in labels.iter_mut().zip(&sq) {
            if *label == small {
                *label = nearest(d).0;
            }
        }
        // The largest cluster splits in two; its smaller part becomes `small`.
        let data: Vec<f32> = members.iter().flat_map(|&i| z[i * dim..(i + 1) * dim].iter().copied()).collect();
        let params = KMeansParams { n_init: SPLIT_RESTARTS, ..KMeansParams::new(2, seed.wrapping_add(pass as u64)) };
        let Ok(split) = kmeans(&data, members.len(), dim, &params) else {
            break;
        };
        let ones = split.labels.iter().filter(|&&l| l == 1).count();
        let part = if ones * 2 <= members.len() { 1 } else { 0 };
        for (&i, &l) in members.iter().zip(&split.labels) {
            if l == part {
                labels[i] = small;
            }
        }
        done[small] = true;
        reseeded += 1;
    }
    reseeded
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four groups of 20 points on a line at 0, 10, 20 and 21 (the last two close), and three far
    /// outliers at 100: the partition that merges the close groups and gives the outliers a
    /// cluster of their own.
    fn merged_with_outliers() -> (Vec<f32>, Vec<usize>) {
        let mut z = Vec::new();
        let mut labels = Vec::new();
        for (g, (centre, label)) in [(0.0, 0), (10.0, 1), (20.0, 2), (21.0, 2)].into_iter().enumerate() {
            for i in 0..20 {
                z.push(centre + (i as f32 - 10.0) * 0.01 + g as f32 * 1e-4);
                labels.push(label);
            }
        }
        for i in 0..3 {
            z.push(100.0 + i as f32);
            labels.push(3);
        }
        (z, labels)
    }

    #[test]
    fn a_near_empty_cluster_takes_half_of_the_largest_and_gives_its_samples_away() {
        let (z, mut labels) = merged_with_outliers();
        let n = labels.len();
        assert_eq!(reseed_small_clusters(&mut labels, &z, 1, 4, 0.25, 7), 1);
        // The merged groups are apart again (one of them is cluster 3), and the outliers joined
        // their nearest cluster, the merged one's, without a cluster of their own.
        let at_20 = labels[40];
        let at_21 = labels[60];
        assert_ne!(at_20, at_21, "{labels:?}");
        assert!(labels[80..].iter().all(|&l| l == 2), "{labels:?}");
        assert!(labels[40..60].iter().all(|&l| l == at_20) && labels[60..80].iter().all(|&l| l == at_21));
        assert!(labels[..20].iter().all(|&l| l == 0) && labels[20..40].iter().all(|&l| l == 1));
        assert_eq!(cluster_sizes(&labels, 4).iter().sum::<usize>(), n);
        assert!(cluster_sizes(&labels, 4).iter().all(|&s| s >= 20), "{:?}", cluster_sizes(&labels, 4));
        assert!([at_20, at_21].contains(&2) && [at_20, at_21].contains(&3));
    }

    #[test]
    fn clusters_above_the_share_and_a_zero_share_are_left_alone() {
        let (z, labels) = merged_with_outliers();
        let mut kept = labels.clone();
        // 3 samples of 83 are 14 % of an even share (20.75): under .25, over .1.
        assert_eq!(reseed_small_clusters(&mut kept, &z, 1, 4, 0.1, 7), 0);
        assert_eq!(kept, labels);
        assert_eq!(reseed_small_clusters(&mut kept, &z, 1, 4, 0.0, 7), 0);
        assert_eq!(kept, labels);
    }

    #[test]
    fn an_empty_cluster_is_reseeded_too() {
        let (z, mut labels) = merged_with_outliers();
        // Five clusters asked for, four used: the empty fifth takes part of the largest.
        assert_eq!(reseed_small_clusters(&mut labels, &z, 1, 5, 0.1, 7), 1);
        assert!(cluster_sizes(&labels, 5).iter().all(|&s| s > 0), "{:?}", cluster_sizes(&labels, 5));
    }
}
