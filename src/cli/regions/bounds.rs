//! `compete regions bounds`: the exact region-count bounds of paper E for one architecture, as a
//! Markdown table (or JSON). The numbers are computed in [`crate::analysis::regions::bounds`].

use std::fmt::Write as _;

use clap::Args;

use crate::analysis::regions::bounds::{BoundsReport, FULL_DIGITS, abbreviate, bounds_report};
use crate::error::{Error, Result};

/// Flags of `compete regions bounds`.
#[derive(Debug, Args)]
pub struct BoundsArgs {
    /// Input dimension n0.
    #[arg(long)]
    pub n0: usize,
    /// Hidden widths n_1,...,n_L, comma-separated (e.g. 10,10,10).
    #[arg(long, value_delimiter = ',', required = true)]
    pub widths: Vec<usize>,
    /// Also give the maxout bounds (Proposition 7, Theorem 8) for this rank k >= 2.
    #[arg(long, value_name = "RANK")]
    pub maxout: Option<usize>,
    /// Units of the shallow network compared with (default: the sum of the widths).
    #[arg(long)]
    pub shallow_units: Option<usize>,
    /// Print the report as JSON (all digits) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Print every digit in the table (values over 40 digits are abbreviated otherwise).
    #[arg(long)]
    pub full: bool,
}

/// Runs `compete regions bounds`.
pub fn run(args: BoundsArgs) -> Result<()> {
    let report = bounds_report(args.n0, &args.widths, args.maxout, args.shallow_units)?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| Error::Data(format!("writing the bounds report as JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", markdown(&report, args.full));
    }
    Ok(())
}

/// The report as a Markdown table (quantity | reference | value | log10) with its notes and caveats.
/// Values over [`FULL_DIGITS`] digits are abbreviated unless `full`.
pub fn markdown(report: &BoundsReport, full: bool) -> String {
    let widths = report.widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(",");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Linear-region bounds (paper E): n0 = {} inputs, hidden widths {widths} (N = {} units, L = {} layers); shallow comparison: {} units{}",
        report.n0,
        report.hidden_units,
        report.widths.len(),
        report.shallow_units,
        report.maxout_rank.map_or(String::new(), |k| format!("; maxout rank {k}")),
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| quantity | reference | value | log10 |");
    let _ = writeln!(out, "|---|---|---:|---:|");
    let mut abbreviated = false;
    for row in &report.rows {
        let value = match &row.value {
            Some(v) if full => v.clone(),
            Some(v) => {
                let a = abbreviate(v);
                abbreviated |= a != *v;
                a
            }
            None => "n/a".to_string(),
        };
        let log10 = row.log10.map_or(String::new(), |l| format!("{l:.3}"));
        let _ = writeln!(out, "| {} | {} | {value} | {log10} |", row.name, row.reference);
    }
    let notes: Vec<String> = report.rows.iter().filter(|r| !r.notes.is_empty()).map(|r| format!("- {}: {}", r.name, r.notes)).collect();
    if !notes.is_empty() || !report.caveats.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Notes:");
        for n in notes {
            let _ = writeln!(out, "{n}");
        }
        for c in &report.caveats {
            let _ = writeln!(out, "- caveat: {c}");
        }
    }
    if abbreviated {
        let _ = writeln!(out);
        let _ = writeln!(out, "Values with more than {FULL_DIGITS} digits are abbreviated; `--full` or `--json` gives all digits.");
    }
    out
}
