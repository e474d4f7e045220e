//! `compete unit-features`: the features the most excited units of a layer of an activation-learning
//! network detect (paper C, Figure 3): the mean gradient of each unit's net input with respect to
//! the image, positive red and negative blue.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::common::{activation_net_and_data, square_shape};
use super::features::split_matrix;
use super::submasks::SubmaskSplit;
use crate::error::{Error, Result};
use crate::experiments::activation_inference::unit_feature_grid;
use crate::tensor::Matrix;

/// Flags of `compete unit-features`.
#[derive(Debug, Args)]
pub struct UnitFeaturesArgs {
    /// The checkpoint (an activation network).
    pub checkpoint: PathBuf,
    /// Data: `sample`, `mnist:DIR` or `DIR`.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// Layer, 0 = closest to the input.
    #[arg(long, default_value_t = 0)]
    pub layer: usize,
    /// Units to draw: the most excited ones.
    #[arg(long, default_value_t = 36)]
    pub top: usize,
    /// Inputs to average over (the first ones of the split, with their true labels).
    #[arg(short, default_value_t = 100)]
    pub n: usize,
    /// Which examples (`val` is short for `validation`).
    #[arg(long, value_enum, default_value = "test")]
    pub split: SubmaskSplit,
    /// Output picture (PNG).
    #[arg(short, long, default_value = "features.png")]
    pub out: PathBuf,
    /// Pixels per image pixel.
    #[arg(long, default_value_t = 3)]
    pub zoom: usize,
}

/// `compete unit-features`.
pub fn run(args: UnitFeaturesArgs) -> Result<()> {
    let t0 = Instant::now();
    for (flag, v) in [("-n", args.n), ("--top", args.top), ("--zoom", args.zoom)] {
        if v == 0 {
            return Err(Error::param(flag, 0, "at least 1"));
        }
    }
    let (net, train, val, test) = activation_net_and_data(&args.checkpoint, &args.data)?;
    if args.layer >= net.depth() {
        return Err(Error::param("--layer", args.layer, format!("a layer from 0 (closest to the input) to {}", net.depth() - 1)));
    }
    let shape = test.image_shape.unwrap_or_else(|| square_shape(net.config.data));
    let (x, labels) = split_matrix(args.split, train, val, test)?;
    let n = args.n.min(x.rows);
    let x = Matrix::from_vec(n, x.cols, x.data[..n * x.cols].to_vec())?;
    let u = if net.config.classes > 0 { net.input(&x, Some(&labels[..n]), 0)? } else { net.input(&x, None, 0)? };
    let f = unit_feature_grid(&net, &u, args.layer, args.top)?;
    let seconds = t0.elapsed().as_secs_f64();
    crate::report::images::write_atoms(&args.out, &f.tiles, shape, args.zoom)?;
    println!("network      {}", net.config.describe());
    println!(
        "layer        {} ({} units), the {} most excited over {n} inputs of {:?}",
        args.layer,
        net.config.layers[args.layer],
        f.units.len(),
        args.split
    );
    println!("units        {:?}", f.units);
    println!("time         {seconds:.2} s");
    println!(
        "wrote        {} (red: the pixel excites the unit, blue: inhibits; each tile scaled to its own largest |value|)",
        args.out.display()
    );
    Ok(())
}
