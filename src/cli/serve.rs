//! `serve`: the HTTP API (`/train`, `/predict`, `/runs/{id}`, `/openapi.json`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::engine::config::DeviceChoice;
use crate::serve::{DEFAULT_ADDR, ServeOptions, is_loopback, serve_blocking};

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default; another address needs --allow-remote).
    #[arg(long, default_value = DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// Allow a non-loopback address: anyone who can reach it can train and predict.
    #[arg(long)]
    pub allow_remote: bool,
    /// Folder of .mat files that `dataset_name` may name (besides the built-in datasets).
    #[arg(long)]
    pub datasets: Option<PathBuf>,
    /// The runs directory each run is recorded in, with its checkpoint (default: $MVC_RUNS, else
    /// ~/.local/share/mvc-workbench/runs); GET /runs lists it.
    #[arg(long, value_name = "DIR")]
    pub runs: Option<PathBuf>,
    /// auto, flex (alias cpu), wgpu or wgpu-software.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
}

/// `mvc-workbench serve`.
pub fn run(args: &ServeArgs) -> Result<(), String> {
    if !is_loopback(&args.addr) {
        if !args.allow_remote {
            return Err(format!(
                "{} is not a loopback address: the API has no authentication, so serving it to other machines needs --allow-remote",
                args.addr
            ));
        }
        eprintln!(
            "warning: serving on {}: any machine that can reach it can start training runs and read predictions",
            args.addr
        );
    }
    if let Some(dir) = &args.datasets
        && !dir.is_dir()
    {
        return Err(format!("--datasets {}: is not a folder", dir.display()));
    }
    let opts = ServeOptions {
        datasets_dir: args.datasets.clone(),
        runs_dir: crate::runs::runs_dir(args.runs.as_deref()),
        device: args.device,
        ..ServeOptions::default()
    };
    serve_blocking(args.addr, opts)
}
