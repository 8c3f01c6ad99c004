//! Each finding across model sizes: findings pooled over seeds, and the experiment end to end at
//! smoke scale (every run made, the table and the figure written, a rerun reusing every run).

use candle_core::{DType, Device};
use r1lab::eval::bootstrap::Direction;
use r1lab::eval::{evaluate, EvalConfig, EvalReport};
use r1lab::experiments::findings::Finding;
use r1lab::experiments::sizes::{self, SizesConfig};
use r1lab::experiments::{RunContext, Scale};
use std::path::Path;

fn reports(seeds: &[u64]) -> Vec<EvalReport> {
    let loaded =
        r1lab::checkpoint::load("data/checkpoints/base-1M", DType::F32, &Device::Cpu).unwrap();
    let tk = loaded.tokenizer().unwrap().clone();
    let problems = r1lab::tasks::read_test_set(Path::new("data/tasks"), "arithmetic").unwrap();
    seeds
        .iter()
        .map(|&seed| {
            let cfg = EvalConfig {
                k: 4,
                seed,
                ..Default::default()
            };
            evaluate(
                &loaded.model,
                &tk,
                "m",
                "arithmetic",
                &problems[..24],
                &cfg,
                |_, _| {},
            )
            .unwrap()
        })
        .collect()
}

#[test]
fn a_pooled_finding_is_the_seed_mean_difference_and_one_seed_is_the_plain_one() {
    let r = reports(&[1, 2, 3, 4]);
    let (a, b) = (vec![&r[0], &r[1]], vec![&r[2], &r[3]]);
    let (pooled, per_seed) =
        Finding::pooled("c", ("A", &a), ("B", &b), "pass@1", Direction::Positive).unwrap();
    let d0 = r[0].pass_at_1 - r[2].pass_at_1;
    let d1 = r[1].pass_at_1 - r[3].pass_at_1;
    assert!((per_seed[0] - d0).abs() < 1e-9 && (per_seed[1] - d1).abs() < 1e-9);
    let mean = (d0 + d1) / 2.0;
    assert!(
        (pooled.difference.estimate - mean).abs() < 1e-9,
        "{pooled:?}"
    );
    assert!((pooled.a_value - (r[0].pass_at_1 + r[1].pass_at_1) / 2.0).abs() < 1e-9);
    let ci = pooled.difference;
    assert!(ci.low <= ci.estimate && ci.estimate <= ci.high);

    let (one, _) = Finding::pooled(
        "c",
        ("A", &[&r[0]]),
        ("B", &[&r[2]]),
        "pass@1",
        Direction::Positive,
    )
    .unwrap();
    let plain = Finding::new(
        "c",
        ("A", &r[0]),
        ("B", &r[2]),
        "pass@1",
        Direction::Positive,
    )
    .unwrap();
    assert_eq!(
        (one.difference.low, one.difference.high),
        (plain.difference.low, plain.difference.high)
    );
    // Unequal seed counts are refused, with what to do.
    let err = Finding::pooled(
        "c",
        ("A", &a),
        ("B", &[&r[2]]),
        "pass@1",
        Direction::Positive,
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("same seeds"), "{err:#}");
}

#[test]
fn the_sizes_experiment_runs_end_to_end_at_smoke_scale_and_reuses_its_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = RunContext::cpu().with_folders(
        Path::new("data"),
        &tmp.path().join("runs"),
        &tmp.path().join("reports"),
    );
    let cfg = SizesConfig::preset(Scale::Smoke);
    let first = sizes::run(&cfg, &ctx, Scale::Smoke, |_| {}).unwrap();
    // R1-Zero at both sizes, distillation on the student, R1 − R1-Zero at the teacher's size.
    let claims: Vec<(&str, &str)> = first
        .points
        .iter()
        .map(|p| (p.claim.as_str(), p.size.as_str()))
        .collect();
    assert_eq!(
        claims,
        vec![
            (sizes::R1_ZERO_GAIN, "0.5M"),
            (sizes::R1_ZERO_GAIN, "1M"),
            (sizes::DISTILLED_MINUS_RL, "0.5M"),
            (sizes::R1_MINUS_R1_ZERO, "1M"),
        ]
    );
    for p in &first.points {
        let d = p.finding.difference;
        assert!(d.low <= d.estimate && d.estimate <= d.high, "{p:?}");
        assert_eq!(p.per_seed.len(), 1);
        assert!((p.per_seed[0] - d.estimate).abs() < 1e-9);
    }
    let reports = tmp.path().join("reports");
    let table = std::fs::read_to_string(reports.join("findings_vs_size.csv")).unwrap();
    assert_eq!(table.lines().count(), 5, "{table}");
    assert!(reports.join("fig_findings_vs_size.svg").exists());
    assert!(reports.join("fig_findings_vs_size.png").exists());
    // The committed tables are not touched: the sub-runs' own reports go under the runs.
    assert!(!reports.join("r1_pipeline_stages.csv").exists());
    // A rerun trains nothing again and finds the same numbers.
    let again = sizes::run(&cfg, &ctx, Scale::Smoke, |_| {}).unwrap();
    for (x, y) in first.points.iter().zip(&again.points) {
        assert_eq!(x.finding.difference.estimate, y.finding.difference.estimate);
    }
    assert!(
        again.wall_s < first.wall_s,
        "{} vs {}",
        again.wall_s,
        first.wall_s
    );

    // On a machine without the runs (another session, a fresh clone), the seed's record alone
    // rebuilds the findings: nothing is trained or evaluated again.
    let runs = tmp.path().join("runs");
    let record = sizes::record::Records::path(&ctx, Scale::Smoke, 0);
    assert!(record.exists(), "{}", record.display());
    let kept = tmp.path().join("seed0.json");
    std::fs::copy(&record, &kept).unwrap();
    std::fs::remove_dir_all(&runs).unwrap();
    std::fs::create_dir_all(record.parent().unwrap()).unwrap();
    std::fs::copy(&kept, &record).unwrap();
    let mut lines = Vec::new();
    let restored = sizes::run(&cfg, &ctx, Scale::Smoke, |l| lines.push(l)).unwrap();
    for (x, y) in first.points.iter().zip(&restored.points) {
        assert_eq!(x.finding.difference.estimate, y.finding.difference.estimate);
        assert_eq!(x.finding.difference.low, y.finding.difference.low);
    }
    let made: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(made, vec!["sizes-smoke".to_string()], "{lines:#?}");
    assert!(
        lines.iter().filter(|l| l.contains("recorded in")).count() == 4,
        "{lines:#?}"
    );

    // A damaged record is refused with what to do, not silently run again.
    std::fs::write(&record, "{").unwrap();
    let err = sizes::run(&cfg, &ctx, Scale::Smoke, |_| {}).unwrap_err();
    assert!(format!("{err:#}").contains("delete it"), "{err:#}");
}
