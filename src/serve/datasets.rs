//! From a request's `dataset_name` to something the loader opens: a built-in name, or a data
//! file (`.mat`, `.npy`, `.npz`, `.csv`, `.tsv`) inside the `--datasets` folder. The client's text is only ever compared with listed
//! names, never joined to a path; a listed file that is a symlink leading out of the folder is
//! not served. This reads the folder (blocking I/O): call it from a blocking task.

use std::path::{Path, PathBuf};

use super::ServeOptions;
use super::error::ServeError;
use crate::data::builtin;

/// Lower-case ASCII letters and digits only (`MNIST-USPS` and `mnist_usps` agree).
pub(super) fn normalise(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase()
}

/// The extensions of the data files the folder serves.
const DATA_EXTENSIONS: [&str; 5] = ["mat", "npy", "npz", "csv", "tsv"];

/// The data files of the datasets folder that really lie inside it, by file stem, with their
/// canonical paths.
fn mat_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(root) = dir.canonicalize() else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(&root) else { return Vec::new() };
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| DATA_EXTENSIONS.iter().any(|e| x.eq_ignore_ascii_case(e))))
        .filter_map(|p| {
            let real = p.canonicalize().ok()?;
            (real.starts_with(&root) && real.is_file()).then_some(())?;
            Some((p.file_stem()?.to_str()?.to_string(), real))
        })
        .collect();
    out.sort();
    out
}

/// Whether `name` looks like a path rather than a name.
fn is_path_like(name: &str) -> bool {
    name.contains(['/', '\\', '\0']) || name.contains("..") || Path::new(name).is_absolute()
}

/// Resolves `dataset_name` to a built-in name or the canonical path of a file of the datasets
/// folder (404 otherwise, naming what the server knows).
pub(super) fn resolve_dataset(name: &str, opts: &ServeOptions) -> Result<String, ServeError> {
    if builtin::description(name).is_some() {
        return Ok(name.to_string());
    }
    let files = opts.datasets_dir.as_deref().map(mat_files).unwrap_or_default();
    if !is_path_like(name) {
        let stem = DATA_EXTENSIONS.iter().find_map(|e| name.strip_suffix(&format!(".{e}"))).unwrap_or(name);
        let want = normalise(stem);
        if let Some((_, path)) = files
            .iter()
            .find(|(stem, _)| stem == name)
            .or_else(|| (!want.is_empty()).then(|| files.iter().find(|(stem, _)| normalise(stem) == want)).flatten())
        {
            return Ok(path.display().to_string());
        }
    }
    let mut known: Vec<String> = builtin::names().iter().map(|s| (*s).to_string()).collect();
    known.extend(files.iter().take(40).map(|(s, _)| s.clone()));
    let folder = match &opts.datasets_dir {
        Some(d) => format!(" and the data files in {}", d.display()),
        None => " (start the server with --datasets DIR to serve data files)".into(),
    };
    let shown: String = name.chars().take(200).collect();
    let path_note = if is_path_like(name) { " (dataset_name is a name, not a path)" } else { "" };
    Err(ServeError::UnknownDataset(format!(
        "unknown dataset_name {shown:?}{path_note}: the server knows the built-in datasets{folder}: {}",
        known.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_never_names() {
        for n in ["../x", "a/b", "/etc/passwd", "..", "a\\b", "x\0y"] {
            assert!(is_path_like(n), "{n}");
        }
        for n in ["MNIST-USPS", "gauss3-noise", "BDGP.mat", "a.b"] {
            assert!(!is_path_like(n), "{n}");
        }
    }
}
