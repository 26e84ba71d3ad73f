//! The slow, obviously-correct references for the BPE step. The fast paths (`small.rs`,
//! `long.rs`, the whole-token shortcut) are tested for equality against these.
//!
//! Cost: O(n) per pass, one pass per merge applied: O(n^2) on long pieces. Never used to encode.

use crate::engine::TokenId;
use crate::vocab::Vocab;

/// HF tokenizers' semantics (`ignore_merges = false`): each pretoken starts as its byte tokens;
/// repeatedly, the adjacent pair with the lowest merge rank is merged (all its non-overlapping
/// occurrences, left to right) until no adjacent pair has a merge. `None` if a byte has no token.
pub fn encode_piece_reference(vocab: &Vocab, piece: &[u8]) -> Option<Vec<TokenId>> {
    let mut syms: Vec<TokenId> = piece
        .iter()
        .map(|&b| vocab.id(&[b]))
        .collect::<Option<_>>()?;
    loop {
        let mut best: Option<(u32, TokenId, TokenId, TokenId)> = None;
        for w in syms.windows(2) {
            if let Some((rank, id)) = vocab.merge_of((w[0], w[1])) {
                if best.is_none_or(|(r, ..)| rank < r) {
                    best = Some((rank, w[0], w[1], id));
                }
            }
        }
        let Some((_, a, b, c)) = best else { break };
        let (mut r, mut w) = (0, 0);
        while r < syms.len() {
            if r + 1 < syms.len() && syms[r] == a && syms[r + 1] == b {
                syms[w] = c;
                r += 2;
            } else {
                syms[w] = syms[r];
                r += 1;
            }
            w += 1;
        }
        syms.truncate(w);
    }
    Some(syms)
}

/// tiktoken's semantics (`src/lib.rs`, `byte_pair_encode`): a piece that is a token is that
/// token; otherwise parts start as single bytes and, repeatedly, the leftmost adjacent pair whose
/// concatenation is the token of lowest id (= rank) is joined. `None` if a byte has no token.
pub fn encode_piece_reference_tiktoken(vocab: &Vocab, piece: &[u8]) -> Option<Vec<TokenId>> {
    if let Some(id) = vocab.id(piece) {
        return Some(vec![id]);
    }
    let mut bounds: Vec<usize> = (0..=piece.len()).collect();
    loop {
        let mut best: Option<(TokenId, usize)> = None;
        for i in 0..bounds.len().saturating_sub(2) {
            if let Some(r) = vocab.id(&piece[bounds[i]..bounds[i + 2]]) {
                if best.is_none_or(|(br, _)| r < br) {
                    best = Some((r, i));
                }
            }
        }
        let Some((_, i)) = best else { break };
        bounds.remove(i + 1);
    }
    bounds
        .windows(2)
        .map(|w| vocab.id(&piece[w[0]..w[1]]))
        .collect()
}
