//! Distillation (paper §2.4, Tables 5 and 6), on the task models.
//!
//! * **Teacher traces**: the R1 pipeline's final model answers fresh training prompts; rejection
//!   sampling keeps the correct, well-formed, single-language answers.
//! * **SFT students** of three sizes (the shipped base checkpoints) → `table5_distilled`: each
//!   student's pass@1 and cons@k beside its base, the teacher and the paper's Table 5 rows.
//! * **Distillation vs RL on the same student** → `table6_distill_vs_rl`: the R1-Zero run (GRPO
//!   from the same base checkpoint) against the distilled student, with the training compute each
//!   used (FLOPs estimated as in [`crate::distill::compute`]).
//! * **Beyond the paper**: logit distillation ([`crate::distill::kd_loss`]) of one student on the
//!   same traces, steps and learning rate, beside plain SFT.
//!
//! Departures: the teacher is our R1 of the 10M "V3-Base" stand-in, 4.8× the largest student
//! (the paper's is a 671B MoE teaching 1.5B–70B dense models, 10× to 450×); the students share
//! the teacher's tokenizer; about a thousand traces instead of 800k.

use super::findings::{interval_cells, table_with_intervals, write_findings, Finding};
use super::report::{self, Cell, Reports};
use super::{
    cached_traces, r1_pipeline, r1_zero, task_and_test, EvalSpec, RunContext, Scale, SftStage,
};
use crate::distill::{self, compute, trace_rows, training_problems, Compute};
use crate::eval::bootstrap::Direction;
use crate::eval::EvalReport;
use crate::grpo::SampleRecord;
use crate::rejection::{RejectionConfig, RejectionStats, Trace, Verdict};
use crate::sft::SftConfig;
use crate::tasks::{self, Template};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Table 5: DeepSeek-R1-Distill-Qwen AIME 2024 pass@1 and cons@64.
pub const PAPER_TABLE5: [(&str, f64, f64); 4] = [
    ("DeepSeek-R1-Distill-Qwen-1.5B", 0.289, 0.527),
    ("DeepSeek-R1-Distill-Qwen-7B", 0.555, 0.833),
    ("DeepSeek-R1-Distill-Qwen-14B", 0.697, 0.800),
    ("DeepSeek-R1-Distill-Qwen-32B", 0.726, 0.833),
];
/// Table 6: RL on Qwen-32B-Base (10K+ steps) vs distillation, AIME 2024 pass@1 and cons@64.
pub const PAPER_TABLE6: [(&str, f64, f64); 2] = [
    ("DeepSeek-R1-Zero-Qwen-32B (RL, paper)", 0.470, 0.600),
    ("DeepSeek-R1-Distill-Qwen-32B (SFT, paper)", 0.726, 0.833),
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistillConfig {
    /// The teacher checkpoint: the R1 pipeline's final model.
    pub teacher: String,
    /// Students: a size `s` starts from `<data>/checkpoints/base-<s>`; a folder or a Hub id is
    /// loaded as it is.
    pub students: Vec<String>,
    /// `arithmetic` or `countdown`, or a word-problem file (`.jsonl` / `.parquet`).
    pub task: String,
    /// The held-out word problems of a word-problem `task` (unused for a synthetic task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// Fresh training prompts the teacher answers.
    pub trace_prompts: usize,
    pub rejection: RejectionConfig,
    /// Passes over the traces. Paper: not given for the students (2 for R1's own stage-3 SFT).
    pub epochs: f64,
    /// SFT settings (`steps` is set from the epochs).
    pub sft: SftConfig,
    /// The student also trained by logit distillation (beyond the paper), if any.
    pub logit_student: Option<String>,
    /// The R1-Zero run of Table 6 (its base must be one of the students).
    pub r1_zero: r1_zero::R1ZeroConfig,
    pub r1_zero_run_dir: PathBuf,
    pub eval_problems: usize,
    pub eval_k: usize,
    pub seed: u64,
}

impl DistillConfig {
    /// The preset of `scale`: the teacher is Table 4's R1 (workshop: the committed R1 of the
    /// "V3-Base" stand-in, `data/checkpoints/r1-10M`; smoke: the smoke pipeline's final model),
    /// and Table 6's RL run the 1M student's R1-Zero run.
    pub fn preset(scale: Scale, ctx: &RunContext) -> Self {
        let r1 = r1_pipeline::R1Config::preset(scale, ctx);
        Self {
            teacher: super::table4::Table4Config::preset(scale, ctx).r1,
            students: vec!["0.5M".into(), "1M".into(), "2M".into()],
            task: r1.task.clone(),
            test: None,
            trace_prompts: match scale {
                // Enough that a barely trained smoke teacher, which answers most prompts
                // directly and wrongly, still yields a few usable traces.
                Scale::Smoke => 160,
                Scale::Workshop => 1500,
            },
            rejection: RejectionConfig {
                samples_per_prompt: 2,
                seed: 11,
                ..r1.rejection.clone()
            },
            epochs: 2.0,
            sft: r1.sft.clone(),
            logit_student: Some("1M".into()),
            r1_zero: r1.r1_zero.clone(),
            r1_zero_run_dir: r1.r1_zero_run_dir.clone(),
            eval_problems: r1.eval_problems,
            eval_k: r1.eval_k,
            seed: 5,
        }
    }
}

impl DistillConfig {
    /// Seed `seed` of the experiment (`0` is the committed run): the trace draws, the SFT order
    /// and Table 6's R1-Zero run change with it. The committed workshop teacher is kept (seed N
    /// of the teacher itself is `r1lab sizes`'); the smoke teacher, a run of its own, becomes
    /// the smoke pipeline of the same seed.
    pub fn with_seed(mut self, seed: u64, ctx: &RunContext, scale: Scale) -> Self {
        let shift = r1_pipeline::SEED_STRIDE * seed;
        let preset_teacher = Self::preset(scale, ctx).teacher;
        if scale == Scale::Smoke && self.teacher == preset_teacher {
            let r1 = r1_zero::seeded_dir(&ctx.run_dir(r1_pipeline::RUN_NAME, scale), seed);
            self.teacher = r1_pipeline::final_checkpoint(&r1);
        }
        self.seed += shift;
        self.sft.seed += shift;
        self.rejection.seed += shift;
        self.r1_zero = self.r1_zero.with_seed(seed);
        self.r1_zero_run_dir = r1_zero::seeded_dir(&self.r1_zero_run_dir, seed);
        self
    }
}

/// One trained student.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudentResult {
    pub size: String,
    /// "sft", "logit_kd" or "rl".
    pub method: String,
    pub params: usize,
    pub base: EvalReport,
    pub trained: EvalReport,
    /// The student's own training compute.
    pub compute: Compute,
    pub wall_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistillResult {
    pub teacher: EvalReport,
    pub teacher_params: usize,
    pub traces: RejectionStats,
    /// FLOPs the teacher spent sampling the traces (2·N per token).
    pub teacher_sampling_flops: f64,
    pub students: Vec<StudentResult>,
    pub logit: Option<StudentResult>,
    pub rl: Option<StudentResult>,
}

/// Whether two paths name the same existing file or folder (relative or absolute).
fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Where student `s` starts: `<data>/checkpoints/base-<s>` for a size (`1M`), else `s` itself, a
/// checkpoint folder or a Hub id (`Qwen/Qwen2.5-0.5B`).
fn student_path(data: &Path, s: &str) -> PathBuf {
    if s.contains('/') || Path::new(s).is_dir() {
        PathBuf::from(s)
    } else {
        data.join("checkpoints").join(format!("base-{s}"))
    }
}

/// The R1-Zero run's training compute, from its samples: every prompt + completion token is
/// sampled (2·N), scored by the reference when β > 0 (2·N) and trained on μ times (6·N each).
pub fn grpo_compute(
    samples: &Path,
    params: usize,
    tokenizer: &crate::tokenizer::Tokenizer,
    template: Template,
    beta: f64,
    mu: usize,
) -> Result<Compute> {
    let text = std::fs::read_to_string(samples)
        .with_context(|| format!("cannot read {}", samples.display()))?;
    let mut tokens = 0usize;
    let mut prompt_len = std::collections::HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let s: SampleRecord = serde_json::from_str(line)
            .with_context(|| format!("bad line in {}", samples.display()))?;
        let p = match prompt_len.get(&s.question) {
            Some(n) => *n,
            None => {
                let n = tokenizer.encode(&template.render(&s.question))?.len();
                prompt_len.insert(s.question.clone(), n);
                n
            }
        };
        tokens += p + s.num_tokens;
    }
    let t = tokens as f64;
    let forward_passes = 1.0 + if beta > 0.0 { 1.0 } else { 0.0 };
    Ok(compute(
        params,
        t * mu as f64,
        2.0 * params as f64 * t * forward_passes,
    ))
}

fn sft_compute(dir: &Path, params: usize, extra_forward: f64) -> Result<(Compute, f64)> {
    let record = dir.join("r1lab_sft.json");
    anyhow::ensure!(
        record.exists(),
        "{} has no r1lab_sft.json: remove the folder and run again",
        dir.display()
    );
    let tokens = super::recorded(&record, "trained_tokens");
    let wall = super::recorded(&record, "wall_s");
    Ok((
        compute(params, tokens, extra_forward * 2.0 * params as f64 * tokens),
        wall,
    ))
}

/// Logit distillation compares the teacher's and the student's distributions token by token, so
/// it needs one vocabulary: refused, naming both, where they differ.
fn check_same_vocabulary(
    teacher: &crate::checkpoint::LoadedModel,
    student: &crate::checkpoint::LoadedModel,
    teacher_name: &str,
    student_name: &str,
) -> Result<()> {
    let (t, s) = (teacher.tokenizer()?, student.tokenizer()?);
    let same = teacher.model.config.vocab_size == student.model.config.vocab_size
        && t.vocab_size() == s.vocab_size()
        && t.eos_ids == s.eos_ids;
    anyhow::ensure!(
        same,
        "logit distillation needs one vocabulary, and the teacher {teacher_name} ({} tokens, \
         vocab_size {}) and the student {student_name} ({} tokens, vocab_size {}) differ: \
         distil by SFT on the traces only (DistillConfig::logit_student = None, \
         `--logit-student none`)",
        t.vocab_size(),
        teacher.model.config.vocab_size,
        s.vocab_size(),
        student.model.config.vocab_size
    );
    Ok(())
}

impl DistillConfig {
    /// Distils on `task`: a synthetic task by name, or a word-problem file with its held-out
    /// file `test`, prompted with `template` (as [`r1_zero::R1ZeroConfig::set_task`]; Table 6's
    /// R1-Zero run too).
    pub fn set_task(
        &mut self,
        task: &str,
        test: Option<&Path>,
        template: Option<Template>,
    ) -> Result<()> {
        self.r1_zero.set_task(task, test, template)?;
        self.task = task.into();
        self.test = test.map(Path::to_path_buf);
        self.rejection.template = self.r1_zero.grpo.template;
        Ok(())
    }
}

/// The run folder's name ([`RunContext::run_dir`]).
pub const RUN_NAME: &str = "distill";

/// Runs the distillation experiment and writes Tables 5 and 6. Finished pieces in `run_dir`
/// (traces, students, evaluations) are reused by a rerun.
pub fn run(
    cfg: &DistillConfig,
    ctx: &RunContext,
    run_dir: &Path,
    mut log: impl FnMut(String),
) -> Result<DistillResult> {
    let reports = Reports::writable(&ctx.reports)?;
    let (task, test) = task_and_test(ctx, &cfg.task, cfg.test.as_deref())?;
    let held_out = tasks::questions(&test);
    let d = Distillation {
        cfg,
        ctx,
        evals: run_dir.join("evals"),
        eval: EvalSpec::new(
            &cfg.task,
            &test,
            cfg.eval_problems,
            cfg.eval_k,
            cfg.rejection.max_new_tokens,
            cfg.rejection.template,
        ),
        teacher: ctx.load(&cfg.teacher).with_context(|| {
            format!(
                "no teacher model at {}: at smoke scale run `r1lab r1 --scale smoke` first; the \
                 workshop teacher is the committed data/checkpoints/r1-10M \
                 (data/checkpoints/README.md); or pass --teacher",
                cfg.teacher
            )
        })?,
    };
    let tokenizer = d.teacher.tokenizer()?.clone();
    let teacher_report = d.evaluate("teacher", &d.teacher.model, &tokenizer)?;
    let teacher_params = d.teacher.model.num_parameters();

    log(format!(
        "teacher traces: {} prompts × {}",
        cfg.trace_prompts, cfg.rejection.samples_per_prompt
    ));
    let (traces, stats) = cached_traces(&run_dir.join("traces"), Some(&d.teacher.model), || {
        let prompts = training_problems(task.as_ref(), cfg.trace_prompts, &held_out, cfg.seed)?;
        distill::teacher_traces(&d.teacher.model, &tokenizer, &prompts, &cfg.rejection)
    })?;
    log(format!(
        "  kept {} of {} ({:.0}%)",
        stats.count(Verdict::Kept),
        stats.judged,
        100.0 * stats.kept_rate()
    ));
    anyhow::ensure!(
        !traces.is_empty(),
        "the teacher produced no usable trace: train it longer (`r1lab r1` at workshop scale) or, \
         from the library, raise DistillConfig::trace_prompts"
    );

    let mut students = Vec::new();
    for size in &cfg.students {
        students.push(d.student(size, "sft", &traces, run_dir, &mut log)?);
    }
    let logit = match &cfg.logit_student {
        Some(size) => Some(d.student(size, "logit_kd", &traces, run_dir, &mut log)?),
        None => None,
    };
    let rl = d.rl_student(&students, &tokenizer, &mut log)?;
    let result = DistillResult {
        teacher: teacher_report,
        teacher_params,
        teacher_sampling_flops: 2.0 * teacher_params as f64 * stats.sampled_tokens as f64,
        traces: stats,
        students,
        logit,
        rl,
    };
    write_reports(cfg, &result, &reports)?;
    Ok(result)
}

/// What the students of one distillation run share: the teacher and the evaluation.
struct Distillation<'a> {
    cfg: &'a DistillConfig,
    ctx: &'a RunContext,
    /// Where the evaluations are cached.
    evals: PathBuf,
    eval: EvalSpec,
    teacher: crate::checkpoint::LoadedModel,
}

impl Distillation<'_> {
    /// Evaluates `model`, read with its own tokenizer (a real student may have another), or
    /// reads its cached evaluation.
    fn evaluate(
        &self,
        label: &str,
        model: &crate::model::Model,
        tokenizer: &crate::tokenizer::Tokenizer,
    ) -> Result<EvalReport> {
        self.eval
            .evaluate_cached(&self.evals, label, model, tokenizer)
    }

    /// Student `size` trained on the teacher's `traces` by `method` (`sft` or `logit_kd`) into
    /// `<run_dir>/student-<size>-<method>` (skipped when finished), evaluated before and after.
    fn student(
        &self,
        size: &str,
        method: &str,
        traces: &[Trace],
        run_dir: &Path,
        log: &mut dyn FnMut(String),
    ) -> Result<StudentResult> {
        let cfg = self.cfg;
        let base_path = student_path(&self.ctx.data, size);
        let base = self
            .ctx
            .load(&base_path.to_string_lossy())
            .with_context(|| {
                if base_path.ends_with(format!("base-{size}")) {
                    format!("student base-{size}: train it with `r1lab pretrain --size {size}`")
                } else {
                    format!("cannot load the student {size} (a checkpoint folder or a Hub id)")
                }
            })?;
        let stk = base.tokenizer()?.clone();
        if method == "logit_kd" {
            check_same_vocabulary(&self.teacher, &base, &cfg.teacher, size)?;
        }
        // The traces are text: each student reads them with its own tokenizer.
        let rows = trace_rows(traces, &stk)?;
        let params = base.model.num_parameters();
        let slug = size.replace('/', "--");
        let base_report = self.evaluate(&format!("base-{slug}"), &base.model, &stk)?;
        let out = run_dir.join(format!("student-{slug}-{method}"));
        if !out.join("config.json").exists() {
            log(format!("student {size} ({method}):"));
        }
        SftStage {
            start: &base_path.to_string_lossy(),
            rows: &rows,
            epochs: cfg.epochs,
            cfg: &cfg.sft,
            dir: &out,
        }
        .run_with(
            self.ctx,
            serde_json::json!({ "method": method, "teacher": cfg.teacher }),
            |model, rows, sft_cfg| match method {
                "sft" => crate::sft::train(model, rows, sft_cfg, |_| {}),
                _ => distill::train_logit(model, &self.teacher.model, rows, sft_cfg, |_| {}),
            },
            &mut *log,
        )?;
        let trained = self.ctx.load(&out.to_string_lossy())?;
        let report = self.evaluate(
            &format!("student-{slug}-{method}"),
            &trained.model,
            trained.tokenizer()?,
        )?;
        // Logit distillation also runs the teacher forward on every trained token.
        let extra = if method == "logit_kd" {
            self.teacher.model.num_parameters() as f64 / params as f64
        } else {
            0.0
        };
        let (c, wall) = sft_compute(&out, params, extra)?;
        let r = StudentResult {
            size: size.into(),
            method: method.into(),
            params,
            base: base_report,
            trained: report,
            compute: c,
            wall_s: wall,
        };
        log(format!(
            "  {size} {method}: pass@1 {:.3} -> {:.3}",
            r.base.pass_at_1, r.trained.pass_at_1
        ));
        Ok(r)
    }

    /// Table 6's RL student: the R1-Zero run (run first when it is not finished), when its base
    /// is one of the `students`, whose base evaluation it shares. `tokenizer` counts its prompts.
    fn rl_student(
        &self,
        students: &[StudentResult],
        tokenizer: &crate::tokenizer::Tokenizer,
        log: &mut dyn FnMut(String),
    ) -> Result<Option<StudentResult>> {
        let cfg = self.cfg;
        let Some(size) = cfg
            .students
            .iter()
            .find(|s| {
                same_path(
                    Path::new(&cfg.r1_zero.base),
                    &student_path(&self.ctx.data, s),
                )
            })
            .cloned()
        else {
            log(format!(
                "Table 6 skipped: the R1-Zero base {} is not one of the students",
                cfg.r1_zero.base
            ));
            return Ok(None);
        };
        let ckpt = r1_zero::ensure_finished(&cfg.r1_zero, self.ctx, &cfg.r1_zero_run_dir, log)?;
        let m = self.ctx.load(&ckpt.to_string_lossy())?;
        let params = m.model.num_parameters();
        let label = format!("rl-{}", size.replace('/', "--"));
        let report = self.evaluate(&label, &m.model, m.tokenizer()?)?;
        let g = &cfg.r1_zero.grpo;
        let c = grpo_compute(
            &cfg.r1_zero_run_dir.join("samples.jsonl"),
            params,
            tokenizer,
            g.template,
            g.beta,
            g.mu,
        )?;
        let base = students
            .iter()
            .find(|s| s.size == size)
            .map(|s| s.base.clone())
            .context("the RL student has no base evaluation")?;
        Ok(Some(StudentResult {
            size,
            method: "rl".into(),
            params,
            base,
            trained: report,
            compute: c,
            wall_s: super::recorded(&ckpt.join("trainer_state.json"), "wall_s"),
        }))
    }
}

/// The experiment's findings in sentences, from the measured numbers.
pub fn findings(r: &DistillResult) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(rl) = &r.rl {
        if let Some(d) = r.students.iter().find(|s| s.size == rl.size) {
            out.push(format!(
                "Distillation {} RL on the same {} student: pass@1 {:.3} distilled vs {:.3} after RL, with {:.3} vs {:.3} training GFLOP.",
                if d.trained.pass_at_1 > rl.trained.pass_at_1 { "beats" } else { "does not beat" },
                rl.size, d.trained.pass_at_1, rl.trained.pass_at_1, d.compute.flops / 1e9, rl.compute.flops / 1e9
            ));
        }
    }
    let mut by_size: Vec<&StudentResult> = r.students.iter().collect();
    by_size.sort_by_key(|s| s.params);
    let monotone = by_size
        .windows(2)
        .all(|w| w[1].trained.pass_at_1 >= w[0].trained.pass_at_1);
    out.push(format!(
        "Larger students {} at least as well as smaller ones: {}.",
        if monotone {
            "score"
        } else {
            "do not all score"
        },
        by_size
            .iter()
            .map(|s| format!("{} {:.3}", s.size, s.trained.pass_at_1))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if let (Some(l), Some(s)) = (
        &r.logit,
        r.logit
            .as_ref()
            .and_then(|l| r.students.iter().find(|s| s.size == l.size)),
    ) {
        out.push(format!(
            "Logit distillation of the {} student: pass@1 {:.3} vs {:.3} for plain SFT on the same traces and steps.",
            l.size, l.trained.pass_at_1, s.trained.pass_at_1
        ));
    }
    out
}

/// Writes `table5_distilled` and `table6_distill_vs_rl` into `reports`.
pub fn write_reports(cfg: &DistillConfig, r: &DistillResult, reports: &Reports) -> Result<()> {
    let k = cfg.eval_k;
    let (cons, base_cons) = (format!("cons@{k}"), format!("base cons@{k}"));
    let compared = ["pass@1", cons.as_str()];
    let mut t = table_with_intervals(
        &[
            "model",
            "params (M)",
            "pass@1",
            cons.as_str(),
            "base pass@1",
            base_cons.as_str(),
            "training GFLOP",
        ],
        &compared,
    );
    let mut teacher: Vec<Cell> = vec![
        "teacher: our R1 (the pipeline's final model)".into(),
        (r.teacher_params as f64 / 1e6).into(),
        r.teacher.pass_at_1.into(),
        r.teacher.cons_at_k.into(),
        f64::NAN.into(),
        f64::NAN.into(),
        f64::NAN.into(),
    ];
    teacher.extend(interval_cells(&r.teacher, &compared)?);
    t.row(teacher);
    for s in r.students.iter().chain(r.logit.iter()) {
        let how = if s.method == "sft" {
            "SFT on teacher traces"
        } else {
            "logit distillation, beyond the paper"
        };
        let mut row: Vec<Cell> = vec![
            format!("base-{} distilled ({how})", s.size).into(),
            (s.params as f64 / 1e6).into(),
            s.trained.pass_at_1.into(),
            s.trained.cons_at_k.into(),
            s.base.pass_at_1.into(),
            s.base.cons_at_k.into(),
            (s.compute.flops / 1e9).into(),
        ];
        row.extend(interval_cells(&s.trained, &compared)?);
        t.row(row);
    }
    for (name, a, c) in PAPER_TABLE5 {
        t.row(vec![
            format!("{name} (paper, AIME 2024; cons@64)").into(),
            f64::NAN.into(),
            a.into(),
            c.into(),
        ]);
    }
    let f = findings(r);
    reports.table(
        "table5_distilled",
        &t.frame()?,
        Some(&format!(
            "# Table 5 (ours): students fine-tuned on the teacher's traces, {} held-out {} problems, k = {k}, temperature 0.6, top-p 0.95\n\nTraces: the teacher answered {} prompts × {}; rejection sampling kept {} of {} ({:.0}%). Teacher sampling: {:.3} GFLOP.\n\n{}",
            cfg.eval_problems,
            cfg.task,
            cfg.trace_prompts,
            cfg.rejection.samples_per_prompt,
            r.traces.count(Verdict::Kept),
            r.traces.judged,
            100.0 * r.traces.kept_rate(),
            r.teacher_sampling_flops / 1e9,
            f.join(" ")
        )),
    )?;
    if let Some(rl) = &r.rl {
        write_table6(cfg, r, rl, &f, reports)?;
    }
    write_findings(
        reports,
        "findings_distillation",
        &distillation_findings(r)?,
        &format!(
            "# Distillation's findings (Tables 5 and 6), tested on {} held-out {} problems (k = {k})",
            cfg.eval_problems, cfg.task
        ),
    )
}

/// Tables 5 and 6's findings: each student learns from the teacher's traces, the largest
/// student beats the smallest, distillation beats RL on the same student.
fn distillation_findings(r: &DistillResult) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let name = |s: &StudentResult| format!("base-{} {}", s.size, s.method);
    for s in &r.students {
        let base = format!("base-{}", s.size);
        out.push(Finding::new(
            "Table 5: distillation teaches the student",
            (&name(s), &s.trained),
            (&base, &s.base),
            "pass@1",
            Direction::Positive,
        )?);
    }
    let by_size = |pick: fn(usize, usize) -> bool| {
        r.students
            .iter()
            .reduce(|a, b| if pick(b.params, a.params) { b } else { a })
    };
    if let (Some(large), Some(small)) = (by_size(|b, a| b > a), by_size(|b, a| b < a)) {
        if large.params != small.params {
            out.push(Finding::new(
                "Table 5: larger students learn more",
                (&name(large), &large.trained),
                (&name(small), &small.trained),
                "pass@1",
                Direction::Positive,
            )?);
        }
    }
    if let Some(rl) = &r.rl {
        if let Some(d) = r.students.iter().find(|s| s.size == rl.size) {
            out.push(Finding::new(
                "Table 6: distillation beats RL on the same student",
                (&name(d), &d.trained),
                (&name(rl), &rl.trained),
                "pass@1",
                Direction::Positive,
            )?);
        }
    }
    Ok(out)
}

/// Table 6: the RL student `rl` beside the distilled student of its size, and the paper's rows.
fn write_table6(
    cfg: &DistillConfig,
    r: &DistillResult,
    rl: &StudentResult,
    findings: &[String],
    reports: &Reports,
) -> Result<()> {
    let k = cfg.eval_k;
    let cons = format!("cons@{k}");
    let compared = ["pass@1", cons.as_str()];
    let mut t = table_with_intervals(
        &[
            "model",
            "pass@1",
            cons.as_str(),
            "student training GFLOP",
            "training wall s",
        ],
        &compared,
    );
    let rl_name = format!(
        "base-{} + R1-Zero RL ({} GRPO steps)",
        rl.size, cfg.r1_zero.grpo.steps
    );
    let distilled = r.students.iter().find(|s| s.size == rl.size);
    let rows = std::iter::once((rl_name, rl)).chain(distilled.map(|d| {
        (
            format!("base-{} distilled (SFT on the R1 teacher's traces)", d.size),
            d,
        )
    }));
    for (name, s) in rows {
        let mut row: Vec<Cell> = vec![
            name.into(),
            s.trained.pass_at_1.into(),
            s.trained.cons_at_k.into(),
            (s.compute.flops / 1e9).into(),
            s.wall_s.into(),
        ];
        row.extend(interval_cells(&s.trained, &compared)?);
        t.row(row);
    }
    for (name, a, c) in PAPER_TABLE6 {
        t.row(vec![name.into(), a.into(), c.into()]);
    }
    reports.table(
        "table6_distill_vs_rl",
        &t.frame()?,
        Some(&format!(
            "# Table 6 (ours): distillation vs RL on the same student (base-{}), {} held-out {} problems, k = {k}\n\nFLOPs: 6·N per trained token plus 2·N per sampled or reference-scored token (wall times exclude held-out evaluations). The teacher's own training and sampling are not counted for the distilled student (teacher sampling: {:.3} GFLOP).\n\n{}",
            rl.size, cfg.eval_problems, cfg.task, r.teacher_sampling_flops / 1e9,
            findings.first().cloned().unwrap_or_default()
        )),
    )
}

/// What `r1lab distill` prints: the teacher, each student, the findings.
pub fn summary(r: &DistillResult, reports: &Path, wall_s: f64) -> String {
    let students = r.students.iter().chain(r.logit.iter()).chain(r.rl.iter());
    let students = students.map(|s| {
        format!(
            "  {:<5} {:<8} pass@1 {:.3} -> {:.3}, cons@k {:.3} -> {:.3}, {:.2e} FLOPs",
            s.size,
            s.method,
            s.base.pass_at_1,
            s.trained.pass_at_1,
            s.base.cons_at_k,
            s.trained.cons_at_k,
            s.compute.flops
        )
    });
    report::summary(
        format!(
            "teacher pass@1 {:.3}; {} traces kept of {} ({wall_s:.0} s)",
            r.teacher.pass_at_1,
            r.traces.count(Verdict::Kept),
            r.traces.judged,
        ),
        students.chain(findings(r)),
        reports,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_seeded_distillation_keeps_the_committed_teacher_and_moves_its_own_draws() {
        let ctx = RunContext::cpu();
        // Workshop: Table 4's committed R1 teaches every seed.
        let preset = DistillConfig::preset(Scale::Workshop, &ctx);
        let s1 = preset.clone().with_seed(1, &ctx, Scale::Workshop);
        assert!(
            preset.teacher.ends_with("checkpoints/r1-10M"),
            "{}",
            preset.teacher
        );
        assert_eq!(s1.teacher, preset.teacher);
        assert_eq!(s1.seed, preset.seed + r1_pipeline::SEED_STRIDE);
        assert_eq!(s1.sft.seed, preset.sft.seed + r1_pipeline::SEED_STRIDE);
        assert_eq!(s1.r1_zero.grpo.seed, 1);
        // Smoke: the teacher is the smoke pipeline's, of the same seed.
        let smoke = DistillConfig::preset(Scale::Smoke, &ctx);
        let r1 = ctx.run_dir(r1_pipeline::RUN_NAME, Scale::Smoke);
        assert!(smoke.teacher.starts_with(&*r1.to_string_lossy()));
        let t1 = smoke.clone().with_seed(1, &ctx, Scale::Smoke).teacher;
        assert!(t1.starts_with(&*format!("{}-seed1", r1.display())), "{t1}");
        // A teacher given by hand is kept.
        let mut own = smoke;
        own.teacher = "elsewhere/checkpoint".into();
        assert_eq!(
            own.with_seed(1, &ctx, Scale::Smoke).teacher,
            "elsewhere/checkpoint"
        );
    }

    use super::*;

    #[test]
    fn the_rl_student_is_found_from_relative_and_absolute_paths() {
        let abs = std::env::current_dir().unwrap().join("data");
        assert!(same_path(
            Path::new("data/checkpoints/base-1M"),
            &student_path(&abs, "1M")
        ));
        assert!(!same_path(
            Path::new("data/checkpoints/base-1M"),
            &student_path(&abs, "2M")
        ));
    }
}
