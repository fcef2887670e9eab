//! The design tokens (`crate::palette`) as egui colours.

use eframe::egui;
use egui::Color32;

pub use crate::palette::*;

pub fn rgb(c: [u8; 3]) -> Color32 {
    Color32::from_rgb(c[0], c[1], c[2])
}

/// Colour of cluster / class `k`.
pub fn category(k: usize) -> Color32 {
    rgb(CATEGORICAL[k % CATEGORICAL.len()])
}

/// Colour of the `i`-th stored run overlaid on the plots (from the back of the categorical
/// palette, so it rarely meets the live run's own colours).
pub fn overlay(i: usize) -> Color32 {
    rgb(CATEGORICAL[(CATEGORICAL.len() - 1 - i % CATEGORICAL.len()) % CATEGORICAL.len()])
}

pub fn sequential(t: f32) -> Color32 {
    rgb(sequential_rgb(t))
}

pub fn error_text() -> Color32 {
    rgb(ERROR_TEXT)
}

pub fn drop_overlay() -> Color32 {
    Color32::from_rgba_unmultiplied(DROP_OVERLAY[0], DROP_OVERLAY[1], DROP_OVERLAY[2], DROP_OVERLAY[3])
}
