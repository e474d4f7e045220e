//! `compete complete`: masked images completed by an activation-learning network (paper C, eq. 17,
//! Figure 11c): the label inferred from the visible top rows, then the hidden rows inferred by
//! maximizing the output activation.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::common::activation_net_and_data;
use super::features::split_matrix;
use super::submasks::SubmaskSplit;
use crate::error::{Error, Result};
use crate::experiments::activation_inference::{InferenceOptions, complete};
use crate::tensor::Matrix;

/// Grey level of the hidden pixels in the picture of the masked inputs.
const MASK_GREY: f32 = 0.3;

/// Flags of `compete complete`.
#[derive(Debug, Args)]
pub struct CompleteArgs {
    /// The checkpoint (an activation network trained with the label as input).
    pub checkpoint: PathBuf,
    /// Data: `sample`, `mnist:DIR` or `DIR`.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// The known part: `top:R`, the top R rows of every image.
    #[arg(long, default_value = "top:14")]
    pub visible: String,
    /// Images to complete (the first ones of the split).
    #[arg(short, default_value_t = 100)]
    pub n: usize,
    /// Which examples (`val` is short for `validation`).
    #[arg(long, value_enum, default_value = "test")]
    pub split: SubmaskSplit,
    /// Output picture (PNG): every masked input (hidden pixels dark grey) beside its completion.
    #[arg(short, long, default_value = "completed.png")]
    pub out: PathBuf,
    /// Adam steps.
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 0.05)]
    pub lr: f32,
    /// Weight β of the L1 term on the hidden part.
    #[arg(long, default_value_t = 0.003)]
    pub beta: f32,
    /// Pixels per image pixel.
    #[arg(long, default_value_t = 3)]
    pub zoom: usize,
}

/// The rows of `--visible top:R`.
fn parse_visible(s: &str) -> Result<usize> {
    s.strip_prefix("top:")
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| Error::param("--visible", s, "top:R, the number R of visible rows at the top of the image"))
}

/// `compete complete`.
pub fn run(args: CompleteArgs) -> Result<()> {
    let t0 = Instant::now();
    let visible = parse_visible(&args.visible)?;
    if args.n == 0 {
        return Err(Error::param("-n", 0, "at least 1 image"));
    }
    if args.zoom == 0 {
        return Err(Error::param("--zoom", 0, "at least 1"));
    }
    let (net, train, val, test) = activation_net_and_data(&args.checkpoint, &args.data)?;
    if net.config.classes == 0 {
        return Err(Error::param(
            "checkpoint",
            args.checkpoint.display(),
            format!("an activation network with the label as input ({} has none)", net.config.describe()),
        ));
    }
    let shape = test.image_shape.ok_or_else(|| Error::param("--data", &args.data, "images with a shape (rows x columns)"))?;
    let (x, labels) = split_matrix(args.split, train, val, test)?;
    let n = args.n.min(x.rows);
    let x = Matrix::from_vec(n, x.cols, x.data[..n * x.cols].to_vec())?;
    let opts = InferenceOptions { steps: args.steps, lr: args.lr, noise: 0.0, beta: args.beta, seed: 0, progress: true };
    let (pred, done) = complete(&net, &x, shape, visible, &opts)?;
    let seconds = t0.elapsed().as_secs_f64();
    let correct = pred.iter().zip(&labels).filter(|(p, l)| **p == usize::from(**l)).count();
    let split = visible * shape.1;
    let mut masked = x.clone();
    (0..n).for_each(|b| masked.row_mut(b)[split..].fill(MASK_GREY));
    let tiles: Vec<&[f32]> = (0..n).flat_map(|b| [masked.row(b), done.row(b)]).collect();
    crate::report::images::write_images(&args.out, &tiles, shape, 2 * n.min(10), args.zoom)?;
    println!("network      {}", net.config.describe());
    println!(
        "completed    {n} images of {:?} of {}, top {visible} of {} rows visible, {} Adam steps",
        args.split, args.data, shape.0, args.steps
    );
    println!("labels       {correct}/{n} inferred correctly from the visible part ({:.1}%)", 100.0 * correct as f64 / n as f64);
    println!("time         {seconds:.2} s");
    println!("wrote        {} (each masked input beside its completion)", args.out.display());
    Ok(())
}
