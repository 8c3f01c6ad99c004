//! `r1lab reproduce --full` end to end at smoke scale: every experiment, then the seeded
//! full-statistics runs, each writing its reports into one folder.

use r1lab::experiments::{reproduce, RunContext, Scale};
use std::path::Path;

#[test]
fn reproduce_full_writes_every_report_at_smoke_scale() {
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    let ctx = RunContext::cpu().with_folders(Path::new("data"), &tmp.path().join("runs"), &reports);
    let mut log = Vec::new();
    reproduce::run(Scale::Smoke, &ctx, true, |l| log.push(l)).unwrap();
    for file in [
        "table2_r1zero.md",
        "fig2_r1zero_accuracy.svg",
        "grpo_variants.md",
        "findings_variants.md",
        "r1_pipeline_stages.md",
        "table4_r1_vs_r1zero.md",
        "findings_table4.md",
        "table5_distilled.md",
        "table6_distill_vs_rl.md",
        "real_models_cpu_stand_in.md",
        "r1zero_control.md",
        "knob_format-weight.md",
        "fig_knob_std-scaling.svg",
        "final_rl_probe.md",
        "findings_vs_size.md",
        "fig_findings_vs_size.svg",
    ] {
        let f = reports.join(file);
        assert!(
            f.metadata().map(|m| m.len() > 0).unwrap_or(false),
            "{file} missing; log: {log:?}"
        );
    }
    assert!(log
        .iter()
        .any(|l| l.starts_with("every report regenerated")));
}
