//! A per-thread cache of encoded pieces: pieces that are not whole tokens (those cost one lookup
//! already) and are short enough to repeat, mapped to their ids.
//!
//! Why per thread: a `Tokenizer` is immutable and shared between threads; a shared cache would
//! need a lock on the hot path. Each thread (the caller's, or a rayon worker's) owns one cache,
//! tagged with the id of the [`Encoder`](super::Encoder) that filled it; another encoder on the
//! same thread clears it. It survives between calls, so many small `encode` calls and every batch
//! on the same worker threads share it.
//!
//! Cost: one hash of the piece per lookup; an insert copies the piece and its ids. Bounded: at
//! `MAX_ENTRIES` pieces or `MAX_IDS` ids it is cleared (cheap, and real text refills the frequent
//! pieces at once). Invariant: `map[p] = (start, len)` and `ids[start..start + len]` is the
//! encoding of `p` by the encoder `owner`.

use std::cell::RefCell;

use rustc_hash::FxHashMap;

use super::{short_key, table};
use crate::engine::TokenId;

/// Pieces longer than this are not cached (they rarely repeat).
pub(super) const MAX_PIECE: usize = 64;
const MAX_ENTRIES: usize = 1 << 16;
const MAX_IDS: usize = 1 << 20;

/// Slots of the direct-mapped front table: 16k slots of 16 bytes = 256 KiB, a quarter of the L2
/// cache of the machine the benchmarks ran on (1 MiB per core). Callgrind on 3 MB of en.txt
/// (o200k, L2 simulated as 1 MiB): with 16k, 32k and 64k slots the whole encode misses L2 0.248M,
/// 0.258M and 0.268M times; with the 64k slots of 24 bytes used before (1.5 MiB), 0.290M.
const FRONT: usize = 1 << FRONT_BITS;
const FRONT_BITS: u32 = 14;

/// The id's place in a slot: bits 96..120, free in the key of a piece of up to 12 bytes (longer
/// pieces skip the front table).
const ID_SHIFT: u32 = 96;
const ID_MASK: u128 = 0xFF_FFFF << ID_SHIFT;

/// See the module docs.
#[derive(Default)]
pub struct PieceCache {
    owner: u64,
    /// Direct-mapped table of recently seen whole-token pieces (short ones). Why: the vocabulary's
    /// hash table is megabytes and each lookup there waits on memory; the frequent pieces of real
    /// text fit in this small table, one cache line per lookup. Empty until first use.
    /// A slot is a piece's `short_key` (pieces of up to 12 bytes) with its token in
    /// bits 96..120, or 0 (empty: a real key has its length, >= 2, in the top byte).
    front: Vec<u128>,
    /// Pieces of up to 15 bytes, keyed by `short_key`.
    short: FxHashMap<u128, (u32, u32)>,
    map: FxHashMap<Box<[u8]>, (u32, u32)>,
    ids: Vec<TokenId>,
}

impl PieceCache {
    #[inline]
    fn front_slot(k: u128) -> usize {
        (table::hash(k) >> (64 - FRONT_BITS)) as usize
    }

    /// The token of a whole-token piece with key `k`, if it is in the front table.
    #[inline]
    pub(super) fn front_get(&self, k: u128) -> Option<TokenId> {
        let slot = *self.front.get(Self::front_slot(k))?;
        // A key of more than 12 bytes has bytes in the id bits and never matches.
        (slot & !ID_MASK == k).then_some(((slot & ID_MASK) >> ID_SHIFT) as TokenId)
    }

    /// Remember that the piece with key `k` is the single token `id`.
    #[inline]
    pub(super) fn front_put(&mut self, k: u128, id: TokenId) {
        let id = u128::from(id) << ID_SHIFT;
        if k & ID_MASK != 0 || id & !ID_MASK != 0 {
            return; // a piece too long for the slot, or an id of more than 24 bits
        }
        if self.front.is_empty() {
            self.front = vec![0; FRONT];
        }
        let i = Self::front_slot(k);
        self.front[i] = k | id;
    }

    /// The cached ids of `piece`, if any.
    #[inline]
    /// `key` is `short_key(piece)`.
    pub(super) fn get(&self, piece: &[u8], key: Option<u128>) -> Option<&[TokenId]> {
        debug_assert_eq!(key, short_key(piece));
        let &(s, l) = match key {
            Some(k) => self.short.get(&k)?,
            None => self.map.get(piece)?,
        };
        self.ids.get(s as usize..(s + l) as usize)
    }

    /// Remember that `piece` (with `key = short_key(piece)`) encodes to `ids`.
    pub(super) fn insert(&mut self, piece: &[u8], key: Option<u128>, ids: &[TokenId]) {
        debug_assert_eq!(key, short_key(piece));
        if self.short.len() + self.map.len() >= MAX_ENTRIES || self.ids.len() + ids.len() > MAX_IDS
        {
            self.clear();
        }
        let v = (self.ids.len() as u32, ids.len() as u32);
        self.ids.extend_from_slice(ids);
        match key {
            Some(k) => self.short.insert(k, v),
            None => self.map.insert(piece.into(), v),
        };
    }

    fn claim(&mut self, owner: u64) {
        if self.owner != owner {
            self.clear();
            self.owner = owner;
        }
    }

    fn clear(&mut self) {
        self.front.clear();
        self.short.clear();
        self.map.clear();
        self.ids.clear();
    }
}

thread_local! {
    static CACHE: RefCell<PieceCache> = RefCell::new(PieceCache::default());
}

/// Run `f` with this thread's cache, claimed for encoder `owner` (cleared if another encoder
/// filled it). Re-entrant use (not expected) gets a fresh temporary cache instead of a panic.
pub(super) fn with_cache<R>(owner: u64, f: impl FnOnce(&mut PieceCache) -> R) -> R {
    CACHE.with(|c| match c.try_borrow_mut() {
        Ok(mut c) => {
            c.claim(owner);
            f(&mut c)
        }
        Err(_) => f(&mut PieceCache {
            owner,
            ..Default::default()
        }),
    })
}
