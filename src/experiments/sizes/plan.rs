//! One base size's units of the sizes experiment for one seed: each unit's configuration (the
//! presets at the experiment's scale, from `base-<size>`), the hash of its settings that its
//! record is kept under ([`super::record`]), and the run itself, in the folder the CLI gives
//! the same run (`runs/r1-zero-base-<size>[-seed<N>]`, `runs/r1-base-<size>-cold-r1-zero…`,
//! `runs/distill-from-base-<size>…`).

use super::record::file_hash;
use super::{base_of, from_base, r1_zero_dir, side_context, SizesConfig};
use crate::experiments::cold_start::ColdStart;
use crate::experiments::findings::ProblemValues;
use crate::experiments::run_key::settings_hash;
use crate::experiments::{distillation, r1_pipeline, r1_zero, RunContext, Scale};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Per-problem pass@1 of each model a unit evaluated, by role.
pub(super) type Values = BTreeMap<String, ProblemValues>;

pub(super) struct Plan<'a> {
    cfg: &'a SizesConfig,
    ctx: &'a RunContext,
    scale: Scale,
    size: String,
    seed: u64,
}

fn pass_at_1(report: &crate::eval::EvalReport) -> Result<ProblemValues> {
    ProblemValues::of(report, "pass@1")
}

impl<'a> Plan<'a> {
    pub fn new(
        cfg: &'a SizesConfig,
        ctx: &'a RunContext,
        scale: Scale,
        size: &str,
        seed: u64,
    ) -> Self {
        Self {
            cfg,
            ctx,
            scale,
            size: size.to_string(),
            seed,
        }
    }

    fn base(&self) -> String {
        base_of(&self.ctx.data, &self.size)
            .to_string_lossy()
            .into_owned()
    }

    /// The bytes of a base's weights, in every unit's settings.
    fn base_hash(&self, size: &str) -> Result<String> {
        let weights = base_of(&self.ctx.data, size).join("model.safetensors");
        file_hash(&weights).with_context(|| {
            format!("the sizes experiment reads the weights of base-{size} to key its records")
        })
    }

    fn r1_zero_config(&self) -> r1_zero::R1ZeroConfig {
        let mut c = r1_zero::R1ZeroConfig::preset(self.scale).with_seed(self.seed);
        c.base = self.base();
        c
    }

    pub fn r1_zero_settings(&self) -> Result<String> {
        let mut c = self.r1_zero_config();
        c.base = format!("base-{}", self.size);
        Ok(settings_hash(&("r1-zero", &c, self.base_hash(&self.size)?)))
    }

    /// R1-Zero from this base: `base` and `r1_zero`.
    pub fn r1_zero(&self, log: &mut dyn FnMut(String)) -> Result<Values> {
        log(format!(
            "R1-Zero from base-{}, seed {}",
            self.size, self.seed
        ));
        let dir = r1_zero_dir(self.ctx, self.scale, &self.size, self.seed);
        let ctx = side_context(self.ctx, self.scale, "r1-zero");
        let r = r1_zero::run(&self.r1_zero_config(), &ctx, &dir, |_| {})?;
        Ok(BTreeMap::from([
            ("base".to_string(), pass_at_1(&r.base)?),
            ("r1_zero".to_string(), pass_at_1(&r.r1_zero)?),
        ]))
    }

    fn pipeline_config(&self) -> (r1_pipeline::R1Config, PathBuf) {
        let mut p = r1_pipeline::R1Config::preset(self.scale, self.ctx).with_seed(self.seed);
        p.base = self.base();
        p.r1_zero.base = self.base();
        p.r1_zero_run_dir = r1_zero_dir(self.ctx, self.scale, &self.size, self.seed);
        p.cold_start = self.cfg.cold_start;
        // The consistency reward's ablations are Table 4's own (`r1lab r1`), not a finding
        // across sizes: leaving them out here halves the pipeline's cost.
        p.ablation = false;
        let cold = match self.cfg.cold_start {
            ColdStart::Generated => "",
            ColdStart::FromR1Zero => "-cold-r1-zero",
        };
        let dir = from_base(
            self.ctx.run_dir(r1_pipeline::RUN_NAME, self.scale),
            &self.size,
        );
        let dir = r1_zero::seeded_dir(
            &PathBuf::from(format!("{}{cold}", dir.display())),
            self.seed,
        );
        (p, dir)
    }

    pub fn pipeline_settings(&self) -> Result<String> {
        let (mut p, _) = self.pipeline_config();
        p.base = format!("base-{}", self.size);
        p.r1_zero.base = p.base.clone();
        p.r1_zero_run_dir = PathBuf::new();
        Ok(settings_hash(&("r1", &p, self.base_hash(&self.size)?)))
    }

    /// The R1 pipeline from this base: `r1` (its final model) and `r1_zero` (the R1-Zero it
    /// is compared with), and the final checkpoint's folder.
    pub fn pipeline(&self, log: &mut dyn FnMut(String)) -> Result<(Values, PathBuf)> {
        log(format!(
            "R1 pipeline from base-{}, seed {}",
            self.size, self.seed
        ));
        let (p, dir) = self.pipeline_config();
        let ctx = side_context(self.ctx, self.scale, "r1");
        let r = r1_pipeline::run(&p, &ctx, &dir, &mut *log)?;
        let stage = |id: &str| {
            r.stage(id)
                .map(|s| s.report.clone())
                .with_context(|| format!("the pipeline in {} has no stage {id}", dir.display()))
        };
        let values = BTreeMap::from([
            (
                "r1".to_string(),
                pass_at_1(&stage(r1_pipeline::FINAL_STAGE)?)?,
            ),
            ("r1_zero".to_string(), pass_at_1(&stage("r1_zero")?)?),
        ]);
        Ok((
            values,
            dir.join(r1_pipeline::FINAL_STAGE).join("checkpoint"),
        ))
    }

    fn distillation_config(&self, teacher: &Path) -> (distillation::DistillConfig, PathBuf) {
        let (ctx, scale, seed) = (self.ctx, self.scale, self.seed);
        let mut d = distillation::DistillConfig::preset(scale, ctx).with_seed(seed, ctx, scale);
        d.teacher = teacher.to_string_lossy().into_owned();
        d.students = self.cfg.students.clone();
        d.logit_student = None;
        // Table 6's RL side is each student's own R1-Zero run, so the experiment's own RL run
        // is the smallest student's, the same run.
        let small = &self.cfg.students[0];
        d.r1_zero.base = base_of(&ctx.data, small).to_string_lossy().into_owned();
        d.r1_zero_run_dir = r1_zero_dir(ctx, scale, small, seed);
        let dir = PathBuf::from(format!(
            "{}-from-base-{}",
            ctx.run_dir(distillation::RUN_NAME, scale).display(),
            self.size
        ));
        (d, r1_zero::seeded_dir(&dir, seed))
    }

    /// Distillation's settings include the teacher pipeline's and every student base's.
    pub fn distillation_settings(&self) -> Result<String> {
        let (mut d, _) = self.distillation_config(Path::new(""));
        d.r1_zero.base = format!("base-{}", self.cfg.students[0]);
        d.r1_zero_run_dir = PathBuf::new();
        let students = self
            .cfg
            .students
            .iter()
            .map(|s| self.base_hash(s))
            .collect::<Result<Vec<_>>>()?;
        let teacher = self.pipeline_settings()?;
        Ok(settings_hash(&("distill", &d, teacher, students)))
    }

    /// Every student fine-tuned on the traces of this base's R1 (the pipeline runs first, or
    /// is reused from its folder): `distilled <size>` each.
    pub fn distillation(&self, log: &mut dyn FnMut(String)) -> Result<Values> {
        let (_, teacher) = self.pipeline(log)?;
        log(format!(
            "distillation from R1 (base-{}), seed {}",
            self.size, self.seed
        ));
        let (d, dir) = self.distillation_config(&teacher);
        let ctx = side_context(self.ctx, self.scale, "distill");
        let r = distillation::run(&d, &ctx, &dir, &mut *log)?;
        let mut values = BTreeMap::new();
        for (size, student) in self.cfg.students.iter().zip(&r.students) {
            values.insert(format!("distilled {size}"), pass_at_1(&student.trained)?);
        }
        Ok(values)
    }
}
