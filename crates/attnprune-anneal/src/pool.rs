//! Per-restart pool of the best distinct feasible states a walk visited.

use std::collections::HashMap;

use crate::objective::Evaluation;
use crate::result::Solution;

/// Key of bit `i` in the incremental state hash (splitmix64 of the index).
///
/// The hash of a state is the XOR of the keys of its true bits, so a flip of bit `i` updates it
/// with one XOR (see [`state_hash`]).
pub(crate) fn bit_key(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a whole state: XOR of [`bit_key`] over its true bits.
pub(crate) fn state_hash(state: &[bool]) -> u64 {
    state
        .iter()
        .enumerate()
        .filter(|(_, &b)| b)
        .fold(0, |h, (i, _)| h ^ bit_key(i))
}

/// A pooled solution with the hash of its state.
#[derive(Debug)]
struct Entry {
    hash: u64,
    solution: Solution,
}

/// Keeps up to `capacity` distinct feasible states with the lowest values, in visit order on ties.
///
/// A state's key is `(value, step)` of its lowest-valued visit (the first of equal ones; values of
/// one state can differ by rounding between visits of an incremental objective), and entries are
/// sorted by key. Visits arrive in order, so a visit counts only when the pool is not full or its
/// value is strictly below the current worst; only then is the state looked up (by hash, then
/// equality) and, if new, cloned. Hence the pool's first entry is the walk's `best`. NaN values
/// never enter.
#[derive(Debug)]
pub(crate) struct Pool {
    capacity: usize,
    entries: Vec<Entry>,
    /// Number of entries per state hash (several on a hash collision).
    hashes: HashMap<u64, usize>,
}

impl Pool {
    /// An empty pool holding at most `capacity` states (`0`: the pool is off).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Vec::new(),
            hashes: HashMap::new(),
        }
    }

    /// Offers a visited state whose hash is `hash`; clones it only when it enters the pool.
    pub(crate) fn offer(
        &mut self,
        state: &[bool],
        hash: u64,
        evaluation: Evaluation,
        restart: usize,
        step: Option<usize>,
    ) {
        if !evaluation.feasible || !self.admits(evaluation.value) {
            return;
        }
        debug_assert_eq!(hash, state_hash(state), "stale incremental state hash");
        match self.position(state, hash) {
            Some(at) => self.improve(at, evaluation, step),
            None => {
                let solution = Solution {
                    state: state.to_vec(),
                    evaluation,
                    restart,
                    found_at_step: step,
                };
                self.insert(Entry { hash, solution });
            }
        }
    }

    /// Whether a (not yet pooled) state of this value would enter the pool.
    fn admits(&self, value: f64) -> bool {
        if self.capacity == 0 || value.is_nan() {
            return false;
        }
        match self.entries.last() {
            Some(worst) if self.entries.len() >= self.capacity => {
                value < worst.solution.evaluation.value
            }
            _ => true,
        }
    }

    /// Index of `state` (with hash `hash`) in the pool, if pooled.
    fn position(&self, state: &[bool], hash: u64) -> Option<usize> {
        if !self.hashes.contains_key(&hash) {
            return None;
        }
        self.entries
            .iter()
            .position(|e| e.hash == hash && e.solution.state == state)
    }

    /// A revisit of pooled entry `at`: keeps it if its value is strictly lower.
    fn improve(&mut self, at: usize, evaluation: Evaluation, step: Option<usize>) {
        if evaluation.value < self.entries[at].solution.evaluation.value {
            let mut entry = self.entries.remove(at);
            entry.solution.evaluation = evaluation;
            entry.solution.found_at_step = step;
            self.place(entry);
        }
    }

    /// Places `entry` after all entries of lower or equal value.
    fn place(&mut self, entry: Entry) {
        let value = entry.solution.evaluation.value;
        let at = self
            .entries
            .partition_point(|e| e.solution.evaluation.value <= value);
        self.entries.insert(at, entry);
    }

    /// Adds a new state, then drops the worst entry if over capacity.
    fn insert(&mut self, entry: Entry) {
        *self.hashes.entry(entry.hash).or_insert(0) += 1;
        self.place(entry);
        if self.entries.len() > self.capacity {
            if let Some(dropped) = self.entries.pop() {
                self.forget(dropped.hash);
            }
        }
    }

    /// Decrements the count of `hash`, removing it at zero.
    fn forget(&mut self, hash: u64) {
        if let Some(n) = self.hashes.get_mut(&hash) {
            *n -= 1;
            if *n == 0 {
                self.hashes.remove(&hash);
            }
        }
    }

    /// The pooled solutions, by value ascending (ties: visit order).
    pub(crate) fn into_solutions(self) -> Vec<Solution> {
        self.entries.into_iter().map(|e| e.solution).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(pool: &mut Pool, state: &[bool], value: f64, step: usize) {
        let eval = Evaluation::plain(value);
        pool.offer(state, state_hash(state), eval, 0, Some(step));
    }

    #[test]
    fn incremental_hash_matches_full_hash() {
        let mut state = vec![false; 70];
        let mut hash = state_hash(&state);
        for i in [3, 69, 3, 0, 40, 41] {
            state[i] = !state[i];
            hash ^= bit_key(i);
            assert_eq!(hash, state_hash(&state));
        }
        assert_ne!(hash, 0);
    }

    #[test]
    fn keeps_lowest_distinct_feasible_states() {
        let mut pool = Pool::new(3);
        offer(&mut pool, &[true, false], 5.0, 0);
        offer(&mut pool, &[false, true], 1.0, 1);
        offer(&mut pool, &[true, false], 5.0, 2); // duplicate
        offer(&mut pool, &[true, true], 3.0, 3);
        offer(&mut pool, &[false, false], 3.0, 4); // tie with [true, true]: later visit after it
        offer(&mut pool, &[false, false], 3.0, 5); // duplicate
        offer(&mut pool, &[true, true], 2.5, 6); // revisit with a lower value: moves up
        let infeasible = Evaluation {
            feasible: false,
            ..Evaluation::plain(-9.0)
        };
        pool.offer(
            &[true, false],
            state_hash(&[true, false]),
            infeasible,
            0,
            None,
        );
        offer(&mut pool, &[true, false], f64::NAN, 7);
        let got: Vec<(Vec<bool>, f64, Option<usize>)> = pool
            .into_solutions()
            .into_iter()
            .map(|s| (s.state, s.evaluation.value, s.found_at_step))
            .collect();
        assert_eq!(
            got,
            vec![
                (vec![false, true], 1.0, Some(1)),
                (vec![true, true], 2.5, Some(6)),
                (vec![false, false], 3.0, Some(4)),
            ]
        );
    }

    #[test]
    fn full_pool_rejects_ties_with_worst_and_forgets_evicted_hashes() {
        let mut pool = Pool::new(1);
        offer(&mut pool, &[true], 2.0, 0);
        offer(&mut pool, &[false], 2.0, 1);
        offer(&mut pool, &[false], 1.0, 2);
        assert_eq!(pool.hashes.len(), 1);
        assert_eq!(pool.position(&[true], state_hash(&[true])), None);
        let sols = pool.into_solutions();
        assert_eq!(sols.len(), 1);
        assert_eq!(sols[0].found_at_step, Some(2));
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut pool = Pool::new(0);
        offer(&mut pool, &[true], 1.0, 0);
        assert!(pool.into_solutions().is_empty());
    }
}
