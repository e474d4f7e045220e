//! Linear maps of single units (paper E, section 2.6, eq. (8) and appendix G).
//!
//! On the activation region holding an input `x`, every layer of a [`PwlNet`] is affine, so each unit
//! is an affine function of the input there: `u·x + c`. Eq. (8) writes `u` for a rectifier network as
//! the unit's weight row times the selections of the layers below,
//! `uᵀ = (W_l)_{j,:} diag(I_{f_{l-1}>0}(x)) W_{l-1} ⋯ diag(I_{f_1>0}(x)) W_1`, and the bias `c` the
//! same way. [`unit_map`] computes it for every competition by one backward vector-matrix product per
//! layer: the output of a layer below is a fixed selection of its pre-activations on the region
//! (ReLU keeps the pre-activations with `z > 0`, absolute value multiplies each by its sign, LWTA keeps
//! each block's winner, maxout takes each unit's winning piece), which is read from the activation
//! pattern.
//!
//! # Which quantity of a unit
//!
//! Units are indexed as the layer's outputs (after the competition, `0..PwlLayer::units()`), and the
//! map is that of the unit's *response*:
//!
//! - ReLU, absolute value, LWTA: the pre-activation `f_{l,j}` of unit `j`, as in eq. (8). Its
//!   activation is `max(0, f)`, `|f|`, or `f` if the unit wins its block and `0` otherwise, so on the
//!   examples where the activation is positive (all that appendix G uses) the response *is* the
//!   activation, except for absolute value units with `f < 0` (activation `-f`).
//! - Maxout: the unit's output, `max_k f_{l,j,k}`, which on the region is the winning piece's
//!   pre-activation, so `u` is the winning piece's row carried down.
//! - `layer == net.hidden.len()` names the output layer: the map of logit `j`.
//!
//! [`UnitMap::activation`] gives the activation beside it, and "positive" everywhere below means
//! `activation > 0`.
//!
//! # Over a dataset
//!
//! [`LayerPass`] runs the forward pass of a whole dataset once (batched matrix products, in parallel),
//! keeping each example's activation pattern below the layer and the layer's pre-activations; the
//! maps of any of the layer's units then cost only the backward products ([`LayerPass::maps`],
//! [`LayerPass::maps_many`] for several units at once, which reads each weight row once for all of
//! them). [`unit_maps`] and [`identify`] are the one-call forms.
//!
//! # Clustering the maps (appendix G)
//!
//! Appendix G clusters the maps of one unit over the training examples where its activation is
//! positive into four groups with k-means and shows the group centres; it picks "the most interesting
//! units" among 20 random ones by the maximal Euclidean distance between the centres ([`spread`]).
//! [`kmeans`] is Lloyd's algorithm with k-means++ seeding, written here (about a hundred lines) rather
//! than taken from a crate: `linfa-clustering` brings `ndarray` and the `linfa` framework, `kmeans`
//! needs a nightly compiler (portable SIMD), and `clustering` takes `Vec<Vec<_>>` and seeds from the
//! thread's random generator, so no seeded, reproducible run.
//!
//! # Identified inputs (section 2.6, appendix G, Fig. 10)
//!
//! [`identify`] takes the examples whose response is closest to a target value and moves each along
//! its own map, `x' = x + (t - f(x)) / |u|² · u`, which reaches `f(x') = t` exactly when `x'` stays in
//! the region; when the pattern changes on the way, it repeats from the new point with that point's
//! map (Newton steps on a piecewise linear function). A forward pass checks the value. The points found
//! are inputs that the unit maps to the same value: identified by it in the sense of section 2.4.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::net::{Affine, PwlLayer, PwlNet};
use crate::error::{Error, Result};

/// The affine map of one unit on the activation region of an input: `value = u·x + c` there.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitMap {
    /// The weights `u` (eq. (8)), one per input.
    pub u: Vec<f64>,
    /// The bias `c`.
    pub c: f64,
    /// The unit's response at the input (the forward pass's value; see the module docs for which
    /// quantity).
    pub value: f64,
    /// The unit's activation at the input (after the competition; a logit for the output layer).
    pub activation: f64,
}

impl UnitMap {
    /// `u·x + c`: the response the map predicts at `x` (exact inside the region it was taken on).
    pub fn eval(&self, x: &[f64]) -> f64 {
        self.c + dot(&self.u, x)
    }
}

/// Number of units of `layer`: a hidden layer's units (maxout units, not pieces), or the output
/// layer's logits for `layer == net.hidden.len()`; `None` when there is no such layer.
pub fn layer_units(net: &PwlNet, layer: usize) -> Option<usize> {
    if layer < net.hidden.len() {
        Some(net.hidden[layer].units())
    } else if layer == net.hidden.len() {
        net.output.as_ref().map(|o| o.outputs)
    } else {
        None
    }
}

/// Checks that `layer` and `unit` name a unit of `net`, with errors naming `layer` and `unit`.
pub fn check_unit(net: &PwlNet, layer: usize, unit: usize) -> Result<()> {
    let hidden = net.hidden.len();
    let units = layer_units(net, layer).ok_or_else(|| {
        let top = if net.output.is_some() { format!(" or {hidden} for the output layer (logits)") } else { String::new() };
        Error::param("layer", layer, format!("a hidden layer from 0 (closest to the input) to {}{top}", hidden.saturating_sub(1)))
    })?;
    if unit >= units {
        return Err(Error::param("unit", unit, format!("a unit of layer {layer}: 0 to {}", units - 1)));
    }
    Ok(())
}

/// The affine map whose rows are `layer`'s pre-activations (the output layer for `hidden.len()`).
fn layer_affine(net: &PwlNet, layer: usize) -> Result<&Affine> {
    match net.hidden.get(layer) {
        Some(l) => Ok(&l.affine),
        None => net.output.as_ref().ok_or_else(|| Error::param("layer", layer, format!("a hidden layer below {}", net.hidden.len()))),
    }
}

/// First pattern bit of each hidden layer, and the total.
fn offsets(net: &PwlNet) -> Vec<usize> {
    let mut o = Vec::with_capacity(net.hidden.len() + 1);
    let mut s = 0;
    for l in &net.hidden {
        o.push(s);
        s += l.affine.outputs;
    }
    o.push(s);
    o
}

/// The response of `unit` from its layer's pre-activations `z`: (row of the layer's affine map that
/// gives it on this region, response, activation). See the module docs.
fn response(layer: Option<&PwlLayer>, z: &[f64], unit: usize) -> (usize, f64, f64) {
    let Some(layer) = layer else { return (unit, z[unit], z[unit]) };
    // The pre-activation the unit reads on this region (itself for a gate, the winning piece for a
    // pool), and its activation.
    let (k, activation) = layer.rules().output(z, unit).unwrap_or((unit, 0.0));
    (k, z[k], activation)
}

fn bit(pattern: &[u64], i: usize) -> bool {
    pattern[i / 64] >> (i % 64) & 1 == 1
}

/// The selection of layer `layer`'s outputs from its pre-activations on the region of `pattern`:
/// output `i` equals `coef * z[k]` for the returned `(k, coef)` (`coef` 0, 1 or -1).
fn selection(layer: &PwlLayer, pattern: &[u64], offset: usize) -> Vec<(usize, f64)> {
    layer.rules().selection(layer.units(), |i| bit(pattern, offset + i)).map(|(k, coef)| (k, f64::from(coef))).collect()
}

/// Eq. (8) for several rows of `layer`'s affine map at once: carries each row down through the
/// selections of the layers below (read from `pattern`, which needs the bits of the layers below
/// `layer` only), returning `(u, c)` per row. Each weight row below is read once for all rows.
fn backprop(net: &PwlNet, top: &Affine, pattern: &[u64], layer: usize, rows: &[usize]) -> Vec<(Vec<f64>, f64)> {
    let mut r: Vec<Vec<f64>> = rows.iter().map(|&k| top.row(k).to_vec()).collect();
    let mut c: Vec<f64> = rows.iter().map(|&k| top.bias[k]).collect();
    let offsets = offsets(net);
    for p in (0..layer).rev() {
        let l = &net.hidden[p];
        let sel = selection(l, pattern, offsets[p]);
        let mut next = vec![vec![0.0; l.affine.inputs]; rows.len()];
        for (i, &(k, coef)) in sel.iter().enumerate() {
            if coef == 0.0 {
                continue;
            }
            let w = l.affine.row(k);
            let b = l.affine.bias[k];
            for ((rn, nn), cn) in r.iter().zip(next.iter_mut()).zip(c.iter_mut()) {
                let a = rn[i] * coef;
                if a != 0.0 {
                    *cn += a * b;
                    for (o, &wv) in nn.iter_mut().zip(w) {
                        *o += a * wv;
                    }
                }
            }
        }
        r = next;
    }
    r.into_iter().zip(c).collect()
}

/// Maps computed together by one matrix product per layer in [`LayerPass::maps_many`].
const BACKWARD_BATCH: usize = 64;

/// [`backprop`] for rows that each have their own pattern, as dense matrix products: the rows carried
/// down to layer `p`'s outputs are multiplied by the selection (zero where a pre-activation does not
/// pass), then by `W_p` as one product for all rows. Twice the arithmetic of the sparse form on a
/// ReLU layer, but at matrix-product speed instead of memory speed.
fn backprop_batch(net: &PwlNet, top: &Affine, layer: usize, rows: &[(&[u64], usize)]) -> Vec<(Vec<f64>, f64)> {
    let m = rows.len();
    let mut width = top.inputs;
    let mut r: Vec<f64> = rows.iter().flat_map(|&(_, k)| top.row(k).iter().copied()).collect();
    let mut c: Vec<f64> = rows.iter().map(|&(_, k)| top.bias[k]).collect();
    let offsets = offsets(net);
    for p in (0..layer).rev() {
        let l = &net.hidden[p];
        let (pre, inputs) = (l.affine.outputs, l.affine.inputs);
        let mut rp = vec![0.0; m * pre];
        for ((&(pattern, _), rr), (rpr, cr)) in rows.iter().zip(r.chunks_exact(width)).zip(rp.chunks_exact_mut(pre).zip(c.iter_mut())) {
            for (i, (k, coef)) in selection(l, pattern, offsets[p]).into_iter().enumerate() {
                let a = rr[i] * coef;
                rpr[k] = a;
                *cr += a * l.affine.bias[k];
            }
        }
        let mut next = vec![0.0; m * inputs];
        // SAFETY: `rp` is m x pre (row stride pre), `l.affine.weight` pre x inputs (row stride inputs),
        // `next` m x inputs (row stride inputs), all row-major with the lengths built just above and
        // checked by `Affine::new`; `next` is a fresh buffer that aliases neither.
        unsafe {
            gemm::gemm(
                m,
                inputs,
                pre,
                next.as_mut_ptr(),
                1,
                inputs as isize,
                false,
                rp.as_ptr(),
                1,
                pre as isize,
                l.affine.weight.as_ptr(),
                1,
                inputs as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        r = next;
        width = inputs;
    }
    r.chunks_exact(width.max(1)).map(<[f64]>::to_vec).zip(c).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The affine map `u·x + c` of unit `unit` of layer `layer` (0-based; `net.hidden.len()` = the output
/// layer's logits) on the activation region holding `x` (eq. (8), generalised to every competition;
/// see the module docs for which quantity of a unit is mapped).
pub fn unit_map(net: &PwlNet, x: &[f64], layer: usize, unit: usize) -> Result<UnitMap> {
    check_unit(net, layer, unit)?;
    let trace = net.forward(x)?;
    map_from_trace(net, &trace, layer, unit)
}

fn map_from_trace(net: &PwlNet, trace: &super::net::Trace, layer: usize, unit: usize) -> Result<UnitMap> {
    let z = match trace.pre.get(layer) {
        Some(z) => z.as_slice(),
        None => trace.logits.as_deref().unwrap_or(&[]),
    };
    let (row, value, activation) = response(net.hidden.get(layer), z, unit);
    let (u, c) = backprop(net, layer_affine(net, layer)?, &trace.pattern, layer, &[row]).pop().unwrap_or_default();
    Ok(UnitMap { u, c, value, activation })
}

/// `rows * outputs` values `x Wᵀ + b` for `rows` rows of `x` (`rows * inputs` values).
fn affine_rows(a: &Affine, x: &[f64], rows: usize) -> Vec<f64> {
    assert_eq!(x.len(), rows * a.inputs, "affine_rows: input length");
    let mut z = Vec::with_capacity(rows * a.outputs);
    for _ in 0..rows {
        z.extend_from_slice(&a.bias);
    }
    if rows == 0 || a.outputs == 0 || a.inputs == 0 {
        return z;
    }
    // SAFETY: `z` holds rows x outputs (row stride outputs), `x` rows x inputs (row stride inputs),
    // and Wᵀ is read from the [outputs, inputs] row-major `a.weight` with element (k, j) at
    // j * inputs + k; the lengths were checked above and by `Affine::new`, and `z` is a fresh buffer
    // that aliases neither input.
    unsafe {
        gemm::gemm(
            rows,
            a.outputs,
            a.inputs,
            z.as_mut_ptr(),
            1,
            a.outputs as isize,
            true,
            x.as_ptr(),
            1,
            a.inputs as isize,
            a.weight.as_ptr(),
            a.inputs as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    z
}

/// Examples per batch of the forward pass in [`LayerPass::new`].
const BATCH: usize = 128;

/// The forward pass of a dataset up to one layer: what the maps of that layer's units need.
#[derive(Clone, Debug)]
pub struct LayerPass<'a> {
    net: &'a PwlNet,
    rows: &'a [f64],
    layer: usize,
    n: usize,
    /// Pattern words per example (bits of the layers below `layer`; at least 1).
    words: usize,
    patterns: Vec<u64>,
    /// Width of `layer`'s pre-activations.
    width: usize,
    /// The affine map of `layer`'s pre-activations.
    top: &'a Affine,
    pre: Vec<f64>,
}

impl<'a> LayerPass<'a> {
    /// Runs `net` on `rows` (examples of `net.input` values, concatenated) up to layer `layer`
    /// (`net.hidden.len()`: the output layer), in parallel batches.
    pub fn new(net: &'a PwlNet, rows: &'a [f64], layer: usize) -> Result<Self> {
        // Every layer has at least one unit, so this checks the layer.
        check_unit(net, layer, 0)?;
        if !rows.len().is_multiple_of(net.input) {
            return Err(Error::shape("examples", format!("{} values", rows.len()), format!("a multiple of the input width {}", net.input)));
        }
        if let Some(i) = rows.iter().position(|v| !v.is_finite()) {
            return Err(Error::param(format!("feature {} of example {}", i % net.input, i / net.input), rows[i], "finite values"));
        }
        let n = rows.len() / net.input;
        let offs = offsets(net);
        let words = offs[layer].div_ceil(64).max(1);
        let top = layer_affine(net, layer)?;
        let width = top.outputs;
        let mut patterns = vec![0u64; n * words];
        let mut pre = vec![0.0; n * width];
        patterns.par_chunks_mut(BATCH * words).zip(pre.par_chunks_mut(BATCH * width)).zip(rows.par_chunks(BATCH * net.input)).for_each(
            |((pat, pre), x)| {
                let m = x.len() / net.input;
                let mut cur = x.to_vec();
                for (p, l) in net.hidden[..layer].iter().enumerate() {
                    let z = affine_rows(&l.affine, &cur, m);
                    let units = l.units();
                    let mut out = vec![0.0; m * units];
                    for ((zr, or), pr) in z.chunks_exact(l.affine.outputs).zip(out.chunks_exact_mut(units)).zip(pat.chunks_exact_mut(words))
                    {
                        l.compete(zr, or, pr, offs[p]);
                    }
                    cur = out;
                }
                pre.copy_from_slice(&affine_rows(top, &cur, m));
            },
        );
        Ok(LayerPass { net, rows, layer, n, words, patterns, width, top, pre })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there is no example.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The layer (0-based; `net.hidden.len()` is the output layer).
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// Example `i`'s input values.
    pub fn example(&self, i: usize) -> &'a [f64] {
        &self.rows[i * self.net.input..(i + 1) * self.net.input]
    }

    fn pattern(&self, i: usize) -> &[u64] {
        &self.patterns[i * self.words..(i + 1) * self.words]
    }

    fn respond(&self, i: usize, unit: usize) -> (usize, f64, f64) {
        response(self.net.hidden.get(self.layer), &self.pre[i * self.width..(i + 1) * self.width], unit)
    }

    /// Unit `unit`'s response and activation on every example (see the module docs).
    pub fn responses(&self, unit: usize) -> Result<Vec<(f64, f64)>> {
        check_unit(self.net, self.layer, unit)?;
        Ok((0..self.n).map(|i| self.respond(i, unit)).map(|(_, v, a)| (v, a)).collect())
    }

    /// The maps of `unit` at every example (or those where its activation is positive), in example
    /// order, each with the example's index.
    pub fn maps(&self, unit: usize, positive_only: bool) -> Result<Vec<(usize, UnitMap)>> {
        Ok(self.maps_many(&[unit], positive_only)?.pop().unwrap_or_default())
    }

    /// [`LayerPass::maps`] for several units at once: one list per unit, in the order given. Each
    /// weight row is read once per example for all of them.
    pub fn maps_many(&self, units: &[usize], positive_only: bool) -> Result<Vec<Vec<(usize, UnitMap)>>> {
        for &j in units {
            check_unit(self.net, self.layer, j)?;
        }
        // One entry per (example, unit) kept, in example order: (example, slot, row, value, activation).
        let entries: Vec<(usize, usize, usize, f64, f64)> = (0..self.n)
            .flat_map(|i| {
                units.iter().enumerate().filter_map(move |(s, &j)| {
                    let (row, value, activation) = self.respond(i, j);
                    (!positive_only || activation > 0.0).then_some((i, s, row, value, activation))
                })
            })
            .collect();
        let maps: Vec<(Vec<f64>, f64)> = entries
            .par_chunks(BACKWARD_BATCH)
            .flat_map_iter(|chunk| {
                let rows: Vec<(&[u64], usize)> = chunk.iter().map(|&(i, _, row, _, _)| (self.pattern(i), row)).collect();
                backprop_batch(self.net, self.top, self.layer, &rows)
            })
            .collect();
        let mut out: Vec<Vec<(usize, UnitMap)>> = vec![Vec::new(); units.len()];
        for ((i, s, _, value, activation), (u, c)) in entries.into_iter().zip(maps) {
            out[s].push((i, UnitMap { u, c, value, activation }));
        }
        Ok(out)
    }

    /// Inputs that `unit` maps to exactly `target`, found from the `count` examples whose response is
    /// closest to it (see [`identify`]).
    pub fn identify(&self, unit: usize, target: f64, count: usize) -> Result<Vec<Identified>> {
        check_unit(self.net, self.layer, unit)?;
        if !target.is_finite() {
            return Err(Error::param("target", target, "a finite value"));
        }
        let mut order: Vec<(f64, usize)> = (0..self.n).map(|i| ((self.respond(i, unit).1 - target).abs(), i)).collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        order.par_iter().take(count).map(|&(_, i)| move_to_target(self.net, self.example(i), i, self.layer, unit, target)).collect()
    }
}

/// The maps of unit `unit` of layer `layer` at each example of `rows` (`net.input` values each,
/// concatenated), or at those where its activation is positive: `(example index, map)` in example
/// order. The forward pass is batched and both passes run in parallel.
pub fn unit_maps(net: &PwlNet, rows: &[f64], layer: usize, unit: usize, positive_only: bool) -> Result<Vec<(usize, UnitMap)>> {
    check_unit(net, layer, unit)?;
    LayerPass::new(net, rows, layer)?.maps(unit, positive_only)
}

/// An input that a unit maps to a target value, found from a data example (section 2.6, Fig. 10).
#[derive(Clone, Debug, PartialEq)]
pub struct Identified {
    /// Index of the example it started from.
    pub source: usize,
    /// The unit's response at the source example.
    pub source_value: f64,
    /// The point found.
    pub x: Vec<f64>,
    /// The unit's response at `x` by a forward pass (equal to the target when `reached`).
    pub value: f64,
    /// The unit's activation at `x` (after the competition).
    pub activation: f64,
    /// Moves along a map taken (1 when the first stays in the source's region).
    pub steps: usize,
    /// Whether the forward pass at `x` gives the target within [`IDENTIFY_TOLERANCE`] relative.
    pub reached: bool,
    /// Whether `x` lies in the source's region of the unit's map: the same pattern in every layer
    /// below the unit's (and, for maxout, the same winning piece), so that the source's map `u·x + c`
    /// still holds at `x`.
    pub same_region: bool,
    /// Whether `x` has the source's whole activation pattern (every hidden layer).
    pub same_pattern: bool,
    /// Euclidean distance from the source example to `x`.
    pub distance: f64,
}

/// Relative tolerance of [`identify`]: `|f(x) - t| <= IDENTIFY_TOLERANCE * max(|t|, |f(source)|)`.
pub const IDENTIFY_TOLERANCE: f64 = 1e-9;

/// Most moves [`identify`] makes from one example before giving up (`reached: false`).
pub const IDENTIFY_MAX_STEPS: usize = 50;

/// The key of the region on which a unit's map holds: the pattern bits of the layers below its layer
/// and, for a maxout unit, its winning piece.
fn region_key(net: &PwlNet, trace: &super::net::Trace, layer: usize, unit: usize) -> (Vec<u64>, usize) {
    let bits = offsets(net)[layer];
    let mut key: Vec<u64> = trace.pattern[..bits.div_ceil(64)].to_vec();
    if !bits.is_multiple_of(64)
        && let Some(last) = key.last_mut()
    {
        *last &= (1u64 << (bits % 64)) - 1;
    }
    let row = match trace.pre.get(layer) {
        Some(z) => response(net.hidden.get(layer), z, unit).0,
        None => unit,
    };
    (key, row)
}

fn move_to_target(net: &PwlNet, source: &[f64], index: usize, layer: usize, unit: usize, target: f64) -> Result<Identified> {
    let first = net.forward(source)?;
    let m0 = map_from_trace(net, &first, layer, unit)?;
    let key0 = region_key(net, &first, layer, unit);
    let tol = IDENTIFY_TOLERANCE * target.abs().max(m0.value.abs()).max(f64::MIN_POSITIVE);
    let mut x = source.to_vec();
    let mut trace = first.clone();
    let mut map = m0.clone();
    let mut steps = 0;
    while (map.value - target).abs() > tol && steps < IDENTIFY_MAX_STEPS {
        let norm2 = dot(&map.u, &map.u);
        if norm2 == 0.0 {
            break;
        }
        let s = (target - map.value) / norm2;
        for (xv, uv) in x.iter_mut().zip(&map.u) {
            *xv += s * uv;
        }
        steps += 1;
        trace = net.forward(&x)?;
        map = map_from_trace(net, &trace, layer, unit)?;
    }
    let distance = x.iter().zip(source).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
    Ok(Identified {
        source: index,
        source_value: m0.value,
        value: map.value,
        activation: map.activation,
        steps,
        reached: (map.value - target).abs() <= tol,
        same_region: region_key(net, &trace, layer, unit) == key0,
        same_pattern: trace.pattern == first.pattern,
        distance,
        x,
    })
}

/// Inputs that unit `unit` of layer `layer` maps to exactly `target` (section 2.6, appendix G,
/// Fig. 10): the `count` examples of `rows` whose response is closest to `target` (distinct examples,
/// closest first), each moved along its map `x' = x + (t - f(x)) / |u|² · u`, repeated from the new
/// point with its own map while the pattern changed on the way, at most [`IDENTIFY_MAX_STEPS`] times.
/// The value of each point found is the network's forward pass; `reached` says whether it is the
/// target within [`IDENTIFY_TOLERANCE`]. A map with `u = 0` (the unit is constant on the region)
/// cannot move and stops there.
pub fn identify(net: &PwlNet, rows: &[f64], layer: usize, unit: usize, target: f64, count: usize) -> Result<Vec<Identified>> {
    check_unit(net, layer, unit)?;
    LayerPass::new(net, rows, layer)?.identify(unit, target, count)
}

/// The rows of `maps`' weights `u`, concatenated: the points to give [`kmeans`].
pub fn stack_u(maps: &[(usize, UnitMap)]) -> Vec<f64> {
    maps.iter().flat_map(|(_, m)| m.u.iter().copied()).collect()
}

/// A k-means clustering (see [`kmeans`]).
#[derive(Clone, Debug, PartialEq)]
pub struct KMeans {
    /// Number of clusters.
    pub k: usize,
    /// Dimension of the points.
    pub dim: usize,
    /// The centres, `k * dim`, cluster `c` at `c * dim..(c + 1) * dim`, largest cluster first.
    pub centres: Vec<f64>,
    /// The cluster of each point.
    pub assignments: Vec<usize>,
    /// Points per cluster (non-increasing; 0 only when there are fewer distinct points than `k`).
    pub sizes: Vec<usize>,
    /// Sum of squared distances of the points to their centres.
    pub inertia: f64,
    /// Lloyd iterations run (centre updates).
    pub iterations: usize,
    /// Whether the assignments stopped changing before the iteration limit.
    pub converged: bool,
}

impl KMeans {
    /// Centre `c`.
    pub fn centre(&self, c: usize) -> &[f64] {
        &self.centres[c * self.dim..(c + 1) * self.dim]
    }

    /// [`spread`] of the centres of the non-empty clusters.
    pub fn spread(&self) -> f64 {
        let kept: Vec<f64> = (0..self.k).filter(|&c| self.sizes[c] > 0).flat_map(|c| self.centre(c).iter().copied()).collect();
        spread(&kept, self.dim)
    }
}

/// Squared Euclidean distance, in eight independent partial sums so that the compiler vectorises it.
fn dist2(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| (x - y) * (x - y)).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// The largest Euclidean distance between two of the centres (`dim` values each, concatenated): how
/// different a unit's linear responses are, appendix G's choice of "the most interesting units".
/// 0 for fewer than two centres.
pub fn spread(centres: &[f64], dim: usize) -> f64 {
    if dim == 0 {
        return 0.0;
    }
    let c: Vec<&[f64]> = centres.chunks_exact(dim).collect();
    let mut best = 0.0f64;
    for i in 0..c.len() {
        for j in i + 1..c.len() {
            best = best.max(dist2(c[i], c[j]));
        }
    }
    best.sqrt()
}

/// Points per task of [`assign`]: fixed, so that the sums (and so the result) do not depend on the
/// number of threads.
const ASSIGN_CHUNK: usize = 256;

/// One pass over the points: the nearest centre of each (ties to the lower index), its squared
/// distance, and per cluster the sum of its points and their number.
struct Assignment {
    near: Vec<(usize, f64)>,
    sums: Vec<f64>,
    sizes: Vec<usize>,
}

fn assign(points: &[f64], dim: usize, centres: &[f64]) -> Assignment {
    let k = centres.len() / dim;
    let parts: Vec<Assignment> = points
        .par_chunks(ASSIGN_CHUNK * dim)
        .map(|chunk| {
            let mut part = Assignment { near: Vec::with_capacity(chunk.len() / dim), sums: vec![0.0; k * dim], sizes: vec![0; k] };
            for p in chunk.chunks_exact(dim) {
                let mut best = (0, f64::INFINITY);
                for (c, ctr) in centres.chunks_exact(dim).enumerate() {
                    let d = dist2(p, ctr);
                    if d < best.1 {
                        best = (c, d);
                    }
                }
                part.near.push(best);
                part.sizes[best.0] += 1;
                for (s, v) in part.sums[best.0 * dim..(best.0 + 1) * dim].iter_mut().zip(p) {
                    *s += v;
                }
            }
            part
        })
        .collect();
    let mut all = Assignment { near: Vec::with_capacity(points.len() / dim), sums: vec![0.0; k * dim], sizes: vec![0; k] };
    for part in parts {
        all.near.extend(part.near);
        all.sums.iter_mut().zip(&part.sums).for_each(|(a, b)| *a += b);
        all.sizes.iter_mut().zip(&part.sizes).for_each(|(a, b)| *a += b);
    }
    all
}

/// k-means (Lloyd's algorithm) of the points (`dim` values each, concatenated) into `k` clusters,
/// seeded by k-means++ (Arthur and Vassilvitskii 2007: the first centre uniformly, each next one with
/// probability proportional to the squared distance to the nearest centre chosen) from `seed`, at
/// most `max_iter` iterations. An empty cluster is moved to the point farthest from its centre. The
/// clusters are numbered by decreasing size (ties: by the first point in them). The same input and
/// seed give the same result on any thread count.
pub fn kmeans(points: &[f64], dim: usize, k: usize, seed: u64, max_iter: usize) -> Result<KMeans> {
    if dim == 0 {
        return Err(Error::param("k-means dimension", 0, "at least 1"));
    }
    if !points.len().is_multiple_of(dim) {
        return Err(Error::shape("k-means points", format!("{} values", points.len()), format!("a multiple of the dimension {dim}")));
    }
    let n = points.len() / dim;
    if k == 0 || k > n {
        return Err(Error::param("k", k, format!("between 1 and the number of points ({n})")));
    }
    if let Some(i) = points.iter().position(|v| !v.is_finite()) {
        return Err(Error::param(format!("k-means point {} value {}", i / dim, i % dim), points[i], "finite values"));
    }
    let point = |i: usize| &points[i * dim..(i + 1) * dim];
    // k-means++ seeding.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centres = Vec::with_capacity(k * dim);
    centres.extend_from_slice(point(rng.random_range(0..n)));
    let mut d2: Vec<f64> = points.par_chunks(dim).map(|p| dist2(p, &centres[..dim])).collect();
    for _ in 1..k {
        let total: f64 = d2.iter().sum();
        let pick = if total > 0.0 {
            let mut r = rng.random::<f64>() * total;
            let mut pick = n - 1;
            for (i, &d) in d2.iter().enumerate() {
                if r < d {
                    pick = i;
                    break;
                }
                r -= d;
            }
            pick
        } else {
            rng.random_range(0..n)
        };
        let c = point(pick).to_vec();
        d2.par_iter_mut().zip(points.par_chunks(dim)).for_each(|(d, p)| *d = d.min(dist2(p, &c)));
        centres.extend_from_slice(&c);
    }
    // Lloyd iterations: assign, then move each centre to the mean of its points.
    let mut near: Vec<(usize, f64)> = Vec::new();
    let mut iterations = 0;
    let converged = loop {
        let next = assign(points, dim, &centres);
        let same = next.near.len() == near.len() && next.near.iter().zip(&near).all(|(a, b)| a.0 == b.0);
        near = next.near;
        if same || iterations == max_iter {
            break same;
        }
        iterations += 1;
        // Empty clusters take the points farthest from their centres.
        let mut far: Vec<usize> = Vec::new();
        if next.sizes.contains(&0) {
            far = (0..n).collect();
            far.sort_by(|&a, &b| near[b].1.total_cmp(&near[a].1).then(a.cmp(&b)));
        }
        let mut far = far.into_iter();
        for c in 0..k {
            let ctr = &mut centres[c * dim..(c + 1) * dim];
            if next.sizes[c] > 0 {
                for (x, s) in ctr.iter_mut().zip(&next.sums[c * dim..(c + 1) * dim]) {
                    *x = s / next.sizes[c] as f64;
                }
            } else if let Some(i) = far.next() {
                ctr.copy_from_slice(point(i));
            }
        }
    };
    // Number the clusters by decreasing size.
    let mut sizes = vec![0usize; k];
    let mut first = vec![usize::MAX; k];
    for (i, &(c, _)) in near.iter().enumerate() {
        sizes[c] += 1;
        first[c] = first[c].min(i);
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(first[a].cmp(&first[b])).then(a.cmp(&b)));
    let mut rank = vec![0; k];
    for (r, &c) in order.iter().enumerate() {
        rank[c] = r;
    }
    Ok(KMeans {
        k,
        dim,
        centres: order.iter().flat_map(|&c| centres[c * dim..(c + 1) * dim].iter().copied()).collect(),
        assignments: near.iter().map(|&(c, _)| rank[c]).collect(),
        sizes: order.iter().map(|&c| sizes[c]).collect(),
        inertia: near.iter().map(|&(_, d)| d).sum(),
        iterations,
        converged,
    })
}

#[cfg(test)]
mod tests {
    use super::super::net::argmax_first;
    use super::*;
    use crate::competition::Competition;
    use rand::Rng;

    fn random_net(seed: u64, input: usize, widths: &[usize], competition: Competition, outputs: usize) -> PwlNet {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut hidden = Vec::new();
        let mut width = input;
        for &w in widths {
            let pre = w * competition.pieces();
            let weight = (0..pre * width).map(|_| rng.random_range(-1.0..1.0)).collect();
            let bias = (0..pre).map(|_| rng.random_range(-0.5..0.5)).collect();
            hidden.push(PwlLayer { affine: Affine::new(width, pre, weight, bias).unwrap(), competition });
            width = w;
        }
        let weight = (0..outputs * width).map(|_| rng.random_range(-1.0..1.0)).collect();
        let bias = (0..outputs).map(|_| rng.random_range(-0.5..0.5)).collect();
        PwlNet::new(input, hidden, Some(Affine::new(width, outputs, weight, bias).unwrap())).unwrap()
    }

    fn random_rows(seed: u64, n: usize, dim: usize) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    const COMPETITIONS: [Competition; 5] = [
        Competition::Relu,
        Competition::Abs,
        Competition::Lwta { block: 2 },
        Competition::Maxout { rank: 2 },
        Competition::Maxout { rank: 3 },
    ];

    /// The forward pass's value of the quantity the module docs name.
    fn forward_value(net: &PwlNet, x: &[f64], layer: usize, unit: usize) -> (f64, f64) {
        let t = net.forward(x).unwrap();
        if layer == net.hidden.len() {
            let v = t.logits.unwrap()[unit];
            return (v, v);
        }
        let act = t.post[layer][unit];
        let v = match net.hidden[layer].competition {
            Competition::Maxout { .. } => act,
            _ => t.pre[layer][unit],
        };
        (v, act)
    }

    #[test]
    fn unit_map_matches_the_forward_pass_for_every_competition() {
        for (ci, &comp) in COMPETITIONS.iter().enumerate() {
            let net = random_net(10 + ci as u64, 5, &[6, 6, 4], comp, 3);
            let xs = random_rows(99, 20, 5);
            for x in xs.chunks(5) {
                for layer in 0..=3 {
                    for unit in 0..layer_units(&net, layer).unwrap() {
                        let m = unit_map(&net, x, layer, unit).unwrap();
                        let (v, a) = forward_value(&net, x, layer, unit);
                        assert!((m.eval(x) - v).abs() <= 1e-9 * (1.0 + v.abs()), "{comp} layer {layer} unit {unit}: {} vs {v}", m.eval(x));
                        assert_eq!(m.value, v);
                        assert_eq!(m.activation, a);
                    }
                }
            }
        }
    }

    #[test]
    fn unit_map_is_the_local_linearisation() {
        // A small move inside the region changes the value by u·dx (finite differences).
        for (ci, &comp) in COMPETITIONS.iter().enumerate() {
            let net = random_net(30 + ci as u64, 4, &[6, 6], comp, 2);
            let x = random_rows(7, 1, 4);
            let m = unit_map(&net, &x, 2, 1).unwrap();
            let pat = net.pattern(&x).unwrap();
            for d in 0..4 {
                let mut y = x.clone();
                y[d] += 1e-7;
                if net.pattern(&y).unwrap() != pat {
                    continue;
                }
                let (v, _) = forward_value(&net, &y, 2, 1);
                assert!(((v - m.value) / 1e-7 - m.u[d]).abs() < 1e-5, "{comp} d {d}");
            }
        }
    }

    #[test]
    fn first_layer_maps_are_weight_rows() {
        let net = random_net(3, 6, &[4, 3], Competition::Relu, 2);
        let x = random_rows(4, 1, 6);
        for j in 0..4 {
            let m = unit_map(&net, &x, 0, j).unwrap();
            assert_eq!(m.u, net.hidden[0].affine.row(j));
            assert_eq!(m.c, net.hidden[0].affine.bias[j]);
        }
        // Maxout: the winning piece's row.
        let net = random_net(5, 6, &[4], Competition::Maxout { rank: 3 }, 2);
        let t = net.forward(&x).unwrap();
        for j in 0..4 {
            let w = argmax_first(&t.pre[0][j * 3..j * 3 + 3]);
            assert_eq!(unit_map(&net, &x, 0, j).unwrap().u, net.hidden[0].affine.row(j * 3 + w));
        }
    }

    #[test]
    fn output_map_of_one_relu_layer_is_w2_diag_w1() {
        let net = random_net(8, 3, &[7], Competition::Relu, 2);
        let x = random_rows(9, 1, 3);
        let t = net.forward(&x).unwrap();
        let (l1, out) = (&net.hidden[0].affine, net.output.as_ref().unwrap());
        for o in 0..2 {
            let m = unit_map(&net, &x, 1, o).unwrap();
            let s: Vec<f64> = t.pre[0].iter().map(|&z| if z > 0.0 { 1.0 } else { 0.0 }).collect();
            for i in 0..3 {
                let want: f64 = (0..7).map(|h| out.row(o)[h] * s[h] * l1.row(h)[i]).sum();
                assert!((m.u[i] - want).abs() < 1e-12);
            }
            let c: f64 = out.bias[o] + (0..7).map(|h| out.row(o)[h] * s[h] * l1.bias[h]).sum::<f64>();
            assert!((m.c - c).abs() < 1e-12);
        }
    }

    #[test]
    fn batched_maps_equal_single_maps() {
        for (ci, &comp) in COMPETITIONS.iter().enumerate() {
            let net = random_net(50 + ci as u64, 5, &[6, 6], comp, 3);
            let rows = random_rows(51, 300, 5);
            for layer in 0..=2 {
                let pass = LayerPass::new(&net, &rows, layer).unwrap();
                let all = pass.maps(1, false).unwrap();
                assert_eq!(all.len(), 300);
                let pos = pass.maps(1, true).unwrap();
                assert!(pos.iter().all(|(_, m)| m.activation > 0.0));
                assert_eq!(pos.len(), all.iter().filter(|(_, m)| m.activation > 0.0).count());
                let many = pass.maps_many(&[2, 0, 1], false).unwrap();
                assert_eq!(many[2], all);
                for (i, m) in &all {
                    let x = &rows[i * 5..(i + 1) * 5];
                    let single = unit_map(&net, x, layer, 1).unwrap();
                    assert!((m.value - single.value).abs() < 1e-12);
                    assert!(m.u.iter().zip(&single.u).all(|(a, b)| (a - b).abs() < 1e-12), "{comp} layer {layer} example {i}");
                    assert!((m.eval(x) - m.value).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn identify_reaches_the_target_exactly() {
        for (ci, &comp) in COMPETITIONS.iter().enumerate() {
            let net = random_net(70 + ci as u64, 6, &[8, 8, 8], comp, 3);
            let rows = random_rows(71, 200, 6);
            let pass = LayerPass::new(&net, &rows, 2).unwrap();
            let (unit, _) = (0..8)
                .map(|j| (j, pass.responses(j).unwrap().iter().filter(|r| r.1 > 0.0).count()))
                .max_by_key(|&(j, c)| (c, std::cmp::Reverse(j)))
                .unwrap();
            let mut pos: Vec<f64> = pass.responses(unit).unwrap().iter().filter(|r| r.1 > 0.0).map(|r| r.0).collect();
            pos.sort_by(f64::total_cmp);
            let target = pos[pos.len() / 2] * 1.05 + 0.01;
            let found = pass.identify(unit, target, 3).unwrap();
            assert_eq!(found.len(), 3);
            let sources: std::collections::BTreeSet<usize> = found.iter().map(|f| f.source).collect();
            assert_eq!(sources.len(), 3, "distinct examples");
            for f in &found {
                assert!(f.reached, "{comp}: {f:?}");
                let (v, _) = forward_value(&net, &f.x, 2, unit);
                assert!((v - target).abs() <= 1e-9 * target.abs(), "{comp}: {v} vs {target}");
                assert_eq!(v, f.value);
                assert!(f.steps >= 1 && f.distance > 0.0);
                // Starting examples are the closest to the target (up to the rounding of the batched pass).
                let d = (f.source_value - target).abs();
                let closer = pass.responses(unit).unwrap().iter().filter(|r| (r.0 - target).abs() < d - 1e-12).count();
                assert!(closer < 3, "{comp}: {closer} examples closer than {f:?}");
                if f.same_region {
                    // The source's own map predicts the value at the point found.
                    let m = unit_map(&net, pass.example(f.source), 2, unit).unwrap();
                    assert!((m.eval(&f.x) - target).abs() < 1e-9 * target.abs().max(1.0));
                }
            }
        }
    }

    #[test]
    fn identify_on_one_piece_takes_one_step() {
        // One ReLU layer: every first-layer unit has one map, so one step lands on the target.
        let net = random_net(90, 4, &[3], Competition::Relu, 2);
        let rows = random_rows(91, 50, 4);
        let found = identify(&net, &rows, 0, 1, 0.3, 2).unwrap();
        for f in &found {
            assert!(f.reached && f.same_region && f.steps <= 1, "{f:?}");
        }
    }

    /// Points around `centres` (uniform noise of half-width `noise`), blob `c` with `per - 5 c` points.
    fn blobs(seed: u64, centres: &[[f64; 3]], per: usize, noise: f64) -> (Vec<f64>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut pts = Vec::new();
        let mut labels = Vec::new();
        for (c, ctr) in centres.iter().enumerate() {
            for _ in 0..per - 5 * c {
                for v in ctr {
                    pts.push(v + rng.random_range(-noise..noise));
                }
                labels.push(c);
            }
        }
        (pts, labels)
    }

    #[test]
    fn kmeans_recovers_separated_blobs() {
        let centres = [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]];
        let (pts, labels) = blobs(1, &centres, 40, 1.0);
        for seed in 0..5 {
            let km = kmeans(&pts, 3, 4, seed, 100).unwrap();
            assert!(km.converged);
            assert_eq!(km.sizes.iter().sum::<usize>(), labels.len());
            // Each cluster is exactly one blob.
            let mut map = [usize::MAX; 4];
            for (&a, &l) in km.assignments.iter().zip(&labels) {
                if map[l] == usize::MAX {
                    map[l] = a;
                }
                assert_eq!(map[l], a, "seed {seed}");
            }
            let mut seen = map.to_vec();
            seen.sort();
            assert_eq!(seen, vec![0, 1, 2, 3]);
            // Centres are near the blob centres; sizes are non-increasing.
            for (l, ctr) in centres.iter().enumerate() {
                assert!(dist2(km.centre(map[l]), ctr).sqrt() < 0.5);
            }
            assert!(km.sizes.windows(2).all(|w| w[0] >= w[1]));
            let inertia: f64 = (0..labels.len()).map(|i| dist2(&pts[i * 3..i * 3 + 3], km.centre(km.assignments[i]))).sum();
            assert!((inertia - km.inertia).abs() < 1e-9);
            assert!((km.spread() - 200f64.sqrt()).abs() < 0.5);
        }
        // The same seed gives the same clustering, on any number of threads (more points than one
        // assignment task holds, so that the sums are split).
        let (many, _) = blobs(2, &centres, 400, 4.0);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| kmeans(&many, 3, 4, 7, 100).unwrap())
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(one, kmeans(&many, 3, 4, 7, 100).unwrap());
    }

    #[test]
    fn kmeans_edge_cases() {
        // Identical points: one cluster holds them all, the others stay empty.
        let pts = vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0];
        let km = kmeans(&pts, 2, 2, 0, 10).unwrap();
        assert_eq!(km.sizes, vec![3, 0]);
        assert_eq!(km.inertia, 0.0);
        assert_eq!(km.spread(), 0.0);
        assert!(kmeans(&pts, 2, 4, 0, 10).is_err());
        assert!(kmeans(&pts, 2, 0, 0, 10).is_err());
        assert!(kmeans(&pts[..5], 2, 1, 0, 10).is_err());
        assert_eq!(spread(&[0.0, 0.0, 3.0, 4.0, 1.0, 1.0], 2), 5.0);
        assert_eq!(spread(&[1.0, 2.0], 2), 0.0);
    }

    #[test]
    fn bad_layer_and_unit_are_errors() {
        let net = random_net(1, 3, &[4, 4], Competition::Relu, 2);
        let x = [0.1, 0.2, 0.3];
        let e = unit_map(&net, &x, 3, 0).unwrap_err().to_string();
        assert!(e.contains("layer = 3") && e.contains("2 for the output layer"), "{e}");
        let e = unit_map(&net, &x, 2, 2).unwrap_err().to_string();
        assert!(e.contains("unit = 2") && e.contains("0 to 1"), "{e}");
        let e = unit_map(&net, &x[..2], 0, 0).unwrap_err().to_string();
        assert!(e.contains("input width"), "{e}");
        assert!(unit_maps(&net, &[0.0; 7], 0, 0, false).is_err());
        assert!(identify(&net, &[0.0; 6], 0, 0, f64::NAN, 1).is_err());
    }
}
