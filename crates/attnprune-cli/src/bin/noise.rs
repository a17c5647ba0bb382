//! `noise`: how much the measured bias moves with the prompts, the bootstrap and the seed; see `noise --help`.
use clap::Parser;
fn main() -> std::process::ExitCode {
    attnprune_cli::common::main_with(|| {
        attnprune_cli::noise_stage::run(attnprune_cli::noise_stage::NoiseArgs::parse())
    })
}
