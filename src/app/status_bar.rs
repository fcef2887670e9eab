//! Bottom bar: dataset, device, run state, last event, frame time.

use eframe::egui;
use std::time::Duration;

use egui::RichText;

use super::palette;
use super::state::{ExportOutcome, RunStatus, ViewCtx};

/// How long a notice stays in the status bar.
const NOTICE_SECS: u64 = 8;
/// How long an error notice (e.g. a crashed worker) stays.
const ERROR_NOTICE_SECS: u64 = 60;

/// The status bar (no widget state).
#[derive(Debug, Default)]
pub struct StatusBar;

impl StatusBar {
    pub fn ui(&mut self, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        let session = ctx.session;
        let run = &session.run;
        ui.horizontal(|ui| {
            let ds = session.loaded.as_ref().map_or_else(|| "no dataset".to_owned(), |l| l.dataset.name.clone());
            ui.label(format!("Dataset: {ds}"));
            ui.separator();
            ui.label(format!("Device: {}", run.device.as_deref().unwrap_or("not started")));
            ui.separator();
            let state = run.status.label();
            let text = RichText::new(format!("Run: {state}"));
            ui.label(match run.status {
                RunStatus::Failed(_) => text.color(palette::error_text()),
                RunStatus::Running => text.strong(),
                _ => text,
            });
            ui.separator();
            if let Some((what, at)) = &run.last_event {
                ui.label(format!("{what} ({} ago)", ago(at.elapsed())));
            }
            if let Some(n) = &session.notice
                && n.at.elapsed() < Duration::from_secs(if n.error { ERROR_NOTICE_SECS } else { NOTICE_SECS })
            {
                ui.separator();
                let text = RichText::new(&n.text).italics();
                ui.label(if n.error { text.color(palette::error_text()) } else { text });
            }
            match &session.export_outcome {
                _ if session.export_busy => {
                    ui.separator();
                    ui.spinner();
                    ui.label("exporting…");
                }
                Some(ExportOutcome::Failed(e)) => {
                    ui.separator();
                    ui.label(RichText::new(format!("export failed: {e}")).color(palette::error_text()));
                }
                _ => {}
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if let (Some(p50), Some(p95)) = (session.frames.quantile(0.5), session.frames.quantile(0.95)) {
                    ui.label(RichText::new(format!("frame {p50:.1} ms · p95 {p95:.1} ms")).monospace().small())
                        .on_hover_text("CPU time of the UI pass over the last frames");
                }
            });
        });
    }
}

fn ago(d: Duration) -> String {
    let s = d.as_secs();
    if s < 1 {
        "now".into()
    } else if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m", s / 60)
    }
}
