//! `serve` under load: a real `mvc-workbench serve` process on loopback answers 10,000
//! `POST /predict` requests from 50 keep-alive clients while a `POST /train` runs on the
//! built-in `gauss3-noise`; prints p50 / p99 latency, throughput and the server's RSS before and
//! after, and fails on any error.
//!
//! ```sh
//! cargo test --bench serve_load -- --bench          # the full run (dev profile, as `cargo run`)
//! SERVE_LOAD_REQUESTS=2000 SERVE_LOAD_CONCURRENCY=20 cargo test --bench serve_load -- --bench
//! ```
//!
//! Under a plain `cargo test` it runs 300 requests at concurrency 10 as a smoke test. With
//! `--bench` it runs the load twice (`SERVE_LOAD_ROUNDS`), each round with its own `/train`, so
//! that the RSS after the second round shows whether memory keeps growing. `SERVE_LOAD_BIN`
//! names the `mvc-workbench` binary to start (default: the one cargo built for this bench).

#[path = "../tests/common/load.rs"]
mod load;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server process, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn start_server(runs: &std::path::Path) -> Server {
    let bin = std::env::var_os("SERVE_LOAD_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_mvc-workbench").into());
    let mut child = Command::new(bin)
        .args(["serve", "--addr", "127.0.0.1:0", "--device", "flex", "--runs"])
        .arg(runs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start mvc-workbench serve: {e}"));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr pipe"));
    let (tx, rx) = std::sync::mpsc::channel();
    // Keeps draining the server's stderr so that it never blocks on a full pipe.
    std::thread::Builder::new()
        .name("serve-stderr".into())
        .spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    tx.send(rest.split_whitespace().next().unwrap_or("").to_string()).ok();
                } else {
                    eprintln!("server: {line}");
                }
            }
        })
        .unwrap_or_else(|e| panic!("cannot start the stderr reader: {e}"));
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("the server did not report its address: {e}"))
        .parse()
        .unwrap_or_else(|e| panic!("the server's address does not parse: {e}"));
    Server { child, addr }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let total = env_or("SERVE_LOAD_REQUESTS", if benchmarking { 10_000 } else { 300 });
    let concurrency = env_or("SERVE_LOAD_CONCURRENCY", if benchmarking { 50 } else { 10 });
    let epochs = env_or("SERVE_LOAD_EPOCHS", if benchmarking { 5 } else { 2 });
    let runs = tempfile::tempdir().unwrap_or_else(|e| panic!("no temporary folder: {e}"));
    let server = start_server(runs.path());
    let pid = server.child.id();
    let mut client = load::Client::new(server.addr);

    // A first (tiny) run gives /predict its model; a warm-up fills the server's buffers.
    let t = Instant::now();
    let (status, text) = client
        .request("POST", "/train", r#"{"dataset_name": "gauss3-noise", "mse_epochs": 1, "con_epochs": 1, "seed": 1}"#)
        .unwrap_or_else(|e| panic!("the first /train failed: {e}"));
    assert_eq!(status, 200, "{text}");
    println!("first /train (1 + 1 epochs): {:.2} s, server RSS {} KiB", t.elapsed().as_secs_f64(), load::rss_kib(pid));
    for i in 0..200 {
        let (status, text) =
            client.request("POST", "/predict", &load::predict_body(i, 600)).unwrap_or_else(|e| panic!("warm-up: {e}"));
        assert_eq!(status, 200, "{text}");
    }

    println!(
        "| round | requests | concurrency | errors | p50 ms | p99 ms | max ms | req/s | RSS before KiB | RSS after KiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let rounds = env_or("SERVE_LOAD_ROUNDS", if benchmarking { 2 } else { 1 });
    let mut failures = Vec::new();
    for round in 1..=rounds {
        let train = format!(
            r#"{{"dataset_name": "gauss3-noise", "mse_epochs": {epochs}, "con_epochs": {epochs}, "seed": {}}}"#,
            round + 1
        );
        let report = load::run_load(server.addr, pid, total, concurrency, 600, &train);
        eprintln!("round {round}: {}", report.summary());
        println!(
            "| {round} | {} | {} | {} | {:.2} | {:.2} | {:.1} | {:.0} | {} | {} |",
            report.requests,
            report.concurrency,
            report.errors,
            report.p50.as_secs_f64() * 1e3,
            report.p99.as_secs_f64() * 1e3,
            report.max.as_secs_f64() * 1e3,
            report.requests_per_sec(),
            report.rss_before_kib,
            report.rss_after_kib
        );
        if report.errors > 0 {
            failures.push(format!("round {round}: {} errors, e.g. {:?}", report.errors, report.error_samples));
        }
        if report.train_status != 200 {
            failures.push(format!("round {round}: the /train answered {}: {}", report.train_status, report.train_body));
        }
        if !report.train_outlasted_load {
            eprintln!("note: round {round}'s /train did not run through the whole load; raise SERVE_LOAD_EPOCHS");
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
