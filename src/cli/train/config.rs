//! `train`'s flags as the user layer of the shared config layering (`engine::layers`).

use crate::engine::config::{LossWeights, TrainConfig};
use crate::engine::layers::{Layers, Patch, put};

use super::TrainArgs;

/// The fields `train`'s flags set, as a patch.
pub fn patch_of(args: &TrainArgs) -> Result<Patch, String> {
    let mut p = Patch::new();
    put(&mut p, "mse_epochs", args.mse_epochs);
    put(&mut p, "con_epochs", args.con_epochs);
    put(&mut p, "batch_size", args.batch_size);
    put(&mut p, "learning_rate", args.lr);
    put(&mut p, "threshold", args.threshold);
    put(&mut p, "temperature_f", args.temperature_f);
    put(&mut p, "temperature_l", args.temperature_l);
    put(&mut p, "labelled_fraction", args.labelled_fraction);
    put(&mut p, "kernel_scale", args.kernel_scale);
    put(&mut p, "target_source", args.target_source);
    put(&mut p, "kl_warmup", args.kl_warmup);
    put(&mut p, "sinkhorn_iters", args.sinkhorn_iters);
    put(&mut p, "lr_cosine", args.lr_cosine.then_some(true));
    put(&mut p, "init_from", args.init_from.as_ref());
    put(&mut p, "n_clusters", args.n_clusters);
    put(&mut p, "seed", args.seed);
    put(&mut p, "device", args.device);
    if let Some(s) = &args.loss_weights {
        put(&mut p, "loss", Some(LossWeights::parse_rcaq(s)?));
    }
    Ok(p)
}

/// Builds the run config: defaults, then the preset (only where the user set nothing), then the
/// config file, then the flags.
pub fn build_config(args: &TrainArgs) -> Result<TrainConfig, String> {
    let mut layers = Layers {
        defaults: TrainConfig::default(),
        preset: args.preset.clone(),
        user: patch_of(args)?,
        user_origin: "the command-line flags".into(),
        ..Layers::default()
    };
    if let Some(path) = &args.config {
        layers = layers.with_file(path).map_err(|e| e.to_string())?;
    }
    layers.build().map_err(|e| e.to_string())
}
