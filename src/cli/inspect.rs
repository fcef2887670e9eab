//! `mvc-workbench inspect FILE`: what the loader makes of a file.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::json;

use crate::data::{self, LoadOptions, MultiViewDataset, NonFinite, dataset::format_raw};

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A .mat file, or the name of a built-in dataset.
    pub file: String,
    /// Override the views: comma-separated variables, whole cells or cell elements (X1,X2 or X or X{1},X{3}).
    #[arg(long, value_delimiter = ',')]
    pub views: Option<Vec<String>>,
    /// Override the label variable.
    #[arg(long)]
    pub labels: Option<String>,
    /// Ignore any labels in the file.
    #[arg(long)]
    pub no_labels: bool,
    /// NaN/Inf handling: keep (report only; the default here), error, zero or mean.
    #[arg(long, default_value = "keep")]
    pub non_finite: NonFinite,
    /// One JSON object instead of the human-readable summary.
    #[arg(long)]
    pub json: bool,
}

/// The `--json` summary of a dataset.
pub fn summary_json(ds: &MultiViewDataset, file: &str) -> serde_json::Value {
    let views: Vec<_> = ds
        .views
        .iter()
        .map(|v| {
            let s = v.data.stats();
            let total = (v.data.rows() * v.data.cols()).max(1) as f64;
            json!({
                "name": v.name,
                "source": v.source,
                "rows": v.data.rows(),
                "cols": v.data.cols(),
                "sparse": v.data.is_sparse(),
                "transposed": v.transposed,
                "nonzero_fraction": v.data.nonzero() as f64 / total,
                "min": s.min, "max": s.max, "mean": s.mean(), "std": s.std(),
                "sum": s.sum, "sum_sq": s.sum_sq,
                "non_finite": s.non_finite,
            })
        })
        .collect();
    let labels = ds.labels.as_ref().map(|l| {
        let counts: BTreeMap<String, usize> = l.counts().into_iter().map(|(v, c)| (format_raw(v), c)).collect();
        json!({"variable": l.variable, "n_clusters": l.n_clusters(), "counts": counts, "class_names": l.class_names})
    });
    json!({
        "file": file,
        "format": ds.format.as_str(),
        "n_samples": ds.n_samples(),
        "views": views,
        "labels": labels,
        "ignored": ds.ignored,
    })
}

pub fn run(args: &InspectArgs) -> Result<(), String> {
    let opts = LoadOptions {
        views: args.views.clone(),
        labels: args.labels.clone(),
        no_labels: args.no_labels,
        non_finite: args.non_finite,
    };
    let ds = data::load_named(&args.file, &opts).map_err(|e| e.to_string())?;
    if args.json {
        println!("{}", summary_json(&ds, &args.file));
        return Ok(());
    }
    println!("{} ({}, MAT {})", args.file, ds.name, ds.format.as_str());
    println!("  samples: {}", ds.n_samples());
    println!("  views:   {}", ds.n_views());
    for (i, v) in ds.views.iter().enumerate() {
        let s = v.data.stats();
        let total = (v.data.rows() * v.data.cols()).max(1) as f64;
        println!(
            "    {}. {:<14} {:>6} x {:<6} {}{} nonzero {:5.1}%  min {:.4}  max {:.4}  mean {:.4}  std {:.4}{}",
            i + 1,
            v.name,
            v.data.rows(),
            v.data.cols(),
            if v.data.is_sparse() { "sparse" } else { "dense " },
            if v.transposed {
                format!(" (stored {}x{}, transposed)", v.data.cols(), v.data.rows())
            } else {
                String::new()
            },
            100.0 * v.data.nonzero() as f64 / total,
            s.min,
            s.max,
            s.mean(),
            s.std(),
            if s.non_finite > 0 { format!("  NON-FINITE: {}", s.non_finite) } else { String::new() }
        );
    }
    match &ds.labels {
        Some(l) => {
            println!("  labels:  `{}`, {} clusters", l.variable, l.n_clusters());
            let counts: Vec<String> =
                l.counts().iter().enumerate().map(|(k, (_, c))| format!("{}: {c}", l.class_name(k))).collect();
            println!("    {}", counts.join(", "));
        }
        None => println!("  labels:  none (metrics will be unavailable)"),
    }
    for ig in &ds.ignored {
        println!("  ignored: {} — {}", ig.name, ig.why);
    }
    Ok(())
}
