//! One run's state, folded from the trainer's [`Event`]s: the app's run view, the CLI's progress
//! and summary, `serve`'s `/runs/{id}` and the run store's records all read this one model.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::engine::TrainConfig;
use crate::engine::error::TrainError;
use crate::engine::protocol::{
    EmbeddingSnapshot, EpochReport, Event, LiveParams, MetricsReport, Phase, Progress, RunSummary, Scores,
    TripletScores,
};

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RunStatus {
    #[default]
    Idle,
    /// Start sent, `Started` not yet received.
    Starting,
    Running,
    Paused,
    Finished {
        stopped: bool,
    },
    Failed(Failure),
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reason: String,
    /// The trainer itself broke (a panic, i.e. a bug): [`TrainError::is_internal`].
    pub internal: bool,
    /// A loss became NaN or infinite: [`TrainError::is_diverged`].
    pub diverged: bool,
}

impl Failure {
    /// The failure a trainer's error describes.
    pub fn of(error: &TrainError) -> Self {
        Self { reason: error.to_string(), internal: error.is_internal(), diverged: error.is_diverged() }
    }
}

impl RunStatus {
    /// A run is in progress (parameters other than the live ones are locked).
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Starting | Self::Running | Self::Paused)
    }

    pub fn label(&self) -> String {
        match self {
            Self::Idle => "idle".into(),
            Self::Starting => "starting".into(),
            Self::Running => "running".into(),
            Self::Paused => "paused".into(),
            Self::Finished { stopped: false } => "finished".into(),
            Self::Finished { stopped: true } => "stopped".into(),
            Self::Failed(f) if f.diverged => "diverged".into(),
            Self::Failed(_) => "failed".into(),
        }
    }
}

/// One reading of the model at one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub global_epoch: usize,
    pub scores: Scores,
}

/// The three numbers a run is reported by. `best` is chosen by ACC against the labels, so it is
/// **label-selected**: an upper bound that no unsupervised method could pick, never a result on
/// its own.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Readings {
    /// The primary reading (argmax of the mean `q`) at the last evaluated epoch.
    pub final_epoch: Option<Reading>,
    /// k-means on the fused `Z` at the last evaluated epoch.
    pub kmeans_z: Option<Reading>,
    /// The evaluated epoch with the highest primary ACC (label-selected).
    pub best_label_selected: Option<Reading>,
    /// A metric-learning baseline's test-split readings at the last evaluated epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triplet: Option<TripletScores>,
}

impl Readings {
    /// The readings of a metrics history (the last report is the final one).
    pub fn from_metrics(metrics: &[MetricsReport], final_metrics: Option<&MetricsReport>) -> Self {
        let last = final_metrics.or_else(|| metrics.iter().max_by_key(|m| m.global_epoch));
        let best = metrics.iter().chain(final_metrics).max_by(|a, b| a.mean_q.acc.total_cmp(&b.mean_q.acc));
        Readings {
            final_epoch: last.map(|m| Reading { global_epoch: m.global_epoch, scores: m.mean_q }),
            kmeans_z: last.map(|m| Reading { global_epoch: m.global_epoch, scores: m.kmeans_z }),
            best_label_selected: best.map(|m| Reading { global_epoch: m.global_epoch, scores: m.mean_q }),
            triplet: last.and_then(|m| m.triplet),
        }
    }
}

/// What one training run has reported so far.
#[derive(Debug, Clone, Default)]
pub struct RunLog {
    pub status: RunStatus,
    pub config: Option<TrainConfig>,
    pub device: Option<String>,
    pub n_params: usize,
    pub total_epochs: usize,
    pub phase: Option<Phase>,
    pub progress: Option<Progress>,
    pub epochs: Vec<EpochReport>,
    pub metrics: Vec<MetricsReport>,
    pub snapshot: Option<Arc<EmbeddingSnapshot>>,
    /// First global epoch of the contrastive phase.
    pub contrastive_from: Option<usize>,
    pub warnings: Vec<String>,
    pub summary: Option<Box<RunSummary>>,
    pub checkpoint: Option<PathBuf>,
    /// The learning rate now in force (the configured one until a live update changes it).
    pub learning_rate: Option<f64>,
    /// The last event worth a status line, and when it came.
    pub last_event: Option<(String, Instant)>,
    pub started_at: Option<Instant>,
    pub wall: Option<Duration>,
    /// Events applied (for tests and the status bar).
    pub n_events: usize,
}

impl RunLog {
    /// A fresh log for a run that is about to start.
    pub fn starting(config: TrainConfig) -> Self {
        Self {
            status: RunStatus::Starting,
            learning_rate: Some(config.learning_rate),
            config: Some(config),
            started_at: Some(Instant::now()),
            ..Self::default()
        }
    }

    /// Folds one trainer event into the log.
    pub fn apply(&mut self, event: Event) {
        self.n_events += 1;
        let what: String = match event {
            Event::Started { device, device_note, n_params, total_epochs } => {
                let s = match device_note {
                    Some(note) => format!("started on {device} — {note}"),
                    None => format!("started on {device}"),
                };
                self.device = Some(device);
                self.n_params = n_params;
                self.total_epochs = total_epochs;
                self.status = RunStatus::Running;
                s
            }
            Event::Phase(p) => {
                self.phase = Some(p);
                if p == Phase::Contrastive && self.contrastive_from.is_none() {
                    self.contrastive_from = Some(self.epochs.last().map_or(1, |e| e.global_epoch + 1));
                }
                format!("phase {}", p.label())
            }
            Event::Progress(p) => {
                self.progress = Some(p);
                // Progress is frequent: it does not replace the last event line.
                return;
            }
            Event::Epoch(r) => {
                let s = format!("epoch {} ({}) loss {:.4}", r.global_epoch, r.phase.label(), r.losses.total);
                if r.phase == Phase::Contrastive && self.contrastive_from.is_none() {
                    self.contrastive_from = Some(r.global_epoch);
                }
                // A history resent after a drop never duplicates an epoch.
                self.epochs.retain(|e| e.global_epoch != r.global_epoch);
                self.epochs.push(r);
                s
            }
            Event::Metrics(m) => {
                let s = format!("metrics at epoch {}: ACC {:.3}", m.global_epoch, m.mean_q.acc);
                self.metrics.retain(|x| x.global_epoch != m.global_epoch);
                self.metrics.push(m);
                s
            }
            Event::Snapshot(s) => {
                let line = format!("embedding snapshot at epoch {} ({} points)", s.global_epoch, s.indices.len());
                self.snapshot = Some(Arc::new(*s));
                line
            }
            Event::ParamsApplied(p) => {
                if let Some(lr) = p.learning_rate {
                    self.learning_rate = Some(lr);
                }
                format!("live parameters applied: {}", describe_live(&p))
            }
            Event::Paused => {
                self.status = RunStatus::Paused;
                "paused".into()
            }
            Event::Resumed => {
                self.status = RunStatus::Running;
                "resumed".into()
            }
            Event::CheckpointSaved(p) => {
                let s = format!("checkpoint saved: {}", p.display());
                self.checkpoint = Some(p);
                s
            }
            Event::Warning(w) => {
                let s = format!("warning: {w}");
                self.warnings.push(w);
                s
            }
            Event::Finished(summary) => {
                self.status = RunStatus::Finished { stopped: summary.stopped };
                // The summary's history is complete even when epoch events were dropped.
                if summary.epochs.len() > self.epochs.len() {
                    self.epochs.clone_from(&summary.epochs);
                }
                if summary.metrics.len() > self.metrics.len() {
                    self.metrics.clone_from(&summary.metrics);
                }
                if self.contrastive_from.is_none() {
                    self.contrastive_from =
                        self.epochs.iter().find(|e| e.phase == Phase::Contrastive).map(|e| e.global_epoch);
                }
                self.device.get_or_insert_with(|| summary.device.clone());
                if summary.checkpoint.is_some() {
                    self.checkpoint.clone_from(&summary.checkpoint);
                }
                self.wall = self.started_at.map(|t| t.elapsed());
                let s = match (summary.stopped, summary.converged) {
                    (true, _) => "stopped; results so far kept".to_string(),
                    (false, Some(c)) => {
                        format!(
                            "finished early: {}",
                            c.sentence(summary.config.stop_tolerance, summary.config.con_epochs)
                        )
                    }
                    (false, None) => "finished".to_string(),
                };
                self.summary = Some(summary);
                s
            }
            Event::Failed { error, last_checkpoint } => {
                let reason = error.to_string();
                let s = match &last_checkpoint {
                    Some(p) => format!("failed: {reason} (last checkpoint {})", p.display()),
                    None => format!("failed: {reason}"),
                };
                self.status = RunStatus::Failed(Failure::of(&error));
                self.wall = self.started_at.map(|t| t.elapsed());
                if last_checkpoint.is_some() {
                    self.checkpoint = last_checkpoint;
                }
                s
            }
        };
        self.last_event = Some((what, Instant::now()));
    }

    /// The final, k-means and best (label-selected) readings so far.
    pub fn readings(&self) -> Readings {
        let final_metrics = self.summary.as_ref().and_then(|s| s.final_metrics.as_ref());
        Readings::from_metrics(&self.metrics, final_metrics)
    }

    /// Why the clustering phase ended before its last epoch, when the clusters settled
    /// (`stop_tolerance`).
    pub fn convergence_line(&self) -> Option<String> {
        let s = self.summary.as_ref()?;
        s.converged.map(|c| c.sentence(s.config.stop_tolerance, s.config.con_epochs))
    }

    /// The failure, when the run failed.
    pub fn failure(&self) -> Option<&Failure> {
        match &self.status {
            RunStatus::Failed(f) => Some(f),
            _ => None,
        }
    }

    /// Fraction done, phase, epoch and ETA for a progress bar.
    pub fn progress_line(&self) -> Option<(f32, String)> {
        let p = self.progress?;
        let total = p.total_epochs.max(1) as f32;
        let within = if p.n_batches > 0 { p.batch as f32 / p.n_batches as f32 } else { 0.0 };
        let frac = ((p.global_epoch as f32 - 1.0 + within) / total).clamp(0.0, 1.0);
        let text = format!(
            "{} epoch {} · {}/{} overall · ETA {}",
            p.phase.label(),
            p.epoch,
            p.global_epoch,
            p.total_epochs,
            format_secs(p.eta_secs)
        );
        Some((frac, text))
    }
}

/// `42s`, `3m07s`, `1h05m`; `–` for an unknown time.
pub fn format_secs(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "–".into();
    }
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn describe_live(p: &LiveParams) -> String {
    let mut parts = Vec::new();
    if let Some(v) = p.learning_rate {
        parts.push(format!("lr {v:.2e}"));
    }
    if let Some(v) = p.threshold {
        parts.push(format!("threshold {v:.2}"));
    }
    if let Some(v) = p.temperature_f {
        parts.push(format!("τ_F {v:.2}"));
    }
    if let Some(v) = p.temperature_l {
        parts.push(format!("τ_L {v:.3}"));
    }
    if let Some(v) = p.weight_temperature {
        parts.push(format!("γ {v:.2}"));
    }
    if let Some(v) = p.knn_weight {
        parts.push(format!("kNN weight {v:.2}"));
    }
    if p.loss.is_some() {
        parts.push("loss weights".into());
    }
    if parts.is_empty() { "none".into() } else { parts.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::protocol::{LossTerm, Losses};

    fn epoch(g: usize, phase: Phase) -> EpochReport {
        EpochReport {
            phase,
            epoch: g,
            global_epoch: g,
            losses: Losses { total: 1.0 / g as f64, ..Losses::default() },
            view_weights: vec![0.5, 0.5],
            secs: 0.1,
            lr: 1e-3,
            adaptive: None,
        }
    }

    fn metrics(g: usize, acc: f64) -> MetricsReport {
        let s = Scores { acc, nmi: acc / 2.0, ari: acc / 3.0, purity: acc };
        MetricsReport {
            global_epoch: g,
            mean_q: s,
            vcf: s,
            kmeans_z: Scores { acc: 0.5, ..s },
            per_view_acc: vec![],
            per_view: vec![],
            view_agreement: vec![],
            per_view_kmeans: vec![],
            triplet: None,
        }
    }

    #[test]
    fn events_fold_into_the_log() {
        let mut r = RunLog::starting(TrainConfig::default());
        r.apply(Event::Started { device: "flex (CPU)".into(), device_note: None, n_params: 10, total_epochs: 3 });
        r.apply(Event::Phase(Phase::Pretrain));
        r.apply(Event::Epoch(epoch(1, Phase::Pretrain)));
        r.apply(Event::Phase(Phase::Contrastive));
        r.apply(Event::Epoch(epoch(2, Phase::Contrastive)));
        r.apply(Event::Epoch(epoch(2, Phase::Contrastive)));
        assert_eq!(r.status, RunStatus::Running);
        assert_eq!(r.epochs.len(), 2);
        assert_eq!(r.contrastive_from, Some(2));
        r.apply(Event::Paused);
        assert!(r.status.is_active());
        r.apply(Event::Failed { error: TrainError::data("view 2 contains NaN"), last_checkpoint: None });
        assert!(!r.status.is_active());
        assert_eq!(r.status.label(), "failed");
        assert!(r.last_event.as_ref().is_some_and(|(s, _)| s.contains("NaN")));
    }

    #[test]
    fn divergence_is_its_own_status() {
        let mut r = RunLog::starting(TrainConfig::default());
        let error = TrainError::Diverged {
            term: LossTerm::Total,
            value: f32::NAN,
            phase: Phase::Contrastive,
            epoch: 3,
            batch: 1,
            n_batches: 4,
            lr: 1e-3,
        };
        r.apply(Event::Failed { error, last_checkpoint: None });
        assert_eq!(r.status.label(), "diverged");
        let mut r = RunLog::starting(TrainConfig::default());
        r.apply(Event::Failed {
            error: TrainError::settings("training diverged in wording only"),
            last_checkpoint: None,
        });
        assert_eq!(r.status.label(), "failed", "the variant, not the wording, decides");
    }

    #[test]
    fn best_is_the_highest_acc_and_final_the_last() {
        let ms = vec![metrics(2, 0.6), metrics(4, 0.9), metrics(6, 0.7)];
        let r = Readings::from_metrics(&ms, None);
        assert_eq!(r.final_epoch.map(|x| x.global_epoch), Some(6));
        assert_eq!(r.best_label_selected.map(|x| x.global_epoch), Some(4));
        assert_eq!(r.kmeans_z.map(|x| x.scores.acc), Some(0.5));
        assert_eq!(Readings::from_metrics(&[], None), Readings::default());
    }
}
