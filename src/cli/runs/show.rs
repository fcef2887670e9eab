//! The human and JSON forms of `runs list`, `runs show` and `runs compare`.

use serde_json::json;

use crate::engine::run_log::format_secs;
use crate::runs::record::ScoreRow;
use crate::runs::table::config_diff;
use crate::runs::{RunRecord, RunStore, StoreProblem};

/// Folders that could not be read, on stderr (the other runs are listed regardless).
pub fn report_problems(problems: &[StoreProblem]) {
    for p in problems {
        eprintln!("warning: skipped {p}");
    }
}

fn score(s: Option<ScoreRow>, f: fn(&ScoreRow) -> f64) -> String {
    s.map_or_else(|| "–".into(), |s| format!("{:.4}", f(&s)))
}

/// `runs list`.
pub fn list(store: &RunStore, as_json: bool) -> Result<(), String> {
    let listing = store.list();
    report_problems(&listing.problems);
    if as_json {
        let all: Vec<serde_json::Value> = listing.runs.iter().map(RunRecord::summary_json).collect();
        println!("{}", serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?);
        return Ok(());
    }
    if listing.runs.is_empty() {
        println!("no runs in {}", store.dir().display());
        return Ok(());
    }
    println!(
        "{:<38} {:<28} {:<14} {:<11} {:>7} {:>7} {:>7} {:>9} {:>8}  created",
        "id", "name", "dataset", "status", "epochs", "ACC", "NMI", "best ACC*", "time"
    );
    for r in &listing.runs {
        println!(
            "{:<38} {:<28} {:<14} {:<11} {:>7} {:>7} {:>7} {:>9} {:>8}  {}",
            r.id,
            truncate(&r.name, 28),
            truncate(&r.dataset.name, 14),
            r.status.as_str(),
            format!("{}/{}", r.epochs_done, r.config.mse_epochs + r.config.con_epochs),
            score(r.final_scores(), |s| s.acc),
            score(r.final_scores(), |s| s.nmi),
            score(r.best_scores(), |s| s.acc),
            r.duration_secs().map_or_else(|| "–".into(), format_secs),
            r.created
        );
    }
    println!("* best = the epoch with the highest ACC, chosen with the labels (label-selected)");
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_owned() } else { s.chars().take(n - 1).chain(['…']).collect() }
}

/// `runs show ID`.
pub fn show(store: &RunStore, id: &str, as_json: bool) -> Result<(), String> {
    let rec = store.load(id).map_err(|e| e.to_string())?;
    let history = store.history(id).map_err(|e| e.to_string())?;
    report_problems(&history.problems);
    if as_json {
        let mut v = rec.summary_json();
        v["epochs"] = json!(history.epochs);
        v["learning_rates"] = json!(history.epochs.iter().map(|e| e.lr).collect::<Vec<_>>());
        v["metrics"] = json!(history.metrics);
        v["dataset_info"] = json!(rec.dataset);
        v["update"] = json!(rec.update);
        println!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
        return Ok(());
    }
    println!("run       {}", rec.id);
    println!("name      {}", rec.name);
    if !rec.tags.is_empty() {
        println!("tags      {}", rec.tags.join(", "));
    }
    println!("status    {}{}", rec.status, rec.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default());
    println!("created   {} by {} (mvc-workbench {})", rec.created, rec.front_end, rec.version);
    let d = &rec.dataset;
    let scaling = if d.view_scalings.is_empty() || d.view_scalings.iter().all(|s| *s == d.preprocess) {
        d.preprocess.clone()
    } else {
        format!("{}: {}", d.preprocess, d.view_scalings.join(", "))
    };
    println!(
        "dataset   {} ({}; {} samples, views {:?}, sha256 {}, {scaling})",
        d.name, d.source, d.n_samples, d.view_shapes, d.sha256
    );
    println!("device    {}", rec.device.as_deref().unwrap_or("–"));
    println!("epochs    {} of {}", rec.epochs_done, rec.config.mse_epochs + rec.config.con_epochs);
    if let Some(r) = &rec.results {
        if let Some(f) = r.final_epoch {
            println!("final     epoch {:>4}  {}", f.epoch, scores(&f.scores));
        }
        if let Some(k) = r.kmeans_z {
            println!("k-means Z epoch {:>4}  {}", k.epoch, scores(&k.scores));
        }
        if let Some(b) = r.best {
            println!("best      epoch {:>4}  {}  (label-selected)", b.epoch, scores(&b.scores));
        }
    }
    if let Some(u) = &rec.update {
        println!(
            "parent    run {} (checkpoint {}, untouched: use it to roll back)",
            u.parent_run.as_deref().unwrap_or("– (not in a run folder)"),
            u.parent_checkpoint.display()
        );
        for line in u.report.summary_lines() {
            println!("  {line}");
        }
        // The update's curve: a few passes, evenly spaced (every pass is in `--json`).
        let curve = &u.report.curve;
        let step = curve.len().div_ceil(5).max(1);
        let mut shown: Vec<usize> = (0..curve.len()).step_by(step).collect();
        if curve.len() > 1 && shown.last() != Some(&(curve.len() - 1)) {
            shown.push(curve.len() - 1);
        }
        for p in shown.iter().map(|&i| &curve[i]) {
            println!(
                "  pass {:>4}: KL {:.5}  EWC {:.6}  largest old-centre shift {:.4}",
                p.iteration, p.kl, p.ewc, p.old_shift
            );
        }
    }
    let children: Vec<String> = store
        .list()
        .runs
        .iter()
        .filter(|r| r.update.as_ref().and_then(|u| u.parent_run.as_deref()) == Some(rec.id.as_str()))
        .map(|r| r.id.clone())
        .collect();
    if !children.is_empty() {
        println!("updates   {}", children.join(", "));
    }
    if let Some(c) = &rec.checkpoint {
        println!("checkpoint {}", c.display());
    }
    println!("config    (the fields that differ from the defaults)");
    let default = crate::engine::TrainConfig::default();
    for (k, v) in config_diff(&[&default, &rec.config]) {
        println!("  {k} = {}", v.get(1).map_or("–", String::as_str));
    }
    Ok(())
}

fn scores(s: &ScoreRow) -> String {
    format!("ACC {:.4}  NMI {:.4}  ARI {:.4}  PUR {:.4}", s.acc, s.nmi, s.ari, s.pur)
}

/// `runs compare ID ID…`.
pub fn compare(store: &RunStore, ids: &[String], as_json: bool) -> Result<(), String> {
    let recs = ids.iter().map(|id| store.load(id)).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    let diff = config_diff(&recs.iter().map(|r| &r.config).collect::<Vec<_>>());
    if as_json {
        let v = json!({
            "runs": recs.iter().map(RunRecord::summary_json).collect::<Vec<_>>(),
            "config_diff": diff.iter().map(|(k, vals)| json!({"field": k, "values": vals})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
        return Ok(());
    }
    let w = 24;
    let row = |label: &str, cells: Vec<String>| {
        println!("{label:<26}{}", cells.iter().map(|c| format!("{:>w$}", truncate(c, w - 1))).collect::<String>());
    };
    row("", recs.iter().map(|r| r.id.clone()).collect());
    row("name", recs.iter().map(|r| r.name.clone()).collect());
    row("dataset", recs.iter().map(|r| r.dataset.name.clone()).collect());
    row("status", recs.iter().map(|r| r.status.to_string()).collect());
    row("epochs", recs.iter().map(|r| r.epochs_done.to_string()).collect());
    println!("config (differing fields only{})", if diff.is_empty() { ": none" } else { "" });
    for (k, vals) in &diff {
        row(&format!("  {k}"), vals.clone());
    }
    println!("results");
    for (label, f) in [("ACC", (|s: &ScoreRow| s.acc) as fn(&ScoreRow) -> f64), ("NMI", |s| s.nmi), ("ARI", |s| s.ari)]
    {
        row(&format!("  final {label}"), recs.iter().map(|r| score(r.final_scores(), f)).collect());
    }
    for (label, f) in [("ACC", (|s: &ScoreRow| s.acc) as fn(&ScoreRow) -> f64), ("NMI", |s| s.nmi)] {
        row(&format!("  best {label} (label-sel.)"), recs.iter().map(|r| score(r.best_scores(), f)).collect());
    }
    Ok(())
}
