//! The human report of a run: what `report` writes beside the pipeline's artifacts.
//!
//! - [`svg`]: a tiny SVG writer (escaping, axes, ticks) and a well-formedness check.
//! - [`plots`]: the plots of the report: scatter with highlighted points, layers x
//!   heads heatmap, line plot, predicted-vs-measured scatter, grouped bars.
//! - [`markdown`]: Markdown tables and number formatting.
//! - [`results`]: the `results.json` types (serde).
//! - [`rounds`]: the closed-loop search's rounds summary (predicted vs measured), its plots.
//! - [`apply`]: the `apply` report (typed; `apply` writes it, `report` reads it).
//! - [`ablation`]: one-shot vs closed-loop AP, FASP and random with their evaluation counts,
//!   and the verdict on the log-odds scale.
//! - [`findings`]: the verdict and the diagnostics, generated from the numbers.
//! - [`inputs`]: the apply reports as the report reads them, the surrogates' fits, sources.
//! - [`assemble`]: the whole report from its inputs ([`assemble::build`]): results, findings,
//!   plots ([`figures`], one function per plot) and `report.md` ([`document`]).
//!
//! Model-free: the `report` stage in `attnprune-cli` reads and checks the artifacts, calls
//! [`assemble::build`] and writes what it returns.

pub mod ablation;
pub mod apply;
pub mod assemble;
pub mod document;
pub mod figures;
pub mod findings;
pub mod inputs;
pub mod markdown;
pub mod plots;
pub mod results;
pub mod rounds;
pub mod svg;

pub use markdown::{fmt_num, fmt_pct, Table};
pub use results::{
    AxisBias, Bar, Fit, MethodResult, Methods, Repeatability, Results, RunResult, SurrogateSummary,
    RESULTS_VERSION,
};
