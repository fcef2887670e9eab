//! The 3-D view's layouts (an `impl WorkbenchApp` block, no drawing): when the view is on, the
//! shown snapshot's chosen feature is laid out in 3-D on an `mvc-tsne3d` thread (its 3-D PCA is
//! on screen at once), the same stratified sample of points as the 2-D view.

use std::sync::Arc;

use crate::analysis::embed::{TsneSettings, pca, tsne};

use super::WorkbenchApp;
use super::state::{FeatureSource, Layout3d};
use super::tsne::stratified_subsample;
use super::worker::{Poll, Worker};

/// A 3-D t-SNE in flight: its epoch, feature, points and thread.
pub(super) struct Job3d {
    epoch: usize,
    source: FeatureSource,
    worker: Worker<Result<Vec<f32>, String>>,
}

impl WorkbenchApp {
    /// Starts the shown snapshot's 3-D layout when the view wants one, and takes in a finished one.
    pub(super) fn tick_3d(&mut self) {
        if let Some(job) = &mut self.tsne3d {
            let outcome = match job.worker.poll() {
                Poll::Pending => None,
                Poll::Done(r) => Some(r),
                Poll::Crashed(why) => Some(Err(format!("the 3-D t-SNE thread crashed: {why}"))),
            };
            if let Some(result) = outcome {
                let (epoch, source) = (job.epoch, job.source);
                self.tsne3d = None;
                let emb = &mut self.session.embedding;
                match result {
                    Ok(coords) => {
                        if let Some(l) = emb.layout3d.as_mut().filter(|l| l.epoch() == epoch && l.source == source) {
                            l.coords = coords.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
                            l.done = true;
                        }
                        emb.error3d = None;
                    }
                    Err(e) => emb.error3d = Some(e),
                }
            }
        }
        if !self.state.embedding.three_d || self.tsne3d.is_some() {
            return;
        }
        let Some(snap) = self.session.current_snapshot().cloned() else { return };
        let settings = &self.state.embedding;
        let source = match settings.source {
            FeatureSource::View(v) if v < snap.h.len() => FeatureSource::View(v),
            _ => FeatureSource::Fused,
        };
        if self
            .session
            .embedding
            .layout3d
            .as_ref()
            .is_some_and(|l| l.epoch() == snap.global_epoch && l.source == source)
        {
            return;
        }
        let (data, dim) = match source {
            FeatureSource::Fused => (&snap.z, snap.z_dim),
            FeatureSource::View(v) => (&snap.h[v], snap.h_dim),
        };
        let groups: Vec<usize> = snap.labels.clone().unwrap_or_else(|| snap.predicted.clone());
        let positions = stratified_subsample(&groups, settings.tsne.max_points.max(10), settings.tsne.seed);
        let mut rows = Vec::with_capacity(positions.len() * dim);
        for &p in &positions {
            if let Some(r) = data.get(p * dim..(p + 1) * dim) {
                rows.extend_from_slice(r);
            }
        }
        let start = pca(&rows, dim, 3, settings.tsne.seed);
        self.session.embedding.layout3d = Some(Layout3d {
            snapshot: Arc::clone(&snap),
            positions,
            coords: start.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect(),
            source,
            done: false,
        });
        let params = TsneSettings {
            perplexity: settings.tsne.perplexity,
            iterations: settings.tsne.iterations,
            theta: Some(settings.tsne.theta),
            seed: settings.tsne.seed,
            learning_rate: None,
        };
        let work = move || tsne(&rows, dim, 3, &params);
        match Worker::spawn("mvc-tsne3d", work, self.wake()) {
            Ok(worker) => self.tsne3d = Some(Job3d { epoch: snap.global_epoch, source, worker }),
            Err(e) => self.session.embedding.error3d = Some(format!("could not start the 3-D t-SNE thread: {e}")),
        }
    }
}
