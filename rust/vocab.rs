//! Vocabulary: token id <-> bytes, the ordered merge list, special tokens, and GPT-2's
//! byte <-> unicode table used by HF `tokenizer.json` files.
//!
//! Invariants: ids `0..tokens.len()` are the regular tokens, each with distinct bytes; every
//! merge `(a, b) -> c` has `bytes(c) == bytes(a) ++ bytes(b)`; a merge's rank is its index in
//! `merges`; special tokens are distinct and have ids `>= tokens.len()`, except that a special
//! token may reuse a regular id whose bytes are exactly its text (HF-trained files put the
//! trainer's special tokens at ids 0, 1, ... of the model vocabulary; GPT-2's `vocab.json` holds
//! `<|endoftext|>`). Byte tokens may have any ids ([`Vocab::byte_id`]).

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
    /// The id of each single byte (`None` if some byte has no token).
    byte_ids: Option<Box<[TokenId; 256]>>,
    /// HF's `ignore_merges`: a pretoken that is a whole token is emitted as that token before
    /// any merge is tried (see [`Vocab::ignore_merges`]).
    ignore_merges: bool,
    /// Ids of special tokens that HF's `added_tokens` marks `"special": false` (kept for the
    /// round trip; they are matched in text exactly like the other special tokens).
    non_special: Vec<TokenId>,
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
            if let Some(t) = tokens.get(*id as usize) {
                if t.as_slice() != s.as_bytes() {
                    return Err(Error::invalid(format!(
                        "special token {s:?} has id {id}, which is the regular token {:?}",
                        String::from_utf8_lossy(t)
                    )));
                }
            }
            if seen.insert(s.clone(), *id).is_some() {
                return Err(Error::invalid(format!("duplicate special token {s:?}")));
            }
        }
        let mut table = [0 as TokenId; 256];
        let mut complete = true;
        for (b, slot) in table.iter_mut().enumerate() {
            match ids.get(&[b as u8][..]) {
                Some(&id) => *slot = id,
                None => complete = false,
            }
        }
        Ok(Self {
            tokens,
            ids,
            merges,
            ranks,
            specials,
            byte_ids: complete.then(|| Box::new(table)),
            ignore_merges: false,
            non_special: Vec::new(),
        })
    }

    /// Set HF's `ignore_merges` (see [`Vocab::ignore_merges`]).
    pub fn with_ignore_merges(mut self, ignore_merges: bool) -> Self {
        self.ignore_merges = ignore_merges;
        self
    }

    /// HF's BPE option `ignore_merges`: when true, a pretoken whose bytes are a regular token is
    /// emitted as that single token, and merges are applied only to the other pretokens. When
    /// false (HF's default), every pretoken goes through the merges, even one that is a whole
    /// token (the merges may then end in several tokens). tiktoken always looks the whole piece
    /// up first, so rank files load with this set.
    pub fn ignore_merges(&self) -> bool {
        self.ignore_merges
    }

    /// Mark special tokens as HF `"special": false` added tokens (ids not among the specials
    /// are ignored).
    pub fn with_non_special(mut self, ids: Vec<TokenId>) -> Self {
        self.non_special = ids
            .into_iter()
            .filter(|id| self.specials.iter().any(|(_, i)| i == id))
            .collect();
        self
    }

    /// Whether special token `id` came from an HF added token marked `"special": false`.
    pub fn is_non_special(&self, id: TokenId) -> bool {
        self.non_special.contains(&id)
    }

    /// The id of the single byte `b` (`None` if that byte has no token). Byte tokens are ids
    /// 0..255 in bytepair-trained and tiktoken vocabularies, but any ids in HF-trained files.
    #[inline]
    pub fn byte_id(&self, b: u8) -> Option<TokenId> {
        self.byte_ids.as_ref().map(|t| t[b as usize])
    }

    /// The ids of all 256 single bytes, indexed by byte (`None` if some byte has no token).
    pub fn byte_ids(&self) -> Option<&[TokenId; 256]> {
        self.byte_ids.as_deref()
    }

    /// Whether `id` is a special token that reuses a regular id (see the module docs).
    pub fn is_special_regular(&self, id: TokenId) -> bool {
        (id as usize) < self.tokens.len() && self.special_by_id(id).is_some()
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
        let v = Vocab::new(toks.clone(), vec![good], vec![("<s>".into(), 257)]).unwrap();
        assert_eq!(v.merge_of((97, 98)), Some((0, 256)));
        assert_eq!(v.size(), 258);
        assert_eq!(v.byte_id(b'a'), Some(97));
        assert!(!v.ignore_merges() && v.with_ignore_merges(true).ignore_merges());
    }

    #[test]
    fn special_may_reuse_a_regular_id_with_its_bytes() {
        let mut toks: Vec<Vec<u8>> = vec![b"<s>".to_vec()];
        toks.extend((0..=255u8).rev().map(|b| vec![b]));
        let v = Vocab::new(toks.clone(), vec![], vec![("<s>".into(), 0)]).unwrap();
        assert!(v.is_special_regular(0));
        assert_eq!(v.byte_id(255), Some(1));
        assert_eq!(v.byte_ids().map(|t| t[0]), Some(256));
        let err = Vocab::new(toks, vec![], vec![("<t>".into(), 0)]).unwrap_err();
        assert!(err.to_string().contains("regular token"), "{err}");
        let partial = Vocab::new(vec![b"a".to_vec()], vec![], vec![]).unwrap();
        assert_eq!(partial.byte_id(b'a'), None);
    }
}
