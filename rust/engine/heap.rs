//! A max-heap of candidate pairs with lazy invalidation.
//!
//! Idea: the heap may hold stale entries. An entry's stored priority is never lower than the
//! pair's true priority (the policies only push a pair when it is new and let it decay in
//! place), so when the top entry's stored priority equals the true one it is the true maximum;
//! otherwise it is re-pushed with its true priority (or dropped if the pair is gone).
//! Cost: O(log n) per push/pop; each merge re-pushes only the pairs that reach the top stale.
//!
//! Priority: higher count first; among equal counts, the higher `key` (a policy-defined tie
//! break, e.g. `Reverse(pair)` for "smallest pair ids first").

use std::collections::BinaryHeap;

use super::Pair;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry<K: Ord> {
    // Field order is the comparison order (derive(Ord) is lexicographic).
    count: u64,
    key: K,
    pair: Pair,
}

/// Lazy max-heap of pairs keyed by `(count, key)`.
#[derive(Debug, Clone)]
pub struct PairHeap<K: Ord + Copy> {
    heap: BinaryHeap<Entry<K>>,
}

impl<K: Ord + Copy> Default for PairHeap<K> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy> PairHeap<K> {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            heap: BinaryHeap::with_capacity(n),
        }
    }

    /// Entries the heap holds without reallocating.
    pub fn capacity(&self) -> usize {
        self.heap.capacity()
    }

    /// Make room for exactly `additional` more entries (no doubling).
    pub fn reserve_exact(&mut self, additional: usize) {
        self.heap.reserve_exact(additional);
    }

    /// Drop every entry, keeping the allocation (to refill the heap in place).
    pub fn clear(&mut self) {
        self.heap.clear();
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub fn push(&mut self, pair: Pair, count: u64, key: K) {
        self.heap.push(Entry { count, key, pair });
    }

    /// Pop the pair with the highest true priority. `current(pair)` gives the pair's true
    /// `(count, key)` now, or `None` if it no longer exists (its entry is dropped).
    /// Precondition: no pair's true priority is higher than the highest entry stored for it.
    pub fn pop(
        &mut self,
        mut current: impl FnMut(Pair) -> Option<(u64, K)>,
    ) -> Option<(Pair, u64)> {
        while let Some(top) = self.heap.pop() {
            match current(top.pair) {
                Some((c, k)) if c == top.count && k == top.key => return Some((top.pair, c)),
                Some((c, k)) if c > 0 => self.heap.push(Entry {
                    count: c,
                    key: k,
                    pair: top.pair,
                }),
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;

    #[test]
    fn stale_entries_are_refreshed() {
        let mut h = PairHeap::default();
        h.push((1, 2), 10, Reverse((1, 2)));
        h.push((3, 4), 7, Reverse((3, 4)));
        h.push((0, 9), 7, Reverse((0, 9)));
        // (1,2) decayed to 5: the best is now the smallest pair among the 7s.
        let now = |p: Pair| match p {
            (1, 2) => Some((5, Reverse(p))),
            _ => Some((7, Reverse(p))),
        };
        assert_eq!(h.pop(now), Some(((0, 9), 7)));
        assert_eq!(h.pop(now), Some(((3, 4), 7)));
        assert_eq!(h.pop(now), Some(((1, 2), 5)));
        assert_eq!(h.pop(now), None);
    }

    #[test]
    fn vanished_pairs_are_dropped() {
        let mut h = PairHeap::default();
        h.push((1, 1), 3, ());
        assert_eq!(h.pop(|_| None), None);
        assert!(h.is_empty());
    }
}
