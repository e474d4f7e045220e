//! What trained networks compute: submasks (paper A, section 3) and their changes during training.
//!
//! - [`submasks`](mod@submasks): read the submask (the winners) of any hidden layer for a dataset, as
//!   [`BinaryCodes`](crate::retrieval::BinaryCodes), and the layer's activations or pre-activations.
//! - [`flips`]: the flip rate of submasks from one epoch to the next (paper A, Figure 4).
//! - [`patterns`]: activation patterns of all hidden layers of any encoder, and how many are distinct.
//! - [`regions`]: linear regions of piecewise linear networks (paper E): bounds, the folding
//!   constructions, exact counting on segments and 2-D slices, per-region linear maps.
//! - [`unit_roles`]: part-units and categorical-units of a recurrent sparse coder (paper D,
//!   section 3, Figures 2-4 and 7-10), from its weight matrices and iterates.

pub mod flips;
pub mod patterns;
pub mod regions;
pub mod submasks;
pub mod unit_roles;

pub use flips::FlipTracker;
pub use submasks::{LayerFeatures, Representation, all_submasks, layer_features, submasks};
