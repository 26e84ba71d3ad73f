//! Stage 2 of SuperBPE: stage-2 pretokens -> replay of stage 1's merges -> bounded, deduplicated
//! segments -> merge loop under the superword constraints.
//!
//! Phases:
//! 1. **Replay** stage 1's merges, in order, with [`Engine::merge`] (the reference's semantics:
//!    each merge applied left to right everywhere before the next). Exact shortcut: a piece is
//!    cut into segments wherever no stage-1 merge joins a token ending with the left byte to a
//!    token starting with the right one (`CROSS`; in English text, before almost every space),
//!    since no replayed merge can ever cross such a junction. Segments repeat like words, so
//!    only the distinct ones are replayed (small engines in parallel batches), and each piece is
//!    reassembled from its segments' tokens. Cost: about stage 1's, not a pass over the text at
//!    byte level (HF's trainer holds 32 bytes per corpus byte there and replays everything).
//! 2. **Cut** each replayed sequence at junctions that can never be merged (the pair is refused
//!    by the constraints: exact, see [`super::shape`]) and, if `prune_below > 1`, at junctions
//!    whose pair occurs fewer than `prune_below` times in the whole corpus (an approximation:
//!    such a junction could in principle be crossed later by tokens that grew around it).
//!    Pieces of one token are dropped (they hold no pair); identical pieces are merged with their
//!    counts added.
//! 3. **Merge loop**: the trainer's policy (highest count, then smallest `(left, right)`) over an
//!    engine of those pieces, never pushing a refused pair onto the heap.
//!
//! Cost: the replay is about stage 1's cost (distinct segments only); the merge loop is that of
//! ordinary training over the pieces. Memory peaks in the merge loop, at the engine: 16 bytes
//! per stage-1 token of the distinct pieces plus its pair index, which holds only the pairs
//! seen at least `min_frequency` times ([`Engine::set_min_tracked`]: exact, since rarer pairs
//! are never merged; a quarter of the pairs at the default 2), ~41 bytes per hash bucket plus
//! spilled position lists; `prune_below` shrinks both. Freed memory is handed back to the OS
//! before the engine is built (`malloc_trim`). The lazy heap is refilled in place from the live
//! pairs whenever stale entries fill its allocation (the pops are unchanged: the order is a
//! total order on (count, pair)). Measured figures: `bench/README.md`.
//!
//! Invariants: stage 1's merges are kept as they are (ids and order); every stage-2 merge creates
//! (or reuses) a token allowed by the constraints; when the engine is loaded, no sequence holds a
//! refused (or, with pruning, rare) junction, and refused pairs never enter the heap.

use std::cmp::Reverse;
use std::time::Instant;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::shape::{Constraints, Shape};
use crate::engine::{Engine, Pair, PairHeap, TokenId};
use crate::error::Result;
use crate::progress::Progress;
use crate::train::{merge_loop, MergePolicy};
use crate::vocab::Merge;

/// Stage-2 parameters.
#[derive(Debug, Clone)]
pub struct Stage2Params {
    pub constraints: Constraints,
    /// Approximation: cut stage-2 pretokens after this many words (`None`: never).
    pub max_pretoken_words: Option<usize>,
    /// Approximation: cut at junctions whose pair count after the replay is below this (0 or
    /// 1: never).
    pub prune_below: u64,
    pub min_frequency: u64,
    pub max_token_length: Option<usize>,
    /// Regular tokens wanted at the end (vocabulary size minus special tokens).
    pub target: usize,
    pub threads: usize,
    pub progress: bool,
}

/// Figures of stage 2.
#[derive(Debug, Clone, Default)]
pub struct Stage2Stats {
    /// Stage-2 pretokens with multiplicity, and distinct.
    pub pretokens: u64,
    pub distinct_pretokens: u64,
    /// Pretokens cut by `max_pretoken_words` (extra cuts made).
    pub length_cuts: u64,
    /// Stage-1 tokens of the stage-2 text after the replay (with multiplicity).
    pub replay_tokens: u64,
    /// Junctions cut because the pair is refused (exact) / rare (`prune_below`), with multiplicity.
    pub refused_cuts: u64,
    pub rare_cuts: u64,
    /// Distinct pieces loaded into the merge engine and their symbols.
    pub engine_sequences: u64,
    pub engine_symbols: u64,
    /// Tokens of the stage-2 text at the end (with the approximations' cuts).
    pub corpus_tokens: u64,
    pub merges: u64,
    pub seconds_replay: f64,
    pub seconds_merge: f64,
}

/// `CROSS[x][y]`: some stage-1 merge joins a token ending with byte `x` to a token starting with
/// byte `y`. Where this is false between two adjacent bytes, no replayed merge can ever join
/// them (the first merge across that junction would be such a merge), so the replay of a
/// sequence is the concatenation of the replays of its parts cut there. This is exact.
type CrossTable = [[bool; 256]; 256];

fn cross_table(tokens: &[Vec<u8>], merges: &[Merge]) -> Box<CrossTable> {
    let mut t = Box::new([[false; 256]; 256]);
    for m in merges {
        let (a, b) = (&tokens[m.pair.0 as usize], &tokens[m.pair.1 as usize]);
        if let (Some(&x), Some(&y)) = (a.last(), b.first()) {
            t[x as usize][y as usize] = true;
        }
    }
    t
}

/// End offsets of the chunks of `piece` holding at most `max_words` words each, cut right before
/// the spaces that precede a new word (so a chunk after the first starts with ` word`).
fn word_chunks(piece: &[u8], max_words: Option<usize>, out: &mut Vec<usize>) {
    out.clear();
    let Some(max) = max_words.filter(|&m| m > 0) else {
        out.push(piece.len());
        return;
    };
    let mut words = 0usize;
    let mut space_run_start = None;
    let mut prev = b' ';
    for (i, &b) in piece.iter().enumerate() {
        if b == b' ' {
            if prev != b' ' {
                space_run_start = Some(i);
            }
        } else if prev == b' ' {
            if words == max {
                if let Some(s) = space_run_start.filter(|&s| s > 0) {
                    out.push(s);
                    words = 0;
                }
            }
            words += 1;
        }
        prev = b;
    }
    out.push(piece.len());
}

/// Replay the merge list on a batch of byte strings with a small engine; returns their token
/// ids back to back and the end offset of each.
fn replay_batch(batch: &[&[u8]], merges: &[Merge]) -> (Vec<TokenId>, Vec<u32>) {
    let mut engine = Engine::new();
    let mut buf: Vec<TokenId> = Vec::new();
    for s in batch {
        buf.clear();
        buf.extend(s.iter().map(|&x| TokenId::from(x)));
        engine.push(&buf, 1);
    }
    engine.index();
    let mut changes = Vec::new();
    for m in merges {
        engine.merge(m.pair, m.result, &mut changes);
    }
    let mut toks = Vec::new();
    let mut ends = Vec::with_capacity(batch.len());
    for i in 0..engine.num_sequences() {
        engine.for_each_symbol(i, |t| toks.push(t));
        ends.push(toks.len() as u32);
    }
    (toks, ends)
}

/// Token sequences with counts, back to back in one buffer (no allocation per sequence, so
/// freeing them gives the memory back).
#[derive(Default)]
struct Pieces {
    toks: Vec<TokenId>,
    /// (start, len, count)
    spans: Vec<(u32, u32, u64)>,
}

impl Pieces {
    fn push(&mut self, s: &[TokenId], count: u64) {
        self.spans
            .push((self.toks.len() as u32, s.len() as u32, count));
        self.toks.extend_from_slice(s);
    }

    /// An indexed engine holding the distinct sequences (identical ones merged, counts added),
    /// in sorted order so that the layout does not depend on hash or thread order. Returns it
    /// with its number of sequences and symbols.
    fn into_engine(mut self, min_count: u64) -> (Engine, u64, u64) {
        let toks = &self.toks;
        let seq = |&(a, l, _): &(u32, u32, u64)| &toks[a as usize..(a + l) as usize];
        self.spans.sort_unstable_by(|x, y| seq(x).cmp(seq(y)));
        let mut uniq: Vec<(u32, u32, u64)> = Vec::with_capacity(self.spans.len());
        for sp in &self.spans {
            match uniq.last_mut() {
                Some(last) if seq(last) == seq(sp) => last.2 += sp.2,
                _ => uniq.push(*sp),
            }
        }
        drop(std::mem::take(&mut self.spans));
        let symbols: u64 = uniq.iter().map(|&(_, l, _)| l as u64).sum();
        let mut engine = Engine::new();
        engine.reserve(uniq.len(), symbols as usize);
        for sp in &uniq {
            engine.push(seq(sp), sp.2);
        }
        let n = uniq.len() as u64;
        drop(uniq);
        drop(self);
        // Pairs rarer than `min_count` are never merged: not indexing them keeps most pairs
        // out of the index (most occur once).
        engine.set_min_tracked(min_count);
        engine.index();
        (engine, n, symbols)
    }
}

/// Train stage 2. `tokens` and `merges` are stage 1's (regular tokens only); they are extended in
/// place.
pub fn train_stage2(
    pieces: Vec<(Box<str>, u64)>,
    tokens: &mut Vec<Vec<u8>>,
    merges: &mut Vec<Merge>,
    p: &Stage2Params,
) -> Result<Stage2Stats> {
    let t0 = Instant::now();
    let mut st = Stage2Stats {
        distinct_pretokens: pieces.len() as u64,
        pretokens: pieces.iter().map(|(_, c)| c).sum(),
        ..Default::default()
    };

    // ---- (1) replay stage 1 on the distinct uncrossable segments ----------------------------
    // Each piece (after the optional word cap) is a run of segments cut where no stage-1 merge
    // can join the bytes (`CROSS`): in English, before almost every space. Segments repeat
    // like words, so the replay costs about what stage 1 cost, not a pass over the whole text.
    let cross = cross_table(tokens, merges);
    let mut seg_index: FxHashMap<&[u8], u32> = FxHashMap::default();
    let mut segments: Vec<&[u8]> = Vec::new();
    // Per piece chunk: its segment ids (back to back in `chunk_segs`) and (end, count).
    let mut chunk_segs: Vec<u32> = Vec::new();
    let mut chunks: Vec<(usize, u64)> = Vec::new();
    let mut ends = Vec::new();
    for (piece, count) in &pieces {
        let b = piece.as_bytes();
        word_chunks(b, p.max_pretoken_words, &mut ends);
        st.length_cuts += (ends.len() - 1) as u64;
        let mut start = 0;
        for &e in &ends {
            let chunk = &b[start..e];
            let mut s0 = 0;
            for i in 1..=chunk.len() {
                if i == chunk.len() || !cross[chunk[i - 1] as usize][chunk[i] as usize] {
                    let seg = &chunk[s0..i];
                    let id = *seg_index.entry(seg).or_insert_with(|| {
                        segments.push(seg);
                        (segments.len() - 1) as u32
                    });
                    chunk_segs.push(id);
                    s0 = i;
                }
            }
            chunks.push((chunk_segs.len(), *count));
            start = e;
        }
    }
    drop(seg_index);
    let per_batch = segments.len().div_ceil(4 * p.threads.max(1)).max(1024);
    let stage1: &[Merge] = merges;
    let replayed: Vec<(Vec<TokenId>, Vec<u32>)> = crate::encode::pool::install(p.threads, || {
        segments
            .par_chunks(per_batch)
            .map(|b| replay_batch(b, stage1))
            .collect()
    })?;
    // Token ids of segment `i`: `seg_toks[seg_start[i]..seg_start[i + 1]]`.
    let mut seg_toks: Vec<TokenId> = Vec::new();
    let mut seg_start: Vec<u32> = Vec::with_capacity(segments.len() + 1);
    seg_start.push(0);
    for (toks, ends) in replayed {
        let base = seg_toks.len() as u32;
        seg_start.extend(ends.iter().map(|&e| base + e));
        seg_toks.extend_from_slice(&toks);
    }
    drop(segments);
    // Calls `f(tokens, count)` on the replayed token ids of every piece chunk.
    let for_each_chunk = |f: &mut dyn FnMut(&[TokenId], u64)| {
        let mut buf: Vec<TokenId> = Vec::new();
        let mut at = 0usize;
        for &(end, count) in &chunks {
            buf.clear();
            for &s in &chunk_segs[at..end] {
                let (a, b) = (seg_start[s as usize], seg_start[s as usize + 1]);
                buf.extend_from_slice(&seg_toks[a as usize..b as usize]);
            }
            at = end;
            f(&buf, count);
        }
    };

    // ---- (2) cut at refused (exact) and rare (approximation) junctions, deduplicate ---------
    let mut shapes: Vec<Shape> = tokens.iter().map(|t| Shape::of(t)).collect();
    let cons = p.constraints;
    let refused = |shapes: &[Shape], a: TokenId, b: TokenId| {
        !cons.allows(Shape::join(shapes[a as usize], shapes[b as usize]))
    };
    let pair_counts: Option<FxHashMap<Pair, u64>> = (p.prune_below > 1).then(|| {
        let mut m: FxHashMap<Pair, u64> = FxHashMap::default();
        for_each_chunk(&mut |s, c| {
            for w in s.windows(2) {
                *m.entry((w[0], w[1])).or_insert(0) += c;
            }
        });
        m
    });
    let mut single_tokens = 0u64;
    let mut distinct = Pieces::default();
    for_each_chunk(&mut |s, c| {
        st.replay_tokens += s.len() as u64 * c;
        let mut start = 0;
        for k in 1..=s.len() {
            let cut = k == s.len() || {
                let (a, b) = (s[k - 1], s[k]);
                if refused(&shapes, a, b) {
                    st.refused_cuts += c;
                    true
                } else if pair_counts
                    .as_ref()
                    .is_some_and(|m| m.get(&(a, b)).copied().unwrap_or(0) < p.prune_below)
                {
                    st.rare_cuts += c;
                    true
                } else {
                    false
                }
            };
            if cut {
                let piece = &s[start..k];
                if piece.len() == 1 {
                    single_tokens += c;
                } else {
                    distinct.push(piece, c);
                }
                start = k;
            }
        }
    });
    drop(pair_counts);
    drop(chunks);
    drop(chunk_segs);
    drop(seg_toks);
    drop(seg_start);
    drop(pieces);
    super::release_free_memory();
    let (mut engine, n, symbols) = distinct.into_engine(p.min_frequency.max(1));
    st.engine_sequences = n;
    st.engine_symbols = symbols;
    st.seconds_replay = t0.elapsed().as_secs_f64();

    // ---- (3) merge loop under the constraints ---------------------------------------------
    let t1 = Instant::now();
    let min_count = p.min_frequency.max(1);
    // The lazy heap keeps stale entries; it is refilled in place from the live pairs whenever
    // they fill its allocation (same pops: the order is (count, pair)), so it never grows past
    // a quarter more than the live pairs (plus a margin) and is never copied.
    let fill_heap = |engine: &Engine, shapes: &[Shape], heap: &mut PairHeap<Reverse<Pair>>| {
        heap.clear();
        for (q, c) in engine.pairs() {
            if c >= min_count && !refused(shapes, q.0, q.1) {
                heap.push(q, c, Reverse(q));
            }
        }
        heap.reserve_exact(heap.len() / 4 + (1 << 15));
        // One merge pushes at most a few thousand pairs: refill before the allocation is full.
        heap.capacity() - (1 << 14)
    };
    let mut heap = PairHeap::with_capacity(engine.num_pairs() + engine.num_pairs() / 4 + (1 << 15));
    let heap_limit = fill_heap(&engine, &shapes, &mut heap);

    /// SuperBPE's policy: refused pairs never enter the heap; each new token's shape is
    /// recorded; the lazy heap is refilled when stale entries have filled its allocation.
    struct Policy<'a, R, B> {
        shapes: &'a mut Vec<Shape>,
        refused: R,
        fill_heap: B,
        heap_limit: usize,
    }
    impl<R, B> MergePolicy for Policy<'_, R, B>
    where
        R: Fn(&[Shape], TokenId, TokenId) -> bool,
        B: Fn(&Engine, &[Shape], &mut PairHeap<Reverse<Pair>>) -> usize,
    {
        fn allows(&self, (a, b): Pair) -> bool {
            !(self.refused)(self.shapes, a, b)
        }
        fn new_token(&mut self, (a, b): Pair) {
            let s = Shape::join(self.shapes[a as usize], self.shapes[b as usize]);
            self.shapes.push(s);
        }
        fn after_merge(&mut self, engine: &Engine, heap: &mut PairHeap<Reverse<Pair>>) {
            if heap.len() > self.heap_limit {
                self.heap_limit = (self.fill_heap)(engine, self.shapes, heap);
            }
        }
    }

    let start_tokens = tokens.len();
    let start_merges = merges.len();
    let bar = Progress::steps(
        p.progress,
        "stage 2",
        p.target.saturating_sub(start_tokens) as u64,
    );
    merge_loop(
        &mut engine,
        &mut heap,
        tokens,
        merges,
        p.target,
        min_count,
        p.max_token_length,
        &bar,
        &mut Policy {
            shapes: &mut shapes,
            refused,
            fill_heap,
            heap_limit,
        },
    );
    st.merges += (merges.len() - start_merges) as u64;
    bar.finish();
    st.corpus_tokens = engine.total_tokens() + single_tokens;
    st.seconds_merge = t1.elapsed().as_secs_f64();
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The segment-wise replay equals a replay of whole sequences (the `CROSS` argument).
    #[test]
    fn segment_replay_equals_whole_replay() {
        let text = "ab  abab. ab\nba  ab.ab bb aa: a..b ".repeat(5);
        let pieces: Vec<&[u8]> = text.as_bytes().chunks(13).collect();
        // A merge list learned on other text, with cross-space merges.
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let mut merges = Vec::new();
        for (l, r) in [
            ("a", "b"),
            (" ", "ab"),
            ("b", " "),
            (".", " "),
            ("ab", "ab"),
            (" ", " "),
        ] {
            let (a, b) = (
                tokens.iter().position(|t| t == l.as_bytes()).unwrap(),
                tokens.iter().position(|t| t == r.as_bytes()).unwrap(),
            );
            tokens.push([l.as_bytes(), r.as_bytes()].concat());
            merges.push(Merge {
                pair: (a as u32, b as u32),
                result: tokens.len() as u32 - 1,
            });
        }
        let cross = cross_table(&tokens, &merges);
        let (whole, ends) = replay_batch(&pieces, &merges);
        let mut at = 0;
        for (i, piece) in pieces.iter().enumerate() {
            let mut segs: Vec<&[u8]> = Vec::new();
            let mut s0 = 0;
            for k in 1..=piece.len() {
                if k == piece.len() || !cross[piece[k - 1] as usize][piece[k] as usize] {
                    segs.push(&piece[s0..k]);
                    s0 = k;
                }
            }
            let (t, _) = replay_batch(&segs, &merges);
            assert_eq!(t, whole[at..ends[i] as usize]);
            at = ends[i] as usize;
        }
    }

    #[test]
    fn word_chunks_cut_before_spaces() {
        let mut out = Vec::new();
        word_chunks(b"a b c d e", Some(2), &mut out);
        assert_eq!(out, vec![3, 7, 9]); // "a b" " c d" " e"
        word_chunks(b"  a  b", Some(1), &mut out);
        assert_eq!(out, vec![3, 6]); // "  a" "  b"
        word_chunks(b"a b c", None, &mut out);
        assert_eq!(out, vec![5]);
        word_chunks(b"abc", Some(1), &mut out);
        assert_eq!(out, vec![3]);
    }
}
