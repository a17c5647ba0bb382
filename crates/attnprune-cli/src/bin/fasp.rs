//! `fasp`: the FASP baseline's mask; see `fasp --help`.
use clap::Parser;
fn main() -> std::process::ExitCode {
    attnprune_cli::common::main_with(|| {
        attnprune_cli::fasp_stage::run(attnprune_cli::fasp_stage::FaspArgs::parse())
    })
}
