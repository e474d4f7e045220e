//! `compete retrieve`: retrieval with submasks as binary codes (paper A, section 4.2): test images
//! are the queries, the training split the database; mAP@k and precision-recall for the submasks
//! and a baseline code of the same length.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::error::{Error, Result};
use crate::experiments::retrieval::{Baseline, RetrievalOptions, RetrievalReport, evaluate_codes, layer_codes, resolve_layer};
use crate::report::{Series, line_plot, write_atomic, write_json};
use crate::retrieval::io::{save_codes, save_codes_npy, save_labels_npy};

/// Flags of `compete retrieve`.
#[derive(Debug, Args)]
pub struct RetrieveArgs {
    /// The checkpoint (a .safetensors written by `compete train`).
    pub checkpoint: PathBuf,
    /// Data: `sample`, `mnist:DIR`, `DIR` or `synthetic:...`.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// Hidden layer whose submasks are the codes, 0 = closest to the input (default: the last hidden layer).
    #[arg(long)]
    pub layer: Option<usize>,
    /// Cut-offs of mAP@k, comma-separated (paper A, Table 4).
    #[arg(long, value_delimiter = ',', default_value = "5,10,100")]
    pub k: Vec<usize>,
    /// Baseline code to compare with.
    #[arg(long, default_value = "lsh")]
    pub baseline: Baseline,
    /// Seed of the baseline's random directions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder for retrieval.json, pr.csv and pr.png.
    #[arg(long, default_value = "runs/retrieve")]
    pub out: PathBuf,
    /// Validation size (as in training): the database is the training split without it.
    #[arg(long)]
    pub validation: Option<usize>,
    /// Scale examples to unit l2 norm (as in training).
    #[arg(long)]
    pub l2_normalize: bool,
    /// Also write the codes and labels to OUT/codes/ (`.codes` and NumPy `packbits` `.npy`).
    #[arg(long)]
    pub save_codes: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `compete retrieve`.
pub fn run(args: RetrieveArgs) -> Result<()> {
    let (model, database, _, queries) = super::common::model_and_data(&args.checkpoint, &args.data, args.validation, args.l2_normalize)?;
    let enc = model.encoder();
    let layer = resolve_layer(enc, args.layer)?;
    if let Some(&k) = args.k.iter().find(|&&k| k == 0 || k > database.len()) {
        return Err(Error::param("--k", k, format!("between 1 and the database size, {}", database.len())));
    }
    crate::report::io::create_out_dir("--out", &args.out)?;
    let options = RetrievalOptions {
        layer: Some(layer),
        ks: args.k.clone(),
        baseline: args.baseline,
        seed: args.seed,
        ..RetrievalOptions::default()
    };
    let codes = layer_codes(enc, &database, &queries, layer, &options)?;
    if args.save_codes {
        let dir = args.out.join("codes");
        for c in &codes {
            for (part, set) in [("database", &c.database), ("queries", &c.queries)] {
                save_codes(&dir.join(format!("{}-{part}.codes", c.name)), set)?;
                save_codes_npy(&dir.join(format!("{}-{part}.npy", c.name)), set)?;
            }
        }
        save_labels_npy(&dir.join("labels-database.npy"), &database.labels)?;
        save_labels_npy(&dir.join("labels-queries.npy"), &queries.labels)?;
    }
    let reports = codes.iter().map(|c| evaluate_codes(c, &database.labels, &queries.labels, &options.ks)).collect::<Result<Vec<_>>>()?;
    let report = RetrievalReport { layer, database: database.len(), queries: queries.len(), codes: reports };

    let json = serde_json::json!({
        "checkpoint": args.checkpoint, "network": enc.describe(), "data": args.data,
        "database_set": "training split (without the validation examples)", "query_set": "test set", "options": options, "report": report,
    });
    write_json(&args.out.join("retrieval.json"), &json)?;
    write_atomic(&args.out.join("pr.csv"), pr_csv(&report).as_bytes())?;
    let series: Vec<Series> = report
        .codes
        .iter()
        .map(|c| Series::new(format!("{} ({} bits)", c.code, c.bits), c.pr.points.iter().map(|p| (p.recall, p.precision)).collect()))
        .collect();
    let title = format!("Precision-recall by Hamming radius: {}, layer {layer}", file_name(&args.checkpoint));
    line_plot(&args.out.join("pr.png"), &title, "recall", "precision", &series, false)?;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&json).map_err(|e| Error::Data(e.to_string()))?);
    } else {
        println!("checkpoint   {}", args.checkpoint.display());
        println!("network      {}", enc.describe());
        println!("data         {} (database: {} training examples, queries: {} test examples)", args.data, database.len(), queries.len());
        println!("layer        {layer}\n");
        print!("{}", table(&report));
        println!("\nwrote {}, pr.csv and pr.png", args.out.join("retrieval.json").display());
    }
    Ok(())
}

/// The last component of `path`, for titles.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The precision-recall points as CSV (`code,radius,precision,recall`; an undefined precision, when
/// no query retrieves anything, is left empty).
fn pr_csv(report: &RetrievalReport) -> String {
    let mut out = String::from("code,radius,precision,recall\n");
    for c in &report.codes {
        for p in &c.pr.points {
            let precision = if p.precision.is_finite() { p.precision.to_string() } else { String::new() };
            let _ = writeln!(out, "{},{},{precision},{}", c.code, p.radius, p.recall);
        }
    }
    out
}

/// The summary table: code, bits, fraction of ones, mAP@k per k, queries with no relevant item.
fn table(report: &RetrievalReport) -> String {
    let ks: Vec<usize> = report.codes.first().map(|c| c.map.iter().map(|m| m.k).collect()).unwrap_or_default();
    let mut out = format!("{:<10} {:>6} {:>6}", "code", "bits", "ones");
    for k in &ks {
        out += &format!(" {:>9}", format!("mAP@{k}"));
    }
    let _ = writeln!(out, "  queries with no relevant item in the top {}", ks.iter().map(|k| k.to_string()).collect::<Vec<_>>().join("/"));
    for c in &report.codes {
        out += &format!("{:<10} {:>6} {:>5.1}%", c.code, c.bits, 100.0 * c.ones);
        for m in &c.map {
            out += &format!(" {:>9.4}", m.map);
        }
        let _ = writeln!(out, "  {}", c.map.iter().map(|m| m.no_relevant.to_string()).collect::<Vec<_>>().join("/"));
    }
    out
}
