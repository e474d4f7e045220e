//! Flip rate of submasks during training (paper A, section 3.2 and Figure 4).
//!
//! After every epoch the submasks of a fixed set of examples are read again. A unit *flips* on an
//! example when its bit differs from the previous epoch's. The flip rate of a layer is, per unit
//! (per bit of the submask: for maxout, per piece, the paper's "unit"), the fraction of examples on
//! which it flipped, averaged over the units. Since every unit sees the same examples this is the
//! number of differing bits over `examples x units`. The network-wide rate averages over all units
//! of all tracked layers. Figure 4 reports about 0.2 after the first epoch, below 0.05 within about 3
//! epochs.
//!
//! [`FlipTracker`] keeps only the last epoch's codes (packed bits), never the whole history.
//!
//! ```
//! use compete::analysis::FlipTracker;
//! use compete::retrieval::BinaryCodes;
//!
//! let mut tracker = FlipTracker::default();
//! let before = BinaryCodes::from_bools(2, 2, &[true, false, true, true]).unwrap();
//! let after = BinaryCodes::from_bools(2, 2, &[true, true, false, true]).unwrap();
//! assert!(tracker.record(vec![before]).unwrap().is_none()); // nothing to compare yet
//! let rates = tracker.record(vec![after]).unwrap().unwrap();
//! assert_eq!(rates.network, 0.5); // 2 of 4 bits changed
//! ```

use serde::Serialize;

use crate::error::{Error, Result};
use crate::retrieval::BinaryCodes;
use crate::retrieval::codes::hamming;

/// Flip rates of one epoch against the previous one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlipRates {
    /// Per tracked layer: mean over its units of the fraction of examples that flipped.
    pub per_layer: Vec<f64>,
    /// Mean over all units of all tracked layers.
    pub network: f64,
}

/// Number of bits that differ between two sets of codes of the same shape.
pub fn flipped_bits(previous: &BinaryCodes, current: &BinaryCodes) -> Result<u64> {
    current.check_same_length("submasks", previous, "previous epoch's submasks")?;
    if previous.len() != current.len() {
        return Err(Error::shape(
            "submasks against the previous epoch's",
            format!("{} examples", current.len()),
            format!("{} examples", previous.len()),
        ));
    }
    Ok((0..current.len()).map(|i| hamming(previous.code(i), current.code(i)) as u64).sum())
}

/// The flip rate of one layer: differing bits over `examples x bits`.
pub fn flip_rate(previous: &BinaryCodes, current: &BinaryCodes) -> Result<f64> {
    let flipped = flipped_bits(previous, current)?;
    let total = (current.len() * current.bits()) as f64;
    Ok(if total == 0.0 { 0.0 } else { flipped as f64 / total })
}

/// Keeps the last epoch's submasks of each tracked layer and reports flip rates.
#[derive(Clone, Debug, Default)]
pub struct FlipTracker {
    last: Option<Vec<BinaryCodes>>,
}

impl FlipTracker {
    /// Records this epoch's submasks (one entry per tracked layer, the same layers and examples
    /// every epoch). Returns the flip rates against the previous record, or `None` on the first.
    pub fn record(&mut self, codes: Vec<BinaryCodes>) -> Result<Option<FlipRates>> {
        let rates = match &self.last {
            None => None,
            Some(prev) => {
                if prev.len() != codes.len() {
                    return Err(Error::shape(
                        "tracked layers",
                        format!("{} layers", codes.len()),
                        format!("{} layers, as before", prev.len()),
                    ));
                }
                let mut per_layer = Vec::with_capacity(codes.len());
                let (mut flipped, mut total) = (0u64, 0u64);
                for (p, c) in prev.iter().zip(&codes) {
                    let f = flipped_bits(p, c)?;
                    let t = (c.len() * c.bits()) as u64;
                    per_layer.push(if t == 0 { 0.0 } else { f as f64 / t as f64 });
                    flipped += f;
                    total += t;
                }
                Some(FlipRates { per_layer, network: if total == 0 { 0.0 } else { flipped as f64 / total as f64 } })
            }
        };
        self.last = Some(codes);
        Ok(rates)
    }

    /// True once a first epoch has been recorded.
    pub fn has_previous(&self) -> bool {
        self.last.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_rate_weights_layers_by_units() {
        let mut t = FlipTracker::default();
        let a0 = BinaryCodes::from_bools(2, 1, &[true, true]).unwrap();
        let b0 = BinaryCodes::from_bools(2, 3, &[false; 6]).unwrap();
        t.record(vec![a0, b0]).unwrap();
        let a1 = BinaryCodes::from_bools(2, 1, &[false, false]).unwrap(); // both flipped: 1.0
        let b1 = BinaryCodes::from_bools(2, 3, &[false, false, false, false, false, true]).unwrap(); // 1 of 6
        let r = t.record(vec![a1, b1]).unwrap().unwrap();
        assert_eq!(r.per_layer, vec![1.0, 1.0 / 6.0]);
        assert_eq!(r.network, 3.0 / 8.0);
    }

    #[test]
    fn shape_changes_are_refused() {
        let mut t = FlipTracker::default();
        t.record(vec![BinaryCodes::zeros(3, 4).unwrap()]).unwrap();
        assert!(t.record(vec![BinaryCodes::zeros(2, 4).unwrap()]).is_err());
        assert!(flip_rate(&BinaryCodes::zeros(3, 4).unwrap(), &BinaryCodes::zeros(3, 5).unwrap()).is_err());
    }
}
