//! Corpus-scale work (issue 7): pretoken-count files that merge associatively, so counting can
//! run on many machines and training on one ([`counts`]), and the layout of encoded documents
//! as one flat token array for memory-mapped LM training ([`tokens`]).
//!
//! Reading files (text, JSON Lines, Parquet, compressed) and the streaming loop live in Python
//! (`python/bytepair/corpus.py`): it reads ahead on a thread while these functions encode a
//! bounded batch on all cores with the GIL released. Text files go in as raw blocks cut at
//! document boundaries ([`tokens::encode_text`] splits them with [`docs`]), so no Python string
//! is made per document.

pub mod counts;
pub mod docs;
pub mod tokens;
