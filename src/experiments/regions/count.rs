//! The linear regions of a network, exactly on a segment or a 2-D slice, or the sampled lower bound
//! (distinct activation patterns over data or random points): the pipeline of `compete regions
//! count`, and the segment counts of `compete demo`.
//!
//! [`count`] checks the whole [`CountSpec`] first, creates the output folder, loads the network
//! (or an untrained one of its architecture) and the inputs, counts, optionally runs the grid
//! sampler beside the exact count, and writes into the output folder:
//! - `summary.json`: the network, the domain, the count, the count after each hidden layer, the time
//!   (and the grid rows with `grid_max`); for the sampled bound, the distinct patterns and over what;
//! - `regions.jsonl`: one region a line (a segment's `t` interval, or a slice region's id, area,
//!   vertices in slice coordinates), with its activation pattern in hex (bit 0 in the lowest bit of
//!   the first digit), when there are at most `save_regions` regions;
//! - `regions.png` for a 2-D slice.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand::distr::uniform::{UniformFloat, UniformSampler};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::analysis::regions::sample::{PatternSampler, grid_patterns_with};
use crate::analysis::regions::{CountOptions, Partition2d, PwlNet, Segment, Slice2d, count_1d, count_2d};
use crate::competition::Competition;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::mlp::Mlp;
use crate::report::io::{create_out_dir, write_atomic, write_json};
use crate::report::regions::{check_picture_size, write_partition_png};

/// The first resolution (points per side) the grid comparison tries; it doubles from there.
pub const GRID_START: usize = 16;

/// The largest `grid_max` accepted: 65536 x 65536 points (4.3e9 forward passes, hours).
pub const GRID_MAX: usize = 1 << 16;

/// Inputs sampled at a time for `--patterns random:N`.
const RANDOM_BATCH: usize = 4096;

/// Where the inputs given by index come from, and where `--patterns data` samples.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSpec {
    /// `sample`, `mnist:DIR`, `DIR` or `synthetic:NAME` (see [`crate::data::load_split`]).
    pub source: String,
    /// `train`, `validation` or `test`.
    pub split: String,
    /// Validation size held out of the training set (as in training).
    pub validation: Option<usize>,
    /// Scale examples to unit l2 norm (as in training).
    pub l2_normalize: bool,
}

/// The sampled lower bound: distinct activation patterns over some inputs.
#[derive(Clone, Debug, PartialEq)]
pub enum Patterns {
    /// Every input of the data split.
    Data,
    /// `points` points uniform in `[range[0], range[1])` in every coordinate, drawn with the seed.
    Random {
        /// How many points.
        points: usize,
        /// `LO, HI`: finite, `LO < HI` as `f32`, `HI - LO` finite as `f32`.
        range: Vec<f64>,
    },
}

/// Where to count.
#[derive(Clone, Debug, PartialEq)]
pub enum Domain {
    /// The segment between two inputs, by index (of `points`, or of the data split).
    Segment(Vec<usize>),
    /// The plane through three inputs, by index: their triangle (`margin` 0) or the box
    /// `[-margin, 1 + margin]^2` of the plane, the inputs at (0,0), (1,0), (0,1).
    Plane {
        /// The three inputs.
        through: Vec<usize>,
        /// 0 or more.
        margin: f64,
    },
    /// The box `A0,A1,B0,B1` of the plane through `origin` (an input by index, or the zero input)
    /// along the input coordinates `axes`.
    Box {
        /// Four numbers.
        bounds: Vec<f64>,
        /// Two input coordinates.
        axes: Vec<usize>,
        /// The centre.
        origin: Option<usize>,
    },
    /// The sampled lower bound.
    Patterns(Patterns),
}

/// A run of `compete regions count`.
#[derive(Clone, Debug)]
pub struct CountSpec {
    /// A `compete` checkpoint or a PyTorch `nn.Sequential` MLP as safetensors.
    pub checkpoint: PathBuf,
    /// The hidden layers' competition of a PyTorch file.
    pub competition: Option<Competition>,
    /// Count an untrained network of the checkpoint's architecture instead (weights from `seed`).
    pub untrained: bool,
    /// Seed of the random points and of the untrained network.
    pub seed: u64,
    /// Where to count.
    pub domain: Domain,
    /// Literal inputs for the indices of the domain, instead of the data split.
    pub points: Option<Vec<Vec<f64>>>,
    /// The data split the indices refer to (and `Patterns::Data` samples).
    pub data: DataSpec,
    /// Tolerance and region limit of the exact count (the limit also bounds the sampled patterns).
    pub options: CountOptions,
    /// Also run the grid sampler at doubling resolutions from [`GRID_START`] up to this many points
    /// per side (2-D slices).
    pub grid_max: Option<usize>,
    /// Picture size of `regions.png`, pixels on the longer side.
    pub resolution: u32,
    /// Write `regions.jsonl` when there are at most this many regions.
    pub save_regions: usize,
    /// The output folder.
    pub out: PathBuf,
}

/// One resolution of the grid comparison.
#[derive(Clone, Debug, Serialize)]
pub struct GridRow {
    /// Points per side.
    pub resolution: usize,
    /// Points inside the domain.
    pub points: usize,
    /// Distinct activation patterns among them.
    pub distinct: usize,
    /// `distinct` over the exact count.
    pub fraction: f64,
    /// Time of this resolution.
    pub seconds: f64,
}

/// The grid comparison: every resolution tried, and the first that reached 99% of the exact count.
#[derive(Clone, Debug)]
pub struct GridComparison {
    /// The resolutions tried, in order.
    pub rows: Vec<GridRow>,
    /// The resolution reaching 99% and its time, if one did.
    pub reached: Option<(usize, f64)>,
    /// The largest resolution allowed.
    pub grid_max: usize,
}

/// An exact count.
#[derive(Clone, Debug)]
pub struct ExactCount {
    /// The network, as [`PwlNet::describe`] gives it.
    pub network: String,
    /// Where it was counted, in words (`segment train inputs 0, 1`, `triangle of ...`, `box ...`).
    pub domain: String,
    /// Whether the domain is a segment (else a 2-D slice).
    pub segment: bool,
    /// Activation regions.
    pub regions: usize,
    /// Regions after each hidden layer.
    pub per_layer: Vec<usize>,
    /// Time of the count.
    pub seconds: f64,
}

impl ExactCount {
    /// Regions counted per second.
    pub fn per_second(&self) -> f64 {
        self.regions as f64 / self.seconds.max(1e-9)
    }
}

/// What an exact count gave and wrote.
#[derive(Clone, Debug)]
pub struct ExactOutcome {
    /// The count.
    pub count: ExactCount,
    /// The grid comparison, when asked for.
    pub grid: Option<GridComparison>,
    /// Whether `regions.jsonl` was written (at most `save_regions` regions).
    pub regions_saved: bool,
    /// The `save_regions` limit.
    pub save_regions: usize,
}

/// What the sampled lower bound gave.
#[derive(Clone, Debug)]
pub struct SampledOutcome {
    /// The network.
    pub network: String,
    /// Distinct activation patterns: a lower bound of the regions.
    pub distinct: usize,
    /// Inputs read.
    pub inputs: usize,
    /// Over what, in words.
    pub over: String,
    /// Time.
    pub seconds: f64,
}

/// What [`count`] found.
#[derive(Clone, Debug)]
pub enum CountOutcome {
    /// An exact count on a segment or a slice.
    Exact(ExactOutcome),
    /// The sampled lower bound.
    Sampled(SampledOutcome),
}

/// What [`count`] reports while it runs, in order, for the caller to show.
#[derive(Debug)]
pub enum CountProgress<'a> {
    /// The checkpoint's network was replaced by an untrained one of its architecture.
    Untrained {
        /// The seed of its weights.
        seed: u64,
    },
    /// The exact count is done (the grid comparison and the files follow).
    Counted(&'a ExactCount),
    /// One resolution of the grid comparison is done.
    Grid(&'a GridRow),
}

/// The note `summary.json` carries.
const NOTE: &str = "activation regions (distinct activation patterns) meeting the domain with positive area; \
                    adjacent regions with equal affine maps are not merged";

/// What `summary.json` holds for an exact count.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    network: &'a str,
    checkpoint: String,
    domain: &'a str,
    regions: usize,
    per_layer: &'a [usize],
    seconds: f64,
    regions_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    grid: Option<&'a [GridRow]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grid_99: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grid_99_seconds: Option<f64>,
    note: &'static str,
}

/// What `summary.json` holds for the sampled bound.
#[derive(Serialize)]
struct Sampled<'a> {
    network: &'a str,
    inputs: usize,
    over: &'a str,
    distinct_patterns: usize,
    seconds: f64,
}

impl CountSpec {
    /// Checks everything that can be checked before loading anything: the count options, the
    /// picture size, the grid limit, the number of indices, box and axes, the random range.
    pub fn check(&self) -> Result<()> {
        self.options.validate()?;
        check_picture_size("--resolution", self.resolution)?;
        if let Some(m) = self.grid_max
            && !(GRID_START..=GRID_MAX).contains(&m)
        {
            return Err(Error::param("--grid-max", m, format!("a grid resolution from {GRID_START} (the first one tried) to {GRID_MAX}")));
        }
        let indices = |flag: &str, idx: &[usize], want: usize| {
            if idx.len() == want { Ok(()) } else { Err(Error::param(flag, format!("{idx:?}"), format!("{want} indices"))) }
        };
        match &self.domain {
            Domain::Segment(idx) => indices("--segment", idx, 2)?,
            Domain::Plane { through, margin } => {
                indices("--through", through, 3)?;
                if !(margin.is_finite() && *margin >= 0.0) {
                    return Err(Error::param("--margin", margin, "a finite number >= 0"));
                }
            }
            Domain::Box { bounds, axes, .. } => {
                if bounds.len() != 4 {
                    return Err(Error::param("--box", format!("{} values", bounds.len()), "four numbers A0,A1,B0,B1"));
                }
                if axes.len() != 2 {
                    return Err(Error::param("--axes", format!("{axes:?}"), "two input coordinates I,J"));
                }
            }
            Domain::Patterns(Patterns::Random { points, range }) => {
                if *points == 0 {
                    return Err(Error::param("--patterns", "random:0", "data or random:N with N >= 1"));
                }
                random_range(range)?;
            }
            Domain::Patterns(Patterns::Data) => {}
        }
        Ok(())
    }
}

/// The range of `--patterns random:N` as `f32`: finite `LO < HI` whose difference is finite, so that
/// uniform sampling is defined (an empty, non-finite or overflowing range is an error, not a panic).
fn random_range(range: &[f64]) -> Result<(f32, f32)> {
    let bad = |why: &str| Error::param("--range", format!("{range:?}"), format!("LO,HI: two finite numbers with LO < HI{why}"));
    let &[lo, hi] = range else { return Err(bad("")) };
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(bad(""));
    }
    let (l, h) = (lo as f32, hi as f32);
    if !(l.is_finite() && h.is_finite()) {
        return Err(bad(&format!(", within the f32 range (|x| <= {:e})", f32::MAX)));
    }
    if l >= h {
        return Err(bad(&format!(", distinct as f32 (single precision: {lo:?} and {hi:?} are both {l:?})")));
    }
    if !(h - l).is_finite() {
        return Err(bad(&format!(", HI - LO at most {:e} (the f32 range)", f32::MAX)));
    }
    Ok((l, h))
}

/// Runs `compete regions count` (see the module docs); `progress` sees the steps as they finish.
pub fn count(spec: &CountSpec, progress: &mut dyn FnMut(CountProgress<'_>)) -> Result<CountOutcome> {
    spec.check()?;
    let mut net = PwlNet::load(&spec.checkpoint, spec.competition)?;
    if spec.untrained {
        let (model, _) = crate::models::load_any(&spec.checkpoint).map_err(|e| {
            Error::param(
                "--untrained",
                format!("{} ({e})", spec.checkpoint.display()),
                "a compete checkpoint, whose architecture it reuses",
            )
        })?;
        net = PwlNet::from_encoder(model.untrained(spec.seed)?.encoder())?;
        progress(CountProgress::Untrained { seed: spec.seed });
    }
    create_out_dir("-o/--out", &spec.out)?;
    if let Domain::Patterns(p) = &spec.domain {
        return sampled(spec, &net, p).map(CountOutcome::Sampled);
    }
    let points = inputs(spec, &net)?;
    let opts = &spec.options;
    if let Domain::Segment(idx) = &spec.domain {
        let p = pick(&points, idx, 2, "--segment")?;
        let seg = Segment::new(p[0].clone(), p[1].clone())?;
        let t = Instant::now();
        let part = count_1d(&net, &seg, opts)?;
        let count = ExactCount {
            network: net.describe(),
            domain: where_from(spec, idx),
            segment: true,
            regions: part.len(),
            per_layer: part.per_layer.clone(),
            seconds: t.elapsed().as_secs_f64(),
        };
        progress(CountProgress::Counted(&count));
        let saved = part.len() <= spec.save_regions;
        if saved {
            let lines: String = part
                .pieces
                .iter()
                .map(|p| format!("{{\"t\":[{},{}],\"pattern\":\"{}\"}}\n", p.t[0], p.t[1], hex(&p.pattern, part.pattern_bits)))
                .collect();
            write_atomic(&spec.out.join("regions.jsonl"), lines.as_bytes())?;
        }
        write_summary(spec, &count, &format!("segment {}", count.domain), None)?;
        return Ok(CountOutcome::Exact(ExactOutcome { count, grid: None, regions_saved: saved, save_regions: spec.save_regions }));
    }
    let (slice, domain, marks) = match &spec.domain {
        Domain::Plane { through, margin } => {
            let p = pick(&points, through, 3, "--through")?;
            let s = Slice2d::through(&p[0], &p[1], &p[2], *margin)?;
            let d = if *margin == 0.0 {
                format!("triangle of {}", where_from(spec, through))
            } else {
                format!("box [-{m}, 1+{m}]^2 of the plane through {}", where_from(spec, through), m = margin)
            };
            (s, d, vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        }
        Domain::Box { bounds: b, axes, origin } => {
            let centre = match origin {
                Some(i) => pick(&points, &[*i], 1, "--origin")?.remove(0),
                None => vec![0.0; net.input],
            };
            let s = Slice2d::axes(centre, axes[0], axes[1], [b[0], b[1]], [b[2], b[3]])?;
            let d = format!(
                "box [{}, {}] x [{}, {}] along inputs {} and {} through {}",
                b[0],
                b[1],
                b[2],
                b[3],
                axes[0],
                axes[1],
                origin.map_or("the zero input".to_string(), |i| format!("{} input {i}", spec.data.split))
            );
            (s, d, Vec::new())
        }
        Domain::Segment(_) | Domain::Patterns(_) => {
            return Err(Error::param(
                "the region to count",
                format!("{:?}", spec.domain),
                "a plane or a box (segments and patterns are counted above)",
            ));
        }
    };
    let t = Instant::now();
    let part = count_2d(&net, &slice, opts)?;
    let count = ExactCount {
        network: net.describe(),
        domain,
        segment: false,
        regions: part.len(),
        per_layer: part.per_layer.clone(),
        seconds: t.elapsed().as_secs_f64(),
    };
    progress(CountProgress::Counted(&count));
    let grid = match spec.grid_max {
        Some(max) => Some(grid_compare(&net, &slice, part.len(), max, progress)?),
        None => None,
    };
    let saved = part.len() <= spec.save_regions;
    if saved {
        write_regions(&spec.out.join("regions.jsonl"), &part)?;
    }
    let title = format!("{} regions of {}", part.len(), count.network);
    write_partition_png(&spec.out.join("regions.png"), &part, &slice, spec.resolution, &format!("{title}\n{}", count.domain), &marks)?;
    write_summary(spec, &count, &count.domain, grid.as_ref())?;
    Ok(CountOutcome::Exact(ExactOutcome { count, grid, regions_saved: saved, save_regions: spec.save_regions }))
}

fn write_summary(spec: &CountSpec, count: &ExactCount, domain: &str, grid: Option<&GridComparison>) -> Result<()> {
    let summary = Summary {
        network: &count.network,
        checkpoint: spec.checkpoint.display().to_string(),
        domain,
        regions: count.regions,
        per_layer: &count.per_layer,
        seconds: count.seconds,
        regions_per_second: count.per_second(),
        grid: grid.map(|g| &g.rows[..]),
        grid_99: grid.and_then(|g| g.reached.map(|r| r.0)),
        grid_99_seconds: grid.and_then(|g| g.reached.map(|r| r.1)),
        note: NOTE,
    };
    write_json(&spec.out.join("summary.json"), &summary)
}

/// The grid sampler at doubling resolutions, timed, until 99% of the exact count.
fn grid_compare(
    net: &PwlNet,
    slice: &Slice2d,
    exact: usize,
    grid_max: usize,
    progress: &mut dyn FnMut(CountProgress<'_>),
) -> Result<GridComparison> {
    let sampler = PatternSampler::new(net);
    let mut rows = Vec::new();
    let mut res = GRID_START;
    let mut reached = None;
    while res <= grid_max {
        let t = Instant::now();
        let (points, distinct) = grid_patterns_with(&sampler, net.input, slice, res)?;
        let seconds = t.elapsed().as_secs_f64();
        let fraction = distinct as f64 / exact.max(1) as f64;
        let row = GridRow { resolution: res, points, distinct, fraction, seconds };
        progress(CountProgress::Grid(&row));
        rows.push(row);
        if fraction >= 0.99 {
            reached = Some((res, seconds));
            break;
        }
        res *= 2;
    }
    Ok(GridComparison { rows, reached, grid_max })
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

/// The literal points, or the inputs of the chosen split when an index needs them.
fn inputs(spec: &CountSpec, net: &PwlNet) -> Result<Vec<Vec<f64>>> {
    if let Some(p) = &spec.points {
        for (i, v) in p.iter().enumerate() {
            net.check_input(&format!("--points vector {}", i + 1), v)?;
        }
        return Ok(p.clone());
    }
    if matches!(spec.domain, Domain::Box { origin: None, .. }) {
        return Ok(Vec::new());
    }
    let data = split(spec, net)?;
    Ok((0..data.len()).map(|i| data.row(i).iter().map(|&v| f64::from(v)).collect()).collect())
}

fn split(spec: &CountSpec, net: &PwlNet) -> Result<Dataset> {
    let d = &spec.data;
    let (train, val, test) = crate::data::load_split(&d.source, d.validation, d.l2_normalize)?;
    let data = match d.split.as_str() {
        "train" => train,
        "validation" => val,
        "test" => test,
        s => return Err(Error::param("--split", s, "train, validation or test")),
    };
    if data.dim != net.input {
        return Err(Error::shape(
            format!("{} against data {}", spec.checkpoint.display(), d.source),
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

fn where_from(spec: &CountSpec, idx: &[usize]) -> String {
    if spec.points.is_some() {
        "the given points".to_string()
    } else {
        format!("{} inputs {}", spec.data.split, idx.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "))
    }
}

/// Refuses a set of distinct patterns grown beyond the region limit (its memory guard).
fn check_distinct(set: &HashSet<Vec<u64>>, max: usize) -> Result<()> {
    if set.len() > max {
        return Err(Error::param(
            "--max-regions",
            max,
            format!("more than the {}+ distinct activation patterns found so far (raise the limit or sample fewer points)", set.len()),
        ));
    }
    Ok(())
}

/// `--patterns data` or `--patterns random:N`.
fn sampled(spec: &CountSpec, net: &PwlNet, patterns: &Patterns) -> Result<SampledOutcome> {
    let sampler = PatternSampler::new(net);
    let mut set = HashSet::new();
    let max = spec.options.max_regions;
    let t = Instant::now();
    let (over, n) = match patterns {
        Patterns::Data => {
            let data = split(spec, net)?;
            let n = sampler.collect_into(&data.x, &mut set)?;
            check_distinct(&set, max)?;
            (format!("{} split of {}", spec.data.split, spec.data.source), n)
        }
        Patterns::Random { points: n, range } => {
            let (lo, hi) = random_range(range)?;
            crate::io::memory::check_alloc(
                &format!("a batch of {RANDOM_BATCH} random inputs of {} values", net.input),
                crate::io::memory::bytes(&[RANDOM_BATCH, net.input], 4),
            )?;
            let n = *n;
            let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
            let mut done = 0;
            let mut x: Vec<f32> = Vec::new();
            while done < n {
                let m = RANDOM_BATCH.min(n - done);
                x.clear();
                for _ in 0..m * net.input {
                    // The sampler of `Rng::random_range(lo..hi)`, which returns an error where that panics.
                    let v = UniformFloat::<f32>::sample_single(lo, hi, &mut rng)
                        .map_err(|e| Error::param("--range", format!("[{lo}, {hi}]"), format!("a range uniform sampling accepts ({e})")))?;
                    x.push(v);
                }
                sampler.collect_into(&x, &mut set)?;
                check_distinct(&set, max)?;
                done += m;
            }
            (format!("{n} random points uniform in [{lo}, {hi}]^{}", net.input), n)
        }
    };
    let seconds = t.elapsed().as_secs_f64();
    let network = net.describe();
    write_json(
        &spec.out.join("summary.json"),
        &Sampled { network: &network, inputs: n, over: &over, distinct_patterns: set.len(), seconds },
    )?;
    Ok(SampledOutcome { network, distinct: set.len(), inputs: n, over, seconds })
}

/// `compete demo`'s paper E line: the exact number of linear regions along the segment from `a` to
/// `b` for the network `mlp` and for an untrained network of its architecture (weights from
/// `seed`, initialised as training does), with the default [`CountOptions`].
pub fn trained_and_untrained_on_segment(mlp: &Mlp, seed: u64, a: &[f32], b: &[f32]) -> Result<(usize, usize)> {
    let seg = Segment::new(a.iter().map(|&v| f64::from(v)).collect(), b.iter().map(|&v| f64::from(v)).collect())?;
    let opts = CountOptions::default();
    let trained = count_1d(&PwlNet::from_mlp(mlp)?, &seg, &opts)?.len();
    let fresh = Mlp::new(mlp.config.clone(), seed)?;
    let untrained = count_1d(&PwlNet::from_mlp(&fresh)?, &seg, &opts)?.len();
    Ok((trained, untrained))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ranges_are_checked_in_f32() {
        assert_eq!(random_range(&[-2.0, 2.0]).unwrap(), (-2.0, 2.0));
        assert!(random_range(&[0.0, 1e-40]).is_ok(), "a subnormal f32 width is still a range");
        for (range, why) in [
            (vec![0.0, 1e-50], "distinct as f32"),
            (vec![-3e38, 3e38], "HI - LO at most"),
            (vec![f64::NEG_INFINITY, f64::INFINITY], "finite"),
            (vec![0.0, f64::NAN], "finite"),
            (vec![1.0, 1.0], "LO < HI"),
            (vec![2.0, 1.0], "LO < HI"),
            (vec![0.0, 1e39], "within the f32 range"),
            (vec![1.0], "LO,HI"),
        ] {
            let e = random_range(&range).unwrap_err().to_string();
            assert!(e.contains("--range") && e.contains(why), "{range:?}: {e}");
        }
    }

    #[test]
    fn sampled_patterns_stop_at_the_region_limit() {
        let mut set = HashSet::new();
        set.extend([vec![1u64], vec![2], vec![3]]);
        assert!(check_distinct(&set, 3).is_ok());
        let e = check_distinct(&set, 2).unwrap_err().to_string();
        assert!(e.contains("--max-regions") && e.contains("3+"), "{e}");
    }
}
