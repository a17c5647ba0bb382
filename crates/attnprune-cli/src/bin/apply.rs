//! `apply`: before/after report of a head mask on held-out data; see `apply --help`.
use clap::Parser;
fn main() -> std::process::ExitCode {
    attnprune_cli::common::main_with(|| {
        attnprune_cli::apply_stage::run(attnprune_cli::apply_stage::ApplyArgs::parse())
    })
}
