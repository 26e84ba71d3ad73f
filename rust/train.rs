//! The BPE trainer: the merge engine plus the policy "merge the most frequent pair".
//!
//! Phases: (1) count pretokens ([`crate::count`]); (2) load the distinct pretokens of two or
//! more bytes into the engine, weighted by their counts; (3) build the heap of all pairs;
//! (4) merge loop: pop the best pair, give it a token, apply it, push the pairs it created.
//!
//! Tie-break (deterministic, independent of thread count and input order): the highest count
//! wins; among equal counts, the smallest `(left id, right id)`. Token ids: bytes are 0..=255,
//! learned tokens follow in merge order, special tokens come last in the order given.
//! A merge whose bytes are already a token (possible: "ab"+"c" after "a"+"bc") is recorded and
//! applied with the existing id, and the vocabulary does not grow (as in HF tokenizers).
//! Stops when the vocabulary is full or the best count is below `min_frequency`.

use std::cmp::Reverse;
use std::time::Instant;

use crate::count::PretokenCounts;
use crate::engine::{Engine, Pair, PairHeap, TokenId};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::vocab::{Merge, Vocab};

/// Training parameters (the corpus comes separately, as pretoken counts).
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Total vocabulary: 256 bytes + learned tokens + special tokens.
    pub vocab_size: usize,
    /// Pairs seen fewer times are never merged (at least 1).
    pub min_frequency: u64,
    /// Tokens longer than this many bytes are never created.
    pub max_token_length: Option<usize>,
    pub special_tokens: Vec<String>,
    pub progress: bool,
}

impl TrainConfig {
    /// Check the parameters before any work is done.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for s in &self.special_tokens {
            if s.is_empty() {
                return Err(Error::invalid("special tokens must not be empty strings"));
            }
            if !seen.insert(s) {
                return Err(Error::invalid(format!("duplicate special token {s:?}")));
            }
        }
        let min = 256 + self.special_tokens.len();
        if self.vocab_size < min {
            return Err(Error::invalid(format!(
                "vocab_size {} is smaller than the 256 byte tokens plus {} special token(s) = {min}",
                self.vocab_size,
                self.special_tokens.len()
            )));
        }
        if self.vocab_size > u32::MAX as usize {
            return Err(Error::invalid("vocab_size must fit in 32 bits"));
        }
        if self.max_token_length == Some(0) {
            return Err(Error::invalid("max_token_length must be at least 1"));
        }
        Ok(())
    }
}

/// Figures of a training run.
#[derive(Debug, Clone, Default)]
pub struct TrainStats {
    /// Bytes of training text (special tokens excluded).
    pub corpus_bytes: u64,
    /// Pretokens in the corpus, with multiplicity.
    pub pretokens: u64,
    pub distinct_pretokens: u64,
    /// Tokens the training corpus encodes to with the learned merges.
    pub corpus_tokens: u64,
    pub merges: u64,
    pub seconds_count: f64,
    pub seconds_merge: f64,
}

impl TrainStats {
    pub fn bytes_per_token(&self) -> f64 {
        if self.corpus_tokens == 0 {
            0.0
        } else {
            self.corpus_bytes as f64 / self.corpus_tokens as f64
        }
    }
}

/// Train on pretoken counts. Returns the vocabulary and the run's figures (timings of the
/// counting phase are the caller's to fill in).
pub fn train_from_counts(
    counts: &PretokenCounts,
    cfg: &TrainConfig,
) -> Result<(Vocab, TrainStats)> {
    cfg.validate()?;
    if counts.bytes == 0 || counts.counts.is_empty() {
        return Err(Error::invalid(
            "the training corpus is empty (no text outside special tokens)",
        ));
    }
    let t0 = Instant::now();
    let mut stats = TrainStats {
        corpus_bytes: counts.bytes,
        distinct_pretokens: counts.counts.len() as u64,
        ..Default::default()
    };

    // ---- (2) load pretokens into the engine --------------------------------------------
    // Sort the pieces so the engine's layout (and thus any order-dependent detail) does not
    // depend on hash order or thread count.
    let arena: u64 = counts
        .counts
        .keys()
        .map(|k| k.len() as u64)
        .filter(|&n| n >= 2)
        .sum();
    if arena >= u32::MAX as u64 - 1 {
        return Err(Error::invalid(format!(
            "the distinct pretokens hold {arena} bytes; one training run takes at most 4 GiB of \
             distinct pretoken bytes (train on a sample, or with a pattern that splits more)"
        )));
    }
    let mut pieces: Vec<(&str, u64)> = counts.counts.iter().map(|(k, &v)| (&**k, v)).collect();
    pieces.sort_unstable();
    let mut engine = Engine::new();
    let mut single_tokens = 0u64;
    let mut buf: Vec<TokenId> = Vec::new();
    for &(piece, c) in &pieces {
        stats.pretokens += c;
        if piece.len() < 2 {
            single_tokens += c * piece.len() as u64;
            continue;
        }
        buf.clear();
        buf.extend(piece.bytes().map(TokenId::from));
        engine.push(&buf, c);
    }
    drop(pieces);
    // Pairs below `min_count` are never merged: the engine need not index them (most pairs
    // of a corpus occur once).
    let min_count = cfg.min_frequency.max(1);
    engine.set_min_tracked(min_count);
    engine.index();

    // ---- (3) the heap of candidate pairs -------------------------------------------------
    // A pair's count only grows at the merge that creates it (or when a merge reuses an
    // existing id, which pushes it again), so pairs below `min_count` never need a heap entry.
    let mut heap = PairHeap::with_capacity(engine.num_pairs());
    for (p, c) in engine.pairs() {
        if c >= min_count {
            heap.push(p, c, Reverse(p));
        }
    }

    // ---- (4) merge loop ------------------------------------------------------------------
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut merges: Vec<Merge> = Vec::new();
    let target = cfg.vocab_size - cfg.special_tokens.len();
    let bar = Progress::steps(cfg.progress, "merging", (target - 256) as u64);
    merge_loop(
        &mut engine,
        &mut heap,
        &mut tokens,
        &mut merges,
        target,
        min_count,
        cfg.max_token_length,
        &bar,
        &mut PlainBpe,
    );
    bar.finish();
    stats.merges = merges.len() as u64;
    stats.corpus_tokens = engine.total_tokens() + single_tokens;
    let n = tokens.len() as TokenId;
    let specials = cfg
        .special_tokens
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), n + i as TokenId))
        .collect();
    let vocab = Vocab::new(tokens, merges, specials)?;
    stats.seconds_merge = t0.elapsed().as_secs_f64();
    Ok((vocab, stats))
}

/// What a merge loop may refuse or track beyond plain BPE (SuperBPE's constraints).
pub(crate) trait MergePolicy {
    /// Whether `pair` may ever merge (refused pairs never enter the heap).
    fn allows(&self, pair: Pair) -> bool;
    /// A new token `id` = `tokens[pair.0] + tokens[pair.1]` was created.
    fn new_token(&mut self, pair: Pair);
    /// Called after every merge, e.g. to rebuild a heap grown stale.
    fn after_merge(&mut self, engine: &Engine, heap: &mut PairHeap<Reverse<Pair>>);
}

/// Plain BPE: every pair may merge.
struct PlainBpe;

impl MergePolicy for PlainBpe {
    fn allows(&self, _: Pair) -> bool {
        true
    }
    fn new_token(&mut self, _: Pair) {}
    fn after_merge(&mut self, _: &Engine, _: &mut PairHeap<Reverse<Pair>>) {}
}

/// THE merge loop of the trainer and of SuperBPE's stage 2: until `tokens` holds `target`
/// tokens, pop the most frequent pair (ties: smallest `(left, right)` ids), skip pairs whose
/// token would exceed `max_token_length` (dropped for good), name the merged bytes (a new id,
/// or the existing token with those bytes), merge it in the engine, and push the pairs the
/// merge made frequent enough and the policy allows. Stops early when no pair occurs
/// `min_count` times. Appends to `tokens` and `merges`; the progress bar counts new tokens.
#[allow(clippy::too_many_arguments)]
pub(crate) fn merge_loop(
    engine: &mut Engine,
    heap: &mut PairHeap<Reverse<Pair>>,
    tokens: &mut Vec<Vec<u8>>,
    merges: &mut Vec<Merge>,
    target: usize,
    min_count: u64,
    max_token_length: Option<usize>,
    bar: &Progress,
    policy: &mut impl MergePolicy,
) {
    let mut ids = TokenIds::new(tokens);
    let start = tokens.len();
    merges.reserve(target.saturating_sub(start));
    tokens.reserve_exact(target.saturating_sub(start));
    let mut changes = Vec::new();
    while tokens.len() < target {
        let Some((pair, count)) = heap.pop(|p| {
            let c = engine.count(p);
            (c > 0).then_some((c, Reverse(p)))
        }) else {
            break;
        };
        if count < min_count {
            break;
        }
        let (a, b) = (pair.0 as usize, pair.1 as usize);
        let len = tokens[a].len() + tokens[b].len();
        if max_token_length.is_some_and(|m| len > m) {
            continue; // dropped for good: this pair can never become a token
        }
        let mut bytes = Vec::with_capacity(len);
        bytes.extend_from_slice(&tokens[a]);
        bytes.extend_from_slice(&tokens[b]);
        let id = match ids.get(tokens, &bytes) {
            Some(id) => id,
            None => {
                let id = tokens.len() as TokenId;
                policy.new_token(pair);
                ids.insert(tokens, &bytes, id);
                tokens.push(bytes);
                bar.set((tokens.len() - start) as u64);
                id
            }
        };
        merges.push(Merge { pair, result: id });
        engine.merge(pair, id, &mut changes);
        for ch in &changes {
            if ch.delta > 0 && ch.count >= min_count && policy.allows(ch.pair) {
                heap.push(ch.pair, ch.count, Reverse(ch.pair));
            }
        }
        policy.after_merge(engine, heap);
    }
}

/// The id of a token's bytes, for the merge loop's "do these bytes already have a token?".
/// Idea: store a 64-bit hash of each token's bytes with its id, not the bytes (they are in the
/// caller's token list, checked on lookup): 16 bytes a token instead of a second copy of every
/// token in its own allocation. The rare token whose hash is already taken by another token's
/// goes to a second map keyed by its bytes. Cost: one hash and one comparison per lookup.
/// Invariant: every token is found either under its hash in `by_hash` or in `collided`; if
/// two tokens had the same bytes, the later one is found (as a map collected from the list).
struct TokenIds {
    by_hash: rustc_hash::FxHashMap<u64, TokenId>,
    collided: rustc_hash::FxHashMap<Vec<u8>, TokenId>,
}

impl TokenIds {
    fn new(tokens: &[Vec<u8>]) -> Self {
        let mut ids = Self {
            by_hash: rustc_hash::FxHashMap::default(),
            collided: rustc_hash::FxHashMap::default(),
        };
        ids.by_hash.reserve(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            ids.insert(tokens, t, i as TokenId);
        }
        ids
    }

    fn hash(bytes: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(bytes)
    }

    fn get(&self, tokens: &[Vec<u8>], bytes: &[u8]) -> Option<TokenId> {
        match self.by_hash.get(&Self::hash(bytes)) {
            Some(&id) if tokens[id as usize] == bytes => Some(id),
            Some(_) => self.collided.get(bytes).copied(),
            None => None,
        }
    }

    /// Record `id` for `bytes` (`tokens[id]` need not exist yet).
    fn insert(&mut self, tokens: &[Vec<u8>], bytes: &[u8], id: TokenId) {
        use std::collections::hash_map::Entry;
        match self.by_hash.entry(Self::hash(bytes)) {
            Entry::Vacant(v) => {
                v.insert(id);
            }
            Entry::Occupied(mut o) => {
                if tokens[*o.get() as usize] == bytes {
                    o.insert(id);
                } else {
                    self.collided.insert(bytes.to_vec(), id);
                }
            }
        }
    }
}

/// Count a corpus fed chunk by chunk (see [`crate::count::count_parallel`]) and train on it.
/// `files` names the files that file chunks refer to; `total_bytes` sizes the progress bar.
pub fn train_fed<F>(
    pretok: crate::pretok::Pretokenizer,
    cfg: &TrainConfig,
    threads: usize,
    errors: crate::count::Utf8Errors,
    files: &[std::path::PathBuf],
    total_bytes: Option<u64>,
    feed: F,
) -> Result<crate::Tokenizer>
where
    F: FnOnce(&(dyn Fn(crate::count::Chunk) -> Result<()> + Sync)) -> Result<()>,
{
    cfg.validate()?;
    let t0 = Instant::now();
    let counter = crate::count::Counter::new(pretok.clone(), &cfg.special_tokens)?;
    let bar = Progress::bytes(cfg.progress, "counting", total_bytes);
    let counts = crate::count::count_parallel(&counter, threads, errors, files, &bar, feed)?;
    bar.finish();
    tokenizer_from_counts(&counts, pretok, cfg, t0.elapsed().as_secs_f64())
}

/// Train on counted pretokens and build the tokenizer, recording how long counting took.
pub fn tokenizer_from_counts(
    counts: &PretokenCounts,
    pretok: crate::pretok::Pretokenizer,
    cfg: &TrainConfig,
    seconds_count: f64,
) -> Result<crate::Tokenizer> {
    let (vocab, mut stats) = train_from_counts(counts, cfg)?;
    stats.seconds_count = seconds_count;
    Ok(crate::Tokenizer::new(vocab, pretok)?.with_stats(stats))
}

/// Train on UTF-8 text files, read in parallel and streamed (memory grows with the number of
/// distinct pretokens, not with the corpus).
pub fn train_files(
    paths: &[std::path::PathBuf],
    pattern: &str,
    cfg: &TrainConfig,
    threads: usize,
    errors: crate::count::Utf8Errors,
) -> Result<crate::Tokenizer> {
    let pretok = crate::pretok::Pretokenizer::new(pattern)?;
    let total = crate::count::total_file_bytes(paths)?;
    if paths.is_empty() {
        return Err(Error::invalid("no input files given"));
    }
    train_fed(pretok, cfg, threads, errors, paths, Some(total), |push| {
        crate::count::feed_files(paths, push)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::Counter;
    use crate::pretok::Pretokenizer;

    fn counts(text: &str, pat: &str) -> PretokenCounts {
        let c = Counter::new(Pretokenizer::new(pat).unwrap(), &[]).unwrap();
        let mut pc = PretokenCounts::default();
        c.count_text(text, &mut pc).unwrap();
        pc
    }

    fn cfg(vocab_size: usize) -> TrainConfig {
        TrainConfig {
            vocab_size,
            min_frequency: 1,
            max_token_length: None,
            special_tokens: vec![],
            progress: false,
        }
    }

    #[test]
    fn classic_example() {
        // "aaabdaaabac": (a,a) x4 first -> "Z a b d Z a b a c"; then (Z,a) and (a,b) tie at 2
        // and (a,b) = (97, 98) < (256, 97) wins; then (Z, Y).
        let (v, st) = train_from_counts(&counts("aaabdaaabac", "none"), &cfg(259)).unwrap();
        let m: Vec<(Vec<u8>, Vec<u8>)> = v
            .merges()
            .iter()
            .map(|m| {
                (
                    v.token(m.pair.0).unwrap().to_vec(),
                    v.token(m.pair.1).unwrap().to_vec(),
                )
            })
            .collect();
        assert_eq!(
            m,
            vec![
                (b"a".to_vec(), b"a".to_vec()),
                (b"a".to_vec(), b"b".to_vec()),
                (b"aa".to_vec(), b"ab".to_vec()),
            ]
        );
        assert_eq!(st.corpus_tokens, 5); // aaab d aaab a c
    }

    #[test]
    fn stops_at_min_frequency_and_validates() {
        let (v, _) = train_from_counts(&counts("ab ab cd", "gpt2"), &{
            let mut c = cfg(1000);
            c.min_frequency = 2;
            c
        })
        .unwrap();
        // "ab" x2, " ab" pair (" ", "ab") x1 -> only one merge has count >= 2.
        assert_eq!(v.merges().len(), 1);
        assert!(train_from_counts(&counts("ab", "gpt2"), &cfg(255)).is_err());
        let mut dup = cfg(300);
        dup.special_tokens = vec!["<s>".into(), "<s>".into()];
        assert!(train_from_counts(&counts("ab", "gpt2"), &dup).is_err());
        assert!(train_from_counts(&PretokenCounts::default(), &cfg(300)).is_err());
    }

    #[test]
    fn token_ids_survive_hash_collisions() {
        let mut tokens: Vec<Vec<u8>> = vec![b"a".to_vec(), b"b".to_vec()];
        let mut ids = TokenIds::new(&tokens);
        // Force a collision: file "c" under the hash of "a".
        ids.by_hash.insert(TokenIds::hash(b"c"), 0);
        assert_eq!(ids.get(&tokens, b"c"), None);
        ids.insert(&tokens, b"c", 2);
        tokens.push(b"c".to_vec());
        assert_eq!(ids.get(&tokens, b"c"), Some(2));
        assert_eq!(ids.get(&tokens, b"a"), Some(0));
        assert_eq!(ids.get(&tokens, b"b"), Some(1));
        assert_eq!(ids.get(&tokens, b"d"), None);
    }

    #[test]
    fn max_token_length_is_respected() {
        let text = "aaaaaaaaaaaaaaaa bbbbbbbb ".repeat(10);
        let mut c = cfg(300);
        c.max_token_length = Some(3);
        let (v, _) = train_from_counts(&counts(&text, "gpt2"), &c).unwrap();
        assert!(v.tokens().iter().all(|t| t.len() <= 3));
        assert!(v.num_tokens() > 256);
    }
}
