//! Reading a completion: everything the rewards and the evaluation take out of the text a model
//! generated after its prompt.
//!
//! The R1-Zero template (paper §2.2.1, Table 1) asks for "the reasoning process and answer …
//! enclosed within `<think> </think>` and `<answer> </answer>` tags". From a completion we read:
//!
//! * its **answer**: the text of its single `<answer>…</answer>` block ([`extract_answer`]), which
//!   the accuracy reward verifies, and the key answers vote by for cons@k ([`normalize_answer`]);
//! * its **chain of thought**: the `<think>` block ([`chain_of_thought`]);
//! * whether it keeps the template's **format** ([`check_format`]): the rule of the format reward
//!   (§2.2.2) and of the evaluation's format rate;
//! * whether the chain of thought **mixes languages** ([`language_mixing`]): the readability problem
//!   of R1-Zero (§2.2.4) that R1's language-consistency reward (§2.3.2) addresses;
//! * its **reflection**, the "aha moment" of §2.2.4 (Table 3): whether the chain of thought says
//!   "wait" ([`has_reflection`]), the answers it states on the way ([`stated_answers`]), and
//!   whether the check after "wait" revised an answer already given ([`revises_answer`]).
//!
//! [`crate::rewards`] turns these readings into rewards and [`crate::eval`] into metrics; this
//! module imports neither, so neither imports the other. Every function is pure and never panics.

use crate::tasks::language::{answer_phrase, count_words, reflection_marker, Lang};
use crate::tasks::normalize_number;

/// The text inside the single `<answer>…</answer>` of a completion, trimmed; `None` if there is
/// not exactly one `<answer>` and one `</answer>` in that order, or the answer is empty.
pub fn extract_answer(completion: &str) -> Option<String> {
    const OPEN: &str = "<answer>";
    const CLOSE: &str = "</answer>";
    if completion.matches(OPEN).count() != 1 || completion.matches(CLOSE).count() != 1 {
        return None;
    }
    let start = completion.find(OPEN)? + OPEN.len();
    let end = completion.find(CLOSE)?;
    let inner = completion.get(start..end)?.trim();
    (!inner.is_empty()).then(|| inner.to_owned())
}

/// The key answers are grouped by for voting: the canonical number if the answer is numeric
/// (see [`normalize_number`]), otherwise the lower-cased text without whitespace or a trailing
/// period, with `× ÷ −` mapped to `* / -` (so `(25+3)*2` and `(25 + 3) × 2` vote together).
pub fn normalize_answer(answer: &str) -> String {
    if let Some(n) = normalize_number(answer) {
        return n;
    }
    let t = answer.trim();
    let t = t.strip_suffix('.').unwrap_or(t);
    t.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '×' => '*',
            '÷' => '/',
            '−' => '-',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The chain of thought of a completion: the text up to the first `</think>` (or the end, for a
/// truncated completion), starting after the first `<think>` unless the prompt opened it. Empty if
/// the completion should open the think block and does not.
pub fn chain_of_thought(completion: &str, prompt_opens_think: bool) -> &str {
    let start = if prompt_opens_think {
        0
    } else {
        match completion.find("<think>") {
            Some(i) => i + "<think>".len(),
            None => return "",
        }
    };
    let rest = completion.get(start..).unwrap_or("");
    match rest.find("</think>") {
        Some(end) => rest.get(..end).unwrap_or(""),
        None => rest,
    }
}

/// Markers of the end-of-sequence token as a decoder may render it; they may trail a completion.
pub const DEFAULT_EOS_MARKERS: [&str; 3] = ["<|endoftext|>", "<|im_end|>", "</s>"];

/// The template's format: `Ok` if the completion is exactly one `<think>…</think>` followed by
/// exactly one `<answer>…</answer>`, with only whitespace before, between and after (plus any of
/// `eos_markers`, repeatedly, at the end), and no tag inside either block; else what is wrong.
///
/// The completion never includes the prompt. When the prompt itself ends with `<think>` (the
/// short template, [`crate::tasks::Template::prompt_opens_think`]), set `prompt_opens_think`: the
/// completion then starts *inside* the thinking block and must not open it again.
pub fn check_format<S: AsRef<str>>(
    completion: &str,
    prompt_opens_think: bool,
    eos_markers: &[S],
) -> Result<(), &'static str> {
    const TAGS: [&str; 4] = ["<think>", "</think>", "<answer>", "</answer>"];
    let has_tag = |s: &str| TAGS.iter().any(|t| s.contains(t));
    let mut rest = completion;
    loop {
        let trimmed = rest.trim_end();
        let stripped = eos_markers
            .iter()
            .map(S::as_ref)
            .filter(|m| !m.is_empty())
            .find_map(|m| trimmed.strip_suffix(m));
        match stripped {
            Some(s) => rest = s,
            None => {
                rest = trimmed;
                break;
            }
        }
    }
    if !prompt_opens_think {
        rest = rest
            .trim_start()
            .strip_prefix("<think>")
            .ok_or("does not start with <think>")?;
    }
    let (think, after) = rest.split_once("</think>").ok_or("no </think>")?;
    if has_tag(think) {
        return Err("tag inside the think block");
    }
    let after = after
        .trim_start()
        .strip_prefix("<answer>")
        .ok_or("</think> not followed by <answer>")?;
    let (answer, tail) = after.split_once("</answer>").ok_or("no </answer>")?;
    if has_tag(answer) {
        return Err("tag inside the answer block");
    }
    if !tail.is_empty() {
        return Err("text after </answer>");
    }
    Ok(())
}

/// Whether `text` (typically a chain of thought) contains words of both languages.
pub fn language_mixing(text: &str) -> bool {
    let counts = count_words(text);
    counts.a > 0 && counts.b > 0
}

/// Whether a chain of thought contains the reflection marker of either language as a word.
pub fn has_reflection(cot: &str) -> bool {
    first_marker(cot).is_some()
}

/// Byte offset of the first reflection marker of either language that stands as a word.
fn first_marker(cot: &str) -> Option<usize> {
    let markers = [reflection_marker(Lang::A), reflection_marker(Lang::B)];
    let mut start = None;
    for (i, c) in cot.char_indices().chain([(cot.len(), ' ')]) {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if markers.iter().any(|m| cot[s..i].eq_ignore_ascii_case(m)) {
                    return Some(s);
                }
                start = None;
            }
            _ => {}
        }
    }
    None
}

/// The answers a chain of thought states ("so the answer is 75." in either language), in order.
pub fn stated_answers(cot: &str) -> Vec<String> {
    let mut found: Vec<(usize, String)> = Vec::new();
    for lang in Lang::ALL {
        let phrase = answer_phrase(lang);
        for (at, _) in cot.match_indices(phrase) {
            let rest = &cot[at + phrase.len()..];
            if let Some(word) = rest.split_whitespace().next() {
                let value = word.trim_end_matches('.');
                if !value.is_empty() {
                    found.push((at, value.to_owned()));
                }
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, v)| v).collect()
}

/// Whether a completion states an answer before its first reflection marker and then, after
/// it, a different one that is also the answer it gives in `<answer>…</answer>`: the check after
/// "wait" revised an answer already given, rather than confirming it, correcting a step, or
/// being ignored (Table 3).
pub fn revises_answer(completion: &str) -> bool {
    let Some(marker) = first_marker(completion) else {
        return false;
    };
    let before = stated_answers(&completion[..marker]);
    let after = stated_answers(&completion[marker..]);
    match (before.last(), after.last(), extract_answer(completion)) {
        (Some(doubted), Some(last), Some(given)) => {
            doubted.trim() != last.trim() && last.trim() == given.trim()
        }
        _ => false,
    }
}

/// The form of a completion, after the problem documents of the pretraining corpus
/// ([`crate::corpus`]): how it reaches its answer, whatever the answer. R1-Zero's rising length
/// and reflection are the share of these forms moving: direct answers give way to answers
/// checked by working (`reports/LOG.md`), so a chart of the shares over training
/// ([`crate::inspect`]) explains both curves at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum CompletionForm {
    /// An empty chain of thought and an answer block: "Q: … A: 433", the corpus's direct
    /// answer in the template's form (` </think> <answer> 433 </answer>`).
    Direct,
    /// Working (at least one equation, "4 + 1 = 5") that does not first state an answer: the
    /// corpus's step-by-step derivation, its slip, and its self-correction (a step checked after
    /// the reflection marker: "wait, check: 8 + 9 = 17, not 16.").
    Derivation,
    /// An answer stated, then the reflection marker, then working: the corpus's checked guess,
    /// "so the answer is 75. wait, check: 51 + 34: column 1: … so the answer is 85.".
    GuessThenCheck,
    /// Anything else: an answer stated without working, a marker without working after it, an
    /// empty completion, text no document has.
    Other,
}

impl CompletionForm {
    /// Every form, in the order the charts stack them.
    pub const ALL: [CompletionForm; 4] = [
        CompletionForm::Direct,
        CompletionForm::Derivation,
        CompletionForm::GuessThenCheck,
        CompletionForm::Other,
    ];

    /// The form's name in charts and tables.
    pub fn label(self) -> &'static str {
        match self {
            CompletionForm::Direct => "direct answer",
            CompletionForm::Derivation => "derivation",
            CompletionForm::GuessThenCheck => "guess, then check",
            CompletionForm::Other => "other",
        }
    }
}

/// The [`CompletionForm`] of `completion`, read from its chain of thought ([`chain_of_thought`];
/// set `prompt_opens_think` when the prompt ends with `<think>`, as the short template's does).
/// A truncated completion is classified by what it wrote.
pub fn completion_form(completion: &str, prompt_opens_think: bool) -> CompletionForm {
    let cot = chain_of_thought(completion, prompt_opens_think);
    let works = |text: &str| text.contains('=');
    if cot.trim().is_empty() {
        // Working written outside the think block (it was never opened) is no direct answer.
        let before_answer = completion.split("<answer>").next().unwrap_or("");
        return if extract_answer(completion).is_some() && !works(before_answer) {
            CompletionForm::Direct
        } else {
            CompletionForm::Other
        };
    }
    if let Some(marker) = first_marker(cot) {
        if !stated_answers(&cot[..marker]).is_empty() && works(&cot[marker..]) {
            return CompletionForm::GuessThenCheck;
        }
    }
    if works(cot) {
        CompletionForm::Derivation
    } else {
        CompletionForm::Other
    }
}

/// Texts built to break a completion reader: tags cut in half, repeated or nested, control and
/// right-to-left characters, numbers past every integer type, deep parentheses, and `random`
/// strings of up to 39 such fragments drawn from `rng`.
#[cfg(test)]
pub(crate) fn adversarial_completions(
    rng: &mut rand_chacha::ChaCha8Rng,
    random: usize,
) -> Vec<String> {
    use rand::Rng;
    let huge = format!("1{}", "0".repeat(400));
    let fragments: Vec<String> = [
        "<think>",
        "</think>",
        "<answer>",
        "</answer>",
        "<answ",
        "er>",
        "<",
        ">",
        "/",
        "(",
        ")",
        "+",
        "-",
        "*",
        "×",
        "÷",
        "−",
        "=",
        "$",
        ",",
        ".",
        "#### ",
        " ",
        "\n",
        "\t",
        "\0",
        "\u{1b}[31m",
        "\u{7f}",
        "\u{202e}",
        "é",
        "中文",
        "🙂",
        "\u{feff}",
        "wait",
        "hok",
        "column",
        "vek",
        "so the answer is",
        "433",
        "56",
        "25",
        "3",
        "2",
        "0",
        "-7",
        "9223372036854775807",
        "18446744073709551616",
        "<|endoftext|>",
        "</s>",
        "\u{fffd}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([
        huge.clone(),
        format!("-{huge}.000"),
        "(".repeat(200),
        "9".repeat(5000),
    ])
    .collect();
    let mut texts: Vec<String> = vec![
        String::new(),
        "<think>".into(),
        "<answer>".into(),
        "</answer><answer>".into(),
        "<think><think></think></think><answer><answer>1</answer></answer>".into(),
        format!("<think></think><answer>{huge}</answer>"),
        format!("<answer>{}</answer>", "(".repeat(10_000)),
        format!("<answer>{}1{}</answer>", "(".repeat(31), ")".repeat(31)),
        "<answer>9223372036854775807 * 2</answer>".into(),
        "<answer>25 / 0 + 3 - 2</answer>".into(),
        "<answer>(25 + 3) * 2 = 56 = 56</answer>".into(),
        "<answer>$-,.</answer>".into(),
        "<answer>\u{0}</answer>".into(),
    ];
    for _ in 0..random {
        let n = rng.random_range(0..40);
        let text: String = (0..n)
            .map(|_| fragments[rng.random_range(0..fragments.len())].as_str())
            .collect();
        texts.push(text);
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn extract_answer_requires_a_single_block() {
        assert_eq!(
            extract_answer("<think> x </think> <answer> 42 </answer>").as_deref(),
            Some("42")
        );
        assert_eq!(
            extract_answer("<answer>42</answer><answer>43</answer>"),
            None
        );
        assert_eq!(extract_answer("<answer>42"), None);
        assert_eq!(extract_answer("</answer>42<answer>"), None);
        assert_eq!(extract_answer("<answer>  </answer>"), None);
        assert_eq!(extract_answer(""), None);
        assert_eq!(extract_answer("no tags 42"), None);
    }

    #[test]
    fn chain_of_thought_is_the_think_block() {
        assert_eq!(chain_of_thought("a </think> b", true), "a ");
        assert_eq!(chain_of_thought("x <think> a </think> b", false), " a ");
    }

    #[test]
    fn format_accepts_exactly_the_template_structure() {
        let opened = false;
        let prefilled = true;
        let ok = |prompt_opens_think: bool, t: &str| {
            check_format(t, prompt_opens_think, &DEFAULT_EOS_MARKERS).is_ok()
        };
        assert!(ok(opened, "<think> a </think> <answer> 1 </answer>"));
        assert!(ok(
            opened,
            "\n<think>a</think>\n<answer>1</answer>\n<|endoftext|>"
        ));
        assert!(ok(opened, "<think></think><answer></answer>"));
        assert!(!ok(opened, " a </think> <answer> 1 </answer>"));
        assert!(!ok(opened, "<think> a </think> <answer> 1 </answer> more"));
        assert!(!ok(opened, "<think> a </think> b <answer> 1 </answer>"));
        assert!(!ok(
            opened,
            "<think> a <think> b </think> <answer> 1 </answer>"
        ));
        assert!(!ok(
            opened,
            "<think> a </think> <answer> 1 </answer><answer>2</answer>"
        ));
        assert!(!ok(
            opened,
            "<think> a </think> <answer> 1 </think> </answer>"
        ));
        assert!(!ok(opened, "<think> a </think>"));
        assert!(!ok(opened, "<answer> 1 </answer>"));
        assert!(!ok(opened, ""));
        assert!(ok(prefilled, " a </think> <answer> 1 </answer></s></s>"));
        assert!(!ok(prefilled, "<think> a </think> <answer> 1 </answer>"));
        assert!(!ok(prefilled, "a </think> <answer> 1 </answer> </think>"));
    }

    #[test]
    fn language_mixing_detection() {
        assert!(language_mixing("column 1: 3 + 4 = 7, dul 7."));
        assert!(!language_mixing(
            "column 1: 3 + 4 = 7, write 7. so the answer is 7."
        ));
        assert!(!language_mixing(
            "vek 1: 3 + 4 = 7, dul 7. <answer> 7 </answer>"
        ));
        assert!(!language_mixing(""));
    }

    #[test]
    fn revised_answers_are_told_from_confirmed_ones_and_corrected_steps() {
        let revised = " so the answer is 940. wait, check: part 1: 14 * 7 = 98. so the answer \
                       is 938. </think> <answer> 938 </answer>";
        assert_eq!(stated_answers(revised), ["940", "938"]);
        assert!(revises_answer(revised));
        // The revision ignored: the answer given is the doubted one.
        let ignored = revised.replace("<answer> 938", "<answer> 940");
        assert!(!revises_answer(&ignored));
        // Several answers before the marker: the one it doubts is the last of them.
        let two = " so the answer is 938. so the answer is 940. wait, check: … so the answer is \
                   938. </think> <answer> 938 </answer>";
        assert!(revises_answer(two));
        // In language B, and with the marker as part of a longer word elsewhere.
        let b = " ka ul quen zim 12. hok, pru: vek 1: 5 + 8 = 13, dul 13. ka ul quen zim 13. \
                 </think> <answer> 13 </answer>";
        assert!(revises_answer(b));
        let confirmed =
            " so the answer is 13. wait, check: column 1: 5 + 8 = 13. so the answer is \
                         13. </think> <answer> 13 </answer>";
        assert!(!revises_answer(confirmed));
        // A step corrected after the marker, with no answer stated before it.
        let step = " column 1: 5 + 8 = 12. wait, check: 5 + 8 = 13, not 12. so the answer is 13. \
                    </think> <answer> 13 </answer>";
        assert!(!revises_answer(step));
        // An answer before the marker and none after: nothing revised.
        assert!(!revises_answer(" so the answer is 12. wait"));
        assert!(!revises_answer(
            " so the answer is 12. awaits so the answer is 13. </think> <answer> 13 </answer>"
        ));
        assert!(stated_answers("no answer here").is_empty());
    }

    /// Every reader on thousands of random and adversarial completions: no panic.
    #[test]
    fn readers_never_panic_on_adversarial_input() {
        let mut rng = ChaCha8Rng::seed_from_u64(0xF022);
        for text in &adversarial_completions(&mut rng, 5000) {
            let _ = extract_answer(text);
            let _ = normalize_answer(text);
            for prompt_opens_think in [false, true] {
                let cot = chain_of_thought(text, prompt_opens_think);
                let _ = language_mixing(cot);
                let _ = has_reflection(cot);
                let _ = check_format(text, prompt_opens_think, &DEFAULT_EOS_MARKERS);
            }
            let _ = language_mixing(text);
            let _ = stated_answers(text);
            let _ = revises_answer(text);
            let _ = completion_form(text, true);
            let _ = completion_form(text, false);
        }
    }

    #[test]
    fn completion_forms_follow_the_corpus_documents() {
        use CompletionForm::*;
        let form = |c: &str| completion_form(c, true);
        assert_eq!(form(" </think> <answer> 1780 </answer>"), Direct);
        // The paper's template opens the think block in the completion.
        assert_eq!(
            completion_form("<think> </think> <answer> 12 </answer>", false),
            Direct
        );
        // A derivation, and a self-correction: a step checked after "wait", no answer before it.
        assert_eq!(
            form(
                " column 1: 4 + 1 = 5, write 5. so the answer is 5. </think> <answer> 5 </answer>"
            ),
            Derivation
        );
        assert_eq!(
            form(" column 1: 0 + 8 = 8, write 8. wait, check: 0 + 8 = 9, not 8. column 1: 0 + 8 = 8, write 8. so the answer is 8. </think> <answer> 8 </answer>"),
            Derivation
        );
        // A checked guess, in either language, truncated or not.
        assert_eq!(
            form(" so the answer is 11. wait, check: 9 + 1: column 1: 9 + 1 = 10, write 10. so the answer is 10. </think> <answer> 10 </answer>"),
            GuessThenCheck
        );
        assert_eq!(
            form(" ka ul quen zim 4. hok, pru: 5 + 1: vek 1: 5 + 1 = 6, dul 6. ka ul quen zim 6."),
            GuessThenCheck
        );
        // A guess with no working after the marker, an answer without working, nothing at all.
        assert_eq!(
            form(" so the answer is 11. wait, so the answer is 10. </think> <answer> 10 </answer>"),
            Other
        );
        assert_eq!(
            form(" so the answer is 7. </think> <answer> 7 </answer>"),
            Other
        );
        assert_eq!(form(""), Other);
        assert_eq!(form(" </think>"), Other);
        // The paper's template without <think> has no chain of thought to read.
        assert_eq!(
            completion_form(" column 1: 4 + 1 = 5. </think> <answer> 5 </answer>", false),
            Other
        );
        assert_eq!(CompletionForm::ALL.len(), 4);
        assert_eq!(GuessThenCheck.label(), "guess, then check");
    }
}
