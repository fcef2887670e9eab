//! Run-time estimates from a measured step: time a few real pre-training batches of a network on
//! the loaded data, then scale by the epochs, batches and phases a configuration asks for. The
//! app shows the estimate beside each preset, so that "the full settings" are offered when they
//! would finish in a few minutes and not hidden behind a demo preset.

use std::time::Instant;

use burn::optim::GradientsParams;

use crate::data::MultiViewDataset;
use crate::engine::config::TrainConfig;
use crate::engine::device::resolve;
use crate::engine::predict::gather;
use crate::engine::step::{StepKind, batch_gradients};
use crate::engine::trainer::adam;

/// A contrastive batch costs about this many pre-training batches (the heads, the objective and
/// the chained backward pass; the trainer's ETA uses the same ratio until it has measured both).
pub const CONTRASTIVE_STEP_RATIO: f64 = 1.6;

/// Seconds one pre-training batch of `cfg`'s network takes on `ds` (the median of three timed
/// batches after one warm-up), on `cfg`'s device.
pub fn measure_step(ds: &MultiViewDataset, cfg: &TrainConfig) -> Result<f64, String> {
    let n = ds.n_samples();
    if n == 0 || ds.n_views() == 0 {
        return Err("the dataset has no samples to time a step on".into());
    }
    let k = cfg.n_clusters.or(ds.n_clusters()).unwrap_or(2).max(2);
    let device = resolve(cfg.device)?.device;
    let ad = device.clone().autodiff();
    let model_cfg = cfg.model_config(ds.view_dims(), k);
    model_cfg.validate()?;
    let mut model = model_cfg.init_seeded(&ad, cfg.seed);
    let mut optim = adam(cfg);
    let b = cfg.batch_size.min(n).max(1);
    let rows: Vec<usize> = (0..b).collect();
    let mut times = Vec::new();
    for rep in 0..4 {
        let t = Instant::now();
        let xs = gather(ds, &rows, &ad);
        let step = batch_gradients(&model, &xs, StepKind::Pretrain, &ad);
        let grads: GradientsParams = step.grads;
        model = optim.step(cfg.learning_rate, model, grads);
        // Reading a loss back waits for the device.
        let _ = step.objective.parts.into_data();
        if rep > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The estimated seconds of a whole run of `cfg` on `n` samples, given the seconds of one
/// pre-training batch of the same network (`measure_step`): every epoch's batches (the last partial
/// batch is dropped, as the trainer does), contrastive batches at [`CONTRASTIVE_STEP_RATIO`].
/// Evaluations, pseudo-label refreshes and snapshots come on top (a few percent on the shared
/// datasets).
pub fn estimate_run_secs(step_secs: f64, cfg: &TrainConfig, n: usize) -> f64 {
    let b = cfg.batch_size.min(n).max(1);
    let batches = (n / b).max(1) as f64;
    batches * step_secs * (cfg.mse_epochs as f64 + CONTRASTIVE_STEP_RATIO * cfg.con_epochs as f64)
}

/// The network-shape fields of a config: two configs with the same key cost the same per batch.
pub fn shape_key(cfg: &TrainConfig) -> (Vec<usize>, usize, usize, usize, usize) {
    (cfg.encoder_hidden.clone(), cfg.feature_dim, cfg.high_feature_dim, cfg.vcf_ff_dim, cfg.batch_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_scales_with_epochs_and_batches() {
        let cfg = TrainConfig { mse_epochs: 10, con_epochs: 5, batch_size: 100, ..TrainConfig::default() };
        let t = estimate_run_secs(0.5, &cfg, 1050);
        assert!((t - 10.0 * 0.5 * (10.0 + 1.6 * 5.0)).abs() < 1e-9, "{t}");
        let doubled = TrainConfig { mse_epochs: 20, con_epochs: 10, ..cfg.clone() };
        assert!((estimate_run_secs(0.5, &doubled, 1050) - 2.0 * t).abs() < 1e-9);
    }

    #[test]
    fn a_step_is_measured_on_a_built_in_set() {
        let mut ds = crate::data::builtin::generate("gauss3-noise").unwrap();
        crate::data::preprocess::apply(&mut ds, crate::data::Preprocess::MinMax);
        let cfg = TrainConfig {
            encoder_hidden: vec![16],
            feature_dim: 8,
            high_feature_dim: 8,
            vcf_ff_dim: 8,
            batch_size: 64,
            device: crate::engine::config::DeviceChoice::Flex,
            ..TrainConfig::default()
        };
        let t = measure_step(&ds, &cfg).unwrap();
        assert!(t > 0.0 && t < 5.0, "{t}");
    }
}
