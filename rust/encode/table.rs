//! `ShortTable`: the whole-token table for pieces of up to 15 bytes, keyed by their
//! [`short_key`](super::short_key).
//!
//! Idea: most pieces of real text are whole tokens, so this lookup runs once per piece, and the
//! table (100-200k tokens) is far larger than the CPU caches: every lookup that misses the
//! per-thread front table waits on memory. A general hash map (hashbrown) touches two cache
//! lines per lookup (its control bytes, then the bucket); this open-addressing table keeps the
//! key and the id in one 24-byte slot at a load factor of at most 1/2, so a lookup touches one
//! line (a second one on the rare probe that crosses it). Measured on cl100k / en.txt in CPU
//! time: see `bench/README.md`.
//!
//! Cost: build O(tokens); lookup O(1) expected (linear probing at load <= 1/2: ~1.5 probes for a
//! hit, ~2.5 for a miss). Invariants: `slots.len()` is a power of two and at least twice the
//! number of keys; an empty slot has key `[0, 0]` (no real key is 0: a short key holds its length,
//! >= 2, in the top byte); every key sits at or after its home slot with no empty slot between.

use crate::engine::TokenId;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: [u64; 2],
    id: TokenId,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub(super) struct ShortTable {
    slots: Box<[Slot]>,
    /// `64 - log2(slots.len())`: the home slot is the top bits of the hash.
    shift: u32,
    len: usize,
}

/// Multiplicative hash of a short key; the top bits are well mixed.
#[inline]
pub(super) fn hash(k: u128) -> u64 {
    let (lo, hi) = (k as u64, (k >> 64) as u64);
    (lo ^ hi.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl ShortTable {
    /// A table for `(key, id)` pairs; a later duplicate key overwrites an earlier one.
    pub(super) fn new(items: &[(u128, TokenId)]) -> Self {
        let cap = (items.len() * 2).next_power_of_two().max(16);
        let mut t = Self {
            slots: vec![Slot::default(); cap].into_boxed_slice(),
            shift: 64 - cap.trailing_zeros(),
            len: 0,
        };
        for &(k, id) in items {
            t.insert(k, id);
        }
        t
    }

    fn insert(&mut self, k: u128, id: TokenId) {
        debug_assert!(k != 0, "short keys are never 0");
        let key = [k as u64, (k >> 64) as u64];
        let mask = self.slots.len() - 1;
        let mut i = (hash(k) >> self.shift) as usize;
        loop {
            let s = &mut self.slots[i];
            if s.key == [0, 0] {
                *s = Slot { key, id };
                self.len += 1;
                return;
            }
            if s.key == key {
                s.id = id;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// The id stored for key `k`.
    #[inline]
    pub(super) fn get(&self, k: u128) -> Option<TokenId> {
        let key = [k as u64, (k >> 64) as u64];
        let mask = self.slots.len() - 1;
        let mut i = (hash(k) >> self.shift) as usize;
        loop {
            let s = &self.slots[i];
            if s.key == [0, 0] {
                return None; // (checked first, so the key 0 of an empty piece is never found)
            }
            if s.key == key {
                return Some(s.id);
            }
            i = (i + 1) & mask;
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::super::short_key;
    use super::*;

    #[test]
    fn finds_every_key_and_nothing_else() {
        let words: Vec<Vec<u8>> = (0..5000u32)
            .map(|i| format!("w{i}x{}", i * 7919 % 1000).into_bytes())
            .filter(|w| w.len() <= 15)
            .collect();
        let items: Vec<(u128, TokenId)> = words
            .iter()
            .enumerate()
            .map(|(i, w)| (short_key(w).unwrap(), i as TokenId))
            .collect();
        let t = ShortTable::new(&items);
        assert_eq!(t.len(), items.len());
        for &(k, id) in &items {
            assert_eq!(t.get(k), Some(id));
        }
        assert_eq!(t.get(0), None);
        for w in ["", "w", "w1x", "zz", "w4999x0000000"] {
            if let Some(k) = short_key(w.as_bytes()) {
                let expect = items.iter().find(|(x, _)| *x == k).map(|&(_, id)| id);
                assert_eq!(t.get(k), expect, "{w:?}");
            }
        }
        // a later duplicate overwrites
        let t = ShortTable::new(&[(items[0].0, 1), (items[0].0, 2)]);
        assert_eq!((t.get(items[0].0), t.len()), (Some(2), 1));
    }
}
