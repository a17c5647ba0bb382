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
            eprintln!("error: {}", error_chain(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, `outer: cause: root`, leaving out a cause whose
/// text a message before it already contains (many errors quote their source, and printing
/// it again gave "No such file or directory (os error 2): No such file or directory (os error 2)").
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Progress of a long stage on stderr: a bar with rate and ETA on a terminal (or when
/// `ATTNPRUNE_PROGRESS` is set); otherwise (a scheduler's log, CI) a plain line at a steady
/// interval, `what: done/total (rate/min, ETA ...)`, so logs stay readable.
pub struct Progress {
    bar: ProgressBar,
    what: String,
    total: u64,
    done: u64,
    message: String,
    started: std::time::Instant,
    last_line: std::time::Instant,
    interval: std::time::Duration,
    lines: bool,
}

/// A [`Progress`] of `total` steps named `what`, with lines every 30 s when not on a terminal.
pub fn progress(total: u64, what: &str) -> Progress {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} {msg} ({per_sec}, ETA {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(what.to_string());
    let visible = console_is_terminal() || std::env::var_os("ATTNPRUNE_PROGRESS").is_some();
    if !visible {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let now = std::time::Instant::now();
    let interval = std::env::var("ATTNPRUNE_PROGRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Progress {
        bar,
        what: what.to_string(),
        total,
        done: 0,
        message: String::new(),
        started: now,
        last_line: now,
        interval: std::time::Duration::from_secs(interval),
        lines: !visible,
    }
}

impl Progress {
    /// Sets the message shown after the counts.
    pub fn set_message(&mut self, message: String) {
        self.bar.set_message(message.clone());
        self.message = message;
    }

    /// Advances by `n` steps; prints a line when the interval has passed (no terminal).
    pub fn inc(&mut self, n: u64) {
        self.bar.inc(n);
        self.done += n;
        if self.lines && (self.last_line.elapsed() >= self.interval || self.done == self.total) {
            self.last_line = std::time::Instant::now();
            log::info!("{}", self.line());
        }
    }

    /// `what: done/total (rate/min, ETA ...)`.
    pub fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = self.done as f64 / secs;
        let eta = if rate > 0.0 {
            (self.total.saturating_sub(self.done)) as f64 / rate
        } else {
            f64::NAN
        };
        let message = if self.message.is_empty() {
            String::new()
        } else {
            format!(", {}", self.message)
        };
        format!(
            "{}: {}/{} ({:.1}/min, ETA {}{message})",
            self.what,
            self.done,
            self.total,
            rate * 60.0,
            duration(eta)
        )
    }

    /// Removes the bar.
    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }
}

/// `1h02m`, `3m05s`, `12s`, or `?`.
fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".into();
    }
    let s = secs.round() as u64;
    match (s / 3600, (s / 60) % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

fn console_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// The command line as given, for provenance.
pub fn command_line() -> Vec<String> {
    std::env::args().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_count_and_estimate() {
        let mut p = progress(4, "sample");
        p.inc(1);
        p.set_message("ppl 12.3".into());
        let line = p.line();
        assert!(
            line.starts_with("sample: 1/4 (")
                && line.contains("/min, ETA ")
                && line.ends_with(", ppl 12.3)"),
            "{line}"
        );
        assert_eq!(duration(3725.0), "1h02m");
        assert_eq!(duration(185.0), "3m05s");
        assert_eq!(duration(f64::NAN), "?");
    }

    #[test]
    fn error_chain_says_each_cause_once() {
        let io = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory (os error 2)",
        );
        let err = anyhow::Error::new(io)
            .context("cannot read `x.json`: No such file or directory (os error 2)")
            .context("loading the prompt set");
        assert_eq!(
            error_chain(&err),
            "loading the prompt set: cannot read `x.json`: No such file or directory (os error 2)"
        );
    }
}
