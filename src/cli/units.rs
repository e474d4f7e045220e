//! `compete units`: part-units and categorical-units of a DrSAE and the figures of paper D's
//! section 3 (Figures 2, 3, 4, 8, 9, 10); the pipeline is [`crate::experiments::units`].

use std::path::PathBuf;

use clap::Args;

use crate::analysis::unit_roles::Thresholds;
use crate::error::Result;
use crate::experiments::units::{UnitsOptions, units};

/// Flags of `compete units`.
#[derive(Debug, Args)]
pub struct UnitsArgs {
    /// The checkpoint (a DrSAE, e.g. after discriminative fine-tuning).
    pub checkpoint: PathBuf,
    /// Data: `sample`, `mnist:DIR` or `DIR`. Statistics and least squares use the first
    /// `--max-examples` of the training split; Figure 9 the test split.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// Output folder (created): units.csv, summary.json and the figures.
    #[arg(short, long, default_value = "units")]
    pub out: PathBuf,
    /// A second DrSAE (e.g. the pretrained network) drawn beside in Figure 3; its units in compare-units.csv.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Test examples whose progressive reconstruction Figure 9 draws, comma-separated (default 0,1,2).
    #[arg(long, value_delimiter = ',')]
    pub inputs: Option<Vec<usize>>,
    /// Units whose optimal decoders Figure 8 draws, comma-separated (default: the 3 most part-like and the 3 most categorical).
    #[arg(long, value_delimiter = ',')]
    pub units: Option<Vec<usize>>,
    /// Training examples used for statistics and the least squares of Figure 8.
    #[arg(long, default_value_t = 10_000)]
    pub max_examples: usize,
    /// Part-units: encoder-decoder angle below this (radians; paper D footnote 7).
    #[arg(long, default_value_t = 0.5)]
    pub part_below: f64,
    /// Categorical-units: encoder-decoder angle above this (radians; paper D footnote 7).
    #[arg(long, default_value_t = 0.7)]
    pub categorical_above: f64,
    /// Units per class in Figure 10 (largest |C_ki|).
    #[arg(long, default_value_t = 5)]
    pub per_class: usize,
    /// Units per row of Figure 2 (three rows: most categorical, evenly stepped, least categorical).
    #[arg(long, default_value_t = 20)]
    pub per_row: usize,
    /// Components per input in Figure 9.
    #[arg(long, default_value_t = 10)]
    pub components: usize,
    /// Most connections drawn in each of Figure 4 (a, b) (a deterministic subsample beyond).
    #[arg(long, default_value_t = 50_000)]
    pub max_points: usize,
    /// Pixels per image pixel in the image figures.
    #[arg(long, default_value_t = 2)]
    pub zoom: usize,
}

/// `compete units`.
pub fn run(args: UnitsArgs) -> Result<()> {
    let opts = UnitsOptions {
        max_examples: args.max_examples,
        thresholds: Thresholds { part_below: args.part_below, categorical_above: args.categorical_above },
        inputs: args.inputs,
        figure8_units: args.units,
        per_class: args.per_class,
        per_row: args.per_row,
        components: args.components,
        max_points: args.max_points,
        zoom: args.zoom,
        ..UnitsOptions::default()
    };
    let r = units(&args.checkpoint, args.compare.as_deref(), &args.data, &args.out, &opts)?;
    let t = &r.thresholds;
    println!("network      {} ({})", r.network, r.checkpoint);
    println!("examples     {} of the training split of {}", r.examples, args.data);
    println!(
        "units        {}: {} part-units (angle < {} rad), {} categorical-units (angle > {} rad), {} between",
        r.counts.units, r.counts.part, t.part_below, r.counts.categorical, t.categorical_above, r.counts.between
    );
    if let (Some(c), Some(p)) = (&r.compare, &r.compare_checkpoint) {
        println!("compared     {}: {} part-units, {} categorical-units, {} between ({p})", c.units, c.part, c.categorical, c.between);
    }
    println!("figure 8     units {:?}", r.figure8_units);
    println!("figure 9     test inputs {:?}", r.figure9_inputs);
    println!("wrote        {} files in {}", r.files.len(), args.out.display());
    Ok(())
}
