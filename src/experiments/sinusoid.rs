//! The shallow-versus-deep sinusoid experiment of paper E (Figure 1 and appendix F):
//! `compete run experiments/sinusoid.toml`.
//!
//! Paper E trains an MLP with one hidden layer of 20 ReLUs and one with two hidden layers of 10
//! ReLUs on a synthetic two-class set with a sinusoidal decision boundary, keeps the best of several
//! runs of each, and reports 123 misclassified examples for the shallow net against 24 for the deep
//! one: the deep net follows the curve with more linear pieces (section 1, Figure 1).
//!
//! What we do, and how it differs from the paper:
//!
//! - **Data.** The paper gives no generator. Ours is [`synthetic::sinusoid`]: `n` points uniform in
//!   `[-1, 1]^2`, class 1 when `x1 > A sin(pi k (x0 + 1))` (`k` full periods across the square), no
//!   label noise. The error counts therefore depend on our choice of `n`, `A` and `k` and can be
//!   compared with the paper's only in their ratio and direction.
//! - **Optimisation.** The paper uses a conjugate natural gradient (Pascanu and Bengio 2014) "to
//!   minimize the effect of optimization"; we use Adam (or SGD with momentum) through the ordinary
//!   trainer, [`train_mlp`], on large mini-batches for many epochs, from several seeds per
//!   architecture. The epoch kept of each run is the one with the fewest training errors (the
//!   training set is also the trainer's validation set), and the run kept is the one with the fewest
//!   training errors (ties: the smaller seed), as in "we plot the best of several runs".
//! - **Regions.** The activation regions of both kept networks are counted exactly on the data's
//!   square with [`count_2d`]; the decision boundary is drawn exactly too: on each region the two
//!   logits are affine, so the boundary there is the segment where they are equal.
//!
//! Output folder (`--out`, default `runs/<name>`): `results.json` ([`SinusoidResults`]),
//! `sinusoid.png` (Figure 1: the points, both boundaries, filled markers on the shallow net's
//! errors), `regions-shallow.png` and `regions-deep.png` (the activation regions, see
//! [`write_partition_png`]), `shallow.safetensors` and `deep.safetensors` (the kept networks,
//! compete checkpoints), and `runs/<arch>-seed<s>/` (every training run).

use std::path::{Path, PathBuf};
use std::time::Instant;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};

use crate::analysis::regions::{CountOptions, Partition2d, PwlNet, Slice2d, count_2d};
use crate::competition::Competition;
use crate::data::Dataset;
use crate::data::synthetic::{self, SinusoidParams};
use crate::error::{Error, Result};
use crate::report::io::{write_atomic, write_json};
use crate::report::regions::write_partition_png;
use crate::report::scatter::class_color;
use crate::train::checkpoint::{describe, load_mlp, save_mlp};
use crate::train::config::{Competitions, DataConfig, Experiment, ModelConfig, ModelSection, TrainConfig};
use crate::train::optim::OptimizerKind;
use crate::train::train_mlp;
use crate::train::trainer::RunOptions;

/// Misclassified examples the paper reports (appendix F): shallow, deep.
pub const PAPER_ERRORS: (usize, usize) = (123, 24);

/// The experiment file (`kind = "sinusoid"`); every field has a default.
///
/// ```toml
/// kind = "sinusoid"
/// name = "sinusoid"
/// seeds = 10            # runs per architecture, seeds first_seed, first_seed + 1, ...
/// first_seed = 1
/// shallow = [20]
/// deep = [10, 10]
/// [data]                # synthetic::SinusoidParams
/// n = 2000
/// amplitude = 0.5
/// periods = 2.0
/// seed = 0
/// [train]               # SinusoidTrain
/// optimizer = "adam"
/// epochs = 300
/// batch_size = 250
/// lr = 0.01
/// [figure]
/// size = 1000
/// region_pictures = true
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinusoidExperiment {
    /// Must be `"sinusoid"` (what `compete run` dispatches on).
    pub kind: String,
    /// Name of the experiment (the default output folder is `runs/<name>`).
    pub name: String,
    /// The generated training set.
    pub data: SinusoidParams,
    /// Hidden widths of the shallow ReLU net (paper: one layer of 20).
    pub shallow: Vec<usize>,
    /// Hidden widths of the deep ReLU net (paper: two layers of 10).
    pub deep: Vec<usize>,
    /// Training runs per architecture.
    pub seeds: usize,
    /// Seed of the first run; run `i` uses `first_seed + i`.
    pub first_seed: u64,
    /// The optimisation of every run.
    pub train: SinusoidTrain,
    /// The pictures.
    pub figure: SinusoidFigure,
}

impl Default for SinusoidExperiment {
    fn default() -> Self {
        SinusoidExperiment {
            kind: "sinusoid".into(),
            name: "sinusoid".into(),
            data: SinusoidParams::default(),
            shallow: vec![20],
            deep: vec![10, 10],
            seeds: 10,
            first_seed: 1,
            train: SinusoidTrain::default(),
            figure: SinusoidFigure::default(),
        }
    }
}

/// The optimisation of the sinusoid runs (a subset of [`TrainConfig`], with defaults for this task:
/// Adam with a constant learning rate, no dropout, no weight decay).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinusoidTrain {
    /// `adam` or `sgd` (with momentum).
    pub optimizer: OptimizerKind,
    /// Passes over the training set.
    pub epochs: usize,
    /// Examples per mini-batch (the whole set when larger).
    pub batch_size: usize,
    /// Learning rate of the first epoch.
    pub lr: f32,
    /// Factor applied to the learning rate after every epoch.
    pub lr_decay: f32,
    /// The learning rate never falls below this.
    pub min_lr: f32,
    /// Adam's beta1, or SGD's momentum.
    pub momentum: f32,
    /// Adam's beta2.
    pub beta2: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
}

impl Default for SinusoidTrain {
    fn default() -> Self {
        SinusoidTrain {
            optimizer: OptimizerKind::Adam,
            epochs: 300,
            batch_size: 250,
            lr: 0.01,
            lr_decay: 0.995,
            min_lr: 0.0005,
            momentum: 0.9,
            beta2: 0.999,
            weight_decay: 0.0,
        }
    }
}

impl SinusoidTrain {
    /// The trainer's configuration for the run with `seed`.
    pub fn train_config(&self, seed: u64) -> TrainConfig {
        TrainConfig {
            optimizer: self.optimizer,
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            lr_decay: self.lr_decay,
            min_lr: self.min_lr,
            momentum: self.momentum,
            momentum_start: self.momentum,
            momentum_ramp_epochs: 0,
            beta2: self.beta2,
            weight_decay: self.weight_decay,
            max_norm: None,
            dropout_input: 0.0,
            dropout_hidden: 0.0,
            patience: None,
            seed,
            eval_test: false,
            track_flips: false,
            ..TrainConfig::default()
        }
    }
}

/// The pictures of the experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinusoidFigure {
    /// Side of the square plotting area of `sinusoid.png` and of the region pictures, in pixels.
    pub size: u32,
    /// Also write `regions-shallow.png` and `regions-deep.png`.
    pub region_pictures: bool,
}

impl Default for SinusoidFigure {
    fn default() -> Self {
        SinusoidFigure { size: 1000, region_pictures: true }
    }
}

impl SinusoidExperiment {
    /// Parses a TOML experiment; `origin` names the file in errors. Unknown fields and bad values are
    /// refused.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let exp: SinusoidExperiment = toml::from_str(text).map_err(|e| Error::format(origin, e.to_string()))?;
        exp.validate().map_err(|e| Error::format(origin, e.to_string()))?;
        Ok(exp)
    }

    /// Reads and parses a TOML experiment file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path)
    }

    /// Checks every value; the error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.kind != "sinusoid" {
            return Err(Error::param("kind", &self.kind, "\"sinusoid\""));
        }
        if self.name.is_empty() {
            return Err(Error::param("name", "\"\"", "a non-empty name"));
        }
        self.data.validate().map_err(|e| match e {
            Error::Param { name, value, expected } => Error::Param { name: format!("data.{name}"), value, expected },
            e => e,
        })?;
        for (field, hidden) in [("shallow", &self.shallow), ("deep", &self.deep)] {
            if hidden.is_empty() || hidden.contains(&0) {
                return Err(Error::param(field, format!("{hidden:?}"), "a list of hidden widths, each at least 1"));
            }
        }
        if self.seeds == 0 {
            return Err(Error::param("seeds", 0, "at least 1 run per architecture"));
        }
        if self.first_seed.checked_add(self.seeds as u64).is_none() {
            return Err(Error::param("first_seed", self.first_seed, "a seed that leaves room for `seeds` runs"));
        }
        self.train.train_config(self.first_seed).validate()?;
        if !(64..=4000).contains(&self.figure.size) {
            return Err(Error::param("figure.size", self.figure.size, "a size from 64 to 4000 pixels"));
        }
        Ok(())
    }

    /// The trainer's experiment for architecture `arch` (`"shallow"` or `"deep"`) with `seed`.
    fn run_experiment(&self, arch: &str, hidden: &[usize], seed: u64) -> Experiment {
        let d = &self.data;
        Experiment {
            kind: "train".into(),
            name: format!("{}-{arch}-seed{seed}", self.name),
            data: DataConfig {
                source: format!("synthetic:sinusoid,n={},amplitude={},periods={},seed={}", d.n, d.amplitude, d.periods, d.seed),
                validation: None,
                l2_normalize: false,
                ..DataConfig::default()
            },
            model: ModelSection::Mlp(ModelConfig {
                hidden: hidden.to_vec(),
                competition: Competitions::One(Competition::Relu),
                init_gain: 1.0,
            }),
            train: self.train.train_config(seed),
        }
    }
}

/// One training run of one architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedRun {
    /// Its seed.
    pub seed: u64,
    /// Misclassified training examples of its best epoch.
    pub train_errors: usize,
    /// That epoch.
    pub best_epoch: usize,
    /// Seconds it took.
    pub seconds: f64,
}

/// The runs of one architecture and its kept network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchResult {
    /// The architecture, e.g. `2-20(relu)-2`.
    pub architecture: String,
    /// Hidden widths.
    pub hidden: Vec<usize>,
    /// Parameters (weights and biases).
    pub parameters: usize,
    /// Every run, in seed order.
    pub runs: Vec<SeedRun>,
    /// Seed of the kept run (fewest training errors, then smallest seed).
    pub best_seed: u64,
    /// Its training errors.
    pub best_errors: usize,
    /// Activation regions of the kept network in the data's square (exact, [`count_2d`]).
    pub regions: usize,
    /// Regions after each hidden layer.
    pub regions_per_layer: Vec<usize>,
    /// Regions the decision boundary crosses: its linear pieces.
    pub boundary_pieces: usize,
    /// The kept network (a compete checkpoint).
    pub checkpoint: PathBuf,
}

/// Everything `results.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SinusoidResults {
    /// Name of the experiment.
    pub name: String,
    /// The generator's parameters.
    pub data: SinusoidParams,
    /// The generator's rule, in words.
    pub rule: String,
    /// Examples of class 0 and class 1.
    pub class_counts: Vec<usize>,
    /// The optimisation.
    pub train: SinusoidTrain,
    /// The shallow net.
    pub shallow: ArchResult,
    /// The deep net.
    pub deep: ArchResult,
    /// The paper's misclassified examples (appendix F): shallow, deep.
    pub paper_errors: (usize, usize),
    /// Wall-clock seconds of the whole experiment.
    pub seconds: f64,
}

impl SinusoidResults {
    /// The one-line summary `compete run` prints.
    pub fn summary(&self) -> String {
        let (s, d) = (&self.shallow, &self.deep);
        format!(
            "shallow {}: best {} errors (seed {}), {} regions; deep {}: best {} errors (seed {}), {} regions; paper: {} vs {}",
            plain(&s.architecture),
            s.best_errors,
            s.best_seed,
            s.regions,
            plain(&d.architecture),
            d.best_errors,
            d.best_seed,
            d.regions,
            self.paper_errors.0,
            self.paper_errors.1
        )
    }
}

/// `2-20(relu)-2` as `2-20-2`.
fn plain(arch: &str) -> String {
    arch.replace("(relu)", "")
}

/// Runs the experiment into `out` (see the module docs). `opts.resume` lets finished or interrupted
/// runs in `out/runs/` be continued instead of refused; `opts.quiet` silences the progress lines.
pub fn run(exp: &SinusoidExperiment, out: &Path, opts: &RunOptions) -> Result<SinusoidResults> {
    exp.validate()?;
    let started = Instant::now();
    let data = synthetic::sinusoid(&exp.data)?;
    let log = |s: String| {
        if !opts.quiet {
            crate::report::progress::log_line(&s);
        }
    };
    log(format!(
        "{}: {} points, class 1 where x1 > {} sin(pi {} (x0 + 1)); {} runs per architecture",
        exp.name,
        data.len(),
        exp.data.amplitude,
        exp.data.periods,
        exp.seeds
    ));
    let slice = Slice2d::axes(vec![0.0, 0.0], 0, 1, [-1.0, 1.0], [-1.0, 1.0])?;
    let mut kept = Vec::new();
    for (arch, hidden) in [("shallow", &exp.shallow), ("deep", &exp.deep)] {
        let mut runs = Vec::with_capacity(exp.seeds);
        let mut best: Option<(usize, u64, PathBuf)> = None;
        for i in 0..exp.seeds {
            let seed = exp.first_seed + i as u64;
            let e = exp.run_experiment(arch, hidden, seed);
            let dir = out.join("runs").join(format!("{arch}-seed{seed}"));
            let o = train_mlp(&e, &data, &data, None, &dir, &RunOptions { resume: opts.resume, quiet: true })?;
            let errors = o.val_errors.unwrap_or(usize::MAX);
            log(format!("{arch} {} seed {seed}: {} training errors (epoch {}), {:.1}s", o.architecture, errors, o.best_epoch, o.seconds));
            runs.push(SeedRun { seed, train_errors: errors, best_epoch: o.best_epoch, seconds: o.seconds });
            if best.as_ref().is_none_or(|b| errors < b.0) {
                best = Some((errors, seed, o.best_checkpoint.clone()));
            }
        }
        let Some((best_errors, best_seed, path)) = best else {
            return Err(Error::param("seeds", 0, "at least 1 run per architecture"));
        };
        let mlp = load_mlp(&path)?;
        let checkpoint = out.join(format!("{arch}.safetensors"));
        save_mlp(&checkpoint, &mlp, &[("seed", best_seed.to_string()), ("train_errors", best_errors.to_string())])?;
        let net = PwlNet::from_mlp(&mlp)?;
        let part = count_2d(&net, &slice, &CountOptions::default())?;
        let boundary = decision_boundary(&part);
        log(format!("{arch}: kept seed {best_seed} ({best_errors} errors), {} regions, boundary in {} pieces", part.len(), boundary.len()));
        let result = ArchResult {
            architecture: describe(&mlp.config),
            hidden: hidden.clone(),
            parameters: mlp.num_params(),
            runs,
            best_seed,
            best_errors,
            regions: part.len(),
            regions_per_layer: part.per_layer.clone(),
            boundary_pieces: boundary.len(),
            checkpoint,
        };
        kept.push((result, mlp, part, boundary));
    }
    let (deep, shallow) = match (kept.pop(), kept.pop()) {
        (Some(d), Some(s)) => (d, s),
        _ => return Err(Error::Data("the sinusoid experiment kept no network".into())),
    };
    let results = SinusoidResults {
        name: exp.name.clone(),
        data: exp.data,
        rule: format!(
            "{} points uniform in [-1, 1]^2; class 1 when x1 > {} sin(pi * {} * (x0 + 1)), else 0; no label noise",
            exp.data.n, exp.data.amplitude, exp.data.periods
        ),
        class_counts: data.class_counts(),
        train: exp.train.clone(),
        shallow: shallow.0,
        deep: deep.0,
        paper_errors: PAPER_ERRORS,
        seconds: 0.0,
    };
    let figure = Figure {
        data: &data,
        params: &exp.data,
        shallow_predictions: shallow.1.predict(&data.x, 500)?,
        deep_predictions: deep.1.predict(&data.x, 500)?,
        shallow_boundary: &shallow.3,
        deep_boundary: &deep.3,
        size: exp.figure.size,
    };
    let title = format!(
        "Sinusoidal boundary (paper E, Figure 1): shallow vs deep ReLU nets, {} points\nsolid: shallow {}, {} errors, {} regions;  dashed: deep {}, {} errors, {} regions\nfilled markers: errors of the shallow net;  crosses: errors of the deep net;  grey: the true curve",
        data.len(),
        plain(&results.shallow.architecture),
        results.shallow.best_errors,
        results.shallow.regions,
        plain(&results.deep.architecture),
        results.deep.best_errors,
        results.deep.regions
    );
    write_atomic(&out.join("sinusoid.png"), &figure.png(&title)?)?;
    if exp.figure.region_pictures {
        for (arch, r, part) in [("shallow", &results.shallow, &shallow.2), ("deep", &results.deep, &deep.2)] {
            let title = format!(
                "{} {}: {} activation regions\ndecision boundary in black, {} training errors",
                arch,
                plain(&r.architecture),
                r.regions,
                r.best_errors
            );
            write_partition_png(&out.join(format!("regions-{arch}.png")), part, &slice, exp.figure.size, &title, &[])?;
        }
    }
    let results = SinusoidResults { seconds: started.elapsed().as_secs_f64(), ..results };
    write_json(&out.join("results.json"), &results)?;
    Ok(results)
}

/// The decision boundary of a two-class partition: on each region where the two logits' difference
/// `d(p) = (l1 - l0)(p)` changes sign, the segment of the polygon where `d = 0`. Regions without an
/// output map (or with other than two outputs) contribute nothing.
pub fn decision_boundary(part: &Partition2d) -> Vec<[[f64; 2]; 2]> {
    let mut segments = Vec::new();
    for r in &part.regions {
        let [l0, l1] = match r.logits.as_slice() {
            [a, b] => [a, b],
            _ => continue,
        };
        let d = |p: [f64; 2]| (l1[0] - l0[0]) * p[0] + (l1[1] - l0[1]) * p[1] + (l1[2] - l0[2]);
        let poly = &r.polygon;
        let mut cuts: Vec<[f64; 2]> = Vec::new();
        for i in 0..poly.len() {
            let (p, q) = (poly[i], poly[(i + 1) % poly.len()]);
            let (dp, dq) = (d(p), d(q));
            // The edge [p, q) meets d = 0: at p itself, or strictly inside.
            if dp == 0.0 {
                cuts.push(p);
            } else if (dp < 0.0) != (dq < 0.0) && dq != 0.0 {
                let t = dp / (dp - dq);
                cuts.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
            }
        }
        // A convex polygon meets a line in at most a segment: its two extreme cut points.
        if cuts.len() >= 2 {
            let (mut a, mut b) = (cuts[0], cuts[1]);
            let len2 = |a: [f64; 2], b: [f64; 2]| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2);
            for &c in &cuts[2..] {
                if len2(a, c) > len2(a, b) {
                    b = c;
                } else if len2(c, b) > len2(a, b) {
                    a = c;
                }
            }
            if len2(a, b) > 0.0 {
                segments.push([a, b]);
            }
        }
    }
    segments
}

/// What Figure 1 shows.
struct Figure<'a> {
    data: &'a Dataset,
    params: &'a SinusoidParams,
    shallow_predictions: Vec<usize>,
    deep_predictions: Vec<usize>,
    shallow_boundary: &'a [[[f64; 2]; 2]],
    deep_boundary: &'a [[[f64; 2]; 2]],
    size: u32,
}

impl Figure<'_> {
    /// The PNG: the points by class (hollow; filled where the shallow net errs, a cross where the
    /// deep one does), the true curve in grey, the shallow boundary solid black, the deep one dashed
    /// red.
    fn png(&self, title: &str) -> Result<Vec<u8>> {
        crate::report::plot::ensure_font()?;
        let (w, h) = (self.size + 80, self.size + 140);
        let mut buf = vec![255u8; (w * h * 3) as usize];
        self.draw(&mut buf, (w, h), title).map_err(|e| Error::Data(format!("drawing the sinusoid figure: {e}")))?;
        crate::report::plot::encode_png(&buf, w, h).map_err(|e| Error::Data(format!("encoding the sinusoid figure: {e}")))
    }

    fn draw(&self, buf: &mut [u8], (w, h): (u32, u32), title: &str) -> std::result::Result<(), String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let root = BitMapBackend::with_buffer(buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut y = 10;
        for (i, line) in title.lines().enumerate() {
            let mut size = if i == 0 { 22 } else { 17 };
            while size > 9 {
                let (tw, _) = root.estimate_text_size(line, &("sans-serif", size).into_font().color(&BLACK)).map_err(|e| err(&e))?;
                if tw + 20 <= w {
                    break;
                }
                size -= 1;
            }
            let style = ("sans-serif", size).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
            root.draw_text(line, &style, (w as i32 / 2, y)).map_err(|e| err(&e))?;
            y += size + 8;
        }
        let (_, body) = root.split_vertically(y + 4);
        let lim = 1.02;
        let mut chart = ChartBuilder::on(&body)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-lim..lim, -lim..lim)
            .map_err(|e| err(&e))?;
        chart.configure_mesh().disable_mesh().x_desc("x0").y_desc("x1").draw().map_err(|e| err(&e))?;
        // The true boundary.
        let curve: Vec<(f64, f64)> = (0..=1000).map(|i| -1.0 + 2.0 * f64::from(i) / 1000.0).map(|x| (x, self.params.boundary(x))).collect();
        chart.draw_series(LineSeries::new(curve, RGBColor(170, 170, 170).stroke_width(1))).map_err(|e| err(&e))?;
        // The points.
        let r = if self.data.len() <= 3000 { 3 } else { 2 };
        for i in 0..self.data.len() {
            let (p, label) = (self.data.row(i), self.data.labels[i]);
            let at = (f64::from(p[0]), f64::from(p[1]));
            let colour = class_color(label);
            let shallow_wrong = self.shallow_predictions.get(i).is_some_and(|&c| c != usize::from(label));
            let style = if shallow_wrong { colour.filled() } else { colour.mix(0.8).stroke_width(1) };
            let radius = if shallow_wrong { r + 2 } else { r };
            chart.draw_series(std::iter::once(Circle::new(at, radius, style))).map_err(|e| err(&e))?;
            if self.deep_predictions.get(i).is_some_and(|&c| c != usize::from(label)) {
                chart.draw_series(std::iter::once(Cross::new(at, r + 3, BLACK.stroke_width(2)))).map_err(|e| err(&e))?;
            }
        }
        // The boundaries.
        let segs = |s: &[[[f64; 2]; 2]]| s.iter().map(|[a, b]| vec![(a[0], a[1]), (b[0], b[1])]).collect::<Vec<_>>();
        for s in segs(self.shallow_boundary) {
            chart.draw_series(LineSeries::new(s, BLACK.stroke_width(2))).map_err(|e| err(&e))?;
        }
        let red = RGBColor(200, 0, 0);
        for s in segs(self.deep_boundary) {
            chart.draw_series(DashedLineSeries::new(s, 7, 5, red.stroke_width(2))).map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> SinusoidExperiment {
        SinusoidExperiment {
            data: SinusoidParams { n: 300, amplitude: 0.5, periods: 1.0, seed: 3 },
            shallow: vec![6],
            deep: vec![3, 3],
            seeds: 2,
            train: SinusoidTrain { epochs: 4, batch_size: 100, ..SinusoidTrain::default() },
            figure: SinusoidFigure { size: 200, region_pictures: true },
            ..SinusoidExperiment::default()
        }
    }

    #[test]
    fn config_defaults_parse_and_unknown_fields_are_refused() {
        let exp = SinusoidExperiment::from_toml("kind = \"sinusoid\"\n", Path::new("s.toml")).unwrap();
        assert_eq!(exp, SinusoidExperiment::default());
        assert_eq!((exp.shallow.clone(), exp.deep.clone(), exp.train.optimizer), (vec![20], vec![10, 10], OptimizerKind::Adam));
        let exp = SinusoidExperiment::from_toml("seeds = 3\n[train]\nepochs = 7\n[data]\nperiods = 3.0\n", Path::new("s.toml")).unwrap();
        assert_eq!((exp.seeds, exp.train.epochs, exp.train.lr, exp.data.periods, exp.data.n), (3, 7, 0.01, 3.0, 2000));
        for (text, field) in [
            ("colour = 1\n", "colour"),
            ("[train]\nlrr = 0.1\n", "lrr"),
            ("[data]\nspread = 0.1\n", "spread"),
            ("[figure]\nsize = 10\n", "figure.size"),
            ("[data]\namplitude = 2.0\n", "data.amplitude"),
            ("seeds = 0\n", "seeds"),
            ("deep = [10, 0]\n", "deep"),
            ("kind = \"train\"\n", "kind"),
            ("[train]\nlr = -1.0\n", "train.lr"),
        ] {
            let e = SinusoidExperiment::from_toml(text, Path::new("bad.toml")).unwrap_err().to_string();
            assert!(e.contains(field) && e.contains("bad.toml"), "{text:?}: {e}");
        }
    }

    #[test]
    fn decision_boundary_is_the_zero_line_of_each_region() {
        // One region, the square [-1, 1]^2, logits l0 = 0 and l1 = x0 - 0.5: the boundary is x0 = 0.5.
        let part = Partition2d {
            regions: vec![crate::analysis::regions::Region2d {
                polygon: vec![[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]],
                pattern: vec![0],
                logits: vec![[0.0, 0.0, 0.0], [1.0, 0.0, -0.5]],
            }],
            pattern_bits: 1,
            per_layer: vec![1],
        };
        let b = decision_boundary(&part);
        assert_eq!(b.len(), 1);
        let [p, q] = b[0];
        assert!((p[0] - 0.5).abs() < 1e-12 && (q[0] - 0.5).abs() < 1e-12);
        assert!((p[1] - q[1]).abs() > 2.0 - 1e-12, "{b:?}");
        // A line through a vertex only (the corner) gives no segment; one outside gives none either.
        let mut corner = part.clone();
        corner.regions[0].logits[1] = [1.0, 1.0, -2.0];
        assert!(decision_boundary(&corner).is_empty());
        corner.regions[0].logits[1] = [0.0, 0.0, 1.0];
        assert!(decision_boundary(&corner).is_empty());
    }

    #[test]
    fn a_tiny_run_writes_results_pictures_and_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("s");
        let exp = tiny();
        let r = run(&exp, &out, &RunOptions { resume: false, quiet: true }).unwrap();
        for (a, hidden) in [(&r.shallow, vec![6]), (&r.deep, vec![3, 3])] {
            assert_eq!(a.runs.len(), 2);
            assert_eq!(a.hidden, hidden);
            assert!(a.regions > 0 && a.regions_per_layer.last() == Some(&a.regions));
            let best = a.runs.iter().map(|s| s.train_errors).min().unwrap();
            assert_eq!(a.best_errors, best);
            assert!(a.runs.iter().any(|s| s.seed == a.best_seed && s.train_errors == best));
            assert!(a.best_errors <= 300);
            // The kept checkpoint gives the reported errors on the regenerated data.
            let mlp = load_mlp(&a.checkpoint).unwrap();
            let data = synthetic::sinusoid(&exp.data).unwrap();
            assert_eq!(mlp.errors(&data).unwrap(), a.best_errors);
        }
        assert_eq!(r.shallow.architecture, "2-6(relu)-2");
        assert_eq!(r.class_counts.iter().sum::<usize>(), 300);
        let text = std::fs::read_to_string(out.join("results.json")).unwrap();
        let back: SinusoidResults = serde_json::from_str(&text).unwrap();
        assert_eq!(back.shallow.regions, r.shallow.regions);
        assert_eq!(back.data, exp.data);
        for png in ["sinusoid.png", "regions-shallow.png", "regions-deep.png"] {
            let bytes = std::fs::read(out.join(png)).unwrap();
            assert_eq!(&bytes[..4], b"\x89PNG", "{png}");
        }
        assert!(r.summary().contains("paper: 123 vs 24") && r.summary().contains("shallow 2-6-2"), "{}", r.summary());
        // The same folder again is refused (its runs exist) unless resumed, which reuses them.
        assert!(run(&exp, &out, &RunOptions { resume: false, quiet: true }).is_err());
        let again = run(&exp, &out, &RunOptions { resume: true, quiet: true }).unwrap();
        assert_eq!((again.shallow.best_errors, again.deep.regions), (r.shallow.best_errors, r.deep.regions));
    }
}
