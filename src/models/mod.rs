//! Models: each file is one model of the papers, a plain struct of parameters with its forward and
//! backward passes, its parameters by name ([`crate::params::Parameters`]) and its hidden layers for
//! analysis ([`Encoder`]).

pub mod encoder;
pub mod mlp;
/// The burn reference engine: compiled for the unit tests (burn is a dev-dependency) and with the
/// `burn` feature (or `wgpu` / `cuda`), absent from the default build.
#[cfg(any(test, feature = "burn"))]
pub mod mlp_burn;

pub use encoder::{Encoder, LayerInfo, LayerOutput};
