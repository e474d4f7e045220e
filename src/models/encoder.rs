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
use crate::error::Result;
use crate::tensor::Matrix;

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
}
