//! Bounded, seeded mutation testing of file readers on stable Rust (`make test`; the
//! cargo-fuzz target in `crates/attnprune-gguf/fuzz` stays for nightly users).
//!
//! [`Mutator`] turns a valid seed file into a damaged one: bit flips, bytes set to edge
//! values, truncations, cut or repeated chunks, integer fields blown up (`u32::MAX`, `2^40`,
//! `u64::MAX`, ... written over 4 or 8 bytes, as a corrupt length or count would be), and for
//! text formats, JSON tokens and huge numbers spliced in. Every case is drawn from a ChaCha
//! stream seeded by the reader's name and the case number, so a failure names a case that
//! reproduces exactly. [`run`] feeds `cases` such files to a reader, counts parse successes
//! and errors, and fails on the first panic.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::Instant;

thread_local! {
    /// Inside a case: panics are recorded, not printed (a reader may catch a dependency's).
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Installs (once) the panic hook that keeps the cases' panics quiet.
fn quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                LAST_PANIC.with(|l| *l.borrow_mut() = info.to_string());
            } else {
                default(info);
            }
        }));
    });
}

/// Values a corrupt length, count or offset field takes.
const HUGE: [u64; 10] = [
    u64::MAX,
    u64::MAX / 2,
    1 << 63,
    1 << 40,
    1 << 32,
    u32::MAX as u64,
    (1 << 31) - 1,
    1 << 31,
    1 << 24,
    0,
];

/// Tokens spliced into text formats.
const TOKENS: [&str; 16] = [
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "-1",
    "1e309",
    "18446744073709551616",
    "4294967296",
    "99999999999999999999",
    "\\u0000",
    "\\ud800",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

/// Draws damaged copies of seed files.
#[derive(Debug)]
pub struct Mutator {
    rng: ChaCha8Rng,
    text: bool,
}

impl Mutator {
    /// The mutator of case `case` of reader `name`; `text`: also splice JSON tokens.
    pub fn new(name: &str, case: u64, text: bool) -> Self {
        let mut seed = [0u8; 32];
        for (i, b) in name.bytes().enumerate() {
            seed[i % 24] ^= b;
        }
        seed[24..].copy_from_slice(&case.to_le_bytes());
        Self {
            rng: ChaCha8Rng::from_seed(seed),
            text,
        }
    }

    /// A damaged copy of `seed`: one to four mutations.
    pub fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut bytes = seed.to_vec();
        let n = self.rng.random_range(1..=4);
        for _ in 0..n {
            self.once(&mut bytes);
        }
        bytes
    }

    fn pos(&mut self, len: usize) -> usize {
        if len == 0 {
            0
        } else {
            self.rng.random_range(0..len)
        }
    }

    fn once(&mut self, b: &mut Vec<u8>) {
        let kinds = if self.text { 9 } else { 8 };
        match self.rng.random_range(0..kinds) {
            0 | 1 => {
                // Bit flips.
                for _ in 0..self.rng.random_range(1..=8) {
                    if !b.is_empty() {
                        let i = self.pos(b.len());
                        b[i] ^= 1 << self.rng.random_range(0..8);
                    }
                }
            }
            2 => {
                // A byte set to an edge value.
                if !b.is_empty() {
                    let i = self.pos(b.len());
                    b[i] = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe][self.rng.random_range(0..6)];
                }
            }
            3 => {
                // Truncation (often mid-header: short files are where readers over-trust).
                let cut = if self.rng.random_bool(0.5) {
                    self.pos(b.len().min(256) + 1)
                } else {
                    self.pos(b.len() + 1)
                };
                b.truncate(cut);
            }
            4 | 5 => {
                // A length, count or offset field blown up (4 or 8 bytes, little-endian),
                // half the time at an aligned offset within the header.
                let value = HUGE[self.rng.random_range(0..HUGE.len())];
                let width = if self.rng.random_bool(0.5) { 4 } else { 8 };
                if b.len() >= width {
                    let span = if self.rng.random_bool(0.5) {
                        b.len().min(512)
                    } else {
                        b.len()
                    };
                    let mut at = self.pos(span - width + 1);
                    if self.rng.random_bool(0.5) {
                        at -= at % 4;
                    }
                    let at = at.min(b.len() - width);
                    b[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
                }
            }
            6 => {
                // A chunk cut out.
                if !b.is_empty() {
                    let i = self.pos(b.len());
                    let n = self.rng.random_range(1..=64).min(b.len() - i);
                    b.drain(i..i + n);
                }
            }
            7 => {
                // A chunk repeated.
                if !b.is_empty() {
                    let i = self.pos(b.len());
                    let n = self.rng.random_range(1..=64).min(b.len() - i);
                    let chunk: Vec<u8> = b[i..i + n].to_vec();
                    let at = self.pos(b.len() + 1);
                    b.splice(at..at, chunk);
                }
            }
            _ => {
                // A JSON token spliced in, replacing a few bytes.
                let token = TOKENS[self.rng.random_range(0..TOKENS.len())].as_bytes();
                let at = self.pos(b.len() + 1);
                let n = self.rng.random_range(0..=4).min(b.len() - at);
                b.splice(at..at + n, token.iter().copied());
            }
        }
    }
}

/// What [`run`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Cases run.
    pub cases: u64,
    /// Damaged inputs the reader still accepted.
    pub accepted: u64,
    /// Damaged inputs refused with an error.
    pub refused: u64,
}

/// Runs `cases` damaged copies of `seeds` (case i damages seed i mod len) through `read`,
/// which returns whether it accepted the input. Panics (naming the case) if `read` panics;
/// prints one line with the counts and the time.
pub fn run<F>(name: &str, seeds: &[Vec<u8>], cases: u64, text: bool, mut read: F) -> Outcome
where
    F: FnMut(&[u8]) -> bool,
{
    assert!(!seeds.is_empty(), "{name}: no seed");
    for (i, seed) in seeds.iter().enumerate() {
        assert!(read(seed), "{name}: seed {i} itself is refused");
    }
    quiet_hook();
    let start = Instant::now();
    let mut out = Outcome {
        cases: 0,
        accepted: 0,
        refused: 0,
    };
    for case in 0..cases {
        let seed = &seeds[(case % seeds.len() as u64) as usize];
        let input = Mutator::new(name, case, text).mutate(seed);
        QUIET.with(|q| q.set(true));
        let result = catch_unwind(AssertUnwindSafe(|| read(&input)));
        QUIET.with(|q| q.set(false));
        match result {
            Ok(true) => out.accepted += 1,
            Ok(false) => out.refused += 1,
            Err(_) => panic!(
                "{name}: case {case} panicked: {} (reproduce: Mutator::new({name:?}, {case}, {text}) on seed {}; {} bytes)",
                LAST_PANIC.with(|l| l.borrow().clone()),
                case % seeds.len() as u64,
                input.len()
            ),
        }
        out.cases += 1;
    }
    eprintln!(
        "fuzz {name:<14} {:>7} cases, 0 panics ({} refused, {} accepted) in {:.1} s",
        out.cases,
        out.refused,
        out.accepted,
        start.elapsed().as_secs_f64()
    );
    out
}

/// Cases per reader: `ATTNPRUNE_FUZZ_CASES` if set, else `default`.
pub fn cases(default: u64) -> u64 {
    std::env::var("ATTNPRUNE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_seeded() {
        let seed = b"{\"a\": [1, 2, 3], \"b\": \"text\"}".to_vec();
        let a: Vec<Vec<u8>> = (0..50)
            .map(|c| Mutator::new("x", c, true).mutate(&seed))
            .collect();
        let b: Vec<Vec<u8>> = (0..50)
            .map(|c| Mutator::new("x", c, true).mutate(&seed))
            .collect();
        assert_eq!(a, b);
        assert!(a.iter().any(|m| m != &seed));
    }
}
