//! Token ids -> Python lists, the largest cost of `encode` after the encoder itself.
//!
//! Every list is built from one shared int object per id (`PyTokenizer::ints`, made on first use)
//! instead of a new int per token (~27 ns each, 6.8 ms per MB of English on cl100k). The
//! references are counted per distinct id from a histogram (see `add_refs`), so the int objects
//! are touched once each instead of once per token. With several threads on one large text each
//! thread counts the ids of the chunks it encodes, right after encoding each (`encode_list`);
//! the list's item array is then filled by all the threads, GIL released (`fill_list_parallel`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use rayon::prelude::*;
use rustc_hash::FxHashSet;

use super::{to_py, PyTokenizer};

/// Texts from this size are encoded by `encode_list` when threads > 1.
pub(super) const CHUNKED_MIN_BYTES: usize = 1 << 20;

/// Lists from this many ids get their item array written once, GIL released
/// (`fill_list_parallel` with one thread); shorter ones (batches of paragraphs) are built with
/// `PyList_New`, whose small arrays come from Python's allocator.
const LARGE_LIST: usize = 1 << 14;

impl PyTokenizer {
    /// One Python int per id of the vocabulary, made on first use.
    fn ints(&self, py: Python<'_>) -> &[Py<PyAny>] {
        self.ints.get_or_init(|| {
            (0..self.inner.vocab().size() as u32)
                .map(|i| new_int(py, i))
                .collect()
        })
    }

    /// The ids as a Python list of the shared int objects.
    pub(super) fn id_list<'py>(
        &self,
        py: Python<'py>,
        ids: &[u32],
    ) -> PyResult<Bound<'py, PyList>> {
        self.id_list_parts(py, &[ids])
    }

    /// The concatenation of `parts` as one Python list of the shared int objects.
    pub(super) fn id_list_parts<'py>(
        &self,
        py: Python<'py>,
        parts: &[&[u32]],
    ) -> PyResult<Bound<'py, PyList>> {
        let ints = self.ints(py);
        if !add_refs(py, ints, parts, &mut Vec::new()) {
            // (never: the encoder emits ids of the vocabulary; kept safe all the same)
            let ids = parts.iter().flat_map(|p| p.iter());
            return PyList::new(py, ids.map(|&i| new_int(py, i)));
        }
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len >= LARGE_LIST && list_layout_known(py) {
            return fill_list_parallel(py, ints, parts, 1);
        }
        fill_list(py, ints, parts)
    }

    /// A list of lists, one per encoded text (`encode_batch`). The references are counted over
    /// the whole batch at once: the lists of a batch of paragraphs are short, and counting per
    /// list would fall back to one cache-missing increment per token.
    pub(super) fn id_lists<'py>(
        &self,
        py: Python<'py>,
        all: &[&[u32]],
    ) -> PyResult<Bound<'py, PyList>> {
        let ints = self.ints(py);
        if !add_refs(py, ints, all, &mut Vec::new()) {
            let lists = all
                .iter()
                .map(|ids| self.id_list(py, ids))
                .collect::<PyResult<Vec<_>>>()?;
            return PyList::new(py, lists);
        }
        // Why the cyclic GC is paused: every new list counts as a container allocation, so a
        // batch of 100k paragraphs ran dozens of collections, the older generations traversing
        // every list made so far (a fifth of `encode_batch`'s time on en.txt's paragraphs).
        // Lists of ints cannot form cycles; the GC resumes (if it was on) before returning.
        // SAFETY: GIL held; `PyGC_Disable` / `PyGC_Enable` only switch the collector.
        let gc_was_on = unsafe { pyo3::ffi::PyGC_Disable() } == 1;
        let mut lists = Vec::with_capacity(all.len());
        let mut failed = None;
        for (k, ids) in all.iter().enumerate() {
            match fill_list(py, ints, &[ids]) {
                Ok(l) => lists.push(l),
                Err(e) => {
                    // `fill_list` gave back this list's references; give back the rest.
                    all[k + 1..].iter().for_each(|ids| drop_refs(ints, ids));
                    failed = Some(e);
                    break;
                }
            }
        }
        let out = match failed {
            None => PyList::new(py, lists),
            Some(e) => Err(e),
        };
        if gc_was_on {
            // SAFETY: as above.
            unsafe { pyo3::ffi::PyGC_Enable() };
        }
        out
    }

    /// `encode_batch` of a large batch on several threads as a list of lists, built while the
    /// encoding goes on; `None` (nothing done) where the interpreter's list layout is not known.
    ///
    /// The workers encode blocks of texts (`encode_batch_blocks_with`, GIL released), counting
    /// the ids of each block in a histogram of their own, and send the blocks here; this thread
    /// takes the GIL for each block that arrives and builds its texts' lists in the outer list
    /// (GC paused, as in `id_lists`). The lists' items take their references at the end, once
    /// per distinct id from the summed histograms; until then nothing else can see them. On an
    /// error the lists built so far are emptied before they are dropped (their items own
    /// nothing yet).
    ///
    /// Why: building 100k lists needs the GIL, so it cannot run on the workers; after the
    /// encoding (as `id_lists` does) it was a serial ~25 ms on en.txt's paragraphs, against
    /// ~70 ms for the encoding on 2 threads. Here it overlaps the encoding. (`total`: the
    /// texts' bytes in all.)
    pub(super) fn encode_batch_lists<'py, T: AsRef<str> + Sync>(
        &self,
        py: Python<'py>,
        texts: &[T],
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        threads: usize,
        total: usize,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        let Ok(n) = isize::try_from(texts.len()) else {
            return Ok(None);
        };
        // (the histograms count in u32: fewer ids than bytes)
        if !list_layout_known(py) || u32::try_from(total).is_err() {
            return Ok(None);
        }
        let t = &*self.inner;
        let ints = self.ints(py);
        let vocab = ints.len();
        // SAFETY: GIL held. A new list of `n` NULL slots, or NULL with an exception set.
        let outer = unsafe { pyo3::ffi::PyList_New(n) };
        if outer.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: a new reference we own; dropping it releases the list (and, through
        // `list_dealloc`, the inner lists in its non-NULL slots).
        let outer: Bound<'py, PyList> =
            unsafe { Bound::from_owned_ptr(py, outer).cast_into_unchecked() };
        // SAFETY: GIL held; `list_layout_known` holds (checked above).
        let slots = unsafe { (*outer.as_ptr().cast::<ListHead>()).ob_item };
        type Block = (std::ops::Range<usize>, Vec<u32>, Vec<usize>);
        let (tx, rx) = mpsc::channel::<Block>();
        // (a Mutex makes the receiver shareable with the GIL-released closure below)
        let rx = Mutex::new(rx);
        // SAFETY: GIL held; `PyGC_Disable` / `PyGC_Enable` only switch the collector.
        let gc_was_on = unsafe { pyo3::ffi::PyGC_Disable() } == 1;
        let mut failed: Option<PyErr> = None;
        // Set when building a list failed: the workers then stop at their next block instead of
        // encoding the rest of the batch for nothing.
        let abandoned = &AtomicBool::new(false);
        let outcome = std::thread::scope(|s| {
            let worker = s.spawn(move || {
                t.encode_batch_blocks_with(
                    texts,
                    allowed,
                    disallowed,
                    threads,
                    || vec![0u32; vocab],
                    |counts, _, range, ids, ends| {
                        if abandoned.load(Ordering::Relaxed) {
                            return Err(crate::error::Error::invalid("abandoned"));
                        }
                        count_ids(counts, ids)?;
                        // (the receiver outlives the worker: a send cannot fail)
                        let _ = tx.send((range, std::mem::take(ids), ends));
                        Ok(())
                    },
                )
            });
            loop {
                let next = py.detach(|| match rx.lock() {
                    Ok(rx) => rx.recv().ok(),
                    Err(poisoned) => poisoned.into_inner().recv().ok(),
                });
                // `recv` fails once the worker has returned (its sender is dropped).
                let Some((range, ids, ends)) = next else {
                    break;
                };
                if failed.is_some() {
                    continue; // (drain: the workers stop at their next block)
                }
                let mut start = 0;
                for (i, &end) in range.zip(&ends) {
                    let part = &ids[start..end];
                    start = end;
                    // SAFETY: GIL held. `PyList_New(len)` gives a new list of `len` NULL slots
                    // (or NULL with an exception set, checked). Its slots are written through
                    // the layout `list_layout_known` established (what `PyList_SET_ITEM` does),
                    // each with the object of an id below `vocab` (counted above, so in range),
                    // kept alive by `ints`; the references are taken after the loop. The new
                    // list's own reference goes to slot `i < n` of `outer`, written once.
                    unsafe {
                        let inner = pyo3::ffi::PyList_New(part.len() as isize);
                        if inner.is_null() {
                            failed = Some(PyErr::fetch(py));
                            abandoned.store(true, Ordering::Relaxed);
                            break;
                        }
                        let items = (*inner.cast::<ListHead>()).ob_item;
                        for (j, &id) in part.iter().enumerate() {
                            *items.add(j) = ints.get_unchecked(id as usize).as_ptr();
                        }
                        *slots.add(i) = inner;
                    }
                }
            }
            worker.join()
        });
        let mut result = match (outcome, failed) {
            (_, Some(e)) => Err(e),
            (Err(_), None) => Err(pyo3::exceptions::PyRuntimeError::new_err(
                "internal error: an encoding thread panicked",
            )),
            (Ok(Err(e)), None) => Err(to_py(e)),
            (Ok(Ok(counts)), None) => Ok(counts),
        };
        match &mut result {
            Ok(counts) => take_counted_refs(py, ints, counts),
            Err(_) => {
                for i in 0..texts.len() {
                    // SAFETY: GIL held; slot `i` of `outer` is NULL or an inner list built
                    // above, whose items own no reference yet: with its size set to 0 its
                    // dealloc releases none of them (only its array).
                    unsafe {
                        let inner = *slots.add(i);
                        if !inner.is_null() {
                            (*inner.cast::<ListHead>()).ob_size = 0;
                        }
                    }
                }
            }
        }
        if gc_was_on {
            // SAFETY: as above.
            unsafe { pyo3::ffi::PyGC_Enable() };
        }
        result.map(|_| Some(outer))
    }

    /// `encode(text, allowed, disallowed, threads)` of a large text as a Python list; `None`
    /// (nothing done) where the interpreter's list layout is not known, and the caller builds the
    /// list the usual way.
    ///
    /// The text is encoded in chunks claimed in order by the threads (`encode_chunks_with`, GIL
    /// released); each thread counts the ids of every chunk it encoded in a histogram of its
    /// own, right after encoding it (in cache). Then the references are taken once per distinct
    /// id from the summed histograms (GIL held, no pass over the ids), and the list's item array
    /// is written by all the threads at once (`fill_list_parallel`).
    ///
    /// Why, against the calling thread counting each part while the workers encode (before):
    /// with 2 threads the counting was a third thread on 2 cores, slowing the encoding, and the
    /// parts' ids were counted after they had left the cache. Alternated with the old code in one
    /// process (cl100k_base, 20 MB of English, 2 threads) the median call went from 51.2 to
    /// 44.1 ms. Writing each chunk's slots as soon as its place was known (so no fill at the
    /// end) measured only 49.2 ms: on the benchmark machine every fresh 2 MiB page of the array
    /// faults in the middle of the encoding, and the kernel's zeroing of it evicts the
    /// encoder's tables from the cache (the same 1-thread encode cut into 1 MiB chunks that way
    /// was 10% slower).
    pub(super) fn encode_list<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        threads: usize,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        // (the histograms count in u32: a text below 4 GiB has fewer ids than that)
        if !list_layout_known(py) || u32::try_from(text.len()).is_err() {
            return Ok(None);
        }
        let t = &*self.inner;
        let ints = self.ints(py);
        let vocab = ints.len();
        // Per thread: its histogram and the chunks it encoded, (index, ids).
        type Mine = (Vec<u32>, Vec<(usize, Vec<u32>)>);
        let (_, mine) = py
            .detach(|| {
                t.encode_chunks_with(
                    text,
                    allowed,
                    disallowed,
                    threads,
                    || -> Mine { (vec![0; vocab], Vec::new()) },
                    |(counts, chunks): &mut Mine, k, ids| {
                        count_ids(counts, ids)?;
                        chunks.push((k, std::mem::take(ids)));
                        Ok(())
                    },
                )
            })
            .map_err(to_py)?;
        let (mut counts, chunks): (Vec<Vec<u32>>, Vec<_>) = mine.into_iter().unzip();
        // One reference per occurrence, taken per distinct id (every id is in range: counted).
        take_counted_refs(py, ints, &mut counts);
        let mut chunks: Vec<(usize, Vec<u32>)> = chunks.into_iter().flatten().collect();
        chunks.sort_unstable_by_key(|&(k, _)| k);
        let slices: Vec<&[u32]> = chunks.iter().map(|(_, ids)| ids.as_slice()).collect();
        fill_list_parallel(py, ints, &slices, threads).map(Some)
    }
}

/// The layout of CPython's `PyListObject` in the interpreters this module supports (3.10 to 3.14,
/// GIL builds, the only ones that load abi3 modules): `PyObject_VAR_HEAD`, then the item array
/// and its capacity (`Include/cpython/listobject.h`; unchanged since Python 3.0).
#[repr(C)]
struct ListHead {
    _ob_refcnt: isize,
    ob_type: *mut pyo3::ffi::PyTypeObject,
    ob_size: isize,
    ob_item: *mut *mut pyo3::ffi::PyObject,
    allocated: isize,
}

/// Whether list items may be written directly through [`ListHead`] (what `PyList_SET_ITEM`
/// does; the limited API only has the `PyList_SetItem` call, whose checks and call cost ~1.5 ms
/// per MB of English). Decided once per process: CPython 3.10-3.14, and a two-item list built
/// with `PyList_SetItem` reads back through the layout as the same size and items. Otherwise
/// (another interpreter or version) every item goes through `PyList_SetItem`.
fn list_layout_known(py: Python<'_>) -> bool {
    static KNOWN: OnceLock<bool> = OnceLock::new();
    *KNOWN.get_or_init(|| {
        let v = py.version_info();
        let cpython = py
            .import("sys")
            .and_then(|sys| sys.getattr("implementation"))
            .and_then(|i| i.getattr("name"))
            .and_then(|n| n.extract::<String>())
            .is_ok_and(|n| n == "cpython");
        if !cpython || (v.major, v.minor) < (3, 10) || (v.major, v.minor) > (3, 14) {
            return false;
        }
        let (a, b) = (
            py.None(),
            pyo3::types::PyTuple::empty(py).into_any().unbind(),
        );
        // SAFETY: GIL held. `PyList_New(2)` gives a new list (checked for NULL); each
        // `PyList_SetItem` steals a new reference we take first. Reading the first 40 bytes of
        // a list object is in bounds in every CPython (a `PyListObject` is at least that
        // large), and in the versions admitted above they are a `ListHead`, so `ob_item` points
        // at `allocated >= 2` slots; the readback only confirms it. The list is released with
        // `Py_DecRef`, which releases its items.
        unsafe {
            let list = pyo3::ffi::PyList_New(2);
            if list.is_null() {
                pyo3::ffi::PyErr_Clear();
                return false;
            }
            pyo3::ffi::Py_IncRef(a.as_ptr());
            pyo3::ffi::PyList_SetItem(list, 0, a.as_ptr());
            pyo3::ffi::Py_IncRef(b.as_ptr());
            pyo3::ffi::PyList_SetItem(list, 1, b.as_ptr());
            let head = &*list.cast::<ListHead>();
            let ok = head.ob_size == 2
                && head.ob_type == pyo3::ffi::Py_TYPE(list)
                && head.allocated >= 2
                && !head.ob_item.is_null()
                && *head.ob_item == a.as_ptr()
                && *head.ob_item.add(1) == b.as_ptr();
            pyo3::ffi::Py_DecRef(list);
            ok
        }
    })
}

/// Whether `incref_n` may raise a reference count by adding to it directly: a little-endian
/// CPython whose object layout `list_layout_known` admitted (3.10 to 3.14, GIL builds), where a
/// mortal object's reference count is the low 32 bits of its first word (all of it up to 3.11,
/// `ob_refcnt_split[0]` in 3.12-3.13, `ob_refcnt` in 3.14; immortal objects have at least 2^30
/// there in 3.12+), and `Py_IncRef` on a fresh int is seen to add exactly 1 there. Decided once
/// per process; otherwise every reference is taken with `Py_IncRef`.
fn refcount_layout_known(py: Python<'_>) -> bool {
    static KNOWN: OnceLock<bool> = OnceLock::new();
    *KNOWN.get_or_init(|| {
        if !cfg!(target_endian = "little") || !list_layout_known(py) {
            return false;
        }
        // (a large int is a new object of its own, never a cached small int)
        let o = new_int(py, 3_000_000_019);
        let p = o.as_ptr().cast::<u32>();
        // SAFETY: GIL held; `o` is alive (we own a reference); the first 4 bytes of any object
        // are in bounds and readable; `Py_IncRef` / `Py_DecRef` are balanced.
        unsafe {
            let before = p.read();
            pyo3::ffi::Py_IncRef(o.as_ptr());
            let after = p.read();
            pyo3::ffi::Py_DecRef(o.as_ptr());
            before < 1 << 20 && after == before + 1 && p.read() == before
        }
    })
}

/// Take `n` more references to `o`: when `direct` (see `refcount_layout_known`) and the count
/// stays below 2^30 (mortal in every admitted version), by adding `n` to the count at once;
/// otherwise with `Py_IncRef` (a no-op on an immortal object, so it stops after one call that
/// changes nothing). One add instead of one call per token: for the histogram of a large text
/// that is a few hundred thousand adds instead of millions of calls.
///
/// # Safety
/// The GIL is held and `o` is a live object.
unsafe fn incref_n(o: *mut pyo3::ffi::PyObject, n: u32, direct: bool) {
    let p = o.cast::<u32>();
    // SAFETY (of the reads and the write): the caller guarantees a live object under the GIL;
    // its first 4 bytes are the low half of the reference count in the layouts `direct` admits.
    unsafe {
        if direct {
            let cur = p.read();
            if u64::from(cur) + u64::from(n) < 1 << 30 {
                p.write(cur + n);
                return;
            }
        }
        for k in 0..n {
            let before = if direct { Some(p.read()) } else { None };
            pyo3::ffi::Py_IncRef(o);
            if k == 0 && before.is_some_and(|b| p.read() == b) {
                return; // immortal: the count does not move
            }
        }
    }
}

fn new_int(py: Python<'_>, i: u32) -> Py<PyAny> {
    let Ok(o) = i.into_pyobject(py);
    o.into_any().unbind()
}

fn in_range(ids: &[u32], ints: &[Py<PyAny>]) -> bool {
    ids.iter().all(|&i| (i as usize) < ints.len())
}

/// Take one new reference to `ints[i]` for every id `i` of `parts`; false, with no reference
/// taken, if an id is out of range (then the caller builds the list another way).
///
/// Why per distinct id: one increment per token touches the int object of every token, a cache
/// miss each on a 100k-200k-entry vocabulary (~4 ms per MB of English); a histogram of the ids
/// stays in cache and each object is touched once, with one add (`incref_n`). The histogram's
/// indexing is also the range check (a separate pass cost ~7 instructions per token). Few ids
/// are incremented one by one. `counts` is scratch (all zero between calls).
fn add_refs(_py: Python<'_>, ints: &[Py<PyAny>], parts: &[&[u32]], counts: &mut Vec<u32>) -> bool {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total >= ints.len() / 8 && u32::try_from(total).is_ok() {
        counts.resize(ints.len(), 0);
        // (one loop per part: a `flat_map` over the parts cost ~5 more instructions per id)
        for part in parts {
            for &i in *part {
                match counts.get_mut(i as usize) {
                    Some(c) => *c += 1,
                    None => {
                        counts.iter_mut().for_each(|c| *c = 0);
                        return false;
                    }
                }
            }
        }
        let direct = refcount_layout_known(_py);
        for (o, c) in ints.iter().zip(counts.iter_mut()) {
            if *c > 0 {
                // SAFETY: the GIL is held (`_py`) and `ints` keeps the object alive; `direct`
                // is what `refcount_layout_known` decided.
                unsafe { incref_n(o.as_ptr(), *c, direct) };
            }
            *c = 0;
        }
    } else {
        if !parts.iter().all(|p| in_range(p, ints)) {
            return false;
        }
        for &i in parts.iter().flat_map(|p| p.iter()) {
            // SAFETY: the GIL is held (`_py`), and `ints[i]` (in range: checked just above) is
            // kept alive by `ints`; `Py_IncRef` takes one more reference to it.
            unsafe { pyo3::ffi::Py_IncRef(ints[i as usize].as_ptr()) };
        }
    }
    true
}

/// Count each id of `ids` in `counts` (a worker's histogram, one slot per id of the
/// vocabulary); an error, with nothing more counted, at an id outside it.
fn count_ids(counts: &mut [u32], ids: &[u32]) -> crate::error::Result<()> {
    for &i in ids {
        match counts.get_mut(i as usize) {
            Some(c) => *c += 1,
            None => {
                return Err(crate::error::Error::invalid(format!(
                    "internal error: token id {i} outside the vocabulary"
                )))
            }
        }
    }
    Ok(())
}

/// Take, for every id, as many references to `ints[id]` as the histograms `counts` (the
/// workers', each one slot per id) count in all: one add per distinct id (`incref_n`). The
/// histograms are summed into the first one first, in a loop the compiler vectorizes, then one
/// pass over the ids. On the serial tail of `encode_list` (2 threads, 20 MB) this takes 0.9 ms
/// for o200k's 200k ids and 0.4-0.5 ms for cl100k's 100k. Summing per id, through an iterator
/// over the histograms, took 1.5-1.7 ms and 0.6-0.8 ms.
fn take_counted_refs(py: Python<'_>, ints: &[Py<PyAny>], counts: &mut [Vec<u32>]) {
    let Some((total, rest)) = counts.split_first_mut() else {
        return;
    };
    for h in rest.iter() {
        total.iter_mut().zip(h).for_each(|(t, &c)| *t += c);
    }
    let direct = refcount_layout_known(py);
    for (o, &c) in ints.iter().zip(total.iter()) {
        if c > 0 {
            // SAFETY: GIL held (`py`); `ints` keeps the object alive; `direct` is what
            // `refcount_layout_known` decided.
            unsafe { incref_n(o.as_ptr(), c, direct) };
        }
    }
}

/// Give back the references `add_refs` took for `ids` (the GIL is held by the caller, which
/// holds `ints`, itself only reachable with the GIL).
fn drop_refs(ints: &[Py<PyAny>], ids: &[u32]) {
    for &i in ids {
        // SAFETY: `add_refs` took one reference to `ints[i]` for this occurrence; the object
        // stays alive through `ints`, so dropping that reference cannot free it.
        unsafe { pyo3::ffi::Py_DecRef(ints[i as usize].as_ptr()) };
    }
}

/// A new list holding `ints[i]` for the ids of `parts` in order, each slot taking over one of the
/// references `add_refs` took for it. On failure the references are given back.
fn fill_list<'py>(
    py: Python<'py>,
    ints: &[Py<PyAny>],
    parts: &[&[u32]],
) -> PyResult<Bound<'py, PyList>> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let Ok(n) = isize::try_from(len) else {
        parts.iter().for_each(|p| drop_refs(ints, p));
        return Err(PyValueError::new_err("too many ids for one Python list"));
    };
    // SAFETY: we hold the GIL (`py`) and run no Python code in between. `PyList_New(n)` returns a
    // new reference to a list of `n` NULL slots, or NULL with an exception set (checked; the
    // references are then given back). Each slot k < n is set exactly once with
    // `PyList_SetItem`, which steals one reference: the one `add_refs` took for that occurrence.
    // Every id is in range (`add_refs`, run first, checked) and `ints` keeps every object alive. So the
    // list is complete and owns all its items when `from_owned_ptr` takes over its reference.
    unsafe {
        let list = pyo3::ffi::PyList_New(n);
        if list.is_null() {
            parts.iter().for_each(|p| drop_refs(ints, p));
            return Err(PyErr::fetch(py));
        }
        if list_layout_known(py) {
            // SAFETY (in addition to the above): `list_layout_known` established that lists of
            // this interpreter are `ListHead`s, so `ob_item` points at the `n` slots `PyList_New`
            // allocated (NULL so far); writing slot k is what `PyList_SET_ITEM` does, and the
            // reference it takes over is the one `add_refs` took. Nothing else sees the list yet.
            let items = (*list.cast::<ListHead>()).ob_item;
            let mut k = 0;
            for part in parts {
                for &i in *part {
                    *items.add(k) = ints[i as usize].as_ptr();
                    k += 1;
                }
            }
        } else {
            let mut k = 0;
            for part in parts {
                for &i in *part {
                    pyo3::ffi::PyList_SetItem(list, k, ints[i as usize].as_ptr());
                    k += 1;
                }
            }
        }
        Ok(Bound::from_owned_ptr(py, list).cast_into_unchecked())
    }
}

/// [`fill_list`] with the item array written by `threads` threads (or this one), GIL released:
/// for the parallel `encode` of a large text this is the part of the list building left after
/// the last part arrives (a fresh array of 8 bytes per token, whose pages fault on first write).
/// Only when `list_layout_known`: the array is a `PyMem` block that a new empty list takes over,
/// so it is written once (`PyList_New(n)` zeroes its array first: a second pass over 8 bytes per
/// token whenever the allocator reuses memory instead of mapping fresh pages).
fn fill_list_parallel<'py>(
    py: Python<'py>,
    ints: &[Py<PyAny>],
    parts: &[&[u32]],
    threads: usize,
) -> PyResult<Bound<'py, PyList>> {
    /// The array's address, shared by the filling threads (each writes disjoint slots).
    #[derive(Clone, Copy)]
    struct Slots(*mut *mut pyo3::ffi::PyObject);
    // SAFETY: the block is written only by the fill below, each slot by exactly one thread,
    // and read only after all of them are joined; nothing else knows the address.
    unsafe impl Send for Slots {}
    unsafe impl Sync for Slots {}
    impl Slots {
        /// (a method, so closures capture the `Sync` wrapper, not the raw pointer inside it)
        fn base(self) -> *mut *mut pyo3::ffi::PyObject {
            self.0
        }
    }

    let len: usize = parts.iter().map(|p| p.len()).sum();
    let size = std::mem::size_of::<*mut pyo3::ffi::PyObject>();
    let bytes = len
        .max(1)
        .checked_mul(size)
        .filter(|&b| isize::try_from(b).is_ok());
    let Some(bytes) = bytes else {
        parts.iter().for_each(|p| drop_refs(ints, p));
        return Err(PyValueError::new_err("too many ids for one Python list"));
    };
    // SAFETY: GIL held, as `PyMem_Malloc` requires.
    let block = unsafe { pyo3::ffi::PyMem_Malloc(bytes) }.cast::<*mut pyo3::ffi::PyObject>();
    if block.is_null() {
        parts.iter().for_each(|p| drop_refs(ints, p));
        return Err(PyMemoryError::new_err(format!(
            "cannot allocate a list of {len} ids"
        )));
    }
    advise_huge_pages(block.cast(), bytes);
    // Pieces of at most 64k ids with their offset in the list, spread over the threads.
    const PIECE: usize = 1 << 16;
    let mut pieces = Vec::with_capacity(len / PIECE + parts.len());
    let mut at = 0;
    for part in parts {
        for chunk in part.chunks(PIECE) {
            pieces.push((at, chunk));
            at += chunk.len();
        }
    }
    let slots = Slots(block);
    let fill_piece = |&(at, ids): &(usize, &[u32])| {
        // SAFETY: `at + ids.len() <= len` (the pieces tile `0..len`) and the block holds `len`
        // slots, so `base` and every slot written below are inside it; no other piece covers
        // these slots.
        let base = unsafe { slots.base().add(at) };
        for (j, &i) in ids.iter().enumerate() {
            // SAFETY: `j < ids.len()`, so the slot is in this piece's range (above). `i` is
            // below `ints.len()`: `add_refs`, which every caller runs first and which only
            // succeeds when every id is in range, checked it (so no bounds check here, ~2
            // instructions per id). Each slot takes over the reference `add_refs` took for this
            // occurrence.
            unsafe { base.add(j).write(ints.get_unchecked(i as usize).as_ptr()) };
        }
    };
    let filled = if threads <= 1 {
        py.detach(|| pieces.iter().for_each(fill_piece));
        Ok(())
    } else {
        py.detach(|| {
            crate::encode::pool::install(threads, || pieces.par_iter().for_each(fill_piece))
        })
    };
    // SAFETY: GIL held. On failure (no thread pool) nothing was written: the references are
    // given back and the block freed. Otherwise every slot holds an owned reference; a new empty
    // list (`PyList_New(0)`, NULL item array) takes the block over as `list_resize` would
    // (`list_layout_known` holds: the caller checked), owning the references and freeing the
    // block with `PyMem_Free`. Nothing else has seen the list yet.
    unsafe {
        let list = match filled {
            Ok(()) => pyo3::ffi::PyList_New(0),
            Err(_) => std::ptr::null_mut(),
        };
        if list.is_null() {
            if filled.is_ok() {
                for j in 0..len {
                    pyo3::ffi::Py_DecRef(*block.add(j));
                }
            } else {
                parts.iter().for_each(|p| drop_refs(ints, p));
            }
            pyo3::ffi::PyMem_Free(block.cast());
            return Err(match filled {
                Ok(()) => PyErr::fetch(py),
                Err(e) => to_py(e),
            });
        }
        let head = &mut *list.cast::<ListHead>();
        head.ob_item = block;
        head.ob_size = len as isize;
        head.allocated = len.max(1) as isize;
        Ok(Bound::from_owned_ptr(py, list).cast_into_unchecked())
    }
}

/// Ask Linux to back a large fresh block (a list's item array, written once right after) with
/// transparent huge pages, where the system allows them only on request (`madvise` mode, the
/// default of many distributions; a no-op under `never`, unneeded under `always`).
///
/// Why: the array of a list of millions of ids is a fresh `mmap` on every call (glibc maps
/// blocks over 32 MB, and frees them back to the OS), so every 4 KiB page of it faults on first
/// write: ~9,600 faults for the 4.5M ids of 20 MB of English, 12-15 ms of system time per call
/// on the benchmark machine (~7% of `encode_ordinary`). With 2 MiB pages: 461 faults in all,
/// 4-12 ms. Only a hint: the block's contents and ownership are unchanged, and an error is
/// ignored.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn advise_huge_pages(block: *mut u8, bytes: usize) {
    /// Below this a block is not worth a system call (and may come from the heap).
    const MIN_BYTES: usize = 8 << 20;
    if bytes < MIN_BYTES {
        return;
    }
    // SAFETY: `sysconf` only reads a system constant.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as usize,
        _ => return,
    };
    // The whole pages inside the block: `madvise` needs a page-aligned start.
    let start = (block as usize).next_multiple_of(page);
    let end = (block as usize + bytes) / page * page;
    if end > start {
        // SAFETY: `start..end` lies inside the block the caller just allocated and owns.
        // `MADV_HUGEPAGE` does not change the memory's contents or validity, only how the
        // kernel may back it, and touches no byte; a failure (e.g. a kernel without THP) only
        // leaves the default.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn advise_huge_pages(_block: *mut u8, _bytes: usize) {}
