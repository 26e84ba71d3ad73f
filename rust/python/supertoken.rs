//! Bindings of [`crate::supertoken`]: SuperBPE training on files or an iterable of str.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::{threads, to_py, PyTokenizer};
use crate::count::Utf8Errors;
use crate::pretok::Pretokenizer;
use crate::supertoken::{self, SuperConfig, SuperStats};
use crate::train::TrainConfig;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(train_superbpe_files, m)?)?;
    m.add_function(wrap_pyfunction!(train_superbpe_iter, m)?)?;
    Ok(())
}

/// The options shared by both entry points, as Python passes them (a dict).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct Options {
    vocab_size: usize,
    transition: usize,
    pattern: String,
    stage2_pattern: String,
    max_words: Option<u32>,
    no_colon_space: bool,
    max_pretoken_words: Option<usize>,
    prune_below: u64,
    special_tokens: Vec<String>,
    min_frequency: u64,
    max_token_length: Option<usize>,
    num_threads: Option<usize>,
    progress: Option<bool>,
}

impl Options {
    fn config(&self) -> SuperConfig {
        SuperConfig {
            train: TrainConfig {
                vocab_size: self.vocab_size,
                min_frequency: self.min_frequency,
                max_token_length: self.max_token_length,
                special_tokens: self.special_tokens.clone(),
                progress: crate::progress::Progress::enabled(self.progress),
            },
            transition: self.transition,
            stage2_pattern: self.stage2_pattern.clone(),
            max_words: self.max_words,
            no_colon_space: self.no_colon_space,
            max_pretoken_words: self.max_pretoken_words,
            prune_below: self.prune_below,
        }
    }
}

fn stats_dict<'py>(py: Python<'py>, s: &SuperStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let (a, b) = (&s.stage1, &s.stage2);
    d.set_item("seconds_count", s.seconds_count)?;
    d.set_item("stage1_seconds", a.seconds_merge)?;
    d.set_item("stage1_merges", a.merges)?;
    d.set_item("stage1_distinct_pretokens", a.distinct_pretokens)?;
    d.set_item("stage1_corpus_tokens", a.corpus_tokens)?;
    d.set_item("corpus_bytes", a.corpus_bytes)?;
    d.set_item("stage2_seconds_replay", b.seconds_replay)?;
    d.set_item("stage2_seconds_merge", b.seconds_merge)?;
    d.set_item("stage2_merges", b.merges)?;
    d.set_item("stage2_pretokens", b.pretokens)?;
    d.set_item("stage2_distinct_pretokens", b.distinct_pretokens)?;
    d.set_item("stage2_length_cuts", b.length_cuts)?;
    d.set_item("stage2_replay_tokens", b.replay_tokens)?;
    d.set_item("stage2_refused_cuts", b.refused_cuts)?;
    d.set_item("stage2_rare_cuts", b.rare_cuts)?;
    d.set_item("stage2_engine_sequences", b.engine_sequences)?;
    d.set_item("stage2_engine_symbols", b.engine_symbols)?;
    d.set_item("stage2_corpus_tokens", b.corpus_tokens)?;
    d.set_item("rss_after_count", s.rss_after_count)?;
    d.set_item("rss_end", s.rss_end)?;
    Ok(d)
}

/// Train SuperBPE on text files (read once, counted for both stages in parallel, GIL released).
/// Returns the tokenizer and a dict of figures.
#[pyfunction]
fn train_superbpe_files<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    options: Options,
    errors: &str,
) -> PyResult<(PyTokenizer, Bound<'py, PyDict>)> {
    let errors: Utf8Errors = errors.parse().map_err(to_py)?;
    let cfg = options.config();
    let n = threads(options.num_threads);
    let pattern = options.pattern.as_str();
    let (tok, stats) = py
        .detach(|| supertoken::train_files(&paths, pattern, &cfg, n, errors))
        .map_err(to_py)?;
    let d = stats_dict(py, &stats)?;
    Ok((PyTokenizer::wrap(tok), d))
}

/// Train SuperBPE on an iterable of str (each a whole document), consumed once on this thread.
#[pyfunction]
fn train_superbpe_iter<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    options: Options,
) -> PyResult<(PyTokenizer, Bound<'py, PyDict>)> {
    let cfg = options.config();
    cfg.validate().map_err(to_py)?;
    let n = threads(options.num_threads);
    let p1 = Pretokenizer::new(&options.pattern).map_err(|e| to_py(e.into()))?;
    let p2 = Pretokenizer::new(&cfg.stage2_pattern).map_err(|e| to_py(e.into()))?;
    let iter = texts.try_iter()?;
    let bar = crate::progress::Progress::bytes(cfg.train.progress, "counting", None);
    let mut py_err: Option<PyErr> = None;
    let t0 = std::time::Instant::now();
    let counted = supertoken::count_both(
        &p1,
        &p2,
        &cfg.train.special_tokens,
        n,
        Utf8Errors::Strict,
        &[],
        &bar,
        |push| super::feed_texts(py, iter, &mut py_err, push),
    );
    bar.finish();
    if let Some(e) = py_err {
        return Err(e);
    }
    let (c1, c2) = counted.map_err(to_py)?;
    let seconds_count = t0.elapsed().as_secs_f64();
    let (tok, stats) = py
        .detach(|| supertoken::train_from_counts(c1, c2, p1, &cfg, n, seconds_count))
        .map_err(to_py)?;
    let d = stats_dict(py, &stats)?;
    Ok((PyTokenizer::wrap(tok), d))
}
