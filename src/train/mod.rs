//! Training: the configuration of a run, optimizers, checkpoints and the training loop.

pub mod checkpoint;
pub mod config;
pub mod optim;
pub mod trainer;

pub use config::{DataConfig, Experiment, ModelConfig, TrainConfig};
pub use trainer::{EpochRecord, RunOptions, TrainOutcome, train_mlp};
