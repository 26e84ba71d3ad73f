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
    let threads = threads.clamp(1, MAX_THREADS);
    if threads == rayon::current_num_threads() {
        return Ok(f());
    }
    static POOLS: OnceLock<Mutex<FxHashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let pool = {
        let mut pools = POOLS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match pools.get(&threads) {
            Some(p) => p.clone(),
            None => {
                let p = Arc::new(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .map_err(|e| {
                            Error::invalid(format!("cannot start {threads} threads: {e}"))
                        })?,
                );
                pools.insert(threads, p.clone());
                p
            }
        }
    };
    Ok(pool.install(f))
}
