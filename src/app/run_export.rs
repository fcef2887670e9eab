//! What an export reads, assembled from the session as plain data (`export::RunExport`): the
//! run, its dataset, the embedding on screen with its colouring, the selected sample, the
//! confusion matrix.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::export::{ColorKey, DatasetInfo, EmbeddingExport, RunExport, SampleExport};

use super::WorkbenchApp;
use super::state::{ColorBy, FeatureSource, cluster_to_label, position_in};

impl WorkbenchApp {
    /// Everything an export reads, as plain data.
    pub fn build_run_export(&self) -> RunExport {
        let session = &self.session;
        let run = &session.run;
        let dataset = session.loaded.as_ref().map_or_else(DatasetInfo::default, |l| {
            let ds = &l.dataset;
            DatasetInfo {
                name: ds.name.clone(),
                source: l.source.describe(),
                fingerprint: ds.fingerprint(),
                n_samples: ds.n_samples(),
                view_names: ds.views.iter().map(|v| v.name.clone()).collect(),
                view_dims: ds.view_dims(),
                label_variable: ds.labels.as_ref().map(|l| l.variable.clone()),
                class_names: ds
                    .labels
                    .as_ref()
                    .map_or_else(Vec::new, |l| (0..l.n_clusters()).map(|k| l.class_name(k)).collect()),
                preprocess: l.preprocess.as_str().to_owned(),
            }
        });
        // The 3-D view exports as drawn: projected at the camera's current angle.
        let cam = self.state.embedding.camera;
        let projected3d = session.embedding.layout3d.as_ref().filter(|_| self.state.embedding.three_d).map(|l| {
            super::state::EmbeddingLayout {
                snapshot: Arc::clone(&l.snapshot),
                positions: l.positions.clone(),
                coords: super::embedding3d::projected(l, &cam),
                method: super::state::LayoutMethod::Tsne { iteration: 0, total: 0, done: l.done },
                source: l.source,
            }
        });
        let mut embedding = projected3d.as_ref().or(session.embedding.layout.as_ref()).map(|l| {
            let s = &l.snapshot;
            let pick = |v: &[usize]| l.positions.iter().map(|&p| v.get(p).copied().unwrap_or(0)).collect::<Vec<_>>();
            EmbeddingExport {
                epoch: s.global_epoch,
                method: if matches!(l.method, super::state::LayoutMethod::Pca) { "PCA".into() } else { "t-SNE".into() },
                feature: match l.source {
                    FeatureSource::Fused => "Z".into(),
                    FeatureSource::View(v) => {
                        format!("h ({})", session.view_names(s.h.len()).get(v).cloned().unwrap_or_default())
                    }
                },
                color_by: match self.state.embedding.color_by {
                    ColorBy::Predicted => ColorKey::Predicted,
                    ColorBy::TrueLabel | ColorBy::Correctness if s.labels.is_none() => ColorKey::Predicted,
                    ColorBy::TrueLabel => ColorKey::TrueLabel,
                    ColorBy::Correctness => ColorKey::Correctness,
                    ColorBy::Confidence => ColorKey::Confidence,
                    ColorBy::Uncertainty => ColorKey::Uncertainty,
                    ColorBy::ViewPrediction(v) if v < s.q_views.len() => ColorKey::ViewPrediction(v),
                    ColorBy::ViewPrediction(_) => ColorKey::Predicted,
                },
                uncertainty: l.positions.iter().map(|&p| super::analysis::uncertainty_at(s, p)).collect(),
                view_predicted: match self.state.embedding.color_by {
                    ColorBy::ViewPrediction(v) if v < s.q_views.len() => Some(
                        l.positions
                            .iter()
                            .map(|&p| super::embedding::group_at(s, p, ColorBy::ViewPrediction(v)))
                            .collect(),
                    ),
                    _ => None,
                },
                view_name: match self.state.embedding.color_by {
                    ColorBy::ViewPrediction(v) => session.view_names(s.q_views.len()).get(v).cloned(),
                    _ => None,
                },
                rows: (0..l.positions.len()).filter_map(|i| l.row(i)).collect(),
                coords: l.coords.clone(),
                true_labels: s.labels.as_deref().map(pick),
                predicted: pick(&s.predicted),
                predicted_aligned: s.predicted_aligned.as_deref().map(pick),
                confidence: l.positions.iter().map(|&p| s.confidence.get(p).copied().unwrap_or(0.0)).collect(),
            }
        });
        if let (Some(e), Some(l)) =
            (embedding.as_mut(), session.embedding.layout3d.as_ref().filter(|_| projected3d.is_some()))
        {
            e.method = format!(
                "3-D {} (yaw {:.0} deg, pitch {:.0} deg)",
                if l.done { "t-SNE" } else { "PCA" },
                cam.yaw.to_degrees(),
                cam.pitch.to_degrees()
            );
        }
        let selected = session.selected.and_then(|row| {
            let s = run.snapshot.as_ref()?;
            let p = position_in(s, row)?;
            let map = cluster_to_label(s);
            Some(SampleExport {
                row,
                epoch: s.global_epoch,
                true_label: s.labels.as_ref().and_then(|l| l.get(p)).copied(),
                predicted: s.predicted.get(p).copied().unwrap_or(0),
                predicted_aligned: s.predicted_aligned.as_ref().and_then(|a| a.get(p)).copied(),
                q: s.q_mean.get(p * s.k..(p + 1) * s.k).map(<[f32]>::to_vec).unwrap_or_default(),
                cluster_names: map.iter().map(|m| m.map_or_else(String::new, |l| session.class_name(l))).collect(),
            })
        });
        RunExport {
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
            exported_at_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            dataset,
            config: run.config.clone(),
            device: run.device.clone(),
            status: run.status.label(),
            wall_secs: run.wall.or_else(|| run.started_at.map(|t| t.elapsed())).map(|d| d.as_secs_f64()),
            epochs: run.epochs.clone(),
            metrics: run.metrics.clone(),
            contrastive_from: run.contrastive_from,
            final_metrics: run
                .summary
                .as_ref()
                .and_then(|s| s.final_metrics.clone())
                .or_else(|| run.metrics.last().cloned()),
            summary: run.summary.as_deref().cloned(),
            embedding,
            selected,
            confusion: self.confusion_export(),
        }
    }
}
