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
//! Fastest path: where the 32 bytes at a piece start begin with "plain" ASCII, all the piece
//! starts among them come from 32-bit class masks at once, with the o200k scanner's rules less
//! its camel-case start (`plain_starts::<false>` in `o200k.rs`, where the differences between
//! the two patterns are worked through). Fast path ([`fast`]): a piece that starts with at least
//! 16 bytes left and is decided by ASCII alone (most pieces of English and code) is found from
//! 16-bit class masks of those 16 bytes ([`Block`]), as in the o200k scanner; everything else
//! goes through [`next`].
//!
//! Cost: one pass, O(1) work per byte, no allocation.
//!
//! Invariant: pieces are non-empty and concatenate to the input; they equal fancy-regex's
//! `find_iter` on the pattern (tests in this file).

use super::block::{digits_end, ones_from, punct_end, ws_end, Block};
use super::classes::{BYTE, LETTER, LOWER, NL, NUM, OTHER, PREFIX, PUNCT, UPPER, WS};
use super::scan::{split_fast, Cursor, Pieces};

/// Call `f` on each piece of `text`, in order.
#[allow(clippy::redundant_closure)] // (the closures are deliberate: see below)
pub(crate) fn split<'a>(text: &'a str, f: impl Pieces<'a>) {
    // (closures marked for inlining, as in o200k.rs: passed as fn items, they went through an
    // out-of-line `Fn::call` shim per piece in the Python module's build)
    split_fast(
        text,
        #[inline(always)]
        |w| super::o200k::plain_starts::<false>(w),
        #[inline(always)]
        |c, w, i| fast(c, w, i),
        #[inline(always)]
        |c, i, b0| next(c, i, b0),
        f,
    );
}

/// End of the piece starting at `i` when the 16 bytes `w` at `i` decide it, else 0 (then
/// [`next`] decides). Only ASCII is classified here: whenever a run stops at a non-ASCII byte
/// (which might continue it) or reaches the end of `w`, the answer is 0; a piece starting with
/// `'` (a contraction, or punctuation) is left to [`next`] too.
///
/// In ASCII: a letter run, with an optional prefix byte of `[^\r\n\p{L}\p{N}]` (ASCII
/// punctuation or whitespace other than `\r\n`) when a letter follows it (case 2 of the module
/// docs; contractions are pieces of their own, so the run just ends); up to three digits; an
/// optional space, a punctuation run (apostrophes included) and any `\r\n` run; a whitespace
/// run cut as in case 5 (the run cannot reach the end of the text: it stops inside `w`).
#[inline(always)]
fn fast(_c: Cursor<'_>, w: &[u8; 16], i: usize) -> usize {
    let blk = Block::load(w);
    let k0 = BYTE[w[0] as usize];
    let letter = blk.range(b'a', b'z') | blk.range(b'A', b'Z');
    let non_ascii = blk.non_ascii();
    // Start of the letters: 0, or 1 after a prefix byte.
    let s = if k0 & (UPPER | LOWER) != 0 {
        0
    } else if k0 & (OTHER | WS) != 0 && w[0] != b'\'' && letter & 2 != 0 {
        1
    } else {
        return fast_other(blk, w[0], k0, non_ascii, letter, i);
    };
    // Bit `s` is a letter, so `e > s`; at `e < 16` is a byte that is no ASCII letter.
    let e = s + ones_from(letter, s);
    if e >= 16 || non_ascii >> e & 1 != 0 {
        return 0;
    }
    i + e as usize
}

/// [`fast`] for a piece that is not a letter run starting at byte 0 or 1 of `w`: `b0` is byte 0
/// and `k0` its class (0 if not ASCII), `letter` the mask of ASCII letters.
#[inline(always)]
fn fast_other(blk: Block, b0: u8, k0: u8, non_ascii: u32, letter: u32, i: usize) -> usize {
    let space = blk.range(9, 13) | blk.eq(b' ');
    let digit = blk.range(b'0', b'9');
    let other = !(non_ascii | letter | digit | space) & 0xFFFF;
    // End of the punctuation run from bit `p` (`[^\s\p{L}\p{N}]++`, then `[\r\n]*+`).
    let punct = |p: u32| punct_end(other, blk.eq(b'\n') | blk.eq(b'\r'), non_ascii, p, i);
    match k0 {
        NUM => digits_end(digit, non_ascii, i),
        // An apostrophe may start a contraction (alternative 1).
        OTHER if b0 == b'\'' => 0,
        // (Not followed by a letter, or `fast` would have taken the word.)
        OTHER => punct(0),
        WS | NL => {
            if b0 == b' ' && other & 2 != 0 {
                return punct(1);
            }
            ws_end(blk, space, non_ascii, i)
        }
        _ => 0,
    }
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
    fn cl100k_block_edges() {
        testutil::check_block_edges(P);
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
        #[test]
        fn cl100k_matches_regex_plain(s in testutil::plain_text()) {
            testutil::prop_same(P, &s)?;
        }
    }
}
