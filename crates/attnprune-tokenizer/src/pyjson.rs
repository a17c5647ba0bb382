//! A `tojson` filter that formats like Python's `json.dumps(ensure_ascii=False)`, which is
//! what `transformers` installs for chat templates (minijinja's own `tojson` escapes HTML
//! characters and uses different separators, so tool schemas would render differently).

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// The `tojson` filter: `value | tojson` or `value | tojson(indent=4)`.
pub(crate) fn tojson_filter(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    Ok(Value::from_safe_string(to_json(value, indent, 0)?))
}

/// The JSON form of `value` at nesting `depth`.
fn to_json(value: &Value, indent: Option<usize>, depth: usize) -> Result<String, Error> {
    Ok(match value.kind() {
        ValueKind::Undefined | ValueKind::None => "null".to_owned(),
        ValueKind::Bool => value.is_true().to_string(),
        ValueKind::Number => number(value),
        ValueKind::String => quote(value.as_str().unwrap_or_default()),
        ValueKind::Map => container(('{', '}'), &map_items(value, indent, depth)?, indent, depth),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Result<Vec<String>, Error> = value
                .try_iter()?
                .map(|e| to_json(&e, indent, depth + 1))
                .collect();
            container(('[', ']'), &items?, indent, depth)
        }
        other => {
            let msg = format!("cannot serialize a value of kind `{other}` to JSON");
            return Err(Error::new(ErrorKind::InvalidOperation, msg));
        }
    })
}

/// `"key": value` strings of a map, in the map's order.
fn map_items(map: &Value, indent: Option<usize>, depth: usize) -> Result<Vec<String>, Error> {
    map.try_iter()?
        .map(|key| {
            let value = to_json(&map.get_item(&key)?, indent, depth + 1)?;
            Ok(format!("{}: {value}", quote(&key.to_string())))
        })
        .collect()
}

/// Joins already-formatted items the way Python does, with or without indentation.
fn container(
    (open, close): (char, char),
    items: &[String],
    indent: Option<usize>,
    depth: usize,
) -> String {
    let body = match indent {
        _ if items.is_empty() => String::new(),
        None => items.join(", "),
        Some(width) => {
            let inner = format!("\n{}", " ".repeat(width * (depth + 1)));
            let outer = format!("\n{}", " ".repeat(width * depth));
            format!("{inner}{}{outer}", items.join(&format!(",{inner}")))
        }
    };
    format!("{open}{body}{close}")
}

/// Python-style number: integers plainly, floats always with a fraction or exponent.
fn number(value: &Value) -> String {
    if let Some(i) = value.as_i64() {
        return i.to_string();
    }
    match f64::try_from(value.clone()) {
        Ok(f) if f.is_finite() => format!("{f:?}"),
        Ok(f) if f.is_nan() => "NaN".to_owned(),
        Ok(f) => (if f > 0.0 { "Infinity" } else { "-Infinity" }).to_owned(),
        Err(_) => value.to_string(),
    }
}

/// JSON string literal; like Python with `ensure_ascii=False` only `"`, `\` and control
/// characters are escaped.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn render(src: &str, ctx: Value) -> String {
        let mut env = minijinja::Environment::new();
        env.add_filter("tojson", tojson_filter);
        env.render_str(src, ctx)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn compact_matches_python() {
        let src = r#"{{ {'b': [1, 2.5, true, none], 'a': 'é"<'} | tojson }}"#;
        assert_eq!(
            render(src, minijinja::context! {}),
            r#"{"b": [1, 2.5, true, null], "a": "é\"<"}"#
        );
    }

    #[test]
    fn indented_matches_python() {
        let v = Value::from_serialize(serde_json::json!({"a": [1], "e": {}}));
        let expected = "{\n  \"a\": [\n    1\n  ],\n  \"e\": {}\n}";
        assert_eq!(
            render("{{ v | tojson(indent=2) }}", minijinja::context! { v }),
            expected
        );
    }
}
