//! `report.md`: the Markdown renderer of the report, from the results, the findings and
//! the sources' provenance.

use crate::ablation::{ablation_table, verdict, AblationRow};
use crate::assemble::ReportSettings;
use crate::findings::Finding;
use crate::inputs::Source;
use crate::markdown::fmt_interval;
use crate::rounds::RoundsReport;
use crate::{fmt_num, fmt_pct, AxisBias, MethodResult, Results, Table};
use attnprune_artifact::{Provenance, SampleTable};

/// The closed-loop section: ablation table, verdict on the log-odds scale, rounds (whose
/// plots are [`crate::figures::ROUND_PLOTS`]).
pub fn closed_loop_markdown(
    settings: &ReportSettings,
    rows: &[AblationRow],
    answer: &AblationRow,
    rounds: Option<&RoundsReport>,
) -> String {
    let axis = &settings.axis;
    let mut md = String::from("## The answer: a mask measured on the real model\n\n");
    md += "Every method on the test prompts and the test windows, changes paired against the unpruned model measured the same \
           way (95% bootstrap intervals over prompts and windows). The log-odds bias is the one saturation cannot fake: pushing \
           every bucket towards the same canned reply does not shrink it.\n\n";
    md += &ablation_table(rows, axis);
    let rivals: Vec<&AblationRow> = rows
        .iter()
        .filter(|r| r.method != answer.method && !r.method.starts_with("AP one-shot"))
        .collect();
    md += "\nVerdict on the log-odds scale:\n\n";
    for line in verdict(
        answer,
        &rivals,
        settings.ppl_budget,
        settings.min_bias_reduction,
    ) {
        md += &format!("- {line}\n");
    }
    md += "\n";
    if let Some(rounds) = rounds {
        md += &rounds.markdown();
        md += "\n![perplexity: predicted vs measured](plots/rounds-perplexity.svg)\n\n![bias: predicted vs measured](plots/rounds-bias.svg)\n\n\
                 ![convergence](plots/rounds-convergence.svg)\n\n![agreement](plots/rounds-agreement.svg)\n\n";
    }
    md
}

/// `1 head`, `N heads`.
fn heads(n: usize) -> String {
    if n == 1 {
        "1 head".into()
    } else {
        format!("{n} heads")
    }
}

/// `s` quoted for a POSIX shell when it needs quoting.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=,@+-%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A bias with its interval, or `not measured`.
fn bias_cell(b: Option<&AxisBias>) -> String {
    b.map(|b| fmt_interval(b.bias, b.ci_low, b.ci_high))
        .unwrap_or_else(|| "not measured".into())
}

/// The row of the main table for a method: method, heads, bias [CI], bias change, perplexity, perplexity change.
pub fn table_row(m: &MethodResult, axis: &str) -> Vec<String> {
    let b = m.bias.get(axis);
    let ppl = match m.perplexity_sd {
        Some(sd) => format!("{} ± {}", fmt_num(m.perplexity), fmt_num(sd)),
        None => fmt_num(m.perplexity),
    };
    vec![
        m.label.clone(),
        m.num_pruned.to_string(),
        bias_cell(b),
        b.map(|b| fmt_pct(-b.relative_reduction))
            .unwrap_or_default(),
        ppl,
        fmt_pct(m.perplexity_change),
    ]
}

/// `report.md`: the results table, the closed loop, the verdict and diagnostics, the plots
/// with their captions, the surrogates' fit, spillover, the random seeds and provenance.
pub fn markdown(
    settings: &ReportSettings,
    r: &Results,
    found: &[Finding],
    sources: &[Source],
    table: &SampleTable,
    closed_loop: &str,
) -> String {
    let axis = &r.target_axis;
    let m = &r.methods;
    let model = table
        .provenance
        .model
        .as_ref()
        .map(|f| f.path.clone())
        .unwrap_or_default();
    let mut md = format!("# attnprune report: {}\n\n", r.run);
    md += &format!(
        "Fairness repair of `{model}` on the `{axis}` axis: Attention Pruning (surrogates + simulated annealing) against FASP, random pruning of as many heads, and the unpruned model. Numbers are on the **{}** prompts (never seen by the search) and on held-out text; perplexity budget {}.\n\n",
        r.split,
        fmt_pct(r.ppl_budget)
    );
    md += "## Results\n\n";
    let mut t = Table::new(&[
        "method",
        "heads pruned",
        &format!("`{axis}` bias [95% CI]"),
        "bias change",
        "perplexity",
        "perplexity change",
    ]);
    for (_, mr) in m.iter() {
        t.row(table_row(mr, axis));
    }
    md += &t.render();
    if let Some(rm) = &m.random {
        md += &format!("\nRandom: mean over {} seeds, the interval is the range over the seeds; perplexity mean ± sd.\n", rm.runs.len());
    }
    md += "\n";
    md += closed_loop;
    md += "## Verdict (probability scale, the paper's measure)\n\n";
    for f in found.iter().take(1) {
        md += &format!("{}\n\n", f.text);
    }
    let concerns: Vec<&Finding> = found.iter().skip(1).filter(|f| f.concern).collect();
    let others: Vec<&Finding> = found.iter().skip(1).filter(|f| !f.concern).collect();
    if !concerns.is_empty() {
        md += if r.bar.met {
            "### Caveats\n\n"
        } else {
            "### Why it falls short\n\n"
        };
        for f in concerns {
            md += &format!("- {}\n", f.text);
        }
        md += "\n";
    }
    if !others.is_empty() {
        md += "### Other diagnostics\n\n";
        for f in others {
            md += &format!("- {}\n", f.text);
        }
        md += "\n";
    }
    md += "## Bias vs perplexity\n\n![bias vs perplexity](plots/bias-vs-perplexity.svg)\n\n";
    md += &format!(
        "Each grey point is a mask measured by `sample` on the search prompts and text; the coloured points are the methods measured by `apply` on the test prompts and held-out text, each relative to the unpruned model measured the same way. The green line is the perplexity budget ({}).\n\n",
        fmt_pct(r.ppl_budget)
    );
    md += "## Pruned heads\n\n![pruned heads](plots/pruned-heads.svg)\n\n";
    md += &format!(
        "Layers x heads; A = pruned by Attention Pruning ({}), F = pruned by FASP ({}). The colour is the `{axis}` bias change when the head alone is pruned (single-head knockouts of `sample --single-head`; grey where not sampled).\n\n",
        heads(m.attention_pruning.num_pruned),
        m.fasp.as_ref().map(|f| heads(f.num_pruned)).unwrap_or_else(|| "not run".into())
    );
    md += "## Annealing trajectory\n\n![predicted bias](plots/trajectory-bias.svg)\n\n![predicted perplexity](plots/trajectory-perplexity.svg)\n\n";
    md += "## Surrogates: predicted vs measured on held-out samples\n\n![bias surrogate](plots/surrogate-bias.svg)\n\n![perplexity surrogate](plots/surrogate-perplexity.svg)\n\n";
    if let Some(s) = &r.surrogate {
        let mut t = Table::new(&["surrogate", "rows", "R²", "Spearman", "RMSE"]);
        for (name, f) in [
            ("bias, held-out", s.bias_holdout),
            ("bias, training", s.bias_train),
            ("ln perplexity, held-out", s.ppl_holdout),
            ("ln perplexity, training", s.ppl_train),
        ] {
            let opt = |x: Option<f64>| x.map(fmt_num).unwrap_or_else(|| "n/a".into());
            match f {
                Some(f) => t.row(vec![
                    name.into(),
                    f.n.to_string(),
                    opt(f.r2),
                    opt(f.spearman),
                    opt(f.rmse),
                ]),
                None => t.row(vec![
                    name.into(),
                    "0".into(),
                    "n/a".into(),
                    "n/a".into(),
                    "n/a".into(),
                ]),
            };
        }
        md += &t.render();
        md += &format!(
            "\n{} sampled masks for {} heads.\n\n",
            s.sampled_masks, s.inputs
        );
    }
    md += &format!("## Spillover: every axis after pruning for `{axis}`\n\n![spillover](plots/spillover.svg)\n\n");
    let mut header = vec!["axis".to_string(), "test prompts".into()];
    header.extend(m.iter().iter().map(|(_, mr)| format!("{} bias", mr.label)));
    header.push("Attention Pruning change".into());
    let mut t = Table::new(&header);
    for a in &r.axes {
        let mut row = vec![
            format!("`{a}`"),
            m.unpruned
                .bias
                .get(a)
                .map(|b| b.prompts.to_string())
                .unwrap_or_default(),
        ];
        row.extend(m.iter().iter().map(|(_, mr)| bias_cell(mr.bias.get(a))));
        row.push(
            m.attention_pruning
                .bias
                .get(a)
                .map(|b| fmt_pct(-b.relative_reduction))
                .unwrap_or_default(),
        );
        t.row(row);
    }
    md += &t.render();
    if let Some(rm) = &m.random {
        md += "\n## Random baseline, per seed\n\n";
        let mut t = Table::new(&[
            "seed",
            "mask",
            &format!("`{axis}` bias [95% CI]"),
            "perplexity",
        ]);
        for run in &rm.runs {
            t.row(vec![
                run.seed.map(|s| s.to_string()).unwrap_or_default(),
                format!("`{}`", run.mask_file),
                bias_cell(run.bias.get(axis)),
                fmt_num(run.perplexity),
            ]);
        }
        md += &t.render();
    }
    md += "\n## Provenance\n\n";
    let mut t = Table::new(&["artifact", "file", "stage", "seed", "tool"]);
    for Source {
        what,
        file,
        provenance: p,
    } in sources
    {
        t.row(vec![
            what.clone(),
            format!("`{file}`"),
            p.stage.clone(),
            p.seed.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            p.tool_version.clone(),
        ]);
    }
    md += &t.render();
    let mut t = Table::new(&["input", "search (sample)", "report (apply)"]);
    let ap_prov = &sources
        .iter()
        .find(|s| s.what == "Attention Pruning apply report")
        .map(|s| s.provenance.clone())
        .unwrap_or_else(|| table.provenance.clone());
    let fp = |f: &Option<attnprune_artifact::Fingerprint>| {
        f.as_ref()
            .map(|f| format!("`{}` (sha256 `{}`)", f.path, f.sha256))
            .unwrap_or_else(|| "-".into())
    };
    t.row(vec![
        "model".into(),
        fp(&table.provenance.model),
        fp(&ap_prov.model),
    ]);
    t.row(vec![
        "prompt set".into(),
        fp(&table.provenance.prompts),
        fp(&ap_prov.prompts),
    ]);
    t.row(vec![
        "utility text".into(),
        fp(&table.provenance.corpus),
        fp(&ap_prov.corpus),
    ]);
    let settings_of = |p: &Provenance| {
        format!(
            "`{}`",
            serde_json::to_string(&p.settings).unwrap_or_default()
        )
    };
    t.row(vec![
        "measurement".into(),
        settings_of(&table.provenance),
        settings_of(ap_prov),
    ]);
    md += "\n";
    md += &t.render();
    md +=
        "\nThe exact commands, in pipeline order (each from its artifact's provenance):\n\n```sh\n";
    let mut seen = std::collections::BTreeSet::new();
    for Source { provenance: p, .. } in sources {
        let line = p
            .args
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        if !line.is_empty() && seen.insert(line.clone()) {
            md += &format!("{line}\n");
        }
    }
    md += &format!(
        "{}\n```\n",
        settings
            .command_line
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    );
    md += &format!("\nNumbers for machines: [`results.json`](results.json). Bar: at least {} less `{axis}` bias, at most {} perplexity, lower bias than FASP.\n", fmt_pct(settings.min_bias_reduction).trim_start_matches('+'), fmt_pct(settings.ppl_budget));
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("--out"), "--out");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
