//! `compete knn`: k-nearest-neighbour classification on a network's submasks, activations or
//! pre-activations, beside its softmax error (paper A, Tables 1 and 2).

use std::path::PathBuf;

use clap::Args;

use super::common::model_and_data;
use crate::analysis::Representation;
use crate::analysis::submasks::hidden_layer;
use crate::error::Result;
use crate::eval::knn::{DEFAULT_K_GRID, Weighting};
use crate::experiments::knn::knn_report;

/// Flags of `compete knn`.
#[derive(Debug, Args)]
pub struct KnnArgs {
    /// The checkpoint (a .safetensors written by `compete train`).
    pub checkpoint: PathBuf,
    /// Data: `sample`, `mnist:DIR` or `DIR`. The training split is the database, `k` is chosen on
    /// the validation split, the test split is reported.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// Hidden layer, 0 = closest to the input (default: the last hidden layer, paper A's choice).
    #[arg(long)]
    pub layer: Option<usize>,
    /// Representations, comma-separated: submasks (Hamming), activations, pre-activations (Euclidean).
    #[arg(long, value_delimiter = ',', default_value = "submasks,activations,pre-activations")]
    pub features: Vec<Representation>,
    /// Votes, comma-separated: uniform, inverse-distance (paper A appendix B.2).
    #[arg(long, value_delimiter = ',', default_value = "uniform,inverse-distance")]
    pub weighting: Vec<Weighting>,
    /// Candidate values of k (chosen on the validation split).
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_K_GRID)]
    pub k: Vec<usize>,
    /// Validation size (as in training).
    #[arg(long)]
    pub validation: Option<usize>,
    /// Scale examples to unit l2 norm (as in training).
    #[arg(long)]
    pub l2_normalize: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `compete knn`.
pub fn run(args: KnnArgs) -> Result<()> {
    let (model, train, val, test) = model_and_data(&args.checkpoint, &args.data, args.validation, args.l2_normalize)?;
    let enc = model.encoder();
    let layer = hidden_layer(enc, args.layer)?;
    let softmax = model.errors(&test).transpose()?;
    let report = knn_report(enc, softmax, (&train, &val, &test), layer, &args.features, &args.weighting, &args.k)?;
    let json = serde_json::json!({
        "checkpoint": args.checkpoint, "network": enc.describe(), "data": args.data, "report": report,
    });
    if let Some(out) = &args.out {
        crate::report::write_json(out, &json)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json).map_err(|e| crate::Error::Data(e.to_string()))?);
        return Ok(());
    }
    println!("checkpoint   {}", args.checkpoint.display());
    println!("network      {}", enc.describe());
    println!("layer        hidden layer {layer} (0 = closest to the input)");
    println!(
        "data         {}: database {} training examples, k chosen on {} validation examples, {} test examples",
        args.data, report.database_size, report.validation_size, report.test_size
    );
    println!();
    println!("{:<16} {:>6} {:<10} {:<17} {:>4} {:>10} {:>12}", "features", "width", "distance", "votes", "k", "val errors", "test errors");
    println!(
        "{:<16} {:>6} {:<10} {:<17} {:>4} {:>10} {:>12}",
        "softmax",
        "",
        "",
        "",
        "",
        "",
        report.softmax_test_errors.map_or("-".to_string(), |e| e.to_string())
    );
    for row in &report.rows {
        let s = &row.selection;
        let val_errors = s.k_grid.iter().position(|&k| k == s.k).map_or(0, |i| s.validation_errors[i]);
        println!(
            "{:<16} {:>6} {:<10} {:<17} {:>4} {:>10} {:>12}",
            row.representation,
            row.width,
            row.distance,
            s.weighting.to_string(),
            s.k,
            val_errors,
            s.test_errors
        );
    }
    println!(
        "\n(test errors out of {}; features read in {:.1} s, search and votes {:.1} s)",
        report.test_size, report.feature_seconds, report.search_seconds
    );
    Ok(())
}
