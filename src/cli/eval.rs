//! `compete eval`: error and confusion matrix of a checkpoint.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::error::Result;
use crate::eval::Confusion;

/// Which part of the data to evaluate on.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Split {
    /// The test set.
    Test,
    /// The validation split (end of the training set).
    Validation,
    /// The training set without the validation split.
    Train,
}

/// Flags of `compete eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The checkpoint (a .safetensors written by `compete train`).
    pub checkpoint: PathBuf,
    /// Data: `sample`, `mnist:DIR` or `DIR`.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// Which split.
    #[arg(long, value_enum, default_value = "test")]
    pub split: Split,
    /// Validation size (as in training).
    #[arg(long)]
    pub validation: Option<usize>,
    /// Scale examples to unit l2 norm (as in training).
    #[arg(long)]
    pub l2_normalize: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `compete eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    let (model, train, val, test) = super::common::model_and_data(&args.checkpoint, &args.data, args.validation, args.l2_normalize)?;
    let data = match args.split {
        Split::Test => &test,
        Split::Validation => &val,
        Split::Train => &train,
    };
    let (predicted, classes) = model.predict(&data.x).ok_or_else(|| {
        crate::Error::param("checkpoint", args.checkpoint.display(), format!("a classifier (this {} model has no classes)", model.kind()))
    })??;
    let confusion = Confusion::new(classes, &predicted, &data.labels)?;
    let network = model.encoder().describe();
    if args.json {
        let report = serde_json::json!({
            "checkpoint": args.checkpoint, "network": network, "data": args.data,
            "split": format!("{:?}", args.split).to_lowercase(), "examples": data.len(),
            "errors": confusion.errors(), "error_rate": confusion.error_rate(), "confusion": confusion,
        });
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| crate::Error::Data(e.to_string()))?);
    } else {
        println!("checkpoint   {}", args.checkpoint.display());
        println!("network      {network}");
        println!("data         {} ({:?}, {} examples)", args.data, args.split, data.len());
        println!("errors       {} ({:.2}%)", confusion.errors(), 100.0 * confusion.error_rate());
        println!("\nconfusion matrix (rows: true class, columns: predicted)\n{confusion}");
    }
    Ok(())
}
