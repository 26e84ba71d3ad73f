//! The BPE step for short pieces: two small arrays (symbols, and the `(rank, result)` of each
//! adjacent pair), scanned for the first lowest rank, merged in place.
//!
//! Cost: O(n^2) for a piece of n bytes with a tiny constant: for the few-byte pieces of real
//! text a linear scan of a stack array beats any heap (cache locality outweighs complexity for
//! small n). Longer pieces go to `long.rs`.
//!
//! Invariant of the loop: `pairs[i] == enc.pair(syms[i], syms[i + 1])` for every i.

use smallvec::SmallVec;

use super::{Encoder, NO_RANK};
use crate::engine::TokenId;

/// Pieces up to this many bytes take this path (stack arrays, no allocation).
pub(super) const SMALL: usize = 48;

/// Merge `piece` (no whole-token shortcut) and append its ids to `out`.
pub(super) fn merge(enc: &Encoder, piece: &[u8], out: &mut Vec<TokenId>) {
    let mut syms: SmallVec<[TokenId; SMALL]> =
        piece.iter().map(|&b| enc.byte_ids[b as usize]).collect();
    let mut pairs: SmallVec<[(u32, TokenId); SMALL]> =
        syms.windows(2).map(|w| enc.pair(w[0], w[1])).collect();
    loop {
        let (mut best, mut best_rank) = (0, NO_RANK);
        for (i, &(r, _)) in pairs.iter().enumerate() {
            if r < best_rank {
                best_rank = r;
                best = i;
            }
        }
        if best_rank == NO_RANK {
            break;
        }
        syms[best] = pairs[best].1;
        syms.remove(best + 1);
        pairs.remove(best);
        if best > 0 {
            pairs[best - 1] = enc.pair(syms[best - 1], syms[best]);
        }
        if best < pairs.len() {
            pairs[best] = enc.pair(syms[best], syms[best + 1]);
        }
    }
    out.extend_from_slice(&syms);
}
