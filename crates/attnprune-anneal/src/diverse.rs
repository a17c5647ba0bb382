//! Diverse selection among good solutions (e.g. the pool of an annealing run).

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use crate::result::Solution;

/// Picks up to `k` solutions, best value first, such that every pair differs in at least
/// `min_hamming` bits, spread across restarts and across numbers of true bits.
///
/// Exact semantics (deterministic, independent of the order of `solutions`):
///
/// * Candidates are ranked by value ascending (`f64::total_cmp`), then restart, then
///   `found_at_step` (`None` first), then state bits (`false < true`, lexicographic).
/// * The distance of two states is the number of positions where they differ plus the
///   difference of their lengths. A candidate is *compatible* when its distance to every picked
///   solution is at least `max(min_hamming, 1)`: identical states are never picked twice.
/// * Caps: with `R` distinct `restart` indices and `B` distinct ones-count buckets among all of
///   `solutions` (bucket = number of true bits / `ones_bucket_width`; a width of 0 puts everything
///   in one bucket), at most `ceil(k / R)` picks may share a restart and at most `ceil(k / B)` a
///   bucket.
/// * First pass: walk the ranking and pick every compatible candidate that keeps both caps.
///   Second pass: walk the ranking again and pick every compatible candidate not yet picked,
///   ignoring the caps. Both passes stop once `k` are picked.
/// * The result is in ranking order (so the overall best solution comes first). It is shorter
///   than `k` when fewer compatible candidates exist; `k == 0` or no solutions give an empty
///   result.
pub fn select_diverse(
    solutions: &[Solution],
    k: usize,
    min_hamming: usize,
    ones_bucket_width: usize,
) -> Vec<Solution> {
    if k == 0 || solutions.is_empty() {
        return Vec::new();
    }
    let order = ranking(solutions);
    let mut picker = Picker::new(solutions, &order, k, min_hamming.max(1), ones_bucket_width);
    for capped in [true, false] {
        for &i in &order {
            if picker.picked.len() == k {
                break;
            }
            picker.consider(i, capped);
        }
    }
    let mut picked = picker.picked;
    picked.sort_by_key(|&i| picker.rank[i]);
    picked.into_iter().map(|i| solutions[i].clone()).collect()
}

/// Indices of `solutions` in ranking order (see [`select_diverse`]).
fn ranking(solutions: &[Solution]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..solutions.len()).collect();
    order.sort_by(|&a, &b| compare(&solutions[a], &solutions[b]));
    order
}

/// The ranking order: value, restart, step found, state bits.
fn compare(a: &Solution, b: &Solution) -> Ordering {
    a.evaluation
        .value
        .total_cmp(&b.evaluation.value)
        .then(a.restart.cmp(&b.restart))
        .then(a.found_at_step.cmp(&b.found_at_step))
        .then_with(|| a.state.cmp(&b.state))
}

/// Number of true bits.
fn ones(state: &[bool]) -> usize {
    state.iter().filter(|&&b| b).count()
}

/// Whether `a` and `b` differ in at least `min` bits (length difference counts as differing).
fn at_least_apart(a: &[bool], b: &[bool], min: usize) -> bool {
    let mut d = a.len().abs_diff(b.len());
    for (x, y) in a.iter().zip(b) {
        if d >= min {
            return true;
        }
        d += usize::from(x != y);
    }
    d >= min
}

/// Greedy selection state shared by both passes.
struct Picker<'a> {
    solutions: &'a [Solution],
    min_hamming: usize,
    /// Ones-count bucket of each solution.
    bucket: Vec<usize>,
    /// Rank of each solution in the ranking order.
    rank: Vec<usize>,
    restart_cap: usize,
    bucket_cap: usize,
    per_restart: HashMap<usize, usize>,
    per_bucket: HashMap<usize, usize>,
    taken: Vec<bool>,
    picked: Vec<usize>,
}

impl<'a> Picker<'a> {
    /// A picker over `solutions` ranked as `order`, for `k` picks.
    fn new(
        solutions: &'a [Solution],
        order: &[usize],
        k: usize,
        min_hamming: usize,
        width: usize,
    ) -> Self {
        let bucket: Vec<usize> = solutions
            .iter()
            .map(|s| ones(&s.state).checked_div(width).unwrap_or(0))
            .collect();
        let restarts: BTreeSet<usize> = solutions.iter().map(|s| s.restart).collect();
        let buckets: BTreeSet<usize> = bucket.iter().copied().collect();
        let mut rank = vec![0; solutions.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r;
        }
        Self {
            solutions,
            min_hamming,
            bucket,
            rank,
            restart_cap: k.div_ceil(restarts.len().max(1)),
            bucket_cap: k.div_ceil(buckets.len().max(1)),
            per_restart: HashMap::new(),
            per_bucket: HashMap::new(),
            taken: vec![false; solutions.len()],
            picked: Vec::with_capacity(k.min(solutions.len())),
        }
    }

    /// Picks solution `i` if it is new, compatible, and (when `capped`) within both caps.
    fn consider(&mut self, i: usize, capped: bool) {
        if self.taken[i] || (capped && !self.within_caps(i)) || !self.compatible(i) {
            return;
        }
        self.taken[i] = true;
        self.picked.push(i);
        *self
            .per_restart
            .entry(self.solutions[i].restart)
            .or_insert(0) += 1;
        *self.per_bucket.entry(self.bucket[i]).or_insert(0) += 1;
    }

    /// Whether picking `i` keeps the per-restart and per-bucket caps.
    fn within_caps(&self, i: usize) -> bool {
        let restart = self.per_restart.get(&self.solutions[i].restart);
        let bucket = self.per_bucket.get(&self.bucket[i]);
        restart.is_none_or(|&n| n < self.restart_cap) && bucket.is_none_or(|&n| n < self.bucket_cap)
    }

    /// Whether `i` is at least `min_hamming` bits from every picked solution.
    fn compatible(&self, i: usize) -> bool {
        let state = &self.solutions[i].state;
        self.picked
            .iter()
            .all(|&j| at_least_apart(state, &self.solutions[j].state, self.min_hamming))
    }
}

/// Up to `k` proposals spread over the walks (`pools`: size caps and budget fractions, smallest
/// and safest first): `k / walks` (at least one) diverse ones from each, every two at least
/// `min_hamming` apart, then the best remaining ones of all pools. Sorted by predicted value.
pub fn spread_candidates(
    pools: &[Vec<Solution>],
    k: usize,
    min_hamming: usize,
    size_class: usize,
) -> Vec<Solution> {
    let far = |a: &Solution, chosen: &[Solution]| {
        chosen.iter().all(|c| {
            c.state.iter().zip(&a.state).filter(|(x, y)| x != y).count() >= min_hamming.max(1)
        })
    };
    let per = (k / pools.len().max(1)).max(1);
    let mut chosen: Vec<Solution> = Vec::new();
    for pool in pools {
        let mut taken = 0;
        for s in select_diverse(pool, pool.len(), min_hamming, size_class) {
            if taken < per && chosen.len() < k && far(&s, &chosen) {
                chosen.push(s);
                taken += 1;
            }
        }
    }
    let all: Vec<Solution> = pools.iter().flatten().cloned().collect();
    for s in select_diverse(&all, all.len(), min_hamming, size_class) {
        if chosen.len() < k && far(&s, &chosen) {
            chosen.push(s);
        }
    }
    chosen.sort_by(|a, b| a.evaluation.value.total_cmp(&b.evaluation.value));
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::Evaluation;

    fn solution(bits: &[usize], value: f64, restart: usize) -> Solution {
        let mut state = vec![false; 8];
        bits.iter().for_each(|&b| state[b] = true);
        Solution {
            state,
            evaluation: Evaluation::plain(value),
            restart,
            found_at_step: None,
        }
    }

    #[test]
    fn proposals_come_from_every_budget_fraction() {
        // The bold walk (second pool) finds better predicted values everywhere.
        let safe = vec![solution(&[0], 0.9, 0), solution(&[1], 0.8, 1)];
        let bold = vec![
            solution(&[2, 3, 4], 0.1, 2),
            solution(&[5, 6, 7], 0.2, 3),
            solution(&[2, 5, 7], 0.3, 2),
        ];
        let chosen = spread_candidates(&[safe, bold], 4, 1, 5);
        assert_eq!(chosen.len(), 4);
        assert!(
            chosen
                .iter()
                .any(|s| s.state.iter().filter(|&&b| b).count() == 1),
            "no safe proposal"
        );
        assert!(chosen
            .windows(2)
            .all(|w| w[0].evaluation.value <= w[1].evaluation.value));
        // Never the same mask twice, and never more than asked.
        let again = spread_candidates(
            &[vec![solution(&[0], 0.5, 0)], vec![solution(&[0], 0.5, 1)]],
            4,
            1,
            5,
        );
        assert_eq!(again.len(), 1);
    }
}
