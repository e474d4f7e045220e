//! 2-D convolution over NCHW batches: forward, and backward to weights, biases and input.
//!
//! # The math
//!
//! For an input of `C` maps of `H x W`, a kernel of `k x k`, stride `s` and zero padding `p` on every
//! side, output channel `o` at row `y`, column `x` is
//!
//! ```text
//! out[o, y, x] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * in[c, y*s + i - p, x*s + j - p]
//! ```
//!
//! (reads outside the map are zero), and the output maps are `H_out x W_out` with
//!
//! ```text
//! H_out = (H + 2p - k) / s + 1        W_out = (W + 2p - k) / s + 1        (integer division)
//! ```
//!
//! which needs `H + 2p >= k` and `W + 2p >= k`. [`Padding::Zero`]`(p)` gives `p` directly;
//! [`Padding::Same`] gives `p = (k - 1) / 2`, which keeps `H_out = H` and `W_out = W` at stride 1
//! (and `ceil(H / s)`-like sizes at larger strides). "Same" needs an odd kernel: an even one would have
//! to pad one side more than the other, which this layer does not do.
//!
//! The weight uses PyTorch's layout `[out_channels, in_channels, k, k]`. Each example is unfolded
//! (im2col) into a `[C k k, H_out W_out]` matrix and multiplied by the weight seen as
//! `[out_channels, C k k]` in one GEMM ([`crate::tensor::matmul`]). The batch is cut into a fixed
//! number of chunks that depends only on the batch size, processed in parallel with rayon; the
//! per-chunk weight and bias gradients are summed in chunk order, so results do not depend on the
//! number of threads.
//!
//! ```
//! use compete::layers::MapShape;
//! use compete::layers::conv::{Conv2d, Conv2dConfig, Padding};
//!
//! // 1 input map of 4x5, 2 output maps, 3x3 kernel, "same" padding: the maps keep their size.
//! let config = Conv2dConfig { in_channels: 1, out_channels: 2, kernel: 3, stride: 1, padding: Padding::Same };
//! let mut conv = Conv2d::zeros(config).unwrap();
//! conv.weight[4] = 1.0; // output map 0: the centre tap, an identity
//! conv.bias[1] = 0.5; // output map 1: a constant
//! let input = MapShape::new("input", 1, 4, 5).unwrap();
//! let x: Vec<f32> = (0..20).map(|v| v as f32).collect();
//! let mut out = Vec::new();
//! let shape = conv.forward(&x, 1, input, &mut out).unwrap();
//! assert_eq!(shape, MapShape::new("output", 2, 4, 5).unwrap());
//! assert_eq!(&out[..20], &x[..]);
//! assert!(out[20..].iter().all(|&v| v == 0.5));
//!
//! // Gradients of sum(out) with respect to weights, biases and input.
//! let grad_out = vec![1.0; out.len()];
//! let (mut gw, mut gb, mut gx) = (vec![0.0; conv.weight.len()], vec![0.0; 2], vec![0.0; 20]);
//! conv.backward(&x, 1, input, &grad_out, &mut gw, &mut gb, Some(&mut gx)).unwrap();
//! assert_eq!(gb, [20.0, 20.0]);
//! assert_eq!(gw[4], x.iter().sum::<f32>()); // the centre tap sees every input value once
//! assert!(gx.iter().all(|&g| g == 1.0)); // only the centre tap is non-zero
//! ```

use rayon::prelude::*;

use super::MapShape;
use crate::error::{Error, Result};
use crate::io::memory::{bytes, check_alloc};
use crate::tensor::{Matrix, Op, matmul};

/// Zero padding of a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Padding {
    /// `(k - 1) / 2` zeros on each side, which keeps the map size at stride 1; needs an odd kernel.
    Same,
    /// This many zeros on each side.
    Zero(usize),
}

impl Padding {
    /// The zeros added on each side for a `kernel x kernel` kernel; `what` names the layer in errors
    /// (an even kernel with [`Padding::Same`] is refused).
    pub fn resolve(self, what: &str, kernel: usize) -> Result<usize> {
        match self {
            Padding::Zero(p) => Ok(p),
            Padding::Same if kernel % 2 == 1 => Ok((kernel - 1) / 2),
            Padding::Same => Err(Error::param(
                format!("{what}.kernel"),
                kernel,
                "an odd kernel with \"same\" padding (an even kernel would need more padding on one side than the other; use an explicit zero padding)",
            )),
        }
    }
}

/// The hyper-parameters of a [`Conv2d`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conv2dConfig {
    /// Input feature maps.
    pub in_channels: usize,
    /// Output feature maps.
    pub out_channels: usize,
    /// Side of the square kernel.
    pub kernel: usize,
    /// Step between neighbouring windows, in both directions.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: Padding,
}

impl Conv2dConfig {
    /// Checks every field: channels, kernel and stride at least 1, "same" padding with an odd kernel.
    pub fn validate(&self) -> Result<()> {
        check_positive("conv2d.in_channels", self.in_channels)?;
        check_positive("conv2d.out_channels", self.out_channels)?;
        check_positive("conv2d.kernel", self.kernel)?;
        check_positive("conv2d.stride", self.stride)?;
        self.padding.resolve("conv2d", self.kernel)?;
        Ok(())
    }

    /// Zeros added on each side.
    pub fn pad(&self) -> Result<usize> {
        self.padding.resolve("conv2d", self.kernel)
    }

    /// Values of the weight, `out_channels * in_channels * kernel * kernel`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.in_channels * self.kernel * self.kernel
    }
}

/// A 2-D convolution with a bias per output map (see the [module documentation](self) for the math).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Conv2d {
    /// The hyper-parameters.
    pub config: Conv2dConfig,
    /// `[out_channels, in_channels, kernel, kernel]`, row-major (PyTorch's layout).
    pub weight: Vec<f32>,
    /// `[out_channels]`.
    pub bias: Vec<f32>,
}

impl Conv2d {
    /// A layer with the given parameters; refuses an invalid configuration or buffers of the wrong
    /// length.
    pub fn new(config: Conv2dConfig, weight: Vec<f32>, bias: Vec<f32>) -> Result<Self> {
        let conv = Conv2d { config, weight, bias };
        conv.check_params()?;
        Ok(conv)
    }

    /// A layer whose weights and biases are all zero.
    pub fn zeros(config: Conv2dConfig) -> Result<Self> {
        config.validate()?;
        check_alloc("the weights of a conv2d layer", bytes(&[config.weight_len()], 4))?;
        Ok(Conv2d { config, weight: vec![0.0; config.weight_len()], bias: vec![0.0; config.out_channels] })
    }

    fn check_params(&self) -> Result<()> {
        let c = &self.config;
        c.validate()?;
        check_len(
            "conv2d.weight",
            self.weight.len(),
            c.weight_len(),
            &format!("out_channels {} x in_channels {} x kernel {} x kernel {}", c.out_channels, c.in_channels, c.kernel, c.kernel),
        )?;
        check_len("conv2d.bias", self.bias.len(), c.out_channels, "one per output channel")
    }

    /// The output shape for `input`; refuses a channel count other than `in_channels` and a kernel
    /// larger than the padded input.
    pub fn output_shape(&self, input: MapShape) -> Result<MapShape> {
        Ok(self.geometry(input)?.col_shape(self.config.out_channels))
    }

    fn geometry(&self, input: MapShape) -> Result<Geometry> {
        let c = &self.config;
        c.validate()?;
        if input.channels != c.in_channels {
            return Err(Error::shape(
                "conv2d input",
                format!("{input} (channels x height x width)"),
                format!("{} input channels", c.in_channels),
            ));
        }
        let pad = c.pad()?;
        Geometry::conv("conv2d", input, c.kernel, c.stride, pad)
    }

    /// Applies the layer to `n` examples of shape `input` in `x` (`n * input.size()` values, NCHW),
    /// writing `out` (resized to `n * output.size()`), and returns the output shape.
    pub fn forward(&self, x: &[f32], n: usize, input: MapShape, out: &mut Vec<f32>) -> Result<MapShape> {
        self.check_params()?;
        let g = self.geometry(input)?;
        let output = g.col_shape(self.config.out_channels);
        check_len("conv2d input x", x.len(), n.saturating_mul(input.size()), &format!("n {n} x {input}"))?;
        check_alloc("the output of a conv2d layer", bytes(&[n, output.size()], 4))?;
        check_alloc("the unfolded input (im2col) of a conv2d layer", bytes(&[chunks(n).1, g.rows(), g.cols()], 4))?;
        out.clear();
        out.resize(n * output.size(), 0.0);
        if n == 0 {
            return Ok(output);
        }
        let chunk = chunks(n).0;
        let w = Matrix { rows: self.config.out_channels, cols: g.rows(), data: self.weight.clone() };
        out.par_chunks_mut(chunk * output.size()).zip(x.par_chunks(chunk * input.size())).try_for_each(|(out, x)| -> Result<()> {
            let mut col = Matrix::zeros(g.rows(), g.cols());
            let mut y = Matrix::zeros(w.rows, g.cols());
            for (out, x) in out.chunks_mut(output.size()).zip(x.chunks(input.size())) {
                g.im2col(x, &mut col.data);
                matmul(&mut y, &w, Op::N, &col, Op::N, false)?;
                for (o, (dst, src)) in out.chunks_mut(g.cols()).zip(y.data.chunks(g.cols())).enumerate() {
                    let b = self.bias[o];
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d = s + b;
                    }
                }
            }
            Ok(())
        })?;
        Ok(output)
    }

    /// Back-propagates `grad_out` (the loss gradient with respect to the `n * output.size()` values
    /// [`Conv2d::forward`] wrote for the same `x`): **overwrites** `grad_w` (`weight.len()` values)
    /// and `grad_b` (`out_channels`) with the gradients summed over the batch, and `grad_x`
    /// (`x.len()` values), when given, with the gradient with respect to the input.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        x: &[f32],
        n: usize,
        input: MapShape,
        grad_out: &[f32],
        grad_w: &mut [f32],
        grad_b: &mut [f32],
        grad_x: Option<&mut [f32]>,
    ) -> Result<()> {
        self.check_params()?;
        let g = self.geometry(input)?;
        let out_ch = self.config.out_channels;
        let output = g.col_shape(out_ch);
        check_len("conv2d input x", x.len(), n.saturating_mul(input.size()), &format!("n {n} x {input}"))?;
        check_len("conv2d grad_out", grad_out.len(), n.saturating_mul(output.size()), &format!("n {n} x output {output}"))?;
        check_len("conv2d grad_w", grad_w.len(), self.weight.len(), "the weight's length")?;
        check_len("conv2d grad_b", grad_b.len(), out_ch, "one per output channel")?;
        if let Some(gx) = grad_x.as_deref() {
            check_len("conv2d grad_x", gx.len(), x.len(), &format!("n {n} x {input}"))?;
        }
        let (chunk, count) = chunks(n);
        check_alloc("the per-chunk weight gradients of a conv2d layer", bytes(&[count, self.weight.len() + 2 * g.rows() * g.cols()], 4))?;
        let w = Matrix { rows: out_ch, cols: g.rows(), data: self.weight.clone() };
        let gx_chunks: Vec<Option<&mut [f32]>> = match grad_x {
            Some(gx) => gx.chunks_mut(chunk.max(1) * input.size()).map(Some).collect(),
            None => (0..count).map(|_| None).collect(),
        };
        let partials = gx_chunks
            .into_par_iter()
            .enumerate()
            .map(|(ci, mut gx)| -> Result<(Matrix, Vec<f32>)> {
                let mut gw = Matrix::zeros(out_ch, g.rows());
                let mut gb = vec![0.0f32; out_ch];
                let mut col = Matrix::zeros(g.rows(), g.cols());
                let mut go = Matrix::zeros(out_ch, g.cols());
                let mut dcol = Matrix::zeros(g.rows(), g.cols());
                let end = ((ci + 1) * chunk).min(n);
                for (j, b) in (ci * chunk..end).enumerate() {
                    go.data.copy_from_slice(&grad_out[b * output.size()..(b + 1) * output.size()]);
                    for (o, row) in go.data.chunks(g.cols()).enumerate() {
                        gb[o] += row.iter().sum::<f32>();
                    }
                    g.im2col(&x[b * input.size()..(b + 1) * input.size()], &mut col.data);
                    matmul(&mut gw, &go, Op::N, &col, Op::T, j > 0)?;
                    if let Some(gx) = gx.as_deref_mut() {
                        matmul(&mut dcol, &w, Op::T, &go, Op::N, false)?;
                        let dst = &mut gx[j * input.size()..(j + 1) * input.size()];
                        dst.fill(0.0);
                        g.col2im(&dcol.data, dst);
                    }
                }
                Ok((gw, gb))
            })
            .collect::<Vec<_>>();
        grad_w.fill(0.0);
        grad_b.fill(0.0);
        for part in partials {
            let (gw, gb) = part?;
            grad_w.iter_mut().zip(&gw.data).for_each(|(d, s)| *d += s);
            grad_b.iter_mut().zip(&gb).for_each(|(d, s)| *d += s);
        }
        Ok(())
    }
}

/// Examples per chunk and number of chunks for a batch of `n`: at most [`MAX_CHUNKS`] chunks, a
/// function of `n` only (never of the thread count), so that sums over the batch are reproducible.
pub(crate) fn chunks(n: usize) -> (usize, usize) {
    if n == 0 {
        return (1, 0);
    }
    let chunk = n.div_ceil(MAX_CHUNKS);
    (chunk, n.div_ceil(chunk))
}

/// The most chunks a batch is cut into (the parallelism available, and the number of partial weight
/// gradients held at once).
pub(crate) const MAX_CHUNKS: usize = 16;

/// Refuses a shape with an empty dimension.
pub(crate) fn check_shape(what: &str, input: MapShape) -> Result<()> {
    if input.size() == 0 {
        return Err(Error::shape(format!("{what} input"), input.to_string(), "channels, height and width all at least 1"));
    }
    Ok(())
}

pub(crate) fn check_positive(name: &str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(Error::param(name, value, "at least 1"));
    }
    Ok(())
}

pub(crate) fn check_len(what: &str, got: usize, want: usize, expected: &str) -> Result<()> {
    if got != want {
        return Err(Error::shape(what, format!("{got} values"), format!("{want} ({expected})")));
    }
    Ok(())
}

/// The geometry shared by a convolution and its transpose: a `channels x h x w` map (the "image"
/// side) read by `k x k` windows with stride `s` and padding `p`, giving `oh x ow` window positions
/// (the "column" side). The unfolded matrix is `[channels k k, oh ow]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub channels: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub s: usize,
    pub p: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// The geometry of a convolution of `input`; refuses a kernel larger than the padded input.
    pub fn conv(what: &str, input: MapShape, k: usize, s: usize, p: usize) -> Result<Self> {
        check_shape(what, input)?;
        let (ph, pw) = (input.height.saturating_add(2 * p), input.width.saturating_add(2 * p));
        if k > ph || k > pw {
            return Err(Error::param(
                format!("{what}.kernel"),
                k,
                format!("at most the padded input, {ph}x{pw} (input {}x{} with padding {p})", input.height, input.width),
            ));
        }
        Ok(Geometry { channels: input.channels, h: input.height, w: input.width, k, s, p, oh: (ph - k) / s + 1, ow: (pw - k) / s + 1 })
    }

    /// Rows of the unfolded matrix, `channels k k`.
    pub fn rows(&self) -> usize {
        self.channels * self.k * self.k
    }

    /// Columns of the unfolded matrix, `oh ow`.
    pub fn cols(&self) -> usize {
        self.oh * self.ow
    }

    /// The window-side shape with `channels` maps.
    pub fn col_shape(&self, channels: usize) -> MapShape {
        MapShape { channels, height: self.oh, width: self.ow }
    }

    /// For window row `oy` and kernel row `i`: the image row, or `None` in the padding.
    #[inline]
    fn src(o: usize, i: usize, s: usize, p: usize, len: usize) -> Option<usize> {
        let v = (o * s + i).checked_sub(p)?;
        (v < len).then_some(v)
    }

    /// Unfolds one example's image (`channels h w` values) into `col` (`rows() * cols()` values).
    pub fn im2col(&self, img: &[f32], col: &mut [f32]) {
        let (k, cols) = (self.k, self.cols());
        for c in 0..self.channels {
            let plane = &img[c * self.h * self.w..(c + 1) * self.h * self.w];
            for i in 0..k {
                for j in 0..k {
                    let row = &mut col[((c * k + i) * k + j) * cols..][..cols];
                    for oy in 0..self.oh {
                        let dst = &mut row[oy * self.ow..(oy + 1) * self.ow];
                        match Self::src(oy, i, self.s, self.p, self.h) {
                            None => dst.fill(0.0),
                            Some(y) => {
                                let src = &plane[y * self.w..(y + 1) * self.w];
                                for (ox, d) in dst.iter_mut().enumerate() {
                                    *d = Self::src(ox, j, self.s, self.p, self.w).map_or(0.0, |x| src[x]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds the unfolded `col` back onto `img` (the transpose of [`Geometry::im2col`]): every window
    /// entry is added to the image value it was read from.
    pub fn col2im(&self, col: &[f32], img: &mut [f32]) {
        let (k, cols) = (self.k, self.cols());
        for c in 0..self.channels {
            let plane = &mut img[c * self.h * self.w..(c + 1) * self.h * self.w];
            for i in 0..k {
                for j in 0..k {
                    let row = &col[((c * k + i) * k + j) * cols..][..cols];
                    for oy in 0..self.oh {
                        if let Some(y) = Self::src(oy, i, self.s, self.p, self.h) {
                            let dst = &mut plane[y * self.w..(y + 1) * self.w];
                            for (ox, v) in row[oy * self.ow..(oy + 1) * self.ow].iter().enumerate() {
                                if let Some(x) = Self::src(ox, j, self.s, self.p, self.w) {
                                    dst[x] += v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
