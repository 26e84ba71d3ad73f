//! Supertoken learning: SuperBPE's two-stage curriculum (Liu et al. 2025, arXiv 2503.13423;
//! reference: PythonNut/superbpe with the HF fork alisawuffles/tokenizers-superbpe).
//!
//! 1. **Stage 1** is ordinary BPE ([`crate::train::train_from_counts`]) with the usual
//!    pretokenizer, up to `transition` tokens: its merges are exactly those of `train` with
//!    `vocab_size = transition`.
//! 2. **Stage 2** re-pretokenizes the same text with the superword delimiters (by default
//!    [`SUPERBPE_PATTERN`](crate::pretok::SUPERBPE_PATTERN): words stay together across single
//!    spaces, digit groups, runs of two or more punctuation marks and runs of spaces are split
//!    off), replays stage 1's merges on those pieces and continues with the trainer's policy up
//!    to `vocab_size`, refusing merges whose token would span more than `max_words` words or
//!    contain a colon followed by a space ([`shape`]). See [`stage2`] for the phases, the exact
//!    memory savings and the two approximations (`max_pretoken_words`, `prune_below`).
//!
//! Both stages count the corpus in one streamed pass ([`crate::count`], two counters fed the same
//! chunks). The result is an ordinary [`Tokenizer`](crate::Tokenizer): the stage-2 pretokenizer
//! and the merges of both stages by rank, encoded by the shared encoder and saved as HF
//! `tokenizer.json` (`Split(Regex, Isolated)` + `ByteLevel`).
//!
//! Bounded document chunks: files are cut into ~1 MB chunks at lone newlines (as for `train`);
//! the stage-2 pattern keeps newlines inside pieces, so the piece holding such a cut is split in
//! two there (one piece per megabyte; iterator documents are never cut).

pub mod shape;
pub mod stage2;

use std::time::Instant;

use crate::count::{count_parallel, Chunk, Counter, PretokenCounts, Utf8Errors};
use crate::error::{Error, Result};
use crate::pretok::Pretokenizer;
use crate::progress::Progress;
use crate::train::{TrainConfig, TrainStats};
use crate::vocab::Vocab;

pub use shape::{Constraints, Shape};
pub use stage2::{Stage2Params, Stage2Stats};

/// SuperBPE parameters (the corpus and the stage-1 pattern come separately).
#[derive(Debug, Clone)]
pub struct SuperConfig {
    /// Final vocabulary size, `min_frequency`, `max_token_length`, special tokens, progress:
    /// as for ordinary training (`min_frequency` and `max_token_length` apply to both stages).
    pub train: TrainConfig,
    /// Vocabulary size at the end of stage 1 (counted like `vocab_size`: bytes, learned tokens
    /// and special tokens).
    pub transition: usize,
    /// Stage-2 pretokenizer: `superbpe` (the paper's delimiters) or any regex used as
    /// delimiters (`Split(Isolated)`: matches and the text between them are pieces).
    pub stage2_pattern: String,
    /// Stage-2 tokens span at most this many words (paper: 4; `None`: no limit).
    pub max_words: Option<u32>,
    /// Refuse stage-2 tokens containing `: ` (paper: yes).
    pub no_colon_space: bool,
    /// Approximation: cut stage-2 pieces after this many words (`None`: never).
    pub max_pretoken_words: Option<usize>,
    /// Approximation: cut at junctions whose pair count after the replay is below this.
    pub prune_below: u64,
}

impl SuperConfig {
    pub fn validate(&self) -> Result<()> {
        self.train.validate()?;
        let min = 256 + self.train.special_tokens.len();
        if self.transition < min || self.transition > self.train.vocab_size {
            return Err(Error::invalid(format!(
                "transition {} must lie between {min} (256 bytes + special tokens) and \
                 vocab_size {}",
                self.transition, self.train.vocab_size
            )));
        }
        if self.max_words == Some(0) {
            return Err(Error::invalid("max_words must be at least 1 (or None)"));
        }
        if self.max_pretoken_words == Some(0) {
            return Err(Error::invalid(
                "max_pretoken_words must be at least 1 (or None)",
            ));
        }
        Ok(())
    }
}

/// Figures of a SuperBPE run.
#[derive(Debug, Clone, Default)]
pub struct SuperStats {
    /// Stage 1 as [`TrainStats`] (on the stage-1 pretokens).
    pub stage1: TrainStats,
    pub stage2: Stage2Stats,
    pub seconds_count: f64,
    /// Resident set size (bytes, Linux only; 0 elsewhere) after counting and at the end.
    pub rss_after_count: u64,
    pub rss_end: u64,
}

/// Hand the allocator's free memory back to the operating system (glibc's `malloc_trim`; a no-op
/// elsewhere). glibc keeps memory freed by small allocations (the counting maps, the pieces'
/// strings), much of it in the counting threads' arenas where the next phase cannot reuse it;
/// trimming between phases keeps it out of the peak. Cost: one walk of the free lists.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` has no preconditions: it only releases free memory that no live
    // allocation uses, and may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Current resident set size in bytes (Linux `/proc/self/statm`; 0 if unavailable).
pub fn current_rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn clone_chunk(c: &Chunk) -> Chunk {
    match c {
        Chunk::Text(s) => Chunk::Text(s.clone()),
        Chunk::Texts(v) => Chunk::Texts(v.clone()),
        Chunk::File { data, file, offset } => Chunk::File {
            data: data.clone(),
            file: *file,
            offset: *offset,
        },
    }
}

/// Count a corpus fed chunk by chunk with both pretokenizers in one pass: returns the stage-1
/// and the stage-2 counts. Each chunk goes to two pools of `threads` counting workers.
#[allow(clippy::too_many_arguments)]
pub fn count_both<F>(
    stage1: &Pretokenizer,
    stage2: &Pretokenizer,
    specials: &[String],
    threads: usize,
    errors: Utf8Errors,
    files: &[std::path::PathBuf],
    progress: &Progress,
    feed: F,
) -> Result<(PretokenCounts, PretokenCounts)>
where
    F: FnOnce(&(dyn Fn(Chunk) -> Result<()> + Sync)) -> Result<()>,
{
    let c1 = Counter::new(stage1.clone(), specials)?;
    let c2 = Counter::new(stage2.clone(), specials)?;
    let hidden = Progress::hidden();
    let mut second = None;
    let first = count_parallel(&c1, threads, errors, files, progress, |push1| {
        let inner = count_parallel(&c2, threads, errors, files, &hidden, |push2| {
            feed(&|chunk: Chunk| {
                push1(clone_chunk(&chunk))?;
                push2(chunk)
            })
        })?;
        second = Some(inner);
        Ok(())
    })?;
    let second = second.ok_or(Error::Interrupted)?;
    Ok((first, second))
}

/// Train SuperBPE on counted pretokens of both stages; `seconds_count` is how long counting
/// took (recorded in the figures).
pub fn train_from_counts(
    counts1: PretokenCounts,
    counts2: PretokenCounts,
    stage1_pretok: Pretokenizer,
    cfg: &SuperConfig,
    threads: usize,
    seconds_count: f64,
) -> Result<(crate::Tokenizer, SuperStats)> {
    cfg.validate()?;
    let stage2_pretok = Pretokenizer::new(&cfg.stage2_pattern)?;
    let mut stats = SuperStats {
        seconds_count,
        rss_after_count: current_rss(),
        ..Default::default()
    };
    let cfg1 = TrainConfig {
        vocab_size: cfg.transition,
        ..cfg.train.clone()
    };
    let (vocab1, st1) = crate::train::train_from_counts(&counts1, &cfg1)?;
    drop(counts1);
    drop(stage1_pretok);
    release_free_memory();
    stats.stage1 = st1;
    let mut tokens = vocab1.tokens().to_vec();
    let mut merges = vocab1.merges().to_vec();
    drop(vocab1);
    let bytes = counts2.bytes;
    let pieces: Vec<(Box<str>, u64)> = counts2.counts.into_iter().collect();
    let params = Stage2Params {
        constraints: Constraints {
            max_words: cfg.max_words,
            no_colon_space: cfg.no_colon_space,
        },
        max_pretoken_words: cfg.max_pretoken_words,
        prune_below: cfg.prune_below,
        min_frequency: cfg.train.min_frequency,
        max_token_length: cfg.train.max_token_length,
        target: cfg.train.vocab_size - cfg.train.special_tokens.len(),
        threads,
        progress: cfg.train.progress,
    };
    stats.stage2 = stage2::train_stage2(pieces, &mut tokens, &mut merges, &params)?;
    let n = tokens.len() as u32;
    let specials = cfg
        .train
        .special_tokens
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), n + i as u32))
        .collect();
    let vocab = Vocab::new(tokens, merges, specials)?;
    let st2 = &stats.stage2;
    let train_stats = TrainStats {
        corpus_bytes: bytes,
        pretokens: st2.pretokens,
        distinct_pretokens: st2.distinct_pretokens,
        corpus_tokens: st2.corpus_tokens,
        merges: stats.stage1.merges + st2.merges,
        seconds_count,
        seconds_merge: stats.stage1.seconds_merge + st2.seconds_replay + st2.seconds_merge,
    };
    let tok = crate::Tokenizer::new(vocab, stage2_pretok)?.with_stats(train_stats);
    stats.rss_end = current_rss();
    Ok((tok, stats))
}

/// Count a corpus fed chunk by chunk (see [`count_both`]) and train SuperBPE on it.
#[allow(clippy::too_many_arguments)]
pub fn train_fed<F>(
    stage1_pattern: &str,
    cfg: &SuperConfig,
    threads: usize,
    errors: Utf8Errors,
    files: &[std::path::PathBuf],
    total_bytes: Option<u64>,
    feed: F,
) -> Result<(crate::Tokenizer, SuperStats)>
where
    F: FnOnce(&(dyn Fn(Chunk) -> Result<()> + Sync)) -> Result<()>,
{
    cfg.validate()?;
    let p1 = Pretokenizer::new(stage1_pattern)?;
    let p2 = Pretokenizer::new(&cfg.stage2_pattern)?;
    let t0 = Instant::now();
    let bar = Progress::bytes(cfg.train.progress, "counting", total_bytes);
    let (c1, c2) = count_both(
        &p1,
        &p2,
        &cfg.train.special_tokens,
        threads,
        errors,
        files,
        &bar,
        feed,
    )?;
    bar.finish();
    train_from_counts(c1, c2, p1, cfg, threads, t0.elapsed().as_secs_f64())
}

/// Train SuperBPE on UTF-8 text files, streamed once.
pub fn train_files(
    paths: &[std::path::PathBuf],
    stage1_pattern: &str,
    cfg: &SuperConfig,
    threads: usize,
    errors: Utf8Errors,
) -> Result<(crate::Tokenizer, SuperStats)> {
    if paths.is_empty() {
        return Err(Error::invalid("no input files given"));
    }
    let total = crate::count::total_file_bytes(paths)?;
    train_fed(
        stage1_pattern,
        cfg,
        threads,
        errors,
        paths,
        Some(total),
        |push| crate::count::feed_files(paths, push),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vocab: usize, transition: usize) -> SuperConfig {
        SuperConfig {
            train: TrainConfig {
                vocab_size: vocab,
                min_frequency: 1,
                max_token_length: None,
                special_tokens: vec![],
                progress: false,
            },
            transition,
            stage2_pattern: "superbpe".into(),
            max_words: Some(4),
            no_colon_space: true,
            max_pretoken_words: None,
            prune_below: 0,
        }
    }

    fn counts(text: &str, pat: &str) -> PretokenCounts {
        let c = Counter::new(Pretokenizer::new(pat).unwrap(), &[]).unwrap();
        let mut pc = PretokenCounts::default();
        c.count_text(text, &mut pc).unwrap();
        pc
    }

    fn run(text: &str, c: &SuperConfig, threads: usize) -> crate::Tokenizer {
        let c1 = counts(text, "gpt2");
        let c2 = counts(text, &c.stage2_pattern);
        train_from_counts(c1, c2, Pretokenizer::Gpt2, c, threads, 0.0)
            .unwrap()
            .0
    }

    const TEXT: &str = "the cat sat on the mat. the cat sat on the hat: the end. \
        note: the cat sat on the mat again and again and again and again.\n";

    #[test]
    fn stage1_is_plain_bpe_and_constraints_hold() {
        let text = TEXT.repeat(20);
        let c = cfg(400, 280);
        let tok = run(&text, &c, 2);
        let (plain, _) =
            crate::train::train_from_counts(&counts(&text, "gpt2"), &cfg(280, 280).train).unwrap();
        let v = tok.vocab();
        let k = plain.merges().len();
        assert_eq!(&v.merges()[..k], plain.merges());
        assert!(v.merges().len() > k, "stage 2 learned nothing");
        for m in &v.merges()[k..] {
            let t = v.token(m.result).unwrap();
            let s = Shape::of(t);
            assert!(s.words <= 4, "{:?}", String::from_utf8_lossy(t));
            assert!(!s.colon_space, "{:?}", String::from_utf8_lossy(t));
        }
        // some stage-2 token crosses a space between words
        assert!(v.merges()[k..]
            .iter()
            .any(|m| Shape::of(v.token(m.result).unwrap()).words >= 2));
    }

    #[test]
    fn deterministic_across_threads_and_pruning_is_exact_at_one() {
        let text = TEXT.repeat(7) + &"a b c d e f g h i j k 12 3.. x".repeat(9);
        let c = cfg(450, 300);
        let a = run(&text, &c, 1);
        let b = run(&text, &c, 4);
        assert_eq!(a.vocab().merges(), b.vocab().merges());
        // prune_below = 1 cuts nothing: same as 0
        let mut c1 = c.clone();
        c1.prune_below = 1;
        assert_eq!(run(&text, &c1, 3).vocab().merges(), a.vocab().merges());
    }

    #[test]
    fn validates() {
        assert!(cfg(300, 301).validate().is_err());
        assert!(cfg(300, 255).validate().is_err());
        let mut c = cfg(300, 280);
        c.max_words = Some(0);
        assert!(c.validate().is_err());
    }
}
