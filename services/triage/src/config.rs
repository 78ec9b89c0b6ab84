//! Triage's settings: the rule file, the model file, the duplicate windows and intake.

use std::path::PathBuf;

use komek_core::duplicates::Window;
use komek_core::triage::{RuleSet, Triage, TriageModel};
use komek_runtime::config::{Base, Upstream};
use serde::{Deserialize, Serialize};

/// The rule set shipped with the service, used unless `rules_file` names another.
pub const DEFAULT_RULES: &str = include_str!("../rules/triage.toml");

/// The model shipped with the service (trained by `komek-triage-model train` on
/// `tests/data/corpus.tsv`), used unless `model_file` names another.
pub const DEFAULT_MODEL: &str = include_str!("../model/triage.model");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub base: Base,
    /// A rule file to use in place of the shipped one.
    pub rules_file: Option<PathBuf>,
    /// A model file to use in place of the shipped one.
    pub model_file: Option<PathBuf>,
    /// False: the rules decide alone, as before the model existed.
    pub use_model: bool,
    pub duplicates: Duplicates,
    /// Intake, which triage reads each new request's notes from (events do not carry them).
    pub intake: Upstream,
}

/// When a new request is linked to an earlier one as a possible duplicate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Duplicates {
    /// The same caller (by blind index) within this many hours.
    pub caller_window_hours: u32,
    /// The same category at the same place within this many hours.
    pub place_window_hours: u32,
    /// Coordinates this close, in metres, are the same place.
    pub place_radius_m: f64,
}

impl Default for Duplicates {
    fn default() -> Self {
        let w = Window::default();
        Self {
            caller_window_hours: (w.caller_secs / 3600) as u32,
            place_window_hours: (w.place_secs / 3600) as u32,
            place_radius_m: w.radius_m,
        }
    }
}

impl Duplicates {
    pub fn window(&self) -> anyhow::Result<Window> {
        if !(self.place_radius_m.is_finite() && self.place_radius_m >= 0.0) {
            anyhow::bail!("duplicates.place_radius_m must be a non-negative number of metres");
        }
        Ok(Window {
            caller_secs: i64::from(self.caller_window_hours) * 3600,
            place_secs: i64::from(self.place_window_hours) * 3600,
            radius_m: self.place_radius_m,
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut base = Base::default();
        base.listen.set_port(50052);
        Self {
            base,
            rules_file: None,
            model_file: None,
            use_model: true,
            duplicates: Duplicates::default(),
            intake: Upstream {
                url: "http://127.0.0.1:50051".into(),
                ..Default::default()
            },
        }
    }
}

impl Config {
    /// Reads and validates the rule set; a bad file stops the service at start with the place
    /// of the error, rather than classifying with half a rule set.
    pub fn rules(&self) -> anyhow::Result<RuleSet> {
        match &self.rules_file {
            Some(path) => {
                let source = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("rules_file {}: {e}", path.display()))?;
                RuleSet::from_toml(&source)
                    .map_err(|e| anyhow::anyhow!("rules_file {}: {e}", path.display()))
            }
            None => Ok(RuleSet::from_toml(DEFAULT_RULES)?),
        }
    }

    /// Reads and validates the model, when one is used; a bad file stops the service at start
    /// with the line at fault.
    pub fn model(&self) -> anyhow::Result<Option<TriageModel>> {
        if !self.use_model {
            return Ok(None);
        }
        let (source, from) = match &self.model_file {
            Some(path) => (
                std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("model_file {}: {e}", path.display()))?,
                path.display().to_string(),
            ),
            None => (DEFAULT_MODEL.to_string(), "the shipped model".to_string()),
        };
        TriageModel::from_text(&source)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("model_file {from}: {e}"))
    }

    /// The rules and the model together.
    pub fn triage(&self) -> anyhow::Result<Triage> {
        Ok(Triage::new(self.rules()?, self.model()?))
    }
}
