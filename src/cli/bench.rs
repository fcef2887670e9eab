//! `bench`: seconds per epoch of each phase and the GFLOP/s the engine reaches.

use std::time::Instant;

use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::train::{drive, load};
use crate::data::{self, Labels, MatFormat, MultiViewDataset, NonFinite, Preprocess, View, ViewData};
use crate::engine::config::{DeviceChoice, TrainConfig};
use crate::engine::device::{cpu_threads, resolve};
use crate::engine::protocol::Phase;

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A .mat file or built-in name (default: synthetic MNIST-USPS-shaped 5000 × [784, 784], 10 clusters).
    pub data: Option<String>,
    #[arg(long, default_value = "flex")]
    pub device: DeviceChoice,
    /// Epochs measured in each phase (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    #[arg(long)]
    pub json: bool,
}

/// A random MNIST-USPS-shaped dataset: `n` samples, views of `dims`, `k` blurred clusters in [0, 1].
pub fn synthetic_like(n: usize, dims: &[usize], k: usize, seed: u64) -> MultiViewDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let y: Vec<usize> = (0..n).map(|i| i % k).collect();
    let views = dims
        .iter()
        .enumerate()
        .map(|(vi, &d)| {
            let centres: Vec<f32> =
                (0..k * d).map(|_| if rng.random::<f32>() < 0.2 { rng.random::<f32>() } else { 0.0 }).collect();
            let values: Vec<f32> = y
                .iter()
                .flat_map(|&c| {
                    (0..d).map(|j| (centres[c * d + j] + 0.1 * rng.random::<f32>()).min(1.0)).collect::<Vec<_>>()
                })
                .collect();
            View {
                name: format!("view{}", vi + 1),
                source: "synthetic".into(),
                transposed: false,
                data: ViewData::Dense { rows: n, cols: d, values },
            }
        })
        .collect();
    MultiViewDataset {
        name: format!("synthetic {n}x{dims:?}"),
        path: None,
        format: MatFormat::Generated,
        views,
        labels: Some(Labels::from_raw("Y", y.iter().map(|&c| c as f64).collect())),
        ignored: vec![],
    }
}

/// Peak single-precision FLOP/s of the threads flex uses, from /proc/cpuinfo
/// (clock × SIMD width × 2 FMA units × 2 FLOPs per FMA); `None` when unknown.
pub fn cpu_peak_gflops(threads: usize) -> Option<(f64, String)> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mhz = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|s| s.trim().parse::<f64>().ok())?;
    let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let field = |name: &str| {
        info.lines().find(|l| l.starts_with(name)).and_then(|l| l.split(':').nth(1)).map(|s| s.trim().to_string())
    };
    // AMD before Zen 5 (family 0x1a) executes AVX-512 as two 256-bit halves.
    let amd_half_width = field("vendor_id").as_deref() == Some("AuthenticAMD")
        && field("cpu family").and_then(|f| f.parse::<u32>().ok()).is_some_and(|f| f < 26);
    let (lanes, isa) = if has("avx512f") && !amd_half_width {
        (16.0, "AVX-512")
    } else if has("avx512f") {
        (8.0, "AVX-512 on 256-bit units")
    } else if has("avx2") && has("fma") {
        (8.0, "AVX2+FMA")
    } else {
        (4.0, "SSE")
    };
    let per_cycle = lanes * 2.0 * 2.0;
    Some((
        threads as f64 * mhz / 1000.0 * per_cycle,
        format!("{threads} threads × {:.2} GHz × {per_cycle} FLOP/cycle ({isa})", mhz / 1000.0),
    ))
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
}

/// The matrix-product throughput the device reaches on its own: the best of five `n × n × n`
/// products (n = 1536 on a CPU, 4096 on a GPU) through burn, after a warm-up, in GFLOP/s. This is
/// the practical ceiling the engine's GFLOP/s compare against: the nominal peak from
/// `/proc/cpuinfo` uses the base clock (boost clocks run higher) and does not know which SIMD width
/// the matrix kernels use.
pub fn matmul_ceiling_gflops(device: &burn::tensor::Device, is_cpu: bool) -> f64 {
    use burn::tensor::{Distribution, Tensor};
    let n = if is_cpu { 1536 } else { 4096 };
    let a = Tensor::<2>::random([n, n], Distribution::Uniform(-1.0, 1.0), device);
    let b = Tensor::<2>::random([n, n], Distribution::Uniform(-1.0, 1.0), device);
    let mut best = f64::MAX;
    for rep in 0..6 {
        let t = Instant::now();
        let c = a.clone().matmul(b.clone());
        // Reading one value back waits for the product (GPU backends run asynchronously).
        let _ = c.slice([0..1, 0..1]).into_data();
        if rep > 0 {
            best = best.min(t.elapsed().as_secs_f64());
        }
    }
    2.0 * (n as f64).powi(3) / best / 1e9
}

/// `mvc-workbench bench`.
pub fn run_bench(args: &BenchArgs) -> Result<(), String> {
    let ds = match &args.data {
        Some(d) => {
            let mut ds = load(d, NonFinite::Error)?;
            data::preprocess::apply(&mut ds, Preprocess::MinMax);
            ds
        }
        None => synthetic_like(5000, &[784, 784], 10, 0),
    };
    let k = ds.n_clusters().unwrap_or(10);
    let epochs = args.epochs.max(1);
    let cfg = TrainConfig {
        mse_epochs: epochs,
        con_epochs: epochs,
        batch_size: args.batch_size,
        device: args.device,
        eval_every: 1_000_000,
        snapshot_every: 0,
        n_clusters: Some(k),
        ..TrainConfig::default()
    };
    cfg.validate()?;
    let dev = resolve(args.device)?;
    let model_cfg = cfg.model_config(ds.view_dims(), k);
    let (n, b) = (ds.n_samples(), cfg.batch_size.min(ds.n_samples()));
    let steps = (n / b) as f64;
    // Forward + backward ≈ 3 × forward; 2 FLOPs per multiply–accumulate.
    let pre_flops = 6.0 * model_cfg.autoencoder_macs() as f64 * b as f64 * steps;
    let con_flops = 6.0 * (model_cfg.autoencoder_macs() + model_cfg.head_macs(b)) as f64 * b as f64 * steps;
    if !args.json {
        eprintln!(
            "benchmarking on {} with {n} samples × {:?}, batch {b}, {epochs} epochs per phase…",
            dev.summary(),
            ds.view_dims()
        );
    }
    let start = Instant::now();
    let log = drive(ds, cfg, None, args.json, true, None)?;
    let summary = log.summary.as_deref().ok_or("the run ended without a summary")?;
    let wall = start.elapsed();
    let secs = |p: Phase| median(summary.epochs.iter().filter(|e| e.phase == p).map(|e| e.secs).collect());
    let (pre, con) = (secs(Phase::Pretrain), secs(Phase::Contrastive));
    // A pseudo-label refresh runs between epochs, every `pseudo_refresh` of them (the phase's start
    // is one): its share of a contrastive epoch.
    let refresh = median(summary.refresh_secs.clone());
    let every = summary.config.pseudo_refresh;
    let con_refreshed = if every > 0 { con + refresh / every as f64 } else { con };
    let gf = |flops: f64, s: f64| if s > 0.0 { flops / s / 1e9 } else { 0.0 };
    let peak = if dev.is_cpu { cpu_peak_gflops(cpu_threads()) } else { None };
    let ceiling = matmul_ceiling_gflops(&dev.device, dev.is_cpu);
    if args.json {
        println!(
            "{}",
            json!({"event": "bench", "device": summary.device, "batch_size": b, "steps_per_epoch": steps,
                "secs_per_epoch": {"pretrain": pre, "contrastive": con},
                "secs_per_step": {"pretrain": pre / steps, "contrastive": con / steps},
                "secs_per_refresh": refresh, "pseudo_refresh": every,
                "secs_per_epoch_contrastive_with_refreshes": con_refreshed,
                "gflops": {"pretrain": gf(pre_flops, pre), "contrastive": gf(con_flops, con)},
                "peak_gflops_estimate": peak.as_ref().map(|p| p.0), "peak_basis": peak.as_ref().map(|p| p.1.clone()),
                "matmul_ceiling_gflops": ceiling,
                "wall_secs": wall.as_secs_f64()})
        );
    } else {
        println!("device: {}", summary.device);
        println!("pre-training: {pre:.3} s/epoch ({:.4} s/step, {:.1} GFLOP/s)", pre / steps, gf(pre_flops, pre));
        println!("contrastive:  {con:.3} s/epoch ({:.4} s/step, {:.1} GFLOP/s)", con / steps, gf(con_flops, con));
        if every > 0 {
            println!(
                "pseudo-label refresh: {refresh:.3} s, one every {every} epochs: {con_refreshed:.3} s per contrastive \
                 epoch with refreshes"
            );
        }
        println!(
            "matmul ceiling (measured, one large product): {ceiling:.1} GFLOP/s; the engine reaches {:.0} % \
             (pre-training) and {:.0} % (contrastive) of it",
            100.0 * gf(pre_flops, pre) / ceiling,
            100.0 * gf(con_flops, con) / ceiling
        );
        match peak {
            Some((p, basis)) => println!("nominal peak: {p:.1} GFLOP/s ({basis}; boost clocks run higher)"),
            None => println!("nominal peak: unknown for this device"),
        }
        println!("total wall time {:.1}s", wall.as_secs_f64());
    }
    Ok(())
}
