//! Corpus tokenization and pretoken-count files (issue 7).
