//! PyO3 bindings: argument conversion, GIL release around all heavy work, and errors mapped to
//! Python exceptions. No algorithm lives here.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::{PyFileNotFoundError, PyKeyboardInterrupt, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyTuple};
use rayon::prelude::*;
use rustc_hash::FxHashSet;

use crate::count::{self, Chunk, Utf8Errors};
use crate::encode::MergeRule;
use crate::error::Error;
use crate::formats::{self, hf, tiktoken, write_atomic};
use crate::pretok::Pretokenizer;
use crate::train::{self, TrainConfig};
use crate::Tokenizer;

// One file per capability; each has `register(m)` adding its classes and functions.
mod corpus;
mod dynamic;
mod ids;
mod mixture;
mod supertoken;
mod texts;

fn parse_rule(name: &str) -> PyResult<MergeRule> {
    match name {
        "merges" => Ok(MergeRule::Merges),
        "whole_then_merges" => Ok(MergeRule::WholeThenMerges),
        "ranks" => Ok(MergeRule::Ranks),
        other => Err(PyValueError::new_err(format!(
            "unknown merge rule {other:?}: expected 'merges', 'whole_then_merges' or 'ranks'"
        ))),
    }
}

pub(crate) fn to_py(e: Error) -> PyErr {
    match e {
        Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(e.to_string())
        }
        Error::Io { .. } => PyOSError::new_err(e.to_string()),
        Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        other => PyValueError::new_err(other.to_string()),
    }
}

pub(crate) fn threads(n: Option<usize>) -> usize {
    n.filter(|&n| n > 0).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// A byte-level BPE tokenizer (immutable; safe to share between threads).
#[pyclass(frozen, module = "bytepair._core", name = "Tokenizer")]
pub struct PyTokenizer {
    pub(crate) inner: Arc<Tokenizer>,
}

impl PyTokenizer {
    pub(crate) fn wrap(t: Tokenizer) -> Self {
        Self { inner: Arc::new(t) }
    }
}

/// Feed the `str` items of a Python iterator to `push` in ~1 MB batches, the GIL released while
/// each batch is handed over (the counting threads work meanwhile), Ctrl-C checked once per
/// batch. A Python error (an item that is not a str, an exception raised by the iterator,
/// KeyboardInterrupt) is stored in `py_err` and stops the feed with `Error::Interrupted`; the
/// caller raises it.
pub(crate) fn feed_texts(
    py: Python<'_>,
    iter: Bound<'_, pyo3::types::PyIterator>,
    py_err: &mut Option<PyErr>,
    push: &(dyn Fn(Chunk) -> crate::error::Result<()> + Sync),
) -> crate::error::Result<()> {
    const BATCH: usize = 1 << 20;
    let mut batch: Vec<String> = Vec::new();
    let mut size = 0usize;
    for item in iter {
        let s: String = match item.and_then(|o| o.extract::<String>()) {
            Ok(s) => s,
            Err(e) => {
                *py_err = Some(e);
                return Err(Error::Interrupted);
            }
        };
        size += s.len();
        batch.push(s);
        if size >= BATCH {
            // Once per ~1 MB batch: cheap, and Ctrl-C is seen promptly.
            if let Err(e) = py.check_signals() {
                *py_err = Some(e);
                return Err(Error::Interrupted);
            }
            let b = std::mem::take(&mut batch);
            size = 0;
            py.detach(|| push(Chunk::Texts(b)))?;
        }
    }
    if !batch.is_empty() {
        py.detach(|| push(Chunk::Texts(batch)))?;
    }
    Ok(())
}

fn set(v: &[String]) -> FxHashSet<&str> {
    v.iter().map(String::as_str).collect()
}

fn check_ids(ids: &[i64], size: usize) -> PyResult<Vec<u32>> {
    ids.iter()
        .enumerate()
        .map(|(i, &id)| {
            if id < 0 || id as u64 > u32::MAX as u64 {
                Err(PyValueError::new_err(format!(
                    "invalid token id {id} at position {i} (vocabulary size {size})"
                )))
            } else {
                Ok(id as u32)
            }
        })
        .collect()
}

#[pymethods]
impl PyTokenizer {
    /// Encode, treating special tokens as plain text.
    fn encode_ordinary<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyList>> {
        let t = &self.inner;
        let ids = py.detach(|| t.encode_ordinary(text)).map_err(to_py)?;
        self.id_list(py, &ids)
    }

    /// Encode (tiktoken's rules): a token of `disallowed` in the text raises ValueError, tokens
    /// of `allowed` become their ids. `num_threads` > 1 cuts a large text into parallel chunks.
    #[pyo3(signature = (text, allowed=Vec::new(), disallowed=Vec::new(), num_threads=1))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: Vec<String>,
        disallowed: Vec<String>,
        num_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let t = &self.inner;
        let n = threads(num_threads);
        let (allowed, disallowed) = (set(&allowed), set(&disallowed));
        if n > 1 && text.len() >= ids::CHUNKED_MIN_BYTES {
            if let Some(list) = self.encode_list(py, text, &allowed, &disallowed, n)? {
                return Ok(list);
            }
        }
        let ids = py
            .detach(|| t.encode(text, &allowed, &disallowed, n))
            .map_err(to_py)?;
        self.id_list(py, &ids)
    }

    /// Number of tokens of `encode(text, allowed, disallowed)`.
    #[pyo3(signature = (text, allowed=Vec::new(), disallowed=Vec::new()))]
    fn count_tokens(
        &self,
        py: Python<'_>,
        text: &str,
        allowed: Vec<String>,
        disallowed: Vec<String>,
    ) -> PyResult<usize> {
        let t = &self.inner;
        py.detach(|| t.count_tokens(text, &set(&allowed), &set(&disallowed)))
            .map_err(to_py)
    }

    /// Encode many texts in parallel (GIL released). The texts (a list, tuple or other sequence
    /// of str) are borrowed as the strs' UTF-8 (see [`texts::BatchTexts`]), not copied.
    #[pyo3(signature = (texts, allowed=Vec::new(), disallowed=Vec::new(), num_threads=None))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        allowed: Vec<String>,
        disallowed: Vec<String>,
        num_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let batch = texts::BatchTexts::new(texts)?;
        let texts = batch.strs();
        let t = &self.inner;
        let n = threads(num_threads);
        let (allowed, disallowed) = (set(&allowed), set(&disallowed));
        if t.few_large(&texts, n) {
            let all = py
                .detach(|| t.encode_batch(&texts, &allowed, &disallowed, n))
                .map_err(to_py)?;
            let slices: Vec<&[u32]> = all.iter().map(Vec::as_slice).collect();
            return self.id_lists(py, &slices);
        }
        let total: usize = texts.iter().map(|x| x.len()).sum();
        if n > 1 && total >= ids::CHUNKED_MIN_BYTES {
            let lists = self.encode_batch_lists(py, &texts, &allowed, &disallowed, n)?;
            if let Some(lists) = lists {
                return Ok(lists);
            }
        }
        let blocks = py
            .detach(|| t.encode_batch_blocks(&texts, &allowed, &disallowed, n))
            .map_err(to_py)?;
        self.id_lists(py, &block_texts(&blocks))
    }

    /// `encode_batch` flattened: (ids as native-endian uint32 bytes, offsets as native-endian
    /// int64 bytes, `len(texts) + 1` of them), each in a `bytearray` (so the numpy arrays made
    /// on them are writable). No Python object per token; the ids are copied once, from the
    /// encoder's parts into the buffer.
    #[pyo3(signature = (texts, allowed=Vec::new(), disallowed=Vec::new(), num_threads=None))]
    fn encode_batch_flat<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        allowed: Vec<String>,
        disallowed: Vec<String>,
        num_threads: Option<usize>,
    ) -> PyResult<(Bound<'py, PyByteArray>, Bound<'py, PyByteArray>)> {
        let batch = texts::BatchTexts::new(texts)?;
        let texts = batch.strs();
        let t = &self.inner;
        let n = threads(num_threads);
        let (allowed, disallowed) = (set(&allowed), set(&disallowed));
        // The ids in consecutive runs (the parts of each text, or blocks of texts), and the
        // offsets of the texts.
        let (runs, offsets) = if t.few_large(&texts, n) {
            let per_text = py
                .detach(|| t.encode_batch_parts(&texts, &allowed, &disallowed, n))
                .map_err(to_py)?;
            let offsets = part_offsets(&per_text);
            (per_text.into_iter().flatten().collect::<Vec<_>>(), offsets)
        } else {
            let blocks = py
                .detach(|| t.encode_batch_blocks(&texts, &allowed, &disallowed, n))
                .map_err(to_py)?;
            let mut offsets = Vec::with_capacity(texts.len() + 1);
            offsets.push(0i64);
            let mut base = 0;
            for (ids, ends) in &blocks {
                offsets.extend(ends.iter().map(|&e| (base + e) as i64));
                base += ids.len();
            }
            (blocks.into_iter().map(|(ids, _)| ids).collect(), offsets)
        };
        let ids = ids_bytearray(py, &runs, n)?;
        let offsets = PyByteArray::new_with(py, offsets.len() * 8, |buf| {
            for (b, o) in buf.chunks_exact_mut(8).zip(&offsets) {
                b.copy_from_slice(&o.to_ne_bytes());
            }
            Ok(())
        })?;
        Ok((ids, offsets))
    }

    /// `decode_bytes` of each id list.
    fn decode_bytes_batch<'py>(
        &self,
        py: Python<'py>,
        batch: Vec<Vec<i64>>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let size = self.inner.vocab().size();
        let batch: Vec<Vec<u32>> = batch
            .iter()
            .map(|ids| check_ids(ids, size))
            .collect::<PyResult<_>>()?;
        let t = &self.inner;
        let out = py.detach(|| t.decode_batch(&batch)).map_err(to_py)?;
        Ok(out.iter().map(|b| PyBytes::new(py, b)).collect())
    }

    /// The first special token in `text` that is in `among` (any special token if `None`).
    #[pyo3(signature = (text, among=None))]
    fn find_special(&self, text: &str, among: Option<Vec<String>>) -> Option<String> {
        let set: Option<FxHashSet<&str>> = among
            .as_ref()
            .map(|v| v.iter().map(String::as_str).collect());
        self.inner
            .find_special(text, set.as_ref())
            .map(str::to_string)
    }

    fn decode_bytes<'py>(&self, py: Python<'py>, ids: Vec<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let ids = check_ids(&ids, self.inner.vocab().size())?;
        let t = &self.inner;
        let b = py.detach(|| t.decode_bytes(&ids)).map_err(to_py)?;
        Ok(PyBytes::new(py, &b))
    }

    /// Total vocabulary size (regular + special tokens).
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab().size()
    }

    /// Number of regular (non-special) tokens.
    #[getter]
    fn num_regular_tokens(&self) -> usize {
        self.inner.vocab().num_tokens()
    }

    /// The split regex, or None for the `none` pretokenizer.
    #[getter]
    fn pattern(&self) -> Option<String> {
        self.inner.pretokenizer().pattern().map(str::to_string)
    }

    /// `gpt2`, `cl100k`, `o200k`, `none` or `custom`.
    #[getter]
    fn pretokenizer(&self) -> &'static str {
        self.inner.pretokenizer().name()
    }

    fn merges<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let v = self.inner.vocab();
        let items: Vec<Bound<'py, PyTuple>> = v
            .merges()
            .iter()
            .map(|m| {
                let a = PyBytes::new(py, v.token(m.pair.0).unwrap_or_default());
                let b = PyBytes::new(py, v.token(m.pair.1).unwrap_or_default());
                PyTuple::new(py, [a, b])
            })
            .collect::<PyResult<_>>()?;
        PyList::new(py, items)
    }

    /// Merges as `(left id, right id, result id)`.
    fn merge_ids(&self) -> Vec<(u32, u32, u32)> {
        self.inner
            .vocab()
            .merges()
            .iter()
            .map(|m| (m.pair.0, m.pair.1, m.result))
            .collect()
    }

    fn special_tokens<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (s, id) in self.inner.vocab().specials() {
            d.set_item(s, id)?;
        }
        Ok(d)
    }

    fn get_vocab<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (id, t) in self.inner.vocab().tokens().iter().enumerate() {
            d.set_item(PyBytes::new(py, t), id)?;
        }
        Ok(d)
    }

    fn token_to_id(&self, token: &[u8]) -> Option<u32> {
        let v = self.inner.vocab();
        v.id(token).or_else(|| {
            std::str::from_utf8(token)
                .ok()
                .and_then(|s| v.special_id(s))
        })
    }

    fn id_to_token<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyBytes>> {
        let ids = check_ids(&[id], self.inner.vocab().size())?;
        match self.inner.vocab().bytes_of(ids[0]) {
            Some(b) => Ok(PyBytes::new(py, b)),
            None => Err(PyValueError::new_err(format!(
                "invalid token id {id} (vocabulary size {})",
                self.inner.vocab().size()
            ))),
        }
    }

    /// Figures of the training run that produced this tokenizer (None if loaded).
    fn train_stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(s) = self.inner.stats() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("corpus_bytes", s.corpus_bytes)?;
        d.set_item("pretokens", s.pretokens)?;
        d.set_item("distinct_pretokens", s.distinct_pretokens)?;
        d.set_item("corpus_tokens", s.corpus_tokens)?;
        d.set_item("bytes_per_token", s.bytes_per_token())?;
        d.set_item("merges", s.merges)?;
        d.set_item("seconds_count", s.seconds_count)?;
        d.set_item("seconds_merge", s.seconds_merge)?;
        Ok(Some(d))
    }

    /// HF `tokenizer.json` text.
    fn to_json(&self, py: Python<'_>) -> String {
        let t = &self.inner;
        py.detach(|| hf::to_json(t))
    }

    /// tiktoken rank file text.
    fn to_tiktoken(&self, py: Python<'_>) -> String {
        let t = &self.inner;
        py.detach(|| tiktoken::to_rank_file(t.vocab()))
    }

    /// Save as HF `tokenizer.json` (atomic).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let t = &self.inner;
        py.detach(|| write_atomic(&path, hf::to_json(t).as_bytes()))
            .map_err(to_py)
    }

    /// Save as a tiktoken rank file (atomic).
    fn save_tiktoken(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let t = &self.inner;
        py.detach(|| write_atomic(&path, tiktoken::to_rank_file(t.vocab()).as_bytes()))
            .map_err(to_py)
    }

    /// Parse `tokenizer.json` text (`origin` names it in errors). `merge_rule` overrides the
    /// rule the JSON implies (used by pickling, which must restore a rank-file tokenizer's
    /// tiktoken rule: `tokenizer.json` has no field for it).
    #[staticmethod]
    #[pyo3(signature = (text, origin="<string>", merge_rule=None))]
    fn from_json(
        py: Python<'_>,
        text: &str,
        origin: &str,
        merge_rule: Option<&str>,
    ) -> PyResult<Self> {
        let rule = merge_rule.map(parse_rule).transpose()?;
        let origin = PathBuf::from(origin);
        py.detach(|| {
            let t = hf::from_json(text.as_bytes(), &origin)?;
            match rule {
                Some(r) if r != t.encoder().rule() => t.with_merge_rule(r),
                _ => Ok(t),
            }
        })
        .map(Self::wrap)
        .map_err(to_py)
    }

    /// The encoder's merge rule: `merges` (HF), `whole_then_merges` (HF `ignore_merges`) or
    /// `ranks` (tiktoken).
    fn merge_rule(&self) -> &'static str {
        match self.inner.encoder().rule() {
            MergeRule::Merges => "merges",
            MergeRule::WholeThenMerges => "whole_then_merges",
            MergeRule::Ranks => "ranks",
        }
    }

    /// Load a tokenizer file of any supported kind, told by content (`formats::load`).
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        py.detach(|| formats::load(&path, &formats::LoadOptions::default()))
            .map(Self::wrap)
            .map_err(to_py)
    }

    /// `formats::load` with its options: `special_tokens` None = what the file says;
    /// `default_specials` = the known special tokens (tiktoken encodings, GPT-2's vocab.json);
    /// `merges` = GPT-2 merges.txt when `path` is a vocab.json.
    #[staticmethod]
    #[pyo3(signature = (path, pattern=None, special_tokens=None, default_specials=false, merges=None))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        pattern: Option<String>,
        special_tokens: Option<Vec<(String, Option<u32>)>>,
        default_specials: bool,
        merges: Option<PathBuf>,
    ) -> PyResult<Self> {
        let specials = match (special_tokens, default_specials) {
            (Some(_), true) => {
                return Err(PyValueError::new_err(
                    "give special_tokens or default_specials, not both",
                ))
            }
            (Some(list), false) => formats::SpecialTokens::Given(list),
            (None, true) => formats::SpecialTokens::Default,
            (None, false) => formats::SpecialTokens::FromFile,
        };
        let opts = formats::LoadOptions {
            pattern: pattern.as_deref(),
            specials,
            merges: merges.as_deref(),
        };
        py.detach(|| formats::load(&path, &opts))
            .map(Self::wrap)
            .map_err(to_py)
    }

    /// Load a tiktoken rank file with a pattern (preset name or regex) and special tokens
    /// (`default_specials`: those of the OpenAI encoding the pattern names).
    #[staticmethod]
    #[pyo3(signature = (path, pattern, special_tokens=Vec::new(), default_specials=false))]
    fn from_tiktoken(
        py: Python<'_>,
        path: PathBuf,
        pattern: &str,
        special_tokens: Vec<(String, u32)>,
        default_specials: bool,
    ) -> PyResult<Self> {
        py.detach(|| {
            let pretok = Pretokenizer::new(pattern)?;
            let specials = if default_specials {
                tiktoken::default_specials(pattern).ok_or_else(|| {
                    Error::invalid(format!(
                        "no default special tokens for pattern {pattern:?} (name an OpenAI encoding)"
                    ))
                })?
            } else {
                special_tokens
            };
            let data = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let vocab = tiktoken::from_rank_file(&data, &path, specials)?;
            // tiktoken's own merge rule (rank of the concatenation), exact by construction.
            Tokenizer::new(vocab, pretok)?.with_merge_rule(MergeRule::Ranks)
        })
        .map(Self::wrap)
        .map_err(to_py)
    }
}

fn config(
    vocab_size: usize,
    special_tokens: Vec<String>,
    min_frequency: u64,
    max_token_length: Option<usize>,
    progress: Option<bool>,
) -> TrainConfig {
    TrainConfig {
        vocab_size,
        min_frequency,
        max_token_length,
        special_tokens,
        progress: crate::progress::Progress::enabled(progress),
    }
}

/// Train on text files (read and counted in parallel with the GIL released).
#[pyfunction]
#[pyo3(signature = (paths, vocab_size, pattern, special_tokens, min_frequency, max_token_length, num_threads, progress, errors))]
#[allow(clippy::too_many_arguments)]
fn train_files(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    vocab_size: usize,
    pattern: &str,
    special_tokens: Vec<String>,
    min_frequency: u64,
    max_token_length: Option<usize>,
    num_threads: Option<usize>,
    progress: Option<bool>,
    errors: &str,
) -> PyResult<PyTokenizer> {
    let errors: Utf8Errors = errors.parse().map_err(to_py)?;
    let cfg = config(
        vocab_size,
        special_tokens,
        min_frequency,
        max_token_length,
        progress,
    );
    let n = threads(num_threads);
    py.detach(|| train::train_files(&paths, pattern, &cfg, n, errors))
        .map(PyTokenizer::wrap)
        .map_err(to_py)
}

/// Train on an iterable of str. The iterable is consumed on this thread (it needs the GIL);
/// counting runs on worker threads without it, and merging with the GIL released.
#[pyfunction]
#[pyo3(signature = (texts, vocab_size, pattern, special_tokens, min_frequency, max_token_length, num_threads, progress))]
#[allow(clippy::too_many_arguments)]
fn train_iter(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    vocab_size: usize,
    pattern: &str,
    special_tokens: Vec<String>,
    min_frequency: u64,
    max_token_length: Option<usize>,
    num_threads: Option<usize>,
    progress: Option<bool>,
) -> PyResult<PyTokenizer> {
    let cfg = config(
        vocab_size,
        special_tokens,
        min_frequency,
        max_token_length,
        progress,
    );
    cfg.validate().map_err(to_py)?;
    let pretok = Pretokenizer::new(pattern).map_err(|e| to_py(e.into()))?;
    let counter = count::Counter::new(pretok.clone(), &cfg.special_tokens).map_err(to_py)?;
    let n = threads(num_threads);
    let iter = texts.try_iter()?;
    let bar = crate::progress::Progress::bytes(cfg.progress, "counting", None);
    let mut py_err: Option<PyErr> = None;
    let t0 = std::time::Instant::now();
    let counts = count::count_parallel(&counter, n, Utf8Errors::Strict, &[], &bar, |push| {
        feed_texts(py, iter, &mut py_err, push)
    });
    bar.finish();
    if let Some(e) = py_err {
        return Err(e);
    }
    let counts = counts.map_err(to_py)?;
    let seconds_count = t0.elapsed().as_secs_f64();
    py.detach(|| train::tokenizer_from_counts(&counts, pretok, &cfg, seconds_count))
        .map(PyTokenizer::wrap)
        .map_err(to_py)
}

/// Split text into pretokens with a preset or regex (for inspection and tests).
#[pyfunction]
fn pretokenize(py: Python<'_>, pattern: &str, text: &str) -> PyResult<Vec<String>> {
    py.detach(|| {
        let p = Pretokenizer::new(pattern)?;
        Ok::<_, Error>(p.pieces(text)?.into_iter().map(str::to_string).collect())
    })
    .map_err(to_py)
}

#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTokenizer>()?;
    m.add_function(wrap_pyfunction!(train_files, m)?)?;
    m.add_function(wrap_pyfunction!(train_iter, m)?)?;
    m.add_function(wrap_pyfunction!(pretokenize, m)?)?;
    corpus::register(m)?;
    dynamic::register(m)?;
    mixture::register(m)?;
    supertoken::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// The ids of each text of `encode_batch_blocks`'s blocks, in order.
fn block_texts(blocks: &[(Vec<u32>, Vec<usize>)]) -> Vec<&[u32]> {
    let mut out = Vec::with_capacity(blocks.iter().map(|b| b.1.len()).sum());
    for (ids, ends) in blocks {
        let mut start = 0;
        for &end in ends {
            out.push(&ids[start..end]);
            start = end;
        }
    }
    out
}

/// A new bytearray holding the ids of `runs`, one after the other, as native-endian bytes,
/// copied on `threads` threads (each run to its own place) with the GIL released. The bytearray
/// is made without zero-filling it first (`PyByteArray::new_with` zeroes it: a serial pass over
/// 4 bytes per id, ~0.8 ms for 20 MB of English): every byte is written by the copy before
/// Python can see the object.
fn ids_bytearray<'py>(
    py: Python<'py>,
    runs: &[Vec<u32>],
    threads: usize,
) -> PyResult<Bound<'py, PyByteArray>> {
    /// The bytearray's buffer, shared by the copying threads (each writes disjoint bytes).
    #[derive(Clone, Copy)]
    struct Dest(*mut u8);
    // SAFETY: the buffer is written only by the copy below, each byte by exactly one run, and
    // read only after all of them are joined; nothing else knows the address until then.
    unsafe impl Send for Dest {}
    unsafe impl Sync for Dest {}
    impl Dest {
        /// (a method, so closures capture the `Sync` wrapper, not the raw pointer inside it)
        fn at(self, offset: usize) -> *mut u8 {
            self.0.wrapping_add(offset)
        }
    }

    let total: usize = runs.iter().map(Vec::len).sum();
    let len = total
        .checked_mul(4)
        .and_then(|b| isize::try_from(b).ok())
        .ok_or_else(|| PyValueError::new_err("too many ids for one bytearray"))?;
    // SAFETY: GIL held. With NULL data, `PyByteArray_FromStringAndSize` returns a new bytearray
    // of `len` bytes whose contents are left unset, or NULL with an exception set (checked by
    // `from_owned_ptr_or_err`). The object is a bytearray (its constructor's result).
    let array = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyByteArray_FromStringAndSize(std::ptr::null(), len),
        )?
        .cast_into_unchecked::<PyByteArray>()
    };
    // SAFETY: GIL held; `array` is a bytearray. Its buffer holds `len` bytes (plus a NUL).
    let dest = Dest(unsafe { pyo3::ffi::PyByteArray_AsString(array.as_ptr()) }.cast::<u8>());
    let mut starts = Vec::with_capacity(runs.len());
    let mut at = 0;
    for run in runs {
        starts.push(at);
        at += run.len() * 4;
    }
    let copy = |(run, &start): (&Vec<u32>, &usize)| {
        // SAFETY: the runs tile `0..len` (their lengths sum to `total`), so the `run.len() * 4`
        // bytes at `start` are inside the buffer and written by this run alone; the source is
        // the run's ids, whose bytes in memory are their native-endian bytes (u32 has no
        // padding), in a different allocation.
        unsafe {
            std::ptr::copy_nonoverlapping(run.as_ptr().cast::<u8>(), dest.at(start), run.len() * 4)
        }
    };
    py.detach(|| {
        let parallel = threads > 1 && total >= 1 << 18;
        let done = parallel
            && crate::encode::pool::install(threads, || {
                runs.par_iter().zip(starts.par_iter()).for_each(copy)
            })
            .is_ok();
        if !done {
            // (also when no pool could be started: the copy is still made, on this thread)
            runs.iter().zip(&starts).for_each(copy);
        }
    });
    Ok(array)
}

/// Offsets of the texts' ids in the concatenation of `per_text` (`len = per_text.len() + 1`):
/// the ids of text i are `[offsets[i], offsets[i + 1])` of it.
fn part_offsets(per_text: &[Vec<Vec<u32>>]) -> Vec<i64> {
    let mut offsets = Vec::with_capacity(per_text.len() + 1);
    offsets.push(0i64);
    let mut total = 0usize;
    for parts in per_text {
        total += parts.iter().map(Vec::len).sum::<usize>();
        offsets.push(total as i64);
    }
    offsets
}
