//! Vocabulary: token id <-> bytes, the ordered merge list, special tokens, and GPT-2's
//! byte <-> unicode table used by HF `tokenizer.json` files.
//!
//! Invariants: ids `0..tokens.len()` are the regular tokens, each with distinct bytes; every
//! merge `(a, b) -> c` has `bytes(c) == bytes(a) ++ bytes(b)`; a merge's rank is its index in
//! `merges`; special tokens have ids `>= tokens.len()` and are distinct.

use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use crate::engine::{Pair, TokenId};
use crate::error::{Error, Result};

/// A merge: `pair` becomes `result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    pub pair: Pair,
    pub result: TokenId,
}

/// Token bytes, merges and special tokens. See the module docs for the invariants.
#[derive(Debug, Clone, Default)]
pub struct Vocab {
    tokens: Vec<Vec<u8>>,
    ids: FxHashMap<Vec<u8>, TokenId>,
    merges: Vec<Merge>,
    /// pair -> (rank, result)
    ranks: FxHashMap<Pair, (u32, TokenId)>,
    specials: Vec<(String, TokenId)>,
}

impl Vocab {
    /// Build and validate a vocabulary.
    pub fn new(
        tokens: Vec<Vec<u8>>,
        merges: Vec<Merge>,
        specials: Vec<(String, TokenId)>,
    ) -> Result<Self> {
        let mut ids = FxHashMap::default();
        ids.reserve(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            if t.is_empty() {
                return Err(Error::invalid(format!("token {i} is empty")));
            }
            if let Some(j) = ids.insert(t.clone(), i as TokenId) {
                return Err(Error::invalid(format!(
                    "tokens {j} and {i} have the same bytes {:?}",
                    String::from_utf8_lossy(t)
                )));
            }
        }
        let n = tokens.len();
        let mut ranks = FxHashMap::default();
        ranks.reserve(merges.len());
        for (r, m) in merges.iter().enumerate() {
            let (a, b) = m.pair;
            let (Some(ta), Some(tb), Some(tc)) = (
                tokens.get(a as usize),
                tokens.get(b as usize),
                tokens.get(m.result as usize),
            ) else {
                return Err(Error::invalid(format!(
                    "merge {r} ({a}, {b}) -> {} refers to a token id >= {n}",
                    m.result
                )));
            };
            if tc.len() != ta.len() + tb.len() || !tc.starts_with(ta) || !tc.ends_with(tb) {
                return Err(Error::invalid(format!(
                    "merge {r}: token {} is not the concatenation of tokens {a} and {b}",
                    m.result
                )));
            }
            // The first (lowest-rank) occurrence of a pair wins, as in HF tokenizers.
            ranks.entry(m.pair).or_insert((r as u32, m.result));
        }
        let mut seen = FxHashMap::default();
        for (s, id) in &specials {
            if s.is_empty() {
                return Err(Error::invalid("special tokens must not be empty"));
            }
            if (*id as usize) < n {
                return Err(Error::invalid(format!(
                    "special token {s:?} has id {id}, which is a regular token's id"
                )));
            }
            if seen.insert(s.clone(), *id).is_some() {
                return Err(Error::invalid(format!("duplicate special token {s:?}")));
            }
        }
        Ok(Self {
            tokens,
            ids,
            merges,
            ranks,
            specials,
        })
    }

    /// Number of regular tokens (ids `0..n`).
    pub fn num_tokens(&self) -> usize {
        self.tokens.len()
    }

    /// Regular tokens plus special tokens (max id + 1).
    pub fn size(&self) -> usize {
        self.specials
            .iter()
            .map(|(_, id)| *id as usize + 1)
            .max()
            .unwrap_or(0)
            .max(self.tokens.len())
    }

    pub fn token(&self, id: TokenId) -> Option<&[u8]> {
        self.tokens.get(id as usize).map(|v| v.as_slice())
    }

    pub fn tokens(&self) -> &[Vec<u8>] {
        &self.tokens
    }

    pub fn id(&self, bytes: &[u8]) -> Option<TokenId> {
        self.ids.get(bytes).copied()
    }

    pub fn merges(&self) -> &[Merge] {
        &self.merges
    }

    /// `(rank, result)` of the merge of `pair`, if any.
    #[inline]
    pub fn merge_of(&self, pair: Pair) -> Option<(u32, TokenId)> {
        self.ranks.get(&pair).copied()
    }

    pub fn specials(&self) -> &[(String, TokenId)] {
        &self.specials
    }

    pub fn special_id(&self, s: &str) -> Option<TokenId> {
        self.specials
            .iter()
            .find(|(t, _)| t == s)
            .map(|(_, id)| *id)
    }

    pub fn special_by_id(&self, id: TokenId) -> Option<&str> {
        self.specials
            .iter()
            .find(|(_, i)| *i == id)
            .map(|(s, _)| s.as_str())
    }

    /// The bytes of `id`, regular or special.
    pub fn bytes_of(&self, id: TokenId) -> Option<&[u8]> {
        self.token(id)
            .or_else(|| self.special_by_id(id).map(str::as_bytes))
    }
}

/// GPT-2's reversible byte -> unicode char table (printable bytes map to themselves).
pub fn byte_to_char() -> &'static [char; 256] {
    static T: OnceLock<[char; 256]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = ['\0'; 256];
        let mut n = 0u32;
        for b in 0..256u32 {
            let printable = (0x21..=0x7E).contains(&b)
                || (0xA1..=0xAC).contains(&b)
                || (0xAE..=0xFF).contains(&b);
            t[b as usize] = if printable {
                char::from_u32(b).unwrap_or('\0')
            } else {
                let c = char::from_u32(256 + n).unwrap_or('\0');
                n += 1;
                c
            };
        }
        t
    })
}

/// The inverse of [`byte_to_char`].
pub fn char_to_byte() -> &'static FxHashMap<char, u8> {
    static T: OnceLock<FxHashMap<char, u8>> = OnceLock::new();
    T.get_or_init(|| {
        byte_to_char()
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect()
    })
}

/// Bytes -> GPT-2 unicode string.
pub fn bytes_to_unicode(bytes: &[u8]) -> String {
    let t = byte_to_char();
    bytes.iter().map(|&b| t[b as usize]).collect()
}

/// GPT-2 unicode string -> bytes (`None` if a char is outside the table).
pub fn unicode_to_bytes(s: &str) -> Option<Vec<u8>> {
    let t = char_to_byte();
    s.chars().map(|c| t.get(&c).copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_table_is_a_bijection() {
        let t = byte_to_char();
        assert_eq!(t[b'A' as usize], 'A');
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unicode_to_bytes(&bytes_to_unicode(&all)), Some(all));
    }

    #[test]
    fn rejects_inconsistent_merges() {
        let mut toks: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        toks.push(b"ab".to_vec());
        let bad = Merge {
            pair: (b'a' as u32, b'c' as u32),
            result: 256,
        };
        assert!(Vocab::new(toks.clone(), vec![bad], vec![]).is_err());
        let good = Merge {
            pair: (b'a' as u32, b'b' as u32),
            result: 256,
        };
        let v = Vocab::new(toks, vec![good], vec![("<s>".into(), 257)]).unwrap();
        assert_eq!(v.merge_of((97, 98)), Some((0, 256)));
        assert_eq!(v.size(), 258);
    }
}
