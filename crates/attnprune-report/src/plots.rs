//! The report's plots, each a standalone SVG document (text).

use crate::svg::{extent, Anchor, Frame, Svg};

/// Colours of the report's methods and of the background points.
pub mod colors {
    /// The unpruned model.
    pub const UNPRUNED: &str = "#333333";
    /// Attention Pruning.
    pub const AP: &str = "#d62728";
    /// FASP.
    pub const FASP: &str = "#1f77b4";
    /// Random masks.
    pub const RANDOM: &str = "#ff7f0e";
    /// Background points (sampled masks).
    pub const SAMPLES: &str = "#9a9a9a";
    /// Cycle for series without a colour.
    pub const CYCLE: [&str; 8] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    ];
}

/// A reference line across the plot at a data value, with a label.
#[derive(Debug, Clone, PartialEq)]
pub struct RefLine {
    /// Where (x for vertical lines, y for horizontal ones).
    pub value: f64,
    /// What it marks.
    pub label: String,
}

/// A highlighted point with a label and optional error bars (absolute low/high).
#[derive(Debug, Clone, PartialEq)]
pub struct Highlight {
    /// Data x.
    pub x: f64,
    /// Data y.
    pub y: f64,
    /// Label (legend, and beside the point when `label_point`).
    pub label: String,
    /// Fill colour.
    pub color: String,
    /// Horizontal error bar.
    pub x_err: Option<(f64, f64)>,
    /// Vertical error bar.
    pub y_err: Option<(f64, f64)>,
    /// Radius in pixels.
    pub radius: f64,
    /// Write the label beside the point (besides the legend).
    pub label_point: bool,
    /// List it in the legend.
    pub in_legend: bool,
}

impl Highlight {
    /// A labelled point in the legend and beside the point, radius 6, no error bars.
    pub fn new(x: f64, y: f64, label: &str, color: &str) -> Self {
        Self {
            x,
            y,
            label: label.into(),
            color: color.into(),
            x_err: None,
            y_err: None,
            radius: 6.0,
            label_point: true,
            in_legend: true,
        }
    }
}

/// A scatter plot: background points, highlighted points, reference lines, optional y = x.
#[derive(Debug, Clone, Default)]
pub struct ScatterPlot {
    /// Title.
    pub title: String,
    /// Horizontal axis label.
    pub x_label: String,
    /// Vertical axis label.
    pub y_label: String,
    /// Background points.
    pub points: Vec<(f64, f64)>,
    /// Legend entry of the background points.
    pub points_label: String,
    /// Highlighted points, drawn on top in order.
    pub highlights: Vec<Highlight>,
    /// Vertical reference lines.
    pub vlines: Vec<RefLine>,
    /// Horizontal reference lines.
    pub hlines: Vec<RefLine>,
    /// Draw the y = x line and use the same range on both axes.
    pub diagonal: bool,
    /// Lines of small text under the title (e.g. R^2 and Spearman).
    pub note: Vec<String>,
}

const LEGEND_W: f64 = 190.0;

/// Colours of reference lines, in order.
const REF_COLORS: [&str; 3] = ["#2ca02c", "#7f7f7f", "#9467bd"];

fn ref_color(i: usize) -> &'static str {
    REF_COLORS[i % REF_COLORS.len()]
}

/// Places a label of `chars` characters near (px, py) where it overlaps no
/// label placed before (greedy over a few offsets; the last one if all collide).
fn place_label(
    placed: &mut Vec<(f64, f64, f64, f64)>,
    (px, py): (f64, f64),
    r: f64,
    chars: usize,
) -> (f64, f64, Anchor) {
    let w = 6.6 * chars as f64;
    let h = 12.0;
    let candidates = [
        (px + r + 3.0, py - r - 2.0, Anchor::Start),
        (px + r + 3.0, py + r + 12.0, Anchor::Start),
        (px - r - 3.0, py - r - 2.0, Anchor::End),
        (px - r - 3.0, py + r + 12.0, Anchor::End),
        (px + r + 3.0, py - r - 16.0, Anchor::Start),
        (px + r + 3.0, py + r + 26.0, Anchor::Start),
        (px - r - 3.0, py - r - 16.0, Anchor::End),
        (px - r - 3.0, py + r + 26.0, Anchor::End),
    ];
    let bbox = |(x, y, a): (f64, f64, Anchor)| {
        let x0 = if a == Anchor::Start { x } else { x - w };
        (x0, y - h, x0 + w, y + 2.0)
    };
    let free = |b: &(f64, f64, f64, f64)| {
        placed
            .iter()
            .all(|p| b.2 <= p.0 || b.0 >= p.2 || b.3 <= p.1 || b.1 >= p.3)
    };
    let choice = candidates
        .iter()
        .copied()
        .find(|c| free(&bbox(*c)))
        .unwrap_or(candidates[0]);
    placed.push(bbox(choice));
    choice
}

fn legend(svg: &mut Svg, frame: &Frame, entries: &[(String, String, bool)]) {
    let x = frame.left + frame.width + 14.0;
    for (i, (label, color, dashed)) in entries.iter().enumerate() {
        let y = frame.top + 8.0 + 18.0 * i as f64;
        if *dashed {
            svg.line((x, y), (x + 16.0, y), color, 1.5, Some("4 3"));
        } else {
            svg.rect(x + 3.0, y - 5.0, 10.0, 10.0, color, "");
        }
        svg.text((x + 22.0, y + 4.0), label, 11.0, Anchor::Start, None, "");
    }
}

/// Renders a [`ScatterPlot`].
pub fn scatter(p: &ScatterPlot) -> String {
    let mut svg = Svg::new(760.0, 480.0 + 14.0 * p.note.len() as f64);
    let hx = p.highlights.iter().flat_map(|h| {
        [Some(h.x), h.x_err.map(|e| e.0), h.x_err.map(|e| e.1)]
            .into_iter()
            .flatten()
    });
    let hy = p.highlights.iter().flat_map(|h| {
        [Some(h.y), h.y_err.map(|e| e.0), h.y_err.map(|e| e.1)]
            .into_iter()
            .flatten()
    });
    let xs: Vec<f64> = p
        .points
        .iter()
        .map(|q| q.0)
        .chain(hx)
        .chain(p.vlines.iter().map(|l| l.value))
        .collect();
    let ys: Vec<f64> = p
        .points
        .iter()
        .map(|q| q.1)
        .chain(hy)
        .chain(p.hlines.iter().map(|l| l.value))
        .collect();
    let (xr, yr) = if p.diagonal {
        let both = extent(xs.iter().chain(&ys).copied());
        (both, both)
    } else {
        (extent(xs), extent(ys))
    };
    let mut frame = Frame::new(&svg, xr, yr, LEGEND_W);
    frame.top += 14.0 * p.note.len() as f64;
    frame.y.r1 = frame.top;
    frame.height = frame.y.r0 - frame.top;
    frame.draw_axes(&mut svg, &p.title, &p.x_label, &p.y_label);
    for (i, line) in p.note.iter().enumerate() {
        svg.text(
            (svg.width() / 2.0, 40.0 + 14.0 * i as f64),
            line,
            11.0,
            Anchor::Middle,
            None,
            r##"fill="#555555""##,
        );
    }
    let mut entries = Vec::new();
    if p.diagonal {
        let (a, b) = (xr.0.max(yr.0), xr.1.min(yr.1));
        svg.line(frame.at(a, a), frame.at(b, b), "#555555", 1.2, Some("5 4"));
        entries.push(("y = x".to_string(), "#555555".to_string(), true));
    }
    for (i, l) in p.vlines.iter().enumerate() {
        let x = frame.x.map(l.value);
        svg.line(
            (x, frame.top),
            (x, frame.top + frame.height),
            ref_color(i),
            1.5,
            Some("6 4"),
        );
        entries.push((l.label.clone(), ref_color(i).into(), true));
    }
    for (i, l) in p.hlines.iter().enumerate() {
        let y = frame.y.map(l.value);
        let c = ref_color(i + p.vlines.len());
        svg.line(
            (frame.left, y),
            (frame.left + frame.width, y),
            c,
            1.5,
            Some("6 4"),
        );
        entries.push((l.label.clone(), c.into(), true));
    }
    for &(x, y) in &p.points {
        svg.circle(frame.at(x, y), 3.0, colors::SAMPLES, "", None);
    }
    if !p.points.is_empty() && !p.points_label.is_empty() {
        entries.push((p.points_label.clone(), colors::SAMPLES.into(), false));
    }
    let mut placed = Vec::new();
    let marker_boxes: Vec<(f64, f64, f64, f64)> = p
        .highlights
        .iter()
        .map(|h| {
            let (px, py) = frame.at(h.x, h.y);
            (px - h.radius, py - h.radius, px + h.radius, py + h.radius)
        })
        .collect();
    placed.extend(marker_boxes);
    for h in &p.highlights {
        let (px, py) = frame.at(h.x, h.y);
        if let Some((lo, hi)) = h.x_err {
            svg.line(
                (frame.x.map(lo), py),
                (frame.x.map(hi), py),
                &h.color,
                1.5,
                None,
            );
        }
        if let Some((lo, hi)) = h.y_err {
            svg.line(
                (px, frame.y.map(lo)),
                (px, frame.y.map(hi)),
                &h.color,
                1.5,
                None,
            );
        }
        svg.circle((px, py), h.radius, &h.color, "#000000", Some(&h.label));
        if h.label_point {
            let (lx, ly, anchor) =
                place_label(&mut placed, (px, py), h.radius, h.label.chars().count());
            svg.text(
                (lx, ly),
                &h.label,
                11.0,
                anchor,
                None,
                r#"font-weight="bold""#,
            );
        }
        if h.in_legend {
            entries.push((h.label.clone(), h.color.clone(), false));
        }
    }
    legend(&mut svg, &frame, &entries);
    svg.finish()
}

/// A layers x heads grid: a value per cell on a diverging colour scale
/// (blue < 0 < red, white at 0) and a short mark per cell (e.g. `A`, `F`).
#[derive(Debug, Clone, Default)]
pub struct Heatmap {
    /// Title.
    pub title: String,
    /// Label of the rows (e.g. `layer`).
    pub row_label: String,
    /// Label of the columns (e.g. `head`).
    pub col_label: String,
    /// `values[row][col]`; NaN cells are grey.
    pub values: Vec<Vec<f64>>,
    /// What the colour shows.
    pub value_label: String,
    /// `marks[row][col]`, empty for none; marked cells get a black outline.
    pub marks: Vec<Vec<String>>,
    /// Legend of the marks: (mark, meaning).
    pub mark_legend: Vec<(String, String)>,
}

/// The diverging colour of `v` on a scale of half-width `max`.
fn diverging(v: f64, max: f64) -> String {
    if !v.is_finite() {
        return "#cccccc".into();
    }
    let t = if max > 0.0 {
        (v / max).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let (r, g, b) = if t < 0.0 {
        let s = -t;
        (
            255.0 - s * (255.0 - 33.0),
            255.0 - s * (255.0 - 102.0),
            255.0 - s * (255.0 - 172.0),
        )
    } else {
        (
            255.0 - t * (255.0 - 178.0),
            255.0 - t * (255.0 - 24.0),
            255.0 - t * (255.0 - 43.0),
        )
    };
    format!(
        "#{:02x}{:02x}{:02x}",
        r.round() as u8,
        g.round() as u8,
        b.round() as u8
    )
}

/// Renders a [`Heatmap`].
pub fn heatmap(h: &Heatmap) -> String {
    let rows = h.values.len();
    let cols = h.values.iter().map(Vec::len).max().unwrap_or(0);
    let cw = (480.0 / cols.max(1) as f64).clamp(14.0, 44.0);
    let ch = (640.0 / rows.max(1) as f64).clamp(12.0, 30.0);
    let (left, top) = (70.0, 56.0);
    let grid_w = cw * cols as f64;
    let grid_h = ch * rows as f64;
    let width = (left + grid_w + 260.0).max(560.0);
    let height = top + grid_h + 60.0 + 18.0 * h.mark_legend.len() as f64;
    let mut svg = Svg::new(width, height.max(220.0));
    svg.text(
        (width / 2.0, 22.0),
        &h.title,
        14.0,
        Anchor::Middle,
        None,
        r#"font-weight="bold""#,
    );
    let max = h
        .values
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    for (r, row) in h.values.iter().enumerate() {
        let y = top + ch * r as f64;
        svg.text(
            (left - 6.0, y + ch / 2.0 + 4.0),
            &r.to_string(),
            10.0,
            Anchor::End,
            None,
            "",
        );
        for (c, &v) in row.iter().enumerate() {
            let x = left + cw * c as f64;
            let mark = h
                .marks
                .get(r)
                .and_then(|m| m.get(c))
                .map(String::as_str)
                .unwrap_or("");
            let outline = if mark.is_empty() {
                r##"stroke="#ffffff" stroke-width="1""##.to_string()
            } else {
                r##"stroke="#000000" stroke-width="2""##.to_string()
            };
            svg.rect(x, y, cw, ch, &diverging(v, max), &outline);
            if !mark.is_empty() {
                svg.text(
                    (x + cw / 2.0, y + ch / 2.0 + 4.0),
                    mark,
                    (ch * 0.55).min(12.0),
                    Anchor::Middle,
                    None,
                    r#"font-weight="bold""#,
                );
            }
        }
    }
    for c in 0..cols {
        svg.text(
            (left + cw * c as f64 + cw / 2.0, top - 6.0),
            &c.to_string(),
            10.0,
            Anchor::Middle,
            None,
            "",
        );
    }
    svg.text(
        (left + grid_w / 2.0, top - 22.0),
        &h.col_label,
        12.0,
        Anchor::Middle,
        None,
        "",
    );
    svg.text(
        (20.0, top + grid_h / 2.0),
        &h.row_label,
        12.0,
        Anchor::Middle,
        Some(-90.0),
        "",
    );
    // Colour scale.
    let lx = left + grid_w + 30.0;
    svg.text(
        (lx, top + 4.0),
        &h.value_label,
        11.0,
        Anchor::Start,
        None,
        "",
    );
    let steps = 11;
    for i in 0..steps {
        let v = max * (1.0 - 2.0 * i as f64 / (steps - 1) as f64);
        svg.rect(
            lx,
            top + 12.0 + 14.0 * i as f64,
            18.0,
            14.0,
            &diverging(v, max),
            "",
        );
        if i == 0 || i == steps - 1 || i == steps / 2 {
            svg.text(
                (lx + 24.0, top + 23.0 + 14.0 * i as f64),
                &crate::fmt_num(v),
                10.0,
                Anchor::Start,
                None,
                "",
            );
        }
    }
    for (i, (mark, meaning)) in h.mark_legend.iter().enumerate() {
        let y = top + 12.0 + 14.0 * steps as f64 + 24.0 + 18.0 * i as f64;
        svg.rect(
            lx,
            y - 11.0,
            18.0,
            14.0,
            "#ffffff",
            r##"stroke="#000000" stroke-width="2""##,
        );
        svg.text(
            (lx + 9.0, y),
            mark,
            9.0,
            Anchor::Middle,
            None,
            r#"font-weight="bold""#,
        );
        svg.text((lx + 24.0, y), meaning, 11.0, Anchor::Start, None, "");
    }
    svg.finish()
}

/// One line of a [`LinePlot`].
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Colour (from [`colors::CYCLE`] when `None`).
    pub color: Option<String>,
    /// Points in x order.
    pub points: Vec<(f64, f64)>,
}

/// A line plot of several series with horizontal reference lines.
#[derive(Debug, Clone, Default)]
pub struct LinePlot {
    /// Title.
    pub title: String,
    /// Horizontal axis label.
    pub x_label: String,
    /// Vertical axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Horizontal reference lines.
    pub hlines: Vec<RefLine>,
}

/// Renders a [`LinePlot`].
pub fn lines(p: &LinePlot) -> String {
    let mut svg = Svg::new(760.0, 440.0);
    let xs = extent(p.series.iter().flat_map(|s| s.points.iter().map(|q| q.0)));
    let ys = extent(
        p.series
            .iter()
            .flat_map(|s| s.points.iter().map(|q| q.1))
            .chain(p.hlines.iter().map(|l| l.value)),
    );
    let frame = Frame::new(&svg, xs, ys, LEGEND_W);
    frame.draw_axes(&mut svg, &p.title, &p.x_label, &p.y_label);
    let mut entries = Vec::new();
    for (i, l) in p.hlines.iter().enumerate() {
        let y = frame.y.map(l.value);
        svg.line(
            (frame.left, y),
            (frame.left + frame.width, y),
            ref_color(i),
            1.5,
            Some("6 4"),
        );
        entries.push((l.label.clone(), ref_color(i).to_string(), true));
    }
    for (i, s) in p.series.iter().enumerate() {
        let color = s
            .color
            .clone()
            .unwrap_or_else(|| colors::CYCLE[i % colors::CYCLE.len()].to_string());
        let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| frame.at(x, y)).collect();
        svg.polyline(&pts, &color, 1.4);
        if s.points.len() == 1 {
            svg.circle(pts[0], 2.5, &color, "", None);
        }
        entries.push((s.name.clone(), color, false));
    }
    legend(&mut svg, &frame, &entries);
    svg.finish()
}

/// One series of a [`BarPlot`]: a value per group, with optional error bars.
#[derive(Debug, Clone, Default)]
pub struct BarSeries {
    /// Legend name.
    pub name: String,
    /// Fill colour.
    pub color: String,
    /// One value per group (NaN: no bar).
    pub values: Vec<f64>,
    /// Error bars per group (absolute low, high).
    pub errors: Vec<Option<(f64, f64)>>,
}

/// Grouped bars: one group per category, one bar per series.
#[derive(Debug, Clone, Default)]
pub struct BarPlot {
    /// Title.
    pub title: String,
    /// Vertical axis label.
    pub y_label: String,
    /// Horizontal axis label.
    pub x_label: String,
    /// Group names.
    pub groups: Vec<String>,
    /// The series.
    pub series: Vec<BarSeries>,
}

/// Renders a [`BarPlot`].
pub fn grouped_bars(p: &BarPlot) -> String {
    let mut svg = Svg::new(
        (200.0 + 110.0 * p.groups.len() as f64).max(640.0) + LEGEND_W,
        460.0,
    );
    let vals = p.series.iter().flat_map(|s| {
        s.values
            .iter()
            .copied()
            .chain(s.errors.iter().flatten().flat_map(|e| [e.0, e.1]))
    });
    let (lo, hi) = extent(vals.chain([0.0]));
    let (lo, hi) = (if lo >= 0.0 { 0.0 } else { lo }, hi);
    let mut frame = Frame::new(
        &svg,
        (0.0, p.groups.len().max(1) as f64),
        (lo, hi),
        LEGEND_W,
    );
    frame.height -= 24.0;
    frame.y.r0 = frame.top + frame.height;
    frame.draw_axes_without_x_ticks(&mut svg, &p.title, "", &p.y_label);
    svg.text(
        (
            frame.left + frame.width / 2.0,
            frame.top + frame.height + 40.0,
        ),
        &p.x_label,
        12.0,
        Anchor::Middle,
        None,
        "",
    );
    let n = p.series.len().max(1) as f64;
    let group_w = frame.width / p.groups.len().max(1) as f64;
    let bar_w = group_w * 0.8 / n;
    let zero = frame.y.map(0.0);
    for (g, name) in p.groups.iter().enumerate() {
        let gx = frame.left + group_w * g as f64;
        svg.text(
            (gx + group_w / 2.0, frame.top + frame.height + 16.0),
            name,
            10.0,
            Anchor::Middle,
            None,
            "",
        );
        for (k, s) in p.series.iter().enumerate() {
            let v = s.values.get(g).copied().unwrap_or(f64::NAN);
            if !v.is_finite() {
                continue;
            }
            let x = gx + group_w * 0.1 + bar_w * k as f64;
            let y = frame.y.map(v);
            svg.rect(x, y.min(zero), bar_w * 0.92, (zero - y).abs(), &s.color, "");
            if let Some(Some((a, b))) = s.errors.get(g) {
                let cx = x + bar_w * 0.46;
                svg.line(
                    (cx, frame.y.map(*a)),
                    (cx, frame.y.map(*b)),
                    "#000000",
                    1.2,
                    None,
                );
                for e in [a, b] {
                    svg.line(
                        (cx - 3.0, frame.y.map(*e)),
                        (cx + 3.0, frame.y.map(*e)),
                        "#000000",
                        1.2,
                        None,
                    );
                }
            }
        }
    }
    let entries: Vec<(String, String, bool)> = p
        .series
        .iter()
        .map(|s| (s.name.clone(), s.color.clone(), false))
        .collect();
    legend(&mut svg, &frame, &entries);
    svg.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::svg::check_well_formed;

    fn count(svg: &str, tag: &str) -> usize {
        svg.matches(&format!("<{tag} ")).count() + svg.matches(&format!("<{tag}>")).count()
    }

    #[test]
    fn scatter_draws_every_point_highlight_and_label() {
        let mut h = Highlight::new(0.5, -0.4, "Attention Pruning", colors::AP);
        h.y_err = Some((-0.6, -0.2));
        let p = ScatterPlot {
            title: "bias vs perplexity".into(),
            x_label: "perplexity change (%)".into(),
            y_label: "bias change (%)".into(),
            points: (0..20).map(|i| (i as f64, (i * i) as f64 * 1e-8)).collect(),
            points_label: "sampled masks".into(),
            highlights: vec![
                h,
                Highlight::new(0.0, 0.0, "unpruned & <base>", colors::UNPRUNED),
            ],
            vlines: vec![RefLine {
                value: 5.0,
                label: "budget".into(),
            }],
            note: vec!["R^2 0.5".into()],
            ..Default::default()
        };
        let svg = scatter(&p);
        check_well_formed(&svg).unwrap();
        assert_eq!(count(&svg, "circle"), 22);
        assert!(
            svg.contains(">Attention Pruning<")
                && svg.contains("unpruned &amp; &lt;base&gt;")
                && svg.contains(">budget<")
        );
    }

    #[test]
    fn labels_of_coinciding_points_do_not_overlap() {
        let mut placed = Vec::new();
        let a = place_label(&mut placed, (100.0, 100.0), 6.0, 8);
        let b = place_label(&mut placed, (100.0, 100.0), 6.0, 8);
        let c = place_label(&mut placed, (102.0, 101.0), 6.0, 8);
        assert!(a != b && b != c && a != c, "{a:?} {b:?} {c:?}");
    }

    #[test]
    fn diagonal_scatter_has_the_identity_line_and_square_ranges() {
        let p = ScatterPlot {
            title: "t".into(),
            points: vec![(1.0, 2.0), (3.0, 2.5)],
            diagonal: true,
            ..Default::default()
        };
        let svg = scatter(&p);
        check_well_formed(&svg).unwrap();
        assert!(svg.contains(">y = x<"));
        assert!(svg.contains("stroke-dasharray=\"5 4\""));
    }

    #[test]
    fn heatmap_has_a_cell_per_head_and_marks() {
        let values = vec![vec![0.1, -0.2, 0.0, f64::NAN]; 3];
        let mut marks = vec![vec![String::new(); 4]; 3];
        marks[1][2] = "AF".into();
        marks[2][0] = "A".into();
        let h = Heatmap {
            title: "pruned heads".into(),
            row_label: "layer".into(),
            col_label: "head".into(),
            values,
            value_label: "bias change".into(),
            marks,
            mark_legend: vec![
                ("A".into(), "Attention Pruning".into()),
                ("F".into(), "FASP".into()),
            ],
        };
        let svg = heatmap(&h);
        check_well_formed(&svg).unwrap();
        // background + 12 cells + 11 scale steps + 2 legend boxes
        assert_eq!(count(&svg, "rect"), 1 + 12 + 11 + 2);
        assert_eq!(
            svg.matches(r##"stroke="#000000" stroke-width="2""##)
                .count(),
            2 + 2
        );
        assert!(svg.contains(">AF<") && svg.contains("#cccccc"));
    }

    #[test]
    fn lines_and_bars_are_well_formed() {
        let l = LinePlot {
            title: "trajectory".into(),
            x_label: "step".into(),
            y_label: "predicted bias".into(),
            series: vec![
                Series {
                    name: "restart 0".into(),
                    color: None,
                    points: (0..50)
                        .map(|i| (i as f64, 1.0 / (1.0 + i as f64)))
                        .collect(),
                },
                Series {
                    name: "restart 1".into(),
                    color: Some("#000000".into()),
                    points: vec![(0.0, 0.3)],
                },
            ],
            hlines: vec![RefLine {
                value: 0.2,
                label: "limit".into(),
            }],
        };
        let svg = lines(&l);
        check_well_formed(&svg).unwrap();
        assert_eq!(count(&svg, "polyline"), 1);
        let b = BarPlot {
            title: "spillover".into(),
            y_label: "bias".into(),
            x_label: "axis".into(),
            groups: vec!["gender".into(), "age".into(), "race".into()],
            series: vec![
                BarSeries {
                    name: "unpruned".into(),
                    color: colors::UNPRUNED.into(),
                    values: vec![0.3, 0.2, 0.1],
                    errors: vec![Some((0.2, 0.4)), None, None],
                },
                BarSeries {
                    name: "AP".into(),
                    color: colors::AP.into(),
                    values: vec![0.1, f64::NAN, -0.05],
                    errors: vec![],
                },
            ],
        };
        let svg = grouped_bars(&b);
        check_well_formed(&svg).unwrap();
        // background + frame box + 5 bars + 2 legend boxes
        assert_eq!(count(&svg, "rect"), 1 + 1 + 5 + 2);
        assert!(svg.contains(">gender<") && svg.contains(">age<"));
        // No numeric ticks on the category axis: the only centred small labels are the groups.
        assert_eq!(
            svg.matches(r#"font-size="10" text-anchor="middle""#)
                .count(),
            3
        );
    }
}
