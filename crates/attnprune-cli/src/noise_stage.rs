//! `noise`: how much the measured bias of the unpruned model moves with the
//! prompt sample, the bootstrap and (for sampled replies) the sampling seed,
//! per scorer and prompt design, next to how much random masks move it. The
//! study and its report live in `attnprune_eval::noise`.

use crate::inputs::{
    load_model, prepare, provenance_for, selection, DesignArg, MeasureArgs, ModelArgs, Prepared,
};
use anyhow::{bail, Context, Result};
use attnprune_artifact::{write_atomic_bytes, Provenance};
use attnprune_eval::noise::{
    study, DesignSamples, NoiseReport, NoiseSettings, ScorerSetup, StudyPlan, NOISE_REPORT_KIND,
    NOISE_REPORT_VERSION,
};
use attnprune_eval::ScorerKind;
use attnprune_lm::{run_on_device, OnDevice};
use attnprune_mask::{draw_random_masks, HeadMask, RandomMaskSpec};
use attnprune_measure::prompts::{PromptSet, Split};
use burn::tensor::backend::Backend;
use clap::Parser;
use serde_json::json;
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
            Ok(prepare(&args.model, &measure, Split::Valid)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let designs = designs
        .iter()
        .map(|&d| design_samples(&base, d, args.samples))
        .collect::<Result<Vec<_>>>()?;
    let device = args.model.device;
    run_on_device(
        device,
        NoiseTask {
            args,
            prepared,
            scorers,
            designs,
            base,
        },
    )?
}

/// `count` pairwise disjoint prompt samples of one design.
fn design_samples(base: &MeasureArgs, design: DesignArg, count: usize) -> Result<DesignSamples> {
    let set = PromptSet::load(&base.prompts)
        .with_context(|| format!("loading prompt set `{}`", base.prompts.display()))?;
    let mut measure = base.clone();
    measure.design = design;
    let sel = selection(&measure);
    let samples = (0..count)
        .map(|k| set.build_disjoint(&sel, k, count))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| {
            format!(
                "building {count} disjoint samples of the {} design",
                sel.design
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
    Ok(DesignSamples {
        kind: format!("{design:?}").to_lowercase(),
        label: sel.design.to_string(),
        samples,
    })
}

struct NoiseTask {
    args: NoiseArgs,
    /// One preparation per scorer, in the order of `scorers`.
    prepared: Vec<Prepared>,
    scorers: Vec<ScorerKind>,
    designs: Vec<DesignSamples>,
    base: MeasureArgs,
}

impl OnDevice for NoiseTask {
    type Output = Result<()>;

    fn run<B: Backend>(self, device: B::Device) -> Result<()> {
        let first = self.prepared.first().context("no scorer prepared")?;
        let provenance = self.provenance(first);
        let layout = first.model_files.config.head_layout();
        let masks = if self.args.masks > 0 {
            draw_random_masks(
                &RandomMaskSpec {
                    layout,
                    max_pruned: self.args.max_pruned,
                    seed: self.args.mask_seed,
                },
                self.args.masks,
            )?
        } else {
            Vec::new()
        };
        let unpruned = HeadMask::unpruned(layout);
        let text = study_text(first);
        let mut prepared = self.prepared.into_iter();
        let first = prepared.next().context("no scorer prepared")?;
        let lm = load_model::<B>(
            first.model_files,
            first.precision,
            first.attention,
            first.gpu_kernels,
            &device,
        )?;
        let setups: Vec<ScorerSetup> = std::iter::once((first.settings, first.data.canned))
            .chain(prepared.map(|p| (p.settings, p.data.canned)))
            .zip(&self.scorers)
            .map(|((settings, canned), &scorer)| ScorerSetup {
                scorer,
                settings,
                canned,
            })
            .collect();
        let plan = StudyPlan {
            text: &text,
            seeds: self.args.seeds,
            masks: &masks,
            unpruned: &unpruned,
        };
        let results = study(&lm, &setups, &self.designs, &plan)?;
        let report = NoiseReport {
            kind: NOISE_REPORT_KIND.into(),
            schema_version: NOISE_REPORT_VERSION,
            settings: settings_of(&self.args, &self.base),
            results,
            provenance: serde_json::to_value(&provenance)?,
        };
        let args = &self.args;
        write_atomic_bytes(&args.out, report.to_json().as_bytes())?;
        let md_path = args.out.with_extension("md");
        write_atomic_bytes(&md_path, report.markdown().as_bytes())?;
        log::info!("wrote {} and {}", args.out.display(), md_path.display());
        Ok(())
    }
}

impl NoiseTask {
    /// The report's provenance: the measurement's, with the scorers and designs studied.
    fn provenance(&self, first: &Prepared) -> Provenance {
        let base = &self.base;
        let mut provenance = provenance_for(
            NOISE_REPORT_KIND,
            NOISE_REPORT_VERSION,
            "noise",
            first,
            base,
        );
        let settings = &mut provenance.settings;
        settings.remove("scorer");
        settings.remove("design");
        let scorers: Vec<String> = self.scorers.iter().map(ToString::to_string).collect();
        let designs: Vec<String> = self.designs.iter().map(|d| d.label.clone()).collect();
        settings.insert("scorers".into(), json!(scorers));
        settings.insert("designs".into(), json!(designs));
        settings.insert("templates".into(), json!(base.templates));
        settings.insert("nouns".into(), json!(base.nouns));
        if let Some(c) = self.prepared.iter().find_map(|p| p.classifier.clone()) {
            settings.insert("classifier".into(), c);
        }
        provenance
    }
}

/// The study's settings as the report records them.
fn settings_of(args: &NoiseArgs, base: &MeasureArgs) -> NoiseSettings {
    NoiseSettings {
        samples: args.samples,
        seeds: args.seeds,
        temperature: base.temperature,
        top_k: base.top_k,
        top_p: base.top_p,
        reply_seed: base.reply_seed,
        masks: args.masks,
        max_pruned: args.max_pruned,
        mask_seed: args.mask_seed,
        per_bucket: base.per_bucket,
        templates: base.templates,
        nouns: base.nouns,
        max_new_tokens: base.max_new_tokens,
        bootstrap: base.bootstrap,
    }
}

/// Perplexity is not studied here: keep only the text the windows need, so that each
/// Evaluator does not tokenize the whole corpus again (the windows are the stages' own).
/// 32 characters per token is far more than any tokenizer needs, so the kept windows are unchanged.
fn study_text(first: &Prepared) -> String {
    match first.settings.ppl_max_windows {
        Some(k) => truncate_chars(
            &first.data.utility_text,
            (first.settings.ppl_skip_windows + k + 1)
                .saturating_mul(first.settings.ppl_window)
                .saturating_mul(32),
        ),
        None => first.data.utility_text.clone(),
    }
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => text[..i].to_owned(),
        None => text.to_owned(),
    }
}
