//! `compete regions maps`: the linear maps of a hidden unit over a dataset (paper E, section 2.6,
//! eq. (8), appendix G). The pipeline is [`crate::experiments::regions::maps`](mod@crate::experiments::regions::maps), the numerics are in
//! [`crate::analysis::regions::linear_maps`].
//!
//! For one unit (`--unit`), or for the units with the most different maps among `--pick N` random
//! ones (appendix G: 20 random units, the four with the largest distance between cluster centres
//! shown), it computes the unit's map `u` at every example where its activation is positive, clusters
//! the maps with k-means (`--k`, 4 in the paper), and moves the `--identify` examples whose response
//! is closest to `--target` along their maps until the unit's value is exactly the target (Fig. 10).
//!
//! Files written to `-o DIR`:
//! - `maps.json`: everything below, with the centres and the identified inputs;
//! - `unit-<J>-responses.csv`: per example: index, label, response, activation, cluster (empty when
//!   the activation is not positive);
//! - `unit-<J>-centres.csv`: per cluster: size and the centre's values;
//! - `candidates.csv` with `--pick`: every unit scanned, its positive count and spread;
//! - for image data, `centres.png` (one row per unit, its cluster centres, largest cluster first, in
//!   diverging colours: red positive, blue negative, white zero, each tile on its own symmetric scale)
//!   and `unit-<J>-identified.png` (one row per identified input: the source example, the point found,
//!   their difference and the source's map `u`; inputs in grey, each pair on a shared scale).

use std::path::PathBuf;

use clap::Args;

use crate::competition::Competition;
use crate::error::Result;
use crate::experiments::regions::{MapsSpec, UnitReport, maps};

/// Flags of `compete regions maps`.
#[derive(Debug, Args)]
pub struct MapsArgs {
    /// The network: a checkpoint written by `compete train`, or a PyTorch nn.Sequential MLP saved as
    /// safetensors (then give --competition).
    pub checkpoint: PathBuf,
    /// Competition of a PyTorch file's hidden layers: relu, abs, lwta:<block>, maxout:<rank>.
    #[arg(long)]
    pub competition: Option<Competition>,
    /// Data: `sample`, `mnist:DIR`, `DIR` or `synthetic:...`; the maps are taken on the training split.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// Validation size held out of the training split (as in training).
    #[arg(long)]
    pub validation: Option<usize>,
    /// Scale examples to unit l2 norm (as in training).
    #[arg(long)]
    pub l2_normalize: bool,
    /// Layer, 0 = the hidden layer closest to the input; the number of hidden layers names the output
    /// layer (logits). Default: the last hidden layer.
    #[arg(long)]
    pub layer: Option<usize>,
    /// The unit (0-based; a maxout unit, not a piece).
    #[arg(long, conflicts_with = "pick")]
    pub unit: Option<usize>,
    /// Scan this many random units of the layer and keep those whose cluster centres lie farthest
    /// apart (appendix G scans 20).
    #[arg(long)]
    pub pick: Option<usize>,
    /// With --pick: how many units to keep (appendix G keeps 4).
    #[arg(long, default_value_t = 4)]
    pub keep: usize,
    /// With --pick: units positive on fewer examples come after all others, whatever their spread (a
    /// few scattered maps are far apart without saying much). Default: 1% of the examples, at least --k.
    #[arg(long)]
    pub min_positive: Option<usize>,
    /// Clusters of each unit's maps (appendix G: 4); at most the examples used.
    #[arg(long, default_value_t = 4)]
    pub k: usize,
    /// Training examples used (the first ones of the training split).
    #[arg(long, default_value_t = 10000)]
    pub examples: usize,
    /// Value the identified inputs reach (default: the unit's median positive activation, rounded to
    /// two significant digits, so that no example sits on it by construction).
    #[arg(long)]
    pub target: Option<f64>,
    /// Inputs to identify per unit (0: none).
    #[arg(long, default_value_t = 3)]
    pub identify: usize,
    /// Seed of --pick's units and of k-means++.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Pixels per input pixel in the PNGs.
    #[arg(long, default_value_t = 4)]
    pub zoom: usize,
    /// Output directory.
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
}

/// Runs `compete regions maps`.
pub fn run(args: MapsArgs) -> Result<()> {
    let spec = MapsSpec {
        checkpoint: args.checkpoint,
        competition: args.competition,
        data: args.data,
        validation: args.validation,
        l2_normalize: args.l2_normalize,
        layer: args.layer,
        unit: args.unit,
        pick: args.pick,
        keep: args.keep,
        min_positive: args.min_positive,
        k: args.k,
        examples: args.examples,
        target: args.target,
        identify: args.identify,
        seed: args.seed,
        zoom: args.zoom,
        out: args.out,
    };
    let o = maps(&spec)?;
    println!("network      {}", o.network);
    println!("data         {}: the first {} training examples", o.data, o.examples);
    println!("layer        {}", o.layer_name);
    if let Some((scanned, min_positive)) = o.picked {
        println!(
            "picked       {} of {scanned} random units by the spread of their cluster centres (among those positive on at least {min_positive} examples)",
            o.units.len(),
        );
    }
    for r in &o.units {
        print_unit(r, o.examples, o.identify);
    }
    if !o.images {
        println!("(the inputs are not images: no PNGs, the maps are in maps.json)");
    }
    println!("wrote        {}", o.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    println!("time         {:.1} s", o.seconds);
    Ok(())
}

fn print_unit(r: &UnitReport, n: usize, want: usize) {
    let p = r.positive.len();
    println!();
    println!("unit {:<7} positive on {p} of {n} examples ({:.1}%)", r.unit, 100.0 * p as f64 / n as f64);
    match &r.clusters {
        Some(c) => println!(
            "  k-means    {} clusters of {} maps; spread {:.4} (largest distance between centres); inertia {:.4e}{}",
            c.k,
            c.sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(", "),
            r.spread,
            c.inertia,
            if c.converged { "" } else { " (iteration limit)" }
        ),
        None => println!("  k-means    no positive activation: nothing to cluster"),
    }
    match r.target {
        Some(t) => println!("  target     {t:.6} ({})", r.target_source),
        None if want > 0 => println!("  target     none (no positive activation; give --target to identify inputs)"),
        None => {}
    }
    for (f, label) in &r.identified {
        println!(
            "  identified example {} (label {label}): {:.6} -> {:.6} (off by {:.1e}) in {} step{}{}, {}, moved {:.4}",
            f.source,
            f.source_value,
            f.value,
            (f.value - r.target.unwrap_or(f.value)).abs(),
            f.steps,
            if f.steps == 1 { "" } else { "s" },
            if f.reached { "" } else { " (target NOT reached)" },
            if f.same_region { "same region" } else { "another region" },
            f.distance
        );
    }
}
