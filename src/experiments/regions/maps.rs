//! The linear maps of hidden units over a dataset (paper E, section 2.6, eq. (8), appendix G): the
//! pipeline of `compete regions maps`. The numerics are in
//! [`crate::analysis::regions::linear_maps`].
//!
//! For one unit, or for the units with the most different maps among `pick` random ones
//! (appendix G: 20 random units, the four with the largest distance between cluster centres shown),
//! [`maps`] computes the unit's map `u` at every example where its activation is positive, clusters
//! the maps with k-means (`k`, 4 in the paper), and moves the `identify` examples whose response is
//! closest to the target along their maps until the unit's value is exactly the target (Fig. 10).
//!
//! Files written to the output folder:
//! - `maps.json`: everything below, with the centres and the identified inputs;
//! - `unit-<J>-responses.csv`: per example: index, label, response, activation, cluster (empty when
//!   the activation is not positive);
//! - `unit-<J>-centres.csv`: per cluster: size and the centre's values;
//! - `candidates.csv` with `pick`: every unit scanned, its positive count and spread;
//! - for image data, `centres.png` (one row per unit, its cluster centres, largest cluster first, in
//!   diverging colours: red positive, blue negative, white zero, each tile on its own symmetric scale)
//!   and `unit-<J>-identified.png` (one row per identified input: the source example, the point found,
//!   their difference and the source's map `u`; inputs in grey, each pair on a shared scale).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::analysis::regions::PwlNet;
use crate::analysis::regions::linear_maps::{Identified, KMeans, LayerPass, kmeans, layer_units, stack_u};
use crate::competition::Competition;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::report::images::{MAX_GRID_SIDE, diverging, grey, grid_capacity, write_grid};
use crate::report::io::create_out_dir;
use crate::report::{write_atomic, write_json};

/// Lloyd iterations of k-means at most.
const KMEANS_ITERATIONS: usize = 300;

/// Memory for the maps of the units scanned together (bytes).
const MAPS_MEMORY: usize = 512 << 20;

/// Tiles per row of `unit-<J>-identified.png`: source, point found, difference, map.
const IDENTIFIED_COLUMNS: usize = 4;

/// A run of `compete regions maps`.
#[derive(Clone, Debug)]
pub struct MapsSpec {
    /// A `compete` checkpoint, or a PyTorch `nn.Sequential` MLP as safetensors.
    pub checkpoint: PathBuf,
    /// The hidden layers' competition of a PyTorch file.
    pub competition: Option<Competition>,
    /// The data (the maps are taken on its training split).
    pub data: String,
    /// Validation size held out of the training split.
    pub validation: Option<usize>,
    /// Scale examples to unit l2 norm.
    pub l2_normalize: bool,
    /// Layer (0 closest to the input; the number of hidden layers names the output layer). Default:
    /// the last hidden layer.
    pub layer: Option<usize>,
    /// One unit.
    pub unit: Option<usize>,
    /// Or scan this many random units and keep those whose cluster centres lie farthest apart.
    pub pick: Option<usize>,
    /// With `pick`: how many to keep.
    pub keep: usize,
    /// With `pick`: units positive on fewer examples come last (default 1% of the examples, at least `k`).
    pub min_positive: Option<usize>,
    /// Clusters of each unit's maps.
    pub k: usize,
    /// Training examples used (the first ones).
    pub examples: usize,
    /// Value the identified inputs reach (default: the median positive activation, 2 significant digits).
    pub target: Option<f64>,
    /// Inputs to identify per unit.
    pub identify: usize,
    /// Seed of `pick` and of k-means++.
    pub seed: u64,
    /// Pixels per input pixel in the PNGs.
    pub zoom: usize,
    /// The output folder.
    pub out: PathBuf,
}

/// What one unit's maps gave.
#[derive(Clone, Debug)]
pub struct UnitReport {
    /// The unit.
    pub unit: usize,
    /// Examples where its activation is positive.
    pub positive: Vec<usize>,
    /// k-means of its maps (none without a positive activation).
    pub clusters: Option<KMeans>,
    /// Largest distance between the centres.
    pub spread: f64,
    /// The target the identified inputs reach, and where it comes from.
    pub target: Option<f64>,
    /// `--target`, or how the default was found.
    pub target_source: &'static str,
    /// The inputs identified, with the label of their source example.
    pub identified: Vec<(Identified, u8)>,
}

/// What [`maps`] found and wrote.
#[derive(Clone, Debug)]
pub struct MapsOutcome {
    /// The network.
    pub network: String,
    /// The data source.
    pub data: String,
    /// Examples used.
    pub examples: usize,
    /// The layer, in words.
    pub layer_name: String,
    /// With `pick`: units scanned and the positive count below which units come last.
    pub picked: Option<(usize, usize)>,
    /// The units reported (with `pick`: the kept ones, best first).
    pub units: Vec<UnitReport>,
    /// Inputs to identify per unit (as asked).
    pub identify: usize,
    /// Whether the inputs are images (PNGs written).
    pub images: bool,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// Time of the whole run.
    pub seconds: f64,
}

impl MapsSpec {
    /// Checks the flags that need nothing loaded: `keep`, `k`, `examples`, `zoom`, `target`, and `k`
    /// against `examples`.
    pub fn check(&self) -> Result<()> {
        if self.keep == 0 {
            return Err(Error::param("--keep", 0, "at least 1"));
        }
        if self.k == 0 {
            return Err(Error::param("--k", 0, "at least 1 cluster"));
        }
        if self.examples == 0 {
            return Err(Error::param("--examples", 0, "at least 1"));
        }
        if self.k > self.examples {
            return Err(Error::param(
                "--k",
                self.k,
                format!("at most --examples = {} clusters (k-means of at most one map per example)", self.examples),
            ));
        }
        if self.zoom == 0 || self.zoom > 32 {
            return Err(Error::param("--zoom", self.zoom, "between 1 and 32"));
        }
        if let Some(t) = self.target
            && !t.is_finite()
        {
            return Err(Error::param("--target", t, "a finite value"));
        }
        Ok(())
    }
}

/// Checks that the PNGs of image data fit in [`MAX_GRID_SIDE`] pixels: `k` centres in a row, `rows`
/// units one under the other, `identify` identified inputs one under the other, 4 tiles in a row.
fn check_pictures(spec: &MapsSpec, (h, w): (usize, usize), rows: usize, identify: usize) -> Result<()> {
    // The flags as given (the counts compared are those actually drawn, which may be smaller).
    let (columns, lines) = (grid_capacity(w, spec.zoom), grid_capacity(h, spec.zoom));
    let tiles = format!("{w}x{h} tiles at --zoom {}", spec.zoom);
    if spec.k > columns {
        return Err(Error::param(
            "--k",
            spec.k,
            format!(
                "at most {columns} clusters: centres.png puts a unit's centres in one row of {tiles}, at most {MAX_GRID_SIDE} pixels wide"
            ),
        ));
    }
    if rows > lines {
        return Err(Error::param(
            "--keep",
            spec.keep,
            format!("at most {lines} units: centres.png puts one unit a row of {tiles}, at most {MAX_GRID_SIDE} pixels high"),
        ));
    }
    if identify > 0 && IDENTIFIED_COLUMNS > columns {
        return Err(Error::param(
            "--zoom",
            spec.zoom,
            format!(
                "a zoom that fits {IDENTIFIED_COLUMNS} {w}x{h} tiles in a row of at most {MAX_GRID_SIDE} pixels (unit-<J>-identified.png)"
            ),
        ));
    }
    if identify > lines {
        return Err(Error::param(
            "--identify",
            spec.identify,
            format!("at most {lines} inputs: unit-<J>-identified.png puts one a row of {tiles}, at most {MAX_GRID_SIDE} pixels high"),
        ));
    }
    Ok(())
}

/// Runs `compete regions maps` (see the module docs).
pub fn maps(spec: &MapsSpec) -> Result<MapsOutcome> {
    let start = Instant::now();
    spec.check()?;
    let net = PwlNet::load(&spec.checkpoint, spec.competition)?;
    let (train, _, _) = crate::data::load_split(&spec.data, spec.validation, spec.l2_normalize)?;
    if train.dim != net.input {
        return Err(Error::shape(
            format!("--data {} against {}", spec.data, spec.checkpoint.display()),
            format!("{} input features", train.dim),
            format!("{} input features, as the network ({})", net.input, net.describe()),
        ));
    }
    let hidden = net.hidden.len();
    let layer = spec.layer.unwrap_or(hidden.saturating_sub(1));
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
    let candidates: Vec<usize> = match (spec.unit, spec.pick) {
        (Some(j), _) if j >= units => {
            return Err(Error::param("--unit", j, format!("a unit of layer {layer}: 0 to {} ({units} units)", units - 1)));
        }
        (Some(j), _) => vec![j],
        (None, Some(n)) if n == 0 || n > units => {
            return Err(Error::param("--pick", n, format!("between 1 and the {units} units of layer {layer}")));
        }
        (None, Some(n)) => {
            let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
            let mut v = rand::seq::index::sample(&mut rng, units, n).into_vec();
            v.sort_unstable();
            v
        }
        (None, None) => {
            return Err(Error::param("--unit", "(none)", format!("a unit of layer {layer} (0 to {}), or --pick N", units - 1)));
        }
    };
    let n = spec.examples.min(train.len());
    if spec.k > n {
        return Err(Error::param(
            "--k",
            spec.k,
            format!("at most {n} clusters: the maps of the {n} training examples of {} used", spec.data),
        ));
    }
    let kept = if spec.pick.is_some() { spec.keep.min(candidates.len()) } else { 1 };
    if let Some(shape) = train.image_shape {
        check_pictures(spec, shape, kept, spec.identify.min(n))?;
    }
    create_out_dir("-o/--out", &spec.out)?;

    let rows: Vec<f64> = train.x[..n * train.dim].iter().map(|&v| f64::from(v)).collect();
    let pass = LayerPass::new(&net, &rows, layer)?;
    let per_block = (MAPS_MEMORY / (n * net.input * 8).max(1)).max(1);
    let mut results = Vec::with_capacity(candidates.len());
    for block in candidates.chunks(per_block) {
        for (&unit, maps) in block.iter().zip(pass.maps_many(block, true)?) {
            let clusters = if maps.is_empty() {
                None
            } else {
                Some(kmeans(&stack_u(&maps), net.input, spec.k.min(maps.len()), spec.seed, KMEANS_ITERATIONS)?)
            };
            let spread = clusters.as_ref().map_or(0.0, KMeans::spread);
            results.push(UnitReport {
                unit,
                positive: maps.iter().map(|(i, _)| *i).collect(),
                clusters,
                spread,
                target: None,
                target_source: "",
                identified: Vec::new(),
            });
        }
    }
    let scanned: Vec<(usize, usize, f64)> = results.iter().map(|r| (r.unit, r.positive.len(), r.spread)).collect();
    let min_positive = spec.min_positive.unwrap_or((n / 100).max(spec.k));
    if spec.pick.is_some() {
        let key = |r: &UnitReport| r.positive.len() >= min_positive;
        results.sort_by(|a, b| key(b).cmp(&key(a)).then(b.spread.total_cmp(&a.spread)).then(a.unit.cmp(&b.unit)));
        results.truncate(spec.keep);
    }

    let mut json_units = Vec::new();
    let mut files = vec![spec.out.join("maps.json")];
    let mut centre_tiles = Vec::new();
    for r in &mut results {
        let responses = pass.responses(r.unit)?;
        let positive: Vec<f64> = r.positive.iter().map(|&i| responses[i].1).collect();
        (r.target, r.target_source) = match spec.target {
            Some(t) => (Some(t), "--target"),
            None => (median(&positive).map(|m| round_significant(m, 2)), "median positive activation, 2 significant digits"),
        };
        let identified = match r.target {
            Some(t) if spec.identify > 0 => pass.identify(r.unit, t, spec.identify.min(n))?,
            _ => Vec::new(),
        };
        files.extend(write_unit_files(&spec.out, r, &responses, &train, n)?);
        if let Some((h, w)) = train.image_shape {
            if let Some(c) = &r.clusters {
                centre_tiles.extend((0..spec.k).map(|i| if i < c.k { diverging(c.centre(i)) } else { Vec::new() }));
            } else {
                centre_tiles.extend((0..spec.k).map(|_| Vec::new()));
            }
            if !identified.is_empty() {
                let path = spec.out.join(format!("unit-{}-identified.png", r.unit));
                write_grid(&path, &identified_tiles(&pass, &net, layer, r.unit, &identified)?, (h, w), IDENTIFIED_COLUMNS, spec.zoom)?;
                files.push(path);
            }
        }
        r.identified = identified
            .into_iter()
            .map(|f| {
                let label = train.labels[f.source];
                (f, label)
            })
            .collect();
        json_units.push(unit_json(r));
    }
    if let Some((h, w)) = train.image_shape {
        let path = spec.out.join("centres.png");
        write_grid(&path, &centre_tiles, (h, w), spec.k, spec.zoom)?;
        files.push(path);
    }
    if spec.pick.is_some() {
        let mut csv = String::from("unit,positive,spread\n");
        for (u, p, s) in &scanned {
            let _ = writeln!(csv, "{u},{p},{s}");
        }
        let path = spec.out.join("candidates.csv");
        write_atomic(&path, csv.as_bytes())?;
        files.push(path);
    }
    let report = json!({
        "checkpoint": spec.checkpoint,
        "network": net.describe(),
        "data": spec.data,
        "examples": n,
        "layer": layer,
        "output_layer": layer == hidden,
        "k": spec.k,
        "seed": spec.seed,
        "min_positive": spec.pick.map(|_| min_positive),
        "scanned": scanned.iter().map(|(u, p, s)| json!({"unit": u, "positive": p, "spread": s})).collect::<Vec<_>>(),
        "units": json_units,
        "files": files,
    });
    write_json(&spec.out.join("maps.json"), &report)?;
    Ok(MapsOutcome {
        network: net.describe(),
        data: spec.data.clone(),
        examples: n,
        layer_name,
        picked: spec.pick.map(|_| (candidates.len(), min_positive)),
        units: results,
        identify: spec.identify,
        images: train.image_shape.is_some(),
        files,
        seconds: start.elapsed().as_secs_f64(),
    })
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

fn unit_json(r: &UnitReport) -> serde_json::Value {
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
        "target": r.target,
        "target_from": r.target.map(|_| r.target_source),
        "identified": r.identified.iter().map(|(f, label)| json!({
            "source": f.source, "label": label, "source_value": f.source_value, "value": f.value,
            "activation": f.activation, "steps": f.steps, "reached": f.reached, "same_region": f.same_region,
            "same_pattern": f.same_pattern, "distance": f.distance, "x": f.x,
        })).collect::<Vec<_>>(),
    })
}

fn write_unit_files(dir: &Path, r: &UnitReport, responses: &[(f64, f64)], train: &Dataset, n: usize) -> Result<Vec<PathBuf>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MapsSpec {
        MapsSpec {
            checkpoint: PathBuf::from("missing.safetensors"),
            competition: None,
            data: "sample".into(),
            validation: None,
            l2_normalize: false,
            layer: None,
            unit: Some(0),
            pick: None,
            keep: 4,
            min_positive: None,
            k: 4,
            examples: 10000,
            target: None,
            identify: 3,
            seed: 0,
            zoom: 4,
            out: PathBuf::from("nowhere"),
        }
    }

    #[test]
    fn flags_are_checked_before_anything_is_loaded() {
        assert!(spec().check().is_ok());
        // k beyond the examples: refused by `maps` before it opens the (missing) checkpoint.
        let e = maps(&MapsSpec { k: 100_000, ..spec() }).unwrap_err().to_string();
        assert!(e.contains("--k = 100000") && e.contains("--examples = 10000"), "{e}");
        for (s, flag) in [
            (MapsSpec { k: 0, ..spec() }, "--k"),
            (MapsSpec { keep: 0, ..spec() }, "--keep"),
            (MapsSpec { examples: 0, ..spec() }, "--examples"),
            (MapsSpec { zoom: usize::MAX, ..spec() }, "--zoom"),
            (MapsSpec { target: Some(f64::INFINITY), ..spec() }, "--target"),
            (MapsSpec { k: usize::MAX, ..spec() }, "--k"),
        ] {
            let e = s.check().unwrap_err().to_string();
            assert!(e.contains(flag), "{flag}: {e}");
        }
    }

    #[test]
    fn pictures_that_cannot_be_drawn_are_refused_first() {
        let mnist = (28, 28);
        assert!(check_pictures(&spec(), mnist, 4, 3).is_ok());
        // 143 tiles of 28 pixels at zoom 4 fit in 16384 pixels, 144 do not.
        assert!(check_pictures(&MapsSpec { k: 143, ..spec() }, mnist, 4, 3).is_ok());
        let e = check_pictures(&MapsSpec { k: 144, ..spec() }, mnist, 4, 3).unwrap_err().to_string();
        assert!(e.contains("--k = 144") && e.contains("at most 143"), "{e}");
        let e = check_pictures(&MapsSpec { identify: usize::MAX, ..spec() }, mnist, 4, 10_000).unwrap_err().to_string();
        assert!(e.contains(&format!("--identify = {}", usize::MAX)) && e.contains("at most 143"), "{e}");
        let e = check_pictures(&MapsSpec { keep: 1000, ..spec() }, mnist, 1000, 3).unwrap_err().to_string();
        assert!(e.contains("--keep = 1000"), "{e}");
        let e = check_pictures(&MapsSpec { zoom: 32, k: 1, ..spec() }, (28, 200), 1, 3).unwrap_err().to_string();
        assert!(e.contains("--zoom = 32"), "{e}");
    }
}
