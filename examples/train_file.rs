//! Train on files and print the phase timings (for profiling the trainer without Python):
//! `cargo run --profile profiling --example train_file -- FILE VOCAB [PATTERN] [THREADS]`

use std::path::PathBuf;

use bytepair::count::Utf8Errors;
use bytepair::train::{train_files, TrainConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: train_file FILE VOCAB [PATTERN] [THREADS]".into());
    }
    let cfg = TrainConfig {
        vocab_size: args[2].parse()?,
        min_frequency: 2,
        max_token_length: None,
        special_tokens: vec![],
        progress: false,
    };
    let pattern = args.get(3).map_or("o200k", String::as_str);
    let threads = args.get(4).map_or(Ok(2), |s| s.parse())?;
    let t = std::time::Instant::now();
    let tok = train_files(
        &[PathBuf::from(&args[1])],
        pattern,
        &cfg,
        threads,
        Utf8Errors::Strict,
    )?;
    let s = tok.stats().ok_or("no stats")?;
    println!(
        "total {:.3}s count {:.3}s merge {:.3}s distinct {} bytes/token {:.4} vocab {}",
        t.elapsed().as_secs_f64(),
        s.seconds_count,
        s.seconds_merge,
        s.distinct_pretokens,
        s.bytes_per_token(),
        tok.vocab().size()
    );
    Ok(())
}
