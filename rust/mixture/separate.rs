//! The separation oracle of the mixture LP: given the current solution, find the most violated
//! "merge t beat pair p" constraints over all steps in one pass over the recorded trajectory.
//!
//! Constraint (t, p), for every step t and pair p other than the merge m_t:
//! `sum_i w_i (c_i^t(m_t) - c_i^t(p)) + v_t + v_p >= 0` with `w_i = a_i / d_i` (scaled). Its
//! violation is `prio_t(p) - v_p - (prio_t(m_t) + v_t)` where `prio_t(x) = sum_i w_i c_i^t(x)`.
//!
//! Idea: walk the steps in order, keeping `prio(p) - v_p` of every pair in a max-heap with lazy
//! invalidation (a version stamp per pair; each step's changed pairs are re-pushed once). At step
//! t, pop entries while they exceed the cutoff `prio_t(m_t) + v_t + tol`, keep up to `per_step` of
//! them that are not rows yet, and push the popped ones back. Violations are then recomputed from
//! the exact integer counts, so float drift in the running priorities never creates a row.
//! Cost per pass: O((initial pairs + recorded changes) x log) plus O(popped) per step; noisy late
//! merges cost only the entries above their cutoff, never a scan of all pairs.
//!
//! The tolerance must be looser than the LP solver's feasibility tolerance: a row already in the
//! LP can be violated by up to that much at the solver's optimum, and re-adding it would loop.
//! Rows already present are skipped anyway (the caller passes them), which bounds the number of
//! rounds by the number of possible rows.

use std::collections::BinaryHeap;

use rustc_hash::{FxHashMap, FxHashSet};

use super::Attack;

/// Parameters of one separation pass.
#[derive(Debug, Clone, Copy)]
pub struct SeparateConfig {
    /// At most this many rows per step (the most violated ones).
    pub per_step: usize,
    /// Violations at or below this are ignored.
    pub tol: f64,
    /// At most this many rows in all (the most violated ones over all steps).
    pub max_rows: usize,
    /// Only steps `0..horizon` are searched (the LP may be grown over the merge list).
    pub horizon: usize,
    /// At most this many rows per pair in one pass, its most violated steps (`usize::MAX`: no
    /// cap). A pair violated at thousands of steps (a frequent pair merged late or never)
    /// needs one slack, not thousands of rows. With a cap, each step offers its `8 x per_step`
    /// most violated entries (instead of `per_step` rows) to their pairs.
    pub per_pair: usize,
}

/// A violated constraint: step, global pair id, violation, and per category
/// `c_i^t(m_t) - c_i^t(p)` (raw counts; the caller scales them by `1 / d_i`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub step: u32,
    pub pair: u32,
    pub violation: f64,
    pub diff: Vec<f64>,
}

/// Heap entry; `key` holds the bits of a positive finite f64 (whose bit patterns order like the
/// numbers), so the derived order is the numeric order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    key: u64,
    pair: u32,
    version: u32,
}

/// Per category, the local id of each global pair, for the count lookups of the separation
/// pass (one for every entry it pops).
///
/// Dense (`u32::MAX`: not in that category's sample; `categories x pairs x 4` bytes, O(1)
/// lookups) while that stays under [`DENSE_INDEX_MAX_BYTES`]; otherwise (many categories, or
/// huge samples: a 149-category attack with a million distinct pairs would need 600 MB) each
/// category's sorted `(global, local)` list, binary-searched, whose size is the pairs that
/// category really has. Both give the same answers (tested).
pub enum PairIndex {
    Dense(Vec<Vec<u32>>),
    Sorted(Vec<Vec<(u32, u32)>>),
}

/// The dense [`PairIndex`] up to this size (256 MiB).
pub const DENSE_INDEX_MAX_BYTES: usize = 1 << 28;

impl PairIndex {
    /// The index of `attack`: dense if it fits [`DENSE_INDEX_MAX_BYTES`].
    pub fn new(attack: &Attack) -> Self {
        Self::with_budget(attack, DENSE_INDEX_MAX_BYTES)
    }

    /// The index of `attack`: dense if it takes at most `max_bytes`, else sorted lists.
    pub fn with_budget(attack: &Attack, max_bytes: usize) -> Self {
        let g_n = attack.global_pairs.len();
        let dense_bytes = attack.to_global.len().saturating_mul(g_n).saturating_mul(4);
        if dense_bytes <= max_bytes {
            let dense = attack.to_global.iter().map(|m| {
                let mut v = vec![u32::MAX; g_n];
                for (l, &g) in m.iter().enumerate() {
                    v[g as usize] = l as u32;
                }
                v
            });
            return PairIndex::Dense(dense.collect());
        }
        let sorted = attack.to_global.iter().map(|m| {
            let mut v: Vec<(u32, u32)> =
                m.iter().enumerate().map(|(l, &g)| (g, l as u32)).collect();
            v.sort_unstable();
            v
        });
        PairIndex::Sorted(sorted.collect())
    }

    /// The local id of global pair `g` in category `i`, if that category's sample has it.
    #[inline]
    pub fn local(&self, i: usize, g: u32) -> Option<u32> {
        match self {
            PairIndex::Dense(d) => match d[i][g as usize] {
                u32::MAX => None,
                l => Some(l),
            },
            PairIndex::Sorted(s) => s[i]
                .binary_search_by_key(&g, |&(gg, _)| gg)
                .ok()
                .map(|k| s[i][k].1),
        }
    }
}

/// One separation pass. `w[i]` = scaled `a_i / d_i`; `v_step[t]`; `v_pair` = the pair slacks
/// that exist, as `(global id, value)`; `existing` = rows already in the LP, as `(step, pair)`.
/// Returns the cuts, most violated first, and the excess: the sum over the searched steps of
/// each step's largest violation over all pairs (rows already in the LP included). Raising
/// every `v_t` by its step's largest violation makes the point feasible for the full LP, so
/// the point's objective plus the excess is an upper bound on the optimum.
#[allow(clippy::too_many_arguments)]
pub fn separate(
    attack: &Attack,
    index: &PairIndex,
    w: &[f64],
    v_step: &[f64],
    v_pair: &[(u32, f64)],
    existing: &FxHashSet<(u32, u32)>,
    cfg: SeparateConfig,
) -> (Vec<Cut>, f64) {
    let g_n = attack.global_pairs.len();
    let cats = &attack.categories;
    let mut vp = vec![0.0f64; g_n];
    for &(g, v) in v_pair {
        if let Some(s) = vp.get_mut(g as usize) {
            *s = v.max(0.0);
        }
    }
    let mut prio = vec![0.0f64; g_n];
    let mut version = vec![0u32; g_n];
    let mut cur: Vec<Vec<u32>> = cats.iter().map(|c| vec![0u32; c.pairs.len()]).collect();
    for (i, c) in cats.iter().enumerate() {
        for &(l, n) in &c.initial {
            cur[i][l as usize] = n;
            prio[attack.to_global[i][l as usize] as usize] += w[i] * n as f64;
        }
    }
    let key_of = |x: f64| (x > 0.0 && x.is_finite()).then(|| x.to_bits());
    let mut heap: BinaryHeap<Entry> = (0..g_n)
        .filter_map(|g| {
            key_of(prio[g] - vp[g]).map(|key| Entry {
                key,
                pair: g as u32,
                version: 0,
            })
        })
        .collect();
    let count_of = |cur: &Vec<Vec<u32>>, i: usize, g: u32| -> u32 {
        index.local(i, g).map_or(0, |l| cur[i][l as usize])
    };

    let mut cuts: Vec<Cut> = Vec::new();
    let mut excess = 0.0f64;
    let capped = cfg.per_pair != usize::MAX;
    let mut kept: FxHashMap<u32, Vec<Cut>> = FxHashMap::default();
    let depth = cfg.per_step.saturating_mul(8);
    let mut aside: Vec<Entry> = Vec::new();
    let mut dirty: Vec<u32> = Vec::new();
    let mut is_dirty = vec![false; g_n];
    let horizon = cfg.horizon.min(attack.steps());
    for (t, merge) in attack.merge_global.iter().enumerate().take(horizon) {
        let vt = v_step.get(t).copied().unwrap_or(0.0).max(0.0);
        if let Some(m) = *merge {
            let cm: Vec<u32> = (0..cats.len()).map(|i| count_of(&cur, i, m)).collect();
            let prio_m: f64 = cm.iter().zip(w).map(|(&c, &wi)| wi * c as f64).sum();
            let cutoff = prio_m + vt + cfg.tol;
            let mut found = 0;
            let mut first = true;
            aside.clear();
            loop {
                if (!capped && found >= cfg.per_step) || (capped && aside.len() >= depth) {
                    break;
                }
                let Some(&top) = heap.peek() else { break };
                if top.version != version[top.pair as usize] {
                    heap.pop();
                    continue;
                }
                if f64::from_bits(top.key) <= cutoff {
                    break;
                }
                heap.pop();
                aside.push(top);
                let g = top.pair;
                if g == m {
                    continue;
                }
                let row = existing.contains(&(t as u32, g));
                if row && !first {
                    continue;
                }
                let mut diff = Vec::with_capacity(cats.len());
                let mut lhs = 0.0;
                for (i, &c_m) in cm.iter().enumerate() {
                    let d = c_m as f64 - count_of(&cur, i, g) as f64;
                    lhs += w[i] * d;
                    diff.push(d);
                }
                let violation = -(lhs + vt + vp[g as usize]);
                if first {
                    // Entries pop in the order of their violation: this is the step's largest.
                    excess += violation.max(0.0);
                    first = false;
                }
                if row || violation <= cfg.tol {
                    continue;
                }
                let cut = Cut {
                    step: t as u32,
                    pair: g,
                    violation,
                    diff,
                };
                found += 1;
                if !capped {
                    cuts.push(cut);
                    continue;
                }
                // Keep the pair's `per_pair` most violated steps.
                let mine = kept.entry(g).or_default();
                if mine.len() < cfg.per_pair {
                    mine.push(cut);
                } else if let Some(low) = mine
                    .iter_mut()
                    .min_by(|a, b| a.violation.total_cmp(&b.violation))
                    .filter(|low| low.violation < violation)
                {
                    *low = cut;
                }
            }
            heap.extend(aside.drain(..));
        }
        if t + 1 == horizon {
            break; // the state after the last searched step is never looked at
        }
        // ---- apply the changes made by merge t ------------------------------------------
        for (i, c) in cats.iter().enumerate() {
            let (a, b) = (c.step_start[t] as usize, c.step_start[t + 1] as usize);
            for &(l, n) in &c.changes[a..b] {
                let g = attack.to_global[i][l as usize];
                let old = std::mem::replace(&mut cur[i][l as usize], n);
                prio[g as usize] += w[i] * (n as f64 - old as f64);
                if !is_dirty[g as usize] {
                    is_dirty[g as usize] = true;
                    dirty.push(g);
                }
            }
        }
        for g in dirty.drain(..) {
            let gi = g as usize;
            is_dirty[gi] = false;
            version[gi] = version[gi].wrapping_add(1);
            if let Some(key) = key_of(prio[gi] - vp[gi]) {
                heap.push(Entry {
                    key,
                    pair: g,
                    version: version[gi],
                });
            }
        }
        // Stale entries pile up on long runs: rebuild when they dominate.
        if heap.len() > 4 * g_n + (1 << 20) {
            heap = (0..g_n)
                .filter_map(|g| {
                    key_of(prio[g] - vp[g]).map(|key| Entry {
                        key,
                        pair: g as u32,
                        version: version[g],
                    })
                })
                .collect();
        }
    }
    cuts.extend(kept.into_values().flatten());
    cuts.sort_by(|a, b| {
        b.violation
            .total_cmp(&a.violation)
            .then(a.step.cmp(&b.step))
            .then(a.pair.cmp(&b.pair))
    });
    cuts.truncate(cfg.max_rows);
    (cuts, excess)
}

#[cfg(test)]
mod tests {
    use super::super::Trajectory;
    use super::*;
    use rustc_hash::FxHashMap;

    /// Brute force: every (t, p) row, from the full count state at each step.
    #[allow(clippy::needless_range_loop)] // indices into parallel tables read clearest here
    fn brute(attack: &Attack, w: &[f64], v_step: &[f64], tol: f64) -> Vec<(u32, u32, f64)> {
        let g_n = attack.global_pairs.len();
        let n = attack.categories.len();
        let mut state = vec![vec![0u64; g_n]; n];
        for (i, c) in attack.categories.iter().enumerate() {
            for &(l, k) in &c.initial {
                state[i][attack.to_global[i][l as usize] as usize] = k as u64;
            }
        }
        let mut out = Vec::new();
        for t in 0..attack.steps() {
            if let Some(m) = attack.merge_global[t] {
                let pm: f64 = (0..n).map(|i| w[i] * state[i][m as usize] as f64).sum();
                for g in 0..g_n {
                    if g as u32 == m {
                        continue;
                    }
                    let pg: f64 = (0..n).map(|i| w[i] * state[i][g] as f64).sum();
                    let v = pg - pm - v_step[t];
                    if v > tol {
                        out.push((t as u32, g as u32, v));
                    }
                }
            }
            for (i, c) in attack.categories.iter().enumerate() {
                let (a, b) = (c.step_start[t] as usize, c.step_start[t + 1] as usize);
                for &(l, k) in &c.changes[a..b] {
                    state[i][attack.to_global[i][l as usize] as usize] = k as u64;
                }
            }
        }
        out
    }

    fn attack() -> Attack {
        // merges over small ids: (0,1)->10, (2,3)->11, (10,2)->12
        let merges = vec![((0, 1), 10), ((2, 3), 11), ((10, 2), 12)];
        let mk = |seqs: &[(&[u32], u64)]| -> Trajectory {
            let mut e = crate::engine::Engine::from_sequences(seqs.iter().map(|&(s, c)| (s, c)));
            let mut tr = Trajectory {
                bytes: 100,
                ..Default::default()
            };
            let mut local = rustc_hash::FxHashMap::default();
            let mut id = |p, pairs: &mut Vec<_>| -> u32 {
                *local.entry(p).or_insert_with(|| {
                    pairs.push(p);
                    (pairs.len() - 1) as u32
                })
            };
            let mut init: Vec<_> = e.pairs().collect();
            init.sort_unstable();
            for (p, c) in init {
                let l = id(p, &mut tr.pairs);
                tr.initial.push((l, c as u32));
            }
            tr.step_start.push(0);
            let mut ch = Vec::new();
            for &(p, r) in &merges {
                tr.merge_count.push(e.count(p) as u32);
                e.merge(p, r, &mut ch);
                for c in &ch {
                    let l = id(c.pair, &mut tr.pairs);
                    tr.changes.push((l, c.count as u32));
                }
                tr.step_start.push(tr.changes.len() as u64);
            }
            tr
        };
        let a = mk(&[(&[0, 1, 2, 3], 5), (&[4, 5], 9), (&[0, 1, 2], 2)]);
        let b = mk(&[(&[2, 3, 2, 3], 4), (&[5, 4], 7), (&[6, 6, 6], 3)]);
        Attack::join(vec![a, b], merges.clone())
    }

    #[test]
    fn finds_exactly_the_violated_rows() {
        let at = attack();
        // (the dense index, and the sorted one that large attacks get: the same rows)
        let indexes = [
            (PairIndex::new(&at), true),
            (PairIndex::with_budget(&at, 0), false),
        ];
        for (idx, dense) in indexes {
            assert_eq!(matches!(idx, PairIndex::Dense(_)), dense);
            for (w, v) in [
                ([0.5, 0.5], [0.0, 0.0, 0.0]),
                ([1.0, 0.0], [0.0, 1.0, 0.0]),
                ([0.1, 0.9], [0.5, 0.0, 3.0]),
            ] {
                let cfg = SeparateConfig {
                    per_step: usize::MAX,
                    tol: 1e-9,
                    max_rows: usize::MAX,
                    horizon: usize::MAX,
                    per_pair: usize::MAX,
                };
                let (got, excess) = separate(&at, &idx, &w, &v, &[], &FxHashSet::default(), cfg);
                let mut got: Vec<(u32, u32, f64)> =
                    got.iter().map(|c| (c.step, c.pair, c.violation)).collect();
                let mut want = brute(&at, &w, &v, 1e-9);
                got.sort_by_key(|a| (a.0, a.1));
                want.sort_by_key(|a| (a.0, a.1));
                assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
                let mut worst = FxHashMap::default();
                for &(t, _, x) in &want {
                    let e = worst.entry(t).or_insert(0.0f64);
                    *e = e.max(x);
                }
                let want_excess: f64 = worst.values().sum();
                assert!(
                    (excess - want_excess).abs() < 1e-9,
                    "{excess} vs {want_excess}"
                );
                // A horizon searches only the first steps.
                let early = SeparateConfig { horizon: 2, ..cfg };
                let (part, _) = separate(&at, &idx, &w, &v, &[], &FxHashSet::default(), early);
                let want_part = want.iter().filter(|x| x.0 < 2).count();
                assert_eq!(part.len(), want_part);
                for (g, x) in got.iter().zip(&want) {
                    assert_eq!((g.0, g.1), (x.0, x.1));
                    assert!((g.2 - x.2).abs() < 1e-9);
                }
                // per-pair cap: each violated pair once, at its most violated step
                let per_pair = SeparateConfig { per_pair: 1, ..cfg };
                let (top, excess_top) =
                    separate(&at, &idx, &w, &v, &[], &FxHashSet::default(), per_pair);
                assert!((excess_top - excess).abs() < 1e-9);
                let mut best: FxHashMap<u32, f64> = FxHashMap::default();
                for &(_, p, x) in &want {
                    let e = best.entry(p).or_insert(0.0f64);
                    *e = e.max(x);
                }
                assert_eq!(top.len(), best.len(), "{top:?}");
                for c in &top {
                    assert!((c.violation - best[&c.pair]).abs() < 1e-9);
                    assert!(want.iter().any(|x| (x.0, x.1) == (c.step, c.pair)));
                }
                // per-step cap, existing rows skipped, pair slack lowers the violation
                let one = SeparateConfig { per_step: 1, ..cfg };
                let (capped, _) = separate(&at, &idx, &w, &v, &[], &FxHashSet::default(), one);
                let steps: FxHashSet<u32> = capped.iter().map(|c| c.step).collect();
                assert_eq!(steps.len(), capped.len());
                if let Some(first) = capped.first() {
                    let ex: FxHashSet<(u32, u32)> =
                        [(first.step, first.pair)].into_iter().collect();
                    let (again, excess_again) = separate(&at, &idx, &w, &v, &[], &ex, cfg);
                    assert!(
                        (excess_again - excess).abs() < 1e-9,
                        "existing rows still count"
                    );
                    assert!(!again
                        .iter()
                        .any(|c| (c.step, c.pair) == (first.step, first.pair)));
                    let slack = [(first.pair, 1e6)];
                    let (none, _) = separate(&at, &idx, &w, &v, &slack, &FxHashSet::default(), cfg);
                    assert!(!none.iter().any(|c| c.pair == first.pair));
                }
            }
        }
    }
}
