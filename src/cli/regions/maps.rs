//! `compete regions maps`: the linear maps of a hidden unit over a dataset (paper E, section 2.6,
//! eq. (8), appendix G). The numerics are in [`crate::analysis::regions::linear_maps`].
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

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::analysis::regions::PwlNet;
use crate::analysis::regions::linear_maps::{Identified, KMeans, LayerPass, kmeans, layer_units, stack_u};
use crate::competition::Competition;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::report::images::{diverging, grey, write_grid};
use crate::report::{write_atomic, write_json};

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
    /// Clusters of each unit's maps (appendix G: 4).
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

/// Lloyd iterations of k-means at most.
const KMEANS_ITERATIONS: usize = 300;

/// Memory for the maps of the units scanned together (bytes).
const MAPS_MEMORY: usize = 512 << 20;

/// What one unit's maps gave.
struct UnitResult {
    unit: usize,
    /// Examples where the activation is positive.
    positive: Vec<usize>,
    clusters: Option<KMeans>,
    spread: f64,
}

/// Runs `compete regions maps`.
pub fn run(args: MapsArgs) -> Result<()> {
    let start = Instant::now();
    let net = PwlNet::load(&args.checkpoint, args.competition)?;
    let (train, _, _) = crate::data::load_split(&args.data, args.validation, args.l2_normalize)?;
    if train.dim != net.input {
        return Err(Error::shape(
            format!("--data {} against {}", args.data, args.checkpoint.display()),
            format!("{} input features", train.dim),
            format!("{} input features, as the network ({})", net.input, net.describe()),
        ));
    }
    let hidden = net.hidden.len();
    let layer = args.layer.unwrap_or(hidden.saturating_sub(1));
    let units = layer_units(&net, layer).ok_or_else(|| {
        Error::param(
            "--layer",
            layer,
            format!(
                "a hidden layer from 0 (closest to the input) to {}{}",
                hidden.saturating_sub(1),
                if net.output.is_some() { format!(", or {hidden} for the output layer (logits)") } else { String::new() }
            ),
        )
    })?;
    let layer_name =
        if layer < hidden { format!("hidden layer {layer} (0 = closest to the input)") } else { "the output layer (logits)".into() };
    let candidates: Vec<usize> = match (args.unit, args.pick) {
        (Some(j), _) if j >= units => {
            return Err(Error::param("--unit", j, format!("a unit of layer {layer}: 0 to {} ({units} units)", units - 1)));
        }
        (Some(j), _) => vec![j],
        (None, Some(n)) if n == 0 || n > units => {
            return Err(Error::param("--pick", n, format!("between 1 and the {units} units of layer {layer}")));
        }
        (None, Some(n)) => {
            let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
            let mut v = rand::seq::index::sample(&mut rng, units, n).into_vec();
            v.sort_unstable();
            v
        }
        (None, None) => {
            return Err(Error::param("--unit", "(none)", format!("a unit of layer {layer} (0 to {}), or --pick N", units - 1)));
        }
    };
    if args.keep == 0 {
        return Err(Error::param("--keep", 0, "at least 1"));
    }
    if args.k == 0 {
        return Err(Error::param("--k", 0, "at least 1 cluster"));
    }
    if args.examples == 0 {
        return Err(Error::param("--examples", 0, "at least 1"));
    }
    if args.zoom == 0 || args.zoom > 32 {
        return Err(Error::param("--zoom", args.zoom, "between 1 and 32"));
    }
    if let Some(t) = args.target
        && !t.is_finite()
    {
        return Err(Error::param("--target", t, "a finite value"));
    }
    let n = args.examples.min(train.len());
    let rows: Vec<f64> = train.x[..n * train.dim].iter().map(|&v| f64::from(v)).collect();

    let pass = LayerPass::new(&net, &rows, layer)?;
    let per_block = (MAPS_MEMORY / (n * net.input * 8).max(1)).max(1);
    let mut results = Vec::with_capacity(candidates.len());
    for block in candidates.chunks(per_block) {
        for (&unit, maps) in block.iter().zip(pass.maps_many(block, true)?) {
            let clusters = if maps.is_empty() {
                None
            } else {
                Some(kmeans(&stack_u(&maps), net.input, args.k.min(maps.len()), args.seed, KMEANS_ITERATIONS)?)
            };
            let spread = clusters.as_ref().map_or(0.0, KMeans::spread);
            results.push(UnitResult { unit, positive: maps.iter().map(|(i, _)| *i).collect(), clusters, spread });
        }
    }
    let scanned: Vec<(usize, usize, f64)> = results.iter().map(|r| (r.unit, r.positive.len(), r.spread)).collect();
    let min_positive = args.min_positive.unwrap_or((n / 100).max(args.k));
    if args.pick.is_some() {
        let key = |r: &UnitResult| r.positive.len() >= min_positive;
        results.sort_by(|a, b| key(b).cmp(&key(a)).then(b.spread.total_cmp(&a.spread)).then(a.unit.cmp(&b.unit)));
        results.truncate(args.keep);
    }

    println!("network      {}", net.describe());
    println!("data         {}: the first {n} training examples", args.data);
    println!("layer        {layer_name}");
    if args.pick.is_some() {
        println!(
            "picked       {} of {} random units by the spread of their cluster centres (among those positive on at least {min_positive} examples)",
            results.len(),
            candidates.len()
        );
    }
    let mut json_units = Vec::new();
    let mut files = vec![args.out.join("maps.json")];
    let mut centre_tiles = Vec::new();
    for r in &results {
        let responses = pass.responses(r.unit)?;
        let positive: Vec<f64> = r.positive.iter().map(|&i| responses[i].1).collect();
        let (target, target_source) = match args.target {
            Some(t) => (Some(t), "--target"),
            None => (median(&positive).map(|m| round_significant(m, 2)), "median positive activation, 2 significant digits"),
        };
        let identified = match target {
            Some(t) if args.identify > 0 => pass.identify(r.unit, t, args.identify.min(n))?,
            _ => Vec::new(),
        };
        print_unit(r, n, &train, target, target_source, &identified, args.identify);
        files.extend(write_unit_files(&args.out, r, &responses, &train, n)?);
        if let Some((h, w)) = train.image_shape {
            if let Some(c) = &r.clusters {
                centre_tiles.extend((0..args.k).map(|i| if i < c.k { diverging(c.centre(i)) } else { Vec::new() }));
            } else {
                centre_tiles.extend((0..args.k).map(|_| Vec::new()));
            }
            if !identified.is_empty() {
                let path = args.out.join(format!("unit-{}-identified.png", r.unit));
                write_grid(&path, &identified_tiles(&pass, &net, layer, r.unit, &identified)?, (h, w), 4, args.zoom)?;
                files.push(path);
            }
        }
        json_units.push(unit_json(r, &train, target, target_source, &identified));
    }
    if let Some((h, w)) = train.image_shape {
        let path = args.out.join("centres.png");
        write_grid(&path, &centre_tiles, (h, w), args.k, args.zoom)?;
        files.push(path);
    } else {
        println!("(the inputs are not images: no PNGs, the maps are in maps.json)");
    }
    if args.pick.is_some() {
        let mut csv = String::from("unit,positive,spread\n");
        for (u, p, s) in &scanned {
            let _ = writeln!(csv, "{u},{p},{s}");
        }
        let path = args.out.join("candidates.csv");
        write_atomic(&path, csv.as_bytes())?;
        files.push(path);
    }
    let report = json!({
        "checkpoint": args.checkpoint,
        "network": net.describe(),
        "data": args.data,
        "examples": n,
        "layer": layer,
        "output_layer": layer == hidden,
        "k": args.k,
        "seed": args.seed,
        "min_positive": args.pick.map(|_| min_positive),
        "scanned": scanned.iter().map(|(u, p, s)| json!({"unit": u, "positive": p, "spread": s})).collect::<Vec<_>>(),
        "units": json_units,
        "files": files,
    });
    write_json(&args.out.join("maps.json"), &report)?;
    println!("wrote        {}", files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    println!("time         {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// The median of the values (the lower one of the middle two), `None` for none.
fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// `v` rounded to `digits` significant digits.
fn round_significant(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(digits - 1 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

fn print_unit(r: &UnitResult, n: usize, train: &Dataset, target: Option<f64>, target_source: &str, identified: &[Identified], want: usize) {
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
    match target {
        Some(t) => println!("  target     {t:.6} ({target_source})"),
        None if want > 0 => println!("  target     none (no positive activation; give --target to identify inputs)"),
        None => {}
    }
    for f in identified {
        println!(
            "  identified example {} (label {}): {:.6} -> {:.6} (off by {:.1e}) in {} step{}{}, {}, moved {:.4}",
            f.source,
            train.labels[f.source],
            f.source_value,
            f.value,
            (f.value - target.unwrap_or(f.value)).abs(),
            f.steps,
            if f.steps == 1 { "" } else { "s" },
            if f.reached { "" } else { " (target NOT reached)" },
            if f.same_region { "same region" } else { "another region" },
            f.distance
        );
    }
}

fn unit_json(r: &UnitResult, train: &Dataset, target: Option<f64>, target_source: &str, identified: &[Identified]) -> serde_json::Value {
    let clusters = r.clusters.as_ref().map(|c| {
        json!({
            "k": c.k, "sizes": c.sizes, "inertia": c.inertia, "iterations": c.iterations, "converged": c.converged,
            "centres": (0..c.k).map(|i| c.centre(i).to_vec()).collect::<Vec<_>>(),
        })
    });
    json!({
        "unit": r.unit,
        "positive": r.positive.len(),
        "spread": r.spread,
        "clusters": clusters,
        "target": target,
        "target_from": target.map(|_| target_source),
        "identified": identified.iter().map(|f| json!({
            "source": f.source, "label": train.labels[f.source], "source_value": f.source_value, "value": f.value,
            "activation": f.activation, "steps": f.steps, "reached": f.reached, "same_region": f.same_region,
            "same_pattern": f.same_pattern, "distance": f.distance, "x": f.x,
        })).collect::<Vec<_>>(),
    })
}

fn write_unit_files(dir: &Path, r: &UnitResult, responses: &[(f64, f64)], train: &Dataset, n: usize) -> Result<Vec<PathBuf>> {
    let mut cluster = vec![None; n];
    if let Some(c) = &r.clusters {
        for (&i, &a) in r.positive.iter().zip(&c.assignments) {
            cluster[i] = Some(a);
        }
    }
    let mut csv = String::from("example,label,response,activation,cluster\n");
    for (i, ((v, a), c)) in responses.iter().zip(&cluster).enumerate() {
        let _ = writeln!(csv, "{i},{},{v},{a},{}", train.labels[i], c.map_or(String::new(), |c| c.to_string()));
    }
    let responses_path = dir.join(format!("unit-{}-responses.csv", r.unit));
    write_atomic(&responses_path, csv.as_bytes())?;
    let mut files = vec![responses_path];
    if let Some(c) = &r.clusters {
        let mut csv = String::from("cluster,size");
        for d in 0..c.dim {
            let _ = write!(csv, ",u{d}");
        }
        csv.push('\n');
        for i in 0..c.k {
            let _ = write!(csv, "{i},{}", c.sizes[i]);
            for v in c.centre(i) {
                let _ = write!(csv, ",{v}");
            }
            csv.push('\n');
        }
        let path = dir.join(format!("unit-{}-centres.csv", r.unit));
        write_atomic(&path, csv.as_bytes())?;
        files.push(path);
    }
    Ok(files)
}

/// Per identified input: the source (grey), the point found (grey, same scale), the difference and
/// the source's map (diverging).
fn identified_tiles(pass: &LayerPass, net: &PwlNet, layer: usize, unit: usize, identified: &[Identified]) -> Result<Vec<Vec<u8>>> {
    let mut tiles = Vec::with_capacity(identified.len() * 4);
    for f in identified {
        let src = pass.example(f.source);
        let lo = src.iter().chain(&f.x).copied().fold(f64::INFINITY, f64::min);
        let hi = src.iter().chain(&f.x).copied().fold(f64::NEG_INFINITY, f64::max);
        let diff: Vec<f64> = f.x.iter().zip(src).map(|(a, b)| a - b).collect();
        let map = crate::analysis::regions::linear_maps::unit_map(net, src, layer, unit)?;
        tiles.extend([grey(src, lo, hi), grey(&f.x, lo, hi), diverging(&diff), diverging(&map.u)]);
    }
    Ok(tiles)
}
