//! Two "languages" for the same reasoning steps.
//!
//! DeepSeek-R1-Zero's chains of thought drift into *language mixing* (paper §2.2.4 "Drawback of
//! DeepSeek-R1-Zero": poor readability and language mixing), and DeepSeek-R1 counters it with a
//! *language-consistency reward* during reasoning-oriented RL (§2.3.2): "the proportion of target
//! language words in the CoT". To reproduce that on synthetic tasks we need two languages whose
//! words can be told apart mechanically, with no tokeniser or language-identification model:
//!
//! * [`Lang::A`] uses plain English words ("column", "write", "carry", "so the answer is", "wait").
//! * [`Lang::B`] is a made-up language whose words share **no word** with A ("vek", "dul", "mif",
//!   "ka ul quen zim", "hok").
//!
//! Every reasoning step the worked solutions use is a [`Phrase`]; the phrasebook gives its text in
//! both languages, so one structured solution can be rendered purely in A, purely in B, or mixed
//! step by step. Numbers, operators and punctuation belong to neither language.
//!
//! The reflection marker — the "aha moment" word of §2.2.4 — is "wait" in A and "hok" in B
//! ([`Phrase::Wait`], [`reflection_marker`]).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::LazyLock;

/// One of the two languages of the synthetic reasoning text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Lang {
    /// English phrasebook: the "target" language of the language-consistency reward by default.
    A,
    /// A made-up language with a vocabulary disjoint from A.
    B,
}

impl Lang {
    /// Both languages, in a fixed order.
    pub const ALL: [Lang; 2] = [Lang::A, Lang::B];

    /// The other language.
    pub fn other(self) -> Lang {
        match self {
            Lang::A => Lang::B,
            Lang::B => Lang::A,
        }
    }
}

/// The kinds of wording a worked solution uses. Each has one fixed text per language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phrase {
    /// Introduces one column of a column addition ("column 2: 4 + 8 + 1 = 13").
    Column,
    /// "write 3": the digit written below the column.
    Write,
    /// "carry 1": the carry into the next column.
    Carry,
    /// One partial product of a long multiplication ("part 2: 347 * 80 = 27760").
    Part,
    /// Summing the partial products.
    AddParts,
    /// One operation of a countdown solution ("step 1: 25 + 3 = 28").
    Step,
    /// Announces the final answer.
    AnswerIs,
    /// The reflection marker that starts a self-correction.
    Wait,
    /// "check": recomputes a step.
    Check,
    /// "not": contrasts the recomputed value with the wrong one.
    Not,
}

impl Phrase {
    /// Every phrase, in a fixed order.
    pub const ALL: [Phrase; 10] = [
        Phrase::Column,
        Phrase::Write,
        Phrase::Carry,
        Phrase::Part,
        Phrase::AddParts,
        Phrase::Step,
        Phrase::AnswerIs,
        Phrase::Wait,
        Phrase::Check,
        Phrase::Not,
    ];

    /// The phrase's text in `lang` (lower-case words separated by single spaces).
    pub fn text(self, lang: Lang) -> &'static str {
        let (a, b) = match self {
            Phrase::Column => ("column", "vek"),
            Phrase::Write => ("write", "dul"),
            Phrase::Carry => ("carry", "mif"),
            Phrase::Part => ("part", "sev"),
            Phrase::AddParts => ("add the parts", "zor ul sevi"),
            Phrase::Step => ("step", "tam"),
            Phrase::AnswerIs => ("so the answer is", "ka ul quen zim"),
            Phrase::Wait => ("wait", "hok"),
            Phrase::Check => ("check", "pru"),
            Phrase::Not => ("not", "nef"),
        };
        match lang {
            Lang::A => a,
            Lang::B => b,
        }
    }
}

/// The reflection marker of `lang`: "wait" in A, "hok" in B.
pub fn reflection_marker(lang: Lang) -> &'static str {
    Phrase::Wait.text(lang)
}

/// The phrase that closes every derivation, in `lang`: "so the answer is" in A, "ka ul quen zim"
/// in B.
pub fn answer_phrase(lang: Lang) -> &'static str {
    Phrase::AnswerIs.text(lang)
}

/// Every word of the phrasebook, tagged with its language.
static VOCABULARY: LazyLock<HashMap<&'static str, Lang>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for phrase in Phrase::ALL {
        for lang in Lang::ALL {
            for word in phrase.text(lang).split(' ') {
                map.insert(word, lang);
            }
        }
    }
    map
});

/// The words of `lang`'s phrasebook, sorted.
pub fn vocabulary(lang: Lang) -> Vec<&'static str> {
    let mut words: Vec<&'static str> = VOCABULARY
        .iter()
        .filter(|(_, l)| **l == lang)
        .map(|(w, _)| *w)
        .collect();
    words.sort_unstable();
    words
}

/// The language of one word, or `None` for numbers, symbols and words outside both phrasebooks.
///
/// Case is ignored and leading/trailing non-alphabetic characters ("wait," "(column") are trimmed.
pub fn word_language(word: &str) -> Option<Lang> {
    let trimmed = word.trim_matches(|c: char| !c.is_alphabetic());
    if trimmed.is_empty() || trimmed.len() > 32 {
        return None;
    }
    let lower = trimmed.to_lowercase();
    VOCABULARY.get(lower.as_str()).copied()
}

/// Counts of language-tagged words in a text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LangCounts {
    /// Words of language A.
    pub a: usize,
    /// Words of language B.
    pub b: usize,
}

impl LangCounts {
    /// The count for `lang`.
    pub fn get(&self, lang: Lang) -> usize {
        match lang {
            Lang::A => self.a,
            Lang::B => self.b,
        }
    }

    /// All tagged words.
    pub fn total(&self) -> usize {
        self.a + self.b
    }
}

/// The `<think>`/`<answer>` tags, which are markup rather than words of either language.
const TAGS: [&str; 4] = ["</think>", "<think>", "</answer>", "<answer>"];

/// Counts the language-tagged words of `text`. Words are maximal runs of alphabetic characters;
/// the four `<think>`/`<answer>` tags are skipped (otherwise "answer" would count as English).
pub fn count_words(text: &str) -> LangCounts {
    let mut cleaned = text.to_owned();
    for tag in TAGS {
        if cleaned.contains(tag) {
            cleaned = cleaned.replace(tag, " ");
        }
    }
    let mut counts = LangCounts::default();
    for word in cleaned.split(|c: char| !c.is_alphabetic()) {
        match word_language(word) {
            Some(Lang::A) => counts.a += 1,
            Some(Lang::B) => counts.b += 1,
            None => {}
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_are_disjoint_and_cover_every_phrase() {
        let a = vocabulary(Lang::A);
        let b = vocabulary(Lang::B);
        assert!(
            a.iter().all(|w| !b.contains(w)),
            "shared word between A and B"
        );
        for phrase in Phrase::ALL {
            for lang in Lang::ALL {
                for word in phrase.text(lang).split(' ') {
                    assert_eq!(word_language(word), Some(lang), "{word}");
                }
            }
        }
    }

    #[test]
    fn word_language_trims_and_ignores_case() {
        assert_eq!(word_language("Wait,"), Some(Lang::A));
        assert_eq!(word_language("(hok"), Some(Lang::B));
        assert_eq!(word_language("42"), None);
        assert_eq!(word_language(""), None);
        assert_eq!(word_language("banana"), None);
        assert_eq!(reflection_marker(Lang::A), "wait");
        assert_eq!(reflection_marker(Lang::B), "hok");
    }

    #[test]
    fn count_words_skips_tags() {
        let c = count_words("<think> column 1: 3 + 4 = 7, dul 7. </think> <answer> 7 </answer>");
        assert_eq!(c, LangCounts { a: 1, b: 1 });
        assert_eq!(count_words("so the answer is 7").a, 4);
        assert_eq!(count_words("").total(), 0);
    }
}
