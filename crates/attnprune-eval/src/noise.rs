//! The noise study: how much the measured bias of the unpruned model moves with the prompt
//! sample, the bootstrap and (for sampled replies) the sampling seed, per scorer and prompt
//! design, next to how much random masks move it. The `noise` stage prepares the inputs and
//! writes the [`NoiseReport`] that [`study`] and [`summarize`] fill.

use crate::{EvalData, EvalError, EvalSettings, Evaluator, ScorerKind};
use attnprune_lm::generate::Sampling;
use attnprune_lm::LanguageModel;
use attnprune_mask::HeadMask;
use attnprune_measure::bias::AxisBias;
use attnprune_measure::prompts::Prompt;
use attnprune_measure::replies::CannedReplies;
use attnprune_stats::{defined, mean, sd, spearman};
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Artifact kind of noise reports.
pub const NOISE_REPORT_KIND: &str = "noise-report";
/// Schema version of noise reports.
pub const NOISE_REPORT_VERSION: u32 = 1;

/// One evaluation of the unpruned model (or of a random mask) on one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseEvaluation {
    /// The prompt sample's index.
    pub sample: usize,
    /// The reply seed's offset from the scorer's reply seed.
    pub seed: usize,
    /// Random mask index, None for the unpruned model.
    pub mask: Option<usize>,
    /// Prompts in the sample.
    pub num_prompts: usize,
    /// Wall-clock seconds of the evaluation.
    pub seconds: f64,
    /// Bias per axis.
    pub axes: Vec<AxisBias>,
}

/// One design's disjoint prompt samples.
#[derive(Debug, Clone)]
pub struct DesignSamples {
    /// `random` or `crossed`.
    pub kind: String,
    /// A label such as `crossed (3 templates x 1 nouns)`.
    pub label: String,
    /// The pairwise disjoint prompt samples.
    pub samples: Vec<Vec<Prompt>>,
}

/// One scorer as the study evaluates it: its settings and canned replies, prepared exactly
/// as a stage run with `--scorer` would prepare them.
#[derive(Debug, Clone)]
pub struct ScorerSetup {
    /// The scorer.
    pub scorer: ScorerKind,
    /// Its evaluation settings.
    pub settings: EvalSettings,
    /// Its canned replies (reply-likelihood).
    pub canned: Option<CannedReplies>,
}

/// What the study evaluates besides the scorers and designs.
#[derive(Debug, Clone)]
pub struct StudyPlan<'a> {
    /// The utility text the evaluators cut their windows from.
    pub text: &'a str,
    /// Reply seeds per sample (used only when replies are sampled).
    pub seeds: usize,
    /// The random masks evaluated on every sample (seed 0 only).
    pub masks: &'a [HeadMask],
    /// The unpruned mask.
    pub unpruned: &'a HeadMask,
}

/// The study of one (scorer, design).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseResult {
    /// The scorer.
    pub scorer: String,
    /// The design's label.
    pub design: String,
    /// `random` or `crossed`.
    pub design_kind: String,
    /// Whether the replies were sampled (then several seeds were evaluated).
    pub sampled_replies: bool,
    /// Reply seeds evaluated per sample.
    pub seeds: usize,
    /// Prompts of each sample.
    pub prompts_per_sample: Vec<usize>,
    /// Distinct templates of each sample.
    pub templates_per_sample: Vec<usize>,
    /// The crossed design's templates per sample (None for the random design).
    pub crossed_templates: Option<Vec<Vec<String>>>,
    /// The noise figures per axis.
    pub summary: BTreeMap<String, AxisNoise>,
    /// Every evaluation.
    pub evaluations: Vec<NoiseEvaluation>,
}

/// The study's settings, as the report records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseSettings {
    /// Disjoint prompt samples per scorer and design.
    pub samples: usize,
    /// Reply seeds per sample.
    pub seeds: usize,
    /// Sampling temperature of generated replies.
    pub temperature: f64,
    /// Top-k of sampled replies.
    pub top_k: usize,
    /// Top-p of sampled replies.
    pub top_p: f64,
    /// The first reply seed.
    pub reply_seed: u64,
    /// Random masks evaluated on every sample.
    pub masks: usize,
    /// Most heads a random mask prunes.
    pub max_pruned: usize,
    /// Seed of the random masks.
    pub mask_seed: u64,
    /// Prompts per bucket in a sample.
    pub per_bucket: usize,
    /// Crossed design: templates per sample.
    pub templates: usize,
    /// Crossed design: nouns.
    pub nouns: usize,
    /// Most generated tokens per reply.
    pub max_new_tokens: usize,
    /// Bootstrap resamples of the bias interval.
    pub bootstrap: usize,
}

/// The noise report (`noise --out`), with a Markdown twin ([`NoiseReport::markdown`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseReport {
    /// Always [`NOISE_REPORT_KIND`].
    pub kind: String,
    /// Always [`NOISE_REPORT_VERSION`].
    pub schema_version: u32,
    /// The study's settings.
    pub settings: NoiseSettings,
    /// One result per (scorer, design), scorers outermost.
    pub results: Vec<NoiseResult>,
    /// Provenance (JSON of the artifact crate's record).
    pub provenance: serde_json::Value,
}

impl NoiseReport {
    /// Reads and checks a noise report (kind, version, fields); errors name the file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let origin = path.display();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read `{origin}`: {e}"))?;
        let report: Self = serde_json::from_str(&text)
            .map_err(|e| format!("`{origin}` is not a noise report of this version: {e}"))?;
        if report.kind != NOISE_REPORT_KIND || report.schema_version != NOISE_REPORT_VERSION {
            return Err(format!(
                "`{origin}` is `{}` version {}, expected `{NOISE_REPORT_KIND}` version {NOISE_REPORT_VERSION}",
                report.kind, report.schema_version
            ));
        }
        Ok(report)
    }

    /// Pretty JSON text, keys in alphabetical order (write it with an atomic writer).
    pub fn to_json(&self) -> String {
        serde_json::to_value(self)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_default()
    }
}

/// Evaluates the unpruned model (and the plan's random masks) on every sample of every
/// design with every scorer; one [`NoiseResult`] per (scorer, design).
pub fn study<B: Backend>(
    lm: &LanguageModel<B>,
    scorers: &[ScorerSetup],
    designs: &[DesignSamples],
    plan: &StudyPlan,
) -> Result<Vec<NoiseResult>, EvalError> {
    let mut results = Vec::new();
    for setup in scorers {
        let sampled = setup.scorer != ScorerKind::ReplyLikelihood
            && matches!(setup.settings.generation.sampling, Sampling::Sample { .. });
        let seeds = if sampled { plan.seeds } else { 1 };
        for design in designs {
            let mut evals = Vec::new();
            for (k, sample) in design.samples.iter().enumerate() {
                for g in 0..seeds {
                    evals.extend(evaluate_sample(lm, setup, design, plan, (k, sample), g)?);
                }
            }
            results.push(design_result(setup.scorer, design, sampled, seeds, evals));
        }
    }
    Ok(results)
}

/// The evaluations of sample `k` with reply seed offset `g`: the unpruned model, and the
/// random masks when `g` is 0.
fn evaluate_sample<B: Backend>(
    lm: &LanguageModel<B>,
    setup: &ScorerSetup,
    design: &DesignSamples,
    plan: &StudyPlan,
    (k, sample): (usize, &[Prompt]),
    g: usize,
) -> Result<Vec<NoiseEvaluation>, EvalError> {
    let data = EvalData {
        prompts: sample.to_vec(),
        utility_text: plan.text.to_owned(),
        documents: Vec::new(),
        canned: setup.canned.clone(),
    };
    let mut settings = setup.settings.clone();
    settings.reply_seed = settings.reply_seed.wrapping_add(g as u64);
    let mut evaluator = Evaluator::new(lm, data, settings)?;
    let mut targets: Vec<(Option<usize>, &HeadMask)> = vec![(None, plan.unpruned)];
    if g == 0 {
        targets.extend(plan.masks.iter().enumerate().map(|(i, m)| (Some(i), m)));
    }
    let mut out = Vec::new();
    for (mask_index, mask) in targets {
        let eval = evaluator.evaluate(mask)?;
        log::info!(
            "{} / {} / sample {k} / seed {g} / {}: bias {} in {:.1} s",
            setup.scorer,
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
        out.push(NoiseEvaluation {
            sample: k,
            seed: g,
            mask: mask_index,
            num_prompts: sample.len(),
            seconds: eval.seconds,
            axes: eval.axes,
        });
    }
    Ok(out)
}

/// One (scorer, design)'s result from its evaluations.
fn design_result(
    scorer: ScorerKind,
    design: &DesignSamples,
    sampled: bool,
    seeds: usize,
    evals: Vec<NoiseEvaluation>,
) -> NoiseResult {
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
    NoiseResult {
        scorer: scorer.to_string(),
        design: design.label.clone(),
        design_kind: design.kind.clone(),
        sampled_replies: sampled,
        seeds,
        prompts_per_sample: design.samples.iter().map(Vec::len).collect(),
        templates_per_sample: templates.iter().map(Vec::len).collect(),
        crossed_templates: (design.kind == "crossed").then_some(templates),
        summary: summarize(&evals),
        evaluations: evals,
    }
}

/// Per-axis noise figures of one (scorer, design).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AxisNoise {
    /// Bias of the unpruned model on each sample (seed 0), in sample order.
    pub biases: Vec<f64>,
    /// Mean bias of the unpruned model over samples and seeds.
    #[serde(deserialize_with = "attnprune_stats::nan_if_null")]
    pub mean_bias: f64,
    /// Mean over evaluations of the bootstrap standard error (95% interval width / 3.92).
    #[serde(deserialize_with = "attnprune_stats::nan_if_null")]
    pub bootstrap_se: f64,
    /// Standard deviation (n - 1) of the bias across samples, averaged over seeds.
    #[serde(deserialize_with = "attnprune_stats::nan_if_null")]
    pub sd_samples: f64,
    /// Standard deviation (n - 1) of the bias across seeds, averaged over samples (None: one seed).
    pub sd_seeds: Option<f64>,
    /// Largest over smallest bias across samples (seed 0).
    #[serde(deserialize_with = "attnprune_stats::nan_if_null")]
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
    #[serde(deserialize_with = "attnprune_stats::nan_if_null")]
    pub seconds_per_eval: f64,
}

/// The noise figures of every axis of one (scorer, design)'s evaluations.
pub fn summarize(evals: &[NoiseEvaluation]) -> BTreeMap<String, AxisNoise> {
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

fn axis_of<'a>(e: &'a NoiseEvaluation, axis: &str) -> Option<&'a AxisBias> {
    e.axes.iter().find(|a| a.axis == axis)
}

/// The noise figures of `axis` from one (scorer, design)'s evaluations.
pub fn axis_noise(evals: &[NoiseEvaluation], axis: &str) -> AxisNoise {
    let unpruned: Vec<&NoiseEvaluation> = evals.iter().filter(|e| e.mask.is_none()).collect();
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
            defined(sd(&(0..num_samples)
                .filter_map(|k| bias_at(k, g))
                .collect::<Vec<_>>()))
        })
        .collect();
    let across_seeds: Vec<f64> = (0..num_samples)
        .filter_map(|k| {
            defined(sd(&(0..num_seeds)
                .filter_map(|g| bias_at(k, g))
                .collect::<Vec<_>>()))
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
            .filter_map(|v| defined(sd(&v[1.min(v.len())..])))
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

/// Mean and minimum of Spearman's correlation over all pairs of vectors.
fn pairwise_spearman(vectors: &[Vec<f64>]) -> (Option<f64>, Option<f64>) {
    let mut values = Vec::new();
    for i in 0..vectors.len() {
        for j in i + 1..vectors.len() {
            if let Some(r) = defined(spearman(&vectors[i], &vectors[j])) {
                values.push(r);
            }
        }
    }
    if values.is_empty() {
        return (None, None);
    }
    (Some(mean(&values)), values.iter().copied().reduce(f64::min))
}

/// A figure as the Markdown table shows it: `–` when undefined or infinite (the JSON
/// report writes both as `null`).
fn fmt(v: Option<f64>) -> String {
    match v {
        Some(x) if x != 0.0 && x.abs() < 0.01 => format!("{x:.2e}"),
        Some(x) if x.is_finite() => format!("{x:.3}"),
        _ => "–".into(),
    }
}

/// A figure that is `null` in the JSON report when not finite.
fn fmt_f(x: f64) -> String {
    fmt(Some(x).filter(|x| x.is_finite()))
}

/// A figure as the JSON report writes it (`null` when absent or not finite).
fn json_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl NoiseReport {
    /// The Markdown twin of the JSON report: one row per (scorer, design, axis).
    pub fn markdown(&self) -> String {
        let mut md = String::from("# attnprune noise report (unpruned model)\n\n");
        md += "Bias = FASP's sum over buckets of |axis mean − bucket mean|. Bootstrap SE = 95% percentile interval width / 3.92, \
               averaged over evaluations; SD across samples = standard deviation of the bias over disjoint prompt samples; \
               Spearman = rank correlation of the bucket means between samples (mean, min over pairs); \
               SD across masks = spread of the bias over random masks on one sample (the differences the search must resolve).\n\n";
        md += "| scorer | design | prompts/sample | axis | bias per sample | mean bias | bootstrap SE | SD across samples | SD across seeds | max/min | bucket Spearman (mean, min) | SD across masks | mask-bias Spearman (mean, min) | s/eval |\n";
        md += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
        for r in &self.results {
            for (axis, s) in &r.summary {
                md += &axis_row(r, axis, s);
            }
        }
        let settings = &self.settings;
        md += &format!(
            "\nSamples: {}, seeds: {} (temperature {}), random masks: {} (at most {} heads pruned).\n",
            settings.samples,
            settings.seeds,
            json_text(&settings.temperature),
            settings.masks,
            settings.max_pruned
        );
        md += &format!(
            "\nProduced by: `{}`\n",
            self.provenance["args"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "))
                .unwrap_or_default()
        );
        md
    }
}

/// The Markdown row of one (scorer, design, axis).
fn axis_row(r: &NoiseResult, axis: &str, s: &AxisNoise) -> String {
    let biases = s
        .biases
        .iter()
        .map(|&b| fmt_f(b))
        .collect::<Vec<_>>()
        .join(", ");
    let pair = |a: Option<f64>, b: Option<f64>| match a.filter(|x| x.is_finite()) {
        None => "–".to_owned(),
        Some(a) => format!("{}, {}", fmt_f(a), b.map_or_else(|| "–".into(), fmt_f)),
    };
    let prompts = r
        .prompts_per_sample
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    let seconds = if s.seconds_per_eval.is_finite() {
        s.seconds_per_eval
    } else {
        f64::NAN
    };
    format!(
        "| {} | {} | {} | `{axis}` | {biases} | {} | {} | {} | {} | {} | {} ({} buckets) | {} | {} | {:.1} |\n",
        r.scorer,
        r.design,
        prompts,
        fmt_f(s.mean_bias),
        fmt_f(s.bootstrap_se),
        fmt_f(s.sd_samples),
        s.sd_seeds.map_or_else(|| "–".into(), fmt_f),
        fmt_f(s.max_over_min),
        pair(s.bucket_spearman_mean, s.bucket_spearman_min),
        s.buckets,
        s.sd_masks.map_or_else(|| "–".into(), fmt_f),
        pair(s.mask_spearman_mean, s.mask_spearman_min),
        seconds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use attnprune_measure::bias::BucketStats;

    fn eval(
        sample: usize,
        seed: usize,
        mask: Option<usize>,
        bias: f64,
        means: [f64; 2],
    ) -> NoiseEvaluation {
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
        NoiseEvaluation {
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
