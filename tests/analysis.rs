//! The Analysis views driven through egui_kittest on a synthetic snapshot (no training): the
//! embedding legend's order, a confusion-matrix cell click marks exactly that cell's samples
//! (embedding, inspector, export), "select the N most uncertain", and the colour modes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

use mvc_workbench::analysis::{Confusion, Reading, most_uncertain, uncertainties};
use mvc_workbench::app::analysis::confusion_of;
use mvc_workbench::app::state::{
    AnalysisView, AppCommand, ColorBy, EmbeddingLayout, ExportOutcome, ExportTarget, FeatureSource, LayoutMethod,
    LayoutMode, SelectionFormat, Tile,
};
use mvc_workbench::app::{AppOptions, WorkbenchApp};
use mvc_workbench::engine::protocol::EmbeddingSnapshot;

/// `k` classes of `per` samples each (dataset rows 3i + 1); the model's clusters are the
/// labels shifted by one (so the matching must permute them), every seventh sample wrong, and
/// every fifth one unsure (its `q` split over two clusters).
fn snapshot(k: usize, per: usize) -> EmbeddingSnapshot {
    let n = k * per;
    let labels: Vec<usize> = (0..n).map(|i| i / per).collect();
    let predicted: Vec<usize> =
        labels.iter().enumerate().map(|(i, &l)| if i % 7 == 3 { (l + 2) % k } else { (l + 1) % k }).collect();
    let mut q_mean = vec![0.01f32 / k as f32; n * k];
    for (i, &c) in predicted.iter().enumerate() {
        if i % 5 == 0 {
            q_mean[i * k + c] = 0.5 + (i % 11) as f32 * 0.01;
            q_mean[i * k + (c + 1) % k] = 0.49 - (i % 11) as f32 * 0.01;
        } else {
            q_mean[i * k + c] = 0.99;
        }
    }
    let view2: Vec<f32> = (0..n * k).map(|j| if j % k == (j / k) % k { 0.9 } else { 0.1 / k as f32 }).collect();
    let map: Vec<usize> = (0..k).map(|c| (c + k - 1) % k).collect();
    EmbeddingSnapshot {
        global_epoch: 12,
        indices: (0..n).map(|i| 3 * i + 1).collect(),
        z: (0..n * 2).map(|j| j as f32).collect(),
        z_dim: 2,
        h: vec![vec![0.0; n * 2], vec![0.0; n * 2]],
        h_dim: 2,
        q_views: vec![q_mean.clone(), view2],
        q_mean,
        k,
        predicted_aligned: Some(predicted.iter().map(|&c| map[c]).collect()),
        predicted: predicted.clone(),
        confidence: vec![0.9; n],
        labels: Some(labels),
        view_weights: vec![0.7, 0.3],
        predicted_vcf: Some(predicted.clone()),
        predicted_kmeans_z: Some(predicted),
        // No engine uncertainty: the app falls back to H(q) / ln K (the test below sets one).
        uncertainty: Vec::new(),
    }
}

/// The app with `snap` as its run's snapshot, its embedding laid out on a grid, one tile shown.
fn app_with(snap: EmbeddingSnapshot, tile: Tile, runs: &Path) -> Harness<'static, WorkbenchApp> {
    let opts = AppOptions { persist: false, runs_dir: Some(runs.to_path_buf()), ..AppOptions::default() };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1400.0, 1000.0))
        .with_accessibility_check(false)
        .build_eframe(move |cc| WorkbenchApp::new(cc, opts));
    let snap = Arc::new(snap);
    let n = snap.indices.len();
    let app = h.state_mut();
    app.session.run.snapshot = Some(Arc::clone(&snap));
    app.session.embedding.last_job_epoch = Some(snap.global_epoch);
    app.session.embedding.layout = Some(EmbeddingLayout {
        snapshot: snap,
        positions: (0..n).collect(),
        coords: (0..n).map(|i| [(i % 30) as f32, (i / 30) as f32]).collect(),
        method: LayoutMethod::Tsne { iteration: 0, total: 0, done: true },
        source: FeatureSource::Fused,
    });
    app.state.layout.mode = LayoutMode::Tabs;
    app.state.layout.active_tab = tile;
    h.step();
    h.step();
    h
}

#[test]
fn the_legend_lists_clusters_in_numeric_order() {
    let runs = tempfile::tempdir().unwrap();
    let mut h = app_with(snapshot(12, 10), Tile::Embedding, runs.path());
    h.state_mut().state.embedding.color_by = ColorBy::TrueLabel;
    h.step();
    h.step();
    let top = |name: &str| h.get_by_role_and_label(Role::CheckBox, name).rect().top();
    // 0, 1, 2, …, 9, 10, 11 down the legend: 2 comes before 10, not after it as text would sort.
    for pair in (0..12).collect::<Vec<_>>().windows(2) {
        assert!(top(&pair[0].to_string()) < top(&pair[1].to_string()), "{} is not above {}", pair[0], pair[1]);
    }
}

#[test]
fn a_confusion_cell_click_marks_exactly_its_samples() {
    let runs = tempfile::tempdir().unwrap();
    let snap = snapshot(4, 30);
    let mut h = app_with(snap.clone(), Tile::Analysis, runs.path());
    assert_eq!(h.state().state.analysis.view, AnalysisView::Confusion);
    let m: Confusion = confusion_of(&snap, Reading::Primary, None).unwrap();
    // Aligned: the diagonal holds the right answers although the model's ids are shifted.
    assert_eq!(m.columns, vec![1, 2, 3, 0]);
    // An off-diagonal cell with samples: label 1, column 2 (the "+2" mistakes of label 1).
    let (l, j) = (1, 2);
    let expected: Vec<usize> = m.members[l][j].iter().map(|&p| snap.indices[p]).collect();
    assert!(!expected.is_empty());
    h.get_by_role_and_label(Role::Button, &format!("true {l}, cluster {}", m.columns[j])).click();
    h.step();
    h.step();
    let marked = h.state().session.marked.clone().expect("the click marks the cell's samples");
    assert_eq!(marked.rows, expected);
    // Each marked sample is truly of that label and predicted as that cluster.
    for &row in &marked.rows {
        let p = snap.indices.iter().position(|&r| r == row).unwrap();
        assert_eq!((snap.labels.as_ref().unwrap()[p], snap.predicted[p]), (l, m.columns[j]));
    }
    // A diagonal cell marks the cluster's correct samples.
    h.get_by_role_and_label(Role::Button, &format!("true 0, cluster {}", m.columns[0])).click();
    h.step();
    assert_eq!(h.state().session.marked.as_ref().unwrap().rows.len(), m.counts[0][0]);
    h.get_by_role_and_label(Role::Button, &format!("true {l}, cluster {}", m.columns[j])).click();
    h.step();

    // The embedding rings them, the inspector lists them.
    h.state_mut().state.layout.active_tab = Tile::Embedding;
    h.step();
    h.step();
    h.get_all_by_label_contains(&format!("{} shown here", expected.len())).next().unwrap();
    h.state_mut().state.layout.active_tab = Tile::Inspector;
    h.step();
    h.step();
    h.get_all_by_label_contains(&format!("({} samples)", expected.len())).next().unwrap();
    h.get_by_label(&format!("#{}: true 1, predicted 2", expected[0])).click();
    h.step();
    h.step();
    assert_eq!(h.state().session.selected, Some(expected[0]), "a listed sample opens in the inspector");

    // Exported as CSV: exactly those rows, with their coordinates.
    let dir = tempfile::tempdir().unwrap();
    h.state_mut().state.export.dir = dir.path().to_path_buf();
    h.state_mut().send(AppCommand::Export(ExportTarget::Selection(SelectionFormat::Csv)));
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.state().session.export_busy || h.state().session.export_outcome.is_none() {
        assert!(Instant::now() < deadline, "the export did not finish");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let Some(ExportOutcome::Written(files)) = &h.state().session.export_outcome else {
        panic!("{:?}", h.state().session.export_outcome)
    };
    let csv = std::fs::read_to_string(&files[0]).unwrap();
    let rows: Vec<usize> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(rows, expected);
    assert!(csv.lines().nth(1).unwrap().split(',').nth(8).is_some_and(|x| !x.is_empty()), "x is written");

    // The matrix itself exports as CSV, counts in aligned order.
    h.state_mut().send(AppCommand::Export(ExportTarget::Csv(mvc_workbench::export::Figure::Confusion)));
    h.step();
    while h.state().session.export_busy {
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let Some(ExportOutcome::Written(files)) = &h.state().session.export_outcome else { panic!() };
    let csv = std::fs::read_to_string(&files[0]).unwrap();
    assert!(csv.starts_with("true_label,cluster 1,cluster 2,cluster 3,cluster 0\n"), "{csv}");
    assert_eq!(
        csv.lines().nth(2).unwrap(),
        format!("1,{}", m.counts[1].iter().map(usize::to_string).collect::<Vec<_>>().join(","))
    );
}

#[test]
fn the_most_uncertain_are_marked() {
    let runs = tempfile::tempdir().unwrap();
    let snap = snapshot(4, 30);
    let mut h = app_with(snap.clone(), Tile::Analysis, runs.path());
    h.state_mut().state.analysis.view = AnalysisView::Uncertainty;
    h.state_mut().state.analysis.uncertain_n = 7;
    h.step();
    h.step();
    h.get_by_role_and_label(Role::Button, "Select the N most uncertain").click();
    h.step();
    h.step();
    let u = uncertainties(&snap.q_mean, snap.k);
    let expected: Vec<usize> = most_uncertain(&u, 7).into_iter().map(|p| snap.indices[p]).collect();
    let marked = h.state().session.marked.clone().unwrap();
    assert_eq!(marked.rows, expected);
    // They are the split ones (every fifth sample), not the sure ones.
    assert!(marked.rows.iter().all(|r| ((r - 1) / 3) % 5 == 0));

    // With the engine's own uncertainty in the snapshot, that is what ranks them.
    let mut with_engine = snapshot(4, 30);
    with_engine.uncertainty = (0..120).map(|i| if i % 10 == 4 { 0.9 + i as f32 / 10_000.0 } else { 0.1 }).collect();
    let expected: Vec<usize> =
        most_uncertain(&with_engine.uncertainty, 7).into_iter().map(|p| with_engine.indices[p]).collect();
    let mut h = app_with(with_engine, Tile::Analysis, runs.path());
    h.state_mut().state.analysis.view = AnalysisView::Uncertainty;
    h.state_mut().state.analysis.uncertain_n = 7;
    h.step();
    h.step();
    h.get_all_by_label_contains("the engine's uncertainty").next().unwrap();
    h.get_by_role_and_label(Role::Button, "Select the N most uncertain").click();
    h.step();
    h.step();
    assert_eq!(h.state().session.marked.clone().unwrap().rows, expected);
}

#[test]
fn colour_modes_switch() {
    let runs = tempfile::tempdir().unwrap();
    let mut h = app_with(snapshot(4, 30), Tile::Embedding, runs.path());
    let legend =
        |h: &Harness<'static, WorkbenchApp>, name: &str| h.query_by_role_and_label(Role::CheckBox, name).is_some();
    for (mode, shows, hides) in [
        (ColorBy::Correctness, "wrong", "0"),
        (ColorBy::Uncertainty, "uncertainty ~ 0.0", "wrong"),
        (ColorBy::ViewPrediction(1), "3", "uncertainty ~ 0.0"),
        (ColorBy::TrueLabel, "0", "correct"),
    ] {
        h.state_mut().state.embedding.color_by = mode;
        h.step();
        h.step();
        assert!(legend(&h, shows), "{mode:?} shows {shows}");
        assert!(!legend(&h, hides), "{mode:?} hides {hides}");
    }
    // Correctness counts: every seventh sample is wrong.
    h.state_mut().state.embedding.color_by = ColorBy::Correctness;
    h.step();
    let layout = h.state().session.embedding.layout.clone().unwrap();
    let wrong = (0..layout.coords.len())
        .filter(|&i| mvc_workbench::app::embedding::group_of(&layout, i, ColorBy::Correctness) == 1)
        .count();
    assert_eq!(wrong, (0..120).filter(|i| i % 7 == 3).count());
}

#[test]
fn the_window_icon_is_the_assets_png() {
    let icon = mvc_workbench::app::icon();
    assert_eq!((icon.width, icon.height), (256, 256));
    assert_eq!(icon.rgba.len(), 256 * 256 * 4);
    let desktop =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/mvc-workbench.desktop")).unwrap();
    assert!(desktop.contains("Icon=mvc-workbench") && desktop.contains("StartupWMClass=mvc-workbench"));
}

#[test]
fn the_scrubber_changes_the_shown_epoch() {
    let runs = tempfile::tempdir().unwrap();
    let mut h = app_with(snapshot(4, 30), Tile::Embedding, runs.path());
    {
        let app = h.state_mut();
        for e in [4, 8] {
            let mut s = snapshot(4, 30);
            s.global_epoch = e;
            s.z.iter_mut().for_each(|x| *x *= e as f32);
            app.session.timeline.push(Arc::new(s));
        }
        let latest = app.session.embedding.layout.clone().unwrap();
        app.session.timeline.store(&latest);
        app.state.embedding.tsne.iterations = 200;
    }
    h.step();
    h.step();
    assert_eq!(h.state().session.timeline.epochs(), vec![4, 8, 12]);
    h.get_all_by_label("Epoch 12").next().unwrap();
    let shown = |h: &Harness<'static, WorkbenchApp>| h.state().session.embedding.layout.as_ref().map(|l| l.epoch());

    // Back one snapshot: its t-SNE is computed off the UI thread, then shown.
    h.get_by_role_and_label(Role::Button, "<").click();
    h.step();
    assert_eq!(h.state().session.timeline.pinned, Some(8));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(shown(&h) == Some(8) && h.state().session.embedding.pending.is_none()) {
        assert!(Instant::now() < deadline, "epoch 8 was not laid out");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.get_all_by_label("Epoch 8").next().unwrap();
    h.get_all_by_label_contains("epoch 8").next().unwrap();
    // The analysis views read the same epoch.
    assert_eq!(h.state().session.current_snapshot().unwrap().global_epoch, 8);

    // Forward again: epoch 12 was laid out before, so it shows at the next frame, from the cache
    // (no t-SNE job is sent: the last one stays epoch 8's).
    h.get_by_role_and_label(Role::Button, ">").click();
    h.step();
    h.step();
    assert_eq!((shown(&h), h.state().session.embedding.pending.is_none()), (Some(12), true));
    assert_eq!(h.state().session.embedding.last_job_epoch, Some(8));
    // The arrow keys step too, and epoch 8 is cached now.
    h.key_press(egui::Key::ArrowLeft);
    h.step();
    h.step();
    assert_eq!(h.state().session.timeline.pinned, Some(8));
    assert_eq!(shown(&h), Some(8));

    // Lay out all: the one missing (epoch 4) is computed, then every snapshot is cached.
    h.get_by_role_and_label(Role::Button, "Lay out all (2/3)").click();
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.state().session.timeline.n_cached(FeatureSource::Fused) < 3 || h.state().session.timeline.lay_out_all {
        assert!(Instant::now() < deadline, "lay out all did not finish");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    // Play runs through the cached snapshots to the end.
    h.get_by_role_and_label(Role::Button, "Play").click();
    h.state_mut().session.timeline.speed = 20.0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while h.state().session.timeline.playing || seen.is_empty() {
        assert!(Instant::now() < deadline, "playback did not end");
        h.step();
        if let Some(e) = shown(&h)
            && seen.last() != Some(&e)
        {
            seen.push(e);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(seen, vec![4, 8, 12], "playback shows every snapshot in order");
    // Latest: follow the run again.
    h.get_by_role_and_label(Role::Button, "Latest").click();
    h.step();
    assert_eq!(h.state().session.timeline.pinned, None);
}

/// Drags with the primary button from `from` by `by`.
fn drag(h: &mut Harness<'static, WorkbenchApp>, from: egui::Pos2, by: egui::Vec2) {
    h.event(egui::Event::PointerMoved(from));
    h.event(egui::Event::PointerButton {
        pos: from,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    h.step();
    for k in 1..=5 {
        h.event(egui::Event::PointerMoved(from + by * (k as f32 / 5.0)));
        h.step();
    }
    h.event(egui::Event::PointerButton {
        pos: from + by,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    h.step();
    h.step();
}

#[test]
fn the_3d_view_renders_rotates_and_inspects() {
    let runs = tempfile::tempdir().unwrap();
    let mut h = app_with(snapshot(4, 30), Tile::Embedding, runs.path());
    h.state_mut().state.embedding.tsne.iterations = 250;
    h.get_by_role_and_label(Role::CheckBox, "3-D").click();
    h.step();
    assert!(h.state().state.embedding.three_d);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !h.state().session.embedding.layout3d.as_ref().is_some_and(|l| l.done) {
        assert!(Instant::now() < deadline, "the 3-D t-SNE did not finish");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.step();
    h.get_all_by_label_contains("3-D t-SNE · epoch 12 · 120 points").next().unwrap();
    let view = h.get_by_role_and_label(Role::Image, "3-D embedding").rect();
    let row = 3 * 17 + 1;
    let before = h.state().embedding3d_point_pos(row).expect("the point is drawn");
    let yaw = h.state().state.embedding.camera.yaw;
    drag(&mut h, view.center() + egui::vec2(-150.0, 120.0), egui::vec2(120.0, 0.0));
    assert!((h.state().state.embedding.camera.yaw - yaw - 1.2).abs() < 0.05, "a drag of 120 points turns 1.2 rad");
    let after = h.state().embedding3d_point_pos(row).unwrap();
    assert!(before.distance(after) > 1.0, "the point moved with the camera");
    // Click the point: the inspector's sample.
    let pos = h.state().embedding3d_point_pos(row).unwrap();
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
    let picked = h.state().session.selected.expect("a click on a 3-D point selects it");
    assert!(h.state().embedding3d_point_pos(picked).unwrap().distance(pos) < 10.5);
    // The export draws it at the current angle.
    let export = h.state().build_run_export();
    let e = export.embedding.unwrap();
    assert!(e.method.starts_with("3-D t-SNE (yaw"), "{}", e.method);
    assert_eq!(e.coords.len(), 120);
}
