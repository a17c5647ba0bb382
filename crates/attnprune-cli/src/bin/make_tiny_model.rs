//! `make-tiny-model DIR [SEED]`: writes the tiny random-weight test model (2 layers x 4 heads,
//! HF folder) that `make smoke` and the end-to-end tests run on. A stage binary like the others,
//! so `make build && make smoke` compiles nothing in between.
fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let usage = "usage: make-tiny-model DIR [SEED]\n\nWrites the tiny random-weight test model (HF folder: config.json, model.safetensors,\ntokenizer.json, tokenizer_config.json) into DIR; the same SEED (default 7) gives the same bytes.";
    let Some(dir) = args.next() else {
        eprintln!("{usage}");
        return std::process::ExitCode::FAILURE;
    };
    if dir == "--help" || dir == "-h" {
        eprintln!("{usage}");
        return std::process::ExitCode::SUCCESS;
    }
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(7);
    match attnprune_lm::tiny::write_tiny_model(dir.as_ref(), seed) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
