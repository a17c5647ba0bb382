//! Chat templates: the model's own Jinja template rendered with `minijinja` under the same
//! conventions `transformers`' `apply_chat_template` uses.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::TokenizerError;
use crate::pyjson::tojson_filter;

/// A plain ChatML template (no default system prompt), used by the tiny test tokenizer.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}\
{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\
{% endfor %}\
{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`...
    pub role: String,
    /// The text of the turn.
    pub content: String,
}

impl ChatMessage {
    /// Convenience constructor.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A Jinja chat template plus the BOS/EOS strings it may reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    source: String,
    bos: Option<String>,
    eos: Option<String>,
}

impl ChatTemplate {
    /// Wraps a template source; it is compiled (and checked) on each [`Self::render`].
    pub fn new(source: String, bos: Option<String>, eos: Option<String>) -> Self {
        Self { source, bos, eos }
    }

    /// The Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The `bos_token` string passed to the template.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos.as_deref()
    }

    /// The `eos_token` string passed to the template.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos.as_deref()
    }

    /// Renders `messages` exactly like `apply_chat_template(messages, tokenize=False,
    /// add_generation_prompt=...)`: `trim_blocks`, `lstrip_blocks`, Python string methods,
    /// `raise_exception` and Python-style `tojson`.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, TokenizerError> {
        let env = hf_environment();
        let template = env.template_from_str(&self.source)?;
        let ctx = minijinja::context! {
            messages => Value::from_serialize(messages),
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos.as_deref().map_or(Value::UNDEFINED, Value::from),
            eos_token => self.eos.as_deref().map_or(Value::UNDEFINED, Value::from),
        };
        Ok(template.render(ctx)?)
    }
}

/// A minijinja environment configured like `transformers`' sandboxed Jinja environment.
fn hf_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    env.add_filter("tojson", tojson_filter);
    env
}

/// `raise_exception(msg)`: templates use it to reject invalid conversations.
fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn msgs(pairs: &[(&str, &str)]) -> Vec<ChatMessage> {
        pairs
            .iter()
            .map(|(r, c)| ChatMessage::new(*r, *c))
            .collect()
    }

    #[test]
    fn chatml_renders() {
        let t = ChatTemplate::new(CHATML_TEMPLATE.to_owned(), None, None);
        let out = t.render(&msgs(&[("user", "Hi")]), true);
        assert_eq!(
            out.ok().as_deref(),
            Some("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        );
    }

    #[test]
    fn python_methods_blocks_and_exceptions() {
        let src = "{{ bos_token }}\n{% for m in messages %}\n  {% if m.role not in ['user'] %}{{ raise_exception('bad role ' + m.role) }}{% endif %}\n{{ m.content.strip().upper() }}{% if not loop.last %}|{% endif %}\n{% endfor %}";
        let t = ChatTemplate::new(src.to_owned(), Some("<s>".to_owned()), None);
        let ok = t.render(&msgs(&[("user", " a "), ("user", "b")]), false);
        assert_eq!(ok.ok().as_deref(), Some("<s>\nA|B"));
        let err = t
            .render(&msgs(&[("tool", "x")]), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad role tool"), "{err}");
    }

    #[test]
    fn syntax_error_is_reported() {
        let t = ChatTemplate::new("{% for %}".to_owned(), None, None);
        assert!(matches!(
            t.render(&[], false),
            Err(TokenizerError::Template(_))
        ));
    }
}
