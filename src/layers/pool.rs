//! Max pooling over square windows of NCHW feature maps, a competition among the positions of each
//! window.
//!
//! # The math
//!
//! With a `kernel x kernel` window moved by `stride` over a map of `h x w` (no padding), the output
//! has `out_h = floor((h - kernel) / stride) + 1` rows and `out_w = floor((w - kernel) / stride) + 1`
//! columns, and for every example `b` and channel `c`
//!
//! ```text
//! y[b, c, i, j] = max over 0 <= u, v < kernel of x[b, c, i * stride + u, j * stride + v]
//! ```
//!
//! The position that gave the maximum is the window's **winner**: the first maximum in row-major
//! order of the window (`u` then `v`) when it is reached more than once, and NaN never wins over a
//! number (as [`crate::competition`] breaks ties). [`MaxPool2d::forward`] returns the winners as a
//! boolean mask with the input's shape, like every competition (its submask), and also the index
//! of each output's winner, which [`MaxPool2d::backward`] reads: the gradient of each output flows to
//! its winner only,
//!
//! ```text
//! dL/dx[b, c, p] = sum over the outputs (i, j) of channel c whose winner is p of dL/dy[b, c, i, j]
//! ```
//!
//! so that with `stride < kernel` (overlapping windows) a position that wins several windows
//! accumulates their gradients. The mask alone cannot tell which windows a position won when windows
//! overlap, hence the indices.
//!
//! Examples are independent: both passes split the batch across rayon threads in fixed chunks of
//! [`crate::competition::PAR_ROWS`] examples, so the results never depend on the thread count.
//!
//! # Flattening
//!
//! No flatten layer is needed between maps and a dense layer: an NCHW batch is already row-major
//! `[n, channels * height * width]`, one example per row, so the buffer of `n` examples of a
//! [`MapShape`] is a [`crate::tensor::Matrix`] of `n` rows and [`MapShape::size`] columns as it
//! stands (the order of PyTorch's `x.flatten(1)`).
//!
//! ```
//! use compete::layers::MapShape;
//! use compete::layers::pool::MaxPool2d;
//!
//! // One example, one 3 x 3 map, 2 x 2 windows moved by 1 (they overlap).
//! let pool = MaxPool2d::new(2, 1).unwrap();
//! let input = MapShape::new("input", 1, 3, 3).unwrap();
//! let x = [1.0, 3.0, 3.0, //
//!          3.0, 3.0, 0.0, //
//!          0.0, 0.0, 0.0];
//! let (mut out, mut winners, mut argmax) = (Vec::new(), Vec::new(), Vec::new());
//! let shape = pool.forward(&x, 1, input, &mut out, &mut winners, &mut argmax).unwrap();
//! assert_eq!(shape, MapShape::new("output", 1, 2, 2).unwrap());
//! assert_eq!(out, [3.0, 3.0, 3.0, 3.0]);
//! // Ties go to the first maximum of each window: (0, 1) wins the first two windows.
//! assert_eq!(argmax, [1, 1, 3, 4]);
//! assert_eq!(winners, [false, true, false, true, true, false, false, false, false]);
//!
//! let mut grad_x = Vec::new();
//! pool.backward(&[1.0, 2.0, 3.0, 4.0], &argmax, 1, input, &mut grad_x).unwrap();
//! assert_eq!(grad_x, [0.0, 3.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]);
//! ```

use rayon::prelude::*;

use super::MapShape;
use crate::competition::PAR_ROWS;
use crate::error::{Error, Result};
use crate::io::memory::{bytes, check_alloc};

/// Max pooling with square `kernel x kernel` windows moved by `stride`, without padding (see the
/// module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MaxPool2d {
    /// Rows and columns of each window (at least 1).
    pub kernel: usize,
    /// Step between windows, in rows and columns (at least 1; `stride < kernel` overlaps windows).
    pub stride: usize,
}

impl MaxPool2d {
    /// A pool, refusing a kernel or stride of 0.
    pub fn new(kernel: usize, stride: usize) -> Result<Self> {
        let pool = MaxPool2d { kernel, stride };
        pool.check()?;
        Ok(pool)
    }

    fn check(&self) -> Result<()> {
        if self.kernel == 0 {
            return Err(Error::param("max-pool kernel", self.kernel, "at least 1"));
        }
        if self.stride == 0 {
            return Err(Error::param("max-pool stride", self.stride, "at least 1"));
        }
        Ok(())
    }

    /// The shape of the output for an input of shape `input`: the same channels,
    /// `floor((h - kernel) / stride) + 1` rows and as many columns from the width; refuses a kernel
    /// or stride of 0 and a kernel larger than the map.
    pub fn output_shape(&self, input: MapShape) -> Result<MapShape> {
        self.check()?;
        if input.channels == 0 || input.height == 0 || input.width == 0 {
            return Err(Error::param("max-pool input", input, "channels, height and width all at least 1"));
        }
        if self.kernel > input.height || self.kernel > input.width {
            return Err(Error::param("max-pool kernel", self.kernel, format!("at most the input map's height and width ({input})")));
        }
        Ok(MapShape {
            channels: input.channels,
            height: (input.height - self.kernel) / self.stride + 1,
            width: (input.width - self.kernel) / self.stride + 1,
        })
    }

    /// Pools `n` examples `x` of shape `input`; returns the output shape.
    ///
    /// `out` becomes the `n x output` pooled maps, `winners` the mask of the input's shape
    /// (`n x input`) that is true at the winner of at least one window, and `argmax` the index of
    /// each output's winner within its input map (`y * width + x`, one per output value). The three
    /// buffers are resized, reusing their allocations.
    pub fn forward(
        &self,
        x: &[f32],
        n: usize,
        input: MapShape,
        out: &mut Vec<f32>,
        winners: &mut Vec<bool>,
        argmax: &mut Vec<usize>,
    ) -> Result<MapShape> {
        let output = self.output_shape(input)?;
        check_batch(n, "max-pool forward", "x", x.len(), input)?;
        let (isz, osz) = (input.size(), output.size());
        check_alloc(&format!("the max-pool output of {n} examples of {output}"), bytes(&[n, osz], 4 + size_of::<usize>()))?;
        check_alloc(&format!("the max-pool winners of {n} examples of {input}"), bytes(&[n, isz], 1))?;
        out.clear();
        out.resize(n * osz, 0.0);
        winners.clear();
        winners.resize(n * isz, false);
        argmax.clear();
        argmax.resize(n * osz, 0);
        x.par_chunks(isz * PAR_ROWS)
            .zip(out.par_chunks_mut(osz * PAR_ROWS))
            .zip(winners.par_chunks_mut(isz * PAR_ROWS))
            .zip(argmax.par_chunks_mut(osz * PAR_ROWS))
            .for_each(|(((x, o), w), a)| self.forward_chunk(x, input, output, o, w, a));
        Ok(output)
    }

    /// The forward pass of consecutive examples (every buffer already of the right length).
    fn forward_chunk(&self, x: &[f32], input: MapShape, output: MapShape, out: &mut [f32], winners: &mut [bool], argmax: &mut [usize]) {
        match self.kernel {
            2 => self.forward_fixed::<2>(x, input, output, out, winners, argmax),
            3 => self.forward_fixed::<3>(x, input, output, out, winners, argmax),
            4 => self.forward_fixed::<4>(x, input, output, out, winners, argmax),
            _ => self.forward_any(x, input, output, out, winners, argmax),
        }
    }

    /// [`MaxPool2d::forward_chunk`] for a kernel of `K` known at compile time (`K <= 5`): the
    /// window's maximum (f32::max skips NaN) from the maxima of its rows, which are independent of
    /// each other, then the first position holding it from a bit mask of the `K x K` equalities:
    /// the first maximum in row-major window order, as `argmax_first` picks it (a window of NaN
    /// only gives its first position). No loop-carried branch, and short dependency chains.
    fn forward_fixed<const K: usize>(
        &self,
        x: &[f32],
        input: MapShape,
        output: MapShape,
        out: &mut [f32],
        winners: &mut [bool],
        argmax: &mut [usize],
    ) {
        debug_assert!(K * K <= 32, "the equalities fit a u32");
        let s = self.stride;
        let (iw, ip, op) = (input.width, input.plane(), output.plane());
        for (((xm, om), wm), am) in x.chunks(ip).zip(out.chunks_mut(op)).zip(winners.chunks_mut(ip)).zip(argmax.chunks_mut(op)) {
            for i in 0..output.height {
                for j in 0..output.width {
                    let top = i * s * iw + j * s;
                    let mut win = [[0.0f32; K]; K];
                    for (u, row) in win.iter_mut().enumerate() {
                        row.copy_from_slice(&xm[top + u * iw..top + u * iw + K]);
                    }
                    let row_max = win.map(|row| row.iter().fold(row[0], |a, &b| a.max(b)));
                    let m = row_max.iter().fold(row_max[0], |a, &b| a.max(b));
                    let mut equal = 0u32;
                    for (u, row) in win.iter().enumerate() {
                        for (v, &x) in row.iter().enumerate() {
                            equal |= ((x == m) as u32) << (u * K + v);
                        }
                    }
                    let first = if equal == 0 { 0 } else { equal.trailing_zeros() as usize };
                    let p = top + first / K * iw + first % K;
                    om[i * output.width + j] = xm[p];
                    am[i * output.width + j] = p;
                    wm[p] = true;
                }
            }
        }
    }

    /// [`MaxPool2d::forward_chunk`] for any kernel.
    fn forward_any(&self, x: &[f32], input: MapShape, output: MapShape, out: &mut [f32], winners: &mut [bool], argmax: &mut [usize]) {
        let (k, s) = (self.kernel, self.stride);
        let (iw, ip, op) = (input.width, input.plane(), output.plane());
        for (((xm, om), wm), am) in x.chunks(ip).zip(out.chunks_mut(op)).zip(winners.chunks_mut(ip)).zip(argmax.chunks_mut(op)) {
            for i in 0..output.height {
                for j in 0..output.width {
                    // The first maximum in row-major window order (as `argmax_first`: a NaN is
                    // replaced by the first number after it), read in place.
                    let mut p = i * s * iw + j * s;
                    let mut best = xm[p];
                    for u in 0..k {
                        let start = (i * s + u) * iw + j * s;
                        for (v, &x) in xm[start..start + k].iter().enumerate() {
                            if x > best || (best.is_nan() && !x.is_nan()) {
                                best = x;
                                p = start + v;
                            }
                        }
                    }
                    om[i * output.width + j] = best;
                    am[i * output.width + j] = p;
                    wm[p] = true;
                }
            }
        }
    }

    /// Routes the gradient `grad_out` (`n x output`) of each output to its winner, `argmax` as
    /// [`MaxPool2d::forward`] returned it; `grad_x` becomes the `n x input` gradient of the input
    /// (resized, reusing its allocation). Refuses an `argmax` that points outside its window.
    pub fn backward(&self, grad_out: &[f32], argmax: &[usize], n: usize, input: MapShape, grad_x: &mut Vec<f32>) -> Result<()> {
        let output = self.output_shape(input)?;
        check_batch(n, "max-pool backward", "grad_out", grad_out.len(), output)?;
        if argmax.len() != grad_out.len() {
            return Err(Error::shape(
                "max-pool backward argmax",
                format!("{} indices", argmax.len()),
                format!("one per output value, {n} x {output} = {}", grad_out.len()),
            ));
        }
        let (isz, osz) = (input.size(), output.size());
        check_alloc(&format!("the max-pool input gradient of {n} examples of {input}"), bytes(&[n, isz], 4))?;
        grad_x.clear();
        grad_x.resize(n * isz, 0.0);
        grad_out
            .par_chunks(osz * PAR_ROWS)
            .zip(argmax.par_chunks(osz * PAR_ROWS))
            .zip(grad_x.par_chunks_mut(isz * PAR_ROWS))
            .try_for_each(|((g, a), gx)| self.backward_chunk(g, a, input, output, gx))
    }

    /// The backward pass of consecutive examples.
    fn backward_chunk(&self, grad_out: &[f32], argmax: &[usize], input: MapShape, output: MapShape, grad_x: &mut [f32]) -> Result<()> {
        let (k, s, iw, ow) = (self.kernel, self.stride, input.width, output.width);
        let (ip, op) = (input.plane(), output.plane());
        for ((gm, am), gxm) in grad_out.chunks(op).zip(argmax.chunks(op)).zip(grad_x.chunks_mut(ip)) {
            for (i, (grow, arow)) in gm.chunks(ow).zip(am.chunks(ow)).enumerate() {
                for (j, (&g, &p)) in grow.iter().zip(arow).enumerate() {
                    // In the window: p is on one of its k rows, within its k columns (no division per value).
                    let base = i * s * iw + j * s;
                    let inside = p < ip && (0..k).any(|u| (base + u * iw..base + u * iw + k).contains(&p));
                    if !inside {
                        return Err(Error::param(
                            "max-pool backward argmax",
                            p,
                            format!("an index in the {k}x{k} window of output ({i}, {j}) of a {input} map, as forward returns"),
                        ));
                    }
                    gxm[p] += g;
                }
            }
        }
        Ok(())
    }
}

/// Refuses an empty batch or a buffer that is not `n` examples of `shape`.
fn check_batch(n: usize, what: &str, buffer: &str, len: usize, shape: MapShape) -> Result<()> {
    if n == 0 {
        return Err(Error::param(format!("{what} n"), n, "at least 1 example"));
    }
    if n.checked_mul(shape.size()) != Some(len) {
        return Err(Error::shape(format!("{what} {buffer}"), format!("{len} values"), format!("n x {shape} = {n} x {}", shape.size())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Tensor, TensorData};
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `len` distinct values 0.1 apart, in random order (no ties anywhere).
    fn distinct(len: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let mut v: Vec<f32> = (0..len).map(|i| i as f32 * 0.1 - len as f32 * 0.05).collect();
        v.shuffle(rng);
        v
    }

    fn run(pool: MaxPool2d, x: &[f32], n: usize, input: MapShape) -> (Vec<f32>, Vec<bool>, Vec<usize>) {
        let (mut out, mut winners, mut argmax) = (Vec::new(), Vec::new(), Vec::new());
        pool.forward(x, n, input, &mut out, &mut winners, &mut argmax).unwrap();
        (out, winners, argmax)
    }

    fn grad(pool: MaxPool2d, g: &[f32], argmax: &[usize], n: usize, input: MapShape) -> Vec<f32> {
        let mut gx = Vec::new();
        pool.backward(g, argmax, n, input, &mut gx).unwrap();
        gx
    }

    /// (kernel, stride, channels, height, width, n): overlapping, tiling, gapped, non-square.
    const CASES: [(usize, usize, usize, usize, usize, usize); 5] =
        [(2, 1, 2, 4, 5, 2), (2, 2, 3, 6, 4, 2), (3, 2, 2, 7, 5, 3), (2, 3, 1, 7, 8, 2), (3, 1, 1, 3, 3, 1)];

    #[test]
    fn output_shape_is_the_floor_formula() {
        let s = |c, h, w| MapShape { channels: c, height: h, width: w };
        assert_eq!(MaxPool2d::new(2, 2).unwrap().output_shape(s(3, 6, 5)).unwrap(), s(3, 3, 2));
        assert_eq!(MaxPool2d::new(3, 2).unwrap().output_shape(s(1, 7, 8)).unwrap(), s(1, 3, 3));
        assert_eq!(MaxPool2d::new(3, 1).unwrap().output_shape(s(2, 3, 3)).unwrap(), s(2, 1, 1));
        assert_eq!(MaxPool2d::new(1, 4).unwrap().output_shape(s(1, 9, 4)).unwrap(), s(1, 3, 1));
    }

    #[test]
    fn backward_matches_finite_differences_away_from_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (k, s, c, h, w, n) in CASES {
            let pool = MaxPool2d::new(k, s).unwrap();
            let input = MapShape::new("input", c, h, w).unwrap();
            let x = distinct(n * input.size(), &mut rng);
            let (out, winners, argmax) = run(pool, &x, n, input);
            let r: Vec<f32> = (0..out.len()).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let gx = grad(pool, &r, &argmax, n, input);
            let loss = |x: &[f32]| -> f64 { run(pool, x, n, input).0.iter().zip(&r).map(|(&y, &r)| y as f64 * r as f64).sum() };
            let eps = 0.01f32; // gaps between values are 0.1: no window changes its winner
            for p in 0..x.len() {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[p] += eps;
                xm[p] -= eps;
                let fd = (loss(&xp) - loss(&xm)) / (2.0 * eps as f64);
                assert!((fd - gx[p] as f64).abs() < 1e-3, "k{k} s{s} position {p}: fd {fd} vs {}", gx[p]);
                // A position has a gradient only if it won (the converse fails only for r = 0).
                if gx[p] != 0.0 {
                    assert!(winners[p], "k{k} s{s} position {p}");
                }
            }
            // The winners are exactly the positions some output's argmax points at.
            let op = pool.output_shape(input).unwrap().plane();
            let mut mask = vec![false; x.len()];
            for (o, &a) in argmax.iter().enumerate() {
                mask[o / op * input.plane() + a] = true;
            }
            assert_eq!(winners, mask, "k{k} s{s}");
        }
    }

    #[test]
    fn ties_go_to_the_first_maximum_and_nan_never_wins_by_hand() {
        let pool = MaxPool2d::new(2, 1).unwrap();
        let input = MapShape::new("input", 1, 3, 3).unwrap();
        #[rustfmt::skip]
        let x = [
            1.0, 3.0, 3.0,
            3.0, 3.0, 0.0,
            0.0, f32::NAN, 0.0,
        ];
        let (out, winners, argmax) = run(pool, &x, 1, input);
        // Windows: [1 3 / 3 3] -> (0,1); [3 3 / 3 0] -> (0,1); [3 3 / 0 NaN] -> (1,0); [3 0 / NaN 0] -> (1,1).
        assert_eq!(out, [3.0, 3.0, 3.0, 3.0]);
        assert_eq!(argmax, [1, 1, 3, 4]);
        assert_eq!(winners, [false, true, false, true, true, false, false, false, false]);
        let gx = grad(pool, &[1.0, 2.0, 3.0, 4.0], &argmax, 1, input);
        assert_eq!(gx, [0.0, 3.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]);

        // All equal, tiling windows of 2 moved by 2 on 2 maps of 2 x 4: the top-left of each wins.
        let pool = MaxPool2d::new(2, 2).unwrap();
        let input = MapShape::new("input", 2, 2, 4).unwrap();
        let (out, winners, argmax) = run(pool, &[7.0; 16], 1, input);
        assert_eq!(out, [7.0; 4]);
        assert_eq!(argmax, [0, 2, 0, 2]);
        let top_left = [true, false, true, false, false, false, false, false];
        assert_eq!(winners, [top_left, top_left].concat());
        assert_eq!(
            grad(pool, &[1.0, 2.0, 3.0, 4.0], &argmax, 1, input),
            [1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );

        // A window of NaN only: its first position, as argmax_first does.
        let pool = MaxPool2d::new(2, 2).unwrap();
        let input = MapShape::new("input", 1, 2, 2).unwrap();
        let (out, _, argmax) = run(pool, &[f32::NAN; 4], 1, input);
        assert!(out[0].is_nan());
        assert_eq!(argmax, [0]);
        let (out, _, argmax) = run(pool, &[f32::NAN, f32::NAN, f32::NAN, -1.0], 1, input);
        assert_eq!((out[0], argmax[0]), (-1.0, 3));
    }

    #[test]
    fn fixed_kernels_equal_the_general_loop_with_ties_nan_and_infinities() {
        let values = [0.0, 1.0, 1.0, -1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 2.0, -0.0];
        let mut state = 7u64;
        for (k, s) in [(2, 1), (2, 2), (3, 1), (3, 2), (4, 2), (4, 4), (4, 3)] {
            let pool = MaxPool2d::new(k, s).unwrap();
            let input = MapShape::new("input", 3, 11, 9).unwrap();
            let output = pool.output_shape(input).unwrap();
            let x: Vec<f32> = (0..2 * input.size())
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    values[(state >> 33) as usize % values.len()]
                })
                .collect();
            let run_with = |fixed: bool| {
                let (mut out, mut winners, mut argmax) = (vec![0.0; 2 * output.size()], vec![false; x.len()], vec![0; 2 * output.size()]);
                if fixed {
                    pool.forward_chunk(&x, input, output, &mut out, &mut winners, &mut argmax);
                } else {
                    pool.forward_any(&x, input, output, &mut out, &mut winners, &mut argmax);
                }
                (out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), winners, argmax)
            };
            assert_eq!(run_with(true), run_with(false), "k{k} s{s}");
        }
    }

    #[test]
    fn forward_and_input_gradient_agree_with_burn() {
        use burn::nn::pool::MaxPool2dConfig;
        let device = Device::flex().autodiff();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (k, s, c, h, w, n) in CASES {
            let pool = MaxPool2d::new(k, s).unwrap();
            let input = MapShape::new("input", c, h, w).unwrap();
            let output = pool.output_shape(input).unwrap();
            let x = distinct(n * input.size(), &mut rng);
            let (out, _, argmax) = run(pool, &x, n, input);
            let r: Vec<f32> = (0..out.len()).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let gx = grad(pool, &r, &argmax, n, input);

            let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [n, c, h, w]), &device).require_grad();
            let burn_pool = MaxPool2dConfig::new([k, k]).with_strides([s, s]).init();
            let yt = burn_pool.forward(xt.clone());
            assert_eq!(yt.dims(), [n, output.channels, output.height, output.width], "k{k} s{s}");
            assert_eq!(yt.clone().try_to_vec_as::<f32>().unwrap(), out, "k{k} s{s} forward");
            let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), [n, c, output.height, output.width]), &device);
            let grads = (yt * rt).sum().backward();
            let burn_gx = xt.grad(&grads).unwrap().try_to_vec_as::<f32>().unwrap();
            for (p, (a, b)) in gx.iter().zip(&burn_gx).enumerate() {
                assert!((a - b).abs() < 1e-6, "k{k} s{s} gradient at {p}: {a} vs burn {b}");
            }
        }
    }

    #[test]
    fn one_and_two_threads_give_identical_results() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let pool = MaxPool2d::new(3, 2).unwrap();
        let input = MapShape::new("input", 2, 9, 7).unwrap();
        let n = 3 * PAR_ROWS + 4; // several chunks and a ragged last one
        let x: Vec<f32> = (0..n * input.size()).map(|_| rng.random_range(-4i32..4) as f32).collect(); // many ties
        let output = pool.output_shape(input).unwrap();
        let r: Vec<f32> = (0..n * output.size()).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let both = |threads: usize| {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
                let (out, winners, argmax) = run(pool, &x, n, input);
                let gx = grad(pool, &r, &argmax, n, input);
                (out, winners, argmax, gx)
            })
        };
        let one = both(1);
        assert_eq!(one, both(2));
        // And a per-example run gives the same as the batch.
        let (out0, w0, a0) = run(pool, &x[..input.size()], 1, input);
        assert_eq!((&one.0[..output.size()], &one.1[..input.size()], &one.2[..output.size()]), (&out0[..], &w0[..], &a0[..]));
    }

    #[test]
    fn bad_inputs_are_refused_by_name() {
        let msg = |e: Error| e.to_string();
        assert!(msg(MaxPool2d::new(0, 1).unwrap_err()).contains("max-pool kernel = 0"));
        assert!(msg(MaxPool2d::new(2, 0).unwrap_err()).contains("max-pool stride = 0"));
        let input = MapShape::new("input", 1, 3, 5).unwrap();
        let e = msg(MaxPool2d::new(4, 1).unwrap().output_shape(input).unwrap_err());
        assert!(e.contains("max-pool kernel = 4") && e.contains("1x3x5"), "{e}");
        // Fields set directly are checked as well.
        assert!(msg(MaxPool2d { kernel: 2, stride: 0 }.output_shape(input).unwrap_err()).contains("max-pool stride"));
        let e = msg(MaxPool2d { kernel: 1, stride: 1 }.output_shape(MapShape { channels: 0, height: 3, width: 3 }).unwrap_err());
        assert!(e.contains("max-pool input"), "{e}");

        let pool = MaxPool2d::new(2, 1).unwrap();
        let (mut out, mut winners, mut argmax) = (Vec::new(), Vec::new(), Vec::new());
        let e = msg(pool.forward(&[0.0; 15], 0, input, &mut out, &mut winners, &mut argmax).unwrap_err());
        assert!(e.contains("max-pool forward n = 0"), "{e}");
        let e = msg(pool.forward(&[0.0; 14], 1, input, &mut out, &mut winners, &mut argmax).unwrap_err());
        assert!(e.contains("max-pool forward x") && e.contains("14 values"), "{e}");
        pool.forward(&[0.0; 15], 1, input, &mut out, &mut winners, &mut argmax).unwrap();

        let mut gx = Vec::new();
        let e = msg(pool.backward(&[0.0; 7], &argmax, 1, input, &mut gx).unwrap_err());
        assert!(e.contains("max-pool backward grad_out"), "{e}");
        let e = msg(pool.backward(&[0.0; 8], &argmax[..7], 1, input, &mut gx).unwrap_err());
        assert!(e.contains("max-pool backward argmax") && e.contains("7 indices"), "{e}");
        let e = msg(pool.backward(&[0.0; 8], &argmax, 2, input, &mut gx).unwrap_err());
        assert!(e.contains("max-pool backward grad_out"), "{e}");
        let mut bad = argmax.clone();
        bad[0] = 2; // (0, 2) is outside the window of output (0, 0)
        let e = msg(pool.backward(&[0.0; 8], &bad, 1, input, &mut gx).unwrap_err());
        assert!(e.contains("max-pool backward argmax = 2") && e.contains("window of output (0, 0)"), "{e}");
        bad[0] = 99;
        assert!(msg(pool.backward(&[0.0; 8], &bad, 1, input, &mut gx).unwrap_err()).contains("max-pool backward argmax = 99"));
    }
}
