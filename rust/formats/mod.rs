//! File formats: HF `tokenizer.json` ([`hf`]), tiktoken rank files ([`tiktoken`]), GPT-2's
//! `vocab.json` + `merges.txt` ([`gpt2`], sharing [`bytelevel`] with `hf`), [`load`] which tells
//! them apart by content, and the atomic write every saver goes through.

pub mod bytelevel;
pub mod gpt2;
pub mod hf;
pub mod tiktoken;

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::TokenId;
use crate::error::{Error, Result};
use crate::pretok::Pretokenizer;
use crate::tokenizer::Tokenizer;

/// Which special tokens a loaded tokenizer gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SpecialTokens {
    /// What the file says: `tokenizer.json`'s added tokens; none for rank files and `vocab.json`.
    #[default]
    FromFile,
    /// The known ones: tiktoken's for the encoding named by the pattern (gpt2/r50k_base,
    /// p50k_base, cl100k_base, o200k_base); `<|endoftext|>` for a `vocab.json` that holds it.
    Default,
    /// These `(text, id)`; an id of `None` is looked up in `vocab.json`.
    Given(Vec<(String, Option<TokenId>)>),
}

/// What [`load`] needs beyond the path.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions<'a> {
    /// Pretokenizer preset or regex: required for rank files, default `gpt2` for `vocab.json`,
    /// refused for `tokenizer.json` (which names its own).
    pub pattern: Option<&'a str>,
    pub specials: SpecialTokens,
    /// `merges.txt` for a `vocab.json` (default: `merges.txt` beside it).
    pub merges: Option<&'a Path>,
}

/// The kind of a tokenizer file, told by its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// HF `tokenizer.json`: a JSON object with a `model`.
    HfJson,
    /// GPT-2 `vocab.json`: any other JSON object.
    VocabJson,
    /// GPT-2 `merges.txt`: `#version` first line, or `left right` lines.
    Merges,
    /// tiktoken rank file: `base64 rank` lines.
    Tiktoken,
}

/// Tell the kind of a tokenizer file from its first bytes (a JSON object by its first value:
/// cheap, and a wrong guess only changes which parser reports the error).
pub fn sniff(data: &[u8]) -> Kind {
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    let data = &data[start..];
    if data.first() == Some(&b'{') {
        // vocab.json maps tokens to numbers; a tokenizer.json's keys hold objects, strings,
        // lists or null. So look at the first value (not for a "model" key: GPT-2's vocab has
        // the token `model`, and a truncated tokenizer.json may lack it).
        return match first_json_value(data) {
            Some(b) if b.is_ascii_digit() || b == b'-' => Kind::VocabJson,
            _ => Kind::HfJson,
        };
    }
    let first = data.split(|&b| b == b'\n').next().unwrap_or_default();
    if first.starts_with(b"#version") {
        return Kind::Merges;
    }
    let mut fields = first.trim_ascii().split(|&b| b == b' ');
    match (fields.next(), fields.next()) {
        (Some(_), Some(r)) if !r.is_empty() && !r.iter().all(u8::is_ascii_digit) => Kind::Merges,
        _ => Kind::Tiktoken,
    }
}

/// The first byte of the first value of the JSON object that `data` starts with.
fn first_json_value(data: &[u8]) -> Option<u8> {
    let open = data.iter().position(|&b| b == b'"')?;
    let mut i = open + 1;
    while i < data.len() && data[i] != b'"' {
        i += if data[i] == b'\\' { 2 } else { 1 };
    }
    let rest = data.get(i..)?;
    let colon = i + rest.iter().position(|&b| b == b':')?;
    data.get(colon + 1..)?
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Load a tokenizer from `path`: an HF `tokenizer.json`, a tiktoken rank file, GPT-2's
/// `vocab.json` or `merges.txt` (the other file is found beside it), or a folder holding
/// `tokenizer.json` or `vocab.json` + `merges.txt`. The kind is told by content ([`sniff`]), not
/// by name. Errors name the file and what is wrong, or the option that is missing.
pub fn load(path: &Path, opts: &LoadOptions<'_>) -> Result<Tokenizer> {
    if path.is_dir() {
        let json = path.join("tokenizer.json");
        if json.is_file() {
            return load(&json, opts);
        }
        let (v, m) = (path.join("vocab.json"), path.join("merges.txt"));
        if v.is_file() && m.is_file() {
            return load_vocab_merges(&v, opts.merges.unwrap_or(&m), opts);
        }
        return Err(Error::format(
            path,
            "this folder holds neither tokenizer.json nor vocab.json + merges.txt",
        ));
    }
    if let Some(merges) = opts.merges {
        return load_vocab_merges(path, merges, opts);
    }
    let data = read(path)?;
    match sniff(&data) {
        Kind::HfJson => {
            if let Some(p) = opts.pattern {
                return Err(Error::format(
                    path,
                    format!(
                        "a tokenizer.json names its own pre-tokenizer; do not pass pattern={p:?}"
                    ),
                ));
            }
            if opts.specials != SpecialTokens::FromFile {
                return Err(Error::format(
                    path,
                    "a tokenizer.json lists its own added tokens; do not pass special_tokens",
                ));
            }
            hf::from_json(&data, path)
        }
        Kind::VocabJson => {
            let sibling = path.with_file_name("merges.txt");
            let merges = opts.merges.unwrap_or(&sibling);
            if !merges.is_file() {
                return Err(Error::format(
                    path,
                    format!(
                        "a GPT-2 vocab.json needs its merges.txt ({} not found; pass it with from_files(vocab, merges))",
                        merges.display()
                    ),
                ));
            }
            load_vocab_merges(path, merges, opts)
        }
        Kind::Merges => {
            let vocab = path.with_file_name("vocab.json");
            if !vocab.is_file() {
                return Err(Error::format(
                    path,
                    format!(
                        "a merges.txt needs its vocab.json ({} not found)",
                        vocab.display()
                    ),
                ));
            }
            load_vocab_merges(&vocab, path, opts)
        }
        Kind::Tiktoken => {
            let Some(pattern) = opts.pattern else {
                return Err(Error::format(
                    path,
                    "a tiktoken rank file does not say how to split text: pass pattern= a preset (\"gpt2\"/\"r50k_base\", \"cl100k_base\", \"o200k_base\") or a regex",
                ));
            };
            let specials = match &opts.specials {
                SpecialTokens::FromFile => Vec::new(),
                SpecialTokens::Default => tiktoken::default_specials(pattern).ok_or_else(|| {
                    Error::invalid(format!(
                        "special_tokens=\"default\" needs pattern= an OpenAI encoding name (gpt2, r50k_base, p50k_base, cl100k_base, o200k_base), not {pattern:?}"
                    ))
                })?,
                SpecialTokens::Given(list) => list
                    .iter()
                    .map(|(s, id)| {
                        id.map(|id| (s.clone(), id)).ok_or_else(|| {
                            Error::invalid(format!(
                                "special token {s:?} needs an id for a tiktoken file (pass a dict)"
                            ))
                        })
                    })
                    .collect::<Result<_>>()?,
            };
            let pretok = Pretokenizer::new(pattern)?;
            let vocab = tiktoken::from_rank_file(&data, path, specials)?;
            Tokenizer::new(vocab, pretok)?.with_merge_rule(crate::encode::MergeRule::Ranks)
        }
    }
}

/// GPT-2's `vocab.json` + `merges.txt` (pattern default `gpt2`, as GPT-2's ByteLevel regex).
pub fn load_vocab_merges(vocab: &Path, merges: &Path, opts: &LoadOptions<'_>) -> Result<Tokenizer> {
    let vmap = gpt2::parse_vocab_json(&read(vocab)?, vocab)?;
    let mdata = read(merges)?;
    let specials: Vec<(String, Option<TokenId>)> = match &opts.specials {
        SpecialTokens::FromFile => Vec::new(),
        SpecialTokens::Default => vmap
            .contains_key(gpt2::GPT2_EOT)
            .then(|| (gpt2::GPT2_EOT.to_string(), None))
            .into_iter()
            .collect(),
        SpecialTokens::Given(list) => list.clone(),
    };
    let v = gpt2::from_vocab_merges(&vmap, vocab, &mdata, merges, &specials)?;
    Tokenizer::new(v, Pretokenizer::new(opts.pattern.unwrap_or("gpt2"))?)
}

/// Write `data` to `path` atomically: write a temporary file in the same folder, flush it to
/// disk, then rename it over `path`. A crash or error never leaves a partial `path`; on error
/// the temporary file is removed and an existing `path` is unchanged.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("output folder {} does not exist", parent.display()),
            ),
        ));
    }
    if path.is_dir() {
        return Err(Error::io(path, std::io::Error::other("is a directory")));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = parent.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_kind() {
        assert_eq!(
            sniff(b"\xef\xbb\xbf {\"version\": \"1.0\", \"model\": {}}"),
            Kind::HfJson
        );
        assert_eq!(sniff(b"{\"a\": 0}"), Kind::VocabJson);
        assert_eq!(sniff(b"{\"\\\"\": 0, \"b\": 1}"), Kind::VocabJson);
        assert_eq!(sniff(b"{\"version\": \"1.0\", \"trunc"), Kind::HfJson);
        assert_eq!(sniff(b"{}"), Kind::HfJson);
        assert_eq!(sniff(b"#version: 0.2\n\xc4\xa0 t\n"), Kind::Merges);
        assert_eq!(sniff(b"a b\n"), Kind::Merges);
        assert_eq!(sniff(b"IQ== 0\nIg== 1\n"), Kind::Tiktoken);
        assert_eq!(sniff(b""), Kind::Tiktoken);
    }

    #[test]
    fn load_names_missing_options_and_files() {
        let d = tempfile::tempdir().unwrap();
        let tk = d.path().join("x.tiktoken");
        std::fs::write(&tk, "IQ== 0\n").unwrap();
        let e = load(&tk, &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("x.tiktoken") && e.contains("pattern"), "{e}");
        let opts = LoadOptions {
            pattern: Some("my_regex_(x"),
            specials: SpecialTokens::Default,
            merges: None,
        };
        assert!(load(&tk, &opts)
            .unwrap_err()
            .to_string()
            .contains("default"));
        let v = d.path().join("vocab.json");
        std::fs::write(&v, "{\"a\": 0}").unwrap();
        assert!(load(&v, &LoadOptions::default())
            .unwrap_err()
            .to_string()
            .contains("merges.txt"));
        assert!(load(d.path(), &LoadOptions::default())
            .unwrap_err()
            .to_string()
            .contains("neither"));
    }

    #[test]
    fn atomic_write_errors_leave_nothing() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope").join("x.json");
        assert!(write_atomic(&missing, b"x").is_err());
        let target = d.path().join("t.json");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        assert!(write_atomic(d.path(), b"x").is_err());
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary files left behind");
    }
}
