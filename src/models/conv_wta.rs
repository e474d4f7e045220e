//! The convolutional winner-take-all autoencoder (CONV-WTA) of paper B, section 3, and its stacks.
//!
//! An encoder of ReLU convolutions ("same" zero padding, so every map has the input's size) and a
//! linear transposed-convolution decoder of larger filters (e.g. `128conv5-128conv5-128deconv11`,
//! Figure 4b), trained to reconstruct (mean squared error) under two sparsities of the last
//! encoder layer's maps:
//!
//! ```text
//! a_0 = x,   a_i = relu(conv_i(a_{i-1}))                       (the encoder)
//! h   = lifetime_k(spatial(relu(conv_L(a_{L-1}))))             (sections 3.1 and 3.2; competition::spatial)
//! x^  = deconv(h)                                              (the decoder, appendix A.1: same-size output)
//! L   = (1/n) sum_b || x^_b - t_b ||^2
//! ```
//!
//! *Spatial sparsity* keeps, per example and feature map, only the single largest activity;
//! *lifetime sparsity* then keeps, per map, the `k%` largest of those winners across the mini-batch;
//! the error is backpropagated only through the kept units (sections 3.1, 3.2). `sparsity = 1` is
//! spatial sparsity alone.
//!
//! At test time both sparsities are off: the features are the ReLU maps of the last layer,
//! max-pooled (`pool`, e.g. 4x4; section 3.1: "we simply turn off the sparsity regularizer and use
//! ReLU convolutions to compute the last layer feature maps of the encoder. After that, we apply
//! max-pooling"). [`ConvWta::pooled_features`] computes them (the model's [`Encoder::features`]).
//!
//! **Stacking** (section 3.3): a second CONV-WTA is trained on the pooled maps of a first. A model
//! has one or more *stages*; all but the last are frozen ([`ParamKind::Fixed`]), each stage's pooled
//! output is the next one's input, and the decoder reconstructs the last stage's input. A stack is
//! thus one model whose features are the pooled maps of its top stage ([`ConvWta::stacked_on`]).
//!
//! **Without winner-take-all** (`wta = false`): a plain convolutional autoencoder with the trainer's
//! dropout on its input (`train.dropout_input`, the target stays clean) and on the last maps
//! (`train.dropout_hidden`): Figure 4a's network, which learns delta functions.
//!
//! **Sparse products.** After spatial sparsity each example keeps at most one value per map, so the
//! decoder, its gradient, and the last convolution's gradients only visit the winners: a winner
//! costs one `k x k` patch per channel. Only the encoder's forward pass and the layers below the
//! last are dense; the dense layer code ([`ConvTranspose2d`], [`Conv2d::backward`]) gives the same
//! numbers (tested) and runs the `wta = false` model.
//!
//! # Parameters
//!
//! `encoder.{i}.weight` `[maps, in_channels, k, k]` and `encoder.{i}.bias` for every convolution of
//! every stage in order (PyTorch's `Conv2d` layout); `decoder.weight` `[maps, target channels, k, k]`
//! and `decoder.bias` (PyTorch's `ConvTranspose2d` layout).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::competition::{Competition, spatial};
use crate::error::{Error, Result};
use crate::io::memory::{bytes, check_alloc};
use crate::layers::MapShape;
use crate::layers::conv::{Conv2d, Conv2dConfig, Padding};
use crate::layers::conv_transpose::{ConvTranspose2d, ConvTranspose2dConfig};
use crate::layers::dropout::{Dropout, apply_keep_mask, draw_keep_mask};
use crate::layers::pool::MaxPool2d;
use crate::models::Model;
use crate::models::encoder::{Atoms, Encoder, LayerInfo, LayerOutput};
use crate::models::learner::{Batch, Evaluation, Learner, StepOutput, Update, eval_batches};
use crate::params::{Param, ParamKind, ParamMut, Parameters};
use crate::tensor::Matrix;

/// No winner in this map.
const NONE: usize = usize::MAX;

/// One stage of a CONV-WTA: its convolutions and the pooling of its last maps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvWtaStage {
    /// Side of every convolution's square filters (paper B: 5).
    pub kernel: usize,
    /// Maps of each convolution, input side first (e.g. `[128, 128]`).
    pub maps: Vec<usize>,
    /// Side of the max-pooling windows of the features (paper B: 4).
    pub pool: usize,
    /// Step between pooling windows.
    pub pool_stride: usize,
}

/// The architecture of a CONV-WTA autoencoder (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvWtaConfig {
    /// The input maps (one channel of 28x28 for MNIST).
    pub input: MapShape,
    /// The stages; all but the last are frozen.
    pub stages: Vec<ConvWtaStage>,
    /// Side of the decoder's filters (odd, so that the output has the target's size; paper B: 11).
    pub decoder_kernel: usize,
    /// Lifetime sparsity rate over the spatial winners, in `(0, 1]` (1: spatial sparsity only).
    pub sparsity: f32,
    /// Spatial and lifetime winner-take-all on (the paper's model); off: a plain convolutional
    /// autoencoder (Figure 4a).
    #[serde(default = "yes")]
    pub wta: bool,
}

fn yes() -> bool {
    true
}

/// The shapes of one stage: its input, its maps, its pooled output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageShapes {
    /// The stage's input.
    pub input: MapShape,
    /// Its last convolution's maps.
    pub maps: MapShape,
    /// The pooled maps (features, or the next stage's input).
    pub pooled: MapShape,
}

impl ConvWtaConfig {
    /// Checks every field and returns the shapes of the stages.
    pub fn shapes(&self) -> Result<Vec<StageShapes>> {
        if self.stages.is_empty() {
            return Err(Error::param("conv-wta stages", 0, "at least one stage of convolutions"));
        }
        if self.wta {
            crate::competition::lifetime::check_rate(self.sparsity).map_err(|_| {
                Error::param("model.sparsity", self.sparsity, "a lifetime sparsity rate in (0, 1] (1: spatial sparsity only)")
            })?;
        }
        if self.decoder_kernel.is_multiple_of(2) {
            return Err(Error::param(
                "model.decoder_kernel",
                self.decoder_kernel,
                "an odd filter side (e.g. 11): a transposed convolution of stride 1 gives a same-size output only with (k - 1) / 2 zeros on each side",
            ));
        }
        let mut input = self.input;
        let mut out = Vec::with_capacity(self.stages.len());
        for (s, st) in self.stages.iter().enumerate() {
            if st.maps.is_empty() {
                return Err(Error::param(format!("stage {s} maps"), "[]", "at least one convolution, e.g. [128, 128]"));
            }
            if let Some(i) = st.maps.iter().position(|&m| m == 0) {
                return Err(Error::param(format!("stage {s} maps[{i}]"), 0, "at least 1 map"));
            }
            if st.kernel.is_multiple_of(2) {
                return Err(Error::param(
                    "model.kernel",
                    st.kernel,
                    "an odd filter side (e.g. 5): the maps keep the input's size with (k - 1) / 2 zeros on each side",
                ));
            }
            let maps = MapShape::new("conv-wta maps", *st.maps.last().unwrap_or(&1), input.height, input.width)?;
            let pooled = MaxPool2d::new(st.pool, st.pool_stride).and_then(|p| p.output_shape(maps)).map_err(|e| {
                Error::param(
                    "model.pool",
                    format!("{} / stride {}", st.pool, st.pool_stride),
                    format!("a pooling that fits maps of {maps} ({e})"),
                )
            })?;
            out.push(StageShapes { input, maps, pooled });
            input = pooled;
        }
        Ok(out)
    }

    /// The trained stage's input: the decoder's target.
    pub fn target(&self) -> Result<MapShape> {
        Ok(self.shapes()?.last().map(|s| s.input).unwrap_or(self.input))
    }

    /// How many convolutions are frozen (those of every stage but the last).
    pub fn fixed_convs(&self) -> usize {
        self.stages[..self.stages.len().saturating_sub(1)].iter().map(|s| s.maps.len()).sum()
    }

    /// `1x28x28-128conv5-128conv5(spatial, lifetime 5%)-deconv11, pool 4/4`; frozen stages in brackets.
    pub fn describe(&self) -> String {
        let mut s = format!("{}x{}x{}", self.input.channels, self.input.height, self.input.width);
        let last = self.stages.len().saturating_sub(1);
        for (i, st) in self.stages.iter().enumerate() {
            let convs: Vec<String> = st.maps.iter().map(|m| format!("{m}conv{}", st.kernel)).collect();
            let mut part = convs.join("-");
            if i == last {
                if self.wta {
                    part.push_str(&format!("(spatial, lifetime {}%)", self.sparsity * 100.0));
                }
                s.push_str(&format!("-{part}-deconv{}, pool {}/{}", self.decoder_kernel, st.pool, st.pool_stride));
            } else {
                s.push_str(&format!("-[{part}, pool {}/{}]", st.pool, st.pool_stride));
            }
        }
        s
    }
}

/// A CONV-WTA autoencoder (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvWta {
    /// The architecture.
    pub config: ConvWtaConfig,
    /// The shapes of the stages.
    pub shapes: Vec<StageShapes>,
    /// Every convolution of every stage, in order.
    pub convs: Vec<Conv2d>,
    /// The decoder.
    pub decoder: ConvTranspose2d,
}

/// The buffers of one training pass, reused across steps.
#[derive(Clone, Debug, Default)]
pub struct ConvWtaWorkspace {
    /// The trained stage's input (after input dropout, when it applies), `[n, input]`.
    input: Vec<f32>,
    /// Its clean version, the decoder's target.
    target: Vec<f32>,
    /// Pre-activations and outputs of the trained stage's convolutions.
    pre: Vec<Vec<f32>>,
    act: Vec<Vec<f32>>,
    /// The winner's position in each map `(b, c)` (or [`NONE`]).
    win: Vec<usize>,
    /// The competition's winner flags (reused across steps).
    winners: Vec<bool>,
    /// Keep-masks of the dropout (plain autoencoder).
    keep_in: Vec<bool>,
    keep_h: Vec<bool>,
    /// The reconstruction `[n, target]`.
    pub recon: Vec<f32>,
    n: usize,
}

/// `(lo, hi)`: the filter taps `t` in `lo..hi` for which `pos + t - pad` lies in `0..len`.
fn taps(pos: usize, k: usize, pad: usize, len: usize) -> (usize, usize) {
    (pad.saturating_sub(pos), k.min(len + pad - pos))
}

impl ConvWta {
    /// An autoencoder of zeros for `config` (checked; memory refused before allocating).
    pub fn zeros_of(config: &ConvWtaConfig) -> Result<Self> {
        let shapes = config.shapes()?;
        let mut convs = Vec::new();
        let mut count: u128 = 0;
        for (st, sh) in config.stages.iter().zip(&shapes) {
            let mut c_in = sh.input.channels;
            for &m in &st.maps {
                count += (m as u128) * (c_in as u128 * (st.kernel * st.kernel) as u128 + 1);
                c_in = m;
            }
        }
        let target = config.target()?;
        let last = shapes[shapes.len() - 1].maps.channels;
        count += (last * target.channels * config.decoder_kernel * config.decoder_kernel + target.channels) as u128;
        check_alloc(&format!("the parameters of the CONV-WTA {} (weights, gradients, optimizer state)", config.describe()), count * 16)?;
        for (st, sh) in config.stages.iter().zip(&shapes) {
            let mut c_in = sh.input.channels;
            for &m in &st.maps {
                convs.push(Conv2d::zeros(Conv2dConfig {
                    in_channels: c_in,
                    out_channels: m,
                    kernel: st.kernel,
                    stride: 1,
                    padding: Padding::Same,
                })?);
                c_in = m;
            }
        }
        let decoder = ConvTranspose2d::zeros(ConvTranspose2dConfig::same(last, target.channels, config.decoder_kernel))?;
        Ok(ConvWta { config: config.clone(), shapes, convs, decoder })
    }

    /// A fresh autoencoder: convolutions He-uniform (`b = sqrt(6 / (in k k))`), decoder filters
    /// Glorot-uniform over the decoder's fans, biases 0. The paper does not state its initialisation.
    pub fn init_seeded(config: &ConvWtaConfig, seed: u64) -> Result<Self> {
        let mut m = ConvWta::zeros_of(config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for c in &mut m.convs {
            let k = c.config.kernel;
            let b = (6.0 / (c.config.in_channels * k * k) as f32).sqrt();
            c.weight.iter_mut().for_each(|w| *w = rng.random_range(-b..b));
        }
        let d = m.decoder.config;
        let kk = d.kernel * d.kernel;
        let b = (6.0 / ((d.in_channels + d.out_channels) * kk) as f32).sqrt();
        m.decoder.weight.iter_mut().for_each(|w| *w = rng.random_range(-b..b));
        Ok(m)
    }

    /// A stack (section 3.3): `base`'s stages, all frozen, and a new stage on their pooled output.
    pub fn stacked_on(base: &ConvWta, stage: ConvWtaStage, decoder_kernel: usize, sparsity: f32, seed: u64) -> Result<Self> {
        let mut stages = base.config.stages.clone();
        stages.push(stage);
        let config = ConvWtaConfig { input: base.config.input, stages, decoder_kernel, sparsity, wta: true };
        let mut m = ConvWta::init_seeded(&config, seed)?;
        m.convs[..base.convs.len()].clone_from_slice(&base.convs);
        Ok(m)
    }

    /// Input values per example.
    pub fn input_width(&self) -> usize {
        self.config.input.size()
    }

    /// Runs stage `s` (ReLU convolutions, no sparsity) on `x`, returning its last maps (pooled when
    /// `pool`).
    fn run_stage(&self, s: usize, x: &[f32], n: usize, pool: bool) -> Result<Vec<f32>> {
        let first: usize = self.config.stages[..s].iter().map(|st| st.maps.len()).sum();
        let mut shape = self.shapes[s].input;
        let mut a = x.to_vec();
        let mut z = Vec::new();
        for conv in &self.convs[first..first + self.config.stages[s].maps.len()] {
            shape = conv.forward(&a, n, shape, &mut z)?;
            z.iter_mut().for_each(|v| *v = v.max(0.0));
            std::mem::swap(&mut a, &mut z);
        }
        if pool {
            let st = &self.config.stages[s];
            let (mut out, mut w, mut am) = (Vec::new(), Vec::new(), Vec::new());
            MaxPool2d::new(st.pool, st.pool_stride)?.forward(&a, n, shape, &mut out, &mut w, &mut am)?;
            Ok(out)
        } else {
            Ok(a)
        }
    }

    /// The input of the trained stage for `x`: `x`, or the pooled output of the frozen stages.
    fn stage_input(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let mut a = x.to_vec();
        for s in 0..self.config.stages.len() - 1 {
            a = self.run_stage(s, &a, n, true)?;
        }
        Ok(a)
    }

    /// The features of `x` (`[n, input]`): the ReLU maps of the top stage, max-pooled, sparsity off
    /// (section 3.1), in chunks of 100 examples; `[n, pooled size]`.
    pub fn pooled_features(&self, x: &Matrix) -> Result<Matrix> {
        if x.cols != self.input_width() {
            return Err(Error::shape(
                "conv-wta features input",
                format!("{} values per example", x.cols),
                format!("{}", self.input_width()),
            ));
        }
        let width = self.shapes[self.shapes.len() - 1].pooled.size();
        check_alloc("the CONV-WTA features", bytes(&[x.rows, width], 4))?;
        let mut out = Matrix::zeros(x.rows, width);
        let chunk = 100;
        for (c, rows) in out.data.chunks_mut(chunk * width.max(1)).enumerate() {
            let n = rows.len() / width.max(1);
            let xs = &x.data[c * chunk * x.cols..(c * chunk + n) * x.cols];
            let mut a = xs.to_vec();
            for s in 0..self.config.stages.len() {
                a = self.run_stage(s, &a, n, true)?;
            }
            rows.copy_from_slice(&a);
        }
        Ok(out)
    }

    /// Training forward pass of `x` (`[n, input]`): frozen stages, the trained stage with spatial and
    /// lifetime sparsity on its last maps (or dropout without WTA), and the reconstruction.
    pub fn forward_train(&self, x: &Matrix, ws: &mut ConvWtaWorkspace, dropout: Dropout, rng: Option<&mut ChaCha8Rng>) -> Result<()> {
        if x.cols != self.input_width() {
            return Err(Error::shape("conv-wta input", format!("{} values per example", x.cols), format!("{}", self.input_width())));
        }
        let n = x.rows;
        ws.n = n;
        let sh = self.shapes[self.shapes.len() - 1];
        let stage = &self.config.stages[self.config.stages.len() - 1];
        let first = self.config.fixed_convs();
        let layers = stage.maps.len();
        check_alloc("the CONV-WTA activations", bytes(&[n, sh.maps.size(), 2 * layers + 1], 4))?;
        ws.target = self.stage_input(&x.data, n)?;
        ws.input.clone_from(&ws.target);
        let mut rng = rng;
        if !self.config.wta
            && dropout.input > 0.0
            && let Some(r) = rng.as_deref_mut()
        {
            draw_keep_mask(r, dropout.input, ws.input.len(), &mut ws.keep_in);
            apply_keep_mask(&mut ws.input, &ws.keep_in, dropout.input);
        }
        ws.pre.resize_with(layers, Vec::new);
        ws.act.resize_with(layers, Vec::new);
        let mut shape = sh.input;
        for i in 0..layers {
            let input = if i == 0 { &ws.input } else { &ws.act[i - 1] };
            let mut pre = std::mem::take(&mut ws.pre[i]);
            shape = self.convs[first + i].forward(input, n, shape, &mut pre)?;
            let act = &mut ws.act[i];
            act.resize(pre.len(), 0.0);
            if i + 1 < layers || !self.config.wta {
                act.iter_mut().zip(&pre).for_each(|(a, &z)| *a = z.max(0.0));
            } else {
                let winners = &mut ws.winners;
                winners.clear();
                winners.resize(pre.len(), false);
                // Sections 3.1 and 3.2: the largest value of each map, then the k% largest winners
                // of each map across the mini-batch.
                spatial::forward_lifetime(&pre, [n, shape.channels, shape.height, shape.width], self.config.sparsity, act, winners)?;
                let hw = shape.plane();
                ws.win.clear();
                ws.win.extend(winners.chunks(hw.max(1)).map(|m| m.iter().position(|&w| w).unwrap_or(NONE)));
            }
            ws.pre[i] = pre;
        }
        ws.keep_h.clear();
        if !self.config.wta
            && dropout.hidden > 0.0
            && let Some(r) = rng
        {
            draw_keep_mask(r, dropout.hidden, ws.act[layers - 1].len(), &mut ws.keep_h);
            apply_keep_mask(&mut ws.act[layers - 1], &ws.keep_h, dropout.hidden);
        }
        let h = &ws.act[layers - 1];
        if self.config.wta {
            self.decode_sparse(h, &ws.win, n, &mut ws.recon);
        } else {
            self.decoder.forward(h, n, sh.maps, &mut ws.recon)?;
        }
        Ok(())
    }

    /// The decoder over the winners only: each winner adds its value times its map's filters
    /// around its position (the transposed convolution of [`ConvTranspose2d`], restricted to the
    /// non-zero inputs).
    fn decode_sparse(&self, h: &[f32], win: &[usize], n: usize, recon: &mut Vec<f32>) {
        let sh = self.shapes[self.shapes.len() - 1];
        let (maps, t) = (sh.maps, sh.input);
        let (k, pad) = (self.config.decoder_kernel, (self.config.decoder_kernel - 1) / 2);
        let (hh, ww, plane) = (t.height, t.width, t.plane());
        recon.clear();
        recon.resize(n * t.size(), 0.0);
        let w = &self.decoder.weight;
        recon.par_chunks_mut(t.size()).enumerate().for_each(|(b, out)| {
            for (o, map) in out.chunks_mut(plane).enumerate() {
                map.fill(self.decoder.bias[o]);
            }
            for c in 0..maps.channels {
                let p = win[b * maps.channels + c];
                if p == NONE {
                    continue;
                }
                let v = h[(b * maps.channels + c) * maps.plane() + p];
                let (i, j) = (p / maps.width, p % maps.width);
                let ((y0, y1), (x0, x1)) = (taps(i, k, pad, hh), taps(j, k, pad, ww));
                for o in 0..t.channels {
                    let f = &w[(c * t.channels + o) * k * k..][..k * k];
                    for ky in y0..y1 {
                        let row = &mut out[o * plane + (i + ky - pad) * ww..][..ww];
                        for kx in x0..x1 {
                            row[j + kx - pad] += v * f[ky * k + kx];
                        }
                    }
                }
            }
        });
    }

    /// The loss of the last [`ConvWta::forward_train`] (squared error per example).
    pub fn loss(&self, ws: &ConvWtaWorkspace) -> f64 {
        let sq: f64 = ws.recon.iter().zip(&ws.target).map(|(&r, &t)| f64::from(r - t).powi(2)).sum();
        sq / ws.n.max(1) as f64
    }

    /// Backward pass after [`ConvWta::forward_train`]: overwrites `grads` with the loss gradient
    /// (frozen stages: zero) and returns the loss.
    pub fn backward(&self, ws: &mut ConvWtaWorkspace, grads: &mut ConvWta, dropout: Dropout) -> Result<f32> {
        if grads.config != self.config {
            return Err(Error::shape("CONV-WTA gradient buffer", grads.config.describe(), self.config.describe()));
        }
        let n = ws.n;
        let loss = self.loss(ws) as f32;
        let sh = self.shapes[self.shapes.len() - 1];
        let first = self.config.fixed_convs();
        let layers = self.convs.len() - first;
        let scale = 2.0 / n.max(1) as f32;
        let g: Vec<f32> = ws.recon.iter().zip(&ws.target).map(|(&r, &t)| scale * (r - t)).collect();
        // dL/dz of the last convolution.
        let mut gz = vec![0.0; n * sh.maps.size()];
        if self.config.wta {
            self.decoder_backward_sparse(&ws.act[layers - 1], &ws.win, n, &g, &mut grads.decoder, &mut gz);
        } else {
            let d = &mut grads.decoder;
            self.decoder.backward(&ws.act[layers - 1], n, sh.maps, &g, &mut d.weight, &mut d.bias, Some(&mut gz))?;
            if !ws.keep_h.is_empty() {
                apply_keep_mask(&mut gz, &ws.keep_h, dropout.hidden);
            }
            gz.iter_mut().zip(&ws.pre[layers - 1]).for_each(|(g, &z)| {
                if z <= 0.0 {
                    *g = 0.0;
                }
            });
        }
        // The convolutions of the trained stage, top down.
        let shape_in =
            |i: usize| if i == 0 { sh.input } else { MapShape { channels: self.convs[first + i - 1].config.out_channels, ..sh.maps } };
        for i in (0..layers).rev() {
            let conv = &self.convs[first + i];
            let input = if i == 0 { &ws.input } else { &ws.act[i - 1] };
            let gc = &mut grads.convs[first + i];
            let mut ga = if i > 0 { Some(vec![0.0; input.len()]) } else { None };
            if i + 1 == layers && self.config.wta {
                self.conv_backward_sparse(conv, input, shape_in(i), &ws.win, n, &gz, gc, ga.as_deref_mut());
            } else {
                conv.backward(input, n, shape_in(i), &gz, &mut gc.weight, &mut gc.bias, ga.as_deref_mut())?;
            }
            if let Some(mut ga) = ga {
                ga.iter_mut().zip(&ws.pre[i - 1]).for_each(|(g, &z)| {
                    if z <= 0.0 {
                        *g = 0.0;
                    }
                });
                gz = ga;
            }
        }
        for c in &mut grads.convs[..first] {
            c.weight.fill(0.0);
            c.bias.fill(0.0);
        }
        Ok(loss)
    }

    /// The decoder's gradients over the winners (filters and bias into `grad`) and `dL/dz` of the
    /// last maps at the winners (`gz`, zero elsewhere).
    fn decoder_backward_sparse(&self, h: &[f32], win: &[usize], n: usize, g: &[f32], grad: &mut ConvTranspose2d, gz: &mut [f32]) {
        let sh = self.shapes[self.shapes.len() - 1];
        let (maps, t) = (sh.maps, sh.input);
        let (k, pad) = (self.config.decoder_kernel, (self.config.decoder_kernel - 1) / 2);
        let (hh, ww, plane, kk) = (t.height, t.width, t.plane(), k * k);
        let w = &self.decoder.weight;
        // Bias: the gradient summed over examples and positions.
        grad.bias.iter_mut().enumerate().for_each(|(o, gb)| {
            *gb = (0..n).map(|b| g[b * t.size() + o * plane..][..plane].iter().sum::<f32>()).sum();
        });
        // Filters of map c: sum over its winners of value x the output gradient patch.
        grad.weight.par_chunks_mut(t.channels * kk).enumerate().for_each(|(c, gw)| {
            gw.fill(0.0);
            for b in 0..n {
                let p = win[b * maps.channels + c];
                if p == NONE {
                    continue;
                }
                let v = h[(b * maps.channels + c) * maps.plane() + p];
                let (i, j) = (p / maps.width, p % maps.width);
                let ((y0, y1), (x0, x1)) = (taps(i, k, pad, hh), taps(j, k, pad, ww));
                for o in 0..t.channels {
                    let gb = &g[b * t.size() + o * plane..][..plane];
                    for ky in y0..y1 {
                        let row = &gb[(i + ky - pad) * ww..][..ww];
                        for kx in x0..x1 {
                            gw[o * kk + ky * k + kx] += v * row[j + kx - pad];
                        }
                    }
                }
            }
        });
        // dL/dh at each winner: its filters against the output gradient patch.
        gz.par_chunks_mut(maps.size()).enumerate().for_each(|(b, gzb)| {
            for c in 0..maps.channels {
                let p = win[b * maps.channels + c];
                if p == NONE {
                    continue;
                }
                let (i, j) = (p / maps.width, p % maps.width);
                let ((y0, y1), (x0, x1)) = (taps(i, k, pad, hh), taps(j, k, pad, ww));
                let mut s = 0.0;
                for o in 0..t.channels {
                    let f = &w[(c * t.channels + o) * kk..][..kk];
                    let gb = &g[b * t.size() + o * plane..][..plane];
                    for ky in y0..y1 {
                        let row = &gb[(i + ky - pad) * ww..][..ww];
                        for kx in x0..x1 {
                            s += f[ky * k + kx] * row[j + kx - pad];
                        }
                    }
                }
                gzb[c * maps.plane() + p] = s;
            }
        });
    }

    /// The last convolution's gradients when `gz` is non-zero only at the winners: its filters and
    /// bias (into `grad`) and, when asked, `dL/da` of its input.
    #[allow(clippy::too_many_arguments)]
    fn conv_backward_sparse(
        &self,
        conv: &Conv2d,
        a: &[f32],
        input: MapShape,
        win: &[usize],
        n: usize,
        gz: &[f32],
        grad: &mut Conv2d,
        ga: Option<&mut [f32]>,
    ) {
        let (cout, cin, k) = (conv.config.out_channels, conv.config.in_channels, conv.config.kernel);
        let pad = (k - 1) / 2;
        let (hh, ww, plane, kk) = (input.height, input.width, input.plane(), k * k);
        let mplane = plane; // same padding: the maps have the input's size
        grad.bias.iter_mut().enumerate().for_each(|(c, gb)| {
            *gb = (0..n)
                .filter_map(|b| {
                    let p = win[b * cout + c];
                    (p != NONE).then(|| gz[(b * cout + c) * mplane + p])
                })
                .sum();
        });
        grad.weight.par_chunks_mut(cin * kk).enumerate().for_each(|(c, gw)| {
            gw.fill(0.0);
            for b in 0..n {
                let p = win[b * cout + c];
                if p == NONE {
                    continue;
                }
                let v = gz[(b * cout + c) * mplane + p];
                let (i, j) = (p / ww, p % ww);
                let ((y0, y1), (x0, x1)) = (taps(i, k, pad, hh), taps(j, k, pad, ww));
                for ci in 0..cin {
                    let ab = &a[(b * cin + ci) * plane..][..plane];
                    for ky in y0..y1 {
                        let row = &ab[(i + ky - pad) * ww..][..ww];
                        for kx in x0..x1 {
                            gw[ci * kk + ky * k + kx] += v * row[j + kx - pad];
                        }
                    }
                }
            }
        });
        if let Some(ga) = ga {
            ga.par_chunks_mut(cin * plane).enumerate().for_each(|(b, gab)| {
                gab.fill(0.0);
                for c in 0..cout {
                    let p = win[b * cout + c];
                    if p == NONE {
                        continue;
                    }
                    let v = gz[(b * cout + c) * mplane + p];
                    let (i, j) = (p / ww, p % ww);
                    let ((y0, y1), (x0, x1)) = (taps(i, k, pad, hh), taps(j, k, pad, ww));
                    for ci in 0..cin {
                        let f = &conv.weight[(c * cin + ci) * kk..][..kk];
                        let row_base = ci * plane;
                        for ky in y0..y1 {
                            let row = &mut gab[row_base + (i + ky - pad) * ww..][..ww];
                            for kx in x0..x1 {
                                row[j + kx - pad] += v * f[ky * k + kx];
                            }
                        }
                    }
                }
            });
        }
    }

    /// The squared reconstruction error per example of `x` with the training-time sparsity (no
    /// dropout), in consecutive mini-batches of `batch` (a last short batch joins the one before).
    pub fn reconstruction_error(&self, x: &Matrix, batch: usize) -> Result<f64> {
        let mut ws = ConvWtaWorkspace::default();
        let mut total = 0.0;
        for (s, e) in eval_batches(x.rows, batch) {
            let part = Matrix { rows: e - s, cols: x.cols, data: x.data[s * x.cols..e * x.cols].to_vec() };
            self.forward_train(&part, &mut ws, Dropout::default(), None)?;
            total += self.loss(&ws) * (e - s) as f64;
        }
        Ok(total / x.rows.max(1) as f64)
    }

    /// The last maps of one example, with the training-time spatial sparsity and without it (paper
    /// B, Figure 5c and 5d): `(sparse, relu)`, each `[maps, height, width]`.
    pub fn maps_of(&self, x: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
        let one = Matrix::from_vec(1, x.len(), x.to_vec())?;
        let mut ws = ConvWtaWorkspace::default();
        let wta = ConvWta { config: ConvWtaConfig { wta: true, sparsity: 1.0, ..self.config.clone() }, ..self.clone() };
        wta.forward_train(&one, &mut ws, Dropout::default(), None)?;
        let layers = ws.act.len();
        let sparse = ws.act[layers - 1].clone();
        let relu = ws.pre[layers - 1].iter().map(|&z| z.max(0.0)).collect();
        Ok((sparse, relu))
    }
}

impl Parameters for ConvWta {
    fn params(&self) -> Vec<Param<'_>> {
        let first = self.config.fixed_convs();
        let mut p = Vec::new();
        for (i, c) in self.convs.iter().enumerate() {
            let k = c.config.kernel;
            let (wk, bk) = if i < first { (ParamKind::Fixed, ParamKind::Fixed) } else { (ParamKind::Weight, ParamKind::Bias) };
            p.push(Param::new(format!("encoder.{i}.weight"), vec![c.config.out_channels, c.config.in_channels, k, k], wk, &c.weight));
            p.push(Param::new(format!("encoder.{i}.bias"), vec![c.bias.len()], bk, &c.bias));
        }
        let d = &self.decoder;
        let k = d.config.kernel;
        p.push(Param::new("decoder.weight", vec![d.config.in_channels, d.config.out_channels, k, k], ParamKind::Weight, &d.weight));
        p.push(Param::new("decoder.bias", vec![d.bias.len()], ParamKind::Bias, &d.bias));
        p
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let first = self.config.fixed_convs();
        let mut p = Vec::new();
        for (i, c) in self.convs.iter_mut().enumerate() {
            let k = c.config.kernel;
            let (wk, bk) = if i < first { (ParamKind::Fixed, ParamKind::Fixed) } else { (ParamKind::Weight, ParamKind::Bias) };
            let shape = vec![c.config.out_channels, c.config.in_channels, k, k];
            p.push(ParamMut::new(format!("encoder.{i}.weight"), shape, wk, &mut c.weight));
            let len = c.bias.len();
            p.push(ParamMut::new(format!("encoder.{i}.bias"), vec![len], bk, &mut c.bias));
        }
        let d = &mut self.decoder;
        let k = d.config.kernel;
        let shape = vec![d.config.in_channels, d.config.out_channels, k, k];
        p.push(ParamMut::new("decoder.weight", shape, ParamKind::Weight, &mut d.weight));
        let len = d.bias.len();
        p.push(ParamMut::new("decoder.bias", vec![len], ParamKind::Bias, &mut d.bias));
        p
    }
}

impl Model for ConvWta {
    const KIND: &'static str = "conv-wta";
    type Config = ConvWtaConfig;

    fn config(&self) -> &ConvWtaConfig {
        &self.config
    }

    fn zeros(config: &ConvWtaConfig) -> Result<Self> {
        ConvWta::zeros_of(config)
    }

    fn init(config: &ConvWtaConfig, seed: u64) -> Result<Self> {
        ConvWta::init_seeded(config, seed)
    }

    fn describe(&self) -> String {
        self.config.describe()
    }
}

impl Encoder for ConvWta {
    fn input_width(&self) -> usize {
        self.config.input.size()
    }

    /// Every convolution, ReLU (the sparsities are off at test time, section 3.1), with its maps;
    /// pooling is not a layer here (a stage's pooled maps are the next stage's input).
    fn layers(&self) -> Vec<LayerInfo> {
        let mut out = Vec::new();
        for (st, sh) in self.config.stages.iter().zip(&self.shapes) {
            for &m in &st.maps {
                let maps = [m, sh.input.height, sh.input.width];
                let size = maps.iter().product();
                let name = format!("{m}conv{} ({m}x{}x{})", st.kernel, maps[1], maps[2]);
                out.push(LayerInfo { name, pre_width: size, units: size, competition: Competition::Relu, maps: Some(maps) });
            }
        }
        out
    }

    fn encode(&self, x: &Matrix, upto: usize, out: &mut Vec<LayerOutput>) -> Result<()> {
        if upto > self.convs.len() {
            return Err(Error::param("layers", upto, format!("at most the {} convolutions", self.convs.len())));
        }
        if out.len() < upto {
            out.resize_with(upto, LayerOutput::default);
        }
        let n = x.rows;
        let mut a = x.data.clone();
        let mut li = 0;
        for (s, st) in self.config.stages.iter().enumerate() {
            let mut shape = self.shapes[s].input;
            for _ in &st.maps {
                if li == upto {
                    return Ok(());
                }
                let mut z = Vec::new();
                shape = self.convs[li].forward(&a, n, shape, &mut z)?;
                let o = &mut out[li];
                o.out = Matrix { rows: n, cols: shape.size(), data: z.iter().map(|v| v.max(0.0)).collect() };
                o.winners = z.iter().map(|&v| v > 0.0).collect();
                o.pre = Matrix { rows: n, cols: shape.size(), data: z };
                a.clone_from(&o.out.data);
                li += 1;
            }
            let (mut pooled, mut w, mut am) = (Vec::new(), Vec::new(), Vec::new());
            MaxPool2d::new(st.pool, st.pool_stride)?.forward(&a, n, shape, &mut pooled, &mut w, &mut am)?;
            a = pooled;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.config.describe()
    }

    /// The pooled ReLU maps of the top stage (section 3.1), not the last layer's unpooled maps.
    fn feature_width(&self) -> usize {
        self.shapes[self.shapes.len() - 1].pooled.size()
    }

    /// [`ConvWta::pooled_features`].
    fn features(&self, x: &Matrix) -> Result<Matrix> {
        self.pooled_features(x)
    }

    /// The deconvolution filters, one tile per map (Figures 5b and 6), when the decoder draws a
    /// one-channel image (a stack's filters live in the pooled maps of its frozen stages: `None`).
    fn dictionary(&self, _image: Option<(usize, usize)>) -> Option<Atoms> {
        let d = self.decoder.config;
        if d.out_channels != 1 || self.config.stages.len() > 1 {
            return None;
        }
        let kk = d.kernel * d.kernel;
        let tiles = self.decoder.weight.chunks(kk).map(<[f32]>::to_vec).collect();
        Some(Atoms { shape: (d.kernel, d.kernel), tiles, what: "deconvolution filters".into() })
    }
}

/// Trains a [`ConvWta`] by backpropagation of the squared reconstruction error under spatial and
/// lifetime sparsity: the learner of [`crate::train::train`] for `[model] type = "conv-wta"`.
/// Scored by the validation reconstruction error (training-time sparsity, in mini-batches of the
/// training batch size).
#[derive(Clone, Debug)]
pub struct ConvWtaLearner {
    /// The autoencoder.
    pub model: ConvWta,
    /// The mini-batch size of training (the lifetime rate refers to it).
    pub batch_size: usize,
    /// Dropout of the plain autoencoder (`wta = false`); the WTA model refuses dropout.
    pub dropout: Dropout,
    ws: ConvWtaWorkspace,
    grads: ConvWta,
}

impl ConvWtaLearner {
    /// A learner for `model` in mini-batches of `batch_size` (a lifetime rate that keeps no winner
    /// at that size is refused), with `dropout` (only for a model without WTA).
    pub fn new(model: ConvWta, batch_size: usize, dropout: Dropout) -> Result<Self> {
        dropout.validate()?;
        if model.config.wta {
            crate::competition::lifetime::check_batch(model.config.sparsity, batch_size)?;
            if dropout.input > 0.0 || dropout.hidden > 0.0 {
                return Err(Error::param(
                    "train.dropout_input / dropout_hidden",
                    format!("{} / {}", dropout.input, dropout.hidden),
                    "0 for a CONV-WTA (its regularizer is the winner-take-all; dropout is for the plain autoencoder, model.wta = false)",
                ));
            }
        }
        let grads = ConvWta::zeros_of(&model.config)?;
        Ok(ConvWtaLearner { model, batch_size, dropout, ws: ConvWtaWorkspace::default(), grads })
    }
}

impl Learner for ConvWtaLearner {
    type Model = ConvWta;

    fn model(&self) -> &ConvWta {
        &self.model
    }

    fn model_mut(&mut self) -> &mut ConvWta {
        &mut self.model
    }

    fn step(&mut self, batch: &Batch<'_>, rng: &mut ChaCha8Rng) -> Result<StepOutput> {
        self.model.forward_train(batch.x, &mut self.ws, self.dropout, Some(rng))?;
        let loss = self.model.backward(&mut self.ws, &mut self.grads, self.dropout)?;
        Ok(StepOutput { loss, update: Update::Gradients })
    }

    fn model_and_grads(&mut self) -> (&mut ConvWta, &dyn Parameters) {
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

    fn config(maps: &[usize], side: usize, dk: usize, sparsity: f32) -> ConvWtaConfig {
        ConvWtaConfig {
            input: MapShape::new("input", 1, side, side).unwrap(),
            stages: vec![ConvWtaStage { kernel: 3, maps: maps.to_vec(), pool: 2, pool_stride: 2 }],
            decoder_kernel: dk,
            sparsity,
            wta: true,
        }
    }

    fn model(c: &ConvWtaConfig, seed: u64) -> ConvWta {
        let mut m = ConvWta::init_seeded(c, seed).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 3);
        for p in m.params_mut() {
            if p.shape.len() == 1 {
                p.data.iter_mut().for_each(|v| *v = rng.random_range(-0.2..0.2));
            }
        }
        m
    }

    fn data(n: usize, dim: usize, seed: u64) -> Matrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Matrix { rows: n, cols: dim, data: (0..n * dim).map(|_| rng.random_range(0.0..1.0)).collect() }
    }

    fn check_gradients(m: &ConvWta, x: &Matrix) {
        let mut ws = ConvWtaWorkspace::default();
        let mut grads = ConvWta::zeros_of(&m.config).unwrap();
        m.forward_train(x, &mut ws, Dropout::default(), None).unwrap();
        let win0 = ws.win.clone();
        let signs = |w: &ConvWtaWorkspace| -> Vec<bool> { w.pre.iter().flatten().map(|&z| z > 0.0).collect() };
        let signs0 = signs(&ws);
        m.backward(&mut ws, &mut grads, Dropout::default()).unwrap();
        let eps = 3e-3f32;
        let mut checked = 0;
        let count = m.params().len();
        for pi in 0..count {
            let (name, len, kind) = {
                let p = &m.params()[pi];
                (p.name.to_string(), p.data.len(), p.kind)
            };
            if kind == ParamKind::Fixed {
                assert!(grads.params()[pi].data.iter().all(|&g| g == 0.0), "{name} has a gradient");
                continue;
            }
            for idx in (0..len).step_by((len / 17).max(1)) {
                let (mut plus, mut minus) = (m.clone(), m.clone());
                plus.params_mut()[pi].data[idx] += eps;
                minus.params_mut()[pi].data[idx] -= eps;
                let (mut wp, mut wm) = (ConvWtaWorkspace::default(), ConvWtaWorkspace::default());
                plus.forward_train(x, &mut wp, Dropout::default(), None).unwrap();
                minus.forward_train(x, &mut wm, Dropout::default(), None).unwrap();
                // Skip a perturbation that moves a winner or crosses a ReLU's kink.
                if wp.win != win0 || wm.win != win0 || signs(&wp) != signs0 || signs(&wm) != signs0 {
                    continue;
                }
                let fd = (plus.loss(&wp) - minus.loss(&wm)) / (2.0 * f64::from(eps));
                let an = f64::from(grads.params()[pi].data[idx]);
                assert!(
                    (fd - an).abs() <= 3e-3 + 2e-2 * fd.abs(),
                    "{}: {name}[{idx}]: finite differences {fd}, backprop {an}",
                    m.config.describe()
                );
                checked += 1;
            }
        }
        assert!(checked > 30, "only {checked} entries checked");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = data(6, 36, 1);
        // Shallow and deep, spatial only and with lifetime sparsity, a decoder larger than the maps.
        check_gradients(&model(&config(&[3], 6, 5, 1.0), 2), &x);
        check_gradients(&model(&config(&[2, 3], 6, 3, 0.5), 3), &x);
        check_gradients(&model(&config(&[2], 6, 13, 1.0), 4), &x);
        // The plain autoencoder (dense path, no dropout here).
        check_gradients(&model(&ConvWtaConfig { wta: false, ..config(&[2, 2], 6, 3, 1.0) }, 5), &x);
        // A stack: the first stage frozen, the second reconstructs its pooled maps.
        let base = model(&config(&[2], 6, 3, 1.0), 6);
        let st = ConvWta::stacked_on(&base, ConvWtaStage { kernel: 3, maps: vec![3], pool: 1, pool_stride: 1 }, 3, 0.5, 7).unwrap();
        assert_eq!(st.config.target().unwrap(), MapShape::new("t", 2, 3, 3).unwrap());
        check_gradients(&model(&st.config, 8), &x);
    }

    #[test]
    fn sparse_products_equal_the_dense_layers() {
        let c = config(&[4, 5], 8, 5, 0.5);
        let m = model(&c, 11);
        let x = data(10, 64, 12);
        let mut ws = ConvWtaWorkspace::default();
        m.forward_train(&x, &mut ws, Dropout::default(), None).unwrap();
        let sh = m.shapes[0];
        // Decoder: the sparse sum equals the transposed convolution of the sparse maps.
        let mut dense = Vec::new();
        m.decoder.forward(&ws.act[1], 10, sh.maps, &mut dense).unwrap();
        for (a, b) in ws.recon.iter().zip(&dense) {
            assert!((a - b).abs() < 1e-5);
        }
        // At most one winner per map, and lifetime 50% of 10 keeps 5 examples per map.
        for ch in 0..5 {
            let kept = (0..10).filter(|&b| ws.win[b * 5 + ch] != NONE).count();
            assert!(kept <= 5, "map {ch} kept {kept}");
        }
        // Backward: the sparse gradients equal the dense layers' backward on the same gz.
        let mut g1 = ConvWta::zeros_of(&c).unwrap();
        let mut ws1 = ws.clone();
        m.backward(&mut ws1, &mut g1, Dropout::default()).unwrap();
        let g: Vec<f32> = ws.recon.iter().zip(&ws.target).map(|(&r, &t)| 2.0 / 10.0 * (r - t)).collect();
        let mut g2 = ConvWta::zeros_of(&c).unwrap();
        let mut gh = vec![0.0; ws.act[1].len()];
        m.decoder.backward(&ws.act[1], 10, sh.maps, &g, &mut g2.decoder.weight, &mut g2.decoder.bias, Some(&mut gh)).unwrap();
        let gz: Vec<f32> = gh.iter().zip(&ws.act[1]).map(|(&g, &h)| if h > 0.0 { g } else { 0.0 }).collect();
        let in_shape = MapShape { channels: 4, ..sh.maps };
        let mut ga = vec![0.0; ws.act[0].len()];
        let c1 = &mut g2.convs[1];
        m.convs[1].backward(&ws.act[0], 10, in_shape, &gz, &mut c1.weight, &mut c1.bias, Some(&mut ga)).unwrap();
        let close = |a: &[f32], b: &[f32], what: &str| {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert!((x - y).abs() < 1e-4 + 1e-4 * y.abs(), "{what}[{i}]: {x} vs {y}");
            }
        };
        close(&g1.decoder.weight, &g2.decoder.weight, "decoder.weight");
        close(&g1.decoder.bias, &g2.decoder.bias, "decoder.bias");
        close(&g1.convs[1].weight, &g2.convs[1].weight, "encoder.1.weight");
        close(&g1.convs[1].bias, &g2.convs[1].bias, "encoder.1.bias");
    }

    #[test]
    fn bad_configurations_name_the_field() {
        let e = ConvWta::zeros_of(&config(&[4], 8, 10, 0.1)).unwrap_err().to_string();
        assert!(e.contains("model.decoder_kernel") && e.contains("10") && e.contains("same-size"), "{e}");
        let e = ConvWta::zeros_of(&config(&[4], 8, 11, 0.0)).unwrap_err().to_string();
        assert!(e.contains("model.sparsity"), "{e}");
        let e = ConvWta::zeros_of(&ConvWtaConfig {
            stages: vec![ConvWtaStage { kernel: 3, maps: vec![4], pool: 9, pool_stride: 9 }],
            ..config(&[4], 8, 11, 0.1)
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("model.pool"), "{e}");
        let m = ConvWta::init_seeded(&config(&[4], 8, 11, 0.05), 1).unwrap();
        let e = ConvWtaLearner::new(m.clone(), 10, Dropout::default()).unwrap_err().to_string();
        assert!(e.contains("batch_size = 10"), "{e}");
        let e = ConvWtaLearner::new(m, 100, Dropout { input: 0.2, hidden: 0.5 }).unwrap_err().to_string();
        assert!(e.contains("dropout"), "{e}");
    }

    #[test]
    fn features_are_pooled_relu_maps_and_training_lowers_the_error() {
        use crate::train::optim::{Optimizer, OptimizerKind, StepParams};
        let c = config(&[4], 8, 5, 0.5);
        let m = model(&c, 21);
        let x = data(20, 64, 22);
        let f = Encoder::features(&m, &x).unwrap();
        assert_eq!(Encoder::feature_width(&m), 64);
        assert_eq!((f.rows, f.cols), (20, 4 * 4 * 4));
        let mut out = Vec::new();
        m.encode(&x, 1, &mut out).unwrap();
        // Pool 2x2 of the ReLU maps of example 0, map 0, window (0, 0).
        let r = &out[0].out.data;
        assert_eq!(f.data[0], r[0].max(r[1]).max(r[8]).max(r[9]));
        let before = m.reconstruction_error(&x, 10).unwrap();
        let mut learner = ConvWtaLearner::new(m, 10, Dropout::default()).unwrap();
        let mut opt = Optimizer::new(OptimizerKind::Adam, &learner.model, vec![]).unwrap();
        let p = StepParams { lr: 0.01, momentum: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for step in 0..60 {
            let part = Matrix { rows: 10, cols: 64, data: x.data[(step % 2) * 640..(step % 2 + 1) * 640].to_vec() };
            let out = learner.step(&Batch { x: &part, labels: &[], epoch: 1, step, lr: 0.1 }, &mut rng).unwrap();
            let (model, grads) = learner.model_and_grads();
            opt.step(model, grads, p, out.update).unwrap();
        }
        let after = learner.model.reconstruction_error(&x, 10).unwrap();
        assert!(after < 0.8 * before, "{before} -> {after}");
        let (sparse, relu) = learner.model.maps_of(x.row(0)).unwrap();
        assert!(sparse.chunks(64).all(|m| m.iter().filter(|&&v| v > 0.0).count() <= 1));
        assert!(relu.iter().filter(|&&v| v > 0.0).count() >= sparse.iter().filter(|&&v| v > 0.0).count());
    }
}
