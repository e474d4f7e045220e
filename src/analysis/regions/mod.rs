//! Linear regions of piecewise linear networks (paper E, Montúfar, Pascanu, Cho and Bengio 2014).
//!
//! A network whose hidden layers are ReLU, absolute value, LWTA or maxout computes a piecewise
//! linear function. Its *activation regions* are the sets of inputs with one activation pattern
//! (which unit, piece or block member wins in every layer); on each the network is affine. Every
//! count here counts activation regions: a linear region of paper E (section 2.1: a maximal connected
//! set on which the function is linear) is a union of activation regions, and adjacent activation
//! regions with equal affine maps, which are rare in practice, are not merged.
//!
//! - [`bounds`]: exact bounds on the maximal number of regions (section 2.2, Proposition 3, Theorem 4,
//!   eq. (7), Pascanu et al. 2013, Proposition 7, Theorem 8, regions per parameter of appendix C).
//! - [`construct`]: the networks of the proofs (Theorem 4 / eq. (7) folding, a maxout folding).
//! - [`net`]: [`PwlNet`], the network in `f64`, from a `compete` checkpoint or a PyTorch MLP.
//! - [`slice`](mod@slice): where to count: a [`Segment`] or a 2-D [`Slice2d`].
//! - [`exact`]: exact counting on a segment ([`count_1d`]) or a 2-D slice ([`count_2d`]), with each
//!   region's polygon, pattern and output map.
//! - [`sample`]: the sampled lower bound (distinct patterns over data, random points or a grid).
//! - [`linear_maps`]: the affine map `u·x + c` of one unit on the region of an input (eq. (8)), over a
//!   dataset, k-means of a unit's maps and inputs the unit identifies (section 2.6, appendix G).
//!
//! The shallow-versus-deep experiment of Figure 1 is a pipeline: [`crate::experiments::sinusoid`].
pub mod bounds;
pub mod construct;
pub mod exact;
pub mod linear_maps;
pub mod net;
pub mod sample;
pub mod slice;

pub use exact::{CountOptions, Partition1d, Partition2d, Piece1d, Region2d, count_1d, count_2d};
pub use net::{Affine, PwlLayer, PwlNet, Trace};
pub use sample::{PatternSampler, distinct_patterns, grid_patterns};
pub use slice::{Segment, Slice2d};
