//! Regex fallback: any pattern, through fancy-regex (lookarounds, possessive quantifiers).
//!
//! Cost: a backtracking engine; 8-25x slower than the hand-written scanners of the presets
//! (`cargo test --release pretok::testutil::bench -- --ignored --nocapture`).
//! Text between matches (which the patterns of tiktoken never leave) is emitted as its own piece,
//! so the pieces always concatenate to the input.

use super::PretokError;

/// A compiled split pattern.
#[derive(Clone)]
pub struct RegexSplitter {
    re: fancy_regex::Regex,
    pattern: String,
}

impl RegexSplitter {
    pub fn new(pattern: &str) -> Result<Self, PretokError> {
        let re = fancy_regex::RegexBuilder::new(pattern)
            .backtrack_limit(10_000_000)
            .build()
            .map_err(|e| PretokError::BadPattern {
                pattern: pattern.to_string(),
                message: e.to_string(),
            })?;
        Ok(Self {
            re,
            pattern: pattern.to_string(),
        })
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn split<'a>(&self, text: &'a str, mut f: impl FnMut(&'a str)) -> Result<(), PretokError> {
        let mut last = 0;
        for m in self.re.find_iter(text) {
            let m = m.map_err(|e| PretokError::Runtime(e.to_string()))?;
            if m.start() > last {
                f(&text[last..m.start()]);
            }
            if m.end() > m.start() {
                f(m.as_str());
            }
            last = m.end();
        }
        if last < text.len() {
            f(&text[last..]);
        }
        Ok(())
    }
}
