//! `train`'s flags as the user layer of the shared config layering (`engine::layers`).

use crate::engine::config::{LossWeights, TrainConfig};
use crate::engine::layers::{Layers, Patch, put};

use super::TrainArgs;

/// The fields `train`'s flags set, as a patch.
pub fn patch_of(args: &TrainArgs) -> Result<Patch, String> {
    let mut p = Patch::new();
    if args.epochs.is_some() && args.con_epochs.is_some() {
        return Err("give --epochs (a baseline's) or --con-epochs, not both".into());
    }
    put(&mut p, "model", args.model);
    put(&mut p, "image", args.image);
    put(&mut p, "mining", args.mining);
    put(&mut p, "positives", args.positives);
    put(&mut p, "margin", args.margin);
    put(&mut p, "test_fraction", args.test_fraction);
    put(&mut p, "knn_k", args.knn_k);
    put(&mut p, "con_epochs", args.epochs);
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
    put(&mut p, "uncertainty_weighting", args.uncertainty_weighting.then_some(true));
    put(&mut p, "fuzzifier", args.fuzzifier);
    put(&mut p, "cluster_space", args.cluster_space);
    put(&mut p, "pseudo_source", args.pseudo_source);
    put(&mut p, "contrast_pairing", args.contrast_pairing);
    put(&mut p, "contrast_scale", args.contrast_scale);
    put(&mut p, "centring_scope", args.centring_scope);
    put(&mut p, "pcl_temperature", args.pcl_temperature);
    put(&mut p, "knn_targets", args.knn_targets);
    put(&mut p, "knn_weight", args.knn_weight);
    put(&mut p, "lr_cosine", args.lr_cosine);
    put(&mut p, "fresh_optimizer", args.fresh_optimizer);
    put(&mut p, "lr_warmup_epochs", args.lr_warmup_epochs);
    put(&mut p, "pseudo_delay", args.pseudo_delay);
    put(&mut p, "min_cluster_share", args.min_cluster_share);
    put(&mut p, "pseudo_warm_start", args.pseudo_warm_start);
    put(&mut p, "pseudo_warm_margin", args.pseudo_warm_margin);
    put(&mut p, "encoder_hidden", args.encoder_hidden.as_ref());
    put(&mut p, "feature_dim", args.feature_dim);
    put(&mut p, "high_feature_dim", args.high_feature_dim);
    put(&mut p, "con_optimizer", args.con_optimizer);
    put(&mut p, "momentum", args.momentum);
    put(&mut p, "pretrain_learning_rate", args.pretrain_lr);
    put(&mut p, "lr_step_epochs", args.lr_step);
    put(&mut p, "lr_step_gamma", args.lr_gamma);
    put(&mut p, "target_refresh", args.target_refresh);
    put(&mut p, "stop_tolerance", args.tol);
    put(&mut p, "views", args.views.as_ref());
    put(&mut p, "init_from", args.init_from.as_ref());
    put(&mut p, "n_clusters", args.n_clusters);
    put(&mut p, "classes", args.classes.as_ref());
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
    let cfg = layers.build().map_err(|e| e.to_string())?;
    if args.epochs.is_some() && !cfg.model.is_baseline() {
        return Err("--epochs sets a baseline's epochs (with --model siamese-conv, ae-conv or mlp); \
                    CVC-AFWM has --mse-epochs and --con-epochs"
            .into());
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::app::state::dataset_preset_config;
    use crate::cli::{Cli, Commands};
    use crate::engine::config::{ContrastPairing, ContrastScale, DeviceChoice, TrainConfig};
    use crate::engine::layers::{Patch, overlay};
    use crate::serve::api::TrainRequest;
    use crate::serve::jobs::train_config;

    /// `train`'s flag for a config field, and `/train`'s name for it.
    fn names(field: &str) -> (&'static str, &'static str) {
        match field {
            "learning_rate" => ("--lr", "learning_rate"),
            "batch_size" => ("--batch-size", "batch_size"),
            "mse_epochs" => ("--mse-epochs", "mse_epochs"),
            "con_epochs" => ("--con-epochs", "con_epochs"),
            "seed" => ("--seed", "seed"),
            "threshold" => ("--threshold", "threshold"),
            "n_clusters" => ("--n-clusters", "num_cluster"),
            "pseudo_source" => ("--pseudo-source", "pseudo_source"),
            "centring_scope" => ("--centring-scope", "centring_scope"),
            "pseudo_warm_start" => ("--pseudo-warm-start", "pseudo_warm_start"),
            "pseudo_warm_margin" => ("--pseudo-warm-margin", "pseudo_warm_margin"),
            "fresh_optimizer" => ("--fresh-optimizer", "fresh_optimizer"),
            "lr_warmup_epochs" => ("--lr-warmup-epochs", "lr_warmup_epochs"),
            "pseudo_delay" => ("--pseudo-delay", "pseudo_delay"),
            "min_cluster_share" => ("--min-cluster-share", "min_cluster_share"),
            "contrast_pairing" => ("--contrast-pairing", "contrast_pairing"),
            "contrast_scale" => ("--contrast-scale", "contrast_scale"),
            other => panic!("no case for {other}"),
        }
    }

    /// Every config file the project ships in `scripts/` builds through `train --config` and sets
    /// what it says (a field misspelt or renamed would be refused here, not in a user's run).
    #[test]
    fn the_shipped_config_files_build() {
        use crate::engine::config::{CentringScope, PseudoSource};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
        let mut built = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let argv = ["mvc-workbench", "train", "gauss3-noise", "--config", path.to_str().unwrap()];
                let Some(Commands::Train(args)) = Cli::try_parse_from(argv).unwrap().command else {
                    panic!("not train")
                };
                let cfg = super::build_config(&args).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                built.push((path.file_name().unwrap().to_string_lossy().into_owned(), cfg));
            }
        }
        built.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Vec<&str> = built.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["balanced.toml", "consensus-balanced.toml", "gauss3-small.toml", "handwritten-heads.toml"]);
        let balanced = &built[0].1;
        assert_eq!(
            (balanced.centring_scope, balanced.pseudo_source, balanced.lr_cosine, balanced.refresh_centres),
            (CentringScope::Contrast, PseudoSource::Balanced, true, true)
        );
        let consensus = &built[1].1;
        assert_eq!(
            (consensus.contrast_pairing, consensus.pseudo_source, consensus.lr_cosine),
            (crate::engine::config::ContrastPairing::Consensus, PseudoSource::Balanced, true)
        );
        assert_eq!((built[2].1.batch_size, built[2].1.mse_epochs), (50, 40));
        let heads = &built[3].1;
        assert_eq!(
            (heads.centring_scope, heads.pseudo_source, heads.refresh_centres, heads.lr_cosine),
            (CentringScope::All, PseudoSource::Heads, false, true)
        );
    }

    /// The same inputs (a preset, then the user's fields) through `train`'s flags, a `/train`
    /// request (whose dataset name picks the preset) and the app (the preset menu, then the
    /// settings panel) give the same config. Every case sets the epochs and the seed, whose
    /// defaults differ on purpose (`serve` keeps the seed API's); `serve` also never sends
    /// snapshots and takes its device from its own flag, so those two are set alike before comparing.
    #[test]
    fn the_three_front_ends_build_the_same_config() {
        let base: &[(&str, &str)] = &[("mse_epochs", "7"), ("con_epochs", "9"), ("seed", "4")];
        // (preset, the user's fields as TOML literals)
        type Case = (Option<&'static str>, Vec<(&'static str, &'static str)>);
        let cases: Vec<Case> = vec![
            (None, vec![]),
            (None, vec![("learning_rate", "0.002"), ("batch_size", "64"), ("threshold", "0.7")]),
            (Some("BDGP"), vec![]),
            (Some("MNIST-USPS"), vec![("learning_rate", "0.01"), ("n_clusters", "5")]),
            (Some("Caltech-5V"), vec![("batch_size", "32")]),
            (None, vec![("pseudo_source", "\"heads\"")]),
            (Some("MNIST-USPS"), vec![("pseudo_source", "\"balanced\"")]),
            (Some("BDGP"), vec![("centring_scope", "\"contrast\"")]),
            (None, vec![("pseudo_warm_start", "true"), ("pseudo_warm_margin", "0.01")]),
            (Some("MNIST-USPS"), vec![("fresh_optimizer", "true")]),
            (Some("MNIST-USPS"), vec![("lr_warmup_epochs", "10")]),
            (None, vec![("pseudo_delay", "5")]),
            (Some("MNIST-USPS"), vec![("min_cluster_share", "0.1")]),
            (Some("BDGP"), vec![("contrast_pairing", "\"consensus\"")]),
            (None, vec![("contrast_pairing", "\"consensus\""), ("contrast_scale", "\"per-view\"")]),
        ];
        for (preset, fields) in cases {
            let fields: Vec<(&str, &str)> = base.iter().copied().chain(fields).collect();
            // `train`
            let mut argv = vec!["mvc-workbench".to_owned(), "train".into(), "gauss3-noise".into()];
            if let Some(p) = preset {
                argv.extend(["--preset".into(), p.into()]);
            }
            for (f, v) in &fields {
                argv.push(format!("{}={}", names(f).0, v.trim_matches('"')));
            }
            let Some(Commands::Train(args)) = Cli::try_parse_from(&argv).unwrap().command else { panic!("not train") };
            let cli = super::build_config(&args).unwrap();
            // `serve`
            let body: serde_json::Map<String, serde_json::Value> =
                fields.iter().map(|(f, v)| (names(f).1.to_owned(), serde_json::from_str(v).unwrap())).collect();
            let req: TrainRequest = serde_json::from_value(serde_json::Value::Object(body)).unwrap();
            let mut served = train_config(&req, preset.unwrap_or("gauss3-noise"), DeviceChoice::Auto).unwrap();
            // The app: the preset menu, then the panel's fields.
            let start = match preset {
                Some(p) => dataset_preset_config(p).unwrap(),
                None => TrainConfig::default(),
            };
            let patch: Patch = fields.iter().map(|(f, v)| (f.to_string(), v.parse::<toml::Value>().unwrap())).collect();
            let app = overlay(&start, &patch, "the settings panel").unwrap();

            served.snapshot_every = cli.snapshot_every;
            assert_eq!(cli, served, "train vs serve, preset {preset:?}, {fields:?}");
            assert_eq!(cli, app, "train vs app, preset {preset:?}, {fields:?}");
            assert_eq!(cli.preset.as_deref(), preset);
            if let Some((_, v)) = fields.iter().find(|(f, _)| *f == "pseudo_source") {
                assert_eq!(cli.pseudo_source.as_str(), v.trim_matches('"'), "the field reached the config");
            }
            if fields.iter().any(|(f, _)| *f == "contrast_pairing") {
                assert_eq!(cli.contrast_pairing, ContrastPairing::Consensus, "the field reached the config");
            }
            if fields.iter().any(|(f, _)| *f == "contrast_scale") {
                assert_eq!(cli.contrast_scale, ContrastScale::PerView, "the field reached the config");
            }
            if fields.iter().any(|(f, _)| *f == "pseudo_warm_start") {
                assert!(cli.pseudo_warm_start && cli.pseudo_warm_margin == 0.01, "the fields reached the config");
            }
        }
    }
}
