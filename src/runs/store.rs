//! [`RunStore`]: the runs directory: listing, loading, editing and deleting run folders.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};

use crate::engine::protocol::{EpochReport, MetricsReport};

use super::record::{EpochLine, RunRecord, Status};

/// `run.json`.
pub const RUN_FILE: &str = "run.json";
/// `epochs.jsonl`.
pub const EPOCHS_FILE: &str = "epochs.jsonl";
/// Held by the process writing the run.
pub const LOCK_FILE: &str = "lock";
/// Taken for every read-modify-write of `run.json`.
pub const EDIT_LOCK_FILE: &str = "edit.lock";

/// What can go wrong with the store. Every message names the file or the run.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: is not a valid run record: {why}")]
    Corrupt { path: PathBuf, why: String },
    #[error("no run {id:?} in {dir}")]
    NotFound { id: String, dir: PathBuf },
    #[error("{prefix:?} names more than one run in {dir}: {matches}")]
    Ambiguous { prefix: String, dir: PathBuf, matches: String },
    #[error("run {id} is still being written by a running process; stop it first")]
    Busy { id: String },
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// A run folder that could not be read, and why (the other runs list regardless).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreProblem {
    pub path: PathBuf,
    pub why: String,
}

impl std::fmt::Display for StoreProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.why)
    }
}

/// The runs of a store, newest first, and the folders that could not be read.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub runs: Vec<RunRecord>,
    pub problems: Vec<StoreProblem>,
}

/// A run's epochs and evaluations from `epochs.jsonl`.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub epochs: Vec<EpochReport>,
    pub metrics: Vec<MetricsReport>,
    /// Lines that could not be read (a line cut short by a kill is the usual one).
    pub problems: Vec<StoreProblem>,
}

/// A runs directory.
#[derive(Debug, Clone)]
pub struct RunStore {
    dir: PathBuf,
}

impl RunStore {
    /// Opens (creating it when missing) the runs directory `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(RunStore { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder of run `id`.
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Every run, newest first. A folder without a readable `run.json` is reported in
    /// `problems`, never fatal; `running` records whose writer is gone read as `interrupted`.
    pub fn list(&self) -> Listing {
        let mut listing = Listing::default();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) => {
                listing.problems.push(StoreProblem { path: self.dir.clone(), why: e.to_string() });
                return listing;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            // Folders being created or deleted (`.tmp-…`, `.del-…`) are not runs yet / any more.
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            match read_record(&path) {
                Ok(r) => listing.runs.push(r),
                Err(e) => listing.problems.push(StoreProblem { path: path.join(RUN_FILE), why: error_why(&e) }),
            }
        }
        listing.runs.sort_by(|a, b| b.created_unix.total_cmp(&a.created_unix).then_with(|| b.id.cmp(&a.id)));
        listing
    }

    /// Run `id` (its status resolved as in [`RunStore::list`]).
    pub fn load(&self, id: &str) -> Result<RunRecord, StoreError> {
        let dir = self.run_dir(id);
        if !dir.join(RUN_FILE).exists() {
            return Err(StoreError::NotFound { id: id.to_owned(), dir: self.dir.clone() });
        }
        read_record(&dir)
    }

    /// The id of the run named by `key`: an id, a unique id prefix, or a unique run name.
    pub fn resolve(&self, key: &str) -> Result<String, StoreError> {
        if !key.is_empty() && !key.contains(['/', '\\']) && self.run_dir(key).join(RUN_FILE).is_file() {
            return Ok(key.to_owned());
        }
        let runs = self.list().runs;
        let mut hits: Vec<&RunRecord> = runs.iter().filter(|r| r.id.starts_with(key)).collect();
        if hits.is_empty() {
            hits = runs.iter().filter(|r| r.name == key).collect();
        }
        match hits.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(StoreError::NotFound { id: key.to_owned(), dir: self.dir.clone() }),
            many => Err(StoreError::Ambiguous {
                prefix: key.to_owned(),
                dir: self.dir.clone(),
                matches: many.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", "),
            }),
        }
    }

    /// The epochs and evaluations run `id` recorded.
    pub fn history(&self, id: &str) -> Result<History, StoreError> {
        let path = self.run_dir(id).join(EPOCHS_FILE);
        let mut h = History::default();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(h),
            Err(e) => return Err(io_err(&path)(e)),
        };
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(io_err(&path))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<EpochLine>(&line) {
                Ok(EpochLine::Epoch { report }) => {
                    if let Some(i) = h.epochs.iter().position(|e| e.global_epoch == report.global_epoch) {
                        h.epochs.remove(i);
                    }
                    h.epochs.push(report);
                }
                Ok(EpochLine::Metrics(m)) => {
                    h.metrics.retain(|x| x.global_epoch != m.global_epoch);
                    h.metrics.push(m);
                }
                Err(e) => h.problems.push(StoreProblem { path: path.clone(), why: format!("line {}: {e}", i + 1) }),
            }
        }
        Ok(h)
    }

    /// Changes run `id`'s `run.json` under its edit lock (rename, tags); safe while its writer runs.
    pub fn edit(&self, id: &str, change: impl FnOnce(&mut RunRecord)) -> Result<RunRecord, StoreError> {
        let dir = self.run_dir(id);
        if !dir.join(RUN_FILE).is_file() {
            return Err(StoreError::NotFound { id: id.to_owned(), dir: self.dir.clone() });
        }
        with_edit_lock(&dir, || {
            let mut rec = read_raw(&dir.join(RUN_FILE))?;
            change(&mut rec);
            write_record(&dir, &rec)?;
            Ok(rec)
        })
    }

    /// Deletes run `id` (refused while a process is writing it).
    pub fn delete(&self, id: &str) -> Result<(), StoreError> {
        let dir = self.run_dir(id);
        if !dir.join(RUN_FILE).is_file() {
            return Err(StoreError::NotFound { id: id.to_owned(), dir: self.dir.clone() });
        }
        if writer_alive(&dir) {
            return Err(StoreError::Busy { id: id.to_owned() });
        }
        // Renamed out of the listing first, so a half-deleted folder never lists as a broken run.
        let trash = self.dir.join(format!(".del-{id}"));
        fs::rename(&dir, &trash).map_err(io_err(&dir))?;
        fs::remove_dir_all(&trash).map_err(io_err(&trash))
    }
}

fn error_why(e: &StoreError) -> String {
    match e {
        StoreError::Corrupt { why, .. } => why.clone(),
        StoreError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// Reads `dir/run.json` as it is on disk.
pub(super) fn read_raw(path: &Path) -> Result<RunRecord, StoreError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt { path: path.to_path_buf(), why: e.to_string() })
}

/// Reads a run folder's record and resolves what only the folder knows: a `running` record
/// with nobody holding its lock is `interrupted`, and its epochs are counted from `epochs.jsonl`.
fn read_record(dir: &Path) -> Result<RunRecord, StoreError> {
    let mut rec = read_raw(&dir.join(RUN_FILE))?;
    if rec.status == Status::Running && !writer_alive(dir) {
        rec.status = Status::Interrupted;
        rec.reason.get_or_insert_with(|| "the process writing this run ended before the run did".into());
    }
    rec.epochs_done = match rec.results.as_ref() {
        Some(r) if rec.status != Status::Running => r.epochs_done,
        _ => count_epochs(&dir.join(EPOCHS_FILE)),
    };
    reconcile_centring(&mut rec, dir);
    Ok(rec)
}

/// Before session 27 a run continued from a checkpoint (`init_from`) with `view_centring = false`
/// kept the checkpoint's centring and centred its heads too: it ran `centring_scope = all` while
/// its record says no centring. Its checkpoint's `meta.json` tells the truth (`view_centring` and
/// `centre_heads` both true); the record's config is read as what ran, so `runs export` never
/// labels such a run "no centring". Records whose checkpoint is missing are left as they are.
fn reconcile_centring(rec: &mut RunRecord, dir: &Path) {
    if rec.config.view_centring || rec.config.init_from.is_none() {
        return;
    }
    // The run folder's own checkpoint, else the recorded one (which may be relative to where
    // the run was started).
    let candidates = [Some(dir.join("checkpoint")), rec.checkpoint.clone()];
    let Some(text) = candidates.iter().flatten().find_map(|c| fs::read_to_string(c.join("meta.json")).ok()) else {
        return;
    };
    let Ok(meta) = serde_json::from_str::<serde_json::Value>(&text) else { return };
    let flag = |key: &str| meta["model"][key].as_bool() == Some(true);
    if flag("view_centring") && flag("centre_heads") {
        rec.config.view_centring = true;
        rec.config.centring_scope = crate::engine::config::CentringScope::All;
    }
}

/// Complete epoch lines in `epochs.jsonl` (a line cut short by a kill is not counted).
fn count_epochs(path: &Path) -> usize {
    let Ok(bytes) = fs::read(path) else { return 0 };
    let mut seen = std::collections::BTreeSet::new();
    for line in bytes.split(|&b| b == b'\n') {
        if !line.starts_with(br#"{"kind":"epoch""#) {
            continue;
        }
        if let Ok(EpochLine::Epoch { report, .. }) = serde_json::from_slice::<EpochLine>(line) {
            seen.insert(report.global_epoch);
        }
    }
    seen.len()
}

/// Whether some process holds the run's writer lock.
pub(super) fn writer_alive(dir: &Path) -> bool {
    let Ok(f) = File::open(dir.join(LOCK_FILE)) else { return false };
    match f.try_lock_shared() {
        Ok(()) => {
            f.unlock().ok();
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

/// Runs `f` holding the folder's edit lock (blocking until other editors are done).
pub(super) fn with_edit_lock<T>(dir: &Path, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let path = dir.join(EDIT_LOCK_FILE);
    let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io_err(&path))?;
    lock.lock().map_err(io_err(&path))?;
    let out = f();
    lock.unlock().ok();
    out
}

/// Writes `dir/run.json` atomically: a temp file in the same folder, synced, then renamed over.
pub(super) fn write_record(dir: &Path, rec: &RunRecord) -> Result<(), StoreError> {
    let path = dir.join(RUN_FILE);
    let text = serde_json::to_vec_pretty(rec)
        .map_err(|e| StoreError::Corrupt { path: path.clone(), why: format!("cannot serialise: {e}") })?;
    write_atomic(&path, &text)
}

/// Temp file + fsync + rename: readers see the old file or the new one, never a mix.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err(path))
}
