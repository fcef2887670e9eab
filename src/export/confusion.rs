//! The confusion matrix as an exported figure (a heat map with its counts or row shares, the
//! clusters' sizes and purities under it) and as CSV.

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::analysis::Confusion;
use crate::palette;

use super::RunExport;
use super::figures::{Paper, re, rgb};
use super::table::class_name;

/// The confusion matrix on screen: one reading of one snapshot, columns in aligned order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfusionExport {
    /// `primary (heads)`, `VCF head`, `k-means on Z`.
    pub reading: String,
    pub epoch: usize,
    /// Rows shown as shares of each label instead of counts.
    pub row_normalised: bool,
    /// The model cluster of each column.
    pub columns: Vec<usize>,
    /// The label each column's cluster is matched to.
    pub column_label: Vec<Option<usize>>,
    /// `counts[label][column]`.
    pub counts: Vec<Vec<usize>>,
}

impl ConfusionExport {
    /// The export of a matrix.
    pub fn of(m: &Confusion, reading: &str, epoch: usize, row_normalised: bool) -> Self {
        Self {
            reading: reading.to_owned(),
            epoch,
            row_normalised,
            columns: m.columns.clone(),
            column_label: m.column_label.clone(),
            counts: m.counts.clone(),
        }
    }

    fn matrix(&self) -> Confusion {
        Confusion {
            n_labels: self.counts.len(),
            columns: self.columns.clone(),
            column_label: self.column_label.clone(),
            counts: self.counts.clone(),
            members: Vec::new(),
        }
    }
}

pub(super) fn csv(run: &RunExport) -> String {
    run.confusion.as_ref().map(|c| c.matrix().to_csv(|l| class_name(run, l), c.row_normalised)).unwrap_or_default()
}

pub(super) fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, run: &RunExport, p: &Paper) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let Some(c) = &run.confusion else { return Err("no confusion matrix".into()) };
    let m = c.matrix();
    let (rows, cols) = (m.n_labels, m.columns.len());
    if rows == 0 || cols == 0 {
        return Err("the confusion matrix is empty".into());
    }
    let title = format!(
        "Confusion matrix, {} (epoch {}, ACC {:.3}){}",
        c.reading,
        c.epoch,
        m.accuracy(),
        if c.row_normalised { ", rows normalised" } else { "" }
    );
    let area = area.titled(&title, p.font(10.0)).map_err(re)?;
    let (w, h) = area.dim_in_pixel();
    let left = p.px(46.0) as i32;
    let top = p.px(14.0) as i32;
    let bottom = p.px(30.0) as i32;
    let cell_w = ((w as i32 - left - p.px(4.0) as i32) / cols as i32).max(1);
    let cell_h = ((h as i32 - top - bottom) / rows as i32).max(1);
    let max = m.counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let sizes = m.cluster_sizes();
    let purities = m.purities();
    let small = p.font(if cols > 12 { 5.5 } else { 7.0 });
    for (l, row) in m.counts.iter().enumerate() {
        let y = top + l as i32 * cell_h;
        area.draw(&Text::new(class_name(run, l), (p.px(2.0) as i32, y + cell_h / 2 - p.px(3.5) as i32), p.font(7.0)))
            .map_err(re)?;
        for (j, &n) in row.iter().enumerate() {
            let x = left + j as i32 * cell_w;
            let t = if c.row_normalised { m.row_normalised(l, j) } else { n as f64 / max };
            let fill = rgb(palette::sequential_rgb(t as f32));
            area.draw(&Rectangle::new([(x, y), (x + cell_w - 1, y + cell_h - 1)], fill.filled())).map_err(re)?;
            let text = if c.row_normalised { format!("{:.2}", m.row_normalised(l, j)) } else { n.to_string() };
            let ink = if t > 0.6 { BLACK } else { WHITE };
            let style = small.clone().color(&ink).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Center,
            ));
            area.draw(&Text::new(text, (x + cell_w / 2, y + cell_h / 2), style)).map_err(re)?;
        }
    }
    let below = top + rows as i32 * cell_h + p.px(3.0) as i32;
    let centred = |s: TextStyle<'static>| {
        s.pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ))
    };
    for (j, &cl) in m.columns.iter().enumerate() {
        let x = left + j as i32 * cell_w + cell_w / 2;
        area.draw(&Text::new(format!("c{cl}"), (x, below), centred(small.clone()))).map_err(re)?;
        let purity = purities[j].map_or_else(|| "-".to_owned(), |p| format!("{p:.2}"));
        area.draw(&Text::new(
            format!("{} / {purity}", sizes[j]),
            (x, below + p.px(9.0) as i32),
            centred(p.font(if cols > 12 { 4.5 } else { 6.0 })),
        ))
        .map_err(re)?;
    }
    area.draw(&Text::new(
        "rows: true label; columns: cluster (size / purity)",
        (p.px(2.0) as i32, below + p.px(18.0) as i32),
        p.font(6.5),
    ))
    .map_err(re)?;
    Ok(())
}
