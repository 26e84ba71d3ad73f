//! Hand-written scanner for tiktoken's GPT-2 / r50k split pattern ([`GPT2_PATTERN`](super::GPT2_PATTERN)):
//!
//! ```text
//! '(?:[sdmt]|ll|ve|re) | ?\p{L}++ | ?\p{N}++ | ?[^\s\p{L}\p{N}]++ | \s++$ | \s+(?!\S) | \s
//! ```
//!
//! Idea: at each piece start the regex tries its alternatives in order; every alternative is either
//! possessive or has at most one place to backtrack, so the first successful one is decided by the
//! first two characters and the length of a run:
//! 1. `'` + `s d m t` / `ll ve re` (ASCII, case-sensitive): the contraction.
//! 2. a space (U+0020 only) followed by a letter, number or "other" (`[^\s\p{L}\p{N}]`): the space
//!    plus the maximal run of that group;
//! 3. a letter, number or other: the maximal run of its group (an apostrophe that starts no
//!    contraction is an "other");
//! 4. whitespace: let the maximal whitespace run end at `j`. At the end of the text it is one
//!    piece (`\s++$`); else, if it has two or more characters, all but the last (`\s+(?!\S)`
//!    backtracks one character, leaving the last to the next piece); else the single character.
//!
//! Cost: one pass, a constant number of table lookups per byte (whitespace runs are scanned
//! twice at most), no allocation.
//!
//! Invariant: pieces are non-empty and concatenate to the input; they equal fancy-regex's
//! `find_iter` on the pattern (tests in this file: hand-picked cases, property tests, every code
//! point in many contexts, the shared corpus).

use super::classes::{BYTE, LETTER, NUM, PUNCT};
use super::scan::{split_with, Cursor};

/// Call `f` on each piece of `text`, in order.
pub(crate) fn split<'a>(text: &'a str, f: impl FnMut(&'a str)) {
    // (a closure marked for inlining: passed as a fn item, `next` went through an out-of-line
    // `Fn::call` shim per piece in the Python module's build; see o200k.rs)
    split_with(
        text,
        #[inline(always)]
        |c, i, b0| next(c, i, b0),
        f,
    );
}

/// The group (`\p{L}`, `\p{N}` or `[^\s\p{L}\p{N}]`) of a class bit, or 0 for whitespace.
#[inline(always)]
fn group(class: u8) -> u8 {
    if class & LETTER != 0 {
        LETTER
    } else if class & NUM != 0 {
        NUM
    } else if class & PUNCT != 0 {
        PUNCT
    } else {
        0
    }
}

/// End of the piece starting at `i` (`i < len`).
#[inline(always)]
fn next(c: Cursor<'_>, i: usize, b0: u8) -> usize {
    // Fast path (most pieces of most text): an optional space, then an ASCII letter.
    let s = i + usize::from(b0 == b' ');
    if c.get(s).is_some_and(|x| BYTE[x as usize] & LETTER != 0) {
        return c.run(s + 1, LETTER);
    }
    if b0 == b'\'' {
        if let Some(e) = c.contraction(i, false) {
            return e;
        }
    }
    if b0 == b' ' {
        let (k2, n2) = c.class_or_end(i + 1);
        let g = group(k2);
        if g != 0 {
            return c.run(i + 1 + n2, g);
        }
    }
    let (k, n) = c.class(i);
    let g = group(k);
    if g != 0 {
        return c.run(i + n, g);
    }
    let run = c.ws_run(i);
    if run.end == c.len() || run.last == i {
        run.end
    } else {
        run.last
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{self, Preset};

    const P: Preset = Preset::Gpt2;

    #[test]
    fn gpt2_edge_cases() {
        testutil::check_edge_cases(P);
    }

    #[test]
    fn gpt2_known_pieces() {
        testutil::check_known(
            P,
            "Hello world's  end\n\n  x 123 !!'ll 'LL",
            &[
                "Hello", " world", "'s", " ", " end", "\n\n ", " x", " 123", " !!'", "ll", " '",
                "LL",
            ],
        );
    }

    #[test]
    fn gpt2_every_code_point() {
        testutil::check_every_code_point(P);
    }

    #[test]
    fn gpt2_corpus() {
        testutil::check_corpus(P);
    }

    proptest::proptest! {
        #![proptest_config(testutil::proptest_config())]
        #[test]
        fn gpt2_matches_regex_tricky(s in testutil::tricky_text()) {
            testutil::prop_same(P, &s)?;
        }
        #[test]
        fn gpt2_matches_regex_ascii(s in testutil::ascii_text()) {
            testutil::prop_same(P, &s)?;
        }
    }
}
