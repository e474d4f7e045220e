//! Exact counting of activation regions on a segment or a 2-D slice of the input space.
//!
//! On a slice `x(p) = origin + p[0] u + p[1] v` every pre-activation of the first layer is an affine
//! function of `p`. The domain (a convex polygon) is cut layer by layer: in a region where the layers
//! below are affine, each pre-activation of layer `l` is an affine function `z(p) = g . p + c`, so
//!
//! - a **ReLU** (or absolute value) unit cuts the region along its zero line `z(p) = 0` (the
//!   hyperplane `H_i` of section 2.2, pulled back to the slice);
//! - a **maxout** unit or an **LWTA** block splits it into the cells of the upper envelope of its
//!   pieces (section 4, eq. (5)): piece `i` wins where `z_i - z_j >= 0` for every other piece `j`.
//!
//! Each region carries the affine map of its layer's output, so the next layer's pre-activations are
//! again affine there. Regions are convex polygons; the count is the number of activation regions
//! (distinct patterns, see [`crate::analysis::regions`]) that meet the domain with positive area.
//!
//! # Floating point
//!
//! Geometry is in `f64`. A vertex `p` lies on the line `z = 0` when
//! `|z(p)| <= tolerance * (|g_0| A + |g_1| B + |c|)`, with `A`, `B` the largest `|p[0]|`, `|p[1]|` of the
//! domain: lines through vertices (several lines through one point, a line along an edge) cut
//! nothing there, and parallel lines need no special case. A piece of a cut whose area is at most
//! `tolerance^2` times the domain's area is given to the other side. A unit whose pre-activation is
//! zero on a whole region (within the tolerance) is decided by the sign at the region's centroid;
//! ties between maxout pieces or LWTA units go to the first index, as in training.
//!
//! # Speed
//!
//! Regions are processed in batches: the affine maps of a batch's layer inputs form one matrix, and
//! the next layer's pre-activation maps of the whole batch come from one matrix product (`gemm`).
//! Batches are cut depth first, in parallel with rayon, so memory stays bounded by the batches in
//! flight rather than by the regions of a whole layer.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::net::{PwlLayer, PwlNet, argmax_first};
use super::slice::{Segment, Slice2d, polygon_area};
use crate::competition::Select;
use crate::error::{Error, Result};

/// Options of the exact count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CountOptions {
    /// Relative tolerance of the geometry (see the module docs). Default `1e-9`.
    pub tolerance: f64,
    /// Refuse to go on once a layer has more regions than this (memory guard). Default 5 000 000.
    pub max_regions: usize,
}

impl Default for CountOptions {
    fn default() -> Self {
        CountOptions { tolerance: 1e-9, max_regions: 5_000_000 }
    }
}

impl CountOptions {
    /// Refuses a tolerance outside `(0, 1e-2]` and a zero region limit.
    pub fn validate(&self) -> Result<()> {
        if !(self.tolerance > 0.0 && self.tolerance <= 1e-2) {
            return Err(Error::param("tolerance", self.tolerance, "a relative tolerance in (0, 0.01], e.g. 1e-9"));
        }
        if self.max_regions == 0 {
            return Err(Error::param("max regions", 0, "at least 1"));
        }
        Ok(())
    }
}

/// One activation region of a 2-D slice.
#[derive(Clone, Debug, PartialEq)]
pub struct Region2d {
    /// The region, a convex polygon in slice coordinates, counter-clockwise.
    pub polygon: Vec<[f64; 2]>,
    /// Its activation pattern (see [`crate::analysis::regions::net`]).
    pub pattern: Vec<u64>,
    /// The network's outputs on this region: output `o` is `l[0] p[0] + l[1] p[1] + l[2]` for
    /// `l = logits[o]` (empty without an output layer).
    pub logits: Vec<[f64; 3]>,
}

impl Region2d {
    /// Area in slice coordinates.
    pub fn area(&self) -> f64 {
        polygon_area(&self.polygon).abs()
    }

    /// The mean of the vertices, a point inside the region.
    pub fn centroid(&self) -> [f64; 2] {
        centroid(&self.polygon)
    }

    /// The output values at `p` (which should lie in the region).
    pub fn outputs_at(&self, p: [f64; 2]) -> Vec<f64> {
        self.logits.iter().map(|l| l[0] * p[0] + l[1] * p[1] + l[2]).collect()
    }
}

/// The activation regions of a 2-D slice.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition2d {
    /// Every region meeting the domain.
    pub regions: Vec<Region2d>,
    /// Bits of each pattern.
    pub pattern_bits: usize,
    /// How many regions the first `l + 1` hidden layers cut the domain into, for each `l`.
    pub per_layer: Vec<usize>,
}

impl Partition2d {
    /// Number of regions.
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// Whether there are none (never, for a valid slice).
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }
}

/// One activation region of a segment: an interval of the parameter `t`.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece1d {
    /// `[t0, t1]`, within `[0, 1]`.
    pub t: [f64; 2],
    /// Its activation pattern.
    pub pattern: Vec<u64>,
    /// Output `o` is `l[0] t + l[1]` for `l = logits[o]`.
    pub logits: Vec<[f64; 2]>,
}

/// The activation regions of a segment, in order of `t`.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition1d {
    /// The pieces, sorted by `t`.
    pub pieces: Vec<Piece1d>,
    /// Bits of each pattern.
    pub pattern_bits: usize,
    /// Pieces after each hidden layer.
    pub per_layer: Vec<usize>,
}

impl Partition1d {
    /// Number of pieces.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether there are none (never, for a valid segment).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The interior break points (where the pattern changes), in order.
    pub fn breakpoints(&self) -> Vec<f64> {
        self.pieces.iter().skip(1).map(|p| p.t[0]).collect()
    }
}

/// Regions per batch of the layer-by-layer descent (one matrix product per batch).
const BATCH: usize = 128;

/// The exact activation regions of `net` on a 2-D slice.
///
/// ```
/// use compete::analysis::regions::{CountOptions, PwlNet, Slice2d, count_2d};
/// use compete::competition::Competition;
/// use compete::models::mlp::{Mlp, MlpConfig};
///
/// let net = PwlNet::from_mlp(&Mlp::new(MlpConfig::new(2, &[(8, Competition::Relu)], 2).unwrap(), 3).unwrap()).unwrap();
/// let slice = Slice2d::axes(vec![0.0, 0.0], 0, 1, [-10.0, 10.0], [-10.0, 10.0]).unwrap();
/// let regions = count_2d(&net, &slice, &CountOptions::default()).unwrap();
/// // 8 lines through the origin (zero biases) cut the plane into 16 sectors.
/// assert_eq!(regions.len(), 16);
/// ```
pub fn count_2d(net: &PwlNet, slice: &Slice2d, opts: &CountOptions) -> Result<Partition2d> {
    opts.validate()?;
    net.check_input("slice origin", &slice.origin)?;
    net.check_input("slice direction u", &slice.u)?;
    net.check_input("slice direction v", &slice.v)?;
    let area = polygon_area(&slice.domain);
    if slice.domain.len() < 3
        || area.abs().partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        || slice.domain.iter().flatten().any(|x| !x.is_finite())
    {
        return Err(Error::param(
            "slice domain",
            format!("{} vertices, area {area}", slice.domain.len()),
            "a convex polygon of positive area",
        ));
    }
    let mut domain = slice.domain.clone();
    if area < 0.0 {
        domain.reverse();
    }
    let (regions, per_layer) = descend_from(net, &slice.origin, &slice.u, &slice.v, domain, opts)?;
    Ok(Partition2d { regions, pattern_bits: net.pattern_bits(), per_layer })
}

/// The exact activation regions of `net` on a segment, sorted by `t`.
pub fn count_1d(net: &PwlNet, segment: &Segment, opts: &CountOptions) -> Result<Partition1d> {
    opts.validate()?;
    net.check_input("segment start", &segment.a)?;
    net.check_input("segment end", &segment.b)?;
    let d: Vec<f64> = segment.a.iter().zip(&segment.b).map(|(a, b)| b - a).collect();
    let zero = vec![0.0; d.len()];
    // The segment as the unit square of a degenerate slice whose second direction is zero: every
    // cut is then a vertical line, and every region a rectangle [t0, t1] x [0, 1].
    let square = vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    let (regions, per_layer) = descend_from(net, &segment.a, &d, &zero, square, opts)?;
    let mut pieces: Vec<Piece1d> = regions
        .into_iter()
        .map(|r| {
            let t0 = r.polygon.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min);
            let t1 = r.polygon.iter().map(|p| p[0]).fold(f64::NEG_INFINITY, f64::max);
            Piece1d { t: [t0.max(0.0), t1.min(1.0)], pattern: r.pattern, logits: r.logits.iter().map(|l| [l[0], l[2]]).collect() }
        })
        .collect();
    pieces.sort_by(|a, b| a.t[0].total_cmp(&b.t[0]));
    Ok(Partition1d { pieces, pattern_bits: net.pattern_bits(), per_layer })
}

/// What every batch needs to know.
struct Ctx<'a> {
    net: &'a PwlNet,
    /// Relative tolerance.
    tol: f64,
    /// Largest `|p[0]|`, `|p[1]|` of the domain (scale of the tolerance).
    extent: [f64; 2],
    /// Pieces below this area go to the other side.
    area_tol: f64,
    /// First pattern bit of each layer.
    offsets: Vec<usize>,
    /// Words of a pattern.
    words: usize,
    /// Regions found after each layer, so far.
    found: Vec<AtomicUsize>,
    max_regions: usize,
    /// Every hidden layer's weights transposed (`inputs x outputs`, row-major): the columns of `W`
    /// that rank-one updates add.
    wt: Vec<Vec<f64>>,
}

/// A region on its way down: its polygon and the pattern bits of the layers above it.
struct Cell {
    poly: Vec<[f64; 2]>,
    pattern: Vec<u64>,
}

fn descend_from(
    net: &PwlNet,
    origin: &[f64],
    u: &[f64],
    v: &[f64],
    domain: Vec<[f64; 2]>,
    opts: &CountOptions,
) -> Result<(Vec<Region2d>, Vec<usize>)> {
    let extent = [
        domain.iter().map(|p| p[0].abs()).fold(0.0, f64::max).max(f64::MIN_POSITIVE),
        domain.iter().map(|p| p[1].abs()).fold(0.0, f64::max).max(f64::MIN_POSITIVE),
    ];
    let mut offsets = Vec::with_capacity(net.hidden.len());
    let mut bits = 0;
    for l in &net.hidden {
        offsets.push(bits);
        bits += l.affine.outputs;
    }
    let ctx = Ctx {
        net,
        tol: opts.tolerance,
        extent,
        area_tol: opts.tolerance * opts.tolerance * polygon_area(&domain).abs(),
        offsets,
        words: net.pattern_words(),
        found: (0..net.hidden.len()).map(|_| AtomicUsize::new(0)).collect(),
        max_regions: opts.max_regions,
        wt: net
            .hidden
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let a = &l.affine;
                if k == 0 {
                    return Vec::new(); // the first layer's maps always come from the product
                }
                let mut t = vec![0.0; a.inputs * a.outputs];
                for o in 0..a.outputs {
                    for (i, w) in a.row(o).iter().enumerate() {
                        t[i * a.outputs + o] = *w;
                    }
                }
                t
            })
            .collect(),
    };
    // The layer input of the first layer: x(p) = origin + p[0] u + p[1] v.
    let mut map = Vec::with_capacity(3 * net.input);
    map.extend_from_slice(u);
    map.extend_from_slice(v);
    map.extend_from_slice(origin);
    let cells = vec![Cell { poly: domain, pattern: vec![0; ctx.words] }];
    let regions = match net.hidden.first() {
        Some(first) => descend(&ctx, 0, cells, preactivations(first, &map, 1))?,
        None => finish(&ctx, cells, &map),
    };
    let per_layer = ctx.found.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    Ok((regions, per_layer))
}

/// Cuts `cells` (whose pre-activation maps of layer `l` are `z`: per cell, the `p[0]`
/// coefficients, the `p[1]` coefficients and the constants of every pre-activation, `3 * outputs`
/// values) by layer `l` and the layers above, depth first.
///
/// The next layer's pre-activation maps of the pieces come from one matrix product for a few
/// *anchor* pieces (the first piece of each cell, and any piece whose outputs differ from the
/// previous piece's in many units) and from rank-one updates for the others: consecutive pieces of
/// one cell usually differ in one or two units, so `W x'` changes by one or two columns of `W`.
fn descend(ctx: &Ctx, l: usize, cells: Vec<Cell>, z: Vec<f64>) -> Result<Vec<Region2d>> {
    let net = ctx.net;
    let layer = &net.hidden[l];
    let pre = layer.affine.outputs;
    let units = layer.units();
    let mut children = Vec::new();
    let mut child_x = Vec::new();
    // For each piece: the number of its layer's outputs that differ from the previous piece of the
    // same cell (usize::MAX for the first piece of a cell).
    let mut changed = Vec::new();
    for (r, cell) in cells.into_iter().enumerate() {
        let zr = &z[3 * r * pre..3 * (r + 1) * pre];
        for (i, kid) in cut(ctx, layer, ctx.offsets[l], cell, zr).into_iter().enumerate() {
            write_output_map(layer, ctx.offsets[l], &kid.pattern, zr, units, &mut child_x);
            let n = child_x.len();
            changed.push(if i == 0 {
                usize::MAX
            } else {
                let (prev, cur) = child_x[n - 6 * units..].split_at(3 * units);
                (0..units).filter(|&u| (0..3).any(|c| prev[c * units + u] != cur[c * units + u])).count()
            });
            children.push(kid);
        }
    }
    drop(z);
    let total = ctx.found[l].fetch_add(children.len(), Ordering::Relaxed) + children.len();
    if total > ctx.max_regions {
        return Err(Error::param(
            "max regions",
            ctx.max_regions,
            format!("more than the {total}+ regions hidden layer {} makes on this slice (raise the limit or count a smaller slice)", l + 1),
        ));
    }
    if l + 1 == net.hidden.len() {
        return Ok(finish(ctx, children, &child_x));
    }
    let z_next = next_preactivations(ctx, l + 1, &child_x, &changed, units);
    drop(child_x);
    let next_pre = net.hidden[l + 1].affine.outputs;
    let mut batches = Vec::with_capacity(children.len().div_ceil(BATCH));
    let mut left = z_next.as_slice();
    let mut it = children.into_iter().peekable();
    while it.peek().is_some() {
        let batch: Vec<Cell> = it.by_ref().take(BATCH).collect();
        let (head, tail) = left.split_at(batch.len() * 3 * next_pre);
        batches.push((batch, head.to_vec()));
        left = tail;
    }
    drop(z_next);
    let outs: Vec<Result<Vec<Region2d>>> = batches.into_par_iter().map(|(b, m)| descend(ctx, l + 1, b, m)).collect();
    let mut regions = Vec::new();
    for o in outs {
        regions.extend(o?);
    }
    Ok(regions)
}

/// The pre-activation maps of layer `l` for pieces whose layer inputs are `x` (`3 * width` values
/// each): anchors by one matrix product, the others by rank-one updates from the previous piece.
fn next_preactivations(ctx: &Ctx, l: usize, x: &[f64], changed: &[usize], width: usize) -> Vec<f64> {
    let layer = &ctx.net.hidden[l];
    let n = layer.affine.outputs;
    let pieces = changed.len();
    // A rank-one update costs about as much as 1/8 of a row of the product, counting the product's
    // better use of the cache.
    let limit = (width / 8).max(1);
    let anchors: Vec<usize> = (0..pieces).filter(|&i| changed[i] > limit).collect();
    let mut ax = Vec::with_capacity(anchors.len() * 3 * width);
    for &i in &anchors {
        ax.extend_from_slice(&x[3 * i * width..3 * (i + 1) * width]);
    }
    let za = preactivations(layer, &ax, anchors.len());
    drop(ax);
    let wt = &ctx.wt[l];
    let mut z = vec![0.0; pieces * 3 * n];
    let mut next_anchor = 0;
    for i in 0..pieces {
        if next_anchor < anchors.len() && anchors[next_anchor] == i {
            z[3 * i * n..3 * (i + 1) * n].copy_from_slice(&za[3 * next_anchor * n..3 * (next_anchor + 1) * n]);
            next_anchor += 1;
            continue;
        }
        let (done, cur) = z.split_at_mut(3 * i * n);
        let prev_z = &done[3 * (i - 1) * n..];
        let cur = &mut cur[..3 * n];
        cur.copy_from_slice(prev_z);
        let (px, cx) = (&x[3 * (i - 1) * width..3 * i * width], &x[3 * i * width..3 * (i + 1) * width]);
        for u in 0..width {
            for c in 0..3 {
                let d = cx[c * width + u] - px[c * width + u];
                if d != 0.0 {
                    let col = &wt[u * n..(u + 1) * n];
                    for (zo, w) in cur[c * n..(c + 1) * n].iter_mut().zip(col) {
                        *zo += d * w;
                    }
                }
            }
        }
    }
    z
}

/// The pre-activation maps of a batch: `z[(3 r + c) * pre + o]` for cell `r`, coefficient `c`
/// (`p[0]`, `p[1]`, constant) and pre-activation `o`. One matrix product `Z^T = X^T W^T`.
fn preactivations(layer: &PwlLayer, maps: &[f64], cells: usize) -> Vec<f64> {
    let a = &layer.affine;
    let (k, n, m) = (a.inputs, a.outputs, 3 * cells);
    let mut z = vec![0.0f64; m * n];
    // SAFETY: `maps` holds m x k values (row-major, row stride k), the weights n x k (row-major, so
    // W^T has column stride k and row stride 1), `z` m x n (row-major); every index the strides reach
    // lies inside the three buffers, and `z` is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            z.as_mut_ptr(),
            1,
            n as isize,
            false,
            maps.as_ptr(),
            1,
            k as isize,
            a.weight.as_ptr(),
            k as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    for r in 0..cells {
        for (zo, b) in z[(3 * r + 2) * n..(3 * r + 3) * n].iter_mut().zip(&a.bias) {
            *zo += b;
        }
    }
    z
}

/// Appends the map of the layer's outputs on a cell (given its pattern bits of this layer).
fn write_output_map(layer: &PwlLayer, offset: usize, pattern: &[u64], z: &[f64], units: usize, out: &mut Vec<f64>) {
    let pre = layer.affine.outputs;
    let bit = |i: usize| pattern[(offset + i) / 64] >> ((offset + i) % 64) & 1 == 1;
    let rules = layer.rules();
    let start = out.len();
    out.resize(start + 3 * units, 0.0);
    let dst = &mut out[start..];
    for c in 0..3 {
        let zc = &z[c * pre..(c + 1) * pre];
        let dc = &mut dst[c * units..(c + 1) * units];
        // Each output is a fixed pre-activation times a fixed coefficient on the cell (the rules of
        // the competition, read through the cell's pattern), and so is its map.
        rules.read_with(zc, bit, dc);
    }
}

/// The final regions: polygons, patterns and the output layer's maps.
fn finish(ctx: &Ctx, cells: Vec<Cell>, maps: &[f64]) -> Vec<Region2d> {
    let width = ctx.net.hidden.last().map(|l| l.units()).unwrap_or(ctx.net.input);
    cells
        .into_iter()
        .enumerate()
        .map(|(r, cell)| {
            let m = &maps[3 * r * width..3 * (r + 1) * width];
            let logits = match &ctx.net.output {
                Some(out) => (0..out.outputs)
                    .map(|o| {
                        let w = out.row(o);
                        let dot = |c: usize| w.iter().zip(&m[c * width..(c + 1) * width]).map(|(a, b)| a * b).sum::<f64>();
                        [dot(0), dot(1), dot(2) + out.bias[o]]
                    })
                    .collect(),
                None => Vec::new(),
            };
            Region2d { polygon: cell.poly, pattern: cell.pattern, logits }
        })
        .collect()
}

/// An affine function of the slice coordinates: `g[0] p[0] + g[1] p[1] + c`.
#[derive(Clone, Copy)]
struct Lin {
    g: [f64; 2],
    c: f64,
}

impl Lin {
    fn at(&self, p: [f64; 2]) -> f64 {
        self.g[0] * p[0] + self.g[1] * p[1] + self.c
    }
    fn sub(self, o: Lin) -> Lin {
        Lin { g: [self.g[0] - o.g[0], self.g[1] - o.g[1]], c: self.c - o.c }
    }
    /// The absolute tolerance of "zero" for this function on the domain.
    fn tol(&self, ctx: &Ctx) -> f64 {
        ctx.tol * (self.g[0].abs() * ctx.extent[0] + self.g[1].abs() * ctx.extent[1] + self.c.abs())
    }
}

/// Where a function lies on a polygon.
enum Side {
    /// Positive (>= -tol) everywhere.
    Pos,
    /// Negative (<= tol) everywhere.
    Neg,
    /// Strictly on both sides.
    Both,
}

fn side(f: Lin, poly: &[[f64; 2]], tol: f64) -> Side {
    let (mut pos, mut neg) = (false, false);
    for &p in poly {
        let v = f.at(p);
        pos |= v > tol;
        neg |= v < -tol;
    }
    match (pos, neg) {
        (true, true) => Side::Both,
        (true, false) => Side::Pos,
        (false, true) => Side::Neg,
        // Zero on the whole polygon: the sign at the centroid decides.
        (false, false) => {
            if f.at(centroid(poly)) > 0.0 {
                Side::Pos
            } else {
                Side::Neg
            }
        }
    }
}

/// The part of a convex polygon where `f >= -tol` (vertices within the tolerance count as on the line).
fn clip(poly: &[[f64; 2]], f: Lin, tol: f64) -> Vec<[f64; 2]> {
    let n = poly.len();
    let vals: Vec<f64> = poly.iter().map(|&p| f.at(p)).collect();
    let mut out = Vec::with_capacity(n + 1);
    for i in 0..n {
        let j = (i + 1) % n;
        let (vi, vj) = (vals[i], vals[j]);
        if vi >= -tol {
            out.push(poly[i]);
        }
        if (vi > tol && vj < -tol) || (vi < -tol && vj > tol) {
            let t = vi / (vi - vj);
            out.push([poly[i][0] + t * (poly[j][0] - poly[i][0]), poly[i][1] + t * (poly[j][1] - poly[i][1])]);
        }
    }
    out
}

fn centroid(poly: &[[f64; 2]]) -> [f64; 2] {
    let n = poly.len().max(1) as f64;
    let s = poly.iter().fold([0.0, 0.0], |a, p| [a[0] + p[0], a[1] + p[1]]);
    [s[0] / n, s[1] / n]
}

fn set_bit(pattern: &mut [u64], i: usize) {
    pattern[i / 64] |= 1u64 << (i % 64);
}

/// Cuts one cell by every unit of a layer; returns the pieces with this layer's bits set.
fn cut(ctx: &Ctx, layer: &PwlLayer, offset: usize, cell: Cell, z: &[f64]) -> Vec<Cell> {
    let pre = layer.affine.outputs;
    let lin = |o: usize| Lin { g: [z[o], z[pre + o]], c: z[2 * pre + o] };
    let mut cells = vec![cell];
    match layer.rules().select {
        // One pre-activation per group: each unit cuts the cell along its zero line (the side
        // z = 0 itself has no area, so `z > 0` and `z >= 0` give the same cells).
        Select::Positive | Select::NonNegative => {
            // Units that do not cross the parent are decided for all its pieces at once.
            let mut crossing = Vec::new();
            for o in 0..pre {
                let f = lin(o);
                match side(f, &cells[0].poly, f.tol(ctx)) {
                    Side::Pos => set_bit(&mut cells[0].pattern, offset + o),
                    Side::Neg => {}
                    Side::Both => crossing.push(o),
                }
            }
            for o in crossing {
                let f = lin(o);
                let tol = f.tol(ctx);
                let mut next = Vec::with_capacity(cells.len() * 2);
                for mut c in cells {
                    match side(f, &c.poly, tol) {
                        Side::Pos => {
                            set_bit(&mut c.pattern, offset + o);
                            next.push(c);
                        }
                        Side::Neg => next.push(c),
                        Side::Both => {
                            let pos = clip(&c.poly, f, tol);
                            let neg = clip(&c.poly, Lin { g: [-f.g[0], -f.g[1]], c: -f.c }, tol);
                            let (pa, na) = (polygon_area(&pos).abs(), polygon_area(&neg).abs());
                            if pa <= ctx.area_tol {
                                next.push(c);
                            } else if na <= ctx.area_tol {
                                set_bit(&mut c.pattern, offset + o);
                                next.push(c);
                            } else {
                                let mut pp = c.pattern.clone();
                                set_bit(&mut pp, offset + o);
                                next.push(Cell { poly: pos, pattern: pp });
                                next.push(Cell { poly: neg, pattern: c.pattern });
                            }
                        }
                    }
                }
                cells = next;
            }
        }
        // Blocks of k: the cell is split among the pieces that can be the block's first maximum.
        Select::BlockMax { .. } => {
            let k = layer.rules().select.group();
            let mut crossing = Vec::new();
            for g in 0..pre / k {
                match dominant(ctx, &cells[0].poly, &lin, g * k, k) {
                    Some(w) => set_bit(&mut cells[0].pattern, offset + g * k + w),
                    None => crossing.push(g),
                }
            }
            for g in crossing {
                let mut next = Vec::with_capacity(cells.len() * 2);
                for mut c in cells {
                    if let Some(w) = dominant(ctx, &c.poly, &lin, g * k, k) {
                        set_bit(&mut c.pattern, offset + g * k + w);
                        next.push(c);
                        continue;
                    }
                    let before = next.len();
                    'piece: for i in 0..k {
                        let mut poly = c.poly.clone();
                        for j in 0..k {
                            if j == i {
                                continue;
                            }
                            let d = lin(g * k + i).sub(lin(g * k + j));
                            let tol = d.tol(ctx);
                            if d.g[0].abs() * ctx.extent[0] + d.g[1].abs() * ctx.extent[1] <= tol {
                                // Pieces i and j are parallel here (equal up to a constant).
                                if d.c < -tol || (d.c.abs() <= tol && j < i) {
                                    continue 'piece; // j is above i everywhere, or wins their tie
                                }
                                continue;
                            }
                            poly = clip(&poly, d, tol);
                            if poly.len() < 3 {
                                continue 'piece;
                            }
                        }
                        if polygon_area(&poly).abs() > ctx.area_tol {
                            let mut p = c.pattern.clone();
                            set_bit(&mut p, offset + g * k + i);
                            next.push(Cell { poly, pattern: p });
                        }
                    }
                    if next.len() == before {
                        // Every piece was a sliver: the winner at the centroid takes the cell.
                        let m = centroid(&c.poly);
                        let vals: Vec<f64> = (0..k).map(|i| lin(g * k + i).at(m)).collect();
                        set_bit(&mut c.pattern, offset + g * k + argmax_first(&vals));
                        next.push(c);
                    }
                }
                cells = next;
            }
        }
    }
    cells
}

/// The piece of group `first..first + k` that wins on the whole polygon, if one does.
fn dominant(ctx: &Ctx, poly: &[[f64; 2]], lin: &impl Fn(usize) -> Lin, first: usize, k: usize) -> Option<usize> {
    let m = centroid(poly);
    let vals: Vec<f64> = (0..k).map(|i| lin(first + i).at(m)).collect();
    let w = argmax_first(&vals);
    let fw = lin(first + w);
    for j in 0..k {
        if j == w {
            continue;
        }
        let d = fw.sub(lin(first + j));
        let tol = d.tol(ctx);
        if poly.iter().any(|&p| d.at(p) < -tol) {
            return None;
        }
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::analysis::regions::net::{Affine, PwlLayer};
    use crate::analysis::regions::sample::inside_convex;
    use crate::competition::Competition;

    /// A random network on `n0` inputs with the given hidden layers and 3 outputs.
    fn random_net(n0: usize, hidden: &[(usize, Competition)], seed: u64) -> PwlNet {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut width = n0;
        let mut layers = Vec::new();
        for &(units, c) in hidden {
            let pre = units * c.pieces();
            let w = (0..pre * width).map(|_| rng.random_range(-1.0..1.0)).collect();
            let b = (0..pre).map(|_| rng.random_range(-0.5..0.5)).collect();
            layers.push(PwlLayer { affine: Affine::new(width, pre, w, b).unwrap(), competition: c });
            width = units;
        }
        let w = (0..3 * width).map(|_| rng.random_range(-1.0..1.0)).collect();
        let out = Affine::new(width, 3, w, vec![0.1, 0.0, -0.1]).unwrap();
        PwlNet::new(n0, layers, Some(out)).unwrap()
    }

    fn unit_box(r: f64) -> Slice2d {
        Slice2d::axes(vec![0.0, 0.0], 0, 1, [-r, r], [-r, r]).unwrap()
    }

    /// Checks everything a partition must satisfy: distinct patterns, areas summing to the domain's,
    /// every centroid's forward pass giving the region's pattern and outputs, every grid point's
    /// pattern among the regions', and the grid count not above the exact count.
    fn check_partition(net: &PwlNet, slice: &Slice2d, part: &Partition2d, grid: usize) -> usize {
        let patterns: HashSet<&Vec<u64>> = part.regions.iter().map(|r| &r.pattern).collect();
        assert_eq!(patterns.len(), part.len(), "two regions share a pattern");
        let area: f64 = part.regions.iter().map(Region2d::area).sum();
        assert!((area - slice.area()).abs() <= 1e-9 * slice.area(), "areas sum to {area}, domain {}", slice.area());
        for r in &part.regions {
            let c = r.centroid();
            let t = net.forward(&slice.at(c)).unwrap();
            assert_eq!(t.pattern, r.pattern, "centroid pattern");
            for (a, b) in t.logits.unwrap_or_default().iter().zip(r.outputs_at(c)) {
                assert!((a - b).abs() < 1e-9 * (1.0 + a.abs()), "output {a} vs region map {b}");
            }
        }
        let ([a0, a1], [b0, b1]) = slice.bounds();
        let mut seen = HashSet::new();
        for i in 0..grid {
            for j in 0..grid {
                let p = [a0 + (i as f64 + 0.5) / grid as f64 * (a1 - a0), b0 + (j as f64 + 0.5) / grid as f64 * (b1 - b0)];
                if !inside_convex(&slice.domain, p) {
                    continue;
                }
                let pat = net.pattern(&slice.at(p)).unwrap();
                assert!(patterns.contains(&pat), "grid point {p:?} has a pattern no region has");
                seen.insert(pat);
            }
        }
        assert!(seen.len() <= part.len());
        seen.len()
    }

    #[test]
    fn lines_through_the_origin_make_sectors() {
        // Zero biases: every unit's zero line passes through the origin (a vertex of many lines).
        let mut net = random_net(2, &[(7, Competition::Relu)], 1);
        net.hidden[0].affine.bias.fill(0.0);
        let s = unit_box(1.0);
        let part = count_2d(&net, &s, &CountOptions::default()).unwrap();
        assert_eq!(part.len(), 14);
        check_partition(&net, &s, &part, 200);
    }

    #[test]
    fn one_layer_in_general_position_gives_zaslavsky() {
        for (n, seed) in [(5usize, 2u64), (12, 3), (20, 4)] {
            let net = random_net(2, &[(n, Competition::Relu)], seed);
            // A box holding every intersection point of the lines.
            let a = &net.hidden[0].affine;
            let mut r: f64 = 1.0;
            for i in 0..n {
                for j in i + 1..n {
                    let (w1, w2) = (a.row(i), a.row(j));
                    let det = w1[0] * w2[1] - w1[1] * w2[0];
                    let x = (-a.bias[i] * w2[1] + a.bias[j] * w1[1]) / det;
                    let y = (-w1[0] * a.bias[j] + w2[0] * a.bias[i]) / det;
                    r = r.max(x.abs()).max(y.abs());
                }
            }
            let s = unit_box(2.0 * r);
            let part = count_2d(&net, &s, &CountOptions::default()).unwrap();
            assert_eq!(part.len(), 1 + n + n * (n - 1) / 2, "{n} lines");
            // Zaslavsky's maximum of section 2.2, from the exact big-integer bounds.
            assert_eq!(crate::analysis::regions::bounds::shallow(2, n), num_bigint::BigUint::from(part.len()));
            assert_eq!(part.per_layer, vec![part.len()]);
        }
    }

    #[test]
    fn lines_along_edges_and_parallel_lines() {
        // z_i = x - i/10, i = 0..=10, on [0, 1]^2: the lines at x = 0 and x = 1 lie on the box's edges
        // and cut nothing; the 9 inner parallel lines make 10 strips.
        let w: Vec<f64> = (0..=10).flat_map(|_| [1.0, 0.0]).collect();
        let b: Vec<f64> = (0..=10).map(|i| -(i as f64) / 10.0).collect();
        let net =
            PwlNet::new(2, vec![PwlLayer { affine: Affine::new(2, 11, w, b).unwrap(), competition: Competition::Relu }], None).unwrap();
        let s = Slice2d::axes(vec![0.0, 0.0], 0, 1, [0.0, 1.0], [0.0, 1.0]).unwrap();
        let part = count_2d(&net, &s, &CountOptions::default()).unwrap();
        assert_eq!(part.len(), 10);
        check_partition(&net, &s, &part, 100);
    }

    #[test]
    fn deep_relu_lwta_maxout_abs_nets_agree_with_a_fine_grid() {
        let cases: [(&[(usize, Competition)], u64); 6] = [
            // Wide enough that most pieces take the rank-one update path.
            (&[(40, Competition::Relu), (40, Competition::Abs), (24, Competition::Maxout { rank: 2 })], 10),
            (&[(6, Competition::Relu), (6, Competition::Relu), (5, Competition::Relu)], 5),
            (&[(6, Competition::Lwta { block: 2 }), (6, Competition::Lwta { block: 3 })], 6),
            (&[(4, Competition::Maxout { rank: 3 }), (4, Competition::Maxout { rank: 2 })], 7),
            (&[(5, Competition::Abs), (5, Competition::Relu)], 8),
            (&[(5, Competition::Maxout { rank: 2 }), (6, Competition::Lwta { block: 2 }), (4, Competition::Relu)], 9),
        ];
        for (hidden, seed) in cases {
            let net = random_net(2, hidden, seed);
            let s = unit_box(3.0);
            let part = count_2d(&net, &s, &CountOptions::default()).unwrap();
            let seen = check_partition(&net, &s, &part, 400);
            assert!(part.len() > hidden[0].0, "{}: only {} regions", net.describe(), part.len());
            // The grid finds all regions but the smallest ones: every region with an inscribed
            // square of the grid's spacing holds a grid point, and most regions of the small nets are
            // that large (the wide net has too many small regions for this grid).
            if part.len() <= 1000 {
                assert!(seen as f64 >= 0.8 * part.len() as f64, "{}: grid {seen} vs exact {}", net.describe(), part.len());
            }
            let sampled = crate::analysis::regions::grid_patterns(&net, &s, 400).unwrap().1;
            assert!(sampled <= part.len());
            assert!(part.per_layer.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(*part.per_layer.last().unwrap(), part.len());
        }
    }

    #[test]
    fn convolutional_nets_are_counted_exactly() {
        // A conv net is piecewise linear: its dense stack computes the same logits, and its exact
        // partition of a triangle of inputs passes every check a partition must pass.
        use crate::layers::MapShape;
        use crate::models::Model;
        use crate::models::conv::{ConvNet, ConvNetConfig};
        for (specs, seed) in [
            (&["conv3x3:3", "pool2", "conv3x3:2:maxout:2", "3"][..], 1u64),
            (&["conv3x3:4:lwta:2", "pool2/s1", "local3x3/valid:2", "dense:4:maxout:2", "3"][..], 2),
        ] {
            let config = ConvNetConfig::parse(MapShape::new("input", 1, 6, 6).unwrap(), specs, 3).unwrap();
            let conv = ConvNet::init(&config, seed).unwrap();
            let net = PwlNet::from_encoder(&conv).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let points: Vec<Vec<f64>> = (0..3).map(|_| (0..36).map(|_| rng.random_range(0.0..1.0)).collect()).collect();
            for p in &points {
                let x = crate::tensor::Matrix { rows: 1, cols: 36, data: p.iter().map(|&v| v as f32).collect() };
                let mut ws = crate::models::conv::ConvWorkspace::default();
                conv.forward(&x, &mut ws, None).unwrap();
                let logits = net.forward(p).unwrap().logits.unwrap();
                for (a, b) in logits.iter().zip(&ws.logits.data) {
                    assert!((a - *b as f64).abs() < 1e-4 * (1.0 + a.abs()), "{specs:?}: {a} vs {b}");
                }
            }
            let s = Slice2d::through(&points[0], &points[1], &points[2], 0.0).unwrap();
            let part = count_2d(&net, &s, &CountOptions::default()).unwrap();
            let seen = check_partition(&net, &s, &part, 300);
            assert!(part.len() > 3 && seen as f64 >= 0.5 * part.len() as f64, "{specs:?}: {} regions, grid saw {seen}", part.len());
        }
    }

    #[test]
    fn grid_count_reaches_exact_count_on_a_small_net() {
        let net = random_net(2, &[(4, Competition::Relu), (3, Competition::Relu)], 11);
        let s = unit_box(2.0);
        let part = count_2d(&net, &s, &CountOptions::default()).unwrap();
        let smallest = part.regions.iter().map(Region2d::area).fold(f64::INFINITY, f64::min);
        // A grid fine enough for the smallest region (with room) finds every one.
        let res = ((s.area() / smallest).sqrt() * 20.0).ceil().min(3000.0) as usize;
        let (_, sampled) = crate::analysis::regions::grid_patterns(&net, &s, res).unwrap();
        assert_eq!(sampled, part.len(), "grid {res}: smallest region area {smallest}");
    }

    #[test]
    fn triangle_through_three_points() {
        let net = random_net(5, &[(8, Competition::Relu), (8, Competition::Relu)], 12);
        let x1 = [0.1, 0.2, 0.3, 0.4, 0.5];
        let x2 = [1.0, -0.5, 0.3, 0.0, 0.2];
        let x3 = [-0.3, 0.8, -1.0, 0.6, 0.1];
        let s = Slice2d::through(&x1, &x2, &x3, 0.0).unwrap();
        assert_eq!(s.domain.len(), 3);
        let part = count_2d(&net, &s, &CountOptions::default()).unwrap();
        check_partition(&net, &s, &part, 300);
        let boxed = Slice2d::through(&x1, &x2, &x3, 0.5).unwrap();
        let more = count_2d(&net, &boxed, &CountOptions::default()).unwrap();
        assert!(more.len() >= part.len());
    }

    #[test]
    fn segment_breakpoints_of_one_layer() {
        // z_i(x) = w_i x + b_i on the segment [0, 1] of a 1-D input: breakpoints -b_i / w_i.
        let w = vec![1.0, -2.0, 0.5, 3.0, 1.0];
        let b = vec![-0.25, 1.5, 0.1, -2.4, -2.0]; // zeros at 0.25, 0.75, -0.2, 0.8, 2.0
        let net =
            PwlNet::new(1, vec![PwlLayer { affine: Affine::new(1, 5, w, b).unwrap(), competition: Competition::Relu }], None).unwrap();
        let seg = Segment::new(vec![0.0], vec![1.0]).unwrap();
        let part = count_1d(&net, &seg, &CountOptions::default()).unwrap();
        let bp = part.breakpoints();
        assert_eq!(bp.len(), 3);
        for (got, want) in bp.iter().zip([0.25, 0.75, 0.8]) {
            assert!((got - want).abs() < 1e-12, "{bp:?}");
        }
        assert_eq!(part.pieces.first().unwrap().t[0], 0.0);
        assert_eq!(part.pieces.last().unwrap().t[1], 1.0);
    }

    #[test]
    fn segment_count_matches_a_fine_scan_on_a_deep_net() {
        let net = random_net(3, &[(8, Competition::Relu), (8, Competition::Maxout { rank: 3 }), (6, Competition::Lwta { block: 2 })], 13);
        let seg = Segment::new(vec![-2.0, 1.0, 0.5], vec![2.0, -1.5, 0.0]).unwrap();
        let part = count_1d(&net, &seg, &CountOptions::default()).unwrap();
        let mut changes = 0;
        let mut last = net.pattern(&seg.at(0.0)).unwrap();
        let n = 200_000;
        for i in 1..=n {
            let p = net.pattern(&seg.at(i as f64 / n as f64)).unwrap();
            if p != last {
                changes += 1;
                last = p;
            }
        }
        // Each change of pattern along the scan is a breakpoint; pieces narrower than the scan's
        // step can hide, so the scan sees at most the exact count.
        assert!(changes < part.len());
        assert!(changes + 1 >= part.len() * 9 / 10, "scan {} vs exact {}", changes + 1, part.len());
        for p in &part.pieces {
            let mid = seg.at(0.5 * (p.t[0] + p.t[1]));
            assert_eq!(net.pattern(&mid).unwrap(), p.pattern);
        }
    }

    #[test]
    fn bad_input_is_refused() {
        let net = random_net(2, &[(3, Competition::Relu)], 14);
        let s = Slice2d::axes(vec![0.0, 0.0, 0.0], 0, 1, [0.0, 1.0], [0.0, 1.0]).unwrap();
        let e = count_2d(&net, &s, &CountOptions::default()).unwrap_err().to_string();
        assert!(e.contains("slice origin") && e.contains("3 values") && e.contains("input width"), "{e}");
        let opts = CountOptions { tolerance: 0.0, ..Default::default() };
        assert!(count_2d(&net, &unit_box(1.0), &opts).unwrap_err().to_string().contains("tolerance"));
        let few = CountOptions { max_regions: 2, ..Default::default() };
        let e = count_2d(&net, &unit_box(5.0), &few).unwrap_err().to_string();
        assert!(e.contains("max regions"), "{e}");
    }
}
