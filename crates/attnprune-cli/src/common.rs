//! What every stage binary shares: the main wrapper, logging, progress bars.

use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;

/// Runs a stage: logs to stderr (`RUST_LOG` overrides the `info` default),
/// prints the whole error chain on failure, and exits non-zero.
pub fn main_with(run: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_secs()
        .target(env_logger::Target::Stderr)
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A progress bar on stderr with rate and ETA (hidden when stderr is not a terminal
/// and `ATTNPRUNE_PROGRESS` is unset, so logs stay clean in CI).
pub fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({per_sec}, ETA {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(what.to_string());
    let visible = console_is_terminal() || std::env::var_os("ATTNPRUNE_PROGRESS").is_some();
    if !visible {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

fn console_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// The command line as given, for provenance.
pub fn command_line() -> Vec<String> {
    std::env::args().collect()
}
