//! Comparing runs: flattened configs, the fields that differ, groups over seeds with mean ± std,
//! and the results table as Markdown, CSV or LaTeX (`runs export`, `sweep`).

use std::collections::BTreeMap;

use crate::engine::TrainConfig;

use super::record::{RunRecord, ScoreRow, Status};

/// Config fields that never make two runs different settings: the seed (groups are over it),
/// the device, and the preset's name (informational).
pub const NOT_A_SETTING: [&str; 3] = ["seed", "device", "preset"];

/// A config as `field → value` text, nested fields dotted (`loss.kl.weight`).
pub fn flat_config(cfg: &TrainConfig) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Ok(v) = serde_json::to_value(cfg) {
        flatten("", &v, &mut out);
    }
    out
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, x, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        // An `f32` field arrives widened to f64 (0.01 as 0.009999999776482582): print the shortest
        // form that reads back as the same f32 when the f64 form is longer than that.
        serde_json::Value::Number(x) if x.is_f64() => {
            let v = x.as_f64().unwrap_or_default();
            let (wide, narrow) = (v.to_string(), (v as f32).to_string());
            out.insert(
                prefix.to_owned(),
                if narrow.len() < wide.len() && f64::from(v as f32) == v { narrow } else { wide },
            );
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// A config as its setting: [`flat_config`] with `init_from` reduced to whether there is one. A
/// run continued from a checkpoint is one setting whatever the checkpoint, so a protocol that
/// pre-trains once per seed and continues each setting from that seed's pre-training
/// (`docs/sweeps/issue14.sh`) groups its seeds.
pub fn setting_config(cfg: &TrainConfig) -> BTreeMap<String, String> {
    let mut flat = flat_config(cfg);
    if let Some(v) = flat.get_mut("init_from")
        && v != "null"
    {
        *v = "a checkpoint".to_owned();
    }
    flat
}

/// The config fields whose values differ between `configs` (sorted), each run's value in order.
pub fn config_diff(configs: &[&TrainConfig]) -> Vec<(String, Vec<String>)> {
    differing(&configs.iter().map(|c| flat_config(c)).collect::<Vec<_>>())
}

/// The keys whose values differ between the flattened configs, each one's values in order.
fn differing(flat: &[BTreeMap<String, String>]) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<&String> = flat.iter().flat_map(BTreeMap::keys).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let vals: Vec<String> = flat.iter().map(|f| f.get(k).cloned().unwrap_or_else(|| "–".into())).collect();
            vals.iter().any(|v| v != &vals[0]).then(|| (k.clone(), vals))
        })
        .collect()
}

/// Mean and sample standard deviation (0 for one value); `None` for none.
pub fn mean_std(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    Some((mean, var.sqrt()))
}

/// Runs with the same dataset and the same settings (everything but the seed).
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub dataset: String,
    /// The value of each differing setting (in [`Table::settings`] order).
    pub setting: Vec<String>,
    pub runs: Vec<&'a RunRecord>,
}

impl Group<'_> {
    pub fn seeds(&self) -> Vec<u64> {
        self.runs.iter().map(|r| r.config.seed).collect()
    }

    /// Mean ± std of one score of the final reading over the group's runs.
    pub fn final_stat(&self, score: fn(&ScoreRow) -> f64) -> Option<(f64, f64)> {
        mean_std(&self.runs.iter().filter_map(|r| r.final_scores()).map(|s| score(&s)).collect::<Vec<_>>())
    }

    /// Mean ± std of a baseline's final kNN accuracy (test split) over the group's runs.
    pub fn knn_stat(&self) -> Option<(f64, f64)> {
        mean_std(&self.runs.iter().filter_map(|r| r.knn_acc()).collect::<Vec<_>>())
    }

    /// Mean ± std of the final k-means-on-`Z` ACC over the group's runs that recorded it.
    pub fn kmeans_z_stat(&self) -> Option<(f64, f64)> {
        mean_std(
            &self.runs.iter().filter_map(|r| r.results.as_ref()?.kmeans_z).map(|k| k.scores.acc).collect::<Vec<_>>(),
        )
    }

    /// Each run's final ACC, in seed order.
    pub fn final_accs(&self) -> Vec<f64> {
        self.runs.iter().filter_map(|r| r.final_scores()).map(|s| s.acc).collect()
    }

    /// Mean ± std of one score of the best (label-selected) epoch over the group's runs.
    pub fn best_stat(&self, score: fn(&ScoreRow) -> f64) -> Option<(f64, f64)> {
        mean_std(&self.runs.iter().filter_map(|r| r.best_scores()).map(|s| score(&s)).collect::<Vec<_>>())
    }
}

/// Runs arranged as datasets × settings.
#[derive(Debug, Clone)]
pub struct Table<'a> {
    /// The config fields that differ between the runs (apart from [`NOT_A_SETTING`]).
    pub settings: Vec<String>,
    pub groups: Vec<Group<'a>>,
}

/// Groups `runs` by dataset and setting; with `over_seeds` false every run is its own row.
/// A continued run counts as one setting whatever its checkpoint ([`setting_config`]).
pub fn table<'a>(runs: &[&'a RunRecord], over_seeds: bool) -> Table<'a> {
    let flats: Vec<BTreeMap<String, String>> = runs.iter().map(|r| setting_config(&r.config)).collect();
    let settings: Vec<String> = differing(&flats)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| !NOT_A_SETTING.contains(&k.as_str()) && !k.starts_with("device"))
        .collect();
    let mut groups: Vec<Group<'a>> = Vec::new();
    for (&r, flat) in runs.iter().zip(&flats) {
        let setting: Vec<String> = settings.iter().map(|k| flat.get(k).cloned().unwrap_or_default()).collect();
        let dataset = r.dataset.name.clone();
        match groups.iter_mut().find(|g| over_seeds && g.dataset == dataset && g.setting == setting) {
            Some(g) => g.runs.push(r),
            None => groups.push(Group { dataset, setting, runs: vec![r] }),
        }
    }
    groups.sort_by(|a, b| a.dataset.cmp(&b.dataset).then_with(|| a.setting.cmp(&b.setting)));
    for g in &mut groups {
        g.runs.sort_by_key(|r| r.config.seed);
    }
    Table { settings, groups }
}

/// The finished runs among `runs` (what a results table is made of).
pub fn finished(runs: &[RunRecord]) -> Vec<&RunRecord> {
    runs.iter().filter(|r| r.status == Status::Finished && r.final_scores().is_some()).collect()
}

/// Output formats of `runs export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Csv,
    Tex,
}

type Score = (&'static str, fn(&ScoreRow) -> f64);
const SCORES: [Score; 4] = [("ACC", |s| s.acc), ("NMI", |s| s.nmi), ("ARI", |s| s.ari), ("PUR", |s| s.pur)];

/// The table in `format`: dataset, the differing settings, seeds, then final ACC/NMI/ARI/PUR and
/// best-epoch ACC/NMI/ARI/PUR (label-selected), each mean ± std over the group's seeds.
pub fn render(t: &Table<'_>, format: Format) -> String {
    let mut head: Vec<String> = vec!["dataset".into()];
    head.extend(t.settings.iter().cloned());
    head.push("seeds".into());
    head.extend(SCORES.iter().map(|(n, _)| format!("final {n}")));
    let knn = t.groups.iter().any(|g| g.knn_stat().is_some());
    if knn {
        head.push("kNN ACC (test)".into());
    }
    let kmeans = t.groups.iter().any(|g| g.kmeans_z_stat().is_some());
    if kmeans {
        head.push("final k-means on Z ACC".into());
    }
    let by_seed = t.groups.iter().any(|g| g.runs.len() > 1);
    if by_seed {
        head.push("final ACC by seed".into());
    }
    head.extend(SCORES.iter().map(|(n, _)| format!("best {n} (label-selected)")));
    let cell = |s: Option<(f64, f64)>, n: usize| match (s, format) {
        (None, _) => "–".to_owned(),
        (Some((m, _)), _) if n == 1 => format!("{m:.4}"),
        (Some((m, sd)), Format::Tex) => format!("${m:.4} \\pm {sd:.4}$"),
        (Some((m, sd)), _) => format!("{m:.4} ± {sd:.4}"),
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    for g in &t.groups {
        let n = g.runs.len();
        let mut row = vec![g.dataset.clone()];
        row.extend(g.setting.iter().cloned());
        row.push(g.seeds().iter().map(u64::to_string).collect::<Vec<_>>().join(" "));
        if format == Format::Csv {
            for (_, f) in SCORES {
                row.push(g.final_stat(f).map_or(String::new(), |(m, sd)| format!("{m:.6},{sd:.6}")));
            }
            if knn {
                row.push(g.knn_stat().map_or(String::new(), |(m, sd)| format!("{m:.6},{sd:.6}")));
            }
            if kmeans {
                row.push(g.kmeans_z_stat().map_or(String::new(), |(m, sd)| format!("{m:.6},{sd:.6}")));
            }
            if by_seed {
                row.push(g.final_accs().iter().map(|a| format!("{a:.6}")).collect::<Vec<_>>().join(" "));
            }
            for (_, f) in SCORES {
                row.push(g.best_stat(f).map_or(String::new(), |(m, sd)| format!("{m:.6},{sd:.6}")));
            }
        } else {
            row.extend(SCORES.iter().map(|(_, f)| cell(g.final_stat(*f), n)));
            if knn {
                row.push(cell(g.knn_stat(), n));
            }
            if kmeans {
                row.push(cell(g.kmeans_z_stat(), n));
            }
            if by_seed {
                row.push(g.final_accs().iter().map(|a| format!("{a:.4}")).collect::<Vec<_>>().join(", "));
            }
            row.extend(SCORES.iter().map(|(_, f)| cell(g.best_stat(*f), n)));
        }
        rows.push(row);
    }
    match format {
        Format::Md => {
            let mut s = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
            for r in rows {
                s.push_str(&format!("| {} |\n", r.join(" | ")));
            }
            s.push_str("\nbest = the evaluated epoch with the highest ACC, chosen with the labels (label-selected).\n");
            if knn {
                s.push_str(BASELINE_NOTE);
            }
            s
        }
        Format::Csv => {
            let mut cols: Vec<String> = vec!["dataset".into()];
            cols.extend(t.settings.iter().cloned());
            cols.push("seeds".into());
            for which in ["final", "best_label_selected"] {
                for (n, _) in SCORES {
                    let n = n.to_ascii_lowercase();
                    cols.push(format!("{which}_{n}_mean"));
                    cols.push(format!("{which}_{n}_std"));
                }
                if knn && which == "final" {
                    cols.push("final_knn_acc_test_mean".into());
                    cols.push("final_knn_acc_test_std".into());
                }
                if kmeans && which == "final" {
                    cols.push("final_kmeans_z_acc_mean".into());
                    cols.push("final_kmeans_z_acc_std".into());
                }
                if by_seed && which == "final" {
                    cols.push("final_acc_by_seed".into());
                }
            }
            let mut s = cols.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",") + "\n";
            for r in rows {
                let (fixed, scores) = r.split_at(t.settings.len() + 2);
                let mut fields: Vec<String> = fixed.iter().map(|c| csv_field(c)).collect();
                fields.extend(scores.iter().map(|c| if c.is_empty() { ",".into() } else { c.clone() }));
                s.push_str(&fields.join(","));
                s.push('\n');
            }
            s
        }
        Format::Tex => {
            let mut s = format!("\\begin{{tabular}}{{{}}}\n\\hline\n", "l".repeat(head.len()));
            s.push_str(&head.iter().map(|h| tex_escape(h)).collect::<Vec<_>>().join(" & "));
            s.push_str(" \\\\\n\\hline\n");
            for r in rows {
                let (fixed, scores) = r.split_at(t.settings.len() + 2);
                let mut fields: Vec<String> = fixed.iter().map(|c| tex_escape(c)).collect();
                fields.extend(scores.iter().cloned());
                s.push_str(&fields.join(" & "));
                s.push_str(" \\\\\n");
            }
            s.push_str("\\hline\n\\end{tabular}\n% best = the epoch with the highest ACC, chosen with the labels (label-selected).\n");
            if knn {
                s.push_str(&format!("% {BASELINE_NOTE}"));
            }
            s
        }
    }
}

/// How to read a table that holds a metric-learning baseline.
const BASELINE_NOTE: &str = "For the triplet baselines (model siamese-conv, ae-conv, mlp) final = k-means on the \
                             held-out test split's embeddings, and kNN ACC is the test split's nearest-neighbour accuracy.\n";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

fn tex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '_' | '%' | '&' | '#' | '$' | '{' | '}' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_settings_read_as_they_were_written() {
        let cfg =
            TrainConfig { pseudo_warm_margin: 0.01, threshold: 0.8, learning_rate: 0.00059, ..TrainConfig::default() };
        let flat = flat_config(&cfg);
        assert_eq!(flat["pseudo_warm_margin"], "0.01");
        assert_eq!(flat["threshold"], "0.8");
        assert_eq!(flat["learning_rate"], "0.00059");
        assert_eq!(flat["batch_size"], "256");
    }
}
