//! Test harness of the preset scanners (compiled for tests only): the fancy-regex reference, the
//! comparisons, the proptest strategies, the corpus walk and an `#[ignore]`d throughput benchmark.
//!
//! Every check compares full piece sequences of a scanner with `RegexSplitter` (fancy-regex
//! `find_iter`) on the exact preset pattern, and reports the first differing piece with its byte
//! offset. Corpus: `../shared/corpus` relative to the crate root (skipped, with a message, when
//! absent). Debug builds check a sample of the code points, the first 256 KB of each corpus file
//! and 1000 instead of 5000 cases per property, so that a plain `cargo test` stays quick;
//! `cargo test --release` checks everything.
//!
//! Benchmark: `cargo test --release pretok::testutil::bench -- --ignored --nocapture`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use proptest::prelude::*;

use super::{RegexSplitter, CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Preset {
    Gpt2,
    Cl100k,
    O200k,
}

pub(crate) const ALL: [Preset; 3] = [Preset::Gpt2, Preset::Cl100k, Preset::O200k];

impl Preset {
    fn pattern(self) -> &'static str {
        match self {
            Preset::Gpt2 => GPT2_PATTERN,
            Preset::Cl100k => CL100K_PATTERN,
            Preset::O200k => O200K_PATTERN,
        }
    }

    /// The fancy-regex reference (built once per preset; `fancy_regex::Regex` is `Sync`).
    fn reference(self) -> &'static RegexSplitter {
        static REFS: [OnceLock<RegexSplitter>; 3] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        REFS[self as usize]
            .get_or_init(|| RegexSplitter::new(self.pattern()).expect("preset patterns compile"))
    }

    pub(crate) fn fast_split<'a>(self, text: &'a str, f: impl FnMut(&'a str)) {
        match self {
            Preset::Gpt2 => super::gpt2::split(text, f),
            Preset::Cl100k => super::cl100k::split(text, f),
            Preset::O200k => super::o200k::split(text, f),
        }
    }

    /// The scanner's pieces, from the build of its loop this CPU runs and from the baseline
    /// build (`with_best_features`), which must agree.
    pub(crate) fn fast(self, text: &str) -> Vec<&str> {
        let mut v = Vec::new();
        self.fast_split(text, |p| v.push(p));
        let mut base = Vec::new();
        super::scan::FORCE_BASELINE.with(|f| f.set(true));
        self.fast_split(text, |p| base.push(p));
        super::scan::FORCE_BASELINE.with(|f| f.set(false));
        assert_eq!(
            v, base,
            "the baseline build of the {self:?} scanner differs on {text:?}"
        );
        v
    }

    pub(crate) fn slow(self, text: &str) -> Vec<&str> {
        let mut v = Vec::new();
        self.reference()
            .split(text, |p| v.push(p))
            .expect("reference regex runs");
        v
    }
}

/// `Ok` if the scanner and the regex give the same pieces, else a description of the first
/// difference.
pub(crate) fn compare(p: Preset, text: &str) -> Result<(), String> {
    compare_pieces(&format!("{p:?}"), text, &p.fast(text), &p.slow(text))
}

/// `Ok` if the scanner's pieces `fast` equal the regex's `slow`, else a message naming the
/// first differing piece (with its byte offset) and its neighbours on both sides.
pub(crate) fn compare_pieces(
    label: &str,
    text: &str,
    fast: &[&str],
    slow: &[&str],
) -> Result<(), String> {
    if fast == slow {
        return Ok(());
    }
    let i = fast
        .iter()
        .zip(slow)
        .position(|(a, b)| a != b)
        .unwrap_or(fast.len().min(slow.len()));
    let offset: usize = slow[..i].iter().map(|s| s.len()).sum();
    let lo = i.saturating_sub(3);
    Err(format!(
        "{label}: first difference at piece {i} (byte {offset}) of {} bytes\n  scanner: {:?}\n  regex:   {:?}",
        text.len(),
        &fast[lo..(i + 3).min(fast.len())],
        &slow[lo..(i + 3).min(slow.len())],
    ))
}

#[track_caller]
pub(crate) fn assert_same(p: Preset, text: &str) {
    if let Err(e) = compare(p, text) {
        if text.len() <= 200 {
            panic!("{e}\n  input: {text:?}");
        }
        panic!("{e}");
    }
}

pub(crate) fn prop_same(p: Preset, text: &str) -> Result<(), TestCaseError> {
    compare(p, text).map_err(TestCaseError::fail)
}

/// Both the regex and the scanner give `expected` (so the reference itself is pinned down too).
#[track_caller]
pub(crate) fn check_known(p: Preset, text: &str, expected: &[&str]) {
    assert_eq!(p.slow(text), expected, "regex on {text:?}");
    assert_eq!(p.fast(text), expected, "scanner on {text:?}");
}

/// Small pieces that exercise every branch of the three patterns.
const ATOMS: &[&str] = &[
    " ", "  ", "\t", "\n", "\r", "\r\n", "\u{b}", "\u{a0}", "\u{3000}", "\u{2028}", "\u{85}",
    "\u{1680}", "'", "'s", "'S", "'t", "'T", "'ll", "'Ll", "'LL", "'ve", "'VE", "'re", "'rE", "'m",
    "'M", "'d", "'D", "'ſ", "'x", "s", "l", "e", "a", "z", "A", "Z", "ǅ", "ʰ", "中", "ß", "é",
    "\u{301}", "\u{20dd}", "1", "٣", "²", "½", "Ⅻ", "!", "/", ".", "-", "😀", "\u{200d}", "\u{0}",
    "\u{1f}", "\u{7f}", "K",
];

/// Hand-picked inputs, then every concatenation of two and of three atoms.
pub(crate) fn check_edge_cases(p: Preset) {
    let hand = [
        "",
        " ",
        "   ",
        "\n",
        "\r\n",
        "\r\n\r\n",
        " \r\n ",
        "a \r\n \r\n  b",
        "x\n\n\n",
        "x   ",
        "x   \n",
        "x \t\u{a0}y",
        "\u{3000}\u{3000}中文",
        "a\u{2028}\u{2028}b",
        "don't I'LL we'Re you'VE he'd she'S it'ſ",
        "''s ''' 's 'S '",
        "HELLOworld HeLLo CamelCase ǅemal ʰa aʰ Aʰ ʰA",
        "中文ABC abc中文 ABC中文def",
        "e\u{301}\u{301} \u{301}\u{301}a !\u{301} \u{301}",
        "\u{301}'s A\u{301}'S a\u{301}'t",
        "12345678 ٣٣٣٣ ²³¹ 1٣²x",
        "a/b//c !/\n/ !!\r\n\r\n//x",
        "😀😀 👍🏽 a😀b \u{200d}",
        "   \t\t  x\t\ty",
        "\u{85}\u{85}a",
        "tab\tand\u{b}vertical\u{c}feed",
        // Shrunk failures of deliberately broken scanners (the tests must catch these).
        "\u{b3c}'s",
        ":\n/",
        "'\r/",
        "\t'ſs",
    ];
    // The fast paths only run with 16 bytes left: each input again with a tail of ASCII words.
    const FILL: &str = " fill the 16-byte block, 12 'S";
    for t in hand {
        assert_same(p, t);
        assert_same(p, &format!("{t}{FILL}"));
    }
    let long = [
        " ".repeat(1000) + "x",
        " ".repeat(1000),
        "\r\n".repeat(300) + "  x" + &" \n".repeat(300),
        "\u{3000}".repeat(500) + "中",
        "A".repeat(500) + "a" + &"A".repeat(500),
        "中".repeat(500) + "ABC" + &"\u{301}".repeat(300),
        "1".repeat(1000),
        "'s".repeat(300),
        "!".repeat(1000) + "\n/\r/",
    ];
    for t in &long {
        assert_same(p, t);
    }
    let mut buf = String::new();
    for a in ATOMS {
        for b in ATOMS {
            buf.clear();
            buf.push_str(a);
            buf.push_str(b);
            assert_same(p, &buf);
            buf.push_str(FILL);
            assert_same(p, &buf);
            for c in ATOMS {
                buf.truncate(a.len() + b.len());
                buf.push_str(c);
                assert_same(p, &buf);
            }
        }
    }
}

/// Characters and short sequences whose position relative to a 16-byte block matters to the
/// fast paths: non-ASCII letters, marks, numbers and spaces that continue or stop an ASCII run,
/// contractions (`'ſ` is non-ASCII), apostrophes, newlines, slashes.
const EDGE_ATOMS: &[&str] = &[
    "a", "A", "1", " ", "\t", "\n", "\r\n", "!", "/", "'", "'s", "'S", "'ll", "'LL", "'ve", "'ſ",
    "'x", "é", "É", "ǅ", "ʰ", "中", "\u{301}", "٣", "²", "\u{a0}", "\u{85}", "\u{3000}", "😀", "ſ",
    "\u{7f}",
];

/// Runs of one ASCII character of every length from 0 to 18 (so that whatever follows lands on
/// every offset of a 16-byte block, and runs reach, fill and overflow a block), after a few
/// leads, followed by each of [`EDGE_ATOMS`], then either the end of the text or more text.
pub(crate) fn check_block_edges(p: Preset) {
    let mut text = String::new();
    for lead in ["", " ", "!", "\n", "a", "A", "1", "\t", "'", "é"] {
        for run in ["a", "A", "1", " ", "!", "\n", "/", "\r\n"] {
            for n in 0..=18 {
                for atom in EDGE_ATOMS {
                    for tail in ["", "a", " tail, 12 'S\n  and more text."] {
                        text.clear();
                        text.push_str(lead);
                        for _ in 0..n {
                            text.push_str(run);
                        }
                        text.push_str(atom);
                        text.push_str(tail);
                        assert_same(p, &text);
                    }
                }
            }
        }
    }
}

/// Every code point (a sample in debug builds) after and before characters of each class, and
/// every 31st one in a longer mix of contexts.
pub(crate) fn check_every_code_point(p: Preset) {
    let step = if cfg!(debug_assertions) { 61 } else { 1 };
    let chars: Vec<char> = (0..=0x10_FFFFu32)
        .step_by(step)
        .filter_map(char::from_u32)
        .collect();
    let mut text = String::new();
    for chunk in chars.chunks(4096) {
        text.clear();
        for (n, &x) in chunk.iter().enumerate() {
            // Joins with the neighbour or not depending on its class: whitespace (` x`), letter
            // case (`ax`, `Ax`), number (`1x`), punctuation/mark (`!x`), contraction (`'x`).
            text.push_str(&format!(" {x}a{x}A{x}1{x}!{x}'{x}{x}\n"));
            if n % 31 == 0 {
                text.push_str(&format!(
                    "{x}{x} a{x}A{x}'s{x}\u{301}{x}1{x}!{x} {x}\n{x}中{x}ǅ{x}ʰ{x}\u{301}{x}'S\t{x}a\u{a0}{x}  "
                ));
            }
        }
        assert_same(p, &text);
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// `en.txt`, `code/*.txt`, `langs/*.txt` of the shared corpus (empty if absent).
pub(crate) fn corpus_files() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let mut files = vec![dir.join("en.txt")];
    for sub in ["code", "langs"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            let mut v: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "txt"))
                .collect();
            v.sort();
            files.extend(v);
        }
    }
    files.retain(|f| f.is_file());
    files
}

/// The first `max` bytes of `s`, cut back to a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub(crate) fn check_corpus(p: Preset) {
    let files = corpus_files();
    if files.is_empty() {
        eprintln!(
            "skipping the corpus check: no corpus at {}",
            corpus_dir().display()
        );
        return;
    }
    let limit = if cfg!(debug_assertions) {
        256 << 10
    } else {
        usize::MAX
    };
    if cfg!(debug_assertions) {
        eprintln!("debug build: checking only the first 256 KB of each corpus file");
    }
    for f in files {
        let text = std::fs::read_to_string(&f).expect("corpus files are UTF-8");
        let text = prefix(&text, limit);
        if let Err(e) = compare(p, text) {
            panic!("{}: {e}", f.display());
        }
    }
}

pub(crate) fn proptest_config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(debug_assertions) { 1000 } else { 5000 },
        // Failures print the shrunk input; add it to `check_edge_cases` rather than have proptest
        // write regression files outside this folder.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings biased toward the characters the patterns treat specially.
pub(crate) fn tricky_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        8 => proptest::sample::select(ATOMS).prop_map(str::to_string),
        2 => any::<char>().prop_map(String::from),
        2 => "[a-zA-Z]{1,6}",
        1 => "[ \t\r\n]{1,5}",
        1 => "[0-9]{1,5}",
    ];
    proptest::collection::vec(atom, 0..40).prop_map(|v| v.concat())
}

/// Mostly "plain" ASCII (letters, spaces, newlines, punctuation: what the o200k block path
/// decides at once), with the bytes that end its blocks (digits, apostrophes, tabs, non-ASCII)
/// here and there, long enough to fill several 32-byte blocks.
pub(crate) fn plain_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        6 => "[a-zA-Z]{1,9}",
        4 => proptest::sample::select(&[" ", "  ", "   ", "\n", "\n ", "\n\n", "\r\n", " \n"][..])
            .prop_map(str::to_string),
        3 => "[.,;:!?()\\[\\]\"/_*&%$#@~`^{}|<>=+-]{1,3}",
        1 => proptest::sample::select(&["'s", "'", "1", "42", "\t", "\u{e9}", "\u{a0}", "/\n", "\x7f", "\x1c"][..])
            .prop_map(str::to_string),
    ];
    proptest::collection::vec(atom, 0..60).prop_map(|v| v.concat())
}

/// ASCII strings dense in apostrophes, contraction letters, whitespace, digits and slashes.
pub(crate) fn ascii_text() -> impl Strategy<Value = String> {
    "[ 'sStTmMdDlLvVrReEaA09\t\r\n!/.]{0,64}"
}

#[test]
fn contraction_folds_match_regex_syntax() {
    use regex_syntax::hir::{Class, HirKind};
    // What `(?i:x)` matches for each contraction letter must be ASCII upper/lower plus 'ſ' for 's'
    // (the only extra character `Cursor::contraction` accepts).
    for x in "sdmtlvre".chars() {
        let hir = regex_syntax::parse(&format!("(?i:{x})")).expect("parses");
        let HirKind::Class(Class::Unicode(cls)) = hir.kind() else {
            panic!("(?i:{x}) is not a class");
        };
        let mut got: Vec<char> = cls
            .ranges()
            .iter()
            .flat_map(|r| r.start()..=r.end())
            .collect();
        got.sort();
        let mut want = vec![x.to_ascii_uppercase(), x];
        if x == 's' {
            want.push('ſ');
        }
        want.sort();
        assert_eq!(got, want, "(?i:{x})");
    }
}

#[test]
fn presets_through_pretokenizer_match_regex() {
    let text = "Hello, WORLD's 123 \u{3000}中文\r\n  ";
    for p in ALL {
        let pt = super::Pretokenizer::new(p.pattern()).expect("preset");
        assert_eq!(pt.pattern(), Some(p.pattern()));
        assert_eq!(pt.pieces(text).expect("split"), p.slow(text), "{p:?}");
    }
}

/// On-CPU time of the calling thread in seconds (Linux `schedstat`, so the numbers hold on a busy
/// machine), else wall-clock time since `t0`.
fn cpu_seconds(t0: Instant) -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or_else(|| t0.elapsed().as_secs_f64(), |ns| ns as f64 * 1e-9)
}

/// Time `f` in seconds of on-CPU time (best of `reps`).
fn time_it(reps: usize, mut f: impl FnMut()) -> f64 {
    let t0 = Instant::now();
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let start = cpu_seconds(t0);
        f();
        best = best.min(cpu_seconds(t0) - start);
    }
    best
}

/// Throughput of the scanners and of fancy-regex on the shared corpus, in MB/s of on-CPU time.
#[test]
#[ignore = "benchmark; run with --release --ignored --nocapture"]
fn bench() {
    let dir = corpus_dir();
    let read = |f: &Path| std::fs::read_to_string(f).ok();
    let mut inputs: Vec<(String, String)> = Vec::new();
    if let Some(t) = read(&dir.join("en.txt")) {
        inputs.push(("en.txt".into(), t));
    }
    for sub in ["code", "langs"] {
        let cat: String = corpus_files()
            .iter()
            .filter(|f| f.parent().is_some_and(|d| d.ends_with(sub)))
            .filter_map(|f| read(f))
            .collect();
        if !cat.is_empty() {
            inputs.push((format!("{sub}/*"), cat));
        }
    }
    if inputs.is_empty() {
        eprintln!("skipping the benchmark: no corpus at {}", dir.display());
        return;
    }
    let fancy = std::env::var_os("BENCH_NO_FANCY").is_none();
    let mb_s = |bytes: usize, secs: f64| bytes as f64 / 1e6 / secs;
    println!(
        "{:<8} {:<8} {:>6} {:>13} {:>11} {:>6}",
        "preset", "input", "MB", "scanner MB/s", "fancy MB/s", "ratio"
    );
    for (name, text) in &inputs {
        for p in ALL {
            let mut n_fast = 0usize;
            let fast = time_it(10, || {
                n_fast = 0;
                p.fast_split(text, |s| {
                    std::hint::black_box(s);
                    n_fast += 1;
                });
            });
            let slow = if fancy {
                let mut n_slow = 0usize;
                let t = time_it(1, || {
                    p.reference()
                        .split(text, |s| {
                            std::hint::black_box(s);
                            n_slow += 1;
                        })
                        .expect("reference regex runs");
                });
                assert_eq!(n_fast, n_slow, "{p:?} {name}: piece counts differ");
                t
            } else {
                f64::NAN
            };
            println!(
                "{:<8} {:<8} {:>6.1} {:>13.0} {:>11.1} {:>5.1}x",
                format!("{p:?}"),
                name,
                text.len() as f64 / 1e6,
                mb_s(text.len(), fast),
                mb_s(text.len(), slow),
                slow / fast
            );
        }
    }
}
