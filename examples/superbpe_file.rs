//! Train SuperBPE on a file and print the phase timings (profiling without Python):
//! `cargo run --release --example superbpe_file -- FILE VOCAB TRANSITION [THREADS] [PRUNE]`

use std::path::PathBuf;

use bytepair::count::Utf8Errors;
use bytepair::supertoken::{train_files, SuperConfig};
use bytepair::train::TrainConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: superbpe_file FILE VOCAB TRANSITION [THREADS] [PRUNE]".into());
    }
    let cfg = SuperConfig {
        train: TrainConfig {
            vocab_size: args[2].parse()?,
            min_frequency: 2,
            max_token_length: None,
            special_tokens: vec![],
            progress: false,
        },
        transition: args[3].parse()?,
        stage2_pattern: "superbpe".into(),
        max_words: Some(4),
        no_colon_space: true,
        max_pretoken_words: None,
        prune_below: args.get(5).map_or(Ok(0), |s| s.parse())?,
    };
    let threads = args.get(4).map_or(Ok(2), |s| s.parse())?;
    let t = std::time::Instant::now();
    let (tok, s) = train_files(
        &[PathBuf::from(&args[1])],
        "o200k",
        &cfg,
        threads,
        Utf8Errors::Strict,
    )?;
    println!(
        "total {:.3}s count {:.3}s stage1 {:.3}s stage2 replay {:.3}s merge {:.3}s \
         engine {} seqs {} symbols, vocab {}",
        t.elapsed().as_secs_f64(),
        s.seconds_count,
        s.stage1.seconds_merge,
        s.stage2.seconds_replay,
        s.stage2.seconds_merge,
        s.stage2.engine_sequences,
        s.stage2.engine_symbols,
        tok.vocab().size()
    );
    Ok(())
}
