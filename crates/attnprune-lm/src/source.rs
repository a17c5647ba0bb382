//! Finding and reading a model on disk: a GGUF file, or an HF checkpoint
//! folder (`config.json` + safetensors + `tokenizer.json`).

use crate::config::LlamaConfig;
use crate::gguf_load::{config_from_gguf, weights_from_gguf};
use crate::weights::WeightMap;
use crate::LmError;
use attnprune_gguf::GgufFile;
use attnprune_tokenizer::{GgufVocab, Tokenizer};
use std::path::{Path, PathBuf};

/// The on-disk form of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    /// One llama.cpp GGUF file (weights, config and tokenizer inside).
    Gguf,
    /// An HF checkpoint folder.
    HfDir,
}

/// Everything read from a model's files: config, f32 weights, tokenizer.
#[derive(Debug)]
pub struct ModelFiles {
    /// The path the user gave.
    pub path: PathBuf,
    /// Its format.
    pub format: ModelFormat,
    /// Hyper-parameters.
    pub config: LlamaConfig,
    /// All weights in HF naming, f32.
    pub weights: WeightMap,
    /// The tokenizer (with the chat template when the model has one).
    pub tokenizer: Tokenizer,
}

/// The format of the model at `path`, or an error saying why it is not one.
pub fn detect_format(path: &Path) -> Result<ModelFormat, LmError> {
    let origin = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| LmError::Io {
        path: origin.clone(),
        source,
    })?;
    if meta.is_dir() {
        if path.join("config.json").exists() {
            return Ok(ModelFormat::HfDir);
        }
        return Err(LmError::Format {
            path: origin,
            message: "folder has no `config.json`: not an HF checkpoint".into(),
        });
    }
    Ok(ModelFormat::Gguf)
}

/// The files whose bytes identify the model (hashed for provenance), in a fixed order.
pub fn identity_files(path: &Path) -> Result<Vec<PathBuf>, LmError> {
    match detect_format(path)? {
        ModelFormat::Gguf => Ok(vec![path.to_path_buf()]),
        ModelFormat::HfDir => {
            let origin = path.display().to_string();
            let entries = std::fs::read_dir(path).map_err(|source| LmError::Io {
                path: origin,
                source,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    name.ends_with(".safetensors")
                        || name == "config.json"
                        || name == "tokenizer.json"
                })
                .collect();
            files.sort();
            Ok(files)
        }
    }
}

/// Reads a model from a GGUF file or an HF checkpoint folder.
pub fn read_model_files(path: &Path) -> Result<ModelFiles, LmError> {
    let format = detect_format(path)?;
    let origin = path.display().to_string();
    let (config, weights, tokenizer) = match format {
        ModelFormat::Gguf => {
            let file = GgufFile::open(path).map_err(|e| LmError::Format {
                path: origin.clone(),
                message: e.to_string(),
            })?;
            let config = config_from_gguf(&file, &origin)?;
            let vocab = GgufVocab::from_gguf(&file).map_err(|e| tokenizer_err(&origin, e))?;
            let tokenizer =
                Tokenizer::from_gguf_vocab(&vocab).map_err(|e| tokenizer_err(&origin, e))?;
            (
                config.clone(),
                weights_from_gguf(&file, &config, &origin)?,
                tokenizer,
            )
        }
        ModelFormat::HfDir => {
            let config = LlamaConfig::from_hf_config(&path.join("config.json"))?;
            let tok_config = path.join("tokenizer_config.json");
            let tokenizer = Tokenizer::from_file(
                &path.join("tokenizer.json"),
                tok_config.exists().then_some(tok_config.as_path()),
            )
            .map_err(|e| tokenizer_err(&origin, e))?;
            (config, WeightMap::from_safetensors_dir(path)?, tokenizer)
        }
    };
    Ok(ModelFiles {
        path: path.to_path_buf(),
        format,
        config,
        weights,
        tokenizer,
    })
}

fn tokenizer_err(origin: &str, e: attnprune_tokenizer::TokenizerError) -> LmError {
    LmError::Format {
        path: origin.to_string(),
        message: format!("tokenizer: {e}"),
    }
}
