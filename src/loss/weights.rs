//! The objective's configuration: each term's weight and switch, and where the DEC target comes
//! from. Plain data, so the layers above (the trainer's `TrainConfig`) hold them without the
//! objective knowing about training runs.

use serde::{Deserialize, Serialize};

/// Weight and on/off switch of one loss term.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Term {
    pub enabled: bool,
    pub weight: f32,
}

impl Term {
    pub const ON: Term = Term { enabled: true, weight: 1.0 };

    /// The factor the term enters the objective with.
    pub fn factor(&self) -> f32 {
        if self.enabled { self.weight } else { 0.0 }
    }
}

impl Default for Term {
    fn default() -> Self {
        Term::ON
    }
}

/// What each view is contrasted with in the two cross-view contrastive terms (`contrast_pairing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ContrastPairing {
    /// Every view pair, both ways (MFLVC, DealMVC): `V(V − 1)/2` terms each. A view that cannot
    /// tell two classes apart pulls every other view toward merging them.
    #[default]
    Pairs,
    /// Each view against the views' weighted consensus, detached (GCFAggMVC's and SCMVC's
    /// view-to-consensus contrast): the cluster contrast between `q_v`'s columns and those of
    /// `Σ_u w_u q_u`, the instance contrast between `h_v` and `normalize(Σ_u w_u h_u)`; `V` terms
    /// each. The consensus is a target, so a view that cannot separate two classes learns toward it
    /// without pulling the others toward its merge.
    Consensus,
    /// Each view against the other views' weighted consensus, detached (`Σ_{u≠v} w_u q_u`,
    /// renormalised, and `normalize(Σ_{u≠v} w_u h_u)`). With two views its gradient is the pairwise
    /// contrast's; with more, a view that cannot separate two classes is one voice of `V − 1`.
    Others,
}

impl std::str::FromStr for ContrastPairing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "pairs" => Ok(Self::Pairs),
            "consensus" => Ok(Self::Consensus),
            "others" => Ok(Self::Others),
            other => Err(format!("unknown contrast pairing {other:?}; use pairs, consensus or others")),
        }
    }
}

impl ContrastPairing {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pairs => "pairs",
            Self::Consensus => "consensus",
            Self::Others => "others",
        }
    }

    /// How many contrastive terms of each kind `views` views give.
    pub fn terms(self, views: usize) -> usize {
        match self {
            Self::Pairs => views * views.saturating_sub(1) / 2,
            Self::Consensus | Self::Others if views > 1 => views,
            Self::Consensus | Self::Others => 0,
        }
    }
}

/// How the cross-view contrastive terms are summed (`contrast_scale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ContrastScale {
    /// Each term once: `V(V − 1)/2` pairwise terms, or `V` view-to-consensus terms.
    #[default]
    Terms,
    /// Each view's contrast at the size the pairwise sum gives it. In `pairs` a view sits in
    /// `V − 1` terms, each of which trains it; against a detached consensus (`consensus`,
    /// `others`) it sits in one. This multiplies the consensus terms by `V − 1`, so a view's
    /// contrastive gradient — and the marginal-entropy regulariser that keeps clusters from
    /// emptying — keeps its size relative to `L_A` and `L_Q` (measured: without it, consensus +
    /// balanced pseudo labels empties clusters on Prokaryotic). No effect on `pairs`, nor with two
    /// views. The streamed terms stay unscaled, comparable with their chance values.
    PerView,
}

impl std::str::FromStr for ContrastScale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "terms" => Ok(Self::Terms),
            "per-view" | "per_view" | "perview" => Ok(Self::PerView),
            other => Err(format!("unknown contrast scale {other:?}; use terms or per-view")),
        }
    }
}

impl ContrastScale {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Terms => "terms",
            Self::PerView => "per-view",
        }
    }

    /// The factor the contrastive terms of `pairing` with `views` views enter the objective with.
    pub fn factor(self, pairing: ContrastPairing, views: usize) -> f32 {
        match (self, pairing) {
            (Self::PerView, ContrastPairing::Consensus | ContrastPairing::Others) => {
                views.saturating_sub(1).max(1) as f32
            }
            _ => 1.0,
        }
    }
}

/// The objective's terms: `L = rec·L_R + (cluster·L_C,cluster + local·L_C,local) + kl·L_A + label·L_Q`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct LossWeights {
    pub rec: Term,
    pub cluster: Term,
    pub local: Term,
    pub kl: Term,
    pub label: Term,
}

impl LossWeights {
    /// Parses the CLI form `R,C,A,Q` (C weights both cross-view terms).
    pub fn parse_rcaq(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.len() != 4 {
            return Err(format!("loss weights must be four numbers R,C,A,Q, got {s:?}"));
        }
        let mut w = [0f32; 4];
        for (i, p) in parts.iter().enumerate() {
            w[i] = p.parse::<f32>().map_err(|_| format!("loss weight {p:?} in {s:?} is not a number"))?;
            if !w[i].is_finite() || w[i] < 0.0 {
                return Err(format!("loss weight {p:?} in {s:?} must be a finite number ≥ 0"));
            }
        }
        let t = |x: f32| Term { enabled: x > 0.0, weight: x };
        Ok(LossWeights { rec: t(w[0]), cluster: t(w[1]), local: t(w[1]), kl: t(w[2]), label: t(w[3]) })
    }
}

/// Where the DEC target `P` of `L_A` (and of the pseudo labels of `L_Q`) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TargetSource {
    /// The VCF head's `t` (the seed's design): `P = sharpen(t)`; `t` self-trains on it. On
    /// MNIST-USPS, BDGP and handwritten its heads merge classes (docs/RESULTS.md).
    Vcf,
    /// The views' consensus (the default): `P = sharpen(mean_v q_v)`; the VCF head `t` learns it
    /// as well (DEC's self-training on the k-means-initialised view heads, with `t` as a
    /// read-out).
    #[default]
    Views,
}

impl std::str::FromStr for TargetSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "vcf" | "t" => Ok(TargetSource::Vcf),
            "views" | "q" => Ok(TargetSource::Views),
            other => Err(format!("unknown target source {other:?}; use vcf or views")),
        }
    }
}
