//! The experiments, one module per result of the paper, each runnable from the CLI at a named
//! scale: `smoke` (seconds, for tests), `workshop` (minutes on a laptop CPU).

pub mod base_models;
pub mod r1_zero;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Seconds: the same code on tiny budgets, for the tests.
    Smoke,
    /// Minutes on a laptop CPU: the committed reports.
    Workshop,
}

impl Scale {
    /// Reads `R1LAB_SCALE` (`smoke` or `workshop`, default `workshop`).
    pub fn from_env() -> Result<Self> {
        match std::env::var("R1LAB_SCALE").as_deref() {
            Err(_) | Ok("") | Ok("workshop") => Ok(Scale::Workshop),
            Ok("smoke") => Ok(Scale::Smoke),
            Ok(other) => bail!("R1LAB_SCALE={other:?}: use smoke or workshop"),
        }
    }
}
