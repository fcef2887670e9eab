//! The command side of a running run, shared by CVC-AFWM's run (`trainer::run::Run`) and the
//! metric-learning baselines' (`baseline::BaselineRun`): pause, resume, stop, shutdown and
//! snapshot requests, read between batches, and live-parameter updates handed back to the run,
//! which alone knows which parameters it can change. Events go out without blocking: a full or
//! closed channel drops them (the UI drains it every frame; a closed one means nobody listens).

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use super::protocol::{Command, Event, LiveParams};

/// How long a paused run waits for a command before looking again.
const PAUSED_POLL: Duration = Duration::from_millis(100);

/// A run's channels and the state its commands set.
#[derive(Debug)]
pub(crate) struct Control<'a> {
    commands: &'a Receiver<Command>,
    events: &'a Sender<Event>,
    pub paused: bool,
    /// Stop at the next batch (a `Stop`, a `Shutdown`, or the command channel closed).
    pub stop: bool,
    /// The trainer thread ends after this run.
    pub shutdown: bool,
    /// A snapshot of the embedding was asked for.
    pub snapshot_requested: bool,
}

impl<'a> Control<'a> {
    pub fn new(commands: &'a Receiver<Command>, events: &'a Sender<Event>) -> Self {
        Control { commands, events, paused: false, stop: false, shutdown: false, snapshot_requested: false }
    }

    pub fn send(&self, e: Event) {
        match self.events.try_send(e) {
            Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Handles every pending command; returns the live-parameter updates among them, in order, for
    /// the run to apply (and answer with `ParamsApplied` or a warning).
    pub fn drain(&mut self) -> Vec<LiveParams> {
        let mut live = Vec::new();
        while let Ok(cmd) = self.commands.try_recv() {
            live.extend(self.handle(cmd));
        }
        live
    }

    /// Whether the run must wait here: paused and not stopped.
    pub fn holding(&self) -> bool {
        self.paused && !self.stop
    }

    /// While paused: waits a moment for one command and handles it.
    pub fn wait(&mut self) -> Option<LiveParams> {
        match self.commands.recv_timeout(PAUSED_POLL) {
            Ok(cmd) => self.handle(cmd),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                self.stop = true;
                self.shutdown = true;
                None
            }
        }
    }

    fn handle(&mut self, cmd: Command) -> Option<LiveParams> {
        match cmd {
            Command::Start { .. } => {
                self.send(Event::Warning("a run is already active; stop it before starting another".into()))
            }
            Command::Pause if !self.paused => {
                self.paused = true;
                self.send(Event::Paused);
            }
            Command::Resume if self.paused => {
                self.paused = false;
                self.send(Event::Resumed);
            }
            Command::Pause | Command::Resume => {}
            Command::Stop => self.stop = true,
            Command::Shutdown => {
                self.stop = true;
                self.shutdown = true;
            }
            Command::Update(p) => return Some(p),
            Command::Snapshot => self.snapshot_requested = true,
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use crossbeam_channel::bounded;

    use super::*;

    #[test]
    fn commands_set_the_state_and_live_parameters_come_back() {
        let (cmd_tx, cmd_rx) = bounded(8);
        let (ev_tx, ev_rx) = bounded(8);
        let mut c = Control::new(&cmd_rx, &ev_tx);
        let live = LiveParams { knn_weight: Some(0.2), ..LiveParams::default() };
        for cmd in [Command::Pause, Command::Pause, Command::Update(live.clone()), Command::Snapshot] {
            cmd_tx.send(cmd).unwrap();
        }
        assert_eq!(c.drain(), vec![live]);
        assert!(c.paused && c.holding() && c.snapshot_requested);
        assert!(matches!(ev_rx.try_recv(), Ok(Event::Paused)));
        assert!(ev_rx.try_recv().is_err(), "a second Pause is not announced");
        cmd_tx.send(Command::Resume).unwrap();
        assert_eq!(c.wait(), None);
        assert!(!c.holding() && matches!(ev_rx.try_recv(), Ok(Event::Resumed)));
        drop(cmd_tx);
        c.paused = true;
        assert_eq!(c.wait(), None);
        assert!(c.stop && c.shutdown && !c.holding(), "a closed command channel stops the run and the thread");
    }
}
