//! Byte-level cursor shared by the preset scanners: class of the character at a byte offset, runs
//! of a class, whitespace runs, apostrophe contractions.
//!
//! Idea: the scanners work on the UTF-8 bytes of a `&str`. ASCII bytes are classified through a
//! `const` table; any other character is decoded from its lead byte and looked up in the two-level
//! Unicode table of [`classes`](super::classes). No allocation, no char iterator.
//!
//! Cost: one table load per ASCII byte, a decode plus two loads per other character.
//!
//! Invariants: every offset passed in or returned lies on a character boundary of the text, and
//! offsets passed to [`Cursor::class`] are `< len`. Because the bytes come from a `&str` (valid
//! UTF-8), a lead byte is always followed by its continuation bytes, so the indexing in
//! [`Cursor::class`] cannot go out of bounds.

use super::classes::{self, Table, ASCII, NL, SPACE};

/// Read-only view of the text being split.
#[derive(Clone, Copy)]
pub(crate) struct Cursor<'a> {
    b: &'a [u8],
    t: &'static Table,
}

/// A maximal run of whitespace.
pub(crate) struct WsRun {
    /// Offset just past the run.
    pub end: usize,
    /// Offset of the run's last character.
    pub last: usize,
    /// Offset just past the run's last `\r`/`\n`, if it has one.
    pub nl_end: Option<usize>,
}

impl<'a> Cursor<'a> {
    #[inline(always)]
    pub(crate) fn new(text: &'a str) -> Self {
        Cursor {
            b: text.as_bytes(),
            t: classes::table(),
        }
    }

    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.b.len()
    }

    /// The byte at `i` (`i < len`).
    #[inline(always)]
    pub(crate) fn byte(&self, i: usize) -> u8 {
        self.b[i]
    }

    /// Class bit and byte length of the character starting at `i` (`i < len`).
    #[inline(always)]
    pub(crate) fn class(&self, i: usize) -> (u8, usize) {
        let b0 = self.b[i];
        if b0 < 0x80 {
            (ASCII[b0 as usize], 1)
        } else {
            self.class_non_ascii(i, b0)
        }
    }

    #[inline]
    fn class_non_ascii(&self, i: usize, b0: u8) -> (u8, usize) {
        let b = self.b;
        let (cp, n) = if b0 < 0xE0 {
            ((u32::from(b0 & 0x1F) << 6) | u32::from(b[i + 1] & 0x3F), 2)
        } else if b0 < 0xF0 {
            (
                (u32::from(b0 & 0x0F) << 12)
                    | (u32::from(b[i + 1] & 0x3F) << 6)
                    | u32::from(b[i + 2] & 0x3F),
                3,
            )
        } else {
            (
                (u32::from(b0 & 0x07) << 18)
                    | (u32::from(b[i + 1] & 0x3F) << 12)
                    | (u32::from(b[i + 2] & 0x3F) << 6)
                    | u32::from(b[i + 3] & 0x3F),
                4,
            )
        };
        (self.t.get(cp), n)
    }

    /// Class of the character at `i`, or 0 at the end of the text.
    #[inline(always)]
    pub(crate) fn class_or_end(&self, i: usize) -> (u8, usize) {
        if i < self.b.len() {
            self.class(i)
        } else {
            (0, 0)
        }
    }

    /// End of the maximal run, starting at `i`, of characters whose class is in `mask`.
    #[inline(always)]
    pub(crate) fn run(&self, mut i: usize, mask: u8) -> usize {
        let b = self.b;
        while i < b.len() {
            let b0 = b[i];
            if b0 < 0x80 {
                if ASCII[b0 as usize] & mask == 0 {
                    break;
                }
                i += 1;
            } else {
                let (c, n) = self.class_non_ascii(i, b0);
                if c & mask == 0 {
                    break;
                }
                i += n;
            }
        }
        i
    }

    /// End of at most `max` characters of class `mask` from `i` (`\p{N}{1,3}` with `max = 3`).
    #[inline(always)]
    pub(crate) fn run_max(&self, mut i: usize, mask: u8, max: usize) -> usize {
        for _ in 0..max {
            let (c, n) = self.class_or_end(i);
            if c & mask == 0 {
                break;
            }
            i += n;
        }
        i
    }

    /// End of the run of bytes from `i` that are `\r` or `\n` (or `/` too, if `slash`).
    #[inline(always)]
    pub(crate) fn nl_run(&self, mut i: usize, slash: bool) -> usize {
        while i < self.b.len() {
            match self.b[i] {
                b'\r' | b'\n' => i += 1,
                b'/' if slash => i += 1,
                _ => break,
            }
        }
        i
    }

    /// The maximal whitespace run starting at `i`; the character at `i` must be whitespace.
    #[inline]
    pub(crate) fn ws_run(&self, i: usize) -> WsRun {
        let mut run = WsRun {
            end: i,
            last: i,
            nl_end: None,
        };
        while run.end < self.b.len() {
            let (c, n) = self.class(run.end);
            if c & SPACE == 0 {
                break;
            }
            run.last = run.end;
            run.end += n;
            if c == NL {
                run.nl_end = Some(run.end);
            }
        }
        run
    }

    /// If an apostrophe contraction starts at `i` (`'s 't 're 've 'm 'll 'd`), the offset just past
    /// it. `fold` matches the letters case-insensitively with Unicode simple case folding, as
    /// `(?i:...)` does in the regex crate: the only non-ASCII letter that folds to one of them is
    /// U+017F LATIN SMALL LETTER LONG S (to `s`; a test checks this against `regex_syntax`).
    #[inline(always)]
    pub(crate) fn contraction(&self, i: usize, fold: bool) -> Option<usize> {
        let b = self.b;
        if i + 1 >= b.len() || b[i] != b'\'' {
            return None;
        }
        let c1 = b[i + 1];
        let (l1, l2) = if fold {
            (
                c1.to_ascii_lowercase(),
                b.get(i + 2).map_or(0, u8::to_ascii_lowercase),
            )
        } else {
            (c1, b.get(i + 2).copied().unwrap_or(0))
        };
        match (l1, l2) {
            (b's' | b't' | b'm' | b'd', _) => Some(i + 2),
            (b'r', b'e') | (b'v', b'e') | (b'l', b'l') => Some(i + 3),
            // 'ſ' is C5 BF in UTF-8.
            (0xC5, 0xBF) if fold => Some(i + 3),
            _ => None,
        }
    }
}
