//! `train-surrogate`: fit mask -> bias and mask -> perplexity MLPs; see `train-surrogate --help`.
use clap::Parser;
fn main() -> std::process::ExitCode {
    attnprune_cli::common::main_with(|| {
        attnprune_cli::train_stage::run(attnprune_cli::train_stage::TrainArgs::parse())
    })
}
