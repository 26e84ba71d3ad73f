//! Test reference: the separation pass as it was before the indexed heap (commit 5cac5e0), one
//! walk over all the steps: a lazy max-heap with version stamps, popped and re-pushed at every
//! step, counts looked up per category through the [`PairIndex`], a `diff` built for every
//! popped entry and a hash map of each pair's kept cuts. The fast pass must return exactly
//! what this returns (the old pass gave the same for every thread count).

use std::collections::BinaryHeap;

use rustc_hash::{FxHashMap, FxHashSet};

use super::{Cut, PairIndex, SeparateConfig};
use crate::mixture::Attack;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    key: u64,
    pair: u32,
    version: u32,
}

/// The old `separate` with one thread.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
pub(super) fn separate_reference(
    attack: &Attack,
    index: &PairIndex,
    w: &[f64],
    v_step: &[f64],
    v_pair: &[(u32, f64)],
    existing: &FxHashSet<(u32, u32)>,
    cfg: SeparateConfig,
) -> (Vec<Cut>, f64) {
    let horizon = cfg.horizon.min(attack.steps());
    if horizon == 0 {
        return (Vec::new(), 0.0);
    }
    let g_n = attack.global_pairs.len();
    let mut vp = vec![0.0f64; g_n];
    for &(g, v) in v_pair {
        if let Some(s) = vp.get_mut(g as usize) {
            *s = v.max(0.0);
        }
    }
    let cats = &attack.categories;
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
    let mut worst = vec![0.0f64; horizon];
    let capped = cfg.per_pair != usize::MAX;
    let mut kept: FxHashMap<u32, Vec<Cut>> = FxHashMap::default();
    let depth = cfg.per_step.saturating_mul(8);
    let mut aside: Vec<Entry> = Vec::new();
    let mut dirty: Vec<u32> = Vec::new();
    let mut is_dirty = vec![false; g_n];
    for t in 0..horizon {
        let vt = v_step.get(t).copied().unwrap_or(0.0).max(0.0);
        if let Some(m) = attack.merge_global[t] {
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
                    worst[t] = violation.max(0.0);
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
                let mine = kept.entry(g).or_default();
                if mine.len() < cfg.per_pair {
                    mine.push(cut);
                } else if let Some(low) = mine
                    .iter_mut()
                    .min_by(|a, b| {
                        a.violation
                            .total_cmp(&b.violation)
                            .then(b.step.cmp(&a.step))
                    })
                    .filter(|low| low.violation < violation)
                {
                    *low = cut;
                }
            }
            heap.extend(aside.drain(..));
        }
        if t + 1 == horizon {
            break;
        }
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
    }
    let excess = worst.iter().fold(0.0f64, |s, &x| s + x);
    // (the capping and ordering of the rows is shared: it did not change)
    (super::finish(cuts, kept, &cfg), excess)
}
