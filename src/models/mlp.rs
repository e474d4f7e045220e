//! Multilayer perceptron with a local competition in every hidden layer (paper A, section 2).
//!
//! For each hidden layer `l`, the pre-activations are `z = h W^T + b` (paper A, section 2:
//! `z = wx + b` per unit) and the output is the layer's competition applied to `z`; the last layer is
//! a softmax over the classes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::competition::{Competition, Mode, Shape};
use crate::error::{Error, Result};
pub use crate::layers::dropout::Dropout;
use crate::layers::dropout::{apply_keep_mask, draw_keep_mask};
use crate::layers::softmax::softmax_cross_entropy;
pub use crate::layers::softmax::softmax_rows;
use crate::models::Model;
use crate::models::encoder::{Encoder, LayerInfo, LayerOutput};
use crate::models::learner::{Batch, Evaluation, Learner, StepOutput, Update};
use crate::params::{Param, ParamKind, ParamMut, Parameters};
use crate::tensor::{Matrix, Op, matmul};

/// One hidden layer: how many output units, and how they compete.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hidden {
    /// Output units (blocks for maxout: a maxout layer of `units` computes `units * rank` pieces).
    pub units: usize,
    /// The competition among them.
    pub competition: Competition,
}

/// The architecture of an [`Mlp`]: input width, hidden layers, number of classes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Input features (784 for MNIST).
    pub input: usize,
    /// Hidden layers, input side first.
    pub hidden: Vec<Hidden>,
    /// Output classes of the softmax layer.
    pub classes: usize,
}

impl MlpConfig {
    /// Builds and checks a configuration from `(units, competition)` pairs.
    pub fn new(input: usize, hidden: &[(usize, Competition)], classes: usize) -> Result<Self> {
        let config =
            MlpConfig { input, hidden: hidden.iter().map(|&(units, competition)| Hidden { units, competition }).collect(), classes };
        config.validate()?;
        Ok(config)
    }

    /// Refuses zero widths and competitions that do not fit their layer.
    pub fn validate(&self) -> Result<()> {
        if self.input == 0 {
            return Err(Error::param("input width", 0, "at least 1"));
        }
        if self.classes < 2 {
            return Err(Error::param("classes", self.classes, "at least 2"));
        }
        for (i, h) in self.hidden.iter().enumerate() {
            if h.units == 0 {
                return Err(Error::param(format!("hidden layer {} width", i + 1), 0, "at least 1"));
            }
            h.competition.pre_width(h.units).map_err(|e| match e {
                Error::Param { name, value, expected } => Error::Param { name: format!("hidden layer {}: {name}", i + 1), value, expected },
                e => e,
            })?;
        }
        Ok(())
    }

    /// A one-line description of the architecture: `784-1000(relu)-1000(relu)-10`.
    pub fn describe(&self) -> String {
        let mut s = self.input.to_string();
        for h in &self.hidden {
            s.push_str(&format!("-{}({})", h.units, h.competition));
        }
        s.push_str(&format!("-{}", self.classes));
        s
    }

    /// Parameters of a network of this architecture, checked for overflow.
    pub fn num_params(&self) -> Option<u128> {
        self.layer_shapes()
            .iter()
            .try_fold(0u128, |acc, &(i, o)| acc.checked_add((i as u128).checked_mul(o as u128)?.checked_add(o as u128)?))
    }

    /// `(inputs, pre-activations)` of every layer, the softmax layer last.
    pub fn layer_shapes(&self) -> Vec<(usize, usize)> {
        let mut shapes = Vec::with_capacity(self.hidden.len() + 1);
        let mut width = self.input;
        for h in &self.hidden {
            shapes.push((width, h.units * h.competition.pieces()));
            width = h.units;
        }
        shapes.push((width, self.classes));
        shapes
    }
}

/// One fully connected layer: `z = h W^T + b`, with `W` stored `[outputs, inputs]` (the layout of
/// PyTorch's `nn.Linear`, so checkpoints load there unchanged). For a maxout layer the outputs are
/// the pieces, unit `j` owning rows `j * rank .. (j + 1) * rank`.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// Weights, `[outputs, inputs]`.
    pub weight: Matrix,
    /// Biases, one per output.
    pub bias: Vec<f32>,
}

/// A multilayer perceptron whose hidden layers compete locally, with a softmax output layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    /// The architecture.
    pub config: MlpConfig,
    /// Hidden layers first, the softmax layer last.
    pub layers: Vec<Layer>,
}

/// Gradients of the loss with respect to every layer's weights and biases (same shapes as [`Layer`]).
pub type Grads = Vec<Layer>;

impl Mlp {
    /// A network with freshly initialised parameters, drawn from a ChaCha8 generator seeded with
    /// `seed` (the same seed gives the same network on every machine). Hidden weights are
    /// `U(-sqrt(6/fan_in), sqrt(6/fan_in))` (He et al. 2015, the variance that keeps rectified
    /// signals from shrinking through depth), softmax weights `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`
    /// (PyTorch's `nn.Linear` default), biases 0.
    pub fn new(config: MlpConfig, seed: u64) -> Result<Self> {
        Self::with_gain(config, seed, 1.0)
    }

    /// As [`Mlp::new`], with the hidden layers' weight range multiplied by `gain` (> 0).
    pub fn with_gain(config: MlpConfig, seed: u64, gain: f32) -> Result<Self> {
        if !(gain.is_finite() && gain > 0.0) {
            return Err(Error::param("model.init_gain", gain, "a positive number"));
        }
        config.validate()?;
        check_memory(&config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let shapes = config.layer_shapes();
        let n_layers = shapes.len();
        // The range of every layer must be a proper, finite interval: a gain so small that it
        // rounds to 0 (1e-45), or so large that it overflows, is refused before sampling.
        for &(fan_in, _) in &shapes[..n_layers - 1] {
            let bound = gain * (6.0 / fan_in as f32).sqrt();
            // `2 * bound` is the width rand samples over: it must be finite too.
            if !(bound.is_normal() && bound > 0.0 && (2.0 * bound).is_finite()) {
                return Err(Error::param(
                    "model.init_gain",
                    gain,
                    format!(
                        "a gain whose weight range [-b, b], b = gain * sqrt(6 / {fan_in}) = {bound:e}, is a finite interval of normal f32 numbers"
                    ),
                ));
            }
        }
        let layers = shapes
            .into_iter()
            .enumerate()
            .map(|(l, (fan_in, outputs))| {
                let bound = if l + 1 < n_layers { gain * (6.0 / fan_in as f32).sqrt() } else { 1.0 / (fan_in as f32).sqrt() };
                let weight = (0..outputs * fan_in).map(|_| rng.random_range(-bound..bound)).collect();
                Layer { weight: Matrix { rows: outputs, cols: fan_in, data: weight }, bias: vec![0.0; outputs] }
            })
            .collect();
        Ok(Mlp { config, layers })
    }

    /// Misclassified examples of `data` (predictions in chunks of 500 rows).
    pub fn errors(&self, data: &crate::data::Dataset) -> Result<usize> {
        let predicted = self.predict(&data.x, 500)?;
        Ok(predicted.iter().zip(&data.labels).filter(|&(&p, &y)| p != y as usize).count())
    }

    /// Builds a network from given parameters, checking every shape against the configuration.
    pub fn from_layers(config: MlpConfig, layers: Vec<Layer>) -> Result<Self> {
        config.validate()?;
        let shapes = config.layer_shapes();
        if layers.len() != shapes.len() {
            return Err(Error::shape("layers", format!("{} layers", layers.len()), format!("{} layers (hidden + softmax)", shapes.len())));
        }
        for (i, (layer, &(fan_in, outputs))) in layers.iter().zip(&shapes).enumerate() {
            if layer.weight.rows != outputs || layer.weight.cols != fan_in || layer.weight.data.len() != outputs * fan_in {
                return Err(Error::shape(
                    format!("layers.{i}.weight"),
                    format!("[{}, {}]", layer.weight.rows, layer.weight.cols),
                    format!("[{outputs}, {fan_in}]"),
                ));
            }
            if layer.bias.len() != outputs {
                return Err(Error::shape(format!("layers.{i}.bias"), format!("[{}]", layer.bias.len()), format!("[{outputs}]")));
            }
        }
        Ok(Mlp { config, layers })
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.layers.iter().map(|l| l.weight.data.len() + l.bias.len()).sum()
    }

    /// Zero-filled gradients of this network's shapes.
    pub fn zero_grads(&self) -> Grads {
        self.layers.iter().map(|l| Layer { weight: Matrix::zeros(l.weight.rows, l.weight.cols), bias: vec![0.0; l.bias.len()] }).collect()
    }

    /// Class probabilities (softmax of the output layer) for every row of `x`, without dropout.
    pub fn predict_proba(&self, x: &Matrix) -> Result<Matrix> {
        let mut ws = Workspace::default();
        self.forward(x, &mut ws, None)?;
        let mut probs = ws.logits.clone();
        softmax_rows(&mut probs);
        Ok(probs)
    }

    /// The most probable class of every row of `x`, computed in chunks of `chunk` rows.
    pub fn predict(&self, x: &[f32], chunk: usize) -> Result<Vec<usize>> {
        let dim = self.config.input;
        if !x.len().is_multiple_of(dim) {
            return Err(Error::shape("inputs", format!("{} values", x.len()), format!("a multiple of the input width {dim}")));
        }
        let mut ws = Workspace::default();
        let mut predicted = Vec::with_capacity(x.len() / dim);
        let mut batch = Matrix::zeros(0, dim);
        for rows in x.chunks(chunk.max(1) * dim) {
            batch.resize(rows.len() / dim, dim);
            batch.data.copy_from_slice(rows);
            self.forward(&batch, &mut ws, None)?;
            predicted.extend((0..ws.logits.rows).map(|r| crate::competition::argmax_first(ws.logits.row(r))));
        }
        Ok(predicted)
    }

    /// Forward pass of a batch. With `train = Some((dropout, rng))` dropout masks are drawn and kept
    /// in the workspace for the backward pass; with `None` the pass is deterministic (evaluation).
    /// The logits end up in `ws.logits`, each hidden layer's pre-activations, outputs and winners in
    /// `ws.hidden[l]`.
    pub fn forward(&self, x: &Matrix, ws: &mut Workspace, train: Option<(Dropout, &mut ChaCha8Rng)>) -> Result<()> {
        let n_hidden = self.config.hidden.len();
        self.run_hidden(x, ws, train, n_hidden)?;
        let batch = x.rows;
        let last = &self.layers[n_hidden];
        let h_last: &Matrix = match n_hidden {
            0 if !ws.input_keep.is_empty() => &ws.input,
            0 => x,
            _ => &ws.hidden[n_hidden - 1].out,
        };
        ws.logits.resize(batch, last.weight.rows);
        for r in 0..batch {
            ws.logits.row_mut(r).copy_from_slice(&last.bias);
        }
        matmul(&mut ws.logits, h_last, Op::N, &last.weight, Op::T, true)?;
        Ok(())
    }

    /// Evaluation forward pass (no dropout) through the first `layers` hidden layers only: their
    /// pre-activations, outputs and winners end up in `ws.hidden[..layers]`. This is how submasks
    /// are read without paying for the layers above (see [`crate::analysis::submasks`](mod@crate::analysis::submasks)).
    pub fn forward_hidden(&self, x: &Matrix, ws: &mut Workspace, layers: usize) -> Result<()> {
        if layers > self.config.hidden.len() {
            return Err(Error::param("layers", layers, format!("at most the {} hidden layers of the network", self.config.hidden.len())));
        }
        self.run_hidden(x, ws, None, layers)
    }

    /// The hidden part of [`Mlp::forward`], up to (not including) hidden layer `upto`.
    fn run_hidden(&self, x: &Matrix, ws: &mut Workspace, train: Option<(Dropout, &mut ChaCha8Rng)>, upto: usize) -> Result<()> {
        if x.cols != self.config.input {
            return Err(Error::shape("input batch", format!("{} features", x.cols), format!("{} features", self.config.input)));
        }
        let batch = x.rows;
        let n_hidden = upto;
        if ws.hidden.len() < n_hidden {
            ws.hidden.resize_with(n_hidden, HiddenCache::default);
        }
        let (dropout, mut rng) = match train {
            Some((d, rng)) => (d, Some(rng)),
            None => (Dropout::default(), None),
        };

        // Input dropout: the network reads a masked copy of the batch.
        ws.input_keep.clear();
        let input: &Matrix = match rng.as_deref_mut() {
            Some(rng) if dropout.input > 0.0 => {
                ws.input.clone_from(x);
                draw_keep_mask(rng, dropout.input, batch * x.cols, &mut ws.input_keep);
                apply_keep_mask(&mut ws.input.data, &ws.input_keep, dropout.input);
                &ws.input
            }
            _ => x,
        };

        for l in 0..n_hidden {
            let layer = &self.layers[l];
            let competition = self.config.hidden[l].competition;
            let (before, rest) = ws.hidden.split_at_mut(l);
            let h_in: &Matrix = if l == 0 { input } else { &before[l - 1].out };
            let cache = &mut rest[0];
            // z = h W^T + b (paper A, section 2): start from the bias, accumulate the product.
            cache.pre.resize(batch, layer.weight.rows);
            for r in 0..batch {
                cache.pre.row_mut(r).copy_from_slice(&layer.bias);
            }
            matmul(&mut cache.pre, h_in, Op::N, &layer.weight, Op::T, true)?;
            // The local competition: output and winners (the submask) in one pass.
            cache.out.resize(batch, self.config.hidden[l].units);
            cache.winners.resize(cache.pre.data.len(), false);
            // Training passes compete as in training, the others as at test time (competition::Mode);
            // the batch is split across threads unless the competition couples it.
            let mode = if rng.is_some() { Mode::Train } else { Mode::Eval };
            let shape = Shape::Rows { width: cache.pre.cols };
            competition.forward_par(&cache.pre.data, batch, shape, mode, &mut cache.out.data, &mut cache.winners)?;
            cache.keep.clear();
            if let Some(rng) = rng.as_deref_mut()
                && dropout.hidden > 0.0
            {
                draw_keep_mask(rng, dropout.hidden, cache.out.data.len(), &mut cache.keep);
                apply_keep_mask(&mut cache.out.data, &cache.keep, dropout.hidden);
            }
        }
        Ok(())
    }

    /// Mean softmax cross-entropy of the logits in `ws` (after [`Mlp::forward`]) against `labels`,
    /// and the gradient of every parameter, written into `grads`. Uses the dropout masks and winners
    /// kept by the forward pass: errors flow only through the units that won and were not dropped
    /// (paper A, section 2 and Figure 1).
    pub fn backward(&self, x: &Matrix, labels: &[u8], ws: &mut Workspace, grads: &mut Grads, dropout: Dropout) -> Result<f32> {
        let batch = x.rows;
        if labels.len() != batch || ws.logits.rows != batch {
            return Err(Error::shape(
                "labels",
                format!("{} labels", labels.len()),
                format!("{batch}, one per example of the forward pass"),
            ));
        }
        // dL/dlogits = (softmax - onehot) / batch.
        let loss = softmax_cross_entropy(&ws.logits, labels, self.config.classes, &mut ws.grad_out)?;

        let n_hidden = self.config.hidden.len();
        let input: &Matrix = if ws.input_keep.is_empty() { x } else { &ws.input };
        for l in (0..=n_hidden).rev() {
            let h_in: &Matrix = if l == 0 { input } else { &ws.hidden[l - 1].out };
            // ws.grad_out holds dL/dz of layer l: weight and bias gradients.
            let g = &mut grads[l];
            matmul(&mut g.weight, &ws.grad_out, Op::T, h_in, Op::N, false)?;
            column_sums(&ws.grad_out, &mut g.bias);
            if l == 0 {
                break;
            }
            // dL/dh of the layer below, then through its dropout mask and its competition.
            let below = &mut ws.hidden[l - 1];
            ws.grad_h.resize(batch, self.layers[l].weight.cols);
            matmul(&mut ws.grad_h, &ws.grad_out, Op::N, &self.layers[l].weight, Op::N, false)?;
            if !below.keep.is_empty() {
                apply_keep_mask(&mut ws.grad_h.data, &below.keep, dropout.hidden);
            }
            ws.grad_out.resize(batch, below.pre.cols);
            // The backward pass of every competition is the same in both modes (the winners carry the
            // difference); std-abs also reads the pre-activations.
            let shape = Shape::Rows { width: below.pre.cols };
            self.config.hidden[l - 1].competition.backward_par(
                &below.pre.data,
                &ws.grad_h.data,
                &below.winners,
                batch,
                shape,
                Mode::Train,
                &mut ws.grad_out.data,
            )?;
        }
        Ok(loss)
    }

    /// Loss and gradients of a batch without dropout (for checks and analysis).
    pub fn loss_and_grads(&self, x: &Matrix, labels: &[u8]) -> Result<(f32, Grads)> {
        let mut ws = Workspace::default();
        let mut grads = self.zero_grads();
        self.forward(x, &mut ws, None)?;
        let loss = self.backward(x, labels, &mut ws, &mut grads, Dropout::default())?;
        Ok((loss, grads))
    }
}

/// The parameters of a list of dense layers: `layers.{i}.weight` (`[outputs, inputs]`) and
/// `layers.{i}.bias`, the names of the checkpoint (and of PyTorch's `nn.Sequential` of `nn.Linear`
/// when indexed by layer). Gradients ([`Grads`]) are named alike.
impl Parameters for Vec<Layer> {
    fn params(&self) -> Vec<Param<'_>> {
        let mut p = Vec::with_capacity(2 * self.len());
        for (i, l) in self.iter().enumerate() {
            p.push(Param::new(format!("layers.{i}.weight"), vec![l.weight.rows, l.weight.cols], ParamKind::Weight, &l.weight.data));
            p.push(Param::new(format!("layers.{i}.bias"), vec![l.bias.len()], ParamKind::Bias, &l.bias));
        }
        p
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut p = Vec::with_capacity(2 * self.len());
        for (i, l) in self.iter_mut().enumerate() {
            let shape = vec![l.weight.rows, l.weight.cols];
            p.push(ParamMut::new(format!("layers.{i}.weight"), shape, ParamKind::Weight, &mut l.weight.data));
            let n = l.bias.len();
            p.push(ParamMut::new(format!("layers.{i}.bias"), vec![n], ParamKind::Bias, &mut l.bias));
        }
        p
    }
}

impl Parameters for Mlp {
    fn params(&self) -> Vec<Param<'_>> {
        self.layers.params()
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        self.layers.params_mut()
    }
}

/// Refuses an architecture whose parameters (with gradients and optimizer state, about four copies)
/// would not fit in memory, before anything is allocated.
fn check_memory(config: &MlpConfig) -> Result<()> {
    let bytes = config.num_params().and_then(|n| n.checked_mul(4 * 4)).unwrap_or(u128::MAX);
    crate::io::check_alloc(&format!("the parameters of {} (weights, gradients, optimizer state)", config.describe()), bytes)
}

impl Model for Mlp {
    const KIND: &'static str = "mlp";
    type Config = MlpConfig;

    fn config(&self) -> &MlpConfig {
        &self.config
    }

    fn zeros(config: &MlpConfig) -> Result<Self> {
        config.validate()?;
        check_memory(config)?;
        let layers = config.layer_shapes().into_iter().map(|(i, o)| Layer { weight: Matrix::zeros(o, i), bias: vec![0.0; o] }).collect();
        Ok(Mlp { config: config.clone(), layers })
    }

    fn init(config: &MlpConfig, seed: u64) -> Result<Self> {
        Mlp::new(config.clone(), seed)
    }

    fn describe(&self) -> String {
        self.config.describe()
    }
}

/// Trains an [`Mlp`] by backpropagation of the softmax cross-entropy, with dropout (paper A, section
/// 2 and 3.4): the learner of [`crate::train::train`] for `[model] type = "mlp"`. Scored by
/// validation errors.
#[derive(Clone, Debug)]
pub struct MlpLearner {
    /// The network.
    pub mlp: Mlp,
    /// Dropout rates of the training passes.
    pub dropout: Dropout,
    ws: Workspace,
    grads: Grads,
}

impl MlpLearner {
    /// A learner for `mlp` with `dropout`.
    pub fn new(mlp: Mlp, dropout: Dropout) -> Result<Self> {
        dropout.validate()?;
        let grads = mlp.zero_grads();
        Ok(MlpLearner { mlp, dropout, ws: Workspace::default(), grads })
    }
}

impl Learner for MlpLearner {
    type Model = Mlp;

    fn model(&self) -> &Mlp {
        &self.mlp
    }

    fn model_mut(&mut self) -> &mut Mlp {
        &mut self.mlp
    }

    fn step(&mut self, batch: &Batch<'_>, rng: &mut ChaCha8Rng) -> Result<StepOutput> {
        self.mlp.forward(batch.x, &mut self.ws, Some((self.dropout, rng)))?;
        let loss = self.mlp.backward(batch.x, batch.labels, &mut self.ws, &mut self.grads, self.dropout)?;
        Ok(StepOutput { loss, update: Update::Gradients })
    }

    fn model_and_grads(&mut self) -> (&mut Mlp, &dyn Parameters) {
        (&mut self.mlp, &self.grads)
    }

    fn evaluate(&self, data: &crate::data::Dataset) -> Result<Evaluation> {
        let errors = self.mlp.errors(data)?;
        Ok(Evaluation { score: errors as f64, errors: Some(errors), metrics: Vec::new() })
    }

    fn score_name(&self) -> &'static str {
        "validation errors"
    }

    fn encoder(&self) -> Option<&dyn Encoder> {
        Some(&self.mlp)
    }
}

impl Encoder for Mlp {
    fn input_width(&self) -> usize {
        self.config.input
    }

    fn layers(&self) -> Vec<LayerInfo> {
        self.config
            .hidden
            .iter()
            .map(|h| LayerInfo {
                name: format!("{}({})", h.units, h.competition),
                pre_width: h.units * h.competition.pieces(),
                units: h.units,
                competition: h.competition.in_mode(crate::competition::Mode::Eval),
                maps: None,
            })
            .collect()
    }

    fn encode(&self, x: &Matrix, upto: usize, out: &mut Vec<LayerOutput>) -> Result<()> {
        // The workspace borrows the caller's buffers for the pass and hands them back, so repeated
        // calls allocate nothing.
        let mut ws = Workspace {
            hidden: out.drain(..).map(|o| HiddenCache { pre: o.pre, out: o.out, winners: o.winners, keep: Vec::new() }).collect(),
            ..Default::default()
        };
        let result = self.forward_hidden(x, &mut ws, upto);
        out.extend(ws.hidden.into_iter().map(|h| LayerOutput { pre: h.pre, out: h.out, winners: h.winners }));
        result
    }

    fn describe(&self) -> String {
        self.config.describe()
    }

    fn dense_stack(&self) -> Option<Result<crate::models::DenseStack>> {
        let n = self.layers.len();
        let hidden =
            self.layers[..n - 1].iter().zip(&self.config.hidden).map(|(l, h)| (l.weight.clone(), l.bias.clone(), h.competition)).collect();
        let output = Some((self.layers[n - 1].weight.clone(), self.layers[n - 1].bias.clone()));
        Some(Ok(crate::models::DenseStack { input: self.config.input, hidden, output }))
    }
}

/// What one hidden layer keeps from the forward pass for the backward pass.
#[derive(Clone, Debug, Default)]
pub struct HiddenCache {
    /// Pre-activations `z`, `[batch, pre_width]`.
    pub pre: Matrix,
    /// Outputs after the competition (and dropout, in training), `[batch, units]`.
    pub out: Matrix,
    /// Winners of the competition, one flag per pre-activation: the submask.
    pub winners: Vec<bool>,
    /// Dropout keep-mask of the outputs (empty when no dropout was applied).
    pub keep: Vec<bool>,
}

/// Reusable buffers of a forward and backward pass, so that a training step allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    /// Per hidden layer caches.
    pub hidden: Vec<HiddenCache>,
    /// Logits of the output layer, `[batch, classes]`.
    pub logits: Matrix,
    /// The input after input dropout (unused without it).
    input: Matrix,
    input_keep: Vec<bool>,
    grad_out: Matrix,
    grad_h: Matrix,
}

fn column_sums(m: &Matrix, out: &mut [f32]) {
    out.fill(0.0);
    for r in 0..m.rows {
        for (o, &v) in out.iter_mut().zip(m.row(r)) {
            *o += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(rows: usize, cols: usize, seed: u64) -> (Matrix, Vec<u8>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = Matrix { rows, cols, data: (0..rows * cols).map(|_| rng.random_range(-1.0..1.0)).collect() };
        let y = (0..rows).map(|_| rng.random_range(0..3u8)).collect();
        (x, y)
    }

    /// Loss and winners of every hidden layer, with dropout masks from `seed` when `dropout` is set.
    fn loss_at(net: &Mlp, x: &Matrix, y: &[u8], dropout: Dropout, seed: u64) -> (f64, Vec<Vec<bool>>) {
        let mut ws = Workspace::default();
        let mut grads = net.zero_grads();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        net.forward(x, &mut ws, Some((dropout, &mut rng))).unwrap();
        let loss = net.backward(x, y, &mut ws, &mut grads, dropout).unwrap();
        (loss as f64, ws.hidden.iter().map(|h| h.winners.clone()).collect())
    }

    /// Central differences against the analytic gradient, for every parameter whose perturbation
    /// does not change any winner (where the loss is not differentiable).
    fn check_gradients(competitions: &[Competition], dropout: Dropout) {
        let hidden: Vec<(usize, Competition)> = competitions.iter().map(|&c| (6, c)).collect();
        let net = Mlp::new(MlpConfig::new(5, &hidden, 3).unwrap(), 3).unwrap();
        let (x, y) = data(7, 5, 11);
        let mut ws = Workspace::default();
        let mut grads = net.zero_grads();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        net.forward(&x, &mut ws, Some((dropout, &mut rng))).unwrap();
        net.backward(&x, &y, &mut ws, &mut grads, dropout).unwrap();
        let eps = 1e-3f32;
        let (mut checked, mut skipped) = (0, 0);
        #[allow(clippy::needless_range_loop)] // l indexes the network, its clones and the gradients alike
        for l in 0..net.layers.len() {
            let n_w = net.layers[l].weight.data.len();
            for i in 0..n_w + net.layers[l].bias.len() {
                let perturbed = |d: f32| {
                    let mut n = net.clone();
                    if i < n_w {
                        n.layers[l].weight.data[i] += d
                    } else {
                        n.layers[l].bias[i - n_w] += d
                    }
                    loss_at(&n, &x, &y, dropout, 5)
                };
                let ((lp, wp), (lm, wm)) = (perturbed(eps), perturbed(-eps));
                if wp != wm {
                    skipped += 1;
                    continue;
                }
                let numeric = (lp - lm) / (2.0 * eps as f64);
                let analytic = if i < n_w { grads[l].weight.data[i] } else { grads[l].bias[i - n_w] } as f64;
                assert!(
                    (numeric - analytic).abs() < 2e-3 + 2e-2 * analytic.abs(),
                    "{competitions:?} layer {l} param {i}: numeric {numeric}, analytic {analytic}"
                );
                checked += 1;
            }
        }
        assert!(checked > 10 * skipped, "too few parameters checked: {checked} checked, {skipped} at a kink");
    }

    #[test]
    fn gradients_match_finite_differences_for_every_competition() {
        for c in [
            Competition::Relu,
            Competition::Lwta { block: 2 },
            Competition::Lwta { block: 3 },
            Competition::Maxout { rank: 2 },
            Competition::Abs,
            Competition::KSparse { k: 3 },
        ] {
            check_gradients(&[c, c], Dropout::default());
        }
        check_gradients(&[Competition::Maxout { rank: 3 }, Competition::Lwta { block: 2 }, Competition::Relu], Dropout::default());
    }

    #[test]
    fn gradients_with_dropout_follow_the_drawn_masks() {
        check_gradients(&[Competition::Relu, Competition::Maxout { rank: 2 }], Dropout { input: 0.2, hidden: 0.5 });
    }

    #[test]
    fn errors_flow_only_through_winners() {
        // A maxout layer's losing pieces and an LWTA layer's losers get exactly zero gradient.
        let net = Mlp::new(MlpConfig::new(4, &[(3, Competition::Maxout { rank: 2 })], 3).unwrap(), 2).unwrap();
        let (x, y) = data(1, 4, 3);
        let mut ws = Workspace::default();
        let mut grads = net.zero_grads();
        net.forward(&x, &mut ws, None).unwrap();
        net.backward(&x, &y, &mut ws, &mut grads, Dropout::default()).unwrap();
        for (piece, &won) in ws.hidden[0].winners.iter().enumerate() {
            let row = &grads[0].weight.data[piece * 4..(piece + 1) * 4];
            assert_eq!(row.iter().all(|&g| g == 0.0), !won, "piece {piece}");
        }
    }

    #[test]
    fn dropout_zeroes_and_rescales_and_evaluation_is_deterministic() {
        let net = Mlp::new(MlpConfig::new(10, &[(50, Competition::Relu)], 3).unwrap(), 1).unwrap();
        let (x, _) = data(40, 10, 2);
        let mut ws = Workspace::default();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        net.forward(&x, &mut ws, Some((Dropout { input: 0.0, hidden: 0.5 }, &mut rng))).unwrap();
        let keep = ws.hidden[0].keep.clone();
        let dropped = keep.iter().filter(|&&k| !k).count() as f64 / keep.len() as f64;
        assert!((dropped - 0.5).abs() < 0.05, "dropped fraction {dropped}");
        let train_out = ws.hidden[0].out.data.clone();
        net.forward(&x, &mut ws, None).unwrap();
        for ((&t, &e), &k) in train_out.iter().zip(&ws.hidden[0].out.data).zip(&keep) {
            assert_eq!(t, if k { e * 2.0 } else { 0.0 });
        }
        assert_eq!(net.predict_proba(&x).unwrap(), net.predict_proba(&x).unwrap());
        let p = net.predict_proba(&x).unwrap();
        assert!((p.row(0).iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn same_seed_same_network_and_shapes_are_checked() {
        let cfg = MlpConfig::new(6, &[(4, Competition::Maxout { rank: 3 })], 2).unwrap();
        assert_eq!(Mlp::new(cfg.clone(), 4).unwrap(), Mlp::new(cfg.clone(), 4).unwrap());
        assert_ne!(Mlp::new(cfg.clone(), 4).unwrap(), Mlp::new(cfg.clone(), 5).unwrap());
        let mut layers = Mlp::new(cfg.clone(), 4).unwrap().layers;
        assert_eq!(layers[0].weight.rows, 12, "maxout computes units x rank pieces");
        layers[0].bias.pop();
        let err = Mlp::from_layers(cfg.clone(), layers).unwrap_err().to_string();
        assert!(err.contains("layers.0.bias") && err.contains("[11]") && err.contains("[12]"), "{err}");
        let (x, _) = data(2, 5, 1);
        let err = Mlp::new(cfg, 1).unwrap().predict_proba(&x).unwrap_err().to_string();
        assert!(err.contains("5 features") && err.contains("6 features"), "{err}");
    }

    #[test]
    fn init_gain_scales_hidden_weights_only() {
        let cfg = MlpConfig::new(6, &[(4, Competition::Relu)], 2).unwrap();
        let (a, b) = (Mlp::new(cfg.clone(), 3).unwrap(), Mlp::with_gain(cfg.clone(), 3, 0.5).unwrap());
        for (x, y) in a.layers[0].weight.data.iter().zip(&b.layers[0].weight.data) {
            assert!((0.5 * x - y).abs() < 1e-6);
        }
        assert_eq!(a.layers[1], b.layers[1]);
        assert!(Mlp::with_gain(cfg, 3, 0.0).unwrap_err().to_string().contains("model.init_gain"));
    }

    #[test]
    fn bad_architectures_are_refused_with_the_layer_named() {
        let err = MlpConfig::new(784, &[(1000, Competition::Relu), (1001, Competition::Lwta { block: 2 })], 10).unwrap_err().to_string();
        assert!(err.contains("hidden layer 2") && err.contains("lwta block size") && err.contains("1001"), "{err}");
        assert!(MlpConfig::new(784, &[(10, Competition::Maxout { rank: 0 })], 10).unwrap_err().to_string().contains("maxout rank"));
        assert!(MlpConfig::new(784, &[(0, Competition::Relu)], 10).is_err());
        assert!(Dropout { input: 1.0, hidden: 0.0 }.validate().unwrap_err().to_string().contains("dropout.input"));
    }
}
