//! Encode a file with a tiktoken rank file, single-threaded, and print the speed of each phase in CPU time (for
//! profiling the encoder without Python):
//! `cargo run --profile profiling --example encode_file -- FILE RANKS PATTERN [REPEAT]`

use std::path::Path;

use bytepair::formats::{load, LoadOptions, SpecialTokens};

/// CPU time of this thread in seconds (`/proc/thread-self/schedstat`, ns on CPU): unlike wall
/// time it does not count the time other processes hold the core, so runs on a busy machine
/// stay comparable.
fn cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: encode_file FILE RANKS PATTERN [REPEAT]".into());
    }
    let text = std::fs::read_to_string(&args[1])?;
    let opts = LoadOptions {
        pattern: Some(&args[3]),
        specials: SpecialTokens::FromFile,
        merges: None,
    };
    let tok = load(Path::new(&args[2]), &opts)?;
    let repeat: usize = args.get(4).map_or(Ok(3), |s| s.parse())?;
    let mut n = 0;
    let mut split_pieces = 0usize;
    let t = cpu();
    for _ in 0..repeat {
        tok.pretokenizer().split(&text, |_| split_pieces += 1)?;
    }
    let split = (cpu() - t) / repeat as f64;
    let t = cpu();
    for _ in 0..repeat {
        n = tok.encode_ordinary(&text)?.len();
    }
    let all = (cpu() - t) / repeat as f64;
    let mut buf = Vec::new();
    let t = cpu();
    for _ in 0..repeat {
        buf.clear();
        tok.encode_ordinary_append(&text, &mut buf)?;
    }
    let reuse = (cpu() - t) / repeat as f64;
    let mb = text.len() as f64 / 1e6;
    println!(
        "{mb:.1} MB, {n} tokens, {} pieces: split {:.1} MB/s, encode {:.1} MB/s, reused buffer {:.1} MB/s (CPU time)",
        split_pieces / repeat,
        mb / split,
        mb / all,
        mb / reuse
    );
    Ok(())
}
