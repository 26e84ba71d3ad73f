//! The fast BPE step against the references, on a vocabulary trained here and on the real
//! rank files when `../shared/vocab` is present.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;

use super::*;
use crate::count::Utf8Errors;
use crate::train::{train_files, TrainConfig};

/// A 3000-token vocabulary trained on the packaged sample with the gpt2 pattern.
fn trained() -> &'static Vocab {
    static V: OnceLock<Vocab> = OnceLock::new();
    V.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cfg = TrainConfig {
            vocab_size: 3000,
            min_frequency: 2,
            max_token_length: None,
            special_tokens: vec![],
            progress: false,
        };
        let path = root.join("python/bytepair/data/sample.txt");
        train_files(&[path], "gpt2", &cfg, 2, Utf8Errors::Strict)
            .unwrap()
            .vocab()
            .clone()
    })
}

fn encode(enc: &Encoder, piece: &[u8]) -> Vec<TokenId> {
    let mut out = Vec::new();
    enc.encode_piece(piece, &mut out);
    out
}

fn encode_cached(enc: &Encoder, piece: &[u8]) -> Vec<TokenId> {
    let mut out = Vec::new();
    enc.with_sink(|s| s.push(piece, &mut out));
    out
}

fn sample_pieces() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "",
        "a",
        "the",
        " the",
        "thethethe",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        " LORD",
        "unto",
        "  \n\n  ",
        "héllo wörld",
        "🤗🤗",
        "\u{fffd}x",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    // Long pieces (the `long.rs` path) of several shapes.
    v.push(b"a".repeat(1000));
    v.push(b"ab".repeat(777));
    v.push(b" the".repeat(300));
    v.push("and the LORD said unto Moses".repeat(20).into_bytes());
    v.push("Ğ".repeat(500).into_bytes());
    v
}

#[test]
fn merges_rule_equals_reference_on_trained_vocab() {
    let v = trained();
    let enc = Encoder::new(v, MergeRule::Merges).unwrap();
    assert_eq!(enc.tokens_not_whole(), 0);
    for p in sample_pieces() {
        let want = encode_piece_reference(v, &p).unwrap();
        assert_eq!(encode(&enc, &p), want, "{:?}", String::from_utf8_lossy(&p));
        assert_eq!(encode_cached(&enc, &p), want);
        assert_eq!(encode_cached(&enc, &p), want, "second (cached) call");
    }
}

#[test]
fn ranks_rule_equals_tiktoken_reference_on_trained_vocab() {
    let v = trained();
    let enc = Encoder::new(v, MergeRule::Ranks).unwrap();
    for p in sample_pieces() {
        let want = encode_piece_reference_tiktoken(v, &p).unwrap();
        assert_eq!(encode(&enc, &p), want, "{:?}", String::from_utf8_lossy(&p));
    }
}

#[test]
fn long_and_small_paths_agree() {
    let v = trained();
    for rule in [MergeRule::Merges, MergeRule::Ranks] {
        let enc = Encoder::new(v, rule).unwrap();
        for p in sample_pieces() {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            if p.len() < 2 || p.len() > small::SMALL {
                continue;
            }
            small::merge(&enc, &p, &mut a);
            long::merge(&enc, &p, &mut b);
            assert_eq!(a, b);
        }
    }
}

#[test]
fn missing_byte_is_an_error() {
    let toks: Vec<Vec<u8>> = (0..=254u8).map(|b| vec![b]).collect();
    let v = Vocab::new(toks, vec![], vec![]).unwrap();
    let e = Encoder::new(&v, MergeRule::Merges).unwrap_err().to_string();
    assert!(e.contains("0xff"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    fn random_pieces_equal_references(s in "[a-e ]{0,120}|[ -~]{0,80}|\\PC{0,40}") {
        let v = trained();
        let p = s.as_bytes();
        let m = Encoder::new(v, MergeRule::Merges).unwrap();
        prop_assert_eq!(encode(&m, p), encode_piece_reference(v, p).unwrap());
        let r = Encoder::new(v, MergeRule::Ranks).unwrap();
        prop_assert_eq!(encode(&r, p), encode_piece_reference_tiktoken(v, p).unwrap());
    }
}

fn shared_vocab(name: &str) -> Option<Vocab> {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/vocab")
        .join(name);
    let data = std::fs::read(&p).ok()?;
    Some(crate::formats::tiktoken::from_rank_file(&data, &p, vec![]).unwrap())
}

/// On the real gpt2 ranks both rules and the reference agree on the long test pieces.
#[test]
fn real_gpt2_rules_agree() {
    let Some(v) = shared_vocab("gpt2.tiktoken") else {
        eprintln!("skipped: ../shared/vocab/gpt2.tiktoken not found");
        return;
    };
    let m = Encoder::new(&v, MergeRule::Merges).unwrap();
    let r = Encoder::new(&v, MergeRule::Ranks).unwrap();
    for p in sample_pieces() {
        let want = encode_piece_reference_tiktoken(&v, &p).unwrap();
        assert_eq!(encode(&r, &p), want);
        assert_eq!(encode(&m, &p), want);
    }
}

#[test]
fn short_key_is_the_padded_bytes_and_length() {
    fn slow(p: &[u8]) -> Option<u128> {
        if p.len() > 15 {
            return None;
        }
        let mut buf = [0u8; 16];
        buf[..p.len()].copy_from_slice(p);
        buf[15] = p.len() as u8;
        Some(u128::from_le_bytes(buf))
    }
    let data: Vec<u8> = (0..40u32).map(|i| (i * 37 + 11) as u8).collect();
    for start in 0..8 {
        for len in 0..=17 {
            let p = &data[start..start + len];
            assert_eq!(super::short_key(p), slow(p), "{p:?}");
        }
    }
    // The masked loads of `short_key_in` give the same key at every offset, including the last
    // pieces of the text (fewer than 16 bytes left) and a piece that is not inside the text.
    for start in 0..data.len() {
        for len in 0..=(data.len() - start).min(17) {
            let p = &data[start..start + len];
            assert_eq!(super::short_key_in(&data, p), slow(p), "{start} {len}");
            assert_eq!(super::short_key_in(&data[..5], p), slow(p), "{start} {len}");
        }
    }
}

/// The cache's answers (a piece's first encoding, then the front table's token or id range, then
/// the hash maps') equal the uncached encoding, for pieces of every length up to past
/// `cache::MAX_PIECE`, including pieces of several tokens short enough for the front table.
#[test]
fn cached_answers_equal_uncached() {
    let v = trained();
    let words = [
        "the", " LORD", "unto", "xqzj", " héllo", "aé", "🤗", "  ", "ab",
    ];
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    for w in words {
        for n in 1..=(cache::MAX_PIECE / w.len() + 2) {
            pieces.push(w.repeat(n).into_bytes());
        }
    }
    for rule in [MergeRule::Merges, MergeRule::Ranks] {
        let enc = Encoder::new(v, rule).unwrap();
        let want: Vec<Vec<TokenId>> = pieces.iter().map(|p| encode(&enc, p)).collect();
        // Several rounds: the later ones are answered by the front table and the maps.
        for round in 0..3 {
            for (p, w) in pieces.iter().zip(&want) {
                assert_eq!(&encode_cached(&enc, p), w, "round {round}, {p:?}");
            }
        }
        assert!(
            want.iter().any(|w| w.len() > 1),
            "some pieces must be several tokens"
        );
    }
}

/// The trained vocabulary's encoders under both rules (built once for the proptest below).
fn trained_encoders() -> &'static [Encoder; 2] {
    static E: OnceLock<[Encoder; 2]> = OnceLock::new();
    E.get_or_init(|| {
        let v = trained();
        [MergeRule::Merges, MergeRule::Ranks].map(|r| Encoder::new(v, r).unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Encoding a split through [`PieceSink::pieces`] (which takes the o200k scanner's ASCII
    /// blocks whole: one-byte pieces, front-table tokens, and the rest piece by piece) gives the
    /// ids of encoding each piece alone, with the front table cold, then warm (its tokens and
    /// id ranges), and near the end of the text (fewer than 48 bytes at a block).
    #[test]
    fn blocks_encode_as_pieces(words in prop::collection::vec(
        "[a-z]{1,9}|[A-Z][a-z]{0,6}|[a-z]{13,24}|[0-9]{1,5}|[ .,;:()\n]{1,3}|(LORD|unto|thee){1,4}|é",
        0..120,
    )) {
        let text = words.concat();
        let pre = crate::pretok::Pretokenizer::new("o200k").unwrap();
        for enc in trained_encoders() {
            let mut want = Vec::new();
            pre.split(&text, |p| enc.encode_piece(p.as_bytes(), &mut want)).unwrap();
            for round in 0..2 {
                let mut got = Vec::new();
                enc.with_sink(|s| pre.split_pieces(&text, s.pieces(text.as_bytes(), &mut got)))
                    .unwrap();
                prop_assert_eq!(&got, &want, "round {}", round);
            }
        }
    }
}
