//! Hand-written scanner for tiktoken's o200k_base split pattern
//! ([`O200K_PATTERN`](super::O200K_PATTERN)). With `P = [^\r\n\p{L}\p{N}]`,
//! `U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`, `L = [\p{Ll}\p{Lm}\p{Lo}\p{M}]` and
//! `C = (?i:'s|'t|'re|'ve|'m|'ll|'d)`:
//!
//! ```text
//! P?U*L+C? | P?U+L*C? | \p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n/]* | \s*[\r\n]+ | \s+(?!\S) | \s+
//! ```
//!
//! Idea: nothing here is possessive, so the scanner replays the backtracking order of the regex,
//! which collapses to a few cases. For a start `s`, let the maximal `U` run be `s..a`:
//! * `U*L+C?` from `s` (call it `word(s)`): if the character at `a` is in `L` (then it is `\p{Ll}`,
//!   being outside `U`), the word is `s..a` + the maximal `L` run + an optional contraction.
//!   Otherwise `U*` backtracks to the last character of `s..a` that is also in `L` (`\p{Lm}`,
//!   `\p{Lo}`, `\p{M}`); `L+` then takes exactly that character (the characters after it are
//!   `\p{Lu}`/`\p{Lt}`, the one at `a` is not in `L`), then the optional contraction. If there is no
//!   such character, the alternative fails at `s`.
//! * `U+L*C?` from `s` is only tried once `word(s)` failed, so the character at `a` is not in `L`
//!   and the match is `s..a` + optional contraction (if `a > s`).
//!
//! At a piece start `i` with character `x`, the regex tries, in this order:
//! 1. `x` in `P`: alternative 1 with the prefix, `word(i+1)`; then without it, which can only
//!    match if `x` is a mark (in `P`, `U` and `L` at once) and then gives `x` + contraction (the
//!    failure of `word(i+1)` leaves nothing after `x` in `L`); then alternative 2 with the prefix,
//!    `i..a` + contraction if the `U` run after `x` is non-empty.
//! 2. `x` a letter: `word(i)`, else (`x` in `\p{Lu}\p{Lt}`) the `U` run + contraction.
//! 3. `x` a number: up to three numbers.
//! 4. an optional space, a run of `[^\s\p{L}\p{N}]`, then any run of `\r`, `\n`, `/`.
//! 5. whitespace, with the maximal run ending at `j`: if the run holds a `\r`/`\n`, up to and
//!    including the last one (`\s*[\r\n]+`); else at the end of the text the whole run; else all
//!    but the last character when there are two or more (`\s+(?!\S)`), else the single character
//!    (`\s+` can only match one here).
//!
//! Fastest path ([`plain_starts`]): where the 32 bytes at a piece start begin with "plain" bytes
//! (ASCII letters and digits, the space, newlines, ASCII punctuation other than the apostrophe),
//! every piece start among them is read off class masks at once, with no branch per piece, and
//! the pieces go to the receiver as one block (the encoder takes it whole). The cl100k scanner
//! uses the same step without the camel-case start.
//!
//! Fast path ([`fast`]): a piece that starts with at least 16 bytes left and is decided by ASCII
//! alone (most pieces of English and code) is found from 16-bit class masks of those 16 bytes
//! ([`Block`]); everything else goes through [`next`], the general scanner described above.
//!
//! Cost: one pass, O(1) work per byte except the `U` run of a failed `word(i+1)`, which is scanned
//! again by the piece that follows (each byte is scanned at most twice); no allocation.
//!
//! Invariant: pieces are non-empty and concatenate to the input; they equal fancy-regex's
//! `find_iter` on the pattern (tests in this file).

use super::block::{digits_end, ones_from, punct_end, ws_end, Block};
use super::classes::{BOTH, BYTE, LETTER, LOWER, MARK, NL, NUM, OTHER, PREFIX, PUNCT, UPPER, WS};
use super::scan::{split_fast, Cursor, Pieces};

/// o200k's `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`.
const U: u8 = UPPER | BOTH | MARK;
/// o200k's `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`.
const L: u8 = LOWER | BOTH | MARK;

/// Call `f` on each piece of `text`, in order.
#[allow(clippy::redundant_closure)] // (the closures are deliberate: see below)
pub(crate) fn split<'a>(text: &'a str, f: impl Pieces<'a>) {
    // (closures marked for inlining: passed as fn items, `fast` and `next` went through an
    // out-of-line `Fn::call` shim, one call per piece, in the Python module's build (fat LTO);
    // the example binaries inlined them, so their profiles did not show it)
    split_fast(
        text,
        #[inline(always)]
        |w| plain_starts::<true>(w),
        #[inline(always)]
        |c, w, i| fast(c, w, i),
        #[inline(always)]
        |c, i, b0| next(c, i, b0),
        f,
    );
}

/// The piece starts in `1..32` that the 32 bytes `w` at a piece start decide, as a mask (see
/// [`split_fast`]): those up to two bytes before the first byte that is not "plain". Plain bytes:
/// ASCII letters and digits (not the fourth of a run), the space, `\n` and `\r` (not after a
/// space, nor followed by `/`), and punctuation (the other printable ASCII bytes and DEL, but
/// not the apostrophe).
///
/// In plain text the pattern comes down to local rules, each reading at most the two bytes
/// before a position and the one after it (the pattern has no lookbehind, so byte 0, a piece
/// start, acts as if the text began there). With `U`, `L` the capitals and the small letters,
/// `S` the space, `N` the newlines, `D` the digits and `P` the punctuation, position `j` starts
/// a piece iff
/// * `j` starts a word: a letter after a non-letter, or a capital after a small letter (the word
///   is `U*L*`, alternatives 1 and 2); unless its prefix byte takes the start: the byte before is
///   `S`, or a `P` that starts a piece itself (the byte before it is neither `P` nor `S`). A `P`
///   after `S` belongs to the piece ` P+` of that space, and one after `P` to the punctuation
///   run, so then the word starts bare;
/// * `j` is the first `P` of a run (` ?[^\s\p{L}\p{N}]+`), or the space before it;
/// * `j` is the first `S` of a run, or the last of a run of two or more followed by a non-space
///   (`\s+(?!\S)` leaves it to the next piece: a word's prefix, the space of ` P+`, or alone
///   before a digit);
/// * `j` is the first `D` of a run (`\p{N}{1,3}`; the fourth digit of a run, which starts a piece
///   too, is not plain);
/// * `j` is the first `N` of a run that does not follow a `P` (after a `P`, `[\r\n/]*` takes the
///   newlines into the punctuation piece). Without a space before a newline, a whitespace run
///   holding newlines is `N+S*`: `\s*[\r\n]+` takes the `N+`, and the spaces start afresh.
///
/// A start is decided when the bytes from two before it to one after it are plain, so the mask
/// keeps the starts up to two before the first other byte. The pieces between two decided
/// starts are then exact (tested against the regex with the rest of the scanner).
///
/// cl100k (`CAMEL = false`): its pattern differs from o200k's only where these rules do not
/// look or where they give the same starts, except that a word is one run of letters of either
/// case (`\p{L}++`: no start at a capital after a small letter). Its punctuation piece takes
/// newlines but not a `/` after them (`[\r\n]*+`); that `/` is not plain here, as for o200k.
/// Its whitespace alternatives `\s*[\r\n]` and `\s` end where o200k's `\s*[\r\n]+` and
/// `\s+` do on plain bytes (the last newline of the run; one byte before a non-space).
#[inline(always)]
pub(super) fn plain_starts<const CAMEL: bool>(w: &[u8; 32]) -> u32 {
    let (Some(a), Some(b)) = (w.first_chunk::<16>(), w.last_chunk::<16>()) else {
        return 0;
    };
    let (a, b) = (Block::load(a), Block::load(b));
    // The 32-bit mask of both halves.
    macro_rules! both {
        ($k:ident => $e:expr) => {{
            let $k = a;
            let lo = $e;
            let $k = b;
            opaque(lo | ($e) << 16)
        }};
    }
    let newline = both!(k => k.eq(b'\n') | k.eq(b'\r'));
    let space = both!(k => k.eq(b' '));
    let apostrophe = both!(k => k.eq(b'\''));
    let digit = both!(k => k.range(b'0', b'9'));
    // (the fourth digit of a run: `\p{N}{1,3}` starts a new piece there, left to `fast`)
    let long_number = digit & (digit << 1) & (digit << 2) & (digit << 3);
    let other = (both!(k => k.non_ascii() | k.range(0, 0x1F)) & !newline)
        | apostrophe
        | long_number
        | newline & (space << 1)
        | both!(k => k.eq(b'/')) & (newline << 1);
    // Bytes 0..first other byte (32 if none) are plain; starts up to 2 before it are decided.
    let first_other = other.trailing_zeros();
    if first_other < 3 {
        return 0;
    }
    let mut decided = (1u32 << (first_other - 1)) - 1;
    // Except in a run of spaces that ends at a byte that may be whitespace (or at the end of
    // the block): if newlines came before the spaces, the whitespace run may go on to another
    // newline, and then it is all one piece. Only the starts before the spaces are decided.
    let last = first_other - 1;
    if space >> last & 1 != 0 && (first_other == 32 || apostrophe >> first_other & 1 == 0) {
        let run_start = 32 - (!space & ((1u32 << last) - 1)).leading_zeros();
        decided &= (1u32 << run_start).wrapping_sub(1);
    }
    let upper = both!(k => k.range(b'A', b'Z'));
    let lower = both!(k => k.range(b'a', b'z'));
    let letter = upper | lower;
    let punct = !(letter | digit | space | newline | other);
    // Bit j of `x << 1`: byte j - 1 is in x (0 before the block).
    let word = letter & !(letter << 1);
    let camel = if CAMEL { upper & (lower << 1) } else { 0 };
    // A word whose prefix byte (j - 1) starts the piece instead.
    let prefixed = word & ((space << 1) | (punct << 1) & !((punct | space) << 2));
    let word_starts = (word & !prefixed) | (prefixed >> 1) | camel;
    let punct_first = punct & !(punct << 1);
    let punct_starts = (punct_first & !(space << 1)) | ((punct_first & (space << 1)) >> 1);
    let space_first = space & !(space << 1);
    let space_last = space & (space << 1) & !(space >> 1);
    let newline_first = newline & !(newline << 1) & !(punct << 1);
    let digit_first = digit & !(digit << 1);
    (word_starts | punct_starts | space_first | space_last | newline_first | digit_first) & decided
}

/// `x`, through a barrier the optimizer cannot see through. Without it, LLVM rewrote some of
/// [`plain_starts`]' shifted masks back into byte vectors, rebuilt one bit at a time (~100
/// instructions per block; callgrind: the whole encode of 3 MB of English took 121M
/// instructions with that code, 98M without).
#[inline(always)]
fn opaque(x: u32) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut x = x;
        // SAFETY: an empty assembly block (only a comment naming the register): it reads and
        // writes nothing but `x`'s register, which it leaves unchanged, and touches no memory
        // or stack (`nomem`, `nostack`), so it cannot break any invariant.
        unsafe {
            std::arch::asm!("/* {0:e} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags))
        };
        x
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::hint::black_box(x)
    }
}

/// End of the piece starting at `i` when the 16 bytes `w` at `i` decide it, else 0 (then
/// [`next`] decides). Only ASCII is classified here: whenever a run stops at a non-ASCII byte
/// (which might continue it) or reaches the end of `w`, the answer is 0.
///
/// In ASCII the pattern is simple: `U` and `L` are the capitals and the small letters, disjoint,
/// so a word (with an optional prefix byte of `[^\r\n\p{L}\p{N}]`) is the run of capitals then
/// the run of small letters (at least one letter; alternative 1 if there is a small letter, else
/// alternative 2), then an optional contraction. Numbers, punctuation and whitespace are the
/// cases 3-5 of the module docs with their runs read off the masks.
#[inline(always)]
fn fast(c: Cursor<'_>, w: &[u8; 16], i: usize) -> usize {
    let blk = Block::load(w);
    let k0 = BYTE[w[0] as usize];
    let upper = blk.range(b'A', b'Z');
    let lower = blk.range(b'a', b'z');
    let non_ascii = blk.non_ascii();
    // Start of the letters: 0, or 1 after a prefix byte (ASCII `OTHER` or `WS`).
    let s = if k0 & (UPPER | LOWER) != 0 {
        0
    } else if k0 & (OTHER | WS) != 0 && (upper | lower) & 2 != 0 {
        1
    } else {
        return fast_other(blk, k0, non_ascii, upper | lower, i);
    };
    let a = s + ones_from(upper, s);
    let e = a + ones_from(lower, a);
    // `e > s`: bit `s` is a letter. At `e < 16` is a byte that is neither a capital after the
    // capitals nor a small letter after the small letters: the word ends there, unless it is
    // non-ASCII (a letter or mark could continue it) or an apostrophe (a contraction may follow).
    if e >= 16 {
        return 0;
    }
    if (non_ascii | blk.eq(b'\'')) >> e & 1 != 0 {
        return if non_ascii >> e & 1 != 0 {
            0
        } else {
            contraction(c, i + e as usize)
        };
    }
    i + e as usize
}

/// [`fast`] for a piece that is not a word starting at byte 0 or 1 of `w`: `k0` is the class of
/// byte 0 (0 if not ASCII), `letter` the mask of ASCII letters.
#[inline(always)]
fn fast_other(blk: Block, k0: u8, non_ascii: u32, letter: u32, i: usize) -> usize {
    let space = blk.range(9, 13) | blk.eq(b' ');
    let digit = blk.range(b'0', b'9');
    // End of the punctuation run from bit `p` (`[^\s\p{L}\p{N}]+`, then `[\r\n/]*`).
    let punct = |p: u32| {
        let other = !(non_ascii | letter | digit | space) & 0xFFFF;
        let tail = blk.eq(b'\n') | blk.eq(b'\r') | blk.eq(b'/');
        punct_end(other, tail, non_ascii, p, i)
    };
    match k0 {
        NUM => digits_end(digit, non_ascii, i),
        // (Not followed by a letter, or `fast` would have taken the word.)
        OTHER => punct(0),
        WS | NL => {
            if k0 == WS && blk.eq(b' ') & 1 != 0 && (non_ascii | letter | digit | space) & 2 == 0 {
                return punct(1);
            }
            ws_end(blk, space, non_ascii, i)
        }
        _ => 0,
    }
}

/// End of `e` plus an optional contraction.
#[inline(always)]
fn contraction(c: Cursor<'_>, e: usize) -> usize {
    c.contraction(e, true).unwrap_or(e)
}

/// `U*L+C?` anchored at `s`: `Ok(end)`, or `Err(a)` with `a` the end of the maximal `U` run.
#[inline(always)]
fn word(c: Cursor<'_>, s: usize) -> Result<usize, usize> {
    let mut j = s;
    // End of the last character of the U run seen so far that is also in L.
    let mut last_l = None;
    while let Some(b0) = c.get(j) {
        let (k, n) = match BYTE[b0 as usize] {
            // ASCII capitals are in U and not in L: skip them 8 at a time.
            UPPER => {
                j = c.skip_ascii(j + 1, b'A', b'Z', false);
                continue;
            }
            0 => c.class_non_ascii(j, b0),
            k => (k, 1),
        };
        if k & U == 0 {
            if k & LOWER != 0 {
                return Ok(contraction(c, c.run(j + n, L)));
            }
            break;
        }
        j += n;
        if k & L != 0 {
            last_l = Some(j);
        }
    }
    match last_l {
        Some(e) => Ok(contraction(c, e)),
        None => Err(j),
    }
}

/// End of the piece starting at `i` (`i < len`).
#[inline(always)]
fn next(c: Cursor<'_>, i: usize, b0: u8) -> usize {
    // Fast path (most pieces of most text): an optional space, then an ASCII letter. With the
    // space as prefix, `word` failing means the letter is uppercase, and alternative 2 (with the
    // same prefix) takes the U run, as in the general case below.
    let s = i + usize::from(b0 == b' ');
    if c.get(s).is_some_and(|x| BYTE[x as usize] & LETTER != 0) {
        return match word(c, s) {
            Ok(e) => e,
            Err(a) => contraction(c, a),
        };
    }
    let (k, n) = c.class(i);
    if k & LETTER != 0 {
        return match word(c, i) {
            Ok(e) => e,
            // `x` is \p{Lu} or \p{Lt}, so the U run is not empty.
            Err(a) => contraction(c, a),
        };
    }
    if k & NUM != 0 {
        return c.run_max(i + n, NUM, 2);
    }
    if k & PREFIX != 0 {
        match word(c, i + n) {
            Ok(e) => return e,
            Err(_) if k == MARK => return contraction(c, i + n),
            Err(a) if a > i + n => return contraction(c, a),
            Err(_) => {}
        }
        if k == OTHER {
            return c.nl_run(c.run(i + n, PUNCT), true);
        }
        if b0 == b' ' {
            let (k2, n2) = c.class_or_end(i + 1);
            if k2 & PUNCT != 0 {
                return c.nl_run(c.run(i + 1 + n2, PUNCT), true);
            }
        }
    }
    let run = c.ws_run(i);
    if let Some(e) = run.nl_end {
        e
    } else if run.end == c.len() || run.last == i {
        run.end
    } else {
        run.last
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{self, Preset};

    const P: Preset = Preset::O200k;

    #[test]
    fn o200k_edge_cases() {
        testutil::check_edge_cases(P);
    }

    #[test]
    fn o200k_known_pieces() {
        testutil::check_known(
            P,
            "HELLOworld DON'T 中文ABC \u{301}ABC !ABC x\n/ 1234\n  ",
            &[
                "HELLOworld",
                " DON'T",
                " 中文",
                "ABC",
                " \u{301}",
                "ABC",
                " !",
                "ABC",
                " x",
                "\n",
                "/",
                " ",
                "123",
                "4",
                "\n",
                "  ",
            ],
        );
    }

    #[test]
    fn o200k_block_edges() {
        testutil::check_block_edges(P);
    }

    #[test]
    fn o200k_every_code_point() {
        testutil::check_every_code_point(P);
    }

    #[test]
    fn o200k_corpus() {
        testutil::check_corpus(P);
    }

    proptest::proptest! {
        #![proptest_config(testutil::proptest_config())]
        #[test]
        fn o200k_matches_regex_tricky(s in testutil::tricky_text()) {
            testutil::prop_same(P, &s)?;
        }
        #[test]
        fn o200k_matches_regex_ascii(s in testutil::ascii_text()) {
            testutil::prop_same(P, &s)?;
        }
        #[test]
        fn o200k_matches_regex_plain(s in testutil::plain_text()) {
            testutil::prop_same(P, &s)?;
        }
    }
}
