//! `snapshot.bin`: the latest embedding snapshot of a run, compact and bounded.
//!
//! Layout (little-endian): the magic `MVCSNAP1`, a `u32` header length, a JSON header
//! (`Header`: epoch, counts, sizes, view weights), then the arrays in this order: `indices`,
//! `predicted` (u32), `predicted_aligned` and `labels` (u32, when present), `confidence`, `z`,
//! `q_mean`, each view's `h`, each view's `q`, then `uncertainty` when the header's `uncertain`
//! says so (f32; older files have none), then `predicted_vcf` and `predicted_kmeans_z` (u32, when
//! the header's `vcf` / `kmeans_z` say so; files from before issue 18 read as `None`). Snapshots
//! beyond [`MAX_BYTES`] keep an
//! evenly spaced subset of their points.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::protocol::EmbeddingSnapshot;

use super::store::{StoreError, io_err, write_atomic};

/// The file name inside a run folder.
pub const FILE: &str = "snapshot.bin";
/// Upper bound of a snapshot file.
pub const MAX_BYTES: usize = 4 << 20;
const MAGIC: &[u8; 8] = b"MVCSNAP1";

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    global_epoch: usize,
    n: usize,
    z_dim: usize,
    h_dim: usize,
    k: usize,
    n_views: usize,
    aligned: bool,
    labelled: bool,
    view_weights: Vec<f32>,
    #[serde(default)]
    uncertain: bool,
    #[serde(default)]
    vcf: bool,
    #[serde(default)]
    kmeans_z: bool,
}

fn point_bytes(s: &EmbeddingSnapshot) -> usize {
    let v = s.h.len();
    4 * (7 + s.z_dim + s.k + v * (s.h_dim + s.k))
}

/// Writes `s` to `path` atomically, subsampled to stay under [`MAX_BYTES`].
pub fn write(path: &Path, s: &EmbeddingSnapshot) -> Result<(), StoreError> {
    write_capped(path, s, MAX_BYTES)
}

/// The folder of a run's snapshot history (the timeline of a stored run), one file an epoch.
pub const HISTORY_DIR: &str = "snapshots";
/// At most this many history files; past it every other older one is removed.
pub const HISTORY_FILES: usize = 32;
/// Upper bound of one history file (so a run's history stays under 16 MiB).
pub const HISTORY_FILE_BYTES: usize = 512 << 10;

/// Adds `s` to the run folder's snapshot history (`snapshots/epoch-NNNNNN.bin`), thinning it
/// to [`HISTORY_FILES`]. The subsample of a file is the same evenly spaced one every epoch.
pub fn write_history(run_dir: &Path, s: &EmbeddingSnapshot) -> Result<(), StoreError> {
    let dir = run_dir.join(HISTORY_DIR);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    write_capped(&dir.join(format!("epoch-{:06}.bin", s.global_epoch)), s, HISTORY_FILE_BYTES)?;
    let files = history_files(&dir);
    if files.len() > HISTORY_FILES {
        let last = files.len() - 1;
        for (i, (_, f)) in files.iter().enumerate() {
            if i % 2 == 1 && i != last {
                std::fs::remove_file(f).map_err(io_err(f))?;
            }
        }
    }
    Ok(())
}

/// The history's files by epoch, ascending.
fn history_files(dir: &Path) -> Vec<(usize, std::path::PathBuf)> {
    let mut files: Vec<(usize, std::path::PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let epoch = name.strip_prefix("epoch-")?.strip_suffix(".bin")?.parse().ok()?;
                    Some((epoch, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A run's snapshot history, ascending by epoch (empty for runs recorded before it was kept);
/// a file that cannot be read is skipped.
pub fn read_history(run_dir: &Path) -> Vec<EmbeddingSnapshot> {
    history_files(&run_dir.join(HISTORY_DIR)).iter().filter_map(|(_, f)| read(f).ok()).collect()
}

fn write_capped(path: &Path, s: &EmbeddingSnapshot, max_bytes: usize) -> Result<(), StoreError> {
    let n = s.indices.len();
    let keep = (max_bytes / point_bytes(s).max(1)).clamp(1, n.max(1)).min(n);
    let picks: Vec<usize> = (0..keep).map(|i| i * n / keep.max(1)).collect();
    let header = Header {
        global_epoch: s.global_epoch,
        n: picks.len(),
        z_dim: s.z_dim,
        h_dim: s.h_dim,
        k: s.k,
        n_views: s.h.len(),
        aligned: s.predicted_aligned.is_some(),
        labelled: s.labels.is_some(),
        view_weights: s.view_weights.clone(),
        uncertain: s.uncertainty.len() == n && n > 0,
        vcf: s.predicted_vcf.is_some(),
        kmeans_z: s.predicted_kmeans_z.is_some(),
    };
    let head = serde_json::to_vec(&header)
        .map_err(|e| StoreError::Corrupt { path: path.to_path_buf(), why: format!("cannot serialise: {e}") })?;
    let mut out = Vec::with_capacity(16 + head.len() + picks.len() * point_bytes(s));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(head.len() as u32).to_le_bytes());
    out.extend_from_slice(&head);
    let u32s = |out: &mut Vec<u8>, v: &[usize]| {
        for &i in &picks {
            out.extend_from_slice(&(v.get(i).copied().unwrap_or(0) as u32).to_le_bytes());
        }
    };
    let rows = |out: &mut Vec<u8>, v: &[f32], width: usize| {
        for &i in &picks {
            for x in v.get(i * width..(i + 1) * width).unwrap_or(&[]) {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
    };
    u32s(&mut out, &s.indices);
    u32s(&mut out, &s.predicted);
    if let Some(a) = &s.predicted_aligned {
        u32s(&mut out, a);
    }
    if let Some(l) = &s.labels {
        u32s(&mut out, l);
    }
    rows(&mut out, &s.confidence, 1);
    rows(&mut out, &s.z, s.z_dim);
    rows(&mut out, &s.q_mean, s.k);
    for h in &s.h {
        rows(&mut out, h, s.h_dim);
    }
    for q in &s.q_views {
        rows(&mut out, q, s.k);
    }
    if header.uncertain {
        rows(&mut out, &s.uncertainty, 1);
    }
    for p in [&s.predicted_vcf, &s.predicted_kmeans_z].into_iter().flatten() {
        u32s(&mut out, p);
    }
    write_atomic(path, &out)
}

/// Reads a snapshot written by [`write()`]; a short or malformed file is an error naming it.
pub fn read(path: &Path) -> Result<EmbeddingSnapshot, StoreError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let bad = |why: &str| StoreError::Corrupt { path: path.to_path_buf(), why: why.to_owned() };
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(|| bad("not an embedding snapshot (bad magic)"))?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(|| bad("cut short in its header"))?;
    let len = u32::from_le_bytes(*len) as usize;
    let (head, mut body) = rest.split_at_checked(len).ok_or_else(|| bad("cut short in its header"))?;
    let h: Header = serde_json::from_slice(head).map_err(|e| bad(&format!("header: {e}")))?;
    let mut take = |count: usize| -> Result<Vec<[u8; 4]>, StoreError> {
        let bytes_needed = count.checked_mul(4).ok_or_else(|| bad("sizes overflow"))?;
        let (now, later) = body.split_at_checked(bytes_needed).ok_or_else(|| bad("cut short in its arrays"))?;
        body = later;
        Ok(now.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect())
    };
    let n = h.n;
    let as_usize = |v: Vec<[u8; 4]>| v.into_iter().map(|b| u32::from_le_bytes(b) as usize).collect::<Vec<_>>();
    let as_f32 = |v: Vec<[u8; 4]>| v.into_iter().map(f32::from_le_bytes).collect::<Vec<_>>();
    let size = |a: usize, b: usize| a.checked_mul(b).ok_or_else(|| bad("sizes overflow"));
    let indices = as_usize(take(n)?);
    let predicted = as_usize(take(n)?);
    let predicted_aligned = if h.aligned { Some(as_usize(take(n)?)) } else { None };
    let labels = if h.labelled { Some(as_usize(take(n)?)) } else { None };
    let confidence = as_f32(take(n)?);
    let z = as_f32(take(size(n, h.z_dim)?)?);
    let q_mean = as_f32(take(size(n, h.k)?)?);
    let mut hs = Vec::new();
    for _ in 0..h.n_views {
        hs.push(as_f32(take(size(n, h.h_dim)?)?));
    }
    let mut q_views = Vec::new();
    for _ in 0..h.n_views {
        q_views.push(as_f32(take(size(n, h.k)?)?));
    }
    let uncertainty = if h.uncertain { as_f32(take(n)?) } else { Vec::new() };
    let predicted_vcf = if h.vcf { Some(as_usize(take(n)?)) } else { None };
    let predicted_kmeans_z = if h.kmeans_z { Some(as_usize(take(n)?)) } else { None };
    Ok(EmbeddingSnapshot {
        global_epoch: h.global_epoch,
        indices,
        z,
        z_dim: h.z_dim,
        h: hs,
        h_dim: h.h_dim,
        q_mean,
        q_views,
        k: h.k,
        predicted,
        predicted_aligned,
        confidence,
        labels,
        view_weights: h.view_weights,
        uncertainty,
        predicted_vcf,
        predicted_kmeans_z,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(n: usize, z_dim: usize) -> EmbeddingSnapshot {
        let f = |len: usize, s: f32| (0..len).map(|i| i as f32 * s).collect::<Vec<_>>();
        EmbeddingSnapshot {
            global_epoch: 9,
            indices: (0..n).map(|i| i * 2).collect(),
            z: f(n * z_dim, 0.5),
            z_dim,
            h: vec![f(n * 3, 0.25), f(n * 3, 0.125)],
            h_dim: 3,
            q_mean: f(n * 2, 0.01),
            q_views: vec![f(n * 2, 0.02), f(n * 2, 0.03)],
            k: 2,
            predicted: (0..n).map(|i| i % 2).collect(),
            predicted_aligned: Some((0..n).map(|i| 1 - i % 2).collect()),
            confidence: f(n, 0.001),
            labels: None,
            view_weights: vec![0.4, 0.6],
            uncertainty: f(n, 1.0 / n as f32),
            predicted_vcf: Some((0..n).map(|i| (i / 3) % 2).collect()),
            predicted_kmeans_z: None,
        }
    }

    #[test]
    fn snapshots_round_trip_and_stay_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let s = snap(50, 4);
        write(&path, &s).unwrap();
        assert_eq!(read(&path).unwrap(), s);

        // Too many points for the bound: an evenly spaced subset, every array cut alike.
        let big = snap(20_000, 64);
        write(&path, &big).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() as usize <= MAX_BYTES + 1024);
        let back = read(&path).unwrap();
        let n = back.indices.len();
        assert!(n > 100 && n < 20_000);
        assert_eq!(back.z.len(), n * 64);
        assert_eq!(back.h[1].len(), n * 3);
        assert_eq!(back.indices[1] - back.indices[0], big.indices[20_000 / n] - big.indices[0]);

        // The history: one file an epoch, thinned past the cap, each under its bound.
        let run = dir.path().join("run");
        for e in 1..=40 {
            write_history(&run, &EmbeddingSnapshot { global_epoch: e, ..big.clone() }).unwrap();
        }
        let history = read_history(&run);
        assert!(history.len() <= HISTORY_FILES && history.len() >= HISTORY_FILES / 2, "{}", history.len());
        assert_eq!(history.last().unwrap().global_epoch, 40);
        assert!(history.windows(2).all(|w| w[0].global_epoch < w[1].global_epoch));
        for f in std::fs::read_dir(run.join(HISTORY_DIR)).unwrap() {
            assert!(f.unwrap().metadata().unwrap().len() as usize <= HISTORY_FILE_BYTES + 1024);
        }
        assert!(read_history(&dir.path().join("none")).is_empty());

        // A file cut short is an error naming it, never a panic.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains(FILE) && e.contains("cut short"), "{e}");
    }
}
