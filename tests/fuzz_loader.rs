//! Mutation fuzzing of the dataset loader (stable Rust, no nightly): a seeded mutator takes real
//! MAT files — scipy's test files (v4, v5 in both byte orders, compressed and not, sparse, cells,
//! char, v7.3), the built-in datasets through this project's writer, and the small shared datasets
//! when `../shared` is present — changes their bytes, and feeds each result to the loader.
//!
//! Every input must give `Ok` or a `DataError`: no panic, no single allocation larger than the
//! file could justify (a counting allocator watches every allocation), no hang (a watchdog aborts
//! after 30 s per input). Compressed v5 variables are inflated, mutated and deflated again, so the
//! mutations reach the parser behind zlib instead of stopping at its checksum.
//!
//! `fuzz_smoke` runs in the normal suite (about a minute). The long run is
//! `FUZZ_SECONDS=3600 cargo test --test fuzz_loader fuzz_long -- --ignored --nocapture`
//! (`FUZZ_SEED` picks the stream; results in `docs/RELIABILITY.md`). A failing input is written to
//! `$CARGO_TARGET_DIR/fuzz-failures/` (or the temp dir) and its path printed; the input being tried
//! is always at `fuzz-current.mat` there, so an abort leaves it behind too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mvc_workbench::cli::inspect::summary_json;
use mvc_workbench::data::mat::{isolate, read_mat};
use mvc_workbench::data::{LoadOptions, NonFinite, builtin, list_variables, load_dataset, save_dataset};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Watches the size of every allocation while `ARMED` (the largest one since the last reset).
struct Watch;

static ARMED: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// Above this a single allocation is refused (the loader then aborts; the input is on disk).
static HARD_LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

// SAFETY: every method forwards to the system allocator with the caller's own arguments; the
// only addition is bookkeeping in atomics (which never allocates) and refusing, with a null
// pointer as `GlobalAlloc` allows, a request above the hard limit.
#[allow(unsafe_code, reason = "a global allocator that watches allocation sizes must implement an unsafe trait")]
unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
            if layout.size() > HARD_LIMIT.load(Ordering::Relaxed) {
                return std::ptr::null_mut();
            }
        }
        // SAFETY: the caller's layout, passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
            if new_size > HARD_LIMIT.load(Ordering::Relaxed) {
                return std::ptr::null_mut();
            }
        }
        // SAFETY: `ptr` came from `System` through this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Watch = Watch;

/// The most one input of `len` bytes may allocate at once: zlib inflates at most ~1032:1, and a
/// view is built once more as `f32` beside the stored values.
fn justified(len: usize) -> usize {
    len.saturating_mul(2100).saturating_add(64 << 20)
}

fn work_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let d = base.join("fuzz-failures");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The seed corpus: (name, bytes).
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let scipy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/scipy");
    let mut names: Vec<_> = std::fs::read_dir(&scipy)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mat"))
        .collect();
    names.sort();
    for p in names {
        out.push((p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()));
    }
    let tmp = tempfile::tempdir().unwrap();
    for name in builtin::names() {
        let ds = builtin::generate(name).unwrap();
        let p = tmp.path().join(format!("{name}.mat"));
        save_dataset(&ds, &p).unwrap();
        out.push((format!("{name}.mat (writer)"), std::fs::read(&p).unwrap()));
    }
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets");
    for f in ["Synthetic3d.mat", "WebKB.mat", "NGs.mat", "3sources.mat", "synthetic_v73.mat"] {
        if let Ok(b) = std::fs::read(shared.join(f)) {
            out.push((format!("shared/{f}"), b));
        }
    }
    out
}

const INTERESTING_U32: [u32; 10] = [0, 1, 2, 7, 8, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFF8, 0x0001_0000];

/// One byte-level mutation.
fn mutate_bytes(rng: &mut ChaCha8Rng, b: &mut Vec<u8>) {
    if b.is_empty() {
        b.push(rng.random());
        return;
    }
    let n = b.len();
    match rng.random_range(0..9) {
        0 => {
            let i = rng.random_range(0..n);
            b[i] ^= 1 << rng.random_range(0..8);
        }
        1 => {
            let i = rng.random_range(0..n);
            b[i] = [0u8, 1, 0x7F, 0x80, 0xFF][rng.random_range(0..5)];
        }
        2 | 3 => {
            // An interesting 32-bit value at a 4-byte boundary (sizes, dims, types, counts).
            let i = rng.random_range(0..n.div_ceil(4)) * 4;
            if i + 4 <= n {
                let v = INTERESTING_U32[rng.random_range(0..INTERESTING_U32.len())];
                let bytes = if rng.random_bool(0.5) { v.to_le_bytes() } else { v.to_be_bytes() };
                b[i..i + 4].copy_from_slice(&bytes);
            }
        }
        4 => {
            // Add or subtract a little at a 4-byte boundary (off-by-one sizes and dims).
            let i = rng.random_range(0..n.div_ceil(4)) * 4;
            if i + 4 <= n {
                let v = u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
                let d = rng.random_range(1..=16u32);
                let v = if rng.random_bool(0.5) { v.wrapping_add(d) } else { v.wrapping_sub(d) };
                b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        5 => b.truncate(rng.random_range(0..n)),
        6 => {
            let (i, len) = (rng.random_range(0..n), rng.random_range(1..=64.min(n)));
            let end = (i + len).min(n);
            b.drain(i..end);
        }
        7 => {
            let (i, len) = (rng.random_range(0..n), rng.random_range(1..=64.min(n)));
            let chunk: Vec<u8> = b[i..(i + len).min(n)].to_vec();
            let at = rng.random_range(0..=b.len());
            b.splice(at..at, chunk);
        }
        _ => {
            let i = rng.random_range(0..n);
            let len = rng.random_range(1..=16);
            for x in &mut b[i..(i + len).min(n)] {
                *x = rng.random();
            }
        }
    }
}

/// A top-level v5 element: its offset, type and payload range.
type Element = (usize, u32, std::ops::Range<usize>);

/// The byte order (little-endian?) and top-level elements of a v5 file.
fn v5_elements(b: &[u8]) -> Option<(bool, Vec<Element>)> {
    if b.len() < 128 || !b.starts_with(b"MATLAB") || !(&b[126..128] == b"IM" || &b[126..128] == b"MI") {
        return None;
    }
    let little = &b[126..128] == b"IM";
    let rd = |i: usize| {
        let a: [u8; 4] = b[i..i + 4].try_into().unwrap();
        if little { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
    };
    let mut els = Vec::new();
    let mut pos = 128;
    while pos + 8 <= b.len() {
        let (ty, n) = (rd(pos), rd(pos + 4) as usize);
        let end = (pos + 8).checked_add(n)?;
        if end > b.len() || ty >> 16 != 0 {
            break;
        }
        els.push((pos, ty, pos + 8..end));
        pos = if ty == 15 { end } else { end.div_ceil(8) * 8 };
    }
    Some((little, els))
}

/// Mutates the inflated bytes of one compressed v5 variable and deflates them again.
fn mutate_inside_zlib(rng: &mut ChaCha8Rng, b: &[u8]) -> Option<Vec<u8>> {
    let (little, els) = v5_elements(b)?;
    let compressed: Vec<_> = els.into_iter().filter(|e| e.1 == 15).collect();
    if compressed.is_empty() {
        return None;
    }
    let (pos, _, range) = compressed[rng.random_range(0..compressed.len())].clone();
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(&b[range.clone()]).read_to_end(&mut inflated).ok()?;
    for _ in 0..rng.random_range(1..=4) {
        mutate_bytes(rng, &mut inflated);
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&inflated).ok()?;
    let deflated = enc.finish().ok()?;
    let mut out = b[..pos].to_vec();
    let tag = |v: u32| if little { v.to_le_bytes() } else { v.to_be_bytes() };
    out.extend_from_slice(&tag(15));
    out.extend_from_slice(&tag(deflated.len() as u32));
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&b[range.end..]);
    Some(out)
}

fn mutant(rng: &mut ChaCha8Rng, seed: &[u8]) -> Vec<u8> {
    if rng.random_bool(0.6)
        && let Some(m) = mutate_inside_zlib(rng, seed)
    {
        return m;
    }
    let mut b = seed.to_vec();
    for _ in 0..rng.random_range(1..=6) {
        mutate_bytes(rng, &mut b);
    }
    b
}

/// Counters of one fuzzing session.
#[derive(Default, Debug)]
struct Tally {
    inputs: u64,
    loaded: u64,
    refused: u64,
    failures: Vec<String>,
    largest_ratio: f64,
}

static CASE_STARTED_MS: AtomicU64 = AtomicU64::new(0);

/// Feeds one input to the loader; returns a failure description, if any.
fn try_one(path: &Path, bytes: &[u8], tally: &mut Tally) -> Option<String> {
    std::fs::write(path, bytes).unwrap();
    LARGEST.store(0, Ordering::Relaxed);
    HARD_LIMIT.store(justified(bytes.len()).saturating_mul(4), Ordering::Relaxed);
    ARMED.store(true, Ordering::SeqCst);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        // The v7.3 child reports a panic of this program's reader as an internal error.
        if let Err(e) = read_mat(path)
            && e.to_string().contains("internal error")
        {
            panic!("{e}");
        }
        let a = read_mat(path).is_ok();
        let b = list_variables(path).is_ok();
        // What `inspect` does: load keeping NaN/Inf, then summarise every view.
        let opts = LoadOptions { non_finite: NonFinite::Keep, ..LoadOptions::default() };
        let c = match load_dataset(path, &opts) {
            Ok(ds) => {
                let _ = summary_json(&ds, "fuzz");
                true
            }
            Err(_) => false,
        };
        (a, b, c)
    }));
    ARMED.store(false, Ordering::SeqCst);
    tally.inputs += 1;
    let largest = LARGEST.load(Ordering::Relaxed);
    tally.largest_ratio = tally.largest_ratio.max(largest as f64 / bytes.len().max(1) as f64);
    match result {
        Err(payload) => Some(format!("panic: {}", mvc_workbench::panic::message(payload.as_ref()))),
        Ok(_) if largest > justified(bytes.len()) => {
            Some(format!("allocated {largest} bytes at once for a {}-byte file", bytes.len()))
        }
        Ok((_, _, loaded)) => {
            if loaded {
                tally.loaded += 1;
            } else {
                tally.refused += 1;
            }
            None
        }
    }
}

fn run(seconds: f64, max_inputs: u64, seed: u64) -> Tally {
    // v7.3 files go to a child process of the real binary, as in the app, the CLI and `serve`:
    // the HDF5 C library can crash on a damaged file, and that must be an error here too.
    // `FUZZ_HELPER` names a copy of the binary for long runs (a rebuild replaces the original).
    let helper = std::env::var_os("FUZZ_HELPER").map(PathBuf::from);
    isolate::set_helper(helper.unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mvc-workbench"))));
    let dir = work_dir();
    let current = dir.join("fuzz-current.mat");
    let corpus = corpus();
    assert!(corpus.len() >= 20, "the seed corpus is too small ({} files)", corpus.len());
    // Watchdog: an input that takes more than 30 s is a hang; say which and stop.
    let start = Instant::now();
    static STOP: AtomicBool = AtomicBool::new(false);
    STOP.store(false, Ordering::SeqCst);
    let watched = current.clone();
    let watchdog = std::thread::Builder::new()
        .name("fuzz-watchdog".into())
        .spawn(move || {
            while !STOP.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(500));
                let began = CASE_STARTED_MS.load(Ordering::SeqCst);
                let now = start.elapsed().as_millis() as u64;
                if began > 0 && now.saturating_sub(began) > 30_000 {
                    eprintln!("HANG: the loader spent over 30 s on {}", watched.display());
                    std::process::abort();
                }
            }
        })
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tally = Tally::default();
    // The unmutated seeds first: every one must load or be refused cleanly too.
    for (name, bytes) in &corpus {
        if let Some(f) = try_one(&current, bytes, &mut tally) {
            tally.failures.push(format!("seed {name}: {f}"));
        }
    }
    while start.elapsed().as_secs_f64() < seconds && tally.inputs < max_inputs {
        let (name, seed_bytes) = &corpus[rng.random_range(0..corpus.len())];
        let input = mutant(&mut rng, seed_bytes);
        CASE_STARTED_MS.store(start.elapsed().as_millis().max(1) as u64, Ordering::SeqCst);
        let failure = try_one(&current, &input, &mut tally);
        CASE_STARTED_MS.store(0, Ordering::SeqCst);
        if let Some(f) = failure {
            let keep = dir.join(format!("failure-{seed}-{}.mat", tally.inputs));
            std::fs::write(&keep, &input).unwrap();
            eprintln!("FAILURE from {name}: {f}\n  input kept at {}", keep.display());
            tally.failures.push(format!("{name} → {}: {f}", keep.display()));
        }
    }
    STOP.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    tally
}

fn report(label: &str, t: &Tally, secs: f64) {
    eprintln!(
        "{label}: {} inputs in {secs:.0} s ({:.0}/s): {} loaded as datasets, {} refused with an error, {} failures; largest single allocation {:.0}x the input size",
        t.inputs,
        t.inputs as f64 / secs.max(1e-9),
        t.loaded,
        t.refused,
        t.failures.len(),
        t.largest_ratio
    );
}

#[test]
fn fuzz_smoke() {
    // Panics are caught and counted; keep the default hook from printing each one.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    // The allocation check can fail: a 100 MB vector for a 10-byte "file" is seen.
    LARGEST.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::SeqCst);
    let v = vec![0u8; 100 << 20];
    ARMED.store(false, Ordering::SeqCst);
    assert!(v.len() == 100 << 20 && LARGEST.load(Ordering::Relaxed) > justified(10));
    drop(v);
    let t0 = Instant::now();
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261202);
    let tally = run(45.0, 40_000, seed);
    std::panic::set_hook(hook);
    report("fuzz smoke", &tally, t0.elapsed().as_secs_f64());
    assert!(tally.inputs > 500, "only {} inputs tried", tally.inputs);
    assert!(tally.failures.is_empty(), "loader failures:\n{}", tally.failures.join("\n"));
}

#[test]
#[ignore = "long fuzzing run: FUZZ_SECONDS=3600 cargo test --test fuzz_loader fuzz_long -- --ignored"]
fn fuzz_long() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let secs: f64 = std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3600.0);
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let t0 = Instant::now();
    let tally = run(secs, u64::MAX, seed);
    std::panic::set_hook(hook);
    report(&format!("fuzz long (seed {seed})"), &tally, t0.elapsed().as_secs_f64());
    assert!(tally.failures.is_empty(), "loader failures:\n{}", tally.failures.join("\n"));
}
