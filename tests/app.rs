//! The desktop app driven through egui_kittest: the real `WorkbenchApp`, the
//! real trainer thread, the real t-SNE worker. No GPU needed.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

use mvc_workbench::app::state::Tile;
use mvc_workbench::app::state::{AppCommand, DatasetSource, ExportOutcome, ExportTarget, RunStatus};
use mvc_workbench::app::worker::{INJECTED_CRASH, JobKind};
use mvc_workbench::app::{AppOptions, WorkbenchApp};
use mvc_workbench::engine::protocol::{EpochReport, Event, Losses, MetricsReport, Phase, RunSummary, Scores};
use mvc_workbench::engine::{DeviceChoice, TrainConfig};
use mvc_workbench::runs::{DatasetInfo, NewRun, RunStore, Status};

/// The app on `dataset`, recording its runs in `runs` (never the user's own run store).
fn harness(dataset: Option<&str>, runs: &Path) -> Harness<'static, WorkbenchApp> {
    let opts = AppOptions {
        dataset: dataset.map(str::to_owned),
        persist: false,
        runs_dir: Some(runs.to_path_buf()),
        ..AppOptions::default()
    };
    // The form grids label their sliders with a neighbouring label, not `labelled_by`
    // (yet), so the strict accessibility check is off.
    Harness::builder()
        .with_size(egui::vec2(1600.0, 1100.0))
        .with_accessibility_check(false)
        .build_eframe(move |cc| WorkbenchApp::new(cc, opts))
}

/// Steps frames until `done` holds (or panics after `secs`).
fn step_until(h: &mut Harness<'static, WorkbenchApp>, secs: u64, what: &str, done: impl Fn(&WorkbenchApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done(h.state()) {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(15));
    }
    h.step();
}

/// Clicks Start and steps frames until the run ends (or panics after `secs`); it must have
/// finished, not stopped or failed.
fn train_to_the_end(h: &mut Harness<'static, WorkbenchApp>, secs: u64, what: &str) {
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Start").click();
    h.step();
    step_until(h, secs, what, |a| matches!(a.session.run.status, RunStatus::Finished { .. } | RunStatus::Failed(_)));
    let status = &h.state().session.run.status;
    assert_eq!(*status, RunStatus::Finished { stopped: false }, "{what}: the run ended {status:?}");
}

/// A run small enough for a test: seconds on a CPU.
fn tiny_config() -> TrainConfig {
    TrainConfig {
        mse_epochs: 2,
        con_epochs: 5,
        batch_size: 200,
        learning_rate: 1e-3,
        encoder_hidden: vec![32],
        feature_dim: 16,
        high_feature_dim: 16,
        vcf_ff_dim: 16,
        eval_every: 1,
        snapshot_every: 1,
        snapshot_points: 600,
        device: DeviceChoice::Flex,
        ..TrainConfig::default()
    }
}

/// Clicks at a screen position (press and release, no movement).
fn click_at(h: &mut Harness<'static, WorkbenchApp>, pos: egui::Pos2) {
    h.event(egui::Event::PointerMoved(pos));
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
    h.step();
    h.step();
}

#[test]
fn load_train_inspect_and_export() {
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(Some("gauss3-noise"), runs.path());
    step_until(&mut h, 30, "the built-in dataset to load", |a| a.session.loaded.is_some());
    h.get_all_by_label_contains("gauss3-noise").next().unwrap();
    h.get_all_by_label("600").next().unwrap();

    {
        let app = h.state_mut();
        // The re-seeding of near-empty clusters on, so that the losses tile reports it.
        app.state.config = TrainConfig { min_cluster_share: 0.1, ..tiny_config() };
        app.state.embedding.tsne.iterations = 150;
        app.state.embedding.tsne.perplexity = 15.0;
        app.state.embedding.every_epochs = 100;
    }
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Start").click();
    h.step();
    assert!(h.state().session.run.status.is_active(), "Start did not start a run");
    step_until(&mut h, 90, "the run to finish", |a| {
        matches!(a.session.run.status, RunStatus::Finished { .. } | RunStatus::Failed(_))
    });
    let run = &h.state().session.run;
    assert_eq!(run.status, RunStatus::Finished { stopped: false }, "run ended: {:?}", run.status);
    assert_eq!(run.epochs.len(), 7, "every epoch arrived");
    assert!(!run.metrics.is_empty(), "metrics arrived");
    assert!(run.snapshot.is_some(), "a snapshot arrived");
    assert!(run.device.as_deref().is_some_and(|d| !d.is_empty()));
    // The run is recorded in the run store, and the Runs tile lists it.
    let stored = RunStore::open(runs.path()).unwrap().list().runs;
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].status, stored[0].epochs_done), (Status::Finished, 7));
    assert_eq!(stored[0].front_end, "app");
    assert!(stored[0].results.as_ref().and_then(|r| r.best).is_some_and(|b| b.label_selected));
    assert_eq!(h.state().session.runs.runs.len(), 1);
    // The plots filled: the losses tile shows the last epoch, the metrics tile its table.
    h.get_all_by_label_contains("epoch 7 · total").next().unwrap();
    // Its line names where the last refresh's pseudo labels came from (the phase's start: k-means).
    h.get_all_by_label_contains("(labels from k-means)").next().unwrap();
    h.get_all_by_label_contains("near-empty clusters re-seeded: ").next().unwrap();
    h.get_all_by_label("primary (heads)").next().unwrap();
    // That line stays inside the tile: a header row as wide as the line used to push the plot and
    // the tile's Export button past the tile's edge, under the Metrics tile (session 30).
    let log_scale = h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "log scale").rect();
    let metrics_left = h.get_by_label("Metrics").rect().left();
    let losses_export = h
        .get_all_by_role_and_label(egui::accesskit::Role::Button, "Export")
        .map(|n| n.rect())
        .filter(|r| (r.center().y - log_scale.center().y).abs() < 12.0)
        .min_by(|a, b| a.left().total_cmp(&b.left()))
        .expect("the losses tile's Export button, on its header row");
    assert!(
        losses_export.right() <= metrics_left,
        "{losses_export:?} reaches into the Metrics tile at x {metrics_left}"
    );
    let line = h.get_all_by_label_contains("(labels from k-means)").next().unwrap().rect();
    assert!(line.right() <= metrics_left, "{line:?} reaches into the Metrics tile at x {metrics_left}");

    step_until(&mut h, 60, "the t-SNE of the final snapshot", |a| {
        a.session.embedding.pending.is_none() && a.session.embedding.layout.as_ref().is_some_and(|l| l.epoch() == 7)
    });
    let layout = h.state().session.embedding.layout.clone().expect("a layout");
    assert!(layout.coords.len() >= 500, "{} points", layout.coords.len());
    h.get_all_by_label_contains("t-SNE of Z · epoch 7").next().unwrap();

    // Click a point of the scatter: the inspector shows it, with predicted vs true.
    let row = (0..layout.coords.len()).filter_map(|i| layout.row(i)).nth(17).expect("a point");
    let pos = h.state().embedding_point_pos(row).expect("the point is on screen");
    click_at(&mut h, pos);
    let selected = h.state().session.selected.expect("a click on a point selects it");
    assert!(h.state().embedding_point_pos(selected).is_some_and(|p| p.distance(pos) < 12.0));
    h.get_all_by_label(&format!("#{selected}")).next().unwrap();
    h.get_all_by_label("True label").next().unwrap();
    h.get_all_by_label("Uncertainty").next().unwrap();
    h.get_all_by_label("Predicted").next().unwrap();
    assert!(h.query_by_label("correct").is_some() || h.query_by_label("wrong").is_some());

    // Export all: valid SVG, PNG, CSV (with the t-SNE coordinates) and JSON.
    let dir = tempfile::tempdir().unwrap();
    h.state_mut().state.export.dir = dir.path().to_path_buf();
    h.state_mut().state.export.dpi = 100;
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Export all").click();
    step_until(&mut h, 60, "the export", |a| !a.session.export_busy && a.session.export_outcome.is_some());
    let folder = only_subdir(dir.path());
    for fig in ["losses", "metrics", "view_weights", "view_weight_history", "embedding", "cluster_probabilities"] {
        let svg = std::fs::read_to_string(folder.join(format!("{fig}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"), "{fig}.svg is not SVG");
        let png = std::fs::read(folder.join(format!("{fig}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{fig}.png is not PNG");
        assert!(png.len() > 2000);
    }
    let csv = std::fs::read_to_string(folder.join("embedding.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "index,x,y,true_label,true_name,predicted,predicted_name,predicted_cluster,confidence,uncertainty,method,feature,epoch"
    );
    assert_eq!(lines.clone().count(), layout.coords.len());
    assert!(lines.all(|l| l.split(',').count() == 13 && l.contains(",t-SNE,Z,7")));
    let losses = std::fs::read_to_string(folder.join("losses.csv")).unwrap();
    assert_eq!(losses.lines().count(), 8);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("run.json")).unwrap()).unwrap();
    assert_eq!(json["dataset"]["name"], "gauss3-noise");
    assert_eq!(json["dataset"]["fingerprint"].as_str().map(str::len), Some(64));
    assert_eq!(json["epochs"].as_array().map(Vec::len), Some(7));
    assert!(json["final_metrics"]["mean_q"]["acc"].as_f64().is_some());
    assert!(json["config"]["con_epochs"] == 5 && json["device"].is_string() && json["wall_secs"].is_number());
    let leftovers = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .count();
    assert_eq!(leftovers, 0, "no temporary files are left behind");
}

fn only_subdir(dir: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

#[derive(Debug)]
struct DroppedPath(PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn a_bad_file_dropped_shows_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-really.mat");
    std::fs::write(&bad, b"this is a text file, not MATLAB data\n").unwrap();
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(None, runs.path());
    h.step();
    // Hovering shows the drop hint; dropping loads.
    h.input_mut().hovered_files.push(egui::HoveredFile { path: Some(bad.clone()), mime: String::new() });
    h.step();
    h.input_mut().hovered_files.clear();
    h.input_mut().dropped_files.push(Arc::new(DroppedPath(bad.clone())));
    h.step();
    assert_eq!(h.state().session.loading, Some(DatasetSource::File(bad.clone())));
    step_until(&mut h, 20, "the load to fail", |a| a.session.loading.is_none());
    let err = h.state().session.load_error.clone().expect("an error message");
    assert!(err.contains("not-really.mat"), "{err}");
    h.get_all_by_label("Could not load the dataset").next().unwrap();
    h.get_all_by_label(&err).next().unwrap();
    assert!(h.state().session.loaded.is_none());

    // The app is still usable: a built-in set loads after the failure.
    h.state_mut().send(AppCommand::Load(DatasetSource::Builtin("rings-moons".into())));
    step_until(&mut h, 20, "the built-in set", |a| a.session.loaded.is_some());
    assert!(h.state().session.load_error.is_none());
    h.get_all_by_label("900").next().unwrap();
}

#[test]
fn start_without_a_dataset_is_refused() {
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(None, runs.path());
    h.step();
    // Start is disabled without data: clicking it does nothing.
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Start").click();
    h.step();
    h.step();
    assert_eq!(h.state().session.run.status, RunStatus::Idle);
    h.state_mut().send(AppCommand::StartRun);
    h.step();
    assert_eq!(h.state().session.start_error.as_deref(), Some("load a dataset first"));
}

#[test]
fn a_crashed_loader_or_export_is_reported_and_the_next_one_works() {
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(None, runs.path());
    h.step();
    h.state_mut().crash_next(JobKind::Loader);
    h.state_mut().send(AppCommand::Load(DatasetSource::Builtin("gauss3-noise".into())));
    h.step();
    step_until(&mut h, 20, "the crashed load to be noticed", |a| a.session.loading.is_none());
    // The dataset panel says why, the status bar too.
    let err = h.state().session.load_error.clone().expect("a crash is a load error");
    assert_eq!(err, format!("the dataset loader crashed while reading gauss3-noise (built-in): {INJECTED_CRASH}"));
    h.get_all_by_label("Could not load the dataset").next().unwrap();
    h.get_all_by_label(&err).next().unwrap();
    h.get_all_by_label(&format!("the dataset loader crashed: {INJECTED_CRASH}")).next().unwrap();
    assert!(h.state().session.loaded.is_none());

    // The next load is not refused as "already loading", and succeeds.
    h.state_mut().send(AppCommand::Load(DatasetSource::Builtin("rings-moons".into())));
    h.step();
    assert_eq!(h.state().session.loading, Some(DatasetSource::Builtin("rings-moons".into())));
    step_until(&mut h, 20, "the second load", |a| a.session.loaded.is_some());
    assert!(h.state().session.load_error.is_none());
    h.get_all_by_label_contains("loaded rings-moons in").next().unwrap();
    assert!(h.query_by_label("Could not load the dataset").is_none());

    // An export thread that crashes: reported, and the next export writes its file.
    let dir = tempfile::tempdir().unwrap();
    h.state_mut().state.export.dir = dir.path().to_path_buf();
    h.state_mut().crash_next(JobKind::Export);
    h.state_mut().send(AppCommand::Export(ExportTarget::RunJson));
    h.step();
    step_until(&mut h, 20, "the crashed export", |a| !a.session.export_busy);
    let crashed = format!("the export thread crashed: {INJECTED_CRASH}");
    match &h.state().session.export_outcome {
        Some(ExportOutcome::Failed(e)) => assert_eq!(e, &crashed),
        other => panic!("expected a failed export, got {other:?}"),
    }
    h.get_all_by_label(&format!("export failed: {crashed}")).next().unwrap();
    h.get_all_by_label("export failed").next().unwrap();
    h.state_mut().send(AppCommand::Export(ExportTarget::RunJson));
    h.step();
    step_until(&mut h, 20, "the second export", |a| !a.session.export_busy);
    match &h.state().session.export_outcome {
        Some(ExportOutcome::Written(files)) => {
            assert_eq!(files.len(), 1);
            let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
            assert_eq!(json["dataset"]["name"], "rings-moons");
        }
        other => panic!("expected a written export, got {other:?}"),
    }
}

#[test]
fn a_dead_trainer_or_tsne_thread_is_reported_and_replaced() {
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(Some("gauss3-noise"), runs.path());
    step_until(&mut h, 30, "the built-in dataset to load", |a| a.session.loaded.is_some());
    {
        let app = h.state_mut();
        app.state.config = tiny_config();
        app.state.embedding.tsne.iterations = 150;
        app.state.embedding.tsne.perplexity = 15.0;
        app.state.embedding.every_epochs = 100;
    }

    // A trainer thread that dies at the start of a run without reporting it.
    h.state_mut().crash_next(JobKind::Trainer);
    h.state_mut().send(AppCommand::StartRun);
    h.step();
    step_until(&mut h, 20, "the dead trainer to be noticed", |a| !a.session.run.status.is_active());
    let crashed = format!("the trainer thread crashed: {INJECTED_CRASH}");
    let reason = format!("{crashed} (the next run starts a fresh one)");
    assert_eq!(h.state().session.run.failure().map(|f| f.reason.clone()), Some(reason.clone()));
    h.get_all_by_label(&format!("Run failed: {reason}")).next().unwrap();
    h.get_all_by_label("Run: failed").next().unwrap();
    h.get_all_by_label(&crashed).next().unwrap();

    // The next run gets a fresh trainer and finishes.
    h.state_mut().send(AppCommand::StartRun);
    h.step();
    assert!(h.state().session.run.status.is_active(), "the second start was refused");
    step_until(&mut h, 90, "the second run to finish", |a| {
        matches!(a.session.run.status, RunStatus::Finished { .. } | RunStatus::Failed(_))
    });
    assert_eq!(h.state().session.run.status, RunStatus::Finished { stopped: false });
    step_until(&mut h, 60, "the t-SNE of the final snapshot", |a| {
        a.session.embedding.pending.is_none() && a.session.embedding.layout.as_ref().is_some_and(|l| l.epoch() == 7)
    });

    // A t-SNE thread that dies: the embedding tile and the status bar say so, and a
    // recompute runs on a fresh worker.
    h.state_mut().crash_next(JobKind::Tsne);
    h.state_mut().send(AppCommand::RecomputeTsne);
    h.step();
    // (The job itself may be refused first, "the t-SNE worker has stopped", if the thread died that fast.)
    step_until(&mut h, 20, "the dead t-SNE worker to be noticed", |a| {
        a.session.embedding.error.as_deref().is_some_and(|e| e.contains("crashed"))
    });
    let crashed = format!("the t-SNE worker crashed: {INJECTED_CRASH}");
    let err = h.state().session.embedding.error.clone().unwrap_or_default();
    assert_eq!(err, format!("{crashed}; it has been restarted: recompute to try again"));
    assert!(h.state().session.embedding.pending.is_none());
    h.get_all_by_label(&err).next().unwrap();
    h.get_all_by_label(&crashed).next().unwrap();
    h.state_mut().send(AppCommand::RecomputeTsne);
    h.step();
    assert!(h.state().session.embedding.pending.is_some(), "the recompute was not taken");
    step_until(&mut h, 60, "the recomputed t-SNE", |a| a.session.embedding.pending.is_none());
    assert!(h.state().session.embedding.error.is_none(), "{:?}", h.state().session.embedding.error);
    h.get_all_by_label_contains("t-SNE of Z · epoch 7").next().unwrap();
}

/// Records a finished four-epoch run named `name` with learning rate `lr` (no training).
fn stored_run(store: &RunStore, name: &str, lr: f64) {
    let ds = mvc_workbench::data::builtin::generate("gauss3-noise").unwrap();
    let config = TrainConfig { learning_rate: lr, mse_epochs: 1, con_epochs: 3, ..TrainConfig::default() };
    let mut w = store
        .create(NewRun {
            name: name.into(),
            tags: vec![],
            front_end: "test".into(),
            dataset: DatasetInfo::of(&ds, "gauss3-noise", "minmax"),
            config: config.clone(),
            sweep_cell: None,
        })
        .unwrap();
    let epoch = |g: usize| EpochReport {
        phase: if g == 1 { Phase::Pretrain } else { Phase::Contrastive },
        epoch: g,
        global_epoch: g,
        losses: Losses { rec: 1.0, total: 2.0 / g as f64, ..Losses::default() },
        view_weights: vec![0.3, 0.3, 0.4],
        secs: 0.1,
        lr: 1e-3,
        adaptive: None,
    };
    let s = Scores { acc: lr * 500.0, nmi: 0.4, ari: 0.3, purity: 0.6 };
    let m = MetricsReport {
        global_epoch: 4,
        mean_q: s,
        vcf: s,
        kmeans_z: s,
        per_view_acc: vec![],
        per_view: vec![],
        view_agreement: vec![],
        per_view_kmeans: vec![],
        triplet: None,
    };
    for g in 1..=4 {
        w.observe(&Event::Epoch(epoch(g))).unwrap();
    }
    w.observe(&Event::Metrics(m.clone())).unwrap();
    let summary = RunSummary {
        stopped: false,
        epochs: (1..=4).map(epoch).collect(),
        metrics: vec![m.clone()],
        final_metrics: Some(m),
        checkpoint: None,
        secs_per_epoch_pretrain: 0.1,
        secs_per_epoch_contrastive: 0.1,
        device: "test".into(),
        config,
        converged: None,
        refresh_secs: Vec::new(),
        dataset_fingerprint: String::new(),
    };
    w.observe(&Event::Finished(Box::new(summary))).unwrap();
}

#[test]
fn the_runs_tile_lists_overlays_diffs_opens_and_deletes() {
    let runs = tempfile::tempdir().unwrap();
    let store = RunStore::open(runs.path()).unwrap();
    stored_run(&store, "fast lr", 1e-3);
    stored_run(&store, "slow lr", 1e-4);
    let mut h = harness(None, runs.path());
    h.state_mut().state.layout.mode = mvc_workbench::app::state::LayoutMode::Tabs;
    h.state_mut().state.layout.active_tab = Tile::Runs;
    h.step();
    h.step();
    // Both listed, with the one setting that differs as a column.
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "fast lr").click();
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "slow lr").click();
    h.step();
    h.step();
    let overlays = &h.state().session.runs.overlays;
    assert_eq!(overlays.len(), 2, "both selected runs are overlaid");
    assert!(overlays.iter().all(|o| o.epochs.len() == 4 && o.metrics.len() == 1));
    // The diff shows only the differing field.
    h.get_all_by_label("Settings that differ").next().unwrap();
    assert_eq!(h.query_all_by_label("learning_rate").count(), 2, "a table column and a diff row");
    assert_eq!(h.query_all_by_label("batch_size").count(), 0, "fields that agree are neither");

    // The overlays are drawn in the plots (the losses tile has curves with no live run).
    h.state_mut().state.layout.active_tab = Tile::Losses;
    h.step();
    h.step();
    assert!(h.query_by_label_contains("Losses appear here").is_none(), "the overlaid curves fill the losses tile");

    // Deselect "slow lr": with "fast lr" alone, open it (its curves become the tiles' run), then
    // delete it, with confirmation.
    h.state_mut().state.layout.active_tab = Tile::Runs;
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "slow lr").click();
    h.step();
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Open").click();
    h.step();
    h.step();
    let run = &h.state().session.run;
    assert_eq!(run.epochs.len(), 4);
    assert_eq!(run.status, RunStatus::Finished { stopped: false });
    assert_eq!(run.config.as_ref().map(|c| c.learning_rate), Some(1e-3));
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Delete…").click();
    h.step();
    h.step();
    assert_eq!(store.list().runs.len(), 2, "nothing is deleted before the confirmation");
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Yes, delete").click();
    h.step();
    h.step();
    let left = store.list().runs;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "slow lr");
    assert_eq!(h.state().session.runs.runs.len(), 1);
}

/// The inspector answers for samples outside the embedding snapshot through the run's checkpoint:
/// right after a live run, and for a stored run opened in a fresh window once its dataset is loaded.
#[test]
fn the_inspector_reads_every_sample_through_the_checkpoint() {
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(Some("gauss3-noise"), runs.path());
    step_until(&mut h, 30, "the built-in dataset to load", |a| a.session.loaded.is_some());
    {
        let app = h.state_mut();
        app.state.config = TrainConfig { con_epochs: 2, snapshot_points: 40, ..tiny_config() };
        app.state.embedding.tsne.iterations = 100;
        app.state.layout.mode = mvc_workbench::app::state::LayoutMode::Tabs;
        app.state.layout.active_tab = Tile::Inspector;
    }
    h.state_mut().send(AppCommand::StartRun);
    h.step();
    step_until(&mut h, 90, "the run to finish", |a| matches!(a.session.run.status, RunStatus::Finished { .. }));
    step_until(&mut h, 90, "the checkpoint's evaluation of every sample", |a| {
        a.session.inspection.snapshot.is_some() || a.session.inspection.error.is_some()
    });
    let n = h.state().session.loaded.as_ref().unwrap().dataset.n_samples();
    let insp = &h.state().session.inspection;
    assert!(insp.error.is_none(), "{:?}", insp.error);
    assert_eq!(insp.snapshot.as_ref().unwrap().indices.len(), n, "every sample");
    let in_snapshot = h.state().session.run.snapshot.as_ref().unwrap().indices.clone();
    assert!(in_snapshot.len() < n);
    let outside = (0..n).find(|r| !in_snapshot.contains(r)).unwrap();
    h.state_mut().send(AppCommand::Select(Some(outside)));
    h.step();
    h.step();
    h.get_all_by_label(&format!("#{outside}")).next().unwrap();
    h.get_all_by_label_contains("(every sample)").next().unwrap();
    h.get_all_by_label("Predicted").next().unwrap();
    drop(h);

    // A fresh window, nothing loaded: open the stored run; the inspector offers to load its data.
    let id = RunStore::open(runs.path()).unwrap().list().runs[0].id.clone();
    let mut h = harness(None, runs.path());
    {
        let app = h.state_mut();
        app.state.layout.mode = mvc_workbench::app::state::LayoutMode::Tabs;
        app.state.layout.active_tab = Tile::Inspector;
    }
    h.state_mut().send(AppCommand::OpenRun(id));
    h.step();
    h.state_mut().send(AppCommand::Select(Some(outside)));
    h.step();
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Load gauss3-noise (built-in) and inspect every sample")
        .click();
    h.step();
    step_until(&mut h, 60, "the stored run's checkpoint to evaluate the loaded data", |a| {
        a.session.inspection.snapshot.is_some() || a.session.inspection.error.is_some()
    });
    assert!(h.state().session.inspection.error.is_none(), "{:?}", h.state().session.inspection.error);
    assert_eq!(h.state().session.run.epochs.len(), 4, "the stored run is open again after the load");
    h.state_mut().send(AppCommand::Select(Some(outside)));
    h.step();
    h.step();
    h.get_all_by_label_contains("(every sample)").next().unwrap();
}

/// The Runs tile's "New data" on a finished run: armed by its button, a data file dropped on the
/// window updates the run's checkpoint on the `mvc-update` thread; the drift and metrics appear
/// under the run, the new run is listed with its parent and opened, and the parent is unchanged.
/// Then, unarmed, a file dropped onto the run's row in the table updates it again.
#[test]
fn new_data_dropped_on_a_finished_run_updates_its_checkpoint() {
    let runs = tempfile::tempdir().unwrap();
    let store = RunStore::open(runs.path()).unwrap();
    // A real run on three of gauss3-noise's classes, recorded as `train --classes 0,1,2` does.
    let mut ds = mvc_workbench::data::builtin::generate("gauss3-noise").unwrap();
    mvc_workbench::data::preprocess::apply(&mut ds, mvc_workbench::data::Preprocess::MinMax);
    let ds = ds.select_classes(&[0, 1, 2]).unwrap();
    let config = TrainConfig { classes: Some(vec![0, 1, 2]), snapshot_every: 0, ..tiny_config() };
    let mut w = store
        .create(NewRun {
            name: "three blobs".into(),
            tags: vec![],
            front_end: "test".into(),
            dataset: DatasetInfo::of(&ds, "gauss3-noise", "minmax"),
            config: config.clone(),
            sweep_cell: None,
        })
        .unwrap();
    let trainer = mvc_workbench::engine::spawn_trainer();
    let out = w.dir().to_path_buf();
    trainer
        .commands
        .send(mvc_workbench::engine::Command::Start {
            dataset: Arc::new(ds),
            config: Box::new(config),
            out_dir: Some(out.clone()),
        })
        .unwrap();
    loop {
        let e = trainer.events.recv_timeout(Duration::from_secs(300)).unwrap();
        w.observe(&e).unwrap();
        if matches!(e, Event::Finished(_) | Event::Failed { .. }) {
            break;
        }
    }
    drop(w);
    let parent_id = out.file_name().unwrap().to_str().unwrap().to_owned();
    let parent_weights = std::fs::read(out.join("checkpoint/weights.bpk")).unwrap();
    // The new data: the whole of gauss3-noise as a file.
    let data_dir = tempfile::tempdir().unwrap();
    let file = data_dir.path().join("gauss3-all.mat");
    let all = mvc_workbench::data::builtin::generate("gauss3-noise").unwrap();
    mvc_workbench::data::save_dataset(&all, &file).unwrap();

    let mut h = harness(None, runs.path());
    h.state_mut().state.layout.mode = mvc_workbench::app::state::LayoutMode::Tabs;
    h.state_mut().state.layout.active_tab = Tile::Runs;
    h.step();
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "three blobs").click();
    h.step();
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::Button, "New data...").click();
    h.step();
    h.step();
    assert_eq!(h.state().session.runs.new_data.armed.as_deref(), Some(parent_id.as_str()));
    h.input_mut().dropped_files.push(Arc::new(DroppedPath(file.clone())));
    h.step();
    assert!(h.state().session.loading.is_none(), "the dropped file goes to the update, not the loader");
    step_until(&mut h, 120, "the update", |a| a.session.runs.new_data.result.is_some());
    let (parent, result) = h.state().session.runs.new_data.result.clone().unwrap();
    assert_eq!(parent, parent_id);
    let (new_run, lines) = result.unwrap_or_else(|e| panic!("the update failed: {e}"));
    assert!(lines.iter().any(|l| l.starts_with("old data: drift")), "{lines:?}");
    let rec = store.load(&new_run).unwrap();
    assert_eq!(rec.update.as_ref().unwrap().parent_run.as_deref(), Some(parent_id.as_str()));
    assert_eq!(rec.dataset.source, file.display().to_string());
    assert_eq!(h.state().session.runs.opened.as_deref(), Some(new_run.as_str()));
    h.get_all_by_label_contains("updated: new run").next().unwrap();
    assert_eq!(std::fs::read(out.join("checkpoint/weights.bpk")).unwrap(), parent_weights);

    // Without arming: the same file dropped onto the parent's row in the table updates it again.
    assert!(h.state().session.runs.new_data.armed.is_none());
    let row = h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "three blobs").rect().center();
    h.hover_at(row);
    h.step();
    h.input_mut().dropped_files.push(Arc::new(DroppedPath(file.clone())));
    h.step();
    assert!(h.state().session.loading.is_none(), "a file dropped on a run's row goes to the update");
    step_until(&mut h, 120, "the update from the row", |a| {
        a.session.runs.new_data.busy.is_none()
            && a.session
                .runs
                .new_data
                .result
                .as_ref()
                .is_some_and(|(_, r)| r.as_ref().is_ok_and(|(id, _)| id != &new_run))
    });
    let (parent, result) = h.state().session.runs.new_data.result.clone().unwrap();
    assert_eq!(parent, parent_id, "the row's run is the one updated");
    let (second, _) = result.unwrap();
    let rec = store.load(&second).unwrap();
    assert_eq!(rec.update.as_ref().unwrap().parent_run.as_deref(), Some(parent_id.as_str()));
    assert_eq!(std::fs::read(out.join("checkpoint/weights.bpk")).unwrap(), parent_weights);
}

/// Seed 001's baseline in the app: the training panel's model choice applies the seed's
/// settings and shows the baseline's own; a run's curves, test-split readings, embedding and
/// inspector (with the sample's image and its kNN label) follow, and the Runs tile lists it
/// with its kNN accuracy.
#[test]
fn a_triplet_baseline_trains_and_is_inspected_in_the_app() {
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(Some("strokes16"), runs.path());
    step_until(&mut h, 30, "the built-in image set to load", |a| a.session.loaded.is_some());
    h.get_by_value("CVC-AFWM").click();
    for _ in 0..4 {
        h.step();
    }
    h.get_by_label("MLP (triplet)").click();
    h.step();
    h.step();
    let cfg = &h.state().state.config;
    assert_eq!(cfg.model, mvc_workbench::engine::config::ModelFamily::Mlp);
    assert_eq!((cfg.mse_epochs, cfg.con_epochs, cfg.learning_rate), (0, 40, 7e-4), "the seed's settings");
    h.get_all_by_label("Positives").next().expect("the baseline's settings are shown");
    h.get_all_by_label("kNN neighbours").next().unwrap();
    {
        let c = &mut h.state_mut().state.config;
        c.con_epochs = 3;
        c.margin = 1.0;
        c.eval_every = 1;
        c.encoder_hidden = vec![64];
        c.feature_dim = 16;
        c.device = DeviceChoice::Flex;
    }
    train_to_the_end(&mut h, 120, "the baseline to finish");
    let run = &h.state().session.run;
    assert_eq!(run.epochs.len(), 3);
    assert!(run.epochs.iter().all(|e| e.losses.triplet > 0.0));
    assert!(run.metrics.last().and_then(|m| m.triplet).is_some(), "the test split's readings arrived");
    let snap = run.snapshot.clone().expect("the test split's snapshot");
    assert_eq!(snap.indices.len(), 120);
    h.step();
    h.get_all_by_label("kNN classifier (test)").next().expect("the metrics tile names the baseline's readings");
    h.get_all_by_label("k-means on test embeddings").next().unwrap();
    // The inspector: the sample's images and the kNN label.
    let row = snap.indices[5];
    h.state_mut().session.selected = Some(row);
    h.step();
    h.step();
    h.get_all_by_label("image-a (16x16)").next().expect("the sample drawn as an image");
    h.get_all_by_label_contains("kNN classifier predicts").next().unwrap();
    // The run store has it, with its kNN accuracy, beside any CVC-AFWM run.
    let stored = RunStore::open(runs.path()).unwrap().list().runs;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].knn_acc().is_some_and(|a| (0.0..=1.0).contains(&a)));
}

/// Seed 004's DEC in the app: the model choice applies the seed's schedule and shows the DEC
/// settings with a view chooser; the run trains on the chosen view alone, and the inspector reads
/// every sample through its checkpoint (on that view of the loaded three-view set).
#[test]
fn a_dec_run_trains_on_the_chosen_view_and_is_inspected() {
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(Some("gauss3-noise"), runs.path());
    step_until(&mut h, 30, "the built-in dataset to load", |a| a.session.loaded.is_some());
    h.get_by_value("CVC-AFWM").click();
    for _ in 0..4 {
        h.step();
    }
    h.get_by_label("DEC (one view, seed 004)").click();
    for _ in 0..3 {
        h.step();
    }
    let cfg = &h.state().state.config;
    assert_eq!(cfg.model, mvc_workbench::engine::config::ModelFamily::Dec);
    assert_eq!((cfg.target_refresh, cfg.stop_tolerance, cfg.learning_rate), (100, 0.001, 0.01), "seed 004's schedule");
    assert_eq!(cfg.views.as_deref(), Some(&["signal-a".to_owned()][..]), "the first view until one is chosen");
    h.get_all_by_label("Target refresh (epochs)").next().expect("the DEC settings are shown");
    // The dataset panel lists the views too; the training panel's chooser is the last node.
    h.get_all_by_value("signal-a").last().unwrap().click();
    for _ in 0..3 {
        h.step();
    }
    h.get_all_by_label("signal-b").last().unwrap().click();
    h.step();
    h.step();
    assert_eq!(h.state().state.config.views.as_deref(), Some(&["signal-b".to_owned()][..]));
    {
        let app = h.state_mut();
        let c = &mut app.state.config;
        c.mse_epochs = 2;
        c.con_epochs = 6;
        c.target_refresh = 2;
        c.encoder_hidden = vec![32];
        c.feature_dim = 8;
        c.batch_size = 100;
        c.eval_every = 2;
        c.snapshot_points = 40;
        c.device = DeviceChoice::Flex;
        app.state.embedding.tsne.iterations = 100;
        app.state.layout.mode = mvc_workbench::app::state::LayoutMode::Tabs;
        app.state.layout.active_tab = Tile::Inspector;
    }
    train_to_the_end(&mut h, 120, "the DEC run to finish");
    let run = &h.state().session.run;
    assert!(
        run.epochs.iter().filter(|e| e.phase == mvc_workbench::engine::Phase::Contrastive).all(|e| e.losses.kl > 0.0)
    );
    assert_eq!(run.metrics.last().map(|m| m.per_view_acc.len()), Some(1), "one view trained");
    step_until(&mut h, 90, "the checkpoint's evaluation of every sample", |a| {
        a.session.inspection.snapshot.is_some() || a.session.inspection.error.is_some()
    });
    let insp = &h.state().session.inspection;
    assert!(insp.error.is_none(), "{:?}", insp.error);
    assert_eq!(insp.snapshot.as_ref().unwrap().indices.len(), 600, "every sample, read on the chosen view");
}

/// The label-free stop (session 47) is a setting of the training panel, and a run it ends says
/// so under the progress bar: where the phase ended and why.
#[test]
fn a_run_that_settles_says_where_it_ended() {
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(Some("gauss3-noise"), runs.path());
    step_until(&mut h, 30, "the built-in dataset to load", |a| a.session.loaded.is_some());
    assert_eq!(h.state().state.config.stop_tolerance, 0.001, "DEC's tol by default");
    h.get_by_label("Architecture").click();
    h.step();
    h.step();
    h.get_all_by_label("Stop when settled (share)").next().expect("the stop is a setting of the training panel");
    {
        let app = h.state_mut();
        // A share the first comparison of two refreshes is sure to pass: the run ends early.
        app.state.config = TrainConfig { con_epochs: 30, pseudo_refresh: 2, stop_tolerance: 0.95, ..tiny_config() };
    }
    train_to_the_end(&mut h, 120, "the run to finish");
    let run = &h.state().session.run;
    let c = run.summary.as_ref().and_then(|s| s.converged).expect("the clusters settled before epoch 30");
    let trained = run.epochs.iter().filter(|e| e.phase == mvc_workbench::engine::Phase::Contrastive).count();
    assert_eq!(trained, c.epoch - 1, "{c:?}");
    for _ in 0..3 {
        h.step();
    }
    let said = format!("so the phase ended after {} of 30 epochs", c.epoch - 1);
    h.get_all_by_label_contains(&said).next().unwrap_or_else(|| panic!("the panel says: {said}"));
}

/// Clicks the checkbox labelled `label` (below the fold: scrolled to, then clicked through
/// AccessKit, as a screen reader would).
fn click_checkbox(h: &mut Harness<'static, WorkbenchApp>, label: &str) {
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, label).scroll_to_me();
    h.step();
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, label).click_accesskit();
    h.step();
    h.step();
}

/// Scrolls to the number field labelled `label` and sets it to `value` through AccessKit, as a
/// screen reader would.
fn set_spin_button(h: &mut Harness<'static, WorkbenchApp>, label: &str, value: f64) {
    h.get_by_role_and_label(egui::accesskit::Role::SpinButton, label).scroll_to_me();
    h.step();
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::SpinButton, label).set_value_accesskit(value);
    h.step();
    h.step();
}

/// Opens the combo box showing `current` (below the fold: scrolled to, then clicked through
/// AccessKit, as a screen reader would) and chooses `option`.
fn pick(h: &mut Harness<'static, WorkbenchApp>, current: &str, option: &str) {
    h.get_by_value(current).scroll_to_me();
    h.step();
    h.step();
    // A combo just picked from may still show its list; a click on it would close it.
    if h.query_by_label(option).is_none() {
        h.get_by_value(current).click_accesskit();
        for _ in 0..4 {
            h.step();
        }
    }
    h.get_by_label(option).click_accesskit();
    for _ in 0..4 {
        h.step();
    }
}

/// The handwritten recipe's switches are in the training panel's Architecture section: the
/// pseudo-label source, the centre refresh and the view centring's scope reach the run's config.
#[test]
fn the_pseudo_label_source_and_the_centre_refresh_are_settable() {
    use mvc_workbench::engine::config::{CentringScope, ContrastPairing, ContrastScale, PseudoSource};
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(Some("gauss3-noise"), runs.path());
    step_until(&mut h, 30, "the built-in set to load", |a| a.session.loaded.is_some());
    assert!(h.state().state.config.refresh_centres);
    // The balanced rule is the default since session 34.
    assert_eq!(h.state().state.config.pseudo_source, PseudoSource::Balanced);
    h.get_by_label("Architecture").click();
    h.step();
    h.step();
    // The section is below the window's fold: scroll to each control, then click it through
    // AccessKit (as a screen reader would).
    click_checkbox(&mut h, "move the centres at each refresh");
    assert!(!h.state().state.config.refresh_centres, "the checkbox turned the centre refresh off");
    // The k-means warm start (session 30), off by default.
    assert!(!h.state().state.config.pseudo_warm_start);
    click_checkbox(&mut h, "start k-means from the heads too");
    assert!(h.state().state.config.pseudo_warm_start, "the checkbox turned the warm start on");
    // A fresh optimiser at the contrastive phase (session 48), off by default (the seed's one Adam).
    assert!(!h.state().state.config.fresh_optimizer);
    click_checkbox(&mut h, "at the contrastive phase");
    assert!(h.state().state.config.fresh_optimizer, "the checkbox asked for a fresh optimiser");
    // The contrastive rate's warm-up (session 49), 0 (off) by default; set through AccessKit.
    assert_eq!(h.state().state.config.lr_warmup_epochs, 0);
    set_spin_button(&mut h, "Learning-rate warm-up (epochs)", 10.0);
    assert_eq!(h.state().state.config.lr_warmup_epochs, 10, "the field set a 10-epoch warm-up");
    // The pseudo-label delay (session 50), the engine's default until set through AccessKit.
    assert_eq!(h.state().state.config.pseudo_delay, TrainConfig::default().pseudo_delay);
    set_spin_button(&mut h, "Pseudo-label delay (epochs)", 7.0);
    assert_eq!(h.state().state.config.pseudo_delay, 7, "the field set a 7-epoch delay");
    // The re-seeding of near-empty clusters (session 51), off (0) until set through AccessKit.
    assert_eq!(h.state().state.config.min_cluster_share, 0.0);
    set_spin_button(&mut h, "Re-seed clusters under (share of N/K)", 0.15);
    assert!((h.state().state.config.min_cluster_share - 0.15).abs() < 1e-6, "the field set a share of .15");
    pick(&mut h, "balanced", "kmeans");
    assert_eq!(h.state().state.config.pseudo_source, PseudoSource::Kmeans, "the combo chose k-means");
    pick(&mut h, "kmeans", "heads");
    assert_eq!(h.state().state.config.pseudo_source, PseudoSource::Heads, "the combo chose the heads");
    // The view centring's scope (session 21): "contrast" by default since session 24, "all" from
    // the combo.
    assert_eq!(h.state().state.config.centring_scope, CentringScope::Contrast);
    pick(&mut h, "contrast", "all");
    let cfg = &h.state().state.config;
    assert_eq!((cfg.view_centring, cfg.centring_scope), (true, CentringScope::All), "the combo centres every h_v");
    // What each view is contrasted with (session 31): the other views' consensus by default since
    // session 34, the whole consensus from the combo.
    assert_eq!(h.state().state.config.contrast_pairing, ContrastPairing::Others);
    pick(&mut h, "others", "consensus");
    assert_eq!(h.state().state.config.contrast_pairing, ContrastPairing::Consensus, "the combo chose the consensus");
    // Its size (session 33): per view by default since session 34; each term once from the combo,
    // which the consensus pairing keeps enabled.
    assert_eq!(h.state().state.config.contrast_scale, ContrastScale::PerView);
    pick(&mut h, "per-view", "terms");
    assert_eq!(h.state().state.config.contrast_scale, ContrastScale::Terms, "the combo summed each term once");
}

/// A small two-view, two-class `.mat` file named `name` in `dir` (the name picks a preset).
fn two_class_file(dir: &Path, name: &str) -> PathBuf {
    use common::{num, var};
    use mvc_workbench::data::mat::writer::write_mat_v5;
    let path = dir.join(name);
    let vars = [
        var("X1", num(40, 3, |r, c| ((r % 2) * 5 + c) as f64)),
        var("X2", num(40, 3, |r, c| ((r % 2) * 3 + c * r) as f64)),
        var("Y", num(40, 1, |r, _| (r % 2) as f64)),
    ];
    write_mat_v5(&path, &vars, false).unwrap();
    path
}

/// A dataset whose file name the seed has settings for (`BDGP.mat`) gets a button for them, as
/// serve and the seed's `train.py` pick them by name; a click applies the preset, and the button
/// goes. A dataset without a preset gets none.
#[test]
fn a_dataset_the_seed_has_a_preset_for_offers_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_class_file(dir.path(), "BDGP.mat");
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(Some(path.to_str().unwrap()), runs.path());
    step_until(&mut h, 30, "the file to load", |a| a.session.loaded.is_some());
    h.step();
    h.get_by_label_contains("Use the seed's BDGP preset").click();
    h.step();
    h.step();
    let cfg = &h.state().state.config;
    assert_eq!(cfg.preset.as_deref(), Some("BDGP"));
    assert_eq!((cfg.mse_epochs, cfg.con_epochs, cfg.seed), (200, 300, 25), "the seed's BDGP settings");
    assert!(h.query_by_label_contains("Use the seed's").is_none(), "applied: the offer goes");

    let mut h = harness(Some("gauss3-noise"), runs.path());
    step_until(&mut h, 30, "the built-in set to load", |a| a.session.loaded.is_some());
    h.step();
    assert!(h.query_by_label_contains("Use the seed's").is_none(), "no preset for gauss3-noise");
}

/// The seed's Prokaryotic preset carries its dataset's scaling (as stored, as the seed's lineage
/// loads it): its button sets the scaling menu to "none" and reloads the file with it; the menu
/// can still change it after.
#[test]
fn the_prokaryotic_preset_loads_its_data_as_stored() {
    use mvc_workbench::data::Preprocess;
    let dir = tempfile::tempdir().unwrap();
    let path = two_class_file(dir.path(), "Prokaryotic.mat");
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(Some(path.to_str().unwrap()), runs.path());
    step_until(&mut h, 30, "the file to load", |a| a.session.loaded.is_some());
    assert_eq!(h.state().session.loaded.as_ref().unwrap().preprocess, Preprocess::MinMax, "min-max by default");
    h.step();
    h.get_by_label_contains("Use the seed's Prokaryotic preset").click();
    h.step();
    assert_eq!(h.state().state.config.preset.as_deref(), Some("Prokaryotic"));
    assert_eq!(h.state().state.preprocess, Preprocess::None);
    step_until(&mut h, 30, "the file to load again, as stored", |a| {
        a.session.loaded.as_ref().is_some_and(|l| l.preprocess == Preprocess::None)
    });
    assert_eq!(h.state().session.loaded.as_ref().unwrap().scalings, vec![Preprocess::None; 2]);
    pick(&mut h, "none (as stored)", "min-max per feature");
    assert_eq!(h.state().state.preprocess, Preprocess::MinMax, "the menu still decides after the preset");
    assert_eq!(h.state().state.config.preset.as_deref(), Some("Prokaryotic"));
}

/// The dataset panel's "auto" scaling z-scores the dense view and min-maxes the sparse one of a
/// loaded file, and lists what each view got.
#[test]
fn auto_scaling_is_chosen_in_the_dataset_panel_and_shown_per_view() {
    use common::{num, var};
    use mvc_workbench::data::Preprocess;
    use mvc_workbench::data::mat::writer::write_mat_v5;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.mat");
    let vars = [
        var("X1", num(40, 3, |r, c| 1.0 + ((r % 2) * 5 + c) as f64)),
        // One entry in eight non-zero: a sparse, text-like view.
        var("X2", num(40, 4, |r, c| if (r + c) % 8 == 0 { 1.0 + (r % 2) as f64 } else { 0.0 })),
        var("Y", num(40, 1, |r, _| (r % 2) as f64)),
    ];
    write_mat_v5(&path, &vars, false).unwrap();
    let runs = tempfile::tempdir().unwrap();
    let mut h = harness(Some(path.to_str().unwrap()), runs.path());
    step_until(&mut h, 30, "the file to load", |a| a.session.loaded.is_some());
    assert_eq!(h.state().session.loaded.as_ref().unwrap().scalings, vec![Preprocess::MinMax; 2], "min-max by default");
    pick(&mut h, "min-max per feature", "auto: z-score dense views, min-max sparse ones");
    assert_eq!(h.state().state.preprocess, Preprocess::Auto);
    step_until(&mut h, 30, "the file to load again, scaled by auto", |a| {
        a.session.loaded.as_ref().is_some_and(|l| l.preprocess == Preprocess::Auto)
    });
    assert_eq!(h.state().session.loaded.as_ref().unwrap().scalings, vec![Preprocess::ZScore, Preprocess::MinMax]);
    assert!(
        h.query_by_label("zscore").is_some() && h.query_by_label("minmax").is_some(),
        "each view's scaling is listed"
    );
}
