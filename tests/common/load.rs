//! A small load generator for `serve`, shared by `tests/serve.rs` (a CI-sized run) and
//! `benches/serve_load.rs` (the full run): `concurrency` named client threads, each with one
//! keep-alive HTTP/1.1 connection on loopback, send `total` `POST /predict` requests while a
//! `POST /train` runs on the same server; every answer must be a 200 with `"status":"success"`.
#![allow(dead_code, reason = "each test binary that includes this module uses part of it")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One keep-alive connection.
pub struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    fn connect(&mut self) -> std::io::Result<&mut BufReader<TcpStream>> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(600)))?;
            self.conn = Some(BufReader::new(s));
        }
        self.conn.as_mut().ok_or_else(|| std::io::Error::other("no connection"))
    }

    /// Sends one request; returns the status and the body. A failed exchange drops the
    /// connection (the next request opens a new one).
    pub fn request(&mut self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let result = self.exchange(method, path, body);
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn exchange(&mut self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let addr = self.addr;
        let conn = self.connect()?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = conn.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let mut line = String::new();
        conn.read_line(&mut line)?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| bad(&line))?;
        let mut length = None;
        let mut close = false;
        loop {
            line.clear();
            if conn.read_line(&mut line)? == 0 {
                return Err(bad("the connection closed inside the headers"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse::<usize>().ok();
                } else if k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let length = length.ok_or_else(|| bad("no Content-Length"))?;
        let mut buf = vec![0; length];
        conn.read_exact(&mut buf)?;
        if close {
            self.conn = None;
        }
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    }
}

/// Resident set size of process `pid`, in KiB (0 where /proc is unavailable).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub requests: usize,
    pub concurrency: usize,
    /// Answers that were not a 200 with `"status":"success"`, and failed exchanges.
    pub errors: usize,
    /// The first few errors, for the message.
    pub error_samples: Vec<String>,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub elapsed: Duration,
    /// The background `/train`: its status and body, and whether it was running from before
    /// the first `/predict` until after the last one was answered.
    pub train_status: u16,
    pub train_body: String,
    pub train_outlasted_load: bool,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
}

impl LoadReport {
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn summary(&self) -> String {
        format!(
            "{} POST /predict at concurrency {}: {} errors, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {:.0} req/s ({:.2} s); \
             /train during the load: {} ({}); RSS {} → {} KiB",
            self.requests,
            self.concurrency,
            self.errors,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.max.as_secs_f64() * 1e3,
            self.requests_per_sec(),
            self.elapsed.as_secs_f64(),
            self.train_status,
            if self.train_outlasted_load {
                "running through the whole load"
            } else {
                "NOT running through the whole load"
            },
            self.rss_before_kib,
            self.rss_after_kib,
        )
    }
}

/// A `/predict` body for sample `i` of a dataset of `n` samples.
pub fn predict_body(i: usize, n: usize) -> String {
    format!(r#"{{"data_index": {}, "return_cluster_assignment": true, "compare_with_ground_truth": true}}"#, i % n)
}

/// Runs the load against a server that already has a model of a dataset of `n_samples`:
/// starts `train_body` as a background `/train`, waits until its run is live, sends `total`
/// predictions from `concurrency` threads, then waits for the train. `server_pid` is the
/// process whose RSS is reported.
pub fn run_load(
    addr: SocketAddr,
    server_pid: u32,
    total: usize,
    concurrency: usize,
    n_samples: usize,
    train_body: &str,
) -> LoadReport {
    let rss_before_kib = rss_kib(server_pid);
    let train_done = Arc::new(AtomicUsize::new(0));
    let train = {
        let (body, done) = (train_body.to_string(), Arc::clone(&train_done));
        std::thread::Builder::new()
            .name("load-train".into())
            .spawn(move || {
                let out = Client::new(addr).request("POST", "/train", &body);
                done.store(1, Ordering::SeqCst);
                out
            })
            .unwrap_or_else(|e| panic!("cannot start the train client: {e}"))
    };
    // The train is live once GET /runs lists a running run (the trainer has started it).
    let t0 = Instant::now();
    let mut probe = Client::new(addr);
    while t0.elapsed() < Duration::from_secs(60) && train_done.load(Ordering::SeqCst) == 0 {
        if let Ok((200, text)) = probe.request("GET", "/runs", "")
            && text.contains(r#""status":"running""#)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let train_live = train_done.load(Ordering::SeqCst) == 0;
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new((0usize, Vec::<String>::new())));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (next, errors) = (Arc::clone(&next), Arc::clone(&errors));
            std::thread::Builder::new()
                .name(format!("load-client-{w}"))
                .spawn(move || {
                    let mut client = Client::new(addr);
                    let mut latencies = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            return latencies;
                        }
                        let t = Instant::now();
                        let outcome = client.request("POST", "/predict", &predict_body(i, n_samples));
                        latencies.push(t.elapsed());
                        let problem = match outcome {
                            Ok((200, text)) if text.contains(r#""status":"success""#) => None,
                            Ok((status, text)) => {
                                Some(format!("{status}: {}", text.chars().take(300).collect::<String>()))
                            }
                            Err(e) => Some(format!("exchange failed: {e}")),
                        };
                        if let Some(p) = problem {
                            let mut e = errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            e.0 += 1;
                            if e.1.len() < 5 {
                                e.1.push(p);
                            }
                        }
                    }
                })
                .unwrap_or_else(|e| panic!("cannot start a load client: {e}"))
        })
        .collect();
    let mut latencies: Vec<Duration> = workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect();
    let elapsed = start.elapsed();
    let train_outlasted_load = train_live && train_done.load(Ordering::SeqCst) == 0;
    let (train_status, train_body) = match train.join() {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => (0, format!("the /train exchange failed: {e}")),
        Err(_) => (0, "the train client panicked".into()),
    };
    let rss_after_kib = rss_kib(server_pid);
    latencies.sort();
    let at = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    let (errors, error_samples) = {
        let e = errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (e.0 + total.saturating_sub(latencies.len()), e.1.clone())
    };
    LoadReport {
        requests: total,
        concurrency,
        errors,
        error_samples,
        p50: at(0.50),
        p99: at(0.99),
        max: latencies.last().copied().unwrap_or_default(),
        elapsed,
        train_status,
        train_body,
        train_outlasted_load,
        rss_before_kib,
        rss_after_kib,
    }
}
