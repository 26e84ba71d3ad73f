//! A tokenizer: vocabulary + pretokenizer + special tokens. Immutable once built, so it is
//! shared freely between threads.

use rustc_hash::FxHashSet;

use crate::count::special_regex;
use crate::encode::encode_piece;
use crate::engine::TokenId;
use crate::normalize::Normalizer;
use crate::error::{Error, Result};
use crate::pretok::Pretokenizer;
use crate::train::TrainStats;
use crate::vocab::Vocab;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    vocab: Vocab,
    pretok: Pretokenizer,
    special_re: Option<regex::Regex>,
    /// Applied to ordinary text before pretokenization (never to special tokens).
    normalizer: Option<Normalizer>,
    stats: Option<TrainStats>,
}

impl Tokenizer {
    pub fn new(vocab: Vocab, pretok: Pretokenizer) -> Result<Self> {
        let names: Vec<String> = vocab.specials().iter().map(|(s, _)| s.clone()).collect();
        let special_re = special_regex(&names)?;
        Ok(Self {
            vocab,
            pretok,
            special_re,
            normalizer: None,
            stats: None,
        })
    }

    pub fn with_normalizer(mut self, normalizer: Option<Normalizer>) -> Self {
        self.normalizer = normalizer;
        self
    }

    pub fn normalizer(&self) -> Option<Normalizer> {
        self.normalizer
    }

    pub fn with_stats(mut self, stats: TrainStats) -> Self {
        self.stats = Some(stats);
        self
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    pub fn pretokenizer(&self) -> &Pretokenizer {
        &self.pretok
    }

    pub fn stats(&self) -> Option<&TrainStats> {
        self.stats.as_ref()
    }

    /// Encode text, treating special tokens as ordinary text.
    pub fn encode_ordinary(&self, text: &str) -> Result<Vec<TokenId>> {
        let mut out = Vec::with_capacity(text.len() / 3);
        self.encode_ordinary_into(text, &mut out)?;
        Ok(out)
    }

    fn encode_ordinary_into(&self, text: &str, out: &mut Vec<TokenId>) -> Result<()> {
        let text = match &self.normalizer {
            Some(n) => n.apply(text),
            None => std::borrow::Cow::Borrowed(text),
        };
        let text = text.as_ref();
        self.pretok
            .split(text, |p| encode_piece(&self.vocab, p.as_bytes(), out))?;
        Ok(())
    }

    /// Encode text; occurrences of the special tokens in `allowed` become their ids, all other
    /// text (other special tokens included) is encoded as ordinary text.
    pub fn encode_with_specials(
        &self,
        text: &str,
        allowed: &FxHashSet<&str>,
    ) -> Result<Vec<TokenId>> {
        let mut out = Vec::with_capacity(text.len() / 3);
        let Some(re) = self.special_re.as_ref().filter(|_| !allowed.is_empty()) else {
            self.encode_ordinary_into(text, &mut out)?;
            return Ok(out);
        };
        let mut last = 0;
        for m in re.find_iter(text) {
            if !allowed.contains(m.as_str()) {
                continue;
            }
            self.encode_ordinary_into(&text[last..m.start()], &mut out)?;
            if let Some(id) = self.vocab.special_id(m.as_str()) {
                out.push(id);
            }
            last = m.end();
        }
        self.encode_ordinary_into(&text[last..], &mut out)?;
        Ok(out)
    }

    /// The first special token found in `text` that is in `set` (all specials if `None`).
    pub fn find_special<'a>(
        &self,
        text: &'a str,
        set: Option<&FxHashSet<&str>>,
    ) -> Option<&'a str> {
        let re = self.special_re.as_ref()?;
        re.find_iter(text)
            .map(|m| m.as_str())
            .find(|s| set.is_none_or(|set| set.contains(s)))
    }

    /// The bytes of a sequence of ids (special tokens give their text).
    pub fn decode_bytes(&self, ids: &[TokenId]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for (i, &id) in ids.iter().enumerate() {
            match self.vocab.bytes_of(id) {
                Some(b) => out.extend_from_slice(b),
                None => {
                    return Err(Error::invalid(format!(
                        "invalid token id {id} at position {i} (vocabulary size {})",
                        self.vocab.size()
                    )))
                }
            }
        }
        Ok(out)
    }
}
