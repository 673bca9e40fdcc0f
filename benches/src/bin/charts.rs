//! Draws an SVG bar chart per bench group from criterion's last results.
//!
//! ```text
//! cargo run -p magpie-benches --bin charts [-- <criterion dir> <out dir>]
//! ```
//!
//! Defaults: `target/criterion` and `docs/charts` (run from the workspace
//! root, after the benches).

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let criterion = args
        .next()
        .map_or_else(|| PathBuf::from("target/criterion"), PathBuf::from);
    let out = args
        .next()
        .map_or_else(|| PathBuf::from("docs/charts"), PathBuf::from);
    match magpie_benches::charts::write_all(&criterion, &out) {
        Ok(groups) => {
            for group in &groups {
                println!(
                    "{}/{}.svg ({} bars)",
                    out.display(),
                    group.name,
                    group.bars.len()
                );
            }
        }
        Err(err) => {
            eprintln!("charts: cannot read {}: {err}", criterion.display());
            std::process::exit(1);
        }
    }
}
