//! Design tokens: every colour of the app and its exported figures, as plain RGB (no egui here;
//! `app::palette` turns them into egui colours, `export` into plotters colours).

use crate::engine::protocol::LossTerm;

/// Categorical palette for clusters and classes (Okabe–Ito, colour-blind safe,
/// extended with Tableau hues for more than eight classes).
pub const CATEGORICAL: [[u8; 3]; 16] = [
    [0, 114, 178],   // blue
    [230, 159, 0],   // orange
    [0, 158, 115],   // bluish green
    [204, 121, 167], // reddish purple
    [86, 180, 233],  // sky blue
    [213, 94, 0],    // vermillion
    [240, 228, 66],  // yellow
    [80, 80, 80],    // dark grey
    [148, 103, 189], // purple
    [140, 86, 75],   // brown
    [188, 189, 34],  // olive
    [23, 190, 207],  // cyan
    [255, 152, 150], // pink
    [44, 160, 44],   // green
    [31, 119, 180],  // steel blue
    [214, 39, 40],   // red
];

/// The colour of each loss term.
pub fn loss_term_rgb(term: LossTerm) -> [u8; 3] {
    match term {
        LossTerm::Rec => [0, 114, 178],
        LossTerm::Cluster => [230, 159, 0],
        LossTerm::Local => [0, 158, 115],
        LossTerm::Kl => [204, 121, 167],
        LossTerm::Label => [213, 94, 0],
        LossTerm::Triplet => [86, 180, 233],
        LossTerm::Total => [30, 30, 30],
    }
}

/// The three metric readings: mean q, VCF head, k-means on Z.
pub const READINGS: [[u8; 3]; 3] = [[0, 114, 178], [213, 94, 0], [0, 158, 115]];

/// Colour of the phase-boundary marker.
pub const PHASE_MARKER: [u8; 3] = [120, 120, 120];

/// Highlight ring of the selected sample.
pub const SELECTION: [u8; 3] = [220, 20, 60];

/// Colour for correct / wrong predictions in the inspector.
pub const CORRECT: [u8; 3] = [0, 150, 90];
pub const WRONG: [u8; 3] = [200, 40, 40];

/// Error text.
pub const ERROR_TEXT: [u8; 3] = [210, 60, 60];

/// Drop-hint overlay (RGBA).
pub const DROP_OVERLAY: [u8; 4] = [0, 0, 0, 150];

/// RGB of cluster / class `k` (for figures).
pub fn category_rgb(k: usize) -> [u8; 3] {
    CATEGORICAL[k % CATEGORICAL.len()]
}

/// A sequential colour for `t` in `[0, 1]` (viridis, 5 stops, linear in between).
pub fn sequential_rgb(t: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 5] =
        [[68.0, 1.0, 84.0], [59.0, 82.0, 139.0], [33.0, 145.0, 140.0], [94.0, 201.0, 98.0], [253.0, 231.0, 37.0]];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * (STOPS.len() - 1) as f32;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f32;
    let mix = |a: f32, b: f32| (a + (b - a) * f).round().clamp(0.0, 255.0) as u8;
    [mix(STOPS[i][0], STOPS[i + 1][0]), mix(STOPS[i][1], STOPS[i + 1][1]), mix(STOPS[i][2], STOPS[i + 1][2])]
}
