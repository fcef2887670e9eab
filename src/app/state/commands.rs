//! What panels ask the app to do, the queue they push into, and the context they read.

use std::path::PathBuf;

use crate::engine::protocol::LiveParams;
use crate::export::Figure;

use super::{DatasetSource, Marked, Session};

/// What to export.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportTarget {
    Svg(Figure),
    Png(Figure),
    Csv(Figure),
    RunJson,
    /// Every figure (SVG + PNG), every table and the run JSON into a new folder.
    All,
    /// The marked samples (indices, labels, predictions, uncertainty, coordinates).
    Selection(SelectionFormat),
}

/// What the timeline scrubber asks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimelineCommand {
    /// Show this epoch's snapshot (`None`: follow the latest).
    Pin(Option<usize>),
    /// Show the snapshot this many steps away.
    Step(isize),
    Play(bool),
    /// Snapshots per second.
    Speed(f32),
    /// Lay out every snapshot not laid out yet, one after another.
    LayOutAll,
}

/// The file format of an exported selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectionFormat {
    Csv,
    Json,
}

/// What panels ask the app to do. Applied after the ui pass.
#[derive(Debug, Clone, PartialEq)]
pub enum AppCommand {
    /// Load a dataset (on the loader thread).
    Load(DatasetSource),
    /// Reload the current dataset (after a change of preprocessing or overrides).
    Reload,
    /// Open the file dialog.
    OpenFileDialog,
    /// Choose the export folder with a dialog.
    ChooseExportDir,
    StartRun,
    Pause,
    Resume,
    Stop,
    /// Send live parameters to the running trainer.
    Live(LiveParams),
    /// Ask the trainer for an embedding snapshot now.
    RequestSnapshot,
    /// Recompute the t-SNE of the latest snapshot now.
    RecomputeTsne,
    PauseTsne(bool),
    CancelTsne,
    Select(Option<usize>),
    /// Mark a set of samples (or with `None` clear the marks).
    Mark(Option<Marked>),
    /// The timeline scrubber.
    Timeline(TimelineCommand),
    Export(ExportTarget),
    /// Apply a preset by name.
    ApplyPreset(String),
    /// Re-read the run store.
    RefreshRuns,
    /// Use this runs directory from now on (the Runs tile's setting).
    SetRunsDir(PathBuf),
    /// Overlay these stored runs' curves on the plots (replaces the previous choice).
    OverlayRuns(Vec<String>),
    /// Show a stored run in the tiles (its curves and last embedding snapshot).
    OpenRun(String),
    /// Load a stored run's dataset (with its preprocessing), then open the run again, so that the
    /// inspector reads every sample through its checkpoint.
    LoadRunDataset(String),
    /// Load a stored run's dataset and settings, ready to train again.
    TrainAgain(String),
    RenameRun(String, String),
    SetRunTags(String, Vec<String>),
    /// Delete a stored run (the panel asks for confirmation first).
    DeleteRun(String),
    /// Pin (or with `None` unpin) the baseline run.
    PinBaseline(Option<String>),
    /// Arm (or with `None` disarm) the "New data" action for a finished stored run: a file dropped
    /// on the window then updates its checkpoint.
    ArmNewData(Option<String>),
    /// Update a stored run's checkpoint on new data: this file, or one picked with a dialog.
    NewData(String, Option<PathBuf>),
}

/// The queue panels push commands into during a frame.
#[derive(Debug, Default)]
pub struct CommandQueue {
    queue: Vec<AppCommand>,
}

impl CommandQueue {
    pub fn send(&mut self, command: AppCommand) {
        self.queue.push(command);
    }

    pub fn drain(&mut self) -> Vec<AppCommand> {
        std::mem::take(&mut self.queue)
    }
}

/// What every panel reads (the session) and where it sends its commands.
pub struct ViewCtx<'a> {
    pub session: &'a Session,
    pub commands: &'a mut CommandQueue,
}
