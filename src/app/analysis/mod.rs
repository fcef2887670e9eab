//! Centre tile "Analysis": the aligned confusion matrix of any reading (`confusion.rs`), each
//! view's own quality beside its weight and the views' agreement (`views.rs`), and the
//! per-sample uncertainty (`uncertainty.rs`); the exports of the marked samples and of the
//! matrix (`export.rs`). The analyses themselves are `crate::analysis` (no egui).

mod confusion;
mod export;
mod uncertainty;
mod views;

use eframe::egui;

use crate::analysis::{Confusion, Reading};
use crate::engine::protocol::EmbeddingSnapshot;

use super::state::{AnalysisView, AppState, ViewCtx};
pub use export::write_selection;

/// Widget state of the Analysis tile.
#[derive(Debug, Default)]
pub struct AnalysisPanel {
    confusion: confusion::ConfusionPanel,
}

impl AnalysisPanel {
    pub fn ui(&mut self, state: &mut AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for v in AnalysisView::ALL {
                ui.selectable_value(&mut state.analysis.view, v, v.label());
            }
        });
        ui.separator();
        match state.analysis.view {
            AnalysisView::Confusion => self.confusion.ui(state, ctx, ui),
            AnalysisView::Views => views::ui(ctx, ui),
            AnalysisView::Uncertainty => uncertainty::ui(state, ctx, ui),
        }
    }

    /// Screen rectangle of the confusion matrix's cell (label, column) as last drawn (tests).
    pub fn cell_rect(&self, label: usize, column: usize) -> Option<egui::Rect> {
        self.confusion.cell_rect(label, column)
    }
}

/// Each point's pseudo-label uncertainty in [0, 1] and what it is: the engine's own
/// (`EmbeddingSnapshot::uncertainty`, the normalised entropy of the point's fuzzy c-means
/// memberships to the cluster centres) when the snapshot carries it, else the normalised entropy
/// `H(q) / ln K` of the primary reading's `q` (`crate::analysis::normalized_entropy`).
pub fn uncertainty_of(s: &EmbeddingSnapshot) -> (Vec<f32>, &'static str) {
    if !s.uncertainty.is_empty() && s.uncertainty.len() == s.indices.len() {
        (s.uncertainty.clone(), "the engine's uncertainty (fuzzy memberships' normalised entropy)")
    } else {
        (crate::analysis::uncertainties(&s.q_mean, s.k), "H(q) / ln K of the primary reading")
    }
}

/// The uncertainty of the snapshot's point at position `p` (as [`uncertainty_of`]).
pub fn uncertainty_at(s: &EmbeddingSnapshot, p: usize) -> f32 {
    if s.uncertainty.len() == s.indices.len()
        && let Some(&u) = s.uncertainty.get(p)
    {
        return u;
    }
    s.q_mean.get(p * s.k..(p + 1) * s.k).map_or(0.0, crate::analysis::normalized_entropy)
}

/// A reading's predictions (model cluster ids) of a snapshot's points, when it has them.
pub fn predictions(s: &EmbeddingSnapshot, reading: Reading) -> Option<&[usize]> {
    match reading {
        Reading::Primary => Some(&s.predicted),
        Reading::Vcf => s.predicted_vcf.as_deref(),
        Reading::KmeansZ => s.predicted_kmeans_z.as_deref(),
    }
}

/// The confusion matrix of a reading of a labelled snapshot (`None` without labels or without
/// that reading). `n_classes`: the dataset's class count, when known (a class absent from the
/// snapshot still gets its row).
pub fn confusion_of(s: &EmbeddingSnapshot, reading: Reading, n_classes: Option<usize>) -> Option<Confusion> {
    let labels = s.labels.as_ref()?;
    let pred = predictions(s, reading)?;
    let n_labels = labels.iter().copied().max().map_or(0, |m| m + 1).max(n_classes.unwrap_or(0));
    let n_clusters = pred.iter().copied().max().map_or(0, |m| m + 1).max(s.k);
    Some(Confusion::new(pred, labels, n_clusters, n_labels))
}
