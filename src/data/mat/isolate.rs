//! Reading v7.3 (HDF5) files in a child process.
//!
//! The HDF5 C library (Debian 12 ships 1.10.8) can crash the process on a damaged file — a
//! mutated copy of a real v7.3 file made it `memcpy` out of bounds in `H5SM_get_fheap_addr`
//! (`docs/RELIABILITY.md`). No error check on our side can stop that, so the program reads
//! v7.3 files in a child: `mvc-workbench __read-v73 FILE` reads it with [`super::v73::read`] and
//! writes the variables to stdout as an uncompressed MAT v5 stream, which this process parses with
//! its own (checked) v5 reader. A child that crashes, hangs or fails becomes a [`DataError`]; the
//! app, a CLI run and `serve` survive it.
//!
//! The front ends register the executable with [`set_helper`] (`cli::main` does it); without one
//! (the library used from a test binary) v7.3 files are read in-process.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{MatFile, MatValue, MatVariable, v5, v73, writer};
use crate::data::dataset::MatFormat;
use crate::data::error::DataError;

/// The hidden subcommand the child runs.
pub const SUBCOMMAND: &str = "__read-v73";

/// Names the top-level variables the child skipped, with why; a name no MATLAB variable can have.
const SKIPPED_VAR: &str = "\u{1}skipped";

static HELPER: OnceLock<PathBuf> = OnceLock::new();

/// Registers the executable that answers [`SUBCOMMAND`] (normally `std::env::current_exe()`).
/// The first registration wins.
pub fn set_helper(exe: PathBuf) {
    let _ = HELPER.set(exe);
}

/// Reads a v7.3 file: in a child process when a helper is registered, else in-process.
pub fn read_v73(path: &Path) -> Result<MatFile, DataError> {
    match HELPER.get() {
        Some(exe) => read_in_child(exe, path),
        None => v73::read(path),
    }
}

/// How long a child may take: a minute, plus a second per MiB of file.
fn deadline(path: &Path) -> Duration {
    let mib = std::fs::metadata(path).map(|m| m.len() >> 20).unwrap_or(0);
    Duration::from_secs(60 + mib)
}

fn read_in_child(exe: &Path, path: &Path) -> Result<MatFile, DataError> {
    let hdf5 = |why: String| DataError::Hdf5 { path: path.to_path_buf(), why };
    let mut child = Command::new(exe)
        .arg(SUBCOMMAND)
        .arg("--")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| hdf5(format!("cannot start the HDF5 reader process {}: {e}", exe.display())))?;
    // Drain both pipes on their own threads so a large output never blocks the child.
    let drain = |pipe: Option<Box<dyn Read + Send>>, name: &str| {
        std::thread::Builder::new().name(name.into()).spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let give_up = |child: &mut std::process::Child, why: String| {
        let _ = child.kill();
        let _ = child.wait();
        hdf5(why)
    };
    let out = match drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>), "mvc-v73-stdout") {
        Ok(t) => t,
        Err(e) => return Err(give_up(&mut child, format!("cannot start a pipe reader: {e}"))),
    };
    let err = match drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>), "mvc-v73-stderr") {
        Ok(t) => t,
        Err(e) => return Err(give_up(&mut child, format!("cannot start a pipe reader: {e}"))),
    };
    let limit = deadline(path);
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > limit => {
                return Err(give_up(
                    &mut child,
                    format!(
                        "the HDF5 library did not finish reading the file within {} s (it may be damaged)",
                        limit.as_secs()
                    ),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(give_up(&mut child, format!("lost the HDF5 reader process: {e}"))),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).trim().to_string();
    if !status.success() {
        if status.code() == Some(2) && !stderr.is_empty() {
            // The child's own error, already naming the file.
            return Err(DataError::Other(stderr));
        }
        if status.code() == Some(PANICKED) {
            // A bug in this program's v7.3 reader, not in HDF5: say so plainly.
            return Err(hdf5(format!("internal error: the v7.3 reader panicked: {stderr}")));
        }
        return Err(hdf5(format!(
            "the HDF5 library crashed reading the file ({}); the file is damaged or uses a feature it mishandles",
            describe(status)
        )));
    }
    let mut file =
        v5::parse(path, &stdout).map_err(|e| hdf5(format!("the HDF5 reader's answer is unreadable: {e}")))?;
    restore(&mut file, path);
    Ok(file)
}

fn describe(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("signal {sig}");
        }
    }
    format!("{status}")
}

/// Puts back what the v5 stream cannot say: the format, the header text and skipped variables.
fn restore(file: &mut MatFile, path: &Path) {
    file.format = MatFormat::V73;
    file.header = v73::header_text(path);
    let Some(i) = file.variables.iter().position(|v| v.name == SKIPPED_VAR) else { return };
    let list = file.variables.remove(i);
    for line in list.value.strings().unwrap_or_default() {
        if let Some((name, what)) = line.split_once('\t')
            && let Some(v) = file.variables.iter_mut().find(|v| v.name == name)
        {
            v.value = MatValue::Skipped { what: what.to_string() };
        }
    }
}

/// The child's exit code when this program's own reader panicked.
const PANICKED: i32 = 3;

/// The child's side: reads `path` and writes a v5 stream to stdout. Returns the exit code
/// (0 read, 2 refused with a message on stderr, 3 a panic of this program's reader, its message
/// on stderr).
pub fn child_main(path: &Path) -> i32 {
    std::panic::set_hook(Box::new(|_| {}));
    let read = std::panic::catch_unwind(|| v73::read(path));
    let _ = std::panic::take_hook();
    let read = match read {
        Ok(r) => r,
        Err(payload) => {
            eprintln!("{}", crate::panic::message(payload.as_ref()));
            return PANICKED;
        }
    };
    match read {
        Ok(file) => {
            if let Some(v) = file.variables.iter().find(|v| !fits_v5(&v.value)) {
                eprintln!(
                    "{}: variable `{}`: is larger than 4 GiB or has a dimension above 2^31 - 1, more than the v7.3 reader process can pass on",
                    path.display(),
                    v.name
                );
                return 2;
            }
            let skipped: Vec<String> = file
                .variables
                .iter()
                .filter_map(|v| match &v.value {
                    MatValue::Skipped { what } => Some(format!("{}\t{what}", v.name)),
                    _ => None,
                })
                .collect();
            let mut vars = file.variables;
            if !skipped.is_empty() {
                let rows = skipped.len();
                let width = skipped.iter().map(|s| s.chars().count()).max().unwrap_or(0);
                let mut chars = vec![' '; rows * width];
                for (r, s) in skipped.iter().enumerate() {
                    for (c, ch) in s.chars().enumerate() {
                        chars[r + c * rows] = ch;
                    }
                }
                vars.push(MatVariable {
                    name: SKIPPED_VAR.into(),
                    value: MatValue::Char { dims: vec![rows, width], chars },
                });
            }
            let bytes = writer::encode_v5(&vars, false);
            let mut out = std::io::stdout().lock();
            if out.write_all(&bytes).and_then(|_| out.flush()).is_err() {
                return 2;
            }
            0
        }
        Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}

/// Whether a value fits the v5 stream: 32-bit element sizes (at most 8 bytes a value) and
/// dimensions that fit an `i32`.
fn fits_v5(v: &MatValue) -> bool {
    const MAX_BYTES: usize = (u32::MAX as usize) - 4096;
    let dims_ok = |dims: &[usize]| dims.iter().all(|&d| d <= i32::MAX as usize);
    match v {
        MatValue::Numeric(a) => dims_ok(&a.dims) && a.data.len().saturating_mul(8) <= MAX_BYTES,
        MatValue::Sparse(s) => {
            dims_ok(&[s.rows, s.cols]) && s.data.len().saturating_mul(8) <= MAX_BYTES && s.jc.len() * 4 <= MAX_BYTES
        }
        MatValue::Char { dims, chars } => dims_ok(dims) && chars.len().saturating_mul(2) <= MAX_BYTES,
        MatValue::Cell { dims, items } => dims_ok(dims) && items.iter().all(fits_v5),
        MatValue::Skipped { .. } => true,
    }
}
