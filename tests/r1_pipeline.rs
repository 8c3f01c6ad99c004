//! The R1 pipeline (Table 4) and distillation (Tables 5 and 6) end to end at smoke scale: every
//! stage runs, every report is written, the filters account for every sample, and a rerun reuses
//! the finished stages instead of training again.

use r1lab::experiments::distillation::{self, DistillConfig};
use r1lab::experiments::r1_pipeline::{self, R1Config};
use r1lab::experiments::{RunContext, Scale};
use r1lab::rejection::Verdict;
use std::collections::HashMap;
use std::path::Path;

fn nonempty(dir: &Path, f: &str) {
    let p = dir.join(f);
    assert!(
        p.metadata().map(|m| m.len() > 0).unwrap_or(false),
        "missing or empty {f}"
    );
}

/// The rows of a CSV without quoted cells, each a map from column name to cell.
fn csv_rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), header.len(), "{l}");
            header
                .iter()
                .zip(cells)
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect()
        })
        .collect()
}

/// Every row of a findings table: its difference inside its interval, and one of the three words,
/// the one the interval earns.
fn check_findings(dir: &Path, file: &str, rows_at_least: usize) {
    let rows = csv_rows(&std::fs::read_to_string(dir.join(file)).unwrap());
    assert!(rows.len() >= rows_at_least, "{file}: {rows:?}");
    for r in &rows {
        let n = |c: &str| r[c].parse::<f64>().unwrap();
        let (d, lo, hi) = (n("A − B"), n("95% CI low"), n("95% CI high"));
        assert!(lo <= d && d <= hi, "{file}: {r:?}");
        let positive = r["paper"] == "A > B";
        let expected = if lo > 0.0 {
            if positive {
                "reproduced"
            } else {
                "contradicted"
            }
        } else if hi < 0.0 {
            if positive {
                "contradicted"
            } else {
                "reproduced"
            }
        } else {
            "unresolved"
        };
        assert_eq!(r["verdict"], expected, "{file}: {r:?}");
    }
}

#[test]
fn smoke_pipeline_then_distillation_write_every_report_and_reruns_reuse_the_stages() {
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    let ctx = RunContext::cpu().with_folders(Path::new("data"), tmp.path(), &reports);
    let mut cfg = R1Config::preset(Scale::Smoke, &ctx);
    cfg.r1_zero_run_dir = tmp.path().join("r1-zero");
    let run_dir = tmp.path().join("r1");
    let mut log = vec![];
    let r = r1_pipeline::run(&cfg, &ctx, &run_dir, |l| log.push(l)).unwrap();
    let ids: Vec<&str> = r.stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(
        ids,
        [
            "base",
            "r1_zero",
            "cold_start",
            "stage2_reasoning_rl",
            "stage2_no_consistency",
            "r1_zero_consistency",
            "stage3_rejection_sft",
            "stage4_final_rl"
        ]
    );
    for s in &r.stages {
        assert_eq!(s.report.problems, cfg.eval_problems);
        assert!((0.0..=1.0).contains(&s.target_language_share));
    }
    // The cold-start examples are generated correct and single-language: all kept.
    assert_eq!(r.cold_start_filter.judged, cfg.cold_start_examples);
    assert_eq!(
        r.cold_start_filter.count(Verdict::Kept),
        cfg.cold_start_examples
    );
    // Stage 3 judged every sampled completion, and every one got exactly one verdict.
    let rs = &r.rejection_filter;
    assert_eq!(
        rs.judged,
        cfg.rejection_prompts * cfg.rejection.samples_per_prompt
    );
    assert_eq!(rs.rows().iter().map(|(_, n)| n).sum::<usize>(), rs.judged);
    assert!(rs.sampled_tokens > rs.judged);
    // Four RL stages (two of them ablations), each with its training wall time recorded.
    let stages: std::collections::BTreeSet<&str> =
        r.rl_metrics.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(stages.len(), 4);
    for s in &r.stages[1..] {
        assert!(
            s.wall_s.is_finite() && s.wall_s >= 0.0,
            "{}: {}",
            s.stage,
            s.wall_s
        );
    }
    for f in [
        "r1_pipeline_stages.csv",
        "r1_pipeline_stages.md",
        "r1_filters.csv",
        "r1_filters.md",
        "r1_metrics.csv",
        // R1-Zero had to run first, so its reports are there too.
        "table2_r1zero.md",
    ] {
        nonempty(&reports, f);
    }
    check_findings(&reports, "findings_r1.csv", 7);
    check_findings(&reports, "findings_r1zero.csv", 4);
    let t4 = std::fs::read_to_string(reports.join("r1_pipeline_stages.md")).unwrap();
    assert!(
        t4.contains("pass@1 low") && t4.contains("mixing_rate high"),
        "{t4}"
    );
    assert!(t4.contains("language-consistency reward"), "{t4}");
    assert!(
        t4.contains("stage4_final_rl") && t4.contains("paper_r1"),
        "{t4}"
    );
    let metrics = std::fs::read_to_string(reports.join("r1_metrics.csv")).unwrap();
    assert!(metrics.starts_with("stage,step,reward_mean"), "{metrics}");
    assert!(metrics.contains("reward_language_consistency"));
    // Each stage's rows are its own metrics.csv, every value under its own column: the
    // ablation has no language-consistency reward, and its cells must not shift left.
    let combined = csv_rows(&metrics);
    for stage in &stages {
        let own =
            csv_rows(&std::fs::read_to_string(run_dir.join(stage).join("metrics.csv")).unwrap());
        let rows: Vec<_> = combined.iter().filter(|r| r["stage"] == *stage).collect();
        assert_eq!(rows.len(), own.len(), "{stage}");
        for (row, own) in rows.iter().zip(&own) {
            for (column, value) in own {
                let number = |v: &str| v.parse::<f64>().ok();
                assert_eq!(number(&row[column]), number(value), "{stage} {column}");
            }
            for (column, value) in row.iter() {
                assert!(
                    column == "stage" || own.contains_key(column) || value.is_empty(),
                    "{stage} has no {column}, yet holds {value}"
                );
            }
        }
    }

    // A rerun trains nothing (no SFT line, no R1-Zero run) and reproduces every number.
    let mut again_log = vec![];
    let again = r1_pipeline::run(&cfg, &ctx, &run_dir, |l| again_log.push(l)).unwrap();
    assert!(
        !again_log
            .iter()
            .any(|l| l.trim_start().starts_with("SFT ") || l.starts_with("R1-Zero")),
        "{again_log:?}"
    );
    for (a, b) in r.stages.iter().zip(&again.stages) {
        assert_eq!(a.report.pass_at_1, b.report.pass_at_1, "{}", a.stage);
    }

    // The final-RL probe: every setting rerun from the stage-3 model, compared with it.
    let probe = r1lab::experiments::final_rl_probe::ProbeConfig::preset(&cfg, Scale::Smoke);
    let rows =
        r1lab::experiments::final_rl_probe::run(&cfg, &probe, &ctx, &run_dir, |_| {}).unwrap();
    assert_eq!(rows.len(), probe.variants.len());
    for row in &rows {
        let d = row.finding.difference;
        assert!(d.low <= d.estimate && d.estimate <= d.high, "{row:?}");
        assert!(
            (0.0..=1.0).contains(&row.zero_variance) && row.entropy > 0.0,
            "{row:?}"
        );
    }
    let probes = std::fs::read_dir(run_dir.join("stage4_probe"))
        .unwrap()
        .count();
    assert_eq!(
        probes,
        probe.variants.len() + 1,
        "a folder per setting, and the evaluations"
    );
    assert!(reports.join("final_rl_probe.md").exists());

    // Distillation from the pipeline's final model.
    let mut dcfg = DistillConfig::preset(Scale::Smoke, &ctx);
    dcfg.teacher = run_dir
        .join("stage4_final_rl/checkpoint")
        .to_string_lossy()
        .into_owned();
    dcfg.r1_zero_run_dir = cfg.r1_zero_run_dir.clone();
    let ddir = tmp.path().join("distill");
    let d = distillation::run(&dcfg, &ctx, &ddir, |_| {}).unwrap();
    assert_eq!(d.students.len(), 3);
    assert!(d.students.windows(2).all(|w| w[0].params < w[1].params));
    let logit = d.logit.as_ref().expect("logit distillation ran");
    assert_eq!(logit.method, "logit_kd");
    let sft_1m = d.students.iter().find(|s| s.size == "1M").unwrap();
    // Same rows and steps: logit distillation trains the same tokens and adds a teacher forward.
    assert_eq!(logit.compute.trained_tokens, sft_1m.compute.trained_tokens);
    assert!(logit.compute.flops > sft_1m.compute.flops);
    let rl = d.rl.as_ref().expect("Table 6 ran");
    assert_eq!(rl.size, "1M");
    assert!(rl.compute.flops > 0.0 && d.teacher_sampling_flops > 0.0);
    for f in [
        "table5_distilled.csv",
        "table5_distilled.md",
        "table6_distill_vs_rl.csv",
        "table6_distill_vs_rl.md",
    ] {
        nonempty(&reports, f);
    }
    // Three students taught, the largest against the smallest, distillation against RL.
    check_findings(&reports, "findings_distillation.csv", 5);
    let t5 = std::fs::read_to_string(reports.join("table5_distilled.md")).unwrap();
    assert!(
        t5.contains("DeepSeek-R1-Distill-Qwen-32B") && t5.contains("base-2M"),
        "{t5}"
    );
    let again = distillation::run(&dcfg, &ctx, &ddir, |_| {}).unwrap();
    assert_eq!(
        again.students[2].trained.pass_at_1,
        d.students[2].trained.pass_at_1
    );
}
