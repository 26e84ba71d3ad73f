//! Pretokenizers: split text into the pieces that BPE merges never cross.
//!
//! Presets reproduce exactly the split patterns tiktoken uses (`gpt2` = r50k, `cl100k`, `o200k`)
//! with hand-written scanners (`gpt2.rs`, `cl100k.rs`, `o200k.rs` over the byte cursor of `scan.rs`
//! and the Unicode class table of `classes.rs`; o200k and cl100k also classify 16 ASCII bytes at
//! once with `block.rs`), 8-25x faster than the regex; `none` keeps the whole input as one piece;
//! anything else is compiled as a custom regex (fancy-regex, so lookaheads and possessive
//! quantifiers work).
//!
//! Invariant of every pretokenizer: the pieces, concatenated in order, are exactly the input. The
//! scanners give exactly the pieces of fancy-regex's `find_iter` on the preset pattern, for every
//! valid UTF-8 input (tests beside each scanner, harness in `testutil.rs`).

mod block;
mod cl100k;
mod classes;
mod gpt2;
mod o200k;
mod regex_split;
mod scan;
mod superbpe;
#[cfg(test)]
mod testutil;

use std::fmt;

pub use regex_split::RegexSplitter;
pub use scan::{AsciiBlock, Pieces};
pub use superbpe::SUPERBPE_PATTERN;

/// tiktoken's r50k/gpt2 pattern (`tiktoken_ext/openai_public.py`, `r50k_pat_str`).
pub const GPT2_PATTERN: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";
/// tiktoken's cl100k_base pattern.
pub const CL100K_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
/// tiktoken's o200k_base pattern (the alternatives joined with `|`, as tiktoken does).
pub const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"\p{N}{1,3}",
    "|",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    "|",
    r"\s*[\r\n]+",
    "|",
    r"\s+(?!\S)",
    "|",
    r"\s+"
);

/// Error of building or running a pretokenizer.
#[derive(Debug, thiserror::Error)]
pub enum PretokError {
    #[error("invalid pretokenizer pattern {pattern:?}: {message}")]
    BadPattern { pattern: String, message: String },
    #[error("pretokenizer regex failed on the input (backtracking limit?): {0}")]
    Runtime(String),
}

/// A pretokenizer. Cheap to clone (presets hold nothing; a custom regex is reference counted
/// inside fancy-regex).
#[derive(Clone)]
pub enum Pretokenizer {
    /// tiktoken r50k / GPT-2 split pattern (hand-written scanner).
    Gpt2,
    /// tiktoken cl100k_base split pattern (hand-written scanner).
    Cl100k,
    /// tiktoken o200k_base split pattern (hand-written scanner).
    O200k,
    /// SuperBPE's stage-2 delimiters, `Split(Isolated)` (hand-written scanner).
    SuperBpe,
    /// No splitting: the whole input is one piece.
    None,
    /// Any other pattern.
    Custom(RegexSplitter),
}

impl fmt::Debug for Pretokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pretokenizer({})", self.name())
    }
}

impl Pretokenizer {
    /// `gpt2`/`r50k`, `cl100k`/`cl100k_base`, `o200k`/`o200k_base`, `superbpe` (SuperBPE's
    /// stage-2 delimiters), `none`, or a regex.
    /// A regex string equal to a preset's pattern gives that preset.
    pub fn new(name_or_pattern: &str) -> Result<Self, PretokError> {
        let p = match name_or_pattern {
            "gpt2" | "r50k" | "r50k_base" | "p50k_base" | GPT2_PATTERN => Pretokenizer::Gpt2,
            "cl100k" | "cl100k_base" | CL100K_PATTERN => Pretokenizer::Cl100k,
            "o200k" | "o200k_base" | O200K_PATTERN => Pretokenizer::O200k,
            "superbpe" | SUPERBPE_PATTERN => Pretokenizer::SuperBpe,
            "none" | "" => Pretokenizer::None,
            pat => Pretokenizer::Custom(RegexSplitter::new(pat)?),
        };
        Ok(p)
    }

    /// Short name: `gpt2`, `cl100k`, `o200k`, `none` or `custom`.
    pub fn name(&self) -> &'static str {
        match self {
            Pretokenizer::Gpt2 => "gpt2",
            Pretokenizer::Cl100k => "cl100k",
            Pretokenizer::O200k => "o200k",
            Pretokenizer::SuperBpe => "superbpe",
            Pretokenizer::None => "none",
            Pretokenizer::Custom(_) => "custom",
        }
    }

    /// The regex this pretokenizer is equivalent to (`None` for `none`).
    pub fn pattern(&self) -> Option<&str> {
        match self {
            Pretokenizer::Gpt2 => Some(GPT2_PATTERN),
            Pretokenizer::Cl100k => Some(CL100K_PATTERN),
            Pretokenizer::O200k => Some(O200K_PATTERN),
            Pretokenizer::SuperBpe => Some(SUPERBPE_PATTERN),
            Pretokenizer::Custom(r) => Some(r.pattern()),
            Pretokenizer::None => None,
        }
    }

    /// Call `f` on every piece of `text`, in order. The pieces concatenate to `text`.
    pub fn split<'a>(&self, text: &'a str, f: impl FnMut(&'a str)) -> Result<(), PretokError> {
        self.split_pieces(text, f)
    }

    /// [`Self::split`] into a [`Pieces`] receiver, which the o200k and cl100k scanners hand
    /// blocks of ASCII pieces decided at once.
    pub fn split_pieces<'a>(
        &self,
        text: &'a str,
        mut f: impl Pieces<'a>,
    ) -> Result<(), PretokError> {
        match self {
            Pretokenizer::Gpt2 => {
                gpt2::split(text, |p| f.piece(p));
                Ok(())
            }
            Pretokenizer::Cl100k => {
                cl100k::split(text, f);
                Ok(())
            }
            Pretokenizer::O200k => {
                o200k::split(text, f);
                Ok(())
            }
            Pretokenizer::SuperBpe => {
                superbpe::split(text, |p| f.piece(p));
                Ok(())
            }
            Pretokenizer::Custom(r) => r.split(text, |p| f.piece(p)),
            Pretokenizer::None => {
                if !text.is_empty() {
                    f.piece(text);
                }
                Ok(())
            }
        }
    }

    /// Collect the pieces of `text` (convenience for tests and small inputs).
    pub fn pieces<'a>(&self, text: &'a str) -> Result<Vec<&'a str>, PretokError> {
        let mut v = Vec::new();
        self.split(text, |p| v.push(p))?;
        Ok(v)
    }
}
