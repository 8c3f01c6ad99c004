//! Tables: a polars DataFrame written as CSV and as a Markdown table (for `reports/`).

use anyhow::{Context, Result};
use polars::prelude::*;
use std::path::Path;

/// Markdown for a DataFrame: floats with 3 decimals, everything else as displayed.
pub fn to_markdown(df: &DataFrame) -> String {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut out = format!(
        "| {} |\n|{}|\n",
        names.join(" | "),
        names.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for i in 0..df.height() {
        let cells: Vec<String> = df
            .columns()
            .iter()
            .map(|c| match c.get(i) {
                Ok(AnyValue::Float64(v)) => format!("{v:.3}"),
                Ok(AnyValue::Float32(v)) => format!("{v:.3}"),
                Ok(AnyValue::String(s)) => s.to_string(),
                Ok(AnyValue::StringOwned(s)) => s.to_string(),
                Ok(AnyValue::Null) => String::new(),
                Ok(v) => v.to_string(),
                Err(_) => String::new(),
            })
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// Writes `<stem>.csv` and `<stem>.md` (atomically), creating the folder if needed.
pub fn write_table(df: &DataFrame, stem: &Path, title: Option<&str>) -> Result<()> {
    if let Some(dir) = stem.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut csv = Vec::new();
    CsvWriter::new(&mut csv)
        .include_header(true)
        .finish(&mut df.clone())?;
    crate::checkpoint::atomic_write(&stem.with_extension("csv"), &csv)?;
    let mut md = String::new();
    if let Some(t) = title {
        md.push_str(&format!("{t}\n\n"));
    }
    md.push_str(&to_markdown(df));
    crate::checkpoint::atomic_write(&stem.with_extension("md"), md.as_bytes())?;
    Ok(())
}

/// Reads a CSV written by [`write_table`] (or any CSV with a header).
pub fn read_csv(path: &Path) -> Result<DataFrame> {
    let reader = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path.to_path_buf()));
    let reader =
        anyhow::Context::with_context(reader, || format!("cannot open {}", path.display()))?;
    anyhow::Context::with_context(reader.finish(), || {
        format!("{} is not a readable CSV table", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let df = df!("model" => ["a", "b"], "value" => [0.5f64, 0.25]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("t");
        write_table(&df, &stem, Some("# T")).unwrap();
        let md = std::fs::read_to_string(stem.with_extension("md")).unwrap();
        assert!(
            md.contains("| model | value |") && md.contains("| a | 0.500 |"),
            "{md}"
        );
        let back = read_csv(&stem.with_extension("csv")).unwrap();
        assert_eq!(back.shape(), (2, 2));
    }
}
