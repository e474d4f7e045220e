//! Spatial winner-take-all within each feature map, and its combination with lifetime sparsity
//! across the mini-batch (paper B, sections 3.1 and 3.2, the CONV-WTA autoencoder).
//!
//! The pre-activations `z` are feature maps of shape `[batch, channels, height, width]` (NCHW,
//! row-major: `z[((b * channels + c) * height + y) * width + x]`).
//!
//! **Spatial sparsity** (paper B, section 3.1): "we identify the single largest hidden activity
//! within each feature map, and set the rest of the activities as well as their derivatives to zero".
//! For every example `b` and feature map `c`:
//!
//! ```text
//! h = max(z, 0)                                          (the encoder's ReLU)
//! p* = the first position p of map (b, c) with the largest h[b, c, p]          (section 3.1)
//! out[b, c, p] = h[b, c, p*] if p = p*, else 0
//! winners[b, c, p] = (p = p* and z[b, c, p*] > 0)
//! ```
//!
//! **Spatial then lifetime sparsity** (paper B, section 3.2): "After applying spatial sparsity, for
//! each filter we will have 100 'winner' hidden units corresponding to the 100 mini-batch images.
//! During feedforward phase, for each filter, we only keep the k% largest of these 100 values and
//! set the rest of activations to zero." [`forward_lifetime`] does exactly that: after the spatial
//! step, each feature map `c` keeps the `k = ceil(rate * batch)` largest of its `batch` spatial
//! winners (the rounding of [`super::lifetime::winners_per_unit`]), so at most `k` examples of the
//! batch keep one active unit in map `c`.
//!
//! **ReLU first.** The encoder of paper B is a stack of ReLU convolutional layers (section 3), so the
//! competed activities are non-negative: a map whose pre-activations are all `<= 0` has no winner
//! (its output is all zeros and passes no gradient), exactly as `relu` then WTA would behave.
//!
//! **Ties** go to the lowest index: the first position (in row-major order) within a map, and the
//! earlier example across the batch.
//!
//! The backward pass of both is [`backward`]: the gradient flows only to the winners.
//!
//! ```
//! use compete::competition::spatial;
//! // 2 examples, 1 channel, 2 x 2 maps.
//! let z = [1.0, 4.0, 2.0, 4.0, /* example 1 */ -1.0, 0.5, 3.0, -2.0];
//! let (out, winners) = spatial::apply(&z, [2, 1, 2, 2]).unwrap();
//! assert_eq!(out, vec![0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0]);
//! assert_eq!(winners, vec![false, true, false, false, false, false, true, false]);
//! // Lifetime rate 0.5 keeps ceil(0.5 * 2) = 1 example per feature map: the 4 of example 0.
//! let (out, _) = spatial::apply_lifetime(&z, [2, 1, 2, 2], 0.5).unwrap();
//! assert_eq!(out, vec![0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
//! ```

use super::argmax_first;
use super::lifetime::{route, winners_per_unit};
use super::select::{Candidate, top_k, with_buffer};
use crate::error::{Error, Result};

/// Forward pass of spatial WTA (paper B, section 3.1) on NCHW feature maps of shape
/// `shape = [batch, channels, height, width]`: per example and feature map only the largest
/// positive value (the first one on ties) passes. `out` and `winners` have `z`'s length.
///
/// Errors ([`Error::Shape`]): a zero dimension, or a buffer whose length is not the product of
/// `shape`. Does not allocate.
pub fn forward(z: &[f32], shape: [usize; 4], out: &mut [f32], winners: &mut [bool]) -> Result<()> {
    let hw = check_shapes("spatial WTA forward", shape, z.len(), out.len(), winners.len())?;
    for ((zm, om), wm) in z.chunks_exact(hw).zip(out.chunks_exact_mut(hw)).zip(winners.chunks_exact_mut(hw)) {
        om.fill(0.0);
        wm.fill(false);
        let p = argmax_first(zm);
        // ReLU first: a map with no positive activity has no winner.
        if zm[p] > 0.0 {
            om[p] = zm[p];
            wm[p] = true;
        }
    }
    Ok(())
}

/// Forward pass of spatial then lifetime WTA (paper B, sections 3.1 and 3.2): the spatial winner of
/// each example and feature map (see [`forward`]) survives only if it is among the
/// `k = ceil(rate * batch)` largest spatial winners of that feature map across the mini-batch
/// (ties: the earlier example).
///
/// Errors: a `rate` outside `(0, 1]` ([`Error::Param`] naming the lifetime sparsity rate), and the
/// shape errors of [`forward`]. Does not allocate for batches of up to 1024 examples.
pub fn forward_lifetime(z: &[f32], shape: [usize; 4], rate: f32, out: &mut [f32], winners: &mut [bool]) -> Result<()> {
    let hw = check_shapes("spatial-lifetime WTA forward", shape, z.len(), out.len(), winners.len())?;
    let [batch, channels, _, _] = shape;
    let k = winners_per_unit(rate, batch)?;
    out.fill(0.0);
    winners.fill(false);
    with_buffer(batch, |buf: &mut [Candidate]| {
        for c in 0..channels {
            // The positive spatial winners of feature map c, one per example (section 3.1). The
            // candidate's index is the flat position, which grows with the example: ties across the
            // batch go to the earlier example.
            let mut n = 0;
            for b in 0..batch {
                let start = (b * channels + c) * hw;
                let map = &z[start..start + hw];
                let p = argmax_first(map);
                if map[p] > 0.0 {
                    buf[n] = (map[p], start + p);
                    n += 1;
                }
            }
            // Keep the k% largest of them across the mini-batch (section 3.2).
            for &(v, i) in top_k(&mut buf[..n], k) {
                out[i] = v;
                winners[i] = true;
            }
        }
    });
    Ok(())
}

/// Backward pass of [`forward`] and [`forward_lifetime`]: `grad_pre` is `grad_out` at the winners
/// and 0 elsewhere (paper B, section 3.1: the derivatives of the non-winners are set to zero).
///
/// All three buffers must have the same length, else [`Error::Shape`].
pub fn backward(grad_out: &[f32], winners: &[bool], grad_pre: &mut [f32]) -> Result<()> {
    route("spatial WTA backward", grad_out, winners, grad_pre)
}

/// Convenience for small inputs and tests: allocates and returns `(output, winners)` of [`forward`].
pub fn apply(z: &[f32], shape: [usize; 4]) -> Result<(Vec<f32>, Vec<bool>)> {
    let mut out = vec![0.0; z.len()];
    let mut winners = vec![false; z.len()];
    forward(z, shape, &mut out, &mut winners)?;
    Ok((out, winners))
}

/// Convenience for small inputs and tests: allocates and returns `(output, winners)` of
/// [`forward_lifetime`].
pub fn apply_lifetime(z: &[f32], shape: [usize; 4], rate: f32) -> Result<(Vec<f32>, Vec<bool>)> {
    let mut out = vec![0.0; z.len()];
    let mut winners = vec![false; z.len()];
    forward_lifetime(z, shape, rate, &mut out, &mut winners)?;
    Ok((out, winners))
}

/// Checks the NCHW shape against the buffer lengths and returns `height * width`.
fn check_shapes(what: &str, shape: [usize; 4], z: usize, out: usize, winners: usize) -> Result<usize> {
    let total = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if shape.contains(&0) || total != Some(z) || out != z || winners != z {
        return Err(Error::shape(
            what,
            format!("shape {shape:?}, z {z}, out {out}, winners {winners}"),
            "[batch, channels, height, width] all at least 1, and z = out = winners = their product",
        ));
    }
    Ok(shape[2] * shape[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2 examples x 2 channels x 2 x 3 maps.
    #[rustfmt::skip]
    const Z: [f32; 24] = [
        // example 0, channel 0: max 5 at (1, 0)
        1.0, 2.0, -1.0,
        5.0, 0.0,  3.0,
        // example 0, channel 1: tie 2 = 2, the first (0, 1) wins
        -1.0, 2.0, 0.5,
         2.0, 1.0, -3.0,
        // example 1, channel 0: max 7 at (0, 2)
        0.0, -1.0, 7.0,
        6.0,  2.0, 1.0,
        // example 1, channel 1: all <= 0, no winner
        -1.0, -2.0, 0.0,
        -0.5, -4.0, -1.0,
    ];
    const SHAPE: [usize; 4] = [2, 2, 2, 3];

    fn one_hot(at: &[(usize, f32)]) -> (Vec<f32>, Vec<bool>) {
        let mut out = vec![0.0; 24];
        let mut w = vec![false; 24];
        for &(i, v) in at {
            out[i] = v;
            w[i] = true;
        }
        (out, w)
    }

    #[test]
    fn spatial_keeps_the_first_maximum_of_each_map() {
        let (out, winners) = apply(&Z, SHAPE).unwrap();
        let (e_out, e_w) = one_hot(&[(3, 5.0), (7, 2.0), (14, 7.0)]);
        assert_eq!(out, e_out);
        assert_eq!(winners, e_w);
    }

    #[test]
    fn spatial_lifetime_keeps_the_best_examples_per_map() {
        // rate 0.5 of 2 examples: 1 per map. Map 0: 5 (example 0) vs 7 (example 1) -> example 1.
        // Map 1: only example 0 has a positive winner.
        let (out, winners) = apply_lifetime(&Z, SHAPE, 0.5).unwrap();
        let (e_out, e_w) = one_hot(&[(7, 2.0), (14, 7.0)]);
        assert_eq!(out, e_out);
        assert_eq!(winners, e_w);
        // rate 1 keeps every spatial winner: the same as spatial alone.
        assert_eq!(apply_lifetime(&Z, SHAPE, 1.0).unwrap(), apply(&Z, SHAPE).unwrap());
    }

    #[test]
    fn spatial_lifetime_ties_go_to_the_earlier_example() {
        // 3 examples, 1 channel, 1 x 2 maps, equal maxima 4; rate 0.5 keeps ceil(1.5) = 2 examples.
        let z = [4.0, 1.0, 0.0, 4.0, 4.0, 4.0];
        let (out, winners) = apply_lifetime(&z, [3, 1, 1, 2], 0.5).unwrap();
        assert_eq!(out, vec![4.0, 0.0, 0.0, 4.0, 0.0, 0.0]);
        assert_eq!(winners, vec![true, false, false, true, false, false]);
    }

    #[test]
    fn backward_routes_gradient_through_winners_only() {
        let (_, winners) = apply_lifetime(&Z, SHAPE, 0.5).unwrap();
        let grad_out: Vec<f32> = (1..=24).map(|i| i as f32).collect();
        let mut grad_pre = vec![f32::NAN; 24];
        backward(&grad_out, &winners, &mut grad_pre).unwrap();
        let mut expected = vec![0.0; 24];
        expected[7] = 8.0;
        expected[14] = 15.0;
        assert_eq!(grad_pre, expected);
        let mut short = vec![0.0; 23];
        assert!(matches!(backward(&grad_out, &winners, &mut short), Err(Error::Shape { .. })));
    }

    #[test]
    fn bad_shapes_and_rates_are_refused() {
        let mut out = vec![0.0; 24];
        let mut w = vec![false; 24];
        assert!(matches!(forward(&Z, [2, 2, 2, 2], &mut out, &mut w), Err(Error::Shape { .. })));
        assert!(matches!(forward(&Z, [0, 2, 2, 3], &mut out, &mut w), Err(Error::Shape { .. })));
        assert!(matches!(forward(&[], [1, 1, 0, 3], &mut [], &mut []), Err(Error::Shape { .. })));
        assert!(matches!(forward(&Z, SHAPE, &mut out[..20], &mut w), Err(Error::Shape { .. })));
        assert!(matches!(forward(&Z, [usize::MAX, 2, 2, 3], &mut out, &mut w), Err(Error::Shape { .. })));
        assert!(matches!(forward_lifetime(&Z, SHAPE, 0.5, &mut out, &mut w[..3]), Err(Error::Shape { .. })));
        for rate in [0.0, 1.5, -1.0, f32::NAN] {
            let e = forward_lifetime(&Z, SHAPE, rate, &mut out, &mut w).unwrap_err();
            assert!(e.to_string().contains("lifetime sparsity rate"), "{e}");
        }
    }
}
