//! The inspector through a run's checkpoint: once a run has ended (live, or a stored run opened
//! after a restart), the `mvc-inspect` thread evaluates every sample of the loaded dataset with
//! the run's checkpoint, so the inspector answers for any sample, not only the embedding
//! snapshot's. A stored run whose dataset is not loaded offers to load it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::data::DatasetSource;
use crate::engine::checkpoint;
use crate::engine::device::resolve;
use crate::engine::predict::{evaluate_checkpoint, snapshot_from};
use crate::engine::protocol::EmbeddingSnapshot;

use super::WorkbenchApp;
use super::worker::{Poll, Worker};

/// Every sample of the dataset through a run's checkpoint (the session's part).
#[derive(Debug, Default)]
pub struct Inspection {
    /// The whole dataset evaluated with the checkpoint (`indices` = every row).
    pub snapshot: Option<Arc<EmbeddingSnapshot>>,
    /// The checkpoint evaluated (or being evaluated).
    pub checkpoint: Option<PathBuf>,
    /// The evaluation is running.
    pub busy: bool,
    pub error: Option<String>,
    /// A stored run is open whose dataset is not the loaded one: its id and dataset.
    pub needs_dataset: Option<(String, DatasetSource)>,
}

impl Inspection {
    /// The snapshot holding dataset row `row`, and its position there: the run's own embedding
    /// snapshot first, else the checkpoint's evaluation of every sample.
    pub fn locate<'a>(
        &'a self,
        run_snapshot: Option<&'a Arc<EmbeddingSnapshot>>,
        row: usize,
    ) -> Option<(&'a EmbeddingSnapshot, usize, bool)> {
        let pos = |s: &EmbeddingSnapshot| s.indices.iter().position(|&r| r == row);
        if let Some(s) = run_snapshot
            && let Some(p) = pos(s)
        {
            return Some((s, p, false));
        }
        let s = self.snapshot.as_deref()?;
        pos(s).map(|p| (s, p, true))
    }
}

/// What the `mvc-inspect` thread hands back.
pub(super) type InspectResult = Result<EmbeddingSnapshot, String>;

impl WorkbenchApp {
    /// Evaluates every sample of the loaded dataset with the checkpoint in `dir` on the
    /// `mvc-inspect` thread. Refuses (with the reason shown in the inspector) when no dataset is
    /// loaded or the checkpoint was trained on other data.
    pub(super) fn inspect_through_checkpoint(&mut self, dir: PathBuf) {
        self.session.inspection = Inspection { checkpoint: Some(dir.clone()), ..Inspection::default() };
        if checkpoint::resolve_dir(&dir).is_ok_and(|d| d.join(checkpoint::BASELINE_FILE).is_file()) {
            self.session.inspection.error = Some(
                "a metric-learning baseline is read on its held-out test split, the embedding's points; \
                 its training samples have no reading"
                    .into(),
            );
            return;
        }
        let Some(ds) = self.session.loaded.as_ref().map(|l| Arc::clone(&l.dataset)) else {
            self.session.inspection.error = Some("no dataset is loaded".into());
            return;
        };
        let device = self.state.config.device;
        let work = move || -> InspectResult {
            let ck = checkpoint::load(&dir).map_err(|e| e.to_string())?;
            let ds = ck.views_of(&ds).map_err(|e| e.to_string())?;
            ck.check_dataset(&ds, false).map_err(|e| {
                format!(
                    "the loaded data differs from the data this run trained on (its preprocessing, variable \
                     choices or an added noise view): {e}"
                )
            })?;
            let dev = resolve(device)?;
            let (_, eval) = evaluate_checkpoint(&ck, &ds, &dev.device)?;
            Ok(snapshot_from(&eval, &ds, ck.meta.global_epoch))
        };
        let ctx = self.egui_ctx.clone();
        match Worker::spawn("mvc-inspect", work, move || ctx.request_repaint()) {
            Ok(w) => {
                self.inspector_job = Some(w);
                self.session.inspection.busy = true;
            }
            Err(e) => self.session.inspection.error = Some(format!("the inspect thread could not start: {e}")),
        }
    }

    /// Takes the `mvc-inspect` thread's result, if it has one.
    pub(super) fn receive_inspection(&mut self) {
        let Some(job) = &mut self.inspector_job else { return };
        let result = match job.poll() {
            Poll::Pending => return,
            Poll::Done(r) => r,
            Poll::Crashed(why) => Err(format!("the inspect thread crashed: {why}")),
        };
        self.inspector_job = None;
        let insp = &mut self.session.inspection;
        insp.busy = false;
        match result {
            Ok(s) => insp.snapshot = Some(Arc::new(s)),
            Err(e) => insp.error = Some(e),
        }
    }

    /// Forgets the checkpoint's evaluation (a new dataset or a new run). A running evaluation's
    /// result is dropped when it arrives.
    pub(super) fn clear_inspection(&mut self) {
        self.inspector_job = None;
        self.session.inspection = Inspection::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(indices: Vec<usize>) -> Arc<EmbeddingSnapshot> {
        Arc::new(EmbeddingSnapshot { indices, ..EmbeddingSnapshot::default() })
    }

    #[test]
    fn the_run_snapshot_comes_first_then_the_checkpoint_covers_the_rest() {
        let run = snap(vec![4, 9]);
        let insp = Inspection { snapshot: Some(snap((0..12).collect())), ..Inspection::default() };
        assert_eq!(insp.locate(Some(&run), 9).map(|(_, p, ck)| (p, ck)), Some((1, false)));
        assert_eq!(insp.locate(Some(&run), 7).map(|(_, p, ck)| (p, ck)), Some((7, true)));
        assert_eq!(Inspection::default().locate(Some(&run), 7).map(|(_, p, _)| p), None);
        assert_eq!(insp.locate(None, 12).map(|(_, p, _)| p), None);
    }
}
