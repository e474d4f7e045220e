//! Submasks: which subnetwork each input uses (paper A, section 3).
//!
//! For input `i` the submask of a layer has one bit per pre-activation, 1 where that pre-activation
//! won its local competition (see the table in [`crate::competition`]):
//!
//! - **ReLU**: the units with non-zero activation (`z > 0`), `units` bits;
//! - **LWTA**: the winner of each block, `units` bits;
//! - **maxout**: only the pieces that produced the maximum of their unit (section 3.1), `units x rank`
//!   bits, so a 1000-unit rank-2 maxout layer gives 2000-bit submasks;
//! - **convolutional** layers (section 3.3: "constructed using the presynaptic unit activations from
//!   this layer for all convolutional maps"): the same rules over every map and position, one bit per
//!   pre-activation (`maps x rank x height x width`), as the model's [`Encoder`] gives them (for
//!   [`crate::models::conv::ConvNet`], before the pooling that follows the layer).
//!
//! The paper uses the penultimate layer (the last hidden layer); any hidden layer can be read here.
//!
//! ```
//! use compete::analysis::submasks;
//! use compete::competition::Competition;
//! use compete::models::mlp::{Mlp, MlpConfig};
//!
//! let config = MlpConfig::new(3, &[(4, Competition::Maxout { rank: 2 })], 2).unwrap();
//! let net = Mlp::new(config, 1).unwrap();
//! let x = vec![0.5, -1.0, 2.0, 1.0, 0.0, -0.5];
//! let codes = submasks(&net, &x, 0, 256).unwrap();
//! assert_eq!((codes.len(), codes.bits()), (2, 8)); // 4 units x 2 pieces
//! // Exactly one piece of each maxout unit wins.
//! assert_eq!(codes.count_ones(0), 4);
//! ```

use crate::error::{Error, Result};
use crate::models::{Encoder, LayerInfo};
use crate::retrieval::BinaryCodes;
use crate::tensor::Matrix;

/// Which representation of a hidden layer to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Representation {
    /// The submask (winners), binary.
    Submasks,
    /// The outputs after the competition (for maxout: the pooled maxima).
    Activations,
    /// The pre-activations `z` (for maxout: the pieces before pooling, paper A Table 2).
    PreActivations,
}

impl std::str::FromStr for Representation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "submasks" => Ok(Representation::Submasks),
            "activations" => Ok(Representation::Activations),
            "pre-activations" | "preactivations" => Ok(Representation::PreActivations),
            _ => Err(Error::param("representation", s, "submasks, activations or pre-activations")),
        }
    }
}

impl std::fmt::Display for Representation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Representation::Submasks => "submasks",
            Representation::Activations => "activations",
            Representation::PreActivations => "pre-activations",
        })
    }
}

/// What [`layer_features`] reads from one hidden layer.
#[derive(Clone, Debug, Default)]
pub struct LayerFeatures {
    /// Submasks, one code of `pre_width` bits per example (when asked for).
    pub submasks: Option<BinaryCodes>,
    /// Outputs after the competition, `[n, units]` (when asked for).
    pub activations: Option<Matrix>,
    /// Pre-activations, `[n, pre_width]` (when asked for).
    pub pre_activations: Option<Matrix>,
}

/// Checks that `layer` is a hidden layer of `enc` and `x` holds whole examples; returns the count
/// and the layers.
fn check(enc: &dyn Encoder, x: &[f32], layer: usize) -> Result<(usize, Vec<LayerInfo>)> {
    let layers = enc.layers();
    let hidden = layers.len();
    if layer >= hidden {
        return Err(Error::param(
            "layer",
            layer,
            if hidden == 0 {
                "a hidden layer, but the network has none".to_string()
            } else {
                format!("a hidden layer index from 0 to {}", hidden - 1)
            },
        ));
    }
    let dim = enc.input_width();
    if !x.len().is_multiple_of(dim) {
        return Err(Error::shape("inputs", format!("{} values", x.len()), format!("a multiple of the input width {dim}")));
    }
    Ok((x.len() / dim, layers))
}

/// The hidden layer a `--layer` flag names: the last hidden layer (paper A's penultimate layer) by
/// default; an index out of range is an error listing the valid ones.
pub fn hidden_layer(enc: &dyn Encoder, layer: Option<usize>) -> Result<usize> {
    let hidden = enc.layers().len();
    if hidden == 0 {
        return Err(Error::param(
            "--layer",
            layer.map_or("(default)".into(), |l| l.to_string()),
            "a network with hidden layers; this one has none",
        ));
    }
    match layer {
        None => Ok(hidden - 1),
        Some(l) if l < hidden => Ok(l),
        Some(l) => Err(Error::param("--layer", l, format!("a hidden layer index from 0 (closest to the input) to {}", hidden - 1))),
    }
}

/// Reads the asked representations of hidden layer `layer` (0 = closest to the input) of any
/// [`Encoder`] for every example of `x` (row-major, `input` values per example), evaluating in
/// chunks of `chunk` rows in evaluation mode.
pub fn layer_features(enc: &dyn Encoder, x: &[f32], layer: usize, chunk: usize, want: &[Representation]) -> Result<LayerFeatures> {
    let (n, layers) = check(enc, x, layer)?;
    let dim = enc.input_width();
    let info = &layers[layer];
    let (pre_width, units) = (info.pre_width, info.units);
    let mut feats = LayerFeatures::default();
    if want.contains(&Representation::Submasks) {
        feats.submasks = Some(BinaryCodes::zeros(n, pre_width)?);
    }
    if want.contains(&Representation::Activations) {
        feats.activations = Some(Matrix::zeros(n, units));
    }
    if want.contains(&Representation::PreActivations) {
        feats.pre_activations = Some(Matrix::zeros(n, pre_width));
    }
    // Only the layers up to `layer` are run.
    let mut out = Vec::new();
    let mut batch = Matrix::zeros(0, dim);
    let chunk = chunk.max(1);
    for (c, rows) in x.chunks(chunk * dim).enumerate() {
        let r0 = c * chunk;
        let m = rows.len() / dim;
        batch.resize(m, dim);
        batch.data.copy_from_slice(rows);
        enc.encode(&batch, layer + 1, &mut out)?;
        let cache = &out[layer];
        if let Some(codes) = feats.submasks.as_mut() {
            for r in 0..m {
                codes.set_row_from_bools(r0 + r, &cache.winners[r * pre_width..(r + 1) * pre_width]);
            }
        }
        if let Some(a) = feats.activations.as_mut() {
            a.data[r0 * units..(r0 + m) * units].copy_from_slice(&cache.out.data);
        }
        if let Some(p) = feats.pre_activations.as_mut() {
            p.data[r0 * pre_width..(r0 + m) * pre_width].copy_from_slice(&cache.pre.data);
        }
    }
    Ok(feats)
}

/// The submasks of hidden layer `layer` for every example of `x` (see the module docs).
pub fn submasks(enc: &dyn Encoder, x: &[f32], layer: usize, chunk: usize) -> Result<BinaryCodes> {
    let feats = layer_features(enc, x, layer, chunk, &[Representation::Submasks])?;
    Ok(feats.submasks.unwrap_or_default())
}

/// The submasks of every hidden layer for every example of `x`, in one forward pass per chunk
/// (reading them layer by layer with [`submasks`] would run the lower layers again for each).
pub fn all_submasks(enc: &dyn Encoder, x: &[f32], chunk: usize) -> Result<Vec<BinaryCodes>> {
    let hidden = enc.layers().len();
    if hidden == 0 {
        return Ok(Vec::new());
    }
    let (n, layers) = check(enc, x, hidden - 1)?;
    let dim = enc.input_width();
    let widths: Vec<usize> = layers.iter().map(|l| l.pre_width).collect();
    let mut codes = widths.iter().map(|&w| BinaryCodes::zeros(n, w)).collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    let mut batch = Matrix::zeros(0, dim);
    let chunk = chunk.max(1);
    for (c, rows) in x.chunks(chunk * dim).enumerate() {
        let m = rows.len() / dim;
        batch.resize(m, dim);
        batch.data.copy_from_slice(rows);
        enc.encode(&batch, hidden, &mut out)?;
        for ((layer, &w), codes) in out.iter().zip(&widths).zip(codes.iter_mut()) {
            for r in 0..m {
                codes.set_row_from_bools(c * chunk + r, &layer.winners[r * w..(r + 1) * w]);
            }
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::competition::Competition;
    use crate::models::mlp::{Mlp, MlpConfig, Workspace};

    fn net(c: Competition) -> Mlp {
        let config = MlpConfig::new(5, &[(6, Competition::Relu), (4, c)], 3).unwrap();
        Mlp::new(config, 11).unwrap()
    }

    fn inputs(n: usize) -> Vec<f32> {
        (0..n * 5).map(|k| ((k * 37 % 17) as f32 - 8.0) / 4.0).collect()
    }

    #[test]
    fn submasks_are_the_winners_of_a_full_forward_pass() {
        for c in [Competition::Relu, Competition::Lwta { block: 2 }, Competition::Maxout { rank: 2 }, Competition::Abs] {
            let mlp = net(c);
            let x = inputs(7);
            // Chunks of 3 rows: the result must not depend on the chunking.
            let codes = submasks(&mlp, &x, 1, 3).unwrap();
            let mut ws = Workspace::default();
            mlp.forward(&Matrix::from_vec(7, 5, x.clone()).unwrap(), &mut ws, None).unwrap();
            assert_eq!(codes.to_bools(), ws.hidden[1].winners, "{c}");
            assert_eq!(codes.bits(), c.pre_width(4).unwrap());
            let first = submasks(&mlp, &x, 0, 100).unwrap();
            assert_eq!(first.to_bools(), ws.hidden[0].winners);
        }
    }

    #[test]
    fn all_layers_at_once_equal_layer_by_layer() {
        let mlp = net(Competition::Maxout { rank: 2 });
        let x = inputs(11);
        let all = all_submasks(&mlp, &x, 4).unwrap();
        assert_eq!(all.len(), 2);
        for (l, codes) in all.iter().enumerate() {
            assert_eq!(codes, &submasks(&mlp, &x, l, 3).unwrap(), "layer {l}");
        }
        assert!(all_submasks(&mlp, &[0.0; 7], 4).is_err());
    }

    #[test]
    fn maxout_and_lwta_submasks_have_one_winner_per_block() {
        let x = inputs(9);
        for c in [Competition::Lwta { block: 2 }, Competition::Maxout { rank: 2 }] {
            let codes = submasks(&net(c), &x, 1, 4).unwrap();
            for i in 0..codes.len() {
                let bits: Vec<bool> = (0..codes.bits()).map(|j| codes.bit(i, j)).collect();
                assert!(bits.chunks(2).all(|b| b.iter().filter(|&&w| w).count() == 1), "{c}: {bits:?}");
            }
        }
    }

    #[test]
    fn relu_submasks_mark_nonzero_activations() {
        let mlp = net(Competition::Relu);
        let x = inputs(5);
        let f = layer_features(&mlp, &x, 1, 2, &[Representation::Submasks, Representation::Activations, Representation::PreActivations])
            .unwrap();
        let (codes, act, pre) = (f.submasks.unwrap(), f.activations.unwrap(), f.pre_activations.unwrap());
        for i in 0..5 {
            for j in 0..4 {
                assert_eq!(codes.bit(i, j), act.data[i * 4 + j] != 0.0);
                assert_eq!(act.data[i * 4 + j], pre.data[i * 4 + j].max(0.0));
            }
        }
    }

    #[test]
    fn bad_layer_and_inputs_are_refused() {
        let mlp = net(Competition::Relu);
        let err = submasks(&mlp, &inputs(2), 2, 10).unwrap_err().to_string();
        assert!(err.contains("layer = 2") && err.contains("0 to 1"), "{err}");
        assert!(submasks(&mlp, &[0.0; 7], 0, 10).is_err());
    }
}
