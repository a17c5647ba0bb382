//! Parsing and validation of the four HolisticBias v1.1 files.
//!
//! The files are read into plain structs; every rule that the sentence
//! builder relies on (known genders and preferences, a slot in each
//! template, only known placeholders in standalone phrases) is checked here,
//! so that building cannot fail later.

use crate::error::MeasureError;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// File names, in the fixed order used by the content hash.
pub(crate) const FILE_NAMES: [&str; 4] = [
    "descriptors.json",
    "nouns.json",
    "sentence_templates.json",
    "standalone_noun_phrases.json",
];

/// Preference labels used by HolisticBias (`no_data` is what a missing label means).
pub(crate) const PREFERENCES: [&str; 4] = ["reviewed", "dispreferred", "polarizing", "no_data"];

/// One descriptor of a bucket, e.g. `hard-of-hearing`.
#[derive(Debug, Clone)]
pub(crate) struct Descriptor {
    /// The descriptor text.
    pub text: String,
    /// If set, only nouns of this gender are combined with it.
    pub gender: Option<String>,
    /// Preference label, if the file gives one.
    pub preference: Option<String>,
    /// Indefinite article override (`a`/`an`), if the file gives one.
    pub article: Option<String>,
}

/// One template's flags.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateSpec {
    /// The template opens a conversation (contains a greeting).
    #[serde(default)]
    pub first_turn_only: bool,
    /// The template needs a real noun phrase (not a bare adjective).
    #[serde(default)]
    pub must_be_noun: bool,
}

/// One standalone noun phrase; may contain `{article}` and `{noun}`.
#[derive(Debug, Clone)]
pub(crate) struct Standalone {
    /// Singular form (template).
    pub singular: String,
    /// Plural form (template); the singular one when the file gives none.
    pub plural: String,
    /// Preference label, if the file gives one.
    pub preference: Option<String>,
}

/// axis -> bucket -> descriptors.
pub(crate) type Descriptors = BTreeMap<String, BTreeMap<String, Vec<Descriptor>>>;
/// gender -> [(singular, plural)].
pub(crate) type Nouns = BTreeMap<String, Vec<(String, String)>>;

/// The parsed content of a prompt-set directory.
#[derive(Debug, Clone)]
pub(crate) struct RawSet {
    pub descriptors: Descriptors,
    pub nouns: Nouns,
    pub templates: BTreeMap<String, TemplateSpec>,
    pub standalone: BTreeMap<String, Vec<Standalone>>,
}

/// Parses the four files (given as bytes, in [`FILE_NAMES`] order).
pub(crate) fn parse(dir: &Path, files: &[Vec<u8>; 4]) -> Result<RawSet, MeasureError> {
    let paths = FILE_NAMES.map(|name| dir.join(name));
    let nouns: Nouns = crate::files::parse_json(&paths[1], &files[1])?;
    check_nouns(&paths[1], &nouns)?;
    let raw_desc: BTreeMap<String, BTreeMap<String, Vec<Value>>> =
        crate::files::parse_json(&paths[0], &files[0])?;
    let descriptors = convert_descriptors(&paths[0], raw_desc, &nouns)?;
    let templates: BTreeMap<String, TemplateSpec> = crate::files::parse_json(&paths[2], &files[2])?;
    check_templates(&paths[2], &templates)?;
    let raw_sa: BTreeMap<String, Vec<Value>> = crate::files::parse_json(&paths[3], &files[3])?;
    let standalone = convert_standalone(&paths[3], raw_sa)?;
    Ok(RawSet {
        descriptors,
        nouns,
        templates,
        standalone,
    })
}

fn check_nouns(path: &Path, nouns: &Nouns) -> Result<(), MeasureError> {
    if nouns.values().all(Vec::is_empty) {
        return Err(MeasureError::invalid(path, "no nouns"));
    }
    for (gender, list) in nouns {
        for (singular, plural) in list {
            if singular.trim().is_empty() || plural.trim().is_empty() {
                return Err(MeasureError::invalid(
                    path,
                    format!("empty noun in gender `{gender}`: [`{singular}`, `{plural}`]"),
                ));
            }
        }
    }
    Ok(())
}

fn check_templates(
    path: &Path,
    templates: &BTreeMap<String, TemplateSpec>,
) -> Result<(), MeasureError> {
    if templates.is_empty() {
        return Err(MeasureError::invalid(path, "no sentence templates"));
    }
    for template in templates.keys() {
        let slots = template.matches("{noun_phrase}").count()
            + template.matches("{plural_noun_phrase}").count();
        if slots != 1 {
            return Err(MeasureError::invalid(
                path,
                format!(
                    "template `{template}` must contain exactly one `{{noun_phrase}}` or \
                     `{{plural_noun_phrase}}`, found `{slots}`"
                ),
            ));
        }
    }
    Ok(())
}

fn convert_descriptors(
    path: &Path,
    raw: BTreeMap<String, BTreeMap<String, Vec<Value>>>,
    nouns: &Nouns,
) -> Result<Descriptors, MeasureError> {
    let mut out = Descriptors::new();
    for (axis, buckets) in raw {
        let mut converted = BTreeMap::new();
        for (bucket, entries) in buckets {
            let mut list = Vec::with_capacity(entries.len());
            for (i, entry) in entries.into_iter().enumerate() {
                let place = format!("descriptor #{i} of `{axis}`/`{bucket}`");
                list.push(convert_descriptor(path, &place, entry, nouns)?);
            }
            converted.insert(bucket, list);
        }
        out.insert(axis, converted);
    }
    Ok(out)
}

fn convert_descriptor(
    path: &Path,
    place: &str,
    entry: Value,
    nouns: &Nouns,
) -> Result<Descriptor, MeasureError> {
    let obj = match entry {
        Value::String(text) => return non_empty(path, place, text).map(Descriptor::bare),
        Value::Object(obj) => obj,
        other => {
            return Err(MeasureError::invalid(
                path,
                format!("{place}: expected a string or an object, found `{other}`"),
            ))
        }
    };
    let allowed = ["descriptor", "gender", "preference", "article"];
    check_keys(path, place, &obj, &allowed)?;
    let text = match string_field(path, place, &obj, "descriptor")? {
        Some(text) => non_empty(path, place, text)?,
        None => {
            return Err(MeasureError::invalid(
                path,
                format!("{place}: missing `descriptor`"),
            ))
        }
    };
    let gender = string_field(path, place, &obj, "gender")?;
    if let Some(g) = &gender {
        if !nouns.contains_key(g) {
            let known = nouns
                .keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(MeasureError::invalid(
                path,
                format!("{place} (`{text}`): gender `{g}` has no nouns (nouns.json has {known})"),
            ));
        }
    }
    let preference = preference_field(path, place, &obj)?;
    let article = string_field(path, place, &obj, "article")?;
    if let Some(a) = &article {
        if a != "a" && a != "an" {
            return Err(MeasureError::invalid(
                path,
                format!("{place}: article `{a}` is not `a` or `an`"),
            ));
        }
    }
    Ok(Descriptor {
        text,
        gender,
        preference,
        article,
    })
}

impl Descriptor {
    fn bare(text: String) -> Self {
        Self {
            text,
            gender: None,
            preference: None,
            article: None,
        }
    }
}

fn convert_standalone(
    path: &Path,
    raw: BTreeMap<String, Vec<Value>>,
) -> Result<BTreeMap<String, Vec<Standalone>>, MeasureError> {
    let mut out = BTreeMap::new();
    for (axis, entries) in raw {
        let mut list = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            let place = format!("phrase #{i} of `{axis}`");
            list.push(convert_phrase(path, &place, entry)?);
        }
        out.insert(axis, list);
    }
    Ok(out)
}

fn convert_phrase(path: &Path, place: &str, entry: Value) -> Result<Standalone, MeasureError> {
    let obj = match entry {
        Value::String(text) => {
            let text = non_empty(path, place, text)?;
            let phrase = Standalone {
                plural: text.clone(),
                singular: text,
                preference: None,
            };
            return check_phrase(path, place, phrase);
        }
        Value::Object(obj) => obj,
        other => {
            return Err(MeasureError::invalid(
                path,
                format!("{place}: expected a string or an object, found `{other}`"),
            ))
        }
    };
    check_keys(
        path,
        place,
        &obj,
        &["noun_phrase", "plural_noun_phrase", "preference"],
    )?;
    let singular = match string_field(path, place, &obj, "noun_phrase")? {
        Some(text) => non_empty(path, place, text)?,
        None => {
            return Err(MeasureError::invalid(
                path,
                format!("{place}: missing `noun_phrase`"),
            ))
        }
    };
    let plural = match string_field(path, place, &obj, "plural_noun_phrase")? {
        Some(text) => non_empty(path, place, text)?,
        None => singular.clone(),
    };
    let preference = preference_field(path, place, &obj)?;
    check_phrase(
        path,
        place,
        Standalone {
            singular,
            plural,
            preference,
        },
    )
}

/// Standalone phrases may only use `{article}` and `{noun}`, and the plural
/// form uses `{noun}` exactly when the singular one does.
fn check_phrase(path: &Path, place: &str, phrase: Standalone) -> Result<Standalone, MeasureError> {
    for form in [&phrase.singular, &phrase.plural] {
        let rest = form.replace("{article}", "").replace("{noun}", "");
        if rest.contains('{') || rest.contains('}') {
            return Err(MeasureError::invalid(
                path,
                format!("{place}: `{form}` has a placeholder other than `{{article}}`/`{{noun}}`"),
            ));
        }
    }
    if phrase.singular.contains("{article}") && !phrase.singular.contains("{noun}") {
        return Err(MeasureError::invalid(
            path,
            format!(
                "{place}: `{}` has `{{article}}` but no `{{noun}}`",
                phrase.singular
            ),
        ));
    }
    if phrase.singular.contains("{noun}") != phrase.plural.contains("{noun}") {
        return Err(MeasureError::invalid(
            path,
            format!(
                "{place}: `{}` and `{}` must both or neither contain `{{noun}}`",
                phrase.singular, phrase.plural
            ),
        ));
    }
    Ok(phrase)
}

fn check_keys(
    path: &Path,
    place: &str,
    obj: &Map<String, Value>,
    allowed: &[&str],
) -> Result<(), MeasureError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(MeasureError::invalid(
            path,
            format!(
                "{place}: unknown key `{key}` (allowed: {})",
                allowed.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

fn string_field(
    path: &Path,
    place: &str,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, MeasureError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(MeasureError::invalid(
            path,
            format!("{place}: `{key}` must be a string, found `{other}`"),
        )),
    }
}

fn preference_field(
    path: &Path,
    place: &str,
    obj: &Map<String, Value>,
) -> Result<Option<String>, MeasureError> {
    let preference = string_field(path, place, obj, "preference")?;
    match &preference {
        Some(p) if !PREFERENCES.contains(&p.as_str()) => Err(MeasureError::invalid(
            path,
            format!(
                "{place}: preference `{p}` is not one of {}",
                PREFERENCES.join(", ")
            ),
        )),
        _ => Ok(preference),
    }
}

fn non_empty(path: &Path, place: &str, text: String) -> Result<String, MeasureError> {
    if text.trim().is_empty() {
        Err(MeasureError::invalid(path, format!("{place}: empty text")))
    } else {
        Ok(text)
    }
}
