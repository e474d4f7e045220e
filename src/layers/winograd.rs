//! Winograd's minimal filtering algorithm for stride-1 convolutions: fewer multiplications than the
//! im2col + GEMM of [`super::conv`] for 3x3 and 5x5 kernels over many channels, and for larger
//! kernels cut into 3x3 pieces (`Split`).
//!
//! # The math
//!
//! Lavin and Gray (2016), "Fast Algorithms for Convolutional Neural Networks", equations (5)-(8).
//! `F(m, r)` computes `m` outputs of a 1-D correlation with an `r`-tap filter from `alpha = m + r - 1`
//! inputs as
//!
//! ```text
//! y = A^T [ (G g) .* (B^T d) ]                                      (Lavin and Gray, eq. 5)
//! ```
//!
//! and the 2-D `F(m x m, r x r)` nests it: one `m x m` output tile of one output map is
//!
//! ```text
//! Y = A^T [ sum_c (G g_c G^T) .* (B^T d_c B) ] A                      (eq. 8)
//! ```
//!
//! over the input maps `c`, where `d_c` is the `alpha x alpha` input tile. Written per position
//! `xi` of the `alpha x alpha` transformed tile, the sum over `c` is a matrix product,
//! `M[xi] = U[xi] V[xi]` with `U[xi] = [out, in]` (the transformed filters) and `V[xi] = [in, tiles]`
//! (the transformed input tiles): `alpha^2` GEMMs of `out x in x tiles` replace one of
//! `out x in r^2 x m^2 tiles`. For `F(2x2, 5x5)` that is 36 against 100 multiplications per output
//! pair and tile (2.8 times fewer); for `F(4x4, 3x3)`, 36 against 144 (4 times).
//!
//! The backward pass uses the adjoints of the same linear maps, so it is the exact gradient of the
//! forward computation: with `dM = A dY A^T` per output tile,
//!
//! ```text
//! dU[xi] = sum_tiles dM[xi] V[xi]^T,    dW = G^T dU G                (weight gradient)
//! dV[xi] = U[xi]^T dM[xi],              dD = B dV B^T                (input gradient, tiles added)
//! ```
//!
//! # The transforms
//!
//! The matrices come from the Toom-Cook construction (Lavin and Gray, section 4.1) with the points
//! `0, 1, -1, 2, -2` and infinity. Let `Vand` be the `alpha x alpha` Vandermonde matrix of the points
//! (the row of infinity picks the leading coefficient), `G` its first `r` columns and `H` its first
//! `m` (each with the leading-coefficient row of infinity). The linear convolution of an `r`-vector
//! and an `m`-vector is `Vand^-1 [(G g) .* (H h)]`; correlation is its transpose in `h`, so
//! `A^T = H^T` and `B^T = Vand^-T`. They are computed in `f64` once and rounded to `f32`.
//!
//! # Layout and threads
//!
//! A batch is cut into the same chunks as [`super::conv`] (a function of the batch size only), run
//! in parallel with rayon; inside a chunk, blocks of a few examples (about `TARGET_TILES` tiles)
//! are transformed, multiplied (`alpha^2` products, on the chunk's thread) and transformed back.
//! The transforms work on `LANES` tiles at once, compiled for AVX-512, AVX2 + FMA or the baseline
//! and chosen at run time. Weight gradients are summed per chunk, then over chunks in order, so the
//! results do not depend on the number of threads.

use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

use super::conv::{Conv2dConfig, Geometry, MAX_CHUNKS, chunks};
use crate::error::Result;
use crate::io::memory::{bytes, check_alloc};
use crate::tensor::{Op, View, dispatch, gemm_view, sequential};

/// Tiles transformed side by side (the SIMD lanes of the transforms).
pub(crate) const LANES: usize = 8;

/// Tiles per block of examples inside a chunk: enough columns for the `alpha^2` products, few enough
/// for the transformed block to stay in the cache.
pub(crate) const TARGET_TILES: usize = 256;

/// The fewest output tiles per example for which the Winograd path is taken.
pub(crate) const MIN_TILES: usize = 16;

/// `alpha = m + r - 1` of every transform used here.
const ALPHA: usize = 6;
const A2: usize = ALPHA * ALPHA;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the Winograd path of [`super::conv::Conv2d`] on (the default) or off for the whole
/// process; off, every convolution runs as im2col + GEMM. For benchmarks and for tests that compare
/// the two.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether the Winograd path is on (see [`set_enabled`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The matrices of `F(m x m, r x r)`, row-major `f32`, with their transposes. The lane kernels
/// ([`bt_1d`], [`b_1d`], [`at_1d`], [`a_1d`]) hard-code `A` and `B` as integer expressions; the tests
/// hold them against the matrices computed here, which only the filter transforms read at run time.
#[derive(Clone, Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Transforms {
    /// Outputs per tile side.
    pub m: usize,
    /// Kernel side.
    pub r: usize,
    /// `A^T`, `m x alpha`.
    pub at: Vec<f32>,
    /// `A`, `alpha x m`.
    pub a: Vec<f32>,
    /// `G`, `alpha x r`.
    pub g: Vec<f32>,
    /// `G^T`, `r x alpha`.
    pub gt: Vec<f32>,
    /// `B^T`, `alpha x alpha`.
    pub bt: Vec<f32>,
    /// `B`, `alpha x alpha`.
    pub b: Vec<f32>,
}

impl Transforms {
    /// `F(m, r)` with `m + r - 1 = 6` (`F(2, 5)`, `F(4, 3)`, `F(3, 4)`, ...).
    pub fn new(m: usize, r: usize) -> Self {
        assert!(m >= 1 && r >= 1 && m + r - 1 == ALPHA, "F({m}, {r}) needs m + r - 1 = {ALPHA}");
        let points = [0.0f64, 1.0, -1.0, 2.0, -2.0];
        let n = ALPHA;
        // Row j of the Vandermonde matrix for the first `cols` powers; the last row is infinity.
        let vand = |cols: usize| -> Vec<f64> {
            let mut v = vec![0.0; n * cols];
            for (j, &p) in points.iter().enumerate() {
                for c in 0..cols {
                    v[j * cols + c] = p.powi(c as i32);
                }
            }
            v[(n - 1) * cols + cols - 1] = 1.0;
            v
        };
        let full = vand(n);
        let inv = invert(&full, n);
        let g = vand(r);
        let h = vand(m);
        // A^T = H^T (m x n); B^T = Vand^-T (n x n).
        let at: Vec<f64> = (0..m).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| h[j * m + i]).collect();
        let bt: Vec<f64> = (0..n).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| inv[j * n + i]).collect();
        // Scale row j of B^T by s_j so that its entries are small integers, and row j of G by 1/s_j
        // (the product (G g) .* (B^T d) is unchanged): the input transforms are then exact in f32,
        // and B^T is Lavin and Gray's F(4, 3) matrix for both kernels.
        let mut bt = bt;
        let mut g = g;
        for j in 0..n {
            let row = &mut bt[j * n..(j + 1) * n];
            let smallest = row.iter().filter(|v| v.abs() > 1e-12).fold(f64::INFINITY, |a, v| a.min(v.abs()));
            row.iter_mut().for_each(|v| *v = (*v / smallest).round());
            g[j * r..(j + 1) * r].iter_mut().for_each(|v| *v *= smallest);
        }
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let tr = |v: &[f64], rows: usize, cols: usize| -> Vec<f32> {
            (0..cols).flat_map(|c| (0..rows).map(move |r| v[r * cols + c] as f32)).collect()
        };
        Transforms { m, r, at: f(&at), a: tr(&at, m, n), g: f(&g), gt: tr(&g, n, r), bt: f(&bt), b: tr(&bt, n, n) }
    }
}

/// The inverse of the `n x n` row-major matrix `m` (Gauss-Jordan with partial pivoting, `f64`); the
/// Vandermonde matrices here are invertible (distinct points).
fn invert(m: &[f64], n: usize) -> Vec<f64> {
    let mut a = m.to_vec();
    let mut inv: Vec<f64> = (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|&x, &y| a[x * n + col].abs().total_cmp(&a[y * n + col].abs())).unwrap_or(col);
        for k in 0..n {
            a.swap(col * n + k, pivot * n + k);
            inv.swap(col * n + k, pivot * n + k);
        }
        let d = a[col * n + col];
        for k in 0..n {
            a[col * n + k] /= d;
            inv[col * n + k] /= d;
        }
        for row in 0..n {
            if row != col {
                let f = a[row * n + col];
                if f != 0.0 {
                    for k in 0..n {
                        a[row * n + k] -= f * a[col * n + k];
                        inv[row * n + k] -= f * inv[col * n + k];
                    }
                }
            }
        }
    }
    inv
}

/// The Winograd plan of one convolution: its transforms and tiling.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    t: Transforms,
    g: Geometry,
    out_ch: usize,
    /// Tiles per example: `th x tw`.
    th: usize,
    tw: usize,
}

/// A stride-1 convolution with a `k x k` kernel larger than 5 (Goodfellow et al.'s 8x8 maxout
/// layers), computed as the 3x3 convolution it equals, through [`Plan`]'s `F(4x4, 3x3)`.
///
/// The kernel, zero-padded to `3q x 3q` with `q = ceil(k / 3)`, is cut into `q x q` pieces of 3x3;
/// piece `(a, b)` reads the padded input shifted by `(3a, 3b)`. So with `x'` the `q^2 C` maps
/// `x'[(a q + b) C + c](y, x) = x_pad[c](y + 3a, x + 3b)` (of `(H_out + 2) x (W_out + 2)`, zero
/// outside `x_pad`) and `w'[o, (a q + b) C + c, u, v] = w[o, c, 3a + u, 3b + v]` (zero past `k`),
///
/// ```text
/// out[o](y, x) = sum_{c, i, j} w[o, c, i, j] x_pad[c](y + i, x + j)
///              = sum_{a, b, c, u, v} w'[o, (a q + b) C + c, u, v] x'[(a q + b) C + c](y + u, x + v)
/// ```
///
/// a valid 3x3 convolution of `x'`. Its gradients fold back: `dw[o, c, 3a + u, 3b + v]` is
/// `dw'[o, (a q + b) C + c, u, v]`, and `dx` sums `dx'` over the shifts. For `k = 8` (`q = 3`) that
/// is `9 * 36 / 16 = 20.25` multiplications per output and channel pair against 64.
#[derive(Clone, Debug)]
pub(crate) struct Split {
    /// The convolution's own geometry.
    g: Geometry,
    /// Pieces per side, `ceil(k / 3)`.
    q: usize,
    /// Input and output channels of the convolution.
    in_ch: usize,
    out_ch: usize,
    /// The 3x3 convolution of the shifted maps.
    plan: Plan,
    /// The map rows each example's shifted maps copy ([`Split::runs`]).
    runs: Vec<(usize, usize, usize)>,
}

/// The shifted maps of a batch and their gradient, kept between the calls of a thread (they are the
/// size of the batch's input times `q^2`; kept, they took 2-7% off Goodfellow et al.'s training
/// step in alternated runs of `compete bench-layers --ops conv_maxout_mnist`). Buffers above [`SPLIT_KEEP_VALUES`] are not kept.
#[derive(Default)]
struct SplitBuffers {
    /// `(channels, h, w, p, k, n)` of the last fill of `shifted`, whose padding is zero.
    key: Option<(usize, usize, usize, usize, usize, usize)>,
    shifted: Vec<f32>,
    grad: Vec<f32>,
}

/// The most values of the kept [`SplitBuffers`] (256 MiB of f32 each).
const SPLIT_KEEP_VALUES: usize = 1 << 26;

thread_local! {
    static SPLIT_BUFFERS: std::cell::RefCell<SplitBuffers> = std::cell::RefCell::new(SplitBuffers::default());
}

/// Runs `f` with this thread's [`SplitBuffers`] (fresh ones if they are in use), and drops buffers
/// larger than [`SPLIT_KEEP_VALUES`] afterwards.
fn with_split_buffers<T>(f: impl FnOnce(&mut SplitBuffers) -> T) -> T {
    SPLIT_BUFFERS.with(|b| match b.try_borrow_mut() {
        Ok(mut b) => {
            let out = f(&mut b);
            if b.shifted.capacity().max(b.grad.capacity()) > SPLIT_KEEP_VALUES {
                *b = SplitBuffers::default();
            }
            out
        }
        Err(_) => f(&mut SplitBuffers::default()),
    })
}

impl Split {
    /// The split of `config` on `g`, or `None`: a stride other than 1, a kernel of 5 or less, or a
    /// 3x3 convolution of the pieces that [`Plan`] would not take.
    pub fn new(config: &Conv2dConfig, g: &Geometry) -> Option<Split> {
        if !enabled() || config.stride != 1 || config.kernel <= 5 {
            return None;
        }
        let q = config.kernel.div_ceil(3);
        let inner = Geometry { channels: q * q * g.channels, h: g.oh + 2, w: g.ow + 2, k: 3, s: 1, p: 0, oh: g.oh, ow: g.ow };
        let inner_config = Conv2dConfig {
            in_channels: inner.channels,
            out_channels: config.out_channels,
            kernel: 3,
            stride: 1,
            padding: super::Padding::Zero(0),
        };
        // Whole 4x4 tiles waste nothing, so small maps are taken here (8x8 outputs are 4 tiles).
        let min_tiles = if g.oh.is_multiple_of(4) && g.ow.is_multiple_of(4) { 1 } else { MIN_TILES };
        let plan = Plan::with_min_tiles(&inner_config, &inner, min_tiles)?;
        let mut split = Split { g: *g, q, in_ch: g.channels, out_ch: config.out_channels, plan, runs: Vec::new() };
        split.runs = split.runs();
        Some(split)
    }

    /// Values of one example's shifted maps, `q^2 C (H_out + 2) (W_out + 2)`.
    fn shifted_size(&self) -> usize {
        self.q * self.q * self.in_ch * (self.g.oh + 2) * (self.g.ow + 2)
    }

    /// Calls `f(tap, piece)` for every weight: its index in `[out, C, k, k]` and its index in the
    /// pieces `[out, q^2 C, 3, 3]` (`w[o, c, 3a + u, 3b + v]` is `w'[o, (a q + b) C + c, u, v]`).
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize)) {
        let (q, c_in, k) = (self.q, self.in_ch, self.g.k);
        for o in 0..self.out_ch {
            for c in 0..c_in {
                for i in 0..k {
                    for j in 0..k {
                        let (a, u, b, v) = (i / 3, i % 3, j / 3, j % 3);
                        f(((o * c_in + c) * k + i) * k + j, ((o * q * q + a * q + b) * c_in + c) * 9 + u * 3 + v);
                    }
                }
            }
        }
    }

    /// The pieces `w'` of `weight` (`[out, C, k, k]`): `[out, q^2 C, 3, 3]`.
    fn pieces(&self, weight: &[f32]) -> Vec<f32> {
        let mut w = vec![0.0f32; self.out_ch * self.q * self.q * self.in_ch * 9];
        self.for_each_tap(|tap, piece| w[piece] = weight[tap]);
        w
    }

    /// For every `(piece, channel, row)` of the shifted maps: the rows of the map it copies, as
    /// `(destination offset, source offset, length)` within one example, or nothing for a row in the
    /// padding. The same list serves the shift (copy) and its adjoint (add back).
    fn runs(&self) -> Vec<(usize, usize, usize)> {
        let g = &self.g;
        let (q, sh, sw) = (self.q, g.oh + 2, g.ow + 2);
        let mut runs = Vec::new();
        for a in 0..q {
            for b in 0..q {
                for c in 0..self.in_ch {
                    let plane = ((a * q + b) * self.in_ch + c) * sh * sw;
                    for y in 0..sh {
                        // Row y of the piece reads padded row y + 3a, i.e. map row y + 3a - p.
                        let Some(my) = (y + 3 * a).checked_sub(g.p).filter(|&r| r < g.h) else { continue };
                        // Columns x with 0 <= x + 3b - p < w.
                        let lo = g.p.saturating_sub(3 * b).min(sw);
                        let hi = (g.w + g.p).saturating_sub(3 * b).min(sw).max(lo);
                        if hi > lo {
                            runs.push((plane + y * sw + lo, (c * g.h + my) * g.w + lo + 3 * b - g.p, hi - lo));
                        }
                    }
                }
            }
        }
        runs
    }

    /// Writes the shifted maps of every example of `x` into `buf`. A buffer last filled for the
    /// same layer shape and batch ([`SplitBuffers::key`]) already holds the zeros of the padding,
    /// so only the map rows are copied; any other is cleared first.
    fn shift_into(&self, x: &[f32], n: usize, buf: &mut SplitBuffers) -> Result<()> {
        let size = self.shifted_size();
        check_alloc("the shifted maps of a split convolution", bytes(&[n, size], 4))?;
        let key = (self.g.channels, self.g.h, self.g.w, self.g.p, self.g.k, n);
        if buf.key != Some(key) {
            buf.shifted.clear();
            buf.shifted.resize(n * size, 0.0);
            buf.key = Some(key);
        }
        let isz = self.in_ch * self.g.h * self.g.w;
        buf.shifted.par_chunks_mut(size).zip(x.par_chunks(isz)).for_each(|(dst, src)| {
            for &(d, s, len) in &self.runs {
                dst[d..d + len].copy_from_slice(&src[s..s + len]);
            }
        });
        Ok(())
    }

    /// Forward pass: `out` (`n x out x oh x ow`, overwritten) from `x` (`n x in x h x w`).
    pub fn forward(&self, weight: &[f32], bias: &[f32], x: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        with_split_buffers(|buf| {
            self.shift_into(x, n, buf)?;
            self.plan.forward(&self.pieces(weight), bias, &buf.shifted, n, out)
        })
    }

    /// Backward pass, as [`Plan::backward`]: overwrites `grad_w`, `grad_b` and `grad_x`.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        weight: &[f32],
        x: &[f32],
        n: usize,
        grad_out: &[f32],
        grad_w: &mut [f32],
        grad_b: &mut [f32],
        grad_x: Option<&mut [f32]>,
    ) -> Result<()> {
        with_split_buffers(|buf| self.backward_with(weight, x, n, grad_out, grad_w, grad_b, grad_x, buf))
    }

    /// [`Split::backward`] with the buffers of the shifted maps and their gradient.
    #[allow(clippy::too_many_arguments)]
    fn backward_with(
        &self,
        weight: &[f32],
        x: &[f32],
        n: usize,
        grad_out: &[f32],
        grad_w: &mut [f32],
        grad_b: &mut [f32],
        grad_x: Option<&mut [f32]>,
        buf: &mut SplitBuffers,
    ) -> Result<()> {
        self.shift_into(x, n, buf)?;
        let SplitBuffers { shifted, grad: grad_shifted, .. } = buf;
        let pieces = self.pieces(weight);
        let mut grad_pieces = vec![0.0f32; pieces.len()];
        // Overwritten by the plan's backward pass: only its length matters.
        grad_shifted.resize(if grad_x.is_some() { shifted.len() } else { 0 }, 0.0);
        let gs = grad_x.is_some().then_some(&mut grad_shifted[..]);
        self.plan.backward(&pieces, shifted, n, grad_out, &mut grad_pieces, grad_b, gs)?;
        self.for_each_tap(|tap, piece| grad_w[tap] = grad_pieces[piece]);
        if let Some(gx) = grad_x {
            let (size, isz) = (self.shifted_size(), self.in_ch * self.g.h * self.g.w);
            gx.par_chunks_mut(isz).zip(grad_shifted.par_chunks(size)).for_each(|(dst, src)| {
                dst.fill(0.0);
                // In the order of the runs: the sums do not depend on the thread count.
                for &(d, s, len) in &self.runs {
                    dst[s..s + len].iter_mut().zip(&src[d..d + len]).for_each(|(x, v)| *x += v);
                }
            });
        }
        Ok(())
    }
}

/// Examples per chunk and number of chunks of a backward pass whose chunks each hold a partial
/// weight gradient of `partial` values: the chunks of [`chunks`], fewer (an even number, at least 2)
/// where their partial sums would exceed [`PARTIAL_VALUES`] in all. A function of `n` and the shape
/// only, never of the thread count, so the sums stay reproducible.
fn partial_chunks(n: usize, partial: usize) -> (usize, usize) {
    if n == 0 {
        return (1, 0);
    }
    let most = (PARTIAL_VALUES / partial.max(1)).clamp(2, MAX_CHUNKS) / 2 * 2;
    let chunk = n.div_ceil(most);
    (chunk, n.div_ceil(chunk))
}

/// The most values of the partial weight gradients of one backward pass (32 MiB of f32): on a
/// split 8x8 layer (432 channels in) each is 1.5 million values, and 16 of them cost more to clear
/// and sum than the products they serve.
const PARTIAL_VALUES: usize = 1 << 23;

impl Plan {
    /// The plan for `config` on geometry `g`, or `None` when the im2col path should run: a stride
    /// other than 1, a kernel other than 3 or 5, or too few channels for the transforms to pay.
    pub fn new(config: &Conv2dConfig, g: &Geometry) -> Option<Plan> {
        Self::with_min_tiles(config, g, MIN_TILES)
    }

    /// [`Plan::new`] with another bound on the output tiles per example.
    fn with_min_tiles(config: &Conv2dConfig, g: &Geometry, min_tiles: usize) -> Option<Plan> {
        if !enabled() || config.stride != 1 || config.in_channels < 16 || config.out_channels < 16 {
            return None;
        }
        let m = match config.kernel {
            5 => 2,
            3 => 4,
            _ => return None,
        };
        // Small maps have few tiles per example, and the products too few columns to pay for the
        // transforms: on Goodfellow et al.'s third layer (5x5 outputs, 9 tiles) the im2col step
        // was as fast (`compete bench-layers --ops conv_maxout_mnist` with and without `--im2col`).
        if g.oh.div_ceil(m) * g.ow.div_ceil(m) < min_tiles {
            return None;
        }
        Some(Plan { t: Transforms::new(m, config.kernel), g: *g, out_ch: config.out_channels, th: g.oh.div_ceil(m), tw: g.ow.div_ceil(m) })
    }

    fn tiles(&self) -> usize {
        self.th * self.tw
    }

    /// Examples per block: about [`TARGET_TILES`] tiles, at most the chunk.
    fn block(&self, chunk: usize) -> usize {
        TARGET_TILES.div_ceil(self.tiles()).clamp(1, chunk.max(1))
    }

    /// The transformed filters `U[xi][out][in]` of `weight` (`[out, in, r, r]`).
    fn filters(&self, weight: &[f32]) -> Vec<f32> {
        let (co, ci, r) = (self.out_ch, self.g.channels, self.t.r);
        // Per (out, in) pair in parallel, then laid out position-major, a position per task.
        let mut tiles = vec![0.0f32; co * ci * A2];
        tiles.par_chunks_mut(ci * A2).zip(weight.par_chunks(ci * r * r)).for_each(|(dst, w)| {
            let mut tile = [0.0f32; A2];
            for (d, w) in dst.chunks_exact_mut(A2).zip(w.chunks_exact(r * r)) {
                sandwich(&self.t.g, ALPHA, r, w, r, &self.t.g, ALPHA, &mut tile);
                d.copy_from_slice(&tile);
            }
        });
        // The transpose in blocks of pairs that stay in the cache (a pass per position over the
        // whole array read it 36 times).
        const PAIRS: usize = 256;
        let pairs = co * ci;
        let mut u = vec![0.0f32; A2 * pairs];
        for (b, block) in tiles.chunks(PAIRS * A2).enumerate() {
            for xi in 0..A2 {
                let row = &mut u[xi * pairs + b * PAIRS..][..block.len() / A2];
                for (d, t) in row.iter_mut().zip(block.chunks_exact(A2)) {
                    *d = t[xi];
                }
            }
        }
        u
    }

    /// Bytes of the buffers one chunk holds at once.
    fn block_bytes(&self, block: usize) -> u128 {
        let tp = (block * self.tiles()).next_multiple_of(LANES);
        bytes(&[3, A2, self.g.channels.max(self.out_ch), tp], 4)
    }

    /// Forward pass: `out` (`n x out x oh x ow`, overwritten) from `x` (`n x in x h x w`).
    pub fn forward(&self, weight: &[f32], bias: &[f32], x: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        let (chunk, count) = chunks(n);
        let block = self.block(chunk);
        check_alloc(
            "the Winograd blocks of a conv2d layer",
            self.block_bytes(block).saturating_mul(count.min(rayon::current_num_threads()) as u128),
        )?;
        let u = self.filters(weight);
        let (isz, osz) = (self.g.channels * self.g.h * self.g.w, self.out_ch * self.g.oh * self.g.ow);
        // No sums over the batch here, so the blocks themselves are the parallel tasks (more of
        // them than chunks: the threads stay evenly loaded).
        out.par_chunks_mut(block * osz).zip(x.par_chunks(block * isz)).try_for_each(|(out, x)| {
            sequential(|| -> Result<()> {
                with_scratch(|s| {
                    let nb = x.len() / isz;
                    let tp = self.input_transform(x, nb, &mut s.pad_in, &mut s.v);
                    self.products(&u, (self.out_ch, self.g.channels), Op::N, &s.v, &mut s.m, tp, false)?;
                    self.output_transform(&s.m, tp, nb, bias, out);
                    Ok(())
                })
            })
        })
    }

    /// Backward pass: **overwrites** `grad_w`, `grad_b` and, when given, `grad_x` (see
    /// [`super::conv::Conv2d::backward`]).
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        weight: &[f32],
        x: &[f32],
        n: usize,
        grad_out: &[f32],
        grad_w: &mut [f32],
        grad_b: &mut [f32],
        grad_x: Option<&mut [f32]>,
    ) -> Result<()> {
        let (co, ci) = (self.out_ch, self.g.channels);
        let (chunk, count) = partial_chunks(n, A2 * co * ci);
        let block = self.block(chunk);
        check_alloc(
            "the Winograd blocks and weight gradients of a conv2d layer",
            self.block_bytes(block)
                .saturating_mul(count.min(rayon::current_num_threads()) as u128)
                .saturating_add(bytes(&[count, A2, co, ci], 4)),
        )?;
        let u = if grad_x.is_some() { self.filters(weight) } else { Vec::new() };
        let (isz, osz) = (ci * self.g.h * self.g.w, co * self.g.oh * self.g.ow);
        let gx_chunks: Vec<Option<&mut [f32]>> = match grad_x {
            Some(gx) => gx.chunks_mut(chunk * isz).map(Some).collect(),
            None => (0..count).map(|_| None).collect(),
        };
        let partials = gx_chunks
            .into_par_iter()
            .enumerate()
            .map(|(k, mut gx)| {
                sequential(|| -> Result<(Vec<f32>, Vec<f32>)> {
                    let (s, e) = (k * chunk, ((k + 1) * chunk).min(n));
                    let (x, go) = (&x[s * isz..e * isz], &grad_out[s * osz..e * osz]);
                    let mut du = vec![0.0f32; A2 * co * ci];
                    let mut gb = vec![0.0f32; co];
                    for (o, plane) in go.chunks(self.g.oh * self.g.ow).enumerate() {
                        gb[o % co] += plane.iter().sum::<f32>();
                    }
                    with_scratch(|s| {
                        for (j, (x, go)) in x.chunks(block * isz).zip(go.chunks(block * osz)).enumerate() {
                            let nb = x.len() / isz;
                            let tp = self.grad_transform(go, nb, &mut s.pad_go, &mut s.m);
                            self.input_transform(x, nb, &mut s.pad_in, &mut s.v);
                            self.weight_products(&s.m, &s.v, &mut du, tp, j > 0)?;
                            if let Some(gx) = gx.as_deref_mut() {
                                // dV = U^T dM, into the buffer V no longer needed.
                                self.products(&u, (co, ci), Op::T, &s.m, &mut s.v, tp, false)?;
                                let dst = &mut gx[j * block * isz..][..nb * isz];
                                self.input_adjoint(&s.v, tp, nb, &mut s.pad_gx, dst);
                            }
                        }
                        Ok((du, gb))
                    })
                })
            })
            .collect::<Vec<_>>();
        let mut du = vec![0.0f32; A2 * co * ci];
        grad_b.fill(0.0);
        for part in partials {
            let (d, b) = part?;
            du.iter_mut().zip(&d).for_each(|(s, v)| *s += v);
            grad_b.iter_mut().zip(&b).for_each(|(s, v)| *s += v);
        }
        // dW = G^T dU G per (out, in) pair, an output channel per task.
        let r = self.t.r;
        grad_w.par_chunks_mut(ci * r * r).enumerate().for_each(|(o, gw)| {
            let mut tile = [0.0f32; A2];
            let mut w = [0.0f32; A2];
            for (c, gw) in gw.chunks_exact_mut(r * r).enumerate() {
                for (xi, t) in tile.iter_mut().enumerate() {
                    *t = du[(xi * co + o) * ci + c];
                }
                sandwich(&self.t.gt, r, ALPHA, &tile, ALPHA, &self.t.gt, r, &mut w);
                gw.copy_from_slice(&w[..r * r]);
            }
        });
        Ok(())
    }

    /// `alpha^2` products `c[xi] = op(a[xi]) b[xi]`: `a[xi]` is `a_shape` row-major, `b[xi]` has
    /// `op(a)`'s columns as rows and `tp` columns.
    #[allow(clippy::too_many_arguments)]
    fn products(&self, a: &[f32], a_shape: (usize, usize), op: Op, b: &[f32], c: &mut Vec<f32>, tp: usize, accumulate: bool) -> Result<()> {
        let (rows, inner) = if op == Op::N { a_shape } else { (a_shape.1, a_shape.0) };
        let (asz, bsz, csz) = (a_shape.0 * a_shape.1, inner * tp, rows * tp);
        c.resize(A2 * csz, 0.0);
        for xi in 0..A2 {
            let av = View { rows: a_shape.0, cols: a_shape.1, data: &a[xi * asz..][..asz] };
            let bv = View { rows: inner, cols: tp, data: &b[xi * bsz..][..bsz] };
            gemm_view(&mut c[xi * csz..][..csz], (rows, tp), av, op, bv, Op::N, accumulate, 1.0)?;
        }
        Ok(())
    }

    /// `du[xi] (+)= dm[xi] v[xi]^T`: `[out, tp] x [tp, in]`.
    fn weight_products(&self, dm: &[f32], v: &[f32], du: &mut [f32], tp: usize, accumulate: bool) -> Result<()> {
        let (co, ci) = (self.out_ch, self.g.channels);
        for xi in 0..A2 {
            let a = View { rows: co, cols: tp, data: &dm[xi * co * tp..][..co * tp] };
            let b = View { rows: ci, cols: tp, data: &v[xi * ci * tp..][..ci * tp] };
            gemm_view(&mut du[xi * co * ci..][..co * ci], (co, ci), a, Op::N, b, Op::T, accumulate, 1.0)?;
        }
        Ok(())
    }

    /// Tile `t` of a block: its example and the top-left output position.
    #[inline(always)]
    fn tile_origin(&self, t: usize) -> (usize, usize, usize) {
        let per = self.tiles();
        let (e, rest) = (t / per, t % per);
        (e, (rest / self.tw) * self.t.m, (rest % self.tw) * self.t.m)
    }

    /// The offset of every tile's top-left value in a block of padded planes (`channels` planes of
    /// `ph x pw` per example), channel 0.
    fn bases(&self, total: usize, channels: usize, ph: usize, pw: usize) -> Vec<usize> {
        (0..total)
            .map(|t| {
                let (e, oy, ox) = self.tile_origin(t);
                (e * channels * ph + oy) * pw + ox
            })
            .collect()
    }

    /// Rows and columns of a zero-padded input plane: every tile reads inside it.
    fn padded(&self) -> (usize, usize) {
        (self.th * self.t.m + self.t.r - 1, self.tw * self.t.m + self.t.r - 1)
    }

    /// `V[xi][in][t] = (B^T d B)[xi]` for the `nb` examples of `x`; `pad` is scratch for the padded
    /// planes. Returns the tile count rounded up to [`LANES`].
    fn input_transform(&self, x: &[f32], nb: usize, pad: &mut Padded, v: &mut Vec<f32>) -> usize {
        let g = &self.g;
        let (ph, pw) = self.padded();
        let pad = pad.get(nb * g.channels * ph * pw, [ph, pw, g.p, g.h, g.w]);
        for (dst, src) in pad.chunks_mut(ph * pw).zip(x.chunks(g.h * g.w)) {
            for (y, row) in src.chunks(g.w).enumerate() {
                dst[(y + g.p) * pw + g.p..][..g.w].copy_from_slice(row);
            }
        }
        let tp = (nb * self.tiles()).next_multiple_of(LANES);
        v.resize(A2 * g.channels * tp, 0.0);
        match self.t.m {
            2 => dispatch(|| self.input_transform_impl::<2>(&*pad, nb, tp, v)),
            _ => dispatch(|| self.input_transform_impl::<4>(&*pad, nb, tp, v)),
        }
        tp
    }

    #[inline(always)]
    fn input_transform_impl<const M: usize>(&self, pad: &[f32], nb: usize, tp: usize, v: &mut [f32]) {
        let ci = self.g.channels;
        let (ph, pw) = self.padded();
        let total = nb * self.tiles();
        let bases = self.bases(total, ci, ph, pw);
        for c in 0..ci {
            let off = c * ph * pw;
            for t0 in (0..tp).step_by(LANES) {
                let lanes = LANES.min(total - t0);
                let mut d = [[0.0f32; LANES]; A2];
                for (l, &b) in bases[t0..t0 + lanes].iter().enumerate() {
                    for a in 0..ALPHA {
                        let row = &pad[off + b + a * pw..][..ALPHA];
                        for (bb, &val) in row.iter().enumerate() {
                            d[a * ALPHA + bb][l] = val;
                        }
                    }
                }
                let out = apply2::<ALPHA, ALPHA>(&d, bt_1d);
                for (xi, o) in out.iter().enumerate() {
                    v[(xi * ci + c) * tp + t0..][..LANES].copy_from_slice(o);
                }
            }
        }
    }

    /// `out = A^T M A + bias` for the in-range outputs of every tile.
    fn output_transform(&self, mm: &[f32], tp: usize, nb: usize, bias: &[f32], out: &mut [f32]) {
        match self.t.m {
            2 => dispatch(|| self.output_transform_impl::<2>(mm, tp, nb, bias, out)),
            _ => dispatch(|| self.output_transform_impl::<4>(mm, tp, nb, bias, out)),
        }
    }

    #[inline(always)]
    fn output_transform_impl<const M: usize>(&self, mm: &[f32], tp: usize, nb: usize, bias: &[f32], out: &mut [f32]) {
        let (g, co) = (&self.g, self.out_ch);
        let (oplane, total) = (g.oh * g.ow, nb * self.tiles());
        let mut tile = [[0.0f32; LANES]; A2];
        for o in 0..co {
            for t0 in (0..tp).step_by(LANES) {
                for (xi, row) in tile.iter_mut().enumerate() {
                    row.copy_from_slice(&mm[(xi * co + o) * tp + t0..][..LANES]);
                }
                let y = apply2::<ALPHA, M>(&tile, at_1d::<M>);
                for (l, t) in (t0..total.min(t0 + LANES)).enumerate() {
                    let (e, oy, ox) = self.tile_origin(t);
                    let dst = &mut out[(e * co + o) * oplane..][..oplane];
                    for i in 0..M.min(g.oh - oy) {
                        for j in 0..M.min(g.ow - ox) {
                            dst[(oy + i) * g.ow + ox + j] = y[i * M + j][l] + bias[o];
                        }
                    }
                }
            }
        }
    }

    /// `dM[xi][out][t] = (A dY A^T)[xi]` from `grad_out` (zero outside the maps); `pad` is scratch.
    /// Returns the tile count rounded up to [`LANES`].
    fn grad_transform(&self, go: &[f32], nb: usize, pad: &mut Padded, dm: &mut Vec<f32>) -> usize {
        let (g, m) = (&self.g, self.t.m);
        let (ph, pw) = (self.th * m, self.tw * m);
        let pad = pad.get(nb * self.out_ch * ph * pw, [ph, pw, 0, g.oh, g.ow]);
        for (dst, src) in pad.chunks_mut(ph * pw).zip(go.chunks(g.oh * g.ow)) {
            for (y, row) in src.chunks(g.ow).enumerate() {
                dst[y * pw..][..g.ow].copy_from_slice(row);
            }
        }
        let tp = (nb * self.tiles()).next_multiple_of(LANES);
        dm.resize(A2 * self.out_ch * tp, 0.0);
        match m {
            2 => dispatch(|| self.grad_transform_impl::<2>(&*pad, nb, tp, dm)),
            _ => dispatch(|| self.grad_transform_impl::<4>(&*pad, nb, tp, dm)),
        }
        tp
    }

    #[inline(always)]
    fn grad_transform_impl<const M: usize>(&self, pad: &[f32], nb: usize, tp: usize, dm: &mut [f32]) {
        let co = self.out_ch;
        let (ph, pw) = (self.th * M, self.tw * M);
        let total = nb * self.tiles();
        let bases = self.bases(total, co, ph, pw);
        for o in 0..co {
            let off = o * ph * pw;
            for t0 in (0..tp).step_by(LANES) {
                let lanes = LANES.min(total - t0);
                let mut dy = [[0.0f32; LANES]; A2];
                for (l, &b) in bases[t0..t0 + lanes].iter().enumerate() {
                    for i in 0..M {
                        let row = &pad[off + b + i * pw..][..M];
                        for (j, &val) in row.iter().enumerate() {
                            dy[i * M + j][l] = val;
                        }
                    }
                }
                let out = apply2::<M, ALPHA>(&dy, a_1d::<M>);
                for (xi, row) in out.iter().enumerate() {
                    dm[(xi * co + o) * tp + t0..][..LANES].copy_from_slice(row);
                }
            }
        }
    }

    /// Adds `B dV B^T` of every tile onto the input positions it covers, into `gx` (overwritten);
    /// `pad` is scratch for the padded planes.
    fn input_adjoint(&self, dv: &[f32], tp: usize, nb: usize, pad: &mut Vec<f32>, gx: &mut [f32]) {
        let g = &self.g;
        let (ph, pw) = self.padded();
        pad.clear();
        pad.resize(nb * g.channels * ph * pw, 0.0);
        dispatch(|| self.input_adjoint_impl(dv, tp, nb, pad));
        for (src, dst) in pad.chunks(ph * pw).zip(gx.chunks_mut(g.h * g.w)) {
            for (y, row) in dst.chunks_mut(g.w).enumerate() {
                row.copy_from_slice(&src[(y + g.p) * pw + g.p..][..g.w]);
            }
        }
    }

    #[inline(always)]
    fn input_adjoint_impl(&self, dv: &[f32], tp: usize, nb: usize, pad: &mut [f32]) {
        let ci = self.g.channels;
        let (ph, pw) = self.padded();
        let total = nb * self.tiles();
        let mut tile = [[0.0f32; LANES]; A2];
        let bases = self.bases(total, ci, ph, pw);
        for c in 0..ci {
            let off = c * ph * pw;
            for t0 in (0..tp).step_by(LANES) {
                let lanes = LANES.min(total - t0);
                for (xi, row) in tile.iter_mut().enumerate() {
                    row.copy_from_slice(&dv[(xi * ci + c) * tp + t0..][..LANES]);
                }
                let dd = apply2::<ALPHA, ALPHA>(&tile, b_1d);
                for (l, &b) in bases[t0..t0 + lanes].iter().enumerate() {
                    for a in 0..ALPHA {
                        let row = &mut pad[off + b + a * pw..][..ALPHA];
                        for (bb, val) in row.iter_mut().enumerate() {
                            *val += dd[a * ALPHA + bb][l];
                        }
                    }
                }
            }
        }
    }
}

/// A block of zero-padded planes whose borders stay zero between uses: the interior is
/// overwritten every time, so the buffer is only cleared when its shape changes.
#[derive(Default)]
struct Padded {
    data: Vec<f32>,
    /// `[rows, columns, padding, height, width]` of the planes it holds.
    key: [usize; 5],
}

impl Padded {
    /// `len` values whose borders are zero for planes of shape `key`.
    fn get(&mut self, len: usize, key: [usize; 5]) -> &mut [f32] {
        if self.data.len() != len || self.key != key {
            self.data.clear();
            self.data.resize(len, 0.0);
            self.key = key;
        }
        &mut self.data
    }
}

/// The buffers of one thread's blocks, kept between calls (a training step calls every layer
/// again with the same shapes): the transformed tiles, the products, and the padded planes.
#[derive(Default)]
struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
    pad_in: Padded,
    pad_go: Padded,
    pad_gx: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's [`Scratch`] (a fresh one if it is already in use).
fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// [`LANES`] values, one per tile.
type Lanes = [f32; LANES];

/// A 2-D transform `out = F tile F^T` from the 1-D one `f` (`NI` inputs, `NO` outputs): `f` on the
/// columns, then on the rows. `tile` is `NI x NI` (index `k * NI + l`), the result `NO x NO`.
#[inline(always)]
fn apply2<const NI: usize, const NO: usize>(tile: &[Lanes; A2], f: impl Fn(&[Lanes; ALPHA]) -> [Lanes; ALPHA]) -> [Lanes; A2] {
    let mut tmp = [[0.0f32; LANES]; A2];
    for l in 0..NI {
        let mut col = [[0.0f32; LANES]; ALPHA];
        for k in 0..NI {
            col[k] = tile[k * NI + l];
        }
        let o = f(&col);
        for a in 0..NO {
            tmp[a * NI + l] = o[a];
        }
    }
    let mut out = [[0.0f32; LANES]; A2];
    for a in 0..NO {
        let mut row = [[0.0f32; LANES]; ALPHA];
        row[..NI].copy_from_slice(&tmp[a * NI..a * NI + NI]);
        let o = f(&row);
        out[a * NO..a * NO + NO].copy_from_slice(&o[..NO]);
    }
    out
}

/// `B^T v` (Lavin and Gray's `F(4, 3)` input transform; [`Transforms`] with rows scaled to integers).
#[inline(always)]
fn bt_1d(v: &[Lanes; ALPHA]) -> [Lanes; ALPHA] {
    let mut o = [[0.0f32; LANES]; ALPHA];
    for z in 0..LANES {
        let [v0, v1, v2, v3, v4, v5] = [v[0][z], v[1][z], v[2][z], v[3][z], v[4][z], v[5][z]];
        o[0][z] = 4.0 * v0 - 5.0 * v2 + v4;
        o[1][z] = 4.0 * (v1 + v2) - (v3 + v4);
        o[2][z] = 4.0 * (v2 - v1) + (v3 - v4);
        o[3][z] = 2.0 * (v3 - v1) + (v4 - v2);
        o[4][z] = 2.0 * (v1 - v3) + (v4 - v2);
        o[5][z] = 4.0 * v1 - 5.0 * v3 + v5;
    }
    o
}

/// `B v`, the adjoint of [`bt_1d`].
#[inline(always)]
fn b_1d(v: &[Lanes; ALPHA]) -> [Lanes; ALPHA] {
    let mut o = [[0.0f32; LANES]; ALPHA];
    for z in 0..LANES {
        let [v0, v1, v2, v3, v4, v5] = [v[0][z], v[1][z], v[2][z], v[3][z], v[4][z], v[5][z]];
        o[0][z] = 4.0 * v0;
        o[1][z] = 4.0 * (v1 - v2 + v5) + 2.0 * (v4 - v3);
        o[2][z] = 4.0 * (v1 + v2) - 5.0 * v0 - (v3 + v4);
        o[3][z] = (v2 - v1) + 2.0 * (v3 - v4) - 5.0 * v5;
        o[4][z] = v0 - v1 - v2 + v3 + v4;
        o[5][z] = v5;
    }
    o
}

/// `A^T v` for `F(2, 5)` (`M = 2`) or `F(4, 3)` (`M = 4`): `M` outputs (the rest zero).
#[inline(always)]
fn at_1d<const M: usize>(v: &[Lanes; ALPHA]) -> [Lanes; ALPHA] {
    let mut o = [[0.0f32; LANES]; ALPHA];
    for z in 0..LANES {
        let [v0, v1, v2, v3, v4, v5] = [v[0][z], v[1][z], v[2][z], v[3][z], v[4][z], v[5][z]];
        let (p1, m1, p2, m2) = (v1 + v2, v1 - v2, v3 + v4, v3 - v4);
        o[0][z] = v0 + p1 + p2;
        if M == 2 {
            o[1][z] = m1 + 2.0 * m2 + v5;
        } else {
            o[1][z] = m1 + 2.0 * m2;
            o[2][z] = p1 + 4.0 * p2;
            o[3][z] = m1 + 8.0 * m2 + v5;
        }
    }
    o
}

/// `A v`, the adjoint of [`at_1d`]: `M` inputs, 6 outputs.
#[inline(always)]
fn a_1d<const M: usize>(v: &[Lanes; ALPHA]) -> [Lanes; ALPHA] {
    let mut o = [[0.0f32; LANES]; ALPHA];
    for z in 0..LANES {
        let [y0, y1, y2, y3] = [v[0][z], v[1][z], v[2][z], v[3][z]];
        if M == 2 {
            o[0][z] = y0;
            o[1][z] = y0 + y1;
            o[2][z] = y0 - y1;
            o[3][z] = y0 + 2.0 * y1;
            o[4][z] = y0 - 2.0 * y1;
            o[5][z] = y1;
        } else {
            let (e, d) = (y0 + y2, y1 + y3);
            let (e4, d8) = (y0 + 4.0 * y2, 2.0 * y1 + 8.0 * y3);
            o[0][z] = y0;
            o[1][z] = e + d;
            o[2][z] = e - d;
            o[3][z] = e4 + d8;
            o[4][z] = e4 - d8;
            o[5][z] = y3;
        }
    }
    o
}

/// `out[x][y] = sum_{k,l} p[x][k] tile[k][l] q[y][l]` on one tile, in `f64` sums: `p` is `pr x pc`,
/// `tile` is `pc x qc` (index `k * qc + l`), `q` is `qr x qc`, `out` is `pr x qr` (index `x * qr + y`) (the filter and weight-gradient transforms).
#[allow(clippy::too_many_arguments)]
fn sandwich(p: &[f32], pr: usize, pc: usize, tile: &[f32], qc: usize, q: &[f32], qr: usize, out: &mut [f32; A2]) {
    // The shapes of this file, at fixed sizes (unrolled, no bounds checks): a plan's kernel is 3 or
    // 5 (`Plan::with_min_tiles`), transformed forward (ALPHA x r x r x ALPHA) or back.
    debug_assert!(matches!((pr, pc, qc, qr), (ALPHA, 3 | 5, 3 | 5, ALPHA) | (3 | 5, ALPHA, ALPHA, 3 | 5)));
    match (pr, pc) {
        (ALPHA, 3) => sandwich_fixed::<ALPHA, 3, 3, ALPHA>(p, tile, q, out),
        (ALPHA, _) => sandwich_fixed::<ALPHA, 5, 5, ALPHA>(p, tile, q, out),
        (3, _) => sandwich_fixed::<3, ALPHA, ALPHA, 3>(p, tile, q, out),
        _ => sandwich_fixed::<5, ALPHA, ALPHA, 5>(p, tile, q, out),
    }
}

/// [`sandwich`] at sizes known at compile time.
#[inline(always)]
fn sandwich_fixed<const PR: usize, const PC: usize, const QC: usize, const QR: usize>(
    p: &[f32],
    tile: &[f32],
    q: &[f32],
    out: &mut [f32; A2],
) {
    let (p, tile, q) = (&p[..PR * PC], &tile[..PC * QC], &q[..QR * QC]);
    // Separably: t = tile q^T (`PC x QR`), then out = p t.
    let mut t = [[0.0f64; QR]; PC];
    for (k, tk) in t.iter_mut().enumerate() {
        for (y, v) in tk.iter_mut().enumerate() {
            let mut s = 0.0f64;
            for l in 0..QC {
                s += tile[k * QC + l] as f64 * q[y * QC + l] as f64;
            }
            *v = s;
        }
    }
    for x in 0..PR {
        for y in 0..QR {
            let mut s = 0.0f64;
            for (k, tk) in t.iter().enumerate() {
                s += p[x * PC + k] as f64 * tk[y];
            }
            out[x * QR + y] = s as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `F(m, r)` reproduces the 1-D correlation `y_i = sum_k g_k d_{i+k}` (eq. 5), to f32 rounding.
    #[test]
    fn transforms_compute_the_correlation() {
        for (m, r) in [(2, 5), (4, 3), (3, 4)] {
            let t = Transforms::new(m, r);
            let d: Vec<f32> = (0..ALPHA).map(|i| ((i * 7 + 3) % 11) as f32 / 5.0 - 1.0).collect();
            let g: Vec<f32> = (0..r).map(|i| ((i * 5 + 1) % 7) as f32 / 3.0 - 1.0).collect();
            let gg: Vec<f32> = (0..ALPHA).map(|j| (0..r).map(|k| t.g[j * r + k] * g[k]).sum()).collect();
            let bd: Vec<f32> = (0..ALPHA).map(|j| (0..ALPHA).map(|k| t.bt[j * ALPHA + k] * d[k]).sum()).collect();
            for i in 0..m {
                let got: f32 = (0..ALPHA).map(|j| t.at[i * ALPHA + j] * gg[j] * bd[j]).sum();
                let want: f32 = (0..r).map(|k| g[k] * d[i + k]).sum();
                assert!((got - want).abs() < 1e-5, "F({m},{r}) output {i}: {got} vs {want}");
            }
            // The transposes are the transposes.
            for i in 0..ALPHA {
                for j in 0..m {
                    assert_eq!(t.a[i * m + j], t.at[j * ALPHA + i]);
                }
            }
        }
    }

    use crate::layers::MapShape;
    use crate::layers::conv::tests::Lcg;
    use crate::layers::conv::{Conv2d, Padding};

    /// The largest difference between `got` and `want`, relative to `want`'s largest value.
    fn relative_error(got: &[f32], want: &[f32]) -> f32 {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        got.iter().zip(want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale
    }

    /// The forward pass of `conv` with and without the Winograd paths agree to a relative 1e-5, and
    /// both overwrite every value of an output buffer that is already the right size (filled with
    /// NaN first). Returns the output shape.
    fn forward_agrees_with_im2col(conv: &Conv2d, x: &[f32], n: usize, input: MapShape) -> MapShape {
        let config = conv.config;
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        let shape = conv.forward_as(x, n, input, &mut fast, true).unwrap();
        conv.forward_as(x, n, input, &mut slow, false).unwrap();
        for (buf, winograd) in [(&mut fast, true), (&mut slow, false)] {
            buf.fill(f32::NAN);
            conv.forward_as(x, n, input, buf, winograd).unwrap();
            assert!(buf.iter().all(|v| v.is_finite()), "{config:?}: a value was not overwritten (winograd {winograd})");
        }
        let e = relative_error(&fast, &slow);
        assert!(e < 1e-5, "{config:?} forward: relative error {e}");
        shape
    }

    /// Forward, weight, bias and input gradients of Winograd's algorithm against im2col + GEMM, on
    /// maps that are not a multiple of the tile (partial tiles), with explicit and "same" padding.
    #[test]
    fn winograd_agrees_with_im2col() {
        let mut rng = Lcg(11);
        // (in, out, kernel, padding, height, width, batch)
        for (ci, co, k, padding, h, w, n) in [
            (16, 20, 5, Padding::Same, 11, 9, 5),
            (17, 16, 3, Padding::Same, 14, 13, 3),
            (16, 24, 5, Padding::Zero(3), 5, 6, 7),
            (16, 16, 5, Padding::Zero(0), 12, 11, 2),
            (20, 16, 3, Padding::Zero(2), 14, 11, 33),
        ] {
            let config = Conv2dConfig { in_channels: ci, out_channels: co, kernel: k, stride: 1, padding };
            let conv = Conv2d::new(config, rng.vec(config.weight_len()), rng.vec(co)).unwrap();
            let input = MapShape::new("x", ci, h, w).unwrap();
            let g = Geometry::conv("conv2d", input, k, 1, config.pad().unwrap()).unwrap();
            assert!(Plan::new(&config, &g).is_some(), "{config:?} should take the Winograd path");
            let x = rng.vec(n * input.size());
            let shape = forward_agrees_with_im2col(&conv, &x, n, input);
            let go = rng.vec(n * shape.size());
            let run = |winograd: bool| {
                let (mut gw, mut gb, mut gx) = (vec![0.0; config.weight_len()], vec![0.0; co], vec![0.0; x.len()]);
                conv.backward_as(&x, n, input, &go, &mut gw, &mut gb, Some(&mut gx), winograd).unwrap();
                (gw, gb, gx)
            };
            let (fw, fb, fx) = run(true);
            let (sw, sb, sx) = run(false);
            for (what, a, b) in [("weight", &fw, &sw), ("bias", &fb, &sb), ("input", &fx, &sx)] {
                let e = relative_error(a, b);
                assert!(e < 1e-5, "{config:?} {what} gradient: relative error {e}");
            }
            // Without the input gradient, the weight gradient is the same.
            let (mut gw, mut gb) = (vec![0.0; config.weight_len()], vec![0.0; co]);
            conv.backward_as(&x, n, input, &go, &mut gw, &mut gb, None, true).unwrap();
            assert_eq!(gw, fw);
        }
    }

    /// Kernels larger than 5 split into 3x3 pieces over shifted maps ([`Split`]): forward, weight,
    /// bias and input gradients against im2col + GEMM, for kernels of 6, 7, 8 and 11, whole and
    /// partial tiles, few and many input channels; and the same bits on 1 and 2 threads.
    #[test]
    fn split_large_kernels_agree_with_im2col_and_with_themselves_across_threads() {
        let mut rng = Lcg(23);
        // (in, out, kernel, padding, height, width, batch)
        for (ci, co, k, p, h, w, n) in [
            (16, 16, 8, 3, 9, 9, 5),   // Goodfellow et al.'s second layer, scaled down: 8x8 outputs
            (2, 16, 8, 0, 15, 15, 3),  // 18 shifted maps from 2
            (16, 20, 7, 3, 12, 12, 3), // q = 3 with a zero row and column of pieces
            (16, 16, 6, 1, 17, 17, 2), // 14x14 outputs: partial tiles
            (16, 16, 11, 5, 16, 16, 2),
        ] {
            let config = Conv2dConfig { in_channels: ci, out_channels: co, kernel: k, stride: 1, padding: Padding::Zero(p) };
            let conv = Conv2d::new(config, rng.vec(config.weight_len()), rng.vec(co)).unwrap();
            let input = MapShape::new("x", ci, h, w).unwrap();
            let g = Geometry::conv("conv2d", input, k, 1, p).unwrap();
            assert!(Split::new(&config, &g).is_some(), "{config:?} should be split");
            let x = rng.vec(n * input.size());
            let shape = forward_agrees_with_im2col(&conv, &x, n, input);
            let go = rng.vec(n * shape.size());
            let run = |winograd: bool, threads: usize| {
                rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
                    let (mut gw, mut gb, mut gx) = (vec![0.0; config.weight_len()], vec![0.0; co], vec![0.0; x.len()]);
                    conv.backward_as(&x, n, input, &go, &mut gw, &mut gb, Some(&mut gx), winograd).unwrap();
                    (gw, gb, gx)
                })
            };
            let (fw, fb, fx) = run(true, 2);
            let (sw, sb, sx) = run(false, 2);
            for (what, a, b) in [("weight", &fw, &sw), ("bias", &fb, &sb), ("input", &fx, &sx)] {
                let e = relative_error(a, b);
                assert!(e < 1e-5, "{config:?} {what} gradient: relative error {e}");
            }
            assert!(run(true, 1) == (fw, fb, fx), "{config:?}: results differ between 1 and 2 threads");
        }
        // Not split: stride 2, a 5x5 kernel (Winograd's own), one input map (9 pieces, too few).
        let input = MapShape::new("x", 1, 28, 28).unwrap();
        for (ci, k, s) in [(16, 8, 2), (16, 5, 1), (1, 8, 1)] {
            let config = Conv2dConfig { in_channels: ci, out_channels: 96, kernel: k, stride: s, padding: Padding::Zero(0) };
            let input = MapShape { channels: ci, ..input };
            let g = Geometry::conv("conv2d", input, k, s, 0).unwrap();
            assert!(Split::new(&config, &g).is_none(), "{config:?} should not be split");
        }
    }

    /// Bit-for-bit the same results on 1 and 2 threads (the chunks depend on the batch only).
    #[test]
    fn winograd_results_do_not_depend_on_the_thread_count() {
        let mut rng = Lcg(5);
        let config = Conv2dConfig { in_channels: 16, out_channels: 16, kernel: 5, stride: 1, padding: Padding::Same };
        let conv = Conv2d::new(config, rng.vec(config.weight_len()), rng.vec(16)).unwrap();
        let input = MapShape::new("x", 16, 8, 8).unwrap();
        let n = 40;
        let x = rng.vec(n * input.size());
        let go = rng.vec(n * 16 * 64);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
                let mut out = Vec::new();
                conv.forward_as(&x, n, input, &mut out, true).unwrap();
                let (mut gw, mut gb, mut gx) = (vec![0.0; config.weight_len()], vec![0.0; 16], vec![0.0; x.len()]);
                conv.backward_as(&x, n, input, &go, &mut gw, &mut gb, Some(&mut gx), true).unwrap();
                (out, gw, gb, gx)
            })
        };
        assert!(run(1) == run(2), "results differ between 1 and 2 threads");
    }

    /// Kernels other than 3 and 5, strides above 1, few channels and small maps keep im2col.
    #[test]
    fn plan_only_for_the_layers_it_pays_for() {
        let input = MapShape::new("x", 16, 12, 12).unwrap();
        let base = Conv2dConfig { in_channels: 16, out_channels: 16, kernel: 5, stride: 1, padding: Padding::Same };
        let plan = |c: Conv2dConfig| {
            let i = MapShape { channels: c.in_channels, ..input };
            Plan::new(&c, &Geometry::conv("conv2d", i, c.kernel, c.stride, c.pad().unwrap()).unwrap()).is_some()
        };
        assert!(plan(base));
        assert!(!plan(Conv2dConfig { stride: 2, ..base }));
        assert!(!plan(Conv2dConfig { kernel: 7, ..base }));
        assert!(!plan(Conv2dConfig { in_channels: 1, ..base }));
        assert!(!plan(Conv2dConfig { out_channels: 8, ..base }));
        // 5x5 outputs are 9 tiles of 2x2, fewer than MIN_TILES.
        let small = MapShape::new("x", 16, 5, 5).unwrap();
        assert!(Plan::new(&base, &Geometry::conv("conv2d", small, 5, 1, 2).unwrap()).is_none());
    }

    /// The hand-written 1-D kernels apply the matrices [`Transforms`] computes.
    #[test]
    fn kernels_apply_the_computed_matrices() {
        let unit = |i: usize| {
            let mut v = [[0.0f32; LANES]; ALPHA];
            v[i] = [1.0; LANES];
            v
        };
        for (m, r) in [(2, 5), (4, 3)] {
            let t = Transforms::new(m, r);
            for i in 0..ALPHA {
                let (bt, b) = (bt_1d(&unit(i)), b_1d(&unit(i)));
                let (at, a) =
                    if m == 2 { (at_1d::<2>(&unit(i)), a_1d::<2>(&unit(i))) } else { (at_1d::<4>(&unit(i)), a_1d::<4>(&unit(i))) };
                for j in 0..ALPHA {
                    assert_eq!(bt[j][0], t.bt[j * ALPHA + i], "F({m},{r}) B^T[{j}][{i}]");
                    assert_eq!(b[j][0], t.b[j * ALPHA + i], "F({m},{r}) B[{j}][{i}]");
                }
                for (j, row) in at.iter().enumerate().take(m) {
                    assert_eq!(row[0], t.at[j * ALPHA + i], "F({m},{r}) A^T[{j}][{i}]");
                }
                if i < m {
                    let got: Vec<f32> = a.iter().map(|v| v[0]).collect();
                    assert_eq!(got, (0..ALPHA).map(|k| t.a[k * m + i]).collect::<Vec<_>>(), "F({m},{r}) A column {i}");
                }
            }
        }
    }

    #[test]
    fn inverse_of_a_known_matrix() {
        let inv = invert(&[2.0, 1.0, 1.0, 1.0], 2);
        let want = [1.0, -1.0, -1.0, 2.0];
        assert!(inv.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{inv:?}");
    }
}
