//! Activation patterns of any encoder: the winners of every hidden layer of one input, packed into
//! bits, layer after layer (the pattern of paper E whose distinct values over a set of inputs bound
//! the number of linear regions from below; see [`crate::analysis::regions::sample`]).
//!
//! Bit `o_l + j` of an input's pattern is winner `j` of hidden layer `l`, where `o_l` is the sum of
//! the pre-activation widths of the layers below: the layout of [`crate::analysis::regions::PwlNet`]'s
//! patterns, so counts from either agree.
//!
//! ```
//! use compete::analysis::patterns::{activation_patterns, distinct_patterns};
//! use compete::competition::Competition;
//! use compete::models::mlp::{Mlp, MlpConfig};
//!
//! let net = Mlp::new(MlpConfig::new(2, &[(4, Competition::Relu), (3, Competition::Maxout { rank: 2 })], 2).unwrap(), 1).unwrap();
//! let x = vec![0.1, 0.2, -1.0, 0.5, 0.1, 0.2];
//! let p = activation_patterns(&net, &x, 2).unwrap();
//! assert_eq!(p.len(), 3);
//! assert_eq!(p[0], p[2]); // the same input, the same pattern
//! assert!(distinct_patterns(&net, &x, 2).unwrap() <= 2);
//! ```

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::models::Encoder;
use crate::tensor::Matrix;

/// The activation pattern of every example of `x` (`input_width` values each), in chunks of
/// `chunk` rows: `ceil(bits / 64)` words per example, `bits` the sum of the layers' pre-activation widths.
pub fn activation_patterns(enc: &dyn Encoder, x: &[f32], chunk: usize) -> Result<Vec<Vec<u64>>> {
    let dim = enc.input_width();
    if dim == 0 || !x.len().is_multiple_of(dim) {
        return Err(Error::shape("inputs", format!("{} values", x.len()), format!("a multiple of the input width {dim}")));
    }
    let layers = enc.layers();
    let widths: Vec<usize> = layers.iter().map(|l| l.pre_width).collect();
    let bits: usize = widths.iter().sum();
    let words = bits.div_ceil(64).max(1);
    let n = x.len() / dim;
    crate::io::check_alloc("activation patterns", (n as u128).saturating_mul(words as u128 * 8 + 24))?;
    let mut patterns = Vec::with_capacity(n);
    let mut out = Vec::new();
    let mut batch = Matrix::zeros(0, dim);
    for rows in x.chunks(chunk.max(1) * dim) {
        let m = rows.len() / dim;
        batch.resize(m, dim);
        batch.data.copy_from_slice(rows);
        enc.encode(&batch, layers.len(), &mut out)?;
        for r in 0..m {
            let mut p = vec![0u64; words];
            let mut offset = 0;
            for (layer, &w) in out.iter().zip(&widths) {
                for (j, &won) in layer.winners[r * w..(r + 1) * w].iter().enumerate() {
                    if won {
                        p[(offset + j) / 64] |= 1 << ((offset + j) % 64);
                    }
                }
                offset += w;
            }
            patterns.push(p);
        }
    }
    Ok(patterns)
}

/// How many distinct activation patterns the examples of `x` have: a lower bound on the number of
/// activation regions of a piecewise-linear encoder.
pub fn distinct_patterns(enc: &dyn Encoder, x: &[f32], chunk: usize) -> Result<usize> {
    Ok(activation_patterns(enc, x, chunk)?.into_iter().collect::<HashSet<_>>().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::regions::{PwlNet, distinct_patterns as pwl_distinct};
    use crate::competition::Competition;
    use crate::models::mlp::{Mlp, MlpConfig};

    #[test]
    fn patterns_agree_with_the_region_code() {
        let net = Mlp::new(
            MlpConfig::new(2, &[(6, Competition::Relu), (4, Competition::Lwta { block: 2 }), (3, Competition::Maxout { rank: 2 })], 2)
                .unwrap(),
            4,
        )
        .unwrap();
        let x: Vec<f32> = (0..400).map(|i| ((i * 7919 % 1000) as f32 / 250.0) - 2.0).collect();
        let ours = distinct_patterns(&net, &x, 33).unwrap();
        let pwl = PwlNet::from_mlp(&net).unwrap();
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        assert_eq!(ours, pwl_distinct(&pwl, &x64).unwrap());
        assert!(ours > 10, "{ours}");
        assert!(activation_patterns(&net, &x[..3], 4).is_err());
    }
}
