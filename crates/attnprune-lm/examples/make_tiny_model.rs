//! Writes the tiny random-weight test model: `make_tiny_model DIR [SEED]` (used by `make smoke`).
fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: make_tiny_model DIR [SEED]");
        return std::process::ExitCode::FAILURE;
    };
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(7);
    match attnprune_lm::tiny::write_tiny_model(dir.as_ref(), seed) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
