//! Bindings of [`crate::dynamic`]: flat native-endian buffers in (bytes, as numpy's `tobytes()`
//! gives them), a dict of buffers out; the merging runs with the GIL released.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use super::{set, threads, to_py, PyTokenizer};
use crate::dynamic::{self, Boundary, DynamicBatch, DynamicConfig};
use crate::engine::TokenId;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(dynamic_merge, m)?)?;
    m.add_function(wrap_pyfunction!(encode_batch_dynamic, m)?)?;
    Ok(())
}

/// Native-endian fixed-size items of a byte buffer.
fn items<const N: usize>(buf: &[u8], what: &str) -> PyResult<Vec<[u8; N]>> {
    if buf.len() % N != 0 {
        return Err(PyValueError::new_err(format!(
            "{what}: buffer of {} bytes is not a whole number of {N}-byte items",
            buf.len()
        )));
    }
    Ok(buf
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
        .collect())
}

fn bytes_of<'py, T: Copy, const N: usize>(
    py: Python<'py>,
    v: &[T],
    to: impl Fn(T) -> [u8; N],
) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, v.len() * N, |buf| {
        for (b, &x) in buf.chunks_exact_mut(N).zip(v) {
            b.copy_from_slice(&to(x));
        }
        Ok(())
    })
}

fn config(
    max_merges: Option<usize>,
    target_reduction: Option<f64>,
    min_count: u64,
) -> DynamicConfig {
    DynamicConfig {
        max_merges,
        target_reduction,
        min_count,
    }
}

/// The result as a dict of buffers (see `python/bytepair/dynamic.py`, which wraps it).
fn to_dict<'py>(
    py: Python<'py>,
    b: &DynamicBatch,
    new_bytes: Option<Vec<Vec<u8>>>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("ids", bytes_of(py, &b.ids, u32::to_ne_bytes)?)?;
    d.set_item("offsets", bytes_of(py, &b.offsets, i64::to_ne_bytes)?)?;
    d.set_item("word_starts", bytes_of(py, &b.cuts, |c| [u8::from(c)])?)?;
    let parents: Vec<TokenId> = b.parents.iter().flat_map(|&(l, r)| [l, r]).collect();
    d.set_item("parents", bytes_of(py, &parents, u32::to_ne_bytes)?)?;
    d.set_item("counts", bytes_of(py, &b.counts, u64::to_ne_bytes)?)?;
    d.set_item("base_ids", bytes_of(py, &b.base_ids, u32::to_ne_bytes)?)?;
    d.set_item(
        "base_offsets",
        bytes_of(py, &b.base_offsets, i64::to_ne_bytes)?,
    )?;
    match new_bytes {
        Some(v) => d.set_item(
            "new_bytes",
            PyList::new(py, v.iter().map(|x| PyBytes::new(py, x)))?,
        )?,
        None => d.set_item("new_bytes", py.None())?,
    }
    d.set_item("vocab_size", b.vocab_size)?;
    d.set_item("tokens_before", b.tokens_before)?;
    d.set_item("tokens_after", b.tokens_after)?;
    Ok(d)
}

/// Dynamic merging of a flat batch: `ids` uint32, `offsets` int64 (sequences + 1), `cuts` one
/// byte per id (nonzero: the token may not join the one before) or None. `tokenizer` (optional)
/// supplies the bytes of the new tokens.
#[pyfunction]
#[pyo3(signature = (ids, offsets, cuts, vocab_size, max_merges, target_reduction, min_count, tokenizer=None))]
#[allow(clippy::too_many_arguments)]
fn dynamic_merge<'py>(
    py: Python<'py>,
    ids: &[u8],
    offsets: &[u8],
    cuts: Option<&[u8]>,
    vocab_size: u32,
    max_merges: Option<usize>,
    target_reduction: Option<f64>,
    min_count: u64,
    tokenizer: Option<PyRef<'py, PyTokenizer>>,
) -> PyResult<Bound<'py, PyDict>> {
    let ids: Vec<u32> = items::<4>(ids, "ids")?
        .into_iter()
        .map(u32::from_ne_bytes)
        .collect();
    let offsets: Vec<i64> = items::<8>(offsets, "offsets")?
        .into_iter()
        .map(i64::from_ne_bytes)
        .collect();
    let cuts: Option<Vec<bool>> = cuts.map(|c| c.iter().map(|&b| b != 0).collect());
    let cfg = config(max_merges, target_reduction, min_count);
    let tok = tokenizer.map(|t| t.inner.clone());
    let (batch, new_bytes) = py
        .detach(|| {
            let b = dynamic::dynamic_merge(&ids, &offsets, cuts.as_deref(), vocab_size, &cfg)?;
            let nb = tok.and_then(|t| b.new_token_bytes(|id| t.vocab().bytes_of(id)));
            Ok((b, nb))
        })
        .map_err(to_py)?;
    to_dict(py, &batch, new_bytes)
}

/// Encode `texts` with the tokenizer and merge dynamically within `boundary` units.
#[pyfunction]
#[pyo3(signature = (tokenizer, texts, allowed, disallowed, boundary, max_merges, target_reduction, min_count, num_threads=None))]
#[allow(clippy::too_many_arguments)]
fn encode_batch_dynamic<'py>(
    py: Python<'py>,
    tokenizer: PyRef<'py, PyTokenizer>,
    texts: Vec<String>,
    allowed: Vec<String>,
    disallowed: Vec<String>,
    boundary: &str,
    max_merges: Option<usize>,
    target_reduction: Option<f64>,
    min_count: u64,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let boundary: Boundary = boundary.parse().map_err(to_py)?;
    let cfg = config(max_merges, target_reduction, min_count);
    let t = tokenizer.inner.clone();
    let n = threads(num_threads);
    let (batch, new_bytes) = py
        .detach(|| {
            let (a, d) = (set(&allowed), set(&disallowed));
            let b = dynamic::encode_batch_dynamic(&t, &texts, &a, &d, boundary, &cfg, n)?;
            let nb = b.new_token_bytes(|id| t.vocab().bytes_of(id));
            Ok::<_, crate::Error>((b, nb))
        })
        .map_err(to_py)?;
    to_dict(py, &batch, new_bytes)
}
