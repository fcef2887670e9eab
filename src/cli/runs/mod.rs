//! `runs`: the run store from the command line (list, show, compare, export, rename, tag, delete).

mod show;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::runs::table::{self, Format};
use crate::runs::{self, RunStore};

/// Arguments of `runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The runs directory (default: $MVC_RUNS, else ~/.local/share/mvc-workbench/runs).
    #[arg(long, value_name = "DIR", global = true)]
    pub runs: Option<PathBuf>,
    #[command(subcommand)]
    pub command: RunsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Every recorded run, newest first.
    List {
        /// One JSON array of objects instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One run: its record, results and epochs.
    Show {
        /// A run id, a unique prefix of one, or a unique run name.
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Runs side by side: the config fields that differ, and their results.
    Compare {
        #[arg(required = true, num_args = 2..)]
        ids: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// The results table of the finished runs: datasets × settings, final and best (label-selected).
    Export {
        /// One row per setting with mean ± std over its seeds (else one row per run).
        #[arg(long)]
        group_by_seed: bool,
        #[arg(long, value_enum, default_value = "md")]
        format: Format,
        /// Only runs with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Another run store to read beside --runs (repeatable), e.g. one store a seed.
        #[arg(long, value_name = "DIR")]
        also: Vec<PathBuf>,
    },
    /// Renames a run.
    Rename { id: String, name: String },
    /// Adds (or with --remove, removes) tags.
    Tag {
        id: String,
        #[arg(required = true)]
        tags: Vec<String>,
        #[arg(long)]
        remove: bool,
    },
    /// Deletes runs (their folders, checkpoints included).
    Delete {
        #[arg(required = true)]
        ids: Vec<String>,
        /// Needed: deleting cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

/// `mvc-workbench runs`.
pub fn run(args: &RunsArgs) -> Result<(), String> {
    let store = RunStore::open(runs::runs_dir(args.runs.as_deref())).map_err(|e| e.to_string())?;
    let resolve = |id: &str| store.resolve(id).map_err(|e| e.to_string());
    match &args.command {
        RunsCommand::List { json } => show::list(&store, *json),
        RunsCommand::Show { id, json } => show::show(&store, &resolve(id)?, *json),
        RunsCommand::Compare { ids, json } => {
            let ids = ids.iter().map(|i| resolve(i)).collect::<Result<Vec<_>, _>>()?;
            show::compare(&store, &ids, *json)
        }
        RunsCommand::Export { group_by_seed, format, tag, also } => {
            let listing = store.list();
            show::report_problems(&listing.problems);
            let mut runs = listing.runs;
            for dir in also {
                if !dir.is_dir() {
                    return Err(format!("--also {}: there is no run store (no such folder)", dir.display()));
                }
                let other = RunStore::open(dir).map_err(|e| e.to_string())?.list();
                show::report_problems(&other.problems);
                runs.extend(other.runs);
            }
            if let Some(tag) = tag {
                runs.retain(|r| r.tags.contains(tag));
            }
            let done = table::finished(&runs);
            if done.is_empty() {
                let also: String = also.iter().map(|d| format!(", {}", d.display())).collect();
                return Err(format!("no finished runs in {}{also} to make a table of", store.dir().display()));
            }
            print!("{}", table::render(&table::table(&done, *group_by_seed), *format));
            Ok(())
        }
        RunsCommand::Rename { id, name } => {
            let rec = store.edit(&resolve(id)?, |r| r.name.clone_from(name)).map_err(|e| e.to_string())?;
            println!("{}: {}", rec.id, rec.name);
            Ok(())
        }
        RunsCommand::Tag { id, tags, remove } => {
            let rec = store
                .edit(&resolve(id)?, |r| {
                    if *remove {
                        r.tags.retain(|t| !tags.contains(t));
                    } else {
                        for t in tags {
                            if !r.tags.contains(t) {
                                r.tags.push(t.clone());
                            }
                        }
                    }
                })
                .map_err(|e| e.to_string())?;
            println!("{}: tags {}", rec.id, rec.tags.join(", "));
            Ok(())
        }
        RunsCommand::Delete { ids, yes } => {
            let ids = ids.iter().map(|i| resolve(i)).collect::<Result<Vec<_>, _>>()?;
            if !yes {
                return Err(format!("deleting {} cannot be undone; add --yes to delete them", ids.join(", ")));
            }
            for id in ids {
                store.delete(&id).map_err(|e| e.to_string())?;
                println!("deleted {id}");
            }
            Ok(())
        }
    }
}
