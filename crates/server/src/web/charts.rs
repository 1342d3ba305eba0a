//! Server-rendered SVG: bar lists, stacked bar charts and the neighbourhood graph. Colours come from classes in
//! the stylesheet (the Content-Security-Policy allows no inline styles), sizes from the viewBox, so the charts
//! scale with the page.

use maud::{html, Markup};

use super::intel::Graph;

fn fmt_n(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// Public wrapper of the thousands formatting used by the pages.
pub fn number(n: u64) -> String {
    fmt_n(n)
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// One bar of a bar list: label, value, colour class, optional link.
pub struct Bar {
    pub label: String,
    pub value: u64,
    pub class: String,
    pub href: Option<String>,
}

/// Horizontal bars with labels and values, one row each.
pub fn bars(items: &[Bar], aria: &str) -> Markup {
    let max = items.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let row = 26.0;
    let h = (items.len() as f64 * row).max(row);
    let label_w = 175.0;
    let bar_w = 230.0;
    html! {
        svg.chart viewBox=(format!("0 0 480 {h}")) role="img" aria-label=(aria) {
            @if items.is_empty() {
                text.empty x="10" y="18" { "Nothing to show yet" }
            }
            @for (i, b) in items.iter().enumerate() {
                @let y = i as f64 * row;
                @let w = (b.value as f64 / max as f64 * bar_w).max(if b.value > 0 { 2.0 } else { 0.0 });
                g {
                    title { (b.label) ": " (b.value) }
                    @if let Some(href) = &b.href {
                        a href=(href) {
                            text.label x=(label_w - 8.0) y=(y + 17.0) text-anchor="end" { (clip(&b.label, 22)) }
                        }
                    } @else {
                        text.label x=(label_w - 8.0) y=(y + 17.0) text-anchor="end" { (clip(&b.label, 22)) }
                    }
                    rect.track x=(label_w) y=(y + 5.0) width=(bar_w) height="14" rx="3" {}
                    rect class=(format!("bar {}", b.class)) x=(label_w) y=(y + 5.0) width=(format!("{w:.1}")) height="14" rx="3" {}
                    text.value x=(label_w + bar_w + 8.0) y=(y + 17.0) { (fmt_n(b.value)) }
                }
            }
        }
    }
}

/// A stacked bar chart: one bar per x label, one stacked segment per series, and a legend.
pub fn stacked(x_labels: &[String], series: &[(String, String, Vec<u64>)], aria: &str) -> Markup {
    let (w, h) = (640.0, 240.0);
    let (left, right, top, bottom) = (44.0, 10.0, 12.0, 34.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let n = x_labels.len().max(1);
    let totals: Vec<u64> = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.2.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let max = nice_max(totals.iter().copied().max().unwrap_or(0));
    let slot = plot_w / n as f64;
    let bw = (slot * 0.64).max(2.0);
    let ticks = 4;
    html! {
        figure.stacked {
            svg.chart viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(aria) {
                @for t in 0..=ticks {
                    @let v = max * t / ticks;
                    @let y = top + plot_h - (v as f64 / max as f64) * plot_h;
                    line.grid x1=(left) x2=(w - right) y1=(format!("{y:.1}")) y2=(format!("{y:.1}")) {}
                    text.axis x=(left - 6.0) y=(format!("{:.1}", y + 4.0)) text-anchor="end" { (fmt_n(v)) }
                }
                @for (i, label) in x_labels.iter().enumerate() {
                    @let x = left + slot * i as f64 + (slot - bw) / 2.0;
                    g {
                        title { (label) ": " (fmt_n(totals.get(i).copied().unwrap_or(0))) }
                        @for (name, class, v, y0, hh) in segments(series, i, max, top, plot_h) {
                            rect class=(format!("bar {class}")) x=(format!("{x:.1}")) y=(format!("{y0:.1}")) width=(format!("{bw:.1}")) height=(format!("{:.1}", hh.max(1.0))) {
                                title { (name) " · " (label) ": " (fmt_n(v)) }
                            }
                        }
                    }
                    @if n <= 14 || i % 2 == 0 {
                        text.axis x=(format!("{:.1}", x + bw / 2.0)) y=(h - bottom + 16.0) text-anchor="middle" { (label) }
                    }
                }
                line.baseline x1=(left) x2=(w - right) y1=(top + plot_h) y2=(top + plot_h) {}
            }
            figcaption.legend {
                @for (name, class, values) in series {
                    span.key {
                        svg.swatch viewBox="0 0 10 10" { rect class=(format!("bar {class}")) width="10" height="10" rx="2" {} }
                        (name) " " span.muted { (fmt_n(values.iter().sum())) }
                    }
                }
            }
        }
    }
}

/// The stacked segments of bar `i`: (series name, class, value, top y, height).
fn segments(
    series: &[(String, String, Vec<u64>)],
    i: usize,
    max: u64,
    top: f64,
    plot_h: f64,
) -> Vec<(String, String, u64, f64, f64)> {
    let mut base = 0u64;
    let mut out = Vec::new();
    for (name, class, values) in series {
        let v = values.get(i).copied().unwrap_or(0);
        if v > 0 {
            let y0 = top + plot_h - ((base + v) as f64 / max.max(1) as f64) * plot_h;
            let hh = (v as f64 / max.max(1) as f64) * plot_h;
            out.push((name.clone(), class.clone(), v, y0, hh));
        }
        base += v;
    }
    out
}

/// A round axis maximum at or above `m` that splits into four equal round ticks.
fn nice_max(m: u64) -> u64 {
    let step = m.div_ceil(4).max(1);
    let mag = 10u64.pow((step as f64).log10().floor().max(0.0) as u32);
    // Steps of 1, 2, 2.5 and 5 times a power of ten (2.5 only where it stays a whole number).
    for tenths in [10, 20, 25, 50, 100] {
        let c = tenths * mag / 10;
        if c * 10 == tenths * mag && c >= step {
            return 4 * c;
        }
    }
    40 * mag
}

fn type_class(t: &str) -> &'static str {
    match t {
        "intrusion-set" | "threat-actor" => "n-actor",
        "malware" | "tool" => "n-malware",
        "indicator" => "n-indicator",
        "attack-pattern" => "n-technique",
        "vulnerability" => "n-vuln",
        "campaign" => "n-campaign",
        "location" | "identity" => "n-place",
        "report" | "note" => "n-report",
        "sighting" => "n-sighting",
        _ => "n-other",
    }
}

/// Node positions: a left-to-right tree for a small neighbourhood (a chain reads best that way), else radial with
/// the object in the centre, its neighbours on a ring and further hops fanned out beyond their parent.
fn layout(g: &Graph, w: f64) -> Vec<(f64, f64)> {
    let mut children: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, n) in g.nodes.iter().enumerate().skip(1) {
        children.entry(n.parent).or_default().push(i);
    }
    let hop1 = children.get(&0).map(Vec::len).unwrap_or(0);
    let mut pos = vec![(w / 2.0, 300.0); g.nodes.len()];
    if hop1 <= 4 {
        // Tree: x by hop, y by leaf order (a parent sits in the middle of its children).
        fn place(
            i: usize,
            g: &Graph,
            children: &std::collections::BTreeMap<usize, Vec<usize>>,
            next: &mut f64,
            pos: &mut Vec<(f64, f64)>,
        ) -> f64 {
            let x = 150.0 + f64::from(g.nodes[i].hop) * 225.0;
            let kids = children.get(&i).cloned().unwrap_or_default();
            let y = if kids.is_empty() {
                let y = *next;
                *next += 58.0;
                y
            } else {
                let ys: Vec<f64> = kids
                    .iter()
                    .map(|&k| place(k, g, children, next, pos))
                    .collect();
                (ys[0] + ys[ys.len() - 1]) / 2.0
            };
            pos[i] = (x, y);
            y
        }
        let mut next = 40.0;
        place(0, g, &children, &mut next, &mut pos);
        return pos;
    }
    let (cx, cy) = (w / 2.0, 300.0);
    pos[0] = (cx, cy);
    let ring: Vec<usize> = children.get(&0).cloned().unwrap_or_default();
    let k = ring.len().max(1) as f64;
    for (j, &i) in ring.iter().enumerate() {
        let a = -std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * j as f64 / k;
        pos[i] = (cx + 250.0 * a.cos(), cy + 170.0 * a.sin());
    }
    // Further hops in node order (parents come before their children).
    for i in 1..g.nodes.len() {
        let Some(kids) = children.get(&i) else {
            continue;
        };
        let (px, py) = pos[i];
        let a = (py - cy).atan2(px - cx);
        let m = kids.len() as f64;
        for (j, &c) in kids.iter().enumerate() {
            let b = a + 0.22 * (j as f64 - (m - 1.0) / 2.0);
            pos[c] = (
                (px + 120.0 * b.cos()).clamp(60.0, w - 60.0),
                py + 95.0 * b.sin(),
            );
        }
    }
    pos
}

/// The neighbourhood graph. Every node links to its own page, so a click pivots. The view box is cropped to the
/// nodes, so a small graph takes little room.
pub fn graph(g: &Graph, href: impl Fn(&str) -> String) -> Markup {
    let w = 960.0f64;
    let pos = layout(g, w);
    let top = pos.iter().map(|p| p.1).fold(f64::INFINITY, f64::min) - 36.0;
    let bottom = pos.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max) + 44.0;
    let (top, bottom) = if top.is_finite() && bottom.is_finite() {
        (top, bottom.max(top + 160.0))
    } else {
        (0.0, 200.0)
    };
    html! {
        svg.graph viewBox=(format!("0 {top:.0} {w} {:.0}", bottom - top)) role="img" aria-label="Relationship graph" {
            @for (a, b, label) in &g.edges {
                @if let (Some(pa), Some(pb)) = (pos.get(*a), pos.get(*b)) {
                    g.edge {
                        line x1=(format!("{:.1}", pa.0)) y1=(format!("{:.1}", pa.1)) x2=(format!("{:.1}", pb.0)) y2=(format!("{:.1}", pb.1)) {}
                        @if g.nodes.len() <= 14 || g.nodes.get(*a).map(|n| n.hop).unwrap_or(0) + g.nodes.get(*b).map(|n| n.hop).unwrap_or(0) <= 1 {
                            text.edge-label x=(format!("{:.1}", (pa.0 + pb.0) / 2.0)) y=(format!("{:.1}", (pa.1 + pb.1) / 2.0 - 4.0)) text-anchor="middle" { (label) }
                        }
                    }
                }
            }
            @for (i, n) in g.nodes.iter().enumerate() {
                @let (x, y) = pos[i];
                @let r = match n.hop { 0 => 20.0, 1 => 13.0, _ => 10.0 };
                a.node href=(href(&n.id)) {
                    title { (n.type_) ": " (n.label) }
                    circle class=(format!("{} hop{}", type_class(&n.type_), n.hop.min(2))) cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r=(r) {}
                    text.node-label x=(format!("{x:.1}")) y=(format!("{:.1}", y + r + 13.0)) text-anchor="middle" { (clip(&n.label, if n.hop == 0 { 32 } else { 28 })) }
                }
            }
        }
        div.legend {
            @for (t, name) in [("intrusion-set", "actor"), ("malware", "malware / tool"), ("indicator", "indicator"), ("attack-pattern", "technique"), ("vulnerability", "vulnerability"), ("campaign", "campaign"), ("location", "place / identity"), ("report", "report")] {
                span.key { svg.swatch viewBox="0 0 10 10" { circle class=(type_class(t)) cx="5" cy="5" r="5" {} } (name) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_axes() {
        assert_eq!(fmt_n(1234567), "1\u{202f}234\u{202f}567");
        assert_eq!(nice_max(0), 4);
        assert_eq!(nice_max(5), 8);
        assert_eq!(nice_max(7), 8);
        assert_eq!(nice_max(130), 200);
        assert_eq!(nice_max(1000), 1000);
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
