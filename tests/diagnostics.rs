//! The engine's per-view diagnostics end to end (issue 18): a real run on gauss3-noise, whose
//! third view is pure noise. Its own reading must score worst and the weighting must give it the
//! lowest weight; the views' agreement and the snapshot's extra readings must be there.

use std::sync::Arc;
use std::time::Duration;

use mvc_workbench::data::{self, Preprocess};
use mvc_workbench::engine::config::{DeviceChoice, TargetSource, TrainConfig};
use mvc_workbench::engine::protocol::{Command, Event};
use mvc_workbench::engine::trainer::spawn_trainer;

#[test]
fn the_noise_view_is_the_worst_and_weighs_least() {
    let mut ds = data::builtin::generate("gauss3-noise").unwrap();
    data::preprocess::apply(&mut ds, Preprocess::MinMax);
    // The budget of tests/engine.rs's accuracy test (seed 1 reaches ACC 1.0 there).
    let cfg = TrainConfig {
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
        snapshot_every: 10,
        seed: 1,
        target_source: TargetSource::Views,
        ..TrainConfig::default()
    };
    let h = spawn_trainer();
    h.commands.send(Command::Start { dataset: Arc::new(ds), config: Box::new(cfg), out_dir: None }).unwrap();
    let mut snapshots = Vec::new();
    let summary = loop {
        match h.events.recv_timeout(Duration::from_secs(300)).expect("the trainer answers") {
            Event::Finished(s) => break *s,
            Event::Failed { error, .. } => panic!("the run failed: {error}"),
            Event::Snapshot(s) => snapshots.push(*s),
            _ => {}
        }
    };
    let m = summary.final_metrics.expect("labelled data has metrics");
    assert_eq!((m.per_view.len(), m.per_view_kmeans.len()), (3, 3));
    let acc: Vec<f64> = m.per_view.iter().map(|s| s.acc).collect();
    let nmi: Vec<f64> = m.per_view.iter().map(|s| s.nmi).collect();
    assert!(acc[2] < acc[0] && acc[2] < acc[1], "the noise view's own ACC is the lowest: {acc:?}");
    assert!(nmi[2] < nmi[0] && nmi[2] < nmi[1], "and its NMI: {nmi:?}");
    let km: Vec<f64> = m.per_view_kmeans.iter().map(|s| s.acc).collect();
    assert!(km[2] < km[0] && km[2] < km[1], "k-means on its h_v too: {km:?}");
    // The per-view ACC field of older records agrees with the new scores.
    assert_eq!(m.per_view_acc, acc);
    let w = &summary.epochs.last().unwrap().view_weights;
    assert!(w[2] < w[0] && w[2] < w[1], "the noise view gets the lowest weight: {w:?}");
    // Agreement: symmetric, 1 on the diagonal, the two signal views agree more with each other.
    let a = &m.view_agreement;
    assert_eq!(a.len(), 3);
    for (i, row) in a.iter().enumerate() {
        assert_eq!(row[i], 1.0);
        for (j, x) in row.iter().enumerate() {
            assert_eq!(*x, a[j][i]);
        }
    }
    assert!(a[0][1] > a[0][2] && a[0][1] > a[1][2], "{a:?}");
    // Snapshots carry the VCF and k-means readings of their points.
    let s = snapshots.last().expect("snapshots were taken");
    assert_eq!(s.predicted_vcf.as_ref().map(Vec::len), Some(s.indices.len()));
    assert_eq!(s.predicted_kmeans_z.as_ref().map(Vec::len), Some(s.indices.len()));
}
