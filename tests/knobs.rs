//! Knobs and the control at smoke scale: a changed setting makes a new run beside the old one
//! (no "other settings" error), every value × seed of a knob is run, measured and charted, a
//! rerun reuses the runs, and the control compares R1-Zero from a base with and without the
//! guess-then-check documents.

use r1lab::experiments::control::{self, ControlConfig};
use r1lab::experiments::knobs::{self, Knob, KnobConfig};
use r1lab::experiments::r1_zero::{self, R1ZeroConfig};
use r1lab::experiments::{RunContext, Scale};
use std::path::Path;

fn context(tmp: &Path) -> RunContext {
    RunContext::cpu().with_folders(Path::new("data"), &tmp.join("runs"), &tmp.join("reports"))
}

#[test]
fn a_changed_setting_runs_in_its_own_folder_beside_the_preset_run() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path());
    let preset = R1ZeroConfig::preset(Scale::Smoke);
    let dir = ctx.run_dir(r1_zero::RUN_NAME, Scale::Smoke);
    assert_eq!(r1_zero::keyed_run_dir(&dir, &preset, &preset), dir);
    r1_zero::run(&preset, &ctx, &dir, |_| {}).unwrap();
    let mut longer = preset.clone();
    longer.grpo.steps = 3;
    assert_eq!(
        r1_zero::keyed_run_dir(&dir, &longer, &preset),
        dir,
        "steps alone never key a folder: a run may be continued"
    );
    let mut changed = longer.clone();
    changed.grpo.beta = 0.0;
    let other = r1_zero::keyed_run_dir(&dir, &changed, &preset);
    assert_ne!(other, dir);
    r1_zero::run(&changed, &ctx, &other, |_| {}).unwrap();
    // The old run is untouched; the new one trained with the new settings.
    let old = r1lab::grpo::read_metrics(&dir.join("metrics.csv")).unwrap();
    let new = r1lab::grpo::read_metrics(&other.join("metrics.csv")).unwrap();
    let last = |m: &[r1lab::grpo::StepMetrics]| m.last().unwrap().step;
    assert_eq!((last(&old), last(&new)), (preset.grpo.steps, 3));
    let trained = new.iter().filter(|m| m.step > 0);
    assert!(
        trained.clone().count() == 3 && trained.clone().all(|m| m.kl == 0.0),
        "β = 0: no KL"
    );
    // The same run in the preset's folder is still refused, with what to do.
    let err = r1_zero::run(&changed, &ctx, &dir, |_| {}).unwrap_err();
    assert!(
        format!("{err:#}").contains("other GRPO settings"),
        "{err:#}"
    );
    // Fewer steps than a run already has, or another format weight in its folder, are refused
    // rather than answered with the longer run or the other reward.
    let mut shorter = changed.clone();
    shorter.grpo.steps = 2;
    let err = r1_zero::run(&shorter, &ctx, &other, |_| {}).unwrap_err();
    assert!(
        format!("{err:#}").contains("already trained to step 3"),
        "{err:#}"
    );
    let mut reweighted = changed.clone();
    reweighted.format_weight = 0.1;
    let err = r1_zero::run(&reweighted, &ctx, &other, |_| {}).unwrap_err();
    assert!(format!("{err:#}").contains("format weight 1"), "{err:#}");
    let mut seeded = changed.clone().with_seed(2);
    seeded.grpo.steps = 1;
    let s = r1_zero::keyed_run_dir(&dir, &seeded, &preset);
    assert_eq!(s, Path::new(&format!("{}-seed2", other.display())));
}

#[test]
fn a_knob_runs_every_value_and_seed_measures_them_and_reuses_them() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path());
    let cfg = KnobConfig::preset(Knob::Mu, Scale::Smoke);
    let first = knobs::run(&cfg, &ctx, Scale::Smoke, |_| {}).unwrap();
    assert_eq!(first.runs.len(), cfg.values.len() * cfg.seeds.len());
    let mut dirs: Vec<_> = first.runs.iter().map(|r| r.dir.clone()).collect();
    dirs.sort();
    dirs.dedup();
    assert_eq!(
        dirs.len(),
        first.runs.len(),
        "one folder per value and seed"
    );
    for r in &first.runs {
        assert!(
            (0.0..=1.0).contains(&r.pass_at_1) && r.length > 0.0,
            "{r:?}"
        );
        let clip = r.signal;
        if r.value == 1.0 {
            assert_eq!(clip, 0.0, "one pass is on-policy: the clip cannot bind");
        }
    }
    let reports = tmp.path().join("reports");
    let table = std::fs::read_to_string(reports.join("knob_mu.csv")).unwrap();
    assert_eq!(table.lines().count(), 1 + cfg.values.len(), "{table}");
    assert!(table.contains("1 (paper)"));
    assert!(reports.join("fig_knob_mu.svg").exists() && reports.join("fig_knob_mu.png").exists());
    let again = knobs::run(&cfg, &ctx, Scale::Smoke, |_| {}).unwrap();
    for (a, b) in first.runs.iter().zip(&again.runs) {
        assert_eq!((a.pass_at_1, a.signal), (b.pass_at_1, b.signal));
    }
    assert!(
        again.wall_s < first.wall_s,
        "{} vs {}",
        again.wall_s,
        first.wall_s
    );
    // A value the setting cannot take is refused before anything trains.
    let mut bad = cfg.clone();
    bad.values = vec![0.5];
    let err = knobs::run(&bad, &ctx, Scale::Smoke, |_| {}).unwrap_err();
    assert!(format!("{err:#}").contains("whole number"), "{err:#}");
}

#[test]
fn the_control_runs_r1_zero_from_a_base_without_the_guess_form() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context(tmp.path());
    let r = control::run(
        &ControlConfig::preset(Scale::Smoke),
        &ctx,
        Scale::Smoke,
        |_| {},
    )
    .unwrap();
    assert!(
        r.control.base.ends_with("base-1M-guess0"),
        "{:?}",
        r.control.base
    );
    assert!(
        r.control.base.starts_with(tmp.path()),
        "the smoke base stays under the runs"
    );
    assert_ne!(r.shipped.run_dir, r.control.run_dir);
    assert_eq!(
        r.control.guess_share,
        (0.0, 0.0),
        "the control base never writes the form"
    );
    let d = r.gain_difference;
    assert!(d.low <= d.estimate && d.estimate <= d.high);
    let reports = tmp.path().join("reports");
    let table = std::fs::read_to_string(reports.join("r1zero_control.csv")).unwrap();
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(reports.join("findings_r1zero_control.csv").exists());
    assert!(
        !reports.join("table2_r1zero.csv").exists(),
        "Table 2 is not overwritten"
    );
}
