//! Inference with a trained activation-learning network (paper C, sections III.B and IV.E, Figures 3
//! and 11): image generation for a label, completion of masked images, and the features the units
//! of a layer detect. The pipelines of `compete generate`, `compete complete` and
//! `compete unit-features`.
//!
//! # Generation (eq. 11, 15, 16; Figure 11a and 11b)
//!
//! With `a` the label code and `z` the image, maximize over `z`
//!
//! ```text
//! J(z) = Σ_i (1 + δ_i) y_i(u)²  −  (‖z‖² − 1)²  −  β ‖ẑ‖₁,     u = [ẑ, a],  ẑ = z / ‖z‖
//! ```
//!
//! The first term is the noisy output activation of eq. 16 (`δ_i ~ N(0, σ²)` drawn once per
//! generated image; `σ = 0` gives eq. 15 and the noiseless Figure 11a), the second is the penalty of
//! eq. 11 that turns the constraint `‖z‖ = 1` into an unconstrained problem, the third the L1 term of
//! eq. 15 that sharpens the digits (`β = 0.003`). Only the normalized image enters the network (as
//! in training), so the activation term depends on `ẑ` alone; its gradient with respect to `z` is
//! `(g − (ẑ·g) ẑ) / ‖z‖`, `g` the gradient with respect to `ẑ`.
//!
//! Each image starts from a uniform `[0, 1)` random image (seeded), scaled to unit norm (the network
//! sees the same `ẑ`; without the scaling, `‖z‖ ≈ 16` and the first steps only shrink every pixel
//! alike, clipping the small ones to 0 and losing the start), and follows Adam on `z`. After
//! every step `z` is projected onto `z ≥ 0` (pixels are nonnegative). **The authors do otherwise**:
//! they let `z` take any sign, threshold the image only when displaying it, and run 3,000,000 Adam
//! steps at learning rate 0.01. The projection and the defaults here (300 steps at 0.05) are chosen
//! so that a digit appears within seconds; the returned images are divided by their row maximum,
//! into `[0, 1]` for display.
//!
//! # Completion (eq. 17; Figure 11c)
//!
//! Only the top `visible_rows` rows of each image are known. Step 1 (eq. 10): the label is the one
//! of largest score of the image with its hidden part set to 0. Step 2: with that label's code `a`,
//! maximize over the hidden part `z_h`
//!
//! ```text
//! ‖y(a, ẑ_v, ẑ_h)‖²  −  β ‖ẑ_h‖₁,     (ẑ_v, ẑ_h) = (z_v, z_h) / ‖(z_v, z_h)‖
//! ```
//!
//! the visible and hidden parts jointly normalized before entering the network, so the gradient
//! passes through the joint normalization while only the hidden coordinates move. Adam from
//! `z_h = 0`, `z_h` projected onto `[0, 1]` after every step; the visible rows are returned unchanged.
//!
//! # Unit features (Figure 3)
//!
//! The feature a unit detects is the gradient of its net input with respect to the image part of
//! the input, averaged over inputs ([`ActivationNet::unit_features`]); [`unit_feature_grid`] takes
//! the `top` units of a layer with the largest mean square net input
//! ([`ActivationNet::unit_excitation`]).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::models::activation::ActivationNet;
use crate::models::learner::Update;
use crate::params::{Param, ParamKind, ParamMut, Parameters};
use crate::report::{Progress, ProgressMode};
use crate::tensor::Matrix;
use crate::train::optim::{Optimizer, OptimizerKind, StepParams};

/// The settings of [`generate`] and [`complete`].
#[derive(Clone, Debug, PartialEq)]
pub struct InferenceOptions {
    /// Adam steps (default 300; the authors run 3,000,000).
    pub steps: usize,
    /// Adam's learning rate (default 0.05; the authors use 0.01).
    pub lr: f32,
    /// `σ` of the output noise `δ_i` of eq. 16 (default 0.03; 0 = eq. 15, Figure 11a). Generation only.
    pub noise: f32,
    /// `β` of the L1 term of eq. 15 (default 0.003).
    pub beta: f32,
    /// Seed of the random start images and of the noise.
    pub seed: u64,
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

impl Default for InferenceOptions {
    fn default() -> Self {
        InferenceOptions { steps: 300, lr: 0.05, noise: 0.03, beta: 0.003, seed: 0, progress: false }
    }
}

impl InferenceOptions {
    /// Checks every value; the error names the flag, its value and what is expected.
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 {
            return Err(Error::param("--steps", 0, "at least 1 Adam step"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::param("--lr", self.lr, "a positive learning rate"));
        }
        if !(self.noise >= 0.0 && self.noise.is_finite()) {
            return Err(Error::param("--noise", self.noise, "a standard deviation of at least 0"));
        }
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            return Err(Error::param("--beta", self.beta, "an L1 weight of at least 0"));
        }
        Ok(())
    }

    fn bar(&self, label: &str) -> Progress {
        match Progress::new(label, self.steps as u64) {
            b if self.progress && b.mode() == ProgressMode::Bar => b,
            _ => Progress::quiet(label, self.steps as u64),
        }
    }
}

/// Generated images with the objective of every image before and after the optimization.
#[derive(Clone, Debug)]
pub struct Generation {
    /// `[n, data]`, every row divided by its maximum (values in `[0, 1]`).
    pub images: Matrix,
    /// The label of every row.
    pub labels: Vec<u8>,
    /// `J` of eq. 11 / 15 / 16 at the random start of every image.
    pub objective_start: Vec<f32>,
    /// `J` after the last step (with `z` projected).
    pub objective_end: Vec<f32>,
    /// The noiseless output activation `‖y‖²` of every final image.
    pub score_end: Vec<f32>,
}

/// A flat buffer seen as one parameter (`pixels`), so that the training loop's Adam
/// ([`Optimizer`]) moves the images.
struct Pixels<'a>(&'a mut [f32]);

impl Parameters for Pixels<'_> {
    fn params(&self) -> Vec<Param<'_>> {
        vec![Param::new("pixels", vec![self.0.len()], ParamKind::Weight, self.0)]
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let n = self.0.len();
        vec![ParamMut::new("pixels", vec![n], ParamKind::Weight, self.0)]
    }
}

/// Adam (Kingma and Ba; `β1 = 0.9`, `β2 = 0.999`, `ε = 1e-8`) over `x`, climbing.
struct Ascent {
    opt: Optimizer,
    params: StepParams,
}

impl Ascent {
    fn new(x: &mut [f32], lr: f32) -> Result<Self> {
        let opt = Optimizer::new(OptimizerKind::Adam, &Pixels(x), Vec::new())?;
        Ok(Ascent { opt, params: StepParams { lr, momentum: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 } })
    }

    /// One step up the gradient `g` of the quantity to maximize (`g` is negated in place: the
    /// optimizer descends).
    fn ascend(&mut self, x: &mut [f32], g: &mut [f32]) -> Result<()> {
        g.iter_mut().for_each(|v| *v = -*v);
        self.opt.step(&mut Pixels(x), &Pixels(g), self.params, Update::Gradients)
    }
}

fn require_labels(net: &ActivationNet, what: &str) -> Result<()> {
    if net.config.classes == 0 {
        return Err(Error::param(
            "checkpoint",
            format!("an activation network {} without label input (classes = 0)", net.config.describe()),
            format!("a network trained with the label as input, to {what}"),
        ));
    }
    Ok(())
}

fn check_label(net: &ActivationNet, label: usize) -> Result<()> {
    if label >= net.config.classes {
        return Err(Error::param("--label", label, format!("a class below {}", net.config.classes)));
    }
    Ok(())
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt().max(1e-7) as f32
}

/// Writes `z / ‖z‖` of every row of `z` into the image part of `u`, returning the norms.
fn write_normalized(z: &Matrix, u: &mut Matrix) -> Vec<f32> {
    (0..z.rows)
        .map(|b| {
            let n = norm(z.row(b));
            u.row_mut(b)[..z.cols].iter_mut().zip(z.row(b)).for_each(|(o, v)| *o = v / n);
            n
        })
        .collect()
}

/// Maps `g`, a gradient with respect to `ẑ = z / ‖z‖`, to the gradient with respect to `z`:
/// `(g − (ẑ·g) ẑ) / ‖z‖`, in place.
fn through_normalization(g: &mut [f32], zhat: &[f32], norm: f32) {
    let dot: f32 = g.iter().zip(zhat).map(|(a, b)| a * b).sum();
    g.iter_mut().zip(zhat).for_each(|(g, z)| *g = (*g - dot * z) / norm);
}

/// [`generate_labels`] of `n` images of one label (eq. 11, 15, 16): `[n, data]` in `[0, 1]`.
pub fn generate(net: &ActivationNet, label: usize, n: usize, opts: &InferenceOptions) -> Result<Matrix> {
    require_labels(net, "generate images")?;
    check_label(net, label)?;
    if n == 0 {
        return Err(Error::param("-n", 0, "at least 1 image"));
    }
    Ok(generate_labels(net, &vec![label as u8; n], opts)?.images)
}

/// Generates one image per entry of `labels` by maximizing eq. 11 / 15 / 16 (see the module docs),
/// all images in one batch (one [`crate::models::activation::ImageGradient::compute`] per step).
pub fn generate_labels(net: &ActivationNet, labels: &[u8], opts: &InferenceOptions) -> Result<Generation> {
    require_labels(net, "generate images")?;
    opts.validate()?;
    if labels.is_empty() {
        return Err(Error::param("-n", 0, "at least 1 image"));
    }
    for &l in labels {
        check_label(net, usize::from(l))?;
    }
    let (n, d) = (labels.len(), net.config.data);
    let out = *net.config.layers.last().expect("validated: at least one layer");
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    // The start: uniform [0, 1) images; then δ ~ N(0, σ²), one draw per image and output (eq. 16).
    let mut z = Matrix::from_vec(n, d, (0..n * d).map(|_| rng.random::<f32>()).collect())?;
    // Scaled to unit norm: the same network input ẑ, on the constraint ‖z‖ = 1 from the start.
    for b in 0..n {
        let k = norm(z.row(b));
        z.row_mut(b).iter_mut().for_each(|v| *v /= k);
    }
    let delta = if opts.noise > 0.0 {
        let mut normal = || {
            let u1: f64 = rng.random::<f64>().max(1e-300);
            let u2: f64 = rng.random();
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
        };
        Some(Matrix::from_vec(n, out, (0..n * out).map(|_| opts.noise * normal()).collect())?)
    } else {
        None
    };
    // ẑ, rewritten every step; the label codes' part of the first layer is computed once.
    let mut zhat = Matrix::zeros(n, d);
    let mut grads = net.image_gradient(Some(labels), n)?;
    // J of every image (eq. 11, 15, 16) from its score.
    let objective = |scores: &[f32], zhat: &Matrix, norms: &[f32]| -> Vec<f32> {
        (0..n)
            .map(|b| {
                let l1: f32 = zhat.row(b).iter().map(|v| v.abs()).sum();
                let p = norms[b] * norms[b] - 1.0;
                scores[b] - p * p - opts.beta * l1
            })
            .collect()
    };
    let norms = write_normalized(&z, &mut zhat);
    let objective_start = objective(grads.compute(&zhat, delta.as_ref())?.0, &zhat, &norms);
    let mut adam = Ascent::new(&mut z.data, opts.lr)?;
    let mut grad = Matrix::zeros(n, d);
    let bar = opts.bar("generate");
    for _ in 0..opts.steps {
        let norms = write_normalized(&z, &mut zhat);
        let (_, g) = grads.compute(&zhat, delta.as_ref())?;
        for (b, &nb) in norms.iter().enumerate() {
            let zh = zhat.row(b);
            let gr = grad.row_mut(b);
            // ∂/∂ẑ of Σ(1+δ)y² − β‖ẑ‖₁ (eq. 15, 16), then through ẑ = z/‖z‖.
            gr.iter_mut().zip(g.row(b)).zip(zh).for_each(|((o, g), z)| *o = g - opts.beta * z.signum());
            through_normalization(gr, zh, nb);
            // − ∂/∂z (‖z‖² − 1)² (eq. 11).
            let k = 4.0 * (nb * nb - 1.0);
            gr.iter_mut().zip(z.row(b)).for_each(|(o, z)| *o -= k * z);
        }
        adam.ascend(&mut z.data, &mut grad.data)?;
        z.data.iter_mut().for_each(|v| *v = v.max(0.0));
        bar.inc(1);
    }
    bar.finish("");
    let norms = write_normalized(&z, &mut zhat);
    let objective_end = objective(grads.compute(&zhat, delta.as_ref())?.0, &zhat, &norms);
    let score_end = grads.compute(&zhat, None)?.0.to_vec();
    for b in 0..n {
        let row = z.row_mut(b);
        let max = row.iter().fold(0.0f32, |m, v| m.max(*v));
        if max > 0.0 {
            row.iter_mut().for_each(|v| *v /= max);
        }
    }
    Ok(Generation { images: z, labels: labels.to_vec(), objective_start, objective_end, score_end })
}

/// Completes images whose rows from `visible_rows` on are unknown (eq. 17, see the module docs).
/// `images` is `[n, data]` (pixels in `[0, 1]`), `shape` their `(height, width)`. Returns the label
/// inferred for every image from its visible part (eq. 10) and the completed images: the visible
/// rows unchanged, the hidden ones in `[0, 1]`. `opts.noise` is not used.
pub fn complete(
    net: &ActivationNet,
    images: &Matrix,
    shape: (usize, usize),
    visible_rows: usize,
    opts: &InferenceOptions,
) -> Result<(Vec<usize>, Matrix)> {
    require_labels(net, "complete images")?;
    opts.validate()?;
    let d = net.config.data;
    let (h, w) = shape;
    if h.checked_mul(w) != Some(d) {
        return Err(Error::shape("image shape", format!("{h}x{w}"), format!("{d} pixels, the network's data features")));
    }
    if images.cols != d {
        return Err(Error::shape(
            "images to complete",
            format!("{} values per image", images.cols),
            format!("{d} (the network's data features, {h}x{w})"),
        ));
    }
    if images.rows == 0 {
        return Err(Error::param("-n", 0, "at least 1 image"));
    }
    if visible_rows == 0 || visible_rows > h {
        return Err(Error::param(
            "--visible",
            format!("top:{visible_rows}"),
            format!("between top:1 and top:{h} (the image has {h} rows)"),
        ));
    }
    let n = images.rows;
    let split = visible_rows * w;
    // Step 1 (eq. 10): the label of the image with its hidden part 0.
    let mut z = images.clone();
    (0..n).for_each(|b| z.row_mut(b)[split..].fill(0.0));
    let labels = net.predict(&z.data)?;
    if split == d {
        return Ok((labels, z));
    }
    // Step 2 (eq. 17): only the hidden part z_h moves, from 0, projected onto [0, 1].
    let codes: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
    let mut zhat = Matrix::zeros(n, d);
    let mut grads = net.image_gradient(Some(&codes), n)?;
    let hidden = d - split;
    let mut zh = vec![0.0f32; n * hidden];
    let mut adam = Ascent::new(&mut zh, opts.lr)?;
    let mut grad = vec![0.0f32; n * hidden];
    let mut full = vec![0.0f32; d];
    let bar = opts.bar("complete");
    for _ in 0..opts.steps {
        let norms = write_normalized(&z, &mut zhat);
        let (_, g) = grads.compute(&zhat, None)?;
        for b in 0..n {
            let zh = zhat.row(b);
            // ∂/∂ẑ of ‖y‖² − β‖ẑ_h‖₁, through the joint normalization; keep the hidden coordinates.
            full.copy_from_slice(g.row(b));
            full[split..].iter_mut().zip(&zh[split..]).for_each(|(o, z)| *o -= opts.beta * z.signum());
            through_normalization(&mut full, zh, norms[b]);
            grad[b * hidden..(b + 1) * hidden].copy_from_slice(&full[split..]);
        }
        adam.ascend(&mut zh, &mut grad)?;
        zh.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
        for b in 0..n {
            z.row_mut(b)[split..].copy_from_slice(&zh[b * hidden..(b + 1) * hidden]);
        }
        bar.inc(1);
    }
    bar.finish("");
    Ok((labels, z))
}

/// The most excited units of a layer and the features they detect (Figure 3).
#[derive(Clone, Debug)]
pub struct UnitFeatures {
    /// The units, most excited first.
    pub units: Vec<usize>,
    /// Their mean square net input over the inputs.
    pub excitation: Vec<f32>,
    /// Their features: the mean gradient of the unit's net input with respect to the image part of
    /// the input (`data` values each), one tile per unit.
    pub tiles: Vec<Vec<f32>>,
}

/// The `top` units of `layer` with the largest mean square net input over the rows of the network
/// inputs `u` ([`ActivationNet::unit_excitation`]) and their features
/// ([`ActivationNet::unit_features`], restricted to the image part): Figure 3.
pub fn unit_feature_grid(net: &ActivationNet, u: &Matrix, layer: usize, top: usize) -> Result<UnitFeatures> {
    if layer >= net.depth() {
        return Err(Error::param("--layer", layer, format!("a layer from 0 (closest to the input) to {}", net.depth() - 1)));
    }
    if top == 0 {
        return Err(Error::param("--top", 0, "at least 1 unit"));
    }
    if u.rows == 0 {
        return Err(Error::param("-n", 0, "at least 1 input"));
    }
    let e = net.unit_excitation(u, layer)?;
    let mut order: Vec<usize> = (0..e.len()).collect();
    order.sort_by(|&a, &b| e[b].total_cmp(&e[a]).then(a.cmp(&b)));
    order.truncate(top);
    let d = net.config.data;
    let tiles = net.unit_features(u, layer, &order)?.into_iter().map(|mut f| {
        f.truncate(d);
        f
    });
    Ok(UnitFeatures { excitation: order.iter().map(|&j| e[j]).collect(), units: order, tiles: tiles.collect() })
}
