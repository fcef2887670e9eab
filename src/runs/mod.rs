//! The run store: every training run, from any front end, recorded as one folder
//! `DIR/<id>/` (see `ARCHITECTURE.md`, "The run store").
//!
//! - `run.json`: the [`RunRecord`] (identity, status, dataset fingerprint, the full config,
//!   device, program version, results), rewritten atomically (temp file + rename);
//! - `epochs.jsonl`: one [`EpochLine`] per epoch (and one per evaluation), appended and flushed
//!   as it happens, so a killed process loses nothing it had finished;
//! - `snapshot.bin`: the latest embedding snapshot, compact and bounded ([`snapshot`]);
//! - `checkpoint/`: the trainer's checkpoint (the run folder is the trainer's out dir);
//! - `lock`: held (`flock`) by the process writing the run. A `running` record whose lock is
//!   free belongs to a process that is gone: it lists as `interrupted`.
//!
//! There is no index file: listing reads the folders, so losing one run loses only that run, and
//! two processes never write the same file (each run has one writer; renames and tags take the
//! folder's `edit.lock`).

pub mod record;
pub mod snapshot;
pub mod store;
pub mod table;
mod time;
pub mod update;
pub mod writer;

pub use record::{DatasetInfo, EpochLine, Results, RunRecord, ScoreRow, Status, UpdateRecord};
pub use store::{Listing, RunStore, StoreError, StoreProblem};
pub use writer::{NewRun, RunWriter};

use std::path::PathBuf;

/// The environment variable that overrides the default runs directory.
pub const ENV_VAR: &str = "MVC_RUNS";

/// The runs directory: `flag` when given, else `$MVC_RUNS`, else the platform data dir
/// (`$XDG_DATA_HOME/mvc-workbench/runs`, else `~/.local/share/mvc-workbench/runs`), else `./runs`.
pub fn runs_dir(flag: Option<&std::path::Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = env(ENV_VAR) {
        return p;
    }
    if let Some(p) = env("XDG_DATA_HOME") {
        return p.join("mvc-workbench").join("runs");
    }
    if let Some(home) = env("HOME") {
        return home.join(".local").join("share").join("mvc-workbench").join("runs");
    }
    PathBuf::from("runs")
}
