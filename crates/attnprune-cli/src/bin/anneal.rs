//! `anneal`: search head masks with the surrogates; see `anneal --help`.
use clap::Parser;
fn main() -> std::process::ExitCode {
    attnprune_cli::common::main_with(|| {
        attnprune_cli::anneal_stage::run(attnprune_cli::anneal_stage::AnnealArgs::parse())
    })
}
