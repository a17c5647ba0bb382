//! `report`: the run's human report (`report.md` with SVG plots) and
//! `results.json`, from the artifacts the other stages wrote. The report itself is
//! built by `attnprune_report::assemble`; this stage reads and checks its inputs and
//! writes what it returns.

use anyhow::{bail, Context, Result};
use attnprune_artifact::samples::{read_sample_table, read_samples};
use attnprune_artifact::trajectory::read_trajectory;
use attnprune_artifact::{write_atomic_bytes, Provenance, SampleTable};
use attnprune_report::assemble::{build, ReportInputs, ReportOutput, ReportSettings};
use attnprune_report::inputs::{ApplyInput, Source, SurrogateFits};
use attnprune_report::rounds::RoundsReport;
use attnprune_report::Fit;
use attnprune_surrogate::{FitMetrics, SurrogateReport};
use clap::Parser;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Write the run's report: `report.md` with its plots (`plots/*.svg`) and
/// `results.json`, into --out-dir. It reads what the stages wrote and runs no
/// model:
///   --samples         the sample table(s): bias vs perplexity of every sampled
///                     mask, single-head knockouts for the heads heatmap
///   --surrogates      surrogate-report.json: held-out predicted vs measured
///   --trajectory      anneal's trajectory
///   --ap-report, --fasp-report, --random-reports
///                     `apply` reports (test prompts) of the Attention Pruning
///                     mask, the FASP mask and the random masks (`random-masks`);
///                     the unpruned numbers are those inside the apply reports
///
/// The table compares the unpruned model, Attention Pruning, FASP and random
/// pruning on the test prompts (bias per axis with bootstrap intervals,
/// perplexity on held-out text); the verdict against the bar (at least
/// --min-bias-reduction less bias on --axis, at most --ppl-budget more
/// perplexity, lower bias than FASP) and the diagnostics (surrogate fit,
/// samples per head, bootstrap intervals vs differences, random spread) are
/// written from the numbers. results.json holds the same numbers.
#[derive(Debug, Parser)]
#[command(name = "report", version, verbatim_doc_comment)]
pub struct ReportArgs {
    /// Sample table(s) of the run (`sample`).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    samples: Vec<PathBuf>,
    /// Folder of the surrogates (`train-surrogate`), with surrogate-report.json.
    #[arg(long, value_name = "DIR")]
    surrogates: PathBuf,
    /// The annealing trajectory (`anneal`).
    #[arg(long, value_name = "FILE")]
    trajectory: PathBuf,
    /// `apply` report of the Attention Pruning mask.
    #[arg(long, value_name = "FILE")]
    ap_report: PathBuf,
    /// `apply` report of the FASP mask.
    #[arg(long, value_name = "FILE")]
    fasp_report: Option<PathBuf>,
    /// `apply` reports of the random masks (`random-masks`), one per seed.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    random_reports: Vec<PathBuf>,
    /// The axis the methods repair.
    #[arg(long, default_value = "gender_and_sex", value_name = "AXIS")]
    axis: String,
    /// The perplexity budget (0.05 = 5%): the bar's perplexity limit. Default: the budget
    /// recorded in the Attention Pruning mask file (by `choose` or `anneal`).
    #[arg(long, value_name = "F")]
    ppl_budget: Option<f64>,
    /// `apply` report of the paper's one-shot Attention Pruning mask (anneal once on the
    /// screening surrogates, never measured before `apply`), for the ablation.
    #[arg(long, value_name = "FILE")]
    oneshot_report: Option<PathBuf>,
    /// The closed loop's rounds summary (`choose --out-rounds`).
    #[arg(long, value_name = "FILE")]
    rounds: Option<PathBuf>,
    /// The budget in force (resolved from --ppl-budget or the mask file).
    #[arg(skip)]
    budget: f64,
    /// The bar's least relative bias reduction on --axis (0.4 = 40%).
    #[arg(long, default_value_t = 0.4, value_name = "F")]
    min_bias_reduction: f64,
    /// Folder to write report.md, results.json and plots/ into.
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
}

/// Runs the stage.
pub fn run(mut args: ReportArgs) -> Result<()> {
    let ap = read_apply(&args.ap_report)?;
    args.budget = args
        .ppl_budget
        .or(ap.typed.mask.perplexity_budget)
        .with_context(|| {
            format!(
                "no perplexity budget: `{}`'s mask file records none; pass --ppl-budget",
                args.ap_report.display()
            )
        })?;
    let (table, first) = read_samples(&args.samples)?;
    let axis_index = table.axis_index(&args.axis, &first)?;
    crate::selection::unpruned_row(&table, &first)?;
    let (surrogates, surrogate_provenance) = read_surrogates(&args, &table, &first)?;
    let (trajectory, trajectory_provenance) = read_trajectory(&args.trajectory)?;
    let fasp = args.fasp_report.as_deref().map(read_apply).transpose()?;
    let randoms: Vec<ApplyInput> = args
        .random_reports
        .iter()
        .map(|p| read_apply(p))
        .collect::<Result<_>>()?;
    ap.provenance
        .check_same_model(&ap.path, &table.provenance, &first)?;
    for r in fasp.iter().chain(&randoms) {
        check_comparable(r, &ap, &args.axis)?;
    }
    if ap.axis(&args.axis).is_none() {
        bail!(
            "`{}` has no bias for --axis `{}` (it measured {:?})",
            ap.path.display(),
            args.axis,
            ap.axes.iter().map(|a| &a.0).collect::<Vec<_>>()
        );
    }
    let oneshot = args.oneshot_report.as_deref().map(read_apply).transpose()?;
    if let Some(one) = &oneshot {
        one.check_same_test_measurement(&ap)
            .map_err(anyhow::Error::msg)?;
    }
    let rounds = args.rounds.as_deref().map(read_rounds).transpose()?;
    let mut sources = sample_sources(&args.samples, &table, &first)?;
    sources.push(Source {
        what: "surrogates".into(),
        file: args.surrogates.display().to_string(),
        provenance: surrogate_provenance,
    });
    sources.push(Source {
        what: "annealing trajectory".into(),
        file: args.trajectory.display().to_string(),
        provenance: trajectory_provenance,
    });
    let settings = ReportSettings {
        axis: args.axis.clone(),
        ppl_budget: args.budget,
        min_bias_reduction: args.min_bias_reduction,
        run: args
            .out_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        command_line: crate::common::command_line(),
    };
    let inputs = ReportInputs {
        table,
        axis_index,
        surrogates,
        trajectory,
        ap,
        oneshot,
        fasp,
        randoms,
        rounds,
        sources,
    };
    let output = build(&settings, &inputs).map_err(anyhow::Error::msg)?;
    write_output(&args.out_dir, &output)
}

fn read_apply(path: &Path) -> Result<ApplyInput> {
    ApplyInput::read(path).map_err(anyhow::Error::msg)
}

fn read_rounds(path: &Path) -> Result<RoundsReport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading `{}`", path.display()))?;
    RoundsReport::from_json(&text, &path.display().to_string()).map_err(anyhow::Error::msg)
}

/// Fails unless `r` measured what `ap` measured: same test measurement, --axis, same split.
fn check_comparable(r: &ApplyInput, ap: &ApplyInput, axis: &str) -> Result<()> {
    r.check_same_test_measurement(ap)
        .map_err(anyhow::Error::msg)?;
    if r.axis(axis).is_none() {
        bail!("`{}` has no bias for --axis `{axis}`", r.path.display());
    }
    if r.split != ap.split {
        bail!(
            "`{}` reports the {} split but `{}` the {} split",
            r.path.display(),
            r.split,
            ap.path.display(),
            ap.split
        );
    }
    Ok(())
}

/// The surrogates' fits and provenance, checked against the sample table and --axis.
fn read_surrogates(
    args: &ReportArgs,
    table: &SampleTable,
    first: &Path,
) -> Result<(SurrogateFits, Provenance)> {
    let path = args.surrogates.join("surrogate-report.json");
    let report = SurrogateReport::read(&path)?;
    let provenance: Provenance = serde_json::from_value(report.provenance.clone())
        .with_context(|| format!("`{}`: provenance", path.display()))?;
    provenance.check_same_model(&path, &table.provenance, first)?;
    if let Some(a) = provenance.settings.get("axis").and_then(Value::as_str) {
        if a != args.axis {
            bail!(
                "`{}` was trained for the `{a}` axis, not --axis `{}`",
                path.display(),
                args.axis
            );
        }
    }
    let fits = SurrogateFits {
        rows: report.rows,
        bias_holdout: report.bias.holdout.map(fit_of),
        bias_train: Some(fit_of(report.bias.train)),
        ppl_holdout: report.perplexity.holdout.map(fit_of),
        ppl_train: Some(fit_of(report.perplexity.train)),
        bias_points: report.bias.holdout_points,
        ppl_points: report.perplexity.holdout_points,
    };
    Ok((fits, provenance))
}

/// A surrogate's fit as the report shows it (undefined figures absent).
fn fit_of(m: FitMetrics) -> Fit {
    Fit {
        n: m.n,
        r2: attnprune_stats::defined(m.r2),
        spearman: attnprune_stats::defined(m.spearman),
        rmse: attnprune_stats::defined(m.rmse),
    }
}

/// The sample tables' sources: the merged table's provenance for one file, each file's own for several.
fn sample_sources(files: &[PathBuf], table: &SampleTable, first: &Path) -> Result<Vec<Source>> {
    if files.len() == 1 {
        return Ok(vec![Source {
            what: "sample table".into(),
            file: first.display().to_string(),
            provenance: table.provenance.clone(),
        }]);
    }
    files
        .iter()
        .map(|p| {
            Ok(Source {
                what: "sample table".into(),
                file: p.display().to_string(),
                provenance: read_sample_table(p)?.provenance,
            })
        })
        .collect()
}

/// Writes the plots, `results.json`, then `report.md` (last: it is what Make tracks).
fn write_output(out_dir: &Path, output: &ReportOutput) -> Result<()> {
    let plots_dir = out_dir.join("plots");
    std::fs::create_dir_all(&plots_dir)
        .with_context(|| format!("creating `{}`", plots_dir.display()))?;
    for (name, svg) in &output.plots {
        write_atomic_bytes(&out_dir.join(name), svg.as_bytes())?;
    }
    let mut json = serde_json::to_string_pretty(&output.results)?;
    json.push('\n');
    write_atomic_bytes(&out_dir.join("results.json"), json.as_bytes())?;
    write_atomic_bytes(&out_dir.join("report.md"), output.markdown.as_bytes())?;
    for f in &output.findings {
        log::info!("{}", f.text.replace("**", ""));
    }
    log::info!("wrote {}", out_dir.join("report.md").display());
    Ok(())
}
