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
    /// A parameter the model holds but does not train: the frozen lower layers of a stacked
    /// autoencoder (paper B, sections 2 and 3.3). Saved and loaded like the others; the optimizer
    /// never changes it, and no rule constrains it.
    Fixed,
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

/// Settings for the parameters whose names match a pattern: a learning-rate scale and norm or value
/// constraints, applied after every update. Models state their own (paper D scales each matrix's rate
/// by how often it repeats; paper B bounds the decoder's columns); an experiment adds more in
/// `[[train.rules]]`:
///
/// ```toml
/// [[train.rules]]
/// params = "layers.*.weight"   # `*` matches any run of characters, dots included
/// max_norm_rows = 3.5          # every unit's incoming weights (a row of [out, in]) to norm <= 3.5
/// lr_scale = 0.5
/// ```
///
/// Rows are the first axis (units), columns everything else read as one axis, as in
/// [`Param::matrix_dims`]. Constraints apply in the order max-norm rows, max-norm columns, fixed
/// norm rows, fixed norm columns, clip; when several rules match a parameter their constraints all
/// apply and their learning-rate scales multiply.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamRule {
    /// Which parameters: a name, or a pattern with `*`.
    pub params: String,
    /// Multiplies the learning rate of these parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_scale: Option<f32>,
    /// Rows (units' incoming weights) rescaled to norm at most this (Srivastava et al. 2014).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_norm_rows: Option<f32>,
    /// Columns rescaled to norm at most this (paper B: decoder columns; paper D: encoder columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_norm_cols: Option<f32>,
    /// Rows rescaled to exactly this norm (rows of norm 0 stay 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_rows: Option<f32>,
    /// Columns rescaled to exactly this norm (columns of norm 0 stay 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_cols: Option<f32>,
    /// Every value clipped to `[-clip, clip]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<f32>,
}

impl ParamRule {
    /// A rule with no setting yet for the parameters matching `params`.
    pub fn new(params: impl Into<String>) -> Self {
        ParamRule { params: params.into(), ..Default::default() }
    }

    /// Checks every number (positive and finite) and that the pattern is not empty; `origin` names
    /// where the rule comes from in errors (`train.rules[2]`).
    pub fn validate(&self, origin: &str) -> crate::error::Result<()> {
        use crate::error::Error;
        if self.params.trim().is_empty() {
            return Err(Error::param(format!("{origin}.params"), "\"\"", "a parameter name or a pattern such as \"layers.*.weight\""));
        }
        for (name, v) in [
            ("lr_scale", self.lr_scale),
            ("max_norm_rows", self.max_norm_rows),
            ("max_norm_cols", self.max_norm_cols),
            ("norm_rows", self.norm_rows),
            ("norm_cols", self.norm_cols),
            ("clip", self.clip),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return Err(Error::param(format!("{origin}.{name}"), v, "a positive finite number"));
            }
        }
        Ok(())
    }

    /// Whether the rule names parameter `name`.
    pub fn matches(&self, name: &str) -> bool {
        glob(self.params.as_bytes(), name.as_bytes())
    }

    /// Applies this rule's constraints to `p` (whatever its name; see [`ParamRule::matches`]).
    ///
    /// Norm constraints are about units' weight vectors, so they act on [`ParamKind::Weight`]
    /// parameters only; a bias is only clipped, a [`ParamKind::Fixed`] parameter never changes.
    pub fn constrain(&self, p: &mut ParamMut<'_>) {
        if p.kind == ParamKind::Fixed {
            return;
        }
        if p.kind == ParamKind::Weight {
            let (rows, cols) = p.matrix_dims();
            if let Some(c) = self.max_norm_rows {
                scale_rows(p.data, cols, |n| if n > c { Some(c / n) } else { None });
            }
            if let Some(c) = self.max_norm_cols {
                scale_cols(p.data, rows, cols, |n| if n > c { Some(c / n) } else { None });
            }
            if let Some(c) = self.norm_rows {
                scale_rows(p.data, cols, |n| if n > 0.0 { Some(c / n) } else { None });
            }
            if let Some(c) = self.norm_cols {
                scale_cols(p.data, rows, cols, |n| if n > 0.0 { Some(c / n) } else { None });
            }
        }
        if let Some(c) = self.clip {
            p.data.iter_mut().for_each(|v| *v = v.clamp(-c, c));
        }
    }

    /// Whether the rule constrains anything (beyond a learning-rate scale).
    pub fn has_constraints(&self) -> bool {
        self.max_norm_rows.is_some()
            || self.max_norm_cols.is_some()
            || self.norm_rows.is_some()
            || self.norm_cols.is_some()
            || self.clip.is_some()
    }
}

/// Rescales each row of `data` (rows of `cols` values) by `f(norm)` where it returns a factor.
fn scale_rows(data: &mut [f32], cols: usize, f: impl Fn(f32) -> Option<f32> + Sync) {
    use rayon::prelude::*;
    if cols == 0 {
        return;
    }
    data.par_chunks_mut(cols).for_each(|row| {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if let Some(s) = f(norm) {
            row.iter_mut().for_each(|x| *x *= s);
        }
    });
}

/// Rescales each column of the `rows x cols` matrix `data` by `f(norm)` where it returns a factor.
fn scale_cols(data: &mut [f32], rows: usize, cols: usize, f: impl Fn(f32) -> Option<f32>) {
    let mut norms = vec![0.0f32; cols];
    for row in data.chunks_exact(cols).take(rows) {
        for (n, &x) in norms.iter_mut().zip(row) {
            *n += x * x;
        }
    }
    let factors: Vec<f32> = norms.iter().map(|n| f(n.sqrt()).unwrap_or(1.0)).collect();
    for row in data.chunks_exact_mut(cols).take(rows) {
        for (x, &s) in row.iter_mut().zip(&factors) {
            *x *= s;
        }
    }
}

/// `*` matches any run of bytes; everything else matches itself.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob(rest, &name[i..])),
        Some((&c, rest)) => name.first() == Some(&c) && glob(rest, &name[1..]),
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

    #[test]
    fn patterns_match_names() {
        let r = ParamRule::new("layers.*.weight");
        assert!(r.matches("layers.0.weight") && r.matches("layers.12.weight"));
        assert!(!r.matches("layers.0.bias") && !r.matches("xlayers.0.weight"));
        assert!(ParamRule::new("*").matches("anything.at.all"));
        assert!(ParamRule::new("decoder.weight").matches("decoder.weight"));
    }

    #[test]
    fn constraints_act_on_rows_columns_and_values() {
        // [[3, 4], [0, 0.5]]: row norms 5 and 0.5, column norms 3 and 4.03.
        let mut data = vec![3.0, 4.0, 0.0, 0.5];
        let mut p = ParamMut::new("w", vec![2, 2], ParamKind::Weight, &mut data);
        ParamRule { max_norm_rows: Some(1.0), ..ParamRule::new("w") }.constrain(&mut p);
        assert!((p.data[0] - 0.6).abs() < 1e-6 && (p.data[1] - 0.8).abs() < 1e-6 && p.data[3] == 0.5);
        let mut data = vec![3.0, 4.0, 0.0, 0.5];
        let mut p = ParamMut::new("w", vec![2, 2], ParamKind::Weight, &mut data);
        ParamRule { norm_cols: Some(2.0), ..ParamRule::new("w") }.constrain(&mut p);
        assert!((p.data[0] - 2.0).abs() < 1e-6 && p.data[2] == 0.0);
        let col1 = (p.data[1] * p.data[1] + p.data[3] * p.data[3]).sqrt();
        assert!((col1 - 2.0).abs() < 1e-5, "{col1}");
        let mut data = vec![3.0, 4.0, 0.0, 0.5];
        let mut p = ParamMut::new("w", vec![2, 2], ParamKind::Weight, &mut data);
        ParamRule { max_norm_cols: Some(3.5), ..ParamRule::new("w") }.constrain(&mut p);
        assert_eq!(p.data[0], 3.0, "column 0 has norm 3 <= 3.5");
        assert!(p.data[1] < 3.5 && p.data[1] > 3.4, "column 1 rescaled: {}", p.data[1]);
        ParamRule { clip: Some(3.45), ..ParamRule::new("w") }.constrain(&mut p);
        assert_eq!((p.data[0], p.data[1]), (3.0, 3.45));
        let mut data = vec![5.0, -7.0];
        let mut p = ParamMut::new("b", vec![2], ParamKind::Bias, &mut data);
        ParamRule { clip: Some(1.0), ..ParamRule::new("b") }.constrain(&mut p);
        assert_eq!(p.data, &[1.0, -1.0]);
        let bad = ParamRule { lr_scale: Some(0.0), ..ParamRule::new("w") };
        assert!(bad.validate("train.rules[0]").unwrap_err().to_string().contains("train.rules[0].lr_scale"));
    }
}
