//! The separation pass's ranking of pairs ([`super::separate`]): keys that change in place,
//! read in descending order at every step, as far as a cutoff.
//!
//! Idea: the pass reads, at each step, its few dozen largest pairs (each step's cutoff lets
//! through mostly the same pairs as the step before), and changes the keys of a few dozen
//! mostly small pairs between two steps. So the ranking has two parts:
//!
//! - `hot`: a sorted vector (descending) of the pairs read recently, with their exact keys;
//!   a hot pair whose key changes moves within it (binary search, then a shift of the entries
//!   in between).
//! - `cold`: every other pair, in a max-heap with lazy invalidation: a key change pushes a new
//!   entry stamped with the pair's next version and leaves the old one stale (dropped when it
//!   reaches the top, or when the heap is rebuilt because stale entries dominate).
//!
//! A read merges the two: it walks `hot` in order and, whenever the top of `cold` is larger
//! than the next hot entry, pops it and inserts it there (so a read leaves the pairs it saw in
//! `hot`, in order). After a read `hot` is cut back to its largest entries ([`Ranking::trim`]);
//! the rest go back to `cold`. A step that reads the same pairs as the step before therefore
//! costs a sequential scan, not pops and pushes on a heap of hundreds of thousands of entries.
//!
//! Cost: a cold key change O(1) amortized (a push at the end of the heap); a hot one
//! O(log h + the shift); a read of k pairs O(k) plus O(log n) per pair taken from `cold`.
//! Memory: 16 bytes per id, plus 16 per heap entry (at most `4 n + 2^20` before a rebuild).
//!
//! Invariants: every id with a nonzero key is in exactly one part: in `hot` (once, with its
//! current key; `state[id].hot`) or in `cold` as the one entry whose version is
//! `state[id].version`. `hot` is sorted by (key, id) descending. Key 0 means absent: such an
//! id is in neither part and is never read. The read order is (key, id) descending: equal
//! keys go to the larger id.

use std::collections::BinaryHeap;

/// A `cold` entry; the derived order is the key, then the id (then the version, which never
/// decides: one entry per id is valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    key: u64,
    id: u32,
    version: u32,
}

/// Per id: its current key, the version of its valid `cold` entry, and whether it is in `hot`.
#[derive(Debug, Clone, Copy, Default)]
struct State {
    key: u64,
    version: u32,
    hot: bool,
}

/// Ranking of the ids `0..n` by a key that changes in place (see the module docs).
pub(crate) struct Ranking {
    /// `(key, id)`, sorted descending.
    hot: Vec<(u64, u32)>,
    cold: BinaryHeap<Entry>,
    state: Vec<State>,
}

impl Ranking {
    /// The ranking of ids `0..keys.len()` with these keys (0: absent), all cold.
    pub(crate) fn new(keys: impl IntoIterator<Item = u64>) -> Self {
        let state: Vec<State> = keys
            .into_iter()
            .map(|key| State {
                key,
                version: 0,
                hot: false,
            })
            .collect();
        let mut r = Ranking {
            hot: Vec::new(),
            cold: BinaryHeap::new(),
            state,
        };
        r.rebuild_cold();
        r
    }

    /// The cold heap anew: one entry per cold id with a key, at its current version.
    fn rebuild_cold(&mut self) {
        let entries: Vec<Entry> = self
            .state
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.hot && s.key != 0)
            .map(|(id, s)| Entry {
                key: s.key,
                id: id as u32,
                version: s.version,
            })
            .collect();
        self.cold = BinaryHeap::from(entries);
    }

    /// The key of `id` (0: absent).
    #[cfg(test)]
    pub(crate) fn key(&self, id: u32) -> u64 {
        self.state[id as usize].key
    }

    /// Give `id` the key `key` (0: absent).
    #[inline]
    pub(crate) fn set(&mut self, id: u32, key: u64) {
        let s = &mut self.state[id as usize];
        let old = s.key;
        if old == key {
            return;
        }
        s.key = key;
        if !s.hot {
            s.version = s.version.wrapping_add(1);
            if key != 0 {
                let version = s.version;
                self.cold.push(Entry { key, id, version });
                if self.cold.len() > 4 * self.state.len() + (1 << 20) {
                    // stale entries dominate
                    self.rebuild_cold();
                }
            }
            return;
        }
        let at = self.hot_position(old, id);
        if key == 0 {
            self.state[id as usize].hot = false;
            self.hot.remove(at);
            return;
        }
        // move the entry to its new place, shifting the ones in between
        let new = (key, id);
        if key > old {
            let to = self.hot[..at].partition_point(|&e| e > new);
            self.hot[to..=at].rotate_right(1);
            self.hot[to] = new;
        } else {
            let to = at + self.hot[at + 1..].partition_point(|&e| e > new);
            self.hot[at..=to].rotate_left(1);
            self.hot[to] = new;
        }
    }

    /// The index in `hot` of the entry `(key, id)`, which is there.
    fn hot_position(&self, key: u64, id: u32) -> usize {
        let e = (key, id);
        let at = self.hot.partition_point(|&x| x > e);
        debug_assert_eq!(self.hot.get(at), Some(&e));
        at
    }

    /// Drop stale entries from the top of `cold`; the top, if any.
    #[inline]
    fn cold_top(&mut self) -> Option<Entry> {
        while let Some(&top) = self.cold.peek() {
            let s = &self.state[top.id as usize];
            if !s.hot && s.version == top.version {
                return Some(top);
            }
            self.cold.pop();
        }
        None
    }

    /// The ids with a nonzero key that passes `admit`, in descending order of (key, id), as
    /// long as the caller reads. `admit` must be monotone (if it rejects a key it rejects
    /// every smaller key). The pairs read move to `hot`.
    pub(crate) fn descending<F: Fn(u64) -> bool>(&mut self, admit: F) -> Descending<'_, F> {
        Descending {
            ranking: self,
            at: 0,
            admit,
        }
    }

    /// Keep at most `keep` entries in `hot` once it holds more than `2 keep` (the smallest
    /// go back to `cold`).
    pub(crate) fn trim(&mut self, keep: usize) {
        if self.hot.len() <= keep.saturating_mul(2) {
            return;
        }
        for i in keep..self.hot.len() {
            let (key, id) = self.hot[i];
            let s = &mut self.state[id as usize];
            s.hot = false;
            s.version = s.version.wrapping_add(1);
            let version = s.version;
            self.cold.push(Entry { key, id, version });
        }
        self.hot.truncate(keep);
    }
}

/// A descending read of a [`Ranking`] (see [`Ranking::descending`]); yields `(id, key)`.
pub(crate) struct Descending<'a, F> {
    ranking: &'a mut Ranking,
    /// The next hot entry to read.
    at: usize,
    admit: F,
}

impl<F: Fn(u64) -> bool> Iterator for Descending<'_, F> {
    type Item = (u32, u64);

    #[inline]
    fn next(&mut self) -> Option<(u32, u64)> {
        let r = &mut *self.ranking;
        let hot = r.hot.get(self.at).copied();
        let cold = r.cold_top();
        let take_cold = match (hot, cold) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(h), Some(c)) => (c.key, c.id) > h,
        };
        let (key, id) = if take_cold {
            let c = cold?;
            (c.key, c.id)
        } else {
            hot?
        };
        if !(self.admit)(key) {
            return None;
        }
        if take_cold {
            r.cold.pop();
            r.state[id as usize].hot = true;
            r.hot.insert(self.at, (key, id));
        }
        self.at += 1;
        Some((id, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every descending read equals sorting the present keys, through random key changes
    /// (many ties, many absent ids), partial reads and trims.
    #[test]
    fn reads_in_sorted_order_through_changes() {
        let mut rng = crate::test_rng(11);
        for n in [0usize, 1, 2, 3, 7, 64, 300] {
            let mut keys: Vec<u64> = (0..n).map(|_| rng(6)).collect();
            let mut r = Ranking::new(keys.iter().copied());
            for round in 0..300 {
                if n > 0 {
                    for _ in 0..rng(6) {
                        let id = rng(n as u64) as usize;
                        keys[id] = if rng(4) == 0 { rng(6) } else { rng(1000) };
                        r.set(id as u32, keys[id]);
                    }
                }
                for (id, &k) in keys.iter().enumerate() {
                    assert_eq!(r.key(id as u32), k);
                }
                let mut want: Vec<(u32, u64)> = keys
                    .iter()
                    .enumerate()
                    .filter(|&(_, &k)| k != 0)
                    .map(|(id, &k)| (id as u32, k))
                    .collect();
                want.sort_by_key(|x| std::cmp::Reverse((x.1, x.0)));
                let limit = [0, 3, 500, 1000][round % 4];
                let read = 1 + rng(12) as usize;
                // a partial read is a prefix of the full order
                let part: Vec<(u32, u64)> = r.descending(|k| k > limit).take(read).collect();
                let want_part: Vec<(u32, u64)> = want
                    .iter()
                    .copied()
                    .filter(|x| x.1 > limit)
                    .take(read)
                    .collect();
                assert_eq!(part, want_part, "n {n}, round {round}");
                if round % 3 == 0 {
                    let all: Vec<(u32, u64)> = r.descending(|_| true).collect();
                    assert_eq!(all, want, "n {n}, round {round}");
                }
                r.trim(rng(5) as usize);
                assert!(r.hot.windows(2).all(|x| x[0] > x[1]));
            }
        }
    }
}
