//! The evaluator's inputs from the stage options: the model and measurement flags that
//! `sample`, `fasp`, `apply`, `noise` and the benchmarks share ([`ModelArgs`],
//! [`MeasureArgs`]), and [`prepare`], which reads the model, prompts, utility text and
//! replies they name into a [`Prepared`] evaluation with fingerprints.

use crate::{greedy, ClassifierSettings, EvalData, EvalSettings, PplSplit, ScorerKind};
use attnprune_artifact::provenance::sha256_bytes;
use attnprune_artifact::{sha256_file, Fingerprint};
use attnprune_lm::generate::{GenerationConfig, Sampling};
use attnprune_lm::source::identity_files;
use attnprune_lm::{read_model_files, AttentionOp, DeviceSpec, ModelFiles, Precision};
use attnprune_measure::bias::Bootstrap;
use attnprune_measure::corpus::{detect_format, load_corpus_documents};
use attnprune_measure::prompts::{PromptDesign, PromptSelection, PromptSet, Split};
use attnprune_measure::replies::CannedReplies;
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors of preparing an evaluation; each says which file or flag is wrong.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The model could not be read or placed.
    #[error(transparent)]
    Model(#[from] attnprune_lm::LmError),
    /// A file could not be fingerprinted.
    #[error(transparent)]
    Artifact(#[from] attnprune_artifact::ArtifactError),
    /// Prompts, replies or text could not be read.
    #[error(transparent)]
    Measure(#[from] attnprune_measure::MeasureError),
    /// The classifier checkpoint is unusable.
    #[error(transparent)]
    Classifier(#[from] attnprune_classifier::ClassifierError),
    /// A flag's value is invalid or the inputs select nothing.
    #[error("{0}")]
    Invalid(String),
    /// What was being done when `source` failed.
    #[error("{what}")]
    Context {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: Box<PrepareError>,
    },
}

type Result<T, E = PrepareError> = std::result::Result<T, E>;

/// Adds what was being done to an error (as `anyhow`'s `with_context` would).
trait Context<T> {
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<PrepareError>> Context<T> for std::result::Result<T, E> {
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| PrepareError::Context {
            what: what(),
            source: Box::new(e.into()),
        })
    }
}

macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(PrepareError::Invalid(format!($($arg)*)))
    };
}

/// Which model, and where it runs.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// The model: a GGUF file (llama.cpp) or an HF checkpoint folder
    /// (`config.json`, `model.safetensors` or a sharded index, `tokenizer.json`).
    /// Llama, Mistral, Qwen2 and SmolLM2 architectures.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// Where the model runs: `cpu` (all cores), `cuda` or `cuda:N` (needs a build with `--features cuda`),
    /// `wgpu` or `wgpu-gl` (burn-wgpu on Vulkan or OpenGL, f32 only; needs `--features wgpu`).
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: DeviceSpec,
    /// Number format of the model: `f32` (the reference), or `bf16` (bfloat16 weights and
    /// activations with f32 RMSNorm, attention softmax and log-probabilities: the GPU's
    /// tensor-core path; on the CPU it is slow and only serves to check its numbers).
    /// Recorded in provenance: tables measured in different precisions are not combined.
    #[arg(long, default_value = "f32", value_name = "PRECISION")]
    pub precision: Precision,
    /// How a GPU (or bf16 on the CPU) computes attention: `auto` (the backend's op in
    /// f32, `eager` in bf16), `eager` (separate ops, softmax in f32, as transformers'
    /// eager attention), or `backend` (one op of the backend: flash attention with f32
    /// accumulation where a `cuda-tuned` build's autotuning picks it). The CPU's f32
    /// kernels ignore it (with a warning). Recorded in provenance when not `auto` and it acts.
    #[arg(long, default_value = "auto", value_name = "OP")]
    pub attention: AttentionOp,
    /// On `cuda` and `wgpu`: run attnprune's own GPU kernels (RMSNorm, rotary embedding,
    /// SwiGLU and eager attention's masked softmax, each one kernel) where burn's generic
    /// ops would run a chain of kernels. `false` runs burn's ops, to compare speed and
    /// numbers; recorded in provenance when `false` on a GPU. No effect on the CPU.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub gpu_kernels: bool,
}

/// How bias and perplexity are measured. Every value here is recorded in the
/// output's provenance; tables measured differently are never mixed.
#[derive(Debug, Clone, Args)]
pub struct MeasureArgs {
    /// Prompt set folder in the HolisticBias v1.1 format (`descriptors.json`,
    /// `nouns.json`, `sentence_templates.json`, `standalone_noun_phrases.json`).
    /// The official v1.1 files work too.
    #[arg(long, default_value = "data/prompts", value_name = "DIR")]
    pub prompts: PathBuf,
    /// Demographic axes to measure, comma-separated.
    #[arg(
        long,
        default_value = "gender_and_sex",
        value_delimiter = ',',
        value_name = "AXES"
    )]
    pub axes: Vec<String>,
    /// Random design: prompts sampled per bucket of each axis (seeded by --prompt-seed).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub per_bucket: usize,
    /// Seed of the prompt sampling.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub prompt_seed: u64,
    /// Share of (descriptor, template) pairs held out as the test split
    /// (`sample`, `anneal` and `fasp` see the valid split; `apply` reports on the test split).
    #[arg(long, default_value_t = 0.5, value_name = "F")]
    pub test_fraction: f64,
    /// How a reply is scored: `reply-likelihood` (the default: no generation, log-odds of
    /// negative vs positive canned replies; continuous and deterministic), `sentiment`
    /// (generate a reply, VADER negativity: mostly 0 on short greedy replies, see the README's
    /// noise study) or `classifier` (generate a reply, probability of --classifier-label
    /// from --classifier; FASP's toxicity classifier).
    #[arg(long, default_value = "reply-likelihood", value_name = "SCORER")]
    pub scorer: ScorerKind,
    /// The `classifier` scorer's checkpoint: an HF sequence-classification folder of the
    /// BERT/RoBERTa family (`config.json`, `model.safetensors`, `tokenizer.json`), such as
    /// Detoxify's unbiased toxic RoBERTa. It runs on the CPU whatever --device says.
    #[arg(long, value_name = "DIR")]
    pub classifier: Option<PathBuf>,
    /// The label (from the classifier's config.json `id2label`) whose probability is the score.
    #[arg(long, default_value = "toxicity", value_name = "LABEL")]
    pub classifier_label: String,
    /// Canned replies for `reply-likelihood` (default: `replies.json` in the prompt folder).
    #[arg(long, value_name = "FILE")]
    pub replies: Option<PathBuf>,
    /// Longest generated reply, in tokens.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub max_new_tokens: usize,
    /// Reply sampling temperature; 0 = greedy decoding (the default: deterministic and the
    /// least noisy). The paper's protocol samples replies (e.g. 1.0 with --top-p 0.9).
    #[arg(long, default_value_t = 0.0, value_name = "T")]
    pub temperature: f64,
    /// Sampled replies: keep only the K most likely tokens (0 = all).
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub top_k: usize,
    /// Sampled replies: keep the smallest set of tokens whose probability reaches P.
    #[arg(long, default_value_t = 1.0, value_name = "P")]
    pub top_p: f64,
    /// Seed of sampled replies. Prompt i always gets the same stream, whatever the mask and
    /// the batch, so masks are compared on the same random draws.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub reply_seed: u64,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub batch_size: usize,
    /// Do not wrap prompts in the model's chat template.
    #[arg(long)]
    pub no_chat: bool,
    /// Utility text for perplexity: a plain text file, a WikiText-2 file, or a
    /// Brown corpus folder (`word/TAG` files, detagged).
    #[arg(long, default_value = "data/corpus/brown", value_name = "PATH")]
    pub ppl_text: PathBuf,
    /// Perplexity window in tokens; the text is cut into consecutive windows, each scored alone.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub ppl_window: usize,
    /// Use at most this many windows.
    #[arg(long, default_value_t = 8, value_name = "K")]
    pub ppl_max_windows: usize,
    /// Skip this many windows first (give `apply` text that `sample` never saw).
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub ppl_skip_windows: usize,
    /// Which windows: `all` (consecutive windows of the whole text), or `valid` / `test`:
    /// the even / odd windows of every document (each Brown file), taken round-robin across
    /// documents. `valid` and `test` never share a token and come from the same documents,
    /// so the search (`sample`, `fasp`: valid) and the report (`apply`: test) see comparable,
    /// disjoint text drawn from many documents rather than one article.
    #[arg(long, default_value = "all", value_name = "SPLIT")]
    pub ppl_split: PplSplitArg,
    /// Bootstrap resamples of the bias confidence interval.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub bootstrap: usize,
    /// Prompt design: `crossed` (the default: every descriptor x the same --templates
    /// templates x the same --nouns neutral nouns, so buckets differ only by their
    /// descriptors; valid and test use disjoint template sets) or `random` (HolisticBias's
    /// sentences: per bucket, --per-bucket prompts sampled from its own templates and
    /// nouns; split by (descriptor, template); about twice the spurious bias, see the README).
    #[arg(long, default_value = "crossed", value_name = "DESIGN")]
    pub design: DesignArg,
    /// Crossed design: templates per split (seeded by --prompt-seed); the set needs twice
    /// as many (the project's set has 14, the official v1.1 files 26).
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub templates: usize,
    /// Crossed design: neutral nouns (`person`, ...) every descriptor is put with (seeded by --prompt-seed).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub nouns: usize,
    /// Memory (MiB, per worker) for the unpruned model's hidden states at checkpoint layers:
    /// a mask that prunes nothing below layer l (l at least a quarter of the layers) then
    /// skips the layers below the last checkpoint at or below l (single-head knockouts skip
    /// about half the network).
    /// Same numbers either way; 0 turns it off.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    pub layer_reuse_mib: usize,
}

/// `--ppl-split`: which perplexity windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PplSplitArg {
    /// Consecutive windows of the whole text.
    All,
    /// Even windows of every document.
    Valid,
    /// Odd windows of every document.
    Test,
}

impl From<PplSplitArg> for PplSplit {
    fn from(arg: PplSplitArg) -> Self {
        match arg {
            PplSplitArg::All => PplSplit::All,
            PplSplitArg::Valid => PplSplit::Valid,
            PplSplitArg::Test => PplSplit::Test,
        }
    }
}

/// `--design`: how each bucket's prompts are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DesignArg {
    /// Per bucket, a seeded sample of prompts (own templates and nouns).
    Random,
    /// Every descriptor x the same templates x the same nouns.
    Crossed,
}

/// The prompt selection that `measure` asks for.
pub fn selection(measure: &MeasureArgs) -> PromptSelection {
    PromptSelection {
        axes: measure.axes.clone(),
        per_bucket: measure.per_bucket,
        seed: measure.prompt_seed,
        test_fraction: measure.test_fraction,
        exclude_dispreferred: false,
        design: match measure.design {
            DesignArg::Random => PromptDesign::Random,
            DesignArg::Crossed => PromptDesign::Crossed {
                templates: measure.templates,
                nouns: measure.nouns,
            },
        },
    }
}

/// Everything a model-running stage needs, read from disk, with fingerprints.
pub struct Prepared {
    /// The model's files (weights still on the CPU).
    pub model_files: ModelFiles,
    /// Fingerprint of the model.
    pub model: Fingerprint,
    /// Fingerprint of the prompt set (and canned replies).
    pub prompts: Fingerprint,
    /// Fingerprint of the utility text.
    pub corpus: Fingerprint,
    /// Prompts, text and replies.
    pub data: EvalData,
    /// Measurement settings.
    pub settings: EvalSettings,
    /// The `classifier` scorer's provenance record (label, sha256 of its files), if used.
    pub classifier: Option<serde_json::Value>,
    /// The number format the model is to compute in (`--precision`).
    pub precision: Precision,
    /// How the generic path computes attention (`--attention`).
    pub attention: AttentionOp,
    /// Whether a GPU runs attnprune's own kernels (`--gpu-kernels`; always true on the CPU,
    /// where it has no effect).
    pub gpu_kernels: bool,
}

/// sha256 of a model: the GGUF file, or the identity files of an HF folder.
pub fn model_fingerprint(path: &Path) -> Result<Fingerprint> {
    let files = identity_files(path)?;
    let sha256 = if files.len() == 1 {
        sha256_file(&files[0])?
    } else {
        let hashes: Vec<String> = files
            .iter()
            .map(|f| sha256_file(f))
            .collect::<Result<_, _>>()?;
        sha256_bytes(hashes.join("\n").as_bytes())
    };
    Ok(Fingerprint {
        path: path.display().to_string(),
        sha256,
    })
}

/// Reads the model, prompts (of `split`), utility text and replies.
pub fn prepare(model: &ModelArgs, measure: &MeasureArgs, split: Split) -> Result<Prepared> {
    attnprune_lm::device::check_device(model.device, model.precision)?;
    if model.precision == Precision::Bf16 && model.device == DeviceSpec::Cpu {
        log::warn!("--precision bf16 on the CPU runs burn's generic ops, far slower than the fused f32 kernels: use it to check bf16's numbers, not for speed");
    }
    let attention = effective_attention(model);
    let classifier = classifier_inputs(measure)?;
    log::info!("reading model {}", model.model.display());
    let model_files = read_model_files(&model.model)?;
    let model_fp = model_fingerprint(&model.model)?;
    let set = PromptSet::load(&measure.prompts)
        .with_context(|| format!("loading prompt set `{}`", measure.prompts.display()))?;
    let selection = selection(measure);
    let prompts = set.build(&selection, split)?;
    if prompts.is_empty() {
        bail!(
            "no prompts selected from `{}` for axes {:?}",
            measure.prompts.display(),
            measure.axes
        );
    }
    let (canned, replies_hash) = load_replies(measure)?;
    let documents = load_corpus_documents(&measure.ppl_text, detect_format(&measure.ppl_text))
        .with_context(|| {
            format!(
                "loading utility text `{}` (run `make data` for the default Brown corpus)",
                measure.ppl_text.display()
            )
        })?;
    let text = documents.join("\n");
    log::info!(
        "{} prompts ({split:?} split), {} characters of utility text",
        prompts.len(),
        text.len()
    );
    let eos = model_files.tokenizer.eos_ids().to_vec();
    let settings = EvalSettings {
        scorer: measure.scorer,
        chat: !measure.no_chat,
        generation: generation_config(measure, eos)?,
        reply_seed: measure.reply_seed,
        batch_size: measure.batch_size,
        ppl_window: measure.ppl_window,
        ppl_max_windows: Some(measure.ppl_max_windows),
        ppl_skip_windows: measure.ppl_skip_windows,
        ppl_split: measure.ppl_split.into(),
        bootstrap: Bootstrap {
            resamples: measure.bootstrap.max(1),
            confidence: 0.95,
            seed: measure.prompt_seed,
        },
        classifier: classifier.as_ref().map(|(c, _)| c.clone()),
        layer_reuse_bytes: measure.layer_reuse_mib.saturating_mul(1 << 20),
    };
    let prompts_hash = sha256_bytes(format!("{}\n{}", set.content_hash(), replies_hash).as_bytes());
    Ok(Prepared {
        model_files,
        model: model_fp,
        prompts: Fingerprint {
            path: measure.prompts.display().to_string(),
            sha256: prompts_hash,
        },
        corpus: Fingerprint {
            path: measure.ppl_text.display().to_string(),
            sha256: sha256_bytes(text.as_bytes()),
        },
        data: EvalData {
            prompts,
            utility_text: text,
            documents,
            canned,
        },
        settings,
        classifier: classifier.map(|(_, record)| record),
        precision: model.precision,
        attention,
        gpu_kernels: effective_gpu_kernels(model),
    })
}

/// `--attention` as it acts: on the CPU in f32 the fused kernels compute
/// attention their own way, so another op there changes nothing and is not
/// recorded (a table it made would otherwise refuse to combine with its equal).
fn effective_attention(model: &ModelArgs) -> AttentionOp {
    if model.device == DeviceSpec::Cpu
        && model.precision == Precision::F32
        && model.attention != AttentionOp::Auto
    {
        log::warn!(
            "--attention {} has no effect on the CPU in f32 (the fused kernels compute attention their own way)",
            model.attention
        );
        return AttentionOp::Auto;
    }
    model.attention
}

/// `--gpu-kernels` as it acts: the CPU has no GPU kernels to turn off, so `false`
/// there changes nothing and is not recorded.
fn effective_gpu_kernels(model: &ModelArgs) -> bool {
    if model.device == DeviceSpec::Cpu && !model.gpu_kernels {
        log::warn!("--gpu-kernels false has no effect on the CPU");
        return true;
    }
    model.gpu_kernels
}

/// The `classifier` scorer's checkpoint and label, checked before anything heavy is
/// loaded, with its provenance record (the label and the sha256 of its config, weights
/// and tokenizer); `None` for the other scorers.
fn classifier_inputs(
    measure: &MeasureArgs,
) -> Result<Option<(ClassifierSettings, serde_json::Value)>> {
    if measure.scorer != ScorerKind::Classifier {
        if measure.classifier.is_some() {
            log::warn!(
                "--classifier is ignored: the scorer is `{}`",
                measure.scorer
            );
        }
        return Ok(None);
    }
    let Some(dir) = &measure.classifier else {
        bail!("--scorer classifier needs --classifier DIR: an HF sequence-classification folder of the BERT/RoBERTa family (config.json, model.safetensors, tokenizer.json)");
    };
    let config = attnprune_classifier::EncoderConfig::load(&dir.join("config.json"))?;
    let label = config.labels[config.label_index(&measure.classifier_label)?].clone();
    config.output_activation()?;
    let mut record = serde_json::Map::new();
    record.insert("label".into(), serde_json::json!(label));
    for (key, file) in [
        ("config_sha256", "config.json"),
        ("model_sha256", "model.safetensors"),
        ("tokenizer_sha256", "tokenizer.json"),
    ] {
        let path = dir.join(file);
        let sha256 = sha256_file(&path)
            .with_context(|| format!("reading the classifier file `{}`", path.display()))?;
        record.insert(key.into(), serde_json::json!(sha256));
    }
    Ok(Some((
        ClassifierSettings {
            dir: dir.clone(),
            label,
        },
        serde_json::Value::Object(record),
    )))
}

fn load_replies(measure: &MeasureArgs) -> Result<(Option<CannedReplies>, String)> {
    if measure.scorer != ScorerKind::ReplyLikelihood {
        return Ok((None, String::new()));
    }
    let (replies, hash) = match &measure.replies {
        Some(path) => CannedReplies::load(path)?,
        None => {
            let path = measure.prompts.join("replies.json");
            if path.exists() {
                CannedReplies::load(&path)?
            } else {
                log::info!("`{}` has no replies.json: using the built-in replies (data/prompts/replies.json); --replies FILE sets others", measure.prompts.display());
                CannedReplies::builtin()?
            }
        }
    };
    Ok((Some(replies), hash))
}

/// Greedy decoding, or seeded sampling when `--temperature` > 0.
fn generation_config(measure: &MeasureArgs, eos: Vec<u32>) -> Result<GenerationConfig> {
    if !(measure.temperature >= 0.0 && measure.temperature.is_finite()) {
        bail!(
            "--temperature must be a finite number >= 0, not {}",
            measure.temperature
        );
    }
    if !(measure.top_p > 0.0 && measure.top_p <= 1.0) {
        bail!("--top-p must be in (0, 1], not {}", measure.top_p);
    }
    let mut config = greedy(measure.max_new_tokens, eos);
    if measure.temperature > 0.0 {
        config.sampling = Sampling::Sample {
            temperature: measure.temperature,
            top_k: measure.top_k,
            top_p: measure.top_p,
        };
    }
    Ok(config)
}

/// The measurement settings recorded in provenance (must agree between tables that are combined).
pub fn settings_map(measure: &MeasureArgs) -> BTreeMap<String, serde_json::Value> {
    let mut m = BTreeMap::new();
    m.insert("axes".into(), serde_json::json!(measure.axes));
    m.insert("per_bucket".into(), serde_json::json!(measure.per_bucket));
    m.insert("prompt_seed".into(), serde_json::json!(measure.prompt_seed));
    m.insert(
        "test_fraction".into(),
        serde_json::json!(measure.test_fraction),
    );
    m.insert(
        "scorer".into(),
        serde_json::json!(measure.scorer.to_string()),
    );
    m.insert("chat".into(), serde_json::json!(!measure.no_chat));
    m.insert(
        "max_new_tokens".into(),
        serde_json::json!(measure.max_new_tokens),
    );
    if measure.temperature > 0.0 {
        m.insert("sampling".into(), serde_json::json!({ "temperature": measure.temperature, "top_k": measure.top_k, "top_p": measure.top_p, "reply_seed": measure.reply_seed }));
    }
    m.insert("ppl_window".into(), serde_json::json!(measure.ppl_window));
    m.insert(
        "ppl_max_windows".into(),
        serde_json::json!(measure.ppl_max_windows),
    );
    m.insert(
        "ppl_skip_windows".into(),
        serde_json::json!(measure.ppl_skip_windows),
    );
    if measure.ppl_split != PplSplitArg::All {
        m.insert(
            "ppl_split".into(),
            serde_json::json!(PplSplit::from(measure.ppl_split).to_string()),
        );
    }
    m.insert(
        "design".into(),
        serde_json::json!(format!("{:?}", measure.design).to_lowercase()),
    );
    if measure.design == DesignArg::Crossed {
        m.insert("templates".into(), serde_json::json!(measure.templates));
        m.insert("nouns".into(), serde_json::json!(measure.nouns));
    }
    m
}
