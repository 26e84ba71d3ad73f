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

/// Plain-old-data numbers that cross the boundary as native-endian bytes.
trait Pod: Copy + Default {
    const N: usize;
    fn from_ne(b: &[u8]) -> Self;
}

macro_rules! pod {
    ($($t:ty),*) => {$(
        impl Pod for $t {
            const N: usize = std::mem::size_of::<$t>();
            #[inline]
            fn from_ne(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                <$t>::from_ne_bytes(a)
            }
        }
    )*};
}
pod!(u8, u32, i64, u64);

/// The numbers in a native-endian byte buffer (numpy's `tobytes()`).
fn read<T: Pod>(buf: &[u8], what: &str) -> PyResult<Vec<T>> {
    if buf.len() % T::N != 0 {
        return Err(PyValueError::new_err(format!(
            "{what}: buffer of {} bytes is not a whole number of {}-byte items",
            buf.len(),
            T::N
        )));
    }
    Ok(buf.chunks_exact(T::N).map(T::from_ne).collect())
}

/// `v` as a bytes object, native-endian, in one copy.
fn bytes_of<'py, T: Pod>(py: Python<'py>, v: &[T]) -> Bound<'py, PyBytes> {
    // SAFETY: `Pod` is implemented only for primitive integers (no padding, every bit pattern
    // valid), and the byte view covers exactly the initialised memory of `v`; `u8` has
    // alignment 1.
    let raw =
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) };
    PyBytes::new(py, raw)
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
    d.set_item("ids", bytes_of(py, &b.ids))?;
    d.set_item("offsets", bytes_of(py, &b.offsets))?;
    let cuts: Vec<u8> = b.cuts.iter().map(|&c| u8::from(c)).collect();
    d.set_item("word_starts", bytes_of(py, &cuts))?;
    let parents: Vec<TokenId> = b.parents.iter().flat_map(|&(l, r)| [l, r]).collect();
    d.set_item("parents", bytes_of(py, &parents))?;
    d.set_item("counts", bytes_of(py, &b.counts))?;
    d.set_item("base_ids", bytes_of(py, &b.base_ids))?;
    d.set_item("base_offsets", bytes_of(py, &b.base_offsets))?;
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
    let ids: Vec<u32> = read(ids, "ids")?;
    let offsets: Vec<i64> = read(offsets, "offsets")?;
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
