//! Multilayer perceptron with a local competition in every hidden layer (paper A, section 2).
//!
//! For each hidden layer `l`, the pre-activations are `z = h W^T + b` (paper A, section 2:
//! `z = wx + b` per unit) and the output is the layer's competition applied to `z`; the last layer is
//! a softmax over the classes.

use serde::{Deserialize, Serialize};

use crate::competition::Competition;
use crate::error::{Error, Result};

/// One hidden layer: how many output units, and how they compete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hidden {
    /// Output units (blocks for maxout: a maxout layer of `units` computes `units * rank` pieces).
    pub units: usize,
    /// The competition among them.
    pub competition: Competition,
}

/// The architecture of an [`Mlp`]: input width, hidden layers, number of classes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
        let config = MlpConfig {
            input,
            hidden: hidden.iter().map(|&(units, competition)| Hidden { units, competition }).collect(),
            classes,
        };
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
