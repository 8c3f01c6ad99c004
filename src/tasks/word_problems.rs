//! GSM8K-style word problems with numeric answers (the paper evaluates on GSM8K-like math
//! benchmarks, §3; rule-based accuracy reward, §2.2.2).
//!
//! Problems come from already-loaded `(question, answer)` pairs ([`WordProblemTask::from_pairs`];
//! a Parquet loader elsewhere only needs to produce such pairs) or from JSONL files with one
//! `{"question": ..., "answer": ...}` object per line ([`WordProblemTask::from_jsonl`]). The answer
//! may be GSM8K's rationale ending in `#### 42`, a plain numeric string, or a JSON number. The
//! verifier compares numbers exactly after [`super::normalize_number`] (commas, a trailing `.0`
//! and a leading `$` are tolerated).

use super::normalize_number;
use super::{numbers_equal, problem_id, Flaw, Problem, ProblemMeta, Step, Task, WorkedSolution};
use anyhow::{anyhow, bail, ensure, Context, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Default task name (and the `task` part of problem ids).
pub const NAME: &str = "word_problems";

/// Splits a GSM8K answer into `(canonical number, rationale)`: the number after the last `####`
/// and the text before it with `<<48/2=24>>` calculator annotations removed. A string without
/// `####` must be a plain number (rationale `None`). Returns `None` if no number is found.
pub fn parse_gsm8k_answer(answer: &str) -> Option<(String, Option<String>)> {
    match answer.rsplit_once("####") {
        Some((rationale, number)) => {
            let number = normalize_number(number)?;
            let rationale = strip_annotations(rationale).trim().to_owned();
            Some((number, (!rationale.is_empty()).then_some(rationale)))
        }
        None => normalize_number(answer).map(|n| (n, None)),
    }
}

/// Removes GSM8K calculator annotations `<<...>>`.
fn strip_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<<") {
        out.push_str(&rest[..start]);
        match rest[start..].find(">>") {
            Some(end) => rest = &rest[start + end + 2..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Word problems sampled uniformly from a fixed, non-empty list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordProblemTask {
    name: String,
    problems: Vec<Problem>,
}

impl WordProblemTask {
    /// Builds the task from `(question, answer)` pairs, where each answer is a GSM8K answer or a
    /// plain number. Errors (naming the pair's index) on an empty question or an answer without a
    /// number, and if there are no pairs.
    pub fn from_pairs<I, Q, A>(name: &str, pairs: I) -> Result<Self>
    where
        I: IntoIterator<Item = (Q, A)>,
        Q: Into<String>,
        A: AsRef<str>,
    {
        let problems = pairs
            .into_iter()
            .enumerate()
            .map(|(i, (q, a))| {
                make_problem(name, q.into(), a.as_ref()).with_context(|| format!("pair {i}"))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_problems(name, problems)
    }

    /// Builds the task from problems already in [`Problem`] form.
    pub fn from_problems(name: &str, problems: Vec<Problem>) -> Result<Self> {
        ensure!(
            !problems.is_empty(),
            "word-problem task {name:?} has no problems"
        );
        Ok(Self {
            name: name.to_owned(),
            problems,
        })
    }

    /// Loads word problems from a `.jsonl` or `.parquet` file ([`Self::from_jsonl`],
    /// [`Self::from_parquet`]), by its extension.
    pub fn from_file(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("parquet") => Self::from_parquet(path),
            Some("jsonl") | Some("json") => Self::from_jsonl(path),
            _ => anyhow::bail!(
                "{}: word problems must be a .jsonl or .parquet file with question and answer",
                path.display()
            ),
        }
    }

    /// Whether `name` names a word-problem file (ends in `.jsonl`, `.json` or `.parquet`) rather
    /// than a synthetic task.
    pub fn is_file_name(name: &str) -> bool {
        matches!(
            Path::new(name).extension().and_then(|e| e.to_str()),
            Some("jsonl" | "json" | "parquet")
        )
    }

    /// Loads a JSONL file of `{"question": string, "answer": string | number}` objects (blank
    /// lines skipped). The task is named after the file stem. Errors carry `file:line`.
    pub fn from_jsonl(path: &Path) -> Result<Self> {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| NAME.to_owned());
        let problems = load_jsonl(path, &name)?;
        Self::from_problems(&name, problems)
            .with_context(|| format!("{}: no problems", path.display()))
    }

    /// Loads a parquet file (read with polars) with string columns `question` and `answer` (a
    /// GSM8K answer ending in `#### N`, or a plain number) — the layout of GSM8K on the Hub.
    pub fn from_parquet(path: &Path) -> Result<Self> {
        use polars::prelude::*;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| NAME.to_owned());
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let df = ParquetReader::new(file)
            .finish()
            .map_err(|e| anyhow!("{} is not a readable parquet file: {e}", path.display()))?;
        let column = |col: &str| -> Result<Vec<Option<String>>> {
            let c = df.column(col).map_err(|_| {
                anyhow!(
                    "{} has no {col:?} column (columns: {:?}): word problems need question and answer",
                    path.display(),
                    df.get_column_names()
                )
            })?;
            let c = c.cast(&DataType::String)?;
            let ca = c.str()?;
            Ok((0..ca.len()).map(|i| ca.get(i).map(String::from)).collect())
        };
        let questions = column("question")?;
        let answers = column("answer")?;
        let pairs = questions
            .into_iter()
            .zip(answers)
            .enumerate()
            .map(|(i, (q, a))| match (q, a) {
                (Some(q), Some(a)) => Ok((q, a)),
                _ => Err(anyhow!(
                    "{}: row {i} has a missing question or answer",
                    path.display()
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_pairs(&name, pairs).with_context(|| format!("in {}", path.display()))
    }

    /// All problems, in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

fn make_problem(task: &str, question: String, answer: &str) -> Result<Problem> {
    let question = question.trim().to_owned();
    ensure!(!question.is_empty(), "empty question");
    let (number, rationale) = parse_gsm8k_answer(answer)
        .ok_or_else(|| anyhow!("answer {:?} has no final number", truncate(answer, 60)))?;
    Ok(Problem {
        id: problem_id(task, &question),
        question,
        answer: number,
        meta: ProblemMeta::WordProblem { rationale },
    })
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Reads GSM8K-style JSONL into problems named `task`.
pub fn load_jsonl(path: &Path, task: &str) -> Result<Vec<Problem>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let at = || format!("{}:{}", path.display(), i + 1);
        let line = line.with_context(|| format!("{}: reading line", at()))?;
        if line.trim().is_empty() {
            continue;
        }
        let problem = parse_line(&line, task).with_context(at)?;
        out.push(problem);
    }
    Ok(out)
}

fn parse_line(line: &str, task: &str) -> Result<Problem> {
    let value: serde_json::Value = serde_json::from_str(line).context("invalid JSON")?;
    let Some(obj) = value.as_object() else {
        bail!("expected a JSON object");
    };
    let question = match obj.get("question") {
        Some(serde_json::Value::String(q)) => q.clone(),
        Some(_) => bail!("field `question` must be a string"),
        None => bail!("missing field `question`"),
    };
    let answer = match obj.get("answer") {
        Some(serde_json::Value::String(a)) => a.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(_) => bail!("field `answer` must be a string or a number"),
        None => bail!("missing field `answer`"),
    };
    make_problem(task, question, &answer)
}

impl Task for WordProblemTask {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> Problem {
        let i = rng.random_range(0..self.problems.len().max(1));
        self.problems.get(i).cloned().unwrap_or_else(|| Problem {
            id: problem_id(&self.name, ""),
            question: String::new(),
            answer: "0".to_owned(),
            meta: ProblemMeta::WordProblem { rationale: None },
        })
    }

    fn verify(&self, problem: &Problem, answer: &str) -> bool {
        matches!(problem.meta, ProblemMeta::WordProblem { .. })
            && numbers_equal(answer, &problem.answer)
    }

    /// The dataset's rationale, one step per line; flawed variants are not modelled (`None`).
    fn worked_solution(
        &self,
        problem: &Problem,
        flaw: Flaw,
        _rng: &mut ChaCha8Rng,
    ) -> Option<WorkedSolution> {
        let ProblemMeta::WordProblem {
            rationale: Some(rationale),
        } = &problem.meta
        else {
            return None;
        };
        if flaw != Flaw::None {
            return None;
        }
        let steps = rationale
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| Step::new().text(l))
            .collect();
        Some(WorkedSolution {
            steps,
            answer: problem.answer.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::language::Lang;
    use rand::SeedableRng;

    const GSM: &str = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = \
<<48+24=72>>72 clips altogether in April and May.\n#### 72";

    #[test]
    fn parses_gsm8k_answers() {
        let (n, r) = parse_gsm8k_answer(GSM).unwrap();
        assert_eq!(n, "72");
        assert_eq!(
            r.unwrap(),
            "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in \
April and May."
        );
        assert_eq!(parse_gsm8k_answer("#### 1,000").unwrap().0, "1000");
        assert_eq!(parse_gsm8k_answer("18.0").unwrap(), ("18".to_owned(), None));
        assert!(parse_gsm8k_answer("about twelve").is_none());
        assert!(parse_gsm8k_answer("#### twelve").is_none());
        assert_eq!(strip_annotations("a <<unclosed"), "a <<unclosed");
    }

    #[test]
    fn verifies_numerically() {
        let task = WordProblemTask::from_pairs("gsm", [("How many?", "#### 1,234")]).unwrap();
        let p = task.sample(&mut ChaCha8Rng::seed_from_u64(0));
        for good in ["1234", "1,234", "$1,234", "1234.0", " 1234. "] {
            assert!(task.verify(&p, good), "{good}");
        }
        for bad in ["1235", "", "1234 apples", "12 34", "#### 1234"] {
            assert!(!task.verify(&p, bad), "{bad}");
        }
        assert!(WordProblemTask::from_pairs("gsm", Vec::<(String, String)>::new()).is_err());
        let err = WordProblemTask::from_pairs("gsm", [("q", "1"), ("q2", "none")]).unwrap_err();
        assert!(format!("{err:#}").contains("pair 1"), "{err:#}");
    }

    #[test]
    fn loads_jsonl_with_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("gsm8k_test.jsonl");
        let line = serde_json::json!({"question": "Natalia?", "answer": GSM}).to_string();
        fs::write(
            &good,
            format!("{line}\n\n{{\"question\": \"q\", \"answer\": 5}}\n"),
        )
        .unwrap();
        let task = WordProblemTask::from_jsonl(&good).unwrap();
        assert_eq!(task.name(), "gsm8k_test");
        assert_eq!(task.problems().len(), 2);
        assert_eq!(task.problems()[1].answer, "5");
        let p = &task.problems()[0];
        let w = task
            .worked_solution(p, Flaw::None, &mut ChaCha8Rng::seed_from_u64(0))
            .unwrap();
        assert_eq!(w.steps.len(), 2);
        assert!(w.render(Lang::A).ends_with("so the answer is 72."));
        assert!(task
            .worked_solution(p, Flaw::Slip, &mut ChaCha8Rng::seed_from_u64(0))
            .is_none());

        let cases = [
            ("{\"question\": \"q\"", "invalid JSON"),
            ("[1, 2]", "expected a JSON object"),
            ("{\"answer\": \"5\"}", "missing field `question`"),
            ("{\"question\": \"q\"}", "missing field `answer`"),
            (
                "{\"question\": 3, \"answer\": \"5\"}",
                "`question` must be a string",
            ),
            ("{\"question\": \"q\", \"answer\": [5]}", "`answer` must be"),
            (
                "{\"question\": \"q\", \"answer\": \"#### x\"}",
                "no final number",
            ),
        ];
        for (content, want) in cases {
            let path = dir.path().join("bad.jsonl");
            fs::write(&path, format!("{line}\n{content}\n")).unwrap();
            let err = format!("{:#}", WordProblemTask::from_jsonl(&path).unwrap_err());
            assert!(err.contains("bad.jsonl:2"), "{err}");
            assert!(err.contains(want), "{err}");
        }
        let empty = dir.path().join("empty.jsonl");
        fs::write(&empty, "\n").unwrap();
        assert!(WordProblemTask::from_jsonl(&empty).is_err());
    }

    #[test]
    fn loads_parquet_with_polars() {
        use polars::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gsm.parquet");
        let mut df = df!(
            "question" => ["Tom has 3 apples and buys 4 more. How many?", "What is 10 / 2?"],
            "answer" => ["3 + 4 = 7\n#### 7", "5"]
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let task = WordProblemTask::from_parquet(&path).unwrap();
        assert_eq!(task.problems().len(), 2);
        assert_eq!(task.problems()[0].answer, "7");
        assert!(task.problems()[1].verify("5.0"));
        let bad = dir.path().join("bad.parquet");
        let mut df = df!("q" => ["x"]).unwrap();
        ParquetWriter::new(std::fs::File::create(&bad).unwrap())
            .finish(&mut df)
            .unwrap();
        let err = WordProblemTask::from_parquet(&bad).unwrap_err().to_string();
        assert!(err.contains("question"), "{err}");
    }
}
