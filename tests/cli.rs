//! The binary as a user runs it: a headless `train` says what device it found without library
//! noise on stderr, and the run directory it writes is accepted wherever a checkpoint is asked
//! for (`predict`, `eval`, `train --init-from`). Each test trains a tiny network for an epoch
//! or two on a built-in set.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mvc-workbench");

/// A small network so that a run takes a second or two.
const SMALL: &str = "encoder_hidden = [64, 64]\nfeature_dim = 32\nhigh_feature_dim = 32\nvcf_ff_dim = 64\n\
                     batch_size = 100\neval_every = 1000\nsnapshot_every = 0\nseed = 7\n";

/// Runs the binary as on a headless machine: no display, no Wayland session, no `XDG_RUNTIME_DIR`.
fn headless(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DISPLAY")
        .env_remove("NODEVICE_SELECT")
        .env_remove("MESA_VK_DEVICE_SELECT")
        .env("RUST_BACKTRACE", "0")
        .env("MVC_RUNS", dir.join("runs"))
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output, what: &str) -> (String, String) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    (stdout, stderr)
}

fn train_tiny(dir: &Path, run: &str, extra: &[&str]) -> (String, String) {
    std::fs::write(dir.join("small.toml"), SMALL).unwrap();
    let mut args = vec!["train", "gauss3-noise", "--config", "small.toml", "--out", run];
    args.extend_from_slice(extra);
    ok(&headless(&args, dir), "train")
}

/// With the default `--device auto` on a machine without a desktop session, the GPU probe used to
/// print `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` (libwayland, called by
/// Mesa's Vulkan device-select layer). Now stderr has no `error:` line, and the device is named
/// once. (Where no Vulkan loader or Mesa layer is installed the probe was quiet anyway, so this
/// passes trivially there.)
#[test]
fn headless_train_names_its_device_once_without_library_noise() {
    let dir = tempfile::tempdir().unwrap();
    let (_, stderr) = train_tiny(dir.path(), "run", &["--mse-epochs", "1", "--con-epochs", "1"]);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.to_ascii_lowercase().contains("error")).collect();
    assert!(errors.is_empty(), "stderr has error lines: {errors:?}\n{stderr}");
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
    let device: Vec<&str> = stderr.lines().filter(|l| l.starts_with("device: ")).collect();
    assert_eq!(device.len(), 1, "the device is said once: {stderr}");
    eprintln!("{}", device[0]);
}

/// `train --out RUN` writes `RUN/checkpoint/`; `predict`, `eval` and `train --init-from` take
/// `RUN` itself (and still the checkpoint directory), and a directory with neither says what it
/// looked for.
#[test]
fn run_directories_are_accepted_wherever_a_checkpoint_is() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, _) = train_tiny(dir.path(), "run", &["--mse-epochs", "1", "--con-epochs", "1", "--device", "flex"]);
    assert!(dir.path().join("run/checkpoint/weights.bpk").is_file(), "{stdout}");

    for ck in ["run", "run/checkpoint", "run/checkpoint/weights.bpk"] {
        let out = headless(&["predict", "--checkpoint", ck, "gauss3-noise", "--index", "3", "--json"], dir.path());
        let (stdout, _) = ok(&out, &format!("predict --checkpoint {ck}"));
        let p: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(p["data_index"], 3, "{stdout}");
        assert!(p["uncertainty"].as_f64().is_some_and(|u| (0.0..=1.0).contains(&u)), "{stdout}");
    }
    let (stdout, _) = ok(&headless(&["eval", "--checkpoint", "run", "gauss3-noise", "--json"], dir.path()), "eval");
    let e: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(e["acc"].as_f64().is_some_and(|a| a > 0.0), "{stdout}");
    let deciles = e["uncertainty_deciles"].as_array().unwrap();
    assert_eq!(deciles.len(), 10, "{stdout}");
    assert!(deciles.iter().all(|d| (0.0..=1.0).contains(&d["error_rate"].as_f64().unwrap())), "{stdout}");
    assert!(e["checkpoint"].as_str().is_some_and(|c| c.ends_with("checkpoint")), "{stdout}");
    assert!(e["confusion"].is_null(), "no matrix unless asked: {stdout}");

    // `--confusion READING`: the aligned matrix of that reading; its diagonal is the reading's ACC.
    for (reading, key) in [("primary", "mean_q"), ("vcf", "vcf"), ("kmeans-z", "kmeans_z")] {
        let args = ["eval", "--checkpoint", "run", "gauss3-noise", "--json", "--confusion", reading];
        let (stdout, _) = ok(&headless(&args, dir.path()), "eval --confusion");
        let e: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        let c = &e["confusion"];
        assert_eq!(c["reading"], reading, "{stdout}");
        let counts: Vec<Vec<u64>> = serde_json::from_value(c["counts"].clone()).unwrap();
        assert_eq!(counts.iter().flatten().sum::<u64>(), e["n_samples"].as_u64().unwrap(), "{stdout}");
        assert_eq!(c["labels"].as_array().unwrap().len(), counts.len(), "{stdout}");
        let acc = e[key]["acc"].as_f64().unwrap();
        assert!((c["acc"].as_f64().unwrap() - acc).abs() < 1e-9, "{reading}: matrix ACC against {acc}: {stdout}");
    }
    let (stdout, _) = ok(
        &headless(&["eval", "--checkpoint", "run", "gauss3-noise", "--confusion", "vcf"], dir.path()),
        "eval --confusion (text)",
    );
    assert!(stdout.contains("confusion matrix of VCF head") && stdout.contains("\npurity "), "{stdout}");
    let out = headless(&["eval", "--checkpoint", "run", "gauss3-noise", "--confusion", "best"], dir.path());
    assert!(!out.status.success() && text(&out.stderr).contains("primary, vcf or kmeans-z"), "{}", text(&out.stderr));

    let (stdout, _) = train_tiny(
        dir.path(),
        "run2",
        &["--init-from", "run", "--mse-epochs", "0", "--con-epochs", "1", "--device", "flex"],
    );
    assert!(dir.path().join("run2/checkpoint/weights.bpk").is_file(), "{stdout}");

    std::fs::create_dir(dir.path().join("empty")).unwrap();
    for (args, what) in [
        (vec!["predict", "--checkpoint", "empty", "gauss3-noise", "--index", "0"], "predict"),
        (vec!["eval", "--checkpoint", "nowhere", "gauss3-noise"], "eval"),
    ] {
        let out = headless(&args, dir.path());
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{what} of a non-checkpoint succeeded");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains("weights.bpk") && stderr.contains("checkpoint/weights.bpk"), "{what}: {stderr}");
    }
}

/// `train --model`: a metric-learning baseline from the command line, its `--json` done event
/// (the test split's k-means and kNN readings), the run store's record of it, the errors for a
/// bad image shape and for `--epochs` with CVC-AFWM, and `eval` refusing its checkpoint.
#[test]
fn a_baseline_trains_from_the_command_line_and_reports_its_test_split() {
    let dir = tempfile::tempdir().unwrap();
    let out = headless(
        &[
            "train",
            "strokes16",
            "--model",
            "mlp",
            "--epochs",
            "2",
            "--margin",
            "1",
            "--seed",
            "3",
            "--out",
            "base",
            "--json",
        ],
        dir.path(),
    );
    let (stdout, _) = ok(&out, "train --model mlp");
    let done: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "done")
        .expect("a done event");
    let m = &done["metrics"];
    assert_eq!(m["split"], "test", "{done}");
    assert_eq!((m["n_train"].as_u64(), m["n_test"].as_u64()), (Some(480), Some(120)));
    for key in ["acc", "nmi", "ari", "knn_acc", "violations"] {
        let v = m[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&v), "{key} = {v} in {done}");
    }
    let listed = ok(&headless(&["runs", "list", "--json"], dir.path()), "runs list").0;
    assert!(listed.contains("\"model\": \"mlp\"") || listed.contains("\"model\":\"mlp\""), "{listed}");
    let out = headless(&["eval", "--checkpoint", "base", "strokes16"], dir.path());
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("metric-learning baseline"), "{}", text(&out.stderr));

    let out =
        headless(&["train", "strokes16", "--model", "siamese-conv", "--image", "28x28", "--epochs", "1"], dir.path());
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("view 1 (image-a) has 256 features") && err.contains("28x28"), "{err}");
    let out = headless(&["train", "strokes16", "--epochs", "1"], dir.path());
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--epochs sets a baseline's epochs"), "{}", text(&out.stderr));
}

/// `train --model dec`: seed 004's single-view DEC on one view of a built-in set, its fixed
/// target and early stop in the done event, and its checkpoint read on that view alone by `eval`
/// and `update` (given the whole three-view set). Without a view choice the run is refused with
/// the views named.
#[test]
fn dec_trains_on_one_view_and_its_checkpoint_reads_that_view() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "train",
        "gauss3-noise",
        "--model",
        "dec",
        "--views",
        "signal-a",
        "--encoder-hidden",
        "32",
        "--feature-dim",
        "16",
        "--mse-epochs",
        "3",
        "--con-epochs",
        "40",
        "--target-refresh",
        "4",
        "--tol",
        "0.5",
        "--batch-size",
        "100",
        "--seed",
        "2",
        "--device",
        "flex",
        "--out",
        "dec",
        "--json",
    ];
    let (stdout, _) = ok(&headless(&args, dir.path()), "train --model dec");
    let done: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "done")
        .expect("a done event");
    let epoch = done["converged"]["epoch"].as_u64().expect("the clusters settle before epoch 40");
    assert!(epoch < 40 && epoch % 4 == 1, "{done}");
    // The text output says the same in a sentence.
    assert_eq!(&args[args.len() - 3..], ["--out", "dec", "--json"]);
    let (stdout, _) = ok(&headless(&args[..args.len() - 3], dir.path()), "train --model dec (text)");
    let said = format!("phase ended after {} of 40 epochs", epoch - 1);
    assert!(stdout.contains("stopped early: the clusters settled") && stdout.contains(&said), "{stdout}");
    assert_eq!(done["metrics"]["per_view_acc"].as_array().map(Vec::len), Some(1), "{done}");

    let (stdout, _) = ok(&headless(&["eval", "--checkpoint", "dec", "gauss3-noise", "--json"], dir.path()), "eval");
    let e: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(e["n_samples"], 600, "{stdout}");
    assert_eq!(e["per_view_acc"].as_array().map(Vec::len), Some(1), "{stdout}");
    let (stdout, _) = ok(
        &headless(&["update", "--checkpoint", "dec", "gauss3-noise", "--json", "--device", "flex"], dir.path()),
        "update",
    );
    let u: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert!(u["acc_new"].as_f64().is_some_and(|a| (0.0..=1.0).contains(&a)), "{stdout}");

    let out =
        headless(&["train", "gauss3-noise", "--model", "dec", "--mse-epochs", "1", "--con-epochs", "1"], dir.path());
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("the DEC model trains on one view, and gauss3-noise has 3 (signal-a, signal-b, noise)"),
        "{err}"
    );
}

/// `bench --variant` measures each variant beside the base in one run and reports it in the
/// JSON; a variant naming no config field is refused with the variant in the message.
#[test]
fn bench_measures_variants_beside_the_base() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.toml"), SMALL).unwrap();
    let args = [
        "bench",
        "gauss3-noise",
        "--config",
        "small.toml",
        "--epochs",
        "1",
        "--device",
        "flex",
        "--variant",
        "knn_targets=5",
        "--variant",
        "cluster_space=zh,uncertainty_weighting=true",
        "--json",
    ];
    let (stdout, _) = ok(&headless(&args, dir.path()), "bench");
    let line = stdout.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let variants = v["variants"].as_array().unwrap();
    let names: Vec<&str> = variants.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["base", "knn_targets=5", "cluster_space=zh,uncertainty_weighting=true"]);
    assert_eq!(variants[0]["relative_to_base"].as_f64(), Some(1.0));
    assert_eq!(variants[1]["fields"]["knn_targets"].as_i64(), Some(5));
    for x in variants {
        let con = x["secs_per_epoch"]["contrastive"].as_f64().unwrap();
        let refresh = x["secs_per_refresh"].as_f64().unwrap();
        assert!(con > 0.0 && refresh > 0.0, "{x}");
        assert_eq!(x["rounds"].as_array().unwrap().len(), 1);
    }
    assert_eq!(v["secs_per_epoch"]["contrastive"], variants[0]["secs_per_epoch"]["contrastive"]);

    let bad = headless(&["bench", "gauss3-noise", "--epochs", "1", "--variant", "knn_target=5"], dir.path());
    assert!(!bad.status.success());
    let stderr = text(&bad.stderr);
    assert!(stderr.contains("--variant knn_target=5") && stderr.contains("knn_target"), "{stderr}");
}

/// `eval` on data other than the training data scales it as the run did (its record says zscore),
/// not with the default min-max, and says so.
#[test]
fn eval_on_other_data_uses_the_runs_recorded_scaling() {
    use mvc_workbench::data::{self, LoadOptions, ViewData};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.toml"), SMALL).unwrap();
    let args = [
        "train",
        "gauss3-noise",
        "--config",
        "small.toml",
        "--preprocess",
        "zscore",
        "--mse-epochs",
        "1",
        "--con-epochs",
        "1",
    ];
    ok(&headless(&args, dir.path()), "train");
    let run = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("run.json").is_file())
        .expect("the run is recorded");
    // The same samples with one value changed: neither scaling reproduces the training data.
    let mut other = data::load_named("gauss3-noise", &LoadOptions::default()).unwrap();
    match &mut other.views[0].data {
        ViewData::Dense { values, .. } => values[0] += 0.5,
        ViewData::Sparse(m) => m.values[0] += 0.5,
    }
    data::save_dataset(&other, &dir.path().join("other.mat")).unwrap();
    let ck = run.to_str().unwrap();
    let refused = headless(&["eval", "--checkpoint", ck, "other.mat"], dir.path());
    assert!(!refused.status.success(), "other data needs --allow-other-data");
    let (_, stderr) =
        ok(&headless(&["eval", "--checkpoint", ck, "other.mat", "--allow-other-data"], dir.path()), "eval");
    assert!(stderr.contains("scaled with zscore (the scaling its run recorded"), "{stderr}");
    let (_, stderr) = ok(
        &headless(
            &["eval", "--checkpoint", ck, "other.mat", "--allow-other-data", "--preprocess", "minmax"],
            dir.path(),
        ),
        "eval --preprocess minmax",
    );
    assert!(!stderr.contains("scaled with"), "an explicit choice needs no note: {stderr}");
}

/// A preset that names its dataset's scaling (Prokaryotic: as stored, the way the seed's lineage
/// loads it) scales the data that way unless `--preprocess` says otherwise, and the run records
/// the scaling it got.
#[test]
fn a_presets_scaling_applies_unless_the_user_chose_one() {
    let recorded = |extra: &[&str]| -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--preset", "Prokaryotic", "--mse-epochs", "1", "--con-epochs", "1"];
        args.extend_from_slice(extra);
        let (_, stderr) = train_tiny(dir.path(), "run", &args);
        let run = std::fs::read_dir(dir.path().join("runs"))
            .unwrap()
            .flatten()
            .map(|e| e.path().join("run.json"))
            .find(|p| p.is_file())
            .expect("the run is recorded");
        let rec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run).unwrap()).unwrap();
        (rec["dataset"]["preprocess"].as_str().expect("the run records its scaling").to_owned(), stderr)
    };
    let (scaling, stderr) = recorded(&[]);
    assert_eq!(scaling, "none");
    assert!(stderr.contains("scaling: none (the Prokaryotic preset's"), "{stderr}");
    let (scaling, stderr) = recorded(&["--preprocess", "minmax"]);
    assert_eq!(scaling, "minmax");
    assert!(!stderr.contains("preset's"), "an explicit choice needs no note: {stderr}");
}
