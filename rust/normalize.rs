//! Text normalizers applied before pretokenization (HF `tokenizer.json` `normalizer`).
//!
//! Only what byte-level BPE files in the wild use is supported (NFC, NFKC, and a `Sequence` of
//! them); the loader refuses anything else with an error naming it.
//!
//! Cost: a quick-check pass over the text (no allocation) decides whether normalization can
//! change it at all; only text that fails the quick check is normalized into a new string. On
//! already-normalized text (nearly all real text for NFC) the cost is one scan.

use std::borrow::Cow;

use unicode_normalization::{is_nfc_quick, is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// A Unicode normalization form. HF tokenizers uses a fork of the same `unicode-normalization`
/// crate (with alignments); Unicode's normalization stability policy makes the two agree on
/// every character both versions know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalizer {
    Nfc,
    Nfkc,
}

impl Normalizer {
    /// Normalize `text` (borrowed when it is already normalized).
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let quick = match self {
            Normalizer::Nfc => is_nfc_quick(text.chars()),
            Normalizer::Nfkc => is_nfkc_quick(text.chars()),
        };
        if quick == IsNormalized::Yes {
            return Cow::Borrowed(text);
        }
        let out: String = match self {
            Normalizer::Nfc => text.nfc().collect(),
            Normalizer::Nfkc => text.nfkc().collect(),
        };
        if out == text {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(out)
        }
    }

    /// HF's name of the normalizer.
    pub fn name(&self) -> &'static str {
        match self {
            Normalizer::Nfc => "NFC",
            Normalizer::Nfkc => "NFKC",
        }
    }

    /// The normalizer named `name` in HF's `{"type": ...}` (`NFC` or `NFKC`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "NFC" => Some(Normalizer::Nfc),
            "NFKC" => Some(Normalizer::Nfkc),
            _ => None,
        }
    }

    /// The single normalizer equal to applying `self` then `next`. NFKC output is already in
    /// NFC, and NFKC(NFC(x)) = NFKC(x), so any chain of the two is NFKC if it holds one NFKC.
    pub fn then(self, next: Normalizer) -> Normalizer {
        if self == Normalizer::Nfkc || next == Normalizer::Nfkc {
            Normalizer::Nfkc
        } else {
            Normalizer::Nfc
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfc_and_nfkc() {
        let decomposed = "e\u{301}te\u{301} \u{FB01}"; // é, é, the "fi" ligature
        assert_eq!(Normalizer::Nfc.apply(decomposed), "\u{e9}t\u{e9} \u{FB01}");
        assert_eq!(Normalizer::Nfkc.apply(decomposed), "\u{e9}t\u{e9} fi");
        assert!(matches!(Normalizer::Nfc.apply("plain"), Cow::Borrowed(_)));
        assert!(matches!(Normalizer::Nfkc.apply(""), Cow::Borrowed(_)));
        assert_eq!(Normalizer::Nfkc.apply("\u{2460}"), "1");
    }

    #[test]
    fn chains_collapse() {
        use Normalizer::*;
        assert_eq!(Nfc.then(Nfc), Nfc);
        assert_eq!(Nfc.then(Nfkc), Nfkc);
        assert_eq!(Nfkc.then(Nfc), Nfkc);
        for s in [
            "e\u{301}\u{FB01}\u{212B}",
            "\u{1100}\u{1161}\u{11A8}",
            "x\u{325}\u{301}",
        ] {
            assert_eq!(Nfkc.apply(&Nfc.apply(s)), Nfkc.apply(s));
            assert_eq!(Nfc.apply(&Nfkc.apply(s)), Nfkc.apply(s));
        }
    }
}
