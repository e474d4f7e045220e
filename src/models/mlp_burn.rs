//! The competitive MLP of [`crate::models::mlp`] written with burn tensors: the reference engine.
//!
//! Same network, same parameter layout, same tie rules as the hand-fused CPU engine, but every
//! derivative comes from burn's autodiff. It has two jobs:
//!
//! 1. an **independent check** of the hand-written backward pass: [`loss_and_grads`] returns the loss
//!    and `dLoss/dW`, `dLoss/db` of every layer, computed by autodiff on the `flex` CPU backend;
//! 2. the engine for **GPU backends**: [`BurnMlp`] works on whatever [`Device`] its tensors live on
//!    (`Device::flex()`, or `Device::cuda(0)` / `Device::wgpu(..)` with this crate's `cuda` / `wgpu`
//!    features), with autodiff when the device was made with [`Device::autodiff`].
//!
//! **Where it is compiled.** burn is a dev-dependency, so this module is always part of the unit
//! tests (`cargo test`), which hold the hand-written engine against it; in the library it exists only
//! with the `burn` feature (implied by `wgpu` and `cuda`), so the default build compiles no tensor
//! framework. The example below runs as a doctest only with `--features burn`.
//!
//! # The network (paper A, section 2)
//!
//! Input `x` is `[batch, input]`, one example per row. Layer `l` has a weight `W` of shape
//! `[pre_width, in]` (PyTorch `nn.Linear` layout) and a bias `b` of length `pre_width`:
//!
//! ```text
//! z   = h W^T + b                      pre-activations ("z = wx + b" per unit, paper A section 2)
//! h'  = competition(z)                 every hidden layer, see `apply_competition`
//! logits = h W^T + b                   last layer, no competition
//! loss = mean over rows of -log softmax(logits)[label]
//! ```
//!
//! # burn 0.23 in brief
//!
//! burn 0.23 no longer puts the backend in the tensor type: a tensor is `Tensor<D>` (float),
//! `Tensor<D, Int>` or `Tensor<D, Bool>`, and the backend is chosen at run time by the [`Device`] it
//! lives on. Autodiff is a property of the device (`Device::flex().autodiff()`), not a wrapper type
//! (`Autodiff<Flex>` is gone). Hence [`BurnMlp`] has no backend type parameter: the device passed to
//! [`BurnMlp::from_params`] picks the backend.
//!
//! ```
//! use compete::competition::Competition;
//! use compete::models::mlp::MlpConfig;
//! use compete::models::mlp_burn::{loss_and_grads, predict};
//! use compete::tensor::Matrix;
//!
//! // A 2-4-2 network with one LWTA layer in blocks of 2.
//! let config = MlpConfig::new(2, &[(4, Competition::Lwta { block: 2 })], 2).unwrap();
//! let w1 = Matrix::from_vec(4, 2, vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, -1.0]).unwrap();
//! let w2 = Matrix::from_vec(2, 4, vec![1.0, 0.0, 0.5, 0.0, 0.0, 1.0, 0.0, 0.5]).unwrap();
//! let params = vec![(w1, vec![0.0; 4]), (w2, vec![0.0; 2])];
//! let x = Matrix::from_vec(1, 2, vec![1.0, 2.0]).unwrap();
//!
//! let (loss, grads) = loss_and_grads(&config, &params, &x, &[1]).unwrap();
//! assert!(loss > 0.0 && grads.len() == 2);
//! let probs = predict(&config, &params, &x).unwrap();
//! assert!((probs.data[0] + probs.data[1] - 1.0).abs() < 1e-6);
//! ```

use burn::tensor::{Bool, Device, Int, Tensor, TensorData, activation};

use crate::competition::{Competition, Read, Select};
use crate::error::{Error, Result};
use crate::models::mlp::MlpConfig;
use crate::tensor::Matrix;

/// The parameters of one layer on the host: `(weight, bias)`, weight `pre_width x in` (PyTorch
/// `nn.Linear` layout), bias `pre_width`. Gradients come back in the same layout.
pub type LayerParams = (Matrix, Vec<f32>);

/// One dense layer: `z = h W^T + b`.
#[derive(Clone, Debug)]
pub struct BurnLayer {
    /// `[pre_width, in]`, the PyTorch `nn.Linear` layout.
    pub weight: Tensor<2>,
    /// `[pre_width]`.
    pub bias: Tensor<1>,
}

/// A competitive MLP held as burn tensors on one [`Device`].
///
/// On an autodiff device (`Device::flex().autodiff()`) every weight and bias is a leaf that keeps its
/// gradient, so `model.loss(..)?.backward()` followed by [`BurnMlp::grads`] gives the gradients.
#[derive(Clone, Debug)]
pub struct BurnMlp {
    config: MlpConfig,
    layers: Vec<BurnLayer>,
    device: Device,
}

impl BurnMlp {
    /// Builds the network from `(weight, bias)` pairs, one per layer, softmax layer last: weight `i`
    /// must be `pre_width x in` and bias `i` of length `pre_width`, as in
    /// [`MlpConfig::layer_shapes`]. On an autodiff device the parameters require gradients.
    pub fn from_params(config: &MlpConfig, params: &[LayerParams], device: &Device) -> Result<Self> {
        config.validate()?;
        check_params(config, params)?;
        let layers = params
            .iter()
            .map(|(w, b)| {
                let weight = matrix_to_tensor(w, device);
                let bias = Tensor::<1>::from_data(TensorData::new(b.clone(), [b.len()]), device);
                if device.is_autodiff() {
                    BurnLayer { weight: weight.require_grad(), bias: bias.require_grad() }
                } else {
                    BurnLayer { weight, bias }
                }
            })
            .collect();
        Ok(BurnMlp { config: config.clone(), layers, device: device.clone() })
    }

    /// The architecture.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// The layers, input side first, softmax layer last.
    pub fn layers(&self) -> &[BurnLayer] {
        &self.layers
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Logits `[batch, classes]` for a batch `x` of `[batch, input]` on this model's device.
    pub fn forward_logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let [_, width] = x.dims();
        if width != self.config.input {
            return Err(Error::shape(
                "burn MLP input",
                format!("{width} columns"),
                format!("{} columns (the input width)", self.config.input),
            ));
        }
        let mut h = x;
        let (last, hidden) = self.layers.split_last().ok_or_else(|| Error::Data("burn MLP has no layers".into()))?;
        for (layer, spec) in hidden.iter().zip(&self.config.hidden) {
            let z = linear(h, layer);
            h = apply_competition(spec.competition, z)?.0;
        }
        Ok(linear(h, last))
    }

    /// Mean softmax cross-entropy of the batch (a one-element tensor): `labels` is `[batch]`, each in
    /// `0..classes`. Labels are not range-checked here (burn's gather has no bound check on every
    /// backend); [`loss_and_grads`] checks them on the host.
    pub fn loss(&self, x: Tensor<2>, labels: Tensor<1, Int>) -> Result<Tensor<1>> {
        let [rows, _] = x.dims();
        let [n] = labels.dims();
        if n != rows || rows == 0 {
            return Err(Error::shape("burn MLP labels", format!("{n} labels for {rows} rows"), "one label per row, at least one row"));
        }
        Ok(cross_entropy(self.forward_logits(x)?, labels))
    }

    /// The gradients `(dLoss/dW, dLoss/db)` of every layer from the gradients of a backward pass
    /// (`loss.backward()`), in layer order.
    pub fn grads(&self, grads: &burn::tensor::Gradients) -> Result<Vec<(Tensor<2>, Tensor<1>)>> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let missing =
                    |what: &str| Error::Data(format!("burn MLP: no gradient for the {what} of layer {} (is the device autodiff?)", i + 1));
                let gw = l.weight.grad(grads).ok_or_else(|| missing("weight"))?;
                let gb = l.bias.grad(grads).ok_or_else(|| missing("bias"))?;
                Ok((gw, gb))
            })
            .collect()
    }

    /// Copies the parameters back to the host, in the layout [`BurnMlp::from_params`] takes.
    pub fn to_params(&self) -> Result<Vec<LayerParams>> {
        self.layers.iter().map(|l| Ok((tensor_to_matrix(&l.weight)?, tensor_to_vec(&l.bias)?))).collect()
    }
}

/// `z = h W^T + b` (paper A, section 2: `z = wx + b` for every unit).
fn linear(h: Tensor<2>, layer: &BurnLayer) -> Tensor<2> {
    h.matmul(layer.weight.clone().transpose()) + layer.bias.clone().unsqueeze::<2>()
}

/// Mean over rows of `-log softmax(logits)[label]`.
fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [rows] = labels.dims();
    let log_p = activation::log_softmax(logits, 1);
    log_p.gather(1, labels.reshape([rows, 1])).mean().neg()
}

/// Applies a competition to pre-activations `z` of shape `[batch, pre_width]`; returns the output
/// `[batch, pre_width / pieces]` and the winners `[batch, pre_width]` (paper A, section 3: the
/// submask). Gradients flow only through winners, exactly as in [`Competition::backward`]; ties go to
/// the lowest index, as in [`Competition::forward`].
///
/// The competition is read through its piecewise linear rules ([`Competition::pwl`]), the same
/// definitions as the CPU engine and the region code: the [`Select`] rule gives the winners, the
/// [`Read`] rule the outputs. k-sparse has no such rule (its winners depend on the whole row) but
/// reads its winners like a ReLU gate. The other competitions (std-abs, lifetime and spatial) are
/// not implemented here and are refused.
///
/// The winners are computed on a detached copy of `z`, so the only differentiable operations are a
/// mask, a constant factor or, for a pool, a gather: the derivative is 1 for a winner and 0 (or the
/// gate's loser coefficient) for a loser, with no sub-gradient convention of burn involved (burn's
/// own `relu` and `abs` are not used).
pub fn apply_competition(competition: Competition, z: Tensor<2>) -> Result<(Tensor<2>, Tensor<2, Bool>)> {
    let [rows, width] = z.dims();
    let pieces = competition.pieces();
    if !width.is_multiple_of(pieces) {
        return Err(Error::shape(format!("{competition} pre-activations"), format!("{width} columns"), format!("a multiple of {pieces}")));
    }
    competition.pre_width(width / pieces)?;
    let zd = z.clone().detach();
    let rules = match (competition.pwl(), competition) {
        (Some(rules), _) => rules,
        // k-sparse "population sparsity" (paper B, section 5, after Makhzani & Frey 2014): the k
        // largest pre-activations of each row pass.
        (None, Competition::KSparse { k }) => {
            let winners = top_k_mask(zd, k);
            return Ok((z.mask_fill(winners.clone().bool_not(), 0.0), winners));
        }
        (None, c) => {
            return Err(Error::param(
                "competition",
                c,
                "relu, abs, lwta:<block>, maxout:<rank> or ksparse:<k> (the burn reference has no std-abs, lifetime or spatial layers)",
            ));
        }
    };
    // The winners. Paper A, section 2: ReLU is "max(z, 0), competition with a fixed value of 0" (a
    // unit at exactly 0 has not won); LWTA and maxout compete in blocks of consecutive units, the
    // first maximum winning. Paper C, section III.A: the piece of |z| used is z >= 0.
    let (winners, best) = match rules.select {
        Select::Positive => (zd.greater_elem(0.0), None),
        Select::NonNegative => (zd.greater_equal_elem(0.0), None),
        // burn's `argmax` documents ties as going to the lowest coordinate (and NaN as winning over
        // numbers, unlike the CPU engine, where NaN never wins).
        Select::BlockMax { .. } => {
            let k = rules.select.group();
            let best = zd.reshape([rows, width / k, k]).argmax(2);
            (one_hot_mask(best.clone(), k).reshape([rows, width]), Some(best))
        }
    };
    let out = match rules.read {
        // LWTA (paper A, section 2): "the output of each unit is Iz where I is 1 if the unit has the
        // maximum z in its group and 0 otherwise"; ReLU likewise.
        Read::Gate { loser: 0.0 } => z.mask_fill(winners.clone().bool_not(), 0.0),
        // Absolute value: z * s with s = 1 for a winner and the loser coefficient (-1) otherwise; s is
        // a constant of the graph, so dh/dz = s (and +1 at z = 0, where burn's `abs` would give 0).
        Read::Gate { loser } => {
            let factor = winners.clone().float().mul_scalar(1.0 - loser).add_scalar(loser);
            z * factor
        }
        // Maxout (paper A, section 2): "the block output is the maximum z among the units"; unit j
        // reads the consecutive pre-activations j*k .. j*k+k-1. The gather routes the gradient to the
        // winning piece only.
        Read::Pool { .. } => {
            let k = rules.pieces();
            let units = width / k;
            let best = best.unwrap_or_else(|| winners.clone().reshape([rows, units, k]).int().argmax(2));
            z.reshape([rows, units, k]).gather(2, best).reshape([rows, units])
        }
    };
    Ok((out, winners))
}

/// Indices `[a, b, 1]` in `0..n` -> a `[a, b, n]` mask, `true` at each index.
fn one_hot_mask(index: Tensor<3, Int>, n: usize) -> Tensor<3, Bool> {
    let [a, b, _] = index.dims();
    let positions = Tensor::<1, Int>::arange(0..n as i64, &index.device()).reshape([1, 1, n]).expand([a, b, n]);
    positions.equal(index.expand([a, b, n]))
}

/// The `k` largest entries of each row, ties to the lowest index (as [`Competition::forward`]).
///
/// burn's sorts are documented as unstable, so only the k-th largest value `t` of each row is read
/// from a sort, never the order of equal values: the winners are every entry above `t`, then the
/// first entries equal to `t`, as many as are still needed to reach `k`.
fn top_k_mask(z: Tensor<2>, k: usize) -> Tensor<2, Bool> {
    let [rows, width] = z.dims();
    let kth = z.clone().sort_descending(1).narrow(1, k - 1, 1).expand([rows, width]);
    let above = z.clone().greater(kth.clone());
    let tied = z.equal(kth);
    let needed = above.clone().int().sum_dim(1).neg().add_scalar(k as i64).expand([rows, width]);
    let tie_rank = tied.clone().int().cumsum(1);
    above.bool_or(tied.bool_and(tie_rank.lower_equal(needed)))
}

/// Loss and gradients of the competitive MLP by burn's autodiff on the `flex` CPU backend.
///
/// `params[i]` is `(weight, bias)` of layer `i` (softmax layer last) with the shapes of
/// [`MlpConfig::layer_shapes`]: weight `pre_width x in`, bias `pre_width`. `x` is `batch x input`,
/// `labels` one class in `0..classes` per row. Returns the mean cross-entropy and, per layer,
/// `(dLoss/dW, dLoss/db)` with the shapes of the parameters.
pub fn loss_and_grads(config: &MlpConfig, params: &[LayerParams], x: &Matrix, labels: &[u8]) -> Result<(f32, Vec<LayerParams>)> {
    let device = Device::flex().autodiff();
    let model = BurnMlp::from_params(config, params, &device)?;
    check_batch(config, x, Some(labels))?;
    let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [x.rows]), &device);
    let loss = model.loss(matrix_to_tensor(x, &device), labels)?;
    let grads = loss.backward();
    let value = read_scalar(&loss)?;
    let grads = model.grads(&grads)?.iter().map(|(gw, gb)| Ok((tensor_to_matrix(gw)?, tensor_to_vec(gb)?))).collect::<Result<Vec<_>>>()?;
    Ok((value, grads))
}

/// Softmax class probabilities `batch x classes` on the `flex` CPU backend (no autodiff).
pub fn predict(config: &MlpConfig, params: &[LayerParams], x: &Matrix) -> Result<Matrix> {
    let device = Device::flex();
    let model = BurnMlp::from_params(config, params, &device)?;
    check_batch(config, x, None)?;
    let logits = model.forward_logits(matrix_to_tensor(x, &device))?;
    tensor_to_matrix(&activation::softmax(logits, 1))
}

/// Checks the number of layers and every parameter shape against [`MlpConfig::layer_shapes`].
fn check_params(config: &MlpConfig, params: &[LayerParams]) -> Result<()> {
    let shapes = config.layer_shapes();
    if params.len() != shapes.len() {
        return Err(Error::shape(
            "burn MLP parameters",
            format!("{} layers", params.len()),
            format!("{} layers (hidden layers + softmax)", shapes.len()),
        ));
    }
    for (i, ((w, b), &(inputs, pre))) in params.iter().zip(&shapes).enumerate() {
        if (w.rows, w.cols) != (pre, inputs) || w.data.len() != pre * inputs {
            return Err(Error::shape(
                format!("weight of layer {}", i + 1),
                format!("{} x {}", w.rows, w.cols),
                format!("{pre} x {inputs}"),
            ));
        }
        if b.len() != pre {
            return Err(Error::shape(format!("bias of layer {}", i + 1), format!("{} values", b.len()), format!("{pre} values")));
        }
    }
    Ok(())
}

/// Checks a batch (and its labels, when given) against the configuration.
fn check_batch(config: &MlpConfig, x: &Matrix, labels: Option<&[u8]>) -> Result<()> {
    if x.cols != config.input || x.data.len() != x.rows * x.cols {
        return Err(Error::shape(
            "burn MLP input",
            format!("{} x {}", x.rows, x.cols),
            format!("rows x {} (the input width)", config.input),
        ));
    }
    if x.rows == 0 {
        return Err(Error::Data("burn MLP: the batch is empty; expected at least one row".into()));
    }
    if let Some(labels) = labels {
        if labels.len() != x.rows {
            return Err(Error::shape("burn MLP labels", format!("{} labels", labels.len()), format!("{} (one per row)", x.rows)));
        }
        if let Some((row, &l)) = labels.iter().enumerate().find(|&(_, &l)| l as usize >= config.classes) {
            return Err(Error::param(format!("label of row {row}"), l, format!("a class in 0..{}", config.classes)));
        }
    }
    Ok(())
}

/// A host matrix as a `[rows, cols]` tensor on `device`.
fn matrix_to_tensor(m: &Matrix, device: &Device) -> Tensor<2> {
    Tensor::<2>::from_data(TensorData::new(m.data.clone(), [m.rows, m.cols]), device)
}

/// A `[rows, cols]` tensor copied back to a host matrix.
fn tensor_to_matrix(t: &Tensor<2>) -> Result<Matrix> {
    let [rows, cols] = t.dims();
    Matrix::from_vec(rows, cols, tensor_to_vec(t)?)
}

/// Any tensor's values, row-major, as `f32` on the host.
fn tensor_to_vec<const D: usize>(t: &Tensor<D>) -> Result<Vec<f32>> {
    t.try_to_vec_as::<f32>().map_err(|e| Error::Data(format!("burn MLP: reading a tensor back from the device failed: {e}")))
}

/// The value of a one-element tensor.
fn read_scalar(t: &Tensor<1>) -> Result<f32> {
    tensor_to_vec(t)?.first().copied().ok_or_else(|| Error::Data("burn MLP: the loss tensor is empty".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic numbers in [-1, 1) (a 64-bit LCG; its top bits are good enough here).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }

        fn matrix(&mut self, rows: usize, cols: usize) -> Matrix {
            Matrix { rows, cols, data: (0..rows * cols).map(|_| self.next()).collect() }
        }
    }

    fn random_params(config: &MlpConfig, rng: &mut Lcg) -> Vec<LayerParams> {
        config.layer_shapes().iter().map(|&(inputs, pre)| (rng.matrix(pre, inputs), (0..pre).map(|_| 0.5 * rng.next()).collect())).collect()
    }

    /// Index of the first maximum and the gap to the runner-up (infinite for a single value).
    fn block_max(v: &[f64]) -> (usize, f64) {
        let mut best = 0;
        for i in 1..v.len() {
            if v[i] > v[best] {
                best = i;
            }
        }
        let second = v.iter().enumerate().filter(|&(i, _)| i != best).map(|(_, &x)| x).fold(f64::NEG_INFINITY, f64::max);
        (best, v[best] - second)
    }

    /// The network in plain f64, written from the formulas of the module doc and nothing else.
    /// Returns the loss and the margin: how far the input is from any tie or kink of a competition.
    fn reference_loss(config: &MlpConfig, params: &[(Vec<f64>, Vec<f64>)], x: &Matrix, labels: &[u8]) -> (f64, f64) {
        let shapes = config.layer_shapes();
        let mut margin = f64::INFINITY;
        let mut loss = 0.0;
        for r in 0..x.rows {
            let mut h: Vec<f64> = x.row(r).iter().map(|&v| v as f64).collect();
            for (l, &(inputs, pre)) in shapes.iter().enumerate() {
                let (w, b) = &params[l];
                let z: Vec<f64> = (0..pre).map(|j| b[j] + (0..inputs).map(|i| w[j * inputs + i] * h[i]).sum::<f64>()).collect();
                let Some(spec) = config.hidden.get(l) else {
                    // Softmax layer: -log softmax(z)[label], computed stably.
                    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                    loss += lse - z[labels[r] as usize];
                    break;
                };
                h = match spec.competition {
                    Competition::Relu => {
                        margin = z.iter().fold(margin, |m, v| m.min(v.abs()));
                        z.iter().map(|&v| v.max(0.0)).collect()
                    }
                    Competition::Abs => {
                        margin = z.iter().fold(margin, |m, v| m.min(v.abs()));
                        z.iter().map(|v| v.abs()).collect()
                    }
                    Competition::Lwta { block } => {
                        let mut out = vec![0.0; pre];
                        for (g, zb) in z.chunks(block).enumerate() {
                            let (best, gap) = block_max(zb);
                            margin = margin.min(gap);
                            out[g * block + best] = zb[best];
                        }
                        out
                    }
                    Competition::Maxout { rank } => z
                        .chunks(rank)
                        .map(|zb| {
                            let (best, gap) = block_max(zb);
                            margin = margin.min(gap);
                            zb[best]
                        })
                        .collect(),
                    Competition::KSparse { k } => {
                        let mut sorted = z.clone();
                        sorted.sort_by(|a, b| b.total_cmp(a));
                        if k < pre {
                            margin = margin.min(sorted[k - 1] - sorted[k]);
                        }
                        z.iter().map(|&v| if v >= sorted[k - 1] { v } else { 0.0 }).collect()
                    }
                    other => panic!("no f64 reference for {other}"),
                };
            }
        }
        (loss / x.rows as f64, margin)
    }

    fn to_f64(params: &[LayerParams]) -> Vec<(Vec<f64>, Vec<f64>)> {
        params.iter().map(|(w, b)| (w.data.iter().map(|&v| v as f64).collect(), b.iter().map(|&v| v as f64).collect())).collect()
    }

    fn param_mut(params: &mut [(Vec<f64>, Vec<f64>)], layer: usize, is_bias: bool, i: usize) -> &mut f64 {
        if is_bias { &mut params[layer].1[i] } else { &mut params[layer].0[i] }
    }

    /// Burn's gradients against central differences of the f64 reference, on the first generated
    /// problem whose every competition decision is at least 1e-3 away from a tie or kink.
    fn check_gradients(hidden: &[(usize, Competition)]) {
        let config = MlpConfig::new(5, hidden, 3).unwrap();
        let rows = 4;
        let (params, x, labels) = (0..100u64)
            .map(|seed| {
                let mut rng = Lcg(seed * 7919 + 1);
                let params = random_params(&config, &mut rng);
                let x = rng.matrix(rows, 5);
                let labels: Vec<u8> = (0..rows).map(|r| ((seed as usize + r) % 3) as u8).collect();
                (params, x, labels)
            })
            .find(|(p, x, l)| reference_loss(&config, &to_f64(p), x, l).1 > 1e-3)
            .expect("some seed is away from ties");
        let (loss, grads) = loss_and_grads(&config, &params, &x, &labels).unwrap();
        let mut exact = to_f64(&params);
        let (want_loss, _) = reference_loss(&config, &exact, &x, &labels);
        assert!((loss as f64 - want_loss).abs() < 1e-5 * (1.0 + want_loss), "{hidden:?}: loss {loss} vs {want_loss}");

        let eps = 1e-6;
        let mut largest: f64 = 0.0;
        for l in 0..params.len() {
            assert_eq!((grads[l].0.rows, grads[l].0.cols), (params[l].0.rows, params[l].0.cols));
            assert_eq!(grads[l].1.len(), params[l].1.len());
            for (is_bias, n) in [(false, params[l].0.data.len()), (true, params[l].1.len())] {
                for i in 0..n {
                    let v = *param_mut(&mut exact, l, is_bias, i);
                    *param_mut(&mut exact, l, is_bias, i) = v + eps;
                    let up = reference_loss(&config, &exact, &x, &labels).0;
                    *param_mut(&mut exact, l, is_bias, i) = v - eps;
                    let down = reference_loss(&config, &exact, &x, &labels).0;
                    *param_mut(&mut exact, l, is_bias, i) = v;
                    let fd = (up - down) / (2.0 * eps);
                    let got = if is_bias { grads[l].1[i] } else { grads[l].0.data[i] } as f64;
                    largest = largest.max(fd.abs());
                    assert!(
                        (got - fd).abs() < 1e-4 + 1e-3 * fd.abs(),
                        "{hidden:?} layer {l} {} {i}: burn {got} vs finite difference {fd}",
                        if is_bias { "bias" } else { "weight" }
                    );
                }
            }
        }
        assert!(largest > 1e-2, "{hidden:?}: all gradients vanish, the check would be vacuous");
    }

    #[test]
    fn relu_gradients_match_finite_differences() {
        check_gradients(&[(6, Competition::Relu), (4, Competition::Relu)]);
    }

    #[test]
    fn lwta_gradients_match_finite_differences() {
        check_gradients(&[(6, Competition::Lwta { block: 2 }), (4, Competition::Lwta { block: 2 })]);
    }

    #[test]
    fn maxout_gradients_match_finite_differences() {
        check_gradients(&[(6, Competition::Maxout { rank: 2 }), (4, Competition::Maxout { rank: 3 })]);
    }

    #[test]
    fn abs_gradients_match_finite_differences() {
        check_gradients(&[(6, Competition::Abs), (4, Competition::Abs)]);
    }

    #[test]
    fn ksparse_gradients_match_finite_differences() {
        check_gradients(&[(6, Competition::KSparse { k: 3 }), (4, Competition::KSparse { k: 1 })]);
    }

    #[test]
    fn mixed_network_gradients_match_finite_differences() {
        check_gradients(&[
            (6, Competition::Relu),
            (4, Competition::Lwta { block: 2 }),
            (3, Competition::Maxout { rank: 2 }),
            (4, Competition::Abs),
        ]);
    }

    /// Burn's competitions against the crate's plain ones on integer-valued inputs full of ties:
    /// same outputs, same winners, and autodiff gradients equal to `Competition::backward`.
    #[test]
    fn competitions_break_ties_like_the_plain_engine() {
        let (rows, width) = (4, 6);
        #[rustfmt::skip]
        let z: Vec<f32> = vec![
            1.0, 1.0, 0.0, 0.0, -1.0, -1.0, // every block of 2 tied; two equal maxima in the first block of 3
            0.0, 2.0, 2.0, 2.0, 0.0, -3.0, // three equal maxima across two blocks; k-th value tied
            -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, // all equal
            0.0, 0.0, 3.0, -2.0, 0.0, 0.5, // exact zeros: the ReLU kink and the Abs switch
        ];
        let device = Device::flex().autodiff();
        let competitions = [
            Competition::Relu,
            Competition::Abs,
            Competition::Lwta { block: 2 },
            Competition::Lwta { block: 3 },
            Competition::Maxout { rank: 1 },
            Competition::Maxout { rank: 3 },
            Competition::KSparse { k: 1 },
            Competition::KSparse { k: 4 },
            Competition::KSparse { k: 6 },
        ];
        for c in competitions {
            let (want_out, want_winners) = c.apply(&z, rows).unwrap();
            let mut want_grad = vec![0.0; z.len()];
            c.backward(&vec![1.0; want_out.len()], &want_winners, rows, &mut want_grad).unwrap();

            let zt = Tensor::<2>::from_data(TensorData::new(z.clone(), [rows, width]), &device).require_grad();
            let (out, winners) = apply_competition(c, zt.clone()).unwrap();
            assert_eq!(tensor_to_vec(&out).unwrap(), want_out, "{c} output");
            let winners = winners.try_to_vec_as::<bool>().unwrap();
            assert_eq!(winners, want_winners, "{c} winners");
            // Spelled out for two cases, so that the rule does not rest on the plain engine alone.
            if c == (Competition::Lwta { block: 2 }) {
                assert_eq!(winners[..6], [true, false, true, false, true, false]);
            }
            if c == (Competition::KSparse { k: 4 }) {
                assert_eq!(winners[6..12], [true, true, true, true, false, false]);
            }
            let grads = out.sum().backward();
            assert_eq!(tensor_to_vec(&zt.grad(&grads).unwrap()).unwrap(), want_grad, "{c} gradient");
        }
    }

    /// Deterministic inputs in [-1, 1) for the comparison with the fused engine.
    fn inputs(rows: usize, cols: usize) -> Matrix {
        let data = (0..rows * cols).map(|i| ((i as u64).wrapping_mul(2654435761) % 1000) as f32 / 500.0 - 1.0).collect();
        Matrix::from_vec(rows, cols, data).unwrap()
    }

    /// The hand-fused CPU engine ([`crate::models::mlp::Mlp`]) and this autodiff reference compute
    /// the same loss and gradients (formerly the integration test `tests/engines_agree.rs`, which
    /// cannot see this module now that it exists only in the unit tests and behind the `burn`
    /// feature).
    #[test]
    fn fused_and_burn_gradients_agree_for_every_competition() {
        use crate::models::mlp::Mlp;
        let cases: Vec<Vec<(usize, Competition)>> = vec![
            vec![(40, Competition::Relu), (30, Competition::Relu)],
            vec![(40, Competition::Lwta { block: 2 }), (30, Competition::Lwta { block: 3 })],
            vec![(40, Competition::Maxout { rank: 2 }), (30, Competition::Maxout { rank: 3 })],
            vec![(40, Competition::Abs), (30, Competition::KSparse { k: 7 })],
            vec![(40, Competition::Maxout { rank: 2 }), (30, Competition::Lwta { block: 2 }), (20, Competition::Relu)],
        ];
        for hidden in cases {
            let config = MlpConfig::new(25, &hidden, 10).unwrap();
            let net = Mlp::new(config.clone(), 3).unwrap();
            let x = inputs(16, 25);
            let labels: Vec<u8> = (0..16).map(|i| (i * 7 % 10) as u8).collect();
            let (loss, grads) = net.loss_and_grads(&x, &labels).unwrap();
            let params: Vec<(Matrix, Vec<f32>)> = net.layers.iter().map(|l| (l.weight.clone(), l.bias.clone())).collect();
            let (burn_loss, burn_grads) = loss_and_grads(&config, &params, &x, &labels).unwrap();
            assert!((loss - burn_loss).abs() < 1e-4 * loss.abs().max(1.0), "{hidden:?}: loss {loss} vs burn {burn_loss}");
            let mut largest = 0.0f32;
            for (l, (g, (bw, bb))) in grads.iter().zip(&burn_grads).enumerate() {
                for (a, b) in g.weight.data.iter().zip(&bw.data).chain(g.bias.iter().zip(bb)) {
                    assert!((a - b).abs() < 1e-5 + 1e-3 * b.abs(), "{hidden:?} layer {l}: fused {a} vs burn {b}");
                    largest = largest.max(b.abs());
                }
            }
            assert!(largest > 1e-3, "{hidden:?}: gradients all but zero, the comparison would be empty");
        }
    }

    #[test]
    fn loss_and_last_bias_gradient_match_a_hand_computation() {
        // 2-2-2 with identity weights and zero biases: h = relu(x), logits = h.
        let config = MlpConfig::new(2, &[(2, Competition::Relu)], 2).unwrap();
        let eye = Matrix::from_vec(2, 2, vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        let params = vec![(eye.clone(), vec![0.0; 2]), (eye, vec![0.0; 2])];
        let x = Matrix::from_vec(2, 2, vec![1.0, -2.0, 3.0, 1.0]).unwrap();
        // Row 1: logits [1, 0], label 0: ln(1 + e^-1). Row 2: logits [3, 1], label 1: ln(1 + e^2).
        let (loss, grads) = loss_and_grads(&config, &params, &x, &[0, 1]).unwrap();
        let want = ((1.0 + (-1.0f64).exp()).ln() + (1.0 + 2.0f64.exp()).ln()) / 2.0;
        assert!((loss as f64 - want).abs() < 1e-6, "{loss} vs {want}");
        assert!((want - 1.220_094_849).abs() < 1e-8);
        // dLoss/db2 = mean(softmax - onehot) = ([-(1 - s(1)), 1 - s(1)] + [s(2), -s(2)]) / 2.
        let s = |t: f64| 1.0 / (1.0 + (-t).exp());
        let g = (-(1.0 - s(1.0)) + s(2.0)) / 2.0;
        for (got, want) in grads[1].1.iter().zip([g, -g]) {
            assert!((*got as f64 - want).abs() < 1e-6, "{got} vs {want}");
        }
        // The second hidden unit is off in row 1 (x = -2): its first-layer weights learn from row 2 only.
        // dLoss/dz1 for row 2 is (softmax - onehot)[1] / 2 = -s(2) / 2, times x = [3, 1].
        assert!((grads[0].0.data[2] as f64 - 3.0 * -s(2.0) / 2.0).abs() < 1e-6);
        assert!((grads[0].0.data[3] as f64 - 1.0 * -s(2.0) / 2.0).abs() < 1e-6);
    }

    #[test]
    fn predict_gives_softmax_rows_and_parameters_round_trip() {
        let config = MlpConfig::new(5, &[(6, Competition::Maxout { rank: 2 }), (4, Competition::Lwta { block: 2 })], 3).unwrap();
        let mut rng = Lcg(42);
        let params = random_params(&config, &mut rng);
        let x = rng.matrix(3, 5);
        let probs = predict(&config, &params, &x).unwrap();
        assert_eq!((probs.rows, probs.cols), (3, 3));
        let labels = [0u8, 1, 2];
        let want_loss: f64 = (0..3).map(|r| -(probs.row(r)[labels[r] as usize] as f64).ln()).sum::<f64>() / 3.0;
        for r in 0..3 {
            let sum: f32 = probs.row(r).iter().sum();
            assert!((sum - 1.0).abs() < 1e-5 && probs.row(r).iter().all(|&p| p > 0.0), "row {r}: {:?}", probs.row(r));
        }
        let (loss, _) = loss_and_grads(&config, &params, &x, &labels).unwrap();
        assert!((loss as f64 - want_loss).abs() < 1e-5, "{loss} vs {want_loss}");

        let model = BurnMlp::from_params(&config, &params, &Device::flex()).unwrap();
        assert_eq!(model.to_params().unwrap(), params);
    }

    #[test]
    fn bad_shapes_and_labels_are_errors() {
        let config = MlpConfig::new(3, &[(4, Competition::Lwta { block: 2 })], 2).unwrap();
        let mut rng = Lcg(3);
        let params = random_params(&config, &mut rng);
        let x = rng.matrix(2, 3);
        let shape_error = |r: Result<(f32, Vec<LayerParams>)>, needle: &str| match r {
            Err(e @ Error::Shape { .. }) => assert!(e.to_string().contains(needle), "{e}"),
            other => panic!("expected a shape error about {needle}, got {:?}", other.map(|o| o.0)),
        };

        let mut wrong = params.clone();
        wrong[0].0 = Matrix::zeros(3, 4); // transposed
        shape_error(loss_and_grads(&config, &wrong, &x, &[0, 1]), "weight of layer 1");
        let mut wrong = params.clone();
        wrong[1].1.push(0.0);
        shape_error(loss_and_grads(&config, &wrong, &x, &[0, 1]), "bias of layer 2");
        shape_error(loss_and_grads(&config, &params[..1], &x, &[0, 1]), "2 layers");
        shape_error(loss_and_grads(&config, &params, &rng.matrix(2, 4), &[0, 1]), "input");
        shape_error(loss_and_grads(&config, &params, &x, &[0]), "labels");
        assert!(matches!(predict(&config, &params, &rng.matrix(1, 2)), Err(Error::Shape { .. })));

        match loss_and_grads(&config, &params, &x, &[0, 2]) {
            Err(e @ Error::Param { .. }) => assert!(e.to_string().contains("label of row 1") && e.to_string().contains("0..2"), "{e}"),
            other => panic!("expected a label error, got {:?}", other.map(|o| o.0)),
        }
        assert!(matches!(loss_and_grads(&config, &params, &Matrix::zeros(0, 3), &[]), Err(Error::Data(_))));

        // A tensor of the wrong width is refused by the model itself, and so is a competition that
        // does not fit the width.
        let model = BurnMlp::from_params(&config, &params, &Device::flex()).unwrap();
        assert!(matches!(model.forward_logits(Tensor::<2>::zeros([2, 5], &Device::flex())), Err(Error::Shape { .. })));
        assert!(apply_competition(Competition::Maxout { rank: 4 }, Tensor::<2>::zeros([2, 6], &Device::flex())).is_err());
        assert!(apply_competition(Competition::KSparse { k: 7 }, Tensor::<2>::zeros([2, 6], &Device::flex())).is_err());
        // Competitions without piecewise linear rules (other than k-sparse) are refused by name.
        for c in [Competition::StdAbs, Competition::Lifetime { rate: 0.5 }] {
            match apply_competition(c, Tensor::<2>::zeros([2, 6], &Device::flex())) {
                Err(e @ Error::Param { .. }) => assert!(e.to_string().contains("burn reference"), "{e}"),
                other => panic!("{c}: expected a parameter error, got {:?}", other.map(|o| o.0.dims())),
            }
        }
    }
}
