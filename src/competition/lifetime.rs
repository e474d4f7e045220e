//! Lifetime winner-take-all: each hidden unit competes with itself across the mini-batch
//! (paper B, section 2, the FC-WTA autoencoder).
//!
//! For a mini-batch `z` of shape `[batch, units]` (row-major, one row per example), every unit `j`
//! (column) keeps its `k` largest activations across the `batch` examples and sets the others to
//! zero; the error is back-propagated only through the kept, non-zero activations (paper B,
//! section 2: "for each hidden unit, we impose a lifetime sparsity by keeping the k percent largest
//! activation of that hidden unit across the mini-batch samples and setting the rest of activations
//! of that hidden unit to zero. In the backpropagation phase, we only backpropagate the error through
//! the k percent non-zero activations").
//!
//! **ReLU first.** In paper B the competition acts on the codes of the encoder's last layer, which
//! is a ReLU layer ("ReLUs followed by top-k sparsity", section 2). These functions therefore take
//! the pre-activations `z` and compute `top_k(relu(z))` in one pass:
//!
//! ```text
//! h[b, j] = max(z[b, j], 0)                                   (the encoder's ReLU)
//! out[b, j] = h[b, j]  if b is among the k examples with the largest h[., j]   (paper B, section 2)
//!           = 0        otherwise
//! winners[b, j] = out[b, j] > 0   (kept by the competition and z[b, j] > 0)
//! ```
//!
//! Passing activations that are already non-negative gives the same result (ReLU is idempotent).
//! A kept activation that is exactly 0 is not a winner: it outputs 0 and, like a ReLU at 0, passes no
//! gradient. So a unit wins fewer than `k` times when fewer than `k` examples give it a positive
//! pre-activation.
//!
//! **How many winners.** The paper's `k%` is the `rate` here, in `(0, 1]`; the number kept per unit
//! is `k = ceil(rate * batch)`, at least 1 and at most `batch` (see [`winners_per_unit`]): 5 % of a
//! batch of 100 keeps 5 examples per unit, 5 % of a batch of 30 keeps 2.
//!
//! **Ties** between equal values go to the earlier example (the lower row index).
//!
//! At test time paper B turns the sparsity off and uses the plain ReLU codes ("At test time, we turn
//! off the sparsity constraint", section 2): [`super::Competition::Lifetime`] in
//! [`super::Mode::Eval`] is [`super::Competition::Relu`], not this function.
//!
//! ```
//! use compete::competition::lifetime;
//! // 4 examples x 2 units; rate 0.5 keeps ceil(0.5 * 4) = 2 examples per unit.
//! let z = [1.0, -1.0, 3.0, 2.0, 2.0, 5.0, 0.5, 4.0];
//! let (out, winners) = lifetime::apply(&z, 4, 0.5).unwrap();
//! assert_eq!(out, vec![0.0, 0.0, 3.0, 0.0, 2.0, 5.0, 0.0, 4.0]);
//! assert_eq!(winners, vec![false, false, true, false, true, true, false, true]);
//! ```

use super::select::{Candidate, top_k, with_buffer};
use crate::error::{Error, Result};

/// Checks that a lifetime sparsity rate lies in `(0, 1]` (NaN is refused).
pub fn check_rate(rate: f32) -> Result<()> {
    if rate > 0.0 && rate <= 1.0 {
        Ok(())
    } else {
        Err(Error::param("lifetime sparsity rate", rate, "a fraction in (0, 1], e.g. 0.05 for the paper's 5%"))
    }
}

/// Refuses a lifetime rate that keeps less than one example per unit in a mini-batch of `batch`
/// (paper B's `k%` of the mini-batch must be at least one example), naming the experiment file's
/// `model.sparsity` and `train.batch_size`; the same tolerance as [`winners_per_unit`] (0.01 x 100
/// keeps one example). Learners with a batch-coupled competition call it when they are built.
pub fn check_batch(rate: f32, batch: usize) -> Result<()> {
    check_rate(rate).map_err(|_| Error::param("model.sparsity", rate, "a lifetime sparsity rate in (0, 1]"))?;
    let kept = f64::from(rate) * batch as f64;
    if kept * (1.0 + 1e-6) < 1.0 {
        return Err(Error::param(
            "model.sparsity",
            format!("{rate} with train.batch_size = {batch}"),
            format!(
                "a rate that keeps at least one example per unit of each mini-batch: sparsity x batch_size = {kept:.3} < 1; raise one of them"
            ),
        ));
    }
    Ok(())
}

/// How many examples each unit keeps in a mini-batch of `batch`: `k = ceil(rate * batch)`, clamped
/// to `[1, batch]` (0 only for an empty batch). Paper B, section 2 ("the k percent largest").
///
/// The product is rounded up, so that every unit keeps at least the requested fraction, with a
/// relative tolerance of `1e-6` that absorbs the representation error of `rate`: `0.07f32` is stored
/// as `0.0700000003`, and `0.07 * 100` must keep 7 examples, not 8.
pub fn winners_per_unit(rate: f32, batch: usize) -> Result<usize> {
    check_rate(rate)?;
    let x = f64::from(rate) * batch as f64;
    let k = (x * (1.0 - 1e-6)).ceil() as usize;
    Ok(k.max(1).min(batch))
}

/// Forward pass of lifetime WTA on `z` of shape `[batch, units]` (row-major; `units` is
/// `z.len() / batch`): writes `top_k(relu(z))` per column into `out` and the winners into `winners`,
/// both of `z`'s length (see the module docs for the exact rule).
///
/// Errors: a `rate` outside `(0, 1]` ([`Error::Param`] naming the lifetime sparsity rate), an empty
/// batch, or buffers whose lengths do not fit ([`Error::Shape`]). Does not allocate for batches of
/// up to 1024 examples.
pub fn forward(z: &[f32], batch: usize, rate: f32, out: &mut [f32], winners: &mut [bool]) -> Result<()> {
    let k = winners_per_unit(rate, batch)?;
    let units = check_shapes("lifetime WTA forward", z.len(), batch, out.len(), winners.len())?;
    out.fill(0.0);
    winners.fill(false);
    if units == 0 {
        return Ok(());
    }
    with_buffer(batch, |buf: &mut [Candidate]| {
        for j in 0..units {
            // The positive activations of unit j across the mini-batch (ReLU first: zeros never win).
            let mut n = 0;
            for (b, &v) in z[j..].iter().step_by(units).enumerate() {
                if v > 0.0 {
                    buf[n] = (v, b);
                    n += 1;
                }
            }
            // Keep the k largest (ties: earlier example), paper B section 2.
            for &(v, b) in top_k(&mut buf[..n], k) {
                out[b * units + j] = v;
                winners[b * units + j] = true;
            }
        }
    });
    Ok(())
}

/// Backward pass of lifetime WTA (and of spatial WTA, whose gradient has the same form): the
/// gradient with respect to the pre-activations is `grad_out` where the forward pass found a winner
/// and 0 elsewhere (paper B, section 2: the error flows only through the kept activations).
///
/// All three buffers must have the same length, else [`Error::Shape`].
pub fn backward(grad_out: &[f32], winners: &[bool], grad_pre: &mut [f32]) -> Result<()> {
    route("lifetime WTA backward", grad_out, winners, grad_pre)
}

/// Convenience for small inputs and tests: allocates and returns `(output, winners)` of [`forward`].
pub fn apply(z: &[f32], batch: usize, rate: f32) -> Result<(Vec<f32>, Vec<bool>)> {
    let mut out = vec![0.0; z.len()];
    let mut winners = vec![false; z.len()];
    forward(z, batch, rate, &mut out, &mut winners)?;
    Ok((out, winners))
}

/// Checks `z`, `out` and `winners` for a `[batch, units]` layout and returns `units`.
fn check_shapes(what: &str, z: usize, batch: usize, out: usize, winners: usize) -> Result<usize> {
    if batch == 0 || !z.is_multiple_of(batch) || out != z || winners != z {
        return Err(Error::shape(
            what,
            format!("batch {batch}, z {z}, out {out}, winners {winners}"),
            "batch >= 1 and z = out = winners = batch x units",
        ));
    }
    Ok(z / batch)
}

/// `grad_pre = grad_out` on winners, 0 elsewhere; the three lengths must agree.
pub(crate) fn route(what: &str, grad_out: &[f32], winners: &[bool], grad_pre: &mut [f32]) -> Result<()> {
    if grad_out.len() != winners.len() || grad_pre.len() != winners.len() {
        return Err(Error::shape(
            what,
            format!("grad_out {}, winners {}, grad_pre {}", grad_out.len(), winners.len(), grad_pre.len()),
            "grad_out = winners = grad_pre in length",
        ));
    }
    for ((gp, &w), &g) in grad_pre.iter_mut().zip(winners).zip(grad_out) {
        *gp = if w { g } else { 0.0 };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winners_per_unit_rounds_up_with_tolerance() {
        assert_eq!(winners_per_unit(0.05, 100).unwrap(), 5);
        assert_eq!(winners_per_unit(0.07, 100).unwrap(), 7);
        assert_eq!(winners_per_unit(0.02, 100).unwrap(), 2);
        assert_eq!(winners_per_unit(0.3, 10).unwrap(), 3);
        assert_eq!(winners_per_unit(0.05, 30).unwrap(), 2); // 1.5 -> 2
        assert_eq!(winners_per_unit(0.25, 5).unwrap(), 2); // 1.25 -> 2
        assert_eq!(winners_per_unit(0.01, 10).unwrap(), 1); // 0.1 -> at least 1
        assert_eq!(winners_per_unit(1.0, 7).unwrap(), 7);
        assert_eq!(winners_per_unit(0.5, 0).unwrap(), 0);
    }

    #[test]
    fn invalid_rates_are_refused_by_name() {
        for rate in [0.0, -0.1, 1.01, 2.0, f32::NAN, f32::INFINITY] {
            let e = apply(&[1.0, 2.0], 2, rate).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, Error::Param { .. }), "{msg}");
            assert!(msg.contains("lifetime sparsity rate"), "{msg}");
            assert!(winners_per_unit(rate, 10).is_err());
        }
    }

    #[test]
    fn wrong_buffers_are_refused() {
        let z = [1.0; 6];
        let mut out = [0.0; 6];
        let mut w = [false; 6];
        assert!(matches!(forward(&z, 4, 0.5, &mut out, &mut w), Err(Error::Shape { .. }))); // 6 is not a multiple of 4
        assert!(matches!(forward(&z, 0, 0.5, &mut out, &mut w), Err(Error::Shape { .. })));
        assert!(matches!(forward(&z, 2, 0.5, &mut out[..5], &mut w), Err(Error::Shape { .. })));
        assert!(matches!(forward(&z, 2, 0.5, &mut out, &mut w[..4]), Err(Error::Shape { .. })));
        let mut gp = [0.0; 6];
        assert!(matches!(backward(&z[..5], &w, &mut gp), Err(Error::Shape { .. })));
        assert!(matches!(backward(&z, &w, &mut gp[..3]), Err(Error::Shape { .. })));
    }

    #[test]
    fn keeps_the_top_k_of_each_column() {
        // 5 examples x 3 units, rate 0.4 -> ceil(2.0) = 2 winners per unit.
        #[rustfmt::skip]
        let z = [
            0.1,  5.0, -1.0,
            0.9, -2.0, -3.0,
            0.3,  4.0,  2.0,
            0.8,  1.0, -0.5,
            0.2,  6.0, -4.0,
        ];
        let (out, winners) = apply(&z, 5, 0.4).unwrap();
        #[rustfmt::skip]
        let expected_out = [
            0.0, 5.0, 0.0,
            0.9, 0.0, 0.0,
            0.0, 0.0, 2.0,
            0.8, 0.0, 0.0,
            0.0, 6.0, 0.0,
        ];
        assert_eq!(out, expected_out);
        // Unit 2 has a single positive value: it wins once, its negative values never win (ReLU first).
        let expected_winners: Vec<bool> = expected_out.iter().map(|&v| v > 0.0).collect();
        assert_eq!(winners, expected_winners);
    }

    #[test]
    fn ties_go_to_the_earlier_example() {
        // 4 examples x 1 unit, all equal; rate 0.5 keeps examples 0 and 1.
        let (out, winners) = apply(&[2.0, 2.0, 2.0, 2.0], 4, 0.5).unwrap();
        assert_eq!(out, vec![2.0, 2.0, 0.0, 0.0]);
        assert_eq!(winners, vec![true, true, false, false]);
        // A tie at the boundary: 3 > 1 = 1 = 1; k = 2 keeps 3 and the first 1.
        let (out, winners) = apply(&[1.0, 1.0, 3.0, 1.0], 4, 0.5).unwrap();
        assert_eq!(out, vec![1.0, 0.0, 3.0, 0.0]);
        assert_eq!(winners, vec![true, false, true, false]);
    }

    #[test]
    fn zeros_and_negatives_never_win() {
        let (out, winners) = apply(&[0.0, -1.0, 0.0, -2.0], 4, 1.0).unwrap();
        assert_eq!(out, vec![0.0; 4]);
        assert_eq!(winners, vec![false; 4]);
        let (out, winners) = apply(&[0.0, f32::NAN, 0.5, -2.0], 4, 1.0).unwrap();
        assert_eq!(out, vec![0.0, 0.0, 0.5, 0.0]);
        assert_eq!(winners, vec![false, false, true, false]);
    }

    #[test]
    fn full_rate_is_relu() {
        let z = [1.0, -2.0, 0.0, 3.5, -0.1, 0.2];
        let (out, winners) = apply(&z, 3, 1.0).unwrap();
        assert_eq!(out, vec![1.0, 0.0, 0.0, 3.5, 0.0, 0.2]);
        assert_eq!(winners, vec![true, false, false, true, false, true]);
    }

    #[test]
    fn backward_routes_gradient_through_winners_only() {
        let z = [1.0, -1.0, 3.0, 2.0, 2.0, 5.0, 0.5, 4.0];
        let (_, winners) = apply(&z, 4, 0.5).unwrap();
        let grad_out = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0];
        let mut grad_pre = [f32::NAN; 8];
        backward(&grad_out, &winners, &mut grad_pre).unwrap();
        assert_eq!(grad_pre, [0.0, 0.0, 30.0, 0.0, 50.0, 60.0, 0.0, 80.0]);
    }

    #[test]
    fn large_batch_uses_the_heap_buffer_and_agrees_with_sorting() {
        // 1500 examples x 3 units with many ties; compare with a stable sort per column.
        let batch = 1500;
        let units = 3;
        let z: Vec<f32> = (0..batch * units).map(|i| ((i * 7919) % 23) as f32 - 5.0).collect();
        let rate = 0.1;
        let k = winners_per_unit(rate, batch).unwrap();
        assert_eq!(k, 150);
        let (out, winners) = apply(&z, batch, rate).unwrap();
        for j in 0..units {
            let mut order: Vec<usize> = (0..batch).collect();
            order.sort_by(|&a, &b| z[b * units + j].total_cmp(&z[a * units + j]));
            let mut expected = vec![false; batch];
            for &b in &order[..k] {
                expected[b] = z[b * units + j] > 0.0;
            }
            for b in 0..batch {
                assert_eq!(winners[b * units + j], expected[b], "example {b}, unit {j}");
                let v = if expected[b] { z[b * units + j] } else { 0.0 };
                assert_eq!(out[b * units + j], v);
            }
        }
    }
}
