//! The `r1lab` command line. Every subcommand has `--help`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use r1lab::experiments::{
    base_models, distillation, grpo_variants, r1_pipeline, r1_zero, real_models, Scale,
};
use r1lab::{bench, checkpoint, device, eval, gpu_check, sampling, tasks};
use std::path::{Path, PathBuf};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The model shipped with the repository, used when no model is named.
const DEFAULT_MODEL: &str = "data/checkpoints/base-1M";

#[derive(Parser)]
#[command(
    name = "r1lab",
    version,
    about = "A literate Rust reproduction of DeepSeek-R1 (GRPO, R1-Zero, R1, distillation)"
)]
struct Cli {
    /// Device: cpu, cuda, cuda:N or auto [default: cpu; cuda for gpu-check].
    #[arg(long, global = true)]
    device: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a model's architecture and parameter count.
    Info {
        /// A checkpoint folder or a Hugging Face Hub id (owner/name).
        #[arg(default_value = DEFAULT_MODEL)]
        model: String,
    },
    /// Sample completions from a model.
    Generate {
        /// A checkpoint folder or a Hugging Face Hub id (owner/name).
        #[arg(default_value = DEFAULT_MODEL)]
        model: String,
        /// The prompt text (repeatable: one batch of several prompts).
        #[arg(long, default_values_t = vec!["User: What is 27 + 45? Assistant: <think>".to_string()])]
        prompt: Vec<String>,
        /// Completions per prompt (the G of GRPO).
        #[arg(short, long, default_value_t = 4)]
        n: usize,
        /// Sampling temperature (0 = greedy). The paper evaluates at 0.6.
        #[arg(long, default_value_t = 0.6)]
        temperature: f64,
        /// Nucleus sampling threshold. The paper evaluates at 0.95.
        #[arg(long, default_value_t = 0.95)]
        top_p: f64,
        /// Keep only the k most likely tokens (0 = off).
        #[arg(long, default_value_t = 0)]
        top_k: usize,
        #[arg(long, default_value_t = 96)]
        max_new_tokens: usize,
        /// Stop when the completion contains this text (repeatable).
        #[arg(long)]
        stop: Vec<String>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pretrain a base model on the synthetic corpus (next-token SFT) and save it.
    Pretrain {
        /// Model size: 0.5M, 1M or 2M.
        #[arg(long, default_value = "1M")]
        size: String,
        #[arg(long, value_enum, default_value = "workshop")]
        scale: Scale,
        /// Pretrain on one task only: arithmetic or countdown (default: both, as the shipped
        /// base models).
        #[arg(long)]
        task: Option<String>,
        /// Output folder (default <data>/checkpoints/base-<size>, or base-<size>-<task>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the number of optimizer steps.
        #[arg(long)]
        steps: Option<usize>,
        /// Fraction (0 to 1) of step-by-step and self-correction documents worked at the finer
        /// grain (multiplication digit by digit; checks that recompute that way), with half that
        /// share of the facts "x * d + c" steps. Default 0, as the shipped base models; see
        /// `CorpusConfig::detailed`. The default output folder gets a `-detailed<P>` suffix.
        #[arg(long)]
        detailed: Option<f64>,
        /// Relative weights of the corpus's document kinds: direct, step-by-step, slip,
        /// self-correction, facts (default 0.70,0.30,0.02,0.13,0.20, as the shipped base models;
        /// see `KindMix`). Another mix gets a `-kinds<weights>` suffix on the default output folder.
        #[arg(long)]
        kinds: Option<String>,
        /// Fraction (0 to 1) of countdown's step-by-step documents written as a search: attempts
        /// that miss, each rejected after "wait", then the one that works. Default 0, as the
        /// shipped base models; see `CorpusConfig::search` (with --detailed, the share is of the
        /// documents not drawn detailed). The default output folder gets a
        /// `-search<P>` suffix.
        #[arg(long)]
        search: Option<f64>,
        /// Fraction (0 to 1) of plain step-by-step documents that first state a guess (a direct
        /// answer, sometimes wrong) and then check it by working after "wait", the operands
        /// restated. Default 0.8, as the shipped base models; see `CorpusConfig::guess`. Another
        /// share gets a `-guess<P>` suffix on the default output folder.
        #[arg(long)]
        guess: Option<f64>,
        /// Fraction (0 to 1) of plain step-by-step arithmetic documents that check their answer
        /// by working the problem again after "wait", the operands restated (swapped, then as
        /// asked, alternately) until two answers agree, four workings at most, drawn among the
        /// documents not drawn as a guess (add `--guess 0` to repeat the runs of
        /// `reports/LOG.md`). Default 0, as the shipped base models; see
        /// `CorpusConfig::recheck`. The default output folder gets a `-recheck<P>` suffix.
        #[arg(long)]
        recheck: Option<f64>,
        /// Tokens per packed pretraining row (default 128, as the shipped base models). Rows per
        /// step shrink to keep 2,048 tokens per step; use 256 for a corpus whose documents run
        /// past 128 tokens. Another length gets a `-seq<N>` suffix on the default output folder.
        #[arg(long)]
        seq_len: Option<usize>,
        /// The data folder (test sets, tokenizer).
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Evaluate a model with the paper's protocol (k samples at temperature 0.6, top-p 0.95).
    Eval {
        /// A checkpoint folder or a Hugging Face Hub id.
        #[arg(default_value = DEFAULT_MODEL)]
        model: String,
        /// Task: arithmetic or countdown (held-out sets in data/tasks), or a JSONL or parquet file
        /// of word problems (question, answer).
        #[arg(long, default_value = "arithmetic")]
        task: String,
        /// Samples per question.
        #[arg(short, long, default_value_t = 16)]
        k: usize,
        /// Evaluate on the first N problems only.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, default_value_t = 160)]
        max_new_tokens: usize,
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Write the table (CSV and Markdown) to this path stem.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// R1-Zero: GRPO with accuracy + format rewards from the base model (Figures 2-3, Tables 2-3).
    R1Zero {
        #[arg(long, value_enum, default_value = "workshop")]
        scale: Scale,
        /// The base checkpoint.
        #[arg(long)]
        base: Option<String>,
        /// arithmetic or countdown.
        #[arg(long)]
        task: Option<String>,
        /// Override the number of RL steps.
        #[arg(long)]
        steps: Option<usize>,
        /// Override μ, the optimisation passes over each sampled batch (paper: 1).
        #[arg(long)]
        mu: Option<usize>,
        /// Override the optimizer steps per pass, the batch being split into this many
        /// minibatches (paper: 16; ours: 1). Above 1 the later minibatches are off-policy, so the
        /// clip can bind.
        #[arg(long)]
        minibatches: Option<usize>,
        /// Override the completion budget in tokens, for training and the held-out evaluation
        /// (workshop: 128; prompt and completion must fit the model's 320 positions).
        #[arg(long)]
        max_completion: Option<usize>,
        /// The RL seed: which training problems each step draws and how completions are
        /// sampled (default 0, the committed run). Another seed is another run of the same
        /// experiment, to measure what one seed cannot resolve; its default run folder gets a
        /// `-seed<N>` suffix (give `--reports` another folder to keep the committed reports).
        #[arg(long)]
        seed: Option<u64>,
        /// Where metrics.csv, samples.jsonl and the checkpoint go (a rerun resumes from it).
        #[arg(long)]
        run_dir: Option<PathBuf>,
        /// Where the figures and tables go.
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// DeepSeek-R1's pipeline: cold start, reasoning RL with language consistency (and the
    /// ablation without it), rejection-sampling SFT, final RL (Table 4).
    R1 {
        #[arg(long, value_enum, default_value = "workshop")]
        scale: Scale,
        /// The base checkpoint every SFT stage starts from.
        #[arg(long)]
        base: Option<String>,
        /// Where every stage is saved (a rerun skips finished stages and resumes RL).
        #[arg(long)]
        run_dir: Option<PathBuf>,
        /// The R1-Zero run compared against (run first if it is not finished).
        #[arg(long)]
        r1_zero_run_dir: Option<PathBuf>,
        /// Skip the stage-2 run without the language-consistency reward.
        #[arg(long)]
        no_ablation: bool,
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Distillation: SFT students of three sizes on the R1 teacher's traces, logit distillation,
    /// and distillation vs RL on the same student (Tables 5 and 6). Needs `r1lab r1` first.
    Distill {
        #[arg(long, value_enum, default_value = "workshop")]
        scale: Scale,
        /// The teacher checkpoint (default: the R1 pipeline's final model at this scale).
        #[arg(long)]
        teacher: Option<String>,
        /// Student sizes (data/checkpoints/base-<size>).
        #[arg(long, value_delimiter = ',')]
        students: Option<Vec<String>>,
        /// Where traces, students and evaluations go (a rerun reuses them).
        #[arg(long)]
        run_dir: Option<PathBuf>,
        /// The R1-Zero run of Table 6 (run first if it is not finished).
        #[arg(long)]
        r1_zero_run_dir: Option<PathBuf>,
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// GRPO vs Dr. GRPO vs DAPO on the R1-Zero task and budget (beyond the paper); the GRPO run
    /// is the R1-Zero run (run first if it is not finished).
    Variants {
        #[arg(long, value_enum, default_value = "workshop")]
        scale: Scale,
        /// Where the Dr. GRPO and DAPO runs go (a rerun resumes them).
        #[arg(long)]
        run_dir: Option<PathBuf>,
        /// The R1-Zero run that serves as the GRPO variant.
        #[arg(long)]
        r1_zero_run_dir: Option<PathBuf>,
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// The same GRPO on a real checkpoint and word problems (with --model, --train and --test; on
    /// a GPU: --device cuda with a `cuda` build), or, without --model, on the CPU stand-in: the
    /// shipped base-1M loaded by id from a local Hub cache, arithmetic as word problems.
    Real {
        #[arg(long, value_enum, default_value = "workshop")]
        scale: Scale,
        /// A Hugging Face Hub id or a checkpoint folder, e.g. Qwen/Qwen2.5-0.5B.
        #[arg(long, requires_all = ["train", "test"])]
        model: Option<String>,
        /// Word problems to train on (JSONL or parquet, `question` and `answer`: GSM8K's layout).
        #[arg(long, requires = "model")]
        train: Option<PathBuf>,
        /// Word problems to evaluate on.
        #[arg(long, requires = "model")]
        test: Option<PathBuf>,
        /// RL steps (default: the preset's).
        #[arg(long)]
        steps: Option<usize>,
        /// Default: runs/real-models (the stand-in) or runs/real-models-gpu (with --model).
        #[arg(long)]
        run_dir: Option<PathBuf>,
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Regenerate every report: R1-Zero (Figures 2-3, Tables 2-3), the GRPO variants, the R1
    /// pipeline (Table 4), distillation (Tables 5-6) and the real-model stand-in, one after the
    /// other; finished runs under runs/ are reused.
    Reproduce {
        #[arg(long, value_enum, default_value = "workshop")]
        scale: Scale,
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Evaluate the shipped base models on every task (data/checkpoints/base_models_eval.{csv,md}).
    EvalBase {
        /// Sizes whose data/checkpoints/base-<size> to evaluate.
        #[arg(long, value_delimiter = ',', default_values_t = vec!["0.5M".to_string(), "1M".to_string(), "2M".to_string()])]
        sizes: Vec<String>,
        #[arg(short, long, default_value_t = 16)]
        k: usize,
        /// Problems per task (the first N of each held-out set).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, default_value_t = 160)]
        max_new_tokens: usize,
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Output path stem.
        #[arg(long, default_value = "data/checkpoints/base_models_eval")]
        out: PathBuf,
    },
    /// Write the fixed, seeded held-out test sets of the synthetic tasks to data/tasks/.
    TestSets {
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Training-step and sampling throughput at named model sizes (see bench/configs.json).
    Bench {
        /// Sizes to measure.
        #[arg(long, value_delimiter = ',', default_values_t = vec!["1M".to_string(), "10M".to_string(), "100M".to_string()])]
        sizes: Vec<String>,
        /// Another configs file with the shape of bench/configs.json.
        #[arg(long)]
        configs: Option<PathBuf>,
        /// Write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Measure in bf16 (GPU) instead of f32.
        #[arg(long)]
        bf16: bool,
        /// Measure whole GRPO steps instead (the `grpo` workload of the configs, which
        /// bench/trl_bench.py runs with TRL's GRPOTrainer).
        #[arg(long)]
        grpo: bool,
    },
    /// Prove the CUDA path: parity, gradients, GRPO and SFT smoke runs, 0.5B bf16 throughput
    /// (writes gpu_check.json and gpu_check.md; exits 1 if a check fails).
    GpuCheck {
        /// Where gpu_check.json and gpu_check.md go.
        #[arg(long, default_value = "gpu-check")]
        out: PathBuf,
        /// Smoke-sized workloads (seconds on a CPU; what the tests run).
        #[arg(long)]
        quick: bool,
        /// The parity fixtures (tiny-qwen2, tiny-llama).
        #[arg(long, default_value = "tests/fixtures")]
        fixtures: PathBuf,
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The base checkpoint of the GRPO and SFT smoke runs.
        #[arg(long, default_value = DEFAULT_MODEL)]
        base: PathBuf,
        /// GRPO steps (default 40; 3 with --quick).
        #[arg(long)]
        grpo_steps: Option<usize>,
        /// SFT steps (default 40; 6 with --quick).
        #[arg(long)]
        sft_steps: Option<usize>,
        /// Model preset of the throughput check (default 0.5B; 1M with --quick).
        #[arg(long)]
        throughput_size: Option<String>,
        #[arg(long)]
        skip_throughput: bool,
    },
}

/// Writes a `r1lab bench` result file: the framework, threads and device that every result
/// file carries (read by bench/compare.py), then `fields`.
fn write_bench_json(
    path: &Path,
    dev: &candle_core::Device,
    fields: serde_json::Value,
) -> Result<()> {
    let mut doc = serde_json::json!({
        "framework": "r1lab-candle",
        "threads": candle_core::utils::get_num_threads(),
        "device": device::describe(dev),
    });
    if let (Some(d), serde_json::Value::Object(f)) = (doc.as_object_mut(), fields) {
        d.extend(f);
    }
    checkpoint::atomic_write(path, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 headers; libmimalloc-sys
/// 0.1.49 builds v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // Keep freed memory mapped: candle allocates and frees large activation buffers every step,
    // and returning them to the OS made the kernel spend ~30% of a training step zeroing pages.
    // SAFETY: sets a process-wide allocator option before any other thread runs.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // No transparent huge pages either: with them the kernel still zeroed 2 MiB pages over and
    // over (3.6 GB in six GRPO steps of a 1.4 GB process; bench/README.md). mimalloc's own
    // `allow_thp` option is read before `main`, so ask the kernel directly. A failure only
    // costs speed, so it is ignored. `R1LAB_THP=1` keeps them (to measure the difference).
    #[cfg(target_os = "linux")]
    if std::env::var_os("R1LAB_THP").is_none_or(|v| v != "1") {
        // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and touches no memory of ours.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let default_device = if matches!(cli.command, Command::GpuCheck { .. }) {
        "cuda"
    } else {
        "cpu"
    };
    let dev = device::select(cli.device.as_deref().unwrap_or(default_device))?;
    match cli.command {
        Command::Info { model } => {
            let loaded = checkpoint::load(&model, candle_core_dtype(&dev), &dev)?;
            let c = &loaded.model.config;
            println!("model        {model}");
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
            println!("device       {}", device::describe(&dev));
        }
        Command::Generate {
            model,
            prompt,
            n,
            temperature,
            top_p,
            top_k,
            max_new_tokens,
            stop,
            seed,
            json,
        } => {
            let loaded = checkpoint::load(&model, candle_core_dtype(&dev), &dev)?;
            let tk = loaded.tokenizer()?;
            let prompts = prompt
                .iter()
                .map(|p| tk.encode(p))
                .collect::<Result<Vec<_>>>()?;
            let cfg = sampling::SamplingConfig {
                temperature,
                top_p,
                top_k,
                max_new_tokens,
                stop_strings: stop,
                seed,
            };
            let spinner = progress_spinner(format!("sampling {} × {n} completions", prompts.len()));
            let out = sampling::generate(&loaded.model, tk, &prompts, n, &cfg)?;
            spinner.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for c in &out {
                    println!(
                        "--- prompt {} sample {} ({} tokens, {:?}) ---\n{}{}",
                        c.prompt_index,
                        c.sample_index,
                        c.token_ids.len(),
                        c.finish,
                        prompt[c.prompt_index],
                        c.text
                    );
                }
            }
        }
        Command::Pretrain {
            size,
            scale,
            task,
            out,
            steps,
            detailed,
            kinds,
            search,
            guess,
            recheck,
            seq_len,
            data,
        } => {
            let mut cfg = base_models::PretrainConfig::preset(&size, scale)?;
            if let Some(s) = steps {
                cfg.sft.steps = s;
            }
            if let Some(k) = &kinds {
                let context = || format!("--kinds {k} (five non-negative weights, not all zero)");
                cfg.corpus.kinds = r1lab::corpus::KindMix::parse(k).with_context(context)?;
                cfg.corpus.validate().with_context(context)?;
            }
            // The corpus's experiment shares: each sets one field, checked at once.
            type Share = fn(&mut r1lab::corpus::CorpusConfig) -> &mut f64;
            let shares: [(&str, Option<f64>, Share); 4] = [
                ("--detailed", detailed, |c| &mut c.detailed),
                ("--search", search, |c| &mut c.search),
                ("--guess", guess, |c| &mut c.guess),
                ("--recheck", recheck, |c| &mut c.recheck),
            ];
            for (flag, value, field) in shares {
                if let Some(p) = value {
                    *field(&mut cfg.corpus) = p;
                    cfg.corpus
                        .validate()
                        .with_context(|| format!("{flag} {p} (a fraction from 0 to 1)"))?;
                }
            }
            if let Some(n) = seq_len {
                cfg.set_seq_len(n)
                    .with_context(|| format!("--seq-len {n}"))?;
            }
            // Each share acts on one task's documents only: refuse a corpus it cannot touch.
            for (flag, share, needs) in [
                ("--search", cfg.corpus.search, "countdown"),
                ("--recheck", cfg.corpus.recheck, "arithmetic"),
            ] {
                if let Some(t) = task.as_deref().filter(|t| share > 0.0 && *t != needs) {
                    anyhow::bail!("{flag} acts on {needs} documents only and --task {t} has none: drop --task or {flag}");
                }
            }
            let mut name = match &task {
                Some(t) => format!("base-{size}-{t}"),
                None => format!("base-{size}"),
            };
            // Never overwrite the shipped base model with one pretrained on another corpus:
            // each share that differs from the shipped corpus's names itself ("-guess0").
            let mut shipped = r1lab::corpus::CorpusConfig::default();
            for (flag, _, field) in shares {
                let p = *field(&mut cfg.corpus);
                if p != *field(&mut shipped) {
                    name.push_str(&format!("-{}{p}", flag.trim_start_matches('-')));
                }
            }
            if cfg.seq_len != base_models::PRETRAIN_SEQ_LEN {
                name.push_str(&format!("-seq{}", cfg.seq_len));
            }
            if cfg.corpus.kinds != r1lab::corpus::KindMix::default() {
                name.push_str(&format!("-kinds{}", cfg.corpus.kinds.render()));
            }
            cfg.task = task;
            let out = out.unwrap_or_else(|| data.join("checkpoints").join(&name));
            let held = base_models::held_out_questions(&data)?;
            let tk = base_models::project_tokenizer(&data.join("tokenizer/tokenizer.json"), &held)?;
            let pb = progress_bar(cfg.sft.steps as u64, &format!("pretraining base-{size}"));
            let (model, logs) = base_models::pretrain(&cfg, &tk, &held, &out, &dev, |l| {
                pb.set_position(l.step as u64 + 1);
                pb.set_message(format!("loss {:.3}, {:.0} tok/s", l.loss, l.tokens_per_s));
                log_line(
                    l.step,
                    cfg.sft.steps,
                    &format!(
                        "loss {:.4} lr {:.2e} {:.0} tok/s",
                        l.loss, l.lr, l.tokens_per_s
                    ),
                );
            })?;
            pb.finish();
            let last = logs.last().map(|l| l.loss).unwrap_or(f64::NAN);
            println!(
                "saved {} ({} parameters, {} steps, final loss {last:.3}) to {}",
                size,
                model.num_parameters(),
                logs.len(),
                out.display()
            );
        }
        Command::Eval {
            model,
            task,
            k,
            limit,
            max_new_tokens,
            data,
            out,
        } => {
            let loaded = checkpoint::load(&model, candle_core_dtype(&dev), &dev)?;
            let tk = loaded.tokenizer()?;
            let path = PathBuf::from(&task);
            let mut problems = if path.extension().is_some_and(|e| e == "jsonl") {
                tasks::word_problems::WordProblemTask::from_jsonl(&path)?
                    .problems()
                    .to_vec()
            } else {
                tasks::read_test_set(&data.join("tasks"), &task)?
            };
            if let Some(n) = limit {
                problems.truncate(n);
            }
            let cfg = eval::EvalConfig {
                k,
                max_new_tokens,
                ..Default::default()
            };
            let pb = progress_bar(problems.len() as u64, &format!("evaluating on {task}"));
            let report = eval::evaluate(
                &loaded.model,
                tk,
                &model,
                &task,
                &problems,
                &cfg,
                |done, _| pb.set_position(done as u64),
            )?;
            pb.finish_and_clear();
            let df = report.to_frame()?;
            println!("{df}");
            if let Some(stem) = out {
                eval::table::write_table(&df, &stem, None)?;
                println!("wrote {}.csv and .md", stem.display());
            }
        }
        Command::R1Zero {
            scale,
            base,
            task,
            steps,
            mu,
            minibatches,
            max_completion,
            seed,
            run_dir,
            reports,
            data,
        } => {
            let mut cfg = r1_zero::R1ZeroConfig::preset(scale);
            if let Some(s) = seed {
                cfg.grpo.seed = s;
            }
            if let Some(n) = max_completion {
                cfg.grpo.max_completion_length = n;
                cfg.max_new_tokens = n;
            }
            if let Some(m) = mu {
                cfg.grpo.mu = m;
            }
            if let Some(m) = minibatches {
                cfg.grpo.minibatches = m;
            }
            if let Some(b) = base {
                cfg.base = b;
            }
            if let Some(t) = task {
                cfg.task = t;
            }
            if let Some(s) = steps {
                cfg.grpo.steps = s;
            }
            // The trainer's own check, before any model loads, so a bad override fails at once.
            // Too large a completion budget is refused by the sampler, which knows the prompt.
            cfg.grpo
                .validate()
                .context("check --steps, --mu, --minibatches and --max-completion")?;
            let run_dir = run_dir.unwrap_or_else(|| {
                let dir = r1_zero::default_run_dir(scale);
                match cfg.grpo.seed {
                    0 => dir,
                    s => PathBuf::from(format!("{}-seed{s}", dir.display())),
                }
            });
            let total = cfg.grpo.steps;
            let pb = progress_bar(total as u64, "R1-Zero GRPO");
            let result = r1_zero::run(&cfg, &data, &run_dir, &reports, |m| {
                pb.set_position(m.step as u64);
                let msg = format!(
                    "reward {:.3} acc {:.3} len {:.1} eval pass@1 {:.3}",
                    m.reward_mean, m.accuracy, m.completion_len_mean, m.eval_pass_at_1
                );
                pb.set_message(msg.clone());
                log_line(m.step.saturating_sub(1), total, &msg);
            })?;
            pb.finish_and_clear();
            println!(
                "R1-Zero on {}: pass@1 {:.3} -> {:.3}, cons@{k} {:.3} -> {:.3}, mean length {:.1} -> {:.1} ({:.0} s); reports in {}",
                cfg.task,
                result.base.pass_at_1,
                result.r1_zero.pass_at_1,
                result.base.cons_at_k,
                result.r1_zero.cons_at_k,
                result.base.mean_length,
                result.r1_zero.mean_length,
                result.wall_s,
                reports.display(),
                k = cfg.eval_k
            );
            for t in r1_zero::targets(&result) {
                println!(
                    "  [{}] {}: {} (required {})",
                    if t.met { "met" } else { "NOT met" },
                    t.name,
                    t.measured,
                    t.required
                );
            }
        }
        Command::R1 {
            scale,
            base,
            run_dir,
            r1_zero_run_dir,
            no_ablation,
            reports,
            data,
        } => {
            let mut cfg = r1_pipeline::R1Config::preset(scale);
            if let Some(b) = base {
                cfg.base = b.clone();
                cfg.r1_zero.base = b;
            }
            if let Some(d) = r1_zero_run_dir {
                cfg.r1_zero_run_dir = d;
            }
            cfg.ablation = !no_ablation;
            let run_dir = run_dir.unwrap_or_else(|| r1_pipeline::default_run_dir(scale));
            let result =
                r1_pipeline::run(&cfg, &data, &run_dir, &reports, |line| eprintln!("{line}"))?;
            println!(
                "R1 pipeline on {} ({:.0} s); k = {}:",
                cfg.task, result.wall_s, cfg.eval_k
            );
            for s in &result.stages {
                println!(
                    "  {:<24} pass@1 {:.3} cons@k {:.3} mixing {:.3} target-language {:.3} format {:.3} length {:.1}",
                    s.stage,
                    s.report.pass_at_1,
                    s.report.cons_at_k,
                    s.report.mixing_rate,
                    s.target_language_share,
                    s.report.format_rate,
                    s.report.mean_length
                );
            }
            if let Some(f) = r1_pipeline::consistency_finding(&result) {
                println!("{f}");
            }
            println!("reports in {}", reports.display());
        }
        Command::Distill {
            scale,
            teacher,
            students,
            run_dir,
            r1_zero_run_dir,
            reports,
            data,
        } => {
            let mut cfg = distillation::DistillConfig::preset(scale);
            if let Some(t) = teacher {
                cfg.teacher = t;
            }
            if let Some(s) = students {
                cfg.students = s;
            }
            if let Some(d) = r1_zero_run_dir {
                cfg.r1_zero_run_dir = d;
            }
            let run_dir = run_dir.unwrap_or_else(|| distillation::default_run_dir(scale));
            let start = std::time::Instant::now();
            let result =
                distillation::run(&cfg, &data, &run_dir, &reports, |line| eprintln!("{line}"))?;
            println!(
                "teacher pass@1 {:.3}; {} traces kept of {} ({:.0} s)",
                result.teacher.pass_at_1,
                result.traces.count(r1lab::rejection::Verdict::Kept),
                result.traces.judged,
                start.elapsed().as_secs_f64()
            );
            for s in result
                .students
                .iter()
                .chain(result.logit.iter())
                .chain(result.rl.iter())
            {
                println!(
                    "  {:<5} {:<8} pass@1 {:.3} -> {:.3}, cons@k {:.3} -> {:.3}, {:.2e} FLOPs",
                    s.size,
                    s.method,
                    s.base.pass_at_1,
                    s.trained.pass_at_1,
                    s.base.cons_at_k,
                    s.trained.cons_at_k,
                    s.compute.flops
                );
            }
            for f in distillation::findings(&result) {
                println!("{f}");
            }
            println!("reports in {}", reports.display());
        }
        Command::Variants {
            scale,
            run_dir,
            r1_zero_run_dir,
            reports,
            data,
        } => {
            let mut cfg = grpo_variants::VariantsConfig::preset(scale);
            if let Some(d) = r1_zero_run_dir {
                cfg.r1_zero_run_dir = d;
            }
            let run_dir = run_dir.unwrap_or_else(|| grpo_variants::default_run_dir(scale));
            let result =
                grpo_variants::run(&cfg, &data, &run_dir, &reports, |line| eprintln!("{line}"))?;
            println!("GRPO variants ({:.0} s):", result.wall_s);
            for f in grpo_variants::findings(&result) {
                println!("  {f}");
            }
            println!("reports in {}", reports.display());
        }
        Command::Real {
            scale,
            model,
            train,
            test,
            steps,
            run_dir,
            reports,
            data,
        } => {
            let run_dir = run_dir.unwrap_or_else(|| real_models::default_run_dir(scale));
            let mut cfg = match (model, train, test) {
                (Some(m), Some(train), Some(test)) => {
                    real_models::RealConfig::gpu(&m, &train, &test)
                }
                _ => {
                    let cfg = real_models::RealConfig::stand_in(scale, &run_dir);
                    real_models::prepare_stand_in(&cfg, &data)?;
                    cfg
                }
            };
            if let Some(n) = steps {
                cfg.grpo.steps = n;
            }
            let result = real_models::run(&cfg, &dev, &run_dir, &reports, |l| eprintln!("{l}"))?;
            println!(
                "{} on {}: held-out pass@1 {:.3} -> {:.3} ({:.0} s); reports in {}",
                result.model,
                result.device,
                result.before.pass_at_1,
                result.after.pass_at_1,
                result.wall_s,
                reports.display()
            );
        }
        Command::Reproduce {
            scale,
            reports,
            data,
        } => {
            let start = std::time::Instant::now();
            let device = cli.device.clone();
            let steps: [(&str, Command); 5] = [
                (
                    "R1-Zero",
                    Command::R1Zero {
                        scale,
                        base: None,
                        task: None,
                        steps: None,
                        mu: None,
                        minibatches: None,
                        max_completion: None,
                        seed: None,
                        run_dir: None,
                        reports: reports.clone(),
                        data: data.clone(),
                    },
                ),
                (
                    "GRPO variants",
                    Command::Variants {
                        scale,
                        run_dir: None,
                        r1_zero_run_dir: None,
                        reports: reports.clone(),
                        data: data.clone(),
                    },
                ),
                (
                    "R1 pipeline",
                    Command::R1 {
                        scale,
                        base: None,
                        run_dir: None,
                        r1_zero_run_dir: None,
                        no_ablation: false,
                        reports: reports.clone(),
                        data: data.clone(),
                    },
                ),
                (
                    "distillation",
                    Command::Distill {
                        scale,
                        teacher: None,
                        students: None,
                        run_dir: None,
                        r1_zero_run_dir: None,
                        reports: reports.clone(),
                        data: data.clone(),
                    },
                ),
                (
                    "the trainer on a real checkpoint (the CPU stand-in)",
                    Command::Real {
                        scale,
                        model: None,
                        train: None,
                        test: None,
                        steps: None,
                        run_dir: None,
                        reports: reports.clone(),
                        data: data.clone(),
                    },
                ),
            ];
            for (name, command) in steps {
                println!("== {name}");
                run(Cli {
                    device: device.clone(),
                    command,
                })?;
            }
            println!(
                "every report regenerated in {} ({:.0} s)",
                reports.display(),
                start.elapsed().as_secs_f64()
            );
        }
        Command::EvalBase {
            sizes,
            k,
            limit,
            max_new_tokens,
            data,
            out,
        } => {
            let ckpts: Vec<(String, PathBuf)> = sizes
                .iter()
                .map(|s| {
                    (
                        format!("base-{s}"),
                        data.join(format!("checkpoints/base-{s}")),
                    )
                })
                .collect();
            let cfg = eval::EvalConfig {
                k,
                max_new_tokens,
                ..Default::default()
            };
            let start = std::time::Instant::now();
            let (df, _) = base_models::evaluate_base_models(
                &ckpts,
                &["arithmetic", "countdown"],
                &data,
                &cfg,
                limit,
                |m| eprintln!("evaluating {m}"),
            )?;
            println!("{df}");
            eval::table::write_table(
                &df,
                &out,
                Some(&format!(
                    "# Base models on the held-out sets (first {limit} problems, k = {k}, temperature 0.6, top-p 0.95)\n\nRegenerate: `cargo run --release -- eval-base --limit {limit} -k {k}`"
                )),
            )?;
            println!(
                "wrote {}.csv and .md in {:.0} s",
                out.display(),
                start.elapsed().as_secs_f64()
            );
        }
        Command::TestSets { data } => {
            for p in tasks::write_test_sets(&data.join("tasks"))? {
                println!("wrote {}", p.display());
            }
        }
        Command::Bench {
            sizes,
            configs,
            json,
            bf16,
            grpo,
        } => {
            let text = match &configs {
                Some(p) => std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?,
                None => bench::DEFAULT_CONFIGS.to_string(),
            };
            let cfgs = bench::BenchConfigs::parse(&text)?;
            if grpo {
                let work = cfgs.grpo.as_ref().context(
                    "the configs have no \"grpo\" workload; see bench/configs.json for its shape",
                )?;
                eprintln!("{}", device::describe(&dev));
                let r = bench::bench_grpo_step(work, &dev)?;
                eprintln!(
                    "GRPO step ({}, G {} x {} prompts, <= {} tokens): {:.2} s/step | {:.0} completion tokens/step | {:.0} completion tok/s | peak RSS {:.0} MiB",
                    r.checkpoint, r.group_size, r.prompts_per_step, r.max_completion_length,
                    r.step_s, r.completion_tokens_per_step, r.completion_tokens_per_s, r.peak_rss_mb
                );
                eprintln!(
                    "  per step: sampling {:.2} s | rollout tensors and reference/old log-probs {:.2} s | update {:.2} s",
                    r.phase_s.sample, r.phase_s.score, r.phase_s.update
                );
                if let Some(path) = json {
                    write_bench_json(&path, &dev, serde_json::json!({ "grpo": r }))?;
                }
                return Ok(());
            }
            let dtype = if bf16 {
                candle_core::DType::BF16
            } else {
                candle_core::DType::F32
            };
            eprintln!("{}", device::describe(&dev));
            let results = bench::run(&cfgs, &sizes, dtype, &dev)?;
            if let Some(path) = json {
                let fields = serde_json::json!({
                    "dtype": format!("{dtype:?}"),
                    "results": results,
                });
                write_bench_json(&path, &dev, fields)?;
            }
        }
        Command::GpuCheck {
            out,
            quick,
            fixtures,
            data,
            base,
            grpo_steps,
            sft_steps,
            throughput_size,
            skip_throughput,
        } => {
            let mut cfg = gpu_check::GpuCheckConfig::new(quick);
            cfg.fixtures = fixtures;
            cfg.data = data;
            cfg.base = base;
            cfg.skip_throughput = skip_throughput;
            if let Some(n) = grpo_steps {
                cfg.grpo_steps = n;
            }
            if let Some(n) = sft_steps {
                cfg.sft_steps = n;
            }
            if let Some(s) = throughput_size {
                cfg.throughput_size = s;
            }
            eprintln!("{}", device::describe(&dev));
            let report = gpu_check::run(&cfg, &dev, &out, |m| eprintln!("{m}"))?;
            println!("{}", gpu_check::markdown(&report));
            println!("wrote {}", out.join("gpu_check.json").display());
            if !report.pass {
                anyhow::bail!(
                    "gpu-check failed: see {}",
                    out.join("gpu_check.md").display()
                );
            }
        }
    }
    Ok(())
}

fn candle_core_dtype(dev: &candle_core::Device) -> candle_core::DType {
    device::inference_dtype(dev)
}

/// Without a terminal (a log file, CI) progress bars are hidden: print a line every 5% instead.
fn log_line(step: usize, total: usize, msg: &str) {
    use std::io::IsTerminal;
    let every = (total / 20).max(1);
    if !std::io::stderr().is_terminal() && (step % every == 0 || step + 1 == total) {
        eprintln!("step {}/{total}: {msg}", step + 1);
    }
}

fn progress_bar(len: u64, msg: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.set_prefix(msg.to_string());
    pb
}

fn progress_spinner(msg: String) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(msg);
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}
