//! DeepSeek-R1's multi-stage pipeline (paper §2.3), on the task models.
//!
//! 1. **Cold start** (§2.3.1): a few hundred long, readable chains of thought, SFT from the base.
//!    The paper collected thousands, "gathering DeepSeek-R1-Zero outputs in a readable format, and
//!    refining the results through post-processing by human annotators", in the shape
//!    `|special_token|<reasoning_process>|special_token|<summary>`. On the synthetic tasks ours
//!    are written by the task's own worked solutions in the target language only — the project's
//!    stand-in for the annotators — and pass through the same filter as rejection sampling; on a
//!    word-problem task they are R1-Zero's own correct outputs, rewritten into that format
//!    ([`super::cold_start`]). The summary is the closing "so the answer is …" plus the
//!    `<answer>` block, so every RL reward applies unchanged.
//! 2. **Reasoning-oriented RL** (§2.3.2) with accuracy + format + the language-consistency reward
//!    ([`RewardSet::r1`]), with an ablation that leaves the consistency reward out, and a second
//!    that adds it to R1-Zero (from the base, no cold start), where the mixing is.
//! 3. **Rejection sampling and SFT** (§2.3.3): sample from the stage-2 model, keep the correct,
//!    well-formed, single-language answers ([`crate::rejection`]), add non-reasoning data (the
//!    paper's ≈200k of 800k: here the corpus's arithmetic-fact documents, a quarter of the rows),
//!    and fine-tune **the base model** again.
//! 4. **RL for all scenarios** (§2.3.4) at the paper's stage-2 temperature, 0.7, with the rule-based
//!    rewards of stage 2 (we have no helpfulness or harmlessness preference data).
//!
//! Table 4 of the paper compares R1 with o1; ours puts R1-Zero and every R1 stage side by side on
//! the held-out set: pass@1, cons@k, pass@k, language mixing, target-language share, format and
//! length. Departures: the scale; the cold-start data is generated, not annotated; no preference
//! rewards in stage 4; stage-3 non-reasoning data is plain fact text, not chat data.

use super::cold_start::{self, ColdStart};
use super::findings::{interval_cells, table_with_intervals, write_findings, Finding};
use super::report::{self, Cell, Reports, Table};
use super::{
    cached_traces, r1_zero, rl_stage, task_and_test, task_by_name, EvalSpec, RunContext, Scale,
    SftStage,
};
use crate::corpus::{generate_documents, CorpusConfig, KindMix};
use crate::distill::training_problems;
use crate::eval::bootstrap::Direction;
use crate::eval::EvalReport;
use crate::grpo::PeriodicEval;
use crate::grpo::{GrpoConfig, StepMetrics};
use crate::model::Model;
use crate::rejection::{self, RejectionConfig, RejectionStats};
use crate::rewards::{Completion, LanguageConsistency, Reward, RewardSet};
use crate::sft::{SftConfig, SftRow};
use crate::tasks::language::Lang;
use crate::tasks::{self, Task, Template};
use crate::tokenizer::Tokenizer;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Table 4 / §2.3: AIME 2024 pass@1 of DeepSeek-R1 (and of R1-Zero, Table 2).
pub const PAPER_R1_PASS1: f64 = 0.798;

/// Every setting of the pipeline, with the paper's value where it gives one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct R1Config {
    /// The base checkpoint every SFT stage starts from (the paper: DeepSeek-V3-Base).
    pub base: String,
    /// `arithmetic` or `countdown`, or a word-problem file (`.jsonl` / `.parquet`).
    pub task: String,
    /// The held-out word problems of a word-problem `task` (unused for a synthetic task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// Where the cold-start examples come from: the task's worked solutions (the synthetic
    /// tasks' default) or R1-Zero's outputs in the readable format (a word-problem task's).
    #[serde(default)]
    pub cold_start: ColdStart,
    /// The language the chains of thought should use (the consistency reward's target).
    pub target: Lang,
    /// Cold-start examples. Paper: "thousands". Ours: a few hundred.
    pub cold_start_examples: usize,
    /// Share of cold-start examples that catch and correct a slip ("wait, check: …"): readable
    /// reflection. Paper: not given. Ours: 0.2.
    pub cold_start_reflection: f64,
    /// Passes over the cold-start data. Paper: not given. Ours: 3.
    pub cold_start_epochs: f64,
    /// The SFT settings of stages 1 and 3 (`steps` is set from the epochs).
    pub sft: SftConfig,
    /// Stage 2: reasoning-oriented RL (paper: as R1-Zero, ε = 10, temperature 1).
    pub reasoning_rl: GrpoConfig,
    /// Also run stage 2 without the language-consistency reward (the paper's ablation), and
    /// R1-Zero *with* it (from the base, R1-Zero's settings): where R1-Zero mixes languages, this
    /// shows what the reward alone does to the mixing.
    pub ablation: bool,
    /// Stage 3: prompts answered by the stage-2 model for rejection sampling.
    pub rejection_prompts: usize,
    pub rejection: RejectionConfig,
    /// Share of non-reasoning rows in the stage-3 data. Paper: ≈200k of 800k = 0.25.
    pub non_reasoning_share: f64,
    /// Passes over the stage-3 data. Paper: 2.
    pub rejection_epochs: f64,
    /// Stage 4: RL for all scenarios (paper: temperature 0.7).
    pub final_rl: GrpoConfig,
    /// Held-out problems of every evaluation (the first N of the test set).
    pub eval_problems: usize,
    /// k of pass@k and cons@k (the paper: 16 for Figure 2, 64 for the tables).
    pub eval_k: usize,
    /// Held-out evaluation every N RL steps (0 = only before and after).
    pub eval_every: usize,
    pub checkpoint_every: usize,
    /// The R1-Zero run compared against (its reports are written only if it has to be run).
    pub r1_zero: r1_zero::R1ZeroConfig,
    pub r1_zero_run_dir: PathBuf,
    pub seed: u64,
}

/// The id of the pipeline's last stage, whose model is "our R1".
pub const FINAL_STAGE: &str = "stage4_final_rl";

/// The checkpoint of our R1 in the pipeline folder `run_dir`: a distillation teacher.
pub fn final_checkpoint(run_dir: &std::path::Path) -> String {
    run_dir
        .join(FINAL_STAGE)
        .join("checkpoint")
        .to_string_lossy()
        .into_owned()
}

/// Seeds of a seeded rerun are spaced this far apart, so no stage of seed N draws the stream
/// another stage of seed 0 used.
pub const SEED_STRIDE: u64 = 1_000;

impl R1Config {
    /// Seed `seed` of the whole pipeline (`0` is the committed run): the cold-start and stage-3
    /// data draws, the SFT order, both RL stages' problems and sampling, the rejection sampling,
    /// and the R1-Zero run compared against (its seed `seed`, in its seeded folder).
    pub fn with_seed(mut self, seed: u64) -> Self {
        let shift = SEED_STRIDE * seed;
        self.seed += shift;
        self.sft.seed += shift;
        self.reasoning_rl.seed += shift;
        self.final_rl.seed += shift;
        self.rejection.seed += shift;
        self.r1_zero = self.r1_zero.with_seed(seed);
        self.r1_zero_run_dir = r1_zero::seeded_dir(&self.r1_zero_run_dir, seed);
        self
    }

    /// Runs the pipeline on `task`: a synthetic task by name, or a word-problem file with its
    /// held-out file `test` (then the cold start comes from R1-Zero's outputs, see [`ColdStart`]),
    /// every stage prompted with `template` (as [`r1_zero::R1ZeroConfig::set_task`]).
    pub fn set_task(
        &mut self,
        task: &str,
        test: Option<&std::path::Path>,
        template: Option<Template>,
    ) -> Result<()> {
        self.r1_zero.set_task(task, test, template)?;
        self.task = task.into();
        self.test = test.map(std::path::Path::to_path_buf);
        let t = self.r1_zero.grpo.template;
        self.reasoning_rl.template = t;
        self.final_rl.template = t;
        self.rejection.template = t;
        if self.test.is_some() {
            self.cold_start = ColdStart::FromR1Zero;
        }
        Ok(())
    }

    /// The preset of `scale`, compared against the R1-Zero run of `ctx` at that scale.
    pub fn preset(scale: Scale, ctx: &RunContext) -> Self {
        let r1z = r1_zero::R1ZeroConfig::preset(scale);
        let (steps2, steps4, rejection_prompts, examples) = match scale {
            // Smoke: 64 rejection prompts × 4 samples, enough for a few kept traces from a
            // stage 2 of two steps (8 prompts kept none from the base of 2026-11-29).
            Scale::Smoke => (2, 2, 64, 16),
            Scale::Workshop => (80, 40, 800, 300),
        };
        let reasoning_rl = GrpoConfig {
            steps: steps2,
            // With μ = 1 and one minibatch the ratio is exactly 1, so the clip never acts; the
            // value is the paper's (Nature) for R1's first RL stage.
            eps_low: 10.0,
            eps_high: 10.0,
            seed: 2,
            ..r1z.grpo.clone()
        };
        let final_rl = GrpoConfig {
            steps: steps4,
            // The paper's (Nature) for R1's last RL stage.
            temperature: 0.7,
            // A tenth of R1-Zero's (departure 4 of the README): stage 4 starts from the
            // rejection-sampling SFT model, whose rollouts at 0.7 leave 73% of the groups without
            // a signal; at R1-Zero's rate the few left moved it off its accuracy (−0.030
            // [−0.044, −0.016] over 3 seeds), at a tenth it gains (+0.011 [+0.003, +0.018])
            // (`r1 --probe-final-rl`, reports/final_rl_probe.md, LOG 2026-12-03).
            lr: r1z.grpo.lr / 10.0,
            seed: 4,
            ..r1z.grpo.clone()
        };
        let (eval_problems, eval_k) = (r1z.eval_problems, r1z.eval_k);
        Self {
            base: r1z.base.clone(),
            task: r1z.task.clone(),
            test: None,
            cold_start: ColdStart::Generated,
            target: Lang::A,
            cold_start_examples: examples,
            cold_start_reflection: 0.2,
            cold_start_epochs: 3.0,
            sft: SftConfig {
                steps: 0,
                batch_size: 16,
                lr: 5e-4,
                warmup_steps: 5,
                min_lr_ratio: 0.1,
                ..Default::default()
            },
            reasoning_rl,
            ablation: true,
            rejection_prompts,
            rejection: RejectionConfig {
                max_new_tokens: r1z.max_new_tokens,
                ..Default::default()
            },
            non_reasoning_share: 0.25,
            rejection_epochs: 2.0,
            final_rl,
            eval_problems,
            eval_k,
            eval_every: match scale {
                Scale::Smoke => 0,
                Scale::Workshop => 40,
            },
            checkpoint_every: 20,
            r1_zero_run_dir: ctx.run_dir(r1_zero::RUN_NAME, scale),
            r1_zero: r1z,
            seed: 0,
        }
    }
}

/// One evaluated model of Table 4.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageResult {
    /// Short id ("base", "r1_zero", "cold_start", …).
    pub stage: String,
    /// What it is, for the table.
    pub description: String,
    pub report: EvalReport,
    /// Mean language-consistency score of the evaluation samples (share of target-language words
    /// among the language-tagged words of each chain of thought).
    pub target_language_share: f64,
    /// For RL stages: the mixing rate of the training completions (temperature of the rollouts)
    /// over the last [`r1_zero::ENDS_WINDOW`] steps; NaN for the others.
    pub train_mixing_rate: f64,
    /// Seconds this stage trained (SFT, RL, stage 3's rejection sampling; evaluations excluded),
    /// as recorded when it ran; NaN for the base model.
    pub wall_s: f64,
}

/// What the pipeline measured (owned, for notebooks).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct R1Result {
    pub stages: Vec<StageResult>,
    /// The cold-start filter and the stage-3 rejection-sampling filter.
    pub cold_start_filter: RejectionStats,
    pub rejection_filter: RejectionStats,
    /// Non-reasoning rows added to the stage-3 data.
    pub non_reasoning_rows: usize,
    /// The RL stages' metrics rows, tagged with the stage.
    pub rl_metrics: Vec<(String, StepMetrics)>,
    pub wall_s: f64,
}

impl R1Result {
    /// The stage with id `stage`.
    pub fn stage(&self, stage: &str) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.stage == stage)
    }
}

/// Mean share of `target`-language words in each chain of thought of `report`'s samples.
pub fn target_share(report: &EvalReport, target: Lang, template: Template) -> f64 {
    let lc = LanguageConsistency {
        target,
        prompt_opens_think: template.prompt_opens_think(),
    };
    let problem = crate::tasks::arithmetic::ArithmeticTask::problem(
        crate::tasks::arithmetic::ArithOp::Add,
        0,
        0,
    );
    let scores: Vec<f64> = report
        .samples
        .iter()
        .map(|s| {
            lc.score(&problem, &Completion::new(&s.text, s.num_tokens))
                .score as f64
        })
        .collect();
    scores.iter().sum::<f64>() / scores.len().max(1) as f64
}

/// The `wall_s` recorded in a JSON file (a trainer state or an SFT record); NaN if absent.
fn recorded_wall(path: &Path) -> f64 {
    super::recorded(path, "wall_s")
}

/// The run folder's name ([`RunContext::run_dir`]).
pub const RUN_NAME: &str = "r1";

/// Runs R1-Zero if its run is not finished, then the four R1 stages (and the ablation), evaluates
/// every model on the same held-out problems and writes Table 4 and the filter table. Every stage
/// is saved in `run_dir`; a rerun skips what is finished and resumes an interrupted RL stage.
pub fn run(
    cfg: &R1Config,
    ctx: &RunContext,
    run_dir: &Path,
    mut log: impl FnMut(String),
) -> Result<R1Result> {
    let reports = Reports::writable(&ctx.reports)?;
    let start = std::time::Instant::now();
    let (mut p, base) = Pipeline::open(cfg, ctx, run_dir)?;
    p.evaluate("base", "base model", &base)?;
    let r1_zero = p.r1_zero(&mut log)?;
    let (cold_start, cold_start_filter) = p.cold_start(&r1_zero.model, &mut log)?;
    let stage2 = p.reasoning_rl(&cold_start, &mut log)?;
    if cfg.ablation {
        p.ablations(&cold_start, &mut log)?;
    }
    let (stage3, rejection_filter, non_reasoning_rows) =
        p.rejection_sft(&stage2.model, &mut log)?;
    p.final_rl(&stage3, &mut log)?;
    let result = R1Result {
        stages: p.stages,
        cold_start_filter,
        rejection_filter,
        non_reasoning_rows,
        rl_metrics: p.rl_metrics,
        wall_s: start.elapsed().as_secs_f64(),
    };
    write_reports(cfg, &result, &reports)?;
    Ok(result)
}

/// A model of the pipeline: where it is saved, the model (as the models that are only evaluated
/// load), the seconds it trained as recorded when it ran (NaN for the base), and for an RL stage
/// its training samples.
struct Trained {
    path: String,
    model: Model,
    wall_s: f64,
    samples: Option<PathBuf>,
}

/// One run of the pipeline: what its stages share, and what they have measured so far.
struct Pipeline<'a> {
    cfg: &'a R1Config,
    ctx: &'a RunContext,
    run_dir: &'a Path,
    task: Arc<dyn Task>,
    held_out: HashSet<String>,
    /// The base model's tokenizer, every stage's.
    tokenizer: Tokenizer,
    eval: EvalSpec,
    /// The held-out evaluation during RL, if any.
    periodic: Option<PeriodicEval>,
    stages: Vec<StageResult>,
    rl_metrics: Vec<(String, StepMetrics)>,
}

impl<'a> Pipeline<'a> {
    /// The task, the held-out problems, the run folder and the base model.
    fn open(cfg: &'a R1Config, ctx: &'a RunContext, run_dir: &'a Path) -> Result<(Self, Trained)> {
        let (task, test) = task_and_test(ctx, &cfg.task, cfg.test.as_deref())?;
        let held_out = tasks::questions(&test);
        let eval = EvalSpec::new(
            &cfg.task,
            &test,
            cfg.eval_problems,
            cfg.eval_k,
            cfg.reasoning_rl.max_completion_length,
            cfg.reasoning_rl.template,
        );
        let periodic = (cfg.eval_every > 0).then(|| eval.during_training(cfg.eval_every));
        std::fs::create_dir_all(run_dir)
            .with_context(|| format!("cannot create {}", run_dir.display()))?;
        let base = ctx
            .load(&cfg.base)
            .with_context(|| format!("cannot load the base model {}", cfg.base))?;
        let tokenizer = base.tokenizer()?.clone();
        let base = Trained {
            path: cfg.base.clone(),
            model: base.model,
            wall_s: f64::NAN,
            samples: None,
        };
        let p = Self {
            cfg,
            ctx,
            run_dir,
            task,
            held_out,
            tokenizer,
            eval,
            periodic,
            stages: vec![],
            rl_metrics: vec![],
        };
        Ok((p, base))
    }

    fn template(&self) -> Template {
        self.cfg.reasoning_rl.template
    }

    /// Evaluates `t` (or reads its cached evaluation) and adds it to Table 4 as `stage`.
    fn evaluate(&mut self, stage: &str, description: &str, t: &Trained) -> Result<()> {
        let template = self.template();
        let evals = self.run_dir.join("evals");
        let report = self
            .eval
            .evaluate_cached(&evals, stage, &t.model, &self.tokenizer)?;
        let share = target_share(&report, self.cfg.target, template);
        let train_mixing_rate = match &t.samples {
            Some(p) => r1_zero::late_training_mixing(p, template, r1_zero::ENDS_WINDOW)?,
            None => f64::NAN,
        };
        self.stages.push(StageResult {
            stage: stage.into(),
            description: description.into(),
            report,
            target_language_share: share,
            train_mixing_rate,
            wall_s: t.wall_s,
        });
        Ok(())
    }

    /// R1-Zero, for comparison (run first when its run is not finished).
    fn r1_zero(&mut self, log: &mut dyn FnMut(String)) -> Result<Trained> {
        let cfg = self.cfg;
        let ckpt = r1_zero::ensure_finished(&cfg.r1_zero, self.ctx, &cfg.r1_zero_run_dir, log)?;
        let r1z = Trained {
            path: ckpt.to_string_lossy().into_owned(),
            model: self.ctx.load(&ckpt.to_string_lossy())?.model,
            wall_s: recorded_wall(&ckpt.join("trainer_state.json")),
            samples: Some(cfg.r1_zero_run_dir.join("samples.jsonl")),
        };
        self.evaluate("r1_zero", "R1-Zero (accuracy + format RL)", &r1z)?;
        Ok(r1z)
    }

    /// Stage 1: the cold-start examples (from the task's worked solutions or R1-Zero's outputs,
    /// see [`ColdStart`]), SFT from the base.
    fn cold_start(
        &mut self,
        r1_zero: &Model,
        log: &mut dyn FnMut(String),
    ) -> Result<(Trained, RejectionStats)> {
        let cfg = self.cfg;
        log("stage 1: cold-start SFT".into());
        let cold_dir = self.run_dir.join("stage1_cold_start");
        let writer = matches!(cfg.cold_start, ColdStart::FromR1Zero).then_some(r1_zero);
        let (cold, cold_stats) = cached_traces(&cold_dir, writer, || match cfg.cold_start {
            ColdStart::Generated => cold_start::generated(
                self.task.as_ref(),
                cfg.cold_start_examples,
                cfg.cold_start_reflection,
                cfg.target,
                &self.held_out,
                cfg.seed ^ 0xc0,
            ),
            ColdStart::FromR1Zero => cold_start::from_r1_zero(
                r1_zero,
                &self.tokenizer,
                self.task.as_ref(),
                cfg.cold_start_examples,
                &self.held_out,
                &cfg.rejection,
                cfg.seed ^ 0xc0,
            ),
        })?;
        anyhow::ensure!(
            !cold.is_empty(),
            "no cold-start example survived the filter ({} judged): train R1-Zero longer or raise cold_start_examples",
            cold_stats.judged
        );
        let rows = cold
            .iter()
            .map(|t| t.to_row(&self.tokenizer))
            .collect::<Result<Vec<_>>>()?;
        let model = self.sft(&cold_dir, &rows, cfg.cold_start_epochs, log)?;
        self.evaluate("cold_start", "stage 1: cold-start SFT", &model)?;
        Ok((model, cold_stats))
    }

    /// SFT from the base on `rows` for `epochs` passes, saved in `<dir>/model` (skipped when
    /// finished).
    fn sft(
        &self,
        dir: &Path,
        rows: &[SftRow],
        epochs: f64,
        log: &mut dyn FnMut(String),
    ) -> Result<Trained> {
        let cfg = self.cfg;
        let path = SftStage {
            start: &cfg.base,
            rows,
            epochs,
            cfg: &cfg.sft,
            dir: &dir.join("model"),
        }
        .run(self.ctx, log)?;
        let model = self.ctx.load(&path)?.model;
        Ok(Trained {
            wall_s: recorded_wall(&Path::new(&path).join("r1lab_sft.json")),
            path,
            model,
            samples: None,
        })
    }

    /// Runs (or resumes, or reloads) the RL stage `stage` in `<run_dir>/<stage>` from `from`, and
    /// keeps its metrics rows.
    fn rl(
        &mut self,
        stage: &str,
        from: &str,
        rewards: RewardSet,
        grpo: &GrpoConfig,
        log: &mut dyn FnMut(String),
    ) -> Result<Trained> {
        log(format!("{stage}: {} GRPO steps", grpo.steps));
        let dir = self.run_dir.join(stage);
        let trainer = rl_stage(
            self.ctx,
            from,
            self.task.clone(),
            Arc::new(rewards),
            self.held_out.clone(),
            grpo,
            &dir,
            self.periodic.as_ref(),
            self.cfg.checkpoint_every,
            |m| {
                if m.completion_len_mean.is_finite() && m.step % 10 == 0 {
                    log(format!(
                        "  step {}: reward {:.3} accuracy {:.3} length {:.1}",
                        m.step, m.reward_mean, m.accuracy, m.completion_len_mean
                    ))
                }
            },
        )?;
        for m in crate::grpo::read_metrics(&dir.join("metrics.csv"))? {
            self.rl_metrics.push((stage.to_string(), m));
        }
        let ckpt = dir.join("checkpoint");
        Ok(Trained {
            path: ckpt.to_string_lossy().into_owned(),
            model: self.ctx.for_evaluation(trainer.policy, &ckpt)?,
            wall_s: recorded_wall(&ckpt.join("trainer_state.json")),
            samples: Some(dir.join("samples.jsonl")),
        })
    }

    /// Stage 2: reasoning RL from the cold start with the language-consistency reward.
    fn reasoning_rl(&mut self, cold: &Trained, log: &mut dyn FnMut(String)) -> Result<Trained> {
        let cfg = self.cfg;
        let rewards = RewardSet::r1(self.template().prompt_opens_think(), cfg.target);
        let model = self.rl(
            "stage2_reasoning_rl",
            &cold.path,
            rewards,
            &cfg.reasoning_rl,
            log,
        )?;
        self.evaluate(
            "stage2_reasoning_rl",
            "stage 2: reasoning RL (accuracy + format + language consistency)",
            &model,
        )?;
        Ok(model)
    }

    /// The ablations of the consistency reward: stage 2 without it, and R1-Zero (from the base,
    /// with R1-Zero's settings) with it, where the mixing is.
    fn ablations(&mut self, cold: &Trained, log: &mut dyn FnMut(String)) -> Result<()> {
        let cfg = self.cfg;
        let opens = self.template().prompt_opens_think();
        let without = RewardSet::r1_zero(opens);
        let model = self.rl(
            "stage2_no_consistency",
            &cold.path,
            without,
            &cfg.reasoning_rl,
            log,
        )?;
        self.evaluate(
            "stage2_no_consistency",
            "ablation: stage 2 without the language-consistency reward",
            &model,
        )?;
        drop(model);
        let with = RewardSet::r1(opens, cfg.target);
        let model = self.rl(
            "r1_zero_consistency",
            &cfg.base,
            with,
            &cfg.r1_zero.grpo,
            log,
        )?;
        self.evaluate(
            "r1_zero_consistency",
            "ablation: R1-Zero + language consistency (from the base, no cold start)",
            &model,
        )
    }

    /// Stage 3: rejection sampling from stage 2, plus non-reasoning data, SFT from the base.
    /// Returns the model, the filter's verdicts and the number of non-reasoning rows.
    fn rejection_sft(
        &mut self,
        stage2: &Model,
        log: &mut dyn FnMut(String),
    ) -> Result<(Trained, RejectionStats, usize)> {
        let cfg = self.cfg;
        log("stage 3: rejection sampling and SFT from the base".into());
        let rs_dir = self.run_dir.join("stage3_rejection_sft");
        let (kept, rs_stats) = cached_traces(&rs_dir, Some(stage2), || {
            let prompts = training_problems(
                self.task.as_ref(),
                cfg.rejection_prompts,
                &self.held_out,
                cfg.seed ^ 0x3e,
            )?;
            let (traces, stats) =
                rejection::rejection_sample(stage2, &self.tokenizer, &prompts, &cfg.rejection)?;
            // Checked before the traces are cached, so a rerun with more prompts samples again.
            anyhow::ensure!(
                !traces.is_empty(),
                "rejection sampling kept none of the {} completions stage 2 wrote for {} prompts, \
                 so stage 3 has nothing to train on: sample more prompts (`rejection_prompts`) or \
                 train stage 2 longer (`reasoning_rl.steps`), then rerun (finished stages are reused)",
                stats.judged,
                cfg.rejection_prompts
            );
            Ok((traces, stats))
        })?;
        log(format!(
            "  kept {} of {} sampled completions ({:.0}%)",
            rs_stats.count(rejection::Verdict::Kept),
            rs_stats.judged,
            100.0 * rs_stats.kept_rate()
        ));
        let mut rows = kept
            .iter()
            .map(|t| t.to_row(&self.tokenizer))
            .collect::<Result<Vec<_>>>()?;
        // A word-problem task has no fact documents of its own: the arithmetic task's serve.
        let facts_task = match cfg.test {
            Some(_) => task_by_name("arithmetic")?,
            None => self.task.clone(),
        };
        let non_reasoning = non_reasoning_rows(
            &self.tokenizer,
            facts_task.as_ref(),
            rows.len(),
            cfg.non_reasoning_share,
            &self.held_out,
            cfg.seed,
        )?;
        let non_reasoning_n = non_reasoning.len();
        rows.extend(non_reasoning);
        let mut model = self.sft(&rs_dir, &rows, cfg.rejection_epochs, log)?;
        // The stage's time includes the rejection sampling.
        model.wall_s += rs_stats.wall_s;
        self.evaluate(
            "stage3_rejection_sft",
            "stage 3: rejection-sampling SFT from the base",
            &model,
        )?;
        Ok((model, rs_stats, non_reasoning_n))
    }

    /// Stage 4: RL for all scenarios from stage 3, with stage 2's rewards.
    fn final_rl(&mut self, stage3: &Trained, log: &mut dyn FnMut(String)) -> Result<()> {
        let cfg = self.cfg;
        let rewards = RewardSet::r1(self.template().prompt_opens_think(), cfg.target);
        let model = self.rl(FINAL_STAGE, &stage3.path, rewards, &cfg.final_rl, log)?;
        self.evaluate(
            "stage4_final_rl",
            "stage 4: final RL, temperature 0.7, lr / 10 = DeepSeek-R1 (ours)",
            &model,
        )
    }
}

/// `share / (1 − share)` × `reasoning_rows` rows of arithmetic-fact text (the corpus's facts
/// documents), loss on every token: the non-reasoning part of the stage-3 data.
pub fn non_reasoning_rows(
    tokenizer: &Tokenizer,
    task: &dyn Task,
    reasoning_rows: usize,
    share: f64,
    held_out: &HashSet<String>,
    seed: u64,
) -> Result<Vec<SftRow>> {
    anyhow::ensure!(
        (0.0..1.0).contains(&share),
        "non_reasoning_share must be in [0, 1), got {share}"
    );
    let n = ((reasoning_rows as f64) * share / (1.0 - share)).round() as usize;
    if n == 0 {
        return Ok(vec![]);
    }
    let cfg = CorpusConfig {
        num_docs: n,
        seed: seed ^ 0xfac7,
        kinds: KindMix::facts_only(),
        ..Default::default()
    };
    generate_documents(&cfg, &[task], held_out)?
        .into_iter()
        .map(|d| {
            let mut ids = tokenizer.encode(&d.text)?;
            ids.push(tokenizer.eos_ids[0]);
            Ok(SftRow::full(ids))
        })
        .collect()
}

/// The language findings in sentences, from the measured numbers: R1-Zero against the final R1
/// model, and the ablation of the consistency reward in stage 2.
pub fn consistency_finding(r: &R1Result) -> Option<String> {
    let (with, without) = (
        r.stage("stage2_reasoning_rl")?,
        r.stage("stage2_no_consistency")?,
    );
    let (a, b) = (&with.report, &without.report);
    let lowers = |x: f64, y: f64| if x < y { "lowers" } else { "does not lower" };
    let acc = if a.pass_at_1 < b.pass_at_1 {
        "costs"
    } else {
        "does not cost"
    };
    let mut out = String::new();
    if let (Some(z), Some(f)) = (r.stage("r1_zero"), r.stage(FINAL_STAGE)) {
        out.push_str(&format!(
            "Language mixing on the held-out set: R1-Zero {:.3}, R1 (stage 4) {:.3}; on the last training batches {:.3} vs {:.3}. ",
            z.report.mixing_rate, f.report.mixing_rate, z.train_mixing_rate, f.train_mixing_rate
        ));
    }
    if let (Some(z), Some(zc)) = (r.stage("r1_zero"), r.stage("r1_zero_consistency")) {
        out.push_str(&format!(
            "Adding the consistency reward to R1-Zero (same base, steps and settings) {} held-out mixing ({:.3} -> {:.3}) and {} mixing on the last training batches ({:.3} -> {:.3}); pass@1 {:.3} -> {:.3}. ",
            lowers(zc.report.mixing_rate, z.report.mixing_rate),
            z.report.mixing_rate,
            zc.report.mixing_rate,
            lowers(zc.train_mixing_rate, z.train_mixing_rate),
            z.train_mixing_rate,
            zc.train_mixing_rate,
            z.report.pass_at_1,
            zc.report.pass_at_1
        ));
    }
    out.push_str(&format!(
        "Ablation (stage 2 from the same cold start, same steps): the consistency reward {} held-out mixing ({:.3} without it, {:.3} with it), {} mixing on the last training batches ({:.3} without, {:.3} with; target-language share {:.3} -> {:.3}) and {acc} accuracy (pass@1 {:.3} without, {:.3} with). Paper: a slight accuracy cost for much better readability.",
        lowers(a.mixing_rate, b.mixing_rate),
        b.mixing_rate,
        a.mixing_rate,
        lowers(with.train_mixing_rate, without.train_mixing_rate),
        without.train_mixing_rate,
        with.train_mixing_rate,
        without.target_language_share,
        with.target_language_share,
        b.pass_at_1,
        a.pass_at_1
    ));
    Some(out)
}

/// Writes `r1_pipeline_stages` (with `findings_r1`), `r1_filters` and `r1_metrics.csv` into
/// `reports`. Table 4 itself, R1 and R1-Zero from the "V3-Base" stand-in, is [`super::table4`]'s.
pub fn write_reports(cfg: &R1Config, r: &R1Result, reports: &Reports) -> Result<()> {
    write_table4(cfg, r, reports)?;
    write_filters(r, reports)?;
    // The RL stages' metrics with the trainer's schema, one `stage` column first.
    reports.stage_metrics("r1_metrics.csv", &r.rl_metrics)
}

/// Every model of the pipeline on the held-out set, the paper's Table 4 rows below.
fn write_table4(cfg: &R1Config, r: &R1Result, reports: &Reports) -> Result<()> {
    let k = cfg.eval_k;
    let (cons, passk) = (format!("cons@{k}"), format!("pass@{k}"));
    let compared = ["pass@1", cons.as_str(), "mixing_rate"];
    let mut t = table_with_intervals(
        &[
            "stage",
            "model",
            "pass@1",
            cons.as_str(),
            passk.as_str(),
            "mixing_rate",
            "train_mixing_rate",
            "target_language_share",
            "format_rate",
            "mean_length",
            "train_wall_s",
        ],
        &compared,
    );
    for s in &r.stages {
        let mut row: Vec<Cell> = vec![
            s.stage.as_str().into(),
            s.description.as_str().into(),
            s.report.pass_at_1.into(),
            s.report.cons_at_k.into(),
            s.report.pass_at_k.into(),
            s.report.mixing_rate.into(),
            s.train_mixing_rate.into(),
            s.target_language_share.into(),
            s.report.format_rate.into(),
            s.report.mean_length.into(),
            s.wall_s.into(),
        ];
        row.extend(interval_cells(&s.report, &compared)?);
        t.row(row);
    }
    t.row(vec![
        "paper_r1_zero".into(),
        "DeepSeek-R1-Zero (paper, AIME 2024; cons@64)".into(),
        r1_zero::PAPER_PASS1_END.into(),
        r1_zero::PAPER_CONS_END.into(),
    ]);
    t.row(vec![
        "paper_r1".into(),
        "DeepSeek-R1 (paper, AIME 2024)".into(),
        PAPER_R1_PASS1.into(),
    ]);
    // The R1 stages' training time (not R1-Zero's, not the ablation's).
    let r1_wall_s = r
        .stages
        .iter()
        .filter(|s| {
            (s.stage.starts_with("stage") || s.stage == "cold_start")
                && s.stage != "stage2_no_consistency"
        })
        .map(|s| s.wall_s)
        .filter(|w| w.is_finite())
        .sum::<f64>();
    let finding = consistency_finding(r).unwrap_or_default();
    reports.table(
        "r1_pipeline_stages",
        &t.frame()?,
        Some(&format!(
            "# The R1 pipeline from `{}`: R1-Zero, each R1 stage and the consistency reward's ablations on {} held-out {} problems, k = {k}, temperature 0.6, top-p 0.95\n\n{finding}\n\n`train_wall_s`: seconds each stage trained on this machine (2 cores; rejection sampling included in stage 3, evaluations excluded); the R1 stages together: {r1_wall_s:.0} s. Table 4 itself, R1 and R1-Zero from the \"V3-Base\" stand-in, is `table4_r1_vs_r1zero`.",
            cfg.base, cfg.eval_problems, cfg.task
        )),
    )?;
    write_findings(
        reports,
        "findings_r1",
        &table4_findings(r)?,
        &format!(
            "# The R1 pipeline's findings from `{}`, tested on {} held-out {} problems (k = {k})",
            cfg.base, cfg.eval_problems, cfg.task
        ),
    )
}

/// Table 4's findings, each between two stages evaluated on the same problems (those whose
/// stages ran).
fn table4_findings(r: &R1Result) -> Result<Vec<Finding>> {
    use Direction::{Negative, Positive};
    let stage = |id: &'static str| {
        r.stages
            .iter()
            .find(|s| s.stage == id)
            .map(|s| (id, &s.report))
    };
    let tests = [
        (
            "Table 4: R1 ≥ R1-Zero",
            "stage4_final_rl",
            "r1_zero",
            "pass@1",
            Positive,
        ),
        (
            "R1 mixes languages less than R1-Zero",
            "stage4_final_rl",
            "r1_zero",
            "mixing_rate",
            Negative,
        ),
        (
            "the consistency reward lowers mixing (stage 2)",
            "stage2_reasoning_rl",
            "stage2_no_consistency",
            "mixing_rate",
            Negative,
        ),
        (
            "the consistency reward costs a little accuracy (stage 2)",
            "stage2_reasoning_rl",
            "stage2_no_consistency",
            "pass@1",
            Negative,
        ),
        (
            "the consistency reward lowers mixing (R1-Zero)",
            "r1_zero_consistency",
            "r1_zero",
            "mixing_rate",
            Negative,
        ),
        (
            "the consistency reward costs a little accuracy (R1-Zero)",
            "r1_zero_consistency",
            "r1_zero",
            "pass@1",
            Negative,
        ),
        (
            "the final RL stage raises accuracy",
            "stage4_final_rl",
            "stage3_rejection_sft",
            "pass@1",
            Positive,
        ),
    ];
    let mut out = Vec::new();
    for (claim, a, b, metric, paper) in tests {
        if let (Some(a), Some(b)) = (stage(a), stage(b)) {
            out.push(Finding::new(claim, a, b, metric, paper)?);
        }
    }
    Ok(out)
}

/// What the cold-start check and the stage-3 rejection sampling kept, and why they dropped the
/// rest.
fn write_filters(r: &R1Result, reports: &Reports) -> Result<()> {
    let mut filters = Table::new(["data", "verdict", "count", "share"]);
    for (data, st) in [
        ("stage 1: cold-start examples", &r.cold_start_filter),
        (
            "stage 3: rejection sampling from stage 2",
            &r.rejection_filter,
        ),
    ] {
        for (verdict, n) in st.rows() {
            filters.row(vec![
                data.into(),
                verdict.into(),
                (n as u64).into(),
                (n as f64 / st.judged.max(1) as f64).into(),
            ]);
        }
    }
    let kept = r.rejection_filter.count(rejection::Verdict::Kept);
    reports.table(
        "r1_filters",
        &filters.frame()?,
        Some(&format!(
            "# R1 data filters: what the cold-start check and stage-3 rejection sampling kept, and why they dropped the rest\n\nStage 3 added {} non-reasoning rows (arithmetic-fact text) to {kept} kept reasoning answers ({:.0}% non-reasoning; paper: ≈200k of 800k).",
            r.non_reasoning_rows,
            100.0 * r.non_reasoning_rows as f64 / (r.non_reasoning_rows + kept).max(1) as f64
        )),
    )
}

/// What `r1lab r1` prints: one line per stage, then the consistency reward's finding.
pub fn summary(cfg: &R1Config, r: &R1Result, reports: &Path) -> String {
    let stages = r.stages.iter().map(|s| {
        format!(
            "  {:<24} pass@1 {:.3} cons@k {:.3} mixing {:.3} target-language {:.3} format {:.3} length {:.1}",
            s.stage,
            s.report.pass_at_1,
            s.report.cons_at_k,
            s.report.mixing_rate,
            s.target_language_share,
            s.report.format_rate,
            s.report.mean_length
        )
    });
    report::summary(
        format!(
            "R1 pipeline on {} ({:.0} s); k = {}:",
            cfg.task, r.wall_s, cfg.eval_k
        ),
        stages.chain(consistency_finding(r)),
        reports,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::completion::chain_of_thought;
    use crate::rejection::Verdict;
    use crate::tasks::arithmetic::ArithmeticTask;
    use crate::tasks::language::count_words;

    #[test]
    fn seed_zero_is_the_preset_and_another_seed_moves_every_stage() {
        let ctx = RunContext::cpu();
        let preset = R1Config::preset(Scale::Workshop, &ctx);
        let json = |c: &R1Config| serde_json::to_string(c).unwrap();
        assert_eq!(json(&preset.clone().with_seed(0)), json(&preset));
        let s2 = preset.clone().with_seed(2);
        assert_eq!(s2.seed, preset.seed + 2 * SEED_STRIDE);
        assert_eq!(s2.sft.seed, preset.sft.seed + 2 * SEED_STRIDE);
        assert_eq!(
            s2.reasoning_rl.seed,
            preset.reasoning_rl.seed + 2 * SEED_STRIDE
        );
        assert_eq!(s2.final_rl.seed, preset.final_rl.seed + 2 * SEED_STRIDE);
        assert_eq!(s2.rejection.seed, preset.rejection.seed + 2 * SEED_STRIDE);
        assert_eq!(s2.r1_zero.grpo.seed, 2);
        assert_eq!(
            s2.r1_zero_run_dir,
            PathBuf::from(format!("{}-seed2", preset.r1_zero_run_dir.display()))
        );
        // Everything else is the preset's.
        let mut back = s2.clone();
        back.seed = preset.seed;
        back.sft.seed = preset.sft.seed;
        back.reasoning_rl.seed = preset.reasoning_rl.seed;
        back.final_rl.seed = preset.final_rl.seed;
        back.rejection.seed = preset.rejection.seed;
        back.r1_zero.grpo.seed = preset.r1_zero.grpo.seed;
        back.r1_zero_run_dir = preset.r1_zero_run_dir.clone();
        assert_eq!(json(&back), json(&preset));
    }

    #[test]
    fn cold_start_examples_are_correct_single_language_and_some_reflect() {
        let task = ArithmeticTask::default();
        let (traces, stats) =
            super::super::cold_start::generated(&task, 60, 0.5, Lang::A, &HashSet::new(), 3)
                .unwrap();
        assert_eq!(stats.judged, 60);
        assert_eq!(stats.count(Verdict::Kept), traces.len());
        assert!(traces.len() >= 55, "{stats:?}");
        let mut reflective = 0;
        for t in &traces {
            let cot = chain_of_thought(&t.completion, true);
            let c = count_words(cot);
            assert!(
                c.get(Lang::A) > 0 && c.get(Lang::B) == 0,
                "{}",
                t.completion
            );
            assert!(t.completion.ends_with("</answer>"));
            reflective += cot.contains("wait") as usize;
        }
        assert!(reflective > 10 && reflective < traces.len(), "{reflective}");
        assert!(
            super::super::cold_start::generated(&task, 4, 1.5, Lang::A, &HashSet::new(), 3)
                .is_err()
        );
    }

    #[test]
    fn non_reasoning_rows_are_a_quarter_of_the_data() {
        let dir = Path::new("data/tokenizer/tokenizer.json");
        let tk = Tokenizer::from_file(dir, &[0]).unwrap();
        let task = ArithmeticTask::default();
        let rows = non_reasoning_rows(&tk, &task, 300, 0.25, &HashSet::new(), 1).unwrap();
        assert_eq!(rows.len(), 100);
        assert!(rows.iter().all(|r| r.loss_mask.iter().all(|&m| m)));
        assert!(non_reasoning_rows(&tk, &task, 300, 1.0, &HashSet::new(), 1).is_err());
    }
}
