//! Byte-level cursor shared by the preset scanners: class of the character at a byte offset, runs
//! of a class, whitespace runs, apostrophe contractions, and the loop that hands out the pieces
//! (to a [`Pieces`] receiver: one by one, or a block of ASCII pieces at once).
//!
//! Idea: the scanners work on the UTF-8 bytes of a `&str`. ASCII bytes are classified through a
//! `const` table; any other character is decoded from its lead byte and looked up in the Unicode
//! tables of [`classes`](super::classes). Runs of ASCII letters are skipped eight bytes at a time
//! (SWAR). No allocation, no char iterator.
//!
//! Cost: about one table load per ASCII byte outside letter runs, an eighth of a SWAR step per byte
//! inside them, a decode plus one or two loads per other character.
//!
//! Invariants: every offset passed in or returned lies on a character boundary of the text, and
//! offsets passed to [`Cursor::class`] are `< len`. Because the bytes come from a `&str` (valid
//! UTF-8), a lead byte is always followed by its continuation bytes, so the indexing in
//! [`Cursor::class`] cannot go out of bounds.

use super::block::Block;
use super::classes::{self, Table, BYTE, LOWER, NL, NUM, OTHER, SPACE, UPPER, WS};

/// Call `f` on each piece of `text`, where `next(cursor, i, byte)` returns the end of the piece
/// that starts at `i` (`i < len`, `byte` = the byte at `i`; the end must be a character boundary
/// after `i`). The loop is compiled twice ([`with_best_features`]).
#[inline(always)]
pub(crate) fn split_with<'a>(
    text: &'a str,
    next: impl Fn(Cursor<'a>, usize, u8) -> usize,
    mut f: impl FnMut(&'a str),
) {
    with_best_features(
        #[inline(always)]
        move || {
            let c = Cursor::new(text);
            let mut rest = text;
            let mut i = 0;
            while let Some(&b0) = c.b.get(i) {
                let e = next(c, i, b0);
                // A scanner bug must not turn into an endless loop.
                assert!(e > i, "pretokenizer scanner made no progress at byte {i}");
                // `split_at` checks one boundary per piece (slicing `text[i..e]` would check two).
                let (piece, tail) = rest.split_at(e - i);
                f(piece);
                rest = tail;
                i = e;
            }
        },
    );
}

/// Run `body` (a scanner loop, inlined into it) compiled for x86-64-v3 (AVX2, BMI1/2, LZCNT)
/// when the CPU has those features, else as built (x86-64 baseline: SSE2).
///
/// Why: the scanners' 16-byte masks are SSE2; with AVX enabled the same intrinsics compile to
/// three-operand VEX forms (no register copy before each compare), and BMI2's shifts take their
/// count in any register. The whole loop, the encoder's per-piece code included, is one inlined
/// body, so all of it is compiled both ways. The result is the same either way (the tests run
/// both).
#[inline(always)]
pub(crate) fn with_best_features<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if v3_available() {
            // SAFETY: the CPU has every feature `run_v3` enables (checked just above).
            return unsafe { run_v3(body) };
        }
    }
    body()
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn v3_available() -> bool {
    #[cfg(test)]
    if FORCE_BASELINE.with(std::cell::Cell::get) {
        return false;
    }
    // (each check is a load of a cached bit set)
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("bmi2")
        && std::arch::is_x86_feature_detected!("lzcnt")
        && std::arch::is_x86_feature_detected!("popcnt")
}

/// # Safety
/// The CPU supports AVX2, BMI1, BMI2, LZCNT and POPCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,bmi1,bmi2,lzcnt,popcnt")]
unsafe fn run_v3<R>(body: impl FnOnce() -> R) -> R {
    body()
}

#[cfg(test)]
thread_local! {
    /// Tests set this to run the baseline build of the loops on a CPU that has x86-64-v3.
    pub(crate) static FORCE_BASELINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// [`split_with`] with a fast path: while 16 bytes remain at the piece start `i`,
/// `fast(cursor, bytes, i)` (the 16 bytes at `i`) returns the end of the piece, or 0 to leave
/// the piece to `next`. Before that, while 32 bytes remain, `many(bytes)` (the 32 bytes at `i`)
/// may decide several pieces at once: it returns the mask of the piece starts it is sure of in
/// `1..32` (bit `j` = byte `i + j`), every byte before the highest of them being ASCII, and 0
/// when it decides nothing; the pieces up to its highest start are handed out together, as one
/// [`AsciiBlock`] to `f.block`, and the scan goes on from there. Other pieces go to `f.piece`.
/// The loop is compiled twice ([`with_best_features`]).
#[inline(always)]
pub(crate) fn split_fast<'a>(
    text: &'a str,
    many: impl Fn(&[u8; 32]) -> u32,
    fast: impl Fn(Cursor<'a>, &[u8; 16], usize) -> usize,
    next: impl Fn(Cursor<'a>, usize, u8) -> usize,
    f: impl Pieces<'a>,
) {
    with_best_features(
        #[inline(always)]
        move || split_fast_loop(text, many, fast, next, f),
    );
}

/// The loop of [`split_fast`].
#[inline(always)]
fn split_fast_loop<'a>(
    text: &'a str,
    many: impl Fn(&[u8; 32]) -> u32,
    fast: impl Fn(Cursor<'a>, &[u8; 16], usize) -> usize,
    next: impl Fn(Cursor<'a>, usize, u8) -> usize,
    mut f: impl Pieces<'a>,
) {
    let c = Cursor::new(text);
    let b = c.b;
    // Piece starts below `limit` have 16 bytes: one comparison per piece (`b.get(i..)` then
    // `first_chunk` took seven instructions); below `limit32`, 32 bytes.
    let limit = b.len().saturating_sub(15);
    let limit32 = b.len().saturating_sub(31);
    let mut i = 0;
    loop {
        if i < limit32 {
            // SAFETY: `i < len - 31`, so `i + 32 <= len`: the 32 bytes at `i` are in `b`, and
            // `[u8; 32]` has alignment 1.
            let w = unsafe { &*b.as_ptr().add(i).cast::<[u8; 32]>() };
            let starts = many(w) & !1;
            if starts != 0 {
                // SAFETY: `i` is a character boundary (0 or a previous piece's end, checked
                // when it was made), `w` is the 32 bytes of `text` at `i`, and `starts` is
                // nonzero with bit 0 cleared.
                let blk = unsafe { AsciiBlock::new(text, i, w, starts) };
                i += blk.span();
                f.block(blk);
                continue;
            }
        }
        let mut e = if i < limit {
            // SAFETY: `i < len - 15`, so `i + 16 <= len`: the 16 bytes at `i` are in `b`, and
            // `[u8; 16]` has alignment 1.
            fast(c, unsafe { &*b.as_ptr().add(i).cast::<[u8; 16]>() }, i)
        } else {
            0
        };
        if e == 0 {
            let Some(&b0) = b.get(i) else { break };
            e = next(c, i, b0);
        }
        // A scanner bug must not turn into an endless loop (nor an invalid `str`).
        assert!(
            e > i && text.is_char_boundary(e),
            "pretokenizer scanner made no progress or split a character at byte {i}"
        );
        // SAFETY: `i < e <= len` and both are character boundaries: `e` was just checked
        // (`is_char_boundary` is false past the end), and `i` is 0 or the previous piece's `e`,
        // checked in the previous iteration. (Checking `i` again, as `&text[i..e]` does, cost
        // about 4% of the instructions of the whole encode of English text.)
        f.piece(unsafe { text.get_unchecked(i..e) });
        i = e;
    }
}

/// Receives the pieces of a split, in order: one at a time ([`Pieces::piece`]), or a block of
/// ASCII pieces decided at once by a block step ([`Pieces::block`], which by default hands them
/// to `piece` one by one). Every `FnMut(&str)` is one. The encoder takes the blocks whole: it
/// keeps its output pointer and lookup table in registers across a block's pieces and reads the
/// keys straight from the block's bytes.
pub trait Pieces<'a> {
    /// The next piece.
    fn piece(&mut self, piece: &'a str);

    /// The next pieces, all ASCII, given as a block (see [`AsciiBlock`]).
    #[inline(always)]
    fn block(&mut self, blk: AsciiBlock<'a>) {
        blk.for_each(|p| self.piece(p));
    }
}

impl<'a, F: FnMut(&'a str)> Pieces<'a> for F {
    #[inline(always)]
    fn piece(&mut self, piece: &'a str) {
        self(piece)
    }
}

/// Consecutive pieces of a text, all ASCII, starting at byte `start`: piece k runs from the
/// (k-1)-th set bit of `ends` (0 for the first) to the k-th, offsets from `start`; every end is
/// below 32.
///
/// Invariant (made only by the scanning loop, which knows the rest and checks the ASCII bytes):
/// the bytes `start..start + span()` are ASCII, `start` is a character boundary and the text has
/// 32 bytes at `start`, so every offset up to `span()` is a boundary and [`Self::piece`] needs
/// no check.
#[derive(Clone, Copy)]
pub struct AsciiBlock<'a> {
    text: &'a str,
    start: usize,
    ends: u32,
}

impl<'a> AsciiBlock<'a> {
    /// The block of `ends` at `start`.
    ///
    /// Panics if a byte before the last end is not ASCII: a scanner bug must not cut a character
    /// (one mask per block).
    ///
    /// # Safety
    /// `start` is a character boundary of `text`, `w` is the 32 bytes of `text` at `start`, and
    /// `ends` is nonzero with bit 0 clear. (Checking these here cost 2-4% of the instructions of
    /// a whole encode; the one caller knows them.)
    #[inline(always)]
    unsafe fn new(text: &'a str, start: usize, w: &[u8; 32], ends: u32) -> Self {
        debug_assert!(ends > 1 && ends & 1 == 0 && text.is_char_boundary(start));
        debug_assert!(text.as_bytes().get(start..start + 32) == Some(&w[..]));
        let last = 31 - ends.leading_zeros();
        assert!(
            non_ascii(w) & ((1u32 << last) - 1) == 0,
            "pretokenizer block step split a character at byte {start}"
        );
        Self { text, start, ends }
    }

    /// The whole text.
    #[inline(always)]
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Offset of the block in the text.
    #[inline(always)]
    pub fn start(&self) -> usize {
        self.start
    }

    /// The piece ends, as a mask of offsets from `start` (see the type's docs).
    #[inline(always)]
    pub fn ends(&self) -> u32 {
        self.ends
    }

    /// Bytes covered: the last piece's end.
    #[inline(always)]
    pub fn span(&self) -> usize {
        (32 - self.ends.leading_zeros()) as usize - 1
    }

    /// Call `f` on each piece, in order.
    #[inline(always)]
    pub fn for_each(self, mut f: impl FnMut(&'a str)) {
        let mut rest = self.ends;
        let mut s = 0;
        while rest != 0 {
            let e = rest.trailing_zeros() as usize;
            f(self.piece(s, e));
            s = e;
            rest &= rest - 1;
        }
    }

    /// The piece `start + s .. start + e`. Panics unless `s < e <= span()`.
    #[inline(always)]
    pub fn piece(&self, s: usize, e: usize) -> &'a str {
        assert!(
            s < e && e <= self.span(),
            "piece {s}..{e} outside the block"
        );
        // SAFETY: `start` is a character boundary and the bytes `start..start + span()` are ASCII
        // (the type's invariant, checked in `new`; `new` also had the 32 bytes at `start` in
        // `text`, so `start + span() <= text.len()`): every offset in between is a boundary.
        unsafe { self.text.get_unchecked(self.start + s..self.start + e) }
    }
}

/// Bit `j` set iff byte `j` of `w` is not ASCII.
#[inline(always)]
fn non_ascii(w: &[u8; 32]) -> u32 {
    match (w.first_chunk::<16>(), w.last_chunk::<16>()) {
        (Some(a), Some(b)) => Block::load(a).non_ascii() | Block::load(b).non_ascii() << 16,
        _ => u32::MAX,
    }
}

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

    /// The byte at `i`, if `i < len`.
    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    /// Class bit and byte length of the character starting at `i` (`i < len`).
    #[inline(always)]
    pub(crate) fn class(&self, i: usize) -> (u8, usize) {
        let b0 = self.b[i];
        let k = BYTE[b0 as usize];
        if k != 0 {
            (k, 1)
        } else {
            self.class_non_ascii(i, b0)
        }
    }

    /// Class and length of the non-ASCII character whose lead byte `b0` is at `i`.
    #[inline(always)]
    pub(crate) fn class_non_ascii(&self, i: usize, b0: u8) -> (u8, usize) {
        let b = self.b;
        if b0 < 0xE0 {
            let cp = (u32::from(b0 & 0x1F) << 6) | u32::from(b[i + 1] & 0x3F);
            (self.t.get_low(cp), 2)
        } else if b0 < 0xF0 {
            let cp = (u32::from(b0 & 0x0F) << 12)
                | (u32::from(b[i + 1] & 0x3F) << 6)
                | u32::from(b[i + 2] & 0x3F);
            (self.t.get(cp), 3)
        } else {
            let cp = (u32::from(b0 & 0x07) << 18)
                | (u32::from(b[i + 1] & 0x3F) << 12)
                | (u32::from(b[i + 2] & 0x3F) << 6)
                | u32::from(b[i + 3] & 0x3F);
            (self.t.get(cp), 4)
        }
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
    ///
    /// When the ASCII members of `mask` are the letters (`\p{L}`), the lowercase letters
    /// (o200k's `L`) or the uppercase letters (o200k's `U`), ASCII stretches are skipped eight bytes
    /// at a time ([`ascii_in_range`]), so the loop exit of a short word is one predictable branch.
    #[inline(always)]
    pub(crate) fn run(&self, mut i: usize, mask: u8) -> usize {
        let b = self.b;
        // `mask` is a constant at every call site, so this folds away.
        let ascii = ascii_range_of(mask);
        if let Some((lo, hi, fold)) = ascii {
            i = self.skip_ascii(i, lo, hi, fold);
        }
        while let Some(&b0) = b.get(i) {
            let k = BYTE[b0 as usize];
            if k & mask != 0 {
                i += 1;
                if let Some((lo, hi, fold)) = ascii {
                    i = self.skip_ascii(i, lo, hi, fold);
                }
                continue;
            }
            if k != 0 {
                break;
            }
            let (k, n) = self.class_non_ascii(i, b0);
            if k & mask == 0 {
                break;
            }
            i += n;
        }
        i
    }

    /// Skip the bytes from `i` in `lo..=hi` (ASCII; case-folded if `fold`), 8 at a time, while 8
    /// bytes remain. Returns the offset of the first byte not skipped.
    #[inline(always)]
    pub(crate) fn skip_ascii(&self, mut i: usize, lo: u8, hi: u8, fold: bool) -> usize {
        let b = self.b;
        // `i <= len` always, so the subtraction cannot wrap.
        while b.len() - i >= 8 {
            let mut word = [0u8; 8];
            word.copy_from_slice(&b[i..i + 8]);
            let inside = ascii_in_range(u64::from_le_bytes(word), lo, hi, fold);
            let k = ((!inside & HIGH).trailing_zeros() / 8) as usize;
            i += k;
            if k < 8 {
                break;
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

/// The high bit of every byte of a `u64`.
const HIGH: u64 = 0x8080_8080_8080_8080;
/// 1 in every byte of a `u64`.
const ONES: u64 = 0x0101_0101_0101_0101;

/// SWAR range test: the high bit of each byte of the result is set iff that byte of `x` is ASCII
/// and (after OR-ing 0x20 into it, if `fold`) lies in `lo..=hi` (`lo <= hi < 0x80`). The sums
/// never carry across bytes: each byte of `y` is at most 0x7F and each addend at most 0x80.
#[inline(always)]
fn ascii_in_range(x: u64, lo: u8, hi: u8, fold: bool) -> u64 {
    let mut y = x & !HIGH;
    if fold {
        y |= ONES * 0x20;
    }
    let ge_lo = y + ONES * u64::from(0x80 - lo);
    let gt_hi = y + ONES * u64::from(0x7F - hi);
    ge_lo & !gt_hi & !x & HIGH
}

/// The ASCII members of `mask` as a SWAR range, when they are exactly the letters, the lowercase
/// or the uppercase letters (the masks of the letter runs); `None` otherwise.
#[inline(always)]
fn ascii_range_of(mask: u8) -> Option<(u8, u8, bool)> {
    let ascii = mask & (UPPER | LOWER | NUM | OTHER | WS | NL);
    if ascii == UPPER | LOWER {
        Some((b'a', b'z', true))
    } else if ascii == LOWER {
        Some((b'a', b'z', false))
    } else if ascii == UPPER {
        Some((b'A', b'Z', false))
    } else {
        None
    }
}
