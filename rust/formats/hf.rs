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

/// The regex of HF's `ByteLevel(use_regex=true)` (GPT-2's original pattern). It splits every
/// text exactly as tiktoken's r50k pattern ([`GPT2_PATTERN`]): `\s+(?!\S)|\s+` and
/// `\s++$|\s+(?!\S)|\s` both give a whitespace run to the end of the text whole, give all but its
/// last character to a run before non-space, and leave a single character otherwise; the
/// possessive `++` cannot change a match that nothing follows. A test checks the two on random
/// text.
pub const GPT2_HF_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Map an HF pattern string back to the preset it stands for.
fn from_hf_pattern(pat: &str) -> &str {
    match pat {
        CL100K_HF_PATTERN => CL100K_PATTERN,
        GPT2_HF_PATTERN => GPT2_PATTERN,
        _ => pat,
    }
}
use crate::encode::MergeRule;
use crate::formats::bytelevel;
use crate::normalize::Normalizer;
use crate::tokenizer::Tokenizer;
use crate::vocab::{bytes_to_unicode, Vocab};

/// Serialize a tokenizer as HF `tokenizer.json`.
pub fn to_json(tok: &Tokenizer) -> String {
    let v = tok.vocab();
    let mut vocab = Map::new();
    for (id, t) in v.tokens().iter().enumerate() {
        // A special token that reuses a regular id is written as its text, as HF's trainer does.
        let key = match v.special_by_id(id as TokenId) {
            Some(s) => s.to_string(),
            None => bytes_to_unicode(t),
        };
        vocab.insert(key, json!(id));
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
    // HF numbers an added token that the model vocab lacks with the next free id after the model
    // vocab, whatever id the file gives it. Where that would differ (ids with gaps, as cl100k's
    // 100257 after 100256 regular tokens, or out of order), list the special tokens in the model
    // vocab too, as GPT-2's own tokenizer.json does: HF then keeps their ids.
    let regular = v.tokens().len();
    let past: Vec<&(String, TokenId)> = v
        .specials()
        .iter()
        .filter(|(_, id)| *id as usize >= regular)
        .collect();
    let sequential = past
        .iter()
        .enumerate()
        .all(|(k, (_, id))| *id as usize == regular + k);
    if !sequential {
        for (s, id) in past {
            if !vocab.contains_key(s) {
                vocab.insert(s.clone(), json!(id));
            }
        }
    }
    let added: Vec<Value> = v
        .specials()
        .iter()
        .map(|(s, id)| {
            json!({"id": id, "content": s, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": !v.is_non_special(*id)})
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
        "normalizer": tok.normalizer().map(|n| json!({"type": n.name()})),
        "pre_tokenizer": pre,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": v.ignore_merges(), "vocab": vocab, "merges": merges,
        },
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn err(path: &Path, msg: impl Into<String>) -> Error {
    Error::format(path, msg)
}

/// A `type` name for messages: `"Metaspace"`, or `(no type)`.
fn ty_name(t: Option<&str>) -> String {
    t.map_or_else(|| "(no type)".to_string(), |s| format!("{s:?}"))
}

/// A JSON value's type, for error messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `obj[key]` as a string, or `None` if absent or null; an error if of another type.
fn opt_str<'a>(obj: &'a Value, key: &str, ctx: &str, path: &Path) -> Result<Option<&'a str>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(err(
            path,
            format!("{ctx}: \"{key}\" must be a string, not {}", kind(v)),
        )),
    }
}

/// `obj[key]` as a boolean (`default` if absent or null); an error if of another type.
fn opt_bool(obj: &Value, key: &str, default: bool, ctx: &str, path: &Path) -> Result<bool> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(err(
            path,
            format!("{ctx}: \"{key}\" must be true or false, not {}", kind(v)),
        )),
    }
}

/// One entry of HF's `added_tokens`.
struct Added {
    id: TokenId,
    content: String,
    special: bool,
}

/// The added tokens that the model vocab lists past its regular rows: repeatedly, the entry with
/// the highest id while that id is outside `0..entries` and the entry is an added token with the
/// same id. Empty (one pass, no allocation) for the usual contiguous vocab.
fn trailing_added<'a>(vmap: &'a Map<String, Value>, added: &[Added]) -> Vec<&'a str> {
    let max = vmap.values().filter_map(Value::as_u64).max().unwrap_or(0);
    if max < vmap.len() as u64 {
        return Vec::new();
    }
    let mut by_id: Vec<(u64, &str)> = vmap
        .iter()
        .filter_map(|(k, v)| Some((v.as_u64()?, k.as_str())))
        .collect();
    by_id.sort_unstable();
    let mut len = vmap.len() as u64;
    let mut out = Vec::new();
    while let Some(&(id, k)) = by_id.last() {
        let is_added = added
            .iter()
            .any(|a| a.content == k && u64::from(a.id) == id);
        if id < len || !is_added {
            break; // contiguous now, or a regular entry out of range (reported by the caller)
        }
        out.push(k);
        by_id.pop();
        len -= 1;
    }
    out
}

/// Parse a byte-level BPE `tokenizer.json`.
///
/// Supported (everything else is refused with an error naming the feature, so a file never
/// loads to encode differently from HF): a `BPE` model over GPT-2's byte alphabet (any ids for
/// the byte tokens, `ignore_merges`, `unk_token`/`byte_fallback`, which a complete byte alphabet
/// never reaches); normalizer null, `NFC`, `NFKC` or a `Sequence` of them; pre-tokenizer
/// `ByteLevel` (GPT-2's regex or none) or `Split(Regex, Isolated)` + `ByteLevel(use_regex=false)`;
/// added tokens (special or not) with `lstrip`/`rstrip`/`single_word` false; decoder null or
/// `ByteLevel`. The post-processor is ignored: bytepair's ids are HF's
/// `encode(text, add_special_tokens=False)`.
pub fn from_json(data: &[u8], path: &Path) -> Result<Tokenizer> {
    let doc: Value = serde_json::from_slice(data).map_err(|e| {
        let what = if e.is_eof() {
            "truncated JSON"
        } else {
            "not valid JSON"
        };
        err(path, format!("{what} ({e}); not a complete tokenizer.json"))
    })?;
    if !doc.is_object() {
        return Err(err(
            path,
            format!("a tokenizer.json holds a JSON object, not {}", kind(&doc)),
        ));
    }
    for key in ["truncation", "padding"] {
        if doc.get(key).is_some_and(|v| !v.is_null()) {
            return Err(err(
                path,
                format!("\"{key}\" is set; bytepair does not truncate or pad (set it to null)"),
            ));
        }
    }
    let model = doc.get("model").ok_or_else(|| err(path, "no \"model\""))?;
    if !model.is_object() {
        return Err(err(
            path,
            format!("\"model\" must be an object, not {}", kind(model)),
        ));
    }
    match opt_str(model, "type", "model", path)? {
        Some("BPE") => {}
        None if model.get("merges").is_some() => {}
        other => {
            return Err(err(
                path,
                format!("model type {} is not supported (only BPE)", ty_name(other)),
            ))
        }
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
        if opt_str(model, key, "model", path)?.is_some_and(|s| !s.is_empty()) {
            return Err(err(path, format!("BPE option \"{key}\" is not supported")));
        }
    }
    match model.get("dropout") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_f64() == Some(0.0) => {}
        Some(v) => {
            return Err(err(
                path,
                format!("BPE option \"dropout\" ({v}) is not supported (encoding would be random)"),
            ))
        }
    }
    // `unk_token`, `fuse_unk` and `byte_fallback` act only on characters missing from the vocab;
    // after the ByteLevel mapping every character is one of the 256 byte characters, all of
    // which must be in the vocab (checked below), so they never act.
    let _ = opt_str(model, "unk_token", "model", path)?;
    let _ = opt_bool(model, "byte_fallback", false, "model", path)?;
    let ignore_merges = opt_bool(model, "ignore_merges", false, "model", path)?;

    let normalizer = parse_normalizer(doc.get("normalizer").unwrap_or(&Value::Null), path)?;
    let pretok = parse_pretokenizer(doc.get("pre_tokenizer").unwrap_or(&Value::Null), path)?;
    check_decoder(doc.get("decoder").unwrap_or(&Value::Null), path)?;
    let added = parse_added(
        doc.get("added_tokens").unwrap_or(&Value::Null),
        normalizer,
        path,
    )?;

    let vmap = match model.get("vocab") {
        Some(Value::Object(m)) => m,
        Some(v) => {
            return Err(err(
                path,
                format!("model \"vocab\" must be an object, not {}", kind(v)),
            ))
        }
        None => return Err(err(path, "model has no \"vocab\"")),
    };
    // Added tokens may also sit in the model vocab under ids past the regular tokens, with gaps
    // (GPT-2's and cl100k's files: `<|endoftext|>` 100257 after 100256 regular tokens). Those
    // entries are the added tokens themselves, not vocabulary rows: set them aside, so the
    // remaining ids must be 0..n.
    let trailing = trailing_added(vmap, &added);
    let filtered;
    let vmap = if trailing.is_empty() {
        vmap
    } else {
        filtered = vmap
            .iter()
            .filter(|(k, _)| !trailing.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>();
        &filtered
    };
    let verbatim: Vec<(TokenId, &str)> = added
        .iter()
        .filter(|a| (a.id as usize) < vmap.len())
        .map(|a| (a.id, a.content.as_str()))
        .collect();
    let tokens = bytelevel::tokens_from_map(vmap, &verbatim, path, "vocab")?;
    bytelevel::check_all_bytes(&tokens, path)?;

    let mlist = match model.get("merges") {
        Some(Value::Array(l)) => l,
        Some(v) => {
            return Err(err(
                path,
                format!("model \"merges\" must be a list, not {}", kind(v)),
            ))
        }
        None => return Err(err(path, "model has no \"merges\"")),
    };
    let mut merges = Vec::with_capacity(mlist.len());
    for (r, m) in mlist.iter().enumerate() {
        let at = format!("merge {r}");
        let (a, b) = match m {
            Value::String(s) => bytelevel::split_merge_line(s, &at, path)?,
            Value::Array(v) => match v.as_slice() {
                [Value::String(a), Value::String(b)] => (a.as_str(), b.as_str()),
                _ => return Err(err(path, format!("{at} is not a pair of strings"))),
            },
            other => {
                return Err(err(
                    path,
                    format!("{at} is {}, neither \"a b\" nor [a, b]", kind(other)),
                ))
            }
        };
        merges.push(bytelevel::resolve_merge(vmap, a, b, &at, path)?);
    }
    let non_special: Vec<TokenId> = added.iter().filter(|a| !a.special).map(|a| a.id).collect();
    let specials: Vec<(String, TokenId)> = added.into_iter().map(|a| (a.content, a.id)).collect();
    let vocab = Vocab::new(tokens, merges, specials)
        .map_err(|e| err(path, e.to_string()))?
        .with_ignore_merges(ignore_merges)
        .with_non_special(non_special);
    let rule = if ignore_merges {
        MergeRule::WholeThenMerges
    } else {
        MergeRule::Merges
    };
    Ok(Tokenizer::new(vocab, pretok)
        .and_then(|t| t.with_merge_rule(rule))
        .map_err(|e| err(path, e.to_string()))?
        .with_normalizer(normalizer))
}

/// HF's `normalizer`: null, `NFC`, `NFKC`, or a `Sequence` of those.
fn parse_normalizer(v: &Value, path: &Path) -> Result<Option<Normalizer>> {
    if v.is_null() {
        return Ok(None);
    }
    let ty = opt_str(v, "type", "normalizer", path)?;
    if let Some(n) = ty.and_then(Normalizer::from_name) {
        return Ok(Some(n));
    }
    if ty == Some("Sequence") {
        let list = match v.get("normalizers") {
            Some(Value::Array(l)) => l,
            _ => {
                return Err(err(
                    path,
                    "normalizer Sequence without a \"normalizers\" list",
                ))
            }
        };
        let mut out: Option<Normalizer> = None;
        for n in list {
            if let Some(m) = parse_normalizer(n, path)? {
                out = Some(out.map_or(m, |o| o.then(m)));
            }
        }
        return Ok(out);
    }
    Err(err(
        path,
        format!(
            "normalizer {} is not supported (only NFC, NFKC, or a Sequence of them)",
            ty_name(ty)
        ),
    ))
}

/// HF's `decoder`: bytepair decodes by concatenating token bytes, which is `ByteLevel`.
fn check_decoder(v: &Value, path: &Path) -> Result<()> {
    if v.is_null() {
        return Ok(());
    }
    match opt_str(v, "type", "decoder", path)? {
        Some("ByteLevel") => Ok(()),
        Some("Sequence") => match v.get("decoders") {
            Some(Value::Array(l)) => l.iter().try_for_each(|d| check_decoder(d, path)),
            _ => Err(err(path, "decoder Sequence without a \"decoders\" list")),
        },
        other => Err(err(
            path,
            format!(
                "decoder {} is not supported (only ByteLevel: bytepair decodes bytes)",
                ty_name(other)
            ),
        )),
    }
}

/// HF's `added_tokens`. Each becomes a bytepair special token (matched in text before
/// pretokenization, as HF does for special and non-special added tokens alike).
fn parse_added(v: &Value, normalizer: Option<Normalizer>, path: &Path) -> Result<Vec<Added>> {
    let list = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(l) => l,
        other => {
            return Err(err(
                path,
                format!("\"added_tokens\" must be a list, not {}", kind(other)),
            ))
        }
    };
    let mut out: Vec<Added> = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let ctx = format!("added token {i}");
        let id = t
            .get("id")
            .and_then(Value::as_u64)
            .and_then(|id| TokenId::try_from(id).ok())
            .ok_or_else(|| err(path, format!("{ctx} has no integer \"id\"")))?;
        let content = opt_str(t, "content", &ctx, path)?
            .filter(|c| !c.is_empty())
            .ok_or_else(|| err(path, format!("{ctx} has no \"content\"")))?;
        let special = opt_bool(t, "special", false, &ctx, path)?;
        for flag in ["lstrip", "rstrip", "single_word"] {
            if opt_bool(t, flag, false, &ctx, path)? {
                return Err(err(
                    path,
                    format!("added token {content:?} sets \"{flag}\": true, which bytepair does not support"),
                ));
            }
        }
        // HF matches `normalized` tokens in the normalized text and the others in the raw
        // text; without a normalizer the two are the same text.
        if let Some(n) = normalizer {
            if opt_bool(t, "normalized", !special, &ctx, path)? {
                return Err(err(
                    path,
                    format!(
                        "added token {content:?} sets \"normalized\": true with the {} normalizer; \
                         bytepair matches added tokens in the raw text only",
                        n.name()
                    ),
                ));
            }
        }
        if let Some(prev) = out.iter().find(|a| a.id == id || a.content == content) {
            return Err(err(
                path,
                format!(
                    "added tokens {:?} (id {}) and {content:?} (id {id}) clash",
                    prev.content, prev.id
                ),
            ));
        }
        out.push(Added {
            id,
            content: content.to_string(),
            special,
        });
    }
    Ok(out)
}

/// HF's `ByteLevel` pre-tokenizer: GPT-2's regex (`use_regex`, HF's default) or no split.
fn parse_byte_level(v: &Value, path: &Path) -> Result<Pretokenizer> {
    if opt_bool(v, "add_prefix_space", true, "ByteLevel pre-tokenizer", path)? {
        return Err(err(
            path,
            "ByteLevel pre-tokenizer option \"add_prefix_space\": true is not supported",
        ));
    }
    if opt_bool(v, "use_regex", true, "ByteLevel pre-tokenizer", path)? {
        Ok(Pretokenizer::Gpt2)
    } else {
        Ok(Pretokenizer::None)
    }
}

fn parse_pretokenizer(v: &Value, path: &Path) -> Result<Pretokenizer> {
    let ty = opt_str(v, "type", "pre-tokenizer", path)?;
    match ty {
        Some("ByteLevel") => parse_byte_level(v, path),
        Some("Sequence") => {
            let list = match v.get("pretokenizers") {
                Some(Value::Array(l)) => l,
                _ => return Err(err(path, "Sequence pre-tokenizer without a \"pretokenizers\" list")),
            };
            let ty_of = |p: &Value| p.get("type").and_then(Value::as_str).unwrap_or("?").to_string();
            match list.as_slice() {
                [bl] if ty_of(bl) == "ByteLevel" => parse_byte_level(bl, path),
                [split, bl] if ty_of(split) == "Split" && ty_of(bl) == "ByteLevel" => {
                    if parse_byte_level(bl, path)?.name() != "none" {
                        return Err(err(
                            path,
                            "pre-tokenizer Split followed by ByteLevel(use_regex=true) splits \
                             twice; bytepair supports Split + ByteLevel(use_regex=false)",
                        ));
                    }
                    parse_split(split, path)
                }
                _ => {
                    let names: Vec<String> = list.iter().map(ty_of).collect();
                    Err(err(
                        path,
                        format!(
                            "pre-tokenizer Sequence {names:?} is not supported (expected \
                             [Split(Regex), ByteLevel(use_regex=false)] or [ByteLevel])"
                        ),
                    ))
                }
            }
        }
        None if v.is_null() => Err(err(
            path,
            "no pre-tokenizer: bytepair reads byte-level BPE, which needs a ByteLevel pre-tokenizer",
        )),
        other => Err(err(
            path,
            format!(
                "pre-tokenizer {} is not supported (byte-level BPE needs ByteLevel)",
                ty_name(other)
            ),
        )),
    }
}

/// `Split(pattern, behavior=Isolated, invert=false)`.
fn parse_split(v: &Value, path: &Path) -> Result<Pretokenizer> {
    let behavior = opt_str(v, "behavior", "Split pre-tokenizer", path)?;
    if behavior != Some("Isolated") {
        return Err(err(
            path,
            format!(
                "Split behavior {} is not supported (only Isolated)",
                ty_name(behavior)
            ),
        ));
    }
    if opt_bool(v, "invert", false, "Split pre-tokenizer", path)? {
        return Err(err(path, "Split option \"invert\": true is not supported"));
    }
    let pat = v.get("pattern").unwrap_or(&Value::Null);
    let regex = if let Some(r) = opt_str(pat, "Regex", "Split pattern", path)? {
        check_oniguruma(r).map_err(|m| err(path, format!("Split regex {r:?}: {m}")))?;
        from_hf_pattern(r).to_string()
    } else if let Some(s) = opt_str(pat, "String", "Split pattern", path)? {
        regex::escape(s)
    } else {
        return Err(err(
            path,
            "Split pre-tokenizer without a Regex or String pattern",
        ));
    };
    Pretokenizer::new(&regex).map_err(|e| err(path, e.to_string()))
}

/// Refuse the constructs that HF's regex engine (Oniguruma, Ruby syntax) reads differently from
/// fancy-regex: `{m,n}+` (Oniguruma: the repetition repeated, not possessive), `^` and a `$`
/// after anything but a possessive `++` (Ruby: start / end of any line, not of the text; after
/// `\s++`, which cannot stop before a newline, the two readings agree).
fn check_oniguruma(pat: &str) -> std::result::Result<(), String> {
    let b = pat.as_bytes();
    let mut in_class = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                // `\p{L}`, `\x{..}`: skip the braces, which are not a quantifier
                if matches!(b.get(i + 1), Some(b'p' | b'P' | b'x' | b'u')) && b.get(i + 2) == Some(&b'{') {
                    i += b[i..].iter().position(|&c| c == b'}').unwrap_or(b.len() - i);
                } else {
                    i += 1;
                }
            }
            b'[' => in_class += 1,
            b']' if in_class > 0 => in_class -= 1,
            b'}' if in_class == 0 && b.get(i + 1) == Some(&b'+') => {
                return Err("`{m,n}+` is a nested repetition in Oniguruma (HF) but possessive \
                            in bytepair's regex engine; write it without the `+`"
                    .into())
            }
            b'^' if in_class == 0 => {
                return Err("`^` means start of line in Oniguruma (HF), start of text in bytepair's regex engine".into())
            }
            b'$' if in_class == 0 && !(i >= 2 && &b[i - 2..i] == b"++") => {
                return Err("`$` means end of line in Oniguruma (HF), end of text in bytepair's regex engine (only `...++$` reads the same)".into())
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Merge;

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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn hf_gpt2_regex_splits_like_the_gpt2_preset(
            s in "[ \t\n\r\u{a0}\u{3000}a-zA-Z0-9'.,!\u{e9}\u{301}\u{4e00}\u{660}\u{1f600}sdmtlvre]{0,40}"
        ) {
            let hf = crate::pretok::RegexSplitter::new(GPT2_HF_PATTERN).unwrap();
            let preset = Pretokenizer::Gpt2;
            let mut want = Vec::new();
            hf.split(&s, |p| want.push(p)).unwrap();
            proptest::prop_assert_eq!(preset.pieces(&s).unwrap(), want);
        }
    }

    /// A small tokenizer.json: the 256 bytes, "ab" and "abc", one special token.
    fn doc() -> Value {
        let mut toks: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        toks.push(b"ab".to_vec());
        toks.push(b"abc".to_vec());
        let merges = vec![
            Merge {
                pair: (97, 98),
                result: 256,
            },
            Merge {
                pair: (256, 99),
                result: 257,
            },
        ];
        let v = Vocab::new(toks, merges, vec![("<|eot|>".into(), 258)]).unwrap();
        let t = Tokenizer::new(v, Pretokenizer::Gpt2).unwrap();
        serde_json::from_str(&to_json(&t)).unwrap()
    }

    fn load(d: &Value) -> Result<Tokenizer> {
        from_json(d.to_string().as_bytes(), Path::new("t.json"))
    }

    fn load_err(d: &Value) -> String {
        match load(d) {
            Ok(_) => panic!("loaded"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn supported_features_load() {
        let t = load(&doc()).unwrap();
        assert_eq!(t.pretokenizer().name(), "gpt2");
        assert!(t.normalizer().is_none() && !t.vocab().ignore_merges());
        let mut d = doc();
        d["normalizer"] =
            json!({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "NFKC"}]});
        d["model"]["ignore_merges"] = json!(true);
        d["model"]["byte_fallback"] = json!(true);
        d["pre_tokenizer"] =
            json!({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true});
        d["post_processor"] = json!({"type": "TemplateProcessing", "single": [], "pair": []});
        d["added_tokens"][0]["special"] = json!(false);
        let t = load(&d).unwrap();
        assert_eq!(t.normalizer(), Some(Normalizer::Nfkc));
        assert!(t.vocab().ignore_merges() && t.vocab().is_non_special(258));
        assert_eq!(t.pretokenizer().name(), "gpt2");
        // the round trip keeps all of it
        let back = load(&serde_json::from_str(&to_json(&t)).unwrap()).unwrap();
        assert_eq!(back.normalizer(), Some(Normalizer::Nfkc));
        assert!(back.vocab().ignore_merges() && back.vocab().is_non_special(258));
        d["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": GPT2_HF_PATTERN}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]});
        assert_eq!(load(&d).unwrap().pretokenizer().name(), "gpt2");
    }

    #[test]
    fn hf_trained_layout_specials_first_and_bytes_in_any_order() {
        // HF's BpeTrainer: special tokens at ids 0.., then the alphabet (sorted by char).
        let mut d = doc();
        let mut keys: Vec<String> = (0..=255u8).map(|b| bytes_to_unicode(&[b])).collect();
        keys.sort();
        let mut vocab = Map::new();
        vocab.insert("<|eot|>".into(), json!(0));
        for k in keys {
            vocab.insert(k, json!(vocab.len()));
        }
        vocab.insert("ab".into(), json!(vocab.len()));
        vocab.insert("abc".into(), json!(vocab.len()));
        d["model"]["vocab"] = Value::Object(vocab);
        d["added_tokens"][0]["id"] = json!(0);
        let t = load(&d).unwrap();
        let v = t.vocab();
        assert_eq!(v.special_id("<|eot|>"), Some(0));
        assert_eq!(v.num_tokens(), 259);
        assert_eq!(v.byte_id(b'a'), v.id(b"a"));
        assert_ne!(v.byte_id(b'a'), Some(97));
        let ab = v.id(b"ab").unwrap();
        assert_eq!(
            v.merge_of((v.id(b"a").unwrap(), v.id(b"b").unwrap())),
            Some((0, ab))
        );
        // saved and read again: the same ids
        let back = load(&serde_json::from_str(&to_json(&t)).unwrap()).unwrap();
        assert_eq!(back.vocab().tokens(), v.tokens());
        assert_eq!(back.vocab().special_id("<|eot|>"), Some(0));
    }

    #[test]
    fn unsupported_features_are_named() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("/normalizer", json!({"type": "Lowercase"}), "Lowercase"),
            (
                "/normalizer",
                json!({"type": "Sequence", "normalizers": [{"type": "NFD"}]}),
                "NFD",
            ),
            (
                "/pre_tokenizer",
                json!({"type": "ByteLevel", "add_prefix_space": true}),
                "add_prefix_space",
            ),
            ("/pre_tokenizer", json!({"type": "Metaspace"}), "Metaspace"),
            (
                "/pre_tokenizer",
                json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}+"}, "behavior": "Isolated"},
                {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}),
                "Oniguruma",
            ),
            (
                "/pre_tokenizer",
                json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": "\\s+$"}, "behavior": "Isolated"},
                {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}),
                "end of line",
            ),
            (
                "/pre_tokenizer",
                json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": "x"}, "behavior": "Removed"},
                {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}),
                "Removed",
            ),
            ("/pre_tokenizer", Value::Null, "no pre-tokenizer"),
            (
                "/decoder",
                json!({"type": "Metaspace"}),
                "decoder \"Metaspace\"",
            ),
            ("/truncation", json!({"max_length": 5}), "truncation"),
            ("/model/type", json!("WordPiece"), "WordPiece"),
            ("/model/dropout", json!(0.1), "dropout"),
            (
                "/model/continuing_subword_prefix",
                json!("##"),
                "continuing_subword_prefix",
            ),
            ("/added_tokens/0/lstrip", json!(true), "lstrip"),
            ("/added_tokens/0/single_word", json!(true), "single_word"),
        ];
        for (ptr, val, want) in cases {
            let mut d = doc();
            *d.pointer_mut(ptr).unwrap_or_else(|| panic!("{ptr}")) = val;
            let e = load_err(&d);
            assert!(e.contains(want) && e.starts_with("t.json: "), "{ptr}: {e}");
        }
        let mut d = doc();
        d["normalizer"] = json!({"type": "NFC"});
        d["added_tokens"][0]["normalized"] = json!(true);
        assert!(load_err(&d).contains("normalized"));
    }

    #[test]
    fn malformed_files_are_named() {
        let text = doc().to_string();
        let e = from_json(&text.as_bytes()[..text.len() / 2], Path::new("cut.json")).unwrap_err();
        assert!(e.to_string().starts_with("cut.json: truncated JSON"), "{e}");
        let e = from_json(b"[1]", Path::new("l.json")).unwrap_err();
        assert!(e.to_string().contains("not a list"), "{e}");
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "/model/vocab",
                json!([1, 2]),
                "\"vocab\" must be an object, not a list",
            ),
            ("/model/merges", json!("a b"), "\"merges\" must be a list"),
            (
                "/model/merges/0",
                json!("a q"),
                "merge result \"aq\" is not in the vocab",
            ),
            ("/model/merges/0", json!("a"), "not two tokens"),
            ("/model/merges/0", json!(["a", 5]), "not a pair of strings"),
            ("/model/merges/1", json!("ab zz"), "merge part \"zz\""),
            ("/model/merges/1", json!("a bc"), "merge part \"bc\""),
            ("/model/vocab/ab", json!("x"), "not a non-negative integer"),
            ("/model/vocab/ab", json!(9999), "not contiguous"),
            ("/model/vocab/ab", json!(0), "used twice"),
            ("/model/ignore_merges", json!("yes"), "true or false"),
            ("/added_tokens/0/id", json!("x"), "no integer \"id\""),
            ("/added_tokens/0/id", json!(5), "which the vocab gives to"),
        ];
        for (ptr, val, want) in cases {
            let mut d = doc();
            *d.pointer_mut(ptr).unwrap_or_else(|| panic!("{ptr}")) = val;
            let e = load_err(&d);
            assert!(e.contains(want) && e.starts_with("t.json: "), "{ptr}: {e}");
        }
        let mut d = doc();
        if let Some(m) = d["model"]["vocab"].as_object_mut() {
            m.shift_remove("\u{120}");
        }
        assert!(load_err(&d).contains("not contiguous") || load_err(&d).contains("byte"));
    }
}
