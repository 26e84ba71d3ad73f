//! A tokenizer: vocabulary + pretokenizer + special tokens + the encoder tables. Immutable once
//! built, so it is shared freely between threads.
//!
//! Encoding a text: special tokens that are allowed cut it into ordinary segments; each segment is
//! normalized (if the tokenizer has a normalizer), split into pieces by the pretokenizer, and each
//! piece goes through the BPE step ([`Encoder`], with the calling thread's piece cache). Batches
//! run on a rayon pool; a single large text with a preset pretokenizer is cut at safe points
//! (`encode::split`) and its chunks encoded in parallel.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
        self.encoder
            .with_sink(|sink| self.encode_with_specials_into(sink, text, allowed, &mut out))?;
        Ok(out)
    }

    /// [`Self::encode_with_specials`], appending to `out` with the given piece cache.
    fn encode_with_specials_into(
        &self,
        sink: &mut PieceSink<'_>,
        text: &str,
        allowed: &FxHashSet<&str>,
        out: &mut Vec<TokenId>,
    ) -> Result<()> {
        if allowed.is_empty() {
            // (no special can be cut out: the segments would be the text itself)
            return self.encode_ordinary_into(sink, text, out);
        }
        for seg in self.segments(text, allowed) {
            match seg {
                Segment::Text(t) => self.encode_ordinary_into(sink, t, out)?,
                Segment::Special(id) => out.push(id),
            }
        }
        Ok(())
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
        if self.one_part(text, threads) {
            return Ok(vec![self.encode_with_specials(text, allowed)?]);
        }
        let (n, done) = self.chunks_with(
            text,
            allowed,
            threads,
            Vec::new,
            |mine: &mut Vec<(usize, Vec<TokenId>)>, k, ids| {
                mine.push((k, std::mem::take(ids)));
                Ok(())
            },
        )?;
        let mut parts: Vec<(usize, Vec<TokenId>)> = done.into_iter().flatten().collect();
        debug_assert_eq!(parts.len(), n);
        parts.sort_unstable_by_key(|&(k, _)| k);
        Ok(parts.into_iter().map(|(_, ids)| ids).collect())
    }

    /// `encode(text, allowed, disallowed, threads)` handed out chunk by chunk, on the threads
    /// that encode them, so a caller can use each chunk's ids while they are in cache and while
    /// the other chunks are still being encoded.
    ///
    /// The text is cut at the allowed special tokens, and its ordinary segments at safe points
    /// into chunks of about [`chunk_bytes`], the last `threads` chunks' worth of each in quarter
    /// chunks (only where [`Self::chunkable`]; otherwise each segment is one chunk). `threads` workers
    /// (this thread alone for 1) claim the chunks in order, each with its own `state = init()`,
    /// and call `each(&mut state, k, &mut ids)` for every chunk k they encoded: in any order
    /// across workers, but a worker's own chunks in increasing k. `ids` is the worker's buffer,
    /// cleared before its next chunk: `each` keeps the ids by taking them (e.g.
    /// `std::mem::take`). Returns the number of chunks (indices `0..n`, concatenating to the
    /// encoding) and the workers' states. On the first error (of the encoder or of `each`) the
    /// workers stop claiming chunks and the error is returned.
    pub fn encode_chunks_with<S: Send>(
        &self,
        text: &str,
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        threads: usize,
        init: impl Fn() -> S + Sync,
        each: impl Fn(&mut S, usize, &mut Vec<TokenId>) -> Result<()> + Sync,
    ) -> Result<(usize, Vec<S>)> {
        self.check_disallowed(text, disallowed)?;
        self.chunks_with(text, allowed, threads, init, each)
    }

    /// [`Self::encode_chunks_with`] without the disallowed-token check.
    fn chunks_with<S: Send>(
        &self,
        text: &str,
        allowed: &FxHashSet<&str>,
        threads: usize,
        init: impl Fn() -> S + Sync,
        each: impl Fn(&mut S, usize, &mut Vec<TokenId>) -> Result<()> + Sync,
    ) -> Result<(usize, Vec<S>)> {
        let size = chunk_bytes(text.len(), threads);
        let mut chunks: Vec<Segment<'_>> = Vec::new();
        for seg in self.segments(text, allowed) {
            match seg {
                Segment::Text(t) if self.chunkable() && t.len() > size => {
                    // (the last `threads` chunks' worth in quarter chunks: see `split::chunks`)
                    let tail = size.saturating_mul(threads);
                    chunks.extend(split::chunks(t, size, tail).into_iter().map(Segment::Text));
                }
                s => chunks.push(s),
            }
        }
        let states = self.claim_in_order(chunks.len(), threads, init, |state, sink, ids, k| {
            match chunks[k] {
                Segment::Text(t) => {
                    ids.reserve(t.len() / 3);
                    self.encode_ordinary_into(sink, t, ids)
                        .map_err(|e| (k, e))?;
                }
                Segment::Special(id) => ids.push(id),
            }
            each(state, k, ids).map_err(|e| (k, e))
        })?;
        Ok((chunks.len(), states))
    }

    /// `encode(text, allowed, disallowed, 1)` of every text of a batch, in blocks of
    /// consecutive texts (about [`BLOCK_BYTES`] of text each, [`block_starts`]) claimed in
    /// order by `threads` workers: block b is `(ids, ends)`, the ids of its texts concatenated
    /// and where each text's ids end; the blocks follow each other in text order. One buffer
    /// per block instead of a `Vec` per text: for a batch of short texts (paragraphs) the
    /// allocator's work was ~15% of the encoding, and dropping 100k `Vec`s on the calling thread
    /// was serial. Returns the first error in text order, if any.
    pub fn encode_batch_blocks<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        threads: usize,
    ) -> Result<Vec<(Vec<TokenId>, Vec<usize>)>> {
        type Mine = Vec<(usize, Vec<TokenId>, Vec<usize>)>;
        let starts = block_starts(texts);
        let mine = self.claim_in_order(
            starts.len() - 1,
            threads,
            Mine::new,
            |mine: &mut Mine, sink, ids, b| {
                let range = starts[b]..starts[b + 1];
                let ends = self.encode_block(sink, texts, range, allowed, disallowed, ids)?;
                mine.push((b, std::mem::take(ids), ends));
                Ok(())
            },
        )?;
        let mut blocks: Vec<_> = mine.into_iter().flatten().collect();
        blocks.sort_unstable_by_key(|b| b.0);
        Ok(blocks
            .into_iter()
            .map(|(_, ids, ends)| (ids, ends))
            .collect())
    }

    /// Block `range` of a batch (see [`block_starts`]): `encode(text, allowed, disallowed, 1)`
    /// of each of its texts, appended to `ids` in order, through `sink`; returns where each
    /// text's ids end in `ids`, or the first error with its text's index.
    pub fn encode_block<T: AsRef<str>>(
        &self,
        sink: &mut PieceSink<'_>,
        texts: &[T],
        range: std::ops::Range<usize>,
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        ids: &mut Vec<TokenId>,
    ) -> std::result::Result<Vec<usize>, (usize, Error)> {
        let size: usize = texts[range.clone()].iter().map(|t| t.as_ref().len()).sum();
        ids.reserve(size / 3);
        let mut ends = Vec::with_capacity(range.len());
        for i in range {
            let text = texts[i].as_ref();
            self.check_disallowed(text, disallowed)
                .and_then(|()| self.encode_with_specials_into(sink, text, allowed, ids))
                .map_err(|e| (i, e))?;
            ends.push(ids.len());
        }
        Ok(ends)
    }

    /// Items `0..n`, claimed in order by `threads` workers (this thread alone for 1), each with
    /// its own state (`init()`), the calling thread's piece cache (`sink`) and a buffer `ids`,
    /// cleared before each item: `body(state, sink, ids, k)`. On an error a worker stops, the
    /// others stop claiming (each finishes the item it holds: every item before a failed one
    /// was claimed before it, so it is done), and the error with the lowest position is
    /// returned (positions are the body's: item or text index).
    fn claim_in_order<S: Send>(
        &self,
        n: usize,
        threads: usize,
        init: impl Fn() -> S + Sync,
        body: impl Fn(&mut S, &mut PieceSink<'_>, &mut Vec<TokenId>, usize) -> PosResult + Sync,
    ) -> Result<Vec<S>> {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let work = || -> std::result::Result<S, (usize, Error)> {
            let mut state = init();
            let mut ids = Vec::new();
            let run = self.encoder.with_sink(|sink| {
                while !stop.load(Ordering::Relaxed) {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= n {
                        break;
                    }
                    ids.clear();
                    body(&mut state, sink, &mut ids, k)?;
                }
                Ok(())
            });
            if run.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            run.map(|()| state)
        };
        let workers = threads.clamp(1, n.max(1));
        let results = if workers == 1 {
            vec![work()]
        } else {
            pool::install(threads, || {
                (0..workers)
                    .into_par_iter()
                    .map(|_| work())
                    .collect::<Vec<_>>()
            })?
        };
        let mut states = Vec::with_capacity(results.len());
        let mut first: Option<(usize, Error)> = None;
        for r in results {
            match r {
                Ok(s) => states.push(s),
                Err((pos, e)) => {
                    if first.as_ref().is_none_or(|f| pos < f.0) {
                        first = Some((pos, e));
                    }
                }
            }
        }
        match first {
            Some((_, e)) => Err(e),
            None => Ok(states),
        }
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

    /// Whether `encode_batch` encodes this batch text by text, each large text in parallel
    /// chunks (a few texts, one of them large), rather than in blocks of texts.
    pub fn few_large<S: AsRef<str>>(&self, texts: &[S], threads: usize) -> bool {
        few_large(texts, threads)
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

/// About this much text per block of [`Tokenizer::encode_batch_blocks`] (counting 16 bytes per
/// text for its own costs): a few hundred blocks for 20 MB of paragraphs, so the last block
/// to finish leaves the other threads idle for little, and a block's ids stay in the L2 cache.
const BLOCK_BYTES: usize = 64 << 10;

/// Where the blocks of a batch start: block b is texts `starts[b]..starts[b + 1]`, about
/// [`BLOCK_BYTES`] of text (counting 16 bytes per text for its own costs); the last entry is
/// `texts.len()` (one empty block for an empty batch).
pub fn block_starts<T: AsRef<str>>(texts: &[T]) -> Vec<usize> {
    let mut starts = vec![0];
    let mut bytes = 0;
    for (i, t) in texts.iter().enumerate() {
        bytes += t.as_ref().len() + 16;
        if bytes >= BLOCK_BYTES {
            starts.push(i + 1);
            bytes = 0;
        }
    }
    if starts.last() != Some(&texts.len()) {
        starts.push(texts.len());
    }
    starts
}

/// A result whose error carries its position (an item or text index), to pick the first.
type PosResult = std::result::Result<(), (usize, Error)>;

/// The size of the chunks [`Tokenizer::encode_chunks_with`] cuts ordinary text into: about 16
/// per thread, for balance (the workers claim them in order, so when the last chunk is taken
/// the other workers are at most one chunk from done; the last few chunks are smaller still,
/// see `split::chunks`), between 256 KiB and 1 MiB (the ids of a chunk, ~0.9 MB for 1 MiB of
/// English, are still in the L2 cache when `each` reads them).
fn chunk_bytes(len: usize, threads: usize) -> usize {
    (len / (threads.max(1) * 16)).clamp(256 << 10, 1 << 20)
}

/// Whether a batch has too few texts to spread over `threads` (fewer than 4 per thread) and a
/// text large enough to be cut into chunks instead.
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::OnceLock;

    use super::*;
    use crate::count::Utf8Errors;
    use crate::train::{train_files, TrainConfig};

    /// A 1000-token gpt2-pattern tokenizer trained on the packaged sample, with two specials.
    fn tok() -> &'static Tokenizer {
        static T: OnceLock<Tokenizer> = OnceLock::new();
        T.get_or_init(|| {
            let cfg = TrainConfig {
                vocab_size: 1000,
                min_frequency: 2,
                max_token_length: None,
                special_tokens: vec!["<|end|>".into(), "<|pad|>".into()],
                progress: false,
            };
            let path =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("python/bytepair/data/sample.txt");
            train_files(&[path], "gpt2", &cfg, 2, Utf8Errors::Strict).unwrap()
        })
    }

    /// ~2.2 MB: the sample seven times, with the special token inside and between the copies.
    fn text() -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let sample = std::fs::read_to_string(root.join("python/bytepair/data/sample.txt")).unwrap();
        let mut text = String::new();
        for k in 0..7 {
            text.push_str(&sample[..sample.len() / 2]);
            text.push_str("<|end|>");
            text.push_str(&sample[sample.len() / 2..]);
            if k % 2 == 0 {
                text.push_str("<|end|>");
            }
        }
        text
    }

    fn set<'a>(items: &[&'a str]) -> FxHashSet<&'a str> {
        items.iter().copied().collect()
    }

    #[test]
    fn chunks_concatenate_to_the_encoding_in_every_worker_count() {
        let (t, text) = (tok(), text());
        let allowed = set(&["<|end|>"]);
        let want = t.encode(&text, &allowed, &set(&[]), 1).unwrap();
        assert!(want.contains(&t.vocab().special_id("<|end|>").unwrap()));
        for threads in [1, 2, 3, 8] {
            let (n, states) = t
                .encode_chunks_with(
                    &text,
                    &allowed,
                    &set(&[]),
                    threads,
                    Vec::new,
                    |mine: &mut Vec<(usize, Vec<TokenId>)>, k, ids| {
                        mine.push((k, std::mem::take(ids)));
                        Ok(())
                    },
                )
                .unwrap();
            assert!(n > 7, "cut into chunks, specials apart: {n}");
            assert!(states.len() <= threads.max(1));
            // A worker's own chunks come in increasing order.
            for mine in &states {
                assert!(mine.windows(2).all(|w| w[0].0 < w[1].0));
            }
            let mut all: Vec<_> = states.into_iter().flatten().collect();
            all.sort_by_key(|c| c.0);
            assert_eq!(
                all.iter().map(|c| c.0).collect::<Vec<_>>(),
                (0..n).collect::<Vec<_>>()
            );
            let got: Vec<TokenId> = all.into_iter().flat_map(|c| c.1).collect();
            assert_eq!(got, want, "{threads} threads");
            assert_eq!(t.encode(&text, &allowed, &set(&[]), threads).unwrap(), want);
        }
        // Not allowed: the special is ordinary text, in one piece or in chunks alike.
        let plain = t.encode(&text, &set(&[]), &set(&[]), 1).unwrap();
        assert_eq!(t.encode(&text, &set(&[]), &set(&[]), 2).unwrap(), plain);
        assert_ne!(plain, want);
    }

    #[test]
    fn batch_blocks_hold_each_text_in_order() {
        let t = tok();
        let text = text();
        let mut texts: Vec<&str> = text.split("\n\n").collect();
        texts.push("");
        texts.insert(3, "");
        assert!(texts.len() > 1000);
        let allowed = set(&["<|end|>"]);
        let want: Vec<Vec<TokenId>> = texts
            .iter()
            .map(|x| t.encode(x, &allowed, &set(&[]), 1).unwrap())
            .collect();
        for threads in [1, 2, 5] {
            let blocks = t
                .encode_batch_blocks(&texts, &allowed, &set(&[]), threads)
                .unwrap();
            assert!(blocks.len() > 4, "{}", blocks.len());
            let mut got = Vec::new();
            for (ids, ends) in &blocks {
                assert_eq!(ends.last(), Some(&ids.len()));
                let mut start = 0;
                for &end in ends {
                    got.push(ids[start..end].to_vec());
                    start = end;
                }
            }
            assert_eq!(got, want, "{threads} threads");
        }
        // The first error in text order, whichever thread met which first.
        let mut bad = texts.clone();
        bad[5] = "a <|pad|> here";
        let last = bad.len() - 2;
        bad[last] = "and <|end|> there";
        for threads in [1, 2, 3] {
            let err = t
                .encode_batch_blocks(&bad, &set(&[]), &set(&["<|end|>", "<|pad|>"]), threads)
                .unwrap_err();
            assert!(err.to_string().contains("'<|pad|>'"), "{threads}: {err}");
        }
    }

    #[test]
    fn chunks_stop_at_the_first_error() {
        let (t, text) = (tok(), text());
        let err = t
            .encode_chunks_with(
                &text,
                &set(&[]),
                &set(&["<|end|>"]),
                2,
                || (),
                |_, _, _| panic!("a chunk was handed out despite the disallowed special"),
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("disallowed special token '<|end|>'"),
            "{err}"
        );
        for threads in [1, 2] {
            let calls = AtomicUsize::new(0);
            let err = t
                .encode_chunks_with(
                    &text,
                    &set(&[]),
                    &set(&[]),
                    threads,
                    || (),
                    |_, k, _| {
                        calls.fetch_add(1, Ordering::Relaxed);
                        if k == 2 {
                            return Err(Error::invalid("stop at chunk 2"));
                        }
                        Ok(())
                    },
                )
                .unwrap_err();
            assert!(
                err.to_string().contains("stop at chunk 2"),
                "{threads}: {err}"
            );
            // One thread takes the chunks in order and stops at the failing one. (With two, how
            // many chunks the other worker finishes while chunk 2 is encoded depends on the
            // timing; that no chunk is claimed after the stop is `claiming_stops_after_an_error`.)
            if threads == 1 {
                assert_eq!(calls.load(Ordering::Relaxed), 3);
            }
        }
    }

    #[test]
    fn claiming_stops_after_an_error() {
        use std::sync::atomic::Ordering::SeqCst;
        use std::sync::Mutex;
        use std::time::{Duration, Instant};

        /// A worker's state; dropped by `claim_in_order` after the worker raised the stop, if
        /// its item failed.
        struct State<'a> {
            failed: bool,
            gone: &'a AtomicBool,
        }
        impl Drop for State<'_> {
            fn drop(&mut self) {
                if self.failed {
                    self.gone.store(true, SeqCst);
                }
            }
        }
        fn wait(flag: &AtomicBool) {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !flag.load(SeqCst) {
                assert!(Instant::now() < deadline, "the other worker never came");
                std::thread::yield_now();
            }
        }
        // Two workers and many items. Item 0 fails, but only once the other worker holds item
        // 1; item 1 finishes only once the failing worker has stopped (its state dropped, after
        // the stop was raised). So exactly items 0 and 1 run, whatever the timing: nothing is
        // claimed after the stop.
        let (holding, gone) = (AtomicBool::new(false), AtomicBool::new(false));
        let ran = Mutex::new(Vec::new());
        let err = tok()
            .claim_in_order(
                1000,
                2,
                || State {
                    failed: false,
                    gone: &gone,
                },
                |state, _, _, k| {
                    ran.lock().unwrap_or_else(|e| e.into_inner()).push(k);
                    match k {
                        0 => {
                            wait(&holding);
                            state.failed = true;
                            Err((0, Error::invalid("item 0 fails")))
                        }
                        1 => {
                            holding.store(true, SeqCst);
                            wait(&gone);
                            Ok(())
                        }
                        _ => Ok(()),
                    }
                },
            )
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("item 0 fails")),
            "{err:?}"
        );
        let mut ran = ran.into_inner().unwrap_or_else(|e| e.into_inner());
        ran.sort_unstable();
        assert_eq!(ran, [0, 1]);
    }
}
