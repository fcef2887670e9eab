//! The command line: `mvc-workbench <command>`. One file per command family.

use clap::{Parser, Subcommand};

pub mod datasets;
pub mod gui;
pub mod inspect;
pub mod serve;
pub mod train;

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
    /// Score a checkpoint on a dataset (ACC, NMI, ARI, purity; three readings).
    Eval(train::EvalArgs),
    /// Predict one sample with a checkpoint.
    Predict(train::PredictArgs),
    /// Seconds per epoch of each phase and achieved GFLOP/s.
    Bench(train::BenchArgs),
    /// Serve the HTTP API (POST /train, POST /predict, GET /runs/{id}, GET /openapi.json).
    Serve(serve::ServeArgs),
}

/// Parses the arguments, runs the command and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Commands::Gui(args)) => gui::run(&args),
        Some(Commands::Inspect(args)) => inspect::run(&args),
        Some(Commands::Datasets(args)) => datasets::run(&args),
        Some(Commands::Train(args)) => train::run_train(&args),
        Some(Commands::Eval(args)) => train::run_eval(&args),
        Some(Commands::Predict(args)) => train::run_predict(&args),
        Some(Commands::Bench(args)) => train::run_bench(&args),
        Some(Commands::Serve(args)) => serve::run(&args),
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
