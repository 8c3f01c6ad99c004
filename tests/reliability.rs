//! Runs that survive faults (`tests/README.md`, "Fault model"):
//! - a GRPO run aborted after every one of its file operations (the `R1LAB_FAULT_AFTER_WRITES`
//!   hook, which aborts like `kill -9`), whole or in the middle of a write, resumes to the same
//!   metrics rows, samples and weights, bit for bit, as an uninterrupted run, and never restarts
//!   from step 0 when a checkpoint had been committed;
//! - a second run into a busy run folder is refused, and the first finishes unharmed;
//! - malformed read-back files, absurd flag values and NaN-making configs are each one clear
//!   error, with nothing good overwritten.
//!
//! The runs are separate processes: this test binary re-executes itself with `RUN_DIR` set, and
//! then only [`child`] does anything.

mod common;
use common::metrics_without_timing;
use common::LengthMod3;
use r1lab::candle::{DType, Device};
use r1lab::checkpoint;
use r1lab::grpo::GrpoConfig;
use r1lab::model::{Model, ModelConfig};
use r1lab::rewards::RewardSet;
use r1lab::tasks::arithmetic::ArithmeticTask;
use r1lab::tasks::Task;
use r1lab::tokenizer::Tokenizer;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

const RUN_DIR: &str = "R1LAB_TEST_RUN_DIR";
const START: &str = "R1LAB_TEST_START";
/// The child stops after this step's row until the file `<run>/go` exists.
const PAUSE_AT: &str = "R1LAB_TEST_PAUSE_AT";
const STEPS: usize = 3;

fn tokenizer() -> Tokenizer {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Tokenizer::from_file(&root.join("data/tokenizer/tokenizer.json"), &[]).unwrap()
}

fn tiny_model(seed: u64) -> Model {
    let mut cfg = ModelConfig::preset("tiny", tokenizer().vocab_size()).unwrap();
    cfg.max_position_embeddings = 128;
    Model::new_random(cfg, seed, DType::F32, &Device::Cpu).unwrap()
}

/// A starting checkpoint: a tiny random model with the project's tokenizer.
fn start_checkpoint(dir: &Path) -> PathBuf {
    let tk = tokenizer();
    let start = dir.join("start");
    checkpoint::save(
        &tiny_model(2),
        Some(&tk),
        &checkpoint::sampling_generation_config(&tk),
        &start,
    )
    .unwrap();
    start
}

fn grpo_cfg() -> GrpoConfig {
    GrpoConfig {
        group_size: 4,
        prompts_per_step: 2,
        max_completion_length: 12,
        steps: STEPS,
        lr: 1e-3,
        warmup_steps: 1,
        beta: 0.04,
        mu: 2,
        minibatches: 2,
        ..Default::default()
    }
}

/// The run of a child process: the experiments' resumable GRPO stage, a checkpoint every step.
fn stage(run: &Path, start: &Path, mut on_step: impl FnMut(usize)) -> anyhow::Result<()> {
    let task: Arc<dyn Task> = Arc::new(ArithmeticTask::new(Some(1..=2), None).unwrap());
    let rewards = Arc::new(RewardSet::new().with(LengthMod3, 1.0).unwrap());
    r1lab::experiments::rl_stage(
        &r1lab::experiments::RunContext::cpu(),
        &start.to_string_lossy(),
        task,
        rewards,
        HashSet::new(),
        &grpo_cfg(),
        run,
        None,
        1,
        |m| on_step(m.step),
    )?;
    Ok(())
}

/// Not a test by itself: the body of the child processes.
#[test]
fn child() {
    let Ok(run) = std::env::var(RUN_DIR) else {
        return;
    };
    let run = PathBuf::from(run);
    let start = PathBuf::from(std::env::var(START).unwrap());
    let pause: Option<usize> = std::env::var(PAUSE_AT).ok().and_then(|s| s.parse().ok());
    let result = stage(&run, &start, |step| {
        if pause == Some(step) {
            std::fs::write(run.join("paused"), b"").unwrap();
            while !run.join("go").exists() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    });
    if let Err(e) = result {
        eprintln!("CHILD ERROR: {e:#}");
        std::process::exit(3);
    }
    eprintln!("FILE OPERATIONS: {}", checkpoint::file_operations());
}

fn spawn_child(run: &Path, start: &Path, envs: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(RUN_DIR, run)
        .env(START, start)
        .env_remove("R1LAB_FAULT_AFTER_WRITES")
        .env_remove("R1LAB_FAULT_TORN");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

fn run_child(run: &Path, start: &Path, envs: &[(&str, String)]) -> Output {
    spawn_child(run, start, envs).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What an uninterrupted run must equal: metrics rows, samples, final weights and optimizer state.
#[derive(Debug, PartialEq)]
struct Outcome {
    metrics: Vec<Vec<String>>,
    samples: String,
    weights: Vec<u8>,
    extra: Vec<u8>,
}

fn outcome(run: &Path) -> Outcome {
    Outcome {
        metrics: metrics_without_timing(&run.join("metrics.csv")),
        samples: std::fs::read_to_string(run.join("samples.jsonl")).unwrap(),
        weights: std::fs::read(run.join("checkpoint/model.safetensors")).unwrap(),
        extra: std::fs::read(run.join("checkpoint/extra.safetensors")).unwrap(),
    }
}

/// The highest step among the complete rows of a killed run's `metrics.csv` (0 when none).
fn last_complete_row(run: &Path) -> usize {
    let Ok(text) = std::fs::read_to_string(run.join("metrics.csv")) else {
        return 0;
    };
    let complete = if text.ends_with('\n') {
        &text[..]
    } else {
        &text[..text.rfind('\n').map_or(0, |i| i + 1)]
    };
    complete
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next()?.parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

/// The step a resumed child started from, read from what it printed.
fn started_at(err: &str) -> usize {
    match err.split("from its checkpoint at step ").nth(1) {
        Some(rest) => rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap(),
        // A restart says so; a finished run is reloaded without a word.
        None if err.contains("starting again from step 0") => 0,
        None => STEPS,
    }
}

fn leftovers(run: &Path) -> Vec<String> {
    std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial-") || n.contains(".old-"))
        .collect()
}

#[test]
fn a_run_killed_after_any_file_operation_resumes_bit_for_bit() {
    let t0 = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let start = start_checkpoint(tmp.path());
    // Uninterrupted, counting its file operations (an N past the last never fires).
    let full = tmp.path().join("full");
    let out = run_child(
        &full,
        &start,
        &[("R1LAB_FAULT_AFTER_WRITES", "1000000".into())],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let want = outcome(&full);
    assert_eq!(want.metrics.len(), STEPS);
    let total: usize = stderr(&out)
        .split("FILE OPERATIONS: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(total > 3 * STEPS, "only {total} file operations counted");

    let mut cases = 0;
    for torn in [false, true] {
        for n in 1..=total {
            let run = tmp.path().join(format!("run-{n}-{torn}"));
            let mut envs = vec![("R1LAB_FAULT_AFTER_WRITES", n.to_string())];
            if torn {
                envs.push(("R1LAB_FAULT_TORN", "1".into()));
            }
            let killed = run_child(&run, &start, &envs);
            let killed_err = stderr(&killed);
            assert!(
                !killed.status.success() && killed_err.contains("aborting"),
                "n={n} torn={torn}: the hook did not fire: {killed_err}"
            );
            let last_row = last_complete_row(&run);
            let resumed = run_child(&run, &start, &[]);
            let err = stderr(&resumed);
            assert!(
                resumed.status.success(),
                "n={n} torn={torn}: the resumed run failed: {err}"
            );
            // With a checkpoint every step, the row of step s is written just before the save of
            // step s: a run whose row s exists had committed the checkpoint of step s - 1.
            let from = started_at(&err);
            assert!(
                from + 1 >= last_row,
                "n={n} torn={torn}: the killed run had written the row of step {last_row} but the \
                 resumed one started from step {from}: {killed_err}\n{err}"
            );
            if from == 0 && last_row > 0 {
                assert!(err.contains("starting again from step 0"), "{err}");
            }
            assert!(
                err.contains("ended without releasing it"),
                "n={n}: the dead run's lock was not reported: {err}"
            );
            assert_eq!(leftovers(&run), Vec::<String>::new(), "n={n} torn={torn}");
            assert!(
                outcome(&run) == want,
                "n={n} torn={torn}: the resumed run differs from the uninterrupted one: {err}"
            );
            std::fs::remove_dir_all(&run).unwrap();
            cases += 1;
        }
    }
    eprintln!(
        "fault injection: {cases} interrupted runs ({total} file operations, whole and torn) \
         resumed bit for bit in {:.0} s",
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn a_second_run_into_a_busy_folder_is_refused_and_the_first_is_unharmed() {
    let tmp = tempfile::tempdir().unwrap();
    let start = start_checkpoint(tmp.path());
    let full = tmp.path().join("full");
    assert!(run_child(&full, &start, &[]).status.success());
    let run = tmp.path().join("run");
    let mut first = spawn_child(&run, &start, &[(PAUSE_AT, "2".into())])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !run.join("paused").exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let before = std::fs::read(run.join("metrics.csv")).unwrap();
    let second = run_child(&run, &start, &[]);
    let err = stderr(&second);
    eprintln!("second run: {err}");
    assert_eq!(second.status.code(), Some(3), "{err}");
    assert!(
        err.contains("is in use by process") && err.contains(&first.id().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read(run.join("metrics.csv")).unwrap(), before);
    std::fs::write(run.join("go"), b"").unwrap();
    let status = first.wait().unwrap();
    assert!(status.success());
    assert!(outcome(&run) == outcome(&full), "the first run was harmed");
}

/// One malformed input: the error must name what it says, and no panic.
fn expect_error<T>(case: &str, r: anyhow::Result<T>, names: &[&str]) -> String {
    let msg = match r {
        Ok(_) => panic!("{case}: accepted"),
        Err(e) => format!("{e:#}"),
    };
    for n in names {
        assert!(msg.contains(n), "{case}: {msg:?} does not name {n:?}");
    }
    eprintln!("{case}:\n    {msg}");
    msg
}

#[test]
fn malformed_files_absurd_flags_and_nan_configs_are_each_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let start = start_checkpoint(tmp.path());
    let full = tmp.path().join("full");
    stage(&full, &start, |_| {}).unwrap();
    let good = outcome(&full);
    let copy = |name: &str| -> PathBuf {
        let dst = tmp.path().join(name);
        std::fs::create_dir_all(dst.join("checkpoint")).unwrap();
        for sub in ["", "checkpoint"] {
            for e in std::fs::read_dir(full.join(sub)).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_file() {
                    std::fs::copy(e.path(), dst.join(sub).join(e.file_name())).unwrap();
                }
            }
        }
        dst
    };
    let resume = |run: &Path| stage(run, &start, |_| {});

    // Read-back files.
    let run = copy("metrics-last-line");
    let mut text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    text.push_str("4,0.5,oops\n");
    std::fs::write(run.join("metrics.csv"), &text).unwrap();
    expect_error(
        "metrics.csv with a malformed last line (reports)",
        r1lab::grpo::read_metrics(&run.join("metrics.csv")),
        &["metrics.csv line 5", "columns"],
    );
    expect_error(
        "metrics.csv with a malformed last line (resume)",
        resume(&run),
        &["metrics.csv line 5"],
    );
    let run = copy("metrics-not-a-number");
    let text = std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .replacen("\n2,", "\nx,", 1);
    std::fs::write(run.join("metrics.csv"), &text).unwrap();
    expect_error(
        "metrics.csv with a word for a step",
        r1lab::grpo::read_metrics(&run.join("metrics.csv")),
        &["metrics.csv line 3", "not a number"],
    );
    let run = copy("samples-bad-line");
    let text = std::fs::read_to_string(run.join("samples.jsonl"))
        .unwrap()
        .replacen("\n", "\n{\"step\": broken\n", 1);
    std::fs::write(run.join("samples.jsonl"), &text).unwrap();
    expect_error(
        "samples.jsonl with a broken line",
        resume(&run),
        &["samples.jsonl line 2"],
    );
    let run = copy("state-truncated");
    let state = run.join("checkpoint/trainer_state.json");
    let text = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&state, &text[..text.len() / 2]).unwrap();
    expect_error(
        "trainer_state.json cut in half",
        resume(&run),
        &["trainer_state.json is not valid JSON"],
    );
    let run = copy("weights-truncated");
    let w = run.join("checkpoint/model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 3]).unwrap();
    expect_error(
        "model.safetensors cut short",
        resume(&run),
        &["model.safetensors", "truncated"],
    );
    let run = copy("no-state");
    std::fs::remove_file(run.join("checkpoint/trainer_state.json")).unwrap();
    std::fs::remove_file(run.join("checkpoint").join(checkpoint::MANIFEST)).unwrap();
    expect_error(
        "weights without trainer_state.json (an old interrupted save)",
        resume(&run),
        &["has no trainer_state.json", "move the folder away"],
    );
    assert!(run.join("metrics.csv").exists(), "the metrics were deleted");

    // Absurd flag values: refused before any allocation.
    let tk = tokenizer();
    let model = tiny_model(1);
    let prompts = vec![tk.encode("1+1=").unwrap()];
    expect_error(
        "generate -n 4000000000",
        r1lab::sampling::generate(
            &model,
            &tk,
            &prompts,
            4_000_000_000,
            &r1lab::sampling::SamplingConfig::default(),
        ),
        &["generate -n", "R1LAB_MEMORY_LIMIT_GB"],
    );
    let problems =
        r1lab::tasks::generate_test_set(&ArithmeticTask::new(Some(1..=2), None).unwrap(), 3, 0);
    let eval_cfg = r1lab::eval::EvalConfig {
        k: 2_000_000_000,
        ..Default::default()
    };
    expect_error(
        "eval -k 2000000000",
        r1lab::eval::evaluate(
            &model,
            &tk,
            "m",
            "arithmetic",
            &problems,
            &eval_cfg,
            |_, _| {},
        ),
        &["eval -k", "GiB"],
    );

    // NaN-making configs.
    let cfg_path = tmp.path().join("config-case/config.json");
    std::fs::create_dir_all(cfg_path.parent().unwrap()).unwrap();
    for (field, value) in [
        ("rms_norm_eps", "-1e-6"),
        ("rms_norm_eps", "0"),
        ("rope_theta", "-10000"),
    ] {
        let mut cfg: serde_json::Value = serde_json::to_value(&model.config).unwrap();
        cfg[field] = serde_json::from_str(value).unwrap();
        std::fs::write(&cfg_path, cfg.to_string()).unwrap();
        expect_error(
            &format!("config.json with {field} = {value}"),
            ModelConfig::from_file(&cfg_path),
            &[field, "config.json"],
        );
    }
    expect_error(
        "GRPO lr = NaN",
        GrpoConfig {
            lr: f64::NAN,
            ..grpo_cfg()
        }
        .validate(),
        &["lr"],
    );
    // NaN weights: sampling stops, and a save never replaces the good checkpoint.
    let broken = tiny_model(1);
    let (_, var) = broken.params().iter().next().unwrap();
    let nan = (var.as_tensor() * f64::NAN).unwrap();
    var.set(&nan).unwrap();
    expect_error(
        "sampling from NaN weights",
        r1lab::sampling::generate(
            &broken,
            &tk,
            &prompts,
            2,
            &r1lab::sampling::SamplingConfig {
                max_new_tokens: 8,
                ..Default::default()
            },
        ),
        &["logits are NaN"],
    );
    let ckpt = full.join("checkpoint");
    expect_error(
        "saving NaN weights over a good checkpoint",
        checkpoint::save(&broken, Some(&tk), &Default::default(), &ckpt),
        &["refusing to save", "NaN"],
    );
    assert!(
        outcome(&full) == good,
        "the good checkpoint was overwritten"
    );

    // Output folders that cannot be written: refused before the run.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let cfg = r1lab::experiments::r1_zero::R1ZeroConfig::preset(r1lab::experiments::Scale::Smoke);
    let t = std::time::Instant::now();
    expect_error(
        "r1-zero --reports inside a file",
        r1lab::experiments::r1_zero::run(
            &cfg,
            &r1lab::experiments::RunContext::cpu().with_folders(
                Path::new("data"),
                tmp.path(),
                &file.join("reports"),
            ),
            &tmp.path().join("r1z"),
            |_| {},
        ),
        &["--reports folder"],
    );
    assert!(t.elapsed().as_secs_f64() < 5.0, "checked too late");
}
