//! The parts HF `tokenizer.json` and GPT-2's `vocab.json` + `merges.txt` share: a `{token: id}`
//! map whose keys spell bytes in GPT-2's byte -> unicode alphabet, and a merge list of
//! `"left right"` pairs of such keys.
//!
//! Idea: merges are resolved by their key strings, as HF does (`left`, `right` and `left ++
//! right` must all be keys), so no byte decoding happens per merge; [`Vocab::new`] then checks
//! that each merge's bytes concatenate. Cost: O(vocab + merges) hash lookups.

use std::path::Path;

use serde_json::{Map, Value};

use crate::engine::TokenId;
use crate::error::{Error, Result};
use crate::vocab::{unicode_to_bytes, Merge};

/// The regular tokens of a byte-level `{key: id}` map, indexed by id.
///
/// `verbatim` lists `(id, text)` of entries that are not byte-level but literal text (HF
/// trainers write their special tokens into the model vocab as plain strings): such an entry's
/// key must equal its text, and its bytes are the text's UTF-8. Every id in `0..map.len()` must be
/// used exactly once; `what` names the map in errors (`"vocab"`, `"vocab.json"`).
pub fn tokens_from_map(
    map: &Map<String, Value>,
    verbatim: &[(TokenId, &str)],
    path: &Path,
    what: &str,
) -> Result<Vec<Vec<u8>>> {
    let n = map.len();
    let mut tokens: Vec<Option<Vec<u8>>> = vec![None; n];
    for (key, id) in map {
        let id = id.as_u64().ok_or_else(|| {
            Error::format(
                path,
                format!("{what} entry {key:?} has id {id}, not a non-negative integer"),
            )
        })?;
        let lit = verbatim.iter().find(|(i, _)| u64::from(*i) == id);
        let bytes = match lit {
            Some((_, text)) if text == key => key.as_bytes().to_vec(),
            Some((_, text)) => {
                return Err(Error::format(
                    path,
                    format!("added token {text:?} has id {id}, which the {what} gives to {key:?}"),
                ))
            }
            None => unicode_to_bytes(key).ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "{what} entry {key:?} (id {id}) is not byte-level: it uses characters \
                         outside GPT-2's byte alphabet (list it as a special token if it is one)"
                    ),
                )
            })?,
        };
        if bytes.is_empty() {
            return Err(Error::format(
                path,
                format!("{what} entry {key:?} is empty"),
            ));
        }
        let slot = usize::try_from(id)
            .ok()
            .and_then(|i| tokens.get_mut(i))
            .ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "{what} ids are not contiguous: {key:?} has id {id}, but there are only \
                         {n} entries (bytepair needs ids 0..{n})"
                    ),
                )
            })?;
        if slot.replace(bytes).is_some() {
            return Err(Error::format(path, format!("{what} id {id} is used twice")));
        }
    }
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            t.ok_or_else(|| {
                Error::format(
                    path,
                    format!("{what} ids are not contiguous: id {i} is missing"),
                )
            })
        })
        .collect()
}

/// Check that every single byte has a token (else the vocabulary cannot encode all text).
pub fn check_all_bytes(tokens: &[Vec<u8>], path: &Path) -> Result<()> {
    let mut seen = [false; 256];
    for t in tokens {
        if let [b] = t.as_slice() {
            seen[*b as usize] = true;
        }
    }
    match seen.iter().position(|s| !s) {
        Some(b) => Err(Error::format(
            path,
            format!(
                "byte {b:#04x} ({:?}) has no token: not a complete byte-level vocabulary",
                crate::vocab::bytes_to_unicode(&[b as u8])
            ),
        )),
        None => Ok(()),
    }
}

/// Resolve merge number `rank` (`left`, `right` keys of `map`) to ids; `where_` says where the
/// merge is written (e.g. `"merge 12"`, `"line 13"`).
pub fn resolve_merge(
    map: &Map<String, Value>,
    left: &str,
    right: &str,
    where_: &str,
    path: &Path,
) -> Result<Merge> {
    let id_of = |key: &str, role: &str| -> Result<TokenId> {
        map.get(key)
            .and_then(Value::as_u64)
            .and_then(|id| TokenId::try_from(id).ok())
            .ok_or_else(|| {
                Error::format(
                    path,
                    format!("{where_}: {role} {key:?} is not in the vocab"),
                )
            })
    };
    let a = id_of(left, "merge part")?;
    let b = id_of(right, "merge part")?;
    let joined = format!("{left}{right}");
    let c = id_of(&joined, "merge result")?;
    Ok(Merge {
        pair: (a, b),
        result: c,
    })
}

/// Split a merge written as one string: exactly two parts separated by one space (HF's rule).
pub fn split_merge_line<'a>(
    line: &'a str,
    where_: &str,
    path: &Path,
) -> Result<(&'a str, &'a str)> {
    let mut it = line.split(' ');
    match (it.next(), it.next(), it.next()) {
        (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => Ok((a, b)),
        _ => Err(Error::format(
            path,
            format!("{where_}: {line:?} is not two tokens separated by one space"),
        )),
    }
}
