//! The BPE step: pretoken bytes -> token ids, exact under two merge rules.
//!
//! - [`MergeRule::Merges`] (HF tokenizers, `ignore_merges = false`): only the listed merges apply,
//!   lowest merge rank first, leftmost first among equal ranks.
//! - [`MergeRule::Ranks`] (tiktoken): a piece that is a token is that token; otherwise any
//!   adjacent pair whose concatenation is a token merges, lowest token id (= rank) first,
//!   leftmost first. Used for tokenizers loaded from rank files.
//! - [`MergeRule::WholeThenMerges`] (HF `ignore_merges = true`): a piece that is a token is that
//!   token; otherwise as `Merges`.
//!
//! Both orders are "min (rank, position)", so one machinery serves all: a pair table
//! `(left, right) -> (rank, result)` built once per rule, then `small.rs` (stack arrays, quadratic
//! with a tiny constant, pieces up to 48 bytes) or `long.rs` (linked list + bucket queue by rank,
//! O(n log n)). The whole-piece shortcut is used only where it is provably the merge result: under
//! `Merges` a token T is in the shortcut table only if merging bytes(T) gives [T] (checked for every
//! token at build time); under the other rules it is the rule itself.
//!
//! Pieces that are not whole tokens go through a per-thread cache (`cache.rs`). A pretokenizer's
//! blocks of ASCII pieces ([`EncodePieces`]) are encoded in one tight loop: one-byte pieces and
//! the cache's front-table tokens are written straight into reserved room. `split.rs` cuts
//! large texts at points where every preset pretokenizer has a boundary, for parallel encoding.
//! `reference.rs` keeps the slow, obviously-correct implementations the tests compare against.

mod cache;
mod long;
pub mod pool;
mod reference;
mod small;
pub mod split;
mod table;

use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;

pub use reference::{encode_piece_reference, encode_piece_reference_tiktoken};

use crate::engine::TokenId;
use crate::error::{Error, Result};
use crate::pretok::{AsciiBlock, Pieces};
use crate::vocab::Vocab;

/// "No merge" rank: larger than every real rank.
pub(crate) const NO_RANK: u32 = u32::MAX;

/// Which pairs merge, and in what order. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeRule {
    /// HF tokenizers' BPE model with `ignore_merges = false`.
    #[default]
    Merges,
    /// HF tokenizers' BPE model with `ignore_merges = true`.
    WholeThenMerges,
    /// tiktoken (rank files): rank of the concatenation; ids are the ranks.
    Ranks,
}

static NEXT_ENCODER_ID: AtomicU64 = AtomicU64::new(1);

/// The encoding tables of one vocabulary under one [`MergeRule`]. Immutable; shared by threads.
///
/// Cost to build: one pass over the merges (`Merges`) or over every split point of every token
/// (`Ranks`), plus one merge run per token to validate the shortcut under `Merges`; tens of
/// milliseconds for 200k tokens. Invariants: `byte_ids[b]` is the token of byte b; `pairs` holds
/// exactly the pairs that merge under `rule`, keyed `left << 32 | right`; `whole[bytes(T)] == T`
/// only where emitting T is what the rule gives for the piece bytes(T).
#[derive(Debug, Clone)]
pub struct Encoder {
    rule: MergeRule,
    byte_ids: [TokenId; 256],
    /// `pair(byte_ids[a], byte_ids[b])` at `a << 8 | b`: the first round of every merge looks up
    /// byte pairs, and this 512 KiB table mostly stays in cache where the pair map (millions of
    /// entries under `Ranks`) waits on memory.
    byte_pairs: Box<[(u32, TokenId)]>,
    pairs: FxHashMap<u64, (u32, TokenId)>,
    /// Shortcut table for pieces of up to 15 bytes, keyed by [`short_key`] (no memcmp, no
    /// pointer chase: most pieces of real text land here).
    whole_short: table::ShortTable,
    /// Shortcut table for longer pieces.
    whole: FxHashMap<Box<[u8]>, TokenId>,
    /// Tokens of length >= 2 left out of `whole` (they do not encode to themselves).
    not_whole: usize,
    /// Identity for the per-thread cache (clones share it: their tables are equal).
    id: u64,
}

impl Encoder {
    /// Build the tables. Errors if a byte has no token (only byte-level vocabularies are
    /// supported).
    pub fn new(vocab: &Vocab, rule: MergeRule) -> Result<Self> {
        let mut byte_ids = [0; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = vocab.id(&[b as u8]).ok_or_else(|| {
                Error::invalid(format!(
                    "byte {b:#04x} has no token: only byte-level vocabularies with a token for \
                     each of the 256 bytes are supported"
                ))
            })?;
        }
        let mut pairs = FxHashMap::default();
        match rule {
            MergeRule::Merges | MergeRule::WholeThenMerges => {
                pairs.reserve(vocab.merges().len());
                for (r, m) in vocab.merges().iter().enumerate() {
                    // The first (lowest-rank) occurrence of a pair wins, as in HF tokenizers.
                    pairs
                        .entry(key(m.pair.0, m.pair.1))
                        .or_insert((r as u32, m.result));
                }
            }
            MergeRule::Ranks => {
                for (id, t) in vocab.tokens().iter().enumerate() {
                    for k in 1..t.len() {
                        if let (Some(a), Some(b)) = (vocab.id(&t[..k]), vocab.id(&t[k..])) {
                            pairs.insert(key(a, b), (id as u32, id as TokenId));
                        }
                    }
                }
            }
        }
        let byte_pairs = (0..1usize << 16)
            .map(|ab| {
                let k = key(byte_ids[ab >> 8], byte_ids[ab & 0xFF]);
                pairs.get(&k).copied().unwrap_or((NO_RANK, 0))
            })
            .collect();
        let mut enc = Self {
            rule,
            byte_ids,
            byte_pairs,
            pairs,
            whole_short: table::ShortTable::new(&[]),
            whole: FxHashMap::default(),
            not_whole: 0,
            id: NEXT_ENCODER_ID.fetch_add(1, Ordering::Relaxed),
        };
        let (mut whole, mut whole_short) = (FxHashMap::default(), Vec::new());
        whole_short.reserve(vocab.num_tokens());
        let mut buf = Vec::new();
        for (id, t) in vocab.tokens().iter().enumerate() {
            if t.len() < 2 {
                continue;
            }
            let ok = match rule {
                MergeRule::Ranks | MergeRule::WholeThenMerges => true,
                MergeRule::Merges => {
                    buf.clear();
                    enc.merge_piece(t, &mut buf);
                    buf.len() == 1 && buf[0] == id as TokenId
                }
            };
            if !ok {
                enc.not_whole += 1;
            } else if let Some(k) = short_key(t) {
                whole_short.push((k, id as TokenId));
            } else {
                whole.insert(t.as_slice().into(), id as TokenId);
            }
        }
        enc.whole = whole;
        enc.whole_short = table::ShortTable::new(&whole_short);
        Ok(enc)
    }

    pub fn rule(&self) -> MergeRule {
        self.rule
    }

    /// Number of multi-byte tokens that are not the merge result of their own bytes (so a piece
    /// equal to one of them is merged, not emitted whole). 0 on well-formed vocabularies.
    pub fn tokens_not_whole(&self) -> usize {
        self.not_whole
    }

    /// `(rank, result)` of the pair, or `(NO_RANK, _)`.
    #[inline]
    fn pair(&self, a: TokenId, b: TokenId) -> (u32, TokenId) {
        self.pairs.get(&key(a, b)).copied().unwrap_or((NO_RANK, 0))
    }

    /// `(rank, result)` of the pair of the tokens of bytes `a` and `b`.
    #[inline]
    fn byte_pair(&self, a: u8, b: u8) -> (u32, TokenId) {
        self.byte_pairs[usize::from(a) << 8 | usize::from(b)]
    }

    /// Append the ids of one piece to `out` (no cache).
    #[inline]
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        match piece {
            [] => {}
            [b] => out.push(self.byte_ids[*b as usize]),
            _ => match self.whole_id(piece) {
                Some(id) => out.push(id),
                None => self.merge_piece(piece, out),
            },
        }
    }

    /// Append the ids of one piece to `out`, through `cache` for pieces that are not tokens.
    ///
    /// The common cases (one byte; a short piece in the front table) are inlined into the
    /// caller's scanning loop; everything else is an out-of-line call (`encode_piece_slow`), so
    /// the hot path carries no stack frame.
    #[inline(always)]
    fn encode_piece_cached(
        &self,
        piece: &[u8],
        key: Option<u128>,
        cache: &mut cache::PieceCache,
        out: &mut Vec<TokenId>,
    ) {
        match piece {
            [] => {}
            [b] => out.push(self.byte_ids[*b as usize]),
            _ => {
                if let Some(k) = key {
                    match cache.front_get(k) {
                        cache::Front::Token(id) => return out.push(id),
                        cache::Front::Ids(ids) => return out.extend_from_slice(ids),
                        cache::Front::Miss => {}
                    }
                }
                self.encode_piece_slow(piece, key, cache, out);
            }
        }
    }

    /// [`Self::encode_piece_cached`] for a piece of >= 2 bytes that is not in the front table.
    #[inline(never)]
    fn encode_piece_slow(
        &self,
        piece: &[u8],
        key: Option<u128>,
        cache: &mut cache::PieceCache,
        out: &mut Vec<TokenId>,
    ) {
        let whole = match key {
            Some(k) => self.whole_short.get(k),
            None => self.whole.get(piece).copied(),
        };
        if let Some(id) = whole {
            if let Some(k) = key {
                cache.front_put(k, id);
            }
            out.push(id);
        } else if piece.len() > cache::MAX_PIECE {
            self.merge_piece(piece, out);
        } else if let Some(ids) = cache.get(piece, key) {
            out.extend_from_slice(ids);
        } else {
            let start = out.len();
            self.merge_piece(piece, out);
            cache.insert(piece, key, &out[start..]);
        }
    }

    /// The token that the whole piece (>= 2 bytes) encodes to, if the shortcut applies.
    #[inline]
    fn whole_id(&self, piece: &[u8]) -> Option<TokenId> {
        match short_key(piece) {
            Some(k) => self.whole_short.get(k),
            None => self.whole.get(piece).copied(),
        }
    }

    /// Run `f` with a sink that encodes pieces through this thread's cache.
    pub fn with_sink<R>(&self, f: impl FnOnce(&mut PieceSink<'_>) -> R) -> R {
        cache::with_cache(self.id, |cache| f(&mut PieceSink { enc: self, cache }))
    }

    /// Merge a piece by the rule, without the whole-piece shortcut.
    fn merge_piece(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        if piece.len() <= small::SMALL {
            small::merge(self, piece, out);
        } else {
            long::merge(self, piece, out);
        }
    }
}

/// Encodes pieces with an [`Encoder`] and the calling thread's cache (see [`Encoder::with_sink`]).
pub struct PieceSink<'e> {
    enc: &'e Encoder,
    cache: &'e mut cache::PieceCache,
}

impl<'e> PieceSink<'e> {
    /// Append the ids of one piece to `out`.
    #[inline(always)]
    pub fn push(&mut self, piece: &[u8], out: &mut Vec<TokenId>) {
        self.enc
            .encode_piece_cached(piece, short_key(piece), self.cache, out);
    }

    /// A [`Pieces`] receiver that encodes the pieces of `text` (a split of it) into `out`.
    #[inline(always)]
    pub fn pieces<'s>(
        &'s mut self,
        text: &'s [u8],
        out: &'s mut Vec<TokenId>,
    ) -> EncodePieces<'s, 'e> {
        EncodePieces {
            sink: self,
            text,
            out,
        }
    }

    /// [`Self::push`] for a piece that is a sub-slice of `text` (as the pretokenizers hand them
    /// out): the key is then built from two plain loads of the 16 bytes at the piece, masked to
    /// its length, with no branch on the length (see [`short_key_in`]).
    #[inline(always)]
    pub fn push_in(&mut self, text: &[u8], piece: &[u8], out: &mut Vec<TokenId>) {
        self.enc
            .encode_piece_cached(piece, short_key_in(text, piece), self.cache, out);
    }
}

/// A [`Pieces`] receiver: encodes each piece of `text` into `out` through a [`PieceSink`] (see
/// [`PieceSink::pieces`]).
pub struct EncodePieces<'s, 'e> {
    sink: &'s mut PieceSink<'e>,
    text: &'s [u8],
    out: &'s mut Vec<TokenId>,
}

impl<'a> Pieces<'a> for EncodePieces<'_, '_> {
    #[inline(always)]
    fn piece(&mut self, piece: &'a str) {
        self.sink.push_in(self.text, piece.as_bytes(), self.out);
    }

    /// The block's pieces, with what stays the same across them hoisted: the front table and
    /// the output's spare room are taken once, one-byte pieces and front-table tokens are
    /// written straight into the spare room, and each key comes from two loads of the 48 bytes
    /// at the block (no bounds check per piece). A piece that is none of these (ids in the
    /// front table, a front miss, more than 12 bytes) takes [`PieceSink::push_in`], the same
    /// lookups as outside blocks, so the ids and the cache's contents are those of
    /// piece-by-piece encoding. Near the end of the text (fewer than 48 bytes at the block), all
    /// pieces take `push_in`.
    #[inline(always)]
    fn block(&mut self, blk: AsciiBlock<'a>) {
        let text = blk.text().as_bytes();
        let enc = self.sink.enc;
        let mut rest = blk.ends();
        let mut s = 0usize;
        let Some(w) = text.get(blk.start()..).and_then(|t| t.first_chunk::<48>()) else {
            return blk.for_each(|p| self.sink.push_in(text, p.as_bytes(), self.out));
        };
        while rest != 0 {
            // A block has at most 31 pieces, each giving one id here.
            self.out.reserve(32);
            let front = self.sink.cache.front_table();
            let spare = &mut self.out.spare_capacity_mut()[..32];
            let mut k = 0;
            let stop = loop {
                if rest == 0 {
                    break None;
                }
                let e = rest.trailing_zeros() as usize;
                let n = e - s;
                // (`s < 32` always: `& 31` only tells the compiler, so the loads need no check)
                let at = &w[s & 31..];
                let id = if n == 1 {
                    enc.byte_ids[usize::from(at[0])]
                } else {
                    let hit = match at.first_chunk::<16>() {
                        Some(w16) if n <= 12 => cache::front_token(front, key_at(w16, n)),
                        _ => None,
                    };
                    match hit {
                        Some(id) => id,
                        None => break Some(e),
                    }
                };
                // (`k < 31`: one write per set bit of `ends`, whose bit 0 is clear)
                spare[k & 31].write(id);
                k += 1;
                s = e;
                rest &= rest - 1;
            };
            let len = self.out.len() + k;
            // SAFETY: the first `k` slots of the spare capacity were written just above (one
            // write per piece at index `k`, and `k <= 31` as there are at most 31 pieces), and
            // `k <= 32 <= capacity - len` (reserved).
            unsafe { self.out.set_len(len) };
            if let Some(e) = stop {
                self.sink
                    .push_in(text, blk.piece(s, e).as_bytes(), self.out);
                s = e;
                rest &= rest - 1;
            }
        }
    }
}

/// The short key of a piece of `n` (2 to 15) bytes that starts at `w`: the first `n` bytes
/// (zero-padded), the length in the top byte; equal to [`short_key`] of those bytes.
#[inline(always)]
fn key_at(w: &[u8; 16], n: usize) -> u128 {
    let (mut lo, mut hi) = ([0u8; 8], [0u8; 8]);
    lo.copy_from_slice(&w[..8]);
    hi.copy_from_slice(&w[8..]);
    let lo = u64::from_le_bytes(lo) & LOW_MASK[n & 15];
    let hi = u64::from_le_bytes(hi) & HIGH_MASK[n & 15] | (n as u64) << 56;
    u128::from(lo) | u128::from(hi) << 64
}

/// Injective key of a piece of up to 15 bytes: the bytes zero-padded, the length in the top byte.
///
/// Built from two overlapping loads (the first and the last 8, 4 or 1 bytes), never a copy
/// through a stack buffer: the copy's byte stores followed by a 16-byte load stalled on store
/// forwarding and cost about a tenth of the whole encode loop.
#[inline]
pub(crate) fn short_key(p: &[u8]) -> Option<u128> {
    let n = p.len();
    let bytes = match n {
        0 => 0,
        1..=3 => {
            u128::from(p[0])
                | u128::from(p[n / 2]) << (8 * (n / 2))
                | u128::from(p[n - 1]) << (8 * (n - 1))
        }
        4..=7 => {
            let a = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
            let b = u32::from_le_bytes([p[n - 4], p[n - 3], p[n - 2], p[n - 1]]);
            u128::from(a) | u128::from(b) << (8 * (n - 4))
        }
        8..=15 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&p[..8]);
            let mut b = [0u8; 8];
            b.copy_from_slice(&p[n - 8..]);
            u128::from(u64::from_le_bytes(a)) | u128::from(u64::from_le_bytes(b)) << (8 * (n - 8))
        }
        _ => return None,
    };
    Some(bytes | (n as u128) << 120)
}

/// `LOW_MASK[n]`: the low `min(n, 8)` bytes of a `u64`; `HIGH_MASK[n]`: the low `n - 8` bytes
/// (none below 9).
const LOW_MASK: [u64; 16] = byte_masks(0);
const HIGH_MASK: [u64; 16] = byte_masks(8);

const fn byte_masks(skip: usize) -> [u64; 16] {
    let mut m = [0u64; 16];
    let mut n: usize = 0;
    while n < 16 {
        let bytes = n.saturating_sub(skip);
        m[n] = if bytes >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * bytes)) - 1
        };
        n += 1;
    }
    m
}

/// [`short_key`] of `piece`, a sub-slice of `text`. When 16 bytes of `text` start at the piece
/// (all but the last few pieces of a text), the key is two 8-byte loads masked to the piece's
/// length: no branch on the length, which varies unpredictably from piece to piece. Otherwise,
/// or if `piece` does not lie in `text`, it is `short_key(piece)`; the result is the same.
#[inline(always)]
pub(crate) fn short_key_in(text: &[u8], piece: &[u8]) -> Option<u128> {
    let n = piece.len();
    let off = (piece.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    if n < 16 {
        if let Some(w) = text.get(off..off.wrapping_add(16)) {
            if let Some(w) = w
                .first_chunk::<16>()
                .filter(|w| w.as_ptr() == piece.as_ptr())
            {
                return Some(key_at(w, n));
            }
        }
    }
    short_key(piece)
}

#[inline]
fn key(a: TokenId, b: TokenId) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

#[cfg(test)]
mod tests;
