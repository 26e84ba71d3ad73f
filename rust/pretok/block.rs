//! Class masks of 16 bytes at once, for the ASCII fast paths of the preset scanners.
//!
//! Idea: most pieces of most text are short ASCII words, punctuation and whitespace, decided by
//! the 16 bytes at their start. [`Block`] loads those bytes once and answers "which of them are in
//! `lo..=hi`" / "which equal `c`" / "which are not ASCII" as a 16-bit mask (bit `j` = byte `j`);
//! a scanner then finds the end of a run with one `trailing_zeros` instead of a loop over bytes.
//!
//! Cost: on x86_64, SSE2 (part of the baseline, so no runtime detection; the code is gated on
//! `target_feature = "sse2"`): one unaligned load per
//! block and two or three instructions per mask. Elsewhere a portable loop over the 16 bytes (the
//! same masks, slower; a test checks both agree).
//!
//! Invariant: every mask has only bits 0..16 set.

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
use std::arch::x86_64::{
    __m128i, _mm_add_epi8, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
    _mm_set1_epi8,
};

/// 16 bytes of text, ready for mask queries. See the module docs.
#[derive(Clone, Copy)]
pub(crate) struct Block {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    v: __m128i,
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    v: [u8; 16],
}

impl Block {
    #[inline(always)]
    pub(crate) fn load(w: &[u8; 16]) -> Self {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            // SAFETY: `w` is 16 readable bytes and `_mm_loadu_si128` has no alignment
            // requirement; this code is compiled only where SSE2 is enabled.
            let v = unsafe { _mm_loadu_si128(w.as_ptr().cast()) };
            Block { v }
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            Block { v: *w }
        }
    }

    /// Bit `j` set iff byte `j` is in `lo..=hi` (`lo <= hi < 0x80`).
    #[inline(always)]
    pub(crate) fn range(self, lo: u8, hi: u8) -> u32 {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            // `x - lo < n` unsigned is `(x - lo) ^ 0x80 < n ^ 0x80` signed, and adding
            // `0x80 - lo` is subtracting `lo` then flipping the top bit (all mod 256).
            let n = hi - lo + 1;
            // SAFETY: register-only SSE2 operations, and this code is compiled only where SSE2
            // is enabled (`target_feature = "sse2"`, always on for x86_64).
            unsafe {
                let x = _mm_add_epi8(self.v, _mm_set1_epi8(0x80u8.wrapping_sub(lo) as i8));
                let m = _mm_cmplt_epi8(x, _mm_set1_epi8((n ^ 0x80) as i8));
                _mm_movemask_epi8(m) as u32
            }
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            self.portable(|b| (lo..=hi).contains(&b))
        }
    }

    /// Bit `j` set iff byte `j` is `c`.
    #[inline(always)]
    pub(crate) fn eq(self, c: u8) -> u32 {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            // SAFETY: as in `range`.
            unsafe { _mm_movemask_epi8(_mm_cmpeq_epi8(self.v, _mm_set1_epi8(c as i8))) as u32 }
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            self.portable(|b| b == c)
        }
    }

    /// Bit `j` set iff byte `j` is not ASCII (`>= 0x80`).
    #[inline(always)]
    pub(crate) fn non_ascii(self) -> u32 {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            // SAFETY: as in `range`.
            unsafe { _mm_movemask_epi8(self.v) as u32 }
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            self.portable(|b| b >= 0x80)
        }
    }

    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    #[inline(always)]
    fn portable(self, f: impl Fn(u8) -> bool) -> u32 {
        portable_mask(&self.v, f)
    }
}

/// The mask of the bytes of `w` for which `f` holds (the portable version; also the tests'
/// reference).
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
#[inline(always)]
pub(crate) fn portable_mask(w: &[u8; 16], f: impl Fn(u8) -> bool) -> u32 {
    let mut m = 0;
    for (j, &b) in w.iter().enumerate() {
        m |= u32::from(f(b)) << j;
    }
    m
}

/// Length of the run of set bits of `m` from bit `p` on (`p <= 16`, `m < 1 << 16`): at most
/// `16 - p`, so `p + ones_from(m, p) <= 16`.
#[inline(always)]
pub(crate) fn ones_from(m: u32, p: u32) -> u32 {
    (!(m >> p)).trailing_zeros()
}

/// The ASCII cases the cl100k and o200k fast paths share, read off the masks of the 16 bytes at
/// a piece start `i`. Each returns the piece's end, or 0 when the block cannot decide it (a run
/// reaches a non-ASCII byte, which might continue it, or the end of the block); the caller then
/// asks its general scanner.
///
/// `\p{N}{1,3}` from bit 0 (byte 0 is a digit).
#[inline(always)]
pub(crate) fn digits_end(digit: u32, non_ascii: u32, i: usize) -> usize {
    let d = ones_from(digit, 0);
    if d >= 3 {
        i + 3
    } else if non_ascii >> d & 1 != 0 {
        0
    } else {
        i + d as usize
    }
}

/// A punctuation run from bit `p` (`other`: the mask of ASCII bytes that are not letters,
/// digits or whitespace), then a run of `tail` bytes (`[\r\n]*` in cl100k, `[\r\n/]*` in o200k).
#[inline(always)]
pub(crate) fn punct_end(other: u32, tail: u32, non_ascii: u32, p: u32, i: usize) -> usize {
    let q = p + ones_from(other, p);
    // A non-ASCII byte may be a mark (in the run) or not: the general scanner decides.
    if q >= 16 || non_ascii >> q & 1 != 0 {
        return 0;
    }
    let r = q + ones_from(tail, q);
    if r >= 16 {
        0
    } else {
        i + r as usize
    }
}

/// A whitespace piece from bit 0 (byte 0 is whitespace): with the maximal run of `space` ending
/// inside the block (so not at the end of the text), up to its last `\r`/`\n` if it has one
/// (`\s*[\r\n]+`), else all but its last byte when it has two or more (`\s+(?!\S)`), else the
/// one byte.
#[inline(always)]
pub(crate) fn ws_end(blk: Block, space: u32, non_ascii: u32, i: usize) -> usize {
    let r = ones_from(space, 0);
    if r >= 16 || non_ascii >> r & 1 != 0 {
        return 0;
    }
    let nl = (blk.eq(b'\n') | blk.eq(b'\r')) & ((1 << r) - 1);
    if nl != 0 {
        i + (32 - nl.leading_zeros()) as usize
    } else if r >= 2 {
        i + r as usize - 1
    } else {
        i + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_the_portable_reference() {
        let mut w = [0u8; 16];
        // Every byte value at every position, next to varied neighbours.
        for round in 0..256usize {
            for (j, x) in w.iter_mut().enumerate() {
                *x = (round + 17 * j) as u8;
            }
            let blk = Block::load(&w);
            for (lo, hi) in [(b'A', b'Z'), (b'a', b'z'), (b'0', b'9'), (9, 13), (0, 0x7F)] {
                let want = portable_mask(&w, |b| (lo..=hi).contains(&b));
                assert_eq!(blk.range(lo, hi), want, "{lo}..={hi} on {w:?}");
            }
            for c in [b'\'', b' ', b'\n', b'/', 0, 0x7F] {
                assert_eq!(blk.eq(c), portable_mask(&w, |b| b == c), "{c} on {w:?}");
            }
            assert_eq!(blk.non_ascii(), portable_mask(&w, |b| b >= 0x80));
        }
    }

    #[test]
    fn ones_from_counts_runs() {
        assert_eq!(ones_from(0, 0), 0);
        assert_eq!(ones_from(0xFFFF, 0), 16);
        assert_eq!(ones_from(0xFFFF, 5), 11);
        assert_eq!(ones_from(0xFFFF, 16), 0);
        assert_eq!(ones_from(0b1011_0110, 1), 2);
        assert_eq!(ones_from(0b1011_0110, 4), 2);
        assert_eq!(ones_from(0b1011_0110, 3), 0);
    }
}
