//! Models: each file is one model of the papers, a plain struct of parameters with its forward and
//! backward passes. Every model implements three contracts:
//!
//! - [`Model`] (with [`crate::params::Parameters`]): its kind, its configuration, its parameters by
//!   name, so that [`checkpoint`] saves and loads it and optimizers update it without knowing its fields;
//! - [`Learner`]: how one training step changes it (backprop, contrastive divergence, a local rule),
//!   and how it is scored on held-out data, so that the one training loop of [`crate::train`] runs it;
//! - [`Encoder`]: its hidden layers (pre-activations, activations, winners), so that every analysis
//!   (submasks, kNN, maps, retrieval, flips, sampled regions) takes it.

pub mod activation;
pub mod checkpoint;
pub mod conv;
pub mod conv_spec;
pub mod conv_wta;
pub mod drsae;
pub mod encoder;
pub mod fc_wta;
pub mod learner;
pub mod mlp;
/// The burn reference engine: compiled for the unit tests (burn is a dev-dependency) and with the
/// `burn` feature (or `wgpu` / `cuda`), absent from the default build.
#[cfg(any(test, feature = "burn"))]
pub mod mlp_burn;
pub mod wta_rbm;

pub use checkpoint::{AnyModel, load_any};
pub use encoder::{Atoms, DenseStack, Encoder, LayerInfo, LayerOutput};
pub use learner::{Batch, Evaluation, Learner, StepOutput};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::params::Parameters;

/// A model that checkpoints know: its kind, its configuration, and a constructor that allocates
/// its parameters (all zero) for a configuration, to be filled from a file.
pub trait Model: Parameters + Sized + Send + Sync {
    /// The kind written in checkpoints and experiment files (`[model] type = "mlp"`).
    const KIND: &'static str;
    /// The architecture: what, with the parameter values, determines the model.
    type Config: Serialize + DeserializeOwned + Clone + std::fmt::Debug + PartialEq;
    /// The architecture of this model.
    fn config(&self) -> &Self::Config;
    /// A model of `config` with every parameter 0. Checks the configuration and the memory it needs
    /// before allocating.
    fn zeros(config: &Self::Config) -> Result<Self>;
    /// A freshly initialised model of `config` (the paper's initialisation), the same for the same
    /// seed on every machine: the untrained model that analyses compare a trained one with.
    fn init(config: &Self::Config, seed: u64) -> Result<Self>;
    /// A one-line description (`784-1000(relu)-10`).
    fn describe(&self) -> String;
}
