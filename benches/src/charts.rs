//! Bar charts of criterion's results, one SVG per bench group.
//!
//! criterion keeps the last run of every benchmark in
//! `target/criterion/<group>/<function>/new/`: `benchmark.json` names it,
//! `estimates.json` holds the statistics. [`read_groups`] collects the mean
//! of each function with its 95% confidence interval, and [`render`] draws
//! one horizontal bar per function (magpie's bars in colour, the peers' in
//! grey), with the interval as a whisker and the value written beside the
//! bar. `cargo run -p magpie-benches --bin charts` writes the charts that
//! `docs/benchmarks.md` shows into `docs/charts/`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

/// One benchmark's result: criterion's mean and its 95% confidence
/// interval, in nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// The function id within its group (the runtime or crate measured).
    pub name: String,
    /// Mean time per iteration, in nanoseconds.
    pub mean: f64,
    /// Lower bound of the mean's 95% confidence interval.
    pub low: f64,
    /// Upper bound of the mean's 95% confidence interval.
    pub high: f64,
}

/// A bench group and its results, in the order the bench lists them.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// criterion's group id.
    pub name: String,
    /// One bar per function of the group.
    pub bars: Vec<Bar>,
}

/// The order in which peers appear: magpie's variants first, then the
/// runtimes and crates it is compared with, then anything else by name.
fn rank(name: &str) -> (usize, String) {
    const ORDER: [&str; 6] = [
        "magpie",
        "magpie-debug",
        "magpie-sync",
        "tokio",
        "smol",
        "futures",
    ];
    let i = ORDER.iter().position(|o| *o == name).unwrap_or(ORDER.len());
    (i, name.to_owned())
}

fn number(v: &serde_json::Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_f64()
}

/// Reads one benchmark's directory (`<group>/<function>`), if it holds a
/// finished run.
fn read_bar(dir: &Path) -> io::Result<Option<(String, Bar)>> {
    let new = dir.join("new");
    let (Ok(bench), Ok(estimates)) = (
        fs::read_to_string(new.join("benchmark.json")),
        fs::read_to_string(new.join("estimates.json")),
    ) else {
        return Ok(None);
    };
    let invalid = |e: serde_json::Error| io::Error::new(io::ErrorKind::InvalidData, e);
    let bench: serde_json::Value = serde_json::from_str(&bench).map_err(invalid)?;
    let estimates: serde_json::Value = serde_json::from_str(&estimates).map_err(invalid)?;
    let text = |key: &str| bench.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let (Some(group), Some(name)) = (text("group_id"), text("function_id")) else {
        return Ok(None);
    };
    let estimate = |path: &[&str]| number(&estimates, path);
    let (Some(mean), Some(low), Some(high)) = (
        estimate(&["mean", "point_estimate"]),
        estimate(&["mean", "confidence_interval", "lower_bound"]),
        estimate(&["mean", "confidence_interval", "upper_bound"]),
    ) else {
        return Ok(None);
    };
    Ok(Some((
        group,
        Bar {
            name,
            mean,
            low,
            high,
        },
    )))
}

/// Every group with at least one finished benchmark under `criterion_dir`
/// (criterion's output directory, normally `target/criterion`), by name.
pub fn read_groups(criterion_dir: &Path) -> io::Result<Vec<Group>> {
    let mut groups: BTreeMap<String, Vec<Bar>> = BTreeMap::new();
    for group_dir in fs::read_dir(criterion_dir)? {
        let group_dir = group_dir?.path();
        if !group_dir.is_dir() {
            continue;
        }
        for bench_dir in fs::read_dir(&group_dir)? {
            let bench_dir = bench_dir?.path();
            if let Some((group, bar)) = read_bar(&bench_dir)? {
                groups.entry(group).or_default().push(bar);
            }
        }
    }
    Ok(groups
        .into_iter()
        .map(|(name, mut bars)| {
            bars.sort_by_key(|b| rank(&b.name));
            Group { name, bars }
        })
        .collect())
}

/// The unit that shows `ns` with one to three digits before the point.
fn unit(ns: f64) -> (f64, &'static str) {
    match ns {
        n if n >= 1e9 => (1e9, "s"),
        n if n >= 1e6 => (1e6, "ms"),
        n if n >= 1e3 => (1e3, "µs"),
        _ => (1.0, "ns"),
    }
}

/// `ns` with three significant digits and a unit: `8.76 ms`, `660 µs`.
pub fn format_time(ns: f64) -> String {
    let (scale, unit) = unit(ns);
    let v = ns / scale;
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.decimals$} {unit}")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Width of the bars' area.
const BARS: f64 = 420.0;
/// Average advance of a character of the labels (sans-serif, 13 px).
const CHAR: f64 = 7.2;
const ROW: f64 = 26.0;
const TOP: f64 = 48.0;
/// Room right of the longest bar for its value.
const VALUE: f64 = 90.0;

/// Draws `group` as a horizontal bar chart (SVG): time per iteration, lower
/// is better.
pub fn render(group: &Group) -> String {
    let max = group
        .bars
        .iter()
        .map(|b| b.high.max(b.mean))
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let longest = group
        .bars
        .iter()
        .map(|b| b.name.chars().count())
        .max()
        .unwrap_or(0);
    let label = (longest as f64 * CHAR + 16.0).max(60.0);
    let width = (label + BARS + VALUE).max(560.0);
    let x = |ns: f64| label + BARS * (ns / max).clamp(0.0, 1.0);
    let height = TOP + ROW * group.bars.len() as f64 + 12.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height}" viewBox="0 0 {width:.0} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="8" y="20" font-size="15" font-weight="bold">{}</text>"#,
        escape(&group.name)
    );
    let _ = writeln!(
        svg,
        r##"<text x="8" y="38" fill="#555">mean time per iteration, lower is better; whiskers: 95% confidence interval</text>"##
    );
    for (i, bar) in group.bars.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let colour = if bar.name.starts_with("magpie") {
            "#d9480f"
        } else {
            "#8c8c8c"
        };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="end">{}</text>"#,
            label - 8.0,
            y + 15.0,
            escape(&bar.name)
        );
        let _ = writeln!(
            svg,
            r#"<rect x="{label:.1}" y="{}" width="{:.1}" height="{}" fill="{colour}"/>"#,
            y + 3.0,
            x(bar.mean) - label,
            ROW - 8.0
        );
        let (lo, hi, mid) = (x(bar.low), x(bar.high), y + ROW / 2.0 - 1.0);
        let _ = writeln!(
            svg,
            r#"<path d="M{lo:.1} {mid}H{hi:.1}M{lo:.1} {}V{}M{hi:.1} {}V{}" stroke="black" stroke-width="1"/>"#,
            mid - 4.0,
            mid + 4.0,
            mid - 4.0,
            mid + 4.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}">{}</text>"#,
            x(bar.mean).max(hi) + 6.0,
            y + 15.0,
            format_time(bar.mean)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Writes `<out_dir>/<group>.svg` for every group under `criterion_dir`;
/// returns the groups drawn.
pub fn write_all(criterion_dir: &Path, out_dir: &Path) -> io::Result<Vec<Group>> {
    let groups = read_groups(criterion_dir)?;
    fs::create_dir_all(out_dir)?;
    for group in &groups {
        fs::write(out_dir.join(format!("{}.svg", group.name)), render(group))?;
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_bench(root: &Path, group: &str, function: &str, mean: f64) {
        let dir = root.join(group).join(function).join("new");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("benchmark.json"),
            format!(r#"{{"group_id":"{group}","function_id":"{function}","value_str":null}}"#),
        )
        .unwrap();
        fs::write(
            dir.join("estimates.json"),
            format!(
                r#"{{"mean":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":{},"upper_bound":{}}},"point_estimate":{mean},"standard_error":1.0}}}}"#,
                mean * 0.9,
                mean * 1.1
            ),
        )
        .unwrap();
    }

    #[test]
    fn reads_groups_orders_peers_and_draws_one_bar_each() {
        let root = std::env::temp_dir().join(format!("magpie-charts-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        write_bench(&root, "ping_pong", "tokio", 1_140_000.0);
        write_bench(&root, "ping_pong", "smol", 1_370_000.0);
        write_bench(&root, "ping_pong", "magpie", 660_000.0);
        write_bench(&root, "yield_many", "magpie", 5_460_000.0);
        // A benchmark that never finished a run is skipped.
        fs::create_dir_all(root.join("ping_pong").join("broken")).unwrap();
        let groups = read_groups(&root).unwrap();
        let names: Vec<_> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["ping_pong", "yield_many"]);
        let bars: Vec<_> = groups[0].bars.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(bars, ["magpie", "tokio", "smol"]);
        assert_eq!(groups[0].bars[0].mean, 660_000.0);
        assert_eq!(groups[0].bars[0].low, 594_000.0);

        let out = root.join("out");
        write_all(&root, &out).unwrap();
        let svg = fs::read_to_string(out.join("ping_pong.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(
            svg.matches(r#"<rect x="#).count(),
            3,
            "one bar per function"
        );
        assert!(
            svg.contains(">660 µs<") && svg.contains(">1.14 ms<"),
            "{svg}"
        );
        assert_eq!(svg.matches("#d9480f").count(), 1, "magpie's bar in colour");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn times_keep_three_significant_digits() {
        assert_eq!(format_time(8_760_000.0), "8.76 ms");
        assert_eq!(format_time(660_627.0), "661 µs");
        assert_eq!(format_time(97.5), "97.5 ns");
        assert_eq!(format_time(1_330_000_000.0), "1.33 s");
    }

    #[test]
    fn the_longest_bar_ends_before_its_value() {
        let group = Group {
            name: "g<&>".into(),
            bars: vec![Bar {
                name: "magpie".into(),
                mean: 10.0,
                low: 9.0,
                high: 20.0,
            }],
        };
        let svg = render(&group);
        assert!(svg.contains("g&lt;&amp;&gt;"));
        // The whisker's right end is the right edge of the bars' area,
        // after a label column sized for "magpie" (at least 60 px).
        let right = 60.0 + BARS;
        assert!(svg.contains(&format!("H{right:.1}")), "{svg}");
    }
}
