//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses its own subset of these helpers")]

use std::path::PathBuf;

/// `../shared` beside the repository, or `None` (with a message) when absent.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("shared");
    if dir.join("datasets").is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: ../shared/datasets is absent (it is present in CI); this test needs the shared datasets");
        None
    }
}
