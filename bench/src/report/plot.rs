//! The latency plot: one panel per scenario that measured round trips, one
//! percentile curve per implementation (all its runs pooled), as plain SVG.

use std::fmt::Write as _;

use super::{Sample, percentile};

const PANEL_W: f64 = 640.0;
const PANEL_H: f64 = 300.0;
const MARGIN_L: f64 = 70.0;
const MARGIN_R: f64 = 150.0;
const MARGIN_T: f64 = 40.0;
const MARGIN_B: f64 = 50.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f", "#d62728", "#9467bd",
];
/// Percentiles drawn, on a "nines" axis: 0, 50, 90, 99, 99.9 are equally spaced.
const NINES: f64 = 3.0;

/// x position of percentile `p` on the nines axis (0 at p0, `NINES` at p99.9).
fn nines(p: f64) -> f64 {
    (-(1.0 - p / 100.0).log10()).clamp(0.0, NINES)
}

/// An SVG with one panel per scenario that has latencies; None when none has.
pub(crate) fn latency_svg(samples: &[Sample]) -> Option<String> {
    let mut scenarios: Vec<&str> = Vec::new();
    for s in samples.iter().filter(|s| !s.latencies_us.is_empty()) {
        if !scenarios.contains(&s.scenario.as_str()) {
            scenarios.push(&s.scenario);
        }
    }
    if scenarios.is_empty() {
        return None;
    }
    let height = PANEL_H * scenarios.len() as f64;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{PANEL_W}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, scenario) in scenarios.iter().enumerate() {
        panel(&mut svg, samples, scenario, PANEL_H * i as f64);
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

fn panel(svg: &mut String, samples: &[Sample], scenario: &str, top: f64) {
    let mut implementations: Vec<&str> = Vec::new();
    for s in samples.iter().filter(|s| s.scenario == scenario) {
        if !implementations.contains(&s.implementation.as_str()) && !s.latencies_us.is_empty() {
            implementations.push(&s.implementation);
        }
    }
    let curves: Vec<(&str, Vec<(f64, f64)>)> = implementations
        .iter()
        .map(|&name| {
            let mut pooled: Vec<f64> = samples
                .iter()
                .filter(|s| s.scenario == scenario && s.implementation == name)
                .flat_map(|s| s.latencies_us.iter().copied())
                .filter(|v| v.is_finite() && *v > 0.0)
                .collect();
            pooled.sort_by(f64::total_cmp);
            let points = (0..=300)
                .map(|k| {
                    let x = NINES * f64::from(k) / 300.0;
                    let p = 100.0 * (1.0 - 10f64.powf(-x));
                    (x, percentile(&pooled, p))
                })
                .filter(|(_, y)| y.is_finite())
                .collect();
            (name, points)
        })
        .collect();
    let all_y = curves.iter().flat_map(|(_, pts)| pts.iter().map(|p| p.1));
    let (lo, hi) = all_y.fold((f64::INFINITY, 0.0f64), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    if !lo.is_finite() {
        return;
    }
    // Log scale over whole decades around the data.
    let (y0, y1) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let plot_w = PANEL_W - MARGIN_L - MARGIN_R;
    let plot_h = PANEL_H - MARGIN_T - MARGIN_B;
    let sx = |x: f64| MARGIN_L + x / NINES * plot_w;
    let sy = |v: f64| top + MARGIN_T + plot_h - (v.log10() - y0) / (y1 - y0) * plot_h;

    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-size="14" font-weight="bold">{} — round-trip time by percentile</text>"#,
        MARGIN_L,
        top + 24.0,
        escape(scenario)
    );
    let _ = writeln!(
        svg,
        r#"<rect x="{MARGIN_L}" y="{}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#,
        top + MARGIN_T
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
            r##"<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" stroke="#ddd"/><text x="{0}" y="{3}" text-anchor="middle">{label}</text>"##,
            sx(x),
            top + MARGIN_T,
            top + MARGIN_T + plot_h,
            top + MARGIN_T + plot_h + 16.0
        );
    }
    let mut decade = y0;
    while decade <= y1 {
        let v = 10f64.powf(decade);
        let _ = writeln!(
            svg,
            r##"<line x1="{MARGIN_L}" x2="{0}" y1="{1}" y2="{1}" stroke="#ddd"/><text x="{2}" y="{3}" text-anchor="end">{4}</text>"##,
            MARGIN_L + plot_w,
            sy(v),
            MARGIN_L - 6.0,
            sy(v) + 4.0,
            format_us(v)
        );
        decade += 1.0;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile</text><text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">µs (log)</text>"#,
        MARGIN_L + plot_w / 2.0,
        top + PANEL_H - 12.0,
        top + MARGIN_T + plot_h / 2.0,
        top + MARGIN_T + plot_h / 2.0
    );
    for (i, (name, points)) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
            path.join(" ")
        );
        let ly = top + MARGIN_T + 14.0 + 18.0 * i as f64;
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

fn format_us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.0} ms", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::stats::tests::sample;

    #[test]
    fn one_panel_per_latency_scenario_and_a_curve_per_implementation() {
        let mut no_latency = sample("idle", "tokio", 1, 1.0);
        no_latency.latencies_us.clear();
        assert!(latency_svg(std::slice::from_ref(&no_latency)).is_none());

        let samples = vec![
            sample("ping", "tokio", 1, 1.0),
            sample("ping", "tokio+ld", 1, 2.0),
            sample("request", "mio", 1, 3.0),
            no_latency,
        ];
        let svg = latency_svg(&samples).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert_eq!(svg.matches("round-trip time by percentile").count(), 2);
        for name in ["tokio", "tokio+ld", "mio"] {
            assert!(svg.contains(&format!(">{name}<")));
        }
        assert!(!svg.contains("NaN"));
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    }

    #[test]
    fn nines_axis_spaces_the_tail_evenly() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert_eq!(nines(100.0), 3.0);
    }
}
