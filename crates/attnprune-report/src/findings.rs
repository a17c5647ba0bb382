//! The verdict and the diagnostics of a run, written from its numbers.
//!
//! Nothing here is a conclusion fixed in advance: every sentence states the
//! measured numbers, and whether it flags a *concern* (a reason the run may
//! fall short: noisy metric, weak surrogate, few samples, a gap between
//! predicted and measured, no better than chance) follows from thresholds
//! stated in the sentence itself.

use crate::results::{AxisBias, Bar, Fit, Methods, Repeatability, SurrogateSummary};
use crate::{fmt_num, fmt_pct};

/// Held-out R² below this flags the surrogate as weak.
pub const WEAK_R2: f64 = 0.5;
/// Fewer sampled masks per head than this flags the sample as small.
pub const FEW_MASKS_PER_HEAD: f64 = 5.0;
/// A predicted-minus-measured bias reduction larger than this (absolute, 0.15 = 15 points) is a gap.
pub const PREDICTION_GAP: f64 = 0.15;

/// One generated sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The sentence (Markdown).
    pub text: String,
    /// Whether it names a reason the run may fall short of the bar.
    pub concern: bool,
}

fn heads(n: usize) -> String {
    if n == 1 {
        "1 head".into()
    } else {
        format!("{n} heads")
    }
}

fn finding(text: String, concern: bool) -> Finding {
    Finding { text, concern }
}

/// Whether Attention Pruning meets the bar on the target axis.
pub fn evaluate_bar(
    methods: &Methods,
    axis: &str,
    min_bias_reduction: f64,
    max_perplexity_increase: f64,
) -> Bar {
    let ap = &methods.attention_pruning;
    let reduction = ap
        .bias
        .get(axis)
        .map(|b| b.relative_reduction)
        .unwrap_or(f64::NAN);
    let bias_reduction_met = reduction >= min_bias_reduction;
    let perplexity_met = ap.perplexity_change <= max_perplexity_increase;
    let beats_fasp = methods
        .fasp
        .as_ref()
        .map(|f| match (ap.bias.get(axis), f.bias.get(axis)) {
            (Some(a), Some(b)) => a.bias < b.bias,
            _ => false,
        });
    let met = bias_reduction_met && perplexity_met && beats_fasp != Some(false);
    Bar {
        min_bias_reduction,
        max_perplexity_increase,
        bias_reduction_met,
        perplexity_met,
        beats_fasp,
        met,
    }
}

fn yes_no(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "not met"
    }
}

fn overlap(a: &AxisBias, b: &AxisBias) -> bool {
    a.ci_low <= b.ci_high && b.ci_low <= a.ci_high
}

fn fit_text(f: &Option<Fit>) -> String {
    match f {
        Some(f) => format!(
            "R² {} and Spearman {} on {} held-out masks",
            f.r2.map(fmt_num).unwrap_or_else(|| "undefined".into()),
            f.spearman
                .map(fmt_num)
                .unwrap_or_else(|| "undefined".into()),
            f.n
        ),
        None => "no held-out masks to measure it".into(),
    }
}

/// The test-prompt budget that would resolve the bar: bootstrap half-widths shrink as
/// 1/sqrt(prompts), and two intervals of half-width `reduction x bias / 3` leave a change of
/// the bar's size clear of both. Empty when the interval is already that narrow.
fn prompts_to_resolve(unpruned: &AxisBias, reduction: f64, axis: &str) -> String {
    let half = (unpruned.ci_high - unpruned.ci_low) / 2.0;
    let target = reduction * unpruned.bias / 3.0;
    // A NaN target (no bias measured) is not positive either.
    let positive = target.partial_cmp(&0.0) == Some(std::cmp::Ordering::Greater);
    if unpruned.prompts == 0 || !positive || half <= target {
        return String::new();
    }
    let needed = (unpruned.prompts as f64 * (half / target).powi(2)).ceil() as usize;
    format!(
        "; to resolve a change of the bar's size ({}) the half-width must fall to about {} of the bias, which takes about {needed} test prompts of `{axis}` instead of {} (the half-width shrinks as 1/√prompts): a larger `--templates`/`--nouns` (crossed) or `--per-bucket` (random), and as many on the search side",
        fmt_pct(-reduction),
        fmt_pct(reduction / 3.0).trim_start_matches('+'),
        unpruned.prompts,
    )
}

/// How much closer to a bound of [0, 1] the pruned mean score must be (as a share of the
/// unpruned distance) before a lower bias is called saturation.
const SATURATION_SHARE: f64 = 0.5;

/// A lower bias that comes with a mean score pushed toward 0 or 1: bucket means squeezed
/// against a bound cannot differ much whatever the identity, so part of that reduction is
/// saturation (every group answered alike), not a more even treatment.
fn saturation(label: &str, axis: &str, unpruned: &AxisBias, pruned: &AxisBias) -> Option<String> {
    let (u, p) = (unpruned.mean_score?, pruned.mean_score?);
    let room = |x: f64| x.min(1.0 - x);
    if pruned.bias >= unpruned.bias || room(p) >= SATURATION_SHARE * room(u) {
        return None;
    }
    Some(format!(
        "{label}'s mean `{axis}` score moved from {} to {} on the test prompts, {} of the way to the bound at {}: bucket means pressed against a bound cannot differ much whatever the identity, so part of its bias change ({}) is saturation, not a more even treatment.",
        fmt_num(u),
        fmt_num(p),
        fmt_pct(1.0 - room(p) / room(u).max(f64::MIN_POSITIVE)).trim_start_matches('+'),
        if p > 0.5 { 1 } else { 0 },
        fmt_pct(-pruned.relative_reduction),
    ))
}

/// The findings of a run, in report order: verdict, comparisons, noise, surrogate.
pub fn findings(
    methods: &Methods,
    axis: &str,
    bar: &Bar,
    surrogate: Option<&SurrogateSummary>,
    repeat: Option<&Repeatability>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let (u, ap) = (&methods.unpruned, &methods.attention_pruning);
    let (Some(ub), Some(ab)) = (u.bias.get(axis), ap.bias.get(axis)) else {
        out.push(finding(
            format!("The apply reports have no `{axis}` bias: nothing to compare."),
            true,
        ));
        return out;
    };
    let fasp_part = match bar.beats_fasp {
        Some(b) => format!(", lower bias than FASP {}", yes_no(b)),
        None => ", FASP not run".into(),
    };
    out.push(finding(
        format!(
            "**Bar {}.** Attention Pruning ({}) changes the `{axis}` bias on the test prompts by {} ({} → {}) at {} perplexity. The bar is at least {} less bias with at most {} perplexity and a lower bias than FASP: reduction {}, perplexity {}{fasp_part}.",
            if bar.met { "met" } else { "not met" },
            heads(ap.num_pruned),
            fmt_pct(-ab.relative_reduction),
            fmt_num(ub.bias),
            fmt_num(ab.bias),
            fmt_pct(ap.perplexity_change),
            fmt_pct(bar.min_bias_reduction).trim_start_matches('+'),
            fmt_pct(bar.max_perplexity_increase),
            yes_no(bar.bias_reduction_met),
            yes_no(bar.perplexity_met),
        ),
        false,
    ));
    if !bar.perplexity_met {
        out.push(finding(
            format!("Attention Pruning's perplexity on the held-out text is {} the unpruned model's, beyond the {} budget the search was given.", fmt_pct(ap.perplexity_change), fmt_pct(bar.max_perplexity_increase)),
            true,
        ));
    }
    if let Some(f) = &methods.fasp {
        if let Some(fb) = f.bias.get(axis) {
            let within = f.perplexity_change <= bar.max_perplexity_increase;
            out.push(finding(
                format!(
                    "FASP ({}) changes the `{axis}` bias by {} ({}) at {} perplexity{}. Attention Pruning's bias is {} than FASP's by {}; their 95% intervals {}.",
                    heads(f.num_pruned),
                    fmt_pct(-fb.relative_reduction),
                    fmt_num(fb.bias),
                    fmt_pct(f.perplexity_change),
                    if within { "" } else { ", outside the budget on the held-out text" },
                    if ab.bias < fb.bias { "lower" } else { "not lower" },
                    fmt_num((ab.bias - fb.bias).abs()),
                    if overlap(ab, fb) { "overlap, so this many test prompts do not resolve the difference" } else { "do not overlap" },
                ),
                overlap(ab, fb),
            ));
        }
    }
    for m in [Some(ap), methods.fasp.as_ref()].into_iter().flatten() {
        if let Some(text) = m
            .bias
            .get(axis)
            .and_then(|b| saturation(&m.label, axis, ub, b))
        {
            out.push(finding(text, false));
        }
    }
    if let Some(r) = &methods.random {
        if let Some(rb) = r.bias.get(axis) {
            let below_all = ab.bias < rb.ci_low;
            let n = r.runs.len();
            out.push(finding(
                format!(
                    "Random masks pruning the same {} ({n} seeds) change the `{axis}` bias by {} on average (bias {} ± {} sd, range [{}, {}]) at {} perplexity. Attention Pruning's bias {}.",
                    heads(r.num_pruned),
                    fmt_pct(-rb.relative_reduction),
                    fmt_num(rb.bias),
                    fmt_num(rb.sd.unwrap_or(f64::NAN)),
                    fmt_num(rb.ci_low),
                    fmt_num(rb.ci_high),
                    fmt_pct(r.perplexity_change),
                    if below_all {
                        "is below every random mask's: the choice of heads matters, not only their number".to_string()
                    } else {
                        "is not below every random mask's: on these prompts the chosen heads are not distinguishable from as many random ones".to_string()
                    }
                ),
                !below_all,
            ));
        }
    }
    let half = |b: &AxisBias| (b.ci_high - b.ci_low) / 2.0;
    let noisy = overlap(ub, ab);
    out.push(finding(
        format!(
            "Noise of the metric: on {} test prompts of `{axis}` the bootstrap 95% interval of the unpruned bias is [{}, {}] (half-width {}, {} of the bias) and Attention Pruning's is [{}, {}]; the change {} is {} the intervals' half-widths, and the intervals {}.",
            ub.prompts,
            fmt_num(ub.ci_low),
            fmt_num(ub.ci_high),
            fmt_num(half(ub)),
            if ub.bias > 0.0 { fmt_pct(half(ub) / ub.bias).trim_start_matches('+').to_string() } else { "n/a".into() },
            fmt_num(ab.ci_low),
            fmt_num(ab.ci_high),
            fmt_num(ab.bias - ub.bias),
            if (ab.bias - ub.bias).abs() > half(ub) + half(ab) { "larger than the sum of" } else { "within the sum of" },
            if noisy { "overlap: the measured change is within the noise of the metric".to_string() + &prompts_to_resolve(ub, bar.min_bias_reduction, axis) } else { "do not overlap".into() },
        ),
        noisy,
    ));
    if let Some(rep) = repeat {
        out.push(finding(
            format!(
                "Repeatability: the unpruned model was measured {} times (once per apply report); the largest differences are {} in `{axis}` bias and {} in perplexity{}.",
                rep.measurements,
                fmt_num(rep.max_bias_difference),
                fmt_num(rep.max_perplexity_difference),
                if rep.max_bias_difference == 0.0 && rep.max_perplexity_difference == 0.0 { ", so the measurement itself is deterministic and its noise is the choice of prompts and text" } else { "" }
            ),
            ub.bias > 0.0 && rep.max_bias_difference > 0.1 * ub.bias,
        ));
    }
    if let Some(s) = surrogate {
        let per_head = s.sampled_masks as f64 / s.inputs.max(1) as f64;
        let weak = s
            .bias_holdout
            .and_then(|f| f.r2)
            .is_none_or(|r2| r2 < WEAK_R2);
        let mut text = format!(
            "Surrogate: the bias surrogate has {}; the perplexity surrogate has {}. They were fitted on {} sampled masks for {} heads ({} masks per head).",
            fit_text(&s.bias_holdout),
            fit_text(&s.ppl_holdout),
            s.sampled_masks,
            s.inputs,
            fmt_num(per_head),
        );
        if weak {
            text += &format!(" A held-out R² below {WEAK_R2} means the surrogate explains little of the measured bias, so the annealer optimises largely its errors.");
        }
        if per_head < FEW_MASKS_PER_HEAD {
            let needed = (FEW_MASKS_PER_HEAD * s.inputs as f64).ceil() as usize;
            text += &format!(
                " Fewer than {FEW_MASKS_PER_HEAD} masks per head is a small sample for a model of every head's effect: sample more masks (the `*_MASKS` budget; {FEW_MASKS_PER_HEAD} per head is {needed} masks, {} more than this run).",
                needed.saturating_sub(s.sampled_masks)
            );
        }
        out.push(finding(text, weak || per_head < FEW_MASKS_PER_HEAD));
        if let (Some(pb), Some(pp)) = (
            s.ap_predicted_bias_reduction,
            s.ap_predicted_perplexity_change,
        ) {
            let gap = pb - ab.relative_reduction;
            out.push(finding(
                format!(
                    "For the Attention Pruning mask the surrogates predicted {} bias and {} perplexity on the search prompts and text; measured on the test prompts and held-out text: {} and {} (a gap of {} points in bias reduction{}).",
                    fmt_pct(-pb),
                    fmt_pct(pp),
                    fmt_pct(-ab.relative_reduction),
                    fmt_pct(ap.perplexity_change),
                    fmt_num(100.0 * gap),
                    if gap > PREDICTION_GAP { ": the prediction does not carry over, by surrogate error or because the search prompts do not generalise to the test prompts" } else { "" }
                ),
                gap > PREDICTION_GAP,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::results::{MethodResult, RunResult};
    use std::collections::BTreeMap;

    const AXIS: &str = "gender_and_sex";

    fn method(bias: f64, half: f64, base: f64, ppl_change: f64, runs: usize) -> MethodResult {
        let mut axes = BTreeMap::new();
        let relative_reduction = 1.0 - bias / base;
        axes.insert(
            AXIS.to_string(),
            AxisBias {
                bias,
                ci_low: bias - half,
                ci_high: bias + half,
                interval: "bootstrap 95%".into(),
                sd: Some(0.01),
                relative_reduction,
                prompts: 40,
                mean_score: Some(0.5),
            },
        );
        let run = RunResult {
            seed: Some(0),
            mask_file: String::new(),
            report_file: String::new(),
            num_pruned: 5,
            perplexity: 10.0,
            bias: axes.clone(),
        };
        MethodResult {
            label: String::new(),
            num_pruned: 5,
            mask_file: None,
            report_files: vec![],
            perplexity: 10.0 * (1.0 + ppl_change),
            perplexity_sd: None,
            perplexity_change: ppl_change,
            bias: axes,
            runs: vec![run; runs],
        }
    }

    fn summary(r2: f64) -> SurrogateSummary {
        let fit = Some(Fit {
            n: 20,
            r2: Some(r2),
            spearman: Some(0.8),
            rmse: Some(0.01),
        });
        SurrogateSummary {
            sampled_masks: 400,
            inputs: 40,
            bias_holdout: fit,
            bias_train: fit,
            ppl_holdout: fit,
            ppl_train: fit,
            ap_predicted_bias_reduction: Some(0.6),
            ap_predicted_perplexity_change: Some(0.03),
        }
    }

    #[test]
    fn a_clear_win_meets_the_bar_without_concerns() {
        let m = Methods {
            unpruned: method(1.0, 0.05, 1.0, 0.0, 0),
            attention_pruning: method(0.5, 0.05, 1.0, 0.03, 0),
            fasp: Some(method(0.8, 0.05, 1.0, 0.04, 0)),
            random: Some(method(0.95, 0.02, 1.0, 0.06, 5)),
        };
        let bar = evaluate_bar(&m, AXIS, 0.4, 0.05);
        assert!(
            bar.met && bar.bias_reduction_met && bar.perplexity_met && bar.beats_fasp == Some(true)
        );
        let f = findings(&m, AXIS, &bar, Some(&summary(0.9)), None);
        assert!(f[0].text.starts_with("**Bar met.**"), "{}", f[0].text);
        assert!(
            f[0].text.contains("-50.0%") && f[0].text.contains("+3.0%"),
            "{}",
            f[0].text
        );
        assert!(f.iter().all(|x| !x.concern), "{f:?}");
    }

    #[test]
    fn a_bias_that_fell_by_saturation_is_called_so() {
        let set_mean = |mut m: MethodResult, score: f64| {
            m.bias.get_mut(AXIS).unwrap().mean_score = Some(score);
            m
        };
        let labelled = |mut m: MethodResult, label: &str| {
            m.label = label.into();
            m
        };
        let m = Methods {
            unpruned: set_mean(method(0.3, 0.1, 0.3, 0.0, 0), 0.84),
            // AP: lower bias, mean score about where it was.
            attention_pruning: labelled(
                set_mean(method(0.2, 0.1, 0.3, 0.03, 0), 0.86),
                "Attention Pruning",
            ),
            // FASP: much lower bias, every bucket pushed toward 1.
            fasp: Some(labelled(
                set_mean(method(0.03, 0.01, 0.3, 0.04, 0), 0.97),
                "FASP",
            )),
            random: None,
        };
        let bar = evaluate_bar(&m, AXIS, 0.4, 0.05);
        let f = findings(&m, AXIS, &bar, None, None);
        let sat: Vec<&str> = f
            .iter()
            .map(|x| x.text.as_str())
            .filter(|t| t.contains("saturation"))
            .collect();
        assert_eq!(sat.len(), 1, "{f:?}");
        assert!(
            sat[0].starts_with("FASP's mean")
                && sat[0].contains("0.84")
                && sat[0].contains("0.97")
                && sat[0].contains("bound at 1"),
            "{}",
            sat[0]
        );
    }

    #[test]
    fn a_noisy_run_with_a_weak_surrogate_says_why_it_falls_short() {
        let m = Methods {
            unpruned: method(1.0, 0.3, 1.0, 0.0, 0),
            attention_pruning: method(0.8, 0.3, 1.0, 0.08, 0),
            fasp: Some(method(0.7, 0.3, 1.0, 0.04, 0)),
            random: Some(method(0.78, 0.1, 1.0, 0.06, 5)),
        };
        let bar = evaluate_bar(&m, AXIS, 0.4, 0.05);
        assert!(
            !bar.met
                && !bar.bias_reduction_met
                && !bar.perplexity_met
                && bar.beats_fasp == Some(false)
        );
        let mut s = summary(0.1);
        s.sampled_masks = 60;
        let f = findings(&m, AXIS, &bar, Some(&s), None);
        assert!(f[0].text.starts_with("**Bar not met.**"));
        let concerns: Vec<&str> = f
            .iter()
            .filter(|x| x.concern)
            .map(|x| x.text.as_str())
            .collect();
        assert!(
            concerns
                .iter()
                .any(|t| t.contains("beyond the +5.0% budget")),
            "{concerns:?}"
        );
        assert!(
            concerns
                .iter()
                .any(|t| t.contains("within the noise of the metric")),
            "{concerns:?}"
        );
        // Half-width 0.3 at 40 prompts, target 0.4 x 1.0 / 3: 40 x (0.3 / 0.1333)^2 = 202.5.
        assert!(
            concerns
                .iter()
                .any(|t| t.contains("about 203 test prompts") && t.contains("instead of 40")),
            "{concerns:?}"
        );
        // 60 masks for 40 heads: 5 per head is 200, 140 more.
        assert!(
            concerns.iter().any(|t| t.contains("200 masks, 140 more")),
            "{concerns:?}"
        );
        assert!(
            concerns
                .iter()
                .any(|t| t.contains("below 0.5") && t.contains("Fewer than 5")),
            "{concerns:?}"
        );
        assert!(
            concerns.iter().any(|t| t.contains("not distinguishable")),
            "{concerns:?}"
        );
        assert!(
            concerns.iter().any(|t| t.contains("does not carry over")),
            "{concerns:?}"
        );
    }
}
