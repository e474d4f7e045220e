//! The shaped contract of [`Competition`]: rows or feature maps, training or evaluation mode, and
//! the parallel passes that never split a batch-coupled competition.

use std::fmt;

use rayon::prelude::*;

use super::{Competition, Pwl, Read, ksparse_rows, lifetime, spatial, std_abs};
use crate::error::{Error, Result};

/// The shape of one example's pre-activations (the batch is the outer dimension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A row of `width` units (a dense layer).
    Rows {
        /// Units per example.
        width: usize,
    },
    /// `channels` feature maps of `height x width` (a convolutional layer), NCHW: value
    /// `(c, y, x)` of example `b` is at `((b * channels + c) * height + y) * width + x`.
    Maps {
        /// Feature maps per example.
        channels: usize,
        /// Rows of each map.
        height: usize,
        /// Columns of each map.
        width: usize,
    },
}

impl Shape {
    /// Values per example (`width`, or `channels * height * width`; saturating on overflow, which
    /// the checks of [`Competition::output_shape`] refuse).
    pub fn size(&self) -> usize {
        self.checked_size().unwrap_or(usize::MAX)
    }

    fn checked_size(&self) -> Option<usize> {
        match *self {
            Shape::Rows { width } => Some(width),
            Shape::Maps { channels, height, width } => channels.checked_mul(height)?.checked_mul(width),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Rows { width } => write!(f, "rows of {width}"),
            Shape::Maps { channels, height, width } => write!(f, "{channels} maps of {height} x {width}"),
        }
    }
}

/// Training or evaluation: in [`Mode::Eval`] the sparsity of paper B's autoencoders is turned off
/// (see [`Competition::in_mode`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Training: every competition acts as defined.
    #[default]
    Train,
    /// Evaluation (test time): lifetime, spatial and spatial-lifetime act as ReLU.
    Eval,
}

/// Examples per parallel task of [`Competition::forward_par`] and [`Competition::backward_par`]:
/// a batch is cut into chunks of this many examples whatever the number of threads, so the result
/// does not depend on it.
pub const PAR_ROWS: usize = 25;

impl Competition {
    /// Checks the competition against one example's shape and returns the shape of its output:
    /// the same, except for maxout (`width / rank` on rows, `channels / rank` maps). Errors name the
    /// parameter that does not fit (an LWTA block or maxout rank that does not divide the width or
    /// the channels, a `k` larger than the example, a rate outside `(0, 1]`) or the shape (spatial
    /// competitions on rows, an empty map, a row width that is not a multiple of the maxout rank).
    pub fn output_shape(&self, shape: Shape) -> Result<Shape> {
        match shape {
            Shape::Rows { width } => {
                let pieces = self.pieces();
                if pieces == 0 {
                    return Err(Error::param("maxout rank", 0, "at least 1"));
                }
                if !width.is_multiple_of(pieces) {
                    return Err(Error::shape(
                        format!("{self} input"),
                        format!("rows of {width}"),
                        format!("rows of a multiple of {pieces}"),
                    ));
                }
                self.pre_width(width / pieces)?;
                Ok(Shape::Rows { width: width / pieces })
            }
            Shape::Maps { channels, height, width } => {
                if channels == 0 || height == 0 || width == 0 || shape.checked_size().is_none() {
                    return Err(Error::shape(
                        format!("{self} input"),
                        shape.to_string(),
                        "channels, height and width all at least 1, with a product that fits in memory",
                    ));
                }
                match *self {
                    Competition::Relu | Competition::Abs | Competition::StdAbs | Competition::Spatial => Ok(shape),
                    Competition::Lifetime { rate } | Competition::SpatialLifetime { rate } => {
                        lifetime::check_rate(rate)?;
                        Ok(shape)
                    }
                    Competition::Lwta { block } => {
                        if block < 2 {
                            return Err(Error::param("lwta block size", block, "at least 2 (a block of 1 is a linear unit)"));
                        }
                        if !channels.is_multiple_of(block) {
                            return Err(Error::param("lwta block size", block, format!("a divisor of the {channels} channels")));
                        }
                        Ok(shape)
                    }
                    Competition::Maxout { rank } => {
                        if rank == 0 || !channels.is_multiple_of(rank) {
                            return Err(Error::param("maxout rank", rank, format!("at least 1 and a divisor of the {channels} channels")));
                        }
                        Ok(Shape::Maps { channels: channels / rank, height, width })
                    }
                    Competition::KSparse { k } => {
                        let n = shape.size();
                        if k == 0 || k > n {
                            return Err(Error::param("k-sparse k", k, format!("between 1 and the {n} values of an example")));
                        }
                        Ok(shape)
                    }
                }
            }
        }
    }

    /// Outputs per example for pre-activations of `shape` (see [`Competition::output_shape`]).
    pub fn output_width(&self, shape: Shape) -> Result<usize> {
        Ok(self.output_shape(shape)?.size())
    }

    /// Forward pass over a batch of `batch` examples of `shape`: `z` holds `batch * shape.size()`
    /// pre-activations; writes `batch * output_width(shape)` outputs into `out` and one flag per
    /// pre-activation into `winners` (the submask), as the competition acts in `mode`.
    ///
    /// Errors: the parameter and shape errors of [`Competition::output_shape`], an empty batch, and
    /// buffers whose lengths do not fit ([`Error::Shape`]).
    pub fn forward_shaped(&self, z: &[f32], batch: usize, shape: Shape, mode: Mode, out: &mut [f32], winners: &mut [bool]) -> Result<()> {
        self.check_shaped("forward", batch, shape, z.len(), out.len(), winners.len())?;
        let c = self.in_mode(mode);
        if let Some(rule) = c.pwl() {
            match shape {
                // Groups across channels: gathered per position, the rule applied to that vector.
                Shape::Maps { channels, height, width } if rule.select.group() > 1 => {
                    forward_maps(rule, z, channels, height * width, out, winners)
                }
                // Rows (groups never straddle two examples, checked above) or elementwise rules.
                _ => rule.forward(z, out, winners),
            }
            return Ok(());
        }
        let n = shape.size();
        match c {
            Competition::KSparse { k } => {
                ksparse_rows(z, n, k, out, winners);
                Ok(())
            }
            Competition::StdAbs => std_abs::forward(z, batch, out, winners),
            Competition::Lifetime { rate } => lifetime::forward(z, batch, rate, out, winners),
            Competition::Spatial => spatial::forward(z, maps_of(batch, shape), out, winners),
            Competition::SpatialLifetime { rate } => spatial::forward_lifetime(z, maps_of(batch, shape), rate, out, winners),
            // Handled by their rules above.
            Competition::Relu | Competition::Abs | Competition::Lwta { .. } | Competition::Maxout { .. } => Ok(()),
        }
    }

    /// Backward pass over a batch of `batch` examples of `shape`: from the pre-activations `z` of
    /// the forward pass, the gradient `grad_out` with respect to its output and its `winners`,
    /// writes the gradient with respect to `z` into `grad_pre`. Every competition but std-abs
    /// passes the gradient through its winners only (a maxout unit's to its winning piece, an
    /// absolute value's with the sign of the piece); std-abs computes its exact coupled gradient
    /// from `z` ([`std_abs::backward`]). `mode` must be the forward pass's.
    ///
    /// Errors: those of [`Competition::forward_shaped`], with `grad_out` in the place of the output.
    #[allow(clippy::too_many_arguments)] // the contract: input, gradient, winners, batch, shape, mode, output
    pub fn backward_shaped(
        &self,
        z: &[f32],
        grad_out: &[f32],
        winners: &[bool],
        batch: usize,
        shape: Shape,
        mode: Mode,
        grad_pre: &mut [f32],
    ) -> Result<()> {
        self.check_shaped("backward", batch, shape, z.len(), grad_out.len(), winners.len())?;
        if grad_pre.len() != z.len() {
            return Err(Error::shape(format!("{self} backward"), format!("grad_pre {}", grad_pre.len()), format!("{} (as z)", z.len())));
        }
        let c = self.in_mode(mode);
        if let Some(rule) = c.pwl() {
            match (shape, rule.read) {
                // A pool over channels sends each output map's gradient to the winning piece's map.
                (Shape::Maps { channels, height, width }, Read::Pool { .. }) if rule.pieces() > 1 => {
                    backward_maps_pool(rule.pieces(), grad_out, winners, channels, height * width, grad_pre)
                }
                // A gate is elementwise given the winners, whatever the layout.
                _ => rule.backward(grad_out, winners, grad_pre),
            }
            return Ok(());
        }
        match c {
            Competition::StdAbs => std_abs::backward(z, grad_out, batch, grad_pre),
            Competition::KSparse { .. } | Competition::Lifetime { .. } | Competition::Spatial | Competition::SpatialLifetime { .. } => {
                lifetime::route(&format!("{self} backward"), grad_out, winners, grad_pre)
            }
            // Handled by their rules above.
            Competition::Relu | Competition::Abs | Competition::Lwta { .. } | Competition::Maxout { .. } => Ok(()),
        }
    }

    /// Convenience for small inputs and tests: allocates and returns `(output, winners)` of
    /// [`Competition::forward_shaped`].
    pub fn apply_shaped(&self, z: &[f32], batch: usize, shape: Shape, mode: Mode) -> Result<(Vec<f32>, Vec<bool>)> {
        let mut out = vec![0.0; batch.saturating_mul(self.output_width(shape)?)];
        let mut winners = vec![false; z.len()];
        self.forward_shaped(z, batch, shape, mode, &mut out, &mut winners)?;
        Ok((out, winners))
    }

    /// [`Competition::forward_shaped`] with the batch split across rayon threads in chunks of
    /// [`PAR_ROWS`] examples, unless the competition is [batch-coupled](Competition::batch_coupled),
    /// which always runs on the whole batch. The result is that of `forward_shaped`, whatever the
    /// number of threads.
    pub fn forward_par(&self, z: &[f32], batch: usize, shape: Shape, mode: Mode, out: &mut [f32], winners: &mut [bool]) -> Result<()> {
        let (zw, ow) = (shape.size(), self.output_shape(shape).map(|s| s.size()).unwrap_or(0));
        if self.batch_coupled() || batch <= PAR_ROWS || zw == 0 || ow == 0 || rayon::current_num_threads() == 1 {
            return self.forward_shaped(z, batch, shape, mode, out, winners);
        }
        self.check_shaped("forward", batch, shape, z.len(), out.len(), winners.len())?;
        z.par_chunks(zw * PAR_ROWS)
            .zip(out.par_chunks_mut(ow * PAR_ROWS))
            .zip(winners.par_chunks_mut(zw * PAR_ROWS))
            .try_for_each(|((z, o), w)| self.forward_shaped(z, z.len() / zw, shape, mode, o, w))
    }

    /// [`Competition::backward_shaped`] with the batch split like [`Competition::forward_par`]
    /// (never for a batch-coupled competition).
    #[allow(clippy::too_many_arguments)] // as backward_shaped
    pub fn backward_par(
        &self,
        z: &[f32],
        grad_out: &[f32],
        winners: &[bool],
        batch: usize,
        shape: Shape,
        mode: Mode,
        grad_pre: &mut [f32],
    ) -> Result<()> {
        let (zw, ow) = (shape.size(), self.output_shape(shape).map(|s| s.size()).unwrap_or(0));
        if self.batch_coupled() || batch <= PAR_ROWS || zw == 0 || ow == 0 || rayon::current_num_threads() == 1 {
            return self.backward_shaped(z, grad_out, winners, batch, shape, mode, grad_pre);
        }
        self.check_shaped("backward", batch, shape, z.len(), grad_out.len(), winners.len())?;
        if grad_pre.len() != z.len() {
            return Err(Error::shape(format!("{self} backward"), format!("grad_pre {}", grad_pre.len()), format!("{} (as z)", z.len())));
        }
        z.par_chunks(zw * PAR_ROWS)
            .zip(grad_out.par_chunks(ow * PAR_ROWS))
            .zip(winners.par_chunks(zw * PAR_ROWS))
            .zip(grad_pre.par_chunks_mut(zw * PAR_ROWS))
            .try_for_each(|(((z, g), w), p)| self.backward_shaped(z, g, w, z.len() / zw, shape, mode, p))
    }

    /// Checks the parameters against `shape` and the buffer lengths against `batch`.
    fn check_shaped(&self, what: &str, batch: usize, shape: Shape, z: usize, out: usize, winners: usize) -> Result<()> {
        let n = shape.size();
        let m = self.output_shape(shape)?.size();
        if batch == 0 || batch.checked_mul(n) != Some(z) || batch.checked_mul(m) != Some(out) || winners != z {
            let out_name = if what == "forward" { "out" } else { "grad_out" };
            return Err(Error::shape(
                format!("{self} {what}"),
                format!("batch {batch} of {shape}: z {z}, {out_name} {out}, winners {winners}"),
                format!("batch >= 1, z = winners = batch x {n}, {out_name} = batch x {m}"),
            ));
        }
        Ok(())
    }
}

/// `[batch, channels, height, width]` of a batch of maps (only called for [`Shape::Maps`], which
/// [`Competition::output_shape`] requires of the spatial competitions).
fn maps_of(batch: usize, shape: Shape) -> [usize; 4] {
    match shape {
        Shape::Maps { channels, height, width } => [batch, channels, height, width],
        Shape::Rows { width } => [batch, 1, 1, width],
    }
}

/// A grouped rule over channels ([`Select::BlockMax`]: LWTA or maxout over `k` consecutive
/// channels): at every example and position, the first maximum of the `k` values of each block of
/// channels wins. The same result as gathering the `channels` values of each position into a
/// vector and applying the rule to it, computed a plane at a time (contiguous, vectorisable loops)
/// instead of a position at a time (strided gathers): the running maximum of each block over its
/// channels, then its winners and outputs written back plane by plane.
fn forward_maps(rule: Pwl, z: &[f32], channels: usize, hw: usize, out: &mut [f32], winners: &mut [bool]) {
    let k = rule.select.group();
    let out_channels = channels / rule.pieces();
    debug_assert!(rule.pieces() == 1 || rule.pieces() == k, "a pool reads the blocks the rule selects from");
    let mut best_v = vec![0.0f32; hw];
    let mut best_i = vec![0u32; hw];
    for ((zb, ob), wb) in
        z.chunks_exact(channels * hw).zip(out.chunks_exact_mut(out_channels * hw)).zip(winners.chunks_exact_mut(channels * hw))
    {
        for g in 0..channels / k {
            let base = g * k;
            best_v.copy_from_slice(&zb[base * hw..(base + 1) * hw]);
            best_i.fill(0);
            for i in 1..k {
                let zc = &zb[(base + i) * hw..(base + i + 1) * hw];
                for ((bv, bi), &x) in best_v.iter_mut().zip(best_i.iter_mut()).zip(zc) {
                    // argmax_first's rule: a strictly larger value, or a number over a NaN.
                    // Selected by masks, without a branch or a conditional store, so that the
                    // loop vectorises.
                    let take = (x > *bv) | (bv.is_nan() & !x.is_nan());
                    let mask = 0u32.wrapping_sub(take as u32);
                    *bv = f32::from_bits(bv.to_bits() ^ ((bv.to_bits() ^ x.to_bits()) & mask));
                    *bi ^= (*bi ^ i as u32) & mask;
                }
            }
            for i in 0..k {
                let wc = &mut wb[(base + i) * hw..(base + i + 1) * hw];
                for (w, &bi) in wc.iter_mut().zip(&best_i) {
                    *w = bi == i as u32;
                }
            }
            match rule.read {
                Read::Pool { .. } => ob[g * hw..(g + 1) * hw].copy_from_slice(&best_v),
                Read::Gate { loser } => {
                    for i in 0..k {
                        let (zc, oc) = (&zb[(base + i) * hw..(base + i + 1) * hw], &mut ob[(base + i) * hw..(base + i + 1) * hw]);
                        for ((o, &x), &bi) in oc.iter_mut().zip(zc).zip(&best_i) {
                            *o = if bi == i as u32 {
                                x
                            } else if loser == 0.0 {
                                0.0
                            } else {
                                loser * x
                            };
                        }
                    }
                }
            }
        }
    }
}

/// Backward pass of a pool of `k` channels: output map `j`'s gradient goes, at each position, to
/// the one of channels `j * k .. (j + 1) * k` that won there.
fn backward_maps_pool(k: usize, grad_out: &[f32], winners: &[bool], channels: usize, hw: usize, grad_pre: &mut [f32]) {
    let out_channels = channels / k;
    for ((gb, wb), pb) in
        grad_out.chunks_exact(out_channels * hw).zip(winners.chunks_exact(channels * hw)).zip(grad_pre.chunks_exact_mut(channels * hw))
    {
        for (c, (pc, wc)) in pb.chunks_exact_mut(hw).zip(wb.chunks_exact(hw)).enumerate() {
            let gj = &gb[(c / k) * hw..(c / k + 1) * hw];
            for ((x, &w), &g) in pc.iter_mut().zip(wc).zip(gj) {
                *x = if w { g } else { 0.0 };
            }
        }
    }
}
