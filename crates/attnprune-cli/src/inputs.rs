//! The shared stage options and the evaluator's preparation live in
//! `attnprune_eval::prepare`; this module adds the provenance record a stage writes.

use attnprune_artifact::Provenance;
pub use attnprune_eval::prepare::{
    model_fingerprint, prepare, selection, settings_map, DesignArg, MeasureArgs, ModelArgs,
    PplSplitArg, Prepared,
};
use attnprune_lm::{AttentionOp, LanguageModel, ModelFiles, Precision};
use burn::tensor::backend::Backend;

/// A provenance record filled with the prepared inputs.
pub fn provenance_for(
    kind: &str,
    version: u32,
    stage: &str,
    prepared: &Prepared,
    measure: &MeasureArgs,
) -> Provenance {
    let mut p = Provenance::new(kind, version, stage, crate::common::command_line());
    p.model = Some(prepared.model.clone());
    p.layout = Some(prepared.model_files.config.head_layout());
    p.prompts = Some(prepared.prompts.clone());
    p.corpus = Some(prepared.corpus.clone());
    p.settings = settings_map(measure);
    if prepared.precision != Precision::F32 {
        // Only when not f32, so tables made before the option keep their provenance.
        p.settings.insert(
            "precision".into(),
            serde_json::json!(prepared.precision.to_string()),
        );
    }
    if prepared.attention != AttentionOp::Auto {
        p.settings.insert(
            "attention".into(),
            serde_json::json!(prepared.attention.to_string()),
        );
    }
    if !prepared.gpu_kernels {
        p.settings
            .insert("gpu_kernels".into(), serde_json::json!(false));
    }
    if let Some(record) = &prepared.classifier {
        p.settings.insert("classifier".into(), record.clone());
    }
    p
}

/// A stage's model on `device`, computing as `--precision`, `--attention` and
/// `--gpu-kernels` ask.
pub fn load_model<B: Backend>(
    files: ModelFiles,
    precision: Precision,
    attention: AttentionOp,
    gpu_kernels: bool,
    device: &B::Device,
) -> anyhow::Result<LanguageModel<B>> {
    Ok(
        LanguageModel::<B>::from_files(files, device)?.configured(
            precision,
            attention,
            gpu_kernels,
        ),
    )
}
