//! A convolutional network with a local competition in every layer: convolutions, locally connected
//! layers, max-pooling and dense layers, then a softmax (issue 10; paper A, section 3.1 reads the
//! submasks of such a network, Goodfellow et al. 2013's maxout networks are one).
//!
//! The architecture is a list of layers ([`ConvNetConfig`], written as in
//! [`crate::models::conv_spec`]). For a layer with parameters the pre-activations are
//!
//! ```text
//! z = conv(x) + b          (convolution, crate::layers::conv)
//! z = local(x) + b         (locally connected, crate::layers::local)
//! z = x W^T + b            (dense, paper A section 2: z = wx + b)
//! ```
//!
//! and the output is the layer's competition applied to `z` over the maps ([`Shape::Maps`](crate::competition::Shape::Maps): a ReLU
//! per value, `maxout:k` the maximum of `k` consecutive channels at each position, `lwta:k` the
//! winner of `k` consecutive channels); a pool takes the maximum of each window, its winners the
//! argmax positions. The last layer is a softmax over the classes, trained by cross-entropy.
//!
//! Dropout (inverted, as in [`crate::models::mlp`]): `dropout.input` on the input, `dropout.hidden`
//! on the input of every later layer with parameters (after pooling), as Goodfellow et al. (2013)
//! apply it.
//!
//! # Parameters and checkpoints
//!
//! Layer `i` of the list (pools included in the count) with parameters has `layers.{i}.weight` and
//! `layers.{i}.bias`; the softmax layer, the last entry of the list, is `layers.{n}` with `n` the
//! number of other layers. Layouts are PyTorch's where it has the layer: a convolution's weight is
//! `[out_channels, in_channels, k, k]` (out_channels = maps x maxout rank), a dense weight
//! `[outputs, inputs]`; a locally connected weight `[out_h out_w out_channels, in_channels, k, k]`
//! (one row per unit and location, in the order of [`crate::layers::local`]), its bias
//! `[out_channels, out_h, out_w]`. The first axis is the unit, so max-norm rules (`max_norm_rows`)
//! bound each filter's norm.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::competition::{Mode, argmax_first};
use crate::error::{Error, Result};
use crate::layers::conv::Conv2d;
use crate::layers::dense::Dense;
use crate::layers::dropout::{Dropout, apply_keep_mask, draw_keep_mask};
use crate::layers::local::Local;
use crate::layers::pool::MaxPool2d;
use crate::layers::softmax::{softmax_cross_entropy, softmax_rows};
use crate::models::Model;
use crate::models::conv_spec::{LayerShapes, LayerSpec, competition_shape, conv_config, local_config};
use crate::models::encoder::{Encoder, LayerInfo, LayerOutput};
use crate::models::learner::{Batch, Evaluation, Learner, StepOutput, Update};
use crate::params::{Param, ParamKind, ParamMut, Parameters};
use crate::tensor::Matrix;

pub use crate::models::conv_spec::ConvNetConfig;

/// One layer of a [`ConvNet`] with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// A convolution (its competition is the spec's).
    Conv(Conv2d),
    /// A locally connected layer.
    Local(Local),
    /// Max-pooling.
    Pool(MaxPool2d),
    /// A fully connected layer.
    Dense(Dense),
}

/// A convolutional network whose layers compete locally (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvNet {
    /// The architecture.
    pub config: ConvNetConfig,
    /// The shapes of every layer (from the configuration).
    pub shapes: Vec<LayerShapes>,
    /// The layers, in the order of `config.layers`.
    pub blocks: Vec<Block>,
    /// The softmax layer.
    pub output: Dense,
}

/// What one layer keeps from the forward pass for the backward pass.
#[derive(Clone, Debug, Default)]
struct Stage {
    /// Pre-activations `[n, pre]` (unused by a pool).
    pre: Matrix,
    /// The output `[n, output]` (after dropout in training, when the next layer has parameters).
    out: Matrix,
    /// Winners: of the competition `[n, pre]`, or of the pool `[n, input]`.
    winners: Vec<bool>,
    /// The pool's argmax per output.
    argmax: Vec<usize>,
    /// Dropout keep-mask of `out` (empty without dropout).
    keep: Vec<bool>,
}

/// Reusable buffers of a forward and backward pass.
#[derive(Clone, Debug, Default)]
pub struct ConvWorkspace {
    stages: Vec<Stage>,
    input: Matrix,
    input_keep: Vec<bool>,
    /// The logits of the last forward pass through the softmax layer, `[n, classes]`.
    pub logits: Matrix,
    grad_a: Matrix,
    grad_b: Matrix,
}

impl ConvNet {
    /// A network of zeros for `config` (checked; memory refused before allocating).
    pub fn zeros_of(config: &ConvNetConfig) -> Result<Self> {
        let shapes = config.shapes()?;
        check_memory(config, &shapes)?;
        let mut blocks = Vec::with_capacity(shapes.len());
        for (spec, s) in config.layers.iter().zip(&shapes) {
            blocks.push(match *spec {
                LayerSpec::Conv { .. } => {
                    Block::Conv(Conv2d::zeros(conv_config(spec, s.input.channels).unwrap_or_else(|| unreachable!()))?)
                }
                LayerSpec::Local { .. } => {
                    let c = local_config(spec, s.input.channels).unwrap_or_else(|| unreachable!());
                    // One weight row per unit and location, `in_channels k k` long (checked by `check_memory`).
                    let weight = vec![0.0; s.pre.size() * s.input.channels * c.kernel * c.kernel];
                    Block::Local(Local::from_params(c, s.input, weight, vec![0.0; s.pre.size()])?)
                }
                LayerSpec::Pool { kernel, stride } => Block::Pool(MaxPool2d::new(kernel, stride)?),
                LayerSpec::Dense { .. } => Block::Dense(Dense::zeros(s.input.size(), s.pre.size())),
            });
        }
        let last = shapes.last().map(|s| s.output.size()).unwrap_or(config.input.size());
        Ok(ConvNet { config: config.clone(), shapes, blocks, output: Dense::zeros(last, config.classes) })
    }

    /// A freshly initialised network: hidden weights `U(-b, b)` with `b = gain * sqrt(6 / fan_in)`
    /// (He et al. 2015; `fan_in = in_channels * k * k` for a convolution or locally connected layer),
    /// softmax weights `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` (PyTorch's `nn.Linear` default), biases 0;
    /// the same for the same seed on every machine.
    pub fn with_gain(config: &ConvNetConfig, seed: u64, gain: f32) -> Result<Self> {
        if !(gain.is_finite() && gain > 0.0) {
            return Err(Error::param("model.init_gain", gain, "a positive number"));
        }
        let mut net = Self::zeros_of(config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut fill = |w: &mut [f32], fan_in: usize, bound: f32| -> Result<()> {
            if !(bound.is_normal() && (2.0 * bound).is_finite()) {
                return Err(Error::param("model.init_gain", gain, format!("a gain that gives a finite weight range for fan-in {fan_in}")));
            }
            w.iter_mut().for_each(|v| *v = rng.random_range(-bound..bound));
            Ok(())
        };
        let he = |fan_in: usize| gain * (6.0 / fan_in as f32).sqrt();
        for (b, s) in net.blocks.iter_mut().zip(&net.shapes) {
            match b {
                Block::Conv(c) => {
                    let fan_in = s.input.channels * c.config.kernel * c.config.kernel;
                    fill(&mut c.weight, fan_in, he(fan_in))?
                }
                Block::Local(l) => {
                    let fan_in = s.input.channels * l.config.kernel * l.config.kernel;
                    fill(&mut l.weight, fan_in, he(fan_in))?
                }
                Block::Dense(d) => fill(&mut d.weight.data, d.weight.cols, he(d.weight.cols))?,
                Block::Pool(_) => {}
            }
        }
        let fan_in = net.output.weight.cols;
        fill(&mut net.output.weight.data, fan_in, 1.0 / (fan_in as f32).sqrt())?;
        Ok(net)
    }

    /// Input values per example.
    pub fn input_width(&self) -> usize {
        self.config.input.size()
    }

    /// Misclassified examples of `data` (predictions in chunks of 200).
    pub fn errors(&self, data: &crate::data::Dataset) -> Result<usize> {
        let predicted = self.predict(&data.x, 200)?;
        Ok(predicted.iter().zip(&data.labels).filter(|&(&p, &y)| p != y as usize).count())
    }

    /// The most probable class of every example of `x`, in chunks of `chunk` examples.
    pub fn predict(&self, x: &[f32], chunk: usize) -> Result<Vec<usize>> {
        let dim = self.input_width();
        if !x.len().is_multiple_of(dim) {
            return Err(Error::shape(
                "inputs",
                format!("{} values", x.len()),
                format!("a multiple of the input size {}", self.config.input),
            ));
        }
        let mut ws = ConvWorkspace::default();
        let mut out = Vec::with_capacity(x.len() / dim);
        let mut batch = Matrix::zeros(0, dim);
        for rows in x.chunks(chunk.max(1) * dim) {
            batch.resize(rows.len() / dim, dim);
            batch.data.copy_from_slice(rows);
            self.forward(&batch, &mut ws, None)?;
            out.extend((0..ws.logits.rows).map(|r| argmax_first(ws.logits.row(r))));
        }
        Ok(out)
    }

    /// Class probabilities of every example of `x` (no dropout).
    pub fn predict_proba(&self, x: &Matrix) -> Result<Matrix> {
        let mut ws = ConvWorkspace::default();
        self.forward(x, &mut ws, None)?;
        let mut p = ws.logits.clone();
        softmax_rows(&mut p);
        Ok(p)
    }

    /// The forward pass of the batch `x` (`[n, input size]`) through every layer and the softmax
    /// layer (logits in `ws.logits`). With `train = Some((dropout, rng))` the competitions act in
    /// training mode and dropout masks are drawn and kept for [`ConvNet::backward`].
    pub fn forward(&self, x: &Matrix, ws: &mut ConvWorkspace, train: Option<(Dropout, &mut ChaCha8Rng)>) -> Result<()> {
        self.run(x, ws, train, self.blocks.len())?;
        let n = x.rows;
        let mut logits = std::mem::take(&mut ws.logits);
        let r = self.output.forward(self.last_input(x, ws), &mut logits);
        ws.logits = logits;
        r?;
        debug_assert_eq!(ws.logits.rows, n);
        Ok(())
    }

    /// The input of the softmax layer after [`ConvNet::run`] of every block.
    fn last_input<'a>(&self, x: &'a Matrix, ws: &'a ConvWorkspace) -> &'a Matrix {
        match self.blocks.len() {
            0 if !ws.input_keep.is_empty() => &ws.input,
            0 => x,
            l => &ws.stages[l - 1].out,
        }
    }

    /// The forward pass through blocks `0..upto`.
    fn run(&self, x: &Matrix, ws: &mut ConvWorkspace, train: Option<(Dropout, &mut ChaCha8Rng)>, upto: usize) -> Result<()> {
        let dim = self.input_width();
        if x.cols != dim {
            return Err(Error::shape(
                "input batch",
                format!("{} features", x.cols),
                format!("{dim} features, the model's input maps {}", self.config.input),
            ));
        }
        let n = x.rows;
        if ws.stages.len() < upto {
            ws.stages.resize_with(upto, Stage::default);
        }
        let (dropout, mut rng) = match train {
            Some((d, rng)) => (d, Some(rng)),
            None => (Dropout::default(), None),
        };
        let mode = if rng.is_some() { Mode::Train } else { Mode::Eval };
        ws.input_keep.clear();
        let dropped_input = match rng.as_deref_mut() {
            Some(rng) if dropout.input > 0.0 => {
                ws.input.clone_from(x);
                draw_keep_mask(rng, dropout.input, ws.input.data.len(), &mut ws.input_keep);
                apply_keep_mask(&mut ws.input.data, &ws.input_keep, dropout.input);
                true
            }
            _ => false,
        };
        for i in 0..upto {
            let (before, rest) = ws.stages.split_at_mut(i);
            let cur: &Matrix = match i {
                0 if dropped_input => &ws.input,
                0 => x,
                _ => &before[i - 1].out,
            };
            let st = &mut rest[0];
            let s = self.shapes[i];
            match &self.blocks[i] {
                Block::Pool(p) => {
                    p.forward(&cur.data, n, s.input, &mut st.out.data, &mut st.winners, &mut st.argmax)?;
                }
                block => {
                    match block {
                        Block::Conv(c) => {
                            c.forward(&cur.data, n, s.input, &mut st.pre.data)?;
                        }
                        Block::Local(l) => l.forward(&cur.data, n, &mut st.pre.data)?,
                        Block::Dense(d) => d.forward(cur, &mut st.pre)?,
                        Block::Pool(_) => unreachable!(),
                    }
                    (st.pre.rows, st.pre.cols) = (n, s.pre.size());
                    let spec = &self.config.layers[i];
                    let competition = spec.competition().unwrap_or_else(|| unreachable!()).in_mode(mode);
                    st.out.data.resize(n * s.output.size(), 0.0);
                    st.winners.resize(st.pre.data.len(), false);
                    competition.forward_par(&st.pre.data, n, competition_shape(spec, s.pre), mode, &mut st.out.data, &mut st.winners)?;
                }
            }
            (st.out.rows, st.out.cols) = (n, s.output.size());
            st.keep.clear();
            let feeds_params = self.blocks.get(i + 1).is_none_or(|b| !matches!(b, Block::Pool(_)));
            if let Some(rng) = rng.as_deref_mut()
                && dropout.hidden > 0.0
                && feeds_params
            {
                draw_keep_mask(rng, dropout.hidden, st.out.data.len(), &mut st.keep);
                apply_keep_mask(&mut st.out.data, &st.keep, dropout.hidden);
            }
        }
        Ok(())
    }

    /// Mean softmax cross-entropy of the last forward pass against `labels`, and the gradient of
    /// every parameter, written into `grads` (a network of the same architecture). Errors flow only
    /// through winners, kept pool positions and kept (not dropped) values.
    pub fn backward(&self, x: &Matrix, labels: &[u8], ws: &mut ConvWorkspace, grads: &mut ConvNet, dropout: Dropout) -> Result<f32> {
        let n = x.rows;
        if labels.len() != n || ws.logits.rows != n {
            return Err(Error::shape("labels", format!("{} labels", labels.len()), format!("{n}, one per example of the forward pass")));
        }
        let mut g = std::mem::take(&mut ws.grad_a);
        let mut g_in = std::mem::take(&mut ws.grad_b);
        let loss = softmax_cross_entropy(&ws.logits, labels, self.config.classes, &mut g);
        let loss = match loss {
            Ok(l) => l,
            Err(e) => {
                (ws.grad_a, ws.grad_b) = (g, g_in);
                return Err(e);
            }
        };
        let result = self.backward_from(x, ws, grads, dropout, &mut g, &mut g_in);
        ws.grad_a = g;
        ws.grad_b = g_in;
        result?;
        Ok(loss)
    }

    /// The backward pass from `g = dL/dlogits`.
    fn backward_from(
        &self,
        x: &Matrix,
        ws: &ConvWorkspace,
        grads: &mut ConvNet,
        dropout: Dropout,
        g: &mut Matrix,
        g_in: &mut Matrix,
    ) -> Result<()> {
        let n = x.rows;
        let nb = self.blocks.len();
        let input: &Matrix = if ws.input_keep.is_empty() { x } else { &ws.input };
        let h = self.last_input(x, ws);
        self.output.backward(h, g, &mut grads.output.weight, &mut grads.output.bias, (nb > 0).then_some(&mut *g_in))?;
        if nb == 0 {
            return Ok(());
        }
        std::mem::swap(g, g_in);
        for i in (0..nb).rev() {
            // g holds dL/d(out_i), as the next layer read it (after dropout).
            let st = &ws.stages[i];
            if !st.keep.is_empty() {
                apply_keep_mask(&mut g.data, &st.keep, dropout.hidden);
            }
            let s = self.shapes[i];
            let x_i: &Matrix = if i == 0 { input } else { &ws.stages[i - 1].out };
            let want_input = i > 0;
            match (&self.blocks[i], &mut grads.blocks[i]) {
                (Block::Pool(p), _) => {
                    p.backward(&g.data, &st.argmax, n, s.input, &mut g_in.data)?;
                }
                (block, gblock) => {
                    let spec = &self.config.layers[i];
                    let competition = spec.competition().unwrap_or_else(|| unreachable!()).in_mode(Mode::Train);
                    // g_in first holds dL/dz (the pre-activations), then the layer writes dL/dx into g.
                    g_in.data.resize(st.pre.data.len(), 0.0);
                    (g_in.rows, g_in.cols) = (n, s.pre.size());
                    let mode = Mode::Train;
                    competition.backward_par(
                        &st.pre.data,
                        &g.data,
                        &st.winners,
                        n,
                        competition_shape(spec, s.pre),
                        mode,
                        &mut g_in.data,
                    )?;
                    match (block, gblock) {
                        (Block::Conv(c), Block::Conv(gc)) => {
                            g.data.resize(if want_input { n * s.input.size() } else { 0 }, 0.0);
                            let gx = want_input.then_some(&mut g.data[..]);
                            c.backward(&x_i.data, n, s.input, &g_in.data, &mut gc.weight, &mut gc.bias, gx)?;
                        }
                        (Block::Local(l), Block::Local(gl)) => {
                            let lg = l.backward(&x_i.data, &g_in.data, n)?;
                            gl.weight.copy_from_slice(&lg.weight);
                            gl.bias.copy_from_slice(&lg.bias);
                            g.data = lg.input;
                        }
                        (Block::Dense(d), Block::Dense(gd)) => {
                            d.backward(x_i, g_in, &mut gd.weight, &mut gd.bias, want_input.then_some(&mut *g))?;
                        }
                        _ => return Err(Error::Data("the gradient buffer does not have the network's layers".into())),
                    }
                    (g.rows, g.cols) = (n, s.input.size());
                    // Keep the convention: after this arm `g_in` holds dL/dx.
                    std::mem::swap(g, g_in);
                }
            }
            (g_in.rows, g_in.cols) = (n, s.input.size());
            std::mem::swap(g, g_in);
        }
        Ok(())
    }
}

/// Refuses an architecture whose parameters (about four copies: weights, gradients, optimizer
/// state) or one example's activations would not fit, before anything is allocated.
fn check_memory(config: &ConvNetConfig, shapes: &[LayerShapes]) -> Result<()> {
    let mut params: u128 = 0;
    for (spec, s) in config.layers.iter().zip(shapes) {
        let (i, p) = (s.input.channels as u128, s.pre.channels as u128);
        params = params.saturating_add(match *spec {
            LayerSpec::Conv { kernel, .. } => p * i * (kernel as u128).pow(2) + p,
            LayerSpec::Local { kernel, .. } => s.pre.size() as u128 * i * (kernel as u128).pow(2) + s.pre.size() as u128,
            LayerSpec::Dense { .. } => s.input.size() as u128 * s.pre.size() as u128 + s.pre.size() as u128,
            LayerSpec::Pool { .. } => 0,
        });
    }
    let last = shapes.last().map(|s| s.output.size()).unwrap_or(config.input.size()) as u128;
    params = params.saturating_add(last * config.classes as u128 + config.classes as u128);
    crate::io::check_alloc(
        &format!("the parameters of {} (weights, gradients, optimizer state)", config.describe()),
        params.saturating_mul(16),
    )
}

impl Parameters for ConvNet {
    fn params(&self) -> Vec<Param<'_>> {
        let mut p = Vec::new();
        for (i, b) in self.blocks.iter().enumerate() {
            match b {
                Block::Conv(c) => {
                    let k = c.config.kernel;
                    p.push(Param::new(
                        format!("layers.{i}.weight"),
                        vec![c.config.out_channels, c.config.in_channels, k, k],
                        ParamKind::Weight,
                        &c.weight,
                    ));
                    p.push(Param::new(format!("layers.{i}.bias"), vec![c.bias.len()], ParamKind::Bias, &c.bias));
                }
                Block::Local(l) => {
                    let k = l.config.kernel;
                    let rows = l.output.size();
                    p.push(Param::new(format!("layers.{i}.weight"), vec![rows, l.config.in_channels, k, k], ParamKind::Weight, &l.weight));
                    let o = l.output;
                    p.push(Param::new(format!("layers.{i}.bias"), vec![o.channels, o.height, o.width], ParamKind::Bias, &l.bias));
                }
                Block::Dense(d) => {
                    p.push(Param::new(format!("layers.{i}.weight"), vec![d.weight.rows, d.weight.cols], ParamKind::Weight, &d.weight.data));
                    p.push(Param::new(format!("layers.{i}.bias"), vec![d.bias.len()], ParamKind::Bias, &d.bias));
                }
                Block::Pool(_) => {}
            }
        }
        let n = self.blocks.len();
        let o = &self.output;
        p.push(Param::new(format!("layers.{n}.weight"), vec![o.weight.rows, o.weight.cols], ParamKind::Weight, &o.weight.data));
        p.push(Param::new(format!("layers.{n}.bias"), vec![o.bias.len()], ParamKind::Bias, &o.bias));
        p
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut p = Vec::new();
        let n = self.blocks.len();
        for (i, b) in self.blocks.iter_mut().enumerate() {
            match b {
                Block::Conv(c) => {
                    let k = c.config.kernel;
                    let shape = vec![c.config.out_channels, c.config.in_channels, k, k];
                    p.push(ParamMut::new(format!("layers.{i}.weight"), shape, ParamKind::Weight, &mut c.weight));
                    let len = c.bias.len();
                    p.push(ParamMut::new(format!("layers.{i}.bias"), vec![len], ParamKind::Bias, &mut c.bias));
                }
                Block::Local(l) => {
                    let k = l.config.kernel;
                    let o = l.output;
                    let shape = vec![o.size(), l.config.in_channels, k, k];
                    p.push(ParamMut::new(format!("layers.{i}.weight"), shape, ParamKind::Weight, &mut l.weight));
                    p.push(ParamMut::new(format!("layers.{i}.bias"), vec![o.channels, o.height, o.width], ParamKind::Bias, &mut l.bias));
                }
                Block::Dense(d) => {
                    let shape = vec![d.weight.rows, d.weight.cols];
                    p.push(ParamMut::new(format!("layers.{i}.weight"), shape, ParamKind::Weight, &mut d.weight.data));
                    let len = d.bias.len();
                    p.push(ParamMut::new(format!("layers.{i}.bias"), vec![len], ParamKind::Bias, &mut d.bias));
                }
                Block::Pool(_) => {}
            }
        }
        let o = &mut self.output;
        let shape = vec![o.weight.rows, o.weight.cols];
        p.push(ParamMut::new(format!("layers.{n}.weight"), shape, ParamKind::Weight, &mut o.weight.data));
        let len = o.bias.len();
        p.push(ParamMut::new(format!("layers.{n}.bias"), vec![len], ParamKind::Bias, &mut o.bias));
        p
    }
}

impl Model for ConvNet {
    const KIND: &'static str = "conv";
    type Config = ConvNetConfig;

    fn config(&self) -> &ConvNetConfig {
        &self.config
    }

    fn zeros(config: &ConvNetConfig) -> Result<Self> {
        ConvNet::zeros_of(config)
    }

    fn init(config: &ConvNetConfig, seed: u64) -> Result<Self> {
        ConvNet::with_gain(config, seed, 1.0)
    }

    fn describe(&self) -> String {
        self.config.describe()
    }
}

impl Encoder for ConvNet {
    fn input_width(&self) -> usize {
        self.config.input.size()
    }

    /// The layers with parameters (pools are part of the layer below them: a layer's outputs here
    /// are its competition's, before pooling).
    fn layers(&self) -> Vec<LayerInfo> {
        self.config
            .layers
            .iter()
            .zip(&self.shapes)
            .filter(|(spec, _)| spec.has_params())
            .map(|(spec, s)| {
                let competition = spec.competition().unwrap_or_else(|| unreachable!()).in_mode(Mode::Eval);
                let name = match spec {
                    LayerSpec::Dense { .. } => format!("{spec}"),
                    _ => format!("{spec} ({})", s.pre),
                };
                LayerInfo {
                    name,
                    pre_width: s.pre.size(),
                    units: s.pre.size() / competition.pieces(),
                    competition,
                    maps: match spec {
                        LayerSpec::Dense { .. } => None,
                        _ => Some([s.pre.channels, s.pre.height, s.pre.width]),
                    },
                }
            })
            .collect()
    }

    fn encode(&self, x: &Matrix, upto: usize, out: &mut Vec<LayerOutput>) -> Result<()> {
        let hidden: Vec<usize> = (0..self.blocks.len()).filter(|&i| self.config.layers[i].has_params()).collect();
        if upto > hidden.len() {
            return Err(Error::param("layers", upto, format!("at most the {} layers with parameters of the network", hidden.len())));
        }
        if upto == 0 {
            return Ok(());
        }
        let mut ws = ConvWorkspace::default();
        self.run(x, &mut ws, None, hidden[upto - 1] + 1)?;
        if out.len() < upto {
            out.resize_with(upto, LayerOutput::default);
        }
        for (o, &i) in out.iter_mut().zip(&hidden[..upto]) {
            // Evaluation mode has no dropout: `out` is the competition's output (before any pooling
            // that follows).
            let st = std::mem::take(&mut ws.stages[i]);
            (o.pre, o.out, o.winners) = (st.pre, st.out, st.winners);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.config.describe()
    }

    fn dense_stack(&self) -> Option<Result<crate::models::DenseStack>> {
        Some(self.to_dense())
    }
}

impl ConvNet {
    /// The network as dense affine maps and competitions (see [`crate::models::DenseStack`]):
    /// every convolution and locally connected layer written out as its matrix, every pool as the
    /// selection of its windows followed by a maxout over each window (ties to the first position of
    /// the window, as [`MaxPool2d`] breaks them). Refused when the matrices would not fit in memory.
    pub fn to_dense(&self) -> Result<crate::models::DenseStack> {
        let mut hidden = Vec::with_capacity(self.blocks.len());
        // `order[j]`: the NCHW index, in the current layer's output, of the stack's value `j`.
        let mut order: Vec<usize> = (0..self.config.input.size()).collect();
        for ((block, spec), s) in self.blocks.iter().zip(&self.config.layers).zip(&self.shapes) {
            let (rows, cols) = (
                match block {
                    Block::Pool(p) => s.output.size() * p.kernel * p.kernel,
                    _ => s.pre.size(),
                },
                s.input.size(),
            );
            crate::io::check_alloc(
                &format!("the dense matrix of layer {spec} for region counting ({rows} x {cols}, twice in f64)"),
                crate::io::memory::bytes(&[rows, cols], 4 + 8),
            )?;
            // Column of the stack for each NCHW input index.
            let mut column = vec![0usize; cols];
            for (j, &i) in order.iter().enumerate() {
                column[i] = j;
            }
            let mut w = Matrix::zeros(rows, cols);
            let mut bias = vec![0.0f32; rows];
            if let Block::Pool(p) = block {
                let (k, st) = (p.kernel, p.stride);
                let (ih, iw, oh, ow) = (s.input.height, s.input.width, s.output.height, s.output.width);
                for c in 0..s.output.channels {
                    for i in 0..oh {
                        for j in 0..ow {
                            let unit = (c * oh + i) * ow + j;
                            for u in 0..k {
                                for v in 0..k {
                                    let src = (c * ih + i * st + u) * iw + j * st + v;
                                    w.data[(unit * k * k + u * k + v) * cols + column[src]] = 1.0;
                                }
                            }
                        }
                    }
                }
                hidden.push((w, bias, crate::competition::Competition::Maxout { rank: k * k }));
                order = (0..s.output.size()).collect();
                continue;
            }
            let competition = spec.competition().unwrap_or_else(|| unreachable!()).in_mode(Mode::Eval);
            // Row of the stack for each NCHW pre-activation: maxout pieces and LWTA blocks of
            // consecutive channels become consecutive rows.
            let (pc, ph, pw) = (s.pre.channels, s.pre.height, s.pre.width);
            let plane = ph * pw;
            let group = match (spec, competition) {
                (LayerSpec::Dense { .. }, _) => 1,
                (_, crate::competition::Competition::Maxout { rank }) => rank,
                (_, crate::competition::Competition::Lwta { block }) => block,
                _ => 1,
            };
            let row_of = |pre: usize| -> usize {
                if group == 1 {
                    return pre;
                }
                let (c, p) = (pre / plane, pre % plane);
                ((c / group) * plane + p) * group + c % group
            };
            let mut put = |pre: usize, input: usize, value: f32| w.data[row_of(pre) * cols + column[input]] += value;
            match block {
                Block::Conv(cv) => {
                    let (k, st, pad) = (cv.config.kernel, cv.config.stride, cv.config.pad()?);
                    let (ic, ih, iw) = (s.input.channels, s.input.height, s.input.width);
                    for o in 0..pc {
                        for y in 0..ph {
                            for x in 0..pw {
                                let pre = (o * ph + y) * pw + x;
                                for c in 0..ic {
                                    for u in 0..k {
                                        let Some(iy) = (y * st + u).checked_sub(pad).filter(|&v| v < ih) else { continue };
                                        for v in 0..k {
                                            let Some(ix) = (x * st + v).checked_sub(pad).filter(|&v| v < iw) else { continue };
                                            put(pre, (c * ih + iy) * iw + ix, cv.weight[((o * ic + c) * k + u) * k + v]);
                                        }
                                    }
                                }
                            }
                        }
                    }
                    for o in 0..pc {
                        for p in 0..plane {
                            bias[row_of(o * plane + p)] = cv.bias[o];
                        }
                    }
                }
                Block::Local(l) => {
                    let (k, st, pad) = (l.config.kernel, l.config.stride, l.config.pad()?);
                    let (ic, ih, iw) = (s.input.channels, s.input.height, s.input.width);
                    for o in 0..pc {
                        for y in 0..ph {
                            for x in 0..pw {
                                let pre = (o * ph + y) * pw + x;
                                bias[row_of(pre)] = l.bias[pre];
                                for c in 0..ic {
                                    for u in 0..k {
                                        let Some(iy) = (y * st + u).checked_sub(pad).filter(|&v| v < ih) else { continue };
                                        for v in 0..k {
                                            let Some(ix) = (x * st + v).checked_sub(pad).filter(|&v| v < iw) else { continue };
                                            put(pre, (c * ih + iy) * iw + ix, l.weight[l.weight_index(y, x, o, c, u, v)]);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Block::Dense(d) => {
                    for (o, row) in d.weight.data.chunks(cols).enumerate() {
                        for (i, &v) in row.iter().enumerate() {
                            put(o, i, v);
                        }
                    }
                    // A dense layer's rows are already in the stack's order (`row_of` is the identity).
                    bias.copy_from_slice(&d.bias);
                }
                Block::Pool(_) => unreachable!(),
            }
            // The outputs' order: maxout gives one value per unit in NCHW order of the output; LWTA
            // keeps every value, in the rows' order; the others keep the pre-activations' order.
            order = match competition {
                crate::competition::Competition::Maxout { .. } => (0..s.output.size()).collect(),
                _ => {
                    let mut o = vec![0usize; rows];
                    for pre in 0..rows {
                        o[row_of(pre)] = pre;
                    }
                    o
                }
            };
            hidden.push((w, bias, competition));
        }
        let cols = self.output.weight.cols;
        let mut w = Matrix::zeros(self.config.classes, cols);
        for (j, &i) in order.iter().enumerate() {
            for o in 0..self.config.classes {
                w.data[o * cols + j] = self.output.weight.data[o * cols + i];
            }
        }
        Ok(crate::models::DenseStack { input: self.config.input.size(), hidden, output: Some((w, self.output.bias.clone())) })
    }
}

/// Trains a [`ConvNet`] by backpropagation of the softmax cross-entropy, with dropout: the learner
/// of [`crate::train::train`] for `[model] type = "conv"`. Scored by validation errors.
#[derive(Clone, Debug)]
pub struct ConvLearner {
    /// The network.
    pub net: ConvNet,
    /// Dropout rates of the training passes.
    pub dropout: Dropout,
    ws: ConvWorkspace,
    grads: ConvNet,
}

impl ConvLearner {
    /// A learner for `net` with `dropout`.
    pub fn new(net: ConvNet, dropout: Dropout) -> Result<Self> {
        dropout.validate()?;
        let grads = ConvNet::zeros_of(&net.config)?;
        Ok(ConvLearner { net, dropout, ws: ConvWorkspace::default(), grads })
    }

    /// The gradients of the last step.
    pub fn grads(&self) -> &ConvNet {
        &self.grads
    }
}

impl Learner for ConvLearner {
    type Model = ConvNet;

    fn model(&self) -> &ConvNet {
        &self.net
    }

    fn model_mut(&mut self) -> &mut ConvNet {
        &mut self.net
    }

    fn step(&mut self, batch: &Batch<'_>, rng: &mut ChaCha8Rng) -> Result<StepOutput> {
        self.net.forward(batch.x, &mut self.ws, Some((self.dropout, rng)))?;
        let loss = self.net.backward(batch.x, batch.labels, &mut self.ws, &mut self.grads, self.dropout)?;
        Ok(StepOutput { loss, update: Update::Gradients })
    }

    fn model_and_grads(&mut self) -> (&mut ConvNet, &dyn Parameters) {
        (&mut self.net, &self.grads)
    }

    fn evaluate(&self, data: &crate::data::Dataset) -> Result<Evaluation> {
        let errors = self.net.errors(data)?;
        Ok(Evaluation { score: errors as f64, errors: Some(errors), metrics: Vec::new() })
    }

    fn score_name(&self) -> &'static str {
        "validation errors"
    }

    fn encoder(&self) -> Option<&dyn Encoder> {
        Some(&self.net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::MapShape;

    fn net(specs: &[&str], input: (usize, usize, usize), classes: usize, seed: u64) -> ConvNet {
        let input = MapShape::new("input", input.0, input.1, input.2).unwrap();
        let config = ConvNetConfig::parse(input, specs, classes).unwrap();
        let mut net = ConvNet::init(&config, seed).unwrap();
        // Non-zero biases, so that the bias gradients are checked where they matter.
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
        for p in net.params_mut() {
            if p.kind == ParamKind::Bias {
                p.data.iter_mut().for_each(|v| *v = rng.random_range(-0.3..0.3));
            }
        }
        net
    }

    fn data(n: usize, dim: usize, classes: u8, seed: u64) -> (Matrix, Vec<u8>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = Matrix { rows: n, cols: dim, data: (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect() };
        (x, (0..n).map(|_| rng.random_range(0..classes)).collect())
    }

    /// Loss, and every winner and pool position, of one training pass with dropout masks from `seed`.
    fn loss_at(net: &ConvNet, x: &Matrix, y: &[u8], dropout: Dropout, seed: u64) -> (f64, Vec<Vec<usize>>, ConvNet) {
        let mut ws = ConvWorkspace::default();
        let mut grads = ConvNet::zeros_of(&net.config).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        net.forward(x, &mut ws, Some((dropout, &mut rng))).unwrap();
        let loss = net.backward(x, y, &mut ws, &mut grads, dropout).unwrap();
        let mut pattern: Vec<Vec<usize>> = ws.stages.iter().map(|s| s.winners.iter().map(|&w| w as usize).collect()).collect();
        pattern.extend(ws.stages.iter().map(|s| s.argmax.clone()));
        (loss as f64, pattern, grads)
    }

    /// Central differences against the analytic gradient of every parameter whose perturbation
    /// changes no winner, pool position or dropout mask.
    fn check_gradients(net: &ConvNet, dropout: Dropout) {
        let (x, y) = data(3, net.input_width(), net.config.classes as u8, 7);
        let (_, _, grads) = loss_at(net, &x, &y, dropout, 5);
        let analytic: Vec<Vec<f32>> = grads.params().iter().map(|p| p.data.to_vec()).collect();
        let eps = 1e-3f32;
        let (mut checked, mut skipped) = (0, 0);
        for (pi, analytic) in analytic.iter().enumerate() {
            let len = net.params()[pi].data.len();
            for i in (0..len).step_by(len.div_ceil(40).max(1)) {
                let perturbed = |d: f32| {
                    let mut n = net.clone();
                    n.params_mut()[pi].data[i] += d;
                    let (l, w, _) = loss_at(&n, &x, &y, dropout, 5);
                    (l, w)
                };
                let ((lp, wp), (lm, wm)) = (perturbed(eps), perturbed(-eps));
                if wp != wm {
                    skipped += 1;
                    continue;
                }
                let numeric = (lp - lm) / (2.0 * eps as f64);
                let a = analytic[i] as f64;
                let name = &net.params()[pi].name;
                assert!((numeric - a).abs() < 2e-3 + 2e-2 * a.abs(), "{name}[{i}]: numeric {numeric}, analytic {a}");
                checked += 1;
            }
        }
        assert!(checked > 8 * skipped && checked > 50, "{checked} checked, {skipped} at a kink");
    }

    const SMALL: [&str; 6] = ["conv3x3:3:maxout:2", "pool2", "local3x3:2:lwta:2", "conv3x3/s2/p1:2:relu", "dense:6:maxout:2", "3"];

    #[test]
    fn whole_network_gradients_match_finite_differences() {
        check_gradients(&net(&SMALL, (2, 6, 5), 3, 1), Dropout::default());
        check_gradients(&net(&["conv3x3:4", "pool2/s1", "conv3x3/valid:2:abs", "3"], (1, 6, 6), 3, 2), Dropout::default());
    }

    #[test]
    fn gradients_with_dropout_follow_the_drawn_masks() {
        check_gradients(&net(&SMALL, (2, 6, 5), 3, 3), Dropout { input: 0.2, hidden: 0.3 });
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let net = net(&SMALL, (2, 6, 5), 3, 4);
        let (x, y) = data(60, net.input_width(), 3, 9);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let (loss, _, grads) = loss_at(&net, &x, &y, Dropout { input: 0.1, hidden: 0.2 }, 3);
                (loss, grads)
            })
        };
        let (a, b) = (run(1), run(2));
        assert_eq!(a.0, b.0);
        assert!(a.1 == b.1, "gradients differ between 1 and 2 threads");
    }

    #[test]
    fn encoder_layers_are_the_layers_with_parameters_and_their_winners_are_the_submasks() {
        let net = net(&["conv3x3:4:maxout:2", "pool2", "conv3x3:3", "dense:5", "3"], (1, 6, 6), 3, 5);
        let info = net.layers();
        assert_eq!(info.len(), 3);
        assert_eq!(info[0].maps, Some([8, 6, 6]));
        assert_eq!((info[0].pre_width, info[0].units), (288, 144));
        assert_eq!(info[1].maps, Some([3, 3, 3]));
        assert_eq!((info[2].maps, info[2].pre_width), (None, 5));
        let (x, _) = data(4, 36, 3, 1);
        let mut out = Vec::new();
        net.encode(&x, 3, &mut out).unwrap();
        // ReLU maps: the submask is z > 0 over all maps (paper A, section 3.1).
        for (z, &w) in out[1].pre.data.iter().zip(&out[1].winners) {
            assert_eq!(w, *z > 0.0);
        }
        // Maxout over pairs of channels: exactly one winning piece per unit and position.
        let w = &out[0].winners;
        for b in 0..4 {
            for c in 0..4 {
                for p in 0..36 {
                    let first = w[(b * 8 + 2 * c) * 36 + p];
                    let second = w[(b * 8 + 2 * c + 1) * 36 + p];
                    assert!(first != second, "example {b} unit {c} position {p}");
                }
            }
        }
        assert_eq!(out[0].out.cols, 144);
        // The encoder's last layer agrees with a full forward pass (no dropout in evaluation).
        let mut ws = ConvWorkspace::default();
        net.forward(&x, &mut ws, None).unwrap();
        assert_eq!(out[2].out.data, ws.stages[3].out.data);
        assert!(net.encode(&x, 4, &mut out).unwrap_err().to_string().contains("at most the 3 layers"));
    }

    #[test]
    fn parameters_are_named_by_their_place_in_the_list() {
        let net = net(&SMALL, (2, 6, 5), 3, 6);
        let names: Vec<String> = net.params().iter().map(|p| format!("{} {:?}", p.name, p.shape)).collect();
        assert_eq!(
            names,
            [
                "layers.0.weight [6, 2, 3, 3]",
                "layers.0.bias [6]",
                "layers.2.weight [12, 3, 3, 3]",
                "layers.2.bias [2, 3, 2]",
                "layers.3.weight [2, 2, 3, 3]",
                "layers.3.bias [2]",
                "layers.4.weight [12, 4]",
                "layers.4.bias [12]",
                "layers.5.weight [3, 6]",
                "layers.5.bias [3]",
            ]
        );
        assert_eq!(ConvNet::init(&net.config, 1).unwrap(), ConvNet::init(&net.config, 1).unwrap());
        assert_ne!(ConvNet::init(&net.config, 1).unwrap(), ConvNet::init(&net.config, 2).unwrap());
    }

    #[test]
    fn checkpoints_round_trip_and_load_as_any_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        let net = net(&SMALL, (2, 6, 5), 3, 8);
        crate::models::checkpoint::save(&path, &net, &[]).unwrap();
        let (back, _) = crate::models::checkpoint::load::<ConvNet>(&path).unwrap();
        assert_eq!(back, net);
        let (any, _) = crate::models::load_any(&path).unwrap();
        assert_eq!(any.kind(), "conv");
        assert_eq!(any.encoder().describe(), net.config.describe());
        let err = crate::models::checkpoint::load_mlp(&path).unwrap_err().to_string();
        assert!(err.contains("conv") && err.contains("MLP"), "{err}");
    }

    #[test]
    fn bad_inputs_are_refused() {
        let net = net(&SMALL, (2, 6, 5), 3, 1);
        let err = net.predict(&[0.0; 59], 10).unwrap_err().to_string();
        assert!(err.contains("2x6x5"), "{err}");
        let (x, _) = data(2, 60, 3, 1);
        let mut ws = ConvWorkspace::default();
        net.forward(&x, &mut ws, None).unwrap();
        let mut grads = ConvNet::zeros_of(&net.config).unwrap();
        let err = net.backward(&x, &[0, 7], &mut ws, &mut grads, Dropout::default()).unwrap_err().to_string();
        assert!(err.contains("label 7"), "{err}");
        assert!(ConvNet::with_gain(&net.config, 1, 0.0).unwrap_err().to_string().contains("model.init_gain"));
    }
}
