//! The encoder contract: what every analysis reads from a model.
//!
//! An [`Encoder`] is anything with hidden layers that can give, for a batch of inputs, each layer's
//! pre-activations, activations and winners (the submask, paper A section 3), in evaluation mode (no
//! dropout, no batch-coupled sparsity). Submasks, kNN, t-SNE maps, retrieval, flip tracking and the
//! sampled region bound take `&dyn Encoder`, never a model type, so a new model reaches all of them
//! by implementing this trait once.
//!
//! ```
//! use compete::competition::Competition;
//! use compete::models::mlp::{Mlp, MlpConfig};
//! use compete::models::{Encoder, LayerOutput};
//! use compete::tensor::Matrix;
//!
//! let net = Mlp::new(MlpConfig::new(3, &[(4, Competition::Maxout { rank: 2 })], 2).unwrap(), 1).unwrap();
//! let enc: &dyn Encoder = &net;
//! assert_eq!(enc.layers()[0].pre_width, 8); // 4 units x 2 pieces
//! let mut out = Vec::new();
//! enc.encode(&Matrix::zeros(5, 3), 1, &mut out).unwrap();
//! assert_eq!(out[0].winners.len(), 5 * 8);
//! ```

use crate::competition::Competition;
use crate::error::{Error, Result};
use crate::tensor::Matrix;

/// Rows per forward pass of [`Encoder::features`]: the memory of one chunk's layer outputs stays
/// bounded whatever the number of examples.
pub const FEATURE_CHUNK: usize = 1000;

/// The shape of one hidden layer, as analyses see it.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInfo {
    /// How the layer is written in descriptions, e.g. `1000(maxout:2)`.
    pub name: String,
    /// Pre-activations per example: the submask's bits.
    pub pre_width: usize,
    /// Outputs per example after the competition (pre_width / rank for maxout).
    pub units: usize,
    /// The layer's competition (in evaluation mode).
    pub competition: Competition,
    /// `[channels, height, width]` of the pre-activations for a convolutional layer (NCHW), `None`
    /// for a dense one.
    pub maps: Option<[usize; 3]>,
}

/// What one hidden layer gives for a batch of `n` examples.
#[derive(Clone, Debug, Default)]
pub struct LayerOutput {
    /// Pre-activations, `[n, pre_width]`.
    pub pre: Matrix,
    /// Outputs after the competition, `[n, units]`.
    pub out: Matrix,
    /// Winners, one flag per pre-activation, row-major `[n, pre_width]`: the submask.
    pub winners: Vec<bool>,
}

/// A network written as dense affine maps, each followed by a piecewise linear competition, and an
/// optional affine output layer (the logits): what exact region counting reads
/// ([`crate::analysis::regions`]). A convolution, a locally connected layer and a max-pooling are
/// such maps too (a pooling is a selection of its windows' values followed by a maxout over each
/// window), so a convolutional network has one; a model that is not piecewise linear has none.
///
/// The order of the values within a layer is the stack's own: the pieces of a maxout unit and the
/// units of an LWTA block are consecutive, as [`crate::competition::Competition::pwl`] expects;
/// each map's columns read the previous layer's outputs in that layer's order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DenseStack {
    /// Input values per example.
    pub input: usize,
    /// The hidden layers: `(weight [outputs, inputs], bias, competition)`.
    pub hidden: Vec<(Matrix, Vec<f32>, Competition)>,
    /// The output layer, when the model has one.
    pub output: Option<(Matrix, Vec<f32>)>,
}

/// A model's dictionary, to be drawn: one tile per atom (a decoder column, a deconvolution filter,
/// an RBM's filter), each `shape.0 x shape.1` values, row-major (paper B, Figures 1, 2, 5b, 6).
#[derive(Clone, Debug, PartialEq)]
pub struct Atoms {
    /// Rows and columns of every tile.
    pub shape: (usize, usize),
    /// The atoms.
    pub tiles: Vec<Vec<f32>>,
    /// What they are, for captions and logs (`decoder atoms`, `deconvolution filters`).
    pub what: String,
}

impl Atoms {
    /// For every atom, the share of its energy (sum of squares) inside its best `w x w` window: 1
    /// for a delta function, low for a stroke spread over the tile. Paper B, Figure 4a's point
    /// ("useless delta function filters that copy the input") as a number. An atom of zero energy
    /// scores 0; a window larger than the tile is clamped to it.
    pub fn window_energy_share(&self, w: usize) -> Vec<f64> {
        let (rows, cols) = self.shape;
        let (wr, wc) = (w.clamp(1, rows.max(1)), w.clamp(1, cols.max(1)));
        self.tiles
            .iter()
            .map(|t| {
                let e: Vec<f64> = t.iter().map(|&v| f64::from(v) * f64::from(v)).collect();
                let total: f64 = e.iter().sum();
                if total <= 0.0 || e.len() < rows * cols {
                    return 0.0;
                }
                let mut best = 0.0f64;
                for i in 0..=rows - wr {
                    for j in 0..=cols - wc {
                        let s: f64 = (i..i + wr).map(|r| e[r * cols + j..r * cols + j + wc].iter().sum::<f64>()).sum();
                        best = best.max(s);
                    }
                }
                best / total
            })
            .collect()
    }
}

/// A model seen through its hidden layers (see the module docs).
pub trait Encoder: Sync {
    /// Input features per example.
    fn input_width(&self) -> usize;
    /// The hidden layers, input side first.
    fn layers(&self) -> Vec<LayerInfo>;
    /// Evaluation-mode forward pass of the batch `x` (`[n, input_width]`) through hidden layers
    /// `0..upto`, writing their outputs into `out[..upto]` (grown as needed, reused across calls).
    fn encode(&self, x: &Matrix, upto: usize, out: &mut Vec<LayerOutput>) -> Result<()>;
    /// A one-line description, e.g. `784-1000(relu)-10`.
    fn describe(&self) -> String;
    /// The model as a [`DenseStack`], when it is a piecewise linear network (`None` by default).
    /// Errors when the dense maps would not fit in memory.
    fn dense_stack(&self) -> Option<Result<DenseStack>> {
        None
    }
    /// The model's dictionary as pictures, when it has one that lives in the input's space; `image`
    /// is the input's (rows, columns) when the data have an image shape (`None` by default).
    fn dictionary(&self, image: Option<(usize, usize)>) -> Option<Atoms> {
        let _ = image;
        None
    }

    /// Features per example that [`Encoder::features`] returns (default: the last hidden layer's
    /// `units`; 0 for a model without hidden layers). A model overriding `features` overrides this
    /// too.
    fn feature_width(&self) -> usize {
        self.layers().last().map_or(0, |l| l.units)
    }

    /// The feature vector of every row of `x` (`[n, input_width]`) for a linear classifier on top
    /// of the model (paper B, section 4: an SVM on the unsupervised features), `[n, feature_width]`.
    ///
    /// By default: the evaluation-mode outputs (`out`, after the competition) of the last hidden
    /// layer, computed [`FEATURE_CHUNK`] rows at a time so that memory stays bounded. A model may
    /// override it (with [`Encoder::feature_width`]): a convolutional autoencoder returns its
    /// max-pooled feature maps (paper B, section 4.1).
    ///
    /// Errors when `x` is not `input_width` wide, when the model has no hidden layer, and when the
    /// output would not fit in memory.
    fn features(&self, x: &Matrix) -> Result<Matrix> {
        let hidden = self.layers().len();
        if hidden == 0 {
            return Err(Error::param("features", self.describe(), "a model with at least one hidden layer"));
        }
        let d = self.input_width();
        if x.cols != d || x.data.len() != x.rows * x.cols {
            return Err(Error::shape(
                format!("features of {}", self.describe()),
                format!("{} x {} input ({} values)", x.rows, x.cols, x.data.len()),
                format!("{d} input features per example"),
            ));
        }
        let width = self.feature_width();
        crate::io::check_alloc(&format!("the features of {} examples x {width}", x.rows), (x.rows as u128) * (width as u128) * 4)?;
        let mut features = Matrix::zeros(x.rows, width);
        let mut outs = Vec::new();
        let mut start = 0;
        while start < x.rows {
            let rows = FEATURE_CHUNK.min(x.rows - start);
            let chunk = Matrix::from_vec(rows, d, x.data[start * d..(start + rows) * d].to_vec())?;
            self.encode(&chunk, hidden, &mut outs)?;
            let out = &outs[hidden - 1].out;
            if out.cols != width || out.rows != rows {
                return Err(Error::shape(
                    format!("features of {}", self.describe()),
                    format!("{} x {} from the last hidden layer", out.rows, out.cols),
                    format!("{rows} x {width} (feature_width)"),
                ));
            }
            features.data[start * width..(start + rows) * width].copy_from_slice(&out.data);
            start += rows;
        }
        Ok(features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::mlp::{Mlp, MlpConfig};

    #[test]
    fn window_energy_share_is_one_for_a_delta_and_low_for_a_stroke() {
        let mut delta = vec![0.0; 25];
        delta[12] = 2.0;
        let stroke: Vec<f32> = (0..25).map(|i| if i % 5 == 2 { 1.0 } else { 0.0 }).collect();
        let a = Atoms { shape: (5, 5), tiles: vec![delta, stroke, vec![0.0; 25]], what: "test".into() };
        let s = a.window_energy_share(3);
        assert_eq!(s[0], 1.0);
        assert!((s[1] - 3.0 / 5.0).abs() < 1e-12, "{s:?}");
        assert_eq!(s[2], 0.0);
    }

    #[test]
    fn features_are_the_last_hidden_layers_outputs_in_chunks() {
        let cfg = MlpConfig::new(3, &[(5, Competition::Relu), (4, Competition::Maxout { rank: 2 })], 2).unwrap();
        let net = Mlp::new(cfg, 3).unwrap();
        let enc: &dyn Encoder = &net;
        assert_eq!(enc.feature_width(), 4);
        let n = FEATURE_CHUNK + 7; // two chunks
        let x = Matrix::from_vec(n, 3, (0..3 * n).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect()).unwrap();
        let f = enc.features(&x).unwrap();
        assert_eq!((f.rows, f.cols), (n, 4));
        let mut outs = Vec::new();
        enc.encode(&x, 2, &mut outs).unwrap();
        assert_eq!((outs[1].out.rows, outs[1].out.cols), (n, 4));
        // The same values as one pass over all rows (up to the GEMM's blocking).
        assert!(f.data.iter().zip(&outs[1].out.data).all(|(a, b)| (a - b).abs() <= 1e-5 * (1.0 + b.abs())));
        let e = enc.features(&Matrix::zeros(2, 5)).unwrap_err().to_string();
        assert!(e.contains("2 x 5") && e.contains("3 input features"), "{e}");
    }
}
