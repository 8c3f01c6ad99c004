//! Static checks of the notebooks (they are executed by `scripts/run_notebooks.py`, which the
//! README's test command runs): every notebook uses the `rust` kernel, opens with a Markdown cell
//! that names the paper result and the scale, depends on the crate through one `:dep` line, and
//! declares the report files it writes, which the runner then checks.

use std::path::Path;

fn notebooks() -> Vec<(String, serde_json::Value)> {
    let mut out: Vec<_> = std::fs::read_dir("notebooks")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        .map(|p| {
            let nb: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), nb)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn source(cell: &serde_json::Value) -> String {
    match &cell["source"] {
        serde_json::Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
        serde_json::Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

#[test]
fn every_notebook_follows_the_conventions() {
    let nbs = notebooks();
    assert!(
        nbs.len() >= 8,
        "{:?}",
        nbs.iter().map(|n| &n.0).collect::<Vec<_>>()
    );
    for (i, (name, nb)) in nbs.iter().enumerate() {
        assert!(
            name.starts_with(&format!("{i:02}_")),
            "{name}: notebooks are numbered in reading order"
        );
        assert_eq!(nb["metadata"]["kernelspec"]["name"], "rust", "{name}");
        let cells = nb["cells"].as_array().unwrap();
        assert_eq!(cells[0]["cell_type"], "markdown", "{name}");
        let intro = source(&cells[0]).to_lowercase();
        for word in ["scale", "runtime", "success"] {
            assert!(
                intro.contains(word),
                "{name}: the first cell must give the {word}"
            );
        }
        assert!(
            source(&cells[1]).contains(":dep r1lab"),
            "{name}: the second cell holds the `:dep` line"
        );
        // Markdown may quote the line (07 shows how to add the cuda feature); code cells may not
        // repeat it.
        let deps: Vec<&serde_json::Value> = cells
            .iter()
            .filter(|c| c["cell_type"] == "code" && source(c).contains(":dep r1lab"))
            .collect();
        assert_eq!(deps.len(), 1, "{name}: one `:dep r1lab` code cell");
        assert!(
            source(deps[0]).contains(r#":dep r1lab = { path = ".." }"#),
            "{name}"
        );
        let writes = nb["metadata"]["r1lab"]["writes"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: metadata.r1lab.writes lists the reports it writes"));
        // Every notebook after the tour regenerates at least one report.
        assert!(i == 0 || !writes.is_empty(), "{name} writes no report");
    }
    assert!(Path::new("notebooks/evcxr.toml").exists());
    let toml = std::fs::read_to_string("notebooks/evcxr.toml").unwrap();
    assert!(toml.contains("preserve_vars_on_panic = false"));
}
