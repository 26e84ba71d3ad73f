//! Dynamic batch-level merging (issue 4): the engine over one batch, boundary-aware.
