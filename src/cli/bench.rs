//! `bench`: seconds per epoch of each phase and the GFLOP/s the engine reaches, for the defaults
//! (or a preset / config file) and, side by side in the same run, for variants of that config
//! (`--variant uncertainty_weighting=true`): what an option of the objective costs per epoch.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::train::{drive, load};
use crate::data::{self, Labels, MatFormat, MultiViewDataset, NonFinite, Preprocess, View, ViewData};
use crate::engine::config::{DeviceChoice, TrainConfig};
use crate::engine::device::{cpu_threads, resolve};
use crate::engine::layers::{Layers, Patch, overlay, put};
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
    /// Batch size (default: the preset's or config file's, else 256).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Start from a preset of the seed (its learning rate, τ and batch size; the epochs are bench's).
    #[arg(long)]
    pub preset: Option<String>,
    /// A TOML file with TrainConfig fields, laid over the defaults and the preset.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A variant measured beside the base config in the same run: config fields as KEY=VALUE,
    /// comma-separated (e.g. uncertainty_weighting=true, cluster_space=zh, pcl_temperature=0.1,
    /// knn_targets=10,knn_weight=0.3). Repeat for several.
    #[arg(long = "variant", value_name = "FIELDS")]
    pub variants: Vec<String>,
    /// How many times the base and the variants run, alternated (the median round is reported).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    #[arg(long)]
    pub json: bool,
}

/// A config measured by `bench`: its name (the fields as the user wrote them; `base` for the
/// unchanged one) and the fields laid over the base.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub name: String,
    pub fields: Patch,
}

impl Variant {
    /// Parses `KEY=VALUE[,KEY=VALUE…]`. A value is read as TOML (`true`, `0.1`, `[500, 500]`,
    /// `"zh"`), and as a plain string where it is not TOML (`zh`). A comma inside brackets belongs
    /// to the value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pairs: Vec<String> = Vec::new();
        for piece in text.split(',') {
            let open = pairs.last().map(|p| p.matches('[').count() > p.matches(']').count()).unwrap_or(false);
            match pairs.last_mut() {
                Some(last) if open || !piece.contains('=') => {
                    last.push(',');
                    last.push_str(piece);
                }
                _ => pairs.push(piece.to_owned()),
            }
        }
        let mut fields = Patch::new();
        for pair in &pairs {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!("--variant {text:?}: {pair:?} is not KEY=VALUE"));
            };
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() || value.is_empty() {
                return Err(format!("--variant {text:?}: {pair:?} needs both a field name and a value"));
            }
            let parsed = format!("v = {value}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(value.to_owned()));
            fields.insert(key.to_owned(), parsed);
        }
        Ok(Self { name: text.trim().to_owned(), fields })
    }
}

/// One measured run of a config: median seconds per epoch of each phase and per refresh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub pretrain: f64,
    pub contrastive: f64,
    /// Median seconds of one pseudo-label refresh (0 when none ran).
    pub refresh: f64,
    /// The refresh interval in contrastive epochs (0 = no refreshes after the phase's start).
    pub refresh_every: usize,
}

impl Measured {
    /// A contrastive epoch plus its share of a refresh.
    pub fn contrastive_with_refreshes(&self) -> f64 {
        if self.refresh_every > 0 {
            self.contrastive + self.refresh / self.refresh_every as f64
        } else {
            self.contrastive
        }
    }

    /// The round whose contrastive epoch (refreshes included) is the median of `rounds`.
    fn median_of(rounds: &[Measured]) -> Measured {
        let mut sorted = rounds.to_vec();
        sorted.sort_by(|a, b| a.contrastive_with_refreshes().total_cmp(&b.contrastive_with_refreshes()));
        sorted[sorted.len() / 2]
    }
}

/// Trains `cfg` on `ds` quietly and reads the medians off the run's summary.
pub fn measure(ds: &MultiViewDataset, cfg: &TrainConfig) -> Result<Measured, String> {
    let log = drive(ds.clone(), cfg.clone(), None, false, true, None)?;
    let summary = log.summary.as_deref().ok_or("the run ended without a summary")?;
    let secs = |p: Phase| median(summary.epochs.iter().filter(|e| e.phase == p).map(|e| e.secs).collect());
    Ok(Measured {
        pretrain: secs(Phase::Pretrain),
        contrastive: secs(Phase::Contrastive),
        refresh: median(summary.refresh_secs.clone()),
        refresh_every: summary.config.pseudo_refresh,
    })
}

/// The base config: defaults, the preset, the config file, then bench's own fields (its epochs,
/// no evaluations or snapshots during the measured epochs).
pub fn base_config(args: &BenchArgs, k: usize) -> Result<TrainConfig, String> {
    let epochs = args.epochs.max(1);
    let mut user = Patch::new();
    put(&mut user, "mse_epochs", Some(epochs));
    put(&mut user, "con_epochs", Some(epochs));
    put(&mut user, "batch_size", args.batch_size);
    put(&mut user, "device", Some(args.device));
    put(&mut user, "eval_every", Some(1_000_000usize));
    put(&mut user, "snapshot_every", Some(0usize));
    put(&mut user, "n_clusters", Some(k));
    let mut layers = Layers {
        defaults: TrainConfig::default(),
        preset: args.preset.clone(),
        user,
        user_origin: "bench's flags".into(),
        ..Layers::default()
    };
    if let Some(path) = &args.config {
        layers = layers.with_file(path).map_err(|e| e.to_string())?;
    }
    layers.build().map_err(|e| e.to_string())
}

/// The base and each `--variant`, as configs, in the order they are measured.
pub fn variant_configs(args: &BenchArgs, base: &TrainConfig) -> Result<Vec<(Variant, TrainConfig)>, String> {
    let mut out = vec![(Variant { name: "base".into(), fields: Patch::new() }, base.clone())];
    for text in &args.variants {
        let v = Variant::parse(text)?;
        let cfg = overlay(base, &v.fields, &format!("--variant {text}")).map_err(|e| e.to_string())?;
        cfg.validate().map_err(|e| format!("--variant {text}: {e}"))?;
        out.push((v, cfg));
    }
    Ok(out)
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
    let cfg = base_config(args, k)?;
    let configs = variant_configs(args, &cfg)?;
    let rounds = args.rounds.max(1);
    let dev = resolve(args.device)?;
    let model_cfg = cfg.model_config(ds.view_dims(), k);
    let (n, b) = (ds.n_samples(), cfg.batch_size.min(ds.n_samples()));
    let steps = (n / b) as f64;
    // Forward + backward ≈ 3 × forward; 2 FLOPs per multiply–accumulate.
    let pre_flops = 6.0 * model_cfg.autoencoder_macs() as f64 * b as f64 * steps;
    let con_flops = 6.0 * (model_cfg.autoencoder_macs() + model_cfg.head_macs(b)) as f64 * b as f64 * steps;
    if !args.json {
        eprintln!(
            "benchmarking on {} with {n} samples × {:?}, batch {b}, {} epochs per phase, {} config(s) × {rounds} \
             round(s)…",
            dev.summary(),
            ds.view_dims(),
            cfg.mse_epochs,
            configs.len()
        );
    }
    let start = Instant::now();
    let mut measured: Vec<Vec<Measured>> = vec![Vec::new(); configs.len()];
    for round in 0..rounds {
        for (i, (variant, vcfg)) in configs.iter().enumerate() {
            let m = measure(&ds, vcfg).map_err(|e| format!("{}: {e}", variant.name))?;
            if !args.json && (rounds > 1 || configs.len() > 1) {
                eprintln!(
                    "  round {}: {:<32} pre-training {:.3} s/epoch, contrastive {:.3} s/epoch ({:.3} with refreshes)",
                    round + 1,
                    variant.name,
                    m.pretrain,
                    m.contrastive,
                    m.contrastive_with_refreshes()
                );
            }
            measured[i].push(m);
        }
    }
    let wall = start.elapsed();
    let medians: Vec<Measured> = measured.iter().map(|r| Measured::median_of(r)).collect();
    let base = medians[0];
    let (pre, con, refresh, every) = (base.pretrain, base.contrastive, base.refresh, base.refresh_every);
    let con_refreshed = base.contrastive_with_refreshes();
    let device = dev.summary();
    let gf = |flops: f64, s: f64| if s > 0.0 { flops / s / 1e9 } else { 0.0 };
    let peak = if dev.is_cpu { cpu_peak_gflops(cpu_threads()) } else { None };
    let ceiling = matmul_ceiling_gflops(&dev.device, dev.is_cpu);
    let ratio = |m: &Measured| {
        if con_refreshed > 0.0 { m.contrastive_with_refreshes() / con_refreshed } else { f64::NAN }
    };
    if args.json {
        let variants: Vec<serde_json::Value> = configs
            .iter()
            .zip(&medians)
            .zip(&measured)
            .map(|(((v, _), m), all)| {
                json!({"name": v.name, "fields": serde_json::to_value(&v.fields).unwrap_or_default(),
                    "secs_per_epoch": {"pretrain": m.pretrain, "contrastive": m.contrastive},
                    "secs_per_refresh": m.refresh, "pseudo_refresh": m.refresh_every,
                    "secs_per_epoch_contrastive_with_refreshes": m.contrastive_with_refreshes(),
                    "relative_to_base": ratio(m),
                    "rounds": all.iter().map(|r| json!({"pretrain": r.pretrain, "contrastive": r.contrastive,
                        "refresh": r.refresh, "contrastive_with_refreshes": r.contrastive_with_refreshes()}))
                        .collect::<Vec<_>>()})
            })
            .collect();
        println!(
            "{}",
            json!({"event": "bench", "device": device, "batch_size": b, "steps_per_epoch": steps,
                "preset": cfg.preset, "rounds": rounds,
                "secs_per_epoch": {"pretrain": pre, "contrastive": con},
                "secs_per_step": {"pretrain": pre / steps, "contrastive": con / steps},
                "secs_per_refresh": refresh, "pseudo_refresh": every,
                "secs_per_epoch_contrastive_with_refreshes": con_refreshed,
                "gflops": {"pretrain": gf(pre_flops, pre), "contrastive": gf(con_flops, con)},
                "peak_gflops_estimate": peak.as_ref().map(|p| p.0), "peak_basis": peak.as_ref().map(|p| p.1.clone()),
                "matmul_ceiling_gflops": ceiling,
                "variants": variants,
                "wall_secs": wall.as_secs_f64()})
        );
    } else {
        println!("device: {device}");
        println!("pre-training: {pre:.3} s/epoch ({:.4} s/step, {:.1} GFLOP/s)", pre / steps, gf(pre_flops, pre));
        println!("contrastive:  {con:.3} s/epoch ({:.4} s/step, {:.1} GFLOP/s)", con / steps, gf(con_flops, con));
        if every > 0 {
            println!(
                "pseudo-label refresh: {refresh:.3} s, one every {every} epochs: {con_refreshed:.3} s per contrastive \
                 epoch with refreshes"
            );
        }
        if configs.len() > 1 {
            println!(
                "\n{:<32} {:>12} {:>12} {:>10} {:>16} {:>8}",
                "config (median round)", "pre s/epoch", "con s/epoch", "refresh s", "con + refreshes", "÷ base"
            );
            for ((v, _), m) in configs.iter().zip(&medians) {
                println!(
                    "{:<32} {:>12.3} {:>12.3} {:>10.3} {:>16.3} {:>8.3}",
                    v.name,
                    m.pretrain,
                    m.contrastive,
                    m.refresh,
                    m.contrastive_with_refreshes(),
                    ratio(m)
                );
            }
            println!();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_reads_toml_values_plain_words_and_lists() {
        let v = Variant::parse("uncertainty_weighting=true").unwrap();
        assert_eq!(v.name, "uncertainty_weighting=true");
        assert_eq!(v.fields.get("uncertainty_weighting"), Some(&toml::Value::Boolean(true)));
        let v = Variant::parse("cluster_space=zh, pcl_temperature=0.1").unwrap();
        assert_eq!(v.fields.get("cluster_space"), Some(&toml::Value::String("zh".into())));
        assert_eq!(v.fields.get("pcl_temperature"), Some(&toml::Value::Float(0.1)));
        let v = Variant::parse("encoder_hidden=[64,32],knn_targets=10").unwrap();
        let hidden: Vec<i64> =
            v.fields["encoder_hidden"].as_array().unwrap().iter().map(|x| x.as_integer().unwrap()).collect();
        assert_eq!((hidden, v.fields.get("knn_targets")), (vec![64, 32], Some(&toml::Value::Integer(10))));
        for bad in ["knn_targets", "=3", "knn_targets="] {
            let err = Variant::parse(bad).unwrap_err();
            assert!(err.contains("--variant") && err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn variants_are_laid_over_the_base_and_checked() {
        let args = |variants: &[&str]| BenchArgs {
            data: None,
            device: DeviceChoice::Flex,
            epochs: 2,
            batch_size: None,
            preset: Some("MNIST-USPS".into()),
            config: None,
            variants: variants.iter().map(|s| s.to_string()).collect(),
            rounds: 1,
            json: true,
        };
        let a = args(&["uncertainty_weighting=true", "cluster_space=zh"]);
        let base = base_config(&a, 10).unwrap();
        // The preset's learning rate and τ_L, bench's epochs and no evaluations.
        let preset = crate::engine::presets::find("MNIST-USPS").unwrap();
        let mut with_preset = TrainConfig::default();
        preset.apply(&mut with_preset, &[]);
        assert_eq!((base.learning_rate, base.temperature_l), (with_preset.learning_rate, with_preset.temperature_l));
        assert_eq!((base.mse_epochs, base.con_epochs, base.snapshot_every), (2, 2, 0));
        let configs = variant_configs(&a, &base).unwrap();
        assert_eq!(configs.len(), 3);
        assert_eq!(configs[0].1, base);
        assert!(configs[1].1.uncertainty_weighting && !base.uncertainty_weighting);
        assert_eq!(configs[2].1.cluster_space, crate::engine::config::ClusterSpace::Zh);
        assert_eq!(TrainConfig { cluster_space: base.cluster_space, ..configs[2].1.clone() }, base);
        let err = variant_configs(&args(&["no_such_field=1"]), &base).unwrap_err();
        assert!(err.contains("--variant no_such_field=1") && err.contains("no_such_field"), "{err}");
        let err = variant_configs(&args(&["batch_size=0"]), &base).unwrap_err();
        assert!(err.contains("--variant batch_size=0"), "{err}");
    }
}
