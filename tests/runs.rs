//! The run store: records round-trip, a killed writer lists as `interrupted` with every epoch it
//! finished, concurrent writers never corrupt the store, broken files are reported and skipped,
//! the results table's numbers are the records' own, and `sweep` resumes by skipping finished
//! cells. The binary runs tiny networks on built-in sets for a second or two.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mvc_workbench::data::builtin;
use mvc_workbench::engine::TrainConfig;
use mvc_workbench::engine::protocol::{EpochReport, Event, Losses, MetricsReport, Phase, RunSummary, Scores};
use mvc_workbench::runs::table::{self, Format};
use mvc_workbench::runs::{DatasetInfo, NewRun, RunStore, RunWriter, Status};

const BIN: &str = env!("CARGO_BIN_EXE_mvc-workbench");

fn new_run(seed: u64, lr: f64) -> NewRun {
    let ds = builtin::generate("gauss3-noise").unwrap();
    NewRun {
        name: String::new(),
        tags: vec!["test".into()],
        front_end: "test".into(),
        dataset: DatasetInfo::of(&ds, "gauss3-noise", "minmax"),
        config: TrainConfig { seed, learning_rate: lr, mse_epochs: 1, con_epochs: 3, ..TrainConfig::default() },
        sweep_cell: None,
    }
}

fn epoch(g: usize) -> EpochReport {
    EpochReport {
        phase: if g == 1 { Phase::Pretrain } else { Phase::Contrastive },
        epoch: g,
        global_epoch: g,
        losses: Losses { rec: 0.5, total: 1.0 / g as f64, ..Losses::default() },
        view_weights: vec![0.2, 0.3, 0.5],
        secs: 0.25,
        lr: 1e-3 * (1.0 - 0.1 * g as f64),
        adaptive: None,
    }
}

fn metrics(g: usize, acc: f64) -> MetricsReport {
    let s = Scores { acc, nmi: acc - 0.1, ari: acc - 0.2, purity: acc };
    MetricsReport {
        global_epoch: g,
        mean_q: s,
        vcf: s,
        kmeans_z: Scores { acc: 0.9, ..s },
        per_view_acc: vec![acc],
        per_view: vec![],
        view_agreement: vec![],
        per_view_kmeans: vec![],
        triplet: None,
    }
}

/// Four epochs, evaluations at 2, 3 and 4 with ACC `accs`, then `Finished`.
fn play(w: &mut RunWriter, accs: [f64; 3]) {
    w.observe(&Event::Started { device: "test device".into(), device_note: None, n_params: 1, total_epochs: 4 })
        .unwrap();
    w.observe(&Event::Epoch(epoch(1))).unwrap();
    for (i, acc) in accs.into_iter().enumerate() {
        w.observe(&Event::Epoch(epoch(i + 2))).unwrap();
        w.observe(&Event::Metrics(metrics(i + 2, acc))).unwrap();
    }
    let summary = RunSummary {
        stopped: false,
        epochs: (1..=4).map(epoch).collect(),
        metrics: vec![],
        final_metrics: Some(metrics(4, accs[2])),
        checkpoint: None,
        secs_per_epoch_pretrain: 0.25,
        secs_per_epoch_contrastive: 0.25,
        device: "test device".into(),
        config: TrainConfig::default(),
        converged: None,
        refresh_secs: Vec::new(),
        dataset_fingerprint: String::new(),
    };
    w.observe(&Event::Finished(Box::new(summary))).unwrap();
}

#[test]
fn a_record_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::open(dir.path()).unwrap();
    let mut w = store.create(new_run(3, 1e-3)).unwrap();
    let id = w.id().to_owned();
    assert_eq!(store.load(&id).unwrap().status, Status::Running, "a held lock lists as running");
    play(&mut w, [0.6, 0.8, 0.7]);
    drop(w);
    let rec = store.load(&id).unwrap();
    assert_eq!(rec.status, Status::Finished);
    assert_eq!(rec.name, "gauss3-noise seed 3");
    assert_eq!(rec.device.as_deref(), Some("test device"));
    assert_eq!(rec.dataset.n_samples, 600);
    assert_eq!(rec.dataset.view_shapes.len(), 3);
    assert_eq!(rec.dataset.sha256.len(), 64);
    assert_eq!(rec.config.seed, 3);
    assert_eq!(rec.epochs_done, 4);
    let res = rec.results.clone().unwrap();
    assert_eq!(res.final_epoch.unwrap().epoch, 4);
    assert_eq!(res.final_epoch.unwrap().scores.acc, 0.7);
    let best = res.best.unwrap();
    assert!(best.label_selected, "the best epoch is always marked label-selected");
    assert_eq!((best.epoch, best.scores.acc), (3, 0.8));
    assert_eq!(res.kmeans_z.unwrap().scores.acc, 0.9);
    let h = store.history(&id).unwrap();
    assert_eq!(h.epochs, (1..=4).map(epoch).collect::<Vec<_>>(), "every epoch once, in order");
    assert_eq!(h.metrics.len(), 3);
    let lrs: Vec<f64> = h.epochs.iter().map(|e| e.lr).collect();
    assert_eq!(lrs, (1..=4).map(|g| 1e-3 * (1.0 - 0.1 * g as f64)).collect::<Vec<_>>(), "each epoch's own rate");
    let json = rec.summary_json();
    for key in ["id", "name", "status", "dataset", "seed", "epochs_done", "config", "final", "best", "created"] {
        assert!(!json[key].is_null(), "{key} missing from {json}");
    }
    assert_eq!(json["best"]["label_selected"], true);
    assert_eq!(json["final"]["pur"], 0.7);
    // Rename and tag, then delete.
    store.edit(&id, |r| r.name = "renamed".into()).unwrap();
    assert_eq!(store.resolve("renamed").unwrap(), id);
    assert_eq!(store.resolve(&id[..10]).unwrap(), id);
    store.delete(&id).unwrap();
    assert!(store.list().runs.is_empty());
}

#[test]
fn broken_files_are_reported_and_never_hide_the_other_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::open(dir.path()).unwrap();
    let mut good = store.create(new_run(1, 1e-3)).unwrap();
    play(&mut good, [0.5, 0.5, 0.5]);
    let good_id = good.id().to_owned();
    drop(good);
    std::fs::create_dir(dir.path().join("garbage")).unwrap();
    std::fs::write(dir.path().join("garbage/run.json"), "{ not json").unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    // A line cut short (as a kill mid-write leaves it) is skipped with its line number.
    let epochs = dir.path().join(&good_id).join("epochs.jsonl");
    let mut text = std::fs::read_to_string(&epochs).unwrap();
    text.push_str("{\"kind\":\"epoch\",\"pha");
    std::fs::write(&epochs, text).unwrap();

    let listing = store.list();
    assert_eq!(listing.runs.len(), 1);
    assert_eq!(listing.problems.len(), 2, "{:?}", listing.problems);
    assert!(listing.problems.iter().any(|p| p.path.ends_with("garbage/run.json")));
    let h = store.history(&good_id).unwrap();
    assert_eq!(h.epochs.len(), 4);
    assert_eq!(h.problems.len(), 1);
    assert!(h.problems[0].to_string().contains("epochs.jsonl: line"), "{}", h.problems[0]);
}

#[test]
fn a_writer_dropped_mid_run_leaves_an_interrupted_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::open(dir.path()).unwrap();
    let mut w = store.create(new_run(1, 1e-3)).unwrap();
    w.observe(&Event::Epoch(epoch(1))).unwrap();
    w.observe(&Event::Epoch(epoch(2))).unwrap();
    let id = w.id().to_owned();
    drop(w);
    let rec = store.load(&id).unwrap();
    assert_eq!(rec.status, Status::Interrupted);
    assert_eq!(rec.epochs_done, 2);
}

#[test]
fn concurrent_writers_never_corrupt_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = RunStore::open(&path).unwrap();
                let mut ids = Vec::new();
                for i in 0..5 {
                    let mut w = store.create(new_run(t * 10 + i, 1e-3)).unwrap();
                    ids.push(w.id().to_owned());
                    // Someone renames the run while its writer is still at work.
                    store.edit(w.id(), |r| r.name = format!("t{t} run {i}")).unwrap();
                    play(&mut w, [0.5, 0.6, 0.7]);
                }
                ids
            })
        })
        .collect();
    let ids: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let listing = RunStore::open(&path).unwrap().list();
    assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    assert_eq!(listing.runs.len(), 20);
    let mut listed: Vec<String> = listing.runs.iter().map(|r| r.id.clone()).collect();
    listed.sort();
    let mut want = ids;
    want.sort();
    assert_eq!(listed, want, "every run once, ids unique");
    for r in &listing.runs {
        assert_eq!(r.status, Status::Finished);
        assert_eq!(r.epochs_done, 4);
        assert!(r.name.starts_with('t'), "the rename survived the writer's own saves: {}", r.name);
    }
}

#[test]
fn the_results_table_shows_the_records_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::open(dir.path()).unwrap();
    let accs = [[0.5, 0.9, 0.6], [0.4, 0.7, 0.8], [0.3, 0.3, 0.3]];
    for (seed, a) in accs.iter().enumerate() {
        for lr in [1e-3, 1e-4] {
            let mut w = store.create(new_run(seed as u64 + 1, lr)).unwrap();
            play(&mut w, *a);
        }
    }
    let runs = store.list().runs;
    let done = table::finished(&runs);
    let t = table::table(&done, true);
    assert_eq!(t.settings, vec!["learning_rate".to_string()], "only the differing field (not the seed)");
    assert_eq!(t.groups.len(), 2);
    let csv = table::render(&t, Format::Csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    let head: Vec<&str> = lines[0].split(',').collect();
    for line in &lines[1..] {
        let cells: Vec<&str> = line.split(',').collect();
        let col = |name: &str| cells[head.iter().position(|h| *h == name).unwrap()].parse::<f64>().unwrap();
        // Final ACC: the last evaluation of each seed (0.6, 0.8, 0.3); best: 0.9, 0.8, 0.3.
        let (fm, fs) = table::mean_std(&[0.6, 0.8, 0.3]).unwrap();
        let (bm, bs) = table::mean_std(&[0.9, 0.8, 0.3]).unwrap();
        assert!((col("final_acc_mean") - fm).abs() < 1e-6 && (col("final_acc_std") - fs).abs() < 1e-6, "{line}");
        assert!((col("final_nmi_mean") - (fm - 0.1)).abs() < 1e-6, "{line}");
        assert!((col("best_label_selected_acc_mean") - bm).abs() < 1e-6, "{line}");
        assert!((col("best_label_selected_acc_std") - bs).abs() < 1e-6, "{line}");
        assert_eq!(cells[head.iter().position(|h| *h == "seeds").unwrap()], "1 2 3");
    }
    let md = table::render(&t, Format::Md);
    assert!(md.contains(&format!("{:.4} ± {:.4}", 0.5666666666666667, 0.2516611478423583)), "{md}");
    assert!(md.contains("label-selected"), "{md}");
    let tex = table::render(&t, Format::Tex);
    assert!(tex.contains("\\pm") && tex.contains("learning\\_rate"), "{tex}");
}

#[test]
fn runs_continued_from_each_seeds_own_pre_training_group_over_seeds_across_stores() {
    // docs/sweeps/issue14.sh: one store a seed, each setting continued from that seed's
    // pre-training. The checkpoints differ per seed; the setting (here con_epochs) does not.
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let accs = [[0.5, 0.9, 0.6], [0.4, 0.7, 0.8], [0.3, 0.3, 0.3]];
    for (seed, (dir, a)) in dirs.iter().zip(accs).enumerate() {
        let store = RunStore::open(dir.path()).unwrap();
        for con in [3, 5] {
            let mut run = new_run(seed as u64 + 1, 1e-3);
            run.config.init_from = Some(dir.path().join(format!("pre-{seed}")));
            run.config.con_epochs = con;
            play(&mut store.create(run).unwrap(), a);
        }
    }
    let mut runs = Vec::new();
    for d in &dirs {
        runs.extend(RunStore::open(d.path()).unwrap().list().runs);
    }
    let t = table::table(&table::finished(&runs), true);
    assert_eq!(t.settings, vec!["con_epochs".to_string()], "init_from is not a setting of its own");
    assert_eq!(t.groups.len(), 2);
    assert!(
        t.groups.iter().all(|g| g.seeds() == vec![1, 2, 3]),
        "{:?}",
        t.groups.iter().map(|g| g.seeds()).collect::<Vec<_>>()
    );
    let md = table::render(&t, Format::Md);
    assert!(md.contains("final k-means on Z ACC") && md.contains("0.9000 ± 0.0000"), "{md}");
    assert!(md.contains("final ACC by seed") && md.contains("0.6000, 0.8000, 0.3000"), "{md}");
    let csv = table::render(&t, Format::Csv);
    let lines: Vec<&str> = csv.lines().collect();
    let head: Vec<&str> = lines[0].split(',').collect();
    for line in &lines[1..] {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), head.len(), "{csv}");
        let col = |name: &str| cells[head.iter().position(|h| *h == name).unwrap()];
        assert_eq!(col("final_kmeans_z_acc_mean").parse::<f64>().unwrap(), 0.9);
        assert_eq!(col("final_acc_by_seed"), "0.600000 0.800000 0.300000");
    }
    // A run from scratch beside them: init_from becomes a column (a checkpoint, or null).
    let mut scratch = new_run(1, 1e-3);
    scratch.config.con_epochs = 3;
    play(&mut RunStore::open(dirs[0].path()).unwrap().create(scratch).unwrap(), [0.1, 0.1, 0.1]);
    // The binary reads the three stores with --also and prints the same groups.
    let out = Command::new(BIN)
        .args(["runs", "export", "--group-by-seed", "--format", "csv", "--runs"])
        .arg(dirs[0].path())
        .arg("--also")
        .arg(dirs[1].path())
        .arg("--also")
        .arg(dirs[2].path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let head = text.lines().next().unwrap();
    assert!(head.contains("init_from") && head.contains("con_epochs"), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("a checkpoint") && l.contains(",1 2 3,")).count(), 2, "{text}");
    assert_eq!(text.lines().filter(|l| l.contains(",null,") && l.contains(",1,")).count(), 1, "{text}");
    let missing = Command::new(BIN)
        .args(["runs", "export", "--runs"])
        .arg(dirs[0].path())
        .args(["--also", "/nonexistent/store"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("/nonexistent/store") && err.contains("no run store"), "{err}");
}

#[test]
fn a_continued_run_that_centred_despite_its_record_reads_as_scope_all() {
    // Before session 27 `view_centring = false` on a continued run kept the checkpoint's
    // centring and centred the heads: its checkpoint's meta.json says so, its record does not.
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::open(dir.path()).unwrap();
    let mut ids = Vec::new();
    for (centred, heads) in [(true, true), (false, true), (true, false)] {
        let mut run = new_run(1, 1e-3);
        run.config.init_from = Some(dir.path().join("pre-1"));
        run.config.view_centring = false;
        let mut w = store.create(run).unwrap();
        play(&mut w, [0.5, 0.6, 0.7]);
        let id = w.id().to_string();
        drop(w);
        let ckpt = store.run_dir(&id).join("checkpoint");
        std::fs::create_dir_all(&ckpt).unwrap();
        let meta = format!(r#"{{"model": {{"view_centring": {centred}, "centre_heads": {heads}}}}}"#);
        std::fs::write(ckpt.join("meta.json"), meta).unwrap();
        ids.push(id);
    }
    let read = |id: &str| store.load(id).unwrap().config;
    let buggy = read(&ids[0]);
    assert!(buggy.view_centring, "the network centred: the record is read as what ran");
    assert_eq!(buggy.centring_scope, mvc_workbench::engine::config::CentringScope::All);
    for id in &ids[1..] {
        assert!(!read(id).view_centring, "no centring in the checkpoint: the record stands");
    }
}

/// A tiny network whose epochs take long enough (many small batches) to catch mid-run.
const SLOW_SMALL: &str = "encoder_hidden = [256, 256]\nfeature_dim = 32\nhigh_feature_dim = 32\n\
    vcf_ff_dim = 64\nbatch_size = 20\neval_every = 1000\nsnapshot_every = 0\nseed = 7\nmse_epochs = 500\ncon_epochs = 0\n";

fn epoch_lines(runs: &Path) -> usize {
    let Ok(dirs) = std::fs::read_dir(runs) else { return 0 };
    dirs.flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join("epochs.jsonl")).ok())
        .map(|t| t.lines().filter(|l| l.starts_with("{\"kind\":\"epoch\"")).count())
        .sum()
}

#[test]
fn a_killed_run_lists_as_interrupted_with_its_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    std::fs::write(dir.path().join("small.toml"), SLOW_SMALL).unwrap();
    let mut child = Command::new(BIN)
        .args(["train", "gauss3-noise", "--config", "small.toml", "--device", "flex", "--runs"])
        .arg(&runs)
        .current_dir(dir.path())
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while epoch_lines(&runs) < 2 {
        assert!(t.elapsed() < Duration::from_secs(120), "two epochs never came");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no clean-up runs
    child.wait().unwrap();
    let seen = epoch_lines(&runs);
    assert!(seen >= 2);

    let out = Command::new(BIN).args(["runs", "list", "--json", "--runs"]).arg(&runs).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "interrupted");
    assert_eq!(list[0]["epochs_done"], seen as u64, "every completed epoch is kept");
    let id = list[0]["id"].as_str().unwrap();
    let out = Command::new(BIN).args(["runs", "show", id, "--json", "--runs"]).arg(&runs).output().unwrap();
    let show: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let epochs: Vec<u64> =
        show["epochs"].as_array().unwrap().iter().map(|e| e["global_epoch"].as_u64().unwrap()).collect();
    assert_eq!(epochs, (1..=seen as u64).collect::<Vec<_>>());
}

fn sweep(dir: &Path, runs: &Path) -> (String, String) {
    let out = Command::new(BIN)
        .args(["sweep", "spec.toml", "--jobs", "2", "--runs"])
        .arg(runs)
        .current_dir(dir)
        .output()
        .unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "sweep failed:\n{o}\n{e}");
    (o, e)
}

#[test]
fn a_sweep_resumes_by_skipping_finished_cells() {
    let dir = tempfile::tempdir().unwrap();
    let runs: PathBuf = dir.path().join("runs");
    std::fs::write(
        dir.path().join("spec.toml"),
        "datasets = [\"gauss3-noise\"]\nseeds = [1, 2]\n[base]\nmse_epochs = 1\ncon_epochs = 1\n\
         encoder_hidden = [32]\nfeature_dim = 16\nhigh_feature_dim = 16\nvcf_ff_dim = 16\nbatch_size = 300\n\
         device = \"flex\"\n[grid]\nlearning_rate = [0.001, 0.0003]\n",
    )
    .unwrap();
    let (table_out, err) = sweep(dir.path(), &runs);
    assert!(err.contains("4 cells, 0 already finished"), "{err}");
    assert!(err.contains("[4/4] done"), "{err}");
    assert!(table_out.contains("learning_rate") && table_out.contains("1 2"), "{table_out}");
    let store = RunStore::open(&runs).unwrap();
    let first = store.list().runs;
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|r| r.status == Status::Finished && r.sweep_cell.is_some()));

    // Everything is done: nothing runs again.
    let (_, err) = sweep(dir.path(), &runs);
    assert!(err.contains("4 cells, 4 already finished") && err.contains("0 to run"), "{err}");
    assert_eq!(store.list().runs.len(), 4);

    // One cell lost: only it runs again.
    store.delete(&first[0].id).unwrap();
    let (_, err) = sweep(dir.path(), &runs);
    assert!(err.contains("4 cells, 3 already finished") && err.contains("1 to run"), "{err}");
    let again = store.list().runs;
    assert_eq!(again.len(), 4);
    assert!(again.iter().any(|r| r.sweep_cell == first[0].sweep_cell && r.id != first[0].id));
}
