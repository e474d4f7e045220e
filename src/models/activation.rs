//! Activation learning (paper C): layers trained only by the local competitive learning rule, whose
//! output activation `‖y‖²` scores how typical an input is; with the label as part of the input, a
//! classifier (the label that activates most), a generator and an image completer.
//!
//! # The network (sections II.B, III.A, IV; Figure 2 and 6a)
//!
//! Layer `l` is a linear map without bias, `y_l = W_l x_l` (eq. 18, `W_l` stored `[out, in]`), and
//! every layer but the last is followed by a magnitude-preserving activation `f` (`‖f(y)‖ = ‖y‖`):
//!
//! - `abs`: `f(y) = |y|`;
//! - `std-abs` (eq. 7): `a = |y|` standardized per unit with running statistics `μ, σ²` (updated
//!   during training with decay 0.995, starting from 0 and 0.1, as the authors' code), then
//!   rescaled to `‖y‖`: `f(y) = ‖y‖ · â / ‖â‖`, `â = (a - μ) / sqrt(max(σ², 1e-5))`;
//! - `layer-norm`: the variant the paper mentions, the layer mean of `|y|` subtracted per example,
//!   rescaled alike ([`crate::competition::std_abs`]).
//!
//! The score of an input is the output activation of the last layer, `‖y_L‖²` (eq. 8, 9).
//!
//! **Label as input** (section IV, Figure 5): with `classes > 0`, the input of the first layer is
//! the image scaled to unit norm, followed by a `classes x label_width` code whose row of the label
//! is all `1 / sqrt(label_width)` and the rest 0 (unit norm too: MNIST's 10 x 28 code, 1064 inputs).
//! With `classes = 0` the input is the normalized image alone (anomaly detection, section VI.A).
//!
//! **Classification** (eq. 10) enumerates the labels and takes the one with the largest score.
//! The first layer's product of the image is shared by all labels (the code only adds the sum of
//! `label_width` weight columns), so the ten passes cost one product in the first layer and ten in
//! each layer above, stacked into one product of `10 n` rows.
//!
//! # The rule (eq. 4, in matrix form eq. 19)
//!
//! For each layer, from one forward pass of a mini-batch (rows `x_b`, `y_b = W x_b`):
//!
//! ```text
//! ΔW = η / B · Σ_b f_b y_b (x_b - W^T y_b)^T          (eq. 19, one factor f_b per example)
//! ```
//!
//! all layers from the same pass (the layers train at once, as in the paper's experiments), no
//! bias. Without feedback `f_b = 1`.
//!
//! **Feedback** (section III.C, eq. 12-14): the negative sample of `(a, c)` is `(a, c')`, `c'` the
//! wrong label of largest score; `g = ‖y(a,c)‖² - ‖y(a,c')‖²` (eq. 12) and
//! `ΔW = γ (ΔW⁺ - λ ΔW⁻)` (eq. 13/14) with `λ = 0.9` and `γ = clip(1 - 5 g, 0, 1)`. (The paper's
//! text reads `min(max(5 g + 1, 0), 1)`, which has lost a sign in extraction: it would learn more on
//! correctly classified samples. The authors' code computes `clip((s' + 0.2 - s) · 5, 0, 1)`, i.e.
//! `clip(1 - 5 g, 0, 1)`, which is what is implemented; the slope is `feedback.slope`.) As in their
//! code, `γ` is divided by a running mean of `γ` (decay 0.01, starting at 1), so that the global
//! rate stays near `η` as fewer samples are misclassified. Both changes are computed from the same
//! weights and applied together, as eq. 13 writes them (the authors' code applies the positive
//! change, then the negative one with the changed weights, two steps of one batch). The running
//! statistics of std-abs learn from the positive samples only.
//!
//! # Locally connected layers (section V)
//!
//! With `local` set, every layer but the last is locally connected, and the last one is fully
//! connected (the paper's Figure 12c): unit `u` of location `(i, j)` of a
//! `h x w` map with `units` channels reads the `kernel x kernel` window around `(i, j)` of every
//! channel of the layer below ("same" zero padding); the first layer also reads the whole label
//! code. As the paper says, "training a locally connected layer is identical to training a fully
//! connected layer, with the exception that some weights are fixed to zero": the weights are stored
//! dense, the rule runs on them, and the weights outside the windows are kept at 0 by a mask.
//!
//! # Initialisation (the authors' code)
//!
//! Weights from a normal of standard deviation 0.01 truncated at two deviations; with the paper's
//! learning rate 0.1 and mini-batches of 100.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::competition::Competition;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::check_alloc;
use crate::models::learner::{Batch, Evaluation, Learner, StepOutput, Update};
use crate::models::{Atoms, Encoder, LayerInfo, LayerOutput, Model};
use crate::params::{Param, ParamKind, ParamMut, Parameters};
use crate::tensor::{Matrix, Op, matmul, matmul_scaled};

/// The magnitude-preserving activation between layers (section III.A).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Nonlinearity {
    /// `|y|`.
    Abs,
    /// `|y|` standardized per unit with running statistics, rescaled to `‖y‖` (eq. 7).
    StdAbs,
    /// `|y|` minus its layer mean per example, rescaled to `‖y‖` (the paper's simpler variant).
    LayerNorm,
}

impl Nonlinearity {
    fn name(self) -> &'static str {
        match self {
            Nonlinearity::Abs => "abs",
            Nonlinearity::StdAbs => "std-abs",
            Nonlinearity::LayerNorm => "layer-norm",
        }
    }
}

/// Locally connected layers (section V): the image's shape, the window and the units per location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSpec {
    /// Rows of the image (and of every layer's maps).
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Rows and columns of a unit's window (odd; paper: 9 on CIFAR-10, 5 with cropping).
    pub kernel: usize,
    /// Units per location (paper: 3, 6 or 9).
    pub units: usize,
}

/// Learning with feedback (section III.C, eq. 12-14).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Feedback {
    /// `λ`, the weight of unlearning the negative sample (paper: 0.9 on MNIST).
    pub unlearn: f32,
    /// The slope of `γ = clip(1 - slope · g, 0, 1)` (paper: 5; the authors' code uses 2 when
    /// training on at most 1000 samples).
    pub slope: f32,
    /// Divide `γ` by its running mean (the authors' code; decay 0.01).
    pub normalize: bool,
}

impl Default for Feedback {
    fn default() -> Self {
        Feedback { unlearn: 0.9, slope: 5.0, normalize: true }
    }
}

/// The architecture of an activation-learning network (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationConfig {
    /// Data features per example (784 for MNIST).
    pub data: usize,
    /// Classes encoded in the input (0: the data alone).
    pub classes: usize,
    /// Code values per class (28 for MNIST's 10 x 28 code).
    pub label_width: usize,
    /// Units of every layer, input side first (paper: 1064 each).
    pub layers: Vec<usize>,
    /// The activation between layers.
    pub activation: Nonlinearity,
    /// Locally connected layers instead of dense ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalSpec>,
    /// Decay of std-abs's running statistics (authors' code: 0.995).
    pub stats_decay: f32,
    /// Standard deviation of the initial weights (authors' code: 0.01, truncated at 2 deviations).
    pub init_std: f32,
    /// Learning with feedback (needs `classes > 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Feedback>,
    /// Layer-by-layer training (section II.D): layer `l` learns in epochs `l k + 1 ..= (l + 1) k`
    /// only, the layers below it frozen (the statistics of the activation right below it keep
    /// learning: with the layer below frozen they converge to its explicit mean and variance).
    /// After `depth * k` epochs nothing changes. Unset: all layers at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layerwise_epochs: Option<usize>,
}

impl ActivationConfig {
    /// The paper's MNIST network: `layers` layers of 1064 units over a 784-pixel image and a
    /// 10 x 28 label code, std-abs, no feedback.
    pub fn mnist(layers: usize) -> Self {
        ActivationConfig {
            data: 784,
            classes: 10,
            label_width: 28,
            layers: vec![1064; layers],
            activation: Nonlinearity::StdAbs,
            local: None,
            stats_decay: 0.995,
            init_std: 0.01,
            feedback: None,
            layerwise_epochs: None,
        }
    }

    /// Values of the label code (`classes * label_width`).
    pub fn code_width(&self) -> usize {
        self.classes * self.label_width
    }

    /// Inputs of the first layer: the data and the label code.
    pub fn input_width(&self) -> usize {
        self.data + self.code_width()
    }

    /// Checks every value; the error names the field, its value and what is expected.
    pub fn validate(&self) -> Result<()> {
        if self.data == 0 {
            return Err(Error::param("activation data features", 0, "at least 1"));
        }
        if self.layers.is_empty() {
            return Err(Error::param("model.layers", "[]", "at least one layer"));
        }
        if let Some(i) = self.layers.iter().position(|&u| u == 0) {
            return Err(Error::param(format!("model.layers[{i}]"), 0, "at least 1 unit"));
        }
        if self.classes > 0 && self.label_width == 0 {
            return Err(Error::param("model.label_width", 0, "at least 1 code value per class"));
        }
        if self.classes > 255 {
            return Err(Error::param("activation classes", self.classes, "at most 255 (labels are bytes)"));
        }
        if !(self.stats_decay >= 0.0 && self.stats_decay < 1.0) {
            return Err(Error::param("model.stats_decay", self.stats_decay, "a number in [0, 1)"));
        }
        if !(self.init_std > 0.0 && self.init_std.is_finite()) {
            return Err(Error::param("model.init_std", self.init_std, "a positive number"));
        }
        if self.layerwise_epochs == Some(0) {
            return Err(Error::param("model.layerwise_epochs", 0, "at least 1 epoch per layer (or unset: all layers at once)"));
        }
        if let Some(f) = &self.feedback {
            if self.classes == 0 {
                return Err(Error::param("model.feedback", "set", "a network with the label as input (classes > 0)"));
            }
            if !(0.0..=1.0).contains(&f.unlearn) {
                return Err(Error::param("model.feedback.unlearn", f.unlearn, "λ in [0, 1]"));
            }
            if !(f.slope > 0.0 && f.slope.is_finite()) {
                return Err(Error::param("model.feedback.slope", f.slope, "a positive number"));
            }
        }
        if let Some(l) = &self.local {
            if l.kernel == 0 || l.kernel % 2 == 0 {
                return Err(Error::param("model.local.kernel", l.kernel, "an odd window of at least 1"));
            }
            if l.units == 0 {
                return Err(Error::param("model.local.units", 0, "at least 1 unit per location"));
            }
            if l.height * l.width != self.data {
                return Err(Error::param(
                    "model.local",
                    format!("{}x{}", l.height, l.width),
                    format!("an image shape of the data's {} features", self.data),
                ));
            }
            let want = l.height * l.width * l.units;
            if self.layers.len() < 2 {
                return Err(Error::param(
                    "model.layers",
                    format!("{:?}", self.layers),
                    "at least two layers with `local` (locally connected hidden layers, a fully connected last one)",
                ));
            }
            if let Some(i) = self.layers[..self.layers.len() - 1].iter().position(|&u| u != want) {
                return Err(Error::param(
                    format!("model.layers[{i}]"),
                    self.layers[i],
                    format!("{want} units ({}x{} locations x {} units) in a locally connected network", l.height, l.width, l.units),
                ));
            }
        }
        Ok(())
    }

    /// `1064-1064(std-abs)-1064`, with `local` and `feedback` marks.
    pub fn describe(&self) -> String {
        let mut s = self.input_width().to_string();
        for (i, u) in self.layers.iter().enumerate() {
            s.push('-');
            s.push_str(&u.to_string());
            if i + 1 < self.layers.len() {
                s.push_str(&format!("({})", self.activation.name()));
            }
        }
        if let Some(l) = &self.local {
            s.push_str(&format!(" local {}x{}x{}", l.kernel, l.kernel, l.units));
        }
        if self.feedback.is_some() {
            s.push_str(" feedback");
        }
        s
    }

    fn num_params(&self) -> u128 {
        let mut inputs = self.input_width() as u128;
        let mut n = 0u128;
        for &u in &self.layers {
            n += inputs * u as u128 + 2 * u as u128;
            inputs = u as u128;
        }
        n
    }
}

/// An activation-learning network: its weights, the running statistics of std-abs and the running
/// mean of the feedback's `γ` (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct ActivationNet {
    /// The architecture.
    pub config: ActivationConfig,
    /// `layers.{l}.weight`, `[out, in]`.
    pub weights: Vec<Matrix>,
    /// `layers.{l}.mean`: running mean of `|y|` per unit (std-abs; every layer but the last).
    pub means: Vec<Vec<f32>>,
    /// `layers.{l}.var`: running variance of `|y|` per unit.
    pub vars: Vec<Vec<f32>>,
    /// `feedback.gamma_mean`: the running mean of `γ`, one value.
    pub gamma_mean: Vec<f32>,
    /// Which weights the windows of a locally connected network keep (`None`: dense), per layer.
    masks: Vec<Option<Vec<bool>>>,
}

/// The score of eq. 9 / 16 of images under labels that stay fixed over many evaluations
/// (generation, completion), and its exact gradient with respect to the normalized image `ẑ`
/// alone ([`ActivationNet::input_gradient`] restricted to the image columns).
///
/// The label code's contribution to the first layer's net input is computed once, so the first
/// layer's forward and backward products run over the image's columns only (784 of MNIST's 1064:
/// two of the four products of a step 26% smaller), and the buffers are reused from call to call.
#[derive(Debug)]
pub struct ImageGradient<'a> {
    net: &'a ActivationNet,
    /// `W_0`'s image columns, `[units, data]`.
    image_weights: Matrix,
    /// What each row's label code adds to the first layer's net input, `[rows, units]`.
    code_net: Matrix,
    trace: Vec<LayerTrace>,
    scores: Vec<f32>,
    g: Matrix,
    gx: Matrix,
    gy: Matrix,
    grad: Matrix,
}

impl<'a> ImageGradient<'a> {
    fn new(net: &'a ActivationNet, labels: Option<&[u8]>, rows: usize) -> Result<Self> {
        let (d, classes) = (net.config.data, net.config.classes);
        let w0 = &net.weights[0];
        let units = w0.rows;
        check_alloc(&format!("the image gradients of {rows} examples"), rows as u128 * (units + d) as u128 * 4 * 6)?;
        let mut code_net = Matrix::zeros(rows, units);
        match labels {
            Some(l) if classes == 0 => {
                return Err(Error::param("labels", format!("{} labels", l.len()), "none: the network has no label input"));
            }
            Some(l) => {
                if l.len() != rows {
                    return Err(Error::shape("image-gradient labels", format!("{} labels", l.len()), format!("one per image ({rows})")));
                }
                if let Some(&c) = l.iter().find(|&&c| usize::from(c) >= classes) {
                    return Err(Error::param("label", c, format!("a class below {classes}")));
                }
                let code = net.code_contributions();
                for (b, &c) in l.iter().enumerate() {
                    code_net.row_mut(b).copy_from_slice(code.row(usize::from(c)));
                }
            }
            None if classes > 0 => {
                return Err(Error::param("labels", "none", format!("one per image: the network takes a label in 0..{classes}")));
            }
            None => {}
        }
        let mut image_weights = Matrix::zeros(units, d);
        for j in 0..units {
            image_weights.row_mut(j).copy_from_slice(&w0.row(j)[..d]);
        }
        Ok(ImageGradient {
            net,
            image_weights,
            code_net,
            trace: Vec::new(),
            scores: Vec::new(),
            g: Matrix::default(),
            gx: Matrix::default(),
            gy: Matrix::default(),
            grad: Matrix::default(),
        })
    }

    /// The score `Σ_i (1 + δ_i) y_i²` (eq. 16; eq. 9 without `delta`, `[rows, out]`) of every
    /// normalized image of `zhat` (`[rows, data]`) under its label, and the gradient of the score
    /// with respect to `zhat`, `[rows, data]`, in evaluation mode, through every activation.
    pub fn compute(&mut self, zhat: &Matrix, delta: Option<&Matrix>) -> Result<(&[f32], &Matrix)> {
        let net = self.net;
        let (rows, d) = (self.code_net.rows, net.config.data);
        if (zhat.rows, zhat.cols) != (rows, d) {
            return Err(Error::shape("normalized images", format!("{} x {}", zhat.rows, zhat.cols), format!("{rows} x {d}")));
        }
        let depth = net.depth();
        self.trace.resize_with(depth, LayerTrace::default);
        // Layer 0: y_0 = ẑ W_0[:, image]^T + (the label code's part), eq. 18.
        let t = &mut self.trace[0];
        t.input = Matrix::default();
        t.net.resize(rows, self.code_net.cols);
        t.net.data.copy_from_slice(&self.code_net.data);
        matmul(&mut t.net, zhat, Op::N, &self.image_weights, Op::T, true)?;
        let mut stats = StatsView { means: &net.means, vars: &net.vars };
        forward_upper(&net.config, &net.weights, &mut stats, &mut self.trace, None)?;
        score_gradient(&self.trace[depth - 1].net, delta, &mut self.scores, &mut self.g)?;
        for l in (1..depth).rev() {
            let w = &net.weights[l];
            self.gx.resize(rows, w.cols);
            matmul(&mut self.gx, &self.g, Op::N, w, Op::N, false)?;
            let (m, v) = net.stats(l - 1);
            activate_backward(&net.config, m, v, &self.trace[l - 1].net, &self.gx, &mut self.gy)?;
            std::mem::swap(&mut self.g, &mut self.gy);
        }
        self.grad.resize(rows, d);
        matmul(&mut self.grad, &self.g, Op::N, &self.image_weights, Op::N, false)?;
        Ok((&self.scores, &self.grad))
    }
}

/// One layer's values from a forward pass: its input, net input and output.
#[derive(Clone, Debug, Default)]
pub struct LayerTrace {
    /// `x_l`, `[n, in]`.
    pub input: Matrix,
    /// `y_l = x_l W_l^T`, `[n, out]`.
    pub net: Matrix,
}

fn truncated_normal(rng: &mut ChaCha8Rng, std: f32) -> f32 {
    use rand::Rng;
    loop {
        // Box-Muller; redraw outside two deviations (TensorFlow's truncated_normal).
        let u1: f64 = rng.random::<f64>().max(1e-300);
        let u2: f64 = rng.random();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        if z.abs() <= 2.0 {
            return (z * f64::from(std)) as f32;
        }
    }
}

/// The window mask of a locally connected layer: `[out, in]` flags, `in` being `in_units` channels
/// of `h x w` maps (channel-major) followed by `extra` inputs every unit reads (the label code).
fn local_mask(spec: &LocalSpec, in_units: usize, extra: usize) -> Vec<bool> {
    let (h, w, k, units) = (spec.height, spec.width, spec.kernel, spec.units);
    let r = (k / 2) as isize;
    let inputs = in_units * h * w + extra;
    let mut mask = vec![false; units * h * w * inputs];
    for u in 0..units {
        for i in 0..h {
            for j in 0..w {
                let row = &mut mask[((u * h + i) * w + j) * inputs..][..inputs];
                for c in 0..in_units {
                    for di in -r..=r {
                        for dj in -r..=r {
                            let (y, x) = (i as isize + di, j as isize + dj);
                            if y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < w {
                                row[(c * h + y as usize) * w + x as usize] = true;
                            }
                        }
                    }
                }
                row[in_units * h * w..].fill(true);
            }
        }
    }
    mask
}

impl ActivationNet {
    fn build_masks(config: &ActivationConfig) -> Vec<Option<Vec<bool>>> {
        let depth = config.layers.len();
        match &config.local {
            None => vec![None; depth],
            // Every layer but the last (fully connected, Figure 12c) is locally connected.
            Some(spec) => (0..depth)
                .map(|l| match l {
                    l if l + 1 == depth => None,
                    0 => Some(local_mask(spec, 1, config.code_width())),
                    _ => Some(local_mask(spec, spec.units, 0)),
                })
                .collect(),
        }
    }

    /// std-abs's running statistics of layer `l` (empty for the other activations).
    fn stats(&self, l: usize) -> (&[f32], &[f32]) {
        match (self.means.get(l), self.vars.get(l)) {
            (Some(m), Some(v)) => (m, v),
            _ => (&[], &[]),
        }
    }

    /// Number of layers.
    pub fn depth(&self) -> usize {
        self.weights.len()
    }

    /// The network input of examples `x` (`[n, data]`, raw): every image scaled to unit norm, then
    /// the code of `labels[b]` (or of `class` for all rows when `labels` is `None`; nothing when the
    /// network has no label input). Errors on a label outside the classes.
    pub fn input(&self, x: &Matrix, labels: Option<&[u8]>, class: usize) -> Result<Matrix> {
        let (d, cw, lw) = (self.config.data, self.config.code_width(), self.config.label_width);
        if x.cols != d {
            return Err(Error::shape("activation input", format!("{} features", x.cols), format!("{d} features per example")));
        }
        if let Some(l) = labels
            && l.len() != x.rows
        {
            return Err(Error::shape("activation labels", format!("{} labels", l.len()), format!("one per example ({})", x.rows)));
        }
        let width = d + cw;
        check_alloc(&format!("the activation-learning input of {} examples", x.rows), x.rows as u128 * width as u128 * 4)?;
        let mut u = Matrix::zeros(x.rows, width);
        let value = if lw > 0 { 1.0 / (lw as f32).sqrt() } else { 0.0 };
        for b in 0..x.rows {
            let row = u.row_mut(b);
            let src = x.row(b);
            let norm = crate::tensor::dot(src, src).sqrt().max(1e-7);
            row[..d].iter_mut().zip(src).for_each(|(o, v)| *o = v / norm);
            if cw > 0 {
                let c = labels.map_or(class, |l| usize::from(l[b]));
                if c >= self.config.classes {
                    return Err(Error::param("label", c, format!("a class below {}", self.config.classes)));
                }
                row[d + c * lw..d + (c + 1) * lw].fill(value);
            }
        }
        Ok(u)
    }

    /// Forward pass of network inputs `u` (`[n, input_width]`), keeping every layer's input and net
    /// input in `trace`. With `train_stats = Some(k)`, std-abs's running statistics first learn from
    /// the first `k` rows (training); with `None` they are used as they are.
    pub fn forward(&mut self, u: &Matrix, trace: &mut Vec<LayerTrace>, train_stats: Option<usize>) -> Result<()> {
        self.forward_training(u, trace, train_stats, None)
    }

    /// [`ActivationNet::forward`], learning the statistics of the activation after layer `only`
    /// alone when it is given (layer-by-layer training: the statistics of the frozen layer below
    /// the one being trained).
    pub fn forward_training(
        &mut self,
        u: &Matrix,
        trace: &mut Vec<LayerTrace>,
        train_stats: Option<usize>,
        only: Option<usize>,
    ) -> Result<()> {
        if let Some(k) = train_stats {
            trace.resize_with(self.depth(), LayerTrace::default);
            let mut stats = StatsMut { means: &mut self.means, vars: &mut self.vars, decay: self.config.stats_decay, only };
            forward_layers(&self.config, &self.weights, &mut stats, u, trace, Some(k))
        } else {
            self.forward_eval(u, trace)
        }
    }

    /// [`ActivationNet::forward`] in evaluation mode.
    pub fn forward_eval(&self, u: &Matrix, trace: &mut Vec<LayerTrace>) -> Result<()> {
        trace.resize_with(self.depth(), LayerTrace::default);
        let mut me = StatsView { means: &self.means, vars: &self.vars };
        forward_layers(&self.config, &self.weights, &mut me, u, trace, None)
    }

    /// The output activation `‖y_L‖²` of every row of the network inputs `u` (eq. 8, 9).
    pub fn scores(&self, u: &Matrix) -> Result<Vec<f32>> {
        let mut trace = Vec::new();
        self.forward_eval(u, &mut trace)?;
        Ok(row_energy(&trace[self.depth() - 1].net))
    }

    /// The score of every example of `x` (`[n, data]`, raw) with every label: `[n, classes]`
    /// (section IV.A; see the module docs for the shared first layer). For a network without label
    /// input, `[n, 1]`: the score of the image.
    pub fn class_scores(&self, x: &Matrix) -> Result<Matrix> {
        let classes = self.config.classes;
        if classes == 0 {
            let s = self.scores(&self.input(x, None, 0)?)?;
            return Matrix::from_vec(x.rows, 1, s);
        }
        check_alloc(&format!("the class scores of {} examples", x.rows), x.rows as u128 * classes as u128 * 4)?;
        let mut out = Matrix::zeros(x.rows, classes);
        let code = self.code_contributions();
        const CHUNK: usize = 100;
        let mut start = 0;
        while start < x.rows {
            let rows = CHUNK.min(x.rows - start);
            let part = Matrix::from_vec(rows, x.cols, x.data[start * x.cols..(start + rows) * x.cols].to_vec())?;
            let s = self.class_scores_chunk(&part, &code)?;
            out.data[start * classes..(start + rows) * classes].copy_from_slice(&s.data);
            start += rows;
        }
        Ok(out)
    }

    /// What each label's code adds to the first layer's net input, `[classes, units]`: the sum of its
    /// `label_width` weight columns, times the code value.
    fn code_contributions(&self) -> Matrix {
        let (classes, d, lw) = (self.config.classes, self.config.data, self.config.label_width);
        let w0 = &self.weights[0];
        let value = 1.0 / (lw as f32).sqrt();
        let mut code = Matrix::zeros(classes, w0.rows);
        for c in 0..classes {
            let row = code.row_mut(c);
            for (j, o) in row.iter_mut().enumerate() {
                let w = &w0.row(j)[d + c * lw..d + (c + 1) * lw];
                *o = value * w.iter().sum::<f32>();
            }
        }
        code
    }

    /// [`ActivationNet::class_scores`] of at most a few hundred rows; `code` is
    /// [`ActivationNet::code_contributions`].
    fn class_scores_chunk(&self, x: &Matrix, code: &Matrix) -> Result<Matrix> {
        let (classes, d) = (self.config.classes, self.config.data);
        let n = x.rows;
        // The image part alone (code 0), through the first layer once.
        let mut u = self.input(x, None, 0)?;
        for b in 0..n {
            u.row_mut(b)[d..].fill(0.0);
        }
        let w0 = &self.weights[0];
        let mut base = Matrix::zeros(n, w0.rows);
        matmul(&mut base, &u, Op::N, w0, Op::T, false)?;
        // All labels stacked: row c * n + b is example b with label c.
        let mut net = Matrix::zeros(classes * n, w0.rows);
        for c in 0..classes {
            for b in 0..n {
                let o = net.row_mut(c * n + b);
                o.iter_mut().zip(base.row(b)).zip(code.row(c)).for_each(|((o, v), a)| *o = v + a);
            }
        }
        let mut cur = net;
        for l in 1..self.depth() {
            let mut act = Matrix::zeros(cur.rows, cur.cols);
            let (m, v) = self.stats(l - 1);
            activate_eval(&self.config, m, v, &cur, &mut act)?;
            let w = &self.weights[l];
            let mut next = Matrix::zeros(cur.rows, w.rows);
            matmul(&mut next, &act, Op::N, w, Op::T, false)?;
            cur = next;
        }
        let e = row_energy(&cur);
        let mut out = Matrix::zeros(n, classes);
        for c in 0..classes {
            for b in 0..n {
                out.data[b * classes + c] = e[c * n + b];
            }
        }
        Ok(out)
    }

    /// The label of largest score for every example of `x` (eq. 10).
    pub fn predict(&self, x: &[f32]) -> Result<Vec<usize>> {
        self.require_labels("classification")?;
        let d = self.config.data;
        if !x.len().is_multiple_of(d) {
            return Err(Error::shape("activation predict", format!("{} values", x.len()), format!("a multiple of {d} features")));
        }
        let m = Matrix::from_vec(x.len() / d, d, x.to_vec())?;
        let s = self.class_scores(&m)?;
        Ok((0..s.rows).map(|b| argmax(s.row(b))).collect())
    }

    /// Misclassified examples of `data` (eq. 10).
    pub fn errors(&self, data: &Dataset) -> Result<usize> {
        let p = self.predict(&data.x)?;
        Ok(p.iter().zip(&data.labels).filter(|(p, l)| **p != usize::from(**l)).count())
    }

    fn require_labels(&self, what: &str) -> Result<()> {
        if self.config.classes == 0 {
            return Err(Error::param(what, "a network without label input", "a network trained with the label as input (classes > 0)"));
        }
        Ok(())
    }

    /// The score `Σ_i (1 + δ_i) y_{L,i}²` of every row of `u` (eq. 16; `delta` `[n, out]`, or none for
    /// eq. 9) and its exact gradient with respect to `u`, in evaluation mode, through every
    /// activation.
    pub fn input_gradient(&self, u: &Matrix, delta: Option<&Matrix>) -> Result<(Vec<f32>, Matrix)> {
        let mut trace = Vec::new();
        self.forward_eval(u, &mut trace)?;
        let (mut scores, mut g) = (Vec::new(), Matrix::default());
        score_gradient(&trace[self.depth() - 1].net, delta, &mut scores, &mut g)?;
        let grad = self.backward_from(&trace, g, self.depth())?;
        Ok((scores, grad))
    }

    /// An [`ImageGradient`] of `rows` images under fixed labels (`labels`, one per row; `None` for a
    /// network without label input).
    pub fn image_gradient(&self, labels: Option<&[u8]>, rows: usize) -> Result<ImageGradient<'_>> {
        ImageGradient::new(self, labels, rows)
    }

    /// Backpropagates `g`, the gradient with respect to the net input of layer `top - 1`, to the
    /// network input.
    fn backward_from(&self, trace: &[LayerTrace], mut g: Matrix, top: usize) -> Result<Matrix> {
        for l in (0..top).rev() {
            let w = &self.weights[l];
            let mut gx = Matrix::zeros(g.rows, w.cols);
            matmul(&mut gx, &g, Op::N, w, Op::N, false)?;
            if l == 0 {
                return Ok(gx);
            }
            let mut gy = Matrix::zeros(gx.rows, gx.cols);
            let (m, v) = self.stats(l - 1);
            activate_backward(&self.config, m, v, &trace[l - 1].net, &gx, &mut gy)?;
            g = gy;
        }
        unreachable!("top >= 1")
    }

    /// The gradient of unit `unit`'s net input in layer `layer` with respect to the network input,
    /// averaged over the rows of `u` (Figure 3: the feature a unit detects), and the mean square of
    /// that net input over the rows.
    pub fn unit_features(&self, u: &Matrix, layer: usize, units: &[usize]) -> Result<Vec<Vec<f32>>> {
        if layer >= self.depth() {
            return Err(Error::param("layer", layer, format!("a layer below {}", self.depth())));
        }
        let mut trace = Vec::new();
        self.forward_eval(u, &mut trace)?;
        let width = self.config.layers[layer];
        units
            .iter()
            .map(|&j| {
                if j >= width {
                    return Err(Error::param("unit", j, format!("a unit below {width}")));
                }
                let mut g = Matrix::zeros(u.rows, width);
                (0..u.rows).for_each(|b| g.row_mut(b)[j] = 1.0);
                let gx = self.backward_from(&trace, g, layer + 1)?;
                let mut mean = vec![0.0f32; gx.cols];
                for b in 0..gx.rows {
                    mean.iter_mut().zip(gx.row(b)).for_each(|(m, v)| *m += v / gx.rows as f32);
                }
                Ok(mean)
            })
            .collect()
    }

    /// Mean square net input of every unit of `layer` over the rows of `u`: how excited it is.
    pub fn unit_excitation(&self, u: &Matrix, layer: usize) -> Result<Vec<f32>> {
        if layer >= self.depth() {
            return Err(Error::param("layer", layer, format!("a layer below {}", self.depth())));
        }
        let mut trace = Vec::new();
        self.forward_eval(u, &mut trace)?;
        let y = &trace[layer].net;
        let mut e = vec![0.0f32; y.cols];
        for b in 0..y.rows {
            e.iter_mut().zip(y.row(b)).for_each(|(e, v)| *e += v * v / y.rows as f32);
        }
        Ok(e)
    }

    /// `Σ_ij W_ij²` of layer `l` (Property 3: tends to its number of units).
    pub fn weight_energy(&self, l: usize) -> f64 {
        self.weights[l].data.iter().map(|w| f64::from(*w) * f64::from(*w)).sum()
    }

    fn apply_mask(&mut self, l: usize) {
        if let Some(mask) = &self.masks[l] {
            self.weights[l].data.iter_mut().zip(mask).for_each(|(w, &m)| {
                if !m {
                    *w = 0.0
                }
            });
        }
    }
}

/// Running statistics read (evaluation) or learned (training).
trait Stats {
    fn layer(&mut self, l: usize, a: &Matrix, k: Option<usize>) -> (&[f32], &[f32]);
}

struct StatsView<'a> {
    means: &'a [Vec<f32>],
    vars: &'a [Vec<f32>],
}

impl Stats for StatsView<'_> {
    fn layer(&mut self, l: usize, _: &Matrix, _: Option<usize>) -> (&[f32], &[f32]) {
        (&self.means[l], &self.vars[l])
    }
}

struct StatsMut<'a> {
    means: &'a mut [Vec<f32>],
    vars: &'a mut [Vec<f32>],
    decay: f32,
    /// Learn only this layer's statistics (layer-by-layer training).
    only: Option<usize>,
}

impl Stats for StatsMut<'_> {
    /// `μ ← d μ + (1-d) mean(|y|)`, then `σ² ← d σ² + (1-d) mean((|y| - μ)²)` with the new `μ`,
    /// over the first `k` rows of the net input `a` (the authors' code).
    fn layer(&mut self, l: usize, y: &Matrix, k: Option<usize>) -> (&[f32], &[f32]) {
        let learn = self.only.is_none_or(|o| o == l);
        let (mean, var) = (&mut self.means[l], &mut self.vars[l]);
        if let Some(k) = k.filter(|_| learn) {
            let k = k.min(y.rows).max(1);
            let d = self.decay;
            let mut m = vec![0.0f64; y.cols];
            for b in 0..k {
                m.iter_mut().zip(y.row(b)).for_each(|(m, v)| *m += f64::from(v.abs()));
            }
            for (mu, s) in mean.iter_mut().zip(&m) {
                *mu = d * *mu + (1.0 - d) * (*s / k as f64) as f32;
            }
            let mut v = vec![0.0f64; y.cols];
            for b in 0..k {
                v.iter_mut().zip(y.row(b)).zip(mean.iter()).for_each(|((v, a), mu)| {
                    let c = f64::from(a.abs() - mu);
                    *v += c * c
                });
            }
            for (s2, s) in var.iter_mut().zip(&v) {
                *s2 = d * *s2 + (1.0 - d) * (*s / k as f64) as f32;
            }
        }
        (mean, var)
    }
}

fn forward_layers(
    config: &ActivationConfig,
    weights: &[Matrix],
    stats: &mut dyn Stats,
    u: &Matrix,
    trace: &mut [LayerTrace],
    k: Option<usize>,
) -> Result<()> {
    if u.cols != config.input_width() {
        return Err(Error::shape(
            format!("the input of {}", config.describe()),
            format!("{} values per example", u.cols),
            format!("{} (the normalized data and the label code)", config.input_width()),
        ));
    }
    let t = &mut trace[0];
    t.input.resize(u.rows, u.cols);
    t.input.data.copy_from_slice(&u.data);
    t.net.resize(u.rows, weights[0].rows);
    matmul(&mut t.net, &t.input, Op::N, &weights[0], Op::T, false)?;
    forward_upper(config, weights, stats, trace, k)
}

/// The layers above the first of [`forward_layers`], from the first layer's net input in
/// `trace[0].net`.
fn forward_upper(
    config: &ActivationConfig,
    weights: &[Matrix],
    stats: &mut dyn Stats,
    trace: &mut [LayerTrace],
    k: Option<usize>,
) -> Result<()> {
    for l in 1..weights.len() {
        let w = &weights[l];
        let (before, rest) = trace.split_at_mut(l);
        let t = &mut rest[0];
        let prev = &before[l - 1].net;
        t.input.resize(prev.rows, prev.cols);
        match config.activation {
            Nonlinearity::StdAbs => {
                let (mean, var) = stats.layer(l - 1, prev, k);
                std_abs_running(prev, mean, var, &mut t.input);
            }
            _ => activate_eval(config, &[], &[], prev, &mut t.input)?,
        }
        t.net.resize(prev.rows, w.rows);
        matmul(&mut t.net, &t.input, Op::N, w, Op::T, false)?;
    }
    Ok(())
}

/// The score `Σ_i (1 + δ_i) y_i²` of every row of the last layer's net input `y` (eq. 9, 16) into
/// `scores`, and its gradient `2 (1 + δ_i) y_i` into `g`.
fn score_gradient(y: &Matrix, delta: Option<&Matrix>, scores: &mut Vec<f32>, g: &mut Matrix) -> Result<()> {
    if let Some(d) = delta
        && (d.rows, d.cols) != (y.rows, y.cols)
    {
        return Err(Error::shape(
            "output noise δ",
            format!("{} x {}", d.rows, d.cols),
            format!("{} x {} (one per example and output)", y.rows, y.cols),
        ));
    }
    g.resize(y.rows, y.cols);
    scores.clear();
    for b in 0..y.rows {
        let (yr, d, gr) = (y.row(b), delta.map(|d| d.row(b)), g.row_mut(b));
        let mut s = 0.0f64;
        for i in 0..yr.len() {
            let k = 1.0 + d.map_or(0.0, |d| d[i]);
            s += f64::from(k * yr[i] * yr[i]);
            gr[i] = 2.0 * k * yr[i];
        }
        scores.push(s as f32);
    }
    Ok(())
}

const STD_EPS: f32 = 1e-5;

/// std-abs with per-unit statistics (eq. 7): `‖y‖ · â / max(‖â‖, 1e-5)`, `â = (|y| - μ) / s`,
/// `s = sqrt(max(σ², 1e-5))` (the authors' code's guards).
fn std_abs_running(y: &Matrix, mean: &[f32], var: &[f32], out: &mut Matrix) {
    let inv: Vec<f32> = var.iter().map(|v| 1.0 / v.max(STD_EPS).sqrt()).collect();
    out.data.par_chunks_mut(y.cols).zip(y.data.par_chunks(y.cols)).for_each(|(o, yr)| {
        let mut r2 = 0.0f64;
        let mut n2 = 0.0f64;
        for i in 0..yr.len() {
            let a = (yr[i].abs() - mean[i]) * inv[i];
            o[i] = a;
            r2 += f64::from(yr[i]) * f64::from(yr[i]);
            n2 += f64::from(a) * f64::from(a);
        }
        let scale = (r2.sqrt() / n2.sqrt().max(f64::from(STD_EPS))) as f32;
        o.iter_mut().for_each(|v| *v *= scale);
    });
}

/// The activation in evaluation mode.
fn activate_eval(config: &ActivationConfig, mean: &[f32], var: &[f32], y: &Matrix, out: &mut Matrix) -> Result<()> {
    out.resize(y.rows, y.cols);
    match config.activation {
        Nonlinearity::Abs => out.data.iter_mut().zip(&y.data).for_each(|(o, v)| *o = v.abs()),
        Nonlinearity::StdAbs => std_abs_running(y, mean, var, out),
        Nonlinearity::LayerNorm => {
            let mut winners = vec![false; y.data.len()];
            crate::competition::std_abs::forward(&y.data, y.rows, &mut out.data, &mut winners)?;
        }
    }
    Ok(())
}

/// The gradient of the activation, in evaluation mode: `gy = (∂f/∂y)^T gz` row by row.
fn activate_backward(config: &ActivationConfig, mean: &[f32], var: &[f32], y: &Matrix, gz: &Matrix, gy: &mut Matrix) -> Result<()> {
    gy.resize(y.rows, y.cols);
    match config.activation {
        Nonlinearity::Abs => {
            gy.data.iter_mut().zip(&y.data).zip(&gz.data).for_each(|((o, v), g)| *o = if *v >= 0.0 { *g } else { -*g });
        }
        Nonlinearity::LayerNorm => crate::competition::std_abs::backward(&y.data, &gz.data, y.rows, &mut gy.data)?,
        Nonlinearity::StdAbs => {
            let inv: Vec<f64> = var.iter().map(|v| 1.0 / f64::from(v.max(STD_EPS)).sqrt()).collect();
            gy.data.par_chunks_mut(y.cols).zip(y.data.par_chunks(y.cols)).zip(gz.data.par_chunks(y.cols)).for_each(|((o, yr), g)| {
                let n = yr.len();
                let a: Vec<f64> = (0..n).map(|i| (f64::from(yr[i].abs()) - f64::from(mean[i])) * inv[i]).collect();
                let r = yr.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>().sqrt();
                let nn = a.iter().map(|v| v * v).sum::<f64>().sqrt();
                let nc = nn.max(f64::from(STD_EPS));
                let ag: f64 = a.iter().zip(g).map(|(a, g)| a * f64::from(*g)).sum();
                // z = r a / nc: dz/da = r/nc (I - a a^T / nn^2) when nn > eps, else r/eps I;
                // dz/dr = a / nc.
                let dr = ag / nc;
                for i in 0..n {
                    let da =
                        if nn > f64::from(STD_EPS) { r / nc * (f64::from(g[i]) - ag * a[i] / (nn * nn)) } else { r / nc * f64::from(g[i]) };
                    let sign = if yr[i] >= 0.0 { 1.0 } else { -1.0 };
                    let from_r = if r > 0.0 { dr * f64::from(yr[i]) / r } else { 0.0 };
                    o[i] = (sign * da * inv[i] + from_r) as f32;
                }
            });
        }
    }
    Ok(())
}

fn row_energy(y: &Matrix) -> Vec<f32> {
    (0..y.rows).map(|b| y.row(b).iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>() as f32).collect()
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

fn check_memory(config: &ActivationConfig) -> Result<()> {
    check_alloc(&format!("the weights of {}", config.describe()), config.num_params() * 4 * if config.local.is_some() { 2 } else { 1 })
}

/// `layers.{l}.weight` `[out, in]` (Weight), and for std-abs `layers.{l}.mean`, `layers.{l}.var`
/// `[out]` of every layer but the last, and `feedback.gamma_mean` `[1]` (Fixed: the rule and the
/// statistics change them, no optimizer).
impl Parameters for ActivationNet {
    fn params(&self) -> Vec<Param<'_>> {
        let mut p = Vec::new();
        for (l, w) in self.weights.iter().enumerate() {
            p.push(Param::new(format!("layers.{l}.weight"), vec![w.rows, w.cols], ParamKind::Weight, &w.data));
        }
        for (l, (m, v)) in self.means.iter().zip(&self.vars).enumerate() {
            p.push(Param::new(format!("layers.{l}.mean"), vec![m.len()], ParamKind::Fixed, m));
            p.push(Param::new(format!("layers.{l}.var"), vec![v.len()], ParamKind::Fixed, v));
        }
        p.push(Param::new("feedback.gamma_mean", vec![1], ParamKind::Fixed, &self.gamma_mean));
        p
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut p = Vec::new();
        for (l, w) in self.weights.iter_mut().enumerate() {
            p.push(ParamMut::new(format!("layers.{l}.weight"), vec![w.rows, w.cols], ParamKind::Weight, &mut w.data));
        }
        for (l, (m, v)) in self.means.iter_mut().zip(self.vars.iter_mut()).enumerate() {
            let (a, b) = (m.len(), v.len());
            p.push(ParamMut::new(format!("layers.{l}.mean"), vec![a], ParamKind::Fixed, m));
            p.push(ParamMut::new(format!("layers.{l}.var"), vec![b], ParamKind::Fixed, v));
        }
        p.push(ParamMut::new("feedback.gamma_mean", vec![1], ParamKind::Fixed, &mut self.gamma_mean));
        p
    }
}

impl Model for ActivationNet {
    const KIND: &'static str = "activation";
    type Config = ActivationConfig;

    fn config(&self) -> &ActivationConfig {
        &self.config
    }

    fn zeros(config: &ActivationConfig) -> Result<Self> {
        config.validate()?;
        check_memory(config)?;
        let mut weights = Vec::new();
        let mut inputs = config.input_width();
        for &u in &config.layers {
            weights.push(Matrix::zeros(u, inputs));
            inputs = u;
        }
        let stats = if config.activation == Nonlinearity::StdAbs { config.layers.len() - 1 } else { 0 };
        Ok(ActivationNet {
            config: config.clone(),
            weights,
            means: config.layers[..stats].iter().map(|&u| vec![0.0; u]).collect(),
            vars: config.layers[..stats].iter().map(|&u| vec![0.1; u]).collect(),
            gamma_mean: vec![1.0],
            masks: Self::build_masks(config),
        })
    }

    /// Weights from a normal of deviation `init_std` truncated at 2 deviations (the authors' code),
    /// masked for a locally connected network; running means 0, variances 0.1, `γ` mean 1.
    fn init(config: &ActivationConfig, seed: u64) -> Result<Self> {
        let mut net = Self::zeros(config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for l in 0..net.depth() {
            net.weights[l].data.iter_mut().for_each(|w| *w = truncated_normal(&mut rng, config.init_std));
            net.apply_mask(l);
        }
        Ok(net)
    }

    fn describe(&self) -> String {
        self.config.describe()
    }
}

impl Encoder for ActivationNet {
    fn input_width(&self) -> usize {
        self.config.input_width()
    }

    /// One layer per weight matrix: its net input is the submask's `pre`, its output the activation
    /// (the last layer's output is its net input; its square sums to the score).
    fn layers(&self) -> Vec<LayerInfo> {
        let comp = match self.config.activation {
            Nonlinearity::Abs => Competition::Abs,
            _ => Competition::StdAbs,
        };
        self.config
            .layers
            .iter()
            .enumerate()
            .map(|(l, &u)| {
                let last = l + 1 == self.config.layers.len();
                LayerInfo {
                    name: if last { format!("{u}(linear)") } else { format!("{u}({})", self.config.activation.name()) },
                    pre_width: u,
                    units: u,
                    competition: comp,
                    maps: self.config.local.map(|s| [s.units, s.height, s.width]),
                }
            })
            .collect()
    }

    fn encode(&self, x: &Matrix, upto: usize, out: &mut Vec<LayerOutput>) -> Result<()> {
        let mut trace = Vec::new();
        self.forward_eval(x, &mut trace)?;
        let upto = upto.min(self.depth());
        out.resize_with(upto.max(out.len()), LayerOutput::default);
        for l in 0..upto {
            let o = &mut out[l];
            o.pre = trace[l].net.clone();
            o.out = if l + 1 < self.depth() { trace[l + 1].input.clone() } else { trace[l].net.clone() };
            o.winners = trace[l].net.data.iter().map(|v| *v >= 0.0).collect();
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.config.describe()
    }

    /// The first layer's weights on the image (Figure 9b), when the data are images.
    fn dictionary(&self, image: Option<(usize, usize)>) -> Option<Atoms> {
        let (h, w) = image?;
        if h * w != self.config.data {
            return None;
        }
        let w0 = &self.weights[0];
        Some(Atoms {
            tiles: (0..w0.rows).map(|j| w0.row(j)[..self.config.data].to_vec()).collect(),
            shape: (h, w),
            what: "first-layer weights".into(),
        })
    }
}

/// Trains an [`ActivationNet`] by the local rule (eq. 19), with feedback when configured (eq. 14).
/// The rule is applied by the learner itself ([`Update::Applied`]), scaled by the loop's learning
/// rate; the loss reported per step is the mean squared reconstruction error `‖x - W^T y‖²` summed
/// over the layers (what the rule approximately minimizes, Property 1).
pub struct ActivationLearner {
    net: ActivationNet,
    trace: Vec<LayerTrace>,
    /// Workspaces of the step, per layer: the residual `X - Y W` and the scaled net inputs.
    work: Vec<(Matrix, Matrix)>,
    /// The loop's gradient buffer: never written (the rule is applied in place), kept empty.
    none: NoGrads,
}

/// An empty gradient buffer (the rule changes the model itself).
struct NoGrads;

impl Parameters for NoGrads {
    fn params(&self) -> Vec<Param<'_>> {
        Vec::new()
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        Vec::new()
    }
}

impl ActivationLearner {
    /// A learner for `net`.
    pub fn new(net: ActivationNet) -> Result<Self> {
        net.config.validate()?;
        Ok(ActivationLearner { net, trace: Vec::new(), work: Vec::new(), none: NoGrads })
    }

    /// `γ` of every example from its true and best wrong scores (eq. 12, 14 and the module docs),
    /// normalized by the running mean when configured; updates that mean.
    fn gammas(&mut self, fb: &Feedback, true_s: &[f32], wrong_s: &[f32]) -> Vec<f32> {
        let mut g: Vec<f32> = true_s.iter().zip(wrong_s).map(|(t, w)| (1.0 - fb.slope * (t - w)).clamp(0.0, 1.0)).collect();
        if fb.normalize {
            let mean = g.iter().map(|v| f64::from(*v)).sum::<f64>() / g.len().max(1) as f64;
            let m = &mut self.net.gamma_mean[0];
            *m = 0.99 * *m + 0.01 * mean as f32;
            let m = m.max(1e-5);
            g.iter_mut().for_each(|v| *v /= m);
        }
        g
    }
}

/// One layer's rule (eq. 19): `R = X - Y W`, then `W += scale (f ⊙ Y)^T R`, the weights outside a
/// locally connected layer's windows kept at 0; returns the layer's mean squared residual over the
/// first `n` rows (the positive samples).
#[allow(clippy::too_many_arguments)]
fn layer_update(
    w: &mut Matrix,
    mask: Option<&[bool]>,
    t: &LayerTrace,
    factors: &[f32],
    scale: f32,
    n: usize,
    r: &mut Matrix,
    fy: &mut Matrix,
) -> Result<f64> {
    r.resize(t.input.rows, t.input.cols);
    r.data.copy_from_slice(&t.input.data);
    matmul_scaled(r, &t.net, Op::N, w, Op::N, true, -1.0)?;
    let loss = r.data[..n * r.cols].iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>() / n as f64;
    if factors.iter().all(|f| *f == factors[0]) {
        matmul_scaled(w, &t.net, Op::T, r, Op::N, true, factors[0] * scale)?;
    } else {
        fy.resize(t.net.rows, t.net.cols);
        fy.data.copy_from_slice(&t.net.data);
        for (b, f) in factors.iter().enumerate() {
            let k = f * scale;
            fy.row_mut(b).iter_mut().for_each(|v| *v *= k);
        }
        matmul(w, fy, Op::T, r, Op::N, true)?;
    }
    if let Some(mask) = mask {
        w.data.iter_mut().zip(mask).for_each(|(w, &m)| {
            if !m {
                *w = 0.0
            }
        });
    }
    Ok(loss)
}

impl Learner for ActivationLearner {
    type Model = ActivationNet;

    fn model(&self) -> &ActivationNet {
        &self.net
    }

    fn model_mut(&mut self) -> &mut ActivationNet {
        &mut self.net
    }

    fn step(&mut self, batch: &Batch<'_>, _rng: &mut ChaCha8Rng) -> Result<StepOutput> {
        let n = batch.x.rows;
        let has_labels = self.net.config.classes > 0;
        if has_labels && batch.labels.len() != n {
            return Err(Error::Data(format!(
                "activation learning with the label as input needs a label per example: {} labels for {n} examples",
                batch.labels.len()
            )));
        }
        let labels = has_labels.then_some(batch.labels);
        let pos = self.net.input(batch.x, labels, 0)?;
        // Rows of the update and their factors f_b (eq. 19; with feedback eq. 14).
        let (u, factors) = match self.net.config.feedback {
            None => (pos, vec![1.0f32; n]),
            Some(fb) => {
                let s = self.net.class_scores(batch.x)?;
                let classes = self.net.config.classes;
                let mut wrong = vec![0u8; n];
                let mut true_s = vec![0.0f32; n];
                let mut wrong_s = vec![f32::NEG_INFINITY; n];
                for b in 0..n {
                    let c = usize::from(batch.labels[b]);
                    true_s[b] = s.row(b)[c];
                    for k in (0..classes).filter(|&k| k != c) {
                        if s.row(b)[k] > wrong_s[b] {
                            wrong_s[b] = s.row(b)[k];
                            wrong[b] = k as u8;
                        }
                    }
                }
                let gamma = self.gammas(&fb, &true_s, &wrong_s);
                let neg = self.net.input(batch.x, Some(&wrong), 0)?;
                let mut both = Matrix::zeros(2 * n, pos.cols);
                both.data[..pos.data.len()].copy_from_slice(&pos.data);
                both.data[pos.data.len()..].copy_from_slice(&neg.data);
                let mut f = gamma.clone();
                f.extend(gamma.iter().map(|g| -fb.unlearn * g));
                (both, f)
            }
        };
        // Layer by layer: only the layer of this epoch learns (and the statistics below it).
        let active = self.net.config.layerwise_epochs.map(|k| (batch.epoch.max(1) - 1) / k);
        let mut trace = std::mem::take(&mut self.trace);
        self.net.forward_training(&u, &mut trace, Some(n), active.map(|a| a.wrapping_sub(1)))?;
        let scale = batch.lr / n as f32;
        // The layers' updates are independent once the forward pass is done: they run as parallel
        // tasks (each GEMM may split further), which keeps both cores busy on the thin products of
        // a batch of 100.
        let depth = self.net.depth();
        self.work.resize_with(depth, || (Matrix::zeros(0, 0), Matrix::zeros(0, 0)));
        // With at least as many learning layers as threads, each layer's products stay on its task.
        let learning = if active.is_some() { 1 } else { depth };
        let split = learning >= crate::tensor::threads() && learning > 1;
        let ActivationNet { weights, masks, .. } = &mut self.net;
        let losses: Vec<f64> = weights
            .par_iter_mut()
            .zip(masks.par_iter())
            .zip(trace.par_iter())
            .zip(self.work.par_iter_mut())
            .enumerate()
            .filter(|(l, _)| active.is_none_or(|a| a == *l))
            .map(|(_, (((w, mask), t), (r, fy)))| {
                let mut update = || layer_update(w, mask.as_deref(), t, &factors, scale, n, r, fy);
                if split { crate::tensor::sequential(update) } else { update() }
            })
            .collect::<Result<_>>()?;
        let loss: f64 = losses.iter().sum();
        self.trace = trace;
        Ok(StepOutput { loss: loss as f32, update: Update::Applied })
    }

    fn model_and_grads(&mut self) -> (&mut ActivationNet, &dyn Parameters) {
        (&mut self.net, &self.none)
    }

    /// Classification errors (eq. 10) with the label as input, with the mean output activation with
    /// the true label as a metric (Figure 7b); without labels, `1 - mean activation` (an input
    /// strength of 1 minus how strongly typical data activate the network).
    fn evaluate(&self, data: &Dataset) -> Result<Evaluation> {
        let x = Matrix::from_vec(data.len(), data.dim, data.x.clone())?;
        let s = self.net.class_scores(&x)?;
        if self.net.config.classes > 0 {
            let mut errors = 0;
            let mut act = 0.0f64;
            for b in 0..s.rows {
                let c = usize::from(data.labels[b]);
                if c >= s.cols {
                    return Err(Error::Data(format!("label {c} of example {b} is outside the network's {} classes", s.cols)));
                }
                if argmax(s.row(b)) != c {
                    errors += 1;
                }
                act += f64::from(s.row(b)[c]);
            }
            let mean = act / s.rows.max(1) as f64;
            Ok(Evaluation { score: errors as f64, errors: Some(errors), metrics: vec![("mean_activation".into(), mean)] })
        } else {
            let mean = s.data.iter().map(|v| f64::from(*v)).sum::<f64>() / s.rows.max(1) as f64;
            Ok(Evaluation { score: 1.0 - mean, errors: None, metrics: vec![("mean_activation".into(), mean)] })
        }
    }

    fn score_name(&self) -> &'static str {
        if self.net.config.classes > 0 { "validation errors" } else { "1 - mean output activation" }
    }

    fn encoder(&self) -> Option<&dyn Encoder> {
        Some(&self.net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(activation: Nonlinearity, layers: Vec<usize>, classes: usize) -> ActivationNet {
        let config = ActivationConfig {
            data: 6,
            classes,
            label_width: 2,
            layers,
            activation,
            local: None,
            stats_decay: 0.9,
            init_std: 0.3,
            feedback: None,
            layerwise_epochs: None,
        };
        ActivationNet::init(&config, 3).unwrap()
    }

    fn rand_matrix(rows: usize, cols: usize, seed: u64) -> Matrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Matrix::from_vec(rows, cols, (0..rows * cols).map(|_| truncated_normal(&mut rng, 1.0)).collect()).unwrap()
    }

    /// One step of the rule (eq. 19, [`layer_update`]) on every layer, with `x` itself as the network
    /// input (not scaled to unit norm as [`ActivationNet::input`] would).
    fn rule_step(net: &mut ActivationNet, x: &Matrix, lr: f32) {
        let mut trace = Vec::new();
        net.forward(x, &mut trace, Some(x.rows)).unwrap();
        let ones = vec![1.0; x.rows];
        for (l, t) in trace.iter().enumerate() {
            let (mut r, mut fy) = (Matrix::zeros(0, 0), Matrix::zeros(0, 0));
            layer_update(&mut net.weights[l], None, t, &ones, lr / x.rows as f32, x.rows, &mut r, &mut fy).unwrap();
        }
    }

    #[test]
    fn every_activation_preserves_the_norm() {
        for act in [Nonlinearity::Abs, Nonlinearity::StdAbs, Nonlinearity::LayerNorm] {
            let mut net = small(act, vec![5, 7, 3], 0);
            // Statistics away from their start, so that std-abs standardizes for real.
            net.means.iter_mut().flatten().enumerate().for_each(|(i, m)| *m = 0.1 * (i % 3) as f32);
            net.vars.iter_mut().flatten().enumerate().for_each(|(i, v)| *v = 0.2 + 0.1 * (i % 4) as f32);
            let y = rand_matrix(4, 5, 9);
            let mut z = Matrix::zeros(4, 5);
            let (m, v) = if act == Nonlinearity::StdAbs { (&net.means[0][..], &net.vars[0][..]) } else { (&[][..], &[][..]) };
            activate_eval(&net.config, m, v, &y, &mut z).unwrap();
            for b in 0..4 {
                let (a, c) = (crate::tensor::dot(y.row(b), y.row(b)), crate::tensor::dot(z.row(b), z.row(b)));
                assert!((a - c).abs() < 1e-5 * a, "{act:?} row {b}: {a} vs {c}");
            }
        }
    }

    #[test]
    fn the_input_gradient_matches_finite_differences() {
        for act in [Nonlinearity::Abs, Nonlinearity::StdAbs, Nonlinearity::LayerNorm] {
            let mut net = small(act, vec![5, 4, 3], 2);
            net.means.iter_mut().flatten().enumerate().for_each(|(i, m)| *m = 0.05 * (i % 3) as f32);
            net.vars.iter_mut().flatten().enumerate().for_each(|(i, v)| *v = 0.3 + 0.1 * (i % 4) as f32);
            let u = rand_matrix(3, 10, 5);
            let delta = rand_matrix(3, 3, 6);
            let delta = Matrix::from_vec(3, 3, delta.data.iter().map(|d| 0.03 * d).collect()).unwrap();
            let (s, g) = net.input_gradient(&u, Some(&delta)).unwrap();
            let score = |u: &Matrix| -> Vec<f64> {
                let mut trace = Vec::new();
                net.forward_eval(u, &mut trace).unwrap();
                let y = &trace[2].net;
                (0..3).map(|b| (0..3).map(|i| f64::from(1.0 + delta.row(b)[i]) * f64::from(y.row(b)[i]).powi(2)).sum()).collect()
            };
            let s0 = score(&u);
            for b in 0..3 {
                assert!((f64::from(s[b]) - s0[b]).abs() < 1e-4 * s0[b].max(1.0));
            }
            let h = 1e-3f32;
            for i in 0..u.data.len() {
                let (mut up, mut dn) = (u.clone(), u.clone());
                up.data[i] += h;
                dn.data[i] -= h;
                let b = i / u.cols;
                let fd = (score(&up)[b] - score(&dn)[b]) / (2.0 * f64::from(h));
                let an = f64::from(g.data[i]);
                assert!((fd - an).abs() < 2e-3 * (1.0 + fd.abs()), "{act:?} input {i}: finite difference {fd}, gradient {an}");
            }
        }
    }

    #[test]
    fn the_image_gradient_is_the_input_gradient_of_the_image_columns() {
        for act in [Nonlinearity::Abs, Nonlinearity::StdAbs, Nonlinearity::LayerNorm] {
            let mut net = small(act, vec![5, 4, 3], 2);
            net.means.iter_mut().flatten().enumerate().for_each(|(i, m)| *m = 0.05 * (i % 3) as f32);
            net.vars.iter_mut().flatten().enumerate().for_each(|(i, v)| *v = 0.3 + 0.1 * (i % 4) as f32);
            let labels = [1u8, 0, 1];
            let delta = Matrix::from_vec(3, 3, rand_matrix(3, 3, 6).data.iter().map(|d| 0.03 * d).collect()).unwrap();
            let mut grads = net.image_gradient(Some(&labels), 3).unwrap();
            // Twice, with other images: the reused buffers carry nothing over.
            for seed in [5, 7] {
                let u = net.input(&rand_matrix(3, 6, seed), Some(&labels), 0).unwrap();
                let zhat = Matrix::from_vec(3, 6, (0..3).flat_map(|b| u.row(b)[..6].to_vec()).collect()).unwrap();
                for d in [None, Some(&delta)] {
                    let (want_s, want_g) = net.input_gradient(&u, d).unwrap();
                    let (s, g) = grads.compute(&zhat, d).unwrap();
                    assert_eq!((g.rows, g.cols), (3, 6));
                    for b in 0..3 {
                        assert!(
                            (s[b] - want_s[b]).abs() <= 1e-5 * want_s[b].abs().max(1.0),
                            "{act:?} score {b}: {} against {}",
                            s[b],
                            want_s[b]
                        );
                        for (i, (a, w)) in g.row(b).iter().zip(&want_g.row(b)[..6]).enumerate() {
                            assert!((a - w).abs() <= 1e-5 * (1.0 + w.abs()), "{act:?} image {b} pixel {i}: {a} against {w}");
                        }
                    }
                }
            }
            let e = |r: Result<ImageGradient<'_>>| r.unwrap_err().to_string();
            assert!(e(net.image_gradient(Some(&labels[..2]), 3)).contains("2 labels"));
            assert!(e(net.image_gradient(Some(&[0, 2, 1]), 3)).contains("label = 2"));
            assert!(e(net.image_gradient(None, 3)).contains("label in 0..2"));
            let m = grads.compute(&Matrix::zeros(3, 5), None).unwrap_err().to_string();
            assert!(m.contains("3 x 5") && m.contains("3 x 6"), "{m}");
            let m = grads.compute(&Matrix::zeros(3, 6), Some(&Matrix::zeros(2, 3))).unwrap_err().to_string();
            assert!(m.contains("2 x 3") && m.contains("3 x 3"), "{m}");
        }
    }

    #[test]
    fn one_neuron_converges_to_the_top_eigenvector() {
        // Eq. 5: with one receiving neuron the stable solutions are ±v, v the top eigenvector of
        // E[x x^T]. Synthetic data with covariance diag(4, 1, 0.25) rotated.
        let config = ActivationConfig {
            data: 3,
            classes: 0,
            label_width: 0,
            layers: vec![1],
            activation: Nonlinearity::Abs,
            local: None,
            stats_decay: 0.995,
            init_std: 0.1,
            feedback: None,
            layerwise_epochs: None,
        };
        let mut net = ActivationNet::init(&config, 1).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let v = [0.6f32, 0.8, 0.0];
        let v2 = [-0.8f32, 0.6, 0.0];
        let sample = |rng: &mut ChaCha8Rng| -> Vec<f32> {
            let (a, b, c) = (2.0 * truncated_normal(rng, 1.0), truncated_normal(rng, 1.0), 0.5 * truncated_normal(rng, 1.0));
            (0..3).map(|i| a * v[i] + b * v2[i] + if i == 2 { c } else { 0.0 }).collect()
        };
        // The rule on raw (unnormalized) inputs: the network's trace, one update per batch.
        for _ in 0..3000 {
            let x: Vec<f32> = (0..20).flat_map(|_| sample(&mut rng)).collect();
            rule_step(&mut net, &Matrix::from_vec(20, 3, x).unwrap(), 0.005);
        }
        let w = net.weights[0].row(0);
        let cos = crate::tensor::dot(w, &v) / crate::tensor::dot(w, w).sqrt();
        assert!(cos.abs() > 0.99, "weights {w:?}, cosine with the top eigenvector {cos}");
        assert!((crate::tensor::dot(w, w) - 1.0).abs() < 0.05, "norm² {} (expected 1)", crate::tensor::dot(w, w));
    }

    /// Samples of a 6-dimensional normal with standard deviations 2, 1.5, 1, 0.3, 0.2, 0.1 along a
    /// rotated basis.
    fn anisotropic(rng: &mut ChaCha8Rng, n: usize) -> Matrix {
        let sd = [2.0f32, 1.5, 1.0, 0.3, 0.2, 0.1];
        let mut x = Matrix::zeros(n, 6);
        for b in 0..n {
            let z: Vec<f32> = sd.iter().map(|s| s * truncated_normal(rng, 1.0)).collect();
            // A fixed rotation: pairs (0,3), (1,4), (2,5) turned by 30 degrees.
            let (c, s) = (0.866f32, 0.5f32);
            let row = x.row_mut(b);
            for i in 0..3 {
                row[i] = c * z[i] - s * z[i + 3];
                row[i + 3] = s * z[i] + c * z[i + 3];
            }
        }
        x
    }

    #[test]
    fn the_squared_weights_tend_to_the_number_of_neurons_and_the_output_is_bounded_by_the_input() {
        // Property 3: ‖W‖² -> m without any normalization; Property 4: ‖W x‖² <= ‖x‖² (tends to).
        let config = ActivationConfig {
            data: 6,
            classes: 0,
            label_width: 0,
            layers: vec![3],
            activation: Nonlinearity::Abs,
            local: None,
            stats_decay: 0.995,
            init_std: 0.1,
            feedback: None,
            layerwise_epochs: None,
        };
        let mut net = ActivationNet::init(&config, 2).unwrap();
        let before = net.weight_energy(0);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..4000 {
            // The rule (eq. 19) on the raw samples as the network input (the learner would scale
            // them to unit norm), at a small rate.
            rule_step(&mut net, &anisotropic(&mut rng, 20), 0.002);
        }
        let after = net.weight_energy(0);
        assert!(before < 0.2 && (after - 3.0).abs() < 0.05, "‖W‖² {before} -> {after}, expected -> 3");
        let x = anisotropic(&mut rng, 500);
        let mut trace = Vec::new();
        net.forward_eval(&x, &mut trace).unwrap();
        let mut worst = 0.0f32;
        for b in 0..500 {
            let (xx, yy) = (crate::tensor::dot(x.row(b), x.row(b)), crate::tensor::dot(trace[0].net.row(b), trace[0].net.row(b)));
            worst = worst.max(yy / xx);
        }
        assert!(worst <= 1.02, "the largest ‖y‖² / ‖x‖² over 500 samples is {worst}");
    }

    #[test]
    fn layer_by_layer_training_changes_one_layer_per_phase() {
        let mut config = small(Nonlinearity::StdAbs, vec![5, 4], 2).config;
        config.layerwise_epochs = Some(2);
        let net = ActivationNet::init(&config, 1).unwrap();
        let mut learner = ActivationLearner::new(net).unwrap();
        let x = rand_matrix(6, 6, 8);
        let labels = [0u8, 1, 0, 1, 1, 0];
        let snapshot = |l: &ActivationLearner| (l.net.weights[0].clone(), l.net.weights[1].clone(), l.net.means[0].clone());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut step = |l: &mut ActivationLearner, epoch: usize| {
            l.step(&Batch { x: &x, labels: &labels, epoch, step: 0, lr: 0.1 }, &mut rng).unwrap();
        };
        let s0 = snapshot(&learner);
        step(&mut learner, 2);
        let s1 = snapshot(&learner);
        assert!(s1.0 != s0.0 && s1.1 == s0.1 && s1.2 == s0.2, "epoch 2: only layer 0 learns");
        step(&mut learner, 3);
        let s2 = snapshot(&learner);
        assert!(s2.0 == s1.0 && s2.1 != s1.1 && s2.2 != s1.2, "epoch 3: layer 1 and the statistics below it");
        step(&mut learner, 5);
        assert_eq!(snapshot(&learner), s2, "after 2 x 2 epochs nothing changes");
    }

    #[test]
    fn class_scores_equal_the_scores_of_each_labelled_input() {
        for act in [Nonlinearity::Abs, Nonlinearity::StdAbs] {
            let net = small(act, vec![5, 4, 3], 3);
            let x = rand_matrix(7, 6, 2);
            let s = net.class_scores(&x).unwrap();
            for c in 0..3 {
                let direct = net.scores(&net.input(&x, None, c).unwrap()).unwrap();
                for (b, d) in direct.iter().enumerate() {
                    assert!((d - s.row(b)[c]).abs() < 1e-5 * (1.0 + d), "{act:?} {b} {c}");
                }
            }
        }
    }

    #[test]
    fn labels_and_settings_out_of_range_are_refused() {
        let net = small(Nonlinearity::Abs, vec![4], 3);
        let x = rand_matrix(2, 6, 2);
        let e = net.input(&x, Some(&[0, 3]), 0).unwrap_err().to_string();
        assert!(e.contains('3') && e.contains("below 3"), "{e}");
        let mut c = net.config.clone();
        c.feedback = Some(Feedback::default());
        c.classes = 0;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("model.feedback"), "{e}");
        let mut c = net.config.clone();
        c.local = Some(LocalSpec { height: 2, width: 3, kernel: 4, units: 1 });
        assert!(c.validate().unwrap_err().to_string().contains("model.local.kernel"));
        c.local = Some(LocalSpec { height: 2, width: 3, kernel: 3, units: 1 });
        assert!(c.validate().unwrap_err().to_string().contains("at least two layers"));
    }

    #[test]
    fn a_locally_connected_layer_keeps_the_weights_outside_its_windows_at_zero() {
        let config = ActivationConfig {
            data: 16,
            classes: 2,
            label_width: 2,
            layers: vec![32, 32, 5],
            activation: Nonlinearity::StdAbs,
            local: Some(LocalSpec { height: 4, width: 4, kernel: 3, units: 2 }),
            stats_decay: 0.9,
            init_std: 0.1,
            feedback: None,
            layerwise_epochs: None,
        };
        let net = ActivationNet::init(&config, 1).unwrap();
        let mut learner = ActivationLearner::new(net).unwrap();
        let x = rand_matrix(5, 16, 3);
        let x = Matrix::from_vec(5, 16, x.data.iter().map(|v| v.abs()).collect()).unwrap();
        for step in 0..3 {
            learner.step(&Batch { x: &x, labels: &[0, 1, 0, 1, 1], epoch: 1, step, lr: 0.1 }, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        }
        let w = &learner.net.weights[0];
        // Unit 0 at location (0, 0) reads pixels (0..2, 0..2) and the 4 code values only.
        let row = w.row(0);
        for (i, v) in row.iter().enumerate().take(16) {
            let (y, x) = (i / 4, i % 4);
            assert_eq!(*v == 0.0, y > 1 || x > 1, "input {i}: {v}");
        }
        assert!(row[16..].iter().all(|v| *v != 0.0));
        // Second layer: unit at location (3, 3) of channel 1 reads both channels' (2..4, 2..4).
        let w1 = &learner.net.weights[1];
        let r = w1.row(16 + 15);
        let nz: Vec<usize> = (0..32).filter(|&i| r[i] != 0.0).collect();
        assert_eq!(nz, vec![10, 11, 14, 15, 26, 27, 30, 31]);
        // The last layer is fully connected.
        assert!(learner.net.weights[2].data.iter().all(|v| *v != 0.0));
    }
}
