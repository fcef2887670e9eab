//! The timeline scrubber above the embedding: the run's snapshots on a slider, play / pause,
//! speed, step buttons and the left / right arrow keys (space plays), "Latest" to follow the
//! run, and "Lay out all" to compute every snapshot's t-SNE for instant scrubbing. The embedding,
//! the Analysis tile and the inspector show the chosen epoch; the curves mark it.

use eframe::egui;
use egui::RichText;

use super::state::{AppCommand, FeatureSource, TimelineCommand, ViewCtx};

/// Draws the scrubber (nothing before the run's second snapshot).
pub fn timeline_ui(ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui, source: FeatureSource) {
    let t = &ctx.session.timeline;
    let epochs = t.epochs();
    if epochs.len() < 2 {
        return;
    }
    let n = epochs.len();
    let shown = t.pinned.unwrap_or(epochs[n - 1]);
    let mut index = epochs.iter().position(|&e| e == shown).unwrap_or(n - 1);
    let mut send = |c: TimelineCommand| ctx.commands.send(AppCommand::Timeline(c));
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(format!("Epoch {shown}")).strong());
        if ui.button("|<").on_hover_text("First snapshot").clicked() {
            send(TimelineCommand::Pin(epochs.first().copied()));
        }
        if ui.button("<").on_hover_text("Previous snapshot (left arrow)").clicked() {
            send(TimelineCommand::Step(-1));
        }
        let play = if t.playing { "Pause" } else { "Play" };
        if ui.button(play).on_hover_text("Play the snapshots in turn (space)").clicked() {
            send(TimelineCommand::Play(!t.playing));
        }
        if ui.button(">").on_hover_text("Next snapshot (right arrow)").clicked() {
            send(TimelineCommand::Step(1));
        }
        let slider = egui::Slider::new(&mut index, 0..=n - 1).show_value(false);
        if ui.add(slider).on_hover_text("Scrub through the run's snapshots").changed() {
            send(TimelineCommand::Pin(epochs.get(index).copied()));
        }
        let mut speed = if t.speed > 0.0 { t.speed } else { 2.0 };
        if ui.add(egui::DragValue::new(&mut speed).range(0.25..=20.0).speed(0.1).suffix(" /s")).changed() {
            send(TimelineCommand::Speed(speed));
        }
        let following = t.pinned.is_none();
        if ui.selectable_label(following, "Latest").on_hover_text("Follow the run's newest snapshot").clicked() {
            send(TimelineCommand::Pin(None));
        }
        let done = t.n_cached(source);
        let label = if t.lay_out_all { format!("Laying out {done}/{n}") } else { format!("Lay out all ({done}/{n})") };
        if ui
            .add_enabled(!t.lay_out_all && done < n, egui::Button::new(label))
            .on_hover_text(
                "Compute every snapshot's t-SNE now (each warm-started from the one before), so scrubbing is instant",
            )
            .clicked()
        {
            send(TimelineCommand::LayOutAll);
        }
    });
    // Step keys, unless a text field has the keyboard.
    if ui.memory(|m| m.focused().is_none()) {
        let (left, right, space) = ui.input(|i| {
            (i.key_pressed(egui::Key::ArrowLeft), i.key_pressed(egui::Key::ArrowRight), i.key_pressed(egui::Key::Space))
        });
        if left {
            send(TimelineCommand::Step(-1));
        }
        if right {
            send(TimelineCommand::Step(1));
        }
        if space {
            send(TimelineCommand::Play(!t.playing));
        }
    }
}
