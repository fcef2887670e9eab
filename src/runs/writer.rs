//! [`RunWriter`]: records one run as it happens.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::Rng as _;

use crate::engine::TrainConfig;
use crate::engine::protocol::{Event, MetricsReport, RunSummary};
use crate::engine::run_log::Readings;

use super::record::{DatasetInfo, EpochLine, FORMAT, Results, RunRecord, Status};
use super::snapshot;
use super::store::{
    EPOCHS_FILE, LOCK_FILE, RUN_FILE, RunStore, StoreError, io_err, read_raw, with_edit_lock, write_record,
};
use super::time;

/// What a new record starts with.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Empty: `<dataset> seed <seed>`.
    pub name: String,
    pub tags: Vec<String>,
    /// `cli`, `sweep`, `app` or `serve`.
    pub front_end: String,
    pub dataset: DatasetInfo,
    pub config: TrainConfig,
    pub sweep_cell: Option<String>,
}

/// The writer of one run folder: holds its `lock` until dropped, appends `epochs.jsonl` as events
/// come, and rewrites `run.json` when the run starts and ends. Dropped before the run ended (an
/// error in its front end), it records the run as `interrupted`.
#[derive(Debug)]
pub struct RunWriter {
    dir: PathBuf,
    record: RunRecord,
    epochs: File,
    /// Held (exclusive `flock`) for the writer's life; the kernel frees it if the process dies.
    _lock: File,
    written_epochs: std::collections::BTreeSet<usize>,
    metrics: Vec<MetricsReport>,
    ended: bool,
}

impl RunStore {
    /// Creates a new run folder (a fresh, unique id) and its writer; status `running`.
    pub fn create(&self, new: NewRun) -> Result<RunWriter, StoreError> {
        let created_unix = time::now_unix();
        let slug: String = new
            .dataset
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '_' })
            .take(24)
            .collect();
        // The folder is made under a hidden name, filled, then renamed into place, so a listing
        // never sees a run folder without its run.json.
        let (dir, id, staging) = loop {
            let suffix: u32 = rand::rng().random_range(0..0x1_0000);
            let id = format!("{}-{slug}-{suffix:04x}", time::compact(created_unix));
            let dir = self.run_dir(&id);
            let staging = self.dir().join(format!(".tmp-{id}"));
            if dir.exists() {
                continue;
            }
            match fs::create_dir(&staging) {
                Ok(()) => break (dir, id, staging),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(&staging)(e)),
            }
        };
        let lock_path = staging.join(LOCK_FILE);
        let lock = File::create(&lock_path).map_err(io_err(&lock_path))?;
        lock.lock().map_err(io_err(&lock_path))?;
        let name =
            if new.name.is_empty() { format!("{} seed {}", new.dataset.name, new.config.seed) } else { new.name };
        let record = RunRecord {
            format: FORMAT,
            id: id.clone(),
            name,
            tags: new.tags,
            created: time::rfc3339(created_unix),
            created_unix,
            status: Status::Running,
            reason: None,
            front_end: new.front_end,
            dataset: new.dataset,
            config: new.config,
            device: None,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ended: None,
            ended_unix: None,
            results: None,
            checkpoint: None,
            sweep_cell: new.sweep_cell,
            epochs_done: 0,
            update: None,
        };
        write_record(&staging, &record)?;
        let epochs_path = staging.join(EPOCHS_FILE);
        File::create(&epochs_path).map_err(io_err(&epochs_path))?;
        fs::rename(&staging, &dir).map_err(io_err(&dir))?;
        let epochs_path = dir.join(EPOCHS_FILE);
        let epochs = OpenOptions::new().append(true).open(&epochs_path).map_err(io_err(&epochs_path))?;
        Ok(RunWriter {
            dir,
            record,
            epochs,
            _lock: lock,
            written_epochs: Default::default(),
            metrics: Vec::new(),
            ended: false,
        })
    }
}

impl RunWriter {
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// The run folder: give it to the trainer as its out dir (the checkpoint goes to `DIR/checkpoint`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn record(&self) -> &RunRecord {
        &self.record
    }

    /// Records what an event adds: the device, an epoch line, an evaluation line, the latest
    /// snapshot, the checkpoint, and the end of the run.
    pub fn observe(&mut self, event: &Event) -> Result<(), StoreError> {
        match event {
            Event::Started { device, .. } => {
                self.record.device = Some(device.clone());
                self.save()?;
            }
            Event::Epoch(report) => {
                if self.written_epochs.insert(report.global_epoch) {
                    self.append(&EpochLine::Epoch { report: report.clone() })?;
                }
            }
            Event::Metrics(m) => {
                self.metrics.retain(|x| x.global_epoch != m.global_epoch);
                self.metrics.push(m.clone());
                self.append(&EpochLine::Metrics(m.clone()))?;
            }
            Event::Snapshot(s) => {
                snapshot::write(&self.dir.join(snapshot::FILE), s)?;
                snapshot::write_history(&self.dir, s)?;
            }
            Event::CheckpointSaved(p) => self.record.checkpoint = Some(p.clone()),
            Event::Finished(summary) => self.finish_with(summary)?,
            Event::Failed { error, last_checkpoint } => {
                if last_checkpoint.is_some() {
                    self.record.checkpoint.clone_from(last_checkpoint);
                }
                let status = if error.is_diverged() { Status::Diverged } else { Status::Failed };
                self.end(status, Some(error.to_string()), None)?;
            }
            Event::Progress(_)
            | Event::Phase(_)
            | Event::ParamsApplied(_)
            | Event::Paused
            | Event::Resumed
            | Event::Warning(_) => {}
        }
        Ok(())
    }

    /// Records the run as an update of a checkpoint (its lineage and measurements).
    pub fn set_update(&mut self, update: super::record::UpdateRecord) -> Result<(), StoreError> {
        self.record.update = Some(update);
        self.save()
    }

    /// Ends the run as failed for a reason outside the trainer (its thread died, the front end
    /// gave up).
    pub fn fail(&mut self, reason: &str) -> Result<(), StoreError> {
        self.end(Status::Failed, Some(reason.to_owned()), None)
    }

    fn finish_with(&mut self, summary: &RunSummary) -> Result<(), StoreError> {
        // The summary's history is complete even when epoch events were dropped on the way.
        for report in &summary.epochs {
            if self.written_epochs.insert(report.global_epoch) {
                self.append(&EpochLine::Epoch { report: report.clone() })?;
            }
        }
        for m in &summary.metrics {
            if !self.metrics.iter().any(|x| x.global_epoch == m.global_epoch) {
                self.metrics.push(m.clone());
                self.append(&EpochLine::Metrics(m.clone()))?;
            }
        }
        if summary.checkpoint.is_some() {
            self.record.checkpoint.clone_from(&summary.checkpoint);
        }
        self.record.device.get_or_insert_with(|| summary.device.clone());
        let readings = Readings::from_metrics(&self.metrics, summary.final_metrics.as_ref());
        let mut results = Results::from_readings(&readings, self.written_epochs.len());
        results.secs_per_epoch_pretrain = summary.secs_per_epoch_pretrain;
        results.secs_per_epoch_contrastive = summary.secs_per_epoch_contrastive;
        results.converged = summary.converged;
        let status = if summary.stopped { Status::Stopped } else { Status::Finished };
        self.end(status, None, Some(results))
    }

    fn end(&mut self, status: Status, reason: Option<String>, results: Option<Results>) -> Result<(), StoreError> {
        if self.ended {
            return Ok(());
        }
        self.ended = true;
        let now = time::now_unix();
        self.record.status = status;
        self.record.reason = reason;
        self.record.ended = Some(time::rfc3339(now));
        self.record.ended_unix = Some(now);
        let readings = Readings::from_metrics(&self.metrics, None);
        self.record.results =
            Some(results.unwrap_or_else(|| Results::from_readings(&readings, self.written_epochs.len())));
        self.record.epochs_done = self.written_epochs.len();
        self.save()
    }

    fn append(&mut self, line: &EpochLine) -> Result<(), StoreError> {
        let path = self.dir.join(EPOCHS_FILE);
        let mut text = serde_json::to_string(line)
            .map_err(|e| StoreError::Corrupt { path: path.clone(), why: format!("cannot serialise: {e}") })?;
        text.push('\n');
        // One write per line, so a kill leaves whole lines (at most the last one cut short).
        self.epochs.write_all(text.as_bytes()).map_err(io_err(&path))?;
        self.epochs.flush().map_err(io_err(&path))
    }

    /// Rewrites `run.json`, keeping the name and tags someone may have edited meanwhile.
    fn save(&mut self) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        with_edit_lock(&dir, || {
            if let Ok(on_disk) = read_raw(&dir.join(RUN_FILE)) {
                self.record.name = on_disk.name;
                self.record.tags = on_disk.tags;
            }
            write_record(&dir, &self.record)
        })
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        if !self.ended {
            let reason = "the program stopped recording this run before it ended";
            self.end(Status::Interrupted, Some(reason.into()), None).ok();
        }
    }
}
