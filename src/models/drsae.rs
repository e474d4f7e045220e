//! The discriminative recurrent sparse auto-encoder (DrSAE) of paper D (Rolfe & LeCun 2013).
//!
//! A recurrent encoder of rectified linear units, unrolled for `T` iterations, with the input
//! projecting to every iteration, and two linear decoders: one reconstructs the input, one
//! classifies (paper D, section 2, Figure 1):
//!
//! ```text
//! z^0 = 0,   z^{t+1} = max(0, E x + S z^t - b)        t = 0 .. T-1          (eq. 1)
//! L^U = 1/2 ||x - D z^T||^2 + lambda ||z^T||_1                                (eq. 2)
//! L^S = -logistic_y(C z^T / ||z^T||)  (the multinomial logistic loss)         (eq. 3)
//! ```
//!
//! `E` is the `n x m` encoding matrix, `S` the `n x n` explaining-away matrix, `b` the thresholds,
//! `D` the `m x n` decoding matrix (column `D_i` is unit `i`'s decoder) and `C` the `l x n`
//! classification matrix. `z^1 = max(0, E x - b)`, so `T` iterations make `T - 1` nontrivial passes
//! through `S` (section 2: "T = 11 recurrent iterations (ten nontrivial passes through the
//! explaining-away matrix S)").
//!
//! **Training** (section 2) is two phases of the one training loop ([`crate::train`]), which
//! `kind = "phases"` experiment files chain ([`crate::experiments::phases`]):
//! pretraining on `L^U` ([`DrsaeLoss::Unsupervised`]), then discriminative fine-tuning from that
//! checkpoint on `L^U + L^S` ([`DrsaeLoss::Supervised`]). The losses are averaged over the
//! mini-batch. After every step the columns of `D` are projected to norm at most 1, the rows of `E`
//! to at most `1.25 / T`, the rows of `C` to at most 5; each matrix's learning rate is divided by the
//! number of times it repeats in the unrolled network (`E` and `b`: `T`; `S`: `T - 1`), and `C`'s by
//! a further 5 ([`DrsaeLearner`]'s rules, applied by the loop's optimizer).
//!
//! **Exact backpropagation through time**: [`Drsae::backward`] differentiates through all `T`
//! iterations, and `L^S` through the normalisation `z^T / ||z^T||`. (Two public re-implementations
//! get this wrong: one truncates the gradient to the last iteration, one also takes the square root
//! of the reconstruction error.) The tests hold it to finite differences and to burn's autodiff of
//! the same unrolled network. The weight gradients of the `T` iterations are summed in single
//! products: `dE = (sum_t delta^t)^T X` (the input is the same at every iteration) and `dS` is one
//! product over the stacked iterations.
//!
//! **What the paper leaves open**, chosen here (also in RESULTS.md):
//! - `lambda` (not given; the public ports used 0.005 to 0.01): default 0.005, see [`DrsaeConfig::lambda`];
//! - the initialisation (not given): by default the ISTA point of a random dictionary (eq. 4;
//!   [`DrsaeInit::Ista`]), so that the untrained encoder is already a sparse coder;
//! - learning rates and batch size (not given): the experiment files' `[train]` sections.
//!
//! # Parameters
//!
//! | name | shape | what |
//! |---|---|---|
//! | `encoder.weight` | `[n, m]` | `E` (an `nn.Linear(m, n).weight`) |
//! | `explain.weight` | `[n, n]` | `S` (`z S^T` per example row) |
//! | `threshold` | `[n]` | `b` (subtracted) |
//! | `decoder.weight` | `[m, n]` | `D` (an `nn.Linear(n, m).weight`) |
//! | `classifier.weight` | `[l, n]` | `C` (an `nn.Linear(n, l, bias=False).weight`) |

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::competition::Competition;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::memory::check_alloc;
use crate::models::Model;
use crate::models::encoder::{Atoms, DenseStack, Encoder, LayerInfo, LayerOutput};
use crate::models::learner::{Batch, Evaluation, Learner, StepOutput, Update};
use crate::params::{Param, ParamKind, ParamMut, ParamRule, Parameters};
use crate::tensor::{Matrix, Op, View, gemm_view, matmul};

/// How the parameters start (the paper does not say).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrsaeInit {
    /// The non-negative ISTA point of a random dictionary (eq. 4): `D` Gaussian with unit columns,
    /// `E = alpha D^T`, `S = I - alpha D^T D`, `b = alpha lambda`, with `alpha` the encoder's row
    /// bound (`1.25 / T`), lowered to `1 / max eig(D^T D)` when that is smaller (ISTA's step limit).
    #[default]
    Ista,
    /// `D` Gaussian with unit columns, `E` Gaussian with rows at the encoder's bound, `S = 0`,
    /// `b = alpha lambda` as for ISTA: an untrained one-layer ReLU encoder.
    Random,
}

/// Which loss a training phase minimises (section 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrsaeLoss {
    /// Pretraining: `L^U` (eq. 2).
    #[default]
    Unsupervised,
    /// Discriminative fine-tuning: `L^U + L^S` (eq. 2 + eq. 3).
    Supervised,
}

/// The architecture of a DrSAE (see the module docs); `serde` defaults are the paper's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrsaeConfig {
    /// Input values per example `m` (784 for MNIST).
    pub input: usize,
    /// Hidden units `n` (section 2: 400; Table 1 also 200).
    pub hidden: usize,
    /// Iterations `T` of eq. 1 (section 2: 11; also 2).
    pub steps: usize,
    /// Classes `l` of the classification matrix (0: no classifier, pretraining only).
    pub classes: usize,
    /// The sparsity weight `lambda` of eq. 2 (not given by the paper; the public ports used 0.005
    /// to 0.01; 0.005 here, chosen as said in RESULTS.md).
    pub lambda: f32,
    /// Bound on the norm of every row of `E` (section 2: `1.25 / T`; unset: that value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder_bound: Option<f32>,
    /// Bound on the norm of every column of `D` (section 2: 1).
    pub decoder_bound: f32,
    /// Bound on the norm of every row of `C` (section 2: 5).
    pub classifier_bound: f32,
    /// The further division of `C`'s learning rate (section 2: 5).
    pub classifier_lr_divisor: f32,
    /// The initialisation.
    #[serde(default)]
    pub init: DrsaeInit,
}

impl DrsaeConfig {
    /// The paper's network for `input` values and `classes` classes: `hidden` units, `steps`
    /// iterations, the bounds of section 2.
    pub fn new(input: usize, hidden: usize, steps: usize, classes: usize) -> Result<Self> {
        let c = DrsaeConfig {
            input,
            hidden,
            steps,
            classes,
            lambda: 0.005,
            encoder_bound: None,
            decoder_bound: 1.0,
            classifier_bound: 5.0,
            classifier_lr_divisor: 5.0,
            init: DrsaeInit::Ista,
        };
        c.validate()?;
        Ok(c)
    }

    /// The bound on `E`'s rows: the set one, or `1.25 / T`.
    pub fn encoder_bound(&self) -> f32 {
        self.encoder_bound.unwrap_or(1.25 / self.steps.max(1) as f32)
    }

    /// Checks every size and bound; the error names the field, the value and what is allowed.
    pub fn validate(&self) -> Result<()> {
        if self.input == 0 {
            return Err(Error::param("drsae input", 0, "at least 1 value per example"));
        }
        if self.hidden == 0 {
            return Err(Error::param("model.hidden", 0, "at least 1 hidden unit (paper D: 400)"));
        }
        if self.steps == 0 {
            return Err(Error::param("model.steps", 0, "at least 1 iteration T of eq. 1 (paper D: 11)"));
        }
        if self.steps > 10_000 {
            return Err(Error::param("model.steps", self.steps, "at most 10000 iterations"));
        }
        let positive = |name: &str, v: f32| {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(Error::param(name, v, "a positive, finite number")) }
        };
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::param("model.lambda", self.lambda, "a number >= 0 (the public ports used 0.005 to 0.01)"));
        }
        if let Some(b) = self.encoder_bound {
            positive("model.encoder_bound", b)?;
        }
        positive("model.decoder_bound", self.decoder_bound)?;
        positive("model.classifier_bound", self.classifier_bound)?;
        positive("model.classifier_lr_divisor", self.classifier_lr_divisor)?;
        Ok(())
    }

    /// `784-400^11-10 (drsae, lambda 0.005)`: the paper's notation for the unrolled encoder.
    pub fn describe(&self) -> String {
        let classes = if self.classes > 0 { format!("-{}", self.classes) } else { String::new() };
        format!("{}-{}^{}{classes} (drsae, lambda {})", self.input, self.hidden, self.steps, self.lambda)
    }

    fn parameter_count(&self) -> u128 {
        let (m, n, l) = (self.input as u128, self.hidden as u128, self.classes as u128);
        2 * n * m + n * n + n + l * n
    }
}

/// A DrSAE (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Drsae {
    /// The architecture.
    pub config: DrsaeConfig,
    /// `E`, `[n, m]`.
    pub encoder: Matrix,
    /// `S`, `[n, n]`.
    pub explain: Matrix,
    /// `b`, `[n]`.
    pub threshold: Vec<f32>,
    /// `D`, `[m, n]`: column `i` is unit `i`'s decoder.
    pub decoder: Matrix,
    /// `C`, `[l, n]`.
    pub classifier: Matrix,
}

/// The buffers of one forward and backward pass, reused across steps.
#[derive(Clone, Debug, Default)]
pub struct DrsaeWorkspace {
    /// `E x - b`, `[B, n]`.
    drive: Matrix,
    /// Pre-activations of every iteration, `T` blocks of `[B, n]`, iteration 1 first.
    pre: Vec<f32>,
    /// `z^1 .. z^T`, `T` blocks of `[B, n]`.
    z: Vec<f32>,
    /// `D z^T`, `[B, m]`.
    pub recon: Matrix,
    /// `||z^T||` of every example.
    norms: Vec<f32>,
    /// `z^T / ||z^T||`, `[B, n]`.
    unit: Matrix,
    /// `C z^T / ||z^T||`, `[B, l]`.
    logits: Matrix,
    /// Gradients with respect to the pre-activations of every iteration, like `pre`.
    delta: Vec<f32>,
    grad_recon: Matrix,
    grad_logits: Matrix,
    grad_z: Matrix,
    grad_unit: Matrix,
    delta_sum: Matrix,
}

impl DrsaeWorkspace {
    /// `z^t` (`t` from 1) of the last forward pass, `[B, n]` row-major.
    pub fn iterate(&self, t: usize) -> &[f32] {
        let block = self.drive.cols * self.drive.rows;
        &self.z[(t - 1) * block..t * block]
    }
}

/// The losses of one batch (means over its examples).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DrsaeLosses {
    /// `1/2 ||x - D z^T||^2`.
    pub reconstruction: f64,
    /// `lambda ||z^T||_1`.
    pub sparsity: f64,
    /// `L^S` (0 when not computed).
    pub classification: f64,
}

impl DrsaeLosses {
    /// `L^U`, plus `L^S` when `loss` is supervised.
    pub fn total(&self, loss: DrsaeLoss) -> f64 {
        self.reconstruction + self.sparsity + if loss == DrsaeLoss::Supervised { self.classification } else { 0.0 }
    }
}

/// `z / ||z||` is taken as 0 below this norm (an all-zero code; its gradient is then 0).
const NORM_FLOOR: f32 = 1e-12;

impl Drsae {
    /// A DrSAE of zeros for `config` (checked; memory refused before allocating).
    pub fn zeros_of(config: &DrsaeConfig) -> Result<Self> {
        config.validate()?;
        check_alloc(
            &format!("the parameters of the DrSAE {} (weights, gradients, optimizer state)", config.describe()),
            config.parameter_count().saturating_mul(16),
        )?;
        let (m, n, l) = (config.input, config.hidden, config.classes);
        Ok(Drsae {
            config: config.clone(),
            encoder: Matrix::zeros(n, m),
            explain: Matrix::zeros(n, n),
            threshold: vec![0.0; n],
            decoder: Matrix::zeros(m, n),
            classifier: Matrix::zeros(l, n),
        })
    }

    /// A freshly initialised DrSAE (see [`DrsaeInit`]); `C` is Gaussian with deviation 0.01.
    pub fn init_seeded(config: &DrsaeConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (m, n) = (config.input, config.hidden);
        let mut decoder = Matrix::from_vec(m, n, (0..m * n).map(|_| normal(&mut rng)).collect())?;
        scale_columns(&mut decoder, config.decoder_bound);
        let bound = config.encoder_bound();
        let mut net = match config.init {
            DrsaeInit::Ista => {
                let alpha = bound.min(1.0 / max_eigenvalue(&decoder).max(f32::MIN_POSITIVE));
                Drsae::ista(config, decoder, alpha)?
            }
            DrsaeInit::Random => {
                let mut net = Drsae::zeros_of(config)?;
                net.encoder.data.iter_mut().for_each(|v| *v = normal(&mut rng));
                scale_rows(&mut net.encoder, bound);
                net.decoder = decoder;
                net.threshold.fill(bound * config.lambda);
                net
            }
        };
        net.classifier.data.iter_mut().for_each(|v| *v = 0.01 * normal(&mut rng));
        Ok(net)
    }

    /// The ISTA network of the dictionary `decoder` (`[m, n]`) with step `alpha` (eq. 4):
    /// `E = alpha D^T`, `S = I - alpha D^T D`, `b_i = alpha lambda`; `C` is 0. With many
    /// iterations its `z^T` approaches the non-negative sparse code minimising `L^U` (eq. 2), when
    /// `alpha <= 1 / max eig(D^T D)`.
    pub fn ista(config: &DrsaeConfig, decoder: Matrix, alpha: f32) -> Result<Self> {
        let mut net = Drsae::zeros_of(config)?;
        if (decoder.rows, decoder.cols) != (config.input, config.hidden) {
            return Err(Error::shape(
                "ISTA dictionary",
                format!("{} x {}", decoder.rows, decoder.cols),
                format!("{} x {} (input x hidden)", config.input, config.hidden),
            ));
        }
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(Error::param("ISTA step alpha", alpha, "a positive number"));
        }
        net.encoder = decoder.transpose();
        net.encoder.data.iter_mut().for_each(|v| *v *= alpha);
        matmul(&mut net.explain, &decoder, Op::T, &decoder, Op::N, false)?;
        let n = config.hidden;
        for (i, v) in net.explain.data.iter_mut().enumerate() {
            *v = if i / n == i % n { 1.0 } else { 0.0 } - alpha * *v;
        }
        net.threshold.fill(alpha * config.lambda);
        net.decoder = decoder;
        Ok(net)
    }

    fn check_input(&self, x: &Matrix) -> Result<()> {
        if x.cols != self.config.input || x.data.len() != x.rows * x.cols {
            return Err(Error::shape(
                format!("input of the DrSAE {}", self.config.describe()),
                format!("{} x {} ({} values)", x.rows, x.cols, x.data.len()),
                format!("{} values per example", self.config.input),
            ));
        }
        Ok(())
    }

    /// The encoder of eq. 1 on the batch `x` (`[B, m]`): fills the workspace's iterates `z^1..z^T`.
    pub fn encode_iterates(&self, x: &Matrix, ws: &mut DrsaeWorkspace) -> Result<()> {
        self.run_iterations(x, self.config.steps, ws)
    }

    /// The first `steps` iterations of eq. 1.
    fn run_iterations(&self, x: &Matrix, steps: usize, ws: &mut DrsaeWorkspace) -> Result<()> {
        self.check_input(x)?;
        let (b, n) = (x.rows, self.config.hidden);
        check_alloc("the DrSAE's unrolled iterates", (steps as u128) * (b as u128) * (n as u128) * 12)?;
        ws.drive.resize(b, n);
        matmul(&mut ws.drive, x, Op::N, &self.encoder, Op::T, false)?;
        for r in 0..b {
            ws.drive.row_mut(r).iter_mut().zip(&self.threshold).for_each(|(v, t)| *v -= t);
        }
        let block = b * n;
        ws.pre.resize(steps * block, 0.0);
        ws.z.resize(steps * block, 0.0);
        // The recurrence is independent per example: each thread runs all the iterations of its
        // own rows (no synchronisation between iterations), its products on that thread alone.
        let chunks = row_chunks(b);
        let pres = split_rows(&mut ws.pre[..steps * block], block, &chunks, n);
        let zs = split_rows(&mut ws.z[..steps * block], block, &chunks, n);
        let (drive, s) = (&ws.drive, self.explain.view());
        chunks.par_iter().zip(pres).zip(zs).try_for_each(|((&(r0, r1), mut pres), mut zs)| {
            crate::tensor::sequential(|| -> Result<()> {
                let rows = r1 - r0;
                for t in 0..steps {
                    pres[t].copy_from_slice(&drive.data[r0 * n..r1 * n]);
                    let (done, rest) = zs.split_at_mut(t);
                    if t > 0 {
                        let prev = View { rows, cols: n, data: &*done[t - 1] };
                        gemm_view(pres[t], (rows, n), prev, Op::N, s, Op::T, true, 1.0)?;
                    }
                    rest[0].iter_mut().zip(pres[t].iter()).for_each(|(z, &a)| *z = a.max(0.0));
                }
                Ok(())
            })
        })
    }

    /// The training forward pass: the iterates, the reconstruction `D z^T`, and (when the model has
    /// classes and `classify`) the logits of `z^T / ||z^T||`.
    pub fn forward(&self, x: &Matrix, classify: bool, ws: &mut DrsaeWorkspace) -> Result<()> {
        self.encode_iterates(x, ws)?;
        let (b, n, m) = (x.rows, self.config.hidden, self.config.input);
        ws.recon.resize(b, m);
        let block = b * n;
        let last = View { rows: b, cols: n, data: &ws.z[(self.config.steps - 1) * block..] };
        gemm_view(&mut ws.recon.data, (b, m), last, Op::N, self.decoder.view(), Op::T, false, 1.0)?;
        if classify && self.config.classes > 0 {
            let l = self.config.classes;
            ws.unit.resize(b, n);
            ws.norms.resize(b, 0.0);
            let block = (self.config.steps - 1) * b * n;
            for r in 0..b {
                let z = &ws.z[block + r * n..block + (r + 1) * n];
                let norm = z.iter().map(|v| v * v).sum::<f32>().sqrt();
                ws.norms[r] = norm;
                let inv = if norm > NORM_FLOOR { 1.0 / norm } else { 0.0 };
                ws.unit.row_mut(r).iter_mut().zip(z).for_each(|(u, &v)| *u = v * inv);
            }
            ws.logits.resize(b, l);
            matmul(&mut ws.logits, &ws.unit, Op::N, &self.classifier, Op::T, false)?;
        }
        Ok(())
    }

    /// The losses of the last [`Drsae::forward`] of `x` with `labels` (means over the batch).
    pub fn losses(&self, x: &Matrix, labels: &[u8], ws: &DrsaeWorkspace) -> DrsaeLosses {
        let b = x.rows.max(1) as f64;
        let rec: f64 = ws.recon.data.iter().zip(&x.data).map(|(&r, &v)| f64::from(r - v).powi(2)).sum::<f64>() * 0.5 / b;
        let l1: f64 = ws.iterate(self.config.steps).iter().map(|&v| f64::from(v)).sum::<f64>() * f64::from(self.config.lambda) / b;
        let mut ce = 0.0;
        if ws.logits.rows == x.rows && ws.logits.cols == self.config.classes && self.config.classes > 0 {
            for (r, &y) in labels.iter().enumerate().take(x.rows) {
                let row = ws.logits.row(r);
                ce += log_sum_exp(row) - f64::from(row[usize::from(y)]);
            }
            ce /= b;
        }
        DrsaeLosses { reconstruction: rec, sparsity: l1, classification: ce }
    }

    /// Exact backpropagation through time after [`Drsae::forward`] of `x` (with the classifier when
    /// `loss` is supervised): overwrites `grads` (same configuration) with the gradient of the
    /// batch's mean loss and returns the losses.
    pub fn backward(&self, x: &Matrix, labels: &[u8], loss: DrsaeLoss, ws: &mut DrsaeWorkspace, grads: &mut Drsae) -> Result<DrsaeLosses> {
        if grads.config != self.config {
            return Err(Error::shape("DrSAE gradient buffer", grads.config.describe(), self.config.describe()));
        }
        let supervised = loss == DrsaeLoss::Supervised;
        if supervised {
            self.check_labels(labels, x.rows)?;
        }
        let losses = self.losses(x, labels, ws);
        let (b, n, m, steps) = (x.rows, self.config.hidden, self.config.input, self.config.steps);
        let inv_b = 1.0 / b.max(1) as f32;
        let block = b * n;
        // dL/d(D z^T) = (D z^T - x) / B.
        ws.grad_recon.resize(b, m);
        ws.grad_recon.data.iter_mut().zip(ws.recon.data.iter().zip(&x.data)).for_each(|(g, (&r, &v))| *g = (r - v) * inv_b);
        let last = View { rows: b, cols: n, data: &ws.z[(steps - 1) * block..steps * block] };
        // dD = g^T z^T.
        gemm_view(&mut grads.decoder.data, (m, n), ws.grad_recon.view(), Op::T, last, Op::N, false, 1.0)?;
        // dL/dz^T: from the reconstruction, the l1 term (z >= 0, so its gradient is lambda where
        // z > 0; the ReLU's mask below removes the rest) and the classifier.
        ws.grad_z.resize(b, n);
        matmul(&mut ws.grad_z, &ws.grad_recon, Op::N, &self.decoder, Op::N, false)?;
        let l1 = self.config.lambda * inv_b;
        ws.grad_z.data.iter_mut().for_each(|g| *g += l1);
        grads.classifier.data.fill(0.0);
        if supervised && self.config.classes > 0 {
            let l = self.config.classes;
            ws.grad_logits.resize(b, l);
            for (r, &y) in labels.iter().enumerate().take(b) {
                let row = ws.logits.row(r);
                let lse = log_sum_exp(row);
                let g = ws.grad_logits.row_mut(r);
                for (k, gk) in g.iter_mut().enumerate() {
                    *gk = ((f64::from(row[k]) - lse).exp() as f32 - if k == usize::from(y) { 1.0 } else { 0.0 }) * inv_b;
                }
            }
            matmul(&mut grads.classifier, &ws.grad_logits, Op::T, &ws.unit, Op::N, false)?;
            ws.grad_unit.resize(b, n);
            matmul(&mut ws.grad_unit, &ws.grad_logits, Op::N, &self.classifier, Op::N, false)?;
            // Through u = z / ||z||: dz = (du - u (u . du)) / ||z||.
            for r in 0..b {
                let norm = ws.norms[r];
                if norm <= NORM_FLOOR {
                    continue;
                }
                let (u, gu) = (ws.unit.row(r), ws.grad_unit.row(r));
                let proj: f32 = u.iter().zip(gu).map(|(a, c)| a * c).sum();
                ws.grad_z.row_mut(r).iter_mut().zip(u.iter().zip(gu)).for_each(|(g, (&a, &c))| *g += (c - a * proj) / norm);
            }
        }
        // Backward through the iterations: delta^t = dL/da^t = dL/dz^t on z^t > 0; dL/dz^{t-1} =
        // delta^t S.
        ws.delta.resize(steps * block, 0.0);
        let chunks = row_chunks(b);
        let deltas = split_rows(&mut ws.delta[..steps * block], block, &chunks, n);
        let gzs = split_rows(&mut ws.grad_z.data[..block], block, &chunks, n);
        let (z, s) = (&ws.z, self.explain.view());
        chunks.par_iter().zip(deltas).zip(gzs).try_for_each(|((&(r0, r1), mut deltas), mut gz)| {
            crate::tensor::sequential(|| -> Result<()> {
                let rows = r1 - r0;
                let gz = &mut gz[0];
                for t in (0..steps).rev() {
                    let zt = &z[t * block + r0 * n..t * block + r1 * n];
                    deltas[t].iter_mut().zip(gz.iter().zip(zt)).for_each(|(d, (&g, &z))| *d = if z > 0.0 { g } else { 0.0 });
                    if t > 0 {
                        let d = View { rows, cols: n, data: &*deltas[t] };
                        gemm_view(gz, (rows, n), d, Op::N, s, Op::N, false, 1.0)?;
                    }
                }
                Ok(())
            })
        })?;
        // dS = sum_{t >= 2} delta^t^T z^{t-1}: one product over the stacked iterations.
        if steps > 1 {
            let d = View { rows: (steps - 1) * b, cols: n, data: &ws.delta[block..] };
            let z = View { rows: (steps - 1) * b, cols: n, data: &ws.z[..(steps - 1) * block] };
            gemm_view(&mut grads.explain.data, (n, n), d, Op::T, z, Op::N, false, 1.0)?;
        } else {
            grads.explain.data.fill(0.0);
        }
        // dE = (sum_t delta^t)^T x, db = -sum over examples and iterations of delta.
        ws.delta_sum.resize(b, n);
        ws.delta_sum.data.copy_from_slice(&ws.delta[..block]);
        for t in 1..steps {
            ws.delta_sum.data.iter_mut().zip(&ws.delta[t * block..(t + 1) * block]).for_each(|(s, &d)| *s += d);
        }
        matmul(&mut grads.encoder, &ws.delta_sum, Op::T, x, Op::N, false)?;
        grads.threshold.fill(0.0);
        for r in 0..b {
            grads.threshold.iter_mut().zip(ws.delta_sum.row(r)).for_each(|(g, &d)| *g -= d);
        }
        Ok(losses)
    }

    fn check_labels(&self, labels: &[u8], rows: usize) -> Result<()> {
        if self.config.classes == 0 {
            return Err(Error::param(
                "model.loss",
                "\"supervised\"",
                "a DrSAE with a classifier (classes > 0): this one has none, so only \"unsupervised\" pretraining",
            ));
        }
        if labels.len() != rows {
            return Err(Error::shape("DrSAE labels", labels.len().to_string(), format!("{rows}, one per example")));
        }
        if let Some(i) = labels.iter().position(|&y| usize::from(y) >= self.config.classes) {
            return Err(Error::Data(format!("label {} of example {i}: expected a label < {}", labels[i], self.config.classes)));
        }
        Ok(())
    }

    /// `z^1 .. z^T` of every row of `x`, each `[rows, n]` (computed [`EVAL_CHUNK`] rows at a time).
    pub fn iterates(&self, x: &Matrix) -> Result<Vec<Matrix>> {
        self.check_input(x)?;
        let (n, steps) = (self.config.hidden, self.config.steps);
        check_alloc("the DrSAE's iterates of the data", (steps as u128) * (x.rows as u128) * (n as u128) * 4)?;
        let mut out: Vec<Matrix> = (0..steps).map(|_| Matrix::zeros(x.rows, n)).collect();
        let mut ws = DrsaeWorkspace::default();
        for (start, end) in chunks(x.rows) {
            let part = rows_of(&x.data, x.cols, start, end)?;
            self.encode_iterates(&part, &mut ws)?;
            for (t, o) in out.iter_mut().enumerate() {
                o.data[start * n..end * n].copy_from_slice(ws.iterate(t + 1));
            }
        }
        Ok(out)
    }

    /// The predicted class (argmax of `C z^T`, the normalisation does not change it) of every
    /// example of `x` (`n x input` values).
    pub fn predict(&self, x: &[f32]) -> Result<Vec<usize>> {
        if self.config.classes == 0 {
            return Err(Error::param("model", self.config.describe(), "a DrSAE with a classifier"));
        }
        let m = self.config.input;
        if !x.len().is_multiple_of(m) {
            return Err(Error::shape("DrSAE input", format!("{} values", x.len()), format!("a multiple of {m}")));
        }
        let rows = x.len() / m;
        let mut ws = DrsaeWorkspace::default();
        let mut out = Vec::with_capacity(rows);
        for (start, end) in chunks(rows) {
            self.forward(&rows_of(x, m, start, end)?, true, &mut ws)?;
            out.extend((0..end - start).map(|r| crate::competition::argmax_first(ws.logits.row(r))));
        }
        Ok(out)
    }

    /// Misclassified examples of `data`.
    pub fn errors(&self, data: &Dataset) -> Result<usize> {
        let p = self.predict(&data.x)?;
        Ok(p.iter().zip(&data.labels).filter(|(p, y)| **p != usize::from(**y)).count())
    }

    /// The measurements a sparse-coding user watches, on `data` (means over its examples): see
    /// [`DrsaeStats`].
    pub fn stats(&self, data: &Dataset) -> Result<DrsaeStats> {
        if data.dim != self.config.input {
            return Err(Error::shape(
                format!("data for the DrSAE {}", self.config.describe()),
                format!("{} values per example", data.dim),
                format!("{} values per example", self.config.input),
            ));
        }
        let (n, m, steps) = (self.config.hidden, self.config.input, self.config.steps);
        let classify = self.config.classes > 0;
        let mut ws = DrsaeWorkspace::default();
        let mut per_step = vec![0.0f64; steps];
        let mut totals = DrsaeLosses::default();
        let (mut active, mut errors) = (0usize, 0usize);
        let mut alive = vec![false; n];
        let mut recon = Matrix::default();
        for (start, end) in chunks(data.len()) {
            let part = rows_of(&data.x, data.dim, start, end)?;
            let rows = end - start;
            self.forward(&part, classify, &mut ws)?;
            let labels = &data.labels[start..end];
            let l = self.losses(&part, if classify { labels } else { &[] }, &ws);
            let w = rows as f64;
            totals.reconstruction += l.reconstruction * w;
            totals.sparsity += l.sparsity * w;
            totals.classification += l.classification * w;
            let last = ws.iterate(steps);
            active += last.iter().filter(|&&v| v > 0.0).count();
            for r in 0..rows {
                last[r * n..(r + 1) * n].iter().zip(alive.iter_mut()).for_each(|(&v, a)| *a |= v > 0.0);
            }
            if classify {
                errors += (0..rows).filter(|&r| crate::competition::argmax_first(ws.logits.row(r)) != usize::from(labels[r])).count();
            }
            recon.resize(rows, m);
            for (t, acc) in per_step.iter_mut().enumerate() {
                let z = View { rows, cols: n, data: ws.iterate(t + 1) };
                gemm_view(&mut recon.data, (rows, m), z, Op::N, self.decoder.view(), Op::T, false, 1.0)?;
                *acc += 0.5 * recon.data.iter().zip(&part.data).map(|(&r, &v)| f64::from(r - v).powi(2)).sum::<f64>();
            }
        }
        let count = data.len().max(1) as f64;
        Ok(DrsaeStats {
            reconstruction: totals.reconstruction / count,
            sparsity: totals.sparsity / count,
            classification: totals.classification / count,
            l0: active as f64 / count,
            dead_units: alive.iter().filter(|a| !**a).count(),
            reconstruction_per_step: per_step.iter().map(|v| v / count).collect(),
            errors: classify.then_some(errors),
        })
    }
}

/// What [`Drsae::stats`] measures on a data set (means per example).
#[derive(Clone, Debug, PartialEq)]
pub struct DrsaeStats {
    /// `1/2 ||x - D z^T||^2`.
    pub reconstruction: f64,
    /// `lambda ||z^T||_1`.
    pub sparsity: f64,
    /// `L^S` (0 without a classifier).
    pub classification: f64,
    /// Active units of `z^T` (its L0 norm).
    pub l0: f64,
    /// Units never active in `z^T` on the data.
    pub dead_units: usize,
    /// `1/2 ||x - D z^t||^2` for `t = 1 .. T`: how the reconstruction improves over the iterations.
    pub reconstruction_per_step: Vec<f64>,
    /// Misclassified examples, with a classifier.
    pub errors: Option<usize>,
}

/// Batches of fewer rows per thread than this run the recurrence on one thread.
const MIN_CHUNK_ROWS: usize = 16;

/// The row ranges that run the recurrence in parallel: one per thread of the pool (none when the
/// caller already runs in a parallel task, see [`crate::tensor::sequential`]), at least
/// [`MIN_CHUNK_ROWS`] rows each.
fn row_chunks(rows: usize) -> Vec<(usize, usize)> {
    let k = crate::tensor::threads().min(rows / MIN_CHUNK_ROWS).max(1);
    let k = if crate::tensor::is_sequential() { 1 } else { k };
    (0..k).map(|c| (c * rows / k, (c + 1) * rows / k)).collect()
}

/// `buf` as consecutive blocks of `block` values (one per iteration), each cut into the row ranges
/// of `chunks` (`cols` values a row): for every chunk, its rows of every block.
fn split_rows<'a>(buf: &'a mut [f32], block: usize, chunks: &[(usize, usize)], cols: usize) -> Vec<Vec<&'a mut [f32]>> {
    let mut parts: Vec<Vec<&'a mut [f32]>> = chunks.iter().map(|_| Vec::new()).collect();
    for blk in buf.chunks_mut(block.max(1)) {
        let mut rest = blk;
        for (part, &(r0, r1)) in parts.iter_mut().zip(chunks) {
            let (head, tail) = rest.split_at_mut((r1 - r0) * cols);
            part.push(head);
            rest = tail;
        }
    }
    parts
}

/// Rows per pass when a whole data set is encoded.
pub const EVAL_CHUNK: usize = 1000;

fn chunks(rows: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..rows.div_ceil(EVAL_CHUNK)).map(move |c| (c * EVAL_CHUNK, ((c + 1) * EVAL_CHUNK).min(rows)))
}

/// Rows `start..end` of the row-major values `x` (`cols` a row) as a matrix.
fn rows_of(x: &[f32], cols: usize, start: usize, end: usize) -> Result<Matrix> {
    Matrix::from_vec(end - start, cols, x[start * cols..end * cols].to_vec())
}

fn log_sum_exp(row: &[f32]) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    f64::from(max) + row.iter().map(|&v| f64::from(v - max).exp()).sum::<f64>().ln()
}

/// Rescales every column of `w` to norm `norm` (columns of norm 0 stay 0): the parameters'
/// `norm_cols` rule.
fn scale_columns(w: &mut Matrix, norm: f32) {
    let shape = vec![w.rows, w.cols];
    ParamRule { norm_cols: Some(norm), ..ParamRule::new("w") }.constrain(&mut ParamMut::new("w", shape, ParamKind::Weight, &mut w.data));
}

/// Rescales every row of `w` to norm `norm` (rows of norm 0 stay 0): the parameters' `norm_rows`
/// rule.
fn scale_rows(w: &mut Matrix, norm: f32) {
    let shape = vec![w.rows, w.cols];
    ParamRule { norm_rows: Some(norm), ..ParamRule::new("w") }.constrain(&mut ParamMut::new("w", shape, ParamKind::Weight, &mut w.data));
}

/// The largest eigenvalue of `D^T D` (the squared largest singular value of `d`), by power
/// iteration (100 steps from a fixed start; an upper estimate is safe for ISTA's step).
pub fn max_eigenvalue(d: &Matrix) -> f32 {
    let (m, n) = (d.rows, d.cols);
    let mut v = vec![1.0f64 / (n.max(1) as f64).sqrt(); n];
    let mut lambda = 0.0;
    for _ in 0..100 {
        let dv: Vec<f64> = (0..m).map(|r| d.row(r).iter().zip(&v).map(|(&a, &b)| f64::from(a) * b).sum()).collect();
        let mut w = vec![0.0f64; n];
        for (r, &s) in dv.iter().enumerate() {
            d.row(r).iter().zip(w.iter_mut()).for_each(|(&a, o)| *o += f64::from(a) * s);
        }
        let len = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if len == 0.0 {
            return 0.0;
        }
        lambda = len;
        v = w.into_iter().map(|x| x / len).collect();
    }
    (lambda * 1.01) as f32
}

impl Parameters for Drsae {
    fn params(&self) -> Vec<Param<'_>> {
        let (m, n, l) = (self.config.input, self.config.hidden, self.config.classes);
        vec![
            Param::new("encoder.weight", vec![n, m], ParamKind::Weight, &self.encoder.data),
            Param::new("explain.weight", vec![n, n], ParamKind::Weight, &self.explain.data),
            Param::new("threshold", vec![n], ParamKind::Bias, &self.threshold),
            Param::new("decoder.weight", vec![m, n], ParamKind::Weight, &self.decoder.data),
            Param::new("classifier.weight", vec![l, n], ParamKind::Weight, &self.classifier.data),
        ]
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let (m, n, l) = (self.config.input, self.config.hidden, self.config.classes);
        vec![
            ParamMut::new("encoder.weight", vec![n, m], ParamKind::Weight, &mut self.encoder.data),
            ParamMut::new("explain.weight", vec![n, n], ParamKind::Weight, &mut self.explain.data),
            ParamMut::new("threshold", vec![n], ParamKind::Bias, &mut self.threshold),
            ParamMut::new("decoder.weight", vec![m, n], ParamKind::Weight, &mut self.decoder.data),
            ParamMut::new("classifier.weight", vec![l, n], ParamKind::Weight, &mut self.classifier.data),
        ]
    }
}

impl Model for Drsae {
    const KIND: &'static str = "drsae";
    type Config = DrsaeConfig;

    fn config(&self) -> &DrsaeConfig {
        &self.config
    }

    fn zeros(config: &DrsaeConfig) -> Result<Self> {
        Drsae::zeros_of(config)
    }

    fn init(config: &DrsaeConfig, seed: u64) -> Result<Self> {
        Drsae::init_seeded(config, seed)
    }

    fn describe(&self) -> String {
        self.config.describe()
    }
}

/// The offset that carries the input through the unrolled encoder's [`DenseStack`]: the carried
/// values are `x + CARRY`, positive (so a ReLU passes them unchanged) for every input coordinate
/// above `-CARRY`.
pub const CARRY: f32 = 1024.0;

impl Encoder for Drsae {
    fn input_width(&self) -> usize {
        self.config.input
    }

    /// One layer per iteration: `z^1 .. z^T`, each `n` ReLU units (the submask of iteration `t` is
    /// `z^t > 0`); the features of [`Encoder::features`] are `z^T`.
    fn layers(&self) -> Vec<LayerInfo> {
        (1..=self.config.steps)
            .map(|t| LayerInfo {
                name: format!("{}(relu, t={t})", self.config.hidden),
                pre_width: self.config.hidden,
                units: self.config.hidden,
                competition: Competition::Relu,
                maps: None,
            })
            .collect()
    }

    fn encode(&self, x: &Matrix, upto: usize, out: &mut Vec<LayerOutput>) -> Result<()> {
        if upto > self.config.steps {
            return Err(Error::param("layers", upto, format!("at most the {} iterations", self.config.steps)));
        }
        if out.len() < upto {
            out.resize_with(upto, LayerOutput::default);
        }
        if upto == 0 {
            return Ok(());
        }
        let mut ws = DrsaeWorkspace::default();
        self.run_iterations(x, upto, &mut ws)?;
        let (b, n) = (x.rows, self.config.hidden);
        for (t, o) in out.iter_mut().enumerate().take(upto) {
            o.pre = Matrix::from_vec(b, n, ws.pre[t * b * n..(t + 1) * b * n].to_vec())?;
            o.out = Matrix::from_vec(b, n, ws.iterate(t + 1).to_vec())?;
            o.winners.clear();
            o.winners.extend(o.pre.data.iter().map(|&a| a > 0.0));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.config.describe()
    }

    /// The unrolled encoder as a stack of `T` dense ReLU layers. A [`DenseStack`] layer reads only
    /// the layer below, and eq. 1 feeds the input to every iteration, so every layer also carries
    /// the input: layer `t` has `n + m` outputs, `[z^t, x + CARRY]`, the second part through an
    /// identity with bias `CARRY` (layer 1) or 0 (later layers), and each layer's `E` block reads
    /// `x + CARRY` with its bias lowered by `CARRY E 1`. The carried values are positive for every
    /// input above `-CARRY`, so their ReLUs never switch and the regions are those of the encoder
    /// itself. The output layer is `C` on `z^T` (the logits without the normalisation, which does
    /// not change the class).
    fn dense_stack(&self) -> Option<Result<DenseStack>> {
        Some(self.unrolled_stack())
    }

    fn dictionary(&self, image: Option<(usize, usize)>) -> Option<Atoms> {
        let (h, w) = image?;
        if h * w != self.config.input {
            return None;
        }
        let (m, n) = (self.config.input, self.config.hidden);
        let tiles = (0..n).map(|i| (0..m).map(|r| self.decoder.data[r * n + i]).collect()).collect();
        Some(Atoms { shape: (h, w), tiles, what: "decoder columns".into() })
    }
}

impl Drsae {
    fn unrolled_stack(&self) -> Result<DenseStack> {
        let (m, n, steps) = (self.config.input, self.config.hidden, self.config.steps);
        let width = n + m;
        check_alloc("the DrSAE's unrolled dense stack", (steps as u128) * (width as u128) * (width as u128) * 4)?;
        let mut hidden = Vec::with_capacity(steps);
        for t in 0..steps {
            let inputs = if t == 0 { m } else { width };
            let mut w = Matrix::zeros(width, inputs);
            let mut bias = vec![0.0f32; width];
            for (i, (row, bi)) in w.data.chunks_mut(inputs).zip(bias.iter_mut()).take(n).enumerate() {
                let e = self.encoder.row(i);
                if t == 0 {
                    row.copy_from_slice(e);
                    *bi = -self.threshold[i];
                } else {
                    row[..n].copy_from_slice(self.explain.row(i));
                    row[n..].copy_from_slice(e);
                    *bi = -self.threshold[i] - CARRY * e.iter().sum::<f32>();
                }
            }
            for j in 0..m {
                let col = if t == 0 { j } else { n + j };
                w.data[(n + j) * inputs + col] = 1.0;
                bias[n + j] = if t == 0 { CARRY } else { 0.0 };
            }
            hidden.push((w, bias, Competition::Relu));
        }
        let output = (self.config.classes > 0).then(|| {
            let l = self.config.classes;
            let mut w = Matrix::zeros(l, width);
            for k in 0..l {
                w.data[k * width..k * width + n].copy_from_slice(self.classifier.row(k));
            }
            (w, vec![0.0; l])
        });
        Ok(DenseStack { input: m, hidden, output })
    }
}

/// How a DrSAE trains: one phase's loss by exact BPTT (see the module docs).
#[derive(Clone, Debug)]
pub struct DrsaeLearner {
    /// The model.
    pub model: Drsae,
    /// The phase's loss.
    pub loss: DrsaeLoss,
    ws: DrsaeWorkspace,
    grads: Drsae,
}

impl DrsaeLearner {
    /// A learner minimising `loss`; a supervised loss needs a classifier.
    pub fn new(model: Drsae, loss: DrsaeLoss) -> Result<Self> {
        if loss == DrsaeLoss::Supervised && model.config.classes == 0 {
            return Err(Error::param("model.loss", "\"supervised\"", "a DrSAE with classes (labelled data)"));
        }
        let grads = Drsae::zeros_of(&model.config)?;
        Ok(DrsaeLearner { model, loss, ws: DrsaeWorkspace::default(), grads })
    }

    /// The gradient of the last step.
    pub fn grads(&self) -> &Drsae {
        &self.grads
    }
}

impl Learner for DrsaeLearner {
    type Model = Drsae;

    fn model(&self) -> &Drsae {
        &self.model
    }

    fn model_mut(&mut self) -> &mut Drsae {
        &mut self.model
    }

    fn step(&mut self, batch: &Batch<'_>, _rng: &mut ChaCha8Rng) -> Result<StepOutput> {
        let supervised = self.loss == DrsaeLoss::Supervised;
        self.model.forward(batch.x, supervised, &mut self.ws)?;
        let l = self.model.backward(batch.x, batch.labels, self.loss, &mut self.ws, &mut self.grads)?;
        Ok(StepOutput { loss: l.total(self.loss) as f32, update: Update::Gradients })
    }

    fn model_and_grads(&mut self) -> (&mut Drsae, &dyn Parameters) {
        (&mut self.model, &self.grads)
    }

    /// Pretraining scores `L^U` on the validation set; fine-tuning its classification errors.
    /// Either way the metrics hold the L0 of `z^T`, the dead units, the reconstruction error and
    /// that of every iteration `t` (`reconstruction_t{t}`, decoded with the same `D`).
    fn evaluate(&self, data: &Dataset) -> Result<Evaluation> {
        let s = self.model.stats(data)?;
        let mut metrics = vec![
            ("sparse_loss".to_string(), s.reconstruction + s.sparsity),
            ("reconstruction_error".to_string(), s.reconstruction),
            ("l0".to_string(), s.l0),
            ("dead_units".to_string(), s.dead_units as f64),
        ];
        if self.model.config.classes > 0 {
            metrics.push(("classification_loss".to_string(), s.classification));
        }
        metrics.extend(s.reconstruction_per_step.iter().enumerate().map(|(t, v)| (format!("reconstruction_t{}", t + 1), *v)));
        let (score, errors) = match (self.loss, s.errors) {
            (DrsaeLoss::Supervised, Some(e)) => (e as f64, Some(e)),
            (_, e) => (s.reconstruction + s.sparsity, e),
        };
        Ok(Evaluation { score, errors: if self.loss == DrsaeLoss::Supervised { errors } else { None }, metrics })
    }

    /// `L0 105.5, dead units 4, reconstruction 0.0987 (t=1 0.3790 -> t=11 0.0987)`.
    fn describe_evaluation(&self, e: &Evaluation) -> String {
        let get = |name: &str| e.metrics.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        let steps = self.model.config.steps;
        match (get("l0"), get("dead_units"), get("reconstruction_error"), get("reconstruction_t1")) {
            (Some(l0), Some(dead), Some(rec), Some(first)) => format!(
                "L0 {l0:.1}, dead units {dead}, reconstruction {rec:.4} (t=1 {first:.4} -> t={steps} {:.4})",
                get(&format!("reconstruction_t{steps}")).unwrap_or(rec)
            ),
            _ => String::new(),
        }
    }

    fn score_name(&self) -> &'static str {
        match self.loss {
            DrsaeLoss::Supervised => "validation errors",
            DrsaeLoss::Unsupervised => "sparse coding loss L^U",
        }
    }

    /// Section 2: learning rates divided by each matrix's repetitions in the unrolled network (`E`,
    /// `b`: `T`; `S`: `T - 1`) and `C`'s by a further `classifier_lr_divisor`; after every step `D`'s
    /// columns projected to norm `decoder_bound`, `E`'s rows to `encoder_bound`, `C`'s rows to
    /// `classifier_bound`.
    fn rules(&self) -> Vec<ParamRule> {
        let c = &self.model.config;
        let t = c.steps as f32;
        vec![
            ParamRule { lr_scale: Some(1.0 / t), max_norm_rows: Some(c.encoder_bound()), ..ParamRule::new("encoder.weight") },
            ParamRule { lr_scale: Some(1.0 / t), ..ParamRule::new("threshold") },
            ParamRule { lr_scale: Some(1.0 / (t - 1.0).max(1.0)), ..ParamRule::new("explain.weight") },
            ParamRule { max_norm_cols: Some(c.decoder_bound), ..ParamRule::new("decoder.weight") },
            ParamRule {
                lr_scale: Some(1.0 / c.classifier_lr_divisor),
                max_norm_rows: Some(c.classifier_bound),
                ..ParamRule::new("classifier.weight")
            },
        ]
    }

    fn encoder(&self) -> Option<&dyn Encoder> {
        Some(&self.model)
    }
}

/// One standard normal draw (Box-Muller).
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    use rand::Rng;
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // the tests index rows and units as the equations do
mod tests {
    use super::*;
    use rand::Rng;

    fn data(rows: usize, cols: usize, seed: u64) -> Matrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Matrix::from_vec(rows, cols, (0..rows * cols).map(|_| rng.random_range(0.0..1.0)).collect()).unwrap();
        scale_rows(&mut x, 1.0);
        x
    }

    /// A small DrSAE with a nonzero, non-ISTA explaining-away matrix and classifier, so that every
    /// term of the gradient is exercised.
    fn net(m: usize, n: usize, steps: usize, classes: usize, seed: u64) -> Drsae {
        let config = DrsaeConfig { lambda: 0.05, ..DrsaeConfig::new(m, n, steps, classes).unwrap() };
        let mut d = Drsae::init_seeded(&config, seed).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
        d.encoder.data.iter_mut().for_each(|v| *v = rng.random_range(-0.6..0.8));
        d.explain.data.iter_mut().for_each(|v| *v += rng.random_range(-0.3..0.3));
        d.threshold.iter_mut().for_each(|v| *v = rng.random_range(-0.1..0.1));
        d.classifier.data.iter_mut().for_each(|v| *v = rng.random_range(-1.0..1.0));
        d
    }

    fn pattern(d: &Drsae, x: &Matrix) -> Vec<bool> {
        let mut ws = DrsaeWorkspace::default();
        d.encode_iterates(x, &mut ws).unwrap();
        ws.z.iter().map(|&v| v > 0.0).collect()
    }

    fn check_gradients(d: &Drsae, x: &Matrix, labels: &[u8], loss: DrsaeLoss) {
        let mut ws = DrsaeWorkspace::default();
        let mut grads = Drsae::zeros_of(&d.config).unwrap();
        d.forward(x, loss == DrsaeLoss::Supervised, &mut ws).unwrap();
        d.backward(x, labels, loss, &mut ws, &mut grads).unwrap();
        let base = pattern(d, x);
        let value = |m: &Drsae| {
            let mut w = DrsaeWorkspace::default();
            m.forward(x, loss == DrsaeLoss::Supervised, &mut w).unwrap();
            m.losses(x, labels, &w).total(loss)
        };
        let eps = 1e-3f32;
        let mut checked = 0;
        let names: Vec<String> = d.params().iter().map(|p| p.name.to_string()).collect();
        for (pi, name) in names.iter().enumerate() {
            let len = d.params()[pi].data.len();
            for idx in 0..len {
                let (mut plus, mut minus) = (d.clone(), d.clone());
                plus.params_mut()[pi].data[idx] += eps;
                minus.params_mut()[pi].data[idx] -= eps;
                if pattern(&plus, x) != base || pattern(&minus, x) != base {
                    continue; // a ReLU switched: the loss is not differentiable across the step
                }
                let fd = (value(&plus) - value(&minus)) / (2.0 * f64::from(eps));
                let an = f64::from(grads.params()[pi].data[idx]);
                assert!(
                    (fd - an).abs() <= 1e-3 + 1e-2 * fd.abs(),
                    "{name}[{idx}] (T = {}): finite differences {fd}, BPTT {an}",
                    d.config.steps
                );
                checked += 1;
            }
        }
        assert!(checked > len_all(d) / 2, "only {checked} of {} entries checked", len_all(d));
    }

    fn len_all(d: &Drsae) -> usize {
        d.params().iter().map(|p| p.data.len()).sum()
    }

    #[test]
    fn bptt_matches_finite_differences_for_both_losses_and_several_depths() {
        let x = data(7, 6, 1);
        let labels = [0u8, 1, 2, 1, 0, 2, 2];
        for steps in [1, 2, 5] {
            let d = net(6, 5, steps, 3, 2 + steps as u64);
            check_gradients(&d, &x, &labels, DrsaeLoss::Unsupervised);
            check_gradients(&d, &x, &labels, DrsaeLoss::Supervised);
        }
    }

    /// The same unrolled network written with burn's tensors and differentiated by its autodiff:
    /// every gradient of the hand-written BPTT agrees (T = 6, fine-tuning loss with the
    /// normalised classifier input).
    #[test]
    fn bptt_matches_burn_autodiff_of_the_unrolled_network() {
        use burn::tensor::{Device, Int, Tensor, TensorData, activation};
        let (m, n, steps, classes, rows) = (10, 8, 6, 3, 9);
        let d = net(m, n, steps, classes, 21);
        let x = data(rows, m, 22);
        let labels: Vec<u8> = (0..rows).map(|r| (r % classes) as u8).collect();
        let mut ws = DrsaeWorkspace::default();
        let mut grads = Drsae::zeros_of(&d.config).unwrap();
        d.forward(&x, true, &mut ws).unwrap();
        let ours = d.backward(&x, &labels, DrsaeLoss::Supervised, &mut ws, &mut grads).unwrap();

        let device = Device::flex().autodiff();
        let leaf = |v: &[f32], shape: [usize; 2]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), shape), &device).require_grad();
        let e = leaf(&d.encoder.data, [n, m]);
        let s = leaf(&d.explain.data, [n, n]);
        let b = leaf(&d.threshold, [1, n]);
        let dec = leaf(&d.decoder.data, [m, n]);
        let c = leaf(&d.classifier.data, [classes, n]);
        let xt = Tensor::<2>::from_data(TensorData::new(x.data.clone(), [rows, m]), &device);
        let drive = xt.clone().matmul(e.clone().transpose()) - b.clone();
        let mut z = activation::relu(drive.clone());
        for _ in 1..steps {
            z = activation::relu(drive.clone() + z.matmul(s.clone().transpose()));
        }
        let recon = z.clone().matmul(dec.clone().transpose());
        let lu = (recon - xt).square().sum().mul_scalar(0.5 / rows as f32) + z.clone().sum().mul_scalar(d.config.lambda / rows as f32);
        let q = z.clone() / z.square().sum_dim(1).sqrt();
        let logits = q.matmul(c.clone().transpose());
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>(), [rows]), &device);
        let ce = activation::log_softmax(logits, 1).gather(1, y.reshape([rows, 1])).mean().neg();
        let loss = lu + ce;
        let value = loss.clone().try_to_vec_as::<f32>().unwrap()[0];
        assert!((f64::from(value) - ours.total(DrsaeLoss::Supervised)).abs() < 1e-4, "loss: burn {value}, ours {ours:?}");
        let g = loss.backward();
        for (name, t, mine) in [
            ("encoder.weight", &e, &grads.encoder.data),
            ("explain.weight", &s, &grads.explain.data),
            ("threshold", &b, &grads.threshold),
            ("decoder.weight", &dec, &grads.decoder.data),
            ("classifier.weight", &c, &grads.classifier.data),
        ] {
            let theirs = t.grad(&g).unwrap().try_to_vec_as::<f32>().unwrap();
            assert_eq!(theirs.len(), mine.len(), "{name}");
            let scale = theirs.iter().fold(0.0f32, |a, v| a.max(v.abs())).max(1e-3);
            for (i, (a, b)) in theirs.iter().zip(mine.iter()).enumerate() {
                assert!((a - b).abs() <= 1e-4 * scale + 1e-6, "{name}[{i}]: burn {a}, ours {b}");
            }
        }
    }

    #[test]
    fn the_unsupervised_loss_gives_the_classifier_no_gradient() {
        let x = data(5, 6, 3);
        let d = net(6, 5, 3, 3, 4);
        let mut ws = DrsaeWorkspace::default();
        let mut g = Drsae::zeros_of(&d.config).unwrap();
        d.forward(&x, false, &mut ws).unwrap();
        g.classifier.data.fill(1.0);
        d.backward(&x, &[], DrsaeLoss::Unsupervised, &mut ws, &mut g).unwrap();
        assert!(g.classifier.data.iter().all(|&v| v == 0.0));
        assert!(g.explain.data.iter().any(|&v| v != 0.0));
    }

    /// Eq. 4: an ISTA-initialised DrSAE with many iterations reaches the non-negative sparse code
    /// minimising L^U, checked by its optimality conditions (not by running ISTA again): with
    /// `r = D^T (x - D z)`, every active unit has `r_i = lambda` and every silent one `r_i <= lambda`.
    #[test]
    fn ista_initialisation_with_many_iterations_reaches_the_nonnegative_lasso_solution() {
        let (m, n) = (12, 20);
        let config = DrsaeConfig { lambda: 0.05, ..DrsaeConfig::new(m, n, 3000, 0).unwrap() };
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut dict = Matrix::from_vec(m, n, (0..m * n).map(|_| normal(&mut rng)).collect()).unwrap();
        scale_columns(&mut dict, 1.0);
        let alpha = 1.0 / max_eigenvalue(&dict);
        let d = Drsae::ista(&config, dict.clone(), alpha).unwrap();
        let x = data(4, m, 10);
        let zs = d.iterates(&x).unwrap();
        let z = &zs[config.steps - 1];
        let mut active = 0;
        for r in 0..x.rows {
            let zr = z.row(r);
            let residual: Vec<f32> = (0..m).map(|i| x.row(r)[i] - (0..n).map(|j| dict.data[i * n + j] * zr[j]).sum::<f32>()).collect();
            for j in 0..n {
                let corr: f32 = (0..m).map(|i| dict.data[i * n + j] * residual[i]).sum();
                if zr[j] > 1e-6 {
                    active += 1;
                    assert!((corr - config.lambda).abs() < 2e-3, "example {r} unit {j}: active with correlation {corr}, expected lambda");
                } else {
                    assert!(corr <= config.lambda + 2e-3, "example {r} unit {j}: silent with correlation {corr} > lambda");
                }
            }
        }
        assert!(active > 0 && active < x.rows * n, "{active} active units: a trivial code");
        // And the loss of eq. 2 does not increase along the iterations (ISTA is a descent method).
        let loss = |t: usize| -> f64 {
            let z = &zs[t];
            (0..x.rows)
                .map(|r| {
                    let rec: f64 = (0..m)
                        .map(|i| f64::from(x.row(r)[i] - (0..n).map(|j| dict.data[i * n + j] * z.row(r)[j]).sum::<f32>()).powi(2))
                        .sum();
                    0.5 * rec + f64::from(config.lambda) * z.row(r).iter().map(|&v| f64::from(v)).sum::<f64>()
                })
                .sum()
        };
        assert!((1..200).all(|t| loss(t) <= loss(t - 1) + 1e-6));
    }

    #[test]
    fn the_unrolled_dense_stack_computes_the_iterates_and_the_classes() {
        let d = net(6, 5, 4, 3, 11);
        let x = data(9, 6, 12);
        let stack = d.unrolled_stack().unwrap();
        assert_eq!(stack.hidden.len(), 4);
        let zs = d.iterates(&x).unwrap();
        for r in 0..x.rows {
            let mut h: Vec<f32> = x.row(r).to_vec();
            for (t, (w, b, _)) in stack.hidden.iter().enumerate() {
                h = (0..w.rows).map(|o| (b[o] + w.row(o).iter().zip(&h).map(|(a, v)| a * v).sum::<f32>()).max(0.0)).collect();
                for j in 0..5 {
                    assert!((h[j] - zs[t].row(r)[j]).abs() < 1e-3, "t {t} unit {j}: {} vs {}", h[j], zs[t].row(r)[j]);
                }
                for i in 0..6 {
                    assert!((h[5 + i] - (x.row(r)[i] + CARRY)).abs() < 1e-3, "the carried input");
                }
            }
            let (w, _) = stack.output.as_ref().unwrap();
            let logits: Vec<f32> = (0..3).map(|k| w.row(k).iter().zip(&h).map(|(a, v)| a * v).sum()).collect();
            let best = crate::competition::argmax_first(&logits);
            assert_eq!(best, d.predict(x.row(r)).unwrap()[0]);
        }
    }

    #[test]
    fn the_encoder_gives_one_layer_per_iteration_and_z_t_as_features() {
        let d = net(6, 5, 3, 3, 13);
        let x = data(4, 6, 14);
        let enc: &dyn Encoder = &d;
        assert_eq!(enc.layers().len(), 3);
        let mut out = Vec::new();
        enc.encode(&x, 2, &mut out).unwrap();
        let zs = d.iterates(&x).unwrap();
        assert_eq!(out[1].out.data, zs[1].data);
        assert_eq!(out[1].winners, zs[1].data.iter().map(|&v| v > 0.0).collect::<Vec<_>>());
        assert_eq!(enc.features(&x).unwrap().data, zs[2].data);
        assert!(enc.encode(&x, 4, &mut out).is_err());
    }

    #[test]
    fn bad_settings_are_errors_naming_the_field() {
        let e = DrsaeConfig::new(784, 400, 0, 10).unwrap_err().to_string();
        assert!(e.contains("model.steps") && e.contains('0'), "{e}");
        let e = DrsaeConfig::new(784, 0, 11, 10).unwrap_err().to_string();
        assert!(e.contains("model.hidden"), "{e}");
        for (field, c) in [
            ("model.decoder_bound", DrsaeConfig { decoder_bound: 0.0, ..DrsaeConfig::new(4, 3, 2, 2).unwrap() }),
            ("model.classifier_bound", DrsaeConfig { classifier_bound: -1.0, ..DrsaeConfig::new(4, 3, 2, 2).unwrap() }),
            ("model.encoder_bound", DrsaeConfig { encoder_bound: Some(f32::NAN), ..DrsaeConfig::new(4, 3, 2, 2).unwrap() }),
            ("model.lambda", DrsaeConfig { lambda: -0.1, ..DrsaeConfig::new(4, 3, 2, 2).unwrap() }),
        ] {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
        let d = net(4, 3, 2, 0, 1);
        let e = DrsaeLearner::new(d, DrsaeLoss::Supervised).unwrap_err().to_string();
        assert!(e.contains("supervised"), "{e}");
        let d = net(4, 3, 2, 2, 1);
        let e = d.iterates(&Matrix::zeros(2, 5)).unwrap_err().to_string();
        assert!(e.contains("2 x 5") && e.contains("4 values"), "{e}");
    }

    #[test]
    fn the_rules_scale_rates_by_repetitions_and_bound_the_matrices() {
        let d = net(6, 5, 11, 3, 1);
        let l = DrsaeLearner::new(d, DrsaeLoss::Supervised).unwrap();
        let rules = l.rules();
        let find = |name: &str| rules.iter().find(|r| r.params == name).unwrap().clone();
        assert_eq!(find("encoder.weight").lr_scale, Some(1.0 / 11.0));
        assert_eq!(find("encoder.weight").max_norm_rows, Some(1.25 / 11.0));
        assert_eq!(find("explain.weight").lr_scale, Some(0.1));
        assert_eq!(find("decoder.weight").max_norm_cols, Some(1.0));
        assert_eq!(find("classifier.weight").lr_scale, Some(0.2));
        assert_eq!(find("classifier.weight").max_norm_rows, Some(5.0));
    }
}
