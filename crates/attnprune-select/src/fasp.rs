//! FASP's head selection (Zayed et al., AAAI 2024).

use attnprune_mask::HeadId;

/// The heads FASP prunes for `(alpha, gamma)`, from each head's single-knockout
/// `(head, bias when removed, perplexity when removed)`: protect the `gamma` share of all
/// heads whose removal raises perplexity most, then, among the rest, prune the
/// `alpha x total` heads whose removal lowers bias most (only heads that lower it below
/// `base_bias`). Ties are broken by head order, so the selection is deterministic.
pub fn fasp_select(
    singles: &[(HeadId, f64, f64)],
    total: usize,
    base_bias: f64,
    alpha: f64,
    gamma: f64,
) -> Vec<HeadId> {
    let mut by_ppl: Vec<&(HeadId, f64, f64)> = singles.iter().collect();
    by_ppl.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    let protected = ((gamma * total as f64).round() as usize).min(by_ppl.len());
    let mut rest: Vec<&(HeadId, f64, f64)> = by_ppl[protected..]
        .iter()
        .copied()
        .filter(|h| h.1 < base_bias)
        .collect();
    rest.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let k = (alpha * total as f64).round() as usize;
    let mut heads: Vec<HeadId> = rest.iter().take(k).map(|h| h.0).collect();
    heads.sort();
    heads
}

/// FASP's distinct non-empty selections over the grid of `gammas` x `alphas` (gamma the outer
/// loop), each with the `(alpha, gamma)` that first gave it: the candidates FASP measures.
/// Arguments as [`fasp_select`]'s.
pub fn fasp_grid(
    singles: &[(HeadId, f64, f64)],
    total: usize,
    base_bias: f64,
    alphas: &[f64],
    gammas: &[f64],
) -> Vec<(f64, f64, Vec<HeadId>)> {
    let mut grid: Vec<(f64, f64, Vec<HeadId>)> = Vec::new();
    for &gamma in gammas {
        for &alpha in alphas {
            let heads = fasp_select(singles, total, base_bias, alpha, gamma);
            if !heads.is_empty() && !grid.iter().any(|c| c.2 == heads) {
                grid.push((alpha, gamma, heads));
            }
        }
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(layer: usize, head: usize) -> HeadId {
        HeadId { layer, head }
    }

    /// Four heads' knockouts `(head, bias when removed, perplexity when removed)`; the
    /// unpruned bias is 1.0.
    fn singles() -> Vec<(HeadId, f64, f64)> {
        vec![
            (h(0, 0), 0.2, 50.0),
            (h(0, 1), 0.5, 10.0),
            (h(1, 0), 0.7, 11.0),
            (h(1, 1), 1.5, 10.5),
        ]
    }

    #[test]
    fn fasp_protects_perplexity_heads_then_takes_bias_reducers() {
        let singles = singles();
        // gamma 0.25 protects head (0,0) (worst perplexity); alpha 0.5 -> 2 heads among bias reducers.
        assert_eq!(
            fasp_select(&singles, 4, 1.0, 0.5, 0.25),
            vec![h(0, 1), h(1, 0)]
        );
        // (1,1) raises bias: never pruned.
        assert_eq!(
            fasp_select(&singles, 4, 1.0, 1.0, 0.0),
            vec![h(0, 0), h(0, 1), h(1, 0)]
        );
    }

    #[test]
    fn the_grid_keeps_each_distinct_selection_once() {
        let singles = singles();
        // alpha 0 selects nothing (dropped); gamma 0.25 protects (0,0), the worst for
        // perplexity; (1,1) raises bias and is never taken.
        let grid = fasp_grid(&singles, 4, 1.0, &[0.0, 0.25, 0.5], &[0.0, 0.25]);
        let selections: Vec<(f64, f64, Vec<HeadId>)> = vec![
            (0.25, 0.0, vec![h(0, 0)]),
            (0.5, 0.0, vec![h(0, 0), h(0, 1)]),
            (0.25, 0.25, vec![h(0, 1)]),
            (0.5, 0.25, vec![h(0, 1), h(1, 0)]),
        ];
        assert_eq!(grid, selections);
        assert!(fasp_grid(&singles, 4, 1.0, &[0.0], &[0.0, 0.5]).is_empty());
        // A selection repeated by a later grid point is kept once, with its first point.
        let repeated = fasp_grid(&singles, 4, 1.0, &[0.25, 0.3], &[0.0]);
        assert_eq!(repeated, vec![(0.25, 0.0, vec![h(0, 0)])]);
    }
}
