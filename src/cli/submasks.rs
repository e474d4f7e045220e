//! `compete submasks`: the submasks of a hidden layer of a checkpoint for a dataset, written as
//! packed binary codes (paper A, section 3).

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};

use super::common::model_and_data;
use crate::analysis::submasks;
use crate::analysis::submasks::hidden_layer;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::retrieval::io::{save_codes, save_codes_npy, save_labels_npy};

/// Which examples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SubmaskSplit {
    /// The training split (without the validation examples).
    Train,
    /// The validation split (the last training examples).
    #[value(alias = "val")]
    Validation,
    /// The test set.
    Test,
    /// The whole training set, validation included, in file order (60000 for MNIST).
    FullTrain,
}

/// Flags of `compete submasks`.
#[derive(Debug, Args)]
pub struct SubmasksArgs {
    /// The checkpoint (a .safetensors written by `compete train`).
    pub checkpoint: PathBuf,
    /// Data: `sample`, `mnist:DIR`, `DIR` or `synthetic:...`.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// Which examples.
    #[arg(long, value_enum, default_value = "test")]
    pub split: SubmaskSplit,
    /// Hidden layer, 0 = closest to the input (default: the last hidden layer, paper A's choice).
    #[arg(long)]
    pub layer: Option<usize>,
    /// Output file: `.codes` (compete's packed format) or `.npy` (uint8, numpy `packbits` order).
    /// The labels go beside it as `<stem>.labels.npy`.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Validation size (as in training).
    #[arg(long)]
    pub validation: Option<usize>,
    /// Scale examples to unit l2 norm (as in training).
    #[arg(long)]
    pub l2_normalize: bool,
}

/// `compete submasks`.
pub fn run(args: SubmasksArgs) -> Result<()> {
    let ext = args.out.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext != "codes" && ext != "npy" {
        return Err(Error::param("--out", args.out.display(), "a file name ending in .codes or .npy"));
    }
    let (model, train, val, test) = model_and_data(&args.checkpoint, &args.data, args.validation, args.l2_normalize)?;
    let enc = model.encoder();
    let layer = hidden_layer(enc, args.layer)?;
    let full;
    let data: &Dataset = match args.split {
        SubmaskSplit::Train => &train,
        SubmaskSplit::Validation => &val,
        SubmaskSplit::Test => &test,
        SubmaskSplit::FullTrain => {
            let mut x = train.x.clone();
            x.extend_from_slice(&val.x);
            let mut labels = train.labels.clone();
            labels.extend_from_slice(&val.labels);
            full = Dataset::from_parts(x, labels, train.dim, train.image_shape, train.classes.max(val.classes))?;
            &full
        }
    };
    let t0 = Instant::now();
    let codes = submasks(enc, &data.x, layer, 500)?;
    let seconds = t0.elapsed().as_secs_f64();
    if ext == "npy" {
        save_codes_npy(&args.out, &codes)?;
    } else {
        save_codes(&args.out, &codes)?;
    }
    let stem = args.out.file_stem().and_then(|s| s.to_str()).unwrap_or("submasks");
    let labels_path = args.out.with_file_name(format!("{stem}.labels.npy"));
    save_labels_npy(&labels_path, &data.labels)?;
    let ones: u64 = (0..codes.len()).map(|i| codes.count_ones(i) as u64).sum();
    let density = ones as f64 / (codes.len() * codes.bits()).max(1) as f64;
    println!("network      {}", enc.describe());
    println!("layer        hidden layer {layer} ({}), {} bits per submask", enc.layers()[layer].competition, codes.bits());
    println!("examples     {} ({:?} of {})", codes.len(), args.split, args.data);
    println!("ones         {:.1}% of the bits", 100.0 * density);
    println!("time         {seconds:.2} s to extract ({:.0} examples/s)", codes.len() as f64 / seconds.max(1e-9));
    println!("written      {} and {}", args.out.display(), labels_path.display());
    Ok(())
}
