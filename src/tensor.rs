//! A row-major `f32` matrix and the matrix products the dense layers need.
//!
//! The dense hot path (forward and backward of fully connected layers) works on plain row-major
//! buffers: one row per example, one column per unit. Products go to the `gemm` crate, the GEMM that
//! burn's `flex` backend also calls, so that layers pay no tensor-framework overhead and the
//! element-wise work (bias, competition, dropout) can be fused into a single pass.

use crate::error::{Error, Result};

/// A dense row-major matrix of `f32`: `data[r * cols + c]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matrix {
    /// Number of rows (examples in a batch).
    pub rows: usize,
    /// Number of columns (features or units).
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub data: Vec<f32>,
}

impl Matrix {
    /// A `rows x cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix { rows, cols, data: vec![0.0; rows * cols] }
    }

    /// Wraps `data` as a `rows x cols` matrix; refuses a buffer of the wrong length.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(Error::shape("matrix buffer", format!("{} values", data.len()), format!("{rows} x {cols} = {}", rows * cols)));
        }
        Ok(Matrix { rows, cols, data })
    }

    /// Row `r` as a slice.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// Row `r` as a mutable slice.
    pub fn row_mut(&mut self, r: usize) -> &mut [f32] {
        &mut self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// Resizes to `rows x cols`, reusing the allocation; the content is unspecified afterwards.
    pub fn resize(&mut self, rows: usize, cols: usize) {
        self.rows = rows;
        self.cols = cols;
        self.data.resize(rows * cols, 0.0);
    }

    /// The transpose, as a new matrix.
    pub fn transpose(&self) -> Matrix {
        let mut t = Matrix::zeros(self.cols, self.rows);
        for r in 0..self.rows {
            for c in 0..self.cols {
                t.data[c * self.rows + r] = self.data[r * self.cols + c];
            }
        }
        t
    }
}

/// How one operand of [`matmul`] is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// As stored.
    N,
    /// Transposed (no copy is made: only the strides change).
    T,
}

thread_local! {
    /// Set by [`sequential`]: the products of this thread run on it alone.
    static SEQUENTIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the products of the calling thread kept on that thread: for tasks that already
/// run in parallel (one per layer), where splitting each product again only adds scheduling.
pub fn sequential<T>(f: impl FnOnce() -> T) -> T {
    let before = SEQUENTIAL.with(|s| s.replace(true));
    let out = f();
    SEQUENTIAL.with(|s| s.set(before));
    out
}

/// Whether the calling thread runs inside [`sequential`].
pub fn is_sequential() -> bool {
    SEQUENTIAL.with(std::cell::Cell::get)
}

/// Number of threads the products may use (rayon's pool size; 1 means sequential).
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// `c = beta_c * c + op(a) * op(b)`, with `beta_c` either 0 (overwrite) or 1 (accumulate).
///
/// `c` must already have the shape of the product; shapes are checked and a mismatch is an error,
/// never undefined behaviour.
pub fn matmul(c: &mut Matrix, a: &Matrix, op_a: Op, b: &Matrix, op_b: Op, accumulate: bool) -> Result<()> {
    matmul_scaled(c, a, op_a, b, op_b, accumulate, 1.0)
}

/// `c = beta_c * c + scale * op(a) * op(b)`, `beta_c` 0 or 1 as in [`matmul`]: the scale rides in
/// the GEMM, so that `c += s a b` (a learning rule's update, a residual `x - y w`) needs no
/// temporary.
pub fn matmul_scaled(c: &mut Matrix, a: &Matrix, op_a: Op, b: &Matrix, op_b: Op, accumulate: bool, scale: f32) -> Result<()> {
    let (rows, cols) = (c.rows, c.cols);
    gemm_view(&mut c.data, (rows, cols), a.view(), op_a, b.view(), op_b, accumulate, scale)
}

/// A borrowed row-major `rows x cols` block of values: a matrix, or a run of its rows (one time
/// step of a stack of recurrent states), as an operand of [`gemm_view`].
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub data: &'a [f32],
}

impl<'a> View<'a> {
    /// Rows `start..end` of the view.
    pub fn rows_range(&self, start: usize, end: usize) -> View<'a> {
        View { rows: end - start, cols: self.cols, data: &self.data[start * self.cols..end * self.cols] }
    }
}

impl Matrix {
    /// The whole matrix as a [`View`].
    pub fn view(&self) -> View<'_> {
        View { rows: self.rows, cols: self.cols, data: &self.data }
    }
}

/// [`matmul_scaled`] on views: `c` (`c_shape`, row-major) `= beta_c * c + scale * op(a) * op(b)`.
/// Every shape and buffer length is checked; a mismatch is an error.
#[allow(clippy::too_many_arguments)]
pub fn gemm_view(
    c: &mut [f32],
    c_shape: (usize, usize),
    a: View<'_>,
    op_a: Op,
    b: View<'_>,
    op_b: Op,
    accumulate: bool,
    scale: f32,
) -> Result<()> {
    let (m, k) = match op_a {
        Op::N => (a.rows, a.cols),
        Op::T => (a.cols, a.rows),
    };
    let (k2, n) = match op_b {
        Op::N => (b.rows, b.cols),
        Op::T => (b.cols, b.rows),
    };
    if k != k2 || c_shape != (m, n) {
        return Err(Error::shape(
            "matmul",
            format!("op(a) {m}x{k} * op(b) {k2}x{n} into {}x{}", c_shape.0, c_shape.1),
            "inner dimensions equal and the output of the product's shape",
        ));
    }
    if a.data.len() != a.rows * a.cols || b.data.len() != b.rows * b.cols || c.len() != m * n {
        return Err(Error::shape(
            "matmul buffers",
            format!("{} / {} / {} values", a.data.len(), b.data.len(), c.len()),
            format!("{} / {} / {}", a.rows * a.cols, b.rows * b.cols, m * n),
        ));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return Ok(());
    }
    // Row-major strides: element (i, j) of a stored r x c matrix is at i * c + j.
    let (a_rs, a_cs) = match op_a {
        Op::N => (a.cols as isize, 1),
        Op::T => (1, a.cols as isize),
    };
    let (b_rs, b_cs) = match op_b {
        Op::N => (b.cols as isize, 1),
        Op::T => (1, b.cols as isize),
    };
    let product = RawProduct { c: c.as_mut_ptr(), n, k, a: a.data.as_ptr(), a_rs, a_cs, b: b.data.as_ptr(), b_rs, b_cs, accumulate, scale };
    let threads = threads();
    let parallel = threads > 1 && m * n * k >= 64 * 64 * 64 && !SEQUENTIAL.with(std::cell::Cell::get);
    // SAFETY (every call below): the shapes and buffer lengths were checked above, so every index
    // the strides reach lies inside the three buffers; `c` is borrowed mutably and cannot alias `a`
    // or `b`; the blocks of a split are disjoint runs of rows (or columns) of `c`.
    match parallel.then(|| split(m, n, threads)).flatten() {
        Some((per, by_rows)) => {
            let (product, long) = (&product, if by_rows { m } else { n });
            rayon::scope(|scope| {
                for start in (0..long).step_by(per) {
                    let end = (start + per).min(long);
                    let (rows, cols) = if by_rows { (start..end, 0..n) } else { (0..m, start..end) };
                    scope.spawn(move |_| unsafe { product.run(rows, cols, gemm::Parallelism::None) });
                }
            });
        }
        None if parallel => unsafe { product.run(0..m, 0..n, gemm::Parallelism::Rayon(threads)) },
        None => unsafe { product.run(0..m, 0..n, gemm::Parallelism::None) },
    }
    Ok(())
}

/// How a parallel `m x n` product is cut for `threads` threads: `Some((per, by_rows))`, blocks of
/// `per` rows (`by_rows`) or columns of the longer output side, each a single-threaded gemm call;
/// `None` where the product stays whole on gemm's own threads.
///
/// gemm's own rayon mode splits the packed panels finely and synchronizes between them; for the
/// batch-100 products of this toolkit (100x784 by 784x1000 and the like) the coarse split measured
/// 0.60-0.70 of its time on 2 threads, and 0.86-1.02 (noise) on the others (RESULTS.md, "Dense
/// products split per thread"). Blocks are multiples of 48: a multiple of the 6 columns of gemm's
/// AVX-512 and AVX2 micro-tiles (gemm computes a row-major `c` as its transpose, so those are our
/// rows) and of the 16 lanes of its rows (a multiple of its 64-row AVX-512 tile was tried and made
/// no measurable difference).
///
/// gemm sums over k in blocks whose size depends on k alone, except in its kernels for small
/// outputs (both sides at most 64, or at most 256 values), which block k by 512. A block in another
/// regime than the whole product would round differently and make results depend on the thread
/// count, so such products are not cut.
fn split(m: usize, n: usize, threads: usize) -> Option<(usize, bool)> {
    let (long, short, by_rows) = if m >= n { (m, n, true) } else { (n, m, false) };
    let per = long.div_ceil(threads.max(1)).div_ceil(48) * 48;
    let smallest = per.min(long - (long.div_ceil(per) - 1) * per);
    let same_regime = (smallest > 64 || short > 64) && smallest * short > 256;
    (same_regime && long > per).then_some((per, by_rows))
}

/// The operands of one checked product `c = beta_c * c + scale * op(a) * op(b)` as raw pointers
/// and strides, so that disjoint blocks of `c` can be computed on several threads at once.
struct RawProduct {
    c: *mut f32,
    n: usize,
    k: usize,
    a: *const f32,
    a_rs: isize,
    a_cs: isize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
    accumulate: bool,
    scale: f32,
}

// SAFETY: a `RawProduct` is only shared inside `gemm_view`, whose threads write disjoint blocks of
// `c` and only read `a` and `b`, all of which outlive the scope.
unsafe impl Sync for RawProduct {}

impl RawProduct {
    /// Rows `rows` and columns `cols` of the product, on `par`'s threads.
    ///
    /// # Safety
    /// The ranges lie inside the product's checked shape, and no other thread writes the same
    /// block of `c` at the same time.
    unsafe fn run(&self, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>, par: gemm::Parallelism) {
        let (r0, c0) = (rows.start as isize, cols.start as isize);
        let n = self.n as isize;
        // SAFETY: by the caller's contract every offset below stays inside the three buffers.
        unsafe {
            gemm::gemm(
                rows.len(),
                cols.len(),
                self.k,
                self.c.offset(r0 * n + c0),
                1,
                n,
                self.accumulate,
                self.a.offset(r0 * self.a_rs),
                self.a_cs,
                self.a_rs,
                self.b.offset(c0 * self.b_cs),
                self.b_cs,
                self.b_rs,
                if self.accumulate { 1.0 } else { 0.0 },
                self.scale,
                false,
                false,
                false,
                par,
            );
        }
    }
}

/// `a · b` over the shorter of the two slices, summed in 8 lanes so that the compiler vectorizes it
/// (the sparse products of the winner-take-all autoencoders use it).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// `e^x` in f32 without a library call, so that loops over slices vectorize: Cephes' `expf`
/// (range reduction `x = n ln 2 + r`, `|r| <= ln 2 / 2`, a degree-5 polynomial in `r`, then
/// `2^n` written into the exponent bits), within 2 ulp of the exact value on `[-87, 88]`
/// (`exp_matches_f64_within_two_ulp`). Plain multiplies and adds (no fused multiply-add), so
/// every instruction set gives the same bits. Arguments are clamped to that range: below it the result
/// is `e^-87` (about 1.6e-38) instead of a subnormal or 0, above it `e^88`; NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, the first exact in a few bits, so that n * LN2_HI has no rounding error.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to the nearest integer and leaves that integer in the low bits.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + MAGIC;
    let n = shifted - MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p: f32 = 1.987_569_2e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e_r = p * (r * r) + r + 1.0;
    // The integer n sits in the low bits of `shifted` as 0x4B40_0000 + n; 2^n is (n + 127) << 23.
    let two_n = f32::from_bits(shifted.to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127) << 23);
    e_r * two_n
}

/// The logistic function `1 / (1 + e^-x)` of every value, in place, with [`exp`], vectorized for
/// the best instruction set of the CPU ([`dispatch`]).
pub fn sigmoid_in_place(xs: &mut [f32]) {
    dispatch(|| {
        for v in xs {
            *v = 1.0 / (1.0 + exp(-*v));
        }
    });
}

/// Runs `f` compiled for the best instruction set this CPU has (AVX-512, AVX2 + FMA, or the
/// baseline): `f` is inlined into each variant, so its lane loops use that set's vectors. The
/// choice is made at run time, so a build for any x86-64 runs everywhere.
#[inline(always)]
pub fn dispatch<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { run_avx512(f) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { run_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn run_avx512<T>(f: impl FnOnce() -> T) -> T {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// `y += alpha x` over the shorter of the two slices.
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_f64_within_two_ulp() {
        // Every 97th f32 bit pattern between -87 and 88, and the ends.
        let (lo, hi) = (-87.0f32, 88.0f32);
        let mut worst = 0.0f64;
        let mut check = |x: f32| {
            let exact = f64::from(x).exp();
            let got = f64::from(exp(x));
            let ulp = f64::from(f32::from_bits((exact as f32).to_bits() + 1) - exact as f32);
            worst = worst.max((got - exact).abs() / ulp);
        };
        let mut b = 0u32;
        while b < 0x42B0_0000 {
            let x = f32::from_bits(b);
            if x <= hi {
                check(x);
            }
            if -x >= lo {
                check(-x);
            }
            b += 97;
        }
        check(lo);
        check(hi);
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert_eq!(exp(1000.0), exp(88.0));
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_matches_the_logistic_function() {
        let mut xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.05).collect();
        let want: Vec<f64> = xs.iter().map(|&x| 1.0 / (1.0 + (-f64::from(x)).exp())).collect();
        sigmoid_in_place(&mut xs);
        for (got, want) in xs.iter().zip(&want) {
            assert!((f64::from(*got) - want).abs() <= 2.0 * f64::from(f32::EPSILON) * want.max(1e-30), "{got} vs {want}");
        }
        let mut ends = [-1e30f32, 1e30];
        sigmoid_in_place(&mut ends);
        assert!(ends[0] >= 0.0 && ends[0] < 1e-37 && ends[1] == 1.0);
    }

    fn naive(a: &Matrix, op_a: Op, b: &Matrix, op_b: Op) -> Matrix {
        let a = if op_a == Op::T { a.transpose() } else { a.clone() };
        let b = if op_b == Op::T { b.transpose() } else { b.clone() };
        let mut c = Matrix::zeros(a.rows, b.cols);
        for i in 0..a.rows {
            for j in 0..b.cols {
                let mut s = 0.0f64;
                for p in 0..a.cols {
                    s += a.data[i * a.cols + p] as f64 * b.data[p * b.cols + j] as f64;
                }
                c.data[i * b.cols + j] = s as f32;
            }
        }
        c
    }

    fn filled(rows: usize, cols: usize, seed: u32) -> Matrix {
        let data =
            (0..rows * cols).map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0 - 1.0).collect();
        Matrix { rows, cols, data }
    }

    #[test]
    fn products_split_over_threads_match_the_naive_product_and_one_thread() {
        // Tall (split by rows), wide (split by columns), a side that is no multiple of 48, a
        // block count that does not divide it, and `c +=` with a scale; a narrow output with a
        // long k (split: its blocks stay out of gemm's small-output kernels); and two products
        // whose blocks would fall into those kernels (which sum k = 1024 in two halves), so they
        // stay whole.
        let shapes = [
            (300, 70, 100, 2),
            (100, 80, 290, 2),
            (130, 64, 131, 3),
            (97, 65, 200, 4),
            (300, 1024, 4, 2),
            (8, 1024, 75, 2),
            (130, 1024, 2, 2),
        ];
        for (m, k, n, threads) in shapes {
            for (op_a, op_b) in [(Op::N, Op::N), (Op::N, Op::T), (Op::T, Op::N)] {
                let a = if op_a == Op::N { filled(m, k, 3) } else { filled(k, m, 3) };
                let b = if op_b == Op::N { filled(k, n, 4) } else { filled(n, k, 4) };
                let start = filled(m, n, 5);
                let run = |threads: usize| {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    pool.install(|| {
                        let mut c = start.clone();
                        matmul_scaled(&mut c, &a, op_a, &b, op_b, true, -0.5).unwrap();
                        c
                    })
                };
                let (one, many) = (run(1), run(threads));
                let want = naive(&a, op_a, &b, op_b);
                for i in 0..m * n {
                    let expect = start.data[i] - 0.5 * want.data[i];
                    assert!((many.data[i] - expect).abs() < 1e-3, "{m}x{k}x{n} at {i}: {} vs {expect}", many.data[i]);
                }
                assert!(one == many, "{m}x{k}x{n} ({op_a:?}, {op_b:?}): {threads} threads differ from 1");
            }
        }
    }

    #[test]
    fn every_transpose_combination_matches_the_naive_product() {
        for (op_a, op_b) in [(Op::N, Op::N), (Op::N, Op::T), (Op::T, Op::N), (Op::T, Op::T)] {
            let (m, k, n) = (70, 90, 65);
            let a = if op_a == Op::N { filled(m, k, 1) } else { filled(k, m, 1) };
            let b = if op_b == Op::N { filled(k, n, 2) } else { filled(n, k, 2) };
            let mut c = Matrix::zeros(m, n);
            matmul(&mut c, &a, op_a, &b, op_b, false).unwrap();
            let want = naive(&a, op_a, &b, op_b);
            for (x, y) in c.data.iter().zip(&want.data) {
                assert!((x - y).abs() < 1e-3, "{op_a:?}{op_b:?}: {x} vs {y}");
            }
            // Accumulating adds the product once more.
            matmul(&mut c, &a, op_a, &b, op_b, true).unwrap();
            for (x, y) in c.data.iter().zip(&want.data) {
                assert!((x - 2.0 * y).abs() < 2e-3);
            }
        }
    }

    #[test]
    fn mismatched_shapes_are_an_error() {
        let a = Matrix::zeros(3, 4);
        let b = Matrix::zeros(5, 2);
        let mut c = Matrix::zeros(3, 2);
        let err = matmul(&mut c, &a, Op::N, &b, Op::N, false).unwrap_err();
        assert!(err.to_string().contains("matmul"), "{err}");
    }
}
