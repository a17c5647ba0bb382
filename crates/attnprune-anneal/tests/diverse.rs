//! Tests of the diverse selection of solutions.
#![allow(clippy::unwrap_used, missing_docs)]

use attnprune_anneal::{select_diverse, Evaluation, Solution};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A solution from a bit string such as "0110".
fn sol(bits: &str, value: f64, restart: usize) -> Solution {
    Solution {
        state: bits.chars().map(|c| c == '1').collect(),
        evaluation: Evaluation::plain(value),
        restart,
        found_at_step: None,
    }
}

fn values(picked: &[Solution]) -> Vec<f64> {
    picked.iter().map(|s| s.evaluation.value).collect()
}

fn hamming(a: &[bool], b: &[bool]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

fn random_solutions(n: usize, bits: usize, restarts: usize, seed: u64) -> Vec<Solution> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| Solution {
            state: (0..bits).map(|_| rng.random_bool(0.3)).collect(),
            evaluation: Evaluation::plain(rng.random_range(0.0..100.0)),
            restart: rng.random_range(0..restarts),
            found_at_step: Some(rng.random_range(0..1000)),
        })
        .collect()
}

#[test]
fn select_diverse_respects_min_hamming_and_k() {
    let sols = random_solutions(300, 24, 5, 1);
    let picked = select_diverse(&sols, 12, 6, 4);
    assert_eq!(picked.len(), 12);
    for (i, a) in picked.iter().enumerate() {
        assert!(sols.contains(a));
        for b in &picked[i + 1..] {
            assert!(hamming(&a.state, &b.state) >= 6);
        }
    }
    let best = sols
        .iter()
        .min_by(|a, b| a.evaluation.value.total_cmp(&b.evaluation.value))
        .unwrap();
    assert_eq!(&picked[0], best);
    assert!(values(&picked).windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn select_diverse_picks_best_first_and_skips_near_duplicates() {
    let sols = vec![
        sol("000111", 5.0, 0),
        sol("111001", 4.0, 0),
        sol("000000", 1.0, 0),
        sol("000000", 1.5, 0),
        sol("111000", 3.0, 0),
        sol("000001", 2.0, 0),
    ];
    assert_eq!(values(&select_diverse(&sols, 3, 2, 0)), [1.0, 3.0, 5.0]);
    assert_eq!(values(&select_diverse(&sols, 3, 1, 0)), [1.0, 2.0, 3.0]);
    assert_eq!(values(&select_diverse(&sols, 3, 0, 0)), [1.0, 2.0, 3.0]);
    assert_eq!(values(&select_diverse(&sols, 1, 0, 0)), [1.0]);
}

#[test]
fn select_diverse_spreads_across_restarts_when_caps_bind() {
    let states = ["1000", "0100", "0010", "0001"];
    let mut sols: Vec<Solution> = states
        .iter()
        .enumerate()
        .map(|(i, s)| sol(s, 1.0 + i as f64, 0))
        .collect();
    assert_eq!(
        values(&select_diverse(&sols, 4, 1, 0)),
        [1.0, 2.0, 3.0, 4.0]
    );
    let late = ["1100", "0110", "0011", "1001"];
    sols.extend(
        late.iter()
            .enumerate()
            .map(|(i, s)| sol(s, 10.0 + i as f64, 1)),
    );
    let picked = select_diverse(&sols, 4, 1, 0);
    assert_eq!(values(&picked), [1.0, 2.0, 10.0, 11.0]);
    assert_eq!(
        picked.iter().map(|s| s.restart).collect::<Vec<_>>(),
        [0, 0, 1, 1]
    );
}

#[test]
fn select_diverse_spreads_across_ones_buckets() {
    let sols = vec![
        sol("10000000", 1.0, 0),
        sol("01000000", 2.0, 0),
        sol("00100000", 3.0, 0),
        sol("11111100", 4.0, 0),
        sol("01111110", 5.0, 0),
        sol("00111111", 6.0, 0),
    ];
    // One bucket: the four best.
    assert_eq!(
        values(&select_diverse(&sols, 4, 1, 0)),
        [1.0, 2.0, 3.0, 4.0]
    );
    // Width 4: buckets {0, 1}, cap 2 each.
    assert_eq!(
        values(&select_diverse(&sols, 4, 1, 4)),
        [1.0, 2.0, 4.0, 5.0]
    );
}

#[test]
fn select_diverse_second_pass_fills_ignoring_caps() {
    let mut sols: Vec<Solution> = ["10000", "01000", "00100", "00010", "00001"]
        .iter()
        .enumerate()
        .map(|(i, s)| sol(s, 1.0 + i as f64, 0))
        .collect();
    sols.push(sol("11000", 20.0, 1));
    let picked = select_diverse(&sols, 4, 1, 0);
    assert_eq!(values(&picked), [1.0, 2.0, 3.0, 20.0]);
    // The Hamming rule still applies in the second pass: 00110 is 1 bit from 00111.
    let sols = vec![
        sol("10000", 1.0, 0),
        sol("01000", 2.0, 0),
        sol("00110", 3.0, 0),
        sol("00100", 4.0, 0),
        sol("00111", 20.0, 1),
    ];
    let picked = select_diverse(&sols, 4, 2, 0);
    assert_eq!(values(&picked), [1.0, 2.0, 4.0, 20.0]);
}

#[test]
fn select_diverse_k_larger_than_available_returns_all_that_fit() {
    let sols = vec![
        sol("000000", 1.0, 0),
        sol("000001", 2.0, 1),
        sol("111000", 3.0, 2),
        sol("111100", 4.0, 0),
        sol("000111", 5.0, 1),
        sol("101010", 6.0, 2),
    ];
    let picked = select_diverse(&sols, 100, 2, 1);
    assert_eq!(values(&picked), [1.0, 3.0, 5.0, 6.0]);
    assert_eq!(select_diverse(&sols, 100, 0, 1).len(), 6);
    assert_eq!(select_diverse(&sols, usize::MAX, 0, 1).len(), 6);
    assert!(select_diverse(&sols, 0, 0, 1).is_empty());
    assert!(select_diverse(&[], 5, 0, 1).is_empty());
}

#[test]
fn select_diverse_is_independent_of_input_order() {
    let sols = random_solutions(200, 16, 4, 2);
    let picked = select_diverse(&sols, 10, 4, 3);
    let mut shuffled = sols.clone();
    shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(9));
    assert_eq!(picked, select_diverse(&shuffled, 10, 4, 3));
}
