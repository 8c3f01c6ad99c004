//! The rollout viewer: the groups of a few prompts at steps 0, 25, 50, …, each completion with
//! its reward and its advantage, coloured green (pushed up) or red (pushed down) by the
//! advantage's sign, deeper the larger it is — so the aha moment is *read*, completion by
//! completion, instead of inferred from a rate.
//!
//! Which prompts: the trainer draws fresh training questions every step, so no question recurs;
//! the viewer shows the first `prompts` groups of each shown step (the step's first questions,
//! with all G of their completions, as the update saw them), read from `samples.jsonl`, which
//! holds every completion of every step. Nothing is sampled again: what is shown is what trained
//! the model. The advantages are the ones the trainer recorded; a run written before they were
//! recorded gets them recomputed from the rewards with the run's scaling, and the view says so.

use crate::completion::{completion_form, CompletionForm};
use crate::grpo::advantage::{group_advantages, Scale};
use crate::grpo::SampleRecord;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// What to show.
#[derive(Debug, Clone)]
pub struct ViewOptions {
    /// Show steps 0, `every`, 2·`every`, … and the last one.
    pub every: usize,
    /// Groups (questions) per shown step.
    pub prompts: usize,
    /// The run's template opens `<think>` in the prompt (for the completions' forms).
    pub prompt_opens_think: bool,
    /// The run's advantage scaling, for runs whose samples hold no advantages.
    pub scale: Scale,
    /// Show a step's first groups whose rewards differ (the ones the update learns from) before
    /// its first groups whose rewards are all alike; false: the step's first groups, whatever
    /// they hold. Either way the heading says how many of the step's groups had no signal.
    pub signal_first: bool,
}

impl Default for ViewOptions {
    fn default() -> Self {
        Self {
            every: 25,
            prompts: 2,
            prompt_opens_think: true,
            scale: Scale::Group,
            signal_first: true,
        }
    }
}

/// One completion as shown.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ViewedCompletion {
    pub text: String,
    pub reward: f64,
    pub advantage: f64,
    pub correct: bool,
    pub form: CompletionForm,
    pub num_tokens: usize,
}

/// The G completions of one question at one step.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ViewedGroup {
    pub step: usize,
    pub problem_id: String,
    pub question: String,
    /// Groups sampled at this step, and how many of them had rewards all alike (no signal).
    pub groups_in_step: usize,
    pub flat_groups_in_step: usize,
    pub completions: Vec<ViewedCompletion>,
}

impl ViewedGroup {
    /// Whether the rewards differ: the group's advantages are not all zero.
    pub fn has_signal(&self) -> bool {
        let c = &self.completions;
        c.iter().any(|x| x.reward != c[0].reward)
    }
}

/// The groups shown, step by step; `evcxr_display` renders it in a notebook.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RolloutView {
    pub title: String,
    /// The advantages were recomputed from the rewards (the samples predate recorded ones).
    pub recomputed: bool,
    /// Groups with a signal were shown before groups without ([`ViewOptions::signal_first`]).
    pub signal_first: bool,
    pub groups: Vec<ViewedGroup>,
}

/// The consecutive records of one (step, question): one group, in file order.
fn groups(samples: &[SampleRecord]) -> Vec<&[SampleRecord]> {
    samples
        .chunk_by(|a, b| a.step == b.step && a.problem_id == b.problem_id)
        .collect()
}

/// Each record's advantage: the recorded one, or (when a record of its step lacks one) the
/// step's recomputed with `scale` over its groups.
fn advantages(step_groups: &[&[SampleRecord]], scale: Scale) -> (Vec<f64>, bool) {
    let records = step_groups.iter().flat_map(|g| g.iter());
    let recorded: Option<Vec<f64>> = records.map(|s| s.advantage).collect();
    if let Some(a) = recorded {
        return (a, false);
    }
    let g = step_groups.first().map_or(1, |g| g.len());
    let rewards: Vec<f64> = step_groups
        .iter()
        .flat_map(|g| g.iter().map(|s| s.reward))
        .collect();
    let whole = (step_groups.iter().all(|x| x.len() == g))
        .then(|| group_advantages(&rewards, g, scale).ok())
        .flatten();
    let a = whole.unwrap_or_else(|| {
        (step_groups.iter())
            .flat_map(|grp| {
                let r: Vec<f64> = grp.iter().map(|s| s.reward).collect();
                group_advantages(&r, r.len(), scale).unwrap_or_else(|_| vec![0.0; r.len()])
            })
            .collect()
    });
    (a, true)
}

/// The view of `samples` (a run's `samples.jsonl`) under `opts`.
pub fn rollout_view(samples: &[SampleRecord], opts: &ViewOptions, title: &str) -> RolloutView {
    let all = groups(samples);
    let last = samples.iter().map(|s| s.step).max().unwrap_or(0);
    let every = opts.every.max(1);
    let mut view = RolloutView {
        title: title.into(),
        recomputed: false,
        signal_first: opts.signal_first,
        groups: vec![],
    };
    for step_groups in all.chunk_by(|a, b| a[0].step == b[0].step) {
        let step = step_groups[0][0].step;
        if step % every != 0 && step != last {
            continue;
        }
        let (adv, recomputed) = advantages(step_groups, opts.scale);
        view.recomputed |= recomputed;
        let mut rest = adv.as_slice();
        let mut viewed: Vec<ViewedGroup> = step_groups
            .iter()
            .map(|grp| {
                let (a, r) = rest.split_at(grp.len().min(rest.len()));
                rest = r;
                viewed_group(grp, a, opts.prompt_opens_think)
            })
            .collect();
        let flat = viewed.iter().filter(|g| !g.has_signal()).count();
        if opts.signal_first {
            // Stable: groups with a signal first, each kind in the step's order.
            viewed.sort_by_key(|g| !g.has_signal());
        }
        for mut g in viewed.into_iter().take(opts.prompts) {
            g.flat_groups_in_step = flat;
            g.groups_in_step = step_groups.len();
            view.groups.push(g);
        }
    }
    view
}

/// One group of records with their advantages `adv`, as shown.
fn viewed_group(grp: &[SampleRecord], adv: &[f64], prompt_opens_think: bool) -> ViewedGroup {
    ViewedGroup {
        step: grp[0].step,
        problem_id: grp[0].problem_id.clone(),
        question: grp[0].question.clone(),
        groups_in_step: 0,
        flat_groups_in_step: 0,
        completions: grp
            .iter()
            .enumerate()
            .map(|(i, s)| ViewedCompletion {
                text: s.completion.clone(),
                reward: s.reward,
                advantage: adv.get(i).copied().unwrap_or(0.0),
                correct: s.correct,
                form: completion_form(&s.completion, prompt_opens_think),
                num_tokens: s.num_tokens,
            })
            .collect(),
    }
}

/// Text made safe inside HTML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The row colour of an advantage: green above 0, red below, deeper up to |A| = 2; grey at 0.
pub fn advantage_colour(advantage: f64) -> String {
    let depth = 0.15 + 0.55 * (advantage.abs() / 2.0).min(1.0);
    if advantage.abs() < 1e-9 || !advantage.is_finite() {
        "#eeeeee".into()
    } else if advantage > 0.0 {
        format!("rgba(46,160,67,{depth:.2})")
    } else {
        format!("rgba(215,58,73,{depth:.2})")
    }
}

impl RolloutView {
    /// The view as an HTML fragment with inline styles only (no script, no external file).
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        let which = match self.signal_first {
            true => {
                "the first of each shown step's groups whose rewards differ (the ones the \
                     update learns from), then, if too few, its first groups without"
            }
            false => "the first of each shown step's batch",
        };
        let recomputed = match self.recomputed {
            true => {
                " Advantages recomputed from the rewards: this run's samples.jsonl predates \
                     recorded advantages."
            }
            false => "",
        };
        let _ = write!(
            h,
            "<div style=\"font-family:sans-serif;font-size:13px\"><h3>{}</h3><p>Each row is one \
             completion of the group, as the update saw it: its advantage (green: made more \
             likely, red: less; deeper for larger |A|, grey: 0, no signal), its reward, whether \
             its answer is right, its form and its length. The questions are {which}: the \
             trainer draws fresh questions every step, so none recurs.{recomputed}</p>",
            escape(&self.title),
        );
        for g in &self.groups {
            group_html(&mut h, g);
        }
        h.push_str("</div>");
        h
    }

    /// Writes the view as a standalone HTML page (`fig_r1zero_rollouts.html`).
    pub fn save(&self, path: &Path) -> Result<()> {
        let page = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n{}\n</body></html>\n",
            escape(&self.title),
            self.to_html()
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        crate::checkpoint::atomic_write(path, page.as_bytes())
    }

    /// Renders the view inline in an evcxr notebook.
    pub fn evcxr_display(&self) {
        println!(
            "EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT",
            self.to_html()
        );
    }
}

/// One group: its heading (step, question, mean reward) and a row per completion.
fn group_html(h: &mut String, g: &ViewedGroup) {
    let n = g.completions.len().max(1) as f64;
    let mean = g.completions.iter().map(|c| c.reward).sum::<f64>() / n;
    let _ = write!(
        h,
        "<h4 style=\"margin:14px 0 4px\">step {} · {} <span style=\"font-weight:normal\">\
         ({}; mean reward {mean:.2}{}; {} of the step's {} groups had no signal)</span></h4>\
         <table style=\"border-collapse:collapse;width:100%\"><tr style=\"text-align:left\">\
         <th>advantage</th><th>reward</th><th>right</th><th>form</th><th>tokens</th>\
         <th>completion</th></tr>",
        g.step,
        escape(&g.question),
        escape(&g.problem_id),
        if g.has_signal() {
            ""
        } else {
            "; all alike: no signal"
        },
        g.flat_groups_in_step,
        g.groups_in_step,
    );
    for c in &g.completions {
        let _ = write!(
            h,
            "<tr style=\"background:{}\"><td style=\"padding:2px 6px\"><b>{:+.2}</b></td>\
             <td style=\"padding:2px 6px\">{:.2}</td><td style=\"padding:2px 6px\">{}</td>\
             <td style=\"padding:2px 6px;white-space:nowrap\">{}</td>\
             <td style=\"padding:2px 6px\">{}</td><td style=\"padding:2px 6px\">\
             <code style=\"white-space:pre-wrap\">{}</code></td></tr>",
            advantage_colour(c.advantage),
            c.advantage,
            c.reward,
            if c.correct { "✓" } else { "✗" },
            c.form.label(),
            c.num_tokens,
            escape(&c.text)
        );
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::test_record as record;

    fn step_samples(step: usize, recorded: bool) -> Vec<SampleRecord> {
        let direct = " </think> <answer> 9 </answer>";
        let checked = " so the answer is 9. wait, check: 9 + 1: column 1: 9 + 1 = 10, write 10. so the answer is 10. </think> <answer> 10 </answer>";
        let mut out = vec![];
        for q in 0..3 {
            for (text, reward) in [(direct, 1.0), (checked, 2.0), (direct, 1.0), (checked, 2.0)] {
                let mut r = record(step, text, if q == 2 { 2.0 } else { reward });
                r.problem_id = format!("s{step}q{q}");
                r.advantage = recorded.then_some(if q == 2 { 0.0 } else { (reward - 1.5) * 1.7 });
                out.push(r);
            }
        }
        out
    }

    #[test]
    fn the_view_shows_the_first_groups_of_every_shown_step_with_their_advantages() {
        let samples: Vec<SampleRecord> = (0..5).flat_map(|s| step_samples(s, true)).collect();
        let opts = ViewOptions {
            every: 2,
            prompts: 2,
            ..Default::default()
        };
        let view = rollout_view(&samples, &opts, "R1-Zero <rollouts>");
        // With the signal first, groups 0 and 1 (group 2's rewards are all alike).
        assert!(view.groups.iter().all(|g| g.has_signal()));
        assert!(view
            .groups
            .iter()
            .all(|g| (g.groups_in_step, g.flat_groups_in_step) == (3, 1)));
        // Steps 0, 2 and 4 (the last), two groups each.
        let steps: Vec<usize> = view.groups.iter().map(|g| g.step).collect();
        assert_eq!(steps, vec![0, 0, 2, 2, 4, 4]);
        assert!(!view.recomputed);
        let g = &view.groups[1];
        assert_eq!(g.problem_id, "s0q1");
        assert_eq!(g.completions.len(), 4);
        assert_eq!(g.completions[1].advantage, 0.5 * 1.7);
        assert_eq!(g.completions[1].form, CompletionForm::GuessThenCheck);
        assert_eq!(g.completions[0].form, CompletionForm::Direct);
        let html = view.to_html();
        assert!(
            html.contains("R1-Zero &lt;rollouts&gt;"),
            "the title is escaped"
        );
        assert!(html.contains("<b>+0.85</b>") && html.contains("<b>-0.85</b>"));
        assert!(html.contains("<td style=\"padding:2px 6px\">2.00</td>"));
        assert!(html.contains(&advantage_colour(0.85)) && html.contains(&advantage_colour(-0.85)));
        assert!(html.contains("&lt;/think&gt; &lt;answer&gt; 9"));
        assert!(!html.contains("predates"));
        // A step whose first group is flat: shown only when the signal does not come first.
        let mut flat_first = step_samples(0, true);
        flat_first.rotate_right(4);
        let one = |signal_first| {
            let o = ViewOptions {
                prompts: 1,
                signal_first,
                ..Default::default()
            };
            rollout_view(&flat_first, &o, "t").groups[0]
                .problem_id
                .clone()
        };
        assert_eq!((one(true).as_str(), one(false).as_str()), ("s0q0", "s0q2"));
        assert_eq!(advantage_colour(0.0), "#eeeeee");
        assert!(advantage_colour(3.0).starts_with("rgba(46,160,67,0.70"));
        assert!(advantage_colour(-0.5).starts_with("rgba(215,58,73,"));
    }

    #[test]
    fn old_samples_get_their_advantages_recomputed_and_the_page_is_written() {
        let samples: Vec<SampleRecord> = (0..2).flat_map(|s| step_samples(s, false)).collect();
        let opts = ViewOptions {
            prompts: 3,
            signal_first: false,
            ..Default::default()
        };
        let view = rollout_view(&samples, &opts, "old run");
        assert!(view.recomputed);
        // Rewards 1, 2, 1, 2: mean 1.5, unbiased std 0.57735 (+1e-4).
        let want = 0.5 / ((1.0f64 / 3.0).sqrt() + crate::grpo::advantage::STD_EPS);
        let a = &view.groups[0].completions;
        assert!((a[1].advantage - want).abs() < 1e-12 && (a[0].advantage + want).abs() < 1e-12);
        // The third group's rewards are all alike: zero advantages, said in its heading.
        assert!(view.groups[2]
            .completions
            .iter()
            .all(|c| c.advantage == 0.0));
        let html = view.to_html();
        assert!(html.contains("predates") && html.contains("all alike: no signal"));
        assert!(html.contains("1 of the step's 3 groups had no signal"));
        assert!(html.contains("the first of each shown step's batch"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reports/fig_rollouts.html");
        view.save(&path).unwrap();
        let page = std::fs::read_to_string(&path).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>") && page.contains(&html));
    }
}
