//! `compete features`: a checkpoint's feature vectors ([`crate::models::Encoder::features`], by
//! default the last hidden layer's outputs) for one split of a dataset, written as a float32 `.npy`
//! with the labels beside it (paper B, section 4: the input of the linear SVM, `compete svm`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::common::model_and_data;
use super::submasks::SubmaskSplit;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::npy::{save_labels_npy, save_matrix_npy};
use crate::tensor::Matrix;

/// Flags of `compete features`.
#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// The checkpoint (a .safetensors written by `compete train`); omit it with `--raw`.
    pub checkpoint: Option<PathBuf>,
    /// The input values themselves (pixels) as features, instead of a checkpoint's.
    #[arg(long, conflicts_with = "checkpoint")]
    pub raw: bool,
    /// Data: `sample`, `mnist:DIR`, `DIR` or `synthetic:...`.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// Which examples (`val` is short for `validation`).
    #[arg(long, value_enum, default_value = "test")]
    pub split: SubmaskSplit,
    /// Output file, `.npy` (float32, shape `[n, width]`); the labels (uint8, shape `[n]`) go
    /// beside it as `<stem>.labels.npy`.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Validation size (as in training).
    #[arg(long)]
    pub validation: Option<usize>,
    /// Scale examples to unit l2 norm (as in training).
    #[arg(long)]
    pub l2_normalize: bool,
}

/// `<stem>.labels.npy` beside a features file `<stem>.npy`.
pub fn labels_path(features: &Path) -> PathBuf {
    let stem = features.file_stem().and_then(|s| s.to_str()).unwrap_or("features");
    features.with_file_name(format!("{stem}.labels.npy"))
}

/// A dataset's examples as a `[n, dim]` matrix (moved, not copied) with their labels.
pub fn dataset_matrix(d: Dataset) -> Result<(Matrix, Vec<u8>)> {
    Ok((Matrix::from_vec(d.labels.len(), d.dim, d.x)?, d.labels))
}

/// The examples of `split` as a matrix with their labels (the training split without, and the
/// full training set with, the validation examples).
pub fn split_matrix(split: SubmaskSplit, train: Dataset, val: Dataset, test: Dataset) -> Result<(Matrix, Vec<u8>)> {
    let (x, labels, dim) = match split {
        SubmaskSplit::Train => (train.x, train.labels, train.dim),
        SubmaskSplit::Validation => (val.x, val.labels, val.dim),
        SubmaskSplit::Test => (test.x, test.labels, test.dim),
        SubmaskSplit::FullTrain => {
            let (mut x, mut labels) = (train.x, train.labels);
            x.extend_from_slice(&val.x);
            labels.extend_from_slice(&val.labels);
            (x, labels, train.dim)
        }
    };
    Ok((Matrix::from_vec(labels.len(), dim, x)?, labels))
}

/// `compete features`.
pub fn run(args: FeaturesArgs) -> Result<()> {
    if args.out.extension().and_then(|e| e.to_str()) != Some("npy") {
        return Err(Error::param("--out", args.out.display(), "a file name ending in .npy"));
    }
    let t0 = Instant::now();
    let (features, labels, source) = match (&args.checkpoint, args.raw) {
        (Some(ck), false) => {
            let (model, train, val, test) = model_and_data(ck, &args.data, args.validation, args.l2_normalize)?;
            let (x, labels) = split_matrix(args.split, train, val, test)?;
            let enc = model.encoder();
            (enc.features(&x)?, labels, enc.describe())
        }
        (None, true) => {
            let (train, val, test) = crate::data::load_split(&args.data, args.validation, args.l2_normalize)?;
            let (x, labels) = split_matrix(args.split, train, val, test)?;
            (x, labels, "raw input values".to_string())
        }
        _ => return Err(Error::param("CHECKPOINT", "(none)", "a checkpoint, or --raw for the input values themselves")),
    };
    let seconds = t0.elapsed().as_secs_f64();
    let labels_file = labels_path(&args.out);
    save_matrix_npy(&args.out, &features)?;
    save_labels_npy(&labels_file, &labels)?;
    println!("features     {source}");
    println!("examples     {} ({:?} of {}), {} features each", features.rows, args.split, args.data, features.cols);
    println!("time         {seconds:.2} s to load and compute");
    println!(
        "written      {} (float32 [{}, {}]) and {} (uint8 [{}])",
        args.out.display(),
        features.rows,
        features.cols,
        labels_file.display(),
        labels.len()
    );
    Ok(())
}
