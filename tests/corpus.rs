//! The pretraining corpora that shipped checkpoints and reports were made from, pinned by a hash
//! of the text they generate.
//!
//! `r1lab pretrain --size 1M` rebuilds the shipped base-1M byte for byte (`reports/LOG.md`) only
//! while the corpus generator writes the same documents from the same settings. These tests hash
//! what the generator writes, through the same calls `r1lab pretrain` makes (the size preset, the
//! corpus flags, the held-out questions of `data/tasks`), so the code may be reordered or
//! simplified freely as long as the text stays the same. A changed hash means a changed corpus:
//! either the change is a mistake, or it is a new corpus, and then the base models must be
//! retrained and every report regenerated before the hash here is updated.
//!
//! History: the pins changed on 2026-12-03, when the held-out sets grew from 200 to 500 problems
//! per task (issue 18); the corpus keeps every held-out question out, so 600 more questions left
//! it, and every base model was pretrained again (`reports/LOG.md`).

use r1lab::corpus::{generate_corpus, CorpusConfig, KindMix};
use r1lab::experiments::base_models::{self, CorpusOverrides, PretrainConfig};
use r1lab::experiments::Scale;
use r1lab::tasks::arithmetic::ArithmeticTask;
use std::collections::HashSet;
use std::path::Path;

/// 64-bit FNV-1a of the documents, each followed by a zero byte (so the boundaries count).
fn fingerprint(docs: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for doc in docs {
        for b in doc.bytes().chain([0]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The questions `r1lab pretrain` keeps out of the corpus: those of the committed test sets.
fn held_out() -> HashSet<String> {
    let held = base_models::held_out_questions(Path::new("data")).unwrap();
    assert_eq!(held.len(), 1000, "the committed test sets of data/tasks");
    held
}

/// The corpus `r1lab pretrain --size 1M --scale <scale>` with `overrides` trains on.
fn pretrain_corpus(scale: Scale, overrides: &CorpusOverrides) -> Vec<String> {
    let mut cfg = PretrainConfig::preset("1M", scale).unwrap();
    cfg.apply(overrides).unwrap();
    base_models::corpus_for(&cfg.corpus, cfg.task.as_deref(), &held_out()).unwrap()
}

fn assert_pinned(what: &str, docs: &[String], n: usize, pinned: u64) {
    assert_eq!(docs.len(), n, "{what}");
    let h = fingerprint(docs);
    assert_eq!(
        h, pinned,
        "{what}: the corpus changed (fingerprint {h:#018x}); see this file's docs"
    );
}

/// The corpus of the shipped base models (0.5M, 1M, 2M and the 10M "V3-Base" stand-in share it).
#[test]
fn the_shipped_base_models_corpus_is_pinned() {
    let shipped = PretrainConfig::preset("1M", Scale::Workshop).unwrap();
    for size in ["0.5M", "2M", "10M"] {
        let other = PretrainConfig::preset(size, Scale::Workshop).unwrap();
        assert_eq!(other.corpus, shipped.corpus, "{size}");
        assert_eq!(other.task, shipped.task, "{size}");
    }
    let docs = pretrain_corpus(Scale::Workshop, &CorpusOverrides::default());
    assert_pinned("shipped corpus", &docs, 20_000, 0xf6a3_d677_fd38_8fff);
    // The smoke scale (the CLI tests' pretraining) writes the first 400 of the same documents.
    let smoke = pretrain_corpus(Scale::Smoke, &CorpusOverrides::default());
    assert_eq!(smoke[..], docs[..400]);
}

/// `r1lab pretrain --guess 0`: the corpus without checked first answers, the control of the LOG's
/// corpus runs before 2026-11-29 (seventh session) and of the notebooks.
#[test]
fn the_corpus_without_guesses_is_pinned() {
    let overrides = CorpusOverrides {
        guess: Some(0.0),
        ..Default::default()
    };
    let docs = pretrain_corpus(Scale::Workshop, &overrides);
    assert_pinned("--guess 0", &docs, 20_000, 0xa5ac_d450_1563_d19f);
}

/// `r1lab pretrain --task countdown`: the countdown-only corpus.
#[test]
fn the_countdown_corpus_is_pinned() {
    let overrides = CorpusOverrides {
        task: Some("countdown".into()),
        ..Default::default()
    };
    let docs = pretrain_corpus(Scale::Workshop, &overrides);
    assert_pinned("--task countdown", &docs, 20_000, 0x1795_6cf4_4c5e_9512);
}

/// The fact lists of the R1 pipeline's stage 3 (`r1_pipeline::non_reasoning_rows`: facts only,
/// seed `seed ^ 0xfac7`, the pipeline's seed being 0), written by the same generator.
#[test]
fn the_stage_3_fact_lists_are_pinned() {
    let cfg = CorpusConfig {
        num_docs: 1_000,
        seed: 0xfac7,
        kinds: KindMix::facts_only(),
        ..Default::default()
    };
    let docs = generate_corpus(&cfg, &[&ArithmeticTask::default()], &held_out()).unwrap();
    assert_pinned("stage-3 fact lists", &docs, 1_000, 0x3f01_e118_b45f_ddba);
}
