//! A tiny SVG writer (elements as text, escaping, linear scales with nice
//! ticks, a plot frame with axes) and a well-formedness check for tests.

use std::fmt::Write as _;

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with two decimals (SVG user units).
fn c(x: f64) -> String {
    let s = format!("{x:.2}");
    s.strip_suffix(".00").map(str::to_string).unwrap_or(s)
}

/// An SVG document being written.
#[derive(Debug, Clone)]
pub struct Svg {
    width: f64,
    height: f64,
    body: String,
}

/// Horizontal text anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// Text starts at x.
    Start,
    /// Text is centred on x.
    Middle,
    /// Text ends at x.
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

impl Svg {
    /// An empty document of `width` x `height` user units on a white background.
    pub fn new(width: f64, height: f64) -> Self {
        let mut svg = Self {
            width,
            height,
            body: String::new(),
        };
        svg.rect(0.0, 0.0, width, height, "#ffffff", "");
        svg
    }

    /// Width in user units.
    pub fn width(&self) -> f64 {
        self.width
    }

    /// Height in user units.
    pub fn height(&self) -> f64 {
        self.height
    }

    /// A rectangle; `extra` is appended verbatim inside the tag (e.g. `stroke="#000"`).
    /// Skipped when a coordinate is not finite.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, extra: &str) {
        if [x, y, w, h].iter().all(|v| v.is_finite()) {
            let _ = writeln!(
                self.body,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}" {extra}/>"#,
                c(x),
                c(y),
                c(w.max(0.0)),
                c(h.max(0.0)),
                escape(fill)
            );
        }
    }

    /// A line segment; `dash` like `"4 3"`.
    pub fn line(
        &mut self,
        (x1, y1): (f64, f64),
        (x2, y2): (f64, f64),
        stroke: &str,
        width: f64,
        dash: Option<&str>,
    ) {
        if [x1, y1, x2, y2].iter().all(|v| v.is_finite()) {
            let dash = dash
                .map(|d| format!(r#" stroke-dasharray="{}""#, escape(d)))
                .unwrap_or_default();
            let _ = writeln!(
                self.body,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="{}"{dash}/>"#,
                c(x1),
                c(y1),
                c(x2),
                c(y2),
                escape(stroke),
                c(width)
            );
        }
    }

    /// A circle; `stroke` empty for none. `title` becomes a hover tooltip.
    pub fn circle(
        &mut self,
        (cx, cy): (f64, f64),
        r: f64,
        fill: &str,
        stroke: &str,
        title: Option<&str>,
    ) {
        if [cx, cy, r].iter().all(|v| v.is_finite()) {
            let stroke = if stroke.is_empty() {
                String::new()
            } else {
                format!(r#" stroke="{}" stroke-width="1.5""#, escape(stroke))
            };
            match title {
                Some(t) => {
                    let _ = writeln!(
                        self.body,
                        r#"<circle cx="{}" cy="{}" r="{}" fill="{}"{stroke}><title>{}</title></circle>"#,
                        c(cx),
                        c(cy),
                        c(r),
                        escape(fill),
                        escape(t)
                    );
                }
                None => {
                    let _ = writeln!(
                        self.body,
                        r#"<circle cx="{}" cy="{}" r="{}" fill="{}"{stroke}/>"#,
                        c(cx),
                        c(cy),
                        c(r),
                        escape(fill)
                    );
                }
            }
        }
    }

    /// Text at (x, y) (baseline); `rotate` in degrees about (x, y).
    pub fn text(
        &mut self,
        (x, y): (f64, f64),
        text: &str,
        size: f64,
        anchor: Anchor,
        rotate: Option<f64>,
        extra: &str,
    ) {
        if x.is_finite() && y.is_finite() {
            let rot = rotate
                .map(|r| format!(r#" transform="rotate({} {} {})""#, c(r), c(x), c(y)))
                .unwrap_or_default();
            let _ = writeln!(
                self.body,
                r#"<text x="{}" y="{}" font-size="{}" text-anchor="{}"{rot} {extra}>{}</text>"#,
                c(x),
                c(y),
                c(size),
                anchor.as_str(),
                escape(text)
            );
        }
    }

    /// A polyline through the finite points (none written if fewer than two).
    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, width: f64) {
        let pts: Vec<String> = points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{},{}", c(x), c(y)))
            .collect();
        if pts.len() >= 2 {
            let _ = writeln!(
                self.body,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{}" stroke-linejoin="round"/>"#,
                pts.join(" "),
                escape(stroke),
                c(width)
            );
        }
    }

    /// The document text.
    pub fn finish(self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\">\n{}</svg>\n",
            self.body,
            w = c(self.width),
            h = c(self.height)
        )
    }
}

/// A linear map from data `[d0, d1]` to pixels `[r0, r1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// Data start.
    pub d0: f64,
    /// Data end.
    pub d1: f64,
    /// Pixel start.
    pub r0: f64,
    /// Pixel end.
    pub r1: f64,
}

impl Scale {
    /// Maps a data value to pixels.
    pub fn map(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        if span == 0.0 {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / span * (self.r1 - self.r0)
    }
}

/// The range of the finite values, padded by 5% (1 unit around a single value);
/// `(0, 1)` when there are none.
pub fn extent(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * lo.abs().max(hi.abs()).max(f64::MIN_POSITIVE) {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - pad, hi + pad);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// About `n` round tick values (1, 2, 5 x 10^k steps) inside `[lo, hi]`, and the step.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return (vec![lo], 1.0);
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let ticks = (first..=last)
        .map(|i| i as f64 * step)
        .map(|t| if t.abs() < step * 1e-9 { 0.0 } else { t })
        .collect();
    (ticks, step)
}

/// A tick label for `v` with as many decimals as the tick step needs.
pub fn fmt_tick(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if step.abs() < 1e-3 || v.abs() >= 1e6 {
        return format!("{v:.1e}");
    }
    let decimals = (-step.abs().log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

/// A plot area with its two scales.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// Left edge of the plot area.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Width of the plot area.
    pub width: f64,
    /// Height of the plot area.
    pub height: f64,
    /// Horizontal scale.
    pub x: Scale,
    /// Vertical scale (data grows upwards).
    pub y: Scale,
}

impl Frame {
    /// A frame inside an `svg` of the given size, with margins for labels, over the data ranges.
    pub fn new(svg: &Svg, (x0, x1): (f64, f64), (y0, y1): (f64, f64), right_margin: f64) -> Self {
        let (left, top, bottom) = (72.0, 40.0, 56.0);
        let width = (svg.width() - left - right_margin).max(10.0);
        let height = (svg.height() - top - bottom).max(10.0);
        Self {
            left,
            top,
            width,
            height,
            x: Scale {
                d0: x0,
                d1: x1,
                r0: left,
                r1: left + width,
            },
            y: Scale {
                d0: y0,
                d1: y1,
                r0: top + height,
                r1: top,
            },
        }
    }

    /// Pixel position of a data point.
    pub fn at(&self, x: f64, y: f64) -> (f64, f64) {
        (self.x.map(x), self.y.map(y))
    }

    /// Whether a data point lies inside the frame's ranges.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        let within = |v: f64, s: &Scale| v >= s.d0.min(s.d1) && v <= s.d0.max(s.d1);
        within(x, &self.x) && within(y, &self.y)
    }

    /// Draws the title, the box, grid lines, ticks and axis labels.
    pub fn draw_axes(&self, svg: &mut Svg, title: &str, x_label: &str, y_label: &str) {
        self.draw(svg, title, x_label, y_label, true);
    }

    /// Like [`Frame::draw_axes`] without ticks on the x axis (categories are labelled by the plot).
    pub fn draw_axes_without_x_ticks(
        &self,
        svg: &mut Svg,
        title: &str,
        x_label: &str,
        y_label: &str,
    ) {
        self.draw(svg, title, x_label, y_label, false);
    }

    fn draw(&self, svg: &mut Svg, title: &str, x_label: &str, y_label: &str, x_ticks: bool) {
        svg.text(
            (svg.width() / 2.0, 22.0),
            title,
            14.0,
            Anchor::Middle,
            None,
            r#"font-weight="bold""#,
        );
        let (bottom, right) = (self.top + self.height, self.left + self.width);
        let (xt, xs) = nice_ticks(self.x.d0.min(self.x.d1), self.x.d0.max(self.x.d1), 6);
        for t in xt.into_iter().filter(|_| x_ticks) {
            let px = self.x.map(t);
            svg.line((px, self.top), (px, bottom), "#e6e6e6", 1.0, None);
            svg.line((px, bottom), (px, bottom + 4.0), "#333333", 1.0, None);
            svg.text(
                (px, bottom + 16.0),
                &fmt_tick(t, xs),
                10.0,
                Anchor::Middle,
                None,
                "",
            );
        }
        let (yt, ys) = nice_ticks(self.y.d0.min(self.y.d1), self.y.d0.max(self.y.d1), 5);
        for t in yt {
            let py = self.y.map(t);
            svg.line((self.left, py), (right, py), "#e6e6e6", 1.0, None);
            svg.line((self.left - 4.0, py), (self.left, py), "#333333", 1.0, None);
            svg.text(
                (self.left - 6.0, py + 3.5),
                &fmt_tick(t, ys),
                10.0,
                Anchor::End,
                None,
                "",
            );
        }
        svg.rect(
            self.left,
            self.top,
            self.width,
            self.height,
            "none",
            r##"stroke="#333333""##,
        );
        svg.text(
            (self.left + self.width / 2.0, bottom + 38.0),
            x_label,
            12.0,
            Anchor::Middle,
            None,
            "",
        );
        let mid = self.top + self.height / 2.0;
        svg.text((16.0, mid), y_label, 12.0, Anchor::Middle, Some(-90.0), "");
    }
}

/// Checks that `text` is a well-formed XML document whose root element is
/// `<svg>`: tags balanced and properly nested, attribute values quoted,
/// entities known. Returns the number of elements.
pub fn check_well_formed(text: &str) -> Result<usize, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut stack: Vec<String> = Vec::new();
    let (mut elements, mut roots) = (0usize, 0usize);
    let mut root_name = String::new();
    let name_char = |ch: u8| ch.is_ascii_alphanumeric() || matches!(ch, b'_' | b':' | b'-' | b'.');
    while i < b.len() {
        if b[i] != b'<' {
            let end = text[i..].find('<').map(|k| i + k).unwrap_or(b.len());
            let chunk = &text[i..end];
            if stack.is_empty() && !chunk.trim().is_empty() {
                return Err(format!("text outside the root element at byte {i}"));
            }
            check_entities(chunk, i)?;
            i = end;
            continue;
        }
        let rest = &text[i..];
        if let Some(r) = rest.strip_prefix("<!--") {
            i += 4 + r.find("-->").ok_or("unterminated comment")? + 3;
        } else if rest.starts_with("<?") {
            i += rest
                .find("?>")
                .ok_or("unterminated processing instruction")?
                + 2;
        } else if let Some(r) = rest.strip_prefix("</") {
            let end = r
                .find('>')
                .ok_or_else(|| format!("unterminated end tag at byte {i}"))?;
            let name = r[..end].trim();
            match stack.pop() {
                Some(open) if open == name => {}
                Some(open) => return Err(format!("`</{name}>` closes `<{open}>` at byte {i}")),
                None => return Err(format!("`</{name}>` without an open element at byte {i}")),
            }
            i += 2 + end + 1;
        } else {
            let mut j = i + 1;
            while j < b.len() && name_char(b[j]) {
                j += 1;
            }
            let name = &text[i + 1..j];
            if name.is_empty() {
                return Err(format!("`<` not starting a tag at byte {i}"));
            }
            if stack.is_empty() {
                roots += 1;
                root_name = name.to_string();
            }
            elements += 1;
            loop {
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j >= b.len() {
                    return Err(format!("unterminated tag `<{name}` at byte {i}"));
                }
                if text[j..].starts_with("/>") {
                    j += 2;
                    break;
                }
                if b[j] == b'>' {
                    stack.push(name.to_string());
                    j += 1;
                    break;
                }
                let a = j;
                while j < b.len() && name_char(b[j]) {
                    j += 1;
                }
                if a == j || j >= b.len() || b[j] != b'=' {
                    return Err(format!("bad attribute in `<{name}` at byte {a}"));
                }
                j += 1;
                let quote = *b.get(j).ok_or("unterminated attribute")?;
                if quote != b'"' && quote != b'\'' {
                    return Err(format!("unquoted attribute value in `<{name}` at byte {j}"));
                }
                let close = text[j + 1..]
                    .find(quote as char)
                    .ok_or_else(|| format!("unterminated attribute value in `<{name}`"))?;
                let value = &text[j + 1..j + 1 + close];
                if value.contains('<') {
                    return Err(format!("`<` inside an attribute value of `<{name}`"));
                }
                check_entities(value, j)?;
                j += close + 2;
            }
            i = j;
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("`<{open}>` is never closed"));
    }
    if roots != 1 || root_name != "svg" {
        return Err(format!(
            "expected one root element `<svg>`, found {roots} (last `<{root_name}>`)"
        ));
    }
    Ok(elements)
}

fn check_entities(s: &str, at: usize) -> Result<(), String> {
    let mut rest = s;
    while let Some(k) = rest.find('&') {
        let after = &rest[k + 1..];
        let end = after
            .find(';')
            .ok_or_else(|| format!("bare `&` near byte {at}"))?;
        let ent = &after[..end];
        let ok = matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos")
            || ent
                .strip_prefix("#x")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
            || ent
                .strip_prefix('#')
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
        if !ok {
            return Err(format!("unknown entity `&{ent};` near byte {at}"));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn checker_accepts_good_and_rejects_bad_documents() {
        let good = "<?xml version=\"1.0\"?>\n<svg a=\"1\"><!-- c --><g><text x='1'>a &amp; b &#38;</text></g><rect/></svg>\n";
        assert_eq!(check_well_formed(good), Ok(4));
        for bad in [
            "<svg><g></svg>",
            "<svg></g></svg>",
            "<svg a=1/>",
            "<svg><text>a & b</text></svg>",
            "<svg/><svg/>",
            "<g/>",
            "<svg><rect x=\"<\"/></svg>",
            "<svg>",
            "stray<svg/>",
        ] {
            assert!(check_well_formed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn writer_output_is_well_formed_and_escaped() {
        let mut s = Svg::new(200.0, 100.0);
        s.text(
            (10.0, 10.0),
            "a < b & \"c\"",
            10.0,
            Anchor::Start,
            Some(-90.0),
            "",
        );
        s.circle((5.0, 5.0), 2.0, "red", "black", Some("<tip>"));
        s.line((0.0, 0.0), (f64::NAN, 1.0), "black", 1.0, None);
        s.polyline(&[(0.0, 0.0), (1.0, 1.0)], "blue", 1.0);
        let text = s.finish();
        assert_eq!(check_well_formed(&text), Ok(6), "{text}");
        assert!(text.contains("a &lt; b &amp; &quot;c&quot;") && !text.contains("NaN"));
    }

    #[test]
    fn ticks_are_round_and_inside() {
        let (t, step) = nice_ticks(0.03, 0.97, 5);
        assert_eq!(step, 0.2);
        assert_eq!(t, vec![0.2, 0.4, 0.6000000000000001, 0.8]);
        assert!(t.iter().all(|&v| (0.03..=0.97).contains(&v)));
        assert_eq!(fmt_tick(0.4, 0.2), "0.4");
        assert_eq!(fmt_tick(20.0, 10.0), "20");
        assert_eq!(fmt_tick(2e-8, 1e-8), "2.0e-8");
        let (t, _) = nice_ticks(-3.0, 7.0, 5);
        assert!(t.contains(&0.0));
    }

    #[test]
    fn extent_pads_and_handles_degenerate_input() {
        assert_eq!(extent([]), (0.0, 1.0));
        let (lo, hi) = extent([2.0, 2.0]);
        assert!(lo < 2.0 && hi > 2.0);
        let (lo, hi) = extent([0.0, 10.0, f64::NAN]);
        assert!((lo + 0.5).abs() < 1e-12 && (hi - 10.5).abs() < 1e-12);
        let (lo, hi) = extent([1e-8, 1e-8]);
        assert!(lo < 1e-8 && hi > 1e-8 && hi - lo < 1e-8);
    }
}
