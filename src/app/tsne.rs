//! t-SNE (and an instant PCA) of embedding snapshots, on the `mvc-tsne` worker thread.
//!
//! The worker runs [`bhtsne`] 0.7 in `analysis::embed`'s schedule (`run_phases`, on exact
//! neighbours from `affinity_neighbours`), the same as the `tsne` command: its per-epoch callback streams
//! intermediate layouts (so the scatter animates while t-SNE converges), its
//! initial embedding gives seeded, reproducible runs and warm starts from the
//! previous layout (successive snapshots move smoothly instead of jumping).
//!
//! Every job first sends a PCA projection (milliseconds), then streams t-SNE
//! layouts. Parameters are checked before any work ([`validate`], in `tsne_params.rs`): bhtsne
//! panics on a perplexity too large for the sample count, we return a
//! sentence instead.
//!
//! Control (pause, resume, cancel, a newer job) is read between t-SNE
//! iterations inside the epoch callback. bhtsne has no way to stop a fit early,
//! so an interrupted fit unwinds out of the callback with a private payload
//! ([`std::panic::resume_unwind`], which does not run the panic hook) and the
//! worker catches exactly that payload. The callback runs on the worker
//! thread between iterations, outside any rayon scope, so nothing is left
//! half-updated: the interrupted `tSNE` value is simply dropped. Any other
//! panic inside a fit becomes that job's `Failed` update; one outside a fit
//! ends the thread, which [`TsneWorker::crashed`] reports (the app then starts
//! a fresh worker).

use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError, bounded};
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

pub use super::tsne_params::{TsneError, TsneMethod, TsneParams, pca_2d, stratified_subsample, validate};
use super::worker::{Poll, Worker, injected_crash, panic_message};
use crate::analysis::embed::{Real, affinity_neighbours, bhtsne_theta, cold_start, run_phases, schedule};

/// One t-SNE request.
#[derive(Debug, Clone)]
pub struct TsneJob {
    pub job_id: u64,
    /// Row-major `n × dim` features of the points.
    pub data: Vec<f32>,
    pub dim: usize,
    /// A warm start: the previous layout of each point where known. When at
    /// least half the points have one, the fit starts there without early
    /// exaggeration; the others are placed by PCA at the layout's scale.
    pub warm_start: Option<Vec<Option<[f32; 2]>>>,
    pub params: TsneParams,
}

/// What the worker reports; coordinates are row-major `n × 2`.
#[derive(Debug, Clone)]
pub enum TsneUpdate {
    /// The PCA projection, sent before the t-SNE starts.
    Pca {
        job_id: u64,
        coords: Vec<f32>,
    },
    /// An intermediate t-SNE layout.
    Progress {
        job_id: u64,
        iteration: usize,
        total: usize,
        coords: Vec<f32>,
    },
    Done {
        job_id: u64,
        coords: Vec<f32>,
        secs: f64,
    },
    Failed {
        job_id: u64,
        reason: String,
    },
}

enum Request {
    Run(Box<TsneJob>),
    Pause,
    Resume,
    Cancel,
    Shutdown,
    /// The crash test hook: the thread panics when it reads this.
    Crash,
}

/// Why a fit stopped before the end.
enum Interrupt {
    Superseded(Box<TsneJob>),
    Cancelled,
    Shutdown,
    Crash,
}

/// The payload an interrupted fit unwinds with.
struct Interrupted;

/// Handle to the `mvc-tsne` thread. Dropping it stops the thread.
pub struct TsneWorker {
    requests: Sender<Request>,
    updates: Receiver<TsneUpdate>,
    /// The thread (under `catch_unwind`); `None` once it has ended.
    thread: Option<Worker<()>>,
    paused: bool,
    next_job_id: u64,
}

/// Called by the worker after each update it sends (e.g. `egui::Context::request_repaint`).
pub type Wake = Box<dyn Fn() + Send>;

impl TsneWorker {
    /// Starts the `mvc-tsne` thread.
    pub fn spawn(wake: Wake) -> std::io::Result<Self> {
        // Requests are rare (one per snapshot or click); updates are superseded by the next one.
        let (req_tx, req_rx) = bounded::<Request>(16);
        let (upd_tx, upd_rx) = bounded::<TsneUpdate>(8);
        let thread = Worker::spawn("mvc-tsne", move || worker(&req_rx, &upd_tx, &wake), || {})?;
        Ok(Self { requests: req_tx, updates: upd_rx, thread: Some(thread), paused: false, next_job_id: 1 })
    }

    /// A fresh job id.
    pub fn next_job_id(&mut self) -> u64 {
        let id = self.next_job_id;
        self.next_job_id += 1;
        id
    }

    /// Queues a job; it supersedes the one running.
    pub fn submit(&self, job: TsneJob) -> Result<(), String> {
        match self.requests.try_send(Request::Run(Box::new(job))) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err("the t-SNE worker is busy; try again in a moment".into()),
            Err(TrySendError::Disconnected(_)) => Err("the t-SNE worker has stopped".into()),
        }
    }

    pub fn set_paused(&mut self, paused: bool) {
        if paused != self.paused
            && self.requests.try_send(if paused { Request::Pause } else { Request::Resume }).is_ok()
        {
            self.paused = paused;
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Stops the running job (its last layout stays on screen).
    pub fn cancel(&self) {
        self.requests.try_send(Request::Cancel).ok();
    }

    /// The next update, if any (never blocks).
    pub fn try_recv(&self) -> Option<TsneUpdate> {
        self.updates.try_recv().ok()
    }

    /// Whether the thread has died, and why (never blocks). It only ends on its own
    /// by a panic, so any end counts: a worker that answers `Some` takes no more jobs.
    pub fn crashed(&mut self) -> Option<String> {
        let why = match self.thread.as_mut()?.poll() {
            Poll::Pending => return None,
            Poll::Done(()) => "it stopped".to_owned(),
            Poll::Crashed(why) => why,
        };
        self.thread = None;
        Some(why)
    }

    /// Test hook: the thread panics at the next request it reads.
    #[doc(hidden)]
    pub fn inject_crash(&self) {
        self.requests.try_send(Request::Crash).ok();
    }
}

impl Drop for TsneWorker {
    fn drop(&mut self) {
        // Drop our sender too: if the queue is full the Shutdown is refused, and the worker
        // must still end, on the disconnect, rather than leave `wait` blocked forever.
        let requests = std::mem::replace(&mut self.requests, bounded(1).0);
        requests.try_send(Request::Shutdown).ok();
        drop(requests);
        if let Some(t) = self.thread.take() {
            // The worker checks for requests between iterations, so this is short.
            t.wait();
        }
    }
}

fn worker(requests: &Receiver<Request>, updates: &Sender<TsneUpdate>, wake: &Wake) {
    let mut paused = false;
    let mut pending: Option<Box<TsneJob>> = None;
    loop {
        let mut job = match pending.take() {
            Some(j) => j,
            None => match requests.recv() {
                Ok(Request::Run(j)) => j,
                Ok(Request::Pause) => {
                    paused = true;
                    continue;
                }
                Ok(Request::Resume) => {
                    paused = false;
                    continue;
                }
                Ok(Request::Cancel) => continue,
                Ok(Request::Crash) => injected_crash(),
                Ok(Request::Shutdown) | Err(_) => return,
            },
        };
        // A job submitted while paused waits for Resume (a newer one replaces it).
        while paused {
            match requests.recv() {
                Ok(Request::Resume) => paused = false,
                Ok(Request::Run(j)) => job = j,
                Ok(Request::Pause | Request::Cancel) => {}
                Ok(Request::Crash) => injected_crash(),
                Ok(Request::Shutdown) | Err(_) => return,
            }
        }
        match run_job(&job, requests, updates, wake, &mut paused) {
            None => {}
            Some(Interrupt::Superseded(next)) => pending = Some(next),
            Some(Interrupt::Cancelled) => {}
            Some(Interrupt::Shutdown) => return,
            // Outside the fit's own `catch_unwind`: this ends the thread.
            Some(Interrupt::Crash) => injected_crash(),
        }
    }
}

fn send(updates: &Sender<TsneUpdate>, wake: &Wake, update: TsneUpdate, must_arrive: bool) {
    let sent = if must_arrive {
        updates.send_timeout(update, Duration::from_secs(2)).is_ok()
    } else {
        updates.try_send(update).is_ok()
    };
    if sent {
        wake();
    }
}

/// Runs one job; returns why it stopped early, if it did.
fn run_job(
    job: &TsneJob,
    requests: &Receiver<Request>,
    updates: &Sender<TsneUpdate>,
    wake: &Wake,
    paused: &mut bool,
) -> Option<Interrupt> {
    let TsneJob { job_id, data, dim, warm_start, params } = job;
    let job_id = *job_id;
    let dim = *dim;
    let fail = |reason: String| send(updates, wake, TsneUpdate::Failed { job_id, reason }, true);
    if dim == 0 || data.len() % dim != 0 {
        fail(TsneError::BadData(format!("{} values do not split into rows of {dim}", data.len())).to_string());
        return None;
    }
    if data.iter().any(|x| !x.is_finite()) {
        fail(TsneError::BadData("it contains NaN or infinite values".into()).to_string());
        return None;
    }
    let n = data.len() / dim;
    let started = Instant::now();
    // PCA first, even when the t-SNE settings are refused: the picture never stays empty.
    let pca = pca_2d(data, dim, params.seed);
    send(updates, wake, TsneUpdate::Pca { job_id, coords: pca.clone() }, true);
    if let Err(e) = validate(params, n) {
        fail(e.to_string());
        return None;
    }

    let (init, warm) = initial_layout(&pca, warm_start.as_deref(), n, params.seed);
    let samples: Vec<&[f32]> = data.chunks_exact(dim).collect();
    // Exact neighbours by matrix products: well under a second for the capped point counts.
    let neighbours = match affinity_neighbours(data, dim, params.perplexity) {
        Ok(nb) => nb,
        Err(e) => {
            fail(TsneError::BadData(e).to_string());
            return None;
        }
    };
    let interrupt: RefCell<Option<Interrupt>> = RefCell::new(None);
    let paused_cell = Cell::new(*paused);
    let last_sent = Cell::new(Instant::now());
    let total = params.iterations;

    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        // Iterations of the phases already run, so progress counts across them.
        let done_before = Cell::new(0);
        let mut tsne: bhtsne::tSNE<'_, Real, &[f32], 2> = bhtsne::tSNE::new(&samples);
        tsne.perplexity(Real::from(params.perplexity));
        // A warm start is already a good layout: no early exaggeration.
        let phases = schedule(n, total, None, warm);
        tsne.epoch_callback(|epoch, embedding: &[Real]| {
            if let Some(why) = check_requests(requests, &paused_cell) {
                *interrupt.borrow_mut() = Some(why);
                std::panic::resume_unwind(Box::new(Interrupted));
            }
            let iteration = done_before.get() + epoch + 1;
            let last = iteration == total;
            if !last && last_sent.get().elapsed() >= Duration::from_millis(50) {
                last_sent.set(Instant::now());
                let coords = embedding.iter().map(|&x| x as f32).collect();
                let update = TsneUpdate::Progress { job_id, iteration, total, coords };
                send(updates, wake, update, false);
            }
        });
        let mut phase = 0;
        run_phases(&mut tsne, &phases, init, |t| {
            match params.method {
                TsneMethod::BarnesHut => t.barnes_hut_with_neighbors(bhtsne_theta(params.theta), &neighbours),
                TsneMethod::Fft => t.fit_sne_with_neighbors(&neighbours),
            };
            done_before.set(done_before.get() + phases[phase].iterations);
            phase += 1;
        })
    }));
    *paused = paused_cell.get();
    match outcome {
        Ok(coords) => {
            let secs = started.elapsed().as_secs_f64();
            send(updates, wake, TsneUpdate::Done { job_id, coords, secs }, true);
            None
        }
        Err(payload) if payload.is::<Interrupted>() => interrupt.into_inner(),
        Err(payload) => {
            fail(TsneError::Internal(panic_message(payload.as_ref())).to_string());
            None
        }
    }
}

/// Reads the pending requests between iterations; blocks while paused.
fn check_requests(requests: &Receiver<Request>, paused: &Cell<bool>) -> Option<Interrupt> {
    loop {
        let next =
            if paused.get() { requests.recv().map_err(|_| TryRecvError::Disconnected) } else { requests.try_recv() };
        match next {
            Ok(Request::Pause) => paused.set(true),
            Ok(Request::Resume) => paused.set(false),
            Ok(Request::Cancel) => return Some(Interrupt::Cancelled),
            Ok(Request::Run(job)) => return Some(Interrupt::Superseded(job)),
            Ok(Request::Shutdown) | Err(TryRecvError::Disconnected) => return Some(Interrupt::Shutdown),
            Ok(Request::Crash) => return Some(Interrupt::Crash),
            Err(TryRecvError::Empty) => return None,
        }
    }
}

/// The starting layout and whether it is a warm start.
fn initial_layout(pca: &[f32], warm: Option<&[Option<[f32; 2]>]>, n: usize, seed: u64) -> (Vec<f32>, bool) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7473_6e65);
    let std_of = |xs: &mut dyn Iterator<Item = f32>| {
        let v: Vec<f32> = xs.collect();
        let m = v.iter().sum::<f32>() / v.len().max(1) as f32;
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len().max(1) as f32).sqrt()
    };
    let pca_std = std_of(&mut pca.iter().step_by(2).copied()).max(1e-12);
    if let Some(prev) = warm
        && prev.len() == n
        && prev.iter().filter(|p| p.is_some()).count() * 2 >= n
    {
        let known_std = std_of(&mut prev.iter().flatten().map(|p| p[0])).max(1e-6);
        let scale = known_std / pca_std;
        let mut out = Vec::with_capacity(n * 2);
        for (i, p) in prev.iter().enumerate() {
            match p {
                Some(xy) => out.extend_from_slice(xy),
                None => {
                    out.push(pca[2 * i] * scale + rng.random::<f32>() * 1e-3);
                    out.push(pca[2 * i + 1] * scale + rng.random::<f32>() * 1e-3);
                }
            }
        }
        return (out, true);
    }
    (cold_start(pca, 2, seed), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_streams_and_finishes() {
        let mut w = TsneWorker::spawn(Box::new(|| {})).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let data: Vec<f32> = (0..120)
            .flat_map(|i| (0..4).map(move |j| ((i % 3) * 10 + j) as f32))
            .map(|x| x + rng.random::<f32>())
            .collect();
        let id = w.next_job_id();
        let params = TsneParams { perplexity: 10.0, iterations: 300, ..TsneParams::default() };
        w.submit(TsneJob { job_id: id, data, dim: 4, warm_start: None, params }).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut pca, mut done) = (false, None);
        while Instant::now() < deadline && done.is_none() {
            match w.try_recv() {
                Some(TsneUpdate::Pca { .. }) => pca = true,
                Some(TsneUpdate::Done { coords, .. }) => done = Some(coords),
                Some(TsneUpdate::Failed { reason, .. }) => panic!("{reason}"),
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        assert!(pca);
        let coords = done.expect("t-SNE finished");
        assert_eq!(coords.len(), 240);
        assert!(coords.iter().all(|c| c.is_finite()));
    }

    #[test]
    fn a_bad_perplexity_fails_with_a_sentence() {
        let mut w = TsneWorker::spawn(Box::new(|| {})).unwrap();
        let id = w.next_job_id();
        w.submit(TsneJob { job_id: id, data: vec![0.5; 40], dim: 2, warm_start: None, params: TsneParams::default() })
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "no answer");
            if let Some(TsneUpdate::Failed { reason, .. }) = w.try_recv() {
                assert!(reason.contains("perplexity"), "{reason}");
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_dead_worker_is_reported_and_takes_no_jobs() {
        let mut w = TsneWorker::spawn(Box::new(|| {})).unwrap();
        assert_eq!(w.crashed(), None);
        w.inject_crash();
        let deadline = Instant::now() + Duration::from_secs(10);
        let why = loop {
            if let Some(why) = w.crashed() {
                break why;
            }
            assert!(Instant::now() < deadline, "the crash was not reported");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(why, crate::app::worker::INJECTED_CRASH);
        // Reported once; the dead thread refuses new jobs with a sentence.
        assert_eq!(w.crashed(), None);
        let id = w.next_job_id();
        let job = TsneJob { job_id: id, data: vec![0.5; 40], dim: 2, warm_start: None, params: TsneParams::default() };
        assert_eq!(w.submit(job), Err("the t-SNE worker has stopped".into()));
    }
}
