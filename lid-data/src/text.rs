//! Text types and helpers shared by every corpus: speakers, value spans, the [`HasText`] trait,
//! span search, MultiWOZ detokenisation and a sentence splitter.
//!
//! Spans are **byte offsets** into the UTF-8 text (`&text[start..end] == value`), which is what Rust
//! string slicing and the `tokenizers` crate's offsets use. For ASCII text (all offline data) they are
//! also character offsets; [`SlotSpan::char_range`] converts where that matters.

use serde::{Deserialize, Serialize};

/// Who spoke an utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Speaker {
    /// The user (customer) of a task-oriented dialogue.
    User,
    /// The system (clerk, wizard).
    System,
}

/// Where a slot value appears in a text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlotSpan {
    /// The slot, e.g. `restaurant-food` (see each module for its naming).
    pub slot: String,
    /// The value as it appears in the text.
    pub value: String,
    /// Byte offset of the first byte of the value in the text.
    pub start: usize,
    /// Byte offset one past the last byte of the value (`&text[start..end] == value`).
    pub end: usize,
}

impl SlotSpan {
    /// The span as character offsets into `text` (equal to the byte offsets for ASCII text).
    ///
    /// Returns `None` when the span does not lie on character boundaries of `text`.
    pub fn char_range(&self, text: &str) -> Option<std::ops::Range<usize>> {
        if self.start > self.end
            || !text.is_char_boundary(self.start)
            || !text.is_char_boundary(self.end)
        {
            return None;
        }
        let start = text[..self.start].chars().count();
        Some(start..start + text[self.start..self.end].chars().count())
    }
}

/// Anything that is one text sequence of a corpus.
pub trait HasText {
    /// The text of the sequence.
    fn text(&self) -> &str;
}

impl HasText for String {
    fn text(&self) -> &str {
        self
    }
}

/// A text with a class label: one example of a sentence-classification task (EmoWOZ emotions,
/// the dialogue-act stand-in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelledText {
    /// The dialogue (or, for template-built data, the source record) the text comes from.
    pub dialogue_id: String,
    /// Position of the text in its dialogue (see each reader).
    pub turn: usize,
    /// The text.
    pub text: String,
    /// The class index.
    pub label: usize,
    /// The class name.
    pub label_name: String,
}

impl HasText for LabelledText {
    fn text(&self) -> &str {
        &self.text
    }
}

/// Keeps the first item of every distinct text, in order.
pub fn dedup_by_text<T: HasText>(items: Vec<T>) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|item| seen.insert(item.text().to_string()))
        .collect()
}

/// The byte range of the first occurrence of `value` in `text`, compared ASCII-case-insensitively,
/// that starts and ends at a word boundary (the neighbouring characters are not alphanumeric).
///
/// This is how the readers of real data locate a state value in an utterance; it returns `None`
/// for an empty value.
pub fn find_value(text: &str, value: &str) -> Option<(usize, usize)> {
    if value.is_empty() || value.len() > text.len() {
        return None;
    }
    let hay = text.as_bytes();
    let needle = value.as_bytes();
    (0..=hay.len() - needle.len()).find_map(|start| {
        let end = start + needle.len();
        let matches = hay[start..end].eq_ignore_ascii_case(needle)
            && text.is_char_boundary(start)
            && text.is_char_boundary(end);
        let left_ok = start == 0 || !is_word_byte(hay[start - 1]);
        let right_ok = end == hay.len() || !is_word_byte(hay[end]);
        (matches && left_ok && right_ok).then_some((start, end))
    })
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Turns MultiWOZ's tokenised text (`I ' m looking for a place to stay .`) into ordinary text
/// (`I'm looking for a place to stay.`): collapses whitespace, attaches `. , ? ! ; :` and the clitics
/// `n't 's 'm 're 've 'll 'd` (also when written `' m`) to the previous word.
///
/// Placeholders such as `#HOTEL-INFORM-AREA#` are left intact, so templates are detokenised before
/// relexicalisation and value spans stay exact.
pub fn detokenize(text: &str) -> String {
    const CLITICS: [&str; 8] = ["n't", "'s", "'m", "'re", "'ve", "'ll", "'d", "'t"];
    const BARE: [&str; 7] = ["m", "s", "re", "ve", "ll", "d", "t"];
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < tokens.len() {
        let tok = tokens[i];
        // `' m` (apostrophe and clitic written apart) -> `'m`, attached.
        if tok == "'" && i > 0 && i + 1 < tokens.len() && BARE.contains(&tokens[i + 1]) {
            out.push('\'');
            out.push_str(tokens[i + 1]);
            i += 2;
            continue;
        }
        let attach = i > 0
            && (matches!(tok, "." | "," | "?" | "!" | ";" | ":" | "%" | "...")
                || CLITICS.contains(&tok.to_ascii_lowercase().as_str()));
        if !out.is_empty() && !attach {
            out.push(' ');
        }
        out.push_str(tok);
        i += 1;
    }
    out
}

/// Words that end with a period without ending a sentence.
const ABBREVIATIONS: [&str; 28] = [
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "etc", "e.g", "i.e", "no", "co",
    "inc", "ltd", "gen", "gov", "sen", "rep", "lt", "col", "capt", "mt", "ft", "approx", "jan",
    "feb",
];

/// Splits running prose into sentences.
///
/// A sentence ends at `.`, `!` or `?` (optionally followed by a closing quote or bracket) when
/// whitespace follows and the next word starts with an upper-case letter, a digit or an opening
/// quote, unless the word before the period is a known abbreviation (`Mr.`, `e.g.`, ...) or a single
/// letter (an initial, as in `J. R. R. Tolkien`). Whitespace inside a sentence is collapsed.
pub fn split_sentences(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut sentences = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for (i, word) in words.iter().enumerate() {
        current.push(word);
        let next = words.get(i + 1);
        if next.is_some_and(|next| ends_sentence(word, next)) {
            sentences.push(current.join(" "));
            current.clear();
        }
    }
    if !current.is_empty() {
        sentences.push(current.join(" "));
    }
    sentences
}

fn ends_sentence(word: &str, next: &str) -> bool {
    let core = word.trim_end_matches(['"', '\'', ')', ']', '\u{201d}', '\u{2019}']);
    let Some(last) = core.chars().last() else {
        return false;
    };
    if !matches!(last, '.' | '!' | '?') {
        return false;
    }
    let starts_ok = next.chars().next().is_some_and(|c| {
        c.is_uppercase() || c.is_ascii_digit() || matches!(c, '"' | '\'' | '(' | '\u{201c}')
    });
    if !starts_ok {
        return false;
    }
    if last == '.' {
        let stem = core
            .trim_end_matches('.')
            .trim_start_matches(['"', '\'', '(', '[']);
        let lower = stem.to_lowercase();
        if ABBREVIATIONS.contains(&lower.as_str()) {
            return false;
        }
        // Initials: `J.` or `U.S.`-like words made of single letters and periods.
        if stem.chars().count() == 1 && stem.chars().all(char::is_alphabetic) {
            return false;
        }
        if stem.contains('.') && stem.split('.').all(|p| p.chars().count() <= 1) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detokenize_attaches_punctuation_and_clitics() {
        assert_eq!(
            detokenize("I ' m looking for a place , is n't it  there ?"),
            "I'm looking for a place, isn't it there?"
        );
        assert_eq!(
            detokenize("I 'd like the #HOTEL-INFORM-AREA# ."),
            "I'd like the #HOTEL-INFORM-AREA#."
        );
        assert_eq!(detokenize("  "), "");
    }

    #[test]
    fn find_value_respects_word_boundaries_and_case() {
        let text = "I want a Cheap place, not cheaper ones.";
        assert_eq!(find_value(text, "cheap"), Some((9, 14)));
        assert_eq!(find_value("cheaper", "cheap"), None);
        assert_eq!(find_value(text, ""), None);
        let text = "at 12:30 please";
        let (s, e) = find_value(text, "12:30").unwrap();
        assert_eq!(&text[s..e], "12:30");
    }

    #[test]
    fn sentences_split_on_terminal_punctuation_not_abbreviations() {
        let s = split_sentences(
            "Mr. Smith met J. R. R. Tolkien in the U.S. today. He left! \"Why?\" Nobody knew.",
        );
        assert_eq!(
            s,
            vec![
                "Mr. Smith met J. R. R. Tolkien in the U.S. today.",
                "He left!",
                "\"Why?\"",
                "Nobody knew."
            ]
        );
    }

    #[test]
    fn char_range_counts_characters() {
        let text = "café au lait";
        let span = SlotSpan {
            slot: "x".into(),
            value: "au".into(),
            start: 6,
            end: 8,
        };
        assert_eq!(&text[span.start..span.end], "au");
        assert_eq!(span.char_range(text), Some(5..7));
    }
}
