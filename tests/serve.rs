//! `serve` through a real server on an ephemeral loopback port: the seed's two `curl`
//! examples, every error path, bad clients (malformed or hostile bodies, huge numbers, path
//! tricks, oversized or slow bodies), live progress and stop, one run at a time, 20 concurrent
//! `/predict` requests, a CI-sized load run, and the OpenAPI description.

#[path = "common/load.rs"]
mod load;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mvc_workbench::data::{self, Preprocess};
use mvc_workbench::engine::config::DeviceChoice;
use mvc_workbench::serve::{Limits, RunningServer, ServeOptions};
use serde_json::Value;

fn start() -> (RunningServer, tempfile::TempDir) {
    start_with(None, Limits::default())
}

fn start_with(datasets_dir: Option<PathBuf>, limits: Limits) -> (RunningServer, tempfile::TempDir) {
    let runs = tempfile::tempdir().unwrap();
    let opts = ServeOptions { datasets_dir, runs_dir: runs.path().to_path_buf(), device: DeviceChoice::Flex, limits };
    let server = RunningServer::start("127.0.0.1:0".parse().unwrap(), opts).unwrap();
    (server, runs)
}

/// One HTTP/1.1 request with `Connection: close`; returns the status and the body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(600))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, body.to_string())
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Asserts an error answer: the status, the JSON error body, and words of its detail.
fn assert_error(addr: SocketAddr, method: &str, path: &str, body: &str, status: u16, words: &[&str]) {
    let (got, text) = http(addr, method, path, body);
    assert_eq!(got, status, "{method} {path} {body}: {text}");
    let v = json(&text);
    assert_eq!(v["status"], "error", "{text}");
    assert_eq!(v["code"], status, "{text}");
    let detail = v["detail"].as_str().unwrap();
    for w in words {
        assert!(detail.contains(w), "{method} {path}: detail {detail:?} lacks {w:?}");
    }
}

/// The seed's `curl` command, verbatim but for the host and the dataset (a built-in one).
fn seed_curl(addr: SocketAddr, route: &str, body: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "-X", "POST", &format!("http://{addr}/{route}")])
        .args(["-H", "accept: application/json", "-H", "Content-Type: application/json", "-d", body])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap(),
        _ => {
            eprintln!("curl is not available here; sending the seed's request with the test's own client");
            let (status, text) = http(addr, "POST", &format!("/{route}"), body);
            assert_eq!(status, 200, "{text}");
            text
        }
    }
}

const SEED_TRAIN: &str = r#"{
  "dataset_name": "gauss3-noise",
  "batch_size": 256,
  "learning_rate": 0.00059,
  "num_cluster": 10,
  "views": 3,
  "mse_epochs": 1,
  "con_epochs": 1,
  "seed": 2,
  "threshold": 0.01
}"#;

const SEED_PREDICT: &str = r#"{
  "data_index": 6,
  "return_cluster_assignment": true,
  "return_features": false,
  "return_reconstruction": false,
  "compare_with_ground_truth": true
}"#;

#[test]
fn seed_curl_examples_then_twenty_concurrent_predicts() {
    let (server, _runs) = start();
    let addr = server.addr;

    let train = json(&seed_curl(addr, "train", SEED_TRAIN));
    assert_eq!(train["status"], "success", "{train}");
    for key in ["accuracy", "nmi", "purity", "ari"] {
        let x = train["metrics"][key].as_f64().unwrap_or_else(|| panic!("metrics.{key} missing: {train}"));
        assert!((-1.0..=1.0).contains(&x), "{key} = {x}");
    }
    assert_eq!(train["n_clusters"], 10, "num_cluster is honoured");
    assert_eq!(train["epochs"], 2);
    assert!(train["warnings"].as_array().unwrap().is_empty(), "views 3 matches gauss3-noise: {train}");

    let p = json(&seed_curl(addr, "predict", SEED_PREDICT));
    let mut ds = data::builtin::generate("gauss3-noise").unwrap();
    data::preprocess::apply(&mut ds, Preprocess::MinMax);
    let truth = ds.label_ids().unwrap()[6];
    assert_eq!(p["data_index"], 6);
    assert_eq!(p["status"], "success");
    let probs: Vec<f64> = p["cluster_probabilities"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(probs.len(), 10);
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{probs:?}");
    assert!(p["hidden_features"].is_null() && p["reconstructed_features"].is_null(), "{p}");
    assert_eq!(p["ground_truth_label"], truth);
    assert_eq!(p["is_correct"], p["cluster_assignment"] == truth, "{p}");
    assert!(p["uncertainty"].as_f64().is_some_and(|u| (0.0..=1.0).contains(&u)), "{p}");

    // Features and reconstruction on request; comparison and assignment off on request.
    let (status, text) = http(
        addr,
        "POST",
        "/predict",
        r#"{"data_index": 0, "return_features": true, "return_reconstruction": true, "compare_with_ground_truth": false, "return_cluster_assignment": false}"#,
    );
    assert_eq!(status, 200, "{text}");
    let v = json(&text);
    assert_eq!(v["hidden_features"].as_array().unwrap().len(), 512);
    assert_eq!(v["reconstructed_features"].as_array().unwrap().len(), ds.views[0].data.cols());
    assert!(v["ground_truth_label"].is_null() && v["is_correct"].is_null() && v["cluster_assignment"].is_null());

    // 20 concurrent requests, each for its own sample, each answered for that sample, and
    // each the same answer as a request made alone.
    let alone: Vec<Value> =
        (0..20).map(|i| json(&http(addr, "POST", "/predict", &format!(r#"{{"data_index": {}}}"#, i * 29)).1)).collect();
    let threads: Vec<_> = (0..20)
        .map(|i| {
            std::thread::Builder::new()
                .name(format!("predict-client-{i}"))
                .spawn(move || http(addr, "POST", "/predict", &format!(r#"{{"data_index": {}}}"#, i * 29)))
                .unwrap()
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let (status, text) = t.join().unwrap();
        assert_eq!(status, 200, "{text}");
        let v = json(&text);
        assert_eq!(v["data_index"], i * 29);
        assert_eq!(v["ground_truth_label"], ds.label_ids().unwrap()[i * 29]);
        assert_eq!(v, alone[i]);
    }
    server.stop();
}

#[test]
fn client_mistakes_are_4xx_with_a_json_error() {
    let (server, _runs) = start();
    let addr = server.addr;
    assert_error(addr, "POST", "/predict", SEED_PREDICT, 400, &["no model has been trained yet", "/train"]);
    assert_error(addr, "POST", "/train", "{\"dataset_name\": ", 400, &["not valid"]);
    assert_error(addr, "POST", "/train", "", 400, &["empty"]);
    assert_error(addr, "POST", "/train", "[1, 2]", 400, &["not valid"]);
    assert_error(
        addr,
        "POST",
        "/train",
        r#"{"dataset_name": "gauss3-noise", "learning_rat": 0.1}"#,
        400,
        &["learning_rat"],
    );
    assert_error(addr, "POST", "/train", r#"{"dataset_name": "gauss3-noise", "batch_size": -5}"#, 400, &["batch_size"]);
    assert_error(addr, "POST", "/train", r#"{"dataset_name": "gauss3-noise", "threshold": 1.5}"#, 400, &["threshold"]);
    assert_error(
        addr,
        "POST",
        "/train",
        r#"{"dataset_name": "gauss3-noise", "num_cluster": 1}"#,
        400,
        &["num_cluster"],
    );
    assert_error(
        addr,
        "POST",
        "/train",
        r#"{"dataset_name": "gauss3-noise", "num_cluster": 5000}"#,
        400,
        &["num_cluster", "600 samples"],
    );
    assert_error(
        addr,
        "POST",
        "/train",
        r#"{"dataset_name": "no-such-set"}"#,
        404,
        &["no-such-set", "gauss3-noise", "rings-moons"],
    );
    assert_error(addr, "POST", "/train", r#"{"dataset_name": "../../etc/passwd"}"#, 404, &["unknown dataset_name"]);
    assert_error(addr, "POST", "/train", r#"{"dataset_name": "MNIST-USPS"}"#, 404, &["--datasets"]);
    assert_error(addr, "GET", "/runs/7", "", 404, &["no run 7"]);
    assert_error(addr, "GET", "/runs/seven", "", 400, &["not a number"]);
    assert_error(addr, "POST", "/runs/7/stop", "", 404, &["no run 7"]);
    assert_error(addr, "GET", "/nowhere", "", 404, &["/nowhere", "/train"]);
    assert_error(addr, "GET", "/train", "", 405, &["/train"]);

    // After a (tiny) train: out-of-range and malformed predictions.
    let (status, text) =
        http(addr, "POST", "/train", r#"{"dataset_name": "rings-moons", "mse_epochs": 0, "con_epochs": 1}"#);
    assert_eq!(status, 200, "{text}");
    assert_error(addr, "POST", "/predict", r#"{"data_index": 900}"#, 400, &["between 0 and 899"]);
    assert_error(addr, "POST", "/predict", r#"{"data_index": -1}"#, 400, &["between 0 and 899"]);
    assert_error(addr, "POST", "/predict", r#"{"data_index": "six"}"#, 400, &["data_index"]);
    assert_error(addr, "POST", "/predict", r#"{}"#, 400, &["data_index"]);
    assert_error(addr, "POST", "/runs/1/stop", "", 409, &["already ended"]);
    server.stop();
}

#[test]
fn live_progress_one_run_at_a_time_and_stop() {
    let (server, _runs) = start();
    let addr = server.addr;
    let long = std::thread::Builder::new()
        .name("train-client".into())
        .spawn(move || {
            http(addr, "POST", "/train", r#"{"dataset_name": "rings-moons", "mse_epochs": 500, "con_epochs": 500}"#)
        })
        .unwrap();
    // Wait for live progress of run 1.
    let t0 = Instant::now();
    let running = loop {
        let (status, text) = http(addr, "GET", "/runs/1", "");
        if status == 200 {
            let v = json(&text);
            if v["status"] == "running" && v["batch"].as_u64().unwrap_or(0) >= 1 {
                break v;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "run 1 never reported progress: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(running["total_epochs"], 1000);
    assert_eq!(running["n_samples"], 900);
    assert_eq!(running["phase"], "pretrain");
    assert!(running["n_batches"].as_u64().unwrap() >= 1);

    assert_error(addr, "POST", "/train", r#"{"dataset_name": "gauss3-noise"}"#, 409, &["run 1 is in progress"]);
    let (list_status, list) = http(addr, "GET", "/runs", "");
    assert_eq!(list_status, 200);
    assert_eq!(json(&list).as_array().unwrap().len(), 1, "the refused run is not recorded");

    let asked = Instant::now();
    let (status, text) = http(addr, "POST", "/runs/1/stop", "");
    assert_eq!(status, 202, "{text}");
    assert_eq!(json(&text)["status"], "stopping");
    let (status, text) = long.join().unwrap();
    assert_eq!(status, 200, "{text}");
    let v = json(&text);
    assert_eq!(v["status"], "stopped");
    assert_eq!(v["run_id"], 1);
    assert!(v["epochs"].as_u64().unwrap() < 1000);
    assert!(asked.elapsed() < Duration::from_secs(60), "the stopped run took {:?} to answer", asked.elapsed());
    let (_, text) = http(addr, "GET", "/runs/1", "");
    assert_eq!(json(&text)["status"], "stopped");
    // The stopped run's model answers predictions.
    let (status, text) = http(addr, "POST", "/predict", r#"{"data_index": 3}"#);
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text)["run_id"], 1);
    server.stop();
}

#[test]
fn openapi_describes_every_route_and_the_index_needs_no_cdn() {
    let (server, _runs) = start();
    let (status, text) = http(server.addr, "GET", "/openapi.json", "");
    assert_eq!(status, 200);
    let doc = json(&text);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (path, method) in [
        ("/train", "post"),
        ("/predict", "post"),
        ("/update", "post"),
        ("/runs", "get"),
        ("/runs/{id}", "get"),
        ("/runs/{id}/stop", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not described");
    }
    let schemas = &doc["components"]["schemas"];
    for field in [
        "dataset_name",
        "batch_size",
        "learning_rate",
        "num_cluster",
        "views",
        "mse_epochs",
        "con_epochs",
        "seed",
        "threshold",
        "preprocess",
    ] {
        assert!(schemas["TrainRequest"]["properties"][field].is_object(), "TrainRequest.{field}");
    }
    for field in [
        "data_index",
        "status",
        "cluster_probabilities",
        "cluster_assignment",
        "hidden_features",
        "reconstructed_features",
        "ground_truth_label",
        "is_correct",
    ] {
        assert!(schemas["PredictResponse"]["properties"][field].is_object(), "PredictResponse.{field}");
    }
    let (status, page) = http(server.addr, "GET", "/", "");
    assert_eq!(status, 200);
    assert!(page.contains("/openapi.json") && page.contains("/runs/{id}/stop"));
    assert!(!page.contains("<script"), "the index page loads nothing from elsewhere");
    server.stop();
}

/// Sends raw bytes (a whole request, or part of one) and reads the answer until the server
/// closes; returns the status and the body.
fn http_raw(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(raw).unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).ok();
    let raw = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, body.to_string())
}

/// A 4xx JSON error whose detail has every word of `words`.
fn assert_4xx(status: u16, text: &str, want: u16, words: &[&str], what: &str) {
    assert_eq!(status, want, "{what}: {text}");
    let v = json(text);
    assert_eq!((v["status"].as_str(), v["code"].as_u64()), (Some("error"), Some(u64::from(want))), "{what}: {text}");
    let detail = v["detail"].as_str().unwrap();
    for w in words {
        assert!(detail.contains(w), "{what}: detail {detail:?} lacks {w:?}");
    }
}

const G: &str = r#""dataset_name": "gauss3-noise""#;

#[test]
fn bad_clients_get_a_4xx_that_says_what_was_wrong() {
    // A datasets folder with one real file and a symlink leading out of it.
    let served = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let repo_mat = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/gauss3-noise.mat");
    std::fs::copy(&repo_mat, served.path().join("inside.mat")).unwrap();
    std::fs::copy(&repo_mat, outside.path().join("secret.mat")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.mat"), served.path().join("escape.mat")).unwrap();
    std::os::unix::fs::symlink(outside.path(), served.path().join("folder.mat")).unwrap();
    let (server, _runs) = start_with(Some(served.path().to_path_buf()), Limits::default());
    let addr = server.addr;

    // Malformed JSON, wrong types, huge and negative numbers: 400 naming the field.
    let nested = format!(r#"{{"views": {}1{}}}"#, "[".repeat(5000), "]".repeat(5000));
    let train_400: Vec<(String, Vec<&str>)> = vec![
        ("{\"dataset_name\": }".into(), vec!["/train", "not valid"]),
        ("not json".into(), vec!["not valid"]),
        ("{} {}".into(), vec!["unexpected text after the JSON object"]),
        ("\"gauss3-noise\"".into(), vec!["not valid"]),
        (nested, vec!["not valid"]),
        (r#"{"dataset_name": 5}"#.into(), vec!["dataset_name"]),
        (format!(r#"{{{G}, "batch_size": "big"}}"#), vec!["batch_size"]),
        (format!(r#"{{{G}, "seed": -1}}"#), vec!["seed"]),
        (format!(r#"{{{G}, "threshold": "high"}}"#), vec!["threshold"]),
        (format!(r#"{{{G}, "views": [3]}}"#), vec!["views"]),
        (format!(r#"{{{G}, "batch_size": 1e30}}"#), vec!["batch_size"]),
        (format!(r#"{{{G}, "batch_size": 100000000}}"#), vec!["batch_size", "between 1 and 65536"]),
        (format!(r#"{{{G}, "batch_size": 0}}"#), vec!["batch_size"]),
        (format!(r#"{{{G}, "mse_epochs": -3}}"#), vec!["mse_epochs"]),
        (format!(r#"{{{G}, "con_epochs": 18446744073709551615}}"#), vec!["con_epochs", "at most 100000"]),
        (format!(r#"{{{G}, "mse_epochs": 99999999999999999999999}}"#), vec!["mse_epochs"]),
        (format!(r#"{{{G}, "mse_epochs": 0, "con_epochs": 0}}"#), vec!["at least 1"]),
        (format!(r#"{{{G}, "learning_rate": 1e400}}"#), vec!["learning_rate"]),
        (format!(r#"{{{G}, "learning_rate": -0.1}}"#), vec!["learning_rate"]),
        (format!(r#"{{{G}, "learning_rate": 0}}"#), vec!["learning_rate"]),
        (format!(r#"{{{G}, "threshold": -0.5}}"#), vec!["threshold"]),
        (format!(r#"{{{G}, "num_cluster": 1099511627776}}"#), vec!["num_cluster", "600 samples"]),
    ];
    for (body, words) in &train_400 {
        let (status, text) = http(addr, "POST", "/train", body);
        assert_4xx(status, &text, 400, words, &format!("/train {}", &body[..body.len().min(80)]));
    }
    // Bytes that are not UTF-8.
    let raw = b"POST /train HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 21\r\n\r\n{\"dataset_name\": \"\xff\"}";
    let (status, text) = http_raw(addr, raw);
    assert_4xx(status, &text, 400, &["not valid"], "non-UTF-8 body");

    let predict_400 = [
        (r#"{"data_index": 1e30}"#, vec!["data_index"]),
        (r#"{"data_index": 99999999999999999999}"#, vec!["data_index"]),
        (r#"{"data_index": 1, "return_features": "yes"}"#, vec!["return_features"]),
        (r#"{"data_index": 1, "extra": 1}"#, vec!["extra"]),
        ("[]", vec!["not valid"]),
    ];
    for (body, words) in &predict_400 {
        let (status, text) = http(addr, "POST", "/predict", body);
        assert_4xx(status, &text, 400, words, &format!("/predict {body}"));
    }

    // Unknown datasets and path tricks: 404, and a path is called a path.
    let abs = repo_mat.display().to_string();
    let secret = outside.path().join("secret.mat").display().to_string();
    let long = "x".repeat(100_000);
    for (name, words) in [
        ("no-such-set", vec!["unknown dataset_name", "inside"]),
        ("escape", vec!["unknown dataset_name", "inside"]),
        ("escape.mat", vec!["unknown dataset_name"]),
        ("folder", vec!["unknown dataset_name"]),
        ("", vec!["unknown dataset_name"]),
        ("../datasets/gauss3-noise", vec!["not a path"]),
        ("inside/../escape", vec!["not a path"]),
        ("/etc/passwd", vec!["not a path"]),
        (abs.as_str(), vec!["not a path"]),
        (secret.as_str(), vec!["not a path"]),
        ("..", vec!["not a path"]),
        ("C:\\\\data\\\\x.mat", vec!["not a path"]),
        (long.as_str(), vec!["unknown dataset_name"]),
    ] {
        let (status, text) = http(addr, "POST", "/train", &format!(r#"{{"dataset_name": "{name}", "con_epochs": 1}}"#));
        assert_4xx(status, &text, 404, &words, &format!("dataset_name {:?}", &name[..name.len().min(40)]));
        let detail = json(&text)["detail"].as_str().unwrap().to_string();
        assert!(!detail.contains("secret") || name.contains("secret"), "{detail}");
        assert!(!detail.contains("escape,") && !detail.ends_with("escape"), "the symlink is not listed: {detail}");
        assert!(detail.len() < 2000, "the detail does not echo a huge name: {} bytes", detail.len());
    }

    // Run ids and routes.
    for (method, path, status, words) in [
        ("GET", "/runs/0", 404, vec!["no run 0"]),
        ("GET", "/runs/99999999999999999999999", 400, vec!["not a number"]),
        ("GET", "/runs/-1", 400, vec!["not a number"]),
        ("GET", "/runs/%2e%2e", 400, vec!["not a number"]),
        ("POST", "/runs/abc/stop", 400, vec!["not a number"]),
        ("POST", "/runs/18446744073709551615/stop", 404, vec!["no run 18446744073709551615"]),
        ("DELETE", "/train", 405, vec!["/train", "DELETE"]),
        ("PUT", "/runs/1", 405, vec!["/runs/1"]),
        ("GET", "/../../etc/passwd", 404, vec!["no route"]),
    ] {
        let (got, text) = http(addr, method, path, "");
        assert_4xx(got, &text, status, &words, &format!("{method} {path}"));
    }

    // The folder's real file is served (by any spelling), so the refusals above are the rules'.
    let (status, text) =
        http(addr, "POST", "/train", r#"{"dataset_name": "Inside.mat", "mse_epochs": 0, "con_epochs": 1}"#);
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text)["n_samples"], 600);
    // After all that, the server still answers, and no run is stuck holding the slot.
    let (status, text) = http(addr, "GET", "/runs", "");
    assert_eq!(status, 200, "{text}");
    assert!(json(&text).as_array().unwrap().iter().all(|r| r["status"] != "loading" && r["status"] != "running"));
    server.stop();
}

/// A gauss3-noise copy whose first view is 600 × 8000 (about 19 MB of `f32`): slow enough
/// to load that a 1 ms load limit always runs out.
fn write_big_dataset(dir: &std::path::Path) {
    let mut ds = data::builtin::generate("gauss3-noise").unwrap();
    let values: Vec<f32> = (0..600 * 8000).map(|i| (i % 977) as f32).collect();
    ds.views[0].data = data::ViewData::Dense { rows: 600, cols: 8000, values };
    data::save_dataset(&ds, &dir.join("big.mat")).unwrap();
}

#[test]
fn oversized_slow_and_stalled_requests_are_bounded() {
    let served = tempfile::tempdir().unwrap();
    write_big_dataset(served.path());
    let limits = Limits {
        head_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        load_timeout: Duration::from_millis(1),
        ..Limits::default()
    };
    let (server, _runs) = start_with(Some(served.path().to_path_buf()), limits);
    let addr = server.addr;

    // A body declared larger than 1 MiB is refused from its header, before it is read.
    let (status, text) = http_raw(
        addr,
        b"POST /train HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n{",
    );
    assert_4xx(status, &text, 413, &["larger than 1048576 bytes"], "2 MiB body");
    // Just under the limit is read (and refused for what it says).
    let padded = format!(r#"{{"dataset_name": "{}"}}"#, "y".repeat((1 << 20) - 64));
    let (status, text) = http(addr, "POST", "/train", &padded);
    assert_4xx(status, &text, 404, &["unknown dataset_name"], "1 MiB body");

    // A body that stops arriving: 408 after the body timeout, not a hung connection.
    let t = Instant::now();
    let (status, text) =
        http_raw(addr, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"data_index\": ");
    assert_4xx(status, &text, 408, &["did not arrive within"], "stalled body");
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());

    // A head that stops arriving, or never starts: the connection is closed, without an answer.
    for partial in [&b"POST /predict HTTP/1.1\r\nHost: x\r\n"[..], b"GET /ru", b""] {
        let t = Instant::now();
        let (status, text) = http_raw(addr, partial);
        assert_eq!(status, 0, "{text}");
        assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
    }
    // An idle keep-alive connection is not timed: its next request, after the head timeout, is answered.
    let mut client = load::Client::new(addr);
    assert_eq!(client.request("GET", "/runs", "").unwrap().0, 200);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(client.request("GET", "/runs", "").unwrap().0, 200);

    // A dataset load that outlasts the load limit: 503, and the run slot is freed.
    for attempt in 1..=2 {
        let (status, text) = http(addr, "POST", "/train", r#"{"dataset_name": "big", "con_epochs": 1}"#);
        assert_4xx(status, &text, 503, &["loading dataset", "took longer than"], &format!("slow load {attempt}"));
    }
    let (_, text) = http(addr, "GET", "/runs/1", "");
    let run = json(&text);
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["error"].as_str().unwrap().contains("took longer than"), "{run}");
    server.stop();
}

#[test]
fn predict_load_while_training_has_no_errors() {
    // A short head timeout: it must not cut the long-waiting /train nor the busy keep-alive clients.
    let (server, _runs) = start_with(None, Limits { head_timeout: Duration::from_millis(200), ..Limits::default() });
    let addr = server.addr;
    // The first /train as curl sends a body over 1 KiB: `Expect: 100-continue`, then the body once
    // the server's interim `100 Continue` is in. The interim answer must not restart the head clock.
    let body =
        format!("{}{}", " ".repeat(1500), r#"{"dataset_name": "gauss3-noise", "mse_epochs": 1, "con_epochs": 1}"#);
    let mut conn = std::io::BufReader::new(TcpStream::connect(addr).unwrap());
    write!(
        conn.get_mut(),
        "POST /train HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut interim = String::new();
    std::io::BufRead::read_line(&mut conn, &mut interim).unwrap();
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    let t = Instant::now();
    conn.get_mut().write_all(body.as_bytes()).unwrap();
    let mut rest = String::new();
    conn.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("HTTP/1.1 200"), "{rest}");
    assert!(t.elapsed() > Duration::from_millis(200), "the run outlasted the head timeout");
    let train = r#"{"dataset_name": "gauss3-noise", "mse_epochs": 3, "con_epochs": 3, "seed": 3}"#;
    let report = load::run_load(addr, std::process::id(), 500, 10, 600, train);
    eprintln!("{}", report.summary());
    assert_eq!(report.errors, 0, "{:?}", report.error_samples);
    assert_eq!(report.train_status, 200, "{}", report.train_body);
    let train = json(&report.train_body);
    assert_eq!(train["run_id"], 2);
    eprintln!("the /train waited {} s on its connection", train["seconds"]);
    server.stop();
}

#[test]
fn a_stop_while_the_dataset_loads_stops_the_run_at_its_start() {
    let served = tempfile::tempdir().unwrap();
    write_big_dataset(served.path());
    let (server, _runs) = start_with(Some(served.path().to_path_buf()), Limits::default());
    let addr = server.addr;
    let train = std::thread::Builder::new()
        .name("train-client".into())
        .spawn(move || http(addr, "POST", "/train", r#"{"dataset_name": "big", "mse_epochs": 20, "con_epochs": 20}"#))
        .unwrap();
    // Stop as soon as run 1 exists (most likely while its 19 MB dataset is still loading).
    let t0 = Instant::now();
    loop {
        let (status, text) = http(addr, "POST", "/runs/1/stop", "");
        if status == 202 {
            break;
        }
        assert_eq!(status, 404, "{text}");
        assert!(t0.elapsed() < Duration::from_secs(60), "run 1 never appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    let (status, text) = train.join().unwrap();
    assert_eq!(status, 200, "{text}");
    let v = json(&text);
    assert_eq!(v["status"], "stopped", "{v}");
    assert!(v["epochs"].as_u64().unwrap() < 40, "{v}");
    server.stop();
}

/// `/train` on three classes, then `/update` of the stored run with all four: the update's JSON
/// object, a new run in the store whose parent is the trained one, and 4xx for bad requests.
#[test]
fn update_a_stored_run_on_new_classes() {
    let (server, _runs) = start();
    let addr = server.addr;
    let (status, text) = http(
        addr,
        "POST",
        "/train",
        r#"{"dataset_name": "gauss3-noise", "mse_epochs": 4, "con_epochs": 2, "seed": 3, "classes": [0, 1, 2]}"#,
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text)["n_samples"], 450, "{text}");
    let (_, runs) = http(addr, "GET", "/runs", "");
    let trained = json(&runs)[0]["id"].as_str().unwrap().to_owned();
    let body = format!(r#"{{"run": "{trained}", "dataset_name": "gauss3-noise", "iterations": 5}}"#);
    let (status, text) = http(addr, "POST", "/update", &body);
    assert_eq!(status, 200, "{text}");
    let v = json(&text);
    for key in
        ["drift_old", "acc_old_before", "acc_old_after", "acc_new", "nmi_new", "clusters_before", "clusters_after"]
    {
        assert!(!v[key].is_null(), "{key} missing: {text}");
    }
    assert!(v["new_clusters"].is_array(), "{text}");
    assert_eq!(v["clusters_before"], 3);
    assert_eq!(v["parent_run"], trained.as_str());
    let (_, runs) = http(addr, "GET", "/runs", "");
    let listed = json(&runs);
    assert_eq!(listed[0]["id"], v["run"], "{runs}");
    assert_eq!(listed[0]["parent_run"], trained.as_str());
    assert_error(
        addr,
        "POST",
        "/update",
        r#"{"run": "nosuchrun", "dataset_name": "gauss3-noise"}"#,
        404,
        &["nosuchrun"],
    );
    assert_error(
        addr,
        "POST",
        "/update",
        &body.replace("\"iterations\": 5", "\"expand\": \"sideways\""),
        400,
        &["expand"],
    );
    assert_error(addr, "POST", "/update", &body.replace("\"iterations\": 5", "\"classes\": [9]"), 422, &["no class 9"]);
    let other = format!(r#"{{"run": "{trained}", "dataset_name": "rings-moons"}}"#);
    assert_error(addr, "POST", "/update", &other, 422, &["does not fit"]);
}

/// `/train` with `"model"`: a metric-learning baseline runs through the same route, answers
/// its test split's k-means reading and kNN accuracy, and `/predict` then says there is no
/// model (a baseline answers no prediction) instead of answering with an older run's.
#[test]
fn train_a_baseline_through_the_api() {
    let (server, _runs) = start();
    let addr = server.addr;
    let (status, text) = http(
        addr,
        "POST",
        "/train",
        r#"{"dataset_name": "strokes16", "model": "mlp", "con_epochs": 2, "margin": 1.0, "seed": 3}"#,
    );
    assert_eq!(status, 200, "{text}");
    let v = json(&text);
    assert_eq!(v["status"], "success", "{v}");
    let knn = v["metrics"]["knn_accuracy"].as_f64().unwrap_or_else(|| panic!("no knn_accuracy: {v}"));
    assert!((0.0..=1.0).contains(&knn), "{v}");
    assert_eq!(v["epochs"], 2, "no pre-training: {v}");
    let (status, text) = http(addr, "POST", "/predict", r#"{"data_index": 1}"#);
    assert!((400..500).contains(&status), "{status} {text}");
    assert_error(addr, "POST", "/train", r#"{"dataset_name": "strokes16", "model": "resnet"}"#, 400, &["resnet"]);
}

/// `/train` with `"model": "dec"` and `"view_names"`: seed 004's DEC trains on the named view of
/// a three-view set, and `/predict` answers from that view; without a view it is refused with the
/// views named.
#[test]
fn train_dec_on_one_view_through_the_api() {
    let (server, _runs) = start();
    let addr = server.addr;
    let body = r#"{"dataset_name": "gauss3-noise", "model": "dec", "view_names": ["signal-b"], "mse_epochs": 2,
                   "con_epochs": 4, "target_refresh": 2, "batch_size": 100, "seed": 3}"#;
    let (status, text) = http(addr, "POST", "/train", body);
    assert_eq!(status, 200, "{text}");
    let v = json(&text);
    assert_eq!(v["status"], "success", "{v}");
    assert!(v["metrics"]["accuracy"].as_f64().is_some_and(|a| (0.0..=1.0).contains(&a)), "{v}");
    let (status, text) = http(addr, "POST", "/predict", r#"{"data_index": 7}"#);
    assert_eq!(status, 200, "{text}");
    let p = json(&text);
    assert_eq!(p["cluster_probabilities"].as_array().map(Vec::len), Some(4), "{p}");
    let body = r#"{"dataset_name": "gauss3-noise", "model": "dec", "mse_epochs": 1, "con_epochs": 1}"#;
    let (status, text) = http(addr, "POST", "/train", body);
    assert!((400..500).contains(&status), "{status} {text}");
    assert!(text.contains("the DEC model trains on one view"), "{text}");
}

/// A run whose clusters settle (`stop_tolerance`) says where its clustering phase ended: the
/// response's `converged` names the refresh's epoch, and the run record keeps it.
#[test]
fn a_run_that_settles_says_so_through_the_api() {
    let (server, runs) = start();
    let addr = server.addr;
    // Fewer than 90 % of the samples changing cluster between the targets of epochs 1 and 3.
    let body = r#"{"dataset_name": "gauss3-noise", "model": "dec", "view_names": ["signal-b"], "mse_epochs": 2,
                   "con_epochs": 6, "target_refresh": 2, "stop_tolerance": 0.9, "batch_size": 100, "seed": 3}"#;
    let (status, text) = http(addr, "POST", "/train", body);
    assert_eq!(status, 200, "{text}");
    let v = json(&text);
    assert_eq!(v["converged"]["epoch"], 3, "{v}");
    assert!(v["converged"]["changed"].as_f64().is_some_and(|c| c < 0.9), "{v}");
    let message = v["converged"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("after 2 of 6 epochs"), "{message}");
    assert_eq!(v["epochs"], 4, "two pre-training and two clustering epochs: {v}");
    let store = mvc_workbench::runs::RunStore::open(runs.path()).unwrap();
    let records = store.list().runs;
    let results = records.iter().find_map(|r| r.results.as_ref()).expect("the run is recorded");
    assert_eq!(results.converged.map(|c| c.epoch), Some(3), "{results:?}");
    // 0 trains every epoch and reports nothing.
    let body = body.replace(r#""stop_tolerance": 0.9"#, r#""stop_tolerance": 0"#);
    let v = json(&http(addr, "POST", "/train", &body).1);
    assert!(v.get("converged").is_none(), "{v}");
    assert_eq!(v["epochs"], 8, "{v}");
}

/// `/train`'s `preprocess` (`zscore`, `auto`) scales the data as asked and the run record says
/// so; an unknown scaling is refused with its name.
#[test]
fn train_with_z_score_preprocessing_through_the_api() {
    let (server, runs) = start();
    let addr = server.addr;
    let body = r#"{"dataset_name": "gauss3-noise", "preprocess": "zscore", "mse_epochs": 1, "con_epochs": 1,
                   "batch_size": 100, "seed": 3}"#;
    let (status, text) = http(addr, "POST", "/train", body);
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text)["status"], "success", "{text}");
    let records: Vec<String> = std::fs::read_dir(runs.path())
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("run.json")).ok())
        .collect();
    assert_eq!(records.len(), 1, "one run recorded");
    assert_eq!(json(&records[0])["dataset"]["preprocess"], "zscore", "{}", records[0]);
    let body = r#"{"dataset_name": "gauss3-noise", "preprocess": "auto", "mse_epochs": 1, "con_epochs": 1,
                   "batch_size": 100, "seed": 3}"#;
    let (status, text) = http(addr, "POST", "/train", body);
    assert_eq!(status, 200, "{text}");
    let records: Vec<String> = std::fs::read_dir(runs.path())
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("run.json")).ok())
        .collect();
    assert_eq!(records.len(), 2, "two runs recorded");
    let auto = records.iter().map(|r| json(r)).find(|r| r["dataset"]["preprocess"] == "auto").expect("{records:?}");
    // What each view got: gauss3-noise's three dense views are z-scored.
    assert_eq!(auto["dataset"]["view_scalings"], serde_json::json!(["zscore", "zscore", "zscore"]), "{auto}");
    let body = r#"{"dataset_name": "gauss3-noise", "preprocess": "whiten", "mse_epochs": 1, "con_epochs": 1}"#;
    assert_error(addr, "POST", "/train", body, 400, &["whiten"]);
}

/// A dataset whose name has a preset that carries a scaling (`Prokaryotic`: as stored) is
/// scaled that way by `/train` unless the request names a scaling.
#[test]
fn the_prokaryotic_preset_scales_as_stored_unless_the_request_says() {
    let served = tempfile::tempdir().unwrap();
    let ds = data::builtin::generate("gauss3-noise").unwrap();
    data::save_dataset(&ds, &served.path().join("Prokaryotic.mat")).unwrap();
    let (server, runs) = start_with(Some(served.path().to_path_buf()), Limits::default());
    let addr = server.addr;
    // The recorded runs' scalings, sorted.
    let scalings = || -> Vec<String> {
        let mut got: Vec<String> = std::fs::read_dir(runs.path())
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("run.json")).ok())
            .map(|r| json(&r)["dataset"]["preprocess"].as_str().unwrap_or("?").to_owned())
            .collect();
        got.sort();
        got
    };
    let body = r#"{"dataset_name": "Prokaryotic", "mse_epochs": 1, "con_epochs": 1, "batch_size": 100, "seed": 3}"#;
    let (status, text) = http(addr, "POST", "/train", body);
    assert_eq!(status, 200, "{text}");
    assert_eq!(scalings(), ["none"]);
    let body = r#"{"dataset_name": "Prokaryotic", "preprocess": "minmax", "mse_epochs": 1, "con_epochs": 1,
                   "batch_size": 100, "seed": 3}"#;
    let (status, text) = http(addr, "POST", "/train", body);
    assert_eq!(status, 200, "{text}");
    assert_eq!(scalings(), ["minmax", "none"]);
}
