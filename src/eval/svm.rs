//! A linear support vector machine on features of a model: scikit-learn's `LinearSVC` with its
//! defaults (paper B, section 4: "a naive linear classifier (i.e., SVM) on top of" the unsupervised
//! features).
//!
//! **Problem.** One-vs-rest: for each class `k` a binary L2-regularised, L2-loss (squared hinge)
//! SVM separates class `k` (`y = +1`) from the others (`y = -1`); the prediction is the class of
//! the largest decision value. Two classes need one binary SVM (as `LinearSVC`): class 1 is
//! positive and class 0 gets the negated weights. With the intercept handled as `LinearSVC`'s
//! `fit_intercept=True, intercept_scaling=1` (a constant feature 1 appended to every example and
//! regularised like the weights), each binary problem is, for `x~_i = [x_i, 1]`,
//!
//! ```text
//! primal (LIBLINEAR eq. (2), L2 loss):  min_w  0.5 w.w + C sum_i max(0, 1 - y_i w.x~_i)^2
//! dual   (Hsieh et al. 2008, eq. (4)):   min_a  0.5 a^T (Q + D) a - e^T a,   a_i >= 0,
//!        Q_ij = y_i y_j x~_i.x~_j,   D_ii = 1 / (2C),   w = sum_i a_i y_i x~_i.
//! ```
//!
//! **Solver.** Dual coordinate descent (Hsieh et al. 2008, Algorithm 1), as LIBLINEAR's
//! `solve_l2r_l1l2_svc` for the L2 loss (`U = inf`, `D_ii = 1/(2C)`): one pass updates every
//! active coordinate once, in a random order drawn from a seeded generator (so a seed gives one
//! result), keeping `w` up to date so that the gradient `G = y_i w.x~_i - 1 + D_ii a_i` costs one
//! dot product and the update one axpy. `Q_ii = x~_i.x~_i` is computed once for all classes.
//! Shrinking and the stopping rule are LIBLINEAR's: a coordinate at `a_i = 0` whose gradient
//! exceeds the previous pass's largest projected gradient is set aside; the solver stops when the
//! largest minus the smallest projected gradient of a pass is at most `tol` with every coordinate
//! active (after shrinking, it reactivates all of them and checks again), or after `max_iter`
//! passes (`LinearSVC` then warns; here [`LinearSvm::converged`] says so).
//!
//! **The classes together.** LIBLINEAR solves the one-vs-rest problems one after another, reading
//! every example once or twice per pass per class. Here up to 16 problems share each pass: the
//! examples are visited in one random order per pass, and each visit reads the example once for
//! the decision values of all problems (their weights stored feature-major, `w[j][problem]`, so
//! the problems are the vector lanes) and once more for the updates of the problems whose dual
//! variable moved. Each problem keeps its own dual variables, active set, shrinking bounds and
//! stopping rule, and skips the examples it has set aside, so it follows exactly the algorithm
//! above; the order of a pass depends only on the seed and the pass, so a problem's solution does
//! not depend on which problems share its group. With several threads the problems are cut into
//! one group per thread; the result does not depend on the thread count.
//!
//! `w` and `a` are `f64` (as LIBLINEAR); the features stay `f32` and are widened in the dot and
//! axpy. When at most [`SPARSE_DENSITY`] of the features are non-zero (raw pixels, WTA codes) the
//! examples are copied once into compressed sparse rows, LIBLINEAR's own layout, which moves a
//! fraction of the bytes (the solver is bound by memory traffic: each pass reads every active
//! row). The solver is compiled three times (AVX-512F, AVX2 + FMA, baseline), the variant chosen
//! at run time.
//!
//! ```
//! use compete::eval::svm::{LinearSvm, SvmConfig};
//! use compete::tensor::Matrix;
//!
//! // Three classes on a line.
//! let x = Matrix::from_vec(6, 1, vec![-2.0, -1.8, 0.0, 0.2, 2.0, 2.2]).unwrap();
//! let labels = [0u8, 0, 1, 1, 2, 2];
//! let svm = LinearSvm::fit(&x, &labels, 3, &SvmConfig { c: 10.0, ..SvmConfig::default() }).unwrap();
//! assert!(svm.converged());
//! assert_eq!(svm.predict(&Matrix::from_vec(2, 1, vec![-3.0, 3.0]).unwrap()).unwrap(), vec![0, 2]);
//! ```
//!
//! References: C.-J. Hsieh, K.-W. Chang, C.-J. Lin, S. S. Keerthi, S. Sundararajan, "A dual
//! coordinate descent method for large-scale linear SVM", ICML 2008; R.-E. Fan et al.,
//! "LIBLINEAR: a library for large linear classification", JMLR 2008.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::Confusion;
use crate::error::{Error, Result};
use crate::tensor::{Matrix, Op, matmul};

/// The default grid of `C` that [`choose_c`] searches: 0.01 to 100 in steps of x10.
pub const DEFAULT_C_GRID: [f32; 5] = [0.01, 0.1, 1.0, 10.0, 100.0];

/// Settings of [`LinearSvm::fit`]; the defaults are scikit-learn `LinearSVC`'s.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SvmConfig {
    /// The penalty `C` of the squared hinge losses (`LinearSVC(C=1.0)`); larger fits the training
    /// data harder. Must be finite and positive.
    pub c: f32,
    /// Stopping tolerance on the projected gradient's spread, LIBLINEAR's `eps` (`LinearSVC(tol=1e-4)`).
    pub tol: f32,
    /// Most passes over the training examples per binary problem (`LinearSVC(max_iter=1000)`).
    pub max_iter: usize,
    /// Seed of the coordinate order (the same seed gives the same model).
    pub seed: u64,
}

impl Default for SvmConfig {
    fn default() -> Self {
        SvmConfig { c: 1.0, tol: 1e-4, max_iter: 1000, seed: 0 }
    }
}

impl SvmConfig {
    /// Refuses a `C` or `tol` that is not finite and positive, or `max_iter = 0`.
    pub fn validate(&self) -> Result<()> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(Error::param("C", self.c, "a finite number > 0"));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(Error::param("tol", self.tol, "a finite number > 0"));
        }
        if self.max_iter == 0 {
            return Err(Error::param("max_iter", 0, "at least 1"));
        }
        Ok(())
    }
}

/// A fitted one-vs-rest linear SVM (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearSvm {
    /// Number of classes (decision values per example).
    pub classes: usize,
    /// Features per example.
    pub width: usize,
    /// `classes x width` weights, row `k` the separator of class `k` against the rest.
    pub weights: Matrix,
    /// One intercept per class (the weight of the constant feature).
    pub intercepts: Vec<f32>,
    /// The `C` it was fitted with.
    pub c: f32,
    /// Passes over the data of each binary problem (one problem for two classes, else one per class).
    pub iterations: Vec<usize>,
    /// Whether each binary problem met the stopping rule before `max_iter` passes.
    pub converged_per_problem: Vec<bool>,
}

/// What the coordinate descent of one binary problem returns.
#[derive(Clone, Debug)]
struct BinarySolution {
    /// `width + 1` weights, the last one the intercept's.
    w: Vec<f64>,
    /// The dual variables, one per example.
    #[cfg_attr(not(test), allow(dead_code))]
    alpha: Vec<f64>,
    iterations: usize,
    converged: bool,
}

/// Checks `x` and `labels` for fitting: rows and labels agree, at least one example, finite values,
/// labels below `classes`, `classes >= 2`.
fn check_training(x: &Matrix, labels: &[u8], classes: usize) -> Result<()> {
    if !(2..=256).contains(&classes) {
        return Err(Error::param("classes", classes, "2 to 256 (labels are bytes)"));
    }
    if x.data.len() != x.rows * x.cols {
        return Err(Error::shape("SVM training features", format!("{} values", x.data.len()), format!("{} x {}", x.rows, x.cols)));
    }
    if labels.len() != x.rows {
        return Err(Error::shape("SVM training labels", format!("{} labels", labels.len()), format!("{} (one per example)", x.rows)));
    }
    if x.rows == 0 || x.cols == 0 {
        return Err(Error::Data(format!(
            "SVM training features are {} x {}: expected at least one example and one feature",
            x.rows, x.cols
        )));
    }
    if let Some(i) = labels.iter().position(|&l| l as usize >= classes) {
        return Err(Error::Data(format!("SVM training label {i} is {}: expected a class in 0..{classes}", labels[i])));
    }
    if let Some(k) = x.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::Data(format!(
            "SVM training feature {} of example {} is {}: expected finite values",
            k % x.cols,
            k / x.cols,
            x.data[k]
        )));
    }
    Ok(())
}

impl LinearSvm {
    /// Fits one-vs-rest linear SVMs to the rows of `x` (`[n, width]`) with `labels` in
    /// `0..classes` (see the module docs for the problem and solver).
    ///
    /// Errors on a bad configuration ([`SvmConfig::validate`]), fewer than 2 or more than 256 classes, labels that do
    /// not match the rows or lie outside `0..classes`, no examples, and NaN or infinite features.
    /// A class without training examples gets a separator that says "not this class" everywhere.
    pub fn fit(x: &Matrix, labels: &[u8], classes: usize, cfg: &SvmConfig) -> Result<LinearSvm> {
        cfg.validate()?;
        check_training(x, labels, classes)?;
        // Q_ii = x~_i . x~_i (the appended constant feature adds 1), computed once for all classes.
        let qd: Vec<f64> = (0..x.rows).into_par_iter().map(|i| sq_norm(x.row(i)) + 1.0).collect();
        let problems: Vec<usize> = if classes == 2 { vec![1] } else { (0..classes).collect() };
        let nonzero = x.data.par_iter().filter(|&&v| v != 0.0).count();
        let sparse = (nonzero as f64) <= SPARSE_DENSITY * x.data.len() as f64;
        let csr = sparse.then(|| Csr::from_dense(x));
        // Groups of at most MAX_LANES problems share each pass over the examples; one group per
        // thread where there are enough problems. A problem's solution does not depend on its group.
        let groups = problems.len().div_ceil(MAX_LANES).max(rayon::current_num_threads().min(problems.len()));
        let per = problems.len().div_ceil(groups);
        let positives: Vec<u8> = problems.iter().map(|&k| k as u8).collect();
        let (c, tol) = (cfg.c as f64, cfg.tol as f64);
        let solutions: Vec<BinarySolution> = positives
            .par_chunks(per)
            .flat_map_iter(|group| match &csr {
                Some(csr) => solve_group(csr, &qd, labels, group, c, tol, cfg.max_iter, cfg.seed),
                None => solve_group(x, &qd, labels, group, c, tol, cfg.max_iter, cfg.seed),
            })
            .collect();
        let d = x.cols;
        let mut weights = Matrix::zeros(classes, d);
        let mut intercepts = vec![0.0f32; classes];
        if classes == 2 {
            let w = &solutions[0].w;
            for (j, &v) in w[..d].iter().enumerate() {
                weights.data[d + j] = v as f32;
                weights.data[j] = -v as f32;
            }
            intercepts[1] = w[d] as f32;
            intercepts[0] = -w[d] as f32;
        } else {
            for (k, s) in solutions.iter().enumerate() {
                for (j, &v) in s.w[..d].iter().enumerate() {
                    weights.data[k * d + j] = v as f32;
                }
                intercepts[k] = s.w[d] as f32;
            }
        }
        Ok(LinearSvm {
            classes,
            width: d,
            weights,
            intercepts,
            c: cfg.c,
            iterations: solutions.iter().map(|s| s.iterations).collect(),
            converged_per_problem: solutions.iter().map(|s| s.converged).collect(),
        })
    }

    /// Whether every binary problem converged before `max_iter` passes (`LinearSVC` warns with a
    /// `ConvergenceWarning` otherwise; callers should say so).
    pub fn converged(&self) -> bool {
        self.converged_per_problem.iter().all(|&c| c)
    }

    /// The most passes any binary problem took.
    pub fn max_iterations(&self) -> usize {
        self.iterations.iter().copied().max().unwrap_or(0)
    }

    /// Decision values `x W^T + b`, `[n, classes]`; errors when `x` has another width than the
    /// training features.
    pub fn decision_function(&self, x: &Matrix) -> Result<Matrix> {
        if x.cols != self.width || x.data.len() != x.rows * x.cols {
            return Err(Error::shape(
                "SVM features",
                format!("{} x {} ({} values)", x.rows, x.cols, x.data.len()),
                format!("{} features per example, as the training features", self.width),
            ));
        }
        let mut scores = Matrix::zeros(x.rows, self.classes);
        matmul(&mut scores, x, Op::N, &self.weights, Op::T, false)?;
        for row in scores.data.chunks_exact_mut(self.classes) {
            for (s, b) in row.iter_mut().zip(&self.intercepts) {
                *s += b;
            }
        }
        Ok(scores)
    }

    /// The predicted class of every row of `x`: the largest decision value (the first on ties).
    pub fn predict(&self, x: &Matrix) -> Result<Vec<usize>> {
        Ok(super::argmax_rows(&self.decision_function(x)?.data, self.classes))
    }

    /// The number of rows of `x` predicted as another class than `labels` says; errors when the
    /// labels do not match the rows.
    pub fn errors(&self, x: &Matrix, labels: &[u8]) -> Result<usize> {
        if labels.len() != x.rows {
            return Err(Error::shape("SVM labels", format!("{} labels", labels.len()), format!("{} (one per example)", x.rows)));
        }
        Ok(super::error_count(&self.predict(x)?, labels))
    }
}

/// The confusion matrix of `predicted` against `labels` (rows: true class); see [`Confusion::new`].
pub fn confusion_matrix(predicted: &[usize], labels: &[u8], classes: usize) -> Result<Confusion> {
    Confusion::new(classes, predicted, labels)
}

// ---------------------------------------------------------------------------------------------
// The coordinate descent (Hsieh et al. 2008, Algorithm 1; LIBLINEAR solve_l2r_l1l2_svc)
// ---------------------------------------------------------------------------------------------

/// `a * b + c`, fused when the caller is compiled with FMA.
#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `x . x` in `f64`.
fn sq_norm(x: &[f32]) -> f64 {
    x.iter().map(|&v| (v as f64) * (v as f64)).sum()
}

/// The weights of `L` binary problems solved together, feature-major: `w[j][p]` is problem `p`'s
/// weight of feature `j`, so that one read of an example's feature serves every problem.
type Lanes<const L: usize> = [f64; L];

/// `out[p] = sum_j w[j][p] * v_j` over the entries `(j, v_j)` of one example (`index[k]`,
/// `value[k]`; `index` `None` for a dense row, whose entry `k` is feature `k`), in two sums (even
/// and odd entries) for more independent multiply-adds, added at the end.
#[inline(always)]
fn dot_entries<const FMA: bool, const L: usize>(index: Option<&[u32]>, value: &[f32], w: &[Lanes<L>]) -> Lanes<L> {
    let (mut even, mut odd) = ([0.0f64; L], [0.0f64; L]);
    let at = |k: usize| index.map_or(k, |ix| ix[k] as usize);
    let pairs = value.len() / 2;
    for q in 0..pairs {
        let (k0, k1) = (2 * q, 2 * q + 1);
        let (r0, r1) = (&w[at(k0)], &w[at(k1)]);
        let (v0, v1) = (value[k0] as f64, value[k1] as f64);
        for p in 0..L {
            even[p] = madd::<FMA>(r0[p], v0, even[p]);
            odd[p] = madd::<FMA>(r1[p], v1, odd[p]);
        }
    }
    if value.len() % 2 == 1 {
        let k = value.len() - 1;
        let (r, v) = (&w[at(k)], value[k] as f64);
        for p in 0..L {
            even[p] = madd::<FMA>(r[p], v, even[p]);
        }
    }
    for p in 0..L {
        even[p] += odd[p];
    }
    even
}

/// `w[j][p] += a[p] * v_j` over the entries of one example (as [`dot_entries`]).
#[inline(always)]
fn axpy_entries<const FMA: bool, const L: usize>(index: Option<&[u32]>, value: &[f32], a: &Lanes<L>, w: &mut [Lanes<L>]) {
    for (k, &v) in value.iter().enumerate() {
        let row = &mut w[index.map_or(k, |ix| ix[k] as usize)];
        let v = v as f64;
        for p in 0..L {
            row[p] = madd::<FMA>(a[p], v, row[p]);
        }
    }
}

/// The examples as the solver reads them: one pass over a row's entries for the decision values
/// of all the problems of a group, one more for their updates.
trait Rows: Sync {
    fn rows(&self) -> usize;
    fn cols(&self) -> usize;
    /// `(w^T x_i)[p]` for every lane `p`, over the first `cols` rows of `w`.
    fn dot<const FMA: bool, const L: usize>(&self, i: usize, w: &[Lanes<L>]) -> Lanes<L>;
    /// `w[j][p] += a[p] x_ij`.
    fn axpy<const FMA: bool, const L: usize>(&self, i: usize, a: &Lanes<L>, w: &mut [Lanes<L>]);
    /// Asks the CPU to start loading row `i` (the next one the solver visits, in random order).
    fn prefetch(&self, i: usize);
}

/// Starts loading the first cache lines of `data` into the caches (no effect off x86-64).
#[inline(always)]
fn prefetch_start<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let bytes = std::mem::size_of_val(data).min(PREFETCH_BYTES);
        let base = data.as_ptr() as *const i8;
        for off in (0..bytes).step_by(64) {
            // SAFETY: a prefetch is a hint; the address lies inside `data`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// The most of the next row [`Rows::prefetch`] asks for: the whole row of the sparse features
/// here (a few hundred bytes of indices and as many of values), the first 4 KiB of a dense one.
/// Asking for only the first 256 bytes measured the same on raw pixels; no hint at all was slower
/// (RESULTS.md).
const PREFETCH_BYTES: usize = 4096;

impl Rows for Matrix {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.cols
    }
    #[inline(always)]
    fn dot<const FMA: bool, const L: usize>(&self, i: usize, w: &[Lanes<L>]) -> Lanes<L> {
        dot_entries::<FMA, L>(None, self.row(i), w)
    }
    #[inline(always)]
    fn axpy<const FMA: bool, const L: usize>(&self, i: usize, a: &Lanes<L>, w: &mut [Lanes<L>]) {
        axpy_entries::<FMA, L>(None, self.row(i), a, w)
    }
    #[inline(always)]
    fn prefetch(&self, i: usize) {
        prefetch_start(self.row(i));
    }
}

/// The examples in compressed sparse rows, LIBLINEAR's own layout (it stores only non-zero
/// features): used when at most [`SPARSE_DENSITY`] of the values are non-zero (raw MNIST pixels:
/// 19%; WTA features: a few percent), where it moves a fraction of the dense rows' bytes.
struct Csr {
    rows: usize,
    cols: usize,
    /// Row `i`'s entries are `start[i]..start[i + 1]`.
    start: Vec<usize>,
    index: Vec<u32>,
    value: Vec<f32>,
}

/// The largest fraction of non-zero features for which [`LinearSvm::fit`] stores the examples
/// as sparse rows.
pub const SPARSE_DENSITY: f64 = 0.5;

impl Csr {
    fn from_dense(x: &Matrix) -> Csr {
        let nnz = x.data.iter().filter(|&&v| v != 0.0).count();
        let mut start = Vec::with_capacity(x.rows + 1);
        let (mut index, mut value) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
        start.push(0);
        for i in 0..x.rows {
            for (j, &v) in x.row(i).iter().enumerate() {
                if v != 0.0 {
                    index.push(j as u32);
                    value.push(v);
                }
            }
            start.push(index.len());
        }
        Csr { rows: x.rows, cols: x.cols, start, index, value }
    }

    /// Row `i`'s feature indices and values.
    #[inline(always)]
    fn entries(&self, i: usize) -> (&[u32], &[f32]) {
        let (s, e) = (self.start[i], self.start[i + 1]);
        (&self.index[s..e], &self.value[s..e])
    }
}

impl Rows for Csr {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.cols
    }
    #[inline(always)]
    fn dot<const FMA: bool, const L: usize>(&self, i: usize, w: &[Lanes<L>]) -> Lanes<L> {
        let (index, value) = self.entries(i);
        dot_entries::<FMA, L>(Some(index), value, w)
    }
    #[inline(always)]
    fn axpy<const FMA: bool, const L: usize>(&self, i: usize, a: &Lanes<L>, w: &mut [Lanes<L>]) {
        let (index, value) = self.entries(i);
        axpy_entries::<FMA, L>(Some(index), value, a, w)
    }
    #[inline(always)]
    fn prefetch(&self, i: usize) {
        let (index, value) = self.entries(i);
        prefetch_start(index);
        prefetch_start(value);
    }
}

/// The most binary problems one pass over the examples serves (one lane each).
const MAX_LANES: usize = 16;

/// The data of a group of binary problems, solved together.
struct Group<'a, R> {
    /// The examples (without the constant feature).
    x: &'a R,
    /// `x~_i . x~_i`.
    qd: &'a [f64],
    labels: &'a [u8],
    /// The class that is `y = +1` in each problem, at most [`MAX_LANES`].
    positives: &'a [u8],
    c: f64,
    eps: f64,
    max_iter: usize,
    seed: u64,
}

/// Dual coordinate descent for binary L2-loss SVMs (Hsieh et al. 2008, Algorithm 1, with
/// LIBLINEAR's shrinking), one per class of `positives` (that class against the rest), solved
/// together: each pass visits the examples in one random order and updates, for each example,
/// every problem in which its coordinate is still active; the decision values of all problems come
/// from one read of the example (the solver is bound by reading the examples). Each problem keeps
/// its own dual variables, active set, projected-gradient bounds and stopping rule, and the order
/// of pass `t` depends only on `seed` and `t`, so a problem's solution does not depend on which
/// problems share its group (hence not on the thread count).
#[allow(clippy::too_many_arguments)]
fn solve_group<R: Rows>(
    x: &R,
    qd: &[f64],
    labels: &[u8],
    positives: &[u8],
    c: f64,
    eps: f64,
    max_iter: usize,
    seed: u64,
) -> Vec<BinarySolution> {
    assert!(!positives.is_empty() && positives.len() <= MAX_LANES, "1 to {MAX_LANES} problems per group");
    let g = Group { x, qd, labels, positives, c, eps, max_iter, seed };
    match positives.len() {
        1..=4 => solve::<R, 4>(&g),
        5..=8 => solve::<R, 8>(&g),
        _ => solve::<R, 16>(&g),
    }
}

/// [`solve_impl`] compiled for the CPU's best instruction set, with fused multiply-adds where it
/// has them. Not [`crate::tensor::dispatch`]: that one runs a closure, and LLVM does not inline a
/// closure this large into the function that carries the target features, so the solver ran in
/// the closure without them and `mul_add` became a library call (15 times slower, measured).
fn solve<R: Rows, const L: usize>(g: &Group<R>) -> Vec<BinarySolution> {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { solve_avx512::<R, L>(g) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { solve_avx2::<R, L>(g) };
        }
    }
    solve_impl::<false, R, L>(g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn solve_avx512<R: Rows, const L: usize>(g: &Group<R>) -> Vec<BinarySolution> {
    solve_impl::<true, R, L>(g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn solve_avx2<R: Rows, const L: usize>(g: &Group<R>) -> Vec<BinarySolution> {
    solve_impl::<true, R, L>(g)
}

/// The body of [`solve_group`], inlined into each instruction-set variant; lanes at and beyond
/// `positives.len()` are padding and never run.
#[inline(always)]
fn solve_impl<const FMA: bool, R: Rows, const L: usize>(g: &Group<R>) -> Vec<BinarySolution> {
    let (l, d, np) = (g.x.rows(), g.x.cols(), g.positives.len());
    // L2 loss: D_ii = 1/(2C) and no upper bound (LIBLINEAR: diag = 0.5/Cp, upper_bound = INF).
    let diag = 0.5 / g.c;
    let qd: Vec<f64> = g.qd.iter().map(|q| q + diag).collect();
    // alpha[i][p]; w[j][p] = sum_i alpha_i y_i x~_ij, row d multiplies the constant feature 1.
    let mut alpha = vec![[0.0f64; L]; l];
    let mut w = vec![[0.0f64; L]; d + 1];
    // Bit p of active[i]: coordinate i is in problem p's active set.
    let all = u16::MAX >> (MAX_LANES - np);
    let mut active = vec![all; l];
    let mut count = [l; L];
    let mut running = all;
    let mut order: Vec<u32> = (0..l as u32).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(g.seed);
    // LIBLINEAR's PGmax_old per problem; its PGmin_old only shrinks coordinates at the upper bound,
    // and U = inf.
    let mut pg_max_old = [f64::INFINITY; L];
    let (mut iterations, mut converged) = ([0usize; L], [false; L]);
    let mut pass = 0;
    while running != 0 && pass < g.max_iter {
        let (mut pg_max_new, mut pg_min_new) = ([f64::NEG_INFINITY; L], [f64::INFINITY; L]);
        // A random order of all coordinates for this pass (each problem visits its active ones in
        // it; LIBLINEAR shuffles its active set the same way: swap(index[i], index[i + rand() % (n - i)])).
        for i in 0..l {
            let j = rng.random_range(i..l);
            order.swap(i, j);
        }
        for (s, &i) in order.iter().enumerate() {
            let i = i as usize;
            let live = active[i] & running;
            if live == 0 {
                continue;
            }
            if let Some(&next) = order.get(s + 1) {
                g.x.prefetch(next as usize);
                prefetch_start(&alpha[next as usize..next as usize + 1]);
            }
            let label = g.labels[i];
            // Algorithm 1, step (a): G = y_i w.x~_i - 1 + D_ii alpha_i, for every problem at once.
            let dots = g.x.dot::<FMA, L>(i, &w[..d]);
            let mut delta = [0.0f64; L];
            let mut moved = false;
            for p in 0..np {
                let bit = 1u16 << p;
                if live & bit == 0 {
                    continue;
                }
                let yi = if label == g.positives[p] { 1.0 } else { -1.0 };
                let a = alpha[i][p];
                let grad = yi * (dots[p] + w[d][p]) - 1.0 + a * diag;
                // Projected gradient (U = inf, so only the bound alpha_i = 0), with shrinking: a
                // coordinate at 0 whose gradient exceeds last pass's largest projected gradient is
                // unlikely to move, and leaves the problem's active set.
                let pg = if a == 0.0 {
                    if grad > pg_max_old[p] {
                        active[i] &= !bit;
                        count[p] -= 1;
                        continue;
                    }
                    grad.min(0.0)
                } else {
                    grad
                };
                pg_max_new[p] = pg_max_new[p].max(pg);
                pg_min_new[p] = pg_min_new[p].min(pg);
                if pg.abs() > 1.0e-12 {
                    // Step (b): alpha_i <- max(alpha_i - G / Qbar_ii, 0); w <- w + (alpha_i - old) y_i x~_i.
                    let new = (a - grad / qd[i]).max(0.0);
                    alpha[i][p] = new;
                    delta[p] = (new - a) * yi;
                    moved |= delta[p] != 0.0;
                }
            }
            if moved {
                g.x.axpy::<FMA, L>(i, &delta, &mut w[..d]);
                for p in 0..np {
                    w[d][p] += delta[p];
                }
            }
        }
        pass += 1;
        for p in 0..np {
            let bit = 1u16 << p;
            if running & bit == 0 {
                continue;
            }
            iterations[p] = pass;
            // Stopping rule: the projected gradients' spread is below eps on the whole problem.
            if pg_max_new[p] - pg_min_new[p] <= g.eps {
                if count[p] == l {
                    converged[p] = true;
                    running &= !bit;
                    continue;
                }
                // Shrunk: reactivate every coordinate and check again.
                for a in &mut active {
                    *a |= bit;
                }
                count[p] = l;
                pg_max_old[p] = f64::INFINITY;
                continue;
            }
            pg_max_old[p] = if pg_max_new[p] <= 0.0 { f64::INFINITY } else { pg_max_new[p] };
        }
    }
    (0..np)
        .map(|p| BinarySolution {
            w: w.iter().map(|row| row[p]).collect(),
            alpha: alpha.iter().map(|row| row[p]).collect(),
            iterations: iterations[p],
            converged: converged[p],
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Choosing C, labelled subsets
// ---------------------------------------------------------------------------------------------

/// One fit of a `C` grid: its validation errors and what the solver did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CFit {
    /// The `C`.
    pub c: f32,
    /// Misclassified validation examples.
    pub validation_errors: usize,
    /// The most passes a binary problem took.
    pub iterations: usize,
    /// Whether every binary problem converged before `max_iter`.
    pub converged: bool,
    /// Wall time of the fit, in seconds.
    pub fit_seconds: f64,
}

/// The result of [`choose_c`]: every fit of the grid and the model of the chosen `C`.
#[derive(Clone, Debug)]
pub struct CSelection {
    /// One entry per grid value, in the grid's order.
    pub fits: Vec<CFit>,
    /// The chosen `C`: the fewest validation errors, the smaller `C` on ties.
    pub c: f32,
    /// The model fitted on the training split with the chosen `C`.
    pub model: LinearSvm,
}

/// Checks that the features of two splits have the same width; `what` names them in the error.
pub fn check_widths(what: &str, expected: usize, got: &Matrix) -> Result<()> {
    if got.cols != expected {
        return Err(Error::shape(
            format!("SVM features of the {what} split"),
            format!("{} features per example", got.cols),
            format!("{expected}, as the training split"),
        ));
    }
    Ok(())
}

/// Fits the SVM for every `C` of `grid` on `train` and picks the one with the fewest errors on
/// `val` (ties: the smaller `C`), as paper B picks the SVM's settings on validation data; the model
/// returned is the one fitted on `train` (refit on more data is the caller's choice).
/// `on_fit` is called after each fit (for progress lines). `cfg.c` is ignored.
///
/// Errors on an empty grid, a `C` that is not finite and positive, validation features of another
/// width than the training ones, and whatever [`LinearSvm::fit`] refuses.
pub fn choose_c(
    train: (&Matrix, &[u8]),
    val: (&Matrix, &[u8]),
    classes: usize,
    grid: &[f32],
    cfg: &SvmConfig,
    mut on_fit: impl FnMut(&CFit),
) -> Result<CSelection> {
    if grid.is_empty() {
        return Err(Error::param("C grid", "(empty)", "at least one value of C"));
    }
    for &c in grid {
        SvmConfig { c, ..*cfg }.validate()?;
    }
    check_widths("validation", train.0.cols, val.0)?;
    let mut fits = Vec::with_capacity(grid.len());
    let mut best: Option<(usize, f32, LinearSvm)> = None;
    for &c in grid {
        let t0 = Instant::now();
        let model = LinearSvm::fit(train.0, train.1, classes, &SvmConfig { c, ..*cfg })?;
        let fit_seconds = t0.elapsed().as_secs_f64();
        let validation_errors = model.errors(val.0, val.1)?;
        let fit = CFit { c, validation_errors, iterations: model.max_iterations(), converged: model.converged(), fit_seconds };
        on_fit(&fit);
        fits.push(fit);
        let better = match &best {
            None => true,
            Some((e, bc, _)) => validation_errors < *e || (validation_errors == *e && c < *bc),
        };
        if better {
            best = Some((validation_errors, c, model));
        }
    }
    let (_, c, model) = best.expect("the grid is not empty");
    Ok(CSelection { fits, c, model })
}

/// The indices (ascending) of `n` examples drawn so that every class gets a share proportional to
/// its frequency in `labels` (a stratified split: the largest-remainder rounding of
/// `n * count_k / len`, remainders ties to the lower class), the examples of each class drawn at
/// random with `seed`. For `--labels N`, the semi-supervised setting of paper B Table 2b.
///
/// Errors (naming `--labels`) when `n` is 0, larger than `labels.len()`, or too small to give
/// every class present in `labels` at least one example; and when a label is not below `classes`.
pub fn stratified_subset(labels: &[u8], n: usize, classes: usize, seed: u64) -> Result<Vec<usize>> {
    let total = labels.len();
    if n == 0 || n > total {
        return Err(Error::param("--labels", n, format!("between 1 and the {total} examples of the training split")));
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        let k = l as usize;
        if k >= classes {
            return Err(Error::Data(format!("label {i} is {k}: expected a class in 0..{classes}")));
        }
        by_class[k].push(i);
    }
    // Largest remainder: floor(n count_k / total), then +1 for the largest fractional parts.
    let mut quota: Vec<usize> = by_class.iter().map(|v| ((n as u128 * v.len() as u128) / total as u128) as usize).collect();
    let mut rest = n - quota.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..classes).collect();
    let frac = |k: usize| (n as u128 * by_class[k].len() as u128) % total as u128;
    order.sort_by(|&a, &b| frac(b).cmp(&frac(a)).then(a.cmp(&b)));
    for &k in &order {
        if rest == 0 {
            break;
        }
        if quota[k] < by_class[k].len() {
            quota[k] += 1;
            rest -= 1;
        }
    }
    let present = by_class.iter().filter(|v| !v.is_empty()).count();
    if let Some(k) = (0..classes).find(|&k| !by_class[k].is_empty() && quota[k] == 0) {
        return Err(Error::param(
            "--labels",
            n,
            format!(
                "enough labelled examples to give each of the {present} classes of the training split at least one \
                 (class {k} has {} of {total} examples and would get none)",
                by_class[k].len()
            ),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    for (k, members) in by_class.iter_mut().enumerate() {
        // A partial Fisher-Yates shuffle draws quota[k] of them.
        for i in 0..quota[k] {
            let j = rng.random_range(i..members.len());
            members.swap(i, j);
        }
        out.extend_from_slice(&members[..quota[k]]);
    }
    out.sort_unstable();
    Ok(out)
}

/// The rows `indices` of `x` (with their labels), e.g. a [`stratified_subset`].
pub fn select_rows(x: &Matrix, labels: &[u8], indices: &[usize]) -> Result<(Matrix, Vec<u8>)> {
    let mut data = Vec::with_capacity(indices.len() * x.cols);
    let mut out = Vec::with_capacity(indices.len());
    for &i in indices {
        if i >= x.rows || i >= labels.len() {
            return Err(Error::param("row index", i, format!("below {} (the rows of the features)", x.rows.min(labels.len()))));
        }
        data.extend_from_slice(x.row(i));
        out.push(labels[i]);
    }
    Ok((Matrix::from_vec(indices.len(), x.cols, data)?, out))
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // the reference computations index w, x, y and alpha alike
mod tests {
    use super::*;

    /// `n` points per class around `classes` centres in `d` dimensions, spread `spread`.
    fn blobs(n: usize, classes: usize, d: usize, spread: f32, seed: u64) -> (Matrix, Vec<u8>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let centres: Vec<f32> = (0..classes * d).map(|_| rng.random_range(-3.0f32..3.0)).collect();
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n * classes {
            let k = i % classes;
            for j in 0..d {
                data.push(centres[k * d + j] + spread * rng.random_range(-1.0f32..1.0));
            }
            labels.push(k as u8);
        }
        (Matrix::from_vec(n * classes, d, data).unwrap(), labels)
    }

    /// Primal objective 0.5 ||w||^2 + C sum max(0, 1 - y w.x~)^2 of a binary solution.
    fn primal(x: &Matrix, y: &[f64], w: &[f64], c: f64) -> f64 {
        let d = x.cols;
        let reg = 0.5 * w.iter().map(|v| v * v).sum::<f64>();
        let loss: f64 = (0..x.rows)
            .map(|i| {
                let m = y[i] * (x.row(i).iter().zip(w).map(|(&a, b)| a as f64 * b).sum::<f64>() + w[d]);
                (1.0 - m).max(0.0).powi(2)
            })
            .sum();
        reg + c * loss
    }

    /// Dual objective (to maximise) sum a - 0.5 ||w(a)||^2 - sum a^2 / (4C).
    fn dual(x: &Matrix, y: &[f64], alpha: &[f64], c: f64) -> f64 {
        let d = x.cols;
        let mut w = vec![0.0f64; d + 1];
        for i in 0..x.rows {
            for j in 0..d {
                w[j] += alpha[i] * y[i] * x.row(i)[j] as f64;
            }
            w[d] += alpha[i] * y[i];
        }
        alpha.iter().sum::<f64>() - 0.5 * w.iter().map(|v| v * v).sum::<f64>() - alpha.iter().map(|a| a * a).sum::<f64>() / (4.0 * c)
    }

    fn binary(x: &Matrix, labels: &[u8], c: f64, tol: f64) -> (BinarySolution, Vec<f64>) {
        let qd: Vec<f64> = (0..x.rows).map(|i| sq_norm(x.row(i)) + 1.0).collect();
        let s = solve_group(x, &qd, labels, &[1], c, tol, 10000, 7).remove(0);
        let y = labels.iter().map(|&l| if l == 1 { 1.0 } else { -1.0 }).collect();
        (s, y)
    }

    #[test]
    fn kernels_match_plain_loops() {
        // Two examples of 37 features, half of them zero; weights for 5 problems in 8 lanes.
        let x = Matrix::from_vec(2, 37, (0..74).map(|i| if i % 2 == 0 { (i as f32 * 0.37).sin() } else { 0.0 }).collect()).unwrap();
        let csr = Csr::from_dense(&x);
        let w: Vec<Lanes<8>> = (0..37).map(|j| std::array::from_fn(|p| ((j * 8 + p) as f64 * 0.11).cos())).collect();
        let a: Lanes<8> = std::array::from_fn(|p| p as f64 * 0.5 - 1.0);
        for i in 0..2 {
            let plain: Lanes<8> = std::array::from_fn(|p| x.row(i).iter().zip(&w).map(|(&v, r)| v as f64 * r[p]).sum());
            for got in [x.dot::<false, 8>(i, &w), x.dot::<true, 8>(i, &w), csr.dot::<false, 8>(i, &w), csr.dot::<true, 8>(i, &w)] {
                for p in 0..8 {
                    assert!((got[p] - plain[p]).abs() < 1e-12, "row {i} lane {p}: {} vs {}", got[p], plain[p]);
                }
            }
            let (mut u, mut v) = (w.clone(), w.clone());
            x.axpy::<true, 8>(i, &a, &mut u);
            csr.axpy::<false, 8>(i, &a, &mut v);
            for j in 0..37 {
                for p in 0..8 {
                    let want = w[j][p] + a[p] * x.row(i)[j] as f64;
                    assert!((u[j][p] - want).abs() < 1e-12 && (v[j][p] - want).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn a_problem_is_solved_alike_in_any_group() {
        // Five one-vs-rest problems in one group (8 lanes), in groups of two and three, and alone
        // (4 lanes): every problem's weights and passes are the same, bit for bit.
        let (x, labels) = blobs(20, 5, 6, 1.0, 12);
        let qd: Vec<f64> = (0..x.rows).map(|i| sq_norm(x.row(i)) + 1.0).collect();
        let solve = |ps: &[u8]| solve_group(&x, &qd, &labels, ps, 1.0, 1e-4, 1000, 3);
        let together = solve(&[0, 1, 2, 3, 4]);
        let split: Vec<BinarySolution> = solve(&[0, 1]).into_iter().chain(solve(&[2, 3, 4])).collect();
        let alone: Vec<BinarySolution> = (0..5u8).flat_map(|p| solve(&[p])).collect();
        for p in 0..5 {
            assert!(together[p].converged, "problem {p}: {:?}", together.iter().map(|s| (s.iterations, s.converged)).collect::<Vec<_>>());
            for other in [&split[p], &alone[p]] {
                assert_eq!(together[p].w, other.w, "problem {p}");
                assert_eq!(together[p].iterations, other.iterations, "problem {p}");
            }
        }
        // Sixteen problems fill the widest group.
        let (x16, l16) = blobs(6, 16, 3, 0.5, 13);
        let qd16: Vec<f64> = (0..x16.rows).map(|i| sq_norm(x16.row(i)) + 1.0).collect();
        let all: Vec<u8> = (0..16).collect();
        let wide = solve_group(&x16, &qd16, &l16, &all, 1.0, 1e-4, 1000, 3);
        let one = solve_group(&x16, &qd16, &l16, &[15], 1.0, 1e-4, 1000, 3);
        assert_eq!(wide[15].w, one[0].w);
    }

    #[test]
    fn separable_data_has_no_training_errors() {
        let (x, labels) = blobs(30, 4, 5, 0.3, 1);
        let svm = LinearSvm::fit(&x, &labels, 4, &SvmConfig::default()).unwrap();
        assert!(svm.converged(), "{:?}", svm.iterations);
        assert_eq!(svm.errors(&x, &labels).unwrap(), 0);
        assert_eq!(svm.iterations.len(), 4);
        // Two classes: one binary problem, the two rows opposite.
        let (x2, l2) = blobs(30, 2, 3, 0.3, 2);
        let svm2 = LinearSvm::fit(&x2, &l2, 2, &SvmConfig::default()).unwrap();
        assert_eq!(svm2.iterations.len(), 1);
        assert_eq!(svm2.weights.row(0), svm2.weights.row(1).iter().map(|v| -v).collect::<Vec<_>>().as_slice());
        assert_eq!(svm2.errors(&x2, &l2).unwrap(), 0);
    }

    #[test]
    fn dual_solution_has_a_small_duality_gap_and_meets_kkt() {
        let (x, labels) = blobs(40, 2, 4, 2.5, 3); // overlapping: some margins violated
        for c in [0.1, 1.0, 10.0] {
            let (s, y) = binary(&x, &labels, c, 1e-6);
            assert!(s.converged);
            let (p, d) = (primal(&x, &y, &s.w, c), dual(&x, &y, &s.alpha, c));
            assert!(p >= d - 1e-9, "C = {c}: primal {p} < dual {d}");
            assert!((p - d) / p.abs().max(1.0) < 1e-5, "C = {c}: gap {} (primal {p}, dual {d})", p - d);
            // KKT: alpha_i = 2C max(0, 1 - y_i w.x~_i) at the optimum of the L2-loss SVM.
            let dcols = x.cols;
            for i in 0..x.rows {
                let m = y[i] * (x.row(i).iter().zip(&s.w).map(|(&a, b)| a as f64 * b).sum::<f64>() + s.w[dcols]);
                let expected = 2.0 * c * (1.0 - m).max(0.0);
                assert!((s.alpha[i] - expected).abs() < 1e-3 * (1.0 + expected), "C = {c}, i = {i}: alpha {} vs {expected}", s.alpha[i]);
            }
        }
    }

    #[test]
    fn agrees_with_a_brute_force_primal_solver() {
        let (x, labels) = blobs(15, 2, 2, 2.0, 4);
        let c = 0.5;
        let (s, y) = binary(&x, &labels, c, 1e-8);
        // Gradient descent on the primal (convex, gradient Lipschitz with L = 1 + 2C sum ||x~||^2).
        let d = x.cols;
        let lip = 1.0 + 2.0 * c * (0..x.rows).map(|i| sq_norm(x.row(i)) + 1.0).sum::<f64>();
        let mut w = vec![0.0f64; d + 1];
        for _ in 0..200_000 {
            let mut g = w.clone();
            for i in 0..x.rows {
                let xi: Vec<f64> = x.row(i).iter().map(|&v| v as f64).chain([1.0]).collect();
                let m = y[i] * xi.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
                if m < 1.0 {
                    for j in 0..=d {
                        g[j] -= 2.0 * c * (1.0 - m) * y[i] * xi[j];
                    }
                }
            }
            for j in 0..=d {
                w[j] -= g[j] / lip;
            }
        }
        for j in 0..=d {
            assert!((w[j] - s.w[j]).abs() < 1e-3, "w[{j}]: gradient descent {} vs dual CD {}", w[j], s.w[j]);
        }
    }

    #[test]
    fn sparse_rows_give_the_dense_solution() {
        let (mut x, labels) = blobs(30, 2, 40, 1.0, 9);
        for (k, v) in x.data.iter_mut().enumerate() {
            if k % 3 != 0 {
                *v = 0.0;
            }
        }
        let qd: Vec<f64> = (0..x.rows).map(|i| sq_norm(x.row(i)) + 1.0).collect();
        let dense = solve_group(&x, &qd, &labels, &[1], 1.0, 1e-6, 1000, 3).remove(0);
        let sparse = solve_group(&Csr::from_dense(&x), &qd, &labels, &[1], 1.0, 1e-6, 1000, 3).remove(0);
        assert!(dense.converged && sparse.converged);
        for (a, b) in dense.w.iter().zip(&sparse.w) {
            assert!((a - b).abs() < 1e-6 * (1.0 + a.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn a_seed_gives_one_model() {
        let (x, labels) = blobs(25, 3, 6, 1.5, 5);
        let cfg = SvmConfig { seed: 11, ..SvmConfig::default() };
        let a = LinearSvm::fit(&x, &labels, 3, &cfg).unwrap();
        let b = LinearSvm::fit(&x, &labels, 3, &cfg).unwrap();
        assert_eq!(a, b);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let c = pool.install(|| LinearSvm::fit(&x, &labels, 3, &cfg).unwrap());
        assert_eq!(a, c, "thread count does not change the model");
    }

    #[test]
    fn bad_input_is_refused_with_names() {
        let (x, labels) = blobs(5, 3, 2, 0.1, 6);
        let e = |cfg: SvmConfig| LinearSvm::fit(&x, &labels, 3, &cfg).unwrap_err().to_string();
        assert!(e(SvmConfig { c: 0.0, ..SvmConfig::default() }).contains("C = 0"));
        assert!(e(SvmConfig { tol: f32::NAN, ..SvmConfig::default() }).contains("tol = NaN"));
        assert!(e(SvmConfig { max_iter: 0, ..SvmConfig::default() }).contains("max_iter = 0"));
        let m = LinearSvm::fit(&x, &labels[..4], 3, &SvmConfig::default()).unwrap_err().to_string();
        assert!(m.contains("4 labels"), "{m}");
        let m = LinearSvm::fit(&x, &labels, 2, &SvmConfig::default()).unwrap_err().to_string();
        assert!(m.contains("is 2") && m.contains("0..2"), "{m}");
        // Labels are bytes: a class 256 could have no example and problem 256 would read label 0.
        let m = LinearSvm::fit(&x, &labels, 257, &SvmConfig::default()).unwrap_err().to_string();
        assert!(m.contains("classes = 257") && m.contains("256"), "{m}");
        let svm = LinearSvm::fit(&x, &labels, 3, &SvmConfig::default()).unwrap();
        let m = svm.predict(&Matrix::zeros(2, 3)).unwrap_err().to_string();
        assert!(m.contains("2 x 3") && m.contains("2 features per example"), "{m}");
        let m = check_widths("test", 2, &Matrix::zeros(1, 5)).unwrap_err().to_string();
        assert!(m.contains("test split") && m.contains("5 features"), "{m}");
    }

    #[test]
    fn choose_c_picks_the_fewest_validation_errors_smaller_c_on_ties() {
        let (x, labels) = blobs(30, 3, 4, 0.3, 7);
        let (v, vl) = blobs(10, 3, 4, 0.3, 7);
        let mut seen = Vec::new();
        let sel = choose_c((&x, &labels), (&v, &vl), 3, &[10.0, 1.0, 100.0], &SvmConfig::default(), |f| seen.push(f.c)).unwrap();
        assert_eq!(seen, vec![10.0, 1.0, 100.0]);
        assert_eq!(sel.fits.len(), 3);
        // Separable: every C makes no validation error, so the smallest wins.
        assert!(sel.fits.iter().all(|f| f.validation_errors == 0), "{:?}", sel.fits);
        assert_eq!(sel.c, 1.0);
        assert_eq!(sel.model.c, 1.0);
        assert!(choose_c((&x, &labels), (&v, &vl), 3, &[], &SvmConfig::default(), |_| {}).is_err());
        let e = choose_c((&x, &labels), (&Matrix::zeros(2, 3), &[0, 1]), 3, &[1.0], &SvmConfig::default(), |_| {}).unwrap_err();
        assert!(e.to_string().contains("validation split"), "{e}");
    }

    #[test]
    fn stratified_subset_counts_and_errors() {
        // 60 of class 0, 30 of class 1, 10 of class 2.
        let labels: Vec<u8> = (0..100)
            .map(|i| {
                if i < 60 {
                    0
                } else if i < 90 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let s = stratified_subset(&labels, 20, 3, 1).unwrap();
        let count = |s: &[usize], k: u8| s.iter().filter(|&&i| labels[i] == k).count();
        assert_eq!((count(&s, 0), count(&s, 1), count(&s, 2)), (12, 6, 2));
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        // Largest remainder: 15 -> 9, 4.5, 1.5 -> 9 + 5 + 1 (tie goes to the lower class).
        let s = stratified_subset(&labels, 15, 3, 1).unwrap();
        assert_eq!((s.len(), count(&s, 0), count(&s, 1), count(&s, 2)), (15, 9, 5, 1));
        assert_eq!(stratified_subset(&labels, 20, 3, 1).unwrap(), stratified_subset(&labels, 20, 3, 1).unwrap());
        assert_ne!(stratified_subset(&labels, 20, 3, 1).unwrap(), stratified_subset(&labels, 20, 3, 2).unwrap());
        assert_eq!(stratified_subset(&labels, 100, 3, 1).unwrap(), (0..100).collect::<Vec<_>>());
        let e = stratified_subset(&labels, 101, 3, 1).unwrap_err().to_string();
        assert!(e.contains("--labels = 101") && e.contains("100 examples"), "{e}");
        let e = stratified_subset(&labels, 4, 3, 1).unwrap_err().to_string();
        assert!(e.contains("--labels = 4") && e.contains("class 2"), "{e}");
        assert!(stratified_subset(&labels, 0, 3, 1).is_err());
        let (x, l) = (Matrix::from_vec(3, 1, vec![1.0, 2.0, 3.0]).unwrap(), vec![0u8, 1, 0]);
        let (m, ml) = select_rows(&x, &l, &[2, 0]).unwrap();
        assert_eq!((m.data, ml), (vec![3.0, 1.0], vec![0, 0]));
    }

    #[test]
    fn confusion_matrix_sums_to_the_examples() {
        let (x, labels) = blobs(20, 3, 2, 2.0, 8);
        let svm = LinearSvm::fit(&x, &labels, 3, &SvmConfig::default()).unwrap();
        let pred = svm.predict(&x).unwrap();
        let cm = confusion_matrix(&pred, &labels, 3).unwrap();
        assert_eq!(cm.total(), 60);
        assert_eq!(cm.errors() as usize, svm.errors(&x, &labels).unwrap());
        for k in 0..3 {
            assert_eq!((0..3).map(|p| cm.get(k, p)).sum::<u64>(), 20);
        }
    }
}
