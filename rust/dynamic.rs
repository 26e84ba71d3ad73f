//! Dynamic batch-level merging (Feher, Vulić, Minixhofer, "Retrofitting (Large) Language Models
//! with Dynamic Tokenization", arXiv 2411.18553; reference: DariusFeher/dynamic-tokenization,
//! `tokenizations/dynamic_bpe.py`).
//!
//! Idea: a batch of base-token sequences is shortened by BPE merges learned on the batch itself.
//! Repeat: count every adjacent pair occurrence in the batch whose merge would not cross a
//! boundary, take the most frequent pair, replace its non-overlapping occurrences left to right by
//! a new batch-local id (`vocab_size`, `vocab_size + 1`, ...). Stop after `max_merges` merges,
//! when the best pair occurs fewer than `min_count` times, or when `target_reduction` of the
//! tokens has been removed.
//!
//! Tie rule (the reference's `max(Counter, key=Counter.get)` over a counter filled in scan
//! order): among equally frequent pairs, the one whose first mergeable occurrence comes first in
//! the current batch (sequence order, then position) wins.
//!
//! How it runs: boundaries cut every sequence into *units* (maximal runs that merges may join);
//! merges never cross a unit, so each unit is a sequence of the merge [`Engine`]. Identical
//! units are stored once with their multiplicity, at their first occurrence. This keeps the tie
//! rule exact: a pair's first occurrence in the batch lies in the first copy of some unit, the
//! engine's arena holds units in order of their first copy, and a merged node keeps the left
//! node's arena position, so arena order is batch order. Each merge only removes occurrences of
//! existing pairs (every pair it creates holds the brand-new id), so a pair's priority
//! `(count, -first position)` only falls and the lazy [`PairHeap`] stays valid.
//!
//! Cost: O(tokens) to cut, deduplicate and index; each merge O(occurrences of the pair + the
//! neighbours it touches + heap work), never a recount; O(tokens) to write the result.

use std::cmp::Reverse;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::engine::{Engine, PairHeap, TokenId};
use crate::error::{Error, Result};
use crate::tokenizer::{Tokenizer, MARK_PIECE, MARK_SPECIAL};

/// When to stop merging. At least one of `max_merges` and `target_reduction` should be set
/// (with neither, merging runs until no pair occurs `min_count` times).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DynamicConfig {
    /// At most this many merges.
    pub max_merges: Option<usize>,
    /// Stop as soon as `1 - tokens_after / tokens_before >= target_reduction` (in `[0, 1]`).
    pub target_reduction: Option<f64>,
    /// Only merge pairs occurring at least this often (>= 1; 1 is the reference's rule: it merges
    /// while any mergeable pair is left).
    pub min_count: u64,
}

impl Default for DynamicConfig {
    fn default() -> Self {
        Self {
            max_merges: None,
            target_reduction: None,
            min_count: 2,
        }
    }
}

impl DynamicConfig {
    fn validate(&self) -> Result<()> {
        if self.min_count == 0 {
            return Err(Error::invalid("min_count must be >= 1"));
        }
        if let Some(r) = self.target_reduction {
            if !(0.0..=1.0).contains(&r) {
                return Err(Error::invalid(format!(
                    "target_reduction must be in [0, 1], got {r}"
                )));
            }
        }
        Ok(())
    }
}

/// A batch after dynamic merging. Invariants: `offsets` has one entry per sequence plus one,
/// starts at 0 and ends at `ids.len()`; `cuts[i]` is true where token i may not be joined to
/// token i-1 (every unit's first token); new id `vocab_size + k` is `parents[k]` joined, and
/// expands to the base ids `base_ids[base_offsets[k]..base_offsets[k + 1]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicBatch {
    pub ids: Vec<TokenId>,
    pub offsets: Vec<i64>,
    pub cuts: Vec<bool>,
    /// The base vocabulary size: new ids start here.
    pub vocab_size: u32,
    /// `(left, right)` of each new id, in merge order.
    pub parents: Vec<(TokenId, TokenId)>,
    /// How often each merged pair occurred when it was chosen.
    pub counts: Vec<u64>,
    pub base_ids: Vec<TokenId>,
    pub base_offsets: Vec<i64>,
    pub tokens_before: u64,
    pub tokens_after: u64,
}

impl DynamicBatch {
    /// Number of merges done (= number of new ids).
    pub fn num_merges(&self) -> usize {
        self.parents.len()
    }

    /// Share of the tokens removed, `1 - after / before` (0 for an empty batch).
    pub fn reduction(&self) -> f64 {
        if self.tokens_before == 0 {
            0.0
        } else {
            1.0 - self.tokens_after as f64 / self.tokens_before as f64
        }
    }

    /// The bytes of each new id, from the bytes of the base ids (`None` if one is unknown).
    pub fn new_token_bytes<'a>(
        &self,
        bytes_of: impl Fn(TokenId) -> Option<&'a [u8]>,
    ) -> Option<Vec<Vec<u8>>> {
        self.base_offsets
            .windows(2)
            .map(|w| {
                let mut b = Vec::new();
                for &id in &self.base_ids[w[0] as usize..w[1] as usize] {
                    b.extend_from_slice(bytes_of(id)?);
                }
                Some(b)
            })
            .collect()
    }
}

/// The units of two or more tokens, as `(start, end)` in batch order (a unit is a maximal run
/// of tokens with no cut inside; sequence starts always cut). Cost: one copy of the cut flags
/// and a scan of them eight at a time, plus O(joined positions); real batches with pretoken or
/// word boundaries have few joined positions, so this stays far below a per-token loop.
fn multi_token_units(offsets: &[i64], cuts: Option<&[bool]>, n: usize) -> Vec<(usize, usize)> {
    let mut cut: Vec<u8> = match cuts {
        Some(c) => c.iter().map(|&b| u8::from(b)).collect(),
        None => vec![0; n],
    };
    for &o in &offsets[..offsets.len() - 1] {
        if let Some(c) = cut.get_mut(o as usize) {
            *c = 1;
        }
    }
    let mut units: Vec<(usize, usize)> = Vec::new();
    let mut join = |j: usize| match units.last_mut() {
        Some(last) if last.1 == j => last.1 = j + 1,
        _ => units.push((j - 1, j + 1)),
    };
    let mut chunks = cut.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        // One bit per byte that is 0 (flags are 0 or 1): the positions joined to the left.
        let mut zeros = !u64::from_le_bytes(word) & 0x0101_0101_0101_0101;
        while zeros != 0 {
            join(at + zeros.trailing_zeros() as usize / 8);
            zeros &= zeros - 1;
        }
        at += 8;
    }
    for (k, &c) in chunks.remainder().iter().enumerate() {
        if c == 0 {
            join(at + k);
        }
    }
    units
}

/// Check the flat batch layout and the ids.
fn check_layout(ids: &[TokenId], offsets: &[i64], cuts: Option<&[bool]>, vocab: u32) -> Result<()> {
    if offsets.first() != Some(&0) {
        return Err(Error::invalid(
            "offsets must start with 0 and hold one entry per sequence plus one",
        ));
    }
    for (i, w) in offsets.windows(2).enumerate() {
        if w[1] < w[0] {
            return Err(Error::invalid(format!(
                "offsets must not decrease: offsets[{}] = {} < offsets[{i}] = {}",
                i + 1,
                w[1],
                w[0]
            )));
        }
    }
    let last = *offsets.last().unwrap_or(&0);
    if last != ids.len() as i64 {
        return Err(Error::invalid(format!(
            "offsets end at {last} but there are {} ids",
            ids.len()
        )));
    }
    if let Some(c) = cuts {
        if c.len() != ids.len() {
            return Err(Error::invalid(format!(
                "word_starts has {} entries but there are {} ids",
                c.len(),
                ids.len()
            )));
        }
    }
    if let Some((i, &id)) = ids.iter().enumerate().find(|(_, &id)| id >= vocab) {
        return Err(Error::invalid(format!(
            "token id {id} at position {i} is outside the vocabulary (vocab_size {vocab})"
        )));
    }
    if ids.len() >= u32::MAX as usize - 1 {
        return Err(Error::invalid("a batch holds at most 2^32 - 2 tokens"));
    }
    Ok(())
}

/// Dynamic merging of a flat batch: sequence i is `ids[offsets[i]..offsets[i + 1]]`; `cuts[j]`
/// true forbids joining token j to token j-1 (`None`: only sequence starts cut). Every id must
/// be below `vocab_size`. See the module docs.
pub fn dynamic_merge(
    ids: &[TokenId],
    offsets: &[i64],
    cuts: Option<&[bool]>,
    vocab_size: u32,
    cfg: &DynamicConfig,
) -> Result<DynamicBatch> {
    cfg.validate()?;
    check_layout(ids, offsets, cuts, vocab_size)?;
    let n = ids.len();

    // ---- 1. units: cut at sequence starts and at `cuts`; identical units stored once -------
    // Units of one token never merge and stay out of the engine; `multi[u]` is the engine
    // sequence of the unit `units[u]`.
    let units = multi_token_units(offsets, cuts, n);
    let mut multi: Vec<u32> = Vec::with_capacity(units.len());
    let mut first_copy: FxHashMap<&[TokenId], u32> = FxHashMap::default();
    let mut distinct: Vec<(usize, usize, u64)> = Vec::new(); // (start, end, multiplicity)
    for &(s, e) in &units {
        let k = *first_copy.entry(&ids[s..e]).or_insert_with(|| {
            distinct.push((s, e, 0));
            (distinct.len() - 1) as u32
        });
        distinct[k as usize].2 += 1;
        multi.push(k);
    }
    drop(first_copy);
    let mut engine = Engine::new();
    for &(s, e, w) in &distinct {
        engine.push(&ids[s..e], w);
    }
    engine.index();

    // ---- 2. heap of pairs by (count, earliest position) ------------------------------------
    // `first[p]`: the earliest live position of p when last looked at. It stays right while that
    // occurrence lives (positions only die), so a rescan of p's places is needed only then.
    let rescan = |e: &Engine, p| {
        e.places(p)
            .iter()
            .copied()
            .filter(|&q| e.occurs_at(q, p))
            .min()
    };
    let mut first: FxHashMap<(TokenId, TokenId), u32> = FxHashMap::default();
    first.reserve(engine.num_pairs());
    let mut heap: PairHeap<Reverse<u32>> = PairHeap::with_capacity(engine.num_pairs());
    for (p, c) in engine.pairs() {
        // Right after indexing every listed place is live.
        if let Some(&pos) = engine.places(p).iter().min() {
            heap.push(p, c, Reverse(pos));
            first.insert(p, pos);
        }
    }

    // ---- 3. merge loop -----------------------------------------------------------------------
    let tokens_before = n as u64;
    let mut tokens_after = tokens_before;
    let mut parents = Vec::new();
    let mut counts = Vec::new();
    let mut changes = Vec::new();
    loop {
        if cfg.max_merges.is_some_and(|m| parents.len() >= m) {
            break;
        }
        if let Some(r) = cfg.target_reduction {
            if tokens_before == 0 || 1.0 - tokens_after as f64 / tokens_before as f64 >= r {
                break;
            }
        }
        let best = heap.pop(|p| {
            let c = engine.count(p);
            let f = first.get_mut(&p)?;
            if c == 0 {
                return None;
            }
            if !engine.occurs_at(*f, p) {
                *f = rescan(&engine, p)?;
            }
            Some((c, Reverse(*f)))
        });
        let Some((pair, count)) = best else { break };
        if count < cfg.min_count {
            break;
        }
        let new_id = u32::try_from(vocab_size as u64 + parents.len() as u64)
            .ok()
            .filter(|&id| id != u32::MAX)
            .ok_or_else(|| Error::invalid("new token ids would exceed 2^32 - 2"))?;
        let removed = engine.merge(pair, new_id, &mut changes);
        tokens_after -= removed;
        parents.push(pair);
        counts.push(count);
        for ch in &changes {
            // Only pairs holding `new_id` gain occurrences; all others only decay in place.
            if ch.delta > 0 {
                if let Some(pos) = rescan(&engine, ch.pair) {
                    heap.push(ch.pair, ch.count, Reverse(pos));
                    first.insert(ch.pair, pos);
                }
            } else if ch.count == 0 {
                first.remove(&ch.pair);
            }
        }
    }

    // ---- 4. write the batch back ---------------------------------------------------------------
    let mut out_ids = Vec::with_capacity(tokens_after as usize);
    let mut out_cuts = Vec::with_capacity(tokens_after as usize);
    let mut out_offsets = Vec::with_capacity(offsets.len());
    out_offsets.push(0i64);
    // Runs of one-token units are copied whole; `removed[u]` = tokens removed up to unit u.
    let mut removed = Vec::with_capacity(units.len());
    let mut pos = 0;
    for (&(s, e), &k) in units.iter().zip(&multi) {
        out_ids.extend_from_slice(&ids[pos..s]);
        out_cuts.resize(out_ids.len(), true);
        out_cuts.push(true);
        engine.for_each_symbol(k as usize, |t| out_ids.push(t));
        out_cuts.resize(out_ids.len(), false);
        removed.push(e as i64 - out_ids.len() as i64);
        pos = e;
    }
    out_ids.extend_from_slice(&ids[pos..]);
    out_cuts.resize(out_ids.len(), true);
    let mut u = 0;
    for &o in &offsets[1..] {
        // Units never straddle sequences: those starting before `o` end by `o`.
        while u < units.len() && (units[u].0 as i64) < o {
            u += 1;
        }
        out_offsets.push(o - if u == 0 { 0 } else { removed[u - 1] });
    }
    debug_assert_eq!(out_ids.len() as u64, tokens_after);

    // ---- 5. new-token table ------------------------------------------------------------------
    let mut base_ids: Vec<TokenId> = Vec::new();
    let mut base_offsets = vec![0i64];
    for &(a, b) in &parents {
        for t in [a, b] {
            if t < vocab_size {
                base_ids.push(t);
            } else {
                let k = (t - vocab_size) as usize;
                let (s, e) = (base_offsets[k] as usize, base_offsets[k + 1] as usize);
                base_ids.extend_from_within(s..e);
            }
        }
        base_offsets.push(base_ids.len() as i64);
    }

    Ok(DynamicBatch {
        ids: out_ids,
        offsets: out_offsets,
        cuts: out_cuts,
        vocab_size,
        parents,
        counts,
        base_ids,
        base_offsets,
        tokens_before,
        tokens_after,
    })
}

/// Which boundaries merges may not cross when a [`Tokenizer`] encodes the batch. Special tokens
/// are never joined to anything, whatever the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// Pretokens of the tokenizer's split pattern (the reference's default, `"pretokens"`).
    Pretoken,
    /// Words: a merged token may hold whitespace (Unicode `White_Space`) only as its first
    /// character, so a word is one whitespace character and the non-whitespace run after it
    /// (the reference's `"word"` mode).
    Word,
    /// None: whole sequences (the reference's `"sentence"` mode).
    None,
}

impl std::str::FromStr for Boundary {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pretoken" | "pretokens" => Ok(Self::Pretoken),
            "word" | "words" => Ok(Self::Word),
            "none" | "sentence" => Ok(Self::None),
            other => Err(Error::invalid(format!(
                "boundary must be 'pretoken', 'word' or 'none', got {other:?}"
            ))),
        }
    }
}

/// Append to `cuts` the cut flags of one encoded sequence (`marks` from
/// [`Tokenizer::encode_marked`]). For [`Boundary::Word`], token i is cut from token i-1 when a
/// whitespace character starts at token i's first byte, or strictly inside token i or i-1.
pub fn sequence_cuts<'a>(
    ids: &[TokenId],
    marks: &[u8],
    boundary: Boundary,
    bytes_of: impl Fn(TokenId) -> Option<&'a [u8]>,
    cuts: &mut Vec<bool>,
) {
    let special = |i: usize| marks[i] == MARK_SPECIAL;
    let base = cuts.len();
    for (i, &m) in marks.iter().enumerate().take(ids.len()) {
        let around_special = special(i) || (i > 0 && special(i - 1));
        cuts.push(match boundary {
            Boundary::Pretoken => m & (MARK_PIECE | MARK_SPECIAL) != 0 || around_special,
            Boundary::Word | Boundary::None => i == 0 || around_special,
        });
    }
    if boundary != Boundary::Word {
        return;
    }
    let mut text = Vec::new();
    let mut spans = Vec::with_capacity(ids.len() + 1);
    for &id in ids {
        spans.push(text.len());
        text.extend_from_slice(bytes_of(id).unwrap_or_default());
    }
    spans.push(text.len());
    let mut ws = vec![false; text.len()];
    let mut at = 0;
    for chunk in text.utf8_chunks() {
        for (k, c) in chunk.valid().char_indices() {
            ws[at + k] = c.is_whitespace();
        }
        at += chunk.valid().len() + chunk.invalid().len();
    }
    let starts_ws = |i: usize| spans[i] < spans[i + 1] && ws[spans[i]];
    let inner_ws = |i: usize| ws[(spans[i] + 1).min(spans[i + 1])..spans[i + 1]].contains(&true);
    for i in 0..ids.len() {
        if starts_ws(i) || inner_ws(i) || (i > 0 && inner_ws(i - 1)) {
            cuts[base + i] = true;
        }
    }
}

/// Encode `texts` with `tok` (special tokens as in [`Tokenizer::encode`]), cut at `boundary`,
/// and merge dynamically ([`dynamic_merge`]). New ids start at the tokenizer's vocabulary size.
pub fn encode_batch_dynamic<S: AsRef<str> + Sync>(
    tok: &Tokenizer,
    texts: &[S],
    allowed: &FxHashSet<&str>,
    disallowed: &FxHashSet<&str>,
    boundary: Boundary,
    cfg: &DynamicConfig,
    threads: usize,
) -> Result<DynamicBatch> {
    cfg.validate()?;
    let encoded = tok.encode_batch_marked(texts, allowed, disallowed, threads)?;
    let total: usize = encoded.iter().map(|(ids, _)| ids.len()).sum();
    let (mut ids, mut cuts) = (Vec::with_capacity(total), Vec::with_capacity(total));
    let mut offsets = Vec::with_capacity(texts.len() + 1);
    offsets.push(0i64);
    let vocab = tok.vocab();
    for (seq, marks) in &encoded {
        sequence_cuts(seq, marks, boundary, |id| vocab.bytes_of(id), &mut cuts);
        ids.extend_from_slice(seq);
        offsets.push(ids.len() as i64);
    }
    drop(encoded);
    let size = u32::try_from(vocab.size())
        .map_err(|_| Error::invalid("vocabulary too large for dynamic merging"))?;
    dynamic_merge(&ids, &offsets, Some(&cuts), size, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference algorithm, written plainly: recount every pair each round (a counter
    /// in scan order; the first key with the highest count wins), merge left to right.
    fn naive(seqs: &[(Vec<u32>, Vec<bool>)], vocab: u32, cfg: &DynamicConfig) -> Vec<Vec<u32>> {
        let mut seqs: Vec<(Vec<u32>, Vec<bool>)> = seqs.to_vec();
        let before: usize = seqs.iter().map(|s| s.0.len()).sum();
        let mut k = 0;
        loop {
            if cfg.max_merges.is_some_and(|m| k >= m) {
                break;
            }
            let now: usize = seqs.iter().map(|s| s.0.len()).sum();
            if let Some(r) = cfg.target_reduction {
                if before == 0 || 1.0 - now as f64 / before as f64 >= r {
                    break;
                }
            }
            let mut order: Vec<(u32, u32)> = Vec::new();
            let mut count: FxHashMap<(u32, u32), u64> = FxHashMap::default();
            for (s, c) in &seqs {
                for i in 1..s.len() {
                    if !c[i] {
                        let e = count.entry((s[i - 1], s[i])).or_insert(0);
                        if *e == 0 {
                            order.push((s[i - 1], s[i]));
                        }
                        *e += 1;
                    }
                }
            }
            let mut best: Option<((u32, u32), u64)> = None;
            for p in order {
                if best.is_none_or(|(_, c)| count[&p] > c) {
                    best = Some((p, count[&p]));
                }
            }
            let Some((p, c)) = best else { break };
            if c < cfg.min_count {
                break;
            }
            let id = vocab + k as u32;
            for (s, c) in seqs.iter_mut() {
                let (mut ns, mut nc) = (Vec::new(), Vec::new());
                let mut i = 0;
                while i < s.len() {
                    if i + 1 < s.len() && !c[i + 1] && (s[i], s[i + 1]) == p {
                        ns.push(id);
                        nc.push(c[i]);
                        i += 2;
                    } else {
                        ns.push(s[i]);
                        nc.push(c[i]);
                        i += 1;
                    }
                }
                *s = ns;
                *c = nc;
            }
            k += 1;
        }
        seqs.into_iter().map(|s| s.0).collect()
    }

    fn flat(seqs: &[(Vec<u32>, Vec<bool>)]) -> (Vec<u32>, Vec<i64>, Vec<bool>) {
        let (mut ids, mut offs, mut cuts) = (Vec::new(), vec![0i64], Vec::new());
        for (s, c) in seqs {
            ids.extend_from_slice(s);
            cuts.extend_from_slice(c);
            offs.push(ids.len() as i64);
        }
        (ids, offs, cuts)
    }

    fn check(seqs: &[(Vec<u32>, Vec<bool>)], vocab: u32, cfg: &DynamicConfig) {
        let want = naive(seqs, vocab, cfg);
        let (ids, offs, cuts) = flat(seqs);
        let got = dynamic_merge(&ids, &offs, Some(&cuts), vocab, cfg).unwrap();
        let got_seqs: Vec<Vec<u32>> = got
            .offsets
            .windows(2)
            .map(|w| got.ids[w[0] as usize..w[1] as usize].to_vec())
            .collect();
        assert_eq!(got_seqs, want, "{seqs:?} {cfg:?}");
        // expanding the new ids gives back the input
        let expanded: Vec<u32> = got
            .ids
            .iter()
            .flat_map(|&t| {
                if t < vocab {
                    vec![t]
                } else {
                    let k = (t - vocab) as usize;
                    got.base_ids[got.base_offsets[k] as usize..got.base_offsets[k + 1] as usize]
                        .to_vec()
                }
            })
            .collect();
        assert_eq!(expanded, ids);
        assert_eq!(got.tokens_after as usize, got.ids.len());
    }

    #[test]
    fn random_batches_match_naive() {
        let mut rnd = crate::test_rng(0x2545_F491_4F6C_DD1D);
        for round in 0..300 {
            let n_seq = 1 + rnd(6) as usize;
            let seqs: Vec<(Vec<u32>, Vec<bool>)> = (0..n_seq)
                .map(|_| {
                    let n = rnd(16) as usize;
                    let s: Vec<u32> = (0..n).map(|_| rnd(3 + round % 3) as u32).collect();
                    let c: Vec<bool> = (0..n).map(|i| i == 0 || rnd(4) == 0).collect();
                    (s, c)
                })
                .collect();
            for cfg in [
                DynamicConfig {
                    max_merges: Some(0),
                    ..Default::default()
                },
                DynamicConfig {
                    max_merges: Some(3),
                    ..Default::default()
                },
                DynamicConfig {
                    max_merges: Some(50),
                    min_count: 1,
                    ..Default::default()
                },
                DynamicConfig {
                    target_reduction: Some(0.3),
                    ..Default::default()
                },
            ] {
                check(&seqs, 5 + round as u32 % 4, &cfg);
            }
        }
    }

    #[test]
    fn ties_go_to_the_first_occurrence() {
        // (1,2) and (3,4) both occur twice; (3,4) comes first.
        let s = vec![(vec![3, 4, 1, 2, 3, 4, 1, 2], vec![false; 8])];
        let (ids, offs, _) = flat(&s);
        let cfg = DynamicConfig {
            max_merges: Some(1),
            ..Default::default()
        };
        let got = dynamic_merge(&ids, &offs, None, 10, &cfg).unwrap();
        assert_eq!(got.parents, vec![(3, 4)]);
        assert_eq!(got.ids, vec![10, 1, 2, 10, 1, 2]);
    }

    #[test]
    fn cuts_are_respected_and_runs_merge_left_to_right() {
        let s = vec![
            (vec![1, 1, 1, 1, 1], vec![true, false, false, true, false]),
            (vec![1, 1], vec![true, true]),
        ];
        let (ids, offs, cuts) = flat(&s);
        let cfg = DynamicConfig {
            max_merges: Some(1),
            ..Default::default()
        };
        let got = dynamic_merge(&ids, &offs, Some(&cuts), 2, &cfg).unwrap();
        assert_eq!(got.ids, vec![2, 1, 2, 1, 1]);
        assert_eq!(got.cuts, vec![true, false, true, true, true]);
        assert_eq!(got.counts, vec![3]);
        assert!((got.reduction() - 2.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_an_error() {
        let cfg = DynamicConfig {
            max_merges: Some(1),
            ..Default::default()
        };
        assert!(dynamic_merge(&[1, 2], &[0, 2], None, 2, &cfg).is_err()); // id 2 >= 2
        assert!(dynamic_merge(&[1, 2], &[0, 1], None, 5, &cfg).is_err()); // offsets short
        assert!(dynamic_merge(&[1, 2], &[1, 2], None, 5, &cfg).is_err()); // offsets[0] != 0
        assert!(dynamic_merge(&[1, 2], &[0, 2, 1, 2], None, 5, &cfg).is_err());
        assert!(dynamic_merge(&[1, 2], &[], None, 5, &cfg).is_err());
        assert!(dynamic_merge(&[1, 2], &[0, 2], Some(&[true]), 5, &cfg).is_err());
        let bad = DynamicConfig {
            min_count: 0,
            ..cfg
        };
        assert!(dynamic_merge(&[1, 2], &[0, 2], None, 5, &bad).is_err());
        let bad = DynamicConfig {
            target_reduction: Some(1.5),
            ..cfg
        };
        assert!(dynamic_merge(&[1, 2], &[0, 2], None, 5, &bad).is_err());
        // empty batch, empty sequences
        let e = dynamic_merge(&[], &[0], None, 5, &cfg).unwrap();
        assert_eq!((e.ids.len(), e.num_merges(), e.offsets), (0, 0, vec![0]));
        let e = dynamic_merge(&[1, 1, 1, 1], &[0, 0, 4, 4], None, 5, &cfg).unwrap();
        assert_eq!((e.ids, e.offsets), (vec![5, 5], vec![0, 0, 2, 2]));
    }

    #[test]
    fn word_cuts() {
        let toks: Vec<&[u8]> = vec![
            b"Hello",
            b",",
            b" world",
            b"  ",
            b"x",
            b"\n",
            b"\n",
            b"y",
            b"\xe4\xb8",
        ];
        let ids: Vec<u32> = (0..toks.len() as u32).collect();
        let marks = vec![MARK_PIECE; ids.len()];
        let mut cuts = Vec::new();
        sequence_cuts(
            &ids,
            &marks,
            Boundary::Word,
            |i| Some(toks[i as usize]),
            &mut cuts,
        );
        // "Hello" "," join; " world" starts with a space; "  " holds an inner space (cut on both
        // sides); "\n" starts a word, the second "\n" too; "y" joins the "\n" before it.
        assert_eq!(
            cuts,
            vec![true, false, true, true, true, true, true, false, false]
        );
    }
}
