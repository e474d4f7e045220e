//! The winner-take-all restricted Boltzmann machine of paper B (section 2, "Winner-Take-All RBMs"),
//! trained by contrastive divergence; with sparsity 1 it is the plain binary RBM of Table 1's
//! "Restricted Boltzmann Machines" row.
//!
//! Visible units `v` (the pixels in [0, 1], read as probabilities, as Hinton's practical guide
//! (2010) does for MNIST, section 3.3) and binary hidden units `h`, with
//!
//! ```text
//! P(h_j = 1 | v) = sigmoid(W v + c)_j         (the guide, eq. 7)
//! P(v_i = 1 | h) = sigmoid(W^T h + b)_i       (the guide, eq. 8)
//! ```
//!
//! # One CD step ([`WtaRbmLearner::step`], mini-batch `V` of `n` examples)
//!
//! ```text
//! P0 = sigmoid(V W^T + c)                      positive phase
//! S0 = lifetime_top_k(P0)                      paper B: each hidden unit keeps its k% largest
//!                                              P(h_j|v) across the mini-batch, the rest set to 0
//! H0 ~ Bernoulli(S0)                           "then sample h_i according to the sparsified P(h_i|v)"
//! V1 = sigmoid(H0 W + b)                       negative phase: visible probabilities (guide 3.2)
//! P1 = sigmoid(V1 W^T + c)                     hidden probabilities of the reconstruction
//! (CD-k: H ~ Bernoulli(P1), V1 = sigmoid(H W + b), P1 = sigmoid(V1 W^T + c), k - 1 more times)
//! ΔW = lr (S0^T V - P1^T V1) / n               <v h>_data - <v h>_recon (guide eq. 9)
//! Δc = lr mean(S0 - P1),  Δb = lr mean(V - V1)
//! ```
//!
//! **Probabilities or samples.** As the guide recommends (sections 3.2-3.4): the hidden states that
//! drive the reconstruction are binary samples (`H0`; in CD-k every hidden state but the last); the
//! visible reconstruction `V1` and the last hidden states `P1` are probabilities, never sampled; the
//! positive statistics use the hidden probabilities, not the samples. With WTA the probabilities
//! of the positive statistics are the **sparsified** ones `S0`: the paper replaces `P(h|v)` by its
//! sparsified version in the positive phase, of which the statistics are part, and it is the
//! expectation of the very `H0` that drives the reconstruction, so the update is the guide's CD
//! rule for the sparsified positive phase. A unit then learns only from the examples it won (its
//! row of `ΔW` sees the other examples only through the negative phase), which is what makes the
//! filters those of a lifetime-sparse code; the raw `P0` would let the losers pull on every filter
//! as in a plain RBM. The negative phase still pushes every unit away from every reconstruction,
//! so a unit that rarely wins drifts towards a negative mean digit (about half of the first 100
//! filters of a 1000-unit run at 30%, by eye). `mask_negative = true` also sets `P1` to 0 where
//! the unit lost, so that a unit learns nothing from an example it lost in either phase; measured
//! on MNIST it did worse (228 against 206 validation errors of the linear SVM), so it is off by
//! default, an option to study. With sparsity 1 nothing is dropped (`S0 = P0`) and the step is
//! exactly the guide's CD-1 (a test holds it against a plain reference).
//!
//! **How many winners**: `k = ceil(rate * batch)` examples per hidden unit
//! ([`crate::competition::lifetime::winners_per_unit`]), ties to the earlier example; a rate that
//! leaves no winner at the configured batch size (`rate x batch < 1`) is refused when the learner
//! is built. The loss of a step is the squared reconstruction error `||V - V1||^2`, summed over
//! pixels and averaged over the examples.
//!
//! **Not a gradient**: the learner writes `-Δ / lr` into its gradient buffer (`(P1^T V1 - S0^T V) / n`,
//! ...) and returns [`Update::Gradients`], so the loop's SGD applies momentum, the weight cost
//! (`train.weight_decay`, on `weight` only: `Δw -= lr * weight_cost * w`, as in the guide, section
//! 10) and the learning-rate schedule.
//!
//! # Defaults (Hinton's practical guide, sections 5, 9, 10, and his MNIST code)
//!
//! Learning rate 0.1, momentum 0.5 for the first 5 epochs then 0.9 (`momentum_schedule = "step"`,
//! `momentum_ramp_epochs = 5`), weight cost 2e-4, mini-batches of 100; weights drawn from
//! `N(0, 0.01^2)`, hidden biases 0, visible biases `log(p_i / (1 - p_i))` of the training pixel means
//! `p_i` (section 8; [`WtaRbm::init_visible_bias`], which the run calls on the training split, as
//! [`Model::init`] sees no data; means are clamped to `[0.001, 0.999]`, so a pixel that is always 0
//! starts at `log(0.001/0.999) = -6.9`). Paper B's sparsity is 30% (section 2).
//!
//! # Parameters (checkpoints: `kind = "wta-rbm"`)
//!
//! | name | shape | |
//! |---|---|---|
//! | `weight` | `[hidden, visible]` | PyTorch `nn.Linear` layout: row `j` is hidden unit `j`'s filter |
//! | `hidden_bias` | `[hidden]` | `c` |
//! | `visible_bias` | `[visible]` | `b` |
//!
//! # Evaluation and features
//!
//! [`Learner::evaluate`] scores the mean squared reconstruction error (per example, summed over
//! pixels) with no sparsity and no sampling: `V1 = sigmoid(P(h|V) W + b)`, deterministic, so it
//! reads lower than the training loss, whose `H0` is sampled (and sparsified). The [`Encoder`] has
//! one layer: `pre = W v + c`, `out = P(h|v)` (the features a linear SVM reads, paper B section
//! 4.1), and the winners `P(h|v) > 0.5`, i.e. `pre > 0`, the units more likely on than off. No
//! competition of [`crate::competition`] is a sigmoid; the layer reports [`Competition::Relu`],
//! whose winner rule (`z > 0`) is exactly this one, and names itself `(sigmoid)`; its outputs are
//! the sigmoid's. The model is not piecewise linear, so it has no [`crate::models::DenseStack`].
//!
//! ```
//! use compete::models::wta_rbm::{WtaRbm, WtaRbmConfig};
//! use compete::models::{Encoder, Model};
//! use compete::tensor::Matrix;
//!
//! let rbm = WtaRbm::init(&WtaRbmConfig::new(6, 4, 0.3, 1).unwrap(), 1).unwrap();
//! let mut out = Vec::new();
//! rbm.encode(&Matrix::zeros(2, 6), 1, &mut out).unwrap();
//! assert_eq!(out[0].out.data, vec![0.5; 8]); // sigmoid(0): biases start at 0 without data
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::competition::{Competition, lifetime};
use crate::error::{Error, Result};
use crate::models::Model;
use crate::models::encoder::{Atoms, Encoder, LayerInfo, LayerOutput};
use crate::models::learner::{Batch, Evaluation, Learner, StepOutput, Update};
use crate::params::{Param, ParamKind, ParamMut, Parameters};
use crate::tensor::{Matrix, Op, matmul, matmul_scaled, sigmoid_in_place};

/// The architecture and the training-time sparsity of a [`WtaRbm`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WtaRbmConfig {
    /// Visible units (784 for MNIST).
    pub visible: usize,
    /// Hidden units (paper B, Figure 3: 256).
    pub hidden: usize,
    /// The lifetime sparsity rate `k` in `(0, 1]`: the fraction of the mini-batch each hidden unit
    /// keeps in the positive phase (paper B, section 2: 30%); 1 is the plain RBM.
    pub sparsity: f32,
    /// Gibbs steps of contrastive divergence (CD-k; 1 in the guide and paper B).
    pub cd_steps: usize,
    /// Also drop the losers from the negative statistics: `P1` is set to 0 wherever the unit lost
    /// the positive phase's competition for that example, so that a unit learns nothing at all
    /// from the examples it lost. Off by default (and in older checkpoints): measured worse on
    /// MNIST (see the module docs); the negative phase is then the plain one.
    #[serde(default)]
    pub mask_negative: bool,
}

impl WtaRbmConfig {
    /// Builds and checks a configuration.
    pub fn new(visible: usize, hidden: usize, sparsity: f32, cd_steps: usize) -> Result<Self> {
        let config = WtaRbmConfig { visible, hidden, sparsity, cd_steps, mask_negative: false };
        config.validate()?;
        Ok(config)
    }

    /// Refuses zero widths, a sparsity outside `(0, 1]` and zero CD steps, naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.visible == 0 {
            return Err(Error::param("model.visible", 0, "at least 1"));
        }
        if self.hidden == 0 {
            return Err(Error::param("model.hidden", 0, "at least 1"));
        }
        if !(self.sparsity > 0.0 && self.sparsity <= 1.0) {
            return Err(Error::param("model.sparsity", self.sparsity, "a fraction in (0, 1], e.g. 0.3 for paper B's 30% (1: a plain RBM)"));
        }
        if self.cd_steps == 0 {
            return Err(Error::param("model.cd_steps", 0, "at least 1 (CD-1 in paper B and Hinton's guide)"));
        }
        Ok(())
    }

    /// A one-line description: `784-256(wta-rbm:0.3)`, or `784-256(rbm)` at sparsity 1, with
    /// `/cd3` for more than one CD step.
    pub fn describe(&self) -> String {
        let kind = if self.sparsity >= 1.0 { "rbm".to_string() } else { format!("wta-rbm:{}", self.sparsity) };
        let cd = if self.cd_steps > 1 { format!("/cd{}", self.cd_steps) } else { String::new() };
        format!("{}-{}({kind}{cd})", self.visible, self.hidden)
    }

    fn num_params(&self) -> u128 {
        let (v, h) = (self.visible as u128, self.hidden as u128);
        v * h + v + h
    }
}

/// A binary RBM whose positive phase is sparsified across the mini-batch (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct WtaRbm {
    /// The architecture.
    pub config: WtaRbmConfig,
    /// `W`, `[hidden, visible]`.
    pub weight: Matrix,
    /// `c`, one per hidden unit.
    pub hidden_bias: Vec<f32>,
    /// `b`, one per visible unit.
    pub visible_bias: Vec<f32>,
}

/// One draw from the standard normal distribution (Box-Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // 1 - u is in (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl WtaRbm {
    /// `P(h | v)` of every row of `v` (`[n, visible]`): writes `pre = v W^T + c` and
    /// `probs = sigmoid(pre)`, both `[n, hidden]`.
    pub fn hidden_probs(&self, v: &Matrix, pre: &mut Matrix, probs: &mut Matrix) -> Result<()> {
        if v.cols != self.config.visible {
            return Err(Error::shape("visible batch", format!("{} values per example", v.cols), format!("{}", self.config.visible)));
        }
        affine(pre, v, Op::T, &self.weight, &self.hidden_bias)?;
        probs.resize(pre.rows, pre.cols);
        probs.data.copy_from_slice(&pre.data);
        sigmoid_in_place(&mut probs.data);
        Ok(())
    }

    /// `P(v | h) = sigmoid(h W + b)` of every row of `h` (`[n, hidden]`), into `probs` (`[n, visible]`).
    pub fn visible_probs(&self, h: &Matrix, probs: &mut Matrix) -> Result<()> {
        affine(probs, h, Op::N, &self.weight, &self.visible_bias)?;
        sigmoid_in_place(&mut probs.data);
        Ok(())
    }

    /// Sets the visible biases to `log(p_i / (1 - p_i))` of the pixel means `p_i` of `x` (`n x
    /// visible` values), each clamped to `[0.001, 0.999]` (Hinton's guide, section 8).
    pub fn init_visible_bias(&mut self, x: &[f32]) -> Result<()> {
        let dim = self.config.visible;
        if x.is_empty() || !x.len().is_multiple_of(dim) {
            return Err(Error::shape(
                "training data",
                format!("{} values", x.len()),
                format!("a positive multiple of {dim} visible units"),
            ));
        }
        let n = (x.len() / dim) as f64;
        let mut sums = vec![0.0f64; dim];
        for row in x.chunks(dim) {
            for (s, &v) in sums.iter_mut().zip(row) {
                *s += f64::from(v);
            }
        }
        for (b, s) in self.visible_bias.iter_mut().zip(sums) {
            let p = (s / n).clamp(0.001, 0.999);
            *b = (p / (1.0 - p)).ln() as f32;
        }
        Ok(())
    }

    /// Mean squared reconstruction error of `data` per example (summed over the visible units),
    /// with no sparsity and no sampling: `V1 = sigmoid(P(h|V) W + b)`, in chunks of 500 rows.
    pub fn reconstruction_error(&self, data: &crate::data::Dataset) -> Result<f64> {
        let dim = self.config.visible;
        if data.dim != dim {
            return Err(Error::shape("data", format!("{} values per example", data.dim), format!("{dim} visible units")));
        }
        if data.is_empty() {
            return Err(Error::param("data", "0 examples", "at least one example to reconstruct"));
        }
        let (mut v, mut pre, mut ph, mut recon) = (Matrix::zeros(0, dim), Matrix::default(), Matrix::default(), Matrix::default());
        let mut total = 0.0f64;
        for rows in data.x.chunks(500 * dim) {
            v.resize(rows.len() / dim, dim);
            v.data.copy_from_slice(rows);
            self.hidden_probs(&v, &mut pre, &mut ph)?;
            self.visible_probs(&ph, &mut recon)?;
            total += squared_error(&v.data, &recon.data);
        }
        Ok(total / data.len() as f64)
    }
}

/// `out = x op(W) + bias` per row, where `op(W)` is `W^T` (`x` visible, `out` hidden) or `W`.
fn affine(out: &mut Matrix, x: &Matrix, op: Op, w: &Matrix, bias: &[f32]) -> Result<()> {
    out.resize(x.rows, bias.len());
    for r in 0..x.rows {
        out.row_mut(r).copy_from_slice(bias);
    }
    matmul(out, x, Op::N, w, op, true)
}

fn squared_error(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| f64::from(x - y) * f64::from(x - y)).sum()
}

/// Refuses a model whose parameters (with gradients and optimizer state, about four copies) would
/// not fit in memory, before anything is allocated.
fn check_memory(config: &WtaRbmConfig) -> Result<()> {
    let bytes = config.num_params().saturating_mul(4 * 4);
    crate::io::check_alloc(&format!("the parameters of {} (weights, gradients, optimizer state)", config.describe()), bytes)
}

/// `weight` `[hidden, visible]`, `hidden_bias` `[hidden]`, `visible_bias` `[visible]` (see the
/// module docs); the gradient buffer of [`WtaRbmLearner`] is a [`WtaRbm`] too, named alike.
impl Parameters for WtaRbm {
    fn params(&self) -> Vec<Param<'_>> {
        let (h, v) = (self.config.hidden, self.config.visible);
        vec![
            Param::new("weight", vec![h, v], ParamKind::Weight, &self.weight.data),
            Param::new("hidden_bias", vec![h], ParamKind::Bias, &self.hidden_bias),
            Param::new("visible_bias", vec![v], ParamKind::Bias, &self.visible_bias),
        ]
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let (h, v) = (self.config.hidden, self.config.visible);
        vec![
            ParamMut::new("weight", vec![h, v], ParamKind::Weight, &mut self.weight.data),
            ParamMut::new("hidden_bias", vec![h], ParamKind::Bias, &mut self.hidden_bias),
            ParamMut::new("visible_bias", vec![v], ParamKind::Bias, &mut self.visible_bias),
        ]
    }
}

impl Model for WtaRbm {
    const KIND: &'static str = "wta-rbm";
    type Config = WtaRbmConfig;

    fn config(&self) -> &WtaRbmConfig {
        &self.config
    }

    fn zeros(config: &WtaRbmConfig) -> Result<Self> {
        config.validate()?;
        check_memory(config)?;
        Ok(WtaRbm {
            config: config.clone(),
            weight: Matrix::zeros(config.hidden, config.visible),
            hidden_bias: vec![0.0; config.hidden],
            visible_bias: vec![0.0; config.visible],
        })
    }

    /// Weights from `N(0, 0.01^2)` (Hinton's guide, section 8), drawn from a ChaCha8 generator
    /// seeded with `seed`; both biases 0 (the visible ones are set from the data by
    /// [`WtaRbm::init_visible_bias`] when a run starts).
    fn init(config: &WtaRbmConfig, seed: u64) -> Result<Self> {
        let mut rbm = Self::zeros(config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rbm.weight.data.iter_mut().for_each(|w| *w = (0.01 * normal(&mut rng)) as f32);
        Ok(rbm)
    }

    fn describe(&self) -> String {
        self.config.describe()
    }
}

/// Trains a [`WtaRbm`] by contrastive divergence with the WTA positive phase of paper B (see the
/// module docs): the learner of [`crate::train::train`] for `[model] type = "wta-rbm"`. Scored by
/// the mean squared reconstruction error of the validation set.
#[derive(Clone, Debug)]
pub struct WtaRbmLearner {
    /// The model.
    pub rbm: WtaRbm,
    grads: WtaRbm,
    ws: Workspace,
}

/// The buffers of a CD step, reused across steps.
#[derive(Clone, Debug, Default)]
struct Workspace {
    pre: Matrix,
    /// `P0`, then sparsified in place into `S0`.
    pos: Matrix,
    sparse: Matrix,
    winners: Vec<bool>,
    states: Matrix,
    recon: Matrix,
    neg: Matrix,
}

impl WtaRbmLearner {
    /// A learner for `rbm` trained on mini-batches of `batch_size` examples; refuses a sparsity
    /// that leaves no winner at that batch size (`sparsity x batch_size < 1`), naming both.
    pub fn new(rbm: WtaRbm, batch_size: usize) -> Result<Self> {
        rbm.config.validate()?;
        lifetime::check_batch(rbm.config.sparsity, batch_size)?;
        let grads = WtaRbm::zeros(&rbm.config)?;
        Ok(WtaRbmLearner { rbm, grads, ws: Workspace::default() })
    }

    /// The gradient buffer of the last step (`-Δ / lr`, named as the model's parameters).
    pub fn grads(&self) -> &WtaRbm {
        &self.grads
    }
}

/// Binary states: `1` where a uniform draw falls below the probability, one draw per value in
/// row-major order.
fn sample(probs: &Matrix, states: &mut Matrix, rng: &mut ChaCha8Rng) {
    states.resize(probs.rows, probs.cols);
    for (s, &p) in states.data.iter_mut().zip(&probs.data) {
        *s = if rng.random::<f32>() < p { 1.0 } else { 0.0 };
    }
}

impl Learner for WtaRbmLearner {
    type Model = WtaRbm;

    fn model(&self) -> &WtaRbm {
        &self.rbm
    }

    fn model_mut(&mut self) -> &mut WtaRbm {
        &mut self.rbm
    }

    /// One CD-k step (see the module docs). The random draws: one uniform per hidden value of the
    /// batch (row-major) for `H0`, then as many for each further Gibbs step.
    fn step(&mut self, batch: &Batch<'_>, rng: &mut ChaCha8Rng) -> Result<StepOutput> {
        let (rbm, ws, g) = (&self.rbm, &mut self.ws, &mut self.grads);
        let v0 = batch.x;
        let n = v0.rows;
        if n == 0 {
            return Err(Error::param("mini-batch", "0 examples", "at least one example"));
        }
        // Positive phase: P0 = sigmoid(V W^T + c), then paper B's lifetime WTA across the batch
        // (the k largest P(h_j|v) of each unit kept, the rest 0; lifetime::forward keeps positive
        // values only, and a probability of 0 contributes nothing either way).
        rbm.hidden_probs(v0, &mut ws.pre, &mut ws.pos)?;
        let positive = if rbm.config.sparsity < 1.0 {
            ws.sparse.resize(n, rbm.config.hidden);
            ws.winners.resize(ws.pos.data.len(), false);
            lifetime::forward(&ws.pos.data, n, rbm.config.sparsity, &mut ws.sparse.data, &mut ws.winners)?;
            &ws.sparse
        } else {
            &ws.pos
        };
        // H0 ~ Bernoulli(S0), then the negative phase with probabilities (Hinton's guide 3.2-3.4).
        sample(positive, &mut ws.states, rng);
        rbm.visible_probs(&ws.states, &mut ws.recon)?;
        let loss = (squared_error(&v0.data, &ws.recon.data) / n as f64) as f32;
        rbm.hidden_probs(&ws.recon, &mut ws.pre, &mut ws.neg)?;
        for _ in 1..rbm.config.cd_steps {
            sample(&ws.neg, &mut ws.states, rng);
            rbm.visible_probs(&ws.states, &mut ws.recon)?;
            rbm.hidden_probs(&ws.recon, &mut ws.pre, &mut ws.neg)?;
        }
        if rbm.config.mask_negative && rbm.config.sparsity < 1.0 {
            for (p, &w) in ws.neg.data.iter_mut().zip(&ws.winners) {
                if !w {
                    *p = 0.0;
                }
            }
        }
        // -ΔW / lr = (<h v>_recon - <h v>_data) / n (the guide, eq. 9), in W's [hidden, visible]
        // layout: P1^T V1 - S0^T V, the scale 1/n and the sign inside the two products.
        let inv = 1.0 / n as f32;
        matmul_scaled(&mut g.weight, &ws.neg, Op::T, &ws.recon, Op::N, false, inv)?;
        matmul_scaled(&mut g.weight, positive, Op::T, v0, Op::N, true, -inv)?;
        column_mean_difference(&ws.neg, positive, &mut g.hidden_bias);
        column_mean_difference(&ws.recon, v0, &mut g.visible_bias);
        Ok(StepOutput { loss, update: Update::Gradients })
    }

    fn model_and_grads(&mut self) -> (&mut WtaRbm, &dyn Parameters) {
        (&mut self.rbm, &self.grads)
    }

    fn evaluate(&self, data: &crate::data::Dataset) -> Result<Evaluation> {
        let score = self.rbm.reconstruction_error(data)?;
        Ok(Evaluation { score, errors: None, metrics: Vec::new() })
    }

    fn score_name(&self) -> &'static str {
        "reconstruction error"
    }

    fn encoder(&self) -> Option<&dyn Encoder> {
        Some(&self.rbm)
    }
}

/// `out[j] = mean over rows of (a[r, j] - b[r, j])`.
fn column_mean_difference(a: &Matrix, b: &Matrix, out: &mut [f32]) {
    let mut sums = vec![0.0f64; out.len()];
    for r in 0..a.rows {
        for ((s, &x), &y) in sums.iter_mut().zip(a.row(r)).zip(b.row(r)) {
            *s += f64::from(x) - f64::from(y);
        }
    }
    for (o, s) in out.iter_mut().zip(sums) {
        *o = (s / a.rows as f64) as f32;
    }
}

impl Encoder for WtaRbm {
    fn input_width(&self) -> usize {
        self.config.visible
    }

    /// One layer: `pre = W v + c`, `out = P(h|v)`, winners `pre > 0` (reported as
    /// [`Competition::Relu`], whose winner rule this is; see the module docs).
    fn layers(&self) -> Vec<LayerInfo> {
        let h = self.config.hidden;
        vec![LayerInfo { name: format!("{h}(sigmoid)"), pre_width: h, units: h, competition: Competition::Relu, maps: None }]
    }

    fn encode(&self, x: &Matrix, upto: usize, out: &mut Vec<LayerOutput>) -> Result<()> {
        if upto > 1 {
            return Err(Error::param("layers", upto, "at most the 1 hidden layer of an RBM"));
        }
        if upto == 0 {
            return Ok(());
        }
        if out.is_empty() {
            out.push(LayerOutput::default());
        }
        let layer = &mut out[0];
        self.hidden_probs(x, &mut layer.pre, &mut layer.out)?;
        layer.winners.clear();
        layer.winners.extend(layer.pre.data.iter().map(|&z| z > 0.0));
        Ok(())
    }

    fn describe(&self) -> String {
        self.config.describe()
    }

    /// The hidden units' filters (rows of the weight) as images (paper B, Figure 3).
    fn dictionary(&self, image: Option<(usize, usize)>) -> Option<Atoms> {
        let (h, w) = image?;
        if h * w != self.config.visible {
            return None;
        }
        let tiles = self.weight.data.chunks(self.config.visible).map(<[f32]>::to_vec).collect();
        Some(Atoms { shape: (h, w), tiles, what: "RBM filters".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rbm(visible: usize, hidden: usize, sparsity: f32, seed: u64) -> WtaRbm {
        let mut m = WtaRbm::init(&WtaRbmConfig::new(visible, hidden, sparsity, 1).unwrap(), seed).unwrap();
        // Larger weights than the guide's 0.01, and biases, so that the probabilities spread out.
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
        m.weight.data.iter_mut().for_each(|w| *w = rng.random_range(-1.0..1.0));
        m.hidden_bias.iter_mut().for_each(|b| *b = rng.random_range(-0.5..0.5));
        m.visible_bias.iter_mut().for_each(|b| *b = rng.random_range(-0.5..0.5));
        m
    }

    fn batch(rows: usize, cols: usize, seed: u64) -> Matrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Matrix { rows, cols, data: (0..rows * cols).map(|_| rng.random_range(0.0..1.0)).collect() }
    }

    fn sig(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// The plain CD-1 of Hinton's guide, written out with loops in f64 (`W` is `[hidden, visible]`):
    /// returns `-Δ/lr` for `(W, c, b)` and the loss. The uniforms are drawn as the learner draws
    /// them: one per hidden value, row-major, as f32.
    fn reference_cd1(m: &WtaRbm, v: &Matrix, rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>, Vec<f64>, f64) {
        let (nv, nh, n) = (m.config.visible, m.config.hidden, v.rows);
        let w = |j: usize, i: usize| f64::from(m.weight.data[j * nv + i]);
        let up = |x: &[f64]| -> Vec<f64> {
            (0..nh).map(|j| sig(f64::from(m.hidden_bias[j]) + (0..nv).map(|i| w(j, i) * x[i]).sum::<f64>())).collect()
        };
        let (mut gw, mut gc, mut gb, mut loss) = (vec![0.0; nh * nv], vec![0.0; nh], vec![0.0; nv], 0.0);
        let mut hs = Vec::new();
        let rows: Vec<Vec<f64>> = (0..n).map(|r| v.row(r).iter().map(|&x| f64::from(x)).collect()).collect();
        let ph0: Vec<Vec<f64>> = rows.iter().map(|x| up(x)).collect();
        for p in &ph0 {
            hs.push(p.iter().map(|&p| if f64::from(rng.random::<f32>()) < p { 1.0 } else { 0.0 }).collect::<Vec<f64>>());
        }
        for r in 0..n {
            let v1: Vec<f64> =
                (0..nv).map(|i| sig(f64::from(m.visible_bias[i]) + (0..nh).map(|j| hs[r][j] * w(j, i)).sum::<f64>())).collect();
            let ph1 = up(&v1);
            for j in 0..nh {
                for i in 0..nv {
                    gw[j * nv + i] += (ph1[j] * v1[i] - ph0[r][j] * rows[r][i]) / n as f64;
                }
                gc[j] += (ph1[j] - ph0[r][j]) / n as f64;
            }
            for i in 0..nv {
                gb[i] += (v1[i] - rows[r][i]) / n as f64;
                loss += (rows[r][i] - v1[i]).powi(2) / n as f64;
            }
        }
        (gw, gc, gb, loss)
    }

    fn close(a: &[f32], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
            assert!((f64::from(x) - y).abs() < 1e-6, "{what}[{i}]: learner {x}, reference {y}");
        }
    }

    #[test]
    fn sparsity_one_is_the_plain_cd1_step() {
        let m = rbm(7, 5, 1.0, 3);
        let v = batch(6, 7, 4);
        let mut learner = WtaRbmLearner::new(m.clone(), 6).unwrap();
        let b = Batch { x: &v, labels: &[], epoch: 1, step: 0, lr: 0.1 };
        let out = learner.step(&b, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
        assert_eq!(out.update, Update::Gradients);
        let (gw, gc, gb, loss) = reference_cd1(&m, &v, &mut ChaCha8Rng::seed_from_u64(9));
        close(&learner.grads.weight.data, &gw, "weight");
        close(&learner.grads.hidden_bias, &gc, "hidden_bias");
        close(&learner.grads.visible_bias, &gb, "visible_bias");
        assert!((f64::from(out.loss) - loss).abs() < 1e-5, "loss {} vs {loss}", out.loss);
        // The step does not change the model: the optimizer applies the update.
        assert_eq!(learner.rbm, m);
    }

    #[test]
    fn the_positive_phase_keeps_the_k_largest_probabilities_of_each_unit() {
        // Visible 1, hidden 2, weights (1, -1), biases 0: P(h_0|v) rises with v, P(h_1|v) falls.
        let mut m = WtaRbm::zeros(&WtaRbmConfig::new(1, 2, 0.5, 1).unwrap()).unwrap();
        m.weight.data = vec![1.0, -1.0];
        // Examples 1 and 2 tie: unit 0 keeps example 3 (the largest) and 1 (the earlier of the
        // tie), unit 1 keeps example 0 (the largest) and 1 (the earlier of the tie with 2).
        let v = Matrix { rows: 4, cols: 1, data: vec![0.1, 0.5, 0.5, 0.9] };
        let mut learner = WtaRbmLearner::new(m, 4).unwrap();
        learner.step(&Batch { x: &v, labels: &[], epoch: 1, step: 0, lr: 0.1 }, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let s = &learner.ws.sparse.data;
        let kept: Vec<bool> = s.iter().map(|&p| p > 0.0).collect();
        assert_eq!(kept, vec![false, true, true, true, false, false, true, false]);
        for (i, (&got, &p)) in s.iter().zip(&learner.ws.pos.data).enumerate() {
            assert_eq!(got, if kept[i] { p } else { 0.0 }, "entry {i}");
        }
        // Losers are never sampled on.
        for (i, &h) in learner.ws.states.data.iter().enumerate() {
            assert!(kept[i] || h <= 0.0, "state {i}");
        }
    }

    #[test]
    fn bad_settings_are_refused_with_their_values() {
        for s in [0.0, -0.1, 1.5, f32::NAN] {
            let err = WtaRbmConfig::new(4, 3, s, 1).unwrap_err().to_string();
            assert!(err.contains("model.sparsity") && err.contains(&s.to_string()), "{err}");
        }
        assert!(WtaRbmConfig::new(4, 3, 0.3, 0).unwrap_err().to_string().contains("model.cd_steps"));
        assert!(WtaRbmConfig::new(4, 0, 0.3, 1).unwrap_err().to_string().contains("model.hidden"));
        let m = WtaRbm::init(&WtaRbmConfig::new(4, 3, 0.05, 1).unwrap(), 1).unwrap();
        let err = WtaRbmLearner::new(m.clone(), 10).unwrap_err().to_string();
        assert!(err.contains("0.05") && err.contains("train.batch_size = 10"), "{err}");
        assert!(WtaRbmLearner::new(m.clone(), 20).is_ok(), "0.05 x 20 = 1 keeps one example");
        let err = m.reconstruction_error(&crate::data::Dataset::from_parts(vec![0.0; 5], vec![0], 5, None, 1).unwrap()).unwrap_err();
        assert!(err.to_string().contains("5 values per example"), "{err}");
    }

    #[test]
    fn visible_biases_start_at_the_log_odds_of_the_pixel_means() {
        let mut m = WtaRbm::zeros(&WtaRbmConfig::new(3, 2, 1.0, 1).unwrap()).unwrap();
        m.init_visible_bias(&[0.5, 0.0, 0.2, 0.5, 0.0, 0.6]).unwrap();
        assert!(m.visible_bias[0].abs() < 1e-7);
        assert!((m.visible_bias[1] - (0.001f32 / 0.999).ln()).abs() < 1e-5);
        assert!((m.visible_bias[2] - (0.4f32 / 0.6).ln()).abs() < 1e-6);
        assert!(m.init_visible_bias(&[0.5; 4]).is_err());
    }

    #[test]
    fn the_encoder_gives_probabilities_and_winners_above_one_half() {
        let m = rbm(5, 4, 0.3, 2);
        let x = batch(3, 5, 8);
        let mut out = Vec::new();
        m.encode(&x, 1, &mut out).unwrap();
        assert_eq!(out[0].out.data.len(), 12);
        for ((&z, &p), &w) in out[0].pre.data.iter().zip(&out[0].out.data).zip(&out[0].winners) {
            assert_eq!(p, 1.0 / (1.0 + crate::tensor::exp(-z)));
            assert_eq!(w, p > 0.5);
        }
        assert!(m.encode(&x, 2, &mut out).is_err());
        assert_eq!(m.layers()[0].name, "4(sigmoid)");
        assert_eq!(Model::describe(&m), "5-4(wta-rbm:0.3)");
    }

    #[test]
    fn a_masked_negative_phase_learns_nothing_from_the_examples_a_unit_lost() {
        let mut r = rbm(6, 4, 0.25, 9);
        r.config.mask_negative = true;
        let mut learner = WtaRbmLearner::new(r, 8).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x = Matrix { rows: 8, cols: 6, data: (0..48).map(|_| rng.random::<f32>()).collect() };
        learner.step(&Batch { x: &x, labels: &[], epoch: 1, step: 0, lr: 0.1 }, &mut rng).unwrap();
        let ws = &learner.ws;
        assert_eq!(ws.winners.iter().filter(|&&w| w).count(), 4 * 2, "2 of 8 examples per unit");
        for (i, (&p, &w)) in ws.neg.data.iter().zip(&ws.winners).enumerate() {
            assert!(w || p == 0.0, "loser {i} kept a negative statistic {p}");
            assert!(!w || p > 0.0);
        }
        // The hidden bias moves by the winners' difference only: sum over winners of (S0 - P1) / n.
        for j in 0..4 {
            let want: f64 = (0..8)
                .filter(|&b| ws.winners[b * 4 + j])
                .map(|b| f64::from(ws.neg.data[b * 4 + j] - ws.sparse.data[b * 4 + j]))
                .sum::<f64>()
                / 8.0;
            assert!((f64::from(learner.grads.hidden_bias[j]) - want).abs() < 1e-6);
        }
    }
}
