//! The marked samples as CSV or JSON: index, labels, predictions, confidence, uncertainty and
//! the embedding coordinates.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ExportError, atomic_write};

/// One marked sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectedPoint {
    /// Dataset row.
    pub index: usize,
    pub true_label: Option<usize>,
    pub true_name: Option<String>,
    /// The primary reading's cluster mapped to a label id (Hungarian), when labelled.
    pub predicted: Option<usize>,
    pub predicted_name: Option<String>,
    /// The model's own cluster id.
    pub predicted_cluster: usize,
    /// Each view's own cluster, mapped like `predicted` (else the model id).
    pub per_view: Vec<usize>,
    pub confidence: f32,
    /// The pseudo-label uncertainty in [0, 1] (the engine's, else `H(q) / ln K` of the primary
    /// reading).
    pub uncertainty: f32,
    /// Coordinates in the embedding on screen (absent for a point it does not show).
    pub x: Option<f32>,
    pub y: Option<f32>,
}

/// A marked set of samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionExport {
    /// What the set is (`true 2, cluster 5 (primary)`).
    pub what: String,
    pub epoch: usize,
    /// The embedding the coordinates are from (`t-SNE of Z`).
    pub embedding: Option<String>,
    pub points: Vec<SelectedPoint>,
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

impl SelectionExport {
    /// One line per point; each view's prediction as `view_1`, `view_2`, ….
    pub fn to_csv(&self) -> String {
        let n_views = self.points.iter().map(|p| p.per_view.len()).max().unwrap_or(0);
        let mut out = String::from(
            "index,true_label,true_name,predicted,predicted_name,predicted_cluster,confidence,uncertainty,x,y",
        );
        for v in 1..=n_views {
            let _ = write!(out, ",view_{v}");
        }
        out.push('\n');
        let opt = |o: Option<usize>| o.map_or_else(String::new, |v| v.to_string());
        let optf = |o: Option<f32>| o.map_or_else(String::new, |v| v.to_string());
        for p in &self.points {
            let _ = write!(
                out,
                "{},{},{},{},{},{},{},{},{},{}",
                p.index,
                opt(p.true_label),
                field(p.true_name.as_deref().unwrap_or("")),
                opt(p.predicted),
                field(p.predicted_name.as_deref().unwrap_or("")),
                p.predicted_cluster,
                p.confidence,
                p.uncertainty,
                optf(p.x),
                optf(p.y)
            );
            for v in 0..n_views {
                let _ = write!(out, ",{}", opt(p.per_view.get(v).copied()));
            }
            out.push('\n');
        }
        out
    }

    pub fn write_csv(&self, path: &Path) -> Result<(), ExportError> {
        atomic_write(path, self.to_csv().as_bytes())
    }

    pub fn write_json(&self, path: &Path) -> Result<(), ExportError> {
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| ExportError::Encode { path: path.to_path_buf(), why: e.to_string() })?;
        atomic_write(path, json.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_write_as_csv_and_json() {
        let sel = SelectionExport {
            what: "true 1, cluster 0".into(),
            epoch: 3,
            embedding: Some("t-SNE of Z".into()),
            points: vec![SelectedPoint {
                index: 7,
                true_label: Some(1),
                true_name: Some("b, c".into()),
                predicted: Some(0),
                predicted_name: Some("a".into()),
                predicted_cluster: 2,
                per_view: vec![0, 1],
                confidence: 0.5,
                uncertainty: 0.25,
                x: Some(1.5),
                y: None,
            }],
        };
        let csv = sel.to_csv();
        assert_eq!(
            csv,
            "index,true_label,true_name,predicted,predicted_name,predicted_cluster,confidence,uncertainty,x,y,view_1,view_2\n\
             7,1,\"b, c\",0,a,2,0.5,0.25,1.5,,0,1\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sel.json");
        sel.write_json(&p).unwrap();
        let back: SelectionExport = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(back, sel);
    }
}
