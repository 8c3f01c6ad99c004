//! Subcommands on one model: `info`, `generate`, `eval`, `eval-base`, and `test-sets`.

use super::common::{progress_bar, progress_spinner, DataArg, DEFAULT_MODEL};
use anyhow::Result;
use clap::Args;
use r1lab::experiments::{base_models, RunContext};
use r1lab::tasks::word_problems::WordProblemTask;
use r1lab::{eval, sampling, tasks};
use std::path::PathBuf;

/// Print a model's architecture and parameter count.
#[derive(Args, Debug)]
pub struct Info {
    /// A checkpoint folder or a Hugging Face Hub id (owner/name).
    #[arg(default_value = DEFAULT_MODEL)]
    pub model: String,
}

pub fn info(a: Info, ctx: &RunContext) -> Result<()> {
    let loaded = ctx.load(&a.model)?;
    let c = &loaded.model.config;
    println!("model        {}", a.model);
    println!("files        {}", loaded.source.display());
    println!("architecture {:?} ({})", c.architecture()?, c.model_type);
    println!("parameters   {}", loaded.model.num_parameters());
    println!(
        "shape        {} layers, hidden {}, {} heads ({} kv heads, head dim {}), intermediate {}, vocab {}",
        c.num_hidden_layers,
        c.hidden_size,
        c.num_attention_heads,
        c.num_kv_heads(),
        c.head_dim(),
        c.intermediate_size,
        c.vocab_size
    );
    println!("tied head    {}", c.tie_word_embeddings);
    println!(
        "positions    {} (rope theta {})",
        c.max_position_embeddings, c.rope_theta
    );
    match &loaded.tokenizer {
        Some(t) => println!(
            "tokenizer    {} tokens, eos {:?}",
            t.vocab_size(),
            t.eos_ids
        ),
        None => println!("tokenizer    none"),
    }
    println!("device       {}", ctx.describe());
    Ok(())
}

/// Sample completions from a model.
#[derive(Args, Debug)]
pub struct Generate {
    /// A checkpoint folder or a Hugging Face Hub id (owner/name).
    #[arg(default_value = DEFAULT_MODEL)]
    pub model: String,
    /// The prompt text (repeatable: one batch of several prompts).
    #[arg(long, default_values_t = vec!["User: What is 27 + 45? Assistant: <think>".to_string()])]
    pub prompt: Vec<String>,
    /// Completions per prompt (the G of GRPO).
    #[arg(short, long, default_value_t = 4)]
    pub n: usize,
    /// Sampling temperature (0 = greedy). The paper evaluates at 0.6.
    #[arg(long, default_value_t = 0.6)]
    pub temperature: f64,
    /// Nucleus sampling threshold. The paper evaluates at 0.95.
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f64,
    /// Keep only the k most likely tokens (0 = off).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    #[arg(long, default_value_t = 96)]
    pub max_new_tokens: usize,
    /// Stop when the completion contains this text (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn generate(a: Generate, ctx: &RunContext) -> Result<()> {
    let loaded = ctx.load(&a.model)?;
    let tk = loaded.tokenizer()?;
    let prompts = a
        .prompt
        .iter()
        .map(|p| tk.encode(p))
        .collect::<Result<Vec<_>>>()?;
    let cfg = sampling::SamplingConfig {
        temperature: a.temperature,
        top_p: a.top_p,
        top_k: a.top_k,
        max_new_tokens: a.max_new_tokens,
        stop_strings: a.stop,
        seed: a.seed,
    };
    let n = a.n;
    let spinner = progress_spinner(format!("sampling {} × {n} completions", prompts.len()));
    let out = sampling::generate(&loaded.model, tk, &prompts, n, &cfg)?;
    spinner.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for c in &out {
        println!(
            "--- prompt {} sample {} ({} tokens, {:?}) ---\n{}{}",
            c.prompt_index,
            c.sample_index,
            c.token_ids.len(),
            c.finish,
            a.prompt[c.prompt_index],
            c.text
        );
    }
    Ok(())
}

/// Write a training checkpoint's model (a run's `checkpoint` folder) as a Hugging Face folder:
/// weights, config, tokenizer, the paper's sampling defaults, and where it came from; no
/// optimizer state.
#[derive(Args, Debug)]
pub struct Export {
    /// The training checkpoint, e.g. runs/r1-zero-base-10M/checkpoint.
    pub from: PathBuf,
    /// The new folder, e.g. data/checkpoints/r1-zero-10M (must not exist).
    pub to: PathBuf,
}

pub fn export(a: Export) -> Result<()> {
    r1lab::checkpoint::export(&a.from, &a.to)?;
    println!("{} -> {}", a.from.display(), a.to.display());
    Ok(())
}

/// Evaluate a model with the paper's protocol (k samples at temperature 0.6, top-p 0.95).
#[derive(Args, Debug)]
pub struct Eval {
    /// A checkpoint folder or a Hugging Face Hub id.
    #[arg(default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Task: arithmetic or countdown (held-out sets in data/tasks), or a .jsonl or .parquet file
    /// of word problems (`question`, `answer`: GSM8K's layout).
    #[arg(long, default_value = "arithmetic")]
    pub task: String,
    /// Samples per question.
    #[arg(short, long, default_value_t = 16)]
    pub k: usize,
    /// Evaluate on the first N problems only.
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, default_value_t = 160)]
    pub max_new_tokens: usize,
    /// The prompt template: r1-zero-short (the in-repo models) or r1-zero-paper (Table 1's text,
    /// for real models). Default: the paper's for a word-problem file, the short one otherwise.
    #[arg(long, value_parser = parse_template)]
    pub template: Option<tasks::Template>,
    #[command(flatten)]
    pub data: DataArg,
    /// Write the table (CSV and Markdown) to this path stem.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A template by its command-line name.
pub fn parse_template(name: &str) -> Result<tasks::Template, String> {
    match name {
        "r1-zero-short" => Ok(tasks::Template::R1ZeroShort),
        "r1-zero-paper" => Ok(tasks::Template::R1ZeroPaper),
        other => Err(format!(
            "unknown template {other:?}: use r1-zero-short or r1-zero-paper"
        )),
    }
}

pub fn eval(a: Eval, ctx: &RunContext) -> Result<()> {
    let loaded = ctx.load(&a.model)?;
    let tk = loaded.tokenizer()?;
    let word_problems = WordProblemTask::is_file_name(&a.task);
    let mut problems = if word_problems {
        WordProblemTask::from_file(&PathBuf::from(&a.task))?
            .problems()
            .to_vec()
    } else {
        tasks::read_test_set(&a.data.data.join("tasks"), &a.task)?
    };
    if let Some(n) = a.limit {
        problems.truncate(n);
    }
    let template = a.template.unwrap_or(if word_problems {
        tasks::Template::R1ZeroPaper
    } else {
        tasks::Template::R1ZeroShort
    });
    let cfg = eval::EvalConfig {
        k: a.k,
        max_new_tokens: a.max_new_tokens,
        template,
        ..Default::default()
    };
    let pb = progress_bar(problems.len() as u64, &format!("evaluating on {}", a.task));
    let report = eval::evaluate(
        &loaded.model,
        tk,
        &a.model,
        &a.task,
        &problems,
        &cfg,
        |done, _| pb.set_position(done as u64),
    )?;
    pb.finish_and_clear();
    let df = report.to_frame()?;
    println!("{df}");
    if let Some(stem) = a.out {
        eval::table::write_table(&df, &stem, None)?;
        println!("wrote {}.csv and .md", stem.display());
    }
    Ok(())
}

/// Evaluate the shipped base models on every task (data/checkpoints/base_models_eval.{csv,md}).
#[derive(Args, Debug)]
pub struct EvalBase {
    /// Sizes whose data/checkpoints/base-<size> to evaluate (the students' bases and the 10M
    /// "V3-Base" stand-in).
    #[arg(long, value_delimiter = ',', default_values_t = vec!["0.5M".to_string(), "1M".to_string(), "2M".to_string(), "10M".to_string()])]
    pub sizes: Vec<String>,
    #[arg(short, long, default_value_t = 16)]
    pub k: usize,
    /// Problems per task (the first N of each held-out set; default: all of them).
    #[arg(long, default_value_t = r1lab::tasks::TEST_SET_SIZE)]
    pub limit: usize,
    #[arg(long, default_value_t = 160)]
    pub max_new_tokens: usize,
    #[command(flatten)]
    pub data: DataArg,
    /// Output path stem.
    #[arg(long, default_value = "data/checkpoints/base_models_eval")]
    pub out: PathBuf,
}

pub fn eval_base(a: EvalBase, ctx: &RunContext) -> Result<()> {
    let data = &a.data.data;
    let ckpts: Vec<(String, PathBuf)> = a
        .sizes
        .iter()
        .map(|s| {
            (
                format!("base-{s}"),
                data.join(format!("checkpoints/base-{s}")),
            )
        })
        .collect();
    let cfg = eval::EvalConfig {
        k: a.k,
        max_new_tokens: a.max_new_tokens,
        ..Default::default()
    };
    let start = std::time::Instant::now();
    let (df, _) = base_models::evaluate_base_models(
        ctx,
        &ckpts,
        &["arithmetic", "countdown"],
        data,
        &cfg,
        a.limit,
        |m| eprintln!("evaluating {m}"),
    )?;
    println!("{df}");
    let (limit, k) = (a.limit, a.k);
    eval::table::write_table(
        &df,
        &a.out,
        Some(&format!(
            "# Base models on the held-out sets (first {limit} problems, k = {k}, temperature 0.6, top-p 0.95; `low`/`high`: 95% bootstrap interval over the problems)\n\nRegenerate: `cargo run --release -- eval-base --limit {limit} -k {k}`"
        )),
    )?;
    println!(
        "wrote {}.csv and .md in {:.0} s",
        a.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Write the fixed, seeded held-out test sets of the synthetic tasks to data/tasks/.
#[derive(Args, Debug)]
pub struct TestSets {
    #[command(flatten)]
    pub data: DataArg,
}

pub fn test_sets(a: TestSets) -> Result<()> {
    for p in tasks::write_test_sets(&a.data.data.join("tasks"))? {
        println!("wrote {}", p.display());
    }
    Ok(())
}
