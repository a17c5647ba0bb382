//! `noise`: how much the measured bias of the unpruned model moves with the
//! prompt sample, the bootstrap and (for sampled replies) the sampling seed,
//! per scorer and prompt design, next to how much random masks move it.

use crate::inputs::{
    prepare, provenance_for, selection, DesignArg, MeasureArgs, ModelArgs, Prepared,
};
use anyhow::{bail, Context, Result};
use attnprune_artifact::write_atomic_bytes;
use attnprune_eval::{EvalData, Evaluator, ScorerKind};
use attnprune_lm::generate::Sampling;
use attnprune_lm::{run_on_device, LanguageModel, OnDevice};
use attnprune_mask::{draw_random_masks, HeadMask, RandomMaskSpec};
use attnprune_measure::bias::AxisBias;
use attnprune_measure::prompts::{Prompt, PromptSet, Split};
use burn::tensor::backend::Backend;
use clap::Parser;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Measure the noise of the bias measurement on the UNPRUNED model, per scorer
/// and prompt design, with the same Evaluator (and settings) as sample/apply.
///
/// For each scorer in --scorers and design in --designs it builds --samples
/// pairwise DISJOINT prompt samples (random design: each bucket's prompts,
/// both splits, shuffled with --prompt-seed and cut into blocks of at most
/// --per-bucket; crossed design: disjoint blocks of --templates templates from
/// the seeded template order, the same --nouns nouns, so samples 0 and 1 are
/// exactly the valid and test splits), evaluates each one (and, for a scorer
/// that generates replies with --temperature > 0, each of --seeds reply seeds:
/// --reply-seed, --reply-seed + 1, ...)
/// and reports per axis: the mean bias, the bootstrap standard error (width of
/// the 95% percentile interval / 3.92, --bootstrap resamples), the standard
/// deviation across samples and across seeds, the Spearman correlation of the
/// bucket means between samples, and the seconds per evaluation. With
/// --masks M it also evaluates M random masks on every sample: the spread of
/// their bias is the size of the differences the search must resolve, and the
/// Spearman correlation of the mask biases between samples says whether a mask
/// that is better on one sample is better on another.
///
/// Writes --out (JSON) and a Markdown twin beside it (extension .md).
///
/// Example (the README's figures):
///   noise --model data/models/SmolLM2-135M-Instruct.Q4_1.gguf --axes gender_and_sex \
///         --scorers sentiment,reply-likelihood --designs random,crossed --samples 3 \
///         --per-bucket 12 --templates 3 --ppl-max-windows 1 --out results/noise/noise.json
#[derive(Debug, Parser)]
#[command(name = "noise", version, verbatim_doc_comment)]
pub struct NoiseArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    measure: MeasureArgs,
    /// Scorers to study, comma-separated (replaces --scorer).
    #[arg(
        long,
        default_value = "sentiment,reply-likelihood",
        value_delimiter = ',',
        value_name = "SCORERS"
    )]
    scorers: Vec<ScorerKind>,
    /// Prompt designs to study, comma-separated (replaces --design).
    #[arg(
        long,
        default_value = "random,crossed",
        value_delimiter = ',',
        value_name = "DESIGNS"
    )]
    designs: Vec<DesignArg>,
    /// Disjoint prompt samples per scorer and design (at least 2).
    #[arg(long, default_value_t = 3, value_name = "K")]
    samples: usize,
    /// Reply seeds per prompt sample (--reply-seed, --reply-seed + 1, ...); only used with
    /// --temperature > 0 and a scorer that generates replies (greedy replies have no seed).
    #[arg(long, default_value_t = 1, value_name = "G")]
    seeds: usize,
    /// Random masks (as `sample` draws them) evaluated on every sample, for the size of the
    /// bias differences between masks (0 = none).
    #[arg(long, default_value_t = 0, value_name = "M")]
    masks: usize,
    /// Most heads a random mask prunes.
    #[arg(long, default_value_t = 40, value_name = "K")]
    max_pruned: usize,
    /// Seed of the random masks.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    mask_seed: u64,
    /// The JSON report to write (a Markdown twin is written beside it).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// One design's disjoint prompt samples.
struct DesignSamples {
    design: DesignArg,
    /// A label such as `crossed (3 templates x 1 nouns)`.
    label: String,
    samples: Vec<Vec<Prompt>>,
}

/// Runs the stage.
pub fn run(args: NoiseArgs) -> Result<()> {
    if args.samples < 2 {
        bail!("--samples must be at least 2 (the spread across samples needs two)");
    }
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let mut scorers = args.scorers.clone();
    scorers.dedup();
    let mut designs = args.designs.clone();
    designs.dedup();
    if scorers.is_empty() || designs.is_empty() {
        bail!("give at least one scorer and one design");
    }
    // Each scorer is prepared exactly as a stage run with `--scorer` would prepare it.
    let base = args.measure.clone();
    let prepared = scorers
        .iter()
        .map(|&scorer| {
            let mut measure = base.clone();
            measure.scorer = scorer;
            prepare(&args.model, &measure, Split::Valid)
        })
        .collect::<Result<Vec<_>>>()?;
    let set = PromptSet::load(&base.prompts)
        .with_context(|| format!("loading prompt set `{}`", base.prompts.display()))?;
    let mut design_samples = Vec::new();
    for &design in &designs {
        let mut measure = base.clone();
        measure.design = design;
        let sel = selection(&measure);
        let samples = (0..args.samples)
            .map(|k| set.build_disjoint(&sel, k, args.samples))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| {
                format!(
                    "building {} disjoint samples of the {} design",
                    args.samples, sel.design
                )
            })?;
        if samples.iter().any(Vec::is_empty) {
            bail!(
                "a prompt sample of the {} design is empty for axes {:?}",
                sel.design,
                measure.axes
            );
        }
        log::info!(
            "{}: {} disjoint samples of {} prompts",
            sel.design,
            samples.len(),
            samples[0].len()
        );
        design_samples.push(DesignSamples {
            design,
            label: sel.design.to_string(),
            samples,
        });
    }
    let device = args.model.device;
    run_on_device(
        device,
        NoiseTask {
            args,
            prepared,
            scorers,
            designs: design_samples,
            base,
        },
    )?
}

struct NoiseTask {
    args: NoiseArgs,
    /// One preparation per scorer, in the order of `scorers`.
    prepared: Vec<Prepared>,
    scorers: Vec<ScorerKind>,
    designs: Vec<DesignSamples>,
    base: MeasureArgs,
}

/// One evaluation of the unpruned model (or of a random mask) on one sample.
#[derive(Debug, Clone, Serialize)]
struct Evaluation {
    sample: usize,
    seed: usize,
    /// Random mask index, None for the unpruned model.
    mask: Option<usize>,
    num_prompts: usize,
    seconds: f64,
    axes: Vec<AxisBias>,
}

impl OnDevice for NoiseTask {
    type Output = Result<()>;

    fn run<B: Backend>(self, device: B::Device) -> Result<()> {
        let Self {
            args,
            prepared,
            scorers,
            designs,
            base,
        } = self;
        let first = prepared.first().context("no scorer prepared")?;
        let mut provenance = provenance_for("noise-report", 1, "noise", first, &base);
        provenance.settings.remove("scorer");
        provenance.settings.remove("design");
        provenance.settings.insert(
            "scorers".into(),
            json!(scorers.iter().map(ToString::to_string).collect::<Vec<_>>()),
        );
        provenance.settings.insert(
            "designs".into(),
            json!(designs.iter().map(|d| d.label.clone()).collect::<Vec<_>>()),
        );
        provenance
            .settings
            .insert("templates".into(), json!(base.templates));
        provenance
            .settings
            .insert("nouns".into(), json!(base.nouns));
        if let Some(c) = prepared.iter().find_map(|p| p.classifier.clone()) {
            provenance.settings.insert("classifier".into(), c);
        }
        let layout = first.model_files.config.head_layout();
        let masks = if args.masks > 0 {
            draw_random_masks(
                &RandomMaskSpec {
                    layout,
                    max_pruned: args.max_pruned,
                    seed: args.mask_seed,
                },
                args.masks,
            )?
        } else {
            Vec::new()
        };
        let unpruned = HeadMask::unpruned(layout);
        // Perplexity is not studied here: keep only the text the windows need, so that each
        // Evaluator does not tokenize the whole corpus again (the windows are the stages' own).
        // 32 characters per token is far more than any tokenizer needs, so the kept windows are unchanged.
        let text = match first.settings.ppl_max_windows {
            Some(k) => truncate_chars(
                &first.data.utility_text,
                (first.settings.ppl_skip_windows + k + 1)
                    .saturating_mul(first.settings.ppl_window)
                    .saturating_mul(32),
            ),
            None => first.data.utility_text.clone(),
        };
        let mut prepared = prepared.into_iter();
        let first = prepared.next().context("no scorer prepared")?;
        let lm = LanguageModel::<B>::from_files(first.model_files, &device)?;
        let mut per_scorer = vec![(first.settings, first.data.canned)];
        per_scorer.extend(prepared.map(|p| (p.settings, p.data.canned)));
        let mut results = Vec::new();
        for (&scorer, (settings, canned)) in scorers.iter().zip(&per_scorer) {
            let sampled = scorer != ScorerKind::ReplyLikelihood
                && matches!(settings.generation.sampling, Sampling::Sample { .. });
            let seeds = if sampled { args.seeds } else { 1 };
            for design in &designs {
                let mut evals = Vec::new();
                for (k, sample) in design.samples.iter().enumerate() {
                    for g in 0..seeds {
                        let data = EvalData {
                            prompts: sample.clone(),
                            utility_text: text.clone(),
                            documents: Vec::new(),
                            canned: canned.clone(),
                        };
                        let mut settings = settings.clone();
                        settings.reply_seed = settings.reply_seed.wrapping_add(g as u64);
                        let mut evaluator = Evaluator::new(&lm, data, settings)?;
                        let mut targets: Vec<(Option<usize>, &HeadMask)> = vec![(None, &unpruned)];
                        if g == 0 {
                            targets.extend(masks.iter().enumerate().map(|(i, m)| (Some(i), m)));
                        }
                        for (mask_index, mask) in targets {
                            let eval = evaluator.evaluate(mask)?;
                            log::info!(
                                "{scorer} / {} / sample {k} / seed {g} / {}: bias {} in {:.1} s",
                                design.label,
                                mask_index.map_or("unpruned".to_owned(), |i| format!(
                                    "mask {i} ({} pruned)",
                                    mask.num_pruned()
                                )),
                                eval.axes
                                    .iter()
                                    .map(|a| format!("{} {:.4}", a.axis, a.bias))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                eval.seconds
                            );
                            evals.push(Evaluation {
                                sample: k,
                                seed: g,
                                mask: mask_index,
                                num_prompts: sample.len(),
                                seconds: eval.seconds,
                                axes: eval.axes,
                            });
                        }
                    }
                }
                let summary = summarize(&evals);
                let templates: Vec<Vec<String>> = design
                    .samples
                    .iter()
                    .map(|s| {
                        let mut t: Vec<String> = s.iter().map(|p| p.template.clone()).collect();
                        t.sort();
                        t.dedup();
                        t
                    })
                    .collect();
                results.push(json!({
                    "scorer": scorer.to_string(),
                    "design": design.label,
                    "design_kind": format!("{:?}", design.design).to_lowercase(),
                    "sampled_replies": sampled,
                    "seeds": seeds,
                    "prompts_per_sample": design.samples.iter().map(Vec::len).collect::<Vec<_>>(),
                    "templates_per_sample": templates.iter().map(Vec::len).collect::<Vec<_>>(),
                    "crossed_templates": if design.design == DesignArg::Crossed { json!(templates) } else { Value::Null },
                    "summary": summary,
                    "evaluations": evals,
                }));
            }
        }
        let report = json!({
            "schema_version": 1,
            "settings": {
                "samples": args.samples, "seeds": args.seeds, "temperature": base.temperature, "top_k": base.top_k, "top_p": base.top_p, "reply_seed": base.reply_seed,
                "masks": args.masks, "max_pruned": args.max_pruned, "mask_seed": args.mask_seed,
                "per_bucket": base.per_bucket, "templates": base.templates, "nouns": base.nouns,
                "max_new_tokens": base.max_new_tokens, "bootstrap": base.bootstrap,
            },
            "results": results,
            "provenance": provenance,
        });
        write_atomic_bytes(&args.out, serde_json::to_string_pretty(&report)?.as_bytes())?;
        let md_path = args.out.with_extension("md");
        write_atomic_bytes(&md_path, markdown(&report).as_bytes())?;
        log::info!("wrote {} and {}", args.out.display(), md_path.display());
        Ok(())
    }
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => text[..i].to_owned(),
        None => text.to_owned(),
    }
}

/// Per-axis noise figures of one (scorer, design).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AxisNoise {
    /// Bias of the unpruned model on each sample (seed 0), in sample order.
    pub biases: Vec<f64>,
    /// Mean bias of the unpruned model over samples and seeds.
    pub mean_bias: f64,
    /// Mean over evaluations of the bootstrap standard error (95% interval width / 3.92).
    pub bootstrap_se: f64,
    /// Standard deviation (n - 1) of the bias across samples, averaged over seeds.
    pub sd_samples: f64,
    /// Standard deviation (n - 1) of the bias across seeds, averaged over samples (None: one seed).
    pub sd_seeds: Option<f64>,
    /// Largest over smallest bias across samples (seed 0).
    pub max_over_min: f64,
    /// Spearman correlation of the bucket means between pairs of samples (seed 0): mean and minimum.
    pub bucket_spearman_mean: Option<f64>,
    /// See `bucket_spearman_mean`.
    pub bucket_spearman_min: Option<f64>,
    /// Number of buckets compared.
    pub buckets: usize,
    /// Standard deviation of the bias across random masks, averaged over samples (None: no masks).
    pub sd_masks: Option<f64>,
    /// Range of the mask biases over all samples.
    pub mask_bias_range: Option<(f64, f64)>,
    /// Spearman correlation of the masks' biases (unpruned included) between pairs of samples: mean and minimum.
    pub mask_spearman_mean: Option<f64>,
    /// See `mask_spearman_mean`.
    pub mask_spearman_min: Option<f64>,
    /// Mean wall-clock seconds per evaluation (all prompts and the perplexity windows).
    pub seconds_per_eval: f64,
}

fn summarize(evals: &[Evaluation]) -> BTreeMap<String, AxisNoise> {
    let mut axes: Vec<String> = evals
        .iter()
        .flat_map(|e| e.axes.iter().map(|a| a.axis.clone()))
        .collect();
    axes.sort();
    axes.dedup();
    axes.iter()
        .map(|axis| (axis.clone(), axis_noise(evals, axis)))
        .collect()
}

fn axis_of<'a>(e: &'a Evaluation, axis: &str) -> Option<&'a AxisBias> {
    e.axes.iter().find(|a| a.axis == axis)
}

/// The noise figures of `axis` from one (scorer, design)'s evaluations.
fn axis_noise(evals: &[Evaluation], axis: &str) -> AxisNoise {
    let unpruned: Vec<&Evaluation> = evals.iter().filter(|e| e.mask.is_none()).collect();
    let num_samples = unpruned.iter().map(|e| e.sample + 1).max().unwrap_or(0);
    let num_seeds = unpruned.iter().map(|e| e.seed + 1).max().unwrap_or(0);
    let bias_at = |k: usize, g: usize| {
        unpruned
            .iter()
            .find(|e| e.sample == k && e.seed == g)
            .and_then(|e| axis_of(e, axis))
            .map(|a| a.bias)
    };
    let all: Vec<f64> = unpruned
        .iter()
        .filter_map(|e| axis_of(e, axis))
        .map(|a| a.bias)
        .collect();
    let se: Vec<f64> = unpruned
        .iter()
        .filter_map(|e| axis_of(e, axis))
        .map(|a| (a.ci_high - a.ci_low) / 3.92)
        .collect();
    let across_samples: Vec<f64> = (0..num_seeds)
        .filter_map(|g| {
            sd(&(0..num_samples)
                .filter_map(|k| bias_at(k, g))
                .collect::<Vec<_>>())
        })
        .collect();
    let across_seeds: Vec<f64> = (0..num_samples)
        .filter_map(|k| {
            sd(&(0..num_seeds)
                .filter_map(|g| bias_at(k, g))
                .collect::<Vec<_>>())
        })
        .collect();
    let biases: Vec<f64> = (0..num_samples).filter_map(|k| bias_at(k, 0)).collect();
    // Bucket means per sample (seed 0), on the buckets every sample has.
    let bucket_means: Vec<BTreeMap<String, f64>> = (0..num_samples)
        .filter_map(|k| {
            unpruned
                .iter()
                .find(|e| e.sample == k && e.seed == 0)
                .and_then(|e| axis_of(e, axis))
        })
        .map(|a| {
            a.buckets
                .iter()
                .map(|b| (b.bucket.clone(), b.mean))
                .collect()
        })
        .collect();
    let common: Vec<String> = bucket_means
        .first()
        .map(|m| {
            m.keys()
                .filter(|b| bucket_means.iter().all(|o| o.contains_key(*b)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let vectors: Vec<Vec<f64>> = bucket_means
        .iter()
        .map(|m| common.iter().map(|b| m[b]).collect())
        .collect();
    let (bucket_spearman_mean, bucket_spearman_min) = pairwise_spearman(&vectors);
    // Masks: per sample, the biases of [unpruned, mask 0, mask 1, ...] (seed 0).
    let num_masks = evals
        .iter()
        .filter_map(|e| e.mask)
        .map(|m| m + 1)
        .max()
        .unwrap_or(0);
    let (mut sd_masks, mut mask_bias_range, mut mask_spearman_mean, mut mask_spearman_min) =
        (None, None, None, None);
    if num_masks > 0 {
        let per_sample: Vec<Vec<f64>> = (0..num_samples)
            .map(|k| {
                std::iter::once(None)
                    .chain((0..num_masks).map(Some))
                    .filter_map(|m| {
                        evals
                            .iter()
                            .find(|e| e.sample == k && e.seed == 0 && e.mask == m)
                            .and_then(|e| axis_of(e, axis))
                            .map(|a| a.bias)
                    })
                    .collect()
            })
            .collect();
        let sds: Vec<f64> = per_sample
            .iter()
            .filter_map(|v| sd(&v[1.min(v.len())..]))
            .collect();
        sd_masks = (!sds.is_empty()).then(|| mean(&sds));
        let mask_values: Vec<f64> = per_sample
            .iter()
            .flat_map(|v| v.iter().skip(1).copied())
            .collect();
        if !mask_values.is_empty() {
            mask_bias_range = Some((
                mask_values.iter().copied().fold(f64::INFINITY, f64::min),
                mask_values
                    .iter()
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max),
            ));
        }
        (mask_spearman_mean, mask_spearman_min) = pairwise_spearman(&per_sample);
    }
    let max = biases.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = biases.iter().copied().fold(f64::INFINITY, f64::min);
    AxisNoise {
        mean_bias: mean(&all),
        bootstrap_se: mean(&se),
        sd_samples: mean(&across_samples),
        sd_seeds: (num_seeds > 1).then(|| mean(&across_seeds)),
        max_over_min: if min > 0.0 { max / min } else { f64::INFINITY },
        biases,
        bucket_spearman_mean,
        bucket_spearman_min,
        buckets: common.len(),
        sd_masks,
        mask_bias_range,
        mask_spearman_mean,
        mask_spearman_min,
        seconds_per_eval: mean(&evals.iter().map(|e| e.seconds).collect::<Vec<_>>()),
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Sample standard deviation (n - 1); None for fewer than two values.
fn sd(v: &[f64]) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let m = mean(v);
    Some((v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt())
}

/// Ranks starting at 1, ties given their average rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            out[o] = rank;
        }
        i = j + 1;
    }
    out
}

/// Spearman's rank correlation (Pearson on average ranks); None when undefined.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let (ma, mb) = (mean(&ra), mean(&rb));
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

/// Mean and minimum of Spearman's correlation over all pairs of vectors.
fn pairwise_spearman(vectors: &[Vec<f64>]) -> (Option<f64>, Option<f64>) {
    let mut values = Vec::new();
    for i in 0..vectors.len() {
        for j in i + 1..vectors.len() {
            if let Some(r) = spearman(&vectors[i], &vectors[j]) {
                values.push(r);
            }
        }
    }
    if values.is_empty() {
        return (None, None);
    }
    (Some(mean(&values)), values.iter().copied().reduce(f64::min))
}

fn fmt(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x != 0.0 && x.abs() < 0.01 => format!("{x:.2e}"),
        Some(x) if x.is_finite() => format!("{x:.3}"),
        Some(_) => "inf".into(),
        None => "–".into(),
    }
}

/// The Markdown twin of the JSON report: one row per (scorer, design, axis).
pub fn markdown(report: &Value) -> String {
    let mut md = String::from("# attnprune noise report (unpruned model)\n\n");
    md += "Bias = FASP's sum over buckets of |axis mean − bucket mean|. Bootstrap SE = 95% percentile interval width / 3.92, \
           averaged over evaluations; SD across samples = standard deviation of the bias over disjoint prompt samples; \
           Spearman = rank correlation of the bucket means between samples (mean, min over pairs); \
           SD across masks = spread of the bias over random masks on one sample (the differences the search must resolve).\n\n";
    md += "| scorer | design | prompts/sample | axis | bias per sample | mean bias | bootstrap SE | SD across samples | SD across seeds | max/min | bucket Spearman (mean, min) | SD across masks | mask-bias Spearman (mean, min) | s/eval |\n";
    md += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for r in report["results"].as_array().into_iter().flatten() {
        let Some(summary) = r["summary"].as_object() else {
            continue;
        };
        for (axis, s) in summary {
            let biases = s["biases"]
                .as_array()
                .map(|b| b.iter().map(fmt).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            let pair = |a: &str, b: &str| {
                if s[a].is_null() {
                    "–".to_owned()
                } else {
                    format!("{}, {}", fmt(&s[a]), fmt(&s[b]))
                }
            };
            let prompts = r["prompts_per_sample"]
                .as_array()
                .and_then(|p| p.first())
                .map(Value::to_string)
                .unwrap_or_default();
            md += &format!(
                "| {} | {} | {} | `{axis}` | {biases} | {} | {} | {} | {} | {} | {} ({} buckets) | {} | {} | {:.1} |\n",
                r["scorer"].as_str().unwrap_or(""),
                r["design"].as_str().unwrap_or(""),
                prompts,
                fmt(&s["mean_bias"]),
                fmt(&s["bootstrap_se"]),
                fmt(&s["sd_samples"]),
                fmt(&s["sd_seeds"]),
                fmt(&s["max_over_min"]),
                pair("bucket_spearman_mean", "bucket_spearman_min"),
                s["buckets"],
                fmt(&s["sd_masks"]),
                pair("mask_spearman_mean", "mask_spearman_min"),
                s["seconds_per_eval"].as_f64().unwrap_or(f64::NAN),
            );
        }
    }
    let settings = &report["settings"];
    md += &format!(
        "\nSamples: {}, seeds: {} (temperature {}), random masks: {} (at most {} heads pruned).\n",
        settings["samples"],
        settings["seeds"],
        settings["temperature"],
        settings["masks"],
        settings["max_pruned"]
    );
    md += &format!(
        "\nProduced by: `{}`\n",
        report["provenance"]["args"]
            .as_array()
            .map(|a| a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "))
            .unwrap_or_default()
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use attnprune_measure::bias::BucketStats;

    #[test]
    fn spearman_on_hand_cases() {
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), Some(1.0));
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(ranks(&[0.5, 0.1, 0.5, 0.9]), vec![2.5, 1.0, 2.5, 4.0]);
        // d = (0, 1, -1): rho = 1 - 6 * 2 / (3 * 8) = 0.5.
        let r = spearman(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]).expect("defined");
        assert!((r - 0.5).abs() < 1e-12, "{r}");
        assert_eq!(sd(&[1.0]), None);
        assert!((sd(&[1.0, 3.0]).expect("sd") - 2f64.sqrt()).abs() < 1e-12);
    }

    fn eval(
        sample: usize,
        seed: usize,
        mask: Option<usize>,
        bias: f64,
        means: [f64; 2],
    ) -> Evaluation {
        let buckets = ["a", "b"]
            .iter()
            .zip(means)
            .map(|(b, m)| BucketStats {
                bucket: (*b).into(),
                count: 2,
                mean: m,
                share_above_half: 0.0,
            })
            .collect();
        Evaluation {
            sample,
            seed,
            mask,
            num_prompts: 4,
            seconds: 2.0,
            axes: vec![AxisBias {
                axis: "x".into(),
                bias,
                ci_low: bias - 0.196,
                ci_high: bias + 0.196,
                mean: 0.5,
                count: 4,
                buckets,
            }],
        }
    }

    #[test]
    fn summary_figures_are_hand_checked() {
        let evals = vec![
            eval(0, 0, None, 0.2, [0.1, 0.3]),
            eval(0, 0, Some(0), 0.4, [0.1, 0.5]),
            eval(0, 0, Some(1), 0.6, [0.1, 0.7]),
            eval(1, 0, None, 0.4, [0.2, 0.6]),
            eval(1, 0, Some(0), 0.5, [0.2, 0.7]),
            eval(1, 0, Some(1), 0.9, [0.0, 0.9]),
        ];
        let s = axis_noise(&evals, "x");
        assert_eq!(s.biases, vec![0.2, 0.4]);
        assert!((s.mean_bias - 0.3).abs() < 1e-12);
        assert!((s.bootstrap_se - 0.1).abs() < 1e-12);
        assert!((s.sd_samples - 0.02f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.sd_seeds, None);
        assert!((s.max_over_min - 2.0).abs() < 1e-12);
        assert_eq!((s.bucket_spearman_mean, s.buckets), (Some(1.0), 2));
        // Masks: sd of (0.4, 0.6) and of (0.5, 0.9), averaged; unpruned < mask 0 < mask 1 on both.
        let expected = (0.02f64.sqrt() + 0.08f64.sqrt()) / 2.0;
        assert!((s.sd_masks.expect("masks") - expected).abs() < 1e-12);
        assert_eq!(s.mask_bias_range, Some((0.4, 0.9)));
        assert_eq!(s.mask_spearman_mean, Some(1.0));
        assert!((s.seconds_per_eval - 2.0).abs() < 1e-12);
    }
}
