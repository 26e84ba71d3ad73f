//! A tokenizer: vocabulary + pretokenizer + special tokens + the encoder tables. Immutable once
//! built, so it is shared freely between threads.
//!
//! Encoding a text: special tokens that are allowed cut it into ordinary segments; each segment is
//! normalized (if the tokenizer has a normalizer), split into pieces by the pretokenizer, and each
//! piece goes through the BPE step ([`Encoder`], with the calling thread's piece cache). Batches
//! run on a rayon pool; a single large text with a preset pretokenizer is cut at safe points
//! (`encode::split`) and its chunks encoded in parallel.

use rustc_hash::FxHashSet;

use rayon::prelude::*;

use crate::count::special_regex;
use crate::encode::{pool, split, Encoder, MergeRule, PieceSink};
use crate::engine::TokenId;
use crate::error::{Error, Result};
use crate::normalize::Normalizer;
use crate::pretok::Pretokenizer;
use crate::train::TrainStats;
use crate::vocab::Vocab;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    vocab: Vocab,
    pretok: Pretokenizer,
    special_re: Option<regex::Regex>,
    /// Built from `vocab` in `new` / `with_merge_rule`.
    encoder: Encoder,
    /// Applied to ordinary text before pretokenization (never to special tokens).
    normalizer: Option<Normalizer>,
    stats: Option<TrainStats>,
}

impl Tokenizer {
    pub fn new(vocab: Vocab, pretok: Pretokenizer) -> Result<Self> {
        let names: Vec<String> = vocab.specials().iter().map(|(s, _)| s.clone()).collect();
        let special_re = special_regex(&names)?;
        let encoder = Encoder::new(&vocab, MergeRule::default())?;
        Ok(Self {
            encoder,
            vocab,
            pretok,
            special_re,
            normalizer: None,
            stats: None,
        })
    }

    /// Use another merge rule (tiktoken's rank rule for rank files, HF `ignore_merges`).
    /// Rebuilds the encoder tables.
    pub fn with_merge_rule(mut self, rule: MergeRule) -> Result<Self> {
        if rule != self.encoder.rule() {
            self.encoder = Encoder::new(&self.vocab, rule)?;
        }
        Ok(self)
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
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
        self.encoder
            .with_sink(|sink| self.encode_ordinary_into(sink, text, &mut out))?;
        Ok(out)
    }

    /// [`Self::encode_ordinary`], appending to `out` (whose capacity a caller may reuse).
    pub fn encode_ordinary_append(&self, text: &str, out: &mut Vec<TokenId>) -> Result<()> {
        self.encoder
            .with_sink(|sink| self.encode_ordinary_into(sink, text, out))
    }

    fn encode_ordinary_into(
        &self,
        sink: &mut PieceSink<'_>,
        text: &str,
        out: &mut Vec<TokenId>,
    ) -> Result<()> {
        let text = match &self.normalizer {
            Some(n) => n.apply(text),
            None => std::borrow::Cow::Borrowed(text),
        };
        let whole = text.as_bytes();
        // Inlined into each scanner's loop: as a called function, its frame set-up cost a tenth
        // of the instructions per piece (callgrind, 3 MB of en.txt: 148M -> 140M on o200k,
        // 130M -> 122M on cl100k).
        self.pretok
            .split_pieces(text.as_ref(), sink.pieces(whole, out))?;
        Ok(())
    }

    /// Cut `text` at the allowed special tokens: ordinary segments and special ids, in order.
    /// At each position the special-token regex (longest first) decides; a match that is not
    /// allowed is ordinary text, and the search resumes one character later, so an allowed token
    /// starting inside it is still found.
    fn segments<'a>(&self, text: &'a str, allowed: &FxHashSet<&str>) -> Vec<Segment<'a>> {
        let mut out = Vec::new();
        let Some(re) = self.special_re.as_ref().filter(|_| !allowed.is_empty()) else {
            out.push(Segment::Text(text));
            return out;
        };
        let (mut last, mut pos) = (0, 0);
        while let Some(m) = re.find_at(text, pos) {
            if allowed.contains(m.as_str()) {
                if let Some(id) = self.vocab.special_id(m.as_str()) {
                    out.push(Segment::Text(&text[last..m.start()]));
                    out.push(Segment::Special(id));
                    last = m.end();
                    pos = m.end();
                    continue;
                }
            }
            pos = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
        }
        out.push(Segment::Text(&text[last..]));
        out
    }

    /// Encode text; occurrences of the special tokens in `allowed` become their ids, all other
    /// text (other special tokens included) is encoded as ordinary text.
    pub fn encode_with_specials(
        &self,
        text: &str,
        allowed: &FxHashSet<&str>,
    ) -> Result<Vec<TokenId>> {
        let mut out = Vec::with_capacity(text.len() / 3);
        self.encoder.with_sink(|sink| {
            for seg in self.segments(text, allowed) {
                match seg {
                    Segment::Text(t) => self.encode_ordinary_into(sink, t, &mut out)?,
                    Segment::Special(id) => out.push(id),
                }
            }
            Ok::<_, Error>(())
        })?;
        Ok(out)
    }

    /// Error (tiktoken's rule) if `text` contains a special token of `disallowed`.
    pub fn check_disallowed(&self, text: &str, disallowed: &FxHashSet<&str>) -> Result<()> {
        if disallowed.is_empty() {
            return Ok(());
        }
        match self.find_special(text, Some(disallowed)) {
            None => Ok(()),
            Some(s) => Err(Error::invalid(format!(
                "Encountered text corresponding to disallowed special token '{s}'.\n\
                 Pass allowed_special={{'{s}'}} (or 'all') to encode it as a special token, \
                 or disallowed_special=() to encode it as normal text."
            ))),
        }
    }

    /// tiktoken's `encode`: error if `text` contains a token of `disallowed`; tokens of
    /// `allowed` become their ids; everything else is ordinary text. With `threads > 1`, a
    /// large text is encoded in parallel chunks (same result).
    pub fn encode(
        &self,
        text: &str,
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        threads: usize,
    ) -> Result<Vec<TokenId>> {
        self.check_disallowed(text, disallowed)?;
        if self.one_part(text, threads) {
            // (the common case of batches of short texts: no part bookkeeping)
            return self.encode_with_specials(text, allowed);
        }
        Ok(self.collect_parts(text, allowed, threads)?.concat())
    }

    /// Whether `encode(text, .., threads)` encodes the text in one piece (not in parallel chunks).
    fn one_part(&self, text: &str, threads: usize) -> bool {
        threads <= 1 || text.len() < PARALLEL_MIN_BYTES || !self.chunkable()
    }

    /// [`Self::encode`] as consecutive parts whose concatenation is the encoding (one part unless
    /// the text was encoded in parallel chunks), so a caller that copies the ids anyway (into a
    /// Python list) skips the concatenation.
    pub fn encode_parts(
        &self,
        text: &str,
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        threads: usize,
    ) -> Result<Vec<Vec<TokenId>>> {
        self.check_disallowed(text, disallowed)?;
        self.collect_parts(text, allowed, threads)
    }

    /// [`Self::encode_parts`] without the disallowed-token check.
    fn collect_parts(
        &self,
        text: &str,
        allowed: &FxHashSet<&str>,
        threads: usize,
    ) -> Result<Vec<Vec<TokenId>>> {
        let parts = std::sync::Mutex::new(Vec::new());
        let n = self.parts_with(text, allowed, threads, |k, ids| {
            parts
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push((k, ids));
        })?;
        let mut parts = parts
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        debug_assert_eq!(parts.len(), n);
        parts.sort_unstable_by_key(|&(k, _)| k);
        Ok(parts.into_iter().map(|(_, ids)| ids).collect())
    }

    /// [`Self::encode_parts`], handing each part to `each(index, ids)` as soon as it is encoded,
    /// from the encoding threads and in any order; returns the number of parts (indices
    /// `0..n`). Lets a caller work on the first parts while the others are being encoded. On an
    /// error some parts may have been handed out already.
    pub fn encode_parts_with(
        &self,
        text: &str,
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        threads: usize,
        each: impl Fn(usize, Vec<TokenId>) + Sync,
    ) -> Result<usize> {
        self.check_disallowed(text, disallowed)?;
        self.parts_with(text, allowed, threads, each)
    }

    /// [`Self::encode_parts_with`] without the disallowed-token check.
    fn parts_with(
        &self,
        text: &str,
        allowed: &FxHashSet<&str>,
        threads: usize,
        each: impl Fn(usize, Vec<TokenId>) + Sync,
    ) -> Result<usize> {
        if self.one_part(text, threads) {
            each(0, self.encode_with_specials(text, allowed)?);
            return Ok(1);
        }
        let mut jobs: Vec<Segment<'_>> = Vec::new();
        for seg in self.segments(text, allowed) {
            match seg {
                Segment::Text(t) => {
                    let parts = (t.len() / (PARALLEL_MIN_BYTES / 2)).clamp(1, threads * 4);
                    jobs.extend(split::chunks(t, parts).into_iter().map(Segment::Text));
                }
                s => jobs.push(s),
            }
        }
        pool::install(threads, || {
            jobs.par_iter().enumerate().try_for_each(|(k, seg)| {
                let ids = match seg {
                    Segment::Text(t) => self.encode_ordinary(t)?,
                    Segment::Special(id) => vec![*id],
                };
                each(k, ids);
                Ok::<(), Error>(())
            })
        })??;
        Ok(jobs.len())
    }

    /// Whether `split::chunks` is exact for this tokenizer (preset pattern, no normalizer).
    fn chunkable(&self) -> bool {
        self.normalizer.is_none()
            && matches!(
                self.pretok,
                Pretokenizer::Gpt2 | Pretokenizer::Cl100k | Pretokenizer::O200k
            )
    }

    /// Number of tokens of `encode(text, ...)`.
    pub fn count_tokens(
        &self,
        text: &str,
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
    ) -> Result<usize> {
        Ok(self.encode(text, allowed, disallowed, 1)?.len())
    }

    /// `encode` of every text, in parallel on `threads` threads; the first error (in input
    /// order) is returned.
    pub fn encode_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        threads: usize,
    ) -> Result<Vec<Vec<TokenId>>> {
        if threads <= 1 {
            return texts
                .iter()
                .map(|t| self.encode(t.as_ref(), allowed, disallowed, 1))
                .collect();
        }
        let few = texts.len() < threads * 4;
        if few_large(texts, threads) {
            // A few large texts: each is cut into chunks for the threads instead (one text per
            // thread would leave threads idle, e.g. a batch of one).
            return texts
                .iter()
                .map(|t| self.encode(t.as_ref(), allowed, disallowed, threads))
                .collect();
        }
        pool::install(threads, || {
            texts
                .par_iter()
                .with_min_len(if few { 1 } else { 4 })
                .map(|t| self.encode(t.as_ref(), allowed, disallowed, 1))
                .collect()
        })?
    }

    /// `encode_batch` with each text's ids as consecutive parts (one part unless a large text
    /// was encoded in parallel chunks), for a caller that copies them into a buffer of its own
    /// anyway (`encode_batch_numpy` writes them straight into the array's bytes).
    pub fn encode_batch_parts<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        threads: usize,
    ) -> Result<Vec<Vec<Vec<TokenId>>>> {
        if few_large(texts, threads) {
            texts
                .iter()
                .map(|t| self.encode_parts(t.as_ref(), allowed, disallowed, threads))
                .collect()
        } else {
            Ok(self
                .encode_batch(texts, allowed, disallowed, threads)?
                .into_iter()
                .map(|v| vec![v])
                .collect())
        }
    }

    /// `encode(text, allowed, disallowed, 1)` plus one mark per token: [`MARK_PIECE`] on the
    /// first token of each pretoken, [`MARK_SPECIAL`] on each special token, 0 elsewhere. Same
    /// ids as `encode`; dynamic merging uses the marks as merge boundaries.
    pub fn encode_marked(
        &self,
        text: &str,
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
    ) -> Result<(Vec<TokenId>, Vec<u8>)> {
        self.check_disallowed(text, disallowed)?;
        let mut out = Vec::with_capacity(text.len() / 3);
        let mut marks = Vec::with_capacity(text.len() / 3);
        self.encoder.with_sink(|sink| {
            for seg in self.segments(text, allowed) {
                match seg {
                    Segment::Text(t) => {
                        let t = match &self.normalizer {
                            Some(n) => n.apply(t),
                            None => std::borrow::Cow::Borrowed(t),
                        };
                        self.pretok.split(t.as_ref(), |p| {
                            let before = out.len();
                            sink.push(p.as_bytes(), &mut out);
                            if out.len() > before {
                                marks.push(MARK_PIECE);
                                marks.resize(out.len(), 0);
                            }
                        })?;
                    }
                    Segment::Special(id) => {
                        out.push(id);
                        marks.push(MARK_SPECIAL);
                    }
                }
            }
            Ok::<_, Error>(())
        })?;
        Ok((out, marks))
    }

    /// [`Tokenizer::encode_marked`] of every text, in parallel on `threads` threads.
    pub fn encode_batch_marked<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        threads: usize,
    ) -> Result<Vec<(Vec<TokenId>, Vec<u8>)>> {
        let one = |t: &S| self.encode_marked(t.as_ref(), allowed, disallowed);
        if threads <= 1 {
            return texts.iter().map(one).collect();
        }
        pool::install(threads, || {
            texts.par_iter().with_min_len(4).map(one).collect()
        })?
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

    /// `decode_bytes` of each sequence.
    pub fn decode_batch<S: AsRef<[TokenId]>>(&self, batch: &[S]) -> Result<Vec<Vec<u8>>> {
        batch
            .iter()
            .map(|ids| self.decode_bytes(ids.as_ref()))
            .collect()
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

/// Mark of [`Tokenizer::encode_marked`]: the token starts a pretoken.
pub const MARK_PIECE: u8 = 1;
/// Mark of [`Tokenizer::encode_marked`]: the token is a special token.
pub const MARK_SPECIAL: u8 = 2;

/// Texts smaller than this are not cut for parallel encoding (thread hand-off costs more).
const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// Whether a batch has too few texts to spread over `threads` (fewer than 4 per thread: the
/// parallel loop takes them in runs of 4) and a text large enough to be cut into chunks instead.
fn few_large<S: AsRef<str>>(texts: &[S], threads: usize) -> bool {
    threads > 1
        && texts.len() < threads * 4
        && texts.iter().any(|t| t.as_ref().len() >= PARALLEL_MIN_BYTES)
}

/// A part of a text: ordinary text, or the id of an allowed special token.
enum Segment<'a> {
    Text(&'a str),
    Special(TokenId),
}
