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
        &["pretrain", "--scale", "smoke", "--detailed", "1.5"],
        &[],
    ));
    assert!(err.contains("--detailed") && err.contains("1.5"), "{err}");
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
        ("--search", "2", "probability"),
        ("--guess", "1.5", "probability"),
        ("--recheck", "1.5", "probability"),
        ("--seq-len", "300", "power of two"),
    ] {
        let err = fails(&r1lab(&["pretrain", "--scale", "smoke", flag, value], &[]));
        assert!(
            err.contains(&format!("{flag} {value}")) && err.contains(rule),
            "{err}"
        );
    }
    // A share of the other task's documents would do nothing: refused.
    for (flag, task) in [("--recheck", "countdown"), ("--search", "arithmetic")] {
        let err = fails(&r1lab(
            &["pretrain", "--scale", "smoke", "--task", task, flag, "0.5"],
            &[],
        ));
        assert!(err.contains(flag) && err.contains(task), "{err}");
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
        "table4_r1_vs_r1zero.md",
        "r1_filters.md",
        "table5_distilled.md",
        "table6_distill_vs_rl.md",
    ] {
        assert!(tmp.path().join("reports").join(f).exists(), "{f}");
    }
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
