//! Hand-written scanner for SuperBPE's stage-2 pattern ([`SUPERBPE_PATTERN`]), applied as HF's
//! `Split(Regex, "Isolated")`: the matches are pieces, and so is the text between two matches.
//!
//! ```text
//! \p{N}{1,3} | ?[^\s\p{L}\p{N}]{2,}[\r\n/]* | +(?!\S)
//! ```
//!
//! The matches are the *delimiters*: digit groups, runs of two or more punctuation marks (with an
//! optional leading space and the newlines/slashes after them) and runs of spaces before another
//! whitespace character or the end. Everything else (words, single spaces, single punctuation
//! marks, newlines) stays together, so a piece usually runs over several words.
//!
//! Idea: a match can only start at a number, a space or a `[^\s\p{L}\p{N}]` character, so the
//! scanner skips letters (ASCII eight at a time) and tests each other position with the three
//! alternatives in the regex's order, replaying its backtracking:
//! 1. a number: up to three numbers;
//! 2. an optional space, then at least two `[^\s\p{L}\p{N}]`: the maximal run of them, then the
//!    run of `\r`, `\n`, `/` after it (a run that takes the space must hold two characters after
//!    it; without the space the alternative cannot start at a space);
//! 3. a space: the maximal run of spaces `i..j`; if the end or a whitespace character follows, the
//!    whole run; else all but its last space when it holds two or more; else no match here.
//!
//! Cost: one pass, O(1) work per byte (a punctuation or space run that fails is scanned once more
//! from its next character at most: runs of length one only); no allocation.
//!
//! Invariant: pieces are non-empty and concatenate to the input; they equal fancy-regex's
//! `find_iter` on the pattern plus the gaps between matches (tests below, against
//! [`RegexSplitter`](super::RegexSplitter)).

use super::classes::{NUM, PUNCT, SPACE};
use super::scan::Cursor;

/// The stage-2 pattern of SuperBPE (Liu et al. 2025, `scripts/extend_tokenizer.sh` of
/// PythonNut/superbpe), used as split delimiters (`Split(..., "Isolated")`).
pub const SUPERBPE_PATTERN: &str = r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]{2,}[\r\n/]*| +(?!\S)";

/// Call `f` on each piece of `text`, in order.
pub(crate) fn split<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    let c = Cursor::new(text);
    let len = c.len();
    let mut gap = 0;
    let mut i = 0;
    while let Some(b0) = c.get(i) {
        if b0.is_ascii_alphabetic() {
            // Letters never start a match.
            i = c.skip_ascii(i + 1, b'a', b'z', true);
            continue;
        }
        let (k, n) = c.class(i);
        match match_at(c, i, b0, k, n) {
            Some(e) => {
                debug_assert!(e > i);
                if gap < i {
                    f(&text[gap..i]);
                }
                f(&text[i..e]);
                i = e;
                gap = e;
            }
            None => i += n,
        }
    }
    if gap < len {
        f(&text[gap..]);
    }
}

/// End of the match starting at `i` (character class `k`, length `n`, first byte `b0`), if any.
#[inline(always)]
fn match_at(c: Cursor<'_>, i: usize, b0: u8, k: u8, n: usize) -> Option<usize> {
    if k & NUM != 0 {
        return Some(c.run_max(i + n, NUM, 2));
    }
    if b0 == b' ' {
        if let Some(e) = punct_run(c, i + 1) {
            return Some(e);
        }
        let mut j = i + 1;
        while c.get(j) == Some(b' ') {
            j += 1;
        }
        if j == c.len() || c.class(j).0 & SPACE != 0 {
            return Some(j);
        }
        return (j - i >= 2).then_some(j - 1);
    }
    if k & PUNCT != 0 {
        return punct_run(c, i);
    }
    None
}

/// `[^\s\p{L}\p{N}]{2,}[\r\n/]*` anchored at `s`: its end, or `None` if fewer than two such
/// characters start at `s`.
#[inline(always)]
fn punct_run(c: Cursor<'_>, s: usize) -> Option<usize> {
    let (k, n) = c.class_or_end(s);
    if k & PUNCT == 0 {
        return None;
    }
    let e = c.run(s + n, PUNCT);
    (e > s + n).then(|| c.nl_run(e, true))
}

#[cfg(test)]
mod tests {
    use super::super::{testutil, RegexSplitter};
    use super::*;
    use proptest::prelude::*;

    fn fast(text: &str) -> Vec<&str> {
        let mut v = Vec::new();
        split(text, |p| v.push(p));
        v
    }

    fn slow(text: &str) -> Vec<&str> {
        static RE: std::sync::OnceLock<RegexSplitter> = std::sync::OnceLock::new();
        let re = RE.get_or_init(|| RegexSplitter::new(SUPERBPE_PATTERN).expect("compiles"));
        let mut v = Vec::new();
        re.split(text, |p| v.push(p)).expect("regex runs");
        v
    }

    fn compare(text: &str) -> Result<(), String> {
        testutil::compare_pieces("superbpe", text, &fast(text), &slow(text))
    }

    #[track_caller]
    fn same(text: &str) {
        if let Err(e) = compare(text) {
            panic!("{e}\n  input: {:?}", &text[..text.len().min(300)]);
        }
    }

    #[test]
    fn known_pieces() {
        let text = "Hello world, this is it.. And 12345 then  two\n\"Quote\" - x:  y\t z   ";
        let want = [
            "Hello world, this is it",
            "..",
            " And ",
            "123",
            "45",
            " then",
            " ",
            " two\n\"Quote\" - x:",
            " ",
            " y\t z",
            "   ",
        ];
        assert_eq!(slow(text), want);
        assert_eq!(fast(text), want);
    }

    const ATOMS: &[&str] = &[
        " ", "  ", "\t", "\n", "\r", "\r\n", "\u{a0}", "\u{3000}", "\u{85}", "a", "Z", "中", "é",
        "\u{301}", "1", "٣", "²", "!", "/", ".", ":", "-", "😀", "\u{0}", "'", "\"", "ab",
    ];

    #[test]
    fn edge_cases() {
        for t in [
            "",
            " ",
            "   ",
            " x",
            "  x",
            "x  ",
            "x \n",
            ": ",
            " ..",
            " .x",
            "..\n/\r/x",
            "a/b//c",
            "1234567",
            " \u{301}\u{301}",
            "\u{301}a",
        ] {
            same(t);
        }
        for t in [
            " ".repeat(1000) + "x",
            "!".repeat(1000) + "\n/\r/",
            "1".repeat(1000),
            "a ".repeat(500),
            ". ".repeat(500),
        ] {
            same(&t);
        }
        let mut buf = String::new();
        for a in ATOMS {
            for b in ATOMS {
                for c in ATOMS {
                    buf.clear();
                    buf.push_str(a);
                    buf.push_str(b);
                    buf.push_str(c);
                    same(&buf);
                }
            }
        }
    }

    #[test]
    fn every_code_point() {
        let step = if cfg!(debug_assertions) { 61 } else { 1 };
        let chars: Vec<char> = (0..=0x10_FFFFu32)
            .step_by(step)
            .filter_map(char::from_u32)
            .collect();
        let mut text = String::new();
        for chunk in chars.chunks(4096) {
            text.clear();
            for &x in chunk {
                text.push_str(&format!(" {x}a{x}1{x}!{x}{x} {x}  {x}\n{x}. {x}"));
            }
            same(&text);
        }
    }

    #[test]
    fn corpus() {
        let files = testutil::corpus_files();
        if files.is_empty() {
            eprintln!("skipping the corpus check: shared corpus not found");
            return;
        }
        // The regex reference is slow on this pattern (~70 s for the whole corpus): 1 MB per file
        // in release builds, 256 KB in debug builds.
        let limit = if cfg!(debug_assertions) {
            256 << 10
        } else {
            1 << 20
        };
        for f in files {
            let text = std::fs::read_to_string(&f).expect("corpus files are UTF-8");
            let mut end = limit.min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            if let Err(e) = compare(&text[..end]) {
                panic!("{}: {e}", f.display());
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(testutil::proptest_config())]
        #[test]
        fn matches_regex_tricky(s in testutil::tricky_text()) {
            compare(&s).map_err(TestCaseError::fail)?;
        }
        #[test]
        fn matches_regex_ascii(s in "[ a.:!/1\t\r\n]{0,64}") {
            compare(&s).map_err(TestCaseError::fail)?;
        }
    }
}
