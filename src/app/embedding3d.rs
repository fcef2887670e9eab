//! The embedding tile's 3-D view: a 3-D t-SNE (its PCA while it runs) drawn with an orbit
//! camera — drag to rotate, scroll to zoom, double-click to reset — in the same colourings as the
//! 2-D scatter, with hover and click-to-inspect. Exports draw it at the current angle.

use eframe::egui;
use egui::{Pos2, RichText, Sense};

use super::embedding::{describe_at, group_at, group_color, group_name};
use super::palette;
use super::state::{AppCommand, AppState, Camera, Layout3d, ViewCtx};
use super::widgets::empty_hint_ui;

/// Pointer distance (points) within which a sample is hovered or clicked.
const PICK_RADIUS: f32 = 10.0;

/// The centre and half-extent of a cloud (the largest axis), for normalising it to the unit cube.
pub fn bounds(coords: &[[f32; 3]]) -> ([f32; 3], f32) {
    if coords.is_empty() {
        return ([0.0; 3], 1.0);
    }
    let mut lo = [f32::INFINITY; 3];
    let mut hi = [f32::NEG_INFINITY; 3];
    for c in coords {
        for d in 0..3 {
            lo[d] = lo[d].min(c[d]);
            hi[d] = hi[d].max(c[d]);
        }
    }
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0, (lo[2] + hi[2]) / 2.0];
    let half = (0..3).map(|d| (hi[d] - lo[d]) / 2.0).fold(0.0f32, f32::max);
    (centre, if half > 0.0 { half } else { 1.0 })
}

/// A normalised point seen through the camera: screen-plane `(x, y)` (y up) and depth (larger
/// is nearer), orthographic.
pub fn project(p: [f32; 3], cam: &Camera) -> (f32, f32, f32) {
    let (sy, cy) = cam.yaw.sin_cos();
    let (sp, cp) = cam.pitch.sin_cos();
    // Yaw about the vertical (y) axis, then pitch about the horizontal (x) axis.
    let x1 = cy * p[0] + sy * p[2];
    let z1 = -sy * p[0] + cy * p[2];
    let y2 = cp * p[1] - sp * z1;
    let z2 = sp * p[1] + cp * z1;
    (x1 * cam.zoom, y2 * cam.zoom, z2)
}

/// The 2-D coordinates of a 3-D layout at the camera's angle (what an export draws).
pub fn projected(layout: &Layout3d, cam: &Camera) -> Vec<[f32; 2]> {
    let (c, half) = bounds(&layout.coords);
    layout
        .coords
        .iter()
        .map(|p| {
            let (x, y, _) = project([(p[0] - c[0]) / half, (p[1] - c[1]) / half, (p[2] - c[2]) / half], cam);
            [x, y]
        })
        .collect()
}

/// Widget state of the 3-D view: the points' screen positions as last drawn.
#[derive(Debug, Default)]
pub struct Embedding3dPanel {
    screen: Vec<(usize, Pos2)>,
}

impl Embedding3dPanel {
    /// Screen position of dataset row `row` as last drawn (tests).
    pub fn screen_pos_of(&self, layout: &Layout3d, row: usize) -> Option<Pos2> {
        self.screen.iter().find(|(i, _)| layout.row(*i) == Some(row)).map(|(_, p)| *p)
    }

    fn pick(&self, pos: Pos2) -> Option<usize> {
        let mut best: Option<(usize, f32)> = None;
        for &(i, p) in &self.screen {
            let d = p.distance_sq(pos);
            if d <= PICK_RADIUS * PICK_RADIUS && best.is_none_or(|(_, b)| d < b) {
                best = Some((i, d));
            }
        }
        best.map(|(i, _)| i)
    }

    pub fn ui(&mut self, state: &mut AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        let session = ctx.session;
        let Some(layout) = &session.embedding.layout3d else {
            if let Some(e) = &session.embedding.error3d {
                ui.label(RichText::new(e).color(palette::error_text()));
            }
            empty_hint_ui(ui, "The 3-D embedding appears with the first snapshot of a run.");
            return;
        };
        let method = if layout.done { "3-D t-SNE" } else { "3-D PCA (t-SNE running...)" };
        ui.label(
            RichText::new(format!(
                "{method} · epoch {} · {} points · drag to rotate, scroll to zoom, double-click to reset",
                layout.epoch(),
                layout.coords.len()
            ))
            .strong(),
        );
        if let Some(e) = &session.embedding.error3d {
            ui.label(RichText::new(e).color(palette::error_text()));
        }
        let settings = &mut state.embedding;
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, "3-D embedding"));
        if response.dragged() {
            let d = response.drag_delta();
            settings.camera.yaw += d.x * 0.01;
            settings.camera.pitch = (settings.camera.pitch + d.y * 0.01).clamp(-1.5, 1.5);
        }
        if response.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0 {
                settings.camera.zoom = (settings.camera.zoom * (scroll * 0.002).exp()).clamp(0.2, 20.0);
            }
        }
        if response.double_clicked() {
            settings.camera = Camera::default();
        }
        let cam = settings.camera;
        let color_by = settings.color_by;
        let radius = settings.point_radius;
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
        let scale = rect.width().min(rect.height()) * 0.45;
        let centre = rect.center();
        let (c, half) = bounds(&layout.coords);
        let s = &layout.snapshot;
        let mut points: Vec<(f32, usize, Pos2)> = layout
            .coords
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (x, y, depth) = project([(p[0] - c[0]) / half, (p[1] - c[1]) / half, (p[2] - c[2]) / half], &cam);
                (depth, i, egui::pos2(centre.x + x * scale, centre.y - y * scale))
            })
            .collect();
        // Far points first, so the near ones are drawn over them.
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        // The axes, for orientation.
        for (axis, name) in [([1.0, 0.0, 0.0], "1"), ([0.0, 1.0, 0.0], "2"), ([0.0, 0.0, 1.0], "3")] {
            let (x, y, _) = project(axis, &cam);
            let end = egui::pos2(centre.x + x * scale * 0.3, centre.y - y * scale * 0.3);
            painter.line_segment([centre, end], egui::Stroke::new(1.0, ui.visuals().weak_text_color()));
            painter.text(
                end,
                egui::Align2::CENTER_CENTER,
                name,
                egui::FontId::proportional(10.0),
                ui.visuals().weak_text_color(),
            );
        }
        let selected = session.selected;
        let mut k = 0;
        for &(depth, i, pos) in &points {
            let Some(&p) = layout.positions.get(i) else { continue };
            let g = group_at(s, p, color_by);
            k = k.max(g + 1);
            // Nearer points a little larger.
            let r = radius * (1.0 + 0.25 * depth.clamp(-1.0, 1.0));
            painter.circle_filled(pos, r, group_color(color_by, g));
            if selected.is_some() && layout.row(i) == selected {
                painter.circle_stroke(pos, r * 2.6 + 2.0, egui::Stroke::new(2.0, palette::rgb(palette::SELECTION)));
            }
        }
        self.screen = points.iter().map(|&(_, i, pos)| (i, pos)).collect();
        // A legend of the groups present.
        let mut y = rect.top() + 6.0;
        for g in 0..k.min(16) {
            let name = group_name(ctx, s, color_by, g);
            painter.circle_filled(egui::pos2(rect.right() - 110.0, y + 6.0), 4.0, group_color(color_by, g));
            painter.text(
                egui::pos2(rect.right() - 100.0, y + 6.0),
                egui::Align2::LEFT_CENTER,
                name,
                egui::FontId::proportional(11.0),
                ui.visuals().text_color(),
            );
            y += 15.0;
        }
        if let Some(pos) = response.hover_pos()
            && !response.dragged()
            && let Some(i) = self.pick(pos)
            && let Some(&p) = layout.positions.get(i)
        {
            let text = describe_at(ctx, s, p);
            response.clone().on_hover_ui_at_pointer(|ui| {
                ui.label(text);
            });
        }
        if response.clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            let row = self.pick(pos).and_then(|i| layout.row(i));
            ctx.commands.send(AppCommand::Select(row));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_camera_rotates_and_zooms() {
        let cam = Camera { yaw: 0.0, pitch: 0.0, zoom: 1.0 };
        assert_eq!(project([1.0, 0.5, 0.0], &cam), (1.0, 0.5, 0.0));
        // A quarter turn of yaw brings the depth axis to the screen's x.
        let (x, y, _) = project([0.0, 0.0, 1.0], &Camera { yaw: std::f32::consts::FRAC_PI_2, ..cam });
        assert!((x - 1.0).abs() < 1e-6 && y.abs() < 1e-6);
        let (x, _, _) = project([1.0, 0.0, 0.0], &Camera { zoom: 2.0, ..cam });
        assert_eq!(x, 2.0);
        let (c, half) = bounds(&[[0.0, 0.0, 0.0], [2.0, 4.0, -2.0]]);
        assert_eq!((c, half), ([1.0, 2.0, -1.0], 2.0));
    }
}
