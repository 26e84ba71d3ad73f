//! Token ids -> Python lists, the largest cost of `encode` after the encoder itself.
//!
//! Every list is built from one shared int object per id ([`shared_ints`]) instead of a new int
//! per token (~27 ns each, 6.8 ms per MB of English on cl100k). The shared ints are made once
//! per process and hold a reserve of references that can never run out (see [`Reserve`]), so
//! a list's slot takes one of those over: building a list is writing pointers, with no
//! reference count touched per token or per id, and any thread can do it, GIL released. A
//! large text's list is written by all the threads at once (`fill_list_parallel`); a large
//! batch's lists are built by the calling thread between the blocks it encodes itself
//! (`encode_batch_lists`).
//!
//! Where the interpreter's object or list layout is not the one this relies on (checked once
//! per process, [`Reserve::of`] and `list_layout_known`), lists are built the usual way, a new
//! int per token.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use rayon::prelude::*;
use rustc_hash::FxHashSet;

use super::{to_py, PyTokenizer};
use crate::error::Error;

/// Texts from this size are encoded by `encode_list` when threads > 1.
pub(super) const CHUNKED_MIN_BYTES: usize = 1 << 20;

/// Lists from this many ids get their item array written once, GIL released
/// (`fill_list_parallel` with one thread); shorter ones (batches of paragraphs) are built with
/// `PyList_New`, whose small arrays come from Python's allocator.
const LARGE_LIST: usize = 1 << 14;

/// One of the shared int objects: never freed (it holds a reserve of references, [`Reserve`])
/// and immutable, as every int is.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct Int(NonNull<pyo3::ffi::PyObject>);

// SAFETY: an `Int` is only copied around and written into list slots (no thread but one
// holding the GIL dereferences it); the object it points at lives as long as the process.
unsafe impl Send for Int {}
unsafe impl Sync for Int {}

impl Int {
    fn ptr(self) -> *mut pyo3::ffi::PyObject {
        self.0.as_ptr()
    }
}

/// The shared int objects for ids `0..size` (at least), one per id for the whole process;
/// `None` where the interpreter's layouts are not known (then lists are built the usual way).
///
/// Made on first use, grown when a larger vocabulary comes: the table is replaced by a larger
/// one holding the same objects plus the new ones, and the old one is left in place (a few
/// hundred KB at most, once per larger vocabulary), because lists being built on other
/// threads may still read it. It lives as long as the process: ~40 bytes per id of the largest
/// vocabulary used (8 MB for o200k's 200k ids).
fn shared_ints(py: Python<'_>, size: usize) -> PyResult<Option<&'static [Int]>> {
    static TABLE: Mutex<&'static [Int]> = Mutex::new(&[]);
    // (`Reserve::of` is `None` where `list_layout_known` is false, too)
    let Some(reserve) = Reserve::of(py) else {
        return Ok(None);
    };
    // (the GIL is held: nobody else is in here, and nothing below runs Python code)
    let mut table = TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if table.len() < size {
        let Ok(top) = u32::try_from(size) else {
            return Err(PyValueError::new_err(format!(
                "vocabulary of {size} ids too large"
            )));
        };
        // (made first and given their reserve after: on a failure midway they are freed)
        let new: Vec<Py<PyAny>> = (table.len() as u32..top)
            .map(|i| Ok(i.into_pyobject(py)?.into_any().unbind()))
            .collect::<PyResult<_>>()?;
        let mut grown = Vec::with_capacity(size);
        grown.extend_from_slice(&table);
        for o in new {
            // (the reference `into_ptr` lets go of is the table's now, never given back)
            // (`into_ptr` of a live object is never NULL)
            let Some(o) = NonNull::new(o.into_ptr()) else {
                return Err(PyRuntimeError::new_err("internal error: a NULL int"));
            };
            // SAFETY: GIL held; `o` is a live int, `reserve` is what `Reserve::of` decided.
            unsafe { reserve.apply(o.as_ptr()) };
            grown.push(Int(o));
        }
        *table = Vec::leak(grown);
    }
    Ok(Some(*table))
}

/// How a shared int is given a reserve of references that never runs out, so that a list slot
/// can take one over without touching the object, and no object of the table is ever freed.
///
/// Why: counting the references of every id of a list (a histogram per thread, then one add
/// per distinct id) was a pass over the ids and a 400-800 KB table per thread, cache-polluting
/// the encoder it ran beside; without it a large batch on 2 threads took 1.25x less time
/// (bench/README.md, session 12).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Reserve {
    /// CPython 3.10-3.11: the count is the whole first word (a `Py_ssize_t`); 2^62 is added to
    /// it. At a billion list slots freed per second it would run out in 146 years.
    Add,
    /// CPython 3.12-3.14: the count is the low 32 bits of the first word, and an object whose
    /// count is negative as an `i32` is immortal (`Py_INCREF` / `Py_DECREF` leave it alone,
    /// PEP 683); the count is set to the value the interpreter gives its own immortal objects
    /// (2^32 - 1 in 3.12-3.13, 3 * 2^30 in 3.14).
    Immortal(u32),
}

impl Reserve {
    /// The way of this interpreter, decided once per process: a 64-bit little-endian CPython
    /// 3.10-3.14 (the versions whose list layout `list_layout_known` also admits), where a
    /// fresh int, given the reserve, then one `Py_IncRef` and one `Py_DecRef`, reads back as
    /// expected; `None` otherwise.
    fn of(py: Python<'_>) -> Option<Reserve> {
        static KIND: OnceLock<Option<Reserve>> = OnceLock::new();
        *KIND.get_or_init(|| {
            if !cfg!(all(target_endian = "little", target_pointer_width = "64"))
                || !list_layout_known(py)
            {
                return None;
            }
            let v = py.version_info();
            let kind = match (v.major, v.minor) {
                (3, ..=11) => Reserve::Add,
                (3, 12..=13) => Reserve::Immortal(u32::MAX),
                _ => Reserve::Immortal(3 << 30),
            };
            // (a large int is a new object of its own, never a cached small int)
            let o = 3_000_000_019u64.into_pyobject(py).ok()?.into_any().unbind();
            let p = o.as_ptr();
            // SAFETY: GIL held; `o` is alive (we own a reference, which the balanced
            // `Py_IncRef` / `Py_DecRef` below never take away, whatever the layout); the first
            // 8 bytes of any object are its count (and, from 3.14, flags) and readable. At the
            // end the count is put back as it was found: nothing else has seen the object.
            unsafe {
                let word = p.cast::<i64>();
                let before = word.read();
                if !(1..1 << 20).contains(&before) {
                    return None;
                }
                kind.apply(p);
                let given = word.read();
                pyo3::ffi::Py_IncRef(p);
                let up = word.read();
                pyo3::ffi::Py_DecRef(p);
                let down = word.read();
                word.write(before);
                let ok = match kind {
                    Reserve::Add => given == before + (1 << 62) && up == given + 1 && down == given,
                    // (3.12-3.13 `Py_INCREF` adds 1 unless the count would wrap to 0; 3.14's
                    // leaves an immortal count alone; `Py_DECREF` leaves it alone in both)
                    Reserve::Immortal(_) => {
                        (given as i32) < 0
                            && given >> 32 == before >> 32
                            && (up == given || up == given + 1)
                            && down == up
                    }
                };
                ok.then_some(kind)
            }
        })
    }

    /// Give `o` its reserve (nothing for an object that already has one, or is immortal).
    ///
    /// # Safety
    /// The GIL is held, `o` is a live object, and `self` is what [`Reserve::of`] decided.
    unsafe fn apply(self, o: *mut pyo3::ffi::PyObject) {
        // SAFETY (of the reads and writes): the caller's guarantees; the first word of an
        // object is its count in the layout `self` stands for.
        unsafe {
            match self {
                Reserve::Add => {
                    let c = o.cast::<i64>();
                    if c.read() < 1 << 61 {
                        c.write(c.read() + (1 << 62));
                    }
                }
                Reserve::Immortal(count) => {
                    let c = o.cast::<u32>();
                    if (c.read() as i32) >= 0 {
                        c.write(count);
                    }
                }
            }
        }
    }
}

/// Whether every id of `ids` has a shared int (the encoder only emits ids of its vocabulary,
/// which `shared_ints` covers; checked all the same, in a loop the compiler vectorizes).
fn in_table(ids: &[u32], ints: &[Int]) -> bool {
    ids.iter()
        .copied()
        .max()
        .is_none_or(|m| (m as usize) < ints.len())
}

/// The error of an id with no shared int (never: see `in_table`).
const OUT_OF_TABLE: &str = "internal error: a token id outside the vocabulary";

fn out_of_table() -> PyErr {
    PyRuntimeError::new_err(OUT_OF_TABLE)
}

impl PyTokenizer {
    /// The shared ints of this tokenizer's vocabulary (see [`shared_ints`]).
    fn ints(&self, py: Python<'_>) -> PyResult<Option<&'static [Int]>> {
        shared_ints(py, self.inner.vocab().size())
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
        let Some(ints) = self.ints(py)? else {
            return usual_list(py, parts);
        };
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len >= LARGE_LIST {
            return fill_list_parallel(py, ints, parts, 1);
        }
        fill_list(py, ints, parts)
    }

    /// A list of lists, one per encoded text (`encode_batch`).
    pub(super) fn id_lists<'py>(
        &self,
        py: Python<'py>,
        all: &[&[u32]],
    ) -> PyResult<Bound<'py, PyList>> {
        let Some(ints) = self.ints(py)? else {
            let lists = all
                .iter()
                .map(|ids| usual_list(py, &[ids]))
                .collect::<PyResult<Vec<_>>>()?;
            return PyList::new(py, lists);
        };
        let _paused = GcPause::new();
        let lists = all
            .iter()
            .map(|ids| fill_list(py, ints, &[ids]))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, lists)
    }

    /// `encode_batch` of a large batch as a list of lists, the encoding shared between
    /// `threads - 1` pool workers and this thread, which also builds the lists; `None` (nothing
    /// done) where the interpreter's layouts are not known.
    ///
    /// Everyone claims blocks of texts in order (`block_starts`, `encode_block`). The workers
    /// send theirs here. This thread, GIL held, builds the lists of every block that has
    /// arrived, in the outer list (GC paused: lists of ints cannot form cycles), then claims a
    /// block itself and encodes it GIL released, then builds that block's lists (its ids still
    /// in cache); once no block is left it builds what still arrives. On the first error
    /// everyone stops claiming blocks, and the error of the lowest text (or a failed list) is
    /// raised.
    ///
    /// Why this thread encodes too: building en.txt's 100k lists is ~20 ms of GIL-held work.
    /// Done by a third thread while 2 workers encoded on 2 cores (before, session 11), it was
    /// time-sliced with them: every block that arrived woke it, preempting a worker, and the
    /// building took ~40 ms of CPU. Now the call takes 1.09x less time; without the per-block
    /// reference counting it needed then, 1.25x less (bench/README.md, session 12).
    pub(super) fn encode_batch_lists<'py, T: AsRef<str> + Sync>(
        &self,
        py: Python<'py>,
        texts: &[T],
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        threads: usize,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        let Ok(n) = isize::try_from(texts.len()) else {
            return Ok(None);
        };
        let Some(ints) = self.ints(py)? else {
            return Ok(None);
        };
        let t = &*self.inner;
        // SAFETY: GIL held. A new list of `n` NULL slots, or NULL with an exception set.
        let outer = unsafe { pyo3::ffi::PyList_New(n) };
        if outer.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: a new reference we own; dropping it releases the list (and, through
        // `list_dealloc`, the inner lists in its non-NULL slots, which give their items'
        // references back to the shared ints' reserve).
        let outer: Bound<'py, PyList> =
            unsafe { Bound::from_owned_ptr(py, outer).cast_into_unchecked() };
        // SAFETY: GIL held; `list_layout_known` holds (`shared_ints` checked it).
        let slots = unsafe { (*outer.as_ptr().cast::<ListHead>()).ob_item };
        let starts = &crate::tokenizer::block_starts(texts);
        let blocks = starts.len() - 1;
        let next = &AtomicUsize::new(0);
        // Set on the first error anywhere: nobody claims another block.
        let stop = &AtomicBool::new(false);
        /// An encoded block (its texts, their ids concatenated, where each text's ids end), or
        /// an error (with the index of its text).
        type Encoded = Result<(std::ops::Range<usize>, Vec<usize>), (usize, Error)>;
        // Claim and encode the next block through `sink` into `ids`; `None` when no block is
        // left (or all stop).
        let claim =
            move |sink: &mut crate::encode::PieceSink<'_>, ids: &mut Vec<u32>| -> Option<Encoded> {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= blocks {
                    return None;
                }
                let range = starts[b]..starts[b + 1];
                ids.clear();
                let done = t
                    .encode_block(sink, texts, range.clone(), allowed, disallowed, ids)
                    .and_then(|ends| {
                        if in_table(ids, ints) {
                            Ok((range.clone(), ends))
                        } else {
                            let e = Error::invalid(OUT_OF_TABLE);
                            Err((range.end.saturating_sub(1), e))
                        }
                    });
                if done.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                Some(done)
            };
        /// What a worker sends: a block it encoded (its ids with it), or that it panicked.
        enum Msg {
            Block(Encoded, Vec<u32>),
            Panicked,
        }
        let (tx, rx) = mpsc::channel::<Msg>();
        // (a Mutex makes the receiver shareable with the GIL-released closure below)
        let rx = Mutex::new(rx);
        let worker = move |tx: mpsc::Sender<Msg>| {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                t.encoder().with_sink(|sink| {
                    let mut ids = Vec::new();
                    while let Some(done) = claim(sink, &mut ids) {
                        // (the receiver outlives the workers: a send cannot fail)
                        let _ = tx.send(Msg::Block(done, std::mem::take(&mut ids)));
                    }
                })
            }));
            if run.is_err() {
                stop.store(true, Ordering::Relaxed);
                let _ = tx.send(Msg::Panicked);
            }
        };
        // The first error in text order, a failed list, a panicked worker.
        let mut first: Option<(usize, Error)> = None;
        let mut failed: Option<PyErr> = None;
        let mut panicked = false;
        // Take one block's outcome (GIL held): build its texts' lists, or note its error.
        let mut take = |done: Encoded, ids: &[u32]| match done {
            Ok((range, ends)) if failed.is_none() && first.is_none() => {
                // SAFETY: GIL held; `slots` is `outer`'s array of `n` slots, and the texts of
                // `range` are below `n` and in this block only, so each slot is written once.
                // Every id is in `ints` (`in_table`, checked by `claim`).
                if let Err(e) = unsafe { build_lists(py, ints, slots, range, ids, &ends) } {
                    stop.store(true, Ordering::Relaxed);
                    failed = Some(e);
                }
            }
            Ok(_) => {}
            Err((pos, e)) => {
                if first.as_ref().is_none_or(|f| pos < f.0) {
                    first = Some((pos, e));
                }
            }
        };
        let _paused = GcPause::new();
        let helpers = threads.clamp(1, blocks.max(1)) - 1;
        let scoped = crate::encode::pool::in_place_scope(threads, |s| {
            for _ in 0..helpers {
                let tx = tx.clone();
                s.spawn(move |_| worker(tx));
            }
            drop(tx);
            let mut on = |msg: Msg, take: &mut dyn FnMut(Encoded, &[u32])| match msg {
                Msg::Block(done, ids) => take(done, &ids),
                Msg::Panicked => panicked = true,
            };
            t.encoder().with_sink(|sink| {
                let mut ids = Vec::new();
                loop {
                    // What the workers sent so far, then one more block of our own.
                    loop {
                        let msg = match rx.lock() {
                            Ok(rx) => rx.try_recv().ok(),
                            Err(poisoned) => poisoned.into_inner().try_recv().ok(),
                        };
                        let Some(msg) = msg else { break };
                        on(msg, &mut take);
                    }
                    let Some(done) = py.detach(|| claim(sink, &mut ids)) else {
                        break;
                    };
                    take(done, &ids);
                }
            });
            // The rest of the workers' blocks; `recv` fails once all have returned (their
            // senders dropped).
            loop {
                let msg = py.detach(|| match rx.lock() {
                    Ok(rx) => rx.recv().ok(),
                    Err(poisoned) => poisoned.into_inner().recv().ok(),
                });
                let Some(msg) = msg else { break };
                on(msg, &mut take);
            }
        });
        // (an error drops `outer` with the lists built so far: their items give their
        // references back to the reserve, as any list's do)
        match (scoped, failed, first) {
            (Err(e), _, _) => Err(to_py(e)),
            (_, Some(e), _) => Err(e),
            _ if panicked => Err(PyRuntimeError::new_err(
                "internal error: an encoding thread panicked",
            )),
            (_, None, Some((_, e))) => Err(to_py(e)),
            (Ok(()), None, None) => Ok(Some(outer)),
        }
    }

    /// `encode(text, allowed, disallowed, threads)` of a large text as a Python list; `None`
    /// (nothing done) where the interpreter's layouts are not known, and the caller builds the
    /// list the usual way.
    ///
    /// The text is encoded in chunks claimed in order by the threads (`encode_chunks_with`, GIL
    /// released), then the list's item array is written by all the threads at once
    /// (`fill_list_parallel`).
    ///
    /// Why not write each chunk's slots as soon as its place is known (so no fill at the
    /// end): measured 49.2 ms against 44.1 (cl100k_base, 20 MB of English, 2 threads). On the
    /// benchmark machine every fresh 2 MiB page of the array faults in the middle of the
    /// encoding, and the kernel's zeroing of it evicts the encoder's tables from the cache (the
    /// same 1-thread encode cut into 1 MiB chunks that way was 10% slower).
    pub(super) fn encode_list<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: &FxHashSet<&str>,
        disallowed: &FxHashSet<&str>,
        threads: usize,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        let Some(ints) = self.ints(py)? else {
            return Ok(None);
        };
        let t = &*self.inner;
        // Per thread: the chunks it encoded, (index, ids).
        type Mine = Vec<(usize, Vec<u32>)>;
        let (_, mine) = py
            .detach(|| {
                t.encode_chunks_with(
                    text,
                    allowed,
                    disallowed,
                    threads,
                    Mine::new,
                    // (the ids are checked against `ints` by `fill_list_parallel`, piece by
                    // piece as it writes them)
                    |mine: &mut Mine, k, ids| {
                        mine.push((k, std::mem::take(ids)));
                        Ok(())
                    },
                )
            })
            .map_err(to_py)?;
        let mut chunks: Vec<(usize, Vec<u32>)> = mine.into_iter().flatten().collect();
        chunks.sort_unstable_by_key(|&(k, _)| k);
        let slices: Vec<&[u32]> = chunks.iter().map(|(_, ids)| ids.as_slice()).collect();
        fill_list_parallel(py, ints, &slices, threads).map(Some)
    }
}

/// Pauses Python's cyclic garbage collector while it lives (if it was on), for building many
/// lists: each new list counts as a container allocation, so a batch of 100k paragraphs ran
/// dozens of collections, the older generations traversing every list made so far (a fifth of
/// `encode_batch`'s time on en.txt's paragraphs). Lists of ints cannot form cycles. Made and
/// dropped with the GIL held.
struct GcPause(bool);

impl GcPause {
    fn new() -> Self {
        // SAFETY: GIL held (the caller's); `PyGC_Disable` only switches the collector.
        Self(unsafe { pyo3::ffi::PyGC_Disable() } == 1)
    }
}

impl Drop for GcPause {
    fn drop(&mut self) {
        if self.0 {
            // SAFETY: as in `new` (dropped with the GIL held).
            unsafe { pyo3::ffi::PyGC_Enable() };
        }
    }
}

/// Build the lists of the texts of `range` from their ids (`ids`, text i's ending at `ends`)
/// into `slots`.
///
/// # Safety
/// The GIL is held; `slots` is the item array of a list built through `ListHead`
/// (`list_layout_known`) whose slots of `range` are NULL and written by nobody else; every id
/// is below `ints.len()`.
unsafe fn build_lists(
    py: Python<'_>,
    ints: &[Int],
    slots: *mut *mut pyo3::ffi::PyObject,
    range: std::ops::Range<usize>,
    ids: &[u32],
    ends: &[usize],
) -> PyResult<()> {
    let mut start = 0;
    for (i, &end) in range.zip(ends) {
        let part = &ids[start..end];
        start = end;
        // SAFETY: GIL held, the layout known and every id in range (the caller's promises).
        // The new list's own reference goes to slot `i`, NULL until now and ours alone (the
        // caller's promise).
        unsafe { *slots.add(i) = new_list(py, ints, &[part])? };
    }
    Ok(())
}

/// A new list (a new reference) holding the shared int of each id of `parts` in order, each
/// slot taking over one of its reserved references; the ids are not checked.
///
/// # Safety
/// The GIL is held, `list_layout_known` holds (`shared_ints` is `Some`), and every id of
/// `parts` is below `ints.len()`; the ids number at most `isize::MAX`.
#[inline]
unsafe fn new_list(
    py: Python<'_>,
    ints: &[Int],
    parts: &[&[u32]],
) -> PyResult<*mut pyo3::ffi::PyObject> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    // SAFETY: we hold the GIL and run no Python code in between. `PyList_New(len)` returns a
    // new reference to a list of `len` NULL slots, or NULL with an exception set (checked).
    // The layout is known, so `ob_item` points at the `len` slots; writing slot k is what
    // `PyList_SET_ITEM` does, each slot taking over a reserved reference of a shared int (in
    // range: the caller's promise), never freed. So the list is complete and owns all its
    // items when it is returned.
    unsafe {
        let list = pyo3::ffi::PyList_New(len as isize);
        if list.is_null() {
            return Err(PyErr::fetch(py));
        }
        let items = (*list.cast::<ListHead>()).ob_item;
        let mut k = 0;
        for part in parts {
            for &i in *part {
                *items.add(k) = ints.get_unchecked(i as usize).ptr();
                k += 1;
            }
        }
        Ok(list)
    }
}

/// A new list of the ids of `parts`, a new int object per id: where the shared ints cannot be
/// used (`shared_ints` is `None`).
fn usual_list<'py>(py: Python<'py>, parts: &[&[u32]]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, parts.iter().flat_map(|p| p.iter().copied()))
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
/// (another interpreter or version) lists are built the usual way (`usual_list`).
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

/// A new list holding the shared int of each id of `parts` in order, each slot taking over one
/// of its reserved references.
fn fill_list<'py>(py: Python<'py>, ints: &[Int], parts: &[&[u32]]) -> PyResult<Bound<'py, PyList>> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if isize::try_from(len).is_err() {
        return Err(PyValueError::new_err("too many ids for one Python list"));
    }
    // (the ids are read again right below, still in cache)
    if !parts.iter().all(|p| in_table(p, ints)) {
        return Err(out_of_table());
    }
    // SAFETY: GIL held (`py`). The callers only come here where `list_layout_known` holds
    // (`shared_ints` is `Some`); every id is in range (checked above) and they number at most
    // `isize::MAX` (above). `new_list` returns a new reference to a list, which
    // `from_owned_ptr` takes over.
    unsafe {
        let list = new_list(py, ints, parts)?;
        Ok(Bound::from_owned_ptr(py, list).cast_into_unchecked())
    }
}

/// [`fill_list`] with the item array written by `threads` threads (or this one), GIL released:
/// for the parallel `encode` of a large text this is the part of the list building left after
/// the last part arrives (a fresh array of 8 bytes per token, whose pages fault on first write).
/// The array is a `PyMem` block that a new empty list takes over, so it is written once
/// (`PyList_New(n)` zeroes its array first: a second pass over 8 bytes per token whenever the
/// allocator reuses memory instead of mapping fresh pages).
fn fill_list_parallel<'py>(
    py: Python<'py>,
    ints: &[Int],
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
        return Err(PyValueError::new_err("too many ids for one Python list"));
    };
    // SAFETY: GIL held, as `PyMem_Malloc` requires.
    let block = unsafe { pyo3::ffi::PyMem_Malloc(bytes) }.cast::<*mut pyo3::ffi::PyObject>();
    if block.is_null() {
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
    // Set if a piece has an id outside `ints` (never: see `in_table`); its slots stay unset.
    let bad = AtomicBool::new(false);
    let fill_piece = |&(at, ids): &(usize, &[u32])| {
        // (the piece, 256 KB of ids, is read again right below, from the cache)
        if !in_table(ids, ints) {
            bad.store(true, Ordering::Relaxed);
            return;
        }
        // SAFETY: `at + ids.len() <= len` (the pieces tile `0..len`) and the block holds `len`
        // slots, so `base` and every slot written below are inside it; no other piece covers
        // these slots.
        let base = unsafe { slots.base().add(at) };
        for (j, &i) in ids.iter().enumerate() {
            // SAFETY: `j < ids.len()`, so the slot is in this piece's range (above). `i` is
            // below `ints.len()` (checked above; so no bounds check here, ~2 instructions per
            // id). Each slot takes over one of the shared int's reserved references.
            unsafe { base.add(j).write(ints.get_unchecked(i as usize).ptr()) };
        }
    };
    let filled = if threads <= 1 {
        py.detach(|| pieces.iter().for_each(fill_piece));
        Ok(())
    } else {
        py.detach(|| {
            crate::encode::pool::install(threads, || pieces.par_iter().for_each(fill_piece))
        })
    }
    .and_then(|()| match bad.load(Ordering::Relaxed) {
        false => Ok(()),
        true => Err(Error::invalid(OUT_OF_TABLE)),
    });
    // SAFETY: GIL held. On failure the block is freed (its slots own nothing of their own: a
    // reserved reference not handed over stays in the reserve). Otherwise every slot holds a
    // reference; a new empty list (`PyList_New(0)`, NULL item array) takes the block over as
    // `list_resize` would (`list_layout_known` holds: `shared_ints` checked it), owning the
    // references and freeing the block with `PyMem_Free`. Nothing else has seen the list yet.
    unsafe {
        let list = match filled {
            Ok(()) => pyo3::ffi::PyList_New(0),
            Err(_) => std::ptr::null_mut(),
        };
        if list.is_null() {
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
