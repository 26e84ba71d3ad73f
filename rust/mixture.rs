//! Data-mixture inference, counting side (Hayase et al., arXiv 2407.16607): the merge engine
//! replaying a given merge list on each category's sample and recording the pair-count
//! trajectory, plus the separation oracle of the linear program ([`separate`]).
//!
//! Idea: a BPE merge list is an ordered record of argmax decisions. At step t the trainer chose
//! `m_t` because, in its training data, `m_t` was the most frequent pair after the first t merges.
//! If the training data is a mixture of categories with byte proportions `a_i`, the training
//! count of a pair is (up to a constant) `sum_i a_i c_i^t(p) / d_i`, where `c_i^t(p)` is the count
//! in category i's sample after the same t merges and `d_i` the sample's size in bytes. Replaying
//! the merge list on every sample gives those counts; the LP (in Python) finds the `a` that best
//! explains every argmax.
//!
//! Recorded form ([`Trajectory`]): pairs get dense local ids per category; the initial counts are
//! one `(local id, count)` list; each step's changes are a CSR slice of `(local id, new count)`.
//! No per-pair objects, 8 bytes per change. [`Attack`] joins the categories: global pair ids,
//! each category's local -> global table, and the global id of each step's merge.
//!
//! Cost: counting is linear in the sample; the replay costs what training costs (the engine only
//! visits the occurrences of each merged pair); categories run in parallel (rayon).

pub mod auction;
pub mod evaluate;
pub mod matching;
pub mod separate;
mod topheap;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::count::{Counter, PretokenCounts};
use crate::engine::{Engine, Pair, TokenId};
use crate::error::{Error, Result};
use crate::Tokenizer;

pub use auction::{auction, AuctionStats};
pub use evaluate::{evaluate, EdgePool, Evaluation, Inner};
pub use matching::{max_weight_matching, Matching};
pub use separate::{separate, Cut, PairIndex, SeparateConfig};

/// The merge list of a tokenizer as `(pair, result)` in rank order, checked to be producible:
/// each part of merge t is a single-byte token or the result of a merge before t.
///
/// An error names the first merge whose part cannot be produced (such a list is not the record
/// of a BPE training run, and replaying it would silently never apply that merge).
pub fn merge_list(tok: &Tokenizer, limit: usize) -> Result<Vec<(Pair, TokenId)>> {
    let vocab = tok.vocab();
    let mut made = vec![false; vocab.num_tokens()];
    for t in vocab.tokens().iter().enumerate() {
        if t.1.len() == 1 {
            made[t.0] = true;
        }
    }
    let mut out = Vec::with_capacity(limit.min(vocab.merges().len()));
    for (r, m) in vocab.merges().iter().take(limit).enumerate() {
        for part in [m.pair.0, m.pair.1] {
            if !made.get(part as usize).copied().unwrap_or(false) {
                let bytes = vocab.token(part).unwrap_or(&[]);
                return Err(Error::invalid(format!(
                    "merge {r} uses token {part} ({:?}), which no earlier merge produces: the merge \
                     list cannot be replayed",
                    String::from_utf8_lossy(bytes)
                )));
            }
        }
        if let Some(slot) = made.get_mut(m.result as usize) {
            *slot = true;
        }
        out.push((m.pair, m.result));
    }
    Ok(out)
}

/// Count one category's sample exactly as the tokenizer sees text: its normalizer, then its
/// special tokens cut out (never counted), then its pretokenizer. `bytes` counts the
/// normalized text outside special tokens.
pub fn count_sample<S: AsRef<str>>(tok: &Tokenizer, texts: &[S]) -> Result<PretokenCounts> {
    let names: Vec<String> = tok
        .vocab()
        .specials()
        .iter()
        .map(|(s, _)| s.clone())
        .collect();
    let counter = Counter::new(tok.pretokenizer().clone(), &names)?;
    let mut counts = PretokenCounts::default();
    for t in texts {
        let t = t.as_ref();
        match tok.normalizer() {
            Some(n) => counter.count_text(&n.apply(t), &mut counts)?,
            None => counter.count_text(t, &mut counts)?,
        }
    }
    Ok(counts)
}

/// One category's pair-count trajectory under a merge list. See the module docs.
///
/// Invariants: `pairs[l]` is the pair of local id `l`; `step_start` has `steps + 1` entries and
/// step t's changes (made by merge t, i.e. from the state before merge t to the state before
/// merge t + 1) are `changes[step_start[t]..step_start[t + 1]]`; `merge_count[t]` is the count of
/// merge t's pair in the state before merge t (0: absent from this sample).
#[derive(Debug, Clone, Default)]
pub struct Trajectory {
    /// Bytes of (normalized) text counted.
    pub bytes: u64,
    pub pairs: Vec<Pair>,
    /// `(local id, count)` of every pair before the first merge.
    pub initial: Vec<(u32, u32)>,
    pub step_start: Vec<u64>,
    /// `(local id, count after the merge)`.
    pub changes: Vec<(u32, u32)>,
    pub merge_count: Vec<u32>,
}

impl Trajectory {
    /// Number of merges replayed.
    pub fn steps(&self) -> usize {
        self.merge_count.len()
    }

    /// How many merges had count 0 in this sample when their turn came.
    pub fn absent(&self) -> usize {
        self.merge_count.iter().filter(|&&c| c == 0).count()
    }
}

/// Replay `merges` on counted pretokens and record the trajectory.
///
/// Pretoken bytes map to the vocabulary's byte tokens; a byte without a token gets an id no merge
/// uses (`u32::MAX - 255 + byte`), so its pairs stay competitors that are never merged.
pub fn replay(
    tok: &Tokenizer,
    merges: &[(Pair, TokenId)],
    counts: &PretokenCounts,
) -> Result<Trajectory> {
    if counts.bytes == 0 {
        return Err(Error::invalid("the sample is empty"));
    }
    if counts.bytes >= u32::MAX as u64 {
        return Err(Error::invalid(format!(
            "a category sample holds {} bytes; at most 4 GiB per category are supported",
            counts.bytes
        )));
    }
    let vocab = tok.vocab();
    let mut byte_ids = [0 as TokenId; 256];
    for (b, slot) in byte_ids.iter_mut().enumerate() {
        *slot = vocab
            .byte_id(b as u8)
            .or_else(|| vocab.id(&[b as u8]))
            .unwrap_or(u32::MAX - 255 + b as u32);
    }
    // Sorted so the engine's layout does not depend on hash order.
    let mut pieces: Vec<(&str, u64)> = counts
        .counts
        .iter()
        .filter(|(k, _)| k.len() >= 2)
        .map(|(k, &v)| (&**k, v))
        .collect();
    pieces.sort_unstable();
    let mut engine = Engine::new();
    let mut buf: Vec<TokenId> = Vec::new();
    for &(piece, c) in &pieces {
        buf.clear();
        buf.extend(piece.bytes().map(|b| byte_ids[b as usize]));
        engine.push(&buf, c);
    }
    drop(pieces);
    engine.index();
    Ok(record(engine, counts.bytes, merges))
}

/// Apply `merges` to an indexed `engine` holding a sample of `bytes` bytes and record the
/// trajectory: the initial pair counts, then per step the merged pair's count and the pairs
/// whose counts changed (sorted by pair, so the record does not depend on hash order).
pub(crate) fn record(mut engine: Engine, bytes: u64, merges: &[(Pair, TokenId)]) -> Trajectory {
    let mut local: FxHashMap<Pair, u32> = FxHashMap::default();
    let mut tr = Trajectory {
        bytes,
        ..Default::default()
    };
    let mut id_of = |p: Pair, pairs: &mut Vec<Pair>| -> u32 {
        *local.entry(p).or_insert_with(|| {
            pairs.push(p);
            (pairs.len() - 1) as u32
        })
    };
    let mut init: Vec<(Pair, u64)> = engine.pairs().collect();
    init.sort_unstable();
    for (p, c) in init {
        let l = id_of(p, &mut tr.pairs);
        tr.initial.push((l, c as u32));
    }
    tr.step_start.reserve(merges.len() + 1);
    tr.step_start.push(0);
    let mut changes = Vec::new();
    for &(pair, result) in merges {
        tr.merge_count.push(engine.count(pair) as u32);
        engine.merge(pair, result, &mut changes);
        changes.sort_unstable_by_key(|c| c.pair);
        for ch in &changes {
            let l = id_of(ch.pair, &mut tr.pairs);
            tr.changes.push((l, ch.count as u32));
        }
        tr.step_start.push(tr.changes.len() as u64);
    }
    tr
}

/// All categories of one attack, joined. See the module docs.
///
/// Invariants: `global_pairs[g]` is the pair of global id g; `to_global[i][l]` is the global id
/// of category i's local id l; `merge_global[t]` is the global id of merge t's pair, or `None`
/// when no sample ever holds that pair (such steps carry no information and get no constraint).
#[derive(Debug, Clone, Default)]
pub struct Attack {
    pub categories: Vec<Trajectory>,
    pub to_global: Vec<Vec<u32>>,
    pub global_pairs: Vec<Pair>,
    pub merges: Vec<(Pair, TokenId)>,
    pub merge_global: Vec<Option<u32>>,
}

impl Attack {
    /// Count and replay every category (in parallel on `threads` threads) and join them.
    pub fn build<S: AsRef<str> + Sync>(
        tok: &Tokenizer,
        merges: Vec<(Pair, TokenId)>,
        samples: &[Vec<S>],
        threads: usize,
    ) -> Result<Attack> {
        let trajectories = crate::encode::pool::install(threads, || {
            samples
                .par_iter()
                .enumerate()
                .map(|(i, texts)| {
                    let counts = count_sample(tok, texts)?;
                    if counts.bytes == 0 {
                        return Err(Error::invalid(format!(
                            "category {i}: the sample is empty (no text outside special tokens)"
                        )));
                    }
                    replay(tok, &merges, &counts)
                        .map_err(|e| Error::invalid(format!("category {i}: {e}")))
                })
                .collect::<Result<Vec<_>>>()
        })??;
        Ok(Self::join(trajectories, merges))
    }

    /// Join trajectories recorded with the same merge list.
    pub fn join(categories: Vec<Trajectory>, merges: Vec<(Pair, TokenId)>) -> Attack {
        let mut global: FxHashMap<Pair, u32> = FxHashMap::default();
        let mut global_pairs = Vec::new();
        let mut to_global = Vec::with_capacity(categories.len());
        for tr in &categories {
            let map: Vec<u32> = tr
                .pairs
                .iter()
                .map(|&p| {
                    *global.entry(p).or_insert_with(|| {
                        global_pairs.push(p);
                        (global_pairs.len() - 1) as u32
                    })
                })
                .collect();
            to_global.push(map);
        }
        let merge_global = merges
            .iter()
            .enumerate()
            .map(|(t, &(p, _))| {
                let seen = categories.iter().any(|tr| tr.merge_count[t] > 0);
                if seen {
                    global.get(&p).copied()
                } else {
                    None
                }
            })
            .collect();
        Attack {
            categories,
            to_global,
            global_pairs,
            merges,
            merge_global,
        }
    }

    pub fn steps(&self) -> usize {
        self.merges.len()
    }

    /// Total number of recorded changes over all categories.
    pub fn num_changes(&self) -> usize {
        self.categories.iter().map(|c| c.changes.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretok::Pretokenizer;
    use crate::train::{train_from_counts, TrainConfig};

    fn tok_from(text: &str, vocab_size: usize) -> Tokenizer {
        let counter = Counter::new(Pretokenizer::new("gpt2").unwrap(), &[]).unwrap();
        let mut pc = PretokenCounts::default();
        counter.count_text(text, &mut pc).unwrap();
        let cfg = TrainConfig {
            vocab_size,
            min_frequency: 1,
            max_token_length: None,
            special_tokens: vec![],
            progress: false,
        };
        let (v, _) = train_from_counts(&pc, &cfg).unwrap();
        Tokenizer::new(v, Pretokenizer::new("gpt2").unwrap()).unwrap()
    }

    /// Obviously-correct reference: apply merges to every pretoken with a plain loop and
    /// recount all pairs from scratch before each merge.
    fn naive_counts(
        tok: &Tokenizer,
        merges: &[(Pair, TokenId)],
        text: &str,
    ) -> Vec<FxHashMap<Pair, u64>> {
        let pc = count_sample(tok, &[text]).unwrap();
        let mut words: Vec<(Vec<u32>, u64)> = pc
            .counts
            .iter()
            .map(|(k, &c)| (k.bytes().map(u32::from).collect(), c))
            .collect();
        let mut out = Vec::new();
        for &(pair, res) in merges {
            let mut m = FxHashMap::default();
            for (w, c) in &words {
                for x in w.windows(2) {
                    *m.entry((x[0], x[1])).or_insert(0) += c;
                }
            }
            out.push(m);
            for (w, _) in &mut words {
                let mut o = Vec::new();
                let mut i = 0;
                while i < w.len() {
                    if i + 1 < w.len() && (w[i], w[i + 1]) == pair {
                        o.push(res);
                        i += 2;
                    } else {
                        o.push(w[i]);
                        i += 1;
                    }
                }
                *w = o;
            }
        }
        out
    }

    #[test]
    fn trajectory_matches_naive_recount() {
        let train = "the cat sat on the mat. the hat is that cat's. ".repeat(20);
        let tok = tok_from(&train, 300);
        let merges = merge_list(&tok, usize::MAX).unwrap();
        let sample = "that mat, the rat and a hat: these cats sat. aaaa";
        let pc = count_sample(&tok, &[sample]).unwrap();
        let tr = replay(&tok, &merges, &pc).unwrap();
        let expect = naive_counts(&tok, &merges, sample);
        let mut cur: FxHashMap<Pair, u64> = FxHashMap::default();
        for &(l, c) in &tr.initial {
            cur.insert(tr.pairs[l as usize], c as u64);
        }
        for (t, want) in expect.iter().enumerate() {
            let nonzero: FxHashMap<Pair, u64> = cur
                .iter()
                .filter(|(_, &c)| c > 0)
                .map(|(&p, &c)| (p, c))
                .collect();
            assert_eq!(&nonzero, want, "state before merge {t}");
            assert_eq!(
                tr.merge_count[t] as u64,
                want.get(&merges[t].0).copied().unwrap_or(0)
            );
            let (a, b) = (tr.step_start[t] as usize, tr.step_start[t + 1] as usize);
            for &(l, c) in &tr.changes[a..b] {
                cur.insert(tr.pairs[l as usize], c as u64);
            }
        }
    }

    #[test]
    fn join_reports_merges_absent_everywhere() {
        let tok = tok_from(&"abab cdcd ".repeat(10), 260);
        let merges = merge_list(&tok, usize::MAX).unwrap();
        let a = Attack::build(&tok, merges, &[vec!["abab ab"], vec!["xyz"]], 1).unwrap();
        assert_eq!(a.categories.len(), 2);
        let names: Vec<bool> = a.merge_global.iter().map(Option::is_some).collect();
        // (a, b) is in the first sample; pairs with c or d are in neither.
        let ab = a
            .merges
            .iter()
            .position(|m| m.0 == (b'a' as u32, b'b' as u32))
            .unwrap();
        assert!(names[ab]);
        let cd = a
            .merges
            .iter()
            .position(|m| m.0 == (b'c' as u32, b'd' as u32))
            .unwrap();
        assert!(!names[cd]);
        assert!(a.categories[1].absent() == a.steps());
        let empty: Vec<Vec<&str>> = vec![vec!["ab"], vec![""]];
        let e = Attack::build(&tok, merge_list(&tok, 4).unwrap(), &empty, 1).unwrap_err();
        assert!(e.to_string().contains("category 1"), "{e}");
    }
}
