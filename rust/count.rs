//! Pretoken counting: text -> multiset of pretokens (distinct pieces with u64 counts).
//!
//! Idea: a reader (files, or a Python iterator in the bindings) cuts the input into chunks of
//! about [`CHUNK_BYTES`] at points where the split cannot change, and sends them over a
//! bounded channel to one worker per thread; each worker counts into its own hash map; the
//! maps are merged at the end. Memory: the channel holds at most 2 x threads chunks, so it is
//! bounded by the number of distinct pretokens, never by the corpus size.
//!
//! Safe cut points: right after a lone `\n` between two non-whitespace characters, the second
//! not being `/`. No piece of the preset patterns (gpt2, cl100k, o200k) runs from such a `\n`
//! into the next character (o200k's punctuation rule ` ?[^\s\p{L}\p{N}]+[\r\n/]*` would run
//! on into a `/`, hence the exception), the `\s++$` end anchor takes exactly the lone `\n`, and
//! matching restarts at a piece boundary, so cutting there splits exactly as the whole text
//! would (custom patterns are assumed to share this property; with `none`, files are counted
//! line by line).
//!
//! Special tokens are cut out of the text before pretokenization and never counted. Counts
//! merge associatively ([`PretokenCounts::merge`]), so shards can be counted anywhere.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Mutex;

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::pretok::Pretokenizer;
use crate::progress::Progress;

/// Target size of one chunk of work.
pub const CHUNK_BYTES: usize = 1 << 20;
/// A chunk with no safe cut point grows up to this size before it is cut at a line end.
const MAX_CHUNK_BYTES: usize = 64 << 20;

/// What to do with invalid UTF-8 in files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf8Errors {
    /// Fail with the file name and byte offset.
    Strict,
    /// Replace each invalid sequence by U+FFFD.
    Replace,
}

impl std::str::FromStr for Utf8Errors {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "strict" => Ok(Utf8Errors::Strict),
            "replace" => Ok(Utf8Errors::Replace),
            other => Err(Error::invalid(format!(
                "errors must be \"strict\" or \"replace\", not {other:?}"
            ))),
        }
    }
}

/// A multiset of pretokens.
#[derive(Debug, Clone, Default)]
pub struct PretokenCounts {
    /// Distinct pieces and how often each occurred.
    pub counts: FxHashMap<Box<str>, u64>,
    /// Bytes of text counted (special tokens excluded).
    pub bytes: u64,
}

impl PretokenCounts {
    /// Add every count of `other` (associative and commutative).
    pub fn merge(&mut self, mut other: PretokenCounts) {
        if other.counts.len() > self.counts.len() {
            std::mem::swap(self, &mut other);
        }
        self.bytes += other.bytes;
        for (k, v) in other.counts {
            *self.counts.entry(k).or_insert(0) += v;
        }
    }

    /// Total number of pretokens (with multiplicity).
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    #[inline]
    fn add(&mut self, piece: &str) {
        if let Some(c) = self.counts.get_mut(piece) {
            *c += 1;
        } else {
            self.counts.insert(piece.into(), 1);
        }
    }
}

/// Splits text at special tokens, pretokenizes the rest and counts the pieces.
#[derive(Debug, Clone)]
pub struct Counter {
    pretok: Pretokenizer,
    specials: Option<regex::Regex>,
}

impl Counter {
    pub fn new(pretok: Pretokenizer, special_tokens: &[String]) -> Result<Self> {
        let specials = special_regex(special_tokens)?;
        Ok(Self { pretok, specials })
    }

    pub fn pretokenizer(&self) -> &Pretokenizer {
        &self.pretok
    }

    /// Count the pieces of one document.
    pub fn count_text(&self, text: &str, into: &mut PretokenCounts) -> Result<()> {
        match &self.specials {
            None => self.count_plain(text, into),
            Some(re) => {
                let mut last = 0;
                for m in re.find_iter(text) {
                    self.count_plain(&text[last..m.start()], into)?;
                    last = m.end();
                }
                self.count_plain(&text[last..], into)
            }
        }
    }

    fn count_plain(&self, text: &str, into: &mut PretokenCounts) -> Result<()> {
        into.bytes += text.len() as u64;
        self.pretok.split(text, |p| into.add(p))?;
        Ok(())
    }

    /// Count a chunk of a file: with the `none` pretokenizer, line by line.
    fn count_file_text(&self, text: &str, into: &mut PretokenCounts) -> Result<()> {
        if matches!(self.pretok, Pretokenizer::None) {
            for line in text.split_inclusive('\n') {
                self.count_text(line, into)?;
            }
            Ok(())
        } else {
            self.count_text(text, into)
        }
    }
}

/// A regex matching any of the special tokens (longest first), or `None` if there are none.
pub fn special_regex(special_tokens: &[String]) -> Result<Option<regex::Regex>> {
    if special_tokens.is_empty() {
        return Ok(None);
    }
    let mut sorted: Vec<&String> = special_tokens.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let pat = sorted
        .iter()
        .map(|s| regex::escape(s))
        .collect::<Vec<_>>()
        .join("|");
    regex::Regex::new(&pat)
        .map(Some)
        .map_err(|e| Error::invalid(format!("cannot match special tokens: {e}")))
}

/// A unit of work for the counting workers.
pub enum Chunk {
    /// A whole document (from an iterator).
    Text(String),
    /// Several whole documents (batched to save channel round trips).
    Texts(Vec<String>),
    /// Raw bytes of a file starting at `offset`, cut at a safe point.
    File {
        data: Vec<u8>,
        file: usize,
        offset: u64,
    },
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Text(s) => s.len(),
            Chunk::Texts(v) => v.iter().map(String::len).sum(),
            Chunk::File { data, .. } => data.len(),
        }
    }
}

/// The total size of `paths`, for the progress bar; also the early check that each exists and is
/// a file (a directory is refused with a clear error).
pub fn total_file_bytes(paths: &[PathBuf]) -> Result<u64> {
    let mut total = 0u64;
    for p in paths {
        let md = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
        if md.is_dir() {
            return Err(Error::io(
                p,
                std::io::Error::other("is a directory, not a text file"),
            ));
        }
        total += md.len();
    }
    Ok(total)
}

/// Count in parallel. `feed` produces the chunks by calling its argument (which blocks while
/// the workers are busy and fails once a worker has failed); `files` names the files that
/// `Chunk::File` refers to, for error messages.
pub fn count_parallel<F>(
    counter: &Counter,
    threads: usize,
    errors: Utf8Errors,
    files: &[PathBuf],
    progress: &Progress,
    feed: F,
) -> Result<PretokenCounts>
where
    F: FnOnce(&(dyn Fn(Chunk) -> Result<()> + Sync)) -> Result<()>,
{
    let threads = threads.max(1);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<(usize, u64, Error)>> = Mutex::new(None);
    let record = |key: (usize, u64), e: Error| {
        failed.store(true, Ordering::SeqCst);
        let mut g = first_error.lock().unwrap_or_else(|p| p.into_inner());
        // Keep the error that comes first in the input.
        if g.as_ref().is_none_or(|(f, o, _)| (key.0, key.1) < (*f, *o)) {
            *g = Some((key.0, key.1, e));
        }
    };
    let (tx, rx) = sync_channel::<Chunk>(2 * threads);
    let rx = Mutex::new(rx);
    let results: Vec<PretokenCounts> = std::thread::scope(|sc| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                sc.spawn(|| {
                    let mut local = PretokenCounts::default();
                    loop {
                        let msg = {
                            let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
                            guard.recv()
                        };
                        let Ok(chunk) = msg else { break };
                        if failed.load(Ordering::Relaxed) {
                            continue; // drain
                        }
                        let n = chunk.len() as u64;
                        let res = match &chunk {
                            Chunk::Text(s) => counter
                                .count_text(s, &mut local)
                                .map_err(|e| ((usize::MAX, 0), e)),
                            Chunk::Texts(v) => v
                                .iter()
                                .try_for_each(|s| counter.count_text(s, &mut local))
                                .map_err(|e| ((usize::MAX, 0), e)),
                            Chunk::File { data, file, offset } => {
                                count_file_chunk(counter, data, errors, &mut local).map_err(|e| {
                                    match e {
                                        ChunkError::Utf8(at) => (
                                            (*file, offset + at),
                                            Error::Utf8 {
                                                path: files[*file].clone(),
                                                offset: offset + at,
                                            },
                                        ),
                                        ChunkError::Other(e) => ((*file, *offset), e),
                                    }
                                })
                            }
                        };
                        if let Err((key, e)) = res {
                            record(key, e);
                        }
                        progress.inc(n);
                    }
                    local
                })
            })
            .collect();
        let push = |c: Chunk| -> Result<()> {
            if failed.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            tx.send(c).map_err(|_| Error::Interrupted)
        };
        let fed = feed(&push);
        drop(tx);
        if let Err(e) = fed {
            if !matches!(e, Error::Interrupted) {
                record((usize::MAX, u64::MAX), e);
            }
        }
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    if let Some((_, _, e)) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut total = PretokenCounts::default();
    for r in results {
        total.merge(r);
    }
    Ok(total)
}

enum ChunkError {
    Utf8(u64),
    Other(Error),
}

fn count_file_chunk(
    counter: &Counter,
    data: &[u8],
    errors: Utf8Errors,
    into: &mut PretokenCounts,
) -> std::result::Result<(), ChunkError> {
    match std::str::from_utf8(data) {
        Ok(text) => counter
            .count_file_text(text, into)
            .map_err(ChunkError::Other),
        Err(e) => match errors {
            Utf8Errors::Strict => Err(ChunkError::Utf8(e.valid_up_to() as u64)),
            Utf8Errors::Replace => {
                let text = String::from_utf8_lossy(data);
                counter
                    .count_file_text(&text, into)
                    .map_err(ChunkError::Other)
            }
        },
    }
}

/// The largest `i <= buf.len()` such that `buf[..i]` ends with a lone `\n` between two
/// non-whitespace characters: a point where no preset pretokenizer piece can straddle, and where
/// the `\s++$` end anchor of a chunk takes exactly the piece `\n` that the whole text would give.
pub fn safe_cut(buf: &[u8]) -> Option<usize> {
    let mut end = buf.len();
    while let Some(nl) = memchr::memrchr(b'\n', &buf[..end]) {
        // Not before '/': o200k's ` ?[^\s\p{L}\p{N}]+[\r\n/]*` runs on through "\n/" (".\n//").
        if nl > 0 && char_after(buf, nl + 1).is_some_and(|c| !c.is_whitespace() && c != '/') {
            if let Some(c) = char_before(buf, nl) {
                if !c.is_whitespace() {
                    return Some(nl + 1);
                }
            }
        }
        end = nl;
    }
    None
}

/// The character starting at `buf[i]`, if it is complete and valid.
fn char_after(buf: &[u8], i: usize) -> Option<char> {
    let w = utf8_width(*buf.get(i)?);
    std::str::from_utf8(buf.get(i..i + w)?).ok()?.chars().next()
}

/// The character ending right before `buf[i]`, if it is valid.
fn char_before(buf: &[u8], i: usize) -> Option<char> {
    let lo = i.saturating_sub(4);
    (lo..i).rev().find_map(|s| {
        let b = buf[s];
        if b & 0xC0 == 0x80 {
            return None; // continuation byte: keep looking back
        }
        std::str::from_utf8(&buf[s..i]).ok()?.chars().next()
    })
}

fn utf8_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Read `paths` and feed them as safe-cut chunks. Fails on the first unreadable file.
pub fn feed_files(paths: &[PathBuf], push: &(dyn Fn(Chunk) -> Result<()> + Sync)) -> Result<()> {
    for (i, path) in paths.iter().enumerate() {
        feed_file(i, path, push)?;
    }
    Ok(())
}

fn feed_file(index: usize, path: &Path, push: &(dyn Fn(Chunk) -> Result<()> + Sync)) -> Result<()> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf: Vec<u8> = Vec::with_capacity(2 * CHUNK_BYTES);
    let mut offset = 0u64;
    let mut eof = false;
    let mut target = CHUNK_BYTES;
    loop {
        while !eof && buf.len() < target {
            let old = buf.len();
            buf.resize(old + CHUNK_BYTES, 0);
            let n = read_full(&mut f, &mut buf[old..]).map_err(|e| Error::io(path, e))?;
            buf.truncate(old + n);
            eof = n == 0;
        }
        if buf.is_empty() {
            return Ok(());
        }
        let cut = if eof {
            buf.len()
        } else {
            match safe_cut(&buf) {
                Some(c) => c,
                None if buf.len() < MAX_CHUNK_BYTES => {
                    // No safe point yet: read more before cutting.
                    target = buf.len() + CHUNK_BYTES;
                    continue;
                }
                // Pathological input (64 MiB without a safe point): cut at a line end.
                None => memchr::memrchr(b'\n', &buf).map_or(buf.len(), |p| p + 1),
            }
        };
        target = CHUNK_BYTES;
        let rest = buf.split_off(cut);
        let data = std::mem::replace(&mut buf, rest);
        let len = data.len() as u64;
        push(Chunk::File {
            data,
            file: index,
            offset,
        })?;
        offset += len;
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_cut_points() {
        assert_eq!(safe_cut(b"ab\ncd"), Some(3));
        assert_eq!(safe_cut(b"ab\n cd"), None);
        assert_eq!(safe_cut(b"ab\n\ncd\n  "), None);
        assert_eq!(safe_cut(b"ab\r\ncd"), None);
        assert_eq!(safe_cut(b"ab\ncd\n\nx"), Some(3));
        assert_eq!(safe_cut("x\n\u{3000}y".as_bytes()), None);
        assert_eq!(safe_cut("x\n中".as_bytes()), Some(2));
        assert_eq!(safe_cut("中\nx".as_bytes()), Some(4));
        assert_eq!(safe_cut("\u{3000}\nx".as_bytes()), None);
        assert_eq!(safe_cut(b"x.\n//y"), None);
        assert_eq!(safe_cut(b"x.\n//y\nz"), Some(7));
        assert_eq!(safe_cut(b"abc"), None);
    }

    fn count_whole(pretok: &str, text: &str) -> FxHashMap<Box<str>, u64> {
        let c = Counter::new(Pretokenizer::new(pretok).unwrap(), &[]).unwrap();
        let mut pc = PretokenCounts::default();
        c.count_text(text, &mut pc).unwrap();
        pc.counts
    }

    #[test]
    fn chunked_file_counts_equal_whole_text() {
        // Many lines with leading whitespace, blank lines and \r\n, larger than one chunk.
        let mut text = String::new();
        for i in 0..60_000 {
            text.push_str(&format!("line {i}: it's  {}\r\n", "x".repeat(i % 7)));
            if i % 5 == 0 {
                text.push_str("   indented\n\n");
            }
            if i % 11 == 0 {
                text.push_str("中文 text\n");
            }
            if i % 13 == 0 {
                text.push_str("x = 1;\n// comment.\n/* c */\n");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.txt");
        std::fs::write(&path, &text).unwrap();
        for pat in ["gpt2", "cl100k", "o200k"] {
            let counter = Counter::new(Pretokenizer::new(pat).unwrap(), &[]).unwrap();
            let files = vec![path.clone()];
            let got = count_parallel(
                &counter,
                3,
                Utf8Errors::Strict,
                &files,
                &Progress::hidden(),
                |push| feed_files(&files, push),
            )
            .unwrap();
            let whole = count_whole(pat, &text);
            assert_eq!(got.counts.len(), whole.len(), "{pat}");
            assert!(got.counts == whole, "{pat}: counts differ");
            assert_eq!(got.bytes, text.len() as u64);
        }
    }

    /// Every file of the shared corpus (when present), counted in chunks, equals the whole text.
    #[test]
    fn shared_corpus_chunked_counts_equal_whole_text() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        let Ok(dirs) = std::fs::read_dir(&root) else {
            eprintln!("skipped: shared corpus not found at {}", root.display());
            return;
        };
        let mut files: Vec<PathBuf> = Vec::new();
        for d in dirs.flatten() {
            let p = d.path();
            if p.is_dir() {
                files.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
            } else {
                files.push(p);
            }
        }
        files.retain(|p| p.extension().is_some_and(|e| e == "txt"));
        files.sort();
        assert!(!files.is_empty());
        for pat in ["gpt2", "cl100k", "o200k"] {
            let counter = Counter::new(Pretokenizer::new(pat).unwrap(), &[]).unwrap();
            for f in &files {
                let one = vec![f.clone()];
                let got = count_parallel(
                    &counter,
                    2,
                    Utf8Errors::Strict,
                    &one,
                    &Progress::hidden(),
                    |push| feed_files(&one, push),
                )
                .unwrap();
                let text = std::fs::read_to_string(f).unwrap();
                assert!(
                    got.counts == count_whole(pat, &text),
                    "{pat} {}",
                    f.display()
                );
            }
        }
    }

    #[test]
    fn invalid_utf8_names_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.txt");
        let mut data = b"hello world\n".repeat(200_000);
        let at = data.len() - 5;
        data[at] = 0xFF;
        std::fs::write(&path, &data).unwrap();
        let counter = Counter::new(Pretokenizer::new("o200k").unwrap(), &[]).unwrap();
        let files = vec![path.clone()];
        let err = count_parallel(
            &counter,
            2,
            Utf8Errors::Strict,
            &files,
            &Progress::hidden(),
            |push| feed_files(&files, push),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Utf8 { offset, .. } if offset == at as u64),
            "{err}"
        );
        let ok = count_parallel(
            &counter,
            2,
            Utf8Errors::Replace,
            &files,
            &Progress::hidden(),
            |push| feed_files(&files, push),
        )
        .unwrap();
        let replaced: u64 = ok
            .counts
            .iter()
            .filter(|(k, _)| k.contains('\u{FFFD}'))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(replaced, 1);
    }

    #[test]
    fn specials_are_not_counted() {
        let c = Counter::new(
            Pretokenizer::new("gpt2").unwrap(),
            &["<|endoftext|>".to_string()],
        )
        .unwrap();
        let mut pc = PretokenCounts::default();
        c.count_text("a b<|endoftext|>c", &mut pc).unwrap();
        let mut keys: Vec<_> = pc.counts.keys().map(|k| k.to_string()).collect();
        keys.sort();
        assert_eq!(keys, ["a", " b", "c"].map(String::from).to_vec().tap_sort());
        assert_eq!(pc.bytes, 4);
    }

    trait TapSort {
        fn tap_sort(self) -> Self;
    }
    impl TapSort for Vec<String> {
        fn tap_sort(mut self) -> Self {
            self.sort();
            self
        }
    }
}
