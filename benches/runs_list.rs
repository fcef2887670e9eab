//! Listing the run store: `cargo bench --bench runs_list` records 1,000 finished runs (each with
//! 50 epoch lines) in a temporary store and times `RunStore::list` (median of 9 after a warm-up);
//! the target is under 200 ms. Under `cargo test` it lists 100 runs once as a smoke test.

use std::time::Instant;

use mvc_workbench::data::builtin;
use mvc_workbench::engine::TrainConfig;
use mvc_workbench::engine::protocol::{EpochReport, Event, Losses, MetricsReport, Phase, RunSummary, Scores};
use mvc_workbench::runs::{DatasetInfo, NewRun, RunStore};

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let n_runs = if benchmarking { 1000 } else { 100 };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temporary folder: {e}"));
    let store = RunStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let ds = builtin::generate("gauss3-noise").unwrap_or_else(|e| panic!("{e}"));
    let info = DatasetInfo::of(&ds, "gauss3-noise", "minmax");
    let t = Instant::now();
    for i in 0..n_runs {
        let config = TrainConfig { seed: i as u64, con_epochs: 49, mse_epochs: 1, ..TrainConfig::default() };
        let mut w = store
            .create(NewRun {
                name: String::new(),
                tags: vec![],
                front_end: "bench".into(),
                dataset: info.clone(),
                config: config.clone(),
                sweep_cell: None,
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let epochs: Vec<EpochReport> = (1..=50)
            .map(|g| EpochReport {
                phase: if g == 1 { Phase::Pretrain } else { Phase::Contrastive },
                epoch: g,
                global_epoch: g,
                losses: Losses { total: 1.0, ..Losses::default() },
                view_weights: vec![0.3, 0.3, 0.4],
                secs: 0.1,
                lr: 1e-3,
                adaptive: None,
            })
            .collect();
        for e in &epochs {
            w.observe(&Event::Epoch(e.clone())).unwrap_or_else(|e| panic!("{e}"));
        }
        let s = Scores { acc: 0.9, nmi: 0.8, ari: 0.7, purity: 0.9 };
        let m = MetricsReport {
            global_epoch: 50,
            mean_q: s,
            vcf: s,
            kmeans_z: s,
            per_view_acc: vec![],
            per_view: vec![],
            view_agreement: vec![],
            per_view_kmeans: vec![],
            triplet: None,
        };
        let summary = RunSummary {
            stopped: false,
            epochs,
            metrics: vec![m.clone()],
            final_metrics: Some(m),
            checkpoint: None,
            secs_per_epoch_pretrain: 0.1,
            secs_per_epoch_contrastive: 0.1,
            device: "bench".into(),
            config,
            converged: None,
            refresh_secs: Vec::new(),
            dataset_fingerprint: String::new(),
        };
        w.observe(&Event::Finished(Box::new(summary))).unwrap_or_else(|e| panic!("{e}"));
    }
    eprintln!("recorded {n_runs} runs in {:.1} s", t.elapsed().as_secs_f64());
    let rounds = if benchmarking { 10 } else { 1 };
    let mut ms = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let listing = store.list();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(listing.runs.len(), n_runs);
        assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    }
    if benchmarking {
        ms.remove(0); // the warm-up
    }
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    println!("listing {n_runs} runs: median {median:.1} ms, min {:.1} ms (target: 1,000 under 200 ms)", ms[0]);
    if benchmarking {
        assert!(median < 200.0, "listing 1,000 runs took {median:.1} ms");
    }
}
