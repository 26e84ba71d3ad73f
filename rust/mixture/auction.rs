//! Maximum-weight bipartite matching by the auction algorithm with epsilon-scaling (Bertsekas,
//! "The auction algorithm: a distributed relaxation method for the assignment problem", 1988;
//! Bertsekas and Castanon, "A forward/reverse auction algorithm for asymmetric assignment
//! problems", 1992): the inner solver of `method="auction"` of the mixture LP, where the
//! Hungarian search of [`super::matching`] is too slow because the graph is dense.
//!
//! Idea: rows (steps) are persons, columns (pairs) objects with prices `p_j >= 0`; every row
//! also has a private null object of weight 0 and price 0 (a row may stay unmatched). An
//! unassigned row bids for its best object `j1` (largest `w_ij - p_j`, null included), raising
//! `p_j1` by (best - second best + eps) and taking it from its previous owner, who bids next.
//! When every row is assigned, each row's profit is within `eps` of its best (eps-complementary
//! slackness). Epsilon-scaling runs phases with a falling `eps`, keeping the prices (and the
//! assignments still eps-CS) between phases, so a phase only repairs what moved; a warm start
//! from another point's prices is just one more such phase. Prices only rise in the forward
//! auction, so a column left unassigned may keep a positive price: at the end each such price
//! is lowered as far as the rows' profits allow (a reverse step that keeps every edge covered).
//!
//! Result: a matching (a lower bound and, in the mixture LP, a valid cut) and an exactly
//! feasible cover `v_row[i] = max(0, max_j w_ij - v_col[j])`, `v_col = prices`, whose value
//! exceeds the matching's by at most `rows x eps` plus the prices of unassigned columns that
//! could not be lowered to 0 (both reported: the caller decides whether the gap is small
//! enough). Cost: each bid scans its row's edges; eps-scaling keeps the number of bids per row
//! near `O(log(max weight / eps))` in practice, independent of how dense the graph is.

use super::matching::{by_column, Matching};

const NONE: u32 = u32::MAX;
const NULL: u32 = u32::MAX - 1;

/// Counters of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuctionStats {
    pub bids: u64,
    pub phases: u32,
    /// Cover value minus matching value (>= 0 up to rounding).
    pub gap: f64,
}

/// The row's best and second-best profit `w_ij - p_j` over its positive edges and the null
/// object (profit 0): `(best column or NULL, its weight (0 for NULL), best, second)`.
#[inline]
fn best_two(row: &[(u32, f64)], price: &[f64]) -> (u32, f64, f64, f64) {
    // Branch-free top two (the scan is most of the auction's time and its comparisons are
    // unpredictable): b2 takes min(b, b1) when it is larger, b1 takes b; an edge of weight
    // <= 0 scores -inf. The same results as the obvious `if b > b1 {..} else if b > b2 {..}`.
    let (mut j1, mut w1, mut b1, mut b2) = (NULL, 0.0f64, 0.0f64, f64::NEG_INFINITY);
    for &(j, w) in row {
        let b = if w > 0.0 {
            w - price[j as usize]
        } else {
            f64::NEG_INFINITY
        };
        let lo = if b < b1 { b } else { b1 };
        b2 = if lo > b2 { lo } else { b2 };
        j1 = if b > b1 { j } else { j1 };
        w1 = if b > b1 { w } else { w1 };
        b1 = if b > b1 { b } else { b1 };
    }
    // The null object is always a candidate: if it is not the best, it bounds the second.
    if j1 != NULL {
        b2 = b2.max(0.0);
    }
    (j1, w1, b1, b2)
}

/// A graph's positive edges by column, `(col_start, col_rows)` of [`by_column`].
type ByColumn = (Vec<usize>, Vec<(u32, f64)>);

/// The reverse auction for columns left unassigned with a positive price; returns its bids.
/// On entry every row is assigned (a column or NULL) and eps-CS holds; on exit, too, and every
/// unassigned column has price 0.
#[allow(clippy::too_many_arguments)]
fn reverse(
    cols: usize,
    rows: usize,
    start: &[usize],
    edges: &[(u32, f64)],
    by_col: &mut Option<ByColumn>,
    price: &mut [f64],
    owner: &mut [u32],
    assign: &mut [u32],
    own: &mut [f64],
    eps: f64,
) -> u64 {
    let mut queue: Vec<u32> = (0..cols as u32)
        .filter(|&j| owner[j as usize] == NONE && price[j as usize] > 0.0)
        .collect();
    if queue.is_empty() {
        return 0;
    }
    // Columns' positive edges (CSR, built at the first call of a run) and each row's profit.
    let (col_start, col_rows) = &*by_col.get_or_insert_with(|| by_column(cols, start, edges));
    let mut profit: Vec<f64> = (0..rows)
        .map(|i| match assign[i] {
            NONE | NULL => 0.0,
            j => own[i] - price[j as usize],
        })
        .collect();
    let mut bids = 0;
    while let Some(j) = queue.pop() {
        let j = j as usize;
        if owner[j] != NONE || price[j] <= 0.0 {
            continue;
        }
        bids += 1;
        let (mut i1, mut w1, mut b1, mut b2) = (NONE, 0.0f64, f64::NEG_INFINITY, 0.0f64);
        for &(i, w) in &col_rows[col_start[j]..col_start[j + 1]] {
            let b = w - profit[i as usize];
            if b > b1 {
                b2 = b2.max(b1);
                b1 = b;
                i1 = i;
                w1 = w;
            } else if b > b2 {
                b2 = b;
            }
        }
        if i1 == NONE || b1 <= eps {
            price[j] = 0.0; // no row gains more than eps from it: eps-CS holds at price 0
            continue;
        }
        price[j] = (b2 - eps).max(0.0);
        let i = i1 as usize;
        profit[i] = w1 - price[j];
        let old = std::mem::replace(&mut assign[i], j as u32);
        own[i] = w1;
        owner[j] = i1;
        if old != NONE && old != NULL {
            owner[old as usize] = NONE;
            if price[old as usize] > 0.0 {
                queue.push(old);
            }
        }
    }
    bids
}

/// Maximum-weight matching of a sparse bipartite graph by the auction algorithm (see the module
/// docs). Row i's edges are `edges[start[i]..start[i + 1]]` as `(column, weight)`, `column <
/// cols`; weights `<= 0` are ignored; weights must be finite. `warm`: a previous assignment and
/// column prices (e.g. at a nearby point of the outer loop), or None. `eps`: the final
/// epsilon; `eps0`: the first phase's (phases divide it by `factor` until `eps`).
pub fn auction(
    cols: usize,
    start: &[usize],
    edges: &[(u32, f64)],
    warm: Option<(&[Option<u32>], &[f64])>,
    eps: f64,
    eps0: f64,
    factor: f64,
) -> (Matching, AuctionStats) {
    let rows = start.len().saturating_sub(1);
    let row = |i: usize| &edges[start[i]..start[i + 1]];
    let mut price = vec![0.0f64; cols];
    let mut owner = vec![NONE; cols];
    let mut assign = vec![NONE; rows];
    // The weight of each row's assigned edge (so its profit is `own[i] - price[assign[i]]`).
    let mut own = vec![0.0f64; rows];
    if let Some((prev, prices)) = warm {
        for (j, p) in price.iter_mut().enumerate() {
            *p = prices.get(j).copied().unwrap_or(0.0).max(0.0);
        }
        for (i, slot) in assign.iter_mut().enumerate() {
            if let Some(Some(j)) = prev.get(i).copied() {
                let edge = row(i).iter().find(|e| e.0 == j && e.1 > 0.0);
                if let Some(&(_, w)) = edge.filter(|_| owner[j as usize] == NONE) {
                    owner[j as usize] = i as u32;
                    *slot = j;
                    own[i] = w;
                }
            }
        }
    }
    let eps = eps.max(f64::MIN_POSITIVE);
    let factor = factor.max(1.5);
    let mut e = eps0.max(eps);
    let mut stats = AuctionStats::default();
    let mut queue: Vec<u32> = Vec::with_capacity(rows);
    let mut by_col = None;
    loop {
        stats.phases += 1;
        // Keep the assignments that are eps-CS at this phase's eps; free the others.
        for (i, slot) in assign.iter_mut().enumerate() {
            let (_, _, b1, _) = best_two(row(i), &price);
            let cur = *slot;
            let keep = match cur {
                NONE => false,
                NULL => b1 <= e,
                j => own[i] - price[j as usize] >= b1 - e,
            };
            if !keep {
                if cur != NONE && cur != NULL {
                    owner[cur as usize] = NONE;
                }
                *slot = NONE;
                queue.push(i as u32);
            }
        }
        while let Some(i) = queue.pop() {
            let i = i as usize;
            stats.bids += 1;
            let (j1, w1, b1, b2) = best_two(row(i), &price);
            if j1 == NULL {
                assign[i] = NULL;
                continue;
            }
            let j = j1 as usize;
            price[j] += b1 - b2 + e;
            let old = std::mem::replace(&mut owner[j], i as u32);
            assign[i] = j1;
            own[i] = w1;
            if old != NONE {
                assign[old as usize] = NONE;
                queue.push(old);
            }
        }
        // Reverse auction (Bertsekas and Castanon): an unassigned column must end at price 0.
        // It lowers its price to (second best - eps) and takes its best row, whose old column
        // may become unassigned in turn; or, if no row gains more than eps from it, drops to 0.
        // Run in every phase, so the last phases only make small corrections.
        stats.bids += reverse(
            cols,
            rows,
            start,
            edges,
            &mut by_col,
            &mut price,
            &mut owner,
            &mut assign,
            &mut own,
            e,
        );
        if e <= eps {
            break;
        }
        e = (e / factor).max(eps);
    }

    // The cover: each row's exact best profit (so every edge is covered).
    let profit: Vec<f64> = (0..rows).map(|i| best_two(row(i), &price).2).collect();
    let mut value = 0.0;
    let row_col: Vec<Option<u32>> = (0..rows)
        .map(|i| match assign[i] {
            NONE | NULL => None,
            j => {
                value += own[i];
                Some(j)
            }
        })
        .collect();
    let cover: f64 = profit.iter().sum::<f64>() + price.iter().sum::<f64>();
    stats.gap = cover - value;
    (
        Matching {
            row_col,
            v_row: profit,
            v_col: price,
            value,
        },
        stats,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mixture::max_weight_matching;

    fn graph(
        rnd: &mut impl FnMut() -> u64,
        rows: usize,
        cols: usize,
    ) -> (Vec<usize>, Vec<(u32, f64)>) {
        let mut start = vec![0];
        let mut edges = Vec::new();
        for _ in 0..rows {
            for j in 0..cols {
                if rnd() % 3 != 0 {
                    edges.push((
                        j as u32,
                        (rnd() % 9) as f64 - 2.0 + (rnd() % 4) as f64 * 0.25,
                    ));
                }
            }
            start.push(edges.len());
        }
        (start, edges)
    }

    #[test]
    fn matches_the_hungarian_method_within_rows_times_eps() {
        let mut seed = 987654321u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for case in 0..300 {
            let rows = 1 + (rnd() % 12) as usize;
            let cols = 1 + (rnd() % 12) as usize;
            let (start, edges) = graph(&mut rnd, rows, cols);
            let exact = max_weight_matching(cols, &start, &edges).value;
            let eps = [1e-3, 1e-6][case % 2];
            // cold, and warm from another graph's prices and junk
            let (other_s, other_e) = graph(&mut rnd, rows, cols);
            let (prev, _) = auction(cols, &other_s, &other_e, None, 1e-3, 4.0, 4.0);
            let junk: Vec<f64> = (0..cols).map(|_| (rnd() % 7) as f64).collect();
            let junk_rows: Vec<Option<u32>> = (0..rows)
                .map(|_| Some((rnd() % cols as u64) as u32))
                .collect();
            for warm in [
                None,
                Some((&prev.row_col[..], &prev.v_col[..])),
                Some((&junk_rows[..], &junk[..])),
            ] {
                let (m, st) = auction(cols, &start, &edges, warm, eps, 8.0, 4.0);
                // a matching: each column once, positive edges only, value = its weights
                let mut used = vec![false; cols];
                let mut value = 0.0;
                for (i, c) in m.row_col.iter().enumerate() {
                    if let Some(c) = *c {
                        assert!(!used[c as usize]);
                        used[c as usize] = true;
                        let w = edges[start[i]..start[i + 1]]
                            .iter()
                            .find(|e| e.0 == c)
                            .unwrap()
                            .1;
                        assert!(w > 0.0);
                        value += w;
                    }
                }
                assert!((value - m.value).abs() < 1e-9);
                assert!(
                    m.value <= exact + 1e-9,
                    "case {case}: {} > {exact}",
                    m.value
                );
                // a feasible cover
                for i in 0..rows {
                    assert!(m.v_row[i] >= 0.0);
                    for &(j, w) in &edges[start[i]..start[i + 1]] {
                        assert!(m.v_row[i] + m.v_col[j as usize] >= w - 1e-9);
                    }
                }
                let cover: f64 = m.v_row.iter().sum::<f64>() + m.v_col.iter().sum::<f64>();
                assert!(cover >= exact - 1e-9);
                assert!((cover - m.value - st.gap).abs() < 1e-9);
                // eps-optimal: the bracket is at most rows x eps wide, apart from prices of
                // unassigned columns the reverse step could not lower (none in these cases)
                assert!(
                    st.gap <= rows as f64 * eps + 1e-9,
                    "case {case}: gap {} (eps {eps}, {rows} rows)",
                    st.gap
                );
            }
        }
    }
}
