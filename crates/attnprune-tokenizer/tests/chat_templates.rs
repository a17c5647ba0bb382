//! Chat templates rendered by `minijinja` must match `transformers`' Jinja environment
//! byte for byte. Expected outputs: `tests/data/chat_templates.json`, produced by
//! `tests/data/make_chat_templates.py` with transformers' own template compiler.
#![allow(clippy::unwrap_used)]

use attnprune_tokenizer::{ChatMessage, ChatTemplate};

#[test]
fn templates_render_like_transformers() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/chat_templates.json"
    ))
    .unwrap();
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 16);
    for case in cases {
        let name = case["template"].as_str().unwrap();
        let template = ChatTemplate::new(
            case["source"].as_str().unwrap().to_owned(),
            Some("<s>".into()),
            Some("</s>".into()),
        );
        let messages: Vec<ChatMessage> = serde_json::from_value(case["messages"].clone()).unwrap();
        let agp = case["add_generation_prompt"].as_bool().unwrap();
        let rendered = template.render(&messages, agp);
        match case["error"].as_str() {
            None => assert_eq!(
                rendered.unwrap(),
                case["text"].as_str().unwrap(),
                "{name}, {} messages, agp={agp}",
                messages.len()
            ),
            Some(expected) => {
                let msg = rendered.unwrap_err().to_string();
                assert!(msg.contains(expected), "{name}: `{msg}` lacks `{expected}`");
            }
        }
    }
}
