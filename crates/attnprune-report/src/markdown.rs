//! Markdown tables and the number formats shared by the tables and the plots.

/// A number with four significant digits; scientific notation when very small
/// or very large; `n/a` when not finite.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let mag = x.abs().log10().floor() as i32;
    if x.abs() < 0.01 || x.abs() >= 1e6 {
        return format!("{x:.3e}");
    }
    let decimals = (3 - mag).max(0) as usize;
    format!("{x:.decimals$}")
}

/// A relative change as a signed percentage (`+4.2%`, `-41.0%`); `n/a` when not finite.
pub fn fmt_pct(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let p = 100.0 * x + 0.0; // -0.0 + 0.0 = +0.0
    if p.abs() >= 1000.0 {
        format!("{p:+.0}%")
    } else {
        format!("{p:+.1}%")
    }
}

/// A value with its interval: `0.1234 [0.1, 0.15]`.
pub fn fmt_interval(value: f64, low: f64, high: f64) -> String {
    format!("{} [{}, {}]", fmt_num(value), fmt_num(low), fmt_num(high))
}

/// A Markdown table (GitHub flavour).
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// Rows of cells (as many as the header; missing cells are left empty).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<S: AsRef<str>>(header: &[S]) -> Self {
        Self {
            header: header.iter().map(|s| s.as_ref().to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    /// The Markdown text, ending with a newline. `|` and newlines inside cells are escaped.
    pub fn render(&self) -> String {
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let line = |cells: &[String]| {
            let mut out = String::from("|");
            for i in 0..self.header.len() {
                out += &format!(
                    " {} |",
                    cell(cells.get(i).map(String::as_str).unwrap_or(""))
                );
            }
            out + "\n"
        };
        let mut out = line(&self.header);
        out += &format!("|{}\n", "---|".repeat(self.header.len()));
        for r in &self.rows {
            out += &line(r);
        }
        out
    }
}

/// The cells of a Markdown table row (`| a | b |` -> `["a", "b"]`), unescaping `\|`.
/// For tests and tools that read a report back.
pub fn parse_row(line: &str) -> Option<Vec<String>> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cur.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    cells.push(cur.trim().to_string());
    Some(cells)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn numbers_have_four_significant_digits() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(12.3456), "12.35");
        assert_eq!(fmt_num(1234.56), "1235");
        assert_eq!(fmt_num(0.123456), "0.1235");
        assert_eq!(fmt_num(0.0123456), "0.01235");
        assert_eq!(fmt_num(-0.5), "-0.5000");
        assert_eq!(fmt_num(7.1127e-8), "7.113e-8");
        assert_eq!(fmt_num(2.5e7), "2.500e7");
        assert_eq!(fmt_num(f64::NAN), "n/a");
        assert_eq!(fmt_num(f64::INFINITY), "n/a");
        // Round trip to within the printed precision.
        for x in [3.3333, 1e-9, 0.0123, 987.65, -42.0] {
            let back: f64 = fmt_num(x).parse().unwrap();
            assert!((back - x).abs() <= 1e-3 * x.abs(), "{x} -> {back}");
        }
    }

    #[test]
    fn percentages() {
        assert_eq!(fmt_pct(-0.41), "-41.0%");
        assert_eq!(fmt_pct(0.042), "+4.2%");
        assert_eq!(fmt_pct(0.0), "+0.0%");
        assert_eq!(fmt_pct(-0.0), "+0.0%");
        assert_eq!(fmt_pct(14.9), "+1490%");
        assert_eq!(fmt_pct(f64::NAN), "n/a");
    }

    #[test]
    fn tables_render_and_parse_back() {
        let mut t = Table::new(&["method", "bias"]);
        t.row(vec!["a|b".into(), fmt_interval(0.5, 0.25, 0.75)]);
        t.row(vec!["short".into()]);
        let md = t.render();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1], "|---|---|");
        assert_eq!(parse_row(lines[0]).unwrap(), vec!["method", "bias"]);
        assert_eq!(
            parse_row(lines[2]).unwrap(),
            vec!["a|b", "0.5000 [0.2500, 0.7500]"]
        );
        assert_eq!(parse_row(lines[3]).unwrap(), vec!["short", ""]);
        assert!(parse_row("not a row").is_none());
    }
}
