//! The parts of an HF `tokenizer_config.json` this crate uses: the chat template and the
//! BOS/EOS token strings.

use std::path::Path;

use serde_json::Value;

use crate::error::TokenizerError;

/// File that newer `transformers` versions write the chat template to.
const TEMPLATE_FILE: &str = "chat_template.jinja";

/// Settings read from `tokenizer_config.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TokenizerConfig {
    /// `bos_token` content.
    pub bos_token: Option<String>,
    /// `eos_token` content.
    pub eos_token: Option<String>,
    /// `chat_template`, or the sibling `chat_template.jinja`.
    pub chat_template: Option<String>,
}

impl TokenizerConfig {
    /// Reads `path`; a missing `chat_template` falls back to `chat_template.jinja` beside it.
    pub(crate) fn load(path: &Path) -> Result<Self, TokenizerError> {
        let text = std::fs::read_to_string(path).map_err(TokenizerError::io(path))?;
        let json: Value = serde_json::from_str(&text).map_err(TokenizerError::json(path))?;
        let mut cfg = Self::from_json(&json);
        if cfg.chat_template.is_none() {
            let sibling = path.with_file_name(TEMPLATE_FILE);
            if sibling.is_file() {
                let source =
                    std::fs::read_to_string(&sibling).map_err(TokenizerError::io(&sibling))?;
                cfg.chat_template = Some(source);
            }
        }
        Ok(cfg)
    }

    /// Extracts the settings from parsed JSON, tolerating absent or `null` fields.
    pub(crate) fn from_json(json: &Value) -> Self {
        Self {
            bos_token: token_content(json.get("bos_token")),
            eos_token: token_content(json.get("eos_token")),
            chat_template: template_source(json.get("chat_template")),
        }
    }

    /// Serializes the settings as a minimal `tokenizer_config.json` that `transformers`
    /// can load next to the `tokenizer.json`.
    pub(crate) fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        map.insert("tokenizer_class".into(), "PreTrainedTokenizerFast".into());
        map.insert("clean_up_tokenization_spaces".into(), false.into());
        for (key, value) in [
            ("bos_token", &self.bos_token),
            ("eos_token", &self.eos_token),
            ("chat_template", &self.chat_template),
        ] {
            map.insert(key.into(), value.clone().map_or(Value::Null, Value::String));
        }
        Value::Object(map)
    }
}

/// A special token is either a plain string or an `AddedToken` object with `content`.
fn token_content(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// A chat template is a string, or a list of `{name, template}` (take `default`, else first).
fn template_source(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let named = |name: &str| {
                items
                    .iter()
                    .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
            };
            let chosen = named("default").or_else(|| items.first())?;
            chosen.get("template")?.as_str().map(str::to_owned)
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_string_and_object_tokens() {
        let json = serde_json::json!({
            "bos_token": {"content": "<s>", "lstrip": false},
            "eos_token": "</s>",
            "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}],
        });
        let cfg = TokenizerConfig::from_json(&json);
        assert_eq!(cfg.bos_token.as_deref(), Some("<s>"));
        assert_eq!(cfg.eos_token.as_deref(), Some("</s>"));
        assert_eq!(cfg.chat_template.as_deref(), Some("D"));
        assert_eq!(TokenizerConfig::from_json(&cfg.to_json()), cfg);
    }

    #[test]
    fn null_fields_are_absent() {
        let cfg = TokenizerConfig::from_json(&serde_json::json!({"bos_token": null}));
        assert_eq!(cfg, TokenizerConfig::default());
    }
}
