//! Training: the one loop for any learner, optimizers and constraints over named parameters, the
//! configuration of a run, and checkpoints of run folders.
//!
//! - [`trainer`]: [`train`], the loop (epochs, shuffling, progress, curves, best epoch, early
//!   stopping, atomic commits, exact resume, the divergence guard);
//! - [`optim`]: SGD with momentum and Adam over [`crate::params::Parameters`], with per-parameter
//!   rules (learning-rate scales, norm constraints, clipping);
//! - [`interrupt`]: stopping a run between two steps (Ctrl-C in a notebook);
//! - [`config`]: experiment files (`[data]`, `[model] type = ...`, `[train]`);
//! - [`run`]: from an experiment to its learner, dispatching on the model type;
//! - [`checkpoint`]: run-folder files and MLP shorthands (the format is [`crate::models::checkpoint`]).

pub mod checkpoint;
pub mod config;
pub mod interrupt;
pub mod optim;
pub mod run;
pub mod trainer;

pub use config::{DataConfig, Experiment, ModelConfig, ModelSection, MomentumSchedule, TrainConfig, WtaRbmSection};
pub use run::{train_experiment, train_mlp};
pub use trainer::{EpochRecord, RunOptions, RunPaths, RunSpec, TrainOutcome, train};
