//! GPT-2's original files: `vocab.json` (`{byte-level token: id}`, also called `encoder.json`)
//! and `merges.txt` (`vocab.bpe`: an optional `#version: ...` first line, then one `left right`
//! merge per line in rank order).
//!
//! Semantics are HF's `BPE.from_file(vocab, merges)`: merges apply by rank, no whole-pretoken
//! lookup (`ignore_merges = false`). Cost: one JSON parse and O(merges) hash lookups.

use std::path::Path;

use serde_json::{Map, Value};

use crate::engine::TokenId;
use crate::error::{Error, Result};
use crate::formats::bytelevel;
use crate::vocab::Vocab;

/// The special token GPT-2's `vocab.json` holds (made special by `SpecialTokens::Default`).
pub const GPT2_EOT: &str = "<|endoftext|>";

/// Parse `vocab.json`: a JSON object of token -> id.
pub fn parse_vocab_json(data: &[u8], path: &Path) -> Result<Map<String, Value>> {
    let doc: Value = serde_json::from_slice(data).map_err(|e| {
        let what = if e.is_eof() {
            "truncated JSON"
        } else {
            "not valid JSON"
        };
        Error::format(path, format!("{what} ({e}); not a complete vocab.json"))
    })?;
    match doc {
        Value::Object(m) => Ok(m),
        _ => Err(Error::format(
            path,
            "a vocab.json holds one JSON object of token -> id",
        )),
    }
}

/// Build the vocabulary of `vocab.json` + `merges.txt`.
///
/// `specials`: special tokens as `(text, id)`; an id of `None` takes the token's id in
/// `vocab.json` (an error if it is not there). A special token found in `vocab.json` keeps that
/// id and its entry there is read as literal text.
pub fn from_vocab_merges(
    vocab: &Map<String, Value>,
    vocab_path: &Path,
    merges: &[u8],
    merges_path: &Path,
    specials: &[(String, Option<TokenId>)],
) -> Result<Vocab> {
    let mut resolved: Vec<(String, TokenId)> = Vec::with_capacity(specials.len());
    for (s, want) in specials {
        let have = vocab
            .get(s)
            .and_then(Value::as_u64)
            .and_then(|i| TokenId::try_from(i).ok());
        let id = match (have, want) {
            (Some(h), Some(w)) if h != *w => {
                return Err(Error::format(
                    vocab_path,
                    format!("special token {s:?} has id {h} here, not the {w} given"),
                ))
            }
            (Some(h), _) => h,
            (None, Some(w)) => *w,
            (None, None) => {
                return Err(Error::format(
                    vocab_path,
                    format!("special token {s:?} is not in the file: give its id"),
                ))
            }
        };
        resolved.push((s.clone(), id));
    }
    let verbatim: Vec<(TokenId, &str)> = resolved
        .iter()
        .filter(|(s, _)| vocab.contains_key(s))
        .map(|(s, id)| (*id, s.as_str()))
        .collect();
    let tokens = bytelevel::tokens_from_map(vocab, &verbatim, vocab_path, "vocab.json")?;
    bytelevel::check_all_bytes(&tokens, vocab_path)?;

    let text = std::str::from_utf8(merges).map_err(|e| {
        Error::format(
            merges_path,
            format!("not UTF-8 text (byte {})", e.valid_up_to()),
        )
    })?;
    let mut list = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        if (ln == 0 && line.starts_with("#version")) || line.is_empty() {
            continue;
        }
        let at = format!("line {}", ln + 1);
        let (a, b) = bytelevel::split_merge_line(line, &at, merges_path)?;
        let m = bytelevel::resolve_merge(vocab, a, b, &at, merges_path).map_err(|e| match e {
            Error::Format { message, .. } => {
                Error::format(merges_path, format!("{message} ({})", vocab_path.display()))
            }
            other => other,
        })?;
        list.push(m);
    }
    Vocab::new(tokens, list, resolved).map_err(|e| Error::format(merges_path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::bytes_to_unicode;

    fn vocab_json(extra: &[&str]) -> String {
        let mut m = Map::new();
        for b in 0..=255u8 {
            m.insert(bytes_to_unicode(&[b]), Value::from(m.len()));
        }
        for e in extra {
            m.insert(e.to_string(), Value::from(m.len()));
        }
        serde_json::to_string(&m).unwrap()
    }

    fn load(v: &str, merges: &str, specials: &[(String, Option<TokenId>)]) -> Result<Vocab> {
        let (vp, mp) = (Path::new("vocab.json"), Path::new("merges.txt"));
        from_vocab_merges(
            &parse_vocab_json(v.as_bytes(), vp)?,
            vp,
            merges.as_bytes(),
            mp,
            specials,
        )
    }

    #[test]
    fn reads_gpt2_files() {
        let v = vocab_json(&["Ġt", "Ġth", GPT2_EOT]);
        let m = "#version: 0.2\nĠ t\nĠt h\n";
        let voc = load(&v, m, &[(GPT2_EOT.into(), None)]).unwrap();
        assert_eq!(voc.merges().len(), 2);
        assert_eq!(voc.merge_of((256, b'h' as u32)).map(|x| x.1), Some(257));
        assert_eq!(voc.special_id(GPT2_EOT), Some(258));
        assert!(!voc.ignore_merges());
        assert_eq!(load(&v, m, &[]).map(|v| v.num_tokens()).ok(), Some(259));
    }

    #[test]
    fn malformed_files_name_the_problem() {
        let v = vocab_json(&["Ġt"]);
        for (vj, m, want, file) in [
            (
                v.as_str(),
                "Ġ x\n",
                "merge result \"Ġx\" is not in the vocab",
                "merges.txt",
            ),
            (v.as_str(), "Ġ\n", "line 1", "merges.txt"),
            (v.as_str(), "#version: 0.2\nĠ t q\n", "line 2", "merges.txt"),
            (&v[..v.len() - 9], "", "truncated JSON", "vocab.json"),
            ("[1, 2]", "", "one JSON object", "vocab.json"),
            (
                "{\"a\": \"x\"}",
                "",
                "not a non-negative integer",
                "vocab.json",
            ),
            ("{\"a\": 0, \"b\": 5}", "", "not contiguous", "vocab.json"),
            ("{\"a\": 0}", "", "byte 0x00", "vocab.json"),
            ("{\"a b\": 0}", "", "not byte-level", "vocab.json"),
        ] {
            let e = load(vj, m, &[]).unwrap_err().to_string();
            assert!(e.contains(want) && e.starts_with(file), "{want}: {e}");
        }
        let e = load(&v, "", &[("<x>".into(), None)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("give its id"), "{e}");
    }
}
