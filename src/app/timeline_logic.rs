//! The timeline's per-frame work (an `impl WorkbenchApp` block, no drawing): taking in the run's
//! snapshots, playback, "lay out all", and putting the shown epoch's layout in the embedding —
//! from the cache when it was computed before, else as a t-SNE job on the `mvc-tsne` thread,
//! warm-started from the layout on screen so clusters do not jump.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;

use super::WorkbenchApp;
use super::state::{FeatureSource, Timeline, TimelineCommand};

impl WorkbenchApp {
    /// The feature the embedding lays out now.
    fn timeline_source(&self) -> FeatureSource {
        let n_views = self.session.run.snapshot.as_ref().map_or(0, |s| s.h.len());
        match self.state.embedding.source {
            FeatureSource::View(v) if v < n_views => FeatureSource::View(v),
            _ => FeatureSource::Fused,
        }
    }

    /// Takes the run's newest snapshot into the timeline; another run starts a new timeline.
    pub(super) fn collect_snapshot(&mut self) {
        let run = &self.session.run;
        let t = &mut self.session.timeline;
        if t.owner != run.started_at {
            let speed = t.speed;
            *t = Timeline::default();
            t.speed = speed;
            t.owner = run.started_at;
        }
        let Some(s) = &run.snapshot else { return };
        if t.last_seen.as_ref().is_some_and(|x| Arc::ptr_eq(x, s)) {
            return;
        }
        t.push(Arc::clone(s));
        t.last_seen = Some(Arc::clone(s));
    }

    pub(super) fn timeline_command(&mut self, command: TimelineCommand) {
        let t = &mut self.session.timeline;
        match command {
            TimelineCommand::Pin(epoch) => {
                t.pinned = epoch;
                t.playing = false;
            }
            TimelineCommand::Step(delta) => {
                t.step(delta);
                t.playing = false;
            }
            TimelineCommand::Play(play) => {
                if play && t.at_end() {
                    t.pinned = t.snapshots.first().map(|s| s.global_epoch);
                }
                t.playing = play;
                t.last_step = None;
            }
            TimelineCommand::Speed(s) => t.speed = s.clamp(0.25, 20.0),
            TimelineCommand::LayOutAll => {
                t.lay_out_all = true;
                t.playing = false;
            }
        }
    }

    /// Playback, "lay out all", and the shown epoch's layout; after the trainer and t-SNE intake.
    pub(super) fn timeline_tick(&mut self, ctx: &egui::Context) {
        self.collect_snapshot();
        let source = self.timeline_source();
        let pending = self.session.embedding.pending.as_ref().map(|p| (p.snapshot.global_epoch, p.source));
        let on_screen = self.session.embedding.layout.as_ref().map(|l| (l.epoch(), l.source, l.method));
        let t = &mut self.session.timeline;
        if t.lay_out_all && pending.is_none() {
            match t.first_missing(source) {
                Some(e) => t.pinned = Some(e),
                None => t.lay_out_all = false,
            }
        }
        if t.playing {
            let ready = pending.is_none() && on_screen.is_some_and(|(e, s, _)| Some(e) == t.pinned && s == source);
            let speed = if t.speed > 0.0 { t.speed } else { 2.0 };
            let due = t.last_step.is_none_or(|at| at.elapsed().as_secs_f32() >= 1.0 / speed);
            if ready && due {
                if t.at_end() {
                    t.playing = false;
                } else {
                    t.step(1);
                    t.last_step = Some(Instant::now());
                }
            }
            ctx.request_repaint_after(Duration::from_millis(30));
        }
        let Some(shown) = t.shown().cloned() else { return };
        let epoch = shown.global_epoch;
        if t.pinned.is_none() && t.cached(epoch, source).is_none() {
            // Following the latest without a finished layout of it: the automatic t-SNE's job.
            return;
        }
        if on_screen.is_some_and(|(e, s, m)| e == epoch && s == source && m != super::state::LayoutMethod::Pca) {
            return;
        }
        if let Some(l) = t.cached(epoch, source) {
            self.session.embedding.layout = Some(l.clone());
            return;
        }
        if pending != Some((epoch, source)) {
            self.submit_tsne(&shown);
        }
    }
}
