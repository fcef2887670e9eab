//! The CSV tables of the figures' data.

use std::fmt::Write as _;

use crate::engine::protocol::{EpochReport, Phase};

use super::{Figure, RunExport};

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

fn phase_str(p: Phase) -> &'static str {
    match p {
        Phase::Pretrain => "pretrain",
        Phase::Contrastive => "contrastive",
    }
}

pub(super) fn view_name(run: &RunExport, v: usize) -> String {
    run.dataset.view_names.get(v).cloned().unwrap_or_else(|| format!("view {}", v + 1))
}

pub(super) fn class_name(run: &RunExport, k: usize) -> String {
    run.dataset.class_names.get(k).cloned().unwrap_or_else(|| k.to_string())
}

pub(super) fn csv_of(run: &RunExport, fig: Figure) -> String {
    let mut out = String::new();
    match fig {
        Figure::Losses => {
            out.push_str("global_epoch,phase,epoch,rec,cluster,local,kl,label,triplet,total,secs\n");
            for e in &run.epochs {
                let l = &e.losses;
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{}",
                    e.global_epoch,
                    phase_str(e.phase),
                    e.epoch,
                    l.rec,
                    l.cluster,
                    l.local,
                    l.kl,
                    l.label,
                    l.triplet,
                    l.total,
                    e.secs
                );
            }
        }
        Figure::Metrics => {
            let n_views = run.metrics.iter().map(|m| m.per_view_acc.len()).max().unwrap_or(0);
            out.push_str("global_epoch");
            let baseline = run.metrics.iter().any(|m| m.triplet.is_some());
            // A baseline's `mean_q` and `kmeans_z` are k-means on the test embeddings, its `vcf`
            // the kNN classifier; its kNN accuracy and margin violations follow.
            for r in ["mean_q", "vcf", "kmeans_z"] {
                for m in ["acc", "nmi", "ari", "purity"] {
                    let _ = write!(out, ",{r}_{m}");
                }
            }
            if baseline {
                out.push_str(",test_knn_acc,test_violations");
            }
            for v in 0..n_views {
                let _ = write!(out, ",{}", csv_field(&format!("acc_{}", view_name(run, v))));
            }
            out.push('\n');
            for m in &run.metrics {
                let _ = write!(out, "{}", m.global_epoch);
                for s in [&m.mean_q, &m.vcf, &m.kmeans_z] {
                    let _ = write!(out, ",{},{},{},{}", s.acc, s.nmi, s.ari, s.purity);
                }
                if baseline {
                    match m.triplet {
                        Some(t) => {
                            let _ = write!(out, ",{},{}", t.knn_acc, t.violations);
                        }
                        None => out.push_str(",,"),
                    }
                }
                for v in 0..n_views {
                    let _ = write!(out, ",{}", m.per_view_acc.get(v).map_or(String::new(), ToString::to_string));
                }
                out.push('\n');
            }
        }
        Figure::ViewWeights | Figure::ViewWeightHistory => {
            let n_views = run.epochs.iter().map(|e| e.view_weights.len()).max().unwrap_or(0);
            out.push_str("global_epoch,phase");
            for v in 0..n_views {
                let _ = write!(out, ",{}", csv_field(&view_name(run, v)));
            }
            out.push('\n');
            let rows: Vec<&EpochReport> = if fig == Figure::ViewWeights {
                run.epochs.last().into_iter().collect()
            } else {
                run.epochs.iter().collect()
            };
            for e in rows {
                let _ = write!(out, "{},{}", e.global_epoch, phase_str(e.phase));
                for v in 0..n_views {
                    let _ = write!(out, ",{}", e.view_weights.get(v).map_or(String::new(), ToString::to_string));
                }
                out.push('\n');
            }
        }
        Figure::Embedding => {
            out.push_str("index,x,y,true_label,true_name,predicted,predicted_name,predicted_cluster,confidence,uncertainty,method,feature,epoch\n");
            if let Some(e) = &run.embedding {
                for (i, (&row, xy)) in e.rows.iter().zip(&e.coords).enumerate() {
                    let truth = e.true_labels.as_ref().and_then(|t| t.get(i)).copied();
                    let aligned = e.predicted_aligned.as_ref().and_then(|t| t.get(i)).copied();
                    let cluster = e.predicted.get(i).copied().unwrap_or(0);
                    let _ = writeln!(
                        out,
                        "{row},{},{},{},{},{},{},{cluster},{},{},{},{},{}",
                        xy[0],
                        xy[1],
                        truth.map_or(String::new(), |t| t.to_string()),
                        truth.map_or(String::new(), |t| csv_field(&class_name(run, t))),
                        aligned.unwrap_or(cluster),
                        aligned.map_or(String::new(), |a| csv_field(&class_name(run, a))),
                        e.confidence.get(i).copied().unwrap_or(f32::NAN),
                        e.uncertainty.get(i).map_or(String::new(), ToString::to_string),
                        csv_field(&e.method),
                        csv_field(&e.feature),
                        e.epoch
                    );
                }
            }
        }
        Figure::ClusterProbabilities => {
            out.push_str("index,cluster,matched_class,probability\n");
            if let Some(s) = &run.selected {
                for (k, q) in s.q.iter().enumerate() {
                    let name = s.cluster_names.get(k).cloned().unwrap_or_default();
                    let _ = writeln!(out, "{},{k},{},{q}", s.row, csv_field(&name));
                }
            }
        }
        Figure::Confusion => out = super::confusion::csv(run),
    }
    out
}

// ---------------------------------------------------------------------------
// Figures
