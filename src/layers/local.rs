//! A locally connected 2-D layer: the structure of a convolution without weight sharing (paper C,
//! section V).
//!
//! # The math
//!
//! The layer reads `n` examples of `in_channels x h x w` maps, pads each map with `pad` zeros on
//! every side and slides a `kernel x kernel` window by `stride`, giving
//! `out_h = floor((h + 2 pad - kernel) / stride) + 1` rows and as many columns from the width. Unlike
//! a convolution, every output location `(i, j)` has its own weights:
//!
//! ```text
//! y[b, o, i, j] = bias[o, i, j]
//!               + sum over c, u, v of weight[i, j, o, c, u, v] * x[b, c, i*stride - pad + u, j*stride - pad + v]
//! ```
//!
//! (`x` is 0 outside the map). With `P_l`, the `n x (in_channels * kernel^2)` patches of location
//! `l = i * out_w + j` (channel, then row, then column of the window) and `W_l` its
//! `out_channels x (in_channels * kernel^2)` weights, the forward pass is `Y_l = P_l W_l^T + b_l`
//! and the backward pass
//!
//! ```text
//! dL/dW_l = G_l^T P_l     dL/db_l = sum over the batch of G_l     dL/dP_l = G_l W_l
//! ```
//!
//! where `G_l` is `dL/dY_l`; `dL/dx` adds every patch gradient back at the positions it was read
//! from (the transpose of the unfolding).
//!
//! # Layouts
//!
//! - weights `[out_h, out_w, out_channels, in_channels, kernel, kernel]`, row-major: location `l`'s
//!   `W_l` is one contiguous block;
//! - bias `[out_channels, out_h, out_w]`, the layout of one example's output.
//!
//! In PyTorch the layer is
//!
//! ```text
//! cols = torch.nn.functional.unfold(x, kernel, padding=pad, stride=stride)      # [n, C*k*k, L]
//! y = torch.einsum("nkl,lok->nol", cols, weight.reshape(L, O, C*k*k))            # [n, O, L]
//! y = y.reshape(n, O, out_h, out_w) + bias                                       # bias [O, out_h, out_w]
//! ```
//!
//! With the same `[out_channels, in_channels, kernel, kernel]` weights at every location it is the
//! convolution with those weights (tested).
//!
//! # Threads
//!
//! Locations are independent: both passes compute them in parallel with rayon, each location's
//! products with [`crate::tensor::matmul`]; the input gradient then sums the patch gradients of each
//! example in the fixed order of the locations. No sum is split by thread, so results do not depend
//! on the thread count.
//!
//! ```
//! use compete::layers::MapShape;
//! use compete::layers::local::{Local, LocalConfig, Padding};
//!
//! // 1 input map of 3 x 3, 2 units per location, 2 x 2 windows moved by 1: 2 maps of 2 x 2.
//! let config = LocalConfig { in_channels: 1, out_channels: 2, kernel: 2, stride: 1, padding: Padding::Zero(0) };
//! let input = MapShape::new("input", 1, 3, 3).unwrap();
//! let mut layer = Local::new(config, input, 7).unwrap();
//! assert_eq!(layer.output, MapShape::new("output", 2, 2, 2).unwrap());
//! assert_eq!(layer.weight.len(), 2 * 2 * 2 * 1 * 2 * 2);
//!
//! // Unit 0 of location (0, 1) reads the top-left of its window only, and has a bias of 0.5.
//! layer.weight.fill(0.0);
//! layer.bias.fill(0.0);
//! let w = layer.weight_index(0, 1, 0, 0, 0, 0);
//! layer.weight[w] = 1.0;
//! layer.bias[1] = 0.5;
//! let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
//! let mut y = Vec::new();
//! layer.forward(&x, 1, &mut y).unwrap();
//! assert_eq!(y, [0.0, 2.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
//!
//! let grads = layer.backward(&x, &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 1).unwrap();
//! assert_eq!(grads.bias[1], 1.0);
//! assert_eq!(grads.weight[w], 2.0); // x at (0, 1)
//! assert_eq!(grads.input[1], 1.0); // through the one non-zero weight
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::MapShape;
use crate::error::{Error, Result};
use crate::io::memory::{bytes, check_alloc};
use crate::tensor::{Matrix, Op, matmul};

pub use super::Padding;

/// The hyper-parameters of a [`Local`] layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LocalConfig {
    /// Channels of the input maps (at least 1).
    pub in_channels: usize,
    /// Units at each output location, the output's channels (at least 1).
    pub out_channels: usize,
    /// Rows and columns of each window (at least 1; odd with [`Padding::Same`]).
    pub kernel: usize,
    /// Step between windows (at least 1).
    pub stride: usize,
    /// Zeros around the input.
    pub padding: Padding,
}

impl LocalConfig {
    /// The zeros added on each side: `(kernel - 1) / 2` for [`Padding::Same`] (refusing an even
    /// kernel), `p` for [`Padding::Zero`].
    pub fn pad(&self) -> Result<usize> {
        match self.padding {
            Padding::Zero(p) => Ok(p),
            Padding::Same if self.kernel % 2 == 1 => Ok((self.kernel - 1) / 2),
            Padding::Same => Err(Error::param("locally connected kernel", self.kernel, "odd with padding Same")),
        }
    }

    /// The output shape for inputs of shape `input`, checking every parameter: channels, kernel
    /// and stride at least 1, `input.channels == in_channels`, and the kernel no larger than the
    /// padded map.
    pub fn output_shape(&self, input: MapShape) -> Result<MapShape> {
        for (name, v) in [
            ("locally connected in_channels", self.in_channels),
            ("locally connected out_channels", self.out_channels),
            ("locally connected kernel", self.kernel),
            ("locally connected stride", self.stride),
        ] {
            if v == 0 {
                return Err(Error::param(name, v, "at least 1"));
            }
        }
        if input.height == 0 || input.width == 0 {
            return Err(Error::param("locally connected input", input, "height and width at least 1"));
        }
        if input.channels != self.in_channels {
            return Err(Error::param("locally connected input channels", input.channels, format!("in_channels = {}", self.in_channels)));
        }
        let pad = self.pad()?;
        let (ph, pw) = (input.height.saturating_add(pad.saturating_mul(2)), input.width.saturating_add(pad.saturating_mul(2)));
        if self.kernel > ph || self.kernel > pw {
            return Err(Error::param(
                "locally connected kernel",
                self.kernel,
                format!("at most the padded input's height and width ({ph}x{pw} from {input} with padding {pad})"),
            ));
        }
        Ok(MapShape {
            channels: self.out_channels,
            height: (ph - self.kernel) / self.stride + 1,
            width: (pw - self.kernel) / self.stride + 1,
        })
    }
}

/// A locally connected layer for inputs of one shape, with its parameters (see the module docs for
/// the math and the layouts).
#[derive(Clone, Debug, PartialEq)]
pub struct Local {
    /// The hyper-parameters.
    pub config: LocalConfig,
    /// The shape of one input example.
    pub input: MapShape,
    /// The shape of one output example (`config.output_shape(input)`).
    pub output: MapShape,
    /// `[out_h, out_w, out_channels, in_channels, kernel, kernel]`.
    pub weight: Vec<f32>,
    /// `[out_channels, out_h, out_w]`.
    pub bias: Vec<f32>,
}

/// The gradients of a loss with respect to a [`Local`] layer's parameters and input, in their
/// layouts.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalGrads {
    /// `dL/dweight`, `[out_h, out_w, out_channels, in_channels, kernel, kernel]`.
    pub weight: Vec<f32>,
    /// `dL/dbias`, `[out_channels, out_h, out_w]`.
    pub bias: Vec<f32>,
    /// `dL/dx`, `[n, in_channels, h, w]`.
    pub input: Vec<f32>,
}

impl Local {
    /// A layer with weights and biases drawn uniformly from `(-1/sqrt(fan_in), 1/sqrt(fan_in))`,
    /// `fan_in = in_channels * kernel^2` (PyTorch's default bound for its linear and convolution
    /// layers), from `seed`.
    pub fn new(config: LocalConfig, input: MapShape, seed: u64) -> Result<Self> {
        let output = config.output_shape(input)?;
        let (wlen, blen) = Self::lengths(&config, output)?;
        let bound = 1.0 / ((config.in_channels * config.kernel * config.kernel) as f32).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let weight = (0..wlen).map(|_| rng.random_range(-bound..bound)).collect();
        let bias = (0..blen).map(|_| rng.random_range(-bound..bound)).collect();
        Ok(Local { config, input, output, weight, bias })
    }

    /// A layer with the given parameters, refusing buffers of the wrong lengths.
    pub fn from_params(config: LocalConfig, input: MapShape, weight: Vec<f32>, bias: Vec<f32>) -> Result<Self> {
        let layer = Local { config, input, output: config.output_shape(input)?, weight, bias };
        layer.check()?;
        Ok(layer)
    }

    /// Lengths of the weights and the bias, after checking their memory.
    fn lengths(config: &LocalConfig, output: MapShape) -> Result<(usize, usize)> {
        let counts = [output.plane(), config.out_channels, config.in_channels, config.kernel, config.kernel];
        check_alloc(&format!("the weights of a locally connected layer of {counts:?}"), bytes(&counts, 4))?;
        Ok((counts.iter().product(), output.size()))
    }

    /// Checks the configuration, the shapes and the parameter lengths (fields are public).
    fn check(&self) -> Result<()> {
        let output = self.config.output_shape(self.input)?;
        if output != self.output {
            return Err(Error::shape("locally connected output", self.output.to_string(), format!("{output} from {}", self.input)));
        }
        let (wlen, blen) = Self::lengths(&self.config, output)?;
        if self.weight.len() != wlen {
            let k = self.config.kernel;
            return Err(Error::shape(
                "locally connected weight",
                format!("{} values", self.weight.len()),
                format!("{}x{}x{}x{}x{k}x{k} = {wlen}", output.height, output.width, output.channels, self.config.in_channels),
            ));
        }
        if self.bias.len() != blen {
            return Err(Error::shape("locally connected bias", format!("{} values", self.bias.len()), format!("{output} = {blen}")));
        }
        Ok(())
    }

    /// The index in [`Local::weight`] of the weight from input channel `c`, window row `u` and column
    /// `v` to unit `o` at output location `(i, j)`.
    pub fn weight_index(&self, i: usize, j: usize, o: usize, c: usize, u: usize, v: usize) -> usize {
        let k = self.config.kernel;
        ((((i * self.output.width + j) * self.output.channels + o) * self.config.in_channels + c) * k + u) * k + v
    }

    /// Values in one location's patch, `in_channels * kernel^2`.
    fn patch_len(&self) -> usize {
        self.config.in_channels * self.config.kernel * self.config.kernel
    }

    /// Checks `n` and a buffer of `n` examples of `shape`.
    fn check_batch(&self, what: &str, n: usize, len: usize, shape: MapShape) -> Result<()> {
        if n == 0 {
            return Err(Error::param(format!("locally connected {what} n"), n, "at least 1 example"));
        }
        if n.checked_mul(shape.size()) != Some(len) {
            return Err(Error::shape(
                format!("locally connected {what}"),
                format!("{len} values"),
                format!("n x {shape} = {n} x {}", shape.size()),
            ));
        }
        Ok(())
    }

    /// The `n x patch_len` patches of location `l` (zeros where the window leaves the map).
    fn patches(&self, x: &[f32], n: usize, l: usize) -> Matrix {
        let (k, s, pad) = (self.config.kernel, self.config.stride, self.config.pad().unwrap_or(0));
        let (h, w, isz) = (self.input.height, self.input.width, self.input.size());
        let (i, j) = (l / self.output.width, l % self.output.width);
        let mut p = Matrix::zeros(n, self.patch_len());
        for b in 0..n {
            let row = p.row_mut(b);
            for c in 0..self.config.in_channels {
                for u in 0..k {
                    let Some(y) = (i * s + u).checked_sub(pad).filter(|&y| y < h) else { continue };
                    for v in 0..k {
                        let Some(xx) = (j * s + v).checked_sub(pad).filter(|&xx| xx < w) else { continue };
                        row[(c * k + u) * k + v] = x[b * isz + (c * h + y) * w + xx];
                    }
                }
            }
        }
        p
    }

    /// Location `l`'s weights as an `out_channels x patch_len` matrix.
    fn weights_of(&self, l: usize) -> Matrix {
        let block = self.output.channels * self.patch_len();
        Matrix { rows: self.output.channels, cols: self.patch_len(), data: self.weight[l * block..(l + 1) * block].to_vec() }
    }

    /// The forward pass of `n` examples `x` (`n x input`); `y` becomes the `n x output` result
    /// (resized, reusing its allocation).
    pub fn forward(&self, x: &[f32], n: usize, y: &mut Vec<f32>) -> Result<()> {
        self.check()?;
        self.check_batch("forward x", n, x.len(), self.input)?;
        let (locs, o, osz) = (self.output.plane(), self.output.channels, self.output.size());
        check_alloc(&format!("the locally connected output of {n} examples of {}", self.output), bytes(&[n, osz], 8))?;
        let per_location: Vec<Matrix> = (0..locs)
            .into_par_iter()
            .map(|l| {
                let mut yl = Matrix::zeros(n, o);
                matmul(&mut yl, &self.patches(x, n, l), Op::N, &self.weights_of(l), Op::T, false)?;
                Ok(yl)
            })
            .collect::<Result<_>>()?;
        y.clear();
        y.resize(n * osz, 0.0);
        y.par_chunks_mut(osz).enumerate().for_each(|(b, yb)| {
            for (l, yl) in per_location.iter().enumerate() {
                for (u, v) in yl.row(b).iter().enumerate() {
                    yb[u * locs + l] = v + self.bias[u * locs + l];
                }
            }
        });
        Ok(())
    }

    /// The backward pass: from the input `x` of [`Local::forward`] and the gradient `grad_y`
    /// (`n x output`) of a loss with respect to its output, the gradients of the weights, the bias
    /// and the input.
    pub fn backward(&self, x: &[f32], grad_y: &[f32], n: usize) -> Result<LocalGrads> {
        self.check()?;
        self.check_batch("backward x", n, x.len(), self.input)?;
        self.check_batch("backward grad_y", n, grad_y.len(), self.output)?;
        let (locs, o, osz, kk) = (self.output.plane(), self.output.channels, self.output.size(), self.patch_len());
        check_alloc(
            &format!("the patch gradients of a locally connected layer: {n} examples x {locs} locations x {kk}"),
            bytes(&[n, locs, kk], 4),
        )?;
        // Per location: (dW_l, db_l, dP_l).
        let per_location: Vec<(Matrix, Vec<f32>, Matrix)> = (0..locs)
            .into_par_iter()
            .map(|l| {
                let mut g = Matrix::zeros(n, o);
                for b in 0..n {
                    for u in 0..o {
                        g.data[b * o + u] = grad_y[b * osz + u * locs + l];
                    }
                }
                let p = self.patches(x, n, l);
                let mut dw = Matrix::zeros(o, kk);
                matmul(&mut dw, &g, Op::T, &p, Op::N, false)?;
                let mut dp = Matrix::zeros(n, kk);
                matmul(&mut dp, &g, Op::N, &self.weights_of(l), Op::N, false)?;
                let db = (0..o).map(|u| (0..n).map(|b| g.data[b * o + u]).sum()).collect();
                Ok((dw, db, dp))
            })
            .collect::<Result<_>>()?;

        let mut grads = LocalGrads { weight: vec![0.0; self.weight.len()], bias: vec![0.0; self.bias.len()], input: vec![0.0; x.len()] };
        for (l, (dw, db, _)) in per_location.iter().enumerate() {
            grads.weight[l * o * kk..(l + 1) * o * kk].copy_from_slice(&dw.data);
            for (u, v) in db.iter().enumerate() {
                grads.bias[u * locs + l] = *v;
            }
        }
        let (k, s, pad) = (self.config.kernel, self.config.stride, self.config.pad()?);
        let (h, w, isz) = (self.input.height, self.input.width, self.input.size());
        grads.input.par_chunks_mut(isz).enumerate().for_each(|(b, gx)| {
            for (l, (_, _, dp)) in per_location.iter().enumerate() {
                let (i, j) = (l / self.output.width, l % self.output.width);
                let row = dp.row(b);
                for c in 0..self.config.in_channels {
                    for u in 0..k {
                        let Some(y) = (i * s + u).checked_sub(pad).filter(|&y| y < h) else { continue };
                        for v in 0..k {
                            let Some(xx) = (j * s + v).checked_sub(pad).filter(|&xx| xx < w) else { continue };
                            gx[(c * h + y) * w + xx] += row[(c * k + u) * k + v];
                        }
                    }
                }
            }
        });
        Ok(grads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(len: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// (in_channels, out_channels, kernel, stride, padding, height, width, n): stride 1 and 2,
    /// non-square maps, Same and Zero padding, windows reaching into the padding.
    type Case = (usize, usize, usize, usize, Padding, usize, usize, usize);

    const CASES: [Case; 5] = [
        (2, 3, 3, 1, Padding::Same, 5, 4, 2),
        (2, 2, 2, 2, Padding::Zero(1), 5, 7, 3),
        (1, 2, 3, 2, Padding::Zero(0), 7, 6, 2),
        (3, 1, 3, 2, Padding::Same, 4, 6, 2),
        (1, 1, 1, 1, Padding::Zero(0), 2, 3, 1),
    ];

    fn layer(case: Case, seed: u64) -> (Local, usize) {
        let (ci, co, k, s, padding, h, w, n) = case;
        let config = LocalConfig { in_channels: ci, out_channels: co, kernel: k, stride: s, padding };
        (Local::new(config, MapShape::new("input", ci, h, w).unwrap(), seed).unwrap(), n)
    }

    fn forward(layer: &Local, x: &[f32], n: usize) -> Vec<f32> {
        let mut y = Vec::new();
        layer.forward(x, n, &mut y).unwrap();
        y
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (t, case) in CASES.into_iter().enumerate() {
            let (layer, n) = layer(case, t as u64);
            let x = random(n * layer.input.size(), &mut rng);
            let r = random(n * layer.output.size(), &mut rng);
            let grads = layer.backward(&x, &r, n).unwrap();
            let loss = |layer: &Local, x: &[f32]| -> f64 { forward(layer, x, n).iter().zip(&r).map(|(&y, &r)| y as f64 * r as f64).sum() };
            // The loss is linear in each parameter: central differences are exact up to rounding.
            let eps = 0.25f32;
            let check = |what: &str, p: usize, fd: f64, g: f32| {
                assert!((fd - g as f64).abs() < 2e-4 * (1.0 + g.abs() as f64), "case {t} {what}[{p}]: fd {fd} vs backward {g}");
            };
            for p in 0..layer.weight.len() {
                let (mut lp, mut lm) = (layer.clone(), layer.clone());
                lp.weight[p] += eps;
                lm.weight[p] -= eps;
                check("weight", p, (loss(&lp, &x) - loss(&lm, &x)) / (2.0 * eps as f64), grads.weight[p]);
            }
            for p in 0..layer.bias.len() {
                let (mut lp, mut lm) = (layer.clone(), layer.clone());
                lp.bias[p] += eps;
                lm.bias[p] -= eps;
                check("bias", p, (loss(&lp, &x) - loss(&lm, &x)) / (2.0 * eps as f64), grads.bias[p]);
            }
            for p in 0..x.len() {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[p] += eps;
                xm[p] -= eps;
                check("input", p, (loss(&layer, &xp) - loss(&layer, &xm)) / (2.0 * eps as f64), grads.input[p]);
            }
            assert!(grads.weight.iter().any(|&g| g != 0.0) && grads.input.iter().any(|&g| g != 0.0), "case {t}");
        }
    }

    /// A plain convolution, `weight [out, in, k, k]`, `bias [out]`, zero padding `pad`.
    #[allow(clippy::too_many_arguments)]
    fn reference_conv(
        x: &[f32],
        n: usize,
        input: MapShape,
        weight: &[f32],
        bias: &[f32],
        out: usize,
        k: usize,
        s: usize,
        pad: usize,
    ) -> Vec<f32> {
        let (ci, h, w) = (input.channels, input.height as isize, input.width as isize);
        let oh = ((h as usize + 2 * pad - k) / s + 1) as isize;
        let ow = ((w as usize + 2 * pad - k) / s + 1) as isize;
        let mut y = Vec::new();
        for b in 0..n {
            for o in 0..out {
                for i in 0..oh {
                    for j in 0..ow {
                        let mut acc = bias[o] as f64;
                        for c in 0..ci {
                            for u in 0..k as isize {
                                for v in 0..k as isize {
                                    let (yy, xx) = (i * s as isize - pad as isize + u, j * s as isize - pad as isize + v);
                                    if yy < 0 || yy >= h || xx < 0 || xx >= w {
                                        continue;
                                    }
                                    let xv = x[b * input.size() + ((c as isize * h + yy) * w + xx) as usize];
                                    let wv = weight[((o * ci + c) * k + u as usize) * k + v as usize];
                                    acc += xv as f64 * wv as f64;
                                }
                            }
                        }
                        y.push(acc as f32);
                    }
                }
            }
        }
        y
    }

    #[test]
    fn shared_weights_make_a_convolution() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for (t, case) in CASES.into_iter().enumerate() {
            let (mut layer, n) = layer(case, 9);
            let (ci, co, k) = (layer.config.in_channels, layer.config.out_channels, layer.config.kernel);
            let conv_w = random(co * ci * k * k, &mut rng);
            let conv_b = random(co, &mut rng);
            let locs = layer.output.plane();
            layer.weight = conv_w.repeat(locs);
            layer.bias = conv_b.iter().flat_map(|&b| std::iter::repeat_n(b, locs)).collect();
            let x = random(n * layer.input.size(), &mut rng);
            let want = reference_conv(&x, n, layer.input, &conv_w, &conv_b, co, k, layer.config.stride, layer.config.pad().unwrap());
            let got = forward(&layer, &x, n);
            assert_eq!(got.len(), want.len(), "case {t}");
            for (p, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-5, "case {t} output {p}: {a} vs conv {b}");
            }
        }
    }

    #[test]
    fn output_shapes_and_same_padding() {
        let shape = |k, s, padding, h, w| {
            let config = LocalConfig { in_channels: 1, out_channels: 4, kernel: k, stride: s, padding };
            let o = config.output_shape(MapShape::new("input", 1, h, w).unwrap()).unwrap();
            (o.channels, o.height, o.width)
        };
        assert_eq!(shape(3, 1, Padding::Same, 5, 4), (4, 5, 4));
        assert_eq!(shape(5, 2, Padding::Same, 7, 8), (4, 4, 4)); // ceil(h / stride)
        assert_eq!(shape(2, 2, Padding::Zero(1), 5, 7), (4, 3, 4));
        assert_eq!(shape(3, 2, Padding::Zero(0), 7, 6), (4, 3, 2));
    }

    #[test]
    fn one_and_two_threads_give_identical_results() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        // The second case is large enough (64 x 64 x 64 products) for matmul to split its products
        // across threads too.
        for (case, n) in [((3, 5, 3, 1, Padding::Same, 9, 7, 1), 40), ((4, 64, 4, 1, Padding::Zero(0), 6, 6, 1), 64)] {
            let (layer, _) = layer(case, 3);
            let x = random(n * layer.input.size(), &mut rng);
            let r = random(n * layer.output.size(), &mut rng);
            let run = |threads: usize| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| (forward(&layer, &x, n), layer.backward(&x, &r, n).unwrap()))
            };
            let one = run(1);
            assert!(one == run(2) && one == run(3), "{case:?}");
        }
    }

    #[test]
    fn bad_inputs_are_refused_by_name() {
        let input = MapShape::new("input", 2, 4, 5).unwrap();
        let ok = LocalConfig { in_channels: 2, out_channels: 3, kernel: 3, stride: 1, padding: Padding::Zero(0) };
        let msg = |c: LocalConfig| c.output_shape(input).unwrap_err().to_string();
        assert!(msg(LocalConfig { in_channels: 0, ..ok }).contains("locally connected in_channels = 0"));
        assert!(msg(LocalConfig { out_channels: 0, ..ok }).contains("locally connected out_channels = 0"));
        assert!(msg(LocalConfig { kernel: 0, ..ok }).contains("locally connected kernel = 0"));
        assert!(msg(LocalConfig { stride: 0, ..ok }).contains("locally connected stride = 0"));
        let e = msg(LocalConfig { in_channels: 3, ..ok });
        assert!(e.contains("locally connected input channels = 2") && e.contains("in_channels = 3"), "{e}");
        let e = msg(LocalConfig { kernel: 2, padding: Padding::Same, ..ok });
        assert!(e.contains("locally connected kernel = 2") && e.contains("odd"), "{e}");
        let e = msg(LocalConfig { kernel: 5, ..ok });
        assert!(e.contains("locally connected kernel = 5") && e.contains("4x5"), "{e}");
        assert!(LocalConfig { kernel: 5, padding: Padding::Zero(1), ..ok }.output_shape(input).is_ok());
        let e = ok.output_shape(MapShape { channels: 2, height: 0, width: 5 }).unwrap_err().to_string();
        assert!(e.contains("locally connected input"), "{e}");

        let layer = Local::new(ok, input, 1).unwrap();
        let e = Local::from_params(ok, input, vec![0.0; 3], layer.bias.clone()).unwrap_err().to_string();
        assert!(e.contains("locally connected weight") && e.contains("3 values"), "{e}");
        let e = Local::from_params(ok, input, layer.weight.clone(), vec![0.0; 2]).unwrap_err().to_string();
        assert!(e.contains("locally connected bias") && e.contains("2 values"), "{e}");
        assert_eq!(Local::from_params(ok, input, layer.weight.clone(), layer.bias.clone()).unwrap(), layer);

        let mut y = Vec::new();
        let x = vec![0.0; input.size()];
        assert!(layer.forward(&x, 0, &mut y).unwrap_err().to_string().contains("locally connected forward x n = 0"));
        assert!(layer.forward(&x[1..], 1, &mut y).unwrap_err().to_string().contains("locally connected forward x"));
        let g = vec![0.0; layer.output.size()];
        assert!(layer.backward(&x, &g[1..], 1).unwrap_err().to_string().contains("locally connected backward grad_y"));
        assert!(layer.backward(&x[1..], &g, 1).unwrap_err().to_string().contains("locally connected backward x"));
        assert!(layer.backward(&x, &g, 0).unwrap_err().to_string().contains("n = 0"));
        // Parameters edited through the public fields are checked too.
        let mut broken = layer.clone();
        broken.bias.pop();
        assert!(broken.forward(&x, 1, &mut y).unwrap_err().to_string().contains("locally connected bias"));
        broken = layer.clone();
        broken.output.height += 1;
        assert!(broken.backward(&x, &g, 1).unwrap_err().to_string().contains("locally connected output"));
    }

    #[test]
    fn tied_location_weights_equal_the_convolution_layer() {
        use crate::layers::conv::{Conv2d, Conv2dConfig};
        for (kernel, stride, padding, (h, w)) in
            [(3, 1, Padding::Same, (6, 5)), (3, 2, Padding::Zero(1), (7, 6)), (1, 1, Padding::Zero(0), (4, 4))]
        {
            let (cin, cout, n) = (2, 3, 4);
            let input = MapShape::new("test input", cin, h, w).unwrap();
            let cfg = Conv2dConfig { in_channels: cin, out_channels: cout, kernel, stride, padding };
            let cw: Vec<f32> = (0..cout * cin * kernel * kernel).map(|i| ((i * 37 % 17) as f32 - 8.0) / 9.0).collect();
            let cb: Vec<f32> = (0..cout).map(|o| o as f32 * 0.1 - 0.1).collect();
            let conv = Conv2d::new(cfg, cw.clone(), cb.clone()).unwrap();
            let lc = LocalConfig { in_channels: cin, out_channels: cout, kernel, stride, padding };
            let mut local = Local::new(lc, input, 1).unwrap();
            let out = local.output;
            for i in 0..out.height {
                for j in 0..out.width {
                    for o in 0..cout {
                        local.bias[(o * out.height + i) * out.width + j] = cb[o];
                        for c in 0..cin {
                            for u in 0..kernel {
                                for v in 0..kernel {
                                    let k = local.weight_index(i, j, o, c, u, v);
                                    local.weight[k] = cw[((o * cin + c) * kernel + u) * kernel + v];
                                }
                            }
                        }
                    }
                }
            }
            let x: Vec<f32> = (0..n * input.size()).map(|i| ((i * 7919 % 101) as f32 - 50.0) / 25.0).collect();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let shape = conv.forward(&x, n, input, &mut a).unwrap();
            assert_eq!(shape, out);
            local.forward(&x, n, &mut b).unwrap();
            assert_eq!(a.len(), b.len());
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() < 1e-4 * (1.0 + q.abs()), "k {kernel} s {stride}: conv {p} vs tied local {q}");
            }
        }
    }
}
