//! Atomic writes of the exported files (temporary file in the same folder, then a rename).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::ExportError;

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io { path: path.to_path_buf(), source }
}

/// A sibling temporary path that keeps the extension (the PNG encoder picks the format by it).
pub(super) fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(|| "export".into(), |n| n.to_string_lossy().into_owned());
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    let unique = format!(".{name}.{}-{}.tmp{ext}", std::process::id(), next_temp_id());
    path.with_file_name(unique)
}

fn next_temp_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub(super) fn ensure_parent(path: &Path) -> Result<(), ExportError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (temp file + fsync + rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    ensure_parent(path)?;
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        std::fs::remove_file(&tmp).ok();
        return Err(ExportError::Io { path: path.to_path_buf(), source });
    }
    Ok(())
}
