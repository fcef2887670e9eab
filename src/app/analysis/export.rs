//! What the Analysis tile exports: the marked samples (CSV / JSON) and the confusion matrix on
//! screen (a `Figure::Confusion` of the run export), built on the UI thread as plain data and
//! written on the `mvc-export` thread.

use std::path::Path;

use crate::export::{ConfusionExport, ExportError, SelectedPoint, SelectionExport};

use super::super::WorkbenchApp;
use super::super::state::{FeatureSource, SelectionFormat, cluster_to_label, position_in};
use super::confusion_of;

/// Writes a selection as `<stem>-selection.csv` / `.json` in `dir`.
pub fn write_selection(
    selection: Option<SelectionExport>,
    format: SelectionFormat,
    dir: &Path,
    stem: &str,
) -> Result<Vec<std::path::PathBuf>, ExportError> {
    let Some(sel) = selection else {
        return Err(ExportError::NoData { what: "selection", why: "no samples are marked" });
    };
    let p = match format {
        SelectionFormat::Csv => dir.join(format!("{stem}-selection.csv")),
        SelectionFormat::Json => dir.join(format!("{stem}-selection.json")),
    };
    match format {
        SelectionFormat::Csv => sel.write_csv(&p)?,
        SelectionFormat::Json => sel.write_json(&p)?,
    }
    Ok(vec![p])
}

impl WorkbenchApp {
    /// The marked samples as plain data (those the current snapshot holds).
    pub fn build_selection_export(&self) -> Option<SelectionExport> {
        let session = &self.session;
        let marked = session.marked.as_ref()?;
        let s = session.current_snapshot()?;
        let map = cluster_to_label(s);
        let aligned = |c: usize| if s.predicted_aligned.is_some() { map.get(c).copied().flatten() } else { None };
        let layout = session.embedding.layout.as_ref().filter(|l| l.snapshot.global_epoch == s.global_epoch);
        let coords: std::collections::HashMap<usize, [f32; 2]> = layout
            .map(|l| (0..l.coords.len()).filter_map(|i| Some((l.row(i)?, l.coords[i]))).collect())
            .unwrap_or_default();
        let points = marked
            .rows
            .iter()
            .filter_map(|&row| {
                let p = position_in(s, row)?;
                let truth = s.labels.as_ref().and_then(|l| l.get(p)).copied();
                let cluster = s.predicted.get(p).copied().unwrap_or(0);
                let predicted = s.predicted_aligned.as_ref().and_then(|a| a.get(p)).copied();
                let per_view = s
                    .q_views
                    .iter()
                    .map(|qv| {
                        let r = qv.get(p * s.k..(p + 1) * s.k).unwrap_or(&[]);
                        let own = r
                            .iter()
                            .enumerate()
                            .fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
                            .0;
                        aligned(own).unwrap_or(own)
                    })
                    .collect();
                let xy = coords.get(&row);
                Some(SelectedPoint {
                    index: row,
                    true_label: truth,
                    true_name: truth.map(|t| session.class_name(t)),
                    predicted,
                    predicted_name: predicted.map(|a| session.class_name(a)),
                    predicted_cluster: cluster,
                    per_view,
                    confidence: s.confidence.get(p).copied().unwrap_or(0.0),
                    uncertainty: super::uncertainty_at(s, p),
                    x: xy.map(|c| c[0]),
                    y: xy.map(|c| c[1]),
                })
            })
            .collect();
        let embedding = layout.map(|l| {
            let feature = match l.source {
                FeatureSource::Fused => "Z".to_owned(),
                FeatureSource::View(v) => {
                    format!("h of {}", session.view_names(s.h.len()).get(v).cloned().unwrap_or_default())
                }
            };
            format!("{} of {feature}", l.method.label())
        });
        Some(SelectionExport { what: marked.what.clone(), epoch: s.global_epoch, embedding, points })
    }

    /// The confusion matrix the Analysis tile shows, as plain data.
    pub(in crate::app) fn confusion_export(&self) -> Option<ConfusionExport> {
        let s = self.session.current_snapshot()?;
        let a = &self.state.analysis;
        let n_classes = self.session.dataset().and_then(|d| d.labels.as_ref()).map(|l| l.n_clusters());
        let m = confusion_of(s, a.reading, n_classes)?;
        let baseline = self.session.run.config.as_ref().is_some_and(|c| c.model.is_baseline());
        Some(ConfusionExport::of(&m, a.reading.label_in(baseline), s.global_epoch, a.row_normalised))
    }
}
