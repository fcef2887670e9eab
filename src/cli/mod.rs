//! The command line: `mvc-workbench <command>`. One file per command family.

use clap::{Parser, Subcommand};

pub mod bench;
pub mod datasets;
pub mod eval;
pub mod gui;
pub mod inspect;
pub mod runs;
pub mod serve;
pub mod sweep;
pub mod train;
pub mod tsne;
pub mod update;

/// MVC Workbench — deep multi-view clustering (CVC-AFWM), desktop app and headless engine.
#[derive(Debug, Parser)]
#[command(name = "mvc-workbench", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Commands>,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Open the desktop workbench (the default when no command is given).
    Gui(gui::GuiArgs),
    /// Summarise a multi-view .mat file: views, shapes, statistics, labels.
    Inspect(inspect::InspectArgs),
    /// List the built-in datasets, or write them as .mat files.
    Datasets(datasets::DatasetsArgs),
    /// Train CVC-AFWM on a dataset; writes a checkpoint.
    // Boxed: its flags make it much larger than the other commands (clippy::large_enum_variant).
    Train(Box<train::TrainArgs>),
    /// Update a trained checkpoint on new data (frozen encoders, EWC-anchored centres, new clusters
    /// where new data lies far from every centre); writes a new checkpoint as a new run.
    Update(Box<update::UpdateArgs>),
    /// Score a checkpoint on a dataset (ACC, NMI, ARI, purity; three readings).
    Eval(eval::EvalArgs),
    /// Predict one sample with a checkpoint.
    Predict(eval::PredictArgs),
    /// Seconds per epoch of each phase and achieved GFLOP/s.
    Bench(bench::BenchArgs),
    /// The run store: list, show, compare, export, rename, tag and delete recorded runs.
    Runs(runs::RunsArgs),
    /// Run a grid or list of settings × seeds × datasets (resumable), then print the results table.
    Sweep(sweep::SweepArgs),
    /// Time a t-SNE of a dataset's raw features or a network's Z and report its trustworthiness (k = 12).
    Tsne(tsne::TsneArgs),
    /// Serve the HTTP API (POST /train, POST /predict, GET /runs/{id}, GET /openapi.json).
    Serve(serve::ServeArgs),
    /// Internal: read a MAT v7.3 file and write it to stdout as a MAT v5 stream (the program
    /// reads v7.3 files in a child process, so that a crash of the HDF5 library cannot take it down).
    #[command(name = "__read-v73", hide = true)]
    ReadV73 { file: std::path::PathBuf },
}

/// Parses the arguments, runs the command and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    // Name the shared worker pool (burn-flex, the loader and t-SNE run on it) so that a profile
    // or a panic message says whose thread it was. `RAYON_NUM_THREADS` is still honoured. It can
    // only fail if a pool was already built, which nothing does before this line.
    let _ = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("mvc-pool-{i}")).build_global();
    if let Some(Commands::ReadV73 { file }) = &cli.command {
        return crate::data::mat::isolate::child_main(file);
    }
    // v7.3 files are read by a child process of this same executable.
    if let Ok(exe) = std::env::current_exe() {
        crate::data::mat::isolate::set_helper(exe);
    }
    let result = match cli.command {
        Some(Commands::Gui(args)) => gui::run(&args),
        Some(Commands::Inspect(args)) => inspect::run(&args),
        Some(Commands::Datasets(args)) => datasets::run(&args),
        Some(Commands::Train(args)) => train::run_train(&args),
        Some(Commands::Update(args)) => update::run(&args),
        Some(Commands::Eval(args)) => eval::run_eval(&args),
        Some(Commands::Predict(args)) => eval::run_predict(&args),
        Some(Commands::Bench(args)) => bench::run_bench(&args),
        Some(Commands::Serve(args)) => serve::run(&args),
        Some(Commands::Runs(args)) => runs::run(&args),
        Some(Commands::Sweep(args)) => sweep::run(&args),
        Some(Commands::Tsne(args)) => tsne::run(&args),
        Some(Commands::ReadV73 { .. }) => Ok(()), // answered above
        None => gui::run(&gui::GuiArgs::default()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
