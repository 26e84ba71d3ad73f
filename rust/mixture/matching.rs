//! Maximum-weight bipartite matching with an optimal cover (the LP dual), for the slack part of
//! the mixture LP at fixed proportions.
//!
//! For fixed proportions the mixture LP in the slacks is `min sum v_t + sum v_p` subject to
//! `v_t + v_p >= w_tp`, `v >= 0`: the dual of a maximum-weight matching between steps (rows) and
//! pairs (columns), where each row and each column is matched at most once. Both are returned:
//! the matching (a lower bound on the LP, and a subgradient in the proportions) and the cover
//! (an upper bound); at the optimum their values are equal.
//!
//! Idea: successive shortest augmenting paths (the Hungarian method in the form of Jonker and
//! Volgenant / Crouse, "On implementing 2D rectangular assignment algorithms", 2016) on a sparse
//! graph. Every row gets a private "null" column of weight 0, so the problem becomes an
//! assignment in which every row is assigned (to a pair or to its null column) and no column
//! twice. Rows are inserted one by one; each insertion is a Dijkstra search over reduced costs
//! (kept non-negative by the potentials) that stops at the first free column it reaches, and
//! the potentials of the columns it settled are updated. Column potentials start at 0 and only
//! move for settled columns, so a column never matched keeps potential 0: exactly the
//! complementary slackness of a column that may stay unmatched. A row's own null column is
//! always free, so a search is bounded by the row's best weight and stays local.
//!
//! Cost: one Dijkstra per row over the edges it reaches, `O(E log E)` each in the worst case;
//! in the mixture LP most searches stop after a few columns.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

const NONE: u32 = u32::MAX;

/// A maximum-weight matching and an optimal cover.
///
/// Invariants: `row_col[i]` is the real column matched to row i, or `None`; no column appears
/// twice; `v_row, v_col >= 0`; `v_row[i] + v_col[j] >= w_ij - eps` on every edge (eps: float
/// rounding); `value` = the matched weights' sum = (up to rounding) `sum v_row + sum v_col`.
#[derive(Debug, Clone, Default)]
pub struct Matching {
    pub row_col: Vec<Option<u32>>,
    pub v_row: Vec<f64>,
    pub v_col: Vec<f64>,
    pub value: f64,
}

/// Heap key: a finite f64 ordered by `total_cmp`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key(f64);
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The positive edges of a row-major sparse graph (row i's edges `edges[start[i]..start[i + 1]]`)
/// by column: `(col_start, col_rows)` with column j's `(row, weight)` pairs at
/// `col_rows[col_start[j]..col_start[j + 1]]`, rows ascending. One counting pass, one fill.
pub(super) fn by_column(
    cols: usize,
    start: &[usize],
    edges: &[(u32, f64)],
) -> (Vec<usize>, Vec<(u32, f64)>) {
    let mut col_start = vec![0usize; cols + 1];
    for &(j, w) in edges {
        if w > 0.0 {
            col_start[j as usize + 1] += 1;
        }
    }
    for j in 0..cols {
        col_start[j + 1] += col_start[j];
    }
    let mut fill = col_start.clone();
    let mut col_rows = vec![(0u32, 0.0f64); col_start[cols]];
    for i in 0..start.len().saturating_sub(1) {
        for &(j, w) in &edges[start[i]..start[i + 1]] {
            if w > 0.0 {
                col_rows[fill[j as usize]] = (i as u32, w);
                fill[j as usize] += 1;
            }
        }
    }
    (col_start, col_rows)
}

/// Maximum-weight matching of a sparse bipartite graph. Row i's edges are
/// `edges[start[i]..start[i + 1]]` as `(column, weight)` with `column < cols`; edges of weight
/// `<= 0` are ignored (they never help a maximum-weight matching). Weights must be finite.
pub fn max_weight_matching(cols: usize, start: &[usize], edges: &[(u32, f64)]) -> Matching {
    max_weight_matching_warm(cols, start, edges, None)
}

/// [`max_weight_matching`] started from a previous solution `(row_col, v_col)` (a matching and
/// column prices `>= 0`, e.g. of the same graph with other weights, or with fewer edges).
///
/// Warm start: keep the prices, give each row its best profit `u_i = max(0, max_j w_ij - v_j)`
/// (so every edge is covered), keep the previous matched edges that are still tight, and give
/// a row of profit 0 its null column. A column left free must have price 0 (otherwise the cover
/// is not optimal): such a column's price drops to 0, which may raise the profit of rows next
/// to it and free their columns in turn (a cascade). Then only the free rows are inserted.
/// The result is optimal whatever the start. (Measured in the mixture LP: between two points
/// of the outer loop the cascade frees nearly every row, so this saves little there.)
pub fn max_weight_matching_warm(
    cols: usize,
    start: &[usize],
    edges: &[(u32, f64)],
    warm: Option<(&[Option<u32>], &[f64])>,
) -> Matching {
    let rows = start.len().saturating_sub(1);
    let nc = cols + rows; // column cols + i is row i's private null column
    let mut u = vec![0.0f64; rows];
    let mut v = vec![0.0f64; nc];
    let mut col4row = vec![NONE; rows];
    let mut row4col = vec![NONE; nc];
    if let Some((prev, prices)) = warm {
        // Max form here: profit[i] >= 0, price[j] >= 0, profit + price >= w on every edge.
        let mut price: Vec<f64> = (0..cols)
            .map(|j| prices.get(j).copied().unwrap_or(0.0).max(0.0))
            .collect();
        let mut profit: Vec<f64> = (0..rows)
            .map(|i| {
                edges[start[i]..start[i + 1]]
                    .iter()
                    .filter(|e| e.1 > 0.0)
                    .map(|&(j, w)| w - price[j as usize])
                    .fold(0.0f64, f64::max)
            })
            .collect();
        for i in 0..rows {
            let keep = prev.get(i).copied().flatten().and_then(|j| {
                edges[start[i]..start[i + 1]]
                    .iter()
                    .find(|e| e.0 == j && e.1 > 0.0 && e.1 - price[j as usize] == profit[i])
            });
            if let Some(&(j, _)) = keep {
                if row4col[j as usize] == NONE {
                    row4col[j as usize] = i as u32;
                    col4row[i] = j;
                }
            }
            if col4row[i] == NONE && profit[i] == 0.0 {
                col4row[i] = (cols + i) as u32;
                row4col[cols + i] = i as u32;
            }
        }
        // Free columns must end at price 0: the cascade.
        let (col_start, col_rows) = by_column(cols, start, edges);
        let mut queue: Vec<u32> = (0..cols as u32)
            .filter(|&j| row4col[j as usize] == NONE && price[j as usize] > 0.0)
            .collect();
        while let Some(j) = queue.pop() {
            let j = j as usize;
            if row4col[j] != NONE || price[j] == 0.0 {
                continue;
            }
            price[j] = 0.0;
            for &(i, w) in &col_rows[col_start[j]..col_start[j + 1]] {
                let i = i as usize;
                if w > profit[i] {
                    profit[i] = w;
                    let k = std::mem::replace(&mut col4row[i], NONE);
                    if k != NONE {
                        row4col[k as usize] = NONE;
                        if (k as usize) < cols && price[k as usize] > 0.0 {
                            queue.push(k);
                        }
                    }
                }
            }
        }
        // To the min form used below (cost -w, potentials u + v <= cost).
        for i in 0..rows {
            u[i] = -profit[i];
        }
        for j in 0..cols {
            v[j] = -price[j];
        }
    }
    let mut shortest = vec![f64::INFINITY; nc];
    let mut path = vec![NONE; nc];
    let mut settled = vec![false; nc];
    let mut touched: Vec<u32> = Vec::new();
    let mut sr: Vec<u32> = Vec::new();
    let mut sc: Vec<u32> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(Key, u32)>> = BinaryHeap::new();

    for cur in 0..rows {
        if col4row[cur] != NONE {
            continue; // kept from the warm start
        }
        let own = &edges[start[cur]..start[cur + 1]];
        if own.iter().all(|&(_, w)| w <= 0.0) {
            // Only the null column: cost 0, potentials stay 0.
            let j = cols + cur;
            col4row[cur] = j as u32;
            row4col[j] = cur as u32;
            continue;
        }
        // ---- Dijkstra from row `cur` to the nearest free column ---------------------------
        let mut i = cur;
        let mut min_val = 0.0f64;
        let sink;
        loop {
            sr.push(i as u32);
            let relax = |j: usize,
                         cost: f64,
                         shortest: &mut Vec<f64>,
                         path: &mut Vec<u32>,
                         touched: &mut Vec<u32>,
                         heap: &mut BinaryHeap<Reverse<(Key, u32)>>| {
                if settled[j] {
                    return;
                }
                let r = min_val + cost - u[i] - v[j];
                if r < shortest[j] {
                    if shortest[j] == f64::INFINITY {
                        touched.push(j as u32);
                    }
                    shortest[j] = r;
                    path[j] = i as u32;
                    heap.push(Reverse((Key(r), j as u32)));
                }
            };
            for &(j, w) in &edges[start[i]..start[i + 1]] {
                if w > 0.0 {
                    relax(
                        j as usize,
                        -w,
                        &mut shortest,
                        &mut path,
                        &mut touched,
                        &mut heap,
                    );
                }
            }
            relax(
                cols + i,
                0.0,
                &mut shortest,
                &mut path,
                &mut touched,
                &mut heap,
            );
            // The nearest unsettled column (lazy deletion of outdated entries).
            let j = loop {
                let Reverse((Key(d), j)) = heap
                    .pop()
                    .expect("the row's own null column is always reachable");
                let j = j as usize;
                if !settled[j] && d == shortest[j] {
                    break j;
                }
            };
            min_val = shortest[j];
            settled[j] = true;
            sc.push(j as u32);
            if row4col[j] == NONE {
                sink = j;
                break;
            }
            i = row4col[j] as usize;
        }
        // ---- potentials, then augment ---------------------------------------------------
        u[cur] += min_val;
        for &r in &sr[1..] {
            let r = r as usize;
            u[r] += min_val - shortest[col4row[r] as usize];
        }
        for &j in &sc {
            let j = j as usize;
            v[j] -= min_val - shortest[j];
        }
        let mut j = sink;
        loop {
            let r = path[j] as usize;
            row4col[j] = r as u32;
            let prev = std::mem::replace(&mut col4row[r], j as u32);
            if r == cur {
                break;
            }
            j = prev as usize;
        }
        for &j in &touched {
            shortest[j as usize] = f64::INFINITY;
            settled[j as usize] = false;
        }
        touched.clear();
        sr.clear();
        sc.clear();
        heap.clear();
    }

    // Back to the max form: v_row = -u (clamped: a row on its null column has -u <= 0 and
    // every edge of it is covered by v_col alone), v_col = -v.
    let mut value = 0.0;
    let mut row_col = Vec::with_capacity(rows);
    for r in 0..rows {
        let j = col4row[r] as usize;
        if j < cols {
            let w = edges[start[r]..start[r + 1]]
                .iter()
                .find(|e| e.0 as usize == j)
                .map_or(0.0, |e| e.1);
            value += w;
            row_col.push(Some(j as u32));
        } else {
            row_col.push(None);
        }
    }
    Matching {
        row_col,
        v_row: u.iter().map(|&x| (-x).max(0.0)).collect(),
        v_col: v[..cols].iter().map(|&x| (-x).max(0.0)).collect(),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force over all matchings of a tiny graph.
    fn brute(rows: usize, w: &[Vec<f64>]) -> f64 {
        fn go(r: usize, rows: usize, w: &[Vec<f64>], used: &mut Vec<bool>) -> f64 {
            if r == rows {
                return 0.0;
            }
            let mut best = go(r + 1, rows, w, used);
            for j in 0..used.len() {
                if !used[j] && w[r][j] > 0.0 {
                    used[j] = true;
                    best = best.max(w[r][j] + go(r + 1, rows, w, used));
                    used[j] = false;
                }
            }
            best
        }
        let cols = w.first().map_or(0, Vec::len);
        go(0, rows, w, &mut vec![false; cols])
    }

    #[test]
    fn optimal_on_random_small_graphs() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for case in 0..400 {
            let rows = 1 + (rnd() % 6) as usize;
            let cols = 1 + (rnd() % 6) as usize;
            let w: Vec<Vec<f64>> = (0..rows)
                .map(|_| {
                    (0..cols)
                        .map(|_| {
                            if rnd() % 3 == 0 {
                                0.0
                            } else {
                                // ties are common in the LP: small integer weights, some negative
                                (rnd() % 9) as f64 - 2.0 + if case % 2 == 0 { 0.0 } else { 0.25 }
                            }
                        })
                        .collect()
                })
                .collect();
            let mut start = vec![0];
            let mut edges = Vec::new();
            for row in &w {
                for (j, &x) in row.iter().enumerate() {
                    if x != 0.0 {
                        edges.push((j as u32, x));
                    }
                }
                start.push(edges.len());
            }
            let m = max_weight_matching(cols, &start, &edges);
            // Warm starts from another graph's solution and from nonsense give the same value.
            let other: Vec<(u32, f64)> = edges
                .iter()
                .map(|&(j, w)| (j, w + 1.0 - (rnd() % 3) as f64))
                .collect();
            let prev = max_weight_matching(cols, &start, &other);
            let junk: Vec<f64> = (0..cols).map(|_| (rnd() % 5) as f64).collect();
            let junk_rows: Vec<Option<u32>> = (0..rows)
                .map(|_| Some((rnd() % cols as u64) as u32))
                .collect();
            for (pr, pv) in [
                (&prev.row_col, &prev.v_col),
                (&junk_rows, &junk),
                (&m.row_col, &m.v_col),
            ] {
                let again = max_weight_matching_warm(cols, &start, &edges, Some((pr, pv)));
                let want = brute(rows, &w);
                assert!(
                    (again.value - want).abs() < 1e-9,
                    "case {case} warm: {} vs {want}",
                    again.value
                );
                let cover: f64 = again.v_row.iter().sum::<f64>() + again.v_col.iter().sum::<f64>();
                assert!(
                    (cover - want).abs() < 1e-9,
                    "case {case} warm cover {cover} vs {want}"
                );
            }
            let want = brute(rows, &w);
            assert!(
                (m.value - want).abs() < 1e-9,
                "case {case}: {} vs {want}",
                m.value
            );
            let cover: f64 = m.v_row.iter().sum::<f64>() + m.v_col.iter().sum::<f64>();
            assert!(
                (cover - want).abs() < 1e-9,
                "case {case}: cover {cover} vs {want}"
            );
            let mut used = vec![false; cols];
            for (r, c) in m.row_col.iter().enumerate() {
                if let Some(c) = *c {
                    assert!(!used[c as usize]);
                    used[c as usize] = true;
                    assert!(w[r][c as usize] > 0.0);
                }
                for (j, &x) in w[r].iter().enumerate() {
                    assert!(m.v_row[r] + m.v_col[j] >= x - 1e-9);
                }
            }
        }
    }
}
