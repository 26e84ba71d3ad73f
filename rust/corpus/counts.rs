//! Pretoken-count files: the distributed input of training.
//!
//! Idea: counting pretokens is the only pass over the whole corpus that training needs, and its
//! result is a multiset, which merges by adding counts (associative and commutative). So shards
//! are counted anywhere ([`CountsFile::count_files`] / [`CountsFile::count_texts`]), saved,
//! merged on one machine ([`CountsFile::merge`]) and trained on
//! ([`crate::train::tokenizer_from_counts`]); the result equals counting everything at once,
//! so training gives the same merges.
//!
//! What counts depend on is in the header: the pretokenizer (canonical: a preset name or the
//! regex), the normalizer (none so far: bytepair's counting does not normalize) and the special
//! tokens cut out before counting (sorted: only the set matters). Only files with equal headers
//! merge.
//!
//! Format, version 1 (all integers little-endian):
//!
//! ```text
//! b"BPCOUNTS"  u32 version  u32 header_len  header (JSON object, UTF-8):
//!     {"pattern": str, "normalizer": null | str, "special_tokens": [str, sorted],
//!      "text_bytes": u64, "distinct": u64, "total": u64}
//! distinct x record: u32 len, len bytes of UTF-8 (the piece), u64 count >= 1
//!     records sorted by piece bytes, strictly increasing
//! b"BPCEND\0\0"
//! ```
//!
//! Sorted records make the file independent of hash order and thread count (the same counts
//! always give the same bytes) and allow a streaming k-way merge later. Readers check every
//! field and the trailer, so a truncated or corrupt file is an error naming what is wrong.
//! Saving is atomic ([`crate::formats::write_atomic`]). Cost: O(distinct log distinct) to sort,
//! one pass to write or read; memory is the distinct pieces, never the corpus.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::count::{self, Chunk, Counter, PretokenCounts, Utf8Errors};
use crate::error::{Error, Result};
use crate::formats::write_atomic;
use crate::pretok::Pretokenizer;
use crate::progress::Progress;

pub const MAGIC: &[u8; 8] = b"BPCOUNTS";
pub const TRAILER: &[u8; 8] = b"BPCEND\0\0";
pub const VERSION: u32 = 1;

/// What the counts depend on; files merge only when their headers are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountsHeader {
    /// A preset name (`gpt2`, `cl100k`, `o200k`, `none`) or the regex.
    pub pattern: String,
    /// HF name of the normalizer applied before counting (always `None` for now).
    pub normalizer: Option<String>,
    /// Special tokens cut out before counting, sorted and distinct.
    pub special_tokens: Vec<String>,
}

impl CountsHeader {
    /// Canonical header for a pattern (preset name or regex) and special tokens.
    pub fn new(pattern: &str, special_tokens: &[String]) -> Result<Self> {
        let p = Pretokenizer::new(pattern)?;
        let pattern = match &p {
            Pretokenizer::Custom(r) => r.pattern().to_string(),
            other => other.name().to_string(),
        };
        let mut specials: Vec<String> = special_tokens.to_vec();
        if specials.iter().any(String::is_empty) {
            return Err(Error::invalid("special tokens must not be empty strings"));
        }
        specials.sort();
        specials.dedup();
        Ok(Self {
            pattern,
            normalizer: None,
            special_tokens: specials,
        })
    }

    pub fn pretokenizer(&self) -> Result<Pretokenizer> {
        Ok(Pretokenizer::new(&self.pattern)?)
    }

    fn describe(&self) -> String {
        format!(
            "pattern {:?}, normalizer {:?}, special tokens {:?}",
            self.pattern, self.normalizer, self.special_tokens
        )
    }
}

/// Pretoken counts together with what they depend on. See the module docs.
#[derive(Debug, Clone)]
pub struct CountsFile {
    pub header: CountsHeader,
    pub counts: PretokenCounts,
}

impl CountsFile {
    /// No counts yet.
    pub fn new(header: CountsHeader) -> Self {
        Self {
            header,
            counts: PretokenCounts::default(),
        }
    }

    fn counter(&self) -> Result<Counter> {
        Counter::new(self.header.pretokenizer()?, &self.header.special_tokens)
    }

    /// Count UTF-8 text files (streamed in safe-cut chunks on `threads` threads, exactly as
    /// training on the files counts them) and add them.
    pub fn count_files(
        &mut self,
        paths: &[PathBuf],
        threads: usize,
        errors: Utf8Errors,
        progress: bool,
    ) -> Result<()> {
        let total = crate::count::total_file_bytes(paths)?;
        let counter = self.counter()?;
        let bar = Progress::bytes(progress, "counting", Some(total));
        let got = count::count_parallel(&counter, threads, errors, paths, &bar, |push| {
            count::feed_files(paths, push)
        });
        bar.finish();
        self.counts.merge(got?);
        Ok(())
    }

    /// Count documents (each a whole text) on `threads` threads and add them.
    pub fn count_texts<S: AsRef<str> + Sync>(&mut self, texts: &[S], threads: usize) -> Result<()> {
        let counter = self.counter()?;
        let per = texts.len().div_ceil(threads.max(1) * 4).max(1);
        let got = count::count_parallel(
            &counter,
            threads,
            Utf8Errors::Strict,
            &[],
            &Progress::hidden(),
            |push| {
                for group in texts.chunks(per) {
                    push(Chunk::Texts(
                        group.iter().map(|s| s.as_ref().to_string()).collect(),
                    ))?;
                }
                Ok(())
            },
        )?;
        self.counts.merge(got);
        Ok(())
    }

    /// Add `other`'s counts. Fails, changing nothing, if the headers differ.
    pub fn merge(&mut self, other: CountsFile) -> Result<()> {
        if self.header != other.header {
            return Err(Error::invalid(format!(
                "cannot merge pretoken counts made differently: {} vs {}",
                self.header.describe(),
                other.header.describe()
            )));
        }
        self.counts.merge(other.counts);
        Ok(())
    }

    /// The pieces and counts, sorted by piece bytes.
    pub fn sorted(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.counts.counts.iter().map(|(k, &c)| (&**k, c)).collect();
        v.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        v
    }

    /// The file's bytes (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let items = self.sorted();
        let header = json!({
            "pattern": self.header.pattern,
            "normalizer": self.header.normalizer,
            "special_tokens": self.header.special_tokens,
            "text_bytes": self.counts.bytes,
            "distinct": items.len() as u64,
            "total": self.counts.total(),
        })
        .to_string();
        let body: usize = items.iter().map(|(k, _)| 12 + k.len()).sum();
        let mut out = Vec::with_capacity(32 + header.len() + body);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        for (k, c) in items {
            out.extend_from_slice(&(k.len() as u32).to_le_bytes());
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(&c.to_le_bytes());
        }
        out.extend_from_slice(TRAILER);
        out
    }

    /// Parse a file's bytes; `origin` names it in errors.
    pub fn from_bytes(data: &[u8], origin: &Path) -> Result<Self> {
        let bad = |msg: String| Error::format(origin, msg);
        let mut r = Reader { data, pos: 0 };
        if r.take(8).ok() != Some(&MAGIC[..]) {
            return Err(bad(
                "not a bytepair pretoken-count file (no BPCOUNTS magic)".into(),
            ));
        }
        let version = r.u32().map_err(|_| bad("truncated header".into()))?;
        if version != VERSION {
            return Err(bad(format!(
                "pretoken-count file version {version}; this bytepair reads version {VERSION} \
                 (a newer bytepair wrote it?)"
            )));
        }
        let hlen = r.u32().map_err(|_| bad("truncated header".into()))? as usize;
        let htext = r.take(hlen).map_err(|_| bad("truncated header".into()))?;
        let h: Value = serde_json::from_slice(htext)
            .map_err(|e| bad(format!("header is not valid JSON: {e}")))?;
        let field = |name: &str| {
            h.get(name)
                .ok_or_else(|| bad(format!("header has no {name:?}")))
        };
        let as_u64 = |name: &str| -> Result<u64> {
            field(name)?
                .as_u64()
                .ok_or_else(|| bad(format!("header {name:?} is not an unsigned integer")))
        };
        let pattern = field("pattern")?
            .as_str()
            .ok_or_else(|| bad("header \"pattern\" is not a string".into()))?
            .to_string();
        let normalizer = match field("normalizer")? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => return Err(bad("header \"normalizer\" is not a string or null".into())),
        };
        let specials: Vec<String> = field("special_tokens")?
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
            .ok_or_else(|| bad("header \"special_tokens\" is not a list of strings".into()))?;
        let (text_bytes, distinct, total) =
            (as_u64("text_bytes")?, as_u64("distinct")?, as_u64("total")?);
        let mut header =
            CountsHeader::new(&pattern, &specials).map_err(|e| bad(format!("header: {e}")))?;
        header.normalizer = normalizer;
        if header.special_tokens != specials {
            return Err(bad(
                "header special tokens are not sorted and distinct".into()
            ));
        }
        let mut counts = PretokenCounts {
            bytes: text_bytes,
            ..Default::default()
        };
        counts.counts.reserve(distinct.min(1 << 24) as usize);
        let mut prev: Option<&[u8]> = None;
        let mut sum = 0u64;
        for i in 0..distinct {
            let trunc = |_| bad(format!("truncated at record {i} of {distinct}"));
            let len = r.u32().map_err(trunc)? as usize;
            let piece = r.take(len).map_err(trunc)?;
            let c = r.u64().map_err(trunc)?;
            if prev.is_some_and(|p| p >= piece) {
                return Err(bad(format!("record {i} is out of order or repeated")));
            }
            if c == 0 {
                return Err(bad(format!("record {i} has count 0")));
            }
            let s = std::str::from_utf8(piece)
                .map_err(|_| bad(format!("record {i} is not valid UTF-8")))?;
            sum = sum
                .checked_add(c)
                .ok_or_else(|| bad("counts overflow 64 bits".into()))?;
            counts.counts.insert(s.into(), c);
            prev = Some(piece);
        }
        if r.take(8).ok() != Some(&TRAILER[..]) {
            return Err(bad(format!(
                "missing end marker after {distinct} records (truncated or corrupt file)"
            )));
        }
        if r.pos != data.len() {
            return Err(bad("unexpected bytes after the end marker".into()));
        }
        if sum != total {
            return Err(bad(format!(
                "header says {total} pretokens, the records sum to {sum}"
            )));
        }
        Ok(Self { header, counts })
    }

    /// Save atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes())
    }

    pub fn load(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&data, path)
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], ()> {
        let end = self.pos.checked_add(n).ok_or(())?;
        let s = self.data.get(self.pos..end).ok_or(())?;
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> std::result::Result<u32, ()> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> std::result::Result<u64, ()> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(texts: &[&str], specials: &[String]) -> CountsFile {
        let mut c = CountsFile::new(CountsHeader::new("o200k", specials).unwrap());
        c.count_texts(texts, 2).unwrap();
        c
    }

    #[test]
    fn shards_merge_to_the_whole_and_round_trip() {
        let docs: Vec<String> = (0..500)
            .map(|i| {
                format!(
                    "doc {i}: the {} cat<|eot|> sat {}\n",
                    i % 7,
                    "x".repeat(i % 5)
                )
            })
            .collect();
        let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        let sp = vec!["<|eot|>".to_string()];
        let whole = counted(&refs, &sp);
        let mut merged = counted(&refs[..100], &sp);
        merged.merge(counted(&refs[300..], &sp)).unwrap();
        merged.merge(counted(&refs[100..300], &sp)).unwrap();
        assert!(merged.counts.counts == whole.counts.counts);
        assert_eq!(merged.counts.bytes, whole.counts.bytes);
        assert_eq!(merged.to_bytes(), whole.to_bytes());
        assert!(!whole.counts.counts.contains_key("<|eot|>"));
        let back = CountsFile::from_bytes(&whole.to_bytes(), Path::new("x")).unwrap();
        assert!(back.counts.counts == whole.counts.counts);
        assert_eq!(back.header, whole.header);
        // Different headers refuse to merge.
        let mut other = counted(&refs[..10], &[]);
        assert!(other.merge(whole.clone()).is_err());
    }

    #[test]
    fn corrupt_files_are_errors() {
        let c = counted(&["hello world, hello"], &[]);
        let good = c.to_bytes();
        let p = Path::new("c.bpc");
        for cut in [0, 5, 12, 20, good.len() - 9, good.len() - 1] {
            let e = CountsFile::from_bytes(&good[..cut], p)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("c.bpc: "), "{e}");
        }
        let mut v2 = good.clone();
        v2[8] = 2;
        assert!(CountsFile::from_bytes(&v2, p)
            .unwrap_err()
            .to_string()
            .contains("version 2"));
        let mut extra = good.clone();
        extra.push(0);
        assert!(CountsFile::from_bytes(&extra, p).is_err());
    }
}
