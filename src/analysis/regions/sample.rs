//! The sampled lower bound: distinct activation patterns over a set of inputs.
//!
//! Every distinct pattern found is a distinct activation region, so the count over any set of
//! inputs (a dataset, random points, a grid of a slice) is a lower bound of the number of regions;
//! on a slice it reaches the exact count of [`count_2d`](super::count_2d) once every region holds a
//! sample point. This is the approach most tools take (a batched forward pass over a grid), kept here
//! as the peer that exact counting is measured against. Forward passes run in `f32`, like training.

use std::collections::HashSet;

use rayon::prelude::*;

use super::net::PwlNet;
use super::slice::Slice2d;
use crate::analysis::patterns::activation_patterns;
use crate::competition::Competition;
use crate::error::{Error, Result};
use crate::models::{Encoder, LayerInfo, LayerOutput};
use crate::tensor::{Matrix, Op, matmul};

/// Rows per forward batch.
const ROWS: usize = 512;

/// A network in `f32`, ready for batched forward passes that return activation patterns.
#[derive(Clone, Debug)]
pub struct PatternSampler {
    input: usize,
    layers: Vec<(Matrix, Vec<f32>, Competition)>,
    words: usize,
}

impl PatternSampler {
    /// Narrows the network's hidden layers to `f32` (the output layer plays no part in patterns).
    pub fn new(net: &PwlNet) -> Self {
        let layers = net
            .hidden
            .iter()
            .map(|l| {
                let a = &l.affine;
                let w = Matrix { rows: a.outputs, cols: a.inputs, data: a.weight.iter().map(|&v| v as f32).collect() };
                (w, a.bias.iter().map(|&v| v as f32).collect(), l.competition)
            })
            .collect();
        PatternSampler { input: net.input, layers, words: net.pattern_words() }
    }

    /// The patterns of `rows` inputs (`rows * input` values), one `Vec<u64>` each, in order: the
    /// winners of every hidden layer read through the [`Encoder`] contract
    /// ([`crate::analysis::patterns`]), in parallel batches of rows.
    pub fn patterns(&self, x: &[f32]) -> Result<Vec<Vec<u64>>> {
        if !x.len().is_multiple_of(self.input) {
            return Err(Error::shape(
                "sample points",
                format!("{} values", x.len()),
                format!("a multiple of the input width {}", self.input),
            ));
        }
        let rows = x.len() / self.input;
        let chunks: Vec<Result<Vec<Vec<u64>>>> = x.par_chunks(ROWS * self.input).map(|c| activation_patterns(self, c, ROWS)).collect();
        let mut out = Vec::with_capacity(rows);
        for c in chunks {
            out.extend(c?);
        }
        debug_assert!(out.iter().all(|p| p.len() == self.words));
        Ok(out)
    }

    /// Adds the patterns of `x` to `set`; returns how many inputs were read.
    pub fn collect_into(&self, x: &[f32], set: &mut HashSet<Vec<u64>>) -> Result<usize> {
        let p = self.patterns(x)?;
        let n = p.len();
        set.extend(p);
        Ok(n)
    }
}

/// The sampler is an encoder like any model: its hidden layers in evaluation mode, computed by the
/// same competitions as training ([`Competition::forward`]).
impl Encoder for PatternSampler {
    fn input_width(&self) -> usize {
        self.input
    }

    fn layers(&self) -> Vec<LayerInfo> {
        self.layers
            .iter()
            .map(|(w, _, c)| LayerInfo {
                name: format!("{}({c})", w.rows / c.pieces()),
                pre_width: w.rows,
                units: w.rows / c.pieces(),
                competition: *c,
                maps: None,
            })
            .collect()
    }

    fn encode(&self, x: &Matrix, upto: usize, out: &mut Vec<LayerOutput>) -> Result<()> {
        if x.cols != self.input {
            return Err(Error::shape("sample points", format!("{} features", x.cols), format!("{} features", self.input)));
        }
        if out.len() < upto {
            out.resize_with(upto, LayerOutput::default);
        }
        let rows = x.rows;
        for (l, (w, b, comp)) in self.layers.iter().enumerate().take(upto) {
            let (below, rest) = out.split_at_mut(l);
            let h = if l == 0 { x } else { &below[l - 1].out };
            let o = &mut rest[0];
            o.pre.resize(rows, w.rows);
            for r in 0..rows {
                o.pre.row_mut(r).copy_from_slice(b);
            }
            matmul(&mut o.pre, h, Op::N, w, Op::T, true)?;
            o.out.resize(rows, w.rows / comp.pieces());
            o.winners.resize(o.pre.data.len(), false);
            comp.forward(&o.pre.data, rows, &mut o.out.data, &mut o.winners)?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let mut s = self.input.to_string();
        for l in self.layers() {
            s.push_str(&format!("-{}", l.name));
        }
        s
    }
}

/// Distinct activation patterns over `points` (rows of `net.input` values): a lower bound of the
/// number of activation regions of the whole input space.
pub fn distinct_patterns(net: &PwlNet, points: &[f64]) -> Result<usize> {
    if points.is_empty() {
        return Err(Error::param("sample points", "none", "at least one input"));
    }
    let x: Vec<f32> = points.iter().map(|&v| v as f32).collect();
    let mut set = HashSet::new();
    PatternSampler::new(net).collect_into(&x, &mut set)?;
    Ok(set.len())
}

/// Distinct activation patterns over a `resolution x resolution` grid of pixel centres covering the
/// slice's bounding box, keeping the points inside the domain. Returns `(points, distinct)`.
pub fn grid_patterns(net: &PwlNet, slice: &Slice2d, resolution: usize) -> Result<(usize, usize)> {
    grid_patterns_with(&PatternSampler::new(net), net.input, slice, resolution)
}

/// [`grid_patterns`] with a sampler built once (for a sweep over resolutions).
pub fn grid_patterns_with(sampler: &PatternSampler, input: usize, slice: &Slice2d, resolution: usize) -> Result<(usize, usize)> {
    if resolution == 0 {
        return Err(Error::param("grid resolution", 0, "at least 1"));
    }
    if slice.origin.len() != input {
        return Err(Error::shape("slice", format!("{} values", slice.origin.len()), format!("{input} (the network's input width)")));
    }
    let ([a0, a1], [b0, b1]) = slice.bounds();
    let inside = |p: [f64; 2]| inside_convex(&slice.domain, p);
    let mut set = HashSet::new();
    let mut points = 0;
    // One grid row of the slice per batch of inputs.
    let rows_per_batch = (1 << 16) / resolution.max(1) + 1;
    let mut buf: Vec<f32> = Vec::new();
    for r0 in (0..resolution).step_by(rows_per_batch) {
        buf.clear();
        for r in r0..(r0 + rows_per_batch).min(resolution) {
            let b = b0 + (r as f64 + 0.5) / resolution as f64 * (b1 - b0);
            for c in 0..resolution {
                let a = a0 + (c as f64 + 0.5) / resolution as f64 * (a1 - a0);
                if !inside([a, b]) {
                    continue;
                }
                buf.extend(slice.origin.iter().zip(&slice.u).zip(&slice.v).map(|((o, u), v)| (o + a * u + b * v) as f32));
            }
        }
        if !buf.is_empty() {
            points += sampler.collect_into(&buf, &mut set)?;
        }
    }
    Ok((points, set.len()))
}

/// Whether `p` lies in the convex polygon (either orientation), boundary included.
pub fn inside_convex(poly: &[[f64; 2]], p: [f64; 2]) -> bool {
    let n = poly.len();
    let (mut pos, mut neg) = (false, false);
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        let cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
        pos |= cross > 0.0;
        neg |= cross < 0.0;
    }
    !(pos && neg)
}
