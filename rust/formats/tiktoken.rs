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
        if vocab.is_special_regular(id as TokenId) {
            continue; // a special token (tiktoken takes those separately): leave its rank out
        }
        s.push_str(&b64.encode(t));
        s.push(' ');
        s.push_str(&id.to_string());
        s.push('\n');
    }
    s
}

/// The special tokens of the OpenAI encodings (tiktoken's `tiktoken_ext/openai_public.py`), by
/// encoding or pattern preset name.
pub fn default_specials(name: &str) -> Option<Vec<(String, TokenId)>> {
    const EOT: &str = "<|endoftext|>";
    let list: &[(&str, TokenId)] = match name {
        "gpt2" | "r50k" | "r50k_base" | "p50k_base" => &[(EOT, 50256)],
        "cl100k" | "cl100k_base" => &[
            (EOT, 100257),
            ("<|fim_prefix|>", 100258),
            ("<|fim_middle|>", 100259),
            ("<|fim_suffix|>", 100260),
            ("<|endofprompt|>", 100276),
        ],
        "o200k" | "o200k_base" => &[(EOT, 199999), ("<|endofprompt|>", 200018)],
        _ => return None,
    };
    Some(list.iter().map(|(s, id)| (s.to_string(), *id)).collect())
}

/// Parse a rank file into a vocabulary (with merges rebuilt) plus the given special tokens.
///
/// A rank missing from the file is allowed when a special token has that id (p50k_base leaves
/// `<|endoftext|>`'s id out of its ranks); the special token then fills it. The vocabulary has
/// `ignore_merges` set: tiktoken looks every whole piece up before merging.
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
            if rank > (1 << 28) {
                return Err(Error::format(
                    path,
                    format!("line {}: rank {rank} is implausibly large", ln + 1),
                ));
            }
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
        .map(|(r, t)| {
            t.or_else(|| {
                specials
                    .iter()
                    .find(|(_, id)| *id as usize == r)
                    .map(|(s, _)| s.as_bytes().to_vec())
            })
            .ok_or_else(|| Error::format(path, format!("rank {r} is missing")))
        })
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
        if t.len() < 2 || specials.iter().any(|(_, id)| *id as usize == rank) {
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
    Vocab::new(tokens, merges, specials)
        .map(|v| v.with_ignore_merges(true))
        .map_err(|e| Error::format(path, e.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(lines: &[(&[u8], usize)]) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut s = String::new();
        for (t, r) in lines {
            s.push_str(&format!("{} {r}\n", b64.encode(t)));
        }
        s.into_bytes()
    }

    fn bytes_then(extra: &[&[u8]]) -> Vec<u8> {
        let mut toks: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        toks.extend(extra.iter().map(|t| t.to_vec()));
        let lines: Vec<(&[u8], usize)> = toks
            .iter()
            .enumerate()
            .map(|(r, t)| (t.as_slice(), r))
            .collect();
        file(&lines)
    }

    #[test]
    fn rebuilds_merges_and_sets_ignore_merges() {
        let p = Path::new("t.tiktoken");
        let v =
            from_rank_file(&bytes_then(&[b"ab", b"abc"]), p, vec![("<e>".into(), 258)]).unwrap();
        assert!(v.ignore_merges());
        assert_eq!(v.merges().len(), 2);
        assert_eq!(v.merge_of((256, 99)), Some((1, 257)));
        assert_eq!(to_rank_file(&v).into_bytes(), bytes_then(&[b"ab", b"abc"]));
    }

    #[test]
    fn malformed_files_name_the_problem() {
        let p = Path::new("bad.tiktoken");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"!!!! 0\n".to_vec(), "bad base64"),
            (b"YQ== x\n".to_vec(), "bad rank"),
            (b"YQ==\n".to_vec(), "expected"),
            (b"YQ== 0\nYg== 0\n".to_vec(), "duplicate rank 0"),
            (b"YQ== 1\n".to_vec(), "rank 0 is missing"),
            (vec![0xff, 0xfe], "not UTF-8"),
            (file(&[(b"a", 0), (b"b", 1)]), "fewer than 256"),
            (bytes_then(&[b"abc"]), "cannot be built"),
        ];
        for (data, want) in cases {
            let e = from_rank_file(&data, p, vec![]).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("bad.tiktoken"),
                "{want}: {e}"
            );
        }
    }

    #[test]
    fn a_missing_rank_may_be_a_special_token() {
        let mut toks: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        toks.push(b"ab".to_vec());
        let mut lines: Vec<(&[u8], usize)> = toks
            .iter()
            .enumerate()
            .map(|(r, t)| (t.as_slice(), r))
            .collect();
        lines[256].1 = 257; // rank 256 is left for the special token
        let p = Path::new("p50k.tiktoken");
        assert!(from_rank_file(&file(&lines), p, vec![]).is_err());
        let v = from_rank_file(&file(&lines), p, vec![("<|endoftext|>".into(), 256)]).unwrap();
        assert_eq!(v.special_id("<|endoftext|>"), Some(256));
        assert_eq!(v.id(b"ab"), Some(257));
        assert!(!to_rank_file(&v).contains(" 256\n"));
        assert_eq!(default_specials("cl100k_base").map(|s| s.len()), Some(5));
    }
}
