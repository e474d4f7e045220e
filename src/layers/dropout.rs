//! Inverted dropout (Hinton et al. 2012, as used in paper A section 3.4): masks drawn from the
//! step's generator, kept values scaled by `1 / (1 - rate)`, so that nothing changes at test time.

use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Dropout rates of a training forward pass (Hinton et al. 2012, as used in paper A section 3.4).
///
/// Inverted dropout: kept values are scaled by `1 / (1 - rate)` during training, so that nothing
/// changes at test time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dropout {
    /// Probability of dropping each input feature, in [0, 1).
    pub input: f32,
    /// Probability of dropping each hidden unit's output, in [0, 1).
    pub hidden: f32,
}

impl Dropout {
    /// Refuses rates outside [0, 1).
    pub fn validate(&self) -> Result<()> {
        for (name, r) in [("dropout.input", self.input), ("dropout.hidden", self.hidden)] {
            if !(0.0..1.0).contains(&r) {
                return Err(Error::param(name, r, "a probability in [0, 1)"));
            }
        }
        Ok(())
    }
}

/// Draws a keep-mask: each entry kept with probability `1 - rate`. Uses 16 random bits per entry
/// (4 entries per `u64` draw), so rates are resolved to 1/65536.
pub fn draw_keep_mask(rng: &mut ChaCha8Rng, rate: f32, n: usize, keep: &mut Vec<bool>) {
    let threshold = (rate as f64 * 65536.0).round() as u32;
    keep.clear();
    keep.reserve(n);
    while keep.len() < n {
        let bits = rng.next_u64();
        for s in 0..4 {
            if keep.len() == n {
                break;
            }
            keep.push(((bits >> (16 * s)) & 0xffff) as u32 >= threshold);
        }
    }
}

/// Inverted dropout: kept values are scaled by `1 / (1 - rate)`, dropped ones set to 0.
pub fn apply_keep_mask(values: &mut [f32], keep: &[bool], rate: f32) {
    let scale = 1.0 / (1.0 - rate);
    for (v, &k) in values.iter_mut().zip(keep) {
        *v = if k { *v * scale } else { 0.0 };
    }
}
