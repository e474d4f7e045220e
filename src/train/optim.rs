//! Optimizers: SGD with momentum (the papers' choice) and Adam; max-norm on incoming weights.
//!
//! Both act on an [`Mlp`]'s layers with gradients of the same shapes. Updates run in parallel over
//! fixed chunks of each parameter array, so the result does not depend on the number of threads.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::mlp::{Grads, Layer, Mlp};

/// Which update rule to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Stochastic gradient descent with (classical) momentum, as in papers A and B.
    #[default]
    Sgd,
    /// Adam (Kingma & Ba 2015).
    Adam,
}

/// Hyper-parameters of the optimizer at one step.
#[derive(Clone, Copy, Debug)]
pub struct StepParams {
    /// Learning rate.
    pub lr: f32,
    /// Momentum coefficient (SGD) or beta1 (Adam).
    pub momentum: f32,
    /// Adam's beta2.
    pub beta2: f32,
    /// Adam's epsilon.
    pub eps: f32,
    /// L2 weight decay added to the gradient of weights (not biases).
    pub weight_decay: f32,
}

/// Optimizer state: one buffer per parameter for SGD (velocity), two for Adam (moments).
#[derive(Clone, Debug)]
pub struct Optimizer {
    /// The update rule.
    pub kind: OptimizerKind,
    /// Velocity (SGD) or first moment (Adam).
    pub m: Grads,
    /// Second moment (Adam only; empty for SGD).
    pub v: Grads,
    /// Number of updates made (Adam's bias correction).
    pub t: u64,
}

const CHUNK: usize = 1 << 14;

impl Optimizer {
    /// Fresh state for `mlp`.
    pub fn new(kind: OptimizerKind, mlp: &Mlp) -> Self {
        let v = if kind == OptimizerKind::Adam { mlp.zero_grads() } else { Vec::new() };
        Optimizer { kind, m: mlp.zero_grads(), v, t: 0 }
    }

    /// One update of every parameter of `mlp` from `grads`.
    ///
    /// SGD with momentum: `v <- mu v - lr (g + wd w)`, `w <- w + v`.
    /// Adam: `m <- b1 m + (1-b1) g`, `v <- b2 v + (1-b2) g^2`, `w <- w - lr m^ / (sqrt(v^) + eps)`.
    pub fn step(&mut self, mlp: &mut Mlp, grads: &Grads, p: StepParams) {
        self.t += 1;
        let t = self.t as i32;
        for (i, (layer, g)) in mlp.layers.iter_mut().zip(grads).enumerate() {
            for (is_weight, w, g) in [(true, &mut layer.weight.data, &g.weight.data), (false, &mut layer.bias, &g.bias)] {
                let wd = if is_weight { p.weight_decay } else { 0.0 };
                let m = if is_weight { &mut self.m[i].weight.data } else { &mut self.m[i].bias };
                match self.kind {
                    OptimizerKind::Sgd => {
                        w.par_chunks_mut(CHUNK).zip(m.par_chunks_mut(CHUNK)).zip(g.par_chunks(CHUNK)).for_each(|((w, m), g)| {
                            for ((w, m), &g) in w.iter_mut().zip(m.iter_mut()).zip(g) {
                                *m = p.momentum * *m - p.lr * (g + wd * *w);
                                *w += *m;
                            }
                        });
                    }
                    OptimizerKind::Adam => {
                        let v = if is_weight { &mut self.v[i].weight.data } else { &mut self.v[i].bias };
                        let (b1, b2) = (p.momentum, p.beta2);
                        let c1 = 1.0 - b1.powi(t);
                        let c2 = 1.0 - b2.powi(t);
                        w.par_chunks_mut(CHUNK)
                            .zip(m.par_chunks_mut(CHUNK))
                            .zip(v.par_chunks_mut(CHUNK))
                            .zip(g.par_chunks(CHUNK))
                            .for_each(|(((w, m), v), g)| {
                                for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                                    let g = g + wd * *w;
                                    *m = b1 * *m + (1.0 - b1) * g;
                                    *v = b2 * *v + (1.0 - b2) * g * g;
                                    *w -= p.lr * (*m / c1) / ((*v / c2).sqrt() + p.eps);
                                }
                            });
                    }
                }
            }
        }
    }

    /// The state as layers (for checkpoints): velocity, or first and second moments.
    pub fn buffers(&self) -> Vec<(&'static str, &Grads)> {
        match self.kind {
            OptimizerKind::Sgd => vec![("m.", &self.m)],
            OptimizerKind::Adam => vec![("m.", &self.m), ("v.", &self.v)],
        }
    }
}

/// Max-norm constraint (Srivastava et al. 2014; used by maxout networks, Goodfellow et al. 2013):
/// the incoming weight vector of every unit (a row of `W` here, a column in the `x^T W` notation)
/// is rescaled to norm `c` when its norm exceeds `c`. Applied to every layer, the softmax layer
/// included, as both papers do: an unconstrained softmax layer lets the logits, and the loss, run
/// away under dropout.
pub fn apply_max_norm(layers: &mut [Layer], c: f32) -> Result<()> {
    if c.is_nan() || c <= 0.0 {
        return Err(Error::param("max_norm", c, "a positive number"));
    }
    for layer in layers.iter_mut() {
        let cols = layer.weight.cols;
        layer.weight.data.par_chunks_mut(cols).for_each(|row| {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > c {
                let s = c / norm;
                row.iter_mut().for_each(|x| *x *= s);
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::competition::Competition;
    use crate::models::mlp::MlpConfig;

    fn tiny() -> Mlp {
        Mlp::new(MlpConfig::new(3, &[(4, Competition::Relu)], 2).unwrap(), 1).unwrap()
    }

    fn params(lr: f32, momentum: f32) -> StepParams {
        StepParams { lr, momentum, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }

    #[test]
    fn sgd_momentum_follows_the_update_rule() {
        let mut net = tiny();
        let w0 = net.layers[0].weight.data[0];
        let mut g = net.zero_grads();
        g[0].weight.data[0] = 2.0;
        let mut opt = Optimizer::new(OptimizerKind::Sgd, &net);
        opt.step(&mut net, &g, params(0.1, 0.9));
        // v1 = -0.2, w1 = w0 - 0.2
        assert!((net.layers[0].weight.data[0] - (w0 - 0.2)).abs() < 1e-6);
        opt.step(&mut net, &g, params(0.1, 0.9));
        // v2 = 0.9 * -0.2 - 0.2 = -0.38, w2 = w0 - 0.58
        assert!((net.layers[0].weight.data[0] - (w0 - 0.58)).abs() < 1e-6);
        // Parameters with zero gradient do not move.
        assert_eq!(net.layers[1].bias, tiny().layers[1].bias);
    }

    #[test]
    fn adam_first_step_moves_by_the_learning_rate() {
        let mut net = tiny();
        let b0 = net.layers[1].bias[1];
        let mut g = net.zero_grads();
        g[1].bias[1] = -5.0;
        let mut opt = Optimizer::new(OptimizerKind::Adam, &net);
        opt.step(&mut net, &g, params(0.01, 0.9));
        // Bias-corrected m / sqrt(v) = sign(g) on the first step.
        assert!((net.layers[1].bias[1] - (b0 + 0.01)).abs() < 1e-5);
    }

    #[test]
    fn max_norm_rescales_only_long_rows() {
        let mut net = tiny();
        net.layers[0].weight.data = vec![3.0, 4.0, 0.0, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0, 6.0, 8.0, 0.0];
        net.layers[1].weight.data = vec![0.0, 0.0, 2.0, 0.0, 0.5, 0.0, 0.0, 0.0];
        apply_max_norm(&mut net.layers, 1.0).unwrap();
        let w = &net.layers[0].weight.data;
        assert!((w[0] - 0.6).abs() < 1e-6 && (w[1] - 0.8).abs() < 1e-6);
        assert_eq!(&w[3..6], &[0.1, 0.1, 0.1]);
        assert!((w[9] - 0.6).abs() < 1e-6 && (w[10] - 0.8).abs() < 1e-6);
        assert_eq!(net.layers[1].weight.data, vec![0.0, 0.0, 1.0, 0.0, 0.5, 0.0, 0.0, 0.0], "the softmax layer is constrained too");
        assert!(apply_max_norm(&mut net.layers, 0.0).unwrap_err().to_string().contains("max_norm"));
    }
}
