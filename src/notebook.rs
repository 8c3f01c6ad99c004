//! What the evcxr notebooks under `notebooks/` share: where things are, at which scale, and how
//! charts and tables show inline.
//!
//! A notebook calls [`Setup::from_env`] at the top of every cell that touches files. It reads
//! `R1LAB_SCALE` (`smoke` or `workshop`, default `workshop`), moves the process to the repository
//! root (so the experiments' relative defaults such as `data/checkpoints/base-1M` resolve), and
//! takes the reports and runs folders from `R1LAB_REPORTS` and `R1LAB_RUNS` when set (the notebook
//! tests point both at a scratch folder). Calling it again is harmless: evcxr runs each cell in the
//! same process unless a cell panics.
//!
//! [`Svg`], [`Table`] and [`Markdown`] implement evcxr's `evcxr_display` protocol, so the last
//! expression of a cell renders as an image or a formatted table in Jupyter.

use crate::experiments::{
    distillation, grpo_variants, r1_pipeline, r1_zero, table4, RunContext, Scale,
};
use anyhow::{Context, Result};
use polars::prelude::DataFrame;
use std::path::{Path, PathBuf};

/// The scale and folders a notebook works with.
#[derive(Debug, Clone)]
pub struct Setup {
    pub scale: Scale,
    /// The repository root (the process's working directory after [`Setup::from_env`]).
    pub root: PathBuf,
    /// `data/`: tasks, tokenizer, base checkpoints.
    pub data: PathBuf,
    /// Where reports are written (`R1LAB_REPORTS`, default `reports/`).
    pub reports: PathBuf,
    /// Where runs are kept (`R1LAB_RUNS`, default `runs/`).
    pub runs: PathBuf,
    /// The run context every experiment of the notebook runs in: the device (`R1LAB_DEVICE`,
    /// default `cpu`) and the folders above.
    pub ctx: RunContext,
}

fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join("Cargo.toml").exists() && d.join("data").join("tasks").exists())
        .map(Path::to_path_buf)
}

impl Setup {
    /// Reads the environment (see the module docs) and moves to the repository root, found from
    /// `R1LAB_ROOT` or by walking up from the working directory.
    pub fn from_env() -> Result<Self> {
        let scale = Scale::from_env()?;
        let start = match std::env::var_os("R1LAB_ROOT") {
            Some(r) => PathBuf::from(r),
            None => std::env::current_dir()?,
        };
        let root = find_root(&start).with_context(|| {
            format!(
                "cannot find the r1lab repository above {}: open the notebook from notebooks/ or set R1LAB_ROOT",
                start.display()
            )
        })?;
        let root = root.canonicalize()?;
        std::env::set_current_dir(&root)
            .with_context(|| format!("cannot enter {}", root.display()))?;
        let from_env = |var: &str, default: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(default))
        };
        let reports = from_env("R1LAB_REPORTS", "reports");
        let runs = from_env("R1LAB_RUNS", "runs");
        for d in [&reports, &runs] {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let device = std::env::var("R1LAB_DEVICE").unwrap_or_else(|_| "cpu".into());
        let ctx = RunContext::from_flags(&device, None)
            .context("R1LAB_DEVICE: use cpu, cuda, cuda:N or auto")?
            .with_folders(&root.join("data"), &runs, &reports);
        Ok(Self {
            scale,
            data: root.join("data"),
            root,
            reports,
            runs,
            ctx,
        })
    }

    /// The run folder of an experiment at this scale (`runs/r1-zero`, `runs/r1-zero-smoke`, …;
    /// [`RunContext::run_dir`]).
    pub fn run_dir(&self, name: &str) -> PathBuf {
        self.ctx.run_dir(name, self.scale)
    }

    /// The R1-Zero preset of this scale, with its run folder.
    pub fn r1_zero(&self) -> (r1_zero::R1ZeroConfig, PathBuf) {
        (
            r1_zero::R1ZeroConfig::preset(self.scale),
            self.run_dir(r1_zero::RUN_NAME),
        )
    }

    /// The GRPO-variants preset of this scale (its GRPO run is [`Setup::r1_zero`]'s), with its
    /// run folder.
    pub fn variants(&self) -> (grpo_variants::VariantsConfig, PathBuf) {
        let cfg = grpo_variants::VariantsConfig::preset(self.scale, &self.ctx);
        (cfg, self.run_dir(grpo_variants::RUN_NAME))
    }

    /// The R1 pipeline preset of this scale (comparing against [`Setup::r1_zero`]'s run), with
    /// its run folder.
    pub fn r1(&self) -> (r1_pipeline::R1Config, PathBuf) {
        let cfg = r1_pipeline::R1Config::preset(self.scale, &self.ctx);
        (cfg, self.run_dir(r1_pipeline::RUN_NAME))
    }

    /// The distillation preset of this scale (teacher: [`Setup::r1`]'s final model), with its run
    /// folder.
    /// Table 4's models (workshop: the committed R1-Zero and R1 of the "V3-Base" stand-in)
    /// and the folder caching their evaluations.
    pub fn table4(&self) -> (table4::Table4Config, PathBuf) {
        let cfg = table4::Table4Config::preset(self.scale, &self.ctx);
        (cfg, self.run_dir(table4::RUN_NAME))
    }

    pub fn distill(&self) -> (distillation::DistillConfig, PathBuf) {
        let cfg = distillation::DistillConfig::preset(self.scale, &self.ctx);
        (cfg, self.run_dir(distillation::RUN_NAME))
    }

    /// Versions and device, for a notebook's second cell.
    pub fn describe(&self) -> String {
        format!(
            "{}; scale {:?}; reports {}; runs {}",
            self.ctx.describe(),
            self.scale,
            self.reports.display(),
            self.runs.display()
        )
    }
}

/// A report file's text, or an error that says which cell to run first.
fn read_report(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}: run the cell that writes it first",
            path.display()
        )
    })
}

fn display(mime: &str, content: &str) {
    println!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
}

/// An SVG image that renders inline in a notebook.
#[derive(Debug, Clone)]
pub struct Svg(pub String);

impl Svg {
    /// Reads an SVG file (e.g. a chart the experiments wrote into `reports/`).
    pub fn from_file(path: &Path) -> Result<Self> {
        read_report(path).map(Self)
    }

    pub fn evcxr_display(&self) {
        display("image/svg+xml", &self.0);
    }
}

/// Markdown text that renders inline (e.g. a report table written as `.md`).
#[derive(Debug, Clone)]
pub struct Markdown(pub String);

impl Markdown {
    /// Reads a Markdown file.
    pub fn from_file(path: &Path) -> Result<Self> {
        read_report(path).map(Self)
    }

    pub fn evcxr_display(&self) {
        display("text/markdown", &self.0);
    }
}

/// A polars table that renders inline as a Markdown table.
#[derive(Debug, Clone)]
pub struct Table(pub DataFrame);

impl Table {
    /// Reads a CSV report.
    pub fn from_csv(path: &Path) -> Result<Self> {
        Ok(Self(crate::eval::table::read_csv(path)?))
    }

    pub fn evcxr_display(&self) {
        display("text/markdown", &crate::eval::table::to_markdown(&self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_found_from_a_subfolder() {
        let here = std::env::current_dir().unwrap();
        let root = find_root(&here.join("notebooks")).unwrap();
        assert_eq!(root, here);
        assert!(find_root(Path::new("/")).is_none());
    }
}
