//! Prints a dozen documents of the base models' pretraining corpus (`src/corpus.rs`).
//! Expected: a mix of direct answers, step-by-step derivations in two languages (most of them
//! checking a first answer after "wait"), slips, self-corrections and fact lists. Run: `cargo run --release --example peek_corpus`.

fn main() -> anyhow::Result<()> {
    let tasks = r1lab::tasks::synthetic_tasks();
    let refs: Vec<&dyn r1lab::tasks::Task> = tasks.iter().map(|t| t.as_ref()).collect();
    let held_out = std::collections::HashSet::new();
    let cfg = r1lab::corpus::CorpusConfig {
        num_docs: 12,
        ..Default::default()
    };
    for doc in r1lab::corpus::generate_corpus(&cfg, &refs, &held_out)? {
        println!("{doc}\n---");
    }
    Ok(())
}
