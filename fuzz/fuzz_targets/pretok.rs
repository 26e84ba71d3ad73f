//! Fuzz target: the hand-written gpt2 / cl100k / o200k scanners give exactly the pieces of the
//! fancy-regex reference on the preset's pattern, for any input.
//!
//! The input is read two ways, so the fuzzer reaches both raw UTF-8 and the dense mixtures of
//! character classes where the scanners' edge cases live:
//! - as UTF-8 (lossily: invalid bytes become U+FFFD), and
//! - as a sequence of indices into `ALPHABET`: letters of every case class, digits of several
//!   scripts, apostrophes and contraction letters, every kind of whitespace, combining marks,
//!   CJK, emoji, punctuation.

#![no_main]

use std::sync::OnceLock;

use bytepair::pretok::{Pretokenizer, RegexSplitter, CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN};
use libfuzzer_sys::fuzz_target;

const ALPHABET: &[char] = &[
    'a', 'b', 's', 't', 'd', 'm', 'l', 'v', 'e', 'r', 'A', 'S', 'T', 'D', 'M', 'L', 'V', 'E', 'R',
    'ǅ', 'ʰ', 'ª', 'ß', 'É', 'é', 'Ω', 'ω', 'Я', 'я', '中', 'ア', 'ㅎ', 'ـ', '0', '7', '٣', '²', 'Ⅻ',
    '½', '\'', '’', ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{85}', '\u{a0}', '\u{2028}',
    '\u{3000}', '\u{300}', '\u{301}', '\u{94d}', '\u{200d}', '\u{fe0f}', '😀', '👍', '!', '.',
    ',', '/', '-', '_', '(', ')', '"', '#', '$', '\u{fffd}', '\u{0}', '\u{7f}', '\u{e000}',
];

struct Refs {
    fast: [Pretokenizer; 3],
    slow: [RegexSplitter; 3],
}

fn refs() -> &'static Refs {
    static R: OnceLock<Refs> = OnceLock::new();
    R.get_or_init(|| {
        let pats = [GPT2_PATTERN, CL100K_PATTERN, O200K_PATTERN];
        Refs {
            fast: pats.map(|p| Pretokenizer::new(p).expect("preset")),
            slow: pats.map(|p| RegexSplitter::new(p).expect("preset pattern compiles")),
        }
    })
}

fn check(text: &str) {
    let r = refs();
    for (fast, slow) in r.fast.iter().zip(&r.slow) {
        assert!(
            !matches!(fast, Pretokenizer::Custom(_)),
            "preset pattern must select the scanner"
        );
        let a = fast.pieces(text).expect("scanners never fail");
        let mut b = Vec::new();
        if slow.split(text, |p| b.push(p)).is_err() {
            continue; // backtracking limit of the reference: nothing to compare
        }
        assert_eq!(a, b, "{} scanner differs from the regex on {text:?}", fast.name());
    }
}

fuzz_target!(|data: &[u8]| {
    check(&String::from_utf8_lossy(data));
    let mapped: String = data
        .iter()
        .map(|&b| ALPHABET[b as usize % ALPHABET.len()])
        .collect();
    check(&mapped);
});
