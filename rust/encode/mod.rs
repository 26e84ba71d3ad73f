//! Encoding: text -> token ids with a trained or loaded vocabulary.
//!
//! Semantics (HF tokenizers' BPE model, `ignore_merges = false`): each pretoken starts as its
//! bytes; repeatedly, the adjacent pair with the lowest merge rank is merged (all its
//! non-overlapping occurrences, left to right) until no adjacent pair has a merge.
//!
//! Cost: O(n) per pass with one pass per distinct merge applied inside a pretoken; pretokens are
//! short on real text, and a run of one repeated character halves per pass. (The fast encoder
//! with a cache is a separate piece of work; this one is the obviously-correct baseline.)

use crate::engine::TokenId;
use crate::vocab::Vocab;

/// Append the ids of one pretoken to `out`.
pub fn encode_piece(vocab: &Vocab, piece: &[u8], out: &mut Vec<TokenId>) {
    if piece.len() == 1 {
        out.push(piece[0] as TokenId);
        return;
    }
    let mut syms: Vec<TokenId> = piece.iter().map(|&b| b as TokenId).collect();
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
    out.extend_from_slice(&syms);
}
