//! Thread pools for batch encoding, one per requested thread count, built once and kept.
//!
//! Why keep them: building a pool spawns threads (~100 us), and the per-thread piece caches live
//! in the worker threads; a fresh pool per call would throw both away. The lock is taken once
//! per batch call, never per text or piece.

use std::sync::{Arc, Mutex, OnceLock};

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};

/// More threads than this are not useful for encoding and would only cost memory.
const MAX_THREADS: usize = 256;

/// Run `f` on a pool of `threads` workers (the global rayon pool when the count matches it).
pub fn install<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    Ok(match kept(threads)? {
        None => f(),
        Some(pool) => pool.install(f),
    })
}

/// Run `f` on this thread with a scope whose spawned jobs run on the pool of `threads` workers
/// (the global rayon pool when the count matches it); returns once `f` and every job it
/// spawned have returned. For work shared between the pool and the calling thread, which
/// keeps doing what only it can (e.g. build Python objects) between its own jobs.
pub fn in_place_scope<'s, R>(threads: usize, f: impl FnOnce(&rayon::Scope<'s>) -> R) -> Result<R> {
    Ok(match kept(threads)? {
        None => rayon::in_place_scope(f),
        Some(pool) => pool.in_place_scope(f),
    })
}

/// The kept pool of `threads` workers, made on first use; `None` for the global pool (when
/// the count matches it).
fn kept(threads: usize) -> Result<Option<Arc<rayon::ThreadPool>>> {
    let threads = threads.clamp(1, MAX_THREADS);
    if threads == rayon::current_num_threads() {
        return Ok(None);
    }
    static POOLS: OnceLock<Mutex<FxHashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(p) = pools.get(&threads) {
        return Ok(Some(p.clone()));
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::invalid(format!("cannot start {threads} threads: {e}")))?,
    );
    pools.insert(threads, p.clone());
    Ok(Some(p))
}
