//! Documents of a text file: the whole text, its paragraphs, or its lines.
//!
//! Paragraphs are the text between separators, a separator being a line break followed by one or
//! more blank lines: exactly the matches of the regex `\r?\n(?:[ \t]*\r?\n)+` (leftmost, greedy),
//! so `re.split` with that regex in Python gives the same documents. Lines end at `\n`; a `\r`
//! right before it is dropped too. Empty documents are skipped in every mode.
//!
//! Cost: one memchr scan; the documents borrow from the text.

use crate::error::{Error, Result};

/// What a document is in a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocSep {
    /// The whole text.
    File,
    /// Text between runs of blank lines.
    BlankLine,
    /// Each line, without its line break.
    Line,
}

impl std::str::FromStr for DocSep {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "file" => Ok(DocSep::File),
            "blank-line" => Ok(DocSep::BlankLine),
            "line" => Ok(DocSep::Line),
            other => Err(Error::invalid(format!(
                "doc_sep must be file, blank-line or line, not {other:?}"
            ))),
        }
    }
}

/// The end of the separator whose line break is the `\n` at `nl`, if there is one: the
/// greedy repetition of `[ \t]*\r?\n` after it (at least once).
fn separator_end(b: &[u8], nl: usize) -> Option<usize> {
    let mut end = None;
    let mut j = nl + 1;
    loop {
        let mut k = j;
        while k < b.len() && (b[k] == b' ' || b[k] == b'\t') {
            k += 1;
        }
        if k < b.len() && b[k] == b'\r' {
            k += 1;
        }
        if k < b.len() && b[k] == b'\n' {
            j = k + 1;
            end = Some(j);
        } else {
            return end;
        }
    }
}

/// Split `text` into its non-empty documents (see the module docs).
pub fn split_documents(text: &str, sep: DocSep) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut push = |s: usize, e: usize| {
        if e > s {
            // Cut points are next to ASCII bytes, so they are char boundaries.
            out.push(&text[s..e]);
        }
    };
    match sep {
        DocSep::File => push(0, b.len()),
        DocSep::Line => {
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', b) {
                let end = if nl > start && b[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                push(start, end);
                start = nl + 1;
            }
            push(start, b.len());
        }
        DocSep::BlankLine => {
            let mut start = 0;
            let mut from = 0;
            while let Some(off) = memchr::memchr(b'\n', &b[from..]) {
                let nl = from + off;
                match separator_end(b, nl) {
                    Some(end) => {
                        let s = if nl > start && b[nl - 1] == b'\r' {
                            nl - 1
                        } else {
                            nl
                        };
                        push(start, s);
                        start = end;
                        from = end;
                    }
                    None => from = nl + 1,
                }
            }
            push(start, b.len());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_and_lines() {
        let t = "\n\na\r\nb\n\n\nc  \n \t\r\n\nd\r\n\r\ne\n  x\n\n";
        assert_eq!(
            split_documents(t, DocSep::BlankLine),
            ["a\r\nb", "c  ", "d", "e\n  x"]
        );
        assert_eq!(
            split_documents(t, DocSep::Line),
            ["a", "b", "c  ", " \t", "d", "e", "  x"]
        );
        assert_eq!(split_documents(t, DocSep::File), [t]);
        assert!(split_documents("", DocSep::File).is_empty());
        assert_eq!(split_documents("x\r", DocSep::Line), ["x\r"]);
        assert_eq!(
            split_documents("a\n\n  b\n", DocSep::BlankLine),
            ["a", "  b\n"]
        );
    }
}
