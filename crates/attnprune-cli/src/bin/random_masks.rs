//! `random-masks`: the random baseline's masks; see `random-masks --help`.
use clap::Parser;
fn main() -> std::process::ExitCode {
    attnprune_cli::common::main_with(|| {
        attnprune_cli::random_stage::run(attnprune_cli::random_stage::RandomArgs::parse())
    })
}
