//! The R1-Zero experiment end to end at smoke scale: base evaluation, GRPO, final evaluation, and
//! every report (Figures 2–3, Tables 2–3, the targets table, the copied metrics), then a rerun that
//! resumes from the finished run instead of training again.

use r1lab::experiments::r1_zero::{self, R1ZeroConfig};
use r1lab::experiments::{RunContext, Scale};
use std::path::Path;

#[test]
fn smoke_run_writes_every_report_and_a_rerun_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let (run_dir, reports) = (tmp.path().join("run"), tmp.path().join("reports"));
    let cfg = R1ZeroConfig::preset(Scale::Smoke);
    let ctx = RunContext::cpu().with_folders(Path::new("data"), tmp.path(), &reports);
    let mut steps = vec![];
    let result = r1_zero::run(&cfg, &ctx, &run_dir, |m| steps.push(m.step)).unwrap();
    // Row 0 is the held-out evaluation of the base model, then one row per GRPO step.
    assert_eq!(steps, (0..=cfg.grpo.steps).collect::<Vec<_>>());
    assert_eq!(result.base.problems, cfg.eval_problems);
    assert_eq!(result.base.k, cfg.eval_k);
    for f in [
        "fig2_r1zero_accuracy.svg",
        "fig2_r1zero_accuracy.png",
        "fig3_r1zero_response_length.svg",
        "fig3_r1zero_response_length.png",
        "table2_r1zero.csv",
        "table2_r1zero.md",
        "table3_aha_moment.md",
        "table3_aha_moment_rates.csv",
        "r1zero_targets.csv",
        "r1zero_targets.md",
        "r1zero_metrics.csv",
        "fig_r1zero_rollouts.html",
        "fig_r1zero_completion_forms.svg",
        "fig_r1zero_completion_forms.png",
        "fig_r1zero_completion_forms.csv",
        "fig_r1zero_training_signals.svg",
        "fig_r1zero_training_signals.png",
        "fig_r1zero_pass_at_k.svg",
        "fig_r1zero_pass_at_k.png",
    ] {
        let p = reports.join(f);
        assert!(
            p.metadata().map(|m| m.len() > 0).unwrap_or(false),
            "missing or empty {f}"
        );
    }
    // The trainer records every completion's advantage; the evaluations are kept for inspect.
    let samples = r1lab::grpo::read_samples(&run_dir.join("samples.jsonl")).unwrap();
    assert_eq!(
        samples.len(),
        cfg.grpo.steps * cfg.grpo.prompts_per_step * cfg.grpo.group_size
    );
    assert!(samples
        .iter()
        .all(|s| s.advantage.is_some_and(f64::is_finite)));
    let kept = r1lab::inspect::read_eval(&r1lab::inspect::eval_path(&run_dir, "base")).unwrap();
    assert_eq!(kept, result.base);
    let rollouts = std::fs::read_to_string(reports.join("fig_r1zero_rollouts.html")).unwrap();
    let opts = r1lab::inspect::ViewOptions {
        every: 1,
        ..Default::default()
    };
    let view = r1lab::inspect::rollout_view(&samples, &opts, "R1-Zero");
    assert!(!view.recomputed && !view.groups.is_empty());
    for c in view.groups.iter().flat_map(|g| &g.completions) {
        assert!(rollouts.contains(&format!("<b>{:+.2}</b>", c.advantage)));
    }
    assert!(!rollouts.contains("predates"));
    let targets = r1_zero::targets(&result);
    assert_eq!(targets.len(), 4);
    let md = std::fs::read_to_string(reports.join("r1zero_targets.md")).unwrap();
    for t in &targets {
        assert!(md.contains(&t.measured), "{md}");
    }
    let rates = std::fs::read_to_string(reports.join("table3_aha_moment_rates.csv")).unwrap();
    assert!(rates.starts_with(
        "phase,reflection_rate,accuracy_with_marker,accuracy_without_marker,revised_to_right,direct_answer_rate,accuracy_direct"
    ));

    // A rerun on the finished run dir trains no further and reproduces the evaluation.
    let mut more = 0;
    let again = r1_zero::run(&cfg, &ctx, &run_dir, |_| more += 1).unwrap();
    assert_eq!(more, 0);
    assert_eq!(again.r1_zero.pass_at_1, result.r1_zero.pass_at_1);
    assert_eq!(again.metrics.len(), result.metrics.len());
}
