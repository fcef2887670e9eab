//! Following a run on the trainer thread: progress bar or JSON lines, and the run store.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::data::MultiViewDataset;
use crate::engine::config::TrainConfig;
use crate::engine::protocol::{Command, EpochReport, Event, MetricsReport, Phase, RunSummary, Scores};
use crate::engine::run_log::RunLog;
use crate::engine::trainer::try_spawn_trainer;
use crate::runs::RunWriter;

fn losses_json(e: &EpochReport) -> serde_json::Value {
    let l = &e.losses;
    let mut v = json!({"event": "epoch", "phase": e.phase, "epoch": e.epoch, "global_epoch": e.global_epoch,
        "losses": {"rec": l.rec, "cluster": l.cluster, "local": l.local, "kl": l.kl, "label": l.label, "triplet": l.triplet, "total": l.total},
        "view_weights": e.view_weights, "secs": e.secs});
    if let (Some(a), Some(obj)) = (&e.adaptive, v.as_object_mut()) {
        obj.insert("adaptive".into(), serde_json::to_value(a).unwrap_or_default());
    }
    v
}

pub(crate) fn scores_json(s: &Scores) -> serde_json::Value {
    json!({"acc": s.acc, "nmi": s.nmi, "ari": s.ari, "purity": s.purity})
}

/// An evaluation's readings: CVC-AFWM's (primary, VCF head, k-means on `Z`, per view), or a
/// baseline's on its test split (`acc`/`nmi`/`ari`/`purity`: k-means on the test embeddings;
/// `knn_acc`; `violations`: the share of test triplets inside the margin).
fn readings_json(m: &MetricsReport) -> serde_json::Value {
    match &m.triplet {
        Some(t) => json!({"acc": m.mean_q.acc, "nmi": m.mean_q.nmi, "ari": m.mean_q.ari, "purity": m.mean_q.purity,
            "knn_acc": t.knn_acc, "violations": t.violations, "split": "test", "n_train": t.n_train, "n_test": t.n_test}),
        None => json!({"acc": m.mean_q.acc, "nmi": m.mean_q.nmi, "ari": m.mean_q.ari, "purity": m.mean_q.purity,
            "per_view_acc": m.per_view_acc, "vcf": scores_json(&m.vcf), "kmeans_z": scores_json(&m.kmeans_z)}),
    }
}

fn metrics_json(m: &MetricsReport) -> serde_json::Value {
    let mut v = readings_json(m);
    if let Some(o) = v.as_object_mut() {
        o.insert("event".into(), json!("metrics"));
        o.insert("epoch".into(), json!(m.global_epoch));
    }
    v
}

pub(super) fn done_json(s: &RunSummary, run_id: &str) -> serde_json::Value {
    let metrics = s.final_metrics.as_ref().map(readings_json);
    json!({"event": "done", "run": run_id, "metrics": metrics, "checkpoint": s.checkpoint, "stopped": s.stopped, "device": s.device,
        "converged": s.converged,
        "secs_per_epoch": {"pretrain": s.secs_per_epoch_pretrain, "contrastive": s.secs_per_epoch_contrastive}})
}

pub(crate) fn scores_line(name: &str, s: &Scores) -> String {
    format!("{name:<22} ACC {:.4}  NMI {:.4}  ARI {:.4}  PUR {:.4}", s.acc, s.nmi, s.ari, s.purity)
}

/// Drives a run on the trainer thread and reports its events; returns the summary.
/// With a `recorder`, every event is recorded in the run store as it comes.
pub(crate) fn drive(
    ds: MultiViewDataset,
    cfg: TrainConfig,
    out: Option<PathBuf>,
    json: bool,
    quiet: bool,
    mut recorder: Option<&mut RunWriter>,
) -> Result<RunLog, String> {
    let mut log = RunLog::starting(cfg.clone());
    let handle = try_spawn_trainer().map_err(|e| format!("cannot start the trainer thread: {e}"))?;
    handle
        .commands
        .send(Command::Start { dataset: Arc::new(ds), config: Box::new(cfg.clone()), out_dir: out })
        .map_err(|_| "the trainer thread ended before the run started".to_string())?;
    let total = (cfg.mse_epochs + cfg.con_epochs) as u64;
    let bar = (!json && !quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template("{prefix:>11} [{bar:30}] {pos}/{len} epochs  ETA {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    });
    let say = |line: String| {
        if quiet {
            return;
        }
        match &bar {
            Some(b) => b.println(line),
            None if !json => eprintln!("{line}"),
            None => {}
        }
    };
    loop {
        let Ok(event) = handle.events.recv() else {
            let why = "the trainer thread ended without a result";
            if let Some(w) = recorder.as_deref_mut() {
                w.fail(why).ok();
            }
            return Err(why.into());
        };
        if let Some(w) = recorder.as_deref_mut()
            && let Err(e) = w.observe(&event)
        {
            say(format!("warning: the run store could not record this run: {e}"));
        }
        match &event {
            Event::Started { device, device_note, n_params, total_epochs } => {
                if json && !quiet {
                    println!(
                        "{}",
                        json!({"event": "started", "device": device, "device_note": device_note, "n_params": n_params,
                            "total_epochs": total_epochs})
                    );
                }
                // What the device probe found, said once (the note says why `auto` fell back).
                match device_note {
                    Some(note) => say(format!("device: {device} — {note}")),
                    None => say(format!("device: {device}")),
                }
                say(format!("training: {n_params} parameters, {total_epochs} epochs"));
            }
            Event::Phase(p) => {
                if let Some(b) = &bar {
                    b.set_prefix(match p {
                        Phase::Pretrain => "pretrain",
                        Phase::Contrastive if cfg.model.is_baseline() => "triplet",
                        Phase::Contrastive => "contrastive",
                    });
                }
            }
            Event::Progress(p) => {
                if let Some(b) = &bar {
                    b.set_position(p.global_epoch.saturating_sub(1) as u64);
                    b.set_message(humantime(p.eta_secs));
                }
            }
            Event::Epoch(e) => {
                if json && !quiet {
                    println!("{}", losses_json(e));
                }
                if let Some(b) = &bar {
                    b.set_position(e.global_epoch as u64);
                }
                if bar.is_none() && cfg.model.is_baseline() {
                    say(format!("epoch {:>4}  triplet loss {:.5}  {:.2}s", e.epoch, e.losses.triplet, e.secs));
                } else if bar.is_none() {
                    say(format!(
                        "{:?} epoch {:>4}  loss {:.5} (rec {:.5}, cluster {:.4}, local {:.4}, kl {:.4}, label {:.4})  weights {:?}  {:.2}s",
                        e.phase,
                        e.epoch,
                        e.losses.total,
                        e.losses.rec,
                        e.losses.cluster,
                        e.losses.local,
                        e.losses.kl,
                        e.losses.label,
                        e.view_weights,
                        e.secs
                    ));
                }
            }
            Event::Metrics(m) => {
                if json && !quiet {
                    println!("{}", metrics_json(m));
                }
                match &m.triplet {
                    Some(t) => say(format!(
                        "epoch {:>4}  test: kNN ACC {:.4}  {}",
                        m.global_epoch,
                        t.knn_acc,
                        scores_line("k-means", &m.kmeans_z)
                    )),
                    None => say(format!("epoch {:>4}  {}", m.global_epoch, scores_line("primary", &m.mean_q))),
                }
            }
            Event::CheckpointSaved(_)
            | Event::Snapshot(_)
            | Event::ParamsApplied(_)
            | Event::Paused
            | Event::Resumed => {}
            Event::Warning(w) => {
                if json && !quiet {
                    println!("{}", json!({"event": "warning", "message": w}));
                }
                say(format!("warning: {w}"));
            }
            Event::Finished(_) => {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                handle.shutdown();
                log.apply(event);
                return Ok(log);
            }
            Event::Failed { error, last_checkpoint } => {
                if let Some(b) = &bar {
                    b.abandon();
                }
                let reason = error.to_string();
                if json && !quiet {
                    println!(
                        "{}",
                        json!({"event": "failed", "reason": reason, "error": error, "last_checkpoint": last_checkpoint})
                    );
                }
                handle.shutdown();
                return Err(match last_checkpoint {
                    Some(c) => format!("{reason} (the last good checkpoint is {})", c.display()),
                    None => reason.clone(),
                });
            }
        }
        log.apply(event);
    }
}

fn humantime(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 { format!("{}h{:02}m", s / 3600, (s % 3600) / 60) } else { format!("{}m{:02}s", s / 60, s % 60) }
}
