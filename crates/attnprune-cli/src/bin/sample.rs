//! `sample`: evaluate random head masks on the real model; see `sample --help`.
use clap::Parser;
fn main() -> std::process::ExitCode {
    attnprune_cli::common::main_with(|| {
        attnprune_cli::sample_stage::run(attnprune_cli::sample_stage::SampleArgs::parse())
    })
}
