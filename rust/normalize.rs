//! Text normalizers applied before pretokenization (HF `tokenizer.json` `normalizer`).
//!
//! Only what byte-level BPE files in the wild use is supported; anything else is refused by the
//! loader with an error naming it.

use std::borrow::Cow;

/// A Unicode normalization form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalizer {
    Nfc,
    Nfkc,
}

impl Normalizer {
    /// Normalize `text` (borrowed when already normalized).
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        // Implemented with the unicode-normalization crate by the loader work; until then the
        // identity, which the loader never selects.
        let _ = self;
        Cow::Borrowed(text)
    }

    /// HF's name of the normalizer.
    pub fn name(&self) -> &'static str {
        match self {
            Normalizer::Nfc => "NFC",
            Normalizer::Nfkc => "NFKC",
        }
    }
}
