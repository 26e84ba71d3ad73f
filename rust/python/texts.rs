//! The texts of a batch, read from Python once and borrowed as `&str` while the GIL is released.
//!
//! A tuple's strs are borrowed as they are: its items cannot change while it is alive. A list's
//! items can (another thread may run while the GIL is released), so one reference to each str
//! is held instead, and given back when the batch is done. Any other sequence is made into a
//! tuple first.
//!
//! Why not `Vec<PyBackedStr>` (before session 11): pyo3 extracts it through the iterator
//! protocol, and each text's reference was taken and given back in separate serial passes over
//! 100k str objects spread over the heap (each header a cache miss): ~4 ms of a 2-thread
//! `encode_batch_numpy` of en.txt's paragraphs (~48 ms), during which one of the two cores was
//! idle. Here one pass reads each str (and takes a list's references), prefetching the strs ahead
//! of it, and one gives a list's references back.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PySequence, PyString, PyTuple};

/// How many texts ahead each pass over the strs prefetches.
const AHEAD: usize = 16;

/// See the module docs.
pub(super) struct BatchTexts<'py> {
    /// The tuple the strs are items of, if they came in one (or were made into one).
    _tuple: Option<Bound<'py, PyTuple>>,
    /// Otherwise one owned reference per str (given back on drop).
    held: Vec<*mut ffi::PyObject>,
    /// Each text's UTF-8: start and length, owned by its str.
    utf8: Vec<(*const u8, usize)>,
    _py: Python<'py>,
}

impl<'py> BatchTexts<'py> {
    /// The texts of `texts` (a list, a tuple or another sequence of str). A text that is not a
    /// str raises TypeError naming its index, one with no UTF-8 form (a lone surrogate)
    /// UnicodeEncodeError; a single str TypeError.
    pub(super) fn new(texts: &Bound<'py, PyAny>) -> PyResult<Self> {
        let py = texts.py();
        if let Ok(list) = texts.cast::<PyList>() {
            let n = list.len();
            let mut out = Self {
                _tuple: None,
                held: Vec::with_capacity(n),
                utf8: Vec::with_capacity(n),
                _py: py,
            };
            for i in 0..n {
                if i + AHEAD < n {
                    // SAFETY: GIL held; the index is in range (`n` items: no Python code runs in
                    // this loop, so the list cannot have changed), so `PyList_GetItem` returns a
                    // borrowed item without setting an error; it is only prefetched.
                    prefetch(unsafe { ffi::PyList_GetItem(list.as_ptr(), (i + AHEAD) as isize) });
                }
                // (an owned reference: kept in `held`, given back by `drop`, also on an error)
                let item = list.get_item(i)?;
                let utf8 = utf8_of(i, &item)?;
                out.held.push(item.into_ptr());
                out.utf8.push(utf8);
            }
            return Ok(out);
        }
        let tuple = as_tuple(texts)?;
        let n = tuple.len();
        let mut utf8 = Vec::with_capacity(n);
        for (i, item) in tuple.iter_borrowed().enumerate() {
            if let Some(ahead) = (i + AHEAD < n)
                .then(|| tuple.get_borrowed_item(i + AHEAD).ok())
                .flatten()
            {
                prefetch(ahead.as_ptr());
            }
            utf8.push(utf8_of(i, &item)?);
        }
        Ok(Self {
            _tuple: Some(tuple),
            held: Vec::new(),
            utf8,
            _py: py,
        })
    }

    /// The texts, in order.
    pub(super) fn strs(&self) -> Vec<&str> {
        self.utf8
            .iter()
            .map(|&(data, len)| {
                // SAFETY: `data` and `len` are what `PyUnicode_AsUTF8AndSize` returned for one
                // of the strs (valid UTF-8, `len` bytes), a buffer the str owns and keeps until
                // it is deallocated (strs are immutable; the buffer is the str's own data or its
                // cached UTF-8 form, never replaced once made). The str lives at least as long
                // as `self`: the tuple in `_tuple` holds it (a tuple's items cannot be replaced
                // once other code can see it), or `held` holds a reference to it until `drop`.
                // So the slice is valid and unchanged for the borrow of `self`, with or without
                // the GIL held.
                unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(data, len)) }
            })
            .collect()
    }
}

impl Drop for BatchTexts<'_> {
    fn drop(&mut self) {
        for (i, &obj) in self.held.iter().enumerate() {
            if let Some(&ahead) = self.held.get(i + AHEAD) {
                prefetch(ahead);
            }
            // SAFETY: the GIL is held (`_py`: a `BatchTexts` is neither `Send` nor `Sync`, so it
            // is dropped where it was made, GIL held); `obj` is a reference `new` took and
            // nothing gave back.
            unsafe { ffi::Py_DecRef(obj) };
        }
    }
}

/// `texts` as a tuple: itself if it is one, else a tuple of the sequence's items.
fn as_tuple<'py>(texts: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
    if let Ok(t) = texts.cast::<PyTuple>() {
        return Ok(t.clone());
    }
    if texts.is_instance_of::<PyString>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "texts must be a sequence of str, not a single str",
        ));
    }
    texts
        .cast::<PySequence>()
        .map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "texts must be a sequence of str, not {}",
                type_name(texts)
            ))
        })?
        .to_tuple()
}

/// The UTF-8 of text `i`, `item`: start and length of the buffer its str owns.
fn utf8_of(i: usize, item: &Bound<'_, PyAny>) -> PyResult<(*const u8, usize)> {
    let s = item.cast::<PyString>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "texts[{i}] is {}, not str",
            type_name(item)
        ))
    })?;
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a str (checked above) and the GIL is held (`s` is bound to it).
    let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if data.is_null() {
        return Err(PyErr::fetch(item.py()));
    }
    Ok((data.cast(), size as usize))
}

/// The name of `obj`'s type, for error messages.
fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "an object".to_string(), |n| n.to_string())
}

/// Fetch the cache line at `p` (an object's header) ahead of its use: the strs of a batch are
/// spread over the heap with their text, and each header is a cache (often a TLB) miss.
/// Measured on en.txt's 99.7k paragraphs: 1.6-2.5 ms for the tuple pass instead of 2.6-5.2.
#[inline(always)]
fn prefetch(p: *const ffi::PyObject) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints the cache: it reads nothing the program can see and cannot
    // fault, whatever the address (here a live object's, or NULL).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
