//! The BPE step for short pieces: two small arrays (symbols, and the `(rank, result)` of each
//! adjacent pair), scanned for the first lowest rank, merged in place.
//!
//! Cost: O(n^2) for a piece of n bytes with a tiny constant: for the few-byte pieces of real
//! text a linear scan of a stack array beats any heap (cache locality outweighs complexity for
//! small n). Longer pieces go to `long.rs`.
//!
//! Invariant of the loop: `pairs[i] == enc.pair(syms[i], syms[i + 1])` for every i.

use super::{Encoder, NO_RANK};
use crate::engine::TokenId;

/// Pieces up to this many bytes take this path (stack arrays, no allocation).
pub(super) const SMALL: usize = 48;

/// Merge `piece` (no whole-token shortcut; at most [`SMALL`] bytes) and append its ids to `out`.
///
/// Plain fixed-size arrays and element-wise shifts: the pieces that get here are a few bytes
/// long, and a growable vector's bookkeeping and `memmove` calls cost more than the merging.
pub(super) fn merge(enc: &Encoder, piece: &[u8], out: &mut Vec<TokenId>) {
    if piece.len() > SMALL {
        // (never from `merge_piece`, which sends longer pieces to long.rs)
        return super::long::merge(enc, piece, out);
    }
    let n = piece.len();
    let mut syms = [0 as TokenId; SMALL];
    let mut pairs = [(NO_RANK, 0 as TokenId); SMALL];
    for (s, &b) in syms.iter_mut().zip(piece) {
        *s = enc.byte_ids[b as usize];
    }
    for (p, w) in pairs.iter_mut().zip(piece.windows(2)) {
        *p = enc.byte_pair(w[0], w[1]);
    }
    // Live symbols: syms[..len]; pairs[..len - 1] (len >= 1 whenever n >= 1).
    let mut len = n;
    while len > 1 {
        let (mut best, mut best_rank) = (0, NO_RANK);
        for (i, &(r, _)) in pairs[..len - 1].iter().enumerate() {
            if r < best_rank {
                best_rank = r;
                best = i;
            }
        }
        if best_rank == NO_RANK {
            break;
        }
        syms[best] = pairs[best].1;
        for j in best + 1..len - 1 {
            syms[j] = syms[j + 1];
        }
        for j in best..len - 2 {
            pairs[j] = pairs[j + 1];
        }
        len -= 1;
        if best > 0 {
            pairs[best - 1] = enc.pair(syms[best - 1], syms[best]);
        }
        if best + 1 < len {
            pairs[best] = enc.pair(syms[best], syms[best + 1]);
        }
    }
    out.extend_from_slice(&syms[..len]);
}
