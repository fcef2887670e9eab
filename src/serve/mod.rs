//! `serve`: the seed system's HTTP API (`POST /train`, `POST /predict`) on the engine.
//!
//! The routes, their bodies and the error rules are described by `GET /openapi.json`
//! (built with `utoipa` from the types in `api.rs`) and, for a person, by the page at `GET /`.
//!
//! - Training runs on the engine's `mvc-trainer` thread, never on a request thread.
//!   `POST /train` answers when the run ends, as the seed's did; meanwhile
//!   `GET /runs/{id}` reports live progress and `POST /runs/{id}/stop` ends the run
//!   (its results so far are kept). One run at a time: a second `/train` gets 409.
//! - A dedicated `mvc-serve-events` thread reads the trainer's events, keeps each run's
//!   record up to date and, when a run ends, loads its checkpoint and evaluates the whole
//!   dataset once; `/predict` then answers from that evaluation (and, for
//!   `return_reconstruction`, from the loaded network on a blocking thread).
//! - No handler blocks the async runtime: channel sends to the trainer are `try_send`,
//!   dataset lookups and loads and network passes run on blocking threads (`spawn_blocking`).
//! - A request head must arrive within 10 s (else the connection is closed), bodies are limited
//!   (1 MiB by default, 413) and must arrive within 10 s (408), and every handler but
//!   `/train`'s wait for its run answers within 30 s (503): see [`Limits`].
//! - Every client mistake (malformed JSON, a wrong type, a value out of range, an unknown field,
//!   dataset or run, a path as `dataset_name`, predict before any train) is a 4xx with a JSON
//!   body `{"status": "error", "code": …, "detail": "…"}` ([`ServeError`] decides the code);
//!   nothing a client sends can panic the server.
//!
//! Files: `api.rs` (bodies), `error.rs` (`ServeError` → status), `limits.rs` (body limit and
//! timeouts), `conn.rs` (the request-head timeout of each connection), `datasets.rs`
//! (`dataset_name` → file), `state.rs` (run records, the event thread, the trained model),
//! `jobs.rs` (`/train` as a background job), `routes.rs` (handlers, OpenAPI, router), this file
//! (options and the server's lifecycle).

pub(crate) mod api;
mod conn;
mod datasets;
mod error;
pub(crate) mod jobs;
mod limits;
mod routes;
mod state;
mod update;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use api::{
    ApiConvergence, ApiLosses, ApiMetrics, PredictRequest, PredictResponse, RunStatus, StopResponse, TrainRequest,
    TrainResponse,
};
pub use error::{ErrorBody, ServeError};
pub use limits::{Limits, MAX_BATCH_SIZE, MAX_EPOCHS};
pub use routes::{openapi, router};
pub use state::ServeState;

use conn::HeadTimeoutListener;

use crate::engine::config::DeviceChoice;

/// The address `serve` binds by default (the seed's port, loopback only).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8919";

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Folder whose `.mat` files `dataset_name` may name (besides the built-in datasets).
    pub datasets_dir: Option<PathBuf>,
    /// The run store: each run is recorded in its own folder there (`<id>/run.json`, its epochs and
    /// its checkpoint), which `GET /runs` lists.
    pub runs_dir: PathBuf,
    /// Device of the runs (the request cannot change it).
    pub device: DeviceChoice,
    /// Body size and time limits of each request.
    pub limits: Limits,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            datasets_dir: None,
            runs_dir: crate::runs::runs_dir(None),
            device: DeviceChoice::Auto,
            limits: Limits::default(),
        }
    }
}

/// Whether serving on `addr` needs the explicit opt-in for other machines.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// The server's tokio runtime: two workers and at most [`BLOCKING_THREADS`] blocking threads
/// (dataset loads, reconstructions), all named `mvc-serve-io`.
fn io_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_name("mvc-serve-io")
        .enable_all()
        .build()
}

/// Most blocking threads of the server's runtime.
const BLOCKING_THREADS: usize = 8;

/// A server running on its own `mvc-serve` thread (used by tests and embedders).
pub struct RunningServer {
    pub addr: SocketAddr,
    state: ServeState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    /// Binds `addr` (port 0 picks a free one) and serves until [`RunningServer::stop`] or drop.
    pub fn start(addr: SocketAddr, opts: ServeOptions) -> std::io::Result<RunningServer> {
        let runtime = io_runtime()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
        let addr = listener.local_addr()?;
        let listener = HeadTimeoutListener::new(listener, opts.limits.head_timeout);
        let state = ServeState::new(opts)?;
        let app = router(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("mvc-serve".into()).spawn(move || {
            runtime.block_on(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        rx.await.ok();
                    })
                    .await
                    .ok();
            });
            runtime.shutdown_timeout(Duration::from_secs(2));
        })?;
        Ok(RunningServer { addr, state, shutdown: Some(tx), thread: Some(thread) })
    }

    /// Stops the active run and the server, and waits for it.
    pub fn stop(mut self) {
        self.close();
    }

    fn close(&mut self) {
        self.state.stop_active();
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.close();
    }
}

/// Serves on `addr` until Ctrl-C (the `serve` command).
pub fn serve_blocking(addr: SocketAddr, opts: ServeOptions) -> Result<(), String> {
    let runtime = io_runtime().map_err(|e| format!("cannot start the server's runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            format!("cannot listen on {addr}: {e} (is another server using the port? try --addr 127.0.0.1:0)")
        })?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let listener = HeadTimeoutListener::new(listener, opts.limits.head_timeout);
        let state = ServeState::new(opts).map_err(|e| format!("cannot start the trainer thread: {e}"))?;
        eprintln!("MVC Workbench API listening on http://{bound}  (routes: GET /, GET /openapi.json; Ctrl-C stops)");
        let stopper = state.clone();
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async move {
                tokio::signal::ctrl_c().await.ok();
                eprintln!("stopping: the active run (if any) ends after its current batch");
                stopper.stop_active();
            })
            .await
            .map_err(|e| format!("the server stopped with an error: {e}"))
    })
}
