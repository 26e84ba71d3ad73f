//! Encoded documents as one flat token array: each document's ids followed by the end-of-text
//! id, as little-endian `u16` (vocabulary of at most 65,536 ids) or `u32`. This is the layout
//! `bytepair encode` writes and `np.memmap` reads.
//!
//! Cost: one parallel `encode_batch` over the documents, then one pass copying the ids into the
//! output buffer (no per-token allocation). Memory: the batch's ids twice (per document, then
//! packed), so callers bound the batch size.

use rustc_hash::FxHashSet;

use std::path::Path;

use super::docs::{split_documents, DocSep};
use crate::count::Utf8Errors;
use crate::engine::TokenId;
use crate::error::{Error, Result};
use crate::Tokenizer;

/// Width of the ids in a token file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenDtype {
    U16,
    U32,
}

impl TokenDtype {
    /// The narrowest type that holds every id of a vocabulary of `vocab_size` ids.
    pub fn for_vocab(vocab_size: usize) -> Self {
        if vocab_size <= 1 << 16 {
            TokenDtype::U16
        } else {
            TokenDtype::U32
        }
    }

    /// From the item size in bytes (2 or 4).
    pub fn from_itemsize(n: usize) -> Result<Self> {
        match n {
            2 => Ok(TokenDtype::U16),
            4 => Ok(TokenDtype::U32),
            _ => Err(Error::invalid(format!(
                "token item size must be 2 or 4 bytes, not {n}"
            ))),
        }
    }

    pub fn itemsize(self) -> usize {
        match self {
            TokenDtype::U16 => 2,
            TokenDtype::U32 => 4,
        }
    }

    fn max(self) -> u64 {
        match self {
            TokenDtype::U16 => u16::MAX as u64,
            TokenDtype::U32 => u32::MAX as u64,
        }
    }
}

/// A canonical byte description of everything that decides how `tok` encodes: the tokens in id
/// order, the merges, the special tokens, the split pattern, the normalizer and the merge rule.
/// Token files record its SHA-256 (cheap: no JSON is built; a few MB for a 200k vocabulary).
pub fn identity(tok: &Tokenizer) -> Vec<u8> {
    let v = tok.vocab();
    let mut out = Vec::with_capacity(v.tokens().iter().map(|t| t.len() + 4).sum::<usize>() * 2);
    out.extend_from_slice(b"bytepair-tokenizer-identity-v1\0");
    let mut put = |b: &[u8]| {
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(b);
    };
    put(format!("{:?}", tok.encoder().rule()).as_bytes());
    put(tok.pretokenizer().name().as_bytes());
    put(tok.pretokenizer().pattern().unwrap_or("").as_bytes());
    put(tok.normalizer().map_or("", |n| n.name()).as_bytes());
    put(&(v.tokens().len() as u64).to_le_bytes());
    for t in v.tokens() {
        put(t);
    }
    let mut merges = Vec::with_capacity(v.merges().len() * 12);
    for m in v.merges() {
        for x in [m.pair.0, m.pair.1, m.result] {
            merges.extend_from_slice(&x.to_le_bytes());
        }
    }
    put(&merges);
    for (s, id) in v.specials() {
        put(s.as_bytes());
        put(&id.to_le_bytes());
    }
    out
}

/// Documents at least this large are encoded alone, in parallel chunks.
const BIG_DOCUMENT: usize = 1 << 20;

/// A batch of documents, encoded and packed.
#[derive(Debug, Default)]
pub struct PackedBatch {
    /// Little-endian ids, `itemsize` bytes each: document 0's ids (+ eot), document 1's, ...
    pub data: Vec<u8>,
    /// Tokens of each document, the end-of-text id included.
    pub lengths: Vec<u64>,
}

/// Encode `docs` on `threads` threads and pack them (see the module docs). `eot`, if given, is
/// appended after every document. Special-token handling is `Tokenizer::encode`'s (`allowed`
/// become ids, `disallowed` raise, the rest is ordinary text).
pub fn encode_documents<S: AsRef<str> + Sync>(
    tok: &Tokenizer,
    docs: &[S],
    eot: Option<TokenId>,
    dtype: TokenDtype,
    allowed: &FxHashSet<&str>,
    disallowed: &FxHashSet<&str>,
    threads: usize,
) -> Result<PackedBatch> {
    let largest = tok.vocab().size().saturating_sub(1) as u64;
    if largest > dtype.max() {
        return Err(Error::invalid(format!(
            "a vocabulary of {} ids does not fit in {}-byte tokens",
            tok.vocab().size(),
            dtype.itemsize()
        )));
    }
    if let Some(e) = eot {
        if e as u64 > largest {
            return Err(Error::invalid(format!(
                "end-of-text id {e} is outside the vocabulary ({} ids)",
                tok.vocab().size()
            )));
        }
    }
    // Small documents go through the batch call (one document per task); a large one is cut
    // at safe points and encoded on all threads by `Tokenizer::encode`, so a batch holding one
    // big file still uses every core.
    let mut per_doc: Vec<Vec<TokenId>> = Vec::with_capacity(docs.len());
    let mut run = 0;
    for (i, d) in docs.iter().enumerate() {
        if d.as_ref().len() >= BIG_DOCUMENT {
            per_doc.extend(tok.encode_batch(&docs[run..i], allowed, disallowed, threads)?);
            per_doc.push(tok.encode(d.as_ref(), allowed, disallowed, threads)?);
            run = i + 1;
        }
    }
    per_doc.extend(tok.encode_batch(&docs[run..], allowed, disallowed, threads)?);
    let extra = usize::from(eot.is_some());
    let total: usize = per_doc.iter().map(|v| v.len() + extra).sum();
    let mut data = Vec::with_capacity(total * dtype.itemsize());
    let mut lengths = Vec::with_capacity(per_doc.len());
    for ids in &per_doc {
        match dtype {
            // Every id is below the vocabulary size, checked above to fit the type.
            TokenDtype::U16 => {
                for &id in ids.iter().chain(eot.as_ref()) {
                    data.extend_from_slice(&(id as u16).to_le_bytes());
                }
            }
            TokenDtype::U32 => {
                for &id in ids.iter().chain(eot.as_ref()) {
                    data.extend_from_slice(&id.to_le_bytes());
                }
            }
        }
        lengths.push((ids.len() + extra) as u64);
    }
    Ok(PackedBatch { data, lengths })
}

/// [`encode_documents`] of the documents of a block of a UTF-8 text file (split by `sep`; see
/// [`super::docs`]). `origin` and `offset` (of the block in the file) name the place of invalid
/// UTF-8 in errors. Returns the packed batch and the bytes of the documents.
#[allow(clippy::too_many_arguments)]
pub fn encode_text(
    tok: &Tokenizer,
    data: &[u8],
    sep: DocSep,
    errors: Utf8Errors,
    origin: &Path,
    offset: u64,
    eot: Option<TokenId>,
    dtype: TokenDtype,
    threads: usize,
) -> Result<(PackedBatch, u64)> {
    let text = match std::str::from_utf8(data) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(e) => match errors {
            Utf8Errors::Strict => {
                return Err(Error::Utf8 {
                    path: origin.to_path_buf(),
                    offset: offset + e.valid_up_to() as u64,
                })
            }
            Utf8Errors::Replace => String::from_utf8_lossy(data),
        },
    };
    let docs = split_documents(&text, sep);
    let nbytes = docs.iter().map(|d| d.len() as u64).sum();
    let none = FxHashSet::default();
    let packed = encode_documents(tok, &docs, eot, dtype, &none, &none, threads)?;
    Ok((packed, nbytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretok::Pretokenizer;
    use crate::train::{tokenizer_from_counts, TrainConfig};

    fn tokenizer() -> Tokenizer {
        let text = "the cat sat on the mat, the cat ate the rat. ".repeat(20);
        let c = crate::count::Counter::new(Pretokenizer::new("gpt2").unwrap(), &[]).unwrap();
        let mut pc = crate::count::PretokenCounts::default();
        c.count_text(&text, &mut pc).unwrap();
        let cfg = TrainConfig {
            vocab_size: 300,
            min_frequency: 1,
            max_token_length: None,
            special_tokens: vec!["<|endoftext|>".into()],
            progress: false,
        };
        tokenizer_from_counts(&pc, Pretokenizer::new("gpt2").unwrap(), &cfg, 0.0).unwrap()
    }

    #[test]
    fn packs_documents_with_eot() {
        let tok = tokenizer();
        let eot = tok.vocab().special_id("<|endoftext|>").unwrap();
        let big = "the cat sat on the mat.\nThe rat ate.\n".repeat(40_000);
        let docs = [
            "the cat",
            "",
            big.as_str(),
            "a rat on the mat",
            big.as_str(),
        ];
        let none = FxHashSet::default();
        for dtype in [TokenDtype::U16, TokenDtype::U32] {
            let b = encode_documents(&tok, &docs, Some(eot), dtype, &none, &none, 2).unwrap();
            let w = dtype.itemsize();
            let ids: Vec<u32> = b
                .data
                .chunks_exact(w)
                .map(|c| {
                    if w == 2 {
                        u16::from_le_bytes([c[0], c[1]]) as u32
                    } else {
                        u32::from_le_bytes([c[0], c[1], c[2], c[3]])
                    }
                })
                .collect();
            let mut want = Vec::new();
            let mut lens = Vec::new();
            for d in docs {
                let e = tok.encode_ordinary(d).unwrap();
                lens.push(e.len() as u64 + 1);
                want.extend(e);
                want.push(eot);
            }
            assert_eq!(ids, want);
            assert_eq!(b.lengths, lens);
        }
        let b = encode_documents(&tok, &docs, None, TokenDtype::U16, &none, &none, 1).unwrap();
        assert_eq!(b.lengths[1], 0);
        assert!(
            encode_documents(&tok, &docs, Some(9999), TokenDtype::U16, &none, &none, 1).is_err()
        );
        assert_eq!(TokenDtype::for_vocab(65_536), TokenDtype::U16);
        assert_eq!(TokenDtype::for_vocab(65_537), TokenDtype::U32);
    }
}
