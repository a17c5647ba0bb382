//! `device-check`: a device's outputs against the CPU's, and its throughput; see `device-check --help`.
use clap::Parser;
fn main() -> std::process::ExitCode {
    attnprune_cli::common::main_with(|| {
        attnprune_cli::device_check_stage::run(
            attnprune_cli::device_check_stage::DeviceCheckArgs::parse(),
        )
    })
}
