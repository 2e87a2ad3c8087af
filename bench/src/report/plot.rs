//! The latency plot: one panel per scenario that measured round trips, one
//! percentile curve per implementation (all its runs pooled), as plain SVG.
//!
//! x is the percentile on a "nines" scale (p0, p90, p99, p99.9 equally
//! spaced, so the tail gets room), y the round-trip time in µs on a log scale
//! over whole decades. Written by hand: no plotting dependency.

use std::fmt::Write as _;

use super::{Sample, percentile};

/// Width of the picture and of every panel.
const PANEL_W: f64 = 640.0;
/// Height of one panel; panels are stacked.
const PANEL_H: f64 = 300.0;
/// Room for the y tick labels and axis label.
const MARGIN_L: f64 = 70.0;
/// Room for the legend.
const MARGIN_R: f64 = 150.0;
/// Room for the panel title.
const MARGIN_T: f64 = 40.0;
/// Room for the x tick labels and axis label.
const MARGIN_B: f64 = 50.0;
/// Line colours, one per implementation in order of appearance (tab10).
const COLOURS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];
/// Right end of the x axis in nines: 3 is p99.9.
const NINES: f64 = 3.0;
/// Points per curve.
const STEPS: u32 = 300;

/// x position of percentile `p` on the nines axis (0 at p0, `NINES` at p99.9).
fn nines(p: f64) -> f64 {
    (-(1.0 - p / 100.0).log10()).clamp(0.0, NINES)
}

/// The percentile at position `x` on the nines axis (inverse of [`nines`]).
fn percentile_at(x: f64) -> f64 {
    100.0 * (1.0 - 10f64.powf(-x))
}

/// Latencies that can go on a log axis.
fn plottable(sample: &Sample) -> impl Iterator<Item = f64> + '_ {
    sample
        .latencies_us
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// An SVG with one panel per scenario that has latencies; None when none has.
///
/// Within a panel each implementation's runs are pooled into one
/// distribution. Scenarios and implementations keep the order in which they
/// first appear in `samples`; latencies that are not finite and positive are
/// ignored.
pub(crate) fn latency_svg(samples: &[Sample]) -> Option<String> {
    let mut scenarios: Vec<&str> = Vec::new();
    let mut implementations: Vec<&str> = Vec::new();
    for s in samples.iter().filter(|s| plottable(s).next().is_some()) {
        if !scenarios.contains(&s.scenario.as_str()) {
            scenarios.push(&s.scenario);
        }
        if !implementations.contains(&s.implementation.as_str()) {
            implementations.push(&s.implementation);
        }
    }
    if scenarios.is_empty() {
        return None;
    }
    let height = PANEL_H * scenarios.len() as f64;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{PANEL_W}" height="{height}" viewBox="0 0 {PANEL_W} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, scenario) in scenarios.iter().enumerate() {
        // Colours follow the implementation across panels.
        let curves: Vec<Curve<'_>> = implementations
            .iter()
            .enumerate()
            .filter_map(|(k, &name)| {
                Some(Curve {
                    name,
                    colour: COLOURS[k % COLOURS.len()],
                    points: curve(samples, scenario, name)?,
                })
            })
            .collect();
        panel(&mut svg, scenario, &curves, PANEL_H * i as f64);
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

/// One implementation's line in a panel.
struct Curve<'a> {
    /// Implementation name, for the legend.
    name: &'a str,
    /// Stroke colour.
    colour: &'static str,
    /// (nines, µs) points, left to right.
    points: Vec<(f64, f64)>,
}

/// The pooled percentile curve of one implementation in one scenario as
/// (nines, µs) points; None when it measured no plottable latency.
fn curve(samples: &[Sample], scenario: &str, implementation: &str) -> Option<Vec<(f64, f64)>> {
    let mut pooled: Vec<f64> = samples
        .iter()
        .filter(|s| s.scenario == scenario && s.implementation == implementation)
        .flat_map(plottable)
        .collect();
    if pooled.is_empty() {
        return None;
    }
    pooled.sort_by(f64::total_cmp);
    Some(
        (0..=STEPS)
            .map(|k| {
                let x = NINES * f64::from(k) / f64::from(STEPS);
                (x, percentile(&pooled, percentile_at(x)))
            })
            .collect(),
    )
}

/// Draws one panel, `top` pixels down: title, frame, grid, ticks, axis
/// labels, curves and legend.
fn panel(svg: &mut String, scenario: &str, curves: &[Curve<'_>], top: f64) {
    let all_y = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1));
    let (lo, hi) = all_y.fold((f64::INFINITY, 0.0f64), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    if !lo.is_finite() {
        return;
    }
    // Log scale over whole decades around the data, at least one decade.
    let y0 = lo.log10().floor();
    let y1 = hi.log10().ceil().max(y0 + 1.0);
    let plot_w = PANEL_W - MARGIN_L - MARGIN_R;
    let plot_h = PANEL_H - MARGIN_T - MARGIN_B;
    let plot_top = top + MARGIN_T;
    let plot_bottom = plot_top + plot_h;
    let sx = |x: f64| MARGIN_L + x / NINES * plot_w;
    let sy = |v: f64| plot_bottom - (v.log10() - y0) / (y1 - y0) * plot_h;

    let _ = writeln!(
        svg,
        r#"<text x="{MARGIN_L}" y="{}" font-size="14" font-weight="bold">{} — round-trip time by percentile</text>"#,
        top + 24.0,
        escape(scenario)
    );
    let _ = writeln!(
        svg,
        r#"<rect x="{MARGIN_L}" y="{plot_top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#,
    );
    for (x, label) in [
        (0.0, "p0"),
        (nines(50.0), "p50"),
        (1.0, "p90"),
        (2.0, "p99"),
        (3.0, "p99.9"),
    ] {
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{plot_top}" y2="{plot_bottom}" stroke="#ddd"/><text x="{0:.1}" y="{1}" text-anchor="middle">{label}</text>"##,
            sx(x),
            plot_bottom + 16.0
        );
    }
    let mut decade = y0;
    while decade <= y1 {
        let y = plot_bottom - (decade - y0) / (y1 - y0) * plot_h;
        let _ = writeln!(
            svg,
            r##"<line x1="{MARGIN_L}" x2="{0}" y1="{1:.1}" y2="{1:.1}" stroke="#ddd"/><text x="{2}" y="{3:.1}" text-anchor="end">{4}</text>"##,
            MARGIN_L + plot_w,
            y,
            MARGIN_L - 6.0,
            y + 4.0,
            decade_label(decade)
        );
        decade += 1.0;
    }
    let mid_y = plot_top + plot_h / 2.0;
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile (nines scale)</text><text x="16" y="{mid_y}" transform="rotate(-90 16 {mid_y})" text-anchor="middle">round trip, µs (log)</text>"#,
        MARGIN_L + plot_w / 2.0,
        top + PANEL_H - 12.0,
    );
    for (
        i,
        Curve {
            name,
            colour,
            points,
        },
    ) in curves.iter().enumerate()
    {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
            path.join(" ")
        );
        let ly = plot_top + 14.0 + 18.0 * i as f64;
        let lx = MARGIN_L + plot_w + 12.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            lx + 20.0,
            lx + 26.0,
            ly + 4.0,
            escape(name)
        );
    }
}

/// Tick label for 10^`decade` µs: `0.01`, `1`, `100`, `1 ms`, `10 s`.
fn decade_label(decade: f64) -> String {
    let exponent = decade as i32;
    let (mantissa_exponent, unit) = match exponent {
        ..3 => (exponent, ""),
        3..6 => (exponent - 3, " ms"),
        _ => (exponent - 6, " s"),
    };
    let number = if mantissa_exponent >= 0 {
        format!("1{}", "0".repeat(mantissa_exponent as usize))
    } else {
        format!("0.{}1", "0".repeat((-mantissa_exponent - 1) as usize))
    };
    format!("{number}{unit}")
}

/// Text safe inside an SVG element or attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::stats::tests::sample;

    /// Checks that every element is closed in order; returns the names of
    /// the elements opened.
    fn balanced(svg: &str) -> Vec<String> {
        let mut open: Vec<String> = Vec::new();
        let mut seen = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("tag closed") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "nested < in {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                let name: String = tag.chars().take_while(|c| c.is_alphanumeric()).collect();
                assert!(!name.is_empty(), "odd tag <{tag}>");
                if !tag.ends_with('/') {
                    open.push(name.clone());
                }
                seen.push(name);
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "unclosed: {open:?}");
        assert!(!rest.contains('>'), "stray > after the last tag");
        seen
    }

    #[test]
    fn one_panel_per_latency_scenario_and_a_curve_per_implementation() {
        let mut no_latency = sample("idle", "tokio", 1, 1.0);
        no_latency.latencies_us.clear();
        assert!(latency_svg(std::slice::from_ref(&no_latency)).is_none());
        assert!(latency_svg(&[]).is_none());

        let samples = vec![
            sample("ping", "tokio", 1, 1.0),
            sample("ping", "tokio", 2, 1.5),
            sample("ping", "tokio+ld", 1, 2.0),
            sample("request", "mio", 1, 3.0),
            sample("request", "tokio", 1, 3.0),
            no_latency,
        ];
        let svg = latency_svg(&samples).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        let elements = balanced(&svg);
        assert_eq!(elements.iter().filter(|e| *e == "svg").count(), 1);
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert_eq!(svg.matches("round-trip time by percentile").count(), 2);
        assert!(svg.contains(">ping — round-trip"));
        assert!(svg.contains(">request — round-trip"));
        assert!(!svg.contains("idle"));
        for name in ["tokio", "tokio+ld", "mio"] {
            assert!(
                svg.contains(&format!(">{name}</text>")),
                "no legend for {name}"
            );
        }
        for label in ["p0", "p50", "p90", "p99", "p99.9"] {
            assert!(svg.contains(&format!(">{label}</text>")), "no tick {label}");
        }
        assert!(svg.contains("percentile (nines scale)"));
        assert!(svg.contains("round trip, µs (log)"));
        assert!(svg.contains("height=\"600\""));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        // tokio keeps its colour in both panels; the three names differ.
        assert_eq!(
            svg.matches(r##"stroke="#1f77b4" stroke-width="1.5""##)
                .count(),
            2
        );
        assert_eq!(
            svg.matches(r##"stroke="#ff7f0e" stroke-width="1.5""##)
                .count(),
            1
        );
        assert_eq!(
            svg.matches(r##"stroke="#2ca02c" stroke-width="1.5""##)
                .count(),
            1
        );
    }

    #[test]
    fn curves_rise_and_span_the_pooled_runs() {
        // Runs of 1..=100 µs and 2..=200 µs pooled: 1 µs to 200 µs.
        let samples = vec![
            sample("ping", "tokio", 1, 1.0),
            sample("ping", "tokio", 2, 2.0),
        ];
        let points = curve(&samples, "ping", "tokio").unwrap();
        assert_eq!(points.len(), STEPS as usize + 1);
        assert_eq!(points[0], (0.0, 1.0));
        assert_eq!(points.last().unwrap().1, 200.0);
        assert!(
            points
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
        );
        assert!(curve(&samples, "ping", "mio").is_none());
    }

    #[test]
    fn bad_latencies_are_skipped_and_names_escaped() {
        let mut odd = sample("a<b", "x&y", 1, 1.0);
        odd.latencies_us = vec![f64::NAN, -1.0, 0.0, f64::INFINITY];
        assert!(latency_svg(std::slice::from_ref(&odd)).is_none());
        odd.latencies_us.push(0.5);
        let svg = latency_svg(&[odd]).unwrap();
        balanced(&svg);
        assert!(svg.contains(">a&lt;b — round-trip"));
        assert!(svg.contains(">x&amp;y</text>"));
        // A single 0.5 µs value: one decade from 0.1 to 1 µs.
        assert!(svg.contains(">0.1</text>") && svg.contains(">1</text>"));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn nines_axis_spaces_the_tail_evenly() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(nines(100.0), 3.0);
        for p in [0.0, 50.0, 90.0, 99.0, 99.9] {
            assert!((percentile_at(nines(p)) - p).abs() < 1e-9);
        }
    }

    #[test]
    fn decades_are_labelled_in_readable_units() {
        let labels: Vec<String> = (-2..=7).map(|d| decade_label(f64::from(d))).collect();
        assert_eq!(
            labels,
            [
                "0.01", "0.1", "1", "10", "100", "1 ms", "10 ms", "100 ms", "1 s", "10 s"
            ]
        );
    }
}
