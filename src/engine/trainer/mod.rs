//! The trainer thread: owns the model and its device, runs the two phases,
//! and speaks the protocol of [`crate::engine::protocol`].
//!
//! Commands are read between batches, so pause, stop and live parameter
//! changes take effect at the next batch. Events go out with `try_send`
//! (high-rate ones are coalesced and may be dropped; epoch-level ones are
//! also kept in the run's history), terminal events with a bounded wait: a
//! slow or absent receiver never stalls training.

//!
//! `mod.rs` holds the thread and its handle; `run.rs` a run's state, its phases and its end;
//! `epoch.rs` one epoch's batch loop and the contrastive phase's adaptive steps; `adam.rs` the
//! optimiser's fused CPU step.

use std::panic::AssertUnwindSafe;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{ModuleOptimizer, SgdConfig};
use crossbeam_channel::{Receiver, Sender, bounded};

use crate::engine::config::TrainConfig;
use crate::engine::error::TrainError;
use crate::engine::protocol::{COMMAND_CAPACITY, Command, EVENT_CAPACITY, Event};

pub mod adam;
mod epoch;
mod run;

use run::Run;
pub(crate) use run::check_views;

/// The caller's side of a trainer thread.
pub struct TrainerHandle {
    pub commands: Sender<Command>,
    pub events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
}

impl TrainerHandle {
    /// A handle over a thread started elsewhere that speaks the same protocol
    /// (test doubles, e.g. a trainer that dies without a word).
    #[doc(hidden)]
    pub fn from_parts(commands: Sender<Command>, events: Receiver<Event>, thread: Option<JoinHandle<()>>) -> Self {
        Self { commands, events, thread }
    }

    /// For a thread that has ended (its event channel disconnected): the message of
    /// the panic that ended it, if one did. Waits at most `wait` for the thread to
    /// finish, then joins it; `None` if it returned normally or is still running.
    pub fn panic_message(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        while !self.thread.as_ref()?.is_finished() {
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let payload = self.thread.take()?.join().err()?;
        Some(crate::panic::message(payload.as_ref()))
    }

    /// Asks the thread to exit and waits for it (at most one batch).
    pub fn shutdown(mut self) {
        self.commands.send_timeout(Command::Shutdown, Duration::from_secs(1)).ok();
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

impl Drop for TrainerHandle {
    fn drop(&mut self) {
        // Do not block a UI on drop: ask the thread to end; it exits after the current batch.
        self.commands.try_send(Command::Shutdown).ok();
    }
}

/// Starts the `mvc-trainer` thread. Fails only if the OS cannot create a thread.
pub fn try_spawn_trainer() -> std::io::Result<TrainerHandle> {
    let (cmd_tx, cmd_rx) = bounded::<Command>(COMMAND_CAPACITY);
    let (ev_tx, ev_rx) = bounded::<Event>(EVENT_CAPACITY);
    let thread = std::thread::Builder::new().name("mvc-trainer".into()).spawn(move || worker(&cmd_rx, &ev_tx))?;
    Ok(TrainerHandle { commands: cmd_tx, events: ev_rx, thread: Some(thread) })
}

/// Starts the `mvc-trainer` thread.
///
/// # Panics
/// Only if the operating system refuses to create a thread.
pub fn spawn_trainer() -> TrainerHandle {
    #[allow(clippy::expect_used, reason = "the panic is documented; `try_spawn_trainer` is the fallible form")]
    try_spawn_trainer().expect("the operating system could not start the trainer thread")
}

fn worker(cmd_rx: &Receiver<Command>, ev_tx: &Sender<Event>) {
    loop {
        let Ok(cmd) = cmd_rx.recv() else { return };
        match cmd {
            Command::Shutdown => return,
            Command::Start { dataset, config, out_dir } => {
                let (event, shutdown) = if config.model.is_baseline() {
                    let mut run = crate::engine::baseline::BaselineRun::new(dataset, *config, out_dir, cmd_rx, ev_tx);
                    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| run.execute()));
                    (end_event(outcome, run.last_checkpoint.clone()), run.ctl.shutdown)
                } else {
                    let mut run = Run::new(dataset, *config, out_dir, cmd_rx, ev_tx);
                    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| run.execute()));
                    (end_event(outcome, run.last_checkpoint.clone()), run.ctl.shutdown)
                };
                ev_tx.send_timeout(event, Duration::from_secs(5)).ok();
                if shutdown {
                    return;
                }
            }
            Command::Pause | Command::Resume | Command::Stop => {}
            Command::Update(_) => {
                ev_tx
                    .try_send(Event::Warning("no run is active: live parameters apply to a running training".into()))
                    .ok();
            }
            Command::Snapshot => {
                ev_tx.try_send(Event::Warning("no run is active: there is no embedding to snapshot".into())).ok();
            }
        }
    }
}

/// The terminal event of a run: `Finished`, or `Failed` with the error (a panic is an internal one).
fn end_event(
    outcome: std::thread::Result<Result<crate::engine::protocol::RunSummary, TrainError>>,
    last_checkpoint: Option<std::path::PathBuf>,
) -> Event {
    match outcome {
        Ok(Ok(summary)) => Event::Finished(Box::new(summary)),
        Ok(Err(error)) => Event::Failed { error, last_checkpoint },
        Err(panic) => Event::Failed {
            error: TrainError::Internal {
                why: format!("the trainer hit an internal error: {}", crate::panic::message(panic.as_ref())),
            },
            last_checkpoint,
        },
    }
}

/// The half-cosine learning-rate factor of step `step` (0-based) of `total`:
/// `(1 + cos(π · step / total)) / 2`, 1 at the first step and falling to 0 at the end.
pub fn cosine_factor(step: usize, total: usize) -> f64 {
    if total == 0 {
        return 1.0;
    }
    let x = (step as f64 / total as f64).min(1.0);
    0.5 * (1.0 + (std::f64::consts::PI * x).cos())
}

/// The linear learning-rate warm-up factor of step `step` (0-based) over `warmup` steps:
/// `min(1, (step + 1) / warmup)`, 1 when `warmup` is 0.
pub fn lr_warmup_factor(step: usize, warmup: usize) -> f64 {
    if warmup == 0 { 1.0 } else { ((step + 1) as f64 / warmup as f64).min(1.0) }
}

/// `min(1, epoch / warmup)` for the 1-based contrastive `epoch` (1 when `warmup` is 0).
pub fn warmup_factor(epoch: usize, warmup: usize) -> f32 {
    if warmup == 0 { 1.0 } else { (epoch as f32 / warmup as f32).min(1.0) }
}

/// Adam as the seed configures it (PyTorch's epsilon, optional weight decay), in one fused pass
/// per parameter on `flex` (`adam::FusedAdam`; burn's own Adam on other devices).
pub fn adam(cfg: &TrainConfig) -> ModuleOptimizer {
    let decay = (cfg.weight_decay > 0.0).then_some(cfg.weight_decay as f32);
    ModuleOptimizer::from(adam::FusedAdam::new(1e-8, decay))
}

/// SGD with momentum as PyTorch's `optim.SGD(lr, momentum)` (no dampening, no Nesterov):
/// seed 004's clustering phase.
pub fn sgd(cfg: &TrainConfig) -> ModuleOptimizer {
    let decay = (cfg.weight_decay > 0.0).then(|| WeightDecayConfig::new(cfg.weight_decay as f32));
    let momentum = (cfg.momentum > 0.0).then(|| MomentumConfig::new().with_momentum(cfg.momentum).with_dampening(0.0));
    SgdConfig::new().with_momentum(momentum).with_weight_decay(decay).init()
}

/// The StepLR factor of contrastive epoch `epoch` (1-based): `gamma^⌊(epoch − 1) / step⌋`, 1 when
/// `step` is 0.
pub fn step_factor(epoch: usize, step: usize, gamma: f64) -> f64 {
    epoch.saturating_sub(1).checked_div(step).map_or(1.0, |n| gamma.powi(n as i32))
}
