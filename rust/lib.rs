//! bytepair: a byte-pair-encoding toolkit.
//!
//! One engine ([`engine::Engine`]: a multiset of token sequences with incrementally maintained
//! pair counts) serves every capability; each capability is a policy over it.

pub mod pretok;
pub mod engine;
pub mod count;
pub mod error;
pub mod progress;

pub use error::{Error, Result};
pub mod vocab;
pub mod train;
pub mod encode;
pub mod formats;
pub mod tokenizer;

pub use tokenizer::Tokenizer;

#[cfg(feature = "python")]
mod python;
