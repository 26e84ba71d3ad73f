//! Cut a large text into chunks that the preset pretokenizers (gpt2, cl100k, o200k) split
//! exactly as they split the whole text, so the chunks can be encoded in parallel.
//!
//! A cut goes right after a `\n` whose previous byte is ASCII graphic (`!`..`~`) and whose next
//! byte is an ASCII letter. Why that is a boundary of all three patterns: the piece holding the
//! `\n` is a whitespace or punctuation piece (no letter alternative may start with or contain
//! `\r`/`\n`), so it ends at the `\n`, and the letter starts a new piece; the whitespace run there
//! is exactly `\n`, so the lookahead `\s+(?!\S)` and the anchor `\s++$` give the piece `\n` both
//! in the whole text and at the chunk's end; and no pattern looks behind, so the next chunk
//! starts as the whole text would at that letter. The Python tests check this on the corpus.
//!
//! Cost: a memchr scan from each target offset to the next cut point.

/// Split `text` into about `parts` chunks of similar size at safe cut points (fewer if there are
/// not enough). The chunks concatenate to `text`.
pub fn chunks(text: &str, parts: usize) -> Vec<&str> {
    let bytes = text.as_bytes();
    let parts = parts.max(1);
    let target = bytes.len() / parts;
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    while out.len() + 1 < parts {
        let Some(cut) = next_cut(bytes, start + target) else {
            break;
        };
        out.push(&text[start..cut]);
        start = cut;
    }
    out.push(&text[start..]);
    out
}

/// The first safe cut point at or after `from`.
fn next_cut(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from.max(1);
    while i < bytes.len() {
        let nl = i + memchr::memchr(b'\n', bytes.get(i..)?)?;
        let prev_ok = nl > 0 && bytes[nl - 1].is_ascii_graphic();
        let next_ok = bytes.get(nl + 1).is_some_and(u8::is_ascii_alphabetic);
        if prev_ok && next_ok {
            // `nl + 1` is the start of an ASCII letter: a char boundary.
            return Some(nl + 1);
        }
        i = nl + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretok::Pretokenizer;

    #[test]
    fn chunks_cut_at_pretoken_boundaries() {
        let text =
            "Hello world.\nNext line\n\nblank before\n  indented\nx\nA \n b\n\u{e9}t\u{e9}\nok\n"
                .repeat(50);
        for parts in [1, 2, 3, 7, 100] {
            let ch = chunks(&text, parts);
            assert_eq!(ch.concat(), text);
            for name in ["gpt2", "cl100k", "o200k"] {
                let p = Pretokenizer::new(name).unwrap();
                let whole = p.pieces(&text).unwrap();
                let joined: Vec<&str> = ch.iter().flat_map(|c| p.pieces(c).unwrap()).collect();
                assert_eq!(whole, joined, "{name} {parts}");
            }
        }
    }
}
