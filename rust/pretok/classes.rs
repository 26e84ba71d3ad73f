//! Character classes of the preset split patterns, one byte per code point.
//!
//! Idea: the three tiktoken patterns only ever ask which of a few disjoint groups a character belongs
//! to, so every code point gets exactly one class bit (see the constants below), and each pattern's
//! character classes become bit masks: `\p{L}` = `UPPER | LOWER | BOTH`, `[^\s\p{L}\p{N}]` =
//! `OTHER | MARK`, o200k's `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]` = `UPPER | BOTH | MARK`, and so on.
//!
//! The ranges come from `regex_syntax` itself (the same tables fancy-regex / the `regex` crate use), so
//! the scanners follow whatever Unicode version that crate ships. They are built once, at first use
//! (`OnceLock`), into a two-level table over all of Unicode: `index[cp >> 8]` names a deduplicated
//! 256-entry block of `blocks`; code points below U+0800 (the two-byte UTF-8 sequences: Latin,
//! Greek, Cyrillic, Hebrew, Arabic...) also have a flat table. ASCII has its own `const` table, so
//! the hot path never touches the lazily built one.
//!
//! Cost: building takes a few milliseconds and ~1 MB of scratch; the tables take 16 KB of index,
//! 2 KB of flat table and 256 bytes per distinct block (under 100 KB in all). A lookup is one load
//! (ASCII, two-byte characters) or two dependent loads.
//!
//! Invariants: every code point has exactly one class bit set (checked by the tests);
//! `BYTE[b] == table().get(b)` for every ASCII byte and `BYTE[b] == 0` for every other byte.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, HirKind};

/// Not whitespace, letter, mark or number (punctuation, symbols, controls, unassigned, ...).
pub(crate) const OTHER: u8 = 1;
/// `\s` (Unicode `White_Space`) except `\r` and `\n`.
pub(crate) const WS: u8 = 2;
/// `\r` or `\n`.
pub(crate) const NL: u8 = 4;
/// `\p{Lu}` or `\p{Lt}`.
pub(crate) const UPPER: u8 = 8;
/// `\p{Ll}`.
pub(crate) const LOWER: u8 = 16;
/// `\p{Lm}` or `\p{Lo}` (in both of o200k's case classes).
pub(crate) const BOTH: u8 = 32;
/// `\p{M}`.
pub(crate) const MARK: u8 = 64;
/// `\p{N}`.
pub(crate) const NUM: u8 = 128;

/// `\p{L}`.
pub(crate) const LETTER: u8 = UPPER | LOWER | BOTH;
/// `\s`.
pub(crate) const SPACE: u8 = WS | NL;
/// `[^\s\p{L}\p{N}]`.
pub(crate) const PUNCT: u8 = OTHER | MARK;
/// `[^\r\n\p{L}\p{N}]` (the optional one-character prefix of cl100k's and o200k's words).
pub(crate) const PREFIX: u8 = OTHER | MARK | WS;

/// Class of each ASCII byte (compile-time; equal to the Unicode table on 0..128), 0 for the bytes
/// 0x80..=0xFF, which are not characters by themselves.
pub(crate) static BYTE: [u8; 256] = byte_table();

const fn byte_table() -> [u8; 256] {
    let mut t = [0; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = match c {
            b'\r' | b'\n' => NL,
            b'\t' | 0x0B | 0x0C | b' ' => WS,
            b'A'..=b'Z' => UPPER,
            b'a'..=b'z' => LOWER,
            b'0'..=b'9' => NUM,
            _ => OTHER,
        };
        b += 1;
    }
    t
}

/// Two-level class table over all code points (see the module doc).
pub(crate) struct Table {
    /// `index[cp >> 8]` = number of the 256-entry block holding `cp`. 0x2000 entries (the ones
    /// past 0x10FF are never used) so that any 21-bit `cp` indexes it without a bounds check.
    index: Box<[u16; 0x2000]>,
    /// Deduplicated blocks, 256 classes each.
    blocks: Box<[u8]>,
    /// Classes of U+0000..U+07FF, flat.
    low: Box<[u8; 0x800]>,
}

impl Table {
    /// Class of code point `cp` (`cp <= 0x10FFFF`, as every `char` is).
    #[inline(always)]
    pub(crate) fn get(&self, cp: u32) -> u8 {
        let block = self.index[(cp >> 8) as usize & 0x1FFF] as usize;
        self.blocks[(block << 8) | (cp as usize & 0xFF)]
    }

    /// Class of code point `cp < 0x800` (a two-byte UTF-8 sequence): one load.
    #[inline(always)]
    pub(crate) fn get_low(&self, cp: u32) -> u8 {
        self.low[cp as usize & 0x7FF]
    }
}

/// The class table, built at first use.
pub(crate) fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(build_table)
}

/// Ranges of a regex character class, as `regex_syntax` (hence fancy-regex) understands it.
fn class_ranges(pattern: &str) -> Vec<(u32, u32)> {
    // The patterns are constants of this file, so a parse failure is a bug, not bad input.
    let hir = regex_syntax::parse(pattern).expect("static class pattern parses");
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        other => panic!("{pattern:?} is not a Unicode class: {other:?}"),
    }
}

/// One byte per code point (0..=0x10FFFF), each the OR of the class bits whose set contains it.
/// Exactly one bit is set everywhere when the groups are disjoint (the tests check this).
pub(crate) fn flat_classes() -> Vec<u8> {
    let mut flat = vec![0u8; 0x11_0000];
    let groups: [(&str, u8); 7] = [
        (r"[\p{Lu}\p{Lt}]", UPPER),
        (r"\p{Ll}", LOWER),
        (r"[\p{Lm}\p{Lo}]", BOTH),
        (r"\p{M}", MARK),
        (r"\p{N}", NUM),
        (r"[\s&&[^\r\n]]", WS),
        (r"[\r\n]", NL),
    ];
    for (pattern, bit) in groups {
        for (lo, hi) in class_ranges(pattern) {
            for c in &mut flat[lo as usize..=hi as usize] {
                *c |= bit;
            }
        }
    }
    for c in &mut flat {
        if *c == 0 {
            *c = OTHER;
        }
    }
    flat
}

fn build_table() -> Table {
    let flat = flat_classes();
    let mut index = Box::new([0u16; 0x2000]);
    let mut blocks: Vec<u8> = Vec::new();
    let mut seen: rustc_hash::FxHashMap<&[u8], u16> = Default::default();
    for (slot, block) in index.iter_mut().zip(flat.chunks(256)) {
        let n = seen.len();
        *slot = *seen.entry(block).or_insert_with(|| {
            blocks.extend_from_slice(block);
            // 4352 blocks at most, so the number always fits.
            n as u16
        });
    }
    let mut low = Box::new([0u8; 0x800]);
    low.copy_from_slice(&flat[..0x800]);
    Table {
        index,
        blocks: blocks.into_boxed_slice(),
        low,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_disjoint_and_cover_everything() {
        let flat = flat_classes();
        for (cp, &c) in flat.iter().enumerate() {
            assert_eq!(c.count_ones(), 1, "U+{cp:04X} has classes {c:#010b}");
        }
    }

    #[test]
    fn table_equals_flat_and_ascii() {
        let flat = flat_classes();
        let t = table();
        for (cp, &c) in flat.iter().enumerate() {
            assert_eq!(t.get(cp as u32), c, "U+{cp:04X}");
            if cp < 0x800 {
                assert_eq!(t.get_low(cp as u32), c, "U+{cp:04X}");
            }
        }
        for b in 0..256u32 {
            let want = if b < 128 { t.get(b) } else { 0 };
            assert_eq!(BYTE[b as usize], want, "byte {b:#04x}");
        }
        // A few well-known members, so a wrong pattern string above cannot go unnoticed.
        for (c, class) in [
            ('\u{a0}', WS),
            ('\u{3000}', WS),
            ('\u{2028}', WS),
            ('\u{85}', WS),
            ('\u{1c}', OTHER),
            ('ǅ', UPPER),
            ('ʰ', BOTH),
            ('中', BOTH),
            ('ß', LOWER),
            ('\u{301}', MARK),
            ('٣', NUM),
            ('²', NUM),
            ('Ⅻ', NUM),
            ('😀', OTHER),
        ] {
            assert_eq!(t.get(c as u32), class, "{c:?}");
        }
        eprintln!("class table: {} distinct blocks", t.blocks.len() / 256);
    }
}
