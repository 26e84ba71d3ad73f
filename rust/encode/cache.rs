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

/// Pieces longer than this are not cached (they rarely repeat). (64 before: en.txt has 2189 pieces
/// of 65-180 bytes, table borders and underlines of 537 distinct kinds, which long.rs merged at
/// ~45k instructions each, a tenth of the whole encode of the file.)
pub(super) const MAX_PIECE: usize = 256;
const MAX_ENTRIES: usize = 1 << 16;
const MAX_IDS: usize = 1 << 20;

/// Slots of the direct-mapped front table: 16k slots of 16 bytes = 256 KiB, a quarter of the L2
/// cache of the machine the benchmarks ran on (1 MiB per core). Callgrind on 3 MB of en.txt
/// (o200k, L2 simulated as 1 MiB): with 16k, 32k and 64k slots the whole encode misses L2 0.248M,
/// 0.258M and 0.268M times; with the 64k slots of 24 bytes used before (1.5 MiB), 0.290M.
pub(super) const FRONT: usize = 1 << FRONT_BITS;
const FRONT_BITS: u32 = 14;

/// The payload's place in a slot: bits 96..120, free in the key of a piece of up to 12 bytes
/// (longer pieces skip the front table). The payload is a token id, or, with [`IDS`] set, the
/// range of the piece's ids in `ids`: start in its low 20 bits (`ids` holds at most `MAX_IDS` =
/// 2^20 ids), count (at most 12: one id per byte) in its top 4.
const ID_SHIFT: u32 = 96;
const ID_MASK: u128 = 0xFF_FFFF << ID_SHIFT;
/// Tag of a payload that is an id range: bit 124, in the length byte of the key (whose lengths
/// are at most 15, bits 120..124).
const IDS: u128 = 1 << 124;
/// The bits of a slot that are not key.
const PAYLOAD: u128 = ID_MASK | IDS;

/// What the front table knows about a piece.
pub(super) enum Front<'c> {
    /// The piece is the single token.
    Token(TokenId),
    /// The piece encodes to these ids (it is not a token).
    Ids(&'c [TokenId]),
    Miss,
}

/// The token of the piece with key `k` (2 to 12 bytes) if `front` holds it as a single token;
/// `None` if it holds it as ids or not at all (then [`PieceCache::front_get`] tells which).
///
/// The test is `slot & !ID_MASK == k` (key bits equal, `IDS` clear: `k` has neither id nor
/// `IDS` bits) without the 64-bit mask constant, which in the encoder's block loop made LLVM
/// shuffle a dozen registers around each lookup (callgrind, cl100k: 73.4M -> 84.3M
/// instructions per 3 MB from an unrelated change): the high word's bits outside the id (its
/// low 32 and top 8) are the low 40 after a rotation by 8, and a shift by 24 keeps just those.
#[inline(always)]
pub(super) fn front_token(front: &[u128; FRONT], k: u128) -> Option<TokenId> {
    let slot = front[PieceCache::front_slot(k)];
    let x = slot ^ k;
    let (lo, hi) = (x as u64, (x >> 64) as u64);
    (lo == 0 && hi.rotate_left(8) << 24 == 0)
        .then_some((slot >> ID_SHIFT) as TokenId & (ID_MASK >> ID_SHIFT) as TokenId)
}

/// See the module docs.
#[derive(Default)]
pub struct PieceCache {
    owner: u64,
    /// Direct-mapped table of recently seen short pieces. Why: the vocabulary's hash table is
    /// megabytes and each lookup there waits on memory (and a piece that is not a token paid that
    /// lookup, then a hash map lookup here); the frequent pieces of real text fit in this small
    /// table, one cache line per lookup. Empty until first use.
    /// A slot is a piece's `short_key` (pieces of up to 12 bytes) with its payload (token id, or
    /// range of `ids`) in bits 96..125, or 0 (empty: a real key has its length, >= 2, in the top
    /// byte).
    front: Option<Box<[u128; FRONT]>>,
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

    /// What the front table holds for the piece with key `k`.
    #[inline]
    pub(super) fn front_get(&self, k: u128) -> Front<'_> {
        let Some(front) = &self.front else {
            return Front::Miss;
        };
        // (`front_slot` is below `FRONT`: no bounds check)
        let slot = front[Self::front_slot(k)];
        // A key of more than 12 bytes has bytes in the payload bits and never matches.
        if slot & !PAYLOAD != k {
            return Front::Miss;
        }
        let p = ((slot & ID_MASK) >> ID_SHIFT) as u32;
        if slot & IDS == 0 {
            Front::Token(p)
        } else {
            let (s, n) = ((p & 0xF_FFFF) as usize, (p >> 20) as usize);
            // (always in range: the front is cleared whenever `ids` is)
            self.ids.get(s..s + n).map_or(Front::Miss, Front::Ids)
        }
    }

    /// Remember that the piece with key `k` is the single token `id`.
    #[inline]
    pub(super) fn front_put(&mut self, k: u128, id: TokenId) {
        let id = u128::from(id) << ID_SHIFT;
        if id & !ID_MASK != 0 {
            return; // an id of more than 24 bits
        }
        self.front_set(k, id);
    }

    /// Remember that the piece with key `k` encodes to `ids[start..start + len]`.
    #[inline]
    fn front_put_ids(&mut self, k: u128, (start, len): (u32, u32)) {
        if start < 1 << 20 && len < 16 {
            self.front_set(k, IDS | u128::from(start | len << 20) << ID_SHIFT);
        }
    }

    #[inline]
    fn front_set(&mut self, k: u128, payload: u128) {
        if k & PAYLOAD != 0 {
            return; // a piece too long for the slot
        }
        self.front_table_mut()[Self::front_slot(k)] = k | payload;
    }

    /// The front table, allocated on first use.
    #[inline]
    fn front_table_mut(&mut self) -> &mut [u128; FRONT] {
        self.front.get_or_insert_with(|| {
            // (built on the heap: a 256 KiB array on the stack could overflow a small thread stack)
            vec![0; FRONT]
                .into_boxed_slice()
                .try_into()
                .expect("a boxed slice of FRONT slots")
        })
    }

    /// The front table (allocated if it was not), for a run of [`front_token`] lookups.
    #[inline]
    pub(super) fn front_table(&mut self) -> &[u128; FRONT] {
        self.front_table_mut()
    }

    /// The cached ids of `piece`, if any.
    #[inline]
    /// `key` is `short_key(piece)`.
    /// A short piece found here also enters the front table.
    pub(super) fn get(&mut self, piece: &[u8], key: Option<u128>) -> Option<&[TokenId]> {
        debug_assert_eq!(key, short_key(piece));
        let (s, l) = match key {
            Some(k) => {
                let v = *self.short.get(&k)?;
                self.front_put_ids(k, v);
                v
            }
            None => *self.map.get(piece)?,
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
            Some(k) => {
                self.short.insert(k, v);
                self.front_put_ids(k, v);
            }
            None => {
                self.map.insert(piece.into(), v);
            }
        }
    }

    fn claim(&mut self, owner: u64) {
        if self.owner != owner {
            self.clear();
            self.owner = owner;
        }
    }

    fn clear(&mut self) {
        self.front = None;
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
