fn main() {
    let tasks = r1lab::tasks::synthetic_tasks();
    let refs: Vec<&dyn r1lab::tasks::Task> = tasks.iter().map(|t| t.as_ref()).collect();
    let held = std::collections::HashSet::new();
    let cfg = r1lab::corpus::CorpusConfig { num_docs: 12, ..Default::default() };
    for d in r1lab::corpus::generate_corpus(&cfg, &refs, &held).unwrap() { println!("{d}\n---"); }
}
