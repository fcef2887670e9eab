//! The run's snapshots over time, for the timeline scrubber: which epoch is shown (the latest,
//! or one the user pinned), playback, and the t-SNE layouts already computed (so scrubbing back
//! is instant).

use std::sync::Arc;
use std::time::Instant;

use crate::engine::protocol::EmbeddingSnapshot;

use super::{EmbeddingLayout, FeatureSource};

/// At most this many snapshots are kept; beyond it every other old one is dropped.
pub const MAX_SNAPSHOTS: usize = 200;

/// The run's snapshots and the scrubber's state.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Ascending epoch, one per epoch.
    pub snapshots: Vec<Arc<EmbeddingSnapshot>>,
    /// The epoch shown; `None` follows the latest snapshot.
    pub pinned: Option<usize>,
    pub playing: bool,
    /// Playback speed, snapshots per second.
    pub speed: f32,
    /// When playback last stepped.
    pub last_step: Option<Instant>,
    /// Lay out every snapshot in turn (the "Lay out all" button), until none is missing.
    pub lay_out_all: bool,
    /// The finished t-SNE layouts, by epoch and feature.
    cache: Vec<(usize, FeatureSource, EmbeddingLayout)>,
    /// The run the snapshots belong to (`RunLog::started_at`).
    pub owner: Option<Instant>,
    /// The last snapshot taken in (by pointer).
    pub last_seen: Option<Arc<EmbeddingSnapshot>>,
}

impl Timeline {
    /// Takes in a snapshot (replacing one of the same epoch), thinning old ones past the cap.
    pub fn push(&mut self, s: Arc<EmbeddingSnapshot>) {
        let e = s.global_epoch;
        match self.snapshots.binary_search_by_key(&e, |x| x.global_epoch) {
            Ok(i) => self.snapshots[i] = s,
            Err(i) => self.snapshots.insert(i, s),
        }
        if self.snapshots.len() > MAX_SNAPSHOTS {
            let last = self.snapshots.len() - 1;
            let pinned = self.pinned;
            let mut i = 0;
            self.snapshots.retain(|x| {
                let keep = i % 2 == 0 || i == last || Some(x.global_epoch) == pinned;
                i += 1;
                keep
            });
            let epochs: Vec<usize> = self.epochs();
            self.cache.retain(|(e, _, _)| epochs.contains(e));
        }
    }

    /// The snapshots' epochs, ascending.
    pub fn epochs(&self) -> Vec<usize> {
        self.snapshots.iter().map(|s| s.global_epoch).collect()
    }

    /// The snapshot shown: the pinned epoch's, else the latest.
    pub fn shown(&self) -> Option<&Arc<EmbeddingSnapshot>> {
        match self.pinned {
            Some(e) => self.snapshots.iter().find(|s| s.global_epoch == e),
            None => self.snapshots.last(),
        }
    }

    /// Pins the epoch `delta` snapshots away from the shown one (clamped to the ends).
    pub fn step(&mut self, delta: isize) {
        let epochs = self.epochs();
        if epochs.is_empty() {
            return;
        }
        let now = self.pinned.and_then(|e| epochs.iter().position(|&x| x == e)).unwrap_or(epochs.len() - 1);
        let next = (now as isize + delta).clamp(0, epochs.len() as isize - 1) as usize;
        self.pinned = Some(epochs[next]);
    }

    /// Whether the shown epoch is the last snapshot.
    pub fn at_end(&self) -> bool {
        self.pinned.is_none_or(|e| self.snapshots.last().is_none_or(|s| s.global_epoch == e))
    }

    /// Keeps a finished layout.
    pub fn store(&mut self, layout: &EmbeddingLayout) {
        let key = (layout.epoch(), layout.source);
        self.cache.retain(|(e, s, _)| (*e, *s) != key);
        self.cache.push((key.0, key.1, layout.clone()));
    }

    /// The finished layout of an epoch and feature, if computed.
    pub fn cached(&self, epoch: usize, source: FeatureSource) -> Option<&EmbeddingLayout> {
        self.cache.iter().find(|(e, s, _)| *e == epoch && *s == source).map(|(_, _, l)| l)
    }

    /// How many snapshots have a finished layout of `source`.
    pub fn n_cached(&self, source: FeatureSource) -> usize {
        self.snapshots.iter().filter(|s| self.cached(s.global_epoch, source).is_some()).count()
    }

    /// The first snapshot with no finished layout of `source`.
    pub fn first_missing(&self, source: FeatureSource) -> Option<usize> {
        self.snapshots.iter().map(|s| s.global_epoch).find(|&e| self.cached(e, source).is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(e: usize) -> Arc<EmbeddingSnapshot> {
        Arc::new(EmbeddingSnapshot { global_epoch: e, ..EmbeddingSnapshot::default() })
    }

    #[test]
    fn steps_stay_in_range_and_the_cap_thins_old_snapshots() {
        let mut t = Timeline::default();
        for e in [4, 2, 6, 2] {
            t.push(snap(e));
        }
        assert_eq!(t.epochs(), vec![2, 4, 6]);
        assert_eq!(t.shown().unwrap().global_epoch, 6);
        t.step(-1);
        assert_eq!(t.pinned, Some(4));
        t.step(-5);
        assert_eq!(t.pinned, Some(2));
        assert!(!t.at_end());
        t.step(9);
        assert!(t.at_end());
        for e in 7..=300 {
            t.push(snap(e));
        }
        assert!(t.snapshots.len() <= MAX_SNAPSHOTS);
        assert_eq!(t.snapshots.last().unwrap().global_epoch, 300);
        assert!(t.epochs().windows(2).all(|w| w[0] < w[1]));
    }
}
