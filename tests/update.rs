//! Online updates (issue 15) end to end on `flex`: a small network trained on three of
//! gauss3-noise's four classes, recorded in a run store as `train --classes 0,1,2` records it, then
//! updated with all four. One training serves every check (it is the slow part).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use mvc_workbench::data::{self, MultiViewDataset, Preprocess};
use mvc_workbench::engine::checkpoint::{self, Checkpoint};
use mvc_workbench::engine::config::{
    CentringScope, ContrastPairing, ContrastScale, DeviceChoice, PseudoSource, TrainConfig,
};
use mvc_workbench::engine::protocol::{Command, Event};
use mvc_workbench::engine::trainer::spawn_trainer;
use mvc_workbench::engine::update::novelty::NoveltySpace;
use mvc_workbench::engine::update::{Expansion, UpdateSettings, update_network};
use mvc_workbench::runs::update::{UpdateJob, run_update};
use mvc_workbench::runs::{DatasetInfo, NewRun, RunStore};

const OLD: [usize; 3] = [0, 1, 2];

/// gauss3-noise as `train` loads it: scaled, then filtered.
fn gauss3(classes: Option<&[usize]>) -> MultiViewDataset {
    let mut ds = data::builtin::generate("gauss3-noise").unwrap();
    data::preprocess::apply(&mut ds, Preprocess::MinMax);
    match classes {
        Some(c) => ds.select_classes(c).unwrap(),
        None => ds,
    }
}

fn config(scope: CentringScope) -> TrainConfig {
    TrainConfig {
        centring_scope: scope,
        encoder_hidden: vec![64, 64],
        feature_dim: 32,
        high_feature_dim: 32,
        vcf_ff_dim: 64,
        batch_size: 50,
        learning_rate: 2e-3,
        mse_epochs: 40,
        con_epochs: 20,
        device: DeviceChoice::Flex,
        eval_every: 10,
        snapshot_every: 0,
        seed: 1,
        classes: Some(OLD.to_vec()),
        // The parent of docs/RESULTS.md's issue-15 protocol, trained before the refresh period's
        // default went from 10 to 5 (session 21); the update, not the parent, is under test.
        pseudo_refresh: 10,
        // ... and before session 34's defaults (others-consensus contrast at per-view size,
        // balanced pseudo labels, cosine decay): on a parent trained with those, the expansion
        // splits the new class into two clusters (23 + 102 samples, both pure; 3 → 5 clusters),
        // which this test's "one new cluster" does not allow (docs/RESULTS.md, session 34).
        contrast_pairing: ContrastPairing::Pairs,
        contrast_scale: ContrastScale::Terms,
        pseudo_source: PseudoSource::Kmeans,
        lr_cosine: false,
        // ... and before session 47's label-free stop: the parent trains all 20 epochs.
        stop_tolerance: 0.0,
        ..TrainConfig::default()
    }
}

/// Trains on the old classes into a run of `store` (as `train` records it) and returns its folder.
fn train(store: &RunStore, scope: CentringScope) -> PathBuf {
    let ds = gauss3(Some(&OLD));
    let cfg = config(scope);
    let mut writer = store
        .create(NewRun {
            name: "gauss3 0-2".into(),
            tags: vec![],
            front_end: "cli".into(),
            dataset: DatasetInfo::of(&ds, "gauss3-noise", "minmax"),
            config: cfg.clone(),
            sweep_cell: None,
        })
        .unwrap();
    let h = spawn_trainer();
    let out = writer.dir().to_path_buf();
    h.commands
        .send(Command::Start { dataset: Arc::new(ds), config: Box::new(cfg), out_dir: Some(out.clone()) })
        .unwrap();
    loop {
        let e = h.events.recv_timeout(Duration::from_secs(600)).expect("the trainer answers");
        writer.observe(&e).unwrap();
        match e {
            Event::Finished(_) => return out,
            Event::Failed { error, .. } => panic!("training failed: {error}"),
            _ => {}
        }
    }
}

/// Every float parameter of a module, in module order.
fn params<M: Module>(m: &M) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.push(p.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
        }
    }
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

/// The bytes of every file under `dir`, by relative path.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(snapshot(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

fn centres(ck: &Checkpoint, device: &Device) -> Vec<f32> {
    params(&ck.model(device).unwrap().dec).concat()
}

#[test]
fn updates_freeze_the_encoders_anchor_the_old_centres_and_add_the_new_class() {
    let tmp = tempfile::tempdir().unwrap();
    let store = RunStore::open(tmp.path().join("runs")).unwrap();
    let run = train(&store, CentringScope::All);
    let parent = checkpoint::load(&run).unwrap();
    // The Fisher was stored at training time.
    let stats = parent.meta.centre_stats.as_ref().expect("the final checkpoint stores the centres' Fisher");
    assert_eq!((stats.k, stats.fisher.len()), (3, 3 * 32));
    assert!(stats.within_distance > 0.0);
    let before = snapshot(&parent.dir);

    // Through the run store, as `update` runs it: the old data is found from the parent's run.
    let job = UpdateJob {
        checkpoint: run.clone(),
        new_data: "gauss3-noise".into(),
        classes: None,
        old_data: None,
        preprocess: None,
        non_finite: data::NonFinite::Error,
        label_column: None,
        settings: UpdateSettings::default(),
        device: DeviceChoice::Flex,
        front_end: "cli".into(),
        name: None,
    };
    // What the other rules and settings give on this model (printed for docs/RESULTS.md).
    for (label, settings) in [
        ("no ewc", UpdateSettings { ewc_lambda: 0.0, damping: 1.0, ..UpdateSettings::default() }),
        ("off", UpdateSettings { expand: Expansion::Off, ..UpdateSettings::default() }),
        ("0 passes", UpdateSettings { iterations: 0, ..UpdateSettings::default() }),
    ] {
        let (new, old) = (gauss3(None), gauss3(Some(&OLD)));
        let device = Device::flex();
        let u = update_network(&parent, parent.model(&device).unwrap(), &new, Some(&old), &settings, &device).unwrap();
        let r = &u.report;
        println!(
            "{label}: drift {:?} acc_old {:?} -> {:?} acc_new {:?} clusters {} new {:?}",
            r.drift_old, r.acc_old_before, r.acc_old_after, r.acc_new, r.clusters_after, r.new_clusters
        );
    }
    let outcome = run_update(&store, &job).unwrap();
    let r = &outcome.report;
    assert_eq!(r.novelty_space, NoveltySpace::Heads);
    assert_eq!(r.fisher_source, "checkpoint");
    assert_eq!(r.n_old, Some(gauss3(Some(&OLD)).n_samples()));
    assert_eq!((r.clusters_before, r.clusters_after), (3, 4), "{r:#?}");
    let new_cluster = &r.new_clusters[0];
    assert!(new_cluster.purity.unwrap() >= 0.9, "{r:#?}");
    assert!(r.drift_old.unwrap() <= 0.02, "{r:#?}");
    assert!(r.acc_old_after.unwrap() >= r.acc_old_before.unwrap() - 1e-9, "{r:#?}");
    assert_eq!(r.curve.len(), UpdateSettings::default().iterations);

    // The parent is untouched, byte for byte; the child records it.
    assert_eq!(snapshot(&parent.dir), before);
    let child = checkpoint::load(&outcome.checkpoint).unwrap();
    assert_ne!(child.dir, parent.dir);
    let lineage = child.meta.lineage.as_ref().unwrap();
    assert_eq!(lineage.parent, parent.dir);
    assert_eq!(lineage.data.len(), 2);
    assert_eq!(child.meta.model.n_clusters, 4);
    let record = store.load(&outcome.run_id).unwrap();
    let update = record.update.as_ref().unwrap();
    assert_eq!(update.parent_run.as_deref(), Some(run.file_name().unwrap().to_str().unwrap()));

    // Encoders, projection, centring, AFW and the VCF transformer are bit-identical.
    let device = Device::flex();
    let (a, b) = (parent.model(&device).unwrap(), child.model(&device).unwrap());
    assert_eq!(params(&a.views), params(&b.views));
    assert_eq!(params(&a.projection), params(&b.projection));
    assert_eq!(a.centring.as_ref().map(params), b.centring.as_ref().map(params));
    assert_eq!(params(&a.afw), params(&b.afw));
    assert_eq!(params(&a.vcf.encoder), params(&b.vcf.encoder));
    // The VCF classifier keeps its old outputs and gains one.
    let (wa, wb) = (params(&a.vcf.cluster), params(&b.vcf.cluster));
    assert_eq!(wb[0].len(), wa[0].len() / 3 * 4);

    // A further update of the child finds all its data from its lineage.
    let again = run_update(&store, &UpdateJob { checkpoint: outcome.checkpoint.clone(), ..job.clone() }).unwrap();
    assert_eq!(again.report.n_old, Some(gauss3(Some(&OLD)).n_samples() + gauss3(None).n_samples()));

    // With a huge λ the old centres stay where they were; without EWC and damping they move.
    let new = gauss3(None);
    let old = gauss3(Some(&OLD));
    let old_centres = centres(&parent, &device);
    let pinned = UpdateSettings { ewc_lambda: 1e12, expand: Expansion::Off, ..UpdateSettings::default() };
    let u = update_network(&parent, parent.model(&device).unwrap(), &new, Some(&old), &pinned, &device).unwrap();
    let moved = params(&u.network.dec).concat();
    let shift = moved.iter().zip(&old_centres).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(shift < 1e-5, "old centres moved by {shift} under λ = 1e12");
    let free = UpdateSettings { ewc_lambda: 0.0, damping: 1.0, expand: Expansion::Off, ..UpdateSettings::default() };
    let u = update_network(&parent, parent.model(&device).unwrap(), &new, Some(&old), &free, &device).unwrap();
    assert!(u.report.old_shift > 1e-3, "without EWC the centres should move: {}", u.report.old_shift);

    // The seed's rule adds a centre for every far sample.
    let seed_rule = UpdateSettings { expand: Expansion::Seed, iterations: 1, ..UpdateSettings::default() };
    let u = update_network(&parent, parent.model(&device).unwrap(), &new, Some(&old), &seed_rule, &device).unwrap();
    assert_eq!(u.report.clusters_after, 3 + u.report.far_samples);

    // New data of other shapes is refused with the checkpoint named.
    let other = data::builtin::generate("rings-moons").unwrap();
    let e = update_network(&parent, parent.model(&device).unwrap(), &other, None, &job.settings, &device).unwrap_err();
    assert!(e.to_string().contains(&parent.dir.display().to_string()), "{e}");
}

/// A network whose view centring applies to its contrast only reads its heads in the uncentred
/// `normalize(W z_v + b)`, where the unseen class lies within the old clusters' reach (session 23:
/// 32 of its 150 samples past the threshold, no new cluster). The update looks for novelty in the
/// contrast's centred space, each old cluster with its own radius, and places the new centre where
/// the heads read.
#[test]
fn a_network_centred_for_its_contrast_only_finds_the_new_class_in_its_centred_space() {
    let tmp = tempfile::tempdir().unwrap();
    let store = RunStore::open(tmp.path().join("runs")).unwrap();
    let run = train(&store, CentringScope::Contrast);
    let parent = checkpoint::load(&run).unwrap();
    let (new, old) = (gauss3(None), gauss3(Some(&OLD)));
    let device = Device::flex();
    let u =
        update_network(&parent, parent.model(&device).unwrap(), &new, Some(&old), &UpdateSettings::default(), &device)
            .unwrap();
    let r = &u.report;
    println!("{}", r.summary_lines().join("\n"));
    assert_eq!(r.novelty_space, NoveltySpace::Centred);
    assert_eq!(r.cluster_radii.len(), 3);
    assert!(r.cluster_radii.iter().all(|&x| x > 0.0), "{r:#?}");
    assert_eq!((r.clusters_before, r.clusters_after), (3, 4), "{r:#?}");
    assert!(r.new_clusters[0].purity.unwrap() >= 0.9, "{r:#?}");
    assert!(r.drift_old.unwrap() <= 0.02, "{r:#?}");
    assert!(r.acc_old_after.unwrap() >= r.acc_old_before.unwrap() - 1e-9, "{r:#?}");
    assert!(r.acc_new.unwrap() > r.acc_new_before.unwrap(), "{r:#?}");
}
