//! Barnes-Hut t-SNE of binary codes (paper A, section 3.1 and Figure 3: submasks of the test set mapped
//! to two dimensions).
//!
//! t-SNE (van der Maaten & Hinton, 2008) places points in the plane so that points that are close in
//! the original space stay close. This is the Barnes-Hut variant of van der Maaten (2014, "Accelerating
//! t-SNE using tree-based algorithms", JMLR 15), which scales to the 10000 MNIST test examples:
//!
//! 1. **Sparse input affinities** (vdM 2014, section 4.1). Each point keeps only its
//!    `k = floor(3 * perplexity)` nearest neighbours, found exactly here over the packed codes
//!    ([`code_knn`]). The conditional affinities `p_{j|i} ∝ exp(-β_i δ_ij²)` over those neighbours have
//!    their `β_i` set by bisection so that the perplexity `2^H(P_i)` equals the requested one (vdM 2014,
//!    eq. 5–6); they are then symmetrised, `p_ij = (p_{j|i} + p_{i|j}) / 2n`.
//!    The squared dissimilarity `δ²` is the Hamming distance itself for [`CodeMetric::Hamming`] (it is the
//!    squared Euclidean distance between the 0/1 vectors, so this is ordinary t-SNE on the bits) and the
//!    squared Jaccard distance for [`CodeMetric::Jaccard`].
//! 2. **Gradient descent on the Kullback-Leibler divergence** with a Student-t kernel
//!    `q_ij ∝ (1 + |y_i - y_j|²)⁻¹` (vdM 2014, eq. 3 and 7–8). The gradient splits into attractive forces,
//!    a sum over the sparse `p_ij`, and repulsive forces, approximated with a quadtree: a cell of width
//!    `w` whose centre of mass is at distance `d` from the point is used as one point of the cell's
//!    count when `w / d < θ` (vdM 2014, section 4.2; `w` is the cell's side, as in scikit-learn).
//! 3. **Optimiser** as in vdM's reference code: initial positions drawn from `N(0, 10⁻⁸ I)` (standard
//!    deviation `10⁻⁴`) from a seed; early exaggeration (`p_ij` times 12) for the first 250 iterations;
//!    momentum 0.5, then 0.8 from iteration 250; per-coordinate adaptive gains (+0.2 when the gradient
//!    changes sign against the update, ×0.8 otherwise, at least 0.01); the map re-centred on the origin
//!    after each step. The learning rate is `n / (4 · 12)` unless set (Belkina et al. 2019, "Automated
//!    optimized parameters for t-SNE", in scikit-learn's gradient scale): 208 for the 10000 MNIST test
//!    points, close to vdM's fixed 200, and small enough for small maps, which a rate of 200 makes
//!    oscillate during early exaggeration.
//!
//! Every parallel step (neighbour search, bisection, forces) computes each point's value on its own and
//! sums are taken in index order, so the result depends only on the input and the seed, not on the
//! number of threads.
//!
//! ```
//! use compete::report::ProgressMode;
//! use compete::report::tsne::{CodeMetric, TsneParams, tsne_codes};
//! use compete::retrieval::BinaryCodes;
//!
//! // Two groups of 8-bit codes: low bits set, or high bits set.
//! let rows: Vec<bool> = (0..20).flat_map(|i| (0..8).map(move |b| (b < 4) == (i < 10) || b == i % 8)).collect();
//! let codes = BinaryCodes::from_bools(20, 8, &rows).unwrap();
//! let params = TsneParams { perplexity: 3.0, iterations: 300, ..TsneParams::default() };
//! let points = tsne_codes(&codes, CodeMetric::Hamming, &params, ProgressMode::Quiet).unwrap();
//! assert_eq!(points.len(), 20);
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::progress::{Progress, ProgressMode, log_line};
use crate::error::{Error, Result};
use crate::retrieval::BinaryCodes;
use crate::retrieval::codes::hamming;

/// A distance between two binary codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CodeMetric {
    /// The number of differing bits.
    #[default]
    Hamming,
    /// `1 - |a AND b| / |a OR b|`, 0 when both codes are all zero: the share of the units active for
    /// either input that are not active for both.
    Jaccard,
}

impl CodeMetric {
    /// The distance between two packed codes of the same word count.
    #[inline]
    pub fn distance(self, a: &[u64], b: &[u64]) -> f64 {
        match self {
            CodeMetric::Hamming => f64::from(hamming(a, b)),
            CodeMetric::Jaccard => jaccard(a, b),
        }
    }

    /// The squared dissimilarity `δ²` that enters the input affinities `exp(-β δ²)` (see the module
    /// docs): the Hamming distance itself, or the square of the Jaccard distance.
    #[inline]
    pub fn squared_dissimilarity(self, distance: f64) -> f64 {
        match self {
            CodeMetric::Hamming => distance,
            CodeMetric::Jaccard => distance * distance,
        }
    }
}

impl std::str::FromStr for CodeMetric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "hamming" => Ok(CodeMetric::Hamming),
            "jaccard" => Ok(CodeMetric::Jaccard),
            _ => Err(Error::param("metric", s, "hamming or jaccard")),
        }
    }
}

impl std::fmt::Display for CodeMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CodeMetric::Hamming => "Hamming",
            CodeMetric::Jaccard => "Jaccard",
        })
    }
}

/// The Jaccard distance `1 - |a AND b| / |a OR b|` of two packed codes (0 when both are all zero).
#[inline]
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (and, or) = a.iter().zip(b).fold((0u32, 0u32), |(n, u), (x, y)| (n + (x & y).count_ones(), u + (x | y).count_ones()));
    if or == 0 { 0.0 } else { 1.0 - f64::from(and) / f64::from(or) }
}

/// Settings of [`tsne_codes`] and [`tsne_knn`]. The defaults are those of van der Maaten (2014).
#[derive(Clone, Debug, PartialEq)]
pub struct TsneParams {
    /// The effective number of neighbours each point keeps (default 30); `3 * perplexity` nearest
    /// neighbours enter the affinities. Must be `> 0` and `< n / 3` for `n` points.
    pub perplexity: f64,
    /// Barnes-Hut accuracy (default 0.5): a quadtree cell of side `w` at distance `d` is summarised by its
    /// centre of mass when `w / d < theta`; 0 computes every repulsion exactly (slow). Must be `>= 0`.
    pub theta: f64,
    /// Gradient descent iterations (default 1000), at least 1.
    pub iterations: usize,
    /// Seed of the initial positions (default 0).
    pub seed: u64,
    /// Learning rate, `> 0`; `None` (the default): `n / (4 · early_exaggeration)` for `n` points (see
    /// the module docs).
    pub learning_rate: Option<f64>,
    /// Factor on the input affinities during the first [`exaggeration_iterations`](Self::exaggeration_iterations)
    /// iterations (default 12), `>= 1`.
    pub early_exaggeration: f64,
    /// Iterations with early exaggeration and momentum 0.5 (default 250); momentum is 0.8 afterwards.
    pub exaggeration_iterations: usize,
}

impl Default for TsneParams {
    fn default() -> Self {
        TsneParams {
            perplexity: 30.0,
            theta: 0.5,
            iterations: 1000,
            seed: 0,
            learning_rate: None,
            early_exaggeration: 12.0,
            exaggeration_iterations: 250,
        }
    }
}

impl TsneParams {
    /// Checks the settings for a map of `n` points; errors name the parameter, its value and the
    /// allowed range.
    pub fn check(&self, n: usize) -> Result<()> {
        if n < 2 {
            return Err(Error::param("number of points", n, "at least 2 points to map"));
        }
        let p = self.perplexity;
        if !(p.is_finite() && p > 0.0 && p < n as f64 / 3.0) {
            return Err(Error::param("perplexity", p, format!("a number > 0 and < n / 3 = {:.4} for n = {n} points", n as f64 / 3.0)));
        }
        if !(self.theta.is_finite() && self.theta >= 0.0) {
            return Err(Error::param("theta", self.theta, "a finite number >= 0 (0: exact repulsion)"));
        }
        if self.iterations == 0 {
            return Err(Error::param("iterations", 0, "at least 1"));
        }
        if let Some(lr) = self.learning_rate
            && !(lr.is_finite() && lr > 0.0)
        {
            return Err(Error::param("learning rate", lr, "a finite number > 0"));
        }
        if !(self.early_exaggeration.is_finite() && self.early_exaggeration >= 1.0) {
            return Err(Error::param("early exaggeration", self.early_exaggeration, "a finite number >= 1"));
        }
        Ok(())
    }

    /// The learning rate for `n` points: the one set, or `n / (4 · early_exaggeration)`.
    pub fn learning_rate_for(&self, n: usize) -> f64 {
        self.learning_rate.unwrap_or(n as f64 / (4.0 * self.early_exaggeration))
    }

    /// The number of neighbours that enter the affinities: `floor(3 * perplexity)`, at least 1 and at
    /// most `n - 1`.
    pub fn neighbours(&self, n: usize) -> usize {
        ((3.0 * self.perplexity).floor() as usize).clamp(1, n.saturating_sub(1).max(1))
    }
}

/// The `k` nearest other points of every point, row-major: point `i`'s neighbours are
/// `indices[i*k..(i+1)*k]`, nearest first (ties by index), with their squared dissimilarities `δ²` at
/// the same positions (see the module docs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KnnGraph {
    /// Neighbours per point.
    pub k: usize,
    /// Neighbour indices.
    pub indices: Vec<u32>,
    /// Squared dissimilarities, finite and `>= 0`.
    pub sq_distances: Vec<f64>,
}

impl KnnGraph {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.indices.len().checked_div(self.k).unwrap_or(0)
    }

    /// True when there is no point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the shape and contents (indices in range and not the point itself, finite `δ² >= 0`).
    pub fn check(&self) -> Result<()> {
        let n = self.len();
        if self.k == 0 || self.indices.len() != n * self.k || self.sq_distances.len() != self.indices.len() {
            return Err(Error::shape(
                "neighbour graph",
                format!("k = {}, {} indices, {} distances", self.k, self.indices.len(), self.sq_distances.len()),
                "k >= 1 and n * k indices and distances",
            ));
        }
        for (pos, (&j, &d)) in self.indices.iter().zip(&self.sq_distances).enumerate() {
            let i = pos / self.k;
            if j as usize >= n || j as usize == i || !(d.is_finite() && d >= 0.0) {
                return Err(Error::Data(format!(
                    "neighbour graph: neighbour {} of point {i} is point {j} at squared dissimilarity {d}; expected another point \
                     below {n} at a finite squared dissimilarity >= 0",
                    pos % self.k
                )));
            }
        }
        Ok(())
    }
}

/// The exact `k` nearest other codes of every code under `metric` (every pairwise distance over the
/// packed words; ties by index), as squared dissimilarities for t-SNE.
pub fn code_knn(codes: &BinaryCodes, metric: CodeMetric, k: usize) -> Result<KnnGraph> {
    let n = codes.len();
    if k == 0 || k >= n {
        return Err(Error::param("k (neighbours)", k, format!("between 1 and the number of codes - 1 = {}", n.saturating_sub(1))));
    }
    if n > u32::MAX as usize {
        return Err(Error::param("number of codes", n, format!("at most {}", u32::MAX)));
    }
    let mut indices = vec![0u32; n * k];
    let mut sq_distances = vec![0.0f64; n * k];
    indices.par_chunks_mut(k).zip(sq_distances.par_chunks_mut(k)).enumerate().for_each_init(
        || Vec::with_capacity(n),
        |all: &mut Vec<(f64, u32)>, (i, (idx, dist))| {
            let a = codes.code(i);
            all.clear();
            all.extend((0..n).filter(|&j| j != i).map(|j| (metric.distance(a, codes.code(j)), j as u32)));
            let order = |x: &(f64, u32), y: &(f64, u32)| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1));
            all.select_nth_unstable_by(k - 1, order);
            all[..k].sort_unstable_by(order);
            for (slot, &(d, j)) in all[..k].iter().enumerate() {
                idx[slot] = j;
                dist[slot] = metric.squared_dissimilarity(d);
            }
        },
    );
    Ok(KnnGraph { k, indices, sq_distances })
}

/// A symmetric sparse matrix in compressed rows: row `i` is `cols[rows[i]..rows[i+1]]` with `vals`.
#[derive(Clone, Debug, Default)]
struct Sparse {
    rows: Vec<usize>,
    cols: Vec<u32>,
    vals: Vec<f64>,
}

/// The conditional affinities `p_{j|i}` of one point's neighbours, with `β` set by bisection so that the
/// entropy is `ln(perplexity)` (vdM 2014, eq. 5–6). `sq` are the squared dissimilarities; the result
/// goes to `out` and sums to 1.
fn conditional_affinities(sq: &[f64], perplexity: f64, out: &mut [f64]) {
    const TOLERANCE: f64 = 1e-5;
    const MAX_STEPS: usize = 200;
    let target = perplexity.ln();
    // exp(-β (δ² - min δ²)) gives the same normalised distribution and never underflows to an all-zero row.
    let min = sq.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = sq.iter().map(|d| d - min).sum::<f64>() / sq.len() as f64;
    let mut beta = if mean > 0.0 { 1.0 / mean } else { 1.0 };
    let (mut lo, mut hi) = (0.0f64, f64::INFINITY);
    let mut sum = 1.0;
    for _ in 0..MAX_STEPS {
        let mut weighted = 0.0;
        sum = 0.0;
        for (o, &d) in out.iter_mut().zip(sq) {
            let s = d - min;
            *o = (-beta * s).exp();
            sum += *o;
            weighted += s * *o;
        }
        // sum >= 1: the nearest neighbour contributes exp(0).
        let entropy = sum.ln() + beta * weighted / sum;
        let diff = entropy - target;
        if diff.abs() < TOLERANCE {
            break;
        }
        if diff > 0.0 {
            lo = beta;
            beta = if hi.is_finite() { (beta + hi) / 2.0 } else { beta * 2.0 };
        } else {
            hi = beta;
            beta = (beta + lo) / 2.0;
        }
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

/// The symmetric input affinities `p_ij = (p_{j|i} + p_{i|j}) / 2n` of the neighbour graph.
fn input_affinities(graph: &KnnGraph, perplexity: f64) -> Sparse {
    let (n, k) = (graph.len(), graph.k);
    let mut cond = vec![0.0f64; n * k];
    cond.par_chunks_mut(k).zip(graph.sq_distances.par_chunks(k)).for_each(|(out, sq)| conditional_affinities(sq, perplexity, out));
    // Both (i, j) and (j, i) of every entry, sorted, duplicates summed.
    let mut entries: Vec<(u32, u32, f64)> = Vec::with_capacity(2 * n * k);
    for (pos, (&j, &p)) in graph.indices.iter().zip(&cond).enumerate() {
        let i = (pos / k) as u32;
        entries.push((i, j, p));
        entries.push((j, i, p));
    }
    entries.par_sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let scale = 1.0 / (2.0 * n as f64);
    let mut m = Sparse { rows: vec![0; n + 1], cols: Vec::with_capacity(2 * n * k), vals: Vec::with_capacity(2 * n * k) };
    let mut last: Option<(u32, u32)> = None;
    for (i, j, p) in entries {
        if last == Some((i, j)) {
            if let Some(v) = m.vals.last_mut() {
                *v += p * scale;
            }
        } else {
            m.cols.push(j);
            m.vals.push(p * scale);
            m.rows[i as usize + 1] += 1;
            last = Some((i, j));
        }
    }
    for i in 0..n {
        m.rows[i + 1] += m.rows[i];
    }
    m
}

/// A node of the [`QuadTree`].
#[derive(Clone, Copy, Debug, Default)]
struct Node {
    /// Centre of mass of the points in the cell.
    com: [f64; 2],
    /// Number of points in the cell.
    count: u32,
    /// Side of the (square) cell.
    width: f64,
    /// Index of the first of 4 consecutive children; 0 for a leaf.
    children: u32,
    /// For a leaf: its points are `order[start..end]`.
    start: u32,
    /// See `start`.
    end: u32,
}

/// A region quadtree over the map's points (vdM 2014, section 4.2).
struct QuadTree {
    nodes: Vec<Node>,
    order: Vec<u32>,
}

/// Cells are split no deeper than this; a deeper cell keeps all its points in one leaf (points at
/// identical positions).
const MAX_DEPTH: usize = 48;

impl QuadTree {
    /// Builds the tree of `y`.
    fn new(y: &[[f64; 2]]) -> QuadTree {
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in y {
            for d in 0..2 {
                lo[d] = lo[d].min(p[d]);
                hi[d] = hi[d].max(p[d]);
            }
        }
        let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        let width = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-12) * (1.0 + 1e-9);
        let mut tree = QuadTree { nodes: vec![Node::default()], order: (0..y.len() as u32).collect() };
        tree.build(y, 0, 0, y.len(), centre, width, 0);
        tree
    }

    /// Fills node `at`, a cell of side `width` around `centre` holding `order[start..end]`.
    #[allow(clippy::too_many_arguments)]
    fn build(&mut self, y: &[[f64; 2]], at: usize, start: usize, end: usize, centre: [f64; 2], width: f64, depth: usize) {
        let count = end - start;
        let mut com = [0.0; 2];
        for &i in &self.order[start..end] {
            com[0] += y[i as usize][0];
            com[1] += y[i as usize][1];
        }
        if count > 0 {
            com = [com[0] / count as f64, com[1] / count as f64];
        }
        self.nodes[at] = Node { com, count: count as u32, width, children: 0, start: start as u32, end: end as u32 };
        if count <= 1 || depth >= MAX_DEPTH {
            return;
        }
        // Quadrant q: bit 0 set when x >= centre x, bit 1 when y >= centre y.
        let slice = &mut self.order[start..end];
        let split_y = |s: &mut [u32]| partition(s, |i| y[i as usize][1] < centre[1]);
        let mid = start + partition(slice, |i| y[i as usize][0] < centre[0]);
        let (left, right) = self.order[start..end].split_at_mut(mid - start);
        let bounds = [start, start + split_y(left), mid, mid + split_y(right), end];
        let first = self.nodes.len();
        self.nodes.resize(first + 4, Node::default());
        self.nodes[at].children = first as u32;
        let quarter = width / 4.0;
        // Order of `bounds`: (x <, y <), (x <, y >=), (x >=, y <), (x >=, y >=).
        let offsets = [[-quarter, -quarter], [-quarter, quarter], [quarter, -quarter], [quarter, quarter]];
        for (c, off) in offsets.iter().enumerate() {
            let child_centre = [centre[0] + off[0], centre[1] + off[1]];
            self.build(y, first + c, bounds[c], bounds[c + 1], child_centre, width / 2.0, depth + 1);
        }
    }

    /// The repulsive force on point `i` at `yi` (unnormalised: `Σ_j q_ij² (y_i - y_j)` with
    /// `q_ij = 1 / (1 + |y_i - y_j|²)`) and its share `Σ_j q_ij` of the normaliser `Z`, Barnes-Hut style.
    fn repulsion(&self, y: &[[f64; 2]], i: usize, theta2: f64, stack: &mut Vec<u32>) -> ([f64; 2], f64) {
        let yi = y[i];
        let (mut f, mut z) = ([0.0f64; 2], 0.0f64);
        stack.clear();
        stack.push(0);
        while let Some(at) = stack.pop() {
            let node = &self.nodes[at as usize];
            if node.count == 0 {
                continue;
            }
            if node.children == 0 {
                for &j in &self.order[node.start as usize..node.end as usize] {
                    if j as usize == i {
                        continue;
                    }
                    let d = [yi[0] - y[j as usize][0], yi[1] - y[j as usize][1]];
                    let q = 1.0 / (1.0 + d[0] * d[0] + d[1] * d[1]);
                    z += q;
                    f[0] += q * q * d[0];
                    f[1] += q * q * d[1];
                }
                continue;
            }
            let d = [yi[0] - node.com[0], yi[1] - node.com[1]];
            let dist2 = d[0] * d[0] + d[1] * d[1];
            if node.width * node.width < theta2 * dist2 {
                let q = 1.0 / (1.0 + dist2);
                let m = f64::from(node.count) * q;
                z += m;
                f[0] += m * q * d[0];
                f[1] += m * q * d[1];
            } else {
                let c = node.children;
                stack.extend_from_slice(&[c, c + 1, c + 2, c + 3]);
            }
        }
        (f, z)
    }
}

/// Moves the items for which `left` holds to the front (order within each side not kept); returns how
/// many there are.
fn partition(s: &mut [u32], left: impl Fn(u32) -> bool) -> usize {
    let mut k = 0;
    for m in 0..s.len() {
        if left(s[m]) {
            s.swap(k, m);
            k += 1;
        }
    }
    k
}

/// The attractive force on every point, `Σ_j p_ij q_ij (y_i - y_j)` (vdM 2014, eq. 8, first term).
fn attraction(p: &Sparse, y: &[[f64; 2]]) -> Vec<[f64; 2]> {
    (0..y.len())
        .into_par_iter()
        .map(|i| {
            let yi = y[i];
            let mut f = [0.0f64; 2];
            for e in p.rows[i]..p.rows[i + 1] {
                let yj = y[p.cols[e] as usize];
                let d = [yi[0] - yj[0], yi[1] - yj[1]];
                let w = p.vals[e] / (1.0 + d[0] * d[0] + d[1] * d[1]);
                f[0] += w * d[0];
                f[1] += w * d[1];
            }
            f
        })
        .collect()
}

/// Repulsive forces and the normaliser `Z = Σ_{i≠j} q_ij` (Barnes-Hut).
fn repulsion(y: &[[f64; 2]], theta: f64) -> (Vec<[f64; 2]>, f64) {
    let tree = QuadTree::new(y);
    let theta2 = theta * theta;
    let per_point: Vec<([f64; 2], f64)> =
        (0..y.len()).into_par_iter().map_init(Vec::new, |stack, i| tree.repulsion(y, i, theta2, stack)).collect();
    // Summed in index order: the same result for any number of threads.
    let z = per_point.iter().map(|r| r.1).sum::<f64>();
    (per_point.into_iter().map(|r| r.0).collect(), z)
}

/// The KL divergence `Σ p_ij ln(p_ij / q_ij)` over the sparse input affinities, with `q_ij` normalised by
/// `z` (vdM 2014, eq. 2; the pairs outside the neighbour graph have `p_ij = 0` and add nothing).
fn kl_divergence(p: &Sparse, y: &[[f64; 2]], z: f64) -> f64 {
    (0..y.len())
        .into_par_iter()
        .map(|i| {
            let mut c = 0.0;
            for e in p.rows[i]..p.rows[i + 1] {
                let yj = y[p.cols[e] as usize];
                let d2 = (y[i][0] - yj[0]).powi(2) + (y[i][1] - yj[1]).powi(2);
                let q = 1.0 / ((1.0 + d2) * z);
                let pij = p.vals[e];
                if pij > 0.0 {
                    c += pij * (pij / q.max(f64::MIN_POSITIVE)).ln();
                }
            }
            c
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum()
}

/// One draw from the standard normal distribution (Box-Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // 1 - u is in (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A t-SNE map.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    /// One 2-D position per point, in input order, centred on the origin.
    pub points: Vec<[f32; 2]>,
    /// The KL divergence of the final map over the sparse affinities (lower is a more faithful map).
    pub kl_divergence: f64,
}

/// Iterations between two KL divergence reports on the progress line.
const REPORT_EVERY: usize = 50;

/// Barnes-Hut t-SNE from a neighbour graph (steps 1 to 3 of the module docs).
pub fn tsne_knn(graph: &KnnGraph, params: &TsneParams, mode: ProgressMode) -> Result<Embedding> {
    graph.check()?;
    let n = graph.len();
    params.check(n)?;
    let p = input_affinities(graph, params.perplexity);

    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut y: Vec<[f64; 2]> = (0..n).map(|_| [1e-4 * normal(&mut rng), 1e-4 * normal(&mut rng)]).collect();
    let mut update = vec![[0.0f64; 2]; n];
    let mut gains = vec![[1.0f64; 2]; n];
    let learning_rate = params.learning_rate_for(n);
    let progress = Progress::with_mode("t-SNE", params.iterations as u64, mode);
    for it in 0..params.iterations {
        let exaggerating = it < params.exaggeration_iterations;
        let exaggeration = if exaggerating { params.early_exaggeration } else { 1.0 };
        let momentum = if exaggerating { 0.5 } else { 0.8 };
        let attract = attraction(&p, &y);
        let (repel, z) = repulsion(&y, params.theta);
        let z = z.max(f64::MIN_POSITIVE);
        for i in 0..n {
            for d in 0..2 {
                // dC/dy_i = 4 (Σ_j p_ij q_ij Z (y_i - y_j) - Σ_j q_ij² Z (y_i - y_j)), vdM 2014 eq. 7-8.
                let grad = 4.0 * (exaggeration * attract[i][d] - repel[i][d] / z);
                let g = &mut gains[i][d];
                *g = if (grad > 0.0) != (update[i][d] > 0.0) { *g + 0.2 } else { *g * 0.8 };
                *g = g.max(0.01);
                update[i][d] = momentum * update[i][d] - learning_rate * *g * grad;
                y[i][d] += update[i][d];
            }
        }
        let mean = y.iter().fold([0.0f64; 2], |m, p| [m[0] + p[0], m[1] + p[1]]);
        let mean = [mean[0] / n as f64, mean[1] / n as f64];
        for p in &mut y {
            p[0] -= mean[0];
            p[1] -= mean[1];
        }
        if y.iter().any(|p| !(p[0].is_finite() && p[1].is_finite())) {
            return Err(Error::Data(format!(
                "t-SNE diverged at iteration {}: a position became non-finite; try a lower learning rate than {learning_rate}",
                it + 1
            )));
        }
        if (it + 1) % REPORT_EVERY == 0 {
            progress.set_message(&format!("KL divergence {:.4}", kl_divergence(&p, &y, z)));
        }
        progress.inc(1);
    }
    let (_, z) = repulsion(&y, params.theta);
    let kl = kl_divergence(&p, &y, z.max(f64::MIN_POSITIVE));
    progress.finish(&format!("KL divergence {kl:.4}"));
    Ok(Embedding { points: y.iter().map(|p| [p[0] as f32, p[1] as f32]).collect(), kl_divergence: kl })
}

/// Barnes-Hut t-SNE of binary codes under `metric` (see the module docs): exact nearest neighbours over
/// the packed codes, then [`tsne_knn`]. Returns one 2-D point per code, deterministic from
/// `params.seed`.
pub fn tsne_codes(codes: &BinaryCodes, metric: CodeMetric, params: &TsneParams, mode: ProgressMode) -> Result<Vec<[f32; 2]>> {
    Ok(tsne_codes_full(codes, metric, params, mode)?.points)
}

/// [`tsne_codes`], also returning the final KL divergence.
pub fn tsne_codes_full(codes: &BinaryCodes, metric: CodeMetric, params: &TsneParams, mode: ProgressMode) -> Result<Embedding> {
    params.check(codes.len())?;
    let k = params.neighbours(codes.len());
    if !matches!(mode, ProgressMode::Quiet) {
        log_line(&format!("t-SNE: {k} nearest neighbours of {} codes of {} bits by {metric} distance", codes.len(), codes.bits()));
    }
    let graph = code_knn(codes, metric, k)?;
    tsne_knn(&graph, params, mode)
}

/// The share of points whose nearest other point in the map has their label: near 1 when the classes
/// form separate clusters, about `Σ_c share_c²` (0.1 for ten equal classes) when the map ignores them.
/// Exact (every pair); 0 for fewer than 2 points. `labels` must have one label per point.
pub fn neighbour_agreement(points: &[[f32; 2]], labels: &[u8]) -> Result<f64> {
    if points.len() != labels.len() {
        return Err(Error::shape(
            "map points against labels",
            format!("{} labels", labels.len()),
            format!("{} labels, one per point", points.len()),
        ));
    }
    let n = points.len();
    if n < 2 {
        return Ok(0.0);
    }
    let agree: usize = (0..n)
        .into_par_iter()
        .map(|i| {
            let (mut best, mut best_d) = (usize::MAX, f32::INFINITY);
            for (j, q) in points.iter().enumerate() {
                let d = (points[i][0] - q[0]).powi(2) + (points[i][1] - q[1]).powi(2);
                if j != i && d < best_d {
                    (best, best_d) = (j, d);
                }
            }
            usize::from(best != usize::MAX && labels[best] == labels[i])
        })
        .sum();
    Ok(agree as f64 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clusters` groups of `per` codes of `bits` bits: a random centre each, `flips` random bits flipped.
    fn clustered_codes(clusters: usize, per: usize, bits: usize, flips: usize, seed: u64) -> (BinaryCodes, Vec<u8>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut flags = Vec::with_capacity(clusters * per * bits);
        let mut labels = Vec::new();
        let centres: Vec<Vec<bool>> = (0..clusters).map(|_| (0..bits).map(|_| rng.random::<bool>()).collect()).collect();
        for i in 0..clusters * per {
            // Interleave the clusters so that index order says nothing about the label.
            let c = i % clusters;
            let mut code = centres[c].clone();
            for _ in 0..flips {
                let b = rng.random_range(0..bits);
                code[b] = !code[b];
            }
            flags.extend(code);
            labels.push(c as u8);
        }
        (BinaryCodes::from_bools(clusters * per, bits, &flags).unwrap(), labels)
    }

    fn fast(perplexity: f64, iterations: usize, seed: u64) -> TsneParams {
        TsneParams { perplexity, iterations, seed, ..TsneParams::default() }
    }

    #[test]
    fn jaccard_and_hamming_distances() {
        let a = [0b1111u64, 0];
        let b = [0b0011u64, 1];
        assert_eq!(CodeMetric::Hamming.distance(&a, &b), 3.0);
        // AND = 2 bits, OR = 5 bits.
        assert!((jaccard(&a, &b) - 0.6).abs() < 1e-12);
        assert_eq!(jaccard(&[0, 0], &[0, 0]), 0.0);
        assert_eq!(jaccard(&[0, 0], &[1, 0]), 1.0);
        assert_eq!(jaccard(&a, &a), 0.0);
        assert_eq!(CodeMetric::Jaccard.squared_dissimilarity(0.5), 0.25);
        assert_eq!("Jaccard".parse::<CodeMetric>().unwrap(), CodeMetric::Jaccard);
        assert!("cosine".parse::<CodeMetric>().unwrap_err().to_string().contains("metric"));
    }

    #[test]
    fn knn_matches_a_full_sort_with_ties_by_index() {
        let (codes, _) = clustered_codes(2, 15, 20, 3, 4);
        for metric in [CodeMetric::Hamming, CodeMetric::Jaccard] {
            let g = code_knn(&codes, metric, 6).unwrap();
            g.check().unwrap();
            assert_eq!(g.len(), 30);
            for i in 0..30 {
                let mut all: Vec<(f64, u32)> =
                    (0..30).filter(|&j| j != i).map(|j| (metric.distance(codes.code(i), codes.code(j)), j as u32)).collect();
                all.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
                let want: Vec<u32> = all[..6].iter().map(|x| x.1).collect();
                assert_eq!(&g.indices[i * 6..(i + 1) * 6], &want[..], "{metric} point {i}");
                let sq: Vec<f64> = all[..6].iter().map(|x| metric.squared_dissimilarity(x.0)).collect();
                assert_eq!(&g.sq_distances[i * 6..(i + 1) * 6], &sq[..]);
            }
        }
        assert!(code_knn(&codes, CodeMetric::Hamming, 30).is_err());
        assert!(code_knn(&codes, CodeMetric::Hamming, 0).is_err());
    }

    #[test]
    fn affinities_reach_the_perplexity_and_are_symmetric() {
        let sq = [0.0, 1.0, 2.0, 4.0, 4.0, 7.0, 9.0, 12.0, 15.0, 20.0];
        let mut p = [0.0; 10];
        conditional_affinities(&sq, 4.0, &mut p);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let entropy: f64 = -p.iter().filter(|&&v| v > 0.0).map(|v| v * v.ln()).sum::<f64>();
        assert!((entropy.exp() - 4.0).abs() < 1e-3, "perplexity {}", entropy.exp());
        assert!(p.windows(2).all(|w| w[0] >= w[1]), "nearer neighbours weigh more: {p:?}");
        // All at one distance: uniform.
        let mut u = [0.0; 4];
        conditional_affinities(&[3.0; 4], 2.0, &mut u);
        assert!(u.iter().all(|&v| (v - 0.25).abs() < 1e-12), "{u:?}");

        let (codes, _) = clustered_codes(3, 10, 32, 4, 9);
        let g = code_knn(&codes, CodeMetric::Hamming, 9).unwrap();
        let m = input_affinities(&g, 3.0);
        let total: f64 = m.vals.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "sum of p_ij = {total}");
        let get = |i: usize, j: usize| (m.rows[i]..m.rows[i + 1]).find(|&e| m.cols[e] as usize == j).map(|e| m.vals[e]);
        for i in 0..30 {
            assert!(get(i, i).is_none());
            for e in m.rows[i]..m.rows[i + 1] {
                let j = m.cols[e] as usize;
                assert_eq!(get(j, i), Some(m.vals[e]), "p_{i}{j} = p_{j}{i}");
            }
        }
    }

    #[test]
    fn barnes_hut_repulsion_approaches_the_exact_sum() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let y: Vec<[f64; 2]> = (0..300).map(|_| [5.0 * normal(&mut rng), 3.0 * normal(&mut rng)]).collect();
        let (exact, z_exact) = repulsion(&y, 0.0);
        // Direct double sum.
        let mut z = 0.0;
        for i in 0..300 {
            let mut f = [0.0; 2];
            for j in 0..300 {
                if i != j {
                    let d = [y[i][0] - y[j][0], y[i][1] - y[j][1]];
                    let q = 1.0 / (1.0 + d[0] * d[0] + d[1] * d[1]);
                    z += q;
                    f[0] += q * q * d[0];
                    f[1] += q * q * d[1];
                }
            }
            assert!((f[0] - exact[i][0]).abs() < 1e-9 && (f[1] - exact[i][1]).abs() < 1e-9);
        }
        assert!((z - z_exact).abs() < 1e-7 * z);
        let (approx, z_approx) = repulsion(&y, 0.5);
        assert!((z_approx - z).abs() < 0.02 * z, "Z {z_approx} against {z}");
        let norm = |v: &[[f64; 2]]| v.iter().map(|f| f[0] * f[0] + f[1] * f[1]).sum::<f64>().sqrt();
        let err: Vec<[f64; 2]> = approx.iter().zip(&exact).map(|(a, e)| [a[0] - e[0], a[1] - e[1]]).collect();
        assert!(norm(&err) < 0.05 * norm(&exact), "relative force error {}", norm(&err) / norm(&exact));
        // Identical positions do not break the tree.
        let same = vec![[1.0, 2.0]; 70];
        let (f, z) = repulsion(&same, 0.5);
        assert!((z - 70.0 * 69.0).abs() < 1e-9 && f.iter().all(|v| v[0] == 0.0 && v[1] == 0.0));
    }

    #[test]
    fn separates_clusters_of_codes() {
        let (codes, labels) = clustered_codes(3, 40, 64, 4, 1);
        for metric in [CodeMetric::Hamming, CodeMetric::Jaccard] {
            let e = tsne_codes_full(&codes, metric, &fast(10.0, 400, 5), ProgressMode::Quiet).unwrap();
            assert_eq!(e.points.len(), 120);
            assert!(e.points.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
            let agreement = neighbour_agreement(&e.points, &labels).unwrap();
            assert!(agreement > 0.95, "{metric}: nearest 2-D neighbour has the label for {agreement}");
            assert!(e.kl_divergence.is_finite() && e.kl_divergence >= 0.0 && e.kl_divergence < 2.0, "KL {}", e.kl_divergence);
            // The clusters are apart: every point is nearer its own cluster's centre than any other's.
            let centre = |c: u8| {
                let pts: Vec<&[f32; 2]> = e.points.iter().zip(&labels).filter(|(_, l)| **l == c).map(|(p, _)| p).collect();
                let s = pts.iter().fold([0.0f32; 2], |a, p| [a[0] + p[0], a[1] + p[1]]);
                [s[0] / pts.len() as f32, s[1] / pts.len() as f32]
            };
            let centres = [centre(0), centre(1), centre(2)];
            let d2 = |a: &[f32; 2], b: &[f32; 2]| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2);
            let nearest_own = e
                .points
                .iter()
                .zip(&labels)
                .filter(|(p, l)| (0..3).all(|c| c == **l as usize || d2(p, &centres[**l as usize]) < d2(p, &centres[c])))
                .count();
            assert!(nearest_own >= 117, "{metric}: {nearest_own} of 120 nearest their own centre");
        }
    }

    #[test]
    fn random_codes_give_no_label_structure() {
        // Labels that have nothing to do with the codes: about one point in three agrees by chance.
        let (codes, _) = clustered_codes(1, 120, 64, 32, 8);
        let labels: Vec<u8> = (0..120).map(|i| (i % 3) as u8).collect();
        let points = tsne_codes(&codes, CodeMetric::Hamming, &fast(10.0, 300, 2), ProgressMode::Quiet).unwrap();
        let agreement = neighbour_agreement(&points, &labels).unwrap();
        assert!(agreement < 0.6, "{agreement}");
    }

    #[test]
    fn same_seed_same_map_other_seed_other_map() {
        let (codes, _) = clustered_codes(3, 20, 48, 3, 2);
        let a = tsne_codes(&codes, CodeMetric::Hamming, &fast(5.0, 120, 7), ProgressMode::Quiet).unwrap();
        let b = tsne_codes(&codes, CodeMetric::Hamming, &fast(5.0, 120, 7), ProgressMode::Quiet).unwrap();
        assert_eq!(a, b);
        // The same in a one-thread pool: no dependence on the thread count.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let c = pool.install(|| tsne_codes(&codes, CodeMetric::Hamming, &fast(5.0, 120, 7), ProgressMode::Quiet).unwrap());
        assert_eq!(a, c);
        let d = tsne_codes(&codes, CodeMetric::Hamming, &fast(5.0, 120, 8), ProgressMode::Quiet).unwrap();
        assert_ne!(a, d);
    }

    #[test]
    fn bad_parameters_are_named() {
        let (codes, _) = clustered_codes(2, 15, 16, 2, 1);
        let err = |p: TsneParams| tsne_codes(&codes, CodeMetric::Hamming, &p, ProgressMode::Quiet).unwrap_err().to_string();
        let e = err(fast(10.0, 10, 0));
        assert!(e.contains("perplexity = 10") && e.contains("n / 3 = 10") && e.contains("n = 30"), "{e}");
        assert!(err(fast(0.0, 10, 0)).contains("perplexity = 0"));
        assert!(err(fast(f64::NAN, 10, 0)).contains("perplexity = NaN"));
        assert!(err(fast(5.0, 0, 0)).contains("iterations = 0"));
        assert!(err(TsneParams { theta: -0.5, ..fast(5.0, 10, 0) }).contains("theta = -0.5"));
        assert!(err(TsneParams { learning_rate: Some(0.0), ..fast(5.0, 10, 0) }).contains("learning rate = 0"));
        assert!(err(TsneParams { early_exaggeration: 0.5, ..fast(5.0, 10, 0) }).contains("early exaggeration = 0.5"));
        let one = BinaryCodes::zeros(1, 8).unwrap();
        let e = tsne_codes(&one, CodeMetric::Hamming, &TsneParams::default(), ProgressMode::Quiet).unwrap_err().to_string();
        assert!(e.contains("number of points = 1"), "{e}");
        let bad = KnnGraph { k: 1, indices: vec![0, 0], sq_distances: vec![1.0, 1.0] };
        assert!(tsne_knn(&bad, &fast(0.3, 10, 0), ProgressMode::Quiet).unwrap_err().to_string().contains("point 0"));
        assert!(neighbour_agreement(&[[0.0, 0.0]], &[1, 2]).is_err());
    }

    #[test]
    fn identical_codes_do_not_break_the_map() {
        // Many duplicates (all-zero codes included): distances 0, Jaccard's 0/0 case.
        let mut flags = vec![false; 60 * 16];
        for i in 30..60 {
            flags[i * 16] = true;
        }
        let codes = BinaryCodes::from_bools(60, 16, &flags).unwrap();
        let labels: Vec<u8> = (0..60).map(|i| u8::from(i >= 30)).collect();
        for metric in [CodeMetric::Hamming, CodeMetric::Jaccard] {
            let points = tsne_codes(&codes, metric, &fast(5.0, 300, 1), ProgressMode::Quiet).unwrap();
            assert!(points.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
            assert!(neighbour_agreement(&points, &labels).unwrap() > 0.95, "{metric}");
        }
    }
}
