//! VADER sentiment analysis (Hutto & Gilbert, ICWSM 2014), implemented
//! here to match the reference Python package `vaderSentiment` 3.3.2
//! output for output, including its quirks (e.g. a two-letter token
//! followed by punctuation such as `Ok.` is not found in the lexicon, and
//! the `but` rule rescales the first equal score rather than each position).
//!
//! The lexicons are that package's files (MIT licence), embedded from
//! `resources/vader/`. The Rust crates `vader_sentiment` 0.1.1 and
//! `vader-sentimental` 0.1.3 were tried first: both port an older version
//! of the rules and disagree with 3.3.2 on about 7% of WikiText sentences
//! (sign flips on e.g. `no no no` and `!!!`), so they were not used.

use super::rules::{booster, is_negation_word, special_case, CAPS_INCR, N_SCALAR};
use crate::error::MeasureError;
use std::collections::HashMap;

const LEXICON: &str = include_str!("../../resources/vader/vader_lexicon.txt");
const EMOJI_LEXICON: &str = include_str!("../../resources/vader/emoji_utf8_lexicon.txt");

/// VADER's four scores for one text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Polarity {
    /// Share of negative sentiment, in `[0, 1]`.
    pub neg: f64,
    /// Share of neutral tokens, in `[0, 1]`.
    pub neu: f64,
    /// Share of positive sentiment, in `[0, 1]`.
    pub pos: f64,
    /// Normalised sum of valences, in `[-1, 1]` (not rounded, unlike the
    /// Python package, which rounds to 4 decimals).
    pub compound: f64,
}

/// The VADER analyser: the word lexicon and the emoji descriptions.
#[derive(Debug, Clone)]
pub struct Vader {
    lexicon: HashMap<String, f64>,
    emojis: HashMap<char, String>,
}

impl Vader {
    /// Parses the embedded lexicons.
    pub fn new() -> Result<Self, MeasureError> {
        Ok(Self {
            lexicon: parse_lexicon(LEXICON)?,
            emojis: parse_emojis(EMOJI_LEXICON)?,
        })
    }

    /// Number of entries in the word lexicon.
    pub fn lexicon_len(&self) -> usize {
        self.lexicon.len()
    }

    /// Scores one text.
    pub fn polarity(&self, text: &str) -> Polarity {
        let text = self.describe_emojis(text);
        let tokens: Vec<&str> = text
            .split(is_py_space)
            .filter(|t| !t.is_empty())
            .map(strip_punct)
            .collect();
        let lower: Vec<String> = tokens.iter().map(|t| t.to_lowercase()).collect();
        let ctx = Context {
            tokens: &tokens,
            lower: &lower,
            cap_diff: cap_differential(&tokens),
        };
        let mut sentiments = Vec::with_capacity(tokens.len());
        for i in 0..tokens.len() {
            let is_modifier = booster(&lower[i]).is_some()
                || (lower[i] == "kind" && lower.get(i + 1).is_some_and(|w| w == "of"));
            sentiments.push(if is_modifier {
                0.0
            } else {
                self.valence(&ctx, i)
            });
        }
        but_rule(&lower, &mut sentiments);
        score(&sentiments, &text)
    }

    /// Replaces each emoji with its description, separated by a space from
    /// what precedes it unless that is a space; then trims.
    fn describe_emojis(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut prev_space = true;
        for c in text.chars() {
            match self.emojis.get(&c) {
                Some(description) => {
                    if !prev_space {
                        out.push(' ');
                    }
                    out.push_str(description);
                    prev_space = false;
                }
                None => {
                    out.push(c);
                    prev_space = c == ' ';
                }
            }
        }
        out.trim_matches(is_py_space).to_owned()
    }

    fn in_lexicon(&self, word: &str) -> bool {
        self.lexicon.contains_key(word)
    }

    /// Valence of token `i` with its negation, caps and booster context.
    fn valence(&self, ctx: &Context<'_>, i: usize) -> f64 {
        let lower = ctx.lower;
        let Some(&base) = self.lexicon.get(&lower[i]) else {
            return 0.0;
        };
        let mut valence = base;
        if lower[i] == "no" && lower.get(i + 1).is_some_and(|w| self.in_lexicon(w)) {
            valence = 0.0;
        }
        let no_before = (i > 0 && lower[i - 1] == "no")
            || (i > 1 && lower[i - 2] == "no")
            || (i > 2 && lower[i - 3] == "no" && (lower[i - 1] == "or" || lower[i - 1] == "nor"));
        if no_before {
            valence = base * N_SCALAR;
        }
        if ctx.cap_diff && is_py_upper(ctx.tokens[i]) {
            valence += if valence > 0.0 { CAPS_INCR } else { -CAPS_INCR };
        }
        for dist in 0..3 {
            if i > dist && !self.in_lexicon(&lower[i - dist - 1]) {
                let scale = [1.0, 0.95, 0.9][dist];
                let s = booster_scalar(
                    ctx.tokens[i - dist - 1],
                    &lower[i - dist - 1],
                    valence,
                    ctx.cap_diff,
                );
                valence += if s != 0.0 { s * scale } else { 0.0 };
                valence = negation_rule(valence, lower, dist, i);
                if dist == 2 {
                    valence = idiom_rule(valence, lower, i);
                }
            }
        }
        self.least_rule(valence, lower, i)
    }

    /// `least` before a word negates it, except in `at least` / `very least`.
    fn least_rule(&self, valence: f64, lower: &[String], i: usize) -> f64 {
        let least_before = |i: usize| lower[i - 1] == "least" && !self.in_lexicon(&lower[i - 1]);
        if i > 1 && least_before(i) {
            if lower[i - 2] != "at" && lower[i - 2] != "very" {
                return valence * N_SCALAR;
            }
        } else if i > 0 && least_before(i) {
            return valence * N_SCALAR;
        }
        valence
    }
}

/// Tokens of one text and whether only some of them are in capitals.
struct Context<'a> {
    tokens: &'a [&'a str],
    lower: &'a [String],
    cap_diff: bool,
}

/// Python's `str.isspace` (Unicode white space plus U+001C..U+001F).
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.isupper`: some cased character, none lower case.
fn is_py_upper(word: &str) -> bool {
    word.chars().any(char::is_uppercase) && !word.chars().any(char::is_lowercase)
}

/// Strips leading/trailing ASCII punctuation unless that leaves two
/// characters or fewer (then the token is kept whole, e.g. `:)`).
fn strip_punct(token: &str) -> &str {
    let stripped = token.trim_matches(|c: char| c.is_ascii_punctuation());
    if stripped.chars().count() <= 2 {
        token
    } else {
        stripped
    }
}

/// True when some but not all tokens are in capitals.
fn cap_differential(tokens: &[&str]) -> bool {
    let caps = tokens.iter().filter(|t| is_py_upper(t)).count();
    let others = tokens.len() - caps;
    0 < others && others < tokens.len()
}

/// The booster/dampener effect of `word` on a word of `valence`.
fn booster_scalar(word: &str, lower: &str, valence: f64, cap_diff: bool) -> f64 {
    let Some(mut scalar) = booster(lower) else {
        return 0.0;
    };
    if valence < 0.0 {
        scalar = -scalar;
    }
    if is_py_upper(word) && cap_diff {
        scalar += if valence > 0.0 { CAPS_INCR } else { -CAPS_INCR };
    }
    scalar
}

fn negated(word: &str) -> bool {
    is_negation_word(word) || word.contains("n't")
}

/// Negation (or `never so`/`without doubt` emphasis) `dist + 1` words back.
fn negation_rule(valence: f64, lower: &[String], dist: usize, i: usize) -> f64 {
    let w = |back: usize| lower[i - back].as_str();
    match dist {
        0 if negated(w(1)) => valence * N_SCALAR,
        1 if w(2) == "never" && (w(1) == "so" || w(1) == "this") => valence * 1.25,
        1 if w(2) == "without" && w(1) == "doubt" => valence,
        1 if negated(w(2)) => valence * N_SCALAR,
        2 if (w(3) == "never" && (w(2) == "so" || w(2) == "this"))
            || w(1) == "so"
            || w(1) == "this" =>
        {
            valence * 1.25
        }
        2 if w(3) == "without" && (w(2) == "doubt" || w(1) == "doubt") => valence,
        2 if negated(w(3)) => valence * N_SCALAR,
        _ => valence,
    }
}

/// Idioms around word `i` (`i >= 3`) replace its valence; booster n-grams
/// such as `kind of` before it add to it.
fn idiom_rule(mut valence: f64, lower: &[String], i: usize) -> f64 {
    let join = |ws: &[&String]| ws.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(" ");
    let (w0, w1, w2, w3) = (&lower[i], &lower[i - 1], &lower[i - 2], &lower[i - 3]);
    let (three_two_one, three_two, two_one) =
        (join(&[w3, w2, w1]), join(&[w3, w2]), join(&[w2, w1]));
    let before = [
        join(&[w1, w0]),
        join(&[w2, w1, w0]),
        two_one.clone(),
        three_two_one.clone(),
        three_two.clone(),
    ];
    if let Some(v) = before.iter().find_map(|seq| special_case(seq)) {
        valence = v;
    }
    if let Some(v) = lower
        .get(i + 1)
        .and_then(|n1| special_case(&join(&[w0, n1])))
    {
        valence = v;
    }
    if i + 2 < lower.len() {
        if let Some(v) = special_case(&join(&[w0, &lower[i + 1], &lower[i + 2]])) {
            valence = v;
        }
    }
    for ngram in [three_two_one, three_two, two_one] {
        if let Some(b) = booster(&ngram) {
            valence += b;
        }
    }
    valence
}

/// The contrastive `but`: scores before the first `but` are halved, after
/// it multiplied by 1.5. Like the reference, each pass rescales the first
/// position holding an equal score.
fn but_rule(lower: &[String], sentiments: &mut [f64]) {
    let Some(bi) = lower.iter().position(|w| w == "but") else {
        return;
    };
    for k in 0..sentiments.len() {
        let value = sentiments[k];
        let Some(si) = sentiments.iter().position(|&s| s == value) else {
            continue;
        };
        if si < bi {
            sentiments[si] = value * 0.5;
        } else if si > bi {
            sentiments[si] = value * 1.5;
        }
    }
}

/// Emphasis from `!` (up to 4) and `?` (2 or more).
fn punctuation_emphasis(text: &str) -> f64 {
    let exclamations = text.matches('!').count().min(4);
    let questions = text.matches('?').count();
    let qm = match questions {
        0 | 1 => 0.0,
        2 | 3 => questions as f64 * 0.18,
        _ => 0.96,
    };
    exclamations as f64 * 0.292 + qm
}

fn normalize(score: f64) -> f64 {
    (score / (score * score + 15.0).sqrt()).clamp(-1.0, 1.0)
}

fn score(sentiments: &[f64], text: &str) -> Polarity {
    if sentiments.is_empty() {
        return Polarity {
            neg: 0.0,
            neu: 0.0,
            pos: 0.0,
            compound: 0.0,
        };
    }
    let punct = punctuation_emphasis(text);
    let mut sum: f64 = sentiments.iter().sum();
    if sum > 0.0 {
        sum += punct;
    } else if sum < 0.0 {
        sum -= punct;
    }
    let mut pos_sum: f64 = sentiments
        .iter()
        .filter(|&&s| s > 0.0)
        .map(|s| s + 1.0)
        .sum();
    let mut neg_sum: f64 = sentiments
        .iter()
        .filter(|&&s| s < 0.0)
        .map(|s| s - 1.0)
        .sum();
    let neutral = sentiments.iter().filter(|&&s| s == 0.0).count() as f64;
    if pos_sum > neg_sum.abs() {
        pos_sum += punct;
    } else if pos_sum < neg_sum.abs() {
        neg_sum -= punct;
    }
    let total = pos_sum + neg_sum.abs() + neutral;
    Polarity {
        neg: (neg_sum / total).abs(),
        neu: (neutral / total).abs(),
        pos: (pos_sum / total).abs(),
        compound: normalize(sum),
    }
}

fn parse_lexicon(raw: &str) -> Result<HashMap<String, f64>, MeasureError> {
    let mut map = HashMap::new();
    for (n, line) in raw.trim_end_matches('\n').split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut fields = line.trim_matches(is_py_space).split('\t');
        let (word, value) = match (fields.next(), fields.next()) {
            (Some(w), Some(v)) => (w, v),
            _ => {
                return Err(resource_error(
                    "vader_lexicon.txt",
                    n,
                    "fewer than two tab-separated fields",
                ))
            }
        };
        let value: f64 = value.parse().map_err(|_| {
            resource_error(
                "vader_lexicon.txt",
                n,
                &format!("`{value}` is not a number"),
            )
        })?;
        map.insert(word.to_owned(), value);
    }
    Ok(map)
}

fn parse_emojis(raw: &str) -> Result<HashMap<char, String>, MeasureError> {
    let mut map = HashMap::new();
    for (n, line) in raw.trim_end_matches('\n').split('\n').enumerate() {
        let mut fields = line.trim_matches(is_py_space).split('\t');
        let (emoji, description) = match (fields.next(), fields.next()) {
            (Some(e), Some(d)) => (e, d),
            _ => {
                return Err(resource_error(
                    "emoji_utf8_lexicon.txt",
                    n,
                    "fewer than two tab-separated fields",
                ))
            }
        };
        // The reference looks emojis up one code point at a time, so
        // multi-code-point entries can never match.
        let mut chars = emoji.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            map.insert(c, description.to_owned());
        }
    }
    Ok(map)
}

fn resource_error(name: &str, index: usize, reason: &str) -> MeasureError {
    MeasureError::Resource {
        name: name.to_owned(),
        line: index + 1,
        reason: reason.to_owned(),
    }
}
