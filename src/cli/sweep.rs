//! `sweep SPEC.toml`: settings × seeds × datasets, `--jobs` runs at a time (each a `train` child
//! process with its share of the threads), recorded in the run store, resumable: a cell that
//! already has a finished run (same dataset, config and seed) is skipped.

use std::collections::VecDeque;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::engine::config::TrainConfig;
use crate::engine::layers::{Layers, Patch};
use crate::engine::run_log::format_secs;
use crate::runs::table::{self, Format};
use crate::runs::{self, RunRecord, RunStore, Status};

/// Arguments of `sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep: `datasets`, `seeds`, optional `preset` (or `[presets]`, one per dataset) and
    /// `preprocess`, `[base]` (config fields for every cell), `[grid]` (every combination of these
    /// lists) and/or `[[cells]]` (a list of settings).
    pub spec: PathBuf,
    /// The runs directory (default: $MVC_RUNS, else ~/.local/share/mvc-workbench/runs).
    #[arg(long, value_name = "DIR")]
    pub runs: Option<PathBuf>,
    /// Runs at a time; the CPU threads are divided between them.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Print the sweep's runs as one JSON array at the end instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// A sweep file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Built-in dataset names or `.mat` paths (relative to the spec's folder or the current one).
    pub datasets: Vec<String>,
    #[serde(default)]
    pub seeds: Vec<u64>,
    #[serde(default)]
    pub preset: Option<String>,
    /// A preset per dataset (by the name given in `datasets`), instead of `preset`.
    #[serde(default)]
    pub presets: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub preprocess: Option<String>,
    #[serde(default)]
    pub base: Patch,
    #[serde(default)]
    pub grid: Patch,
    #[serde(default)]
    pub cells: Vec<Patch>,
}

/// One run of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub dataset: String,
    pub config: TrainConfig,
    pub preprocess: String,
    /// Identifies the cell across invocations: a hash of dataset, preprocessing and config.
    pub key: String,
}

impl SweepSpec {
    pub fn read(path: &Path) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read the sweep: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: is not a valid sweep: {e}", path.display()))
    }

    /// The settings: every combination of `[grid]`, then each `[[cells]]` entry (one empty
    /// setting when there are neither), each laid over `[base]`.
    pub fn settings(&self) -> Result<Vec<Patch>, String> {
        let mut combos: Vec<Patch> = vec![Patch::new()];
        for (key, values) in &self.grid {
            let Some(values) = values.as_array() else {
                return Err(format!("[grid] {key} must be a list of values"));
            };
            if values.is_empty() {
                return Err(format!("[grid] {key} is an empty list"));
            }
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.insert(key.clone(), v.clone());
                        c
                    })
                })
                .collect();
        }
        if !self.cells.is_empty() {
            if self.grid.is_empty() {
                combos.clear();
            }
            combos.extend(self.cells.iter().cloned());
        }
        Ok(combos
            .into_iter()
            .map(|c| {
                let mut p = self.base.clone();
                p.extend(c);
                p
            })
            .collect())
    }

    /// Every cell: datasets × settings × seeds, configs built by the shared layering.
    pub fn cells(&self, spec_dir: &Path) -> Result<Vec<Cell>, String> {
        if self.datasets.is_empty() {
            return Err("the sweep names no datasets".into());
        }
        let chosen = self.preprocess.as_deref().map(str::parse::<crate::data::Preprocess>).transpose()?;
        let mut out = Vec::new();
        for ds in &self.datasets {
            let dataset = resolve_dataset(ds, spec_dir);
            for setting in self.settings()? {
                let seeds: Vec<Option<u64>> =
                    if self.seeds.is_empty() { vec![None] } else { self.seeds.iter().copied().map(Some).collect() };
                for seed in seeds {
                    let mut user = setting.clone();
                    crate::engine::layers::put(&mut user, "seed", seed);
                    let layers = Layers {
                        preset: self.presets.get(ds).or(self.preset.as_ref()).cloned(),
                        user,
                        user_origin: "the sweep".into(),
                        ..Layers::default()
                    };
                    let config = layers.build().map_err(|e| e.to_string())?;
                    // The sweep's scaling, else the cell's preset's, else min-max.
                    let preprocess =
                        crate::engine::presets::scaling(config.preset.as_deref(), chosen).as_str().to_owned();
                    let key = cell_key(&dataset, &preprocess, &config);
                    out.push(Cell { dataset: dataset.clone(), config, preprocess, key });
                }
            }
        }
        Ok(out)
    }
}

/// A built-in name as it is; a path relative to the spec's folder when the file is there.
fn resolve_dataset(ds: &str, spec_dir: &Path) -> String {
    if crate::data::builtin::description(ds).is_some() || Path::new(ds).is_absolute() {
        return ds.to_owned();
    }
    let beside = spec_dir.join(ds);
    if beside.exists() { beside.display().to_string() } else { ds.to_owned() }
}

/// Hash of what makes a cell: the dataset, the scaling and the config (its JSON).
pub fn cell_key(dataset: &str, preprocess: &str, config: &TrainConfig) -> String {
    let mut h = Sha256::new();
    h.update(dataset.as_bytes());
    h.update([0]);
    h.update(preprocess.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(config).unwrap_or_default());
    h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// `mvc-workbench sweep`.
pub fn run(args: &SweepArgs) -> Result<(), String> {
    let spec = SweepSpec::read(&args.spec)?;
    let spec_dir = args.spec.parent().map(Path::to_path_buf).unwrap_or_default();
    let cells = spec.cells(&spec_dir)?;
    // What tells the cells apart (besides dataset and seed), for the progress lines.
    let varied: Vec<String> = table::config_diff(&cells.iter().map(|c| &c.config).collect::<Vec<_>>())
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k != "seed")
        .collect();
    let store = RunStore::open(runs::runs_dir(args.runs.as_deref())).map_err(|e| e.to_string())?;
    let listing = store.list();
    let done = |c: &Cell| {
        listing.runs.iter().any(|r| r.status == Status::Finished && r.sweep_cell.as_deref() == Some(c.key.as_str()))
    };
    let todo: VecDeque<Cell> = cells.iter().filter(|c| !done(c)).cloned().collect();
    let (total, skipped) = (cells.len(), cells.len() - todo.len());
    let jobs = args.jobs.clamp(1, todo.len().max(1));
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per_job = (threads / jobs).max(1);
    eprintln!(
        "sweep: {total} cells, {skipped} already finished in {}, {} to run, {jobs} at a time × {per_job} threads",
        store.dir().display(),
        todo.len()
    );
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program's executable: {e}"))?;
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot make a temporary folder: {e}"))?;
    let queue = Arc::new(Mutex::new(todo));
    let progress = Arc::new(Mutex::new(Progress::new(total - skipped, jobs)));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..jobs {
        let (queue, progress, varied) = (Arc::clone(&queue), Arc::clone(&progress), varied.clone());
        let (exe, dir, tmp) = (exe.clone(), store.dir().to_path_buf(), tmp.path().to_path_buf());
        let worker = std::thread::Builder::new().name(format!("mvc-sweep-{w}")).spawn(move || {
            loop {
                let Some(cell) = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop_front() else {
                    return;
                };
                let outcome = run_cell(&exe, &dir, &tmp, &cell, per_job);
                let mut p = progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                p.report(&describe(&cell, &varied), outcome, started);
            }
        });
        workers.push(worker.map_err(|e| format!("cannot start a sweep thread: {e}"))?);
    }
    for w in workers {
        w.join().map_err(|_| "a sweep thread panicked".to_string())?;
    }
    let failed = {
        let p = progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        p.bar.finish_and_clear();
        p.failed
    };
    let keys: Vec<&str> = cells.iter().map(|c| c.key.as_str()).collect();
    let mine: Vec<RunRecord> = store
        .list()
        .runs
        .into_iter()
        .filter(|r| r.status == Status::Finished && r.sweep_cell.as_deref().is_some_and(|k| keys.contains(&k)))
        .collect();
    if args.json {
        let all: Vec<serde_json::Value> = mine.iter().map(RunRecord::summary_json).collect();
        println!("{}", serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?);
    } else if !mine.is_empty() {
        print!("{}", table::render(&table::table(&table::finished(&mine), true), Format::Md));
    }
    if failed > 0 {
        return Err(format!("{failed} of {} cells failed (their runs are recorded with the reason)", total - skipped));
    }
    Ok(())
}

/// The sweep's progress: a bar with the ETA on a terminal, and one line per finished cell
/// (above the bar, or alone when stderr is not a terminal, e.g. a log file).
#[derive(Debug)]
struct Progress {
    to_run: usize,
    finished: usize,
    failed: usize,
    jobs: usize,
    bar: ProgressBar,
}

impl Progress {
    fn new(to_run: usize, jobs: usize) -> Self {
        let bar = ProgressBar::new(to_run as u64);
        if let Ok(style) = ProgressStyle::with_template("sweep [{bar:30}] {pos}/{len} cells  {elapsed}  {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(format!("ETA after the first cell ({jobs} at a time)"));
        bar.enable_steady_tick(std::time::Duration::from_secs(1));
        Self { to_run, finished: 0, failed: 0, jobs, bar }
    }

    fn report(&mut self, what: &str, outcome: Result<(), String>, started: Instant) {
        self.finished += 1;
        let elapsed = started.elapsed().as_secs_f64();
        let left = self.to_run.saturating_sub(self.finished);
        let eta = elapsed / self.finished as f64 * left as f64;
        let line = match outcome {
            Ok(()) => format!(
                "[{}/{}] done {what}  elapsed {}  ETA {} ({} at a time)",
                self.finished,
                self.to_run,
                format_secs(elapsed),
                format_secs(eta),
                self.jobs
            ),
            Err(e) => {
                self.failed += 1;
                format!("[{}/{}] FAILED {what}: {e}", self.finished, self.to_run)
            }
        };
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
        self.bar.set_position(self.finished as u64);
        let failed = if self.failed > 0 { format!(", {} failed", self.failed) } else { String::new() };
        self.bar.set_message(format!("ETA {}{failed}", format_secs(eta)));
    }
}

/// `gauss3-noise seed 2, learning_rate = 0.001`: the dataset, the seed and the varied settings.
fn describe(cell: &Cell, varied: &[String]) -> String {
    let flat = table::flat_config(&cell.config);
    let mut s = format!("{} seed {}", cell.dataset, cell.config.seed);
    for k in varied {
        s.push_str(&format!(", {k} = {}", flat.get(k).map_or("–", String::as_str)));
    }
    s
}

/// Runs one cell as a `train` child process with `threads` rayon threads.
fn run_cell(exe: &Path, runs_dir: &Path, tmp: &Path, cell: &Cell, threads: usize) -> Result<(), String> {
    let cfg_path = tmp.join(format!("{}.toml", cell.key));
    let text = toml::to_string(&cell.config).map_err(|e| format!("cannot write the cell's config: {e}"))?;
    std::fs::write(&cfg_path, text).map_err(|e| format!("{}: {e}", cfg_path.display()))?;
    let mut child = Command::new(exe)
        .arg("train")
        .arg(&cell.dataset)
        .arg("--config")
        .arg(&cfg_path)
        .arg("--preprocess")
        .arg(&cell.preprocess)
        .arg("--runs")
        .arg(runs_dir)
        .arg("--sweep-cell")
        .arg(&cell.key)
        .arg("--json")
        .env("RAYON_NUM_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let mut err = String::new();
    if let Some(mut s) = child.stderr.take() {
        s.read_to_string(&mut err).ok();
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").to_owned();
        Err(format!("{status}: {last}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(spec: &str) -> Vec<Cell> {
        toml::from_str::<SweepSpec>(spec).unwrap().cells(Path::new(".")).unwrap()
    }

    #[test]
    fn each_cell_is_scaled_by_the_sweep_else_by_its_preset() {
        let per_dataset = "datasets = [\"gauss3-noise\", \"Prokaryotic.mat\"]\n\
                           [presets]\n\"Prokaryotic.mat\" = \"Prokaryotic\"\n";
        let got: Vec<(String, String)> = cells(per_dataset).into_iter().map(|c| (c.dataset, c.preprocess)).collect();
        assert_eq!(
            got,
            [("gauss3-noise".to_owned(), "minmax".to_owned()), ("Prokaryotic.mat".to_owned(), "none".to_owned())]
        );
        let chosen = format!("preprocess = \"zscore\"\n{per_dataset}");
        assert!(cells(&chosen).iter().all(|c| c.preprocess == "zscore"));
        let bad = format!("preprocess = \"rows\"\n{per_dataset}");
        let err = toml::from_str::<SweepSpec>(&bad).unwrap().cells(Path::new(".")).unwrap_err();
        assert!(err.contains("unknown preprocessing"), "{err}");
    }
}
