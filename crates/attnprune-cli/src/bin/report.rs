//! `report`: the run's report.md, results.json and plots; see `report --help`.
use clap::Parser;
fn main() -> std::process::ExitCode {
    attnprune_cli::common::main_with(|| {
        attnprune_cli::report_stage::run(attnprune_cli::report_stage::ReportArgs::parse())
    })
}
