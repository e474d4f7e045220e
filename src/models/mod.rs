//! Models: each file is one model of the papers, a plain struct of parameters with its forward and
//! backward passes, its parameters by name ([`crate::params::Parameters`]) and its hidden layers for
//! analysis ([`Encoder`]).

pub mod encoder;
pub mod mlp;
pub mod mlp_burn;

pub use encoder::{Encoder, LayerInfo, LayerOutput};
