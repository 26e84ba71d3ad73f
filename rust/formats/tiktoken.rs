//! tiktoken rank files: one `base64(token bytes) rank` line per regular token.
//!
//! Writing lists tokens by id (= rank). Reading rebuilds the merge list from the ranks the way
//! tiktoken's own algorithm implies: the merge of a token of rank r is the last merge of
//! byte-pair encoding its bytes with the tokens of rank < r, which must end in exactly two
//! parts.

use std::path::Path;

use base64::Engine as _;
use rustc_hash::FxHashMap;

use crate::engine::TokenId;
use crate::error::{Error, Result};
use crate::vocab::{Merge, Vocab};

/// The rank file of `vocab`'s regular tokens.
pub fn to_rank_file(vocab: &Vocab) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut s = String::with_capacity(vocab.num_tokens() * 16);
    for (id, t) in vocab.tokens().iter().enumerate() {
        s.push_str(&b64.encode(t));
        s.push(' ');
        s.push_str(&id.to_string());
        s.push('\n');
    }
    s
}

/// Parse a rank file into a vocabulary (with merges rebuilt) plus the given special tokens.
pub fn from_rank_file(data: &[u8], path: &Path, specials: Vec<(String, TokenId)>) -> Result<Vocab> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = std::str::from_utf8(data)
        .map_err(|e| Error::format(path, format!("not UTF-8 text (byte {})", e.valid_up_to())))?;
    let mut by_rank: Vec<Option<Vec<u8>>> = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        let (Some(tok), Some(rank), None) = (it.next(), it.next(), it.next()) else {
            return Err(Error::format(
                path,
                format!("line {}: expected `<base64 token> <rank>`", ln + 1),
            ));
        };
        let bytes = b64
            .decode(tok)
            .map_err(|e| Error::format(path, format!("line {}: bad base64: {e}", ln + 1)))?;
        let rank: usize = rank
            .parse()
            .map_err(|_| Error::format(path, format!("line {}: bad rank {rank:?}", ln + 1)))?;
        if rank >= by_rank.len() {
            by_rank.resize(rank + 1, None);
        }
        if by_rank[rank].replace(bytes).is_some() {
            return Err(Error::format(
                path,
                format!("line {}: duplicate rank {rank}", ln + 1),
            ));
        }
    }
    let tokens: Vec<Vec<u8>> = by_rank
        .into_iter()
        .enumerate()
        .map(|(r, t)| t.ok_or_else(|| Error::format(path, format!("rank {r} is missing"))))
        .collect::<Result<_>>()?;
    if tokens.len() < 256 {
        return Err(Error::format(
            path,
            "fewer than 256 tokens: not a byte-level vocabulary",
        ));
    }
    let ids: FxHashMap<&[u8], TokenId> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_slice(), i as TokenId))
        .collect();
    for b in 0..=255u8 {
        if !ids.contains_key(&[b][..]) {
            return Err(Error::format(path, format!("byte {b:#04x} has no token")));
        }
    }
    let mut merges = Vec::new();
    for (rank, t) in tokens.iter().enumerate() {
        if t.len() < 2 {
            continue;
        }
        let parts = bpe_parts(&ids, t, rank as TokenId);
        if parts.len() != 2 {
            return Err(Error::format(
                path,
                format!("token of rank {rank} cannot be built from two lower-rank tokens"),
            ));
        }
        let (Some(&a), Some(&b)) = (ids.get(parts[0]), ids.get(parts[1])) else {
            return Err(Error::format(
                path,
                format!("token of rank {rank}: parts unknown"),
            ));
        };
        merges.push(Merge {
            pair: (a, b),
            result: rank as TokenId,
        });
    }
    Vocab::new(tokens, merges, specials).map_err(|e| Error::format(path, e.to_string()))
}

/// Byte-pair encode `t` with tiktoken's rule using only tokens of rank < `max_rank`.
fn bpe_parts<'a>(ids: &FxHashMap<&[u8], TokenId>, t: &'a [u8], max_rank: TokenId) -> Vec<&'a [u8]> {
    let mut parts: Vec<&[u8]> = t.chunks(1).collect();
    loop {
        let mut best: Option<(TokenId, usize)> = None;
        for i in 0..parts.len().saturating_sub(1) {
            let joined = &t[offset(t, parts[i])..offset(t, parts[i + 1]) + parts[i + 1].len()];
            if let Some(&r) = ids.get(joined) {
                if r < max_rank && best.is_none_or(|(br, _)| r < br) {
                    best = Some((r, i));
                }
            }
        }
        let Some((_, i)) = best else { break };
        let start = offset(t, parts[i]);
        let end = offset(t, parts[i + 1]) + parts[i + 1].len();
        parts[i] = &t[start..end];
        parts.remove(i + 1);
    }
    parts
}

fn offset(base: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - base.as_ptr() as usize
}
