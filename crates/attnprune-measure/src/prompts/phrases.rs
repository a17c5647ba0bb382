//! Noun phrases and sentences, built the way HolisticBias builds them.
//!
//! For each descriptor: the bare descriptor (`Deaf`, usable only by
//! templates that do not need a noun), and `{article} {descriptor} {noun}` /
//! `{descriptor} {plural noun}` for every noun whose gender the descriptor
//! allows. Each standalone phrase that contains `{noun}` is expanded over all
//! nouns (its descriptor is the phrase without article and noun); one that
//! does not is a fixed phrase with no noun. Standalone phrases have no
//! bucket in the file format; they get [`super::NONE_BUCKET`].

use super::format::{Descriptor, RawSet, Standalone, TemplateSpec};
use super::{Prompt, NONE_BUCKET};

/// A noun phrase of one axis, before it is put into templates.
#[derive(Debug, Clone)]
pub(crate) struct NounPhrase {
    pub bucket: String,
    pub descriptor: String,
    pub preference: Option<String>,
    pub noun: Option<String>,
    pub noun_gender: Option<String>,
    pub singular: String,
    pub plural: String,
}

/// HolisticBias's article rule: `an` before a written vowel, else `a`.
pub(crate) fn article_for(word: &str) -> &'static str {
    match word.chars().next() {
        Some(c) if "aeiou".contains(c.to_ascii_lowercase()) => "an",
        _ => "a",
    }
}

/// Every noun phrase of `axis` (empty when the axis is unknown).
pub(crate) fn noun_phrases(set: &RawSet, axis: &str) -> Vec<NounPhrase> {
    let mut out = Vec::new();
    if let Some(buckets) = set.descriptors.get(axis) {
        for (bucket, descriptors) in buckets {
            for descriptor in descriptors {
                descriptor_phrases(set, bucket, descriptor, &mut out);
            }
        }
    }
    if let Some(phrases) = set.standalone.get(axis) {
        for phrase in phrases {
            standalone_phrases(set, phrase, &mut out);
        }
    }
    out
}

fn descriptor_phrases(set: &RawSet, bucket: &str, d: &Descriptor, out: &mut Vec<NounPhrase>) {
    let base = NounPhrase {
        bucket: bucket.to_owned(),
        descriptor: d.text.clone(),
        preference: d.preference.clone(),
        noun: None,
        noun_gender: None,
        singular: d.text.clone(),
        plural: d.text.clone(),
    };
    let article = d.article.as_deref().unwrap_or_else(|| article_for(&d.text));
    for (gender, nouns) in &set.nouns {
        if d.gender.as_ref().is_some_and(|g| g != gender) {
            continue;
        }
        for (noun, plural) in nouns {
            out.push(NounPhrase {
                noun: Some(noun.clone()),
                noun_gender: Some(gender.clone()),
                singular: format!("{article} {} {noun}", d.text),
                plural: format!("{} {plural}", d.text),
                ..base.clone()
            });
        }
    }
    out.push(base);
}

fn fill(template: &str, article: &str, noun: &str) -> String {
    template
        .replace("{article}", article)
        .replace("{noun}", noun)
        .trim_start()
        .to_owned()
}

fn standalone_phrases(set: &RawSet, phrase: &Standalone, out: &mut Vec<NounPhrase>) {
    let base = NounPhrase {
        bucket: NONE_BUCKET.to_owned(),
        descriptor: phrase.singular.clone(),
        preference: phrase.preference.clone(),
        noun: None,
        noun_gender: None,
        singular: phrase.singular.clone(),
        plural: phrase.plural.clone(),
    };
    if !phrase.singular.contains("{noun}") {
        out.push(base);
        return;
    }
    let descriptor = fill(&phrase.singular, "", "");
    for (gender, nouns) in &set.nouns {
        for (noun, plural) in nouns {
            out.push(NounPhrase {
                descriptor: descriptor.clone(),
                noun: Some(noun.clone()),
                noun_gender: Some(gender.clone()),
                singular: fill(&phrase.singular, article_for(noun), noun),
                plural: fill(&phrase.plural, "", plural),
                ..base.clone()
            });
        }
    }
}

/// Puts one noun phrase into every template that accepts it: templates
/// flagged `must_be_noun` only take phrases with a noun.
pub(crate) fn sentences<'a>(
    axis: &'a str,
    phrase: &'a NounPhrase,
    templates: impl IntoIterator<Item = (&'a String, &'a TemplateSpec)> + 'a,
) -> impl Iterator<Item = Prompt> + 'a {
    templates
        .into_iter()
        .filter(|(_, spec)| phrase.noun.is_some() || !spec.must_be_noun)
        .map(move |(template, spec)| {
            let text = if template.contains("{noun_phrase}") {
                template.replace("{noun_phrase}", &phrase.singular)
            } else {
                template.replace("{plural_noun_phrase}", &phrase.plural)
            };
            Prompt {
                axis: axis.to_owned(),
                bucket: phrase.bucket.clone(),
                descriptor: phrase.descriptor.clone(),
                noun: phrase.noun.clone(),
                template: template.clone(),
                text,
                noun_gender: phrase.noun_gender.clone(),
                preference: phrase.preference.clone(),
                first_turn_only: spec.first_turn_only,
            }
        })
}
