//! THE merge engine: a multiset of token sequences with incrementally maintained pair counts.
//!
//! Idea: a corpus (distinct pretokens with counts), a batch (sequences with count 1) or any
//! other collection of token sequences is stored once, in a flat arena of symbol nodes linked to
//! their neighbours. For every adjacent pair the engine keeps its weighted count and the list of
//! arena positions where it may start. Applying a merge `(a, b) -> c` visits only those
//! positions, rewrites each occurrence in place (the left node becomes `c`, the right node is
//! unlinked) and reports the net count change of every pair it touched. Policies sit on top:
//! the trainer picks the most frequent pair, mixture inference follows a given merge list and
//! records the deltas, dynamic merging runs the trainer's policy over one batch, supertokens
//! refuse some pairs.
//!
//! Cost: building is O(total symbols). A merge costs O(occurrences of the pair) plus the hash
//! updates of the pairs around them: never the length of the sequences (long CJK or code
//! pretokens would make that quadratic), and nothing is ever recounted (except, with a
//! threshold, one scan of the arena after a merge into an already existing id). Memory: 16
//! bytes a symbol, plus ~41 bytes a hash bucket of the pair index and the spilled lists.
//!
//! Rare pairs (opt-in, [`Engine::set_min_tracked`]): a trainer that never merges a pair seen
//! fewer than `t` times need not index such pairs, and in real text most pairs are that rare
//! (SuperBPE's stage 2 on 7 MB of English: 431k of 575k pairs occur once). With a threshold
//! `t > 1` the engine *tracks* only pairs whose count is at least `t` (count and positions); a
//! pair that falls below `t` is dropped from the index, one that rises to `t` enters it. The
//! counts of the tracked pairs stay exact, so a trainer that pops the most frequent tracked pair
//! with count `>= t` gets the true most frequent pair (every untracked pair is below `t`).
//!
//! Invariants kept between calls (`t` = the tracking threshold, 1 by default):
//! - the index (one slot per pair: its count and its places) holds exactly the pairs whose count
//!   is at least `t` (`t = 1`: the pairs with a nonzero count);
//! - the count of an indexed `p` = sum over sequences s of `weight[s]` x (number of adjacent
//!   occurrences of `p` in s, overlapping occurrences included);
//! - every position where an indexed `p` starts is in its places (which may also hold stale
//!   positions, checked on use);
//! - no id at or above `fresh_from` has ever been in the arena;
//! - a sequence's first node is never unlinked, so `start[s]` stays valid; nodes never move.

pub mod heap;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::collections::hash_map::Entry;

pub use heap::PairHeap;

/// Positions of one pair: most pairs occur a few times, so up to four live inline (no
/// allocation; the same 24 bytes as a `Vec`).
type Places = SmallVec<[u32; 4]>;

/// One entry of the pair index: the pair's weighted count and where it may start (one table,
/// not a table of counts and a table of positions: 41 bytes a bucket instead of 50).
#[derive(Debug, Clone, Default)]
struct Slot {
    count: u64,
    places: Places,
}

/// A token id.
pub type TokenId = u32;
/// An ordered pair of adjacent tokens `(left, right)`.
pub type Pair = (TokenId, TokenId);

/// No neighbour / unlinked node.
const NONE: u32 = u32::MAX;

/// The net effect of one merge on one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairChange {
    pub pair: Pair,
    /// Net change of the weighted count (never 0).
    pub delta: i64,
    /// The count after the merge (0 if the pair vanished).
    pub count: u64,
}

/// A multiset of token sequences with current pair counts. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    /// Symbol of each node (`NONE` once unlinked).
    sym: Vec<TokenId>,
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Sequence of each node.
    seq: Vec<u32>,
    start: Vec<u32>,
    len: Vec<u32>,
    weight: Vec<u64>,
    /// The pair index: count and positions of each indexed pair, in one table.
    index: FxHashMap<Pair, Slot>,
    scratch: FxHashMap<Pair, i64>,
    /// Pairs with a lower count are not indexed (0 and 1: every pair is).
    min_tracked: u64,
    /// 1 + the largest id ever pushed or merged into the arena: ids from here on are fresh.
    fresh_from: u32,
    /// With a threshold: positions of the pairs a merge created, committed once their counts
    /// are known.
    pending: Vec<(Pair, u32)>,
}

impl Engine {
    /// An empty engine; add sequences with [`Engine::push`], then call [`Engine::index`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Build and index an engine from `(sequence, weight)` items.
    pub fn from_sequences<S: AsRef<[TokenId]>>(items: impl IntoIterator<Item = (S, u64)>) -> Self {
        let mut e = Self::new();
        for (s, w) in items {
            e.push(s.as_ref(), w);
        }
        e.index();
        e
    }

    /// Append a sequence with multiplicity `weight`. Call [`Engine::index`] once after the last
    /// push, before merging. Returns the sequence's index.
    ///
    /// # Panics
    /// If the arena would exceed `u32::MAX - 1` symbols (the caller bounds its input).
    pub fn push(&mut self, seq: &[TokenId], weight: u64) -> usize {
        let i = self.len.len();
        let base = self.sym.len();
        assert!(
            base + seq.len() < NONE as usize,
            "merge engine holds at most 2^32 - 2 symbols"
        );
        self.start.push(base as u32);
        self.len.push(seq.len() as u32);
        self.weight.push(weight);
        for (k, &t) in seq.iter().enumerate() {
            let pos = (base + k) as u32;
            self.fresh_from = self.fresh_from.max(t.saturating_add(1));
            self.sym.push(t);
            self.prev.push(if k == 0 { NONE } else { pos - 1 });
            self.next
                .push(if k + 1 == seq.len() { NONE } else { pos + 1 });
            self.seq.push(i as u32);
        }
        i
    }

    /// Reserve room for `sequences` more sequences holding `symbols` more symbols in all, so that
    /// loading a known amount does not over-allocate (the arena's vectors grow by doubling).
    pub fn reserve(&mut self, sequences: usize, symbols: usize) {
        for v in [&mut self.sym, &mut self.next, &mut self.prev, &mut self.seq] {
            v.reserve_exact(symbols);
        }
        self.start.reserve_exact(sequences);
        self.len.reserve_exact(sequences);
        self.weight.reserve_exact(sequences);
    }

    /// Reserve room for `pairs` distinct pairs in the pair index, so that a caller who knows
    /// roughly how many pairs the index will hold (at [`Engine::index`] and during the merges)
    /// avoids the moments where a growing hash table and its doubled copy are both alive.
    /// Changes no result.
    pub fn reserve_pairs(&mut self, pairs: usize) {
        self.index.reserve(pairs.saturating_sub(self.index.len()));
    }

    /// Index only the pairs that occur at least `t` times (default 1: all pairs); see the
    /// module docs. Takes effect at the next [`Engine::index`], which may be called again at
    /// any time to re-index the current sequences under a new threshold. Exact for a caller
    /// that only ever merges pairs with a count of at least `t`; [`Engine::count`],
    /// [`Engine::pairs`], [`Engine::places`] and the reported changes then only cover indexed
    /// pairs (an untracked pair reads as count 0). Merging an untracked pair still works (its
    /// occurrences are found by a scan of the arena).
    pub fn set_min_tracked(&mut self, t: u64) {
        self.min_tracked = t;
    }

    /// The tracking threshold (see [`Engine::set_min_tracked`]; at least 1).
    pub fn min_tracked(&self) -> u64 {
        self.min_tracked.max(1)
    }

    /// Count all pairs and record where they occur (only the pairs at or above the tracking
    /// threshold, if one is set: then all pairs are counted in a temporary table first).
    /// O(total symbols).
    pub fn index(&mut self) {
        self.index.clear();
        if self.min_tracked() > 1 {
            self.index_tracked();
            return;
        }
        for pos in 0..self.sym.len() {
            let nx = self.next[pos];
            if nx == NONE || self.sym[pos] == NONE {
                continue;
            }
            let w = self.weight[self.seq[pos] as usize];
            if w == 0 {
                continue;
            }
            let p = (self.sym[pos], self.sym[nx as usize]);
            let slot = self.index.entry(p).or_default();
            slot.count += w;
            slot.places.push(pos as u32);
        }
    }

    /// The pair starting at arena position `pos` and the weight of its sequence, if `pos` is a
    /// live node with a right neighbour in a sequence of nonzero weight.
    fn pair_at(&self, pos: usize) -> Option<(Pair, u64)> {
        let nx = self.next[pos];
        if nx == NONE || self.sym[pos] == NONE {
            return None;
        }
        let w = self.weight[self.seq[pos] as usize];
        (w != 0).then(|| ((self.sym[pos], self.sym[nx as usize]), w))
    }

    /// [`Engine::index`] with a threshold: count every pair in a temporary table, keep those at
    /// or above it, then record their positions. Most pairs fall below the threshold, so the
    /// temporary table would be the largest thing alive: the pairs are counted in parts (split
    /// by a hash of the pair, one pass over the arena each), about one per 2^19 symbols.
    fn index_tracked(&mut self) {
        let t = self.min_tracked();
        let parts = 1 + (self.sym.len() >> 19) as u64;
        // Not the table's own hash (FxHash): its low bits pick the buckets.
        let part_of = |(a, b): Pair| {
            let h = ((a as u64) << 32 | b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (h >> 32) % parts
        };
        let mut kept: Vec<(Pair, u64)> = Vec::new();
        let mut all: FxHashMap<Pair, u64> = FxHashMap::default();
        for part in 0..parts {
            all.clear();
            for pos in 0..self.sym.len() {
                if let Some((p, w)) = self.pair_at(pos) {
                    if parts == 1 || part_of(p) == part {
                        *all.entry(p).or_insert(0) += w;
                    }
                }
            }
            kept.extend(all.iter().filter(|&(_, &c)| c >= t).map(|(&p, &c)| (p, c)));
        }
        drop(all);
        self.index.reserve(kept.len());
        self.index.extend(kept.into_iter().map(|(p, count)| {
            let places = Places::new();
            (p, Slot { count, places })
        }));
        for pos in 0..self.sym.len() {
            if let Some((p, _)) = self.pair_at(pos) {
                if let Some(slot) = self.index.get_mut(&p) {
                    slot.places.push(pos as u32);
                }
            }
        }
    }

    /// The live positions of `pairs` (and their weighted counts) by a scan of the arena:
    /// how occurrences of untracked pairs are found. O(total symbols).
    fn scan(&self, pairs: &mut FxHashMap<Pair, (u64, Places)>) {
        for pos in 0..self.sym.len() {
            if let Some((p, w)) = self.pair_at(pos) {
                if let Some((c, v)) = pairs.get_mut(&p) {
                    *c += w;
                    v.push(pos as u32);
                }
            }
        }
    }

    /// Number of sequences.
    pub fn num_sequences(&self) -> usize {
        self.len.len()
    }

    /// The current symbols of sequence `i`.
    pub fn sequence(&self, i: usize) -> Vec<TokenId> {
        let mut out = Vec::with_capacity(self.len[i] as usize);
        self.for_each_symbol(i, |t| out.push(t));
        out
    }

    /// Call `f` on each current symbol of sequence `i`, in order.
    pub fn for_each_symbol(&self, i: usize, mut f: impl FnMut(TokenId)) {
        if self.len[i] == 0 {
            return;
        }
        let mut pos = self.start[i];
        while pos != NONE {
            f(self.sym[pos as usize]);
            pos = self.next[pos as usize];
        }
    }

    /// Current length of sequence `i`.
    pub fn sequence_len(&self, i: usize) -> usize {
        self.len[i] as usize
    }

    /// The multiplicity of sequence `i`.
    pub fn weight(&self, i: usize) -> u64 {
        self.weight[i]
    }

    /// Current weighted count of `pair` (0 if absent).
    pub fn count(&self, pair: Pair) -> u64 {
        self.index.get(&pair).map_or(0, |s| s.count)
    }

    /// All pairs with a nonzero count, in no particular order.
    pub fn pairs(&self) -> impl Iterator<Item = (Pair, u64)> + '_ {
        self.index.iter().map(|(&p, s)| (p, s.count))
    }

    /// Number of distinct pairs with a nonzero count (indexed pairs only, with a threshold).
    pub fn num_pairs(&self) -> usize {
        self.index.len()
    }

    /// Arena positions where `pair` may start (a superset: may hold stale positions).
    pub fn places(&self, pair: Pair) -> &[u32] {
        self.index.get(&pair).map_or(&[], |s| s.places.as_slice())
    }

    /// Whether `pair` currently starts at arena position `pos` (checks one entry of
    /// [`Engine::places`], which may be stale). O(1).
    pub fn occurs_at(&self, pos: u32, pair: Pair) -> bool {
        let p = pos as usize;
        match self.next.get(p) {
            Some(&q) if q != NONE => self.sym[p] == pair.0 && self.sym[q as usize] == pair.1,
            _ => false,
        }
    }

    /// The sequence that arena position `pos` belongs to.
    pub fn sequence_of(&self, pos: u32) -> usize {
        self.seq[pos as usize] as usize
    }

    /// Sum over sequences of weight x current length: the number of tokens the multiset
    /// segments into now.
    pub fn total_tokens(&self) -> u64 {
        self.len
            .iter()
            .zip(&self.weight)
            .map(|(&l, &w)| l as u64 * w)
            .sum()
    }

    /// Replace the non-overlapping occurrences of `pair`, left to right, in every sequence by
    /// `new_id`. Fills `changes` with the net count change of each touched pair (the merged
    /// pair itself included, its count going to 0) and returns the weighted number of
    /// replacements made. `new_id` may be an existing token.
    pub fn merge(&mut self, pair: Pair, new_id: TokenId, changes: &mut Vec<PairChange>) -> u64 {
        changes.clear();
        let t = self.min_tracked();
        let fresh = new_id >= self.fresh_from;
        self.fresh_from = self.fresh_from.max(new_id.saturating_add(1));
        // The merged pair's list is taken out; its slot stays until the counts are settled.
        let mut places = match self.index.get_mut(&pair) {
            Some(slot) => std::mem::take(&mut slot.places),
            None if t > 1 => {
                let mut m = FxHashMap::default();
                m.insert(pair, (0, Places::new()));
                self.scan(&mut m);
                m.remove(&pair).map(|(_, v)| v).unwrap_or_default()
            }
            None => return 0,
        };
        let (a, b) = pair;
        if a == b {
            // Overlapping occurrences (runs "aaa"): left to right decides which ones merge.
            // (Sorting every list for memory locality was measured: no gain.)
            places.sort_unstable();
        }
        let mut merged = 0u64;
        let Engine {
            sym,
            next,
            prev,
            seq,
            len,
            weight,
            index,
            scratch,
            pending,
            ..
        } = self;
        pending.clear();
        scratch.clear();
        for &pos in &places {
            let p = pos as usize;
            let q = next[p];
            if sym[p] != a || q == NONE || sym[q as usize] != b {
                continue; // stale
            }
            let s = seq[p] as usize;
            let w = weight[s] as i64;
            merged += w as u64;
            *scratch.entry(pair).or_insert(0) -= w;
            let pv = prev[p];
            if pv != NONE {
                let left = sym[pv as usize];
                *scratch.entry((left, a)).or_insert(0) -= w;
                *scratch.entry((left, new_id)).or_insert(0) += w;
                if t > 1 {
                    pending.push(((left, new_id), pv));
                } else {
                    index.entry((left, new_id)).or_default().places.push(pv);
                }
            }
            let r = next[q as usize];
            if r != NONE {
                let right = sym[r as usize];
                *scratch.entry((b, right)).or_insert(0) -= w;
                *scratch.entry((new_id, right)).or_insert(0) += w;
                if t > 1 {
                    pending.push(((new_id, right), pos));
                } else {
                    index.entry((new_id, right)).or_default().places.push(pos);
                }
                prev[r as usize] = pos;
            }
            sym[p] = new_id;
            next[p] = r;
            sym[q as usize] = NONE;
            next[q as usize] = NONE;
            prev[q as usize] = NONE;
            len[s] -= 1;
        }
        if t > 1 {
            self.settle_tracked(pair, fresh, changes);
            return merged;
        }
        for (&p, &d) in scratch.iter() {
            // Every pair the merge touched has a slot: it occurred before (count > 0) or its
            // new position was just recorded.
            let now = match index.entry(p) {
                Entry::Occupied(mut o) => {
                    let now = o.get().count as i128 + d as i128;
                    debug_assert!(now >= 0, "pair count went negative");
                    let now = now.max(0) as u64;
                    if now == 0 {
                        o.remove();
                    } else {
                        o.get_mut().count = now;
                    }
                    now
                }
                Entry::Vacant(v) => {
                    debug_assert!(d >= 0, "pair count went negative");
                    let now = d.max(0) as u64;
                    if now > 0 {
                        v.insert(Slot {
                            count: now,
                            places: Places::new(),
                        });
                    }
                    now
                }
            };
            if d != 0 {
                changes.push(PairChange {
                    pair: p,
                    delta: d,
                    count: now,
                });
            }
        }
        debug_assert_eq!(self.count(pair), 0);
        merged
    }

    /// The end of a merge with a threshold `t > 1`: apply the net changes in `scratch` to the
    /// indexed pairs, drop those that fell below `t`, index those that reached it, and commit
    /// the pending positions of the indexed ones. A pair the merge created that was not indexed
    /// had count 0 before if the merged id is `fresh` (then its count is its delta); otherwise
    /// (a merge into an existing id, rare) the arena is scanned for its exact count.
    fn settle_tracked(&mut self, pair: Pair, fresh: bool, changes: &mut Vec<PairChange>) {
        let t = self.min_tracked();
        let mut rescan: FxHashMap<Pair, (u64, Places)> = FxHashMap::default();
        let mut deltas: FxHashMap<Pair, i64> = FxHashMap::default();
        for (&p, &d) in self.scratch.iter() {
            let now = match self.index.get_mut(&p) {
                Some(slot) => {
                    let now = slot.count as i128 + d as i128;
                    debug_assert!(now >= 0, "pair count went negative");
                    let now = now.max(0) as u64;
                    if now < t {
                        self.index.remove(&p);
                    } else {
                        slot.count = now;
                    }
                    now
                }
                None if d > 0 && fresh => {
                    let now = d as u64;
                    if now >= t {
                        let places = Places::new();
                        self.index.insert(p, Slot { count: now, places });
                    }
                    now
                }
                None if d > 0 => {
                    rescan.insert(p, (0, Places::new()));
                    deltas.insert(p, d);
                    continue;
                }
                None => continue, // stays below the threshold
            };
            if d != 0 {
                changes.push(PairChange {
                    pair: p,
                    delta: d,
                    count: now,
                });
            }
        }
        if !rescan.is_empty() {
            self.scan(&mut rescan);
            for (p, (count, places)) in rescan {
                if count >= t {
                    self.index.insert(p, Slot { count, places });
                    changes.push(PairChange {
                        pair: p,
                        delta: deltas[&p],
                        count,
                    });
                } else {
                    deltas.remove(&p);
                }
            }
        }
        for &(p, pos) in &self.pending {
            if !deltas.contains_key(&p) {
                if let Some(slot) = self.index.get_mut(&p) {
                    slot.places.push(pos);
                }
            }
        }
        self.pending.clear();
        debug_assert_eq!(self.count(pair), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Obviously-correct recount of all pairs.
    fn recount(e: &Engine) -> FxHashMap<Pair, u64> {
        let mut m = FxHashMap::default();
        for i in 0..e.num_sequences() {
            for w in e.sequence(i).windows(2) {
                *m.entry((w[0], w[1])).or_insert(0) += e.weight(i);
            }
        }
        m
    }

    fn naive_merge(seq: &[u32], pair: Pair, c: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < seq.len() {
            if i + 1 < seq.len() && (seq[i], seq[i + 1]) == pair {
                out.push(c);
                i += 2;
            } else {
                out.push(seq[i]);
                i += 1;
            }
        }
        out
    }

    fn check(seqs: Vec<(Vec<u32>, u64)>, merges: &[(Pair, u32)]) {
        let mut e = Engine::from_sequences(seqs.iter().map(|(s, w)| (s.as_slice(), *w)));
        let mut expect: Vec<Vec<u32>> = seqs.iter().map(|(s, _)| s.clone()).collect();
        let mut changes = Vec::new();
        for &(p, c) in merges {
            let before = recount(&e);
            let n = e.merge(p, c, &mut changes);
            for (i, s) in expect.iter_mut().enumerate() {
                *s = naive_merge(s, p, c);
                assert_eq!(e.sequence(i), *s);
                assert_eq!(e.sequence_len(i), s.len());
            }
            let after = recount(&e);
            let got: FxHashMap<Pair, u64> = e.pairs().collect();
            assert_eq!(got, after);
            // reported deltas are exactly the differences
            for ch in &changes {
                let b = *before.get(&ch.pair).unwrap_or(&0) as i64;
                let a = *after.get(&ch.pair).unwrap_or(&0) as i64;
                assert_eq!(a - b, ch.delta, "{:?}", ch.pair);
                assert_eq!(a as u64, ch.count);
            }
            let reported: usize = changes.len();
            let real = before
                .keys()
                .chain(after.keys())
                .collect::<std::collections::HashSet<_>>()
                .into_iter()
                .filter(|p| before.get(p) != after.get(p))
                .count();
            assert_eq!(reported, real);
            assert_eq!(n, before.get(&p).map_or(0, |_| n));
            // every sequence holding a pair has a position listed in its places
            for (pair, _) in e.pairs() {
                for i in 0..e.num_sequences() {
                    if e.sequence(i).windows(2).any(|w| (w[0], w[1]) == pair) {
                        assert!(e.places(pair).iter().any(|&p| e.sequence_of(p) == i));
                    }
                }
            }
        }
    }

    #[test]
    fn runs_and_chains() {
        check(
            vec![
                (vec![1, 1, 1], 5),
                (vec![1, 1, 1, 1], 2),
                (vec![1, 2, 1, 2, 1, 2], 3),
                (vec![2, 1, 2, 3], 1),
                (vec![7], 9),
                (vec![], 1),
            ],
            &[
                ((1, 1), 10),
                ((1, 2), 11),
                ((11, 11), 12),
                ((10, 1), 13),
                ((2, 3), 14),
            ],
        );
    }

    #[test]
    fn merge_into_existing_id() {
        // "ab"+"c" after "a"+"bc": the result reuses an existing id.
        check(
            vec![(vec![0, 1, 2, 0, 1, 2], 1), (vec![0, 1, 3], 4)],
            &[
                ((1, 2), 5),
                ((0, 1), 6),
                ((0, 5), 7),
                ((6, 2), 7),
                ((7, 7), 8),
            ],
        );
    }

    #[test]
    fn merged_count_is_weighted() {
        let mut e = Engine::from_sequences([(vec![1u32, 1, 1, 1, 1], 3u64)]);
        let mut ch = Vec::new();
        assert_eq!(e.merge((1, 1), 9, &mut ch), 6);
        assert_eq!(e.sequence(0), vec![9, 9, 1]);
        assert_eq!(e.merge((5, 5), 10, &mut ch), 0);
        assert!(ch.is_empty());
    }

    /// With a tracking threshold, after every merge: the index holds exactly the pairs whose
    /// recount reaches it, with their exact counts and live positions; the reported changes
    /// are exact for the indexed pairs; the trainer's policy (most frequent pair, smallest ids)
    /// over the indexed pairs picks what it picks over all pairs, as long as the best count is
    /// at least the threshold.
    fn check_tracked(seqs: &[(Vec<u32>, u64)], t: u64, reuse: bool) {
        let mut full = Engine::from_sequences(seqs.iter().map(|(s, w)| (s.as_slice(), *w)));
        let mut e = Engine::new();
        e.set_min_tracked(t);
        for (s, w) in seqs {
            e.push(s, *w);
        }
        e.index();
        let (mut ch, mut ch_full) = (Vec::new(), Vec::new());
        for (step, next_id) in (0..40).zip(100..) {
            let all = recount(&e);
            let want: FxHashMap<Pair, u64> = all
                .iter()
                .filter(|&(_, &c)| c >= t)
                .map(|(&p, &c)| (p, c))
                .collect();
            let got: FxHashMap<Pair, u64> = e.pairs().collect();
            assert_eq!(got, want, "step {step}");
            for &p in want.keys() {
                for i in 0..e.num_sequences() {
                    if e.sequence(i).windows(2).any(|w| (w[0], w[1]) == p) {
                        assert!(
                            e.places(p)
                                .iter()
                                .any(|&q| e.sequence_of(q) == i && e.occurs_at(q, p)),
                            "step {step} t {t} reuse {reuse} pair {p:?} seq {i}"
                        );
                    }
                }
            }
            let best =
                |m: &FxHashMap<Pair, u64>| m.iter().map(|(&p, &c)| (c, std::cmp::Reverse(p))).max();
            let Some((c, std::cmp::Reverse(p))) = best(&want) else {
                break;
            };
            assert_eq!(Some((c, std::cmp::Reverse(p))), best(&all));
            // Every few merges reuse an id already in the arena, not one of the pair's (as
            // "ab"+"c" -> "abc" after "a"+"bc" -> "abc").
            let old = (0..4).find(|&x| x != p.0 && x != p.1);
            let id = match old {
                Some(x) if reuse && step % 3 == 2 => x,
                _ => next_id,
            };
            let n = e.merge(p, id, &mut ch);
            assert_eq!(n, full.merge(p, id, &mut ch_full));
            for i in 0..e.num_sequences() {
                assert_eq!(e.sequence(i), full.sequence(i));
            }
            let after = recount(&e);
            for c in &ch {
                assert_eq!(after.get(&c.pair).copied().unwrap_or(0), c.count);
                assert!(ch_full.contains(c), "{c:?}");
            }
            for c in &ch_full {
                if c.count >= t {
                    assert!(ch.contains(c), "{c:?} not reported");
                }
            }
        }
    }

    #[test]
    fn tracking_threshold_is_exact() {
        let mut rnd = crate::test_rng(0x2545_F491_4F6C_DD1D);
        for round in 0..40 {
            let seqs: Vec<(Vec<u32>, u64)> = (0..25)
                .map(|_| {
                    let n = rnd(14) as usize;
                    ((0..n).map(|_| rnd(4) as u32).collect(), 1 + rnd(3))
                })
                .collect();
            for t in [2, 3, 5] {
                check_tracked(&seqs, t, round % 2 == 1);
            }
        }
    }

    #[test]
    fn merging_an_untracked_pair_scans() {
        let mut e = Engine::new();
        e.set_min_tracked(3);
        e.push(&[1, 2, 3, 1, 2], 1);
        e.push(&[3, 1], 1);
        e.index();
        assert_eq!(e.count((1, 2)), 0); // count 2: below the threshold
        let mut ch = Vec::new();
        assert_eq!(e.merge((1, 2), 9, &mut ch), 2);
        assert_eq!(e.sequence(0), vec![9, 3, 9]);
        assert_eq!(e.sequence(1), vec![3, 1]);
    }

    #[test]
    fn random_merge_sequences_match_naive() {
        // Deterministic pseudo-random sequences over a tiny alphabet (many overlaps).
        let mut rnd = crate::test_rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..30 {
            let seqs: Vec<(Vec<u32>, u64)> = (0..20)
                .map(|_| {
                    let n = rnd(12) as usize;
                    ((0..n).map(|_| rnd(3) as u32).collect(), 1 + rnd(4))
                })
                .collect();
            let mut e = Engine::from_sequences(seqs.iter().map(|(s, w)| (s.as_slice(), *w)));
            let mut merges = Vec::new();
            let mut ch = Vec::new();
            for next in 100..108 {
                let Some((p, _)) = e.pairs().max_by_key(|&(p, c)| (c, std::cmp::Reverse(p))) else {
                    break;
                };
                e.merge(p, next, &mut ch);
                merges.push((p, next));
            }
            check(seqs, &merges);
        }
    }
}
