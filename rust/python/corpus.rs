//! Bindings of [`crate::corpus`]: packing encoded documents, pretoken-count files, training on
//! counts. Conversion, GIL release and error mapping only.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use super::{set, threads, to_py, PyTokenizer};
use crate::corpus::counts::{CountsFile, CountsHeader};
use crate::corpus::docs::DocSep;
use crate::corpus::tokens::{encode_documents, encode_text, identity, PackedBatch, TokenDtype};
use crate::count::Utf8Errors;
use crate::pretok::Pretokenizer;
use crate::train;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPretokenCounts>()?;
    m.add_function(wrap_pyfunction!(encode_documents_packed, m)?)?;
    m.add_function(wrap_pyfunction!(encode_text_packed, m)?)?;
    m.add_function(wrap_pyfunction!(tokenizer_identity, m)?)?;
    m.add_function(wrap_pyfunction!(encodes_in_pieces, m)?)?;
    m.add_function(wrap_pyfunction!(train_counts, m)?)?;
    Ok(())
}

/// Encode documents and pack them: (little-endian ids with `eot` after each document, as
/// bytes; the token count of each document, eot included, as native int64 bytes; the UTF-8
/// bytes of the documents).
#[pyfunction]
#[pyo3(signature = (tokenizer, texts, eot, itemsize, allowed=Vec::new(), disallowed=Vec::new(), num_threads=None))]
#[allow(clippy::too_many_arguments)]
fn encode_documents_packed<'py>(
    py: Python<'py>,
    tokenizer: &PyTokenizer,
    texts: Vec<String>,
    eot: Option<u32>,
    itemsize: usize,
    allowed: Vec<String>,
    disallowed: Vec<String>,
    num_threads: Option<usize>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>, u64)> {
    let dtype = TokenDtype::from_itemsize(itemsize).map_err(to_py)?;
    let t = &tokenizer.inner;
    let n = threads(num_threads);
    let packed = py
        .detach(|| encode_documents(t, &texts, eot, dtype, &set(&allowed), &set(&disallowed), n))
        .map_err(to_py)?;
    let data = PyBytes::new(py, &packed.data);
    let lengths = lengths_bytes(py, &packed)?;
    let nbytes = texts.iter().map(|t| t.len() as u64).sum();
    Ok((data, lengths, nbytes))
}

/// Whether a text cut at the safe points of `rust/encode/split.rs` (after a `\n` between a
/// printable ASCII byte and an ASCII letter) encodes piece by piece to the same ids: a preset
/// pattern and no normalizer.
#[pyfunction]
fn encodes_in_pieces(tokenizer: &PyTokenizer) -> bool {
    let t = &tokenizer.inner;
    t.normalizer().is_none()
        && matches!(
            t.pretokenizer(),
            Pretokenizer::Gpt2 | Pretokenizer::Cl100k | Pretokenizer::O200k
        )
}

/// Canonical bytes of everything that decides how the tokenizer encodes (hash them).
#[pyfunction]
fn tokenizer_identity<'py>(py: Python<'py>, tokenizer: &PyTokenizer) -> Bound<'py, PyBytes> {
    let t = &tokenizer.inner;
    let b = py.detach(|| identity(t));
    PyBytes::new(py, &b)
}

fn lengths_bytes<'py>(py: Python<'py>, packed: &PackedBatch) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, packed.lengths.len() * 8, |buf| {
        for (b, l) in buf.chunks_exact_mut(8).zip(&packed.lengths) {
            b.copy_from_slice(&(*l as i64).to_ne_bytes());
        }
        Ok(())
    })
}

/// `encode_documents_packed` of the documents of a block of a UTF-8 text file, split by
/// `doc_sep` (`file`, `blank-line`, `line`) in Rust: (ids, lengths, document bytes).
/// `origin` and `offset` name the place of invalid UTF-8 (`errors="strict"`).
#[pyfunction]
#[pyo3(signature = (tokenizer, data, doc_sep, eot, itemsize, errors, origin, offset, num_threads=None))]
#[allow(clippy::too_many_arguments)]
fn encode_text_packed<'py>(
    py: Python<'py>,
    tokenizer: &PyTokenizer,
    data: &[u8],
    doc_sep: &str,
    eot: Option<u32>,
    itemsize: usize,
    errors: &str,
    origin: PathBuf,
    offset: u64,
    num_threads: Option<usize>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>, u64)> {
    let dtype = TokenDtype::from_itemsize(itemsize).map_err(to_py)?;
    let sep: DocSep = doc_sep.parse().map_err(to_py)?;
    let errors: Utf8Errors = errors.parse().map_err(to_py)?;
    let t = &tokenizer.inner;
    let n = threads(num_threads);
    let (packed, nbytes) = py
        .detach(|| encode_text(t, data, sep, errors, &origin, offset, eot, dtype, n))
        .map_err(to_py)?;
    Ok((
        PyBytes::new(py, &packed.data),
        lengths_bytes(py, &packed)?,
        nbytes,
    ))
}

/// Pretoken counts with the pattern and special tokens they were made with; merge
/// associatively, save to / load from a versioned file (see `rust/corpus/counts.rs`).
#[pyclass(module = "bytepair._core", name = "PretokenCounts")]
pub struct PyPretokenCounts {
    inner: CountsFile,
}

#[pymethods]
impl PyPretokenCounts {
    /// Empty counts for `pattern` (preset name or regex) and `special_tokens`.
    #[new]
    #[pyo3(signature = (pattern="o200k", special_tokens=Vec::new()))]
    fn new(pattern: &str, special_tokens: Vec<String>) -> PyResult<Self> {
        let header = CountsHeader::new(pattern, &special_tokens).map_err(to_py)?;
        Ok(Self {
            inner: CountsFile::new(header),
        })
    }

    /// Count UTF-8 text files (streamed, in parallel, GIL released) and add them.
    #[pyo3(signature = (paths, num_threads=None, errors="strict", progress=None))]
    fn add_files(
        &mut self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        num_threads: Option<usize>,
        errors: &str,
        progress: Option<bool>,
    ) -> PyResult<()> {
        let errors: Utf8Errors = errors.parse().map_err(to_py)?;
        let n = threads(num_threads);
        let show = crate::progress::Progress::enabled(progress);
        let inner = &mut self.inner;
        py.detach(|| inner.count_files(&paths, n, errors, show))
            .map_err(to_py)
    }

    /// Count documents (GIL released) and add them.
    #[pyo3(signature = (texts, num_threads=None))]
    fn add_texts(
        &mut self,
        py: Python<'_>,
        texts: Vec<String>,
        num_threads: Option<usize>,
    ) -> PyResult<()> {
        let n = threads(num_threads);
        let inner = &mut self.inner;
        py.detach(|| inner.count_texts(&texts, n)).map_err(to_py)
    }

    /// Add the counts of `other` (same pattern, normalizer and special tokens).
    fn merge(&mut self, other: &Bound<'_, PyPretokenCounts>) -> PyResult<()> {
        let o = other.try_borrow()?.inner.clone();
        self.inner.merge(o).map_err(to_py)
    }

    /// Save atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| inner.save(&path)).map_err(to_py)
    }

    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        py.detach(|| CountsFile::load(&path))
            .map(|inner| Self { inner })
            .map_err(to_py)
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let inner = &self.inner;
        let b = py.detach(|| inner.to_bytes());
        PyBytes::new(py, &b)
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        py.detach(|| CountsFile::from_bytes(data, std::path::Path::new("<bytes>")))
            .map(|inner| Self { inner })
            .map_err(to_py)
    }

    /// Preset name (`gpt2`, `cl100k`, `o200k`, `none`) or the regex.
    #[getter]
    fn pattern(&self) -> String {
        self.inner.header.pattern.clone()
    }

    #[getter]
    fn normalizer(&self) -> Option<String> {
        self.inner.header.normalizer.clone()
    }

    /// Sorted.
    #[getter]
    fn special_tokens(&self) -> Vec<String> {
        self.inner.header.special_tokens.clone()
    }

    /// Bytes of text counted (special tokens excluded).
    #[getter]
    fn text_bytes(&self) -> u64 {
        self.inner.counts.bytes
    }

    /// Pretokens counted, with multiplicity.
    #[getter]
    fn total(&self) -> u64 {
        self.inner.counts.total()
    }

    fn __len__(&self) -> usize {
        self.inner.counts.counts.len()
    }

    /// `{piece: count}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.inner.counts.counts {
            d.set_item(&**k, *v)?;
        }
        Ok(d)
    }

    /// `(piece, count)` sorted by the piece's UTF-8 bytes.
    fn items(&self) -> Vec<(String, u64)> {
        self.inner
            .sorted()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        let Ok(o) = other.cast::<PyPretokenCounts>() else {
            return false;
        };
        let Ok(o) = o.try_borrow() else { return false };
        self.inner.header == o.inner.header
            && self.inner.counts.bytes == o.inner.counts.bytes
            && self.inner.counts.counts == o.inner.counts.counts
    }

    /// Pickle by the file bytes.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let ctor = py.get_type::<Self>().getattr("from_bytes")?;
        let data = slf.borrow().to_bytes(py);
        PyTuple::new(py, [ctor, PyTuple::new(py, [data])?.into_any()])
    }

    fn __repr__(&self) -> String {
        format!(
            "<bytepair.PretokenCounts pattern={:?} distinct={} total={} text_bytes={}>",
            self.inner.header.pattern,
            self.inner.counts.counts.len(),
            self.inner.counts.total(),
            self.inner.counts.bytes
        )
    }
}

/// Train on pretoken counts. `special_tokens` must be the set the counts were made with.
#[pyfunction]
#[pyo3(signature = (counts, vocab_size, special_tokens, min_frequency, max_token_length, progress))]
fn train_counts(
    py: Python<'_>,
    counts: &PyPretokenCounts,
    vocab_size: usize,
    special_tokens: Vec<String>,
    min_frequency: u64,
    max_token_length: Option<usize>,
    progress: Option<bool>,
) -> PyResult<PyTokenizer> {
    let mut sorted = special_tokens.clone();
    sorted.sort();
    sorted.dedup();
    let h = &counts.inner.header;
    if sorted != h.special_tokens {
        return Err(PyValueError::new_err(format!(
            "the counts were made with special tokens {:?}; train with the same set (got {:?}), \
             so that the text they cut out is the text training leaves out",
            h.special_tokens, special_tokens
        )));
    }
    let cfg = super::config(
        vocab_size,
        special_tokens,
        min_frequency,
        max_token_length,
        progress,
    );
    let pretok = h.pretokenizer().map_err(to_py)?;
    let c = &counts.inner.counts;
    py.detach(|| train::tokenizer_from_counts(c, pretok, &cfg, 0.0))
        .map(PyTokenizer::wrap)
        .map_err(to_py)
}
