//! 2-D transposed convolution ("deconvolution") over NCHW batches: forward, and backward to
//! weights, biases and input; the decoders of paper B (appendix A.1: 11x11 kernels, same-size
//! output).
//!
//! # The math
//!
//! A transposed convolution is the gradient of a [`Conv2d`](super::conv::Conv2d) with respect to
//! its input: every input value scatters a weighted `k x k` patch onto the output. For an input of
//! `C_in` maps of `H x W`, stride `s`, padding `p` and output padding `q`,
//!
//! ```text
//! out[o, y*s + i - p, x*s + j - p] += weight[c, o, i, j] * in[c, y, x]      (then + bias[o])
//! ```
//!
//! (writes outside the output are dropped), and the output maps are `H_out x W_out` with
//!
//! ```text
//! H_out = (H - 1) s - 2p + k + q        W_out = (W - 1) s - 2p + k + q
//! ```
//!
//! which is PyTorch's `ConvTranspose2d` with `output_padding = q` (which must be below the stride).
//! [`Padding::Same`] takes `p = (k - 1) / 2` at stride 1 (odd kernels only), so that
//! `H_out = H` and `W_out = W`: the "same-size output" of paper B's decoders
//! ([`ConvTranspose2dConfig::same`]).
//!
//! The weight uses PyTorch's layout `[in_channels, out_channels, k, k]`. Forward multiplies the
//! weight, seen as `[C_in, C_out k k]`, transposed by each example (`[C_in, H W]`) and folds the
//! `[C_out k k, H W]` result onto the output (col2im); the input gradient is a plain convolution of
//! the output gradient with the same weight.
//!
//! ```
//! use compete::layers::MapShape;
//! use compete::layers::conv::Padding;
//! use compete::layers::conv_transpose::{ConvTranspose2d, ConvTranspose2dConfig};
//!
//! // Stride 2, 2x2 kernel of ones: every input value becomes a 2x2 block.
//! let config = ConvTranspose2dConfig { in_channels: 1, out_channels: 1, kernel: 2, stride: 2, padding: Padding::Zero(0), output_padding: 0 };
//! let deconv = ConvTranspose2d::new(config, vec![1.0; 4], vec![0.0]).unwrap();
//! let input = MapShape::new("input", 1, 1, 2).unwrap();
//! let mut out = Vec::new();
//! let shape = deconv.forward(&[1.0, 2.0], 1, input, &mut out).unwrap();
//! assert_eq!((shape.height, shape.width), (2, 4));
//! assert_eq!(out, [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
//!
//! // Paper B's decoder: 11x11 kernel, same-size output.
//! let same = ConvTranspose2dConfig::same(16, 1, 11);
//! let shape = ConvTranspose2d::zeros(same).unwrap().output_shape(MapShape::new("code", 16, 28, 28).unwrap()).unwrap();
//! assert_eq!(shape, MapShape::new("image", 1, 28, 28).unwrap());
//! ```

use rayon::prelude::*;

use super::MapShape;
use super::conv::{Geometry, Padding, check_len, check_positive, check_shape, chunks};
use crate::error::{Error, Result};
use crate::io::memory::{bytes, check_alloc};
use crate::tensor::{Matrix, Op, matmul};

/// The hyper-parameters of a [`ConvTranspose2d`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConvTranspose2dConfig {
    /// Input feature maps.
    pub in_channels: usize,
    /// Output feature maps.
    pub out_channels: usize,
    /// Side of the square kernel.
    pub kernel: usize,
    /// Step between the patches of neighbouring inputs, in both directions.
    pub stride: usize,
    /// Rows and columns cut from every side of the full output; [`Padding::Same`] (stride 1 and an
    /// odd kernel only) cuts `(k - 1) / 2`, which gives an output of the input's size.
    pub padding: Padding,
    /// Rows and columns added at the bottom and right of the output (PyTorch's `output_padding`),
    /// below the stride.
    pub output_padding: usize,
}

impl ConvTranspose2dConfig {
    /// The same-size decoder of paper B: stride 1, padding `(kernel - 1) / 2` (an odd kernel; an even
    /// one is refused when the layer is built).
    pub fn same(in_channels: usize, out_channels: usize, kernel: usize) -> Self {
        ConvTranspose2dConfig { in_channels, out_channels, kernel, stride: 1, padding: Padding::Same, output_padding: 0 }
    }

    /// Checks every field: channels, kernel and stride at least 1, "same" padding only at stride 1
    /// with an odd kernel, output padding below the stride.
    pub fn validate(&self) -> Result<()> {
        check_positive("conv_transpose2d.in_channels", self.in_channels)?;
        check_positive("conv_transpose2d.out_channels", self.out_channels)?;
        check_positive("conv_transpose2d.kernel", self.kernel)?;
        check_positive("conv_transpose2d.stride", self.stride)?;
        if self.padding == Padding::Same && self.stride != 1 {
            return Err(Error::param(
                "conv_transpose2d.stride",
                self.stride,
                "1 with \"same\" padding (a same-size output exists only at stride 1; give an explicit padding)",
            ));
        }
        self.padding.resolve("conv_transpose2d", self.kernel)?;
        if self.output_padding >= self.stride {
            return Err(Error::param("conv_transpose2d.output_padding", self.output_padding, format!("below the stride, {}", self.stride)));
        }
        Ok(())
    }

    /// Values of the weight, `in_channels * out_channels * kernel * kernel`.
    pub fn weight_len(&self) -> usize {
        self.in_channels * self.out_channels * self.kernel * self.kernel
    }
}

/// A 2-D transposed convolution with a bias per output map (see the [module documentation](self)).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConvTranspose2d {
    /// The hyper-parameters.
    pub config: ConvTranspose2dConfig,
    /// `[in_channels, out_channels, kernel, kernel]`, row-major (PyTorch's layout).
    pub weight: Vec<f32>,
    /// `[out_channels]`.
    pub bias: Vec<f32>,
}

impl ConvTranspose2d {
    /// A layer with the given parameters; refuses an invalid configuration or buffers of the wrong
    /// length.
    pub fn new(config: ConvTranspose2dConfig, weight: Vec<f32>, bias: Vec<f32>) -> Result<Self> {
        let layer = ConvTranspose2d { config, weight, bias };
        layer.check_params()?;
        Ok(layer)
    }

    /// A layer whose weights and biases are all zero.
    pub fn zeros(config: ConvTranspose2dConfig) -> Result<Self> {
        config.validate()?;
        check_alloc("the weights of a conv_transpose2d layer", bytes(&[config.weight_len()], 4))?;
        Ok(ConvTranspose2d { config, weight: vec![0.0; config.weight_len()], bias: vec![0.0; config.out_channels] })
    }

    fn check_params(&self) -> Result<()> {
        let c = &self.config;
        c.validate()?;
        check_len(
            "conv_transpose2d.weight",
            self.weight.len(),
            c.weight_len(),
            &format!("in_channels {} x out_channels {} x kernel {} x kernel {}", c.in_channels, c.out_channels, c.kernel, c.kernel),
        )?;
        check_len("conv_transpose2d.bias", self.bias.len(), c.out_channels, "one per output channel")
    }

    /// The output shape for `input`; refuses a channel count other than `in_channels` and a padding
    /// that leaves no output.
    pub fn output_shape(&self, input: MapShape) -> Result<MapShape> {
        Ok(self.geometry(input)?.0)
    }

    /// The output shape, and the geometry of the convolution from the output back to the input (the
    /// output is its image side, the input its window side).
    fn geometry(&self, input: MapShape) -> Result<(MapShape, Geometry)> {
        let c = &self.config;
        c.validate()?;
        if input.channels != c.in_channels {
            return Err(Error::shape(
                "conv_transpose2d input",
                format!("{input} (channels x height x width)"),
                format!("{} input channels", c.in_channels),
            ));
        }
        check_shape("conv_transpose2d", input)?;
        let p = c.padding.resolve("conv_transpose2d", c.kernel)?;
        let side = |len: usize| -> Result<usize> {
            let full = (len - 1).saturating_mul(c.stride).saturating_add(c.kernel + c.output_padding);
            match full.checked_sub(2 * p) {
                Some(v) if v > 0 => Ok(v),
                _ => Err(Error::param(
                    "conv_transpose2d.padding",
                    p,
                    format!("below half the full output side {full} (input side {len}), so that some output is left"),
                )),
            }
        };
        let output = MapShape { channels: c.out_channels, height: side(input.height)?, width: side(input.width)? };
        let g = Geometry::conv("conv_transpose2d", output, c.kernel, c.stride, p)?;
        debug_assert_eq!((g.oh, g.ow), (input.height, input.width));
        Ok((output, g))
    }

    /// Applies the layer to `n` examples of shape `input` in `x` (`n * input.size()` values, NCHW),
    /// writing `out` (resized to `n * output.size()`), and returns the output shape.
    pub fn forward(&self, x: &[f32], n: usize, input: MapShape, out: &mut Vec<f32>) -> Result<MapShape> {
        self.check_params()?;
        let (output, g) = self.geometry(input)?;
        check_len("conv_transpose2d input x", x.len(), n.saturating_mul(input.size()), &format!("n {n} x {input}"))?;
        check_alloc("the output of a conv_transpose2d layer", bytes(&[n, output.size()], 4))?;
        check_alloc("the columns (col2im) of a conv_transpose2d layer", bytes(&[chunks(n).1, g.rows(), g.cols()], 4))?;
        out.clear();
        out.resize(n * output.size(), 0.0);
        if n == 0 {
            return Ok(output);
        }
        let chunk = chunks(n).0;
        let plane = output.plane();
        let w = Matrix { rows: self.config.in_channels, cols: g.rows(), data: self.weight.clone() };
        out.par_chunks_mut(chunk * output.size()).zip(x.par_chunks(chunk * input.size())).try_for_each(|(out, x)| -> Result<()> {
            let mut col = Matrix::zeros(g.rows(), g.cols());
            let mut xb = Matrix::zeros(input.channels, input.plane());
            let mut buf = Vec::new();
            for (out, x) in out.chunks_mut(output.size()).zip(x.chunks(input.size())) {
                xb.data.copy_from_slice(x);
                matmul(&mut col, &w, Op::T, &xb, Op::N, false)?;
                for (o, map) in out.chunks_mut(plane).enumerate() {
                    map.fill(self.bias[o]);
                }
                g.col2im_at(&col.data, g.cols(), 0, out, &mut buf);
            }
            Ok(())
        })?;
        Ok(output)
    }

    /// Back-propagates `grad_out` (the loss gradient with respect to the `n * output.size()` values
    /// [`ConvTranspose2d::forward`] wrote for the same `x`): **overwrites** `grad_w`
    /// (`weight.len()` values) and `grad_b` (`out_channels`) with the gradients summed over the
    /// batch, and `grad_x` (`x.len()` values), when given, with the gradient with respect to the input.
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
        let (output, g) = self.geometry(input)?;
        let (in_ch, out_ch) = (self.config.in_channels, self.config.out_channels);
        check_len("conv_transpose2d input x", x.len(), n.saturating_mul(input.size()), &format!("n {n} x {input}"))?;
        check_len("conv_transpose2d grad_out", grad_out.len(), n.saturating_mul(output.size()), &format!("n {n} x output {output}"))?;
        check_len("conv_transpose2d grad_w", grad_w.len(), self.weight.len(), "the weight's length")?;
        check_len("conv_transpose2d grad_b", grad_b.len(), out_ch, "one per output channel")?;
        if let Some(gx) = grad_x.as_deref() {
            check_len("conv_transpose2d grad_x", gx.len(), x.len(), &format!("n {n} x {input}"))?;
        }
        let (chunk, count) = chunks(n);
        check_alloc(
            "the per-chunk weight gradients of a conv_transpose2d layer",
            bytes(&[count, self.weight.len() + g.rows() * g.cols() + input.size()], 4),
        )?;
        let plane = output.plane();
        let w = Matrix { rows: in_ch, cols: g.rows(), data: self.weight.clone() };
        let gx_chunks: Vec<Option<&mut [f32]>> = match grad_x {
            Some(gx) => gx.chunks_mut(chunk * input.size()).map(Some).collect(),
            None => (0..count).map(|_| None).collect(),
        };
        let partials = gx_chunks
            .into_par_iter()
            .enumerate()
            .map(|(ci, mut gx)| -> Result<(Matrix, Vec<f32>)> {
                let mut gw = Matrix::zeros(in_ch, g.rows());
                let mut gb = vec![0.0f32; out_ch];
                let mut gcol = Matrix::zeros(g.rows(), g.cols());
                let mut xb = Matrix::zeros(in_ch, input.plane());
                let mut dx = Matrix::zeros(in_ch, input.plane());
                let mut buf = Vec::new();
                let end = ((ci + 1) * chunk).min(n);
                for (j, b) in (ci * chunk..end).enumerate() {
                    let go = &grad_out[b * output.size()..(b + 1) * output.size()];
                    for (o, map) in go.chunks(plane).enumerate() {
                        gb[o] += map.iter().sum::<f32>();
                    }
                    g.im2col_at(go, &mut gcol.data, g.cols(), 0, &mut buf);
                    xb.data.copy_from_slice(&x[b * input.size()..(b + 1) * input.size()]);
                    matmul(&mut gw, &xb, Op::N, &gcol, Op::T, j > 0)?;
                    if let Some(gx) = gx.as_deref_mut() {
                        matmul(&mut dx, &w, Op::N, &gcol, Op::N, false)?;
                        gx[j * input.size()..(j + 1) * input.size()].copy_from_slice(&dx.data);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::conv::tests::{Lcg, check_fd, close, dot, values};

    fn case(rng: &mut Lcg, c: usize, o: usize, k: usize, s: usize, padding: Padding, q: usize) -> ConvTranspose2d {
        let config = ConvTranspose2dConfig { in_channels: c, out_channels: o, kernel: k, stride: s, padding, output_padding: q };
        ConvTranspose2d::new(config, rng.vec(config.weight_len()), rng.vec(o)).unwrap()
    }

    /// (in, out, kernel, stride, padding, output padding, height, width, batch)
    type Case = (usize, usize, usize, usize, Padding, usize, usize, usize, usize);

    const CASES: [Case; 6] = [
        (2, 3, 3, 1, Padding::Same, 0, 5, 4, 2),
        (3, 2, 4, 2, Padding::Zero(1), 0, 3, 4, 2),
        (2, 2, 3, 2, Padding::Zero(1), 1, 4, 3, 3),
        (1, 2, 2, 3, Padding::Zero(0), 2, 2, 3, 2),
        (2, 1, 5, 1, Padding::Zero(0), 0, 3, 2, 1),
        (2, 2, 11, 1, Padding::Same, 0, 6, 5, 2),
    ];

    #[test]
    fn output_sizes_follow_the_formula_and_same_keeps_the_size() {
        let mut rng = Lcg(11);
        for (c, o, k, s, padding, q, h, w, _) in CASES {
            let layer = case(&mut rng, c, o, k, s, padding, q);
            let p = padding.resolve("t", k).unwrap();
            let shape = layer.output_shape(MapShape::new("x", c, h, w).unwrap()).unwrap();
            assert_eq!(shape, MapShape { channels: o, height: (h - 1) * s + k + q - 2 * p, width: (w - 1) * s + k + q - 2 * p });
            if padding == Padding::Same {
                assert_eq!((shape.height, shape.width), (h, w));
            }
        }
    }

    /// The forward pass against the defining scatter, written out naively.
    #[test]
    fn forward_matches_the_defining_scatter() {
        let mut rng = Lcg(12);
        for (c, o, k, s, padding, q, h, w, n) in CASES {
            let layer = case(&mut rng, c, o, k, s, padding, q);
            let input = MapShape::new("x", c, h, w).unwrap();
            let x = rng.vec(n * input.size());
            let mut out = Vec::new();
            let shape = layer.forward(&x, n, input, &mut out).unwrap();
            let (oh, ow) = (shape.height, shape.width);
            let p = padding.resolve("t", k).unwrap() as isize;
            let mut want = vec![0.0f64; out.len()];
            for b in 0..n {
                for oc in 0..o {
                    for v in &mut want[(b * o + oc) * oh * ow..][..oh * ow] {
                        *v = layer.bias[oc] as f64;
                    }
                    for ic in 0..c {
                        for y in 0..h {
                            for xx in 0..w {
                                for i in 0..k {
                                    for j in 0..k {
                                        let (ty, tx) = ((y * s + i) as isize - p, (xx * s + j) as isize - p);
                                        if ty >= 0 && tx >= 0 && (ty as usize) < oh && (tx as usize) < ow {
                                            want[((b * o + oc) * oh + ty as usize) * ow + tx as usize] +=
                                                layer.weight[((ic * o + oc) * k + i) * k + j] as f64
                                                    * x[((b * c + ic) * h + y) * w + xx] as f64;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for (g, w) in out.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-4, "{padding:?} k{k} s{s}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Lcg(13);
        for (c, o, k, s, padding, q, h, w, n) in CASES {
            let layer = case(&mut rng, c, o, k, s, padding, q);
            let input = MapShape::new("x", c, h, w).unwrap();
            let x = rng.vec(n * input.size());
            let output = layer.output_shape(input).unwrap();
            let r = rng.vec(n * output.size());
            let (mut gw, mut gb, mut gx) = (vec![9.0; layer.weight.len()], vec![9.0; o], vec![9.0; x.len()]);
            layer.backward(&x, n, input, &r, &mut gw, &mut gb, Some(&mut gx)).unwrap();
            let label = format!("conv_transpose2d k{k} s{s} {padding:?} q{q} {h}x{w}");
            let run = |layer: &ConvTranspose2d, x: &[f32]| {
                let mut out = Vec::new();
                layer.forward(x, n, input, &mut out).unwrap();
                dot(&out, &r)
            };
            check_fd(&format!("{label} weight"), &gw, &layer.weight, &|v| {
                run(&ConvTranspose2d { weight: v.to_vec(), ..layer.clone() }, &x)
            });
            check_fd(&format!("{label} bias"), &gb, &layer.bias, &|v| run(&ConvTranspose2d { bias: v.to_vec(), ..layer.clone() }, &x));
            check_fd(&format!("{label} input"), &gx, &x, &|v| run(&layer, v));
            let (mut gw2, mut gb2) = (vec![0.0; gw.len()], vec![0.0; o]);
            layer.backward(&x, n, input, &r, &mut gw2, &mut gb2, None).unwrap();
            assert_eq!((gw2, gb2), (gw, gb));
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let mut rng = Lcg(14);
        let layer = case(&mut rng, 8, 3, 5, 1, Padding::Same, 0);
        let input = MapShape::new("x", 8, 32, 32).unwrap();
        let n = 20;
        let x = rng.vec(n * input.size());
        let r = rng.vec(n * layer.output_shape(input).unwrap().size());
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
                let mut out = Vec::new();
                layer.forward(&x, n, input, &mut out).unwrap();
                let (mut gw, mut gb, mut gx) = (vec![0.0; layer.weight.len()], vec![0.0; 3], vec![0.0; x.len()]);
                layer.backward(&x, n, input, &r, &mut gw, &mut gb, Some(&mut gx)).unwrap();
                (out, gw, gb, gx)
            })
        };
        let (one, two) = (run(1), run(2));
        assert!(one.1.iter().any(|&g| g != 0.0));
        assert!(one == two, "results differ between 1 and 2 threads");
    }

    /// Forward outputs and autodiff gradients of burn-nn's `ConvTranspose2d`, with our weights copied
    /// in.
    #[test]
    fn agrees_with_burn_forward_and_gradients() {
        use burn::module::Param;
        use burn::tensor::{Device, Tensor, TensorData};
        let device = Device::flex().autodiff();
        let mut rng = Lcg(15);
        for (c, o, k, s, padding, q, h, w, n) in CASES {
            let layer = case(&mut rng, c, o, k, s, padding, q);
            let input = MapShape::new("x", c, h, w).unwrap();
            let x = rng.vec(n * input.size());
            let mut out = Vec::new();
            let output = layer.forward(&x, n, input, &mut out).unwrap();
            let r = rng.vec(out.len());
            let (mut gw, mut gb, mut gx) = (vec![0.0; layer.weight.len()], vec![0.0; o], vec![0.0; x.len()]);
            layer.backward(&x, n, input, &r, &mut gw, &mut gb, Some(&mut gx)).unwrap();

            let p = padding.resolve("t", k).unwrap();
            let mut theirs = burn::nn::conv::ConvTranspose2dConfig::new([c, o], [k, k])
                .with_stride([s, s])
                .with_padding([p, p])
                .with_padding_out([q, q])
                .init(&device);
            theirs.weight = Param::from_tensor(Tensor::<4>::from_data(TensorData::new(layer.weight.clone(), [c, o, k, k]), &device));
            theirs.bias = Some(Param::from_tensor(Tensor::<1>::from_data(TensorData::new(layer.bias.clone(), [o]), &device)));
            let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [n, c, h, w]), &device).require_grad();
            let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), [n, o, output.height, output.width]), &device);
            let yt = theirs.forward(xt.clone());
            assert_eq!(yt.dims(), [n, o, output.height, output.width]);
            let label = format!("conv_transpose2d k{k} s{s} {padding:?} q{q} {h}x{w}");
            close(&format!("{label} forward"), &out, &values(&yt));
            let grads = (yt * rt).sum().backward();
            close(&format!("{label} weight gradient"), &gw, &values(&theirs.weight.val().grad(&grads).unwrap()));
            close(&format!("{label} bias gradient"), &gb, &values(&theirs.bias.as_ref().unwrap().val().grad(&grads).unwrap()));
            close(&format!("{label} input gradient"), &gx, &values(&xt.grad(&grads).unwrap()));
        }
    }

    #[test]
    fn bad_inputs_are_refused_with_their_name() {
        let good =
            ConvTranspose2dConfig { in_channels: 2, out_channels: 3, kernel: 3, stride: 2, padding: Padding::Zero(1), output_padding: 1 };
        let refused = |config: ConvTranspose2dConfig, name: &str| {
            let e = ConvTranspose2d::zeros(config).unwrap_err().to_string();
            assert!(e.contains(name), "{name}: {e}");
        };
        refused(ConvTranspose2dConfig { stride: 0, ..good }, "conv_transpose2d.stride");
        refused(ConvTranspose2dConfig { kernel: 0, ..good }, "conv_transpose2d.kernel");
        refused(ConvTranspose2dConfig { in_channels: 0, ..good }, "conv_transpose2d.in_channels");
        refused(ConvTranspose2dConfig { out_channels: 0, ..good }, "conv_transpose2d.out_channels");
        refused(ConvTranspose2dConfig { output_padding: 2, ..good }, "conv_transpose2d.output_padding");
        refused(ConvTranspose2dConfig { padding: Padding::Same, output_padding: 0, ..good }, "conv_transpose2d.stride");
        refused(ConvTranspose2dConfig::same(2, 3, 4), "conv_transpose2d.kernel");
        let e = ConvTranspose2d::new(good, vec![0.0; 5], vec![0.0; 3]).unwrap_err().to_string();
        assert!(e.contains("conv_transpose2d.weight") && e.contains("54"), "{e}");
        let e = ConvTranspose2d::new(good, vec![0.0; 54], vec![0.0; 4]).unwrap_err().to_string();
        assert!(e.contains("conv_transpose2d.bias"), "{e}");

        let layer = ConvTranspose2d::zeros(good).unwrap();
        let input = MapShape::new("x", 2, 3, 4).unwrap();
        let e = layer.output_shape(MapShape::new("x", 1, 3, 4).unwrap()).unwrap_err().to_string();
        assert!(e.contains("conv_transpose2d input") && e.contains("2 input channels"), "{e}");
        // Padding that cuts the whole output away: 1x1 input, kernel 1, padding 1.
        let cut = ConvTranspose2d::zeros(ConvTranspose2dConfig { kernel: 1, stride: 1, output_padding: 0, ..good }).unwrap();
        let e = cut.output_shape(MapShape::new("x", 2, 1, 1).unwrap()).unwrap_err().to_string();
        assert!(e.contains("conv_transpose2d.padding"), "{e}");
        let x = vec![0.0; 2 * input.size()];
        let mut out = Vec::new();
        let e = layer.forward(&x[1..], 2, input, &mut out).unwrap_err().to_string();
        assert!(e.contains("conv_transpose2d input x"), "{e}");
        layer.forward(&x, 2, input, &mut out).unwrap();
        let (mut gw, mut gb, mut gx) = (vec![0.0; 54], vec![0.0; 3], vec![0.0; x.len()]);
        let e = layer.backward(&x, 2, input, &out[1..], &mut gw, &mut gb, None).unwrap_err().to_string();
        assert!(e.contains("conv_transpose2d grad_out"), "{e}");
        let e = layer.backward(&x, 2, input, &out, &mut gw[1..], &mut gb, None).unwrap_err().to_string();
        assert!(e.contains("conv_transpose2d grad_w"), "{e}");
        let e = layer.backward(&x, 2, input, &out, &mut gw, &mut gb[1..], None).unwrap_err().to_string();
        assert!(e.contains("conv_transpose2d grad_b"), "{e}");
        let e = layer.backward(&x, 2, input, &out, &mut gw, &mut gb, Some(&mut gx[1..])).unwrap_err().to_string();
        assert!(e.contains("conv_transpose2d grad_x"), "{e}");
        let e = layer.output_shape(MapShape { channels: 2, height: 3, width: 0 }).unwrap_err().to_string();
        assert!(e.contains("conv_transpose2d input"), "{e}");
    }
}
