//! The mixture LP's value at fixed proportions, exactly: the inner problem of the outer
//! cutting-plane (level bundle) method over the proportions (Python, `bytepair.mixture`).
//!
//! For fixed proportions `a`, the LP in the slacks is the dual of a maximum-weight matching
//! between steps and pairs with weights `w_tp(a) = sum_i w_i (c_i^t(p) - c_i^t(m_t))`
//! ([`super::matching`]). So the whole LP is `min over the simplex of f(a)`, `f(a)` = the
//! maximum matching weight: convex, piecewise linear, and every matching M found at any point
//! gives a cut `f(a') >= g_M . a'` valid everywhere (`g_M` = the sum over M's edges of the count
//! differences).
//!
//! Idea: the graph is far too big to write down, but a maximum matching uses few of its edges.
//! An [`EdgePool`] keeps the edges found so far (across evaluations: nearby points need nearly
//! the same edges). An evaluation solves the matching on the pool's edges that are positive at
//! `a`, takes the optimal cover `(v_t, v_p)`, and asks the separation oracle
//! ([`super::separate`]) for edges of the full graph that the cover leaves uncovered; they join
//! the pool and the matching is solved again, until the cover covers every edge (up to `tol`).
//! Bounds: the matching's weight is a lower bound on `f(a)`; the cover's value plus the oracle's
//! excess (each step's largest remaining violation) is an upper bound, with no tolerance.
//!
//! Cost per round: one oracle pass over the trajectory plus one matching of the pool.

use rustc_hash::{FxHashMap, FxHashSet};

use super::matching::max_weight_matching_warm;
use super::separate::{separate, SeparateConfig};
use super::Attack;

/// Edges `(step, pair)` of the matching graph found so far, with their count differences.
///
/// Invariants: `steps`, `pairs` have one entry per edge, `diff` has `n` per edge (row-major):
/// `c_i^t(m_t) - c_i^t(p)` as the oracle returned it; `set` holds every `(step, pair)` once;
/// `matched` and `price` refer to pool edges and pairs.
#[derive(Debug, Clone, Default)]
pub struct EdgePool {
    pub steps: Vec<u32>,
    pub pairs: Vec<u32>,
    pub diff: Vec<f64>,
    pub set: FxHashSet<(u32, u32)>,
    /// The last matching (step -> pair) and cover prices (pair -> value > 0): the warm start
    /// of the next matching.
    pub matched: FxHashMap<u32, u32>,
    pub price: FxHashMap<u32, f64>,
}

impl EdgePool {
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// What one evaluation found. `grad` is in the units of `w` (`f(a) = sum_i grad_i w_i` at the
/// point, and `f(a') >= sum_i grad_i w'_i` everywhere); `v_pair` is the optimal cover's pair
/// part `(global pair, value > 0)`.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub lower: f64,
    pub upper: f64,
    pub grad: Vec<f64>,
    pub matched: usize,
    pub v_pair: Vec<(u32, f64)>,
    pub rounds: usize,
    pub added: usize,
    pub seconds_separate: f64,
    pub seconds_match: f64,
}

/// Evaluate `f` at weights `w` (`w_i` = scaled `a_i / d_i`), growing `pool`. `per_step`: edges
/// the oracle may add per step and round; `tol`: violations at or below it are not added (the
/// upper bound still counts them).
pub fn evaluate(
    attack: &Attack,
    index: &[Vec<(u32, u32)>],
    pool: &mut EdgePool,
    w: &[f64],
    per_step: usize,
    tol: f64,
) -> Evaluation {
    let n = attack.categories.len();
    let steps = attack.steps();
    let mut out = Evaluation::default();
    let mut v_step = vec![0.0f64; steps];
    let mut v_pair: Vec<(u32, f64)>;
    let cfg = SeparateConfig {
        per_step: per_step.max(1),
        tol,
        max_rows: usize::MAX,
        horizon: usize::MAX,
    };
    loop {
        out.rounds += 1;
        // ---- the matching on the pool's positive edges -----------------------------------
        let t0 = std::time::Instant::now();
        let mut col_of: FxHashMap<u32, u32> = FxHashMap::default();
        let mut col_pair: Vec<u32> = Vec::new();
        let mut by_step: Vec<(u32, u32, f64, u32)> = Vec::new(); // (step, col, weight, edge)
        for e in 0..pool.len() {
            let d = &pool.diff[e * n..(e + 1) * n];
            let we: f64 = -d.iter().zip(w).map(|(x, y)| x * y).sum::<f64>();
            if we > 0.0 {
                let p = pool.pairs[e];
                let c = *col_of.entry(p).or_insert_with(|| {
                    col_pair.push(p);
                    (col_pair.len() - 1) as u32
                });
                by_step.push((pool.steps[e], c, we, e as u32));
            }
        }
        by_step.sort_unstable_by_key(|x| (x.0, x.1));
        let mut row_step: Vec<u32> = Vec::new();
        let mut start: Vec<usize> = Vec::new();
        let mut edges: Vec<(u32, f64)> = Vec::with_capacity(by_step.len());
        let mut edge_id: Vec<u32> = Vec::with_capacity(by_step.len());
        for &(t, c, we, e) in &by_step {
            if row_step.last() != Some(&t) {
                row_step.push(t);
                start.push(edges.len());
            }
            edges.push((c, we));
            edge_id.push(e);
        }
        start.push(edges.len());
        let warm_rows: Vec<Option<u32>> = row_step
            .iter()
            .map(|t| pool.matched.get(t).and_then(|p| col_of.get(p).copied()))
            .collect();
        let warm_price: Vec<f64> = col_pair
            .iter()
            .map(|p| pool.price.get(p).copied().unwrap_or(0.0))
            .collect();
        let m = max_weight_matching_warm(
            col_pair.len(),
            &start,
            &edges,
            Some((&warm_rows, &warm_price)),
        );
        pool.matched.clear();
        for (r, c) in m.row_col.iter().enumerate() {
            if let Some(c) = *c {
                pool.matched.insert(row_step[r], col_pair[c as usize]);
            }
        }
        v_step.iter_mut().for_each(|x| *x = 0.0);
        for (r, &t) in row_step.iter().enumerate() {
            v_step[t as usize] = m.v_row[r];
        }
        v_pair = col_pair
            .iter()
            .zip(&m.v_col)
            .filter(|x| *x.1 > 0.0)
            .map(|(&p, &x)| (p, x))
            .collect();
        pool.price = v_pair.iter().copied().collect();
        let mut grad = vec![0.0f64; n];
        let mut matched = 0;
        for (r, c) in m.row_col.iter().enumerate() {
            let Some(c) = *c else { continue };
            let k = (start[r]..start[r + 1])
                .find(|&k| edges[k].0 == c)
                .expect("a matched column is one of the row's edges");
            let e = edge_id[k] as usize;
            for (g, d) in grad.iter_mut().zip(&pool.diff[e * n..(e + 1) * n]) {
                *g -= d;
            }
            matched += 1;
        }
        out.lower = grad.iter().zip(w).map(|(g, x)| g * x).sum::<f64>().max(0.0);
        out.grad = grad;
        out.matched = matched;
        out.seconds_match += t0.elapsed().as_secs_f64();
        // ---- edges the cover leaves uncovered -------------------------------------------
        let t0 = std::time::Instant::now();
        let (cuts, excess) = separate(attack, index, w, &v_step, &v_pair, &pool.set, cfg);
        out.seconds_separate += t0.elapsed().as_secs_f64();
        out.upper = v_step.iter().sum::<f64>() + v_pair.iter().map(|x| x.1).sum::<f64>() + excess;
        if cuts.is_empty() {
            break;
        }
        out.added += cuts.len();
        for c in cuts {
            pool.set.insert((c.step, c.pair));
            pool.steps.push(c.step);
            pool.pairs.push(c.pair);
            pool.diff.extend_from_slice(&c.diff);
        }
    }
    out.v_pair = v_pair;
    out
}
