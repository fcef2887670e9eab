//! `serve` through a real server on an ephemeral loopback port: the seed's two `curl`
//! examples, every error path, live progress and stop, one run at a time, 20 concurrent
//! `/predict` requests, and the OpenAPI description.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mvc_workbench::data::{self, Preprocess};
use mvc_workbench::engine::config::DeviceChoice;
use mvc_workbench::serve::{RunningServer, ServeOptions};
use serde_json::Value;

fn start() -> (RunningServer, tempfile::TempDir) {
    let runs = tempfile::tempdir().unwrap();
    let opts = ServeOptions { datasets_dir: None, runs_dir: runs.path().to_path_buf(), device: DeviceChoice::Flex };
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
            std::thread::spawn(move || http(addr, "POST", "/predict", &format!(r#"{{"data_index": {}}}"#, i * 29)))
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
    let long = std::thread::spawn(move || {
        http(addr, "POST", "/train", r#"{"dataset_name": "rings-moons", "mse_epochs": 500, "con_epochs": 500}"#)
    });
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
    for (path, method) in
        [("/train", "post"), ("/predict", "post"), ("/runs", "get"), ("/runs/{id}", "get"), ("/runs/{id}/stop", "post")]
    {
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
