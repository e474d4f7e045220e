//! Optimizers over named parameters: SGD with momentum (the papers' choice) and Adam, with each
//! parameter's learning-rate scale and constraints from [`ParamRule`]s.
//!
//! The optimizer never sees a model's fields: it walks [`Parameters`] (model and gradients, same
//! names, same order) and keeps its state by parameter name, which is also how the state is saved
//! (`m.{name}`, `v.{name}`) and checked on resume. Updates run in parallel over fixed chunks of each
//! parameter array, so the result does not depend on the number of threads.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::{Named, TensorMap};
use crate::models::learner::Update;
use crate::params::{ParamKind, ParamMut, ParamRule, Parameters};

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
    /// Learning rate (each parameter's is this times its rule's `lr_scale`).
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

/// The state of one parameter.
#[derive(Clone, Debug)]
struct Slot {
    name: String,
    kind: ParamKind,
    lr_scale: f32,
    /// Indices into the optimizer's rules of the rules that constrain this parameter.
    constraints: Vec<usize>,
    /// Velocity (SGD) or first moment (Adam).
    m: Vec<f32>,
    /// Second moment (Adam only; empty for SGD).
    v: Vec<f32>,
}

/// Optimizer state: per named parameter, one buffer for SGD (velocity), two for Adam (moments).
#[derive(Clone, Debug)]
pub struct Optimizer {
    /// The update rule.
    pub kind: OptimizerKind,
    /// Number of updates made (Adam's bias correction).
    pub t: u64,
    rules: Vec<ParamRule>,
    slots: Vec<Slot>,
}

const CHUNK: usize = 1 << 14;

impl Optimizer {
    /// Fresh state for the parameters of `model`, with `rules` (each validated; a rule that matches
    /// no parameter is an error naming it and the parameters there are).
    pub fn new(kind: OptimizerKind, model: &dyn Parameters, rules: Vec<ParamRule>) -> Result<Self> {
        let params = model.params();
        for (i, r) in rules.iter().enumerate() {
            r.validate(&format!("rule {}", i + 1))?;
            if !params.iter().any(|p| r.matches(&p.name)) {
                let names: Vec<&str> = params.iter().map(|p| p.name.as_ref()).collect();
                return Err(Error::param(
                    "rule params",
                    &r.params,
                    format!("a pattern matching some of the parameters {}", names.join(", ")),
                ));
            }
        }
        let slots = params
            .iter()
            .map(|p| {
                let matching: Vec<usize> = (0..rules.len()).filter(|&i| rules[i].matches(&p.name)).collect();
                let lr_scale = matching.iter().filter_map(|&i| rules[i].lr_scale).product();
                let constraints = matching.into_iter().filter(|&i| rules[i].has_constraints()).collect();
                let n = p.data.len();
                Slot {
                    name: p.name.to_string(),
                    kind: p.kind,
                    lr_scale,
                    constraints,
                    m: vec![0.0; n],
                    v: if kind == OptimizerKind::Adam { vec![0.0; n] } else { Vec::new() },
                }
            })
            .collect();
        Ok(Optimizer { kind, t: 0, rules, slots })
    }

    /// The learning-rate scale of each parameter, by name (1 unless a rule sets it).
    pub fn lr_scales(&self) -> Vec<(&str, f32)> {
        self.slots.iter().map(|s| (s.name.as_str(), s.lr_scale)).collect()
    }

    /// One update of every parameter of `model` from `grads` (same names and shapes), then the
    /// constraints. With [`Update::Applied`] the learner has changed the model itself and only the
    /// constraints run.
    ///
    /// SGD with momentum: `v <- mu v - lr (g + wd w)`, `w <- w + v`.
    /// Adam: `m <- b1 m + (1-b1) g`, `v <- b2 v + (1-b2) g^2`, `w <- w - lr m^ / (sqrt(v^) + eps)`.
    pub fn step(&mut self, model: &mut dyn Parameters, grads: &dyn Parameters, p: StepParams, update: Update) -> Result<()> {
        let mut params = model.params_mut();
        if params.len() != self.slots.len() {
            return Err(Error::shape("optimizer state", format!("{} parameters", params.len()), format!("{}", self.slots.len())));
        }
        if update == Update::Gradients {
            let grads = grads.params();
            self.t += 1;
            let t = self.t as i32;
            for ((w, g), slot) in params.iter_mut().zip(&grads).zip(self.slots.iter_mut()) {
                if w.name != slot.name || g.name != slot.name || w.data.len() != slot.m.len() || g.data.len() != slot.m.len() {
                    return Err(Error::shape(
                        format!("parameter {}", slot.name),
                        format!("{} ({} values) with gradient {} ({} values)", w.name, w.data.len(), g.name, g.data.len()),
                        format!("{} values", slot.m.len()),
                    ));
                }
                if slot.kind == ParamKind::Fixed {
                    continue; // frozen (a stacked model's lower layers): never updated
                }
                let wd = if slot.kind == ParamKind::Weight { p.weight_decay } else { 0.0 };
                let lr = p.lr * slot.lr_scale;
                let (w, g, m) = (&mut *w.data, g.data, &mut slot.m);
                match self.kind {
                    OptimizerKind::Sgd => {
                        w.par_chunks_mut(CHUNK).zip(m.par_chunks_mut(CHUNK)).zip(g.par_chunks(CHUNK)).for_each(|((w, m), g)| {
                            for ((w, m), &g) in w.iter_mut().zip(m.iter_mut()).zip(g) {
                                *m = p.momentum * *m - lr * (g + wd * *w);
                                *w += *m;
                            }
                        });
                    }
                    OptimizerKind::Adam => {
                        let v = &mut slot.v;
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
                                    *w -= lr * (*m / c1) / ((*v / c2).sqrt() + p.eps);
                                }
                            });
                    }
                }
            }
        }
        self.apply_constraints(&mut params);
        Ok(())
    }

    /// Only the constraints (after an initialisation, say).
    pub fn constrain(&self, model: &mut dyn Parameters) {
        self.apply_constraints(&mut model.params_mut());
    }

    /// Every parameter's rules' constraints, in rule order.
    fn apply_constraints(&self, params: &mut [ParamMut<'_>]) {
        for (w, slot) in params.iter_mut().zip(&self.slots) {
            for &r in &slot.constraints {
                self.rules[r].constrain(w);
            }
        }
    }

    /// The state as named tensors: `m.{name}` (velocity or first moment) and, for Adam, `v.{name}`.
    pub fn state_tensors(&self) -> Vec<Named> {
        let mut t = Vec::with_capacity(2 * self.slots.len());
        for s in &self.slots {
            t.push((format!("m.{}", s.name), vec![s.m.len()], s.m.clone()));
        }
        if self.kind == OptimizerKind::Adam {
            for s in &self.slots {
                t.push((format!("v.{}", s.name), vec![s.v.len()], s.v.clone()));
            }
        }
        t
    }

    /// The metadata saved with the state: the step count and the update rule.
    pub fn state_metadata(&self) -> Vec<(String, String)> {
        vec![("t".into(), self.t.to_string()), ("optimizer".into(), format!("{:?}", self.kind).to_lowercase())]
    }

    /// Restores the state saved by [`Optimizer::state_tensors`] from the file `path`: every buffer
    /// must be there with the parameter's number of values, and `t` must be a whole number. A
    /// corrupt or partial state is an error, never a silent reset (which would change Adam's steps).
    pub fn load_state(&mut self, path: &Path, tensors: &TensorMap, meta: &HashMap<String, String>) -> Result<()> {
        let t = meta.get("t").ok_or_else(|| Error::format(path, "no step count `t` in the metadata of the optimizer state"))?;
        self.t = t.parse().map_err(|_| Error::format(path, format!("step count t = {t:?} in the metadata: expected a whole number")))?;
        let adam = self.kind == OptimizerKind::Adam;
        let read = |key: String, n: usize, dst: &mut Vec<f32>| -> Result<()> {
            let (_, v) = tensors.get(&key).ok_or_else(|| Error::format(path, format!("optimizer state {key} is missing")))?;
            if v.len() != n {
                return Err(Error::format(path, format!("optimizer state {key} has {} values, expected {n}", v.len())));
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::format(path, format!("optimizer state {key} holds {} at index {i}", v[i])));
            }
            dst.clone_from(v);
            Ok(())
        };
        for s in self.slots.iter_mut() {
            let n = s.m.len();
            read(format!("m.{}", s.name), n, &mut s.m)?;
            if adam {
                read(format!("v.{}", s.name), n, &mut s.v)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::competition::Competition;
    use crate::models::mlp::{Mlp, MlpConfig};

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
        let mut opt = Optimizer::new(OptimizerKind::Sgd, &net, vec![]).unwrap();
        opt.step(&mut net, &g, params(0.1, 0.9), Update::Gradients).unwrap();
        // v1 = -0.2, w1 = w0 - 0.2
        assert!((net.layers[0].weight.data[0] - (w0 - 0.2)).abs() < 1e-6);
        opt.step(&mut net, &g, params(0.1, 0.9), Update::Gradients).unwrap();
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
        let mut opt = Optimizer::new(OptimizerKind::Adam, &net, vec![]).unwrap();
        opt.step(&mut net, &g, params(0.01, 0.9), Update::Gradients).unwrap();
        // Bias-corrected m / sqrt(v) = sign(g) on the first step.
        assert!((net.layers[1].bias[1] - (b0 + 0.01)).abs() < 1e-5);
    }

    #[test]
    fn rules_scale_rates_and_constrain_by_name() {
        let mut net = tiny();
        let w0 = net.layers[0].weight.data[0];
        let b0 = net.layers[0].bias[0];
        let mut g = net.zero_grads();
        g[0].weight.data[0] = 1.0;
        g[0].bias[0] = 1.0;
        let rules = vec![
            ParamRule { lr_scale: Some(0.5), ..ParamRule::new("layers.0.*") },
            ParamRule { lr_scale: Some(0.5), ..ParamRule::new("layers.0.weight") },
            ParamRule { max_norm_rows: Some(0.01), ..ParamRule::new("layers.1.weight") },
        ];
        let mut opt = Optimizer::new(OptimizerKind::Sgd, &net, rules).unwrap();
        assert_eq!(opt.lr_scales()[0], ("layers.0.weight", 0.25));
        opt.step(&mut net, &g, params(0.1, 0.0), Update::Gradients).unwrap();
        assert!((net.layers[0].weight.data[0] - (w0 - 0.025)).abs() < 1e-6, "scales multiply");
        assert!((net.layers[0].bias[0] - (b0 - 0.05)).abs() < 1e-6);
        for row in net.layers[1].weight.data.chunks(4) {
            assert!(row.iter().map(|x| x * x).sum::<f32>().sqrt() <= 0.01 + 1e-6);
        }
        // The constraints alone (after an initialisation) are the same as after a step: a bias is
        // clipped, never rescaled by a norm rule.
        let rules = vec![ParamRule { clip: Some(1.0), max_norm_rows: Some(0.5), ..ParamRule::new("layers.1.*") }];
        let opt = Optimizer::new(OptimizerKind::Sgd, &net, rules).unwrap();
        net.layers[1].bias = vec![5.0, 0.8];
        opt.constrain(&mut net);
        assert_eq!(net.layers[1].bias, vec![1.0, 0.8]);
        for row in net.layers[1].weight.data.chunks(4) {
            assert!(row.iter().map(|x| x * x).sum::<f32>().sqrt() <= 0.5 + 1e-6);
        }
        let err = Optimizer::new(OptimizerKind::Sgd, &net, vec![ParamRule { clip: Some(1.0), ..ParamRule::new("decoder.*") }]).unwrap_err();
        assert!(err.to_string().contains("decoder.*") && err.to_string().contains("layers.0.weight"), "{err}");
    }

    #[test]
    fn state_round_trips_by_name_and_corrupt_state_is_refused() {
        let mut net = tiny();
        let mut g = net.zero_grads();
        g[1].weight.data[3] = 0.7;
        let mut opt = Optimizer::new(OptimizerKind::Adam, &net, vec![]).unwrap();
        opt.step(&mut net, &g, params(0.01, 0.9), Update::Gradients).unwrap();
        let tensors: TensorMap = opt.state_tensors().into_iter().map(|(n, s, v)| (n, (s, v))).collect();
        assert!(tensors.contains_key("m.layers.1.weight") && tensors.contains_key("v.layers.0.bias"));
        let meta: HashMap<String, String> = opt.state_metadata().into_iter().collect();
        let mut fresh = Optimizer::new(OptimizerKind::Adam, &net, vec![]).unwrap();
        fresh.load_state(Path::new("s"), &tensors, &meta).unwrap();
        assert_eq!(fresh.t, 1);
        assert_eq!(fresh.state_tensors(), opt.state_tensors());
        let mut bad = meta.clone();
        bad.insert("t".into(), "x".into());
        assert!(fresh.load_state(Path::new("s"), &tensors, &bad).unwrap_err().to_string().contains("step count"));
        let mut missing = tensors.clone();
        missing.remove("v.layers.1.bias");
        assert!(fresh.load_state(Path::new("s"), &missing, &meta).unwrap_err().to_string().contains("v.layers.1.bias is missing"));
    }
}
