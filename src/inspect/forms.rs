//! The forms of the training completions over RL steps ([`CompletionForm`]): the share of direct
//! answers, derivations, checked guesses and other text in each step's rollouts, read from
//! `samples.jsonl`. In the shipped R1-Zero run the direct answers give way to checked guesses:
//! that one shift is why the responses grow longer (Figure 3) and why "wait" becomes common
//! (Table 3).

use super::chart::StackedChart;
use crate::completion::{completion_form, CompletionForm};
use crate::grpo::SampleRecord;
use std::collections::BTreeMap;

/// The share of each form among one step's completions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FormShares {
    pub step: usize,
    /// Completions sampled at this step.
    pub completions: usize,
    /// Shares in the order of [`CompletionForm::ALL`]; they sum to 1.
    pub shares: [f64; 4],
}

impl FormShares {
    /// The share of `form`.
    pub fn share(&self, form: CompletionForm) -> f64 {
        let i = CompletionForm::ALL.iter().position(|f| *f == form);
        i.map_or(0.0, |i| self.shares[i])
    }
}

/// The form shares of every step of `samples`, in step order (`prompt_opens_think`: the run's
/// template, [`crate::tasks::Template::prompt_opens_think`]).
pub fn form_shares(samples: &[SampleRecord], prompt_opens_think: bool) -> Vec<FormShares> {
    let mut counts: BTreeMap<usize, [usize; 4]> = BTreeMap::new();
    for s in samples {
        let form = completion_form(&s.completion, prompt_opens_think);
        let i = CompletionForm::ALL.iter().position(|f| *f == form);
        counts.entry(s.step).or_default()[i.unwrap_or(3)] += 1;
    }
    counts
        .into_iter()
        .map(|(step, c)| {
            let n = c.iter().sum::<usize>();
            FormShares {
                step,
                completions: n,
                shares: c.map(|k| k as f64 / n.max(1) as f64),
            }
        })
        .collect()
}

/// `shares` as CSV: `step,completions,` then one column per form (the numbers behind the
/// chart, unsmoothed).
pub fn shares_csv(shares: &[FormShares]) -> String {
    let mut csv = String::from("step,completions,direct,derivation,guess_then_check,other\n");
    for s in shares {
        let cells: Vec<String> = s.shares.iter().map(|v| format!("{v}")).collect();
        csv.push_str(&format!(
            "{},{},{}\n",
            s.step,
            s.completions,
            cells.join(",")
        ));
    }
    csv
}

/// The stacked chart of `shares`, each averaged over the last `window` steps (fewer at the
/// start; 1: no smoothing) so that 64 completions a step do not make the bands jitter.
pub fn forms_chart(shares: &[FormShares], window: usize, title: &str) -> StackedChart {
    let w = window.max(1);
    let smoothed = |form: usize| -> Vec<f64> {
        (0..shares.len())
            .map(|i| {
                let win = &shares[i.saturating_sub(w - 1)..=i];
                win.iter().map(|s| s.shares[form]).sum::<f64>() / win.len() as f64
            })
            .collect()
    };
    StackedChart {
        title: match w {
            1 => title.to_string(),
            _ => format!("{title} ({w}-step moving average)"),
        },
        x_label: "RL step (the rollouts of the step)".into(),
        y_label: "share of the step's completions".into(),
        x: shares.iter().map(|s| s.step as f64).collect(),
        layers: CompletionForm::ALL
            .iter()
            .enumerate()
            .map(|(i, f)| (f.label().to_string(), smoothed(i)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::inspect::test_record as record;

    #[test]
    fn shares_count_each_steps_forms() {
        let direct = " </think> <answer> 10 </answer>";
        let checked = " so the answer is 11. wait, check: 9 + 1: column 1: 9 + 1 = 10, write 10. so the answer is 10. </think> <answer> 10 </answer>";
        let samples = vec![
            record(0, direct, 2.0),
            record(0, direct, 1.0),
            record(0, direct, 1.0),
            record(0, checked, 2.0),
            record(1, checked, 2.0),
            record(1, "garbage", 0.0),
        ];
        let shares = form_shares(&samples, true);
        assert_eq!(shares.len(), 2);
        assert_eq!(shares[0].shares, [0.75, 0.0, 0.25, 0.0]);
        assert_eq!(shares[1].completions, 2);
        assert_eq!(shares[1].share(CompletionForm::GuessThenCheck), 0.5);
        assert_eq!(shares[1].share(CompletionForm::Other), 0.5);
        assert_eq!(
            shares_csv(&shares),
            "step,completions,direct,derivation,guess_then_check,other\n0,4,0.75,0,0.25,0\n1,2,0,0,0.5,0.5\n"
        );
        let chart = forms_chart(&shares, 2, "forms");
        // Step 1 averages steps 0 and 1: direct (0.75 + 0) / 2.
        assert_eq!(chart.layers[0].1, vec![0.75, 0.375]);
        assert_eq!(chart.layers[2].1, vec![0.25, 0.375]);
        assert_eq!(chart.x, vec![0.0, 1.0]);
        assert!(chart.title.contains("2-step"));
    }
}
