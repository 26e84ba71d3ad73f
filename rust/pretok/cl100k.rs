//! Hand-written scanner for tiktoken's cl100k_base split pattern
//! ([`CL100K_PATTERN`](super::CL100K_PATTERN)):
//!
//! ```text
//! '(?i:[sdmt]|ll|ve|re) | [^\r\n\p{L}\p{N}]?+\p{L}++ | \p{N}{1,3}+ | ?[^\s\p{L}\p{N}]++[\r\n]*+
//! | \s++$ | \s*[\r\n] | \s+(?!\S) | \s
//! ```
//!
//! Idea: the first alternative that matches at a piece start is decided by the first two characters
//! and the extent of one run, so each piece is found in a single forward pass:
//! 1. `'` + a contraction, letters case-insensitive (`'S`, `'Ll`, `'ſ` too): the contraction;
//! 2. a letter: the letter run. A character of `[^\r\n\p{L}\p{N}]` (any whitespace but `\r\n`,
//!    punctuation, marks) followed by a letter: that character plus the letter run (the `?+` is
//!    possessive, but when the prefix cannot be taken the letter alternative fails anyway);
//! 3. a number: up to three of them;
//! 4. an optional space, then a run of `[^\s\p{L}\p{N}]`, then any `\r`/`\n` run;
//! 5. whitespace: with `j` the end of the maximal whitespace run: at the end of the text the whole
//!    run (`\s++$`); else, if the run holds a `\r` or `\n`, up to and including the last of them
//!    (`\s*[\r\n]` backtracks to it); else all but the last character if there are two or more
//!    (`\s+(?!\S)`), else the single character.
//!
//! Cost: one pass, O(1) work per byte, no allocation.
//!
//! Invariant: pieces are non-empty and concatenate to the input; they equal fancy-regex's
//! `find_iter` on the pattern (tests in this file).

use super::classes::{BYTE, LETTER, NUM, PREFIX, PUNCT};
use super::scan::{split_with, Cursor};

/// Call `f` on each piece of `text`, in order.
pub(crate) fn split<'a>(text: &'a str, f: impl FnMut(&'a str)) {
    split_with(text, next, f);
}

/// End of the piece starting at `i` (`i < len`).
#[inline(always)]
fn next(c: Cursor<'_>, i: usize, b0: u8) -> usize {
    // Fast path (most pieces of most text): an optional space, then an ASCII letter. (A space is
    // in the prefix class; an apostrophe at `i` leaves `s == i`, which is no letter.)
    let s = i + usize::from(b0 == b' ');
    if c.get(s).is_some_and(|x| BYTE[x as usize] & LETTER != 0) {
        return c.run(s + 1, LETTER);
    }
    if b0 == b'\'' {
        if let Some(e) = c.contraction(i, true) {
            return e;
        }
    }
    let (k, n) = c.class(i);
    if k & LETTER != 0 {
        return c.run(i + n, LETTER);
    }
    if k & NUM != 0 {
        return c.run_max(i + n, NUM, 2);
    }
    // Here `k` is PREFIX (whitespace other than \r\n, punctuation, mark) or NL.
    let (k2, n2) = c.class_or_end(i + n);
    if k & PREFIX != 0 && k2 & LETTER != 0 {
        return c.run(i + n + n2, LETTER);
    }
    if k & PUNCT != 0 {
        return c.nl_run(c.run(i + n, PUNCT), false);
    }
    if b0 == b' ' && k2 & PUNCT != 0 {
        return c.nl_run(c.run(i + 1 + n2, PUNCT), false);
    }
    let run = c.ws_run(i);
    if run.end == c.len() {
        run.end
    } else if let Some(e) = run.nl_end {
        e
    } else if run.last == i {
        run.end
    } else {
        run.last
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{self, Preset};

    const P: Preset = Preset::Cl100k;

    #[test]
    fn cl100k_edge_cases() {
        testutil::check_edge_cases(P);
    }

    #[test]
    fn cl100k_known_pieces() {
        testutil::check_known(
            P,
            "Hello WORLD'S  end\n\n  x 12345 !!'ll\t'Ll \u{a0}x\n  ",
            &[
                "Hello", " WORLD", "'S", " ", " end", "\n\n", " ", " x", " ", "123", "45", " !!'",
                "ll", "\t", "'Ll", " ", "\u{a0}x", "\n  ",
            ],
        );
    }

    #[test]
    fn cl100k_every_code_point() {
        testutil::check_every_code_point(P);
    }

    #[test]
    fn cl100k_corpus() {
        testutil::check_corpus(P);
    }

    proptest::proptest! {
        #![proptest_config(testutil::proptest_config())]
        #[test]
        fn cl100k_matches_regex_tricky(s in testutil::tricky_text()) {
            testutil::prop_same(P, &s)?;
        }
        #[test]
        fn cl100k_matches_regex_ascii(s in testutil::ascii_text()) {
            testutil::prop_same(P, &s)?;
        }
    }
}
