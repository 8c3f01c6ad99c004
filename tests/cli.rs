//! The `r1lab` binary end to end: info, generate, pretrain and eval at smoke scale, loading by
//! Hub id from an offline cache, and clear errors for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn r1lab(args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_r1lab"));
    cmd.args(args)
        .current_dir(repo())
        .env_remove("HF_HUB_OFFLINE");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run r1lab")
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "r1lab failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "r1lab should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.starts_with("error: "),
        "one clear error line expected, got: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn help_on_every_subcommand() {
    for sub in [
        "info",
        "generate",
        "pretrain",
        "eval",
        "test-sets",
        "bench",
        "gpu-check",
        "r1-zero",
        "r1",
        "distill",
        "variants",
        "real",
        "reproduce",
        "inspect",
        "sizes",
        "knobs",
        "control",
    ] {
        let out = ok(&r1lab(&[sub, "--help"], &[]));
        assert!(out.contains("Usage: r1lab"), "{sub}: {out}");
    }
}

#[test]
fn pretrain_then_info_generate_and_eval_at_smoke_scale() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("base-smoke");
    let out = ok(&r1lab(
        &[
            "pretrain",
            "--size",
            "1M",
            "--scale",
            "smoke",
            "--out",
            ckpt.to_str().unwrap(),
        ],
        &[],
    ));
    assert!(out.contains("saved 1M"), "{out}");
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "generation_config.json",
        "r1lab_pretrain.json",
    ] {
        assert!(ckpt.join(f).exists(), "{f}");
    }
    let info = ok(&r1lab(&["info", ckpt.to_str().unwrap()], &[]));
    assert!(
        info.contains("parameters   804992") && info.contains("Qwen2"),
        "{info}"
    );

    let generate_args = [
        "generate",
        ckpt.to_str().unwrap(),
        "--prompt",
        "User: 1 + 2 = ? Assistant: <think>",
        "-n",
        "2",
        "--max-new-tokens",
        "8",
        "--json",
    ];
    let gen = ok(&r1lab(&generate_args, &[]));
    let comps: serde_json::Value = serde_json::from_str(&gen).unwrap();
    assert_eq!(comps.as_array().unwrap().len(), 2);
    // The same seed gives the same completions.
    assert_eq!(gen, ok(&r1lab(&generate_args, &[])));

    let stem = tmp.path().join("eval");
    let ev = ok(&r1lab(
        &[
            "eval",
            ckpt.to_str().unwrap(),
            "--task",
            "arithmetic",
            "-k",
            "2",
            "--limit",
            "3",
            "--max-new-tokens",
            "16",
            "--out",
            stem.to_str().unwrap(),
        ],
        &[],
    ));
    assert!(ev.contains("pass@1") && ev.contains("cons@2"), "{ev}");
    let md = std::fs::read_to_string(stem.with_extension("md")).unwrap();
    assert!(md.contains("| model | task | k | metric | value |"), "{md}");
}

#[test]
fn loads_a_model_by_hub_id_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let hf_home = tmp.path().join("hf");
    r1lab::hub::install_in_cache(
        &repo().join("tests/fixtures/tiny-qwen2"),
        &hf_home.join("hub"),
        "r1lab/tiny-qwen2",
        "abc123",
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_r1lab"));
    let out = cmd
        .args(["info", "r1lab/tiny-qwen2"])
        .env("HF_HOME", &hf_home)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let stdout = ok(&out);
    assert!(
        stdout.contains("parameters   ") && stdout.contains("snapshots/abc123"),
        "{stdout}"
    );
}

#[test]
fn bad_input_gets_one_clear_error() {
    let err = fails(&r1lab(
        &["info", "no/such-model-here"],
        &[("HF_HUB_OFFLINE", Path::new("1"))],
    ));
    assert!(err.contains("no/such-model-here"), "{err}");
    let err = fails(&r1lab(&["info", "./not-a-folder"], &[]));
    assert!(err.contains("not a folder"), "{err}");
    let err = fails(&r1lab(
        &["generate", "tests/fixtures/tiny-qwen2", "--top-p", "0"],
        &[],
    ));
    assert!(
        err.contains("tokenizer.json") || err.contains("top_p"),
        "{err}"
    );
    let err = fails(&r1lab(
        &[
            "pretrain",
            "--size",
            "7Q",
            "--scale",
            "smoke",
            "--out",
            "/tmp/never",
        ],
        &[],
    ));
    assert!(err.contains("7Q") && err.contains("1M"), "{err}");
    let out = tempfile::tempdir().unwrap();
    let err = fails(&r1lab(
        &[
            "pretrain",
            "--size",
            "0.5M",
            "--scale",
            "smoke",
            "--task",
            "sudoku",
            "--out",
            &out.path().join("m").to_string_lossy(),
        ],
        &[],
    ));
    assert!(
        err.contains("sudoku") && err.contains("arithmetic"),
        "{err}"
    );
    assert!(
        !out.path().join("m").exists(),
        "nothing is written on error"
    );
    let err = fails(&r1lab(
        &["eval", "tests/fixtures/tiny-qwen2", "--task", "nonexistent"],
        &[],
    ));
    assert!(
        err.contains("nonexistent") || err.contains("tokenizer"),
        "{err}"
    );
    let err = fails(&r1lab(&["--device", "tpu", "info"], &[]));
    assert!(err.contains("tpu"), "{err}");
    let err = fails(&r1lab(
        &[
            "pretrain",
            "--scale",
            "smoke",
            "--kinds",
            "0.35,0.30,-1,0.05,0.20",
        ],
        &[],
    ));
    assert!(err.contains("--kinds") && err.contains("-1"), "{err}");
    // Each pretraining flag out of range: the error names the flag, its value and the rule.
    for (flag, value, rule) in [
        ("--guess", "1.5", "probability"),
        ("--seq-len", "300", "power of two"),
    ] {
        let err = fails(&r1lab(&["pretrain", "--scale", "smoke", flag, value], &[]));
        assert!(
            err.contains(&format!("{flag} {value}")) && err.contains(rule),
            "{err}"
        );
    }
    let err = fails(&r1lab(
        &["r1-zero", "--scale", "smoke", "--max-completion", "0"],
        &[],
    ));
    assert!(err.contains("--max-completion"), "{err}");
}

#[test]
fn distill_without_a_teacher_says_to_run_the_pipeline_first() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-teacher");
    let err = fails(&r1lab(
        &[
            "distill",
            "--scale",
            "smoke",
            "--teacher",
            missing.to_str().unwrap(),
            "--run-dir",
            tmp.path().join("run").to_str().unwrap(),
            "--reports",
            tmp.path().join("reports").to_str().unwrap(),
        ],
        &[],
    ));
    assert!(err.contains("r1lab r1"), "{err}");
    assert!(!tmp.path().join("reports").exists());
}

#[test]
fn r1_and_distill_run_end_to_end_from_the_cli_at_smoke_scale() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).to_string_lossy().into_owned();
    let out = ok(&r1lab(
        &[
            "r1",
            "--scale",
            "smoke",
            "--run-dir",
            &p("r1"),
            "--r1-zero-run-dir",
            &p("r1-zero"),
            "--reports",
            &p("reports"),
        ],
        &[],
    ));
    assert!(out.contains("stage4_final_rl"), "{out}");
    let teacher = p("r1/stage4_final_rl/checkpoint");
    let out = ok(&r1lab(
        &[
            "distill",
            "--scale",
            "smoke",
            "--teacher",
            &teacher,
            "--run-dir",
            &p("distill"),
            "--r1-zero-run-dir",
            &p("r1-zero"),
            "--reports",
            &p("reports"),
        ],
        &[],
    ));
    assert!(out.contains("logit_kd") && out.contains(" rl "), "{out}");
    for f in [
        "r1_pipeline_stages.md",
        "r1_filters.md",
        "table5_distilled.md",
        "table6_distill_vs_rl.md",
    ] {
        assert!(tmp.path().join("reports").join(f).exists(), "{f}");
    }

    // Our R1 exported as a Hugging Face folder (no optimizer state), then Table 4 from it.
    let exported = p("r1-exported");
    let out = ok(&r1lab(&["export", &teacher, &exported], &[]));
    assert!(out.contains("r1-exported"), "{out}");
    let files: Vec<String> = std::fs::read_dir(&exported)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "r1lab_export.json",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} missing: {files:?}");
    }
    assert!(!files.iter().any(|x| x == "extra.safetensors"), "{files:?}");
    let record = std::fs::read_to_string(tmp.path().join("r1-exported/r1lab_export.json")).unwrap();
    assert!(record.contains("\"step\""), "{record}");
    // A second export onto the same folder is refused, and the first is kept.
    let err = fails(&r1lab(&["export", &teacher, &exported], &[]));
    assert!(err.contains("already exists"), "{err}");
    assert!(tmp.path().join("r1-exported/model.safetensors").exists());
    let out = ok(&r1lab(
        &[
            "table4",
            "--scale",
            "smoke",
            "--r1",
            &exported,
            "--r1-zero",
            &p("r1-zero/checkpoint"),
            "--runs",
            &p("runs"),
            "--reports",
            &p("reports"),
        ],
        &[],
    ));
    assert!(
        out.contains("R1 ≥ R1-Zero") && out.contains("r1_zero"),
        "{out}"
    );
    let t4 = std::fs::read_to_string(tmp.path().join("reports/table4_r1_vs_r1zero.md")).unwrap();
    assert!(
        t4.contains("r1-exported") && t4.contains("pass@1 low"),
        "{t4}"
    );
    assert!(tmp.path().join("reports/findings_table4.md").exists());
}

#[test]
fn variants_and_real_run_end_to_end_from_the_cli_at_smoke_scale() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).to_string_lossy().into_owned();
    let out = ok(&r1lab(
        &[
            "variants",
            "--scale",
            "smoke",
            "--run-dir",
            &p("variants"),
            "--r1-zero-run-dir",
            &p("r1-zero"),
            "--reports",
            &p("reports"),
        ],
        &[],
    ));
    assert!(out.contains("Dr. GRPO:") && out.contains("DAPO:"), "{out}");
    let table = std::fs::read_to_string(tmp.path().join("reports/grpo_variants.md")).unwrap();
    for v in ["| GRPO |", "| Dr. GRPO |", "| DAPO |"] {
        assert!(table.contains(v), "{v} missing from {table}");
    }
    // The GRPO variant is the R1-Zero run, not a third run.
    assert!(tmp.path().join("r1-zero/metrics.csv").exists());
    assert!(!tmp.path().join("variants/grpo").exists());
    for f in [
        "grpo_variants_reward.svg",
        "grpo_variants_length.svg",
        "grpo_variants_accuracy.svg",
    ] {
        assert!(tmp.path().join("reports").join(f).exists(), "{f}");
    }

    // The stand-in: base-1M by Hub id from a scratch cache, arithmetic as word problems.
    let out = ok(&r1lab(
        &[
            "real",
            "--scale",
            "smoke",
            "--run-dir",
            &p("real"),
            "--reports",
            &p("reports"),
        ],
        &[],
    ));
    assert!(out.contains("r1lab/base-1M on r1lab"), "{out}");
    assert!(tmp
        .path()
        .join("real/hf-home/hub/models--r1lab--base-1M/snapshots")
        .exists());
    let table =
        std::fs::read_to_string(tmp.path().join("reports/real_models_cpu_stand_in.md")).unwrap();
    assert!(table.contains("after 2 GRPO steps"), "{table}");

    // A real model that is not in the cache, offline: one clear error, nothing trained.
    let train = p("real/word_problems_train.jsonl");
    let test = p("real/word_problems_test.jsonl");
    let err = fails(&r1lab(
        &[
            "real",
            "--model",
            "Qwen/Qwen2.5-0.5B",
            "--train",
            &train,
            "--test",
            &test,
            "--run-dir",
            &p("qwen"),
            "--reports",
            &p("reports"),
        ],
        &[("HF_HUB_OFFLINE", Path::new("1")), ("HF_HOME", tmp.path())],
    ));
    assert!(
        err.contains("Qwen/Qwen2.5-0.5B") && err.contains("download it"),
        "{err}"
    );
    assert!(!tmp.path().join("qwen/metrics.csv").exists());
    // A word-problem file in another format.
    let err = fails(&r1lab(
        &[
            "real",
            "--model",
            "data/checkpoints/base-1M",
            "--train",
            "Cargo.toml",
            "--test",
            &test,
            "--run-dir",
            &p("bad"),
            "--reports",
            &p("reports"),
        ],
        &[],
    ));
    assert!(err.contains(".jsonl or .parquet"), "{err}");
    // Word-problem files without a model are refused, not ignored.
    let err = fails(&r1lab(&["real", "--train", &train], &[]));
    assert!(err.contains("--model"), "{err}");
}

#[test]
fn bench_measures_a_whole_grpo_step_and_says_when_the_workload_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("grpo.json");
    ok(&r1lab(
        &[
            "bench",
            "--grpo",
            "--configs",
            "bench/smoke.json",
            "--json",
            &json.to_string_lossy(),
        ],
        &[],
    ));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let g = &doc["grpo"];
    let (step_s, tokens) = (
        g["step_s"].as_f64().unwrap(),
        g["completion_tokens_per_step"].as_f64().unwrap(),
    );
    assert!(step_s > 0.0, "{doc}");
    // Smoke workload: G 2 x 2 questions, at most 8 tokens each.
    assert!((4.0..=32.0).contains(&tokens), "{doc}");
    assert_eq!(g["params"].as_u64().unwrap(), 804_992);

    let no_grpo = dir.path().join("no_grpo.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("bench/smoke.json")).unwrap())
            .unwrap();
    cfg.as_object_mut().unwrap().remove("grpo");
    std::fs::write(&no_grpo, cfg.to_string()).unwrap();
    let err = fails(&r1lab(
        &["bench", "--grpo", "--configs", &no_grpo.to_string_lossy()],
        &[],
    ));
    assert!(
        err.contains("grpo") && err.contains("configs.json"),
        "{err}"
    );
}

/// Word problems in GSM8K's parquet layout (`question`, `answer` ending in `#### N`), made from
/// the arithmetic task: the first `n` of its held-out set, or `n` fresh training questions.
fn write_gsm8k_parquet(path: &Path, held_out: bool, n: usize) {
    use r1lab::polars::prelude::*;
    use r1lab::tasks::Task;
    let test = r1lab::tasks::read_test_set(&repo().join("data/tasks"), "arithmetic").unwrap();
    let problems = if held_out {
        test[..n].to_vec()
    } else {
        let task = r1lab::tasks::arithmetic::ArithmeticTask::default();
        let held = r1lab::tasks::questions(&test);
        r1lab::distill::training_problems(&task, n, &held, 5).unwrap()
    };
    let _ = r1lab::tasks::arithmetic::ArithmeticTask::default().name();
    let q: Vec<String> = problems.iter().map(|p| p.question.clone()).collect();
    let a: Vec<String> = problems
        .iter()
        .map(|p| format!("worked out\n#### {}", p.answer))
        .collect();
    let mut df = df!("question" => q, "answer" => a).unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut df)
        .unwrap();
}

/// Every file under `dir` that `keep` accepts.
fn files_under(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let (mut out, mut stack) = (vec![], vec![dir.to_path_buf()]);
    while let Some(d) = stack.pop() {
        for p in std::fs::read_dir(&d).unwrap().flatten().map(|e| e.path()) {
            if p.is_dir() {
                stack.push(p);
            } else if keep(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// Every `model.safetensors` under `dir`, with the dtype of its first tensor.
fn checkpoint_dtypes(dir: &Path) -> Vec<(PathBuf, String)> {
    files_under(dir, |p| {
        p.file_name().is_some_and(|f| f == "model.safetensors")
    })
    .into_iter()
    .map(|p| {
        let bytes = std::fs::read(&p).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        let dtype = header
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| *k != "__metadata__")
            .map(|(_, v)| v["dtype"].as_str().unwrap().to_string())
            .unwrap();
        (p, dtype)
    })
    .collect()
}

#[test]
fn a_checkpoint_by_hub_id_goes_through_every_stage_with_parquet_word_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).to_string_lossy().into_owned();
    let hf_home = tmp.path().join("hf");
    r1lab::hub::install_in_cache(
        &repo().join("data/checkpoints/base-1M"),
        &hf_home.join("hub"),
        "r1lab/base-1M",
        "0000000000000000000000000000000000000000",
    )
    .unwrap();
    let (train, test) = (
        tmp.path().join("train.parquet"),
        tmp.path().join("test.parquet"),
    );
    write_gsm8k_parquet(&train, false, 200);
    write_gsm8k_parquet(&test, true, 4);
    let (train, test) = (train.to_string_lossy(), test.to_string_lossy());
    let env = [
        ("HF_HOME", hf_home.as_path()),
        ("HF_HUB_OFFLINE", Path::new("1")),
    ];
    // The paper's Table 1 template is the default for a word-problem file (what a real model
    // gets); the stages below use the short one, which the in-repo model was pretrained on.
    let ev = ok(&r1lab(
        &[
            "--device",
            "cpu",
            "eval",
            "r1lab/base-1M",
            "--task",
            &test,
            "-k",
            "2",
            "--max-new-tokens",
            "16",
        ],
        &env,
    ));
    assert!(ev.contains("pass@1") && ev.contains("cons@2"), "{ev}");
    let (runs, reports) = (p("runs"), p("reports"));
    let stage = |sub: &str, extra: &[&str]| {
        let mut args = vec![
            "--device",
            "cpu",
            sub,
            "--scale",
            "smoke",
            "--task",
            &train,
            "--test",
            &test,
            "--runs",
            &runs,
            "--reports",
            &reports,
            "--template",
            "r1-zero-short",
        ];
        args.extend_from_slice(extra);
        ok(&r1lab(&args, &env))
    };
    let out = stage("r1-zero", &["--base", "r1lab/base-1M"]);
    assert!(
        out.contains("R1-Zero on") && out.contains("train.parquet"),
        "{out}"
    );
    // The rollouts asked the parquet file's questions.
    let samples = std::fs::read_to_string(
        tmp.path()
            .join("runs/r1-zero-smoke-train-r1lab--base-1M/samples.jsonl"),
    )
    .unwrap();
    assert!(
        samples.contains("train-"),
        "{}",
        &samples[..samples.len().min(300)]
    );
    let out = stage("r1", &["--base", "r1lab/base-1M", "--no-ablation"]);
    assert!(out.contains("stage4_final_rl"), "{out}");
    let cold = std::fs::read_to_string(
        tmp.path()
            .join("runs/r1-smoke-train-r1lab--base-1M/stage1_cold_start/traces.jsonl"),
    )
    .unwrap();
    assert!(
        cold.contains("|special_token|"),
        "the cold start is R1-Zero's outputs, rewritten"
    );
    let teacher = p("runs/r1-smoke-train-r1lab--base-1M/stage4_final_rl/checkpoint");
    let out = stage(
        "distill",
        &[
            "--teacher",
            &teacher,
            "--students",
            "r1lab/base-1M",
            "--logit-student",
            "r1lab/base-1M",
            "--r1-zero-base",
            "r1lab/base-1M",
        ],
    );
    assert!(out.contains("logit_kd") && out.contains(" rl "), "{out}");
}

/// The dtype recorded by every cached evaluation (`<run>/evals/*.json`) under `dir`.
fn eval_dtypes(dir: &Path) -> Vec<(PathBuf, String)> {
    let is_eval = |p: &Path| {
        p.parent().is_some_and(|d| d.ends_with("evals"))
            && p.extension().is_some_and(|x| x == "json")
    };
    files_under(dir, is_eval)
        .into_iter()
        .map(|p| {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let dtype = v["dtype"].as_str().unwrap_or("").to_string();
            (p, dtype)
        })
        .collect()
}

#[test]
fn every_stage_honours_device_and_dtype() {
    // bf16 on the CPU: a stage that loaded a model outside the run context would evaluate it in
    // f32.
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).to_string_lossy().into_owned();
    let ctx = ["--device", "cpu", "--dtype", "bf16"];
    let run = |args: &[&str]| {
        let mut all = ctx.to_vec();
        all.extend_from_slice(args);
        ok(&r1lab(&all, &[]))
    };
    let (runs, reports) = (p("runs"), p("reports"));
    let folders = ["--runs", runs.as_str(), "--reports", reports.as_str()];
    for sub in [
        &["r1", "--no-ablation"][..],
        &["distill"],
        &["variants"],
        &["real"],
    ] {
        let mut a = vec![sub[0], "--scale", "smoke"];
        a.extend_from_slice(&sub[1..]);
        a.extend_from_slice(&folders);
        run(&a);
    }
    let info = run(&["info"]);
    assert!(info.contains("bf16"), "{info}");
    run(&["generate", "-n", "1", "--max-new-tokens", "4"]);
    run(&["eval", "-k", "1", "--limit", "2", "--max-new-tokens", "8"]);
    run(&["pretrain", "--scale", "smoke", "--out", &p("base")]);
    let stem = p("eval-base");
    let eb = run(&[
        "eval-base",
        "--sizes",
        "1M",
        "--limit",
        "1",
        "-k",
        "2",
        "--max-new-tokens",
        "8",
        "--out",
        &stem,
    ]);
    assert!(eb.contains("base-1M"), "{eb}");
    // Every evaluation of every stage ran in bf16 (each records its dtype) ...
    let evals = eval_dtypes(&tmp.path().join("runs"));
    // base, R1-Zero, cold start, stage 2, stage 3, R1; teacher, 3 bases, 4 students, RL.
    assert!(evals.len() >= 12, "{evals:?}");
    for (path, dtype) in &evals {
        assert_eq!(dtype, "bf16", "{} was evaluated in {dtype}", path.display());
    }
    // ... while the trained models kept f32 weights (the CPU trainer's kernels are f32).
    let saved = checkpoint_dtypes(tmp.path());
    assert!(saved.len() >= 10, "{saved:?}");
    for (path, dtype) in &saved {
        assert_eq!(dtype, "F32", "{} was saved in {dtype}", path.display());
    }
    // The runs went into the context's folders, not the CPU f32 ones.
    for d in [
        "r1-zero-smoke-cpu-bf16",
        "r1-smoke-cpu-bf16",
        "distill-smoke-cpu-bf16",
    ] {
        assert!(tmp.path().join("runs").join(d).exists(), "{d}");
    }
    // The same stage with --device cpu explicitly: f32, the plain folder.
    ok(&r1lab(
        &[
            "--device",
            "cpu",
            "r1-zero",
            "--scale",
            "smoke",
            "--runs",
            &p("f32"),
            "--reports",
            &p("rf32"),
        ],
        &[],
    ));
    assert!(checkpoint_dtypes(&tmp.path().join("f32"))
        .iter()
        .all(|(_, d)| d == "F32"));
}

#[test]
fn cuda_on_a_cpu_build_is_one_clear_error() {
    if cfg!(feature = "cuda") {
        return;
    }
    for sub in [
        &["info"][..],
        &["r1-zero", "--scale", "smoke"],
        &["distill", "--scale", "smoke"],
    ] {
        let mut args = vec!["--device", "cuda"];
        args.extend_from_slice(sub);
        let err = fails(&r1lab(&args, &[]));
        assert!(err.contains("--features cuda"), "{err}");
    }
    let err = fails(&r1lab(&["--dtype", "f64", "info"], &[]));
    assert!(err.contains("bf16"), "{err}");
    let err = fails(&r1lab(&["--device", "cpu", "test-sets"], &[]));
    assert!(err.contains("--device"), "{err}");
    let err = fails(&r1lab(&["--dtype", "bf16", "bench", "--sizes", "1M"], &[]));
    assert!(err.contains("--bf16"), "{err}");
    let err = fails(&r1lab(
        &["r1-zero", "--scale", "smoke", "--preset", "7B"],
        &[],
    ));
    assert!(err.contains("1.5B"), "{err}");
    let err = fails(&r1lab(&["eval-base", "-k", "1", "--limit", "1"], &[]));
    assert!(err.contains("raise -k"), "{err}");
}

/// `r1lab inspect` on a tiny run folder written through the library's own writers: the viewer
/// page with the recorded rewards and advantages, the two charts, and no pass@k without
/// evaluations (said on stderr); a folder without metrics.csv is one clear error.
#[test]
fn inspect_draws_a_run_folder() {
    use r1lab::grpo::metrics::{append_metrics, append_samples};
    use r1lab::grpo::{SampleRecord, StepMetrics};
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("my-run");
    std::fs::create_dir_all(&run).unwrap();
    for step in 0..3usize {
        let mut m = StepMetrics::blank(step + 1, ["accuracy".to_string()]);
        m.completion_len_mean = 10.0;
        m.kl = 0.001 * step as f64;
        append_metrics(&run.join("metrics.csv"), &m).unwrap();
        let samples: Vec<SampleRecord> = (0..4)
            .map(|i| SampleRecord {
                step,
                problem_id: format!("q{step}"),
                question: format!("What is {step} + 1?"),
                completion: match i % 2 {
                    0 => " </think> <answer> 7 </answer>".into(),
                    _ => " so the answer is 7. wait, check: 1 + 1 = 2. so the answer is 2. </think> <answer> 2 </answer>".into(),
                },
                reward: if i % 2 == 0 { 1.0 } else { 2.0 },
                correct: i % 2 == 1,
                num_tokens: 9,
                advantage: Some(if i % 2 == 0 { -0.75 } else { 0.75 }),
            })
            .collect();
        append_samples(&run.join("samples.jsonl"), &samples).unwrap();
    }
    let out_dir = tmp.path().join("out");
    let args = [
        "inspect",
        "--run",
        run.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = r1lab(&args, &[]);
    let stdout = ok(&out);
    assert!(stdout.contains("fig_myrun_rollouts.html"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass@k against k not drawn"));
    for f in [
        "fig_myrun_completion_forms.svg",
        "fig_myrun_completion_forms.png",
        "fig_myrun_completion_forms.csv",
        "fig_myrun_training_signals.svg",
        "fig_myrun_training_signals.png",
    ] {
        assert!(
            out_dir
                .join(f)
                .metadata()
                .map(|m| m.len() > 0)
                .unwrap_or(false),
            "{f}"
        );
    }
    assert!(!out_dir.join("fig_myrun_pass_at_k.svg").exists());
    let html = std::fs::read_to_string(out_dir.join("fig_myrun_rollouts.html")).unwrap();
    assert!(
        html.contains("<b>-0.75</b>") && html.contains("<b>+0.75</b>"),
        "{html}"
    );
    assert!(html.contains("guess, then check") && html.contains("What is 2 + 1?"));
    assert!(
        !html.contains("predates"),
        "the recorded advantages are used"
    );
    let err = fails(&r1lab(
        &["inspect", "--run", out_dir.to_str().unwrap()],
        &[],
    ));
    assert!(err.contains("no metrics.csv"), "{err}");
}

#[test]
fn r1_zero_flags_make_their_own_run_and_knobs_refuse_bad_values() {
    let tmp = tempfile::tempdir().unwrap();
    let (runs, reports) = (tmp.path().join("runs"), tmp.path().join("reports"));
    let base = [
        "r1-zero",
        "--scale",
        "smoke",
        "--runs",
        runs.to_str().unwrap(),
        "--reports",
        reports.to_str().unwrap(),
    ];
    ok(&r1lab(&base, &[]));
    let mut with_beta = base.to_vec();
    with_beta.extend(["--beta", "0", "--format-weight", "0.1"]);
    ok(&r1lab(&with_beta, &[]));
    let mut names: Vec<String> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[0], "r1-zero-smoke");
    assert!(names[1].starts_with("r1-zero-smoke-") && names[1].len() == "r1-zero-smoke-".len() + 8);
    let mut bad = base.to_vec();
    bad.extend(["--format-weight", "-1"]);
    assert!(fails(&r1lab(&bad, &[])).contains("format"));
    let err = fails(&r1lab(&["knobs", "--values", "1,2"], &[]));
    assert!(err.contains("--values needs --knob"), "{err}");
    let mut knob = base.to_vec();
    knob[0] = "knobs";
    knob.extend(["--knob", "mu", "--values", "0.5"]);
    let err = fails(&r1lab(&knob, &[]));
    assert!(err.contains("whole number"), "{err}");
}
