//! Parameters by name: the contract between a model and everything that handles its numbers without
//! knowing its fields (optimizers, constraints, checkpoints), after burn's module visitor.
//!
//! A model lists its parameters as [`Param`]s (read) or [`ParamMut`]s (write), always in the same
//! order, each with a stable dotted name (`layers.0.weight`), a shape and a [`ParamKind`]. The names
//! are the tensor names of its checkpoint, so they are also what PyTorch sees
//! (`safetensors.torch.load_file`), and what optimizer state and per-parameter settings are keyed by.
//!
//! ```
//! use compete::params::{Param, ParamKind, ParamMut, Parameters};
//!
//! struct Line { w: Vec<f32>, b: Vec<f32> }
//! impl Parameters for Line {
//!     fn params(&self) -> Vec<Param<'_>> {
//!         vec![Param::new("w", vec![1, 2], ParamKind::Weight, &self.w), Param::new("b", vec![1], ParamKind::Bias, &self.b)]
//!     }
//!     fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
//!         vec![ParamMut::new("w", vec![1, 2], ParamKind::Weight, &mut self.w), ParamMut::new("b", vec![1], ParamKind::Bias, &mut self.b)]
//!     }
//! }
//! let line = Line { w: vec![1.0, 2.0], b: vec![0.5] };
//! assert_eq!(line.num_params(), 3);
//! assert_eq!(line.params()[0].name, "w");
//! ```

use std::borrow::Cow;

/// What a parameter is, for the rules that treat weights and biases differently (weight decay and
/// max-norm act on weights only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A weight matrix (or filter bank): its first axis indexes units (PyTorch's `[out, in, ...]`).
    Weight,
    /// A bias or another vector that no norm constraint or weight decay applies to.
    Bias,
}

/// A parameter to read: its name, shape, kind and values (row-major).
#[derive(Clone, Debug)]
pub struct Param<'a> {
    /// Dotted name, unique within the model (`layers.0.weight`).
    pub name: Cow<'static, str>,
    /// Shape, PyTorch's layout (`[out, in]` for a dense weight).
    pub shape: Vec<usize>,
    /// Weight or bias.
    pub kind: ParamKind,
    /// The values, `shape.iter().product()` of them.
    pub data: &'a [f32],
}

/// A parameter to write (see [`Param`]).
#[derive(Debug)]
pub struct ParamMut<'a> {
    /// Dotted name, unique within the model.
    pub name: Cow<'static, str>,
    /// Shape.
    pub shape: Vec<usize>,
    /// Weight or bias.
    pub kind: ParamKind,
    /// The values.
    pub data: &'a mut [f32],
}

impl<'a> Param<'a> {
    /// A parameter view.
    pub fn new(name: impl Into<Cow<'static, str>>, shape: Vec<usize>, kind: ParamKind, data: &'a [f32]) -> Self {
        Param { name: name.into(), shape, kind, data }
    }

    /// Rows and columns when read as a matrix: the first axis against all the others (a unit's
    /// incoming weights are one row).
    pub fn matrix_dims(&self) -> (usize, usize) {
        matrix_dims(&self.shape, self.data.len())
    }
}

impl<'a> ParamMut<'a> {
    /// A mutable parameter view.
    pub fn new(name: impl Into<Cow<'static, str>>, shape: Vec<usize>, kind: ParamKind, data: &'a mut [f32]) -> Self {
        ParamMut { name: name.into(), shape, kind, data }
    }

    /// See [`Param::matrix_dims`].
    pub fn matrix_dims(&self) -> (usize, usize) {
        matrix_dims(&self.shape, self.data.len())
    }
}

fn matrix_dims(shape: &[usize], len: usize) -> (usize, usize) {
    match shape.first() {
        Some(&rows) if rows > 0 => (rows, len / rows),
        _ => (1, len),
    }
}

/// Anything with named parameters: models, and their gradients (same names, same shapes).
pub trait Parameters {
    /// Every parameter, in a fixed order.
    fn params(&self) -> Vec<Param<'_>>;
    /// Every parameter, writable, in the same order as [`Parameters::params`].
    fn params_mut(&mut self) -> Vec<ParamMut<'_>>;
    /// Number of scalar parameters.
    fn num_params(&self) -> usize {
        self.params().iter().map(|p| p.data.len()).sum()
    }
    /// Sets every value to 0 (for gradient buffers).
    fn zero(&mut self) {
        for p in self.params_mut() {
            p.data.fill(0.0);
        }
    }
    /// The first non-finite value, as `(parameter name, flat index, value)`.
    fn first_non_finite(&self) -> Option<(String, usize, f32)> {
        self.params().iter().find_map(|p| p.data.iter().position(|v| !v.is_finite()).map(|i| (p.name.to_string(), i, p.data[i])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Two {
        a: Vec<f32>,
        b: Vec<f32>,
    }
    impl Parameters for Two {
        fn params(&self) -> Vec<Param<'_>> {
            vec![Param::new("a", vec![2, 3], ParamKind::Weight, &self.a), Param::new("b", vec![2], ParamKind::Bias, &self.b)]
        }
        fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
            vec![ParamMut::new("a", vec![2, 3], ParamKind::Weight, &mut self.a), ParamMut::new("b", vec![2], ParamKind::Bias, &mut self.b)]
        }
    }

    #[test]
    fn counts_zeroes_and_finds_non_finite_values() {
        let mut t = Two { a: vec![1.0; 6], b: vec![2.0, f32::NAN] };
        assert_eq!(t.num_params(), 8);
        assert_eq!(t.params()[0].matrix_dims(), (2, 3));
        assert_eq!(t.first_non_finite().map(|(n, i, _)| (n, i)), Some(("b".to_string(), 1)));
        t.zero();
        assert!(t.first_non_finite().is_none());
        assert!(t.params().iter().all(|p| p.data.iter().all(|&v| v == 0.0)));
    }
}
