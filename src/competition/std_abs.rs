//! The std-abs activation of paper C, a magnitude-preserving competition between each unit and the
//! mean magnitude of its layer.
//!
//! Paper C (section III.A, eq. 7) defines
//!
//! ```text
//! std_abs(y) = β · std(|y|)                                                     (C, eq. 7)
//! ```
//!
//! "where std(|y|) standardizes |y| by subtracting the mean value from |y| and then dividing the
//! result by the standard deviation, and the scalar β rescales the standardized data so that the
//! activation function is magnitude-preserving", i.e. `‖f(y)‖ = ‖y‖` for any `y` (section III.A).
//!
//! **What is standardized over.** Magnitude preservation is required for every single input `y`, so
//! here the statistics are those of one example's layer output: the mean and standard deviation
//! of `|y_1|, ..., |y_n|` across the `n` units of a row, and `β` is chosen per row. (The paper also
//! mentions dataset-wide statistics per unit, approximated by batch normalization, and says that a
//! layer normalization subtracting the layer mean of `|y|` performs comparably; the per-example
//! form implemented here is that layer normalization, rescaled as eq. 7 prescribes.)
//!
//! With `a = |y|`, `μ = mean(a)`, `σ = std(a)` and `c = a - μ`, the standardized vector is `c / σ`
//! and `β = ‖y‖ σ / ‖c‖`, so `σ` cancels and the function computed is
//!
//! ```text
//! f(y) = ‖y‖ · c / ‖c‖,     c = |y| - mean(|y|)
//! ```
//!
//! which does not depend on whether `σ` is the population or the sample deviation, nor on any
//! epsilon added to it (the paper gives none). The one degenerate case is `c = 0`, when all `|y_i|`
//! are equal (which includes `y = 0` and layers of one unit): the standardized vector is 0 and no
//! `β` can rescale it, so the output is 0 and so is the gradient there. With the statistics
//! accumulated in `f64`, equal magnitudes give `c = 0` exactly, and any genuine difference between
//! `f32` magnitudes is far above the rounding noise, so no threshold is needed.
//!
//! **Winners.** Like [`super::Competition::Abs`], the winners are `y >= 0`: which linear piece of
//! `|·|` each unit used. Within one sign pattern `f` is smooth, so the winners name the piece of the
//! input space the example lies in. (The sign of the output, `|y_i| > mean(|y|)`, is a different
//! binary code, readable from the output itself.)
//!
//! **Gradient.** Because the standardization couples the units, the backward pass is not a mask.
//! With `r = ‖y‖`, `q = ‖c‖`, `u = c / q`, `s = sign(y)` (`+1` where `y >= 0`) and `g` the gradient
//! with respect to the output, the Jacobian is `J = u yᵀ / r + (r / q) (I - u uᵀ) P diag(s)` with
//! `P = I - 11ᵀ/n`, so
//!
//! ```text
//! ∂L/∂y_i = (u·g) y_i / r + s_i (r / q) (g_i - mean(g) - u_i (u·g))
//! ```
//!
//! (using `P u = u`, since `c` has zero mean). At `y_i = 0` the piece `y_i >= 0` is used.
//!
//! ```
//! use compete::competition::std_abs;
//! // |y| = (3, 1, 1, 3): mean 2, c = (1, -1, -1, 1), ‖y‖ = ‖c‖·√5 = √20.
//! let (out, winners) = std_abs::apply(&[3.0, -1.0, 1.0, -3.0], 1).unwrap();
//! let b = 5f32.sqrt();
//! for (o, e) in out.iter().zip([b, -b, -b, b]) {
//!     assert!((o - e).abs() < 1e-6);
//! }
//! assert_eq!(winners, vec![true, false, true, false]);
//! ```

use crate::error::{Error, Result};

/// Forward pass of std-abs (paper C, eq. 7) over `rows` examples: `z` holds `rows` rows of
/// pre-activations `y`; writes `f(y) = ‖y‖ (|y| - mean|y|) / ‖|y| - mean|y|‖` per row into `out`
/// (0 for a row whose magnitudes are all equal) and `y >= 0` into `winners`.
///
/// Errors ([`Error::Shape`]): `rows == 0`, or lengths that are not `rows x width`. Does not allocate.
pub fn forward(z: &[f32], rows: usize, out: &mut [f32], winners: &mut [bool]) -> Result<()> {
    let n = check_shapes("std-abs forward", z.len(), rows, out.len(), winners.len())?;
    if n == 0 {
        return Ok(());
    }
    for ((y, o), w) in z.chunks_exact(n).zip(out.chunks_exact_mut(n)).zip(winners.chunks_exact_mut(n)) {
        for (wi, &yi) in w.iter_mut().zip(y) {
            *wi = yi >= 0.0;
        }
        let st = Stats::of(y);
        if st.q == 0.0 {
            o.fill(0.0);
            continue;
        }
        // β · std(|y|) with β chosen so that ‖f(y)‖ = ‖y‖ (C, eq. 7): σ cancels, leaving r / q.
        let scale = st.r / st.q;
        for (oi, &yi) in o.iter_mut().zip(y) {
            *oi = ((f64::from(yi.abs()) - st.mean) * scale) as f32;
        }
    }
    Ok(())
}

/// Backward pass of std-abs: from the pre-activations `z` of the forward pass and the gradient
/// `grad_out` with respect to its output, writes the exact gradient with respect to `z` into
/// `grad_pre` (see the module docs for the formula; 0 for rows whose magnitudes are all equal).
///
/// Errors ([`Error::Shape`]): `rows == 0`, or lengths that are not `rows x width`. Does not allocate.
pub fn backward(z: &[f32], grad_out: &[f32], rows: usize, grad_pre: &mut [f32]) -> Result<()> {
    let n = check_shapes("std-abs backward", z.len(), rows, grad_out.len(), grad_pre.len())?;
    if n == 0 {
        return Ok(());
    }
    let nf = n as f64;
    for ((y, g), gp) in z.chunks_exact(n).zip(grad_out.chunks_exact(n)).zip(grad_pre.chunks_exact_mut(n)) {
        let st = Stats::of(y);
        if st.q == 0.0 {
            gp.fill(0.0);
            continue;
        }
        // u = c / q; u·g and mean(g).
        let mut ug = 0.0f64;
        let mut g_sum = 0.0f64;
        for (&yi, &gi) in y.iter().zip(g) {
            ug += (f64::from(yi.abs()) - st.mean) / st.q * f64::from(gi);
            g_sum += f64::from(gi);
        }
        let g_mean = g_sum / nf;
        let scale = st.r / st.q;
        for ((x, &yi), &gi) in gp.iter_mut().zip(y).zip(g) {
            let yi64 = f64::from(yi);
            let ui = (yi64.abs() - st.mean) / st.q;
            let si = if yi >= 0.0 { 1.0 } else { -1.0 };
            // ∂L/∂y_i = (u·g) y_i / r + s_i (r/q) (g_i - mean(g) - u_i (u·g))
            *x = (ug * yi64 / st.r + si * scale * (f64::from(gi) - g_mean - ui * ug)) as f32;
        }
    }
    Ok(())
}

/// Convenience for small inputs and tests: allocates and returns `(output, winners)` of [`forward`].
pub fn apply(z: &[f32], rows: usize) -> Result<(Vec<f32>, Vec<bool>)> {
    let mut out = vec![0.0; z.len()];
    let mut winners = vec![false; z.len()];
    forward(z, rows, &mut out, &mut winners)?;
    Ok((out, winners))
}

/// Per-row statistics: `r = ‖y‖`, `mean = mean(|y|)`, `q = ‖|y| - mean‖`, in `f64`.
struct Stats {
    r: f64,
    mean: f64,
    q: f64,
}

impl Stats {
    fn of(y: &[f32]) -> Stats {
        let (mut sq, mut sum_abs) = (0.0f64, 0.0f64);
        for &v in y {
            let v = f64::from(v);
            sq += v * v;
            sum_abs += v.abs();
        }
        let mean = sum_abs / y.len() as f64;
        let q2: f64 = y.iter().map(|&v| (f64::from(v).abs() - mean).powi(2)).sum();
        Stats { r: sq.sqrt(), mean, q: q2.sqrt() }
    }
}

fn check_shapes(what: &str, z: usize, rows: usize, a: usize, b: usize) -> Result<usize> {
    if rows == 0 || !z.is_multiple_of(rows) || a != z || b != z {
        return Err(Error::shape(what, format!("{rows} rows, buffers of {z}, {a} and {b}"), "rows >= 1 and three buffers of rows x width"));
    }
    Ok(z / rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn norm(v: &[f32]) -> f64 {
        v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt()
    }

    #[test]
    fn hand_computed_rows() {
        // Row 0: |y| = (3, 1, 1, 3), see the module example. Row 1: |y| = (0, 2, 4, 2): mean 2,
        // c = (-2, 0, 2, 0), ‖c‖ = √8, ‖y‖ = √24, so f = √3 · c = (-2√3, 0, 2√3, 0).
        let z = [3.0, -1.0, 1.0, -3.0, 0.0, -2.0, 4.0, 2.0];
        let (out, winners) = apply(&z, 2).unwrap();
        let (a, b) = (5f32.sqrt(), 2.0 * 3f32.sqrt());
        let expected = [a, -a, -a, a, -b, 0.0, b, 0.0];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-5, "{out:?} vs {expected:?}");
        }
        assert_eq!(winners, vec![true, false, true, false, true, false, true, true]);
    }

    #[test]
    fn preserves_the_norm_and_zero_mean_per_row() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let rows = 5;
        let n = 17;
        let z: Vec<f32> = (0..rows * n).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        let (out, _) = apply(&z, rows).unwrap();
        for (y, o) in z.chunks(n).zip(out.chunks(n)) {
            assert!((norm(o) - norm(y)).abs() < 1e-5 * norm(y), "‖f(y)‖ = {} vs ‖y‖ = {}", norm(o), norm(y));
            let mean: f64 = o.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
            assert!(mean.abs() < 1e-5, "mean {mean}");
        }
    }

    #[test]
    fn invariant_to_signs_and_positive_scale() {
        let z = [0.5, -1.5, 2.0, 0.25];
        let flipped = [-0.5, 1.5, -2.0, -0.25];
        let scaled: Vec<f32> = z.iter().map(|v| v * 3.0).collect();
        let (a, wa) = apply(&z, 1).unwrap();
        let (b, wb) = apply(&flipped, 1).unwrap();
        let (c, _) = apply(&scaled, 1).unwrap();
        assert_eq!(a, b);
        assert_eq!(wa, vec![true, false, true, true]);
        assert_eq!(wb, vec![false, true, false, false]);
        for (x, y) in a.iter().zip(&c) {
            assert!((3.0 * x - y).abs() < 1e-5);
        }
    }

    #[test]
    fn degenerate_rows_give_zero_output_and_gradient() {
        // All magnitudes equal (including 0.1, whose f32 sum is not a multiple of 0.1), zeros, one unit.
        for (z, rows) in [(vec![0.1, -0.1, 0.1], 1), (vec![0.0; 4], 2), (vec![-7.0, 3.0], 2)] {
            let (out, winners) = apply(&z, rows).unwrap();
            assert_eq!(out, vec![0.0; z.len()]);
            assert_eq!(winners, z.iter().map(|&v| v >= 0.0).collect::<Vec<_>>());
            let mut gp = vec![f32::NAN; z.len()];
            backward(&z, &vec![1.0; z.len()], rows, &mut gp).unwrap();
            assert_eq!(gp, vec![0.0; z.len()]);
        }
    }

    #[test]
    fn bad_buffers_are_refused() {
        let z = [1.0, 2.0, 3.0, 4.0];
        let mut out = [0.0; 4];
        let mut w = [false; 4];
        assert!(matches!(forward(&z, 0, &mut out, &mut w), Err(Error::Shape { .. })));
        assert!(matches!(forward(&z, 3, &mut out, &mut w), Err(Error::Shape { .. })));
        assert!(matches!(forward(&z, 2, &mut out[..3], &mut w), Err(Error::Shape { .. })));
        assert!(matches!(forward(&z, 2, &mut out, &mut w[..2]), Err(Error::Shape { .. })));
        let mut gp = [0.0; 4];
        assert!(matches!(backward(&z, &[1.0; 3], 2, &mut gp), Err(Error::Shape { .. })));
        assert!(matches!(backward(&z, &[1.0; 4], 2, &mut gp[..1]), Err(Error::Shape { .. })));
        assert!(matches!(backward(&z, &[1.0; 4], 0, &mut gp), Err(Error::Shape { .. })));
    }

    /// Central finite differences of L = Σ g_i f_i(y) against the analytic backward pass.
    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let rows = 4;
        let n = 9;
        // Magnitudes at least 0.2 so that no sign flips within the step.
        let z: Vec<f32> = (0..rows * n)
            .map(|_| {
                let m = rng.random_range(0.2f32..2.0);
                if rng.random_bool(0.5) { m } else { -m }
            })
            .collect();
        let g: Vec<f32> = (0..rows * n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let mut analytic = vec![0.0; z.len()];
        backward(&z, &g, rows, &mut analytic).unwrap();
        let loss = |z: &[f32]| -> f64 {
            let (out, _) = apply(z, rows).unwrap();
            out.iter().zip(&g).map(|(&o, &gi)| f64::from(o) * f64::from(gi)).sum()
        };
        let h = 5e-3f32;
        let mut zp = z.clone();
        for i in 0..z.len() {
            zp[i] = z[i] + h;
            let lp = loss(&zp);
            zp[i] = z[i] - h;
            let lm = loss(&zp);
            zp[i] = z[i];
            let numeric = (lp - lm) / (2.0 * f64::from(h));
            let a = f64::from(analytic[i]);
            assert!((numeric - a).abs() < 2e-3 * (1.0 + a.abs()), "input {i}: numeric {numeric}, analytic {a}");
        }
        // The coupling is real: the gradient is not a mask of g.
        assert!(analytic.iter().zip(&g).any(|(&a, &gi)| (a - gi).abs() > 1e-2 && (a + gi).abs() > 1e-2));
    }
}
