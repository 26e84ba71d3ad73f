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
//! Cost per round: one oracle pass over the trajectory plus one matching of the pool. Two inner
//! solvers ([`Inner`]): the exact Hungarian method (`method="bundle"`), and the auction with
//! epsilon-scaling (`method="auction"`), whose cost does not grow with the graph's density and
//! which restarts from the previous point's prices; its matching and cover are within
//! `rows x eps` of each other, and both bounds stay valid whatever that gap.

use rustc_hash::{FxHashMap, FxHashSet};

use super::auction::auction;
use super::matching::max_weight_matching_warm;
use super::separate::{separate, PairIndex, SeparateConfig};
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
    /// The weights and the final epsilon of the last auction (empty before the first): the
    /// last matching and prices are `eps`-complementary-slack there, so at weights `w` they are
    /// `(eps + 2 max_e |w_e - last_w_e|)`-CS, where the next auction may start.
    pub last_w: Vec<f64>,
    pub last_eps: f64,
}

impl EdgePool {
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The solver of the matching on the pool's edges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Inner {
    /// Exact: successive shortest paths ([`max_weight_matching_warm`]); oracle rounds until no
    /// edge is uncovered beyond `tol`.
    Hungarian,
    /// [`auction`] with epsilon-scaling down to `eps`, warm from the pool's last matching and
    /// prices, from the epsilon they already satisfy ([`EdgePool::last_w`]; after an oracle
    /// round, `eps` plus the largest new violation), at most `eps0`. Oracle rounds stop as soon as the oracle's excess is at most `stop` (the upper
    /// bound counts it, so a small excess costs only that much gap), or after `rounds` rounds
    /// (the bounds and the cut are valid whenever it stops). `per_pair`: the oracle's cap on
    /// edges per pair and round ([`SeparateConfig::per_pair`]).
    Auction {
        eps: f64,
        eps0: f64,
        stop: f64,
        rounds: usize,
        per_pair: usize,
    },
}

/// What one evaluation found. `grad` is in the units of `w` (`f(a) = sum_i grad_i w_i` at the
/// point, and `f(a') >= sum_i grad_i w'_i` everywhere); `v_pair` is the optimal cover's pair
/// part `(global pair, value > 0)`. `bids`: auction bids (0 for the Hungarian method).
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub lower: f64,
    pub upper: f64,
    pub grad: Vec<f64>,
    pub matched: usize,
    pub v_pair: Vec<(u32, f64)>,
    pub rounds: usize,
    pub added: usize,
    pub bids: u64,
    pub seconds_separate: f64,
    pub seconds_match: f64,
}

/// Evaluate `f` at weights `w` (`w_i` = scaled `a_i / d_i`), growing `pool`. `per_step`: edges
/// the oracle may add per step and round; `tol`: violations at or below it are not added (the
/// upper bound still counts them); `inner`: the matching solver; `threads`: the oracle's
/// ([`SeparateConfig::threads`]).
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    attack: &Attack,
    index: &PairIndex,
    pool: &mut EdgePool,
    w: &[f64],
    per_step: usize,
    tol: f64,
    inner: Inner,
    threads: usize,
) -> Evaluation {
    let n = attack.categories.len();
    let steps = attack.steps();
    let g_n = attack.global_pairs.len();
    let mut out = Evaluation::default();
    let mut v_step = vec![0.0f64; steps];
    let mut v_pair: Vec<(u32, f64)>;
    let cfg = SeparateConfig {
        per_step: per_step.max(1),
        tol,
        max_rows: usize::MAX,
        horizon: usize::MAX,
        per_pair: match inner {
            Inner::Hungarian => usize::MAX,
            Inner::Auction { per_pair, .. } => per_pair.max(1),
        },
        threads: threads.max(1),
    };
    let debug = std::env::var_os("BYTEPAIR_MIXTURE_DEBUG").is_some();
    let mut col_of = vec![u32::MAX; g_n];
    let mut per_row = vec![0usize; steps + 1];
    // Where the next auction may start: the last matching and prices are eps-CS up to this.
    let mut start_eps = f64::INFINITY;
    if pool.last_w.len() == n {
        let moved: Vec<f64> = w.iter().zip(&pool.last_w).map(|(a, b)| a - b).collect();
        let mut shift = 0.0f64;
        for e in 0..pool.len() {
            let d = &pool.diff[e * n..(e + 1) * n];
            shift = shift.max(d.iter().zip(&moved).map(|(x, y)| x * y).sum::<f64>().abs());
        }
        start_eps = pool.last_eps + 2.0 * shift;
    }
    loop {
        out.rounds += 1;
        // ---- the matching on the pool's positive edges (CSR by step, counting sort) -------
        let t0 = std::time::Instant::now();
        let mut col_pair: Vec<u32> = Vec::new();
        let mut weight = vec![0.0f64; pool.len()];
        per_row.iter_mut().for_each(|x| *x = 0);
        for (e, we) in weight.iter_mut().enumerate() {
            let d = &pool.diff[e * n..(e + 1) * n];
            *we = -d.iter().zip(w).map(|(x, y)| x * y).sum::<f64>();
            if *we > 0.0 {
                per_row[pool.steps[e] as usize + 1] += 1;
                let p = pool.pairs[e] as usize;
                if col_of[p] == u32::MAX {
                    col_of[p] = col_pair.len() as u32;
                    col_pair.push(p as u32);
                }
            }
        }
        for t in 0..steps {
            per_row[t + 1] += per_row[t];
        }
        let total = per_row[steps];
        let mut edges: Vec<(u32, f64)> = vec![(0, 0.0); total];
        let mut edge_id: Vec<u32> = vec![0; total];
        let mut fill = per_row.clone();
        for (e, &we) in weight.iter().enumerate() {
            if we > 0.0 {
                let t = pool.steps[e] as usize;
                let k = fill[t];
                fill[t] += 1;
                edges[k] = (col_of[pool.pairs[e] as usize], we);
                edge_id[k] = e as u32;
            }
        }
        let row_step: Vec<u32> = (0..steps as u32)
            .filter(|&t| per_row[t as usize + 1] > per_row[t as usize])
            .collect();
        let mut start: Vec<usize> = row_step.iter().map(|&t| per_row[t as usize]).collect();
        start.push(total);
        let warm_rows: Vec<Option<u32>> = row_step
            .iter()
            .map(|t| {
                pool.matched
                    .get(t)
                    .map(|&p| col_of[p as usize])
                    .filter(|&c| c != u32::MAX)
            })
            .collect();
        let warm_price: Vec<f64> = col_pair
            .iter()
            .map(|p| pool.price.get(p).copied().unwrap_or(0.0))
            .collect();
        let warm = Some((&warm_rows[..], &warm_price[..]));
        let m = match inner {
            Inner::Hungarian => max_weight_matching_warm(col_pair.len(), &start, &edges, warm),
            Inner::Auction { eps, eps0, .. } => {
                let first = eps0.min(start_eps).max(eps);
                let (m, st) = auction(col_pair.len(), &start, &edges, warm, eps, first, 8.0);
                out.bids += st.bids;
                pool.last_w = w.to_vec();
                pool.last_eps = eps;
                m
            }
        };
        for &p in &col_pair {
            col_of[p as usize] = u32::MAX;
        }
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
        if debug {
            eprintln!(
                "  inner round {}: pool {}, {} rows, matched {}, +{} cuts, excess {:.4e}, \
                 bracket [{:.3}, {:.3}], bids {}, match {:.2}s, separate {:.2}s",
                out.rounds,
                pool.len(),
                row_step.len(),
                matched,
                cuts.len(),
                excess,
                out.lower,
                out.upper,
                out.bids,
                out.seconds_match,
                out.seconds_separate
            );
        }
        let enough = match inner {
            Inner::Hungarian => false,
            Inner::Auction { stop, rounds, .. } => excess <= stop || out.rounds >= rounds,
        };
        if cuts.is_empty() || enough {
            break;
        }
        out.added += cuts.len();
        // A new edge of violation V leaves its row's assignment (eps + V)-CS at worst.
        let worst = cuts.iter().map(|c| c.violation).fold(0.0f64, f64::max);
        start_eps = match inner {
            Inner::Auction { eps, .. } => eps + worst,
            Inner::Hungarian => f64::INFINITY,
        };
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
