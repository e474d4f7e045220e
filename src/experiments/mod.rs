//! Pipelines that run a paper's table or figure end to end: above the algorithms (models,
//! analysis, eval, retrieval) and the figures (report), below `cli/`, which parses flags, calls one
//! of these and prints.
//!
//! - [`knn`]: kNN on a hidden layer's submasks, activations or pre-activations beside the softmax
//!   (paper A, Tables 1 and 2);
//! - [`retrieval`]: submasks as hash codes against LSH (paper A, section 4.2);
//! - [`map`]: t-SNE maps of submasks, trained against untrained (paper A, Figure 3);
//! - [`sinusoid`]: shallow against deep nets on a sinusoidal boundary (paper E, Figure 1).

pub mod knn;
pub mod map;
pub mod retrieval;
pub mod sinusoid;
