//! HF `tokenizer.json` for byte-level BPE.
//!
//! Written as HF tokenizers itself writes such files: `Split(Regex(pattern), "Isolated")` then
//! `ByteLevel(use_regex=false)` as pre-tokenizer (just `ByteLevel` for `none`), a `ByteLevel`
//! decoder, a `BPE` model whose vocab and merges use GPT-2's byte -> unicode mapping, and the
//! special tokens as added tokens. Reading accepts that shape (and GPT-2's
//! `ByteLevel(use_regex=true)`); anything else is refused with an error that names it.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::engine::TokenId;
use crate::error::{Error, Result};
use crate::pretok::{Pretokenizer, CL100K_PATTERN, GPT2_PATTERN};

/// The cl100k pattern as written for HF: Oniguruma reads `{1,3}+` as a nested repetition
/// ("one or more of 1-3 digits"), not as possessive, so `\p{N}{1,3}+` would take any digit run.
/// Without the `+` the pattern matches exactly the same (nothing follows the digits in that
/// alternative, so possessiveness cannot change the match).
pub const CL100K_HF_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";

/// The pattern string to write for HF (see [`CL100K_HF_PATTERN`]).
fn hf_pattern(p: &Pretokenizer) -> Option<&str> {
    match p {
        Pretokenizer::Cl100k => Some(CL100K_HF_PATTERN),
        other => other.pattern(),
    }
}

/// Map an HF pattern string back to the preset it stands for.
fn from_hf_pattern(pat: &str) -> &str {
    if pat == CL100K_HF_PATTERN {
        CL100K_PATTERN
    } else {
        pat
    }
}
use crate::tokenizer::Tokenizer;
use crate::vocab::{bytes_to_unicode, unicode_to_bytes, Merge, Vocab};

/// Serialize a tokenizer as HF `tokenizer.json`.
pub fn to_json(tok: &Tokenizer) -> String {
    let v = tok.vocab();
    let mut vocab = Map::new();
    for (id, t) in v.tokens().iter().enumerate() {
        vocab.insert(bytes_to_unicode(t), json!(id));
    }
    let merges: Vec<Value> = v
        .merges()
        .iter()
        .map(|m| {
            let a = v.token(m.pair.0).map(bytes_to_unicode).unwrap_or_default();
            let b = v.token(m.pair.1).map(bytes_to_unicode).unwrap_or_default();
            json!([a, b])
        })
        .collect();
    let added: Vec<Value> = v
        .specials()
        .iter()
        .map(|(s, id)| {
            json!({"id": id, "content": s, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false,
                            "trim_offsets": true, "use_regex": false});
    let pre = match hf_pattern(tok.pretokenizer()) {
        Some(pat) => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pat}, "behavior": "Isolated", "invert": false},
            byte_level,
        ]}),
        None => byte_level,
    };
    let doc = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": false, "vocab": vocab, "merges": merges,
        },
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn err(path: &Path, msg: impl Into<String>) -> Error {
    Error::format(path, msg)
}

/// Parse a byte-level BPE `tokenizer.json`.
pub fn from_json(data: &[u8], path: &Path) -> Result<Tokenizer> {
    let doc: Value = serde_json::from_slice(data).map_err(|e| {
        err(
            path,
            format!("not valid JSON ({e}); truncated or not a tokenizer.json?"),
        )
    })?;
    let model = doc
        .get("model")
        .and_then(Value::as_object)
        .ok_or_else(|| err(path, "no \"model\" object"))?;
    match model.get("type").and_then(Value::as_str) {
        Some("BPE") | None if model.contains_key("merges") => {}
        other => {
            return Err(err(
                path,
                format!("model type {other:?} is not supported (only BPE)"),
            ))
        }
    }
    for key in [
        "continuing_subword_prefix",
        "end_of_word_suffix",
        "dropout",
        "unk_token",
    ] {
        if model.get(key).is_some_and(|v| !v.is_null()) {
            return Err(err(path, format!("BPE option {key:?} is not supported")));
        }
    }
    if model.get("byte_fallback").and_then(Value::as_bool) == Some(true) {
        return Err(err(path, "BPE option \"byte_fallback\" is not supported"));
    }
    if model.get("ignore_merges").and_then(Value::as_bool) == Some(true) {
        return Err(err(
            path,
            "BPE option \"ignore_merges\" is not supported yet",
        ));
    }
    if doc.get("normalizer").is_some_and(|v| !v.is_null()) {
        return Err(err(path, "normalizers are not supported yet"));
    }
    let pretok = parse_pretokenizer(doc.get("pre_tokenizer").unwrap_or(&Value::Null), path)?;

    let vmap = model
        .get("vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| err(path, "model has no \"vocab\" object"))?;
    let mut tokens: Vec<Option<Vec<u8>>> = vec![None; vmap.len()];
    for (s, id) in vmap {
        let id = id
            .as_u64()
            .ok_or_else(|| err(path, format!("vocab entry {s:?} has a non-integer id")))?
            as usize;
        let bytes = unicode_to_bytes(s).ok_or_else(|| {
            err(
                path,
                format!("vocab entry {s:?} is not byte-level (GPT-2 alphabet)"),
            )
        })?;
        let slot = tokens.get_mut(id).ok_or_else(|| {
            err(
                path,
                format!("vocab ids are not contiguous (id {id} of {})", vmap.len()),
            )
        })?;
        if slot.replace(bytes).is_some() {
            return Err(err(path, format!("vocab id {id} is used twice")));
        }
    }
    let tokens: Vec<Vec<u8>> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.ok_or_else(|| err(path, format!("vocab id {i} is missing"))))
        .collect::<Result<_>>()?;
    let vocab_tmp =
        Vocab::new(tokens.clone(), vec![], vec![]).map_err(|e| err(path, e.to_string()))?;
    for b in 0..=255u8 {
        if vocab_tmp.id(&[b]).is_none() {
            return Err(err(
                path,
                format!("byte {b:#04x} has no token: not a byte-level vocabulary"),
            ));
        }
    }
    let mlist = model
        .get("merges")
        .and_then(Value::as_array)
        .ok_or_else(|| err(path, "model has no \"merges\" list"))?;
    let mut merges = Vec::with_capacity(mlist.len());
    for (r, m) in mlist.iter().enumerate() {
        let (a, b) = match m {
            Value::String(s) => {
                let mut it = s.splitn(2, ' ');
                match (it.next(), it.next()) {
                    (Some(a), Some(b)) => (a.to_string(), b.to_string()),
                    _ => return Err(err(path, format!("merge {r} {s:?} is not \"a b\""))),
                }
            }
            Value::Array(v) if v.len() == 2 => match (v[0].as_str(), v[1].as_str()) {
                (Some(a), Some(b)) => (a.to_string(), b.to_string()),
                _ => return Err(err(path, format!("merge {r} is not a pair of strings"))),
            },
            _ => {
                return Err(err(
                    path,
                    format!("merge {r} is neither \"a b\" nor [a, b]"),
                ))
            }
        };
        let id_of = |s: &str| -> Result<TokenId> {
            unicode_to_bytes(s)
                .and_then(|b| vocab_tmp.id(&b))
                .ok_or_else(|| {
                    err(
                        path,
                        format!("merge {r} uses {s:?}, which is not in the vocab"),
                    )
                })
        };
        let (ia, ib) = (id_of(&a)?, id_of(&b)?);
        let joined = format!("{a}{b}");
        let ic = id_of(&joined).map_err(|_| {
            err(
                path,
                format!("merge {r} produces {joined:?}, which is not in the vocab"),
            )
        })?;
        merges.push(Merge {
            pair: (ia, ib),
            result: ic,
        });
    }
    let mut specials = Vec::new();
    if let Some(added) = doc.get("added_tokens").and_then(Value::as_array) {
        for t in added {
            let id = t.get("id").and_then(Value::as_u64);
            let content = t.get("content").and_then(Value::as_str);
            let (Some(id), Some(content)) = (id, content) else {
                return Err(err(path, "an added token lacks \"id\" or \"content\""));
            };
            if (id as usize) < tokens.len() {
                // An added token that is also a regular token: same id, nothing to add.
                continue;
            }
            specials.push((content.to_string(), id as TokenId));
        }
    }
    let vocab = Vocab::new(tokens, merges, specials).map_err(|e| err(path, e.to_string()))?;
    Tokenizer::new(vocab, pretok)
}

fn parse_pretokenizer(v: &Value, path: &Path) -> Result<Pretokenizer> {
    let ty = v.get("type").and_then(Value::as_str);
    match ty {
        Some("ByteLevel") => {
            if v.get("add_prefix_space").and_then(Value::as_bool) == Some(true) {
                return Err(err(
                    path,
                    "ByteLevel add_prefix_space=true is not supported yet",
                ));
            }
            if v.get("use_regex").and_then(Value::as_bool).unwrap_or(true) {
                Ok(Pretokenizer::new(GPT2_PATTERN)?)
            } else {
                Ok(Pretokenizer::None)
            }
        }
        Some("Sequence") => {
            let list = v
                .get("pretokenizers")
                .and_then(Value::as_array)
                .ok_or_else(|| err(path, "Sequence pre-tokenizer without a list"))?;
            match list.as_slice() {
                [split, bl]
                    if split.get("type").and_then(Value::as_str) == Some("Split")
                        && bl.get("type").and_then(Value::as_str) == Some("ByteLevel")
                        && bl.get("use_regex").and_then(Value::as_bool) == Some(false) =>
                {
                    let behavior = split.get("behavior").and_then(Value::as_str);
                    if behavior != Some("Isolated") || split.get("invert").and_then(Value::as_bool) == Some(true) {
                        return Err(err(path, format!("Split behavior {behavior:?} is not supported (only Isolated)")));
                    }
                    let pat = split
                        .get("pattern")
                        .and_then(|p| p.get("Regex"))
                        .and_then(Value::as_str)
                        .ok_or_else(|| err(path, "Split pre-tokenizer without a Regex pattern"))?;
                    Pretokenizer::new(from_hf_pattern(pat)).map_err(|e| err(path, e.to_string()))
                }
                _ => Err(err(path, "this pre-tokenizer Sequence is not supported (expected Split(Regex) + ByteLevel(use_regex=false))")),
            }
        }
        other => Err(err(
            path,
            format!("pre-tokenizer {other:?} is not supported"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cl100k_hf_pattern_differs_only_in_the_digit_quantifier() {
        assert_eq!(
            CL100K_PATTERN.replace(r"\p{N}{1,3}+", r"\p{N}{1,3}"),
            CL100K_HF_PATTERN
        );
        let a = Pretokenizer::new(CL100K_PATTERN).unwrap();
        let b = Pretokenizer::Custom(crate::pretok::RegexSplitter::new(CL100K_HF_PATTERN).unwrap());
        let text = "ca:12345:ct 1234567 x99y 00 it's  \r\n\n  ok";
        assert_eq!(a.pieces(text).unwrap(), b.pieces(text).unwrap());
        assert_eq!(from_hf_pattern(CL100K_HF_PATTERN), CL100K_PATTERN);
    }
}
