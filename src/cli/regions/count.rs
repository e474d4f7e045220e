//! `compete regions count`: the linear regions of a network, exactly on a segment or a 2-D slice,
//! or the sampled lower bound (distinct activation patterns over data or random points). The
//! pipeline is [`crate::experiments::regions::count`](mod@crate::experiments::regions::count).

use std::path::PathBuf;

use clap::Args;

use crate::analysis::regions::CountOptions;
use crate::competition::Competition;
use crate::error::{Error, Result};
use crate::experiments::regions::{CountOutcome, CountProgress, CountSpec, DataSpec, Domain, Patterns, count};

/// Flags of `compete regions count`.
#[derive(Debug, Args)]
pub struct CountArgs {
    /// The network: a checkpoint written by `compete train` or `compete regions construct`, or a
    /// PyTorch `nn.Sequential` MLP saved as safetensors (`0.weight`, `0.bias`, `2.weight`, ...; needs
    /// --competition).
    pub checkpoint: PathBuf,
    /// The hidden layers' competition of a PyTorch file: relu, abs, lwta:<block>, maxout:<rank>.
    #[arg(long)]
    pub competition: Option<Competition>,
    /// Count on the plane through three inputs of the data split, given by index: I,J,K.
    #[arg(long, value_delimiter = ',', num_args = 1, conflicts_with_all = ["segment", "box", "patterns"])]
    pub through: Option<Vec<usize>>,
    /// Count on the segment between two inputs of the data split, given by index: I,J.
    #[arg(long, value_delimiter = ',', num_args = 1, conflicts_with_all = ["box", "patterns"])]
    pub segment: Option<Vec<usize>>,
    /// Literal inputs instead of data indices for --through / --segment: vectors separated by `;`,
    /// values by `,` (e.g. "0,0;1,0;0,1").
    #[arg(long)]
    pub points: Option<String>,
    /// Count on the box A0,A1,B0,B1 of the plane through --origin along input coordinates --axes.
    #[arg(long = "box", value_delimiter = ',', num_args = 1, allow_hyphen_values = true, conflicts_with = "patterns")]
    pub r#box: Option<Vec<f64>>,
    /// The two input coordinates of --box.
    #[arg(long, value_delimiter = ',', num_args = 1, default_value = "0,1")]
    pub axes: Vec<usize>,
    /// The centre of --box: the index of an input of the data split (default: the zero input).
    #[arg(long)]
    pub origin: Option<usize>,
    /// For --through: 0 counts the triangle of the three inputs; m > 0 counts the box
    /// [-m, 1 + m]^2 of the plane (the inputs at (0,0), (1,0), (0,1)).
    #[arg(long, default_value_t = 0.0)]
    pub margin: f64,
    /// The sampled lower bound, for inputs of any dimension: `data` (distinct patterns over the
    /// data split) or `random:N` (N points uniform in --range).
    #[arg(long)]
    pub patterns: Option<String>,
    /// Range of each input coordinate for --patterns random:N: LO,HI (finite, LO < HI in single
    /// precision, HI - LO within the f32 range).
    #[arg(long, value_delimiter = ',', num_args = 1, allow_hyphen_values = true, default_value = "0,1")]
    pub range: Vec<f64>,
    /// Data for inputs given by index and for --patterns data: sample, mnist:DIR, DIR or synthetic:NAME.
    #[arg(long, default_value = "sample")]
    pub data: String,
    /// Which split the indices refer to: train, validation or test.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Validation size (as in training).
    #[arg(long)]
    pub validation: Option<usize>,
    /// Scale examples to unit l2 norm (as in training).
    #[arg(long)]
    pub l2_normalize: bool,
    /// Relative tolerance of the geometry (see `compete::analysis::regions::exact`).
    #[arg(long, default_value_t = 1e-9)]
    pub tolerance: f64,
    /// Stop with an error beyond this many regions, or distinct patterns with --patterns (memory guard).
    #[arg(long, default_value_t = 5_000_000)]
    pub max_regions: usize,
    /// Also run the grid sampler (the approach most tools use) at doubling resolutions until its
    /// distinct patterns reach 99% of the exact count, timing it in the same run.
    #[arg(long)]
    pub grid_compare: bool,
    /// Largest grid resolution tried by --grid-compare (points per side, 16 to 65536).
    #[arg(long, default_value_t = 4096)]
    pub grid_max: usize,
    /// Picture size, pixels on the longer side (2-D slices).
    #[arg(long, default_value_t = 1000)]
    pub resolution: u32,
    /// Seed of --patterns random:N and of --untrained.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Count an untrained network of the checkpoint's architecture instead (fresh weights from
    /// --seed, initialised as `compete train` does), for a trained-versus-untrained comparison.
    #[arg(long)]
    pub untrained: bool,
    /// Output folder: summary.json, regions.jsonl (one region a line), regions.png.
    #[arg(short, long, default_value = "runs/regions")]
    pub out: PathBuf,
    /// Write regions.jsonl (every region's polygon and pattern) when there are at most this many
    /// regions (the file takes about 1 KB a region for a 3x1000 network).
    #[arg(long, default_value_t = 200_000)]
    pub save_regions: usize,
}

/// Runs `compete regions count`.
pub fn run(args: CountArgs) -> Result<()> {
    let domain = if let Some(p) = &args.patterns {
        Domain::Patterns(patterns(p, &args.range)?)
    } else if let Some(idx) = &args.segment {
        Domain::Segment(idx.clone())
    } else if let Some(idx) = &args.through {
        Domain::Plane { through: idx.clone(), margin: args.margin }
    } else if let Some(b) = &args.r#box {
        Domain::Box { bounds: b.clone(), axes: args.axes.clone(), origin: args.origin }
    } else {
        return Err(Error::param(
            "the region to count",
            "none given",
            "one of --through I,J,K, --segment I,J, --box A0,A1,B0,B1 or --patterns data|random:N",
        ));
    };
    let points = args.points.as_deref().map(parse_points).transpose()?;
    let spec = CountSpec {
        checkpoint: args.checkpoint.clone(),
        competition: args.competition,
        untrained: args.untrained,
        seed: args.seed,
        domain,
        points,
        data: DataSpec { source: args.data, split: args.split, validation: args.validation, l2_normalize: args.l2_normalize },
        options: CountOptions { tolerance: args.tolerance, max_regions: args.max_regions },
        grid_max: args.grid_compare.then_some(args.grid_max),
        resolution: args.resolution,
        save_regions: args.save_regions,
        out: args.out.clone(),
    };
    let outcome = count(&spec, &mut |p| match p {
        CountProgress::Untrained { seed } => {
            println!("untrained network (seed {seed}) of the architecture of {}", args.checkpoint.display());
        }
        CountProgress::Counted(c) if c.segment => {
            println!("network {}: {} regions on the segment {} ({:.3} s)", c.network, c.regions, c.domain, c.seconds);
            println!("  regions after each hidden layer: {:?}", c.per_layer);
        }
        CountProgress::Counted(c) => {
            println!(
                "network {}: {} regions on the {} ({:.3} s, {:.0} regions/s)",
                c.network,
                c.regions,
                c.domain,
                c.seconds,
                c.per_second()
            );
            println!("  regions after each hidden layer: {:?}", c.per_layer);
        }
        CountProgress::Grid(r) => println!(
            "  grid {res:>5} x {res:<5}: {:>9} distinct patterns ({:>6.2}% of exact) in {:.3} s",
            r.distinct,
            100.0 * r.fraction,
            r.seconds,
            res = r.resolution
        ),
    })?;
    match outcome {
        CountOutcome::Sampled(s) => println!(
            "network {}: {} distinct activation patterns over {} inputs ({}), a lower bound of its regions ({:.3} s)",
            s.network, s.distinct, s.inputs, s.over, s.seconds
        ),
        CountOutcome::Exact(e) if e.count.segment => println!("wrote {}", args.out.display()),
        CountOutcome::Exact(e) => {
            if let Some(g) = &e.grid {
                match g.reached {
                    Some((r, s)) => println!("  the grid sampler reached 99% at {r} x {r} in {s:.3} s"),
                    None => println!("  the grid sampler did not reach 99% up to {0} x {0}", g.grid_max),
                }
            }
            if !e.regions_saved {
                println!("  regions.jsonl not written: {} regions > --save-regions {}", e.count.regions, e.save_regions);
            }
            println!("wrote {} (summary.json, regions.png{})", args.out.display(), if e.regions_saved { ", regions.jsonl" } else { "" });
        }
    }
    Ok(())
}

/// `--patterns data` or `--patterns random:N` (the range is checked by the pipeline).
fn patterns(spec: &str, range: &[f64]) -> Result<Patterns> {
    if spec == "data" {
        return Ok(Patterns::Data);
    }
    match spec.strip_prefix("random:") {
        Some(k) => {
            let points = k
                .parse()
                .ok()
                .filter(|&n: &usize| n > 0)
                .ok_or_else(|| Error::param("--patterns", spec, "data or random:N with N >= 1"))?;
            Ok(Patterns::Random { points, range: range.to_vec() })
        }
        None => Err(Error::param("--patterns", spec, "data or random:N")),
    }
}

/// `--points`: vectors separated by `;`, values by `,`.
fn parse_points(p: &str) -> Result<Vec<Vec<f64>>> {
    p.split(';')
        .map(|v| {
            v.split(',')
                .map(|x| x.trim().parse::<f64>())
                .collect::<std::result::Result<Vec<f64>, _>>()
                .map_err(|_| Error::param("--points", v, "numbers separated by `,`, vectors by `;`"))
        })
        .collect()
}
