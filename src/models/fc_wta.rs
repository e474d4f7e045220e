//! The fully connected winner-take-all autoencoder (FC-WTA) of paper B, section 2, and its stacks.
//!
//! An encoder of ReLU dense layers and a linear decoder, trained to reconstruct its input under
//! **lifetime sparsity**: in the feedforward phase every unit of the last encoder layer keeps its
//! `k%` largest activations across the mini-batch and the others are set to zero; the error is
//! backpropagated only through the kept activations (paper B, section 2):
//!
//! ```text
//! a_0 = x,   a_i = relu(a_{i-1} W_i^T + b_i)            (the encoder, i = 1 .. L-1)
//! h   = lifetime_k(relu(a_{L-1} W_L^T + b_L))            (paper B, section 2; competition::lifetime)
//! x^  = h D + c                                           (the linear decoder; D's row j is atom j)
//! L   = (1/n) sum_b || x^_b - t_b ||^2                    (squared error, t = the decoder's target)
//! ```
//!
//! At test time the sparsity is off: the feature of an example is the ReLU output of the last
//! encoder layer ("At test time, we turn off the sparsity constraint and the output of the deep
//! ReLU network will be the final representation of the input", section 2). So the
//! [`Encoder`] of this model has plain ReLU layers.
//!
//! **Untied decoder by default.** The paper calls the FC-WTA "a non-symmetric autoencoder where the
//! encoding stage is typically a stack of several ReLU layers and the decoder is just a linear
//! layer" (section 2): with more than one encoder layer a tied decoder is not even defined, and the
//! paper's appendix, which would say what the one-layer runs used, is not in the text. So the
//! decoder has its own dictionary `D` (`tied = false`); `tied = true` (allowed when one layer is
//! trained) makes `D = W_L`, as the public TensorFlow reproduction does.
//!
//! **Stacking** (section 2: "we fix the weights and train another FC-WTA autoencoder on top of the
//! fixed representation of the previous network"): the first `fixed` encoder layers are frozen
//! ([`ParamKind::Fixed`]) and the decoder reconstructs *their* output `t = a_fixed` (the input when
//! `fixed = 0`). A stacked autoencoder is therefore one model whose encoder is the whole stack: its
//! features are those of the top layer. [`FcWta::stacked_on`] builds one from a trained model.
//!
//! **Sparse products.** With a rate of 5% the codes `h` are 95% zeros, and the decoder, its
//! gradient and the gradient of the last encoder layer only involve the winners: each costs
//! `winners x target` multiply-adds instead of a dense GEMM's `batch x units x target`. Above a
//! density of [`SPARSE_DENSITY`] the dense GEMMs are used instead; both give the same numbers
//! (tested).
//!
//! # Parameters
//!
//! `encoder.{i}.weight` `[units_i, inputs_i]` (PyTorch's `nn.Linear` layout) and `encoder.{i}.bias`
//! for every encoder layer, input side first; `decoder.weight` `[code units, target width]` (untied
//! only: row `j` is dictionary atom `j`, the transpose of an `nn.Linear(units, target).weight`) and
//! `decoder.bias` `[target width]`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::competition::{Competition, lifetime};
use crate::error::{Error, Result};
use crate::io::memory::check_alloc;
use crate::layers::dense::Dense;
use crate::models::Model;
use crate::models::encoder::{Atoms, DenseStack, Encoder, LayerInfo, LayerOutput};
use crate::models::learner::{Batch, Evaluation, Learner, StepOutput, Update, eval_batches};
use crate::params::{Param, ParamKind, ParamMut, Parameters};
use crate::tensor::{Matrix, Op, axpy, dot, matmul};

/// Above this fraction of winners among the codes, the decoder and the last layer's gradient use
/// dense GEMMs rather than sparse products (at 5% sparsity the sparse ones do a twentieth of the work).
pub const SPARSE_DENSITY: f64 = 0.2;

/// The architecture of an FC-WTA autoencoder (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcWtaConfig {
    /// Input values per example (784 for MNIST).
    pub input: usize,
    /// Units of the encoder layers, input side first; the last one is the code.
    pub hidden: Vec<usize>,
    /// The lifetime sparsity rate `k` of the code layer, in `(0, 1]` (paper B: 5%, 2% for a second
    /// stacked layer).
    pub sparsity: f32,
    /// Whether the decoder's dictionary is the code layer's weight (`D = W_L`).
    #[serde(default)]
    pub tied: bool,
    /// How many of the first encoder layers are frozen (a stack: the decoder reconstructs their
    /// output).
    #[serde(default)]
    pub fixed: usize,
}

impl FcWtaConfig {
    /// A one-stage, untied autoencoder.
    pub fn new(input: usize, hidden: &[usize], sparsity: f32) -> Result<Self> {
        let c = FcWtaConfig { input, hidden: hidden.to_vec(), sparsity, tied: false, fixed: 0 };
        c.validate()?;
        Ok(c)
    }

    /// Checks the widths, the rate, the frozen layers and the tied decoder.
    pub fn validate(&self) -> Result<()> {
        if self.input == 0 {
            return Err(Error::param("fc-wta input", self.input, "at least 1 value per example"));
        }
        if self.hidden.is_empty() {
            return Err(Error::param("model.hidden", "[]", "at least one encoder layer, e.g. [2000]"));
        }
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return Err(Error::param(format!("model.hidden[{i}]"), 0, "at least 1 unit"));
        }
        lifetime::check_rate(self.sparsity).map_err(|_| {
            Error::param("model.sparsity", self.sparsity, "a lifetime sparsity rate in (0, 1], e.g. 0.05 for the paper's 5%")
        })?;
        if self.fixed >= self.hidden.len() {
            return Err(Error::param(
                "fc-wta fixed layers",
                self.fixed,
                format!("fewer than the {} encoder layers (at least the code layer is trained)", self.hidden.len()),
            ));
        }
        if self.tied && self.hidden.len() - self.fixed != 1 {
            return Err(Error::param(
                "model.tied",
                true,
                format!(
                    "one trained encoder layer (this model trains {}): a tied decoder is the transpose of the code layer, which must read the decoder's target",
                    self.hidden.len() - self.fixed
                ),
            ));
        }
        Ok(())
    }

    /// The inputs of encoder layer `i`.
    fn inputs_of(&self, i: usize) -> usize {
        if i == 0 { self.input } else { self.hidden[i - 1] }
    }

    /// Width of the decoder's output: the input of the first trained layer.
    pub fn target_width(&self) -> usize {
        self.inputs_of(self.fixed)
    }

    /// Units of the code layer.
    pub fn code_width(&self) -> usize {
        *self.hidden.last().unwrap_or(&0)
    }

    /// `784-2000(lifetime 5%)-784`, with frozen layers in brackets: `784-[2000]-2000(lifetime 2%)-2000`.
    pub fn describe(&self) -> String {
        let mut s = format!("{}", self.input);
        for (i, h) in self.hidden.iter().enumerate() {
            if i < self.fixed {
                s.push_str(&format!("-[{h}]"));
            } else if i + 1 < self.hidden.len() {
                s.push_str(&format!("-{h}(relu)"));
            } else {
                s.push_str(&format!("-{h}(lifetime {}%)", self.sparsity * 100.0));
            }
        }
        s.push_str(&format!("-{}{}", self.target_width(), if self.tied { " (tied)" } else { "" }));
        s
    }

    fn parameter_count(&self) -> usize {
        let enc: usize = (0..self.hidden.len()).map(|i| (self.inputs_of(i) + 1) * self.hidden[i]).sum();
        let dec = if self.tied { 0 } else { self.code_width() * self.target_width() };
        enc.saturating_add(dec).saturating_add(self.target_width())
    }
}

/// An FC-WTA autoencoder (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct FcWta {
    /// The architecture.
    pub config: FcWtaConfig,
    /// The encoder layers, input side first.
    pub encoder: Vec<Dense>,
    /// The decoder's dictionary `[code units, target]`, one atom per row (empty when tied).
    pub decoder_weight: Matrix,
    /// The decoder's bias `[target]`.
    pub decoder_bias: Vec<f32>,
}

/// The buffers of one training pass, reused across steps.
#[derive(Clone, Debug, Default)]
pub struct FcWtaWorkspace {
    /// Pre-activations of every encoder layer.
    pre: Vec<Matrix>,
    /// Outputs of every encoder layer (the last one: the sparse codes `h`).
    act: Vec<Matrix>,
    /// Winners of the code layer `[n, code]`.
    winners: Vec<bool>,
    /// The winners as lists: by example and by unit.
    by_example: Csr,
    by_unit: Csr,
    /// The reconstruction `[n, target]`.
    pub recon: Matrix,
    grad_out: Matrix,
    grad_atoms: Matrix,
    grad_z: Matrix,
    grad_a: Matrix,
}

/// Compressed lists: the entries of row `r` are `idx[start[r]..start[r + 1]]`.
#[derive(Clone, Debug, Default)]
struct Csr {
    start: Vec<usize>,
    idx: Vec<usize>,
}

impl Csr {
    fn row(&self, r: usize) -> &[usize] {
        &self.idx[self.start[r]..self.start[r + 1]]
    }

    /// The `true` entries of `flags` (`[rows, cols]`), by row (`transpose = false`) or by column.
    fn fill(&mut self, flags: &[bool], rows: usize, cols: usize, transpose: bool) {
        let outer = if transpose { cols } else { rows };
        self.start.clear();
        self.idx.clear();
        self.start.push(0);
        for o in 0..outer {
            if transpose {
                self.idx.extend((0..rows).filter(|&r| flags[r * cols + o]));
            } else {
                self.idx.extend((0..cols).filter(|&c| flags[o * cols + c]));
            }
            self.start.push(self.idx.len());
        }
    }
}

impl FcWta {
    /// An autoencoder of zeros for `config` (checked; memory refused before allocating).
    pub fn zeros_of(config: &FcWtaConfig) -> Result<Self> {
        config.validate()?;
        check_alloc(
            &format!("the parameters of the FC-WTA {} (weights, gradients, optimizer state)", config.describe()),
            (config.parameter_count() as u128).saturating_mul(16),
        )?;
        let encoder = (0..config.hidden.len()).map(|i| Dense::zeros(config.inputs_of(i), config.hidden[i])).collect();
        let decoder_weight = if config.tied { Matrix::default() } else { Matrix::zeros(config.code_width(), config.target_width()) };
        Ok(FcWta { config: config.clone(), encoder, decoder_weight, decoder_bias: vec![0.0; config.target_width()] })
    }

    /// A fresh autoencoder: encoder weights He-uniform (`U(-b, b)`, `b = sqrt(6 / inputs)`, as the
    /// MLP's ReLU layers), decoder atoms Glorot-uniform (`b = sqrt(6 / (units + target))`), biases 0.
    /// The paper does not state its initialisation.
    pub fn init_seeded(config: &FcWtaConfig, seed: u64) -> Result<Self> {
        let mut m = FcWta::zeros_of(config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for d in &mut m.encoder {
            let b = (6.0 / d.weight.cols as f32).sqrt();
            d.weight.data.iter_mut().for_each(|w| *w = rng.random_range(-b..b));
        }
        if !config.tied {
            let b = (6.0 / (config.code_width() + config.target_width()) as f32).sqrt();
            m.decoder_weight.data.iter_mut().for_each(|w| *w = rng.random_range(-b..b));
        }
        Ok(m)
    }

    /// A stack: the encoder of `base` (all its layers frozen) with new layers of `hidden` on top,
    /// trained at `sparsity` to reconstruct `base`'s features (paper B, section 2: "stacked FC-WTA
    /// autoencoder, 5% and 2% sparsity"). `base`'s decoder is not kept.
    pub fn stacked_on(base: &FcWta, hidden: &[usize], sparsity: f32, tied: bool, seed: u64) -> Result<Self> {
        if hidden.is_empty() {
            return Err(Error::param("model.hidden", "[]", "at least one layer to stack on the base model"));
        }
        let mut all = base.config.hidden.clone();
        all.extend_from_slice(hidden);
        let config = FcWtaConfig { input: base.config.input, hidden: all, sparsity, tied, fixed: base.config.hidden.len() };
        let mut m = FcWta::init_seeded(&config, seed)?;
        m.encoder[..base.encoder.len()].clone_from_slice(&base.encoder);
        Ok(m)
    }

    /// The dictionary: one atom per row, `[code units, target]` (the code layer's weight when tied).
    pub fn atoms(&self) -> &Matrix {
        if self.config.tied { &self.encoder[self.encoder.len() - 1].weight } else { &self.decoder_weight }
    }

    /// Training forward pass of `x` (`[n, input]`): the encoder, lifetime sparsity on the code layer,
    /// and the reconstruction (`ws.recon`).
    pub fn forward_train(&self, x: &Matrix, ws: &mut FcWtaWorkspace) -> Result<()> {
        let layers = self.encoder.len();
        let n = x.rows;
        ws.pre.resize_with(layers, Matrix::default);
        ws.act.resize_with(layers, Matrix::default);
        for i in 0..layers {
            let input = if i == 0 { x } else { &ws.act[i - 1] };
            self.encoder[i].forward(input, &mut ws.pre[i])?;
            let (pre, act) = (&ws.pre[i], &mut ws.act[i]);
            act.resize(pre.rows, pre.cols);
            if i + 1 < layers {
                act.data.iter_mut().zip(&pre.data).for_each(|(a, &z)| *a = z.max(0.0));
            } else {
                ws.winners.resize(pre.data.len(), false);
                // Paper B, section 2: the k% largest activations of each unit across the mini-batch.
                lifetime::forward(&pre.data, n, self.config.sparsity, &mut act.data, &mut ws.winners)?;
            }
        }
        let code = self.config.code_width();
        ws.by_example.fill(&ws.winners, n, code, false);
        ws.by_unit.fill(&ws.winners, n, code, true);
        let h = &ws.act[layers - 1];
        decode(self.atoms(), &self.decoder_bias, h, &ws.by_example, &mut ws.recon)
    }

    /// The decoder's target for the input `x`: `x`, or the output of the frozen layers.
    fn target<'a>(&self, x: &'a Matrix, ws: &'a FcWtaWorkspace) -> &'a Matrix {
        if self.config.fixed == 0 { x } else { &ws.act[self.config.fixed - 1] }
    }

    /// The loss of the last [`FcWta::forward_train`] of `x` (mean squared error per example).
    pub fn loss(&self, x: &Matrix, ws: &FcWtaWorkspace) -> f64 {
        let t = self.target(x, ws);
        let sq: f64 = ws.recon.data.iter().zip(&t.data).map(|(&r, &t)| f64::from(r - t).powi(2)).sum();
        sq / x.rows.max(1) as f64
    }

    /// Backward pass after [`FcWta::forward_train`] of `x`: overwrites `grads` (same configuration)
    /// with the gradient of the loss and returns the loss. Frozen layers get a zero gradient.
    pub fn backward(&self, x: &Matrix, ws: &mut FcWtaWorkspace, grads: &mut FcWta) -> Result<f32> {
        if grads.config != self.config {
            return Err(Error::shape("FC-WTA gradient buffer", grads.config.describe(), self.config.describe()));
        }
        let n = x.rows;
        let layers = self.encoder.len();
        let code = self.config.code_width();
        let loss = self.loss(x, ws) as f32;
        // dL/dx^ = 2 (x^ - t) / n.
        let scale = 2.0 / n.max(1) as f32;
        let mut g = std::mem::take(&mut ws.grad_out);
        let t = self.target(x, ws);
        g.resize(ws.recon.rows, ws.recon.cols);
        g.data.iter_mut().zip(ws.recon.data.iter().zip(&t.data)).for_each(|(g, (&r, &t))| *g = scale * (r - t));
        // Decoder bias: sum over the batch.
        grads.decoder_bias.fill(0.0);
        for r in 0..n {
            axpy(1.0, g.row(r), &mut grads.decoder_bias);
        }
        let h = &ws.act[layers - 1];
        let sparse = density(&ws.by_unit, n, code) <= SPARSE_DENSITY;
        // Gradient of the atoms: dD[j] = sum over the winners b of j of h[b, j] g[b] (paper B: the
        // error flows only through the kept activations).
        // Written in place: into the decoder's gradient (untied), or a reused buffer that is added
        // to the code layer's gradient (tied); no 2000 x 784 allocation per step.
        let mut g_atoms = if self.config.tied { std::mem::take(&mut ws.grad_atoms) } else { std::mem::take(&mut grads.decoder_weight) };
        g_atoms.resize(code, self.config.target_width());
        if sparse {
            g_atoms.data.par_chunks_mut(g.cols.max(1)).enumerate().for_each(|(j, row)| {
                row.fill(0.0);
                for &b in ws.by_unit.row(j) {
                    axpy(h.data[b * code + j], g.row(b), row);
                }
            });
        } else {
            matmul(&mut g_atoms, h, Op::T, &g, Op::N, false)?;
        }
        // dL/dz of the code layer: g[b] . D[j] at the winners, 0 elsewhere.
        let atoms = self.atoms();
        let gz = &mut ws.grad_z;
        gz.resize(n, code);
        gz.data.fill(0.0);
        if sparse {
            gz.data.par_chunks_mut(code.max(1)).enumerate().for_each(|(b, row)| {
                for &j in ws.by_example.row(b) {
                    row[j] = dot(g.row(b), atoms.row(j));
                }
            });
        } else {
            matmul(gz, &g, Op::N, atoms, Op::T, false)?;
            gz.data.iter_mut().zip(&ws.winners).for_each(|(v, &w)| {
                if !w {
                    *v = 0.0;
                }
            });
        }
        ws.grad_out = g;
        // The code layer's weight and bias.
        let last = layers - 1;
        let a_in = if last == 0 { x } else { &ws.act[last - 1] };
        let gw = &mut grads.encoder[last];
        if sparse {
            let (gz, by_unit) = (&ws.grad_z, &ws.by_unit);
            gw.weight.data.par_chunks_mut(a_in.cols.max(1)).enumerate().for_each(|(j, row)| {
                row.fill(0.0);
                for &b in by_unit.row(j) {
                    axpy(gz.data[b * code + j], a_in.row(b), row);
                }
            });
            gw.bias.fill(0.0);
            for (j, gb) in gw.bias.iter_mut().enumerate() {
                *gb = ws.by_unit.row(j).iter().map(|&b| ws.grad_z.data[b * code + j]).sum();
            }
        } else {
            let mut gb = std::mem::take(&mut gw.bias);
            self.encoder[last].backward(a_in, &ws.grad_z, &mut gw.weight, &mut gb, None)?;
            gw.bias = gb;
        }
        if self.config.tied {
            axpy(1.0, &g_atoms.data, &mut grads.encoder[last].weight.data);
            ws.grad_atoms = g_atoms;
        } else {
            grads.decoder_weight = g_atoms;
        }
        // The trained layers below the code layer: dense backpropagation through their ReLUs.
        let mut below = last;
        while below > self.config.fixed {
            // dL/da_{below-1} = dL/dz_below W_below.
            let w = &self.encoder[below].weight;
            let ga = &mut ws.grad_a;
            ga.resize(n, w.cols);
            if below == last && sparse {
                let (gz, by_example) = (&ws.grad_z, &ws.by_example);
                ga.data.par_chunks_mut(w.cols.max(1)).enumerate().for_each(|(b, row)| {
                    row.fill(0.0);
                    for &j in by_example.row(b) {
                        axpy(gz.data[b * code + j], w.row(j), row);
                    }
                });
            } else {
                matmul(ga, &ws.grad_z, Op::N, w, Op::N, false)?;
            }
            let i = below - 1;
            // Through the ReLU of layer i.
            ga.data.iter_mut().zip(&ws.pre[i].data).for_each(|(g, &z)| {
                if z <= 0.0 {
                    *g = 0.0;
                }
            });
            std::mem::swap(&mut ws.grad_z, &mut ws.grad_a);
            let a_in = if i == 0 { x } else { &ws.act[i - 1] };
            let gl = &mut grads.encoder[i];
            let mut gb = std::mem::take(&mut gl.bias);
            self.encoder[i].backward(a_in, &ws.grad_z, &mut gl.weight, &mut gb, None)?;
            gl.bias = gb;
            below = i;
        }
        for gl in &mut grads.encoder[..self.config.fixed] {
            gl.weight.data.fill(0.0);
            gl.bias.fill(0.0);
        }
        Ok(loss)
    }

    /// The squared reconstruction error per example of `x` with the training-time sparsity, the
    /// examples taken in consecutive mini-batches of `batch` (a last short batch joins the one before).
    pub fn reconstruction_error(&self, x: &Matrix, batch: usize) -> Result<f64> {
        let mut ws = FcWtaWorkspace::default();
        let mut total = 0.0;
        for (start, end) in eval_batches(x.rows, batch) {
            let part = Matrix { rows: end - start, cols: x.cols, data: x.data[start * x.cols..end * x.cols].to_vec() };
            self.forward_train(&part, &mut ws)?;
            total += self.loss(&part, &ws) * (end - start) as f64;
        }
        Ok(total / x.rows.max(1) as f64)
    }

    /// Evaluation-mode encoder: ReLU in every layer (no sparsity), layers `0..upto`.
    fn encode_relu(&self, x: &Matrix, upto: usize, out: &mut Vec<LayerOutput>) -> Result<()> {
        if upto > self.encoder.len() {
            return Err(Error::param("layers", upto, format!("at most the {} encoder layers", self.encoder.len())));
        }
        if out.len() < upto {
            out.resize_with(upto, LayerOutput::default);
        }
        for i in 0..upto {
            let (done, rest) = out.split_at_mut(i);
            let input = if i == 0 { x } else { &done[i - 1].out };
            let o = &mut rest[0];
            self.encoder[i].forward(input, &mut o.pre)?;
            o.out.resize(o.pre.rows, o.pre.cols);
            o.out.data.iter_mut().zip(&o.pre.data).for_each(|(a, &z)| *a = z.max(0.0));
            o.winners.clear();
            o.winners.extend(o.pre.data.iter().map(|&z| z > 0.0));
        }
        Ok(())
    }
}

/// The fraction of winners among `n x code` codes.
fn density(by_unit: &Csr, n: usize, code: usize) -> f64 {
    by_unit.idx.len() as f64 / (n * code).max(1) as f64
}

/// `recon = h D + c`: sparse over the winners of each example, or a dense GEMM when they are many.
fn decode(atoms: &Matrix, bias: &[f32], h: &Matrix, by_example: &Csr, recon: &mut Matrix) -> Result<()> {
    let (n, code) = (h.rows, h.cols);
    recon.resize(n, atoms.cols);
    for r in 0..n {
        recon.row_mut(r).copy_from_slice(bias);
    }
    let winners = by_example.idx.len();
    if winners as f64 / (n * code).max(1) as f64 <= SPARSE_DENSITY {
        recon.data.par_chunks_mut(atoms.cols.max(1)).enumerate().for_each(|(b, row)| {
            for &j in by_example.row(b) {
                axpy(h.data[b * code + j], atoms.row(j), row);
            }
        });
        Ok(())
    } else {
        matmul(recon, h, Op::N, atoms, Op::N, true)
    }
}

impl Parameters for FcWta {
    fn params(&self) -> Vec<Param<'_>> {
        let mut p = Vec::new();
        for (i, d) in self.encoder.iter().enumerate() {
            let fixed = i < self.config.fixed;
            let (wk, bk) = if fixed { (ParamKind::Fixed, ParamKind::Fixed) } else { (ParamKind::Weight, ParamKind::Bias) };
            p.push(Param::new(format!("encoder.{i}.weight"), vec![d.weight.rows, d.weight.cols], wk, &d.weight.data));
            p.push(Param::new(format!("encoder.{i}.bias"), vec![d.bias.len()], bk, &d.bias));
        }
        if !self.config.tied {
            let w = &self.decoder_weight;
            p.push(Param::new("decoder.weight", vec![w.rows, w.cols], ParamKind::Weight, &w.data));
        }
        p.push(Param::new("decoder.bias", vec![self.decoder_bias.len()], ParamKind::Bias, &self.decoder_bias));
        p
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut p = Vec::new();
        let fixed = self.config.fixed;
        for (i, d) in self.encoder.iter_mut().enumerate() {
            let (wk, bk) = if i < fixed { (ParamKind::Fixed, ParamKind::Fixed) } else { (ParamKind::Weight, ParamKind::Bias) };
            let shape = vec![d.weight.rows, d.weight.cols];
            p.push(ParamMut::new(format!("encoder.{i}.weight"), shape, wk, &mut d.weight.data));
            let len = d.bias.len();
            p.push(ParamMut::new(format!("encoder.{i}.bias"), vec![len], bk, &mut d.bias));
        }
        if !self.config.tied {
            let w = &mut self.decoder_weight;
            let shape = vec![w.rows, w.cols];
            p.push(ParamMut::new("decoder.weight", shape, ParamKind::Weight, &mut w.data));
        }
        let len = self.decoder_bias.len();
        p.push(ParamMut::new("decoder.bias", vec![len], ParamKind::Bias, &mut self.decoder_bias));
        p
    }
}

impl Model for FcWta {
    const KIND: &'static str = "fc-wta";
    type Config = FcWtaConfig;

    fn config(&self) -> &FcWtaConfig {
        &self.config
    }

    fn zeros(config: &FcWtaConfig) -> Result<Self> {
        FcWta::zeros_of(config)
    }

    fn init(config: &FcWtaConfig, seed: u64) -> Result<Self> {
        FcWta::init_seeded(config, seed)
    }

    fn describe(&self) -> String {
        self.config.describe()
    }
}

impl Encoder for FcWta {
    fn input_width(&self) -> usize {
        self.config.input
    }

    /// The encoder layers, all ReLU: the lifetime sparsity of the code layer is a training-time
    /// competition, off at test time (paper B, section 2).
    fn layers(&self) -> Vec<LayerInfo> {
        let last = self.config.hidden.len() - 1;
        self.config
            .hidden
            .iter()
            .enumerate()
            .map(|(i, &h)| {
                let name =
                    if i == last { format!("{h}(lifetime {}%, relu at test)", self.config.sparsity * 100.0) } else { format!("{h}(relu)") };
                LayerInfo { name, pre_width: h, units: h, competition: Competition::Relu, maps: None }
            })
            .collect()
    }

    fn encode(&self, x: &Matrix, upto: usize, out: &mut Vec<LayerOutput>) -> Result<()> {
        self.encode_relu(x, upto, out)
    }

    fn describe(&self) -> String {
        self.config.describe()
    }

    /// The encoder as ReLU layers (no output layer): its linear regions.
    fn dense_stack(&self) -> Option<Result<DenseStack>> {
        let hidden = self.encoder.iter().map(|d| (d.weight.clone(), d.bias.clone(), Competition::Relu)).collect();
        Some(Ok(DenseStack { input: self.config.input, hidden, output: None }))
    }

    /// The decoder's atoms as images (Figures 1 and 2), when the decoder reconstructs the input and
    /// the input is an image; a stack's atoms live in the features of its frozen layers (`None`).
    fn dictionary(&self, image: Option<(usize, usize)>) -> Option<Atoms> {
        let (h, w) = image?;
        if self.config.fixed > 0 || h * w != self.config.input {
            return None;
        }
        let atoms = self.atoms();
        let tiles = (0..atoms.rows).map(|j| atoms.row(j).to_vec()).collect();
        Some(Atoms { shape: (h, w), tiles, what: "decoder atoms".into() })
    }
}

/// Trains an [`FcWta`] by backpropagation of the squared reconstruction error under lifetime
/// sparsity: the learner of [`crate::train::train`] for `[model] type = "fc-wta"`. Scored by the
/// validation reconstruction error (with the training-time sparsity, in mini-batches of the
/// training batch size).
#[derive(Clone, Debug)]
pub struct FcWtaLearner {
    /// The autoencoder.
    pub model: FcWta,
    /// The mini-batch size of training, which the lifetime rate refers to.
    pub batch_size: usize,
    ws: FcWtaWorkspace,
    grads: FcWta,
}

impl FcWtaLearner {
    /// A learner for `model` trained in mini-batches of `batch_size`. A rate that leaves no winner
    /// at that batch size (`sparsity x batch_size < 1`) is refused.
    pub fn new(model: FcWta, batch_size: usize) -> Result<Self> {
        lifetime::check_batch(model.config.sparsity, batch_size)?;
        let grads = FcWta::zeros_of(&model.config)?;
        Ok(FcWtaLearner { model, batch_size, ws: FcWtaWorkspace::default(), grads })
    }

    /// The gradients of the last step.
    pub fn grads(&self) -> &FcWta {
        &self.grads
    }
}

impl Learner for FcWtaLearner {
    type Model = FcWta;

    fn model(&self) -> &FcWta {
        &self.model
    }

    fn model_mut(&mut self) -> &mut FcWta {
        &mut self.model
    }

    fn step(&mut self, batch: &Batch<'_>, _rng: &mut ChaCha8Rng) -> Result<StepOutput> {
        self.model.forward_train(batch.x, &mut self.ws)?;
        let loss = self.model.backward(batch.x, &mut self.ws, &mut self.grads)?;
        Ok(StepOutput { loss, update: Update::Gradients })
    }

    fn model_and_grads(&mut self) -> (&mut FcWta, &dyn Parameters) {
        (&mut self.model, &self.grads)
    }

    fn evaluate(&self, data: &crate::data::Dataset) -> Result<Evaluation> {
        let x = Matrix { rows: data.len(), cols: data.dim, data: data.x.clone() };
        let score = self.model.reconstruction_error(&x, self.batch_size)?;
        Ok(Evaluation { score, errors: None, metrics: vec![("reconstruction_error".into(), score)] })
    }

    fn score_name(&self) -> &'static str {
        "reconstruction error"
    }

    fn encoder(&self) -> Option<&dyn Encoder> {
        Some(&self.model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, dim: usize, seed: u64) -> Matrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Matrix { rows: n, cols: dim, data: (0..n * dim).map(|_| rng.random_range(0.0..1.0)).collect() }
    }

    fn model(config: FcWtaConfig, seed: u64) -> FcWta {
        let mut m = FcWta::init_seeded(&config, seed).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 7);
        for p in m.params_mut() {
            if p.kind == ParamKind::Bias || p.kind == ParamKind::Fixed && p.shape.len() == 1 {
                p.data.iter_mut().for_each(|v| *v = rng.random_range(-0.2..0.2));
            }
        }
        m
    }

    /// Finite differences of the loss against the analytic gradient, with the winners held fixed
    /// (a perturbation that changes a winner is skipped; there are few at this step size).
    fn check_gradients(m: &FcWta, x: &Matrix) {
        let mut ws = FcWtaWorkspace::default();
        let mut grads = FcWta::zeros_of(&m.config).unwrap();
        m.forward_train(x, &mut ws).unwrap();
        let winners0 = ws.winners.clone();
        m.backward(x, &mut ws, &mut grads).unwrap();
        let names: Vec<String> = m.params().iter().map(|p| p.name.to_string()).collect();
        let eps = 3e-3f32;
        let mut checked = 0;
        for (pi, name) in names.iter().enumerate() {
            if m.params()[pi].kind == ParamKind::Fixed {
                // Frozen: no gradient by design (the stack's lower layers are not trained).
                assert!(grads.params()[pi].data.iter().all(|&g| g == 0.0), "{name} has a gradient");
                continue;
            }
            let len = m.params()[pi].data.len();
            for idx in (0..len).step_by((len / 23).max(1)) {
                let mut plus = m.clone();
                let mut minus = m.clone();
                plus.params_mut()[pi].data[idx] += eps;
                minus.params_mut()[pi].data[idx] -= eps;
                let (mut wp, mut wm) = (FcWtaWorkspace::default(), FcWtaWorkspace::default());
                plus.forward_train(x, &mut wp).unwrap();
                minus.forward_train(x, &mut wm).unwrap();
                if wp.winners != winners0 || wm.winners != winners0 {
                    continue;
                }
                let fd = (plus.loss(x, &wp) - minus.loss(x, &wm)) / (2.0 * f64::from(eps));
                let an = f64::from(grads.params()[pi].data[idx]);
                assert!((fd - an).abs() <= 2e-3 + 2e-2 * fd.abs(), "{name}[{idx}]: finite differences {fd}, backprop {an}");
                checked += 1;
            }
        }
        assert!(checked > 30, "only {checked} entries checked");
    }

    #[test]
    fn gradients_match_finite_differences_shallow_deep_tied_and_stacked() {
        let x = data(20, 6, 1);
        check_gradients(&model(FcWtaConfig::new(6, &[8], 0.2).unwrap(), 2), &x);
        check_gradients(&model(FcWtaConfig::new(6, &[7, 5], 0.15).unwrap(), 3), &x);
        check_gradients(&model(FcWtaConfig::new(6, &[7, 5], 0.3).unwrap(), 3), &x);
        check_gradients(&model(FcWtaConfig { tied: true, ..FcWtaConfig::new(6, &[8], 0.2).unwrap() }, 4), &x);
        let stacked = FcWtaConfig { fixed: 1, ..FcWtaConfig::new(6, &[7, 5, 4], 0.25).unwrap() };
        check_gradients(&model(stacked, 5), &x);
        // Dense path (rate 1: every positive activation wins).
        check_gradients(&model(FcWtaConfig::new(6, &[8, 4], 1.0).unwrap(), 6), &x);
    }

    #[test]
    fn sparse_and_dense_products_agree() {
        // The sparse decode (5%: below SPARSE_DENSITY) against an explicit dense product; the
        // backward's two paths are both held to finite differences (rates below and above it).
        let m = model(FcWtaConfig::new(10, &[40], 0.05).unwrap(), 8);
        let x = data(100, 10, 9);
        let mut ws = FcWtaWorkspace::default();
        m.forward_train(&x, &mut ws).unwrap();
        let h = &ws.act[0];
        assert_eq!(ws.winners.iter().filter(|&&w| w).count(), ws.by_unit.idx.len());
        assert!(density(&ws.by_unit, 100, 40) <= SPARSE_DENSITY);
        let mut dense = Matrix::zeros(100, 10);
        for r in 0..100 {
            dense.row_mut(r).copy_from_slice(&m.decoder_bias);
        }
        matmul(&mut dense, h, Op::N, &m.decoder_weight, Op::N, true).unwrap();
        for (a, b) in ws.recon.data.iter().zip(&dense.data) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // Every unit keeps at most ceil(5% of 100) = 5 examples, and the kept codes are the largest.
        for j in 0..40 {
            let kept = ws.by_unit.row(j);
            assert!(kept.len() <= 5);
            let min_kept = kept.iter().map(|&b| h.data[b * 40 + j]).fold(f32::INFINITY, f32::min);
            let max_dropped = (0..100).filter(|b| !kept.contains(b)).map(|b| ws.pre[0].data[b * 40 + j]).fold(f32::NEG_INFINITY, f32::max);
            assert!(kept.is_empty() || min_kept >= max_dropped, "unit {j}: kept {min_kept} < dropped {max_dropped}");
        }
    }

    #[test]
    fn lifetime_sparsity_on_a_hand_made_batch_with_ties() {
        // One unit (identity weight), four examples; 50% keeps 2; the tie 3 = 3 goes to the earlier.
        let mut m = FcWta::zeros_of(&FcWtaConfig::new(1, &[1], 0.5).unwrap()).unwrap();
        m.encoder[0].weight.data[0] = 1.0;
        m.decoder_weight.data[0] = 1.0;
        let x = Matrix::from_vec(4, 1, vec![3.0, 1.0, 3.0, 5.0]).unwrap();
        let mut ws = FcWtaWorkspace::default();
        m.forward_train(&x, &mut ws).unwrap();
        assert_eq!(ws.winners, [true, false, false, true]);
        assert_eq!(ws.recon.data, [3.0, 0.0, 0.0, 5.0]);
        assert!((m.loss(&x, &ws) - (1.0 + 9.0) / 4.0).abs() < 1e-9);
    }

    #[test]
    fn bad_configurations_are_refused_with_their_values() {
        let e = FcWtaConfig::new(784, &[2000], 0.0).unwrap_err().to_string();
        assert!(e.contains("model.sparsity") && e.contains("(0, 1]"), "{e}");
        assert!(FcWtaConfig::new(784, &[2000], 1.5).is_err());
        let e = FcWtaConfig { tied: true, ..FcWtaConfig::new(784, &[100, 50], 0.1).unwrap() }.validate().unwrap_err().to_string();
        assert!(e.contains("model.tied") && e.contains("trains 2"), "{e}");
        let m = FcWta::init_seeded(&FcWtaConfig::new(4, &[3], 0.05).unwrap(), 1).unwrap();
        let e = FcWtaLearner::new(m, 10).unwrap_err().to_string();
        assert!(e.contains("0.05") && e.contains("batch_size = 10") && e.contains("0.500"), "{e}");
    }

    #[test]
    fn a_stack_keeps_the_base_encoder_and_never_changes_it() {
        use crate::train::optim::{Optimizer, OptimizerKind, StepParams};
        let base = model(FcWtaConfig::new(6, &[8], 0.2).unwrap(), 11);
        let st = FcWta::stacked_on(&base, &[5], 0.4, false, 12).unwrap();
        assert_eq!(st.config.fixed, 1);
        assert_eq!(st.config.target_width(), 8);
        assert_eq!(st.encoder[0], base.encoder[0]);
        let x = data(10, 6, 13);
        let mut learner = FcWtaLearner::new(st.clone(), 10).unwrap();
        let mut opt = Optimizer::new(OptimizerKind::Sgd, &learner.model, vec![]).unwrap();
        let p = StepParams { lr: 0.1, momentum: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut losses = Vec::new();
        for step in 0..20 {
            let out = learner.step(&Batch { x: &x, labels: &[], epoch: 1, step, lr: 0.1 }, &mut rng).unwrap();
            losses.push(out.loss);
            let (model, grads) = learner.model_and_grads();
            opt.step(model, grads, p, out.update).unwrap();
        }
        assert_eq!(learner.model.encoder[0], base.encoder[0], "the frozen layer moved");
        assert_ne!(learner.model.encoder[1], st.encoder[1]);
        assert!(losses[19] < losses[0], "{losses:?}");
        // The features of the stack are those of its top layer.
        let mut out = Vec::new();
        learner.model.encode(&x, 2, &mut out).unwrap();
        assert_eq!(out[1].out.cols, 5);
        let e = FcWta::stacked_on(&base, &[], 0.1, false, 1).unwrap_err().to_string();
        assert!(e.contains("model.hidden"), "{e}");
    }

    #[test]
    fn training_lowers_the_reconstruction_error_and_evaluation_is_chunked() {
        use crate::train::optim::{Optimizer, OptimizerKind, StepParams};
        let x = data(50, 12, 21);
        let m = FcWta::init_seeded(&FcWtaConfig::new(12, &[30], 0.1).unwrap(), 22).unwrap();
        let before = m.reconstruction_error(&x, 25).unwrap();
        let mut learner = FcWtaLearner::new(m, 25).unwrap();
        let mut opt = Optimizer::new(OptimizerKind::Adam, &learner.model, vec![]).unwrap();
        let p = StepParams { lr: 0.01, momentum: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for step in 0..200 {
            let half = Matrix { rows: 25, cols: 12, data: x.data[(step % 2) * 300..(step % 2 + 1) * 300].to_vec() };
            let out = learner.step(&Batch { x: &half, labels: &[], epoch: 1, step, lr: 0.1 }, &mut rng).unwrap();
            let (model, grads) = learner.model_and_grads();
            opt.step(model, grads, p, out.update).unwrap();
        }
        let after = learner.model.reconstruction_error(&x, 25).unwrap();
        assert!(after < 0.5 * before, "{before} -> {after}");
        assert_eq!(eval_batches(107, 25), [(0, 25), (25, 50), (50, 75), (75, 107)]);
        assert_eq!(eval_batches(10, 25), [(0, 10)]);
    }
}
