//! The command line: `mvc-workbench <command>`. One file per command family.

use clap::{Parser, Subcommand};

pub mod datasets;
pub mod inspect;

/// MVC Workbench — deep multi-view clustering (CVC-AFWM), desktop app and headless engine.
#[derive(Debug, Parser)]
#[command(name = "mvc-workbench", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Commands>,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Summarise a multi-view .mat file: views, shapes, statistics, labels.
    Inspect(inspect::InspectArgs),
    /// List the built-in datasets, or write them as .mat files.
    Datasets(datasets::DatasetsArgs),
}

/// Parses the arguments, runs the command and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Commands::Inspect(args)) => inspect::run(&args),
        Some(Commands::Datasets(args)) => datasets::run(&args),
        None => {
            use clap::CommandFactory;
            Cli::command().print_help().ok();
            Ok(())
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
