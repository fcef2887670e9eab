//! `mvc-workbench datasets`: the built-in datasets, listed or written as `.mat` files.

use std::path::PathBuf;

use clap::Args;

use crate::data::{builtin, save_dataset};

/// Arguments of `datasets`.
#[derive(Debug, Args)]
pub struct DatasetsArgs {
    /// Write every built-in dataset as DIR/NAME.mat (MAT v5, compressed).
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
}

pub fn run(args: &DatasetsArgs) -> Result<(), String> {
    for (name, desc) in builtin::BUILTINS {
        match &args.write {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("{}: cannot create the directory: {e}", dir.display()))?;
                let ds = builtin::generate(name).map_err(|e| e.to_string())?;
                let path = dir.join(format!("{name}.mat"));
                save_dataset(&ds, &path).map_err(|e| e.to_string())?;
                println!("wrote {}", path.display());
            }
            None => println!("{name:<14} {desc}"),
        }
    }
    Ok(())
}
