//! `compete map`: a t-SNE map of a checkpoint's submasks coloured by class (paper A, Figure 3).

use std::path::PathBuf;

use clap::Args;

use super::eval::Split;
use crate::error::Result;
use crate::experiments::map::{MapOptions, MapPanel, submask_map_of, write_map};
use crate::report::progress::ProgressMode;
use crate::report::tsne::{CodeMetric, TsneParams};

/// Flags of `compete map`.
#[derive(Debug, Args)]
pub struct MapArgs {
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
    /// Hidden layer whose submasks are mapped, 0 nearest the input (default: the last hidden layer,
    /// the paper's penultimate layer).
    #[arg(long)]
    pub layer: Option<usize>,
    /// Distance between submasks: hamming or jaccard.
    #[arg(long, default_value = "hamming")]
    pub metric: CodeMetric,
    /// Map this many examples, a subset stratified by class drawn with --seed (default: all).
    #[arg(long)]
    pub points: Option<usize>,
    /// t-SNE perplexity (> 0 and < points / 3).
    #[arg(long, default_value_t = 30.0)]
    pub perplexity: f64,
    /// t-SNE iterations.
    #[arg(long, default_value_t = 1000)]
    pub iterations: usize,
    /// Barnes-Hut accuracy (0: exact, slow).
    #[arg(long, default_value_t = 0.5)]
    pub theta: f64,
    /// Seed of t-SNE, of the subset and of the untrained network.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also map the same layer of a freshly initialised network of the same shape (Figure 3a).
    #[arg(long)]
    pub untrained: bool,
    /// Output folder: map.png, map-untrained.png, map.csv.
    #[arg(long, default_value = "runs/map")]
    pub out: PathBuf,
}

/// One summary line of a map.
fn summary(name: &str, p: &MapPanel, n: usize) -> String {
    format!(
        "{name:<10} {:>6} distinct submasks of {n}, {:>5.1}% of bits active, KL {:.3}, same-class nearest neighbour {:.1}% ({:.1}s)",
        p.distinct_codes,
        100.0 * p.active_share,
        p.kl_divergence,
        100.0 * p.agreement,
        p.seconds
    )
}

/// `compete map`.
pub fn run(args: MapArgs) -> Result<()> {
    let (model, train, val, test) = super::common::model_and_data(&args.checkpoint, &args.data, args.validation, args.l2_normalize)?;
    let (data, split) = match args.split {
        Split::Test => (&test, "test"),
        Split::Validation => (&val, "validation"),
        Split::Train => (&train, "train"),
    };
    let options = MapOptions {
        layer: args.layer,
        metric: args.metric,
        points: args.points,
        tsne: TsneParams {
            perplexity: args.perplexity,
            theta: args.theta,
            iterations: args.iterations,
            seed: args.seed,
            ..TsneParams::default()
        },
        untrained: args.untrained,
        progress: ProgressMode::Auto,
    };
    crate::report::io::create_out_dir("--out", &args.out)?;
    // The untrained model of the same architecture, as `submask_map` draws it (seed of the map).
    let fresh = if args.untrained { Some(model.untrained(args.seed)?) } else { None };
    let map = submask_map_of(model.encoder(), fresh.as_ref().map(|m| m.encoder()), data, &options)?;
    let data_name = format!("{} {split} split", args.data);
    let written = write_map(&args.out, &map, &data_name, None)?;
    println!("checkpoint   {}", args.checkpoint.display());
    println!("network      {}", map.network);
    println!("layer        {} of 0..{} ({} bits per submask)", map.layer, map.hidden_layers - 1, map.bits);
    println!("data         {data_name}, {} of {} examples", map.indices.len(), data.len());
    println!(
        "t-SNE        {} distance, perplexity {}, theta {}, {} iterations, seed {}",
        map.metric, args.perplexity, args.theta, args.iterations, args.seed
    );
    println!("{}", summary("trained", &map.trained, map.indices.len()));
    if let Some(u) = &map.untrained {
        println!("{}", summary("untrained", u, map.indices.len()));
    }
    for path in written {
        println!("wrote        {}", path.display());
    }
    Ok(())
}
