//! `choose`: the best measured mask within the budget, and the rounds summary; see `choose --help`.
use clap::Parser;
fn main() -> std::process::ExitCode {
    attnprune_cli::common::main_with(|| {
        attnprune_cli::choose_stage::run(attnprune_cli::choose_stage::ChooseArgs::parse())
    })
}
