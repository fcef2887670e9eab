//! Per-frame work that does not draw: draining the trainer, t-SNE, loader,
//! dialog and export channels (never blocking), automatic t-SNE, the
//! launch-time options and the frame-time benchmark.

use eframe::egui;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::TryRecvError;

use super::WorkbenchApp;
use super::state::{
    AppCommand, DatasetSource, EmbeddingLayout, ExportOutcome, ExportTarget, FeatureSource, LayoutMethod, PendingTsne,
    RunStatus, quantile,
};
use super::state::{DEMO_PRESET, FULL_DEFAULTS, preset_config};
use super::tsne::{self, TsneJob, TsneUpdate};
use super::worker::{JobKind, Poll, Worker};
use crate::data::MultiViewDataset;
use crate::engine::protocol::{EmbeddingSnapshot, Event};
use crate::engine::{TrainConfig, TrainError};

/// Longest time one frame spends draining trainer events (rerun's rule).
const DRAIN_BUDGET: Duration = Duration::from_millis(10);
/// Repaint interval while something runs in the background.
const LIVE_REPAINT: Duration = Duration::from_millis(33);

impl WorkbenchApp {
    /// Everything that arrived since the last frame.
    pub(super) fn receive(&mut self, ctx: &egui::Context) {
        self.receive_loader();
        self.receive_estimate();
        self.receive_inspection();
        self.receive_new_data();
        self.receive_dialog();
        self.receive_export();
        self.receive_trainer(ctx);
        self.receive_tsne(ctx);
        self.timeline_tick(ctx);
        self.tick_3d();
        self.maybe_auto_tsne();
        self.launch_options();

        let busy = self.session.run.status.is_active()
            || self.session.embedding.pending.is_some()
            || self.tsne3d.is_some()
            || self.loader.is_some()
            || self.exporter.is_some()
            || self.inspector_job.is_some()
            || self.update_job.is_some()
            || self.pending_start;
        if self.bench.as_ref().is_some_and(|b| !b.done) {
            ctx.request_repaint();
        } else if busy {
            ctx.request_repaint_after(LIVE_REPAINT);
        }
    }

    /// Measures a pre-training step of the demo and the full network on `ds`, one after the
    /// other, on the `mvc-estimate` thread.
    fn start_estimator(&mut self, ds: &Arc<MultiViewDataset>) {
        self.session.step_secs.clear();
        self.session.step_error = None;
        let ds = Arc::clone(ds);
        let device = self.state.config.device;
        let configs: Vec<TrainConfig> = [DEMO_PRESET, FULL_DEFAULTS]
            .iter()
            .filter_map(|name| preset_config(name).ok())
            .map(|c| TrainConfig { device, ..c })
            .collect();
        let egui_ctx = self.egui_ctx.clone();
        let work = move || {
            configs
                .iter()
                .map(|c| (crate::engine::estimate::shape_key(c), crate::engine::estimate::measure_step(&ds, c)))
                .collect()
        };
        match Worker::spawn("mvc-estimate", work, move || egui_ctx.request_repaint()) {
            Ok(w) => self.estimator = Some(w),
            Err(e) => self.session.step_error = Some(format!("the estimate thread could not start: {e}")),
        }
    }

    fn receive_estimate(&mut self) {
        let Some(task) = &mut self.estimator else { return };
        match task.poll() {
            Poll::Pending => return,
            Poll::Done(results) => {
                for (key, r) in results {
                    match r {
                        Ok(secs) => self.session.step_secs.push((key, secs)),
                        Err(why) => self.session.step_error = Some(why),
                    }
                }
            }
            Poll::Crashed(why) => self.session.step_error = Some(format!("the step measurement crashed: {why}")),
        }
        self.estimator = None;
    }

    fn receive_loader(&mut self) {
        let Some(task) = &mut self.loader else { return };
        let result = match task.poll() {
            Poll::Pending => return,
            Poll::Done(result) => result,
            Poll::Crashed(why) => {
                let what =
                    self.session.loading.as_ref().map_or_else(|| "the dataset".to_owned(), DatasetSource::display);
                self.session.notify_error(format!("the {} crashed: {why}", JobKind::Loader));
                Err(format!("the {} crashed while reading {what}: {why}", JobKind::Loader))
            }
        };
        self.loader = None;
        self.session.loading = None;
        match result {
            Ok(loaded) => {
                if let DatasetSource::File(p) = &loaded.source {
                    self.state.remember_file(p.clone());
                }
                self.state.last_dataset = Some(loaded.source.clone());
                self.session.load_error = None;
                self.session.run = Default::default();
                self.session.embedding = Default::default();
                self.session.selected = None;
                self.session.start_error = None;
                self.finished_handled = false;
                self.session.notify(format!("loaded {} in {:.2} s", loaded.dataset.name, loaded.load_secs));
                self.start_estimator(&loaded.dataset);
                self.session.loaded = Some(loaded);
                self.clear_inspection();
                if let Some(id) = self.reopen_after_load.take() {
                    self.run_command_now(AppCommand::OpenRun(id));
                }
            }
            Err(e) => {
                self.session.load_error = Some(e);
                self.reopen_after_load = None;
            }
        }
    }

    fn receive_dialog(&mut self) {
        let Some(task) = &mut self.dialog else { return };
        let pick = match task.poll() {
            Poll::Pending => return,
            Poll::Done(pick) => pick,
            Poll::Crashed(why) => {
                self.session.notify_error(format!("the {} crashed: {why}", JobKind::FileDialog));
                None
            }
        };
        self.dialog = None;
        match pick {
            Some(super::DialogPick::Dataset(p)) => self.commands.send(AppCommand::Load(DatasetSource::File(p))),
            Some(super::DialogPick::ExportDir(p)) => self.state.export.dir = p,
            None => {}
        }
    }

    fn receive_export(&mut self) {
        let Some(task) = &mut self.exporter else { return };
        let outcome = match task.poll() {
            Poll::Pending => return,
            Poll::Done(outcome) => outcome,
            Poll::Crashed(why) => {
                self.session.notify_error(format!("the {} thread crashed: {why}", JobKind::Export));
                ExportOutcome::Failed(format!("the {} thread crashed: {why}", JobKind::Export))
            }
        };
        self.exporter = None;
        self.session.export_busy = false;
        if let ExportOutcome::Written(files) = &outcome {
            let first = files.first().map(|p| p.display().to_string()).unwrap_or_default();
            self.session.notify(format!(
                "exported {} file(s): {first}{}",
                files.len(),
                if files.len() > 1 { " …" } else { "" }
            ));
        }
        self.session.export_outcome = Some(outcome);
    }

    fn receive_trainer(&mut self, ctx: &egui::Context) {
        let started = Instant::now();
        let gone = loop {
            let Some(trainer) = &mut self.trainer else { return };
            match trainer.events.try_recv() {
                Ok(event) => {
                    self.record_event(&event);
                    self.session.run.apply(event);
                    if started.elapsed() > DRAIN_BUDGET {
                        // Leave the rest for the next frame so the UI stays responsive.
                        ctx.request_repaint();
                        break None;
                    }
                }
                Err(TryRecvError::Empty) => break None,
                // Every event it sent has been read and the thread has dropped its sender.
                Err(TryRecvError::Disconnected) => break Some(trainer.panic_message(Duration::from_millis(50))),
            }
        };
        let Some(panic) = gone else { return };
        self.trainer = None;
        let what = match panic {
            Some(why) => format!("the {} thread crashed: {why}", JobKind::Trainer),
            None => format!("the {} thread stopped without reporting the end of the run", JobKind::Trainer),
        };
        if self.session.run.status.is_active() {
            let why = format!("{what} (the next run starts a fresh one)");
            let event = Event::Failed { error: TrainError::Internal { why }, last_checkpoint: None };
            self.record_event(&event);
            self.session.run.apply(event);
        }
        self.session.notify_error(what);
    }

    fn receive_tsne(&mut self, ctx: &egui::Context) {
        let Some(worker) = &mut self.tsne else { return };
        // Checked before the drain, so every update a dead thread sent is read first.
        let crash = worker.crashed();
        let mut updates = Vec::new();
        while let Some(u) = worker.try_recv() {
            updates.push(u);
        }
        for u in updates {
            self.apply_tsne_update(u);
        }
        let Some(why) = crash else { return };
        let what = format!("the {} crashed: {why}", JobKind::Tsne);
        self.tsne = None;
        self.session.tsne_paused = false;
        let emb = &mut self.session.embedding;
        emb.pending = None;
        emb.error = Some(match super::spawn_tsne(ctx) {
            Ok(w) => {
                self.tsne = Some(w);
                format!("{what}; it has been restarted: recompute to try again")
            }
            Err(e) => format!("{what}; {e}"),
        });
        self.session.notify_error(what);
    }

    fn apply_tsne_update(&mut self, update: TsneUpdate) {
        let emb = &mut self.session.embedding;
        let Some(pending) = &mut emb.pending else { return };
        let layout_for = |p: &PendingTsne, coords: &[f32], method: LayoutMethod| EmbeddingLayout {
            snapshot: Arc::clone(&p.snapshot),
            positions: p.positions.clone(),
            coords: coords.chunks_exact(2).map(|c| [c[0], c[1]]).collect(),
            method,
            source: p.source,
        };
        match update {
            TsneUpdate::Pca { job_id, coords } if job_id == pending.job_id => {
                // Show PCA at once unless a t-SNE picture of the same feature is on screen
                // (the warm-started t-SNE will move it smoothly).
                let keep =
                    emb.layout.as_ref().is_some_and(|l| l.source == pending.source && l.method != LayoutMethod::Pca);
                if !keep {
                    emb.layout = Some(layout_for(pending, &coords, LayoutMethod::Pca));
                }
            }
            TsneUpdate::Progress { job_id, iteration, total, coords } if job_id == pending.job_id => {
                pending.last_iteration = iteration;
                emb.layout = Some(layout_for(pending, &coords, LayoutMethod::Tsne { iteration, total, done: false }));
            }
            TsneUpdate::Done { job_id, coords, secs } if job_id == pending.job_id => {
                let layout = layout_for(pending, &coords, LayoutMethod::Tsne { iteration: 0, total: 0, done: true });
                self.session.timeline.store(&layout);
                emb.layout = Some(layout);
                emb.last_tsne_secs = Some(secs);
                emb.pending = None;
                emb.error = None;
            }
            TsneUpdate::Failed { job_id, reason } if job_id == pending.job_id => {
                emb.error = Some(reason);
                emb.pending = None;
            }
            _ => {}
        }
    }

    /// Recomputes t-SNE when a snapshot is `every_epochs` newer than the last one
    /// embedded, and for the final snapshot of a run.
    fn maybe_auto_tsne(&mut self) {
        let Some(snap) = self.session.run.snapshot.clone() else { return };
        if self.session.timeline.pinned.is_some() {
            // The timeline shows another epoch; `timeline_tick` lays that one out.
            return;
        }
        let emb = &self.session.embedding;
        if emb.pending.is_some() || emb.error.is_some() && emb.last_job_epoch == Some(snap.global_epoch) {
            return;
        }
        let every = self.state.embedding.every_epochs;
        let due = match emb.last_job_epoch {
            None => true,
            Some(last) if last == snap.global_epoch => false,
            Some(last) => {
                let finished = !self.session.run.status.is_active();
                finished || (every > 0 && snap.global_epoch >= last + every)
            }
        };
        if due && (every > 0 || emb.last_job_epoch.is_none()) {
            self.submit_tsne(&snap);
        }
    }

    /// Sends the snapshot's chosen feature (a capped stratified subsample) to t-SNE.
    pub(super) fn submit_tsne(&mut self, snap: &Arc<EmbeddingSnapshot>) {
        let crash = self.take_crash(JobKind::Tsne);
        let Some(worker) = &mut self.tsne else { return };
        if crash {
            worker.inject_crash();
        }
        let settings = &self.state.embedding;
        let source = match settings.source {
            FeatureSource::View(v) if v < snap.h.len() => FeatureSource::View(v),
            _ => FeatureSource::Fused,
        };
        let (data, dim) = match source {
            FeatureSource::Fused => (&snap.z, snap.z_dim),
            FeatureSource::View(v) => (&snap.h[v], snap.h_dim),
        };
        let n = snap.indices.len();
        let groups: Vec<usize> = match &snap.labels {
            Some(l) if l.len() == n => l.clone(),
            _ => snap.predicted.clone(),
        };
        let positions = tsne::stratified_subsample(&groups, settings.tsne.max_points.max(10), settings.tsne.seed);
        let mut rows = Vec::with_capacity(positions.len() * dim);
        for &p in &positions {
            if let Some(r) = data.get(p * dim..(p + 1) * dim) {
                rows.extend_from_slice(r);
            }
        }
        // Warm start from the picture on screen, point by point (same dataset row).
        let warm_start = self.session.embedding.layout.as_ref().filter(|l| l.source == source).map(|l| {
            let mut by_row = std::collections::HashMap::with_capacity(l.coords.len());
            for (i, c) in l.coords.iter().enumerate() {
                if let Some(r) = l.row(i) {
                    by_row.insert(r, *c);
                }
            }
            positions.iter().map(|&p| snap.indices.get(p).and_then(|r| by_row.get(r)).copied()).collect::<Vec<_>>()
        });
        let job_id = worker.next_job_id();
        let job = TsneJob { job_id, data: rows, dim, warm_start, params: settings.tsne.clone() };
        let emb = &mut self.session.embedding;
        emb.last_job_epoch = Some(snap.global_epoch);
        match worker.submit(job) {
            Ok(()) => {
                emb.error = None;
                emb.pending =
                    Some(PendingTsne { job_id, snapshot: Arc::clone(snap), positions, source, last_iteration: 0 });
            }
            Err(e) => emb.error = Some(e),
        }
    }

    /// `--start`, `--select`, `--export-on-finish`, `--exit-when-done`.
    fn launch_options(&mut self) {
        if self.pending_start
            && self.session.loaded.is_some()
            && self.loader.is_none()
            && !self.session.run.status.is_active()
        {
            self.pending_start = false;
            self.commands.send(AppCommand::StartRun);
        }
        if let Some(row) = self.pending_select
            && self
                .session
                .embedding
                .layout
                .as_ref()
                .is_some_and(|l| (0..l.positions.len()).any(|i| l.row(i) == Some(row)))
        {
            self.pending_select = None;
            self.session.selected = Some(row);
        }
        let finished = matches!(self.session.run.status, RunStatus::Finished { .. } | RunStatus::Failed(_));
        let settled = self.session.embedding.pending.is_none()
            && self.session.run.snapshot.as_ref().map(|s| s.global_epoch) == self.session.embedding.last_job_epoch;
        if finished && settled && !self.finished_handled {
            self.finished_handled = true;
            if let Some(dir) = self.session.run.checkpoint.clone()
                && self.session.runs.opened.is_none()
            {
                self.inspect_through_checkpoint(dir);
            }
            if let Some(dir) = self.export_on_finish.take() {
                self.state.export.dir = dir;
                self.commands.send(AppCommand::Export(ExportTarget::All));
            }
        }
        if self.exit_when_done && self.finished_handled && self.exporter.is_none() && !self.session.export_busy {
            self.egui_ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    /// Records one frame for `--bench-frames`.
    pub(super) fn bench_frame(&mut self, ui_ms: f32) {
        let points = self.session.embedding.layout.as_ref().map_or(0, |l| l.coords.len());
        let running = self.session.run.status.is_active();
        let Some(b) = &mut self.bench else { return };
        if b.done {
            return;
        }
        let now = Instant::now();
        if b.started.is_none() {
            // Measure once the embedding is on screen while training runs.
            if points > 0 && running {
                b.started = Some(now);
                b.last_frame = Some(now);
            }
            return;
        }
        if let Some(last) = b.last_frame {
            b.interval_ms.push(now.duration_since(last).as_secs_f32() * 1000.0);
        }
        b.last_frame = Some(now);
        b.ui_ms.push(ui_ms);
        b.points = b.points.max(points);
        let elapsed = b.started.map_or(0.0, |s| now.duration_since(s).as_secs_f64());
        if elapsed >= b.secs || !running {
            b.done = true;
            let report = serde_json::json!({
                "frames": b.ui_ms.len(),
                "seconds": elapsed,
                "embedding_points": b.points,
                "ui_pass_ms": { "p50": quantile(b.ui_ms.clone(), 0.5), "p95": quantile(b.ui_ms.clone(), 0.95), "max": quantile(b.ui_ms.clone(), 1.0) },
                "frame_interval_ms": { "p50": quantile(b.interval_ms.clone(), 0.5), "p95": quantile(b.interval_ms.clone(), 0.95) },
                "training_running_throughout": running,
                "dataset": self.session.loaded.as_ref().map(|l| l.dataset.name.clone()),
                "device": self.session.run.device.clone(),
            });
            let text = serde_json::to_string_pretty(&report).unwrap_or_default();
            match &b.out {
                Some(p) => {
                    if let Err(e) = crate::export::atomic_write(p, text.as_bytes()) {
                        eprintln!("frame benchmark: {e}");
                    }
                }
                None => println!("{text}"),
            }
            self.egui_ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}
