//! The superword constraints of SuperBPE's stage 2, checked in O(1) per pair.
//!
//! Idea: the reference trainer (alisawuffles/tokenizers-superbpe, `trainer.rs`) refuses a merge
//! when the new token's text contains `:Ġ` (a colon then a space) or when splitting it at `Ġ`
//! (the space byte 0x20) leaves more than four non-empty parts. Both depend only on the bytes of
//! the new token, so each token gets a [`Shape`] (its word count and what its ends look like)
//! and the shape of a concatenation is computed from the two shapes, never from the bytes.
//!
//! Invariant used by the trainer: both properties are monotone under extension. A token that
//! contains `a ++ b` as a substring has at least as many words as `a ++ b` (the words of `a ++ b`
//! are separated by spaces inside it, so they stay distinct) and contains `: ` if `a ++ b` does.
//! So once the pair at a junction between two symbols is refused, every later pair across that
//! junction is refused too, and the sequence can be cut there without changing any count that
//! can still matter.

/// Word count and ends of a token's bytes. "Words" are the maximal runs of bytes other than the
/// space 0x20 (tabs and newlines are inside words, as in the reference's split at `Ġ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub words: u32,
    /// First byte is a space (or the token is empty).
    pub first_space: bool,
    /// Last byte is a space (or the token is empty).
    pub last_space: bool,
    /// Last byte is `:`.
    pub last_colon: bool,
    /// Contains `: `.
    pub colon_space: bool,
}

impl Shape {
    /// The shape of `bytes` (one pass).
    pub fn of(bytes: &[u8]) -> Shape {
        let mut words = 0u32;
        let mut prev = b' ';
        let mut colon_space = false;
        for &b in bytes {
            if b != b' ' && prev == b' ' {
                words += 1;
            }
            if b == b' ' && prev == b':' {
                colon_space = true;
            }
            prev = b;
        }
        Shape {
            words,
            first_space: bytes.first().is_none_or(|&b| b == b' '),
            last_space: bytes.last().is_none_or(|&b| b == b' '),
            last_colon: bytes.last() == Some(&b':'),
            colon_space,
        }
    }

    /// The shape of the concatenation `a ++ b`.
    pub fn join(a: Shape, b: Shape) -> Shape {
        let glued = u32::from(!a.last_space && !b.first_space);
        Shape {
            words: a.words + b.words - glued,
            first_space: a.first_space,
            last_space: b.last_space,
            last_colon: b.last_colon,
            colon_space: a.colon_space || b.colon_space || (a.last_colon && b.first_space),
        }
    }
}

/// Which stage-2 merges are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraints {
    /// A new token may span at most this many words (`None`: no limit).
    pub max_words: Option<u32>,
    /// Refuse new tokens that contain a colon followed by a space.
    pub no_colon_space: bool,
}

impl Constraints {
    /// Whether a token with shape `s` may be created.
    #[inline]
    pub fn allows(&self, s: Shape) -> bool {
        !(self.max_words.is_some_and(|m| s.words > m) || (self.no_colon_space && s.colon_space))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's rule, on the text: split at spaces, count the non-empty parts.
    fn words(s: &[u8]) -> u32 {
        s.split(|&b| b == b' ').filter(|p| !p.is_empty()).count() as u32
    }

    #[test]
    fn join_equals_shape_of_concatenation() {
        let atoms: [&[u8]; 12] = [
            b"a", b" ", b"  ", b":", b": ", b" b", b"c ", b"\n", b"x:", b" :", b"ab cd", b"\t",
        ];
        for a in atoms {
            for b in atoms {
                for c in atoms {
                    let ab = [a, b].concat();
                    let abc = [a, b, c].concat();
                    let s = Shape::join(Shape::join(Shape::of(a), Shape::of(b)), Shape::of(c));
                    assert_eq!(s, Shape::of(&abc));
                    assert_eq!(Shape::join(Shape::of(a), Shape::of(b)), Shape::of(&ab));
                    assert_eq!(s.words, words(&abc));
                    let has = abc.windows(2).any(|w| w == b": ");
                    assert_eq!(s.colon_space, has);
                }
            }
        }
    }

    #[test]
    fn constraints() {
        let c = Constraints {
            max_words: Some(2),
            no_colon_space: true,
        };
        assert!(c.allows(Shape::of(b" of the")));
        assert!(!c.allows(Shape::of(b" of the end")));
        assert!(c.allows(Shape::of(b"  a   b  ")));
        assert!(!c.allows(Shape::of(b"note: ")));
        assert!(c.allows(Shape::of(b"a :b")));
        let free = Constraints {
            max_words: None,
            no_colon_space: false,
        };
        assert!(free.allows(Shape::of(b"a: b c d e f g")));
    }
}
