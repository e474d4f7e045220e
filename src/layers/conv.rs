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
//! (and `ceil(H / s)` at larger strides). "Same" needs an odd kernel: an even one would have
//! to pad one side more than the other, which this layer does not do.
//!
//! The weight uses PyTorch's layout `[out_channels, in_channels, k, k]`. Each example is unfolded
//! (im2col) into a `[C k k, H_out W_out]` matrix and multiplied by the weight seen as
//! `[out_channels, C k k]` in one GEMM ([`crate::tensor::matmul`]). The weight gradient is
//! `grad_out [out_channels, H_out W_out]` times the unfolded input, transposed. The input gradient,
//! at stride 1 with `p < k` and at least half as many input as output channels, is computed as the
//! convolution it is: `grad_out` unfolded with padding `k - 1 - p`, times the kernel flipped in both
//! directions with its channel axes swapped (`[C, out_channels k k]`), one GEMM with a long inner
//! dimension; otherwise as `weight^T grad_out` (inner dimension `out_channels`) folded back by
//! col2im. At stride 1, with a 3x3 or 5x5 kernel, at least 16 input and output channels and
//! maps of at least 16 output tiles, forward and backward go through Winograd's minimal filtering
//! instead ([`super::winograd`]: 2.8 to 4 times fewer multiplications, the same results to f32
//! rounding); a larger kernel at stride 1 is cut into 3x3 pieces over shifted copies of the input
//! and goes the same way where the pieces have at least 16 maps (Goodfellow et al.'s 8x8 layers:
//! 3.2 times fewer). Examples with small maps are unfolded side by side, so that one GEMM serves
//! several. The batch is cut into a fixed
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
use crate::tensor::{Op, View, gemm_view, sequential};

pub use super::Padding;

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
        self.forward_as(x, n, input, out, true)
    }

    /// [`Conv2d::forward`], through Winograd's algorithm where [`super::winograd::Plan::new`] takes
    /// the layer and `winograd` is true, else through im2col + GEMM.
    pub(crate) fn forward_as(&self, x: &[f32], n: usize, input: MapShape, out: &mut Vec<f32>, winograd: bool) -> Result<MapShape> {
        self.check_params()?;
        let g = self.geometry(input)?;
        let output = g.col_shape(self.config.out_channels);
        check_len("conv2d input x", x.len(), n.saturating_mul(input.size()), &format!("n {n} x {input}"))?;
        check_alloc("the output of a conv2d layer", bytes(&[n, output.size()], 4))?;
        let (chunk, count) = chunks(n);
        let sub = block_examples(g.rows(), g.cols(), chunk);
        check_alloc(
            "the unfolded input (im2col) of a conv2d layer",
            bytes(&[count, sub, g.rows() + self.config.out_channels, g.cols()], 4),
        )?;
        // Every path below overwrites every output value: the buffer is not cleared first.
        out.resize(n * output.size(), 0.0);
        if n == 0 {
            return Ok(output);
        }
        if let Some(plan) = super::winograd::Plan::new(&self.config, &g).filter(|_| winograd) {
            plan.forward(&self.weight, &self.bias, x, n, out)?;
            return Ok(output);
        }
        if let Some(split) = super::winograd::Split::new(&self.config, &g).filter(|_| winograd) {
            split.forward(&self.weight, &self.bias, x, n, out)?;
            return Ok(output);
        }
        let (out_ch, rows, cols) = (self.config.out_channels, g.rows(), g.cols());
        let (isz, osz) = (input.size(), output.size());
        let w = View { rows: out_ch, cols: rows, data: &self.weight };
        out.par_chunks_mut(chunk * osz).zip(x.par_chunks(chunk * isz)).try_for_each(|(out, x)| {
            with_scratch(|Scratch { col, y, buf, .. }| -> Result<()> {
                for (out, x) in out.chunks_mut(sub * osz).zip(x.chunks(sub * isz)) {
                    // The block's examples side by side: one GEMM [out, C k k] x [C k k, m H_out W_out].
                    let m = x.len() / isz;
                    let width = m * cols;
                    col.resize(rows * width, 0.0);
                    for (e, xe) in x.chunks(isz).enumerate() {
                        g.im2col_at(xe, col, width, e * cols, buf);
                    }
                    let col = View { rows, cols: width, data: col };
                    if m == 1 {
                        // One example: the product is its output maps, written in place.
                        gemm_view(out, (out_ch, width), w, Op::N, col, Op::N, false, 1.0)?;
                        for (dst, &b) in out.chunks_mut(cols).zip(&self.bias) {
                            dst.iter_mut().for_each(|d| *d += b);
                        }
                        continue;
                    }
                    y.resize(out_ch * width, 0.0);
                    gemm_view(y, (out_ch, width), w, Op::N, col, Op::N, false, 1.0)?;
                    for (e, oe) in out.chunks_mut(osz).enumerate() {
                        for (o, dst) in oe.chunks_mut(cols).enumerate() {
                            let b = self.bias[o];
                            dst.iter_mut().zip(&y[o * width + e * cols..][..cols]).for_each(|(d, s)| *d = s + b);
                        }
                    }
                }
                Ok(())
            })
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
        self.backward_as(x, n, input, grad_out, grad_w, grad_b, grad_x, true)
    }

    /// [`Conv2d::backward`], through Winograd's algorithm or not, as in [`Conv2d::forward_as`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_as(
        &self,
        x: &[f32],
        n: usize,
        input: MapShape,
        grad_out: &[f32],
        grad_w: &mut [f32],
        grad_b: &mut [f32],
        grad_x: Option<&mut [f32]>,
        winograd: bool,
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
        if let Some(plan) = super::winograd::Plan::new(&self.config, &g).filter(|_| winograd) {
            return plan.backward(&self.weight, x, n, grad_out, grad_w, grad_b, grad_x);
        }
        if let Some(split) = super::winograd::Split::new(&self.config, &g).filter(|_| winograd) {
            return split.backward(&self.weight, x, n, grad_out, grad_w, grad_b, grad_x);
        }
        let (chunk, count) = chunks(n);
        let (rows, cols) = (g.rows(), g.cols());
        let (isz, osz) = (input.size(), output.size());
        let sub = block_examples(rows, cols, chunk);
        let (k, in_ch) = (self.config.kernel, self.config.in_channels);
        let unfolded = sub * (rows + out_ch) * cols + (sub * rows * cols).max(out_ch * k * k * input.plane());
        check_alloc("the per-chunk weight gradients of a conv2d layer", bytes(&[count, self.weight.len() + unfolded], 4))?;
        // At stride 1 with a padding below the kernel, the input gradient is itself a convolution:
        // of grad_out padded by k - 1 - p, with the kernel flipped and its two channel axes swapped
        // (`[in_channels, out_channels k k]`). One GEMM per example of inner dimension
        // `out_channels k k` then writes the input gradient directly, instead of a GEMM of inner
        // dimension `out_channels` into a `[C k k, H W]` matrix that col2im sums back.
        let pad = self.config.pad()?;
        // Chosen when the input has at least half as many channels as the output (the unfolded
        // grad_out is `out_channels / in_channels` times the size of the other path's matrix)
        // and its maps are no larger than the output's: the product costs `in k k out` times
        // the input plane here, times the output plane on the other path (with 8x8 kernels
        // and little padding the input plane is the larger: 9x9 against 8x8 in Goodfellow et
        // al.'s second layer).
        let flipped = if grad_x.is_some() && self.config.stride == 1 && pad < k && 2 * in_ch >= out_ch && input.plane() <= output.plane() {
            let gg = Geometry::conv("conv2d", output, k, 1, k - 1 - pad)?;
            debug_assert_eq!((gg.oh, gg.ow), (input.height, input.width));
            let mut wf = vec![0.0f32; in_ch * gg.rows()];
            for o in 0..out_ch {
                for c in 0..in_ch {
                    for i in 0..k {
                        for j in 0..k {
                            wf[c * gg.rows() + (o * k + i) * k + j] = self.weight[((o * in_ch + c) * k + (k - 1 - i)) * k + (k - 1 - j)];
                        }
                    }
                }
            }
            Some((gg, wf))
        } else {
            None
        };
        let w = View { rows: out_ch, cols: rows, data: &self.weight };
        let gx_chunks: Vec<Option<&mut [f32]>> = match grad_x {
            Some(gx) => gx.chunks_mut(chunk.max(1) * isz).map(Some).collect(),
            None => (0..count).map(|_| None).collect(),
        };
        let partials = gx_chunks
            .into_par_iter()
            .enumerate()
            .map(|(ci, mut gx)| -> Result<(Vec<f32>, Vec<f32>)> {
                let mut gw = vec![0.0f32; out_ch * rows];
                let mut gb = vec![0.0f32; out_ch];
                with_scratch(|Scratch { col, go, dcol, buf, .. }| -> Result<()> {
                    let end = ((ci + 1) * chunk).min(n);
                    // Blocks of `sub` examples side by side, in a fixed order (the sums do not depend on
                    // the thread count): the weight gradient is one GEMM of inner dimension
                    // `sub H_out W_out` per block, and the input gradient one GEMM of `sub H_out W_out`
                    // columns, instead of one per example.
                    for (bi, b0) in (ci * chunk..end).step_by(sub).enumerate() {
                        let m = sub.min(end - b0);
                        let width = m * cols;
                        col.resize(rows * width, 0.0);
                        // A block of one example reads its gradient where it lies; a larger block
                        // gathers its examples' gradients side by side.
                        go.resize(if m > 1 { out_ch * width } else { 0 }, 0.0);
                        for e in 0..m {
                            let b = b0 + e;
                            g.im2col_at(&x[b * isz..(b + 1) * isz], col, width, e * cols, buf);
                            for (o, src) in grad_out[b * osz..(b + 1) * osz].chunks_exact(cols).enumerate() {
                                gb[o] += src.iter().sum::<f32>();
                                if m > 1 {
                                    go[o * width + e * cols..][..cols].copy_from_slice(src);
                                }
                            }
                        }
                        let go_data = if m > 1 { &go[..] } else { &grad_out[b0 * osz..(b0 + 1) * osz] };
                        let go_v = View { rows: out_ch, cols: width, data: go_data };
                        gemm_view(&mut gw, (out_ch, rows), go_v, Op::N, View { rows, cols: width, data: col }, Op::T, bi > 0, 1.0)?;
                        let Some(gx) = gx.as_deref_mut() else { continue };
                        let first = b0 - ci * chunk;
                        match &flipped {
                            Some((gg, wf)) => {
                                dcol.resize(gg.rows() * gg.cols(), 0.0);
                                for e in 0..m {
                                    let b = b0 + e;
                                    gg.im2col_at(&grad_out[b * osz..(b + 1) * osz], dcol, gg.cols(), 0, buf);
                                    let dst = &mut gx[(first + e) * isz..(first + e + 1) * isz];
                                    let wf = View { rows: in_ch, cols: gg.rows(), data: wf };
                                    gemm_view(
                                        dst,
                                        (in_ch, input.plane()),
                                        wf,
                                        Op::N,
                                        View { rows: gg.rows(), cols: gg.cols(), data: dcol },
                                        Op::N,
                                        false,
                                        1.0,
                                    )?;
                                }
                            }
                            None => {
                                dcol.resize(rows * width, 0.0);
                                gemm_view(dcol, (rows, width), w, Op::T, go_v, Op::N, false, 1.0)?;
                                for e in 0..m {
                                    let dst = &mut gx[(first + e) * isz..(first + e + 1) * isz];
                                    dst.fill(0.0);
                                    g.col2im_at(dcol, width, e * cols, dst, buf);
                                }
                            }
                        }
                    }
                    Ok(())
                })?;
                Ok((gw, gb))
            })
            .collect::<Vec<_>>();
        grad_w.fill(0.0);
        grad_b.fill(0.0);
        for part in partials {
            let (gw, gb) = part?;
            grad_w.iter_mut().zip(&gw).for_each(|(d, s)| *d += s);
            grad_b.iter_mut().zip(&gb).for_each(|(d, s)| *d += s);
        }
        Ok(())
    }
}

/// The buffers of one thread's share of a convolution (kept between calls, so that the large
/// unfolded matrices are neither allocated nor zeroed on every call).
#[derive(Default)]
struct Scratch {
    /// The unfolded input of a block of examples.
    col: Vec<f32>,
    /// The output of a block of examples, before it is scattered to the examples.
    y: Vec<f32>,
    /// The output gradients of a block of examples, side by side.
    go: Vec<f32>,
    /// The unfolded input gradient of a block of examples (or an unfolded output gradient).
    dcol: Vec<f32>,
    /// A padded map.
    buf: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's [`Scratch`] (a fresh one if it is already in use), and its products
/// on this thread alone ([`sequential`]): the callers are already one parallel task per chunk of
/// the batch, and a product split again across the threads would also let a waiting thread take
/// another chunk while it holds its buffers.
fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    sequential(|| {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => f(&mut s),
            Err(_) => f(&mut Scratch::default()),
        })
    })
}

/// Examples unfolded side by side into one matrix (so that one GEMM serves them), for an unfolded
/// matrix of `rows x cols` per example and chunks of `chunk` examples: enough for about
/// [`BLOCK_COLUMNS`] columns, at most [`BLOCK_VALUES`] values, at least 1, at most `chunk`.
fn block_examples(rows: usize, cols: usize, chunk: usize) -> usize {
    let by_cols = BLOCK_COLUMNS.div_ceil(cols.max(1));
    let by_size = BLOCK_VALUES / (rows * cols).max(1);
    by_cols.min(by_size).clamp(1, chunk.max(1))
}

/// The columns of a block of examples unfolded side by side ([`block_examples`]). Measured on
/// Goodfellow et al.'s MNIST network (`compete bench-layers --ops conv_maxout_mnist`, per-layer
/// timers): blocks took 5-8% off its 5x5 layer's backward pass at 2 threads (nothing measurable at
/// 1) and slowed its 8x8 layer's forward pass when a block outgrew the caches, hence the cap.
const BLOCK_COLUMNS: usize = 256;

/// The most values of a block of unfolded examples (1 MiB of f32): a larger example is unfolded
/// alone.
const BLOCK_VALUES: usize = 1 << 18;

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

    /// Height and width of a map with its padding, `h + 2p` and `w + 2p`.
    fn padded(&self) -> (usize, usize) {
        (self.h + 2 * self.p, self.w + 2 * self.p)
    }

    /// Copies one example's image into `buf` with its zero padding (`channels (h + 2p) (w + 2p)`).
    fn pad_into(&self, img: &[f32], buf: &mut Vec<f32>) {
        let (ph, pw) = self.padded();
        buf.clear();
        buf.resize(self.channels * ph * pw, 0.0);
        for (plane, dst) in img.chunks_exact(self.h * self.w).zip(buf.chunks_exact_mut(ph * pw)) {
            for (src, row) in plane.chunks_exact(self.w).zip(dst[self.p * pw..].chunks_exact_mut(pw)) {
                copy_short(&mut row[self.p..self.p + self.w], src);
            }
        }
    }

    /// Unfolds one example's image (`channels h w` values) into columns `off .. off + cols()` of a
    /// row-major `[rows(), ld]` matrix (`ld = cols()` for one example; several examples side by
    /// side, so that one GEMM serves them all). `buf` holds the
    /// padded image (any vector; reused between calls). Every window row is a straight copy of
    /// the padded map at stride 1, and a strided read otherwise: no branch on the padding.
    pub fn im2col_at(&self, img: &[f32], col: &mut [f32], ld: usize, off: usize, buf: &mut Vec<f32>) {
        let (k, s, ow) = (self.k, self.s, self.ow);
        let (ph, pw) = self.padded();
        self.pad_into(img, buf);
        for (c, plane) in buf.chunks_exact(ph * pw).enumerate() {
            for i in 0..k {
                for j in 0..k {
                    let row = &mut col[((c * k + i) * k + j) * ld + off..][..self.cols()];
                    for (oy, dst) in row.chunks_exact_mut(ow).enumerate() {
                        let src = &plane[(oy * s + i) * pw + j..];
                        if s == 1 {
                            copy_short(dst, &src[..ow]);
                        } else {
                            for (ox, d) in dst.iter_mut().enumerate() {
                                *d = src[ox * s];
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds the unfolded columns `off .. off + cols()` of a row-major matrix of `ld` columns back
    /// onto `img` (the transpose of [`Geometry::im2col_at`]: every window entry is added to the
    /// image value it was read from); the sums are formed in `buf`, the padded image, and its
    /// inside is added onto `img`.
    pub fn col2im_at(&self, col: &[f32], ld: usize, off: usize, img: &mut [f32], buf: &mut Vec<f32>) {
        let (k, s, ow) = (self.k, self.s, self.ow);
        let (ph, pw) = self.padded();
        buf.clear();
        buf.resize(self.channels * ph * pw, 0.0);
        for (c, plane) in buf.chunks_exact_mut(ph * pw).enumerate() {
            for i in 0..k {
                for j in 0..k {
                    let row = &col[((c * k + i) * k + j) * ld + off..][..self.cols()];
                    for (oy, src) in row.chunks_exact(ow).enumerate() {
                        let dst = &mut plane[(oy * s + i) * pw + j..];
                        if s == 1 {
                            dst[..ow].iter_mut().zip(src).for_each(|(d, v)| *d += v);
                        } else {
                            for (ox, v) in src.iter().enumerate() {
                                dst[ox * s] += v;
                            }
                        }
                    }
                }
            }
        }
        for (plane, out) in buf.chunks_exact(ph * pw).zip(img.chunks_exact_mut(self.h * self.w)) {
            for (src, dst) in plane[self.p * pw..].chunks_exact(pw).zip(out.chunks_exact_mut(self.w)) {
                dst.iter_mut().zip(&src[self.p..self.p + self.w]).for_each(|(d, v)| *d += v);
            }
        }
    }
}

/// `dst = src` for the short rows of im2col (a map row of a few values): fixed-size moves of 8
/// values and single ones, where `copy_from_slice` would call `memcpy` for every row.
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    debug_assert_eq!(dst.len(), src.len());
    if dst.len() >= 64 {
        dst.copy_from_slice(src);
        return;
    }
    let (d8, d) = dst.as_chunks_mut::<8>();
    let (s8, s) = src.as_chunks::<8>();
    for (d, s) in d8.iter_mut().zip(s8) {
        *d = *s;
    }
    for (d, s) in d.iter_mut().zip(s) {
        *d = *s;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deterministic numbers in [-1, 1) (a 64-bit LCG).
    pub(crate) struct Lcg(pub u64);

    impl Lcg {
        pub fn next(&mut self) -> f32 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }

        pub fn vec(&mut self, len: usize) -> Vec<f32> {
            (0..len).map(|_| self.next()).collect()
        }
    }

    /// `sum(out * r)` in f64.
    pub(crate) fn dot(out: &[f32], r: &[f32]) -> f64 {
        assert_eq!(out.len(), r.len());
        out.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
    }

    /// Compares `analytic` with central differences of `loss` around `base`, every coordinate.
    pub(crate) fn check_fd(label: &str, analytic: &[f32], base: &[f32], loss: &dyn Fn(&[f32]) -> f64) {
        assert_eq!(analytic.len(), base.len(), "{label}");
        let eps = 1e-2f32;
        let mut largest = 0.0f64;
        for i in 0..base.len() {
            let mut v = base.to_vec();
            v[i] = base[i] + eps;
            let up = loss(&v);
            v[i] = base[i] - eps;
            let down = loss(&v);
            let fd = (up - down) / (2.0 * eps as f64);
            let a = analytic[i] as f64;
            largest = largest.max(a.abs());
            assert!((a - fd).abs() <= 2e-3 * (1.0 + a.abs()), "{label} {i}: analytic {a} vs finite difference {fd}");
        }
        assert!(largest > 0.1, "{label}: every gradient is near zero, the check would be vacuous");
    }

    fn conv_case(rng: &mut Lcg, c: usize, o: usize, k: usize, s: usize, padding: Padding) -> Conv2d {
        let config = Conv2dConfig { in_channels: c, out_channels: o, kernel: k, stride: s, padding };
        Conv2d::new(config, rng.vec(config.weight_len()), rng.vec(o)).unwrap()
    }

    /// (in, out, kernel, stride, padding, height, width, batch)
    type Case = (usize, usize, usize, usize, Padding, usize, usize, usize);

    const CASES: [Case; 6] = [
        (2, 3, 3, 1, Padding::Same, 5, 7, 2),
        (3, 2, 2, 2, Padding::Zero(1), 6, 5, 3),
        (2, 2, 3, 2, Padding::Zero(0), 7, 6, 2),
        (3, 4, 1, 1, Padding::Zero(0), 3, 4, 2),
        (1, 2, 5, 3, Padding::Zero(2), 4, 9, 3),
        (2, 1, 5, 1, Padding::Same, 6, 3, 1),
    ];

    #[test]
    fn output_sizes_follow_the_formula() {
        let mut rng = Lcg(1);
        for (c, o, k, s, padding, h, w, _) in CASES {
            let conv = conv_case(&mut rng, c, o, k, s, padding);
            let p = padding.resolve("t", k).unwrap();
            let shape = conv.output_shape(MapShape::new("x", c, h, w).unwrap()).unwrap();
            assert_eq!(shape, MapShape { channels: o, height: (h + 2 * p - k) / s + 1, width: (w + 2 * p - k) / s + 1 });
            if padding == Padding::Same && s == 1 {
                assert_eq!((shape.height, shape.width), (h, w));
            }
        }
    }

    /// The forward pass against the defining sum, written out naively.
    #[test]
    fn forward_matches_the_defining_sum() {
        let mut rng = Lcg(2);
        for (c, o, k, s, padding, h, w, n) in CASES {
            let conv = conv_case(&mut rng, c, o, k, s, padding);
            let input = MapShape::new("x", c, h, w).unwrap();
            let x = rng.vec(n * input.size());
            let mut out = Vec::new();
            let shape = conv.forward(&x, n, input, &mut out).unwrap();
            let p = padding.resolve("t", k).unwrap() as isize;
            for b in 0..n {
                for oc in 0..o {
                    for y in 0..shape.height {
                        for xx in 0..shape.width {
                            let mut sum = conv.bias[oc] as f64;
                            for ic in 0..c {
                                for i in 0..k {
                                    for j in 0..k {
                                        let (iy, ix) = ((y * s + i) as isize - p, (xx * s + j) as isize - p);
                                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                            sum += conv.weight[((oc * c + ic) * k + i) * k + j] as f64
                                                * x[((b * c + ic) * h + iy as usize) * w + ix as usize] as f64;
                                        }
                                    }
                                }
                            }
                            let got = out[((b * o + oc) * shape.height + y) * shape.width + xx] as f64;
                            assert!((got - sum).abs() < 1e-4, "{padding:?} k{k} s{s}: {got} vs {sum}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Lcg(3);
        for (c, o, k, s, padding, h, w, n) in CASES {
            let conv = conv_case(&mut rng, c, o, k, s, padding);
            let input = MapShape::new("x", c, h, w).unwrap();
            let x = rng.vec(n * input.size());
            let output = conv.output_shape(input).unwrap();
            let r = rng.vec(n * output.size());
            let (mut gw, mut gb, mut gx) = (vec![9.0; conv.weight.len()], vec![9.0; o], vec![9.0; x.len()]);
            conv.backward(&x, n, input, &r, &mut gw, &mut gb, Some(&mut gx)).unwrap();
            let label = format!("conv2d k{k} s{s} {padding:?} {h}x{w}");
            let run = |conv: &Conv2d, x: &[f32]| {
                let mut out = Vec::new();
                conv.forward(x, n, input, &mut out).unwrap();
                dot(&out, &r)
            };
            check_fd(&format!("{label} weight"), &gw, &conv.weight, &|v| run(&Conv2d { weight: v.to_vec(), ..conv.clone() }, &x));
            check_fd(&format!("{label} bias"), &gb, &conv.bias, &|v| run(&Conv2d { bias: v.to_vec(), ..conv.clone() }, &x));
            check_fd(&format!("{label} input"), &gx, &x, &|v| run(&conv, v));
            // Without grad_x the parameter gradients are the same.
            let (mut gw2, mut gb2) = (vec![0.0; gw.len()], vec![0.0; o]);
            conv.backward(&x, n, input, &r, &mut gw2, &mut gb2, None).unwrap();
            assert_eq!((gw2, gb2), (gw, gb));
        }
    }

    /// Forward and backward on 1 and 2 threads, bit for bit, on a batch cut into several chunks
    /// and products large enough for the GEMM to go parallel.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let mut rng = Lcg(4);
        let conv = conv_case(&mut rng, 3, 8, 5, 1, Padding::Same);
        let input = MapShape::new("x", 3, 32, 32).unwrap();
        let n = 20;
        let x = rng.vec(n * input.size());
        let r = rng.vec(n * conv.output_shape(input).unwrap().size());
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
                let mut out = Vec::new();
                conv.forward(&x, n, input, &mut out).unwrap();
                let (mut gw, mut gb, mut gx) = (vec![0.0; conv.weight.len()], vec![0.0; 8], vec![0.0; x.len()]);
                conv.backward(&x, n, input, &r, &mut gw, &mut gb, Some(&mut gx)).unwrap();
                (out, gw, gb, gx)
            })
        };
        let (one, two) = (run(1), run(2));
        assert!(one.1.iter().any(|&g| g != 0.0));
        assert!(one == two, "results differ between 1 and 2 threads");
    }

    /// `got` against burn's `want`, within 1e-4 relative to the largest magnitude of `want`.
    pub(crate) fn close(label: &str, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{label}: lengths");
        let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * scale.max(w.abs()) + 1e-6, "{label} {i}: ours {g} vs burn {w}");
        }
    }

    /// Reads a burn tensor back as a vector.
    pub(crate) fn values<const D: usize>(t: &burn::tensor::Tensor<D>) -> Vec<f32> {
        t.try_to_vec_as::<f32>().unwrap()
    }

    /// Forward outputs and autodiff gradients of burn-nn's `Conv2d`, with our weights copied in.
    #[test]
    fn agrees_with_burn_forward_and_gradients() {
        use burn::module::Param;
        use burn::nn::PaddingConfig2d;
        use burn::tensor::{Device, Tensor, TensorData};
        let device = Device::flex().autodiff();
        let mut rng = Lcg(6);
        for (c, o, k, s, padding, h, w, n) in CASES {
            let conv = conv_case(&mut rng, c, o, k, s, padding);
            let input = MapShape::new("x", c, h, w).unwrap();
            let x = rng.vec(n * input.size());
            let mut out = Vec::new();
            let output = conv.forward(&x, n, input, &mut out).unwrap();
            let r = rng.vec(out.len());
            let (mut gw, mut gb, mut gx) = (vec![0.0; conv.weight.len()], vec![0.0; o], vec![0.0; x.len()]);
            conv.backward(&x, n, input, &r, &mut gw, &mut gb, Some(&mut gx)).unwrap();

            let p = padding.resolve("t", k).unwrap();
            let mut theirs = burn::nn::conv::Conv2dConfig::new([c, o], [k, k])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .init(&device);
            theirs.weight = Param::from_tensor(Tensor::<4>::from_data(TensorData::new(conv.weight.clone(), [o, c, k, k]), &device));
            theirs.bias = Some(Param::from_tensor(Tensor::<1>::from_data(TensorData::new(conv.bias.clone(), [o]), &device)));
            let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [n, c, h, w]), &device).require_grad();
            let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), [n, o, output.height, output.width]), &device);
            let yt = theirs.forward(xt.clone());
            assert_eq!(yt.dims(), [n, o, output.height, output.width]);
            let label = format!("conv2d k{k} s{s} {padding:?} {h}x{w}");
            close(&format!("{label} forward"), &out, &values(&yt));
            let grads = (yt * rt).sum().backward();
            close(&format!("{label} weight gradient"), &gw, &values(&theirs.weight.val().grad(&grads).unwrap()));
            close(&format!("{label} bias gradient"), &gb, &values(&theirs.bias.as_ref().unwrap().val().grad(&grads).unwrap()));
            close(&format!("{label} input gradient"), &gx, &values(&xt.grad(&grads).unwrap()));
        }
    }

    #[test]
    fn bad_inputs_are_refused_with_their_name() {
        let mut rng = Lcg(5);
        let good = Conv2dConfig { in_channels: 2, out_channels: 3, kernel: 3, stride: 1, padding: Padding::Zero(1) };
        let refused = |config: Conv2dConfig, name: &str| {
            let e = Conv2d::zeros(config).unwrap_err().to_string();
            assert!(e.contains(name), "{name}: {e}");
        };
        refused(Conv2dConfig { stride: 0, ..good }, "conv2d.stride");
        refused(Conv2dConfig { kernel: 0, ..good }, "conv2d.kernel");
        refused(Conv2dConfig { in_channels: 0, ..good }, "conv2d.in_channels");
        refused(Conv2dConfig { out_channels: 0, ..good }, "conv2d.out_channels");
        let even = Conv2d::zeros(Conv2dConfig { kernel: 4, padding: Padding::Same, ..good }).unwrap_err().to_string();
        assert!(even.contains("conv2d.kernel") && even.contains("odd"), "{even}");
        let e = Conv2d::new(good, vec![0.0; 5], vec![0.0; 3]).unwrap_err().to_string();
        assert!(e.contains("conv2d.weight") && e.contains("54"), "{e}");
        let e = Conv2d::new(good, vec![0.0; 54], vec![0.0; 2]).unwrap_err().to_string();
        assert!(e.contains("conv2d.bias"), "{e}");

        let conv = Conv2d::new(good, rng.vec(54), rng.vec(3)).unwrap();
        let input = MapShape::new("x", 2, 4, 4).unwrap();
        let x = vec![0.0; 2 * input.size()];
        let mut out = Vec::new();
        let e = conv.output_shape(MapShape::new("x", 3, 4, 4).unwrap()).unwrap_err().to_string();
        assert!(e.contains("conv2d input") && e.contains("2 input channels"), "{e}");
        let big = Conv2d::zeros(Conv2dConfig { kernel: 7, ..good }).unwrap();
        let e = big.output_shape(MapShape::new("x", 2, 4, 9).unwrap()).unwrap_err().to_string();
        assert!(e.contains("conv2d.kernel") && e.contains("6x11"), "{e}");
        let e = conv.forward(&x[1..], 2, input, &mut out).unwrap_err().to_string();
        assert!(e.contains("conv2d input x"), "{e}");
        conv.forward(&x, 2, input, &mut out).unwrap();
        let (mut gw, mut gb, mut gx) = (vec![0.0; 54], vec![0.0; 3], vec![0.0; x.len()]);
        let e = conv.backward(&x, 2, input, &out[1..], &mut gw, &mut gb, None).unwrap_err().to_string();
        assert!(e.contains("conv2d grad_out"), "{e}");
        let e = conv.backward(&x, 2, input, &out, &mut gw[1..], &mut gb, None).unwrap_err().to_string();
        assert!(e.contains("conv2d grad_w"), "{e}");
        let e = conv.backward(&x, 2, input, &out, &mut gw, &mut gb[1..], None).unwrap_err().to_string();
        assert!(e.contains("conv2d grad_b"), "{e}");
        let e = conv.backward(&x, 2, input, &out, &mut gw, &mut gb, Some(&mut gx[1..])).unwrap_err().to_string();
        assert!(e.contains("conv2d grad_x"), "{e}");
        let e = conv.output_shape(MapShape { channels: 2, height: 0, width: 4 }).unwrap_err().to_string();
        assert!(e.contains("conv2d input"), "{e}");
        // A mutated configuration is checked again at use.
        let mut broken = conv.clone();
        broken.config.stride = 0;
        let e = broken.forward(&x, 2, input, &mut out).unwrap_err().to_string();
        assert!(e.contains("conv2d.stride"), "{e}");
    }
}
