//! The separation oracle of the mixture LP: given the current solution, find the most violated
//! "merge t beat pair p" constraints over all steps in one pass over the recorded trajectory.
//!
//! Constraint (t, p), for every step t and pair p other than the merge m_t:
//! `sum_i w_i (c_i^t(m_t) - c_i^t(p)) + v_t + v_p >= 0` with `w_i = a_i / d_i` (scaled). Its
//! violation is `prio_t(p) - v_p - (prio_t(m_t) + v_t)` where `prio_t(x) = sum_i w_i c_i^t(x)`.
//!
//! Idea: walk the steps in order, keeping `prio(p) - v_p` of every pair ranked
//! ([`super::topheap::Ranking`]: the pairs read recently in a sorted vector, the rest in a
//! lazy max-heap; each step's changed pairs are re-ranked once). At step t, read the pairs in
//! descending order while they exceed the cutoff `prio_t(m_t) + v_t + tol`, and keep up to
//! `per_step` of them that are not rows yet (with a per-pair cap: offer the `8 x per_step`
//! first ones to their pairs). Violations are recomputed from the exact integer counts, so
//! float drift in the running priorities never creates a row. Cost per pass: O(initial pairs
//! plus recorded changes), a heap push per changed pair, plus O(read) per step; noisy late
//! merges cost only the entries above their cutoff, never a scan of all pairs.
//!
//! What an entry read costs (measured on 30,000 merges of cl100k_base, 80 entries per step,
//! see bench/README.md, "Faster separation pass"): the pairs a step reads are mostly those
//! the step before read, so they stay in the sorted vector (no pop and re-push on a heap of
//! hundreds of thousands of entries); one row of counts, pair-major (the counts of one pair
//! in all categories side by side), gives the exact violation; with a per-pair cap, a pair
//! whose `per_pair` kept cuts are all at least as violated rejects it there (the pair's
//! `floor`), so only a cut that may be kept looks up the existing rows and builds its `diff`.
//!
//! Threads: the steps are split into ranges, one per worker. A worker first brings the counts
//! and running priorities to its range's first step by replaying the recorded changes (array
//! updates, no heap: the same float operations in the same order, so its priorities are bit
//! for bit those of one walk from step 0), then walks its range as above. The per-pair caps are
//! applied again to the union of the ranges' candidates and the excess is summed in step
//! order, so the result does not depend on the number of threads. The ranges balance the
//! estimated work (changes replayed + changes and steps walked); the replay is the overhead.
//!
//! The tolerance must be looser than the LP solver's feasibility tolerance: a row already in the
//! LP can be violated by up to that much at the solver's optimum, and re-adding it would loop.
//! Rows already present are skipped anyway (the caller passes them), which bounds the number of
//! rounds by the number of possible rows.

use std::ops::Range;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::topheap::Ranking;
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
    /// Worker threads (1: one walk over all the steps). The steps are split into at most this
    /// many ranges, walked in parallel; the result does not depend on it.
    pub threads: usize,
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

/// What the separation pass looks up, built once per attack: per category, the local id of
/// each global pair (for the count lookups of [`Layout::Local`] passes), and the global id of
/// every recorded change (so that applying a step's changes reads them in sequence instead
/// of one random `to_global` lookup each; 4 bytes per change).
///
/// The local ids are dense (`u32::MAX`: not in that category's sample; `categories x pairs x
/// 4` bytes, O(1) lookups) while that stays under [`DENSE_INDEX_MAX_BYTES`]; otherwise (many
/// categories, or huge samples: a 149-category attack with a million distinct pairs would
/// need 600 MB) each category's sorted `(global, local)` list, binary-searched, whose size is
/// the pairs that category really has. Both give the same answers (tested).
pub struct PairIndex {
    lookup: Lookup,
    /// `change_global[i][k]`: the global id of `attack.categories[i].changes[k]`.
    change_global: Vec<Vec<u32>>,
}

/// See [`PairIndex`].
enum Lookup {
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
        let lookup = if dense_bytes <= max_bytes {
            let dense = attack.to_global.iter().map(|m| {
                let mut v = vec![u32::MAX; g_n];
                for (l, &g) in m.iter().enumerate() {
                    v[g as usize] = l as u32;
                }
                v
            });
            Lookup::Dense(dense.collect())
        } else {
            let sorted = attack.to_global.iter().map(|m| {
                let mut v: Vec<(u32, u32)> =
                    m.iter().enumerate().map(|(l, &g)| (g, l as u32)).collect();
                v.sort_unstable();
                v
            });
            Lookup::Sorted(sorted.collect())
        };
        let change_global = attack
            .categories
            .iter()
            .zip(&attack.to_global)
            .map(|(c, m)| c.changes.iter().map(|&(l, _)| m[l as usize]).collect())
            .collect();
        PairIndex {
            lookup,
            change_global,
        }
    }

    /// Whether the local ids are the dense table.
    pub fn is_dense(&self) -> bool {
        matches!(self.lookup, Lookup::Dense(_))
    }

    /// The local id of global pair `g` in category `i`, if that category's sample has it.
    #[inline]
    pub fn local(&self, i: usize, g: u32) -> Option<u32> {
        match &self.lookup {
            Lookup::Dense(d) => match d[i][g as usize] {
                u32::MAX => None,
                l => Some(l),
            },
            Lookup::Sorted(s) => s[i]
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
///
/// With `cfg.threads > 1` the steps are split into ranges walked in parallel (see the module
/// docs); the cuts (and their order) and the excess are the same for every thread count.
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
    separate_with(attack, index, w, v_step, v_pair, existing, cfg, None)
}

/// The pair-major counts are used while all the workers' tables together take at most this
/// (1 GiB) and the index is dense; beyond, the per-category counts and the index's lookups.
pub const PAIR_MAJOR_MAX_BYTES: usize = 1 << 30;

/// [`separate`] with the count layout chosen by the caller (tests), or by size (`None`).
#[allow(clippy::too_many_arguments)]
fn separate_with(
    attack: &Attack,
    index: &PairIndex,
    w: &[f64],
    v_step: &[f64],
    v_pair: &[(u32, f64)],
    existing: &FxHashSet<(u32, u32)>,
    cfg: SeparateConfig,
    layout: Option<Layout>,
) -> (Vec<Cut>, f64) {
    let horizon = cfg.horizon.min(attack.steps());
    if horizon == 0 {
        return (Vec::new(), 0.0);
    }
    let mut vp = vec![0.0f64; attack.global_pairs.len()];
    for &(g, v) in v_pair {
        if let Some(s) = vp.get_mut(g as usize) {
            *s = v.max(0.0);
        }
    }
    // (each range replays the changes before it: no more ranges than a pool has threads)
    let threads = cfg.threads.clamp(1, MAX_THREADS);
    let ranges = split(attack, horizon, threads, step_cost(&cfg));
    let layout = layout.unwrap_or_else(|| {
        let table = attack
            .categories
            .len()
            .saturating_mul(attack.global_pairs.len())
            .saturating_mul(4)
            .saturating_mul(ranges.len());
        if index.is_dense() && table <= PAIR_MAJOR_MAX_BYTES {
            Layout::PairMajor
        } else {
            Layout::Local
        }
    });
    let pass = Pass {
        attack,
        index,
        w,
        v_step,
        vp,
        existing,
        cfg,
        layout,
    };
    let parts: Vec<Part> = if ranges.len() == 1 {
        vec![pass.walk(0..horizon)]
    } else {
        let run = || ranges.par_iter().map(|r| pass.walk(r.clone())).collect();
        crate::encode::pool::install(threads, run)
            // (no thread could be started: the same ranges, one after the other)
            .unwrap_or_else(|_| ranges.iter().map(|r| pass.walk(r.clone())).collect())
    };
    if std::env::var_os("BYTEPAIR_MIXTURE_DEBUG").is_some() {
        let before = |t: usize| -> u64 { attack.categories.iter().map(|c| c.step_start[t]).sum() };
        for (r, p) in ranges.iter().zip(&parts) {
            eprintln!(
                "    separate steps {:?}: {} changes before, {} in it; replay {:.3}s, walk {:.3}s \
                 (thread CPU)",
                r,
                before(r.start),
                before(r.end) - before(r.start),
                p.seconds.0,
                p.seconds.1
            );
        }
    }
    // Merge the ranges: excess summed in step order; per pair, the `per_pair` best of all the
    // ranges' candidates (each range kept its own best, so the best overall are among them).
    let mut excess = 0.0f64;
    let mut cuts: Vec<Cut> = Vec::new();
    let mut kept: FxHashMap<u32, Vec<Cut>> = FxHashMap::default();
    for part in parts {
        excess = part.worst.iter().fold(excess, |s, &x| s + x);
        cuts.extend(part.cuts);
        for (g, mine) in part.kept {
            kept.entry(g).or_default().extend(mine);
        }
    }
    (finish(cuts, kept, &cfg), excess)
}

/// The pass's rows: `cuts` (uncapped) and, per pair, its `per_pair` most violated kept cuts
/// (ties: the earliest steps), all ordered by violation (ties: step, then pair), at most
/// `max_rows` of them.
pub(super) fn finish(
    mut cuts: Vec<Cut>,
    kept: FxHashMap<u32, Vec<Cut>>,
    cfg: &SeparateConfig,
) -> Vec<Cut> {
    for mut mine in kept.into_values() {
        if mine.len() > cfg.per_pair {
            mine.sort_by(|a, b| {
                b.violation
                    .total_cmp(&a.violation)
                    .then(a.step.cmp(&b.step))
            });
            mine.truncate(cfg.per_pair);
        }
        cuts.extend(mine);
    }
    cuts.sort_by(|a, b| {
        b.violation
            .total_cmp(&a.violation)
            .then(a.step.cmp(&b.step))
            .then(a.pair.cmp(&b.pair))
    });
    cuts.truncate(cfg.max_rows);
    cuts
}

/// At most this many ranges (and threads) per pass, as for the encoder's pools.
const MAX_THREADS: usize = 256;

/// Estimated costs, in units of one replayed change: walking one recorded change (update,
/// dirty list, re-ranking), and one step's reads: a base plus a cost per entry the step may
/// read at most (`8 x per_step` with a per-pair cap, else `per_step`). Fitted on passes over
/// 30,000 merges of cl100k_base (1.2 million changes): ~0.02 us per replayed change, 0.05-0.085
/// us per walked change, per step ~1.7 us with `per_step` 3, ~3 us with 10 and ~3.3 us with
/// 80 entries (capped). (Before the ranking, a step's 80 pops cost ~40 us: 120 + 13 per
/// entry.)
const WALK_PER_CHANGE: f64 = 3.0;
const STEP_BASE: f64 = 70.0;
const STEP_PER_ENTRY: f64 = 1.2;

/// The estimated cost of one step's reads under `cfg` (see [`STEP_BASE`]).
fn step_cost(cfg: &SeparateConfig) -> f64 {
    let entries = if cfg.per_pair != usize::MAX {
        cfg.per_step.saturating_mul(8)
    } else {
        cfg.per_step
    };
    STEP_BASE + STEP_PER_ENTRY * entries.min(1000) as f64
}

/// Split steps `0..horizon` into at most `threads` non-empty ranges whose estimated costs
/// (replaying every change before the range, then walking it; `per_step`: the cost of one
/// step's reads) are as equal as possible: the smallest maximum cost, found by bisection over
/// it with a greedy cut for each value.
fn split(attack: &Attack, horizon: usize, threads: usize, per_step: f64) -> Vec<Range<usize>> {
    let k = threads.clamp(1, horizon);
    if k == 1 {
        return std::iter::once(0..horizon).collect();
    }
    // before[t]: changes recorded by the merges before step t, over all categories.
    let before: Vec<f64> = (0..=horizon)
        .map(|t| {
            let n: u64 = attack.categories.iter().map(|c| c.step_start[t]).sum();
            n as f64
        })
        .collect();
    let cost = |s: usize, e: usize| {
        before[s] + WALK_PER_CHANGE * (before[e] - before[s]) + per_step * (e - s) as f64
    };
    // The ranges when no range may cost more than `limit` (each takes at least one step).
    let cut = |limit: f64| -> Vec<Range<usize>> {
        let mut out = Vec::with_capacity(k);
        let mut s = 0;
        while s < horizon && out.len() < k {
            // the largest end within the limit (costs grow with the end), at least s + 1
            let (mut e, mut hi) = (s + 1, horizon);
            while e < hi {
                let mid = (e + hi).div_ceil(2);
                if cost(s, mid) <= limit {
                    e = mid;
                } else {
                    hi = mid - 1;
                }
            }
            out.push(s..e);
            s = e;
        }
        out
    };
    let covers = |r: &[Range<usize>]| r.last().is_some_and(|x| x.end == horizon);
    let (mut lo, mut hi) = (0.0f64, cost(0, horizon));
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if covers(&cut(mid)) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    cut(hi)
}

/// CPU seconds of the calling thread where the OS gives them (Linux), else wall seconds since
/// the first call: the debug lines' replay and walk times, unaffected by other processes.
fn thread_seconds() -> f64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime only writes one timespec through the pointer, which points to
        // a live local of that type.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9;
        }
    }
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
}

/// What one range of steps found: its cuts (no per-pair cap), its per-pair candidates (with
/// a cap), each step's largest violation (0 if none), and the seconds ([`thread_seconds`])
/// spent replaying up to the range and walking it.
struct Part {
    cuts: Vec<Cut>,
    kept: Vec<(u32, Vec<Cut>)>,
    worst: Vec<f64>,
    seconds: (f64, f64),
}

/// How a worker stores the pair counts of every category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Pair-major: the counts of one pair in all categories side by side (one cache line for
    /// a popped entry's 10 counts); `categories x pairs x 4` bytes per worker.
    PairMajor,
    /// Per category, by local id, looked up through the [`PairIndex`] (one lookup per
    /// category and entry); the size of the recorded pairs.
    Local,
}

/// A worker's pair counts, `c_i(g)` for category `i` and global pair `g`.
trait Counts {
    /// Set the count of category `i`'s pair with local id `l` and global id `g` to `n`;
    /// returns the old count.
    fn replace(&mut self, i: usize, l: u32, g: u32, n: u32) -> u32;
    /// The count of global pair `g` in category `i` (0 if its sample does not have it).
    fn get(&self, i: usize, g: u32) -> u32;
}

/// [`Layout::PairMajor`]: `c[g * n + i]`.
struct PairMajor {
    n: usize,
    c: Vec<u32>,
}

impl Counts for PairMajor {
    #[inline(always)]
    fn replace(&mut self, i: usize, _l: u32, g: u32, n: u32) -> u32 {
        std::mem::replace(&mut self.c[g as usize * self.n + i], n)
    }
    #[inline(always)]
    fn get(&self, i: usize, g: u32) -> u32 {
        self.c[g as usize * self.n + i]
    }
}

/// [`Layout::Local`]: `cur[i][local id]`.
struct Local<'a> {
    cur: Vec<Vec<u32>>,
    index: &'a PairIndex,
}

impl Counts for Local<'_> {
    #[inline(always)]
    fn replace(&mut self, i: usize, l: u32, _g: u32, n: u32) -> u32 {
        std::mem::replace(&mut self.cur[i][l as usize], n)
    }
    #[inline(always)]
    fn get(&self, i: usize, g: u32) -> u32 {
        self.index
            .local(i, g)
            .map_or(0, |l| self.cur[i][l as usize])
    }
}

/// A worker's state of one pair, side by side (one cache line or less): its running priority
/// `sum_i w_i c_i(p)`, its slack, with a per-pair cap the smallest violation of its kept cuts
/// once it has `per_pair` of them (-inf before: a violation at or below it cannot enter), and
/// whether the step's changes touched it already.
#[derive(Debug, Clone, Copy)]
#[repr(align(32))]
struct PairState {
    prio: f64,
    vp: f64,
    floor: f64,
    dirty: bool,
}

/// The inputs of one pass, shared by the ranges' workers (read-only).
struct Pass<'a> {
    attack: &'a Attack,
    index: &'a PairIndex,
    w: &'a [f64],
    v_step: &'a [f64],
    /// The pair slacks by global id (0: none).
    vp: Vec<f64>,
    existing: &'a FxHashSet<(u32, u32)>,
    cfg: SeparateConfig,
    layout: Layout,
}

impl Pass<'_> {
    /// Apply merge `t`'s recorded changes to the counts and running priorities; `touched` sees
    /// each changed pair. One piece for the replay and the walk: the same float operations in
    /// the same order, which the bit-identical priorities of the ranges rely on.
    #[inline(always)]
    fn apply<C: Counts>(
        &self,
        t: usize,
        cur: &mut C,
        pairs: &mut [PairState],
        mut touched: impl FnMut(u32, &mut PairState),
    ) {
        let attack = self.attack;
        for (i, c) in attack.categories.iter().enumerate() {
            let (a, b) = (c.step_start[t] as usize, c.step_start[t + 1] as usize);
            let globals = &self.index.change_global[i][a..b];
            let wi = self.w[i];
            for (&(l, n), &g) in c.changes[a..b].iter().zip(globals) {
                let old = cur.replace(i, l, g, n);
                let p = &mut pairs[g as usize];
                p.prio += wi * (n as f64 - old as f64);
                touched(g, p);
            }
        }
    }

    /// Walk the steps of `range` (see [`Self::walk_with`]) with the pass's count layout.
    fn walk(&self, range: Range<usize>) -> Part {
        let attack = self.attack;
        match self.layout {
            Layout::PairMajor => {
                let n = attack.categories.len();
                let c = vec![0u32; attack.global_pairs.len() * n];
                self.walk_with(range, PairMajor { n, c })
            }
            Layout::Local => {
                let cur = attack
                    .categories
                    .iter()
                    .map(|c| vec![0u32; c.pairs.len()])
                    .collect();
                let index = self.index;
                self.walk_with(range, Local { cur, index })
            }
        }
    }

    /// Walk the steps of `range`: first bring the counts and running priorities to its first
    /// step by replaying the recorded changes (array updates only; the same float operations
    /// in the same order as the walk, so the priorities are bit for bit those of a walk from
    /// step 0), then walk it, reading each step's pairs in descending order from the
    /// [`Ranking`].
    ///
    /// Per entry read: one row of counts (the exact violation); with a per-pair cap, a pair
    /// whose `per_pair` cuts are all at least as violated is rejected there (`floor`), and only
    /// a cut that is kept looks up the existing rows and builds its `diff`.
    fn walk_with<C: Counts>(&self, range: Range<usize>, mut cur: C) -> Part {
        let (attack, w, cfg) = (self.attack, self.w, self.cfg);
        let t_start = thread_seconds();
        let g_n = attack.global_pairs.len();
        let cats = &attack.categories;
        let n_cat = cats.len();
        let capped = cfg.per_pair != usize::MAX;
        // (with a cap, `floor` is -inf until the pair has `per_pair` cuts; always +inf when
        // no cut may be kept at all)
        let floor = if capped && cfg.per_pair == 0 {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        };
        let mut pairs: Vec<PairState> = self
            .vp
            .iter()
            .map(|&vp| PairState {
                prio: 0.0,
                vp,
                floor,
                dirty: false,
            })
            .collect();
        for (i, c) in cats.iter().enumerate() {
            for &(l, n) in &c.initial {
                let g = attack.to_global[i][l as usize];
                cur.replace(i, l, g, n);
                pairs[g as usize].prio += w[i] * n as f64;
            }
        }
        for t in 0..range.start {
            self.apply(t, &mut cur, &mut pairs, |_, _| {});
        }
        let t_walk = thread_seconds();
        // Heap keys: the bits of a positive finite priority (their order is the numbers'
        // order), 0 for a pair that is not a candidate.
        let key_of = |x: f64| {
            if x > 0.0 && x.is_finite() {
                x.to_bits()
            } else {
                0
            }
        };
        let mut ranking = Ranking::new(pairs.iter().map(|p| key_of(p.prio - p.vp)));

        let mut cuts: Vec<Cut> = Vec::new();
        let mut worst = vec![0.0f64; range.len()];
        // With a cap: each pair's kept cuts (`slot[g]` indexes `kept`, u32::MAX: none yet).
        let mut kept: Vec<(u32, Vec<Cut>)> = Vec::new();
        let mut slot = if capped {
            vec![u32::MAX; g_n]
        } else {
            Vec::new()
        };
        let depth = cfg.per_step.saturating_mul(8);
        // the pairs a step reads stay ranked in order for the next steps
        let keep = depth.saturating_mul(2).max(64);
        let mut cm: Vec<u32> = vec![0; n_cat];
        let mut dirty: Vec<u32> = Vec::new();
        for t in range.clone() {
            let vt = self.v_step.get(t).copied().unwrap_or(0.0).max(0.0);
            if let Some(m) = attack.merge_global[t] {
                for (i, x) in cm.iter_mut().enumerate() {
                    *x = cur.get(i, m);
                }
                let prio_m: f64 = cm.iter().zip(w).map(|(&c, &wi)| wi * c as f64).sum();
                let cutoff = prio_m + vt + cfg.tol;
                let mut found = 0;
                let mut read = 0;
                let mut first = true;
                let mut top = ranking.descending(|key| {
                    // (as `<=` is written: a NaN cutoff admits every key)
                    let at_or_below = f64::from_bits(key) <= cutoff;
                    !at_or_below
                });
                loop {
                    if (!capped && found >= cfg.per_step) || (capped && read >= depth) {
                        break;
                    }
                    let Some((g, _)) = top.next() else { break };
                    read += 1;
                    if g == m {
                        continue;
                    }
                    let gi = g as usize;
                    let p = &pairs[gi];
                    // the exact violation from the integer counts (the same operations as
                    // the diff below)
                    let mut lhs = 0.0;
                    for (i, &c_m) in cm.iter().enumerate() {
                        let d = c_m as f64 - cur.get(i, g) as f64;
                        lhs += w[i] * d;
                    }
                    let violation = -(lhs + vt + p.vp);
                    if first {
                        // Entries come in the order of their violation: this is the step's largest.
                        worst[t - range.start] = violation.max(0.0);
                        first = false;
                    }
                    if violation <= cfg.tol || (capped && violation <= p.floor) {
                        continue;
                    }
                    if self.existing.contains(&(t as u32, g)) {
                        continue;
                    }
                    let diff = cm
                        .iter()
                        .enumerate()
                        .map(|(i, &c_m)| c_m as f64 - cur.get(i, g) as f64)
                        .collect();
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
                    // Keep the pair's `per_pair` most violated steps (ties: the earliest steps;
                    // the steps come in order, so a tie never replaces a kept cut).
                    if slot[gi] == u32::MAX {
                        slot[gi] = kept.len() as u32;
                        kept.push((g, Vec::new()));
                    }
                    let mine = &mut kept[slot[gi] as usize].1;
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
                    if mine.len() >= cfg.per_pair {
                        if let Some(low) = mine.iter().min_by(|a, b| {
                            a.violation
                                .total_cmp(&b.violation)
                                .then(b.step.cmp(&a.step))
                        }) {
                            pairs[gi].floor = low.violation;
                        }
                    }
                }
                ranking.trim(keep);
            }
            if t + 1 == range.end {
                break; // the state after the range's last step is never looked at
            }
            // ---- apply the changes made by merge t --------------------------------------
            self.apply(t, &mut cur, &mut pairs, |g, p| {
                if !p.dirty {
                    p.dirty = true;
                    dirty.push(g);
                }
            });
            for g in dirty.drain(..) {
                let p = &mut pairs[g as usize];
                p.dirty = false;
                ranking.set(g, key_of(p.prio - p.vp));
            }
        }
        Part {
            cuts,
            kept,
            worst,
            seconds: (t_walk - t_start, thread_seconds() - t_walk),
        }
    }
}

#[cfg(test)]
#[path = "separate_reference.rs"]
mod reference;

#[cfg(test)]
mod tests {
    use super::super::Trajectory;
    use super::*;
    use rustc_hash::FxHashMap;

    use super::reference;

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

    /// One category's trajectory under `merges`, recorded as `replay` does, from sequences.
    fn trajectory(seqs: &[(Vec<u32>, u64)], merges: &[((u32, u32), u32)]) -> Trajectory {
        let e = crate::engine::Engine::from_sequences(seqs.iter().map(|(s, c)| (s, *c)));
        super::super::record(e, 100, merges)
    }

    fn attack() -> Attack {
        // merges over small ids: (0,1)->10, (2,3)->11, (10,2)->12
        let merges = vec![((0, 1), 10), ((2, 3), 11), ((10, 2), 12)];
        let seqs = |x: &[(&[u32], u64)]| -> Vec<(Vec<u32>, u64)> {
            x.iter().map(|&(s, c)| (s.to_vec(), c)).collect()
        };
        let a = trajectory(
            &seqs(&[(&[0, 1, 2, 3], 5), (&[4, 5], 9), (&[0, 1, 2], 2)]),
            &merges,
        );
        let b = trajectory(
            &seqs(&[(&[2, 3, 2, 3], 4), (&[5, 4], 7), (&[6, 6, 6], 3)]),
            &merges,
        );
        Attack::join(vec![a, b], merges.clone())
    }

    /// A random attack: `cats` categories of random sequences over a small alphabet (small
    /// counts, so violations tie often), merges chosen greedily on their union (most frequent
    /// pair first), plus one merge no sample holds.
    /// Step slacks on a coarse grid (so violations tie): a third of the steps get one of
    /// `0, 0.5, .., (levels - 1) x 0.5`, the rest 0.
    fn random_step_slacks(rng: &mut impl FnMut(u64) -> u64, steps: usize, levels: u64) -> Vec<f64> {
        (0..steps)
            .map(|_| {
                if rng(3) == 0 {
                    rng(levels) as f64 * 0.5
                } else {
                    0.0
                }
            })
            .collect()
    }

    fn random_attack(seed: u64, cats: usize, steps: usize) -> Attack {
        let mut rng = crate::test_rng(seed);
        let samples: Vec<Vec<(Vec<u32>, u64)>> = (0..cats)
            .map(|_| {
                let alphabet = 4 + rng(4);
                (0..60)
                    .map(|_| {
                        let len = 2 + rng(12) as usize;
                        let s: Vec<u32> = (0..len).map(|_| rng(alphabet) as u32).collect();
                        (s, 1 + rng(5))
                    })
                    .collect()
            })
            .collect();
        let mut union =
            crate::engine::Engine::from_sequences(samples.iter().flatten().map(|(s, c)| (s, *c)));
        let mut merges = Vec::new();
        let mut ch = Vec::new();
        for k in 0..steps as u32 {
            if k == 7 {
                merges.push(((5000, 5001), 9000)); // absent everywhere: no constraint
                continue;
            }
            let best = union
                .pairs()
                .filter(|x| x.1 > 0)
                .max_by_key(|&(p, c)| (c, std::cmp::Reverse(p)));
            let Some((p, _)) = best else { break };
            union.merge(p, 100 + k, &mut ch);
            merges.push((p, 100 + k));
        }
        let trs = samples.iter().map(|x| trajectory(x, &merges)).collect();
        Attack::join(trs, merges)
    }

    #[test]
    fn ranges_cover_the_steps_and_balance() {
        let at = random_attack(3, 4, 60);
        let h = at.steps();
        for threads in [1, 2, 3, 4, 7, 1000] {
            let r = split(&at, h, threads, 100.0);
            assert!(!r.is_empty() && r.len() <= threads.min(h), "{r:?}");
            assert_eq!(r[0].start, 0);
            assert_eq!(r[r.len() - 1].end, h);
            assert!(r.windows(2).all(|x| x[0].end == x[1].start));
            assert!(r.iter().all(|x| !x.is_empty()));
            if threads > 1 {
                assert!(r.len() > 1, "{threads} threads: {r:?}");
            }
        }
        let one = split(&at, 1, 4, 100.0);
        assert_eq!((one.len(), one[0].start, one[0].end), (1, 0, 1));
        // No step cost: the ranges balance the changes (replayed before, walked in).
        let r = split(&at, h, 2, 0.0);
        let before = |t: usize| -> f64 {
            let n: u64 = at.categories.iter().map(|c| c.step_start[t]).sum();
            n as f64
        };
        let cost = |x: &Range<usize>| {
            before(x.start) + WALK_PER_CHANGE * (before(x.end) - before(x.start))
        };
        let (a, b) = (cost(&r[0]), cost(&r[1]));
        // one step more or less on either side would be worse
        let step = (1..h)
            .map(|t| before(t + 1) - before(t))
            .fold(0.0, f64::max);
        assert!(
            (a - b).abs() <= (WALK_PER_CHANGE + 2.0) * step,
            "{r:?}: {a} vs {b}"
        );
    }

    /// The multi-threaded pass returns exactly what the one-thread pass returns: the same cuts
    /// in the same order, bit for bit, and the same excess.
    #[test]
    fn threads_give_identical_cuts() {
        for seed in 1..=4u64 {
            let at = random_attack(seed, 3 + seed as usize % 3, 70);
            let n = at.categories.len();
            let steps = at.steps();
            assert!(at.merge_global.iter().any(Option::is_none));
            let mut rng = crate::test_rng(seed * 7919);
            let idx = PairIndex::new(&at);
            // weights and slacks on a coarse grid: exact ties between violations
            let w: Vec<f64> = (0..n).map(|_| rng(5) as f64 * 0.25).collect();
            let v_step = random_step_slacks(&mut rng, steps, 6);
            let g_n = at.global_pairs.len() as u64;
            let v_pair: Vec<(u32, f64)> = (0..5).map(|_| (rng(g_n) as u32, 0.5)).collect();
            let base = SeparateConfig {
                per_step: 3,
                tol: 1e-9,
                max_rows: usize::MAX,
                horizon: usize::MAX,
                per_pair: usize::MAX,
                threads: 1,
            };
            let configs = [
                base,
                SeparateConfig {
                    max_rows: 40,
                    ..base
                },
                SeparateConfig {
                    horizon: 33,
                    ..base
                },
                SeparateConfig {
                    per_step: 1,
                    per_pair: 2,
                    ..base
                },
                SeparateConfig {
                    per_step: 2,
                    per_pair: 1,
                    ..base
                },
                SeparateConfig {
                    per_step: usize::MAX,
                    ..base
                },
            ];
            for cfg in configs {
                let none = FxHashSet::default();
                let (one, excess) = separate(&at, &idx, &w, &v_step, &v_pair, &none, cfg);
                assert!(one.len() > 5, "seed {seed}: {} cuts", one.len());
                // rows already handed out are skipped (and still count in the excess)
                let existing: FxHashSet<(u32, u32)> =
                    one.iter().step_by(3).map(|c| (c.step, c.pair)).collect();
                let (again, excess_again) =
                    separate(&at, &idx, &w, &v_step, &v_pair, &existing, cfg);
                for threads in [2, 3, 4, 7, 200] {
                    let many = SeparateConfig { threads, ..cfg };
                    let (got, ex) = separate(&at, &idx, &w, &v_step, &v_pair, &none, many);
                    assert_eq!(got, one, "seed {seed}, {threads} threads, {cfg:?}");
                    assert_eq!(ex.to_bits(), excess.to_bits());
                    let (got, ex) = separate(&at, &idx, &w, &v_step, &v_pair, &existing, many);
                    assert_eq!(got, again, "seed {seed}, {threads} threads, {cfg:?}");
                    assert_eq!(ex.to_bits(), excess_again.to_bits());
                }
            }
        }
    }

    /// A cut's fields as bits, for exact comparisons (`-0.0 != 0.0`, NaN equal to itself).
    fn bits(cuts: &[Cut]) -> Vec<(u32, u32, u64, Vec<u64>)> {
        cuts.iter()
            .map(|c| {
                let d = c.diff.iter().map(|x| x.to_bits()).collect();
                (c.step, c.pair, c.violation.to_bits(), d)
            })
            .collect()
    }

    /// The pass returns bit for bit what the old algorithm returns ([`reference`]: lazy heap,
    /// one walk, a diff per popped entry), on random attacks, with and without a per-pair cap,
    /// existing rows, pair slacks, a horizon, a row cap, both count layouts and both indexes,
    /// and any number of threads.
    #[test]
    fn same_cuts_as_the_old_pass() {
        let mut checked = 0;
        for seed in 1..=6u64 {
            let at = random_attack(seed + 100, 2 + seed as usize % 4, 60 + 5 * seed as usize);
            let n = at.categories.len();
            let steps = at.steps();
            let g_n = at.global_pairs.len() as u64;
            let mut rng = crate::test_rng(seed * 31337);
            let dense = PairIndex::new(&at);
            let sorted = PairIndex::with_budget(&at, 0);
            for round in 0..4 {
                // coarse weights (ties) in even rounds, fine ones in odd rounds
                let w: Vec<f64> = (0..n)
                    .map(|_| {
                        if round % 2 == 0 {
                            rng(5) as f64 * 0.25
                        } else {
                            rng(1 << 20) as f64 / 7777.0
                        }
                    })
                    .collect();
                let v_step = random_step_slacks(&mut rng, steps, 8);
                let v_pair: Vec<(u32, f64)> = (0..1 + rng(8))
                    .map(|_| (rng(g_n) as u32, rng(6) as f64 * 0.5))
                    .collect();
                let base = SeparateConfig {
                    per_step: 3,
                    tol: 1e-9,
                    max_rows: usize::MAX,
                    horizon: usize::MAX,
                    per_pair: usize::MAX,
                    threads: 1,
                };
                let mut configs = vec![
                    base,
                    SeparateConfig {
                        per_step: 1,
                        ..base
                    },
                    SeparateConfig {
                        per_step: usize::MAX,
                        ..base
                    },
                    SeparateConfig {
                        max_rows: 25,
                        ..base
                    },
                    SeparateConfig {
                        horizon: 40,
                        ..base
                    },
                    SeparateConfig { tol: 1.0, ..base },
                ];
                for per_pair in [0, 1, 2, 3, 20] {
                    for per_step in [1, 2, 10] {
                        configs.push(SeparateConfig {
                            per_step,
                            per_pair,
                            ..base
                        });
                    }
                }
                for cfg in configs {
                    let none = FxHashSet::default();
                    let (want, _) = reference::separate_reference(
                        &at, &dense, &w, &v_step, &v_pair, &none, cfg,
                    );
                    // existing rows: some of the found ones, and random ones
                    let mut existing: FxHashSet<(u32, u32)> =
                        want.iter().step_by(2).map(|c| (c.step, c.pair)).collect();
                    for _ in 0..20 {
                        existing.insert((rng(steps as u64) as u32, rng(g_n) as u32));
                    }
                    for rows in [&none, &existing] {
                        let (want, want_excess) = reference::separate_reference(
                            &at, &dense, &w, &v_step, &v_pair, rows, cfg,
                        );
                        for (idx, layout) in [
                            (&dense, Layout::PairMajor),
                            (&dense, Layout::Local),
                            (&sorted, Layout::Local),
                        ] {
                            for threads in [1, 2, 3, 7] {
                                let c = SeparateConfig { threads, ..cfg };
                                let (got, excess) = separate_with(
                                    &at,
                                    idx,
                                    &w,
                                    &v_step,
                                    &v_pair,
                                    rows,
                                    c,
                                    Some(layout),
                                );
                                assert_eq!(
                                    bits(&got),
                                    bits(&want),
                                    "seed {seed}, round {round}, {layout:?}, {c:?}"
                                );
                                assert_eq!(excess.to_bits(), want_excess.to_bits());
                                checked += usize::from(!got.is_empty());
                            }
                        }
                        // the public entry point picks a layout and agrees too
                        let (got, excess) = separate(&at, &dense, &w, &v_step, &v_pair, rows, cfg);
                        assert_eq!(bits(&got), bits(&want));
                        assert_eq!(excess.to_bits(), want_excess.to_bits());
                    }
                }
            }
        }
        assert!(checked > 1000, "{checked} non-empty comparisons");
    }

    #[test]
    fn finds_exactly_the_violated_rows() {
        // 1 thread, several, and more threads than steps (3): the same rows
        for threads in [1, 2, 3, 5] {
            violated_rows_with(threads);
        }
    }

    fn violated_rows_with(threads: usize) {
        let at = attack();
        // (the dense index, and the sorted one that large attacks get: the same rows)
        let indexes = [
            (PairIndex::new(&at), true),
            (PairIndex::with_budget(&at, 0), false),
        ];
        for (idx, dense) in indexes {
            assert_eq!(idx.is_dense(), dense);
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
                    threads,
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
