//! bytepair: a byte-pair-encoding toolkit.
//!
//! One engine ([`engine::Engine`]: a multiset of token sequences with incrementally maintained
//! pair counts) serves every capability; each capability is a policy over it.
//!
//! - [`pretok`] holds the pretokenizers (hand-written gpt2/cl100k/o200k scanners, regex fallback)
//! - [`count`] counts pretokens in parallel, streaming
//! - [`engine`] is the merge engine and its lazy heap
//! - [`train`] is the BPE trainer (engine + "most frequent pair")
//! - [`vocab`], [`encode`], [`normalize`] and [`tokenizer`] hold the vocabulary and encoding
//! - [`formats`] reads and writes HF `tokenizer.json`, tiktoken rank files, atomically

pub mod corpus;
pub mod count;
pub mod dynamic;
pub mod encode;
pub mod engine;
pub mod error;
pub mod formats;
pub mod mixture;
pub mod normalize;
pub mod pretok;
pub mod progress;
pub mod supertoken;
pub mod tokenizer;
pub mod train;
pub mod vocab;

pub use error::{Error, Result};
pub use tokenizer::Tokenizer;

#[cfg(feature = "python")]
mod python;

/// Deterministic xorshift generator for tests: `rng(m)` is uniform-ish in `0..m`.
#[cfg(test)]
pub(crate) fn test_rng(mut x: u64) -> impl FnMut(u64) -> u64 {
    move |m| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    }
}
