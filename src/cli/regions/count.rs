//! `compete regions count`: the linear regions of a network, exactly on a segment or a 2-D slice,
//! or the sampled lower bound (distinct activation patterns over data or random points).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::analysis::regions::sample::{PatternSampler, grid_patterns_with};
use crate::analysis::regions::{CountOptions, Partition2d, PwlNet, Segment, Slice2d, count_1d, count_2d};
use crate::competition::Competition;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::mlp::Mlp;
use crate::report::io::{write_atomic, write_json};
use crate::report::regions::write_partition_png;

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
    /// Range of each input coordinate for --patterns random:N: LO,HI.
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
    /// Stop with an error beyond this many regions (memory guard).
    #[arg(long, default_value_t = 5_000_000)]
    pub max_regions: usize,
    /// Also run the grid sampler (the approach most tools use) at doubling resolutions until its
    /// distinct patterns reach 99% of the exact count, timing it in the same run.
    #[arg(long)]
    pub grid_compare: bool,
    /// Largest grid resolution tried by --grid-compare (points per side).
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

/// One row of --grid-compare.
#[derive(Debug, Serialize)]
struct GridRow {
    resolution: usize,
    points: usize,
    distinct: usize,
    fraction: f64,
    seconds: f64,
}

/// What `summary.json` holds.
#[derive(Debug, Serialize)]
struct Summary {
    network: String,
    checkpoint: String,
    domain: String,
    regions: usize,
    per_layer: Vec<usize>,
    seconds: f64,
    regions_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    grid: Option<Vec<GridRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grid_99: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grid_99_seconds: Option<f64>,
    note: String,
}

/// Runs `compete regions count`.
pub fn run(args: CountArgs) -> Result<()> {
    let mut net = PwlNet::load(&args.checkpoint, args.competition)?;
    if args.untrained {
        let mlp = crate::train::checkpoint::load_mlp(&args.checkpoint).map_err(|e| {
            Error::param(
                "--untrained",
                format!("{} ({e})", args.checkpoint.display()),
                "a compete checkpoint, whose architecture it reuses",
            )
        })?;
        net = PwlNet::from_mlp(&Mlp::new(mlp.config, args.seed)?)?;
        println!("untrained network (seed {}) of the architecture of {}", args.seed, args.checkpoint.display());
    }
    let opts = CountOptions { tolerance: args.tolerance, max_regions: args.max_regions };
    opts.validate()?;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    if let Some(spec) = &args.patterns {
        return sampled(&args, &net, spec);
    }
    let points = inputs(&args, &net)?;
    if let Some(idx) = &args.segment {
        let p = pick(&points, idx, 2, "--segment")?;
        let seg = Segment::new(p[0].clone(), p[1].clone())?;
        let t = Instant::now();
        let part = count_1d(&net, &seg, &opts)?;
        let secs = t.elapsed().as_secs_f64();
        println!("network {}: {} regions on the segment {} ({:.3} s)", net.describe(), part.len(), where_from(&args, idx), secs);
        println!("  regions after each hidden layer: {:?}", part.per_layer);
        let lines: String = part
            .pieces
            .iter()
            .map(|p| format!("{{\"t\":[{},{}],\"pattern\":\"{}\"}}\n", p.t[0], p.t[1], hex(&p.pattern, part.pattern_bits)))
            .collect();
        if part.len() <= args.save_regions {
            write_atomic(&args.out.join("regions.jsonl"), lines.as_bytes())?;
        }
        let summary = Summary {
            network: net.describe(),
            checkpoint: args.checkpoint.display().to_string(),
            domain: format!("segment {}", where_from(&args, idx)),
            regions: part.len(),
            per_layer: part.per_layer.clone(),
            seconds: secs,
            regions_per_second: part.len() as f64 / secs.max(1e-9),
            grid: None,
            grid_99: None,
            grid_99_seconds: None,
            note: NOTE.into(),
        };
        write_json(&args.out.join("summary.json"), &summary)?;
        println!("wrote {}", args.out.display());
        return Ok(());
    }
    let (slice, domain, marks) = if let Some(idx) = &args.through {
        let p = pick(&points, idx, 3, "--through")?;
        let s = Slice2d::through(&p[0], &p[1], &p[2], args.margin)?;
        let d = if args.margin == 0.0 {
            format!("triangle of {}", where_from(&args, idx))
        } else {
            format!("box [-{m}, 1+{m}]^2 of the plane through {}", where_from(&args, idx), m = args.margin)
        };
        (s, d, vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    } else if let Some(b) = &args.r#box {
        if b.len() != 4 {
            return Err(Error::param("--box", format!("{} values", b.len()), "four numbers A0,A1,B0,B1"));
        }
        if args.axes.len() != 2 {
            return Err(Error::param("--axes", format!("{:?}", args.axes), "two input coordinates I,J"));
        }
        let origin = match args.origin {
            Some(i) => pick(&points, &[i], 1, "--origin")?.remove(0),
            None => vec![0.0; net.input],
        };
        let s = Slice2d::axes(origin, args.axes[0], args.axes[1], [b[0], b[1]], [b[2], b[3]])?;
        let d = format!(
            "box [{}, {}] x [{}, {}] along inputs {} and {} through {}",
            b[0],
            b[1],
            b[2],
            b[3],
            args.axes[0],
            args.axes[1],
            args.origin.map_or("the zero input".to_string(), |i| format!("{} input {i}", args.split))
        );
        (s, d, Vec::new())
    } else {
        return Err(Error::param(
            "the region to count",
            "none given",
            "one of --through I,J,K, --segment I,J, --box A0,A1,B0,B1 or --patterns data|random:N",
        ));
    };
    let t = Instant::now();
    let part = count_2d(&net, &slice, &opts)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "network {}: {} regions on the {domain} ({:.3} s, {:.0} regions/s)",
        net.describe(),
        part.len(),
        secs,
        part.len() as f64 / secs.max(1e-9)
    );
    println!("  regions after each hidden layer: {:?}", part.per_layer);
    let (grid, grid_99, grid_99_seconds) =
        if args.grid_compare { grid_compare(&args, &net, &slice, part.len())? } else { (None, None, None) };
    let saved = part.len() <= args.save_regions;
    if saved {
        write_regions(&args.out.join("regions.jsonl"), &part)?;
    } else {
        println!("  regions.jsonl not written: {} regions > --save-regions {}", part.len(), args.save_regions);
    }
    let title = format!("{} regions of {}", part.len(), net.describe());
    write_partition_png(&args.out.join("regions.png"), &part, &slice, args.resolution, &format!("{title}\n{domain}"), &marks)?;
    let summary = Summary {
        network: net.describe(),
        checkpoint: args.checkpoint.display().to_string(),
        domain,
        regions: part.len(),
        per_layer: part.per_layer.clone(),
        seconds: secs,
        regions_per_second: part.len() as f64 / secs.max(1e-9),
        grid,
        grid_99,
        grid_99_seconds,
        note: NOTE.into(),
    };
    write_json(&args.out.join("summary.json"), &summary)?;
    println!("wrote {} (summary.json, regions.png{})", args.out.display(), if saved { ", regions.jsonl" } else { "" });
    Ok(())
}

const NOTE: &str = "activation regions (distinct activation patterns) meeting the domain with positive area; \
                    adjacent regions with equal affine maps are not merged";

/// The grid sampler at doubling resolutions, timed, until 99% of the exact count.
type GridOutcome = (Option<Vec<GridRow>>, Option<usize>, Option<f64>);

fn grid_compare(args: &CountArgs, net: &PwlNet, slice: &Slice2d, exact: usize) -> Result<GridOutcome> {
    let sampler = PatternSampler::new(net);
    let mut rows = Vec::new();
    let mut res = 16;
    let mut reached = None;
    while res <= args.grid_max {
        let t = Instant::now();
        let (points, distinct) = grid_patterns_with(&sampler, net.input, slice, res)?;
        let secs = t.elapsed().as_secs_f64();
        let fraction = distinct as f64 / exact.max(1) as f64;
        println!("  grid {res:>5} x {res:<5}: {distinct:>9} distinct patterns ({:>6.2}% of exact) in {secs:.3} s", 100.0 * fraction);
        rows.push(GridRow { resolution: res, points, distinct, fraction, seconds: secs });
        if fraction >= 0.99 {
            reached = Some((res, secs));
            break;
        }
        res *= 2;
    }
    match reached {
        Some((r, s)) => println!("  the grid sampler reached 99% at {r} x {r} in {s:.3} s"),
        None => println!("  the grid sampler did not reach 99% up to {0} x {0}", args.grid_max),
    }
    Ok((Some(rows), reached.map(|r| r.0), reached.map(|r| r.1)))
}

/// One JSON object a line: id, area, vertices (slice coordinates), pattern (hex, bit 0 first).
fn write_regions(path: &Path, part: &Partition2d) -> Result<()> {
    let mut s = String::new();
    for (k, r) in part.regions.iter().enumerate() {
        let verts: Vec<String> = r.polygon.iter().map(|p| format!("[{},{}]", p[0], p[1])).collect();
        s.push_str(&format!(
            "{{\"id\":{k},\"area\":{},\"vertices\":[{}],\"pattern\":\"{}\"}}\n",
            r.area(),
            verts.join(","),
            hex(&r.pattern, part.pattern_bits)
        ));
    }
    write_atomic(path, s.as_bytes())
}

/// A pattern as hex digits, four bits a digit, bit 0 in the lowest bit of the first digit.
fn hex(pattern: &[u64], bits: usize) -> String {
    (0..bits.div_ceil(4)).map(|d| char::from_digit(((pattern[d / 16] >> (4 * (d % 16))) & 0xF) as u32, 16).unwrap_or('0')).collect()
}

/// The inputs of the chosen split, or the literal --points.
fn inputs(args: &CountArgs, net: &PwlNet) -> Result<Vec<Vec<f64>>> {
    if let Some(p) = &args.points {
        let mut out = Vec::new();
        for (i, v) in p.split(';').enumerate() {
            let vals: std::result::Result<Vec<f64>, _> = v.split(',').map(|x| x.trim().parse::<f64>()).collect();
            let vals = vals.map_err(|_| Error::param("--points", v, "numbers separated by `,`, vectors by `;`"))?;
            net.check_input(&format!("--points vector {}", i + 1), &vals)?;
            out.push(vals);
        }
        return Ok(out);
    }
    if args.through.is_none() && args.segment.is_none() && args.origin.is_none() {
        return Ok(Vec::new());
    }
    let data = split(args, net)?;
    Ok((0..data.len()).map(|i| data.row(i).iter().map(|&v| f64::from(v)).collect()).collect())
}

fn split(args: &CountArgs, net: &PwlNet) -> Result<Dataset> {
    let (train, val, test) = crate::data::load_split(&args.data, args.validation, args.l2_normalize)?;
    let data = match args.split.as_str() {
        "train" => train,
        "validation" => val,
        "test" => test,
        s => return Err(Error::param("--split", s, "train, validation or test")),
    };
    if data.dim != net.input {
        return Err(Error::shape(
            format!("{} against data {}", args.checkpoint.display(), args.data),
            format!("{} input features", data.dim),
            format!("{} input features, as the network ({})", net.input, net.describe()),
        ));
    }
    Ok(data)
}

fn pick(points: &[Vec<f64>], idx: &[usize], want: usize, flag: &str) -> Result<Vec<Vec<f64>>> {
    if idx.len() != want {
        return Err(Error::param(flag, format!("{idx:?}"), format!("{want} indices")));
    }
    idx.iter()
        .map(|&i| {
            points.get(i).cloned().ok_or_else(|| Error::param(flag, i, format!("an index below {} (the inputs available)", points.len())))
        })
        .collect()
}

fn where_from(args: &CountArgs, idx: &[usize]) -> String {
    if args.points.is_some() {
        "the given points".to_string()
    } else {
        format!("{} inputs {}", args.split, idx.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "))
    }
}

/// `--patterns data` or `--patterns random:N`.
fn sampled(args: &CountArgs, net: &PwlNet, spec: &str) -> Result<()> {
    let sampler = PatternSampler::new(net);
    let mut set = HashSet::new();
    let t = Instant::now();
    let (what, n) = if spec == "data" {
        let data = split(args, net)?;
        let n = sampler.collect_into(&data.x, &mut set)?;
        (format!("{} split of {}", args.split, args.data), n)
    } else if let Some(k) = spec.strip_prefix("random:") {
        let n: usize = k.parse().ok().filter(|&n| n > 0).ok_or_else(|| Error::param("--patterns", spec, "data or random:N with N >= 1"))?;
        if args.range.len() != 2 || args.range[0].partial_cmp(&args.range[1]) != Some(std::cmp::Ordering::Less) {
            return Err(Error::param("--range", format!("{:?}", args.range), "LO,HI with LO < HI"));
        }
        let (lo, hi) = (args.range[0] as f32, args.range[1] as f32);
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
        let batch = 4096;
        let mut done = 0;
        while done < n {
            let m = batch.min(n - done);
            let x: Vec<f32> = (0..m * net.input).map(|_| rng.random_range(lo..hi)).collect();
            sampler.collect_into(&x, &mut set)?;
            done += m;
        }
        (format!("{n} random points uniform in [{lo}, {hi}]^{}", net.input), n)
    } else {
        return Err(Error::param("--patterns", spec, "data or random:N"));
    };
    let secs = t.elapsed().as_secs_f64();
    println!(
        "network {}: {} distinct activation patterns over {n} inputs ({what}), a lower bound of its regions ({secs:.3} s)",
        net.describe(),
        set.len()
    );
    #[derive(Serialize)]
    struct Sampled {
        network: String,
        inputs: usize,
        over: String,
        distinct_patterns: usize,
        seconds: f64,
    }
    write_json(
        &args.out.join("summary.json"),
        &Sampled { network: net.describe(), inputs: n, over: what, distinct_patterns: set.len(), seconds: secs },
    )
}
